//! Textual forms of a plan: DOT, Mermaid, JSON and the readable `explain` listing.

use std::fmt::Write;

use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde_json::json;

use super::{JourneyPlan, PlanEdge, PlanNode, Ref, ValidationRef};
use crate::model::Policy;

fn label(node: &PlanNode) -> String {
    let missing = |r: &Ref| r.index.is_none().then(|| format!("missing {}", r.id));
    match node {
        PlanNode::Start => "start".to_owned(),
        PlanNode::End => "end".to_owned(),
        PlanNode::Step { order, step_type, .. } => format!("{order}. {}", step_type.as_str()),
        PlanNode::Exchange { id, .. } => format!("exchange {id}"),
        PlanNode::Profile { profile, protocol, .. } => {
            missing(profile).unwrap_or_else(|| format!("{} ({protocol})", profile.id))
        }
        PlanNode::InputTransform(t) => missing(t).unwrap_or_else(|| format!("input transform {}", t.id)),
        PlanNode::OutputTransform(t) => missing(t).unwrap_or_else(|| format!("output transform {}", t.id)),
        PlanNode::Validation(v) => missing(&v.profile).unwrap_or_else(|| format!("validation {}", v.profile.id)),
        PlanNode::SubJourney { id, transfer, .. } => {
            format!("{} sub journey {id}", if *transfer { "transfer to" } else { "call" })
        }
        PlanNode::Issuer(Some(r)) => missing(r).unwrap_or_else(|| format!("issuer {}", r.id)),
        PlanNode::Issuer(None) => "missing (no issuer)".to_owned(),
    }
}

/// Whether the node stands for a reference validation reported as unknown.
fn is_missing(node: &PlanNode) -> bool {
    match node {
        PlanNode::Profile { profile: r, .. }
        | PlanNode::InputTransform(r)
        | PlanNode::OutputTransform(r)
        | PlanNode::Validation(ValidationRef { profile: r, .. })
        | PlanNode::Issuer(Some(r)) => r.index.is_none(),
        PlanNode::Issuer(None) => true,
        _ => false,
    }
}

fn kind(node: &PlanNode) -> &'static str {
    if is_missing(node) {
        return "missing";
    }
    match node {
        PlanNode::Start => "start",
        PlanNode::End => "end",
        PlanNode::Step { .. } => "step",
        PlanNode::Exchange { .. } => "exchange",
        PlanNode::Profile { .. } => "profile",
        PlanNode::InputTransform(_) => "input_transform",
        PlanNode::OutputTransform(_) => "output_transform",
        PlanNode::Validation(_) => "validation",
        PlanNode::SubJourney { .. } => "sub_journey",
        PlanNode::Issuer(_) => "issuer",
    }
}

