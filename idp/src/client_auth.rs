//! Client authentication as the embedded providers' token endpoints verify it: RFC 6749 §2.3.1
//! Basic credentials, client secrets, and RFC 7523 client assertions (with a ledger of the
//! `jti`s already used). Each provider decides which method a client must use and how a refusal
//! is answered; what is verified, and the words of every refusal, are the same for all.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::time_text;
use ief_protocols::federation::seen_once::SeenOnce;
use ief_protocols::keys::RsaVerifyingKey;

/// Why the `Authorization: Basic` credentials cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum BasicError {
    #[error("the Authorization: Basic credentials are not base64 of UTF-8 text")]
    NotBase64,
    #[error("the Authorization: Basic credentials have no ':' between the client id and the secret")]
    NoColon,
    #[error(
        "the Authorization: Basic credentials are not form-urlencoded as RFC 6749 §2.3.1 requires (a malformed '%' escape)"
    )]
    MalformedEscape,
    #[error("the Authorization: Basic credentials decode to bytes that are not UTF-8")]
    NotUtf8,
}

/// `client_id:secret` of an `Authorization: Basic` header, each form-urldecoded.
pub(super) struct BasicCredentials {
    pub id: String,
    pub secret: String,
    /// The secret as sent, to tell a client that skipped the encoding.
    pub raw_secret: String,
}

/// The Basic credentials of a request; `None` without an `Authorization: Basic` header.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, BasicError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().unwrap_or_default().trim();
    let Some((scheme, encoded)) = value.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded =
        STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(BasicError::NotBase64)?;
    let (id, secret) = decoded.split_once(':').ok_or(BasicError::NoColon)?;
    Ok(Some(BasicCredentials {
        id: form_urldecode(id)?,
        secret: form_urldecode(secret)?,
        raw_secret: secret.to_owned(),
    }))
}

/// application/x-www-form-urlencoded decoding that refuses a malformed `%` escape.
fn form_urldecode(text: &str) -> Result<String, BasicError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let byte = hex
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(BasicError::MalformedEscape)?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| BasicError::NotUtf8)
}

/// Why a client secret is refused. Neither message repeats a secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum SecretError {
    #[error(
        "the client secret of client '{0}' in the Authorization: Basic header is not form-urlencoded as RFC 6749 §2.3.1 requires"
    )]
    NotFormEncoded(String),
    #[error("the client secret does not match the one registered for client '{0}'")]
    Mismatch(String),
}

/// Checks `sent` against the `registered` secret. `raw` is the Basic secret as sent: when it
/// is the registered one, the client forgot the form-urlencoding, and is told so.
pub(super) fn check_secret(
    client_id: &str,
    registered: &str,
    sent: &str,
    raw: Option<&str>,
) -> Result<(), SecretError> {
    if same_secret(sent, registered) {
        return Ok(());
    }
    if raw.is_some_and(|raw| same_secret(raw, registered)) {
        return Err(SecretError::NotFormEncoded(client_id.to_owned()));
    }
    Err(SecretError::Mismatch(client_id.to_owned()))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client id a client assertion claims (`iss`, else `sub`), before any verification: only
/// to find the client whose keys verify it.
pub(super) fn unverified_issuer(assertion: &str) -> Option<String> {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(assertion).ok()?.claims;
    claims.get("iss").or_else(|| claims.get("sub")).and_then(Value::as_str).map(str::to_owned)
}

/// A registered key that may verify a client's assertions.
pub(super) struct AssertionKey {
    kid: Option<String>,
    key: DecodingKey,
    /// The same key for aws-lc, parsed on its first check per RS256/384/512 and kept (none for a
    /// PEM key). A key aws-lc refuses verifies nothing, so jsonwebtoken decides.
    rsa: Option<RsaVerifyingKey>,
}

/// The RSA keys of a JWK set (or of one JWK); `field` names the setting in messages.
pub(super) fn jwk_keys(jwks: &Value, field: &str) -> Result<Vec<AssertionKey>, String> {
    let keys: Vec<&Value> = match jwks.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err(format!("{field}.keys is not an array")),
        None => vec![jwks],
    };
    keys.into_iter()
        .enumerate()
        .map(|(i, jwk)| {
            if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
                return Err(format!("{field} key {i} is not an RSA key"));
            }
            let parsed: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(jwk.clone()).map_err(|e| format!("{field} key {i} is not a JWK ({e})"))?;
            let key = DecodingKey::from_jwk(&parsed).map_err(|e| format!("{field} key {i} is not usable ({e})"))?;
            Ok(AssertionKey { kid: parsed.common.key_id, key, rsa: RsaVerifyingKey::from_jwk(jwk) })
        })
        .collect()
}

