//! OAuth2 identity providers (`Protocol Name="OAuth2"`: Facebook, GitHub, LinkedIn, ...).
//!
//! The first call sends the user to `authorization_endpoint` (a `Redirect` page; the state and
//! redirect URI stay in the profile state). The callback call checks the state, redeems the
//! code at `AccessTokenEndpoint` (GET or POST, the client authenticated by
//! `token_endpoint_auth_method`), reads the user at `ClaimsEndpoint` with the access token (in
//! the query or a Bearer header) and returns the output claims by partner name. Errors the
//! provider reports are journey outcomes naming their cause.

mod metadata;
mod response;

#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{
    Answer, BoxFuture, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, StatusCode, Url};
use serde_json::{Map, Value, json};

pub use metadata::{BearerTransmission, HttpBinding, Metadata, ResponseMode, TokenFormat};

use crate::federation::client_auth::ClientAuth;
use crate::federation::http::{ClientPool, TlsIdentity, TrustedRoots, root_cause};
use crate::federation::replay::callback_once;
use crate::federation::seen_once::SeenOnce;
use crate::federation::{Callback, constant_time_eq, error, now, redirect_uri};

/// How long each call to the provider may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Code B2C reports when the identity provider answers the authorization request with an error.
pub const IDP_ERROR_CODE: &str = "AADB2C90273";

/// The claims a sign-in takes from the provider's user answer (the `ClaimsEndpoint` JSON),
/// mapped as the handler maps them: partner names, `ResolveJsonPathsInJsonTokens` paths and the
/// ClaimTypes' DataTypes. A scenario's stub provider answers through it.
pub fn claims_from_user(request: &ProfileRequest<'_>, user: &Value) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
    let metadata = Metadata::read(request.profile)?;
    response::outputs(request, &metadata, &Map::new(), user)
}

