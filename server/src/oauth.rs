//! The application-facing endpoints: discovery, keys, authorize, token and logout, with B2C's
//! shapes and error texts (server-spec §1).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ief_engine::exec::{Outcome, RequestContext, Session};
use ief_protocols::federation::constant_time_eq;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::apps::{App, Platform};
use crate::route::Route;
use crate::store::{AuthRequest, CodeGrant, RefreshGrant, RefreshLookup, RefreshRedemption, Step, Transaction};
use crate::{
    Hosted, Request, Server, b2c_description, cookie, escape_html, form_encode, html, issuer_profile, json, redirect,
};

const CODE_SECS: i64 = 10 * 60;
pub(crate) const DEFAULT_TOKEN_SECS: i64 = 3600;
const DEFAULT_REFRESH_SECS: i64 = 1_209_600;
const DEFAULT_ROLLING_SECS: i64 = 7_776_000;
/// The claims every discovery document lists after the relying party's own.
const FIXED_CLAIMS: [&str; 7] = ["iss", "iat", "exp", "aud", "acr", "nonce", "auth_time"];
/// Longest value accepted for any authorize parameter.
const MAX_PARAM: usize = 2048;

/// B2C's texts for grants the token endpoint refuses.
const EXPIRED: &str = "The provided grant has expired. Please re-authenticate and try again.";
const REVOKED: &str = "The provided grant has been revoked. Please reauthenticate and try again.";
const BAD_CHALLENGE: &str = "The supplied code_challenge is invalid.";
const VERIFIER_MISMATCH: &str = "The supplied code_verifier does not match associated code_challenge.";

/// `AADB2C90083`'s text.
pub(crate) fn missing(parameter: &str) -> String {
    format!("The request is missing required parameter: {parameter}.")
}

/// The browser's sign-in cookie: which in-flight transactions belong to it.
pub(crate) const TRANS_COOKIE: &str = "x-ms-cpim-trans";

fn sso_cookie(hosted: &Hosted) -> String {
    format!("x-ms-cpim-sso:{}", hosted.policy.model.tenant_id.to_lowercase())
}

/// `https://host/{tenant}/{policy}` or, for the query form, `https://host/{tenant}` + `?p=`.
fn endpoint(server: &Server, hosted: &Hosted, path_form: bool, tail: &str) -> String {
    let m = &hosted.policy.model;
    let policy = m.policy_id.to_lowercase();
    match path_form {
        true => format!("{}/{}/{policy}/{tail}", server.public_url, m.tenant_id),
        false => format!("{}/{}/{tail}?p={policy}", server.public_url, m.tenant_id),
    }
}

pub(crate) fn issuer(server: &Server, hosted: &Hosted) -> Option<String> {
    let tp = issuer_profile(&hosted.policy.model)?;
    ief_protocols::jwt_issuer::issuer_url(&hosted.policy.model, tp, &server.public_url).ok()
}

pub(crate) fn discovery(server: &Server, hosted: &Hosted, route: &Route) -> Response {
    let Some(iss) = issuer(server, hosted) else {
        return error_json(server, "server_error", "AADB2C90085", "The policy has no token issuer.", "");
    };
    let path = route.policy_in_path;
    let mut claims: Vec<String> = Vec::new();
    if let Some(tp) = hosted.policy.model.relying_party.as_ref().and_then(|rp| rp.technical_profile.as_ref()) {
        for oc in &tp.output_claims {
            let name = hosted.policy.model.partner_name(tp, oc);
            if !claims.contains(&name) {
                claims.push(name);
            }
        }
    }
    claims.extend(FIXED_CLAIMS.iter().map(|c| (*c).to_owned()));
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": endpoint(server, hosted, path, "oauth2/v2.0/authorize"),
        "token_endpoint": endpoint(server, hosted, path, "oauth2/v2.0/token"),
        "end_session_endpoint": endpoint(server, hosted, path, "oauth2/v2.0/logout"),
        "jwks_uri": endpoint(server, hosted, path, "discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "code id_token", "code token", "code id_token token",
                                     "id_token", "id_token token", "token", "token id_token"],
        "scopes_supported": ["openid"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": claims,
    });
    let mut doc = doc;
    if crate::userinfo::journey(&hosted.policy.model).is_some()
        && let Some(map) = doc.as_object_mut()
    {
        map.insert("userinfo_endpoint".into(), Value::from(endpoint(server, hosted, path, "openid/v2.0/userinfo")));
    }
    json(StatusCode::OK, &doc)
}

/// The issuer's signing key, as B2C lists it: `kid`, `nbf`, `use`, `kty`, `e`, `n`.
pub(crate) fn keys(server: &Server, hosted: &Hosted) -> Response {
    let Some(key) = signing_key(server, hosted) else {
        return error_json(server, "server_error", "AADB2C90085", "The policy has no token signing key.", "");
    };
    let jwk = key.public_jwk();
    let doc = json!({ "keys": [{
        "kid": key.kid(),
        "nbf": server.started,
        "use": "sig",
        "kty": jwk.get("kty").cloned().unwrap_or(Value::from("RSA")),
        "e": jwk.get("e").cloned().unwrap_or(Value::Null),
        "n": jwk.get("n").cloned().unwrap_or(Value::Null),
    }]});
    json(StatusCode::OK, &doc)
}

pub(crate) fn signing_key<'s>(server: &'s Server, hosted: &Hosted) -> Option<&'s ief_protocols::keys::SigningKey> {
    let tp = issuer_profile(&hosted.policy.model)?;
    let storage = ief_protocols::federation::storage_id(tp, ief_protocols::jwt_issuer::SIGNING_KEY_ID)?;
    server.keys.signing_key(storage).ok()
}

/// B2C's error page, for requests whose redirect URI cannot be trusted: the policy's `api.error`
/// page when the request names a policy.
pub(crate) async fn error_page(
    server: &Server,
    hosted: Option<&Hosted>,
    request: &Request,
    code: &str,
    message: &str,
) -> Response {
    crate::page::exception(server, request, code, message, hosted.map(|h| (h, None))).await
}

