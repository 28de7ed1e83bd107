//! Embedded test identity providers: real HTTP servers on 127.0.0.1 that journeys federate
//! with in tests, the demo and `ief idp serve`. They verify what a real provider verifies
//! (client authentication, signatures, nonces, codes), with test users from their configuration.

mod client_auth;
pub mod oauth1;
pub mod oauth2;
pub mod oidc;
pub mod pki;
pub mod tls;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// Seconds since the Unix epoch, as the providers see time. Deterministic scenario runs share
/// their fixed clock with the providers, so tokens minted "now" validate "now".
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

/// A user who can sign in at a test provider.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestUser {
    pub username: String,
    pub password: String,
    /// Claims the provider releases about the user (`sub` defaults to the username).
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl TestUser {
    /// Finds the user a login form names, if the password matches.
    pub fn authenticate<'a, U: std::borrow::Borrow<TestUser>>(
        users: &'a [U],
        username: &str,
        password: &str,
    ) -> Option<&'a U> {
        users.iter().find(|u| u.borrow().username == username && u.borrow().password == password)
    }

    pub fn subject(&self) -> String {
        self.claims.get("sub").and_then(|v| v.as_str()).unwrap_or(&self.username).to_owned()
    }
}

/// A server on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct Served {
    pub addr: SocketAddr,
    scheme: &'static str,
    task: tokio::task::JoinHandle<()>,
    handshakes: Arc<AtomicU64>,
}

impl Served {
    /// Serves `router` over plain HTTP on an ephemeral loopback port.
    pub async fn http(router: axum::Router) -> std::io::Result<Served> {
        Served::http_on(tokio::net::TcpListener::bind("127.0.0.1:0").await?, router)
    }

    /// Serves `router` over plain HTTP on `listener` (from [`Served::listen`]), so a caller can
    /// learn the URL before it builds the router.
    pub fn http_on(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<Served> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Served { addr, scheme: "http", task, handshakes: Arc::default() })
    }

    /// Listens on 127.0.0.1:`port` (0 for an ephemeral port), so a provider knows its URL
    /// before it builds its router.
    pub async fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await
    }

    /// Serves `router` over HTTPS on `listener` (from [`Served::listen`]). Client certificates
    /// are optional and reach handlers as the [`tls::TlsPeer`] request extension.
    pub fn https(
        listener: tokio::net::TcpListener,
        router: axum::Router,
        tls: tls::ServerTls,
    ) -> std::io::Result<Served> {
        let addr = listener.local_addr()?;
        let handshakes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(tls::serve(listener, router, tls, handshakes.clone()));
        Ok(Served { addr, scheme: "https", task, handshakes })
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TLS handshakes completed so far (always 0 over plain HTTP): clients that keep their
    /// connections alive make one per connection, not one per request.
    pub fn tls_handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// The base URL, `http://` or `https://` as served.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sign-in form every test provider shows: `username` and `password` fields, the
/// authorization request carried in hidden fields, an error line after a failed attempt.
/// The headless user agent fills forms like this one from a scenario.
pub fn login_page(title: &str, action: &str, hidden: &[(String, String)], error: Option<&str>) -> String {
    let hidden: String = hidden
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    let error = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape(e))).unwrap_or_default();
    format!(
        r#"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{error}<form method="post" action="{action}">{hidden}<label>Username <input name="username" autocomplete="username"></label><label>Password <input type="password" name="password"></label><button type="submit">Sign in</button></form></body></html>"#,
        title = escape(title),
        action = escape(action),
    )
}

/// The page that returns a `response_mode=form_post` response: a form posted on load.
pub fn form_post_page(action: &str, fields: &[(String, String)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    format!(
        r#"<!DOCTYPE html><html><head><title>Submit This Form</title></head><body onload="javascript:document.forms[0].submit()"><form method="post" action="{}">{inputs}<noscript><button type="submit">Continue</button></noscript></form></body></html>"#,
        escape(action)
    )
}

/// HTML text and attribute escaping.
pub use ief_protocols::escape_html as escape;

/// The page of a request that cannot be answered at its redirect URI (RFC 6749 §4.1.2.1).
fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Sign-in error</title></head><body><h1>Sign-in error</h1><p class=\"error\">{}</p></body></html>",
        escape(message)
    );
    (status, Html(body)).into_response()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// Form or query parameters in order, repeated ones kept (RFC 6749 §3.1: none may repeat).
