//! An embedded OAuth2 provider shaped like Facebook and GitHub: an authorization endpoint with a
//! login page (or an auto-login user), a token endpoint that takes GET or POST and answers JSON
//! or, like GitHub, form-encoded unless asked for JSON, and two user-info endpoints: `/me` (flat,
//! Facebook-like) and `/user` (nested, for JSON paths).
//!
//! It verifies what a real provider verifies: registered clients and redirect URIs, the client's
//! registered authentication method (`client_secret_post`, `client_secret_basic` with RFC 6749
//! §2.3.1 decoding, `private_key_jwt` signatures, audience, expiry and `jti` replay), single-use
//! codes bound to their client and redirect URI, and bearer tokens.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client_auth::{
    self, Algorithms, AssertionKey, AssertionRules, JtiLedger, basic_credentials, check_secret, unverified_issuer,
    verify_assertion,
};
use super::{
    Clock, OAuthError, Params, Served, TestUser, default_token_lifetime, error_page, escape, form_post_page, is_form,
    login_page, random_token, system_clock,
};
use ief_protocols::federation::client_auth::JWT_BEARER;

/// Clock skew allowed on assertion times.
const SKEW_SECS: i64 = 60;

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/access_token";
pub const ME_PATH: &str = "/me";
pub const USER_PATH: &str = "/user";

/// The provider's configuration (YAML or JSON for `ief idp serve`, a value in tests).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2ProviderConfig {
    #[serde(default)]
    pub users: Vec<TestUser>,
    #[serde(default)]
    pub clients: Vec<OAuth2Client>,
    /// Signs this user in at once instead of showing the login page.
    #[serde(default)]
    pub auto_login: Option<String>,
    /// The query parameter that carries the access token at `/me` and `/user`.
    #[serde(default = "default_token_parameter")]
    pub token_parameter: String,
    /// When set, `/me` and `/user` answer only requests carrying `<name>=json` (LinkedIn v1 style).
    #[serde(default)]
    pub format_parameter: Option<String>,
    /// Scopes the provider knows; empty means any scope is granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra fields of every token response (such as `resource`).
    #[serde(default)]
    pub extra_token_fields: Map<String, Value>,
    /// Names of `extra_token_fields` that `/me` and `/user` require back in their query.
    #[serde(default)]
    pub claims_require: Vec<String>,
    /// GitHub style: token errors come back with HTTP 200.
    #[serde(default)]
    pub errors_with_ok_status: bool,
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime_secs: i64,
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: i64,
    /// Draws codes and tokens from this seed instead of the OS, for reproducible runs. Such
    /// tokens are guessable: never for a provider others can reach.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The provider's time; scenario runs share their fixed clock.
    #[serde(skip, default = "system_clock")]
    pub clock: Clock,
}

impl std::fmt::Debug for OAuth2ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|u| u.username.as_str()).collect();
        f.debug_struct("OAuth2ProviderConfig")
            .field("users", &users)
            .field("clients", &self.clients)
            .field("auto_login", &self.auto_login)
            .field("token_parameter", &self.token_parameter)
            .finish_non_exhaustive()
    }
}

impl Default for OAuth2ProviderConfig {
    fn default() -> OAuth2ProviderConfig {
        OAuth2ProviderConfig {
            users: Vec::new(),
            clients: Vec::new(),
            auto_login: None,
            token_parameter: default_token_parameter(),
            format_parameter: None,
            scopes: Vec::new(),
            extra_token_fields: Map::new(),
            claims_require: Vec::new(),
            errors_with_ok_status: false,
            code_lifetime_secs: default_code_lifetime(),
            token_lifetime_secs: default_token_lifetime(),
            seed: None,
            clock: system_clock(),
        }
    }
}

fn default_token_parameter() -> String {
    "access_token".to_owned()
}

fn default_code_lifetime() -> i64 {
    600
}

/// A registered client.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Client {
    pub client_id: String,
    /// The one way this client authenticates at the token endpoint.
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`: an RSA public key as PEM, or a JWK or JWK set.
    #[serde(default)]
    pub public_key: Option<PublicKey>,
    /// Allowed redirect URIs, compared exactly; empty allows any.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

impl std::fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretPost,
    ClientSecretBasic,
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum PublicKey {
    Pem(String),
    Jwk(Value),
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the OAuth2 provider configuration is invalid: {0}")]
    Config(String),
    #[error("the OAuth2 provider could not listen on 127.0.0.1: {0}")]
    Io(#[from] std::io::Error),
}

/// A running provider; it stops when dropped.
#[derive(Debug)]
pub struct OAuth2Provider {
    served: Served,
}

impl OAuth2Provider {
    /// `http://127.0.0.1:port`, the base of every endpoint.
    pub fn base_url(&self) -> String {
        self.served.http_url()
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.base_url())
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    /// The flat, Facebook-like user info.
    pub fn me_endpoint(&self) -> String {
        format!("{}{ME_PATH}", self.base_url())
    }

    /// The nested user info.
    pub fn user_endpoint(&self) -> String {
        format!("{}{USER_PATH}", self.base_url())
    }
}

