//! `ief serve` as a process: it prints each policy's metadata URL, serves it and the first
//! page, and refuses a bad app config with the file, line and column.

use std::collections::BTreeMap;

use ief_scenario::remote::{CodeSource, RemoteOptions};
use ief_scenario::{RunOptions, RunReport};
use ief_server::{ServeOptions, Server};
use serde_json::Value;

use crate::common::{Scratch, ief, spawn, workspace};

const LOCAL_ACCOUNTS: &str = "../shared/policies/starterpack/LocalAccounts";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn serve_prints_metadata_urls_and_serves_them_over_https() {
    let keys = Scratch::new("serve-keys");
    let keys_arg = keys.0.display().to_string();
    let directory = keys.0.join("directory.sqlite").display().to_string();
    let ca_dir = keys.0.join("ca").display().to_string();
    let args = [
        LOCAL_ACCOUNTS,
        "--port",
        "0",
        "--keys",
        &keys_arg,
        "--directory",
        &directory,
        "--ca",
        &ca_dir,
        "--store",
        "memory",
        "--for",
        "120",
    ];
    let (_running, lines) = spawn(&["serve"], &args, "keys:");
    let ca = lines
        .iter()
        .find_map(|l| l.strip_prefix("ca: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("a ca line in {lines:?}"))
        .to_owned();
    let ca_pem = std::fs::read(&ca).expect("the CA certificate is written");
    let metadata = lines
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix("metadata: "))
        .find(|m| m.contains("/B2C_1A_signup_signin/"))
        .unwrap_or_else(|| panic!("a metadata line in {lines:?}"))
        .to_owned();
    for policy in ["B2C_1A_signup_signin", "B2C_1A_PasswordReset", "B2C_1A_ProfileEdit"] {
        assert!(lines.iter().any(|l| *l == format!("policy: {policy}")), "{lines:?}");
    }
    assert!(lines.iter().any(|l| l.contains("00000000-0000-0000-0000-00000000a991 (development app")), "{lines:?}");
    let base = metadata.split("/yourtenant.onmicrosoft.com/").next().expect("base").to_owned();
    assert!(base.starts_with("https://localhost:"), "HTTPS by default: {metadata}");
    runtime().block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).expect("PEM")])
            .build()
            .expect("client");
        let doc: serde_json::Value = client.get(&metadata).send().await.expect("GET").json().await.expect("JSON");
        let guid = ief_engine::tenant::TenantObjectId::choose(None, None, "yourtenant.onmicrosoft.com").expect("id").guid;
        assert_eq!(doc["issuer"], format!("{base}/{guid}/v2.0/"), "the issuer names the tenant's object id");
        let authorize = format!(
            "{}?client_id=00000000-0000-0000-0000-00000000a991&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&scope=openid&response_type=code",
            doc["authorization_endpoint"].as_str().expect("authorization_endpoint")
        );
        let page = client.get(&authorize).send().await.expect("GET");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("body");
        assert!(html.contains("var SETTINGS = ") && html.contains("\"api\":\"CombinedSigninAndSignup\""), "{html}");
    });
    assert!(keys.0.join("B2C_1A_TokenSigningKeyContainer.pem").exists(), "the signing key is made in --keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.0.join("ca/ca-key.pem")).expect("CA key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the CA key is its owner's alone");
    }
}

#[test]
fn serve_refuses_a_bad_app_config_with_its_position() {
    let keys = Scratch::new("serve-bad");
    let config = keys.0.join("apps.yaml");
    std::fs::write(&config, "apps:\n  - client_id: web\n    redirect_uris:\n      web: [http://app.example/cb]\n")
        .expect("config");
    let (code, _, stderr) = ief(&[
        "serve",
        LOCAL_ACCOUNTS,
        "--http",
        "--port",
        "0",
        "--keys",
        &keys.0.display().to_string(),
        "--config",
        &config.display().to_string(),
        "--store",
        "memory",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:13: the redirect URI 'http://app.example/cb' must be https", config.display())),
        "{stderr}"
    );
    assert!(workspace().join(LOCAL_ACCOUNTS).exists());
}

/// A run's claims with generated ids (object ids differ between two directories) masked.
fn comparable(run: &RunReport) -> (String, Option<String>, BTreeMap<String, Value>) {
    let is_guid = |v: &Value| v.as_str().is_some_and(|s| s.len() == 36 && s.matches('-').count() == 4);
    let claims = run
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), if is_guid(v) { Value::from("[guid]") } else { v.clone() }))
        .collect();
    (run.outcome.clone(), run.error.as_ref().map(|e| e.code.clone()), claims)
}

#[test]
fn starter_pack_scenarios_end_with_the_same_claims_over_http_mfa_included() {
    runtime().block_on(async {
        let mfa = "../shared/policies/starterpack/SocialAndLocalAccountsWithMfa";
        for (name, folder) in [
            ("local-sign-up-then-sign-in", LOCAL_ACCOUNTS),
            ("local-wrong-password", LOCAL_ACCOUNTS),
            ("local-password-reset", LOCAL_ACCOUNTS),
            ("local-profile-edit", LOCAL_ACCOUNTS),
            ("mfa-sign-up-with-phone", mfa),
        ] {
            let path = workspace().join("policies/scenarios/starterpack").join(format!("{name}.yaml"));
            let in_process = ief_scenario::run_file(&path, &RunOptions::deterministic()).await.expect("in process");

            let temp = Scratch::new("both-ways");
            let directory = temp.0.join("directory.sqlite");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
            let mut options = ServeOptions::new(vec![workspace().join(folder)], &base, temp.0.join("keys"));
            options.directory = Some(directory.clone());
            let server = std::sync::Arc::new(Server::load(&options).expect("the starter pack serves"));
            let outbox = std::sync::Arc::clone(&server);
            let serving = tokio::spawn(server.serve_shared(listener));
            // The server runs here, so the test may read the codes it "sent" (never over HTTP).
            let codes: CodeSource = std::sync::Arc::new(move || outbox.outbox()?.last().map(|c| c.code));
            let remote = RemoteOptions { server: base, directory: Some(directory), codes: Some(codes) };
            let over_http = ief_scenario::remote::run_file(&path, &remote).await;
            serving.abort();
            let over_http = over_http.unwrap_or_else(|e| panic!("{name} over HTTP: {e}"));

            assert!(
                in_process.passed() && over_http.passed(),
                "{name}:\n{}\n{}",
                in_process.to_yaml(),
                over_http.to_yaml()
            );
            assert_eq!(in_process.runs.len(), over_http.runs.len(), "{name}");
            for (a, b) in in_process.runs.iter().zip(&over_http.runs) {
                assert!(!a.claims.is_empty() || a.outcome == "error", "{name}: a run without claims proves little");
                assert_eq!(comparable(a), comparable(b), "{name} / {}", a.name);
            }
        }
    });
}
