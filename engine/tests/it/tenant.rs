//! The tenant's object id: the policy's TenantObjectId, else appsettings.json's, else derived.

use std::path::PathBuf;

use ief_engine::tenant::{TenantSource, derive};
use ief_engine::{Diagnostics, EffectivePolicy, PolicySet, SettingsRequest};

const OWN: &str = "8a3c0a6e-5f62-4b0e-9a57-2f0b3b1c4d21";
const CONFIGURED: &str = "0f1e2d3c-4b5a-4968-8776-655443322110";

fn policy(object_id: Option<&str>) -> String {
    let attr = object_id.map(|id| format!(r#" TenantObjectId="{id}""#)).unwrap_or_default();
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com"{attr} PolicyId="B2C_1A_T" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_T">
  <BuildingBlocks><ClaimsSchema><ClaimType Id="sub"><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks>
</TrustFrameworkPolicy>"#
    )
}

/// Loads one policy file with an appsettings.json environment `Dev` holding `settings`.
fn load(name: &str, object_id: Option<&str>, settings: &str) -> (Option<EffectivePolicy>, Diagnostics) {
    let dir: PathBuf = std::env::temp_dir().join(format!("ief-tenant-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("T.xml"), policy(object_id)).unwrap();
    std::fs::write(dir.join("appsettings.json"), format!(r#"{{"Environments": [{{"Name": "Dev"{settings}}}]}}"#))
        .unwrap();
    let request = SettingsRequest { environment: Some("Dev".to_owned()), ..SettingsRequest::default() };
    let set = PolicySet::load(std::slice::from_ref(&dir), &request);
    let mut diags = set.diagnostics.clone();
    let effective = EffectivePolicy::build(&set, 0, &mut diags);
    std::fs::remove_dir_all(&dir).ok();
    (effective, diags)
}

#[test]
fn the_policy_attribute_then_appsettings_then_a_derived_guid() {
    let (p, _) = load("own", Some(OWN), &format!(r#", "TenantObjectId": "{CONFIGURED}""#));
    let tenant = p.unwrap().model.tenant;
    assert_eq!((tenant.guid.as_str(), tenant.source), (OWN, TenantSource::Policy));

    // The home-realm-discovery sample writes its domain name as TenantObjectId: the schema
    // refuses it, as B2C would; the setting still decides the id.
    let (p, diags) =
        load("conf", Some("yourtenant.onmicrosoft.com"), &format!(r#", "TenantObjectId": "{CONFIGURED}""#));
    assert!(diags.iter().all(|d| d.code.as_str() != "IEF303"), "{diags:?}");
    let model = p.unwrap().model;
    assert_eq!((model.tenant.guid.as_str(), model.tenant.source), (CONFIGURED, TenantSource::Configured));
    assert_eq!(model.tenant_warning(), None);

    let (p, _) = load("derived", None, "");
    let model = p.unwrap().model;
    assert_eq!(model.tenant.guid, derive("contoso.onmicrosoft.com"));
    let warning = model.tenant_warning().expect("a warning for a made-up tenant id");
    assert!(warning.contains("no TenantObjectId") && warning.contains(&model.tenant.guid), "{warning}");
}

#[test]
fn a_configured_tenant_object_id_that_is_not_a_guid_is_an_error_on_the_settings_file() {
    let (_, diags) = load("bad", None, r#", "TenantObjectId": "contoso.onmicrosoft.com""#);
    let d = diags.iter().find(|d| d.message.contains("TenantObjectId")).expect("a diagnostic");
    assert_eq!(d.code.as_str(), "IEF303");
    assert!(d.is_error());
    assert!(d.message.contains("'contoso.onmicrosoft.com' is not a GUID"), "{}", d.message);
}

#[test]
fn a_placeholder_object_id_can_be_replaced_as_the_file_is_read() {
    let dir: PathBuf = std::env::temp_dir().join(format!("ief-tenant-replace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("T.xml"), policy(Some("yourtenant.onmicrosoft.com"))).unwrap();
    let load = |replace: &[(String, String)]| {
        let set = PolicySet::load_replacing(std::slice::from_ref(&dir), &SettingsRequest::default(), replace);
        let mut diags = set.diagnostics.clone();
        let effective = (!set.files.is_empty()).then(|| EffectivePolicy::build(&set, 0, &mut diags)).flatten();
        (effective, diags)
    };
    let (_, diags) = load(&[]);
    assert!(diags.iter().any(|d| d.code.as_str() == "IEF106"), "the placeholder is refused: {diags:?}");
    let filled = [("yourtenant.onmicrosoft.com".to_owned(), OWN.to_owned())];
    let (p, diags) = load(&filled);
    assert!(!diags.has_errors(), "{diags:?}");
    assert_eq!(p.unwrap().model.tenant.guid, OWN);
    // A replacement may not grow a file past the size limit: refused before it is built.
    let huge = [("B2C_1A_T".to_owned(), "x".repeat(2 << 20))];
    let (_, diags) = load(&huge);
    assert!(diags.iter().any(|d| d.code.as_str() == "IEF002"), "{diags:?}");
    std::fs::remove_dir_all(&dir).ok();
}
