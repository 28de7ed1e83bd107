//! Real relying-party libraries (`interop/relying-parties`, installed by the test at pinned
//! versions) sign in against `ief serve` over HTTPS: openid-client 6 (discovery from the
//! `AuthorityWithTfp` issuer, code flow with PKCE, state and nonce, id token validation,
//! userinfo, refresh) and MSAL Node (a B2C authority, code flow with PKCE, a silent refresh, B2C's home
//! account id). The pages between are driven here.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ief_testkit::node::{check_node, for_each_line, npm_ci, push_log};
use serde_json::Value;

use crate::common::*;

const TFP_POLICY: &str = "B2C_1A_signup_signin_tfp";

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/relying-parties")
}

/// The starter pack and `policies/serve` over HTTPS on 127.0.0.1 with a fresh local CA.
async fn serve_relying_parties() -> Https {
    check_node((20, 18), "install Node.js 20.18 or newer for the relying-party interop tests").expect("node");
    npm_ci(&project(), "openid-client", Duration::from_secs(300)).expect("the relying parties installed");
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/serve");
    serve_https("relying-parties", "https://127.0.0.1", vec![starter_pack("LocalAccounts"), policies], |_| {}).await
}

/// A client script: its output line by line, its stdin, killed by PID when dropped.
struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<mpsc::Receiver<String>>>,
    logs: Arc<Mutex<String>>,
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Script {
    fn start(script: &str, args: &[&str], served: &Https) -> Script {
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(project())
            .env("NODE_EXTRA_CA_CERTS", &served.ca_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let stdin = child.stdin.take().expect("stdin");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out_logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for_each_line(stdout, |line| {
                push_log(&out_logs, line);
                let _ = tx.send(line.to_owned());
            })
        });
        let err_logs = Arc::clone(&logs);
        std::thread::spawn(move || for_each_line(stderr, |line| push_log(&err_logs, line)));
        Script { child, stdin, lines: Arc::new(Mutex::new(rx)), logs }
    }

    /// The rest of the script's next line, which must start with `prefix`; waits without
    /// blocking the runtime the server runs on.
    async fn next(&self, prefix: &str) -> String {
        let lines = Arc::clone(&self.lines);
        let line =
            tokio::task::spawn_blocking(move || lines.lock().expect("lock").recv_timeout(Duration::from_secs(60)))
                .await
                .expect("join");
        let log = self.logs.lock().map(|l| l.clone()).unwrap_or_default();
        match line {
            Ok(line) if line.starts_with(prefix) => line[prefix.len()..].to_owned(),
            other => panic!("expected '{prefix}…', got {other:?}; output:\n{log}"),
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to node");
    }

    /// Prints the authorize URL, gets alice signed up through the pages, hands back the
    /// callback, and returns the script's result.
    async fn sign_up(&mut self, served: &Https, policy: &str) -> Value {
        let authorize = self.next("authorize ").await;
        let mut browser = Browser::trusting(&served.base, Some(&std::fs::read(&served.ca_path).expect("CA")));
        browser.policy = policy.to_owned();
        browser.codes = Some(Arc::clone(&served.server));
        let callback = sign_up_at(&browser, &authorize).await;
        self.send(&format!("callback {callback}"));
        serde_json::from_str(&self.next("result ").await).expect("JSON result")
    }
}

#[tokio::test]
async fn openid_client_signs_in_validates_and_refreshes() {
    let served = serve_relying_parties().await;
    let issuer = format!("{}/tfp/{}/{TFP_POLICY}/v2.0/", served.base, tenant_guid());
    let mut script = Script::start("openid-client.mjs", &[&issuer, CLIENT, REDIRECT], &served);
    let result = script.sign_up(&served, TFP_POLICY).await;
    assert_eq!(result["issuer"], issuer);
    assert_eq!(result["claims"]["iss"], issuer);
    assert_eq!(result["claims"]["email"], "alice@contoso.com");
    assert_eq!(result["claims"]["tfp"], TFP_POLICY);
    assert_eq!(result["has_access_token"], true);
    // openid-client checks the UserInfo answer's sub against the id token's.
    assert_eq!(result["userinfo"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["userinfo"]["given_name"], "Alice");
    assert_eq!(result["userinfo"]["email"], "alice@contoso.com");
    assert_eq!(result["refreshed_claims"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["refresh_rotated"], true);
}

#[tokio::test]
async fn msal_node_signs_in_with_a_b2c_authority_and_refreshes_silently() {
    let served = serve_relying_parties().await;
    let authority = format!("{}/tfp/{TENANT}/{POLICY}/", served.base);
    let scope = "https://yourtenant.onmicrosoft.com/api/read";
    let mut script = Script::start("msal-node.mjs", &[&authority, CLIENT, REDIRECT, scope], &served);
    let result = script.sign_up(&served, POLICY).await;
    let sub = result["claims"]["sub"].as_str().expect("sub");
    // B2C's home account id: {object id}-{policy}.{tenant object id}.
    assert_eq!(result["home_account_id"], format!("{sub}-{}.{}", POLICY.to_lowercase(), tenant_guid()));
    assert_eq!(result["claims"]["email"], "alice@contoso.com");
    assert_eq!(result["has_access_token"], true);
    assert_eq!(result["silent_home_account_id"], result["home_account_id"]);
    assert_eq!(result["silent_from_cache"], false, "forceRefresh redeems the refresh token");
}
