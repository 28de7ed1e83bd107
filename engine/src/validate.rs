//! Checks on the effective policy that B2C makes at upload: references, journey structure,
//! claims data flow, literals, and claims transformations against their methods.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use ief_transforms::value::parse_bool;
use ief_transforms::{ClaimValue, DataType, Location, ProblemKind};

use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::model::{
    ClaimRef, Journey, JourneyKind, Policy, Precondition, PreconditionType, StepType, TechnicalProfile, Text,
};

pub fn validate(policy: &Policy, diags: &mut Diagnostics) {
    let mut v = Validator { policy, diags, templates: None };
    v.claim_types();
    v.transformations();
    for tp in &policy.technical_profiles {
        v.profile(tp);
    }
    for j in policy.user_journeys.iter().chain(&policy.sub_journeys) {
        v.journey(j);
    }
    v.relying_party();
}

struct Validator<'p, 'd> {
    policy: &'p Policy,
    diags: &'d mut Diagnostics,
    /// Made on first need: only a finding about to be reported on a profile asks.
    templates: Option<HashSet<&'p str>>,
}

/// Profiles that others include and neither a step nor a validation runs: they are checked as
/// the profiles that include them resolve them (whose validation profiles may fill a page claim,
/// whose metadata may allow an insecure REST call).
fn templates(policy: &Policy) -> HashSet<&str> {
    let steps = policy.user_journeys.iter().chain(&policy.sub_journeys).flat_map(|j| &j.steps);
    let validations = policy.technical_profiles.iter().flat_map(|tp| &tp.validation_profiles);
    let run: HashSet<&str> = steps
        .flat_map(|s| &s.exchanges)
        .map(|e| e.profile.as_str())
        .chain(validations.map(|v| v.reference.as_str()))
        .collect();
    policy
        .technical_profiles
        .iter()
        .filter_map(|tp| tp.include.as_ref().map(Text::as_str))
        .filter(|id| !run.contains(id))
        .collect()
}

fn unknown(code: Code, what: &str, r: &Text, candidates: Vec<&str>) -> Diagnostic {
    let d = Diagnostic::new(
        code,
        r.span,
        format!("{what} '{}' is not defined in the policy or any of its base policies", r.value),
    );
    match did_you_mean(&r.value, candidates) {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d,
    }
}

impl Validator<'_, '_> {
    fn claim(&mut self, r: &Text) {
        if self.policy.claim(&r.value).is_none() {
            let names = self.policy.claim_types.iter().map(|c| c.id.as_str()).collect();
            self.diags.push(unknown(Code::UnknownClaimType, "ClaimType", r, names));
        }
    }

    fn profile_ref(&mut self, r: &Text) {
        if self.policy.profile(&r.value).is_none() {
            let names = self.policy.technical_profiles.iter().map(|t| t.id.as_str()).collect();
            self.diags.push(unknown(Code::UnknownTechnicalProfile, "TechnicalProfile", r, names));
        }
    }

    fn content_definition(&mut self, r: &Text) {
        if !self.policy.content_definitions.iter().any(|c| c.id.value == r.value) {
            let names = self.policy.content_definitions.iter().map(|c| c.id.as_str()).collect();
            self.diags.push(unknown(Code::UnknownContentDefinition, "ContentDefinition", r, names));
        }
    }

    fn claim_refs(&mut self, refs: &[ClaimRef]) {
        for c in refs {
            self.claim(&c.claim);
            if let (Some(default), Some(ct)) = (&c.default_value, self.policy.claim(&c.claim.value)) {
                self.literal(default, ct.data_type);
            }
        }
    }

    /// A literal (DefaultValue, precondition value) must parse for the claim's DataType.
    /// Claim resolvers are filled at run time, so values holding `{...}` are left alone.
    fn literal(&mut self, text: &Text, data_type: Option<DataType>) {
        let Some(t) = data_type else { return };
        if text.value.contains('{') {
            return;
        }
        if let Err(e) = ClaimValue::parse(t, &text.value) {
            self.diags.push(
                Diagnostic::new(
                    Code::InvalidLiteral,
                    text.span,
                    format!("Input string was not in a correct format: {e}"),
                )
                .with_help(format!("write a value of type {t}")),
            );
        }
    }

