//! Test support shared by the workspace's tests and benches: small inline policies and stub
//! profile handlers. Only ever a dev-dependency (or a bench's dependency); never published.

use ief_engine::model::Policy;
use ief_engine::{EffectivePolicy, PolicySet};

/// The root element's attributes of every inline test policy.
pub const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Test" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Test""#;

/// A one-file policy from `BuildingBlocks` and `ClaimsProviders` XML.
pub fn policy(building_blocks: &str, profiles: &str) -> Policy {
    let xml = format!(
        r#"<TrustFrameworkPolicy {NS}><BuildingBlocks>{building_blocks}</BuildingBlocks><ClaimsProviders><ClaimsProvider><DisplayName>Test</DisplayName><TechnicalProfiles>{profiles}</TechnicalProfiles></ClaimsProvider></ClaimsProviders></TrustFrameworkPolicy>"#
    );
    let set = PolicySet::from_sources([("test.xml", xml.as_str())]);
    let mut diags = set.diagnostics.clone();
    EffectivePolicy::build(&set, 0, &mut diags).expect("the test policy builds").model
}