/// Checks the configuration and serves the provider on an ephemeral loopback port.
pub async fn start(config: OAuth2ProviderConfig) -> Result<OAuth2Provider, ProviderError> {
    let (router, base_url) = router(config)?;
    let served = Served::http(router).await?;
    // Set before the address is known to anyone, so no request sees it unset.
    let _ = base_url.set(served.http_url());
    Ok(OAuth2Provider { served })
}

/// The provider's routes, and where to record the base URL once it is bound (assertions name
/// the token endpoint as their audience).
pub fn router(config: OAuth2ProviderConfig) -> Result<(Router, Arc<OnceLock<String>>), ProviderError> {
    let keys = check(&config)?;
    let base_url = Arc::new(OnceLock::new());
    let shared = Arc::new(Shared {
        config,
        keys,
        base_url: base_url.clone(),
        inner: Mutex::new(Inner::default()),
        jtis: JtiLedger::default(),
    });
    let router = Router::new()
        .route(AUTHORIZE_PATH, get(authorize_get).post(authorize_post))
        .route(TOKEN_PATH, get(access_token).post(access_token))
        .route(ME_PATH, get(me))
        .route(USER_PATH, get(user))
        .with_state(shared);
    Ok((router, base_url))
}

/// Validates the configuration; returns the decoded public keys by client id.
fn check(config: &OAuth2ProviderConfig) -> Result<ClientKeys, ProviderError> {
    let bad = |m: String| Err(ProviderError::Config(m));
    if let Some(name) = &config.auto_login
        && !config.users.iter().any(|u| &u.username == name)
    {
        return bad(format!("auto_login names '{name}', who is not among the users"));
    }
    if config.token_parameter.trim().is_empty() {
        return bad("token_parameter is empty".to_owned());
    }
    if config.code_lifetime_secs <= 0 || config.token_lifetime_secs <= 0 {
        return bad("code_lifetime_secs and token_lifetime_secs must be positive".to_owned());
    }
    for name in &config.claims_require {
        if !config.extra_token_fields.contains_key(name) {
            return bad(format!("claims_require names '{name}', which is not in extra_token_fields"));
        }
    }
    let mut keys = HashMap::new();
    let mut seen = HashSet::new();
    for client in &config.clients {
        let id = &client.client_id;
        if !seen.insert(id.as_str()) {
            return bad(format!("client '{id}' is registered twice"));
        }
        match client.auth_method {
            ClientAuthMethod::ClientSecretPost | ClientAuthMethod::ClientSecretBasic => {
                if client.client_secret.as_deref().is_none_or(str::is_empty) {
                    return bad(format!("client '{id}' uses {} but has no client_secret", client.auth_method.as_str()));
                }
            }
            ClientAuthMethod::PrivateKeyJwt => {
                let Some(key) = &client.public_key else {
                    return bad(format!("client '{id}' uses private_key_jwt but has no public_key"));
                };
                keys.insert(
                    id.clone(),
                    decoding_keys(key).map_err(|e| ProviderError::Config(format!("client '{id}': {e}")))?,
                );
            }
        }
    }
    Ok(keys)
}

/// A client's verification keys.
fn decoding_keys(key: &PublicKey) -> Result<Vec<AssertionKey>, String> {
    let keys = match key {
        PublicKey::Pem(pem) => vec![client_auth::pem_key(pem, "the public_key")?],
        PublicKey::Jwk(jwks) => client_auth::jwk_keys(jwks, "the public_key")?,
    };
    if keys.is_empty() {
        return Err("the public_key JWK set is empty".to_owned());
    }
    Ok(keys)
}

/// Verification keys of the `private_key_jwt` clients.
type ClientKeys = HashMap<String, Vec<AssertionKey>>;

struct Shared {
    config: OAuth2ProviderConfig,
    keys: ClientKeys,
    base_url: Arc<OnceLock<String>>,
    inner: Mutex<Inner>,
    jtis: JtiLedger,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<String, Code>,
    tokens: HashMap<String, Issued>,
    refresh_tokens: HashMap<String, Issued>,
    draws: u64,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    username: String,
    scope: String,
    expires_at: i64,
    used: bool,
}

#[derive(Clone)]
struct Issued {
    client_id: String,
    username: String,
    scope: String,
    expires_at: i64,
}

