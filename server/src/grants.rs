//! The grants without a browser (server-spec §1.5): client credentials (an application signs in
//! as itself, through the policy's `ClientCredentialsUserJourneyId` journey) and the resource
//! owner password credentials grant (the policy's journey posts the user's password as a
//! password grant in its first step).

use axum::http::StatusCode;
use axum::response::Response;
use ief_engine::model::{Policy, TechnicalProfile};
use serde_json::{Map, Value};

use ief_engine::exec::RequestContext;

use crate::apps::App;
use crate::oauth::{DEFAULT_TOKEN_SECS, Issued, error_json, headless_context, lifetime, run_headless, sign};
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

/// Whether the policy's default journey is an ROPC journey: its first step runs a password grant.
fn is_ropc_journey(policy: &Policy) -> bool {
    let first = policy.default_journey().and_then(|j| policy.journey(j)).and_then(|j| j.steps.first());
    first.is_some_and(|step| {
        step.exchanges
            .iter()
            .any(|e| policy.profile(e.profile.as_str()).is_some_and(ief_protocols::directory::login::is_password_grant))
    })
}

/// The texts of the password step's refusals, by the profile's error, are B2C's one answer.
const BAD_CREDENTIALS: &str = "The username or password provided in the request are invalid.";

/// `grant_type=password`: the policy's ROPC journey runs with the request's `username` and
/// `password` (its `{OIDC:Username}` and `{OIDC:Password}`); its token is the id token, with an
/// access token and a refresh token as the scope asks.
pub(crate) async fn password(
    server: &Server,
    hosted: &Hosted,
    app: &App,
    form: &[(String, String)],
    request: &crate::Request,
) -> Response {
    let cid = request.correlation_id.as_str();
    let fail = |error: &str, code: &str, message: &str| error_json(server, error, code, message, cid);
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    if !is_ropc_journey(&hosted.policy.model) {
        let message = "Resource owner flow has not been enabled for the application.";
        return fail("unauthorized_client", "AADB2C90224", message);
    }
    let (Some(username), Some(secret)) = (get("username"), get("password")) else {
        let name = if get("username").is_none() { "username" } else { "password" };
        return fail("invalid_request", "AADB2C90083", &crate::oauth::missing(name));
    };
    let scope = get("scope").unwrap_or("openid");
    let input_claims = vec![("username".to_owned(), username.to_owned()), ("password".to_owned(), secret.to_owned())];
    let context = RequestContext { input_claims, ..headless_context(server, app, scope, cid) };
    let Some(journey) = hosted.policy.model.default_journey() else {
        return fail("server_error", "AADB2C90085", "The policy has no DefaultUserJourney.");
    };
    match run_headless(server, hosted, journey, context).await {
        Ok(token) => {
            let issued =
                Issued { claims: &token.claims, id_token: Some(token.encoded), scope, started: None, refreshed: None };
            crate::oauth::token_response(server, hosted, app, issued, request).await
        }
        Err((code, _)) if code.starts_with("UserMessageIf") => fail("invalid_grant", "AADB2C90225", BAD_CREDENTIALS),
        Err((code, message)) => {
            let code = if code.starts_with("AADB2C") { code } else { "AADB2C90085".to_owned() };
            fail("invalid_grant", &code, &message)
        }
    }
}
