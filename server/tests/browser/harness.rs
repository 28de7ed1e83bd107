//! The served policies, the application that receives the answer, and one Chromium per test.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use ief_server::ServeOptions;
use ief_testkit::authorize::Authorize;
use ief_testkit::browser::{CHROMIUM, ChromeDriver, chromium_args, home_trusting};
use serde_json::{Value, json};

pub(crate) use crate::support::*;

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(15);
/// The window's size (the switches set it; screenshots change only its height).
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 1100;
/// The bound of a whole browser test, browser start included.
const TEST_BOUND: Duration = Duration::from_secs(180);

/// A folder of `policies/` in this repository.
pub(crate) fn policies(folder: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies").join(folder)
}

/// Runs a test's body within [`TEST_BOUND`]; when it panics or times out, the drops kill the
/// browser and the server.
pub(crate) async fn bounded(body: impl Future<Output = ()>) {
    if tokio::time::timeout(TEST_BOUND, body).await.is_err() {
        panic!("the browser test took longer than {TEST_BOUND:?}");
    }
}

/// `ief serve` over HTTPS on localhost with a fresh local CA, and the application (a loopback
/// listener) its tokens go to; both stop when dropped.
pub(crate) struct Served {
    pub(crate) https: Https,
    /// The tenant in the URLs the tests build ([`TENANT`] unless a test changes it).
    pub(crate) tenant: String,
    pub(crate) app: App,
}

pub(crate) async fn serve(folders: Vec<PathBuf>) -> Served {
    serve_with(folders, |_, _| {}).await
}

/// [`serve`] with options changed by `edit`, which also gets the application's base URL (where
/// stubs of the outside world answer).
pub(crate) async fn serve_with(folders: Vec<PathBuf>, edit: impl FnOnce(&mut ServeOptions, &str)) -> Served {
    let app = App::start().await;
    let https = serve_https("browser-serve", "https://localhost", folders, |options| edit(options, &app.base)).await;
    Served { https, tenant: TENANT.to_owned(), app }
}

/// The starter pack's local accounts served, and a browser on its sign-in page.
pub(crate) async fn at_sign_in() -> (Served, Browser) {
    let served = serve(vec![starter_pack("LocalAccounts")]).await;
    let browser = Browser::start(&served).await;
    browser.open(&served.authorize_url(POLICY, &[])).await;
    (served, browser)
}

impl Served {
    /// The authorize URL of the development app (code flow, PKCE S256) for `policy`, sending
    /// the browser back to the application; `extra` adds or replaces parameters.
    pub(crate) fn authorize_url(&self, policy: &str, extra: &[(&str, &str)]) -> String {
        let redirect = self.app.redirect_uri();
        let request = Authorize {
            client_id: CLIENT,
            redirect_uri: &redirect,
            state: "st-browser",
            nonce: "n-browser",
            verifier: VERIFIER,
        };
        format!("{}/{}/{policy}/oauth2/v2.0/authorize?{}", self.https.base, self.tenant, request.query(extra))
    }

    /// Once the browser is back at the application: the claims of the id token its code
    /// redeems for, after checking the state came back.
    pub(crate) async fn claims_at_app(&self, browser: &Browser, policy: &str) -> Value {
        let params = browser.back_at_app(self).await;
        assert_eq!(param(&params, "state"), Some("st-browser"), "{params:?}");
        let code = param(&params, "code").unwrap_or_else(|| panic!("a code, got {params:?}"));
        self.redeem(policy, code).await
    }

    /// The last code sent to `destination` (an email address or phone number).
    pub(crate) fn code_sent_to(&self, destination: &str) -> String {
        self.https
            .server
            .outbox()
            .and_then(|o| o.last_code(destination))
            .unwrap_or_else(|| panic!("no code sent to {destination}"))
    }

    /// Redeems the code the application received and returns the id token's claims.
    pub(crate) async fn redeem(&self, policy: &str, code: &str) -> Value {
        let ca = std::fs::read(&self.https.ca_path).expect("ca.pem");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("PEM")])
            .build()
            .expect("client");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", &self.app.redirect_uri()),
            ("code_verifier", VERIFIER),
        ];
        let url = format!("{}/{}/{policy}/oauth2/v2.0/token", self.https.base, self.tenant);
        let response = client.post(url).form(&form).send().await.expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON token response");
        assert_eq!(status, 200, "{body}");
        claims(body["id_token"].as_str().expect("an id token"))
    }
}

/// The application and the outside world's stand-ins: a loopback listener that records every
/// request (path, query and form parameters, body). `/cb` answers with a page saying the browser
/// is back at the application; any other path with `202 {}` (an email API's stub).
pub(crate) struct App {
    pub(crate) base: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request the application received.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) path: String,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: String,
}

type Received = Arc<Mutex<Vec<Arrival>>>;

