//! Claim resolvers: `{Culture:*}`, `{Policy:*}`, `{Context:*}`, `{Claim:*}`, `{OIDC:*}`,
//! `{OAUTH-KV:*}` inside DefaultValues.

use ief_transforms::{ClaimsBag, TransformEnv};

use super::RequestContext;
use crate::model::Policy;

/// Replaces every resolver in `text`. Unknown resolvers and absent values become empty, as B2C
/// renders them.
pub(crate) fn resolve(
    text: &str,
    policy: &Policy,
    bag: &ClaimsBag,
    ctx: &RequestContext,
    env: &dyn TransformEnv,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let inner = &rest[open + 1..open + close];
        out.push_str(&rest[..open]);
        match inner.split_once(':') {
            Some((group, name)) => out.push_str(&value(group, name, policy, bag, ctx, env).unwrap_or_default()),
            // Not a resolver (`{0}` in a format string): keep it.
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn value(
    group: &str,
    name: &str,
    policy: &Policy,
    bag: &ClaimsBag,
    ctx: &RequestContext,
    env: &dyn TransformEnv,
) -> Option<String> {
    let culture = if ctx.culture.is_empty() { "en-US" } else { ctx.culture.as_str() };
    Some(match (group.to_ascii_lowercase().as_str(), name) {
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
        ("claim", id) => bag.get(policy.claim_id(id)?)?.to_string(),
        ("oidc", "ClientId") => ctx.client_id.clone(),
        ("oidc", "Nonce") => ctx.nonce.clone()?,
        ("oidc", "RedirectUri") => ctx.redirect_uri.clone(),
        ("oidc", "Scope") => ctx.scope.clone(),
        ("oidc", "LoginHint") => ctx.login_hint.clone()?,
        ("oidc", "DomainHint") => ctx.domain_hint.clone()?,
        ("oidc", "Prompt") => ctx.prompt.clone()?,
        ("oidc", "MaxAge") => ctx.max_age.clone()?,
        ("oidc", "AuthenticationContextReferences") => ctx.acr_values.clone()?,
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

/// Whether a DefaultValue holds a resolver at all.
pub(crate) fn has_resolver(text: &str) -> bool {
    text.find('{').is_some_and(|i| text[i..].contains(':') && text[i..].contains('}'))
}
