//! `id_token_hint` (server-spec §1.4, §1.8): a token the application presents at authorize or
//! logout. At authorize it is checked as the journey's GetClaims step says: by the technical
//! profile the step names (`CpimIssuerTechnicalProfileReferenceId`, B2C's documented
//! `IdTokenHint_ExtractClaims` pattern: an HS256 `client_secret`, its `issuer` and
//! `IdTokenAudience` metadata, its output claims taken from the token), else as a token of this
//! tenant's own issuer for the client (its claims feed the relying party's InputClaims).

use ief_engine::model::{Policy, StepType, TechnicalProfile};
use ief_transforms::{ClaimId, ClaimValue, DataType};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::{Hosted, Server};

/// B2C's code and text.
pub(crate) type Refusal = (&'static str, String);

/// What a checked hint gives the sign-in.
#[derive(Debug, Default)]
pub(crate) struct Hinted {
    /// Its claims as text by name: the request's input claims (GetClaims reads them).
    pub(crate) input_claims: Vec<(String, String)>,
    /// The hint profile's output claims, put in the bag before the first step.
    pub(crate) seeds: Vec<(ClaimId, ClaimValue)>,
}

/// How a hint is verified.
struct Verifier {
    key: DecodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: Option<String>,
}

/// The profile the default journey's GetClaims step names to read the hint with.
fn hint_profile(policy: &Policy) -> Option<&TechnicalProfile> {
    let journey = policy.journey(policy.default_journey()?)?;
    let step = journey.steps.iter().find(|s| s.step_type == StepType::GetClaims && s.issuer.is_some())?;
    policy.profile(step.issuer.as_ref()?.as_str())
}

fn internal(message: &str) -> Refusal {
    ("AADB2C90085", message.to_owned())
}

/// This tenant's issuer and signing key, for tokens of `audience`.
fn own(server: &Server, hosted: &Hosted, audience: Option<&str>) -> Result<Verifier, Refusal> {
    let key =
        crate::oauth::signing_key(server, hosted).ok_or_else(|| internal("The policy has no token signing key."))?;
    let jwk = key.public_jwk();
    let (n, e) = (jwk["n"].as_str().unwrap_or_default(), jwk["e"].as_str().unwrap_or_default());
    let key = DecodingKey::from_rsa_components(n, e).map_err(|_| internal("The token signing key is unusable."))?;
    let issuer = crate::oauth::issuer(server, hosted).ok_or_else(|| internal("The policy has no token issuer."))?;
    Ok(Verifier { key, algorithm: Algorithm::RS256, issuer, audience: audience.map(str::to_owned) })
}

/// The hint profile's own key and metadata, when it has a `client_secret`.
fn of_profile(server: &Server, profile: &TechnicalProfile) -> Result<Option<Verifier>, Refusal> {
    let Some(storage) = ief_protocols::federation::storage_id(profile, "client_secret") else { return Ok(None) };
    let secret = server.keys.secret(storage).map_err(|e| internal(&e.to_string()))?;
    let issuer = profile
        .metadata("issuer")
        .map(str::trim)
        .ok_or_else(|| internal(&format!("The technical profile '{}' has no issuer metadata.", profile.id.as_str())))?;
    Ok(Some(Verifier {
        key: DecodingKey::from_secret(secret),
        algorithm: Algorithm::HS256,
        issuer: issuer.to_owned(),
        audience: profile.metadata("IdTokenAudience").map(|a| a.trim().to_owned()),
    }))
}

/// The hint's claims when `verifier` accepts it (unexpired when `fresh`).
fn verify(hint: &str, verifier: &Verifier, fresh: bool) -> Result<Map<String, Value>, Refusal> {
    let mut validation = Validation::new(verifier.algorithm);
    validation.leeway = 0;
    validation.validate_exp = fresh;
    validation.set_issuer(&[verifier.issuer.as_str()]);
    match &verifier.audience {
        Some(audience) => validation.set_audience(&[audience.as_str()]),
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&["exp", "iss"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(hint, &verifier.key, &validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => (
            "AADB2C90208",
            "The provided id_token_hint parameter is expired. Please provide another token and try again.".to_owned(),
        ),
        ErrorKind::InvalidAudience => (
            "AADB2C90232",
            format!(
                "The provided id_token_hint parameter does not contain an accepted audience. Valid audience values: '{}'. Please provide another token and try again.",
                verifier.audience.as_deref().unwrap_or_default()
            ),
        ),
        ErrorKind::InvalidIssuer => (
            "AADB2C90233",
            format!(
                "The provided id_token_hint parameter does not contain an accepted issuer. Valid issuers: '{}'. Please provide another token and try again.",
                verifier.issuer
            ),
        ),
        _ => (
            "AADB2C90210",
            "The provided id_token_hint parameter failed signature validation. Please provide another token and try again."
                .to_owned(),
        ),
    })?;
    Ok(data.claims)
}

/// The hint of an authorize request for `client_id`.
pub(crate) fn at_authorize(server: &Server, hosted: &Hosted, hint: &str, client_id: &str) -> Result<Hinted, Refusal> {
    let model = &hosted.policy.model;
    let profile = hint_profile(model);
    let verifier = match profile.map(|p| of_profile(server, p)).transpose()?.flatten() {
        Some(v) => v,
        None => own(server, hosted, Some(client_id))?,
    };
    let claims = verify(hint, &verifier, true)?;
    let seeds = profile.map(|p| token_claims(model, p, &claims)).unwrap_or_default();
    Ok(Hinted { input_claims: as_text(claims), seeds })
}

/// The hint of a logout: this issuer's id token (expired ones too: OpenID Connect
/// RP-Initiated Logout §2), for `client_id` when given.
pub(crate) fn at_logout(
    server: &Server,
    hosted: &Hosted,
    hint: &str,
    client_id: Option<&str>,
) -> Result<Map<String, Value>, Refusal> {
    verify(hint, &own(server, hosted, client_id)?, false)
}

/// A profile's output claims read from a token's claims by their partner names, typed as their
/// ClaimTypes (the UserInfo authorization profile's, the hint profile's).
pub(crate) fn token_claims(
    policy: &Policy,
    profile: &TechnicalProfile,
    claims: &Map<String, Value>,
) -> Vec<(ClaimId, ClaimValue)> {
    profile
        .output_claims
        .iter()
        .filter_map(|oc| {
            let json = claims.get(&policy.partner_name(profile, oc))?;
            let id = policy.claim_id(oc.claim.as_str())?;
            let data_type = policy.claim(oc.claim.as_str()).and_then(|c| c.data_type).unwrap_or(DataType::String);
            Some((id, ClaimValue::from_json(data_type, json).ok()?))
        })
        .collect()
}

/// Strings, numbers and booleans as text by claim name.
fn as_text(claims: Map<String, Value>) -> Vec<(String, String)> {
    claims
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(text) => Some((name, text)),
            Value::Number(_) | Value::Bool(_) => Some((name, value.to_string())),
            _ => None,
        })
        .collect()
}
