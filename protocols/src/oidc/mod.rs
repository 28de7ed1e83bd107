//! OpenID Connect identity providers: a `Protocol Name="OpenIdConnect"` technical profile run
//! as a journey step sends the user to the provider and validates what comes back.
//!
//! First call: discovery (cached), then a redirect page to the authorization endpoint, with
//! `state`, `nonce` and the PKCE verifier kept in the page's profile state. Second call, with
//! the provider's callback: state (and replay), RFC 9207 `iss`, the provider's `error`, the
//! token request with the profile's client authentication (secret, private_key_jwt or mutual
//! TLS), id_token validation (`verify`), userinfo, and the claims by the provider's names.
//!
//! The JWT issuer (`jwt_issuer`) and the local-password login (`directory::login`) say
//! `OpenIdConnect` too; this handler leaves them alone.

pub mod claims;
pub mod config;
pub mod provider;
pub mod verify;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{
    Answer, BoxFuture, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::Client;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::directory::login::is_password_grant;
use crate::federation::client_auth::ClientAuth;
use crate::federation::http::{ClientPool, TlsIdentity, TrustedRoots, root_cause};
use crate::federation::replay::{CallbackRefusal, callback_once};
use crate::federation::seen_once::SeenOnce;
use crate::federation::{self, Callback, constant_time_eq, now};
use config::{Config, ConfigCache};
use provider::{Discovery, FetchError, ProviderCache, read_limited};
use verify::{Expected, IssuerRule, Jwt, TokenError, VerifiedKey, check_claims};

/// B2C gives a call to a partner 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The token request's body type (RFC 6749 §4.1.3).
const FORM_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// Token and userinfo answers larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Parameters the handler owns: an input claim or extra parameter may not replace them.
const RESERVED_PARAMETERS: [&str; 8] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "nonce",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
];

/// The OpenID Connect identity-provider handler. It keeps what every sign-in shares: HTTP
/// clients per TLS identity, discovery documents and key sets, and the states already used.
pub struct OpenIdConnect {
    clients: ClientPool,
    providers: ProviderCache,
    configs: ConfigCache,
    /// States whose callback was handled, until their request expires: a callback presented
    /// twice (a page shown again, a replayed response) is refused.
    consumed: SeenOnce<String>,
}

impl std::fmt::Debug for OpenIdConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdConnect").finish_non_exhaustive()
    }
}

impl Default for OpenIdConnect {
    fn default() -> OpenIdConnect {
        OpenIdConnect::new()
    }
}

impl OpenIdConnect {
    pub fn new() -> OpenIdConnect {
        OpenIdConnect::with_timeout(DEFAULT_TIMEOUT)
    }

    /// With another timeout per HTTP call (tests).
    pub fn with_timeout(timeout: Duration) -> OpenIdConnect {
        OpenIdConnect {
            clients: ClientPool::new(timeout),
            providers: ProviderCache::new(),
            configs: ConfigCache::default(),
            consumed: SeenOnce::default(),
        }
    }

    /// How many HTTP clients were built (one per TLS identity).
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    fn client(&self, request: &ProfileRequest<'_>, identity: Option<TlsIdentity<'_>>) -> Result<Client, Error> {
        let roots = request.services.extensions.get::<TrustedRoots>();
        self.clients.client(identity, roots).map_err(|e| Error::Config(e.to_string()))
    }
}

impl ProfileHandler for OpenIdConnect {
    fn name(&self) -> &'static str {
        "OpenIdConnect"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Step
            && profile.protocol.as_ref().is_some_and(|p| p.name.value == "OpenIdConnect")
            && profile.output_token_format.is_none()
            && !is_password_grant(profile)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let outcome = match (request.answer, request.profile_state) {
                (None, _) => self.start(&request).await.map(ProfileResult::NeedsInput),
                (Some(Answer::Callback(params)), Some(stored)) => {
                    self.callback(&request, params, stored).await.map(ProfileResult::Claims)
                }
                (Some(Answer::Callback(_)), None) => Err(Error::Callback(
                    "no authorization request is pending for this profile, so the callback cannot be matched"
                        .to_owned(),
                )),
                (Some(_), _) => {
                    return ProfileResult::InvalidAnswer(format!(
                        "'{}' waits for the identity provider's callback; answer it with `callback`",
                        request.profile.id.value
                    ));
                }
            };
            outcome.unwrap_or_else(|e| {
                let answer = match &e {
                    Error::Refused(refusal) => refusal.outcome(),
                    _ => ProfileResult::Failed,
                };
                answer(e.into_profile_error(&request.profile.id.value))
            })
        })
    }
}

