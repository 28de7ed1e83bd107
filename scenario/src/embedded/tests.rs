//! Scenarios with `embedded_providers:`: the providers start with the clients the YAML names,
//! their credentials come from the run's policy keys, and reports carry no volatile values.

use std::path::{Path, PathBuf};

use super::super::{RunOptions, ScenarioError, ScenarioReport, TempDir, parse, run, run_file};

/// OpenID Connect with client_secret_basic and the policy in the redirect URI, and OAuth2 with
/// private_key_jwt; one journey each.
const POLICY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Embedded" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Embedded">
  <BuildingBlocks>
    <ClaimsSchema>
      <ClaimType Id="userId"><DisplayName>User</DisplayName><DataType>string</DataType></ClaimType>
      <ClaimType Id="email"><DisplayName>Email</DisplayName><DataType>string</DataType></ClaimType>
      <ClaimType Id="issuer"><DisplayName>Issuer</DisplayName><DataType>string</DataType></ClaimType>
      <ClaimType Id="accessToken"><DisplayName>Access token</DisplayName><DataType>string</DataType></ClaimType>
    </ClaimsSchema>
  </BuildingBlocks>
  <ClaimsProviders>
    <ClaimsProvider>
      <DisplayName>Embedded</DisplayName>
      <TechnicalProfiles>
        <TechnicalProfile Id="Oidc-Secret">
          <DisplayName>OIDC</DisplayName>
          <Protocol Name="OpenIdConnect" />
          <Metadata>
            <Item Key="METADATA">{Settings:IefOidcUrl}/.well-known/openid-configuration</Item>
            <Item Key="client_id">oidc-basic</Item>
            <Item Key="token_endpoint_auth_method">client_secret_basic</Item>
            <Item Key="response_types">code</Item>
            <Item Key="scope">openid email</Item>
            <Item Key="UsePolicyInRedirectUri">true</Item>
          </Metadata>
          <CryptographicKeys><Key Id="client_secret" StorageReferenceId="B2C_1A_OidcSecret" /></CryptographicKeys>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="sub" />
            <OutputClaim ClaimTypeReferenceId="email" />
            <OutputClaim ClaimTypeReferenceId="issuer" PartnerClaimType="iss" />
            <OutputClaim ClaimTypeReferenceId="accessToken" PartnerClaimType="{oauth2:access_token}" />
          </OutputClaims>
        </TechnicalProfile>
        <TechnicalProfile Id="OAuth2-Jwt">
          <DisplayName>OAuth2</DisplayName>
          <Protocol Name="OAuth2" />
          <Metadata>
            <Item Key="authorization_endpoint">{Settings:IefOAuth2Url}/oauth2/authorize</Item>
            <Item Key="AccessTokenEndpoint">{Settings:IefOAuth2Url}/oauth2/access_token</Item>
            <Item Key="ClaimsEndpoint">{Settings:IefOAuth2Url}/me</Item>
            <Item Key="client_id">oauth2-jwt</Item>
            <Item Key="token_endpoint_auth_method">private_key_jwt</Item>
          </Metadata>
          <CryptographicKeys><Key Id="assertion_signing_key" StorageReferenceId="B2C_1A_OAuth2SigningKey" /></CryptographicKeys>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="id" />
            <OutputClaim ClaimTypeReferenceId="email" />
            <OutputClaim ClaimTypeReferenceId="issuer" DefaultValue="oauth2" />
            <OutputClaim ClaimTypeReferenceId="accessToken" PartnerClaimType="{oauth2:access_token}" />
          </OutputClaims>
        </TechnicalProfile>
        <TechnicalProfile Id="Oidc-Jwt512">
          <DisplayName>OIDC with an RS512 assertion</DisplayName>
          <Protocol Name="OpenIdConnect" />
          <Metadata>
            <Item Key="METADATA">{Settings:IefOidcUrl}/.well-known/openid-configuration</Item>
            <Item Key="client_id">oidc-jwt</Item>
            <Item Key="token_endpoint_auth_method">private_key_jwt</Item>
            <Item Key="token_signing_algorithm">RS512</Item>
            <Item Key="response_types">code</Item>
            <Item Key="scope">openid email</Item>
          </Metadata>
          <CryptographicKeys><Key Id="assertion_signing_key" StorageReferenceId="B2C_1A_OidcSigningKey" /></CryptographicKeys>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="sub" />
            <OutputClaim ClaimTypeReferenceId="email" />
            <OutputClaim ClaimTypeReferenceId="issuer" PartnerClaimType="iss" />
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
    <UserJourney Id="Oidc">
      <OrchestrationSteps>
        <OrchestrationStep Order="1" Type="ClaimsExchange">
          <ClaimsExchanges><ClaimsExchange Id="OidcExchange" TechnicalProfileReferenceId="Oidc-Secret" /></ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" />
      </OrchestrationSteps>
    </UserJourney>
    <UserJourney Id="OidcJwt">
      <OrchestrationSteps>
        <OrchestrationStep Order="1" Type="ClaimsExchange">
          <ClaimsExchanges><ClaimsExchange Id="OidcJwtExchange" TechnicalProfileReferenceId="Oidc-Jwt512" /></ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" />
      </OrchestrationSteps>
    </UserJourney>
    <UserJourney Id="OAuth2">
      <OrchestrationSteps>
        <OrchestrationStep Order="1" Type="ClaimsExchange">
          <ClaimsExchanges><ClaimsExchange Id="OAuth2Exchange" TechnicalProfileReferenceId="OAuth2-Jwt" /></ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" />
      </OrchestrationSteps>
    </UserJourney>
  </UserJourneys>
  <RelyingParty>
    <DefaultUserJourney ReferenceId="Oidc" />
    <TechnicalProfile Id="PolicyProfile">
      <DisplayName>PolicyProfile</DisplayName>
      <Protocol Name="OpenIdConnect" />
      <OutputClaims>
        <OutputClaim ClaimTypeReferenceId="userId" PartnerClaimType="sub" />
        <OutputClaim ClaimTypeReferenceId="email" />
        <OutputClaim ClaimTypeReferenceId="issuer" PartnerClaimType="idp" />
        <OutputClaim ClaimTypeReferenceId="accessToken" PartnerClaimType="idp_access_token" />
      </OutputClaims>
      <SubjectNamingInfo ClaimType="sub" />
    </TechnicalProfile>
  </RelyingParty>