impl Shared {
    fn now(&self) -> i64 {
        (self.config.clock)()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn client(&self, client_id: &str) -> Option<&OAuth2Client> {
        self.config.clients.iter().find(|c| c.client_id == client_id)
    }

    fn user(&self, username: &str) -> Option<&TestUser> {
        self.config.users.iter().find(|u| u.username == username)
    }

    fn token_url(&self) -> Option<String> {
        self.base_url.get().map(|b| format!("{b}{TOKEN_PATH}"))
    }

    /// A fresh code or token: 32 random bytes, base64url.
    fn fresh(&self, inner: &mut Inner) -> String {
        if self.config.seed.is_none()
            && let Some(token) = random_token()
        {
            return token;
        }
        // Seeded, or without OS randomness: the clock and a counter, never a constant.
        inner.draws += 1;
        let seed =
            self.config.seed.unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
        let mut state = seed ^ inner.draws.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            state = splitmix64(&mut state);
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Drops expired codes and tokens.
    fn purge(&self, inner: &mut Inner, now: i64) {
        inner.codes.retain(|_, c| c.expires_at > now);
        inner.tokens.retain(|_, t| t.expires_at > now);
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------- authorization endpoint

/// A checked authorization request.
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    response_mode: String,
}

impl AuthRequest {
    fn hidden(&self) -> Vec<(String, String)> {
        let mut fields = vec![
            ("client_id".to_owned(), self.client_id.clone()),
            ("redirect_uri".to_owned(), self.redirect_uri.clone()),
            ("response_type".to_owned(), "code".to_owned()),
            ("scope".to_owned(), self.scope.clone()),
            ("response_mode".to_owned(), self.response_mode.clone()),
        ];
        if let Some(state) = &self.state {
            fields.push(("state".to_owned(), state.clone()));
        }
        fields
    }
}

/// An authorization request that cannot be answered at its redirect URI.
fn refusal_page(message: &str) -> Box<Response> {
    Box::new(error_page(StatusCode::BAD_REQUEST, message))
}

/// Checks a request. A wrong client or redirect URI gets an error page (RFC 6749 §4.1.2.1:
/// never redirect then); other errors go back to the redirect URI.
fn check_authorization(shared: &Shared, params: &Params) -> Result<AuthRequest, Box<Response>> {
    let Some(client_id) = params.get("client_id").filter(|c| !c.is_empty()) else {
        return Err(refusal_page("The request has no client_id."));
    };
    let Some(client) = shared.client(client_id) else {
        return Err(refusal_page(&format!("The client '{client_id}' is not registered.")));
    };
    let Some(redirect_uri) = params.get("redirect_uri").filter(|r| !r.is_empty()) else {
        return Err(refusal_page("The request has no redirect_uri."));
    };
    if reqwest::Url::parse(redirect_uri).is_err() {
        return Err(refusal_page(&format!("The redirect_uri '{redirect_uri}' is not a URL.")));
    }
    if !client.redirect_uris.is_empty() && !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(refusal_page(&format!(
            "The redirect_uri '{redirect_uri}' is not registered for the client '{client_id}'."
        )));
    }
    let request = AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: params.get("state").map(str::to_owned),
        scope: params.get("scope").unwrap_or_default().to_owned(),
        response_mode: params.get("response_mode").unwrap_or("query").to_owned(),
    };
    if !matches!(request.response_mode.as_str(), "query" | "fragment" | "form_post") {
        let mode = request.response_mode.clone();
        let fallback = AuthRequest { response_mode: "query".to_owned(), ..request };
        return Err(Box::new(redirect_error(
            &fallback,
            "invalid_request",
            &format!("response_mode '{mode}' is not supported (query, fragment or form_post)"),
        )));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(Box::new(redirect_error(
                &request,
                "unsupported_response_type",
                &format!("response_type '{other}' is not supported (code)"),
            )));
        }
        None => return Err(Box::new(redirect_error(&request, "invalid_request", "the request has no response_type"))),
    }
    if !shared.config.scopes.is_empty()
        && let Some(unknown) = request
            .scope
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .find(|s| !shared.config.scopes.iter().any(|k| k == s))
    {
        let description = format!("the scope '{unknown}' is not known");
        return Err(Box::new(redirect_error(&request, "invalid_scope", &description)));
    }
    Ok(request)
}

/// Sends `fields` back to the client the way it asked.
fn respond(request: &AuthRequest, mut fields: Vec<(String, String)>) -> Response {
    if let Some(state) = &request.state {
        fields.push(("state".to_owned(), state.clone()));
    }
    match request.response_mode.as_str() {
        "form_post" => Html(form_post_page(&request.redirect_uri, &fields)).into_response(),
        mode => {
            let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
            let location = if mode == "fragment" {
                format!("{}#{encoded}", request.redirect_uri)
            } else if request.redirect_uri.contains('?') {
                format!("{}&{encoded}", request.redirect_uri)
            } else {
                format!("{}?{encoded}", request.redirect_uri)
            };
            (StatusCode::FOUND, [(LOCATION, location)]).into_response()
        }
    }
}

