//! The JwtIssuer metadata the server reads for tokens (lifetimes, number format, patterns),
//! checked before the server starts: a value it cannot read is an error at its position,
//! as B2C refuses such a policy at upload.

use ief_engine::diag::{Code, Diagnostic};
use ief_engine::model::Policy;

/// Metadata read as whole seconds.
const SECONDS: [&str; 4] = [
    "token_lifetime_secs",
    "id_token_lifetime_secs",
    "refresh_token_lifetime_secs",
    "rolling_refresh_token_lifetime_secs",
];
/// Metadata read as `true` or `false`.
const BOOLEANS: [&str; 2] = ["SendTokenResponseBodyWithJsonNumbers", "allow_infinite_rolling_refresh_token"];
/// Metadata with a fixed set of values.
const CHOICES: [(&str, &[&str]); 2] = [
    ("IssuanceClaimPattern", &["AuthorityAndTenantGuid", "AuthorityWithTfp"]),
    ("AuthenticationContextReferenceClaimPattern", &["None", "PolicyId"]),
];

/// Errors in the metadata of the policy's token issuer.
pub(crate) fn check(policy: &Policy) -> Vec<Diagnostic> {
    let Some(tp) = crate::issuer_profile(policy) else { return Vec::new() };
    let mut errors = Vec::new();
    for item in &tp.metadata {
        let (key, value) = (item.key.as_str(), item.value.as_str().trim());
        let problem = if SECONDS.contains(&key) {
            value.parse::<u32>().map_or_else(|_| Some("a whole number of seconds".to_owned()), |_| None)
        } else if BOOLEANS.contains(&key) {
            (!value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false"))
                .then(|| "true or false".to_owned())
        } else if let Some((_, allowed)) = CHOICES.iter().find(|(k, _)| *k == key) {
            (!allowed.iter().any(|a| a.eq_ignore_ascii_case(value))).then(|| allowed.join(" or "))
        } else {
            None
        };
        if let Some(expected) = problem {
            let message =
                format!("metadata '{key}' of technical profile '{}' is '{value}', not {expected}", tp.id.as_str());
            errors.push(Diagnostic::new(Code::InvalidLiteral, item.value.span, message));
        }
    }
    errors
}
