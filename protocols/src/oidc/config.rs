//! A profile's OpenID Connect metadata, checked before any request and kept per tenant and
//! profile while its metadata stays what it was read from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ief_engine::model::{MetadataItem, TechnicalProfile};

use crate::federation::flag;

/// What the authorization request asks for (`response_types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// `code`: the id_token comes from the token endpoint (default).
    Code,
    /// `id_token`: the id_token comes in the callback; no token request.
    IdToken,
    /// `code id_token` (Apple): both id_tokens are verified, the front channel's with the
    /// code's c_hash before the code is redeemed.
    CodeIdToken,
}

impl ResponseType {
    fn parse(text: &str) -> Option<ResponseType> {
        let mut parts: Vec<&str> = text.split_whitespace().collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(ResponseType::Code),
            ["id_token"] => Some(ResponseType::IdToken),
            ["code", "id_token"] => Some(ResponseType::CodeIdToken),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::CodeIdToken => "code id_token",
        }
    }

    pub fn has_code(self) -> bool {
        self != ResponseType::IdToken
    }

    /// Whether the authorization response carries an id_token.
    pub fn has_front_channel_id_token(self) -> bool {
        self != ResponseType::Code
    }
}

/// How the provider returns the authorization response (`response_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    FormPost,
    Query,
    Fragment,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::FormPost => "form_post",
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
        }
    }
}

/// The metadata of one OpenID Connect technical profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `METADATA`: the discovery document's URL.
    pub metadata_url: String,
    pub client_id: String,
    pub response_type: ResponseType,
    pub response_mode: ResponseMode,
    pub scope: String,
    pub use_policy_in_redirect_uri: bool,
    /// `issuer`: replaces the discovery document's issuer.
    pub issuer: Option<String>,
    /// `IdTokenAudience`: the audience expected instead of the client_id.
    pub id_token_audience: Option<String>,
    /// `ValidTokenIssuerPrefixes`: multi-tenant providers; `iss` must start with one.
    pub issuer_prefixes: Vec<String>,
    /// `authorization_endpoint`: replaces the discovery document's; parsed once, when read.
    pub authorization_endpoint: Option<reqwest::Url>,
    /// `ClaimsEndpoint`: the userinfo endpoint to call after the token request.
    pub claims_endpoint: Option<String>,
    /// `code_challenge_method=S256`: send a PKCE challenge (RFC 7636).
    pub pkce: bool,
    /// `AdditionalRequestQueryParameters`: extra `name=value` pairs of the authorization request.
    pub extra_parameters: Vec<(String, String)>,
    /// `HttpBinding=GET`: the token request's parameters go in the query string.
    pub token_request_get: bool,
    /// `HttpBinding=POST` said explicitly: userinfo is called with POST rather than GET.
    pub userinfo_post: bool,
    /// `ReadBodyClaimsOnIdpRedirect`: claims read from the callback's own parameters.
    pub body_claims: Vec<String>,
    /// `DiscoverMetadataByTokenIssuer`: the id_token's keys come from its own issuer's discovery
    /// document (multi-tenant providers), not from `METADATA`'s.
    pub discover_by_issuer: bool,
    /// `MarkAsFailureOnStatusCode5xx`: a 5xx answer from the provider is an outage, whatever
    /// its body says.
    pub fail_on_5xx: bool,
}

