//! Technical profiles: the protocols a journey step speaks (OIDC, OAuth1, OAuth2, REST, ...).
//!
//! Each protocol implements `ief_engine::exec::ProfileHandler`; [`handlers`] lists them all
//! for an executor. The test identity providers live in `ief-idp`, the headless driver
//! (scenarios and the user agent) in `ief-scenario`.

pub mod claims_transformation;
pub mod conditional_access;
pub mod directory;
mod email_verification;
pub mod env;
pub mod federation;
pub mod journey_context;
pub mod jwt_issuer;
pub mod keys;
pub mod oauth1;
pub mod oauth2;
pub mod oidc;
pub mod phone;
pub mod rest;
pub mod self_asserted;
pub mod totp;

use ief_engine::exec::ProfileHandler;

/// Every protocol ief speaks, in the order the executor asks them.
pub fn handlers() -> Vec<Box<dyn ProfileHandler>> {
    vec![
        Box::new(jwt_issuer::JwtIssuer),
        Box::new(claims_transformation::ClaimsTransformationProfile),
        Box::new(self_asserted::SelfAsserted),
        Box::new(directory::AzureActiveDirectory),
        Box::new(directory::login::LocalPasswordLogin),
        Box::new(phone::PhoneFactor),
        Box::new(phone::OneTimePassword),
        Box::new(phone::AzureMfa),
        Box::new(conditional_access::ConditionalAccess),
        Box::new(journey_context::UserJourneyContext),
        Box::new(rest::Restful::new()),
        Box::new(oidc::OpenIdConnect::new()),
        Box::new(oauth2::OAuth2::new()),
        Box::new(oauth1::OAuth1::new()),
    ]
}

/// The scheme and host that tokens and callback URIs name. A driver sets
/// `RequestContext::host_name` to a bare host (`contoso.b2clogin.com`, served over https, as
/// B2C is) or, for a local server on plain http, to a base URL with its scheme
/// (`http://127.0.0.1:5000`).
pub fn authority(host_name: &str) -> String {
    let host = host_name.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// Text for HTML content and attribute values (the pages of ief's servers).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
