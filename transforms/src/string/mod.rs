//! String methods (string-transformations.md).
//!
//! Shared here: slot types, reading string inputs, the comparison modes and operators several
//! methods accept. The composite format lives in `format`.

mod compare;
mod format;
mod localized;
mod random;
mod text;
mod uri;

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::Method;
use crate::compile::{Bound, Problem};
use crate::error::TransformError;
use crate::signature::{Param, Slot, TypeSpec};
use crate::value::{DataType, parse_bool};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const INT: TypeSpec = TypeSpec::Exact(DataType::Int);

pub(crate) const METHODS: &[Method] = &[
    compare::ASSERT_STRING_CLAIMS_ARE_EQUAL,
    uri::BUILD_URI,
    text::CHANGE_CASE,
    compare::COMPARE_CLAIMS,
    compare::COMPARE_CLAIM_TO_VALUE,
    text::COPY_CLAIM_IF_PREDICATE_MATCH,
    random::CREATE_OTP_SECRET,
    random::CREATE_RANDOM_STRING,
    text::CREATE_STRING_CLAIM,
    localized::FORMAT_LOCALIZED_STRING,
    text::FORMAT_STRING_CLAIM,
    text::FORMAT_STRING_MULTIPLE_CLAIMS,
    localized::GET_LOCALIZED_STRINGS_TRANSFORMATION,
    localized::GET_MAPPED_VALUE_FROM_LOCALIZED_COLLECTION,
    compare::LOOKUP_VALUE,
    text::NULL_CLAIM,
    text::PARSE_DOMAIN,
    compare::SET_CLAIM_IF_BOOLEANS_MATCH,
    compare::SET_CLAIMS_IF_REGEX_MATCH,
    compare::SET_CLAIMS_IF_STRINGS_ARE_EQUAL,
    compare::SET_CLAIMS_IF_STRINGS_MATCH,
    compare::STRING_CONTAINS,
    text::STRING_JOIN,
    text::STRING_REPLACE,
    text::STRING_SPLIT,
    text::STRING_SUBSTRING,
];

const fn slot(name: &'static str, ty: TypeSpec) -> Slot {
    Slot { name, ty, required: true }
}

const fn param(name: &'static str, ty: TypeSpec) -> Param {
    Param { name, ty, required: true, default: None }
}

const fn optional(name: &'static str, ty: TypeSpec, default: Option<&'static str>) -> Param {
    Param { name, ty, required: false, default }
}

/// The string value of an input claim; `None` when the claim has no value.
fn input_str<'b>(bag: &'b ClaimsBag, id: ClaimId, slot: &str) -> Result<Option<&'b str>, TransformError> {
    match bag.get(id) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string"))),
    }
}

/// A `stringComparison` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    Ordinal,
    OrdinalIgnoreCase,
}

impl Comparison {
    /// The six .NET `StringComparison` names, in any letter case (the docs write
    /// `ordinalIgnoreCase`). Culture-aware modes are compared ordinally.
    fn parse(b: &Bound<'_, '_>, name: &str) -> Result<Comparison, Problem> {
        let value = b.param_str(name).unwrap_or_default();
        let mode = value.trim();
        let known = ["Ordinal", "CurrentCulture", "InvariantCulture"];
        if known.iter().any(|k| mode.eq_ignore_ascii_case(k)) {
            return Ok(Comparison::Ordinal);
        }
        if known.iter().any(|k| mode.eq_ignore_ascii_case(&format!("{k}IgnoreCase"))) {
            return Ok(Comparison::OrdinalIgnoreCase);
        }
        Err(b.invalid_param(name, format!("expected Ordinal or OrdinalIgnoreCase, found '{value}'")))
    }

    fn name(self) -> &'static str {
        match self {
            Comparison::Ordinal => "Ordinal",
            Comparison::OrdinalIgnoreCase => "OrdinalIgnoreCase",
        }
    }

    fn eq(self, a: &str, b: &str) -> bool {
        match self {
            Comparison::Ordinal => a == b,
            Comparison::OrdinalIgnoreCase => eq_ignore_case(a, b),
        }
    }
}

