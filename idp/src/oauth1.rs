//! A Twitter-like OAuth 1.0a provider (RFC 5849, HMAC-SHA1 only, as on Twitter) on 127.0.0.1.
//!
//! Endpoints, with Twitter's paths: `POST /oauth/request_token`, `GET|POST /oauth/authenticate`
//! and `/oauth/authorize` (the sign-in page, or an automatic sign-in of a configured user; then
//! a redirect to the callback with `oauth_token` and `oauth_verifier`, or `denied`),
//! `POST /oauth/access_token` (with `user_id` and `screen_name`) and
//! `GET /1.1/account/verify_credentials.json` (`email` only with `include_email=true`).
//!
//! It checks what a real provider checks: the HMAC-SHA1 signature over the request as received
//! (the `Host` header's authority, port included), the consumer and token secrets, the timestamp
//! against its own [`Clock`], nonces (a replay is refused) and single-use verifiers. Refusals are
//! `401`/`400` with a plain-text body naming the cause ("invalid signature", "nonce already used",
//! "timestamp expired"). Signatures are checked with [`ief_protocols::oauth1::base_string`], not with the
//! signer the OAuth1 profile uses.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Clock, Served, TestUser, escape, is_form, login_page, system_clock};
use ief_protocols::oauth1::base_string::{
    authorization_params, base_string, base_string_uri, encode, form_pairs, signing_key, verify_hmac_sha1,
};

pub const REQUEST_TOKEN_PATH: &str = "/oauth/request_token";
pub const AUTHENTICATE_PATH: &str = "/oauth/authenticate";
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const ACCESS_TOKEN_PATH: &str = "/oauth/access_token";
pub const VERIFY_CREDENTIALS_PATH: &str = "/1.1/account/verify_credentials.json";

/// How long temporary credentials live, in seconds.
const REQUEST_TOKEN_LIFETIME: i64 = 900;
/// The largest request body read, as axum's default limit.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// The provider's configuration (YAML or JSON for `ief idp serve`; the clock is set in code).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1Config {
    /// Shown on the sign-in page.
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub users: Vec<TestUser>,
    /// Registered clients (consumer key and secret).
    pub consumers: Vec<Consumer>,
    /// What the request-token answer says in `oauth_callback_confirmed`.
    #[serde(default)]
    pub callback_confirmed: CallbackConfirmed,
    /// Signs this user in without showing the sign-in page.
    #[serde(default)]
    pub auto_login: Option<String>,
    /// How far, in seconds, a request's timestamp may be from the provider's clock.
    #[serde(default = "default_window")]
    pub timestamp_window: i64,
    /// The provider's time; deterministic runs pass the executor's fixed clock.
    #[serde(skip, default = "system_clock")]
    pub clock: Clock,
}

fn default_name() -> String {
    "Twitter".to_owned()
}

fn default_window() -> i64 {
    300
}

impl fmt::Debug for OAuth1Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth1Config")
            .field("name", &self.name)
            .field("users", &self.users.iter().map(|u| &u.username).collect::<Vec<_>>())
            .field("consumers", &self.consumers)
            .field("callback_confirmed", &self.callback_confirmed)
            .field("auto_login", &self.auto_login)
            .field("timestamp_window", &self.timestamp_window)
            .finish_non_exhaustive()
    }
}

impl OAuth1Config {
    /// One consumer, no users, the wall clock.
    pub fn new(consumer_key: impl Into<String>, consumer_secret: impl Into<String>) -> OAuth1Config {
        OAuth1Config {
            name: default_name(),
            users: Vec::new(),
            consumers: vec![Consumer { key: consumer_key.into(), secret: consumer_secret.into() }],
            callback_confirmed: CallbackConfirmed::default(),
            auto_login: None,
            timestamp_window: default_window(),
            clock: system_clock(),
        }
    }

    fn check(&self) -> Result<(), ProviderError> {
        let bad = |m: String| Err(ProviderError::Config(m));
        if self.consumers.is_empty() {
            return bad("no consumers are configured".to_owned());
        }
        let mut keys = HashSet::new();
        for c in &self.consumers {
            if c.key.is_empty() || c.secret.is_empty() {
                return bad("a consumer has an empty key or secret".to_owned());
            }
            if !keys.insert(c.key.as_str()) {
                return bad(format!("the consumer key '{}' is configured twice", c.key));
            }
        }
        if let Some(user) = &self.auto_login
            && !self.users.iter().any(|u| &u.username == user)
        {
            return bad(format!("auto_login names '{user}', who is not one of the users"));
        }
        if self.timestamp_window <= 0 {
            return bad("timestamp_window must be a positive number of seconds".to_owned());
        }
        Ok(())
    }
}

