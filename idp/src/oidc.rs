//! An OpenID provider for tests, the demo and `ief idp serve`: discovery, JWKS, an authorize
//! endpoint with a login form (or an auto-login user), a token endpoint that really verifies
//! the five client authentication methods, and userinfo with certificate-bound tokens
//! (RFC 8705). Unlike most providers it says why it refused a client.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client_auth::{
    self, Algorithms, AssertionKey, AssertionRules, BasicCredentials, JtiLedger, basic_credentials, check_secret,
    unverified_issuer, verify_assertion,
};
use super::pki::{self, DistinguishedName, PkiError, TestPki};
use super::tls::{PeerCertificate, ServerTls, TlsError, TlsPeer};
use super::{
    Clock, OAuthError, Params, Served, TestUser, default_token_lifetime, error_page, form_post_page, is_form,
    login_page, random_token, system_clock, time_text,
};
use ief_protocols::federation::client_auth::{JWT_BEARER, Method};
use ief_protocols::keys::{KeyStore, SigningKey};

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Claims a provider never takes from a user's configured claims: it sets them itself.
const RESERVED_CLAIMS: &[&str] = &["iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "azp", "jti"];

/// A user's configured claims, without the [`RESERVED_CLAIMS`].
fn released(claims: &Map<String, Value>) -> Map<String, Value> {
    claims.iter().filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("client '{client_id}': {reason}")]
    Client { client_id: String, reason: String },
    #[error("auto_login names '{0}', who is not one of the users")]
    AutoLogin(String),
    #[error("the provider's signing key is not usable: {0}")]
    SigningKey(String),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on 127.0.0.1:{port}: {reason}")]
    Listen { port: u16, reason: String },
}

fn default_code_lifetime() -> i64 {
    60
}

/// What the provider knows: users, clients, and how it signs users in. Deserializes from YAML
/// (`ief idp serve --config`); the clock is set from Rust (deterministic runs share theirs).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(default)]
    pub users: Vec<TestUser>,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Sign this user in at `/authorize` without showing the login form.
    #[serde(default)]
    pub auto_login: Option<String>,
    /// The provider's RSA signing key (PEM); a fresh one when absent.
    #[serde(default)]
    pub signing_key_pem: Option<String>,
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime_secs: i64,
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: i64,
    /// CAs (PEM) that `tls_client_auth` certificates may chain to, besides the test CA.
    #[serde(default)]
    pub client_ca_pems: Vec<String>,
    /// Issued-at and expiry times of codes, tokens, and checks of client assertions.
    #[serde(skip, default = "system_clock")]
    pub clock: Clock,
}

impl Default for OidcConfig {
    fn default() -> OidcConfig {
        OidcConfig {
            users: Vec::new(),
            clients: Vec::new(),
            auto_login: None,
            signing_key_pem: None,
            code_lifetime_secs: default_code_lifetime(),
            token_lifetime_secs: default_token_lifetime(),
            client_ca_pems: Vec::new(),
            clock: system_clock(),
        }
    }
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("users", &self.users.iter().map(|u| &u.username).collect::<Vec<_>>())
            .field("clients", &self.clients)
            .field("auto_login", &self.auto_login)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    pub fn user(mut self, user: TestUser) -> OidcConfig {
        self.users.push(user);
        self
    }

    pub fn client(mut self, client: ClientConfig) -> OidcConfig {
        self.clients.push(client);
        self
    }

    pub fn auto_login(mut self, username: impl Into<String>) -> OidcConfig {
        self.auto_login = Some(username.into());
        self
    }

    pub fn clock(mut self, clock: Clock) -> OidcConfig {
        self.clock = clock;
        self
    }
}

fn default_method() -> Method {
    Method::ClientSecretBasic
}

fn method<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
    let text = String::deserialize(d)?;
    Method::parse(&text).ok_or_else(|| {
        let known: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        serde::de::Error::custom(format!("'{text}' is not one of {}", known.join(", ")))
    })
}

