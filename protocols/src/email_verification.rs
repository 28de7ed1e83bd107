//! Email verification on self-asserted pages: an output claim with `PartnerClaimType=
//! "Verified.Email"` needs a code sent to the address and typed back before the page continues,
//! unless the profile says `EnforceEmailVerification=false` (the starter pack's sign-up and
//! password-reset pages rely on it).
//!
//! The page's buttons become answers: a submission with an address not yet verified is "Send
//! verification code" (the code goes to the [`CodeOutbox`] and a code page names the address);
//! a code answer is "Verify code" (the form comes back, the address verified); the next
//! submission with that address continues as usual. The page's `profile_state` carries what the
//! browser would keep: the verified or pending address and the typed values, never passwords.

use chrono::TimeDelta;
use ief_engine::exec::{Page, PageKind, ProfileRequest, ProfileResult};
use ief_transforms::dotnet;
use ief_transforms::value::parse_bool;
use serde::{Deserialize, Serialize};

use crate::phone::{Challenge, alphabet, generate_code, outbox};
use crate::self_asserted::{ShownField, check_field, invalid_answer, page, same_claim, ux_string};

/// The partner claim type that asks for verification.
const VERIFIED_EMAIL: &str = "Verified.Email";
/// Six digits, valid five minutes, three wrong tries. B2C documents none of these for the
/// built-in verification; they are this emulator's choice (docs/compatibility.md).
const CODE_LENGTH: usize = 6;
const CODE_PATTERN: &str = r"^\d{6}$";
const CODE_SECONDS: i64 = 300;
const MAX_ATTEMPTS: u32 = 3;

// B2C's UxElement strings (localization-string-ids, "Sign-up and self-asserted pages").
const VER_FAIL_RETRY: &str = "That code is incorrect. Please try again.";
const VER_FAIL_CODE_EXPIRED: &str = "That code is expired. Please request a new code.";
const VER_FAIL_NO_RETRY: &str = "You've made too many incorrect attempts. Please try again later.";
const VER_INCORRECT_FORMAT: &str = "Incorrect format.";

/// What the page remembers between its answers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The address a code was typed back for.
    #[serde(default)]
    verified: Option<String>,
    /// The address the last code went to, while it waits for the code.
    #[serde(default)]
    pending: Option<String>,
    /// The non-password values typed before the code was sent, shown again afterwards.
    #[serde(default)]
    typed: Vec<(String, String)>,
}

impl State {
    fn read(request: &ProfileRequest<'_>) -> State {
        request.profile_state.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }

    fn value(&self) -> Option<Box<serde_json::Value>> {
        serde_json::to_value(self).ok().map(Box::new)
    }
}

/// The field whose address must be verified on this page, if any: also a read-only one, whose
/// prefilled address is verified (Microsoft's email-MFA samples show `readOnlyEmail` so). A
/// page with a VerificationControl verifies through the control's buttons instead.
fn field_to_verify<'f>(request: &ProfileRequest<'_>, fields: &'f [ShownField]) -> Option<&'f ShownField> {
    let policy = request.policy;
    let has_control = request.profile.display_claims.iter().filter_map(|d| d.display_control.as_ref()).any(|c| {
        policy
            .display_controls
            .iter()
            .any(|dc| dc.id.value == c.value && dc.control_type.as_deref() == Some("VerificationControl"))
    });
    let enforced =
        !has_control && request.profile.metadata("EnforceEmailVerification").and_then(parse_bool).unwrap_or(true);
    enforced.then(|| {
        fields.iter().find(|f| {
            f.partner.as_deref().is_some_and(|p| p.trim().eq_ignore_ascii_case(VERIFIED_EMAIL))
                && f.input_type.as_deref() != Some("Paragraph")
        })
    })?
}

fn challenge_key(request: &ProfileRequest<'_>) -> (String, String) {
    (request.context.correlation_id.clone(), format!("email:{}", request.profile.id.value))
}