/// An RSA public key or certificate (PEM), without a kid.
pub(super) fn pem_key(pem: &str, field: &str) -> Result<AssertionKey, String> {
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("{field} is not an RSA public key PEM or certificate ({e})"))?;
    Ok(AssertionKey { kid: None, key, rsa: None })
}

/// Which signing algorithms a client's assertions may use.
#[derive(Clone, Copy)]
pub(super) enum Algorithms {
    /// Exactly the one the client registered (`token_endpoint_auth_signing_alg`).
    Registered(Algorithm),
    /// Any of these.
    AnyOf(&'static [Algorithm]),
}

/// How long after the provider's now an assertion may expire. Its jti is remembered until
/// then, so an unbounded `exp` (1e30) would keep it for ever; real providers cap it too.
pub(super) const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// What an assertion of one client must satisfy at this moment.
pub(super) struct AssertionRules<'a> {
    pub client_id: &'a str,
    pub keys: &'a [AssertionKey],
    pub algorithms: Algorithms,
    /// The accepted audiences: the token endpoint and the provider's issuer (its base URL).
    pub token_endpoint: &'a str,
    pub issuer: &'a str,
    /// The provider's clock, and how far an assertion's times may be off from it.
    pub now: i64,
    pub skew: i64,
}

/// Why a client assertion is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum AssertionError {
    #[error("the client assertion is not a JWT ({0})")]
    NotJwt(String),
    #[error(
        "the client assertion is signed with {alg:?}, but client '{client_id}' registered {registered:?} (token_endpoint_auth_signing_alg)"
    )]
    NotRegisteredAlgorithm { alg: Algorithm, client_id: String, registered: Algorithm },
    #[error("the client assertion is signed with {alg:?}, not {supported}")]
    UnsupportedAlgorithm { alg: Algorithm, supported: String },
    #[error("the client assertion kid '{kid}' is not one of the keys registered for client '{client_id}'")]
    UnknownKid { kid: String, client_id: String },
    #[error("the client assertion signature does not verify with the key(s) registered for client '{0}'")]
    Signature(String),
    #[error("the client assertion cannot be verified ({0})")]
    Unverifiable(String),
    #[error("the client assertion {claim} '{}' is not the client_id '{client_id}'", value.as_deref().unwrap_or("(none)"))]
    NotTheClient { claim: &'static str, value: Option<String>, client_id: String },
    #[error(
        "the client assertion aud '{aud}' is neither the token endpoint '{token_endpoint}' nor the issuer '{issuer}'"
    )]
    Audience { aud: String, token_endpoint: String, issuer: String },
    #[error("the client assertion has no exp")]
    NoExp,
    #[error("the client assertion expired at {} (now {})", time_text(*exp), time_text(*now))]
    Expired { exp: i64, now: i64 },
    #[error(
        "the client assertion is valid until {} (now {}); the longest accepted is {MAX_ASSERTION_LIFETIME_SECS} seconds",
        time_text(*exp),
        time_text(*now)
    )]
    TooLong { exp: i64, now: i64 },
    #[error("the client assertion is not valid before {}", time_text(*nbf))]
    NotYetValid { nbf: i64 },
    #[error("the client assertion was issued in the future (iat {}, now {})", time_text(*iat), time_text(*now))]
    IssuedInTheFuture { iat: i64, now: i64 },
    #[error("the client assertion has no jti")]
    NoJti,
    #[error("the client assertion jti was already used (a replay)")]
    Replayed,
}

