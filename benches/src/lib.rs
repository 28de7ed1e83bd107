//! Inputs shared by the benchmarks: a generator of self-contained policies with a journey of
//! any length, CPU-time readings ([`cpu`]) and the median of rounds.

pub mod cpu;

use std::fmt::Write as _;

/// The median of rounds (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// B2C's per-file limit (the engine's `syntax::MAX_FILE_BYTES`).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// What a generated file may use; leaves room under the limit for the headers.
const FILE_BUDGET: usize = MAX_FILE_BYTES - 16 * 1024;

const TENANT: &str = "bench.onmicrosoft.com";
const NAMESPACES: &str = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06""#;
const CT_HANDLER: &str = "Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null";

/// The journey's id in every generated policy.
pub const JOURNEY_ID: &str = "BenchJourney";

/// A generated policy: its files as `(name, text)`, root first, relying party last.
#[derive(Debug, Clone)]
pub struct GeneratedPolicy {
    pub files: Vec<(String, String)>,
    pub steps: usize,
}

impl GeneratedPolicy {
    /// The `(name, text)` pairs `PolicySet::from_sources` takes.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(n, t)| (n.as_str(), t.as_str()))
    }

    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|(_, t)| t.len()).sum()
    }

    pub fn largest_file_bytes(&self) -> usize {
        self.files.iter().map(|(_, t)| t.len()).max().unwrap_or(0)
    }
}

/// (Id, DataType) of the claims schema.
const CLAIMS: &[(&str, &str)] = &[
    ("objectId", "string"),
    ("email", "string"),
    ("displayName", "string"),
    ("givenName", "string"),
    ("surname", "string"),
    ("identityProvider", "string"),
    ("issuerUserId", "string"),
    ("alternativeSecurityId", "string"),
    ("upn", "string"),
    ("rolesCsv", "string"),
    ("roles", "stringCollection"),
    ("isAdmin", "boolean"),
    ("emailVerified", "boolean"),
    ("tenantId", "string"),
];

/// (Id, method, inputs (claim, slot), params (id, type, value), outputs (claim, slot)).
type Transform = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

const TRANSFORMS: &[Transform] = &[
    (
        "LowerEmail",
        "ChangeCase",
        &[("email", "inputClaim1")],
        &[("toCase", "string", "LOWER")],
        &[("email", "outputClaim")],
    ),
    (
        "CreateAltSecId",
        "CreateAlternativeSecurityId",
        &[("issuerUserId", "key"), ("identityProvider", "identityProvider")],
        &[],
        &[("alternativeSecurityId", "alternativeSecurityId")],
    ),
    (
        "CreateUpn",
        "FormatStringClaim",
        &[("objectId", "inputClaim")],
        &[("stringFormat", "string", "cpim_{0}@{RelyingPartyTenantId}")],
        &[("upn", "outputClaim")],
    ),
    (
        "SplitRoles",
        "StringSplit",
        &[("rolesCsv", "inputClaim")],
        &[("delimiter", "string", ",")],
        &[("roles", "outputClaim")],
    ),
    (
        "CheckAdmin",
        "CompareClaimToValue",
        &[("displayName", "inputClaim1")],
        &[("compareTo", "string", "admin"), ("operator", "string", "equal"), ("ignoreCase", "string", "true")],
        &[("isAdmin", "outputClaim")],
    ),
    (
        "CreateTenantId",
        "CreateStringClaim",
        &[],
        &[("value", "string", "bench-tenant")],
        &[("tenantId", "createdClaim")],
    ),
];

/// (Id, output claims with default values, output transformations).
type Profile = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str]);

const PROFILES: &[Profile] = &[
    (
        "CT-Identity",
        &[
            ("objectId", "00000000-0000-0000-0000-000000000001"),
            ("issuerUserId", "1234567890"),
            ("identityProvider", "facebook.com"),
            ("alternativeSecurityId", ""),
            ("upn", ""),
        ],
        &["CreateAltSecId", "CreateUpn"],
    ),
    (
        "CT-Profile",
        &[
            ("email", "Someone@Example.com"),
            ("displayName", "Admin"),
            ("givenName", "Some"),
            ("surname", "One"),
            ("emailVerified", "true"),
        ],
        &["LowerEmail", "CheckAdmin"],
    ),
    (
        "CT-Roles",
        &[("rolesCsv", "reader,writer,admin"), ("roles", ""), ("tenantId", "")],
        &["SplitRoles", "CreateTenantId"],
    ),
];

fn header(out: &mut String, policy_id: &str, base: Option<&str>) {
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="utf-8" ?>"#);
    let _ = writeln!(
        out,
        r#"<TrustFrameworkPolicy {NAMESPACES} PolicySchemaVersion="0.3.0.0" TenantId="{TENANT}" PolicyId="{policy_id}" PublicPolicyUri="http://{TENANT}/{policy_id}">"#
    );
    if let Some(base) = base {
        let _ = writeln!(
            out,
            "  <BasePolicy>\n    <TenantId>{TENANT}</TenantId>\n    <PolicyId>{base}</PolicyId>\n  </BasePolicy>"
        );
    }
}