</TrustFrameworkPolicy>
"#;

const USERS: &str = "  users:\n    - username: alice\n      password: Passw0rd!\n      claims: {sub: alice-1, email: alice@example.com}\n";

/// Where a provider the scenario does not start would be: nothing listens there.
const SETTINGS: &str = r#"{"Environments": [{"Name": "Local", "PolicySettings": {"IefOidcUrl": "https://127.0.0.1:9", "IefOAuth2Url": "http://127.0.0.1:9"}}]}"#;

/// Writes the policy and runs `yaml` from the same folder, in the environment Local.
async fn run_yaml(yaml: &str, options: &RunOptions) -> Result<ScenarioReport, ScenarioError> {
    let dir = TempDir::new("ief-embedded-scenario").expect("temp dir");
    std::fs::write(dir.0.join("Embedded.xml"), POLICY).expect("policy");
    std::fs::write(dir.0.join("appsettings.json"), SETTINGS).expect("settings");
    let scenario = parse(&format!("environment: Local\n{yaml}")).map_err(ScenarioError::Setup)?;
    run(&scenario, &dir.0, "embedded", options).await
}

fn token_claim<'r>(report: &'r ScenarioReport, name: &str) -> &'r serde_json::Value {
    &report.runs[0].token.as_ref().expect("a token").claims[name]
}