/// A registered client.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub key: String,
    pub secret: String,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("key", &self.key).field("secret", &"[redacted]").finish()
    }
}

/// `oauth_callback_confirmed` as real providers send it: `true` (RFC 5849), `True` (Authlib),
/// `1`, left out, or `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallbackConfirmed {
    #[default]
    True,
    TitleCaseTrue,
    One,
    Omitted,
    False,
}

impl CallbackConfirmed {
    /// The value sent, if any.
    pub fn wire(self) -> Option<&'static str> {
        match self {
            CallbackConfirmed::True => Some("true"),
            CallbackConfirmed::TitleCaseTrue => Some("True"),
            CallbackConfirmed::One => Some("1"),
            CallbackConfirmed::Omitted => None,
            CallbackConfirmed::False => Some("false"),
        }
    }
}

impl<'de> Deserialize<'de> for CallbackConfirmed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(true) => Ok(CallbackConfirmed::True),
            Raw::Bool(false) => Ok(CallbackConfirmed::False),
            Raw::Int(1) => Ok(CallbackConfirmed::One),
            Raw::Text(t) if t == "true" => Ok(CallbackConfirmed::True),
            Raw::Text(t) if t == "True" => Ok(CallbackConfirmed::TitleCaseTrue),
            Raw::Text(t) if t == "1" => Ok(CallbackConfirmed::One),
            Raw::Text(t) if t == "omit" || t == "omitted" => Ok(CallbackConfirmed::Omitted),
            Raw::Text(t) if t == "false" => Ok(CallbackConfirmed::False),
            _ => Err(serde::de::Error::custom("callback_confirmed must be true, \"True\", 1, \"omit\" or false")),
        }
    }
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("OAuth1 provider configuration: {0}")]
    Config(String),
    #[error("OAuth1 provider: {0}")]
    Io(#[from] std::io::Error),
}

/// A running provider; it stops when dropped.
#[derive(Debug)]
pub struct OAuth1Provider {
    served: Served,
}

impl OAuth1Provider {
    /// `http://127.0.0.1:PORT`, the base of every endpoint path.
    pub fn url(&self) -> String {
        self.served.http_url()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.served.addr
    }
}

/// Starts the provider on an ephemeral loopback port.
pub async fn start(config: OAuth1Config) -> Result<OAuth1Provider, ProviderError> {
    let router = router(config)?;
    Ok(OAuth1Provider { served: Served::http(router).await? })
}

/// The provider's routes, to serve alone or beside other providers.
pub fn router(config: OAuth1Config) -> Result<Router, ProviderError> {
    config.check()?;
    let shared = Arc::new(Provider { config, state: Mutex::new(Store::default()) });
    Ok(Router::new()
        .route(REQUEST_TOKEN_PATH, post(request_token))
        .route(AUTHENTICATE_PATH, get(authorize_page).post(authorize_submit))
        .route(AUTHORIZE_PATH, get(authorize_page).post(authorize_submit))
        .route(ACCESS_TOKEN_PATH, post(access_token))
        .route(VERIFY_CREDENTIALS_PATH, get(verify_credentials))
        .with_state(shared))
}

struct Provider {
    config: OAuth1Config,
    state: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    temporary: HashMap<String, Temporary>,
    access: HashMap<String, Access>,
    /// (consumer, token, timestamp, nonce) seen within the window.
    nonces: HashSet<(String, String, i64, String)>,
    /// The clock second of the last prune.
    pruned_at: Option<i64>,
}

impl Store {
    /// Forgets nonces older than the window and request tokens past their lifetime, once per
    /// clock second: a second prune at the same `now` would find nothing (what was added since
    /// is within both limits), and a scan per request made every sign-in slower than the last.
    fn prune(&mut self, now: i64, window: i64) {
        if self.pruned_at == Some(now) {
            return;
        }
        self.pruned_at = Some(now);
        self.nonces.retain(|(_, _, ts, _)| now - ts <= window);
        self.temporary.retain(|_, t| now - t.created <= REQUEST_TOKEN_LIFETIME);
    }
}

struct Temporary {
    consumer: String,
    secret: String,
    callback: String,
    created: i64,
    grant: Option<Grant>,
    used: bool,
}

struct Grant {
    username: String,
    verifier: String,
}

struct Access {
    consumer: String,
    secret: String,
    username: String,
}

/// A refusal: its status and the plain-text cause.
struct Refusal(StatusCode, String);

