//! Checking a policy's `ClaimsTransformation` against its method and compiling it once into a
//! runner with claim slots resolved to indices and parameters parsed.

use std::fmt;

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::{self, Method};
use crate::env::TransformEnv;
use crate::error::TransformError;
use crate::signature::{Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType};

/// One `InputClaim`/`OutputClaim` of a policy's transformation, resolved by the policy compiler.
#[derive(Clone, Copy, Debug)]
pub struct ClaimSlot<'a> {
    /// `TransformationClaimType`, or the `ClaimTypeReferenceId` when it is omitted.
    pub slot: &'a str,
    pub claim: ClaimId,
    pub claim_type: &'a str,
    pub data_type: DataType,
}

/// One `InputParameter` as written.
#[derive(Clone, Copy, Debug)]
pub struct ParamLiteral<'a> {
    pub id: &'a str,
    /// `None` when the DataType attribute is not a known type.
    pub data_type: Option<DataType>,
    pub value: &'a str,
}

/// A `ClaimsTransformation` element, resolved against the ClaimsSchema.
#[derive(Clone, Debug)]
pub struct TransformDecl<'a> {
    pub id: &'a str,
    pub method: &'a str,
    pub inputs: Vec<ClaimSlot<'a>>,
    pub params: Vec<ParamLiteral<'a>>,
    pub outputs: Vec<ClaimSlot<'a>>,
}

/// Where in the declaration a problem lies, so the caller can point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Method,
    /// Index into `TransformDecl::inputs`; `None` when the problem is a slot that is missing.
    Inputs(Option<usize>),
    Params(Option<usize>),
    Outputs(Option<usize>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    UnknownMethod,
    InputMismatch,
    OutputMismatch,
    ParameterMismatch,
    InvalidParameter,
}

/// A reason the declaration does not fit its method, worded as the service words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub at: Location,
    pub message: String,
    /// A near-miss method name for `UnknownMethod`.
    pub suggestion: Option<&'static str>,
}

/// The runnable form of one transformation.
pub struct CompiledTransform {
    method: &'static str,
    run: Runner,
}

/// What a method's builder returns: reads inputs from the bag, writes its outputs.
pub type Runner = Box<dyn Fn(&mut ClaimsBag, &dyn TransformEnv) -> Result<(), TransformError> + Send + Sync>;

impl fmt::Debug for CompiledTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledTransform").field("method", &self.method).finish()
    }
}

impl CompiledTransform {
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// Runs the transformation. On error the bag is unchanged.
    pub fn run(&self, bag: &mut ClaimsBag, env: &dyn TransformEnv) -> Result<(), TransformError> {
        (self.run)(bag, env)
    }
}

/// Checks a declaration against its method's signature; every problem at once.
pub fn check(decl: &TransformDecl<'_>) -> Vec<Problem> {
    match catalog::method(decl.method) {
        Some(m) => check_signature(&m.signature, decl),
        None => vec![unknown_method(decl.method)],
    }
}

/// Checks, then builds the runner. Parameter values are parsed here, once.
pub fn compile(decl: &TransformDecl<'_>) -> Result<CompiledTransform, Vec<Problem>> {
    let Some(method) = catalog::method(decl.method) else {
        return Err(vec![unknown_method(decl.method)]);
    };
    let problems = check_signature(&method.signature, decl);
    if !problems.is_empty() {
        return Err(problems);
    }
    build(method, decl)
}