    fn preconditions(&mut self, preconditions: &[Precondition]) {
        for p in preconditions {
            let Some(claim) = p.values.first() else { continue };
            self.claim(claim);
            if p.kind == PreconditionType::ClaimEquals
                && let (Some(value), Some(ct)) = (p.values.get(1), self.policy.claim(&claim.value))
            {
                // Booleans compare as True/False; other types compare as text.
                if ct.data_type == Some(DataType::Boolean) {
                    self.literal(value, ct.data_type);
                }
            }
        }
    }

    fn claim_types(&mut self) {
        let policy = self.policy;
        for ct in &policy.claim_types {
            if let Some(r) = &ct.predicate_validation
                && !policy.predicate_validations.iter().any(|p| p.id.value == r.value)
            {
                let names = policy.predicate_validations.iter().map(|p| p.id.as_str()).collect();
                self.diags.push(unknown(Code::UnknownPredicate, "PredicateValidation", r, names));
            }
            if let Some((re, _)) = ct.restriction.as_ref().and_then(|r| r.pattern.as_ref())
                && let Err(e) = ief_transforms::dotnet::regex(&re.value)
            {
                self.diags.push(Diagnostic::new(
                    Code::InvalidPattern,
                    re.span,
                    format!("the pattern does not compile: {e}"),
                ));
            }
        }
        for p in &policy.predicates {
            if p.method.value == "MatchesRegex" {
                for (id, value) in &p.parameters {
                    if id == "RegularExpression"
                        && let Err(e) = ief_transforms::dotnet::regex(value)
                    {
                        self.diags.push(Diagnostic::new(
                            Code::InvalidPattern,
                            p.id.span,
                            format!("predicate '{}' has a RegularExpression that does not compile: {e}", p.id.value),
                        ));
                    }
                }
            }
        }
        for pv in &policy.predicate_validations {
            for g in &pv.groups {
                for r in &g.predicates {
                    if !policy.predicates.iter().any(|p| p.id.value == r.value) {
                        let names = policy.predicates.iter().map(|p| p.id.as_str()).collect();
                        self.diags.push(unknown(Code::UnknownPredicate, "Predicate", r, names));
                    }
                }
            }
        }
        for cd in &policy.content_definitions {
            for (_, r) in &cd.localized_resources {
                let known =
                    policy.localization.as_ref().is_some_and(|l| l.resources.iter().any(|x| x.id.value == r.value));
                if !known {
                    let names =
                        policy.localization.iter().flat_map(|l| l.resources.iter().map(|x| x.id.as_str())).collect();
                    self.diags.push(unknown(Code::UnknownContentDefinition, "LocalizedResources", r, names));
                }
            }
        }
        for dc in &policy.display_controls {
            self.claim_refs(&dc.input_claims);
            self.claim_refs(&dc.output_claims);
            for d in &dc.display_claims {
                if let Some(c) = &d.claim {
                    self.claim(c);
                }
            }
            for (_, profiles) in &dc.actions {
                for vp in profiles {
                    self.profile_ref(&vp.reference);
                    self.preconditions(&vp.preconditions);
                }
            }
        }
    }

    fn transformations(&mut self) {
        let policy = self.policy;
        for ct in &policy.transformations {
            for c in ct.inputs.iter().chain(&ct.outputs) {
                self.claim(&c.claim);
            }
            let Some(decl) = ct.decl(policy) else { continue };
            let problems = match ief_transforms::compile(&decl) {
                Ok(_) => Vec::new(),
                Err(p) => p,
            };
            let signature = ief_transforms::catalog::method(&ct.method.value).map(|m| m.signature.to_string());
            for p in problems {
                let (code, span) = match p.at {
                    Location::Method => (Code::UnknownTransformationMethod, ct.method.span),
                    Location::Inputs(i) => (
                        Code::TransformInputMismatch,
                        i.and_then(|i| ct.inputs.get(i)).map_or(ct.id.span, |c| c.claim.span),
                    ),
                    Location::Outputs(i) => (
                        Code::TransformOutputMismatch,
                        i.and_then(|i| ct.outputs.get(i)).map_or(ct.id.span, |c| c.claim.span),
                    ),
                    Location::Params(i) => (
                        Code::TransformParameterMismatch,
                        i.and_then(|i| ct.params.get(i)).map_or(ct.id.span, |c| c.value.span),
                    ),
                };
                let code = if p.kind == ProblemKind::UnknownMethod { Code::UnknownTransformationMethod } else { code };
                let mut d = Diagnostic::new(code, span, p.message);
                if let Some(s) = p.suggestion {
                    d = d.with_help(format!("did you mean '{s}'?"));
                } else if let Some(sig) = &signature {
                    d = d.with_help(format!("expected {sig}"));
                }
                self.diags.push(d);
            }
        }
    }

