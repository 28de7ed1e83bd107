//! Protocol attacks: each is refused with B2C's error, and nothing is issued.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ief_server::RequestLog;
use serde_json::Value;

use crate::common::*;

const APPS: &str = "apps:
  - client_id: web-app
    redirect_uris:
      web: [https://app.example/cb]
    client_secret: B2C_1A_WebSecret
  - client_id: spa-app
    redirect_uris:
      spa: [http://localhost:5173/]
  - client_id: native-a
    redirect_uris:
      public: [http://localhost:8765/cb]
  - client_id: native-b
    redirect_uris:
      public: [http://localhost:8765/cb, http://localhost:8765/other]
";

/// The starter pack with the apps above (the web app's secret is `s3cret`).
async fn serve_apps() -> Running {
    serve_with("LocalAccounts", |options| {
        register_apps(options, APPS);
        std::fs::write(options.keys.join("B2C_1A_WebSecret.txt"), "s3cret\n").expect("secret");
    })
    .await
}

/// An error page in the browser: no redirect to the application, the code in the text.
pub(crate) async fn assert_error_page(response: reqwest::Response, code: &str) {
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none(), "nothing goes to the redirect URI");
    let body = response.text().await.expect("body");
    assert!(body.contains("GlobalException") && body.contains(code), "{body}");
}

/// An error sent to the application: B2C's description, and neither code nor token.
pub(crate) fn assert_app_error(response: &reqwest::Response, error: &str, code: &str) {
    assert_eq!(response.status(), 302);
    let params = redirect_params(response);
    assert_eq!(param(&params, "error"), Some(error), "{params:?}");
    let description = param(&params, "error_description").expect("error_description");
    assert!(description.starts_with(&format!("{code}: ")), "{description}");
    assert!(description.contains("\r\nCorrelation ID: ") && description.contains("\r\nTimestamp: "), "{description}");
    assert!(param(&params, "code").is_none() && param(&params, "id_token").is_none());
}

/// A token-endpoint refusal: HTTP 400, B2C's body, no token.
pub(crate) fn assert_token_error(status: u16, body: &Value, error: &str, code: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().expect("error_description");
    assert!(description.starts_with(&format!("{code}: ")) && description.ends_with("\r\n"), "{description}");
    assert!(
        body.get("id_token").is_none() && body.get("access_token").is_none() && body.get("refresh_token").is_none()
    );
}

#[tokio::test]
async fn authorize_refuses_untrusted_clients_and_redirect_uris_on_an_error_page() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let as_app = |client: &'static str, redirect: &'static str| [("client_id", client), ("redirect_uri", redirect)];
    // Not registered; one character more; another app's URI; a host that only starts like localhost.
    for (client, redirect) in [
        ("native-a", "https://evil.example/cb"),
        ("web-app", "https://app.example/cb/"),
        ("web-app", "http://localhost:8765/cb"),
        ("native-a", "http://localhost:8765/cb.evil.example"),
    ] {
        assert_error_page(browser.get(&browser.authorize_url(&as_app(client, redirect))).await, "AADB2C90006").await;
    }
    assert_error_page(browser.get(&browser.authorize_url(&as_app("nobody", REDIRECT))).await, "AADB2C90018").await;
    assert_error_page(browser.get(&browser.authorize_url(&[("client_id", "")])).await, "AADB2C90008").await;
}

/// Extra authorize parameters, the error and the B2C code they must bring.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[tokio::test]
async fn authorize_sends_request_errors_to_a_trusted_redirect_uri() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let native = [("client_id", "native-a")];
    let cases: [Case<'_>; 6] = [
        (&[("response_mode", "query_jwt")], "invalid_request", "AADB2C90014"),
        (&[("response_type", "code secret")], "unsupported_response_type", "AADB2C90013"),
        // Implicit tokens for an app that does not allow them.
        (&[("response_type", "id_token")], "unauthorized_client", "AADB2C90057"),
        (&[("code_challenge_method", "S512")], "invalid_request", "AADB2C90184"),
        (&[("prompt", "always")], "invalid_request", "AADB2C90043"),
        (&[("prompt", "none")], "interaction_required", "AADB2C90077"),
    ];
    for (extra, error, code) in cases {
        let mut params = native.to_vec();
        params.extend_from_slice(extra);
        let response = browser.get(&browser.authorize_url(&params)).await;
        assert_app_error(&response, error, code);
        assert_eq!(param(&redirect_params(&response), "state"), Some("st-123"));
    }
    // Tokens never go in a query string: the error itself goes in the fragment.
    let query_tokens = browser
        .get(&browser.authorize_url(&[
            ("client_id", "native-a"),
            ("response_type", "id_token"),
            ("response_mode", "query"),
        ]))
        .await;
    let location = query_tokens.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&format!("{REDIRECT}#error=invalid_request")), "{location}");
    assert!(location.contains("AADB2C90014"), "{location}");
    // A single-page app must use PKCE.
    let spa = [
        ("client_id", "spa-app"),
        ("redirect_uri", "http://localhost:5173/"),
        ("code_challenge", ""),
        ("code_challenge_method", ""),
    ];
    assert_app_error(&browser.get(&browser.authorize_url(&spa)).await, "invalid_request", "AADB2C90183");
}

