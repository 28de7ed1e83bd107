//! `ief validate` over `policies/diagnostics`: one folder per diagnostic code, each holding a
//! policy broken in exactly that way. The rendered report of each is pinned by a snapshot.

use crate::common::workspace;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ief_engine::{Code, Severity};

const FIXTURES: &str = "policies/diagnostics";

/// Codes whose span is the whole file (reported at 1:1).
const FILE_LEVEL: &[&str] = &["IEF001", "IEF002"];

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn validate(dir: &Path, args: &[String]) -> Output {
    let out =
        Command::new(env!("CARGO_BIN_EXE_ief")).arg("validate").args(args).current_dir(dir).output().expect("ief runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The folder names under `policies/diagnostics`, `_valid` excluded.
fn fixture_codes() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join(FIXTURES))
        .expect("policies/diagnostics exists")
        .map(|e| e.expect("a directory entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_valid")
        .collect();
    names.sort();
    names
}

/// IEF002 needs a file over 1,024 KB: the valid policy padded with a comment, written at run
/// time to `<tmp>/ief-diagnostics/IEF002/Policy.xml`. Returns `<tmp>/ief-diagnostics`.
fn oversized_policy() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ief-diagnostics");
    let dir = root.join("IEF002");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let valid = std::fs::read_to_string(workspace().join(FIXTURES).join("_valid/Policy.xml")).expect("_valid");
    let padding = format!("<!-- {} -->\n", "x".repeat(1100 * 1024));
    std::fs::write(dir.join("Policy.xml"), format!("{valid}{padding}")).expect("write the oversized policy");
    root
}

/// Where to run a fixture and its `validate` arguments: its folder, relative so that paths in
/// the output are stable, then the lines of its `args` file.
fn arguments(code: &str) -> (PathBuf, Vec<String>) {
    let folder = format!("{FIXTURES}/{code}");
    let (dir, mut args) = if code == "IEF002" {
        (oversized_policy(), vec![code.to_owned()])
    } else {
        (workspace().to_path_buf(), vec![folder.clone()])
    };
    if let Ok(extra) = std::fs::read_to_string(workspace().join(&folder).join("args")) {
        args.extend(extra.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
    }
    (dir, args)
}

#[test]
fn the_valid_policy_has_no_diagnostics() {
    let folder = format!("{FIXTURES}/_valid");
    let text = validate(workspace(), std::slice::from_ref(&folder));
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stderr, "1 file(s) checked: 0 errors, 0 warnings\n");
    let json = validate(workspace(), &[folder, "--format".into(), "json".into()]);
    assert_eq!(json.stdout.trim(), "[]");
}

#[test]
fn every_code_has_a_fixture() {
    let fixtures: BTreeSet<String> = fixture_codes().into_iter().collect();
    let codes: BTreeSet<String> = Code::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let missing: Vec<&String> = codes.difference(&fixtures).collect();
    let unknown: Vec<&String> = fixtures.difference(&codes).collect();
    assert!(missing.is_empty(), "codes without a folder in {FIXTURES}: {missing:?}");
    assert!(unknown.is_empty(), "folders in {FIXTURES} that are not codes: {unknown:?}");
}

#[test]
fn each_fixture_reports_exactly_its_code() {
    for name in fixture_codes() {
        let Some(code) = Code::ALL.iter().find(|c| c.as_str() == name) else { continue };
        let (dir, args) = arguments(&name);

        let text = validate(&dir, &args);
        let expected_exit = if code.severity() == Severity::Error { 1 } else { 0 };
        assert_eq!(text.code, expected_exit, "{name}: exit code\n{}", text.stderr);
        insta::assert_snapshot!(format!("diagnostic_{name}"), text.stderr);

        let mut json_args = args.clone();
        json_args.extend(["--format".to_owned(), "json".to_owned()]);
        let json = validate(&dir, &json_args);
        let items: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).expect("JSON output");
        assert!(!items.is_empty(), "{name}: no diagnostics");
        for item in &items {
            assert_eq!(item["code"], name.as_str(), "{name}: only its own code is reported: {item}");
            let (line, column) = (item["line"].as_u64().unwrap_or(0), item["column"].as_u64().unwrap_or(0));
            if FILE_LEVEL.contains(&name.as_str()) {
                assert_eq!((line, column), (1, 1), "{name}: a file-level diagnostic");
            } else {
                assert!(line > 0 && column > 0 && (line, column) != (1, 1), "{name}: a position in the file: {item}");
            }
        }
    }
}
