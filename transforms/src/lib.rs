//! Claim values and the claims transformations of Azure AD B2C custom policies.
//!
//! A leaf crate: it knows claim values and the documented TransformationMethods, nothing of
//! policies' XML, journeys or protocols. The policy compiler resolves a `ClaimsTransformation`
//! element into a [`TransformDecl`], [`check`]s it against the method's [`Signature`] and
//! [`compile`]s it once; the executor runs the [`CompiledTransform`] per sign-in.

pub mod bag;
pub mod catalog;
mod compile;
pub mod dotnet;
pub mod env;
pub mod error;
pub mod signature;
pub mod stored;
pub mod value;

mod boolean;
mod date;
mod general;
mod integer;
mod json;
mod phone;
mod social;
mod string;
mod string_collection;
mod user_identity;

#[cfg(test)]
mod testing;

pub use bag::{ClaimId, ClaimsBag};
pub use compile::{
    Bound, ClaimSlot, CompiledTransform, Location, ParamLiteral, Problem, ProblemKind, Runner, TransformDecl, check,
    compile,
};
pub use env::{FixedEnv, TransformEnv};
pub use error::{ErrorCode, TransformError};
pub use signature::{Family, Param, Signature, Slot, TypeSpec};
pub use value::{AlternativeSecurityId, ClaimValue, DataType, DateTimeForm, ValueError};