async fn redeem(browser: &Browser, code: &str, client: &str, redirect: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form =
        vec![("grant_type", "authorization_code"), ("client_id", client), ("code", code), ("redirect_uri", redirect)];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    browser.token(&form).await
}

/// Alice signs in (she signed up before) for `client`; the code the application received.
/// `prompt=login`: the browser has her session, which would otherwise skip the page.
async fn sign_in(browser: &Browser, client: &str) -> String {
    let page = browser.page(&browser.authorize_url(&[("client_id", client), ("prompt", "login")])).await;
    let response = browser.submit(&page, &[("signInName", "alice@contoso.com"), ("password", "Passw0rd!2024")]).await;
    assert_eq!(response.status(), 200);
    let done = browser.confirmed(&page).await;
    param(&redirect_params(&done), "code").expect("code").to_owned()
}

#[tokio::test]
async fn a_code_is_redeemed_once_by_its_client_its_redirect_uri_and_its_verifier() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let native = [("client_id", "native-a")];
    let code = sign_up_with(&browser, &native).await;
    let (status, body) = redeem(&browser, &code, "native-b", REDIRECT, Some(VERIFIER)).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90088");
    // The failed attempt used the code up: its own client cannot redeem it now.
    let (status, body) = redeem(&browser, &code, "native-a", REDIRECT, Some(VERIFIER)).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90080");

    let challenge = s256(VERIFIER);
    let cases: [(Option<&str>, &str, &str, &str); 4] = [
        (Some(VERIFIER), "http://localhost:8765/other", "invalid_grant", "AADB2C90006"),
        (None, REDIRECT, "invalid_request", "AADB2C90183"),
        (Some("wrong-verifier-wrong-verifier-wrong-verifier-123"), REDIRECT, "invalid_grant", "AADB2C90182"),
        // Downgrade: the S256 challenge itself sent as a plain verifier.
        (Some(challenge.as_str()), REDIRECT, "invalid_grant", "AADB2C90182"),
    ];
    for (verifier, redirect, error, code_id) in cases {
        let code = sign_in(&browser, "native-b").await;
        let (status, body) = redeem(&browser, &code, "native-b", redirect, verifier).await;
        assert_token_error(status, &body, error, code_id);
    }
    // And the right redemption works once; the replay does not.
    let code = sign_in(&browser, "native-b").await;
    let (status, body) = redeem(&browser, &code, "native-b", REDIRECT, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["aud"], "native-b");
    let (status, body) = redeem(&browser, &code, "native-b", REDIRECT, Some(VERIFIER)).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90080");
}

