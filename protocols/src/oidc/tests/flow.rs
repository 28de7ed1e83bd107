//! The sign-in as a whole: the authorization request, both callback modes, claims, PKCE,
//! discovery caching, provider errors and the profiles the handler leaves alone.

use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{Answer, Invocation, ProfileHandler, ProfileResult};
use ief_transforms::ClaimValue;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::fake::{Fake, IssParam, Knobs};
use super::{CLIENT_ID, NOW, Rig, claim, claims, failure, param, query_of};
use crate::oidc::OpenIdConnect;
use crate::oidc::provider::CACHE_SECS;

#[tokio::test]
async fn the_authorization_request_carries_what_b2c_sends() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(
        &fake,
        &[("scope", "openid profile email"), ("AdditionalRequestQueryParameters", "prompt=login&max_age=0")],
    );
    let (url, state) = rig.start(&[("login_hint", "alice@idp.example"), ("domain_hint", "idp.example")]).await;
    assert!(url.starts_with(&format!("{}/authorize?", fake.base())), "{url}");
    let q = query_of(&url);
    assert_eq!(param(&q, "client_id"), Some(CLIENT_ID));
    assert_eq!(param(&q, "response_type"), Some("code"));
    assert_eq!(param(&q, "response_mode"), Some("form_post"));
    assert_eq!(param(&q, "redirect_uri"), Some("https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp"));
    assert_eq!(param(&q, "scope"), Some("openid profile email"));
    assert_eq!(param(&q, "login_hint"), Some("alice@idp.example"));
    assert_eq!(param(&q, "domain_hint"), Some("idp.example"));
    assert_eq!(param(&q, "prompt"), Some("login"));
    assert_eq!(param(&q, "max_age"), Some("0"));
    assert_eq!(param(&q, "code_challenge"), None, "PKCE only when asked");
    // State and nonce are fresh 256-bit values, kept for the callback.
    let (sent_state, nonce) = (param(&q, "state").unwrap(), param(&q, "nonce").unwrap());
    assert_eq!(sent_state.len(), 43);
    assert_ne!(sent_state, nonce);
    assert_eq!(state["state"], json!(sent_state));
    assert_eq!(state["nonce"], json!(nonce));
    let (second, _) = rig.start(&[]).await;
    assert_ne!(param(&query_of(&second), "state"), Some(sent_state), "every request has its own state");
}

#[tokio::test]
async fn form_post_sign_in_returns_id_token_and_userinfo_claims() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let (url, state) = rig.start(&[]).await;
    let params = fake.follow(&url).await;
    assert!(param(&params, "code").is_some(), "form_post page fields: {params:?}");
    let got = claims(rig.callback(params, &state).await);
    assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
    assert_eq!(claim(&got, "email"), Some(&ClaimValue::String("alice@idp.example".into())));
    assert_eq!(claim(&got, "email_verified"), Some(&ClaimValue::Boolean(true)));
    assert_eq!(
        claim(&got, "groups"),
        Some(&ClaimValue::StringCollection(vec!["staff".into(), "admins".into()])),
        "string arrays are string collections"
    );
    // Userinfo wins for the same name, and adds its own claims.
    assert_eq!(claim(&got, "name"), Some(&ClaimValue::String("Alice from userinfo".into())));
    assert_eq!(claim(&got, "locale"), Some(&ClaimValue::String("en-GB".into())));
    assert_eq!(claim(&got, "{oauth2:token_type}"), Some(&ClaimValue::String("Bearer".into())));
    assert_eq!(claim(&got, "{oauth2:expires_in}"), Some(&ClaimValue::Long(3600)));
    assert_eq!(claim(&got, "{oauth2:refresh_token}"), Some(&ClaimValue::String("rt-1".into())));
    let Some(ClaimValue::String(access)) = claim(&got, "{oauth2:access_token}") else { panic!("no access token") };
    assert_eq!(fake.userinfo_requests()[0].authorization.as_deref(), Some(format!("Bearer {access}").as_str()));
    // The token request redeems the code for the same redirect URI.
    let token = &fake.token_requests()[0];
    assert_eq!(token.path, "/token");
    assert_eq!(token.param("grant_type"), Some("authorization_code"));
    assert_eq!(
        token.param("redirect_uri"),
        Some("https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp")
    );
}

#[tokio::test]
async fn query_callbacks_work_like_form_posts() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("response_mode", "query")]);
    let (url, state) = rig.start(&[]).await;
    assert_eq!(param(&query_of(&url), "response_mode"), Some("query"));
    let params = fake.follow(&url).await;
    assert_eq!(param(&params, "iss"), Some(fake.issuer().as_str()), "the redirect's query: {params:?}");
    let got = claims(rig.callback(params, &state).await);
    assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
}

