//! Verification codes: the phone factor page (`PhoneFactorProtocolProvider`), one-time passwords
//! (`OneTimePasswordProtocolProvider`) and Azure MFA SMS (`AzureMfaProtocolProvider`).
//!
//! Nothing is really sent: codes go to a [`CodeOutbox`], where a scenario driver reads "the code
//! the user received". The outbox also keeps the codes the service waits for, per sign-in
//! (`RequestContext::correlation_id`), since handlers hold no state between calls.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{NaiveDateTime, TimeDelta};
use ief_engine::exec::{
    Answer, BoxFuture, Field, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
};
use ief_engine::model::TechnicalProfile;
use ief_engine::predicate::parse_char_set;
use ief_transforms::dotnet;
use ief_transforms::value::parse_bool;
use ief_transforms::{ClaimValue, DataType, TransformEnv};

use crate::self_asserted::{CANCELLED, answer_kind, error_string, invalid_answer, same_claim, ux_string};

/// The phone factor page's `number_pattern` default.
const NUMBER_PATTERN: &str = r"^\+(?:[0-9][\x20-]?){6,14}[0-9]$";
/// Phone factor and Azure MFA codes: six digits (`code_pattern`), valid ten minutes, three wrong
/// tries. B2C does not document the last two; they are this emulator's choice.
const PHONE_CODE_PATTERN: &str = r"^\d{6}$";
const PHONE_CODE_SECONDS: i64 = 600;
const PHONE_MAX_ATTEMPTS: u32 = 3;
/// The choice that asks for a new code on a code page.
pub const RESEND: &str = "resend";
/// B2C's error when the user exceeds the phone factor's retries.
pub const MFA_RETRIES_EXCEEDED: &str = "AADB2C90151";

/// One message "sent" with a code.
#[derive(Clone, PartialEq, Eq)]
pub struct SentCode {
    /// The phone number or address, as the profile was given it.
    pub destination: String,
    pub code: String,
    pub at: NaiveDateTime,
}

impl fmt::Debug for SentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentCode")
            .field("destination", &self.destination)
            .field("code", &"[redacted]")
            .field("at", &self.at)
            .finish()
    }
}

/// A code the service waits for.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) destination: String,
    pub(crate) code: String,
    pub(crate) expires: NaiveDateTime,
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    /// Codes generated for this key since the last expiry (OTP `NumCodeGenerationAttempts`).
    pub(crate) generated: u32,
    /// Phone factor: the user typed the number on the page.
    pub(crate) new_number: bool,
}

#[derive(Default)]
struct OutboxState {
    sent: Vec<SentCode>,
    /// Keyed by (correlation id, what the code verifies).
    pending: HashMap<(String, String), Challenge>,
}

/// The messages sent with codes, and the codes awaiting verification. Put one in the
/// executor's `Extensions`; the phone factor, OTP and Azure MFA handlers fail without it.
#[derive(Default)]
pub struct CodeOutbox {
    state: Mutex<OutboxState>,
}

impl fmt::Debug for CodeOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        write!(f, "CodeOutbox({} sent, {} pending)", s.sent.len(), s.pending.len())
    }
}

/// Phone numbers and addresses compare without spaces, dashes, brackets and case.
fn normalize(destination: &str) -> String {
    destination.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).flat_map(char::to_lowercase).collect()
}

