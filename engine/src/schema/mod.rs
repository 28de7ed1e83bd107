//! Validation of one policy file against Microsoft's published TrustFrameworkPolicy 0.3.0.0
//! XSD. The XSD is embedded and compiled once into content-model automata, simple types and
//! keys, so the rules come from the schema itself rather than from a hand-written list.

mod compile;
mod model;
mod validate;

use std::sync::LazyLock;

use crate::diag::{Code, Diagnostic};
use crate::syntax::{Element, POLICY_NAMESPACE};
use model::Schema;
use validate::Checker;

/// The starter pack's XSD (MIT, Microsoft; see `engine/schema/LICENSE`).
pub const XSD: &str = include_str!("../../schema/TrustFrameworkPolicy_0.3.0.0.xsd");

const ROOT: &str = "TrustFrameworkPolicy";

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| compile::compile(XSD));

/// Checks one parsed file against the schema: elements, their order and counts, attributes,
/// values and the XSD's uniqueness keys. Reports everything found in one pass.
pub fn check(root: &Element) -> Vec<Diagnostic> {
    if let Some(d) = not_a_policy(root) {
        return vec![d];
    }
    let schema = &*SCHEMA;
    let Some(decl) = schema.global(ROOT) else { return Vec::new() };
    let mut checker = Checker { schema, diags: Vec::new() };
    checker.element(root, decl, 0);
    checker.diags
}

fn not_a_policy(root: &Element) -> Option<Diagnostic> {
    if root.name != ROOT {
        return Some(
            Diagnostic::new(
                Code::NotAPolicy,
                root.name_span,
                format!("the root element is '{}', not '{ROOT}'", root.name),
            )
            .with_help(format!("a policy file starts with <{ROOT} xmlns=\"{POLICY_NAMESPACE}\" ...>")),
        );
    }
    // A prefixed root (`<p:TrustFrameworkPolicy>`) takes its namespace from `xmlns:p`.
    let prefix_len = (root.name_span.len()).checked_sub(root.name.len() + 1);
    let namespace = match prefix_len {
        Some(n) => {
            let bound: Vec<_> = root
                .attributes
                .iter()
                .filter(|a| a.name.strip_prefix("xmlns:").is_some_and(|p| p.len() == n))
                .collect();
            bound.iter().find(|a| a.value == POLICY_NAMESPACE).or(bound.first()).copied()
        }
        None => root.attribute("xmlns"),
    };
    match namespace {
        Some(a) if a.value == POLICY_NAMESPACE => None,
        Some(a) => Some(
            Diagnostic::new(
                Code::NotAPolicy,
                a.value_span,
                format!("the root element is in namespace '{}', not the policy namespace", a.value),
            )
            .with_help(format!("use xmlns=\"{POLICY_NAMESPACE}\"")),
        ),
        None => Some(
            Diagnostic::new(Code::NotAPolicy, root.name_span, format!("'{ROOT}' is not in the policy namespace"))
                .with_help(format!("add xmlns=\"{POLICY_NAMESPACE}\" to the root element")),
        ),
    }
}

#[cfg(test)]
mod tests;
