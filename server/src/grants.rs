//! The grants without a browser: client credentials (an application signs in as itself, through
//! the policy's `ClientCredentialsUserJourneyId` journey) — server-spec §1.5.

use axum::http::StatusCode;
use axum::response::Response;
use ief_engine::model::{Policy, TechnicalProfile};
use serde_json::{Map, Value};

use crate::apps::App;
use crate::oauth::{DEFAULT_TOKEN_SECS, error_json, headless_context, lifetime, run_headless, sign};
use crate::{Hosted, Server, issuer_profile};

/// The journey a policy runs for client credentials: the JwtIssuer's `ClientCredentialsUserJourneyId`.
pub(crate) fn client_credentials_journey(policy: &Policy, issuer: Option<&TechnicalProfile>) -> Option<String> {
    let id = issuer?.metadata("ClientCredentialsUserJourneyId")?.trim();
    policy.journey(id).map(|_| id.to_owned())
}

/// `grant_type=client_credentials`: a confidential app (its secret already checked) asks for an
/// access token to an API it is granted (`scope=https://{tenant}/{api}/.default`). The policy's
/// journey runs; its token's claims become the access token's, with `aud` the API, `sub` and
/// `azp` the calling app, `scp` the granted scopes.
pub(crate) async fn client_credentials(
    server: &Server,
    hosted: &Hosted,
    app: &App,
    scope: Option<&str>,
    cid: &str,
) -> Response {
    let fail = |error: &str, code: &str, message: &str| error_json(server, error, code, message, cid);
    if !app.is_confidential() {
        let message = "Clients must send a client_secret when redeeming a confidential grant.";
        return fail("invalid_request", "AADB2C90079", message);
    }
    let model = &hosted.policy.model;
    let Some(journey) = client_credentials_journey(model, issuer_profile(model)) else {
        let message = "The supplied grant_type [client_credentials] is not supported.";
        return fail("unsupported_grant_type", "AADB2C90086", message);
    };
    let Some(scope) = scope else {
        return fail("invalid_request", "AADB2C90010", "The request does not contain a scope parameter.");
    };
    let resource = match crate::scopes::resolve(&server.apps, app, scope) {
        Ok(Some(r)) if !r.scopes.is_empty() => r,
        Ok(_) => {
            return fail(
                "invalid_scope",
                "AADB2C90012",
                &format!("The scope '{scope}' provided in request is not supported."),
            );
        }
        Err((code, message)) => return fail("invalid_scope", code, &message),
    };
    let token = match run_headless(server, hosted, &journey, headless_context(server, app, scope, cid)).await {
        Ok(token) => token,
        Err((code, message)) => {
            let code = if code.starts_with("AADB2C") { code } else { "AADB2C90085".to_owned() };
            return fail("invalid_grant", &code, &message);
        }
    };
    let now = server.now();
    let access_lifetime = lifetime(hosted, "token_lifetime_secs", DEFAULT_TOKEN_SECS);
    let mut claims: Map<String, Value> = token.claims.as_object().cloned().unwrap_or_default();
    for user_only in ["nonce", "auth_time", "c_hash", "at_hash"] {
        claims.remove(user_only);
    }
    claims.insert("iat".into(), Value::from(now));
    claims.insert("nbf".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + access_lifetime));
    claims.insert("aud".into(), Value::from(resource.audience.clone()));
    claims.insert("azp".into(), Value::from(app.client_id.clone()));
    claims.entry("sub").or_insert_with(|| Value::from(app.client_id.clone()));
    claims.insert("scp".into(), Value::from(resource.scopes.join(" ")));
    let Some(access) = sign(server, hosted, &Value::Object(claims)) else {
        return fail("server_error", "AADB2C90085", "The policy has no token signing key.");
    };
    let numbers = crate::oauth::json_numbers(hosted);
    let number = |n: i64| if numbers { Value::from(n) } else { Value::from(n.to_string()) };
    let body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "not_before": number(now),
        "expires_in": number(access_lifetime),
        "expires_on": number(now + access_lifetime),
        "resource": resource.audience,
    });
    crate::json(StatusCode::OK, &body)
}
