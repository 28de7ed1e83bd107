//! Two `ief serve` processes on one PostgreSQL database (directory and state store), as behind a
//! load balancer: a sign-in moves between them page by page, codes and refresh tokens work on
//! either and only once, SSO carries across, and a process killed mid-journey loses nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ief_protocols::directory::{Directory, Password};
use ief_server::apps::DEV_CLIENT_ID as CLIENT;
use ief_testkit::postgres::PgCluster;
use serde_json::Value;

use crate::common::{Running, Scratch, spawn, workspace};

const TENANT: &str = "yourtenant.onmicrosoft.com";
const POLICY: &str = "B2C_1A_signup_signin";
const REDIRECT: &str = "http://localhost:8765/cb";
/// What a load balancer in front of both would be reached at: it names the issuer of both.
const PUBLIC_URL: &str = "http://localhost:8080";

/// The starter pack's local accounts without the email code: the test reaches the processes only
/// over HTTP, and codes never cross it.
pub(crate) fn policy_without_email_codes(scratch: &Scratch) -> PathBuf {
    let source = workspace().join("../shared/policies/starterpack/LocalAccounts");
    let target = scratch.path("policy");
    for entry in std::fs::read_dir(&source).expect("the starter pack") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let mut text = std::fs::read_to_string(&path).expect("policy text");
        if name == "TrustFrameworkBase.xml" {
            let signup = r#"<Item Key="ContentDefinitionReferenceId">api.localaccountsignup</Item>"#;
            assert!(text.contains(signup), "the sign-up profile's metadata");
            text = text.replace(signup, &format!(r#"{signup}<Item Key="EnforceEmailVerification">False</Item>"#));
        }
        scratch.write(&format!("policy/{name}"), text);
    }
    target
}

/// `ief serve` on an ephemeral port with its directory and store in `url`; its base URL.
pub(crate) fn serve(policy: &Path, keys: &Path, url: &str) -> (Running, String) {
    serve_with(policy, keys, url, url, &[])
}

/// `ief serve` with the given `--directory` and `--store`, and `extra` arguments.
fn serve_with(policy: &Path, keys: &Path, directory: &str, store: &str, extra: &[&str]) -> (Running, String) {
    let (policy, keys) = (policy.display().to_string(), keys.display().to_string());
    let mut args = vec![
        policy.as_str(),
        "--http",
        "--port",
        "0",
        "--keys",
        &keys,
        "--directory",
        directory,
        "--store",
        store,
        "--public-url",
        PUBLIC_URL,
        "--for",
        "900",
    ];
    args.extend_from_slice(extra);
    let (running, lines) = spawn(&["serve"], &args, "keys:");
    let base = lines.iter().find_map(|l| l.strip_prefix("listening on ")).expect("a listening line").to_owned();
    (running, base)
}

/// A page as the browser saw it: its `SETTINGS`.
pub(crate) struct Page(Value);

impl Page {
    fn get(&self, key: &str) -> String {
        self.0[key].as_str().unwrap_or_else(|| panic!("SETTINGS.{key} in {}", self.0)).to_owned()
    }
}

/// One browser (one cookie jar) that talks to whichever process it is told to.
pub(crate) struct Browser(reqwest::Client);

impl Browser {
    pub(crate) fn new() -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Browser(client)
    }

    fn url(base: &str, tail: &str) -> String {
        format!("{base}/{TENANT}/{POLICY}/{tail}")
    }

    pub(crate) async fn authorize(&self, base: &str) -> reqwest::Response {
        self.authorize_at(&format!("{base}/{TENANT}/{POLICY}")).await
    }

    /// The development app's authorization request to the relying party at `policy_url`.
    async fn authorize_at(&self, policy_url: &str) -> reqwest::Response {
        let query = form_query(&[
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid offline_access"),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ]);
        self.0.get(format!("{policy_url}/oauth2/v2.0/authorize?{query}")).send().await.expect("authorize")
    }

    pub(crate) async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let html = response.text().await.expect("body");
        let settings = html
            .split_once("var SETTINGS = ")
            .and_then(|(_, rest)| rest.split_once(";\n"))
            .and_then(|(json, _)| serde_json::from_str(json).ok());
        Page(settings.unwrap_or_else(|| panic!("a page, not {status}: {html}")))
    }

    pub(crate) async fn unified(&self, base: &str, page: &Page, choice: (&str, &str)) -> Page {
        let query =
            form_query(&[choice, ("csrf_token", &page.get("csrf")), ("tx", &page.get("transId")), ("p", POLICY)]);
        let url = Browser::url(base, &format!("api/{}/unified?{query}", page.get("api")));
        Browser::page(self.0.get(url).send().await.expect("unified")).await
    }

    /// The page script's submit; the answer's `status` ("200" when accepted).
    pub(crate) async fn submit(&self, base: &str, page: &Page, fields: &[(&str, &str)]) -> String {
        let query = form_query(&[("tx", &page.get("transId")), ("p", POLICY)]);
        let mut body = vec![("request_type", "RESPONSE")];
        body.extend_from_slice(fields);
        let response = self
            .0
            .post(Browser::url(base, &format!("SelfAsserted?{query}")))
            .header("X-CSRF-TOKEN", page.get("csrf"))
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&body)
            .send()
            .await
            .expect("SelfAsserted");
        let answer: Value = response.json().await.expect("JSON");
        answer["status"].as_str().unwrap_or_default().to_owned()
    }

    pub(crate) async fn confirmed(&self, base: &str, page: &Page) -> reqwest::Response {
        let query = form_query(&[("csrf_token", &page.get("csrf")), ("tx", &page.get("transId")), ("p", POLICY)]);
        let url = Browser::url(base, &format!("api/{}/confirmed?{query}", page.get("api")));
        self.0.get(url).send().await.expect("confirmed")
    }

    pub(crate) async fn token(&self, base: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.token_at(&Browser::url(base, "oauth2/v2.0/token"), form).await
    }

    async fn token_at(&self, token_url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self.0.post(token_url).form(form).send().await.expect("token");
        (response.status().as_u16(), response.json().await.expect("JSON"))
    }

    pub(crate) async fn redeem(&self, base: &str, code: &str) -> (u16, Value) {
        self.redeem_at(&Browser::url(base, "oauth2/v2.0/token"), code).await
    }

    async fn redeem_at(&self, token_url: &str, code: &str) -> (u16, Value) {
        let form =
            [("grant_type", "authorization_code"), ("client_id", CLIENT), ("code", code), ("redirect_uri", REDIRECT)];
        self.token_at(token_url, &form).await
    }

    pub(crate) async fn refresh(&self, base: &str, token: &str) -> (u16, Value) {
        self.token(base, &[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", token)]).await
    }
}

fn form_query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The `code` of a redirect to the application.
pub(crate) fn code_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "a redirect to the application");
    let location = response.headers()["location"].to_str().expect("location");
    let tail = location.split_once('?').map_or("", |(_, t)| t);
    let code = form_urlencoded::parse(tail.as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
    code.unwrap_or_else(|| panic!("a code in {location}"))
}

pub(crate) fn sign_up_fields(email: &str) -> [(&str, &str); 6] {
    [
        ("email", email),
        ("newPassword", "Passw0rd!2024"),
        ("reenterPassword", "Passw0rd!2024"),
        ("displayName", "Test User"),
        ("givenName", "Test"),
        ("surname", "User"),
    ]
}

/// The `sub` of a token answer's id_token: the account's objectId.
pub(crate) fn subject(tokens: &Value) -> String {
    use base64::Engine;
    let payload = tokens["id_token"].as_str().unwrap_or_else(|| panic!("an id_token in {tokens}")).split('.').nth(1);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.expect("a JWT")).expect("base64url");
    let claims: Value = serde_json::from_slice(&bytes).expect("claims");
    claims["sub"].as_str().unwrap_or_else(|| panic!("a sub in {claims}")).to_owned()
}

