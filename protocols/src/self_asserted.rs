//! Self-asserted pages (`Proprietary` + `SelfAssertedAttributeProvider`): which fields a page
//! shows (policy-spec d.6), and the server-side checks of a submitted form: Required, the
//! Restriction enumeration or Pattern, PredicateValidations, data types and the password
//! re-entry check. Validation technical profiles, links and retries are the executor's.

use ief_engine::exec::{
    Answer, BoxFuture, Field, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
};
use ief_engine::model::{ClaimType, Policy, TechnicalProfile};
use ief_transforms::dotnet;
use ief_transforms::{ClaimValue, DataType};

use crate::email_verification;

/// The error B2C returns to the application when the user cancels a self-asserted page.
pub const CANCELLED: &str = "AADB2C90091";

const REQUIRED_FIELD: &str = "This information is required.";
const INVALID_INPUT: &str = "{0} has invalid input.";
const INCORRECT_PATTERN: &str = "Incorrect pattern for: {0}";
const PASSWORD_MISMATCH: &str =
    "The password entry fields do not match. Please enter the same password in both fields and try again.";

/// The `SelfAssertedAttributeProvider` handler.
#[derive(Clone, Copy, Debug, Default)]
pub struct SelfAsserted;

impl ProfileHandler for SelfAsserted {
    fn name(&self) -> &'static str {
        "SelfAssertedAttributeProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, _invocation: Invocation) -> bool {
        profile.is_self_asserted()
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move { run(&request) })
    }
}

fn run(request: &ProfileRequest<'_>) -> ProfileResult {
    let fields = shown_fields(request);
    match request.answer {
        None if fields.is_empty() => ProfileResult::Claims(Vec::new()),
        None => ProfileResult::NeedsInput(page(request, &fields, None)),
        // A form that passes its checks with an address not yet verified sends a code first.
        Some(Answer::Submit(values)) => match submit(request, &fields, values) {
            passed @ ProfileResult::Claims(_) => {
                email_verification::before_submit(request, &fields, values).unwrap_or(passed)
            }
            other => email_verification::keep_state(request, other),
        },
        Some(Answer::Code(code)) if email_verification::takes_codes(request, &fields) => {
            email_verification::verify(request, &fields, code)
        }
        Some(Answer::Cancel) => ProfileResult::Failed(ProfileError {
            code: CANCELLED.to_owned(),
            user_message: "The user has cancelled entering self-asserted information.".to_owned(),
        }),
        Some(other) => invalid_answer(format!(
            "self-asserted page '{}' takes a form submission or a cancel, not {}",
            request.profile.id.value,
            answer_kind(other)
        )),
    }
}

/// One field of a self-asserted page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownField {
    /// The ClaimType Id as the ClaimsSchema spells it.
    pub claim: String,
    pub input_type: Option<String>,
    pub required: bool,
    /// The output claim's `PartnerClaimType`, the name the value is returned under.
    pub partner: Option<String>,
    /// From the input claims, else the claims bag; never for passwords.
    pub prefilled: Option<String>,
}

impl ShownField {
    fn is_read_only(&self) -> bool {
        matches!(self.input_type.as_deref(), Some("Readonly" | "Paragraph"))
    }

    pub(crate) fn is_password(&self) -> bool {
        self.input_type.as_deref() == Some("Password")
    }

    fn returned_name(&self) -> String {
        self.partner.clone().unwrap_or_else(|| self.claim.clone())
    }
}

/// The fields the page renders, in order (policy-spec d.6): the display claims when there is
/// at least one (display controls contribute their own display claims), else the output claims
/// whose ClaimType has a UserInputType and that no validation profile produces.
pub fn shown_fields(request: &ProfileRequest<'_>) -> Vec<ShownField> {
    let mut fields = page_fields(request.policy, request.profile);
    for field in &mut fields {
        if !field.is_password() {
            field.prefilled = prefill(request, &field.claim);
        }
    }
    fields
}

/// [`shown_fields`] before pre-filling: what a page of `profile` shows, known before it runs
/// (a server renders the sign-in form of a combined sign-in and sign-up page from it).
pub fn page_fields(policy: &Policy, profile: &TechnicalProfile) -> Vec<ShownField> {
    let mut refs: Vec<(String, bool)> = Vec::new();
    if profile.display_claims.is_empty() {
        let produced: Vec<&str> = profile
            .validation_profiles
            .iter()
            .filter_map(|v| policy.profile(&v.reference.value))
            .flat_map(|p| p.output_claims.iter().map(|c| c.claim.as_str()))
            .collect();
        for oc in &profile.output_claims {
            let has_input_type = policy.claim(&oc.claim.value).is_some_and(|c| c.user_input_type.is_some());
            if has_input_type && !produced.iter().any(|p| same_claim(policy, p, &oc.claim.value)) {
                refs.push((oc.claim.value.to_string(), oc.required));
            }
        }
    } else {
        for dc in &profile.display_claims {
            if let Some(control) = &dc.display_control {
                let Some(control) = policy.display_controls.iter().find(|c| c.id.value == control.value) else {
                    continue;
                };
                for inner in &control.display_claims {
                    // The code a VerificationControl verifies is its buttons' input, not the form's.
                    if inner.control_claim_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("VerificationCode")) {
                        continue;
                    }
                    if let Some(claim) = &inner.claim {
                        refs.push((claim.value.to_string(), inner.required));
                    }
                }
            } else if let Some(claim) = &dc.claim {
                refs.push((claim.value.to_string(), dc.required));
            }
        }
    }
    // The combined sign-in page renders only the first two (username, password).
    if data_uri(policy, profile).is_some_and(|u| u.contains("unifiedssp") || u.contains("unifiedssd")) {
        refs.truncate(2);
    }
    let mut fields: Vec<ShownField> = Vec::new();
    for (claim, required) in refs {
        if fields.iter().any(|f| same_claim(policy, &f.claim, &claim)) {
            continue;
        }
        let claim_type = policy.claim(&claim);
        let input_type = claim_type.and_then(|c| c.user_input_type.as_ref()).map(|t| t.value.to_string());
        let partner = profile
            .output_claims
            .iter()
            .find(|oc| same_claim(policy, &oc.claim.value, &claim))
            .and_then(|oc| oc.partner_claim_type.as_ref())
            .map(|p| p.value.to_string());
        fields.push(ShownField {
            claim: claim_type.map_or(claim, |c| c.id.value.to_string()),
            input_type,
            required,
            partner,
            prefilled: None,
        });
    }
    fields
}

