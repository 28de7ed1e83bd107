//! RESTful technical profiles (`Proprietary` + `RestfulProvider`): one real HTTP call per run.
//!
//! Input claims go out as a JSON body, a form, headers, query parameters or URL placeholders
//! (`SendClaimsIn`); the JSON answer's fields come back as output claims by partner name; a 4xx
//! answer following the error contract (`status: 409`, `userMessage`) becomes the user's message.

use std::error::Error as StdError;
use std::time::Duration;

use ief_engine::exec::{BoxFuture, Invocation, ProfileError, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::TechnicalProfile;
use ief_transforms::value::parse_bool;
use ief_transforms::{ClaimValue, DataType};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::federation::http::{ClientPool, StubbedOrigins, TlsIdentity, TrustedRoots, root_cause};
use crate::federation::{self, error, key_error, key_store, required_storage_id};

/// B2C gives a REST call 30 seconds; no metadata changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The RESTful provider. Holds one HTTP client per TLS client identity (connection pools are
/// per client); no per-sign-in state.
pub struct Restful {
    timeout: Duration,
    clients: ClientPool,
}

impl std::fmt::Debug for Restful {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restful").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Default for Restful {
    fn default() -> Restful {
        Restful::new()
    }
}

impl Restful {
    /// With B2C's 30-second timeout.
    pub fn new() -> Restful {
        Restful::with_timeout(DEFAULT_TIMEOUT)
    }

    /// With another overall timeout per call (tests).
    pub fn with_timeout(timeout: Duration) -> Restful {
        Restful { timeout, clients: ClientPool::new(timeout) }
    }

    fn client(&self, request: &ProfileRequest<'_>, identity: Option<TlsIdentity<'_>>) -> Result<Client, ProfileError> {
        let roots = request.services.extensions.get::<TrustedRoots>();
        self.clients.client(identity, roots).map_err(|e| error("InvalidKey", e.to_string()))
    }

    async fn run(&self, request: &ProfileRequest<'_>) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
        let profile = request.profile;
        let name = profile.id.as_str();
        let config = Config::read(request).map_err(|e| config_error(name, e))?;
        let auth = Auth::resolve(request, &config).map_err(|e| config_error(name, e))?;
        let identity = match &auth {
            Auth::ClientCertificate(cert, key) => Some(TlsIdentity { certificates: cert, private_key: &key.0 }),
            _ => None,
        };
        let client = self.client(request, identity).map_err(|e| config_error(name, e))?;
        let builder = build_request(&client, request, &config).map_err(|e| config_error(name, e))?;
        let builder = match &auth {
            Auth::None | Auth::ClientCertificate(..) => builder,
            Auth::Basic(user, password) => builder.basic_auth(user, Some(&password.0)),
            Auth::Bearer(token) => builder.bearer_auth(&token.0),
            Auth::ApiKey(header, value) => {
                let mut value = HeaderValue::from_str(&value.0).map_err(|_| {
                    config_error(name, error("InvalidKey", format!("the {header} key is not a valid header value")))
                })?;
                value.set_sensitive(true);
                builder.header(header.clone(), value)
            }
        };
        let response = builder.send().await.map_err(|e| transport_error(profile, &e, self.timeout))?;
        let status = response.status();
        let body = read_body(response).await.map_err(|e| transport_error(profile, &e, self.timeout))?;
        let Some(body) = body else {
            return Err(request_failed(
                profile,
                status.as_u16().to_string(),
                format!(
                    "The REST API of technical profile '{name}' answered with more than {MAX_RESPONSE_BYTES} bytes."
                ),
            ));
        };
        if status.is_success() {
            return outputs(request, &body, config.json_paths);
        }
        if status.is_client_error()
            && let Some(e) = contract_error(&body, config.debug)
        {
            return Err(e);
        }
        Err(request_failed(
            profile,
            status.as_u16().to_string(),
            format!("The REST API of technical profile '{name}' returned HTTP {}.", status_text(status)),
        ))
    }
}

impl ProfileHandler for Restful {
    fn name(&self) -> &'static str {
        "RestfulProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation != Invocation::Issuer
            && profile.protocol.as_ref().and_then(|p| p.handler_type()) == Some("RestfulProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match self.run(&request).await {
                Ok(claims) => ProfileResult::Claims(claims),
                Err(e) => ProfileResult::Failed(e),
            }
        })
    }
}

/// A secret that never prints.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthType {
    None,
    Basic,
    Bearer,
    ClientCertificate,
    ApiKeyHeader,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendIn {
    Body,
    Form,
    Header,
    QueryString,
    Url,
}

/// The metadata of one REST profile.
#[derive(Debug)]
struct Config<'a> {
    url: &'a str,
    auth: AuthType,
    send_in: SendIn,
    payload_claim: Option<&'a str>,
    bearer_claim: Option<&'a str>,
    json_paths: bool,
    debug: bool,
}

impl<'a> Config<'a> {
    fn read(request: &ProfileRequest<'a>) -> Result<Config<'a>, ProfileError> {
        let profile = request.profile;
        let meta = |key: &str| profile.metadata(key).map(str::trim).filter(|v| !v.is_empty());
        let flag = |key: &str| -> Result<bool, ProfileError> {
            match meta(key) {
                None => Ok(false),
                Some(v) => parse_bool(v).ok_or_else(|| {
                    error("InvalidConfiguration", format!("metadata {key} is '{v}'; expected true or false"))
                }),
            }
        };
        let url = meta("ServiceUrl")
            .ok_or_else(|| error("InvalidConfiguration", "the required metadata ServiceUrl is missing".to_owned()))?;
        let auth = match meta("AuthenticationType") {
            None => {
                return Err(error(
                    "InvalidConfiguration",
                    "the required metadata AuthenticationType is missing (None, Basic, Bearer, ClientCertificate \
                     or ApiKeyHeader)"
                        .to_owned(),
                ));
            }
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "none" => AuthType::None,
                "basic" => AuthType::Basic,
                "bearer" => AuthType::Bearer,
                "clientcertificate" => AuthType::ClientCertificate,
                "apikeyheader" => AuthType::ApiKeyHeader,
                _ => {
                    return Err(error(
                        "InvalidConfiguration",
                        format!(
                            "AuthenticationType '{v}' is not one of None, Basic, Bearer, ClientCertificate, ApiKeyHeader"
                        ),
                    ));
                }
            },
        };
        let send_in = match meta("SendClaimsIn") {
            None => SendIn::Body,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "body" => SendIn::Body,
                "form" => SendIn::Form,
                "header" => SendIn::Header,
                "querystring" => SendIn::QueryString,
                "url" => SendIn::Url,
                _ => {
                    return Err(error(
                        "InvalidConfiguration",
                        format!("SendClaimsIn '{v}' is not one of Body, Form, Header, QueryString, Url"),
                    ));
                }
            },
        };
        if auth == AuthType::None && !flag("AllowInsecureAuthInProduction")? && request.policy.is_production() {
            return Err(error(
                "InsecureAuthInProduction",
                "AuthenticationType None is refused in Production deployment mode: set DeploymentMode=\"Development\" \
                 on the policy or metadata AllowInsecureAuthInProduction to true"
                    .to_owned(),
            ));
        }
        Ok(Config {
            url,
            auth,
            send_in,
            payload_claim: meta("ClaimUsedForRequestPayload"),
            bearer_claim: meta("UseClaimAsBearerToken"),
            json_paths: flag("ResolveJsonPathsInJsonTokens")?,
            debug: flag("DebugMode")?,
        })
    }
}

