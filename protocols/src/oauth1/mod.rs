//! OAuth1 technical profile (`Protocol Name="OAuth1"`, e.g. Twitter/X federation).
//!
//! B2C is the OAuth 1.0a client (RFC 5849, HMAC-SHA1). The first call gets temporary
//! credentials from `request_token_endpoint` (with `oauth_callback` set to the policy's
//! `/oauth1/authresp` URI) and returns a redirect to `authorization_endpoint?oauth_token=...`;
//! the token secret stays in the page's profile state, which the executor keeps and drivers
//! never see. The second call gets the provider's callback (`oauth_token`, `oauth_verifier`, or
//! `denied`), exchanges the verifier at `access_token_endpoint`, makes a signed GET to
//! `ClaimsEndpoint` (its query parameters signed too) and returns the claims of both answers by
//! their partner names.
//!
//! Requests are signed by [`signer`] (the `oauth1-request` crate); [`base_string`] is the
//! provider-side check the embedded test provider uses.

pub mod base_string;
pub mod signer;

use std::time::Duration;

use ief_engine::exec::{
    Answer, BoxFuture, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
};
use ief_engine::model::TechnicalProfile;
use ief_transforms::{ClaimValue, DataType};
use serde_json::{Value, json};

pub use signer::{Credentials, Secret, SignError, SignInput, Signer};

use crate::federation::http::{ClientPool, TrustedRoots, root_cause};
use crate::federation::replay::{CallbackRefusal, callback_once};
use crate::federation::seen_once::SeenOnce;
use crate::federation::{self, Callback, constant_time_eq, now};

/// The OAuth1 protocol's name in `<Protocol Name="OAuth1"/>`.
pub const PROTOCOL: &str = "OAuth1";

/// How long one call to the provider may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The OAuth1 identity-provider profile. Holds HTTP clients and the request tokens used; no
/// per-sign-in state.
#[derive(Debug)]
pub struct OAuth1 {
    timeout: Duration,
    clients: ClientPool,
    /// Request tokens whose callback was handled, when no shared guard is given (one process).
    consumed: SeenOnce<String>,
}

impl Default for OAuth1 {
    fn default() -> OAuth1 {
        OAuth1::new()
    }
}

impl OAuth1 {
    pub fn new() -> OAuth1 {
        OAuth1::with_timeout(DEFAULT_TIMEOUT)
    }

    /// With another timeout per call to the provider.
    pub fn with_timeout(timeout: Duration) -> OAuth1 {
        OAuth1 { timeout, clients: ClientPool::new(timeout), consumed: SeenOnce::default() }
    }
}

impl ProfileHandler for OAuth1 {
    fn name(&self) -> &'static str {
        PROTOCOL
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Step
            && profile.protocol.as_ref().is_some_and(|p| p.name.as_str().eq_ignore_ascii_case(PROTOCOL))
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let result = match request.answer {
                None => self.start(&request).await,
                Some(Answer::Callback(params)) => self.finish(&request, params).await,
                Some(other) => {
                    return ProfileResult::InvalidAnswer(format!(
                        "the OAuth1 profile '{}' waits for the identity provider's callback, not {}",
                        request.profile.id.as_str(),
                        describe(other)
                    ));
                }
            };
            match result {
                Ok(result) => result,
                Err(e) => ProfileResult::Failed(e.into_profile_error(request.profile)),
            }
        })
    }
}

