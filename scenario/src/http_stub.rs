//! `http_stubs`: loopback HTTP endpoints a scenario's REST profiles call. A stub matches on
//! path (or, standing in for a real API, on its absolute URL), and optionally method, query
//! parameters and JSON body members; it answers once per request from its `responses` in turn
//! (the last repeats), or always with `status`/`body`. Every request is recorded, so a run's
//! report shows what a profile sent and `expect.requests` can assert it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use ief_protocols::federation::http::StubbedOrigins;

use super::ScenarioError;
use super::redact::REDACTED;

/// Where a call to a stubbed origin arrives: `/{ORIGIN_PREFIX}{n}/path`, `n` the origin's index.
const ORIGIN_PREFIX: &str = "/.ief-origin-";

/// One stub endpoint as written in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStub {
    /// A path under `{Settings:IefStubUrl}`.
    pub path: Option<String>,
    /// Or the absolute URL of a real API (a mail provider's): the REST profiles' calls to its
    /// origin come to the stubs instead.
    pub url: Option<String>,
    /// Only requests with this method (any when absent).
    pub method: Option<String>,
    /// Query parameters the request must carry, with these values.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON members the request body must hold (a subset: other members may be there too).
    pub match_body: Option<serde_yaml_ng::Value>,
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The JSON answered; absent means an empty body.
    pub body: Option<serde_yaml_ng::Value>,
    /// Answers in turn, one per matching request; the last one repeats. Replaces status/body.
    #[serde(default)]
    pub responses: Vec<StubResponse>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubResponse {
    #[serde(default = "ok_status")]
    pub status: u16,
    pub body: Option<serde_yaml_ng::Value>,
}

fn ok_status() -> u16 {
    200
}

/// A request a stub server received, as a report shows it: credentials redacted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON as sent, a form as an object of its fields, other text as a string.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub body: Value,
    /// The status answered (404 when no stub matched).
    pub status: u16,
}

/// What a scenario expects of one recorded request: the listed parts must match.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequestExpect {
    pub path: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Header names in any case; values exactly (credentials included: they never reach a report).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Members the body must hold.
    pub body: Option<serde_yaml_ng::Value>,
}

/// Headers that say how HTTP carried the request, not what the profile sent.
const TRANSPORT_HEADERS: [&str; 6] =
    ["host", "content-length", "accept-encoding", "connection", "accept", "user-agent"];

