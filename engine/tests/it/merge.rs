//! Inheritance merge, IncludeTechnicalProfile, settings and chain errors on small inline chains.

use ief_engine::{Code, Diagnostics, EffectivePolicy, PolicySet, merge};

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
fn bases_resolve_as_find_does_case_insensitive_and_first_of_duplicates() {
    let set = PolicySet::from_sources([
        ("rp.xml", policy("B2C_1A_RP", Some("b2c_1a_base"), "").as_str()),
        ("base.xml", policy("B2C_1A_Base", None, "").as_str()),
        ("again.xml", policy("B2C_1A_BASE", Some("B2C_1A_Missing"), "").as_str()),
        ("root.xml", policy("B2C_1A_Root", None, "").as_str()),
    ]);
    assert_eq!(set.bases(), [Some(1), None, None, None]);
    assert_eq!(set.firsts(), [0, 1, 1, 3]);
    for (i, f) in set.files.iter().enumerate() {
        assert_eq!(set.find(&f.policy_id), Some(set.firsts()[i]));
    }
    assert_eq!(codes(&set.diagnostics), ["IEF205"]);
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

/// `n` steps from `first`, each exchanging with Reader under the id `X<order>`.
fn steps(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|o| format!(r#"<OrchestrationStep Order="{o}" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="X{o}" TechnicalProfileReferenceId="Reader"/></ClaimsExchanges></OrchestrationStep>"#))
        .collect()
}

fn journey(steps: &str) -> String {
    format!(
        r#"<UserJourneys><UserJourney Id="J"><OrchestrationSteps>{steps}</OrchestrationSteps></UserJourney></UserJourneys>"#
    )
}

fn claim_types(body: &str) -> String {
    format!("<BuildingBlocks><ClaimsSchema>{body}</ClaimsSchema></BuildingBlocks>")
}

fn reader_outputs(claims: &[&str]) -> String {
    let claims: String = claims.iter().map(|c| format!(r#"<OutputClaim ClaimTypeReferenceId="{c}"/>"#)).collect();
    format!(
        r#"<ClaimsProviders><ClaimsProvider><DisplayName>Base</DisplayName><TechnicalProfiles><TechnicalProfile Id="Reader"><OutputClaims>{claims}</OutputClaims></TechnicalProfile></TechnicalProfiles></ClaimsProvider></ClaimsProviders>"#
    )
}

/// The chain's model, after checking it builds without errors and that `merge_chain` merges it
/// exactly as the files layered one at a time on fresh copies (no index carried from one file
/// to the next), spans included.
fn build_as_layered(files: &[(&str, String)]) -> ief_engine::model::Policy {
    let (set, effective, diags) = build(files);
    assert!(!diags.has_errors(), "{diags:?}");
    let roots: Vec<_> = set.files.iter().map(|f| &f.root).collect();
    let mut layered = roots[1..].iter().fold(roots[0].clone(), |acc, overlay| merge::layer(&acc, overlay));
    layered.children.to_mut().retain(|c| c.name != "BasePolicy");
    assert!(
        merge::merge_chain(roots.iter().copied()) == Some(layered),
        "merge_chain differs from layering file by file"
    );
    effective.expect("effective").model
}

/// Long lists (more items than the merge keeps an index for across files) overridden, appended
/// to and listed out of order by two overlays in turn: each file merges into what the files
/// before it made, including the items they appended.
/// The base with long lists: claim types c0 to c79 before its own three, and steps 2 to 90.
fn long_base() -> String {
    let many: String =
        (0..80).map(|i| format!(r#"<ClaimType Id="c{i}"><DataType>string</DataType></ClaimType>"#)).collect();
    BASE_BODY.replace(r#"<ClaimType Id="objectId">"#, &format!(r#"{many}<ClaimType Id="objectId">"#)).replace(
        r#"<OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>"#,
        &steps(2, 89),
    )
}

/// A step's preconditions: skip it when `claim` exists.
fn skip_if(claim: &str) -> String {
    format!(
        r#"<Preconditions><Precondition Type="ClaimsExist" ExecuteActionsIf="true"><Value>{claim}</Value><Action>SkipThisOrchestrationStep</Action></Precondition></Preconditions>"#
    )
}

/// The (Id, TechnicalProfileReferenceId) of each exchange of the step in position `order`.
fn exchanges(j: &ief_engine::model::Journey, order: usize) -> Vec<(&str, &str)> {
    j.steps[order - 1].exchanges.iter().map(|e| (e.id.value.as_str(), e.profile.value.as_str())).collect()
}

#[test]
fn three_files_override_and_append_the_same_long_journey_and_claims() {
    let base = long_base();
    let ext = format!(
        "{}{}{}",
        claim_types(
            r#"<ClaimType Id="c5"><DisplayName>five</DisplayName></ClaimType><ClaimType Id="c80"><DataType>string</DataType></ClaimType>"#
        ),
        reader_outputs(&["c1"]),
        journey(&format!(
            r#"<OrchestrationStep Order="10" Type="ClaimsExchange">{}</OrchestrationStep>{}<OrchestrationStep Order="90" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="X90" TechnicalProfileReferenceId="Common"/></ClaimsExchanges></OrchestrationStep>"#,
            skip_if("c1"),
            steps(91, 5)
        )),
    );
    let leaf = format!(
        "{}{}{}{RP}",
        claim_types(
            r#"<ClaimType Id="c80"><DisplayName>eighty</DisplayName></ClaimType><ClaimType Id="c0"><DisplayName>zero</DisplayName></ClaimType>"#
        ),
        reader_outputs(&["c1", "email", "objectId"]),
        journey(&format!(
            r#"<OrchestrationStep Order="96" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
            <OrchestrationStep Order="93" Type="ClaimsExchange">{}</OrchestrationStep>
            <OrchestrationStep Order="10" Type="ClaimsExchange">{}</OrchestrationStep>"#,
            skip_if("c80"),
            skip_if("c0")
        )),
    );
    let model = build_as_layered(&[
        ("base.xml", policy("B2C_1A_Base", None, &base)),
        ("ext.xml", policy("B2C_1A_Ext", Some("B2C_1A_Base"), &ext)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Ext"), &leaf)),
    ]);
    let j = model.journey("J").unwrap();
    // 90 from the base, 91-95 appended by the extension, 96 by the leaf, in order.
    assert_eq!(j.steps.iter().map(|s| s.order).collect::<Vec<_>>(), (1..=96u32).collect::<Vec<_>>());
    assert_eq!(exchanges(j, 90), [("X90", "Common")], "the extension overrides the base's exchange by Id");
    assert_eq!(exchanges(j, 89), [("X89", "Reader")]);
    assert_eq!(exchanges(j, 93), [("X93", "Reader")]);
    assert_eq!(j.steps[92].preconditions.len(), 1, "the leaf adds a precondition to a step the extension appended");
    assert_eq!(j.steps[9].preconditions.len(), 1, "preconditions are replaced whole");
    assert_eq!(j.steps[9].preconditions[0].values.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["c0"]);
    assert!(j.steps[10].preconditions.is_empty());
    assert_eq!(j.steps[95].exchanges.len(), 0);
    // Claims schema: the base's 83 (c0 to c79, objectId, email, color), one appended by the extension and renamed by the leaf.
    assert_eq!(model.claim_types.len(), 84);
    assert_eq!(model.claim("c5").unwrap().display_name.as_deref(), Some("five"));
    assert_eq!(model.claim("c0").unwrap().display_name.as_deref(), Some("zero"));
    assert_eq!(model.claim("c80").unwrap().display_name.as_deref(), Some("eighty"));
    // Output claims: the extension appends c1; the leaf re-lists them all, so its order wins.
    let reader = model.profile("Reader").unwrap();
    let outputs: Vec<&str> = reader.output_claims.iter().map(|c| c.claim.value.as_str()).collect();
    assert_eq!(outputs, ["c1", "email", "objectId"]);
}

const SEND_95: &str =
    r#"<OrchestrationStep Order="95" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>"#;

/// Steps a file appends to a long journey join the merged tree as its own elements: the merged
/// list points at that file's attributes and children instead of copying them.
#[test]
fn appended_steps_share_their_file_attributes_and_children() {
    let files = [
        ("base.xml", policy("B2C_1A_Base", None, &long_base())),
        (
            "rp.xml",
            policy(
                "B2C_1A_RP",
                Some("B2C_1A_Base"),
                &format!("{}{RP}", journey(&format!("{}{SEND_95}", steps(91, 4)))),
            ),
        ),
    ];
    build_as_layered(&files);
    let (set, effective, _) = build(&files);
    let tree = effective.expect("effective").tree;
    let steps_of = |root: &ief_engine::syntax::Element| {
        let journey = root.child("UserJourneys").and_then(|u| u.child("UserJourney")).expect("a journey");
        journey.child("OrchestrationSteps").expect("steps").children.clone()
    };
    let (merged, appended) = (steps_of(&tree), steps_of(&set.files[1].root));
    assert_eq!(merged.len(), 95);
    assert_eq!(appended.len(), 5);
    for (m, a) in merged[90..].iter().zip(appended.iter()) {
        assert_eq!(m, a);
        assert!(
            std::ptr::eq(m.attributes.as_ptr(), a.attributes.as_ptr()),
            "step {:?}: attributes copied",
            m.attr("Order")
        );
        let children_shared = a.children.is_empty() || std::ptr::eq(m.children.as_ptr(), a.children.as_ptr());
        assert!(children_shared, "step {:?}: children copied", m.attr("Order"));
    }
}

/// `n` claims transformations from `first`, each creating claim `c<i>` from a constant.
fn transforms(first: usize, n: usize, value: &str) -> String {
    (first..first + n)
        .map(|i| format!(r#"<ClaimsTransformation Id="T{i}" TransformationMethod="CreateStringClaim"><InputParameters><InputParameter Id="value" DataType="string" Value="{value}{i}"/></InputParameters><OutputClaims><OutputClaim ClaimTypeReferenceId="c{i}" TransformationClaimType="createdClaim"/></OutputClaims></ClaimsTransformation>"#))
        .collect()
}

/// A middle file of a four-file chain lists items of long keyed lists out of order, replaces
/// some whole (claims transformations, preconditions), adds an element before them (its
/// parent's children move) and appends; the next files merge into those items again. The
/// indexes kept across files must give what layering the files one at a time gives.
#[test]
fn a_middle_file_reorders_and_replaces_items_of_long_lists() {
    let base = long_base().replace(
        "</ClaimsSchema>",
        &format!("</ClaimsSchema><ClaimsTransformations>{}</ClaimsTransformations>", transforms(0, 80, "base")),
    );
    let middle = format!(
        r#"<BuildingBlocks><ClaimsSchema><ClaimType Id="c70"><DisplayName>seventy</DisplayName></ClaimType><ClaimType Id="c80"><DataType>string</DataType></ClaimType><ClaimType Id="c81"><DataType>string</DataType></ClaimType><ClaimType Id="c2"><DisplayName>two</DisplayName></ClaimType></ClaimsSchema><Predicates><Predicate Id="P" Method="IsLengthRange"><Parameters><Parameter Id="Minimum">1</Parameter><Parameter Id="Maximum">9</Parameter></Parameters></Predicate></Predicates><ClaimsTransformations>{}{}{}</ClaimsTransformations></BuildingBlocks>{}"#,
        transforms(60, 1, "middle"),
        transforms(80, 2, "new"),
        transforms(10, 1, "middle"),
        journey(&format!(
            r#"<OrchestrationStep Order="70" Type="ClaimsExchange">{}</OrchestrationStep>{}<OrchestrationStep Order="3" Type="ClaimsExchange">{}<ClaimsExchanges><ClaimsExchange Id="X3" TechnicalProfileReferenceId="Common"/></ClaimsExchanges></OrchestrationStep><OrchestrationStep Order="45" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="X45" TechnicalProfileReferenceId="Common"/></ClaimsExchanges></OrchestrationStep>"#,
            skip_if("c70"),
            steps(91, 4),
            skip_if("c3"),
        )),
    );
    let third = format!(
        "{}{}",
        claim_types(r#"<ClaimType Id="c2"><DisplayName>two again</DisplayName></ClaimType><ClaimType Id="c80"><DisplayName>eighty</DisplayName></ClaimType>"#)
            .replace("</ClaimsSchema>", &format!("</ClaimsSchema><ClaimsTransformations>{}</ClaimsTransformations>", transforms(81, 1, "third") + &transforms(10, 1, "third"))),
        journey(&format!(
            r#"<OrchestrationStep Order="94" Type="ClaimsExchange">{}</OrchestrationStep><OrchestrationStep Order="70" Type="ClaimsExchange">{}</OrchestrationStep>"#,
            skip_if("c4"),
            skip_if("c1")
        )),
    );
    let leaf = format!(
        "{}{RP}",
        journey(&format!(
            r#"<OrchestrationStep Order="3" Type="ClaimsExchange">{}</OrchestrationStep><OrchestrationStep Order="95" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>"#,
            skip_if("c0")
        )),
    );
    let model = build_as_layered(&[
        ("base.xml", policy("B2C_1A_Base", None, &base)),
        ("middle.xml", policy("B2C_1A_Middle", Some("B2C_1A_Base"), &middle)),
        ("third.xml", policy("B2C_1A_Third", Some("B2C_1A_Middle"), &third)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Third"), &leaf)),
    ]);
    let j = model.journey("J").unwrap();
    assert_eq!(j.steps.iter().map(|s| s.order).collect::<Vec<_>>(), (1..=95u32).collect::<Vec<_>>());
    let skipped_if = |order: usize| -> Vec<&str> {
        j.steps[order - 1].preconditions.iter().flat_map(|p| p.values.iter().map(|v| v.value.as_str())).collect()
    };
    assert_eq!(skipped_if(70), ["c1"], "the third file replaces the preconditions the middle one set");
    assert_eq!(skipped_if(3), ["c0"]);
    assert_eq!(skipped_if(94), ["c4"], "a step the middle file appended takes the third file's preconditions");
    assert_eq!(exchanges(j, 3), [("X3", "Common")]);
    assert_eq!(exchanges(j, 45), [("X45", "Common")], "the middle file re-points step 45's exchange");
    assert_eq!(exchanges(j, 46), [("X46", "Reader")]);
    assert_eq!(model.claim("c70").unwrap().display_name.as_deref(), Some("seventy"));
    assert_eq!(model.claim("c2").unwrap().display_name.as_deref(), Some("two again"));
    assert_eq!(model.claim("c80").unwrap().display_name.as_deref(), Some("eighty"));
    let value = |id: &str| {
        let t = model.transformation(id).unwrap();
        t.params.iter().map(|p| p.value.value.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(value("T10"), ["third10"], "replaced whole by the middle file, then by the third");
    assert_eq!(value("T60"), ["middle60"]);
    assert_eq!(value("T81"), ["third81"], "appended by the middle file, replaced by the third");
    assert_eq!(value("T79"), ["base79"]);
}

#[test]
fn an_including_profile_claim_replaces_the_included_one_whole() {
    // Common reads email from `mail`; Reader re-lists email bare, so it reads `email` itself.
    let body = BASE_BODY.replace(
        r#"<Metadata><Item Key="A">base</Item><Item Key="B">base</Item></Metadata>
    </TechnicalProfile>"#,
        r#"<Metadata><Item Key="A">base</Item><Item Key="B">base</Item></Metadata>
      <OutputClaims><OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="mail"/><OutputClaim ClaimTypeReferenceId="color" PartnerClaimType="hue"/></OutputClaims>
    </TechnicalProfile>"#,
    );
    // Across the chain's files a re-listed claim still merges attribute by attribute.
    let ext = r#"<ClaimsProviders><ClaimsProvider><DisplayName>Ext</DisplayName><TechnicalProfiles>
      <TechnicalProfile Id="Common"><OutputClaims><OutputClaim ClaimTypeReferenceId="color" DefaultValue="red"/></OutputClaims></TechnicalProfile>
    </TechnicalProfiles></ClaimsProvider></ClaimsProviders>"#;
    let (_, effective, diags) = build(&[
        ("base.xml", policy("B2C_1A_Base", None, &body)),
        ("rp.xml", policy("B2C_1A_RP", Some("B2C_1A_Base"), &format!("{ext}{RP}"))),
    ]);
    assert!(!diags.has_errors(), "{diags:?}");
    let model = effective.expect("effective").model;
    let partner = |profile: &str, claim: &str| {
        let tp = model.profile(profile).unwrap();
        let oc = tp.output_claims.iter().find(|c| c.claim.value == claim).expect("the claim");
        oc.partner_claim_type.as_ref().map(|p| p.value.to_string())
    };
    assert_eq!(partner("Common", "email").as_deref(), Some("mail"));
    assert_eq!(partner("Common", "color").as_deref(), Some("hue"));
    assert_eq!(partner("Reader", "email"), None);
    // What Reader does not re-list comes from Common as it is.
    assert_eq!(partner("Reader", "color").as_deref(), Some("hue"));
}