impl Refusal {
    fn unauthorized(cause: impl Into<String>) -> Refusal {
        Refusal(StatusCode::UNAUTHORIZED, cause.into())
    }

    fn bad_request(cause: impl Into<String>) -> Refusal {
        Refusal(StatusCode::BAD_REQUEST, cause.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, [(CONTENT_TYPE, "text/plain; charset=utf-8")], self.1).into_response()
    }
}

/// Which token a signed request must carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    None,
    Temporary,
    Access,
}

/// A request whose signature, timestamp and nonce checked out.
struct Verified {
    consumer: String,
    token: Option<String>,
    /// Every parameter: query, form body and protocol parameters.
    params: Vec<(String, String)>,
}

impl Verified {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn text_pairs(text: &str) -> Vec<(String, String)> {
    form_pairs(text)
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

impl Provider {
    fn now(&self) -> i64 {
        (self.config.clock)()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads a signed request and checks it; the store stays locked for the handler.
    async fn signed(&self, request: Request, kind: TokenKind) -> Result<(MutexGuard<'_, Store>, Verified), Refusal> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| Refusal::bad_request(format!("the request body cannot be read ({e})")))?;
        let mut store = self.store();
        let verified = self.verify(&mut store, &parts.method, &parts.uri, &parts.headers, &body, kind)?;
        Ok((store, verified))
    }

    /// Checks an OAuth-signed request as received (RFC 5849 §3.2).
    fn verify(
        &self,
        store: &mut Store,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        kind: TokenKind,
    ) -> Result<Verified, Refusal> {
        let mut signed: Vec<(String, String)> = text_pairs(uri.query().unwrap_or(""));
        if is_form(headers) {
            signed.extend(text_pairs(&String::from_utf8_lossy(body)));
        }
        if let Some(header) = headers.get(axum::http::header::AUTHORIZATION) {
            let header = header.to_str().map_err(|_| Refusal::bad_request("the Authorization header is not text"))?;
            let oauth = authorization_params(header).map_err(|e| Refusal::bad_request(e.to_string()))?;
            if let Some((dup, _)) = oauth.iter().find(|(k, _)| signed.iter().any(|(s, _)| s == k)) {
                return Err(Refusal::bad_request(format!("{dup} is sent twice")));
            }
            signed.extend(oauth);
        }
        let get = |name: &str| signed.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let require = |name: &str| get(name).ok_or_else(|| Refusal::bad_request(format!("missing {name}")));
        let consumer_key = require("oauth_consumer_key")?;
        let method_name = require("oauth_signature_method")?;
        if method_name != "HMAC-SHA1" {
            return Err(Refusal::bad_request(format!("unsupported signature method '{method_name}'")));
        }
        if let Some(version) = get("oauth_version").filter(|v| v != "1.0") {
            return Err(Refusal::bad_request(format!("unsupported oauth_version '{version}'")));
        }
        let signature = require("oauth_signature")?;
        let nonce = require("oauth_nonce")?;
        let timestamp: i64 =
            require("oauth_timestamp")?.parse().map_err(|_| Refusal::bad_request("invalid oauth_timestamp"))?;
        let consumer = self
            .config
            .consumers
            .iter()
            .find(|c| c.key == consumer_key)
            .ok_or_else(|| Refusal::unauthorized("unknown consumer key"))?;
        let now = self.now();
        if now - timestamp > self.config.timestamp_window {
            return Err(Refusal::unauthorized("timestamp expired"));
        }
        if timestamp - now > self.config.timestamp_window {
            return Err(Refusal::unauthorized("timestamp is in the future"));
        }

        let token = get("oauth_token").filter(|t| !t.is_empty());
        let token_secret = match (kind, &token) {
            (TokenKind::None, _) => String::new(),
            (_, None) => return Err(Refusal::unauthorized("missing oauth_token")),
            (TokenKind::Temporary, Some(t)) => {
                let temp = store
                    .temporary
                    .get(t)
                    .filter(|temp| now - temp.created <= REQUEST_TOKEN_LIFETIME)
                    .ok_or_else(|| Refusal::unauthorized("unknown or expired oauth_token"))?;
                if temp.consumer != consumer.key {
                    return Err(Refusal::unauthorized("the oauth_token was issued to another consumer"));
                }
                temp.secret.clone()
            }
            (TokenKind::Access, Some(t)) => {
                let access =
                    store.access.get(t).ok_or_else(|| Refusal::unauthorized("unknown or revoked oauth_token"))?;
                if access.consumer != consumer.key {
                    return Err(Refusal::unauthorized("the oauth_token was issued to another consumer"));
                }
                access.secret.clone()
            }
        };

        // The base string URI from the request as received: the Host header, port included.
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| Refusal::bad_request("missing Host header"))?;
        let (base_uri, _) = base_string_uri(&format!("http://{host}{}", uri.path()))
            .map_err(|_| Refusal::bad_request("invalid Host header"))?;
        let params: Vec<(Vec<u8>, Vec<u8>)> = signed
            .iter()
            .filter(|(k, _)| k != "oauth_signature")
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
            .collect();
        let base = base_string(method.as_str(), &base_uri, &params);
        if !verify_hmac_sha1(&signing_key(&consumer.secret, &token_secret), &base, &signature) {
            return Err(Refusal::unauthorized("invalid signature"));
        }

        // Only a correctly signed request uses up its nonce; older entries can no longer replay.
        store.prune(now, self.config.timestamp_window);
        let seen = (consumer.key.clone(), token.clone().unwrap_or_default(), timestamp, nonce);
        if !store.nonces.insert(seen) {
            return Err(Refusal::unauthorized("nonce already used"));
        }
        Ok(Verified { consumer: consumer.key.clone(), token, params: signed })
    }