impl CodeOutbox {
    pub fn new() -> CodeOutbox {
        CodeOutbox::default()
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        // A panic elsewhere never makes the outbox unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a message sent with `code`.
    pub fn record(&self, destination: &str, code: &str, at: NaiveDateTime) {
        self.lock().sent.push(SentCode { destination: destination.to_owned(), code: code.to_owned(), at });
    }

    /// The last code sent to `destination` (`+1 555-0100` matches `+15550100`, and so does the
    /// masked `+X XXX-0100` a code page shows).
    pub fn last_code(&self, destination: &str) -> Option<String> {
        let wanted = normalize(destination);
        // A code page shows the number masked; that form finds it too.
        self.lock()
            .sent
            .iter()
            .rev()
            .find(|s| normalize(&s.destination) == wanted || normalize(&mask_phone(&s.destination)) == wanted)
            .map(|s| s.code.clone())
    }

    /// The last message sent to anyone.
    pub fn last(&self) -> Option<SentCode> {
        self.lock().sent.last().cloned()
    }

    /// Every message, oldest first.
    pub fn sent(&self) -> Vec<SentCode> {
        self.lock().sent.clone()
    }

    pub(crate) fn challenge(&self, key: &(String, String)) -> Option<Challenge> {
        self.lock().pending.get(key).cloned()
    }

    pub(crate) fn put(&self, key: (String, String), challenge: Challenge) {
        self.lock().pending.insert(key, challenge);
    }

    pub(crate) fn remove(&self, key: &(String, String)) {
        self.lock().pending.remove(key);
    }
}

pub(crate) fn outbox<'r>(request: &'r ProfileRequest<'_>) -> Result<&'r CodeOutbox, ProfileResult> {
    request.services.extensions.get::<CodeOutbox>().ok_or_else(|| {
        ProfileResult::Failed(ProfileError {
            code: "ServiceMissing".to_owned(),
            user_message: format!(
                "technical profile '{}' sends verification codes, but no CodeOutbox service was configured",
                request.profile.id.value
            ),
        })
    })
}

/// `length` characters drawn from `alphabet` with the environment's randomness (deterministic
/// in tests). The modulo bias is irrelevant for one-time codes.
pub(crate) fn generate_code(env: &dyn TransformEnv, length: usize, alphabet: &[char]) -> String {
    let mut buf = vec![0u8; length];
    env.fill_random(&mut buf);
    buf.iter().map(|b| alphabet[usize::from(*b) % alphabet.len().max(1)]).collect()
}

/// The characters of a `CharacterSet`, at most 4096 of them.
pub(crate) fn alphabet(set: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for (lo, hi) in parse_char_set(set) {
        for c in lo..=hi {
            if out.len() >= 4096 {
                return out;
            }
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// All but the last four digits hidden, as the phone factor page shows a number.
pub fn mask_phone(number: &str) -> String {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    number
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen + 4 <= digits { 'X' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// The value of the input claim sent as `partner` (or with that ClaimType Id).
fn input(request: &ProfileRequest<'_>, partner: &str) -> Option<String> {
    request
        .inputs
        .iter()
        .find(|i| i.partner.eq_ignore_ascii_case(partner) || i.claim.eq_ignore_ascii_case(partner))
        .and_then(|i| i.value.as_ref())
        .map(ClaimValue::to_string)
        .filter(|v| !v.trim().is_empty())
}

/// `text` typed as the output claim returned under `partner` expects.
fn typed_output(request: &ProfileRequest<'_>, partner: &str, text: &str) -> ClaimValue {
    let policy = request.policy;
    let data_type = request
        .profile
        .output_claims
        .iter()
        .find(|oc| {
            oc.partner_claim_type
                .as_ref()
                .map_or_else(|| same_claim(policy, &oc.claim.value, partner), |p| p.value == partner)
        })
        .and_then(|oc| policy.claim(&oc.claim.value))
        .and_then(|c| c.data_type)
        .unwrap_or(DataType::String);
    ClaimValue::parse(data_type, text).unwrap_or_else(|_| ClaimValue::String(text.to_owned()))
}

fn fail(request: &ProfileRequest<'_>, key: &str, default: &str) -> ProfileResult {
    ProfileResult::Failed(ProfileError { code: key.to_owned(), user_message: error_string(request, key, default) })
}

fn metadata_number(profile: &TechnicalProfile, keys: &[&str], default: i64) -> i64 {
    keys.iter().find_map(|k| profile.metadata(k)).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn handler_is(profile: &TechnicalProfile, name: &str) -> bool {
    profile.protocol.as_ref().and_then(|p| p.handler_type()) == Some(name)
}

// ---------------------------------------------------------------------------------------------
// Phone factor

/// The `PhoneFactorProtocolProvider` page: verify a number on file (choosing one when there are
/// several), or enroll a typed one; then the code.
///
/// Answers: none (start), `Choose(claim id or number)` when several numbers are on file,
/// `Submit([(claim, number)])` to enroll, `Code(code)`, `Choose("resend")` for a new code, `Cancel`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhoneFactor;

impl ProfileHandler for PhoneFactor {
    fn name(&self) -> &'static str {
        "PhoneFactorProtocolProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, _invocation: Invocation) -> bool {
        handler_is(profile, "PhoneFactorProtocolProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move { phone_factor(&request).unwrap_or_else(|r| r) })
    }
}

fn phone_factor(request: &ProfileRequest<'_>) -> Result<ProfileResult, ProfileResult> {
    let outbox = outbox(request)?;
    let key = (request.context.correlation_id.clone(), format!("phonefactor:{}", request.profile.id.value));
    let policy = request.policy;
    // Every input but the user id is a phone number claim.
    let phone_inputs: Vec<_> = request.inputs.iter().filter(|i| !i.partner.eq_ignore_ascii_case("UserId")).collect();
    let numbers: Vec<(String, String)> = phone_inputs
        .iter()
        .filter_map(|i| Some((i.claim.clone(), i.value.as_ref()?.to_string())))
        .filter(|(_, n)| !n.trim().is_empty())
        .collect();
    let entry_claim = phone_inputs.first().map_or("phoneNumber".to_owned(), |i| {
        policy.claim(&i.claim).map_or(i.claim.clone(), |c| c.id.value.to_string())
    });
    let manual = request.profile.metadata("ManualPhoneNumberEntryAllowed").and_then(parse_bool).unwrap_or(false);
    let enroll_page = |error: Option<String>| {
        ProfileResult::NeedsInput(Page {
            profile: request.profile.id.value.to_string(),
            kind: PageKind::Form {
                fields: vec![Field {
                    claim: entry_claim.clone(),
                    input_type: Some("TextBox".to_owned()),
                    required: true,
                    prefilled: None,
                }],
            },
            error,
            profile_state: None,
            settings: Default::default(),
        })
    };
    Ok(match request.answer {
        None => {
            outbox.remove(&key);
            match numbers.as_slice() {
                [] => enroll_page(None),
                [(_, number)] => send_phone_code(request, outbox, key, number, false),
                _ => ProfileResult::NeedsInput(Page {
                    profile: request.profile.id.value.to_string(),
                    kind: PageKind::Selection {
                        options: numbers.iter().map(|(c, _)| c.clone()).collect(),
                        sign_in: None,
                    },
                    error: None,
                    profile_state: None,
                    settings: Default::default(),
                }),
            }
        }
        Some(Answer::Choose(choice)) if choice == RESEND => match outbox.challenge(&key) {
            Some(ch) => send_phone_code(request, outbox, key, &ch.destination, ch.new_number),
            None => invalid_answer(format!("no code was sent yet by '{}' to send again", request.profile.id.value)),
        },
        Some(Answer::Choose(choice)) => {
            let wanted = normalize(choice);
            match numbers.iter().find(|(c, n)| same_claim(policy, c, choice) || normalize(n) == wanted) {
                Some((_, number)) => send_phone_code(request, outbox, key, number, false),
                None => invalid_answer(format!(
                    "'{choice}' is not a phone number offered by '{}' (offered: {})",
                    request.profile.id.value,
                    numbers.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        Some(Answer::Submit(values)) => {
            if !numbers.is_empty() && !manual {
                return Ok(invalid_answer(format!(
                    "'{}' verifies the number on file; it does not take a typed number (ManualPhoneNumberEntryAllowed is not true)",
                    request.profile.id.value
                )));
            }
            let typed = match values.as_slice() {
                [(_, v)] => Some(v.as_str()),
                _ => values.iter().find(|(k, _)| same_claim(policy, k, &entry_claim)).map(|(_, v)| v.as_str()),
            };
            let number = typed.unwrap_or("").trim();
            if number.is_empty() {
                enroll_page(Some(ux_string(request, "requiredField_number", "Please enter your phone number")))
            } else if !dotnet::is_match(&ux_string(request, "number_pattern", NUMBER_PATTERN), number) {
                enroll_page(Some(ux_string(request, "invalid_number", "Please enter a valid phone number")))
            } else {
                send_phone_code(request, outbox, key, number, true)
            }
        }
        Some(Answer::Code(code)) => verify_phone_code(request, outbox, key, code),
        Some(Answer::Cancel) => ProfileResult::Failed(ProfileError {
            code: CANCELLED.to_owned(),
            user_message: ux_string(request, "cancel_message", "The user has canceled multi-factor authentication"),
        }),
        Some(other) => invalid_answer(format!(
            "phone factor page '{}' does not take {}",
            request.profile.id.value,
            answer_kind(other)
        )),
    })
}

fn code_page(request: &ProfileRequest<'_>, number: &str, error: Option<String>) -> ProfileResult {
    ProfileResult::NeedsInput(Page {
        profile: request.profile.id.value.to_string(),
        kind: PageKind::Code { to: mask_phone(number) },
        error,
        profile_state: None,
        settings: Default::default(),
    })
}

fn send_phone_code(
    request: &ProfileRequest<'_>,
    outbox: &CodeOutbox,
    key: (String, String),
    number: &str,
    new_number: bool,
) -> ProfileResult {
    let now = request.services.env.now();
    let code = generate_code(request.services.env, 6, &alphabet("0-9"));
    outbox.record(number, &code, now);
    outbox.put(
        key,
        Challenge {
            destination: number.to_owned(),
            code,
            expires: now + TimeDelta::seconds(PHONE_CODE_SECONDS),
            attempts: 0,
            max_attempts: PHONE_MAX_ATTEMPTS,
            generated: 1,
            new_number,
        },
    );
    code_page(request, number, None)
}

fn verify_phone_code(
    request: &ProfileRequest<'_>,
    outbox: &CodeOutbox,
    key: (String, String),
    code: &str,
) -> ProfileResult {
    let Some(mut ch) = outbox.challenge(&key) else {
        return invalid_answer(format!("'{}' has not sent a code to verify", request.profile.id.value));
    };
    let code = code.trim();
    if code.is_empty() {
        let message = ux_string(request, "requiredField_code", "Please enter the verification code you received");
        return code_page(request, &ch.destination, Some(message));
    }
    // The page checks the format before anything is sent; a malformed code costs no attempt.
    if !dotnet::is_match(PHONE_CODE_PATTERN, code) {
        let message = ux_string(request, "invalid_code", "Please enter the 6-digit code you received");
        return code_page(request, &ch.destination, Some(message));
    }
    let incorrect = || {
        ux_string(
            request,
            "error_incorrect_code",
            "The verification code you have entered does not match our records. Please try again, or request a new code.",
        )
    };
    if request.services.env.now() > ch.expires {
        return code_page(request, &ch.destination, Some(incorrect()));
    }
    if code == ch.code {
        outbox.remove(&key);
        return ProfileResult::Claims(vec![
            ("Verified.OfficePhone".to_owned(), typed_output(request, "Verified.OfficePhone", &ch.destination)),
            ("newPhoneNumberEntered".to_owned(), ClaimValue::Boolean(ch.new_number)),
        ]);
    }
    ch.attempts += 1;
    if ch.attempts >= ch.max_attempts {
        outbox.remove(&key);
        return ProfileResult::Failed(ProfileError {
            code: MFA_RETRIES_EXCEEDED.to_owned(),
            user_message: "User has exceeded the maximum number for retries for multi-factor authentication."
                .to_owned(),
        });
    }
    let destination = ch.destination.clone();
    outbox.put(key, ch);
    code_page(request, &destination, Some(incorrect()))
}

// ---------------------------------------------------------------------------------------------
// One-time password

/// `OneTimePasswordProtocolProvider`: `Operation` `GenerateCode` (input `identifier`, output
/// `otpGenerated`) and `VerifyCode` (inputs `identifier`, `otpToVerify`). Non-interactive; the
/// generated code is also recorded in the outbox under the identifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct OneTimePassword;

impl ProfileHandler for OneTimePassword {
    fn name(&self) -> &'static str {
        "OneTimePasswordProtocolProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, _invocation: Invocation) -> bool {
        handler_is(profile, "OneTimePasswordProtocolProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move { one_time_password(&request).unwrap_or_else(|r| r) })
    }
}

const OTP_MAX_RETRY: &str = "One time password provided verification has exceeded maximum number of attempts";
const OTP_NO_SESSION: &str = "One time password verification session has expired";
const OTP_RETRY_ALLOWED: &str = "That code is incorrect. Please try again.";
// Not documented; worded after the metadata item's description.
const OTP_MAX_GENERATED: &str = "The maximum number of verification codes has been generated. Please try again later.";
const MISSING_ELEMENT: &str = "Missing required element: {0}";

fn missing(request: &ProfileRequest<'_>, name: &str) -> ProfileResult {
    let message = error_string(request, "UserMessageIfMissingRequiredElement", MISSING_ELEMENT).replace("{0}", name);
    ProfileResult::Failed(ProfileError {
        code: "UserMessageIfMissingRequiredElement".to_owned(),
        user_message: message,
    })
}

fn one_time_password(request: &ProfileRequest<'_>) -> Result<ProfileResult, ProfileResult> {
    let outbox = outbox(request)?;
    let profile = request.profile;
    let Some(identifier) = input(request, "identifier") else {
        return Ok(missing(request, "identifier"));
    };
    let key = (request.context.correlation_id.clone(), format!("otp:{}", normalize(&identifier)));
    let now = request.services.env.now();
    let existing = outbox.challenge(&key);
    Ok(match profile.metadata("Operation").map(str::trim) {
        Some("GenerateCode") => {
            let expiry = metadata_number(profile, &["CodeExpirationInSeconds"], 600).clamp(60, 1200);
            let length = metadata_number(profile, &["CodeLength"], 6).clamp(1, 64) as usize;
            let max_attempts =
                metadata_number(profile, &["NumRetryAttempts", "NumRetryAllowed"], 5).clamp(1, 1000) as u32;
            let max_generated = metadata_number(profile, &["NumCodeGenerationAttempts"], 10).clamp(1, 1000) as u32;
            let reuse = profile.metadata("ReuseSameCode").and_then(parse_bool).unwrap_or(false);
            let chars = alphabet(profile.metadata("CharacterSet").unwrap_or("0-9"));
            if chars.is_empty() {
                return Ok(ProfileResult::Failed(ProfileError {
                    code: "InvalidMetadata".to_owned(),
                    user_message: format!("CharacterSet of '{}' has no characters", profile.id.value),
                }));
            }
            let live = existing.filter(|ch| now <= ch.expires);
            if let Some(ch) = &live {
                // Locked out until the code's time runs out.
                if ch.attempts >= ch.max_attempts {
                    return Ok(fail(request, "UserMessageIfMaxRetryAttempted", OTP_MAX_RETRY));
                }
                if ch.generated >= max_generated {
                    return Ok(fail(request, "UserMessageIfMaxNumberOfCodeGenerated", OTP_MAX_GENERATED));
                }
            }
            let code = match &live {
                Some(ch) if reuse => ch.code.clone(),
                _ => generate_code(request.services.env, length, &chars),
            };
            let attempts = live.as_ref().filter(|_| reuse).map_or(0, |ch| ch.attempts);
            let generated = live.as_ref().map_or(0, |ch| ch.generated) + 1;
            outbox.record(&identifier, &code, now);
            outbox.put(
                key,
                Challenge {
                    destination: identifier,
                    code: code.clone(),
                    // Every code handed out extends the expiry.
                    expires: now + TimeDelta::seconds(expiry),
                    attempts,
                    max_attempts,
                    generated,
                    new_number: false,
                },
            );
            ProfileResult::Claims(vec![("otpGenerated".to_owned(), ClaimValue::String(code))])
        }
        Some("VerifyCode") => {
            let Some(code) = input(request, "otpToVerify") else {
                return Ok(missing(request, "otpToVerify"));
            };
            let Some(mut ch) = existing.filter(|ch| now <= ch.expires) else {
                return Ok(fail(request, "UserMessageIfSessionDoesNotExist", OTP_NO_SESSION));
            };
            if ch.attempts >= ch.max_attempts {
                return Ok(fail(request, "UserMessageIfMaxRetryAttempted", OTP_MAX_RETRY));
            }
            if code.trim() == ch.code {
                outbox.remove(&key);
                return Ok(ProfileResult::Claims(Vec::new()));
            }
            ch.attempts += 1;
            let exhausted = ch.attempts >= ch.max_attempts;
            // Kept when exhausted: the lock-out lasts until the code expires.
            outbox.put(key, ch);
            if exhausted {
                fail(request, "UserMessageIfMaxRetryAttempted", OTP_MAX_RETRY)
            } else if profile.metadata("UserMessageIfVerificationFailedRetryAllowed").is_none()
                && let Some(message) = profile.metadata("UserMessageIfInvalidCode")
            {
                ProfileResult::Failed(ProfileError {
                    code: "UserMessageIfInvalidCode".to_owned(),
                    user_message: message.to_owned(),
                })
            } else {
                fail(request, "UserMessageIfVerificationFailedRetryAllowed", OTP_RETRY_ALLOWED)
            }
        }
        other => ProfileResult::Failed(ProfileError {
            code: "InvalidMetadata".to_owned(),
            user_message: format!(
                "one-time password profile '{}' needs Operation GenerateCode or VerifyCode, not {}",
                profile.id.value,
                other.map_or("nothing".to_owned(), |o| format!("'{o}'"))
            ),
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Azure MFA

/// `AzureMfaProtocolProvider`: `Operation` `OneWaySMS` (inputs `phoneNumber`, `userPrincipalName`)
/// sends a six-digit code to the number; `Verify` (inputs `phoneNumber`, `verificationCode`)
/// checks it. The authenticator-app (TOTP) operations: `GetAvailableDevices` (input
/// `userPrincipalName`, output `numberOfAvailableDevices`), `BeginVerifyOTP` (inputs `secretKey`
/// for a new app, `userPrincipalName`) and `VerifyOTP` (input `otpCode`, RFC 6238), which
/// registers a new app's secret on the account. Non-interactive, used from self-asserted pages
/// and display controls.
#[derive(Clone, Copy, Debug, Default)]
pub struct AzureMfa;

impl ProfileHandler for AzureMfa {
    fn name(&self) -> &'static str {
        "AzureMfaProtocolProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, _invocation: Invocation) -> bool {
        handler_is(profile, "AzureMfaProtocolProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        // Authenticator apps read and write the directory.
        Box::pin(async move { ief_store::blocking(|| azure_mfa(&request)).unwrap_or_else(|r| r) })
    }
}

fn azure_mfa(request: &ProfileRequest<'_>) -> Result<ProfileResult, ProfileResult> {
    let outbox = outbox(request)?;
    let profile = request.profile;
    if let Some(op @ ("GetAvailableDevices" | "BeginVerifyOTP" | "VerifyOTP")) =
        profile.metadata("Operation").map(str::trim)
    {
        return authenticator_app(request, outbox, op);
    }
    let Some(phone) = input(request, "phoneNumber") else {
        return Ok(missing(request, "phoneNumber"));
    };
    let key = (request.context.correlation_id.clone(), format!("mfa:{}", normalize(&phone)));
    let now = request.services.env.now();
    Ok(match profile.metadata("Operation").map(str::trim) {
        Some("OneWaySMS") => {
            if !dotnet::is_match(NUMBER_PATTERN, phone.trim()) {
                return Ok(fail(
                    request,
                    "UserMessageIfInvalidFormat",
                    "Your phone number is not in a valid format, please correct it and try again.",
                ));
            }
            let code = generate_code(request.services.env, 6, &alphabet("0-9"));
            outbox.record(&phone, &code, now);
            outbox.put(
                key,
                Challenge {
                    destination: phone,
                    code,
                    expires: now + TimeDelta::seconds(PHONE_CODE_SECONDS),
                    attempts: 0,
                    max_attempts: PHONE_MAX_ATTEMPTS,
                    generated: 1,
                    new_number: false,
                },
            );
            ProfileResult::Claims(Vec::new())
        }
        Some("Verify") => {
            let Some(code) = input(request, "verificationCode") else {
                return Ok(missing(request, "verificationCode"));
            };
            let Some(ch) = outbox.challenge(&key).filter(|ch| now <= ch.expires) else {
                return Ok(fail(request, "UserMessageIfWrongCodeEntered", MFA_WRONG_CODE));
            };
            if code.trim() == ch.code {
                outbox.remove(&key);
                return Ok(ProfileResult::Claims(Vec::new()));
            }
            wrong_mfa_code(request, outbox, key, ch)
        }
        other => ProfileResult::Failed(ProfileError {
            code: "InvalidMetadata".to_owned(),
            user_message: format!(
                "Azure MFA profile '{}' needs Operation OneWaySMS, Verify, GetAvailableDevices, BeginVerifyOTP or VerifyOTP, not {}",
                profile.id.value,
                other.map_or("nothing".to_owned(), |o| format!("'{o}'"))
            ),
        }),
    })
}

const MFA_WRONG_CODE: &str = "Wrong code entered, please try again.";

/// A wrong Azure MFA code: one try fewer, and the code is void after the last.
fn wrong_mfa_code(
    request: &ProfileRequest<'_>,
    outbox: &CodeOutbox,
    key: (String, String),
    mut ch: Challenge,
) -> ProfileResult {
    ch.attempts += 1;
    if ch.attempts >= ch.max_attempts {
        outbox.remove(&key);
        fail(
            request,
            "UserMessageIfMaxAllowedCodeRetryReached",
            "Wrong code entered too many times, please try again later.",
        )
    } else {
        outbox.put(key, ch);
        fail(request, "UserMessageIfWrongCodeEntered", MFA_WRONG_CODE)
    }
}

/// Where the account keeps its authenticator app's secret (B2C keeps it in Azure MFA).
pub const TOTP_SECRET_ATTRIBUTE: &str = "authenticatorAppSecret";
/// How long a BeginVerifyOTP waits for its VerifyOTP, and the tries it allows.
const TOTP_SESSION_SECS: i64 = 600;
const TOTP_MAX_ATTEMPTS: u32 = 3;

/// The authenticator-app operations of `AzureMfaProtocolProvider`.
fn authenticator_app(
    request: &ProfileRequest<'_>,
    outbox: &CodeOutbox,
    operation: &str,
) -> Result<ProfileResult, ProfileResult> {
    let directory = request.services.extensions.get::<crate::directory::Directory>().ok_or_else(|| {
        ProfileResult::Failed(ProfileError {
            code: "ServiceMissing".to_owned(),
            user_message: format!(
                "'{}' keeps authenticator apps on accounts, but no directory was configured",
                request.profile.id.value
            ),
        })
    })?;
    let unavailable = |e: crate::directory::DirectoryError| {
        ProfileResult::Failed(ProfileError { code: "DirectoryError".to_owned(), user_message: e.to_string() })
    };
    let key = (request.context.correlation_id.clone(), "totp".to_owned());
    let now = request.services.env.now();
    let user = |upn: &str| directory.find_by_user_principal_name(upn).map_err(unavailable);
    let stored = |user: &crate::directory::User| {
        user.attribute(TOTP_SECRET_ATTRIBUTE).map(ClaimValue::to_string).filter(|s| !s.is_empty())
    };
    Ok(match operation {
        "GetAvailableDevices" => {
            let Some(upn) = input(request, "userPrincipalName") else {
                return Ok(missing(request, "userPrincipalName"));
            };
            let devices = user(&upn)?.as_ref().and_then(stored).map_or(0, |_| 1);
            ProfileResult::Claims(vec![("numberOfAvailableDevices".to_owned(), ClaimValue::Int(devices))])
        }
        "BeginVerifyOTP" => {
            let Some(upn) = input(request, "userPrincipalName") else {
                return Ok(missing(request, "userPrincipalName"));
            };
            let registered = user(&upn)?.as_ref().and_then(stored);
            let (secret, new_app) = match (input(request, "secretKey"), registered) {
                // A secret of an app being added wins over none.
                (Some(secret), None) => (secret, true),
                (_, Some(secret)) => (secret, false),
                (None, None) => {
                    return Ok(fail(
                        request,
                        "UserMessageIfNoDevice",
                        "No authenticator app is registered for this account.",
                    ));
                }
            };
            let challenge = Challenge {
                destination: upn,
                code: secret,
                expires: now + TimeDelta::seconds(TOTP_SESSION_SECS),
                attempts: 0,
                max_attempts: TOTP_MAX_ATTEMPTS,
                generated: 1,
                new_number: new_app,
            };
            outbox.put(key, challenge);
            ProfileResult::Claims(Vec::new())
        }
        _ => {
            let Some(code) = input(request, "otpCode") else { return Ok(missing(request, "otpCode")) };
            let Some(ch) = outbox.challenge(&key).filter(|ch| now <= ch.expires) else {
                return Ok(fail(request, "UserMessageIfWrongCodeEntered", MFA_WRONG_CODE));
            };
            if crate::totp::verify(&ch.code, &code, now.and_utc().timestamp()) {
                outbox.remove(&key);
                if ch.new_number {
                    let account = user(&ch.destination)?.ok_or_else(|| {
                        fail(request, "UserMessageIfClaimsPrincipalDoesNotExist", "The account does not exist.")
                    })?;
                    let data = crate::directory::UserData {
                        attributes: vec![(TOTP_SECRET_ATTRIBUTE.to_owned(), ClaimValue::String(ch.code.clone()))],
                        ..Default::default()
                    };
                    directory.update(&account.object_id, &data, None).map_err(unavailable)?;
                }
                return Ok(ProfileResult::Claims(Vec::new()));
            }
            wrong_mfa_code(request, outbox, key, ch)
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use ief_engine::exec::{Answer, Field, PageKind, ProfileError, ProfileResult};
    use ief_transforms::ClaimValue;

    use super::{AzureMfa, CodeOutbox, OneTimePassword, PhoneFactor, mask_phone};
    use crate::self_asserted::testing::{Harness, policy, starter_pack, string, submit};

    const MFA_PROFILE: &str = "PhoneFactor-InputOrVerify";

    fn mfa_harness() -> Harness {
        let mut h = Harness::new(starter_pack("SocialAndLocalAccountsWithMfa"));
        h.extensions.insert(CodeOutbox::new());
        h
    }

    fn outbox(h: &Harness) -> &CodeOutbox {
        h.extensions.get::<CodeOutbox>().unwrap()
    }

    fn phone_inputs(h: &Harness, number: Option<&str>) -> Vec<ief_engine::exec::InputClaim> {
        let mut values = vec![("userIdForMFA", string("user-1"))];
        if let Some(n) = number {
            values.push(("strongAuthenticationPhoneNumber", string(n)));
        }
        h.inputs(MFA_PROFILE, &values)
    }

    fn code_page(result: &ProfileResult) -> (String, Option<String>) {
        match result {
            ProfileResult::NeedsInput(page) => match &page.kind {
                PageKind::Code { to } => (to.clone(), page.error.clone()),
                other => panic!("expected a code page, got {other:?}"),
            },
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn invalid(result: ProfileResult) -> String {
        match result {
            ProfileResult::InvalidAnswer(message) => message,
            other => panic!("expected an invalid answer, got {other:?}"),
        }
    }

    fn failed(result: ProfileResult) -> ProfileError {
        match result {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn code(c: &str) -> Option<Answer> {
        Some(Answer::Code(c.to_owned()))
    }

    const INCORRECT: &str =
        "The verification code you have entered does not match our records. Please try again, or request a new code.";

    #[test]
    fn a_number_on_file_gets_a_code_and_the_right_code_verifies_it() {
        let h = mfa_harness();
        let inputs = || phone_inputs(&h, Some("+1 555-555-0100"));
        let first = h.run(&PhoneFactor, MFA_PROFILE, inputs(), None);
        assert_eq!(code_page(&first), ("+X XXX-XXX-0100".to_owned(), None));
        // FixedEnv's randomness makes the code deterministic.
        let sent = outbox(&h).last_code("+15555550100").unwrap();
        assert_eq!(sent, "012345");
        assert_eq!(outbox(&h).last_code("+X XXX-XXX-0100").as_deref(), Some("012345"));
        assert_eq!(
            h.run(&PhoneFactor, MFA_PROFILE, inputs(), code(&sent)),
            ProfileResult::Claims(vec![
                ("Verified.OfficePhone".into(), string("+1 555-555-0100")),
                ("newPhoneNumberEntered".into(), ClaimValue::Boolean(false)),
            ])
        );
        // The code is used up.
        let message = invalid(h.run(&PhoneFactor, MFA_PROFILE, inputs(), code(&sent)));
        assert!(message.contains("has not sent a code to verify"), "{message}");
    }

    #[test]
    fn without_a_number_the_page_asks_for_one_first() {
        let h = mfa_harness();
        let inputs = || phone_inputs(&h, None);
        let result = h.run(&PhoneFactor, MFA_PROFILE, inputs(), None);
        let expected_field = Field {
            claim: "strongAuthenticationPhoneNumber".into(),
            input_type: Some("TextBox".into()),
            required: true,
            prefilled: None,
        };
        match &result {
            ProfileResult::NeedsInput(page) => {
                assert_eq!(page.kind, PageKind::Form { fields: vec![expected_field] });
                assert_eq!(page.error, None);
            }
            other => panic!("{other:?}"),
        }
        let bad = h.run(&PhoneFactor, MFA_PROFILE, inputs(), submit(&[("strongAuthenticationPhoneNumber", "555")]));
        match bad {
            ProfileResult::NeedsInput(page) => {
                assert_eq!(page.error.as_deref(), Some("Please enter a valid phone number"))
            }
            other => panic!("{other:?}"),
        }
        let empty = h.run(&PhoneFactor, MFA_PROFILE, inputs(), submit(&[("strongAuthenticationPhoneNumber", " ")]));
        match empty {
            ProfileResult::NeedsInput(page) => {
                assert_eq!(page.error.as_deref(), Some("Please enter your phone number"))
            }
            other => panic!("{other:?}"),
        }
        let sent = h.run(
            &PhoneFactor,
            MFA_PROFILE,
            inputs(),
            submit(&[("strongAuthenticationPhoneNumber", "+44 7700 900123")]),
        );
        assert_eq!(code_page(&sent).0, "+XX XXXX XX0123");
        let received = outbox(&h).last_code("+447700900123").unwrap();
        assert_eq!(
            h.run(&PhoneFactor, MFA_PROFILE, inputs(), code(&received)),
            ProfileResult::Claims(vec![
                ("Verified.OfficePhone".into(), string("+44 7700 900123")),
                ("newPhoneNumberEntered".into(), ClaimValue::Boolean(true)),
            ])
        );
    }

    #[test]
    fn wrong_codes_re_render_until_the_retries_run_out() {
        let h = mfa_harness();
        let inputs = || phone_inputs(&h, Some("+15555550100"));
        h.run(&PhoneFactor, MFA_PROFILE, inputs(), None);
        // A malformed code is caught by the page and costs no attempt.
        let (_, error) = code_page(&h.run(&PhoneFactor, MFA_PROFILE, inputs(), code("12")));
        assert_eq!(error.as_deref(), Some("Please enter the 6-digit code you received"));
        for _ in 0..2 {
            let (to, error) = code_page(&h.run(&PhoneFactor, MFA_PROFILE, inputs(), code("999999")));
            assert_eq!(to, "+XXXXXXX0100");
            assert_eq!(error.as_deref(), Some(INCORRECT));
        }
        let error = failed(h.run(&PhoneFactor, MFA_PROFILE, inputs(), code("999999")));
        assert_eq!(
            error,
            ProfileError {
                code: "AADB2C90151".into(),
                user_message: "User has exceeded the maximum number for retries for multi-factor authentication."
                    .into()
            }
        );
        // Even the right code is too late now.
        let message = invalid(h.run(&PhoneFactor, MFA_PROFILE, inputs(), code("012345")));
        assert!(message.contains("has not sent a code to verify"), "{message}");
    }

    #[test]
    fn an_expired_code_fails_and_a_new_one_can_be_sent() {
        let mut h = mfa_harness();
        let inputs = |h: &Harness| phone_inputs(h, Some("+15555550100"));
        h.run(&PhoneFactor, MFA_PROFILE, inputs(&h), None);
        h.env.now += TimeDelta::seconds(601);
        let (_, error) = code_page(&h.run(&PhoneFactor, MFA_PROFILE, inputs(&h), code("012345")));
        assert_eq!(error.as_deref(), Some(INCORRECT));
        let resend = h.run(&PhoneFactor, MFA_PROFILE, inputs(&h), Some(Answer::Choose("resend".into())));
        assert_eq!(code_page(&resend), ("+XXXXXXX0100".to_owned(), None));
        assert_eq!(outbox(&h).sent().len(), 2);
        let second = outbox(&h).last_code("+15555550100").unwrap();
        // Each draw of FixedEnv's randomness differs.
        assert_ne!(second, "012345");
        assert!(matches!(h.run(&PhoneFactor, MFA_PROFILE, inputs(&h), code(&second)), ProfileResult::Claims(_)));
    }

    #[test]
    fn phone_factor_cancel_unknown_choice_and_missing_outbox() {
        let h = mfa_harness();
        let inputs = || phone_inputs(&h, Some("+15555550100"));
        assert_eq!(
            failed(h.run(&PhoneFactor, MFA_PROFILE, inputs(), Some(Answer::Cancel))),
            ProfileError {
                code: "AADB2C90091".into(),
                user_message: "The user has canceled multi-factor authentication".into()
            }
        );
        let message = invalid(h.run(&PhoneFactor, MFA_PROFILE, inputs(), Some(Answer::Choose("+19999999999".into()))));
        assert!(message.contains("'+19999999999' is not a phone number offered by"), "{message}");
        // A number on file cannot be replaced by a typed one unless manual entry is allowed (it is, here).
        let typed =
            h.run(&PhoneFactor, MFA_PROFILE, inputs(), submit(&[("strongAuthenticationPhoneNumber", "+15555550199")]));
        assert_eq!(code_page(&typed).0, "+XXXXXXX0199");
        let bare = Harness::new(starter_pack("SocialAndLocalAccountsWithMfa"));
        let e = failed(bare.run(&PhoneFactor, MFA_PROFILE, phone_inputs(&bare, None), None));
        assert_eq!(e.code, "ServiceMissing");
        assert!(e.user_message.contains("PhoneFactor-InputOrVerify"), "{}", e.user_message);
    }

    const PROVIDERS: &str = r#"
      <TechnicalProfile Id="Generate">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.OneTimePasswordProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">GenerateCode</Item><Item Key="CodeExpirationInSeconds">60</Item>
          <Item Key="NumRetryAttempts">2</Item><Item Key="NumCodeGenerationAttempts">3</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="identifier"/></InputClaims>
        <OutputClaims><OutputClaim ClaimTypeReferenceId="otp" PartnerClaimType="otpGenerated"/></OutputClaims>
      </TechnicalProfile>
      <TechnicalProfile Id="GenerateLetters">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.OneTimePasswordProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">GenerateCode</Item><Item Key="CodeLength">8</Item><Item Key="CharacterSet">a-z</Item>
          <Item Key="ReuseSameCode">true</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="identifier"/></InputClaims>
        <OutputClaims><OutputClaim ClaimTypeReferenceId="otp" PartnerClaimType="otpGenerated"/></OutputClaims>
      </TechnicalProfile>
      <TechnicalProfile Id="Verify">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.OneTimePasswordProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">VerifyCode</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="identifier"/>
          <InputClaim ClaimTypeReferenceId="otp" PartnerClaimType="otpToVerify"/></InputClaims>
      </TechnicalProfile>
      <TechnicalProfile Id="VerifyCustom">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.OneTimePasswordProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">VerifyCode</Item><Item Key="UserMessageIfInvalidCode">Wrong code.</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="identifier"/>
          <InputClaim ClaimTypeReferenceId="otp" PartnerClaimType="otpToVerify"/></InputClaims>
      </TechnicalProfile>
      <TechnicalProfile Id="SendSms">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.AzureMfaProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">OneWaySMS</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="phone" PartnerClaimType="phoneNumber"/></InputClaims>
      </TechnicalProfile>
      <TechnicalProfile Id="VerifySms">
        <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.AzureMfaProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
        <Metadata><Item Key="Operation">Verify</Item></Metadata>
        <InputClaims><InputClaim ClaimTypeReferenceId="phone" PartnerClaimType="phoneNumber"/>
          <InputClaim ClaimTypeReferenceId="otp" PartnerClaimType="verificationCode"/></InputClaims>
      </TechnicalProfile>"#;

    fn otp_harness() -> Harness {
        let claims = r#"<ClaimsSchema>
          <ClaimType Id="email"><DataType>string</DataType></ClaimType>
          <ClaimType Id="otp"><DataType>string</DataType></ClaimType>
          <ClaimType Id="phone"><DataType>string</DataType></ClaimType>
        </ClaimsSchema>"#;
        let mut h = Harness::new(policy(claims, PROVIDERS));
        h.extensions.insert(CodeOutbox::new());
        h
    }

    fn run(
        h: &Harness,
        handler: &dyn ief_engine::exec::ProfileHandler,
        profile: &str,
        otp: Option<&str>,
    ) -> ProfileResult {
        let mut values = vec![("email", string("bob@contoso.com")), ("phone", string("+15555550100"))];
        if let Some(o) = otp {
            values.push(("otp", string(o)));
        }
        h.run(handler, profile, h.inputs(profile, &values), None)
    }

    fn generated(result: ProfileResult) -> String {
        match result {
            ProfileResult::Claims(claims) => match claims.as_slice() {
                [(name, ClaimValue::String(code))] if name == "otpGenerated" => code.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn otp_round_trip_records_the_code_and_uses_it_once() {
        let h = otp_harness();
        let code = generated(run(&h, &OneTimePassword, "Generate", None));
        assert_eq!(code, "012345");
        assert_eq!(outbox(&h).last_code("Bob@Contoso.com").as_deref(), Some("012345"));
        assert_eq!(run(&h, &OneTimePassword, "Verify", Some(&code)), ProfileResult::Claims(vec![]));
        assert_eq!(
            failed(run(&h, &OneTimePassword, "Verify", Some(&code))),
            ProfileError {
                code: "UserMessageIfSessionDoesNotExist".into(),
                user_message: "One time password verification session has expired".into()
            }
        );
    }

    #[test]
    fn otp_wrong_codes_lock_out_until_expiry() {
        let mut h = otp_harness();
        generated(run(&h, &OneTimePassword, "Generate", None));
        assert_eq!(
            failed(run(&h, &OneTimePassword, "Verify", Some("000000"))),
            ProfileError {
                code: "UserMessageIfVerificationFailedRetryAllowed".into(),
                user_message: "That code is incorrect. Please try again.".into()
            }
        );
        let max = "One time password provided verification has exceeded maximum number of attempts";
        let e = failed(run(&h, &OneTimePassword, "Verify", Some("000000")));
        assert_eq!((e.code.as_str(), e.user_message.as_str()), ("UserMessageIfMaxRetryAttempted", max));
        // Locked: the right code and a new code are both refused until the code expires.
        assert_eq!(failed(run(&h, &OneTimePassword, "Verify", Some("012345"))).code, "UserMessageIfMaxRetryAttempted");
        assert_eq!(failed(run(&h, &OneTimePassword, "Generate", None)).code, "UserMessageIfMaxRetryAttempted");
        h.env.now += TimeDelta::seconds(61);
        let fresh = generated(run(&h, &OneTimePassword, "Generate", None));
        assert_eq!(run(&h, &OneTimePassword, "Verify", Some(&fresh)), ProfileResult::Claims(vec![]));
    }

    #[test]
    fn otp_codes_expire_and_generation_is_limited() {
        let mut h = otp_harness();
        generated(run(&h, &OneTimePassword, "Generate", None));
        h.env.now += TimeDelta::seconds(60);
        // Still valid at exactly the expiry; each new code extends it.
        generated(run(&h, &OneTimePassword, "Generate", None));
        generated(run(&h, &OneTimePassword, "Generate", None));
        let e = failed(run(&h, &OneTimePassword, "Generate", None));
        assert_eq!(e.code, "UserMessageIfMaxNumberOfCodeGenerated");
        h.env.now += TimeDelta::seconds(61);
        assert_eq!(
            failed(run(&h, &OneTimePassword, "Verify", Some("012345"))).code,
            "UserMessageIfSessionDoesNotExist"
        );
        // After expiry the count starts again.
        generated(run(&h, &OneTimePassword, "Generate", None));
    }

    #[test]
    fn otp_character_set_length_reuse_and_custom_messages() {
        let h = otp_harness();
        let first = generated(run(&h, &OneTimePassword, "GenerateLetters", None));
        assert_eq!(first.len(), 8);
        assert!(first.chars().all(|c| c.is_ascii_lowercase()), "{first}");
        // ReuseSameCode: the live code comes back, not a new draw.
        assert_eq!(generated(run(&h, &OneTimePassword, "GenerateLetters", None)), first);
        assert_eq!(outbox(&h).sent().len(), 2);
        assert_eq!(
            failed(run(&h, &OneTimePassword, "VerifyCustom", Some("nope"))),
            ProfileError { code: "UserMessageIfInvalidCode".into(), user_message: "Wrong code.".into() }
        );
        let e = failed(h.run(&OneTimePassword, "Generate", h.inputs("Generate", &[]), None));
        assert_eq!(e.user_message, "Missing required element: identifier");
        // Codes never show in Debug output.
        assert!(!format!("{:?}", outbox(&h).sent()).contains(&first));
    }

    #[test]
    fn azure_mfa_sends_and_verifies_sms_codes() {
        let h = otp_harness();
        assert_eq!(run(&h, &AzureMfa, "SendSms", None), ProfileResult::Claims(vec![]));
        let sent = outbox(&h).last_code("+1 555 555 0100").unwrap();
        assert_eq!(
            failed(run(&h, &AzureMfa, "VerifySms", Some("111111"))),
            ProfileError {
                code: "UserMessageIfWrongCodeEntered".into(),
                user_message: "Wrong code entered, please try again.".into()
            }
        );
        assert_eq!(run(&h, &AzureMfa, "VerifySms", Some(&sent)), ProfileResult::Claims(vec![]));
        run(&h, &AzureMfa, "SendSms", None);
        run(&h, &AzureMfa, "VerifySms", Some("111111"));
        run(&h, &AzureMfa, "VerifySms", Some("111111"));
        assert_eq!(
            failed(run(&h, &AzureMfa, "VerifySms", Some("111111"))).code,
            "UserMessageIfMaxAllowedCodeRetryReached"
        );
        let bad = h.run(&AzureMfa, "SendSms", h.inputs("SendSms", &[("phone", string("555"))]), None);
        assert_eq!(failed(bad).code, "UserMessageIfInvalidFormat");
    }

    #[test]
    fn phone_numbers_are_masked_but_their_last_four_digits() {
        assert_eq!(mask_phone("+15555550100"), "+XXXXXXX0100");
        assert_eq!(mask_phone("+1 555-555-0100"), "+X XXX-XXX-0100");
        assert_eq!(mask_phone("123"), "123");
    }
}

#[cfg(test)]
mod authenticator_tests {
    use ief_engine::exec::ProfileResult;
    use ief_transforms::ClaimValue;

    use super::{AzureMfa, CodeOutbox, TOTP_SECRET_ATTRIBUTE};
    use crate::directory::{Directory, SeedUser, UserData};
    use crate::self_asserted::testing::{Harness, policy, string};

    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const UPN: &str = "alice@contoso.onmicrosoft.com";

    fn harness() -> Harness {
        let claims = r#"<ClaimsSchema>
          <ClaimType Id="upn"><DataType>string</DataType></ClaimType>
          <ClaimType Id="secretKey"><DataType>string</DataType></ClaimType>
          <ClaimType Id="otpCode"><DataType>string</DataType></ClaimType>
          <ClaimType Id="numberOfAvailableDevices"><DataType>int</DataType></ClaimType>
        </ClaimsSchema>"#;
        let profile = |id: &str, op: &str, inputs: &str| {
            format!(
                r#"<TechnicalProfile Id="{id}"><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.AzureMfaProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
                <Metadata><Item Key="Operation">{op}</Item></Metadata><InputClaims>{inputs}</InputClaims></TechnicalProfile>"#
            )
        };
        let upn = r#"<InputClaim ClaimTypeReferenceId="upn" PartnerClaimType="userPrincipalName"/>"#;
        let profiles = [
            profile("Devices", "GetAvailableDevices", upn),
            profile("Begin", "BeginVerifyOTP", &format!(r#"<InputClaim ClaimTypeReferenceId="secretKey"/>{upn}"#)),
            profile("Verify", "VerifyOTP", r#"<InputClaim ClaimTypeReferenceId="otpCode"/>"#),
        ]
        .concat();
        let mut h = Harness::new(policy(claims, &profiles));
        h.extensions.insert(CodeOutbox::new());
        let directory = Directory::in_memory().unwrap();
        directory
            .seed(&SeedUser {
                object_id: Some("alice-1".into()),
                data: UserData { user_principal_name: Some(UPN.into()), ..UserData::default() },
            })
            .unwrap();
        h.extensions.insert(directory);
        h
    }

    fn run(h: &Harness, profile: &str, values: &[(&str, &str)]) -> ProfileResult {
        let values: Vec<_> = values.iter().map(|(k, v)| (*k, string(v))).collect();
        h.run(&AzureMfa, profile, h.inputs(profile, &values), None)
    }

    fn devices(h: &Harness) -> ProfileResult {
        run(h, "Devices", &[("upn", UPN)])
    }

    fn code_now(h: &Harness) -> String {
        let key = crate::totp::base32_decode(SECRET).unwrap();
        crate::totp::code_at(&key, h.env.now.and_utc().timestamp())
    }

    fn failure(result: ProfileResult) -> String {
        match result {
            ProfileResult::Failed(e) => e.user_message,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn an_app_is_registered_by_its_first_correct_code() {
        let h = harness();
        let none = ProfileResult::Claims(vec![("numberOfAvailableDevices".into(), ClaimValue::Int(0))]);
        assert_eq!(devices(&h), none);
        assert_eq!(failure(run(&h, "Begin", &[("upn", UPN)])), "No authenticator app is registered for this account.");

        assert_eq!(run(&h, "Begin", &[("secretKey", SECRET), ("upn", UPN)]), ProfileResult::Claims(vec![]));
        assert_eq!(failure(run(&h, "Verify", &[("otpCode", "000000")])), "Wrong code entered, please try again.");
        assert_eq!(devices(&h), none, "a wrong code registers nothing");
        assert_eq!(run(&h, "Verify", &[("otpCode", &code_now(&h))]), ProfileResult::Claims(vec![]));
        assert_eq!(devices(&h), ProfileResult::Claims(vec![("numberOfAvailableDevices".into(), ClaimValue::Int(1))]));
        let directory = h.extensions.get::<Directory>().unwrap();
        let alice = directory.find_by_user_principal_name(UPN).unwrap().unwrap();
        assert_eq!(alice.attribute(TOTP_SECRET_ATTRIBUTE), Some(&string(SECRET)));

        // Signing in later: the registered secret, whatever secretKey says.
        assert_eq!(run(&h, "Begin", &[("secretKey", "AAAAAAAAAAAAAAAA"), ("upn", UPN)]), ProfileResult::Claims(vec![]));
        assert_eq!(run(&h, "Verify", &[("otpCode", &code_now(&h))]), ProfileResult::Claims(vec![]));
    }

    #[test]
    fn three_wrong_codes_end_the_verification() {
        let h = harness();
        run(&h, "Begin", &[("secretKey", SECRET), ("upn", UPN)]);
        run(&h, "Verify", &[("otpCode", "000000")]);
        run(&h, "Verify", &[("otpCode", "000001")]);
        let last = failure(run(&h, "Verify", &[("otpCode", "000002")]));
        assert_eq!(last, "Wrong code entered too many times, please try again later.");
        // The session is over: even the right code needs a new BeginVerifyOTP.
        assert_eq!(failure(run(&h, "Verify", &[("otpCode", &code_now(&h))])), "Wrong code entered, please try again.");
    }
}
