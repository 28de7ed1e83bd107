//! Federation through the server: the browser is sent to the embedded OpenID provider, and the
//! provider's form_post callback at `/{tenant}/oauth2/authresp` resumes the sign-in.

use ief_idp::TestUser;
use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use ief_protocols::keys::KeyStore;
use ief_store::Store;
use serde_json::json;

use crate::common::*;
use crate::gated::Gated;

const FEDERATION_POLICY: &str = "B2C_1A_SignIn_PrivateKeyJwt";
const FEDERATION_TENANT: &str = "contoso.onmicrosoft.com";
const ASSERTION_KEY: &str = "B2C_1A_ExampleIdpAssertionSigningKey";
const CLIENT_ID: &str = "ief-private-key-jwt";

/// A sign-in sent to the embedded provider, which signs alice in at once: the browser holds the
/// provider's form_post callback (its action and fields), not yet posted.
struct Federated {
    _temp: TempDir,
    _provider: OidcProvider,
    serving: tokio::task::JoinHandle<Result<(), ief_server::ServerError>>,
    browser: Browser,
    action: String,
    inputs: Vec<(String, String)>,
}

async fn federated(name: &str, store: Option<Arc<dyn Store>>) -> Federated {
    let temp = TempDir::new(name);
    let keys_dir = temp.0.join("keys");
    ief_protocols::keys::init_keys(&keys_dir, &[ASSERTION_KEY]).expect("the assertion key");
    let jwk = KeyStore::load(&keys_dir).expect("keys").signing_key(ASSERTION_KEY).expect("RSA").public_jwk().clone();

    let (listener, base) = listen("http://127.0.0.1").await;
    let mut released = serde_json::Map::new();
    for (k, v) in
        [("sub", json!("248289761001")), ("email", json!("alice@example.com")), ("name", json!("Alice Smith"))]
    {
        released.insert(k.to_owned(), v);
    }
    let provider = OidcProvider::start(
        OidcConfig::default()
            .user(TestUser { username: "alice".to_owned(), password: "Passw0rd!".to_owned(), claims: released })
            .client(
                ClientConfig::private_key_jwt(CLIENT_ID, jwk)
                    .redirect_uri(format!("{base}/{FEDERATION_TENANT}/oauth2/authresp")),
            )
            .auto_login("alice"),
    )
    .await
    .expect("the provider starts");

    let policies = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/federation");
    let server = load(vec![policies], &base, keys_dir, |options| {
        options.environment = Some("Local".to_owned());
        options.settings = vec![("IefOidcUrl".to_owned(), provider.issuer().to_owned())];
        options.trusted_roots = vec![provider.ca_pem().to_owned()];
        options.store = store;
    });
    let serving = tokio::spawn(server.serve(listener));

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(provider.ca_pem().as_bytes()).expect("PEM")])
        .build()
        .expect("client");
    let mut browser = Browser::trusting(&base, None);
    browser.client = client;
    browser.tenant = FEDERATION_TENANT.to_owned();
    browser.policy = FEDERATION_POLICY.to_owned();
    let authorize = browser.authorize_url(&[]);
    let to_provider = browser.get(&authorize).await;
    assert_eq!(to_provider.status(), 302);
    let location = to_provider.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(provider.issuer()), "the browser goes to the provider: {location}");

    // The provider signs alice in at once and posts the result back to the server.
    let page = browser.get(&location).await.text().await.expect("the form_post page");
    let (action, inputs) = ief_testkit::authorize::form_post(&page);
    assert_eq!(action, format!("{base}/{FEDERATION_TENANT}/oauth2/authresp"));
    Federated { _temp: temp, _provider: provider, serving, browser, action, inputs }
}

#[tokio::test]
async fn a_federated_sign_in_returns_through_authresp() {
    let Federated { _temp, _provider, serving, browser, action, inputs } = federated("federation", None).await;
    let back = browser.client.post(&action).form(&inputs).send().await.expect("the callback");
    assert_eq!(back.status(), 302);
    let params = redirect_params(&back);
    let code = param(&params, "code").unwrap_or_else(|| panic!("a code, got {params:?}"));
    let (status, body) = browser.redeem(code).await;
    assert_eq!(status, 200, "{body}");
    let token = claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!(token["email"], "alice@example.com", "{token}");

    // The same callback again finds no sign-in waiting.
    let replay = browser.client.post(&action).form(&inputs).send().await.expect("a replay");
    assert_eq!(replay.status(), 400);
    serving.abort();
}