/// A registered client, in RFC 7591 metadata names.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// Default `client_secret_basic`, as in OpenID Connect Dynamic Client Registration.
    #[serde(default = "default_method", deserialize_with = "method")]
    pub token_endpoint_auth_method: Method,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `private_key_jwt`: the public keys, a JWK set or one JWK.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// `private_key_jwt`: a public key or certificate, PEM (besides or instead of `jwks`).
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// `private_key_jwt`: RS256 (default) or RS512; an assertion must use exactly this one.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// `tls_client_auth`: the certificate subject, RFC 4514.
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    /// `self_signed_tls_client_auth`: the certificates (PEM) the client may present.
    #[serde(default)]
    pub self_signed_certificates: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Bind access tokens to the certificate presented at the token endpoint (RFC 8705 §3).
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("token_endpoint_auth_method", &self.token_endpoint_auth_method)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    fn with_method(client_id: impl Into<String>, method: Method) -> ClientConfig {
        ClientConfig {
            client_id: client_id.into(),
            token_endpoint_auth_method: method,
            client_secret: None,
            jwks: None,
            public_key_pem: None,
            token_endpoint_auth_signing_alg: None,
            tls_client_auth_subject_dn: None,
            self_signed_certificates: Vec::new(),
            redirect_uris: Vec::new(),
            tls_client_certificate_bound_access_tokens: false,
        }
    }

    pub fn client_secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> ClientConfig {
        ClientConfig { client_secret: Some(secret.into()), ..Self::with_method(client_id, Method::ClientSecretPost) }
    }

    pub fn client_secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> ClientConfig {
        ClientConfig { client_secret: Some(secret.into()), ..Self::with_method(client_id, Method::ClientSecretBasic) }
    }

    /// `public_jwk`: one public JWK (as `KeyStore::signing_key(..).public_jwk()`) or a JWK set.
    pub fn private_key_jwt(client_id: impl Into<String>, public_jwk: Value) -> ClientConfig {
        ClientConfig { jwks: Some(public_jwk), ..Self::with_method(client_id, Method::PrivateKeyJwt) }
    }

    /// `subject_dn`: the RFC 4514 subject of the certificate the client must present.
    pub fn tls_client_auth(client_id: impl Into<String>, subject_dn: impl Into<String>) -> ClientConfig {
        ClientConfig {
            tls_client_auth_subject_dn: Some(subject_dn.into()),
            ..Self::with_method(client_id, Method::TlsClientAuth)
        }
    }

    /// `certificate_pem`: the certificate the client presents (the first of a chain counts).
    pub fn self_signed_tls_client_auth(
        client_id: impl Into<String>,
        certificate_pem: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig {
            self_signed_certificates: vec![certificate_pem.into()],
            ..Self::with_method(client_id, Method::SelfSignedTlsClientAuth)
        }
    }

    pub fn redirect_uri(mut self, uri: impl Into<String>) -> ClientConfig {
        self.redirect_uris.push(uri.into());
        self
    }

    /// RS256 or RS512, for `private_key_jwt`.
    pub fn signing_alg(mut self, alg: impl Into<String>) -> ClientConfig {
        self.token_endpoint_auth_signing_alg = Some(alg.into());
        self
    }

    pub fn certificate_bound(mut self) -> ClientConfig {
        self.tls_client_certificate_bound_access_tokens = true;
        self
    }

    /// Checks the registration and prepares its keys.
    fn resolve(&self) -> Result<Client, OidcError> {
        let fail = |reason: String| OidcError::Client { client_id: self.client_id.clone(), reason };
        if self.client_id.trim().is_empty() {
            return Err(fail("the client_id is empty".to_owned()));
        }
        if self.redirect_uris.is_empty() {
            return Err(fail("no redirect_uris are registered".to_owned()));
        }
        let method = self.token_endpoint_auth_method;
        let mut client = Client {
            id: self.client_id.clone(),
            method,
            secret: None,
            keys: Vec::new(),
            alg: Algorithm::RS256,
            subject_dn: None,
            self_signed: Vec::new(),
            redirect_uris: self.redirect_uris.clone(),
            certificate_bound: self.tls_client_certificate_bound_access_tokens,
        };
        match method {
            Method::ClientSecretPost | Method::ClientSecretBasic => {
                let secret = self.client_secret.clone().filter(|s| !s.is_empty());
                client.secret = Some(secret.ok_or_else(|| fail(format!("{} needs a client_secret", method.as_str())))?);
            }
            Method::PrivateKeyJwt => {
                client.alg = match self.token_endpoint_auth_signing_alg.as_deref().map(str::trim) {
                    None | Some("RS256") => Algorithm::RS256,
                    Some("RS512") => Algorithm::RS512,
                    Some(other) => {
                        return Err(fail(format!("token_endpoint_auth_signing_alg '{other}' is not RS256 or RS512")));
                    }
                };
                if let Some(jwks) = &self.jwks {
                    client.keys.extend(client_auth::jwk_keys(jwks, "jwks").map_err(fail)?);
                }
                if let Some(pem) = &self.public_key_pem {
                    client.keys.push(client_auth::pem_key(pem, "public_key_pem").map_err(fail)?);
                }
                if client.keys.is_empty() {
                    return Err(fail("private_key_jwt needs jwks or public_key_pem".to_owned()));
                }
            }
            Method::TlsClientAuth => {
                let dn = self
                    .tls_client_auth_subject_dn
                    .as_deref()
                    .ok_or_else(|| fail("tls_client_auth needs tls_client_auth_subject_dn".to_owned()))?;
                client.subject_dn = Some(DistinguishedName::parse(dn).map_err(|e| fail(e.to_string()))?);
            }
            Method::SelfSignedTlsClientAuth => {
                for pem in &self.self_signed_certificates {
                    let der = pki::certificate_der(pem).map_err(|e| fail(format!("self_signed_certificates: {e}")))?;
                    client.self_signed.push(pki::x5t_s256(&der));
                }
                if client.self_signed.is_empty() {
                    return Err(fail("self_signed_tls_client_auth needs self_signed_certificates".to_owned()));
                }
            }
        }
        Ok(client)
    }
}

