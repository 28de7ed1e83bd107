//! App registrations: which clients may sign in, where their tokens may go, and how they prove
//! who they are at the token endpoint. Read from a YAML file and checked before the server
//! starts; without one, a single development app accepts any loopback redirect URI.
//!
//! ```yaml
//! apps:
//!   - client_id: 6f1b2c3d-0000-0000-0000-000000000001
//!     name: My web app
//!     redirect_uris:
//!       web: [https://localhost:5001/signin-oidc]    # confidential: sends client_secret
//!       spa: [http://localhost:5173/]                # PKCE required, no secret
//!       public: [http://localhost]                   # native apps, no secret
//!     client_secret: B2C_1A_MyWebAppSecret           # a policy key file in --keys
//!     implicit: false                                # id_token / token response types
//!     logout_url: https://localhost:5001/signout-oidc  # front-channel sign-out
//!     api_permissions:                               # scopes of other apps' APIs it is granted
//!       https://yourtenant.onmicrosoft.com/orders: [read]
//!   - client_id: 6f1b2c3d-0000-0000-0000-000000000002
//!     name: Orders API
//!     api:                                           # the API this app exposes
//!       identifier: https://yourtenant.onmicrosoft.com/orders   # B2C's App ID URI
//!       scopes: [read, write]
//! ```
//!
//! An app asks for an access token to an API with `scope=https://yourtenant.onmicrosoft.com/orders/read`
//! (or `…/.default` with client credentials): the token's `aud` is the API's client id and `scp`
//! the granted scope names. An app needs redirect URIs unless it only exposes an API or signs in
//! as itself (client credentials, with a secret).

use std::path::Path;

use ief_engine::input;
use ief_protocols::keys::KeyStore;
use serde::Deserialize;

use crate::ServerError;

/// The client id of the development app used when no config is given.
/// Bounds of the config file, as for `ief idp serve --config`.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
const MAX_CONFIG_NESTING: usize = 64;

pub const DEV_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000a991";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// A confidential web app: must authenticate at the token endpoint.
    Web,
    /// A single-page app: PKCE required, never a secret.
    Spa,
    /// A native or desktop app: no secret.
    Public,
}

#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<(Platform, String)>,
    /// The secret itself, read from the key store; `None` for apps without one.
    pub secret: Option<Vec<u8>>,
    pub implicit: bool,
    pub logout_url: Option<String>,
    /// The development app: any loopback redirect URI is registered.
    pub loopback: bool,
    /// The API the app exposes.
    pub api: Option<Api>,
    /// Scopes of other apps' APIs granted to it: (API identifier, scope names).
    pub api_permissions: Vec<(String, Vec<String>)>,
}

/// An exposed API: its App ID URI and scope names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub identifier: String,
    pub scopes: Vec<String>,
}

impl App {
    /// The platform of an exactly registered redirect URI (case-sensitive, as B2C compares).
    pub fn platform_of(&self, redirect_uri: &str) -> Option<Platform> {
        if let Some((p, _)) = self.redirect_uris.iter().find(|(_, u)| u == redirect_uri) {
            return Some(*p);
        }
        (self.loopback && is_loopback(redirect_uri)).then_some(Platform::Public)
    }

    /// Whether the client must send a secret at the token endpoint.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
    }
}

/// `http(s)://localhost|127.0.0.1|[::1]` with any port and path, and nothing before the host.
fn is_loopback(uri: &str) -> bool {
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let Some(rest) = uri.strip_prefix("http://").or_else(|| uri.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let port = &authority[host.len()..];
    matches!(host, "localhost" | "127.0.0.1") && (port.is_empty() || is_port(port))
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Clone)]
pub struct Apps {
    apps: Vec<App>,
}

impl Apps {
    /// The development app alone.
    pub fn development() -> Apps {
        Apps {
            apps: vec![App {
                client_id: DEV_CLIENT_ID.to_owned(),
                name: "ief development app".to_owned(),
                redirect_uris: Vec::new(),
                secret: None,
                implicit: true,
                logout_url: None,
                loopback: true,
                api: None,
                api_permissions: Vec::new(),
            }],
        }
    }

