//! Live providers in scenarios: a stand-in federation handler redirects to a loopback provider
//! with a login form, and the runner's browser signs in and hands back the callback.

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use ief_engine::exec::{ProfileError, ProfileResult};

use super::*;
use ief_idp::{Served, login_page};
use ief_protocols::federation::{Callback, redirect_uri};

const POLICY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Live" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Live">
  <BuildingBlocks>
    <ClaimsSchema>
      <ClaimType Id="userId"><DisplayName>User</DisplayName><DataType>string</DataType></ClaimType>
      <ClaimType Id="email"><DisplayName>Email</DisplayName><DataType>string</DataType></ClaimType>
    </ClaimsSchema>
  </BuildingBlocks>
  <ClaimsProviders>
    <ClaimsProvider>
      <DisplayName>Live</DisplayName>
      <TechnicalProfiles>
        <TechnicalProfile Id="LiveIdP">
          <DisplayName>Live provider</DisplayName>
          <Protocol Name="OAuth2" />
          <Metadata><Item Key="authorization_endpoint">{Settings:LiveIdpUrl}/authorize</Item></Metadata>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="sub" />
            <OutputClaim ClaimTypeReferenceId="email" />
          </OutputClaims>
        </TechnicalProfile>
        <TechnicalProfile Id="JwtIssuer">
          <DisplayName>JWT issuer</DisplayName>
          <Protocol Name="None" />
          <OutputTokenFormat>JWT</OutputTokenFormat>
          <Metadata><Item Key="client_id">{service:te}</Item></Metadata>
          <CryptographicKeys>
            <Key Id="issuer_secret" StorageReferenceId="B2C_1A_TokenSigningKeyContainer" />
            <Key Id="issuer_refresh_token_key" StorageReferenceId="B2C_1A_TokenEncryptionKeyContainer" />
          </CryptographicKeys>
        </TechnicalProfile>
      </TechnicalProfiles>
    </ClaimsProvider>
  </ClaimsProviders>
  <UserJourneys>
    <UserJourney Id="Live">
      <OrchestrationSteps>
        <OrchestrationStep Order="1" Type="ClaimsExchange">
          <ClaimsExchanges><ClaimsExchange Id="LiveExchange" TechnicalProfileReferenceId="LiveIdP" /></ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" />
      </OrchestrationSteps>
    </UserJourney>
  </UserJourneys>
  <RelyingParty>
    <DefaultUserJourney ReferenceId="Live" />
    <TechnicalProfile Id="PolicyProfile">
      <DisplayName>PolicyProfile</DisplayName>
      <Protocol Name="OpenIdConnect" />
      <OutputClaims>
        <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="sub" />
        <OutputClaim ClaimTypeReferenceId="email" />
      </OutputClaims>
      <SubjectNamingInfo ClaimType="sub" />
    </TechnicalProfile>
  </RelyingParty>
</TrustFrameworkPolicy>
"#;

/// Stands in for a federating protocol: redirects with a state, checks it on the callback and
/// returns the code's user as claims.
struct FakeFederation;

impl ProfileHandler for FakeFederation {
    fn name(&self) -> &'static str {
        "fake federation"
    }

    fn handles(&self, profile: &TechnicalProfile, _: Invocation) -> bool {
        profile.id.value == "LiveIdP"
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let failed = |m: &str| ProfileResult::Failed(ProfileError { code: "Fake".into(), user_message: m.into() });
            match (request.answer, request.profile_state) {
                (None, _) => {
                    let endpoint = request.profile.metadata("authorization_endpoint").unwrap_or_default();
                    let back = redirect_uri(request.policy, request.context, Callback::OAuth2, false);
                    let query: String =
                        form_urlencoded::Serializer::new(String::new()).append_pair("redirect_uri", &back).finish();
                    ProfileResult::NeedsInput(Page {
                        profile: request.profile.id.value.to_string(),
                        kind: PageKind::Redirect { url: format!("{endpoint}?state=st4te&{query}") },
                        error: None,
                        profile_state: Some(Box::new(serde_json::json!({ "state": "st4te" }))),
                        settings: Default::default(),
                    })
                }
                (Some(Answer::Callback(params)), Some(state)) => {
                    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    if get("state").as_deref() != state["state"].as_str() {
                        return failed("state mismatch");
                    }
                    if let Some(error) = get("error") {
                        return failed(&error);
                    }
                    let user = get("code").unwrap_or_default().trim_start_matches("code-for-").to_owned();
                    ProfileResult::Claims(vec![
                        ("sub".into(), ClaimValue::String(user.clone())),
                        ("email".into(), ClaimValue::String(format!("{user}@example.com"))),
                    ])
                }
                _ => failed("unexpected answer"),
            }
        })
    }
}

