//! The effective policy of a relying-party file: its chain merged, includes resolved, lowered
//! to the typed model and validated.

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::load::PolicySet;
use crate::merge;
use crate::model::{self, Policy};
use crate::source::FileId;
use crate::syntax::Element;

#[derive(Debug, Clone)]
pub struct EffectivePolicy {
    /// The files of the chain, root first.
    pub chain: Vec<FileId>,
    /// The merged tree as B2C assembles it (includes not expanded): what `ief merge` prints.
    pub tree: Element,
    /// The typed model, with IncludeTechnicalProfile chains resolved.
    pub model: Policy,
}

impl EffectivePolicy {
    /// Builds the effective policy of `set.files[leaf]` and validates it.
    pub fn build(set: &PolicySet, leaf: usize, diags: &mut Diagnostics) -> Option<EffectivePolicy> {
        let mut chain_diags = Diagnostics::default();
        let chain = set.chain(leaf, &mut chain_diags);
        // A broken chain would make every reference into the missing files look unknown.
        let complete = !chain_diags.iter().any(|d| matches!(d.code, Code::BaseNotFound | Code::InheritanceCycle));
        diags.extend(chain_diags);
        let tree = merge::merge_chain(chain.iter().map(|&i| &set.files[i].root))?;
        let mut semantic = Diagnostics::default();
        let resolved = resolve_includes(&tree, &mut semantic);
        let mut model = Policy::lower_with(&tree, &resolved);
        // The settings' value was checked to be a GUID when it was read.
        let _ = model.configure_tenant(set.tenant_object_id.as_deref());
        crate::validate::validate(&model, &mut semantic);
        if complete {
            diags.extend(semantic);
        }
        Some(EffectivePolicy { chain: chain.iter().map(|&i| set.files[i].file).collect(), tree, model })
    }
}

/// The technical profiles of `tree` by Id, each starting from what it includes. Only the
/// profiles are copied: the rest of the tree (a journey of thousands of steps) is lowered as is.
fn resolve_includes(tree: &Element, diags: &mut Diagnostics) -> HashMap<String, Element> {
    let originals: HashMap<&str, &Element> =
        model::profiles(tree).filter_map(|tp| Some((tp.attr("Id")?, tp))).collect();
    let mut resolved: HashMap<String, Element> = HashMap::new();
    // Document order, so a cycle is reported the same way on every run.
    let ids: Vec<&str> = model::profiles(tree).filter_map(|tp| tp.attr("Id")).collect();
    for id in &ids {
        resolve_one(id, &originals, &mut resolved, &mut Vec::new(), diags);
    }
    resolved
}

fn resolve_one(
    id: &str,
    originals: &HashMap<&str, &Element>,
    resolved: &mut HashMap<String, Element>,
    stack: &mut Vec<String>,
    diags: &mut Diagnostics,
) -> Option<Element> {
    if let Some(r) = resolved.get(id) {
        return Some(r.clone());
    }
    let tp = *originals.get(id)?;
    let Some(include) = tp.child("IncludeTechnicalProfile").and_then(|i| i.attribute("ReferenceId")) else {
        resolved.insert(id.to_owned(), tp.clone());
        return Some(tp.clone());
    };
    if stack.iter().any(|s| include.value == s.as_str()) || include.value == id {
        let mut names = stack.clone();
        names.push(id.to_owned());
        names.push(include.value.to_string());
        diags.push(Diagnostic::new(
            Code::IncludeCycle,
            include.value_span,
            format!("IncludeTechnicalProfile cycle: {}", names.join(" -> ")),
        ));
        resolved.insert(id.to_owned(), tp.clone());
        return Some(tp.clone());
    }
    stack.push(id.to_owned());
    let base = resolve_one(&include.value, originals, resolved, stack, diags);
    stack.pop();
    let layered = match base {
        Some(base) => merge::include(&base, tp),
        None => {
            let mut d = Diagnostic::new(
                Code::UnknownTechnicalProfile,
                include.value_span,
                format!("technical profile '{id}' includes '{}', which no file of the chain defines", include.value),
            );
            if let Some(s) = did_you_mean(&include.value, originals.keys().copied()) {
                d = d.with_help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
            tp.clone()
        }
    };
    resolved.insert(id.to_owned(), layered.clone());
    Some(layered)
}