fn build(method: &'static Method, decl: &TransformDecl<'_>) -> Result<CompiledTransform, Vec<Problem>> {
    let sig = &method.signature;
    let mut params = Vec::with_capacity(sig.params.len());
    let mut problems = Vec::new();
    for p in sig.params {
        let given = decl.params.iter().enumerate().find(|(_, l)| l.id == p.name);
        let parsed = match given {
            Some((i, lit)) => {
                let data_type = lit.data_type.unwrap_or(DataType::String);
                match ClaimValue::parse(data_type, lit.value) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        problems.push(Problem {
                            kind: ProblemKind::InvalidParameter,
                            at: Location::Params(Some(i)),
                            message: format!("InputParameter '{}': {e}", lit.id),
                            suggestion: None,
                        });
                        None
                    }
                }
            }
            None => p.default.and_then(|d| {
                let ty = match p.ty {
                    TypeSpec::Exact(t) => t,
                    _ => DataType::String,
                };
                ClaimValue::parse(ty, d).ok()
            }),
        };
        params.push((p.name, parsed));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let bound = Bound { signature: sig, decl, params };
    match (method.build)(&bound) {
        Ok(run) => Ok(CompiledTransform { method: sig.method, run }),
        Err(p) => Err(vec![p]),
    }
}

fn unknown_method(name: &str) -> Problem {
    let suggestion = catalog::suggest(name);
    Problem {
        kind: ProblemKind::UnknownMethod,
        at: Location::Method,
        message: format!("TransformationMethod '{name}' is not a known claims transformation method"),
        suggestion,
    }
}

fn check_signature(sig: &Signature, decl: &TransformDecl<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (kind, declared, slots, extra, word, loc) in [
        (
            ProblemKind::InputMismatch,
            &decl.inputs,
            sig.inputs,
            sig.extra_inputs,
            "InputClaims",
            Location::Inputs as fn(Option<usize>) -> Location,
        ),
        (
            ProblemKind::OutputMismatch,
            &decl.outputs,
            sig.outputs,
            sig.extra_outputs,
            "OutputClaims",
            Location::Outputs as fn(Option<usize>) -> Location,
        ),
    ] {
        let mut unexpected = Vec::new();
        let mut first_bad = None;
        for (i, d) in declared.iter().enumerate() {
            let fits = match slots.iter().find(|s| s.name == d.slot) {
                Some(s) => s.ty.accepts(d.data_type),
                None => extra.is_some_and(|t| t.accepts(d.data_type)),
            };
            if !fits {
                unexpected.push(format!("[{}]{}", d.data_type.service_name(), d.slot));
                first_bad.get_or_insert(i);
            }
        }
        let missing: Vec<&Slot> = slots
            .iter()
            .filter(|s| {
                let present = declared.iter().any(|d| d.slot == s.name && s.ty.accepts(d.data_type));
                s.required && !present
            })
            .collect();
        if !unexpected.is_empty() || !missing.is_empty() {
            let mut message = format!(
                "The {word} mismatched in ClaimsTransformation with id \"{}\" with TransformationMethod \"{}\".",
                decl.id, sig.method
            );
            if !unexpected.is_empty() {
                message.push_str(&format!(
                    " The following {word} were declared in the Policy but were not expected by the TransformMethod: {}.",
                    unexpected.join(", ")
                ));
            }
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(|s| format!("[{}]{}", s.ty, s.name)).collect();
                message.push_str(&format!(
                    " The following {word} were expected by the TransformMethod but were not declared in the Policy: {}.",
                    list.join(", ")
                ));
            }
            problems.push(Problem { kind, at: loc(first_bad), message, suggestion: None });
        }
    }

    for (i, lit) in decl.params.iter().enumerate() {
        let expected = match sig.param(lit.id) {
            Some(p) => Some(p.ty),
            None => sig.extra_params,
        };
        let problem = match (expected, lit.data_type) {
            (None, _) => Some(format!(
                "InputParameter '{}' is not a parameter of TransformationMethod \"{}\"",
                lit.id, sig.method
            )),
            (Some(_), None) => Some(format!("InputParameter '{}' has an unknown DataType", lit.id)),
            (Some(t), Some(dt)) if !t.accepts(dt) => Some(format!(
                "InputParameter '{}' of TransformationMethod \"{}\" must have DataType {t}, not {}",
                lit.id,
                sig.method,
                dt.service_name()
            )),
            (Some(_), Some(dt)) => {
                ClaimValue::parse(dt, lit.value).err().map(|e| format!("InputParameter '{}': {e}", lit.id))
            }
        };
        if let Some(message) = problem {
            problems.push(Problem {
                kind: ProblemKind::ParameterMismatch,
                at: Location::Params(Some(i)),
                message,
                suggestion: None,
            });
        }
    }
    for p in sig.params.iter().filter(|p| p.required) {
        if !decl.params.iter().any(|l| l.id == p.name) {
            problems.push(Problem {
                kind: ProblemKind::ParameterMismatch,
                at: Location::Params(None),
                message: format!(
                    "TransformationMethod \"{}\" requires InputParameter [{}]{}",
                    sig.method, p.ty, p.name
                ),
                suggestion: None,
            });
        }
    }
    problems
}

