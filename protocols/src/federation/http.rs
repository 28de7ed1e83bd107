//! HTTP clients for calls to partners: one per TLS client identity (reqwest ties the identity
//! to the client, and connection pools are per client), never following redirects.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::Client;

/// Extra root certificates (PEM) trusted besides the system's: the test CA of an embedded or
/// interop identity provider. Put it in the executor's extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TrustedRoots(pub Vec<String>);

/// Origins (`https://api.sendgrid.com`) whose calls go to another base URL instead, path and
/// query kept: a scenario's HTTP stubs standing in for a real API. Put it in the executor's
/// extensions; only the RESTful provider reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StubbedOrigins(pub Vec<(String, String)>);

impl StubbedOrigins {
    /// `url` sent to its stand-in when its origin is stubbed.
    pub fn route(&self, url: reqwest::Url) -> reqwest::Url {
        let origin = url.origin().ascii_serialization();
        let Some((_, base)) = self.0.iter().find(|(o, _)| *o == origin) else {
            return url;
        };
        // Path and query only: credentials in the URL (`https://user@host/`) are not the origin's.
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        reqwest::Url::parse(&format!("{}{}{query}", base.trim_end_matches('/'), url.path())).unwrap_or(url)
    }
}

#[cfg(test)]
mod tests {
    use super::StubbedOrigins;

    #[test]
    fn a_stubbed_origin_keeps_path_and_query_and_drops_credentials() {
        let stubs = StubbedOrigins(vec![("https://api.example.com".to_owned(), "http://127.0.0.1:9/o/0/".to_owned())]);
        let route = |u: &str| stubs.route(u.parse().expect("a URL")).to_string();
        assert_eq!(route("https://api.example.com/v3/mail?x=1&y=%20"), "http://127.0.0.1:9/o/0/v3/mail?x=1&y=%20");
        assert_eq!(route("https://user:secret@api.example.com:443/v3/mail"), "http://127.0.0.1:9/o/0/v3/mail");
        assert_eq!(route("https://other.example.com/v3"), "https://other.example.com/v3");
    }
}

/// A client certificate chain and its private key, both PEM.
#[derive(Clone, Copy)]
pub struct TlsIdentity<'a> {
    pub certificates: &'a str,
    pub private_key: &'a str,
}

impl std::fmt::Debug for TlsIdentity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the client certificate is not a PEM certificate with its private key ({0})")]
    Identity(String),
    #[error("a trusted root is not a PEM certificate ({0})")]
    Root(String),
    #[error("the HTTP client could not be set up ({0})")]
    Build(String),
}

/// Clients by (identity, extra roots), built on first use.
#[derive(Debug)]
pub struct ClientPool {
    timeout: Duration,
    clients: Mutex<HashMap<u64, Client>>,
}

impl ClientPool {
    pub fn new(timeout: Duration) -> ClientPool {
        ClientPool { timeout, clients: Mutex::new(HashMap::new()) }
    }

    /// The client presenting `identity` (none for a plain client) and trusting `roots` besides
    /// the system's roots.
    pub fn client(
        &self,
        identity: Option<TlsIdentity<'_>>,
        roots: Option<&TrustedRoots>,
    ) -> Result<Client, ClientError> {
        let mut h = DefaultHasher::new();
        identity.map(|i| (i.certificates, i.private_key)).hash(&mut h);
        roots.hash(&mut h);
        let key = h.finish();
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder =
            Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(self.timeout).no_proxy();
        if let Some(identity) = identity {
            let pem = format!("{}\n{}", identity.certificates.trim_end(), identity.private_key);
            let identity =
                reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| ClientError::Identity(root_cause(&e)))?;
            builder = builder.identity(identity);
        }
        if let Some(roots) = roots.filter(|r| !r.0.is_empty()) {
            let mut certs = Vec::new();
            for pem in &roots.0 {
                certs.extend(
                    reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                        .map_err(|e| ClientError::Root(root_cause(&e)))?,
                );
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| ClientError::Build(root_cause(&e)))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// How many clients were built (tests).
    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The innermost error message: reqwest's own text ("error sending request") hides the cause.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}
