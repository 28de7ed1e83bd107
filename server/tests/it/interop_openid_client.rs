//! openid-client 6 (`interop/openid-client`, installed by the test at its pinned version) signs
//! in against `ief serve` over HTTPS: discovery from the `AuthorityWithTfp` issuer, code flow
//! with PKCE, state and nonce, id token validation, refresh. The pages between are driven here.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ief_server::tls::Tls;
use ief_server::{ServeOptions, Server};
use ief_testkit::node::{check_node, for_each_line, npm_ci, push_log};
use serde_json::Value;

use crate::common::*;

const TFP_POLICY: &str = "B2C_1A_signup_signin_tfp";

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/openid-client")
}

/// Kills node by its PID if the test ends early.
struct Node(std::process::Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn openid_client_signs_in_validates_and_refreshes() {
    check_node((20, 18), "install Node.js 20.18 or newer for the openid-client interop test").expect("node");
    npm_ci(&project(), "openid-client", Duration::from_secs(300)).expect("openid-client installed");

    let temp = TempDir::new("openid-client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/serve");
    let options = ServeOptions::new(vec![starter_pack("LocalAccounts"), policies], &base, temp.0.join("keys"));
    let server = Server::load(&options).expect("the policies serve");
    let tls = Tls::local(&temp.0.join("ca"), server.public_host()).expect("a local CA");
    let ca_path = tls.ca_path.clone();
    let serving = tokio::spawn(server.serve_tls(listener, tls));

    let issuer = format!("{base}/tfp/{TENANT}/{TFP_POLICY}/v2.0/");
    let mut child = Command::new("node")
        .args(["client.mjs", &issuer, CLIENT, REDIRECT])
        .current_dir(project())
        .env("NODE_EXTRA_CA_CERTS", &ca_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let mut stdin = child.stdin.take().expect("stdin");
    let node = Node(child);
    let logs = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for_each_line(stdout, |line| {
                push_log(&logs, line);
                let _ = tx.send(line.to_owned());
            })
        });
    }
    {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || for_each_line(stderr, |line| push_log(&logs, line)));
    }
    let rx = Arc::new(Mutex::new(rx));
    // Waits for node's next line without blocking the runtime the server runs on.
    let next = |prefix: &'static str| {
        let rx = Arc::clone(&rx);
        let logs = Arc::clone(&logs);
        async move {
            let line = tokio::task::spawn_blocking(move || {
                let rx = rx.lock().expect("lock");
                rx.recv_timeout(Duration::from_secs(60))
            })
            .await
            .expect("join");
            let log = logs.lock().map(|l| l.clone()).unwrap_or_default();
            match line {
                Ok(line) if line.starts_with(prefix) => line[prefix.len()..].to_owned(),
                other => panic!("expected '{prefix}…' from openid-client, got {other:?}; output:\n{log}"),
            }
        }
    };

    let authorize = next("authorize ").await;
    assert!(
        authorize
            .starts_with(&format!("{base}/yourtenant.onmicrosoft.com/b2c_1a_signup_signin_tfp/oauth2/v2.0/authorize?")),
        "{authorize}"
    );
    let mut browser = Browser::trusting(&base, Some(&std::fs::read(&ca_path).expect("CA")));
    browser.policy = TFP_POLICY.to_owned();
    let callback = sign_up_at(&browser, &authorize).await;
    writeln!(stdin, "callback {callback}").expect("write to node");
    let result: Value = serde_json::from_str(&next("result ").await).expect("JSON result");

    assert_eq!(result["issuer"], issuer);
    assert_eq!(result["claims"]["iss"], issuer);
    assert_eq!(result["claims"]["email"], "alice@contoso.com");
    assert_eq!(result["claims"]["tfp"], TFP_POLICY);
    assert_eq!(result["has_access_token"], true);
    assert_eq!(result["refreshed_claims"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["refresh_rotated"], true);
    drop(node);
    serving.abort();
}
