use std::path::{Path, PathBuf};

use super::*;
use crate::diag::Diagnostic;
use crate::source::{FileId, SourceDb};
use crate::syntax::{decode, parse};

const HEAD: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Test" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Test">"#;

fn policy(body: &str) -> String {
    format!("{HEAD}\n{body}\n</TrustFrameworkPolicy>")
}

fn run(text: &str) -> Vec<Diagnostic> {
    let (root, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "test XML does not parse: {diags:?}");
    check(&root.expect("root"))
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.as_str()).collect()
}

fn slice(text: &str, span: crate::source::Span) -> &str {
    &text[span.start as usize..span.end as usize]
}

fn tp(inner: &str) -> String {
    policy(&format!(
        "<ClaimsProviders><ClaimsProvider><DisplayName>X</DisplayName><TechnicalProfiles>{inner}</TechnicalProfiles></ClaimsProvider></ClaimsProviders>"
    ))
}

fn journey(steps: &str) -> String {
    policy(&format!(
        "<UserJourneys><UserJourney Id=\"J\"><OrchestrationSteps>{steps}</OrchestrationSteps></UserJourney></UserJourneys>"
    ))
}

#[test]
fn the_xsd_compiles_completely() {
    let s = &*SCHEMA;
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    assert!(s.global("TrustFrameworkPolicy").is_some());
    let keys: usize = s.elements.iter().map(|e| e.keys.len()).sum();
    assert_eq!(keys, 20);
    let patterns: usize = s.simple.iter().filter(|t| t.name.as_ref() != "(anonymous)").map(|t| t.patterns.len()).sum();
    assert!(patterns >= 9, "{patterns}");
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            policy_files(&path, out);
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
            out.push(path);
        }
    }
}

/// Sample placeholders that truly violate the XSD (B2C would refuse them until replaced):
/// a hyphen is outside TenantId's `[A-Za-z0-9\.]{3,63}`, and TenantObjectId must be a GUID.
const KNOWN_PLACEHOLDERS: &[&str] = &["tenant-name.onmicrosoft.com", "yourtenant.onmicrosoft.com"];

#[test]
fn every_shared_policy_is_schema_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies");
    assert!(
        root.is_dir(),
        "{} is missing: the ../shared folder (starter pack and samples) is required for this test",
        root.display()
    );
    let mut files = Vec::new();
    policy_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 68, "expected the 68 shared policy files, found {}", files.len());
    let mut db = SourceDb::new();
    let mut failures = Vec::new();
    let mut known = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).expect("read policy");
        let text = decode(&bytes).expect("decode policy");
        let id = db.add(&path, text);
        let (root, diags) = parse(id, &db.file(id).text);
        assert!(diags.is_empty(), "{}: {diags:?}", path.display());
        for d in check(&root.expect("root")) {
            let value = db.slice(d.span);
            if d.code == Code::InvalidAttributeValue && KNOWN_PLACEHOLDERS.contains(&value) {
                known.push(path.clone());
                continue;
            }
            failures.push(format!("{} ({})", d.display(&db), d.help.as_deref().unwrap_or_default()));
        }
    }
    assert!(failures.is_empty(), "{} schema errors:\n{}", failures.len(), failures.join("\n"));
    // 10 remote-profile files use tenant-name (18 values), SignIn_HRD has TenantObjectId="yourtenant...".
    known.dedup();
    assert_eq!(known.len(), 11, "{known:#?}");
}

