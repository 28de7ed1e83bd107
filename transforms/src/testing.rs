//! Unit-test helpers: declare a transformation inline, run it, read its outputs.

use crate::{
    ClaimId, ClaimSlot, ClaimValue, ClaimsBag, DataType, FixedEnv, ParamLiteral, Problem, TransformDecl, TransformError,
};

/// A declaration under test. Claim ids are assigned in order: inputs first, then outputs;
/// an output slot named like an input's claim type reuses that claim (same claim in and out).
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) method: &'static str,
    pub(crate) inputs: Vec<(&'static str, &'static str, DataType, Option<ClaimValue>)>,
    pub(crate) params: Vec<(&'static str, &'static str, &'static str)>,
    pub(crate) outputs: Vec<(&'static str, &'static str, DataType)>,
    pub(crate) env: FixedEnv,
}

/// `case("ChangeCase")` then `.input(slot, value)`, `.param(id, dataType, value)`, `.output(slot, type)`.
pub(crate) fn case(method: &'static str) -> Case {
    Case { method, inputs: Vec::new(), params: Vec::new(), outputs: Vec::new(), env: FixedEnv::default() }
}

impl Case {
    /// An input slot bound to a claim named after the slot, holding `value`.
    pub(crate) fn input(self, slot: &'static str, value: ClaimValue) -> Case {
        let t = value.data_type();
        self.input_claim(slot, slot, t, Some(value))
    }

    /// An input slot bound to `claim` of type `t`, with or without a value.
    pub(crate) fn input_claim(
        mut self,
        slot: &'static str,
        claim: &'static str,
        t: DataType,
        value: Option<ClaimValue>,
    ) -> Case {
        self.inputs.push((slot, claim, t, value));
        self
    }

    pub(crate) fn param(mut self, id: &'static str, data_type: &'static str, value: &'static str) -> Case {
        self.params.push((id, data_type, value));
        self
    }

    /// An output slot bound to a claim named after the slot.
    pub(crate) fn output(self, slot: &'static str, t: DataType) -> Case {
        self.output_claim(slot, slot, t)
    }

    pub(crate) fn output_claim(mut self, slot: &'static str, claim: &'static str, t: DataType) -> Case {
        self.outputs.push((slot, claim, t));
        self
    }

    pub(crate) fn env(mut self, env: FixedEnv) -> Case {
        self.env = env;
        self
    }

    fn claims(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for c in self.inputs.iter().map(|i| i.1).chain(self.outputs.iter().map(|o| o.1)) {
            if !names.contains(&c) {
                names.push(c);
            }
        }
        names
    }

    fn decl(&self) -> TransformDecl<'static> {
        let names = self.claims();
        let id = |c: &str| ClaimId(names.iter().position(|n| *n == c).unwrap_or_default() as u32);
        TransformDecl {
            id: "CT_Test",
            method: self.method,
            inputs: self
                .inputs
                .iter()
                .map(|&(slot, claim, data_type, _)| ClaimSlot { slot, claim: id(claim), claim_type: claim, data_type })
                .collect(),
            params: self
                .params
                .iter()
                .map(|&(id, dt, value)| ParamLiteral { id, data_type: DataType::parse(dt), value })
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|&(slot, claim, data_type)| ClaimSlot { slot, claim: id(claim), claim_type: claim, data_type })
                .collect(),
        }
    }

    /// The signature problems of this declaration.
    pub(crate) fn check(&self) -> Vec<Problem> {
        crate::check(&self.decl())
    }

    /// Compiles and runs; returns the values of the output claims that were set, by claim name.
    pub(crate) fn run(&self) -> Result<Vec<(&'static str, ClaimValue)>, TransformError> {
        let decl = self.decl();
        let compiled = match crate::compile(&decl) {
            Ok(c) => c,
            Err(p) => panic!("does not compile: {p:?}"),
        };
        let names = self.claims();
        let mut bag = ClaimsBag::with_capacity(names.len());
        for (slot, value) in decl.inputs.iter().zip(&self.inputs) {
            if let Some(v) = &value.3 {
                bag.set(slot.claim, v.clone());
            }
        }
        compiled.run(&mut bag, &self.env)?;
        Ok(decl.outputs.iter().filter_map(|o| bag.get(o.claim).map(|v| (o.claim_type, v.clone()))).collect())
    }

    /// Runs and returns the single output's value (panics when there is not exactly one).
    pub(crate) fn run_one(&self) -> Result<Option<ClaimValue>, TransformError> {
        let out = self.run()?;
        assert!(out.len() <= 1, "expected at most one output, got {out:?}");
        Ok(out.into_iter().next().map(|(_, v)| v))
    }
}

pub(crate) fn s(text: &str) -> ClaimValue {
    ClaimValue::String(text.to_owned())
}

pub(crate) fn b(value: bool) -> ClaimValue {
    ClaimValue::Boolean(value)
}

pub(crate) fn coll(items: &[&str]) -> ClaimValue {
    ClaimValue::StringCollection(items.iter().map(|i| (*i).to_owned()).collect())
}

impl Case {
    /// The problems `compile` reports (signature and builder); empty when it compiles.
    pub(crate) fn compile_problems(&self) -> Vec<Problem> {
        crate::compile(&self.decl()).err().unwrap_or_default()
    }
}
