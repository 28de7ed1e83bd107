//! Compiling user journeys into immutable plans: a petgraph DAG per journey whose nodes are
//! orchestration steps, claims exchanges and the pipeline of each exchange (input
//! transformations, the technical profile, its validation profiles, output transformations).

pub mod render;

use std::collections::HashMap;
use std::fmt;

use ief_transforms::{ClaimId, CompiledTransform};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use crate::model::{Journey, JourneyKind, Policy, PreconditionType, StepType};

/// The compiled form of an effective policy: every transformation compiled once, every
/// journey and sub journey planned.
#[derive(Debug)]
pub struct CompiledPolicy {
    /// Indexed like `Policy::transformations`; `None` where the declaration did not compile
    /// (validation has reported why).
    pub transforms: Vec<Option<CompiledTransform>>,
    pub journeys: Vec<JourneyPlan>,
    pub sub_journeys: Vec<JourneyPlan>,
}

impl CompiledPolicy {
    pub fn compile(policy: &Policy) -> CompiledPolicy {
        let transforms = policy.transformations.iter().map(|t| compile_transform(policy, t)).collect();
        let plan = |j: &Journey| JourneyPlan::compile(policy, j);
        CompiledPolicy {
            transforms,
            journeys: policy.user_journeys.iter().map(plan).collect(),
            sub_journeys: policy.sub_journeys.iter().map(plan).collect(),
        }
    }

    pub fn journey(&self, id: &str) -> Option<&JourneyPlan> {
        self.journeys.iter().chain(&self.sub_journeys).find(|j| j.id == id)
    }
}

fn compile_transform(policy: &Policy, t: &crate::model::ClaimsTransformation) -> Option<CompiledTransform> {
    ief_transforms::compile(&t.decl(policy)?).ok()
}

/// A step's skip condition with its claim resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: PreconditionType,
    pub claim: Option<ClaimId>,
    pub claim_name: String,
    pub value: Option<String>,
    pub execute_actions_if: bool,
}

