//! Inheritance merge, IncludeTechnicalProfile, settings and chain errors on small inline chains.

use ief_engine::{Code, Diagnostics, EffectivePolicy, PolicySet};

const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com""#;

fn policy(id: &str, base: Option<&str>, body: &str) -> String {
    let base = base.map_or(String::new(), |b| {
        format!("<BasePolicy><TenantId>contoso.onmicrosoft.com</TenantId><PolicyId>{b}</PolicyId></BasePolicy>")
    });
    format!(
        r#"<TrustFrameworkPolicy {NS} PolicyId="{id}" PublicPolicyUri="http://contoso.onmicrosoft.com/{id}">{base}{body}</TrustFrameworkPolicy>"#
    )
}

const BASE_BODY: &str = r#"
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
  <ClaimType Id="email"><DataType>string</DataType></ClaimType>
  <ClaimType Id="color"><DataType>string</DataType><Restriction><Enumeration Text="Red" Value="red"/></Restriction></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders>
  <ClaimsProvider><DisplayName>Base</DisplayName><TechnicalProfiles>
    <TechnicalProfile Id="Common">
      <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
      <Metadata><Item Key="A">base</Item><Item Key="B">base</Item></Metadata>
    </TechnicalProfile>
    <TechnicalProfile Id="Reader">
      <Metadata><Item Key="B">reader</Item></Metadata>
      <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId"/><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims>
      <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Common"/></ValidationTechnicalProfiles>
      <IncludeTechnicalProfile ReferenceId="Common"/>
    </TechnicalProfile>
    <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
  </TechnicalProfiles></ClaimsProvider>
</ClaimsProviders>
<UserJourneys><UserJourney Id="J"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="Read" TechnicalProfileReferenceId="Reader"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>"#;

const RP: &str = r#"<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub"/></OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>"#;

fn build(files: &[(&str, String)]) -> (PolicySet, Option<EffectivePolicy>, Diagnostics) {
    let set = PolicySet::from_sources(files.iter().map(|(n, t)| (*n, t.as_str())));
    let mut diags = set.diagnostics.clone();
    let leaf = set.relying_parties().next().expect("a relying party");
    let effective = EffectivePolicy::build(&set, leaf, &mut diags);
    (set, effective, diags)
}