fn redirect_error(request: &AuthRequest, error: &str, description: &str) -> Response {
    respond(
        request,
        vec![("error".to_owned(), error.to_owned()), ("error_description".to_owned(), description.to_owned())],
    )
}

fn login(request: &AuthRequest, error: Option<&str>) -> Response {
    let page = login_page("Sign in to the OAuth2 test provider", AUTHORIZE_PATH, &request.hidden(), error);
    // A second form declines the request (error=access_denied).
    let hidden: String = request
        .hidden()
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    let cancel = format!(
        r#"<form method="post" action="{AUTHORIZE_PATH}">{hidden}<input type="hidden" name="cancel" value="1"><button type="submit">Cancel</button></form></body>"#
    );
    Html(page.replacen("</body>", &cancel, 1)).into_response()
}

fn issue_code(shared: &Shared, request: &AuthRequest, username: &str) -> Response {
    let now = shared.now();
    let mut inner = shared.lock();
    shared.purge(&mut inner, now);
    let code = shared.fresh(&mut inner);
    inner.codes.insert(
        code.clone(),
        Code {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            username: username.to_owned(),
            scope: request.scope.clone(),
            expires_at: now + shared.config.code_lifetime_secs,
            used: false,
        },
    );
    drop(inner);
    respond(request, vec![("code".to_owned(), code)])
}

async fn authorize_get(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default().as_bytes());
    let request = match check_authorization(&shared, &params) {
        Err(page) => return *page,
        Ok(request) => request,
    };
    match &shared.config.auto_login {
        Some(username) => issue_code(&shared, &request, username),
        None => login(&request, None),
    }
}

async fn authorize_post(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return error_page(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The login form must be posted form-encoded.");
    }
    let params = Params::parse(&body);
    let request = match check_authorization(&shared, &params) {
        Err(page) => return *page,
        Ok(request) => request,
    };
    if params.get("cancel").is_some() {
        return redirect_error(&request, "access_denied", "the user declined the request");
    }
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    match TestUser::authenticate(&shared.config.users, username, password) {
        Some(user) => issue_code(&shared, &request, &user.username),
        None => login(&request, Some("The username or password is incorrect.")),
    }
}

// ---------------------------------------------------------------- token endpoint

/// JSON when the client asks for it, else form-encoded like GitHub.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"))
}

fn token_body(json: bool, fields: &Map<String, Value>) -> (&'static str, String) {
    if json {
        return ("application/json", Value::Object(fields.clone()).to_string());
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        match v {
            Value::String(s) => form.append_pair(k, s),
            other => form.append_pair(k, &other.to_string()),
        };
    }
    ("application/x-www-form-urlencoded", form.finish())
}

async fn access_token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let json = wants_json(&headers);
    match token_request(&shared, &method, &headers, query.as_deref(), &body) {
        Ok(fields) => {
            let (content_type, body) = token_body(json, &fields);
            (StatusCode::OK, [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-store")], body).into_response()
        }
        Err(e) => {
            let mut fields = Map::new();
            fields.insert("error".to_owned(), Value::String(e.error.to_owned()));
            fields.insert("error_description".to_owned(), Value::String(e.description));
            let (content_type, body) = token_body(json, &fields);
            let status = if shared.config.errors_with_ok_status { StatusCode::OK } else { e.status };
            let mut response = (status, [(CONTENT_TYPE, content_type)], body).into_response();
            if e.status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Basic"));
            }
            response
        }
    }
}