#[tokio::test]
async fn the_token_endpoint_checks_client_authentication() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let code_form = |client: &'static str, secret: Option<&'static str>| {
        let mut form = vec![("grant_type", "authorization_code"), ("client_id", client), ("code", "unknown")];
        form.extend(secret.map(|s| ("client_secret", s)));
        form
    };
    for (form, error, code) in [
        (code_form("native-a", Some("s3cret")), "invalid_request", "AADB2C90084"),
        (code_form("web-app", None), "invalid_request", "AADB2C90079"),
        (code_form("web-app", Some("s3cret!")), "invalid_client", "AADB2C90081"),
        (code_form("nobody", None), "unauthorized_client", "AADB2C90018"),
        // With the right secret the code itself is refused: it was never issued.
        (code_form("web-app", Some("s3cret")), "invalid_grant", "AADB2C90080"),
        (vec![("grant_type", "device_code"), ("client_id", "native-a")], "unsupported_grant_type", "AADB2C90086"),
    ] {
        let (status, body) = browser.token(&form).await;
        assert_token_error(status, &body, error, code);
    }
    // client_secret_basic: the same secret in the header is accepted, a wrong one is not.
    for (secret, want) in [("s3cret", "AADB2C90080"), ("nope", "AADB2C90081")] {
        let response = browser
            .client
            .post(browser.policy_url("oauth2/v2.0/token"))
            .basic_auth("web-app", Some(secret))
            .form(&[("grant_type", "authorization_code"), ("code", "unknown")])
            .send()
            .await
            .expect("token");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        assert!(body["error_description"].as_str().is_some_and(|d| d.starts_with(want)), "{status} {body}");
    }
}

#[tokio::test]
async fn refresh_tokens_belong_to_their_client_and_rotate() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let code = sign_up_with(&browser, &[("client_id", "native-a")]).await;
    let (status, body) = browser.redeem_as("native-a", &code).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().expect("refresh_token").to_owned();
    let (status, body) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", "native-b"), ("refresh_token", &refresh)]).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90088");
    // Its owner still can, once: the old token is then revoked.
    let (status, body) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", "native-a"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", "native-a"), ("refresh_token", &refresh)]).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90129");
}

#[tokio::test]
async fn page_calls_need_the_browser_the_csrf_token_and_the_right_order() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    assert_eq!(form.api(), "SelfAsserted");

    // The old page's token no longer works once the next page is shown (it rotates).
    let stale = Page {
        status: 200,
        html: String::new(),
        settings: serde_json::json!({
        "csrf": page.csrf(), "transId": form.tx(), "api": "SelfAsserted" }),
    };
    assert_eq!(browser.submit(&stale, &ALICE).await.status(), 403);
    // Another browser holding the tx and the token: refused, it lacks the cookies.
    let thief = Browser::new(&running);
    assert_eq!(thief.submit(&form, &ALICE).await.status(), 403);
    // Garbage and unknown transactions.
    let forged = Page {
        status: 200,
        html: String::new(),
        settings: serde_json::json!({
        "csrf": form.csrf(), "transId": "StateProperties=eyJUSUQiOiJub3BlIn0", "api": "SelfAsserted" }),
    };
    let response = browser.submit(&forged, &ALICE).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("body").contains("AADB2C90046"));
    // Out of order: confirmed before the page was submitted.
    assert_eq!(browser.confirmed(&form).await.status(), 409);
    // A button the page does not offer.
    assert_eq!(browser.unified(&form, ("claimsexchange", "FacebookExchange")).await.status(), 409);

    // After all that the page still works, once.
    let body: Value = browser.submit(&form, &ALICE).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let twice = browser.submit(&form, &ALICE).await;
    assert_eq!(twice.status(), 409, "a page is answered once");
    // The next page (the email's verification code) comes once; the old page's token is spent.
    let next = page_of(browser.confirmed(&form).await).await;
    assert_eq!(next.api(), "Phonefactor", "{}", next.html);
    assert_eq!(browser.confirmed(&form).await.status(), 403);
}

#[tokio::test]
async fn oversized_requests_are_refused_before_they_run() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let huge = "x".repeat(ief_server::MAX_BODY_BYTES + 1);
    let response = browser.submit(&page, &[("signInName", &huge)]).await;
    assert_eq!(response.status(), 413);
    let response =
        browser.client.get(browser.authorize_url(&[])).header("x-filler", "y".repeat(40 * 1024)).send().await;
    match response {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => panic!("the server should answer, not drop the connection: {e}"),
    }
    let long_state = "s".repeat(4096);
    assert_error_page(browser.get(&browser.authorize_url(&[("state", &long_state)])).await, "AADB2C90083").await;
    // The page is unharmed.
    let body: Value = browser
        .submit(&page, &[("signInName", "nobody@contoso.com"), ("password", "x")])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["status"], "400");
}

