//! The step loop. A `SignIn` holds all per-sign-in state; `Executor::resume` advances it until
//! the journey needs the user or ends. Nothing here assumes a headless driver.

use std::collections::HashMap;

use ief_transforms::{ClaimId, ClaimValue, ClaimsBag, DataType, TransformEnv};

use super::handler::{
    Answer, Extensions, InputClaim, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest,
    ProfileResult, RequestContext, Services, Token,
};
use super::resolve::{has_resolver, resolve};
use super::trace::{TraceEvent, is_secret, redact};
use crate::model::{ClaimRef, JourneyKind, Policy, PreconditionType, Step, StepType, TechnicalProfile};
use crate::plan::CompiledPolicy;

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
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// SendClaims ran: the token and the relying party's claims by partner name.
    Token { token: Token, claims: Vec<(String, ClaimValue)> },
    /// The journey ended with an error to the application.
    Error { code: String, message: String },
}

/// Where a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    NeedsInput(Page),
    Finished(Outcome),
}

/// What a browser session remembers across sign-ins: claims persisted by session managers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    /// Per technical profile that took part: the claims its session manager persisted.
    profiles: HashMap<String, Vec<(ClaimId, ClaimValue)>>,
}

impl Session {
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Profiles remembered, sorted (traces and tests).
    pub fn profiles(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

#[derive(Debug, Clone)]
struct Frame {
    journey: String,
    kind: JourneyKind,
    step: usize,
}

#[derive(Debug, Clone)]
enum Pending {
    Selection { options: Vec<String>, sign_in: Option<String>, page: Page },
    Profile { profile: String, exchange: Option<String>, page: Page },
}

/// One sign-in in progress.
#[derive(Debug)]
pub struct SignIn {
    frames: Vec<Frame>,
    bag: ClaimsBag,
    chosen: Option<String>,
    pending: Option<Pending>,
    finished: bool,
    session: Session,
    pub context: RequestContext,
    pub trace: Vec<TraceEvent>,
}

impl SignIn {
    pub fn claims(&self) -> &ClaimsBag {
        &self.bag
    }

    pub fn into_session(self) -> Session {
        self.session
    }
}

/// Runs journeys of one compiled policy with a set of protocol handlers.
pub struct Executor<'p> {
    pub policy: &'p Policy,
    pub compiled: &'p CompiledPolicy,
    handlers: &'p [Box<dyn ProfileHandler>],
    env: &'p (dyn TransformEnv + Sync),
    extensions: &'p Extensions,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("policy", &self.policy.policy_id).finish_non_exhaustive()
    }
}

/// A step's exchange finished, needs the user, or failed.
enum StepResult {
    Done,
    Page(Page),
    Failed(ProfileError),
}