fn token_request(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, OAuthError> {
    let mut params = Params::parse(query.unwrap_or_default().as_bytes());
    if *method == Method::POST && !body.is_empty() {
        if !is_form(headers) {
            return Err(OAuthError::invalid_request(
                "the token request body must be application/x-www-form-urlencoded",
            ));
        }
        params.0.extend(Params::parse(body).0);
    }
    if let Some(name) = params.repeated() {
        return Err(OAuthError::invalid_request(format!("the parameter '{name}' is repeated")));
    }
    let now = shared.now();
    let client = authenticate(shared, headers, &params, now)?;
    let mut inner = shared.lock();
    shared.purge(&mut inner, now);
    let grant = match params.get("grant_type") {
        Some("authorization_code") => {
            let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("the request has no code"))?;
            let found = inner
                .codes
                .get_mut(code)
                .ok_or_else(|| OAuthError::invalid_grant("the authorization code is unknown or expired"))?;
            if found.used {
                return Err(OAuthError::invalid_grant("the authorization code was already used"));
            }
            if found.client_id != client.client_id {
                return Err(OAuthError::invalid_grant(format!(
                    "the authorization code was issued to another client, not '{}'",
                    client.client_id
                )));
            }
            if params.get("redirect_uri") != Some(found.redirect_uri.as_str()) {
                return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
            }
            found.used = true;
            Issued {
                client_id: found.client_id.clone(),
                username: found.username.clone(),
                scope: found.scope.clone(),
                expires_at: 0,
            }
        }
        Some("refresh_token") => {
            let token = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("the request has no refresh_token"))?;
            let found = inner
                .refresh_tokens
                .get(token)
                .ok_or_else(|| OAuthError::invalid_grant("the refresh token is unknown"))?;
            if found.client_id != client.client_id {
                return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
            }
            found.clone()
        }
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type '{other}' is not supported (authorization_code, refresh_token)"
            )));
        }
        None => return Err(OAuthError::invalid_request("the request has no grant_type")),
    };
    let access_token = shared.fresh(&mut inner);
    let lifetime = shared.config.token_lifetime_secs;
    inner.tokens.insert(access_token.clone(), Issued { expires_at: now + lifetime, ..grant.clone() });
    let refresh_token = match params.get("refresh_token") {
        Some(existing) => existing.to_owned(),
        None => {
            let token = shared.fresh(&mut inner);
            inner.refresh_tokens.insert(token.clone(), grant.clone());
            token
        }
    };
    drop(inner);
    let mut fields = Map::new();
    fields.insert("access_token".to_owned(), Value::String(access_token));
    fields.insert("token_type".to_owned(), Value::String("bearer".to_owned()));
    fields.insert("expires_in".to_owned(), json!(lifetime));
    fields.insert("refresh_token".to_owned(), Value::String(refresh_token));
    fields.insert("scope".to_owned(), Value::String(grant.scope));
    for (k, v) in &shared.config.extra_token_fields {
        fields.insert(k.clone(), v.clone());
    }
    Ok(fields)
}

/// The client that authenticated, by its registered method only.
fn authenticate<'s>(
    shared: &'s Shared,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> Result<&'s OAuth2Client, OAuthError> {
    let basic = basic_credentials(headers).map_err(|e| OAuthError::invalid_client(e.to_string()))?;
    let assertion = params.get("client_assertion");
    let posted_secret = params.get("client_secret");
    let presented: Vec<ClientAuthMethod> = [
        (basic.is_some(), ClientAuthMethod::ClientSecretBasic),
        (assertion.is_some(), ClientAuthMethod::PrivateKeyJwt),
        (posted_secret.is_some(), ClientAuthMethod::ClientSecretPost),
    ]
    .into_iter()
    .filter_map(|(present, m)| present.then_some(m))
    .collect();
    if presented.len() > 1 {
        let names: Vec<&str> = presented.iter().map(|m| m.as_str()).collect();
        return Err(OAuthError::invalid_request(format!(
            "the client used more than one authentication method ({})",
            names.join(", ")
        )));
    }
    let param_id = params.get("client_id");
    let client_id = match presented.first() {
        Some(ClientAuthMethod::ClientSecretBasic) => {
            let id = basic.as_ref().map(|b| b.id.clone()).unwrap_or_default();
            if param_id.is_some_and(|p| p != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the client in the Authorization header",
                ));
            }
            id
        }
        Some(ClientAuthMethod::ClientSecretPost) => {
            param_id.ok_or_else(|| OAuthError::invalid_client("client_secret was sent without client_id"))?.to_owned()
        }
        Some(ClientAuthMethod::PrivateKeyJwt) => match param_id {
            Some(id) => id.to_owned(),
            None => unverified_issuer(assertion.unwrap_or_default()).ok_or_else(|| {
                OAuthError::invalid_client("the client assertion names no issuer and client_id is missing")
            })?,
        },
        None => {
            let who = param_id.map_or_else(String::new, |id| format!(" for client '{id}'"));
            return Err(OAuthError::invalid_client(format!("no client authentication was sent{who}")));
        }
    };
    let client = shared
        .client(&client_id)
        .ok_or_else(|| OAuthError::invalid_client(format!("the client '{client_id}' is not registered")))?;
    let used = presented[0];
    if used != client.auth_method {
        return Err(OAuthError::invalid_client(format!(
            "the client '{client_id}' is registered for {}, not {}",
            client.auth_method.as_str(),
            used.as_str()
        )));
    }
    if used == ClientAuthMethod::PrivateKeyJwt {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        let rules = AssertionRules {
            client_id: &client_id,
            keys: shared.keys.get(&client_id).map(Vec::as_slice).unwrap_or_default(),
            algorithms: Algorithms::AnyOf(&[Algorithm::RS256, Algorithm::RS512]),
            token_endpoint: &shared.token_url().unwrap_or_default(),
            issuer: shared.base_url.get().map(String::as_str).unwrap_or_default(),
            now,
            skew: SKEW_SECS,
        };
        verify_assertion(assertion.unwrap_or_default(), &rules, &shared.jtis)?;
        return Ok(client);
    }
    let registered = client.client_secret.as_deref().unwrap_or_default();
    match &basic {
        Some(basic) => check_secret(&client_id, registered, &basic.secret, Some(&basic.raw_secret))?,
        None => check_secret(&client_id, registered, posted_secret.unwrap_or_default(), None)?,
    }
    Ok(client)
}