/// A registration, checked and ready to verify against.
struct Client {
    id: String,
    method: Method,
    secret: Option<String>,
    keys: Vec<AssertionKey>,
    alg: Algorithm,
    subject_dn: Option<DistinguishedName>,
    /// `x5t#S256` of each registered self-signed certificate.
    self_signed: Vec<String>,
    redirect_uris: Vec<String>,
    certificate_bound: bool,
}

impl Client {
    fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or_default()
    }
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    /// The signed-in user, shared with the provider's list: their `sub` and claims.
    user: Arc<TestUser>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    scope: String,
    auth_time: i64,
    expires_at: i64,
}

struct AccessGrant {
    client_id: String,
    user: Arc<TestUser>,
    expires_at: i64,
    /// `cnf.x5t#S256` of a certificate-bound token.
    certificate: Option<String>,
}

#[derive(Default)]
struct Sessions {
    codes: HashMap<String, CodeGrant>,
    /// Redeemed codes: when to forget them, and the tokens they gave (revoked on a replay).
    redeemed: HashMap<String, (i64, Vec<String>)>,
    tokens: HashMap<String, AccessGrant>,
    /// The last [`MAX_USERINFO_ANSWERS`] userinfo answers, oldest first.
    userinfo_answers: VecDeque<UserinfoAnswer>,
    /// The clock second of the last prune.
    pruned_at: Option<i64>,
}

/// How many userinfo answers [`OidcProvider::userinfo_answers`] keeps.
const MAX_USERINFO_ANSWERS: usize = 100;

/// A userinfo request the provider answered: for which client, about whom, and over which
/// client certificate. Lets a test see that a relying party really called userinfo over
/// mutual TLS, which the claims alone cannot show (the id_token carries the same ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserinfoAnswer {
    pub client_id: String,
    pub subject: String,
    /// `x5t#S256` of the connection's client certificate, if one was presented.
    pub certificate: Option<String>,
}

impl Sessions {
    /// Once per clock second: a scan of every map per request made every sign-in slower than
    /// the last. Lookups check expiry themselves, so an entry kept until the next second is
    /// never honoured late.
    fn prune(&mut self, now: i64) {
        if self.pruned_at == Some(now) {
            return;
        }
        self.pruned_at = Some(now);
        // Expired codes linger a while, so a late redemption hears "expired", not "unknown".
        self.codes.retain(|_, c| c.expires_at + 300 > now);
        self.redeemed.retain(|_, (until, _)| *until > now);
        self.tokens.retain(|_, t| t.expires_at > now);
    }
}

struct Provider {
    issuer: String,
    /// `{issuer}/token`: a client assertion's audience.
    token_endpoint: String,
    users: Vec<Arc<TestUser>>,
    auto_login: Option<String>,
    clock: Clock,
    signing: SigningKey,
    code_lifetime: i64,
    token_lifetime: i64,
    clients: RwLock<BTreeMap<String, Arc<Client>>>,
    sessions: Mutex<Sessions>,
    jtis: JtiLedger,
}

/// A running provider; it stops when dropped.
pub struct OidcProvider {
    provider: Arc<Provider>,
    pki: Arc<TestPki>,
    served: Served,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider").field("issuer", &self.provider.issuer).finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// Starts on an ephemeral 127.0.0.1 port with a fresh test PKI.
    pub async fn start(config: OidcConfig) -> Result<OidcProvider, OidcError> {
        OidcProvider::start_with(config, Arc::new(TestPki::generate()?), 0).await
    }

