//! The plan walker. A `SignIn` holds all per-sign-in state, its place being a position in the
//! compiled plan; `Executor::resume` moves it from node to node along the plan's edges until the
//! journey needs the user or ends. References were resolved when the plan was compiled, so
//! nothing here looks a profile, exchange or transformation up by name. Nothing here assumes a
//! headless driver.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::OnceLock;

use ief_transforms::{ClaimId, ClaimValue, ClaimsBag, DataType, TransformEnv};
use petgraph::stable_graph::NodeIndex;

use super::handler::{
    Answer, Extensions, InputClaim, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest,
    ProfileResult, RequestContext, Services, Token,
};
use super::resolve::fill;
use super::session::{Session, SsoCookie};
use super::trace::{TraceEvent, is_secret, redacted, text};
use crate::model::{Policy, StepType, TechnicalProfile};
use crate::page_settings::{FORGOT_PASSWORD_OVERRIDE, ForgotPasswordLinkLocation, PageSettings};
use crate::plan::{
    Button, ClaimPlan, CompiledPolicy, ControlPlan, DefaultValue, JourneyPlan, PlanEdge, PlanNode, PlanPosition,
    ProfilePlan, Ref, SelectionPlan, SignUp, SsoScope, ValidationRef, skip_reason,
};

/// The combined sign-in page's "Forgot your password?" link (its element id on B2C's page), as a
/// driver chooses it.
const FORGOT_PASSWORD_LINK: &str = "forgotPassword";
/// What B2C returns to the application when that link has no override.
const FORGOT_PASSWORD_CODE: &str = "AADB2C90118";
const FORGOT_PASSWORD_MESSAGE: &str = "The user has forgotten their password.";
/// The shortest secret hidden inside other values: shorter ones would blank out ordinary text.
const MIN_HIDDEN_LEN: usize = 4;
/// The keep-me-signed-in checkbox of a sign-in page, as a form answers it (B2C's `rememberMe`).
pub const REMEMBER_ME_FIELD: &str = "rememberMe";
/// The VerificationControl action whose success lets the page continue.
const VERIFY_CODE: &str = "VerifyCode";
/// B2C's `intro_msg` of a VerificationControl.
const VERIFICATION_NEEDED: &str = "Verification is necessary. Please click Send button.";

/// Errors of the run itself (as opposed to outcomes a journey routes): a driver's bad answer,
/// an unsupported protocol, a policy that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("step {order} of '{journey}': {message}")]
    BadAnswer { journey: String, order: u32, message: String },
    #[error("technical profile '{profile}' uses {protocol}, which ief does not support yet")]
    Unsupported { profile: String, protocol: String },
    #[error("{0}")]
    Policy(String),
    #[error("the sign-in has already finished")]
    Finished,
    /// A profile refused an answer it had already handled ([`ProfileResult::Replayed`]): the
    /// driver refuses the request, discards this `SignIn` and keeps the one it stored.
    #[error("step {order} of '{journey}': {}", .error.user_message)]
    Replayed { journey: String, order: u32, error: ProfileError },
    /// A profile could not reach a service its answer needs ([`ProfileResult::Unavailable`]):
    /// refused the same way.
    #[error("step {order} of '{journey}': {}", .error.user_message)]
    Unavailable { journey: String, order: u32, error: ProfileError },
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// SendClaims ran: the token and the relying party's claims by partner name.
    Token { token: Token, claims: Vec<(String, ClaimValue)> },
    /// The journey ended with an error to the application.
    Error { code: String, message: String },
}

/// Where a run stopped.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Progress {
    NeedsInput(Page),
    Finished(Outcome),
}

/// The exchange a button or a link picked for a later step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Choice {
    /// An exchange node.
    Exchange(PlanPosition),
    /// A target the plan could not resolve (validation reported it); only named in errors.
    Unresolved(Box<str>),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Pending {
    /// A selection page, at its step: the choice each of the page's options makes.
    Selection { choices: Vec<Choice>, page: Page },
    /// A profile's page, at its profile node.
    Profile { page: Page },
}

/// One sign-in in progress. It serializes (serde) for drivers that keep it between requests,
/// valid for the same compiled policy; see [`SignIn::forget_passwords`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SignIn {
    position: PlanPosition,
    /// Where each called sub journey returns to.
    stack: Vec<PlanPosition>,
    /// Every plan node entered, in order.
    path: Vec<PlanPosition>,
    bag: ClaimsBag,
    chosen: Option<Choice>,
    pending: Option<Pending>,
    finished: bool,
    /// The browser's other SSO sessions.
    session: Session,
    /// The session of this sign-in's scope: valid when the sign-in started, or begun by it.
    sso: Option<SsoCookie>,
    /// Failed validations of each profile's page, for `setting.retryLimit`.
    failed_tries: HashMap<usize, u32>,
    /// `profile/control` of the VerificationControls verified on the current step's page.
    verified_controls: Vec<String>,
    pub context: RequestContext,
    pub trace: Vec<TraceEvent>,
}

/// What B2C answers when a page's `setting.retryLimit` is used up.
const RETRY_LIMIT_CODE: &str = "AADB2C90157";
const RETRY_LIMIT_MESSAGE: &str = "User has exceeded the maximum number for retries for a self-asserted step.";

impl SignIn {
    pub fn claims(&self) -> &ClaimsBag {
        &self.bag
    }

    /// Puts a claim in the bag before the first step: what a driver took from a token the
    /// journey's `Authorization` profiles validated (the UserInfo endpoint's bearer token).
    pub fn set_claim(&mut self, id: ClaimId, value: ClaimValue) {
        self.bag.set(id, value);
    }

    /// The browser's sessions after this sign-in.
    pub fn into_session(self) -> Session {
        let mut session = self.session;
        if let Some(cookie) = self.sso {
            session.put(cookie);
        }
        session
    }

    /// Drops the values typed into password boxes: they live only while their page's submit
    /// runs, and a sign-in kept between requests must never hold one (a page shown again after
    /// a failed submit asks for them again).
    pub fn forget_passwords(&mut self, policy: &Policy) {
        for (i, ct) in policy.claim_types.iter().enumerate() {
            if ct.user_input_type.as_ref().is_some_and(|t| t.value == "Password") {
                self.bag.remove(ClaimId(i as u32));
            }
        }
    }

    /// Where the sign-in is: the step it runs next, or the page's node it waits at.
    pub fn position(&self) -> PlanPosition {
        self.position
    }

    /// Where each sub journey in progress returns to, outermost first.
    pub fn call_stack(&self) -> &[PlanPosition] {
        &self.stack
    }

    /// Every plan node the sign-in entered, in order: steps (run or skipped), exchanges, the
    /// pipeline nodes that ran, sub journey calls, the issuer, each journey's start and end. A
    /// page shown again after a failed validation enters its profile node again.
    pub fn path(&self) -> &[PlanPosition] {
        &self.path
    }
}

/// Runs journeys of one compiled policy with a set of protocol handlers.
pub struct Executor<'p> {
    pub policy: &'p Policy,
    pub compiled: &'p CompiledPolicy,
    handlers: &'p [Box<dyn ProfileHandler>],
    env: &'p (dyn TransformEnv + Sync),
    extensions: &'p Extensions,
    /// Per technical profile, per invocation (step, validation, issuer): the handler's index,
    /// found on the profile's first run (an executor may live for one sign-in only).
    routes: Vec<[OnceLock<Option<u16>>; 3]>,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("policy", &self.policy.policy_id).finish_non_exhaustive()
    }
}

/// A profile's pipeline finished, needs the user, or failed.
enum StepResult {
    Done,
    Page(Page),
    Failed(ProfileError),
}

/// Where a page's validation profiles stand after one of them.
enum Validated {
    /// Skipped, passed with ContinueOnSuccess, or failed with ContinueOnError: the next runs.
    Next,
    /// Passed: the rest are skipped.
    Stop,
    /// Failed: the page shows this message.
    Failed(String),
}