fn prefill(request: &ProfileRequest<'_>, claim: &str) -> Option<String> {
    let from_input =
        request.inputs.iter().find(|i| same_claim(request.policy, &i.claim, claim)).and_then(|i| i.value.as_ref());
    let value = from_input.or_else(|| request.policy.claim_id(claim).and_then(|id| request.bag.get(id)))?;
    Some(value.to_string())
}

fn data_uri<'p>(policy: &'p Policy, profile: &TechnicalProfile) -> Option<&'p str> {
    let id = profile.metadata("ContentDefinitionReferenceId")?;
    policy.content_definitions.iter().find(|c| c.id.value == id)?.data_uri.as_deref()
}

/// ClaimType Ids resolve case-insensitively, as B2C resolves them.
pub(crate) fn same_claim(policy: &Policy, a: &str, b: &str) -> bool {
    match (policy.claim_id(a), policy.claim_id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

pub(crate) fn page(request: &ProfileRequest<'_>, fields: &[ShownField], error: Option<String>) -> Page {
    Page {
        profile: request.profile.id.value.to_string(),
        kind: PageKind::Form {
            fields: fields
                .iter()
                .map(|f| Field {
                    claim: f.claim.clone(),
                    input_type: f.input_type.clone(),
                    required: f.required,
                    prefilled: f.prefilled.clone(),
                })
                .collect(),
        },
        error,
        profile_state: None,
        settings: Default::default(),
    }
}

fn submit(request: &ProfileRequest<'_>, fields: &[ShownField], values: &[(String, String)]) -> ProfileResult {
    let policy = request.policy;
    if let Some((name, _)) = values.iter().find(|(k, _)| !fields.iter().any(|f| same_claim(policy, &f.claim, k))) {
        let names: Vec<&str> = fields.iter().map(|f| f.claim.as_str()).collect();
        return invalid_answer(format!(
            "'{name}' is not a field of self-asserted page '{}' (its fields: {})",
            request.profile.id.value,
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        ));
    }
    let allow_null = request
        .profile
        .metadata("AllowGenerationOfClaimsWithNullValues")
        .and_then(ief_transforms::value::parse_bool)
        .unwrap_or(false);
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut claims: Vec<(String, ClaimValue)> = Vec::new();
    // What the re-rendered page shows: the text typed, except passwords.
    let mut rerender: Vec<ShownField> = Vec::new();
    let mut typed: Vec<(&str, String)> = Vec::new();
    for field in fields {
        let joined = joined_choices(policy, field, values);
        let submitted = match &joined {
            Some(all) => Some(all.as_str()),
            None => values.iter().rev().find(|(k, _)| same_claim(policy, &field.claim, k)).map(|(_, v)| v.as_str()),
        };
        let mut shown = field.clone();
        if field.is_read_only() {
            if let Some(v) = submitted
                && Some(v) != field.prefilled.as_deref()
            {
                return invalid_answer(format!(
                    "field '{}' of self-asserted page '{}' is read-only",
                    field.claim, request.profile.id.value
                ));
            }
            if field.input_type.as_deref() == Some("Readonly")
                && let Some(text) = &field.prefilled
                && let Ok(v) = check_field(request, field, text)
            {
                claims.push((field.returned_name(), v));
            }
            rerender.push(shown);
            continue;
        }
        let as_shown = submitted.is_none().then(|| selected_as_shown(request, field)).flatten();
        let text = submitted.or(as_shown.as_deref()).unwrap_or("");
        if !field.is_password() {
            shown.prefilled = (!text.is_empty()).then(|| text.to_owned());
        }
        rerender.push(shown);
        if text.trim().is_empty() {
            if field.required {
                errors.push((field.claim.clone(), ux_string(request, "required_field", REQUIRED_FIELD)));
            } else if allow_null && data_type(policy, &field.claim) == DataType::String {
                claims.push((field.returned_name(), ClaimValue::String(String::new())));
            }
            continue;
        }
        typed.push((field.claim.as_str(), text.to_owned()));
        match check_field(request, field, text) {
            Ok(v) => claims.push((field.returned_name(), v)),
            Err(message) => errors.push((field.claim.clone(), message)),
        }
    }
    // The sign-up page checks that the password was typed the same way twice.
    let find = |name: &str| typed.iter().find(|(c, _)| same_claim(policy, c, name)).map(|(_, v)| v);
    if let (Some(a), Some(b)) = (find("newPassword"), find("reenterPassword"))
        && a != b
        && !errors.iter().any(|(c, _)| same_claim(policy, c, "newPassword") || same_claim(policy, c, "reenterPassword"))
    {
        let claim = policy.claim("reenterPassword").map_or("reenterPassword".to_owned(), |c| c.id.value.to_string());
        errors.push((claim, ux_string(request, "error_passwordEntryMismatch", PASSWORD_MISMATCH)));
    }
    if errors.is_empty() {
        ProfileResult::Claims(claims)
    } else {
        let message = errors.iter().map(|(c, m)| format!("{c}: {m}")).collect::<Vec<_>>().join("\n");
        ProfileResult::NeedsInput(page(request, &rerender, Some(message)))
    }
}

/// The boxes ticked of a check-box field, one comma-separated value however the form posts them:
/// repeated fields (a form without the page script) or joined by commas, beside the group's empty
/// field (so that none ticked is an empty value); `None` when the form does not post the field.
fn joined_choices(policy: &Policy, field: &ShownField, values: &[(String, String)]) -> Option<String> {
    if field.input_type.as_deref() != Some("CheckboxMultiSelect") {
        return None;
    }
    let mut posted =
        values.iter().filter(|(k, _)| same_claim(policy, &field.claim, k)).map(|(_, v)| v.as_str()).peekable();
    posted.peek()?;
    Some(posted.flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).collect::<Vec<_>>().join(","))
}

/// What a field left as the page showed it submits: its prefilled text, but a choice field
/// (radio buttons, check boxes, a drop-down) shows selected only the prefilled values among its
/// options, or without a value the options marked SelectByDefault, and a browser posts only
/// those: a prefilled value that is no option leaves the field empty (Required applies).
fn selected_as_shown(request: &ProfileRequest<'_>, field: &ShownField) -> Option<String> {
    let choice = matches!(
        field.input_type.as_deref(),
        Some("RadioSingleSelect" | "CheckboxMultiSelect" | "DropdownSingleSelect")
    );
    let Some(ct) = request.policy.claim(&field.claim).filter(|ct| choice && ct.restriction.is_some()) else {
        return field.prefilled.clone();
    };
    let allowed = options(request, ct);
    if allowed.is_empty() {
        return field.prefilled.clone();
    }
    let prefilled = field.prefilled.as_deref().unwrap_or("");
    let mut selected: Vec<&str> =
        allowed.iter().map(String::as_str).filter(|option| ct.shows_selected(option, prefilled)).collect();
    if field.input_type.as_deref() != Some("CheckboxMultiSelect") {
        // Of several marked, a browser keeps the last.
        selected.drain(..selected.len().saturating_sub(1));
    }
    (!selected.is_empty()).then(|| selected.join(","))
}

/// The values a claim's Restriction offers, localized when the policy localizes them.
fn options(request: &ProfileRequest<'_>, ct: &ClaimType) -> Vec<String> {
    let written = || ct.restriction.iter().flat_map(|r| r.enumerations.iter().map(|(_, v, _)| v.clone())).collect();
    request
        .services
        .env
        .localized_collection("ClaimType", &ct.id.value)
        .map(|items| items.into_iter().map(|(_, v)| v).collect())
        .unwrap_or_else(written)
}

fn data_type(policy: &Policy, claim: &str) -> DataType {
    policy.claim(claim).and_then(|c| c.data_type).unwrap_or(DataType::String)
}

/// Checks one non-empty value against its ClaimType; the message is what the page shows.
pub(crate) fn check_field(request: &ProfileRequest<'_>, field: &ShownField, text: &str) -> Result<ClaimValue, String> {
    let policy = request.policy;
    let claim_type = policy.claim(&field.claim);
    let invalid = || error_string(request, "UserMessageIfInvalidInput", INVALID_INPUT).replace("{0}", &field.claim);
    let value = ClaimValue::parse(data_type(policy, &field.claim), text).map_err(|_| invalid())?;
    let Some(ct) = claim_type else { return Ok(value) };
    if let Some(restriction) = &ct.restriction {
        let allowed = options(request, ct);
        if !allowed.is_empty() {
            let multi = field.input_type.as_deref() == Some("CheckboxMultiSelect");
            let ok = if multi {
                text.split(',').all(|v| allowed.iter().any(|a| a == v))
            } else {
                allowed.iter().any(|a| a == text)
            };
            if !ok {
                return Err(invalid());
            }
        }
        if let Some((regex, help)) = &restriction.pattern
            && !dotnet::is_match(&regex.value, text)
        {
            let help = request
                .services
                .env
                .localized_string("ClaimType", &ct.id.value, "PatternHelpText")
                .or_else(|| help.clone())
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(|| {
                    error_string(request, "UserMessageIfIncorrectPattern", INCORRECT_PATTERN)
                        .replace("{0}", &field.claim)
                });
            return Err(help);
        }
    }
    if let Some(reference) = &ct.predicate_validation
        && let Some(message) = check_predicates(request, &reference.value, text)
    {
        return Err(message);
    }
    Ok(value)
}

/// Runs a PredicateValidation (policy-spec b.2); `Some(message)` when the value fails it, with
/// the help texts of the failing groups and of their failing predicates.
fn check_predicates(request: &ProfileRequest<'_>, validation_id: &str, text: &str) -> Option<String> {
    let env = request.services.env;
    let validation = request.policy.predicate_validation(validation_id)?;
    let mut messages = Vec::new();
    for failure in request.policy.predicate_failures(validation, text, env.now().date()) {
        let mut parts: Vec<String> = Vec::new();
        if let Some(help) = env
            .localized_string("InputValidation", &validation.id.value, &failure.group.id.value)
            .or_else(|| failure.group.user_help_text.clone())
        {
            parts.push(help);
        }
        for p in failure.predicates {
            let help = env
                .localized_string("Predicate", &p.id.value, "HelpText")
                .or_else(|| p.user_help_text.clone())
                .or_else(|| p.help_text.clone());
            parts.push(help.unwrap_or_else(|| format!("{} ({})", p.id.value, p.method.value)));
        }
        messages.push(parts.join(" "));
    }
    (!messages.is_empty()).then(|| messages.join(" "))
}

/// A UI string: the profile's `language.<id>` metadata, else the policy's localized string,
/// else B2C's documented default.
pub(crate) fn ux_string(request: &ProfileRequest<'_>, string_id: &str, default: &str) -> String {
    request
        .profile
        .metadata(&format!("language.{string_id}"))
        .map(str::to_owned)
        .or_else(|| request.services.env.localized_string("UxElement", "", string_id))
        .unwrap_or_else(|| default.to_owned())
}

/// An error message: the profile's metadata item of that name, else the localized
/// `ErrorMessage` string, else B2C's documented default.
pub(crate) fn error_string(request: &ProfileRequest<'_>, key: &str, default: &str) -> String {
    request
        .profile
        .metadata(key)
        .map(str::to_owned)
        .or_else(|| request.services.env.localized_string("ErrorMessage", "", key))
        .unwrap_or_else(|| default.to_owned())
}

pub(crate) fn invalid_answer(message: String) -> ProfileResult {
    ProfileResult::InvalidAnswer(message)
}

pub(crate) fn answer_kind(answer: &Answer) -> &'static str {
    match answer {
        Answer::Choose(_) => "a choice",
        Answer::Submit(_) => "a form submission",
        Answer::Code(_) => "a verification code",
        Answer::Callback(_) => "an identity provider callback",
        Answer::Cancel => "a cancel",
        Answer::Action { .. } => "a display control's button",
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small inline policies and a harness that runs one handler call.

    use std::path::PathBuf;

    use ief_engine::exec::{Answer, Extensions, InputClaim, Invocation, ProfileHandler, ProfileRequest, ProfileResult};
    use ief_engine::exec::{RequestContext, Services};
    use ief_engine::model::Policy;
    use ief_engine::{EffectivePolicy, PolicySet, SettingsRequest};
    use ief_transforms::{ClaimValue, ClaimsBag, FixedEnv};

    pub(crate) const SELF_ASSERTED: &str = r#"<Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>"#;

    pub(crate) use ief_testkit::policy;

    /// The effective `B2C_1A_signup_signin` of a starter-pack folder.
    pub(crate) fn starter_pack(folder: &str) -> Policy {
        let dir = PathBuf::from("/work/shared/policies/starterpack").join(folder);
        let set = PolicySet::load(&[dir], &SettingsRequest::default());
        let leaf = set.find("B2C_1A_signup_signin").expect("the starter pack's relying party");
        let mut diags = set.diagnostics.clone();
        EffectivePolicy::build(&set, leaf, &mut diags).expect("the starter pack builds").model
    }

    pub(crate) struct Harness {
        pub(crate) policy: Policy,
        pub(crate) env: FixedEnv,
        pub(crate) extensions: Extensions,
        pub(crate) context: RequestContext,
        pub(crate) bag: ClaimsBag,
    }

    impl Harness {
        pub(crate) fn new(policy: Policy) -> Harness {
            let bag = ClaimsBag::with_capacity(policy.claim_types.len());
            let context = RequestContext { correlation_id: "corr-1".to_owned(), ..RequestContext::default() };
            Harness { policy, env: FixedEnv::default(), extensions: Extensions::default(), context, bag }
        }

        pub(crate) fn set(&mut self, claim: &str, value: ClaimValue) {
            let id = self.policy.claim_id(claim).expect("a claim of the policy");
            self.bag.set(id, value);
        }

        /// The profile's input claims with the given values, named as the executor names them.
        pub(crate) fn inputs(&self, profile: &str, values: &[(&str, ClaimValue)]) -> Vec<InputClaim> {
            let tp = self.policy.profile(profile).expect("a profile of the policy");
            tp.input_claims
                .iter()
                .map(|c| InputClaim {
                    claim: c.claim.value.to_string(),
                    partner: self.policy.partner_name(tp, c),
                    value: values.iter().find(|(k, _)| *k == c.claim.value).map(|(_, v)| v.clone()),
                    required: c.required,
                })
                .collect()
        }

        pub(crate) fn run(
            &self,
            handler: &dyn ProfileHandler,
            profile: &str,
            inputs: Vec<InputClaim>,
            answer: Option<Answer>,
        ) -> ProfileResult {
            self.run_with_state(handler, profile, inputs, answer, None)
        }

        /// An answer to a page that kept `state`.
        pub(crate) fn run_with_state(
            &self,
            handler: &dyn ProfileHandler,
            profile: &str,
            inputs: Vec<InputClaim>,
            answer: Option<Answer>,
            state: Option<&serde_json::Value>,
        ) -> ProfileResult {
            let profile = self.policy.profile(profile).expect("a profile of the policy");
            assert!(
                handler.handles(profile, Invocation::Step),
                "{} does not handle {}",
                handler.name(),
                profile.id.value
            );
            let services = Services { env: &self.env, extensions: &self.extensions };
            let request = ProfileRequest {
                policy: &self.policy,
                profile,
                invocation: Invocation::Step,
                inputs,
                bag: &self.bag,
                answer: answer.as_ref(),
                profile_state: state,
                services: &services,
                context: &self.context,
                token_claims: &[],
            };
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            runtime.block_on(handler.execute(request))
        }
    }

    pub(crate) fn submit(values: &[(&str, &str)]) -> Option<Answer> {
        Some(Answer::Submit(values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
    }

    pub(crate) fn string(s: &str) -> ClaimValue {
        ClaimValue::String(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use ief_engine::exec::{Field, PageKind, ProfileError, ProfileResult};
    use ief_transforms::ClaimValue;

    use super::SelfAsserted;
    use super::testing::{Harness, SELF_ASSERTED, policy, starter_pack, string, submit};

    const CLAIMS: &str = r#"<ClaimsSchema>
      <ClaimType Id="email"><DataType>string</DataType><UserInputType>TextBox</UserInputType>
        <Restriction><Pattern RegularExpression="^[^@]+@[^@]+$" HelpText="Please enter a valid email address."/></Restriction></ClaimType>
      <ClaimType Id="color"><DataType>string</DataType><UserInputType>DropdownSingleSelect</UserInputType>
        <Restriction><Enumeration Text="Red" Value="red"/><Enumeration Text="Blue" Value="blue" SelectByDefault="true"/></Restriction></ClaimType>
      <ClaimType Id="toppings"><DataType>string</DataType><UserInputType>CheckboxMultiSelect</UserInputType>
        <Restriction><Enumeration Text="Cheese" Value="cheese"/><Enumeration Text="Ham" Value="ham"/></Restriction></ClaimType>
      <ClaimType Id="age"><DataType>int</DataType><UserInputType>TextBox</UserInputType></ClaimType>
      <ClaimType Id="nickname"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>
      <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
      <ClaimType Id="displayName"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>
      <ClaimType Id="notice"><DataType>string</DataType><UserInputType>Paragraph</UserInputType></ClaimType>
      <ClaimType Id="upn"><DataType>string</DataType><UserInputType>Readonly</UserInputType></ClaimType>
      <ClaimType Id="pin"><DataType>string</DataType><UserInputType>Password</UserInputType><PredicateValidationReference Id="Pin"/></ClaimType>
      <ClaimType Id="password"><DataType>string</DataType><UserInputType>Password</UserInputType><PredicateValidationReference Id="Strong"/></ClaimType>
      <ClaimType Id="birthDate"><DataType>date</DataType><UserInputType>DateTimeDropdown</UserInputType><PredicateValidationReference Id="Birth"/></ClaimType>
      <ClaimType Id="code"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>
    </ClaimsSchema>
    <Predicates>
      <Predicate Id="Length8to16" Method="IsLengthRange"><UserHelpText>8 to 16 characters.</UserHelpText>
        <Parameters><Parameter Id="Minimum">8</Parameter><Parameter Id="Maximum">16</Parameter></Parameters></Predicate>
      <Predicate Id="Lowercase" Method="IncludesCharacters"><UserHelpText>a lowercase letter</UserHelpText>
        <Parameters><Parameter Id="CharacterSet">a-z</Parameter></Parameters></Predicate>
      <Predicate Id="Uppercase" Method="IncludesCharacters"><UserHelpText>an uppercase letter</UserHelpText>
        <Parameters><Parameter Id="CharacterSet">A-Z</Parameter></Parameters></Predicate>
      <Predicate Id="Number" Method="IncludesCharacters"><UserHelpText>a digit</UserHelpText>
        <Parameters><Parameter Id="CharacterSet">0-9</Parameter></Parameters></Predicate>
      <Predicate Id="Symbol" Method="IncludesCharacters"><UserHelpText>a symbol</UserHelpText>
        <Parameters><Parameter Id="CharacterSet">@#$%^&amp;*\-_+=[]{}|\:',?/`~"();!</Parameter></Parameters></Predicate>
      <Predicate Id="Digits" Method="MatchesRegex" HelpText="Digits only (attribute).">
        <Parameters><Parameter Id="RegularExpression">^[0-9]+$</Parameter></Parameters></Predicate>
      <Predicate Id="Length4" Method="IsLengthRange"><UserHelpText>Exactly 4 characters.</UserHelpText>
        <Parameters><Parameter Id="Minimum">4</Parameter><Parameter Id="Maximum">4</Parameter></Parameters></Predicate>
      <Predicate Id="PastDate" Method="IsDateRange"><UserHelpText>The date must be between 1900-01-01 and today.</UserHelpText>
        <Parameters><Parameter Id="Minimum">1900-01-01</Parameter><Parameter Id="Maximum">Today</Parameter></Parameters></Predicate>
    </Predicates>
    <PredicateValidations>
      <PredicateValidation Id="Pin"><PredicateGroups>
        <PredicateGroup Id="PinGroup"><PredicateReferences><PredicateReference Id="Digits"/><PredicateReference Id="Length4"/></PredicateReferences></PredicateGroup>
      </PredicateGroups></PredicateValidation>
      <PredicateValidation Id="Strong"><PredicateGroups>
        <PredicateGroup Id="Length"><UserHelpText>Length:</UserHelpText><PredicateReferences><PredicateReference Id="Length8to16"/></PredicateReferences></PredicateGroup>
        <PredicateGroup Id="Classes"><UserHelpText>The password must have at least 3 of the following:</UserHelpText>
          <PredicateReferences MatchAtLeast="3"><PredicateReference Id="Lowercase"/><PredicateReference Id="Uppercase"/><PredicateReference Id="Number"/><PredicateReference Id="Symbol"/></PredicateReferences></PredicateGroup>
      </PredicateGroups></PredicateValidation>
      <PredicateValidation Id="Birth"><PredicateGroups>
        <PredicateGroup Id="Range"><PredicateReferences><PredicateReference Id="PastDate"/></PredicateReferences></PredicateGroup>
      </PredicateGroups></PredicateValidation>
    </PredicateValidations>
    <DisplayControls>
      <DisplayControl Id="emailControl" UserInterfaceControlType="VerificationControl">
        <DisplayClaims><DisplayClaim ClaimTypeReferenceId="email" Required="true"/><DisplayClaim ClaimTypeReferenceId="code" Required="true"/></DisplayClaims>
      </DisplayControl>
    </DisplayControls>"#;

    fn profiles() -> String {
        format!(
            r#"
        <TechnicalProfile Id="Writer"><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.AzureActiveDirectoryProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
          <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId"/><OutputClaim ClaimTypeReferenceId="displayName"/></OutputClaims></TechnicalProfile>
        <TechnicalProfile Id="Form">{SELF_ASSERTED}
          <InputClaims><InputClaim ClaimTypeReferenceId="email"/></InputClaims>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="Verified.Email" Required="true"/>
            <OutputClaim ClaimTypeReferenceId="objectId"/>
            <OutputClaim ClaimTypeReferenceId="displayName"/>
            <OutputClaim ClaimTypeReferenceId="nickname"/>
            <OutputClaim ClaimTypeReferenceId="age"/>
          </OutputClaims>
          <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Writer"/></ValidationTechnicalProfiles>
        </TechnicalProfile>
        <TechnicalProfile Id="Display">{SELF_ASSERTED}
          <DisplayClaims>
            <DisplayClaim DisplayControlReferenceId="emailControl"/>
            <DisplayClaim ClaimTypeReferenceId="color" Required="true"/>
          </DisplayClaims>
          <OutputClaims><OutputClaim ClaimTypeReferenceId="nickname"/><OutputClaim ClaimTypeReferenceId="color"/></OutputClaims>
        </TechnicalProfile>
        <TechnicalProfile Id="Empty">{SELF_ASSERTED}
          <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" DefaultValue="x"/><OutputClaim ClaimTypeReferenceId="displayName"/></OutputClaims>
          <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Writer"/></ValidationTechnicalProfiles>
        </TechnicalProfile>
        <TechnicalProfile Id="Rules">{SELF_ASSERTED}
          <Metadata><Item Key="language.required_field">Fill this in.</Item></Metadata>
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="email"/>
            <OutputClaim ClaimTypeReferenceId="color" Required="true"/>
            <OutputClaim ClaimTypeReferenceId="toppings"/>
            <OutputClaim ClaimTypeReferenceId="age"/>
            <OutputClaim ClaimTypeReferenceId="pin"/>
            <OutputClaim ClaimTypeReferenceId="password"/>
            <OutputClaim ClaimTypeReferenceId="birthDate"/>
          </OutputClaims>
        </TechnicalProfile>
        <TechnicalProfile Id="Shown">{SELF_ASSERTED}
          <OutputClaims>
            <OutputClaim ClaimTypeReferenceId="notice"/>
            <OutputClaim ClaimTypeReferenceId="upn"/>
            <OutputClaim ClaimTypeReferenceId="nickname"/>
          </OutputClaims>
        </TechnicalProfile>"#
        )
    }

    fn harness() -> Harness {
        Harness::new(policy(CLAIMS, &profiles()))
    }

    fn form(result: &ProfileResult) -> (Vec<Field>, Option<String>) {
        match result {
            ProfileResult::NeedsInput(page) => match &page.kind {
                PageKind::Form { fields } => (fields.clone(), page.error.clone()),
                other => panic!("expected a form, got {other:?}"),
            },
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn field_names(fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| f.claim.as_str()).collect()
    }

    /// Submits to `Rules` and returns the page error (None when the page passed).
    fn rules_error(h: &Harness, values: &[(&str, &str)]) -> Option<String> {
        let mut all = vec![("color", "red")];
        all.extend_from_slice(values);
        match h.run(&SelfAsserted, "Rules", vec![], submit(&all)) {
            ProfileResult::Claims(_) => None,
            other => form(&other).1,
        }
    }

    #[test]
    fn output_claims_with_an_input_type_are_shown_except_validation_outputs() {
        let mut h = harness();
        h.set("nickname", string("Bob"));
        h.set("email", string("from-bag@contoso.com"));
        let inputs = h.inputs("Form", &[("email", string("a@contoso.com"))]);
        let (fields, error) = form(&h.run(&SelfAsserted, "Form", inputs, None));
        // objectId has no UserInputType; displayName is produced by the validation profile.
        assert_eq!(field_names(&fields), ["email", "nickname", "age"]);
        assert_eq!(error, None);
        assert_eq!(
            fields[0],
            Field {
                claim: "email".into(),
                input_type: Some("TextBox".into()),
                required: true,
                prefilled: Some("a@contoso.com".into())
            }
        );
        // Without an input claim the bag pre-fills.
        assert_eq!(fields[1].prefilled.as_deref(), Some("Bob"));
        assert!(!fields[1].required);
    }

    #[test]
    fn display_claims_replace_output_claims_and_expand_display_controls() {
        let h = harness();
        let (fields, _) = form(&h.run(&SelfAsserted, "Display", vec![], None));
        assert_eq!(field_names(&fields), ["email", "code", "color"]);
        assert!(fields.iter().all(|f| f.required));
        // nickname is an output claim but not displayed.
        let result = h.run(&SelfAsserted, "Display", vec![], submit(&[("nickname", "x")]));
        assert!(matches!(result, ProfileResult::InvalidAnswer(_)), "{result:?}");
    }

    #[test]
    fn a_page_with_nothing_to_show_is_skipped() {
        let h = harness();
        assert_eq!(h.run(&SelfAsserted, "Empty", vec![], None), ProfileResult::Claims(vec![]));
    }

    #[test]
    fn submitted_values_come_back_typed_under_partner_names() {
        let h = harness();
        let inputs = h.inputs("Form", &[("email", string("a@contoso.com"))]);
        // The page verified the address earlier (a Verified.Email field needs its code first).
        let verified = serde_json::json!({ "verified": "a@contoso.com" });
        let result = h.run_with_state(
            &SelfAsserted,
            "Form",
            inputs,
            submit(&[("nickname", "Bob"), ("Age", "42")]),
            Some(&verified),
        );
        // The pre-filled email is submitted as shown; the claim id matches case-insensitively.
        assert_eq!(
            result,
            ProfileResult::Claims(vec![
                ("Verified.Email".into(), string("a@contoso.com")),
                ("nickname".into(), string("Bob")),
                ("age".into(), ClaimValue::Int(42)),
            ])
        );
    }

    #[test]
    fn required_fields_must_be_filled_and_all_errors_are_reported() {
        let h = harness();
        let result = h.run(&SelfAsserted, "Form", vec![], submit(&[("age", "old"), ("nickname", "Bob")]));
        let (fields, error) = form(&result);
        assert_eq!(error.as_deref(), Some("email: This information is required.\nage: age has invalid input."));
        // The page re-renders with what was typed.
        assert_eq!(fields[1].prefilled.as_deref(), Some("Bob"));
        assert_eq!(fields[2].prefilled.as_deref(), Some("old"));
        // Blank counts as missing; the message comes from language.required_field.
        assert_eq!(rules_error(&h, &[("color", "  ")]).as_deref(), Some("color: Fill this in."));
    }

    #[test]
    fn enumerations_accept_only_their_values() {
        let h = harness();
        assert_eq!(rules_error(&h, &[("color", "green")]).as_deref(), Some("color: color has invalid input."));
        assert_eq!(rules_error(&h, &[("color", "Red")]).as_deref(), Some("color: color has invalid input."));
        assert_eq!(rules_error(&h, &[("color", "blue")]), None);
        // Multi-select: every comma-separated value must be allowed.
        assert_eq!(rules_error(&h, &[("toppings", "cheese,ham")]), None);
        assert_eq!(
            rules_error(&h, &[("toppings", "cheese,olives")]).as_deref(),
            Some("toppings: toppings has invalid input.")
        );
    }

    #[test]
    fn a_choice_left_as_shown_submits_only_its_selected_options() {
        let mut h = harness();
        // No value: the option marked SelectByDefault is selected, and posted.
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[]));
        assert_eq!(result, ProfileResult::Claims(vec![("color".into(), string("blue"))]));
        // A value that is no option shows nothing selected: the field is empty, so Required.
        h.set("color", string("green"));
        let (_, error) = form(&h.run(&SelfAsserted, "Rules", vec![], submit(&[])));
        assert_eq!(error.as_deref(), Some("color: Fill this in."));
        // Check boxes keep the prefilled values that are options.
        h.set("color", string("red"));
        h.set("toppings", string("cheese,olives"));
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[]));
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("color".into(), string("red")), ("toppings".into(), string("cheese"))])
        );
        // A single choice the page marks twice (a prefilled list) posts what a browser keeps: the last.
        h.set("color", string("red,blue"));
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[]));
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("color".into(), string("blue")), ("toppings".into(), string("cheese"))])
        );
    }

    #[test]
    fn check_boxes_posted_as_repeated_fields_are_one_value() {
        let mut h = harness();
        // The group's empty field posted alone: none ticked clears what was prefilled.
        h.set("toppings", string("cheese"));
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[("color", "red"), ("toppings", "")]));
        assert_eq!(result, ProfileResult::Claims(vec![("color".into(), string("red"))]));
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[("color", "red"), ("toppings", ",ham")]));
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("color".into(), string("red")), ("toppings".into(), string("ham"))])
        );
        let result = h.run(
            &SelfAsserted,
            "Rules",
            vec![],
            submit(&[("color", "red"), ("toppings", "cheese"), ("toppings", "ham")]),
        );
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("color".into(), string("red")), ("toppings".into(), string("cheese,ham"))])
        );
    }

    #[test]
    fn patterns_show_their_help_text() {
        let h = harness();
        assert_eq!(
            rules_error(&h, &[("email", "not-an-address")]).as_deref(),
            Some("email: Please enter a valid email address.")
        );
        assert_eq!(rules_error(&h, &[("email", "a@b")]), None);
        let mut h = harness();
        h.env
            .strings
            .insert(("ClaimType".into(), "email".into(), "PatternHelpText".into()), "Adresse invalide.".into());
        assert_eq!(rules_error(&h, &[("email", "nope")]).as_deref(), Some("email: Adresse invalide."));
    }

    #[test]
    fn matches_regex_and_length_predicates_must_all_pass_without_match_at_least() {
        let h = harness();
        assert_eq!(rules_error(&h, &[("pin", "1234")]), None);
        assert_eq!(rules_error(&h, &[("pin", "12a4")]).as_deref(), Some("pin: Digits only (attribute)."));
        assert_eq!(rules_error(&h, &[("pin", "123")]).as_deref(), Some("pin: Exactly 4 characters."));
        assert_eq!(
            rules_error(&h, &[("pin", "12a")]).as_deref(),
            Some("pin: Digits only (attribute). Exactly 4 characters.")
        );
    }

    #[test]
    fn match_at_least_counts_passing_predicates_per_group() {
        let h = harness();
        // Three of four classes, 8 to 16 long.
        assert_eq!(rules_error(&h, &[("password", "abcDEF12")]), None);
        assert_eq!(rules_error(&h, &[("password", "abc#EF-gh")]), None);
        // Two classes: the classes group fails and lists what is missing.
        assert_eq!(
            rules_error(&h, &[("password", "abcdefgh1")]).as_deref(),
            Some("password: The password must have at least 3 of the following: an uppercase letter a symbol")
        );
        // Both groups fail.
        assert_eq!(rules_error(&h, &[("password", "aB1")]).as_deref(), Some("password: Length: 8 to 16 characters."));
        assert_eq!(
            rules_error(&h, &[("password", "abc")]).as_deref(),
            Some(
                "password: Length: 8 to 16 characters. The password must have at least 3 of the following: \
                 an uppercase letter a digit a symbol"
            )
        );
        // Localized predicate and group texts win.
        let mut h = harness();
        h.env.strings.insert(("Predicate".into(), "Length8to16".into(), "HelpText".into()), "8-16 !".into());
        h.env.strings.insert(("InputValidation".into(), "Strong".into(), "Length".into()), "Longueur :".into());
        assert_eq!(rules_error(&h, &[("password", "aB1")]).as_deref(), Some("password: Longueur : 8-16 !"));
    }

    #[test]
    fn date_ranges_read_today_from_the_clock() {
        // FixedEnv's clock is 2024-01-01.
        let h = harness();
        assert_eq!(rules_error(&h, &[("birthDate", "2000-05-17")]), None);
        assert_eq!(rules_error(&h, &[("birthDate", "2024-01-01")]), None);
        let message = Some("birthDate: The date must be between 1900-01-01 and today.".to_owned());
        assert_eq!(rules_error(&h, &[("birthDate", "2024-01-02")]), message);
        assert_eq!(rules_error(&h, &[("birthDate", "1899-12-31")]), message);
        // Not a date at all fails the data type first.
        assert_eq!(
            rules_error(&h, &[("birthDate", "yesterday")]).as_deref(),
            Some("birthDate: birthDate has invalid input.")
        );
        let mut h = harness();
        h.env.now = chrono::NaiveDate::from_ymd_opt(2030, 6, 1).unwrap().and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(rules_error(&h, &[("birthDate", "2024-01-02")]), None);
    }

    #[test]
    fn passwords_are_never_prefilled_and_come_back_on_success() {
        let mut h = harness();
        h.set("password", string("old-secret-1A"));
        let (fields, _) = form(&h.run(&SelfAsserted, "Rules", vec![], None));
        assert_eq!(fields.iter().find(|f| f.claim == "password").unwrap().prefilled, None);
        let result = h.run(&SelfAsserted, "Rules", vec![], submit(&[("color", "red"), ("password", "abcDEF12")]));
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("color".into(), string("red")), ("password".into(), string("abcDEF12"))])
        );
        // A failed page does not echo the password back (age fails; color posts its default).
        let (fields, _) =
            form(&h.run(&SelfAsserted, "Rules", vec![], submit(&[("age", "old"), ("password", "abcDEF12")])));
        assert_eq!(fields.iter().find(|f| f.claim == "password").unwrap().prefilled, None);
    }

    #[test]
    fn read_only_fields_are_shown_but_not_editable() {
        let mut h = harness();
        h.set("upn", string("bob@contoso.com"));
        h.set("notice", string("Read this."));
        let (fields, _) = form(&h.run(&SelfAsserted, "Shown", vec![], None));
        assert_eq!(field_names(&fields), ["notice", "upn", "nickname"]);
        assert_eq!(fields[0].prefilled.as_deref(), Some("Read this."));
        let result = h.run(&SelfAsserted, "Shown", vec![], submit(&[("nickname", "B")]));
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("upn".into(), string("bob@contoso.com")), ("nickname".into(), string("B"))])
        );
        let result = h.run(&SelfAsserted, "Shown", vec![], submit(&[("upn", "eve@contoso.com")]));
        match result {
            ProfileResult::InvalidAnswer(message) => assert!(message.contains("read-only"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cancel_and_unexpected_answers_fail() {
        let h = harness();
        assert_eq!(
            h.run(&SelfAsserted, "Form", vec![], Some(ief_engine::exec::Answer::Cancel)),
            ProfileResult::Failed(ProfileError {
                code: "AADB2C90091".into(),
                user_message: "The user has cancelled entering self-asserted information.".into()
            })
        );
        let result = h.run(&SelfAsserted, "Form", vec![], Some(ief_engine::exec::Answer::Code("1".into())));
        assert!(matches!(result, ProfileResult::InvalidAnswer(_)), "{result:?}");
        let result = h.run(&SelfAsserted, "Form", vec![], submit(&[("colour", "red")]));
        match result {
            ProfileResult::InvalidAnswer(message) => {
                assert_eq!(
                    message,
                    "'colour' is not a field of self-asserted page 'Form' (its fields: email, nickname, age)"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn starter_pack_local_sign_up_checks_the_password_pattern_and_re_entry() {
        let mut h = Harness::new(starter_pack("LocalAccounts"));
        h.extensions.insert(crate::phone::CodeOutbox::new());
        let profile = "LocalAccountSignUpWithLogonEmail";
        let (fields, _) = form(&h.run(&SelfAsserted, profile, h.inputs(profile, &[]), None));
        assert_eq!(
            field_names(&fields),
            ["email", "newPassword", "reenterPassword", "displayName", "givenName", "surname"]
        );
        assert_eq!(fields.iter().filter(|f| f.required).count(), 3);
        let weak = [("email", "bob@contoso.com"), ("newPassword", "password"), ("reenterPassword", "password")];
        let (_, error) = form(&h.run(&SelfAsserted, profile, vec![], submit(&weak)));
        let error = error.unwrap();
        assert!(error.starts_with("newPassword: 8-16 characters, containing 3 out of 4"), "{error}");
        // reenterPassword's HelpText is blank: the documented pattern message replaces it.
        assert!(error.ends_with("\nreenterPassword: Incorrect pattern for: reenterPassword"), "{error}");
        let mismatch = [("email", "bob@contoso.com"), ("newPassword", "Passw0rd!"), ("reenterPassword", "Passw0rd?")];
        let (_, error) = form(&h.run(&SelfAsserted, profile, vec![], submit(&mismatch)));
        assert_eq!(
            error.as_deref(),
            Some(
                "reenterPassword: The password entry fields do not match. Please enter the same password in both \
                 fields and try again."
            )
        );
        let bad_email = [("email", "bob"), ("newPassword", "Passw0rd!"), ("reenterPassword", "Passw0rd!")];
        let (_, error) = form(&h.run(&SelfAsserted, profile, vec![], submit(&bad_email)));
        assert_eq!(error.as_deref(), Some("email: Please enter a valid email address."));
        let good = [
            ("email", "bob@contoso.com"),
            ("newPassword", "Passw0rd!"),
            ("reenterPassword", "Passw0rd!"),
            ("givenName", "Bob"),
            ("surName", "Smith"),
        ];
        // A form that passes its checks asks for the email code next (email_verification).
        match h.run(&SelfAsserted, profile, vec![], submit(&good)) {
            ProfileResult::NeedsInput(page) => {
                assert_eq!(page.kind, PageKind::Code { to: "bob@contoso.com".into() })
            }
            other => panic!("expected the code page, got {other:?}"),
        }
    }
}
