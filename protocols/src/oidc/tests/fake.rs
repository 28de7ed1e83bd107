//! A small OpenID provider for the handler's tests: discovery, JWKS, authorize, token and
//! userinfo on 127.0.0.1 (plain HTTP, or TLS that asks for a client certificate), with knobs
//! that make it misbehave. It records what it was sent, so tests assert on the wire.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::{CLIENT_ID, NOW};
use crate::keys::KeyStore;

/// An RSA key with its public JWK and kid.
pub(crate) struct RsaKey {
    pub(crate) pem: String,
    pub(crate) public_pem: String,
    pub(crate) kid: String,
    pub(crate) jwk: Value,
}

impl RsaKey {
    fn generate() -> RsaKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("an RSA key");
        let pem = pair.serialize_pem();
        let mut store = KeyStore::empty();
        store.insert_pem("k", &pem).expect("the key loads");
        let signing = store.signing_key("k").expect("an RSA key");
        RsaKey {
            public_pem: pair.public_key_pem(),
            kid: signing.kid().to_owned(),
            jwk: signing.public_jwk().clone(),
            pem,
        }
    }
}

/// A certificate and its key, PEM.
pub(crate) struct CertKey {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key_pem: String,
}

impl CertKey {
    pub(crate) fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

/// Keys made once per test binary (RSA generation is the slow part).
pub(crate) struct TestKeys {
    pub(crate) provider: RsaKey,
    /// Never published: a token signed with it names an unknown kid.
    pub(crate) unpublished: RsaKey,
    /// The relying party's private_key_jwt key, with a self-signed certificate (x5t).
    pub(crate) client: CertKey,
    pub(crate) ca_pem: String,
    pub(crate) server: CertKey,
    /// Client certificates for mutual TLS.
    pub(crate) client_a: CertKey,
    pub(crate) client_b: CertKey,
}

impl TestKeys {
    pub(crate) fn client_signing_pem(&self) -> String {
        self.client.identity_pem()
    }
}

pub(crate) fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "ief test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("server key");
        let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
        let server_cert = server_params.signed_by(&server_key, &issuer).expect("server certificate");
        let self_signed = |name: &str, rsa: bool| {
            let alg = if rsa { &rcgen::PKCS_RSA_SHA256 } else { &rcgen::PKCS_ECDSA_P256_SHA256 };
            let key = rcgen::KeyPair::generate_for(alg).expect("client key");
            let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("client params");
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            let cert = params.self_signed(&key).expect("client certificate");
            CertKey { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key_pem: key.serialize_pem() }
        };
        TestKeys {
            provider: RsaKey::generate(),
            unpublished: RsaKey::generate(),
            client: self_signed("rp.example", true),
            ca_pem: ca_cert.pem(),
            server: CertKey {
                cert_pem: server_cert.pem(),
                cert_der: server_cert.der().to_vec(),
                key_pem: server_key.serialize_pem(),
            },
            client_a: self_signed("client-a.example", false),
            client_b: self_signed("client-b.example", false),
        }
    })
}

/// How the id_token is signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Signing {
    #[default]
    Rs256,
    Rs512,
    Ps256,
    /// `alg: none`, empty signature.
    None,
    /// HS256 keyed with the provider's public key PEM (HS/RS confusion).
    Hs256WithPublicKey,
    /// A valid signature, then the payload changed.
    Tampered,
    /// Signed with a key the JWKS never lists.
    UnknownKey,
}

/// RFC 9207 `iss` in the authorization response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum IssParam {
    #[default]
    Correct,
    Omit,
    Value(String),
}

/// What the provider does wrong (or differently).
#[derive(Clone, Debug)]
pub(crate) struct Knobs {
    pub(crate) now: i64,
    pub(crate) signing: Signing,
    pub(crate) iss: Option<String>,
    pub(crate) aud: Option<Value>,
    pub(crate) lifetime: i64,
    pub(crate) nonce: Option<String>,
    pub(crate) iss_param: IssParam,
    pub(crate) advertise_iss_param: bool,
    pub(crate) wrong_at_hash: bool,
    pub(crate) authorize_error: Option<(String, String)>,
    /// Bind access tokens to this certificate instead of the caller's.
    pub(crate) bind_to: Option<Vec<u8>>,
    pub(crate) id_token_claims: Map<String, Value>,
    pub(crate) userinfo_claims: Map<String, Value>,
    /// Publish the signing key without its `alg` (so it may verify other RSA algorithms).
    pub(crate) jwk_without_alg: bool,
    /// The token endpoint answers this status with a `temporarily_unavailable` error body.
    pub(crate) token_status: Option<u16>,
    /// The token endpoint answers 200 with this JSON text instead of tokens.
    pub(crate) token_body: Option<&'static str>,
    /// The front-channel id_token of `code id_token`: its c_hash and its subject.
    pub(crate) c_hash: CHash,
    pub(crate) front_sub: Option<String>,
    /// Discovery says `{base}/{tenantid}/v2.0`, as Microsoft Entra's `common` endpoint does.
    pub(crate) issuer_template: bool,
    /// The issuer a tenant's own discovery document (`/{tenant}/v2.0/...`) names.
    pub(crate) tenant_doc_issuer: Option<String>,
}

