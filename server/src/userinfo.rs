//! The UserInfo endpoint (server-spec §1.7): served only for a relying party that declares
//! `<Endpoint Id="UserInfo" UserJourneyReferenceId="…"/>`. The bearer access token is checked
//! as the journey's `Authorization` profile says (signature, `issuer`, `audience`), its claims
//! go into the bag through that profile's output claims, and the journey's SendClaims issuer
//! (`OutputTokenFormat` JSON) answers with its input claims as a JSON object.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use ief_engine::exec::{
    BoxFuture, Invocation, Outcome, ProfileHandler, ProfileRequest, ProfileResult, Progress, RequestContext, Session,
    Token,
};
use ief_engine::model::{Policy, TechnicalProfile};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

use crate::{Hosted, Request, Server, b2c_description};

/// The journey the relying party runs at its UserInfo endpoint, if it declares one.
pub(crate) fn journey(policy: &Policy) -> Option<&str> {
    let rp = policy.relying_party.as_ref()?;
    let (_, journey) = rp.endpoints.iter().find(|(id, _)| id.eq_ignore_ascii_case("UserInfo"))?;
    policy.journey(journey.as_str()).map(|_| journey.as_str())
}

/// The journey's first `Authorization` profile.
fn authorization_profile<'p>(policy: &'p Policy, journey: &str) -> Option<&'p TechnicalProfile> {
    policy.journey(journey)?.authorization_profiles.first().and_then(|r| policy.profile(r.as_str()))
}

/// A warning when the relying party's UserInfo authorization profile names an `issuer` other
/// than the one this server's tokens carry (the sample ships a placeholder): every call would
/// be refused.
pub(crate) fn issuer_mismatch(server: &Server, hosted: &Hosted) -> Option<String> {
    let model = &hosted.policy.model;
    let profile = authorization_profile(model, journey(model)?)?;
    let expected = profile.metadata("issuer")?.trim();
    let ours = crate::oauth::issuer(server, hosted)?;
    (expected != ours).then(|| {
        format!(
            "{}: the UserInfo authorization profile '{}' accepts tokens of issuer '{expected}', but this server's tokens name '{ours}': set its issuer metadata to that, or every UserInfo call is refused",
            model.policy_id,
            profile.id.as_str()
        )
    })
}

/// The issuer a SendClaims step names that answers with JSON instead of a JWT: its input claims
/// from the bag, named by their partner claim types.
#[derive(Debug, Default)]
pub(crate) struct JsonIssuer;

fn is_json_issuer(profile: &TechnicalProfile) -> bool {
    profile.output_token_format.as_deref().is_some_and(|f| f.trim().eq_ignore_ascii_case("JSON"))
}

impl ProfileHandler for JsonIssuer {
    fn name(&self) -> &'static str {
        "UserInfoIssuer"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Issuer && is_json_issuer(profile)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        let mut claims = Map::new();
        for ic in &request.profile.input_claims {
            let Some(value) = request.policy.claim_id(ic.claim.as_str()).and_then(|id| request.bag.get(id)) else {
                continue;
            };
            claims.insert(request.policy.partner_name(request.profile, ic), value.to_json());
        }
        let claims = Value::Object(claims);
        let token = Token { encoded: claims.to_string(), header: Value::Null, claims };
        Box::pin(std::future::ready(ProfileResult::Token(token)))
    }
}

