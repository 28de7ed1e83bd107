//! A served starter pack and a cookie-keeping browser that speaks the page API.

use std::sync::Arc;

use ief_server::{ServeOptions, Server};
use ief_testkit::authorize::Authorize;
use serde_json::Value;

pub(crate) use crate::support::*;
pub(crate) use ief_testkit::authorize::s256;

/// The starter pack's tenant object id: it names none, so ief derives one from the tenant name
/// (and the issuer names it, as B2C's issuers name the tenant's GUID).
pub(crate) fn tenant_guid() -> String {
    ief_engine::tenant::TenantObjectId::choose(None, None, TENANT).expect("a derived id").guid
}
pub(crate) const REDIRECT: &str = "http://localhost:8765/cb";

/// A server on an ephemeral loopback port, stopped when dropped.
pub(crate) struct Running {
    pub(crate) base: String,
    pub(crate) server: Arc<Server>,
    task: tokio::task::JoinHandle<()>,
    _keys: TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Registers the applications of `yaml` (an `apps.yaml`, written beside the keys).
pub(crate) fn register_apps(options: &mut ServeOptions, yaml: &str) {
    std::fs::create_dir_all(&options.keys).expect("keys dir");
    let config = options.keys.join("apps.yaml");
    std::fs::write(&config, yaml).expect("config");
    options.config = Some(config);
}

pub(crate) async fn serve(folder: &str) -> Running {
    serve_with(folder, |_| {}).await
}

pub(crate) async fn serve_with(folder: &str, edit: impl FnOnce(&mut ServeOptions)) -> Running {
    let keys = TempDir::new("keys");
    let (listener, base) = listen("http://127.0.0.1").await;
    let server = Arc::new(load(vec![starter_pack(folder)], &base, keys.0.clone(), edit));
    // The product's own connection loop (its header, body and idle limits), as `ief serve` runs.
    let task = tokio::spawn(Arc::clone(&server).serve_shared(listener));
    Running { base, server, task, _keys: keys }
}

/// A page as the browser saw it.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) html: String,
    pub(crate) settings: Value,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        self.settings["csrf"].as_str().expect("SETTINGS.csrf").to_owned()
    }

    pub(crate) fn tx(&self) -> String {
        self.settings["transId"].as_str().expect("SETTINGS.transId").to_owned()
    }

    pub(crate) fn api(&self) -> String {
        self.settings["api"].as_str().expect("SETTINGS.api").to_owned()
    }
}

/// One browser: its own cookie jar, redirects not followed (the test reads each).
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    /// The tenant and policy whose endpoints it calls.
    pub(crate) tenant: String,
    pub(crate) policy: String,
    /// The server, when the test runs it: the codes it "sends" (email verification).
    pub(crate) codes: Option<Arc<Server>>,
}

impl Browser {
    pub(crate) fn new(running: &Running) -> Browser {
        Browser { codes: Some(Arc::clone(&running.server)), ..Browser::trusting(&running.base, None) }
    }

    /// A browser for `base` that trusts the CA in `ca_pem` (HTTPS) besides nothing else.
    pub(crate) fn trusting(base: &str, ca_pem: Option<&[u8]>) -> Browser {
        let mut builder = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(pem).expect("PEM")]);
        }
        Browser {
            client: builder.build().expect("client"),
            base: base.to_owned(),
            tenant: TENANT.to_owned(),
            policy: POLICY.to_owned(),
            codes: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn policy_url(&self, tail: &str) -> String {
        self.url(&format!("/{}/{}/{tail}", self.tenant, self.policy))
    }

    pub(crate) async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("GET")
    }

    pub(crate) async fn page(&self, url: &str) -> Page {
        page_of(self.get(url).await).await
    }

    /// The authorize URL of the development app with PKCE S256, state and nonce.
    pub(crate) fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let request = Authorize {
            client_id: CLIENT,
            redirect_uri: REDIRECT,
            state: "st-123",
            nonce: "n-456",
            verifier: VERIFIER,
        };
        self.policy_url(&format!("oauth2/v2.0/authorize?{}", request.query(extra)))
    }

    /// `GET …/api/{api}/unified?…` from the page's own link parameters.
    pub(crate) async fn unified(&self, page: &Page, what: (&str, &str)) -> reqwest::Response {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([what, ("csrf_token", &page.csrf()), ("tx", &page.tx()), ("p", &self.policy)])
            .finish();
        self.get(&self.policy_url(&format!("api/{}/unified?{query}", page.api()))).await
    }

    /// The page JS's submit: XHR with the CSRF header.
    pub(crate) async fn submit(&self, page: &Page, fields: &[(&str, &str)]) -> reqwest::Response {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("tx", page.tx()), ("p", POLICY.to_owned())])
            .finish();
        let mut body = vec![("request_type", "RESPONSE")];
        body.extend_from_slice(fields);
        self.client
            .post(self.policy_url(&format!("SelfAsserted?{query}")))
            .header("X-CSRF-TOKEN", page.csrf())
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&body)
            .send()
            .await
            .expect("POST SelfAsserted")
    }

    pub(crate) async fn confirmed(&self, page: &Page) -> reqwest::Response {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("csrf_token", page.csrf()), ("tx", page.tx()), ("p", self.policy.clone())])
            .finish();
        self.get(&self.policy_url(&format!("api/{}/confirmed?{query}", page.api()))).await
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self.client.post(self.policy_url("oauth2/v2.0/token")).form(form).send().await.expect("token");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Redeems a code of the development app with the test verifier.
    pub(crate) async fn redeem(&self, code: &str) -> (u16, Value) {
        self.redeem_as(CLIENT, code).await
    }

    /// Redeems a code of `client` (sent to [`REDIRECT`]) with the test verifier.
    pub(crate) async fn redeem_as(&self, client: &str, code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }
}