/// The c_hash of a front-channel id_token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CHash {
    #[default]
    Correct,
    Wrong,
    Omit,
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            now: NOW,
            signing: Signing::default(),
            iss: None,
            aud: None,
            lifetime: 600,
            nonce: None,
            iss_param: IssParam::default(),
            advertise_iss_param: false,
            wrong_at_hash: false,
            authorize_error: None,
            bind_to: None,
            id_token_claims: Map::new(),
            userinfo_claims: Map::new(),
            jwk_without_alg: false,
            token_status: None,
            token_body: None,
            c_hash: CHash::default(),
            front_sub: None,
            issuer_template: false,
            tenant_doc_issuer: None,
        }
    }
}

/// One request as the provider saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) authorization: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) client_cert: Option<Vec<u8>>,
}

impl Seen {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        super::param(&self.params, name)
    }
}

struct Grant {
    nonce: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    used: bool,
}

#[derive(Default)]
pub(crate) struct Hits {
    pub(crate) discovery: AtomicUsize,
    pub(crate) jwks: AtomicUsize,
    pub(crate) token: AtomicUsize,
    pub(crate) userinfo: AtomicUsize,
}

struct Shared {
    base: String,
    knobs: Mutex<Knobs>,
    hits: Hits,
    counter: AtomicUsize,
    grants: Mutex<HashMap<String, Grant>>,
    /// access token → the certificate it is bound to.
    tokens: Mutex<HashMap<String, Option<Vec<u8>>>>,
    token_requests: Mutex<Vec<Seen>>,
    userinfo_requests: Mutex<Vec<Seen>>,
}

/// The connection's client certificate, if any.
#[derive(Clone, Debug)]
struct Peer {
    cert: Option<Vec<u8>>,
}

impl Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(_: axum::serve::IncomingStream<'_, TcpListener>) -> Peer {
        Peer { cert: None }
    }
}

impl Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Peer {
        stream.remote_addr().clone()
    }
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Peer) {
        loop {
            let Ok((tcp, _)) = self.tcp.accept().await else { continue };
            // A client that refuses our certificate just drops the handshake.
            let handshake = tokio::time::timeout(std::time::Duration::from_secs(5), self.acceptor.accept(tcp));
            if let Ok(Ok(tls)) = handshake.await {
                let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                return (tls, Peer { cert });
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer { cert: None })
    }
}

/// Accepts any client certificate the client can prove it holds (self-signed included); the
/// provider decides what a certificate means per request.
#[derive(Debug)]
struct AnyClientCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The running provider; it stops when dropped.
pub(crate) struct Fake {
    shared: Arc<Shared>,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Over plain HTTP.
    pub(crate) async fn start(knobs: Knobs) -> Fake {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = tcp.local_addr().expect("an address");
        let shared = Fake::shared(format!("http://{addr}"), knobs);
        let app = router(Arc::clone(&shared)).into_make_service_with_connect_info::<Peer>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        Fake { shared, tls: false, task }
    }

    /// Over TLS with the test CA's server certificate, asking for (not requiring) a client
    /// certificate.
    pub(crate) async fn start_tls(knobs: Knobs) -> Fake {
        let keys = test_keys();
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr: SocketAddr = tcp.local_addr().expect("an address");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = vec![rustls::pki_types::CertificateDer::from(keys.server.cert_der.clone())];
        let key = <rustls::pki_types::PrivateKeyDer<'static> as rustls::pki_types::pem::PemObject>::from_pem_slice(
            keys.server.key_pem.as_bytes(),
        )
        .expect("the server key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(Arc::new(AnyClientCertificate(provider)))
            .with_single_cert(chain, key)
            .expect("the server certificate");
        let listener = TlsListener { tcp, acceptor: TlsAcceptor::from(Arc::new(config)) };
        let shared = Fake::shared(format!("https://{addr}"), knobs);
        let app = router(Arc::clone(&shared)).into_make_service_with_connect_info::<Peer>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { shared, tls: true, task }
    }

