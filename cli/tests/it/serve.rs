//! `ief serve` as a process: it prints each policy's metadata URL, serves it and the first
//! page, and refuses a bad app config with the file, line and column.

use std::collections::BTreeMap;

use ief_scenario::remote::{CodeSource, RemoteOptions};
use ief_scenario::{RunOptions, RunReport, ScenarioReport};
use ief_server::{ServeOptions, Server};
use serde_json::Value;

use crate::common::{Scratch, ief, spawn, spawn_reading, workspace};

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
    let code = run.error.as_ref().map(|e| ief_scenario::remote::as_b2c_code(&e.code).to_owned());
    (run.outcome.clone(), code, claims)
}

#[test]
fn starter_pack_scenarios_end_with_the_same_claims_over_http_at_a_url() {
    // `ief run --server URL`: a server started on its own, sharing only its directory file.
    runtime().block_on(async {
        let mfa = "../shared/policies/starterpack/SocialAndLocalAccountsWithMfa";
        for (name, folder) in [("local-sign-up-then-sign-in", LOCAL_ACCOUNTS), ("mfa-sign-up-with-phone", mfa)] {
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
            assert_eq!(same(name, &in_process, &over_http), Ok(()));
        }
    });
}

/// Whether both runs met their expectations and ended alike, run by run.
fn same(name: &str, in_process: &ScenarioReport, over_http: &ScenarioReport) -> Result<(), String> {
    if !(in_process.passed() && over_http.passed()) {
        return Err(format!("{name}:\n{}\n{}", in_process.to_yaml(), over_http.to_yaml()));
    }
    if in_process.runs.len() != over_http.runs.len() {
        return Err(format!("{name}: {} runs in process, {} over HTTP", in_process.runs.len(), over_http.runs.len()));
    }
    for (a, b) in in_process.runs.iter().zip(&over_http.runs) {
        if a.claims.is_empty() && a.outcome != "error" {
            return Err(format!("{name}: a run without claims proves little"));
        }
        if comparable(a) != comparable(b) {
            return Err(format!("{name} / {}:\n{:?}\n{:?}", a.name, comparable(a), comparable(b)));
        }
    }
    Ok(())
}

/// Scenarios that cannot run over HTTP, and why (the runner must refuse them saying so).
const NOT_OVER_HTTP: [(&str, &str); 9] = [
    ("link-and-unlink-facebook", "a journey other than the relying party's DefaultUserJourney"),
    ("social-only-sign-up-then-profile-edit", "a journey other than the relying party's DefaultUserJourney"),
    ("sign-up-closed-notice", "a journey other than the relying party's DefaultUserJourney"),
    ("conditional-access-block", "conditional_access"),
    ("conditional-access-mfa", "conditional_access"),
    ("default-home-realm-discovery", "replace (the server reads the policy files as they are)"),
    ("remote-profile", "replace (the server reads the policy files as they are)"),
    ("email-displaycontrol-sendgrid", "http_stubs standing in for a URL"),
    ("email-displaycontrol-sendinblue", "http_stubs standing in for a URL"),
];

