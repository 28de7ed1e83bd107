//! Compiling user journeys into immutable plans, the form the executor runs: a petgraph DAG per
//! journey whose nodes are orchestration steps, claims exchanges and the pipeline of each
//! exchange (input transformations, the technical profile, its validation profiles, output
//! transformations), with every reference resolved to an index once, here.

pub mod profile;
pub mod render;
pub mod session;

use std::collections::HashMap;
use std::fmt;

use ief_transforms::{ClaimId, ClaimsBag, CompiledTransform};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use crate::model::{Journey, JourneyKind, Policy, PreconditionType, StepType};
use crate::syntax::SmolStr;
use profile::Indices;
pub use profile::{
    ClaimPlan, ControlPlan, DefaultValue, Enabled, Part, ProfilePlan, Ref, RelyingPartyPlan, Sso, Template,
    ValidationRef,
};
pub use session::{SessionRules, SsoScope};

/// The compiled form of an effective policy: every transformation compiled once, every
/// technical profile resolved, every journey and sub journey planned.
#[derive(Debug)]
pub struct CompiledPolicy {
    /// Indexed like `Policy::transformations`; `None` where the declaration did not compile
    /// (validation has reported why).
    pub transforms: Vec<Option<CompiledTransform>>,
    /// Indexed like `Policy::technical_profiles`.
    pub profiles: Vec<ProfilePlan>,
    pub relying_party: Option<RelyingPartyPlan>,
    /// The relying party's UserJourneyBehaviors: session scope and lifetime.
    pub session: SessionRules,
    pub journeys: Vec<JourneyPlan>,
    pub sub_journeys: Vec<JourneyPlan>,
}

impl CompiledPolicy {
    pub fn compile(policy: &Policy) -> CompiledPolicy {
        let transforms = policy.transformations.iter().map(|t| compile_transform(policy, t)).collect();
        let ix = Indices::new(policy);
        let profiles: Vec<ProfilePlan> =
            policy.technical_profiles.iter().map(|tp| ProfilePlan::compile(policy, &ix, tp)).collect();
        let mut subs = HashMap::new();
        for (i, j) in policy.sub_journeys.iter().enumerate() {
            subs.entry(j.id.as_str()).or_insert(i);
        }
        let ctx = Context { policy, ix: &ix, profiles: &profiles, subs: &subs };
        let journeys =
            policy.user_journeys.iter().enumerate().map(|(i, j)| ctx.plan(j, JourneyRef::User(i as u32))).collect();
        let sub_journeys =
            policy.sub_journeys.iter().enumerate().map(|(i, j)| ctx.plan(j, JourneyRef::Sub(i as u32))).collect();
        let relying_party = policy
            .relying_party
            .as_ref()
            .and_then(|rp| rp.technical_profile.as_ref())
            .map(|tp| RelyingPartyPlan::compile(policy, tp));
        let session = SessionRules::compile(policy);
        CompiledPolicy { transforms, profiles, relying_party, session, journeys, sub_journeys }
    }

    /// A user journey or sub journey by Id (for `graph` and `explain`).
    pub fn journey(&self, id: &str) -> Option<&JourneyPlan> {
        self.journeys.iter().chain(&self.sub_journeys).find(|j| j.id == id)
    }

    /// A user journey a sign-in can start.
    pub fn user_journey(&self, id: &str) -> Option<JourneyRef> {
        self.journeys.iter().find(|j| j.id == id).map(|j| j.reference)
    }

    pub fn plan(&self, r: JourneyRef) -> Option<&JourneyPlan> {
        match r {
            JourneyRef::User(i) => self.journeys.get(i as usize),
            JourneyRef::Sub(i) => self.sub_journeys.get(i as usize),
        }
    }
}

fn compile_transform(policy: &Policy, t: &crate::model::ClaimsTransformation) -> Option<CompiledTransform> {
    ief_transforms::compile(&t.decl(policy)?).ok()
}

/// A journey of a compiled policy: its index among the user journeys or the sub journeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JourneyRef {
    User(u32),
    Sub(u32),
}

