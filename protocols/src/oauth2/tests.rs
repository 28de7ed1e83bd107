//! OAuth2 journeys through the executor against the embedded provider: the redirect is
//! followed with a real HTTP client (auto-login), its callback parameters answer the page.

use std::sync::Arc;

use base64::Engine;

use ief_engine::exec::{
    Answer, ExecError, Executor, Extensions, Outcome, PageKind, ProfileHandler, Progress, RequestContext, Session,
    SignIn,
};
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};
use ief_testkit::StubIssuer;
use ief_transforms::{ClaimValue, FixedEnv};
use serde_json::{Value, json};

use super::OAuth2;
use crate::federation::replay::SharedReplayGuard;
use crate::keys::KeyStore;
use ief_idp::TestUser;
use ief_idp::oauth2::{ClientAuthMethod, OAuth2Client, OAuth2Provider, OAuth2ProviderConfig, PublicKey, start};

const CLIENT_ID: &str = "ief-client";
const SECRET: &str = "s3cret-Value";
/// Every character RFC 6749 §2.3.1 makes a client form-encode before Basic.
const SPECIAL_SECRET: &str = "p@ss:w+rd/%=& ü?#";
const CALLBACK: &str = "https://localhost/contoso.onmicrosoft.com/oauth2/authresp";
const POLICY_CALLBACK: &str = "https://localhost/contoso.onmicrosoft.com/b2c_1a_oauth2/oauth2/authresp";

const CLAIM_TYPES: [(&str, &str); 12] = [
    ("issuerUserId", "string"),
    ("email", "string"),
    ("displayName", "string"),
    ("givenName", "string"),
    ("surname", "string"),
    ("roles", "stringCollection"),
    ("accessToken", "string"),
    ("tokenType", "string"),
    ("expiresIn", "int"),
    ("refreshToken", "string"),
    ("resource", "string"),
    ("identityProvider", "string"),
];

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}