/// Why an OAuth1 exchange failed; every message names its cause.
#[derive(Debug, thiserror::Error)]
pub enum OAuth1Error {
    #[error("the required metadata {0} is missing")]
    MissingMetadata(&'static str),
    #[error("metadata ClaimsResponseFormat is '{0}'; ief reads json")]
    ResponseFormat(String),
    #[error("{}", .0.user_message)]
    Key(ProfileError),
    #[error("{0}")]
    Sign(#[from] SignError),
    #[error("the HTTP client could not be set up ({0})")]
    Client(String),
    #[error("the {step} request to {url} failed: {cause}")]
    Transport { step: Step, url: String, cause: String },
    #[error("{provider} refused the {step} request with HTTP {status}: {cause}")]
    Refused { provider: String, step: Step, status: u16, cause: String },
    #[error("the {step} response of {provider} has no {field}")]
    MissingField { provider: String, step: Step, field: &'static str },
    #[error("{provider} did not confirm the callback: oauth_callback_confirmed is {found} (expected true)")]
    CallbackNotConfirmed { provider: String, found: String },
    #[error("the user cancelled the sign-in at {0}")]
    Denied(String),
    #[error("the callback has no {0}")]
    CallbackMissing(&'static str),
    #[error("the callback's oauth_token is not the request token this sign-in obtained")]
    TokenMismatch,
    #[error("{0}")]
    Callback(#[from] CallbackRefusal),
    #[error("the callback arrived without the request token this profile issued")]
    NoState,
    #[error("the claims endpoint of {provider} did not answer with a JSON object ({cause})")]
    ClaimsNotJson { provider: String, cause: String },
    #[error("{provider} returned {found} for '{partner}', which is not a valid {data_type}")]
    ClaimType { provider: String, partner: String, found: String, data_type: DataType },
}

/// The request of the flow that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    RequestToken,
    AccessToken,
    Claims,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::RequestToken => "request token",
            Step::AccessToken => "access token",
            Step::Claims => "claims endpoint",
        })
    }
}

impl OAuth1Error {
    /// A stable code for the journey's error.
    pub fn code(&self) -> &str {
        match self {
            // B2C: "Profile '{0}' does not contain a required metadata key '{1}'."
            OAuth1Error::MissingMetadata(_) => "AADB2C90023",
            OAuth1Error::ResponseFormat(_) | OAuth1Error::Sign(_) | OAuth1Error::Client(_) => "InvalidConfiguration",
            OAuth1Error::Key(e) => &e.code,
            OAuth1Error::Transport { .. } => "IdentityProviderUnreachable",
            OAuth1Error::Refused { .. } => "IdentityProviderError",
            OAuth1Error::MissingField { .. }
            | OAuth1Error::ClaimsNotJson { .. }
            | OAuth1Error::ClaimType { .. }
            | OAuth1Error::CallbackNotConfirmed { .. } => "InvalidResponse",
            // As the scenario runner's stub provider reports a cancel at the provider.
            OAuth1Error::Denied(_) => "AADB2C90273",
            OAuth1Error::CallbackMissing(_)
            | OAuth1Error::TokenMismatch
            | OAuth1Error::NoState
            | OAuth1Error::Callback(_) => "InvalidCallback",
        }
    }

    fn into_profile_error(self, profile: &TechnicalProfile) -> ProfileError {
        ProfileError {
            code: self.code().to_owned(),
            user_message: format!("OAuth1 technical profile '{}': {self}.", profile.id.as_str()),
        }
    }
}

/// The profile's metadata.
#[derive(Debug)]
struct Config<'a> {
    provider: String,
    client_id: &'a str,
    request_token_endpoint: &'a str,
    authorization_endpoint: &'a str,
    access_token_endpoint: &'a str,
    claims_endpoint: Option<&'a str>,
}