/// A place in a compiled policy: a journey's plan and a node of it. Stable for the same
/// compiled policy, so a paused sign-in can be stored by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PlanPosition {
    pub journey: JourneyRef,
    pub node: u32,
}

impl PlanPosition {
    pub fn new(journey: JourneyRef, node: NodeIndex) -> PlanPosition {
        PlanPosition { journey, node: node.index() as u32 }
    }

    pub fn node(self) -> NodeIndex {
        NodeIndex::new(self.node as usize)
    }
}

/// A skip condition with its claim resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: PreconditionType,
    pub claim: Option<ClaimId>,
    pub claim_name: SmolStr,
    pub value: Option<SmolStr>,
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

/// The first condition that holds, described (`objectId exists`); `None` when the step or
/// validation profile runs.
pub fn skip_reason(conditions: &[Condition], bag: &ClaimsBag) -> Option<String> {
    for c in conditions {
        let value = c.claim.and_then(|id| bag.get(id));
        let holds = match c.kind {
            PreconditionType::ClaimsExist => value.is_some(),
            // "If the specified claims exist and their value is equal": a missing claim is unequal.
            PreconditionType::ClaimEquals => match (value, &c.value) {
                (Some(v), Some(expected)) => v.to_string() == *expected,
                (None, Some(_)) => false,
                (_, None) => continue,
            },
            PreconditionType::Other(_) => continue,
        };
        if holds == c.execute_actions_if {
            let expected = c.value.as_deref().unwrap_or_default();
            return Some(match (&c.kind, c.execute_actions_if) {
                (PreconditionType::ClaimEquals, true) => format!("{} == {expected}", c.claim_name),
                (PreconditionType::ClaimEquals, false) => format!("{} != {expected}", c.claim_name),
                (_, true) => format!("{} exists", c.claim_name),
                (_, false) => format!("{} does not exist", c.claim_name),
            });
        }
    }
    None
}

/// A choice a page offers that picks the exchange a later step runs: a selection button or a
/// page's link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    /// The ClaimsExchange Id, as the page shows it.
    pub exchange: String,
    /// The technical profile of that exchange in the next step.
    pub profile: Option<usize>,
    /// That exchange's node in the next step.
    pub target: Option<NodeIndex>,
}