/// A one-step journey federating with the profile `Idp-OAUTH`, then SendClaims.
fn policy_xml(metadata: &[(String, String)], keys: &[(&str, &str)], inputs: &str, outputs: &str) -> String {
    let schema: String = CLAIM_TYPES
        .iter()
        .map(|(id, t)| format!(r#"<ClaimType Id="{id}"><DataType>{t}</DataType></ClaimType>"#))
        .chain(std::iter::once(r#"<ClaimType Id="domain_hint"><DataType>string</DataType></ClaimType>"#.to_owned()))
        .collect();
    let items: String = metadata.iter().map(|(k, v)| format!(r#"<Item Key="{k}">{}</Item>"#, xml_escape(v))).collect();
    let keys = if keys.is_empty() {
        String::new()
    } else {
        let keys: String =
            keys.iter().map(|(id, storage)| format!(r#"<Key Id="{id}" StorageReferenceId="{storage}"/>"#)).collect();
        format!("<CryptographicKeys>{keys}</CryptographicKeys>")
    };
    // The relying party returns what the profile outputs (unused claims fail validation).
    let rp_outputs: String = outputs
        .split(r#"ClaimTypeReferenceId=""#)
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(id, _)| id))
        .map(|id| {
            let partner = if id == "issuerUserId" { "sub" } else { id };
            format!(r#"<OutputClaim ClaimTypeReferenceId="{id}" PartnerClaimType="{partner}"/>"#)
        })
        .collect();
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_OAuth2" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_OAuth2">
<BuildingBlocks><ClaimsSchema>{schema}</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>Test</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Idp-OAUTH"><DisplayName>Test IdP</DisplayName><Protocol Name="OAuth2"/>
    <Metadata>{items}</Metadata>{keys}
    <InputClaims>{inputs}</InputClaims>
    <OutputClaims>{outputs}</OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="Main"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="IdpExchange" TechnicalProfileReferenceId="Idp-OAUTH"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="Main"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/>
  <OutputClaims>{rp_outputs}</OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}

const FACEBOOK_OUTPUTS: &str = r#"<OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="id"/>
<OutputClaim ClaimTypeReferenceId="givenName" PartnerClaimType="first_name"/>
<OutputClaim ClaimTypeReferenceId="surname" PartnerClaimType="last_name"/>
<OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="name"/>
<OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="email"/>
<OutputClaim ClaimTypeReferenceId="identityProvider" DefaultValue="facebook.com" AlwaysUseDefaultValue="true"/>"#;

struct Run {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    handlers: Vec<Box<dyn ProfileHandler>>,
    env: FixedEnv,
    extensions: Extensions,
}

fn run_with(xml: &str, keys: KeyStore) -> Run {
    let set = PolicySet::from_sources([("oauth2.xml", xml)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("the test policy builds");
    assert!(!diags.has_errors(), "{:?}", diags.iter().map(|d| d.display(&set.db).to_string()).collect::<Vec<_>>());
    let compiled = CompiledPolicy::compile(&policy.model);
    let mut extensions = Extensions::default();
    extensions.insert(keys);
    Run {
        policy,
        compiled,
        handlers: vec![Box::new(StubIssuer), Box::new(OAuth2::with_timeout(std::time::Duration::from_secs(5)))],
        env: FixedEnv::default(),
        extensions,
    }
}

fn keys() -> KeyStore {
    let mut store = KeyStore::empty();
    store.insert_secret("B2C_1A_IdpSecret", SECRET);
    store.insert_secret("B2C_1A_SpecialSecret", SPECIAL_SECRET);
    store.insert_secret("B2C_1A_WrongSecret", "not-the-secret");
    store
}

fn alice() -> TestUser {
    let claims = json!({
        "name": "Alice Liddell",
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Liddell",
        "roles": ["reader", "writer"],
    });
    TestUser { username: "alice".into(), password: "wonderland".into(), claims: claims.as_object().cloned().unwrap() }
}

/// The executor's fixed clock, so assertions minted "now" are valid "now" at the provider.
fn fixed_clock() -> ief_idp::Clock {
    let now = FixedEnv::default().now.and_utc().timestamp();
    Arc::new(move || now)
}

fn client(method: ClientAuthMethod, secret: Option<&str>, public_key: Option<PublicKey>) -> OAuth2Client {
    OAuth2Client {
        client_id: CLIENT_ID.into(),
        auth_method: method,
        client_secret: secret.map(str::to_owned),
        public_key,
        redirect_uris: vec![CALLBACK.into(), POLICY_CALLBACK.into()],
    }
}

fn provider_config(client: OAuth2Client) -> OAuth2ProviderConfig {
    OAuth2ProviderConfig {
        users: vec![alice()],
        clients: vec![client],
        auto_login: Some("alice".into()),
        clock: fixed_clock(),
        ..OAuth2ProviderConfig::default()
    }
}

async fn secret_provider() -> OAuth2Provider {
    start(provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))).await.unwrap()
}

/// The endpoints and client id of a profile federating with `provider`, its claims at `/me`.
fn metadata(provider: &OAuth2Provider) -> Vec<(String, String)> {
    vec![
        ("authorization_endpoint".into(), provider.authorization_endpoint()),
        ("AccessTokenEndpoint".into(), provider.token_endpoint()),
        ("ClaimsEndpoint".into(), provider.me_endpoint()),
        ("client_id".into(), CLIENT_ID.into()),
    ]
}

fn with(mut metadata: Vec<(String, String)>, items: &[(&str, &str)]) -> Vec<(String, String)> {
    for (k, v) in items {
        metadata.retain(|(key, _)| key != k);
        metadata.push(((*k).to_owned(), (*v).to_owned()));
    }
    metadata
}

const SECRET_KEY: &[(&str, &str)] = &[("client_secret", "B2C_1A_IdpSecret")];

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
}

/// What the browser would bring back to B2C: the redirect's query, or the fields of the
/// auto-submitted form_post page.
async fn follow(url: &str) -> Vec<(String, String)> {
    let response = http().get(url).send().await.expect("the provider answers");
    if response.status() == 302 {
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let location = reqwest::Url::parse(&location).unwrap();
        return location.query_pairs().into_owned().collect();
    }
    let status = response.status();
    let page = response.text().await.unwrap();
    assert!(status == 200 && page.contains("Submit This Form"), "not a form_post page ({status}): {page}");
    ief_testkit::authorize::form_post(&page).1
}

struct SignedIn {
    /// The authorization request, when the journey got that far.
    authorize_url: Option<String>,
    outcome: Outcome,
}

impl SignedIn {
    fn claim(&self, name: &str) -> Option<ClaimValue> {
        match &self.outcome {
            Outcome::Token { claims, .. } => claims.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            Outcome::Error { code, message } => panic!("the journey failed: {code}: {message}"),
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        self.claim(name).map(|v| v.to_string())
    }

    fn error(&self) -> (String, String) {
        match &self.outcome {
            Outcome::Error { code, message } => (code.clone(), message.clone()),
            Outcome::Token { claims, .. } => panic!("expected a failure, got a token with {claims:?}"),
        }
    }

    fn query(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(self.authorize_url.as_deref().expect("a redirect")).unwrap();
        url.query_pairs().into_owned().collect()
    }
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn executor(run: &Run) -> Executor<'_> {
    Executor::new(&run.policy.model, &run.compiled, &run.handlers, &run.env, &run.extensions)
}

/// A sign-in sent to the provider: the authorization URL, or how the journey ended first.
async fn redirected(ex: &Executor<'_>) -> (SignIn, Result<String, Outcome>) {
    let context = RequestContext { correlation_id: "corr-1".to_owned(), ..RequestContext::default() };
    let mut s = ex.start(None, context, Session::default()).unwrap();
    let url = match ex.resume(&mut s, None).await.unwrap() {
        Progress::NeedsInput(page) => {
            assert_eq!(page.profile_state, None, "the state stays with the executor");
            match page.kind {
                PageKind::Redirect { url } => Ok(url),
                other => panic!("expected a redirect, got {other:?}"),
            }
        }
        Progress::Finished(outcome) => Err(outcome),
    };
    (s, url)
}

/// One sign-in: the redirect, the provider (auto-login), the callback (after `tamper`).
async fn sign_in_with(run: &Run, tamper: impl FnOnce(&mut Vec<(String, String)>)) -> SignedIn {
    let ex = executor(run);
    let (mut s, url) = redirected(&ex).await;
    let url = match url {
        Ok(url) => url,
        Err(outcome) => return SignedIn { authorize_url: None, outcome },
    };
    let mut params = follow(&url).await;
    tamper(&mut params);
    match ex.resume(&mut s, Some(Answer::Callback(params))).await.unwrap() {
        Progress::Finished(outcome) => SignedIn { authorize_url: Some(url), outcome },
        other => panic!("expected the end of the journey, got {other:?}"),
    }
}

async fn sign_in(run: &Run) -> SignedIn {
    sign_in_with(run, |_| {}).await
}

fn facebook_run(metadata: Vec<(String, String)>, outputs: &str) -> Run {
    run_with(&policy_xml(&metadata, SECRET_KEY, "", outputs), keys())
}

#[tokio::test]
async fn facebook_like_get_binding_with_json_and_form_post() {
    let provider = secret_provider().await;
    // As the starter pack configures Facebook: GET, JSON answers, fields in the claims URL.
    let metadata = with(
        metadata(&provider),
        &[
            ("HttpBinding", "GET"),
            ("AccessTokenResponseFormat", "json"),
            ("UsePolicyInRedirectUri", "0"),
            ("scope", "email public_profile"),
            ("ClaimsEndpoint", &format!("{}?fields=id,first_name,last_name,name,email", provider.me_endpoint())),
        ],
    );
    let done = sign_in(&facebook_run(metadata, FACEBOOK_OUTPUTS)).await;
    assert_eq!(done.text("sub").as_deref(), Some("alice"));
    assert_eq!(done.text("givenName").as_deref(), Some("Alice"));
    assert_eq!(done.text("surname").as_deref(), Some("Liddell"));
    assert_eq!(done.text("displayName").as_deref(), Some("Alice Liddell"));
    assert_eq!(done.text("email").as_deref(), Some("alice@example.com"));
    assert_eq!(done.text("identityProvider").as_deref(), Some("facebook.com"));
    let query = done.query();
    assert_eq!(param(&query, "client_id"), Some(CLIENT_ID));
    assert_eq!(param(&query, "redirect_uri"), Some(CALLBACK));
    assert_eq!(param(&query, "response_type"), Some("code"));
    assert_eq!(param(&query, "response_mode"), Some("form_post"), "form_post is the default");
    assert_eq!(param(&query, "scope"), Some("email public_profile"));
    assert!(param(&query, "state").is_some_and(|s| s.len() >= 32));
}

#[tokio::test]
async fn default_format_reads_a_form_encoded_answer_and_oauth2_claims() {
    let provider = secret_provider().await;
    let outputs = r#"<OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="id"/>
<OutputClaim ClaimTypeReferenceId="accessToken" PartnerClaimType="{oauth2:access_token}"/>
<OutputClaim ClaimTypeReferenceId="tokenType" PartnerClaimType="{oauth2:token_type}"/>
<OutputClaim ClaimTypeReferenceId="expiresIn" PartnerClaimType="{oauth2:expires_in}"/>
<OutputClaim ClaimTypeReferenceId="refreshToken" PartnerClaimType="{oauth2:refresh_token}"/>"#;
    // POST, no AccessTokenResponseFormat: the provider answers form-encoded, like GitHub.
    let metadata = with(metadata(&provider), &[("HttpBinding", "POST"), ("response_mode", "query")]);
    let done = sign_in(&facebook_run(metadata, outputs)).await;
    assert_eq!(param(&done.query(), "response_mode"), Some("query"));
    assert_eq!(done.text("sub").as_deref(), Some("alice"));
    assert_eq!(done.text("tokenType").as_deref(), Some("bearer"));
    assert_eq!(done.claim("expiresIn"), Some(ClaimValue::Int(3600)), "typed as the int claim");
    assert!(done.text("refreshToken").is_some_and(|t| !t.is_empty()));
    // The access token is the provider's own: it opens /me.
    let token = done.text("accessToken").unwrap();
    let me: Value = http().get(provider.me_endpoint()).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["id"], "alice");
}

#[tokio::test]
async fn json_paths_resolve_nested_claims_only_when_enabled() {
    let provider = secret_provider().await;
    let outputs = r#"<OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="data.id"/>
<OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="emails[0].value"/>
<OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="data.name"/>
<OutputClaim ClaimTypeReferenceId="roles" PartnerClaimType="data.roles"/>
<OutputClaim ClaimTypeReferenceId="givenName" PartnerClaimType="login"/>"#;
    let base = with(metadata(&provider), &[("ClaimsEndpoint", &provider.user_endpoint())]);
    let done = sign_in(&facebook_run(with(base.clone(), &[("ResolveJsonPathsInJsonTokens", "true")]), outputs)).await;
    assert_eq!(done.text("sub").as_deref(), Some("alice"));
    assert_eq!(done.text("email").as_deref(), Some("alice@example.com"));
    assert_eq!(done.text("displayName").as_deref(), Some("Alice Liddell"));
    assert_eq!(done.claim("roles"), Some(ClaimValue::StringCollection(vec!["reader".into(), "writer".into()])));
    assert_eq!(done.text("givenName").as_deref(), Some("alice"), "top-level fields still resolve");

    let flat = sign_in(&facebook_run(base, outputs)).await;
    assert_eq!(flat.text("email"), None, "without the flag a path is a field name");
    assert_eq!(flat.text("sub"), None);
    assert_eq!(flat.text("givenName").as_deref(), Some("alice"));
}

#[tokio::test]
async fn token_parameter_name_and_bearer_header_reach_the_claims_endpoint() {
    let config = OAuth2ProviderConfig {
        token_parameter: "token".into(),
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let named = with(metadata(&provider), &[("ClaimsEndpointAccessTokenName", "token")]);
    assert_eq!(sign_in(&facebook_run(named, FACEBOOK_OUTPUTS)).await.text("sub").as_deref(), Some("alice"));
    let header = with(metadata(&provider), &[("BearerTokenTransmissionMethod", "AuthorizationHeader")]);
    assert_eq!(
        sign_in(&facebook_run(header, FACEBOOK_OUTPUTS)).await.text("email").as_deref(),
        Some("alice@example.com")
    );
    // The default name is not the one this provider reads.
    let (code, message) = sign_in(&facebook_run(metadata(&provider), FACEBOOK_OUTPUTS)).await.error();
    assert_eq!(code, "ClaimsEndpointError");
    assert!(message.starts_with("OAuth2 technical profile 'Idp-OAUTH': the claims endpoint answered HTTP 401 Unauthorized: invalid_token (no access token: send it in the 'token' query parameter"), "{message}");
}

#[tokio::test]
async fn claims_endpoint_format_parameter_is_sent() {
    let config = OAuth2ProviderConfig {
        format_parameter: Some("format".into()),
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let formatted =
        with(metadata(&provider), &[("ClaimsEndpointFormatName", "format"), ("ClaimsEndpointFormat", "json")]);
    assert_eq!(sign_in(&facebook_run(formatted, FACEBOOK_OUTPUTS)).await.text("sub").as_deref(), Some("alice"));
    let (code, message) = sign_in(&facebook_run(metadata(&provider), FACEBOOK_OUTPUTS)).await.error();
    assert_eq!(code, "ClaimsEndpointError");
    assert!(message.contains("this endpoint answers only with format=json"), "{message}");
    let half = with(metadata(&provider), &[("ClaimsEndpointFormatName", "format")]);
    let (code, message) = sign_in(&facebook_run(half, FACEBOOK_OUTPUTS)).await.error();
    assert_eq!(code, "InvalidMetadata");
    assert!(message.contains("ClaimsEndpointFormatName 'format' needs ClaimsEndpointFormat"), "{message}");
}

#[tokio::test]
async fn client_secret_basic_encodes_special_characters() {
    let provider =
        start(provider_config(client(ClientAuthMethod::ClientSecretBasic, Some(SPECIAL_SECRET), None))).await.unwrap();
    let metadata = with(metadata(&provider), &[("token_endpoint_auth_method", "client_secret_basic")]);
    let xml = policy_xml(&metadata, &[("client_secret", "B2C_1A_SpecialSecret")], "", FACEBOOK_OUTPUTS);
    assert_eq!(sign_in(&run_with(&xml, keys())).await.text("sub").as_deref(), Some("alice"));
    // The same client may not switch to client_secret_post.
    let xml = policy_xml(
        &with(metadata.clone(), &[("token_endpoint_auth_method", "client_secret_post")]),
        &[("client_secret", "B2C_1A_SpecialSecret")],
        "",
        FACEBOOK_OUTPUTS,
    );
    let (code, message) = sign_in(&run_with(&xml, keys())).await.error();
    assert_eq!(code, "TokenEndpointError");
    assert!(message.contains("registered for client_secret_basic, not client_secret_post"), "{message}");
    assert!(!message.contains(SPECIAL_SECRET));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_its_cause_and_without_the_secret() {
    let provider = secret_provider().await;
    let xml = policy_xml(&metadata(&provider), &[("client_secret", "B2C_1A_WrongSecret")], "", FACEBOOK_OUTPUTS);
    let (code, message) = sign_in(&run_with(&xml, keys())).await.error();
    assert_eq!(code, "TokenEndpointError");
    assert_eq!(
        message,
        "OAuth2 technical profile 'Idp-OAUTH': the token endpoint refused the code with HTTP 401 Unauthorized: \
         invalid_client (the client secret does not match the one registered for client 'ief-client')"
    );
    assert!(!message.contains("not-the-secret"));
}

#[tokio::test]
async fn errors_in_ok_answers_need_response_error_code_param_name() {
    let config = OAuth2ProviderConfig {
        errors_with_ok_status: true,
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let wrong = [("client_secret", "B2C_1A_WrongSecret")];
    let named = with(metadata(&provider), &[("ResponseErrorCodeParamName", "error")]);
    let (code, message) = sign_in(&run_with(&policy_xml(&named, &wrong, "", FACEBOOK_OUTPUTS), keys())).await.error();
    assert_eq!(code, "TokenEndpointError");
    assert!(
        message.ends_with(
            "the token endpoint reported an error: error = invalid_client (the client secret does not match the one registered for client 'ief-client')"
        ),
        "{message}"
    );
    let (_, message) =
        sign_in(&run_with(&policy_xml(&metadata(&provider), &wrong, "", FACEBOOK_OUTPUTS), keys())).await.error();
    assert!(message.ends_with("the token response has no access_token (it says invalid_client (the client secret does not match the one registered for client 'ief-client'))"), "{message}");
}

fn rsa_key_store() -> (KeyStore, Value) {
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap().serialize_pem();
    let mut store = keys();
    store.insert_pem("B2C_1A_IdpAssertion", &pem).unwrap();
    let jwk = store.signing_key("B2C_1A_IdpAssertion").unwrap().public_jwk().clone();
    (store, jwk)
}

#[tokio::test]
async fn private_key_jwt_is_verified_against_the_registered_key() {
    let (store, jwk) = rsa_key_store();
    let key = [("assertion_signing_key", "B2C_1A_IdpAssertion")];
    for algorithm in ["RS256", "RS512"] {
        // A provider each: fresh fixed environments draw the same jti, which a provider refuses
        // as a replay (see provider_refuses_replayed_and_misaddressed_assertions).
        let provider =
            start(provider_config(client(ClientAuthMethod::PrivateKeyJwt, None, Some(PublicKey::Jwk(jwk.clone())))))
                .await
                .unwrap();
        let metadata = with(
            metadata(&provider),
            &[("token_endpoint_auth_method", "private_key_jwt"), ("token_signing_algorithm", algorithm)],
        );
        let done = sign_in(&run_with(&policy_xml(&metadata, &key, "", FACEBOOK_OUTPUTS), store.clone())).await;
        assert_eq!(done.text("sub").as_deref(), Some("alice"), "{algorithm}");
    }
    // A provider holding another key: its kid does not match, and without a kid the
    // signature does not verify.
    let (_, mut other) = rsa_key_store();
    for expected in [
        "is not one of the keys registered for client 'ief-client')",
        "invalid_client (the client assertion signature does not verify with the key(s) registered for client 'ief-client')",
    ] {
        let provider =
            start(provider_config(client(ClientAuthMethod::PrivateKeyJwt, None, Some(PublicKey::Jwk(other.clone())))))
                .await
                .unwrap();
        let metadata = with(metadata(&provider), &[("token_endpoint_auth_method", "private_key_jwt")]);
        let run = run_with(&policy_xml(&metadata, &key, "", FACEBOOK_OUTPUTS), store.clone());
        let (code, message) = sign_in(&run).await.error();
        assert_eq!(code, "TokenEndpointError");
        assert!(message.contains(expected), "{message}");
        other.as_object_mut().unwrap().remove("kid");
    }
}

/// An authorization code for the auto-login user, straight from the provider.
async fn code(provider: &OAuth2Provider) -> String {
    let url = format!(
        "{}?client_id={CLIENT_ID}&redirect_uri={}&response_type=code&response_mode=query&state=s",
        provider.authorization_endpoint(),
        urlencode(CALLBACK)
    );
    param(&follow(&url).await, "code").unwrap().to_owned()
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn provider_refuses_replayed_and_misaddressed_assertions() {
    let (store, jwk) = rsa_key_store();
    let provider =
        start(provider_config(client(ClientAuthMethod::PrivateKeyJwt, None, Some(PublicKey::Jwk(jwk))))).await.unwrap();
    let signing = store.signing_key("B2C_1A_IdpAssertion").unwrap();
    let now = FixedEnv::default().now.and_utc().timestamp();
    let assertion = |aud: &str, jti: &str, exp: i64| {
        let claims = json!({ "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": aud, "jti": jti, "iat": now, "exp": exp });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            signing.encoding_key(),
        )
        .unwrap()
    };
    let redeem = |assertion: String, code: String| {
        let token_url = provider.token_endpoint();
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", super::super::federation::client_auth::JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ];
            let response =
                http().post(token_url).header("accept", "application/json").form(&form).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let good = assertion(&provider.token_endpoint(), "jti-1", now + 300);
    let (status, body) = redeem(good.clone(), code(&provider).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = redeem(good, code(&provider).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_description"], "the client assertion jti was already used (a replay)");
    let (_, body) =
        redeem(assertion("https://elsewhere.example/token", "jti-2", now + 300), code(&provider).await).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("the client assertion aud 'https://elsewhere.example/token' is neither the token endpoint"),
        "{body}"
    );
    let (_, body) = redeem(assertion(&provider.token_endpoint(), "jti-3", now - 3600), code(&provider).await).await;
    assert!(body["error_description"].as_str().unwrap().starts_with("the client assertion expired at "), "{body}");
}

#[tokio::test]
async fn an_error_in_the_callback_ends_the_journey_with_its_cause() {
    let config = OAuth2ProviderConfig {
        scopes: vec!["email".into()],
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let metadata = with(metadata(&provider), &[("scope", "email admin")]);
    let (code, message) = sign_in(&facebook_run(metadata, FACEBOOK_OUTPUTS)).await.error();
    assert_eq!(code, super::IDP_ERROR_CODE);
    assert_eq!(
        message,
        "OAuth2 technical profile 'Idp-OAUTH': the identity provider returned an error: invalid_scope (the scope 'admin' is not known)"
    );
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused() {
    let provider = secret_provider().await;
    let run = facebook_run(metadata(&provider), FACEBOOK_OUTPUTS);
    let forged = sign_in_with(&run, |params| {
        for (k, v) in params.iter_mut() {
            if k == "state" {
                v.push('x');
            }
        }
    })
    .await;
    let (code, message) = forged.error();
    assert_eq!(code, "StateMismatch");
    assert!(message.contains("not the one sent with the authorization request"), "{message}");
    let stateless = sign_in_with(&run, |params| params.retain(|(k, _)| k != "state")).await;
    assert_eq!(stateless.error().1, "OAuth2 technical profile 'Idp-OAUTH': the callback has no state");
}

#[tokio::test]
async fn a_callback_after_the_request_expired_is_refused() {
    let provider = secret_provider().await;
    let mut run = facebook_run(metadata(&provider), FACEBOOK_OUTPUTS);
    let (mut s, url) = redirected(&executor(&run)).await;
    let params = follow(&url.expect("a redirect")).await;
    run.env.now += chrono::Duration::hours(2);
    let late = executor(&run).resume(&mut s, Some(Answer::Callback(params))).await.unwrap();
    let Progress::Finished(Outcome::Error { code, message }) = late else { panic!("expected a failure, got {late:?}") };
    assert_eq!(code, "InvalidCallback");
    assert_eq!(
        message,
        "OAuth2 technical profile 'Idp-OAUTH': the callback came 7200 s after the authorization request, which expires after 3600 s"
    );
}

/// The callback handled once is a replay after: at the same process, and at another process
/// that shares the store (and reads the sign-in as it was before the first answer).
#[tokio::test]
async fn a_callback_handled_once_is_a_replay_here_and_at_another_process_sharing_the_store() {
    let provider = secret_provider().await;
    let guard = SharedReplayGuard::new(Arc::new(ief_store::MemoryStore::new()));
    let mut runs =
        [facebook_run(metadata(&provider), FACEBOOK_OUTPUTS), facebook_run(metadata(&provider), FACEBOOK_OUTPUTS)];
    for run in &mut runs {
        run.extensions.insert(guard.clone());
    }
    let alone = facebook_run(metadata(&provider), FACEBOOK_OUTPUTS);
    for (first, second) in [(&runs[0], &runs[1]), (&alone, &alone)] {
        let (one, two) = (executor(first), executor(second));
        let (mut s, url) = redirected(&one).await;
        let params = follow(&url.expect("a redirect")).await;
        // The sign-in as a store keeps it, read again by the second request.
        let mut again: SignIn = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        let done = one.resume(&mut s, Some(Answer::Callback(params.clone()))).await.unwrap();
        assert!(matches!(done, Progress::Finished(Outcome::Token { .. })), "{done:?}");
        let refused = two.resume(&mut again, Some(Answer::Callback(params))).await.unwrap_err();
        let ExecError::Replayed { error, .. } = &refused else { panic!("expected a replay, got {refused:?}") };
        assert_eq!(error.code, "InvalidCallback");
        assert_eq!(
            error.user_message,
            "OAuth2 technical profile 'Idp-OAUTH': the authorization response for this request was already used (replayed callback)"
        );
    }
}

#[tokio::test]
async fn input_claims_and_additional_parameters_extend_the_authorization_request() {
    let provider = secret_provider().await;
    let metadata = with(
        metadata(&provider),
        &[
            ("AdditionalRequestQueryParameters", "prompt=login, access_type=offline"),
            ("UsePolicyInRedirectUri", "true"),
        ],
    );
    let inputs = r#"<InputClaim ClaimTypeReferenceId="domain_hint" DefaultValue="contoso.com"/>"#;
    let done = sign_in(&run_with(&policy_xml(&metadata, SECRET_KEY, inputs, FACEBOOK_OUTPUTS), keys())).await;
    assert_eq!(done.text("sub").as_deref(), Some("alice"), "the code is redeemed with the policy's redirect URI");
    let query = done.query();
    assert_eq!(param(&query, "domain_hint"), Some("contoso.com"));
    assert_eq!(param(&query, "prompt"), Some("login"));
    assert_eq!(param(&query, "access_type"), Some("offline"));
    assert_eq!(param(&query, "redirect_uri"), Some(POLICY_CALLBACK));
}

#[tokio::test]
async fn extra_token_fields_reach_the_claims_request_and_the_claims() {
    let mut extra = serde_json::Map::new();
    extra.insert("resource".into(), json!("f2a76e08"));
    let config = OAuth2ProviderConfig {
        extra_token_fields: extra,
        claims_require: vec!["resource".into()],
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let outputs = format!(r#"{FACEBOOK_OUTPUTS}<OutputClaim ClaimTypeReferenceId="resource"/>"#);
    let asked = with(metadata(&provider), &[("ExtraParamsInClaimsEndpointRequest", "resource")]);
    let done = sign_in(&facebook_run(asked, &outputs)).await;
    assert_eq!(done.text("sub").as_deref(), Some("alice"));
    assert_eq!(done.text("resource"), None, "only ExtraParamsInAccessTokenEndpointResponse makes it a claim");
    let kept = with(metadata(&provider), &[("ExtraParamsInAccessTokenEndpointResponse", "resource")]);
    assert_eq!(sign_in(&facebook_run(kept, &outputs)).await.text("resource").as_deref(), Some("f2a76e08"));
    let (code, message) = sign_in(&facebook_run(metadata(&provider), &outputs)).await.error();
    assert_eq!(code, "ClaimsEndpointError");
    assert!(message.contains("the parameter 'resource' from the token response is missing or wrong"), "{message}");
}

/// Metadata, keys, expected code, expected message part.
type Case = (Vec<(String, String)>, &'static [(&'static str, &'static str)], &'static str, &'static str);

#[tokio::test]
async fn configuration_problems_stop_the_journey_before_the_redirect() {
    let provider = secret_provider().await;
    let cases: [Case; 5] = [
        (
            with(metadata(&provider), &[("response_mode", "fragment")]),
            SECRET_KEY,
            "InvalidMetadata",
            "response_mode 'fragment' returns the code in the URL fragment",
        ),
        (metadata(&provider), &[], "MissingKey", "the CryptographicKeys element has no key with Id 'client_secret'"),
        (
            with(metadata(&provider), &[("HttpBinding", "PUT")]),
            SECRET_KEY,
            "InvalidMetadata",
            "HttpBinding 'PUT' is not GET or POST",
        ),
        (
            metadata(&provider).into_iter().filter(|(k, _)| k != "ClaimsEndpoint").collect(),
            SECRET_KEY,
            "MissingMetadata",
            "the metadata item 'ClaimsEndpoint' is missing",
        ),
        (
            with(metadata(&provider), &[("AdditionalRequestQueryParameters", "redirect_uri=https://evil.example")]),
            SECRET_KEY,
            "InvalidMetadata",
            "may not set 'redirect_uri'",
        ),
    ];
    for (metadata, key, expected_code, expected) in cases {
        let done = sign_in(&run_with(&policy_xml(&metadata, key, "", FACEBOOK_OUTPUTS), keys())).await;
        assert!(done.authorize_url.is_none(), "no redirect for {expected}");
        let (code, message) = done.error();
        assert_eq!(code, expected_code);
        assert!(message.starts_with("OAuth2 technical profile 'Idp-OAUTH': "), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[tokio::test]
async fn an_unreachable_token_endpoint_names_the_cause_without_the_secret() {
    let provider = secret_provider().await;
    // Port 9 on loopback: nothing listens, the connection is refused.
    let metadata =
        with(metadata(&provider), &[("AccessTokenEndpoint", "http://127.0.0.1:9/token"), ("HttpBinding", "GET")]);
    let (code, message) = sign_in(&facebook_run(metadata, FACEBOOK_OUTPUTS)).await.error();
    assert_eq!(code, "TokenEndpointError");
    assert!(message.contains("the token endpoint could not be called"), "{message}");
    assert!(!message.contains(SECRET) && !message.contains("client_secret"), "{message}");
}

#[tokio::test]
async fn a_login_page_provider_is_answered_through_its_form() {
    // Without auto-login the redirect shows the provider's form; a browser posts it.
    let config = OAuth2ProviderConfig {
        auto_login: None,
        ..provider_config(client(ClientAuthMethod::ClientSecretPost, Some(SECRET), None))
    };
    let provider = start(config).await.unwrap();
    let run = facebook_run(with(metadata(&provider), &[("response_mode", "query")]), FACEBOOK_OUTPUTS);
    let ex = Executor::new(&run.policy.model, &run.compiled, &run.handlers, &run.env, &run.extensions);
    let mut s = ex.start(None, RequestContext::default(), Session::default()).unwrap();
    let Progress::NeedsInput(page) = ex.resume(&mut s, None).await.unwrap() else { panic!("a redirect") };
    let PageKind::Redirect { url } = page.kind else { panic!("a redirect") };
    let form = http().get(&url).send().await.unwrap().text().await.unwrap();
    assert!(form.contains(r#"name="password""#), "{form}");
    let hidden: Vec<(String, String)> = reqwest::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    let mut fields = hidden.clone();
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), "wonderland".into()));
    let response = http().post(provider.authorization_endpoint()).form(&fields).send().await.unwrap();
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let Progress::Finished(Outcome::Token { claims, .. }) =
        ex.resume(&mut s, Some(Answer::Callback(params))).await.unwrap()
    else {
        panic!("a token")
    };
    assert!(claims.iter().any(|(k, v)| k == "email" && v.to_string() == "alice@example.com"), "{claims:?}");
}

#[test]
fn id_token_audience_is_checked_when_configured() {
    let jwt = |payload: Value| {
        let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", encode(&json!({"alg": "RS256"})), encode(&payload))
    };
    let mut token = serde_json::Map::new();
    let missing = super::check_id_token_audience(&token, "app-1").unwrap_err();
    assert_eq!(missing.user_message, "IdTokenAudience is 'app-1' but the token response has no id_token");
    token.insert("id_token".into(), json!(jwt(json!({"aud": ["other", "app-1"]}))));
    assert!(super::check_id_token_audience(&token, "app-1").is_ok());
    token.insert("id_token".into(), json!(jwt(json!({"aud": "other"}))));
    assert_eq!(
        super::check_id_token_audience(&token, "app-1").unwrap_err().user_message,
        "the id_token's audience is not 'app-1'"
    );
    token.insert("id_token".into(), json!("not a jwt"));
    assert_eq!(super::check_id_token_audience(&token, "app-1").unwrap_err().user_message, "the id_token is not a JWT");
}