    fn transformation_ref(&mut self, r: &Text) {
        if self.policy.transformation(&r.value).is_none() {
            let names = self.policy.transformations.iter().map(|t| t.id.as_str()).collect();
            self.diags.push(unknown(Code::UnknownClaimsTransformation, "ClaimsTransformation", r, names));
        }
    }

    fn profile(&mut self, tp: &TechnicalProfile) {
        if tp.protocol.is_none() {
            self.diags.push(
                Diagnostic::new(
                    Code::MissingProtocol,
                    tp.id.span,
                    format!(
                        "technical profile '{}' has no Protocol, neither its own nor through IncludeTechnicalProfile",
                        tp.id.value
                    ),
                )
                .with_help("add <Protocol Name=\"...\"/> or include a profile that has one"),
            );
        }
        for r in tp.input_transformations.iter().chain(&tp.output_transformations) {
            self.transformation_ref(r);
        }
        self.claim_refs(&tp.input_claims);
        self.claim_refs(&tp.persisted_claims);
        self.claim_refs(&tp.output_claims);
        for d in &tp.display_claims {
            if let Some(c) = &d.claim {
                self.claim(c);
            }
            if let Some(dc) = &d.display_control
                && !self.policy.display_controls.iter().any(|x| x.id.value == dc.value)
            {
                let names = self.policy.display_controls.iter().map(|x| x.id.as_str()).collect();
                let d = unknown(Code::UnknownDisplayControl, "DisplayControl", dc, names);
                let d =
                    if d.help.is_none() { d.with_help("declare it under BuildingBlocks/DisplayControls") } else { d };
                self.diags.push(d);
            }
        }
        for vp in &tp.validation_profiles {
            self.profile_ref(&vp.reference);
            self.preconditions(&vp.preconditions);
        }
        if let Some(sm) = &tp.session_management {
            self.profile_ref(sm);
        }
        if let Some(item) = tp.metadata_item("ContentDefinitionReferenceId") {
            self.content_definition(&item.value);
        }
        for key in ["ClaimTypeOnWhichToEnable"] {
            if let Some(item) = tp.metadata_item(key) {
                self.claim(&item.value);
            }
        }
        // With DisplayClaims the page shows only those; output claims then just pass values on.
        if tp.is_self_asserted() && tp.display_claims.is_empty() {
            self.self_asserted_sources(tp);
        }
        self.insecure_rest(tp);
    }

    /// Whether others include `tp` and no step runs it (see [`templates`]).
    fn is_template(&mut self, tp: &TechnicalProfile) -> bool {
        let policy = self.policy;
        self.templates.get_or_insert_with(|| templates(policy)).contains(tp.id.as_str())
    }

