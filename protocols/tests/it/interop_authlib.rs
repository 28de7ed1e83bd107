//! Interop with an independent OAuth 1.0a server: Authlib (PyPI) in a small Flask app of ours
//! with Twitter's endpoint paths (`interop/authlib/app.py`). The test installs the pinned
//! `requirements.txt` into `interop/authlib/.venv` (gitignored) on first use, starts the app on
//! 127.0.0.1, and runs OAuth1 journeys through ief against it, plus the rejections: a wrong
//! consumer secret, a replayed nonce, a parameter changed after signing.
//!
//! Python 3 with its venv module is required: without it these tests fail, saying so.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::oauth1_support::{
    CALLBACK, CONSUMER_KEY, CONSUMER_SECRET, Fixture, TestEnv, auto_approve, browser, policy_xml, query_params, sign_in,
};
use ief_protocols::oauth1::{Credentials, SignInput, Signer};

/// How long the app lives at most, whatever happens to this process.
const APP_LIFETIME_SECS: u32 = 180;

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/authlib")
}

/// Runs `command` to completion within `timeout`, killing it otherwise; its output on failure.
fn run(command: &mut Command, timeout: Duration, what: &str) -> Result<(), String> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("{what} could not start: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {} s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status}):\n{out}\n{err}")) }
}

/// The venv's python, with the pinned requirements installed (once per requirements file).
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_venv) {
        Ok(python) => python,
        Err(e) => panic!("the Authlib interop suite cannot run: {e}"),
    }
}

fn set_up_venv() -> Result<PathBuf, String> {
    let dir = app_dir();
    run(Command::new("python3").arg("--version"), Duration::from_secs(30), "python3 --version").map_err(|e| {
        format!("{e}\nThe Authlib interop tests need Python 3 with the venv module on PATH as `python3` (Debian: apt-get install python3 python3-venv).")
    })?;
    let venv = dir.join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv), Duration::from_secs(180), "python3 -m venv")
            .map_err(|e| format!("{e}\nDebian needs the python3-venv package for this."))?;
    }
    let requirements = dir.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let stamp = venv.join("ief-installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps", "-r"])
                .arg(&requirements),
            Duration::from_secs(600),
            "pip install -r interop/authlib/requirements.txt",
        )?;
        std::fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(python)
}