/// A token-endpoint error body: `{"error": …, "error_description": "AADB2C…"}`, HTTP 400.
pub(crate) fn error_json(server: &Server, error: &str, code: &str, message: &str, correlation_id: &str) -> Response {
    let body = json!({ "error": error, "error_description": b2c_description(server, code, message, correlation_id) });
    json(StatusCode::BAD_REQUEST, &body)
}

/// Where an error or a result goes once the redirect URI is trusted.
struct Reply<'r> {
    redirect_uri: &'r str,
    response_mode: &'r str,
    state: Option<&'r str>,
}

impl Reply<'_> {
    fn send<'a>(&'a self, mut params: Vec<(&'a str, &'a str)>) -> Response {
        if let Some(state) = self.state {
            params.push(("state", state));
        }
        let encoded = form_encode(&params);
        match self.response_mode {
            "form_post" => {
                let inputs: String = params
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "<input type='hidden' name='{}' id='{}' value='{}'/>",
                            escape_html(k),
                            escape_html(k),
                            escape_html(v)
                        )
                    })
                    .collect();
                html(
                    StatusCode::OK,
                    format!(
                        "<html><head><title>Working...</title></head><body><form method='POST' name='hiddenform' action='{}'>{inputs}\
<noscript><p>Script is disabled. Click Submit to continue.</p><input type='submit' value='Submit'/></noscript></form>\
<script language='javascript'>window.setTimeout(function(){{document.forms[0].submit();}},0);</script></body></html>",
                        escape_html(self.redirect_uri)
                    ),
                )
            }
            "fragment" => redirect(&format!("{}#{encoded}", self.redirect_uri)),
            _ => {
                let join = if self.redirect_uri.contains('?') { '&' } else { '?' };
                redirect(&format!("{}{join}{encoded}", self.redirect_uri))
            }
        }
    }

    fn error(&self, server: &Server, error: &str, code: &str, message: &str, correlation_id: &str) -> Response {
        let description = b2c_description(server, code, message, correlation_id);
        self.send(vec![("error", error), ("error_description", &description)])
    }
}

fn too_long(request: &Request) -> Option<&str> {
    request.query.iter().chain(request.form.iter()).find(|(_, v)| v.len() > MAX_PARAM).map(|(k, _)| k.as_str())
}