/// The OAuth2 handler. Holds one HTTP client per TLS identity and the states used; no
/// per-sign-in state.
pub struct OAuth2 {
    timeout: Duration,
    clients: ClientPool,
    /// States whose callback was handled, when no shared guard is given (one process).
    consumed: SeenOnce<String>,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Default for OAuth2 {
    fn default() -> OAuth2 {
        OAuth2::new()
    }
}

impl OAuth2 {
    pub fn new() -> OAuth2 {
        OAuth2::with_timeout(DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> OAuth2 {
        OAuth2 { timeout, clients: ClientPool::new(timeout), consumed: SeenOnce::default() }
    }

    fn client(&self, request: &ProfileRequest<'_>, identity: Option<TlsIdentity<'_>>) -> Result<Client, ProfileError> {
        let roots = request.services.extensions.get::<TrustedRoots>();
        self.clients.client(identity, roots).map_err(|e| error("InvalidKey", e.to_string()))
    }

    /// The first call: the authorization request as a redirect page.
    fn redirect(&self, request: &ProfileRequest<'_>) -> Result<Page, ProfileError> {
        let metadata = Metadata::read(request.profile)?;
        // Keys are checked now, before the user leaves for the provider.
        let auth = ClientAuth::from_profile(request)?;
        let callback =
            redirect_uri(request.policy, request.context, Callback::OAuth2, metadata.use_policy_in_redirect_uri);
        let mut random = [0u8; 24];
        request.services.env.fill_random(&mut random);
        let state = URL_SAFE_NO_PAD.encode(random);

        let mut params: Vec<(String, String)> = vec![
            ("client_id".to_owned(), auth.client_id().to_owned()),
            ("redirect_uri".to_owned(), callback.clone()),
            ("response_type".to_owned(), "code".to_owned()),
            ("response_mode".to_owned(), metadata.response_mode.as_str().to_owned()),
        ];
        if let Some(scope) = &metadata.scope {
            params.push(("scope".to_owned(), scope.clone()));
        }
        params.push(("state".to_owned(), state.clone()));
        let mut set = |name: &str, value: String| match params.iter_mut().find(|(k, _)| k == name) {
            Some(existing) => existing.1 = value,
            None => params.push((name.to_owned(), value)),
        };
        for (name, value) in &metadata.additional_query {
            set(name, value.clone());
        }
        // Input claims become extra parameters (domain_hint, login_hint, prompt...).
        for input in &request.inputs {
            let Some(value) = &input.value else { continue };
            if metadata::RESERVED.contains(&input.partner.as_str()) {
                return Err(error(
                    "InvalidMetadata",
                    format!(
                        "the input claim '{}' would replace the '{}' parameter of the authorization request",
                        input.claim, input.partner
                    ),
                ));
            }
            set(&input.partner, value.to_string());
        }
        let mut url = metadata.authorization_endpoint.clone();
        url.query_pairs_mut().extend_pairs(&params);
        Ok(Page {
            profile: request.profile.id.value.to_string(),
            kind: PageKind::Redirect { url: url.into() },
            error: None,
            profile_state: Some(Box::new(
                json!({ "state": state, "redirect_uri": callback, "issued_at": now(request) }),
            )),
            settings: Default::default(),
        })
    }

    /// The callback call: state, code redemption, user info, output claims; a callback handled
    /// before is [`ProfileResult::Replayed`].
    async fn callback(
        &self,
        request: &ProfileRequest<'_>,
        params: &[(String, String)],
        saved: &Value,
    ) -> Result<ProfileResult, ProfileError> {
        let metadata = Metadata::read(request.profile)?;
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let expected = saved.get("state").and_then(Value::as_str).unwrap_or_default();
        match param("state") {
            Some(state) if !expected.is_empty() && constant_time_eq(state.as_bytes(), expected.as_bytes()) => {}
            Some(_) => {
                return Err(error(
                    "StateMismatch",
                    "the callback's state is not the one sent with the authorization request (a forged or stale response)"
                        .to_owned(),
                ));
            }
            None => return Err(error("StateMismatch", "the callback has no state".to_owned())),
        }
        let issued_at = saved.get("issued_at").and_then(Value::as_i64);
        let extensions = request.services.extensions;
        if let Err(e) =
            callback_once(extensions, &self.consumed, "oauth2-state", expected, issued_at, now(request)).await
        {
            return Ok(e.outcome()(named(request.profile, error("InvalidCallback", e.to_string()))));
        }
        if let Some(code) = param("error") {
            let detail = match param("error_description").filter(|d| !d.is_empty()) {
                Some(description) => format!("{code} ({description})"),
                None => code.to_owned(),
            };
            return Err(error(IDP_ERROR_CODE, format!("the identity provider returned an error: {detail}")));
        }
        let code = param("code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| error("MissingCode", "the callback has neither a code nor an error".to_owned()))?;
        let callback = saved.get("redirect_uri").and_then(Value::as_str).unwrap_or_default();
        let auth = ClientAuth::from_profile(request)?;
        let client = self.client(request, auth.tls_identity())?;
        let token = self.redeem(request, &client, &metadata, &auth, code, callback).await?;
        let access_token = token.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
        let Some(access_token) = access_token else {
            let hint = response::error_detail(&Value::Object(token.clone()))
                .map_or_else(String::new, |e| format!(" (it says {e})"));
            return Err(error("TokenEndpointError", format!("the token response has no access_token{hint}")));
        };
        if let Some(audience) = &metadata.id_token_audience {
            check_id_token_audience(&token, audience)?;
        }
        let claims = self.user_info(&client, &metadata, &token, access_token).await?;
        response::outputs(request, &metadata, &token, &claims).map(ProfileResult::Claims)
    }

    /// Redeems the code; the token response's fields.
    async fn redeem(
        &self,
        request: &ProfileRequest<'_>,
        client: &Client,
        metadata: &Metadata,
        auth: &ClientAuth,
        code: &str,
        callback: &str,
    ) -> Result<Map<String, Value>, ProfileError> {
        let endpoint = metadata.access_token_endpoint.as_str();
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), callback.to_owned()),
        ];
        let authorization = auth.apply(endpoint, request.services.env, &mut form)?;
        let mut builder = match metadata.http_binding {
            HttpBinding::Post => client.post(endpoint).form(&form),
            HttpBinding::Get => {
                let mut url = Url::parse(endpoint)
                    .map_err(|e| error("InvalidMetadata", format!("AccessTokenEndpoint is not a URL ({e})")))?;
                url.query_pairs_mut().extend_pairs(&form);
                client.get(url)
            }
        };
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, sensitive(&authorization)?);
        }
        if metadata.token_format == TokenFormat::Json {
            builder = builder.header(ACCEPT, "application/json");
        }
        let (status, content_type, body) = self.send(builder, Endpoint::Token).await?;
        let failure = |message: String| error("TokenEndpointError", message);
        let parsed = response::parse_token_response(metadata.token_format, content_type.as_deref(), &body);
        if !status.is_success() {
            let detail = parsed.ok().and_then(|fields| response::error_detail(&Value::Object(fields)));
            let detail = detail.map_or_else(String::new, |d| format!(": {d}"));
            return Err(failure(format!(
                "the token endpoint refused the code with HTTP {}{detail}",
                status_text(status)
            )));
        }
        let fields = parsed.map_err(|e| failure(format!("the token endpoint's answer could not be read: {e}")))?;
        if let Some(reported) =
            response::error_in_ok(&Value::Object(fields.clone()), metadata.error_parameter.as_deref())
        {
            return Err(failure(format!("the token endpoint reported an error: {reported}")));
        }
        Ok(fields)
    }

    /// Calls the claims endpoint with the access token; its JSON.
    async fn user_info(
        &self,
        client: &Client,
        metadata: &Metadata,
        token: &Map<String, Value>,
        access_token: &str,
    ) -> Result<Value, ProfileError> {
        let failure = |message: String| error("ClaimsEndpointError", message);
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some((name, value)) = &metadata.format_parameter {
            query.push((name.clone(), value.clone()));
        }
        for name in &metadata.extra_claims_params {
            let value = token.get(name).and_then(response::text).ok_or_else(|| {
                failure(format!(
                    "the token response has no '{name}', which the claims request must carry (ExtraParamsInClaimsEndpointRequest)"
                ))
            })?;
            query.push((name.clone(), value));
        }
        if metadata.bearer == BearerTransmission::Query {
            query.push((metadata.token_parameter.clone(), access_token.to_owned()));
        }
        let mut url = metadata.claims_endpoint.clone();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let mut builder = client.get(url).header(ACCEPT, "application/json");
        if metadata.bearer == BearerTransmission::AuthorizationHeader {
            builder = builder.header(AUTHORIZATION, sensitive(&format!("Bearer {access_token}"))?);
        }
        let (status, _, body) = self.send(builder, Endpoint::Claims).await?;
        let parsed: Result<Value, _> = serde_json::from_str(body.trim());
        if !status.is_success() {
            let detail = parsed.ok().and_then(|v| response::error_detail(&v));
            let detail = detail.map_or_else(String::new, |d| format!(": {d}"));
            return Err(failure(format!("the claims endpoint answered HTTP {}{detail}", status_text(status))));
        }
        let claims = parsed.map_err(|e| failure(format!("the claims endpoint did not answer with JSON ({e})")))?;
        if let Some(reported) = response::error_in_ok(&claims, metadata.error_parameter.as_deref()) {
            return Err(failure(format!("the claims endpoint reported an error: {reported}")));
        }
        Ok(claims)
    }

    /// Sends a request; status, content type and body. URLs stay out of errors: they may carry
    /// a client secret or an access token.
    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        endpoint: Endpoint,
    ) -> Result<(StatusCode, Option<String>, String), ProfileError> {
        let what = endpoint.name();
        let failure = |e: reqwest::Error| {
            let cause = if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs_f64())
            } else {
                root_cause(&e.without_url())
            };
            error(endpoint.code(), format!("the {what} could not be called: {cause}"))
        };
        let mut response = builder.send().await.map_err(failure)?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(error(
                    "InvalidResponse",
                    format!("the {what} answered with more than {MAX_RESPONSE_BYTES} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, content_type, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Token,
    Claims,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token endpoint",
            Endpoint::Claims => "claims endpoint",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Endpoint::Token => "TokenEndpointError",
            Endpoint::Claims => "ClaimsEndpointError",
        }
    }
}