/// Whether a loopback address with its port number is anywhere in the report.
fn shows_a_port(report: &ScenarioReport) -> bool {
    let text = report.to_yaml();
    text.match_indices("127.0.0.1:").any(|(i, m)| text[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[tokio::test]
async fn an_oidc_client_secret_comes_from_the_policy_key_and_b2c_redirects_per_policy() {
    let yaml = format!(
        "policy: Embedded.xml\nembedded_providers:\n{USERS}  oidc:\n    clients:\n      - {{client_id: oidc-basic, token_endpoint_auth_method: client_secret_basic, key: B2C_1A_OidcSecret}}\nidentity_providers:\n  Oidc-Secret:\n    browser: {{username: alice, password: Passw0rd!}}\nexpect: {{outcome: token}}\n"
    );
    let report = run_yaml(&yaml, &RunOptions::deterministic()).await.expect("the scenario runs");
    let text = report.to_yaml();
    assert!(report.passed(), "{text}");
    assert_eq!(token_claim(&report, "sub"), "alice-1", "{text}");
    assert_eq!(token_claim(&report, "email"), "alice@example.com");
    // The issuer is the provider's loopback URL, its port redacted everywhere.
    assert_eq!(token_claim(&report, "idp"), "https://127.0.0.1:[port]");
    assert!(!shows_a_port(&report), "{text}");
    // The provider's access token reached the token, but not the report.
    assert_eq!(token_claim(&report, "idp_access_token"), "[redacted]");
    assert!(text.contains("accessToken=[redacted]"), "{text}");
    // Times are the fixed clock's, shared with the provider.
    assert_eq!(token_claim(&report, "iat"), 1_704_067_200);
}

#[tokio::test]
async fn an_oauth2_private_key_jwt_client_verifies_with_the_run_signing_key_on_the_wall_clock() {
    let yaml = format!(
        "policy: Embedded.xml\njourney: OAuth2\nembedded_providers:\n{USERS}  oauth2:\n    clients:\n      - {{client_id: oauth2-jwt, token_endpoint_auth_method: private_key_jwt, key: B2C_1A_OAuth2SigningKey}}\nidentity_providers:\n  OAuth2-Jwt:\n    browser: {{username: alice, password: Passw0rd!}}\nexpect: {{outcome: token}}\n"
    );
    let live = RunOptions { trace: true, ..RunOptions::default() };
    let report = run_yaml(&yaml, &live).await.expect("the scenario runs");
    let text = report.to_yaml();
    assert!(report.passed(), "{text}");
    assert_eq!(token_claim(&report, "sub"), "alice-1");
    assert_eq!(token_claim(&report, "idp"), "oauth2");
    let iat = token_claim(&report, "iat").as_i64().expect("iat");
    assert!((iat - chrono::Utc::now().timestamp()).abs() < 600, "a live run uses the wall clock: {iat}");
    assert_eq!(report.runs[0].pages, vec!["redirect to 127.0.0.1:[port]/oauth2/authorize".to_owned()]);
    assert_eq!(token_claim(&report, "idp_access_token"), "[redacted]");
}

#[tokio::test]
async fn a_private_key_jwt_client_takes_the_profile_algorithm_unless_the_yaml_names_one() {
    let yaml = |alg: &str| {
        format!(
            "policy: Embedded.xml\njourney: OidcJwt\nembedded_providers:\n{USERS}  oidc:\n    clients:\n      - {{client_id: oidc-jwt, token_endpoint_auth_method: private_key_jwt, key: B2C_1A_OidcSigningKey{alg}}}\nidentity_providers:\n  Oidc-Jwt512:\n    browser: {{username: alice, password: Passw0rd!}}\n"
        )
    };
    let report = run_yaml(&yaml(""), &RunOptions::deterministic()).await.expect("the scenario runs");
    assert_eq!(report.runs[0].outcome, "token", "{}", report.to_yaml());
    assert_eq!(token_claim(&report, "sub"), "alice-1");
    // Registered for RS256, the provider refuses the profile's RS512 assertion.
    let report = run_yaml(&yaml(", signing_alg: RS256"), &RunOptions::deterministic()).await.expect("runs");
    let error = report.runs[0].error.as_ref().expect("an error");
    assert!(error.message.contains("invalid_client") && error.message.contains("RS256"), "{}", error.message);
}

#[tokio::test]
async fn a_provider_only_accepts_the_key_the_yaml_names() {
    // The provider knows the client by another policy key's secret: the token request fails.
    let yaml = format!(
        "policy: Embedded.xml\nembedded_providers:\n{USERS}  oidc:\n    clients:\n      - {{client_id: oidc-basic, token_endpoint_auth_method: client_secret_basic, key: B2C_1A_Unrelated}}\nidentity_providers:\n  Oidc-Secret:\n    browser: {{username: alice, password: Passw0rd!}}\nexpect: {{outcome: error}}\n"
    );
    let report = run_yaml(&yaml, &RunOptions::deterministic()).await.expect("the scenario runs");
    let error = report.runs[0].error.as_ref().expect("an error");
    assert!(report.passed(), "{}", report.to_yaml());
    assert!(error.message.contains("invalid_client"), "{}", error.message);
}

#[tokio::test]
async fn bad_client_registrations_are_refused_with_their_cause() {
    let cases = [
        (
            "oidc:\n    clients:\n      - {client_id: oidc-basic, token_endpoint_auth_method: client_secret, key: K}\n",
            "client 'oidc-basic': token_endpoint_auth_method 'client_secret' is not one of client_secret_post",
        ),
        (
            "oauth2:\n    clients:\n      - {client_id: c, token_endpoint_auth_method: tls_client_auth, key: K, subject_dn: CN=c}\n",
            "oauth2: client 'c': the OAuth2 provider does not offer tls_client_auth",
        ),
        (
            "oidc:\n    clients:\n      - {client_id: c, token_endpoint_auth_method: tls_client_auth, key: K}\n",
            "oidc: client 'c': tls_client_auth needs subject_dn",
        ),
        (
            "oidc:\n    clients:\n      - {client_id: c, token_endpoint_auth_method: private_key_jwt, key: B2C_1A_OidcSecret}\n",
            "oidc: client 'c': policy key 'B2C_1A_OidcSecret'",
        ),
        ("oauth1:\n    consumers: []\n", "oauth1: no consumers are configured"),
    ];
    for (section, message) in cases {
        let yaml = format!("policy: Embedded.xml\nembedded_providers:\n{USERS}  {section}");
        let err = run_yaml(&yaml, &RunOptions::deterministic()).await.expect_err(section).to_string();
        assert!(err.contains("embedded_providers: ") && err.contains(message), "{section}: {err}");
    }
    let err = parse("policy: p.xml\nembedded_providers:\n  oidc:\n    clients:\n      - {client_id: c, token_endpoint_auth_method: private_key_jwt, key: K, colour: blue}\n")
        .expect_err("an unknown key");
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn generated_keys_cover_the_clients_but_not_the_certificates_the_runner_issues() {
    let scenario = parse(
        "policy: p.xml\nembedded_providers:\n  oidc:\n    clients:\n      - {client_id: a, token_endpoint_auth_method: private_key_jwt, key: B2C_1A_A}\n      - {client_id: b, token_endpoint_auth_method: tls_client_auth, key: B2C_1A_B, subject_dn: CN=b}\n  oauth1:\n    consumers: [{consumer_key: x, key: B2C_1A_X}]\n  oauth2:\n    clients:\n      - {client_id: a, token_endpoint_auth_method: client_secret_post, key: B2C_1A_A}\n",
    )
    .expect("parses");
    let spec = scenario.embedded_providers.expect("the section");
    assert_eq!(spec.key_names(), vec!["B2C_1A_A".to_owned(), "B2C_1A_X".to_owned()]);
}

fn workspace_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[tokio::test]
async fn deterministic_runs_against_embedded_providers_repeat_exactly() {
    // Fresh keys, certificates and ports each time; the reports still match.
    for file in
        ["policies/federation/sign-in-self-signed-mtls-unknown-certificate.yaml", "policies/social/sign-in-x.yaml"]
    {
        let path = workspace_file(file);
        let first = run_file(&path, &RunOptions::deterministic()).await.expect("runs");
        let second = run_file(&path, &RunOptions::deterministic()).await.expect("runs");
        assert_eq!(first.to_yaml(), second.to_yaml(), "{file}");
        assert!(!shows_a_port(&first), "{}", first.to_yaml());
    }
}