fn building_blocks(out: &mut String) {
    out.push_str("  <BuildingBlocks>\n    <ClaimsSchema>\n");
    for (id, data_type) in CLAIMS {
        let _ = writeln!(
            out,
            "      <ClaimType Id=\"{id}\">\n        <DisplayName>{id}</DisplayName>\n        <DataType>{data_type}</DataType>\n      </ClaimType>"
        );
    }
    out.push_str("    </ClaimsSchema>\n    <ClaimsTransformations>\n");
    for (id, method, inputs, params, outputs) in TRANSFORMS {
        let _ = writeln!(out, "      <ClaimsTransformation Id=\"{id}\" TransformationMethod=\"{method}\">");
        let claims = |out: &mut String, list: &str, item: &str, claims: &[(&str, &str)]| {
            if claims.is_empty() {
                return;
            }
            let _ = writeln!(out, "        <{list}>");
            for (claim, slot) in claims {
                let _ = writeln!(
                    out,
                    "          <{item} ClaimTypeReferenceId=\"{claim}\" TransformationClaimType=\"{slot}\" />"
                );
            }
            let _ = writeln!(out, "        </{list}>");
        };
        claims(out, "InputClaims", "InputClaim", inputs);
        if !params.is_empty() {
            out.push_str("        <InputParameters>\n");
            for (pid, dt, value) in *params {
                let _ = writeln!(out, "          <InputParameter Id=\"{pid}\" DataType=\"{dt}\" Value=\"{value}\" />");
            }
            out.push_str("        </InputParameters>\n");
        }
        claims(out, "OutputClaims", "OutputClaim", outputs);
        out.push_str("      </ClaimsTransformation>\n");
    }
    out.push_str("    </ClaimsTransformations>\n  </BuildingBlocks>\n");
}

fn claims_providers(out: &mut String) {
    out.push_str("  <ClaimsProviders>\n    <ClaimsProvider>\n      <DisplayName>Bench claims</DisplayName>\n      <TechnicalProfiles>\n");
    for (id, outputs, transforms) in PROFILES {
        let _ = writeln!(
            out,
            "        <TechnicalProfile Id=\"{id}\">\n          <DisplayName>{id}</DisplayName>\n          <Protocol Name=\"Proprietary\" Handler=\"{CT_HANDLER}\" />\n          <OutputClaims>"
        );
        for (claim, default) in *outputs {
            if default.is_empty() {
                let _ = writeln!(out, "            <OutputClaim ClaimTypeReferenceId=\"{claim}\" />");
            } else {
                let _ = writeln!(
                    out,
                    "            <OutputClaim ClaimTypeReferenceId=\"{claim}\" DefaultValue=\"{default}\" />"
                );
            }
        }
        out.push_str("          </OutputClaims>\n          <OutputClaimsTransformations>\n");
        for t in *transforms {
            let _ = writeln!(out, "            <OutputClaimsTransformation ReferenceId=\"{t}\" />");
        }
        out.push_str("          </OutputClaimsTransformations>\n        </TechnicalProfile>\n");
    }
    out.push_str(
        r#"        <TechnicalProfile Id="JwtIssuer">
          <DisplayName>JWT Issuer</DisplayName>
          <Protocol Name="OpenIdConnect" />
          <OutputTokenFormat>JWT</OutputTokenFormat>
          <Metadata>
            <Item Key="client_id">{service:te}</Item>
            <Item Key="issuer_refresh_token_user_identity_claim_type">objectId</Item>
          </Metadata>
          <CryptographicKeys>
            <Key Id="issuer_secret" StorageReferenceId="B2C_1A_TokenSigningKeyContainer" />
            <Key Id="issuer_refresh_token_key" StorageReferenceId="B2C_1A_TokenEncryptionKeyContainer" />
          </CryptographicKeys>
        </TechnicalProfile>
      </TechnicalProfiles>
    </ClaimsProvider>
  </ClaimsProviders>
"#,
    );
}

/// One orchestration step (1-based `order`); every fourth is skipped when the admin flag is set.
fn step(out: &mut String, order: usize, last: bool) {
    if last {
        let _ = writeln!(
            out,
            "        <OrchestrationStep Order=\"{order}\" Type=\"SendClaims\" CpimIssuerTechnicalProfileReferenceId=\"JwtIssuer\" />"
        );
        return;
    }
    let _ = writeln!(out, "        <OrchestrationStep Order=\"{order}\" Type=\"ClaimsExchange\">");
    if order.is_multiple_of(4) {
        out.push_str(
            "          <Preconditions>\n            <Precondition Type=\"ClaimEquals\" ExecuteActionsIf=\"true\">\n              <Value>isAdmin</Value>\n              <Value>True</Value>\n              <Action>SkipThisOrchestrationStep</Action>\n            </Precondition>\n          </Preconditions>\n",
        );
    }
    let profile = PROFILES[(order - 1) % PROFILES.len()].0;
    let _ = writeln!(
        out,
        "          <ClaimsExchanges>\n            <ClaimsExchange Id=\"Step{order}\" TechnicalProfileReferenceId=\"{profile}\" />\n          </ClaimsExchanges>\n        </OrchestrationStep>"
    );
}