#[tokio::test]
async fn logout_follows_only_registered_uris() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let logout =
        |uri: &str| browser.policy_url(&format!("oauth2/v2.0/logout?post_logout_redirect_uri={uri}&state=bye"));
    assert_error_page(browser.get(&logout("https%3A%2F%2Fevil.example%2F")).await, "AADB2C90006").await;
    assert_error_page(browser.get(&logout("javascript%3Aalert(1)")).await, "AADB2C90067").await;
    let ok = browser.get(&logout("https%3A%2F%2Fapp.example%2Fcb")).await;
    assert_eq!(ok.status(), 302);
    assert_eq!(ok.headers()["location"], "https://app.example/cb?state=bye");
}

#[tokio::test]
async fn hostile_requests_get_client_errors_and_each_is_logged() {
    let keys = TempDir::new("hostile");
    let (listener, base) = listen("http://127.0.0.1").await;
    let mut server = load(vec![starter_pack("LocalAccounts")], &base, keys.0.clone(), |_| {});
    let log: Arc<Mutex<Vec<RequestLog>>> = Arc::default();
    let sink = Arc::clone(&log);
    server.log_requests(Arc::new(move |r| sink.lock().expect("log").push(r.clone())));
    let task = tokio::spawn(server.serve(listener));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let p = format!("/{TENANT}/{POLICY}");
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let gets = [
        format!("{p}/oauth2/v2.0/authorize?client_id=%zz%ff&redirect_uri=%00%0d%0a"),
        format!(
            "{p}/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri=http%3A%2F%2Flocalhost%2F%0d%0aSet-Cookie%3A+a"
        ),
        format!("{p}/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=%ff%fe"),
        format!("{p}/api/x/confirmed?tx=StateProperties%3D%25%25%25&csrf_token=x"),
        format!("{p}/api/x/confirmed?tx=StateProperties={}", b64(r#"{"TID":5}"#)),
        format!("{p}/api/x/unified?tx=StateProperties={}", b64("[]")),
        format!("{p}/api/x/unified?tx=StateProperties={}", b64(&"A".repeat(300))),
        "/tfp/".to_owned(),
        "//".to_owned(),
        "/a/b/c/d/e/f/g/h/oauth2/v2.0/token".to_owned(),
        "/%ff/%fe/oauth2/v2.0/authorize".to_owned(),
        format!("/{TENANT}/oauth2/v2.0/authorize"),
        format!("{p}/oauth2/v2.0/logout?post_logout_redirect_uri=%0d%0a"),
    ];
    let mut sent = 0;
    for path in &gets {
        let response = http.get(format!("{base}{path}")).send().await.expect("an answer");
        assert!(!response.status().is_server_error(), "{path}: {}", response.status());
        sent += 1;
    }
    let token = format!("{base}{p}/oauth2/v2.0/token");
    let bad_basic = [
        "Basic !!!".to_owned(),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe])),
        format!("Basic {}", STANDARD.encode("no-colon")),
    ];
    for header in &bad_basic {
        let response = http
            .post(&token)
            .header("authorization", header)
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 400, "{header}");
        sent += 1;
    }
    let binary = http
        .post(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", reqwest::header::HeaderValue::from_bytes(b"x-ms-cpim-trans=\xff\xfe").expect("obs-text"))
        .body(vec![0xff, 0xfe, 0x00, b'=', b'&', b'%'])
        .send()
        .await
        .expect("an answer");
    assert_eq!(binary.status(), 400);
    sent += 1;
    // Refused before it runs, and still logged.
    let crowded = http.get(&token).header("x-filler", "y".repeat(40 * 1024)).send().await.expect("an answer");
    assert_eq!(crowded.status(), 431);
    sent += 1;
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response = http.request(method, &token).send().await.expect("an answer");
        assert_eq!(response.status(), 405);
        sent += 1;
    }
    // Still serving, and each request was logged once, without its query.
    let unknown = http
        .get(format!("{base}{p}/oauth2/v2.0/authorize?client_id=nobody&redirect_uri={REDIRECT}"))
        .send()
        .await
        .expect("an answer");
    sent += 1;
    let body = unknown.text().await.expect("body");
    let correlation =
        body.split("Correlation ID: ").nth(1).and_then(|r| r.split('<').next()).expect("a correlation id");
    let log = log.lock().expect("log").clone();
    assert_eq!(log.len(), sent);
    assert!(log.iter().all(|r| !r.path.contains('?')));
    assert!(log.iter().any(|r| r.correlation_id == correlation && r.status == 400), "{correlation} in {log:?}");
    task.abort();
}