/// What a ClaimsProviderSelection or CombinedSignInAndSignUp step offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionPlan {
    pub buttons: Vec<Button>,
    /// The embedded sign-in form of a combined page.
    pub sign_in: Option<SignInForm>,
    /// `DisplayOption="ShowSingleProvider"`: one button is still shown.
    pub show_single: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInForm {
    pub exchange: String,
    /// Its exchange node in this step.
    pub node: Option<NodeIndex>,
    pub profile: Option<usize>,
    /// The sign-in profile's `SignUpTarget`.
    pub sign_up: Option<SignUp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignUp {
    /// One of the buttons (shown even when its profile is not enabled).
    Button(usize),
    Link(Button),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanNode {
    Start,
    Step {
        order: u32,
        step_type: StepType,
        content_definition: Option<Ref>,
        conditions: Vec<Condition>,
        selection: Option<Box<SelectionPlan>>,
    },
    Exchange {
        id: SmolStr,
        profile: Ref,
    },
    /// The technical profile of an exchange (a missing one when its index is `None`).
    Profile {
        profile: Ref,
        protocol: SmolStr,
        /// Its page's links, resolved to the next step.
        links: Vec<Button>,
    },
    InputTransform(Ref),
    OutputTransform(Ref),
    Validation(ValidationRef),
    /// An InvokeSubJourney target; its plan is `CompiledPolicy::sub_journeys[index]`.
    SubJourney {
        id: SmolStr,
        index: Option<usize>,
        transfer: bool,
    },
    /// The issuer of a SendClaims step; `None` when neither the step nor the journey names one.
    Issuer(Option<Ref>),
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
    /// Where this plan sits in its `CompiledPolicy`.
    pub reference: JourneyRef,
    pub graph: StableDiGraph<PlanNode, PlanEdge>,
    pub start: NodeIndex,
    pub end: NodeIndex,
    /// Step nodes in order.
    pub steps: Vec<NodeIndex>,
}

impl JourneyPlan {
    /// Nodes in an order where every edge points forward (the plan is acyclic by construction).
    pub fn topological_order(&self) -> Vec<NodeIndex> {
        petgraph::algo::toposort(&self.graph, None).unwrap_or_default()
    }

    /// The target of `node`'s first outgoing edge that `pick` accepts, in the order edges
    /// were added.
    pub fn follow(&self, node: NodeIndex, pick: impl Fn(&PlanEdge) -> bool) -> Option<NodeIndex> {
        // petgraph lists a node's edges newest first.
        self.graph.edges(node).filter(|e| pick(e.weight())).last().map(|e| e.target())
    }

    /// Where a journey goes once `node` is done: through its pipeline to the next step, over
    /// a skipped step, or back from a called sub journey.
    pub fn successor(&self, mut node: NodeIndex) -> NodeIndex {
        loop {
            let mut inner = None;
            for e in self.graph.edges(node) {
                match e.weight() {
                    PlanEdge::Next | PlanEdge::Skip | PlanEdge::Returns => return e.target(),
                    PlanEdge::Then | PlanEdge::Runs { .. } => inner = Some(e.target()),
                }
            }
            match inner {
                Some(n) => node = n,
                None => return self.end,
            }
        }
    }

    /// The step `node` belongs to (itself for a step).
    pub fn step_of(&self, mut node: NodeIndex) -> Option<NodeIndex> {
        loop {
            if matches!(self.graph[node], PlanNode::Step { .. }) {
                return Some(node);
            }
            let e = self
                .graph
                .edges_directed(node, petgraph::Direction::Incoming)
                .find(|e| matches!(e.weight(), PlanEdge::Then | PlanEdge::Runs { .. }))?;
            node = e.source();
        }
    }
}

struct Context<'c, 'p> {
    policy: &'p Policy,
    ix: &'c Indices<'p>,
    profiles: &'c [ProfilePlan],
    subs: &'c HashMap<&'p str, usize>,
}

impl<'p> Context<'_, 'p> {
    fn plan(&self, journey: &'p Journey, reference: JourneyRef) -> JourneyPlan {
        let policy = self.policy;
        let (nodes, edges) = self.graph_size(journey);
        let mut g = StableDiGraph::with_capacity(nodes, edges);
        let start = g.add_node(PlanNode::Start);
        let steps: Vec<NodeIndex> = journey
            .steps
            .iter()
            .map(|s| {
                g.add_node(PlanNode::Step {
                    order: s.order,
                    step_type: s.step_type.clone(),
                    content_definition: s.content_definition.as_ref().map(|c| Ref {
                        id: c.value.clone(),
                        index: policy.content_definitions.iter().position(|d| d.id.value == c.value),
                    }),
                    conditions: profile::conditions(policy, &s.preconditions),
                    selection: None,
                })
            })
            .collect();
        let end = g.add_node(PlanNode::End);
        g.add_edge(start, *steps.first().unwrap_or(&end), PlanEdge::Next);
        let mut b = Builder { cx: self, g, pages: Vec::new(), selections: Vec::new() };

        for (i, s) in journey.steps.iter().enumerate() {
            let here = steps[i];
            let next = steps.get(i + 1).copied().unwrap_or(end);
            let chosen = i > 0 && journey.steps[i - 1].step_type.is_selection();
            if !s.preconditions.is_empty() {
                b.g.add_edge(here, next, PlanEdge::Skip);
            }
            if s.step_type.is_selection() {
                b.selections.push(i);
            }
            match &s.step_type {
                StepType::SendClaims => {
                    let issuer = s.issuer.as_ref().or(journey.default_issuer.as_ref());
                    let n = b.g.add_node(PlanNode::Issuer(issuer.map(|t| self.ix.profile(&t.value))));
                    b.g.add_edge(here, n, PlanEdge::Runs { chosen: false });
                    b.g.add_edge(n, end, PlanEdge::Next);
                }
                StepType::InvokeSubJourney => {
                    if let Some(c) = s.invoked() {
                        let index = self.subs.get(c.as_str()).copied();
                        let transfer =
                            index.is_some_and(|i| policy.sub_journeys[i].kind == JourneyKind::SubJourneyTransfer);
                        let n = b.g.add_node(PlanNode::SubJourney { id: c.value.clone(), index, transfer });
                        b.g.add_edge(here, n, PlanEdge::Runs { chosen: false });
                        // A transfer never comes back.
                        let (back, edge) = if transfer { (end, PlanEdge::Next) } else { (next, PlanEdge::Returns) };
                        b.g.add_edge(n, back, edge);
                    } else {
                        b.g.add_edge(here, next, PlanEdge::Next);
                    }
                }
                _ if s.exchanges.is_empty() => {
                    b.g.add_edge(here, next, PlanEdge::Next);
                }
                _ => {
                    // Selection steps run their validation exchange here; their button targets
                    // run in the next step.
                    let run_here: Vec<_> = if s.step_type.is_selection() {
                        s.exchanges
                            .iter()
                            .filter(|e| {
                                s.selections.iter().any(|sel| {
                                    sel.validation.as_ref().is_some_and(|v| v.value.eq_ignore_ascii_case(&e.id.value))
                                })
                            })
                            .collect()
                    } else {
                        s.exchanges.iter().collect()
                    };
                    if run_here.is_empty() {
                        b.g.add_edge(here, next, PlanEdge::Next);
                    }
                    for e in run_here {
                        let profile = self.ix.profile(&e.profile.value);
                        let x = b.g.add_node(PlanNode::Exchange { id: e.id.value.clone(), profile: profile.clone() });
                        b.g.add_edge(here, x, PlanEdge::Runs { chosen: chosen || s.exchanges.len() > 1 });
                        let last = b.pipeline(x, profile, i);
                        b.g.add_edge(last, next, PlanEdge::Next);
                    }
                    if s.step_type.is_selection() {
                        b.g.add_edge(here, next, PlanEdge::Next);
                    }
                }
            }
        }
        b.resolve_choices(journey, &steps);
        debug_assert!(b.g.node_count() <= nodes && b.g.edge_count() <= edges, "graph_size is a bound");
        JourneyPlan { id: journey.id.value.to_string(), kind: journey.kind, reference, graph: b.g, start, end, steps }
    }

    /// At least the nodes and edges [`Context::plan`] adds for `journey`: a 20,000-step graph
    /// grown by doubling would copy megabytes of nodes through memory.
    fn graph_size(&self, journey: &Journey) -> (usize, usize) {
        let (mut nodes, mut edges) = (journey.steps.len() + 2, 1);
        for s in &journey.steps {
            edges += usize::from(!s.preconditions.is_empty());
            let (n, e) = match &s.step_type {
                StepType::SendClaims | StepType::InvokeSubJourney => (1, 2),
                _ => s.exchanges.iter().fold((0, 1), |(n, e), x| {
                    let pipeline = self.ix.profiles.get(x.profile.as_str()).map_or(1, |&i| {
                        let pp = &self.profiles[i];
                        pp.input_transforms.len() + 1 + pp.validations.len() + pp.output_transforms.len()
                    });
                    (n + 1 + pipeline, e + 2 + pipeline)
                }),
            };
            nodes += n;
            edges += e;
        }
        (nodes, edges)
    }
}

struct Builder<'b, 'c, 'p> {
    cx: &'b Context<'c, 'p>,
    g: StableDiGraph<PlanNode, PlanEdge>,
    /// Profile nodes with links that run as a step, with their step.
    pages: Vec<(NodeIndex, usize)>,
    /// Selection steps, by index: a long journey is not walked again to find them.
    selections: Vec<usize>,
}

