//! Boolean methods (boolean-transformations.md).
//!
//! A boolean input without a value reads as `false` in every method of this family: the docs
//! leave it open, and one rule for the family is easier to reason about in policies.

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);

const ASSERT_KEY: &str = "UserMessageIfClaimsTransformationBooleanValueIsNotEqual";

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "AndClaims",
            family: Family::Boolean,
            inputs: &[
                Slot { name: "inputClaim1", ty: BOOLEAN, required: true },
                Slot { name: "inputClaim2", ty: BOOLEAN, required: true },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: and_claims,
    },
    Method {
        signature: Signature {
            method: "AssertBooleanClaimIsEqualToValue",
            family: Family::Boolean,
            inputs: &[Slot { name: "inputClaim", ty: BOOLEAN, required: true }],
            extra_inputs: None,
            params: &[Param { name: "valueToCompareTo", ty: BOOLEAN, required: true, default: None }],
            extra_params: None,
            outputs: &[],
            extra_outputs: None,
            user_message_key: Some(ASSERT_KEY),
        },
        build: assert_boolean_claim_is_equal_to_value,
    },
    Method {
        signature: Signature {
            method: "CompareBooleanClaimToValue",
            family: Family::Boolean,
            inputs: &[Slot { name: "inputClaim", ty: BOOLEAN, required: true }],
            extra_inputs: None,
            params: &[Param { name: "valueToCompareTo", ty: BOOLEAN, required: true, default: None }],
            extra_params: None,
            outputs: &[Slot { name: "compareResult", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: compare_boolean_claim_to_value,
    },
    Method {
        signature: Signature {
            method: "NotClaims",
            family: Family::Boolean,
            inputs: &[Slot { name: "inputClaim", ty: BOOLEAN, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: not_claims,
    },
    Method {
        signature: Signature {
            method: "OrClaims",
            family: Family::Boolean,
            inputs: &[
                Slot { name: "inputClaim1", ty: BOOLEAN, required: true },
                Slot { name: "inputClaim2", ty: BOOLEAN, required: true },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: or_claims,
    },
];

/// The boolean in `id`; absent reads as `false`.
fn read_bool(bag: &ClaimsBag, id: ClaimId, slot: &str) -> Result<bool, TransformError> {
    match bag.get(id) {
        None => Ok(false),
        Some(ClaimValue::Boolean(v)) => Ok(*v),
        Some(other) => {
            Err(TransformError::invalid_value(format!("{slot} holds a {} value, not a boolean", other.data_type())))
        }
    }
}

/// A checked, required boolean parameter.
fn bool_param(b: &Bound<'_, '_>, name: &str) -> Result<bool, Problem> {
    b.param_bool(name).ok_or_else(|| b.invalid_param(name, "expected true or false"))
}

fn and_claims(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    binary(b, |x, y| x && y)
}

fn or_claims(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    binary(b, |x, y| x || y)
}

fn binary(b: &Bound<'_, '_>, op: fn(bool, bool) -> bool) -> Result<Runner, Problem> {
    let in1 = b.required_input("inputClaim1")?;
    let in2 = b.required_input("inputClaim2")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let x = read_bool(bag, in1, "inputClaim1")?;
        let y = read_bool(bag, in2, "inputClaim2")?;
        bag.set(output, ClaimValue::Boolean(op(x, y)));
        Ok(())
    }))
}

fn not_claims(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let x = read_bool(bag, input, "inputClaim")?;
        bag.set(output, ClaimValue::Boolean(!x));
        Ok(())
    }))
}

fn compare_boolean_claim_to_value(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let expected = bool_param(b, "valueToCompareTo")?;
    let output = b.required_output("compareResult")?;
    Ok(Box::new(move |bag, _env| {
        let x = read_bool(bag, input, "inputClaim")?;
        bag.set(output, ClaimValue::Boolean(x == expected));
        Ok(())
    }))
}

fn assert_boolean_claim_is_equal_to_value(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let expected = bool_param(b, "valueToCompareTo")?;
    // The service's default message names the claim type; build it once here.
    let claim_type = b.inputs().iter().find(|d| d.slot == "inputClaim").map_or("inputClaim", |d| d.claim_type);
    let message = format!("Boolean claim value comparison failed for claim type \"{claim_type}\".");
    Ok(Box::new(move |bag, _env| {
        let x = read_bool(bag, input, "inputClaim")?;
        if x == expected { Ok(()) } else { Err(TransformError::assertion(message.clone(), ASSERT_KEY)) }
    }))
}

#[cfg(test)]
mod tests {
    use super::ASSERT_KEY;
    use crate::testing::{b, case, s};
    use crate::{ClaimValue, DataType, ErrorCode};

    fn binary(method: &'static str, x: Option<bool>, y: Option<bool>) -> Option<ClaimValue> {
        case(method)
            .input_claim("inputClaim1", "a", DataType::Boolean, x.map(b))
            .input_claim("inputClaim2", "b", DataType::Boolean, y.map(b))
            .output("outputClaim", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn and_claims_documented_example() {
        assert_eq!(binary("AndClaims", Some(true), Some(false)), Some(b(false)));
    }

    #[test]
    fn and_claims_truth_table() {
        for (x, y, want) in [(true, true, true), (true, false, false), (false, true, false), (false, false, false)] {
            assert_eq!(binary("AndClaims", Some(x), Some(y)), Some(b(want)), "{x} AND {y}");
        }
    }

    #[test]
    fn and_claims_reads_a_missing_input_as_false() {
        assert_eq!(binary("AndClaims", None, Some(true)), Some(b(false)));
        assert_eq!(binary("AndClaims", Some(true), None), Some(b(false)));
        assert_eq!(binary("AndClaims", None, None), Some(b(false)));
    }

    #[test]
    fn and_claims_rejects_a_string_input_at_check() {
        let problems = case("AndClaims")
            .input("inputClaim1", s("true"))
            .input("inputClaim2", b(true))
            .output("outputClaim", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let message = &problems[0].message;
        assert!(message.contains("[String]inputClaim1"), "{message}");
        assert!(message.contains("[Boolean]inputClaim1"), "{message}");
    }

    #[test]
    fn and_claims_requires_both_inputs_declared() {
        let problems = case("AndClaims").input("inputClaim1", b(true)).output("outputClaim", DataType::Boolean).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Boolean]inputClaim2"), "{}", problems[0].message);
    }

    #[test]
    fn or_claims_documented_example() {
        assert_eq!(binary("OrClaims", Some(true), Some(false)), Some(b(true)));
    }

    #[test]
    fn or_claims_truth_table() {
        for (x, y, want) in [(true, true, true), (true, false, true), (false, true, true), (false, false, false)] {
            assert_eq!(binary("OrClaims", Some(x), Some(y)), Some(b(want)), "{x} OR {y}");
        }
    }

    #[test]
    fn or_claims_reads_a_missing_input_as_false() {
        assert_eq!(binary("OrClaims", None, Some(true)), Some(b(true)));
        assert_eq!(binary("OrClaims", None, None), Some(b(false)));
    }

    #[test]
    fn or_claims_rejects_a_boolean_output_of_another_type() {
        let problems = case("OrClaims")
            .input("inputClaim1", b(true))
            .input("inputClaim2", b(false))
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]outputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Boolean]outputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn not_claims_documented_example_negates_in_place() {
        let out = case("NotClaims")
            .input_claim("inputClaim", "userExists", DataType::Boolean, Some(b(false)))
            .output_claim("outputClaim", "userExists", DataType::Boolean)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn not_claims_negates_true_and_missing() {
        let run = |v: Option<bool>| {
            case("NotClaims")
                .input_claim("inputClaim", "x", DataType::Boolean, v.map(b))
                .output("outputClaim", DataType::Boolean)
                .run_one()
                .unwrap()
        };
        assert_eq!(run(Some(true)), Some(b(false)));
        assert_eq!(run(None), Some(b(true)));
    }

    #[test]
    fn not_claims_rejects_an_int_input() {
        let problems =
            case("NotClaims").input("inputClaim", ClaimValue::Int(1)).output("outputClaim", DataType::Boolean).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Boolean]inputClaim"), "{}", problems[0].message);
    }

    fn compare(value: Option<bool>, to: &'static str) -> Option<ClaimValue> {
        case("CompareBooleanClaimToValue")
            .input_claim("inputClaim", "IsAgeOver21Years", DataType::Boolean, value.map(b))
            .param("valueToCompareTo", "boolean", to)
            .output_claim("compareResult", "accountEnabled", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn compare_boolean_claim_to_value_documented_example() {
        assert_eq!(compare(Some(false), "true"), Some(b(false)));
    }

    #[test]
    fn compare_boolean_claim_to_value_matches_and_reads_literals_leniently() {
        assert_eq!(compare(Some(true), "true"), Some(b(true)));
        assert_eq!(compare(Some(true), "True"), Some(b(true)));
        assert_eq!(compare(Some(false), "FALSE"), Some(b(true)));
        assert_eq!(compare(None, "false"), Some(b(true)));
        assert_eq!(compare(None, "true"), Some(b(false)));
    }

    #[test]
    fn compare_boolean_claim_to_value_rejects_a_bad_literal_and_a_string_param() {
        let bad = case("CompareBooleanClaimToValue")
            .input("inputClaim", b(true))
            .param("valueToCompareTo", "boolean", "yes")
            .output("compareResult", DataType::Boolean);
        let problems = bad.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("valueToCompareTo"), "{}", problems[0].message);

        let string_typed = case("CompareBooleanClaimToValue")
            .input("inputClaim", b(true))
            .param("valueToCompareTo", "string", "true")
            .output("compareResult", DataType::Boolean);
        let problems = string_typed.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType Boolean"), "{}", problems[0].message);
    }

    #[test]
    fn compare_boolean_claim_to_value_requires_its_parameter() {
        let problems = case("CompareBooleanClaimToValue")
            .input("inputClaim", b(true))
            .output("compareResult", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Boolean]valueToCompareTo"), "{}", problems[0].message);
    }

    fn assert_case(value: Option<bool>, to: &'static str) -> crate::testing::Case {
        case("AssertBooleanClaimIsEqualToValue")
            .input_claim("inputClaim", "accountEnabled", DataType::Boolean, value.map(b))
            .param("valueToCompareTo", "boolean", to)
    }

    #[test]
    fn assert_boolean_documented_example_throws() {
        let err = assert_case(Some(false), "true").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some(ASSERT_KEY));
        assert_eq!(err.message, "Boolean claim value comparison failed for claim type \"accountEnabled\".");
    }

    #[test]
    fn assert_boolean_passes_silently_when_equal() {
        assert_eq!(assert_case(Some(true), "true").run().unwrap(), vec![]);
        assert_eq!(assert_case(Some(false), "false").run().unwrap(), vec![]);
    }

    #[test]
    fn assert_boolean_reads_missing_as_false() {
        assert!(assert_case(None, "false").run().is_ok());
        let err = assert_case(None, "true").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
    }

    #[test]
    fn assert_boolean_declares_its_message_key_and_takes_no_output() {
        let sig = crate::catalog::method("AssertBooleanClaimIsEqualToValue").unwrap().signature;
        assert_eq!(sig.user_message_key, Some(ASSERT_KEY));
        let problems = assert_case(Some(true), "true").output("outputClaim", DataType::Boolean).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Boolean]outputClaim"), "{}", problems[0].message);
    }
}
