//! Integer methods (integer-transformations.md).

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const INT: TypeSpec = TypeSpec::Exact(DataType::Int);
const LONG: TypeSpec = TypeSpec::Exact(DataType::Long);

const ASSERT_KEY: &str = "AssertNumberError";

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "AdjustNumber",
            family: Family::Integer,
            inputs: &[Slot { name: "inputClaim", ty: INT, required: true }],
            extra_inputs: None,
            params: &[Param { name: "Operator", ty: STRING, required: false, default: Some("INCREMENT") }],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: INT, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: adjust_number,
    },
    Method {
        signature: Signature {
            method: "AssertNumber",
            family: Family::Integer,
            inputs: &[Slot { name: "inputClaim", ty: INT, required: true }],
            extra_inputs: None,
            params: &[
                Param { name: "Operator", ty: STRING, required: true, default: None },
                Param { name: "CompareToValue", ty: INT, required: true, default: None },
                Param { name: "throwError", ty: BOOLEAN, required: false, default: Some("true") },
            ],
            extra_params: None,
            // Written only in evaluation mode (throwError=false).
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: false }],
            extra_outputs: None,
            user_message_key: Some(ASSERT_KEY),
        },
        build: assert_number,
    },
    Method {
        signature: Signature {
            method: "ConvertNumberToStringClaim",
            family: Family::Integer,
            inputs: &[Slot { name: "inputClaim", ty: LONG, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: convert_number_to_string,
    },
];

fn adjust_number(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    // The unit-test policies write `decrement` in lower case.
    let step: i32 = match b.param_str("Operator").as_deref().map(str::trim) {
        Some(o) if o.eq_ignore_ascii_case("INCREMENT") => 1,
        Some(o) if o.eq_ignore_ascii_case("DECREMENT") => -1,
        other => {
            return Err(b.invalid_param("Operator", format!("expected INCREMENT or DECREMENT, found {other:?}")));
        }
    };
    Ok(Box::new(move |bag, _env| {
        // A missing value counts as 0.
        let current = match bag.get(input) {
            None => 0,
            Some(ClaimValue::Int(n)) => *n,
            Some(other) => {
                return Err(TransformError::invalid_value(format!(
                    "inputClaim holds a {} value, not an int",
                    other.data_type()
                )));
            }
        };
        let adjusted = current
            .checked_add(step)
            .ok_or_else(|| TransformError::failed(format!("adjusting {current} by {step} overflows an int")))?;
        bag.set(output, ClaimValue::Int(adjusted));
        Ok(())
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    LessThan,
    GreaterThan,
    GreaterThanOrEqual,
    LessThanOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    const ALL: [(Comparison, &'static str); 6] = [
        (Comparison::LessThan, "LessThan"),
        (Comparison::GreaterThan, "GreaterThan"),
        (Comparison::GreaterThanOrEqual, "GreaterThanOrEqual"),
        (Comparison::LessThanOrEqual, "LessThanOrEqual"),
        (Comparison::Equal, "Equal"),
        (Comparison::NotEqual, "NotEqual"),
    ];

    fn parse(text: &str) -> Option<Comparison> {
        Comparison::ALL.into_iter().find(|(_, name)| name.eq_ignore_ascii_case(text.trim())).map(|(c, _)| c)
    }

    fn holds(self, left: i32, right: i32) -> bool {
        match self {
            Comparison::LessThan => left < right,
            Comparison::GreaterThan => left > right,
            Comparison::GreaterThanOrEqual => left >= right,
            Comparison::LessThanOrEqual => left <= right,
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
        }
    }

    fn name(self) -> &'static str {
        Comparison::ALL.into_iter().find(|(c, _)| *c == self).map_or("?", |(_, n)| n)
    }
}

fn assert_number(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.output("outputClaim");
    let operator_text = b.param_str("Operator").unwrap_or_default();
    let operator = Comparison::parse(&operator_text).ok_or_else(|| {
        b.invalid_param(
            "Operator",
            format!(
                "expected LessThan, GreaterThan, GreaterThanOrEqual, LessThanOrEqual, Equal or NotEqual, found '{operator_text}'"
            ),
        )
    })?;
    let compare_to = match b.param("CompareToValue") {
        Some(ClaimValue::Int(n)) => *n,
        _ => return Err(b.invalid_param("CompareToValue", "expected a 32-bit integer")),
    };
    let throw_error = b.param_bool("throwError").unwrap_or(true);
    Ok(Box::new(move |bag, _env| {
        let value = match bag.get(input) {
            None => return Err(TransformError::missing_input("inputClaim")),
            Some(ClaimValue::Int(n)) => *n,
            Some(other) => {
                return Err(TransformError::invalid_value(format!(
                    "inputClaim holds a {} value, not an int",
                    other.data_type()
                )));
            }
        };
        let holds = operator.holds(value, compare_to);
        if throw_error {
            // Assertion mode fails when the comparison holds (the doc's "attempts over 5").
            if holds {
                return Err(TransformError::assertion(
                    format!("Number comparison failed: {value} {} {compare_to} is true.", operator.name()),
                    ASSERT_KEY,
                ));
            }
        } else if let Some(output) = output {
            bag.set(output, ClaimValue::Boolean(holds));
        }
        Ok(())
    }))
}

fn convert_number_to_string(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let n = match bag.get(input) {
            None => return Ok(()),
            Some(ClaimValue::Long(n)) => *n,
            Some(other) => {
                return Err(TransformError::invalid_value(format!(
                    "inputClaim holds a {} value, not a long",
                    other.data_type()
                )));
            }
        };
        // Invariant decimal text, no digit grouping.
        bag.set(output, ClaimValue::String(n.to_string()));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::ASSERT_KEY;
    use crate::testing::{b, case, s};
    use crate::{ClaimValue, DataType, ErrorCode};

    // AdjustNumber

    fn adjust(value: Option<i32>, operator: Option<&'static str>) -> Result<Option<ClaimValue>, crate::TransformError> {
        let mut c = case("AdjustNumber").input_claim("inputClaim", "steps", DataType::Int, value.map(ClaimValue::Int));
        if let Some(op) = operator {
            c = c.param("Operator", "string", op);
        }
        c.output_claim("outputClaim", "steps", DataType::Int).run_one()
    }

    #[test]
    fn adjust_number_documented_examples() {
        assert_eq!(adjust(Some(1), Some("INCREMENT")).unwrap(), Some(ClaimValue::Int(2)));
        assert_eq!(adjust(None, Some("INCREMENT")).unwrap(), Some(ClaimValue::Int(1)));
    }

    #[test]
    fn adjust_number_default_and_case_insensitive_operator() {
        assert_eq!(adjust(Some(41), None).unwrap(), Some(ClaimValue::Int(42)));
        assert_eq!(adjust(Some(0), Some("decrement")).unwrap(), Some(ClaimValue::Int(-1)));
        assert_eq!(adjust(None, Some("Decrement")).unwrap(), Some(ClaimValue::Int(-1)));
    }

    #[test]
    fn adjust_number_overflow_fails_and_leaves_the_claim() {
        let err = adjust(Some(i32::MAX), Some("INCREMENT")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        let err = adjust(Some(i32::MIN), Some("DECREMENT")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert_eq!(adjust(Some(i32::MAX), Some("DECREMENT")).unwrap(), Some(ClaimValue::Int(i32::MAX - 1)));
    }

    #[test]
    fn adjust_number_rejects_unknown_operators() {
        for op in ["ADD", "", "İNCREMENT", "INCREMENT🙂"] {
            let c = case("AdjustNumber")
                .input("inputClaim", ClaimValue::Int(1))
                .param("Operator", "string", op)
                .output("outputClaim", DataType::Int);
            let problems = c.compile_problems();
            assert_eq!(problems.len(), 1, "{op}: {problems:?}");
            assert!(problems[0].message.contains("Operator"), "{}", problems[0].message);
        }
    }

    #[test]
    fn adjust_number_wants_int_claims() {
        let problems =
            case("AdjustNumber").input("inputClaim", ClaimValue::Long(1)).output("outputClaim", DataType::Int).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Long]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Int]inputClaim"), "{}", problems[0].message);
    }

    // AssertNumber

    fn assert_case(value: Option<i32>, op: &'static str, to: &'static str) -> crate::testing::Case {
        case("AssertNumber")
            .input_claim("inputClaim", "attempts", DataType::Int, value.map(ClaimValue::Int))
            .param("Operator", "string", op)
            .param("CompareToValue", "int", to)
    }

    #[test]
    fn assert_number_documented_assertion_mode_throws() {
        let err = assert_case(Some(10), "GreaterThan", "5").param("throwError", "boolean", "true").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some(ASSERT_KEY));
        assert_eq!(err.message, "Number comparison failed: 10 GreaterThan 5 is true.");
    }

    #[test]
    fn assert_number_documented_evaluation_mode() {
        let out = assert_case(Some(10), "GreaterThan", "5")
            .param("throwError", "boolean", "false")
            .output_claim("outputClaim", "attemptsCountExceeded", DataType::Boolean)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn assert_number_assertion_mode_is_the_default_and_passes_when_false() {
        assert!(assert_case(Some(10), "GreaterThan", "5").run().is_err());
        assert_eq!(assert_case(Some(5), "GreaterThan", "5").run().unwrap(), vec![]);
        // In assertion mode the output is not written, even when declared.
        let out = assert_case(Some(1), "Equal", "2").output("outputClaim", DataType::Boolean).run().unwrap();
        assert_eq!(out, vec![]);
    }

    #[test]
    fn assert_number_every_operator() {
        let eval = |v: i32, op: &'static str, to: &'static str| {
            assert_case(Some(v), op, to)
                .param("throwError", "boolean", "false")
                .output("outputClaim", DataType::Boolean)
                .run_one()
                .unwrap()
        };
        assert_eq!(eval(4, "LessThan", "5"), Some(b(true)));
        assert_eq!(eval(5, "LessThan", "5"), Some(b(false)));
        assert_eq!(eval(5, "LessThanOrEqual", "5"), Some(b(true)));
        assert_eq!(eval(6, "LessThanOrEqual", "5"), Some(b(false)));
        assert_eq!(eval(5, "GreaterThanOrEqual", "5"), Some(b(true)));
        assert_eq!(eval(4, "GreaterThanOrEqual", "5"), Some(b(false)));
        assert_eq!(eval(i32::MIN, "Equal", "-2147483648"), Some(b(true)));
        assert_eq!(eval(i32::MAX, "NotEqual", "2147483647"), Some(b(false)));
        assert_eq!(eval(0, "notequal", "1"), Some(b(true)));
    }

    #[test]
    fn assert_number_missing_input_throws() {
        let err = assert_case(None, "Equal", "0").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingInput);
        let err = assert_case(None, "Equal", "0").param("throwError", "boolean", "false").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingInput);
    }

    #[test]
    fn assert_number_rejects_bad_parameters() {
        let bad_op = assert_case(Some(1), "Greater", "5");
        let problems = bad_op.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("Operator"), "{}", problems[0].message);

        let overflow = assert_case(Some(1), "Equal", "2147483648");
        let problems = overflow.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("CompareToValue"), "{}", problems[0].message);

        let string_typed = case("AssertNumber")
            .input("inputClaim", ClaimValue::Int(1))
            .param("Operator", "string", "Equal")
            .param("CompareToValue", "string", "5");
        let problems = string_typed.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType Int"), "{}", problems[0].message);

        let missing = case("AssertNumber").input("inputClaim", ClaimValue::Int(1)).param("Operator", "string", "Equal");
        let problems = missing.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]CompareToValue"), "{}", problems[0].message);
    }

    #[test]
    fn assert_number_wants_an_int_input() {
        let problems = case("AssertNumber")
            .input("inputClaim", s("10"))
            .param("Operator", "string", "Equal")
            .param("CompareToValue", "int", "5")
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Int]inputClaim"), "{}", problems[0].message);
    }

    // ConvertNumberToStringClaim

    fn convert(value: Option<i64>) -> Option<ClaimValue> {
        case("ConvertNumberToStringClaim")
            .input_claim("inputClaim", "numericUserId", DataType::Long, value.map(ClaimValue::Long))
            .output_claim("outputClaim", "UserId", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn convert_number_to_string_documented_example() {
        assert_eq!(convert(Some(12334)), Some(s("12334")));
    }

    #[test]
    fn convert_number_to_string_bounds_and_missing() {
        assert_eq!(convert(Some(i64::MAX)), Some(s("9223372036854775807")));
        assert_eq!(convert(Some(i64::MIN)), Some(s("-9223372036854775808")));
        assert_eq!(convert(Some(0)), Some(s("0")));
        assert_eq!(convert(None), None);
    }

    #[test]
    fn convert_number_to_string_wants_a_long() {
        let problems = case("ConvertNumberToStringClaim")
            .input("inputClaim", ClaimValue::Int(5))
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Long]inputClaim"), "{}", problems[0].message);
    }
}