pub(crate) async fn authorize(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let param = |name: &str| request.param(name).or_else(|| request.form_param(name)).filter(|v| !v.is_empty());
    let cid = request.correlation_id.as_str();
    if let Some(name) = too_long(request) {
        return error_page(
            server,
            Some(hosted),
            request,
            "AADB2C90083",
            &format!("The request parameter '{name}' is too long."),
        )
        .await;
    }
    let Some(client_id) = param("client_id") else {
        return error_page(
            server,
            Some(hosted),
            request,
            "AADB2C90008",
            "The request does not contain a client id parameter.",
        )
        .await;
    };
    let tenant = hosted.policy.model.tenant_id.as_str();
    let Some(app) = server.apps.get(client_id) else {
        let message =
            format!("The client id '{client_id}' specified in the request is not registered in tenant '{tenant}'.");
        return error_page(server, Some(hosted), request, "AADB2C90018", &message).await;
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return error_page(server, Some(hosted), request, "AADB2C90083", &missing("redirect_uri")).await;
    };
    let Some(platform) = app.platform_of(redirect_uri) else {
        let message = format!(
            "The redirect URI '{redirect_uri}' provided in the request is not registered for the client id '{client_id}'."
        );
        return error_page(server, Some(hosted), request, "AADB2C90006", &message).await;
    };
    // From here the redirect URI is trusted: errors go back to the application.
    let response_type = param("response_type").unwrap_or("code");
    let types: Vec<&str> = response_type.split(' ').filter(|t| !t.is_empty()).collect();
    let implicit = types.iter().any(|t| *t == "id_token" || *t == "token");
    let default_mode = if implicit { "fragment" } else { "query" };
    let response_mode = param("response_mode").unwrap_or(default_mode);
    let mode_ok = matches!(response_mode, "query" | "fragment" | "form_post");
    let reply = Reply {
        redirect_uri,
        response_mode: if mode_ok { response_mode } else { default_mode },
        state: param("state"),
    };
    if !mode_ok {
        let message =
            format!("The requested response mode '{response_mode}' provided in the request is not supported.");
        return reply.error(server, "invalid_request", "AADB2C90014", &message, cid);
    }
    if implicit && response_mode == "query" {
        // Tokens never travel in a query string (OAuth 2.0 Multiple Response Types §5).
        let message =
            format!("The requested response mode 'query' is not supported for the response type '{response_type}'.");
        return Reply { response_mode: "fragment", ..reply }.error(
            server,
            "invalid_request",
            "AADB2C90014",
            &message,
            cid,
        );
    }
    if types.is_empty() || types.iter().any(|t| !matches!(*t, "code" | "id_token" | "token")) {
        let message =
            format!("The requested response type '{response_type}' provided in the request is not supported.");
        return reply.error(server, "unsupported_response_type", "AADB2C90013", &message, cid);
    }
    if implicit && !app.implicit {
        let message = "The provided application is not configured to allow the 'OAuth' Implicit flow.";
        return reply.error(server, "unauthorized_client", "AADB2C90057", message, cid);
    }
    let pkce = match (param("code_challenge"), param("code_challenge_method")) {
        (None, Some(_)) => return reply.error(server, "invalid_request", "AADB2C90183", BAD_CHALLENGE, cid),
        (None, None) if platform == Platform::Spa && types.contains(&"code") => {
            let message = "The code_challenge is required for redirect URIs of a single-page application.";
            return reply.error(server, "invalid_request", "AADB2C90183", message, cid);
        }
        (None, None) => None,
        (Some(challenge), method) => {
            let method = method.unwrap_or("plain");
            if method != "plain" && method != "S256" {
                let message =
                    "The supplied code_challenge_method is not supported. Supported values are plain or S256.";
                return reply.error(server, "invalid_request", "AADB2C90184", message, cid);
            }
            if !is_pkce_text(challenge) {
                return reply.error(server, "invalid_request", "AADB2C90183", BAD_CHALLENGE, cid);
            }
            Some((challenge.to_owned(), method.to_owned()))
        }
    };
    let prompt = param("prompt");
    if let Some(p) = prompt
        && !matches!(p, "none" | "login" | "consent" | "select_account")
    {
        let message = "The prompt included in the request contains invalid values. Expected 'none', 'login', 'consent' or 'select_account'.";
        return reply.error(server, "invalid_request", "AADB2C90043", message, cid);
    }
    if let Some(age) = param("max_age")
        && age.parse::<u32>().is_err()
    {
        let message = format!("The provided maximum age '{age}' has an invalid value.");
        return reply.error(server, "invalid_request", "AADB2C90120", &message, cid);
    }
    if let Err((code, message)) = crate::scopes::resolve(&server.apps, app, param("scope").unwrap_or("openid")) {
        return reply.error(server, "invalid_request", code, &message, cid);
    }
    let hinted = match param("id_token_hint") {
        None => crate::hint::Hinted::default(),
        Some(hint) => match crate::hint::at_authorize(server, hosted, hint, &app.client_id) {
            Ok(claims) => claims,
            Err((code, message)) => return reply.error(server, "invalid_request", code, &message, cid),
        },
    };
    let sso_name = sso_cookie(hosted);
    let sso_id = request.cookie(&sso_name).map(str::to_owned);
    let session = match (prompt, &sso_id) {
        (Some("login"), _) => Session::default(),
        (_, Some(id)) => match server.state.session(id, server.now()).await {
            Ok(session) => session.unwrap_or_default(),
            Err(e) => return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), cid),
        },
        (_, None) => Session::default(),
    };
    if prompt == Some("none") && session.is_empty() {
        let message = "User doesn't have an existing session and request prompt parameter has a value of 'none'.";
        return reply.error(server, "interaction_required", "AADB2C90077", message, cid);
    }

    let known = [
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "state",
        "nonce",
        "prompt",
        "login_hint",
        "domain_hint",
        "ui_locales",
        "max_age",
        "code_challenge",
        "code_challenge_method",
        "id_token_hint",
        "p",
    ];
    let context = RequestContext {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: param("scope").unwrap_or("openid").to_owned(),
        nonce: param("nonce").map(str::to_owned),
        state: param("state").map(str::to_owned),
        login_hint: param("login_hint").map(str::to_owned),
        domain_hint: param("domain_hint").map(str::to_owned),
        prompt: prompt.map(str::to_owned),
        max_age: param("max_age").map(str::to_owned),
        acr_values: None,
        // ui_locales, then Accept-Language among SupportedLanguages, then the default.
        culture: crate::page::i18n::choose(
            hosted.policy.model.localization.as_ref(),
            param("ui_locales"),
            request.header("accept-language"),
        ),
        correlation_id: cid.to_owned(),
        ip_address: String::new(),
        host_name: server.public_url.clone(),
        query: request.query.iter().filter(|(k, _)| !known.contains(&k.as_str())).cloned().collect(),
        input_claims: hinted.input_claims,
        kmsi: false,
    };
    let auth = AuthRequest {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        response_type: types.join(" "),
        response_mode: reply.response_mode.to_owned(),
        scope: context.scope.clone(),
        state: context.state.clone(),
        nonce: context.nonce.clone(),
        pkce,
        correlation_id: cid.to_owned(),
    };
    let executor = server.executor(hosted);
    let mut sign_in = match executor.start(None, context, session) {
        Ok(s) => s,
        Err(e) => return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), cid),
    };
    for (id, value) in hinted.seeds {
        sign_in.set_claim(id, value);
    }
    let progress = match executor.resume(&mut sign_in, None).await {
        Ok(p) => p,
        Err(e) => return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), cid),
    };
    if prompt == Some("none") && matches!(progress, ief_engine::exec::Progress::NeedsInput(_)) {
        let message = "User doesn't have an existing session and request prompt parameter has a value of 'none'.";
        return reply.error(server, "interaction_required", "AADB2C90077", message, cid);
    }
    let browser = match request.cookie(TRANS_COOKIE) {
        Some(b) if is_token_text(b) => b.to_owned(),
        _ => server.random(24),
    };
    let tx = Transaction {
        id: server.guid(),
        policy: hosted.policy.model.policy_id.to_lowercase(),
        browser: browser.clone(),
        csrf: String::new(),
        request: auth,
        sign_in,
        step: Step::Submitted(progress),
        fingerprint: hosted.fingerprint,
        expires: server.now() + crate::TRANSACTION_SECS,
        version: 0,
    };
    let mut response = crate::pages::advance(server, hosted, tx, request).await;
    response.headers_mut().append(header::SET_COOKIE, cookie(server, TRANS_COOKIE, &browser));
    response
}

