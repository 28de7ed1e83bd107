//! What the federating protocols (OpenID Connect, OAuth2, OAuth1) share: B2C's callback URIs,
//! lenient metadata flags, policy keys by their profile Id, HTTP clients per TLS identity and
//! token-endpoint client authentication.

pub mod client_auth;
pub mod http;
pub mod replay;
pub mod seen_once;

use ief_engine::exec::{ProfileError, ProfileRequest, RequestContext};
use ief_engine::model::{Policy, TechnicalProfile};

use crate::keys::KeyStore;

/// Which protocol's callback path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// `/oauth2/authresp`, shared by OAuth2 and OpenID Connect.
    OAuth2,
    /// `/{policy}/oauth1/authresp`: always per policy.
    OAuth1,
}

/// The redirect URI B2C registers at an identity provider, lower case:
/// `https://{host}/{tenant}/oauth2/authresp`, with the policy id in front of `oauth2` when
/// `UsePolicyInRedirectUri` is set, and always for OAuth1.
pub fn redirect_uri(policy: &Policy, context: &RequestContext, callback: Callback, use_policy: bool) -> String {
    let host = crate::authority(if context.host_name.is_empty() { "localhost" } else { context.host_name.as_str() });
    let tenant = policy.tenant_id.as_str();
    let uri = match callback {
        Callback::OAuth2 if use_policy => format!("{host}/{tenant}/{}/oauth2/authresp", policy.policy_id),
        Callback::OAuth2 => format!("{host}/{tenant}/oauth2/authresp"),
        Callback::OAuth1 => format!("{host}/{tenant}/{}/oauth1/authresp", policy.policy_id),
    };
    uri.to_lowercase()
}

/// A metadata flag as real policies write them: `true`/`false`/`1`/`0` in any case; anything
/// else (or absent) is `default`.
pub fn flag(profile: &TechnicalProfile, key: &str, default: bool) -> bool {
    match profile.metadata(key).map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "true" || v == "1" => true,
        Some(v) if v == "false" || v == "0" => false,
        _ => default,
    }
}

/// The executor's clock, in Unix seconds.
pub(crate) fn now(request: &ProfileRequest<'_>) -> i64 {
    request.services.env.now().and_utc().timestamp()
}

/// The policy key store the executor carries.
pub fn key_store<'a>(request: &ProfileRequest<'a>) -> Result<&'a KeyStore, ProfileError> {
    request
        .services
        .extensions
        .get::<KeyStore>()
        .ok_or_else(|| error("MissingKey", "no key store is configured for policy keys".to_owned()))
}

/// The StorageReferenceId of the profile's CryptographicKey `id`, if it has one.
pub fn storage_id<'a>(profile: &'a TechnicalProfile, id: &str) -> Option<&'a str> {
    profile.keys.iter().find(|k| k.id.as_str() == id).map(|k| k.storage_reference_id.as_str())
}

/// Like [`storage_id`], naming the missing key in the error.
pub fn required_storage_id<'a>(profile: &'a TechnicalProfile, id: &str) -> Result<&'a str, ProfileError> {
    storage_id(profile, id)
        .ok_or_else(|| error("MissingKey", format!("the CryptographicKeys element has no key with Id '{id}'")))
}

/// The text of a secret key (`client_secret`, a password) of the profile.
pub fn secret_text(request: &ProfileRequest<'_>, id: &str) -> Result<String, ProfileError> {
    let storage = required_storage_id(request.profile, id)?;
    let bytes = key_store(request)?.secret(storage).map_err(|e| key_error(id, &e))?;
    let text = std::str::from_utf8(bytes)
        .map_err(|_| error("InvalidKey", format!("the key '{id}' ({storage}) is not UTF-8 text")))?;
    Ok(text.to_owned())
}

pub fn key_error(id: &str, e: &dyn std::fmt::Display) -> ProfileError {
    error("MissingKey", format!("the key '{id}' could not be read: {e}"))
}

pub fn error(code: &str, message: String) -> ProfileError {
    ProfileError { code: code.to_owned(), user_message: message }
}

/// Comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut p = crate::self_asserted::testing::policy("", "");
        p.policy_id = "B2C_1A_SignUp_SignIn".to_owned();
        p.tenant_id = "Contoso.onmicrosoft.com".to_owned();
        p
    }

    #[test]
    fn redirect_uris_follow_b2c_in_lower_case() {
        let ctx = RequestContext { host_name: "contoso.b2clogin.com".to_owned(), ..RequestContext::default() };
        let p = policy();
        assert_eq!(
            redirect_uri(&p, &ctx, Callback::OAuth2, false),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp"
        );
        assert_eq!(
            redirect_uri(&p, &ctx, Callback::OAuth2, true),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1a_signup_signin/oauth2/authresp"
        );
        assert_eq!(
            redirect_uri(&p, &ctx, Callback::OAuth1, false),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1a_signup_signin/oauth1/authresp"
        );
    }

    #[test]
    fn a_local_server_on_http_keeps_its_scheme_and_port() {
        let ctx = RequestContext { host_name: "http://127.0.0.1:5000".to_owned(), ..RequestContext::default() };
        assert_eq!(
            redirect_uri(&policy(), &ctx, Callback::OAuth2, false),
            "http://127.0.0.1:5000/contoso.onmicrosoft.com/oauth2/authresp"
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
