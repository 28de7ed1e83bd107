//! A Twitter-like OAuth1 policy: the B2C documentation's X/Twitter profile with the host
//! swapped, then SendClaims. The OAuth1 journey tests and the OAuth1 bench run it.

pub const CONSUMER_KEY: &str = "ief-test-consumer";
pub const CONSUMER_SECRET: &str = "c0nsumer s3cret&+/=";
pub const SECRET_KEY: &str = "B2C_1A_TwitterSecret";
pub const SIGNING_KEY: &str = "B2C_1A_TokenSigningKeyContainer";

/// The redirect URI B2C registers for OAuth1: per policy, lower case.
pub const CALLBACK: &str = "https://localhost/contoso.onmicrosoft.com/b2c_1a_oauth1_test/oauth1/authresp";

/// A policy with the documented X/Twitter OAuth1 profile pointing at `base`, then SendClaims.
pub fn policy_xml(base: &str) -> String {
    policy_xml_with(base, "")
}

/// As [`policy_xml`], with more metadata items in the OAuth1 profile.
pub fn policy_xml_with(base: &str, extra_metadata: &str) -> String {
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_OAuth1_Test" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_OAuth1_Test">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="issuerUserId"><DisplayName>Username</DisplayName><DataType>string</DataType></ClaimType>
  <ClaimType Id="displayName"><DisplayName>Display name</DisplayName><DataType>string</DataType></ClaimType>
  <ClaimType Id="email"><DisplayName>Email</DisplayName><DataType>string</DataType></ClaimType>
  <ClaimType Id="identityProvider"><DisplayName>Identity provider</DisplayName><DataType>string</DataType></ClaimType>
  <ClaimType Id="authenticationSource"><DisplayName>Authentication source</DisplayName><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><Domain>x.com</Domain><DisplayName>X</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Twitter-OAuth1">
    <DisplayName>X</DisplayName>
    <Protocol Name="OAuth1"/>
    <Metadata>
      <Item Key="ProviderName">Twitter</Item>
      <Item Key="authorization_endpoint">{base}/oauth/authenticate</Item>
      <Item Key="access_token_endpoint">{base}/oauth/access_token</Item>
      <Item Key="request_token_endpoint">{base}/oauth/request_token</Item>
      <Item Key="ClaimsEndpoint">{base}/1.1/account/verify_credentials.json?include_email=true</Item>
      <Item Key="ClaimsResponseFormat">json</Item>
      <Item Key="client_id">{CONSUMER_KEY}</Item>{extra_metadata}
    </Metadata>
    <CryptographicKeys><Key Id="client_secret" StorageReferenceId="{SECRET_KEY}"/></CryptographicKeys>
    <OutputClaims>
      <OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="user_id"/>
      <OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="screen_name"/>
      <OutputClaim ClaimTypeReferenceId="email"/>
      <OutputClaim ClaimTypeReferenceId="identityProvider" DefaultValue="twitter.com"/>
      <OutputClaim ClaimTypeReferenceId="authenticationSource" DefaultValue="socialIdpAuthentication"/>
    </OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer">
    <DisplayName>JWT issuer</DisplayName>
    <Protocol Name="None"/>
    <OutputTokenFormat>JWT</OutputTokenFormat>
    <CryptographicKeys><Key Id="issuer_secret" StorageReferenceId="{SIGNING_KEY}"/></CryptographicKeys>
  </TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="SignIn"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="TwitterExchange" TechnicalProfileReferenceId="Twitter-OAuth1"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="SignIn"/><TechnicalProfile Id="PolicyProfile"><DisplayName>PolicyProfile</DisplayName><Protocol Name="OpenIdConnect"/>
  <OutputClaims>
    <OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="sub"/>
    <OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="name"/>
    <OutputClaim ClaimTypeReferenceId="email"/>
    <OutputClaim ClaimTypeReferenceId="identityProvider" PartnerClaimType="idp"/>
    <OutputClaim ClaimTypeReferenceId="authenticationSource"/>
  </OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/>
</TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}