#[test]
fn two_processes_on_one_postgres_finish_each_others_sign_ins_and_survive_a_kill() {
    let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("two_processes").expect("a database");
    let scratch = Scratch::new("pg-two");
    let policy = policy_without_email_codes(&scratch);
    let keys = scratch.path("keys");
    // The first makes the keys; the second starts once they are there.
    let (mut first, a) = serve(&policy, &keys, &url);
    let (second, b) = serve(&policy, &keys, &url);
    let directory = Directory::connect(&url).expect("the shared directory");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // A sign-up answered page by page alternately on both.
        let browser = Browser::new();
        let combined = Browser::page(browser.authorize(&a).await).await;
        assert_eq!(combined.get("api"), "CombinedSigninAndSignup");
        let form = browser.unified(&b, &combined, ("local", "signup")).await;
        assert_eq!(form.get("api"), "SelfAsserted");
        assert_eq!(browser.submit(&a, &form, &sign_up_fields("alice@contoso.com")).await, "200");
        let code = code_of(&browser.confirmed(&b, &form).await);

        // Its code is redeemed on the second and refused on the first; its refresh token works
        // on the first, once.
        let (status, tokens) = browser.redeem(&b, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let alice = directory.find_by_sign_in_name(None, "alice@contoso.com").expect("read").expect("alice");
        assert_eq!(subject(&tokens), alice.object_id);
        let (status, replay) = browser.redeem(&a, &code).await;
        assert_eq!(status, 400, "a code redeemed on one process is refused on the other: {replay}");
        let refresh = tokens["refresh_token"].as_str().expect("refresh_token").to_owned();
        let (status, refreshed) = browser.refresh(&a, &refresh).await;
        assert_eq!(status, 200, "{refreshed}");
        let (status, replay) = browser.refresh(&b, &refresh).await;
        assert_eq!(status, 400, "a used refresh token is refused on the other process: {replay}");

        // SSO: the session begun on the first signs the browser in on the second, no page shown.
        let sso = browser.authorize(&b).await;
        let (status, tokens) = browser.redeem(&a, &code_of(&sso)).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(subject(&tokens), alice.object_id);

        // SIGKILL right after a directory write returned: the sign-up form answered on the
        // first (its validation profile wrote the account), the first killed, and the sign-in
        // goes on at the second.
        let carol = Browser::new();
        let combined = Browser::page(carol.authorize(&a).await).await;
        let form = carol.unified(&a, &combined, ("local", "signup")).await;
        assert_eq!(carol.submit(&a, &form, &sign_up_fields("carol@contoso.com")).await, "200");
        first.0.kill().expect("SIGKILL");
        first.0.wait().expect("reaped");
        let done = carol.confirmed(&b, &form).await;
        let (status, tokens) = carol.redeem(&b, &code_of(&done)).await;
        assert_eq!(status, 200, "{tokens}");
        let carol_id = directory.find_by_sign_in_name(None, "carol@contoso.com").expect("read").expect("carol");
        assert_eq!(subject(&tokens), carol_id.object_id);

        // SIGKILL after a page was answered: alice signs in on the second, which is killed
        // before the next request; the first, restarted, continues.
        let again = Browser::new();
        let combined = Browser::page(again.authorize(&b).await).await;
        let fields = [("signInName", "alice@contoso.com"), ("password", "Passw0rd!2024")];
        assert_eq!(again.submit(&b, &combined, &fields).await, "200");
        drop(second);
        let (restarted, a) = serve(&policy, &keys, &url);
        let done = again.confirmed(&a, &combined).await;
        let (status, tokens) = again.redeem(&a, &code_of(&done)).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(subject(&tokens), alice.object_id);
        drop(restarted);
    });
    // Nothing half-written: each account once, whole, with its password.
    let users = directory.users().expect("users");
    let mut emails: Vec<&str> = users.iter().filter_map(|u| u.sign_in_name(Some("emailAddress"))).collect();
    emails.sort_unstable();
    assert_eq!(emails, ["alice@contoso.com", "carol@contoso.com"]);
    let carol = directory.find_by_sign_in_name(None, "carol@contoso.com").expect("read").expect("carol");
    assert!(directory.verify_password(&carol.object_id, &Password::new("Passw0rd!2024")).expect("verify"));
    assert!(carol.attribute("displayName").is_some(), "{carol:?}");
    eprintln!("two processes: {:?}", started.elapsed());
    drop(directory);
    drop(cluster);
}

