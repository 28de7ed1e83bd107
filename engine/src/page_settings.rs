//! What a self-asserted or unified page shows besides its fields: the documented `setting.*`
//! metadata (and `SignUpTarget`) of its technical profile, read once into a value that travels
//! with the page, so a driver offers and a renderer draws only what B2C would.

use ief_transforms::value::parse_bool;

use crate::model::TechnicalProfile;

/// Where the "Forgot your password?" link sits (`setting.forgotPasswordLinkLocation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ForgotPasswordLinkLocation {
    #[default]
    AfterLabel,
    AfterInput,
    AfterButtons,
    /// Hidden.
    None,
}

/// A link on the page: the ClaimsExchange its click runs, and the setting that placed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageLink {
    pub target: String,
    /// `SignUpTarget` or `setting.forgotPasswordLinkOverride`.
    pub setting: &'static str,
    /// False when a setting hides it (`setting.showSignupLink`, `forgotPasswordLinkLocation`).
    pub shown: bool,
}

/// The page settings of one technical profile, with B2C's defaults for absent items.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageSettings {
    /// `setting.showContinueButton` (default true).
    pub show_continue_button: bool,
    /// `setting.showCancelButton` (default true).
    pub show_cancel_button: bool,
    /// `setting.showSignupLink` (default true).
    pub show_signup_link: bool,
    pub forgot_password_link_location: ForgotPasswordLinkLocation,
    /// `setting.enableRememberMe`: the "keep me signed in" checkbox (default false).
    pub enable_remember_me: bool,
    /// `setting.operatingMode`: `Email` or `Username` sign-in names.
    pub operating_mode: Option<String>,
    /// `setting.retryLimit`.
    pub retry_limit: Option<u32>,
    /// `setting.inputVerificationDelayTimeInMilliseconds`.
    pub input_verification_delay_ms: Option<u32>,
    /// The sign-up and forgot-password links, shown or hidden.
    pub links: Vec<PageLink>,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            show_continue_button: true,
            show_cancel_button: true,
            show_signup_link: true,
            forgot_password_link_location: ForgotPasswordLinkLocation::AfterLabel,
            enable_remember_me: false,
            operating_mode: None,
            retry_limit: None,
            input_verification_delay_ms: None,
            links: Vec::new(),
        }
    }
}

pub const SIGN_UP_TARGET: &str = "SignUpTarget";
pub const FORGOT_PASSWORD_OVERRIDE: &str = "setting.forgotPasswordLinkOverride";

/// A [`PageLink`] as stored: its setting by name, read back as the constant it names.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredLink {
    target: String,
    setting: String,
    shown: bool,
}