impl fmt::Display for Condition {
    /// `skip if objectId exists`, `skip if isActiveMFASession == True`, `skip unless ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.execute_actions_if { "if" } else { "unless" };
        match (&self.kind, &self.value) {
            (PreconditionType::ClaimsExist, _) => write!(f, "skip {word} {} exists", self.claim_name),
            (PreconditionType::ClaimEquals, Some(v)) => write!(f, "skip {word} {} == {v}", self.claim_name),
            (kind, _) => write!(f, "skip {word} {kind:?} {}", self.claim_name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanNode {
    Start,
    Step {
        order: u32,
        step_type: StepType,
        content_definition: Option<String>,
        conditions: Vec<Condition>,
    },
    Exchange {
        id: String,
    },
    /// Index into `Policy::technical_profiles`.
    Profile {
        id: String,
        index: usize,
        protocol: String,
    },
    InputTransform {
        id: String,
        index: usize,
    },
    OutputTransform {
        id: String,
        index: usize,
    },
    Validation {
        id: String,
        index: usize,
        continue_on_error: bool,
        continue_on_success: bool,
    },
    /// An InvokeSubJourney target; its plan is `CompiledPolicy::sub_journeys`.
    SubJourney {
        id: String,
        transfer: bool,
    },
    /// The issuer of a SendClaims step.
    Issuer {
        id: String,
        index: usize,
    },
    /// A reference that validation reported as unknown.
    Missing {
        id: String,
    },
    End,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanEdge {
    /// Fall-through to the next step.
    Next,
    /// Taken instead of running the step when a precondition holds.
    Skip,
    /// Runs this exchange; `chosen` when a selection picks it.
    Runs { chosen: bool },
    /// Within an exchange's pipeline.
    Then,
    /// Returns from a `Call` sub journey.
    Returns,
}

/// The immutable plan of one journey.
#[derive(Debug)]
pub struct JourneyPlan {
    pub id: String,
    pub kind: JourneyKind,
    pub graph: StableDiGraph<PlanNode, PlanEdge>,
    pub start: NodeIndex,
    pub end: NodeIndex,
    /// Step nodes in order.
    pub steps: Vec<NodeIndex>,
}

impl JourneyPlan {
    pub fn compile(policy: &Policy, journey: &Journey) -> JourneyPlan {
        let mut g = StableDiGraph::new();
        let start = g.add_node(PlanNode::Start);
        let steps: Vec<NodeIndex> = journey
            .steps
            .iter()
            .map(|s| {
                g.add_node(PlanNode::Step {
                    order: s.order,
                    step_type: s.step_type.clone(),
                    content_definition: s.content_definition.as_ref().map(|c| c.value.clone()),
                    conditions: s
                        .preconditions
                        .iter()
                        .map(|p| Condition {
                            kind: p.kind.clone(),
                            claim: p.values.first().and_then(|v| policy.claim_id(&v.value)),
                            claim_name: p.values.first().map(|v| v.value.clone()).unwrap_or_default(),
                            value: p.values.get(1).map(|v| v.value.clone()),
                            execute_actions_if: p.execute_actions_if,
                        })
                        .collect(),
                })
            })
            .collect();
        let end = g.add_node(PlanNode::End);
        g.add_edge(start, *steps.first().unwrap_or(&end), PlanEdge::Next);
        let profile_index: HashMap<&str, usize> =
            policy.technical_profiles.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let transform_index: HashMap<&str, usize> =
            policy.transformations.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let mut builder = Builder { policy, g, profile_index, transform_index };

        for (i, s) in journey.steps.iter().enumerate() {
            let here = steps[i];
            let next = steps.get(i + 1).copied().unwrap_or(end);
            let chosen = i > 0 && journey.steps[i - 1].step_type.is_selection();
            if !s.preconditions.is_empty() {
                builder.g.add_edge(here, next, PlanEdge::Skip);
            }
            match &s.step_type {
                StepType::SendClaims => {
                    let issuer = s.issuer.as_ref().or(journey.default_issuer.as_ref()).map(|t| t.as_str());
                    let node = match issuer.and_then(|id| builder.profile_index.get(id).map(|&ix| (id, ix))) {
                        Some((id, index)) => PlanNode::Issuer { id: id.to_owned(), index },
                        None => PlanNode::Missing { id: issuer.unwrap_or("(no issuer)").to_owned() },
                    };
                    let n = builder.g.add_node(node);
                    builder.g.add_edge(here, n, PlanEdge::Runs { chosen: false });
                    builder.g.add_edge(n, end, PlanEdge::Next);
                }
                StepType::InvokeSubJourney => {
                    for c in &s.sub_journeys {
                        let transfer =
                            policy.sub_journey(&c.value).is_some_and(|j| j.kind == JourneyKind::SubJourneyTransfer);
                        let n = builder.g.add_node(PlanNode::SubJourney { id: c.value.clone(), transfer });
                        builder.g.add_edge(here, n, PlanEdge::Runs { chosen: s.sub_journeys.len() > 1 });
                        // A transfer never comes back.
                        let (back, edge) = if transfer { (end, PlanEdge::Next) } else { (next, PlanEdge::Returns) };
                        builder.g.add_edge(n, back, edge);
                    }
                    if s.sub_journeys.is_empty() {
                        builder.g.add_edge(here, next, PlanEdge::Next);
                    }
                }
                _ if s.exchanges.is_empty() => {
                    builder.g.add_edge(here, next, PlanEdge::Next);
                }
                _ => {
                    // Selection steps run their validation exchange here; their button targets
                    // run in the next step.
                    let run_here: Vec<_> = if s.step_type.is_selection() {
                        s.exchanges
                            .iter()
                            .filter(|e| {
                                s.selections
                                    .iter()
                                    .any(|sel| sel.validation.as_ref().is_some_and(|v| v.value == e.id.value))
                            })
                            .collect()
                    } else {
                        s.exchanges.iter().collect()
                    };
                    if run_here.is_empty() {
                        builder.g.add_edge(here, next, PlanEdge::Next);
                    }
                    for e in run_here {
                        let x = builder.g.add_node(PlanNode::Exchange { id: e.id.value.clone() });
                        builder.g.add_edge(here, x, PlanEdge::Runs { chosen: chosen || s.exchanges.len() > 1 });
                        let last = builder.pipeline(x, &e.profile.value);
                        builder.g.add_edge(last, next, PlanEdge::Next);
                    }
                    if s.step_type.is_selection() {
                        builder.g.add_edge(here, next, PlanEdge::Next);
                    }
                }
            }
        }
        JourneyPlan { id: journey.id.value.clone(), kind: journey.kind, graph: builder.g, start, end, steps }
    }

    /// Nodes in an order where every edge points forward (the plan is acyclic by construction).
    pub fn topological_order(&self) -> Vec<NodeIndex> {
        petgraph::algo::toposort(&self.graph, None).unwrap_or_default()
    }
}

struct Builder<'p> {
    policy: &'p Policy,
    g: StableDiGraph<PlanNode, PlanEdge>,
    profile_index: HashMap<&'p str, usize>,
    transform_index: HashMap<&'p str, usize>,
}

impl Builder<'_> {
    /// Appends the pipeline of technical profile `id` after `from`; returns its last node.
    fn pipeline(&mut self, from: NodeIndex, id: &str) -> NodeIndex {
        let Some(&index) = self.profile_index.get(id) else {
            let n = self.g.add_node(PlanNode::Missing { id: id.to_owned() });
            self.g.add_edge(from, n, PlanEdge::Then);
            return n;
        };
        let tp = &self.policy.technical_profiles[index];
        let mut last = from;
        for r in &tp.input_transformations {
            last = self.transform(last, &r.value, true);
        }
        let protocol =
            tp.protocol.as_ref().map(|p| p.handler_type().unwrap_or(p.name.as_str()).to_owned()).unwrap_or_default();
        let n = self.g.add_node(PlanNode::Profile { id: tp.id.value.clone(), index, protocol });
        self.g.add_edge(last, n, PlanEdge::Then);
        last = n;
        for vp in &tp.validation_profiles {
            let node = match self.profile_index.get(vp.reference.as_str()) {
                Some(&vi) => PlanNode::Validation {
                    id: vp.reference.value.clone(),
                    index: vi,
                    continue_on_error: vp.continue_on_error,
                    continue_on_success: vp.continue_on_success,
                },
                None => PlanNode::Missing { id: vp.reference.value.clone() },
            };
            let v = self.g.add_node(node);
            self.g.add_edge(last, v, PlanEdge::Then);
            last = v;
        }
        for r in &tp.output_transformations {
            last = self.transform(last, &r.value, false);
        }
        last
    }

    fn transform(&mut self, from: NodeIndex, id: &str, input: bool) -> NodeIndex {
        let node = match self.transform_index.get(id) {
            Some(&index) if input => PlanNode::InputTransform { id: id.to_owned(), index },
            Some(&index) => PlanNode::OutputTransform { id: id.to_owned(), index },
            None => PlanNode::Missing { id: id.to_owned() },
        };
        let n = self.g.add_node(node);
        self.g.add_edge(from, n, PlanEdge::Then);
        n
    }
}
