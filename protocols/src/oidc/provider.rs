//! The provider's discovery document and JWKS: fetched on first use, kept for a day, fetched
//! again after that (and the JWKS once more when a token names a key it does not have).
//!
//! Parsing goes through `openidconnect`'s `ProviderMetadata` (with the RFC 8705 and RFC 9207
//! fields as additional metadata) and `CoreJsonWebKeySet`, which skips keys it cannot read
//! instead of refusing the whole set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use reqwest::Client;
use serde::{Deserialize, Serialize};

use super::verify::Jwks;
use crate::federation::http::root_cause;

/// How long a discovery document or JWKS is used before it is fetched again.
pub const CACHE_SECS: i64 = 24 * 60 * 60;

/// Documents larger than this are refused rather than buffered.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The discovery fields `openidconnect` does not model.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 8705 §5.
    #[serde(default)]
    pub mtls_endpoint_aliases: Option<MtlsAliases>,
    /// RFC 9207 §3.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct MtlsAliases {
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What ief reads from a discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    /// `authorization_endpoint`, parsed with the document so a sign-in does not parse it again.
    pub authorization_url: reqwest::Url,
    pub token_endpoint: Option<String>,
    /// `token_endpoint`, parsed likewise.
    pub token_url: Option<reqwest::Url>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    pub end_session_endpoint: Option<String>,
    pub mtls_token_endpoint: Option<String>,
    pub mtls_userinfo_endpoint: Option<String>,
    /// The provider promises the RFC 9207 `iss` parameter in every authorization response.
    pub iss_parameter_supported: bool,
}

impl Discovery {
    pub fn parse(body: &[u8]) -> Result<Discovery, String> {
        let metadata: Metadata = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let extra = metadata.additional_metadata();
        let aliases = extra.mtls_endpoint_aliases.clone().unwrap_or_default();
        Ok(Discovery {
            issuer: metadata.issuer().to_string(),
            authorization_url: metadata.authorization_endpoint().url().clone(),
            token_endpoint: metadata.token_endpoint().map(|u| u.to_string()),
            token_url: metadata.token_endpoint().map(|u| u.url().clone()),
            userinfo_endpoint: metadata.userinfo_endpoint().map(|u| u.to_string()),
            jwks_uri: metadata.jwks_uri().to_string(),
            end_session_endpoint: extra.end_session_endpoint.clone(),
            mtls_token_endpoint: aliases.token_endpoint,
            mtls_userinfo_endpoint: aliases.userinfo_endpoint,
            iss_parameter_supported: extra.authorization_response_iss_parameter_supported == Some(true),
        })
    }
}

/// Why a document could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the {what} at {url} could not be fetched: {reason}")]
    Transport { what: &'static str, url: String, reason: String },
    #[error("the {what} at {url} answered HTTP {status}")]
    Status { what: &'static str, url: String, status: u16 },
    #[error("the {what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { what: &'static str, url: String },
    #[error("the {what} at {url} is not valid: {reason}")]
    Invalid { what: &'static str, url: String, reason: String },
}

#[derive(Debug)]
struct Entry<T> {
    value: Arc<T>,
    fetched_at: i64,
}

/// Discovery documents by METADATA URL and key sets by jwks_uri, shared by every sign-in.
#[derive(Debug, Default)]
pub struct ProviderCache {
    discovery: Mutex<HashMap<String, Entry<Discovery>>>,
    jwks: Mutex<HashMap<String, Entry<Jwks>>>,
}

impl ProviderCache {
    pub fn new() -> ProviderCache {
        ProviderCache::default()
    }

    /// The discovery document, from the cache while it is younger than [`CACHE_SECS`].
    pub async fn discovery(&self, client: &Client, url: &str, now: i64) -> Result<Arc<Discovery>, FetchError> {
        if let Some(hit) = fresh(&self.discovery, url, now) {
            return Ok(hit);
        }
        let what = "discovery document (METADATA)";
        let body = fetch(client, url, what).await?;
        let parsed =
            Discovery::parse(&body).map_err(|reason| FetchError::Invalid { what, url: url.to_owned(), reason })?;
        Ok(store(&self.discovery, url, parsed, now))
    }

    /// The provider's keys; `refresh` fetches them again whatever the cache holds.
    pub async fn jwks(&self, client: &Client, url: &str, now: i64, refresh: bool) -> Result<Arc<Jwks>, FetchError> {
        if !refresh && let Some(hit) = fresh(&self.jwks, url, now) {
            return Ok(hit);
        }
        let what = "JWKS (jwks_uri)";
        let body = fetch(client, url, what).await?;
        let parsed: CoreJsonWebKeySet = serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
            what,
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(store(&self.jwks, url, Jwks::new(parsed), now))
    }
}

fn fresh<T>(map: &Mutex<HashMap<String, Entry<T>>>, url: &str, now: i64) -> Option<Arc<T>> {
    let map = map.lock().unwrap_or_else(PoisonError::into_inner);
    // A clock that went backwards also counts as stale.
    map.get(url).filter(|e| (0..CACHE_SECS).contains(&(now - e.fetched_at))).map(|e| Arc::clone(&e.value))
}

fn store<T>(map: &Mutex<HashMap<String, Entry<T>>>, url: &str, value: T, now: i64) -> Arc<T> {
    let value = Arc::new(value);
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.insert(url.to_owned(), Entry { value: Arc::clone(&value), fetched_at: now });
    value
}

async fn fetch(client: &Client, url: &str, what: &'static str) -> Result<Vec<u8>, FetchError> {
    let transport = |e: &reqwest::Error| FetchError::Transport { what, url: url.to_owned(), reason: root_cause(e) };
    let response =
        client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status { what, url: url.to_owned(), status: status.as_u16() });
    }
    read_limited(response, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| transport(&e))?
        .ok_or_else(|| FetchError::TooLarge { what, url: url.to_owned() })
}

/// The body, or `None` past `limit` bytes.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_the_rfc_8705_and_9207_fields() {
        let body = serde_json::json!({
            "issuer": "https://idp.example/",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "userinfo_endpoint": "https://idp.example/userinfo",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "Ed448"],
            "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.idp.example/token"},
            "authorization_response_iss_parameter_supported": true
        });
        let d = Discovery::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(d.issuer, "https://idp.example/");
        assert_eq!(d.authorization_url.as_str(), "https://idp.example/authorize");
        assert_eq!(d.token_url.as_ref().map(reqwest::Url::as_str), Some("https://idp.example/token"));
        assert_eq!(d.mtls_token_endpoint.as_deref(), Some("https://mtls.idp.example/token"));
        assert_eq!(d.mtls_userinfo_endpoint, None);
        assert!(d.iss_parameter_supported);
        let e = Discovery::parse(br#"{"issuer": "https://idp.example/"}"#).unwrap_err();
        assert!(e.contains("missing field"), "{e}");
    }
}