/// Credentials of one call, read from the key store (or a claim for a bearer token).
#[derive(Debug)]
enum Auth {
    None,
    Basic(String, Secret),
    Bearer(Secret),
    ApiKey(HeaderName, Secret),
    ClientCertificate(String, Secret),
}

impl Auth {
    fn resolve(request: &ProfileRequest<'_>, config: &Config<'_>) -> Result<Auth, ProfileError> {
        let profile = request.profile;
        Ok(match config.auth {
            AuthType::None => Auth::None,
            AuthType::Basic => {
                let user = secret_text(request, "BasicAuthenticationUsername")?;
                let password = secret_text(request, "BasicAuthenticationPassword")?;
                Auth::Basic(user.0, password)
            }
            AuthType::Bearer => match config.bearer_claim {
                Some(claim) => {
                    let token = claim_text(request, claim).filter(|t| !t.is_empty()).ok_or_else(|| {
                        error(
                            "MissingBearerToken",
                            format!("UseClaimAsBearerToken names claim '{claim}', which has no value"),
                        )
                    })?;
                    Auth::Bearer(Secret(token))
                }
                None => Auth::Bearer(secret_text(request, "BearerAuthenticationToken")?),
            },
            AuthType::ApiKeyHeader => {
                let [key] = profile.keys.as_slice() else {
                    return Err(error(
                        "InvalidConfiguration",
                        format!(
                            "AuthenticationType ApiKeyHeader needs exactly one CryptographicKey, whose Id is the header \
                             name; found {}",
                            profile.keys.len()
                        ),
                    ));
                };
                let header = HeaderName::from_bytes(key.id.as_str().as_bytes()).map_err(|_| {
                    error(
                        "InvalidConfiguration",
                        format!("the key Id '{}' is not a valid HTTP header name", key.id.as_str()),
                    )
                })?;
                let value = secret_text(request, key.id.as_str())?;
                Auth::ApiKey(header, value)
            }
            AuthType::ClientCertificate => {
                let storage = required_storage_id(profile, "ClientCertificate")?;
                let (cert, key) =
                    key_store(request)?.identity_pem(storage).map_err(|e| key_error("ClientCertificate", &e))?;
                Auth::ClientCertificate(cert.to_owned(), Secret(key.to_owned()))
            }
        })
    }
}

fn secret_text(request: &ProfileRequest<'_>, id: &str) -> Result<Secret, ProfileError> {
    federation::secret_text(request, id).map(Secret)
}

/// A claim's text: an input claim by ClaimType Id or partner name, else the bag.
fn claim_text(request: &ProfileRequest<'_>, claim: &str) -> Option<String> {
    if let Some(input) =
        request.inputs.iter().find(|i| i.claim == claim).or_else(|| request.inputs.iter().find(|i| i.partner == claim))
    {
        return input.value.as_ref().map(ToString::to_string);
    }
    let id = request.policy.claim_id(claim)?;
    request.bag.get(id).map(ToString::to_string)
}

/// The request to send, without credentials.
fn build_request(
    client: &Client,
    request: &ProfileRequest<'_>,
    config: &Config<'_>,
) -> Result<reqwest::RequestBuilder, ProfileError> {
    // A claim used as bearer token is a credential, not a field of the payload.
    let sent: Vec<(&str, &ClaimValue)> = request
        .inputs
        .iter()
        .filter(|i| config.bearer_claim.is_none_or(|b| b != i.claim && b != i.partner))
        .filter_map(|i| Some((i.partner.as_str(), i.value.as_ref()?)))
        .collect();
    let url = if config.send_in == SendIn::Url { fill_url(config.url, request)? } else { config.url.to_owned() };
    let mut url = reqwest::Url::parse(&url)
        .map_err(|e| error("InvalidConfiguration", format!("ServiceUrl '{}' is not a valid URL ({e})", config.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error("InvalidConfiguration", format!("ServiceUrl '{}' is not an http(s) URL", config.url)));
    }
    if let Some(stubs) = request.services.extensions.get::<StubbedOrigins>() {
        url = stubs.route(url);
    }
    if config.send_in == SendIn::QueryString && !sent.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &sent {
            pairs.append_pair(name, &value.to_string());
        }
    }
    let payload = match config.payload_claim {
        Some(claim) if matches!(config.send_in, SendIn::Body | SendIn::Form) => {
            Some(claim_text(request, claim).ok_or_else(|| {
                error(
                    "InvalidConfiguration",
                    format!("ClaimUsedForRequestPayload names claim '{claim}', which has no value"),
                )
            })?)
        }
        _ => None,
    };
    Ok(match (config.send_in, payload) {
        (_, Some(raw)) => client.post(url).header(CONTENT_TYPE, "application/json").body(raw),
        (SendIn::Body, None) => {
            let body: serde_json::Map<String, Value> =
                sent.iter().map(|(name, value)| ((*name).to_owned(), value.to_json())).collect();
            client.post(url).json(&body)
        }
        (SendIn::Form, None) => {
            let form: Vec<(&str, String)> = sent.iter().map(|(name, value)| (*name, value.to_string())).collect();
            client.post(url).form(&form)
        }
        (SendIn::Header, None) => {
            let mut builder = client.request(Method::GET, url);
            for (name, value) in &sent {
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    error("InvalidConfiguration", format!("input claim '{name}' is not a valid HTTP header name"))
                })?;
                let value = HeaderValue::from_str(&value.to_string()).map_err(|_| {
                    error("InvalidInput", format!("the value of input claim '{name}' cannot be sent in a header"))
                })?;
                builder = builder.header(header, value);
            }
            builder
        }
        (SendIn::QueryString | SendIn::Url, None) => client.request(Method::GET, url),
    })
}

