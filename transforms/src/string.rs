//! String methods (string-transformations.md).

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);

pub(crate) const METHODS: &[Method] = &[Method {
    signature: Signature {
        method: "ChangeCase",
        family: Family::String,
        inputs: &[Slot { name: "inputClaim1", ty: STRING, required: true }],
        extra_inputs: None,
        params: &[Param { name: "toCase", ty: STRING, required: true, default: None }],
        extra_params: None,
        outputs: &[Slot { name: "outputClaim", ty: STRING, required: true }],
        extra_outputs: None,
        user_message_key: None,
    },
    build: change_case,
}];

fn change_case(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim1")?;
    let output = b.required_output("outputClaim")?;
    let upper = match b.param_str("toCase").as_deref() {
        Some(c) if c.eq_ignore_ascii_case("LOWER") => false,
        Some(c) if c.eq_ignore_ascii_case("UPPER") => true,
        other => return Err(b.invalid_param("toCase", format!("expected LOWER or UPPER, found {other:?}"))),
    };
    Ok(Box::new(move |bag, _env| {
        // A missing input produces no output, as B2C leaves the claim unset.
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let text = value.as_str().ok_or_else(|| TransformError::invalid_value("inputClaim1 is not a string"))?;
        let changed = if upper { text.to_uppercase() } else { text.to_lowercase() };
        bag.set(output, ClaimValue::String(changed));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use crate::DataType;
    use crate::testing::{case, s};

    #[test]
    fn change_case_lowers_the_documented_example() {
        let out = case("ChangeCase")
            .input("inputClaim1", s("SomeOne@contoso.com"))
            .param("toCase", "string", "LOWER")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("someone@contoso.com")));
    }

    #[test]
    fn change_case_rejects_an_unknown_case() {
        let c = case("ChangeCase")
            .input("inputClaim1", s("x"))
            .param("toCase", "string", "TITLE")
            .output("outputClaim", DataType::String);
        assert!(crate::compile(&c_decl(&c)).is_err());
    }

    fn c_decl(c: &crate::testing::Case) -> crate::TransformDecl<'static> {
        // Compile errors surface through `run`, which panics; build the decl directly instead.
        let _ = c;
        crate::TransformDecl {
            id: "CT",
            method: "ChangeCase",
            inputs: vec![crate::ClaimSlot {
                slot: "inputClaim1",
                claim: crate::ClaimId(0),
                claim_type: "a",
                data_type: DataType::String,
            }],
            params: vec![crate::ParamLiteral { id: "toCase", data_type: Some(DataType::String), value: "TITLE" }],
            outputs: vec![crate::ClaimSlot {
                slot: "outputClaim",
                claim: crate::ClaimId(1),
                claim_type: "b",
                data_type: DataType::String,
            }],
        }
    }

    #[test]
    fn change_case_slot_types_are_checked() {
        let problems = case("ChangeCase")
            .input("inputClaim1", crate::ClaimValue::Int(3))
            .param("toCase", "string", "LOWER")
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("[Int]inputClaim1"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]inputClaim1"), "{}", problems[0].message);
    }
}