    fn user(&self, username: &str) -> Option<&TestUser> {
        self.config.users.iter().find(|u| u.username == username)
    }

    /// Approves the request token for `username` and sends the browser back to the client.
    fn grant(&self, store: &mut Store, token: &str, username: &str) -> Result<Response, Refusal> {
        let verifier = random_token()?;
        let temp = store.temporary.get_mut(token).ok_or_else(|| Refusal::bad_request("unknown oauth_token"))?;
        temp.grant = Some(Grant { username: username.to_owned(), verifier: verifier.clone() });
        if temp.callback == "oob" {
            return Ok(Html(format!("<p>Your PIN is <code>{}</code></p>", escape(&verifier))).into_response());
        }
        Ok(redirect(&temp.callback, &[("oauth_token", token), ("oauth_verifier", &verifier)]))
    }

    /// The temporary credentials a sign-in page is for, if they can still be approved.
    fn pending<'s>(&self, store: &'s Store, token: Option<&str>) -> Result<&'s Temporary, Refusal> {
        let token = token.ok_or_else(|| Refusal::bad_request("missing oauth_token"))?;
        let temp = store
            .temporary
            .get(token)
            .filter(|t| self.now() - t.created <= REQUEST_TOKEN_LIFETIME)
            .ok_or_else(|| Refusal::bad_request("unknown or expired oauth_token"))?;
        if temp.grant.is_some() || temp.used {
            return Err(Refusal::bad_request("the oauth_token was already authorized"));
        }
        Ok(temp)
    }

    /// X's page: the login fields and the Authorize / Cancel buttons in one form.
    fn page(&self, action: &str, token: &str, error: Option<&str>) -> Response {
        let hidden = [("oauth_token".to_owned(), token.to_owned())];
        let page = login_page(&format!("Sign in to {}", self.config.name), action, &hidden, error);
        let buttons = r#"<input type="submit" value="Authorize app" name="allow" id="allow"><input type="submit" value="Cancel" name="cancel" id="cancel"></form>"#;
        Html(page.replace(r#"<button type="submit">Sign in</button></form>"#, buttons)).into_response()
    }
}

/// 32 random bytes as hex: tokens, secrets, verifiers.
fn random_token() -> Result<String, Refusal> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)
        .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "no randomness available".to_owned()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn redirect(callback: &str, params: &[(&str, &str)]) -> Response {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v.as_bytes()))).collect();
    let separator = if callback.contains('?') { '&' } else { '?' };
    let location = format!("{callback}{separator}{}", query.join("&"));
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => Refusal::bad_request("the callback is not a valid header value").into_response(),
    }
}

fn form_response(pairs: &[(&str, &str)]) -> Response {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v.as_bytes()))).collect();
    ([(CONTENT_TYPE, "application/x-www-form-urlencoded")], body.join("&")).into_response()
}

fn is_callback(url: &str) -> bool {
    url == "oob" || base_string_uri(url).is_ok()
}