/// `operator`: `EQUAL` or `NOT EQUAL` in any letter case; true for EQUAL.
fn parse_operator(b: &Bound<'_, '_>, name: &str) -> Result<bool, Problem> {
    let value = b.param_str(name).unwrap_or_default();
    match value.trim() {
        v if v.eq_ignore_ascii_case("EQUAL") => Ok(true),
        v if v.eq_ignore_ascii_case("NOT EQUAL") => Ok(false),
        _ => Err(b.invalid_param(name, format!("expected EQUAL or NOT EQUAL, found '{value}'"))),
    }
}

/// A boolean carried by a string parameter (`ignoreCase`): `true` or `false`.
fn parse_flag(b: &Bound<'_, '_>, name: &str) -> Result<bool, Problem> {
    let value = b.param_str(name).unwrap_or_default();
    parse_bool(&value).ok_or_else(|| b.invalid_param(name, format!("expected true or false, found '{value}'")))
}

/// .NET `OrdinalIgnoreCase`: each character compared through its simple (one-to-one) upper-case
/// mapping, without allocating. `ß` stays `ß`; `ς`, `σ` and `Σ` are one letter.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    // Equal ignoring ASCII case is equal: the other characters' bytes are then the same.
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    // ASCII maps as simple_upper maps it, without decoding characters.
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars().map(simple_upper).eq(b.chars().map(simple_upper))
}

/// Case-insensitive substring test; `needle` is already mapped by `fold`.
fn contains_ignore_case(haystack: &str, needle: &[char]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack.char_indices().any(|(i, _)| {
        let mut mapped = haystack[i..].chars().map(simple_upper);
        needle.iter().all(|n| mapped.next() == Some(*n))
    })
}

fn fold(text: &str) -> Vec<char> {
    text.chars().map(simple_upper).collect()
}

fn simple_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

#[cfg(test)]
mod test_util {
    //! Running a `Case` against an environment of the test's choosing.

    use crate::testing::Case;
    use crate::{ClaimId, ClaimSlot, ClaimValue, ClaimsBag, DataType, ParamLiteral, TransformDecl, TransformEnv};
    use crate::{Problem, TransformError};

