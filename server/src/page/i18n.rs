//! The page's language (server-spec §2.7) and its strings: B2C's built-in English, then the
//! content definition's `LocalizedResources` for that language.

use std::collections::HashMap;
use std::sync::OnceLock;

use ief_engine::model::{ContentDefinition, Localization, Policy};

/// The language of a sign-in: the first of `ui_locales` the policy supports, then the best of
/// `Accept-Language` it supports, then its default. Without localization, `ui_locales` as asked
/// (or `en-US`), as before localization existed.
pub(crate) fn choose(localization: Option<&Localization>, ui_locales: Option<&str>, accept: Option<&str>) -> String {
    let asked = ui_locales.and_then(|l| l.split_whitespace().next());
    let Some(loc) = localization.filter(|l| l.enabled && !l.supported_languages.is_empty()) else {
        return asked.unwrap_or("en-US").to_owned();
    };
    let supported = |tag: &str| -> Option<String> {
        let tag = tag.trim();
        let exact = loc.supported_languages.iter().find(|s| s.eq_ignore_ascii_case(tag));
        let primary = tag.split('-').next().unwrap_or(tag);
        exact.or_else(|| loc.supported_languages.iter().find(|s| s.eq_ignore_ascii_case(primary))).cloned()
    };
    let from_ui = ui_locales.into_iter().flat_map(str::split_whitespace).find_map(supported);
    from_ui
        .or_else(|| accept_language(accept.unwrap_or_default()).into_iter().find_map(|t| supported(&t)))
        .or_else(|| loc.default_language.clone())
        .unwrap_or_else(|| loc.supported_languages[0].clone())
}

/// The tags of an `Accept-Language` header, best first (`q=0` left out).
fn accept_language(header: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = header
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q =
                pieces.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (!tag.is_empty() && tag != "*" && q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, t)| t).collect()
}

/// The strings of one page in one language.
#[derive(Debug, Default, Clone)]
pub(crate) struct Strings {
    /// `UxElement` and `DisplayControl` strings by StringId: the page's `CONTENT`.
    pub(crate) ux: HashMap<String, String>,
    /// `ErrorMessage` strings by StringId.
    pub(crate) errors: HashMap<String, String>,
    /// `ClaimType` strings by (ElementId lower case, StringId): DisplayName, UserHelpText,
    /// PatternHelpText.
    claims: HashMap<(String, String), String>,
    /// `ClaimsProvider` strings by ElementId: a button's label.
    providers: HashMap<String, String>,
    /// Restriction enumerations by claim (lower case): (text, value).
    collections: HashMap<String, Vec<(String, String)>>,
    /// `Predicate` and `InputValidation` strings by (ElementType, ElementId, StringId).
    validation: HashMap<(String, String, String), String>,
}

fn builtin() -> &'static Vec<(&'static str, &'static str, &'static str, &'static str)> {
    static TABLE: OnceLock<Vec<(&str, &str, &str, &str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("strings_en.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let mut cols = l.splitn(4, '\t');
                Some((cols.next()?, cols.next()?, cols.next()?, cols.next()?))
            })
            .collect()
    })
}

