//! Methods that build or reshape text: ChangeCase, CopyClaimIfPredicateMatch, CreateStringClaim,
//! FormatStringClaim, FormatStringMultipleClaims, NullClaim, ParseDomain, StringJoin,
//! StringReplace, StringSplit, StringSubstring.

use super::format::{CompositeFormat, ExpressionText, MAX_FORMAT_LEN, utf16_len};
use super::{INT, STRING, input_str, param, slot};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature, TypeSpec};
use crate::value::{ClaimValue, DataType};

const STRING_COLLECTION: TypeSpec = TypeSpec::Exact(DataType::StringCollection);

pub(super) const CHANGE_CASE: Method = Method {
    signature: Signature {
        method: "ChangeCase",
        family: Family::String,
        inputs: &[slot("inputClaim1", STRING)],
        extra_inputs: None,
        params: &[param("toCase", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: change_case,
};

pub(super) const COPY_CLAIM_IF_PREDICATE_MATCH: Method = Method {
    signature: Signature {
        method: "CopyClaimIfPredicateMatch",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: copy_claim_if_predicate_match,
};

pub(super) const CREATE_STRING_CLAIM: Method = Method {
    signature: Signature {
        method: "CreateStringClaim",
        family: Family::String,
        inputs: &[],
        extra_inputs: None,
        params: &[param("value", STRING)],
        extra_params: None,
        outputs: &[slot("createdClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: create_string_claim,
};

pub(super) const FORMAT_STRING_CLAIM: Method = Method {
    signature: Signature {
        method: "FormatStringClaim",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[param("stringFormat", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: format_string_claim,
};

pub(super) const FORMAT_STRING_MULTIPLE_CLAIMS: Method = Method {
    signature: Signature {
        method: "FormatStringMultipleClaims",
        family: Family::String,
        inputs: &[slot("inputClaim1", STRING), slot("inputClaim2", STRING)],
        extra_inputs: None,
        params: &[param("stringFormat", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: format_string_multiple_claims,
};

pub(super) const NULL_CLAIM: Method = Method {
    signature: Signature {
        method: "NullClaim",
        family: Family::String,
        inputs: &[],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[slot("claim_to_null", TypeSpec::Any)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: null_claim,
};

pub(super) const PARSE_DOMAIN: Method = Method {
    signature: Signature {
        method: "ParseDomain",
        family: Family::String,
        inputs: &[slot("emailAddress", STRING)],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[slot("domain", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: parse_domain,
};

pub(super) const STRING_JOIN: Method = Method {
    signature: Signature {
        method: "StringJoin",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING_COLLECTION)],
        extra_inputs: None,
        params: &[param("delimiter", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: string_join,
};

pub(super) const STRING_REPLACE: Method = Method {
    signature: Signature {
        method: "StringReplace",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[param("oldValue", STRING), param("newValue", STRING)],
        extra_params: None,
        // The table says boolean; the value is the replaced string.
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: string_replace,
};

pub(super) const STRING_SPLIT: Method = Method {
    signature: Signature {
        method: "StringSplit",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[param("delimiter", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING_COLLECTION)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: string_split,
};

pub(super) const STRING_SUBSTRING: Method = Method {
    signature: Signature {
        method: "StringSubstring",
        family: Family::String,
        inputs: &[slot("inputClaim", STRING)],
        extra_inputs: None,
        params: &[param("startIndex", INT), param("length", INT)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: string_substring,
};

fn change_case(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim1")?;
    let output = b.required_output("outputClaim")?;
    let upper = match b.param_str("toCase").as_deref() {
        Some(c) if c.eq_ignore_ascii_case("LOWER") => false,
        Some(c) if c.eq_ignore_ascii_case("UPPER") => true,
        other => return Err(b.invalid_param("toCase", format!("expected LOWER or UPPER, found {other:?}"))),
    };
    Ok(Box::new(move |bag, _env| {
        // A claim changed into itself (`email` to `email`) keeps its text's allocation.
        if input == output
            && let Some(ClaimValue::String(text)) = bag.get_mut(input)
            && text.is_ascii()
        {
            if upper {
                text.make_ascii_uppercase()
            } else {
                text.make_ascii_lowercase()
            }
            return Ok(());
        }
        // A missing input produces no output, as B2C leaves the claim unset.
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let text = value.as_str().ok_or_else(|| TransformError::invalid_value("inputClaim1 is not a string"))?;
        let changed = if upper { simple_upper(text) } else { simple_lower(text) };
        bag.set(output, ClaimValue::String(changed));
        Ok(())
    }))
}

fn copy_claim_if_predicate_match(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let claim_type =
        b.outputs().iter().find(|o| o.slot == "outputClaim").map(|o| o.claim_type.to_owned()).unwrap_or_default();
    Ok(Box::new(move |bag, env| {
        let Some(value) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        // A claim type without predicate validation accepts any value.
        if env.satisfies_predicates(&claim_type, value).unwrap_or(true) {
            bag.set(output, ClaimValue::String(value.to_owned()));
        }
        Ok(())
    }))
}

fn create_string_claim(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("createdClaim")?;
    let value = ExpressionText::parse(&b.param_str("value").unwrap_or_default());
    if let Some(text) = value.constant() {
        let text = text.to_owned();
        return Ok(Box::new(move |bag, _env| {
            bag.set(output, ClaimValue::String(text.clone()));
            Ok(())
        }));
    }
    Ok(Box::new(move |bag, env| {
        let text = value.render(env)?;
        bag.set(output, ClaimValue::String(text));
        Ok(())
    }))
}

/// Parses `stringFormat` (with expressions) for `n_args` arguments.
fn string_format(b: &Bound<'_, '_>, n_args: usize) -> Result<CompositeFormat, Problem> {
    let text = b.param_str("stringFormat").unwrap_or_default();
    let len = utf16_len(&text);
    if len > MAX_FORMAT_LEN {
        return Err(
            b.invalid_param("stringFormat", format!("is {len} characters long; the maximum is {MAX_FORMAT_LEN}"))
        );
    }
    let format = CompositeFormat::parse(&text, true).map_err(|e| b.invalid_param("stringFormat", e))?;
    format.check_arity(n_args).map_err(|e| b.invalid_param("stringFormat", e))?;
    Ok(format)
}

fn format_string_claim(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let format = string_format(b, 1)?;
    Ok(Box::new(move |bag, env| {
        let Some(value) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        let text = format.render(&[value], env)?;
        bag.set(output, ClaimValue::String(text));
        Ok(())
    }))
}

fn format_string_multiple_claims(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let first = b.required_input("inputClaim1")?;
    let second = b.required_input("inputClaim2")?;
    let output = b.required_output("outputClaim")?;
    let format = string_format(b, 2)?;
    Ok(Box::new(move |bag, env| {
        let (Some(a), Some(c)) = (input_str(bag, first, "inputClaim1")?, input_str(bag, second, "inputClaim2")?) else {
            return Ok(());
        };
        let text = format.render(&[a, c], env)?;
        bag.set(output, ClaimValue::String(text));
        Ok(())
    }))
}

fn null_claim(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("claim_to_null")?;
    Ok(Box::new(move |bag, _env| {
        bag.remove(output);
        Ok(())
    }))
}

fn parse_domain(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("emailAddress")?;
    let output = b.required_output("domain")?;
    Ok(Box::new(move |bag, _env| {
        let Some(email) = input_str(bag, input, "emailAddress")? else {
            return Ok(());
        };
        bag.set(output, ClaimValue::String(domain_of(email).to_owned()));
        Ok(())
    }))
}

/// The part after the `@` of `local@domain`; empty when the address has no single `@` with text
/// on both sides.
fn domain_of(email: &str) -> &str {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => domain,
        _ => "",
    }
}

fn string_join(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let delimiter = b.param_str("delimiter").unwrap_or_default();
    Ok(Box::new(move |bag, _env| {
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let items = value
            .as_collection()
            .ok_or_else(|| TransformError::invalid_value("inputClaim is not a stringCollection"))?;
        bag.set(output, ClaimValue::String(items.join(delimiter.as_str())));
        Ok(())
    }))
}

fn string_replace(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let old = b.param_str("oldValue").unwrap_or_default();
    if old.is_empty() {
        // .NET's String.Replace throws on an empty oldValue.
        return Err(b.invalid_param("oldValue", "must not be empty"));
    }
    let new = b.param_str("newValue").unwrap_or_default();
    Ok(Box::new(move |bag, _env| {
        let Some(text) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        bag.set(output, ClaimValue::String(text.replace(old.as_str(), &new)));
        Ok(())
    }))
}

fn string_split(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let delimiter = b.param_str("delimiter").unwrap_or_default();
    if delimiter.is_empty() {
        return Err(b.invalid_param("delimiter", "must not be empty"));
    }
    // A one-character delimiter (the usual `,`) splits by the faster char search.
    let mut chars = delimiter.chars();
    let one_char = chars.next().filter(|_| chars.next().is_none());
    Ok(Box::new(move |bag, _env| {
        // B2C throws on a null or empty input (azure-ad-b2c/samples#677).
        let text = input_str(bag, input, "inputClaim")?.ok_or_else(|| TransformError::missing_input("inputClaim"))?;
        if text.is_empty() {
            return Err(TransformError::failed("inputClaim is empty; StringSplit needs a value to split"));
        }
        // Empty pieces are kept, and the output's previous items are replaced.
        let items = match one_char {
            Some(c) => text.split(c).map(str::to_owned).collect(),
            None => text.split(delimiter.as_str()).map(str::to_owned).collect(),
        };
        bag.set(output, ClaimValue::StringCollection(items));
        Ok(())
    }))
}

fn string_substring(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let mut bounds = [0usize; 2];
    for (name, bound) in ["startIndex", "length"].into_iter().zip(&mut bounds) {
        let n = b.param_i64(name).unwrap_or_default();
        *bound = usize::try_from(n).map_err(|_| b.invalid_param(name, format!("must not be negative, found {n}")))?;
    }
    let [start, length] = bounds;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = input_str(bag, input, "inputClaim")? else {
            return Ok(());
        };
        let piece = utf16_substring(text, start, length).ok_or_else(|| {
            TransformError::failed(format!(
                "startIndex {start} and length {length} must refer to a location within the string of length {}",
                utf16_len(text)
            ))
        })?;
        bag.set(output, ClaimValue::String(piece));
        Ok(())
    }))
}

/// .NET `Substring(start, length)` over UTF-16 code units; `None` when out of range. Half of a
/// surrogate pair becomes U+FFFD, as a lone surrogate would once encoded.
fn utf16_substring(text: &str, start: usize, length: usize) -> Option<String> {
    let end = start.checked_add(length)?;
    let mut out = String::new();
    let mut pos = 0;
    for c in text.chars() {
        let (from, to) = (pos, pos + c.len_utf16());
        pos = to;
        if from >= end {
            break;
        }
        if to.min(end) > from.max(start) {
            out.push(if from >= start && to <= end { c } else { '\u{FFFD}' });
        }
    }
    (pos >= end).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{after, problem, run_with};
    use super::utf16_substring;
    use crate::testing::{case, coll, s};
    use crate::{ClaimValue, DataType, ErrorCode, FixedEnv, ProblemKind, TransformEnv};

    #[test]
    fn change_case_lowers_the_documented_example() {
        let out = case("ChangeCase")
            .input_claim("inputClaim1", "email", DataType::String, Some(s("SomeOne@contoso.com")))
            .param("toCase", "string", "LOWER")
            .output_claim("outputClaim", "email", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("someone@contoso.com")));
    }

    fn change(value: Option<&'static str>, to: &'static str) -> Option<ClaimValue> {
        case("ChangeCase")
            .input_claim("inputClaim1", "in", DataType::String, value.map(s))
            .param("toCase", "string", to)
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn change_case_modes_and_unicode() {
        // The unit tests write the mode in lower case.
        assert_eq!(change(Some("Grüße aus İstanbul"), "upper"), Some(s("GRÜßE AUS İSTANBUL")));
        assert_eq!(change(Some("ÉCOLE 😀"), "lower"), Some(s("école 😀")));
        assert_eq!(change(Some(""), "LOWER"), Some(s("")));
        assert_eq!(change(None, "LOWER"), None);
    }

    #[test]
    fn change_case_into_its_own_claim() {
        let into_itself = |value: &'static str, to: &'static str| {
            case("ChangeCase")
                .input_claim("inputClaim1", "email", DataType::String, Some(s(value)))
                .param("toCase", "string", to)
                .output_claim("outputClaim", "email", DataType::String)
                .run_one()
                .unwrap()
        };
        // ASCII is changed where it lies; other text takes the general mapping.
        assert_eq!(into_itself("Someone@Example.com", "UPPER"), Some(s("SOMEONE@EXAMPLE.COM")));
        assert_eq!(into_itself("ÉCOLE@Example.com", "LOWER"), Some(s("école@example.com")));
        let err = case("ChangeCase")
            .input_claim("inputClaim1", "n", DataType::String, Some(ClaimValue::Int(3)))
            .param("toCase", "string", "LOWER")
            .output_claim("outputClaim", "n", DataType::String)
            .run_one()
            .unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::InvalidValue);
    }

    #[test]
    fn change_case_rejects_an_unknown_case() {
        let p = problem(
            &case("ChangeCase")
                .input("inputClaim1", s("x"))
                .param("toCase", "string", "TITLE")
                .output("outputClaim", DataType::String),
        );
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("toCase") && p.message.contains("TITLE"), "{}", p.message);
    }

    #[test]
    fn change_case_slot_types_are_checked() {
        let problems = case("ChangeCase")
            .input("inputClaim1", ClaimValue::Int(3))
            .param("toCase", "string", "LOWER")
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("[Int]inputClaim1"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]inputClaim1"), "{}", problems[0].message);
    }

    /// Answers predicates for `phoneNumber` with a regex; other claim types have none.
    #[derive(Debug)]
    struct PredicateEnv(FixedEnv);

    impl TransformEnv for PredicateEnv {
        fn now(&self) -> chrono::NaiveDateTime {
            self.0.now()
        }
        fn fill_random(&self, buf: &mut [u8]) {
            self.0.fill_random(buf)
        }
        fn policy_key(&self, id: &str) -> Option<Vec<u8>> {
            self.0.policy_key(id)
        }
        fn localized_string(&self, t: &str, e: &str, s: &str) -> Option<String> {
            self.0.localized_string(t, e, s)
        }
        fn localized_collection(&self, t: &str, e: &str) -> Option<Vec<(String, String)>> {
            self.0.localized_collection(t, e)
        }
        fn expression(&self, name: &str) -> Option<String> {
            self.0.expression(name)
        }
        fn satisfies_predicates(&self, claim_type: &str, value: &str) -> Option<bool> {
            (claim_type == "phoneNumber")
                .then(|| regex::Regex::new(r"^\+[0-9]{7,15}$").is_ok_and(|r| r.is_match(value)))
        }
    }

    fn copy_if(value: Option<&'static str>, target: &'static str) -> Option<ClaimValue> {
        let c = case("CopyClaimIfPredicateMatch")
            .input_claim("inputClaim", "signInName", DataType::String, value.map(s))
            .output_claim("outputClaim", target, DataType::String);
        let bag = run_with(&c, &PredicateEnv(FixedEnv::default()), &[(target, s("original"))]).unwrap();
        bag.into_iter().find(|(n, _)| *n == target).and_then(|(_, v)| v)
    }

    #[test]
    fn copy_claim_if_predicate_match_documented_examples() {
        assert_eq!(copy_if(Some("bob@contoso.com"), "phoneNumber"), Some(s("original")));
        assert_eq!(copy_if(Some("+11234567890"), "phoneNumber"), Some(s("+11234567890")));
    }

    #[test]
    fn copy_claim_if_predicate_match_edges() {
        // No predicate validation on the target: the value is copied.
        assert_eq!(copy_if(Some("bob@contoso.com"), "email"), Some(s("bob@contoso.com")));
        assert_eq!(copy_if(Some(""), "phoneNumber"), Some(s("original")));
        assert_eq!(copy_if(None, "phoneNumber"), Some(s("original")));
        assert_eq!(copy_if(Some("+١٢٣٤٥٦٧٨"), "phoneNumber"), Some(s("original")));
        let problems = case("CopyClaimIfPredicateMatch")
            .input("inputClaim", s("x"))
            .output("outputClaim", DataType::PhoneNumber)
            .check();
        assert!(problems[0].message.contains("[PhoneNumber]outputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn create_string_claim_documented_example() {
        let out = case("CreateStringClaim")
            .param("value", "string", "Contoso terms of service...")
            .output_claim("createdClaim", "TOS", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("Contoso terms of service...")));
    }

    #[test]
    fn create_string_claim_expressions() {
        let mut env = FixedEnv::default();
        env.expressions.insert("TechnicalProfileId".into(), "Facebook-OAUTH".into());
        let c = case("CreateStringClaim")
            .param("value", "string", "{TechnicalProfileId} {0} {AuthenticatorIssuer} İ😀")
            .output("createdClaim", DataType::String)
            .env(env);
        assert_eq!(c.run_one().unwrap(), Some(s("Facebook-OAUTH {0} {AuthenticatorIssuer} İ😀")));
        let c = case("CreateStringClaim").param("value", "string", "").output("createdClaim", DataType::String);
        assert_eq!(c.run_one().unwrap(), Some(s("")));
        let err = case("CreateStringClaim")
            .param("value", "string", "{RelyingPartyTenantId}")
            .output("createdClaim", DataType::String)
            .run_one()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        let problems = case("CreateStringClaim").output("createdClaim", DataType::String).check();
        assert!(problems[0].message.contains("[String]value"), "{}", problems[0].message);
    }

    fn tenant_env() -> FixedEnv {
        let mut env = FixedEnv::default();
        env.expressions.insert("RelyingPartyTenantId".into(), "b2cdemo.onmicrosoft.com".into());
        env
    }

    fn format_one(value: Option<&'static str>, format: &'static str) -> crate::testing::Case {
        case("FormatStringClaim")
            .input_claim("inputClaim", "upnUserName", DataType::String, value.map(s))
            .param("stringFormat", "string", format)
            .output_claim("outputClaim", "userPrincipalName", DataType::String)
            .env(tenant_env())
    }

    #[test]
    fn format_string_claim_documented_example() {
        let out = format_one(Some("5164db16-3eee-4629-bfda-dcc3326790e9"), "cpim_{0}@{RelyingPartyTenantId}")
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("cpim_5164db16-3eee-4629-bfda-dcc3326790e9@b2cdemo.onmicrosoft.com")));
    }

    #[test]
    fn format_string_claim_edges() {
        assert_eq!(format_one(Some("x"), "{{{0}}}").run_one().unwrap(), Some(s("{x}")));
        assert_eq!(format_one(Some(""), "[{0}]").run_one().unwrap(), Some(s("[]")));
        assert_eq!(format_one(Some("İ😀"), "{0,-4}|").run_one().unwrap(), Some(s("İ😀 |")));
        assert_eq!(format_one(Some("x"), "no item").run_one().unwrap(), Some(s("no item")));
        assert_eq!(format_one(None, "{0}").run_one().unwrap(), None);
        // Placeholders a deployment tool fills are not expressions.
        assert!(problem(&format_one(Some("x"), "{AuthenticatorIssuer}")).message.contains("stringFormat"));
        let p = problem(&format_one(Some("x"), "{0} {1}"));
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("{1}"), "{}", p.message);
        assert!(problem(&format_one(Some("x"), "{0")).message.contains("not closed"));
        let long: &'static str = Box::leak("x".repeat(4001).into_boxed_str());
        assert!(problem(&format_one(Some("x"), long)).message.contains("4000"));
        let exact: &'static str = Box::leak(format!("{{0}}{}", "x".repeat(3997)).into_boxed_str());
        assert_eq!(format_one(Some("y"), exact).run_one().unwrap().map(|v| v.to_string().len()), Some(3998));
    }

    fn format_two(a: Option<&'static str>, c: Option<&'static str>, format: &'static str) -> crate::testing::Case {
        case("FormatStringMultipleClaims")
            .input_claim("inputClaim1", "givenName", DataType::String, a.map(s))
            .input_claim("inputClaim2", "surName", DataType::String, c.map(s))
            .param("stringFormat", "string", format)
            .output_claim("outputClaim", "displayName", DataType::String)
            .env(tenant_env())
    }

    #[test]
    fn format_string_multiple_claims_documented_example() {
        assert_eq!(format_two(Some("Joe"), Some("Fernando"), "{0} {1}").run_one().unwrap(), Some(s("Joe Fernando")));
    }

    #[test]
    fn format_string_multiple_claims_edges() {
        assert_eq!(format_two(Some("Joe"), Some("Fernando"), "{1}, {0}").run_one().unwrap(), Some(s("Fernando, Joe")));
        // The age-gating sample's literal %3A stays as written.
        assert_eq!(
            format_two(Some("B2C_V1_90001"), Some("minor"), "{0}%3A {1}").run_one().unwrap(),
            Some(s("B2C_V1_90001%3A minor"))
        );
        assert_eq!(
            format_two(Some("a"), Some("b"), "{0}@{RelyingPartyTenantId}/{1}").run_one().unwrap(),
            Some(s("a@b2cdemo.onmicrosoft.com/b"))
        );
        assert_eq!(format_two(Some("Zoë"), Some("Ångström"), "{0} {1}").run_one().unwrap(), Some(s("Zoë Ångström")));
        assert_eq!(format_two(Some("Joe"), None, "{0} {1}").run_one().unwrap(), None);
        // Same claim in and out is overwritten.
        let c = case("FormatStringMultipleClaims")
            .input_claim("inputClaim1", "givenName", DataType::String, Some(s("Joe")))
            .input_claim("inputClaim2", "surName", DataType::String, Some(s("Fernando")))
            .param("stringFormat", "string", "{0} {1}")
            .output_claim("outputClaim", "givenName", DataType::String);
        assert_eq!(after(&c, &[], "givenName"), Some(s("Joe Fernando")));
        assert!(problem(&format_two(Some("a"), Some("b"), "{2}")).message.contains("{2}"));
        let problems = case("FormatStringMultipleClaims")
            .input("inputClaim", s("a"))
            .input("inputClaim2", s("b"))
            .param("stringFormat", "string", "{0}")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[String]inputClaim1"), "{}", problems[0].message);
    }

    #[test]
    fn null_claim_documented_example() {
        let c = case("NullClaim").output_claim("claim_to_null", "TermsOfService", DataType::String);
        let tos = "Welcome to Contoso App. If you continue to browse and use this website, you're agreeing to comply with and be bound by the following terms and conditions...";
        assert_eq!(after(&c, &[("TermsOfService", s(tos))], "TermsOfService"), None);
    }

    #[test]
    fn null_claim_any_type_and_absent() {
        let c = case("NullClaim").output_claim("claim_to_null", "roles", DataType::StringCollection);
        assert_eq!(after(&c, &[("roles", coll(&["a"]))], "roles"), None);
        assert_eq!(after(&c, &[], "roles"), None);
        let problems = case("NullClaim").check();
        assert!(problems[0].message.contains("[Any]claim_to_null"), "{}", problems[0].message);
    }

    fn domain(value: Option<&'static str>) -> Option<ClaimValue> {
        case("ParseDomain")
            .input_claim("emailAddress", "email", DataType::String, value.map(s))
            .output_claim("domain", "domainName", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn parse_domain_documented_example() {
        assert_eq!(domain(Some("joe@outlook.com")), Some(s("outlook.com")));
    }

    #[test]
    fn parse_domain_edges() {
        assert_eq!(domain(Some("joe@bücher.de")), Some(s("bücher.de")));
        assert_eq!(domain(Some("not-an-email")), Some(s("")));
        assert_eq!(domain(Some("joe@")), Some(s("")));
        assert_eq!(domain(Some("@outlook.com")), Some(s("")));
        assert_eq!(domain(Some("a@b@c")), Some(s("")));
        assert_eq!(domain(Some("")), Some(s("")));
        assert_eq!(domain(None), None);
    }

    fn join(value: Option<ClaimValue>, delimiter: &'static str) -> Option<ClaimValue> {
        case("StringJoin")
            .input_claim("inputClaim", "roles", DataType::StringCollection, value)
            .param("delimiter", "string", delimiter)
            .output_claim("outputClaim", "rolesCommaDelimiterConverted", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn string_join_documented_example() {
        assert_eq!(join(Some(coll(&["Admin", "Author", "Reader"])), ","), Some(s("Admin,Author,Reader")));
    }

    #[test]
    fn string_join_edges() {
        assert_eq!(join(Some(coll(&[])), ","), Some(s("")));
        assert_eq!(join(Some(coll(&["one"])), ", "), Some(s("one")));
        assert_eq!(join(Some(coll(&["a", "", "😀"])), ""), Some(s("a😀")));
        assert_eq!(join(Some(coll(&["İ", "ß"])), " · "), Some(s("İ · ß")));
        assert_eq!(join(None, ","), None);
        let problems = case("StringJoin")
            .input("inputClaim", s("a,b"))
            .param("delimiter", "string", ",")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[StringCollection]inputClaim"), "{}", problems[0].message);
    }

    fn replace(value: Option<&'static str>, old: &'static str, new: &'static str) -> crate::testing::Case {
        case("StringReplace")
            .input_claim("inputClaim", "phoneNumber", DataType::String, value.map(s))
            .param("oldValue", "string", old)
            .param("newValue", "string", new)
            .output_claim("outputClaim", "phoneNumber", DataType::String)
    }

    #[test]
    fn string_replace_documented_example() {
        assert_eq!(replace(Some("+164-411-452-054"), "-", "").run_one().unwrap(), Some(s("+164411452054")));
    }

    #[test]
    fn string_replace_edges() {
        assert_eq!(replace(Some("no dashes"), "-", "").run_one().unwrap(), Some(s("no dashes")));
        assert_eq!(replace(Some("aaa"), "aa", "b").run_one().unwrap(), Some(s("ba")));
        // Ordinal: case and normalisation forms are not folded.
        assert_eq!(replace(Some("Straße STRASSE"), "ß", "ss").run_one().unwrap(), Some(s("Strasse STRASSE")));
        assert_eq!(replace(Some("e\u{301} é"), "é", "e").run_one().unwrap(), Some(s("e\u{301} e")));
        assert_eq!(replace(Some("😀x😀"), "😀", "-").run_one().unwrap(), Some(s("-x-")));
        assert_eq!(replace(Some(""), "-", "").run_one().unwrap(), Some(s("")));
        assert_eq!(replace(None, "-", "").run_one().unwrap(), None);
        let p = problem(&replace(Some("x"), "", "y"));
        assert!(p.message.contains("oldValue"), "{}", p.message);
        let problems = case("StringReplace")
            .input("inputClaim", s("x"))
            .param("oldValue", "string", "x")
            .param("newValue", "string", "y")
            .output("outputClaim", DataType::Boolean)
            .check();
        assert!(problems[0].message.contains("[Boolean]outputClaim"), "{}", problems[0].message);
    }

    fn split(value: Option<&'static str>, delimiter: &'static str) -> crate::testing::Case {
        case("StringSplit")
            .input_claim("inputClaim", "rolesCommaDelimiter", DataType::String, value.map(s))
            .param("delimiter", "string", delimiter)
            .output_claim("outputClaim", "roles", DataType::StringCollection)
    }

    #[test]
    fn string_split_documented_example() {
        assert_eq!(
            split(Some("Admin,Author,Reader"), ",").run_one().unwrap(),
            Some(coll(&["Admin", "Author", "Reader"]))
        );
    }

    #[test]
    fn string_split_edges() {
        // Previous items are replaced.
        assert_eq!(after(&split(Some("a"), ","), &[("roles", coll(&["old", "items"]))], "roles"), Some(coll(&["a"])));
        assert_eq!(split(Some("a,,b,"), ",").run_one().unwrap(), Some(coll(&["a", "", "b", ""])));
        assert_eq!(split(Some("a, b"), ", ").run_one().unwrap(), Some(coll(&["a", "b"])));
        assert_eq!(split(Some("İ😀ß😀"), "😀").run_one().unwrap(), Some(coll(&["İ", "ß", ""])));
        assert_eq!(split(None, ",").run_one().unwrap_err().code, ErrorCode::MissingInput);
        assert_eq!(split(Some(""), ",").run_one().unwrap_err().code, ErrorCode::Failed);
        assert!(problem(&split(Some("a"), "")).message.contains("delimiter"));
        let problems = case("StringSplit")
            .input("inputClaim", s("a"))
            .param("delimiter", "string", ",")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[StringCollection]outputClaim"), "{}", problems[0].message);
    }

    fn substring(value: Option<&'static str>, start: &'static str, length: &'static str) -> crate::testing::Case {
        case("StringSubstring")
            .input_claim("inputClaim", "phoneNumber", DataType::String, value.map(s))
            .param("startIndex", "int", start)
            .param("length", "int", length)
            .output_claim("outputClaim", "phonePrefix", DataType::String)
    }

    #[test]
    fn string_substring_documented_example() {
        assert_eq!(substring(Some("+1644114520"), "0", "2").run_one().unwrap(), Some(s("+1")));
    }

    #[test]
    fn string_substring_edges() {
        assert_eq!(substring(Some("abc"), "3", "0").run_one().unwrap(), Some(s("")));
        assert_eq!(substring(Some("abc"), "1", "2").run_one().unwrap(), Some(s("bc")));
        assert_eq!(substring(Some(""), "0", "0").run_one().unwrap(), Some(s("")));
        // UTF-16 code units: the emoji is two, "é" precomposed is one.
        assert_eq!(substring(Some("😀é"), "2", "1").run_one().unwrap(), Some(s("é")));
        assert_eq!(substring(Some("😀é"), "0", "2").run_one().unwrap(), Some(s("😀")));
        assert_eq!(substring(Some("İstanbul"), "0", "1").run_one().unwrap(), Some(s("İ")));
        assert_eq!(substring(None, "0", "1").run_one().unwrap(), None);
        for (start, length) in [("4", "0"), ("2", "2"), ("0", "2147483647"), ("2147483647", "2147483647")] {
            let err = substring(Some("abc"), start, length).run_one().unwrap_err();
            assert_eq!(err.code, ErrorCode::Failed, "{start},{length}");
        }
        assert!(problem(&substring(Some("abc"), "-1", "1")).message.contains("startIndex"));
        assert!(problem(&substring(Some("abc"), "0", "-1")).message.contains("length"));
        let problems = substring(Some("abc"), "0", "99999999999").check();
        assert!(problems[0].message.contains("length"), "{}", problems[0].message);
        let problems = case("StringSubstring")
            .input("inputClaim", s("abc"))
            .param("startIndex", "string", "0")
            .param("length", "int", "1")
            .output("outputClaim", DataType::String)
            .check();
        assert!(
            problems[0].message.contains("startIndex") && problems[0].message.contains("Int"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn utf16_substring_splits_surrogate_pairs_lossily() {
        assert_eq!(utf16_substring("😀", 0, 1).as_deref(), Some("\u{FFFD}"));
        assert_eq!(utf16_substring("😀", 1, 1).as_deref(), Some("\u{FFFD}"));
        assert_eq!(utf16_substring("a😀b", 2, 2).as_deref(), Some("\u{FFFD}b"));
        assert_eq!(utf16_substring("😀", 1, 0).as_deref(), Some(""));
        assert_eq!(utf16_substring("😀", 2, 0).as_deref(), Some(""));
        assert_eq!(utf16_substring("😀", 3, 0), None);
        assert_eq!(utf16_substring("x", usize::MAX, 1), None);
    }
}

/// .NET's invariant casing maps one character to one character (`İ` lowers to `i`, `ß` stays
/// `ß` in upper case), unlike Rust's full Unicode mapping.
fn simple_lower(text: &str) -> String {
    // ASCII maps the same either way, without a table lookup per character.
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect()
}

fn simple_upper(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_uppercase();
    }
    text.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod casing_tests {
    use super::{simple_lower, simple_upper};

    #[test]
    fn casing_maps_one_character_to_one_like_dotnet() {
        assert_eq!(simple_lower("İSTANBUL"), "istanbul");
        assert_eq!(simple_upper("straße"), "STRAßE");
        assert_eq!(simple_upper("ǆ"), "Ǆ");
        assert_eq!(simple_lower("ΣΑΣ"), "σασ");
    }
}
