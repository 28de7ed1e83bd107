//! `ief merge` output read back gives the values the policy files hold, for arbitrary attribute
//! and text content (a seeded generator; each failure prints its seed and input).

use ief_engine::source::FileId;
use ief_engine::syntax::{self, Element};
use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};

const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com""#;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces that XML treats specially (line ends, tabs, markup, quotes, CDATA ends) mixed with
/// plain and non-ASCII text.
const PIECES: &[&str] = &[
    "a", "Z", "0", " ", "  ", "\n", "\r", "\r\n", "\t", "&", "<", ">", "\"", "'", "]]>", "&amp;", "{0}", "}", "é",
    "😀", "\u{FFFD}", "\u{85}", "\u{2028}", "\u{A0}", "x y",
];

fn arbitrary(rng: &mut Rng) -> String {
    (0..rng.below(12)).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

/// Escapes a value for a policy file so that a conforming parser reads back exactly `value`.
fn escape(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\n' | '\r' | '\t' => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

fn files(attr: &str, text: &str, child_text: &str) -> [(&'static str, String); 2] {
    let (attr, text, child_text) = (escape(attr), escape(text), escape(child_text));
    let base = format!(
        r#"<TrustFrameworkPolicy {NS} PolicyId="B2C_1A_base" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_base">
<ClaimsProviders><ClaimsProvider><DisplayName>Base</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Tp"><DisplayName>{text}</DisplayName><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="{attr}">{text}</Item></Metadata></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders></TrustFrameworkPolicy>"#
    );
    let rp = format!(
        r#"<TrustFrameworkPolicy {NS} PolicyId="B2C_1A_rp" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_rp">
<BasePolicy><TenantId>contoso.onmicrosoft.com</TenantId><PolicyId>B2C_1A_base</PolicyId></BasePolicy>
<ClaimsProviders><ClaimsProvider><DisplayName>Rp</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Tp"><Metadata><Item Key="Other">{child_text}</Item></Metadata></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<RelyingParty><DefaultUserJourney ReferenceId="J"/><TechnicalProfile Id="PolicyProfile"><DisplayName>{text}</DisplayName><Protocol Name="OpenIdConnect"/><SubjectNamingInfo ClaimType="{attr}"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    );
    [("base.xml", base), ("rp.xml", rp)]
}

fn merged(files: &[(&'static str, String)]) -> Element {
    let set = PolicySet::from_sources(files.iter().map(|(n, t)| (*n, t.as_str())));
    let syntax: Vec<_> = set.diagnostics.iter().filter(|d| d.code.as_str() == "IEF003").collect();
    assert!(syntax.is_empty(), "{syntax:?}");
    let leaf = set.relying_parties().next().expect("a relying party");
    EffectivePolicy::build(&set, leaf, &mut Diagnostics::default()).expect("a merged tree").tree
}

/// What the checks compare: the technical profile's items and names, the relying party's.
fn values(root: &Element) -> Vec<(String, String)> {
    let tp = root
        .child("ClaimsProviders")
        .into_iter()
        .flat_map(|c| c.children_named("ClaimsProvider"))
        .flat_map(|c| c.items("TechnicalProfiles", "TechnicalProfile"))
        .find(|t| t.attr("Id") == Some("Tp"))
        .expect("the technical profile");
    let rp = root.child("RelyingParty").and_then(|r| r.child("TechnicalProfile")).expect("the relying party");
    let mut out: Vec<(String, String)> =
        tp.items("Metadata", "Item").map(|i| (i.attr("Key").unwrap_or("").to_owned(), i.text().to_owned())).collect();
    out.push(("tp".into(), tp.child_text("DisplayName").unwrap_or("").to_owned()));
    out.push(("rp".into(), rp.child_text("DisplayName").unwrap_or("").to_owned()));
    out.push(("subject".into(), rp.child("SubjectNamingInfo").and_then(|s| s.attr("ClaimType")).unwrap_or("").into()));
    out
}

#[test]
fn merge_output_reads_back_to_the_same_values() {
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (attr, text, child_text) = (arbitrary(&mut rng), arbitrary(&mut rng), arbitrary(&mut rng));
        let files = files(&attr, &text, &child_text);
        let tree = merged(&files);
        let expected = values(&tree);
        // The values the files hold: attributes exactly, text trimmed (the parser trims).
        assert!(expected.contains(&(attr.clone(), text.trim().to_owned())), "seed {seed}: {expected:?}");
        assert!(expected.contains(&("subject".to_owned(), attr.clone())), "seed {seed}");
        let written = syntax::write_xml(&tree);
        let (again, diags) = syntax::parse(FileId(0), &written);
        assert!(diags.is_empty(), "seed {seed}: {diags:?}\n{written}");
        assert_eq!(
            values(&again.expect("a root")),
            expected,
            "seed {seed}: {attr:?} {text:?} {child_text:?}\n{written}"
        );
    }
}

#[test]
fn line_ends_and_tabs_survive_merge() {
    let files = files("a\tb\nc\rd", "one\r\ntwo\rthree\tfour", "x");
    let written = syntax::write_xml(&merged(&files));
    assert!(written.contains(r#"Key="a&#9;b&#10;c&#13;d""#), "{written}");
    let (again, _) = syntax::parse(FileId(0), &written);
    assert!(values(&again.unwrap()).contains(&("a\tb\nc\rd".to_owned(), "one\r\ntwo\rthree\tfour".to_owned())));
}