async fn record(
    State(received): State<Received>,
    uri: axum::http::Uri,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    if !body.trim_start().starts_with('{') {
        params.extend(form_urlencoded::parse(body.as_bytes()).into_owned());
    }
    let path = uri.path().to_owned();
    if let Some(file) = path.strip_prefix("/spa/") {
        return spa_file(file);
    }
    received.lock().expect("lock").push(Arrival { path: path.clone(), params, body });
    if path == "/cb" {
        axum::response::Html(
            "<!DOCTYPE html><html lang=\"en\"><head><title>App</title></head><body><h1 id=\"app\">Back at the application</h1></body></html>",
        )
        .into_response()
    } else {
        (axum::http::StatusCode::ACCEPTED, [("content-type", "application/json")], "{}").into_response()
    }
}

/// The single-page app of `interop/browser/spa` and MSAL's browser bundle, at `/spa/`.
fn spa_file(file: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/browser");
    let (path, kind) = match file {
        "" => (project.join("spa/index.html"), "text/html; charset=utf-8"),
        "app.js" => (project.join("spa/app.js"), "text/javascript"),
        "msal-browser.min.js" => {
            (project.join("node_modules/@azure/msal-browser/lib/msal-browser.min.js"), "text/javascript")
        }
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    match std::fs::read(&path) {
        Ok(bytes) => ([("content-type", kind)], bytes).into_response(),
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {e}", path.display())).into_response(),
    }
}

impl App {
    async fn start() -> App {
        let (listener, base) = listen("http://127.0.0.1").await;
        let received: Received = Arc::default();
        let router = axum::Router::new().fallback(record).with_state(Arc::clone(&received));
        let task = spawn_router(listener, router);
        App { base, received, task }
    }

    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/cb", self.base)
    }

    /// What arrived at `path`, oldest first.
    pub(crate) fn arrivals(&self, path: &str) -> Vec<Arrival> {
        self.received.lock().expect("lock").iter().filter(|a| a.path == path).cloned().collect()
    }

    /// The parameters of the last arrival at the redirect URI.
    pub(crate) fn last(&self) -> Vec<(String, String)> {
        self.arrivals("/cb").pop().map(|a| a.params).unwrap_or_else(|| panic!("nothing reached the application"))
    }
}

/// One headless Chromium that trusts the server's CA, behind its own ChromeDriver; closed by
/// [`Browser::close`], killed by PID when dropped without it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    /// Whether [`Browser::screenshot`] takes pictures (a second run of a journey does not).
    pub(crate) pictures: bool,
    _driver: ChromeDriver,
    _home: TempDir,
}

impl Browser {
    pub(crate) async fn start(served: &Served) -> Browser {
        let home = TempDir::new("browser-home");
        home_trusting(&home.0, &served.https.ca_path).expect("the CA in the browser's NSS database");
        let driver = ChromeDriver::start(&home.0, &home.0.join("chromedriver.log")).expect("chromedriver starts");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": chromium_args(&home.0.join("profile")) },
            "pageLoadStrategy": "normal",
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session: {e}; log {}", driver.log.display()));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("timeouts");
        Browser { client, pictures: true, _driver: driver, _home: home }
    }

    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The element `css` selects, once the page shows it. A lookup that fails while a page
    /// is still loading (no such element, aborted by the navigation) is tried again.
    pub(crate) async fn find(&self, css: &str) -> Element {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("no `{css}` within {WAIT:?} ({e}) on {}:\n{}", self.url().await, self.source().await)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The text of the first element `css` selects that is shown with some text (the pages
    /// keep their error slots hidden and empty until there is an error).
    pub(crate) async fn shown_text(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            for element in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
                let text = element.text().await.unwrap_or_default();
                if !text.is_empty() && element.is_displayed().await.unwrap_or(false) {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no `{css}` shown with text within {WAIT:?} on {}:\n{}", self.url().await, self.source().await)
    }

    /// Types `value` into the empty field `css`.
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub(crate) async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    pub(crate) async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// Waits until the browser is back at the application and returns what it received.
    pub(crate) async fn back_at_app(&self, served: &Served) -> Vec<(String, String)> {
        self.find("#app").await;
        served.app.last()
    }

    /// A PNG of the page, the window fitted to its height, as `NAME.png` in
    /// `target/screenshots`, or in `docs/screenshots` (the pictures the docs show) when
    /// `IEF_UPDATE_SCREENSHOTS=1`.
    pub(crate) async fn screenshot(&self, name: &str) {
        if !self.pictures {
            return;
        }
        // The bottom of the lowest thing on the page (a template's body may fill the window),
        // plus what the window has around its viewport.
        let script = "return Math.ceil(Math.max(0, ...Array.from(document.querySelectorAll('body *'), \
            e => e.getBoundingClientRect().bottom + window.scrollY)) + 40 + window.outerHeight - window.innerHeight)";
        let height = self.client.execute(script, Vec::new()).await;
        let height = height.ok().and_then(|h| h.as_u64()).unwrap_or(800).clamp(400, 1600);
        self.client.set_window_size(WIDTH, u32::try_from(height).unwrap_or(800)).await.expect("window size");
        let png = self.client.screenshot().await.expect("screenshot");
        self.client.set_window_size(WIDTH, HEIGHT).await.expect("window size");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = if std::env::var("IEF_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            root.join("docs/screenshots")
        } else {
            root.join("target/screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        write(&dir.join(format!("{name}.png")), &png);
    }

    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