async fn request_token(State(p): State<Arc<Provider>>, request: Request) -> Result<Response, Refusal> {
    let (mut store, verified) = p.signed(request, TokenKind::None).await?;
    let callback = verified.param("oauth_callback").ok_or_else(|| Refusal::bad_request("missing oauth_callback"))?;
    if !is_callback(callback) {
        return Err(Refusal::bad_request("invalid oauth_callback"));
    }
    let (token, secret) = (random_token()?, random_token()?);
    let now = p.now();
    store.prune(now, p.config.timestamp_window);
    store.temporary.insert(
        token.clone(),
        Temporary {
            consumer: verified.consumer.clone(),
            secret: secret.clone(),
            callback: callback.to_owned(),
            created: now,
            grant: None,
            used: false,
        },
    );
    let mut pairs = vec![("oauth_token", token.as_str()), ("oauth_token_secret", secret.as_str())];
    if let Some(confirmed) = p.config.callback_confirmed.wire() {
        pairs.push(("oauth_callback_confirmed", confirmed));
    }
    Ok(form_response(&pairs))
}

async fn authorize_page(State(p): State<Arc<Provider>>, uri: Uri) -> Result<Response, Refusal> {
    let query = text_pairs(uri.query().unwrap_or(""));
    let token = query.iter().find(|(k, _)| k == "oauth_token").map(|(_, v)| v.as_str());
    let mut store = p.store();
    p.pending(&store, token)?;
    let token = token.unwrap_or_default();
    match &p.config.auto_login {
        Some(user) => p.grant(&mut store, token, user),
        None => Ok(p.page(uri.path(), token, None)),
    }
}

async fn authorize_submit(State(p): State<Arc<Provider>>, uri: Uri, body: Bytes) -> Result<Response, Refusal> {
    let form = text_pairs(&String::from_utf8_lossy(&body));
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let mut store = p.store();
    let callback = p.pending(&store, field("oauth_token"))?.callback.clone();
    let token = field("oauth_token").unwrap_or_default();
    if field("cancel").is_some() {
        store.temporary.remove(token);
        return Ok(redirect(&callback, &[("denied", token)]));
    }
    let (username, password) = (field("username").unwrap_or_default(), field("password").unwrap_or_default());
    match TestUser::authenticate(&p.config.users, username, password) {
        Some(user) => {
            let username = user.username.clone();
            p.grant(&mut store, token, &username)
        }
        None => Ok(p.page(uri.path(), token, Some("The username or password is incorrect."))),
    }
}

async fn access_token(State(p): State<Arc<Provider>>, request: Request) -> Result<Response, Refusal> {
    let (mut store, verified) = p.signed(request, TokenKind::Temporary).await?;
    let token = verified.token.clone().unwrap_or_default();
    let verifier = verified.param("oauth_verifier").ok_or_else(|| Refusal::bad_request("missing oauth_verifier"))?;
    let temp = store.temporary.get_mut(&token).ok_or_else(|| Refusal::unauthorized("unknown oauth_token"))?;
    if temp.used {
        return Err(Refusal::unauthorized("oauth_verifier already used"));
    }
    let Some(grant) = &temp.grant else {
        return Err(Refusal::unauthorized("the request token was not authorized by a user"));
    };
    if grant.verifier != verifier {
        return Err(Refusal::unauthorized("invalid oauth_verifier"));
    }
    temp.used = true;
    let username = grant.username.clone();
    let user = p.user(&username).ok_or_else(|| Refusal::unauthorized("the user no longer exists"))?;
    let (access, secret) = (random_token()?, random_token()?);
    store.access.insert(
        access.clone(),
        Access { consumer: verified.consumer.clone(), secret: secret.clone(), username: username.clone() },
    );
    let profile = Profile::of(user);
    Ok(form_response(&[
        ("oauth_token", &access),
        ("oauth_token_secret", &secret),
        ("user_id", &profile.user_id),
        ("screen_name", &profile.screen_name),
    ]))
}

async fn verify_credentials(State(p): State<Arc<Provider>>, request: Request) -> Result<Response, Refusal> {
    let (store, verified) = p.signed(request, TokenKind::Access).await?;
    let token = verified.token.clone().unwrap_or_default();
    let username = store.access.get(&token).map(|a| a.username.clone()).unwrap_or_default();
    let user = p.user(&username).ok_or_else(|| Refusal::unauthorized("the user no longer exists"))?;
    let with_email = verified.param("include_email").is_some_and(|v| v == "true");
    Ok(axum::Json(Profile::of(user).json(user, with_email)).into_response())
}

/// What the provider says about a user, Twitter's way.
struct Profile {
    user_id: String,
    screen_name: String,
}

impl Profile {
    fn of(user: &TestUser) -> Profile {
        let claim = |name: &str| user.claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Profile {
            user_id: claim("user_id").or_else(|| claim("id_str")).unwrap_or_else(|| user.subject()),
            screen_name: claim("screen_name").unwrap_or_else(|| user.username.clone()),
        }
    }

