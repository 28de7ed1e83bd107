//! Phone number methods (phone-number-claims-transformations.md).
//!
//! Parsing uses the `phonenumber` crate (a port of libphonenumber with its metadata). A number
//! is accepted when libphonenumber can parse it; it is not required to be a valid or even a
//! possible number of its region, because the documented examples (`+1 (123) 456-7890`,
//! `+49 (123) 456-7890`, DK `033 456-7890`) are none of those.

use phonenumber::PhoneNumber;
use phonenumber::country::Id as Region;
use phonenumber::metadata::DATABASE;

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const PHONE: TypeSpec = TypeSpec::Exact(DataType::PhoneNumber);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);

const INVALID_PHONE_KEY: &str = "UserMessageIfClaimsTransformationInvalidPhoneNumber";
const PARSE_FAILURE_KEY: &str = "UserMessageIfPhoneNumberParseFailure";

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "ConvertPhoneNumberClaimToString",
            family: Family::PhoneNumber,
            inputs: &[Slot { name: "phoneNumber", ty: PHONE, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "phoneNumberString", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: phone_to_string,
    },
    Method {
        signature: Signature {
            method: "ConvertStringToPhoneNumberClaim",
            family: Family::PhoneNumber,
            inputs: &[
                Slot { name: "phoneNumberString", ty: STRING, required: true },
                Slot { name: "country", ty: STRING, required: false },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: PHONE, required: true }],
            extra_outputs: None,
            user_message_key: Some(INVALID_PHONE_KEY),
        },
        build: string_to_phone,
    },
    Method {
        signature: Signature {
            method: "GetNationalNumberAndCountryCodeFromPhoneNumberString",
            family: Family::PhoneNumber,
            inputs: &[Slot { name: "phoneNumber", ty: STRING, required: true }],
            extra_inputs: None,
            params: &[
                Param { name: "throwExceptionOnFailure", ty: BOOLEAN, required: false, default: Some("false") },
                Param { name: "countryCodeType", ty: STRING, required: false, default: Some("CallingCode") },
            ],
            extra_params: None,
            outputs: &[
                Slot { name: "nationalNumber", ty: STRING, required: true },
                Slot { name: "countryCode", ty: STRING, required: true },
            ],
            extra_outputs: None,
            user_message_key: Some(PARSE_FAILURE_KEY),
        },
        build: national_number_and_country_code,
    },
];

/// Parses `text`, international unless a region is given. `None` when libphonenumber rejects it.
fn parse(region: Option<Region>, text: &str) -> Option<PhoneNumber> {
    phonenumber::parse(region, text).ok()
}

/// B2C's stored form: `+`, the calling code, the national significant number (leading zeros
/// that belong to it, as in Italy, are kept). Written directly: the crate's formatter
/// reports an unknown calling code as a `fmt::Error`, which `to_string` would turn into a panic.
fn e164(number: &PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

/// ISO 3166 code of the number's region; for a number no region claims, the main region of its
/// calling code (libphonenumber's choice for shared codes such as +1).
fn region_code(number: &PhoneNumber) -> Option<String> {
    if let Some(id) = number.country().id() {
        return Some(id.as_ref().to_owned());
    }
    let regions = DATABASE.by_code(&number.code().value())?;
    let main = regions.into_iter().find(|m| m.is_main_country_for_code()).map(|m| m.id().to_owned());
    // Non-geographic codes (+800, +882, ...) have the pseudo-region "001", which is no ISO code.
    main.filter(|id| id.len() == 2 && id.bytes().all(|c| c.is_ascii_uppercase()))
}

fn phone_to_string(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("phoneNumber")?;
    let output = b.required_output("phoneNumberString")?;
    Ok(Box::new(move |bag, _env| {
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let text = value.as_str().ok_or_else(|| TransformError::invalid_value("phoneNumber is not a phone number"))?;
        // The text is unchanged.
        bag.set(output, ClaimValue::String(text.to_owned()));
        Ok(())
    }))
}

fn string_to_phone(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("phoneNumberString")?;
    let country = b.input("country");
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let invalid = |why: &str| TransformError::assertion(why.to_owned(), INVALID_PHONE_KEY);
        // A validation method: an absent number is not a valid one.
        let text = match bag.get(input) {
            Some(v) => v.as_str().ok_or_else(|| TransformError::invalid_value("phoneNumberString is not a string"))?,
            None => return Err(invalid("phoneNumberString has no value")),
        };
        let region = match country.and_then(|c| bag.get(c)) {
            Some(v) => {
                let code = v.as_str().ok_or_else(|| TransformError::invalid_value("country is not a string"))?.trim();
                if code.is_empty() {
                    None
                } else {
                    let id = code.to_ascii_uppercase().parse::<Region>().map_err(|_| {
                        invalid(&format!("'{code}' is not an ISO 3166 country/region code with a calling code"))
                    })?;
                    Some(id)
                }
            }
            None => None,
        };
        let number = parse(region, text).ok_or_else(|| invalid(&format!("'{text}' is not a valid phone number")))?;
        bag.set(output, ClaimValue::PhoneNumber(e164(&number)));
        Ok(())
    }))
}