/// Recorded requests with their credentials, kept for `expect.requests`.
#[derive(Debug, Clone)]
struct Received {
    request: RecordedRequest,
    raw_headers: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Shared {
    stubs: Vec<(HttpStub, AtomicUsize)>,
    /// The origins (`https://api.example.com`) of the stubs with a `url`.
    origins: Vec<String>,
    received: Mutex<Vec<Received>>,
}

/// A loopback HTTP server with canned responses; it stops when dropped.
#[derive(Debug)]
pub(super) struct StubServer {
    pub(super) url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl StubServer {
    pub(super) async fn start(stubs: &[HttpStub]) -> Result<StubServer, ScenarioError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ScenarioError::Setup(format!("cannot serve the HTTP stubs on 127.0.0.1: {e}")))?;
        let addr = listener.local_addr().map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let mut origins: Vec<String> = Vec::new();
        for stub in stubs {
            if let Some(origin) = stub_origin(stub)?
                && !origins.contains(&origin)
            {
                origins.push(origin);
            }
        }
        let shared = Arc::new(Shared {
            stubs: stubs.iter().map(|s| (s.clone(), AtomicUsize::new(0))).collect(),
            origins,
            received: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new().fallback(answer).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(StubServer { url: format!("http://{addr}"), shared, task })
    }

    /// The origins the stubs stand in for, each routed to this server (for the REST profiles).
    pub(super) fn stubbed_origins(&self) -> StubbedOrigins {
        let routes = self.shared.origins.iter().enumerate();
        StubbedOrigins(routes.map(|(n, origin)| (origin.clone(), format!("{}{ORIGIN_PREFIX}{n}", self.url))).collect())
    }

    /// The requests received since the last call, and a mismatch with `expect` if there is one.
    pub(super) fn take(&self, expect: Option<&[RequestExpect]>) -> (Vec<RecordedRequest>, Option<String>) {
        let received = std::mem::take(&mut *self.shared.received.lock().unwrap_or_else(|e| e.into_inner()));
        let mismatch = expect.and_then(|expect| check(&received, expect));
        (received.into_iter().map(|r| r.request).collect(), mismatch)
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = body_value(&parts.headers, &text);
    let method = parts.method.as_str().to_owned();
    // A call routed from a stubbed origin is shown, and matched, by the URL it was sent to.
    let routed = parts.uri.path().strip_prefix(ORIGIN_PREFIX).and_then(|rest| {
        let (n, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Some(format!("{}{path}", shared.origins.get(n.parse::<usize>().ok()?)?))
    });
    let path = routed.clone().unwrap_or_else(|| parts.uri.path().to_owned());
    let matched = shared.stubs.iter().find(|(stub, _)| {
        (if routed.is_some() { stub.url.as_ref() } else { stub.path.as_ref() }) == Some(&path)
            && stub.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&method))
            && stub.query.iter().all(|(k, v)| query.get(k) == Some(v))
            && stub.match_body.as_ref().is_none_or(|want| contains(&body, &yaml_json(want)))
    });
    let (status, reply) = match matched {
        Some((stub, count)) => {
            let n = count.fetch_add(1, Ordering::SeqCst);
            match stub.responses.get(n.min(stub.responses.len().saturating_sub(1))) {
                Some(r) => (r.status, r.body.as_ref().map(yaml_json)),
                None => (stub.status, stub.body.as_ref().map(yaml_json)),
            }
        }
        None => (404, Some(serde_json::json!({"error": format!("no http_stub matches {method} {path}")}))),
    };
    let raw_headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(name, _)| !TRANSPORT_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let recorded = RecordedRequest {
        method,
        path,
        query,
        headers: raw_headers.iter().map(|(k, v)| (k.clone(), shown_header(k, v))).collect(),
        body: redact_body(body),
        status,
    };
    shared.received.lock().unwrap_or_else(|e| e.into_inner()).push(Received { request: recorded, raw_headers });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match reply {
        Some(json) => (status, axum::Json(json)).into_response(),
        None => (status, Body::empty()).into_response(),
    }
}

/// The origin a stub with a `url` stands in for; an error for a stub with neither or both of
/// `path` and `url`, or a `url` that is not an absolute http(s) URL.
fn stub_origin(stub: &HttpStub) -> Result<Option<String>, ScenarioError> {
    let url = match (&stub.path, &stub.url) {
        (Some(path), None) if path.starts_with('/') => return Ok(None),
        (Some(path), None) => {
            return Err(ScenarioError::Setup(format!(
                "http_stubs: path '{path}' does not start with '/' (an absolute URL goes in `url`)"
            )));
        }
        (None, Some(url)) => url,
        _ => return Err(ScenarioError::Setup("http_stubs: each stub needs one of `path` and `url`".to_owned())),
    };
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .filter(|u| u.query().is_none() && u.fragment().is_none());
    match parsed {
        // Written as the profiles' URLs print (default port left out), so they compare alike.
        Some(u) if u.as_str() == url => Ok(Some(u.origin().ascii_serialization())),
        _ => Err(ScenarioError::Setup(format!(
            "http_stubs: url '{url}' is not an absolute http(s) URL without query or fragment, written as a URL \
             prints it (lower-case host, no default port)"
        ))),
    }
}

/// The JSON form of a YAML value.
fn yaml_json(value: &serde_yaml_ng::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn body_value(headers: &HeaderMap, text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    if let Ok(json) = serde_json::from_str(text) {
        return json;
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        let fields: serde_json::Map<String, Value> =
            form_urlencoded::parse(text.as_bytes()).into_owned().map(|(k, v)| (k, Value::String(v))).collect();
        return Value::Object(fields);
    }
    Value::String(text.to_owned())
}

/// A header as a report shows it: the content type as sent, an authorization's scheme only,
/// anything else (API keys travel in custom headers) redacted.
fn shown_header(name: &str, value: &str) -> String {
    match name {
        "content-type" => value.to_owned(),
        "authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {REDACTED}"),
            None => REDACTED.to_owned(),
        },
        _ => REDACTED.to_owned(),
    }
}

/// Members whose names say they hold a credential (a password, secret or token, a one-time
/// code or OTP) are redacted, at any depth.
fn redact_body(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = ["password", "secret", "token", "otp"].iter().any(|s| lower.contains(s))
                        || lower.ends_with("code");
                    let v = if secret && !v.is_null() { Value::String(REDACTED.to_owned()) } else { redact_body(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_body).collect()),
        other => other,
    }
}

