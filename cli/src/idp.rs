//! `ief idp serve`: the embedded test identity providers on 127.0.0.1, until Ctrl-C or `--for`:
//! the OpenID provider (HTTPS, on the shared test PKI), the Twitter-like OAuth1 provider and the
//! GitHub- and Facebook-like OAuth2 provider. Each prints its base URL, users and clients; the
//! CA and any generated secrets and keys go to the `--out` folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ief_engine::input;
use ief_idp::oauth1::{self, OAuth1Config};
use ief_idp::oauth2::{self, ClientAuthMethod, OAuth2Client, OAuth2ProviderConfig};
use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};
use ief_idp::pki::{self, TestPki};
use ief_idp::{Served, TestUser};
use ief_protocols::federation::client_auth::Method;
use ief_protocols::keys::KeyStore;
use serde::Deserialize;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum IdpCommand {
    /// Serve the test identity providers on 127.0.0.1.
    ///
    /// Without --config: the user alice (password Passw0rd!) at every provider, one OpenID
    /// Connect client per token-endpoint authentication method, an OAuth1 consumer and an
    /// OAuth2 client, whose secrets, keys and certificates are written to --out as policy key
    /// files.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Users and clients (YAML: `users`, and `oidc` with `clients`, `auto_login`, ...;
    /// `oauth1` with `consumers`; `oauth2` with `clients`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder for the CA certificate and generated client keys (created; its files are replaced).
    #[arg(long, default_value = ".ief/idp")]
    out: PathBuf,
    /// Port of the first provider (OpenID Connect); OAuth1 and OAuth2 take the next two
    /// (0: ephemeral ports).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Stop after this many seconds instead of at Ctrl-C.
    #[arg(long = "for", value_name = "SECONDS")]
    duration: Option<u64>,
    /// Redirect URI of the default clients (repeatable).
    #[arg(long = "redirect-uri", default_value = DEFAULT_REDIRECT_URI)]
    redirect_uris: Vec<String>,
}

/// Where the demo policy's OpenID Connect profiles come back to (`ief run` uses the tenant's
/// b2clogin host).
const DEFAULT_REDIRECT_URI: &str = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp";

const DEFAULT_USER: &str = "alice";
const DEFAULT_OAUTH1_CONSUMER: &str = "ief-oauth1-consumer";
const DEFAULT_OAUTH2_CLIENT: &str = "ief-oauth2-client";
const DEFAULT_PASSWORD: &str = "Passw0rd!";

/// The largest `--config` file read, and how deep its `[`/`{` may nest (a JWK set needs 3).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
const MAX_CONFIG_NESTING: usize = 64;

/// The `--config` file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IdpFile {
    /// Users of every provider that lists none of its own.
    #[serde(default)]
    users: Vec<TestUser>,
    #[serde(default)]
    oidc: Option<OidcConfig>,
    #[serde(default)]
    oauth1: Option<OAuth1Config>,
    #[serde(default)]
    oauth2: Option<OAuth2ProviderConfig>,
}

