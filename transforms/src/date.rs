//! Date methods (date-transformations.md).

use chrono::{NaiveDateTime, NaiveTime, TimeDelta, Timelike};

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType, parse_date_time};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const INT: TypeSpec = TypeSpec::Exact(DataType::Int);
const DATE: TypeSpec = TypeSpec::Exact(DataType::Date);
const DATE_TIME: TypeSpec = TypeSpec::Exact(DataType::DateTime);

const GREATER_THAN_KEY: &str = "DateTimeGreaterThan";

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "AssertDateTimeIsGreaterThan",
            family: Family::Date,
            // String operands, as the service's upload check insists.
            inputs: &[
                Slot { name: "leftOperand", ty: STRING, required: true },
                Slot { name: "rightOperand", ty: STRING, required: true },
            ],
            extra_inputs: None,
            params: &[
                Param { name: "AssertIfEqualTo", ty: BOOLEAN, required: false, default: Some("true") },
                Param {
                    name: "AssertIfRightOperandIsNotPresent",
                    ty: BOOLEAN,
                    required: false,
                    default: Some("false"),
                },
                // "Millseconds" is the real parameter Id.
                Param { name: "TreatAsEqualIfWithinMillseconds", ty: INT, required: false, default: Some("0") },
            ],
            extra_params: None,
            outputs: &[],
            extra_outputs: None,
            user_message_key: Some(GREATER_THAN_KEY),
        },
        build: assert_date_time_is_greater_than,
    },
    Method {
        signature: Signature {
            method: "ConvertDateTimeToDateClaim",
            family: Family::Date,
            inputs: &[Slot { name: "inputClaim", ty: DATE_TIME, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: DATE, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: convert_date_time_to_date,
    },
    Method {
        signature: Signature {
            method: "ConvertDateToDateTimeClaim",
            family: Family::Date,
            inputs: &[Slot { name: "inputClaim", ty: DATE, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: DATE_TIME, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: convert_date_to_date_time,
    },
    Method {
        signature: Signature {
            method: "DateTimeComparison",
            family: Family::Date,
            inputs: &[
                Slot { name: "firstDateTime", ty: DATE_TIME, required: true },
                Slot { name: "secondDateTime", ty: DATE_TIME, required: true },
            ],
            extra_inputs: None,
            params: &[
                Param { name: "operator", ty: STRING, required: true, default: None },
                Param { name: "timeSpanInSeconds", ty: INT, required: false, default: Some("0") },
            ],
            extra_params: None,
            outputs: &[Slot { name: "result", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: date_time_comparison,
    },
    Method {
        signature: Signature {
            method: "GetCurrentDateTime",
            family: Family::Date,
            inputs: &[],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "currentDateTime", ty: DATE_TIME, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: get_current_date_time,
    },
    Method {
        signature: Signature {
            method: "IsTermsOfUseConsentRequired",
            family: Family::Date,
            inputs: &[Slot { name: "termsOfUseConsentDateTime", ty: DATE_TIME, required: true }],
            extra_inputs: None,
            params: &[Param { name: "termsOfUseTextUpdateDateTime", ty: DATE_TIME, required: true, default: None }],
            extra_params: None,
            outputs: &[Slot { name: "result", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: is_terms_of_use_consent_required,
    },
];

/// The dateTime in `id`, if any.
fn read_date_time(bag: &ClaimsBag, id: ClaimId, slot: &str) -> Result<Option<NaiveDateTime>, TransformError> {
    match bag.get(id) {
        None => Ok(None),
        Some(ClaimValue::DateTime(dt, _)) => Ok(Some(*dt)),
        Some(other) => {
            Err(TransformError::invalid_value(format!("{slot} holds a {} value, not a dateTime", other.data_type())))
        }
    }
}

/// A string operand holding an ISO 8601 date-time. Empty text counts as not present.
fn read_operand(bag: &ClaimsBag, id: ClaimId, slot: &str) -> Result<Option<NaiveDateTime>, TransformError> {
    let Some(value) = bag.get(id) else {
        return Ok(None);
    };
    let text = value.as_str().ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string")))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse_date_time(text)
        .map(Some)
        .ok_or_else(|| TransformError::invalid_value(format!("{slot} '{text}' is not an ISO 8601 date and time")))
}

fn assert_date_time_is_greater_than(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let left_id = b.required_input("leftOperand")?;
    let right_id = b.required_input("rightOperand")?;
    let assert_if_equal = b.param_bool("AssertIfEqualTo").unwrap_or(true);
    let assert_if_right_missing = b.param_bool("AssertIfRightOperandIsNotPresent").unwrap_or(false);
    let window_ms = b.param_i64("TreatAsEqualIfWithinMillseconds").unwrap_or(0);
    if window_ms < 0 {
        return Err(b.invalid_param("TreatAsEqualIfWithinMillseconds", "must not be negative"));
    }
    let window = TimeDelta::try_milliseconds(window_ms)
        .ok_or_else(|| b.invalid_param("TreatAsEqualIfWithinMillseconds", "is out of range"))?;
    let fail = |message: &str| TransformError::assertion(message, GREATER_THAN_KEY);
    Ok(Box::new(move |bag, _env| {
        // The parameter's name is taken at its word: true fails a missing right operand.
        let Some(right) = read_operand(bag, right_id, "rightOperand")? else {
            return if assert_if_right_missing {
                Err(fail("Claim value comparison failed: the right operand is not present."))
            } else {
                Ok(())
            };
        };
        let Some(left) = read_operand(bag, left_id, "leftOperand")? else {
            return Err(fail("Claim value comparison failed: the left operand is not present."));
        };
        let diff = left.signed_duration_since(right);
        if diff.abs() <= window {
            if assert_if_equal {
                return Err(fail("Claim value comparison failed: the left operand is equal to the right operand."));
            }
        } else if diff < TimeDelta::zero() {
            return Err(fail("Claim value comparison failed: the right operand is later than the left operand."));
        }
        Ok(())
    }))
}

fn convert_date_time_to_date(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        // The calendar date of the UTC value.
        if let Some(dt) = read_date_time(bag, input, "inputClaim")? {
            bag.set(output, ClaimValue::Date(dt.date()));
        }
        Ok(())
    }))
}

fn convert_date_to_date_time(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let date = match bag.get(input) {
            None => return Ok(()),
            Some(ClaimValue::Date(d)) => *d,
            Some(other) => {
                return Err(TransformError::invalid_value(format!(
                    "inputClaim holds a {} value, not a date",
                    other.data_type()
                )));
            }
        };
        bag.set(output, ClaimValue::date_time(date.and_time(NaiveTime::MIN)));
        Ok(())
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Same,
    LaterThan,
    EarlierThan,
}

fn date_time_comparison(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let first_id = b.required_input("firstDateTime")?;
    let second_id = b.required_input("secondDateTime")?;
    let output = b.required_output("result")?;
    // Case-insensitive, as operator texts are elsewhere in the service.
    let operator = match b.param_str("operator").as_deref().map(str::trim) {
        Some(o) if o.eq_ignore_ascii_case("same") => Operator::Same,
        Some(o) if o.eq_ignore_ascii_case("later than") => Operator::LaterThan,
        Some(o) if o.eq_ignore_ascii_case("earlier than") => Operator::EarlierThan,
        other => {
            return Err(b.invalid_param(
                "operator",
                format!("expected 'same', 'later than' or 'earlier than', found {other:?}"),
            ));
        }
    };
    let span = TimeDelta::try_seconds(b.param_i64("timeSpanInSeconds").unwrap_or(0))
        .ok_or_else(|| b.invalid_param("timeSpanInSeconds", "is out of range"))?;
    Ok(Box::new(move |bag, env| {
        let first = read_date_time(bag, first_id, "firstDateTime")?
            .ok_or_else(|| TransformError::missing_input("firstDateTime"))?;
        let second = read_date_time(bag, second_id, "secondDateTime")?.unwrap_or_else(|| env.now());
        let shifted = first
            .checked_add_signed(span)
            .ok_or_else(|| TransformError::failed("firstDateTime plus timeSpanInSeconds is out of range"))?;
        let result = match operator {
            Operator::Same => shifted == second,
            Operator::LaterThan => shifted > second,
            Operator::EarlierThan => shifted < second,
        };
        bag.set(output, ClaimValue::Boolean(result));
        Ok(())
    }))
}

/// `now` cut to the service's 100 ns ticks, so the value survives its own text form.
fn to_ticks(now: NaiveDateTime) -> NaiveDateTime {
    now.with_nanosecond(now.nanosecond() / 100 * 100).unwrap_or(now)
}

fn get_current_date_time(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("currentDateTime")?;
    Ok(Box::new(move |bag, env| {
        bag.set(output, ClaimValue::date_time(to_ticks(env.now())));
        Ok(())
    }))
}

fn is_terms_of_use_consent_required(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("termsOfUseConsentDateTime")?;
    let output = b.required_output("result")?;
    let updated = match b.param("termsOfUseTextUpdateDateTime") {
        Some(ClaimValue::DateTime(dt, _)) => *dt,
        _ => return Err(b.invalid_param("termsOfUseTextUpdateDateTime", "expected a dateTime such as 2021-11-15")),
    };
    Ok(Box::new(move |bag, _env| {
        // No recorded consent means consent is required; equal times need none.
        let required = match read_date_time(bag, input, "termsOfUseConsentDateTime")? {
            None => true,
            Some(consented) => consented < updated,
        };
        bag.set(output, ClaimValue::Boolean(required));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime};

    use super::GREATER_THAN_KEY;
    use crate::testing::{b, case, s};
    use crate::{ClaimValue, DataType, ErrorCode, FixedEnv};

    fn dt(text: &str) -> ClaimValue {
        ClaimValue::parse(DataType::DateTime, text).unwrap()
    }

    fn naive(text: &str) -> NaiveDateTime {
        crate::value::parse_date_time(text).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> ClaimValue {
        ClaimValue::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    // AssertDateTimeIsGreaterThan

    fn assert_case(left: Option<&'static str>, right: Option<&'static str>) -> crate::testing::Case {
        case("AssertDateTimeIsGreaterThan")
            .input_claim("leftOperand", "approvedDateTime", DataType::String, left.map(s))
            .input_claim("rightOperand", "currentDateTime", DataType::String, right.map(s))
    }

    fn documented(left: Option<&'static str>, right: Option<&'static str>) -> crate::testing::Case {
        assert_case(left, right)
            .param("AssertIfEqualTo", "boolean", "false")
            .param("AssertIfRightOperandIsNotPresent", "boolean", "true")
            .param("TreatAsEqualIfWithinMillseconds", "int", "300000")
    }

    #[test]
    fn assert_date_time_documented_example_throws() {
        let err = documented(Some("2022-01-01T15:00:00"), Some("2022-01-22T15:00:00")).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some(GREATER_THAN_KEY));
        assert_eq!(err.message, "Claim value comparison failed: the right operand is later than the left operand.");
    }

    #[test]
    fn assert_date_time_passes_when_left_is_later() {
        assert_eq!(documented(Some("2022-01-22T15:00:00"), Some("2022-01-01T15:00:00")).run().unwrap(), vec![]);
        // Offsets are converted before comparing: 15:00+02:00 is 13:00Z, later than 12:00Z.
        assert!(documented(Some("2022-01-01T15:00:00+02:00"), Some("2022-01-01T12:00:00Z")).run().is_ok());
    }

    #[test]
    fn assert_date_time_window_counts_as_equal() {
        // Within 5 minutes either way is "equal", which passes with AssertIfEqualTo=false.
        assert!(documented(Some("2022-01-01T15:00:00"), Some("2022-01-01T15:04:59")).run().is_ok());
        assert!(documented(Some("2022-01-01T15:00:00"), Some("2022-01-01T15:05:00")).run().is_ok());
        assert!(documented(Some("2022-01-01T15:00:00"), Some("2022-01-01T15:05:00.001")).run().is_err());
    }

    #[test]
    fn assert_date_time_equal_fails_by_default() {
        let err = assert_case(Some("2022-01-01T15:00:00Z"), Some("2022-01-01T15:00:00.0000000Z")).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.message, "Claim value comparison failed: the left operand is equal to the right operand.");
        // Without a window, a millisecond apart is not equal.
        assert!(assert_case(Some("2022-01-01T15:00:00.001Z"), Some("2022-01-01T15:00:00Z")).run().is_ok());
    }

    #[test]
    fn assert_date_time_missing_right_operand_follows_the_parameter_name() {
        let err = documented(Some("2022-01-01T15:00:00"), None).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.message, "Claim value comparison failed: the right operand is not present.");
        // An empty string is not present either.
        assert!(documented(Some("2022-01-01T15:00:00"), Some("")).run().is_err());
        // Default (false): nothing to compare against, so it passes.
        assert!(assert_case(Some("2022-01-01T15:00:00"), None).run().is_ok());
        assert!(assert_case(None, None).run().is_ok());
    }

    #[test]
    fn assert_date_time_missing_left_operand_fails() {
        let err = assert_case(None, Some("2022-01-01T15:00:00")).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.message, "Claim value comparison failed: the left operand is not present.");
    }

    #[test]
    fn assert_date_time_unparseable_operand_is_an_invalid_value() {
        let err = assert_case(Some("İstanbul 🙂"), Some("2022-01-01T15:00:00")).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidValue);
        assert!(err.message.contains("leftOperand 'İstanbul 🙂'"), "{}", err.message);
        let err = assert_case(Some("2022-01-01T15:00:00"), Some("2022-13-01")).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidValue);
    }

    #[test]
    fn assert_date_time_wants_string_operands() {
        let problems = case("AssertDateTimeIsGreaterThan")
            .input("leftOperand", s("2022-01-01"))
            .input("rightOperand", dt("2022-01-01T00:00:00Z"))
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let message = &problems[0].message;
        assert!(message.contains("[DateTime]rightOperand"), "{message}");
        assert!(message.contains("[String]rightOperand"), "{message}");
    }

    #[test]
    fn assert_date_time_rejects_bad_parameters() {
        let negative = assert_case(Some("a"), Some("b")).param("TreatAsEqualIfWithinMillseconds", "int", "-1");
        let problems = negative.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("TreatAsEqualIfWithinMillseconds"), "{}", problems[0].message);

        let overflow = assert_case(Some("a"), Some("b")).param("TreatAsEqualIfWithinMillseconds", "int", "2147483648");
        assert_eq!(overflow.compile_problems().len(), 1);

        // The correctly spelt name is not a parameter of the method.
        let spelt = assert_case(Some("a"), Some("b")).param("TreatAsEqualIfWithinMilliseconds", "int", "5");
        let problems = spelt.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("is not a parameter"), "{}", problems[0].message);
    }

    // ConvertDateTimeToDateClaim / ConvertDateToDateTimeClaim

    #[test]
    fn convert_date_time_to_date_documented_example() {
        let out = case("ConvertDateTimeToDateClaim")
            .input("inputClaim", dt("2022-01-03T11:34:22.0000000Z"))
            .output("outputClaim", DataType::Date)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(date(2022, 1, 3)));
        assert_eq!(out.unwrap().to_string(), "2022-01-03");
    }

    #[test]
    fn convert_date_time_to_date_edges() {
        let run = |v: Option<ClaimValue>| {
            case("ConvertDateTimeToDateClaim")
                .input_claim("inputClaim", "systemDateTime", DataType::DateTime, v)
                .output("outputClaim", DataType::Date)
                .run_one()
                .unwrap()
        };
        assert_eq!(run(Some(dt("2024-02-29T23:59:59.9999999Z"))), Some(date(2024, 2, 29)));
        // The UTC calendar date: 01:00+02:00 is still the previous day in UTC.
        assert_eq!(run(Some(dt("2024-03-01T01:00:00+02:00"))), Some(date(2024, 2, 29)));
        assert_eq!(run(None), None);
    }

    #[test]
    fn convert_date_time_to_date_rejects_a_string_input() {
        let problems = case("ConvertDateTimeToDateClaim")
            .input("inputClaim", s("2022-01-03T11:34:22Z"))
            .output("outputClaim", DataType::Date)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[DateTime]inputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn convert_date_to_date_time_documented_example() {
        let out = case("ConvertDateToDateTimeClaim")
            .input("inputClaim", date(2022, 1, 3))
            .output("outputClaim", DataType::DateTime)
            .run_one()
            .unwrap()
            .unwrap();
        assert_eq!(out, dt("2022-01-03T00:00:00Z"));
        assert_eq!(out.to_string(), "2022-01-03T00:00:00.0000000Z");
    }

    #[test]
    fn convert_date_to_date_time_edges() {
        let run = |v: Option<ClaimValue>| {
            case("ConvertDateToDateTimeClaim")
                .input_claim("inputClaim", "dateOfBirth", DataType::Date, v)
                .output("outputClaim", DataType::DateTime)
                .run_one()
                .unwrap()
        };
        assert_eq!(run(Some(date(1, 1, 1))).unwrap().to_string(), "0001-01-01T00:00:00.0000000Z");
        assert_eq!(run(None), None);
        let problems = case("ConvertDateToDateTimeClaim")
            .input("inputClaim", dt("2022-01-03T00:00:00Z"))
            .output("outputClaim", DataType::DateTime)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Date]inputClaim"), "{}", problems[0].message);
    }

    // DateTimeComparison

    fn comparison(
        first: Option<ClaimValue>,
        second: Option<ClaimValue>,
        operator: &'static str,
        span: &'static str,
    ) -> crate::testing::Case {
        case("DateTimeComparison")
            .input_claim("secondDateTime", "extension_LastTOSAccepted", DataType::DateTime, second)
            .input_claim("firstDateTime", "currentDateTime", DataType::DateTime, first)
            .param("operator", "string", operator)
            .param("timeSpanInSeconds", "int", span)
            .output_claim("result", "isLastTOSAcceptedGreaterThanNow", DataType::Boolean)
    }

    #[test]
    fn date_time_comparison_documented_example() {
        let out = comparison(
            Some(dt("2022-01-01T00:00:00.100000Z")),
            Some(dt("2022-03-16T00:00:00.100000Z")),
            "later than",
            "7776000",
        )
        .run_one()
        .unwrap();
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn date_time_comparison_operators() {
        let first = || Some(dt("2022-01-01T00:00:00Z"));
        // 2022-01-01 + 90 days is exactly 2022-04-01.
        let second = || Some(dt("2022-04-01T00:00:00Z"));
        let run = |op, span| comparison(first(), second(), op, span).run_one().unwrap();
        assert_eq!(run("same", "7776000"), Some(b(true)));
        assert_eq!(run("later than", "7776000"), Some(b(false)));
        assert_eq!(run("earlier than", "7776000"), Some(b(false)));
        assert_eq!(run("earlier than", "7775999"), Some(b(true)));
        assert_eq!(run("Later Than", "7776001"), Some(b(true)));
        assert_eq!(run("SAME", "0"), Some(b(false)));
    }

    #[test]
    fn date_time_comparison_negative_span_and_default_span() {
        let run = |c: crate::testing::Case| c.run_one().unwrap();
        let c = comparison(Some(dt("2022-01-02T00:00:00Z")), Some(dt("2022-01-01T00:00:00Z")), "same", "-86400");
        assert_eq!(run(c), Some(b(true)));
        let c = case("DateTimeComparison")
            .input("firstDateTime", dt("2022-01-02T00:00:00Z"))
            .input("secondDateTime", dt("2022-01-01T00:00:00Z"))
            .param("operator", "string", "later than")
            .output("result", DataType::Boolean);
        assert_eq!(run(c), Some(b(true)));
    }

    #[test]
    fn date_time_comparison_missing_second_means_now() {
        let env = FixedEnv { now: naive("2022-06-01T12:00:00Z"), ..FixedEnv::default() };
        let c = comparison(Some(dt("2022-06-01T11:00:00Z")), None, "same", "3600").env(env.clone());
        assert_eq!(c.run_one().unwrap(), Some(b(true)));
        let c = comparison(Some(dt("2022-06-01T11:00:00Z")), None, "earlier than", "0").env(env);
        assert_eq!(c.run_one().unwrap(), Some(b(true)));
    }

    #[test]
    fn date_time_comparison_missing_first_throws() {
        let err = comparison(None, Some(dt("2022-01-01T00:00:00Z")), "same", "0").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingInput);
        assert!(err.message.contains("firstDateTime"), "{}", err.message);
    }

    #[test]
    fn date_time_comparison_overflow_is_an_error() {
        let max = ClaimValue::date_time(NaiveDateTime::MAX);
        let err = comparison(Some(max), Some(dt("2022-01-01T00:00:00Z")), "same", "2147483647").run().unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
    }

    #[test]
    fn date_time_comparison_rejects_unknown_operators_and_bad_spans() {
        for op in ["greater than", "later", "", "lat\u{0301}er than"] {
            let c = comparison(None, None, op, "0");
            let problems = c.compile_problems();
            assert_eq!(problems.len(), 1, "{op}: {problems:?}");
            assert!(problems[0].message.contains("operator"), "{}", problems[0].message);
        }
        let c = comparison(None, None, "same", "2147483648");
        assert_eq!(c.compile_problems().len(), 1);
        let c = comparison(None, None, "same", "90 days");
        assert_eq!(c.compile_problems().len(), 1);
    }

    #[test]
    fn date_time_comparison_result_is_boolean() {
        let problems = case("DateTimeComparison")
            .input("firstDateTime", dt("2022-01-01T00:00:00Z"))
            .input("secondDateTime", dt("2022-01-01T00:00:00Z"))
            .param("operator", "string", "same")
            .output("result", DataType::DateTime)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[DateTime]result"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Boolean]result"), "{}", problems[0].message);
    }

    // GetCurrentDateTime

    #[test]
    fn get_current_date_time_documented_shape() {
        let env = FixedEnv { now: naive("2022-01-14T11:40:35Z"), ..FixedEnv::default() };
        let out = case("GetCurrentDateTime")
            .output_claim("currentDateTime", "systemDateTime", DataType::DateTime)
            .env(env)
            .run_one()
            .unwrap()
            .unwrap();
        assert_eq!(out.to_string(), "2022-01-14T11:40:35.0000000Z");
    }

    #[test]
    fn get_current_date_time_keeps_ticks_only() {
        let now = naive("2022-01-14T11:40:35.123456789Z");
        let out = case("GetCurrentDateTime")
            .output("currentDateTime", DataType::DateTime)
            .env(FixedEnv { now, ..FixedEnv::default() })
            .run_one()
            .unwrap()
            .unwrap();
        assert_eq!(out.to_string(), "2022-01-14T11:40:35.1234567Z");
        // The written value equals its own text form read back.
        assert_eq!(ClaimValue::parse(DataType::DateTime, &out.to_string()).unwrap(), out);
    }

    #[test]
    fn get_current_date_time_output_must_be_date_time() {
        let problems = case("GetCurrentDateTime").output("currentDateTime", DataType::String).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[DateTime]currentDateTime"), "{}", problems[0].message);
    }

    // IsTermsOfUseConsentRequired

    fn terms(consent: Option<ClaimValue>, updated: &'static str) -> crate::testing::Case {
        case("IsTermsOfUseConsentRequired")
            .input_claim(
                "termsOfUseConsentDateTime",
                "extension_termsOfUseConsentDateTime",
                DataType::DateTime,
                consent,
            )
            .param("termsOfUseTextUpdateDateTime", "dateTime", updated)
            .output_claim("result", "termsOfUseConsentRequired", DataType::Boolean)
    }

    #[test]
    fn is_terms_of_use_consent_required_documented_example() {
        let out = terms(Some(dt("2020-03-09T09:15:00")), "2021-11-15").run_one().unwrap();
        assert_eq!(out, Some(b(true)));
        // The XML form of the same parameter.
        let out = terms(Some(dt("2020-03-09T09:15:00")), "2021-11-15T00:00:00").run_one().unwrap();
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn is_terms_of_use_consent_required_later_equal_and_missing() {
        let run = |c: crate::testing::Case| c.run_one().unwrap();
        assert_eq!(run(terms(Some(dt("2021-11-15T00:00:01Z")), "2021-11-15")), Some(b(false)));
        assert_eq!(run(terms(Some(dt("2021-11-15T00:00:00Z")), "2021-11-15")), Some(b(false)));
        assert_eq!(run(terms(Some(dt("2021-11-14T23:59:59.9999999Z")), "2021-11-15")), Some(b(true)));
        assert_eq!(run(terms(None, "2021-11-15")), Some(b(true)));
    }

    #[test]
    fn is_terms_of_use_consent_required_rejects_bad_parameters() {
        let problems = terms(None, "15/11/2021").compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("termsOfUseTextUpdateDateTime"), "{}", problems[0].message);

        let problems = case("IsTermsOfUseConsentRequired")
            .input("termsOfUseConsentDateTime", dt("2021-11-15T00:00:00Z"))
            .param("termsOfUseTextUpdateDateTime", "string", "2021-11-15")
            .output("result", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType DateTime"), "{}", problems[0].message);

        let problems = case("IsTermsOfUseConsentRequired")
            .input("termsOfUseConsentDateTime", s("2021-11-15"))
            .param("termsOfUseTextUpdateDateTime", "dateTime", "2021-11-15")
            .output("result", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]termsOfUseConsentDateTime"), "{}", problems[0].message);
    }
}
