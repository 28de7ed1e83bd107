//! CORS for single-page apps: B2C answers the calls a SPA makes from its own origin (the
//! metadata, the keys, the token endpoint) for the origins of SPA redirect URIs. The
//! development app's loopback redirect URIs count as such origins.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::apps::{Apps, Platform};

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(&url[..scheme.len() + 3 + authority.len()])
}

/// The request's `Origin` when an app may call from there.
pub(crate) fn allowed_origin<'r>(apps: &Apps, origin: Option<&'r str>) -> Option<&'r str> {
    let origin = origin.filter(|o| origin_of(o) == Some(*o))?;
    let allowed = apps.iter().any(|app| {
        app.redirect_uris.iter().any(|(p, uri)| *p == Platform::Spa && origin_of(uri) == Some(origin))
            || (app.loopback && app.platform_of(&format!("{origin}/")).is_some())
    });
    allowed.then_some(origin)
}

/// The answer to a preflight (`OPTIONS`): allowed, with the headers asked for, or 403
/// without CORS headers.
pub(crate) fn preflight(origin: Option<&str>, asked_headers: Option<&str>) -> Response {
    let Some(origin) = origin else { return (StatusCode::FORBIDDEN, "origin not allowed").into_response() };
    let mut response = StatusCode::NO_CONTENT.into_response();
    allow(&mut response, origin);
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    let asked = asked_headers.and_then(|h| HeaderValue::from_str(h).ok());
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.unwrap_or(HeaderValue::from_static("content-type")));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// Lets `origin` read `response`.
pub(crate) fn allow(response: &mut Response, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        response.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

pub(crate) fn is_preflight(method: &Method) -> bool {
    method == Method::OPTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_origins_of_spa_or_loopback_redirect_uris_are_allowed() {
        let apps = Apps::development();
        assert_eq!(allowed_origin(&apps, Some("http://127.0.0.1:5173")), Some("http://127.0.0.1:5173"));
        assert_eq!(allowed_origin(&apps, Some("http://localhost:3000")), Some("http://localhost:3000"));
        for refused in [None, Some("https://evil.example"), Some("http://127.0.0.1:5173/path"), Some("null")] {
            assert_eq!(allowed_origin(&apps, refused), None, "{refused:?}");
        }
        assert_eq!(origin_of("https://app.example:8443/cb?x=1"), Some("https://app.example:8443"));
    }
}