/// A provider whose login form accepts alice/pw and redirects to the given redirect_uri.
async fn provider() -> Served {
    let router = Router::new()
        .route(
            "/authorize",
            get(|axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>| async move {
                Html(login_page("Live sign-in", "/login", &q, None))
            }),
        )
        .route(
            "/login",
            axum::routing::post(|axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
                if get("password") != "pw" {
                    return Html(login_page("Live sign-in", "/login", &[], Some("Wrong password"))).into_response();
                }
                let back = get("redirect_uri");
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("code", &format!("code-for-{}", get("username")))
                    .append_pair("state", &get("state"))
                    .finish();
                Redirect::to(&format!("{back}?{query}")).into_response()
            }),
        );
    Served::http(router).await.unwrap()
}

/// Writes the policy and the scenario into a fresh folder and runs it.
async fn run_yaml(yaml: &str, options: &RunOptions) -> Result<ScenarioReport, ScenarioError> {
    let dir = TempDir::new("ief-live-scenario").unwrap();
    std::fs::write(dir.0.join("Live.xml"), POLICY).unwrap();
    std::fs::write(dir.0.join("not-a-cert.pem"), "hello").unwrap();
    let scenario = parse(yaml).unwrap();
    run_with(&scenario, &dir.0, "live", options, vec![Box::new(FakeFederation)]).await
}

#[tokio::test]
async fn browser_providers_sign_in_live_and_answer_the_redirect_themselves() {
    let served = provider().await;
    let yaml = format!(
        "policy: Live.xml\nsettings: {{LiveIdpUrl: '{}'}}\nidentity_providers:\n  LiveIdP:\n    browser: {{username: alice, password: pw}}\nexpect: {{outcome: token}}\n",
        served.http_url()
    );
    let report = run_yaml(&yaml, &RunOptions::deterministic()).await.unwrap();
    let run = &report.runs[0];
    assert_eq!(run.outcome, "token", "{}", report.to_yaml());
    assert_eq!(run.claims.get("sub"), Some(&serde_json::json!("alice")));
    assert_eq!(run.claims.get("email"), Some(&serde_json::json!("alice@example.com")));
    assert_eq!(run.pages, vec!["redirect to 127.0.0.1:[port]/authorize".to_owned()]);
    assert!(report.passed());
}

#[tokio::test]
async fn run_options_settings_win_and_agent_failures_name_the_profile() {
    let served = provider().await;
    let yaml = "policy: Live.xml\nsettings: {LiveIdpUrl: 'http://127.0.0.1:9'}\nidentity_providers:\n  LiveIdP:\n    browser: {username: alice, password: wrong}\n";
    let options =
        RunOptions { settings: vec![("LiveIdpUrl".into(), served.http_url())], ..RunOptions::deterministic() };
    let err = run_yaml(yaml, &options).await.unwrap_err().to_string();
    assert!(err.contains("the browser sign-in at 'LiveIdP' did not reach the callback"), "{err}");
    assert!(err.contains("the login form came back") && err.contains("Wrong password"), "{err}");
    assert!(!err.contains("wrong\""), "{err}");
}

#[tokio::test]
async fn trusted_roots_must_be_pem_certificates() {
    let yaml = "policy: Live.xml\ntrusted_roots: [not-a-cert.pem]\nidentity_providers:\n  LiveIdP:\n    browser: {username: a, password: b}\n";
    let err = run_yaml(yaml, &RunOptions::deterministic()).await.unwrap_err().to_string();
    assert!(err.contains("not-a-cert.pem") && err.contains("not a PEM certificate"), "{err}");
    let yaml = "policy: Live.xml\ntrusted_roots: [missing.pem]\n";
    let err = run_yaml(yaml, &RunOptions::deterministic()).await.unwrap_err().to_string();
    assert!(err.contains("missing.pem"), "{err}");
}