/// A submission: `Some` when it stops to send a code (the address is not verified yet), `None`
/// when the page goes on as usual.
pub(crate) fn before_submit(
    request: &ProfileRequest<'_>,
    fields: &[ShownField],
    values: &[(String, String)],
) -> Option<ProfileResult> {
    let field = field_to_verify(request, fields)?;
    // A field left out posts what it shows, as the form's own checks take it.
    let submitted = values.iter().rev().find(|(k, _)| same_claim(request.policy, k, &field.claim)).map(|(_, v)| v);
    let address = submitted.or(field.prefilled.as_ref())?.trim();
    // An empty or malformed address is the form's own error to show.
    if address.is_empty() || check_field(request, field, address).is_err() {
        return None;
    }
    let state = State::read(request);
    if state.verified.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(address)) {
        return None;
    }
    let outbox = match outbox(request) {
        Ok(o) => o,
        Err(failed) => return Some(failed),
    };
    let env = request.services.env;
    let now = env.now();
    let code = generate_code(env, CODE_LENGTH, &alphabet("0-9"));
    outbox.record(address, &code, now);
    let challenge = Challenge {
        destination: address.to_owned(),
        code,
        expires: now + TimeDelta::seconds(CODE_SECONDS),
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        generated: 1,
        new_number: false,
    };
    outbox.put(challenge_key(request), challenge);
    let typed = values
        .iter()
        .filter(|(k, _)| fields.iter().any(|f| same_claim(request.policy, &f.claim, k) && !f.is_password()))
        .cloned()
        .collect();
    let state = State { verified: None, pending: Some(address.to_owned()), typed };
    Some(code_page(request, &state, None))
}

/// Whether the page takes email codes.
pub(crate) fn takes_codes(request: &ProfileRequest<'_>, fields: &[ShownField]) -> bool {
    field_to_verify(request, fields).is_some()
}

/// "Verify code": the form again with the address verified, or B2C's message for a wrong,
/// expired or too often wrong code.
pub(crate) fn verify(request: &ProfileRequest<'_>, fields: &[ShownField], code: &str) -> ProfileResult {
    let mut state = State::read(request);
    let not_sent = || invalid_answer(format!("'{}' has not sent an email code to verify", request.profile.id.value));
    let Some(address) = state.pending.clone() else { return not_sent() };
    let outbox = match outbox(request) {
        Ok(o) => o,
        Err(failed) => return failed,
    };
    let key = challenge_key(request);
    let Some(mut challenge) = outbox.challenge(&key) else { return not_sent() };
    let code = code.trim();
    // The page checks the format before anything is sent; it costs no attempt.
    if !dotnet::is_match(CODE_PATTERN, code) {
        return code_page(request, &state, Some(ux_string(request, "ver_incorrect_format", VER_INCORRECT_FORMAT)));
    }
    if request.services.env.now() > challenge.expires {
        outbox.remove(&key);
        state.pending = None;
        let message = ux_string(request, "ver_fail_code_expired", VER_FAIL_CODE_EXPIRED);
        return form_page(request, fields, state, Some(message));
    }
    if code != challenge.code {
        challenge.attempts += 1;
        if challenge.attempts >= challenge.max_attempts {
            outbox.remove(&key);
            state.pending = None;
            let message = ux_string(request, "ver_fail_no_retry", VER_FAIL_NO_RETRY);
            return form_page(request, fields, state, Some(message));
        }
        outbox.put(key, challenge);
        return code_page(request, &state, Some(ux_string(request, "ver_fail_retry", VER_FAIL_RETRY)));
    }
    outbox.remove(&key);
    state.pending = None;
    state.verified = Some(address);
    form_page(request, fields, state, None)
}

/// A submission's page keeps what the page already remembered (a verified address).
pub(crate) fn keep_state(request: &ProfileRequest<'_>, result: ProfileResult) -> ProfileResult {
    match result {
        ProfileResult::NeedsInput(mut page) if page.profile_state.is_none() => {
            page.profile_state = request.profile_state.map(|v| Box::new(v.clone()));
            ProfileResult::NeedsInput(page)
        }
        other => other,
    }
}

fn code_page(request: &ProfileRequest<'_>, state: &State, error: Option<String>) -> ProfileResult {
    ProfileResult::NeedsInput(Page {
        profile: request.profile.id.value.to_string(),
        kind: PageKind::Code { to: state.pending.clone().unwrap_or_default() },
        error,
        profile_state: state.value(),
        settings: Default::default(),
    })
}

/// The form with the values typed before the code was sent.
fn form_page(
    request: &ProfileRequest<'_>,
    fields: &[ShownField],
    state: State,
    error: Option<String>,
) -> ProfileResult {
    let shown: Vec<ShownField> = fields
        .iter()
        .map(|f| {
            let typed = state.typed.iter().rev().find(|(k, _)| same_claim(request.policy, k, &f.claim));
            ShownField { prefilled: typed.map(|(_, v)| v.clone()).or_else(|| f.prefilled.clone()), ..f.clone() }
        })
        .collect();
    let mut page = page(request, &shown, error);
    page.profile_state = state.value();
    ProfileResult::NeedsInput(page)
}

