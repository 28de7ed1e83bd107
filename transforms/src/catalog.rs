//! The table of every TransformationMethod, assembled from the family modules.

use crate::compile::{Bound, Problem, Runner};
use crate::signature::Signature;
use crate::{boolean, date, general, integer, json, phone, social, string, string_collection, user_identity};

/// A method: its signature and the builder that compiles a checked declaration.
#[derive(Debug)]
pub struct Method {
    pub signature: Signature,
    pub build: fn(&Bound<'_, '_>) -> Result<Runner, Problem>,
}

const FAMILIES: [&[Method]; 10] = [
    boolean::METHODS,
    date::METHODS,
    general::METHODS,
    integer::METHODS,
    json::METHODS,
    phone::METHODS,
    social::METHODS,
    string::METHODS,
    string_collection::METHODS,
    user_identity::METHODS,
];

/// Every method, family by family.
pub fn methods() -> impl Iterator<Item = &'static Method> {
    FAMILIES.into_iter().flatten()
}

/// Looks a method up by name, in any case: B2C accepts `setClaimsIfRegexMatch` (two of
/// Microsoft's samples and the method's reference page in 2020 wrote it so).
pub fn method(name: &str) -> Option<&'static Method> {
    methods().find(|m| m.signature.method.eq_ignore_ascii_case(name))
}

/// The nearest known method name, for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    methods()
        .map(|m| m.signature.method)
        .map(|n| (strsim::jaro_winkler(&lower, &n.to_ascii_lowercase()), n))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_found_in_any_case_under_their_own_name() {
        for name in ["SetClaimsIfRegexMatch", "setClaimsIfRegexMatch", "SETCLAIMSIFREGEXMATCH"] {
            assert_eq!(method(name).map(|m| m.signature.method), Some("SetClaimsIfRegexMatch"), "{name}");
        }
        assert!(method("SetClaimsIfRegexMatches").is_none());
        // No two names differ only in case, so the lookup has one answer.
        let mut names: Vec<String> = methods().map(|m| m.signature.method.to_ascii_lowercase()).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
