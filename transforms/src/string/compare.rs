//! Comparisons and the methods that set claims from them: AssertStringClaimsAreEqual,
//! CompareClaims, CompareClaimToValue, LookupValue, SetClaimIfBooleansMatch,
//! SetClaimsIfRegexMatch, SetClaimsIfStringsAreEqual, SetClaimsIfStringsMatch, StringContains.

use std::collections::HashMap;

use regex::Regex;

use super::{
    BOOLEAN, Comparison, STRING, contains_ignore_case, eq_ignore_case, fold, input_str, optional, param, parse_flag,
    parse_operator, slot,
};
use crate::catalog::Method;
use crate::compile::{Bound, Location, Problem, ProblemKind, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature, TypeSpec};
use crate::value::{ClaimValue, DataType, parse_bool};

const STRINGS_NOT_EQUAL: &str = "UserMessageIfClaimsTransformationStringsAreNotEqual";
const LOOKUP_NOT_FOUND: &str = "LookupNotFound";

pub(super) const ASSERT_STRING_CLAIMS_ARE_EQUAL: Method = Method {
    signature: Signature {
        method: "AssertStringClaimsAreEqual",
        family: Family::String,
        inputs: &[slot("inputClaim1", STRING), slot("inputClaim2", STRING)],
        extra_inputs: None,
        params: &[param("stringComparison", STRING)],
        extra_params: None,
        outputs: &[],
        extra_outputs: None,
        user_message_key: Some(STRINGS_NOT_EQUAL),
    },
    build: assert_string_claims_are_equal,
};

