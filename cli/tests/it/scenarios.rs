//! `ief test`, `ief run` and `ief keys init` end to end: the demo, starter-pack, federation and
//! social scenarios match their reviewed snapshots, the README's demo runs from a clean folder,
//! and bad scenarios fail with a clear message.

use crate::common::{ief, workspace};

#[test]
fn every_scenario_matches_its_snapshot() {
    assert!(
        workspace().join("../shared/policies/starterpack").is_dir(),
        "the starter-pack scenarios need ../shared/policies beside the repository"
    );
    let (code, stdout, stderr) = ief(&[
        "test",
        "policies/demo",
        "policies/scenarios",
        "policies/federation",
        "policies/social",
        "policies/journeys",
        "policies/displaycontrols",
        "policies/samples",
        "policies/sessions",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "55 passed, 0 failed");
}

#[test]
fn bad_scenarios_fail_with_a_clear_message() {
    let cases = [
        (
            "unknown-button",
            "the page of 'SelfAsserted-SignUp' is a form without links; answer it with `submit`, not `choose: GoogleExchange`",
        ),
        ("missing-answer", "no answer left for the page form SelfAsserted-SignUp (email, displayName)"),
        (
            "wrong-claim-type",
            "'age' is not a field of self-asserted page 'SelfAsserted-SignUp' (its fields: email, displayName)",
        ),
        ("unknown-field", "unknown field `step`, expected one of"),
        (
            "hidden-sign-up-link",
            "the link 'SignUpWithLogonEmailExchange' of 'SelfAsserted-LocalAccountSignin-Email' is hidden \
             (setting.showSignupLink is false)",
        ),
        (
            "answer-after-the-end",
            "the journey ended with error 500: The REST API of technical profile 'REST-LegacyAudit' returned HTTP \
             500 Internal Server Error.\ntrace:\n  LegacySignIn step 1: ClaimsExchange",
        ),
        (
            "hidden-continue-button",
            "the page of 'SelfAsserted-SignUpClosed' has no continue button (setting.showContinueButton is false)",
        ),
        (
            "hidden-forgot-password-link",
            "the link 'forgotPassword' of 'SelfAsserted-LocalAccountSignin-Email' is hidden \
             (setting.forgotPasswordLinkLocation is None)",
        ),
        ("tenant-id-not-a-guid", "tenant_id 'yourtenant.onmicrosoft.com' is not a GUID (the tenant's object id)"),
        (
            "hidden-cancel-button",
            "the page of 'SelfAsserted-LocalAccountSignin-Email' has no cancel button (setting.showCancelButton is false)",
        ),
        (
            "unknown-control-action",
            "display control 'emailVerificationControl' has no action 'Resend' (actions: SendCode, VerifyCode)",
        ),
        ("control-claim-not-in-control", "'displayName' is not a claim of display control 'emailVerificationControl'"),
        ("after-not-a-duration", "run 'later': `after: soon` is not a duration such as 90s, 20m, 2h or 30d"),
        (
            "remember-me-without-checkbox",
            "the page has no keep-me-signed-in checkbox (rememberMe): its profile does not set setting.enableRememberMe",
        ),
    ];
    for (name, message) in cases {
        let path = format!("policies/scenarios-bad/{name}.yaml");
        let (code, _, stderr) =
            ief(&["run", &path, "--deterministic", "--directory", "target/ief-bad-scenarios.sqlite"]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
    let (code, stdout, stderr) = ief(&["test", "policies/scenarios-bad"]);
    assert_eq!(code, 1);
    assert_eq!(stdout.trim(), "0 passed, 15 failed");
    // A run that does not send what `expect.requests` lists fails naming the difference.
    assert!(
        stderr.contains(r#"request 1: the body {"password":"[redacted]","username":"bob@contoso.com"} does not hold {"username":"alice@contoso.com"}"#),
        "{stderr}"
    );
}

#[test]
fn run_prints_the_token_and_keeps_passwords_out() {
    let dir = std::env::temp_dir().join(format!("ief-run-{}", std::process::id()));
    let db = dir.join("directory.sqlite");
    let (code, stdout, stderr) = ief(&[
        "run",
        "policies/demo/sign-up-gold-member.yaml",
        "--format",
        "json",
        "--trace",
        "--directory",
        db.to_str().expect("utf-8 temp path"),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    let claims = &report["runs"][0]["token"]["claims"];
    assert_eq!(claims["vip"], true);
    assert_eq!(claims["loyalty_number"], "L-1042");
    assert_eq!(report["runs"][0]["token"]["header"]["alg"], "RS256");
    assert!(report["runs"][0]["trace"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn the_readme_demo_federates_with_the_embedded_provider_from_a_clean_folder() {
    // No keys/ folder and no .ief/ directory: keys are generated for the run.
    let dir = std::env::temp_dir().join(format!("ief-readme-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = workspace().join("policies/federation/sign-in-private-key-jwt.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ief"))
        .arg("run")
        .arg(&scenario)
        .arg("--trace")
        .current_dir(&dir)
        .output()
        .expect("ief runs");
    let created: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("freshly generated keys"), "{stderr}");
    for expected in [
        "outcome: token",
        "idp_client_auth: private_key_jwt",
        "email: alice@example.com",
        "redirect to 127.0.0.1:[port]/authorize",
        "answer: callback with code, state, iss",
    ] {
        assert!(stdout.contains(expected), "{expected} is missing:\n{stdout}");
    }
    assert!(!stdout.contains("BEGIN") && !stdout.contains("code=") && !stdout.contains("Passw0rd!"), "{stdout}");
    // Only the directory file the run keeps; no keys were written here.
    assert_eq!(created, vec![".ief".to_owned()], "{created:?}");
}

#[test]
fn keys_init_creates_the_starter_pack_keys_once() {
    let dir = std::env::temp_dir().join(format!("ief-keys-{}", std::process::id()));
    let d = dir.to_str().expect("utf-8 temp path");
    let (code, first, _) = ief(&["keys", "init", d]);
    assert_eq!(code, 0);
    assert!(first.contains("B2C_1A_TokenSigningKeyContainer.pem"), "{first}");
    let (_, second, _) = ief(&["keys", "init", d]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(second.contains("already holds every key"), "{second}");
}

#[test]
fn parallel_and_one_job_runs_report_alike_in_file_order() {
    let dirs = ["test", "policies/scenarios-bad", "policies/demo"];
    let (one_code, one_out, one_err) = ief(&[&dirs[..], &["--jobs", "1"]].concat());
    let (par_code, par_out, par_err) = ief(&[&dirs[..], &["--jobs", "4"]].concat());
    // Every bad scenario fails, the three demo ones pass.
    let files = std::fs::read_dir(workspace().join("policies/scenarios-bad")).expect("scenarios-bad");
    let bad = files.flatten().filter(|f| f.path().extension().is_some_and(|x| x == "yaml")).count();
    assert_eq!((one_code, &one_out), (1, &format!("3 passed, {bad} failed\n")), "{one_err}");
    assert_eq!((par_code, &par_out, &par_err), (one_code, &one_out, &one_err));
    let failed: Vec<&str> = one_err.lines().filter_map(|l| l.strip_prefix("FAIL ")).collect();
    assert_eq!(failed.len(), bad, "{one_err}");
    assert!(failed.is_sorted(), "reports in file order: {failed:?}");
}