/// One stage of a profile's pipeline.
enum Stage<'a> {
    Input(&'a Ref),
    Profile,
    Validation(&'a ValidationRef),
    Output(&'a Ref),
}

/// A pipeline's stages: the plan's nodes for a journey's exchange, the profile's own plan for
/// a validation profile (which has no nodes of its own).
enum Stages<'a> {
    Nodes { plan: &'a JourneyPlan, next: Option<NodeIndex> },
    Plan { profile: &'a ProfilePlan, at: usize },
}

impl<'a> Stages<'a> {
    fn next(&mut self) -> Option<(Stage<'a>, Option<NodeIndex>)> {
        match self {
            Stages::Nodes { plan, next } => loop {
                let n = (*next)?;
                *next = plan.follow(n, |e| *e == PlanEdge::Then);
                let stage = match &plan.graph[n] {
                    PlanNode::InputTransform(r) => Stage::Input(r),
                    PlanNode::Profile { .. } => Stage::Profile,
                    PlanNode::Validation(v) => Stage::Validation(v),
                    PlanNode::OutputTransform(r) => Stage::Output(r),
                    // The exchange node that leads into the pipeline.
                    _ => continue,
                };
                return Some((stage, Some(n)));
            },
            Stages::Plan { profile, at } => {
                let (k, inputs, validations) = (*at, profile.input_transforms.len(), profile.validations.len());
                *at += 1;
                let stage = if k < inputs {
                    Stage::Input(&profile.input_transforms[k])
                } else if k == inputs {
                    Stage::Profile
                } else if k <= inputs + validations {
                    Stage::Validation(&profile.validations[k - inputs - 1])
                } else {
                    Stage::Output(profile.output_transforms.get(k - inputs - 1 - validations)?)
                };
                Some((stage, None))
            }
        }
    }
}

fn invocation_slot(invocation: Invocation) -> usize {
    match invocation {
        Invocation::Step => 0,
        Invocation::Validation => 1,
        Invocation::Issuer => 2,
    }
}

fn not_defined(r: &Ref) -> ExecError {
    ExecError::Policy(format!("technical profile '{}' is not defined", r.id))
}

impl<'p> Executor<'p> {
    pub fn new(
        policy: &'p Policy,
        compiled: &'p CompiledPolicy,
        handlers: &'p [Box<dyn ProfileHandler>],
        env: &'p (dyn TransformEnv + Sync),
        extensions: &'p Extensions,
    ) -> Executor<'p> {
        let routes = policy.technical_profiles.iter().map(|_| Default::default()).collect();
        Executor { policy, compiled, handlers, env, extensions, routes }
    }

    /// The time on the executor's clock.
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.env.now()
    }

    /// Starts a sign-in of `journey` (the relying party's DefaultUserJourney when `None`).
    pub fn start(
        &self,
        journey: Option<&str>,
        context: RequestContext,
        mut session: Session,
    ) -> Result<SignIn, ExecError> {
        let id = journey
            .or_else(|| self.policy.default_journey())
            .ok_or_else(|| ExecError::Policy("the policy has no DefaultUserJourney".to_owned()))?;
        let plan = self
            .compiled
            .user_journey(id)
            .and_then(|j| self.compiled.plan(j))
            .ok_or_else(|| ExecError::Policy(format!("no user journey '{id}'")))?;
        let position = PlanPosition::new(plan.reference, plan.start);
        let path = vec![position];
        let rules = &self.compiled.session;
        // The key is made only when the browser has sessions to look in.
        let sso_key = if session.has_cookies() { self.sso_key(&context) } else { None };
        let now = self.env.now();
        let mut trace = Vec::new();
        // OpenID Connect's max_age: credentials entered longer ago must be entered again.
        let max_age = context.max_age.as_deref().and_then(|a| a.trim().parse::<i64>().ok());
        let sso = match sso_key.as_deref().and_then(|k| session.take(k)) {
            Some(cookie) if now >= cookie.expires => {
                let at = ClaimValue::date_time(cookie.expires).to_string();
                trace.push(TraceEvent::SessionExpired { at });
                None
            }
            Some(cookie) if max_age.is_some_and(|age| (now - cookie.auth_time).num_seconds() > age) => None,
            Some(mut cookie) => {
                // A rolling session lasts its lifetime again from every sign-in that uses it.
                if !rules.absolute {
                    cookie.expires = now + rules.lifetime(cookie.persistent);
                }
                Some(cookie)
            }
            None => None,
        };
        Ok(SignIn {
            position,
            stack: Vec::new(),
            path,
            bag: ClaimsBag::with_capacity(self.policy.claim_types.len()),
            chosen: None,
            pending: None,
            finished: false,
            session,
            sso,
            failed_tries: HashMap::new(),
            verified_controls: Vec::new(),
            context,
            trace,
        })
    }

    /// The key of the SSO session scope (`None` when SSO is suppressed).
    fn sso_key(&self, context: &RequestContext) -> Option<String> {
        let tenant = self.policy.tenant_id.to_lowercase();
        match self.compiled.session.scope {
            SsoScope::Tenant => Some(tenant),
            SsoScope::Application => Some(format!("{tenant}/client/{}", context.client_id)),
            SsoScope::Policy => Some(format!("{tenant}/policy/{}", self.policy.policy_id.to_lowercase())),
            SsoScope::Suppressed => None,
        }
    }

    /// Advances the sign-in: `answer` answers the page the last call returned.
    pub async fn resume(&self, s: &mut SignIn, answer: Option<Answer>) -> Result<Progress, ExecError> {
        let progress = self.resume_to_pause(s, answer).await;
        if let Ok(Progress::NeedsInput(_)) = &progress {
            // A paused sign-in may wait long, or be stored: it keeps no spare capacity.
            s.trace.shrink_to_fit();
            s.path.shrink_to_fit();
        }
        progress
    }

    async fn resume_to_pause(&self, s: &mut SignIn, answer: Option<Answer>) -> Result<Progress, ExecError> {
        if s.finished {
            return Err(ExecError::Finished);
        }
        if let Some(pending) = s.pending.take() {
            let Some(answer) = answer else {
                let page = match &pending {
                    Pending::Selection { page, .. } | Pending::Profile { page } => page.shown(),
                };
                s.pending = Some(pending);
                return Ok(Progress::NeedsInput(page));
            };
            let (answer, kmsi) = match self.keep_signed_in(s, &pending, answer) {
                Ok(answered) => answered,
                Err(e) => {
                    s.pending = Some(pending);
                    return Err(e);
                }
            };
            s.trace.push(TraceEvent::Answered { answer: describe_answer(&answer, self.policy) });
            if let Some(checked) = kmsi {
                s.trace.push(TraceEvent::KeepSignedIn { checked });
            }
            // A wrong answer leaves the page waiting for a right one.
            match self.answer(s, &pending, answer).await {
                Ok(Some(progress)) => return Ok(progress),
                Ok(None) => self.advance(s)?,
                Err(e) => {
                    s.pending = Some(pending);
                    return Err(e);
                }
            }
        }
        self.run(s).await
    }

    fn plan(&self, position: PlanPosition) -> Result<&'p JourneyPlan, ExecError> {
        self.compiled.plan(position.journey).filter(|p| p.graph.contains_node(position.node())).ok_or_else(|| {
            ExecError::Policy(format!("the sign-in is at {position:?}, which is not in this policy's plan"))
        })
    }

    async fn answer(&self, s: &mut SignIn, pending: &Pending, answer: Answer) -> Result<Option<Progress>, ExecError> {
        let bad = |s: &SignIn, message: String| {
            let (journey, order) = self.position(s);
            ExecError::BadAnswer { journey, order, message }
        };
        let plan = self.plan(s.position)?;
        match (pending, answer) {
            (Pending::Selection { page, .. } | Pending::Profile { page }, Answer::Cancel) => {
                if !page.settings.show_cancel_button {
                    let message = format!(
                        "the page of '{}' has no cancel button (setting.showCancelButton is false)",
                        page.profile
                    );
                    return Err(bad(s, message));
                }
                Ok(Some(self.finish_error(s, "AADB2C90091", "The user has cancelled the operation.")))
            }
            (Pending::Selection { choices, page }, Answer::Choose(id))
                if id == FORGOT_PASSWORD_LINK && self.forgot_password_link(plan, s).is_some() =>
            {
                let PageKind::Selection { options, .. } = &page.kind else { return Ok(None) };
                match self.forgot_password_link(plan, s).flatten() {
                    // `setting.forgotPasswordLinkOverride`: the link runs that exchange.
                    Some(target) => {
                        let i = options.iter().position(|o| *o == target).ok_or_else(|| {
                            ExecError::Policy(format!(
                                "setting.forgotPasswordLinkOverride names '{target}', which is not a ClaimsProviderSelection of this step"
                            ))
                        })?;
                        s.chosen = choices.get(i).cloned();
                        Ok(None)
                    }
                    // The plain link: B2C returns to the application (legacy policies).
                    None => Ok(Some(self.finish_error(s, FORGOT_PASSWORD_CODE, FORGOT_PASSWORD_MESSAGE))),
                }
            }
            (Pending::Selection { choices, page }, Answer::Choose(id)) => {
                let PageKind::Selection { options, .. } = &page.kind else { return Ok(None) };
                if let Some(link) = page.settings.link(&id).filter(|l| !l.shown && !options.contains(&id)) {
                    let why = PageSettings::hidden_reason(link);
                    return Err(bad(s, format!("the link '{id}' of '{}' is hidden ({why})", page.profile)));
                }
                if id == FORGOT_PASSWORD_LINK
                    && page.settings.forgot_password_link_location == ForgotPasswordLinkLocation::None
                {
                    let why = "setting.forgotPasswordLinkLocation is None";
                    return Err(bad(s, format!("the link '{id}' of '{}' is hidden ({why})", page.profile)));
                }
                let Some(i) = options.iter().position(|o| *o == id) else {
                    let message = format!("there is no button '{id}'; the page offers: {}", options.join(", "));
                    return Err(bad(s, message));
                };
                s.chosen = choices.get(i).cloned();
                Ok(None)
            }
            (Pending::Selection { page, .. }, answer @ Answer::Submit(_))
                if matches!(&page.kind, PageKind::Selection { sign_in: Some(_), .. }) =>
            {
                let form = match &plan.graph[s.position.node()] {
                    PlanNode::Step { selection: Some(sel), .. } => sel.sign_in.as_ref(),
                    _ => None,
                };
                let node = form.and_then(|f| f.node).ok_or_else(|| {
                    let exchange = form.map_or("", |f| f.exchange.as_str());
                    ExecError::Policy(format!("claims exchange '{exchange}' is not in the journey"))
                })?;
                self.visit(s, PlanPosition::new(plan.reference, node));
                self.run_page_answer(s, plan, node, answer, None).await
            }
            (Pending::Profile { page }, Answer::Action { control, action, values }) => {
                self.control_action(s, plan, page.clone(), (&control, &action), &values).await
            }
            (Pending::Profile { page }, Answer::Submit(values))
                if self.unverified_control(s, plan, &values).is_some() =>
            {
                let message = self.unverified_control(s, plan, &values).unwrap_or_default();
                Ok(Some(self.show_again(s, page.clone(), Some(message))))
            }
            (Pending::Profile { page }, answer) => {
                let PlanNode::Profile { profile, links, .. } = &plan.graph[s.position.node()] else {
                    return Err(ExecError::Policy(format!(
                        "the page of '{}' lost its place in the plan",
                        page.profile
                    )));
                };
                // Links on a self-asserted form pick the exchange the next step runs; a choice on
                // a profile's other pages (a new code, one of several phone numbers) is its handler's.
                if let Answer::Choose(target) = &answer
                    && matches!(page.kind, PageKind::Form { .. })
                {
                    if let Some(link) = page.settings.link(target).filter(|l| !l.shown) {
                        let why = PageSettings::hidden_reason(link);
                        return Err(bad(s, format!("the link '{target}' of '{}' is hidden ({why})", profile.id)));
                    }
                    if let Some(link) = links.iter().find(|l| l.exchange == *target) {
                        s.chosen = Some(self.choice(plan, link));
                        return Ok(None);
                    }
                    let id = &profile.id;
                    let message = if links.is_empty() {
                        format!(
                            "the page of '{id}' is a form without links; answer it with `submit`, not `choose: {target}`"
                        )
                    } else {
                        let names: Vec<&str> = links.iter().map(|l| l.exchange.as_str()).collect();
                        format!("the page of '{id}' has no link '{target}' (links: {})", names.join(", "))
                    };
                    return Err(bad(s, message));
                }
                if matches!(answer, Answer::Submit(_)) && !page.settings.show_continue_button {
                    let message = format!(
                        "the page of '{}' has no continue button (setting.showContinueButton is false); it can only \
                         be cancelled or left by a link",
                        profile.id
                    );
                    return Err(bad(s, message));
                }
                self.run_page_answer(s, plan, s.position.node(), answer, page.profile_state.as_deref()).await
            }
            (Pending::Selection { page, .. }, other) => {
                let options = match &page.kind {
                    PageKind::Selection { options, .. } => options.join(", "),
                    _ => String::new(),
                };
                let message = format!(
                    "a selection page needs a choice of {options}, not {}",
                    describe_answer(&other, self.policy)
                );
                Err(bad(s, message))
            }
        }
    }

    /// The keep-me-signed-in answer sent after the page's submit, as B2C's page script sends
    /// `rememberMe` on its `confirmed` call: the session this sign-in began becomes persistent
    /// with the keep-alive lifetime. Only a relying party that keeps sessions alive
    /// (`KeepAliveInDays`) takes it; returns whether this one did.
    pub fn keep_signed_in_after(&self, s: &mut SignIn) -> bool {
        let rules = &self.compiled.session;
        if rules.keep_alive_days <= 0 {
            return false;
        }
        s.context.kmsi = true;
        if let Some(cookie) = s.sso.as_mut() {
            cookie.keep_alive(self.env.now(), rules);
        }
        s.trace.push(TraceEvent::KeepSignedIn { checked: true });
        true
    }

    /// Takes the keep-me-signed-in checkbox out of a form's answer. The page must offer it
    /// (`setting.enableRememberMe` on its sign-in profile); checked, the session this sign-in
    /// begins lasts `KeepAliveInDays`.
    fn keep_signed_in(
        &self,
        s: &mut SignIn,
        pending: &Pending,
        answer: Answer,
    ) -> Result<(Answer, Option<bool>), ExecError> {
        let Answer::Submit(mut values) = answer else { return Ok((answer, None)) };
        let Some(i) = values.iter().position(|(k, _)| k == REMEMBER_ME_FIELD) else {
            return Ok((Answer::Submit(values), None));
        };
        let (_, text) = values.remove(i);
        let plan = self.plan(s.position)?;
        let profile = match (pending, &plan.graph[s.position.node()]) {
            (Pending::Selection { .. }, PlanNode::Step { selection: Some(sel), .. }) => {
                sel.sign_in.as_ref().and_then(|f| f.profile)
            }
            (Pending::Profile { .. }, PlanNode::Profile { profile, .. }) => profile.index,
            _ => None,
        };
        let bad = |message: String| {
            let (journey, order) = self.position(s);
            ExecError::BadAnswer { journey, order, message }
        };
        if !profile.is_some_and(|p| self.compiled.profiles[p].page.enable_remember_me) {
            return Err(bad(format!(
                "the page has no keep-me-signed-in checkbox ({REMEMBER_ME_FIELD}): its profile does not set setting.enableRememberMe"
            )));
        }
        let checked = ief_transforms::value::parse_bool(&text)
            .ok_or_else(|| bad(format!("{REMEMBER_ME_FIELD} is true or false, not '{text}'")))?;
        s.context.kmsi = checked;
        Ok((Answer::Submit(values), Some(checked)))
    }

    /// Runs the pipeline at `node` (an exchange or a waiting page's profile) with the answer.
    async fn run_page_answer(
        &self,
        s: &mut SignIn,
        plan: &'p JourneyPlan,
        node: NodeIndex,
        answer: Answer,
        profile_state: Option<&serde_json::Value>,
    ) -> Result<Option<Progress>, ExecError> {
        let profile = match &plan.graph[node] {
            PlanNode::Exchange { profile, .. } | PlanNode::Profile { profile, .. } => profile,
            other => return Err(ExecError::Policy(format!("no page waits at {other:?}"))),
        };
        let p = profile.index.ok_or_else(|| not_defined(profile))?;
        let answer = Some((&answer, profile_state));
        match self.run_profile(s, p, Invocation::Step, answer, Some((plan, node))).await? {
            StepResult::Done => Ok(None),
            StepResult::Page(page) => {
                s.trace.push(TraceEvent::Page { profile: profile.id.to_string(), error: page.error.clone() });
                let shown = page.shown();
                s.pending = Some(Pending::Profile { page });
                Ok(Some(Progress::NeedsInput(shown)))
            }
            StepResult::Failed(e) => Ok(Some(self.finish_error(s, &e.code, &e.user_message))),
        }
    }

    /// The profile whose page waits at the sign-in's position, with its plan.
    fn page_plan(&self, s: &SignIn, plan: &JourneyPlan) -> Result<(&'p TechnicalProfile, &'p ProfilePlan), ExecError> {
        match &plan.graph[s.position.node()] {
            PlanNode::Profile { profile, .. } => profile
                .index
                .map(|p| (&self.policy.technical_profiles[p], &self.compiled.profiles[p]))
                .ok_or_else(|| not_defined(profile)),
            _ => Err(ExecError::Policy("no page waits at the sign-in's position".to_owned())),
        }
    }

    /// A display control's button: the control's typed claims go into the bag and the action's
    /// validation profiles run in order (preconditions, ContinueOnError and ContinueOnSuccess as
    /// on a page); the same page comes back, with the failing profile's message if one failed.
    /// A `VerifyCode` that succeeds verifies the control for the page's Continue.
    async fn control_action(
        &self,
        s: &mut SignIn,
        plan: &'p JourneyPlan,
        page: Page,
        (control, action): (&str, &str),
        values: &[(String, String)],
    ) -> Result<Option<Progress>, ExecError> {
        let (journey, order) = self.position(s);
        let bad = |message: String| ExecError::BadAnswer { journey: journey.clone(), order, message };
        let (tp, pp) = self.page_plan(s, plan)?;
        let profile = tp.id.value.as_str();
        let dc = pp
            .controls
            .iter()
            .find(|c| c.id == control)
            .ok_or_else(|| bad(format!("the page of '{profile}' has no display control '{control}'")))?;
        let Some((_, profiles)) = dc.actions.iter().find(|(id, _)| id == action) else {
            let actions: Vec<&str> = dc.actions.iter().map(|(id, _)| id.as_str()).collect();
            return Err(bad(format!(
                "display control '{control}' has no action '{action}' (actions: {})",
                actions.join(", ")
            )));
        };
        for (name, text) in values {
            let id = self.policy.claim_id(name).filter(|id| dc.claims.iter().any(|(c, _)| c == id));
            let Some(id) = id else {
                return Err(bad(format!("'{name}' is not a claim of display control '{control}'")));
            };
            let data_type = self.policy.claim_types[id.index()].data_type.unwrap_or(DataType::String);
            let value = ClaimValue::parse(data_type, text).map_err(|e| bad(format!("'{name}': {e}")))?;
            s.bag.set(id, value);
        }
        let mut error = None;
        for vp in profiles {
            match self.validate(s, tp, vp, None, None).await? {
                Validated::Next => {}
                Validated::Stop => break,
                Validated::Failed(message) => {
                    error = Some(message);
                    break;
                }
            }
        }
        let key = format!("{profile}/{control}");
        if error.is_none() && action == VERIFY_CODE && !s.verified_controls.contains(&key) {
            s.verified_controls.push(key);
        }
        Ok(Some(self.show_again(s, page, error)))
    }

    /// The message for a Continue while a VerificationControl of the page is not verified, or
    /// `values` change what it verified.
    fn unverified_control(&self, s: &SignIn, plan: &JourneyPlan, values: &[(String, String)]) -> Option<String> {
        let (tp, pp) = self.page_plan(s, plan).ok()?;
        let changed = |dc: &ControlPlan| {
            dc.claims.iter().filter(|(_, own)| !own).any(|(id, _)| {
                let typed = values.iter().rev().find(|(k, _)| self.policy.claim_id(k) == Some(*id));
                let verified = s.bag.get(*id).map(ToString::to_string);
                typed.is_some_and(|(_, v)| Some(v.trim()) != verified.as_deref())
            })
        };
        let control = pp
            .controls
            .iter()
            .filter(|dc| dc.verification)
            .find(|dc| !s.verified_controls.contains(&format!("{}/{}", tp.id.value, dc.id)) || changed(dc))?;
        let env = self.policy_env(tp, &s.context.culture);
        Some(
            env.localized_string("DisplayControl", &control.id, "intro_msg")
                .unwrap_or_else(|| VERIFICATION_NEEDED.to_owned()),
        )
    }

    /// The waiting page again, with `error`.
    fn show_again(&self, s: &mut SignIn, mut page: Page, error: Option<String>) -> Progress {
        page.error = error;
        s.trace.push(TraceEvent::Page { profile: page.profile.clone(), error: page.error.clone() });
        let shown = page.shown();
        s.pending = Some(Pending::Profile { page });
        Progress::NeedsInput(shown)
    }

    /// The combined sign-in page's "Forgot your password?" link: `None` when the sign-in profile
    /// hides it (`setting.forgotPasswordLinkLocation=None`), else the exchange its
    /// `setting.forgotPasswordLinkOverride` names, if any.
    fn forgot_password_link(&self, plan: &JourneyPlan, s: &SignIn) -> Option<Option<String>> {
        let PlanNode::Step { selection: Some(sel), .. } = &plan.graph[s.position.node()] else { return None };
        let settings = &self.compiled.profiles[sel.sign_in.as_ref()?.profile?].page;
        if settings.forgot_password_link_location == ForgotPasswordLinkLocation::None {
            return None;
        }
        Some(settings.links.iter().find(|l| l.setting == FORGOT_PASSWORD_OVERRIDE).map(|l| l.target.clone()))
    }

    /// The journey and step order of the sign-in's position, for errors.
    fn position(&self, s: &SignIn) -> (String, u32) {
        let Ok(plan) = self.plan(s.position) else { return (String::new(), 0) };
        let order = plan.step_of(s.position.node()).and_then(|n| match &plan.graph[n] {
            PlanNode::Step { order, .. } => Some(*order),
            _ => None,
        });
        (plan.id.clone(), order.unwrap_or(0))
    }

    /// Records entering a node the sign-in passes through.
    fn visit(&self, s: &mut SignIn, at: PlanPosition) {
        if s.path.last() != Some(&at) {
            s.path.push(at);
        }
    }

    /// Moves the sign-in to a node.
    fn go(&self, s: &mut SignIn, to: PlanPosition) {
        s.position = to;
        self.visit(s, to);
    }

    /// Moves on from the current node, as the plan's edges lead once it is done.
    fn advance(&self, s: &mut SignIn) -> Result<(), ExecError> {
        let plan = self.plan(s.position)?;
        self.go(s, PlanPosition::new(plan.reference, plan.successor(s.position.node())));
        Ok(())
    }

    fn choice(&self, plan: &JourneyPlan, b: &Button) -> Choice {
        match b.target {
            Some(n) => Choice::Exchange(PlanPosition::new(plan.reference, n)),
            None => Choice::Unresolved(b.exchange.as_str().into()),
        }
    }

    fn finish_error(&self, s: &mut SignIn, code: &str, message: &str) -> Progress {
        s.finished = true;
        s.trace.push(TraceEvent::Failed { code: code.to_owned(), message: message.to_owned() });
        Progress::Finished(Outcome::Error { code: code.to_owned(), message: message.to_owned() })
    }

    async fn run(&self, s: &mut SignIn) -> Result<Progress, ExecError> {
        loop {
            let plan = self.plan(s.position)?;
            let node = s.position.node();
            let (order, step_type, conditions, selection) = match &plan.graph[node] {
                PlanNode::Start => {
                    self.advance(s)?;
                    continue;
                }
                PlanNode::End => {
                    // A called sub journey returns; the end of any other journey is an error.
                    if let Some(back) = s.stack.pop() {
                        self.go(s, back);
                        continue;
                    }
                    return Ok(self.finish_error(s, "AADB2C90000", "the journey ended without a SendClaims step"));
                }
                PlanNode::Step { order, step_type, conditions, selection, .. } => {
                    (*order, step_type, conditions, selection)
                }
                other => return Err(ExecError::Policy(format!("a journey cannot run from {other:?}"))),
            };
            if let Some(reason) = skip_reason(conditions, &s.bag) {
                s.trace.push(TraceEvent::Skipped { journey: plan.id.clone(), order, reason });
                // A choice made for this step is spent even when the step is skipped.
                if *step_type == StepType::ClaimsExchange {
                    s.chosen = None;
                }
                let over = plan.follow(node, |e| *e == PlanEdge::Skip).unwrap_or(plan.end);
                self.go(s, PlanPosition::new(plan.reference, over));
                continue;
            }
            s.trace.push(TraceEvent::Step {
                journey: plan.id.clone(),
                order,
                step_type: step_type
                    .known_name()
                    .map_or_else(|| Cow::Owned(step_type.as_str().to_owned()), Cow::Borrowed),
            });
            s.verified_controls.clear();
            match step_type {
                StepType::ClaimsProviderSelection | StepType::CombinedSignInAndSignUp => {
                    if let Some(page) = self.selection(s, plan, order, selection.as_deref())? {
                        return Ok(Progress::NeedsInput(page));
                    }
                }
                StepType::ClaimsExchange => {
                    if let Some(progress) = self.exchange(s, plan, node, order).await? {
                        return Ok(progress);
                    }
                }
                StepType::InvokeSubJourney => {
                    // The plan holds the first candidate only.
                    let Some(call) = plan.follow(node, |e| matches!(e, PlanEdge::Runs { .. })) else {
                        self.advance(s)?;
                        continue;
                    };
                    self.visit(s, PlanPosition::new(plan.reference, call));
                    let PlanNode::SubJourney { id, index, transfer } = &plan.graph[call] else {
                        return Err(ExecError::Policy(format!("step {order} calls no sub journey")));
                    };
                    let sub = index
                        .and_then(|i| self.compiled.sub_journeys.get(i))
                        .ok_or_else(|| ExecError::Policy(format!("no sub journey '{id}'")))?;
                    s.trace.push(TraceEvent::SubJourney { id: id.to_string(), transfer: *transfer });
                    if *transfer {
                        s.stack.clear();
                    } else {
                        s.stack.push(PlanPosition::new(plan.reference, plan.successor(call)));
                    }
                    self.go(s, PlanPosition::new(sub.reference, sub.start));
                    continue;
                }
                StepType::GetClaims => {
                    for c in self.compiled.relying_party.iter().flat_map(|rp| &rp.input_claims) {
                        let given = s.context.input_claims.iter().find(|(k, _)| *k == c.partner);
                        if let (Some(id), Some(value)) = (c.id, given.and_then(|(_, v)| c.typed(v))) {
                            s.bag.set(id, value);
                        }
                    }
                }
                StepType::SendClaims => {
                    let issuer = plan.follow(node, |e| matches!(e, PlanEdge::Runs { .. }));
                    let issuer = issuer.and_then(|n| {
                        self.visit(s, PlanPosition::new(plan.reference, n));
                        match &plan.graph[n] {
                            PlanNode::Issuer(r) => r.as_ref(),
                            _ => None,
                        }
                    });
                    return self.send_claims(s, order, issuer).await;
                }
                StepType::Other(t) => {
                    return Err(ExecError::Policy(format!("step type '{t}' is not supported yet (step {order})")));
                }
            }
            self.advance(s)?;
        }
    }

    /// A ClaimsExchange step: the exchange a selection chose (or its only one) runs.
    async fn exchange(
        &self,
        s: &mut SignIn,
        plan: &'p JourneyPlan,
        step: NodeIndex,
        order: u32,
    ) -> Result<Option<Progress>, ExecError> {
        let runs = || plan.graph.edges(step).filter(|e| matches!(e.weight(), PlanEdge::Runs { .. }));
        let chosen = s.chosen.take();
        let exchange = match (runs().count(), chosen) {
            (0, _) => return Ok(None),
            (1, _) => plan.follow(step, |e| matches!(e, PlanEdge::Runs { .. })),
            (_, Some(Choice::Exchange(at)))
                if at.journey == plan.reference
                    && runs().any(|e| petgraph::visit::EdgeRef::target(&e) == at.node()) =>
            {
                Some(at.node())
            }
            (_, Some(c)) => {
                let name = match &c {
                    Choice::Exchange(at) => match self.compiled.plan(at.journey).map(|p| &p.graph[at.node()]) {
                        Some(PlanNode::Exchange { id, .. }) => id.to_string(),
                        _ => String::new(),
                    },
                    Choice::Unresolved(name) => name.to_string(),
                };
                return Err(ExecError::Policy(format!(
                    "Claims exchange with id '{name}' could not be found in orchestration step '{order}' and the step contains more than one claims exchange"
                )));
            }
            (_, None) => {
                return Err(ExecError::Policy(format!(
                    "step {order} has several claims exchanges and no selection chose one"
                )));
            }
        };
        let Some(x) = exchange else { return Ok(None) };
        self.visit(s, PlanPosition::new(plan.reference, x));
        let PlanNode::Exchange { profile, .. } = &plan.graph[x] else { return Ok(None) };
        let p = profile.index.ok_or_else(|| not_defined(profile))?;
        if !self.compiled.profiles[p].enabled.holds(&s.bag) {
            s.trace.push(TraceEvent::Skipped {
                journey: plan.id.clone(),
                order,
                reason: format!("{} is not enabled for this journey", profile.id),
            });
            return Ok(None);
        }
        Ok(match self.run_profile(s, p, Invocation::Step, None, Some((plan, x))).await? {
            StepResult::Done => None,
            StepResult::Page(page) => {
                s.trace.push(TraceEvent::Page { profile: profile.id.to_string(), error: None });
                let shown = page.shown();
                s.pending = Some(Pending::Profile { page });
                Some(Progress::NeedsInput(shown))
            }
            StepResult::Failed(err) => Some(self.finish_error(s, &err.code, &err.user_message)),
        })
    }

    /// A selection page, or `None` when the choice is automatic (one option, or remembered).
    fn selection(
        &self,
        s: &mut SignIn,
        plan: &'p JourneyPlan,
        order: u32,
        selection: Option<&'p SelectionPlan>,
    ) -> Result<Option<Page>, ExecError> {
        let Some(sel) = selection else {
            return Err(ExecError::Policy(format!("step {order} has no plan of its selection")));
        };
        let enabled = |b: &Button| b.profile.is_none_or(|p| self.compiled.profiles[p].enabled.holds(&s.bag));
        let mut offered: Vec<&Button> = sel.buttons.iter().filter(|b| enabled(b)).collect();
        let sign_in = sel.sign_in.as_ref();
        let sign_in_profile = sign_in.and_then(|f| f.profile);
        let settings = sign_in_profile.map(|p| &self.compiled.profiles[p].page);
        if let Some(p) = sign_in_profile {
            // The combined page's sign-up link, unless setting.showSignupLink hides it.
            let sign_up = sign_in.and_then(|f| f.sign_up.as_ref());
            match sign_up {
                _ if settings.is_some_and(|s| !s.show_signup_link) => {
                    let hidden = match sign_up {
                        Some(SignUp::Button(i)) => Some(&sel.buttons[*i].exchange),
                        Some(SignUp::Link(link)) => Some(&link.exchange),
                        None => None,
                    };
                    offered.retain(|b| Some(&b.exchange) != hidden);
                }
                Some(SignUp::Button(i)) if !enabled(&sel.buttons[*i]) => offered.push(&sel.buttons[*i]),
                Some(SignUp::Link(link)) => offered.push(link),
                _ => {}
            }
            // Signed in earlier in this session: the page is not shown again.
            if self.restore_session(s, p) {
                return Ok(None);
            }
        }
        let remembered = offered.iter().find(|b| {
            b.profile.is_some_and(|p| {
                s.sso
                    .as_ref()
                    .is_some_and(|c| c.profiles.contains_key(self.policy.technical_profiles[p].id.value.as_str()))
            })
        });
        if let Some(b) = remembered {
            s.chosen = Some(self.choice(plan, b));
            return Ok(None);
        }
        if sign_in.is_none() && offered.len() == 1 && !sel.show_single {
            s.chosen = Some(self.choice(plan, offered[0]));
            return Ok(None);
        }
        let page = Page {
            profile: sign_in_profile
                .map(|p| self.policy.technical_profiles[p].id.value.to_string())
                .unwrap_or_default(),
            kind: PageKind::Selection {
                options: offered.iter().map(|b| b.exchange.clone()).collect(),
                sign_in: sign_in.map(|f| f.exchange.clone()),
            },
            error: None,
            profile_state: None,
            settings: Box::new(settings.cloned().unwrap_or_default()),
        };
        let choices = offered.iter().map(|b| self.choice(plan, b)).collect();
        s.trace.push(TraceEvent::Page { profile: format!("selection at step {order}"), error: None });
        s.pending = Some(Pending::Selection { choices, page: page.clone() });
        Ok(Some(page))
    }

    fn handler(&self, p: usize, invocation: Invocation) -> Result<&'p dyn ProfileHandler, ExecError> {
        let tp = &self.policy.technical_profiles[p];
        let route = self.routes.get(p).and_then(|r| {
            *r[invocation_slot(invocation)].get_or_init(|| {
                self.handlers.iter().position(|h| h.handles(tp, invocation)).and_then(|i| u16::try_from(i).ok())
            })
        });
        route.and_then(|h| self.handlers.get(usize::from(h))).map(|h| h.as_ref()).ok_or_else(|| {
            let protocol = tp
                .protocol
                .as_ref()
                .map(|p| p.handler_type().map_or_else(|| p.name.value.to_string(), str::to_owned))
                .unwrap_or_else(|| "no protocol".to_owned());
            ExecError::Unsupported { profile: tp.id.value.to_string(), protocol }
        })
    }

    /// A claim's value after its DefaultValue rules: `AlwaysUseDefaultValue` wins, otherwise the
    /// default only fills an absent value.
    fn with_default(&self, s: &SignIn, c: &ClaimPlan, current: Option<ClaimValue>) -> Option<ClaimValue> {
        let default = || match c.default.as_ref()? {
            DefaultValue::Value(v) => Some(v.clone()),
            DefaultValue::Resolved(text) => c.typed(&fill(text, self.policy, &s.bag, &s.context, self.env)),
        };
        if c.always_use_default
            && let Some(d) = default()
        {
            return Some(d);
        }
        current.or_else(default)
    }

    /// The shared services seen through the policy, for `tp` in the sign-in's culture.
    fn policy_env<'e>(&'e self, tp: &'e TechnicalProfile, culture: &'e str) -> super::env::PolicyEnv<'e> {
        super::env::PolicyEnv { inner: self.env, policy: self.policy, profile: Some(tp), culture }
    }

    fn run_transform(&self, s: &mut SignIn, tp: &TechnicalProfile, r: &Ref) -> Result<(), ProfileError> {
        let env = self.policy_env(tp, &s.context.culture);
        let Some(Some(t)) = r.index.map(|i| &self.compiled.transforms[i]) else {
            return Err(ProfileError {
                code: "ClaimsTransformationInvalid".to_owned(),
                user_message: format!("claims transformation '{}' does not compile", r.id),
            });
        };
        let mut bag = std::mem::take(&mut s.bag);
        let result = t.run(&mut bag, &env);
        s.bag = bag;
        result.map_err(|e| ProfileError {
            code: e.user_message_key.unwrap_or(e.code.as_str()).to_owned(),
            user_message: e.message.clone(),
        })
    }

    /// Restores a profile's session claims when SSO lets it be skipped: it took part in the
    /// session, and the session gives something back (claims its manager persisted, or the
    /// manager's constants). A profile whose session holds nothing (one without a session
    /// manager persists nothing) runs again, so skipping it never loses its claims.
    fn restore_session(&self, s: &mut SignIn, p: usize) -> bool {
        let sso = &self.compiled.profiles[p].sso;
        let tp = &self.policy.technical_profiles[p];
        if sso.noop {
            return false;
        }
        let Some(saved) = s.sso.as_ref().and_then(|c| c.profiles.get(tp.id.value.as_str())) else { return false };
        let restored: Vec<(ClaimId, ClaimValue)> = sso
            .persisted
            .iter()
            .filter_map(|(id, name)| saved.iter().find(|(n, _)| n == name).map(|(_, v)| (*id, v.clone())))
            .collect();
        if restored.is_empty() && sso.on_restore.is_empty() {
            return false;
        }
        for (id, v) in restored.into_iter().chain(sso.on_restore.iter().cloned()) {
            s.bag.set(id, v);
        }
        s.trace.push(TraceEvent::SessionRestored { profile: tp.id.value.to_string() });
        true
    }

    /// Writes a profile's persisted claims into the sign-in's session, beginning the session
    /// (and its `auth_time`) when there is none.
    fn remember_session(&self, s: &mut SignIn, p: usize) {
        let sso = &self.compiled.profiles[p].sso;
        // `IncludeInSso` concerns validation profiles, which never take part (B2C: "valid only in
        // SelfAsserted profiles used within a Validation technical profile").
        let rules = &self.compiled.session;
        if sso.noop || rules.scope == SsoScope::Suppressed {
            return;
        }
        let now = self.env.now();
        let kmsi = s.context.kmsi && rules.keep_alive_days > 0;
        // The key is made when the session begins, not held by every paused sign-in.
        let key = || self.sso_key(&s.context).unwrap_or_default();
        let cookie = s.sso.get_or_insert_with(|| SsoCookie {
            key: key(),
            profiles: HashMap::new(),
            auth_time: now,
            expires: now + rules.lifetime(kmsi),
            persistent: kmsi,
        });
        if kmsi {
            cookie.keep_alive(now, rules);
        }
        let persisted: Vec<(Box<str>, ClaimValue)> =
            sso.persisted.iter().filter_map(|(id, name)| Some((name.clone(), s.bag.get(*id)?.clone()))).collect();
        // Persisted claims are not rewritten later in the session; an entry that holds none yet
        // (the profile ran again) takes what it persists now.
        let entry = cookie.profiles.entry(self.policy.technical_profiles[p].id.value.to_string()).or_default();
        if entry.is_empty() {
            *entry = persisted;
        }
    }

    /// Records `node` of the journey being run, and rests the sign-in there when `rest`.
    fn at_node(&self, s: &mut SignIn, at: Option<(&JourneyPlan, NodeIndex)>, node: Option<NodeIndex>, rest: bool) {
        if let (Some((plan, _)), Some(n)) = (at, node) {
            let here = PlanPosition::new(plan.reference, n);
            if rest {
                self.go(s, here);
            } else {
                self.visit(s, here);
            }
        }
    }

    /// Runs one technical profile's pipeline: SSO, input transformations, input claims, the
    /// protocol, validation profiles, output claims and transformations, session write. `at` is
    /// the journey node it starts from (an exchange, or the profile whose page was answered);
    /// a validation profile has none and runs from its own plan.
    async fn run_profile(
        &self,
        s: &mut SignIn,
        p: usize,
        invocation: Invocation,
        answer: Option<(&Answer, Option<&serde_json::Value>)>,
        at: Option<(&'p JourneyPlan, NodeIndex)>,
    ) -> Result<StepResult, ExecError> {
        let (answer, profile_state) = (answer.map(|a| a.0), answer.and_then(|a| a.1));
        let tp = &self.policy.technical_profiles[p];
        let pp = &self.compiled.profiles[p];
        if invocation == Invocation::Step && answer.is_none() && self.restore_session(s, p) {
            return Ok(StepResult::Done);
        }
        let handler = self.handler(p, invocation)?;
        let mut stages = match at {
            Some((plan, node)) => Stages::Nodes { plan, next: Some(node) },
            None => Stages::Plan { profile: pp, at: 0 },
        };
        let mut applied = Vec::new();
        let mut shown_inputs = Vec::new();
        let mut before = None;
        let mut page_node = None;
        // A submitted page runs its validation profiles before anything is kept.
        let mut validating = answer.is_some();
        while let Some((stage, node)) = stages.next() {
            match stage {
                Stage::Input(_) if answer.is_some() => {}
                Stage::Input(r) => {
                    self.at_node(s, at, node, false);
                    if let Err(e) = self.run_transform(s, tp, r) {
                        return Ok(StepResult::Failed(e));
                    }
                    applied.push(r.id.to_string());
                }
                Stage::Profile => {
                    self.at_node(s, at, node, false);
                    page_node = node;
                    let inputs: Vec<InputClaim> = pp
                        .input_claims
                        .iter()
                        .map(|c| InputClaim {
                            claim: c.name.clone(),
                            partner: c.partner.clone(),
                            value: self.with_default(s, c, c.current(&s.bag).cloned()),
                            required: c.required,
                        })
                        .collect();
                    // As the trace shows them, so the request can own the inputs.
                    shown_inputs = self.shown(s, pp, &inputs);
                    let to_bag: Vec<(ClaimId, ClaimValue)> = if pp.inputs_to_bag {
                        pp.input_claims
                            .iter()
                            .zip(&inputs)
                            .filter_map(|(c, i)| Some((c.id?, i.value.clone()?)))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    // The profile's messages read the policy's localized strings too.
                    let env = self.policy_env(tp, &s.context.culture);
                    let services = Services { env: &env, extensions: self.extensions };
                    let request = ProfileRequest {
                        policy: self.policy,
                        profile: tp,
                        invocation,
                        inputs,
                        bag: &s.bag,
                        answer,
                        profile_state,
                        services: &services,
                        context: &s.context,
                        token_claims: &[],
                    };
                    let returned = match handler.execute(request).await {
                        ProfileResult::Claims(c) => c,
                        ProfileResult::NeedsInput(page) => {
                            self.at_node(s, at, page_node, true);
                            return Ok(StepResult::Page(Page { settings: Box::new(pp.page.clone()), ..page }));
                        }
                        ProfileResult::Failed(e) => {
                            s.trace.push(TraceEvent::Profile {
                                profile: tp.id.value.to_string(),
                                protocol: Cow::Borrowed(handler.name()),
                                invocation,
                                inputs: shown_inputs,
                                outputs: Vec::new(),
                                transformations: applied,
                                error: Some(e.user_message.clone()),
                            });
                            return Ok(StepResult::Failed(e));
                        }
                        ProfileResult::InvalidAnswer(message) => {
                            let (journey, order) = self.position(s);
                            return Err(ExecError::BadAnswer { journey, order, message });
                        }
                        ProfileResult::Replayed(error) => {
                            let (journey, order) = self.position(s);
                            return Err(ExecError::Replayed { journey, order, error });
                        }
                        ProfileResult::Unavailable(error) => {
                            let (journey, order) = self.position(s);
                            return Err(ExecError::Unavailable { journey, order, error });
                        }
                        ProfileResult::Token(_) => {
                            return Err(ExecError::Policy(format!(
                                "'{}' returned a token outside SendClaims",
                                tp.id.value
                            )));
                        }
                    };
                    before = Some(s.bag.clone());
                    for (id, value) in to_bag {
                        s.bag.set(id, value);
                    }
                    self.write_outputs(s, pp, &returned);
                }
                Stage::Validation(v) => {
                    if !validating {
                        continue;
                    }
                    match self.validate(s, tp, v, at, node).await? {
                        Validated::Next => {}
                        Validated::Stop => validating = false,
                        Validated::Failed(message) => {
                            if let Some(before) = before.take() {
                                s.bag = before;
                            }
                            let settings = &pp.page;
                            let page = Page {
                                profile: tp.id.value.to_string(),
                                kind: PageKind::Form { fields: Vec::new() },
                                error: Some(message),
                                // The same page again, so it keeps its state.
                                profile_state: profile_state.map(|v| Box::new(v.clone())),
                                settings: Box::new(settings.clone()),
                            };
                            // setting.retryLimit: that many failed tries end the journey.
                            let tries = s.failed_tries.entry(p).or_default();
                            *tries += 1;
                            if settings.retry_limit.is_some_and(|limit| *tries >= limit) {
                                return Ok(StepResult::Failed(ProfileError {
                                    code: RETRY_LIMIT_CODE.to_owned(),
                                    user_message: RETRY_LIMIT_MESSAGE.to_owned(),
                                }));
                            }
                            // Back to the page.
                            self.at_node(s, at, page_node, true);
                            return Ok(StepResult::Page(page));
                        }
                    }
                }
                Stage::Output(r) => {
                    self.at_node(s, at, node, false);
                    if let Err(e) = self.run_transform(s, tp, r) {
                        if invocation == Invocation::Validation || answer.is_some() {
                            let user_message = self.page_message(s, tp, tp, &e);
                            return Ok(StepResult::Failed(ProfileError { user_message, ..e }));
                        }
                        return Ok(StepResult::Failed(e));
                    }
                    applied.push(r.id.to_string());
                }
            }
        }
        let before = before.unwrap_or_default();
        let secrets = self.secrets(&s.bag);
        // What this profile and its transformations changed.
        let outputs: Vec<(String, String)> = s
            .bag
            .iter()
            .filter(|(id, v)| before.get(*id) != Some(*v))
            .filter_map(|(id, v)| {
                let ct = self.policy.claim_types.get(id.index())?;
                Some((ct.id.value.to_string(), hide_copies(&secrets, redacted(ct.is_secret(), v))))
            })
            .collect();
        s.trace.push(TraceEvent::Profile {
            profile: tp.id.value.to_string(),
            protocol: Cow::Borrowed(handler.name()),
            invocation,
            inputs: shown_inputs,
            outputs,
            transformations: applied,
            error: None,
        });
        if invocation == Invocation::Step {
            // Password claims stay on their page.
            for &id in &pp.page_only {
                s.bag.remove(id);
            }
            self.remember_session(s, p);
        }
        Ok(StepResult::Done)
    }

    /// One validation profile of the page `page`, on its submit or a display control's action:
    /// skipped by its preconditions, else run (recorded at `node` of the journey `at`, when given).
    /// A failure without ContinueOnError is traced and worded as the page words it.
    async fn validate(
        &self,
        s: &mut SignIn,
        page: &TechnicalProfile,
        v: &ValidationRef,
        at: Option<(&JourneyPlan, NodeIndex)>,
        node: Option<NodeIndex>,
    ) -> Result<Validated, ExecError> {
        if skip_reason(&v.conditions, &s.bag).is_some() {
            return Ok(Validated::Next);
        }
        self.at_node(s, at, node, false);
        let vp = v.profile.index.ok_or_else(|| not_defined(&v.profile))?;
        Ok(match self.run_validation(s, vp).await? {
            StepResult::Done if v.continue_on_success => Validated::Next,
            StepResult::Done => Validated::Stop,
            StepResult::Page(_) => {
                return Err(ExecError::Policy(format!("validation profile '{}' asked for input", v.profile.id)));
            }
            StepResult::Failed(e) if !v.continue_on_error => {
                let message = self.page_message(s, page, &self.policy.technical_profiles[vp], &e);
                s.trace
                    .push(TraceEvent::ValidationFailed { profile: v.profile.id.to_string(), message: e.user_message });
                Validated::Failed(message)
            }
            StepResult::Failed(_) => Validated::Next,
        })
    }

    /// A validation profile's pipeline, boxed: it runs inside its page's own (and the page's
    /// pipeline is not boxed, so that a run allocates no future per profile).
    fn run_validation<'a>(
        &'a self,
        s: &'a mut SignIn,
        p: usize,
    ) -> super::BoxFuture<'a, Result<StepResult, ExecError>> {
        Box::pin(self.run_profile(s, p, Invocation::Validation, None, None))
    }

    /// A failure as the page `tp` words it: its metadata item named by the error's key, else
    /// the failing profile's own metadata item, else the page's localized `ErrorMessage` string
    /// (its content definition's, as B2C localizes a page), else the profile's message.
    fn page_message(&self, s: &SignIn, tp: &TechnicalProfile, failed: &TechnicalProfile, e: &ProfileError) -> String {
        let own = || failed.metadata(&e.code).map(|_| e.user_message.clone());
        let localized = || self.policy_env(tp, &s.context.culture).localized_string("ErrorMessage", "", &e.code);
        tp.metadata(&e.code)
            .map(str::to_owned)
            .or_else(own)
            .or_else(localized)
            .unwrap_or_else(|| e.user_message.clone())
    }

    fn write_outputs(&self, s: &mut SignIn, pp: &ProfilePlan, returned: &[(String, ClaimValue)]) {
        for c in &pp.output_claims {
            let Some(id) = c.id else { continue };
            let value = returned
                .iter()
                .find(|(k, _)| *k == c.partner)
                .or_else(|| returned.iter().find(|(k, _)| k.eq_ignore_ascii_case(&c.name)))
                .map(|(_, v)| coerce(c, v.clone()));
            if let Some(v) = self.with_default(s, c, value) {
                s.bag.set(id, v);
            }
        }
    }

    fn shown(&self, s: &SignIn, pp: &ProfilePlan, inputs: &[InputClaim]) -> Vec<(String, String)> {
        let secrets = self.secrets(&s.bag);
        pp.input_claims
            .iter()
            .zip(inputs)
            .filter_map(|(c, i)| Some((i.claim.clone(), hide_copies(&secrets, redacted(c.secret, i.value.as_ref()?)))))
            .collect()
    }

    /// The bag's secret values long enough to hide where they are copied; read once per trace
    /// event, not once per value shown.
    fn secrets<'b>(&self, bag: &'b ClaimsBag) -> Vec<Cow<'b, str>> {
        bag.iter()
            .filter(|(id, _)| self.policy.claim_types.get(id.index()).is_some_and(crate::model::ClaimType::is_secret))
            .map(|(_, v)| text(v))
            .filter(|v| v.chars().count() >= MIN_HIDDEN_LEN)
            .collect()
    }

    async fn send_claims(&self, s: &mut SignIn, order: u32, issuer: Option<&'p Ref>) -> Result<Progress, ExecError> {
        let issuer = issuer.ok_or_else(|| ExecError::Policy(format!("SendClaims step {order} names no issuer")))?;
        let p = issuer.index.ok_or_else(|| not_defined(issuer))?;
        let rp = self
            .compiled
            .relying_party
            .as_ref()
            .ok_or_else(|| ExecError::Policy("the policy has no relying party technical profile".to_owned()))?;
        let mut claims = Vec::with_capacity(rp.output_claims.len() + 1);
        let mut shown = Vec::with_capacity(rp.output_claims.len());
        for c in &rp.output_claims {
            if let Some(v) = self.with_default(s, c, c.current(&s.bag).cloned()) {
                shown.push((c.partner.clone(), redacted(c.secret, &v)));
                claims.push((c.partner.clone(), v));
            }
        }
        let handler = self.handler(p, Invocation::Issuer)?;
        let services = Services { env: self.env, extensions: self.extensions };
        // The session's sign-in time is the token's auth_time, unless the relying party sets one;
        // the token's claims are the relying party's and that one.
        let relying_party_claims = claims.len();
        if let Some(cookie) = &s.sso
            && !claims.iter().any(|(k, _)| k == "auth_time")
        {
            claims.push(("auth_time".to_owned(), ClaimValue::date_time(cookie.auth_time)));
        }
        let request = ProfileRequest {
            policy: self.policy,
            profile: &self.policy.technical_profiles[p],
            invocation: Invocation::Issuer,
            inputs: Vec::new(),
            bag: &s.bag,
            answer: None,
            profile_state: None,
            services: &services,
            context: &s.context,
            token_claims: &claims,
        };
        let result = handler.execute(request).await;
        claims.truncate(relying_party_claims);
        match result {
            ProfileResult::Token(token) => {
                s.finished = true;
                s.trace.push(TraceEvent::Issued { profile: issuer.id.to_string(), claims: shown });
                Ok(Progress::Finished(Outcome::Token { token, claims }))
            }
            ProfileResult::Failed(e) => Ok(self.finish_error(s, &e.code, &e.user_message)),
            _ => Err(ExecError::Policy(format!("issuer '{}' did not produce a token", issuer.id))),
        }
    }
}