/// Replaces `{name}` placeholders in the path and query of the ServiceUrl with input claims
/// (by partner name, else ClaimType Id), percent-encoded.
fn fill_url(url: &str, request: &ProfileRequest<'_>) -> Result<String, ProfileError> {
    let authority_end = match url.find("://") {
        Some(i) => i + 3 + url[i + 3..].find(['/', '?', '#']).unwrap_or(url.len() - i - 3),
        None => 0,
    };
    if url[..authority_end].contains('{') {
        return Err(error(
            "InvalidConfiguration",
            format!("ServiceUrl '{url}' has a claim placeholder in its host; only the path and query may have them"),
        ));
    }
    let mut out = url[..authority_end].to_owned();
    let mut rest = &url[authority_end..];
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let name = &rest[open + 1..open + close];
        let input = request
            .inputs
            .iter()
            .find(|i| i.partner == name)
            .or_else(|| request.inputs.iter().find(|i| i.claim == name))
            .ok_or_else(|| {
                error(
                    "InvalidConfiguration",
                    format!("ServiceUrl has the placeholder {{{name}}} but no input claim named '{name}'"),
                )
            })?;
        out.push_str(&rest[..open]);
        if let Some(value) = &input.value {
            percent_encode(&value.to_string(), &mut out);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn percent_encode(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The body, or `None` when it is larger than [`MAX_RESPONSE_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Option<String>, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The output claims found in a 2xx answer, by partner name, typed by their ClaimTypes.
fn outputs(
    request: &ProfileRequest<'_>,
    body: &str,
    json_paths: bool,
) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
    let profile = request.profile;
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let json: Value = match serde_json::from_str(body) {
        Ok(json) => json,
        Err(_) if profile.output_claims.is_empty() => return Ok(Vec::new()),
        Err(e) => {
            return Err(request_failed(
                profile,
                "InvalidResponse".to_owned(),
                format!("The REST API of technical profile '{}' did not answer with JSON ({e}).", profile.id.as_str()),
            ));
        }
    };
    let mut claims: Vec<(String, ClaimValue)> = Vec::new();
    for output in &profile.output_claims {
        let partner = request.policy.partner_name(profile, output);
        if claims.iter().any(|(p, _)| *p == partner) {
            continue;
        }
        let found =
            if json_paths { json_path(&json, &partner).or_else(|| json.get(&partner)) } else { json.get(&partner) };
        let Some(found) = found.filter(|v| !v.is_null()) else { continue };
        let data_type =
            request.policy.claim(output.claim.as_str()).and_then(|c| c.data_type).unwrap_or(DataType::String);
        let value = typed(data_type, found).ok_or_else(|| {
            request_failed(
                profile,
                "InvalidResponse".to_owned(),
                format!(
                    "The REST API of technical profile '{}' returned {found} for '{partner}', which is not a valid {data_type}.",
                    profile.id.as_str()
                ),
            )
        })?;
        claims.push((partner, value));
    }
    Ok(claims)
}

/// A JSON value as a claim of `data_type`, leniently: JSON scalars become the text a string
/// claim would hold, and text parses for typed claims.
pub(crate) fn typed(data_type: DataType, json: &Value) -> Option<ClaimValue> {
    if let Ok(v) = ClaimValue::from_json(data_type, json) {
        return Some(v);
    }
    let text = match json {
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if data_type == DataType::StringCollection => {
            return Some(ClaimValue::StringCollection(vec![s.clone()]));
        }
        Value::Object(_) | Value::Array(_) if data_type == DataType::String => json.to_string(),
        _ => return None,
    };
    ClaimValue::parse(data_type, &text).ok()
}

/// Resolves `data.email`, `a[0].b`, `$.data.email` or `['odd key'].x` in `json`.
pub(crate) fn json_path<'v>(json: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = json;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inner = after[..close].trim();
            current = if let Ok(index) = inner.parse::<usize>() {
                current.get(index)?
            } else {
                let key = inner.strip_prefix(['\'', '"']).and_then(|k| k.strip_suffix(['\'', '"'])).unwrap_or(inner);
                current.get(key)?
            };
            rest = &after[close + 1..];
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        current = current.get(&rest[..end])?;
        rest = &rest[end..];
    }
    Some(current)
}

/// The documented error answer: a 4xx whose JSON says `status: 409` and gives a `userMessage`.
fn contract_error(body: &str, debug: bool) -> Option<ProfileError> {
    let json: Value = serde_json::from_str(body).ok()?;
    let status = json.get("status")?;
    let is_409 = status.as_u64() == Some(409) || status.as_str().is_some_and(|s| s.trim() == "409");
    if !is_409 {
        return None;
    }
    let user_message = json.get("userMessage")?.as_str()?.to_owned();
    let text = |key: &str| match json.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let code = text("code").unwrap_or_else(|| "409".to_owned());
    let mut message = user_message;
    if debug {
        let details: Vec<String> = ["code", "requestId", "developerMessage", "moreInfo"]
            .iter()
            .filter_map(|key| text(key).map(|v| format!("{key}: {v}")))
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    Some(ProfileError { code, user_message: message })
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// How a call failed before an HTTP status came back.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    Timeout,
    Dns,
    Other(String),
}

fn transport_error(profile: &TechnicalProfile, e: &reqwest::Error, timeout: Duration) -> ProfileError {
    let kind = if e.is_timeout() {
        Transport::Timeout
    } else if is_dns_failure(e) {
        Transport::Dns
    } else {
        Transport::Other(root_cause(e))
    };
    transport_failure(profile, kind, timeout)
}

/// A failure of the call itself, with the profile's message for it when it has one.
fn transport_failure(profile: &TechnicalProfile, kind: Transport, timeout: Duration) -> ProfileError {
    let name = profile.id.as_str();
    let (code, key, default) = match kind {
        Transport::Timeout => (
            "RequestTimeout",
            Some("UserMessageIfRequestTimeout"),
            format!("The REST API of technical profile '{name}' did not answer within {} s.", timeout.as_secs_f64()),
        ),
        Transport::Dns => (
            "DnsResolutionFailed",
            Some("UserMessageIfDnsResolutionFailed"),
            format!("The host of the REST API of technical profile '{name}' could not be resolved."),
        ),
        Transport::Other(cause) => {
            ("RequestFailed", None, format!("The REST API of technical profile '{name}' could not be called: {cause}."))
        }
    };
    match key.and_then(|k| user_message(profile, k)) {
        Some(m) => ProfileError { code: code.to_owned(), user_message: m },
        None => request_failed(profile, code.to_owned(), default),
    }
}

fn is_dns_failure(e: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.to_string().to_ascii_lowercase().contains("dns error") {
            return true;
        }
        current = err.source();
    }
    false
}

fn user_message(profile: &TechnicalProfile, key: &str) -> Option<String> {
    profile.metadata(key).filter(|m| !m.trim().is_empty()).map(str::to_owned)
}

/// DefaultUserMessageIfRequestFailed when set, else `default`.
fn request_failed(profile: &TechnicalProfile, code: String, default: String) -> ProfileError {
    ProfileError { code, user_message: user_message(profile, "DefaultUserMessageIfRequestFailed").unwrap_or(default) }
}

/// Names the profile in a configuration or key problem.
fn config_error(profile: &str, e: ProfileError) -> ProfileError {
    ProfileError { code: e.code, user_message: format!("RESTful technical profile '{profile}': {}", e.user_message) }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use crate::keys::KeyStore;
    use std::sync::Arc;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method as AxMethod, StatusCode as AxStatus, Uri};
    use axum::response::{IntoResponse, Response};
    use base64::Engine;
    use ief_engine::exec::{Extensions, InputClaim, RequestContext, Services};
    use ief_engine::model::Policy;
    use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};
    use ief_transforms::{ClaimsBag, FixedEnv};

    use super::*;

    /// What the test server saw of one request.
    #[derive(Clone, Debug)]
    struct Received {
        method: String,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: String,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    struct Reply {
        status: u16,
        body: String,
        delay: Duration,
        location: Option<String>,
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply { status, body: body.to_owned(), delay: Duration::ZERO, location: None }
    }

    struct ServerState {
        reply: Reply,
        received: Mutex<Vec<Received>>,
    }

    struct Server {
        base: String,
        state: Arc<ServerState>,
    }

    impl Server {
        fn received(&self) -> Vec<Received> {
            self.state.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
        }

        fn only(&self) -> Received {
            let received = self.received();
            assert_eq!(received.len(), 1, "{received:?}");
            received[0].clone()
        }
    }

    async fn record(
        State(state): State<Arc<ServerState>>,
        method: AxMethod,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        state.received.lock().unwrap_or_else(PoisonError::into_inner).push(Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let r = &state.reply;
        if !r.delay.is_zero() {
            tokio::time::sleep(r.delay).await;
        }
        let status = AxStatus::from_u16(r.status).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR);
        let mut response = (status, [("content-type", "application/json")], r.body.clone()).into_response();
        if let Some(location) = &r.location {
            response.headers_mut().insert("location", location.parse().expect("location"));
        }
        response
    }

    /// A server on 127.0.0.1 answering every request with `reply`; it runs on the test's
    /// runtime and stops with it.
    async fn serve(reply: Reply) -> Server {
        let state = Arc::new(ServerState { reply, received: Mutex::new(Vec::new()) });
        let app = axum::Router::new().fallback(record).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { base, state }
    }

    const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com""#;
    const HANDLER: &str =
        "Web.TPEngine.Providers.RestfulProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";

    /// A one-file policy whose technical profile `REST-Test` has `metadata`, `keys` (Id,
    /// StorageReferenceId) and `outputs` (raw OutputClaim elements).
    fn policy(deployment: Option<&str>, metadata: &[(&str, &str)], keys: &[(&str, &str)], outputs: &str) -> Policy {
        let deployment = deployment.map_or(String::new(), |d| format!(r#" DeploymentMode="{d}""#));
        let metadata: String =
            metadata.iter().map(|(k, v)| format!(r#"<Item Key="{k}">{}</Item>"#, xml_escape(v))).collect();
        let keys: String = keys.iter().map(|(id, s)| format!(r#"<Key Id="{id}" StorageReferenceId="{s}"/>"#)).collect();
        let claims: String = [
            ("email", "string"),
            ("age", "int"),
            ("vip", "boolean"),
            ("tags", "stringCollection"),
            ("objectId", "string"),
            ("name", "string"),
            ("payload", "string"),
            ("accessToken", "string"),
            ("loyalty", "string"),
            ("promoted", "boolean"),
            ("score", "int"),
            ("nested", "string"),
            ("first", "string"),
        ]
        .iter()
        .map(|(id, t)| format!(r#"<ClaimType Id="{id}"><DataType>{t}</DataType></ClaimType>"#))
        .collect();
        let text = format!(
            r#"<TrustFrameworkPolicy {NS} PolicyId="B2C_1A_Rest" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Rest"{deployment}>
<BuildingBlocks><ClaimsSchema>{claims}</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>REST</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="REST-Test">
    <Protocol Name="Proprietary" Handler="{HANDLER}"/>
    <Metadata>{metadata}</Metadata>
    <CryptographicKeys>{keys}</CryptographicKeys>
    <OutputClaims>{outputs}</OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="Call" TechnicalProfileReferenceId="REST-Test"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub"/></OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
        );
        let set = PolicySet::from_sources([("rest.xml", text.as_str())]);
        let leaf = set.relying_parties().next().expect("a relying party");
        EffectivePolicy::build(&set, leaf, &mut Diagnostics::default()).expect("effective policy").model
    }

    fn xml_escape(text: &str) -> String {
        text.replace('&', "&amp;").replace('<', "&lt;")
    }

    /// Development mode, no authentication: the common case of the tests.
    fn open_policy(url: &str, extra: &[(&str, &str)], outputs: &str) -> Policy {
        let mut metadata = vec![("ServiceUrl", url), ("AuthenticationType", "None")];
        metadata.extend_from_slice(extra);
        policy(Some("Development"), &metadata, &[], outputs)
    }

    fn input(name: &str, value: ClaimValue) -> InputClaim {
        InputClaim { claim: name.to_owned(), partner: name.to_owned(), value: Some(value), required: false }
    }

    fn string(text: &str) -> ClaimValue {
        ClaimValue::String(text.to_owned())
    }

    async fn run(handler: &Restful, policy: &Policy, keys: Option<KeyStore>, inputs: Vec<InputClaim>) -> ProfileResult {
        let env = FixedEnv::default();
        let mut extensions = Extensions::default();
        if let Some(keys) = keys {
            extensions.insert(keys);
        }
        let services = Services { env: &env, extensions: &extensions };
        let bag = ClaimsBag::with_capacity(policy.claim_types.len());
        let context = RequestContext::default();
        let request = ProfileRequest {
            policy,
            profile: policy.profile("REST-Test").expect("profile"),
            invocation: Invocation::Validation,
            inputs,
            bag: &bag,
            answer: None,
            profile_state: None,
            services: &services,
            context: &context,
            token_claims: &[],
        };
        handler.execute(request).await
    }

    fn failed(result: ProfileResult) -> ProfileError {
        match result {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn claims(result: ProfileResult) -> Vec<(String, ClaimValue)> {
        match result {
            ProfileResult::Claims(c) => c,
            other => panic!("expected claims, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn body_sends_typed_json_and_maps_typed_outputs() {
        let server =
            serve(reply(200, r#"{"loyaltyNumber":"L-1","vip":true,"age":"43","unlisted":1,"email":null}"#)).await;
        let url = format!("{}/api/check?x=1", server.base);
        let outputs = r#"<OutputClaim ClaimTypeReferenceId="loyalty" PartnerClaimType="loyaltyNumber"/>
            <OutputClaim ClaimTypeReferenceId="promoted" PartnerClaimType="vip"/>
            <OutputClaim ClaimTypeReferenceId="score" PartnerClaimType="age"/>
            <OutputClaim ClaimTypeReferenceId="email"/>
            <OutputClaim ClaimTypeReferenceId="name"/>"#;
        let policy = open_policy(&url, &[], outputs);
        let mut inputs = vec![
            InputClaim {
                claim: "email".into(),
                partner: "emailAddress".into(),
                value: Some(string("joe@contoso.com")),
                required: true,
            },
            input("age", ClaimValue::Int(42)),
            input("vip", ClaimValue::Boolean(true)),
            input("tags", ClaimValue::StringCollection(vec!["a".into(), "b".into()])),
        ];
        inputs.push(InputClaim { claim: "name".into(), partner: "name".into(), value: None, required: false });
        let result = run(&Restful::new(), &policy, None, inputs).await;
        assert_eq!(
            claims(result),
            [
                ("loyaltyNumber".to_owned(), string("L-1")),
                ("vip".to_owned(), ClaimValue::Boolean(true)),
                ("age".to_owned(), ClaimValue::Int(43)),
            ]
        );
        let got = server.only();
        assert_eq!(got.method, "POST");
        assert_eq!(got.path, "/api/check");
        assert_eq!(got.query.as_deref(), Some("x=1"));
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(got.header("authorization"), None);
        let body: Value = serde_json::from_str(&got.body).expect("json body");
        // Absent claims are not sent; values keep their JSON types.
        assert_eq!(
            body,
            serde_json::json!({"emailAddress": "joe@contoso.com", "age": 42, "vip": true, "tags": ["a", "b"]})
        );
    }

    #[tokio::test]
    async fn form_posts_urlencoded_text_forms() {
        let server = serve(reply(200, "{}")).await;
        let policy = open_policy(&format!("{}/form", server.base), &[("SendClaimsIn", "Form")], "");
        let inputs = vec![
            input("email", string("joe+1@contoso.com")),
            input("vip", ClaimValue::Boolean(false)),
            input("name", string("Jo Ann")),
        ];
        assert_eq!(claims(run(&Restful::new(), &policy, None, inputs).await), []);
        let got = server.only();
        assert_eq!(got.method, "POST");
        assert_eq!(got.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(got.body, "email=joe%2B1%40contoso.com&vip=False&name=Jo+Ann");
    }

    #[tokio::test]
    async fn header_sends_a_get_with_claims_as_headers() {
        let server = serve(reply(200, r#"{"name":"Joe"}"#)).await;
        let policy = open_policy(
            &format!("{}/h", server.base),
            &[("SendClaimsIn", "Header")],
            r#"<OutputClaim ClaimTypeReferenceId="name"/>"#,
        );
        let inputs = vec![input("email", string("joe@contoso.com")), input("age", ClaimValue::Int(7))];
        assert_eq!(claims(run(&Restful::new(), &policy, None, inputs).await), [("name".to_owned(), string("Joe"))]);
        let got = server.only();
        assert_eq!(got.method, "GET");
        assert_eq!(got.header("email"), Some("joe@contoso.com"));
        assert_eq!(got.header("age"), Some("7"));
        assert_eq!(got.body, "");

        // A value that cannot be a header value is refused before anything is sent.
        let e = failed(run(&Restful::new(), &policy, None, vec![input("email", string("a\nb"))]).await);
        assert_eq!(e.code, "InvalidInput");
        assert_eq!(
            e.user_message,
            "RESTful technical profile 'REST-Test': the value of input claim 'email' cannot be sent in a header"
        );
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn query_string_appends_parameters_to_a_get() {
        let server = serve(reply(200, "{}")).await;
        let policy = open_policy(&format!("{}/q?api-version=2", server.base), &[("SendClaimsIn", "QueryString")], "");
        let inputs = vec![input("email", string("joe@contoso.com")), input("vip", ClaimValue::Boolean(true))];
        assert_eq!(claims(run(&Restful::new(), &policy, None, inputs).await), []);
        let got = server.only();
        assert_eq!(got.method, "GET");
        assert_eq!(got.path, "/q");
        assert_eq!(got.query.as_deref(), Some("api-version=2&email=joe%40contoso.com&vip=True"));
        assert_eq!(got.body, "");
    }

    #[tokio::test]
    async fn url_fills_placeholders_in_path_and_query_only() {
        let server = serve(reply(200, "{}")).await;
        let policy = open_policy(
            &format!("{}/users/{{objectId}}/check?name={{name}}", server.base),
            &[("SendClaimsIn", "Url")],
            "",
        );
        let inputs = vec![
            input("objectId", string("a b/c")),
            InputClaim { claim: "name".into(), partner: "name".into(), value: Some(string("Jöe&x")), required: false },
        ];
        assert_eq!(claims(run(&Restful::new(), &policy, None, inputs).await), []);
        let got = server.only();
        assert_eq!(got.method, "GET");
        assert_eq!(got.path, "/users/a%20b%2Fc/check");
        assert_eq!(got.query.as_deref(), Some("name=J%C3%B6e%26x"));

        // A placeholder without an input claim, and one in the host, are configuration errors.
        let e = failed(run(&Restful::new(), &policy, None, vec![input("objectId", string("1"))]).await);
        assert_eq!(e.code, "InvalidConfiguration");
        assert_eq!(
            e.user_message,
            "RESTful technical profile 'REST-Test': ServiceUrl has the placeholder {name} but no input claim named 'name'"
        );
        let host = open_policy("http://{objectId}.example/x", &[("SendClaimsIn", "Url")], "");
        let e = failed(run(&Restful::new(), &host, None, vec![input("objectId", string("evil"))]).await);
        assert_eq!(e.code, "InvalidConfiguration");
        assert!(e.user_message.contains("has a claim placeholder in its host"), "{}", e.user_message);
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn claim_used_for_request_payload_is_the_raw_body() {
        let server = serve(reply(200, "{}")).await;
        let policy = open_policy(&format!("{}/raw", server.base), &[("ClaimUsedForRequestPayload", "payload")], "");
        let raw = r#"{"customer":{"email":"joe@contoso.com"},"n":1}"#;
        let inputs = vec![input("payload", string(raw)), input("email", string("ignored@contoso.com"))];
        assert_eq!(claims(run(&Restful::new(), &policy, None, inputs).await), []);
        let got = server.only();
        assert_eq!(got.method, "POST");
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(got.body, raw);

        let e = failed(run(&Restful::new(), &policy, None, vec![]).await);
        assert_eq!(e.code, "InvalidConfiguration");
        assert!(e.user_message.ends_with("ClaimUsedForRequestPayload names claim 'payload', which has no value"));
    }

    fn basic_policy(url: &str) -> Policy {
        policy(
            None,
            &[("ServiceUrl", url), ("AuthenticationType", "Basic")],
            &[("BasicAuthenticationUsername", "B2C_1A_RestUser"), ("BasicAuthenticationPassword", "B2C_1A_RestPass")],
            "",
        )
    }

    #[tokio::test]
    async fn basic_sends_the_key_store_credentials() {
        let server = serve(reply(200, "{}")).await;
        let policy = basic_policy(&format!("{}/basic", server.base));
        let mut keys = KeyStore::empty();
        keys.insert_secret("B2C_1A_RestUser", "api-user");
        keys.insert_secret("B2C_1A_RestPass", "p@ss:w0rd-secret");
        assert_eq!(claims(run(&Restful::new(), &policy, Some(keys.clone()), vec![]).await), []);
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("api-user:p@ss:w0rd-secret"));
        assert_eq!(server.only().header("authorization"), Some(expected.as_str()));

        // A missing password is named by its Id and StorageReferenceId; nothing is sent.
        let mut partial = KeyStore::empty();
        partial.insert_secret("B2C_1A_RestUser", "api-user");
        let e = failed(run(&Restful::new(), &policy, Some(partial), vec![]).await);
        assert_eq!(e.code, "MissingKey");
        assert_eq!(
            e.user_message,
            "RESTful technical profile 'REST-Test': the key 'BasicAuthenticationPassword' could not be read: policy key \
             'B2C_1A_RestPass' not found in keys/ (expected B2C_1A_RestPass.pem, .txt or .json)"
        );
        let e = failed(run(&Restful::new(), &policy, None, vec![]).await);
        assert_eq!(e.user_message, "RESTful technical profile 'REST-Test': no key store is configured for policy keys");
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn bearer_uses_the_key_or_a_claim() {
        let server = serve(reply(200, "{}")).await;
        let url = format!("{}/bearer", server.base);
        let with_key = policy(
            None,
            &[("ServiceUrl", &url), ("AuthenticationType", "Bearer")],
            &[("BearerAuthenticationToken", "B2C_1A_RestToken")],
            "",
        );
        let mut keys = KeyStore::empty();
        keys.insert_secret("B2C_1A_RestToken", "static-token");
        assert_eq!(claims(run(&Restful::new(), &with_key, Some(keys), vec![]).await), []);

        let with_claim = policy(
            None,
            &[("ServiceUrl", &url), ("AuthenticationType", "Bearer"), ("UseClaimAsBearerToken", "accessToken")],
            &[],
            "",
        );
        let inputs = vec![input("accessToken", string("claim-token")), input("email", string("joe@contoso.com"))];
        assert_eq!(claims(run(&Restful::new(), &with_claim, None, inputs).await), []);
        let got = server.received();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header("authorization"), Some("Bearer static-token"));
        assert_eq!(got[1].header("authorization"), Some("Bearer claim-token"));
        // The token claim is a credential, not a payload field.
        assert_eq!(
            serde_json::from_str::<Value>(&got[1].body).expect("json"),
            serde_json::json!({"email": "joe@contoso.com"})
        );

        let e = failed(run(&Restful::new(), &with_claim, None, vec![]).await);
        assert_eq!(e.code, "MissingBearerToken");
        assert!(e.user_message.ends_with("UseClaimAsBearerToken names claim 'accessToken', which has no value"));
        let no_key = policy(None, &[("ServiceUrl", &url), ("AuthenticationType", "Bearer")], &[], "");
        let e = failed(run(&Restful::new(), &no_key, Some(KeyStore::empty()), vec![]).await);
        assert_eq!(e.code, "MissingKey");
        assert!(
            e.user_message.ends_with("the CryptographicKeys element has no key with Id 'BearerAuthenticationToken'")
        );
    }

    #[tokio::test]
    async fn api_key_header_is_named_by_the_key_id() {
        let server = serve(reply(200, "{}")).await;
        let url = format!("{}/fn", server.base);
        let policy_with = |keys: &[(&str, &str)]| {
            policy(None, &[("ServiceUrl", &url), ("AuthenticationType", "ApiKeyHeader")], keys, "")
        };
        let mut keys = KeyStore::empty();
        keys.insert_secret("B2C_1A_ApiKey", "k-123");
        let policy = policy_with(&[("x-functions-key", "B2C_1A_ApiKey")]);
        assert_eq!(claims(run(&Restful::new(), &policy, Some(keys.clone()), vec![]).await), []);
        let got = server.only();
        assert_eq!(got.header("x-functions-key"), Some("k-123"));
        assert_eq!(got.header("authorization"), None);

        let two = policy_with(&[("x-a", "B2C_1A_ApiKey"), ("x-b", "B2C_1A_ApiKey")]);
        let e = failed(run(&Restful::new(), &two, Some(keys.clone()), vec![]).await);
        assert_eq!(e.code, "InvalidConfiguration");
        assert!(e.user_message.ends_with("needs exactly one CryptographicKey, whose Id is the header name; found 2"));
        let none = policy_with(&[]);
        assert!(failed(run(&Restful::new(), &none, Some(keys), vec![]).await).user_message.ends_with("found 0"));
    }

    fn cert_and_key() -> String {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["client.example".to_owned()]).expect("params");
        let cert = params.self_signed(&pair).expect("cert");
        format!("{}{}", cert.pem(), pair.serialize_pem())
    }

    // No TLS server here (the crate has no server-side TLS dependency): this checks that the
    // identity is built from the key store, gets its own client, and that key problems are named.
    #[tokio::test]
    async fn client_certificate_builds_an_identity_client_from_the_key_store() {
        let server = serve(reply(200, r#"{"name":"ok"}"#)).await;
        let url = format!("{}/mtls", server.base);
        let cert_policy = policy(
            None,
            &[("ServiceUrl", &url), ("AuthenticationType", "ClientCertificate")],
            &[("ClientCertificate", "B2C_1A_RestClientCert")],
            r#"<OutputClaim ClaimTypeReferenceId="name"/>"#,
        );
        let mut keys = KeyStore::empty();
        keys.insert_pem("B2C_1A_RestClientCert", &cert_and_key()).expect("pem");
        let handler = Restful::new();
        for _ in 0..2 {
            let result = run(&handler, &cert_policy, Some(keys.clone()), vec![]).await;
            assert_eq!(claims(result), [("name".to_owned(), string("ok"))]);
        }
        // One client for the identity, reused.
        assert_eq!(handler.clients.len(), 1);
        let plain = open_policy(&url, &[], "");
        assert_eq!(claims(run(&handler, &plain, None, vec![]).await), []);
        assert_eq!(handler.clients.len(), 2);
        let mut other = KeyStore::empty();
        other.insert_pem("B2C_1A_RestClientCert", &cert_and_key()).expect("pem");
        assert!(matches!(run(&handler, &cert_policy, Some(other), vec![]).await, ProfileResult::Claims(_)));
        assert_eq!(handler.clients.len(), 3);
        assert_eq!(server.received().len(), 4);

        let e = failed(run(&handler, &cert_policy, Some(KeyStore::empty()), vec![]).await);
        assert_eq!(e.code, "MissingKey");
        assert!(e.user_message.contains("policy key 'B2C_1A_RestClientCert' not found"), "{}", e.user_message);
        let mut wrong = KeyStore::empty();
        wrong.insert_secret("B2C_1A_RestClientCert", "not a cert");
        let e = failed(run(&handler, &cert_policy, Some(wrong), vec![]).await);
        assert!(
            e.user_message.ends_with("a certificate followed by its private key (.pem) is needed here"),
            "{}",
            e.user_message
        );
    }

    #[tokio::test]
    async fn conflict_contract_shows_the_user_message() {
        let body = r#"{"version":"1.0.0","status":409,"code":"API12345","requestId":"req-1",
            "userMessage":"Your loyalty number was not found.","developerMessage":"no row","moreInfo":"https://help"}"#;
        let server = serve(reply(409, body)).await;
        let url = format!("{}/validate", server.base);
        let e = failed(run(&Restful::new(), &open_policy(&url, &[], ""), None, vec![]).await);
        assert_eq!(
            e,
            ProfileError { code: "API12345".into(), user_message: "Your loyalty number was not found.".into() }
        );
        let e = failed(run(&Restful::new(), &open_policy(&url, &[("DebugMode", "true")], ""), None, vec![]).await);
        assert_eq!(
            e.user_message,
            "Your loyalty number was not found. (code: API12345; requestId: req-1; developerMessage: no row; moreInfo: \
             https://help)"
        );
    }

    #[tokio::test]
    async fn conflict_contract_accepts_any_4xx_and_a_text_status() {
        let server = serve(reply(400, r#"{"version":"1.0.0","status":"409","userMessage":"Try again."}"#)).await;
        let e = failed(run(&Restful::new(), &open_policy(&server.base, &[], ""), None, vec![]).await);
        assert_eq!(e, ProfileError { code: "409".into(), user_message: "Try again.".into() });
    }

    #[tokio::test]
    async fn a_4xx_outside_the_contract_is_a_plain_failure() {
        let server = serve(reply(409, r#"{"status":400,"userMessage":"not shown"}"#)).await;
        let e = failed(run(&Restful::new(), &open_policy(&server.base, &[], ""), None, vec![]).await);
        assert_eq!(e.code, "409");
        assert_eq!(e.user_message, "The REST API of technical profile 'REST-Test' returned HTTP 409 Conflict.");
    }

    #[tokio::test]
    async fn server_error_uses_the_default_message() {
        let server = serve(reply(500, r#"{"status":409,"userMessage":"not shown for a 5xx"}"#)).await;
        let e = failed(run(&Restful::new(), &open_policy(&server.base, &[], ""), None, vec![]).await);
        assert_eq!(
            e,
            ProfileError {
                code: "500".into(),
                user_message: "The REST API of technical profile 'REST-Test' returned HTTP 500 Internal Server Error."
                    .into()
            }
        );
        let custom =
            open_policy(&server.base, &[("DefaultUserMessageIfRequestFailed", "Cannot process your request.")], "");
        let e = failed(run(&Restful::new(), &custom, None, vec![]).await);
        assert_eq!(e, ProfileError { code: "500".into(), user_message: "Cannot process your request.".into() });
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let server = serve(Reply { location: Some("http://127.0.0.1:1/elsewhere".into()), ..reply(302, "") }).await;
        let e = failed(run(&Restful::new(), &open_policy(&server.base, &[], ""), None, vec![]).await);
        assert_eq!(e.code, "302");
        assert_eq!(e.user_message, "The REST API of technical profile 'REST-Test' returned HTTP 302 Found.");
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn timeout_gives_the_timeout_message() {
        let server = serve(Reply { delay: Duration::from_secs(3), ..reply(200, "{}") }).await;
        let handler = Restful::with_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let e = failed(run(&handler, &open_policy(&server.base, &[], ""), None, vec![]).await);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(
            e,
            ProfileError {
                code: "RequestTimeout".into(),
                user_message: "The REST API of technical profile 'REST-Test' did not answer within 0.2 s.".into()
            }
        );
        let custom = open_policy(
            &server.base,
            &[("UserMessageIfRequestTimeout", "Too slow."), ("DefaultUserMessageIfRequestFailed", "Failed.")],
            "",
        );
        let e = failed(run(&handler, &custom, None, vec![]).await);
        assert_eq!(e, ProfileError { code: "RequestTimeout".into(), user_message: "Too slow.".into() });
        let fallback = open_policy(&server.base, &[("DefaultUserMessageIfRequestFailed", "Failed.")], "");
        assert_eq!(failed(run(&handler, &fallback, None, vec![]).await).user_message, "Failed.");
    }

    #[tokio::test]
    async fn refused_connection_is_a_request_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/gone", listener.local_addr().expect("addr"));
        drop(listener);
        let e = failed(run(&Restful::new(), &open_policy(&url, &[], ""), None, vec![]).await);
        assert_eq!(e.code, "RequestFailed");
        assert!(
            e.user_message.starts_with("The REST API of technical profile 'REST-Test' could not be called: "),
            "{}",
            e.user_message
        );
        let custom = open_policy(&url, &[("DefaultUserMessageIfRequestFailed", "Service unavailable.")], "");
        assert_eq!(failed(run(&Restful::new(), &custom, None, vec![]).await).user_message, "Service unavailable.");
    }

    #[tokio::test]
    async fn json_paths_resolve_nested_outputs_when_enabled() {
        let body = r#"{"data":{"email":"joe@contoso.com","items":[{"b":"first"},{"b":"second"}],"age":30},"top":"t"}"#;
        let server = serve(reply(200, body)).await;
        let outputs = r#"<OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="data.email"/>
            <OutputClaim ClaimTypeReferenceId="first" PartnerClaimType="data.items[1].b"/>
            <OutputClaim ClaimTypeReferenceId="score" PartnerClaimType="$.data.age"/>
            <OutputClaim ClaimTypeReferenceId="nested" PartnerClaimType="top"/>
            <OutputClaim ClaimTypeReferenceId="name" PartnerClaimType="data.missing.name"/>"#;
        let with_paths = open_policy(&server.base, &[("ResolveJsonPathsInJsonTokens", "true")], outputs);
        assert_eq!(
            claims(run(&Restful::new(), &with_paths, None, vec![]).await),
            [
                ("data.email".to_owned(), string("joe@contoso.com")),
                ("data.items[1].b".to_owned(), string("second")),
                ("$.data.age".to_owned(), ClaimValue::Int(30)),
                ("top".to_owned(), string("t")),
            ]
        );
        // Without the flag a partner name is a top-level key only.
        let without = open_policy(&server.base, &[], outputs);
        assert_eq!(claims(run(&Restful::new(), &without, None, vec![]).await), [("top".to_owned(), string("t"))]);
    }

    #[test]
    fn json_path_forms() {
        let json = serde_json::json!({"a": [{"b": 1}, {"b": 2}], "odd key": {"x": true}, "a.b": "literal"});
        assert_eq!(json_path(&json, "a[1].b"), Some(&serde_json::json!(2)));
        assert_eq!(json_path(&json, "$.a[0].b"), Some(&serde_json::json!(1)));
        assert_eq!(json_path(&json, "['odd key'].x"), Some(&serde_json::json!(true)));
        assert_eq!(json_path(&json, "a[2].b"), None);
        assert_eq!(json_path(&json, "a[x"), None);
        assert_eq!(json_path(&json, "a.b"), None);
        assert_eq!(json_path(&json, "a").map(Value::is_array), Some(true));
    }

    #[test]
    fn typed_values_are_lenient_but_checked() {
        assert_eq!(typed(DataType::String, &serde_json::json!(5)), Some(string("5")));
        assert_eq!(typed(DataType::String, &serde_json::json!(true)), Some(string("True")));
        assert_eq!(typed(DataType::String, &serde_json::json!({"a": 1})), Some(string(r#"{"a":1}"#)));
        assert_eq!(typed(DataType::Boolean, &serde_json::json!("false")), Some(ClaimValue::Boolean(false)));
        assert_eq!(typed(DataType::Int, &serde_json::json!("12")), Some(ClaimValue::Int(12)));
        assert_eq!(typed(DataType::Long, &serde_json::json!(5_000_000_000_i64)), Some(ClaimValue::Long(5_000_000_000)));
        assert_eq!(
            typed(DataType::StringCollection, &serde_json::json!("one")),
            Some(ClaimValue::StringCollection(vec!["one".into()]))
        );
        assert_eq!(typed(DataType::Int, &serde_json::json!("twelve")), None);
        assert_eq!(typed(DataType::Int, &serde_json::json!(1.5)), None);
        assert_eq!(typed(DataType::Boolean, &serde_json::json!([true])), None);
    }

    #[tokio::test]
    async fn bad_answers_are_reported() {
        let server = serve(reply(200, r#"{"score":"lots"}"#)).await;
        let typed_policy = open_policy(&server.base, &[], r#"<OutputClaim ClaimTypeReferenceId="score"/>"#);
        let e = failed(run(&Restful::new(), &typed_policy, None, vec![]).await);
        assert_eq!(e.code, "InvalidResponse");
        assert_eq!(
            e.user_message,
            "The REST API of technical profile 'REST-Test' returned \"lots\" for 'score', which is not a valid int."
        );

        let html = serve(reply(200, "<html>hi</html>")).await;
        let wants_output = open_policy(&html.base, &[], r#"<OutputClaim ClaimTypeReferenceId="name"/>"#);
        let e = failed(run(&Restful::new(), &wants_output, None, vec![]).await);
        assert_eq!(e.code, "InvalidResponse");
        assert!(e.user_message.contains("did not answer with JSON"), "{}", e.user_message);
        // A profile that expects nothing back does not care what the body is.
        assert_eq!(claims(run(&Restful::new(), &open_policy(&html.base, &[], ""), None, vec![]).await), []);

        let big = serve(reply(200, &"x".repeat(MAX_RESPONSE_BYTES + 1))).await;
        let e = failed(run(&Restful::new(), &open_policy(&big.base, &[], ""), None, vec![]).await);
        assert_eq!(e.code, "200");
        assert!(e.user_message.contains("answered with more than"), "{}", e.user_message);
    }

    #[tokio::test]
    async fn authentication_none_is_refused_in_production() {
        let server = serve(reply(200, "{}")).await;
        let meta = [("ServiceUrl", server.base.as_str()), ("AuthenticationType", "None")];
        for mode in [None, Some("Production"), Some("production")] {
            let e = failed(run(&Restful::new(), &policy(mode, &meta, &[], ""), None, vec![]).await);
            assert_eq!(e.code, "InsecureAuthInProduction");
            assert_eq!(
                e.user_message,
                "RESTful technical profile 'REST-Test': AuthenticationType None is refused in Production deployment \
                 mode: set DeploymentMode=\"Development\" on the policy or metadata AllowInsecureAuthInProduction to true"
            );
        }
        assert!(server.received().is_empty());
        let allowed = [
            ("ServiceUrl", server.base.as_str()),
            ("AuthenticationType", "None"),
            ("AllowInsecureAuthInProduction", "True"),
        ];
        assert_eq!(claims(run(&Restful::new(), &policy(None, &allowed, &[], ""), None, vec![]).await), []);
        assert_eq!(claims(run(&Restful::new(), &policy(Some("Development"), &meta, &[], ""), None, vec![]).await), []);
        assert_eq!(server.received().len(), 2);
    }

    #[tokio::test]
    async fn configuration_errors_name_the_profile() {
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (
                vec![("AuthenticationType", "None")],
                "InvalidConfiguration",
                "the required metadata ServiceUrl is missing",
            ),
            (
                vec![("ServiceUrl", "http://127.0.0.1:9/")],
                "InvalidConfiguration",
                "the required metadata AuthenticationType is missing (None, Basic, Bearer, ClientCertificate or ApiKeyHeader)",
            ),
            (
                vec![("ServiceUrl", "http://127.0.0.1:9/"), ("AuthenticationType", "Digest")],
                "InvalidConfiguration",
                "AuthenticationType 'Digest' is not one of None, Basic, Bearer, ClientCertificate, ApiKeyHeader",
            ),
            (
                vec![("ServiceUrl", "http://127.0.0.1:9/"), ("AuthenticationType", "None"), ("SendClaimsIn", "Cookie")],
                "InvalidConfiguration",
                "SendClaimsIn 'Cookie' is not one of Body, Form, Header, QueryString, Url",
            ),
            (
                vec![("ServiceUrl", "ftp://127.0.0.1/x"), ("AuthenticationType", "None")],
                "InvalidConfiguration",
                "ServiceUrl 'ftp://127.0.0.1/x' is not an http(s) URL",
            ),
            (
                vec![("ServiceUrl", "not a url"), ("AuthenticationType", "None")],
                "InvalidConfiguration",
                "ServiceUrl 'not a url' is not a valid URL (relative URL without a base)",
            ),
            (
                vec![("ServiceUrl", "http://127.0.0.1:9/"), ("AuthenticationType", "None"), ("DebugMode", "maybe")],
                "InvalidConfiguration",
                "metadata DebugMode is 'maybe'; expected true or false",
            ),
        ];
        for (meta, code, message) in cases {
            let e = failed(run(&Restful::new(), &policy(Some("Development"), &meta, &[], ""), None, vec![]).await);
            assert_eq!(e.code, code);
            assert_eq!(e.user_message, format!("RESTful technical profile 'REST-Test': {message}"));
        }
    }

    #[test]
    fn handles_rest_profiles_except_as_issuer() {
        let rest = open_policy("http://127.0.0.1:9/", &[], "");
        let handler = Restful::new();
        let profile = rest.profile("REST-Test").expect("profile");
        assert!(handler.handles(profile, Invocation::Step));
        assert!(handler.handles(profile, Invocation::Validation));
        assert!(!handler.handles(profile, Invocation::Issuer));
        assert!(!handler.handles(rest.profile("JwtIssuer").expect("issuer"), Invocation::Step));
        assert_eq!(handler.name(), "RestfulProvider");
        assert_eq!(format!("{handler:?}"), "Restful { timeout: 30s, .. }");
    }

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);

    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Chain {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|c| c as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn dns_failures_are_recognised_anywhere_in_the_chain() {
        let dns = Chain(
            "error sending request",
            Some(Box::new(Chain(
                "client error (Connect)",
                Some(Box::new(Chain("dns error: failed to lookup address", None))),
            ))),
        );
        assert!(is_dns_failure(&dns));
        assert_eq!(root_cause(&dns), "dns error: failed to lookup address");
        let refused = Chain("error sending request", Some(Box::new(Chain("Connection refused (os error 111)", None))));
        assert!(!is_dns_failure(&refused));
    }

    #[test]
    fn dns_failure_messages() {
        let plain = open_policy("http://127.0.0.1:9/", &[], "");
        let profile = plain.profile("REST-Test").expect("profile");
        assert_eq!(
            transport_failure(profile, Transport::Dns, DEFAULT_TIMEOUT),
            ProfileError {
                code: "DnsResolutionFailed".into(),
                user_message: "The host of the REST API of technical profile 'REST-Test' could not be resolved.".into()
            }
        );
        let custom = open_policy(
            "http://127.0.0.1:9/",
            &[("UserMessageIfDnsResolutionFailed", "Unknown host."), ("DefaultUserMessageIfRequestFailed", "Failed.")],
            "",
        );
        let profile = custom.profile("REST-Test").expect("profile");
        assert_eq!(transport_failure(profile, Transport::Dns, DEFAULT_TIMEOUT).user_message, "Unknown host.");
        assert_eq!(transport_failure(profile, Transport::Other("x".into()), DEFAULT_TIMEOUT).user_message, "Failed.");
    }

    #[test]
    fn secrets_never_print() {
        let auth = Auth::Basic("user".into(), Secret("hunter2".into()));
        let text = format!("{auth:?}");
        assert_eq!(text, "Basic(\"user\", [redacted])");
        let bearer = format!("{:?}", Auth::Bearer(Secret("tok".into())));
        assert!(!bearer.contains("tok"), "{bearer}");
    }
}