/// RFC 7523 §3: the algorithm, a signature by one of the client's keys, iss = sub = client_id,
/// an accepted `aud`, `exp`, `nbf` and `iat` against the provider's clock, and a `jti` never
/// used before (recorded in `ledger`). Returns the verified claims.
pub(super) fn verify_assertion(
    assertion: &str,
    rules: &AssertionRules<'_>,
    ledger: &JtiLedger,
) -> Result<Map<String, Value>, AssertionError> {
    let client_id = rules.client_id;
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| AssertionError::NotJwt(e.to_string()))?;
    match rules.algorithms {
        Algorithms::Registered(registered) if header.alg != registered => {
            return Err(AssertionError::NotRegisteredAlgorithm {
                alg: header.alg,
                client_id: client_id.to_owned(),
                registered,
            });
        }
        Algorithms::AnyOf(allowed) if !allowed.contains(&header.alg) => {
            let names: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            return Err(AssertionError::UnsupportedAlgorithm { alg: header.alg, supported: names.join(" or ") });
        }
        _ => {}
    }
    let candidates: Vec<&AssertionKey> = match &header.kid {
        Some(kid) => rules.keys.iter().filter(|k| k.kid.as_ref().is_none_or(|k| k == kid)).collect(),
        None => rules.keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(AssertionError::UnknownKid {
            kid: header.kid.unwrap_or_default(),
            client_id: client_id.to_owned(),
        });
    }
    // Signature only: the claims are checked below, times against the provider's clock.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut other_error = None;
    let mut verified = None;
    // RS256/384/512 are checked first with the key kept for aws-lc; only a success is taken
    // from it, so every refusal, and its reason, stays jsonwebtoken's.
    let signed = assertion.rsplit_once('.').and_then(|(input, sig)| Some((input, URL_SAFE_NO_PAD.decode(sig).ok()?)));
    for candidate in candidates {
        let parsed_key_verifies = candidate
            .rsa
            .as_ref()
            .zip(signed.as_ref())
            .is_some_and(|(rsa, (input, sig))| rsa.verifies(header.alg, input.as_bytes(), sig));
        if parsed_key_verifies
            && let Ok(data) = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(assertion)
        {
            verified = Some(data.claims);
            break;
        }
        match jsonwebtoken::decode::<Map<String, Value>>(assertion, &candidate.key, &validation) {
            Ok(data) => {
                verified = Some(data.claims);
                break;
            }
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {}
            Err(e) => other_error = Some(e),
        }
    }
    let claims = match (verified, other_error) {
        (Some(claims), _) => claims,
        (None, Some(e)) => return Err(AssertionError::Unverifiable(e.to_string())),
        (None, None) => return Err(AssertionError::Signature(client_id.to_owned())),
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    for claim in ["iss", "sub"] {
        if text(claim) != Some(client_id) {
            return Err(AssertionError::NotTheClient {
                claim,
                value: text(claim).map(str::to_owned),
                client_id: client_id.to_owned(),
            });
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let accepted = |a: &&str| !a.is_empty() && (*a == rules.token_endpoint || *a == rules.issuer);
    if !audiences.iter().any(accepted) {
        return Err(AssertionError::Audience {
            aud: audiences.join("', '"),
            token_endpoint: rules.token_endpoint.to_owned(),
            issuer: rules.issuer.to_owned(),
        });
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| v as i64);
    let (now, skew) = (rules.now, rules.skew);
    let exp = number("exp").ok_or(AssertionError::NoExp)?;
    // Saturating: `exp` may be anything up to i64::MAX (an f64 like 1e30 saturates there).
    if now >= exp.saturating_add(skew) {
        return Err(AssertionError::Expired { exp, now });
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECS + skew) {
        return Err(AssertionError::TooLong { exp, now });
    }
    if let Some(nbf) = number("nbf").filter(|nbf| now.saturating_add(skew) < *nbf) {
        return Err(AssertionError::NotYetValid { nbf });
    }
    if let Some(iat) = number("iat").filter(|iat| now.saturating_add(skew) < *iat) {
        return Err(AssertionError::IssuedInTheFuture { iat, now });
    }
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or(AssertionError::NoJti)?;
    // Kept while the assertion could still be accepted: after that, its exp refuses it.
    if !ledger.first_use((client_id.to_owned(), jti.to_owned()), exp.saturating_add(skew), now) {
        return Err(AssertionError::Replayed);
    }
    Ok(claims)
}

/// The `(client_id, jti)` of accepted client assertions, each until its assertion expires.
pub(super) type JtiLedger = SeenOnce<(String, String)>;

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use ief_protocols::federation::client_auth::basic_authorization;
    use ief_protocols::keys::KeyStore;

    /// 2024-01-01T00:00:00Z.
    const NOW: i64 = 1_704_067_200;
    const ENDPOINT: &str = "https://op.example/token";

    fn basic(value: &str) -> Result<Option<BasicCredentials>, BasicError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        basic_credentials(&headers)
    }

    #[test]
    fn form_urldecoding_refuses_broken_escapes() {
        assert_eq!(form_urldecode("a+b%2B%3a").as_deref(), Ok("a b+:"));
        assert_eq!(form_urldecode("a+b%2Bc%3A").as_deref(), Ok("a b+c:"));
        for broken in ["%&?", "%2", "%4", "%G1", "%+f"] {
            assert_eq!(form_urldecode(broken), Err(BasicError::MalformedEscape), "{broken}");
        }
        assert_eq!(form_urldecode("%FF"), Err(BasicError::NotUtf8));
    }

    #[test]
    fn basic_credentials_are_decoded_per_rfc_6749() {
        assert!(basic_credentials(&HeaderMap::new()).unwrap().is_none());
        assert!(basic("Bearer abc").unwrap().is_none());
        let sent = basic(&basic_authorization("my client", "p@ss:w+rd/%=&")).unwrap().unwrap();
        assert_eq!((sent.id.as_str(), sent.secret.as_str()), ("my client", "p@ss:w+rd/%=&"));
        assert_eq!(basic("basic !!").err(), Some(BasicError::NotBase64));
        assert_eq!(basic(&format!("Basic {}", STANDARD.encode("no-colon"))).err(), Some(BasicError::NoColon));
        let raw = basic(&format!("Basic {}", STANDARD.encode("id:a%zz"))).err();
        assert!(raw.is_some_and(|e| e.to_string().contains("RFC 6749 §2.3.1")));
    }

    #[test]
    fn secrets_are_compared_and_a_missing_encoding_is_named() {
        assert_eq!(check_secret("c", "a+b", "a+b", None), Ok(()));
        assert_eq!(check_secret("c", "a+b", "a b", Some("a+b")), Err(SecretError::NotFormEncoded("c".into())));
        let wrong = check_secret("c", "a+b", "guess", Some("guess")).unwrap_err();
        assert_eq!(wrong, SecretError::Mismatch("c".into()));
        assert!(!wrong.to_string().contains("guess") && !wrong.to_string().contains("a+b"));
        assert!(!same_secret("a", "ab") && same_secret("", ""));
    }

    struct Signer {
        encoding: EncodingKey,
        kid: String,
        jwk: Value,
        keys: Vec<AssertionKey>,
    }

    fn signer() -> Signer {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap().serialize_pem();
        let mut store = KeyStore::empty();
        store.insert_pem("k", &pem).unwrap();
        let key = store.signing_key("k").unwrap();
        let keys = jwk_keys(key.public_jwk(), "jwks").unwrap();
        Signer { encoding: key.encoding_key().clone(), kid: key.kid().to_owned(), jwk: key.public_jwk().clone(), keys }
    }

    fn sign(s: &Signer, alg: Algorithm, kid: bool, claims: Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.then(|| s.kid.clone());
        jsonwebtoken::encode(&header, &claims, &s.encoding).unwrap()
    }

    /// One character of the signature changed.
    fn tampered(token: String) -> String {
        let at = token.len() - 10;
        let changed = if &token[at..=at] == "A" { "B" } else { "A" };
        format!("{}{changed}{}", &token[..at], &token[at + 1..])
    }

    fn claims(jti: &str) -> Value {
        json!({"iss": "c", "sub": "c", "aud": ENDPOINT, "exp": NOW + 300, "iat": NOW, "jti": jti})
    }

    fn rules(keys: &[AssertionKey], skew: i64) -> AssertionRules<'_> {
        AssertionRules {
            client_id: "c",
            keys,
            algorithms: Algorithms::AnyOf(&[Algorithm::RS256, Algorithm::RS512]),
            token_endpoint: ENDPOINT,
            issuer: "https://op.example",
            now: NOW,
            skew,
        }
    }

    #[test]
    fn assertions_are_verified_and_each_refusal_names_its_cause() {
        let s = signer();
        let ledger = JtiLedger::default();
        let good = sign(&s, Algorithm::RS256, true, claims("j1"));
        let verified = verify_assertion(&good, &rules(&s.keys, 0), &ledger).unwrap();
        assert_eq!(verified["jti"], "j1");
        assert_eq!(verify_assertion(&good, &rules(&s.keys, 0), &ledger), Err(AssertionError::Replayed));

        let with = |patch: Value| {
            let mut c = claims("fresh");
            c.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
            c
        };
        let refused = |token: String, skew: i64| {
            verify_assertion(&token, &rules(&s.keys, skew), &JtiLedger::default()).unwrap_err().to_string()
        };
        let cases = [
            (sign(&s, Algorithm::RS384, true, claims("a")), 0, "signed with RS384, not RS256 or RS512"),
            (sign(&signer(), Algorithm::RS256, true, claims("a")), 0, "kid '"),
            (sign(&signer(), Algorithm::RS256, false, claims("a")), 0, "does not verify with the key(s)"),
            (sign(&s, Algorithm::RS256, true, with(json!({"sub": "d"}))), 0, "sub 'd' is not the client_id 'c'"),
            (sign(&s, Algorithm::RS256, true, with(json!({"aud": ["x", "y"]}))), 0, "aud 'x', 'y' is neither"),
            (sign(&s, Algorithm::RS256, true, with(json!({"exp": NOW}))), 0, "expired at 2024-01-01T00:00:00Z"),
            // D10: `exp + skew` overflowed (a panic with overflow checks, "expired" without).
            (sign(&s, Algorithm::RS256, true, with(json!({"exp": 1e30}))), 60, "the longest accepted is 3600 seconds"),
            (sign(&s, Algorithm::RS256, true, with(json!({"exp": 1e308}))), 60, "the longest accepted is 3600"),
            (sign(&s, Algorithm::RS256, true, with(json!({"exp": i64::MAX}))), 60, "the longest accepted is 3600"),
            (sign(&s, Algorithm::RS256, true, with(json!({"exp": NOW + 3661}))), 60, "the longest accepted is 3600"),
            (sign(&s, Algorithm::RS256, true, with(json!({"nbf": i64::MAX}))), 60, "not valid before"),
            (sign(&s, Algorithm::RS256, true, with(json!({"nbf": NOW + 61}))), 60, "not valid before"),
            (sign(&s, Algorithm::RS256, true, with(json!({"iat": NOW + 1}))), 0, "issued in the future"),
            (sign(&s, Algorithm::RS256, true, with(json!({"jti": ""}))), 0, "has no jti"),
            ("not.a.jwt".to_owned(), 0, "is not a JWT"),
            (tampered(sign(&s, Algorithm::RS256, true, claims("a"))), 0, "does not verify with the key(s)"),
        ];
        for (token, skew, cause) in cases {
            let message = refused(token, skew);
            assert!(message.starts_with("the client assertion ") && message.contains(cause), "{cause}: {message}");
        }
        // The longest lifetime, plus the skew, is still accepted.
        let longest = sign(&s, Algorithm::RS256, true, with(json!({"exp": NOW + 3660, "jti": "longest"})));
        assert!(verify_assertion(&longest, &rules(&s.keys, 60), &ledger).is_ok());
        // The skew stretches exp, and the ledger keeps the jti as long.
        let late = sign(&s, Algorithm::RS256, true, with(json!({"exp": NOW - 30, "jti": "late"})));
        assert!(verify_assertion(&late, &rules(&s.keys, 60), &ledger).is_ok());
        assert_eq!(verify_assertion(&late, &rules(&s.keys, 60), &ledger), Err(AssertionError::Replayed));
        // A client registered for one algorithm: another is refused before any key is tried.
        let registered = AssertionRules { algorithms: Algorithms::Registered(Algorithm::RS512), ..rules(&s.keys, 0) };
        let message = verify_assertion(&good, &registered, &ledger).unwrap_err().to_string();
        assert!(message.contains("signed with RS256, but client 'c' registered RS512"), "{message}");
        assert_eq!(unverified_issuer(&good).as_deref(), Some("c"));
    }

    #[test]
    fn rsa_assertions_verify_through_the_key_kept_for_aws_lc() {
        // The kept aws-lc key is the signer's; jsonwebtoken's is another: only the fast path accepts.
        let (s, other) = (signer(), signer());
        let mixed = |rsa| AssertionKey { kid: Some(s.kid.clone()), key: other.keys[0].key.clone(), rsa };
        let keys = [mixed(RsaVerifyingKey::from_jwk(&s.jwk))];
        let good = sign(&s, Algorithm::RS256, true, claims("fast"));
        assert_eq!(verify_assertion(&good, &rules(&keys, 0), &JtiLedger::default()).unwrap()["jti"], "fast");
        // Without the kept key, jsonwebtoken decides: the same assertion is refused.
        let slow = [mixed(None)];
        let refused = verify_assertion(&good, &rules(&slow, 0), &JtiLedger::default());
        assert_eq!(refused, Err(AssertionError::Signature("c".into())));
        // A signature aws-lc refuses (its kept key is another's) falls through to jsonwebtoken,
        // which holds the signer's key and accepts it.
        let fallback = [AssertionKey {
            kid: Some(s.kid.clone()),
            key: s.keys[0].key.clone(),
            rsa: RsaVerifyingKey::from_jwk(&other.jwk),
        }];
        assert!(fallback[0].rsa.is_some(), "aws-lc holds a key, so it refuses before jsonwebtoken decides");
        let verified = verify_assertion(&good, &rules(&fallback, 0), &JtiLedger::default());
        assert_eq!(verified.unwrap()["jti"], "fast");
    }

    #[test]
    fn keys_come_from_jwks_and_pem() {
        let s = signer();
        assert_eq!(s.keys.len(), 1);
        assert!(s.keys[0].kid.is_some());
        assert!(s.keys[0].rsa.is_some(), "a JWK's RSA key is kept for aws-lc");
        let err = |r: Result<Vec<AssertionKey>, String>| r.err().unwrap_or_default();
        assert_eq!(err(jwk_keys(&json!({"keys": 1}), "jwks")), "jwks.keys is not an array");
        assert_eq!(err(jwk_keys(&json!({"keys": [{"kty": "EC"}]}), "jwks")), "jwks key 0 is not an RSA key");
        let pem = pem_key("-----BEGIN PUBLIC KEY-----", "the public_key").err().unwrap_or_default();
        assert!(pem.starts_with("the public_key is not an RSA public key PEM"), "{pem}");
    }
}