pub(super) const COMPARE_CLAIMS: Method = Method {
    signature: Signature {
        method: "CompareClaims",
        family: Family::String,
        inputs: &[slot("inputClaim1", STRING), slot("inputClaim2", STRING)],
        extra_inputs: None,
        params: &[param("operator", STRING), optional("ignoreCase", STRING, Some("false"))],
        extra_params: None,
        outputs: &[slot("outputClaim", BOOLEAN)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: compare_claims,
};

pub(super) const COMPARE_CLAIM_TO_VALUE: Method = Method {
    signature: Signature {
        method: "CompareClaimToValue",
        family: Family::String,
        inputs: &[slot("inputClaim1", STRING)],
        extra_inputs: None,
        params: &[param("compareTo", STRING), param("operator", STRING), optional("ignoreCase", STRING, Some("false"))],
        extra_params: None,
        outputs: &[slot("outputClaim", BOOLEAN)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: compare_claim_to_value,
};

pub(super) const LOOKUP_VALUE: Method = Method {
    signature: Signature {
        method: "LookupValue",
        family: Family::String,
        inputs: &[slot("inputParameterId", STRING)],
        extra_inputs: None,
        params: &[optional("errorOnFailedLookup", BOOLEAN, Some("false"))],
        extra_params: Some(STRING),
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: Some(LOOKUP_NOT_FOUND),
    },
    build: lookup_value,
};

pub(super) const SET_CLAIM_IF_BOOLEANS_MATCH: Method = Method {
    signature: Signature {
        method: "SetClaimIfBooleansMatch",
        family: Family::String,
        // The table says string; the docs' own sample and unit test bind a boolean claim.
        inputs: &[slot("claimToMatch", TypeSpec::OneOf(&[DataType::Boolean, DataType::String]))],
        extra_inputs: None,
        params: &[param("matchTo", STRING), param("outputClaimIfMatched", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: set_claim_if_booleans_match,
};

pub(super) const SET_CLAIMS_IF_REGEX_MATCH: Method = Method {
    signature: Signature {
        method: "SetClaimsIfRegexMatch",
        family: Family::String,
        inputs: &[slot("claimToMatch", STRING)],
        extra_inputs: None,
        params: &[
            param("matchTo", STRING),
            param("outputClaimIfMatched", STRING),
            optional("extractGroups", BOOLEAN, Some("false")),
        ],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING), slot("regexCompareResultClaim", BOOLEAN)],
        // Named-group claims, declared without TransformationClaimType.
        extra_outputs: Some(STRING),
        user_message_key: None,
    },
    build: set_claims_if_regex_match,
};

pub(super) const SET_CLAIMS_IF_STRINGS_ARE_EQUAL: Method = Method {
    signature: Signature {
        method: "SetClaimsIfStringsAreEqual",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[
            param("matchTo", STRING),
            param("stringComparison", STRING),
            param("stringMatchMsg", STRING),
            param("stringMatchMsgCode", STRING),
        ],
        extra_params: None,
        outputs: &[
            slot("outputClaim1", STRING),
            slot("outputClaim2", STRING),
            slot("stringCompareResultClaim", BOOLEAN),
        ],
        extra_outputs: None,
        user_message_key: None,
    },
    build: set_claims_if_strings_are_equal,
};

pub(super) const SET_CLAIMS_IF_STRINGS_MATCH: Method = Method {
    signature: Signature {
        method: "SetClaimsIfStringsMatch",
        family: Family::String,
        inputs: &[slot("claimToMatch", STRING)],
        extra_inputs: None,
        params: &[param("matchTo", STRING), param("stringComparison", STRING), param("outputClaimIfMatched", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING), slot("stringCompareResultClaim", BOOLEAN)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: set_claims_if_strings_match,
};

pub(super) const STRING_CONTAINS: Method = Method {
    signature: Signature {
        method: "StringContains",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[param("contains", STRING), optional("ignoreCase", STRING, Some("false"))],
        extra_params: None,
        // The table says string; the value is a boolean indicator and the unit test binds a boolean.
        outputs: &[slot("outputClaim", TypeSpec::OneOf(&[DataType::Boolean, DataType::String]))],
        extra_outputs: None,
        user_message_key: None,
    },
    build: string_contains,
};

fn assert_string_claims_are_equal(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let left = b.required_input("inputClaim1")?;
    let right = b.required_input("inputClaim2")?;
    let mode = Comparison::parse(b, "stringComparison")?;
    Ok(Box::new(move |bag, _env| {
        let l = input_str(bag, left, "inputClaim1")?;
        let r = input_str(bag, right, "inputClaim2")?;
        if null_equal(l, r, |l, r| mode.eq(l, r)) {
            Ok(())
        } else {
            Err(TransformError::assertion(
                format!("Claim value comparison failed using StringComparison \"{}\".", mode.name()),
                STRINGS_NOT_EQUAL,
            ))
        }
    }))
}

fn compare_claims(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let left = b.required_input("inputClaim1")?;
    let right = b.required_input("inputClaim2")?;
    let output = b.required_output("outputClaim")?;
    let equal_op = parse_operator(b, "operator")?;
    let ignore_case = parse_flag(b, "ignoreCase")?;
    Ok(Box::new(move |bag, _env| {
        let l = input_str(bag, left, "inputClaim1")?;
        let r = input_str(bag, right, "inputClaim2")?;
        let equal = null_equal(l, r, |l, r| if ignore_case { eq_ignore_case(l, r) } else { l == r });
        bag.set(output, ClaimValue::Boolean(equal == equal_op));
        Ok(())
    }))
}

/// A missing claim is null, as .NET's `String.Equals`: unequal to any text, equal to null.
fn null_equal(l: Option<&str>, r: Option<&str>, eq: impl Fn(&str, &str) -> bool) -> bool {
    match (l, r) {
        (Some(l), Some(r)) => eq(l, r),
        (None, None) => true,
        _ => false,
    }
}

fn compare_claim_to_value(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim1")?;
    let output = b.required_output("outputClaim")?;
    let compare_to = b.param_str("compareTo").unwrap_or_default();
    let equal_op = parse_operator(b, "operator")?;
    let ignore_case = parse_flag(b, "ignoreCase")?;
    Ok(Box::new(move |bag, _env| {
        let value = input_str(bag, input, "inputClaim1")?;
        let equal =
            null_equal(value, Some(&compare_to), |v, c| if ignore_case { eq_ignore_case(v, c) } else { v == c });
        bag.set(output, ClaimValue::Boolean(equal == equal_op));
        Ok(())
    }))
}

fn lookup_value(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputParameterId")?;
    let output = b.required_output("outputClaim")?;
    let error_on_failure = b.param_bool("errorOnFailedLookup").unwrap_or(false);
    let mut table: HashMap<String, String> = HashMap::new();
    for lit in b.param_literals().iter().filter(|l| l.id != "errorOnFailedLookup") {
        // Ids are matched ordinally (case-sensitive); the first of duplicate ids wins.
        table.entry(lit.id.to_owned()).or_insert_with(|| lit.value.to_owned());
    }
    Ok(Box::new(move |bag, _env| {
        let found = input_str(bag, input, "inputParameterId")?.and_then(|key| table.get(key));
        match found {
            Some(value) => bag.set(output, ClaimValue::String(value.clone())),
            None if error_on_failure => {
                return Err(TransformError::assertion(
                    "No match found for the input claim value in the list of input parameter IDs and errorOnFailedLookup is true.",
                    LOOKUP_NOT_FOUND,
                ));
            }
            None => {}
        }
        Ok(())
    }))
}

fn set_claim_if_booleans_match(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("claimToMatch")?;
    let output = b.required_output("outputClaim")?;
    let match_to_text = b.param_str("matchTo").unwrap_or_default();
    let match_to = parse_bool(&match_to_text)
        .ok_or_else(|| b.invalid_param("matchTo", format!("expected true or false, found '{match_to_text}'")))?;
    let if_matched = b.param_str("outputClaimIfMatched").unwrap_or_default();
    Ok(Box::new(move |bag, _env| {
        let value = match bag.get(input) {
            None => return Err(TransformError::missing_input("claimToMatch")),
            Some(ClaimValue::Boolean(v)) => *v,
            Some(other) => other
                .as_str()
                .and_then(parse_bool)
                .ok_or_else(|| TransformError::invalid_value(format!("claimToMatch '{other}' is not a boolean")))?,
        };
        // No match leaves the output claim as it was.
        if value == match_to {
            bag.set(output, ClaimValue::String(if_matched.clone()));
        }
        Ok(())
    }))
}

fn set_claims_if_regex_match(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("claimToMatch")?;
    let output = b.required_output("outputClaim")?;
    let result = b.required_output("regexCompareResultClaim")?;
    let pattern = b.param_str("matchTo").unwrap_or_default();
    // .NET class syntax (`[`, `&&`, `~~` literal inside a class) is rewritten for the regex crate.
    let regex = Regex::new(&crate::dotnet::translate_regex(&pattern))
        .map_err(|e| b.invalid_param("matchTo", format!("not a supported regular expression: {e}")))?;
    let if_matched = b.param_str("outputClaimIfMatched").unwrap_or_default();
    let extract = b.param_bool("extractGroups").unwrap_or(false);
    let mut groups = Vec::new();
    for (i, out) in b.outputs().iter().enumerate() {
        if b.signature().output(out.slot).is_some() {
            continue;
        }
        let problem = |message: String| Problem {
            kind: ProblemKind::OutputMismatch,
            at: Location::Outputs(Some(i)),
            message,
            suggestion: None,
        };
        if !extract {
            return Err(problem(format!(
                "OutputClaim '{}' names a regex group, which needs InputParameter extractGroups=true",
                out.slot
            )));
        }
        let Some(index) = regex.capture_names().position(|n| n == Some(out.slot)) else {
            return Err(problem(format!("OutputClaim '{}' is not a named group of matchTo '{pattern}'", out.slot)));
        };
        groups.push((out.claim, index));
    }
    Ok(Box::new(move |bag, _env| {
        let Some(text) = input_str(bag, input, "claimToMatch")? else {
            return Ok(());
        };
        if groups.is_empty() {
            let matched = regex.is_match(text);
            if matched {
                bag.set(output, ClaimValue::String(if_matched.clone()));
            }
            bag.set(result, ClaimValue::Boolean(matched));
            return Ok(());
        }
        let Some(captures) = regex.captures(text) else {
            bag.set(result, ClaimValue::Boolean(false));
            return Ok(());
        };
        // A group that took no part in the match is empty, as .NET's Group.Value.
        let values: Vec<ClaimValue> = groups
            .iter()
            .map(|(_, index)| ClaimValue::String(captures.get(*index).map_or("", |m| m.as_str()).to_owned()))
            .collect();
        bag.set(output, ClaimValue::String(if_matched.clone()));
        bag.set(result, ClaimValue::Boolean(true));
        for ((claim, _), value) in groups.iter().zip(values) {
            bag.set(*claim, value);
        }
        Ok(())
    }))
}

fn set_claims_if_strings_are_equal(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output1 = b.required_output("outputClaim1")?;
    let output2 = b.required_output("outputClaim2")?;
    let result = b.required_output("stringCompareResultClaim")?;
    let match_to = b.param_str("matchTo").unwrap_or_default();
    let mode = Comparison::parse(b, "stringComparison")?;
    // The table's mapping; the doc example shows the two swapped (see compat notes).
    let message = b.param_str("stringMatchMsg").unwrap_or_default();
    let code = b.param_str("stringMatchMsgCode").unwrap_or_default();
    Ok(Box::new(move |bag, _env| {
        let Some(value) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        let equal = mode.eq(value, &match_to);
        if equal {
            bag.set(output1, ClaimValue::String(message.clone()));
            bag.set(output2, ClaimValue::String(code.clone()));
        }
        bag.set(result, ClaimValue::Boolean(equal));
        Ok(())
    }))
}

fn set_claims_if_strings_match(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("claimToMatch")?;
    let output = b.required_output("outputClaim")?;
    let result = b.required_output("stringCompareResultClaim")?;
    let match_to = b.param_str("matchTo").unwrap_or_default();
    let mode = Comparison::parse(b, "stringComparison")?;
    let if_matched = b.param_str("outputClaimIfMatched").unwrap_or_default();
    Ok(Box::new(move |bag, _env| {
        let Some(value) = input_str(bag, input, "claimToMatch")? else {
            return Ok(());
        };
        let equal = mode.eq(value, &match_to);
        // On no match the output keeps its previous value (observed behaviour, PR #81293).
        if equal {
            bag.set(output, ClaimValue::String(if_matched.clone()));
        }
        bag.set(result, ClaimValue::Boolean(equal));
        Ok(())
    }))
}

fn string_contains(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let as_string = b.outputs().iter().any(|o| o.slot == "outputClaim" && o.data_type == DataType::String);
    let contains = b.param_str("contains").unwrap_or_default();
    let ignore_case = parse_flag(b, "ignoreCase")?;
    let folded = fold(&contains);
    Ok(Box::new(move |bag, _env| {
        let Some(text) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        let found = if ignore_case { contains_ignore_case(text, &folded) } else { text.contains(contains.as_str()) };
        let value = if as_string {
            ClaimValue::String(ClaimValue::Boolean(found).to_string())
        } else {
            ClaimValue::Boolean(found)
        };
        bag.set(output, value);
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{after, problem, run_with};
    use crate::testing::{b, case, s};
    use crate::{ClaimValue, DataType, ErrorCode, ProblemKind};

    fn assert_equal(
        l: Option<&'static str>,
        r: Option<&'static str>,
        mode: &'static str,
    ) -> Result<(), crate::TransformError> {
        case("AssertStringClaimsAreEqual")
            .input_claim("inputClaim1", "strongAuthenticationEmailAddress", DataType::String, l.map(s))
            .input_claim("inputClaim2", "email", DataType::String, r.map(s))
            .param("stringComparison", "string", mode)
            .run()
            .map(|out| assert!(out.is_empty()))
    }

    #[test]
    fn assert_string_claims_are_equal_documented_example_raises() {
        let err =
            assert_equal(Some("someone@contoso.com"), Some("someone@outlook.com"), "ordinalIgnoreCase").unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some("UserMessageIfClaimsTransformationStringsAreNotEqual"));
        assert_eq!(err.message, "Claim value comparison failed using StringComparison \"OrdinalIgnoreCase\".");
    }

    #[test]
    fn assert_string_claims_are_equal_by_mode() {
        assert!(assert_equal(Some("SomeOne@Contoso.com"), Some("someone@contoso.com"), "ordinalIgnoreCase").is_ok());
        let err = assert_equal(Some("SomeOne@Contoso.com"), Some("someone@contoso.com"), "Ordinal").unwrap_err();
        assert_eq!(err.message, "Claim value comparison failed using StringComparison \"Ordinal\".");
        assert!(assert_equal(Some("ΣΑΣ"), Some("σας"), "OrdinalIgnoreCase").is_ok());
        assert!(assert_equal(Some("İstanbul"), Some("istanbul"), "OrdinalIgnoreCase").is_err());
        // Ordinal compares code units: precomposed and combining forms differ.
        assert!(assert_equal(Some("é"), Some("e\u{301}"), "Ordinal").is_err());
        assert!(assert_equal(Some(""), Some(""), "Ordinal").is_ok());
        assert!(assert_equal(Some("😀"), Some("😀"), "Ordinal").is_ok());
    }

    #[test]
    fn assert_string_claims_are_equal_treats_missing_as_null() {
        assert!(assert_equal(None, Some("a"), "Ordinal").is_err());
        assert!(assert_equal(Some("a"), None, "Ordinal").is_err());
        assert!(assert_equal(None, None, "Ordinal").is_ok());
    }

    #[test]
    fn assert_string_claims_are_equal_checks_types_and_mode() {
        let problems = case("AssertStringClaimsAreEqual")
            .input("inputClaim1", ClaimValue::Int(1))
            .input("inputClaim2", s("a"))
            .param("stringComparison", "string", "Ordinal")
            .check();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("[Int]inputClaim1"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]inputClaim1"), "{}", problems[0].message);
        let p = problem(
            &case("AssertStringClaimsAreEqual").input("inputClaim1", s("a")).input("inputClaim2", s("a")).param(
                "stringComparison",
                "string",
                "Caseless",
            ),
        );
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("stringComparison"), "{}", p.message);
        // Culture-aware names are accepted and compared ordinally.
        assert!(assert_equal(Some("A"), Some("a"), "InvariantCultureIgnoreCase").is_ok());
        assert!(assert_equal(Some("A"), Some("a"), "CurrentCulture").is_err());
    }

    fn compare(
        l: Option<&'static str>,
        r: Option<&'static str>,
        op: &'static str,
        ignore: Option<&'static str>,
    ) -> Option<ClaimValue> {
        let mut c = case("CompareClaims")
            .input_claim("inputClaim1", "Email", DataType::String, l.map(s))
            .input_claim("inputClaim2", "Verified.Email", DataType::String, r.map(s))
            .param("operator", "string", op)
            .output_claim("outputClaim", "SameEmailAddress", DataType::Boolean);
        if let Some(i) = ignore {
            c = c.param("ignoreCase", "string", i);
        }
        c.run_one().unwrap()
    }

    #[test]
    fn compare_claims_documented_example() {
        assert_eq!(
            compare(Some("someone@contoso.com"), Some("someone@outlook.com"), "NOT EQUAL", Some("true")),
            Some(b(true))
        );
    }

    #[test]
    fn compare_claims_operators_and_case() {
        assert_eq!(compare(Some("A@x.com"), Some("a@X.com"), "EQUAL", Some("true")), Some(b(true)));
        assert_eq!(compare(Some("A@x.com"), Some("a@X.com"), "EQUAL", Some("false")), Some(b(false)));
        // ignoreCase omitted (age-gating sample): case-sensitive.
        assert_eq!(compare(Some("Minor"), Some("minor"), "NOT EQUAL", None), Some(b(true)));
        assert_eq!(compare(Some("x"), Some("x"), "Not EQUAL", None), Some(b(false)));
        assert_eq!(compare(Some("x"), Some("x"), " equal ", None), Some(b(true)));
        assert_eq!(compare(Some(""), Some(""), "EQUAL", None), Some(b(true)));
        assert_eq!(compare(Some("ÉCOLE"), Some("école"), "EQUAL", Some("True")), Some(b(true)));
    }

    #[test]
    fn compare_claims_reads_a_missing_claim_as_null() {
        // The home-realm-discovery sample: an unknown domain leaves knownDomain unset, and
        // isKnownCustomer must come out False for the journey's preconditions.
        assert_eq!(compare(None, Some("true"), "EQUAL", Some("true")), Some(b(false)));
        assert_eq!(compare(Some("x"), None, "EQUAL", None), Some(b(false)));
        assert_eq!(compare(None, Some("x"), "NOT EQUAL", None), Some(b(true)));
        assert_eq!(compare(Some("x"), None, "NOT EQUAL", None), Some(b(true)));
        assert_eq!(compare(None, None, "EQUAL", None), Some(b(true)));
        assert_eq!(compare(None, None, "NOT EQUAL", Some("true")), Some(b(false)));
    }

    #[test]
    fn compare_claims_rejects_bad_parameters() {
        let base = || {
            case("CompareClaims")
                .input("inputClaim1", s("a"))
                .input("inputClaim2", s("b"))
                .output("outputClaim", DataType::Boolean)
        };
        let p = problem(&base().param("operator", "string", "LIKE"));
        assert!(p.message.contains("operator") && p.message.contains("LIKE"), "{}", p.message);
        let p = problem(&base().param("operator", "string", "EQUAL").param("ignoreCase", "string", "maybe"));
        assert!(p.message.contains("ignoreCase"), "{}", p.message);
        // ignoreCase must be DataType string (issue #95096).
        let problems = base().param("operator", "string", "EQUAL").param("ignoreCase", "boolean", "true").check();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("ignoreCase") && problems[0].message.contains("String"),
            "{}",
            problems[0].message
        );
        // The output is boolean.
        let problems = case("CompareClaims")
            .input("inputClaim1", s("a"))
            .input("inputClaim2", s("b"))
            .param("operator", "string", "EQUAL")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[Boolean]outputClaim"), "{}", problems[0].message);
    }

    fn compare_to_value(
        value: Option<&'static str>,
        to: &'static str,
        op: &'static str,
        ignore: &'static str,
    ) -> Option<ClaimValue> {
        case("CompareClaimToValue")
            .input_claim("inputClaim1", "termsOfUseConsentVersion", DataType::String, value.map(s))
            .param("compareTo", "string", to)
            .param("operator", "string", op)
            .param("ignoreCase", "string", ignore)
            .output_claim("outputClaim", "termsOfUseConsentRequired", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn compare_claim_to_value_documented_examples() {
        // Both revisions of the example, and the XML of the first (operator "not equal").
        assert_eq!(compare_to_value(Some("v1"), "V1", "EQUAL", "true"), Some(b(true)));
        assert_eq!(compare_to_value(Some("v1"), "V2", "NOT EQUAL", "true"), Some(b(true)));
        assert_eq!(compare_to_value(Some("v1"), "V1", "not equal", "true"), Some(b(false)));
    }

    #[test]
    fn compare_claim_to_value_edges() {
        assert_eq!(compare_to_value(Some("v1"), "V1", "EQUAL", "false"), Some(b(false)));
        assert_eq!(compare_to_value(Some(""), "", "EQUAL", "false"), Some(b(true)));
        assert_eq!(compare_to_value(Some("😀"), "😀", "EQUAL", "false"), Some(b(true)));
        // A missing claim is null: never equal to the literal.
        assert_eq!(compare_to_value(None, "V1", "EQUAL", "true"), Some(b(false)));
        assert_eq!(compare_to_value(None, "V1", "NOT EQUAL", "true"), Some(b(true)));
        assert_eq!(compare_to_value(None, "", "EQUAL", "false"), Some(b(false)));
        let p = problem(
            &case("CompareClaimToValue")
                .input("inputClaim1", s("a"))
                .param("compareTo", "string", "a")
                .param("operator", "string", "EQUALS")
                .output("outputClaim", DataType::Boolean),
        );
        assert!(p.message.contains("operator"), "{}", p.message);
        let problems = case("CompareClaimToValue")
            .input("inputClaim1", s("a"))
            .param("operator", "string", "EQUAL")
            .output("outputClaim", DataType::Boolean)
            .check();
        assert!(problems.iter().any(|p| p.message.contains("compareTo")), "{problems:?}");
    }

    fn lookup(key: Option<&'static str>, error: &'static str) -> Result<Option<ClaimValue>, crate::TransformError> {
        case("LookupValue")
            .input_claim("inputParameterId", "domainName", DataType::String, key.map(s))
            .param("contoso.com", "string", "13c15f79-8fb1-4e29-a6c9-be0d36ff19f1")
            .param("microsoft.com", "string", "0213308f-17cb-4398-b97e-01da7bd4804e")
            .param("test.com", "string", "c7026f88-4299-4cdb-965d-3f166464b8a9")
            .param("errorOnFailedLookup", "boolean", error)
            .output_claim("outputClaim", "domainAppId", DataType::String)
            .run_one()
    }

    #[test]
    fn lookup_value_documented_examples() {
        assert_eq!(lookup(Some("test.com"), "false").unwrap(), Some(s("c7026f88-4299-4cdb-965d-3f166464b8a9")));
        let err = lookup(Some("live.com"), "true").unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some("LookupNotFound"));
        assert!(err.message.starts_with("No match found"), "{}", err.message);
    }

    #[test]
    fn lookup_value_edges() {
        assert_eq!(lookup(Some("live.com"), "false").unwrap(), None);
        // Keys match ordinally.
        assert_eq!(lookup(Some("Test.com"), "false").unwrap(), None);
        assert_eq!(lookup(Some(""), "false").unwrap(), None);
        assert_eq!(lookup(None, "false").unwrap(), None);
        assert_eq!(lookup(None, "true").unwrap_err().code, ErrorCode::AssertionFailed);
        // errorOnFailedLookup defaults to false.
        let out = case("LookupValue")
            .input("inputParameterId", s("İ"))
            .param("İ", "string", "dotted")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("dotted")));
        let problems = case("LookupValue")
            .input("inputParameterId", s("a"))
            .param("a", "int", "1")
            .param("errorOnFailedLookup", "string", "true")
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.message.contains("errorOnFailedLookup") && p.message.contains("Boolean")));
    }

    fn booleans_match(
        value: Option<ClaimValue>,
        t: DataType,
        match_to: &'static str,
    ) -> Result<Option<ClaimValue>, crate::TransformError> {
        let c = case("SetClaimIfBooleansMatch")
            .input_claim("claimToMatch", "hasPromotionCode", t, value)
            .param("matchTo", "string", match_to)
            .param("outputClaimIfMatched", "string", "Promotion code not found.")
            .output_claim("outputClaim", "promotionCode", DataType::String);
        run_with(&c, &c.env, &[("promotionCode", s("before"))])
            .map(|bag| bag.into_iter().find(|(n, _)| *n == "promotionCode").and_then(|(_, v)| v))
    }

    #[test]
    fn set_claim_if_booleans_match_documented_example() {
        assert_eq!(
            booleans_match(Some(b(true)), DataType::Boolean, "true").unwrap(),
            Some(s("Promotion code not found."))
        );
    }

    #[test]
    fn set_claim_if_booleans_match_edges() {
        // No match leaves the output as it was.
        assert_eq!(booleans_match(Some(b(false)), DataType::Boolean, "true").unwrap(), Some(s("before")));
        assert_eq!(
            booleans_match(Some(b(false)), DataType::Boolean, "False").unwrap(),
            Some(s("Promotion code not found."))
        );
        assert_eq!(
            booleans_match(Some(s("TRUE")), DataType::String, "true").unwrap(),
            Some(s("Promotion code not found."))
        );
        assert_eq!(booleans_match(Some(s("yes")), DataType::String, "true").unwrap_err().code, ErrorCode::InvalidValue);
        // A null claimToMatch throws.
        assert_eq!(booleans_match(None, DataType::Boolean, "true").unwrap_err().code, ErrorCode::MissingInput);
        let p = problem(
            &case("SetClaimIfBooleansMatch")
                .input("claimToMatch", b(true))
                .param("matchTo", "string", "yes")
                .param("outputClaimIfMatched", "string", "x")
                .output("outputClaim", DataType::String),
        );
        assert!(p.message.contains("matchTo"), "{}", p.message);
        let problems = case("SetClaimIfBooleansMatch")
            .input("claimToMatch", ClaimValue::Int(1))
            .param("matchTo", "string", "true")
            .param("outputClaimIfMatched", "string", "x")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[Boolean|String]claimToMatch"), "{}", problems[0].message);
    }

    fn regex_case(value: Option<&'static str>, pattern: &'static str) -> crate::testing::Case {
        case("SetClaimsIfRegexMatch")
            .input_claim("claimToMatch", "phone", DataType::String, value.map(s))
            .param("matchTo", "string", pattern)
            .param("outputClaimIfMatched", "string", "iPhone")
            .output_claim("outputClaim", "validationResult", DataType::String)
            .output_claim("regexCompareResultClaim", "isPhoneBoolean", DataType::Boolean)
    }

    #[test]
    fn set_claims_if_regex_match_documented_example() {
        let out = regex_case(Some("64854114520"), "^[0-9]{4,16}$").run().unwrap();
        assert_eq!(out, vec![("validationResult", s("iPhone")), ("isPhoneBoolean", b(true))]);
    }

    #[test]
    fn set_claims_if_regex_match_with_groups_documented_example() {
        let out = case("SetClaimsIfRegexMatch")
            .input_claim("claimToMatch", "email", DataType::String, Some(s("emily@contoso.com")))
            .param("matchTo", "string", "(?<mailAlias>.*)@(.*)$")
            .param("outputClaimIfMatched", "string", "isEmail")
            .param("extractGroups", "boolean", "true")
            .output_claim("outputClaim", "validationResult", DataType::String)
            .output_claim("regexCompareResultClaim", "isEmailString", DataType::Boolean)
            .output("mailAlias", DataType::String)
            .run()
            .unwrap();
        assert_eq!(
            out,
            vec![("validationResult", s("isEmail")), ("isEmailString", b(true)), ("mailAlias", s("emily"))]
        );
    }

    #[test]
    fn set_claims_if_regex_match_no_match_keeps_output() {
        let c = regex_case(Some("+1 648"), "^[0-9]{4,16}$");
        assert_eq!(after(&c, &[("validationResult", s("before"))], "validationResult"), Some(s("before")));
        assert_eq!(after(&c, &[], "isPhoneBoolean"), Some(b(false)));
        assert_eq!(after(&c, &[], "validationResult"), None);
        // A partial match counts unless the pattern is anchored.
        assert_eq!(after(&regex_case(Some("tel 1234"), "[0-9]{4}"), &[], "isPhoneBoolean"), Some(b(true)));
        assert_eq!(after(&regex_case(Some(""), "^$"), &[], "isPhoneBoolean"), Some(b(true)));
        assert_eq!(after(&regex_case(Some("İstanbul"), r"^\p{L}+$"), &[], "isPhoneBoolean"), Some(b(true)));
        assert_eq!(regex_case(None, "^x$").run().unwrap(), vec![]);
        // Inside a .NET class `&&` and `[` are literals.
        assert_eq!(after(&regex_case(Some("a&&[b"), r"^[a-z&&[]+$"), &[], "isPhoneBoolean"), Some(b(true)));
    }

    #[test]
    fn set_claims_if_regex_match_group_edges() {
        let c = case("SetClaimsIfRegexMatch")
            .input("claimToMatch", s("abc"))
            .param("matchTo", "string", "^(?<first>a)(?<opt>z)?")
            .param("outputClaimIfMatched", "string", "yes")
            .param("extractGroups", "boolean", "true")
            .output("outputClaim", DataType::String)
            .output("regexCompareResultClaim", DataType::Boolean)
            .output("first", DataType::String)
            .output("opt", DataType::String);
        assert_eq!(after(&c, &[], "first"), Some(s("a")));
        assert_eq!(after(&c, &[], "opt"), Some(s("")));
        let miss = case("SetClaimsIfRegexMatch")
            .input("claimToMatch", s("xyz"))
            .param("matchTo", "string", "^(?<first>a)")
            .param("outputClaimIfMatched", "string", "yes")
            .param("extractGroups", "boolean", "true")
            .output("outputClaim", DataType::String)
            .output("regexCompareResultClaim", DataType::Boolean)
            .output("first", DataType::String);
        assert_eq!(after(&miss, &[("first", s("kept"))], "first"), Some(s("kept")));
        assert_eq!(after(&miss, &[], "regexCompareResultClaim"), Some(b(false)));
    }

    #[test]
    fn set_claims_if_regex_match_rejects_bad_declarations() {
        let p = problem(&regex_case(Some("x"), "([0-9"));
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("matchTo"), "{}", p.message);
        let grouped = |extract: &'static str, pattern: &'static str| {
            case("SetClaimsIfRegexMatch")
                .input("claimToMatch", s("x"))
                .param("matchTo", "string", pattern)
                .param("outputClaimIfMatched", "string", "y")
                .param("extractGroups", "boolean", extract)
                .output("outputClaim", DataType::String)
                .output("regexCompareResultClaim", DataType::Boolean)
                .output("alias", DataType::String)
        };
        let p = problem(&grouped("false", "(?<alias>.*)"));
        assert_eq!(p.kind, ProblemKind::OutputMismatch);
        assert!(p.message.contains("extractGroups"), "{}", p.message);
        let p = problem(&grouped("true", "(?<other>.*)"));
        assert!(p.message.contains("'alias'") && p.message.contains("named group"), "{}", p.message);
        let problems = regex_case(Some("x"), "x").output("n", DataType::Int).check();
        assert!(problems[0].message.contains("[Int]n"), "{}", problems[0].message);
    }

    fn strings_are_equal(value: &'static str, mode: &'static str) -> crate::testing::Case {
        case("SetClaimsIfStringsAreEqual")
            .input_claim("inputClaim", "termsOfUseConsentVersion", DataType::String, Some(s(value)))
            .param("matchTo", "string", "V1")
            .param("stringComparison", "string", mode)
            .param("stringMatchMsgCode", "string", "B2C_V1_90005")
            .param("stringMatchMsg", "string", "The TOS is upgraded to v2")
            .output_claim("outputClaim1", "termsOfUseConsentVersion", DataType::String)
            .output_claim("outputClaim2", "termsOfUseConsentVersionUpgradeCode", DataType::String)
            .output_claim("stringCompareResultClaim", "termsOfUseConsentVersionUpgradeResult", DataType::Boolean)
    }

    #[test]
    fn set_claims_if_strings_are_equal_documented_example() {
        // Outputs follow the table (outputClaim1 = stringMatchMsg); the doc's example lists them swapped.
        let out = strings_are_equal("v1", "ordinalIgnoreCase").run().unwrap();
        assert_eq!(
            out,
            vec![
                ("termsOfUseConsentVersion", s("The TOS is upgraded to v2")),
                ("termsOfUseConsentVersionUpgradeCode", s("B2C_V1_90005")),
                ("termsOfUseConsentVersionUpgradeResult", b(true)),
            ]
        );
    }

    #[test]
    fn set_claims_if_strings_are_equal_no_match() {
        let c = strings_are_equal("v1", "Ordinal");
        assert_eq!(after(&c, &[], "termsOfUseConsentVersion"), Some(s("v1")));
        assert_eq!(after(&c, &[], "termsOfUseConsentVersionUpgradeCode"), None);
        assert_eq!(after(&c, &[], "termsOfUseConsentVersionUpgradeResult"), Some(b(false)));
        let p = problem(&strings_are_equal("v1", "ordinal ignore case"));
        assert!(p.message.contains("stringComparison"), "{}", p.message);
    }

    fn strings_match(value: Option<&'static str>, mode: &'static str) -> crate::testing::Case {
        case("SetClaimsIfStringsMatch")
            .input_claim("claimToMatch", "ageGroup", DataType::String, value.map(s))
            .param("matchTo", "string", "Minor")
            .param("stringComparison", "string", mode)
            .param("outputClaimIfMatched", "string", "B2C_V1_90001")
            .output_claim("outputClaim", "isMinor", DataType::String)
            .output_claim("stringCompareResultClaim", "isMinorResponseCode", DataType::Boolean)
    }

    #[test]
    fn set_claims_if_strings_match_documented_example() {
        let out = strings_match(Some("Minor"), "ordinalIgnoreCase").run().unwrap();
        assert_eq!(out, vec![("isMinor", s("B2C_V1_90001")), ("isMinorResponseCode", b(true))]);
    }

    #[test]
    fn set_claims_if_strings_match_edges() {
        assert_eq!(after(&strings_match(Some("MINOR"), "ordinalIgnoreCase"), &[], "isMinor"), Some(s("B2C_V1_90001")));
        // No match: the result is false and the output keeps its value (PR #81293).
        let c = strings_match(Some("MINOR"), "Ordinal");
        assert_eq!(after(&c, &[("isMinor", s("myclaim"))], "isMinor"), Some(s("myclaim")));
        assert_eq!(after(&c, &[], "isMinorResponseCode"), Some(b(false)));
        assert_eq!(after(&strings_match(Some(""), "Ordinal"), &[], "isMinorResponseCode"), Some(b(false)));
        assert_eq!(strings_match(None, "Ordinal").run().unwrap(), vec![]);
        let problems = strings_match(Some("x"), "Ordinal").output("extra", DataType::String).check();
        assert!(problems[0].message.contains("[String]extra"), "{}", problems[0].message);
    }

    fn contains(value: Option<&'static str>, needle: &'static str, ignore: &'static str) -> Option<ClaimValue> {
        case("StringContains")
            .input_claim("inputClaim", "roles", DataType::String, value.map(s))
            .param("contains", "string", needle)
            .param("ignoreCase", "string", ignore)
            .output_claim("outputClaim", "isAdmin", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn string_contains_documented_example() {
        // The bullet list searches "admin,", the XML "admin".
        assert_eq!(contains(Some("Admin, Approver, Editor"), "admin,", "true"), Some(b(true)));
        assert_eq!(contains(Some("Admin, Approver, Editor"), "admin", "true"), Some(b(true)));
    }

    #[test]
    fn string_contains_edges() {
        // The unit-test policy's two modes.
        assert_eq!(contains(Some("Contributors and readers"), "readers", "true"), Some(b(true)));
        assert_eq!(contains(Some("Contributors and readers"), "Readers", "false"), Some(b(false)));
        assert_eq!(contains(Some("abc"), "", "false"), Some(b(true)));
        assert_eq!(contains(Some(""), "a", "true"), Some(b(false)));
        assert_eq!(contains(Some("Größe 😀 ÉCOLE"), "école", "true"), Some(b(true)));
        assert_eq!(contains(Some("Größe 😀 ÉCOLE"), "😀", "false"), Some(b(true)));
        assert_eq!(contains(None, "a", "true"), None);
        let out = case("StringContains")
            .input("inputClaim", s("abc"))
            .param("contains", "string", "B")
            .param("ignoreCase", "string", "true")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("True")));
        let problems = case("StringContains")
            .input("inputClaim", s("abc"))
            .param("contains", "string", "B")
            .param("ignoreCase", "boolean", "true")
            .output("outputClaim", DataType::Boolean)
            .check();
        assert!(problems[0].message.contains("ignoreCase"), "{}", problems[0].message);
    }
}