#[tokio::test]
async fn use_policy_in_redirect_uri_puts_the_policy_in_both_requests() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("UsePolicyInRedirectUri", "1")]);
    let (url, state) = rig.start(&[]).await;
    let expected = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1a_test/oauth2/authresp";
    assert_eq!(param(&query_of(&url), "redirect_uri"), Some(expected));
    claims(rig.callback(fake.follow(&url).await, &state).await);
    assert_eq!(fake.token_requests()[0].param("redirect_uri"), Some(expected));
}

#[tokio::test]
async fn pkce_s256_challenge_matches_the_verifier_sent_to_the_token_endpoint() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("code_challenge_method", "S256")]);
    let (url, state) = rig.start(&[]).await;
    let q = query_of(&url);
    assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
    let challenge = param(&q, "code_challenge").expect("a challenge").to_owned();
    claims(rig.callback(fake.follow(&url).await, &state).await);
    let verifier = fake.token_requests()[0].param("code_verifier").expect("a verifier").to_owned();
    assert!((43..=128).contains(&verifier.len()), "RFC 7636 §4.1 length: {verifier}");
    assert_eq!(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge);
    assert!(!url.contains(&verifier), "the verifier never travels through the browser");
}

#[tokio::test]
async fn discovery_and_keys_are_cached_across_sign_ins_and_refreshed_after_a_day() {
    let fake = Fake::start(Knobs::default()).await;
    let mut rig = Rig::for_fake(&fake, &[]);
    claims(rig.sign_in(&fake).await);
    claims(rig.sign_in(&fake).await);
    assert_eq!(fake.hits().discovery.load(Ordering::SeqCst), 1, "one discovery fetch for two sign-ins");
    assert_eq!(fake.hits().jwks.load(Ordering::SeqCst), 1, "one JWKS fetch for two sign-ins");
    // A day later both are fetched again.
    let later = NOW + CACHE_SECS + 60;
    rig.env.now = chrono::DateTime::from_timestamp(later, 0).unwrap().naive_utc();
    fake.knobs(|k| k.now = later);
    claims(rig.sign_in(&fake).await);
    assert_eq!(fake.hits().discovery.load(Ordering::SeqCst), 2);
    assert_eq!(fake.hits().jwks.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_from_the_provider_ends_the_sign_in_naming_it() {
    let fake = Fake::start(Knobs {
        authorize_error: Some(("access_denied".into(), "The user declined consent".into())),
        ..Knobs::default()
    })
    .await;
    let rig = Rig::for_fake(&fake, &[]);
    let message = failure(rig.sign_in(&fake).await, "AADB2C90273");
    assert!(
        message.contains("the identity provider answered with the error 'access_denied': The user declined consent"),
        "{message}"
    );
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn implicit_id_token_responses_are_validated_without_a_token_request() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("response_types", "id_token"), ("ClaimsEndpoint", "")]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "name"), Some(&ClaimValue::String("Alice from id_token".into())));
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0);
    assert_eq!(claim(&got, "{oauth2:access_token}"), None);
}

#[tokio::test]
async fn issuer_prefixes_and_id_token_audience_replace_the_defaults() {
    let fake = Fake::start(Knobs {
        iss: Some("https://login.example/tenant-42/v2.0".into()),
        iss_param: IssParam::Omit,
        aud: Some(json!("api://b2c")),
        ..Knobs::default()
    })
    .await;
    let rig = Rig::for_fake(
        &fake,
        &[
            ("ValidTokenIssuerPrefixes", "https://other.example/,https://login.example/"),
            ("IdTokenAudience", "api://b2c"),
        ],
    );
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "iss"), Some(&ClaimValue::String("https://login.example/tenant-42/v2.0".into())));
}

#[tokio::test]
async fn body_claims_are_read_from_the_callback_but_never_override_signed_ones() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("ReadBodyClaimsOnIdpRedirect", "user.name.firstName,user.email,sub")]);
    let (url, state) = rig.start(&[]).await;
    let mut params = fake.follow(&url).await;
    params.push(("user".into(), r#"{"name":{"firstName":"Ada"},"email":"ada@relay.example"}"#.into()));
    params.push(("sub".into(), "mallory".into()));
    let got = claims(rig.callback(params, &state).await);
    assert_eq!(claim(&got, "user.name.firstName"), Some(&ClaimValue::String("Ada".into())));
    assert_eq!(claim(&got, "user.email"), Some(&ClaimValue::String("ada@relay.example".into())));
    assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
}

#[tokio::test]
async fn input_claims_may_not_replace_protocol_parameters() {
    let fake = Fake::start(Knobs::default()).await;
    let policy = super::profile_policy(
        &[("METADATA", &fake.metadata_url()), ("client_id", CLIENT_ID), ("response_types", "id_token")],
        &[],
        r#"<InputClaim ClaimTypeReferenceId="state_claim" PartnerClaimType="state"/>"#,
    );
    let rig = Rig::new(policy);
    let message = failure(rig.run(&[("state_claim", "attacker")], None, None).await, "InvalidMetadata");
    assert!(
        message.contains("the input claim 'state_claim' would replace the authorization request's 'state' parameter"),
        "{message}"
    );
}

#[tokio::test]
async fn configuration_mistakes_are_named_before_the_user_leaves() {
    let fake = Fake::start(Knobs::default()).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case<'_>; 5] = [
        (&[("METADATA", "")], "InvalidMetadata", "'METADATA' (the discovery document's URL) is missing"),
        (&[("response_types", "token")], "InvalidMetadata", "response_types 'token' is not supported"),
        (&[("code_challenge_method", "plain")], "InvalidMetadata", "only S256"),
        (&[("token_endpoint_auth_method", "client_secret_jwt")], "InvalidMetadata", "is not one of"),
        (&[("METADATA", "http://127.0.0.1:9/missing")], "MetadataUnavailable", "could not be fetched"),
    ];
    for (extra, code, expected) in cases {
        let rig = Rig::for_fake(&fake, extra);
        let message = failure(rig.run(&[], None, None).await, code);
        assert!(message.contains(expected), "{message}");
    }
    // A secret method without its key.
    let policy = super::profile_policy(&[("METADATA", &fake.metadata_url()), ("client_id", CLIENT_ID)], &[], "");
    let message = failure(Rig::new(policy).run(&[], None, None).await, "MissingKey");
    assert!(message.contains("no key with Id 'client_secret'"), "{message}");
}