/// The AADB2C code of a refusal: an error page's, or the error redirect's to the application.
async fn refusal_code(response: reqwest::Response) -> String {
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
    let text = match location {
        Some(location) => form_urlencoded::parse(location.split_once('?').map_or("", |(_, q)| q).as_bytes())
            .find(|(k, _)| k == "error_description")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("an error redirect, not {location}")),
        None => response.text().await.expect("body"),
    };
    let at = text.find("AADB2C").unwrap_or_else(|| panic!("an AADB2C code in {text}"));
    text[at..at + 11].to_owned()
}

/// Issue #14 across processes: an upstream identity provider's callback consumed on one `ief
/// serve` is refused on the other (it finds the sign-in ended), and the same callback sent to
/// both at once gives the application exactly one code. The shared guard itself is tested where
/// both posts can be made to read the sign-in first (server/tests/it/federation.rs).
#[test]
fn an_upstream_callback_used_on_one_process_is_refused_on_the_other() {
    use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};
    const ASSERTION_KEY: &str = "B2C_1A_ExampleIdpAssertionSigningKey";
    const FEDERATION: &str = "contoso.onmicrosoft.com/B2C_1A_SignIn_PrivateKeyJwt";
    let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("callback_replay").expect("a database");
    let scratch = Scratch::new("pg-callback");
    let keys = scratch.path("keys");
    ief_protocols::keys::init_keys(&keys, &[ASSERTION_KEY]).expect("the assertion key");
    let store = ief_protocols::keys::KeyStore::load(&keys).expect("keys");
    let jwk = store.signing_key(ASSERTION_KEY).expect("an RSA key").public_jwk().clone();
    // The provider serves on its own threads while the test's requests wait.
    let provider_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let provider_runtime = provider_runtime.expect("runtime");
    let authresp = format!("{PUBLIC_URL}/contoso.onmicrosoft.com/oauth2/authresp");
    let config = OidcConfig::default()
        .user(ief_idp::TestUser {
            username: "alice".to_owned(),
            password: "Passw0rd!".to_owned(),
            claims: serde_json::json!({"sub": "248289761001", "email": "alice@example.com"})
                .as_object()
                .cloned()
                .expect("claims"),
        })
        .client(ClientConfig::private_key_jwt("ief-private-key-jwt", jwk).redirect_uri(authresp))
        .auto_login("alice");
    let provider = provider_runtime.block_on(OidcProvider::start(config)).expect("the provider starts");
    let ca = scratch.write("idp-ca.pem", provider.ca_pem());
    let policy = scratch.path("federation");
    for entry in std::fs::read_dir(workspace().join("policies/federation")).expect("the federation policies") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "xml") {
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            scratch.write(&format!("federation/{name}"), std::fs::read(&path).expect("policy"));
        }
    }
    let settings = serde_json::json!({"Environments": [{"Name": "Local", "Tenant": "contoso.onmicrosoft.com",
        "PolicySettings": {"IefOidcUrl": provider.issuer()}}]});
    scratch.write("federation/appsettings.json", settings.to_string());
    let extra = ["--env", "Local", "--trusted-root", ca.to_str().expect("a UTF-8 path")];
    let (_first, a) = serve_with(&policy, &keys, &url, &url, &extra);
    let (_second, b) = serve_with(&policy, &keys, &url, &url, &extra);
    let to_provider = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(provider.ca_pem().as_bytes()).expect("PEM")])
        .build()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // A sign-in begun on the first; the provider signs alice in at once and hands the
        // browser its callback (state and code), which a load balancer could send to either.
        let issuer = provider.issuer().to_owned();
        let callback = |browser: Browser, base: String| {
            let (to_provider, issuer) = (to_provider.clone(), issuer.clone());
            async move {
                let redirect = browser.authorize_at(&format!("{base}/{FEDERATION}")).await;
                assert_eq!(redirect.status(), 302, "to the provider");
                let location = redirect.headers()["location"].to_str().expect("location").to_owned();
                assert!(location.starts_with(&issuer), "{location}");
                let page = to_provider.get(&location).send().await.expect("the provider").text().await.expect("page");
                let (_, fields) = ief_testkit::authorize::form_post(&page);
                assert!(["state", "code"].iter().all(|f| fields.iter().any(|(k, _)| k == f)), "{page}");
                (browser, fields)
            }
        };
        let post = |browser: &Browser, base: &str, fields: &[(String, String)]| {
            let request = browser.0.post(format!("{base}/contoso.onmicrosoft.com/oauth2/authresp")).form(fields);
            async move { request.send().await.expect("the callback") }
        };

        // Consumed on the first, it ends the sign-in with a code; replayed on the second, it is
        // refused with B2C's error page and no code.
        let (browser, fields) = callback(Browser::new(), a.clone()).await;
        let code = code_of(&post(&browser, &a, &fields).await);
        let (status, tokens) = browser.redeem_at(&format!("{b}/{FEDERATION}/oauth2/v2.0/token"), &code).await;
        assert_eq!(status, 200, "{tokens}");
        let replay = post(&browser, &b, &fields).await;
        assert_eq!(replay.status(), 400, "a replayed callback is refused");
        assert_eq!(refusal_code(replay).await, "AADB2C90046");

        // Sent to both at once (a browser's double submit): the process that takes the callback
        // first finishes the sign-in; the other refuses it without touching the sign-in.
        let (browser, fields) = callback(Browser::new(), b.clone()).await;
        let (one, two) = tokio::join!(post(&browser, &a, &fields), post(&browser, &b, &fields));
        let mut codes = Vec::new();
        for answer in [one, two] {
            let location = answer.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
            if answer.status() == 302 && location.contains("code=") {
                codes.push(code_of(&answer));
            } else {
                // The shared replay guard saw the state used (409), or the sign-in already ended.
                let refused = refusal_code(answer).await;
                assert!(["AADB2C90046", "AADB2C90065"].contains(&refused.as_str()), "{refused}");
            }
        }
        assert_eq!(codes.len(), 1, "one callback gave {} codes", codes.len());
        let (status, tokens) = browser.redeem_at(&format!("{a}/{FEDERATION}/oauth2/v2.0/token"), &codes[0]).await;
        assert_eq!(status, 200, "the sign-in completes: {tokens}");
    });
    drop(provider);
    drop(provider_runtime);
    drop(cluster);
}