    pub fn get(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn iter(&self) -> impl Iterator<Item = &App> {
        self.apps.iter()
    }

    /// Reads and checks a config file (bounded in size and nesting, as every input is);
    /// secrets come from `keys`.
    pub fn load(path: &Path, keys: &KeyStore) -> Result<Apps, ServerError> {
        let refused = |message: String| ServerError::Config { path: path.to_path_buf(), line: 0, column: 0, message };
        let text = input::read_text_limited(path, MAX_CONFIG_BYTES).map_err(|e| refused(e.to_string()))?;
        input::check_yaml_nesting(&text, MAX_CONFIG_NESTING).map_err(refused)?;
        Apps::parse(path, &text, keys)
    }

    pub fn parse(path: &Path, text: &str, keys: &KeyStore) -> Result<Apps, ServerError> {
        let file: AppsFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            ServerError::Config { path: path.to_path_buf(), line, column, message: e.to_string() }
        })?;
        let at = |needle: &str, message: String| {
            let (line, column) = position(text, needle);
            ServerError::Config { path: path.to_path_buf(), line, column, message }
        };
        let mut apps: Vec<App> = Vec::new();
        for spec in file.apps {
            if spec.client_id.trim().is_empty() {
                return Err(at("client_id", "an app has an empty client_id".to_owned()));
            }
            if apps.iter().any(|a| a.client_id.eq_ignore_ascii_case(&spec.client_id)) {
                return Err(at(&spec.client_id, format!("the client_id '{}' is registered twice", spec.client_id)));
            }
            let mut uris = Vec::new();
            for (platform, list) in [
                (Platform::Web, &spec.redirect_uris.web),
                (Platform::Spa, &spec.redirect_uris.spa),
                (Platform::Public, &spec.redirect_uris.public),
            ] {
                for uri in list {
                    check_redirect_uri(platform, uri).map_err(|m| at(uri, m))?;
                    uris.push((platform, uri.clone()));
                }
            }
            if uris.is_empty() && spec.api.is_none() && spec.client_secret.is_none() {
                return Err(at(&spec.client_id, format!("the app '{}' has no redirect URIs", spec.client_id)));
            }
            if let Some(api) = &spec.api {
                check_api(api).map_err(|m| at(&api.identifier, m))?;
            }
            let secret = match &spec.client_secret {
                Some(name) => Some(
                    keys.secret(name)
                        .map_err(|e| at(name, format!("client_secret of '{}': {e}", spec.client_id)))?
                        .to_vec(),
                ),
                None => None,
            };
            if secret.is_none() && !spec.redirect_uris.web.is_empty() {
                return Err(at(
                    &spec.client_id,
                    format!("the app '{}' has web redirect URIs but no client_secret", spec.client_id),
                ));
            }
            if let Some(url) = &spec.logout_url {
                check_redirect_uri(Platform::Web, url).map_err(|m| at(url, m))?;
            }
            apps.push(App {
                name: spec.name.unwrap_or_else(|| spec.client_id.clone()),
                client_id: spec.client_id,
                redirect_uris: uris,
                secret,
                implicit: spec.implicit,
                logout_url: spec.logout_url,
                loopback: false,
                api: spec
                    .api
                    .map(|a| Api { identifier: a.identifier.trim_end_matches('/').to_owned(), scopes: a.scopes }),
                api_permissions: spec.api_permissions.into_iter().collect(),
            });
        }
        check_permissions(&apps).map_err(|(needle, m)| at(&needle, m))?;
        if apps.is_empty() {
            return Err(ServerError::Config {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "the file registers no apps".to_owned(),
            });
        }
        Ok(Apps { apps })
    }
}

/// Web and SPA redirect URIs must be https, or http on a loopback host (as B2C allows
/// `http://localhost`); native apps may use their own schemes. None may carry a fragment.
fn check_redirect_uri(platform: Platform, uri: &str) -> Result<(), String> {
    if uri.contains('#') {
        return Err(format!("the redirect URI '{uri}' has a fragment"));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!("the redirect URI '{uri}' is not an absolute URI"));
    };
    if rest.is_empty() || scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    {
        return Err(format!("the redirect URI '{uri}' is not an absolute URI"));
    }
    match platform {
        Platform::Public => Ok(()),
        _ if scheme == "https" || (scheme == "http" && is_loopback(uri)) => Ok(()),
        _ => Err(format!("the redirect URI '{uri}' must be https (http only on localhost)")),
    }
}