#[test]
fn browser_specs_parse_with_consent_by_default() {
    let s = parse("policy: p.xml\nidentity_providers:\n  A:\n    browser: {username: u, password: p, fields: {remember: 'on'}}\n  B:\n    browser: {username: u, password: p, consent: false}\n").unwrap();
    let IdentityProviderSpec::Browser(a) = &s.identity_providers["A"] else { panic!("a browser spec") };
    assert!(a.consent);
    assert_eq!(a.fields.get("remember").map(String::as_str), Some("on"));
    let IdentityProviderSpec::Browser(b) = &s.identity_providers["B"] else { panic!("a browser spec") };
    assert!(!b.consent);
    let err = parse("policy: p.xml\nidentity_providers:\n  A:\n    browser: {username: u, pasword: p}\n").unwrap_err();
    assert!(err.contains("pasword"), "{err}");
}

#[test]
fn redirect_targets_drop_query_values_and_loopback_ports() {
    assert_eq!(redirect_target("https://127.0.0.1:41234/auth?state=x&nonce=y"), "127.0.0.1:[port]/auth");
    assert_eq!(redirect_target("https://login.example.com:8443/a/b?c=d"), "login.example.com:8443/a/b");
    assert_eq!(redirect_target("https://accounts.google.com/o/oauth2/auth?x=1"), "accounts.google.com/o/oauth2/auth");
}

/// Runs scenario files of `policies/federation` on a thread each, all sharing `options`.
fn run_federation_files(files: &[&str], options: &RunOptions) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/federation");
    std::thread::scope(|scope| {
        let runs: Vec<_> = files
            .iter()
            .map(|file| {
                let path = dir.join(file);
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    let report = rt.block_on(run_file(&path, options)).expect("the scenario runs");
                    assert!(report.passed(), "{}", report.to_yaml());
                    report.to_yaml()
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().expect("no panic")).collect()
    })
}

#[test]
fn files_of_one_run_share_their_throwaway_keys_and_report_as_alone() {
    let (jwt, tls) = ("sign-in-private-key-jwt.yaml", "sign-in-tls-client-auth.yaml");
    let alone = |file| {
        let options = RunOptions::deterministic();
        let report = run_federation_files(&[file], &options).remove(0);
        (report, options.key_pool.generated())
    };
    let ((jwt_alone, jwt_keys), (tls_alone, tls_keys)) = (alone(jwt), alone(tls));
    let shared = RunOptions::deterministic();
    assert_eq!(run_federation_files(&[jwt, tls], &shared), [jwt_alone, tls_alone]);
    // The embedded OpenID provider's signing key and the policies' common keys are made once.
    let made = shared.key_pool.generated();
    assert!(made < jwt_keys + tls_keys, "{made} keys, {jwt_keys} and {tls_keys} alone");
    let pool = format!("{:?}", shared.key_pool);
    assert!(pool.contains("\"oidc signing\"") && pool.contains("tls_client_auth B2C_1A_ExampleIdpCaIssuedCertificate"));
    assert!(!pool.contains("PRIVATE KEY"), "the pool's Debug names keys only: {pool}");
    run_federation_files(&[tls, tls], &shared);
    assert_eq!(shared.key_pool.generated(), made, "files that run again make no key");
}

#[test]
fn seeded_users_hold_more_sign_in_names_and_provider_ids_as_sign_ins_look_them_up() {
    let yaml = "policy: p.xml\ndirectory:\n  - object_id: 0b0b0b0b-0000-4000-8000-000000000001\n    sign_in_names: {oidToLink: aad-oid-1}\n    alternative_security_ids: [{issuer: facebook.com, issuer_user_id: '1234'}]\n";
    let scenario = parse(yaml).unwrap();
    let directory = Directory::in_memory().unwrap();
    seed_directory(&scenario, &directory, &FixedEnv::default(), "contoso.onmicrosoft.com").unwrap();
    let id = |user: Option<ief_protocols::directory::User>| user.map(|u| u.object_id);
    let expected = Some("0b0b0b0b-0000-4000-8000-000000000001".to_owned());
    assert_eq!(id(directory.find_by_sign_in_name(Some("oidToLink"), "aad-oid-1").unwrap()), expected);
    // CreateAlternativeSecurityId's key for Facebook's user 1234.
    let facebook = AlternativeSecurityId { issuer: "facebook.com".into(), issuer_user_id: "MTIzNA==".into() };
    assert_eq!(id(directory.find_by_alternative_security_id(&facebook).unwrap()), expected);
}