/// What a load run measured.
#[derive(Debug)]
struct Load {
    sign_ins: usize,
    errors: Vec<String>,
    /// Whole sign-ups, sorted.
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Load {
    fn percentile(&self, p: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies.get(((last as f64) * p).round() as usize).copied().unwrap_or_default()
    }

    fn summary(&self, what: &str) -> String {
        format!(
            "{what}: {} sign-ups in {:.1} s = {:.1}/s, p50 {} ms, p99 {} ms, {} errors",
            self.sign_ins,
            self.elapsed.as_secs_f64(),
            self.sign_ins as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_millis(),
            self.percentile(0.99).as_millis(),
            self.errors.len()
        )
    }
}

/// One sign-up of `email` whose requests go round the `servers` in turn, ending with the
/// redeemed code's id_token.
async fn sign_up_across(servers: &[String], email: &str) -> Result<String, String> {
    let browser = Browser::new();
    let at = |i: usize| servers[i % servers.len()].as_str();
    let combined = Browser::page(browser.authorize(at(0)).await).await;
    let form = browser.unified(at(1), &combined, ("local", "signup")).await;
    let status = browser.submit(at(2), &form, &sign_up_fields(email)).await;
    if status != "200" {
        return Err(format!("{email}: the sign-up form answered {status}"));
    }
    let done = browser.confirmed(at(3), &form).await;
    let (status, tokens) = browser.redeem(at(4), &code_of(&done)).await;
    if status != 200 {
        return Err(format!("{email}: the token endpoint answered {status}: {tokens}"));
    }
    Ok(subject(&tokens))
}

/// `sign_ins` sign-ups from `clients` concurrent browsers against `servers`.
async fn load(servers: Vec<String>, sign_ins: usize, clients: usize) -> Load {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = Arc::new(AtomicUsize::new(0));
    let servers = Arc::new(servers);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, servers) = (Arc::clone(&next), Arc::clone(&servers));
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= sign_ins {
                        return done;
                    }
                    let began = Instant::now();
                    let result = sign_up_across(&servers, &format!("load{n}@contoso.com")).await;
                    done.push((began.elapsed(), result));
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        for (took, result) in task.await.expect("a client") {
            latencies.push(took);
            if let Err(e) = result {
                errors.push(e);
            }
        }
    }
    latencies.sort_unstable();
    Load { sign_ins, errors, latencies, elapsed: started.elapsed() }
}

