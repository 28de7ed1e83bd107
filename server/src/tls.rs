//! HTTPS for `ief serve`: a local certificate authority made once (its key stays in the
//! folder, readable by its owner only) and a server certificate it signs at every start for
//! localhost, 127.0.0.1, ::1 and the public URL's host. Applications trust the CA's PEM.
//! Its accept loop serves plain HTTP too, so both share the header limits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::ServerError;

const CA_NAME: &str = "ief serve local CA";

/// The server's TLS identity, issued by the local CA.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ServerConfig>,
    /// The CA certificate's file: what applications trust.
    pub ca_path: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("ca_path", &self.ca_path).finish_non_exhaustive()
    }
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

impl Tls {
    /// The CA in `dir` (made there the first time) and a fresh server certificate for `host`
    /// besides the loopback names.
    pub fn local(dir: &Path, host: &str) -> Result<Tls, ServerError> {
        let (issuer, ca_path) = load_or_create_ca(dir)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| tls_error("server key", e))?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
        let mut params = CertificateParams::new(names).map_err(|e| tls_error("server certificate", e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer).map_err(|e| tls_error("server certificate", e))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key =
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).map_err(|e| tls_error("server key", e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("TLS configuration", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls_error("TLS configuration", e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config), ca_path })
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "ief");
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// The CA of `dir`: `ca.pem` and `ca-key.pem`, made when absent. Certificates signed with the
/// kept key and the same name chain to the kept `ca.pem`.
fn load_or_create_ca(dir: &Path) -> Result<(Issuer<'static, KeyPair>, PathBuf), ServerError> {
    let cert_path = dir.join("ca.pem");
    let key_path = dir.join("ca-key.pem");
    if cert_path.exists() && key_path.exists() {
        let pem = std::fs::read_to_string(&key_path).map_err(|e| tls_error(&key_path.display().to_string(), e))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| tls_error(&key_path.display().to_string(), e))?;
        return Ok((Issuer::new(ca_params(), key), cert_path));
    }
    std::fs::create_dir_all(dir).map_err(|e| tls_error(&dir.display().to_string(), e))?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| tls_error("CA key", e))?;
    let cert = ca_params().self_signed(&key).map_err(|e| tls_error("CA certificate", e))?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| tls_error(&cert_path.display().to_string(), e))?;
    Ok((Issuer::new(ca_params(), key), cert_path))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let fail = |e: std::io::Error| tls_error(&path.display().to_string(), e);
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(contents).map_err(fail)
}

/// Accepts connections, over TLS when `tls` is given, until the task is aborted. Each speaks
/// HTTP/1.1 with its headers due within [`crate::HEADER_TIMEOUT`] (an idle connection's next
/// request too), so a client that sends nothing, or a byte at a time, is closed.
pub(crate) async fn serve(listener: TcpListener, router: axum::Router, tls: Option<&Tls>) {
    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config.clone()));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(tcp, acceptor.clone(), router.clone()));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(tcp: tokio::net::TcpStream, acceptor: Option<tokio_rustls::TlsAcceptor>, router: axum::Router) {
    let Some(acceptor) = acceptor else {
        return http1(tcp, router).await;
    };
    if let Ok(Ok(stream)) = tokio::time::timeout(crate::HEADER_TIMEOUT, acceptor.accept(tcp)).await {
        http1(stream, router).await;
    }
}

async fn http1<S>(stream: S, router: axum::Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(crate::HEADER_TIMEOUT)
        .max_buf_size(crate::MAX_HEADER_BYTES * 2)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
        .await;
}