#[tokio::test]
async fn only_a_registered_single_page_app_may_call_the_token_endpoint_cross_origin() {
    let running = serve_apps().await;
    let browser = Browser::new(&running);
    let token = browser.policy_url("oauth2/v2.0/token");
    let preflight = |origin: &'static str| {
        browser
            .client
            .request(reqwest::Method::OPTIONS, &token)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, x-client-current-telemetry")
            .send()
    };
    let allow = |r: &reqwest::Response| {
        r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let spa = preflight("http://localhost:5173").await.expect("preflight");
    assert_eq!((spa.status().as_u16(), allow(&spa).as_deref()), (204, Some("http://localhost:5173")));
    assert!(spa.headers()["access-control-allow-methods"].to_str().is_ok_and(|m| m.contains("POST")));
    assert_eq!(spa.headers()["access-control-allow-headers"], "content-type, x-client-current-telemetry");
    // Another site, and a web app's origin (its code is redeemed by its server, with a secret).
    for origin in ["https://evil.example", "https://app.example"] {
        let refused = preflight(origin).await.expect("preflight");
        assert_eq!((refused.status().as_u16(), allow(&refused)), (403, None), "{origin}");
    }
    let post = |origin: &'static str| {
        browser
            .client
            .post(&token)
            .header("origin", origin)
            .form(&[("grant_type", "authorization_code"), ("client_id", "spa-app"), ("code", "unknown")])
            .send()
    };
    let answered = post("http://localhost:5173").await.expect("token");
    assert_eq!((answered.status().as_u16(), allow(&answered).as_deref()), (400, Some("http://localhost:5173")));
    let unreadable = post("https://evil.example").await.expect("token");
    assert_eq!(allow(&unreadable), None, "the browser keeps the answer from another site");
    // Metadata is public.
    let discovery = browser
        .client
        .get(browser.policy_url("v2.0/.well-known/openid-configuration"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("discovery");
    assert_eq!(allow(&discovery).as_deref(), Some("*"));
}

/// `POST …/SelfAsserted/DisplayControlAction/vbeta/{control}/{action}` as the page script sends it.
async fn press(browser: &Browser, page: &Page, control: &str, csrf: Option<&str>) -> (u16, Value) {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("tx", page.tx()), ("p", POLICY.to_owned())])
        .finish();
    let mut request = browser
        .client
        .post(browser.policy_url(&format!("SelfAsserted/DisplayControlAction/vbeta/{control}/SendCode?{query}")))
        .header("X-Requested-With", "XMLHttpRequest")
        .form(&[("request_type", "RESPONSE"), ("email", "mallory@contoso.com")]);
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-TOKEN", csrf);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn display_control_actions_need_the_browser_the_csrf_token_and_a_control_on_the_page() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let combined = browser.page(&browser.authorize_url(&[])).await;
    let csrf = combined.csrf();
    let (status, body) = press(&browser, &combined, "emailVerificationControl", Some(&csrf)).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("409")), "the combined page has no controls: {body}");
    let form = page_of(browser.unified(&combined, ("local", "signup")).await).await;
    assert_eq!(form.api(), "SelfAsserted", "{}", form.html);
    let (status, body) = press(&browser, &form, "emailVerificationControl", None).await;
    assert_eq!((status, body["errorCode"].as_str()), (403, Some("AADB2C90065")), "no CSRF token: {body}");
    let (status, _) = press(&Browser::new(&running), &form, "emailVerificationControl", Some(&form.csrf())).await;
    assert_eq!(status, 403, "another browser");
    let (status, body) = press(&browser, &form, "noSuchControl", Some(&form.csrf())).await;
    assert_eq!((status, body["status"].as_str()), (400, Some("400")), "a control the page does not have: {body}");
    assert!(running.server.outbox().and_then(|o| o.last()).is_none(), "no code was sent");
    // None of it used the page up: its form still submits.
    let submitted: Value = browser.submit(&form, &ALICE).await.json().await.expect("JSON");
    assert_eq!(submitted["status"], "200", "{submitted}");
}