impl<'p> Builder<'_, '_, 'p> {
    /// Appends the pipeline of a technical profile after `from`; returns its last node.
    fn pipeline(&mut self, from: NodeIndex, profile: Ref, step: usize) -> NodeIndex {
        let Some(index) = profile.index else {
            let n = self.g.add_node(PlanNode::Profile { profile, protocol: SmolStr::default(), links: Vec::new() });
            self.g.add_edge(from, n, PlanEdge::Then);
            return n;
        };
        let tp = &self.cx.policy.technical_profiles[index];
        let pp = &self.cx.profiles[index];
        let mut last = from;
        for r in &pp.input_transforms {
            last = self.then(last, PlanNode::InputTransform(r.clone()));
        }
        let protocol =
            tp.protocol.as_ref().map(|p| SmolStr::new(p.handler_type().unwrap_or(p.name.as_str()))).unwrap_or_default();
        last = self.then(last, PlanNode::Profile { profile, protocol, links: Vec::new() });
        if !pp.links.is_empty() {
            self.pages.push((last, step));
        }
        for v in &pp.validations {
            last = self.then(last, PlanNode::Validation(v.clone()));
        }
        for r in &pp.output_transforms {
            last = self.then(last, PlanNode::OutputTransform(r.clone()));
        }
        last
    }

