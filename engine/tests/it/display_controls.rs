//! Display controls in the compiled plan: each page's controls with their actions' validation
//! profiles resolved to indices and their preconditions compiled, as a page's own validations.

use std::path::PathBuf;

use ief_engine::{CompiledPolicy, EffectivePolicy, PolicySet, SettingsRequest};

/// The SendGrid variant of the shared custom-email-verification sample on the LocalAccounts pack.
fn sample(relying_party: &str) -> (EffectivePolicy, CompiledPolicy) {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies");
    let dirs = [
        shared.join("samples/custom-email-verifcation-displaycontrol/policy/SendGrid"),
        shared.join("starterpack/LocalAccounts"),
    ];
    let set = PolicySet::load(&dirs, &SettingsRequest::default());
    let leaf = set.find(relying_party).expect("the sample's relying party");
    let mut diags = set.diagnostics.clone();
    let policy = EffectivePolicy::build(&set, leaf, &mut diags).expect("the sample builds");
    assert!(!diags.has_errors(), "{diags:?}");
    let compiled = CompiledPolicy::compile(&policy.model);
    (policy, compiled)
}

/// The page's controls as (control, verification, [(action, [(profile, resolved, preconditions)])]).
type Shown = Vec<(String, bool, Vec<(String, Vec<(String, bool, usize)>)>)>;

fn controls(policy: &EffectivePolicy, compiled: &CompiledPolicy, page: &str) -> Shown {
    let index = policy.model.technical_profiles.iter().position(|t| t.id.value == page).expect("the page's profile");
    compiled.profiles[index]
        .controls
        .iter()
        .map(|c| {
            let actions = c.actions.iter().map(|(id, steps)| {
                let steps = steps.iter().map(|v| {
                    let resolved = v.profile.index.map(|i| policy.model.technical_profiles[i].id.value.clone());
                    (v.profile.id.to_string(), resolved.as_deref() == Some(v.profile.id.as_str()), v.conditions.len())
                });
                (id.clone(), steps.collect())
            });
            (c.id.clone(), c.verification, actions.collect())
        })
        .collect()
}

fn step(profile: &str, preconditions: usize) -> (String, bool, usize) {
    (profile.to_owned(), true, preconditions)
}

#[test]
fn a_pages_display_control_actions_are_resolved_when_the_policy_compiles() {
    let (policy, compiled) = sample("B2C_1A_DisplayControl_sendgrid_Signin");
    let sign_up = controls(&policy, &compiled, "LocalAccountSignUpWithLogonEmail");
    let expected: Shown = vec![(
        "emailVerificationControl".to_owned(),
        true,
        vec![
            ("SendCode".to_owned(), vec![step("GenerateOtp", 0), step("SendOtp", 0)]),
            ("VerifyCode".to_owned(), vec![step("VerifyOtp", 0)]),
        ],
    )];
    assert_eq!(sign_up, expected);
    // The control's claims: the address is a field of the form, the code is the control's own
    // (the ClaimType as the sample declares it; references match in any case).
    let index = policy.model.technical_profiles.iter().position(|t| t.id.value == "LocalAccountSignUpWithLogonEmail");
    let claims: Vec<(String, bool)> = compiled.profiles[index.expect("the page")].controls[0]
        .claims
        .iter()
        .map(|(id, own)| (policy.model.claim_types[id.index()].id.value.to_string(), *own))
        .collect();
    assert_eq!(claims, [("email".to_owned(), false), ("VerificationCode".to_owned(), true)]);
    // A page without a control has none.
    assert_eq!(controls(&policy, &compiled, "SelfAsserted-LocalAccountSignin-Email"), Shown::new());

    let (policy, compiled) = sample("DisplayControl_sendgrid_PasswordReset");
    let reset = controls(&policy, &compiled, "LocalAccountDiscoveryUsingEmailAddress");
    let send = &reset[0].2[0];
    assert_eq!(send.0, "SendCode");
    // The mail goes out only to an address with an account: SendOtp's precondition.
    assert_eq!(send.1, [step("AAD-CheckEmailAddressExists", 0), step("GenerateOtp", 0), step("SendOtp", 1)]);
}