// ---------------------------------------------------------------- user info

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Box<Response> {
    let challenge = format!(r#"Bearer error="{error}", error_description="{}""#, description.replace('"', "'"));
    let mut response = (
        status,
        [(CONTENT_TYPE, "application/json")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    Box::new(response)
}

/// The signed-in user behind a user-info request, or the refusal.
fn user_of<'s>(shared: &'s Shared, headers: &HeaderMap, params: &Params) -> Result<&'s TestUser, Box<Response>> {
    let name = shared.config.token_parameter.as_str();
    let in_query = params.get(name);
    let in_header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_owned())
    });
    let token = match (in_query, in_header.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the access token was sent both in the query and in the Authorization header",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &format!("no access token: send it in the '{name}' query parameter or an Authorization: Bearer header"),
            ));
        }
    };
    let now = shared.now();
    let issued = shared.lock().tokens.get(token).cloned();
    let Some(issued) = issued else {
        return Err(bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is unknown"));
    };
    if issued.expires_at <= now {
        return Err(bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token has expired"));
    }
    if let Some(format) = &shared.config.format_parameter {
        match params.get(format) {
            Some(v) if v.eq_ignore_ascii_case("json") => {}
            Some(other) => {
                return Err(bearer_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("{format} '{other}' is not supported (json)"),
                ));
            }
            None => {
                return Err(bearer_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("this endpoint answers only with {format}=json"),
                ));
            }
        }
    }
    for required in &shared.config.claims_require {
        let expected = match shared.config.extra_token_fields.get(required) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => continue,
        };
        if params.get(required) != Some(expected.as_str()) {
            return Err(bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the parameter '{required}' from the token response is missing or wrong"),
            ));
        }
    }
    shared
        .user(&issued.username)
        .ok_or_else(|| bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the token's user no longer exists"))
}