    fn shared(base: String, knobs: Knobs) -> Arc<Shared> {
        Arc::new(Shared {
            base,
            knobs: Mutex::new(knobs),
            hits: Hits::default(),
            counter: AtomicUsize::new(0),
            grants: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_requests: Mutex::new(Vec::new()),
            userinfo_requests: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.shared.base
    }

    pub(crate) fn issuer(&self) -> String {
        self.shared.base.clone()
    }

    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.base)
    }

    pub(crate) fn knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.shared.knobs.lock().expect("knobs"));
    }

    pub(crate) fn hits(&self) -> &Hits {
        &self.shared.hits
    }

    pub(crate) fn token_requests(&self) -> Vec<Seen> {
        self.shared.token_requests.lock().expect("requests").clone()
    }

    pub(crate) fn userinfo_requests(&self) -> Vec<Seen> {
        self.shared.userinfo_requests.lock().expect("requests").clone()
    }

    /// The usual profile: METADATA, client_id, client_secret_post, userinfo, plus `extra`
    /// (which replaces items of the same key; an empty value removes one).
    pub(crate) fn policy(&self, extra: &[(&str, &str)]) -> ief_engine::model::Policy {
        let metadata_url = self.metadata_url();
        let userinfo = format!("{}/userinfo", self.base());
        let mut items: Vec<(&str, &str)> =
            vec![("METADATA", &metadata_url), ("client_id", CLIENT_ID), ("ClaimsEndpoint", &userinfo)];
        for (k, v) in extra {
            items.retain(|(key, _)| key != k);
            if !v.is_empty() {
                items.push((k, v));
            }
        }
        let keys = [
            ("client_secret", "B2C_1A_Secret"),
            ("assertion_signing_key", "B2C_1A_Assertion"),
            ("ClientCertificate", "B2C_1A_ClientCert"),
        ];
        let inputs =
            r#"<InputClaim ClaimTypeReferenceId="login_hint"/><InputClaim ClaimTypeReferenceId="domain_hint"/>"#;
        super::profile_policy(&items, &keys, inputs)
    }

    /// Plays the browser at the authorization endpoint: returns the callback's parameters,
    /// from the redirect's query or the form_post page.
    pub(crate) async fn follow(&self, url: &str) -> Vec<(String, String)> {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy();
        if self.tls {
            builder = builder
                .tls_certs_merge(reqwest::Certificate::from_pem_bundle(test_keys().ca_pem.as_bytes()).expect("CA"));
        }
        follow_with(&builder.build().expect("a client"), url).await
    }
}

