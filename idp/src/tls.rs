//! HTTPS for the test providers, with optional client certificates as RFC 8705 needs them:
//! any certificate is accepted at the handshake (node's `requestCert: true,
//! rejectUnauthorized: false`), and each connection records what was presented and whether it
//! chains to the test CA. Handlers read that as the [`TlsPeer`] request extension and decide,
//! so a rejection can name its cause instead of failing the handshake.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::pki::{DistinguishedName as Dn, PkiError, TestPki, x5t_s256};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("the server certificate or key is not usable PEM ({0})")]
    ServerIdentity(String),
    #[error("a client CA certificate is not usable ({0})")]
    ClientCa(String),
    #[error("the TLS configuration could not be built ({0})")]
    Config(String),
}

/// The TLS side of a test provider: its certificate, and the CAs client certificates should
/// chain to.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    trust: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The PKI's server certificate, trusting client certificates from its CA.
    pub fn from_pki(pki: &TestPki) -> Result<ServerTls, TlsError> {
        ServerTls::new(pki.server().cert_pem(), pki.server().key_pem(), &[pki.ca_pem()])
    }

    /// A server presenting `cert_chain_pem`, trusting client certificates issued by `client_cas`.
    pub fn new(cert_chain_pem: &str, key_pem: &str, client_cas: &[&str]) -> Result<ServerTls, TlsError> {
        // An explicit provider: with two rustls providers compiled in, the process default
        // cannot be picked automatically.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::ServerIdentity(e.to_string()))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::ServerIdentity(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for pem in client_cas {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| TlsError::ClientCa(e.to_string()))?;
                roots.add(cert).map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
        }
        let trust = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::ClientCa(e.to_string()))?;
        let verifier = Arc::new(AnyClientCertificate { inner: trust.clone() });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::ServerIdentity(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls { config: Arc::new(config), trust })
    }

    /// What a connection's client presented, judged against the trusted CAs.
    fn peer(&self, chain: Option<&[CertificateDer<'static>]>) -> TlsPeer {
        let Some((end_entity, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return TlsPeer::default();
        };
        let trust = self
            .trust
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string());
        TlsPeer {
            certificate: Some(Arc::new(PeerCertificate {
                der: end_entity.to_vec(),
                chain: intermediates.iter().map(|c| c.to_vec()).collect(),
                trust,
            })),
        }
    }
}

/// Requests a certificate, accepts any (or none), and still checks the handshake signature,
/// so a presented certificate is one the client holds the key of.
#[derive(Debug)]
struct AnyClientCertificate {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No CA hints: a client with a self-signed certificate must still send it.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client certificate of the connection a request came on (a request extension on HTTPS
/// servers; plain-HTTP servers do not set it).
#[derive(Clone, Debug, Default)]
pub struct TlsPeer {
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// A certificate a client presented, and whether it chains to a trusted CA.
#[derive(Debug)]
pub struct PeerCertificate {
    /// The end-entity certificate.
    pub der: Vec<u8>,
    /// Any intermediates sent after it.
    pub chain: Vec<Vec<u8>>,
    /// `Err` holds why the certificate does not chain to a trusted CA.
    pub trust: Result<(), String>,
}

impl PeerCertificate {
    pub fn x5t_s256(&self) -> String {
        x5t_s256(&self.der)
    }

    pub fn subject(&self) -> Result<Dn, PkiError> {
        Dn::of_certificate(&self.der)
    }

    pub fn is_trusted(&self) -> bool {
        self.trust.is_ok()
    }
}

/// Accepts connections until the task is aborted; aborting it also ends every open connection.
/// `handshakes` counts the TLS handshakes completed.
pub(super) async fn serve(listener: TcpListener, router: axum::Router, tls: ServerTls, handshakes: Arc<AtomicU64>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(tcp, acceptor.clone(), router.clone(), tls.clone(), handshakes.clone()));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
    tls: ServerTls,
    handshakes: Arc<AtomicU64>,
) {
    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    handshakes.fetch_add(1, Ordering::Relaxed);
    let peer = tls.peer(stream.get_ref().1.peer_certificates());
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        request
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .await;
}