/// RFC 7636: 43 to 128 unreserved characters.
fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A value the server made with [`Server::random`]: base64url, bounded.
pub(crate) fn is_token_text(text: &str) -> bool {
    (16..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Ends a sign-in: the application gets the code (and tokens the response type asks for) or
/// the journey's error; the browser keeps its SSO session. Of two requests that would end the
/// same sign-in, one does.
pub(crate) async fn finish(
    server: &Server,
    hosted: &Hosted,
    tx: Transaction,
    outcome: Outcome,
    request: &Request,
) -> Response {
    match server.state.end_transaction(&tx, server.now()).await {
        Ok(true) => {}
        Ok(false) => return crate::pages::Refusal::Lost.respond(server, Some((hosted, None)), request, false).await,
        Err(e) => return crate::pages::Refusal::from(e).respond(server, Some((hosted, None)), request, false).await,
    }
    let auth = &tx.request;
    if auth.client_id == crate::apps::DEV_CLIENT_ID
        && auth.redirect_uri == run_now_uri(server)
        && let Some(state) = &auth.state
    {
        // The developer page shows the sign-in's steps, with what reports never show taken out.
        let model = &hosted.policy.model;
        let secrets: Vec<String> = ief_engine::exec::credential_values(model, tx.sign_in.claims())
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        let scrub = |line: String| secrets.iter().fold(line, |l, s| l.replace(s.as_str(), "[redacted]"));
        let lines: Vec<String> = tx.sign_in.trace.iter().map(|e| scrub(e.to_string())).collect();
        // Only the developer page needs it: the sign-in goes on without it.
        let _ = server.state.put_trace(state, &lines, server.now()).await;
    }
    let reply =
        Reply { redirect_uri: &auth.redirect_uri, response_mode: &auth.response_mode, state: auth.state.as_deref() };
    let cid = auth.correlation_id.clone();
    let (token, _claims) = match outcome {
        Outcome::Error { code, message } => {
            let error = if matches!(code.as_str(), "AADB2C90091" | "AADB2C90118" | "AADB2C90273") {
                "access_denied"
            } else {
                "server_error"
            };
            let code = if code.starts_with("AADB2C") { code } else { "AADB2C90085".to_owned() };
            return reply.error(server, error, &code, &message, &cid);
        }
        Outcome::Token { token, claims } => (token, claims),
    };
    let sso_name = sso_cookie(hosted);
    let sso_id = match request.cookie(&sso_name) {
        Some(id) if is_token_text(id) => id.to_owned(),
        _ => server.random(24),
    };
    let auth = tx.request.clone();
    let now = server.now();
    let session = tx.sign_in.into_session();
    let persistent = session.is_persistent();
    if let Err(e) = server.state.put_session(&sso_id, &session, now).await {
        return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), &cid);
    }
    let clients = match server.state.session_clients(&sso_id, now).await {
        Ok(clients) => clients,
        Err(e) => return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), &cid),
    };
    let mut clients = clients.unwrap_or_default();
    if !clients.clients.iter().any(|c| c.eq_ignore_ascii_case(&auth.client_id)) {
        clients.clients.push(auth.client_id.clone());
    }
    clients.expires = now + crate::store::SESSION_SECS;
    if let Err(e) = server.state.put_session_clients(&sso_id, &clients, now).await {
        return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), &cid);
    }
    let types: Vec<&str> = auth.response_type.split(' ').collect();
    let mut params: Vec<(&str, String)> = Vec::new();
    if types.contains(&"code") {
        let code = server.random(48);
        let grant = CodeGrant {
            client_id: auth.client_id.clone(),
            redirect_uri: auth.redirect_uri.clone(),
            policy: hosted.policy.model.policy_id.to_lowercase(),
            pkce: auth.pkce.clone(),
            scope: auth.scope.clone(),
            id_token: token.encoded.clone(),
            claims: token.claims.clone(),
            expires: server.now() + CODE_SECS,
        };
        if let Err(e) = server.state.put_code(&code, &grant, server.now()).await {
            return reply.error(server, "server_error", "AADB2C90085", &e.to_string(), &cid);
        }
        params.push(("code", code));
    }
    let app = server.apps.get(&auth.client_id);
    let access = match (types.contains(&"token"), app) {
        (true, Some(app)) => access_token(server, hosted, &token.claims, app, &auth.scope).map(|(t, _)| t),
        _ => None,
    };
    if types.contains(&"id_token") {
        // Beside a code or an access token the id token binds them: c_hash and at_hash.
        let mut claims = token.claims.clone();
        let code = params.iter().find(|(k, _)| *k == "code").map(|(_, v)| v.as_str());
        let bound = [("c_hash", code), ("at_hash", access.as_deref())];
        let mut id_token = token.encoded.clone();
        if bound.iter().any(|(_, v)| v.is_some())
            && let Some(map) = claims.as_object_mut()
        {
            for (name, value) in bound {
                if let Some(value) = value {
                    map.insert(name.into(), Value::from(left_half_hash(value)));
                }
            }
            id_token = sign(server, hosted, &claims).unwrap_or(id_token);
        }
        params.push(("id_token", id_token));
    }
    if let Some(access) = access {
        params.push(("access_token", access));
        params.push(("token_type", "Bearer".to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut response = reply.send(borrowed);
    let mut sso = cookie(server, &sso_name, &sso_id);
    if persistent {
        // Keep me signed in: the cookie outlives the browser, up to B2C's longest KeepAliveInDays.
        let value = format!("{}; Max-Age={KEEP_ALIVE_SECS}", sso.to_str().unwrap_or_default());
        sso = HeaderValue::from_str(&value).unwrap_or(sso);
    }
    response.headers_mut().append(header::SET_COOKIE, sso);
    response
}

/// The shortest credential taken out of a trace: shorter ones would blank out ordinary words.
const MIN_SECRET_LEN: usize = 8;

/// The longest `KeepAliveInDays` B2C accepts (90), in seconds.
const KEEP_ALIVE_SECS: i64 = 90 * 86_400;

/// OpenID Connect's c_hash and at_hash for RS256: the left half of the SHA-256, base64url.
fn left_half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// An access token when the scope names an API: the id token's claims without its hashes,
/// `aud` the API's client id, `azp` the client, `scp` the granted scope names, and the access
/// token's own lifetime (`token_lifetime_secs`).
pub(crate) fn access_token(
    server: &Server,
    hosted: &Hosted,
    claims: &Value,
    app: &App,
    scope: &str,
) -> Option<(String, crate::scopes::Resource)> {
    let resource = crate::scopes::resolve(&server.apps, app, scope).ok()??;
    let mut claims = claims.as_object()?.clone();
    claims.remove("c_hash");
    claims.remove("at_hash");
    let now = server.now();
    claims.insert("iat".into(), Value::from(now));
    claims.insert("nbf".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + lifetime(hosted, "token_lifetime_secs", DEFAULT_TOKEN_SECS)));
    claims.insert("aud".into(), Value::from(resource.audience.clone()));
    claims.insert("azp".into(), Value::from(app.client_id.clone()));
    if !resource.scopes.is_empty() {
        claims.insert("scp".into(), Value::from(resource.scopes.join(" ")));
    }
    Some((sign(server, hosted, &Value::Object(claims))?, resource))
}

pub(crate) fn sign(server: &Server, hosted: &Hosted, claims: &Value) -> Option<String> {
    signing_key(server, hosted)?.sign_claims(Algorithm::RS256, claims).ok()
}

pub(crate) fn lifetime(hosted: &Hosted, key: &str, default: i64) -> i64 {
    issuer_profile(&hosted.policy.model)
        .and_then(|tp| tp.metadata(key))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(default)
}

/// The client as the token request authenticates it: HTTP Basic, else the form.
struct ClientAuth {
    client_id: Option<String>,
    secret: Option<String>,
}

fn client_auth(request: &Request, form: &[(String, String)]) -> Result<ClientAuth, &'static str> {
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let basic = request.header("authorization").and_then(|h| h.strip_prefix("Basic "));
    let (client_id, secret) = match basic {
        Some(encoded) => {
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| "The Authorization header is malformed.")?;
            let text = String::from_utf8(decoded).map_err(|_| "The Authorization header is malformed.")?;
            let (id, secret) = text.split_once(':').ok_or("The Authorization header is malformed.")?;
            let unescape =
                |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            if get("client_secret").is_some() {
                return Err("The request carries a client secret twice.");
            }
            let id = unescape(id);
            if let (Some(a), Some(b)) = (&id, get("client_id"))
                && *a != b
            {
                return Err("The client ids of the Authorization header and the body differ.");
            }
            (id, unescape(secret))
        }
        None => (get("client_id"), get("client_secret")),
    };
    Ok(ClientAuth { client_id, secret })
}