    /// Starts on 127.0.0.1:`port` (0 = ephemeral), serving the PKI's server certificate and
    /// trusting client certificates from its CA.
    pub async fn start_with(config: OidcConfig, pki: Arc<TestPki>, port: u16) -> Result<OidcProvider, OidcError> {
        let mut clients = BTreeMap::new();
        for client in &config.clients {
            let resolved = client.resolve()?;
            if clients.insert(resolved.id.clone(), Arc::new(resolved)).is_some() {
                return Err(OidcError::Client {
                    client_id: client.client_id.clone(),
                    reason: "registered twice".to_owned(),
                });
            }
        }
        if let Some(name) = &config.auto_login
            && !config.users.iter().any(|u| &u.username == name)
        {
            return Err(OidcError::AutoLogin(name.clone()));
        }
        let signing_pem = match &config.signing_key_pem {
            Some(pem) => pem.clone(),
            None => pki::rsa_private_key_pem()?,
        };
        let mut keys = KeyStore::empty();
        keys.insert_pem("oidc-signing", &signing_pem).map_err(|e| OidcError::SigningKey(e.to_string()))?;
        let signing = keys.signing_key("oidc-signing").map_err(|e| OidcError::SigningKey(e.to_string()))?.clone();
        let mut client_cas = vec![pki.ca_pem()];
        client_cas.extend(config.client_ca_pems.iter().map(String::as_str));
        let tls = ServerTls::new(pki.server().cert_pem(), pki.server().key_pem(), &client_cas)?;
        let listener = Served::listen(port).await.map_err(|e| OidcError::Listen { port, reason: e.to_string() })?;
        let addr = listener.local_addr().map_err(|e| OidcError::Listen { port, reason: e.to_string() })?;
        let issuer = format!("https://{addr}");
        let provider = Arc::new(Provider {
            token_endpoint: format!("{issuer}/token"),
            issuer,
            users: config.users.into_iter().map(Arc::new).collect(),
            auto_login: config.auto_login,
            clock: config.clock,
            signing,
            code_lifetime: config.code_lifetime_secs,
            token_lifetime: config.token_lifetime_secs,
            clients: RwLock::new(clients),
            sessions: Mutex::new(Sessions::default()),
            jtis: JtiLedger::default(),
        });
        let served = Served::https(listener, router(provider.clone()), tls)
            .map_err(|e| OidcError::Listen { port, reason: e.to_string() })?;
        Ok(OidcProvider { provider, pki, served })
    }

    /// `https://127.0.0.1:PORT`, also the base of every endpoint.
    pub fn issuer(&self) -> &str {
        &self.provider.issuer
    }

    /// The URL of `path` (e.g. `/token`) at this provider.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.provider.issuer)
    }

    pub fn discovery_url(&self) -> String {
        self.url(DISCOVERY_PATH)
    }

    /// The CA a client must trust to call the provider (PEM).
    pub fn ca_pem(&self) -> &str {
        self.pki.ca_pem()
    }

    pub fn pki(&self) -> &Arc<TestPki> {
        &self.pki
    }

    pub fn served(&self) -> &Served {
        &self.served
    }

    /// Registers (or replaces) a client while running.
    pub fn register(&self, client: ClientConfig) -> Result<(), OidcError> {
        let resolved = Arc::new(client.resolve()?);
        self.provider.clients.write().unwrap_or_else(PoisonError::into_inner).insert(resolved.id.clone(), resolved);
        Ok(())
    }

    /// The userinfo requests answered so far, oldest first (the last 100).
    pub fn userinfo_answers(&self) -> Vec<UserinfoAnswer> {
        self.provider.sessions().userinfo_answers.iter().cloned().collect()
    }

    /// Registered client ids with their authentication methods, sorted by id.
    pub fn clients(&self) -> Vec<(String, Method)> {
        let clients = self.provider.clients.read().unwrap_or_else(PoisonError::into_inner);
        clients.values().map(|c| (c.id.clone(), c.method)).collect()
    }
}

fn router(provider: Arc<Provider>) -> Router {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route("/token", axum::routing::post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .with_state(provider)
}

// --- Discovery and keys ---

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let iss = &p.issuer;
    let mut claims: Vec<String> =
        ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce"].iter().map(|c| (*c).to_owned()).collect();
    for user in &p.users {
        for name in user.claims.keys() {
            if !claims.contains(name) {
                claims.push(name.clone());
            }
        }
    }
    let methods: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": p.token_endpoint,
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": claims,
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS512"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "tls_client_certificate_bound_access_tokens": true,
        // One server takes certificates optionally, so the aliases are the endpoints themselves.
        "mtls_endpoint_aliases": {
            "token_endpoint": p.token_endpoint,
            "userinfo_endpoint": format!("{iss}/userinfo"),
        },
    }))
    .into_response()
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    let mut key = p.signing.public_jwk().clone();
    if let Some(obj) = key.as_object_mut() {
        obj.insert("alg".into(), "RS256".into());
    }
    Json(json!({ "keys": [key] })).into_response()
}