pub(crate) fn run(command: &IdpCommand) -> Result<ExitCode, String> {
    match command {
        IdpCommand::Serve(args) => serve(args),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let file = match &args.config {
        Some(path) => {
            let in_file = |e: String| format!("{}: {e}", path.display());
            let text = input::read_text_limited(path, MAX_CONFIG_BYTES).map_err(|e| in_file(e.to_string()))?;
            input::check_yaml_nesting(&text, MAX_CONFIG_NESTING).map_err(in_file)?;
            let file: IdpFile = serde_yaml_ng::from_str(&text).map_err(|e| in_file(e.to_string()))?;
            if file.oidc.is_none() && file.oauth1.is_none() && file.oauth2.is_none() {
                return Err(format!(
                    "{}: configures no provider (expected an `oidc`, `oauth1` or `oauth2` section)",
                    path.display()
                ));
            }
            Some(file)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let pki = Arc::new(TestPki::generate().map_err(|e| e.to_string())?);
        std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
        let ca = args.out.join("ca.pem");
        write_file(&ca, pki.ca_pem())?;
        outln!("ca: {} (trust it to call the providers; client certificates chain to it)", ca.display());
        let mut ports = Ports(args.port);
        // Providers, one line each; each prints its URL and clients.
        let _oidc = start_oidc(file.as_ref(), args, &pki, ports.next()).await?;
        let _oauth1 = start_oauth1(file.as_ref(), args, ports.next()).await?;
        let _oauth2 = start_oauth2(file.as_ref(), args, ports.next()).await?;
        wait(args.duration).await
    })
}

/// Consecutive ports from `--port`, or ephemeral ones.
struct Ports(u16);

impl Ports {
    fn next(&mut self) -> u16 {
        let port = self.0;
        if port != 0 {
            self.0 = port.saturating_add(1);
        }
        port
    }
}

pub(crate) async fn wait(duration: Option<u64>) -> Result<ExitCode, String> {
    match duration {
        Some(secs) => {
            outln!("serving for {secs} seconds");
            if let Ok(signal) = tokio::time::timeout(Duration::from_secs(secs), tokio::signal::ctrl_c()).await {
                signal.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
            }
        }
        None => {
            outln!("serving until Ctrl-C");
            tokio::signal::ctrl_c().await.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn start_oidc(
    file: Option<&IdpFile>,
    args: &ServeArgs,
    pki: &Arc<TestPki>,
    port: u16,
) -> Result<Option<OidcProvider>, String> {
    let (config, notes) = match file {
        Some(file) => {
            let Some(mut config) = file.oidc.clone() else { return Ok(None) };
            config.users = users_or(&config.users, file);
            let notes = certificates_for(&config, pki, &args.out)?;
            (config, notes)
        }
        None => default_oidc(pki, &args.out, &args.redirect_uris)?,
    };
    let users = config.users.clone();
    let op = OidcProvider::start_with(config, pki.clone(), port).await.map_err(|e| format!("oidc: {e}"))?;
    outln!("oidc: {}", op.issuer());
    outln!("  discovery: {}", op.discovery_url());
    print_users(&users, file.is_none());
    if file.is_none() {
        outln!("  redirect URIs: {}", args.redirect_uris.join(" "));
    }
    for (client_id, method) in op.clients() {
        let note = notes.iter().find(|(id, _)| *id == client_id).map(|(_, n)| format!(", {n}")).unwrap_or_default();
        outln!("  client: {client_id} ({}{note})", method.as_str());
    }
    Ok(Some(op))
}

/// The users of a provider: its own, or the file's shared ones.
fn users_or(own: &[TestUser], file: &IdpFile) -> Vec<TestUser> {
    if own.is_empty() { file.users.clone() } else { own.to_vec() }
}

fn print_users(users: &[TestUser], defaults: bool) {
    for user in users {
        if defaults && user.username == DEFAULT_USER {
            outln!("  user: {} (password {DEFAULT_PASSWORD})", user.username);
        } else {
            outln!("  user: {}", user.username);
        }
    }
}

/// Listens on 127.0.0.1:`port` (0: ephemeral); returns the listener and its base URL.
async fn listen(port: u16, what: &str) -> Result<(tokio::net::TcpListener, String), String> {
    let listener = Served::listen(port).await.map_err(|e| format!("{what}: cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("{what}: {e}"))?;
    Ok((listener, format!("http://{addr}")))
}

async fn start_oauth1(file: Option<&IdpFile>, args: &ServeArgs, port: u16) -> Result<Option<Served>, String> {
    let (config, secret_file) = match file {
        Some(file) => {
            let Some(mut config) = file.oauth1.clone() else { return Ok(None) };
            config.users = users_or(&config.users, file);
            (config, None)
        }
        None => {
            let secret = random_secret()?;
            let path = args.out.join(format!("{DEFAULT_OAUTH1_CONSUMER}.txt"));
            write_file(&path, &format!("{secret}\n"))?;
            let mut config = OAuth1Config::new(DEFAULT_OAUTH1_CONSUMER, secret);
            config.users = vec![default_user(&[("user_id", "1442017"), ("screen_name", "alice_x")])];
            (config, Some(path))
        }
    };
    let users = config.users.clone();
    let consumers: Vec<String> = config.consumers.iter().map(|c| c.key.clone()).collect();
    let router = oauth1::router(config).map_err(|e| format!("oauth1: {e}"))?;
    let (listener, url) = listen(port, "oauth1").await?;
    let served = Served::http_on(listener, router).map_err(|e| format!("oauth1: {e}"))?;
    outln!("oauth1: {url}");
    outln!("  request token: {url}{}", oauth1::REQUEST_TOKEN_PATH);
    outln!("  authenticate: {url}{}", oauth1::AUTHENTICATE_PATH);
    outln!("  access token: {url}{}", oauth1::ACCESS_TOKEN_PATH);
    outln!("  verify credentials: {url}{}", oauth1::VERIFY_CREDENTIALS_PATH);
    print_users(&users, file.is_none());
    for key in consumers {
        match &secret_file {
            Some(path) => outln!("  consumer: {key} (HMAC-SHA1, secret in {})", path.display()),
            None => outln!("  consumer: {key} (HMAC-SHA1)"),
        }
    }
    Ok(Some(served))
}

async fn start_oauth2(file: Option<&IdpFile>, args: &ServeArgs, port: u16) -> Result<Option<Served>, String> {
    let (config, notes) = match file {
        Some(file) => {
            let Some(mut config) = file.oauth2.clone() else { return Ok(None) };
            config.users = users_or(&config.users, file);
            (config, Vec::new())
        }
        None => {
            let secret = random_secret()?;
            let path = args.out.join(format!("{DEFAULT_OAUTH2_CLIENT}.txt"));
            write_file(&path, &format!("{secret}\n"))?;
            let client = OAuth2Client {
                client_id: DEFAULT_OAUTH2_CLIENT.to_owned(),
                auth_method: ClientAuthMethod::ClientSecretPost,
                client_secret: Some(secret),
                public_key: None,
                redirect_uris: args.redirect_uris.clone(),
            };
            let config = OAuth2ProviderConfig {
                users: vec![default_user(&[("sub", "1442017")])],
                clients: vec![client],
                ..OAuth2ProviderConfig::default()
            };
            (config, vec![(DEFAULT_OAUTH2_CLIENT.to_owned(), format!("secret in {}", path.display()))])
        }
    };
    let users = config.users.clone();
    let clients: Vec<(String, &'static str)> =
        config.clients.iter().map(|c| (c.client_id.clone(), c.auth_method.as_str())).collect();
    let (router, base_url) = oauth2::router(config).map_err(|e| format!("oauth2: {e}"))?;
    let (listener, url) = listen(port, "oauth2").await?;
    // Client assertions name the token endpoint: the provider must know its own URL.
    let _ = base_url.set(url.clone());
    let served = Served::http_on(listener, router).map_err(|e| format!("oauth2: {e}"))?;
    outln!("oauth2: {url}");
    outln!("  authorize: {url}{}", oauth2::AUTHORIZE_PATH);
    outln!("  token: {url}{}", oauth2::TOKEN_PATH);
    outln!("  user info: {url}{} (flat), {url}{} (nested)", oauth2::ME_PATH, oauth2::USER_PATH);
    print_users(&users, file.is_none());
    if file.is_none() {
        outln!("  redirect URIs: {}", args.redirect_uris.join(" "));
    }
    for (client_id, method) in clients {
        let note = notes.iter().find(|(id, _)| *id == client_id).map(|(_, n)| format!(", {n}")).unwrap_or_default();
        outln!("  client: {client_id} ({method}{note})");
    }
    Ok(Some(served))
}

/// Alice, with the claims every provider releases and `extra` ones.
fn default_user(extra: &[(&str, &str)]) -> TestUser {
    let mut claims = serde_json::json!({
        "email": "alice@example.com",
        "name": "Alice Smith",
        "given_name": "Alice",
        "family_name": "Smith",
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    for (k, v) in extra {
        claims.insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
    }
    TestUser { username: DEFAULT_USER.to_owned(), password: DEFAULT_PASSWORD.to_owned(), claims }
}

/// The default user, and one client per authentication method with its credentials written
/// to `out` as policy key files (`NAME.txt` secrets, `NAME.pem` keys and certificates).
fn default_oidc(
    pki: &TestPki,
    out: &Path,
    redirect_uris: &[String],
) -> Result<(OidcConfig, Vec<(String, String)>), String> {
    let claims = serde_json::json!({
        "sub": DEFAULT_USER,
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Smith",
        "given_name": "Alice",
        "family_name": "Smith",
    });
    let user = TestUser {
        username: DEFAULT_USER.to_owned(),
        password: DEFAULT_PASSWORD.to_owned(),
        claims: claims.as_object().cloned().unwrap_or_default(),
    };
    let mut config = OidcConfig::default().user(user);
    let mut notes = Vec::new();
    let mut add = |client: ClientConfig, note: String| {
        let client = redirect_uris.iter().fold(client, |c, uri| c.redirect_uri(uri.clone()));
        notes.push((client.client_id.clone(), note));
        config.clients.push(client);
    };

    let secret = random_secret()?;
    let path = out.join("ief-secret-post.txt");
    write_file(&path, &format!("{secret}\n"))?;
    add(ClientConfig::client_secret_post("ief-secret-post", secret), format!("secret in {}", path.display()));

    // Characters RFC 6749 §2.3.1's form-urlencoding must protect.
    let secret = format!("{}:+/=%&?~", random_secret()?);
    let path = out.join("ief-secret-basic.txt");
    write_file(&path, &format!("{secret}\n"))?;
    add(ClientConfig::client_secret_basic("ief-secret-basic", secret), format!("secret in {}", path.display()));

    let key = pki::rsa_private_key_pem().map_err(|e| e.to_string())?;
    let mut keys = KeyStore::empty();
    keys.insert_pem("jwt", &key).map_err(|e| e.to_string())?;
    let jwk = keys.signing_key("jwt").map_err(|e| e.to_string())?.public_jwk().clone();
    let path = out.join("ief-private-key-jwt.pem");
    write_file(&path, &key)?;
    add(ClientConfig::private_key_jwt("ief-private-key-jwt", jwk), format!("RS256, key in {}", path.display()));

    let dn = "CN=ief-tls-client-auth,O=ief";
    let cert = pki.client_cert(dn).map_err(|e| e.to_string())?;
    let path = out.join("ief-tls-client-auth.pem");
    write_file(&path, &cert.identity_pem())?;
    add(
        ClientConfig::tls_client_auth("ief-tls-client-auth", dn).certificate_bound(),
        format!("{dn}, certificate-bound tokens, certificate and key in {}", path.display()),
    );

    let cert = pki::self_signed_client_cert("CN=ief-self-signed-tls-client-auth").map_err(|e| e.to_string())?;
    let path = out.join("ief-self-signed-tls-client-auth.pem");
    write_file(&path, &cert.identity_pem())?;
    add(
        ClientConfig::self_signed_tls_client_auth("ief-self-signed-tls-client-auth", cert.cert_pem())
            .certificate_bound(),
        format!("certificate-bound tokens, certificate and key in {}", path.display()),
    );
    Ok((config, notes))
}

/// A certificate from the test CA for each configured `tls_client_auth` client, written to
/// `out/<client_id>.pem`: the configuration names a subject, only this run's CA can sign it.
fn certificates_for(config: &OidcConfig, pki: &TestPki, out: &Path) -> Result<Vec<(String, String)>, String> {
    let mut notes = Vec::new();
    for client in &config.clients {
        if client.token_endpoint_auth_method != Method::TlsClientAuth {
            continue;
        }
        let Some(dn) = &client.tls_client_auth_subject_dn else { continue };
        let cert = pki.client_cert(dn).map_err(|e| format!("oidc: client '{}': {e}", client.client_id))?;
        let path = out.join(format!("{}.pem", file_name(&client.client_id)));
        write_file(&path, &cert.identity_pem())?;
        notes.push((client.client_id.clone(), format!("certificate and key in {}", path.display())));
    }
    Ok(notes)
}

fn file_name(client_id: &str) -> String {
    client_id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

fn random_secret() -> Result<String, String> {
    let mut buf = [0u8; 24];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness for a client secret: {e}"))?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Writes (or replaces) a file readable by its owner only: these hold keys and secrets.
fn write_file(path: &Path, contents: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(contents.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
