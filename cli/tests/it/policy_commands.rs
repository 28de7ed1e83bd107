//! `ief validate`, `merge`, `graph` and `explain` end to end on Microsoft's starter pack.

use std::path::{Path, PathBuf};
use std::process::Command;

fn starter_pack(pack: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/starterpack").join(pack);
    assert!(dir.is_dir(), "these tests need ../shared/policies beside the repository (looked in {})", dir.display());
    dir
}

fn ief(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ief")).args(args).arg(dir).output().expect("ief runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_prints_the_mfa_sign_in_plan() {
    let (code, stdout, stderr) =
        ief(&["explain", "--policy", "B2C_1A_signup_signin"], &starter_pack("SocialAndLocalAccountsWithMfa"));
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn graph_formats_describe_the_same_plan() {
    let dir = starter_pack("LocalAccounts");
    let (code, mermaid, stderr) = ief(&["graph", "--policy", "B2C_1A_signup_signin", "--format", "mermaid"], &dir);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(mermaid);
    let (_, dot, _) = ief(&["graph", "--policy", "B2C_1A_signup_signin", "--format", "dot"], &dir);
    let (_, json, _) = ief(&["graph", "--policy", "B2C_1A_signup_signin", "--format", "json"], &dir);
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON output");
    let nodes = json["nodes"].as_array().expect("nodes").len();
    let edges = json["edges"].as_array().expect("edges").len();
    assert_eq!(dot.matches(" [label=").count(), nodes + edges, "DOT has one line per node and edge");
    assert_eq!(mermaid.lines().count() - 1, nodes + edges);
}

#[test]
fn several_relying_parties_need_a_choice() {
    let (code, _, stderr) = ief(&["explain"], &starter_pack("LocalAccounts"));
    assert_eq!(code, 2);
    assert!(stderr.contains("--policy") && stderr.contains("B2C_1A_PasswordReset"), "{stderr}");
}

#[test]
fn merge_prints_an_effective_policy_that_validates_alone() {
    let (code, xml, stderr) =
        ief(&["merge", "--policy", "B2C_1A_ProfileEdit"], &starter_pack("SocialAndLocalAccounts"));
    assert_eq!(code, 0, "{stderr}");
    assert!(xml.contains(r#"PolicyId="B2C_1A_ProfileEdit""#));
    assert!(!xml.contains("<BasePolicy>"));
    // Localization's override of api.signuporsignin and Base's LoadUri end up in one element.
    let tmp = std::env::temp_dir().join(format!("ief-merge-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    std::fs::write(tmp.join("effective.xml"), &xml).expect("write");
    let (code, _, stderr) = ief(&["validate"], &tmp);
    std::fs::remove_dir_all(&tmp).ok();
    assert_eq!(code, 0, "the merged document validates on its own:\n{stderr}");
}

#[test]
fn validate_json_lists_nothing_for_the_starter_pack() {
    let (code, stdout, _) = ief(&["validate", "--format", "json"], &starter_pack("SocialAccounts"));
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "[]");
}

#[test]
fn svg_is_rendered_by_graphviz_or_refused_with_a_hint() {
    let dir = starter_pack("LocalAccounts");
    let (code, stdout, stderr) = ief(&["graph", "--policy", "B2C_1A_signup_signin", "--format", "svg"], &dir);
    let has_dot = std::process::Command::new("dot").arg("-V").output().is_ok();
    if has_dot {
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("<svg"), "{stdout}");
    } else {
        assert_eq!(code, 2);
        assert!(stderr.contains("SVG needs Graphviz"), "{stderr}");
    }
}
