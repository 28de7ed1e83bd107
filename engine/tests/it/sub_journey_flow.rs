//! The data-flow check follows what runs: of an InvokeSubJourney step's candidates only the
//! first runs (IEF507), so only its outputs are available to later steps.

use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};

const PROFILE: &str = r#"Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null""#;

/// A journey whose step 1 invokes the sub journeys `First` (makes `objectId`) and `Second`
/// (makes `displayName`), in the order `candidates` lists them, and whose relying party
/// returns `objectId` and `displayName`.
fn policy(candidates: [&str; 2]) -> String {
    let [a, b] = candidates;
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Subs" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Subs">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
  <ClaimType Id="displayName"><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="MakeId"><Protocol Name="Proprietary" {PROFILE}/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" DefaultValue="id"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="MakeName"><Protocol Name="Proprietary" {PROFILE}/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="displayName" DefaultValue="name"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="InvokeSubJourney"><JourneyList><Candidate SubJourneyReferenceId="{a}"/><Candidate SubJourneyReferenceId="{b}"/></JourneyList></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<SubJourneys>
  <SubJourney Id="First" Type="Call"><OrchestrationSteps><OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="MakeIdExchange" TechnicalProfileReferenceId="MakeId"/></ClaimsExchanges></OrchestrationStep></OrchestrationSteps></SubJourney>
  <SubJourney Id="Second" Type="Call"><OrchestrationSteps><OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="MakeNameExchange" TechnicalProfileReferenceId="MakeName"/></ClaimsExchanges></OrchestrationStep></OrchestrationSteps></SubJourney>
</SubJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub"/><OutputClaim ClaimTypeReferenceId="displayName"/></OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}

/// The data-flow diagnostics (IEF601, IEF602) of the journey with these candidates.
fn data_flow(candidates: [&str; 2]) -> Vec<String> {
    let policy = policy(candidates);
    let set = PolicySet::from_sources([("subs.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(diags.iter().any(|d| d.code.as_str() == "IEF507"), "two candidates are warned about");
    diags.iter().filter(|d| matches!(d.code.as_str(), "IEF601" | "IEF602")).map(|d| d.message.clone()).collect()
}

#[test]
fn a_claim_only_a_second_candidate_makes_is_not_produced() {
    assert_eq!(
        data_flow(["First", "Second"]),
        [
            "Claim type \"displayName\" is the output claim of the relying party's technical profile, but it is not an output claim in any of the steps of user journey \"J\"."
        ]
    );
}

#[test]
fn the_first_candidate_decides_whichever_it_is() {
    assert_eq!(
        data_flow(["Second", "First"]),
        [
            "Claim type \"objectId\" is the output claim of the relying party's technical profile, but it is not an output claim in any of the steps of user journey \"J\"."
        ]
    );
}

#[test]
fn a_claim_no_candidate_makes_is_reported_as_before() {
    assert_eq!(
        data_flow(["First", "First"]),
        [
            "Claim type \"displayName\" is the output claim of the relying party's technical profile, but it is not an output claim in any of the steps of user journey \"J\"."
        ]
    );
}