#[derive(Clone, Copy)]
enum CodeType {
    CallingCode,
    Iso3166,
}

fn national_number_and_country_code(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("phoneNumber")?;
    let national_out = b.required_output("nationalNumber")?;
    let code_out = b.required_output("countryCode")?;
    let throw = b.param_bool("throwExceptionOnFailure").unwrap_or(false);
    let code_type = match b.param_str("countryCodeType") {
        None => CodeType::CallingCode,
        Some(t) if t.trim().eq_ignore_ascii_case("CallingCode") => CodeType::CallingCode,
        Some(t) if t.trim().eq_ignore_ascii_case("ISO3166") => CodeType::Iso3166,
        Some(t) => {
            return Err(b.invalid_param("countryCodeType", format!("expected CallingCode or ISO3166, found '{t}'")));
        }
    };
    Ok(Box::new(move |bag, _env| {
        let text = match bag.get(input) {
            Some(v) => Some(v.as_str().ok_or_else(|| TransformError::invalid_value("phoneNumber is not a string"))?),
            None => None,
        };
        let parts = text.and_then(|t| parse(None, t)).and_then(|n| {
            let code = match code_type {
                CodeType::CallingCode => format!("+{}", n.code().value()),
                CodeType::Iso3166 => region_code(&n)?,
            };
            Some((n.national().to_string(), code))
        });
        match parts {
            Some((national, code)) => {
                bag.set(national_out, ClaimValue::String(national));
                bag.set(code_out, ClaimValue::String(code));
                Ok(())
            }
            // Without throwExceptionOnFailure the outputs keep their previous values.
            None if !throw => Ok(()),
            None => Err(TransformError::assertion(
                match text {
                    Some(t) => format!("'{t}' is not a valid international phone number"),
                    None => "phoneNumber has no value".to_owned(),
                },
                PARSE_FAILURE_KEY,
            )),
        }
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{case, s};
    use crate::{ClaimValue, DataType, ErrorCode};

    fn phone(text: &str) -> ClaimValue {
        ClaimValue::PhoneNumber(text.to_owned())
    }

    // --- ConvertPhoneNumberClaimToString ---

    #[test]
    fn phone_to_string_keeps_the_documented_text() {
        let out = case("ConvertPhoneNumberClaimToString")
            .input("phoneNumber", phone("+11234567890"))
            .output("phoneNumberString", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("+11234567890")));
    }

    #[test]
    fn phone_to_string_does_not_normalise() {
        for text in ["", "+1 (123) 456-7890", "☎ 0800 İ"] {
            let out = case("ConvertPhoneNumberClaimToString")
                .input("phoneNumber", phone(text))
                .output("phoneNumberString", DataType::String)
                .run_one()
                .unwrap();
            assert_eq!(out, Some(s(text)));
        }
    }

    #[test]
    fn phone_to_string_with_no_input_writes_nothing() {
        let out = case("ConvertPhoneNumberClaimToString")
            .input_claim("phoneNumber", "phoneNumber", DataType::PhoneNumber, None)
            .output("phoneNumberString", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn phone_to_string_slot_types_are_checked() {
        let problems = case("ConvertPhoneNumberClaimToString")
            .input("phoneNumber", s("+11234567890"))
            .output("phoneNumberString", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]phoneNumber"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[PhoneNumber]phoneNumber"), "{}", problems[0].message);
    }

    // --- ConvertStringToPhoneNumberClaim ---

    fn to_phone(number: &str, country: Option<&str>) -> Result<Option<ClaimValue>, crate::TransformError> {
        let c = case("ConvertStringToPhoneNumberClaim").input("phoneNumberString", s(number));
        let c = match country {
            Some(code) => c.input("country", s(code)),
            None => c,
        };
        c.output("outputClaim", DataType::PhoneNumber).run_one()
    }

    #[test]
    fn string_to_phone_documented_national_number_with_country() {
        assert_eq!(to_phone("033 456-7890", Some("DK")).unwrap(), Some(phone("+450334567890")));
    }

    #[test]
    fn string_to_phone_documented_international_number() {
        assert_eq!(to_phone("+1 (123) 456-7890", None).unwrap(), Some(phone("+11234567890")));
    }

    #[test]
    fn string_to_phone_normalises_real_numbers() {
        assert_eq!(to_phone("+44 20 7946 0958", None).unwrap(), Some(phone("+442079460958")));
        // The national trunk prefix of a national number is dropped where the region has one.
        assert_eq!(to_phone("(020) 7946-0958", Some("gb")).unwrap(), Some(phone("+442079460958")));
        assert_eq!(to_phone("030 123456", Some("DE")).unwrap(), Some(phone("+4930123456")));
        // An international number is read as such even when a country is given.
        assert_eq!(to_phone("+49 30 123456", Some("DK")).unwrap(), Some(phone("+4930123456")));
        // Italian fixed lines keep their leading zero.
        assert_eq!(to_phone("+39 02 1234 5678", None).unwrap(), Some(phone("+390212345678")));
    }

    #[test]
    fn string_to_phone_empty_country_reads_an_international_number() {
        assert_eq!(to_phone("+1 (123) 456-7890", Some(" ")).unwrap(), Some(phone("+11234567890")));
    }

    #[test]
    fn string_to_phone_rejects_invalid_numbers_with_the_user_message_key() {
        for (number, country) in [
            ("1234567890", None),
            ("", None),
            ("not a number", None),
            ("+", None),
            ("+999 1234567", None),
            ("😀", Some("US")),
            ("033 456-7890", Some("XX")),
            ("033 456-7890", Some("Denmark")),
            ("+1 234 567 890 123 456 789 012", None),
        ] {
            let err = to_phone(number, country).unwrap_err();
            assert_eq!(err.code, ErrorCode::AssertionFailed, "{number:?} {country:?}");
            assert_eq!(err.user_message_key, Some("UserMessageIfClaimsTransformationInvalidPhoneNumber"));
        }
    }

    #[test]
    fn string_to_phone_with_no_input_asserts() {
        let err = case("ConvertStringToPhoneNumberClaim")
            .input_claim("phoneNumberString", "p", DataType::String, None)
            .output("outputClaim", DataType::PhoneNumber)
            .run_one()
            .unwrap_err();
        assert_eq!(err.user_message_key, Some("UserMessageIfClaimsTransformationInvalidPhoneNumber"));
    }

    #[test]
    fn string_to_phone_slot_types_are_checked() {
        let problems = case("ConvertStringToPhoneNumberClaim")
            .input("phoneNumberString", s("+11234567890"))
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]outputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[PhoneNumber]outputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn parsing_odd_inputs_never_panics() {
        let samples = [
            "+0",
            "+00",
            "+1",
            "+1 0",
            "++1",
            "+1-",
            "+٣٣١٢٣٤٥٦٧٨",
            "tel:+1-201-555-0123;ext=1",
            "+1 201 555 0123 ext. 99",
            "+800 1234 5678",
            "+882 1234 5678",
            "+9999999999999999999999",
            "+1 99999999999999999999",
            "0",
            "00",
            "\u{0}",
            "+44\u{301}20",
            "+1 (((((",
            "#*+",
            "+7 ",
            "+247 1234",
        ];
        for text in samples {
            for country in [None, Some("US"), Some("IT")] {
                let _ = to_phone(text, country);
            }
            let _ = national(text, "ISO3166", "true");
        }
    }

    // --- GetNationalNumberAndCountryCodeFromPhoneNumberString ---

    fn national(
        number: &str,
        code_type: &'static str,
        throw: &'static str,
    ) -> Result<Vec<(&'static str, ClaimValue)>, crate::TransformError> {
        case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s(number))
            .param("throwExceptionOnFailure", "boolean", throw)
            .param("countryCodeType", "string", code_type)
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .run()
    }

    #[test]
    fn national_number_documented_iso3166_example() {
        let out = national("+49 (123) 456-7890", "ISO3166", "false").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("1234567890")), ("countryCode", s("DE"))]);
    }

    #[test]
    fn national_number_documented_calling_code_example() {
        let out = national("+49 (123) 456-7890", "CallingCode", "false").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("1234567890")), ("countryCode", s("+49"))]);
    }

    #[test]
    fn national_number_regions_of_shared_calling_codes() {
        let out = national("+1 416 555 0123", "ISO3166", "false").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("4165550123")), ("countryCode", s("CA"))]);
        let out = national("+1 (123) 456-7890", "iso3166", "false").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("1234567890")), ("countryCode", s("US"))]);
        let out = national("+39 02 1234 5678", "ISO3166", "false").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("0212345678")), ("countryCode", s("IT"))]);
    }

    #[test]
    fn national_number_default_code_type_is_the_calling_code() {
        let out = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s("+44 20 7946 0958"))
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .run()
            .unwrap();
        assert_eq!(out, vec![("nationalNumber", s("2079460958")), ("countryCode", s("+44"))]);
    }

    #[test]
    fn national_number_failure_keeps_previous_values_by_default() {
        // The doc sample maps nationalNumber back onto the phone claim; an invalid number leaves it.
        let out = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s("0123 456"))
            .output_claim("nationalNumber", "phoneNumber", DataType::String)
            .output("countryCode", DataType::String)
            .run()
            .unwrap();
        assert_eq!(out, vec![("phoneNumber", s("0123 456"))]);
        assert_eq!(national("", "ISO3166", "false").unwrap(), vec![]);
        assert_eq!(national("İstanbul", "CallingCode", "false").unwrap(), vec![]);
    }

    #[test]
    fn national_number_failure_asserts_when_asked() {
        let err = national("0123 456", "ISO3166", "true").unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        assert_eq!(err.user_message_key, Some("UserMessageIfPhoneNumberParseFailure"));
        // Non-geographic numbers have no ISO 3166 region.
        let err = national("+800 1234 5678", "ISO3166", "true").unwrap_err();
        assert_eq!(err.code, ErrorCode::AssertionFailed);
        let out = national("+800 1234 5678", "CallingCode", "true").unwrap();
        assert_eq!(out, vec![("nationalNumber", s("12345678")), ("countryCode", s("+800"))]);
    }

    #[test]
    fn national_number_missing_input() {
        let quiet = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input_claim("phoneNumber", "phoneNumber", DataType::String, None)
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .run()
            .unwrap();
        assert_eq!(quiet, vec![]);
        let err = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input_claim("phoneNumber", "phoneNumber", DataType::String, None)
            .param("throwExceptionOnFailure", "boolean", "true")
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .run()
            .unwrap_err();
        assert_eq!(err.user_message_key, Some("UserMessageIfPhoneNumberParseFailure"));
    }

    #[test]
    fn national_number_rejects_bad_parameters_at_compile_time() {
        let problems = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s("+4912345"))
            .param("countryCodeType", "string", "Alpha2")
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("countryCodeType"), "{}", problems[0].message);
        let problems = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s("+4912345"))
            .param("throwExceptionOnFailure", "boolean", "sometimes")
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("throwExceptionOnFailure"), "{}", problems[0].message);
        let problems = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", s("+4912345"))
            .param("throwExceptionOnFailure", "string", "true")
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType Boolean"), "{}", problems[0].message);
    }

    #[test]
    fn national_number_slot_types_are_checked() {
        let problems = case("GetNationalNumberAndCountryCodeFromPhoneNumberString")
            .input("phoneNumber", ClaimValue::PhoneNumber("+4912345".into()))
            .output("nationalNumber", DataType::String)
            .output("countryCode", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[PhoneNumber]phoneNumber"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]phoneNumber"), "{}", problems[0].message);
    }
}