#[test]
fn a_minimal_policy_is_valid() {
    assert_eq!(run(&policy("")), vec![]);
    assert_eq!(
        run(&tp(r#"<TechnicalProfile Id="A"><Protocol Name="Proprietary" Handler="x"/></TechnicalProfile>"#)),
        vec![]
    );
}

#[test]
fn wrong_order_is_ief102_in_b2c_words() {
    let text = tp(
        r#"<TechnicalProfile Id="A"><Metadata><Item Key="k">v</Item></Metadata><Protocol Name="None"/></TechnicalProfile>"#,
    );
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF102"], "{diags:#?}");
    let d = &diags[0];
    assert_eq!(slice(&text, d.span), "Protocol");
    assert!(
        d.message.starts_with(
            "The element 'TechnicalProfile' has invalid child element 'Protocol'. List of possible elements expected: 'CryptographicKeys, "
        ),
        "{}",
        d.message
    );
}

#[test]
fn unknown_element_suggests_the_near_miss() {
    let text = tp(r#"<TechnicalProfile Id="A"><Protocol Name="None"/><Metdata/></TechnicalProfile>"#);
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF101"], "{diags:#?}");
    assert_eq!(slice(&text, diags[0].span), "Metdata");
    let help = diags[0].help.as_deref().unwrap_or("");
    assert!(help.starts_with("did you mean 'Metadata'? expected one of: 'InputTokenFormat', "), "{help}");
}

#[test]
fn missing_required_attribute_is_ief105() {
    let text = tp(r#"<TechnicalProfile><Protocol Name="None"/></TechnicalProfile>"#);
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF105"]);
    assert_eq!(slice(&text, diags[0].span), "TechnicalProfile");
    assert!(diags[0].message.contains("'Id'"));
}

#[test]
fn bad_enumeration_value_lists_the_allowed_ones() {
    let text = journey(r#"<OrchestrationStep Order="1" Type="ClaimExchange"/>"#);
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF106"], "{diags:#?}");
    assert_eq!(slice(&text, diags[0].span), "ClaimExchange");
    let help = diags[0].help.as_deref().unwrap_or("");
    assert!(help.starts_with("did you mean 'ClaimsExchange'? allowed values: "), "{help}");
    assert!(help.contains("'SendClaims'"), "{help}");
}

#[test]
fn duplicate_technical_profile_id_is_ief107_with_the_first_labelled() {
    let text = policy(
        r#"<ClaimsProviders>
  <ClaimsProvider><DisplayName>A</DisplayName><TechnicalProfiles><TechnicalProfile Id="Same"/></TechnicalProfiles></ClaimsProvider>
  <ClaimsProvider><DisplayName>B</DisplayName><TechnicalProfiles><TechnicalProfile Id="Other"/><TechnicalProfile Id="Same"/></TechnicalProfiles></ClaimsProvider>
</ClaimsProviders>"#,
    );
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF107"], "{diags:#?}");
    let d = &diags[0];
    assert_eq!(slice(&text, d.span), "Same");
    assert_eq!(d.labels.len(), 1);
    assert!(d.labels[0].span.start < d.span.start);
    assert_eq!(slice(&text, d.labels[0].span), "Same");
    assert_eq!(d.message, "Duplicate TechnicalProfile Id 'Same'; it must be unique within 'ClaimsProviders'.");
}

#[test]
fn duplicate_step_order_is_ief107_per_journey() {
    let steps = r#"<OrchestrationStep Order="1" Type="ClaimsExchange"/><OrchestrationStep Order="1" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>"#;
    let diags = run(&journey(steps));
    assert_eq!(codes(&diags), ["IEF107"], "{diags:#?}");
    // The same orders in two journeys are fine.
    let two = policy(
        r#"<UserJourneys>
  <UserJourney Id="A"><OrchestrationSteps><OrchestrationStep Order="1" Type="SendClaims"/></OrchestrationSteps></UserJourney>
  <UserJourney Id="B"><OrchestrationSteps><OrchestrationStep Order="1" Type="SendClaims"/></OrchestrationSteps></UserJourney>
</UserJourneys>"#,
    );
    assert_eq!(run(&two), vec![]);
}

#[test]
fn duplicate_claims_exchange_id_within_a_journey() {
    let steps = r#"<OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="X" TechnicalProfileReferenceId="A"/></ClaimsExchanges></OrchestrationStep>
<OrchestrationStep Order="2" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="X" TechnicalProfileReferenceId="B"/></ClaimsExchanges></OrchestrationStep>"#;
    assert_eq!(codes(&run(&journey(steps))), ["IEF107"]);
}

#[test]
fn too_many_occurrences_is_ief108() {
    let text = tp(
        r#"<TechnicalProfile Id="A"><DisplayName>a</DisplayName><DisplayName>b</DisplayName><Protocol Name="None"/></TechnicalProfile>"#,
    );
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF108"], "{diags:#?}");
    assert_eq!(diags[0].labels.len(), 1);
    assert!(diags[0].span.start > diags[0].labels[0].span.start);
}

#[test]
fn unknown_attribute_is_ief104_and_xmlns_xsi_are_ignored() {
    let text = tp(r#"<TechnicalProfile Id="A" xsi:type="x" Idd="B"><Protocol Nam="None"/></TechnicalProfile>"#);
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF104", "IEF104", "IEF105"], "{diags:#?}");
    assert_eq!(slice(&text, diags[0].span), "Idd");
    assert!(diags[1].help.as_deref().unwrap_or("").starts_with("did you mean 'Name'?"), "{diags:#?}");
}

#[test]
fn wrong_root_or_namespace_is_not_a_policy() {
    let diags = run("<Policy/>");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::NotAPolicy);
    let wrong_ns = HEAD.replace("2013/06", "2014/07");
    let diags = run(&format!("{wrong_ns}</TrustFrameworkPolicy>"));
    assert_eq!(codes(&diags), ["IEF005"]);
    let no_ns = HEAD.replace(r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06""#, "");
    assert_eq!(codes(&run(&format!("{no_ns}</TrustFrameworkPolicy>"))), ["IEF005"]);
    let prefixed = HEAD.replace("<TrustFrameworkPolicy xmlns=", "<p:TrustFrameworkPolicy xmlns:p=");
    assert_eq!(run(&format!("{prefixed}</p:TrustFrameworkPolicy>")), vec![]);
}

#[test]
fn missing_required_children_are_ief103() {
    let text = policy("<BasePolicy><PolicyId>B2C_1A_Base</PolicyId></BasePolicy>");
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF103"], "{diags:#?}");
    assert!(diags[0].message.contains("'TenantId' before 'PolicyId'"), "{}", diags[0].message);
    let text = policy("<BasePolicy><TenantId>contoso.onmicrosoft.com</TenantId></BasePolicy>");
    let diags = run(&text);
    assert_eq!(codes(&diags), ["IEF103"]);
    assert_eq!(
        diags[0].message,
        "The element 'BasePolicy' has incomplete content. List of possible elements expected: 'PolicyId'."
    );
    assert_eq!(slice(&text, diags[0].span), "BasePolicy");
}

#[test]
fn values_are_checked_against_patterns_lengths_and_builtins() {
    let bad_version = HEAD.replace("0.3.0.0", "0.3");
    let diags = run(&format!("{bad_version}</TrustFrameworkPolicy>"));
    assert_eq!(codes(&diags), ["IEF106"]);
    assert!(diags[0].help.as_deref().unwrap_or("").contains("pattern"));
    let steps = r#"<OrchestrationStep Order="first" Type="SendClaims"/>"#;
    assert_eq!(codes(&run(&journey(steps))), ["IEF106"]);
    let text = tp(
        r#"<TechnicalProfile Id="A"><Domains><Domain/></Domains><IncludeInSso>yes</IncludeInSso></TechnicalProfile>"#,
    );
    assert_eq!(codes(&run(&text)), ["IEF106", "IEF106"]);
    let uri = policy(
        r#"<BuildingBlocks><ContentDefinitions><ContentDefinition Id="c"><DataUri>not a uri</DataUri></ContentDefinition></ContentDefinitions></BuildingBlocks>"#,
    );
    assert_eq!(codes(&run(&uri)), ["IEF106"]);
}

#[test]
fn text_content_and_children_where_not_allowed() {
    let text = tp(r#"<TechnicalProfile Id="A">stray<Protocol Name="None"><Extra/></Protocol></TechnicalProfile>"#);
    assert_eq!(codes(&run(&text)), ["IEF106", "IEF101"]);
}

#[test]
fn extensions_accept_anything() {
    let text = tp(
        r#"<TechnicalProfile Id="A"><Extensions><Whatever a="b"><Deep/>text</Whatever></Extensions></TechnicalProfile>"#,
    );
    assert_eq!(run(&text), vec![]);
}

#[test]
fn everything_is_reported_in_one_pass() {
    let text = tp(
        r#"<TechnicalProfile Id="A"><Metadata><Item>v</Item></Metadata><Protocol Name="Nope"/><Bogus/></TechnicalProfile>
<TechnicalProfile Id="A"><InputClaims><InputClaim/></InputClaims></TechnicalProfile>"#,
    );
    let diags = run(&text);
    // Item without Key; Protocol out of order and with a bad Name; Bogus; duplicate Id;
    // InputClaim without ClaimTypeReferenceId.
    assert_eq!(codes(&diags), ["IEF105", "IEF102", "IEF106", "IEF101", "IEF105", "IEF107"], "{diags:#?}");
}

/// Deterministic shuffles and deletions of a real file's tree must never panic.
#[test]
fn mangled_trees_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/policies/starterpack/SocialAndLocalAccounts/TrustFrameworkBase.xml");
    let Ok(bytes) = std::fs::read(&root) else { return };
    let text = decode(&bytes).expect("decode");
    let (Some(base), _) = parse(FileId(0), &text) else { panic!("parse") };
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    fn mangle(el: &mut crate::syntax::Element, next: &mut dyn FnMut() -> u64) {
        let n = el.children.len();
        if n > 1 {
            match next() % 5 {
                0 => el.children.swap((next() % n as u64) as usize, (next() % n as u64) as usize),
                1 => {
                    el.children.to_mut().remove((next() % n as u64) as usize);
                }
                2 => {
                    let c = el.children[(next() % n as u64) as usize].clone();
                    el.children.to_mut().push(c);
                }
                3 => el.name = format!("{}x", el.name).into(),
                _ => {
                    let kept = el.attributes.len().saturating_sub(1);
                    el.attributes = el.attributes[..kept].iter().cloned().collect();
                }
            }
        }
        for c in &mut el.children {
            mangle(c, next);
        }
    }
    let mut with_errors = 0;
    for _ in 0..50 {
        let mut tree = base.clone();
        mangle(&mut tree, &mut next);
        with_errors += usize::from(!check(&tree).is_empty());
    }
    assert!(with_errors >= 40, "{with_errors}");
    assert_eq!(check(&base), vec![]);
}

/// `cargo test --release -p ief-engine schema::tests::timing -- --ignored --nocapture`
/// Constructs the policy XSD does not use (xs:all, complexContent extension, element refs,
/// `.//` selectors, element fields) still compile and check.
#[test]
fn other_xsd_constructs() {
    let xsd = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t">
  <xs:element name="Root">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Bag" type="t:Bag" minOccurs="0"/>
        <xs:element ref="t:Thing" minOccurs="0" maxOccurs="3"/>
        <xs:element name="Derived" type="t:Derived" minOccurs="0"/>
      </xs:sequence>
    </xs:complexType>
    <xs:unique name="K"><xs:selector xpath=".//t:Thing"/><xs:field xpath="t:Name"/></xs:unique>
  </xs:element>
  <xs:element name="Thing"><xs:complexType><xs:sequence><xs:element name="Name" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
  <xs:complexType name="Bag"><xs:all><xs:element name="A" type="xs:int"/><xs:element name="B" minOccurs="0"/></xs:all></xs:complexType>
  <xs:complexType name="Base">
    <xs:sequence><xs:element name="X" type="xs:string"/></xs:sequence>
    <xs:attribute name="id" use="required"/>
  </xs:complexType>
  <xs:complexType name="Derived"><xs:complexContent><xs:extension base="t:Base">
    <xs:sequence><xs:element name="Y" type="xs:boolean"/></xs:sequence>
  </xs:extension></xs:complexContent></xs:complexType>
</xs:schema>"#;
    let schema = compile::compile(xsd);
    assert!(schema.problems.is_empty(), "{:?}", schema.problems);
    let check = |xml: &str| {
        let (root, diags) = parse(FileId(0), xml);
        assert!(diags.is_empty());
        let mut c = validate::Checker { schema: &schema, diags: Vec::new() };
        c.element(&root.expect("root"), schema.global("Root").expect("Root"), 0);
        c.diags
    };
    let good = "<Root><Bag><B><any/></B><A>1</A></Bag><Thing><Name>n</Name></Thing><Thing><Name>m</Name></Thing>\
                <Derived id='1'><X>x</X><Y>true</Y></Derived></Root>";
    assert_eq!(check(good), vec![]);
    let bad = "<Root><Bag><B/><B/></Bag><Thing><Name>n</Name></Thing><Thing><Name>n</Name></Thing>\
               <Thing><Name>o</Name></Thing><Thing><Name>p</Name></Thing><Derived><Y>2</Y><X>x</X></Derived></Root>";
    let diags = check(bad);
    // B twice, A missing; four Things; Derived: no id, Y before X, Y not boolean, so Y missing after X;
    // duplicate Name.
    assert_eq!(
        codes(&diags),
        ["IEF108", "IEF103", "IEF108", "IEF105", "IEF102", "IEF106", "IEF103", "IEF107"],
        "{diags:#?}"
    );
    assert_eq!(diags[7].message, "Duplicate Thing Name 'n'; it must be unique within 'Root'.");
}