/// Names and values borrow the request's bytes; only an escaped one is decoded into a copy.
struct Params<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Params<'a> {
    fn parse(bytes: &'a [u8]) -> Params<'a> {
        Params(form_urlencoded::parse(bytes).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// The first parameter that appears more than once.
    fn repeated(&self) -> Option<&str> {
        let mut names = self.0.iter().map(|(k, _)| k.as_ref());
        // A request's dozen parameters are compared pairwise; a long form is hashed.
        if self.0.len() <= 16 {
            return names.enumerate().find(|&(i, k)| self.0[..i].iter().any(|(seen, _)| seen == k)).map(|(_, k)| k);
        }
        let mut seen = std::collections::HashSet::new();
        names.find(|k| !seen.insert(*k))
    }
}

/// An error answer of a token endpoint (RFC 6749 §5.2) or of a protected resource (RFC 6750
/// §3); each provider renders it its own way.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// A `WWW-Authenticate` challenge to send along.
    authenticate: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, description: description.into(), authenticate: None }
    }

    fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn unsupported_grant_type(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }

    fn server_error(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", description)
    }

    /// RFC 6750 §3: a refused bearer token, with its challenge.
    fn invalid_token(description: impl Into<String>) -> OAuthError {
        let description = description.into();
        let challenge =
            format!("Bearer error=\"invalid_token\", error_description=\"{}\"", description.replace(['"', '\\'], "'"));
        OAuthError {
            authenticate: Some(challenge),
            ..OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        }
    }
}

impl From<client_auth::SecretError> for OAuthError {
    fn from(e: client_auth::SecretError) -> OAuthError {
        OAuthError::invalid_client(e.to_string())
    }
}

impl From<client_auth::AssertionError> for OAuthError {
    fn from(e: client_auth::AssertionError) -> OAuthError {
        OAuthError::invalid_client(e.to_string())
    }
}

fn default_token_lifetime() -> i64 {
    3600
}

/// 32 random bytes, base64url: codes and tokens. `None` without OS randomness.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// A Unix time as RFC 3339 (UTC), for messages.
fn time_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeated_parameter_is_named_in_short_and_long_forms() {
        fn params(text: &str) -> Params<'_> {
            Params::parse(text.as_bytes())
        }
        assert_eq!(params("a=1&b=2&c=3").repeated(), None);
        assert_eq!(params("a=1&b=2&b=3&a=4").repeated(), Some("b"));
        let long: Vec<String> = (0..40).map(|i| format!("p{i}=x")).collect();
        assert_eq!(params(&long.join("&")).repeated(), None);
        assert_eq!(params(&format!("{}&p7=y&p3=z", long.join("&"))).repeated(), Some("p7"));
    }

    #[test]
    fn pages_escape_what_they_echo() {
        let page = login_page("Sign in", "/login", &[("state".into(), r#"a"><script>"#.into())], Some("<b>no</b>"));
        assert!(page.contains(r#"value="a&quot;&gt;&lt;script&gt;""#), "{page}");
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(!page.contains("<script>"));
        let post = form_post_page("https://x/cb?a=1&b=2", &[("code".into(), "c&d".into())]);
        assert!(post.contains(r#"action="https://x/cb?a=1&amp;b=2""#));
        assert!(post.contains(r#"value="c&amp;d""#));
    }

    #[test]
    fn users_authenticate_by_name_and_password() {
        let users = vec![TestUser { username: "alice".into(), password: "pw".into(), claims: Default::default() }];
        assert!(TestUser::authenticate(&users, "alice", "pw").is_some());
        assert!(TestUser::authenticate(&users, "alice", "PW").is_none());
        assert_eq!(users[0].subject(), "alice");
    }
}
