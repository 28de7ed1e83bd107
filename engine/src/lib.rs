//! Loads Azure AD B2C custom policies, merges their inheritance chains, validates them and
//! compiles their user journeys into plans.
//!
//! Pipeline: [`load`] (files to spanned trees, schema-checked, settings filled) →
//! [`merge`] (a relying party's BasePolicy chain folded into one tree) → [`model`] (typed) →
//! [`validate`] (all upload-time checks at once) → [`plan`] (one immutable DAG per journey).

pub mod diag;
pub mod effective;
pub mod exec;
pub mod input;
pub mod load;
pub mod merge;
pub mod model;
pub mod page_settings;
pub mod plan;
pub mod predicate;
pub mod schema;
pub mod settings;
pub mod source;
pub mod syntax;
pub mod tenant;
pub mod validate;

pub use diag::{Code, Diagnostic, Diagnostics, Severity};
pub use effective::EffectivePolicy;
pub use load::PolicySet;
pub use plan::{CompiledPolicy, JourneyPlan};
pub use settings::SettingsRequest;
