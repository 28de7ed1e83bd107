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

/// A sign-in sent to an embedded provider, which signs alice in at once: the browser holds the
/// provider's answer for the server's callback, not yet sent.
struct Federated {
    _temp: TempDir,
    /// The provider, running while this is kept.
    _provider: Box<dyn std::any::Any + Send>,
    serving: tokio::task::JoinHandle<()>,
    browser: Browser,
    callback: Callback,
}

/// The provider's answer as the browser brings it back: a form_post page's form or a redirect.
enum Callback {
    Post { action: String, inputs: Vec<(String, String)> },
    Get(String),
}

impl Federated {
    /// The browser sends the provider's answer to the server (once more, each call).
    fn send(&self) -> impl Future<Output = reqwest::Response> + Send + 'static {
        let request = match &self.callback {
            Callback::Post { action, inputs } => self.browser.client.post(action).form(inputs),
            Callback::Get(url) => self.browser.client.get(url),
        };
        async move { request.send().await.expect("the callback") }
    }
}

/// A server of this repository's `folder` of policies (environment Local, `settings` added) on
/// `listener`, and a browser for contoso's `policy` that trusts the provider's `ca_pem`, if any.
fn serve_policies(
    folder: &str,
    (listener, base): (tokio::net::TcpListener, &str),
    keys_dir: std::path::PathBuf,
    settings: Vec<(String, String)>,
    ca_pem: Option<&str>,
    store: Option<Arc<dyn Store>>,
) -> (tokio::task::JoinHandle<()>, Browser) {
    let policies = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies").join(folder);
    let server = load(vec![policies], base, keys_dir, |options| {
        options.environment = Some("Local".to_owned());
        options.settings = settings;
        options.trusted_roots = ca_pem.into_iter().map(str::to_owned).collect();
        options.store = store;
    });
    let serving = tokio::spawn(server.serve(listener));
    let mut browser = Browser::trusting(base, ca_pem.map(str::as_bytes));
    browser.tenant = FEDERATION_TENANT.to_owned();
    (serving, browser)
}

/// Where a redirect sends the browser, which must start with `to`.
fn redirected(response: &reqwest::Response, to: &str) -> String {
    assert_eq!(response.status(), 302, "a redirect to {to}");
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(to), "the browser goes to {to}: {location}");
    location
}

/// The provider's answer to the server's `callback` URL: a form_post page's form, else a redirect.
async fn answer_of(response: reqwest::Response, callback: &str) -> Callback {
    if response.status() != 200 {
        let location = redirected(&response, callback);
        assert_eq!(location.split_once('?').map(|(url, _)| url), Some(callback), "a redirect with a query");
        return Callback::Get(location);
    }
    let page = response.text().await.expect("the form_post page");
    let (action, inputs) = ief_testkit::authorize::form_post(&page);
    assert_eq!(action, callback);
    Callback::Post { action, inputs }
}

fn alice(claims: serde_json::Value) -> TestUser {
    let serde_json::Value::Object(claims) = claims else { panic!("claims are an object") };
    TestUser { username: "alice".to_owned(), password: "Passw0rd!".to_owned(), claims }
}

/// Federation through the embedded OpenID provider (private_key_jwt), which answers by form_post.
async fn federated(name: &str, store: Option<Arc<dyn Store>>) -> Federated {
    let temp = TempDir::new(name);
    let keys_dir = temp.0.join("keys");
    ief_protocols::keys::init_keys(&keys_dir, &[ASSERTION_KEY]).expect("the assertion key");
    let jwk = KeyStore::load(&keys_dir).expect("keys").signing_key(ASSERTION_KEY).expect("RSA").public_jwk().clone();

    let (listener, base) = listen("http://127.0.0.1").await;
    let released = json!({ "sub": "248289761001", "email": "alice@example.com", "name": "Alice Smith" });
    let provider = OidcProvider::start(
        OidcConfig::default()
            .user(alice(released))
            .client(
                ClientConfig::private_key_jwt(CLIENT_ID, jwk)
                    .redirect_uri(format!("{base}/{FEDERATION_TENANT}/oauth2/authresp")),
            )
            .auto_login("alice"),
    )
    .await
    .expect("the provider starts");

    let settings = vec![("IefOidcUrl".to_owned(), provider.issuer().to_owned())];
    let (serving, mut browser) =
        serve_policies("federation", (listener, &base), keys_dir, settings, Some(provider.ca_pem()), store);
    browser.policy = FEDERATION_POLICY.to_owned();
    let to_provider = browser.get(&browser.authorize_url(&[])).await;
    let location = redirected(&to_provider, provider.issuer());

    // The provider signs alice in at once and posts the result back to the server.
    let callback =
        answer_of(browser.get(&location).await, &format!("{base}/{FEDERATION_TENANT}/oauth2/authresp")).await;
    assert!(matches!(callback, Callback::Post { .. }), "the provider answers by form_post");
    Federated { _temp: temp, _provider: Box::new(provider), serving, browser, callback }
}