/// Connections that send nothing, or their request a byte at a time, are closed instead of held
/// for ever: headers must arrive within `HEADER_TIMEOUT` and a body within `BODY_TIMEOUT` of
/// them (`ief serve --http`).
#[tokio::test]
async fn idle_and_slow_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keys = TempDir::new("slow");
    let (listener, base) = listen("http://127.0.0.1").await;
    let server = Arc::new(load(vec![starter_pack("LocalAccounts")], &base, keys.0.clone(), |_| {}));
    let task = tokio::spawn(server.serve_shared(listener));
    let token = format!("/{TENANT}/{POLICY}/oauth2/v2.0/token");
    let body = format!(
        "POST {token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    );
    let cases =
        [("idle", String::new()), ("headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_owned()), ("body", body)];
    let started = std::time::Instant::now();
    let clients = cases.map(|(what, head)| {
        let address = base.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(address).await.expect("connect");
            tcp.write_all(head.as_bytes()).await.expect("head");
            let mut answer = [0u8; 512];
            loop {
                tokio::select! {
                    read = tcp.read(&mut answer) => {
                        let n = read.unwrap_or(0);
                        return (what, started.elapsed(), String::from_utf8_lossy(&answer[..n]).into_owned());
                    }
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)), if what != "idle" => {
                        let _ = tcp.write_all(b"a").await;
                    }
                }
            }
        })
    });
    for client in clients {
        let limit = ief_server::HEADER_TIMEOUT + ief_server::BODY_TIMEOUT;
        let ended = tokio::time::timeout(limit * 2, client).await;
        let (what, took, answer) = ended.expect("the server closes the connection").expect("the client");
        assert!(took < limit + limit / 4, "{what}: {took:?}");
        // Timed from before connecting, so no earlier than the server's own clock allows.
        let due = if what == "body" { ief_server::BODY_TIMEOUT } else { ief_server::HEADER_TIMEOUT };
        assert!(took >= due, "{what} closed before its {due:?}: {took:?}");
        if what == "body" {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }
    task.abort();
}

/// What the server answers `request` sent raw over a fresh connection, and how long it took.
async fn raw_exchange(base: &str, request: &[u8]) -> (std::time::Duration, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.expect("connect");
    tcp.write_all(request).await.expect("request");
    let mut answer = [0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(40), tcp.read(&mut answer)).await;
    let n = read.expect("an answer in time").unwrap_or(0);
    (started.elapsed(), String::from_utf8_lossy(&answer[..n]).into_owned())
}

/// Oversized headers are refused at once, without waiting for a body that never comes, and a
/// body the client garbled is its error (400), not a size refusal; a registered single-page app
/// can read either refusal.
#[tokio::test]
async fn oversized_headers_and_garbled_bodies_are_refused_at_once() {
    let running = serve_apps().await;
    let token = format!("/{TENANT}/{POLICY}/oauth2/v2.0/token");
    let filler = "y".repeat(40 * 1024);
    let head = format!(
        "POST {token} HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\nX-Filler: {filler}\r\nContent-Length: 1000\r\n\r\n"
    );
    let (took, answer) = raw_exchange(&running.base, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(took < ief_server::BODY_TIMEOUT / 2, "{took:?}");
    let cors = "access-control-allow-origin: http://localhost:5173";
    assert!(answer.to_lowercase().contains(cors), "{answer}");
    let chunked = format!(
        "POST {token} HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
    );
    let (_, answer) = raw_exchange(&running.base, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("the request body could not be read"), "{answer}");
    assert!(answer.to_lowercase().contains(cors), "{answer}");
}
