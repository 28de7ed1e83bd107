//! Technical profiles: the protocols a journey step speaks (OIDC, OAuth1, OAuth2, REST, ...).
//!
//! Each protocol implements `ief_engine::exec::ProfileHandler`; [`handlers`] lists them all
//! for an executor. The test identity providers live in `ief-idp`, the headless driver
//! (scenarios and the user agent) in `ief-scenario`.

pub mod claims_transformation;
pub mod directory;
mod email_verification;
pub mod env;
pub mod federation;
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
        Box::new(rest::Restful::new()),
        Box::new(oidc::OpenIdConnect::new()),
        Box::new(oauth2::OAuth2::new()),
        Box::new(oauth1::OAuth1::new()),
    ]
}