/// An App ID URI is an absolute https URI without query or fragment; scope names are plain words.
fn check_api(api: &ApiSpec) -> Result<(), String> {
    let id = &api.identifier;
    let ok = id.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.contains(['?', '#', ' ']));
    if !ok {
        return Err(format!(
            "the API identifier '{id}' is not an https URI such as https://yourtenant.onmicrosoft.com/api"
        ));
    }
    if api.scopes.is_empty() {
        return Err(format!("the API '{id}' exposes no scopes"));
    }
    match api.scopes.iter().find(|s| !is_scope_name(s)) {
        Some(bad) => Err(format!("the scope '{bad}' of the API '{id}' is not a word of letters, digits and . _ -")),
        None => Ok(()),
    }
}

fn is_scope_name(name: &str) -> bool {
    !name.is_empty() && name != ".default" && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Every granted scope is one an app's API exposes; the error names what to find in the file.
fn check_permissions(apps: &[App]) -> Result<(), (String, String)> {
    let mut seen: Vec<&str> = Vec::new();
    for api in apps.iter().filter_map(|a| a.api.as_ref()) {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(&api.identifier)) {
            return Err((api.identifier.clone(), format!("the API identifier '{}' is exposed twice", api.identifier)));
        }
        seen.push(&api.identifier);
    }
    for app in apps {
        for (identifier, scopes) in &app.api_permissions {
            let api = apps
                .iter()
                .filter_map(|a| a.api.as_ref())
                .find(|api| api.identifier.eq_ignore_ascii_case(identifier.trim_end_matches('/')));
            let Some(api) = api else {
                let message = format!("the app '{}' is granted '{identifier}', which no app exposes", app.client_id);
                return Err((identifier.clone(), message));
            };
            if let Some(bad) = scopes.iter().find(|s| !api.scopes.contains(s)) {
                let message =
                    format!("the API '{identifier}' exposes no scope '{bad}' (it has: {})", api.scopes.join(", "));
                return Err((bad.clone(), message));
            }
        }
    }
    Ok(())
}