impl<'p> Executor<'p> {
    pub fn new(
        policy: &'p Policy,
        compiled: &'p CompiledPolicy,
        handlers: &'p [Box<dyn ProfileHandler>],
        env: &'p (dyn TransformEnv + Sync),
        extensions: &'p Extensions,
    ) -> Executor<'p> {
        Executor { policy, compiled, handlers, env, extensions }
    }

    /// Starts a sign-in of `journey` (the relying party's DefaultUserJourney when `None`).
    pub fn start(&self, journey: Option<&str>, context: RequestContext, session: Session) -> Result<SignIn, ExecError> {
        let id = journey
            .or_else(|| self.policy.default_journey())
            .ok_or_else(|| ExecError::Policy("the policy has no DefaultUserJourney".to_owned()))?
            .to_owned();
        if self.policy.journey(&id).is_none() {
            return Err(ExecError::Policy(format!("no user journey '{id}'")));
        }
        Ok(SignIn {
            frames: vec![Frame { journey: id, kind: JourneyKind::UserJourney, step: 0 }],
            bag: ClaimsBag::with_capacity(self.policy.claim_types.len()),
            chosen: None,
            pending: None,
            finished: false,
            session,
            context,
            trace: Vec::new(),
        })
    }

    /// Advances the sign-in: `answer` answers the page the last call returned.
    pub async fn resume(&self, s: &mut SignIn, answer: Option<Answer>) -> Result<Progress, ExecError> {
        if s.finished {
            return Err(ExecError::Finished);
        }
        if let Some(pending) = s.pending.take() {
            let Some(answer) = answer else {
                let page = match &pending {
                    Pending::Selection { page, .. } | Pending::Profile { page, .. } => page.shown(),
                };
                s.pending = Some(pending);
                return Ok(Progress::NeedsInput(page));
            };
            s.trace.push(TraceEvent::Answered { answer: describe_answer(&answer, self.policy) });
            // A wrong answer leaves the page waiting for a right one.
            match self.answer(s, pending.clone(), answer).await {
                Ok(Some(progress)) => return Ok(progress),
                Ok(None) => self.advance(s),
                Err(e) => {
                    s.pending = Some(pending);
                    return Err(e);
                }
            }
        }
        self.run(s).await
    }

    async fn answer(&self, s: &mut SignIn, pending: Pending, answer: Answer) -> Result<Option<Progress>, ExecError> {
        let (journey, order) = self.position(s);
        match (pending, answer) {
            (Pending::Selection { .. } | Pending::Profile { .. }, Answer::Cancel) => {
                Ok(Some(self.finish_error(s, "AADB2C90091", "The user has cancelled the operation.")))
            }
            (Pending::Selection { options, .. }, Answer::Choose(id)) => {
                if !options.contains(&id) {
                    return Err(ExecError::BadAnswer {
                        journey,
                        order,
                        message: format!("there is no button '{id}'; the page offers: {}", options.join(", ")),
                    });
                }
                s.chosen = Some(id);
                Ok(None)
            }
            (Pending::Selection { sign_in: Some(exchange), .. }, answer @ Answer::Submit(_)) => {
                let profile = self.exchange_profile(s, &exchange)?;
                self.run_page_answer(s, &profile, Some(exchange), answer, None).await
            }
            (Pending::Profile { profile, exchange, page }, answer) => {
                // Links on a self-asserted page pick the exchange the next step runs.
                if let Answer::Choose(target) = &answer {
                    let tp = self.profile(&profile)?;
                    let links: Vec<&str> = ["SignUpTarget", "setting.forgotPasswordLinkOverride"]
                        .iter()
                        .filter_map(|k| tp.metadata(k))
                        .collect();
                    if links.contains(&target.as_str()) {
                        s.chosen = Some(target.clone());
                        return Ok(None);
                    }
                    let message = if links.is_empty() {
                        format!(
                            "the page of '{profile}' is a form without links; answer it with `submit`, not `choose: {target}`"
                        )
                    } else {
                        format!("the page of '{profile}' has no link '{target}' (links: {})", links.join(", "))
                    };
                    return Err(ExecError::BadAnswer { journey, order, message });
                }
                self.run_page_answer(s, &profile, exchange, answer, page.profile_state).await
            }
            (Pending::Selection { options, .. }, other) => Err(ExecError::BadAnswer {
                journey,
                order,
                message: format!(
                    "a selection page needs a choice of {}, not {}",
                    options.join(", "),
                    describe_answer(&other, self.policy)
                ),
            }),
        }
    }

    async fn run_page_answer(
        &self,
        s: &mut SignIn,
        profile: &str,
        exchange: Option<String>,
        answer: Answer,
        profile_state: Option<Box<serde_json::Value>>,
    ) -> Result<Option<Progress>, ExecError> {
        let tp = self.profile(profile)?;
        match self.run_profile(s, tp, Invocation::Step, Some((&answer, profile_state.as_deref()))).await? {
            StepResult::Done => Ok(None),
            StepResult::Page(page) => {
                s.trace.push(TraceEvent::Page { profile: profile.to_owned(), error: page.error.clone() });
                let shown = page.shown();
                s.pending = Some(Pending::Profile { profile: profile.to_owned(), exchange, page });
                Ok(Some(Progress::NeedsInput(shown)))
            }
            StepResult::Failed(e) => Ok(Some(self.finish_error(s, &e.code, &e.user_message))),
        }
    }

    fn position(&self, s: &SignIn) -> (String, u32) {
        match s.frames.last() {
            Some(f) => {
                let order = self.steps(f).get(f.step).map_or(0, |st| st.order);
                (f.journey.clone(), order)
            }
            None => (String::new(), 0),
        }
    }

    fn steps(&self, f: &Frame) -> &'p [Step] {
        let j = match f.kind {
            JourneyKind::UserJourney => self.policy.journey(&f.journey),
            _ => self.policy.sub_journey(&f.journey),
        };
        j.map_or(&[], |j| j.steps.as_slice())
    }

    fn advance(&self, s: &mut SignIn) {
        if let Some(f) = s.frames.last_mut() {
            f.step += 1;
        }
    }

    fn profile(&self, id: &str) -> Result<&'p TechnicalProfile, ExecError> {
        self.policy.profile(id).ok_or_else(|| ExecError::Policy(format!("technical profile '{id}' is not defined")))
    }

    fn exchange_profile(&self, s: &SignIn, exchange: &str) -> Result<String, ExecError> {
        let f = s.frames.last().ok_or(ExecError::Finished)?;
        self.steps(f)
            .iter()
            .flat_map(|st| &st.exchanges)
            .find(|e| e.id.value == exchange)
            .map(|e| e.profile.value.clone())
            .ok_or_else(|| ExecError::Policy(format!("claims exchange '{exchange}' is not in the journey")))
    }

    fn finish_error(&self, s: &mut SignIn, code: &str, message: &str) -> Progress {
        s.finished = true;
        s.trace.push(TraceEvent::Failed { code: code.to_owned(), message: message.to_owned() });
        Progress::Finished(Outcome::Error { code: code.to_owned(), message: message.to_owned() })
    }

    async fn run(&self, s: &mut SignIn) -> Result<Progress, ExecError> {
        loop {
            let Some(frame) = s.frames.last().cloned() else {
                return Ok(self.finish_error(s, "AADB2C90000", "the journey ended without a SendClaims step"));
            };
            let steps = self.steps(&frame);
            let Some(step) = steps.get(frame.step) else {
                s.frames.pop();
                if frame.kind == JourneyKind::SubJourneyCall {
                    self.advance(s);
                    continue;
                }
                return Ok(self.finish_error(s, "AADB2C90000", "the journey ended without a SendClaims step"));
            };
            if let Some(reason) = self.skip_reason(s, &step.preconditions) {
                s.trace.push(TraceEvent::Skipped { journey: frame.journey.clone(), order: step.order, reason });
                // A choice made for this step is spent even when the step is skipped.
                if step.step_type == StepType::ClaimsExchange {
                    s.chosen = None;
                }
                self.advance(s);
                continue;
            }
            s.trace.push(TraceEvent::Step {
                journey: frame.journey.clone(),
                order: step.order,
                step_type: step.step_type.as_str().to_owned(),
            });
            match &step.step_type {
                StepType::ClaimsProviderSelection | StepType::CombinedSignInAndSignUp => {
                    if let Some(page) = self.selection(s, &frame, step)? {
                        return Ok(Progress::NeedsInput(page));
                    }
                }
                StepType::ClaimsExchange => {
                    let exchange = match (step.exchanges.len(), s.chosen.take()) {
                        (0, _) => None,
                        (1, _) => step.exchanges.first(),
                        (_, Some(c)) => Some(step.exchanges.iter().find(|e| e.id.value == c).ok_or_else(|| {
                            ExecError::Policy(format!(
                                "Claims exchange with id '{c}' could not be found in orchestration step '{}' and the step contains more than one claims exchange",
                                step.order
                            ))
                        })?),
                        (_, None) => {
                            return Err(ExecError::Policy(format!(
                                "step {} has several claims exchanges and no selection chose one",
                                step.order
                            )));
                        }
                    };
                    if let Some(e) = exchange {
                        let tp = self.profile(&e.profile.value)?;
                        if !self.enabled(s, tp) {
                            s.trace.push(TraceEvent::Skipped {
                                journey: frame.journey.clone(),
                                order: step.order,
                                reason: format!("{} is not enabled for this journey", tp.id.value),
                            });
                        } else {
                            match self.run_profile(s, tp, Invocation::Step, None).await? {
                                StepResult::Done => {}
                                StepResult::Page(page) => {
                                    s.trace.push(TraceEvent::Page { profile: tp.id.value.clone(), error: None });
                                    let shown = page.shown();
                                    s.pending = Some(Pending::Profile {
                                        profile: tp.id.value.clone(),
                                        exchange: Some(e.id.value.clone()),
                                        page,
                                    });
                                    return Ok(Progress::NeedsInput(shown));
                                }
                                StepResult::Failed(err) => {
                                    return Ok(self.finish_error(s, &err.code, &err.user_message));
                                }
                            }
                        }
                    }
                }
                StepType::InvokeSubJourney => {
                    let Some(target) = step.sub_journeys.first() else {
                        self.advance(s);
                        continue;
                    };
                    let sub = self
                        .policy
                        .sub_journey(&target.value)
                        .ok_or_else(|| ExecError::Policy(format!("no sub journey '{}'", target.value)))?;
                    s.trace.push(TraceEvent::SubJourney {
                        id: sub.id.value.clone(),
                        transfer: sub.kind == JourneyKind::SubJourneyTransfer,
                    });
                    if sub.kind == JourneyKind::SubJourneyTransfer {
                        s.frames.clear();
                    }
                    s.frames.push(Frame { journey: sub.id.value.clone(), kind: sub.kind, step: 0 });
                    continue;
                }
                StepType::GetClaims => {
                    let inputs = self.policy.relying_party.as_ref().and_then(|rp| rp.technical_profile.as_ref());
                    for ic in inputs.map_or(&[][..], |tp| tp.input_claims.as_slice()) {
                        let partner = ic.partner_claim_type.as_ref().map_or(ic.claim.as_str(), |p| p.as_str());
                        let given = s.context.input_claims.iter().find(|(k, _)| k == partner).map(|(_, v)| v.clone());
                        if let Some(v) = given {
                            self.set_text(s, &ic.claim.value, &v);
                        }
                    }
                }
                StepType::SendClaims => return self.send_claims(s, &frame, step).await,
                StepType::Other(t) => {
                    return Err(ExecError::Policy(format!(
                        "step type '{t}' is not supported yet (step {})",
                        step.order
                    )));
                }
            }
            self.advance(s);
        }
    }

    /// A selection page, or `None` when the choice is automatic (one option, or remembered).
    fn selection(&self, s: &mut SignIn, frame: &Frame, step: &Step) -> Result<Option<Page>, ExecError> {
        let steps = self.steps(frame);
        let next = steps.get(frame.step + 1);
        let mut options = Vec::new();
        for sel in &step.selections {
            let Some(target) = &sel.target else { continue };
            let tp = next
                .and_then(|n| n.exchanges.iter().find(|e| e.id.value == target.value))
                .and_then(|e| self.policy.profile(&e.profile.value));
            if tp.is_none_or(|tp| self.enabled(s, tp)) {
                options.push(target.value.clone());
            }
        }
        let sign_in = step.selections.iter().find_map(|sel| sel.validation.as_ref()).map(|v| v.value.clone());
        let sign_in_profile = sign_in
            .as_ref()
            .and_then(|x| step.exchanges.iter().find(|e| e.id.value == *x))
            .and_then(|e| self.policy.profile(&e.profile.value));
        if let Some(tp) = sign_in_profile {
            // The combined page's sign-up link.
            if let Some(t) = tp.metadata("SignUpTarget")
                && !options.iter().any(|o| o == t)
            {
                options.push(t.to_owned());
            }
            // Signed in earlier in this session: the page is not shown again.
            if self.restore_session(s, tp) {
                return Ok(None);
            }
        }
        if let Some(remembered) = options.iter().find(|o| {
            next.and_then(|n| n.exchanges.iter().find(|e| e.id.value == **o))
                .is_some_and(|e| s.session.profiles.contains_key(&e.profile.value))
        }) {
            s.chosen = Some(remembered.clone());
            return Ok(None);
        }
        let single = step.display_option.as_deref() != Some("ShowSingleProvider");
        if sign_in.is_none() && options.len() == 1 && single {
            s.chosen = options.pop();
            return Ok(None);
        }
        let page = Page {
            profile: sign_in_profile.map(|t| t.id.value.clone()).unwrap_or_default(),
            kind: PageKind::Selection { options: options.clone(), sign_in: sign_in.clone() },
            error: None,
            profile_state: None,
        };
        s.trace.push(TraceEvent::Page { profile: format!("selection at step {}", step.order), error: None });
        s.pending = Some(Pending::Selection { options, sign_in, page: page.clone() });
        Ok(Some(page))
    }

    /// The first satisfied precondition, described; `None` when the step runs.
    fn skip_reason(&self, s: &SignIn, preconditions: &[crate::model::Precondition]) -> Option<String> {
        for p in preconditions {
            let Some(claim) = p.values.first() else { continue };
            let value = self.policy.claim_id(&claim.value).and_then(|id| s.bag.get(id));
            let condition = match p.kind {
                PreconditionType::ClaimsExist => value.is_some(),
                PreconditionType::ClaimEquals => {
                    // A missing claim makes ClaimEquals neither skip nor run, whatever ExecuteActionsIf says.
                    let (Some(v), Some(expected)) = (value, p.values.get(1)) else { continue };
                    v.to_string() == expected.value
                }
                PreconditionType::Other(_) => continue,
            };
            if condition == p.execute_actions_if {
                let expected = p.values.get(1).map_or("", |v| v.as_str());
                return Some(match (&p.kind, p.execute_actions_if) {
                    (PreconditionType::ClaimEquals, true) => format!("{} == {expected}", claim.value),
                    (PreconditionType::ClaimEquals, false) => format!("{} != {expected}", claim.value),
                    (_, true) => format!("{} exists", claim.value),
                    (_, false) => format!("{} does not exist", claim.value),
                });
            }
        }
        None
    }

    /// `EnabledForUserJourneys` with its claim conditions.
    fn enabled(&self, s: &SignIn, tp: &TechnicalProfile) -> bool {
        let Some(mode) = &tp.enabled_for_user_journeys else { return true };
        let claim =
            tp.metadata("ClaimTypeOnWhichToEnable").and_then(|c| self.policy.claim_id(c)).and_then(|id| s.bag.get(id));
        let expected = tp.metadata("ClaimValueOnWhichToEnable");
        match mode.value.trim() {
            "Never" | "false" | "False" => false,
            "OnClaimsExistence" => match (claim, expected) {
                (Some(v), Some(e)) => v.to_string() == e,
                (Some(_), None) => true,
                _ => false,
            },
            "OnItemExistenceInStringCollectionClaim" => claim
                .and_then(ClaimValue::as_collection)
                .is_some_and(|c| expected.is_some_and(|e| c.iter().any(|i| i == e))),
            "OnItemAbsenceInStringCollectionClaim" => !claim
                .and_then(ClaimValue::as_collection)
                .is_some_and(|c| expected.is_some_and(|e| c.iter().any(|i| i == e))),
            _ => true,
        }
    }

    fn handler(&self, tp: &TechnicalProfile, invocation: Invocation) -> Result<&'p dyn ProfileHandler, ExecError> {
        self.handlers.iter().find(|h| h.handles(tp, invocation)).map(|h| h.as_ref()).ok_or_else(|| {
            let protocol = tp
                .protocol
                .as_ref()
                .map(|p| p.handler_type().map_or_else(|| p.name.value.clone(), str::to_owned))
                .unwrap_or_else(|| "no protocol".to_owned());
            ExecError::Unsupported { profile: tp.id.value.clone(), protocol }
        })
    }

    fn partner_name<'a>(&self, tp: &'a TechnicalProfile, c: &'a ClaimRef) -> String {
        self.policy.partner_name(tp, c)
    }

    /// A DefaultValue, with resolvers filled when the profile allows it.
    fn default_value(&self, s: &SignIn, tp: &TechnicalProfile, c: &ClaimRef, relying_party: bool) -> Option<String> {
        let d = c.default_value.as_ref()?;
        let allowed = c.always_use_default_value
            && (relying_party
                || tp.metadata("IncludeClaimResolvingInClaimsHandling").and_then(ief_transforms::value::parse_bool)
                    == Some(true));
        Some(if allowed && has_resolver(&d.value) {
            resolve(&d.value, self.policy, &s.bag, &s.context, self.env)
        } else {
            d.value.clone()
        })
    }

    /// A claim's value after its DefaultValue rules: `AlwaysUseDefaultValue` wins, otherwise the
    /// default only fills an absent value.
    fn with_default(
        &self,
        s: &SignIn,
        tp: &TechnicalProfile,
        c: &ClaimRef,
        current: Option<ClaimValue>,
        relying_party: bool,
    ) -> Option<ClaimValue> {
        match (current, self.default_value(s, tp, c, relying_party)) {
            (_, Some(d)) if c.always_use_default_value => self.typed(&c.claim.value, &d).map(|(_, v)| v),
            (Some(v), _) => Some(v),
            (None, Some(d)) => self.typed(&c.claim.value, &d).map(|(_, v)| v),
            (None, None) => None,
        }
    }

    fn typed(&self, claim: &str, text: &str) -> Option<(ClaimId, ClaimValue)> {
        let id = self.policy.claim_id(claim)?;
        let data_type = self.policy.claim(claim).and_then(|c| c.data_type).unwrap_or(DataType::String);
        let value = ClaimValue::parse(data_type, text).unwrap_or_else(|_| ClaimValue::String(text.to_owned()));
        Some((id, value))
    }

    fn set_text(&self, s: &mut SignIn, claim: &str, text: &str) {
        if let Some((id, v)) = self.typed(claim, text) {
            s.bag.set(id, v);
        }
    }

    fn run_transforms(
        &self,
        s: &mut SignIn,
        tp: &TechnicalProfile,
        refs: &[crate::model::Text],
        applied: &mut Vec<String>,
    ) -> Result<(), ProfileError> {
        for r in refs {
            let env = super::env::PolicyEnv {
                inner: self.env,
                policy: self.policy,
                profile: Some(tp),
                culture: &s.context.culture,
            };
            let index = self.policy.transformations.iter().position(|t| t.id.value == r.value);
            let Some(Some(t)) = index.map(|i| &self.compiled.transforms[i]) else {
                return Err(ProfileError {
                    code: "ClaimsTransformationInvalid".to_owned(),
                    user_message: format!("claims transformation '{}' does not compile", r.value),
                });
            };
            let mut bag = std::mem::take(&mut s.bag);
            let result = t.run(&mut bag, &env);
            s.bag = bag;
            result.map_err(|e| ProfileError {
                code: e.user_message_key.unwrap_or(e.code.as_str()).to_owned(),
                user_message: e.message.clone(),
            })?;
            applied.push(r.value.clone());
        }
        Ok(())
    }

    /// Restores a profile's session claims when SSO lets it be skipped.
    fn restore_session(&self, s: &mut SignIn, tp: &TechnicalProfile) -> bool {
        let Some(saved) = s.session.profiles.get(&tp.id.value).cloned() else { return false };
        let manager = tp.session_management.as_ref().and_then(|m| self.policy.profile(&m.value));
        let kind = manager.and_then(|m| m.protocol.as_ref()).and_then(|p| p.handler_type());
        if matches!(kind, Some("NoopSSOSessionProvider")) {
            return false;
        }
        for (id, v) in saved {
            s.bag.set(id, v);
        }
        // Constants a session manager adds on restore (objectIdFromSession).
        if let Some(m) = manager {
            for oc in &m.output_claims {
                if let Some(d) = &oc.default_value {
                    self.set_text(s, &oc.claim.value, &d.value);
                }
            }
        }
        s.trace.push(TraceEvent::SessionRestored { profile: tp.id.value.clone() });
        true
    }

    fn remember_session(&self, s: &mut SignIn, tp: &TechnicalProfile) {
        if tp.include_in_sso == Some(false) {
            return;
        }
        let manager = tp.session_management.as_ref().and_then(|m| self.policy.profile(&m.value));
        if manager.and_then(|m| m.protocol.as_ref()).and_then(|p| p.handler_type()) == Some("NoopSSOSessionProvider") {
            return;
        }
        let persisted: Vec<(ClaimId, ClaimValue)> = manager
            .map(|m| m.persisted_claims.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                let id = self.policy.claim_id(&c.claim.value)?;
                Some((id, s.bag.get(id)?.clone()))
            })
            .collect();
        s.session.profiles.insert(tp.id.value.clone(), persisted);
    }

    /// Runs one technical profile's pipeline: SSO, input transformations, input claims, the
    /// protocol, validation profiles, output claims and transformations, session write.
    fn run_profile<'a>(
        &'a self,
        s: &'a mut SignIn,
        tp: &'p TechnicalProfile,
        invocation: Invocation,
        answer: Option<(&'a Answer, Option<&'a serde_json::Value>)>,
    ) -> super::BoxFuture<'a, Result<StepResult, ExecError>> {
        let (answer, profile_state) = (answer.map(|a| a.0), answer.and_then(|a| a.1));
        Box::pin(async move {
            if invocation == Invocation::Step && answer.is_none() && self.restore_session(s, tp) {
                return Ok(StepResult::Done);
            }
            let handler = self.handler(tp, invocation)?;
            let mut applied = Vec::new();
            if answer.is_none()
                && let Err(e) = self.run_transforms(s, tp, &tp.input_transformations, &mut applied)
            {
                return Ok(StepResult::Failed(e));
            }
            let inputs: Vec<InputClaim> = tp
                .input_claims
                .iter()
                .map(|c| {
                    let current = self.policy.claim_id(&c.claim.value).and_then(|id| s.bag.get(id)).cloned();
                    let value = self.with_default(s, tp, c, current, false);
                    InputClaim {
                        claim: c.claim.value.clone(),
                        partner: self.partner_name(tp, c),
                        value,
                        required: c.required,
                    }
                })
                .collect();
            let services = Services { env: self.env, extensions: self.extensions };
            let request = ProfileRequest {
                policy: self.policy,
                profile: tp,
                invocation,
                inputs: inputs.clone(),
                bag: &s.bag,
                answer,
                profile_state,
                services: &services,
                context: &s.context,
                token_claims: Vec::new(),
            };
            let result = handler.execute(request).await;
            let returned = match result {
                ProfileResult::Claims(c) => c,
                ProfileResult::NeedsInput(page) => return Ok(StepResult::Page(page)),
                ProfileResult::Failed(e) => {
                    s.trace.push(TraceEvent::Profile {
                        profile: tp.id.value.clone(),
                        protocol: handler.name().to_owned(),
                        invocation,
                        inputs: self.shown(&inputs),
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
                ProfileResult::Token(_) => {
                    return Err(ExecError::Policy(format!("'{}' returned a token outside SendClaims", tp.id.value)));
                }
            };
            // A submitted page runs its validation profiles before anything is kept.
            let before = s.bag.clone();
            self.write_outputs(s, tp, &returned);
            if answer.is_some() && !tp.validation_profiles.is_empty() {
                for vp in &tp.validation_profiles {
                    if self.skip_reason(s, &vp.preconditions).is_some() {
                        continue;
                    }
                    let vtp = self.profile(&vp.reference.value)?;
                    match self.run_profile(s, vtp, Invocation::Validation, None).await? {
                        StepResult::Done => {
                            if !vp.continue_on_success {
                                break;
                            }
                        }
                        StepResult::Page(_) => {
                            return Err(ExecError::Policy(format!(
                                "validation profile '{}' asked for input",
                                vtp.id.value
                            )));
                        }
                        StepResult::Failed(e) if !vp.continue_on_error => {
                            s.bag = before;
                            let page = Page {
                                profile: tp.id.value.clone(),
                                kind: PageKind::Form { fields: Vec::new() },
                                error: Some(self.page_message(tp, &e)),
                                // The same page again, so it keeps its state.
                                profile_state: profile_state.map(|v| Box::new(v.clone())),
                            };
                            s.trace.push(TraceEvent::ValidationFailed {
                                profile: vtp.id.value.clone(),
                                message: e.user_message,
                            });
                            return Ok(StepResult::Page(page));
                        }
                        StepResult::Failed(_) => {}
                    }
                }
            }
            if let Err(e) = self.run_transforms(s, tp, &tp.output_transformations, &mut applied) {
                if invocation == Invocation::Validation || answer.is_some() {
                    return Ok(StepResult::Failed(ProfileError { user_message: self.page_message(tp, &e), ..e }));
                }
                return Ok(StepResult::Failed(e));
            }
            s.trace.push(TraceEvent::Profile {
                profile: tp.id.value.clone(),
                protocol: handler.name().to_owned(),
                invocation,
                inputs: self.shown(&inputs),
                // What this profile and its transformations changed.
                outputs: s
                    .bag
                    .iter()
                    .filter(|(id, v)| before.get(*id) != Some(*v))
                    .filter_map(|(id, v)| {
                        let name = self.policy.claim_types.get(id.index())?.id.as_str();
                        Some((name.to_owned(), redact(self.policy, name, v)))
                    })
                    .collect(),
                transformations: applied,
                error: None,
            });
            if invocation == Invocation::Step {
                self.drop_page_only_claims(s, tp);
                self.remember_session(s, tp);
            }
            Ok(StepResult::Done)
        })
    }

    /// An assertion's message comes from the calling page's metadata when it defines the key.
    fn page_message(&self, tp: &TechnicalProfile, e: &ProfileError) -> String {
        tp.metadata(&e.code).map_or_else(|| e.user_message.clone(), str::to_owned)
    }

    fn write_outputs(&self, s: &mut SignIn, tp: &TechnicalProfile, returned: &[(String, ClaimValue)]) {
        for c in &tp.output_claims {
            let Some(id) = self.policy.claim_id(&c.claim.value) else { continue };
            let partner = self.partner_name(tp, c);
            let value = returned
                .iter()
                .find(|(k, _)| *k == partner)
                .or_else(|| returned.iter().find(|(k, _)| k.eq_ignore_ascii_case(&c.claim.value)))
                .map(|(_, v)| v.clone());
            let value = value.map(|v| self.coerce(&c.claim.value, v));
            let chosen = self.with_default(s, tp, c, value, false);
            if let Some(v) = chosen {
                s.bag.set(id, v);
            }
        }
    }

    /// Converts a partner's value to the ClaimType's DataType where it differs.
    fn coerce(&self, claim: &str, value: ClaimValue) -> ClaimValue {
        let Some(target) = self.policy.claim(claim).and_then(|c| c.data_type) else { return value };
        if value.data_type() == target {
            return value;
        }
        ClaimValue::from_json(target, &value.to_json()).unwrap_or(value)
    }

    /// Password claims stay on their page.
    fn drop_page_only_claims(&self, s: &mut SignIn, tp: &TechnicalProfile) {
        for c in &tp.output_claims {
            let is_password = self
                .policy
                .claim(&c.claim.value)
                .and_then(|ct| ct.user_input_type.as_ref())
                .is_some_and(|t| t.value == "Password");
            if is_password && let Some(id) = self.policy.claim_id(&c.claim.value) {
                s.bag.remove(id);
            }
        }
    }

    fn shown(&self, inputs: &[InputClaim]) -> Vec<(String, String)> {
        inputs
            .iter()
            .filter_map(|i| Some((i.claim.clone(), redact(self.policy, &i.claim, i.value.as_ref()?))))
            .collect()
    }

    async fn send_claims(&self, s: &mut SignIn, frame: &Frame, step: &Step) -> Result<Progress, ExecError> {
        let journey = self.policy.journey(&frame.journey).or_else(|| self.policy.sub_journey(&frame.journey));
        let issuer_id = step
            .issuer
            .as_ref()
            .or_else(|| journey.and_then(|j| j.default_issuer.as_ref()))
            .map(|t| t.value.clone())
            .ok_or_else(|| ExecError::Policy(format!("SendClaims step {} names no issuer", step.order)))?;
        let issuer = self.profile(&issuer_id)?;
        let rp = self
            .policy
            .relying_party
            .as_ref()
            .and_then(|r| r.technical_profile.as_ref())
            .ok_or_else(|| ExecError::Policy("the policy has no relying party technical profile".to_owned()))?;
        let mut claims = Vec::new();
        let mut shown = Vec::new();
        for c in &rp.output_claims {
            let current = self.policy.claim_id(&c.claim.value).and_then(|id| s.bag.get(id)).cloned();
            let value = self.with_default(s, rp, c, current, true);
            if let Some(v) = value {
                let partner = self.partner_name(rp, c);
                shown.push((partner.clone(), redact(self.policy, &c.claim.value, &v)));
                claims.push((partner, v));
            }
        }
        let handler = self.handler(issuer, Invocation::Issuer)?;
        let services = Services { env: self.env, extensions: self.extensions };
        let request = ProfileRequest {
            policy: self.policy,
            profile: issuer,
            invocation: Invocation::Issuer,
            inputs: Vec::new(),
            bag: &s.bag,
            answer: None,
            profile_state: None,
            services: &services,
            context: &s.context,
            token_claims: claims.clone(),
        };
        match handler.execute(request).await {
            ProfileResult::Token(token) => {
                s.finished = true;
                s.trace.push(TraceEvent::Issued { profile: issuer_id, claims: shown });
                Ok(Progress::Finished(Outcome::Token { token, claims }))
            }
            ProfileResult::Failed(e) => Ok(self.finish_error(s, &e.code, &e.user_message)),
            _ => Err(ExecError::Policy(format!("issuer '{issuer_id}' did not produce a token"))),
        }
    }
}

fn describe_answer(answer: &Answer, policy: &Policy) -> String {
    match answer {
        Answer::Choose(id) => format!("choose {id}"),
        Answer::Submit(values) => {
            let shown: Vec<String> = values
                .iter()
                .map(|(k, v)| if is_secret(policy, k) { format!("{k}=[redacted]") } else { format!("{k}={v}") })
                .collect();
            format!("submit {}", shown.join(", "))
        }
        Answer::Code(_) => "enter a code".to_owned(),
        Answer::Callback(params) => {
            format!("callback with {}", params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "))
        }
        Answer::Cancel => "cancel".to_owned(),
    }
}