/// Every scenario under policies/ (but the deliberately bad ones), as `ief run`'s tests run them.
fn every_scenario() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut folders = vec![workspace().join("policies")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("policies/").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("scenarios-bad") && !path.ends_with("diagnostics") {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// One scenario through an `ief serve` started for it, as `ief run SCENARIO --serve` does.
async fn served(path: std::path::PathBuf, keys: RunOptions) -> Result<ScenarioReport, String> {
    let temp = Scratch::new("served");
    ief_cli::served::run(&path, &keys, temp.0.join("keys")).await
}

#[test]
fn every_scenario_ends_with_the_same_claims_through_the_server() {
    let scenarios = every_scenario();
    assert!(scenarios.len() >= 40, "the scenarios under policies/: {scenarios:?}");
    // One pool of generated keys for every run, both ways: RSA generation is the costly part.
    let pool = RunOptions::deterministic().key_pool;
    // A few scenarios at a time, each bound counted from its start: on a loaded machine, waiting
    // behind the others is not a hang (all at once, every bound ran the length of the suite).
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let results = runtime().block_on(async {
        let mut runs = tokio::task::JoinSet::new();
        for path in scenarios {
            let in_process = RunOptions { key_pool: pool.clone(), ..RunOptions::deterministic() };
            let live = RunOptions { key_pool: pool.clone(), ..RunOptions::default() };
            let permits = permits.clone();
            runs.spawn(async move {
                let _turn = permits.acquire_owned().await.expect("the semaphore is never closed");
                // A scenario that hangs fails alone, with its name, instead of stopping the suite.
                let bound = std::time::Duration::from_secs(120);
                let late = |how: &str| format!("{how} took more than {bound:?}");
                let a = tokio::time::timeout(bound, ief_scenario::run_file(&path, &in_process)).await;
                let a = a.map_err(|_| late("in process")).and_then(|r| r.map_err(|e| e.to_string()));
                let b = tokio::time::timeout(bound, served(path.clone(), live)).await;
                let b = b.map_err(|_| late("over HTTP")).and_then(|r| r);
                (path, a, b)
            });
        }
        runs.join_all().await
    });
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for (path, in_process, over_http) in results {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let in_process = in_process.unwrap_or_else(|e| panic!("{name} in process: {e}"));
        match (NOT_OVER_HTTP.iter().find(|(n, _)| *n == name), over_http) {
            (Some((_, reason)), Err(e)) if e.contains(reason) => refused.push(name),
            (Some(_), Err(e)) => failed.push(format!("{name} is refused for another reason: {e}")),
            (Some(_), Ok(_)) => failed.push(format!("{name} runs over HTTP now: take it off NOT_OVER_HTTP")),
            (None, Err(e)) => failed.push(format!("{name} over HTTP: {e}")),
            (None, Ok(over_http)) => failed.extend(same(&name, &in_process, &over_http).err()),
        }
    }
    assert!(failed.is_empty(), "{} scenarios differ:\n{}", failed.len(), failed.join("\n\n"));
    assert_eq!(refused.len(), NOT_OVER_HTTP.len(), "every listed scenario exists: {refused:?}");
}

#[test]
fn ief_run_serve_starts_a_server_with_the_scenario_s_stubs_and_runs_it_over_http() {
    let scenario = "policies/displaycontrols/sign-up-with-email-control.yaml";
    let (code, stdout, stderr) = ief(&["run", scenario, "--serve"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("outcome: token") && stdout.contains("email: erin@contoso.com"), "{stdout}");
    // The token came from the server started for the run, and the REST stub saw the code.
    assert!(stdout.contains("iss: http://127.0.0.1:[port]/"), "{stdout}");
    assert!(stdout.contains("path: /mail/send"), "{stdout}");
    let (code, _, stderr) = ief(&["run", "policies/journeys/sign-up-disabled/sign-up-closed-notice.yaml", "--serve"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("a journey other than the relying party's DefaultUserJourney"), "{stderr}");
    // The in-process run's options are refused with --serve rather than ignored.
    for flag in [&["--deterministic"][..], &["--trace"], &["--keys", "keys"], &["--directory", "d.sqlite"]] {
        let (code, _, stderr) = ief(&[&["run", scenario, "--serve"][..], flag].concat());
        assert_eq!(code, 2, "{flag:?}: {stderr}");
        assert!(stderr.contains("cannot be used with"), "{flag:?}: {stderr}");
    }
}

#[test]
fn serve_logs_each_reload_and_names_the_broken_file_s_position() {
    let scratch = Scratch::new("serve-reload");
    let folder = scratch.path("policies");
    std::fs::create_dir_all(&folder).expect("folder");
    for entry in std::fs::read_dir(workspace().join(LOCAL_ACCOUNTS)).expect("the starter pack").flatten() {
        std::fs::copy(entry.path(), folder.join(entry.file_name())).expect("copy");
    }
    let leaf = folder.join("SignUpOrSignin.xml");
    let good = std::fs::read_to_string(&leaf).expect("the policy");
    let (keys, directory) = (scratch.path("keys"), scratch.path("directory.sqlite"));
    let args = [
        folder.to_str().expect("path"),
        "--http",
        "--port",
        "0",
        "--keys",
        keys.to_str().expect("path"),
        "--directory",
        directory.to_str().expect("path"),
        "--for",
        "60",
    ];
    let (_running, _, lines) = spawn_reading(&["serve"], &args, "keys:");
    let wait_for = |what: &str| -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(15)) {
            let done = line.contains(what);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("no '{what}' line; got:\n{}", seen.join("\n"));
    };
    std::fs::write(&leaf, good.replace(r#"ReferenceId="SignUpOrSignIn" />"#, r#"ReferenceId="NoSuchJourney" />"#))
        .expect("edit");
    let line = good.lines().position(|l| l.contains("<DefaultUserJourney")).expect("the line") + 1;
    let refused = wait_for("SignUpOrSignin.xml:").join("\n");
    assert!(
        refused.contains("reload refused") && refused.contains(&format!("SignUpOrSignin.xml:{line}:")),
        "{refused}"
    );
    std::fs::write(&leaf, &good).expect("fixed");
    let reloaded = wait_for("reloaded:").join("\n");
    assert!(reloaded.contains("B2C_1A_signup_signin"), "{reloaded}");
}