impl Strings {
    /// B2C's English for a page type (`unifiedssp`, `selfasserted`, …), then the policy's
    /// resources for `lang` on the content definition.
    pub(crate) fn of(policy: &Policy, page_type: &str, content: Option<&ContentDefinition>, lang: &str) -> Strings {
        let mut s = Strings::builtin(page_type);
        let Some(content) = content else { return s };
        let Some(loc) = &policy.localization else { return s };
        let primary = lang.split('-').next().unwrap_or(lang);
        let reference = content
            .localized_resources
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(lang))
            .or_else(|| content.localized_resources.iter().find(|(l, _)| l.eq_ignore_ascii_case(primary)));
        let Some(resources) = reference.and_then(|(_, id)| loc.resources.iter().find(|r| r.id.value == id.value))
        else {
            return s;
        };
        for (kind, element, id, text) in &resources.strings {
            s.put(kind, element, id, text);
        }
        for (kind, element, collection, items) in &resources.collections {
            if kind == "ClaimType" && collection == "Restriction" {
                s.collections.insert(element.to_lowercase(), items.clone());
            }
        }
        s
    }

    /// B2C's English for a page type.
    pub(crate) fn builtin(page_type: &str) -> Strings {
        let mut s = Strings::default();
        for (page, kind, id, text) in builtin() {
            // Error messages are shared by every page.
            if *page == page_type || *kind == "ErrorMessage" {
                s.put(kind, "", id, text);
            }
        }
        s
    }

    fn put(&mut self, kind: &str, element: &str, id: &str, text: &str) {
        let text = text.to_owned();
        match kind {
            "ErrorMessage" => {
                self.errors.insert(id.to_owned(), text);
            }
            "ClaimType" => {
                self.claims.insert((element.to_lowercase(), id.to_owned()), text);
            }
            "ClaimsProvider" => {
                self.providers.insert(element.to_owned(), text);
            }
            "Predicate" | "InputValidation" => {
                self.validation.insert((kind.to_owned(), element.to_owned(), id.to_owned()), text);
            }
            // A display control's strings are keyed by control; one page rarely has two.
            _ => {
                self.ux.insert(id.to_owned(), text);
            }
        }
    }

    /// A page string, or `fallback` when neither B2C nor the policy has it.
    pub(crate) fn ux<'a>(&'a self, id: &str, fallback: &'a str) -> &'a str {
        self.ux.get(id).map_or(fallback, String::as_str)
    }

    /// A claim's localized `DisplayName`, `UserHelpText` or `PatternHelpText`.
    pub(crate) fn claim(&self, claim: &str, id: &str) -> Option<&str> {
        self.claims.get(&(claim.to_lowercase(), id.to_owned())).map(String::as_str)
    }

    /// A predicate's localized `HelpText` (`Predicate`, predicate id) or a predicate group's
    /// (`InputValidation`, PredicateValidation id, group id).
    pub(crate) fn validation(&self, kind: &str, element: &str, id: &str) -> Option<&str> {
        self.validation.get(&(kind.to_owned(), element.to_owned(), id.to_owned())).map(String::as_str)
    }

    /// A claims exchange's button label (`ClaimsProvider` strings are keyed by exchange id).
    pub(crate) fn provider(&self, exchange: &str) -> Option<&str> {
        self.providers.get(exchange).map(String::as_str)
    }

    /// A claim's localized Restriction items.
    pub(crate) fn collection(&self, claim: &str) -> Option<&[(String, String)]> {
        self.collections.get(&claim.to_lowercase()).map(Vec::as_slice)
    }

    /// An error text the policy may have localized by its message: the engine words a failed
    /// check with the policy's own message, so a message equal to an English `ErrorMessage`
    /// takes that id's text in this language.
    pub(crate) fn error(&self, english: &Strings, message: &str) -> String {
        english
            .errors
            .iter()
            .find(|(_, text)| *text == message)
            .and_then(|(id, _)| self.errors.get(id))
            .cloned()
            .unwrap_or_else(|| message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ief_engine::model::LocalizedResources;

    fn localization(default: &str, supported: &[&str]) -> Localization {
        Localization {
            enabled: true,
            default_language: Some(default.to_owned()),
            supported_languages: supported.iter().map(|s| (*s).to_owned()).collect(),
            resources: Vec::<LocalizedResources>::new(),
        }
    }

    #[test]
    fn ui_locales_then_accept_language_then_the_default() {
        let loc = localization("en", &["en", "fr", "de-CH"]);
        assert_eq!(choose(Some(&loc), Some("fr"), Some("de-CH")), "fr");
        assert_eq!(choose(Some(&loc), Some("fr-CA"), None), "fr");
        assert_eq!(choose(Some(&loc), Some("es"), Some("es, de-ch;q=0.5, fr;q=0.8")), "fr");
        assert_eq!(choose(Some(&loc), None, Some("de-CH;q=0.9, it")), "de-CH");
        assert_eq!(choose(Some(&loc), None, Some("fr;q=0, ja")), "en");
        assert_eq!(choose(Some(&loc), None, None), "en");
        assert_eq!(choose(None, Some("fr-FR it"), None), "fr-FR");
        assert_eq!(choose(None, None, Some("fr")), "en-US");
    }

    #[test]
    fn built_in_english_covers_each_page_type() {
        for (page, id) in [
            ("unifiedssp", "forgotpassword_link"),
            ("selfasserted", "button_continue"),
            ("multifactor", "button_verify_code"),
            ("providerselection", "intro"),
            ("globalexception", "error_title"),
        ] {
            let s = Strings::builtin(page);
            assert!(s.ux.contains_key(id), "{page} lacks {id}");
            assert!(s.errors.contains_key("UserMessageIfClaimsPrincipalDoesNotExist"), "{page}");
        }
    }
}