pub(crate) async fn page_of(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let html = response.text().await.expect("body");
    let settings = html
        .split_once("var SETTINGS = ")
        .and_then(|(_, rest)| rest.split_once(";\n"))
        .and_then(|(json, _)| serde_json::from_str(json).ok())
        .unwrap_or(Value::Null);
    Page { status, html, settings }
}

/// The query or fragment parameters of a redirect to the application.
pub(crate) fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    location_params(response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default())
}

/// The query or fragment parameters of a URL.
pub(crate) fn location_params(location: &str) -> Vec<(String, String)> {
    let tail = location.split_once(['?', '#']).map(|(_, t)| t).unwrap_or_default();
    form_urlencoded::parse(tail.as_bytes()).into_owned().collect()
}

pub(crate) const ALICE: [(&str, &str); 6] = [
    ("email", "alice@contoso.com"),
    ("newPassword", "Passw0rd!2024"),
    ("reenterPassword", "Passw0rd!2024"),
    ("displayName", "Alice Smith"),
    ("givenName", "Alice"),
    ("surname", "Smith"),
];

/// Signs alice up through the pages and returns the code the application received.
pub(crate) async fn sign_up(browser: &Browser) -> String {
    sign_up_with(browser, &[]).await
}

/// Signs alice up ([`sign_up`]) and redeems the code: the token response.
pub(crate) async fn signed_up(browser: &Browser) -> Value {
    let code = sign_up(browser).await;
    let (status, body) = browser.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// [`sign_up`] with other authorize parameters.
pub(crate) async fn sign_up_with(browser: &Browser, extra: &[(&str, &str)]) -> String {
    let location = sign_up_at(browser, &browser.authorize_url(extra)).await;
    let params = location_params(&location);
    param(&params, "code").expect("a code").to_owned()
}

/// Signs alice up from an authorize URL; the `Location` the application is sent to.
pub(crate) async fn sign_up_at(browser: &Browser, authorize_url: &str) -> String {
    sign_up_filling(browser, authorize_url, &ALICE).await
}

/// [`sign_up_at`] answering the sign-up form with `fields`.
pub(crate) async fn sign_up_filling(browser: &Browser, authorize_url: &str, fields: &[(&str, &str)]) -> String {
    let done = sign_up_pages_filling(browser, authorize_url, fields).await;
    assert_eq!(done.status(), 302);
    done.headers()["location"].to_str().expect("location").to_owned()
}

/// Alice through the starter pack's sign-up pages: what follows them.
pub(crate) async fn sign_up_pages(browser: &Browser, authorize_url: &str) -> reqwest::Response {
    sign_up_pages_filling(browser, authorize_url, &ALICE).await
}

/// [`sign_up_pages`] answering the sign-up form with `fields`.
async fn sign_up_pages_filling(browser: &Browser, authorize_url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = browser.page(authorize_url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    assert_eq!(form.api(), "SelfAsserted", "{}", form.html);
    let submitted = browser.submit(&form, fields).await;
    let body: Value = submitted.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    // The starter pack verifies the email first: the code page, then the form again.
    let code_page = page_of(browser.confirmed(&form).await).await;
    assert_eq!(code_page.api(), "Phonefactor", "{}", code_page.html);
    let server = browser.codes.as_ref().expect("the test runs the server: it reads the code");
    let code = server.outbox().and_then(|o| o.last_code("alice@contoso.com")).expect("a code was sent");
    let body: Value = browser.submit(&code_page, &[("verificationCode", &code)]).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let verified = page_of(browser.confirmed(&code_page).await).await;
    assert_eq!(verified.api(), "SelfAsserted", "{}", verified.html);
    let body: Value = browser.submit(&verified, fields).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    browser.confirmed(&verified).await
}
