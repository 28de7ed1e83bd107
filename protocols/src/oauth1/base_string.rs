//! RFC 5849 signature base strings and HMAC-SHA1 (§3.4–3.6) computed from a request as a server
//! receives it: the embedded provider checks signatures with this.
//!
//! The handler signs with `oauth1-request` (see [`super::signer`]); this module is the
//! independent implementation on the other side of the wire, so a test that passes through both
//! checks one against the other, as an interop test against another library would. It also
//! holds the URL normalization (§3.4.1.2) the signer feeds to the crate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::signer::Secret;

/// Why a base string could not be built.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BaseStringError {
    #[error("OAuth1: `{0}` is not an absolute http(s) URL")]
    InvalidUrl(String),
}

/// §3.4.1.2: lower-case scheme and host, drop the default port, keep the path as sent.
/// Returns the base string URI and the query, if any.
pub fn base_string_uri(url: &str) -> Result<(String, Option<&str>), BaseStringError> {
    let invalid = || BaseStringError::InvalidUrl(url.to_owned());
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
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// Decoded (name, value) parameters, as bytes: names and values need not be UTF-8.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space). Invalid escapes stay as
/// they are, as form parsers do.
pub fn form_pairs(text: &str) -> Pairs {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

pub(crate) fn form_decode(text: &str) -> Vec<u8> {
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

/// §3.4.1: `METHOD&uri&normalized-parameters`. `params` are the decoded request parameters: the
/// query, a form body, and the protocol parameters without `oauth_signature` and `realm`.
pub fn base_string(method: &str, base_uri: &str, params: &[(Vec<u8>, Vec<u8>)]) -> String {
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    // §3.4.1.3.2: sort by encoded name, then encoded value.
    encoded.sort();
    let normalized = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    format!(
        "{}&{}&{}",
        encode(method.to_ascii_uppercase().as_bytes()),
        encode(base_uri.as_bytes()),
        encode(normalized.as_bytes())
    )
}

/// §3.4.2: both secrets encoded, joined by `&` even when the token secret is empty.
pub fn signing_key(consumer_secret: &str, token_secret: &str) -> Secret {
    Secret::new(format!("{}&{}", encode(consumer_secret.as_bytes()), encode(token_secret.as_bytes())))
}

fn mac(key: &Secret, base_string: &str) -> Hmac<Sha1> {
    // HMAC takes keys of any length, so this never falls back.
    let mut mac = Hmac::<Sha1>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| Hmac::<Sha1>::new(&Default::default()));
    mac.update(base_string.as_bytes());
    mac
}

/// The base64 HMAC-SHA1 of `base_string`.
pub fn hmac_sha1(key: &Secret, base_string: &str) -> String {
    STANDARD.encode(mac(key, base_string).finalize().into_bytes())
}

/// Whether `signature` (base64, as decoded from the request) is the HMAC-SHA1 of `base_string`;
/// compared in constant time.
pub fn verify_hmac_sha1(key: &Secret, base_string: &str, signature: &str) -> bool {
    match STANDARD.decode(signature.trim()) {
        Ok(raw) => mac(key, base_string).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

/// Why an `Authorization: OAuth ...` header could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("the Authorization header does not use the OAuth scheme")]
    NotOAuth,
    #[error("the Authorization header is malformed near `{0}`")]
    Malformed(String),
}

/// §3.5.1: the decoded parameters of an `Authorization: OAuth k="v", ...` header, `realm` left out.
pub fn authorization_params(header: &str) -> Result<Vec<(String, String)>, HeaderError> {
    let header = header.trim();
    let rest = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("OAuth") => rest,
        None if header.eq_ignore_ascii_case("OAuth") => "",
        _ => return Err(HeaderError::NotOAuth),
    };
    let mut params = Vec::new();
    for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let malformed = || HeaderError::Malformed(item.chars().take(40).collect());
        let (name, value) = item.split_once('=').ok_or_else(malformed)?;
        let value = value.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(malformed)?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("realm") {
            continue;
        }
        let decode = |s: &str| String::from_utf8(percent_decode(s)).map_err(|_| malformed());
        params.push((decode(name)?, decode(value)?));
    }
    Ok(params)
}

/// Percent-decoding without the form rule for `+` (header values are not forms).
fn percent_decode(text: &str) -> Vec<u8> {
    form_decode(&text.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    //! Vectors copied as facts from ../shared/testdata/oauth1-signatures.json (RFC 5849,
    //! OAuth Core 1.0 A.5, Twitter's docs); the tests never read that file. Here they check the
    //! verifying side: from the parameters as received to the base string and the signature.

    use super::*;

    const PHOTOS_SECRET: &str = "kd94hf93k423kf44";

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    /// The parameters a server sees for `url` and `form`, plus the protocol parameters.
    fn received(url: &str, form: Option<&str>, oauth: &[(&str, &str)]) -> (String, Pairs) {
        let (uri, query) = base_string_uri(url).unwrap();
        let mut params = form_pairs(query.unwrap_or(""));
        params.extend(form_pairs(form.unwrap_or("")));
        params.extend(pairs(oauth));
        (uri, params)
    }

    #[test]
    fn rfc5849_3_4_1_1_base_string() {
        // The RFC gives no secrets here, so only the base string is checkable.
        let (uri, params) = received(
            "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
            Some("c2&a3=2+q"),
            &[
                ("oauth_consumer_key", "9djdj82h48djs9d2"),
                ("oauth_token", "kkk9d7dh3k39sjv7"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131201"),
                ("oauth_nonce", "7d8f3e4a"),
            ],
        );
        assert_eq!(
            base_string("POST", &uri, &params),
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
        let (uri, params) = received(
            "https://photos.example.net/initiate",
            None,
            &[
                ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131200"),
                ("oauth_nonce", "wIjqoS"),
                ("oauth_callback", "http://printer.example.com/ready"),
            ],
        );
        let base = base_string("post", &uri, &params);
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252Fprinter.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
        );
        let key = signing_key(PHOTOS_SECRET, "");
        assert_eq!(key.expose(), "kd94hf93k423kf44&");
        assert_eq!(hmac_sha1(&key, &base), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
        assert!(verify_hmac_sha1(&key, &base, "74KNZJeDHnMBp0EMJ9ZHt/XKycU="));
        assert!(!verify_hmac_sha1(&signing_key("wrong", ""), &base, "74KNZJeDHnMBp0EMJ9ZHt/XKycU="));
    }

    #[test]
    fn rfc5849_1_2_token_credentials() {
        let (uri, params) = received(
            "https://photos.example.net/token",
            None,
            &[
                ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                ("oauth_token", "hh5s93j4hdidpola"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131201"),
                ("oauth_nonce", "walatlh"),
                ("oauth_verifier", "hfdp7dh39dks9884"),
            ],
        );
        let base = base_string("POST", &uri, &params);
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fphotos.example.net%2Ftoken&oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dwalatlh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dhh5s93j4hdidpola%26oauth_verifier%3Dhfdp7dh39dks9884"
        );
        let key = signing_key(PHOTOS_SECRET, "hdhd0244k9j7ao03");
        assert_eq!(key.expose(), "kd94hf93k423kf44&hdhd0244k9j7ao03");
        assert_eq!(hmac_sha1(&key, &base), "gKgrFCywp7rO0OXSjdot/IHF7IU=");
    }

    fn photos(nonce: &str, timestamp: &str, version: bool) -> String {
        let mut oauth = vec![
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp),
            ("oauth_nonce", nonce),
        ];
        if version {
            oauth.push(("oauth_version", "1.0"));
        }
        let (uri, params) = received("http://photos.example.net/photos?file=vacation.jpg&size=original", None, &oauth);
        base_string("GET", &uri, &params)
    }

    #[test]
    fn rfc5849_1_2_protected_resource() {
        let base = photos("chapoH", "137131202", false);
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(hmac_sha1(&signing_key(PHOTOS_SECRET, "pfkkdhi9sl3r4s00"), &base), "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    #[test]
    fn oauth_core_1_0_appendix_a5() {
        let base = photos("kllo9940pd9333jh", "1191242096", true);
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal"
        );
        assert_eq!(hmac_sha1(&signing_key(PHOTOS_SECRET, "pfkkdhi9sl3r4s00"), &base), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    }

    fn twitter_update(url: &str) -> String {
        let (uri, params) = received(
            url,
            // As the doc sends it: lower-case hex must come out upper-case.
            Some("status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"),
            &[
                ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
                ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1318622958"),
                ("oauth_token", "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
                ("oauth_version", "1.0"),
            ],
        );
        base_string("POST", &uri, &params)
    }

    fn twitter_key() -> Secret {
        signing_key("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw", "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE")
    }

    #[test]
    fn twitter_creating_a_signature_1_1() {
        let base = twitter_update("https://api.twitter.com/1.1/statuses/update.json?include_entities=true");
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
        assert_eq!(
            twitter_key().expose(),
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw&LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
        );
        assert_eq!(hmac_sha1(&twitter_key(), &base), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    }

    #[test]
    fn twitter_creating_a_signature_legacy_1() {
        let base = twitter_update("https://api.twitter.com/1/statuses/update.json?include_entities=true");
        assert_eq!(hmac_sha1(&twitter_key(), &base), "tnnArxj06cWHq44gCs1OSKk/jLY=");
    }

    #[test]
    fn twitter_authorization_header_parses_back() {
        let header = "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\", oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", oauth_version=\"1.0\"";
        let params = authorization_params(header).unwrap();
        assert_eq!(params.len(), 7);
        assert!(params.contains(&("oauth_signature".to_owned(), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=".to_owned())));
        assert!(params.contains(&("oauth_version".to_owned(), "1.0".to_owned())));
        // realm is not a signed parameter; other schemes and broken items are refused.
        assert_eq!(authorization_params("OAuth realm=\"x\",a=\"b%20c\"").unwrap(), vec![("a".into(), "b c".into())]);
        assert_eq!(authorization_params("Bearer abc"), Err(HeaderError::NotOAuth));
        assert!(matches!(authorization_params("OAuth a=b"), Err(HeaderError::Malformed(_))));
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
        assert_eq!(signing_key("s3cr&t+/= ~%", "ts").expose(), "s3cr%26t%2B%2F%3D%20~%25&ts");
    }

    fn normalized(url: &str, form: Option<&str>) -> String {
        let (uri, params) = received(url, form, &[]);
        let base = base_string("GET", &uri, &params);
        let encoded = base.splitn(3, '&').nth(2).unwrap();
        String::from_utf8(form_decode(encoded)).unwrap()
    }

    #[test]
    fn reserved_and_unicode_parameters_are_encoded_then_sorted() {
        let params = normalized("https://x.test/p?q=%E2%98%83%20!*'()&c%40=1", Some("c2=%2F&k%C3%A9=%3A"));
        // Sorting is on encoded bytes: `c%40` < `c2` < `k%C3%A9` < `q`.
        assert_eq!(params, "c%40=1&c2=%2F&k%C3%A9=%3A&q=%E2%98%83%20%21%2A%27%28%29");
    }

    #[test]
    fn duplicate_names_sort_by_encoded_value() {
        let params = normalized("https://x.test/p?a=2&a=10&a=1&a=a:&a=a1&a=", Some("a=%2F&a=."));
        // `a%3A` sorts before `a1` and `%2F` before `.`: raw-byte order would flip both.
        assert_eq!(params, "a=&a=%2F&a=.&a=1&a=10&a=2&a=a%3A&a=a1");
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
        assert_eq!(uri("http://127.0.0.1:8081/oauth/request_token"), "http://127.0.0.1:8081/oauth/request_token");
        assert_eq!(uri("https://[::1]:8443/cb"), "https://[::1]:8443/cb");
        assert!(matches!(base_string_uri("ftp://x/"), Err(BaseStringError::InvalidUrl(_))));
        assert!(matches!(base_string_uri("/relative"), Err(BaseStringError::InvalidUrl(_))));
        assert!(matches!(base_string_uri("http://user@x/"), Err(BaseStringError::InvalidUrl(_))));
    }

    #[test]
    fn malformed_signatures_do_not_verify() {
        let key = signing_key("cs", "");
        assert!(!verify_hmac_sha1(&key, "GET&x&y", "not base64!"));
        assert!(!verify_hmac_sha1(&key, "GET&x&y", ""));
        assert!(verify_hmac_sha1(&key, "GET&x&y", &hmac_sha1(&key, "GET&x&y")));
    }
}