#[cfg(test)]
mod tests {
    use ief_engine::exec::{Answer, Field, PageKind, ProfileResult};
    use ief_transforms::ClaimValue;
    use serde_json::Value;

    use crate::phone::CodeOutbox;
    use crate::self_asserted::SelfAsserted;
    use crate::self_asserted::testing::{Harness, SELF_ASSERTED, policy, starter_pack};

    const SIGN_UP: &str = "LocalAccountSignUpWithLogonEmail";

    const GOOD: [(&str, &str); 4] = [
        ("email", "bob@contoso.com"),
        ("newPassword", "Passw0rd!"),
        ("reenterPassword", "Passw0rd!"),
        ("givenName", "Bob"),
    ];

    fn harness() -> Harness {
        let mut h = Harness::new(starter_pack("LocalAccounts"));
        h.extensions.insert(CodeOutbox::new());
        h
    }

    fn submit(values: &[(&str, &str)]) -> Option<Answer> {
        Some(Answer::Submit(values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
    }

    fn code(text: &str) -> Option<Answer> {
        Some(Answer::Code(text.to_owned()))
    }

    /// Runs one answer on the page that kept `state`; returns the result and the next state.
    fn step(h: &Harness, answer: Option<Answer>, state: &Option<Value>) -> (ProfileResult, Option<Value>) {
        let result = h.run_with_state(&SelfAsserted, SIGN_UP, vec![], answer, state.as_ref());
        let next = match &result {
            ProfileResult::NeedsInput(page) => page.profile_state.as_deref().cloned(),
            _ => None,
        };
        (result, next)
    }

    /// The page's kind and error.
    fn shown(result: &ProfileResult) -> (PageKind, Option<String>) {
        match result {
            ProfileResult::NeedsInput(page) => (page.kind.clone(), page.error.clone()),
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn sent(h: &Harness) -> String {
        h.extensions.get::<CodeOutbox>().unwrap().last_code("bob@contoso.com").expect("a code was sent")
    }

    fn code_page() -> PageKind {
        PageKind::Code { to: "bob@contoso.com".into() }
    }

    #[test]
    fn the_page_continues_only_with_a_sent_and_verified_code() {
        let h = harness();
        let (result, state) = step(&h, submit(&GOOD), &None);
        assert_eq!(shown(&result), (code_page(), None));
        let state_text = state.as_ref().unwrap().to_string();
        assert!(!state_text.contains("Passw0rd!"), "passwords are never kept: {state_text}");

        let (result, state) = step(&h, code(&sent(&h)), &state);
        let (kind, error) = shown(&result);
        assert_eq!(error, None);
        let PageKind::Form { fields } = kind else { panic!("expected the form, got {kind:?}") };
        let value = |name: &str| fields.iter().find(|f: &&Field| f.claim == name).and_then(|f| f.prefilled.clone());
        assert_eq!(value("email").as_deref(), Some("bob@contoso.com"));
        assert_eq!(value("givenName").as_deref(), Some("Bob"));
        assert_eq!(value("newPassword"), None);

        let (result, _) = step(&h, submit(&GOOD), &state);
        match result {
            ProfileResult::Claims(claims) => {
                assert!(claims.contains(&("Verified.Email".into(), ClaimValue::String("bob@contoso.com".into()))))
            }
            other => panic!("expected the claims, got {other:?}"),
        }
        // Another address is not the verified one: a new code goes out.
        let other = [("email", "eve@contoso.com"), ("newPassword", "Passw0rd!"), ("reenterPassword", "Passw0rd!")];
        let (result, _) = step(&h, submit(&other), &state);
        assert_eq!(shown(&result), (PageKind::Code { to: "eve@contoso.com".into() }, None));
    }

    #[test]
    fn wrong_codes_give_b2cs_messages_and_the_third_ends_the_code() {
        let h = harness();
        let (_, state) = step(&h, submit(&GOOD), &None);
        let (result, state) = step(&h, code("12ab"), &state);
        assert_eq!(shown(&result), (code_page(), Some("Incorrect format.".into())), "no attempt spent");
        let (result, state) = step(&h, code("000000"), &state);
        assert_eq!(shown(&result), (code_page(), Some("That code is incorrect. Please try again.".into())));
        let (_, state) = step(&h, code("000001"), &state);
        let right = sent(&h);
        let (result, state) = step(&h, code("000002"), &state);
        let (kind, error) = shown(&result);
        assert!(matches!(kind, PageKind::Form { .. }), "{kind:?}");
        assert_eq!(error.as_deref(), Some("You've made too many incorrect attempts. Please try again later."));
        // The code is void: even the right one is no longer waited for.
        match step(&h, code(&right), &state).0 {
            ProfileResult::InvalidAnswer(message) => {
                assert!(message.contains("has not sent an email code"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // Submitting again sends a new one.
        let (result, _) = step(&h, submit(&GOOD), &state);
        assert_eq!(shown(&result), (code_page(), None));
        assert_eq!(h.extensions.get::<CodeOutbox>().unwrap().sent().len(), 2);
    }

    #[test]
    fn a_code_typed_after_five_minutes_is_expired() {
        let mut h = harness();
        let (_, state) = step(&h, submit(&GOOD), &None);
        let right = sent(&h);
        h.env.now += chrono::TimeDelta::seconds(301);
        let (result, _) = step(&h, code(&right), &state);
        let (kind, error) = shown(&result);
        assert!(matches!(kind, PageKind::Form { .. }), "{kind:?}");
        assert_eq!(error.as_deref(), Some("That code is expired. Please request a new code."));
    }

    #[test]
    fn a_page_that_does_not_enforce_verification_continues_at_once() {
        let claims = r#"<ClaimsSchema><ClaimType Id="email"><DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType></ClaimsSchema>"#;
        let profile = |enforce: &str| {
            format!(
                r#"<TechnicalProfile Id="Page">{SELF_ASSERTED}<Metadata>{enforce}</Metadata>
                <OutputClaims><OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="Verified.Email"/></OutputClaims></TechnicalProfile>"#
            )
        };
        let mut h = Harness::new(policy(claims, &profile(r#"<Item Key="EnforceEmailVerification">False</Item>"#)));
        h.extensions.insert(CodeOutbox::new());
        let result = h.run(&SelfAsserted, "Page", vec![], submit(&[("email", "bob@contoso.com")]));
        assert!(matches!(result, ProfileResult::Claims(_)), "{result:?}");

        let mut h = Harness::new(policy(claims, &profile("")));
        h.extensions.insert(CodeOutbox::new());
        let result = h.run(&SelfAsserted, "Page", vec![], submit(&[("email", "bob@contoso.com")]));
        assert_eq!(shown(&result).0, code_page(), "enforced by default");
    }

    #[test]
    fn a_read_only_address_is_verified_as_shown() {
        let claims = r#"<ClaimsSchema><ClaimType Id="readOnlyEmail"><DataType>string</DataType><UserInputType>Readonly</UserInputType></ClaimType></ClaimsSchema>"#;
        let profile = format!(
            r#"<TechnicalProfile Id="Page">{SELF_ASSERTED}
            <InputClaims><InputClaim ClaimTypeReferenceId="readOnlyEmail"/></InputClaims>
            <OutputClaims><OutputClaim ClaimTypeReferenceId="readOnlyEmail" PartnerClaimType="Verified.Email" Required="true"/></OutputClaims></TechnicalProfile>"#
        );
        let mut h = Harness::new(policy(claims, &profile));
        h.extensions.insert(CodeOutbox::new());
        let inputs = || h.inputs("Page", &[("readOnlyEmail", ClaimValue::String("bob@contoso.com".into()))]);
        let run = |answer, state: &Option<Value>| {
            let result = h.run_with_state(&SelfAsserted, "Page", inputs(), answer, state.as_ref());
            let next = match &result {
                ProfileResult::NeedsInput(page) => page.profile_state.as_deref().cloned(),
                _ => None,
            };
            (result, next)
        };
        // Continue on the page as shown sends the code to the shown address.
        let (result, state) = run(submit(&[]), &None);
        assert_eq!(shown(&result), (code_page(), None));
        let (result, state) = run(code(&sent(&h)), &state);
        assert!(matches!(shown(&result).0, PageKind::Form { .. }), "{result:?}");
        let (result, _) = run(submit(&[]), &state);
        assert_eq!(
            result,
            ProfileResult::Claims(vec![("Verified.Email".into(), ClaimValue::String("bob@contoso.com".into()))])
        );
    }

    #[test]
    fn a_form_with_errors_shows_them_before_any_code_is_sent() {
        let h = harness();
        let weak = [("email", "bob@contoso.com"), ("newPassword", "weak"), ("reenterPassword", "weak")];
        let (result, _) = step(&h, submit(&weak), &None);
        assert!(matches!(shown(&result).0, PageKind::Form { .. }));
        assert!(h.extensions.get::<CodeOutbox>().unwrap().sent().is_empty());
    }
}