/// A browser's double submit of the provider's form_post, both posts reading the sign-in before
/// either goes on: the request that takes the callback first finishes the sign-in; the other is
/// refused without touching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_posted_twice_at_once_gives_one_code_and_the_sign_in_completes() {
    let store = Arc::new(Gated::new());
    let Federated { _temp, _provider, serving, browser, action, inputs } =
        federated("double-post", Some(store.clone())).await;
    store.armed.store(2, SeqCst);
    let post = || browser.client.post(&action).form(&inputs).send();
    let (one, two) = tokio::join!(post(), post());
    let mut codes = Vec::new();
    for answer in [one.expect("a callback"), two.expect("a callback")] {
        let params = redirect_params(&answer);
        match param(&params, "code") {
            Some(code) => codes.push(code.to_owned()),
            None => {
                assert_eq!(answer.status(), 409, "{params:?}");
                let page = answer.text().await.expect("the error page");
                assert!(page.contains("AADB2C90065"), "{page}");
                assert!(page.contains("already received by another request"), "{page}");
            }
        }
    }
    assert_eq!(codes.len(), 1, "one callback gave {} codes", codes.len());
    let (status, body) = browser.redeem(&codes[0]).await;
    assert_eq!(status, 200, "{body}");
    let token = claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!(token["email"], "alice@example.com", "{token}");
    serving.abort();
}

/// A browser that leaves while its callback is handled (a double submit abandons its first
/// post): the callback's state is used by then, so the sign-in must still end with a code, or
/// every retry would be refused as a replay until the sign-in expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_whose_browser_leaves_mid_exchange_still_ends_the_sign_in() {
    let store = Arc::new(Gated::new());
    let Federated { _temp, _provider, serving, browser, action, inputs } =
        federated("abandoned-post", Some(store.clone())).await;
    store.hold.store(true, SeqCst);
    let post = tokio::spawn(browser.client.post(&action).form(&inputs).send());
    store.held.notified().await;
    // The state is marked used; the browser goes away before the token exchange.
    post.abort();
    assert!(post.await.is_err_and(|e| e.is_cancelled()), "the post was abandoned");
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.release.notify_one();

    let deadline = Instant::now() + Duration::from_secs(10);
    while store.codes.load(SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.codes.load(SeqCst), 1, "the abandoned callback issued no code");
    // The sign-in ended, so a retry finds none waiting (not a 409 "already received").
    let retry = browser.client.post(&action).form(&inputs).send().await.expect("a retry");
    assert_eq!(retry.status(), 400);
    let page = retry.text().await.expect("the error page");
    assert!(page.contains("AADB2C90046"), "{page}");
    serving.abort();
}

/// The shared replay guard failing: the callback is refused (503) and the sign-in kept, so the
/// same callback posted again finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_the_replay_guard_cannot_record_is_refused_and_may_be_posted_again() {
    let store = Arc::new(Gated::new());
    let Federated { _temp, _provider, serving, browser, action, inputs } =
        federated("guard-down", Some(store.clone())).await;
    store.fail_replay.store(true, SeqCst);
    let refused = browser.client.post(&action).form(&inputs).send().await.expect("the callback");
    assert_eq!(refused.status(), 503);
    let page = refused.text().await.expect("the error page");
    assert!(page.contains("AADB2C90085"), "{page}");

    let again = browser.client.post(&action).form(&inputs).send().await.expect("the callback again");
    assert_eq!(again.status(), 302);
    let params = redirect_params(&again);
    let code = param(&params, "code").unwrap_or_else(|| panic!("a code, got {params:?}"));
    let (status, body) = browser.redeem(code).await;
    assert_eq!(status, 200, "{body}");
    serving.abort();
}

#[tokio::test]
async fn the_tenant_guid_routes_too_and_names_the_default_issuer() {
    let temp = TempDir::new("tenant-guid");
    let (listener, base) = listen("http://127.0.0.1").await;
    let policies = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/federation");
    let server = load(vec![policies], &base, temp.0.join("keys"), |options| {
        options.environment = Some("Local".to_owned());
    });
    let serving = tokio::spawn(server.serve(listener));
    let guid = "8a3c0a6e-5f62-4b0e-9a57-2f0b3b1c4d21";
    let client = reqwest::Client::new();
    for tenant in [guid, FEDERATION_TENANT, &guid.to_uppercase()] {
        let url = format!("{base}/{tenant}/{FEDERATION_POLICY}/v2.0/.well-known/openid-configuration");
        let doc: serde_json::Value = client.get(&url).send().await.expect("GET").json().await.expect("JSON");
        assert_eq!(doc["issuer"], format!("{base}/{guid}/v2.0/"), "{url}");
    }
    let other = client
        .get(format!("{base}/00000000-0000-0000-0000-000000000000/{FEDERATION_POLICY}/discovery/v2.0/keys"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status(), 400, "another tenant's GUID does not reach the policy");
    serving.abort();
}
