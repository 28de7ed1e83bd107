//! Methods reading the current language's localized resources: FormatLocalizedString,
//! GetLocalizedStringsTransformation, GetMappedValueFromLocalizedCollection.

use super::format::{CompositeFormat, MAX_FORMAT_LEN, utf16_len};
use super::{STRING, input_str, param, slot};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature};
use crate::value::ClaimValue;

/// `LocalizedString/@ElementType` of FormatLocalizedString's format strings.
const FORMAT_ELEMENT_TYPE: &str = "FormatLocalizedStringTransformationClaimType";
/// `LocalizedString/@ElementType` of GetLocalizedStringsTransformation's strings.
const STRINGS_ELEMENT_TYPE: &str = "GetLocalizedStringsTransformationClaimType";
/// `LocalizedCollection/@ElementType` of a claim type's Restriction.
const CLAIM_TYPE_ELEMENT_TYPE: &str = "ClaimType";

pub(super) const FORMAT_LOCALIZED_STRING: Method = Method {
    signature: Signature {
        method: "FormatLocalizedString",
        family: Family::String,
        // Format arguments {0}, {1}, … in document order, declared without TransformationClaimType.
        inputs: &[],
        extra_inputs: Some(STRING),
        params: &[param("stringFormatId", STRING)],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: format_localized_string,
};

pub(super) const GET_LOCALIZED_STRINGS_TRANSFORMATION: Method = Method {
    signature: Signature {
        method: "GetLocalizedStringsTransformation",
        family: Family::String,
        inputs: &[],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[],
        // Each output's TransformationClaimType is a StringId.
        extra_outputs: Some(STRING),
        user_message_key: None,
    },
    build: get_localized_strings,
};

pub(super) const GET_MAPPED_VALUE_FROM_LOCALIZED_COLLECTION: Method = Method {
    signature: Signature {
        method: "GetMappedValueFromLocalizedCollection",
        family: Family::String,
        inputs: &[slot("mapFromClaim", STRING)],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[slot("restrictionValueClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: get_mapped_value,
};

fn format_localized_string(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("outputClaim")?;
    let string_id = b.param_str("stringFormatId").unwrap_or_default();
    let args: Vec<_> = b.inputs().iter().map(|i| (i.claim, i.slot.to_owned())).collect();
    Ok(Box::new(move |bag, env| {
        let mut values = Vec::with_capacity(args.len());
        for (claim, slot) in &args {
            match input_str(bag, *claim, slot)? {
                Some(v) => values.push(v),
                None => return Ok(()),
            }
        }
        let text = env.localized_string(FORMAT_ELEMENT_TYPE, "", &string_id).ok_or_else(|| {
            TransformError::failed(format!(
                "no LocalizedString with ElementType {FORMAT_ELEMENT_TYPE} and StringId '{string_id}' for the current language"
            ))
        })?;
        // The format comes from the content definition at run time, so it is parsed here.
        let format = CompositeFormat::parse(&text, false).map_err(|e| {
            TransformError::failed(format!("localized string '{string_id}' is not a valid format: {e}"))
        })?;
        let formatted = format.render(&values, env)?;
        let len = utf16_len(&formatted);
        if len > MAX_FORMAT_LEN {
            return Err(TransformError::failed(format!(
                "the formatted string is {len} characters long; the maximum is {MAX_FORMAT_LEN}"
            )));
        }
        bag.set(output, ClaimValue::String(formatted));
        Ok(())
    }))
}

fn get_localized_strings(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let outputs: Vec<_> = b.outputs().iter().map(|o| (o.claim, o.slot.to_owned())).collect();
    Ok(Box::new(move |bag, env| {
        let mut values = Vec::with_capacity(outputs.len());
        for (claim, string_id) in &outputs {
            let text = env.localized_string(STRINGS_ELEMENT_TYPE, "", string_id).ok_or_else(|| {
                TransformError::failed(format!(
                    "no LocalizedString with ElementType {STRINGS_ELEMENT_TYPE} and StringId '{string_id}' for the current language"
                ))
            })?;
            values.push((*claim, text));
        }
        for (claim, text) in values {
            bag.set(claim, ClaimValue::String(text));
        }
        Ok(())
    }))
}

fn get_mapped_value(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("mapFromClaim")?;
    let output = b.required_output("restrictionValueClaim")?;
    let claim_type = b
        .outputs()
        .iter()
        .find(|o| o.slot == "restrictionValueClaim")
        .map(|o| o.claim_type.to_owned())
        .unwrap_or_default();
    Ok(Box::new(move |bag, env| {
        let Some(key) = input_str(bag, input, "mapFromClaim")? else {
            return Ok(());
        };
        let items = env.localized_collection(CLAIM_TYPE_ELEMENT_TYPE, &claim_type).ok_or_else(|| {
            TransformError::failed(format!("claim type '{claim_type}' has no Restriction enumeration to map from"))
        })?;
        // Text is matched ordinally; an unknown key leaves the output unset.
        if let Some((_, value)) = items.into_iter().find(|(text, _)| text == key) {
            bag.set(output, ClaimValue::String(value));
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::after;
    use crate::testing::{case, s};
    use crate::{ClaimValue, DataType, ErrorCode, FixedEnv};

    fn localized(strings: &[(&str, &str, &str)]) -> FixedEnv {
        let mut env = FixedEnv::default();
        for (element_type, id, text) in strings {
            env.strings.insert(((*element_type).into(), String::new(), (*id).into()), (*text).into());
        }
        env
    }

    const EMAIL_EXISTS: &str =
        "The email '{0}' is already an account in this organization. Click Next to sign in with that account.";

    #[test]
    fn format_localized_string_documented_example() {
        let env =
            localized(&[("FormatLocalizedStringTransformationClaimType", "ResponseMessge_EmailExists", EMAIL_EXISTS)]);
        let out = case("FormatLocalizedString")
            .input_claim("email", "email", DataType::String, Some(s("sarah@contoso.com")))
            .param("stringFormatId", "string", "ResponseMessge_EmailExists")
            .output_claim("outputClaim", "responseMsg", DataType::String)
            .env(env)
            .run_one()
            .unwrap();
        // The doc's output says "Select Next"; its resource says "Click Next", which is what is formatted.
        assert_eq!(
            out,
            Some(s(
                "The email 'sarah@contoso.com' is already an account in this organization. Click Next to sign in with that account."
            ))
        );
    }

    #[test]
    fn format_localized_string_orders_arguments_by_declaration() {
        let env =
            localized(&[("FormatLocalizedStringTransformationClaimType", "greet", "{1}, {0} ({0,-3}|{2}) {{ok}}")]);
        let c = case("FormatLocalizedString")
            .input_claim("givenName", "givenName", DataType::String, Some(s("Zoë")))
            .input_claim("surname", "surname", DataType::String, Some(s("İstanbul😀")))
            .input_claim("empty", "empty", DataType::String, Some(s("")))
            .param("stringFormatId", "string", "greet")
            .output("outputClaim", DataType::String)
            .env(env.clone());
        assert_eq!(c.run_one().unwrap(), Some(s("İstanbul😀, Zoë (Zoë|) {ok}")));
        let missing = case("FormatLocalizedString")
            .input_claim("givenName", "givenName", DataType::String, None)
            .param("stringFormatId", "string", "greet")
            .output("outputClaim", DataType::String)
            .env(env);
        assert_eq!(missing.run_one().unwrap(), None);
    }

    #[test]
    fn format_localized_string_failures() {
        let run = |format: &str, value: &'static str| {
            case("FormatLocalizedString")
                .input_claim("email", "email", DataType::String, Some(s(value)))
                .param("stringFormatId", "string", "id")
                .output("outputClaim", DataType::String)
                .env(localized(&[("FormatLocalizedStringTransformationClaimType", "id", format)]))
                .run_one()
        };
        // No localized string for the id.
        let err = case("FormatLocalizedString")
            .input("email", s("x"))
            .param("stringFormatId", "string", "id")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert!(err.message.contains("'id'"), "{}", err.message);
        assert_eq!(run("{1}", "x").unwrap_err().code, ErrorCode::Failed);
        assert!(run("{0", "x").unwrap_err().message.contains("not a valid format"));
        // Expressions are not part of localized formats.
        assert_eq!(run("{TechnicalProfileId}", "x").unwrap_err().code, ErrorCode::Failed);
        let long: &'static str = Box::leak("x".repeat(4000).into_boxed_str());
        assert_eq!(run("{0}", long).unwrap().map(|v| v.to_string().len()), Some(4000));
        assert!(run("{0}!", long).unwrap_err().message.contains("4000"));
        let problems = case("FormatLocalizedString")
            .input("email", ClaimValue::Int(1))
            .param("stringFormatId", "string", "id")
            .output("outputClaim", DataType::String)
            .check();
        assert!(problems[0].message.contains("[Int]email"), "{}", problems[0].message);
    }

    #[test]
    fn get_localized_strings_documented_example() {
        let env = localized(&[
            ("GetLocalizedStringsTransformationClaimType", "email_subject", "Contoso account email verification code"),
            ("GetLocalizedStringsTransformationClaimType", "email_message", "Thanks for verifying your account!"),
            ("GetLocalizedStringsTransformationClaimType", "email_code", "Your code is"),
            ("GetLocalizedStringsTransformationClaimType", "email_signature", "Sincerely"),
        ]);
        let out = case("GetLocalizedStringsTransformation")
            .output_claim("email_subject", "subject", DataType::String)
            .output_claim("email_message", "message", DataType::String)
            .output_claim("email_code", "codeIntro", DataType::String)
            .output_claim("email_signature", "signature", DataType::String)
            .env(env)
            .run()
            .unwrap();
        assert_eq!(
            out,
            vec![
                ("subject", s("Contoso account email verification code")),
                ("message", s("Thanks for verifying your account!")),
                ("codeIntro", s("Your code is")),
                ("signature", s("Sincerely")),
            ]
        );
    }

    #[test]
    fn get_localized_strings_edges() {
        let env =
            localized(&[("GetLocalizedStringsTransformationClaimType", "email_subject", "Código de verificación 😀")]);
        let c = case("GetLocalizedStringsTransformation")
            .output_claim("email_subject", "subject", DataType::String)
            .env(env.clone());
        assert_eq!(c.run_one().unwrap(), Some(s("Código de verificación 😀")));
        // A missing string fails the whole transformation and writes nothing.
        let c = case("GetLocalizedStringsTransformation")
            .output_claim("email_subject", "subject", DataType::String)
            .output_claim("email_other", "other", DataType::String)
            .env(env);
        let err = super::super::test_util::run_with(&c, &c.env, &[]).unwrap_err();
        assert!(err.message.contains("email_other"), "{}", err.message);
        assert_eq!(case("GetLocalizedStringsTransformation").run().unwrap(), vec![]);
        let problems = case("GetLocalizedStringsTransformation").output("email_subject", DataType::Boolean).check();
        assert!(problems[0].message.contains("[Boolean]email_subject"), "{}", problems[0].message);
    }

    fn restriction_env() -> FixedEnv {
        let mut env = FixedEnv::default();
        env.collections.insert(
            ("ClaimType".into(), "responseMsg".into()),
            vec![
                ("B2C_V1_90001".into(), "You cannot sign in because you are a minor".into()),
                ("B2C_V1_90002".into(), "This action can only be performed by gold members".into()),
                ("B2C_V1_90003".into(), "You have not been enabled for this operation".into()),
            ],
        );
        env
    }

    fn mapped(key: Option<&'static str>, env: FixedEnv) -> crate::testing::Case {
        case("GetMappedValueFromLocalizedCollection")
            .input_claim("mapFromClaim", "responseCode", DataType::String, key.map(s))
            .output_claim("restrictionValueClaim", "responseMsg", DataType::String)
            .env(env)
    }

    #[test]
    fn get_mapped_value_documented_example() {
        // The doc's output wording differs from its enumeration; the enumeration's Value is returned.
        let out = mapped(Some("B2C_V1_90001"), restriction_env()).run_one().unwrap();
        assert_eq!(out, Some(s("You cannot sign in because you are a minor")));
    }

    #[test]
    fn get_mapped_value_edges() {
        assert_eq!(
            after(&mapped(Some("B2C_V1_99999"), restriction_env()), &[("responseMsg", s("kept"))], "responseMsg"),
            Some(s("kept"))
        );
        assert_eq!(mapped(Some("b2c_v1_90001"), restriction_env()).run_one().unwrap(), None);
        assert_eq!(mapped(Some(""), restriction_env()).run_one().unwrap(), None);
        assert_eq!(mapped(None, restriction_env()).run_one().unwrap(), None);
        let err = mapped(Some("B2C_V1_90001"), FixedEnv::default()).run_one().unwrap_err();
        assert!(err.message.contains("responseMsg"), "{}", err.message);
        let mut env = FixedEnv::default();
        env.collections.insert(("ClaimType".into(), "responseMsg".into()), vec![("İ".into(), "Türkçe 😀".into())]);
        assert_eq!(mapped(Some("İ"), env).run_one().unwrap(), Some(s("Türkçe 😀")));
        let problems = case("GetMappedValueFromLocalizedCollection")
            .input("mapFromClaim", s("x"))
            .output("restrictionValueClaim", DataType::Int)
            .check();
        assert!(problems[0].message.contains("[String]restrictionValueClaim"), "{}", problems[0].message);
    }
}