/// A checked declaration, handed to a method's builder.
#[derive(Debug)]
pub struct Bound<'d, 'a> {
    signature: &'static Signature,
    decl: &'d TransformDecl<'a>,
    params: Vec<(&'static str, Option<ClaimValue>)>,
}

impl<'d, 'a> Bound<'d, 'a> {
    /// The claim bound to an input slot, if declared.
    pub fn input(&self, slot: &str) -> Option<ClaimId> {
        self.decl.inputs.iter().find(|d| d.slot == slot).map(|d| d.claim)
    }

    /// The claim bound to an output slot, if declared.
    pub fn output(&self, slot: &str) -> Option<ClaimId> {
        self.decl.outputs.iter().find(|d| d.slot == slot).map(|d| d.claim)
    }

    /// The claim bound to a slot the signature marks required (checked before building).
    pub fn required_input(&self, slot: &str) -> Result<ClaimId, Problem> {
        self.input(slot)
            .ok_or_else(|| self.invalid(Location::Inputs(None), format!("input slot '{slot}' is not declared")))
    }

    pub fn required_output(&self, slot: &str) -> Result<ClaimId, Problem> {
        self.output(slot)
            .ok_or_else(|| self.invalid(Location::Outputs(None), format!("output slot '{slot}' is not declared")))
    }

    /// All declared inputs in document order.
    pub fn inputs(&self) -> &[ClaimSlot<'a>] {
        &self.decl.inputs
    }

    pub fn outputs(&self) -> &[ClaimSlot<'a>] {
        &self.decl.outputs
    }

    /// All declared parameters in document order, as written.
    pub fn param_literals(&self) -> &[ParamLiteral<'a>] {
        &self.decl.params
    }

    /// A signature parameter, parsed, with its default applied.
    pub fn param(&self, name: &str) -> Option<&ClaimValue> {
        self.params.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_ref())
    }

    pub fn param_str(&self, name: &str) -> Option<String> {
        self.param(name).map(ToString::to_string)
    }

    pub fn param_bool(&self, name: &str) -> Option<bool> {
        match self.param(name)? {
            ClaimValue::Boolean(b) => Some(*b),
            other => crate::value::parse_bool(&other.to_string()),
        }
    }

    pub fn param_i64(&self, name: &str) -> Option<i64> {
        match self.param(name)? {
            ClaimValue::Int(n) => Some(i64::from(*n)),
            ClaimValue::Long(n) => Some(*n),
            other => other.to_string().trim().parse().ok(),
        }
    }

    /// A builder-time problem with a named parameter (bad regex, unknown enum value, ...).
    pub fn invalid_param(&self, name: &str, reason: impl fmt::Display) -> Problem {
        let i = self.decl.params.iter().position(|l| l.id == name);
        self.invalid(
            Location::Params(i),
            format!("InputParameter '{name}' of ClaimsTransformation \"{}\": {reason}", self.decl.id),
        )
    }

    fn invalid(&self, at: Location, message: String) -> Problem {
        Problem { kind: ProblemKind::InvalidParameter, at, message, suggestion: None }
    }

    pub fn signature(&self) -> &'static Signature {
        self.signature
    }
}