pub(crate) async fn token(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let cid = request.correlation_id.as_str();
    let fail = |error: &str, code: &str, message: &str| error_json(server, error, code, message, cid);
    let form = &request.form;
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let auth = match client_auth(request, form) {
        Ok(a) => a,
        Err(m) => return fail("invalid_request", "AADB2C90083", m),
    };
    let Some(client_id) = auth.client_id.as_deref() else {
        return fail("invalid_request", "AADB2C90083", &missing("client_id"));
    };
    let tenant = hosted.policy.model.tenant_id.as_str();
    let Some(app) = server.apps.get(client_id) else {
        let message =
            format!("The client id '{client_id}' specified in the request is not registered in tenant '{tenant}'.");
        return fail("unauthorized_client", "AADB2C90018", &message);
    };
    if let Some(r) = check_client_secret(app, auth.secret.as_deref()) {
        let (error, code, message) = r;
        return fail(error, code, message);
    }
    let policy = hosted.policy.model.policy_id.to_lowercase();
    match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return fail("invalid_request", "AADB2C90083", &missing("code"));
            };
            let grant = match server.state.take_code(code, server.now()).await {
                Ok(grant) => grant.filter(|g| g.expires > server.now()),
                Err(e) => return fail("server_error", "AADB2C90085", &e.to_string()),
            };
            let Some(grant) = grant else {
                return fail("invalid_grant", "AADB2C90080", EXPIRED);
            };
            if !grant.client_id.eq_ignore_ascii_case(&app.client_id) || grant.policy != policy {
                let message = not_issued_here(&policy, &app.client_id, &grant.policy, &grant.client_id);
                return fail("invalid_grant", "AADB2C90088", &message);
            }
            if get("redirect_uri").is_some_and(|r| r != grant.redirect_uri) || get("redirect_uri").is_none() {
                let message = format!(
                    "The redirect URI '{}' provided in the request does not match the one the code was issued to.",
                    get("redirect_uri").unwrap_or_default()
                );
                return fail("invalid_grant", "AADB2C90006", &message);
            }
            if let Some((challenge, method)) = &grant.pkce {
                let Some(verifier) = get("code_verifier").filter(|v| is_pkce_text(v)) else {
                    return fail("invalid_request", "AADB2C90183", "The supplied code_verifier is invalid.");
                };
                let computed = match method.as_str() {
                    "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                    _ => verifier.to_owned(),
                };
                if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                    return fail("invalid_grant", "AADB2C90182", VERIFIER_MISMATCH);
                }
            } else if get("code_verifier").is_some() {
                return fail("invalid_grant", "AADB2C90182", VERIFIER_MISMATCH);
            }
            let issued = Issued {
                claims: &grant.claims,
                id_token: Some(grant.id_token),
                scope: &grant.scope,
                started: None,
                refreshed: None,
            };
            token_response(server, hosted, app, issued, request).await
        }
        Some("refresh_token") => {
            let Some(handle) = get("refresh_token") else {
                return fail("invalid_request", "AADB2C90083", &missing("refresh_token"));
            };
            let redemption = match server.state.redeem_refresh(handle, server.now()).await {
                Ok(RefreshLookup::Valid(redemption)) => redemption,
                Ok(RefreshLookup::Unknown | RefreshLookup::Replayed) => {
                    return fail("invalid_grant", "AADB2C90129", REVOKED);
                }
                Err(e) => return fail("server_error", "AADB2C90085", &e.to_string()),
            };
            let grant = &redemption.grant;
            if !grant.client_id.eq_ignore_ascii_case(&app.client_id) || grant.policy != policy {
                // Another client's token stays valid for its owner.
                let message = not_issued_here(&policy, &app.client_id, &grant.policy, &grant.client_id);
                return fail("invalid_grant", "AADB2C90088", &message);
            }
            if grant.expires <= server.now()
                || rolling_end(hosted, grant.started).is_some_and(|end| end <= server.now())
            {
                let _ = server.state.revoke_refresh(&redemption, server.now()).await;
                return fail("invalid_grant", "AADB2C90080", EXPIRED);
            }
            let (started, refreshed) = (Some(grant.started), Some(&redemption));
            let scope = get("scope").map_or(grant.scope.clone(), str::to_owned);
            let model = &hosted.policy.model;
            let Some(journey) = crate::refresh::journey(model, issuer_profile(model)) else {
                let issued = Issued { claims: &grant.claims, id_token: None, scope: &scope, started, refreshed };
                return token_response(server, hosted, app, issued, request).await;
            };
            // The policy's refresh journey decides: a revoked grant ends it with an error.
            match refresh_journey(server, hosted, &journey, grant, app, &scope, cid).await {
                Some(token) => {
                    let issued = Issued {
                        claims: &token.claims,
                        id_token: Some(token.encoded),
                        scope: &scope,
                        started,
                        refreshed,
                    };
                    token_response(server, hosted, app, issued, request).await
                }
                None => {
                    let _ = server.state.revoke_refresh(&redemption, server.now()).await;
                    fail("invalid_grant", "AADB2C90129", REVOKED)
                }
            }
        }
        Some("password") => crate::grants::password(server, hosted, app, form, request).await,
        Some("client_credentials") => crate::grants::client_credentials(server, hosted, app, get("scope"), cid).await,
        Some(other) => fail(
            "unsupported_grant_type",
            "AADB2C90086",
            &format!("The supplied grant_type [{other}] is not supported."),
        ),
        None => fail("invalid_request", "AADB2C90083", &missing("grant_type")),
    }
}