/// A refusal: HTTP 401 with `WWW-Authenticate` for token problems (RFC 6750 §3), else the given
/// status (400, or 500 for a failure inside ief).
fn refuse(server: &Server, status: StatusCode, error: &str, code: &str, message: &str, cid: &str) -> Response {
    let body = json!({ "error": error, "error_description": b2c_description(server, code, message, cid) });
    let mut response = crate::json(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        let challenge = format!("Bearer error=\"{error}\"");
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// A failure inside ief: HTTP 500 `server_error`.
pub(crate) fn internal_error(server: &Server, message: &str, cid: &str) -> Response {
    refuse(server, StatusCode::INTERNAL_SERVER_ERROR, "server_error", "AADB2C90085", message, cid)
}

/// The bearer token: the `Authorization` header, else a form body's `access_token` (RFC 6750 §2).
fn bearer(request: &Request) -> Option<&str> {
    let header = request.header("authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("Bearer").then_some(token.trim())
    });
    header.or_else(|| request.form_param("access_token")).filter(|t| !t.is_empty())
}

/// B2C's code for a bearer token missing or refused (its texts are ief's: docs/compatibility.md).
const BEARER_REFUSED: &str = "AADB2C90194";

pub(crate) async fn userinfo(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let cid = request.correlation_id.as_str();
    let model = &hosted.policy.model;
    let Some(journey) = journey(model) else {
        let message = format!("The policy '{}' does not declare a UserInfo endpoint.", model.policy_id);
        return refuse(server, StatusCode::NOT_FOUND, "invalid_request", "AADB2C90018", &message, cid);
    };
    let Some(token) = bearer(request) else {
        let message = "The request does not contain a bearer token.";
        return refuse(server, StatusCode::UNAUTHORIZED, "invalid_token", BEARER_REFUSED, message, cid);
    };
    let Some(authorization) = authorization_profile(model, journey) else {
        let message = format!("The user journey '{journey}' has no authorization technical profile.");
        return internal_error(server, &message, cid);
    };
    let claims = match check_bearer(server, hosted, authorization, token) {
        Ok(claims) => claims,
        Err(message) => {
            return refuse(server, StatusCode::UNAUTHORIZED, "invalid_token", BEARER_REFUSED, &message, cid);
        }
    };
    let context = RequestContext {
        client_id: claims.get("azp").and_then(Value::as_str).unwrap_or_default().to_owned(),
        culture: "en-US".to_owned(),
        correlation_id: cid.to_owned(),
        host_name: server.public_url.clone(),
        ..RequestContext::default()
    };
    let executor = server.executor(hosted);
    let mut sign_in = match executor.start(Some(journey), context, Session::default()) {
        Ok(s) => s,
        Err(e) => {
            return internal_error(server, &e.to_string(), cid);
        }
    };
    // The authorization profile's output claims, read from the token by their partner names.
    for (id, value) in crate::hint::token_claims(model, authorization, &claims) {
        sign_in.set_claim(id, value);
    }
    match executor.resume(&mut sign_in, None).await {
        Ok(Progress::Finished(Outcome::Token { token, .. })) => crate::json(StatusCode::OK, &token.claims),
        Ok(Progress::Finished(Outcome::Error { code, message })) => {
            refuse(server, StatusCode::BAD_REQUEST, "invalid_request", &code, &message, cid)
        }
        Ok(_) => {
            let message = format!("The user journey '{journey}' asked for a page; a UserInfo journey cannot.");
            internal_error(server, &message, cid)
        }
        Err(e) => internal_error(server, &e.to_string(), cid),
    }
}

/// The access token's claims when it is ours, unexpired, of the issuer and audience the
/// authorization profile's metadata names, and an access token (an id token carries neither
/// `scp` nor `azp`); else why not.
fn check_bearer(
    server: &Server,
    hosted: &Hosted,
    authorization: &TechnicalProfile,
    token: &str,
) -> Result<Map<String, Value>, String> {
    let storage = ief_protocols::federation::storage_id(authorization, ief_protocols::jwt_issuer::SIGNING_KEY_ID);
    let key = match storage {
        Some(id) => server.keys.signing_key(id).ok(),
        None => crate::oauth::signing_key(server, hosted),
    }
    .ok_or_else(|| "The authorization technical profile has no token signing key.".to_owned())?;
    let jwk = key.public_jwk();
    let (n, e) = (jwk["n"].as_str().unwrap_or_default(), jwk["e"].as_str().unwrap_or_default());
    let decoding = DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    // Without `issuer` metadata (B2C requires it), the token must be this policy's own.
    let expected = match authorization.metadata("issuer").map(str::trim) {
        Some(issuer) => issuer.to_owned(),
        None => crate::oauth::issuer(server, hosted).unwrap_or_default(),
    };
    validation.set_issuer(&[expected.as_str()]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "The access token has expired.".to_owned(),
            ErrorKind::InvalidIssuer => format!("The access token was not issued by '{expected}'."),
            _ => "The access token is not a valid token of this tenant.".to_owned(),
        }
    })?;
    let claims = data.claims;
    if !claims.contains_key("scp") && !claims.contains_key("azp") {
        return Err("The bearer token is not an access token.".to_owned());
    }
    if let Some(audience) = authorization.metadata("audience") {
        let allowed: Vec<String> = serde_json::from_str(audience.trim()).unwrap_or_default();
        let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(aud)) {
            return Err(format!("The access token's audience '{aud}' is not accepted."));
        }
    }
    Ok(claims)
}