/// id, name, email, first_name, last_name, then the user's other claims.
fn flat_profile(user: &TestUser) -> Map<String, Value> {
    let claim = |names: &[&str]| names.iter().find_map(|n| user.claims.get(*n)).cloned();
    let mut out = Map::new();
    out.insert("id".to_owned(), Value::String(user.subject()));
    out.insert("name".to_owned(), claim(&["name"]).unwrap_or_else(|| Value::String(user.username.clone())));
    for (field, names) in [
        ("email", &["email"][..]),
        ("first_name", &["first_name", "given_name"][..]),
        ("last_name", &["last_name", "family_name"][..]),
    ] {
        if let Some(v) = claim(names) {
            out.insert(field.to_owned(), v);
        }
    }
    const MAPPED: [&str; 7] = ["sub", "name", "email", "first_name", "given_name", "last_name", "family_name"];
    for (k, v) in &user.claims {
        if !MAPPED.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn json_response(value: Value) -> Response {
    (StatusCode::OK, [(CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// Facebook-like: flat fields, narrowed by `fields=a,b` when given.
async fn me(State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default().as_bytes());
    let user = match user_of(&shared, &headers, &params) {
        Ok(user) => user,
        Err(refusal) => return *refusal,
    };
    let mut profile = flat_profile(user);
    if let Some(fields) = params.get("fields") {
        let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
        profile.retain(|k, _| wanted.contains(&k.as_str()));
    }
    json_response(Value::Object(profile))
}

/// Nested: `{"data": {...flat...}, "emails": [{"value": ..., "primary": true}], "login": ...}`.
async fn user(State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default().as_bytes());
    let user = match user_of(&shared, &headers, &params) {
        Ok(user) => user,
        Err(refusal) => return *refusal,
    };
    let profile = flat_profile(user);
    let emails: Vec<Value> = profile.get("email").map(|e| json!({ "value": e, "primary": true })).into_iter().collect();
    json_response(json!({ "data": profile, "emails": emails, "login": user.username }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> TestUser {
        let claims = json!({ "email": "alice@example.com", "given_name": "Alice", "family_name": "Liddell", "roles": ["reader", "writer"] });
        TestUser {
            username: "alice".into(),
            password: "wonderland".into(),
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    fn config() -> OAuth2ProviderConfig {
        OAuth2ProviderConfig {
            users: vec![alice()],
            clients: vec![
                OAuth2Client {
                    client_id: "post".into(),
                    auth_method: ClientAuthMethod::ClientSecretPost,
                    client_secret: Some("s3cret".into()),
                    public_key: None,
                    redirect_uris: vec!["https://rp.example/cb".into()],
                },
                OAuth2Client {
                    client_id: "basic client".into(),
                    auth_method: ClientAuthMethod::ClientSecretBasic,
                    client_secret: Some("p@ss:w+rd/%=&".into()),
                    public_key: None,
                    redirect_uris: Vec::new(),
                },
            ],
            ..OAuth2ProviderConfig::default()
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
    }

    fn query_of(location: &str) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(location).unwrap();
        url.query_pairs().into_owned().collect()
    }

    /// Signs alice in through the login form; returns the redirect's parameters.
    async fn code_for(provider: &OAuth2Provider, client_id: &str, redirect_uri: &str) -> Vec<(String, String)> {
        let form = [
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("state", "st"),
            ("username", "alice"),
            ("password", "wonderland"),
        ];
        let response = client().post(provider.authorization_endpoint()).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        query_of(response.headers()[LOCATION].to_str().unwrap())
    }

    fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
        pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    async fn json(request: reqwest::RequestBuilder) -> Value {
        request.send().await.unwrap().json().await.unwrap()
    }

    #[tokio::test]
    async fn login_page_then_code_then_token_then_user_info() {
        let provider = start(config()).await.unwrap();
        let authorize = format!(
            "{}?client_id=post&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&state=xyz",
            provider.authorization_endpoint()
        );
        let page = client().get(&authorize).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(r#"name="password""#) && page.contains(r#"value="xyz""#), "{page}");

        let wrong = [
            ("client_id", "post"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("username", "alice"),
            ("password", "nope"),
        ];
        let again = client().post(provider.authorization_endpoint()).form(&wrong).send().await.unwrap();
        assert_eq!(again.status(), 200);
        assert!(again.text().await.unwrap().contains("The username or password is incorrect."));

        let params = code_for(&provider, "post", "https://rp.example/cb").await;
        assert_eq!(get(&params, "state"), Some("st"));
        let code = get(&params, "code").unwrap().to_owned();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://rp.example/cb"),
            ("client_id", "post"),
            ("client_secret", "s3cret"),
        ];
        // Form-encoded unless JSON is asked for, like GitHub.
        let response = client().post(provider.token_endpoint()).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/x-www-form-urlencoded");
        let text = response.text().await.unwrap();
        let fields = Params::parse(text.as_bytes());
        let token = fields.get("access_token").unwrap().to_owned();
        assert_eq!(fields.get("token_type"), Some("bearer"));
        assert_eq!(fields.get("expires_in"), Some("3600"));

        // Single use.
        let reused = client()
            .post(provider.token_endpoint())
            .form(&form)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(reused.status(), 400);
        let body: Value = reused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_description"], "the authorization code was already used");

        let me = json(client().get(provider.me_endpoint()).query(&[("access_token", &token)])).await;
        assert_eq!(me["id"], "alice");
        assert_eq!(me["email"], "alice@example.com");
        assert_eq!(me["first_name"], "Alice");
        assert_eq!(me["last_name"], "Liddell");
        assert_eq!(me["name"], "alice");
        let narrowed =
            json(client().get(format!("{}?fields=id,email", provider.me_endpoint())).bearer_auth(&token)).await;
        assert_eq!(narrowed, json!({ "id": "alice", "email": "alice@example.com" }));
        let nested = json(client().get(provider.user_endpoint()).bearer_auth(&token)).await;
        assert_eq!(nested["data"]["email"], "alice@example.com");
        assert_eq!(nested["emails"][0]["value"], "alice@example.com");
        assert_eq!(nested["data"]["roles"], json!(["reader", "writer"]));
    }

    #[tokio::test]
    async fn user_info_refuses_missing_unknown_and_doubled_tokens() {
        let provider = start(config()).await.unwrap();
        let missing = client().get(provider.me_endpoint()).send().await.unwrap();
        assert_eq!(missing.status(), 401);
        assert!(missing.headers()[WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer error=\"invalid_token\""));
        let body: Value = missing.json().await.unwrap();
        assert!(body["error_description"].as_str().unwrap().contains("no access token"), "{body}");
        let unknown = client().get(provider.user_endpoint()).bearer_auth("forged").send().await.unwrap();
        assert_eq!(unknown.status(), 401);
        assert_eq!(unknown.json::<Value>().await.unwrap()["error_description"], "the access token is unknown");
        let doubled =
            client().get(provider.me_endpoint()).query(&[("access_token", "a")]).bearer_auth("a").send().await.unwrap();
        assert_eq!(doubled.status(), 400);
    }

    #[tokio::test]
    async fn basic_credentials_are_decoded_per_rfc_6749() {
        let provider = start(config()).await.unwrap();
        let params = code_for(&provider, "basic client", "https://any.example/cb").await;
        let code = get(&params, "code").unwrap();
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://any.example/cb")];
        // reqwest's basic_auth does not form-encode: a provider following §2.3.1 decodes '+' as a space.
        let naive = client()
            .post(provider.token_endpoint())
            .basic_auth("basic client", Some("p@ss:w+rd/%=&"))
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(naive.status(), 401);
        assert!(naive.json::<Value>().await.unwrap()["error_description"].as_str().unwrap().contains("malformed"));
        let header = ief_protocols::federation::client_auth::basic_authorization("basic client", "p@ss:w+rd/%=&");
        let ok = client()
            .post(provider.token_endpoint())
            .header(AUTHORIZATION, header)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.unwrap();
        assert!(body["access_token"].is_string(), "{body}");

        // The same client may not fall back to client_secret_post.
        let params = code_for(&provider, "basic client", "https://any.example/cb").await;
        let code = get(&params, "code").unwrap();
        let posted = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "https://any.example/cb"),
            ("client_id", "basic client"),
            ("client_secret", "p@ss:w+rd/%=&"),
        ];
        let refused = client()
            .post(provider.token_endpoint())
            .header(ACCEPT, "application/json")
            .form(&posted)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["error_description"],
            "the client 'basic client' is registered for client_secret_basic, not client_secret_post"
        );
    }

    #[tokio::test]
    async fn authorization_errors_redirect_only_to_registered_uris() {
        let provider = start(OAuth2ProviderConfig { scopes: vec!["email".into()], ..config() }).await.unwrap();
        let bad_uri = client()
            .get(provider.authorization_endpoint())
            .query(&[("client_id", "post"), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad_uri.status(), 400);
        assert!(bad_uri.text().await.unwrap().contains("is not registered for the client"));
        let bad_scope = client()
            .get(provider.authorization_endpoint())
            .query(&[
                ("client_id", "post"),
                ("redirect_uri", "https://rp.example/cb"),
                ("response_type", "code"),
                ("scope", "email admin"),
                ("state", "s1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bad_scope.status(), 302);
        let params = query_of(bad_scope.headers()[LOCATION].to_str().unwrap());
        assert_eq!(get(&params, "error"), Some("invalid_scope"));
        assert_eq!(get(&params, "state"), Some("s1"));
        // Declining at the login page.
        let cancel = [
            ("client_id", "post"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("response_mode", "form_post"),
            ("cancel", "1"),
        ];
        let page =
            client().post(provider.authorization_endpoint()).form(&cancel).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(r#"name="error" value="access_denied""#), "{page}");
    }

    #[tokio::test]
    async fn refresh_tokens_redeem_for_the_same_client_only() {
        let provider = start(config()).await.unwrap();
        let params = code_for(&provider, "post", "https://rp.example/cb").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", get(&params, "code").unwrap()),
            ("redirect_uri", "https://rp.example/cb"),
            ("client_id", "post"),
            ("client_secret", "s3cret"),
        ];
        let first = json(client().get(provider.token_endpoint()).query(&form).header(ACCEPT, "application/json")).await;
        let refresh = first["refresh_token"].as_str().unwrap();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "post"),
            ("client_secret", "s3cret"),
        ];
        let second =
            json(client().post(provider.token_endpoint()).form(&form).header(ACCEPT, "application/json")).await;
        assert_ne!(second["access_token"], first["access_token"]);
        assert_eq!(second["refresh_token"], first["refresh_token"]);
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let mut c = config();
        c.auto_login = Some("bob".into());
        assert!(router(c).unwrap_err().to_string().contains("auto_login names 'bob'"));
        let mut c = config();
        c.clients[0].client_secret = None;
        assert!(
            router(c)
                .unwrap_err()
                .to_string()
                .contains("client 'post' uses client_secret_post but has no client_secret")
        );
        let mut c = config();
        c.clients[1].auth_method = ClientAuthMethod::PrivateKeyJwt;
        assert!(router(c).unwrap_err().to_string().contains("has no public_key"));
        let yaml = "clients:\n  - client_id: a\n    auth_method: private_key_jwt\n    public_key: '-----BEGIN PUBLIC KEY-----'\n";
        let parsed: OAuth2ProviderConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(router(parsed).unwrap_err().to_string().contains("not an RSA public key PEM"));
        let secret = format!("{:?}", config());
        assert!(!secret.contains("s3cret") && !secret.contains("wonderland"), "{secret}");
    }
}