/// A count from the environment, for the full run (BENCHMARKS.md), else the suite's small one.
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every load user exactly once in `directory`.
fn assert_every_user_once(directory: &Directory, sign_ins: usize) {
    let users = directory.users().expect("users");
    let mut emails: Vec<String> = users
        .iter()
        .filter_map(|u| u.sign_in_name(Some("emailAddress")).map(str::to_owned))
        .filter(|e| e.starts_with("load"))
        .collect();
    emails.sort_unstable();
    let before = emails.len();
    emails.dedup();
    assert_eq!(before, emails.len(), "no user is written twice");
    assert_eq!(emails.len(), sign_ins, "no user is lost");
}

#[test]
fn load_on_two_processes_and_postgres_loses_and_duplicates_no_user() {
    let (sign_ins, clients) = (knob("IEF_LOAD_SIGN_INS", 40), knob("IEF_LOAD_CLIENTS", 10));
    let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("load").expect("a database");
    let scratch = Scratch::new("pg-load");
    let policy = policy_without_email_codes(&scratch);
    let keys = scratch.path("keys");
    let (_first, a) = serve(&policy, &keys, &url);
    let (_second, b) = serve(&policy, &keys, &url);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The stored size of a sign-in at its sign-up form, read back from the database.
    let stored = runtime.block_on(async {
        let browser = Browser::new();
        let combined = Browser::page(browser.authorize(&a).await).await;
        browser.unified(&b, &combined, ("local", "signup")).await;
        let (clients, _) = ief_store::pg::connect(&url, 1).expect("a connection");
        let row = clients[0]
            .query_one("SELECT MAX(octet_length(value))::BIGINT FROM entries WHERE kind = 'sign_in'", &[])
            .await
            .expect("size");
        row.get::<_, i64>(0)
    });
    assert!(stored > 0 && stored <= 4096, "a sign-in at a page is stored in {stored} bytes");
    let load = runtime.block_on(load(vec![a, b], sign_ins, clients));
    eprintln!("{}; a sign-in at its form stores {stored} bytes", load.summary("two processes + PostgreSQL"));
    assert!(load.errors.is_empty(), "{:#?}", load.errors);
    assert_every_user_once(&Directory::connect(&url).expect("directory"), sign_ins);
}

#[test]
fn load_on_one_process_and_sqlite_loses_and_duplicates_no_user() {
    let (sign_ins, clients) = (knob("IEF_LOAD_SIGN_INS", 40), knob("IEF_LOAD_CLIENTS", 10));
    let scratch = Scratch::new("sqlite-load");
    let policy = policy_without_email_codes(&scratch);
    let directory = scratch.path("directory.sqlite").display().to_string();
    let store = scratch.path("state.sqlite").display().to_string();
    let (_running, base) = serve_with(&policy, &scratch.path("keys"), &directory, &store, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let load = runtime.block_on(load(vec![base], sign_ins, clients));
    eprintln!("{}", load.summary("one process + SQLite"));
    assert!(load.errors.is_empty(), "{:#?}", load.errors);
    assert_every_user_once(&Directory::open(&directory).expect("directory"), sign_ins);
}