// --- Authorization endpoint ---

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how an authorization response goes.
struct Target {
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

/// A validated authorization request.
struct AuthRequest {
    client_id: String,
    target: Target,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt: Option<String>,
}

enum AuthFailure {
    /// Shown to the user: without a registered redirect URI nothing may be sent back.
    Page(String),
    /// Sent back to the client (RFC 6749 §4.1.2.1).
    Redirect { target: Target, error: &'static str, description: String },
}

/// The request parameters a login form carries along.
const REQUEST_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "prompt",
];

impl Provider {
    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn validate(&self, params: &Params) -> Result<AuthRequest, AuthFailure> {
        let client_id = params.get("client_id").ok_or_else(|| AuthFailure::Page("client_id is missing".into()))?;
        let client = self
            .client(client_id)
            .ok_or_else(|| AuthFailure::Page(format!("client '{client_id}' is not registered")))?;
        let redirect_uri =
            params.get("redirect_uri").ok_or_else(|| AuthFailure::Page("redirect_uri is missing".into()))?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(AuthFailure::Page(format!(
                "redirect_uri '{redirect_uri}' is not registered for client '{client_id}' (registered: {})",
                client.redirect_uris.join(", ")
            )));
        }
        let mut target = Target {
            redirect_uri: redirect_uri.to_owned(),
            mode: ResponseMode::Query,
            state: params.get("state").map(str::to_owned),
        };
        let fail = |target, error, description: String| AuthFailure::Redirect { target, error, description };
        match params.get("response_mode") {
            None | Some("query") => {}
            Some("form_post") => target.mode = ResponseMode::FormPost,
            Some(other) => {
                return Err(fail(target, "invalid_request", format!("response_mode '{other}' is not supported")));
            }
        }
        if let Some(name) = params.repeated() {
            return Err(fail(target, "invalid_request", format!("the parameter '{name}' is repeated")));
        }
        match params.get("response_type") {
            Some("code") => {}
            Some(other) => {
                return Err(fail(
                    target,
                    "unsupported_response_type",
                    format!("response_type '{other}' is not supported (code only)"),
                ));
            }
            None => return Err(fail(target, "invalid_request", "response_type is missing".into())),
        }
        let scope = params.get("scope").unwrap_or_default();
        if !scope.split(' ').any(|s| s == "openid") {
            return Err(fail(target, "invalid_scope", format!("scope '{scope}' does not contain openid")));
        }
        let code_challenge = params.get("code_challenge");
        match (code_challenge, params.get("code_challenge_method")) {
            (None, None) => {}
            (Some(challenge), Some("S256")) => {
                let ok = challenge.len() == 43
                    && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(fail(
                        target,
                        "invalid_request",
                        "code_challenge is not a base64url SHA-256 (43 characters)".into(),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(fail(
                    target,
                    "invalid_request",
                    "code_challenge_method is missing; only S256 is supported".into(),
                ));
            }
            (Some(_), Some(method)) => {
                return Err(fail(
                    target,
                    "invalid_request",
                    format!("code_challenge_method '{method}' is not supported (S256 only)"),
                ));
            }
            (None, Some(_)) => {
                return Err(fail(target, "invalid_request", "code_challenge_method without a code_challenge".into()));
            }
        }
        Ok(AuthRequest {
            client_id: client.id.clone(),
            target,
            scope: scope.to_owned(),
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge: code_challenge.map(str::to_owned),
            prompt: params.get("prompt").map(str::to_owned),
        })
    }

    /// The authorization response, by redirect or by an auto-posting form.
    fn respond(&self, target: &Target, mut fields: Vec<(String, String)>) -> Response {
        if let Some(state) = &target.state {
            fields.push(("state".into(), state.clone()));
        }
        fields.push(("iss".into(), self.issuer.clone()));
        match target.mode {
            ResponseMode::FormPost => Html(form_post_page(&target.redirect_uri, &fields)).into_response(),
            ResponseMode::Query => {
                let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
                let separator = if target.redirect_uri.contains('?') { '&' } else { '?' };
                let location = format!("{}{separator}{query}", target.redirect_uri);
                match HeaderValue::from_str(&location) {
                    Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
                    Err(_) => {
                        error_page(StatusCode::BAD_REQUEST, "the redirect_uri cannot be put in a Location header")
                    }
                }
            }
        }
    }

    fn respond_error(&self, target: &Target, error: &str, description: &str) -> Response {
        self.respond(target, vec![("error".into(), error.into()), ("error_description".into(), description.into())])
    }

    fn fail(&self, failure: AuthFailure) -> Response {
        match failure {
            AuthFailure::Page(message) => error_page(StatusCode::BAD_REQUEST, &message),
            AuthFailure::Redirect { target, error, description } => self.respond_error(&target, error, &description),
        }
    }

    /// Signs `user` in: a code for the client.
    fn issue_code(&self, request: &AuthRequest, user: &Arc<TestUser>) -> Response {
        let Some(code) = random_token() else {
            return self.respond_error(&request.target, "server_error", "no randomness for a code");
        };
        let now = self.now();
        let grant = CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.target.redirect_uri.clone(),
            user: Arc::clone(user),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            scope: request.scope.clone(),
            auth_time: now,
            expires_at: now + self.code_lifetime,
        };
        let mut sessions = self.sessions();
        sessions.prune(now);
        sessions.codes.insert(code.clone(), grant);
        drop(sessions);
        self.respond(&request.target, vec![("code".into(), code)])
    }