impl<'a> Config<'a> {
    fn read(profile: &'a TechnicalProfile) -> Result<Config<'a>, OAuth1Error> {
        let meta = |key: &str| profile.metadata(key).map(str::trim).filter(|v| !v.is_empty());
        let required = |key: &'static str| meta(key).ok_or(OAuth1Error::MissingMetadata(key));
        if let Some(format) = meta("ClaimsResponseFormat").filter(|f| !f.eq_ignore_ascii_case("json")) {
            return Err(OAuth1Error::ResponseFormat(format.to_owned()));
        }
        Ok(Config {
            provider: meta("ProviderName").unwrap_or(profile.id.as_str()).to_owned(),
            client_id: required("client_id")?,
            request_token_endpoint: required("request_token_endpoint")?,
            authorization_endpoint: required("authorization_endpoint")?,
            access_token_endpoint: required("access_token_endpoint")?,
            claims_endpoint: meta("ClaimsEndpoint"),
        })
    }
}

/// What the first call keeps for the second: the temporary credentials, and when it got them.
const STATE_TOKEN: &str = "oauth_token";
const STATE_SECRET: &str = "oauth_token_secret";
const STATE_ISSUED_AT: &str = "issued_at";

impl OAuth1 {
    /// Temporary credentials, then the redirect to the provider.
    async fn start(&self, request: &ProfileRequest<'_>) -> Result<ProfileResult, OAuth1Error> {
        let config = Config::read(request.profile)?;
        let consumer = consumer(request, &config)?;
        let callback = federation::redirect_uri(request.policy, request.context, Callback::OAuth1, true);
        let input = SignInput { url: config.request_token_endpoint, callback: Some(&callback), ..SignInput::default() };
        let body = self
            .call(request, &config, Step::RequestToken, &Signer::new(consumer), reqwest::Method::POST, input)
            .await?;
        let answer = form(&body);
        let field = |name: &'static str| {
            value(&answer, name).filter(|v| !v.is_empty()).ok_or_else(|| OAuth1Error::MissingField {
                provider: config.provider.clone(),
                step: Step::RequestToken,
                field: name,
            })
        };
        let token = field("oauth_token")?;
        let secret = field("oauth_token_secret")?;
        // RFC 5849 §2.1 says "true"; real providers also send `True` (Authlib) or `1`.
        match value(&answer, "oauth_callback_confirmed").map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => {}
            found => {
                return Err(OAuth1Error::CallbackNotConfirmed {
                    provider: config.provider.clone(),
                    found: found.map_or_else(|| "missing".to_owned(), |v| format!("'{v}'")),
                });
            }
        }
        let separator = if config.authorization_endpoint.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}oauth_token={}",
            config.authorization_endpoint,
            base_string::encode(token.as_bytes())
        );
        Ok(ProfileResult::NeedsInput(Page {
            profile: request.profile.id.value.to_string(),
            kind: PageKind::Redirect { url },
            error: None,
            profile_state: Some(Box::new(json!({
                STATE_TOKEN: token,
                STATE_SECRET: secret,
                STATE_ISSUED_AT: now(request),
            }))),
            settings: Default::default(),
        }))
    }

    /// The callback: verifier for token credentials, then the claims.
    async fn finish(
        &self,
        request: &ProfileRequest<'_>,
        params: &[(String, String)],
    ) -> Result<ProfileResult, OAuth1Error> {
        let config = Config::read(request.profile)?;
        let state = request.profile_state.ok_or(OAuth1Error::NoState)?;
        let (Some(issued), Some(issued_secret)) =
            (state.get(STATE_TOKEN).and_then(Value::as_str), state.get(STATE_SECRET).and_then(Value::as_str))
        else {
            return Err(OAuth1Error::NoState);
        };
        let matches = |token: &str| constant_time_eq(token.as_bytes(), issued.as_bytes());
        // A refusal names the request token (Twitter sends `denied=<token>`); any other
        // `denied` is forged and must not pass for the user's cancellation.
        if let Some(denied) = value(params, "denied") {
            return Err(if matches(denied) {
                OAuth1Error::Denied(config.provider)
            } else {
                OAuth1Error::TokenMismatch
            });
        }
        let token = value(params, "oauth_token").ok_or(OAuth1Error::CallbackMissing("oauth_token"))?;
        if !matches(token) {
            return Err(OAuth1Error::TokenMismatch);
        }
        let issued_at = state.get(STATE_ISSUED_AT).and_then(Value::as_i64);
        let extensions = request.services.extensions;
        if let Err(e) = callback_once(extensions, &self.consumed, "oauth1-token", issued, issued_at, now(request)).await
        {
            let answer = e.outcome();
            return Ok(answer(OAuth1Error::from(e).into_profile_error(request.profile)));
        }
        let verifier = value(params, "oauth_verifier")
            .filter(|v| !v.is_empty())
            .ok_or(OAuth1Error::CallbackMissing("oauth_verifier"))?;

        let consumer = consumer(request, &config)?;
        let signer = Signer::new(consumer.clone()).with_token(Credentials::new(issued, issued_secret));
        let input = SignInput { url: config.access_token_endpoint, verifier: Some(verifier), ..SignInput::default() };
        let body = self.call(request, &config, Step::AccessToken, &signer, reqwest::Method::POST, input).await?;
        let token_answer = form(&body);
        let missing =
            |field| OAuth1Error::MissingField { provider: config.provider.clone(), step: Step::AccessToken, field };
        let access =
            value(&token_answer, "oauth_token").filter(|v| !v.is_empty()).ok_or_else(|| missing("oauth_token"))?;
        let access_secret = value(&token_answer, "oauth_token_secret").ok_or_else(|| missing("oauth_token_secret"))?;

        let mut found: serde_json::Map<String, Value> = token_answer
            .iter()
            .filter(|(k, _)| k != "oauth_token" && k != "oauth_token_secret")
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if let Some(endpoint) = config.claims_endpoint {
            let signer = Signer::new(consumer).with_token(Credentials::new(access, access_secret));
            let input = SignInput { url: endpoint, ..SignInput::default() };
            let body = self.call(request, &config, Step::Claims, &signer, reqwest::Method::GET, input).await?;
            let json: Value = serde_json::from_str(&body)
                .map_err(|e| OAuth1Error::ClaimsNotJson { provider: config.provider.clone(), cause: e.to_string() })?;
            let Value::Object(fields) = json else {
                return Err(OAuth1Error::ClaimsNotJson {
                    provider: config.provider.clone(),
                    cause: "not an object".to_owned(),
                });
            };
            // The claims endpoint's profile wins over the token response where both name a field.
            found.extend(fields);
        }
        Ok(ProfileResult::Claims(outputs(request, &config, &found)?))
    }

    /// One call to `input.url`, signed with a fresh nonce and the time; the body of a 2xx
    /// answer, else the provider's reason.
    async fn call(
        &self,
        request: &ProfileRequest<'_>,
        config: &Config<'_>,
        step: Step,
        signer: &Signer,
        method: reqwest::Method,
        input: SignInput<'_>,
    ) -> Result<String, OAuth1Error> {
        let (nonce, timestamp) = nonce_and_timestamp(request);
        let url = input.url;
        let authorization = signer.sign(&SignInput { method: method.as_str(), nonce: &nonce, timestamp, ..input })?;
        let roots = request.services.extensions.get::<TrustedRoots>();
        let client = self.clients.client(None, roots).map_err(|e| OAuth1Error::Client(e.to_string()))?;
        let transport = |e: &reqwest::Error| {
            let cause = if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs_f64())
            } else {
                root_cause(e)
            };
            OAuth1Error::Transport { step, url: url.to_owned(), cause }
        };
        let mut builder = client.request(method.clone(), url).header(reqwest::header::AUTHORIZATION, authorization);
        if method == reqwest::Method::POST {
            // An empty form: some servers want a length and a type on every POST.
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body("");
        }
        let mut response = builder.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(OAuth1Error::Transport {
                    step,
                    url: url.to_owned(),
                    cause: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if status.is_success() {
            return Ok(body);
        }
        Err(OAuth1Error::Refused {
            provider: config.provider.clone(),
            step,
            status: status.as_u16(),
            cause: provider_reason(&body),
        })
    }
}

