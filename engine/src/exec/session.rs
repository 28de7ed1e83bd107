//! What a browser keeps across sign-ins: B2C's single sign-on sessions, one per scope.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use ief_transforms::ClaimValue;

use crate::plan::SessionRules;

/// A browser's SSO sessions (B2C's `x-ms-cpim-sso` cookies), one per scope key: the tenant, the
/// tenant and an application, or the tenant and a policy.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    cookies: Vec<SsoCookie>,
}

/// One SSO session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SsoCookie {
    pub key: String,
    /// Per technical profile that took part: the claims its session manager persisted, by
    /// ClaimType Id (another policy of the tenant may read them).
    pub profiles: HashMap<String, Vec<(Box<str>, ClaimValue)>>,
    /// When the user entered credentials: the `auth_time` of every token the session issues.
    #[serde(with = "ief_transforms::stored::date_time")]
    pub auth_time: NaiveDateTime,
    #[serde(with = "ief_transforms::stored::date_time")]
    pub expires: NaiveDateTime,
    /// Keep me signed in: a persistent cookie, which outlives the browser.
    pub persistent: bool,
}

impl SsoCookie {
    /// Keep me signed in, checked once the session began: the cookie becomes persistent with
    /// the keep-alive lifetime. A cookie already persistent keeps its expiry.
    pub(crate) fn keep_alive(&mut self, now: NaiveDateTime, rules: &SessionRules) {
        if !self.persistent {
            self.persistent = true;
            self.expires = now + rules.lifetime(true);
        }
    }
}

impl Session {
    pub fn is_empty(&self) -> bool {
        self.cookies.iter().all(|c| c.profiles.is_empty())
    }

    pub(crate) fn has_cookies(&self) -> bool {
        !self.cookies.is_empty()
    }

    /// Profiles remembered by any of the sessions, sorted (traces and tests).
    pub fn profiles(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.cookies.iter().flat_map(|c| c.profiles.keys()).map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// When the last of its sessions ends: how long a server must keep it.
    pub fn expires(&self) -> Option<NaiveDateTime> {
        self.cookies.iter().map(|c| c.expires).max()
    }

    /// Whether a session is kept signed in: its cookie must outlive the browser.
    pub fn is_persistent(&self) -> bool {
        self.cookies.iter().any(|c| c.persistent)
    }

    /// The browser closed and opened again: only keep-me-signed-in sessions survive.
    #[must_use]
    pub fn reopened(mut self) -> Session {
        self.cookies.retain(|c| c.persistent);
        self
    }

    /// Takes the session of `key` out (the caller drops it when it has expired).
    pub(crate) fn take(&mut self, key: &str) -> Option<SsoCookie> {
        let i = self.cookies.iter().position(|c| c.key == key)?;
        Some(self.cookies.swap_remove(i))
    }

    pub(crate) fn put(&mut self, cookie: SsoCookie) {
        self.cookies.retain(|c| c.key != cookie.key);
        self.cookies.push(cookie);
    }
}