    fn login_form(&self, params: &Params, error: Option<&str>) -> Response {
        let hidden: Vec<(String, String)> = REQUEST_PARAMS
            .iter()
            .filter_map(|name| params.get(name).map(|v| ((*name).to_owned(), v.to_owned())))
            .collect();
        Html(login_page("Sign in", &format!("{}/authorize", self.issuer), &hidden, error)).into_response()
    }
}

async fn authorize_get(State(p): State<Arc<Provider>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let params = Params::parse(query.as_bytes());
    let request = match p.validate(&params) {
        Ok(r) => r,
        Err(failure) => return p.fail(failure),
    };
    if let Some(user) = p.auto_login.as_ref().and_then(|name| p.users.iter().find(|u| &u.username == name)) {
        return p.issue_code(&request, user);
    }
    if request.prompt.as_deref().is_some_and(|prompt| prompt.split(' ').any(|v| v == "none")) {
        return p.respond_error(&request.target, "login_required", "prompt=none, but no user is signed in");
    }
    p.login_form(&params, None)
}

/// The login form's post: the request again (hidden fields), with `username` and `password`,
/// or `cancel`.
async fn authorize_post(State(p): State<Arc<Provider>>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    // Only the request's own parameters are validated; the credentials travel beside them.
    let params =
        Params(form.0.iter().filter(|(k, _)| REQUEST_PARAMS.contains(&k.as_ref())).cloned().collect::<Vec<_>>());
    let request = match p.validate(&params) {
        Ok(r) => r,
        Err(failure) => return p.fail(failure),
    };
    if form.get("cancel").is_some() {
        return p.respond_error(&request.target, "access_denied", "the user cancelled the sign-in");
    }
    let (username, password) = (form.get("username").unwrap_or_default(), form.get("password").unwrap_or_default());
    match TestUser::authenticate(&p.users, username, password) {
        Some(user) => p.issue_code(&request, user),
        None => p.login_form(&params, Some("The username or password is incorrect.")),
    }
}

// --- Token endpoint ---

/// A JSON answer of the token or userinfo endpoint, never cached.
fn answer<T: serde::Serialize>(result: Result<T, OAuthError>) -> Response {
    let e = match result {
        Ok(json) => return (no_store(), Json(json)).into_response(),
        Err(e) => e,
    };
    let body = Json(json!({ "error": e.error, "error_description": e.description }));
    let mut response = (e.status, no_store(), body).into_response();
    if let Some(value) = e.authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

fn peer_certificate(peer: Option<&Extension<TlsPeer>>) -> Option<Arc<PeerCertificate>> {
    peer.and_then(|Extension(p)| p.certificate.clone())
}

async fn token(
    State(p): State<Arc<Provider>>,
    peer: Option<Extension<TlsPeer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(p.token(&headers, &body, peer_certificate(peer.as_ref())))
}

struct Authenticated {
    client: Arc<Client>,
    certificate: Option<Arc<PeerCertificate>>,
}

impl Provider {
    fn token(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        certificate: Option<Arc<PeerCertificate>>,
    ) -> Result<Tokens, OAuthError> {
        if !is_form(headers) {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            return Err(OAuthError::invalid_request(format!(
                "the token request must be application/x-www-form-urlencoded, not '{content_type}'"
            )));
        }
        let form = Params::parse(body);
        if let Some(name) = form.repeated() {
            return Err(OAuthError::invalid_request(format!("the parameter '{name}' is repeated")));
        }
        match form.get("grant_type") {
            Some("authorization_code") => {}
            Some(other) => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "grant_type '{other}' is not supported (authorization_code only)"
                )));
            }
            None => return Err(OAuthError::invalid_request("grant_type is missing")),
        }
        let basic = basic_credentials(headers).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        let used_basic = basic.is_some();
        let auth = self.authenticate(basic, &form, certificate).map_err(|mut e| {
            // RFC 6749 §5.2: a failed Basic authentication answers with a challenge.
            if used_basic && e.error == "invalid_client" {
                e.authenticate = Some("Basic realm=\"ief\"".to_owned());
            }
            e
        })?;
        let grant = self.redeem(&auth.client, &form)?;
        let binding = if auth.client.certificate_bound {
            let certificate = auth.certificate.as_ref().ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "client '{}' is registered for certificate-bound access tokens, but presented no client certificate",
                    auth.client.id
                ))
            })?;
            Some(certificate.x5t_s256())
        } else {
            None
        };
        self.mint(&auth.client, grant, binding, form.get("code").unwrap_or_default())
    }

    fn authenticate(
        &self,
        basic: Option<BasicCredentials>,
        form: &Params,
        certificate: Option<Arc<PeerCertificate>>,
    ) -> Result<Authenticated, OAuthError> {
        let body_secret = form.get("client_secret");
        let assertion = form.get("client_assertion");
        let used: Vec<&str> = [
            basic.as_ref().map(|_| "an Authorization: Basic header"),
            body_secret.map(|_| "client_secret in the body"),
            assertion.map(|_| "a client_assertion"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if used.len() > 1 {
            return Err(OAuthError::invalid_request(format!(
                "the request uses more than one client authentication method ({})",
                used.join(", ")
            )));
        }
        let client_id = match (&basic, form.get("client_id")) {
            (Some(b), Some(id)) if id != b.id => {
                return Err(OAuthError::invalid_request(format!(
                    "client_id '{id}' differs from '{}' of the Authorization header",
                    b.id
                )));
            }
            (Some(b), _) => b.id.clone(),
            (None, Some(id)) => id.to_owned(),
            (None, None) => match assertion.and_then(unverified_issuer) {
                Some(id) => id,
                None => {
                    return Err(OAuthError::invalid_client(
                        "the request names no client (no client_id, Authorization header or client_assertion)",
                    ));
                }
            },
        };
        let client = self
            .client(&client_id)
            .ok_or_else(|| OAuthError::invalid_client(format!("unknown client '{client_id}'")))?;
        // Only a refusal names the registration.
        let registered = || format!("client '{}' is registered for {}", client.id, client.method.as_str());
        match client.method {
            Method::ClientSecretBasic => {
                let Some(basic) = basic else {
                    let sent = used.first().copied().unwrap_or("no Authorization: Basic header");
                    return Err(OAuthError::invalid_client(format!("{}, but sent {sent}", registered())));
                };
                check_secret(&client.id, client.secret(), &basic.secret, Some(&basic.raw_secret))?;
            }
            Method::ClientSecretPost => {
                let Some(secret) = body_secret else {
                    let sent = used.first().copied().unwrap_or("no client_secret");
                    return Err(OAuthError::invalid_client(format!("{}, but sent {sent}", registered())));
                };
                check_secret(&client.id, client.secret(), secret, None)?;
            }
            Method::PrivateKeyJwt => {
                let Some(assertion) = assertion else {
                    let sent = used.first().copied().unwrap_or("no client_assertion");
                    return Err(OAuthError::invalid_client(format!("{}, but sent {sent}", registered())));
                };
                let assertion_type = form.get("client_assertion_type").unwrap_or_default();
                if assertion_type != JWT_BEARER {
                    return Err(OAuthError::invalid_client(format!(
                        "client_assertion_type must be {JWT_BEARER}, not '{assertion_type}'"
                    )));
                }
                let rules = AssertionRules {
                    client_id: &client.id,
                    keys: &client.keys,
                    algorithms: Algorithms::Registered(client.alg),
                    token_endpoint: &self.token_endpoint,
                    issuer: &self.issuer,
                    now: self.now(),
                    skew: 0,
                };
                verify_assertion(assertion, &rules, &self.jtis)?;
            }
            Method::TlsClientAuth | Method::SelfSignedTlsClientAuth => {
                if let Some(sent) = used.first() {
                    return Err(OAuthError::invalid_client(format!("{}, but sent {sent}", registered())));
                }
                let presented = certificate.as_ref().ok_or_else(|| {
                    OAuthError::invalid_client(format!("no client certificate was presented ({})", registered()))
                })?;
                check_certificate(&client, presented)?;
            }
        }
        Ok(Authenticated { client, certificate })
    }

    /// Takes the code: single use, bound to the client and redirect URI, PKCE checked.
    fn redeem(&self, client: &Client, form: &Params) -> Result<CodeGrant, OAuthError> {
        let code = form.get("code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let now = self.now();
        let mut sessions = self.sessions();
        if let Some((_, tokens)) = sessions.redeemed.get_mut(code) {
            // RFC 6749 §4.1.2: a replayed code revokes what it gave.
            let tokens = std::mem::take(tokens);
            for token in tokens {
                sessions.tokens.remove(&token);
            }
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used (the tokens issued for it are revoked)",
            ));
        }
        let Some(grant) = sessions.codes.get(code) else {
            return Err(OAuthError::invalid_grant("the authorization code is not recognised"));
        };
        if grant.client_id != client.id {
            return Err(OAuthError::invalid_grant(format!(
                "the authorization code was issued to client '{}', not '{}'",
                grant.client_id, client.id
            )));
        }
        let Some(grant) = sessions.codes.remove(code) else {
            return Err(OAuthError::invalid_grant("the authorization code is not recognised"));
        };
        sessions.redeemed.insert(code.to_owned(), (now + self.code_lifetime + self.token_lifetime, Vec::new()));
        drop(sessions);
        if now >= grant.expires_at {
            return Err(OAuthError::invalid_grant(format!(
                "the authorization code expired at {}",
                time_text(grant.expires_at)
            )));
        }
        match form.get("redirect_uri") {
            Some(uri) if uri == grant.redirect_uri => {}
            Some(uri) => {
                return Err(OAuthError::invalid_grant(format!(
                    "redirect_uri '{uri}' is not the one of the authorization request ('{}')",
                    grant.redirect_uri
                )));
            }
            None => {
                return Err(OAuthError::invalid_grant(format!(
                    "redirect_uri is missing; the authorization request had '{}'",
                    grant.redirect_uri
                )));
            }
        }
        match (&grant.code_challenge, form.get("code_verifier")) {
            (None, None) => {}
            (Some(challenge), Some(verifier)) => {
                if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                    return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge (S256)"));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier is missing; the authorization request had a code_challenge",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier was sent, but the authorization request had no code_challenge",
                ));
            }
        }
        Ok(grant)
    }

    fn mint(
        &self,
        client: &Client,
        grant: CodeGrant,
        certificate: Option<String>,
        code: &str,
    ) -> Result<Tokens, OAuthError> {
        let now = self.now();
        let mut claims = released(&grant.user.claims);
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("sub".into(), grant.user.subject().into());
        claims.insert("aud".into(), client.id.clone().into());
        claims.insert("exp".into(), (now + self.token_lifetime).into());
        claims.insert("iat".into(), now.into());
        claims.insert("auth_time".into(), grant.auth_time.into());
        if let Some(nonce) = &grant.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        let id_token = self
            .signing
            .sign_claims(Algorithm::RS256, &claims)
            .map_err(|e| OAuthError::server_error(format!("the id_token could not be signed ({e})")))?;
        let access_token = random_token().ok_or_else(|| OAuthError::server_error("no randomness for a token"))?;
        let mut sessions = self.sessions();
        sessions.tokens.insert(
            access_token.clone(),
            AccessGrant {
                client_id: client.id.clone(),
                user: grant.user,
                expires_at: now + self.token_lifetime,
                certificate,
            },
        );
        if let Some((_, tokens)) = sessions.redeemed.get_mut(code) {
            tokens.push(access_token.clone());
        }
        Ok(Tokens { access_token, expires_in: self.token_lifetime, id_token, scope: grant.scope, token_type: "Bearer" })
    }
}