/// The callback parameters a provider answers `url` with: a redirect's query or a form_post
/// page's fields. `client` must not follow redirects.
pub(crate) async fn follow_with(client: &reqwest::Client, url: &str) -> Vec<(String, String)> {
    let response = client.get(url).send().await.expect("the authorization endpoint answers");
    if response.status().is_redirection() {
        let location = response.headers()["location"].to_str().expect("a location").to_owned();
        return super::query_of(&location);
    }
    assert_eq!(response.status(), StatusCode::OK);
    ief_testkit::authorize::form_post(&response.text().await.expect("a page")).1
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(tenant_discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", get(token).post(token))
        .route("/mtls/token", get(token).post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/mtls/userinfo", get(userinfo).post(userinfo))
        .with_state(shared)
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let knobs = s.knobs.lock().expect("knobs").clone();
    let issuer = if knobs.issuer_template { format!("{}/{{tenantid}}/v2.0", s.base) } else { s.base.clone() };
    discovery_document(&s, &issuer)
}

/// A tenant's own document, as `DiscoverMetadataByTokenIssuer` finds it.
async fn tenant_discovery(State(s): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    let knobs = s.knobs.lock().expect("knobs").clone();
    let issuer = knobs.tenant_doc_issuer.unwrap_or_else(|| format!("{}/{tenant}/v2.0", s.base));
    discovery_document(&s, &issuer)
}

fn discovery_document(s: &Shared, issuer: &str) -> Response {
    s.hits.discovery.fetch_add(1, Ordering::SeqCst);
    let base = &s.base;
    let advertise = s.knobs.lock().expect("knobs").advertise_iss_param;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code", "id_token", "code id_token"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "RS512", "PS256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_post", "client_secret_basic", "private_key_jwt",
            "tls_client_auth", "self_signed_tls_client_auth"
        ],
        "code_challenge_methods_supported": ["S256"],
        "mtls_endpoint_aliases": {
            "token_endpoint": format!("{base}/mtls/token"),
            "userinfo_endpoint": format!("{base}/mtls/userinfo")
        },
        "authorization_response_iss_parameter_supported": advertise
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.hits.jwks.fetch_add(1, Ordering::SeqCst);
    let mut signing = test_keys().provider.jwk.clone();
    if s.knobs.lock().expect("knobs").jwk_without_alg
        && let Some(map) = signing.as_object_mut()
    {
        map.remove("alg");
    }
    // An encryption key and a key of an unknown type sit beside the signing key, as in real sets.
    axum::Json(json!({"keys": [
        signing,
        {"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X448", "kid": "odd-1", "x": "AAAA"}
    ]}))
    .into_response()
}

fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn authorize(State(s): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let params = parse_query(raw.as_deref());
    let p = |name: &str| super::param(&params, name).unwrap_or_default().to_owned();
    if p("client_id") != CLIENT_ID {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let knobs = s.knobs.lock().expect("knobs").clone();
    let redirect_uri = p("redirect_uri");
    let mut fields = vec![("state".to_owned(), p("state"))];
    match &knobs.authorize_error {
        Some((error, description)) => {
            fields.push(("error".to_owned(), error.clone()));
            fields.push(("error_description".to_owned(), description.clone()));
        }
        None => {
            let response_type = p("response_type");
            let mut issued_code = None;
            if response_type.split(' ').any(|t| t == "code") {
                let code = format!("code-{}", s.counter.fetch_add(1, Ordering::SeqCst));
                issued_code = Some(code.clone());
                let challenge = Some(p("code_challenge")).filter(|c| !c.is_empty());
                let grant = Grant {
                    nonce: p("nonce"),
                    redirect_uri: redirect_uri.clone(),
                    code_challenge: challenge,
                    used: false,
                };
                s.grants.lock().expect("grants").insert(code.clone(), grant);
                fields.push(("code".to_owned(), code));
            }
            if response_type.split(' ').any(|t| t == "id_token") {
                let token = id_token(&s, &knobs, &p("nonce"), None, issued_code.as_deref());
                fields.push(("id_token".to_owned(), token));
            }
        }
    }
    match &knobs.iss_param {
        IssParam::Correct => fields.push(("iss".to_owned(), s.base.clone())),
        IssParam::Value(v) => fields.push(("iss".to_owned(), v.clone())),
        IssParam::Omit => {}
    }
    if p("response_mode") == "query" {
        let mut url = reqwest::Url::parse(&redirect_uri).expect("a redirect URI");
        url.query_pairs_mut().extend_pairs(&fields);
        return Redirect::to(url.as_str()).into_response();
    }
    Html(ief_idp::form_post_page(&redirect_uri, &fields)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    s.hits.token.fetch_add(1, Ordering::SeqCst);
    let params = if method == Method::GET { parse_query(uri.query()) } else { parse_query(Some(&body)) };
    let seen = Seen {
        path: uri.path().to_owned(),
        method: method.to_string(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        params: params.clone(),
        client_cert: peer.cert.clone(),
    };
    s.token_requests.lock().expect("requests").push(seen);
    let p = |name: &str| super::param(&params, name).unwrap_or_default().to_owned();
    if p("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only authorization_code");
    }
    let knobs = s.knobs.lock().expect("knobs").clone();
    if let Some(status) = knobs.token_status {
        let status = StatusCode::from_u16(status).expect("a status");
        return oauth_error(status, "temporarily_unavailable", "the provider is down for maintenance");
    }
    if let Some(body) = knobs.token_body {
        return ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let nonce = {
        let mut grants = s.grants.lock().expect("grants");
        let Some(grant) = grants.get_mut(&p("code")) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown authorization code");
        };
        if grant.used {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the authorization code was already used");
        }
        grant.used = true;
        if grant.redirect_uri != p("redirect_uri") {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri mismatch");
        }
        if let Some(challenge) = &grant.code_challenge {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(p("code_verifier").as_bytes()));
            if &computed != challenge {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
            }
        }
        grant.nonce.clone()
    };
    let access_token = format!("at-{}", s.counter.fetch_add(1, Ordering::SeqCst));
    let bound = knobs.bind_to.clone().or(peer.cert);
    s.tokens.lock().expect("tokens").insert(access_token.clone(), bound);
    let id_token = id_token(&s, &knobs, &nonce, Some(&access_token), None);
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
        "id_token": id_token
    }))
    .into_response()
}

