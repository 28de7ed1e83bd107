//! A policy of federation journeys: one journey per technical profile (a claims exchange, then
//! SendClaims through a `JwtIssuer`), the claims an OpenID Connect provider releases, and a
//! relying party that sends them on. The OIDC journey tests and the OIDC bench run it.

/// The JwtIssuer's policy key.
pub const TOKEN_SIGNING_KEY: &str = "B2C_1A_TokenSigningKeyContainer";

/// The journey that runs `profile`.
pub fn journey_id(profile: &str) -> String {
    format!("SignIn-{profile}")
}

/// The policy: claims, the profiles (`(id, TechnicalProfile XML)`), a JwtIssuer, a journey per
/// profile (the first is the default) and the relying party.
pub fn policy_xml(profiles: &[(String, String)]) -> String {
    let claim = |id: &str| {
        format!(r#"<ClaimType Id="{id}"><DisplayName>{id}</DisplayName><DataType>string</DataType></ClaimType>"#)
    };
    let claims: String =
        ["issuerUserId", "email", "displayName", "identityProvider", "authenticationSource"].map(claim).concat();
    let technical_profiles: String = profiles.iter().map(|(_, xml)| xml.as_str()).collect();
    let journeys: String = profiles
        .iter()
        .map(|(id, _)| {
            format!(
                r#"<UserJourney Id="{journey}"><OrchestrationSteps><OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="{id}Exchange" TechnicalProfileReferenceId="{id}" /></ClaimsExchanges></OrchestrationStep><OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" /></OrchestrationSteps></UserJourney>"#,
                journey = journey_id(id)
            )
        })
        .collect();
    let default_journey = profiles.first().map(|(id, _)| journey_id(id)).unwrap_or_default();
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_OidcJourneys" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_OidcJourneys">
<BuildingBlocks><ClaimsSchema>{claims}</ClaimsSchema></BuildingBlocks>
<ClaimsProviders>
<ClaimsProvider><DisplayName>OpenID provider</DisplayName><TechnicalProfiles>{technical_profiles}</TechnicalProfiles></ClaimsProvider>
<ClaimsProvider><DisplayName>Token issuer</DisplayName><TechnicalProfiles><TechnicalProfile Id="JwtIssuer"><DisplayName>JWT issuer</DisplayName><Protocol Name="None" /><OutputTokenFormat>JWT</OutputTokenFormat><CryptographicKeys><Key Id="issuer_secret" StorageReferenceId="{TOKEN_SIGNING_KEY}" /></CryptographicKeys></TechnicalProfile></TechnicalProfiles></ClaimsProvider>
</ClaimsProviders>
<UserJourneys>{journeys}</UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="{default_journey}" /><TechnicalProfile Id="PolicyProfile"><DisplayName>PolicyProfile</DisplayName><Protocol Name="OpenIdConnect" /><OutputClaims><OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="sub" /><OutputClaim ClaimTypeReferenceId="email" /><OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="name" /><OutputClaim ClaimTypeReferenceId="identityProvider" PartnerClaimType="idp" /><OutputClaim ClaimTypeReferenceId="authenticationSource" /></OutputClaims><SubjectNamingInfo ClaimType="sub" /></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}
