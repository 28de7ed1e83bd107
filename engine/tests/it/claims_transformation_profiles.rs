//! A ClaimsTransformationProtocolProvider profile's input claims, with their DefaultValue,
//! AlwaysUseDefaultValue and claim resolvers, are what its output transformations read.

use ief_engine::exec::RequestContext;

const POLICY: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Ct" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Ct">
<BuildingBlocks>
  <ClaimsSchema>
    <ClaimType Id="greetingWord"><DataType>string</DataType></ClaimType>
    <ClaimType Id="campaign"><DataType>string</DataType></ClaimType>
    <ClaimType Id="greeting"><DataType>string</DataType></ClaimType>
  </ClaimsSchema>
  <ClaimsTransformations>
    <ClaimsTransformation Id="Greet" TransformationMethod="FormatStringMultipleClaims">
      <InputClaims>
        <InputClaim ClaimTypeReferenceId="greetingWord" TransformationClaimType="inputClaim1"/>
        <InputClaim ClaimTypeReferenceId="campaign" TransformationClaimType="inputClaim2"/>
      </InputClaims>
      <InputParameters><InputParameter Id="stringFormat" DataType="string" Value="{0} from {1}"/></InputParameters>
      <OutputClaims><OutputClaim ClaimTypeReferenceId="greeting" TransformationClaimType="outputClaim"/></OutputClaims>
    </ClaimsTransformation>
  </ClaimsTransformations>
</BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>T</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Greeter">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="IncludeClaimResolvingInClaimsHandling">true</Item></Metadata>
    <InputClaims>
      <InputClaim ClaimTypeReferenceId="greetingWord" DefaultValue="Hello"/>
      <InputClaim ClaimTypeReferenceId="campaign" DefaultValue="{OAUTH-KV:campaign}" AlwaysUseDefaultValue="true"/>
    </InputClaims>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="greeting"/></OutputClaims>
    <OutputClaimsTransformations><OutputClaimsTransformation ReferenceId="Greet"/></OutputClaimsTransformations>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="GreeterExchange" TechnicalProfileReferenceId="Greeter"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/>
  <OutputClaims><OutputClaim ClaimTypeReferenceId="greeting" PartnerClaimType="sub"/></OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#;

#[test]
fn output_transformations_read_the_profiles_input_claims() {
    let context =
        RequestContext { query: vec![("campaign".to_owned(), "spring".to_owned())], ..RequestContext::default() };
    assert_eq!(ief_testkit::token_claims(POLICY, context)["sub"], "Hello from spring");
}