fn relying_party(out: &mut String) {
    let _ = writeln!(
        out,
        r#"  <RelyingParty>
    <DefaultUserJourney ReferenceId="{JOURNEY_ID}" />
    <TechnicalProfile Id="PolicyProfile">
      <DisplayName>PolicyProfile</DisplayName>
      <Protocol Name="OpenIdConnect" />
      <OutputClaims>
        <OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub" />
        <OutputClaim ClaimTypeReferenceId="email" />
        <OutputClaim ClaimTypeReferenceId="displayName" />
        <OutputClaim ClaimTypeReferenceId="upn" />
        <OutputClaim ClaimTypeReferenceId="roles" />
        <OutputClaim ClaimTypeReferenceId="isAdmin" />
        <OutputClaim ClaimTypeReferenceId="tenantId" />
      </OutputClaims>
      <SubjectNamingInfo ClaimType="sub" />
    </TechnicalProfile>
  </RelyingParty>"#
    );
}

/// A valid policy whose journey has `steps` orchestration steps (at least 1), the last
/// SendClaims. One file when it fits under B2C's 1,024 KB; otherwise the steps continue in
/// further files of a BasePolicy chain (the journey merges by step Order), the relying party
/// last. At most 10 files, B2C's chain limit.
pub fn generate(steps: usize) -> GeneratedPolicy {
    let steps = steps.max(1);
    let mut step_texts: Vec<String> = Vec::with_capacity(steps);
    for order in 1..=steps {
        let mut s = String::new();
        step(&mut s, order, order == steps);
        step_texts.push(s);
    }
    let mut head = String::new();
    building_blocks(&mut head);
    claims_providers(&mut head);
    let mut rp = String::new();
    relying_party(&mut rp);
    let journey_open = format!("  <UserJourneys>\n    <UserJourney Id=\"{JOURNEY_ID}\">\n      <OrchestrationSteps>\n");
    let journey_close = "      </OrchestrationSteps>\n    </UserJourney>\n  </UserJourneys>\n";

    // Greedy: fill each file with steps up to the budget; the first file also holds the
    // building blocks and providers, the last the relying party.
    let fixed = head.len() + rp.len() + journey_open.len() + journey_close.len() + 2048;
    let mut chunks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut used = fixed;
    for (i, s) in step_texts.iter().enumerate() {
        if used + s.len() > FILE_BUDGET && i > start {
            chunks.push(start..i);
            start = i;
            used = journey_open.len() + journey_close.len() + 2048;
        }
        used += s.len();
    }
    chunks.push(start..steps);
    // The relying party goes in its own file when the last chunk has no room for it.
    let rp_alone = chunks.len() > 1 && used + rp.len() > FILE_BUDGET;
    assert!(chunks.len() + usize::from(rp_alone) <= 10, "{steps} steps need more than B2C's 10 chained files");

    let n_files = chunks.len() + usize::from(rp_alone);
    let id = |i: usize| if n_files == 1 { "B2C_1A_Bench".to_owned() } else { format!("B2C_1A_Bench_{i}") };
    let mut files = Vec::with_capacity(n_files);
    for (i, range) in chunks.iter().enumerate() {
        let mut text = String::with_capacity(FILE_BUDGET.min(fixed + range.len() * 400));
        header(&mut text, &id(i), i.checked_sub(1).map(id).as_deref());
        if i == 0 {
            text.push_str(&head);
        }
        text.push_str(&journey_open);
        for s in &step_texts[range.clone()] {
            text.push_str(s);
        }
        text.push_str(journey_close);
        if i + 1 == n_files {
            text.push_str(&rp);
        }
        text.push_str("</TrustFrameworkPolicy>\n");
        files.push((format!("{}.xml", id(i)), text));
    }
    if rp_alone {
        let i = chunks.len();
        let mut text = String::new();
        header(&mut text, &id(i), Some(&id(i - 1)));
        text.push_str(&rp);
        text.push_str("</TrustFrameworkPolicy>\n");
        files.push((format!("{}.xml", id(i)), text));
    }
    for (name, text) in &files {
        assert!(text.len() <= MAX_FILE_BYTES, "{name} is {} bytes", text.len());
    }
    GeneratedPolicy { files, steps }
}
