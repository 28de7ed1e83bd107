//! Method signatures: the input slots, parameters and output slots each method declares.

use std::fmt;

use crate::value::DataType;

/// What a slot or parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeSpec {
    Exact(DataType),
    OneOf(&'static [DataType]),
    Any,
}

impl TypeSpec {
    pub fn accepts(self, data_type: DataType) -> bool {
        match self {
            TypeSpec::Exact(t) => t == data_type,
            TypeSpec::OneOf(ts) => ts.contains(&data_type),
            TypeSpec::Any => true,
        }
    }
}

impl fmt::Display for TypeSpec {
    /// In the service's notation: `String`, `Int|Long`, `Any`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeSpec::Exact(t) => f.write_str(t.service_name()),
            TypeSpec::OneOf(ts) => {
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    f.write_str(t.service_name())?;
                }
                Ok(())
            }
            TypeSpec::Any => f.write_str("Any"),
        }
    }
}

/// A named input or output claim slot (`TransformationClaimType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub name: &'static str,
    pub ty: TypeSpec,
    pub required: bool,
}

/// An `InputParameter` the method reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub ty: TypeSpec,
    pub required: bool,
    /// Literal used when the parameter is omitted.
    pub default: Option<&'static str>,
}

/// The method families of the reference pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Boolean,
    Date,
    General,
    Integer,
    Json,
    PhoneNumber,
    Social,
    String,
    StringCollection,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Boolean => "boolean",
            Family::Date => "date",
            Family::General => "general",
            Family::Integer => "integer",
            Family::Json => "json",
            Family::PhoneNumber => "phone number",
            Family::Social => "social",
            Family::String => "string",
            Family::StringCollection => "stringCollection",
        }
    }
}

/// Everything the policy compiler needs to check a `ClaimsTransformation` element against its
/// `TransformationMethod` before anything runs.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub method: &'static str,
    pub family: Family,
    pub inputs: &'static [Slot],
    /// Slots with names of the policy's choosing (JSON paths, claim names, regex groups).
    pub extra_inputs: Option<TypeSpec>,
    pub params: &'static [Param],
    /// Parameters with names of the policy's choosing (GenerateJson's JSON paths).
    pub extra_params: Option<TypeSpec>,
    pub outputs: &'static [Slot],
    pub extra_outputs: Option<TypeSpec>,
    /// Metadata key of the self-asserted profile holding the user message when the method asserts.
    pub user_message_key: Option<&'static str>,
}

impl Signature {
    /// A signature with fixed slots and parameters only (no extras, no user message).
    pub const fn fixed(
        method: &'static str,
        family: Family,
        inputs: &'static [Slot],
        params: &'static [Param],
        outputs: &'static [Slot],
    ) -> Signature {
        Signature {
            method,
            family,
            inputs,
            extra_inputs: None,
            params,
            extra_params: None,
            outputs,
            extra_outputs: None,
            user_message_key: None,
        }
    }

    pub fn input(&self, name: &str) -> Option<&'static Slot> {
        self.inputs.iter().find(|s| s.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&'static Slot> {
        self.outputs.iter().find(|s| s.name == name)
    }

    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

impl fmt::Display for Signature {
    /// `Method(in: [String]inputClaim; params: [String]toCase; out: [String]outputClaim)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn slots(f: &mut fmt::Formatter<'_>, slots: &[Slot], extra: Option<TypeSpec>) -> fmt::Result {
            let mut first = true;
            for s in slots {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "[{}]{}{}", s.ty, s.name, if s.required { "" } else { "?" })?;
            }
            if let Some(t) = extra {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "[{t}]*")?;
            }
            if first {
                f.write_str("none")?;
            }
            Ok(())
        }
        write!(f, "{}(in: ", self.method)?;
        slots(f, self.inputs, self.extra_inputs)?;
        f.write_str("; params: ")?;
        let mut first = true;
        for p in self.params {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "[{}]{}", p.ty, p.name)?;
            match (p.required, p.default) {
                (true, _) => {}
                (false, Some(d)) => write!(f, "={d}")?,
                (false, None) => f.write_str("?")?,
            }
        }
        if let Some(t) = self.extra_params {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "[{t}]*")?;
        }
        if first {
            f.write_str("none")?;
        }
        f.write_str("; out: ")?;
        slots(f, self.outputs, self.extra_outputs)?;
        f.write_str(")")
    }
}
