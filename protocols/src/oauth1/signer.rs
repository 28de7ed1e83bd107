//! Signing OAuth 1.0a requests with HMAC-SHA1 (RFC 5849 §3.4), through the `oauth1-request`
//! crate: the one signer the OAuth1 profile uses.
//!
//! The crate signs all three requests of the flow: the request token with `oauth_callback`, the
//! access token with `oauth_verifier`, and the claims-endpoint GET with its query parameters.
//! What it leaves to the caller, this module does: the URL goes in normalized (§3.4.1.2) and
//! without its query, whose parameters go in as a list. The crate writes parameter names into
//! the base string unencoded and sorts on raw bytes, so a name that needs percent-encoding
//! (RFC 5849 §3.4.1.1's `c@`), a name starting with `oauth_`, or duplicate names whose values
//! sort differently once encoded are refused with [`SignError`] instead of being signed wrong;
//! Twitter's endpoints have none of them. The hand-written RFC code in [`super::base_string`]
//! verifies on the provider side, and the tests below check both against the published vectors.

use std::fmt;
use std::num::NonZeroU64;

use super::base_string::{BaseStringError, base_string_uri, encode, form_pairs, is_unreserved};

/// A secret that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret text, for the few places that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An identifier with its shared secret: the client (consumer) or a temporary/token credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key: String,
    pub secret: Secret,
}

impl Credentials {
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { key: key.into(), secret: Secret::new(secret) }
    }
}

/// One request to sign. Nonce and timestamp come from the caller so signing stays deterministic.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInput<'a> {
    /// HTTP method; upper-cased for the base string.
    pub method: &'a str,
    /// Absolute URL; its query parameters are signed too.
    pub url: &'a str,
    /// The raw body, only when it is `application/x-www-form-urlencoded` (§3.4.1.3.1).
    pub form_body: Option<&'a str>,
    pub callback: Option<&'a str>,
    pub verifier: Option<&'a str>,
    pub nonce: &'a str,
    pub timestamp: u64,
    /// Sends `oauth_version="1.0"` (optional in RFC 5849).
    pub version: bool,
}

/// Why a request was not signed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error(transparent)]
    Url(#[from] BaseStringError),
    #[error("OAuth1: the request parameter name `{0}` needs percent-encoding, which the signer does not support")]
    UnsupportedName(String),
    #[error("OAuth1: the request parameter `{0}` would collide with the protocol's own oauth_ parameters")]
    ProtocolName(String),
    #[error(
        "OAuth1: the values of the repeated parameter `{0}` sort differently once encoded, which the signer does not support"
    )]
    UnsupportedOrder(String),
    #[error("OAuth1: the request parameter `{0}` is not UTF-8 text")]
    NotText(String),
    #[error("OAuth1: the timestamp must be a positive number of seconds")]
    Timestamp,
}

/// Signs requests for one client, optionally on behalf of a token.
#[derive(Debug, Clone)]
pub struct Signer {
    consumer: Credentials,
    token: Option<Credentials>,
}

impl Signer {
    pub fn new(consumer: Credentials) -> Self {
        Self { consumer, token: None }
    }

    pub fn with_token(mut self, token: Credentials) -> Self {
        self.token = Some(token);
        self
    }

    /// The `Authorization` header value (`OAuth oauth_consumer_key="...",...`) for `input`.
    pub fn sign(&self, input: &SignInput<'_>) -> Result<String, SignError> {
        let (base_uri, query) = base_string_uri(input.url)?;
        let params = parameters(query, input.form_body)?;
        let timestamp = NonZeroU64::new(input.timestamp).ok_or(SignError::Timestamp)?;
        let client = oauth1_request::Credentials::new(self.consumer.key.as_str(), self.consumer.secret.expose());
        let mut builder = oauth1_request::Builder::<_, &str, &str>::new(client, oauth1_request::HmacSha1::new());
        builder
            .token(self.token.as_ref().map(|t| oauth1_request::Credentials::new(t.key.as_str(), t.secret.expose())))
            .callback(input.callback)
            .verifier(input.verifier)
            .nonce(input.nonce)
            .timestamp(timestamp)
            .version(input.version);
        Ok(builder.authorize(&input.method.to_ascii_uppercase(), &base_uri, &params))
    }
}