fn consumer(request: &ProfileRequest<'_>, config: &Config<'_>) -> Result<Credentials, OAuth1Error> {
    let secret = federation::secret_text(request, "client_secret").map_err(OAuth1Error::Key)?;
    Ok(Credentials::new(config.client_id, secret))
}

/// A fresh nonce and the current time, from the run's environment (deterministic runs repeat).
fn nonce_and_timestamp(request: &ProfileRequest<'_>) -> (String, u64) {
    let mut bytes = [0u8; 16];
    request.services.env.fill_random(&mut bytes);
    let nonce = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let timestamp = now(request).max(1) as u64;
    (nonce, timestamp)
}

/// A form-encoded answer as (name, value) text pairs.
fn form(body: &str) -> Vec<(String, String)> {
    base_string::form_pairs(body.trim())
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn value<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What a provider said about a refusal: an OAuth `error`/`error_description` (form or JSON),
/// else the text of the body, shortened.
fn provider_reason(body: &str) -> String {
    let body = body.trim();
    let from_fields = |error: Option<String>, description: Option<String>| match (error, description) {
        (Some(e), Some(d)) if !d.is_empty() => Some(format!("{e} ({d})")),
        (Some(e), _) => Some(e),
        (None, Some(d)) => Some(d),
        (None, None) => None,
    };
    if let Ok(Value::Object(json)) = serde_json::from_str::<Value>(body) {
        let text = |k: &str| json.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        if let Some(reason) = from_fields(text("error"), text("error_description")) {
            return reason;
        }
    }
    let pairs = form(body);
    if let Some(reason) =
        from_fields(value(&pairs, "error").map(str::to_owned), value(&pairs, "error_description").map(str::to_owned))
    {
        return reason;
    }
    let text: String = body.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.is_empty() { "an empty answer".to_owned() } else { text }
}

/// The output claims found, by partner name, typed by their ClaimTypes.
fn outputs(
    request: &ProfileRequest<'_>,
    config: &Config<'_>,
    found: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, ClaimValue)>, OAuth1Error> {
    let mut claims: Vec<(String, ClaimValue)> = Vec::new();
    for output in &request.profile.output_claims {
        let partner = request.policy.partner_name(request.profile, output);
        if claims.iter().any(|(p, _)| *p == partner) {
            continue;
        }
        let Some(json) = found.get(&partner).filter(|v| !v.is_null()) else { continue };
        let data_type =
            request.policy.claim(output.claim.as_str()).and_then(|c| c.data_type).unwrap_or(DataType::String);
        let value = typed(data_type, json).ok_or_else(|| OAuth1Error::ClaimType {
            provider: config.provider.clone(),
            partner: partner.clone(),
            found: json.to_string(),
            data_type,
        })?;
        claims.push((partner, value));
    }
    Ok(claims)
}

/// A JSON value as a claim of `data_type`; text parses for typed claims, scalars become text.
fn typed(data_type: DataType, json: &Value) -> Option<ClaimValue> {
    if let Ok(v) = ClaimValue::from_json(data_type, json) {
        return Some(v);
    }
    let text = match json {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ClaimValue::parse(data_type, &text).ok()
}

fn describe(answer: &Answer) -> &'static str {
    match answer {
        Answer::Choose(_) => "a button choice",
        Answer::Submit(_) => "a form",
        Answer::Code(_) => "a code",
        Answer::Callback(_) => "a callback",
        Answer::Cancel => "a cancel",
        Answer::Action { .. } => "a display control's button",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_asserted::testing::{Harness, policy};

    const PROFILE: &str = r#"<TechnicalProfile Id="Twitter-OAuth1"><Protocol Name="OAuth1"/>
      <Metadata>
        <Item Key="client_id">ck</Item>
        <Item Key="request_token_endpoint">http://127.0.0.1:9/oauth/request_token</Item>
        <Item Key="authorization_endpoint">http://127.0.0.1:9/oauth/authenticate</Item>
        <Item Key="access_token_endpoint">http://127.0.0.1:9/oauth/access_token</Item>
      </Metadata>
      <OutputClaims><OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="screen_name"/></OutputClaims>
    </TechnicalProfile>"#;

    fn harness() -> Harness {
        let claims =
            r#"<ClaimsSchema><ClaimType Id="displayName"><DataType>string</DataType></ClaimType></ClaimsSchema>"#;
        Harness::new(policy(claims, PROFILE))
    }

    fn callback(pairs: &[(&str, &str)]) -> Option<Answer> {
        Some(Answer::Callback(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
    }

    #[test]
    fn only_a_callback_answers_the_redirect() {
        let h = harness();
        let answer = Some(Answer::Submit(vec![("displayName".to_owned(), "x".to_owned())]));
        let ProfileResult::InvalidAnswer(message) = h.run(&OAuth1::new(), "Twitter-OAuth1", Vec::new(), answer) else {
            panic!("a form is not an answer to a redirect")
        };
        assert!(message.contains("waits for the identity provider's callback, not a form"), "{message}");
    }

    #[test]
    fn callbacks_are_checked_before_any_call() {
        let h = harness();
        let run = |answer| match h.run(&OAuth1::new(), "Twitter-OAuth1", Vec::new(), answer) {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        };
        // The harness keeps no profile state: the request token is unknown.
        for answer in [callback(&[("oauth_token", "t"), ("oauth_verifier", "v")]), callback(&[("denied", "t")])] {
            let lost = run(answer);
            assert_eq!(lost.code, "InvalidCallback");
            assert!(lost.user_message.contains("without the request token this profile issued"), "{lost:?}");
        }
    }

    #[test]
    fn a_refusal_is_a_cancellation_only_when_it_names_the_request_token() {
        let h = harness();
        let state = json!({ STATE_TOKEN: "request-token", STATE_SECRET: "s", STATE_ISSUED_AT: 0 });
        let run = |pairs: &[(&str, &str)]| match h.run_with_state(
            &OAuth1::new(),
            "Twitter-OAuth1",
            Vec::new(),
            callback(pairs),
            Some(&state),
        ) {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        };
        for forged in ["anything", "request-tokeN", "request-token-", ""] {
            let refused = run(&[("denied", forged)]);
            assert_eq!(refused.code, "InvalidCallback", "denied={forged}");
            assert!(refused.user_message.contains("not the request token this sign-in obtained"), "{refused:?}");
        }
        // A forged refusal beside a real token is still forged.
        let mixed = run(&[("oauth_token", "request-token"), ("oauth_verifier", "v"), ("denied", "x")]);
        assert_eq!(mixed.code, "InvalidCallback", "{mixed:?}");
        let denied = run(&[("denied", "request-token")]);
        assert_eq!(denied.code, "AADB2C90273");
        assert!(denied.user_message.contains("the user cancelled the sign-in at Twitter-OAuth1"), "{denied:?}");
    }

    #[test]
    fn a_missing_secret_key_is_named_before_any_call() {
        let h = harness();
        let ProfileResult::Failed(e) = h.run(&OAuth1::new(), "Twitter-OAuth1", Vec::new(), None) else {
            panic!("no key store, no request")
        };
        assert!(e.user_message.contains("OAuth1 technical profile 'Twitter-OAuth1'"), "{e:?}");
        assert!(e.user_message.contains("no key with Id 'client_secret'"), "{e:?}");
    }

    #[test]
    fn provider_reasons_are_read_from_forms_json_and_text() {
        assert_eq!(provider_reason("error=invalid_signature"), "invalid_signature");
        assert_eq!(
            provider_reason(
                r#"{"error": "invalid_request", "error_description": "Invalid \"oauth_timestamp\" value"}"#
            ),
            r#"invalid_request (Invalid "oauth_timestamp" value)"#
        );
        assert_eq!(provider_reason("nonce already used\n"), "nonce already used");
        assert_eq!(provider_reason(""), "an empty answer");
        assert_eq!(provider_reason(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn claims_are_typed_by_their_claim_types() {
        assert_eq!(typed(DataType::String, &json!(12345)), Some(ClaimValue::String("12345".to_owned())));
        assert_eq!(typed(DataType::String, &json!("a")), Some(ClaimValue::String("a".to_owned())));
        assert_eq!(typed(DataType::Boolean, &json!("true")), Some(ClaimValue::Boolean(true)));
        assert_eq!(typed(DataType::Int, &json!("x")), None);
    }
}