impl serde::Serialize for PageLink {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let link = StoredLink { target: self.target.clone(), setting: self.setting.to_owned(), shown: self.shown };
        link.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for PageLink {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PageLink, D::Error> {
        let link = StoredLink::deserialize(d)?;
        let setting = [SIGN_UP_TARGET, FORGOT_PASSWORD_OVERRIDE]
            .into_iter()
            .find(|known| *known == link.setting)
            .ok_or_else(|| serde::de::Error::custom(format!("'{}' is not a page link's setting", link.setting)))?;
        Ok(PageLink { target: link.target, setting, shown: link.shown })
    }
}

impl PageSettings {
    /// Reads a profile's metadata. Values that do not parse keep the default.
    pub fn of(tp: &TechnicalProfile) -> PageSettings {
        let d = PageSettings::default();
        let flag = |key: &str, default: bool| tp.metadata(key).and_then(parse_bool).unwrap_or(default);
        let number = |key: &str| tp.metadata(key).and_then(|v| v.trim().parse().ok());
        let location = match tp.metadata("setting.forgotPasswordLinkLocation").map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("AfterInput") => ForgotPasswordLinkLocation::AfterInput,
            Some(v) if v.eq_ignore_ascii_case("AfterButtons") => ForgotPasswordLinkLocation::AfterButtons,
            Some(v) if v.eq_ignore_ascii_case("None") => ForgotPasswordLinkLocation::None,
            _ => d.forgot_password_link_location,
        };
        let show_signup_link = flag("setting.showSignupLink", d.show_signup_link);
        let mut links = Vec::new();
        let mut link = |setting: &'static str, shown: bool| {
            if let Some(target) = tp.metadata(setting).map(str::trim).filter(|t| !t.is_empty()) {
                links.push(PageLink { target: target.to_owned(), setting, shown });
            }
        };
        link(SIGN_UP_TARGET, show_signup_link);
        link(FORGOT_PASSWORD_OVERRIDE, location != ForgotPasswordLinkLocation::None);
        PageSettings {
            show_continue_button: flag("setting.showContinueButton", d.show_continue_button),
            show_cancel_button: flag("setting.showCancelButton", d.show_cancel_button),
            show_signup_link,
            forgot_password_link_location: location,
            enable_remember_me: flag("setting.enableRememberMe", d.enable_remember_me),
            operating_mode: tp.metadata("setting.operatingMode").map(|v| v.trim().to_owned()),
            retry_limit: number("setting.retryLimit"),
            input_verification_delay_ms: number("setting.inputVerificationDelayTimeInMilliseconds"),
            links,
        }
    }

    /// The link to `target`, shown or hidden.
    pub fn link(&self, target: &str) -> Option<&PageLink> {
        self.links.iter().find(|l| l.target == target)
    }

    /// Why a link is hidden, naming the setting a policy author would look for.
    pub fn hidden_reason(link: &PageLink) -> &'static str {
        if link.setting == SIGN_UP_TARGET {
            "setting.showSignupLink is false"
        } else {
            "setting.forgotPasswordLinkLocation is None"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetadataItem, Text};
    use crate::source::{FileId, Span};

    fn profile(items: &[(&str, &str)]) -> TechnicalProfile {
        let span = Span::new(FileId(0), 0, 0);
        let text = |v: &str| Text { value: v.into(), span };
        let mut tp = empty_profile();
        tp.metadata = items.iter().map(|(k, v)| MetadataItem { key: text(k), value: text(v) }).collect();
        tp
    }

    fn empty_profile() -> TechnicalProfile {
        let policy = crate::model::Policy::lower(
            &crate::syntax::parse(
                FileId(0),
                r#"<TrustFrameworkPolicy><ClaimsProviders><ClaimsProvider><TechnicalProfiles><TechnicalProfile Id="P"/></TechnicalProfiles></ClaimsProvider></ClaimsProviders></TrustFrameworkPolicy>"#,
            )
            .0
            .expect("a root"),
        );
        policy.technical_profiles[0].clone()
    }

    #[test]
    fn defaults_show_everything_but_remember_me() {
        let s = PageSettings::of(&profile(&[]));
        assert_eq!(s, PageSettings::default());
        assert!(s.show_continue_button && s.show_cancel_button && s.show_signup_link && !s.enable_remember_me);
    }

    #[test]
    fn settings_hide_buttons_and_links() {
        let s = PageSettings::of(&profile(&[
            ("setting.showContinueButton", "false"),
            ("setting.showCancelButton", "False"),
            ("setting.showSignupLink", "false"),
            ("setting.forgotPasswordLinkLocation", "none"),
            ("setting.enableRememberMe", "true"),
            ("setting.retryLimit", "3"),
            ("setting.operatingMode", "Username"),
            ("SignUpTarget", "SignUpWithLogonEmailExchange"),
            ("setting.forgotPasswordLinkOverride", "ForgotPasswordExchange"),
        ]));
        assert!(!s.show_continue_button && !s.show_cancel_button && !s.show_signup_link && s.enable_remember_me);
        assert_eq!(s.forgot_password_link_location, ForgotPasswordLinkLocation::None);
        assert_eq!((s.retry_limit, s.operating_mode.as_deref()), (Some(3), Some("Username")));
        let sign_up = s.link("SignUpWithLogonEmailExchange").unwrap();
        assert!(!sign_up.shown);
        assert_eq!(PageSettings::hidden_reason(sign_up), "setting.showSignupLink is false");
        let forgot = s.link("ForgotPasswordExchange").unwrap();
        assert!(!forgot.shown);
        assert_eq!(PageSettings::hidden_reason(forgot), "setting.forgotPasswordLinkLocation is None");
    }

    #[test]
    fn unreadable_values_keep_the_default() {
        let s = PageSettings::of(&profile(&[("setting.showCancelButton", "maybe"), ("setting.retryLimit", "x")]));
        assert!(s.show_cancel_button);
        assert_eq!(s.retry_limit, None);
        let s = PageSettings::of(&profile(&[("setting.forgotPasswordLinkLocation", "AfterButtons")]));
        assert_eq!(s.forgot_password_link_location, ForgotPasswordLinkLocation::AfterButtons);
    }
}