/// Runs the refresh journey for `grant`: its token, or `None` when the journey refused.
async fn refresh_journey(
    server: &Server,
    hosted: &Hosted,
    journey: &str,
    grant: &RefreshGrant,
    app: &App,
    scope: &str,
    correlation_id: &str,
) -> Option<ief_engine::exec::Token> {
    let issued = chrono::DateTime::from_timestamp(grant.issued_at, 0)?.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut input_claims = vec![(crate::refresh::ISSUED_ON_CLAIM.to_owned(), issued)];
    if let Some(user) = &grant.user {
        input_claims.push((user_identity_claim(hosted), user.clone()));
    }
    let context = RequestContext { input_claims, ..headless_context(server, app, scope, correlation_id) };
    run_headless(server, hosted, journey, context).await.ok()
}

/// The request of a journey run without a browser (refresh, client credentials, ROPC).
pub(crate) fn headless_context(server: &Server, app: &App, scope: &str, correlation_id: &str) -> RequestContext {
    RequestContext {
        client_id: app.client_id.clone(),
        scope: scope.to_owned(),
        culture: "en-US".to_owned(),
        correlation_id: correlation_id.to_owned(),
        host_name: server.public_url.clone(),
        ..RequestContext::default()
    }
}

/// Runs `journey` to its end without a browser: its token, or the error code and message it
/// ended with (a page it would show is an error: nobody is there to answer it).
pub(crate) async fn run_headless(
    server: &Server,
    hosted: &Hosted,
    journey: &str,
    context: RequestContext,
) -> Result<ief_engine::exec::Token, (String, String)> {
    let executor = server.executor(hosted);
    let internal = |m: String| ("AADB2C90085".to_owned(), m);
    let mut sign_in =
        executor.start(Some(journey), context, Session::default()).map_err(|e| internal(e.to_string()))?;
    match executor.resume(&mut sign_in, None).await {
        Ok(ief_engine::exec::Progress::Finished(Outcome::Token { token, .. })) => Ok(token),
        Ok(ief_engine::exec::Progress::Finished(Outcome::Error { code, message })) => Err((code, message)),
        Ok(_) => {
            Err(internal(format!("The user journey '{journey}' asked for a page, which a token request cannot show.")))
        }
        Err(e) => Err(internal(e.to_string())),
    }
}

/// The ClaimType that identifies the user inside refresh tokens (objectId by default).
fn user_identity_claim(hosted: &Hosted) -> String {
    issuer_profile(&hosted.policy.model)
        .and_then(|tp| tp.metadata("issuer_refresh_token_user_identity_claim_type"))
        .map_or("objectId", str::trim)
        .to_owned()
}

/// The user's id in a token's claims: the relying party's output claim for the identity claim.
fn user_of(hosted: &Hosted, claims: &Value) -> Option<String> {
    let model = &hosted.policy.model;
    let identity = user_identity_claim(hosted);
    let tp = model.relying_party.as_ref()?.technical_profile.as_ref()?;
    let oc = tp.output_claims.iter().find(|oc| oc.claim.as_str().eq_ignore_ascii_case(&identity))?;
    claims.get(model.partner_name(tp, oc))?.as_str().map(str::to_owned)
}

/// `AADB2C90088`'s text: the grant belongs to another policy or client.
fn not_issued_here(policy: &str, client: &str, grant_policy: &str, grant_client: &str) -> String {
    format!(
        "The provided grant has not been issued for this endpoint. Actual Value : {policy}_{client} and Expected Value : {grant_policy}_{grant_client}"
    )
}

/// `None` when the client authenticated as its registration requires, else B2C's error.
fn check_client_secret(app: &App, sent: Option<&str>) -> Option<(&'static str, &'static str, &'static str)> {
    match (&app.secret, sent) {
        (None, Some(_)) => Some((
            "invalid_request",
            "AADB2C90084",
            "Public clients should not send a client_secret when redeeming a publicly acquired grant.",
        )),
        (Some(_), None) => Some((
            "invalid_request",
            "AADB2C90079",
            "Clients must send a client_secret when redeeming a confidential grant.",
        )),
        (Some(expected), Some(sent)) if !constant_time_eq(expected.trim_ascii(), sent.as_bytes()) => Some((
            "invalid_client",
            "AADB2C90081",
            "The specified client_secret does not match the expected value for this client. Please correct the client_secret and try again.",
        )),
        _ => None,
    }
}