/// Whether `actual` holds `expected`: objects by member (others may be there too), arrays item
/// by item, scalars equal (a YAML string matches a number or boolean of the same text).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (Value::Array(a), Value::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev)),
        (Value::Number(n), Value::String(e)) => e.parse::<serde_json::Number>().is_ok_and(|e| e == *n),
        (Value::Bool(b), Value::String(e)) => e.parse::<bool>().is_ok_and(|e| e == *b),
        _ => actual == expected,
    }
}

/// The first difference between the requests received and the ones expected.
fn check(received: &[Received], expect: &[RequestExpect]) -> Option<String> {
    if received.len() != expect.len() {
        let got: Vec<String> = received.iter().map(|r| format!("{} {}", r.request.method, r.request.path)).collect();
        return Some(format!(
            "expected {} request(s) to the HTTP stubs, got {}: {}",
            expect.len(),
            received.len(),
            if got.is_empty() { "none".to_owned() } else { got.join(", ") }
        ));
    }
    for (i, (r, e)) in received.iter().zip(expect).enumerate() {
        let n = i + 1;
        let req = &r.request;
        if let Some(path) = e.path.as_ref().filter(|p| **p != req.path) {
            return Some(format!("request {n}: expected path {path}, got {}", req.path));
        }
        if let Some(method) = e.method.as_ref().filter(|m| !m.eq_ignore_ascii_case(&req.method)) {
            return Some(format!("request {n}: expected method {method}, got {}", req.method));
        }
        for (k, v) in &e.query {
            if req.query.get(k) != Some(v) {
                return Some(format!("request {n}: expected query {k}={v}, got {:?}", req.query.get(k)));
            }
        }
        for (k, v) in &e.headers {
            let got = r.raw_headers.get(&k.to_ascii_lowercase());
            if got != Some(v) {
                // The value may be a credential: say only that it differs.
                let what = if got.is_some() { "a different value" } else { "none" };
                return Some(format!("request {n}: header {k} does not have the expected value (got {what})"));
            }
        }
        if let Some(body) = &e.body {
            let want = yaml_json(body);
            // Credential members are compared as `[redacted]`: only their presence can be asserted.
            if !contains(&req.body, &want) {
                return Some(format!("request {n}: the body {} does not hold {want}", req.body));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_match_by_subset() {
        let actual =
            json!({"email": "bob@contoso.com", "tier": 2, "ok": true, "list": ["a", "b"], "n": {"x": 1, "y": 2}});
        assert!(contains(&actual, &json!({"email": "bob@contoso.com"})));
        assert!(contains(&actual, &json!({"tier": "2", "ok": "true", "n": {"x": 1}})));
        assert!(contains(&actual, &json!({"list": ["a", "b"]})));
        assert!(!contains(&actual, &json!({"list": ["a"]})));
        assert!(!contains(&actual, &json!({"email": "eve@contoso.com"})));
        assert!(!contains(&actual, &json!({"missing": null})));
    }

    fn received(headers: &[(&str, &str)], body: Value) -> Received {
        let raw_headers: BTreeMap<String, String> =
            headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Received {
            request: RecordedRequest {
                method: "POST".to_owned(),
                path: "/api/signin".to_owned(),
                query: BTreeMap::new(),
                headers: raw_headers.iter().map(|(k, v)| (k.clone(), shown_header(k, v))).collect(),
                body: redact_body(body),
                status: 200,
            },
            raw_headers,
        }
    }

    fn expect(yaml: &str) -> Vec<RequestExpect> {
        serde_yaml_ng::from_str(yaml).expect("expectations")
    }

    #[test]
    fn expectations_check_credentials_without_showing_them() {
        let got = [received(&[("authorization", "Basic dXNlcjpwYXNz")], json!({"username": "bob", "password": "x"}))];
        let ok = expect(
            "[{method: post, path: /api/signin, headers: {Authorization: Basic dXNlcjpwYXNz}, body: {username: bob, password: '[redacted]'}}]",
        );
        assert_eq!(check(&got, &ok), None);
        let wrong = expect("[{headers: {authorization: Basic b3RoZXI6cGFzcw==}}]");
        let message = check(&got, &wrong).expect("a mismatch");
        assert_eq!(message, "request 1: header authorization does not have the expected value (got a different value)");
        assert!(!message.contains("dXNlcjpwYXNz"));
        let missing = expect("[{headers: {x-api-key: k}}]");
        assert!(check(&got, &missing).is_some_and(|m| m.ends_with("(got none)")));
        let count = check(&got, &expect("[{path: /api/signin}, {path: /api/audit}]")).expect("a mismatch");
        assert_eq!(count, "expected 2 request(s) to the HTTP stubs, got 1: POST /api/signin");
        let method = check(&got, &expect("[{method: GET}]")).expect("a mismatch");
        assert_eq!(method, "request 1: expected method GET, got POST");
    }

    #[test]
    fn reports_show_no_credentials() {
        assert_eq!(shown_header("authorization", "Basic dXNlcjpwYXNz"), "Basic [redacted]");
        assert_eq!(shown_header("ocp-apim-subscription-key", "s3cret"), "[redacted]");
        assert_eq!(shown_header("content-type", "application/json"), "application/json");
        let body = redact_body(
            json!({"email": "a@b.c", "newPassword": "x", "inner": {"client_secret": "y"}, "code": "012345"}),
        );
        assert_eq!(
            body,
            json!({"email": "a@b.c", "newPassword": "[redacted]", "inner": {"client_secret": "[redacted]"}, "code": "[redacted]"})
        );
    }

    fn stub(path: Option<&str>, url: Option<&str>) -> HttpStub {
        HttpStub {
            path: path.map(str::to_owned),
            url: url.map(str::to_owned),
            method: None,
            query: BTreeMap::new(),
            match_body: None,
            status: 200,
            body: None,
            responses: Vec::new(),
        }
    }

    #[test]
    fn a_stub_has_a_path_or_the_url_of_the_api_it_stands_in_for() {
        assert_eq!(stub_origin(&stub(Some("/loyalty"), None)).ok(), Some(None));
        let sendgrid = stub_origin(&stub(None, Some("https://api.sendgrid.com/v3/mail/send"))).ok();
        assert_eq!(sendgrid, Some(Some("https://api.sendgrid.com".to_owned())));
        let port = stub_origin(&stub(None, Some("http://api.example.com:8080/x"))).ok();
        assert_eq!(port, Some(Some("http://api.example.com:8080".to_owned())));
        let refused = |s: HttpStub| match stub_origin(&s) {
            Err(ScenarioError::Setup(message)) => message,
            other => panic!("expected a setup error, got {other:?}"),
        };
        assert!(refused(stub(None, None)).contains("one of `path` and `url`"));
        assert!(refused(stub(Some("/a"), Some("https://a.example/b"))).contains("one of `path` and `url`"));
        assert!(refused(stub(Some("https://a.example/b"), None)).contains("goes in `url`"));
        let bad = [
            "/v3/mail/send",
            "ftp://a.example/b",
            "https://a.example/b?x=1",
            "https://a.example/b#f",
            "https://A.example:443/b",
        ];
        for bad in bad {
            assert!(refused(stub(None, Some(bad))).contains(&format!("url '{bad}'")), "{bad}");
        }
    }

    #[tokio::test]
    async fn calls_to_a_stubbed_origin_are_matched_and_shown_by_their_url() {
        let mut mail = stub(None, Some("https://api.sendgrid.com/v3/mail/send"));
        mail.status = 202;
        let server = StubServer::start(&[stub(Some("/loyalty"), None), mail]).await.expect("stubs");
        let origins = server.stubbed_origins();
        let routed = origins.route(reqwest::Url::parse("https://api.sendgrid.com/v3/mail/send?x=1").expect("url"));
        assert!(routed.as_str().starts_with(&server.url), "{routed}");
        let other = reqwest::Url::parse("https://api.mailjet.com/v3.1/send").expect("url");
        assert_eq!(origins.route(other.clone()), other);
        let client = reqwest::Client::new();
        let sent = client.post(routed).json(&json!({"to": "a@b.c"})).send().await.expect("sent");
        assert_eq!(sent.status().as_u16(), 202);
        // The stub's own path is not reachable under the origin's prefix, nor the URL as a path.
        let wrong = format!("{}/v3/mail/send", server.url);
        assert_eq!(client.post(&wrong).send().await.expect("sent").status().as_u16(), 404);
        let (requests, _) = server.take(None);
        let shown: Vec<(&str, u16)> = requests.iter().map(|r| (r.path.as_str(), r.status)).collect();
        assert_eq!(shown, [("https://api.sendgrid.com/v3/mail/send", 202), ("/v3/mail/send", 404)]);
        assert_eq!(requests[0].query.get("x").map(String::as_str), Some("1"));
    }
}
