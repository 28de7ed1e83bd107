//! ClaimsExchange Ids match without regard to case, as B2C matches them.

use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};

fn policy(selection: &str, exchanges: &str) -> String {
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Ids" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Ids">
<BuildingBlocks><ClaimsSchema><ClaimType Id="sub"><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="A"><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="sub" DefaultValue="ran A"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="B"><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="sub" DefaultValue="ran B"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsProviderSelection"><ClaimsProviderSelections>{selection}</ClaimsProviderSelections></OrchestrationStep>
  <OrchestrationStep Order="2" Type="ClaimsExchange"><ClaimsExchanges>{exchanges}</ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="3" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="sub"/></OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}

fn journey_diagnostics(selection: &str, exchanges: &str) -> Vec<String> {
    let policy = policy(selection, exchanges);
    let set = PolicySet::from_sources([("ids.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    diags.iter().filter(|d| matches!(d.code.as_str(), "IEF409" | "IEF506")).map(|d| d.message.clone()).collect()
}

#[test]
fn a_selection_target_matches_its_exchange_in_any_case() {
    let found = journey_diagnostics(
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="facebookexchange"/>"#,
        r#"<ClaimsExchange Id="FacebookExchange" TechnicalProfileReferenceId="A"/>"#,
    );
    assert!(found.is_empty(), "{found:?}");
    let unknown = journey_diagnostics(
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="GoogleExchange"/>"#,
        r#"<ClaimsExchange Id="FacebookExchange" TechnicalProfileReferenceId="A"/>"#,
    );
    assert_eq!(unknown, ["ClaimsExchange 'GoogleExchange' is not declared in the next step"]);
}

#[test]
fn exchange_ids_differing_only_in_case_are_the_same_id() {
    let found = journey_diagnostics(
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="One"/><ClaimsProviderSelection TargetClaimsExchangeId="ONE"/>"#,
        r#"<ClaimsExchange Id="One" TechnicalProfileReferenceId="A"/><ClaimsExchange Id="ONE" TechnicalProfileReferenceId="A"/>"#,
    );
    assert_eq!(found, ["ClaimsExchange Id 'ONE' is used twice in user journey 'J'"]);
}

#[test]
fn a_selection_target_runs_its_exchange_in_any_case() {
    let xml = policy(
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="bexchange"/>"#,
        r#"<ClaimsExchange Id="AExchange" TechnicalProfileReferenceId="A"/><ClaimsExchange Id="BExchange" TechnicalProfileReferenceId="B"/>"#,
    );
    // The only button is chosen without a page, and its exchange (not the step's first) runs.
    assert_eq!(ief_testkit::token_claims(&xml, ief_engine::exec::RequestContext::default())["sub"], "ran B");
}
