//! Every precondition type and ExecuteActionsIf value against the documented definitions:
//! ClaimsExist "performs actions if the specified claims exist", ClaimEquals "performs actions
//! if the specified claims exist and their value is equal". A claim that does not exist is
//! therefore never equal: with ExecuteActionsIf="false" its step is skipped.

use ief_engine::exec::RequestContext;

const CT: &str = "Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";

/// Whether a step guarded by one precondition ran, with `present` = "yes" and `flag` = True
/// in the claims bag and `absent` missing.
fn runs(kind: &str, execute_actions_if: bool, values: &[&str]) -> bool {
    let values: String = values.iter().map(|v| format!("<Value>{v}</Value>")).collect();
    let xml = format!(
        r#"<TrustFrameworkPolicy {ns}>
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="present"><DataType>string</DataType></ClaimType>
  <ClaimType Id="absent"><DataType>string</DataType></ClaimType>
  <ClaimType Id="flag"><DataType>boolean</DataType></ClaimType>
  <ClaimType Id="ran"><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>T</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Seed"><Protocol Name="Proprietary" Handler="{CT}"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="present" DefaultValue="yes"/><OutputClaim ClaimTypeReferenceId="flag" DefaultValue="true"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="Guarded"><Protocol Name="Proprietary" Handler="{CT}"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="ran" DefaultValue="yes"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="SeedExchange" TechnicalProfileReferenceId="Seed"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="ClaimsExchange">
    <Preconditions><Precondition Type="{kind}" ExecuteActionsIf="{execute_actions_if}">{values}<Action>SkipThisOrchestrationStep</Action></Precondition></Preconditions>
    <ClaimsExchanges><ClaimsExchange Id="GuardedExchange" TechnicalProfileReferenceId="Guarded"/></ClaimsExchanges>
  </OrchestrationStep>
  <OrchestrationStep Order="3" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/>
  <OutputClaims><OutputClaim ClaimTypeReferenceId="ran"/><OutputClaim ClaimTypeReferenceId="present" PartnerClaimType="sub"/></OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#,
        ns = ief_testkit::NS
    );
    ief_testkit::token_claims(&xml, RequestContext::default()).get("ran").is_some()
}

#[test]
fn claims_exist_true_skips_when_the_claim_exists() {
    assert!(!runs("ClaimsExist", true, &["present"]));
}

#[test]
fn claims_exist_true_runs_when_the_claim_is_missing() {
    assert!(runs("ClaimsExist", true, &["absent"]));
}

#[test]
fn claims_exist_false_runs_when_the_claim_exists() {
    assert!(runs("ClaimsExist", false, &["present"]));
}

#[test]
fn claims_exist_false_skips_when_the_claim_is_missing() {
    assert!(!runs("ClaimsExist", false, &["absent"]));
}

#[test]
fn claim_equals_true_skips_when_the_value_is_equal() {
    assert!(!runs("ClaimEquals", true, &["present", "yes"]));
}

#[test]
fn claim_equals_true_runs_when_the_value_differs() {
    assert!(runs("ClaimEquals", true, &["present", "no"]));
}

#[test]
fn claim_equals_true_runs_when_the_claim_is_missing() {
    assert!(runs("ClaimEquals", true, &["absent", "yes"]));
}

#[test]
fn claim_equals_false_runs_when_the_value_is_equal() {
    assert!(runs("ClaimEquals", false, &["present", "yes"]));
}

#[test]
fn claim_equals_false_skips_when_the_value_differs() {
    assert!(!runs("ClaimEquals", false, &["present", "no"]));
}

#[test]
fn claim_equals_false_skips_when_the_claim_is_missing() {
    // The home-realm-discovery sample relies on this: no isKnownCustomer, no federation step.
    assert!(!runs("ClaimEquals", false, &["absent", "True"]));
}

#[test]
fn claim_equals_compares_a_boolean_by_its_text() {
    assert!(!runs("ClaimEquals", true, &["flag", "True"]));
}