    /// B2C refuses at upload a REST profile without authentication in a production policy unless
    /// its metadata allows it (MicrosoftDocs/azure-docs#49246 quotes the message).
    fn insecure_rest(&mut self, tp: &TechnicalProfile) {
        if tp.protocol.as_ref().and_then(|p| p.handler_type()) != Some("RestfulProvider") {
            return;
        }
        let Some(auth) =
            tp.metadata_item("AuthenticationType").filter(|m| m.value.as_str().trim().eq_ignore_ascii_case("none"))
        else {
            return;
        };
        let allowed = tp.metadata("AllowInsecureAuthInProduction").and_then(parse_bool) == Some(true);
        if allowed || !self.policy.is_production() || self.is_template(tp) {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::InsecureRestInProduction,
                auth.value.span,
                format!(
                    "Profile '{}' uses an insecure authentication mode that is only allowed in production mode policies \
                     with metadata key 'AllowInsecureAuthInProduction' set to true.",
                    tp.id.value
                ),
            )
            .with_help(
                "set DeploymentMode=\"Development\" on the policy while developing, or AllowInsecureAuthInProduction to \
                 true in the profile's metadata",
            ),
        );
    }

    /// Every output claim of a self-asserted page needs a way to get a value.
    fn self_asserted_sources(&mut self, tp: &TechnicalProfile) {
        let produced = Produced::new(self.policy).of_profile_validations(tp);
        for oc in &tp.output_claims {
            let ct = self.policy.claim(&oc.claim.value);
            let has_input = ct.is_some_and(|c| c.user_input_type.is_some());
            let prefilled = tp.input_claims.iter().any(|i| i.claim.value.eq_ignore_ascii_case(&oc.claim.value));
            let from_validation = produced.iter().any(|p| p.eq_ignore_ascii_case(&oc.claim.value));
            if has_input || prefilled || oc.default_value.is_some() || from_validation || ct.is_none() {
                continue;
            }
            if self.is_template(tp) {
                return;
            }
            self.diags.push(
                Diagnostic::new(
                    Code::SelfAssertedClaimWithoutSource,
                    oc.claim.span,
                    format!(
                        "Output claim type \"{}\" specified in the technical profile with id \"{}\" does not specify a UserInputType or a DefaultValue, and is not retrieved from a ValidationTechnicalProfile either.",
                        oc.claim.value, tp.id.value
                    ),
                )
                .with_help("give the ClaimType a UserInputType, the output claim a DefaultValue, or produce it in a validation technical profile"),
            );
        }
    }

    fn journey(&mut self, j: &Journey) {
        let policy = self.policy;
        let word = if j.kind == JourneyKind::UserJourney { "user journey" } else { "sub journey" };
        // Steps are numbered 1..N.
        for (i, s) in j.steps.iter().enumerate() {
            let expected = i as u32 + 1;
            if s.order != expected {
                self.diags.push(Diagnostic::new(
                    Code::StepOrderGap,
                    s.order_text.span,
                    format!(
                        "{word} '{}' was expected to have step with order \"{expected}\" but it was not found; found \"{}\"",
                        j.id.value, s.order_text.value
                    ),
                ));
                break;
            }
        }
        let needs_send = matches!(j.kind, JourneyKind::UserJourney | JourneyKind::SubJourneyTransfer);
        if needs_send && !j.steps.iter().any(|s| s.step_type == StepType::SendClaims) {
            self.diags.push(Diagnostic::new(
                Code::NoSendClaims,
                j.id.span,
                format!("{word} '{}' does not contain a send claims step", j.id.value),
            ));
        }
        // B2C matches ClaimsExchange Ids without regard to case.
        let mut exchange_ids: HashMap<String, &Text> = HashMap::new();
        for (i, s) in j.steps.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| &j.steps[p]);
            let next = j.steps.get(i + 1);
            self.preconditions(&s.preconditions);
            if let Some(cd) = &s.content_definition {
                self.content_definition(cd);
            }
            if let Some(issuer) = &s.issuer {
                self.profile_ref(issuer);
            }
            for e in &s.exchanges {
                self.profile_ref(&e.profile);
                match exchange_ids.entry(e.id.value.to_lowercase()) {
                    Entry::Occupied(first) => self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateExchangeId,
                            e.id.span,
                            format!("ClaimsExchange Id '{}' is used twice in {word} '{}'", e.id.value, j.id.value),
                        )
                        .with_label(first.get().span, "first used here"),
                    ),
                    Entry::Vacant(slot) => {
                        slot.insert(&e.id);
                    }
                }
            }
            match &s.step_type {
                StepType::ClaimsExchange => {
                    if s.exchanges.is_empty() {
                        self.diags.push(Diagnostic::new(
                            Code::EmptyStep,
                            s.order_text.span,
                            format!(
                                "step {} of {word} '{}' is a ClaimsExchange step without a ClaimsExchange",
                                s.order, j.id.value
                            ),
                        ));
                    }
                    if s.exchanges.len() > 1 && !prev.is_some_and(|p| p.step_type.is_selection()) {
                        self.diags.push(Diagnostic::new(
                            Code::ExchangeWithoutSelection,
                            s.order_text.span,
                            format!(
                                "{word} '{}' has step {} with {} claims exchanges. It must be preceded by a claims provider selection in order to determine which claims exchange can be used.",
                                j.id.value,
                                s.order,
                                s.exchanges.len()
                            ),
                        ));
                    }
                }
                StepType::InvokeSubJourney => {
                    if s.sub_journeys.is_empty() {
                        self.diags.push(Diagnostic::new(
                            Code::EmptyStep,
                            s.order_text.span,
                            format!("step {} of {word} '{}' invokes no sub journey", s.order, j.id.value),
                        ));
                    }
                    if let [first, second, ..] = s.sub_journeys.as_slice() {
                        self.diags.push(
                            Diagnostic::new(
                                Code::SeveralSubJourneyCandidates,
                                second.span,
                                format!(
                                    "step {} of {word} '{}' lists {} sub journeys; B2C documents one Candidate, and \
                                     only the first, '{}', runs",
                                    s.order,
                                    j.id.value,
                                    s.sub_journeys.len(),
                                    first.value
                                ),
                            )
                            .with_help("to choose between sub journeys, give each its own step with preconditions"),
                        );
                    }
                    for c in &s.sub_journeys {
                        if policy.sub_journey(&c.value).is_none() {
                            let names = policy.sub_journeys.iter().map(|x| x.id.as_str()).collect();
                            let d = unknown(Code::UnknownSubJourney, "SubJourney", c, names);
                            let d = if d.help.is_none() { d.with_help("declare it under SubJourneys") } else { d };
                            self.diags.push(d);
                        }
                    }
                }
                _ => {}
            }
            if s.step_type.is_selection() {
                for sel in &s.selections {
                    if let Some(v) = &sel.validation
                        && !s.exchanges.iter().any(|e| e.id.value.eq_ignore_ascii_case(&v.value))
                    {
                        self.diags.push(self.unknown_exchange(
                            v,
                            s.exchanges.iter().map(|e| e.id.as_str()).collect(),
                            "this step",
                        ));
                    }
                }
                let targets: Vec<&Text> = s.selections.iter().filter_map(|sel| sel.target.as_ref()).collect();
                match next {
                    Some(n) if n.step_type == StepType::ClaimsExchange => {
                        for t in targets {
                            if !n.exchanges.iter().any(|e| e.id.value.eq_ignore_ascii_case(&t.value)) {
                                let d = self.unknown_exchange(t, n.exchanges.iter().map(|e| e.id.as_str()).collect(), "the next step");
                                self.diags.push(d);
                            }
                        }
                    }
                    Some(n) if !targets.is_empty() => self.diags.push(Diagnostic::new(
                        Code::SelectionNotFollowedByExchange,
                        n.type_span,
                        format!(
                            "Orchestration step order \"{}\" in {word} \"{}\" is followed by a claims provider selection step and must be a claims exchange, but it is of type \"{}\"",
                            n.order,
                            j.id.value,
                            n.step_type.as_str()
                        ),
                    )),
                    _ => {}
                }
            }
        }
        if j.kind == JourneyKind::UserJourney {
            self.journey_data_flow(j);
        }
        for a in &j.authorization_profiles {
            self.profile_ref(a);
        }
        if let Some(issuer) = &j.default_issuer {
            self.profile_ref(issuer);
        }
    }

    fn unknown_exchange(&self, r: &Text, candidates: Vec<&str>, place: &str) -> Diagnostic {
        let d = Diagnostic::new(
            Code::UnknownClaimsExchange,
            r.span,
            format!("ClaimsExchange '{}' is not declared in {place}", r.value),
        );
        match did_you_mean(&r.value, candidates) {
            Some(s) => d.with_help(format!("did you mean '{s}'?")),
            None => d,
        }
    }

    /// Directory profiles look users up by their one input claim; B2C refuses a journey where
    /// no earlier step can have produced it (the documented data-flow check).
    fn journey_data_flow(&mut self, j: &Journey) {
        let produced = Produced::new(self.policy);
        // ClaimType Ids compare case-insensitively.
        let lower = |set: HashSet<&str>| set.into_iter().map(str::to_lowercase).collect::<Vec<_>>();
        let mut available: HashSet<String> = HashSet::new();
        if let Some(rp) = self.policy.relying_party.as_ref().and_then(|r| r.technical_profile.as_ref()) {
            available.extend(rp.input_claims.iter().map(|c| c.claim.value.to_lowercase()));
        }
        // An Authorization profile (UserInfo journeys) validates the presented token first.
        for a in &j.authorization_profiles {
            if let Some(tp) = self.policy.profile(&a.value) {
                available.extend(lower(produced.of_profile(tp)));
            }
        }
        // What each profile produces, lowered once: journeys repeat a few profiles over
        // thousands of steps.
        // `None` once they are available: the set only grows.
        let mut outputs: HashMap<*const TechnicalProfile, Option<Vec<String>>> = HashMap::new();
        let mut step_out: Vec<&TechnicalProfile> = Vec::new();
        for s in &j.steps {
            // A GetClaims step may name the profile that reads the id_token_hint (B2C's
            // documented IdTokenHint_ExtractClaims): its output claims come from the hint.
            if s.step_type == StepType::GetClaims
                && let Some(tp) = s.issuer.as_ref().and_then(|i| self.policy.profile(&i.value))
            {
                step_out.push(tp);
            }
            for e in &s.exchanges {
                let Some(tp) = self.policy.profile(&e.profile.value) else { continue };
                let is_directory =
                    tp.protocol.as_ref().and_then(|p| p.handler_type()) == Some("AzureActiveDirectoryProvider");
                if is_directory {
                    let own_inputs = lower(produced.of_input_transforms(tp));
                    for ic in &tp.input_claims {
                        let name = ic.claim.value.to_lowercase();
                        if ic.default_value.is_none() && !available.contains(&name) && !own_inputs.contains(&name) {
                            self.diags.push(Diagnostic::new(
                                Code::InputClaimNotProduced,
                                e.profile.span,
                                format!(
                                    "Claim type \"{}\" is the input claim of technical profile \"{}\" in step \"{}\" of user journey \"{}\" but it is not an output claim in any of the previous steps.",
                                    ic.claim.value, tp.id.value, s.order, j.id.value
                                ),
                            ).with_label(ic.claim.span, "input claim declared here"));
                        }
                    }
                }
                step_out.push(tp);
            }
            // Only the invoked candidate's outputs flow on.
            if let Some(c) = s.invoked()
                && let Some(sub) = self.policy.sub_journey(&c.value)
            {
                for e in sub.steps.iter().flat_map(|ss| &ss.exchanges) {
                    if let Some(tp) = self.policy.profile(&e.profile.value) {
                        step_out.push(tp);
                    }
                }
            }
            // Available from the next step on.
            for tp in step_out.drain(..) {
                let names =
                    outputs.entry(std::ptr::from_ref(tp)).or_insert_with(|| Some(lower(produced.of_profile(tp))));
                available.extend(names.take().into_iter().flatten());
            }
        }
        self.relying_party_flow(j, &available);
    }

    fn relying_party_flow(&mut self, j: &Journey, available: &HashSet<String>) {
        let Some(rp) = &self.policy.relying_party else { return };
        let uses = rp.default_journey.as_ref().is_some_and(|d| d.value == j.id.value);
        let Some(tp) = rp.technical_profile.as_ref().filter(|_| uses) else { return };
        for oc in &tp.output_claims {
            let name = oc.claim.as_str();
            if oc.default_value.is_some()
                || available.contains(&name.to_lowercase())
                || self.policy.claim(name).is_none()
            {
                continue;
            }
            self.diags.push(Diagnostic::new(
                Code::RelyingPartyClaimNotProduced,
                oc.claim.span,
                format!(
                    "Claim type \"{name}\" is the output claim of the relying party's technical profile, but it is not an output claim in any of the steps of user journey \"{}\".",
                    j.id.value
                ),
            ));
        }
    }

    fn relying_party(&mut self) {
        let policy = self.policy;
        let Some(rp) = &policy.relying_party else { return };
        match &rp.default_journey {
            None => self.diags.push(
                Diagnostic::new(Code::MissingRelyingParty, rp.span, "RelyingParty has no DefaultUserJourney")
                    .with_help("add <DefaultUserJourney ReferenceId=\"...\"/> naming the journey to run"),
            ),
            Some(r) => self.journey_ref(r),
        }
        for (_, r) in &rp.endpoints {
            self.journey_ref(r);
        }
        match &rp.technical_profile {
            None => self.diags.push(
                Diagnostic::new(Code::MissingRelyingParty, rp.span, "RelyingParty has no TechnicalProfile")
                    .with_help("add the PolicyProfile technical profile that lists the token's claims"),
            ),
            Some(tp) => {
                self.claim_refs(&tp.input_claims);
                self.claim_refs(&tp.output_claims);
            }
        }
    }

    fn journey_ref(&mut self, r: &Text) {
        if self.policy.journey(&r.value).is_none() {
            let names = self.policy.user_journeys.iter().map(|j| j.id.as_str()).collect();
            self.diags.push(unknown(Code::UnknownUserJourney, "UserJourney", r, names));
        }
    }
}