impl Config {
    /// Reads the profile's metadata; `{tenant}` in its URLs is the policy's tenant, as in the
    /// starter pack's `https://login.microsoftonline.com/{tenant}/.well-known/openid-configuration`.
    pub fn read(profile: &TechnicalProfile, tenant: &str) -> Result<Config, String> {
        let text = |key: &str| profile.metadata(key).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let url = |key: &str| text(key).map(|v| v.replace(TENANT_PLACEHOLDER, tenant));
        let metadata_url =
            url("METADATA").ok_or("the metadata item 'METADATA' (the discovery document's URL) is missing")?;
        check_url("METADATA", &metadata_url)?;
        let client_id = text("client_id").ok_or("the metadata item 'client_id' is missing")?;
        let response_type = match text("response_types") {
            None => ResponseType::Code,
            Some(v) => ResponseType::parse(&v).ok_or_else(|| {
                format!("response_types '{v}' is not supported (use 'code', 'id_token' or 'code id_token')")
            })?,
        };
        let response_mode = match text("response_mode").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("form_post") => ResponseMode::FormPost,
            Some("query") => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some(other) => {
                return Err(format!("response_mode '{other}' is not one of form_post, query, fragment"));
            }
        };
        if response_type != ResponseType::Code && response_mode == ResponseMode::Query {
            // OAuth 2.0 Multiple Response Types §5: tokens never travel in a query string.
            return Err(format!(
                "response_types '{}' cannot use response_mode 'query' (an id_token must not travel in a URL's query)",
                response_type.as_str()
            ));
        }
        let pkce = match text("code_challenge_method").as_deref() {
            None => false,
            Some("S256") => true,
            Some(other) => {
                return Err(format!("code_challenge_method '{other}' is not supported (only S256)"));
            }
        };
        let binding = text("HttpBinding").map(|v| v.to_ascii_uppercase());
        let (token_request_get, userinfo_post) = match binding.as_deref() {
            None => (false, false),
            Some("POST") => (false, true),
            Some("GET") => (true, false),
            Some(other) => return Err(format!("HttpBinding '{other}' is not one of GET, POST")),
        };
        let authorization_endpoint =
            url("authorization_endpoint").map(|url| check_url("authorization_endpoint", &url)).transpose()?;
        let claims_endpoint = url("ClaimsEndpoint");
        if let Some(url) = &claims_endpoint {
            check_url("ClaimsEndpoint", url)?;
        }
        let issuer = url("issuer");
        let issuer_prefixes = list(text("ValidTokenIssuerPrefixes").as_deref());
        let discover_by_issuer = flag(profile, "DiscoverMetadataByTokenIssuer", false);
        if discover_by_issuer && issuer.is_none() && issuer_prefixes.is_empty() {
            // Otherwise any issuer at all, with keys of its own choosing, would be trusted.
            return Err("DiscoverMetadataByTokenIssuer needs ValidTokenIssuerPrefixes (or issuer) to say which \
                 token issuers are trusted"
                .to_owned());
        }
        Ok(Config {
            metadata_url,
            client_id,
            response_type,
            response_mode,
            scope: text("scope").unwrap_or_else(|| "openid".to_owned()),
            use_policy_in_redirect_uri: flag(profile, "UsePolicyInRedirectUri", false),
            issuer,
            id_token_audience: text("IdTokenAudience"),
            issuer_prefixes,
            authorization_endpoint,
            claims_endpoint,
            pkce,
            extra_parameters: parameters(text("AdditionalRequestQueryParameters").as_deref())?,
            token_request_get,
            userinfo_post,
            body_claims: list(text("ReadBodyClaimsOnIdpRedirect").as_deref()),
            discover_by_issuer,
            fail_on_5xx: flag(profile, "MarkAsFailureOnStatusCode5xx", false),
        })
    }

    /// The audience the id_token must name.
    pub fn audience(&self) -> &str {
        self.id_token_audience.as_deref().unwrap_or(&self.client_id)
    }
}

/// Each profile's [`Config`] per tenant, read once and used again while the profile's metadata
/// items are the same text: a reloaded policy that changes them is read again. Kept by tenant,
/// then profile id, so tenants whose policies share a profile id keep one entry each, and a
/// hit looks both up by `&str`.
#[derive(Debug, Default)]
pub struct ConfigCache {
    by_tenant: Mutex<HashMap<String, HashMap<String, Arc<Kept>>>>,
}

#[derive(Debug)]
struct Kept {
    metadata: Vec<MetadataItem>,
    config: Arc<Config>,
}

impl Kept {
    fn read_from(&self, profile: &TechnicalProfile) -> bool {
        self.metadata.len() == profile.metadata.len()
            && self
                .metadata
                .iter()
                .zip(&profile.metadata)
                .all(|(a, b)| a.key.value == b.key.value && a.value.value == b.value.value)
    }
}

impl ConfigCache {
    /// [`Config::read`], or the config read before from the same metadata and tenant.
    pub fn read(&self, profile: &TechnicalProfile, tenant: &str) -> Result<Arc<Config>, String> {
        let id = profile.id.value.as_str();
        let kept = {
            let by_tenant = self.by_tenant.lock().unwrap_or_else(PoisonError::into_inner);
            by_tenant.get(tenant).and_then(|profiles| profiles.get(id)).cloned()
        };
        if let Some(kept) = kept.filter(|k| k.read_from(profile)) {
            return Ok(Arc::clone(&kept.config));
        }
        let config = Arc::new(Config::read(profile, tenant)?);
        let kept = Arc::new(Kept { metadata: profile.metadata.clone(), config: Arc::clone(&config) });
        let mut by_tenant = self.by_tenant.lock().unwrap_or_else(PoisonError::into_inner);
        by_tenant.entry(tenant.to_owned()).or_default().insert(id.to_owned(), kept);
        Ok(config)
    }
}