/// A secret of the bag copied into another claim (a one-time code in an email request's body,
/// an app's secret in a QR code's URI) is hidden there too.
fn hide_copies(secrets: &[Cow<'_, str>], text: String) -> String {
    secrets.iter().fold(text, |t, secret| if t.contains(&**secret) { t.replace(&**secret, "[redacted]") } else { t })
}

/// Converts a partner's value to the ClaimType's DataType where it differs.
fn coerce(c: &ClaimPlan, value: ClaimValue) -> ClaimValue {
    let Some(target) = c.data_type else { return value };
    if value.data_type() == target {
        return value;
    }
    ClaimValue::from_json(target, &value.to_json()).unwrap_or(value)
}

fn describe_answer(answer: &Answer, policy: &Policy) -> String {
    match answer {
        Answer::Choose(id) => format!("choose {id}"),
        Answer::Submit(values) => {
            let mut text = "submit ".to_owned();
            for (i, (k, v)) in values.iter().enumerate() {
                let v = if is_secret(policy, k) { "[redacted]" } else { v };
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(text, "{sep}{k}={v}");
            }
            text
        }
        Answer::Code(_) => "enter a code".to_owned(),
        Answer::Callback(params) => {
            format!("callback with {}", params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "))
        }
        Answer::Cancel => "cancel".to_owned(),
        Answer::Action { control, action, values } => {
            let names: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
            format!("press {control} {action} ({})", names.join(", "))
        }
    }
}