/// The query and form parameters as the crate takes them: decoded, names URI-safe, sorted.
fn parameters(
    query: Option<&str>,
    form_body: Option<&str>,
) -> Result<oauth1_request::ParameterList<String, String>, SignError> {
    let mut params = Vec::new();
    for (name, value) in form_pairs(query.unwrap_or("")).into_iter().chain(form_pairs(form_body.unwrap_or(""))) {
        let shown = String::from_utf8_lossy(&name).into_owned();
        if !name.iter().all(|&b| is_unreserved(b)) {
            return Err(SignError::UnsupportedName(shown));
        }
        if name.starts_with(b"oauth_") {
            return Err(SignError::ProtocolName(shown));
        }
        let value = String::from_utf8(value).map_err(|_| SignError::NotText(shown.clone()))?;
        params.push((shown, value));
    }
    let list = oauth1_request::ParameterList::new(params);
    // The crate sorts on raw values; RFC 5849 on encoded ones. They agree unless a repeated
    // name's values differ in reserved characters.
    let pairs: Vec<&(String, String)> = list.iter().collect();
    for pair in pairs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.0 == b.0 && encode(a.1.as_bytes()) > encode(b.1.as_bytes()) {
            return Err(SignError::UnsupportedOrder(a.0.clone()));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    //! The published vectors the crate can express, signed through [`Signer`]; each signature
    //! is also checked with the provider-side code of [`super::super::base_string`].

    use super::*;
    use crate::oauth1::base_string::{authorization_params, base_string, signing_key, verify_hmac_sha1};

    const PHOTOS_CONSUMER: (&str, &str) = ("dpf43f3p2l4k3l03", "kd94hf93k423kf44");

    fn signer(consumer: (&str, &str), token: Option<(&str, &str)>) -> Signer {
        let s = Signer::new(Credentials::new(consumer.0, consumer.1));
        match token {
            Some((key, secret)) => s.with_token(Credentials::new(key, secret)),
            None => s,
        }
    }

    fn header_param(header: &str, name: &str) -> String {
        let params = authorization_params(header).unwrap();
        params.into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
    }

    /// Checks `header` as the embedded provider does: rebuilds the base string from what is sent.
    fn verifies(header: &str, input: &SignInput<'_>, consumer_secret: &str, token_secret: &str) -> bool {
        let (uri, query) = base_string_uri(input.url).unwrap();
        let mut params = form_pairs(query.unwrap_or(""));
        params.extend(form_pairs(input.form_body.unwrap_or("")));
        let oauth = authorization_params(header).unwrap();
        let signature = oauth.iter().find(|(k, _)| k == "oauth_signature").map(|(_, v)| v.clone()).unwrap();
        params.extend(
            oauth.into_iter().filter(|(k, _)| k != "oauth_signature").map(|(k, v)| (k.into_bytes(), v.into_bytes())),
        );
        let base = base_string(input.method, &uri, &params);
        verify_hmac_sha1(&signing_key(consumer_secret, token_secret), &base, &signature)
    }

    #[test]
    fn rfc5849_1_2_temporary_credentials_with_callback() {
        let input = SignInput {
            method: "POST",
            url: "https://photos.example.net/initiate",
            callback: Some("http://printer.example.com/ready"),
            nonce: "wIjqoS",
            timestamp: 137131200,
            ..SignInput::default()
        };
        let header = signer(PHOTOS_CONSUMER, None).sign(&input).unwrap();
        assert_eq!(header_param(&header, "oauth_signature"), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
        assert_eq!(header_param(&header, "oauth_callback"), "http://printer.example.com/ready");
        assert!(header.contains("oauth_callback=\"http%3A%2F%2Fprinter.example.com%2Fready\""), "{header}");
        assert!(verifies(&header, &input, PHOTOS_CONSUMER.1, ""));
    }

    #[test]
    fn rfc5849_1_2_token_credentials_with_verifier() {
        let token = Some(("hh5s93j4hdidpola", "hdhd0244k9j7ao03"));
        let input = SignInput {
            method: "POST",
            url: "https://photos.example.net/token",
            verifier: Some("hfdp7dh39dks9884"),
            nonce: "walatlh",
            timestamp: 137131201,
            ..SignInput::default()
        };
        let header = signer(PHOTOS_CONSUMER, token).sign(&input).unwrap();
        assert_eq!(header_param(&header, "oauth_signature"), "gKgrFCywp7rO0OXSjdot/IHF7IU=");
        assert_eq!(header_param(&header, "oauth_verifier"), "hfdp7dh39dks9884");
        assert_eq!(header_param(&header, "oauth_token"), "hh5s93j4hdidpola");
        assert!(verifies(&header, &input, PHOTOS_CONSUMER.1, "hdhd0244k9j7ao03"));
    }

    #[test]
    fn rfc5849_1_2_protected_resource_with_query() {
        let input = SignInput {
            method: "get",
            url: "http://photos.example.net/photos?size=original&file=vacation.jpg",
            nonce: "chapoH",
            timestamp: 137131202,
            ..SignInput::default()
        };
        let header = signer(PHOTOS_CONSUMER, Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"))).sign(&input).unwrap();
        assert_eq!(header_param(&header, "oauth_signature"), "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
        // The query travels in the URL, not in the header.
        assert!(!header.contains("file="), "{header}");
        assert!(verifies(&header, &input, PHOTOS_CONSUMER.1, "pfkkdhi9sl3r4s00"));
    }

    #[test]
    fn oauth_core_1_0_appendix_a5_with_version() {
        let input = SignInput {
            method: "GET",
            url: "http://photos.example.net/photos?file=vacation.jpg&size=original",
            nonce: "kllo9940pd9333jh",
            timestamp: 1191242096,
            version: true,
            ..SignInput::default()
        };
        let header = signer(PHOTOS_CONSUMER, Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"))).sign(&input).unwrap();
        assert_eq!(header_param(&header, "oauth_signature"), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
        assert_eq!(header_param(&header, "oauth_version"), "1.0");
    }

    const TWITTER_CONSUMER: (&str, &str) = ("xvz1evFS4wEEPTGEFPHBog", "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw");
    const TWITTER_TOKEN: (&str, &str) =
        ("370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE");

    fn twitter_update(url: &str) -> String {
        let input = SignInput {
            method: "POST",
            url,
            // As the doc sends it: lower-case hex must come out upper-case.
            form_body: Some("status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"),
            nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            timestamp: 1318622958,
            version: true,
            ..SignInput::default()
        };
        let header = signer(TWITTER_CONSUMER, Some(TWITTER_TOKEN)).sign(&input).unwrap();
        assert!(verifies(&header, &input, TWITTER_CONSUMER.1, TWITTER_TOKEN.1));
        header
    }

    #[test]
    fn twitter_creating_a_signature_1_1() {
        let header = twitter_update("https://api.twitter.com/1.1/statuses/update.json?include_entities=true");
        assert_eq!(header_param(&header, "oauth_signature"), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
        // The documented header, up to the crate's separators (`,` without a space).
        assert_eq!(
            header.replace(",", ", "),
            "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", oauth_version=\"1.0\", oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\""
        );
    }

    #[test]
    fn twitter_creating_a_signature_legacy_1() {
        let header = twitter_update("https://API.twitter.com:443/1/statuses/update.json?include_entities=true");
        assert_eq!(header_param(&header, "oauth_signature"), "tnnArxj06cWHq44gCs1OSKk/jLY=");
    }

    #[test]
    fn what_the_crate_cannot_sign_is_refused_by_name() {
        let s = signer(("ck", "cs"), None);
        let input = |url| SignInput { method: "GET", url, nonce: "n", timestamp: 1, ..SignInput::default() };
        // RFC 5849 §3.4.1.1's `c@` (kept as a base-string test in base_string.rs).
        assert_eq!(
            s.sign(&input("http://example.com/request?c%40=&a=1")),
            Err(SignError::UnsupportedName("c@".to_owned()))
        );
        assert_eq!(s.sign(&input("http://x.test/p?a=a:&a=a1")), Err(SignError::UnsupportedOrder("a".to_owned())));
        assert_eq!(
            s.sign(&input("http://x.test/p?oauth_token=x")),
            Err(SignError::ProtocolName("oauth_token".to_owned()))
        );
        assert!(matches!(s.sign(&input("ftp://x.test/")), Err(SignError::Url(_))));
        let zero = SignInput { timestamp: 0, ..input("http://x.test/") };
        assert_eq!(s.sign(&zero), Err(SignError::Timestamp));
        // Repeated names whose order survives encoding are fine.
        let ok = input("http://x.test/p?a=2&a=10&b=%E2%98%83");
        assert!(verifies(&s.sign(&ok).unwrap(), &ok, "cs", ""));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = signer(("ck", "consumer-secret-value"), Some(("tk", "token-secret-value")));
        let debug = format!("{s:?}");
        assert!(debug.contains("ck") && debug.contains("[redacted]"), "{debug}");
        assert!(!debug.contains("secret-value"), "{debug}");
    }
}