    fn then(&mut self, from: NodeIndex, node: PlanNode) -> NodeIndex {
        let n = self.g.add_node(node);
        self.g.add_edge(from, n, PlanEdge::Then);
        n
    }

    /// The exchange node with this Id that step `step` runs (B2C matches Ids without regard to
    /// case): the first one added, as petgraph lists a node's edges newest first.
    fn exchange_node(&self, steps: &[NodeIndex], step: usize, id: &str) -> Option<NodeIndex> {
        let &here = steps.get(step)?;
        let named = |n: NodeIndex| matches!(&self.g[n], PlanNode::Exchange { id: x, .. } if x.eq_ignore_ascii_case(id));
        self.g.edges(here).map(|e| e.target()).filter(|&n| named(n)).last()
    }

    /// Buttons and links name exchanges of the next step: resolved once every step has its nodes.
    /// B2C matches ClaimsExchange Ids without regard to case.
    fn resolve_choices(&mut self, journey: &'p Journey, steps: &[NodeIndex]) {
        let policy = self.cx.policy;
        let ix = self.cx.ix;
        let button = |exchange: &str, step: usize| {
            let in_next = journey
                .steps
                .get(step + 1)
                .and_then(|n| n.exchanges.iter().find(|e| e.id.value.eq_ignore_ascii_case(exchange)));
            Button {
                exchange: exchange.to_owned(),
                profile: in_next.and_then(|e| ix.profiles.get(e.profile.as_str()).copied()),
                target: self.exchange_node(steps, step + 1, exchange),
            }
        };
        let mut updates = Vec::new();
        for &(node, step) in &self.pages {
            let PlanNode::Profile { profile: Ref { index: Some(p), .. }, .. } = &self.g[node] else { continue };
            let links: Vec<Button> = self.cx.profiles[*p].links.iter().map(|l| button(l, step)).collect();
            updates.push((node, links, None));
        }
        for &i in &self.selections {
            let s = &journey.steps[i];
            let buttons: Vec<Button> =
                s.selections.iter().filter_map(|sel| sel.target.as_ref()).map(|t| button(&t.value, i)).collect();
            let sign_in = s.selections.iter().find_map(|sel| sel.validation.as_ref()).map(|v| {
                let profile = s
                    .exchanges
                    .iter()
                    .find(|e| e.id.value.eq_ignore_ascii_case(&v.value))
                    .and_then(|e| ix.profiles.get(e.profile.as_str()).copied());
                let sign_up =
                    profile.and_then(|p| policy.technical_profiles[p].metadata("SignUpTarget")).map(|t| match buttons
                        .iter()
                        .position(|b| b.exchange.eq_ignore_ascii_case(t))
                    {
                        Some(b) => SignUp::Button(b),
                        None => SignUp::Link(button(t, i)),
                    });
                SignInForm {
                    exchange: v.value.to_string(),
                    node: self.exchange_node(steps, i, &v.value),
                    profile,
                    sign_up,
                }
            });
            let show_single = s.display_option.as_deref() == Some("ShowSingleProvider");
            updates.push((steps[i], Vec::new(), Some(Box::new(SelectionPlan { buttons, sign_in, show_single }))));
        }
        for (node, new_links, new_selection) in updates {
            match &mut self.g[node] {
                PlanNode::Profile { links, .. } => *links = new_links,
                PlanNode::Step { selection, .. } => *selection = new_selection,
                _ => {}
            }
        }
    }
}