/// What the first call remembers for the callback (the executor keeps it; drivers never see it).
// No Debug: it holds the PKCE verifier.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    #[serde(default)]
    code_verifier: Option<String>,
    redirect_uri: String,
    issued_at: i64,
}

/// The token endpoint's answer (RFC 6749 §5.1). No Debug: it holds tokens.
#[derive(Default, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    /// Read only to tell a refusal answered with a success status.
    #[serde(default)]
    error: Option<Value>,
}

impl OpenIdConnect {
    async fn start(&self, request: &ProfileRequest<'_>) -> Result<Page, Error> {
        let profile = request.profile;
        let config = self.configs.read(profile, &request.policy.tenant_id).map_err(Error::Config)?;
        if config.response_type.has_code() {
            // Missing keys fail now, not after the user signed in at the provider.
            ClientAuth::from_profile(request).map_err(Error::Profile)?;
        } else if config.claims_endpoint.is_some() {
            return Err(Error::Config(
                "ClaimsEndpoint needs an access token, but response_types 'id_token' returns none".to_owned(),
            ));
        }
        let client = self.client(request, None)?;
        let discovery = self
            .providers
            .discovery(&client, &config.metadata_url, now(request))
            .await
            .map_err(|e| fetch_error(&config, e))?;
        let mut url = config.authorization_endpoint.as_ref().unwrap_or(&discovery.authorization_url).clone();

        let env = request.services.env;
        let pending = Pending {
            state: random_token(env),
            nonce: random_token(env),
            code_verifier: config.pkce.then(|| random_token(env)),
            redirect_uri: federation::redirect_uri(
                request.policy,
                request.context,
                Callback::OAuth2,
                config.use_policy_in_redirect_uri,
            ),
            issued_at: now(request),
        };
        // Borrowed from the config and the pending request: only the query is written.
        let mut params: Vec<(&str, Cow<'_, str>)> = vec![
            ("client_id", config.client_id.as_str().into()),
            ("response_type", config.response_type.as_str().into()),
            ("redirect_uri", pending.redirect_uri.as_str().into()),
            ("response_mode", config.response_mode.as_str().into()),
            ("scope", config.scope.as_str().into()),
            ("state", pending.state.as_str().into()),
            ("nonce", pending.nonce.as_str().into()),
        ];
        if let Some(verifier) = &pending.code_verifier {
            let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
            params.push(("code_challenge", challenge.as_str().to_owned().into()));
            params.push(("code_challenge_method", "S256".into()));
        }
        let inputs = request.inputs.iter().filter_map(|i| {
            i.value.as_ref().map(|v| (i.partner.as_str(), Cow::Owned(v.to_string()), Some(i.claim.as_str())))
        });
        let extra = config.extra_parameters.iter().map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()), None));
        for (name, value, claim) in inputs.chain(extra) {
            if RESERVED_PARAMETERS.contains(&name) {
                let source = claim.map_or_else(
                    || "AdditionalRequestQueryParameters".to_owned(),
                    |c| format!("the input claim '{c}'"),
                );
                return Err(Error::Config(format!(
                    "{source} would replace the authorization request's '{name}' parameter, which the protocol sets"
                )));
            }
            match params.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => params.push((name, value)),
            }
        }
        url.query_pairs_mut().extend_pairs(&params);
        let state = serde_json::to_value(&pending)
            .map_err(|e| Error::Config(format!("the authorization request could not be kept ({e})")))?;
        Ok(Page {
            profile: profile.id.value.to_string(),
            kind: PageKind::Redirect { url: url.to_string() },
            error: None,
            profile_state: Some(Box::new(state)),
            settings: Default::default(),
        })
    }

    async fn callback(
        &self,
        request: &ProfileRequest<'_>,
        params: &[(String, String)],
        stored: &Value,
    ) -> Result<Vec<(String, ClaimValue)>, Error> {
        let config = self.configs.read(request.profile, &request.policy.tenant_id).map_err(Error::Config)?;
        let pending = Pending::deserialize(stored)
            .map_err(|_| Error::Callback("the pending authorization request could not be read".to_owned()))?;
        let now = now(request);
        let one = |name: &str| -> Result<Option<&str>, Error> {
            let mut found = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
            let first = found.next();
            if found.next().is_some() {
                return Err(Error::Callback(format!("the callback repeats the parameter '{name}'")));
            }
            Ok(first)
        };

        // CSRF and replay come first: nothing else in an unmatched response is looked at.
        match one("state")? {
            None => {
                return Err(Error::Callback(
                    "the callback has no state parameter, so it cannot be matched to this sign-in (state mismatch)"
                        .to_owned(),
                ));
            }
            Some(state) if !constant_time_eq(state.as_bytes(), pending.state.as_bytes()) => {
                return Err(Error::Callback(
                    "the callback's state does not match the state sent with the authorization request (state mismatch)"
                        .to_owned(),
                ));
            }
            Some(_) => {}
        }
        let extensions = request.services.extensions;
        callback_once(extensions, &self.consumed, "oidc-state", &pending.state, Some(pending.issued_at), now).await?;

        let client = self.client(request, None)?;
        let discovery =
            self.providers.discovery(&client, &config.metadata_url, now).await.map_err(|e| fetch_error(&config, e))?;
        let issuer = issuer_rule(&config, &discovery);

        // RFC 9207: a response from another provider (mix-up) names that provider.
        match one("iss")? {
            Some(iss) => issuer.check("the authorization response", iss).map_err(|e| {
                Error::Callback(format!("{e} (RFC 9207: the response may come from another provider: mix-up)"))
            })?,
            None if discovery.iss_parameter_supported => {
                return Err(Error::Callback(
                    "the authorization response has no 'iss' parameter although the provider's metadata says it sends one (RFC 9207)"
                        .to_owned(),
                ));
            }
            None => {}
        }
        if let Some(error) = one("error")? {
            return Err(Error::Provider {
                error: error.to_owned(),
                description: one("error_description")?.map(str::to_owned),
            });
        }

        let body = claims::body_claims(&config.body_claims, params);
        let expected = Expected { issuer: &issuer, audience: config.audience(), nonce: Some(&pending.nonce), now };
        let code = match config.response_type.has_code() {
            true => Some(one("code")?.filter(|c| !c.is_empty()).ok_or_else(|| {
                Error::Callback("the callback has neither a 'code' nor an 'error' parameter".to_owned())
            })?),
            false => None,
        };
        // The front channel's id_token (`id_token`, `code id_token`) is checked before any code
        // is redeemed: for `code id_token` its c_hash binds the code to it (OIDC Core §3.3.2.11).
        let front = match config.response_type.has_front_channel_id_token() {
            true => {
                let token = one("id_token")?.filter(|t| !t.is_empty()).ok_or_else(|| {
                    Error::Callback("the callback has neither an 'id_token' nor an 'error' parameter".to_owned())
                })?;
                let what = if code.is_some() { "the front-channel id_token" } else { "the id_token" };
                let (claims, key) = self.verified(what, token, &client, &config, &discovery, &expected).await?;
                if let Some(code) = code {
                    key.check_c_hash(what, &claims, code)?;
                }
                Some((claims, key))
            }
            false => None,
        };
        let (id_claims, key, tokens, auth) = match (code, front) {
            (Some(code), front) => {
                let auth = ClientAuth::from_profile(request).map_err(Error::Profile)?;
                let tokens = self.redeem(request, &config, &discovery, &auth, &pending, code).await?;
                let id_token = tokens
                    .id_token
                    .clone()
                    .ok_or_else(|| Error::Token("the token endpoint's answer has no id_token".to_owned()))?;
                let what = "the id_token";
                let (claims, key) = self.verified(what, &id_token, &client, &config, &discovery, &expected).await?;
                if let Some((front, _)) = &front {
                    same_end_user(front, &claims)?;
                }
                (claims, key, Some(tokens), Some(auth))
            }
            (None, Some((claims, key))) => (claims, key, None, None),
            (None, None) => {
                return Err(Error::Callback("the response type returns neither a code nor an id_token".into()));
            }
        };
        let access_token = tokens.as_ref().and_then(|t| t.access_token.as_deref());
        if let Some(access_token) = access_token {
            key.check_at_hash("the id_token", &id_claims, access_token)?;
        }

        let info = match (&config.claims_endpoint, access_token) {
            (Some(endpoint), Some(access_token)) => {
                let identity = auth.as_ref().and_then(ClientAuth::tls_identity);
                let info = self
                    .userinfo(request, &config, &discovery, endpoint, identity, access_token, &client, &expected)
                    .await?;
                let id_sub = id_claims.get("sub").and_then(Value::as_str).unwrap_or_default();
                match info.get("sub").and_then(Value::as_str) {
                    Some(sub) if sub == id_sub => {}
                    found => {
                        return Err(Error::Userinfo(format!(
                            "the userinfo response's sub {found:?} is not the id_token's sub '{id_sub}'"
                        )));
                    }
                }
                Some(info)
            }
            _ => None,
        };
        // Later sources win: the callback's body, the id_token, userinfo.
        let mut out = Vec::new();
        claims::merge(&mut out, body);
        claims::merge(&mut out, id_claims);
        if let Some(info) = info {
            claims::merge(&mut out, info);
        }
        if let Some(tokens) = tokens {
            push_token_claims(&mut out, tokens);
        }
        Ok(out)
    }

    /// Redeems the code at the token endpoint (its RFC 8705 alias for mutual TLS).
    async fn redeem(
        &self,
        request: &ProfileRequest<'_>,
        config: &Config,
        discovery: &Discovery,
        auth: &ClientAuth,
        pending: &Pending,
        code: &str,
    ) -> Result<TokenResponse, Error> {
        let mutual_tls = auth.method().is_mutual_tls();
        // The text is the client assertion's `aud`; the document's own token endpoint was parsed
        // with it, an mTLS alias is parsed when sent.
        let (endpoint, parsed) = mutual_tls
            .then_some(discovery.mtls_token_endpoint.as_deref())
            .flatten()
            .map(|alias| (alias, None))
            .or_else(|| Some((discovery.token_endpoint.as_deref()?, discovery.token_url.as_ref())))
            .ok_or_else(|| Error::Token("the discovery document has no token_endpoint".to_owned()))?;
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.to_owned()),
            ("redirect_uri".into(), pending.redirect_uri.clone()),
        ];
        if let Some(verifier) = &pending.code_verifier {
            form.push(("code_verifier".into(), verifier.clone()));
        }
        let authorization = auth.apply(endpoint, request.services.env, &mut form).map_err(Error::Profile)?;
        let client = self.client(request, auth.tls_identity())?;
        let to = |method| match parsed {
            Some(url) => client.request(method, url.clone()),
            None => client.request(method, endpoint),
        };
        let mut builder = if config.token_request_get {
            to(reqwest::Method::GET).query(&form)
        } else {
            // What reqwest's `form` sends, without its trip through serde.
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
            to(reqwest::Method::POST).header(CONTENT_TYPE, FORM_CONTENT_TYPE).body(body)
        };
        builder = builder.header(ACCEPT, "application/json");
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| Error::Config("the client credentials are not a valid header value".to_owned()))?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        let tls_hint = if mutual_tls { " with the client certificate of the 'ClientCertificate' key" } else { "" };
        let response = builder.send().await.map_err(|e| {
            Error::Token(format!("the token endpoint {endpoint} could not be reached{tls_hint}: {}", root_cause(&e)))
        })?;
        let status = response.status();
        if config.fail_on_5xx && status.is_server_error() {
            return Err(Error::Outage(format!("the token endpoint answered HTTP {}", status.as_u16())));
        }
        let body = read_limited(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| Error::Token(format!("the token endpoint's answer could not be read: {}", root_cause(&e))))?
            .ok_or_else(|| {
                Error::Token(format!("the token endpoint's answer is larger than {MAX_RESPONSE_BYTES} bytes"))
            })?;
        // One pass for a token response (a JSON object: a struct would take an array too).
        if status.is_success()
            && body.trim_ascii_start().starts_with(b"{")
            && let Ok(tokens) = serde_json::from_slice::<TokenResponse>(&body)
            && !tokens.error.as_ref().is_some_and(Value::is_string)
        {
            return Ok(tokens);
        }
        // Anything but a plain token response is read again as an object, for the refusal's words.
        let json: Option<Map<String, Value>> = serde_json::from_slice(&body).ok();
        if let Some(error) = json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str) {
            let description = json
                .as_ref()
                .and_then(|j| j.get("error_description"))
                .and_then(Value::as_str)
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(Error::Token(format!(
                "the token endpoint refused the request with '{error}'{description} (HTTP {})",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(Error::Token(format!("the token endpoint answered HTTP {}", status.as_u16())));
        }
        let Some(json) = json else {
            return Err(Error::Token("the token endpoint's answer is not a JSON object".to_owned()));
        };
        serde_json::from_value(Value::Object(json))
            .map_err(|e| Error::Token(format!("the token endpoint's answer is not a token response ({e})")))
    }

    /// Verifies a signed JWT against the provider's keys: the cached JWKS, fetched again once
    /// when the token names a key it does not hold. With `DiscoverMetadataByTokenIssuer` the
    /// keys are those of the token's own issuer.
    async fn verified(
        &self,
        what: &'static str,
        token: &str,
        client: &Client,
        config: &Config,
        discovery: &Discovery,
        expected: &Expected<'_>,
    ) -> Result<(Map<String, Value>, VerifiedKey), Error> {
        let jwt = Jwt::parse(what, token)?;
        jwt.algorithm()?;
        let issuer_discovery = match config.discover_by_issuer {
            true => Some(self.issuer_discovery(&jwt, client, config, expected).await?),
            false => None,
        };
        let jwks_uri = issuer_discovery.as_deref().unwrap_or(discovery).jwks_uri.as_str();
        let fetch = |refresh| self.providers.jwks(client, jwks_uri, expected.now, refresh);
        let mut keys = fetch(false).await.map_err(|e| fetch_error(config, e))?;
        if !jwt.key_known(&keys) {
            keys = fetch(true).await.map_err(|e| fetch_error(config, e))?;
        }
        let key = jwt.verify(&keys)?;
        check_claims(what, jwt.claims(), expected)?;
        Ok((jwt.into_claims(), key))
    }

    /// The discovery document of a token's issuer (`DiscoverMetadataByTokenIssuer`). Only an
    /// issuer the profile trusts is looked up, and its document must name that issuer (OpenID
    /// Connect Discovery §4.3).
    async fn issuer_discovery(
        &self,
        jwt: &Jwt,
        client: &Client,
        config: &Config,
        expected: &Expected<'_>,
    ) -> Result<std::sync::Arc<Discovery>, Error> {
        let what = jwt.what;
        let iss = match jwt.claims().get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            _ => return Err(TokenError::MissingClaim { what, claim: "iss" }.into()),
        };
        expected.issuer.check(what, iss)?;
        let url = format!("{}/.well-known/openid-configuration", iss.trim_end_matches('/'));
        let found = self.providers.discovery(client, &url, expected.now).await.map_err(|e| fetch_error(config, e))?;
        if found.issuer != iss {
            return Err(Error::Token(format!(
                "the discovery document of {what}'s issuer ({url}) names the issuer '{}' instead (DiscoverMetadataByTokenIssuer)",
                found.issuer
            )));
        }
        Ok(found)
    }

    /// Calls the userinfo endpoint with the access token, from the same TLS identity as the
    /// token request (RFC 8705 certificate-bound tokens).
    #[allow(clippy::too_many_arguments)]
    async fn userinfo(
        &self,
        request: &ProfileRequest<'_>,
        config: &Config,
        discovery: &Discovery,
        endpoint: &str,
        identity: Option<TlsIdentity<'_>>,
        access_token: &str,
        plain: &Client,
        expected: &Expected<'_>,
    ) -> Result<Map<String, Value>, Error> {
        let endpoint = match (&identity, &discovery.mtls_userinfo_endpoint) {
            (Some(_), Some(alias)) if discovery.userinfo_endpoint.as_deref() == Some(endpoint) => alias.as_str(),
            _ => endpoint,
        };
        let client = self.client(request, identity)?;
        let builder = if config.userinfo_post { client.post(endpoint) } else { client.get(endpoint) };
        let mut bearer = HeaderValue::from_str(&format!("Bearer {access_token}"))
            .map_err(|_| Error::Userinfo("the access token is not a valid header value".to_owned()))?;
        bearer.set_sensitive(true);
        let bound = if identity.is_some() {
            " (the access token is bound to the client certificate it was issued to, RFC 8705)"
        } else {
            ""
        };
        let response = builder
            .header(AUTHORIZATION, bearer)
            .header(ACCEPT, "application/json, application/jwt")
            .send()
            .await
            .map_err(|e| {
                Error::Userinfo(format!("the userinfo endpoint {endpoint} could not be reached: {}", root_cause(&e)))
            })?;
        let status = response.status();
        if config.fail_on_5xx && status.is_server_error() {
            return Err(Error::Outage(format!("the userinfo endpoint answered HTTP {}", status.as_u16())));
        }
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = read_limited(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| Error::Userinfo(format!("the userinfo answer could not be read: {}", root_cause(&e))))?
            .ok_or_else(|| Error::Userinfo(format!("the userinfo answer is larger than {MAX_RESPONSE_BYTES} bytes")))?;
        if !status.is_success() {
            let detail = challenge
                .map(|c| format!(" ({c})"))
                .or_else(|| {
                    let json: Map<String, Value> = serde_json::from_slice(&body).ok()?;
                    let error = json.get("error")?.as_str()?;
                    let description = json.get("error_description").and_then(Value::as_str).unwrap_or_default();
                    Some(format!(" ({error}: {description})"))
                })
                .unwrap_or_default();
            let refused = if matches!(status.as_u16(), 401 | 403) { " refused the access token" } else { "" };
            return Err(Error::Userinfo(format!(
                "the userinfo endpoint {endpoint}{refused}: HTTP {}{detail}{bound}",
                status.as_u16()
            )));
        }
        if content_type.starts_with("application/jwt") {
            let text = String::from_utf8_lossy(&body);
            let what = "the signed userinfo response";
            let jwt = Jwt::parse(what, &text)?;
            jwt.algorithm()?;
            let mut keys = self.providers.jwks(plain, &discovery.jwks_uri, expected.now, false).await?;
            if !jwt.key_known(&keys) {
                keys = self.providers.jwks(plain, &discovery.jwks_uri, expected.now, true).await?;
            }
            jwt.verify(&keys)?;
            let claims = jwt.claims();
            // OIDC Core §5.3.2: a signed answer names its issuer and audience.
            let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
            expected.issuer.check(what, iss)?;
            let audience = expected.audience;
            let aud_ok = match claims.get("aud") {
                Some(Value::String(a)) => a == audience,
                Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !aud_ok {
                let found = claims.get("aud").map(Value::to_string).unwrap_or_else(|| "none".to_owned());
                return Err(Error::Userinfo(format!(
                    "the signed userinfo response's audience {found} does not contain the client_id '{audience}'"
                )));
            }
            return Ok(claims.clone());
        }
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Error::Userinfo("the userinfo answer is not a JSON object".to_owned())),
        }
    }
}

