//! A request whose task panics is answered in the shape its caller reads errors: JSON for the
//! token endpoint and the page script's calls, B2C's error page for a browser's navigation.

use std::sync::Arc;
use std::time::Duration;

use ief_store::Kind;
use serde_json::Value;

use crate::common::*;
use crate::gated::Gated;

/// The development app's origin: a loopback app may call the token endpoint from its pages.
const ORIGIN: &str = "http://localhost:8765";
const INTERNAL: &str = "The service has encountered an internal error. Please reauthenticate and try again.";

async fn serving() -> (Arc<Gated>, Running) {
    serving_within(ief_server::REQUEST_TIMEOUT).await
}

async fn serving_within(limit: Duration) -> (Arc<Gated>, Running) {
    let store = Arc::new(Gated::new());
    let running = serve_with("LocalAccounts", |o| {
        o.store = Some(store.clone());
        o.request_timeout = limit;
    })
    .await;
    (store, running)
}

fn panic_reading(store: &Gated, kind: Kind) {
    *store.panic_reading.lock().expect("the knob") = Some(kind);
}

/// The development app's code redeemed from its page's origin, as a single-page app does.
async fn redeem_from_origin(browser: &Browser, code: &str) -> reqwest::Response {
    browser
        .client
        .post(browser.policy_url("oauth2/v2.0/token"))
        .header("origin", ORIGIN)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token")
}

#[tokio::test]
async fn a_panicked_token_request_answers_the_token_endpoint_s_json_error() {
    let (store, running) = serving().await;
    let browser = Browser::new(&running);
    let code = sign_up(&browser).await;
    panic_reading(&store, Kind::Code);
    let response = redeem_from_origin(&browser, &code).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("application/json"));
    // A single-page app reads the error across origins, as it reads the endpoint's other answers.
    assert_eq!(response.headers().get("access-control-allow-origin").map(|v| v.as_bytes()), Some(ORIGIN.as_bytes()));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "server_error", "{body}");
    let description = body["error_description"].as_str().expect("a description");
    assert!(description.starts_with(&format!("AADB2C90085: {INTERNAL}\r\nCorrelation ID: ")), "{description}");
    assert!(store.panic_reading.lock().expect("the knob").is_none(), "the request read the code");
}

#[tokio::test]
async fn a_token_request_past_the_time_limit_answers_504_readable_across_origins() {
    // Short, so that the hung request is answered soon; long enough for a sign-up's requests.
    let limit = Duration::from_secs(5);
    let (store, running) = serving_within(limit).await;
    let browser = Browser::new(&running);
    let code = sign_up(&browser).await;
    *store.hang_reading.lock().expect("the knob") = Some(Kind::Code);
    let started = std::time::Instant::now();
    let response = redeem_from_origin(&browser, &code).await;
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() >= limit, "answered before the limit: {:?}", started.elapsed());
    assert!(store.hang_reading.lock().expect("the knob").is_none(), "the request read the code");
    assert_eq!(response.headers().get("access-control-allow-origin").map(|v| v.as_bytes()), Some(ORIGIN.as_bytes()));
}

#[tokio::test]
async fn a_panicked_page_call_answers_the_page_script_s_json_and_a_navigation_the_error_page() {
    let (store, running) = serving().await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    assert_eq!(form.api(), "SelfAsserted", "{}", form.html);

    panic_reading(&store, Kind::SignIn);
    let submitted = browser.submit(&form, &ALICE).await;
    assert_eq!(submitted.status(), 500);
    let body: Value = submitted.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({ "status": "500", "errorCode": "AADB2C90085", "message": INTERNAL }));

    panic_reading(&store, Kind::SignIn);
    let navigation = browser.confirmed(&form).await;
    assert_eq!(navigation.status(), 400);
    assert!(navigation.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let html = navigation.text().await.expect("the error page");
    assert!(html.contains(&format!("AADB2C90085: {INTERNAL}")), "{html}");
}
