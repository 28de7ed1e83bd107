//! The relying party's session rules (`UserJourneyBehaviors`), read once at compile time.

use crate::model::Policy;

/// B2C's default `SessionExpiryInSeconds`, and its documented range.
pub const DEFAULT_SESSION_SECONDS: i64 = 86_400;
const SESSION_SECONDS: std::ops::RangeInclusive<i64> = 900..=86_400;
/// `KeepAliveInDays`' documented range (0 turns keep-me-signed-in off).
const KEEP_ALIVE_DAYS: std::ops::RangeInclusive<i64> = 0..=90;

/// `SingleSignOn Scope`: which sign-ins share a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsoScope {
    /// Every application and policy of the tenant (B2C's default).
    Tenant,
    /// Sign-ins of the same application (client id).
    Application,
    /// Sign-ins of the same policy.
    Policy,
    /// No session: every sign-in runs the whole journey.
    Suppressed,
}

/// How long a session lasts and who shares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRules {
    pub scope: SsoScope,
    /// `SessionExpiryType=Absolute`: the lifetime counts from the sign-in that entered
    /// credentials; `Rolling` (the default) extends it with every sign-in that uses it.
    pub absolute: bool,
    /// `SessionExpiryInSeconds`.
    pub lifetime_seconds: i64,
    /// `KeepAliveInDays`: a keep-me-signed-in session's lifetime, 0 when KMSI is off.
    pub keep_alive_days: i64,
}

impl Default for SessionRules {
    fn default() -> SessionRules {
        SessionRules {
            scope: SsoScope::Tenant,
            absolute: false,
            lifetime_seconds: DEFAULT_SESSION_SECONDS,
            keep_alive_days: 0,
        }
    }
}

impl SessionRules {
    pub(crate) fn compile(policy: &Policy) -> SessionRules {
        let Some(rp) = &policy.relying_party else { return SessionRules::default() };
        let number = |t: &Option<crate::model::Text>| t.as_ref().and_then(|t| t.value.trim().parse::<i64>().ok());
        let scope = match rp.sso_scope.as_ref().map(|s| s.value.trim()) {
            Some("Application") => SsoScope::Application,
            Some("Policy") => SsoScope::Policy,
            Some("Suppressed") => SsoScope::Suppressed,
            // `Tenant`, and the XSD's `TrustFramework`, which B2C does not document.
            _ => SsoScope::Tenant,
        };
        SessionRules {
            scope,
            absolute: rp.session_expiry_type.as_ref().is_some_and(|t| t.value.trim() == "Absolute"),
            lifetime_seconds: number(&rp.session_expiry_seconds)
                .map_or(DEFAULT_SESSION_SECONDS, |n| n.clamp(*SESSION_SECONDS.start(), *SESSION_SECONDS.end())),
            keep_alive_days: number(&rp.keep_alive_days)
                .map_or(0, |n| n.clamp(*KEEP_ALIVE_DAYS.start(), *KEEP_ALIVE_DAYS.end())),
        }
    }

    /// A session's lifetime: `KeepAliveInDays` when the user kept signed in, else
    /// `SessionExpiryInSeconds`.
    pub fn lifetime(&self, kmsi: bool) -> chrono::TimeDelta {
        if kmsi && self.keep_alive_days > 0 {
            chrono::TimeDelta::days(self.keep_alive_days)
        } else {
            chrono::TimeDelta::seconds(self.lifetime_seconds)
        }
    }
}
