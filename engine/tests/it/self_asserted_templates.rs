//! A profile that others include and neither a step nor a validation runs is a template: it is
//! checked as the profiles that include it resolve it (IEF603, IEF413).

use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};

const SELF_ASSERTED: &str = "Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";
const TRANSFORMS: &str = "Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";

/// The IEF603 messages of a policy whose one page step runs `runs`.
fn without_source(runs: &str) -> Vec<String> {
    let policy = format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Templates" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Templates">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="email"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>
  <ClaimType Id="userId"><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Registration"><Protocol Name="Proprietary" Handler="{SELF_ASSERTED}"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="userId"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="RegistrationByEmail">
    <OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims>
    <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="CreateUser"/></ValidationTechnicalProfiles>
    <IncludeTechnicalProfile ReferenceId="Registration"/></TechnicalProfile>
  <TechnicalProfile Id="CreateUser"><Protocol Name="Proprietary" Handler="{TRANSFORMS}"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="userId" DefaultValue="u1"/></OutputClaims></TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="Page" TechnicalProfileReferenceId="{runs}"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="userId"/></OutputClaims><SubjectNamingInfo ClaimType="userId"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    );
    let set = PolicySet::from_sources([("templates.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    diags.iter().filter(|d| d.code.as_str() == "IEF603").map(|d| d.message.clone()).collect()
}

#[test]
fn an_included_page_profile_is_checked_where_it_is_included() {
    assert_eq!(without_source("RegistrationByEmail"), Vec::<String>::new());
}

#[test]
fn a_page_profile_a_step_runs_is_checked_even_when_included() {
    assert_eq!(
        without_source("Registration"),
        [
            "Output claim type \"userId\" specified in the technical profile with id \"Registration\" does not specify a UserInputType or a DefaultValue, and is not retrieved from a ValidationTechnicalProfile either."
        ]
    );
}

/// The IEF413 messages of a production policy whose page validates with `validates`; `REST-Open`
/// is included by `REST-Allowed`, which allows the insecure call.
fn insecure_rest(validates: &str) -> Vec<String> {
    const REST: &str =
        "Web.TPEngine.Providers.RestfulProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";
    let policy = format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Templates" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Templates">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="email"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="REST-Open"><Protocol Name="Proprietary" Handler="{REST}"/>
    <Metadata><Item Key="ServiceUrl">https://api.contoso.com/check</Item><Item Key="AuthenticationType">None</Item></Metadata>
    <InputClaims><InputClaim ClaimTypeReferenceId="email"/></InputClaims></TechnicalProfile>
  <TechnicalProfile Id="REST-Allowed">
    <Metadata><Item Key="AllowInsecureAuthInProduction">true</Item></Metadata>
    <IncludeTechnicalProfile ReferenceId="REST-Open"/></TechnicalProfile>
  <TechnicalProfile Id="Page"><Protocol Name="Proprietary" Handler="{SELF_ASSERTED}"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims>
    <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="{validates}"/></ValidationTechnicalProfiles></TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="PageExchange" TechnicalProfileReferenceId="Page"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims><SubjectNamingInfo ClaimType="email"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    );
    let set = PolicySet::from_sources([("templates.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    diags.iter().filter(|d| d.code.as_str() == "IEF413").map(|d| d.message.clone()).collect()
}

#[test]
fn an_included_rest_profile_is_checked_where_it_runs() {
    // Run only through the profile that includes it and allows the call: nothing to refuse.
    assert_eq!(insecure_rest("REST-Allowed"), Vec::<String>::new());
    // Run itself as a validation profile: refused, though another profile includes it.
    let found = insecure_rest("REST-Open");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("Profile 'REST-Open' uses an insecure authentication mode"), "{found:?}");
}