/// 1-based line and column of the first `needle` in `text` (1:1 when absent).
fn position(text: &str, needle: &str) -> (usize, usize) {
    let Some(offset) = (!needle.is_empty()).then(|| text.find(needle)).flatten() else { return (1, 1) };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    #[serde(default)]
    apps: Vec<AppSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSpec {
    client_id: String,
    name: Option<String>,
    #[serde(default)]
    redirect_uris: RedirectUris,
    client_secret: Option<String>,
    #[serde(default)]
    implicit: bool,
    logout_url: Option<String>,
    api: Option<ApiSpec>,
    #[serde(default)]
    api_permissions: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSpec {
    identifier: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RedirectUris {
    #[serde(default)]
    web: Vec<String>,
    #[serde(default)]
    spa: Vec<String>,
    #[serde(default)]
    public: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Apps, ServerError> {
        let mut keys = KeyStore::empty();
        keys.insert_secret("B2C_1A_AppSecret", b"s3cret".to_vec());
        Apps::parse(Path::new("apps.yaml"), text, &keys)
    }

    #[test]
    fn a_config_too_large_or_too_deep_is_refused_before_parsing() {
        let dir = std::env::temp_dir().join(format!("ief-apps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let keys = KeyStore::empty();
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize + 1]).expect("write");
        let deep = dir.join("deep.yaml");
        std::fs::write(&deep, format!("apps: {}{}", "[".repeat(100_000), "]".repeat(100_000))).expect("write");
        let too_large = Apps::load(&big, &keys).expect_err("too large").to_string();
        let too_deep = Apps::load(&deep, &keys).expect_err("too deep").to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(too_large.contains("1048577 bytes"), "{too_large}");
        assert!(too_deep.contains("nest deeper than 64 levels"), "{too_deep}");
    }

    fn error_at(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(ServerError::Config { line, column, message, .. }) => (line, column, message),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_file_registers_each_platform() {
        let apps = parse(
            "apps:\n  - client_id: web-app\n    redirect_uris:\n      web: [https://app.example/cb]\n      spa: [http://localhost:5173/]\n    client_secret: B2C_1A_AppSecret\n",
        )
        .expect("valid");
        let app = apps.get("WEB-APP").expect("case-insensitive client id");
        assert_eq!(app.platform_of("https://app.example/cb"), Some(Platform::Web));
        assert_eq!(app.platform_of("http://localhost:5173/"), Some(Platform::Spa));
        assert_eq!(app.platform_of("https://app.example/cb/"), None, "one character more is another URI");
        assert_eq!(app.secret.as_deref(), Some(&b"s3cret"[..]));
    }

    #[test]
    fn errors_name_line_and_column() {
        let (line, column, message) =
            error_at("apps:\n  - client_id: a\n    redirect_uris:\n      web: [http://app.example/cb]\n");
        assert_eq!((line, column), (4, 13), "{message}");
        assert!(message.contains("must be https"), "{message}");

        let (line, _, message) = error_at("apps:\n  - client_id: a\n    redirect_uri: []\n");
        assert_eq!(line, 3, "{message}");
        assert!(message.contains("unknown field"), "{message}");

        let (line, column, message) = error_at(
            "apps:\n  - client_id: a\n    redirect_uris: {public: [x://cb]}\n    client_secret: B2C_1A_Missing\n",
        );
        assert_eq!((line, column), (4, 20), "{message}");
        assert!(message.contains("B2C_1A_Missing"), "{message}");
    }

    #[test]
    fn web_apps_need_a_secret_and_ids_are_unique() {
        let (_, _, message) = error_at("apps:\n  - client_id: a\n    redirect_uris: {web: [https://a.example/]}\n");
        assert!(message.contains("no client_secret"), "{message}");
        let (line, _, message) = error_at(
            "apps:\n  - client_id: a\n    redirect_uris: {public: [x://cb]}\n  - client_id: A\n    redirect_uris: {public: [x://cb]}\n",
        );
        assert!(message.contains("registered twice"), "{message}");
        assert_eq!(line, 4);
    }

    const API: &str = "apps:\n  - client_id: orders\n    api:\n      identifier: https://t.example/orders/\n      scopes: [read, write]\n";

    #[test]
    fn an_app_exposes_an_api_and_another_is_granted_its_scopes() {
        let text = format!(
            "{API}  - client_id: web\n    redirect_uris: {{public: [x://cb]}}\n    api_permissions:\n      https://t.example/orders: [read]\n"
        );
        let apps = parse(&text).expect("valid");
        let api = apps.get("orders").and_then(|a| a.api.clone()).expect("an API without redirect URIs");
        assert_eq!(api.identifier, "https://t.example/orders", "no trailing slash");
        let web = apps.get("web").expect("web");
        assert_eq!(web.api_permissions, vec![("https://t.example/orders".to_owned(), vec!["read".to_owned()])]);
    }

    #[test]
    fn grants_name_exposed_apis_and_scopes() {
        let grant = |what: &str| {
            format!(
                "{API}  - client_id: web\n    redirect_uris: {{public: [x://cb]}}\n    api_permissions:\n      {what}\n"
            )
        };
        let (line, column, message) = error_at(&grant("https://t.example/orders: [delete]"));
        assert!(message.contains("exposes no scope 'delete'") && message.contains("read, write"), "{message}");
        assert_eq!((line, column), (9, 34));
        let (line, _, message) = error_at(&grant("https://t.example/billing: [read]"));
        assert!(message.contains("which no app exposes"), "{message}");
        assert_eq!(line, 9);
        let (line, _, message) =
            error_at("apps:\n  - client_id: a\n    api:\n      identifier: http://t.example/a\n      scopes: [r]\n");
        assert!(message.contains("not an https URI"), "{message}");
        assert_eq!(line, 4);
        let (_, _, message) = error_at(
            "apps:\n  - client_id: a\n    api:\n      identifier: https://t.example/a\n      scopes: [\"r w\"]\n",
        );
        assert!(message.contains("'r w'"), "{message}");
    }

    #[test]
    fn the_development_app_takes_loopback_uris_only() {
        let apps = Apps::development();
        let app = apps.get(DEV_CLIENT_ID).expect("dev app");
        for ok in ["http://localhost", "http://127.0.0.1:3000/cb", "https://[::1]:8443/x?y=1"] {
            assert!(app.platform_of(ok).is_some(), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example/",
            "http://localhost@evil.example/",
            "http://127.0.0.1:3000x/",
            "https://evil.example/http://localhost",
            "javascript:alert(1)",
            "http://localhost/\r\nSet-Cookie: a=b",
        ] {
            assert!(app.platform_of(bad).is_none(), "{bad}");
        }
    }
}