async fn userinfo(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    s.hits.userinfo.fetch_add(1, Ordering::SeqCst);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    s.userinfo_requests.lock().expect("requests").push(Seen {
        path: uri.path().to_owned(),
        method: method.to_string(),
        authorization: authorization.clone(),
        params: Vec::new(),
        client_cert: peer.cert.clone(),
    });
    let token = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    let bound = s.tokens.lock().expect("tokens").get(token).cloned();
    let challenge = |description: &str| {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        let value = format!(r#"Bearer error="invalid_token", error_description="{description}""#);
        response.headers_mut().insert("www-authenticate", value.parse().expect("a header value"));
        response
    };
    match bound {
        None => return challenge("unknown access token"),
        Some(Some(cert)) if peer.cert.as_ref() != Some(&cert) => {
            return challenge("the access token is bound to another client certificate");
        }
        Some(_) => {}
    }
    let knobs = s.knobs.lock().expect("knobs").clone();
    let mut claims = json!({"sub": "alice", "name": "Alice from userinfo", "locale": "en-GB"});
    for (k, v) in knobs.userinfo_claims {
        claims[k] = v;
    }
    axum::Json(claims).into_response()
}

/// An id_token; `code` makes it the front-channel token of `code id_token`.
fn id_token(s: &Shared, knobs: &Knobs, nonce: &str, access_token: Option<&str>, code: Option<&str>) -> String {
    let keys = test_keys();
    let now = knobs.now;
    let mut claims = json!({
        "iss": knobs.iss.clone().unwrap_or_else(|| s.base.clone()),
        "sub": "alice",
        "aud": knobs.aud.clone().unwrap_or_else(|| json!(CLIENT_ID)),
        "exp": now + knobs.lifetime,
        "iat": now,
        "nonce": knobs.nonce.clone().unwrap_or_else(|| nonce.to_owned()),
        "name": "Alice from id_token",
        "email": "alice@idp.example",
        "email_verified": true,
        "groups": ["staff", "admins"],
    });
    if let Some(at) = access_token {
        let hash = Sha256::digest(at.as_bytes());
        let mut at_hash = URL_SAFE_NO_PAD.encode(&hash[..16]);
        if knobs.wrong_at_hash {
            at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(b"another token")[..16]);
        }
        // SHA-256 matches RS256 and PS256; RS512 tokens carry a SHA-512 hash instead.
        if !matches!(knobs.signing, Signing::Rs512) {
            claims["at_hash"] = json!(at_hash);
        }
    }
    if let Some(code) = code {
        let hashed = if knobs.c_hash == CHash::Wrong { "another code" } else { code };
        if knobs.c_hash != CHash::Omit {
            claims["c_hash"] = json!(URL_SAFE_NO_PAD.encode(&Sha256::digest(hashed.as_bytes())[..16]));
        }
        if let Some(sub) = &knobs.front_sub {
            claims["sub"] = json!(sub);
        }
    }
    for (k, v) in &knobs.id_token_claims {
        claims[k] = v.clone();
    }
    let sign = |alg: Algorithm, key: &RsaKey| {
        let mut header = Header::new(alg);
        header.kid = Some(key.kid.clone());
        let encoding = EncodingKey::from_rsa_pem(key.pem.as_bytes()).expect("the provider key");
        jsonwebtoken::encode(&header, &claims, &encoding).expect("signed")
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    match knobs.signing {
        Signing::Rs256 => sign(Algorithm::RS256, &keys.provider),
        Signing::Rs512 => sign(Algorithm::RS512, &keys.provider),
        Signing::Ps256 => sign(Algorithm::PS256, &keys.provider),
        Signing::UnknownKey => sign(Algorithm::RS256, &keys.unpublished),
        Signing::None => format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims)),
        Signing::Hs256WithPublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(keys.provider.kid.clone());
            let key = EncodingKey::from_secret(keys.provider.public_pem.as_bytes());
            jsonwebtoken::encode(&header, &claims, &key).expect("signed")
        }
        Signing::Tampered => {
            let token = sign(Algorithm::RS256, &keys.provider);
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            let mut payload = claims.clone();
            payload["sub"] = json!("mallory");
            parts[1] = b64(&payload);
            parts.join(".")
        }
    }
}