    fn claims(c: &Case) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for n in c.inputs.iter().map(|i| i.1).chain(c.outputs.iter().map(|o| o.1)) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    pub(crate) fn decl(c: &Case) -> TransformDecl<'static> {
        let names = claims(c);
        let id = |n: &str| ClaimId(names.iter().position(|x| *x == n).unwrap_or_default() as u32);
        TransformDecl {
            id: "CT_Test",
            method: c.method,
            inputs: c
                .inputs
                .iter()
                .map(|&(slot, claim, data_type, _)| ClaimSlot { slot, claim: id(claim), claim_type: claim, data_type })
                .collect(),
            params: c
                .params
                .iter()
                .map(|&(id, dt, value)| ParamLiteral { id, data_type: DataType::parse(dt), value })
                .collect(),
            outputs: c
                .outputs
                .iter()
                .map(|&(slot, claim, data_type)| ClaimSlot { slot, claim: id(claim), claim_type: claim, data_type })
                .collect(),
        }
    }

    /// The one problem compiling reports (panics unless there is exactly one).
    pub(crate) fn problem(c: &Case) -> Problem {
        let mut problems = c.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.remove(0)
    }

    /// Runs on a bag that already holds `preset` values, with `env`; returns the whole bag by claim name.
    pub(crate) fn run_with(
        c: &Case,
        env: &dyn TransformEnv,
        preset: &[(&str, ClaimValue)],
    ) -> Result<Vec<(&'static str, Option<ClaimValue>)>, TransformError> {
        let d = decl(c);
        let compiled = crate::compile(&d).unwrap_or_else(|p| panic!("does not compile: {p:?}"));
        let names = claims(c);
        let mut bag = ClaimsBag::with_capacity(names.len());
        for (name, value) in preset {
            let i = names.iter().position(|n| n == name).unwrap_or_else(|| panic!("unknown claim {name}"));
            bag.set(ClaimId(i as u32), value.clone());
        }
        for (slot, input) in d.inputs.iter().zip(&c.inputs) {
            if let Some(v) = &input.3 {
                bag.set(slot.claim, v.clone());
            }
        }
        let before = bag.clone();
        let result = compiled.run(&mut bag, env);
        if result.is_err() {
            assert_eq!(bag, before, "the bag changed although the transformation failed");
        }
        result?;
        Ok(names.iter().enumerate().map(|(i, n)| (*n, bag.get(ClaimId(i as u32)).cloned())).collect())
    }

    /// The value of `claim` after running with the default environment and preset values.
    pub(crate) fn after(c: &Case, preset: &[(&str, ClaimValue)], claim: &str) -> Option<ClaimValue> {
        let bag = run_with(c, &c.env, preset).unwrap_or_else(|e| panic!("failed: {e}"));
        bag.into_iter().find(|(n, _)| *n == claim).and_then(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::case;
    use crate::{ClaimValue, catalog, signature::Family};

    #[test]
    fn every_string_method_is_in_the_catalog() {
        let names = [
            "AssertStringClaimsAreEqual",
            "BuildUri",
            "ChangeCase",
            "CompareClaims",
            "CompareClaimToValue",
            "CopyClaimIfPredicateMatch",
            "CreateOtpSecret",
            "CreateRandomString",
            "CreateStringClaim",
            "FormatLocalizedString",
            "FormatStringClaim",
            "FormatStringMultipleClaims",
            "GetLocalizedStringsTransformation",
            "GetMappedValueFromLocalizedCollection",
            "LookupValue",
            "NullClaim",
            "ParseDomain",
            "SetClaimIfBooleansMatch",
            "SetClaimsIfRegexMatch",
            "SetClaimsIfStringsAreEqual",
            "SetClaimsIfStringsMatch",
            "StringContains",
            "StringJoin",
            "StringReplace",
            "StringSplit",
            "StringSubstring",
        ];
        assert_eq!(METHODS.len(), names.len());
        for name in names {
            let m = catalog::method(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
            assert_eq!(m.signature.family, Family::String, "{name}");
        }
    }

    #[test]
    fn string_slots_reject_other_types_naming_slot_and_type() {
        for (method, slot) in [
            ("CompareClaimToValue", "inputClaim1"),
            ("CopyClaimIfPredicateMatch", "inputClaim"),
            ("FormatStringClaim", "inputClaim"),
            ("GetMappedValueFromLocalizedCollection", "mapFromClaim"),
            ("LookupValue", "inputParameterId"),
            ("ParseDomain", "emailAddress"),
            ("SetClaimsIfRegexMatch", "claimToMatch"),
            ("SetClaimsIfStringsAreEqual", "inputClaim"),
            ("SetClaimsIfStringsMatch", "claimToMatch"),
            ("StringContains", "inputClaim"),
            ("StringReplace", "inputClaim"),
            ("StringSplit", "inputClaim"),
            ("StringSubstring", "inputClaim"),
            ("BuildUri", "path"),
        ] {
            let problems = case(method).input(slot, ClaimValue::Long(1)).check();
            let inputs = problems
                .iter()
                .find(|p| p.kind == crate::ProblemKind::InputMismatch)
                .unwrap_or_else(|| panic!("{method}: {problems:?}"));
            assert!(inputs.message.contains(&format!("[Long]{slot}")), "{method}: {}", inputs.message);
            assert!(inputs.message.contains(&format!("[String]{slot}")), "{method}: {}", inputs.message);
        }
    }

    #[test]
    fn ignore_case_equality_follows_dotnet_ordinal_ignore_case() {
        assert!(eq_ignore_case("SomeOne@Contoso.com", "someone@contoso.COM"));
        assert!(eq_ignore_case("ΣΑΣ", "σας"));
        assert!(eq_ignore_case("ÉCOLE", "école"));
        assert!(!eq_ignore_case("İstanbul", "istanbul"));
        assert!(!eq_ignore_case("straße", "STRASSE"));
        assert!(!eq_ignore_case("e\u{301}", "é"));
        assert!(!eq_ignore_case("a", "ab"));
        assert!(eq_ignore_case("", ""));
        assert!(eq_ignore_case("😀a", "😀A"));
    }

    #[test]
    fn ignore_case_containment() {
        assert!(contains_ignore_case("Admin, Approver, Editor", &fold("admin,")));
        assert!(contains_ignore_case("x ÉCOLE y", &fold("école")));
        assert!(contains_ignore_case("abc", &fold("")));
        assert!(!contains_ignore_case("", &fold("a")));
        assert!(!contains_ignore_case("ab", &fold("abc")));
        assert!(contains_ignore_case("😀X", &fold("x")));
    }
}
