//! The step-by-step record of a sign-in: what App Insights shows B2C users, local and complete.
//! Values of password claims never enter it.

use std::borrow::Cow;
use std::fmt;

use ief_transforms::{ClaimValue, ClaimsBag};

use super::handler::Invocation;
use crate::model::Policy;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TraceEvent {
    Step {
        journey: String,
        order: u32,
        /// Borrowed for the schema's step types and handlers' names: no copy per event.
        step_type: Cow<'static, str>,
    },
    Skipped {
        journey: String,
        order: u32,
        reason: String,
    },
    Page {
        profile: String,
        error: Option<String>,
    },
    Answered {
        answer: String,
    },
    Profile {
        profile: String,
        protocol: Cow<'static, str>,
        invocation: Invocation,
        inputs: Vec<(String, String)>,
        outputs: Vec<(String, String)>,
        transformations: Vec<String>,
        error: Option<String>,
    },
    ValidationFailed {
        profile: String,
        message: String,
    },
    SessionRestored {
        profile: String,
    },
    /// The browser's session of this scope had expired, so nothing is restored from it.
    SessionExpired {
        at: String,
    },
    /// The keep-me-signed-in checkbox, as answered.
    KeepSignedIn {
        checked: bool,
    },
    SubJourney {
        id: String,
        transfer: bool,
    },
    Issued {
        profile: String,
        claims: Vec<(String, String)>,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// The values of token-carrying claims (`ClaimType::holds_credential`) in a sign-in's claims
/// bag: what a driver takes out of anything it shows besides the trace's own claim values.
pub fn credential_values(policy: &Policy, bag: &ClaimsBag) -> Vec<String> {
    let mut values: Vec<String> = policy
        .claim_types
        .iter()
        .filter(|c| c.holds_credential)
        .filter_map(|c| bag.get(policy.claim_id(c.id.as_str())?))
        .flat_map(|value| match value {
            ClaimValue::StringCollection(items) => items.clone(),
            other => vec![other.to_string()],
        })
        .collect();
    values.sort();
    values.dedup();
    values
}

/// A claim value as traces show it: passwords and bearer credentials are redacted.
pub fn redact(policy: &Policy, claim: &str, value: &ClaimValue) -> String {
    redacted(is_secret(policy, claim), value)
}

pub(crate) fn redacted(secret: bool, value: &ClaimValue) -> String {
    if secret { "[redacted]".to_owned() } else { text(value).into_owned() }
}

/// A value as text (its `Display`), borrowed where it already is text.
pub(crate) fn text(value: &ClaimValue) -> Cow<'_, str> {
    match value {
        ClaimValue::String(s) | ClaimValue::PhoneNumber(s) | ClaimValue::Duration(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Whether a claim is typed into a password box or holds an access or refresh token.
pub(crate) fn is_secret(policy: &Policy, claim: &str) -> bool {
    policy.claim(claim).is_some_and(crate::model::ClaimType::is_secret)
}

fn pairs(items: &[(String, String)]) -> String {
    items.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Step { journey, order, step_type } => write!(f, "{journey} step {order}: {step_type}"),
            TraceEvent::Skipped { journey, order, reason } => write!(f, "{journey} step {order}: skipped ({reason})"),
            TraceEvent::Page { profile, error: None } => write!(f, "  page {profile}"),
            TraceEvent::Page { profile, error: Some(e) } => write!(f, "  page {profile} with error: {e}"),
            TraceEvent::Answered { answer } => write!(f, "  answer: {answer}"),
            TraceEvent::Profile { profile, protocol, invocation, inputs, outputs, transformations, error } => {
                let role = match invocation {
                    Invocation::Step => "",
                    Invocation::Validation => " (validation)",
                    Invocation::Issuer => " (issuer)",
                };
                write!(f, "  {profile}{role} [{protocol}]")?;
                if !inputs.is_empty() {
                    write!(f, "\n    in: {}", pairs(inputs))?;
                }
                if !transformations.is_empty() {
                    write!(f, "\n    transformations: {}", transformations.join(", "))?;
                }
                if !outputs.is_empty() {
                    write!(f, "\n    out: {}", pairs(outputs))?;
                }
                if let Some(e) = error {
                    write!(f, "\n    failed: {e}")?;
                }
                Ok(())
            }
            TraceEvent::ValidationFailed { profile, message } => write!(f, "  validation {profile} failed: {message}"),
            TraceEvent::SessionRestored { profile } => write!(f, "  {profile}: claims restored from the session"),
            TraceEvent::SessionExpired { at } => write!(f, "single sign-on session expired at {at}"),
            TraceEvent::KeepSignedIn { checked } => {
                write!(f, "  keep me signed in: {}", if *checked { "checked" } else { "not checked" })
            }
            TraceEvent::SubJourney { id, transfer: false } => write!(f, "  call sub journey {id}"),
            TraceEvent::SubJourney { id, transfer: true } => write!(f, "  transfer to sub journey {id}"),
            TraceEvent::Issued { profile, claims } => write!(f, "  {profile} issued a token: {}", pairs(claims)),
            TraceEvent::Failed { code, message } => write!(f, "journey failed: {code}: {message}"),
        }
    }
}