/// The token endpoint's answer (RFC 6749 §5.1), its members in the order a JSON object of them
/// serializes.
#[derive(serde::Serialize)]
struct Tokens {
    access_token: String,
    expires_in: i64,
    id_token: String,
    scope: String,
    token_type: &'static str,
}

fn check_certificate(client: &Client, presented: &PeerCertificate) -> Result<(), OAuthError> {
    if client.method == Method::SelfSignedTlsClientAuth {
        let thumbprint = presented.x5t_s256();
        if !client.self_signed.contains(&thumbprint) {
            return Err(OAuthError::invalid_client(format!(
                "the client certificate (x5t#S256 {thumbprint}) is not one registered for client '{}'",
                client.id
            )));
        }
        return Ok(());
    }
    if let Err(reason) = &presented.trust {
        return Err(OAuthError::invalid_client(format!(
            "client certificate does not chain to a trusted CA ({reason})"
        )));
    }
    let subject = presented
        .subject()
        .map_err(|e| OAuthError::invalid_client(format!("the client certificate is not usable: {e}")))?;
    match &client.subject_dn {
        Some(registered) if registered.matches(&subject) => Ok(()),
        Some(registered) => Err(OAuthError::invalid_client(format!(
            "certificate subject '{subject}' does not match the registered '{registered}'"
        ))),
        None => Err(OAuthError::invalid_client(format!("client '{}' has no registered subject DN", client.id))),
    }
}