/// The running app; killed by PID when dropped, also when a test fails.
struct AuthlibApp {
    child: Child,
    /// Held open: the app exits when it closes.
    _stdin: Option<ChildStdin>,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl AuthlibApp {
    fn start(callback_confirmed: &str) -> AuthlibApp {
        let mut child = Command::new(python())
            .arg(app_dir().join("app.py"))
            .args(["--consumer-key", CONSUMER_KEY, "--consumer-secret", CONSUMER_SECRET])
            .args(["--callback-confirmed", callback_confirmed])
            .args(["--lifetime", &APP_LIFETIME_SECS.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("the Authlib app could not start: {e}"));
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let log = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if log.len() < 64 * 1024 {
                        log.push_str(&line);
                        log.push('\n');
                    }
                }
            });
        }
        let (ready, port) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(port) = line.strip_prefix("READY ").and_then(|p| p.trim().parse::<u16>().ok()) {
                        let _ = ready.send(port);
                    }
                }
            });
        }
        let mut app = AuthlibApp { child, _stdin: stdin, port: 0, stderr };
        match port.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => app.port = port,
            Err(_) => panic!("the Authlib app did not become ready within 60 s:\n{}", app.log()),
        }
        app
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for AuthlibApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_full_journey_through_ief_against_authlib() {
    let app = AuthlibApp::start("true");
    let fixture = Fixture::new(&policy_xml(&app.url()), TestEnv::live(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    let log = app.log();
    // user_id and screen_name from the access-token answer; email from verify_credentials,
    // which the app sends only for include_email=true, so the signed query reached it.
    assert_eq!(journey.claim("sub").as_deref(), Some("1234567890"), "{journey:#?}\n{log}");
    assert_eq!(journey.claim("name").as_deref(), Some("alice_x"));
    assert_eq!(journey.claim("email").as_deref(), Some("alice@example.com"));
    assert_eq!(journey.claim("idp").as_deref(), Some("twitter.com"));
    assert_eq!(journey.claim("authenticationSource").as_deref(), Some("socialIdpAuthentication"));
    assert!(journey.callback.as_deref().unwrap().starts_with(&format!("{CALLBACK}?")), "{journey:#?}");
}

#[tokio::test]
async fn authlibs_own_callback_confirmed_is_accepted_and_a_missing_one_refused() {
    // Authlib itself sends Python's `True`.
    let app = AuthlibApp::start("True");
    let fixture = Fixture::new(&policy_xml(&app.url()), TestEnv::live(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    assert_eq!(journey.claim("email").as_deref(), Some("alice@example.com"), "{journey:#?}\n{}", app.log());

    let app = AuthlibApp::start("omit");
    let fixture = Fixture::new(&policy_xml(&app.url()), TestEnv::live(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (code, message) = journey.error();
    assert_eq!(code, "InvalidResponse");
    assert!(message.contains("oauth_callback_confirmed is missing"), "{message}");
}

#[tokio::test]
async fn a_wrong_consumer_secret_is_refused_for_its_signature() {
    let app = AuthlibApp::start("true");
    let fixture = Fixture::new(&policy_xml(&app.url()), TestEnv::live(), "not the consumer secret");
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (code, message) = journey.error();
    assert_eq!(code, "IdentityProviderError");
    assert!(
        message.contains("Twitter refused the request token request with HTTP 401: invalid_signature"),
        "{message}\n{}",
        app.log()
    );
}

#[tokio::test]
async fn a_replayed_nonce_is_refused() {
    let app = AuthlibApp::start("true");
    // One instant and one nonce for every request: the second sign-in replays the first's.
    let fixture = Fixture::new(&policy_xml(&app.url()), TestEnv::live().repeating(), CONSUMER_SECRET);
    let first = sign_in(&fixture, &auto_approve()).await;
    assert_eq!(first.claim("sub").as_deref(), Some("1234567890"), "{first:#?}\n{}", app.log());
    let second = sign_in(&fixture, &auto_approve()).await;
    let (_, message) = second.error();
    assert!(message.contains("refused the request token request with HTTP 401: invalid_nonce"), "{message}");
}

fn field(body: &str, name: &str) -> String {
    query_params(&format!("?{body}")).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test]
async fn a_parameter_changed_after_signing_is_refused() {
    let app = AuthlibApp::start("true");
    let base = app.url();
    let now = chrono::Utc::now().timestamp() as u64;
    let consumer = Signer::new(Credentials::new(CONSUMER_KEY, CONSUMER_SECRET));
    let sign = |signer: &Signer, method: &str, url: &str, nonce: &str, extra: SignInput<'_>| {
        signer.sign(&SignInput { method, url, nonce, timestamp: now, ..extra }).unwrap()
    };
    let post = |url: String, authorization: String| async move {
        let r = browser().post(url).header("authorization", authorization).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };

    // The dance by hand with the profile's signer.
    let url = format!("{base}/oauth/request_token");
    let callback = SignInput { callback: Some(CALLBACK), ..SignInput::default() };
    let (status, body) = post(url.clone(), sign(&consumer, "POST", &url, "n1", callback)).await;
    assert_eq!(status, 200, "{body}\n{}", app.log());
    let (temp, temp_secret) = (field(&body, "oauth_token"), field(&body, "oauth_token_secret"));
    let location = auto_approve()(format!("{base}/oauth/authorize?oauth_token={temp}")).await;
    let verifier = field(location.split_once('?').unwrap().1, "oauth_verifier");
    let url = format!("{base}/oauth/access_token");
    let with_temp = consumer.clone().with_token(Credentials::new(&temp, &temp_secret));
    let exchange = SignInput { verifier: Some(&verifier), ..SignInput::default() };
    let (status, body) = post(url.clone(), sign(&with_temp, "POST", &url, "n2", exchange)).await;
    assert_eq!(status, 200, "{body}\n{}", app.log());
    assert_eq!(field(&body, "user_id"), "1234567890");
    let access = consumer.with_token(Credentials::new(field(&body, "oauth_token"), field(&body, "oauth_token_secret")));

    let get = |send_to: String, authorization: String| async move {
        let r = browser().get(send_to).header("authorization", authorization).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let with_email = format!("{base}/1.1/account/verify_credentials.json?include_email=true");
    let without_email = format!("{base}/1.1/account/verify_credentials.json?include_email=false");
    let (status, body) = get(with_email.clone(), sign(&access, "GET", &with_email, "n3", SignInput::default())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alice@example.com"), "{body}");

    // Signed asking for no email, sent asking for it.
    let (status, body) = get(with_email, sign(&access, "GET", &without_email, "n4", SignInput::default())).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_signature"), "{body}");
    // The same signed request, replayed as it was signed.
    let header = sign(&access, "GET", &without_email, "n5", SignInput::default());
    assert_eq!(get(without_email.clone(), header.clone()).await.0, 200);
    let (status, body) = get(without_email, header).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_nonce"), "{body}");
}