/// The social policy's upstream providers.
#[derive(Clone, Copy)]
enum Social {
    /// GitHub-like OAuth2 (client_secret_basic), answering with a redirect.
    OAuth2,
    /// Twitter-like OAuth 1.0a, answering with a redirect.
    OAuth1,
}

/// Federation through `policies/social`: alice picks the provider's button on the selection
/// page and the embedded provider signs her in at once.
async fn social(name: &str, upstream: Social, store: Option<Arc<dyn Store>>) -> Federated {
    const GITHUB_SECRET: &str = "B2C_1A_GitHubSecret";
    const TWITTER_SECRET: &str = "B2C_1A_TwitterSecret";
    let temp = TempDir::new(name);
    let keys_dir = temp.0.join("keys");
    ief_protocols::keys::init_keys(&keys_dir, &[GITHUB_SECRET, TWITTER_SECRET]).expect("the client secrets");
    let keys = KeyStore::load(&keys_dir).expect("keys");
    let secret = |name| String::from_utf8(keys.secret(name).expect("secret").to_vec()).expect("text secret");

    let (provider, url, setting, exchange, authresp): (Box<dyn std::any::Any + Send>, _, _, _, _) = match upstream {
        Social::OAuth2 => {
            let config = ief_idp::oauth2::OAuth2ProviderConfig {
                users: vec![alice(json!({ "sub": "1442017", "name": "Alice Smith", "email": "alice@example.com" }))],
                clients: vec![ief_idp::oauth2::OAuth2Client {
                    client_id: "ief-github-client".to_owned(),
                    auth_method: ief_idp::oauth2::ClientAuthMethod::ClientSecretBasic,
                    client_secret: Some(secret(GITHUB_SECRET)),
                    public_key: None,
                    redirect_uris: Vec::new(),
                }],
                auto_login: Some("alice".to_owned()),
                ..Default::default()
            };
            let provider = ief_idp::oauth2::start(config).await.expect("the provider starts");
            let url = provider.base_url();
            (Box::new(provider), url, "IefOAuth2Url", "GitHubExchange", "oauth2/authresp")
        }
        Social::OAuth1 => {
            let mut config = ief_idp::oauth1::OAuth1Config::new("ief-x-consumer", secret(TWITTER_SECRET));
            config.users = vec![alice(json!({
                "user_id": "1442017", "screen_name": "alice_x", "name": "Alice Smith", "email": "alice@example.com"
            }))];
            config.auto_login = Some("alice".to_owned());
            let provider = ief_idp::oauth1::start(config).await.expect("the provider starts");
            let url = provider.url();
            (Box::new(provider), url, "IefOAuth1Url", "TwitterExchange", "b2c_1a_signin_social/oauth1/authresp")
        }
    };

    let (listener, base) = listen("http://127.0.0.1").await;
    let settings = vec![(setting.to_owned(), url.clone())];
    let (serving, mut browser) = serve_policies("social", (listener, &base), keys_dir, settings, None, store);
    browser.policy = "B2C_1A_SignIn_Social".to_owned();
    let selection = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(selection.status, 200, "{}", selection.html);
    let to_provider = browser.unified(&selection, ("claimsexchange", exchange)).await;
    let location = redirected(&to_provider, &url);

    // The provider signs alice in at once and sends the browser back to the server.
    let callback = answer_of(browser.get(&location).await, &format!("{base}/{FEDERATION_TENANT}/{authresp}")).await;
    Federated { _temp: temp, _provider: provider, serving, browser, callback }
}

/// The code a callback's answer carries redeems for alice's token.
async fn redeems_for_alice(browser: &Browser, code: &str) {
    let (status, body) = browser.redeem(code).await;
    assert_eq!(status, 200, "{body}");
    let token = claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!(token["email"], "alice@example.com", "{token}");
}

#[tokio::test]
async fn a_federated_sign_in_returns_through_authresp() {
    let fed = federated("federation", None).await;
    let back = fed.send().await;
    assert_eq!(back.status(), 302);
    let params = redirect_params(&back);
    let code = param(&params, "code").unwrap_or_else(|| panic!("a code, got {params:?}"));
    redeems_for_alice(&fed.browser, code).await;

    // The same callback again finds no sign-in waiting.
    let replay = fed.send().await;
    assert_eq!(replay.status(), 400);
    fed.serving.abort();
}

/// A federated sign-in waiting at its callback, its state in a [`Gated`] store the test
/// steers: through the OpenID provider, or through `policies/social`'s `upstream`.
async fn gated(name: &str, upstream: Option<Social>) -> (Federated, Arc<Gated>) {
    let store = Arc::new(Gated::new());
    let fed = match upstream {
        None => federated(name, Some(store.clone())).await,
        Some(upstream) => social(name, upstream, Some(store.clone())).await,
    };
    (fed, store)
}

