//! HTTP clients for calls to partners: one per TLS client identity (reqwest ties the identity
//! to the client, and connection pools are per client), never following redirects.

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
    use super::{ClientPool, StubbedOrigins, TlsIdentity, TrustedRoots};

    #[tokio::test]
    async fn a_pool_builds_one_client_per_identity_and_roots_and_never_shows_a_key() {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec!["client.example".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("a certificate");
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let roots = TrustedRoots(vec![cert_pem.clone()]);
        let pool = ClientPool::new(std::time::Duration::from_secs(1));
        let identity = TlsIdentity { certificates: &cert_pem, private_key: &key_pem };
        for _ in 0..2 {
            pool.client(None, None).expect("a plain client");
            pool.client(None, Some(&roots.clone())).expect("a client trusting the root");
            pool.client(Some(identity), Some(&roots)).expect("a client presenting the certificate");
        }
        assert_eq!(pool.len(), 3, "one client per identity and roots");
        let other = TrustedRoots(vec![format!("{cert_pem}{cert_pem}")]);
        pool.client(Some(identity), Some(&other)).expect("other roots");
        assert_eq!(pool.len(), 4);
        let key_line = key_pem.lines().nth(1).expect("a base64 line");
        assert!(!format!("{pool:?}").contains(key_line), "{pool:?}");
    }

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

/// Clients by (identity, extra roots), built on first use. A process has a handful (one per
/// client certificate in its policies), so they are found by comparing the PEM texts, which
/// costs less per call than hashing them.
#[derive(Debug)]
pub struct ClientPool {
    timeout: Duration,
    clients: Mutex<Vec<PooledClient>>,
}

/// No Debug of its own: the identity holds a private key.
struct PooledClient {
    /// Certificates and private key, PEM.
    identity: Option<(String, String)>,
    roots: Vec<String>,
    client: Client,
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient").field("identity", &self.identity.is_some()).finish_non_exhaustive()
    }
}

impl ClientPool {
    pub fn new(timeout: Duration) -> ClientPool {
        ClientPool { timeout, clients: Mutex::new(Vec::new()) }
    }

    /// The client presenting `identity` (none for a plain client) and trusting `roots` besides
    /// the system's roots.
    pub fn client(
        &self,
        identity: Option<TlsIdentity<'_>>,
        roots: Option<&TrustedRoots>,
    ) -> Result<Client, ClientError> {
        let roots: &[String] = roots.map_or(&[], |r| &r.0);
        let identity_pem = identity.map(|i| (i.certificates, i.private_key));
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let same = |c: &&PooledClient| {
            c.identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())) == identity_pem && c.roots == roots
        };
        if let Some(pooled) = clients.iter().find(same) {
            return Ok(pooled.client.clone());
        }
        let mut builder =
            Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(self.timeout).no_proxy();
        if let Some(identity) = identity {
            let pem = format!("{}\n{}", identity.certificates.trim_end(), identity.private_key);
            let identity =
                reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| ClientError::Identity(root_cause(&e)))?;
            builder = builder.identity(identity);
        }
        if !roots.is_empty() {
            let mut certs = Vec::new();
            for pem in roots {
                certs.extend(
                    reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                        .map_err(|e| ClientError::Root(root_cause(&e)))?,
                );
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| ClientError::Build(root_cause(&e)))?;
        clients.push(PooledClient {
            identity: identity_pem.map(|(c, k)| (c.to_owned(), k.to_owned())),
            roots: roots.to_vec(),
            client: client.clone(),
        });
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