/// `{oauth2:access_token}` and its siblings (spec §d.2), for OutputClaims that ask for them.
fn push_token_claims(out: &mut Vec<(String, ClaimValue)>, tokens: TokenResponse) {
    let mut push = |name: &str, value: ClaimValue| out.push((format!("{{oauth2:{name}}}"), value));
    if let Some(t) = tokens.access_token {
        push("access_token", ClaimValue::String(t));
    }
    if let Some(t) = tokens.token_type {
        push("token_type", ClaimValue::String(t));
    }
    let expires = match tokens.expires_in {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(seconds) = expires {
        push("expires_in", ClaimValue::Long(seconds));
    }
    if let Some(t) = tokens.refresh_token {
        push("refresh_token", ClaimValue::String(t));
    }
}

fn issuer_rule(config: &Config, discovery: &Discovery) -> IssuerRule {
    if config.issuer_prefixes.is_empty() {
        IssuerRule::for_issuer(config.issuer.clone().unwrap_or_else(|| discovery.issuer.clone()))
    } else {
        IssuerRule::Prefixes(config.issuer_prefixes.clone())
    }
}

/// OIDC Core §3.3.3.6: both id_tokens of `code id_token` speak of the same end user at the same
/// issuer.
fn same_end_user(front: &Map<String, Value>, back: &Map<String, Value>) -> Result<(), TokenError> {
    for claim in ["iss", "sub"] {
        let (f, b) = (front.get(claim).unwrap_or(&Value::Null), back.get(claim).unwrap_or(&Value::Null));
        if f != b {
            return Err(TokenError::EndUserMismatch { claim, front: f.to_string(), back: b.to_string() });
        }
    }
    Ok(())
}

/// A discovery or key document that could not be had; with `MarkAsFailureOnStatusCode5xx` a
/// 5xx answer is the provider's outage.
fn fetch_error(config: &Config, e: FetchError) -> Error {
    match e {
        FetchError::Status { status, .. } if config.fail_on_5xx && status >= 500 => Error::Outage(e.to_string()),
        e => Error::Fetch(e),
    }
}

/// 256 random bits, base64url: state, nonce and PKCE verifier (43 characters, RFC 7636 §4.1).
fn random_token(env: &dyn ief_transforms::TransformEnv) -> String {
    let mut bytes = [0u8; 32];
    env.fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a sign-in with the provider failed.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Callback(String),
    /// Late, or handled before (here or by another process: then the sign-in is not ended).
    #[error(transparent)]
    Refused(#[from] CallbackRefusal),
    #[error("the identity provider answered with the error '{error}'{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider { error: String, description: Option<String> },
    #[error("{0}")]
    Token(String),
    #[error(transparent)]
    IdToken(#[from] TokenError),
    #[error("{0}")]
    Userinfo(String),
    #[error("{}", .0.user_message)]
    Profile(ProfileError),
    /// A 5xx answer under `MarkAsFailureOnStatusCode5xx`.
    #[error("{OUTAGE_MESSAGE} ({0})")]
    Outage(String),
}

/// B2C's message when it cannot reach the identity provider.
const OUTAGE_MESSAGE: &str = "We encountered an error connecting to the identity provider. Please try again later.";

impl Error {
    fn into_profile_error(self, profile: &str) -> ProfileError {
        let code = match &self {
            Error::Config(_) => "InvalidMetadata",
            Error::Fetch(_) => "MetadataUnavailable",
            Error::Callback(_) | Error::Refused(_) => "InvalidCallback",
            // B2C's code for an error response from the provider (access_denied and friends).
            Error::Provider { .. } => "AADB2C90273",
            Error::Token(_) => "TokenRequestFailed",
            Error::IdToken(_) => "InvalidIdToken",
            Error::Userinfo(_) => "UserInfoFailed",
            Error::Outage(_) => "AADB2C90289",
            Error::Profile(e) => {
                return ProfileError {
                    code: e.code.clone(),
                    user_message: format!("Sign-in with '{profile}' failed: {}", e.user_message),
                };
            }
        };
        ProfileError { code: code.to_owned(), user_message: format!("Sign-in with '{profile}' failed: {self}") }
    }
}