// --- UserInfo ---

async fn userinfo(State(p): State<Arc<Provider>>, peer: Option<Extension<TlsPeer>>, headers: HeaderMap) -> Response {
    answer(p.userinfo(&headers, peer_certificate(peer.as_ref())))
}

impl Provider {
    fn userinfo(&self, headers: &HeaderMap, certificate: Option<Arc<PeerCertificate>>) -> Result<Value, OAuthError> {
        let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(OAuthError::invalid_token("no access token (expected an Authorization: Bearer header)")),
        };
        let now = self.now();
        let mut sessions = self.sessions();
        sessions.prune(now);
        let grant = sessions.tokens.get(token).filter(|g| g.expires_at > now).ok_or_else(|| {
            OAuthError::invalid_token("the access token is not recognised (unknown, expired or revoked)")
        })?;
        if let Some(bound) = &grant.certificate {
            match &certificate {
                None => {
                    return Err(OAuthError::invalid_token(format!(
                        "the access token is bound to a client certificate (x5t#S256 {bound}), but none was presented on this connection"
                    )));
                }
                Some(presented) if presented.x5t_s256() != *bound => {
                    return Err(OAuthError::invalid_token(format!(
                        "the access token is bound to certificate x5t#S256 {bound}, but x5t#S256 {} was presented",
                        presented.x5t_s256()
                    )));
                }
                Some(_) => {}
            }
        }
        let subject = grant.user.subject();
        let mut claims = released(&grant.user.claims);
        claims.insert("sub".into(), subject.clone().into());
        let answered = UserinfoAnswer {
            client_id: grant.client_id.clone(),
            subject,
            certificate: certificate.as_ref().map(|c| c.x5t_s256()),
        };
        if sessions.userinfo_answers.len() >= MAX_USERINFO_ANSWERS {
            sessions.userinfo_answers.pop_front();
        }
        sessions.userinfo_answers.push_back(answered);
        Ok(Value::Object(claims))
    }
}

#[cfg(test)]
mod tests;
