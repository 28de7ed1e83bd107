//! Cross-origin calls of single-page apps: MSAL.js fetches discovery and the keys, redeems codes
//! at the token endpoint and calls UserInfo from the browser. Metadata is public (any origin);
//! the token and UserInfo endpoints answer only origins of registered `spa` redirect URIs (any
//! loopback origin for the development app).

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::apps::Platform;
use crate::route::Endpoint;
use crate::{Request, Server};

/// `scheme://host[:port]` of a URI.
fn origin_of(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| &uri[..scheme.len() + 3 + authority.len()])
}

/// Whether a browser app at `origin` may read the endpoint's answers.
fn allowed(server: &Server, origin: &str) -> bool {
    // An origin is exactly scheme, host and port (browsers send nothing else).
    origin_of(origin) == Some(origin)
        && server.apps.iter().any(|app| {
            let registered = app
                .redirect_uris
                .iter()
                .any(|(platform, uri)| *platform == Platform::Spa && origin_of(uri) == Some(origin));
            registered || (app.loopback && app.platform_of(&format!("{origin}/")).is_some())
        })
}

/// The `Access-Control-Allow-Origin` the endpoint answers `origin` with, if any.
fn allow_origin(server: &Server, endpoint: &Endpoint, origin: &str) -> Option<HeaderValue> {
    match endpoint {
        Endpoint::Discovery | Endpoint::Keys => Some(HeaderValue::from_static("*")),
        Endpoint::Token | Endpoint::UserInfo if allowed(server, origin) => HeaderValue::from_str(origin).ok(),
        _ => None,
    }
}

/// The answer to a CORS preflight (`OPTIONS`): 204 with what the endpoint allows, or 403.
pub(crate) fn preflight(server: &Server, request: &Request, endpoint: &Endpoint) -> Response {
    let origin = request.header("origin").unwrap_or_default();
    let Some(allow) = allow_origin(server, endpoint, origin) else {
        return (StatusCode::FORBIDDEN, "cross-origin calls are not allowed here").into_response();
    };
    let methods = if *endpoint == Endpoint::Token { "POST, OPTIONS" } else { "GET, POST, OPTIONS" };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    // MSAL.js sends its telemetry headers (x-client-current-telemetry, …): allow what is asked.
    let asked = request.header("access-control-request-headers").and_then(|h| HeaderValue::from_str(h).ok());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or(HeaderValue::from_static("authorization, content-type")),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// Adds `Access-Control-Allow-Origin` to an endpoint's answer for an allowed origin.
pub(crate) fn decorate(server: &Server, request: &Request, endpoint: &Endpoint, mut response: Response) -> Response {
    if request.method == Method::OPTIONS {
        return response;
    }
    if let Some(allow) = request.header("origin").and_then(|o| allow_origin(server, endpoint, o)) {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(origin_of("http://localhost:5173/"), Some("http://localhost:5173"));
        assert_eq!(origin_of("https://app.example/cb?x=1"), Some("https://app.example"));
        assert_eq!(origin_of("https://app.example"), Some("https://app.example"));
        assert_eq!(origin_of("no-scheme"), None);
    }
}
