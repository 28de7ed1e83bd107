//! General methods (general-transformations.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::catalog::Method;
use crate::compile::{Bound, Location, Problem, ProblemKind, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const STRING_OR_INT: TypeSpec = TypeSpec::OneOf(&[DataType::String, DataType::Int]);

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "CopyClaim",
            family: Family::General,
            inputs: &[Slot { name: "inputClaim", ty: STRING_OR_INT, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: STRING_OR_INT, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: copy_claim,
    },
    Method {
        signature: Signature {
            method: "DoesClaimExist",
            family: Family::General,
            inputs: &[Slot { name: "inputClaim", ty: TypeSpec::Any, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: does_claim_exist,
    },
    Method {
        signature: Signature {
            method: "Hash",
            family: Family::General,
            inputs: &[
                Slot { name: "plaintext", ty: STRING, required: true },
                Slot { name: "salt", ty: STRING, required: true },
            ],
            extra_inputs: None,
            params: &[Param { name: "randomizerSecret", ty: STRING, required: true, default: None }],
            extra_params: None,
            outputs: &[Slot { name: "hash", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: hash,
    },
];

fn copy_claim(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    // "Both claims must be from the same type": a string is never copied into an int or back.
    let in_type = b.inputs().iter().find(|d| d.slot == "inputClaim").map(|d| d.data_type);
    let out = b.outputs().iter().enumerate().find(|(_, d)| d.slot == "outputClaim");
    if let (Some(in_type), Some((i, out))) = (in_type, out)
        && in_type != out.data_type
    {
        return Err(Problem {
            kind: ProblemKind::OutputMismatch,
            at: Location::Outputs(Some(i)),
            message: format!(
                "CopyClaim copies between claims of one type, but inputClaim is {} and outputClaim is {}",
                in_type.service_name(),
                out.data_type.service_name()
            ),
            suggestion: None,
        });
    }
    Ok(Box::new(move |bag, _env| {
        // Nothing to copy leaves the output as it was.
        if let Some(value) = bag.get(input) {
            let copy = value.clone();
            bag.set(output, copy);
        }
        Ok(())
    }))
}

fn does_claim_exist(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        // "Exists or contains any value": empty text and empty collections hold no value.
        let exists = match bag.get(input) {
            None => false,
            Some(ClaimValue::String(t) | ClaimValue::PhoneNumber(t) | ClaimValue::Duration(t)) => !t.is_empty(),
            Some(ClaimValue::StringCollection(items)) => !items.is_empty(),
            Some(ClaimValue::AlternativeSecurityIdCollection(items)) => !items.is_empty(),
            Some(_) => true,
        };
        bag.set(output, ClaimValue::Boolean(exists));
        Ok(())
    }))
}

fn hash(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let plaintext_id = b.required_input("plaintext")?;
    let salt_id = b.required_input("salt")?;
    let output = b.required_output("hash")?;
    let key_name = b.param_str("randomizerSecret").map(|k| k.trim().to_owned()).unwrap_or_default();
    if key_name.is_empty() {
        return Err(b.invalid_param("randomizerSecret", "expected the name of a policy key"));
    }
    Ok(Box::new(move |bag, env| {
        // Both parts are needed: hashing without the salt would give a plausible but wrong value.
        let (Some(plaintext), Some(salt)) = (bag.get(plaintext_id), bag.get(salt_id)) else {
            return Ok(());
        };
        let plaintext = plaintext.as_str().ok_or_else(|| TransformError::invalid_value("plaintext is not a string"))?;
        let salt = salt.as_str().ok_or_else(|| TransformError::invalid_value("salt is not a string"))?;
        let key = env
            .policy_key(&key_name)
            .ok_or_else(|| TransformError::failed(format!("policy key '{key_name}' is not available")))?;
        let digest = hmac_sha256(&key, plaintext, salt)?;
        bag.set(output, ClaimValue::String(STANDARD.encode(digest)));
        Ok(())
    }))
}

/// HMAC-SHA-256 keyed by the policy key over the UTF-8 plaintext followed by the UTF-8 salt.
fn hmac_sha256(key: &[u8], plaintext: &str, salt: &str) -> Result<[u8; 32], TransformError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| TransformError::failed("the policy key cannot be used as an HMAC key"))?;
    mac.update(plaintext.as_bytes());
    mac.update(salt.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::testing::{b, case, coll, s};
    use crate::{ClaimValue, DataType, ErrorCode, FixedEnv, ProblemKind};

    // CopyClaim

    #[test]
    fn copy_claim_documented_example() {
        let out = case("CopyClaim")
            .input_claim("inputClaim", "externalEmail", DataType::String, Some(s("bob@contoso.com")))
            .output_claim("outputClaim", "email", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("bob@contoso.com")));
    }

    #[test]
    fn copy_claim_copies_ints_and_text_as_is() {
        let run =
            |v: ClaimValue, t| case("CopyClaim").input("inputClaim", v).output("outputClaim", t).run_one().unwrap();
        assert_eq!(run(ClaimValue::Int(i32::MIN), DataType::Int), Some(ClaimValue::Int(i32::MIN)));
        assert_eq!(run(s(""), DataType::String), Some(s("")));
        let text = "İstanbul 👩‍👩‍👧 e\u{0301}";
        assert_eq!(run(s(text), DataType::String), Some(s(text)));
    }

    #[test]
    fn copy_claim_missing_input_writes_nothing() {
        let out = case("CopyClaim")
            .input_claim("inputClaim", "a", DataType::String, None)
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn copy_claim_types_are_checked() {
        let problems = case("CopyClaim").input("inputClaim", b(true)).output("outputClaim", DataType::Boolean).check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("[Boolean]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String|Int]inputClaim"), "{}", problems[0].message);

        let mixed = case("CopyClaim").input("inputClaim", s("1")).output("outputClaim", DataType::Int);
        assert!(mixed.check().is_empty());
        let problems = mixed.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].kind, ProblemKind::OutputMismatch);
        assert!(problems[0].message.contains("inputClaim is String and outputClaim is Int"), "{}", problems[0].message);
    }

    // DoesClaimExist

    fn exists(value: Option<ClaimValue>, t: DataType) -> Option<ClaimValue> {
        case("DoesClaimExist")
            .input_claim("inputClaim", "email", t, value)
            .output_claim("outputClaim", "isEmailPresent", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn does_claim_exist_documented_example() {
        assert_eq!(exists(Some(s("someone@contoso.com")), DataType::String), Some(b(true)));
    }

    #[test]
    fn does_claim_exist_absent_and_empty() {
        assert_eq!(exists(None, DataType::String), Some(b(false)));
        assert_eq!(exists(Some(s("")), DataType::String), Some(b(false)));
        assert_eq!(exists(Some(s(" ")), DataType::String), Some(b(true)));
        assert_eq!(exists(Some(coll(&[])), DataType::StringCollection), Some(b(false)));
        assert_eq!(exists(Some(coll(&[""])), DataType::StringCollection), Some(b(true)));
    }

    #[test]
    fn does_claim_exist_accepts_any_type() {
        assert_eq!(exists(Some(b(false)), DataType::Boolean), Some(b(true)));
        assert_eq!(exists(Some(ClaimValue::Int(0)), DataType::Int), Some(b(true)));
        assert_eq!(exists(Some(s("🙂")), DataType::String), Some(b(true)));
    }

    #[test]
    fn does_claim_exist_output_must_be_boolean() {
        let problems =
            case("DoesClaimExist").input("inputClaim", s("x")).output("outputClaim", DataType::String).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]outputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Boolean]outputClaim"), "{}", problems[0].message);
    }

    // Hash

    fn env_with_key(name: &str, secret: &[u8]) -> FixedEnv {
        FixedEnv { keys: HashMap::from([(name.to_owned(), secret.to_vec())]), ..FixedEnv::default() }
    }

    fn hash_case(plaintext: Option<&'static str>, salt: Option<&'static str>) -> crate::testing::Case {
        case("Hash")
            .input_claim("plaintext", "password", DataType::String, plaintext.map(s))
            .input_claim("salt", "email", DataType::String, salt.map(s))
            .param("randomizerSecret", "string", "B2C_1A_AccountTransformSecret")
            .output_claim("hash", "hashedPassword", DataType::String)
            .env(env_with_key("B2C_1A_AccountTransformSecret", b"1234567890"))
    }

    fn hash_of(c: &crate::testing::Case) -> String {
        match c.run_one().unwrap() {
            Some(ClaimValue::String(h)) => h,
            other => panic!("no hash: {other:?}"),
        }
    }

    #[test]
    fn hash_documented_example_shape() {
        // The doc's secret is unknown, so only the shape can be checked: base64 of 32 bytes.
        let h = hash_of(&hash_case(Some("MyPass@word1"), Some("487624568")));
        assert_eq!(h.len(), 44);
        assert!(h.ends_with('='));
        assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &h).unwrap().len(), 32);
    }

    #[test]
    fn hash_is_hmac_sha256_of_plaintext_then_salt() {
        // Independently computed: HMAC-SHA256(key "1234567890", "MyPass@word1487624568").
        let h = hash_of(&hash_case(Some("MyPass@word1"), Some("487624568")));
        assert_eq!(h, "o5m1L7d/7OMdHf9tFilGzkpBf2Y6rF69PnjpCMf+xEs=");
        // RFC 4231 test case 2, split between plaintext and salt.
        let c = case("Hash")
            .input("plaintext", s("what do ya want "))
            .input("salt", s("for nothing?"))
            .param("randomizerSecret", "string", "B2C_1A_Jefe")
            .output("hash", DataType::String)
            .env(env_with_key("B2C_1A_Jefe", b"Jefe"));
        assert_eq!(hash_of(&c), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }

    #[test]
    fn hash_depends_on_salt_key_and_unicode_text() {
        let base = hash_of(&hash_case(Some("MyPass@word1"), Some("487624568")));
        assert_ne!(base, hash_of(&hash_case(Some("MyPass@word1"), Some("487624569"))));
        let other_key = hash_case(Some("MyPass@word1"), Some("487624568"))
            .env(env_with_key("B2C_1A_AccountTransformSecret", b"1234567891"));
        assert_ne!(base, hash_of(&other_key));
        // Composed and decomposed forms are different text, so different hashes.
        let composed = hash_of(&hash_case(Some("é"), Some("")));
        let decomposed = hash_of(&hash_case(Some("e\u{0301}"), Some("")));
        assert_ne!(composed, decomposed);
        assert_eq!(hash_of(&hash_case(Some(""), Some(""))).len(), 44);
        assert_eq!(hash_of(&hash_case(Some("İstanbul 🙂"), Some("🧂"))).len(), 44);
    }

    #[test]
    fn hash_missing_key_fails_and_missing_input_writes_nothing() {
        let err = hash_case(Some("a"), Some("b")).env(FixedEnv::default()).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert!(err.message.contains("B2C_1A_AccountTransformSecret"), "{}", err.message);
        assert_eq!(hash_case(None, Some("b")).run_one().unwrap(), None);
        assert_eq!(hash_case(Some("a"), None).run_one().unwrap(), None);
    }

    #[test]
    fn hash_checks_types_and_parameter() {
        let problems = case("Hash")
            .input("plaintext", ClaimValue::Int(5))
            .input("salt", s("x"))
            .param("randomizerSecret", "string", "B2C_1A_K")
            .output("hash", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]plaintext"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]plaintext"), "{}", problems[0].message);

        let blank = case("Hash")
            .input("plaintext", s("x"))
            .input("salt", s("x"))
            .param("randomizerSecret", "string", "  ")
            .output("hash", DataType::String);
        let problems = blank.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("randomizerSecret"), "{}", problems[0].message);

        let missing = case("Hash").input("plaintext", s("x")).input("salt", s("x")).output("hash", DataType::String);
        let problems = missing.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]randomizerSecret"), "{}", problems[0].message);
    }
}