fn edge_label(plan: &JourneyPlan, e: &PlanEdge, from: petgraph::stable_graph::NodeIndex) -> String {
    match e {
        PlanEdge::Next => String::new(),
        PlanEdge::Skip => match &plan.graph[from] {
            PlanNode::Step { conditions, .. } => {
                conditions.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
            }
            _ => "skip".to_owned(),
        },
        PlanEdge::Runs { chosen: true } => "if chosen".to_owned(),
        PlanEdge::Runs { chosen: false } => String::new(),
        PlanEdge::Then => String::new(),
        PlanEdge::Returns => "returns".to_owned(),
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT.
pub fn dot(plan: &JourneyPlan) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n", escape(&plan.id));
    for n in plan.topological_order() {
        let node = &plan.graph[n];
        let shape = match node {
            _ if is_missing(node) => "octagon",
            PlanNode::Start | PlanNode::End => "circle",
            PlanNode::Step { .. } => "box",
            PlanNode::Exchange { .. } | PlanNode::SubJourney { .. } => "diamond",
            _ => "ellipse",
        };
        let _ = writeln!(out, "  n{} [label=\"{}\", shape={shape}];", n.index(), escape(&label(node)));
    }
    for e in (&plan.graph).edge_references() {
        let l = edge_label(plan, e.weight(), e.source());
        let style = if matches!(e.weight(), PlanEdge::Skip) { ", style=dashed" } else { "" };
        let _ =
            writeln!(out, "  n{} -> n{} [label=\"{}\"{style}];", e.source().index(), e.target().index(), escape(&l));
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart.
pub fn mermaid(plan: &JourneyPlan) -> String {
    let mut out = String::from("flowchart TD\n");
    for n in plan.topological_order() {
        let text = label(&plan.graph[n]).replace('"', "'");
        let _ = writeln!(out, "  n{}[\"{text}\"]", n.index());
    }
    for e in (&plan.graph).edge_references() {
        let l = edge_label(plan, e.weight(), e.source()).replace('"', "'").replace('|', "/");
        let arrow = if matches!(e.weight(), PlanEdge::Skip) { "-.->" } else { "-->" };
        if l.is_empty() {
            let _ = writeln!(out, "  n{} {arrow} n{}", e.source().index(), e.target().index());
        } else {
            let _ = writeln!(out, "  n{} {arrow}|\"{l}\"| n{}", e.source().index(), e.target().index());
        }
    }
    out
}

/// `{"journey", "nodes": [{id, kind, label}], "edges": [{from, to, kind, label}]}`.
pub fn json(plan: &JourneyPlan) -> serde_json::Value {
    let nodes: Vec<_> = plan
        .topological_order()
        .into_iter()
        .map(|n| json!({"id": n.index(), "kind": kind(&plan.graph[n]), "label": label(&plan.graph[n])}))
        .collect();
    let edges: Vec<_> = (&plan.graph)
        .edge_references()
        .map(|e| {
            let k = match e.weight() {
                PlanEdge::Next => "next",
                PlanEdge::Skip => "skip",
                PlanEdge::Runs { .. } => "runs",
                PlanEdge::Then => "then",
                PlanEdge::Returns => "returns",
            };
            json!({"from": e.source().index(), "to": e.target().index(), "kind": k, "label": edge_label(plan, e.weight(), e.source())})
        })
        .collect();
    json!({"journey": plan.id, "nodes": nodes, "edges": edges})
}

/// A readable listing of what a journey does, step by step.
pub fn explain(policy: &Policy, plan: &JourneyPlan) -> String {
    let mut out = String::new();
    let kind = match plan.kind {
        crate::model::JourneyKind::UserJourney => "UserJourney",
        crate::model::JourneyKind::SubJourneyCall => "SubJourney (Call)",
        crate::model::JourneyKind::SubJourneyTransfer => "SubJourney (Transfer)",
    };
    let _ = writeln!(out, "{kind} {}", plan.id);
    let journey = policy.journey(&plan.id).or_else(|| policy.sub_journey(&plan.id));
    for &s in &plan.steps {
        let PlanNode::Step { order, step_type, content_definition, conditions, .. } = &plan.graph[s] else { continue };
        let _ = write!(out, "  {order}. {}", step_type.as_str());
        if let Some(cd) = content_definition {
            let _ = write!(out, " [{}]", cd.id);
        }
        out.push('\n');
        for c in conditions {
            let _ = writeln!(out, "       {c}");
        }
        let step = journey.and_then(|j| j.steps.iter().find(|st| st.order == *order));
        if let Some(step) = step {
            for sel in &step.selections {
                if let Some(t) = &sel.target {
                    let _ = writeln!(out, "       button -> {}", t.value);
                }
                if let Some(v) = &sel.validation {
                    let _ = writeln!(out, "       sign-in form -> {}", v.value);
                }
            }
        }
        for e in plan.graph.edges(s) {
            if matches!(e.weight(), PlanEdge::Runs { .. }) {
                explain_branch(plan, e.target(), e.weight(), &mut out);
            }
        }
    }
    out
}

fn explain_branch(plan: &JourneyPlan, mut n: petgraph::stable_graph::NodeIndex, via: &PlanEdge, out: &mut String) {
    let chosen = if matches!(via, PlanEdge::Runs { chosen: true }) { " (if chosen)" } else { "" };
    let _ = writeln!(out, "       {}{chosen}", label(&plan.graph[n]));
    // Follow the exchange's pipeline until it leaves for a step or the end.
    loop {
        let mut next = None;
        for e in plan.graph.edges(n) {
            if matches!(e.weight(), PlanEdge::Then) {
                next = Some(e.target());
            }
        }
        let Some(t) = next else { break };
        let _ = writeln!(out, "         -> {}", label(&plan.graph[t]));
        n = t;
    }
}