/// The token response: the id token (the journey's, or re-signed with new times on refresh),
/// an access token when the scope names an API, a refresh token for `offline_access`.
///
/// `SendTokenResponseBodyWithJsonNumbers`: numbers in token responses as JSON numbers, else
/// as strings (B2C's legacy shape, its default).
pub(crate) fn json_numbers(hosted: &Hosted) -> bool {
    issuer_profile(&hosted.policy.model)
        .and_then(|tp| tp.metadata("SendTokenResponseBodyWithJsonNumbers"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// What a grant issues tokens from.
pub(crate) struct Issued<'a> {
    pub(crate) claims: &'a Value,
    /// The journey's id token, else one re-signed from `claims` with new times.
    pub(crate) id_token: Option<String>,
    pub(crate) scope: &'a str,
    /// When the refresh token's sliding window began (the sign-in); `None` for a new sign-in.
    pub(crate) started: Option<i64>,
    /// The refresh token redeemed: the new one is the next of its family, else of a new family.
    pub(crate) refreshed: Option<&'a RefreshRedemption>,
}

/// When refresh tokens of a sign-in at `started` stop working, by the sliding window
/// (`rolling_refresh_token_lifetime_secs`, default 90 days); `None` when it never ends
/// (`allow_infinite_rolling_refresh_token`).
fn rolling_end(hosted: &Hosted, started: i64) -> Option<i64> {
    let infinite = issuer_profile(&hosted.policy.model)
        .and_then(|tp| tp.metadata("allow_infinite_rolling_refresh_token"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    (!infinite).then(|| started + lifetime(hosted, "rolling_refresh_token_lifetime_secs", DEFAULT_ROLLING_SECS))
}

pub(crate) async fn token_response(
    server: &Server,
    hosted: &Hosted,
    app: &App,
    issued: Issued<'_>,
    request: &Request,
) -> Response {
    let Issued { claims, id_token, scope, started, refreshed } = issued;
    let now = server.now();
    let id_lifetime = lifetime(hosted, "id_token_lifetime_secs", DEFAULT_TOKEN_SECS);
    let access_lifetime = lifetime(hosted, "token_lifetime_secs", DEFAULT_TOKEN_SECS);
    let refresh_lifetime = lifetime(hosted, "refresh_token_lifetime_secs", DEFAULT_REFRESH_SECS);
    let started = started.unwrap_or(now);
    let mut claims = claims.clone();
    let id_token = match id_token {
        Some(t) => Some(t),
        None => {
            if let Some(map) = claims.as_object_mut() {
                map.insert("iat".into(), Value::from(now));
                map.insert("nbf".into(), Value::from(now));
                map.insert("exp".into(), Value::from(now + id_lifetime));
                map.remove("nonce");
            }
            sign(server, hosted, &claims)
        }
    };
    let Some(id_token) = id_token else {
        return error_json(
            server,
            "server_error",
            "AADB2C90085",
            "The policy has no token signing key.",
            &request.correlation_id,
        );
    };
    let numbers = json_numbers(hosted);
    let number = |n: i64| if numbers { Value::from(n) } else { Value::from(n.to_string()) };
    let mut body = Map::new();
    body.insert("id_token".into(), Value::from(id_token));
    body.insert("token_type".into(), Value::from("Bearer"));
    body.insert("not_before".into(), number(now));
    body.insert("id_token_expires_in".into(), number(id_lifetime));
    if let Err((code, message)) = crate::scopes::resolve(&server.apps, app, scope) {
        return error_json(server, "invalid_request", code, &message, &request.correlation_id);
    }
    if let Some((access, resource)) = access_token(server, hosted, &claims, app, scope) {
        body.insert("access_token".into(), Value::from(access));
        body.insert("expires_in".into(), number(access_lifetime));
        body.insert("expires_on".into(), number(now + access_lifetime));
        body.insert("resource".into(), Value::from(resource.audience));
    }
    body.insert("scope".into(), Value::from(scope));
    if scope.split(' ').any(|s| s == "offline_access") {
        let refresh_expires =
            rolling_end(hosted, started).map_or(now + refresh_lifetime, |end| end.min(now + refresh_lifetime));
        let grant = RefreshGrant {
            client_id: app.client_id.clone(),
            policy: hosted.policy.model.policy_id.to_lowercase(),
            scope: scope.to_owned(),
            claims: claims.clone(),
            user: user_of(hosted, &claims),
            issued_at: now,
            expires: refresh_expires,
            started,
        };
        let handle = match refreshed {
            Some(redemption) => server.state.rotate_refresh(redemption, grant, now).await,
            None => server.state.new_refresh(grant, now).await.map(Some),
        };
        let cid = request.correlation_id.as_str();
        match handle {
            Ok(Some(handle)) => {
                body.insert("refresh_token".into(), Value::from(handle));
                body.insert("refresh_token_expires_in".into(), number(refresh_expires - now));
            }
            // Another request redeemed the same token first.
            Ok(None) => return error_json(server, "invalid_grant", "AADB2C90129", REVOKED, cid),
            Err(e) => return error_json(server, "server_error", "AADB2C90085", &e.to_string(), cid),
        }
    } else if let Some(redemption) = refreshed
        && let Err(e) = server.state.revoke_refresh(redemption, now).await
    {
        return error_json(server, "server_error", "AADB2C90085", &e.to_string(), &request.correlation_id);
    }
    if request.form.iter().any(|(k, v)| k == "client_info" && v == "1") {
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        let tenant = hosted.policy.model.tenant.guid.clone();
        let info = json!({ "uid": format!("{sub}-{}", hosted.policy.model.policy_id.to_lowercase()), "utid": tenant });
        body.insert("client_info".into(), Value::from(URL_SAFE_NO_PAD.encode(info.to_string())));
    }
    json(StatusCode::OK, &Value::Object(body))
}

/// Forgets the SSO session `id` and the applications that signed in through it: those.
async fn forget_session(server: &Server, id: &str, now: i64) -> Result<Vec<String>, crate::store::StateError> {
    server.state.remove_session(id, now).await?;
    let clients = server.state.session_clients(id, now).await?.map(|c| c.clients).unwrap_or_default();
    server.state.remove_session_clients(id, now).await?;
    Ok(clients)
}

/// Ends the browser's session; follows `post_logout_redirect_uri` only to a registered
/// redirect URI (B2C follows any unless id tokens are required on logout: see
/// docs/compatibility.md). The other applications that signed in through the session are
/// signed out first, front channel: a page loads their logout URLs in iframes, then goes on.
pub(crate) async fn logout(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    // The application that signs out: `client_id`, else the audience of its id token.
    let hint = match request.param("id_token_hint").filter(|h| !h.is_empty()) {
        // An expired id token still names who signs out (OpenID Connect RP-Initiated Logout §2).
        Some(hint) => match crate::hint::at_logout(server, hosted, hint, request.param("client_id")) {
            Ok(claims) => Some(claims),
            Err((code, message)) => return error_page(server, Some(hosted), request, code, &message).await,
        },
        None if enforces_id_token_hint(hosted) => {
            let message = "The id_token_hint parameter has not been specified in the request. Please provide token and try again.";
            return error_page(server, Some(hosted), request, "AADB2C90272", message).await;
        }
        None => None,
    };
    let hinted_client = hint.as_ref().and_then(|c| c.get("aud")).and_then(Value::as_str).map(str::to_owned);
    let client_id = request.param("client_id").map(str::to_owned).or(hinted_client);
    let sso_name = sso_cookie(hosted);
    let mut others: Vec<String> = Vec::new();
    if let Some(id) = request.cookie(&sso_name) {
        let now = server.now();
        let initiator = client_id.as_deref().unwrap_or_default();
        let clients = match forget_session(server, id, now).await {
            Ok(clients) => clients,
            Err(e) => return error_page(server, Some(hosted), request, "AADB2C90085", &e.to_string()).await,
        };
        for url in clients
            .iter()
            .filter(|c| !c.eq_ignore_ascii_case(initiator))
            .filter_map(|c| server.apps.get(c)?.logout_url.clone())
        {
            // Apps sharing a logout URL are signed out by one call.
            if !others.contains(&url) {
                others.push(url);
            }
        }
    }
    let target = request.param("post_logout_redirect_uri").filter(|u| !u.is_empty());
    let mut response = match target {
        None => signed_out_page(&others, None),
        Some(uri) if !(uri.starts_with("https://") || uri.starts_with("http://") || uri.contains(":/")) => {
            let message = format!(
                "The post logout redirect URI '{uri}' has an invalid format. Specify an https based URL such as 'https://example.com/return'."
            );
            error_page(server, Some(hosted), request, "AADB2C90067", &message).await
        }
        Some(uri) => {
            let registered = match client_id.as_deref() {
                Some(id) => server.apps.get(id).is_some_and(|a| is_logout_target(a, uri)),
                None => server.apps.iter().any(|a| is_logout_target(a, uri)),
            };
            if registered {
                let location = match request.param("state").map(|s| form_encode(&[("state", s)])) {
                    Some(q) => format!("{uri}{}{q}", if uri.contains('?') { '&' } else { '?' }),
                    None => uri.to_owned(),
                };
                match others.is_empty() {
                    true => redirect(&location),
                    false => signed_out_page(&others, Some(&location)),
                }
            } else {
                let message = format!("The post logout redirect URI '{uri}' is not registered for any application.");
                error_page(server, Some(hosted), request, "AADB2C90006", &message).await
            }
        }
    };
    let expired = format!("{sso_name}=; Path=/; Max-Age=0; HttpOnly");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `<SingleSignOn EnforceIdTokenHintOnLogout="true">`: logout needs the application's id token.
fn enforces_id_token_hint(hosted: &Hosted) -> bool {
    let rp = hosted.policy.model.relying_party.as_ref();
    rp.and_then(|rp| rp.enforce_id_token_hint_on_logout.as_ref())
        .is_some_and(|v| v.as_str().trim().eq_ignore_ascii_case("true"))
}

/// Seconds the sign-out page waits for the applications' logout URLs before going on.
const FRONT_CHANNEL_WAIT_SECS: u32 = 3;

/// "You have signed out", with an iframe per application to sign out front channel, then on to
/// `next` once every iframe loaded (or after a few seconds; without JavaScript, by refresh).
fn signed_out_page(logout_urls: &[String], next: Option<&str>) -> Response {
    let frames: String = logout_urls
        .iter()
        .map(|u| format!("<iframe class=\"front-channel-logout\" src=\"{}\" hidden></iframe>", escape_html(u)))
        .collect();
    let (refresh, link, script) = match next {
        None => (String::new(), String::new(), String::new()),
        Some(next) => {
            let next_html = escape_html(next);
            // The target as a JS string literal inside HTML: JSON, with '<' escaped.
            let next_js = Value::from(next).to_string().replace('<', "\\u003c");
            (
                format!("<meta http-equiv=\"refresh\" content=\"{FRONT_CHANNEL_WAIT_SECS};url={next_html}\">"),
                format!("<p><a id=\"continue\" href=\"{next_html}\">Continue</a></p>"),
                format!(
                    "<script>(function(){{var next={next_js},left=document.querySelectorAll('iframe.front-channel-logout').length;\
function go(){{window.location.replace(next);}}\
document.querySelectorAll('iframe.front-channel-logout').forEach(function(f){{f.addEventListener('load',function(){{if(--left<=0)go();}});}});\
if(left===0)go();}})();</script>"
                ),
            )
        }
    };
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}<title>Signed out</title></head>\
<body><div id=\"api\"><p>You have signed out.</p>{link}</div>{frames}{script}</body></html>"
        ),
    )
}

fn is_logout_target(app: &App, uri: &str) -> bool {
    app.platform_of(uri).is_some() || app.logout_url.as_deref() == Some(uri)
}

/// Where "Run now" sign-ins of the developer page come back to.
pub(crate) fn run_now_uri(server: &Server) -> String {
    format!("{}/ief/run", server.public_url)
}

/// The end of a "Run now" sign-in: the code redeemed here and the token's claims shown, or
/// the error the application would have received.
pub(crate) async fn run_now(server: &Server, request: &Request) -> Response {
    let trace = match request.param("state") {
        Some(state) => server.state.take_trace(state, server.now()).await.ok().flatten(),
        None => None,
    };
    let steps: String = trace.unwrap_or_default().iter().map(|l| format!("<li>{}</li>", escape_html(l))).collect();
    let page = |title: &str, body: String| {
        html(
            StatusCode::OK,
            format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
<body><h1>{title}</h1>{body}<h2>Steps</h2><ol id=\"trace\">{steps}</ol><p><a href=\"/\">Back</a></p></body></html>"
            ),
        )
    };
    if let Some(description) = request.param("error_description") {
        return page("Error", format!("<pre id=\"error\">{}</pre>", escape_html(description)));
    }
    let grant = match request.param("code") {
        Some(code) => server.state.take_code(code, server.now()).await.ok().flatten(),
        None => None,
    };
    let Some(grant) = grant.filter(|g| {
        g.client_id == crate::apps::DEV_CLIENT_ID && g.redirect_uri == run_now_uri(server) && g.expires > server.now()
    }) else {
        return error_page(server, None, request, "AADB2C90080", EXPIRED).await;
    };
    let header = grant.id_token.split('.').next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
    let header: Value = header.and_then(|h| serde_json::from_slice(&h).ok()).unwrap_or_default();
    let decoded = serde_json::to_string_pretty(&header).unwrap_or_default();
    let claims = serde_json::to_string_pretty(&grant.claims).unwrap_or_default();
    page(
        "Token",
        format!(
            "<h2>Header</h2><pre id=\"header\">{}</pre><h2>Claims</h2><pre id=\"claims\">{}</pre>",
            escape_html(&decoded),
            escape_html(&claims)
        ),
    )
}