/// What running a technical profile may put in the claims bag.
struct Produced<'p> {
    policy: &'p Policy,
}

impl<'p> Produced<'p> {
    fn new(policy: &'p Policy) -> Produced<'p> {
        Produced { policy }
    }

    fn of_transforms(&self, refs: &'p [Text], out: &mut HashSet<&'p str>) {
        for r in refs {
            if let Some(t) = self.policy.transformation(&r.value) {
                out.extend(t.outputs.iter().map(|o| o.claim.as_str()));
            }
        }
    }

    fn of_input_transforms(&self, tp: &'p TechnicalProfile) -> HashSet<&'p str> {
        let mut out = HashSet::new();
        self.of_transforms(&tp.input_transformations, &mut out);
        out
    }

    /// Outputs of the profile, its transformations, validation profiles, display controls and
    /// session manager, transitively.
    fn of_profile(&self, tp: &'p TechnicalProfile) -> HashSet<&'p str> {
        let mut out = HashSet::new();
        let mut seen = HashSet::new();
        self.collect(tp, &mut out, &mut seen);
        out
    }

    fn of_profile_validations(&self, tp: &'p TechnicalProfile) -> HashSet<&'p str> {
        let mut out = HashSet::new();
        let mut seen = HashSet::from([tp.id.as_str()]);
        for vp in &tp.validation_profiles {
            if let Some(v) = self.policy.profile(&vp.reference.value) {
                self.collect(v, &mut out, &mut seen);
            }
        }
        self.of_transforms(&tp.output_transformations, &mut out);
        self.of_transforms(&tp.input_transformations, &mut out);
        self.display_controls(tp, &mut out, &mut seen);
        out
    }

    fn display_controls(&self, tp: &'p TechnicalProfile, out: &mut HashSet<&'p str>, seen: &mut HashSet<&'p str>) {
        for d in &tp.display_claims {
            let Some(dc) = d
                .display_control
                .as_ref()
                .and_then(|r| self.policy.display_controls.iter().find(|x| x.id.value == r.value))
            else {
                continue;
            };
            out.extend(dc.output_claims.iter().map(|c| c.claim.as_str()));
            out.extend(dc.display_claims.iter().filter_map(|c| c.claim.as_ref().map(Text::as_str)));
            for (_, profiles) in &dc.actions {
                for vp in profiles {
                    if let Some(v) = self.policy.profile(&vp.reference.value) {
                        self.collect(v, out, seen);
                    }
                }
            }
        }
    }

    fn collect(&self, tp: &'p TechnicalProfile, out: &mut HashSet<&'p str>, seen: &mut HashSet<&'p str>) {
        if !seen.insert(tp.id.as_str()) {
            return;
        }
        out.extend(tp.output_claims.iter().map(|c| c.claim.as_str()));
        out.extend(tp.display_claims.iter().filter_map(|c| c.claim.as_ref().map(Text::as_str)));
        self.of_transforms(&tp.input_transformations, out);
        self.of_transforms(&tp.output_transformations, out);
        self.display_controls(tp, out, seen);
        for vp in &tp.validation_profiles {
            if let Some(v) = self.policy.profile(&vp.reference.value) {
                self.collect(v, out, seen);
            }
        }
        if let Some(sm) = tp.session_management.as_ref().and_then(|s| self.policy.profile(&s.value)) {
            out.extend(sm.output_claims.iter().map(|c| c.claim.as_str()));
        }
    }
}
