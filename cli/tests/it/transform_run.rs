//! `ief transform run` end to end over `policies/transforms`: each case's output and exit code
//! are pinned by a snapshot.

use crate::common::{ief, workspace};

#[test]
fn cases_match_their_snapshots() {
    let cases = std::fs::read_to_string(workspace().join("policies/transforms/cases.txt")).expect("cases.txt");
    let mut n = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let [name, id, input] = parts[..] else { panic!("bad case line: {line}") };
        let (code, stdout, stderr) = ief(&[
            "transform",
            "run",
            "policies/transforms",
            "--id",
            id,
            "--input",
            input,
            "--now",
            "2024-05-01T12:00:00Z",
        ]);
        // Exit 0 with outputs, 1 with a transformation error, 2 for bad input.
        match code {
            0 => assert!(stdout.contains("\"output_claims\""), "{name}: {stdout}"),
            1 => assert!(stdout.contains("\"error\""), "{name}: {stdout}"),
            2 => assert!(stdout.is_empty() && !stderr.is_empty(), "{name}: {stderr}"),
            other => panic!("{name}: unexpected exit code {other}"),
        }
        insta::assert_snapshot!(
            format!("transform_run_{name}"),
            format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}")
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} cases");
}

#[test]
fn list_names_all_68_methods_with_signatures() {
    let (code, stdout, _) = ief(&["transform", "list"]);
    assert_eq!(code, 0);
    // The 64 documented methods and the four undocumented user-identity methods.
    assert_eq!(stdout.lines().count(), 68);
    assert!(
        stdout.contains(
            "CreateUserIdentity(in: [String]issuerUserId, [String]issuer; params: none; out: [UserIdentity]userIdentity)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ChangeCase(in: [String]inputClaim1; params: [String]toCase; out: [String]outputClaim)"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = ief(&["transform", "run", "policies/transforms", "--id", "LowerEmail"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = ief(&["validate"]);
    assert_eq!(code, 2);
}

#[test]
fn hash_takes_its_secret_from_the_keys_folder() {
    let keys = std::env::temp_dir().join(format!("ief-hash-keys-{}", std::process::id()));
    std::fs::create_dir_all(&keys).expect("temp dir");
    std::fs::write(keys.join("B2C_1A_HashSecret.txt"), "secret-value\n").expect("key file");
    let dir = keys.to_str().expect("utf-8 temp path");
    let input = r#"{"password": "p", "salt": "s"}"#;
    let (code, stdout, stderr) =
        ief(&["transform", "run", "policies/transforms", "--id", "HashPassword", "--input", input, "--keys", dir]);
    let (missing, _, _) = ief(&["transform", "run", "policies/transforms", "--id", "HashPassword", "--input", input]);
    std::fs::remove_dir_all(&keys).ok();
    assert_eq!(code, 0, "{stderr}");
    // base64(HMAC-SHA256("secret-value", "p" + "s")), computed independently.
    assert!(stdout.contains("DNPJ1D7GAQbwFfzJ0oauyqXeBTuZOh37ooNt2mPwjxA="), "{stdout}");
    assert_eq!(missing, 1, "without the key the transformation fails");
}

#[test]
fn lang_picks_the_localized_resources() {
    let subject = |extra: &[&str]| {
        let mut args = vec!["transform", "run", "policies/transforms", "--id", "GetEmailSubject", "--input", "{}"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = ief(&args);
        assert_eq!(code, 0, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
        json["output_claims"]["subject"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(subject(&[]), "Your verification code", "the default language");
    assert_eq!(subject(&["--lang", "fr"]), "Votre code de vérification");
}