#[tokio::test]
async fn only_identity_provider_steps_are_taken() {
    let handler = OpenIdConnect::new();
    let starter = crate::self_asserted::testing::starter_pack("SocialAndLocalAccounts");
    let issuer = starter.profile("JwtIssuer").expect("the issuer");
    assert!(!handler.handles(issuer, Invocation::Issuer));
    assert!(!handler.handles(issuer, Invocation::Step));
    let login = starter.profile("login-NonInteractive").expect("the ROPC profile");
    assert!(!handler.handles(login, Invocation::Validation));
    assert!(!handler.handles(login, Invocation::Step));
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let idp = rig.policy.profile("IdP").expect("the IdP");
    assert!(handler.handles(idp, Invocation::Step));
    assert!(!handler.handles(idp, Invocation::Validation));
    assert!(crate::handlers().iter().any(|h| h.name() == "OpenIdConnect"));
}

#[tokio::test]
async fn other_answers_than_a_callback_are_the_drivers_mistake() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let (_, state) = rig.start(&[]).await;
    let result = rig.run(&[], Some(Answer::Code("1234".into())), Some(&state)).await;
    assert!(
        matches!(&result, ProfileResult::InvalidAnswer(m) if m.contains("answer it with `callback`")),
        "{result:?}"
    );
    let message = failure(rig.run(&[], Some(Answer::Callback(vec![])), None).await, "InvalidCallback");
    assert!(message.contains("no authorization request is pending"), "{message}");
}

#[tokio::test]
async fn rs512_and_ps256_id_tokens_verify() {
    for signing in [super::fake::Signing::Rs512, super::fake::Signing::Ps256] {
        let fake = Fake::start(Knobs { signing, jwk_without_alg: true, ..Knobs::default() }).await;
        let got = claims(Rig::for_fake(&fake, &[]).sign_in(&fake).await);
        assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())), "{signing:?}");
    }
}

#[tokio::test]
async fn sign_ins_reuse_the_pooled_connection_to_the_provider() {
    use crate::federation::http::TrustedRoots;
    use crate::keys::KeyStore;
    use ief_idp::TestUser;
    use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};

    const REDIRECT: &str = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp";
    let alice = TestUser { username: "alice".into(), password: "unused".into(), claims: serde_json::Map::new() };
    let config = OidcConfig::default().user(alice).auto_login("alice").clock(std::sync::Arc::new(|| NOW));
    let op = OidcProvider::start(config).await.unwrap();
    let policy = super::profile_policy(
        &[
            ("METADATA", &op.discovery_url()),
            ("client_id", CLIENT_ID),
            ("token_endpoint_auth_method", "private_key_jwt"),
        ],
        &[("assertion_signing_key", "B2C_1A_Assertion")],
        "",
    );
    let mut rig = Rig::new(policy);
    let roots = TrustedRoots(vec![op.ca_pem().to_owned()]);
    rig.extensions.insert(roots.clone());
    let store = rig.extensions.get::<KeyStore>().unwrap();
    let jwk = store.signing_key("B2C_1A_Assertion").unwrap().public_jwk().clone();
    op.register(ClientConfig::private_key_jwt(CLIENT_ID, jwk).redirect_uri(REDIRECT)).unwrap();
    // The browser: one client for every sign-in, as a user's browser keeps its connections.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(op.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    for n in 1..=3 {
        let (url, state) = rig.start(&[]).await;
        let params = super::fake::follow_with(&browser, &url).await;
        let got = claims(rig.callback(params, &state).await);
        assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
        // ief's pooled client (discovery, JWKS, every token request) and the browser: one
        // connection each, kept alive.
        assert_eq!(op.served().tls_handshakes(), 2, "after sign-in {n}");
    }
    assert_eq!(rig.handler.client_count(), 1);
}