    /// verify_credentials.json: `id`/`id_str`, `screen_name`, `name`, the other claims, and
    /// `email` only when asked for.
    fn json(&self, user: &TestUser, with_email: bool) -> Value {
        let mut out = json!({
            "id_str": self.user_id,
            "screen_name": self.screen_name,
            "name": user.claims.get("name").cloned().unwrap_or_else(|| Value::String(self.screen_name.clone())),
        });
        out["id"] = self.user_id.parse::<u64>().map_or_else(|_| Value::String(self.user_id.clone()), Value::from);
        for (k, v) in &user.claims {
            if !matches!(k.as_str(), "user_id" | "id_str" | "screen_name" | "name" | "email" | "sub") {
                out[k.as_str()] = v.clone();
            }
        }
        if with_email && let Some(email) = user.claims.get("email") {
            out["email"] = email.clone();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    //! Requests signed by hand with the profile's signer, sent with reqwest; the whole journey
    //! through the executor is in `tests/oauth1_embedded.rs`.

    use super::*;
    use ief_protocols::oauth1::{Credentials, SignInput, Signer};

    const NOW: i64 = 1_704_067_200;

    fn config() -> OAuth1Config {
        let mut config = OAuth1Config::new("ck", "cs");
        config.users = vec![TestUser {
            username: "alice".into(),
            password: "pw".into(),
            claims: serde_json::from_value(json!({"user_id": "42", "email": "alice@example.com", "name": "Alice"}))
                .unwrap(),
        }];
        config.clock = Arc::new(|| NOW);
        config
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
    }

    fn sign(signer: &Signer, method: &str, url: &str, nonce: &str, extra: SignInput<'_>) -> String {
        signer.sign(&SignInput { method, url, nonce, timestamp: NOW as u64, ..extra }).unwrap()
    }

    async fn post(url: &str, authorization: &str) -> (u16, String) {
        let r = client()
            .post(url)
            .header("authorization", authorization)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    fn field(body: &str, name: &str) -> String {
        text_pairs(body).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
    }

    #[tokio::test]
    async fn request_tokens_need_a_valid_signature_a_fresh_nonce_and_a_callback() {
        let idp = start(config()).await.unwrap();
        let url = format!("{}{REQUEST_TOKEN_PATH}", idp.url());
        let good = Signer::new(Credentials::new("ck", "cs"));
        let cb = SignInput { callback: Some("https://localhost/cb"), ..SignInput::default() };

        let header = sign(&good, "POST", &url, "n1", cb);
        let (status, body) = post(&url, &header).await;
        assert_eq!(status, 200, "{body}");
        assert!(!field(&body, "oauth_token").is_empty() && !field(&body, "oauth_token_secret").is_empty());
        assert_eq!(field(&body, "oauth_callback_confirmed"), "true");
        assert_eq!(post(&url, &header).await, (401, "nonce already used".to_owned()));

        let wrong = Signer::new(Credentials::new("ck", "not-the-secret"));
        assert_eq!(post(&url, &sign(&wrong, "POST", &url, "n2", cb)).await, (401, "invalid signature".to_owned()));
        let stranger = Signer::new(Credentials::new("who", "cs"));
        assert_eq!(
            post(&url, &sign(&stranger, "POST", &url, "n3", cb)).await,
            (401, "unknown consumer key".to_owned())
        );
        let no_callback = sign(&good, "POST", &url, "n4", SignInput::default());
        assert_eq!(post(&url, &no_callback).await, (400, "missing oauth_callback".to_owned()));

        // Signed for another authority (no port): the Host header the server saw differs.
        let elsewhere = sign(&good, "POST", &format!("http://127.0.0.1{REQUEST_TOKEN_PATH}"), "n5", cb);
        assert_eq!(post(&url, &elsewhere).await, (401, "invalid signature".to_owned()));

        let old = good
            .sign(&SignInput { method: "POST", url: &url, nonce: "n6", timestamp: (NOW - 301) as u64, ..cb })
            .unwrap();
        assert_eq!(post(&url, &old).await, (401, "timestamp expired".to_owned()));
        let ahead = good
            .sign(&SignInput { method: "POST", url: &url, nonce: "n7", timestamp: (NOW + 301) as u64, ..cb })
            .unwrap();
        assert_eq!(post(&url, &ahead).await, (401, "timestamp is in the future".to_owned()));

        let plaintext = "OAuth oauth_consumer_key=\"ck\", oauth_signature_method=\"PLAINTEXT\", oauth_signature=\"cs%26\", oauth_timestamp=\"1704067200\", oauth_nonce=\"n8\", oauth_callback=\"oob\"";
        assert_eq!(post(&url, plaintext).await, (400, "unsupported signature method 'PLAINTEXT'".to_owned()));
        assert_eq!(post(&url, "Bearer x").await.0, 400);
    }

    #[tokio::test]
    async fn the_whole_dance_with_single_use_verifiers_and_signed_query_parameters() {
        let mut config = config();
        config.auto_login = Some("alice".into());
        let idp = start(config).await.unwrap();
        let base = idp.url();
        let consumer = Signer::new(Credentials::new("ck", "cs"));
        let cb = SignInput { callback: Some("https://localhost/t/p/oauth1/authresp"), ..SignInput::default() };
        let url = format!("{base}{REQUEST_TOKEN_PATH}");
        let (_, body) = post(&url, &sign(&consumer, "POST", &url, "a1", cb)).await;
        let (temp, temp_secret) = (field(&body, "oauth_token"), field(&body, "oauth_token_secret"));

        let response = client().get(format!("{base}{AUTHENTICATE_PATH}?oauth_token={temp}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (callback, query) = location.split_once('?').unwrap();
        assert_eq!(callback, "https://localhost/t/p/oauth1/authresp");
        assert_eq!(field(query, "oauth_token"), temp);
        let verifier = field(query, "oauth_verifier");

        let url = format!("{base}{ACCESS_TOKEN_PATH}");
        let with_temp = consumer.clone().with_token(Credentials::new(&temp, &temp_secret));
        let wrong_verifier = SignInput { verifier: Some("nope"), ..SignInput::default() };
        assert_eq!(
            post(&url, &sign(&with_temp, "POST", &url, "b0", wrong_verifier)).await,
            (401, "invalid oauth_verifier".to_owned())
        );
        let exchange = SignInput { verifier: Some(&verifier), ..SignInput::default() };
        let forged = consumer.clone().with_token(Credentials::new(&temp, "guessed"));
        assert_eq!(
            post(&url, &sign(&forged, "POST", &url, "b1", exchange)).await,
            (401, "invalid signature".to_owned())
        );
        let (status, body) = post(&url, &sign(&with_temp, "POST", &url, "b2", exchange)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((field(&body, "user_id").as_str(), field(&body, "screen_name").as_str()), ("42", "alice"));
        assert_eq!(
            post(&url, &sign(&with_temp, "POST", &url, "b3", exchange)).await,
            (401, "oauth_verifier already used".to_owned())
        );

        let with_access =
            consumer.with_token(Credentials::new(field(&body, "oauth_token"), field(&body, "oauth_token_secret")));
        let get = |url: String, nonce: &'static str| {
            let header = sign(&with_access, "GET", &url, nonce, SignInput::default());
            async move {
                let r = client().get(&url).header("authorization", header).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, body) = get(format!("{base}{VERIFY_CREDENTIALS_PATH}?include_email=true"), "c1").await;
        assert_eq!(status, 200, "{body}");
        let profile: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(profile["id"], json!(42));
        assert_eq!(profile["id_str"], "42");
        assert_eq!(profile["screen_name"], "alice");
        assert_eq!(profile["name"], "Alice");
        assert_eq!(profile["email"], "alice@example.com");
        let (_, body) = get(format!("{base}{VERIFY_CREDENTIALS_PATH}"), "c2").await;
        assert!(serde_json::from_str::<Value>(&body).unwrap().get("email").is_none(), "{body}");

        // The query is signed: changing it after signing breaks the signature.
        let signed_for = format!("{base}{VERIFY_CREDENTIALS_PATH}?include_email=false");
        let header = sign(&with_access, "GET", &signed_for, "c3", SignInput::default());
        let tampered = client()
            .get(format!("{base}{VERIFY_CREDENTIALS_PATH}?include_email=true"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(tampered.status().as_u16(), 401);
        assert_eq!(tampered.text().await.unwrap(), "invalid signature");
    }

    #[tokio::test]
    async fn the_sign_in_page_checks_passwords_and_offers_to_deny() {
        let idp = start(config()).await.unwrap();
        let base = idp.url();
        let url = format!("{base}{REQUEST_TOKEN_PATH}");
        let consumer = Signer::new(Credentials::new("ck", "cs"));
        let cb = SignInput { callback: Some("https://localhost/cb?x=1"), ..SignInput::default() };
        let (_, body) = post(&url, &sign(&consumer, "POST", &url, "p1", cb)).await;
        let temp = field(&body, "oauth_token");

        let page = client().get(format!("{base}{AUTHORIZE_PATH}?oauth_token={temp}")).send().await.unwrap();
        let page = page.text().await.unwrap();
        assert!(page.contains("Sign in to Twitter") && page.contains(r#"name="password""#), "{page}");
        assert!(page.contains(&format!(r#"value="{temp}""#)) && page.contains(r#"name="cancel""#), "{page}");
        assert_eq!(page.matches("<form").count(), 1, "X's page has one form: {page}");

        let action = format!("{base}{AUTHORIZE_PATH}");
        let submit = |form: String| {
            let action = action.clone();
            async move {
                client()
                    .post(action)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let wrong = submit(format!("oauth_token={temp}&username=alice&password=nope")).await;
        assert!(wrong.text().await.unwrap().contains("The username or password is incorrect."));
        let denied = submit(format!("oauth_token={temp}&username=&password=&cancel=Cancel")).await;
        assert_eq!(denied.status().as_u16(), 302);
        assert_eq!(denied.headers()["location"], format!("https://localhost/cb?x=1&denied={temp}").as_str());
        // A denied token is gone.
        let again = submit(format!("oauth_token={temp}&username=alice&password=pw")).await;
        assert_eq!(again.status().as_u16(), 400);
    }

    #[test]
    fn pruning_runs_once_per_clock_second_and_keeps_what_is_still_valid() {
        let nonce = |ts: i64, n: &str| ("ck".to_owned(), String::new(), ts, n.to_owned());
        let temporary = |created: i64| Temporary {
            consumer: "ck".into(),
            secret: "s".into(),
            callback: "https://localhost/cb".into(),
            created,
            grant: None,
            used: false,
        };
        let mut store = Store::default();
        store.nonces.insert(nonce(NOW - 301, "old"));
        store.nonces.insert(nonce(NOW - 300, "edge"));
        store.temporary.insert("old".into(), temporary(NOW - REQUEST_TOKEN_LIFETIME - 1));
        store.temporary.insert("fresh".into(), temporary(NOW));
        store.prune(NOW, 300);
        assert_eq!(store.nonces.len(), 1, "the nonce past the window goes, the one at its edge stays");
        assert!(store.nonces.contains(&nonce(NOW - 300, "edge")));
        assert_eq!(store.temporary.keys().collect::<Vec<_>>(), ["fresh"]);
        // Within the same second nothing is scanned again (a planted stale entry survives)...
        store.nonces.insert(nonce(NOW - 1000, "planted"));
        store.prune(NOW, 300);
        assert_eq!(store.nonces.len(), 2);
        // ...and the next second removes it, with the edge nonce now past the window.
        store.prune(NOW + 1, 300);
        assert!(store.nonces.is_empty(), "{:?}", store.nonces);
        assert_eq!(store.temporary.len(), 1);
    }

    #[test]
    fn configuration_reads_yaml_and_is_checked() {
        let config: OAuth1Config = serde_yaml_ng::from_str(
            "consumers: [{key: ck, secret: cs}]\ncallback_confirmed: \"True\"\nusers: [{username: a, password: p}]\nauto_login: a\n",
        )
        .unwrap();
        assert_eq!(config.callback_confirmed, CallbackConfirmed::TitleCaseTrue);
        assert!(config.check().is_ok());
        let debug = format!("{config:?}");
        assert!(debug.contains("ck") && !debug.contains("\"cs\""), "{debug}");
        for (yaml, expected) in [
            ("true", CallbackConfirmed::True),
            ("1", CallbackConfirmed::One),
            ("omit", CallbackConfirmed::Omitted),
            ("false", CallbackConfirmed::False),
        ] {
            let c: OAuth1Config =
                serde_yaml_ng::from_str(&format!("consumers: [{{key: k, secret: s}}]\ncallback_confirmed: {yaml}"))
                    .unwrap();
            assert_eq!(c.callback_confirmed, expected, "{yaml}");
        }
        assert!(serde_yaml_ng::from_str::<OAuth1Config>("consumers: []\ncallback_confirmed: yes").is_err());
        let mut bad = config.clone();
        bad.auto_login = Some("nobody".into());
        assert!(matches!(bad.check(), Err(ProviderError::Config(m)) if m.contains("nobody")));
        bad.consumers.clear();
        assert!(matches!(bad.check(), Err(ProviderError::Config(m)) if m.contains("no consumers")));
    }
}
