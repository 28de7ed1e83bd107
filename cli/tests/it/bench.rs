//! `ief bench` end to end with tiny sample counts: the shape of its text and JSON for a
//! starter-pack profile chain, one transformation and a repository scenario, and `--baseline`.

use serde_json::Value;

use crate::common::{ief, workspace};

/// Sampling small enough for a test: the numbers mean little, the shape is what is checked.
const QUICK: [&str; 6] = ["--warm-up", "1", "--samples", "3", "--sample-time", "1"];

fn bench(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&QUICK);
    ief(&all)
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Every field of a result, with sane times.
fn assert_measured(r: &Value, kind: &str, target: &str) {
    assert_eq!(r["kind"], kind, "{r}");
    assert_eq!(r["target"], target, "{r}");
    assert_eq!(r["samples"], 3, "{r}");
    assert!(r["runs_per_sample"].as_u64().is_some_and(|n| n >= 1), "{r}");
    let [min, median, max] = ["min_ns", "median_ns", "max_ns"].map(|k| r[k].as_f64().expect(k));
    assert!(0.0 < min && min <= median && median <= max, "{r}");
    assert!(r["mad_ns"].as_f64().is_some_and(|m| m >= 0.0), "{r}");
    let per_second = r["runs_per_second"].as_f64().expect("runs_per_second");
    assert!((per_second * median / 1e9 - 1.0).abs() < 1e-9, "runs per second is one over the median: {r}");
}

const FACEBOOK_INPUT: &str = r#"{"issuerUserId": "1234567890", "identityProvider": "facebook.com"}"#;

fn social_accounts() -> String {
    let dir = workspace().join("../shared/policies/starterpack/SocialAccounts");
    assert!(dir.is_dir(), "these tests need ../shared/policies beside the repository");
    dir.to_string_lossy().into_owned()
}

#[test]
fn profile_lists_its_chain_slowest_first() {
    let pack = social_accounts();
    let target = ["profile", &pack, "--policy", "B2C_1A_signup_signin", "--id", "Facebook-OAUTH"];
    let (code, stdout, stderr) = bench(&[&target[..], &["--input", FACEBOOK_INPUT, "--format", "json"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let r = json(&stdout);
    assert_measured(&r, "profile", "Facebook-OAUTH");
    let parts = r["parts"].as_array().expect("parts");
    let mut names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().expect("name")).collect();
    names.sort_unstable();
    // The starter pack's three OutputClaimsTransformations of Facebook-OAUTH.
    assert_eq!(names, ["CreateAlternativeSecurityId", "CreateRandomUPNUserName", "CreateUserPrincipalName"]);
    let times: Vec<f64> = parts.iter().map(|p| p["ns_per_run"].as_f64().expect("ns_per_run")).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "slowest first: {times:?}");
    let shares: f64 = parts.iter().map(|p| p["share"].as_f64().expect("share")).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add up to the whole: {shares}");

    let (code, text, stderr) = bench(&[&target[..], &["--input", FACEBOOK_INPUT]].concat());
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "profile Facebook-OAUTH", "{text}");
    assert!(lines[1].contains(" runs/s  median ") && lines[1].contains("(MAD)"), "{text}");
    assert!(lines[2].starts_with("  3 samples of "), "{text}");
    assert_eq!(lines[3], "  slowest transformations:", "{text}");
    assert_eq!(lines.len(), 7, "three transformations: {text}");
}

#[test]
fn transform_measures_one_transformation() {
    let target = ["transform", "policies/transforms", "--id", "LowerEmail", "--input", r#"{"email": "A@B.com"}"#];
    let (code, stdout, stderr) = bench(&[&target[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let r = json(&stdout);
    assert_measured(&r, "transform", "LowerEmail");
    assert_eq!(r["parts"], Value::Array(Vec::new()));

    // One that fails on its input is refused, not timed.
    let (code, _, stderr) =
        bench(&["transform", "policies/transforms", "--id", "CheckAge", "--input", r#"{"age": 16}"#]);
    assert_eq!(code, 2);
    assert!(stderr.contains("'CheckAge' fails on this input, so it is not measured"), "{stderr}");
}

#[test]
fn scenario_reports_each_step_of_its_sign_in() {
    let file = "policies/demo/sign-up-gold-member.yaml";
    let (code, stdout, stderr) = bench(&["scenario", file, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let r = json(&stdout);
    assert_measured(&r, "scenario", file);
    let mut names: Vec<&str> =
        r["parts"].as_array().expect("parts").iter().map(|p| p["name"].as_str().expect("name")).collect();
    names.sort_unstable();
    // The page the sign-in shows, then the token.
    assert_eq!(
        names,
        [
            "sign-up-gold-member #1: to form SelfAsserted-SignUp (email, displayName)",
            "sign-up-gold-member #2: to token"
        ]
    );
}

#[test]
fn baseline_fails_when_slower_than_the_ratio() {
    let dir = std::env::temp_dir().join(format!("ief-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let target = ["transform", "policies/transforms", "--id", "LowerEmail", "--input", r#"{"email": "A@B.com"}"#];
    let (code, stdout, stderr) = bench(&[&target[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let measured = json(&stdout);
    let write = |name: &str, median_ns: f64| {
        let mut b = measured.clone();
        b["median_ns"] = median_ns.into();
        let path = dir.join(name);
        std::fs::write(&path, b.to_string()).expect("baseline");
        path.to_string_lossy().into_owned()
    };
    // A baseline a thousand times faster than this machine can be: this run is slower.
    let fast = write("fast.json", measured["median_ns"].as_f64().expect("median") / 1000.0);
    let (code, _, stderr) = bench(&[&target[..], &["--baseline", &fast]].concat());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("slower than allowed 1.25×"), "{stderr}");
    // A baseline a thousand times slower: within.
    let slow = write("slow.json", measured["median_ns"].as_f64().expect("median") * 1000.0);
    let (code, _, stderr) = bench(&[&target[..], &["--baseline", &slow, "--max-ratio", "1.5"]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(within 1.50×)"), "{stderr}");
    // Another target's baseline is a usage error.
    let other = ["transform", "policies/transforms", "--id", "IsContosoAdmin", "--input", r#"{"email": "A@B.com"}"#];
    let (code, _, stderr) = bench(&[&other[..], &["--baseline", &fast]].concat());
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the baseline measured transform 'LowerEmail', not transform 'IsContosoAdmin'"),
        "{stderr}"
    );
}
