//! Sans-I/O OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849 §3.4–3.6).
//!
//! Hand-written rather than built on `oauth1-request` 0.6: that crate feeds parameter names to
//! the base string unencoded and sorts by raw rather than encoded bytes (RFC 5849 §3.4.1.1's
//! `c@` must become `c%40` and sort before `c2`), and it neither takes a URL with a query nor
//! normalizes scheme, host and port. The tests cross-check it where it can express a request.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

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
    /// Sends `oauth_version="1.0"` (optional in RFC 5849, expected by Twitter).
    pub version: bool,
}

/// The outcome of signing: the header to send plus the intermediate values for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub base_string: String,
    /// Base64 HMAC-SHA1, not yet percent-encoded.
    pub signature: String,
    /// The `Authorization` header value, `OAuth oauth_...="..."`.
    pub authorization: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("OAuth1: `{0}` is not an absolute http(s) URL")]
    InvalidUrl(String),
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

    pub fn sign(&self, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mut oauth =
            vec![("oauth_consumer_key", self.consumer.key.as_str()), ("oauth_signature_method", "HMAC-SHA1")];
        let timestamp = input.timestamp.to_string();
        oauth.push(("oauth_timestamp", &timestamp));
        oauth.push(("oauth_nonce", input.nonce));
        if let Some(token) = &self.token {
            oauth.push(("oauth_token", &token.key));
        }
        if let Some(callback) = input.callback {
            oauth.push(("oauth_callback", callback));
        }
        if let Some(verifier) = input.verifier {
            oauth.push(("oauth_verifier", verifier));
        }
        if input.version {
            oauth.push(("oauth_version", "1.0"));
        }

        let (base_uri, query) = base_string_uri(input.url)?;
        let mut params: Vec<(String, String)> =
            oauth.iter().map(|(k, v)| (encode(k.as_bytes()), encode(v.as_bytes()))).collect();
        params.extend(parse_form(query.unwrap_or("")));
        params.extend(parse_form(input.form_body.unwrap_or("")));
        // §3.4.1.3.2: sort by encoded name, then encoded value.
        params.sort();
        let normalized = params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let base_string = format!(
            "{}&{}&{}",
            encode(input.method.to_ascii_uppercase().as_bytes()),
            encode(base_uri.as_bytes()),
            encode(normalized.as_bytes())
        );

        let mut mac = Hmac::<Sha1>::new_from_slice(self.signing_key().expose().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(base_string.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());

        oauth.push(("oauth_signature", &signature));
        oauth.sort();
        let fields: Vec<String> = oauth.iter().map(|(k, v)| format!("{k}=\"{}\"", encode(v.as_bytes()))).collect();
        let authorization = format!("OAuth {}", fields.join(", "));
        Ok(Signed { base_string, signature, authorization })
    }

    /// §3.4.2: both secrets encoded, joined by `&` even when the token secret is absent.
    pub(crate) fn signing_key(&self) -> Secret {
        let token = self.token.as_ref().map_or("", |t| t.secret.expose());
        Secret(format!("{}&{}", encode(self.consumer.secret.expose().as_bytes()), encode(token.as_bytes())))
    }
}

/// §3.4.1.2: lower-case scheme and host, drop the default port, keep the path as sent.
/// Returns the base string URI and the query, if any.
pub fn base_string_uri(url: &str) -> Result<(String, Option<&str>), SignError> {
    let invalid = || SignError::InvalidUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(invalid()),
    };
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let authority = authority.to_ascii_lowercase();
    // A port follows the last ':' unless that ':' sits inside an IPv6 literal.
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && port == default_port => host,
        _ => authority.as_str(),
    };
    if host.is_empty() || host.contains('@') {
        return Err(invalid());
    }
    Ok((format!("{scheme}://{host}{path}"), query))
}

/// §3.6: everything but ALPHA, DIGIT, `-._~` becomes `%XX` with upper-case hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space) and re-encodes them per §3.6.
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&form_decode(k)), encode(&form_decode(v)))
        })
        .collect()
}

fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Two hex digits exactly (`from_str_radix` alone would take a sign); else keep `%` as is.
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    //! Vectors copied as facts from ../shared/testdata/oauth1-signatures.json (RFC 5849,
    //! OAuth Core 1.0 A.5, Twitter's docs); the tests never read that file.

    use super::*;

    const PHOTOS_CONSUMER: (&str, &str) = ("dpf43f3p2l4k3l03", "kd94hf93k423kf44");

    fn signer(consumer: (&str, &str), token: Option<(&str, &str)>) -> Signer {
        let s = Signer::new(Credentials::new(consumer.0, consumer.1));
        match token {
            Some((key, secret)) => s.with_token(Credentials::new(key, secret)),
            None => s,
        }
    }

    fn sign(consumer: (&str, &str), token: Option<(&str, &str)>, input: SignInput<'_>) -> Signed {
        signer(consumer, token).sign(&input).unwrap()
    }

    #[test]
    fn rfc5849_3_4_1_1_base_string() {
        // The RFC gives no secrets here, so only the base string is checkable.
        let signed = sign(
            ("9djdj82h48djs9d2", "unknown"),
            Some(("kkk9d7dh3k39sjv7", "unknown")),
            SignInput {
                method: "POST",
                url: "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
                form_body: Some("c2&a3=2+q"),
                nonce: "7d8f3e4a",
                timestamp: 137131201,
                ..SignInput::default()
            },
        );
        assert_eq!(
            signed.base_string,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn rfc5849_3_4_1_2_base_string_uri() {
        let uri = |url| base_string_uri(url).unwrap().0;
        assert_eq!(uri("http://EXAMPLE.COM:80/r%20v/X?id=123"), "http://example.com/r%20v/X");
        assert_eq!(uri("https://www.example.net:8080/?q=1"), "https://www.example.net:8080/");
    }

    #[test]
    fn rfc5849_1_2_temporary_credentials() {
        let signed = sign(
            PHOTOS_CONSUMER,
            None,
            SignInput {
                method: "POST",
                url: "https://photos.example.net/initiate",
                callback: Some("http://printer.example.com/ready"),
                nonce: "wIjqoS",
                timestamp: 137131200,
                ..SignInput::default()
            },
        );
        assert_eq!(
            signed.base_string,
            "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252Fprinter.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
        );
        assert_eq!(signed.signature, "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
        assert_eq!(signer(PHOTOS_CONSUMER, None).signing_key().expose(), "kd94hf93k423kf44&");
        assert_eq!(
            signed.authorization,
            "OAuth oauth_callback=\"http%3A%2F%2Fprinter.example.com%2Fready\", \
             oauth_consumer_key=\"dpf43f3p2l4k3l03\", oauth_nonce=\"wIjqoS\", \
             oauth_signature=\"74KNZJeDHnMBp0EMJ9ZHt%2FXKycU%3D\", oauth_signature_method=\"HMAC-SHA1\", \
             oauth_timestamp=\"137131200\""
        );
    }

    #[test]
    fn rfc5849_1_2_token_credentials() {
        let token = Some(("hh5s93j4hdidpola", "hdhd0244k9j7ao03"));
        let signed = sign(
            PHOTOS_CONSUMER,
            token,
            SignInput {
                method: "POST",
                url: "https://photos.example.net/token",
                verifier: Some("hfdp7dh39dks9884"),
                nonce: "walatlh",
                timestamp: 137131201,
                ..SignInput::default()
            },
        );
        assert_eq!(
            signed.base_string,
            "POST&https%3A%2F%2Fphotos.example.net%2Ftoken&oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dwalatlh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dhh5s93j4hdidpola%26oauth_verifier%3Dhfdp7dh39dks9884"
        );
        assert_eq!(signed.signature, "gKgrFCywp7rO0OXSjdot/IHF7IU=");
        assert_eq!(signer(PHOTOS_CONSUMER, token).signing_key().expose(), "kd94hf93k423kf44&hdhd0244k9j7ao03");
    }

    #[test]
    fn rfc5849_1_2_protected_resource() {
        let signed = sign(
            PHOTOS_CONSUMER,
            Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00")),
            SignInput {
                method: "GET",
                url: "http://photos.example.net/photos?file=vacation.jpg&size=original",
                nonce: "chapoH",
                timestamp: 137131202,
                ..SignInput::default()
            },
        );
        assert_eq!(
            signed.base_string,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(signed.signature, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    #[test]
    fn oauth_core_1_0_appendix_a5() {
        let signed = sign(
            PHOTOS_CONSUMER,
            Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00")),
            SignInput {
                method: "GET",
                url: "http://photos.example.net/photos?file=vacation.jpg&size=original",
                nonce: "kllo9940pd9333jh",
                timestamp: 1191242096,
                version: true,
                ..SignInput::default()
            },
        );
        assert_eq!(
            signed.base_string,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal"
        );
        assert_eq!(signed.signature, "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    }

    const TWITTER_CONSUMER: (&str, &str) = ("xvz1evFS4wEEPTGEFPHBog", "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw");
    const TWITTER_TOKEN: (&str, &str) =
        ("370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE");

    fn twitter_update(url: &str) -> Signed {
        sign(
            TWITTER_CONSUMER,
            Some(TWITTER_TOKEN),
            SignInput {
                method: "POST",
                url,
                // As the doc sends it: lower-case hex must come out upper-case.
                form_body: Some("status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"),
                nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
                timestamp: 1318622958,
                version: true,
                ..SignInput::default()
            },
        )
    }

    #[test]
    fn twitter_creating_a_signature_1_1() {
        let signed = twitter_update("https://api.twitter.com/1.1/statuses/update.json?include_entities=true");
        assert_eq!(
            signed.base_string,
            "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
        assert_eq!(
            signer(TWITTER_CONSUMER, Some(TWITTER_TOKEN)).signing_key().expose(),
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw&LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
        );
        assert_eq!(signed.signature, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
        assert_eq!(
            signed.authorization,
            "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\", oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", oauth_version=\"1.0\""
        );
    }

    #[test]
    fn twitter_creating_a_signature_legacy_1() {
        let signed = twitter_update("https://api.twitter.com/1/statuses/update.json?include_entities=true");
        assert_eq!(
            signed.base_string,
            "POST&https%3A%2F%2Fapi.twitter.com%2F1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
        assert_eq!(signed.signature, "tnnArxj06cWHq44gCs1OSKk/jLY=");
    }

    #[test]
    fn rfc5849_3_6_encoding_examples() {
        for (input, expected) in [
            (
                "Hello Ladies + Gentlemen, a signed OAuth request!",
                "Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21",
            ),
            ("Dogs, Cats & Mice", "Dogs%2C%20Cats%20%26%20Mice"),
            ("☃", "%E2%98%83"),
            ("-._~", "-._~"),
            ("!*'()", "%21%2A%27%28%29"),
        ] {
            assert_eq!(encode(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn rfc5849_3_4_2_signing_key_encodes_secrets() {
        let key = signer(("ck", "s3cr&t+/= ~%"), Some(("tk", "ts"))).signing_key();
        assert_eq!(key.expose(), "s3cr%26t%2B%2F%3D%20~%25&ts");
    }

    #[test]
    fn empty_token_secret_keeps_the_ampersand() {
        let input =
            SignInput { method: "POST", url: "https://x.test/t", nonce: "n", timestamp: 1, ..SignInput::default() };
        let no_token = signer(("ck", "consumer_secret"), None);
        let empty = signer(("ck", "consumer_secret"), Some(("tk", "")));
        assert_eq!(no_token.signing_key().expose(), "consumer_secret&");
        assert_eq!(empty.signing_key().expose(), "consumer_secret&");
        // Same key; the signed oauth_token is the only difference.
        assert_ne!(no_token.sign(&input).unwrap().signature, empty.sign(&input).unwrap().signature);
    }

    fn normalized_params(url: &str, form_body: Option<&str>) -> String {
        let input = SignInput { method: "get", url, form_body, nonce: "n", timestamp: 1, ..SignInput::default() };
        let base = sign(("ck", "cs"), None, input).base_string;
        let encoded = base.splitn(3, '&').nth(2).unwrap();
        String::from_utf8(form_decode(encoded)).unwrap()
    }

    #[test]
    fn reserved_and_unicode_parameters_are_encoded_then_sorted() {
        let params = normalized_params("https://x.test/p?q=%E2%98%83%20!*'()&c%40=1", Some("c2=%2F&k%C3%A9=%3A"));
        // Sorting is on encoded bytes: `c%40` < `c2` and `k%C3%A9` < `oauth_...`.
        assert_eq!(
            params,
            "c%40=1&c2=%2F&k%C3%A9=%3A&oauth_consumer_key=ck&oauth_nonce=n&oauth_signature_method=HMAC-SHA1&\
             oauth_timestamp=1&q=%E2%98%83%20%21%2A%27%28%29"
        );
    }

    #[test]
    fn duplicate_names_sort_by_encoded_value() {
        let params = normalized_params("https://x.test/p?a=2&a=10&a=1&a=a:&a=a1&a=", Some("a=%2F&a=."));
        // `a%3A` sorts before `a1` and `%2F` before `.`: raw-byte order would flip both.
        assert_eq!(
            params,
            "a=&a=%2F&a=.&a=1&a=10&a=2&a=a%3A&a=a1&oauth_consumer_key=ck&oauth_nonce=n&\
             oauth_signature_method=HMAC-SHA1&oauth_timestamp=1"
        );
    }

    #[test]
    fn url_scheme_host_and_default_port_are_normalized() {
        let uri = |url| base_string_uri(url).unwrap().0;
        assert_eq!(
            uri("HTTPS://Api.Example.COM:443/1.1/Users/Show.json?x=1#f"),
            "https://api.example.com/1.1/Users/Show.json"
        );
        assert_eq!(uri("HTTP://Example.com:80"), "http://example.com/");
        assert_eq!(uri("http://example.com:443/"), "http://example.com:443/");
        assert_eq!(uri("https://[::1]:8443/cb"), "https://[::1]:8443/cb");
        let input = |url| SignInput { method: "GET", url, nonce: "n", timestamp: 1, ..SignInput::default() };
        let s = signer(("ck", "cs"), None);
        assert_eq!(
            s.sign(&input("HTTPS://API.Example.com:443/a?b=c")).unwrap(),
            s.sign(&input("https://api.example.com/a?b=c")).unwrap()
        );
        assert!(matches!(base_string_uri("ftp://x/"), Err(SignError::InvalidUrl(_))));
        assert!(matches!(base_string_uri("/relative"), Err(SignError::InvalidUrl(_))));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = signer(("ck", "consumer-secret-value"), Some(("tk", "token-secret-value")));
        let debug = format!("{s:?}");
        assert!(debug.contains("ck") && debug.contains("[redacted]"), "{debug}");
        assert!(!debug.contains("secret-value"), "{debug}");
    }

    #[test]
    fn agrees_with_oauth1_request_where_it_can_express_the_request() {
        // RFC 5849 §1.2 protected resource: the crate wants the query as a parameter list.
        let token = oauth1_request::Token::from_parts(
            "dpf43f3p2l4k3l03",
            "kd94hf93k423kf44",
            "nnch734d00sl2jdk",
            "pfkkdhi9sl3r4s00",
        );
        let header = oauth1_request::Builder::with_token(token, oauth1_request::HmacSha1::new())
            .nonce("chapoH")
            .timestamp(std::num::NonZeroU64::new(137131202))
            .get(
                "http://photos.example.net/photos",
                &oauth1_request::ParameterList::new([("file", "vacation.jpg"), ("size", "original")]),
            );
        assert!(header.contains("oauth_signature=\"MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D\""), "{header}");
    }
}
