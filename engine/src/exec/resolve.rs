//! Claim resolvers: `{Culture:*}`, `{Policy:*}`, `{Context:*}`, `{Claim:*}`, `{OIDC:*}`,
//! `{OAUTH-KV:*}` inside DefaultValues.

use ief_transforms::{ClaimsBag, TransformEnv};

use super::RequestContext;
use crate::model::Policy;
use crate::plan::{Part, Template};

/// A resolver text filled for this sign-in. Unknown resolvers and absent values become empty,
/// as B2C renders them.
pub(crate) fn fill(
    template: &Template,
    policy: &Policy,
    bag: &ClaimsBag,
    ctx: &RequestContext,
    env: &dyn TransformEnv,
) -> String {
    // A DefaultValue is most often one resolver alone: its value is the text.
    if let [Part::Resolver { group, name }] = template.parts.as_slice() {
        return value(group, name, policy, ctx, env).unwrap_or_default();
    }
    let mut out = String::new();
    for part in &template.parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Claim(id) => {
                if let Some(v) = id.and_then(|id| bag.get(id)) {
                    out.push_str(&super::trace::text(v));
                }
            }
            Part::Resolver { group, name } => {
                out.push_str(&value(group, name, policy, ctx, env).unwrap_or_default());
            }
        }
    }
    out
}

/// `group` is lower-cased.
fn value(group: &str, name: &str, policy: &Policy, ctx: &RequestContext, env: &dyn TransformEnv) -> Option<String> {
    let culture = if ctx.culture.is_empty() { "en-US" } else { ctx.culture.as_str() };
    Some(match (group, name) {
        ("culture", "LanguageName") => culture.split('-').next().unwrap_or(culture).to_owned(),
        ("culture", "RegionName") => culture.split('-').nth(1).unwrap_or_default().to_owned(),
        ("culture", "RFC5646") => culture.to_owned(),
        ("culture", "LCID") => lcid(culture).to_string(),
        ("policy", "PolicyId") => policy.policy_id.clone(),
        ("policy", "RelyingPartyTenantId") | ("policy", "TrustFrameworkTenantId") => policy.tenant_id.clone(),
        ("policy", "TenantObjectId") => policy.tenant.guid.clone(),
        ("context", "BuildNumber") => format!("ief/{}", env!("CARGO_PKG_VERSION")),
        ("context", "CorrelationId") => ctx.correlation_id.clone(),
        ("context", "DateTimeInUtc") => env.now().format("%m/%d/%Y %-I:%M:%S %p").to_string(),
        ("context", "DeploymentMode") => policy.deployment_mode.clone().unwrap_or_else(|| "Production".to_owned()),
        ("context", "HostName") => ctx.host_name.clone(),
        ("context", "IPAddress") => ctx.ip_address.clone(),
        ("context", "KMSI") => if ctx.kmsi { "True" } else { "False" }.to_owned(),
        ("oidc", "ClientId") => ctx.client_id.clone(),
        ("oidc", "Nonce") => ctx.nonce.clone()?,
        ("oidc", "RedirectUri") => ctx.redirect_uri.clone(),
        ("oidc", "Scope") => ctx.scope.clone(),
        ("oidc", "LoginHint") => ctx.login_hint.clone()?,
        ("oidc", "DomainHint") => ctx.domain_hint.clone()?,
        ("oidc", "Prompt") => ctx.prompt.clone()?,
        ("oidc", "MaxAge") => ctx.max_age.clone()?,
        ("oidc", "AuthenticationContextReferences") => ctx.acr_values.clone()?,
        // The resource owner password credentials grant's own fields, supplied by the application.
        ("oidc", "Username") => ctx.input_claims.iter().find(|(k, _)| k == "username")?.1.clone(),
        ("oidc", "Password") => ctx.input_claims.iter().find(|(k, _)| k == "password")?.1.clone(),
        ("oauth-kv", key) => ctx.query.iter().find(|(k, _)| k == key)?.1.clone(),
        _ => return None,
    })
}

/// Windows LCIDs of common cultures; 1033 (en-US) otherwise.
fn lcid(culture: &str) -> u32 {
    match culture.to_ascii_lowercase().as_str() {
        "en-gb" => 2057,
        "fr-fr" | "fr" => 1036,
        "de-de" | "de" => 1031,
        "es-es" | "es" => 3082,
        "it-it" | "it" => 1040,
        "ja-jp" | "ja" => 1041,
        "nl-nl" | "nl" => 1043,
        "pt-br" => 1046,
        "zh-cn" => 2052,
        _ => 1033,
    }
}

#[cfg(test)]
mod tests {
    use ief_transforms::{ClaimValue, FixedEnv};

    use super::*;

    const POLICY: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Resolvers" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Resolvers">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="givenName"><DataType>string</DataType></ClaimType>
  <ClaimType Id="surname"><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
</TrustFrameworkPolicy>"#;

    #[test]
    fn resolvers_are_filled_other_braces_kept_and_unknown_ones_empty() {
        let set = crate::PolicySet::from_sources([("resolvers.xml", POLICY)]);
        let mut diags = crate::Diagnostics::default();
        let policy = crate::EffectivePolicy::build(&set, 0, &mut diags).expect("a policy").model;
        let mut bag = ClaimsBag::with_capacity(policy.claim_types.len());
        bag.set(policy.claim_id("givenName").expect("declared"), ClaimValue::String("Ada".to_owned()));
        let ctx = RequestContext { culture: "fr-FR".to_owned(), ..RequestContext::default() };
        let text = "Hi {Claim:givenName} {0} {claim:surname}{CULTURE:RFC5646} {Nope:X} {unclosed";
        let template = Template::parse(&policy, text);
        // Four resolvers: a claim with a value, one without, a culture, an unknown group.
        assert_eq!(template.parts.iter().filter(|p| !matches!(p, Part::Text(_))).count(), 4, "{template:?}");
        assert_eq!(fill(&template, &policy, &bag, &ctx, &FixedEnv::default()), "Hi Ada {0} fr-FR  {unclosed");
    }

    #[test]
    fn the_password_grant_s_username_and_password_come_from_the_request() {
        let set = crate::PolicySet::from_sources([("resolvers.xml", POLICY)]);
        let mut diags = crate::Diagnostics::default();
        let policy = crate::EffectivePolicy::build(&set, 0, &mut diags).expect("a policy").model;
        let bag = ClaimsBag::with_capacity(policy.claim_types.len());
        let supplied =
            vec![("username".to_owned(), "ada@contoso.com".to_owned()), ("password".to_owned(), "s3cret".to_owned())];
        let ctx = RequestContext { input_claims: supplied, ..RequestContext::default() };
        let template = Template::parse(&policy, "{OIDC:Username}/{OIDC:Password}");
        assert_eq!(fill(&template, &policy, &bag, &ctx, &FixedEnv::default()), "ada@contoso.com/s3cret");
        let without = RequestContext::default();
        assert_eq!(fill(&template, &policy, &bag, &without, &FixedEnv::default()), "/", "a sign-in without them");
    }
}
