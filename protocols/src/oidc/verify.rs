//! Signed-JWT checks for id_tokens (and signed userinfo answers): the algorithm allow-list, the
//! key from the provider's JWKS, the signature, then issuer, audience, lifetime and nonce.
//!
//! The JWK model and the signature itself come from `openidconnect` (`CoreJsonWebKey::
//! verify_signature`); the claim checks are ours because B2C's rules differ from the crate's
//! verifier (issuer prefixes, a bounded clock skew, `nbf`, readable reasons). RS256/384/512
//! signatures are first checked with aws-lc (see [`Jwks`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJsonWebKeyType, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse, JwsSigningAlgorithm, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::federation::constant_time_eq;
use crate::keys::RsaVerifyingKey;

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// Asymmetric signatures only: never `none`, never an HMAC (a public key used as an HMAC secret
/// forges anything), never an algorithm the key type cannot back.
pub const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

const ALLOWED_NAMES: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384";

/// Why a token was refused. `what` names the token ("the id_token").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{what} is not a signed JWT ({reason})")]
    Malformed { what: &'static str, reason: String },
    #[error("{what} is not signed (alg '{alg}')")]
    Unsigned { what: &'static str, alg: String },
    #[error(
        "{what} is signed with the symmetric algorithm '{alg}'; only asymmetric signatures ({ALLOWED_NAMES}) are accepted"
    )]
    Symmetric { what: &'static str, alg: String },
    #[error("{what}'s algorithm '{alg}' is not allowed (allowed: {ALLOWED_NAMES})")]
    AlgorithmNotAllowed { what: &'static str, alg: String },
    #[error("{what} has critical header parameters {names:?} that are not understood")]
    CriticalHeader { what: &'static str, names: Vec<String> },
    #[error("{what}'s signing key '{kid}' is not in the provider's JWKS (fetched again once)")]
    UnknownKey { what: &'static str, kid: String },
    #[error("{what} names no key (kid) and the provider's JWKS has no key for {alg}")]
    NoKey { what: &'static str, alg: String },
    #[error("{what}'s signing key '{kid}' cannot verify {alg} signatures ({reason})")]
    KeyUnusable { what: &'static str, kid: String, alg: String, reason: String },
    #[error(
        "{what}'s signature does not verify with the provider's key '{kid}' (the token was altered or not signed by the provider)"
    )]
    BadSignature { what: &'static str, kid: String },
    #[error("{what} has no '{claim}' claim")]
    MissingClaim { what: &'static str, claim: &'static str },
    #[error("{what}'s '{claim}' claim is not {expected}")]
    InvalidClaim { what: &'static str, claim: &'static str, expected: &'static str },
    #[error("{what}'s issuer '{found}' is not the provider's issuer '{expected}'")]
    Issuer { what: &'static str, found: String, expected: String },
    #[error("{what}'s issuer '{found}' does not start with any of the ValidTokenIssuerPrefixes {prefixes:?}")]
    IssuerPrefix { what: &'static str, found: String, prefixes: Vec<String> },
    #[error("{what}'s audience {found:?} does not contain the client_id '{expected}'")]
    Audience { what: &'static str, found: Vec<String>, expected: String },
    #[error(
        "{what}'s audience {found:?} names other parties besides '{expected}', and its authorized party (azp) {azp:?} is not '{expected}'"
    )]
    AuthorizedParty { what: &'static str, found: Vec<String>, expected: String, azp: Option<String> },
    #[error("{what} expired at {exp} ({ago} s before now; the allowed clock skew is {CLOCK_SKEW_SECS} s)")]
    Expired { what: &'static str, exp: i64, ago: i64 },
    #[error("{what} is not valid before {nbf} ({ahead} s after now; the allowed clock skew is {CLOCK_SKEW_SECS} s)")]
    NotYetValid { what: &'static str, nbf: i64, ahead: i64 },
    #[error("{what} was issued at {iat}, {ahead} s in the future (the allowed clock skew is {CLOCK_SKEW_SECS} s)")]
    IssuedInFuture { what: &'static str, iat: i64, ahead: i64 },
    #[error("{what} has no nonce, but the authorization request sent one")]
    NonceMissing { what: &'static str },
    #[error("{what}'s nonce does not match the nonce sent in the authorization request")]
    NonceMismatch { what: &'static str },
    #[error("{what}'s at_hash does not match the access token (the access token was swapped)")]
    AccessTokenHash { what: &'static str },
    #[error("{what}'s c_hash does not match the authorization code (the code was swapped)")]
    CodeHash { what: &'static str },
    #[error("{what}'s issuer '{found}' does not fit the provider's issuer template '{template}'")]
    IssuerTemplate { what: &'static str, found: String, template: String },
    #[error("{what}'s issuer names the tenant '{issuer_tenant}' but its tid claim is {tid:?}")]
    IssuerTenant { what: &'static str, issuer_tenant: String, tid: Option<String> },
    #[error("the token endpoint's id_token has another '{claim}' ({back}) than the front-channel id_token ({front})")]
    EndUserMismatch { claim: &'static str, front: String, back: String },
}

/// A compact JWS split into its parts; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Jwt {
    pub what: &'static str,
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn parse(what: &'static str, token: &str) -> Result<Jwt, TokenError> {
        let malformed = |reason: &str| TokenError::Malformed { what, reason: reason.to_owned() };
        let token = token.trim();
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() == 5 {
            return Err(malformed("encrypted tokens (JWE) are not supported"));
        }
        let [header, payload, signature] = parts.as_slice() else {
            return Err(malformed("it does not have three dot-separated parts"));
        };
        let json = |part: &str, name: &str| -> Result<Map<String, Value>, TokenError> {
            let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(&format!("its {name} is not base64url")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(malformed(&format!("its {name} is not a JSON object"))),
            }
        };
        let header_json = json(header, "header")?;
        let payload_json = json(payload, "payload")?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed("its signature is not base64url"))?;
        Ok(Jwt {
            what,
            header: header_json,
            payload: payload_json,
            // `header.payload` as it stands in the token.
            signing_input: token[..header.len() + 1 + payload.len()].to_owned(),
            signature,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The claims: trust them only after [`Jwt::verify`].
    pub fn claims(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The claims, taken: trust them only after [`Jwt::verify`].
    pub fn into_claims(self) -> Map<String, Value> {
        self.payload
    }

    /// The header's algorithm, if it is one we accept; checked before any key is looked up, so
    /// a forged header never triggers a JWKS fetch.
    pub fn algorithm(&self) -> Result<CoreJwsSigningAlgorithm, TokenError> {
        let what = self.what;
        let Some(alg) = self.header.get("alg").and_then(Value::as_str) else {
            return Err(TokenError::Malformed { what, reason: "its header has no 'alg'".to_owned() });
        };
        if alg.eq_ignore_ascii_case("none") || alg.is_empty() {
            return Err(TokenError::Unsigned { what, alg: alg.to_owned() });
        }
        if alg.to_ascii_uppercase().starts_with("HS") {
            return Err(TokenError::Symmetric { what, alg: alg.to_owned() });
        }
        let parsed: CoreJwsSigningAlgorithm = serde_json::from_value(Value::String(alg.to_owned()))
            .map_err(|_| TokenError::AlgorithmNotAllowed { what, alg: alg.to_owned() })?;
        if parsed.uses_shared_secret() {
            return Err(TokenError::Symmetric { what, alg: alg.to_owned() });
        }
        if !ALLOWED_ALGORITHMS.contains(&parsed) {
            return Err(TokenError::AlgorithmNotAllowed { what, alg: alg.to_owned() });
        }
        if let Some(crit) = self.header.get("crit") {
            let names = crit.as_array().map_or_else(Vec::new, |a| {
                a.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
            });
            return Err(TokenError::CriticalHeader { what, names });
        }
        Ok(parsed)
    }

    /// Whether `keys` has a key with the token's `kid` (a token without one always finds one to
    /// try). False means: fetch the JWKS again, once.
    pub fn key_known(&self, keys: &Jwks) -> bool {
        match self.kid() {
            Some(kid) => keys.set.keys().iter().any(|k| k.key_id().is_some_and(|id| id.as_str() == kid)),
            None => true,
        }
    }

    /// Checks the signature with the provider's keys: the key named by `kid`, or without a
    /// `kid` every key of the algorithm's type.
    pub fn verify(&self, keys: &Jwks) -> Result<VerifiedKey, TokenError> {
        let what = self.what;
        let alg = self.algorithm()?;
        // Only refusals name the algorithm and the kid.
        let alg_name = |alg: &CoreJwsSigningAlgorithm| {
            serde_json::to_value(alg).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        };
        let candidates: Vec<(&CoreJsonWebKey, Option<&RsaVerifyingKey>)> = match self.kid() {
            Some(kid) => keys.iter().filter(|(k, _)| k.key_id().is_some_and(|id| id.as_str() == kid)).collect(),
            None => keys.iter().filter(|(k, _)| alg.key_type().as_ref() == Some(k.key_type())).collect(),
        };
        let kid = || self.kid().unwrap_or("(no kid)").to_owned();
        if candidates.is_empty() {
            return Err(match self.kid() {
                Some(_) => TokenError::UnknownKey { what, kid: kid() },
                None => TokenError::NoKey { what, alg: alg_name(&alg) },
            });
        }
        // Without a kid several keys may fit: any one of the provider's keys may verify.
        let mut unusable = None;
        let mut bad_signature = false;
        for (key, rsa) in candidates {
            if rsa.is_some_and(|rsa| verified_by_aws_lc(key, rsa, &alg, self.signing_input.as_bytes(), &self.signature))
            {
                return Ok(VerifiedKey { key: key.clone(), alg });
            }
            match key.verify_signature(&alg, self.signing_input.as_bytes(), &self.signature) {
                Ok(()) => return Ok(VerifiedKey { key: key.clone(), alg }),
                Err(
                    SignatureVerificationError::InvalidKey(reason) | SignatureVerificationError::UnsupportedAlg(reason),
                ) => {
                    unusable.get_or_insert(reason);
                }
                Err(_) => bad_signature = true,
            }
        }
        Err(match unusable {
            Some(reason) if !bad_signature => TokenError::KeyUnusable { what, kid: kid(), alg: alg_name(&alg), reason },
            _ => TokenError::BadSignature { what, kid: kid() },
        })
    }
}

/// A provider's key set; each RSA key is parsed by aws-lc on its first check per algorithm and
/// kept for the set's life.
#[derive(Debug)]
pub struct Jwks {
    set: CoreJsonWebKeySet,
    /// Beside `set.keys()`, one entry per key; none for a key that is not RSA or lacks `n`/`e`.
    /// A key aws-lc refuses verifies nothing here, so its tokens take the crate's path.
    rsa: Vec<Option<RsaVerifyingKey>>,
}

impl Jwks {
    pub fn new(set: CoreJsonWebKeySet) -> Jwks {
        let rsa = set.keys().iter().map(rsa_key).collect();
        Jwks { set, rsa }
    }

    fn iter(&self) -> impl Iterator<Item = (&CoreJsonWebKey, Option<&RsaVerifyingKey>)> {
        self.set.keys().iter().zip(self.rsa.iter().map(Option::as_ref))
    }
}

/// `openidconnect` keeps `n` and `e` to itself: they are read back from the key's JSON.
fn rsa_key(key: &CoreJsonWebKey) -> Option<RsaVerifyingKey> {
    if *key.key_type() != CoreJsonWebKeyType::RSA {
        return None;
    }
    RsaVerifyingKey::from_jwk(&serde_json::to_value(key).ok()?)
}

/// RustCrypto's `rsa` (under `openidconnect`) refuses moduli above 4096 bits.
const RUSTCRYPTO_MAX_MODULUS_BYTES: usize = 512;

/// Whether aws-lc verifies an RS256/384/512 signature, which it does several times faster than
/// `openidconnect`'s RustCrypto path. Only a success is taken from it, and only for a key that
/// `openidconnect` accepts too (its `use`, `kty` and `alg` against the token's algorithm, and
/// RustCrypto's bounds on `n`); every other case takes the crate's path, so refusals and their
/// reasons stay the crate's.
fn verified_by_aws_lc(
    key: &CoreJsonWebKey,
    rsa: &RsaVerifyingKey,
    alg: &CoreJwsSigningAlgorithm,
    message: &[u8],
    sig: &[u8],
) -> bool {
    let jose = match alg {
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => jsonwebtoken::Algorithm::RS256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384 => jsonwebtoken::Algorithm::RS384,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512 => jsonwebtoken::Algorithm::RS512,
        _ => return false,
    };
    let usable = key.key_use().is_none_or(|u| u.allows_signature())
        && alg.key_type().as_ref() == Some(key.key_type())
        && match key.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unsupported => false,
        };
    usable && rsa.modulus_len() <= RUSTCRYPTO_MAX_MODULUS_BYTES && rsa.verifies(jose, message, sig)
}

/// The key that verified a token, for `at_hash`.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    key: CoreJsonWebKey,
    alg: CoreJwsSigningAlgorithm,
}

impl VerifiedKey {
    /// OIDC Core §3.1.3.8: the left half of the access token's hash, base64url.
    pub fn check_at_hash(
        &self,
        what: &'static str,
        claims: &Map<String, Value>,
        access_token: &str,
    ) -> Result<(), TokenError> {
        let Some(expected) = claims.get("at_hash") else { return Ok(()) };
        match self.half_hash_matches(what, "at_hash", expected, access_token)? {
            true => Ok(()),
            false => Err(TokenError::AccessTokenHash { what }),
        }
    }

    /// OIDC Core §3.3.2.11: a front-channel id_token of `code id_token` must carry the code's
    /// hash, so a code swapped in the response is caught.
    pub fn check_c_hash(&self, what: &'static str, claims: &Map<String, Value>, code: &str) -> Result<(), TokenError> {
        let expected = claims.get("c_hash").ok_or(TokenError::MissingClaim { what, claim: "c_hash" })?;
        match self.half_hash_matches(what, "c_hash", expected, code)? {
            true => Ok(()),
            false => Err(TokenError::CodeHash { what }),
        }
    }

    /// Whether `expected` is the left half of `value`'s hash under the token's algorithm.
    fn half_hash_matches(
        &self,
        what: &'static str,
        claim: &'static str,
        expected: &Value,
        value: &str,
    ) -> Result<bool, TokenError> {
        let expected = expected.as_str().ok_or(TokenError::InvalidClaim { what, claim, expected: "a string" })?;
        let Ok(hash) = self.key.hash_bytes(value.as_bytes(), &self.alg) else { return Ok(false) };
        let half = URL_SAFE_NO_PAD.encode(&hash[..hash.len() / 2]);
        Ok(constant_time_eq(half.as_bytes(), expected.as_bytes()))
    }
}

/// Which issuers are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    Exact(String),
    /// `ValidTokenIssuerPrefixes`.
    Prefixes(Vec<String>),
    /// A multi-tenant discovery document's issuer with a `{tenantid}` placeholder (Microsoft
    /// Entra's `common` endpoint): any one tenant in its place, which the token's `tid` names.
    Template(String),
}

/// The placeholder of a tenant-independent issuer.
pub const TENANT_ID_PLACEHOLDER: &str = "{tenantid}";

impl IssuerRule {
    /// The rule for an expected issuer, a template when it holds `{tenantid}`.
    pub fn for_issuer(issuer: String) -> IssuerRule {
        if issuer.contains(TENANT_ID_PLACEHOLDER) { IssuerRule::Template(issuer) } else { IssuerRule::Exact(issuer) }
    }

    /// The tenant a template's placeholder stands for in `found`.
    fn template_tenant<'f>(template: &str, found: &'f str) -> Option<&'f str> {
        let (before, after) = template.split_once(TENANT_ID_PLACEHOLDER)?;
        let tenant = found.strip_prefix(before)?.strip_suffix(after)?;
        (!tenant.is_empty() && !tenant.contains(['/', '?', '#'])).then_some(tenant)
    }

    pub fn check(&self, what: &'static str, found: &str) -> Result<(), TokenError> {
        match self {
            IssuerRule::Template(template) if IssuerRule::template_tenant(template, found).is_some() => Ok(()),
            IssuerRule::Template(template) => {
                Err(TokenError::IssuerTemplate { what, found: found.to_owned(), template: template.clone() })
            }
            IssuerRule::Exact(expected) if expected == found => Ok(()),
            IssuerRule::Exact(expected) => {
                Err(TokenError::Issuer { what, found: found.to_owned(), expected: expected.clone() })
            }
            IssuerRule::Prefixes(prefixes) if prefixes.iter().any(|p| found.starts_with(p.as_str())) => Ok(()),
            IssuerRule::Prefixes(prefixes) => {
                Err(TokenError::IssuerPrefix { what, found: found.to_owned(), prefixes: prefixes.clone() })
            }
        }
    }
}

/// What a verified token's claims must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub issuer: &'a IssuerRule,
    pub audience: &'a str,
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// OIDC Core §3.1.3.7 after the signature: iss, aud (and azp with several audiences), exp, nbf,
/// iat, sub and nonce.
pub fn check_claims(
    what: &'static str,
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(), TokenError> {
    let string = |claim: &'static str| -> Result<&str, TokenError> {
        match claims.get(claim) {
            None | Some(Value::Null) => Err(TokenError::MissingClaim { what, claim }),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(TokenError::InvalidClaim { what, claim, expected: "a string" }),
        }
    };
    let time = |claim: &'static str| -> Result<Option<i64>, TokenError> {
        match claims.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or(TokenError::InvalidClaim { what, claim, expected: "a number of seconds" }),
            Some(_) => Err(TokenError::InvalidClaim { what, claim, expected: "a number of seconds" }),
        }
    };

    let iss = string("iss")?;
    expected.issuer.check(what, iss)?;
    if let IssuerRule::Template(template) = expected.issuer
        && let Some(issuer_tenant) = IssuerRule::template_tenant(template, iss)
    {
        let tid = claims.get("tid").and_then(Value::as_str);
        if tid != Some(issuer_tenant) {
            return Err(TokenError::IssuerTenant {
                what,
                issuer_tenant: issuer_tenant.to_owned(),
                tid: tid.map(str::to_owned),
            });
        }
    }

    let audiences: Vec<String> = match claims.get("aud") {
        None | Some(Value::Null) => return Err(TokenError::MissingClaim { what, claim: "aud" }),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(TokenError::InvalidClaim { what, claim: "aud", expected: "a string or an array of strings" })?,
        Some(_) => {
            return Err(TokenError::InvalidClaim { what, claim: "aud", expected: "a string or an array of strings" });
        }
    };
    if !audiences.iter().any(|a| a == expected.audience) {
        return Err(TokenError::Audience { what, found: audiences, expected: expected.audience.to_owned() });
    }
    if audiences.iter().any(|a| a != expected.audience) {
        let azp = claims.get("azp").and_then(Value::as_str);
        if azp != Some(expected.audience) {
            return Err(TokenError::AuthorizedParty {
                what,
                found: audiences,
                expected: expected.audience.to_owned(),
                azp: azp.map(str::to_owned),
            });
        }
    }

    let now = expected.now;
    let exp = time("exp")?.ok_or(TokenError::MissingClaim { what, claim: "exp" })?;
    if now >= exp.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TokenError::Expired { what, exp, ago: now - exp });
    }
    if let Some(nbf) = time("nbf")?
        && nbf > now.saturating_add(CLOCK_SKEW_SECS)
    {
        return Err(TokenError::NotYetValid { what, nbf, ahead: nbf - now });
    }
    let iat = time("iat")?.ok_or(TokenError::MissingClaim { what, claim: "iat" })?;
    if iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TokenError::IssuedInFuture { what, iat, ahead: iat - now });
    }
    if string("sub")?.is_empty() {
        return Err(TokenError::InvalidClaim { what, claim: "sub", expected: "a non-empty string" });
    }

    if let Some(sent) = expected.nonce {
        let found = match claims.get("nonce") {
            None | Some(Value::Null) => return Err(TokenError::NonceMissing { what }),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(TokenError::NonceMismatch { what }),
        };
        if !constant_time_eq(found.as_bytes(), sent.as_bytes()) {
            return Err(TokenError::NonceMismatch { what });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn base() -> Value {
        json!({"iss": "https://idp", "aud": "client", "sub": "alice", "exp": 2000, "iat": 1000, "nonce": "n1"})
    }

    fn check(value: Value) -> Result<(), TokenError> {
        let rule = IssuerRule::Exact("https://idp".to_owned());
        let expected = Expected { issuer: &rule, audience: "client", nonce: Some("n1"), now: 1500 };
        check_claims("the id_token", &claims(value), &expected)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    #[test]
    fn a_good_token_passes() {
        assert_eq!(check(base()), Ok(()));
        // Within the skew on every side.
        assert_eq!(check(with("exp", json!(1500 - CLOCK_SKEW_SECS + 1))), Ok(()));
        assert_eq!(check(with("iat", json!(1500 + CLOCK_SKEW_SECS))), Ok(()));
        assert_eq!(check(with("nbf", json!(1500 + CLOCK_SKEW_SECS))), Ok(()));
        assert_eq!(check(with("exp", json!(2000.5))), Ok(()));
    }

    #[test]
    fn each_claim_rule_names_its_reason() {
        let cases = [
            (with("iss", json!("https://evil")), "issuer 'https://evil' is not the provider's issuer 'https://idp'"),
            (with("aud", json!(["other"])), r#"audience ["other"] does not contain the client_id 'client'"#),
            (with("aud", json!(["client", "api"])), "authorized party (azp) None"),
            (with("exp", json!(1500 - CLOCK_SKEW_SECS)), "expired at 1200 (300 s before now"),
            (with("nbf", json!(1500 + CLOCK_SKEW_SECS + 1)), "is not valid before 1801"),
            (with("iat", json!(1500 + CLOCK_SKEW_SECS + 1)), "was issued at 1801, 301 s in the future"),
            (with("nonce", json!("n2")), "nonce does not match"),
            (with("nonce", Value::Null), "has no nonce"),
            (with("sub", json!("")), "'sub' claim is not a non-empty string"),
            (with("exp", json!("soon")), "'exp' claim is not a number of seconds"),
            (with("aud", Value::Null), "has no 'aud' claim"),
        ];
        for (value, expected) in cases {
            let message = check(value).unwrap_err().to_string();
            assert!(message.contains(expected), "{message} should contain {expected}");
            assert!(message.starts_with("the id_token"), "{message}");
        }
        let mut azp = with("aud", json!(["client", "api"]));
        azp["azp"] = json!("client");
        assert_eq!(check(azp), Ok(()));
    }

    #[test]
    fn issuer_prefixes_accept_any_tenant_under_them() {
        let rule = IssuerRule::Prefixes(vec!["https://login.example/".into(), "https://sts.example/".into()]);
        assert!(rule.check("the id_token", "https://sts.example/tenant-1/").is_ok());
        let e = rule.check("the id_token", "https://evil.example/").unwrap_err();
        assert!(e.to_string().contains("does not start with any of the ValidTokenIssuerPrefixes"), "{e}");
    }

    #[test]
    fn issuer_templates_take_one_tenant_named_by_tid() {
        let rule = IssuerRule::for_issuer("https://login.example/{tenantid}/v2.0".into());
        assert!(matches!(rule, IssuerRule::Template(_)));
        assert!(rule.check("the id_token", "https://login.example/t-1/v2.0").is_ok());
        for bad in ["https://login.example//v2.0", "https://login.example/a/b/v2.0", "https://evil.example/t-1/v2.0"] {
            let e = rule.check("the id_token", bad).unwrap_err();
            assert!(e.to_string().contains("does not fit the provider's issuer template"), "{e}");
        }
        let token = |tid: Value| {
            let mut v = with("iss", json!("https://login.example/t-1/v2.0"));
            v["tid"] = tid;
            claims(v)
        };
        let expected = Expected { issuer: &rule, audience: "client", nonce: Some("n1"), now: 1500 };
        assert_eq!(check_claims("the id_token", &token(json!("t-1")), &expected), Ok(()));
        let e = check_claims("the id_token", &token(json!("t-2")), &expected).unwrap_err();
        assert!(e.to_string().contains("names the tenant 't-1' but its tid claim is Some(\"t-2\")"), "{e}");
        assert!(
            IssuerRule::for_issuer("https://login.example/".into())
                == IssuerRule::Exact("https://login.example/".into())
        );
    }

    fn header_only(alg: &str) -> Jwt {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(base().to_string());
        Jwt::parse("the id_token", &format!("{header}.{payload}.c2ln")).unwrap()
    }

    #[test]
    fn algorithms_outside_the_allow_list_are_refused_before_any_key_lookup() {
        assert!(matches!(header_only("none").algorithm(), Err(TokenError::Unsigned { .. })));
        assert!(matches!(header_only("NONE").algorithm(), Err(TokenError::Unsigned { .. })));
        for alg in ["HS256", "HS384", "HS512", "hs256"] {
            let e = header_only(alg).algorithm().unwrap_err();
            assert!(e.to_string().contains("symmetric algorithm"), "{e}");
        }
        for alg in ["EdDSA", "ES512", "RSA-OAEP", "XX1"] {
            let e = header_only(alg).algorithm().unwrap_err();
            assert!(matches!(e, TokenError::AlgorithmNotAllowed { .. }), "{alg}: {e}");
        }
        for alg in ["RS256", "RS512", "PS256", "ES256", "ES384"] {
            assert!(header_only(alg).algorithm().is_ok(), "{alg}");
        }
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        let e = Jwt::parse("the id_token", "a.b").unwrap_err();
        assert!(e.to_string().contains("three dot-separated parts"), "{e}");
        let e = Jwt::parse("the id_token", "a.b.c.d.e").unwrap_err();
        assert!(e.to_string().contains("JWE"), "{e}");
        let e = Jwt::parse("the id_token", "!!.e30.").unwrap_err();
        assert!(e.to_string().contains("header is not base64url"), "{e}");
        let e = Jwt::parse("the id_token", "WzFd.e30.").unwrap_err();
        assert!(e.to_string().contains("header is not a JSON object"), "{e}");
    }

    #[test]
    fn critical_headers_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "crit": ["exp-x"], "exp-x": 1}).to_string());
        let jwt = Jwt::parse("the id_token", &format!("{header}.e30.c2ln")).unwrap();
        let e = jwt.algorithm().unwrap_err();
        assert!(e.to_string().contains(r#"critical header parameters ["exp-x"]"#), "{e}");
    }

    /// A token signed by a fresh key, and that key's public JWK with `extra` fields merged in.
    fn signed(extra: Value) -> (String, Value) {
        let mut store = crate::keys::KeyStore::empty();
        store.insert_pem("k", &ief_idp::pki::rsa_private_key_pem().unwrap()).unwrap();
        let key = store.signing_key("k").unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".to_owned());
        let token = key.sign_jwt(&header, &base()).unwrap();
        let mut jwk = key.public_jwk().clone();
        jwk["kid"] = json!("k1");
        for (name, value) in extra.as_object().unwrap() {
            jwk[name] = value.clone();
        }
        (token, jwk)
    }

    fn jwks(jwk: &Value) -> Jwks {
        Jwks::new(serde_json::from_value(json!({"keys": [jwk]})).unwrap())
    }

    #[test]
    fn rs256_is_verified_by_aws_lc_and_agrees_with_the_crate() {
        let (token, jwk) = signed(json!({"use": "sig", "alg": "RS256"}));
        let jwt = Jwt::parse("the id_token", &token).unwrap();
        let keys = jwks(&jwk);
        let (key, rsa) = keys.iter().next().unwrap();
        let alg = jwt.algorithm().unwrap();
        let rsa = rsa.expect("an RSA key is parsed");
        assert!(verified_by_aws_lc(key, rsa, &alg, jwt.signing_input.as_bytes(), &jwt.signature));
        assert_eq!(key.verify_signature(&alg, jwt.signing_input.as_bytes(), &jwt.signature), Ok(()));
        assert!(jwt.verify(&keys).is_ok());

        // One bit of the signature changed: neither accepts it.
        let mut altered = jwt.signature.clone();
        altered[10] ^= 1;
        assert!(!verified_by_aws_lc(key, rsa, &alg, jwt.signing_input.as_bytes(), &altered));
        let tampered = Jwt { signature: altered, ..Jwt::parse("the id_token", &token).unwrap() };
        assert!(matches!(tampered.verify(&keys), Err(TokenError::BadSignature { .. })));

        // A leading zero in n (allowed by RFC 7518 readers) is the same key.
        let mut padded = jwk.clone();
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        padded["n"] = json!(URL_SAFE_NO_PAD.encode([&[0u8][..], &n].concat()));
        assert!(jwt.verify(&jwks(&padded)).is_ok());
    }

    #[test]
    fn keys_the_crate_refuses_are_refused_for_the_crates_reason() {
        for (extra, reason) in [
            (json!({"use": "enc"}), "key usage not permitted for digital signatures"),
            (json!({"alg": "RS512"}), "incompatible key algorithm"),
        ] {
            let (token, jwk) = signed(extra);
            let jwt = Jwt::parse("the id_token", &token).unwrap();
            let keys = jwks(&jwk);
            let (key, rsa) = keys.iter().next().unwrap();
            let alg = jwt.algorithm().unwrap();
            assert!(!verified_by_aws_lc(key, rsa.unwrap(), &alg, jwt.signing_input.as_bytes(), &jwt.signature));
            let e = jwt.verify(&keys).unwrap_err();
            assert!(matches!(e, TokenError::KeyUnusable { .. }), "{e}");
            assert!(e.to_string().contains(reason), "{e}");
        }
    }
}