fn codes(d: &Diagnostics) -> Vec<&'static str> {
    d.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn child_overrides_merge_by_key_and_includes_layer_on_top() {
    let ext = r#"<ClaimsProviders><ClaimsProvider><DisplayName>Other name</DisplayName><TechnicalProfiles>
      <TechnicalProfile Id="Common"><Metadata><Item Key="A">child</Item><Item Key="C">child</Item></Metadata></TechnicalProfile>
      <TechnicalProfile Id="Reader"><ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Common"/></ValidationTechnicalProfiles></TechnicalProfile>
    </TechnicalProfiles></ClaimsProvider></ClaimsProviders>"#;
    let (_, effective, diags) = build(&[
        ("base.xml", policy("B2C_1A_Base", None, BASE_BODY)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Base"), &format!("{ext}{RP}"))),
    ]);
    assert!(!diags.has_errors(), "{diags:?}");
    let model = effective.expect("effective").model;
    let common = model.profile("Common").unwrap();
    // Metadata merges by key across the chain, whatever ClaimsProvider wraps the override.
    assert_eq!(common.metadata("A"), Some("child"));
    assert_eq!(common.metadata("B"), Some("base"));
    assert_eq!(common.metadata("C"), Some("child"));
    let reader = model.profile("Reader").unwrap();
    // IncludeTechnicalProfile: protocol and metadata from Common (after the child's override), own keys on top.
    assert!(reader.protocol.is_some());
    assert_eq!(reader.metadata("A"), Some("child"));
    assert_eq!(reader.metadata("B"), Some("reader"));
    // Validation profiles concatenate: listed in base and child, it runs twice.
    assert_eq!(reader.validation_profiles.len(), 2);
}

#[test]
fn journeys_merge_step_by_step_and_enumerations_follow_merge_behavior() {
    let ext = r#"<BuildingBlocks><ClaimsSchema><ClaimType Id="color"><Restriction MergeBehavior="Append"><Enumeration Text="Blue" Value="blue"/></Restriction></ClaimType></ClaimsSchema></BuildingBlocks>
    <UserJourneys><UserJourney Id="J"><OrchestrationSteps>
      <OrchestrationStep Order="1" Type="ClaimsExchange"><Preconditions><Precondition Type="ClaimsExist" ExecuteActionsIf="true"><Value>objectId</Value><Action>SkipThisOrchestrationStep</Action></Precondition></Preconditions></OrchestrationStep>
    </OrchestrationSteps></UserJourney></UserJourneys>"#;
    let (_, effective, diags) = build(&[
        ("base.xml", policy("B2C_1A_Base", None, BASE_BODY)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Base"), &format!("{ext}{RP}"))),
    ]);
    assert!(!diags.has_errors(), "{diags:?}");
    let model = effective.expect("effective").model;
    let j = model.journey("J").unwrap();
    assert_eq!(j.steps.len(), 2);
    assert_eq!(j.steps[0].preconditions.len(), 1, "precondition added to the base's step 1");
    assert_eq!(j.steps[0].exchanges.len(), 1, "the base's exchange is kept");
    let color = model.claim("color").unwrap();
    let values: Vec<&str> = color.restriction.as_ref().unwrap().enumerations.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(values, ["red", "blue"]);
}

#[test]
fn chain_errors_are_reported_with_positions() {
    let (set, _, diags) = build(&[
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Bsae"), RP)),
        ("base.xml", policy("B2C_1A_Base", None, BASE_BODY)),
    ]);
    assert_eq!(codes(&diags), ["IEF201"]);
    let d = diags.iter().next().unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean 'B2C_1A_Base'?"));
    assert_eq!(set.db.slice(d.span), "B2C_1A_Bsae");

    let a = policy("B2C_1A_A", Some("B2C_1A_B"), RP);
    let b = policy("B2C_1A_B", Some("B2C_1A_A"), "");
    let (_, _, diags) = build(&[("a.xml", a), ("b.xml", b)]);
    assert!(codes(&diags).contains(&"IEF202"), "{diags:?}");

    let other_tenant =
        policy("B2C_1A_Base", None, BASE_BODY).replacen("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", 1);
    let (_, _, diags) = build(&[("base.xml", other_tenant), ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Base"), RP))]);
    assert!(codes(&diags).contains(&"IEF204"), "{diags:?}");
}

#[test]
fn chains_deeper_than_ten_files_are_refused() {
    let mut files = vec![("f0.xml".to_owned(), policy("B2C_1A_P0", None, BASE_BODY))];
    for i in 1..=10 {
        let body = if i == 10 { RP } else { "" };
        files.push((format!("f{i}.xml"), policy(&format!("B2C_1A_P{i}"), Some(&format!("B2C_1A_P{}", i - 1)), body)));
    }
    let refs: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let (_, _, diags) = build(&refs);
    assert!(diags.iter().any(|d| d.code == Code::ChainTooDeep), "{diags:?}");
}

#[test]
fn merged_tree_prints_as_one_valid_document() {
    let (_, effective, _) = build(&[
        ("base.xml", policy("B2C_1A_Base", None, BASE_BODY)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Base"), RP)),
    ]);
    let xml = ief_engine::syntax::write_xml(&effective.unwrap().tree);
    assert!(xml.contains(r#"PolicyId="B2C_1A_RP""#) && !xml.contains("BasePolicy"));
    // The printed effective policy loads on its own, with no errors.
    let set = PolicySet::from_sources([("merged.xml", xml.as_str())]);
    let mut diags = set.diagnostics.clone();
    EffectivePolicy::build(&set, 0, &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
}