/// `IdTokenAudience`: the token response's `id_token` must name this audience. Only its
/// payload is read; OAuth2 profiles get no keys to verify it with.
fn check_id_token_audience(token: &Map<String, Value>, audience: &str) -> Result<(), ProfileError> {
    let failure = |m: String| error("InvalidToken", m);
    let id_token = token
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| failure(format!("IdTokenAudience is '{audience}' but the token response has no id_token")))?;
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| failure("the id_token is not a JWT".to_owned()))?;
    let matches = match payload.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if matches { Ok(()) } else { Err(failure(format!("the id_token's audience is not '{audience}'"))) }
}

fn sensitive(value: &str) -> Result<HeaderValue, ProfileError> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| error("InvalidKey", "the credentials are not a valid header value".to_owned()))?;
    header.set_sensitive(true);
    Ok(header)
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Names the profile in every failure.
fn named(profile: &TechnicalProfile, e: ProfileError) -> ProfileError {
    ProfileError {
        code: e.code,
        user_message: format!("OAuth2 technical profile '{}': {}", profile.id.as_str(), e.user_message),
    }
}

impl ProfileHandler for OAuth2 {
    fn name(&self) -> &'static str {
        "OAuth2"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        // A redirect needs a journey step; a validation slot cannot send the user away.
        invocation == Invocation::Step
            && profile.protocol.as_ref().is_some_and(|p| p.name.as_str().eq_ignore_ascii_case("OAuth2"))
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let profile = request.profile;
            match request.answer {
                None => match self.redirect(&request) {
                    Ok(page) => ProfileResult::NeedsInput(page),
                    Err(e) => ProfileResult::Failed(named(profile, e)),
                },
                Some(Answer::Callback(params)) => {
                    let Some(saved) = request.profile_state else {
                        return ProfileResult::InvalidAnswer(format!(
                            "a callback for '{}' arrived without the state of its redirect",
                            profile.id.as_str()
                        ));
                    };
                    self.callback(&request, params, saved)
                        .await
                        .unwrap_or_else(|e| ProfileResult::Failed(named(profile, e)))
                }
                Some(other) => ProfileResult::InvalidAnswer(format!(
                    "'{}' waits for the identity provider's callback, not {}",
                    profile.id.as_str(),
                    match other {
                        Answer::Choose(_) => "a button choice",
                        Answer::Submit(_) => "a form",
                        Answer::Code(_) => "a verification code",
                        Answer::Callback(_) | Answer::Cancel | Answer::Action { .. } => "this answer",
                    }
                )),
            }
        })
    }
}