/// A browser's double submit of the provider's answer, both requests reading the sign-in before
/// either goes on: the request that takes the callback first finishes the sign-in (its code
/// redeems for alice's token); the other is refused without touching it.
async fn sent_twice_at_once_gives_one_code((fed, store): (Federated, Arc<Gated>)) {
    store.armed.store(2, SeqCst);
    let (one, two) = tokio::join!(fed.send(), fed.send());
    let mut codes = Vec::new();
    for answer in [one, two] {
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
    assert_eq!(store.armed.load(SeqCst), 0, "both requests read the sign-in before either wrote");
    redeems_for_alice(&fed.browser, &codes[0]).await;
    fed.serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_posted_twice_at_once_gives_one_code_and_the_sign_in_completes() {
    sent_twice_at_once_gives_one_code(gated("double-post", None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_callback_sent_twice_at_once_gives_one_code_and_the_sign_in_completes() {
    sent_twice_at_once_gives_one_code(gated("double-oauth2", Some(Social::OAuth2)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth1_callback_sent_twice_at_once_gives_one_code_and_the_sign_in_completes() {
    sent_twice_at_once_gives_one_code(gated("double-oauth1", Some(Social::OAuth1)).await).await;
}

/// A browser that leaves while its callback is handled (a double submit abandons its first
/// post): the callback's state is used by then, so the sign-in must still end with a code, or
/// every retry would be refused as a replay until the sign-in expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_whose_browser_leaves_mid_exchange_still_ends_the_sign_in() {
    let (fed, store) = gated("abandoned-post", None).await;
    store.hold.store(true, SeqCst);
    let post = tokio::spawn(fed.send());
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
    let retry = fed.send().await;
    assert_eq!(retry.status(), 400);
    let page = retry.text().await.expect("the error page");
    assert!(page.contains("AADB2C90046"), "{page}");
    fed.serving.abort();
}

/// The shared replay guard failing: the callback is refused (503) and the sign-in kept, so the
/// same callback posted again finishes it.
async fn refused_while_the_guard_is_down_then_finished((fed, store): (Federated, Arc<Gated>)) {
    store.fail_replay.store(true, SeqCst);
    let refused = fed.send().await;
    assert_eq!(refused.status(), 503);
    let page = refused.text().await.expect("the error page");
    assert!(page.contains("AADB2C90085"), "{page}");

    let again = fed.send().await;
    assert_eq!(again.status(), 302);
    let params = redirect_params(&again);
    let code = param(&params, "code").unwrap_or_else(|| panic!("a code, got {params:?}"));
    redeems_for_alice(&fed.browser, code).await;
    fed.serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_the_replay_guard_cannot_record_is_refused_and_may_be_posted_again() {
    refused_while_the_guard_is_down_then_finished(gated("guard-down", None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_callback_the_replay_guard_cannot_record_may_be_posted_again() {
    refused_while_the_guard_is_down_then_finished(gated("guard-down-oauth2", Some(Social::OAuth2)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth1_callback_the_replay_guard_cannot_record_may_be_posted_again() {
    refused_while_the_guard_is_down_then_finished(gated("guard-down-oauth1", Some(Social::OAuth1)).await).await;
}

#[tokio::test]
async fn the_tenant_guid_routes_too_and_names_the_default_issuer() {
    let temp = TempDir::new("tenant-guid");
    let (listener, base) = listen("http://127.0.0.1").await;
    let (serving, _) = serve_policies("federation", (listener, &base), temp.0.join("keys"), Vec::new(), None, None);
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

/// A provider's answer with both a code and an error (RFC 6749 §4.1.2 sends one or the other):
/// the error ends the sign-in at the application, and no code is issued for it.
#[tokio::test]
async fn a_callback_with_both_a_code_and_an_error_ends_in_the_error() {
    let mut fed = federated("code-and-error", None).await;
    let Callback::Post { inputs, .. } = &mut fed.callback else { panic!("a form_post answer") };
    assert!(inputs.iter().any(|(k, _)| k == "code"), "{inputs:?}");
    inputs.push(("error".to_owned(), "access_denied".to_owned()));
    inputs.push(("error_description".to_owned(), "the user declined".to_owned()));
    let back = fed.send().await;
    assert_eq!(back.status(), 302);
    let params = redirect_params(&back);
    assert_eq!(param(&params, "error"), Some("access_denied"), "{params:?}");
    let description = param(&params, "error_description").unwrap_or_default();
    assert!(description.starts_with("AADB2C90273") && description.contains("the user declined"), "{description}");
    assert_eq!(param(&params, "code"), None, "{params:?}");
    // The callback's state is used: the same answer again finds no sign-in.
    assert_eq!(fed.send().await.status(), 400);
    fed.serving.abort();
}