/// What `{tenant}` in a URL item stands for: the policy's tenant.
const TENANT_PLACEHOLDER: &str = "{tenant}";

/// Only http(s) URLs: anything else is a policy mistake, not a place to send a user or a secret.
fn check_url(key: &str, url: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(u),
        _ => Err(format!("the metadata item '{key}' is not an http(s) URL: '{url}'")),
    }
}

fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// `name=value` pairs separated by `&` or `,`; values are taken as written (not percent-decoded).
fn parameters(text: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.unwrap_or_default().split(['&', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("AdditionalRequestQueryParameters has a pair without a name: '{pair}'"));
        }
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_in_any_order() {
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(ResponseType::parse(" id_token "), Some(ResponseType::IdToken));
        assert_eq!(ResponseType::parse("id_token code"), Some(ResponseType::CodeIdToken));
        assert_eq!(ResponseType::parse("token"), None);
        assert_eq!(ResponseType::parse("code token"), None);
    }

    #[test]
    fn extra_parameters_split_on_ampersands_and_commas() {
        assert_eq!(
            parameters(Some("prompt=login&foo=bar, flag")).unwrap(),
            vec![("prompt".into(), "login".into()), ("foo".into(), "bar".into()), ("flag".into(), String::new())]
        );
        assert!(parameters(Some("=x")).unwrap_err().contains("without a name"));
        assert!(parameters(None).unwrap().is_empty());
    }

    #[test]
    fn each_tenant_keeps_its_config_until_the_profile_changes() {
        let policy = |metadata: &str, client_id: &str| {
            crate::oidc::tests::profile_policy(&[("METADATA", metadata), ("client_id", client_id)], &[], "")
        };
        let url = "https://login.example/{tenant}/.well-known/openid-configuration";
        let cache = ConfigCache::default();
        let first = policy(url, "a");
        let profile = first.profile("IdP").expect("IdP");
        let config = cache.read(profile, "one").expect("read");
        assert_eq!(config.metadata_url, "https://login.example/one/.well-known/openid-configuration");
        assert!(Arc::ptr_eq(&config, &cache.read(profile, "one").expect("kept")), "the same metadata is read once");
        let other_tenant = cache.read(profile, "two").expect("read");
        assert_eq!(other_tenant.metadata_url, "https://login.example/two/.well-known/openid-configuration");
        // Two tenants sharing the profile id keep one entry each: alternating reads none again.
        for _ in 0..3 {
            assert!(Arc::ptr_eq(&config, &cache.read(profile, "one").expect("kept")), "tenant one read again");
            assert!(Arc::ptr_eq(&other_tenant, &cache.read(profile, "two").expect("kept")), "tenant two read again");
        }
        // A reloaded policy: the same profile id with another client_id, then a broken METADATA.
        let reloaded = policy(url, "b");
        let changed = cache.read(reloaded.profile("IdP").expect("IdP"), "two").expect("read");
        assert_eq!((changed.client_id.as_str(), config.client_id.as_str()), ("b", "a"));
        let broken = policy("ftp://login.example/", "b");
        let err = cache.read(broken.profile("IdP").expect("IdP"), "two").expect_err("not http");
        assert!(err.contains("not an http(s) URL"), "{err}");
        assert!(cache.read(broken.profile("IdP").expect("IdP"), "two").is_err(), "refused again");
        assert!(
            Arc::ptr_eq(&changed, &cache.read(reloaded.profile("IdP").expect("IdP"), "two").expect("kept")),
            "a refusal neither replaced nor dropped the kept entry"
        );
        assert!(Arc::ptr_eq(&config, &cache.read(profile, "one").expect("kept")), "tenant one's entry untouched");
    }

    #[test]
    fn urls_must_be_http() {
        assert!(check_url("METADATA", "https://idp.example/.well-known/openid-configuration").is_ok());
        assert!(check_url("METADATA", "file:///etc/passwd").unwrap_err().contains("not an http(s) URL"));
        assert!(check_url("METADATA", "not a url").is_err());
    }
}
