//! Sign-ups and sign-ins through the starter pack over HTTP, as an application and a browser
//! see them.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn links_and_buttons_that_page_settings_hide_are_not_drawn() {
    let sign_in_only =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/journeys/sign-up-disabled/SignInOnly.xml");
    let running = serve_with("LocalAccounts", |o| o.policy_paths.push(sign_in_only)).await;
    let mut browser = Browser::new(&running);
    let full = browser.page(&browser.authorize_url(&[])).await;
    // The sign-up link, and its exchange among the page's CP buttons.
    assert!(full.html.contains("id=\"createAccount\""), "{}", full.html);
    assert!(full.html.contains("\"id\":\"SignUpWithLogonEmailExchange\""), "{}", full.html);
    assert!(full.html.contains("id=\"cancel\""), "{}", full.html);
    assert_eq!(full.settings["config"]["showSignupLink"], "True");
    assert!(full.html.contains("id=\"forgotPassword\"") && !full.html.contains("id=\"rememberMe\""), "{}", full.html);
    browser.policy = "B2C_1A_signin_only".to_owned();
    let page = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("id=\"localAccountForm\""), "{}", page.html);
    assert!(!page.html.contains("SignUpWithLogonEmailExchange"), "{}", page.html);
    assert!(!page.html.contains("id=\"createAccount\""), "{}", page.html);
    assert!(!page.html.contains("id=\"cancel\""), "{}", page.html);
    assert_eq!(page.settings["config"]["showSignupLink"], "False");
    // setting.forgotPasswordLinkLocation None and setting.enableRememberMe true.
    assert!(!page.html.contains("id=\"forgotPassword\"") && page.html.contains("id=\"rememberMe\""), "{}", page.html);
}

#[tokio::test]
async fn a_configured_tenant_object_id_names_the_issuer_and_a_non_guid_is_refused() {
    const GUID: &str = "7c2a1f4e-3b9d-4e8a-9f1c-2d5e6a7b8c9d";
    let tenant = |value: &str| (ief_engine::settings::TENANT_OBJECT_ID.to_owned(), value.to_owned());
    let running = serve_with("LocalAccounts", |o| o.settings.push(tenant(GUID))).await;
    let browser = Browser::new(&running);
    let doc: Value =
        browser.get(&browser.policy_url("v2.0/.well-known/openid-configuration")).await.json().await.expect("JSON");
    assert_eq!(doc["issuer"], format!("{}/{GUID}/v2.0/", running.base));
    let keys = TempDir::new("keys");
    let mut options =
        ief_server::ServeOptions::new(vec![starter_pack("LocalAccounts")], "http://127.0.0.1:1", keys.0.clone());
    options.settings.push(tenant("contoso"));
    let refused = ief_server::Server::load(&options).expect_err("a tenant object id that is not a GUID");
    assert!(refused.to_string().contains("is not a GUID"), "{refused}");
}

#[tokio::test]
async fn discovery_and_keys_have_b2c_s_shape_in_every_url_form() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let base = &running.base;
    let path_form = browser.get(&browser.policy_url("v2.0/.well-known/openid-configuration")).await;
    assert_eq!(path_form.status(), 200);
    let doc: Value = path_form.json().await.expect("JSON");
    assert_eq!(doc["issuer"], format!("{base}/{}/v2.0/", tenant_guid()));
    let policy = POLICY.to_lowercase();
    assert_eq!(doc["authorization_endpoint"], format!("{base}/{TENANT}/{policy}/oauth2/v2.0/authorize"));
    assert_eq!(doc["jwks_uri"], format!("{base}/{TENANT}/{policy}/discovery/v2.0/keys"));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "client_secret_basic"])
    );
    let claims: Vec<&str> =
        doc["claims_supported"].as_array().expect("array").iter().filter_map(Value::as_str).collect();
    assert_eq!(
        claims,
        [
            "name",
            "given_name",
            "family_name",
            "email",
            "sub",
            "tid",
            "iss",
            "iat",
            "exp",
            "aud",
            "acr",
            "nonce",
            "auth_time"
        ]
    );
    assert!(doc.get("userinfo_endpoint").is_none() && doc.get("code_challenge_methods_supported").is_none());

    // The query form echoes its form; /tfp/ and any case reach the same policy.
    let query_form: Value = browser
        .get(&browser.url(&format!("/{TENANT}/v2.0/.well-known/openid-configuration?p=b2c_1a_SIGNUP_signin")))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(query_form["token_endpoint"], format!("{base}/{TENANT}/oauth2/v2.0/token?p={policy}"));
    let tfp = browser.get(&browser.url(&format!("/tfp/{TENANT}/{policy}/v2.0/.well-known/openid-configuration"))).await;
    assert_eq!(tfp.status(), 200);

    let keys: Value = browser.get(&browser.policy_url("discovery/v2.0/keys")).await.json().await.expect("JSON");
    let key = &keys["keys"][0];
    let mut names: Vec<&str> = key.as_object().expect("object").keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["e", "kid", "kty", "n", "nbf", "use"]);
    assert_eq!(key["use"], "sig");
}

/// Verifies an id token against the server's JWKS and returns its claims.
async fn verified(browser: &Browser, running: &Running, id_token: &str) -> Value {
    let keys: Value = browser.get(&browser.policy_url("discovery/v2.0/keys")).await.json().await.expect("JSON");
    let key = &keys["keys"][0];
    let header = jsonwebtoken::decode_header(id_token).expect("header");
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().expect("n"), key["e"].as_str().expect("e"))
            .expect("RSA key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    validation.set_issuer(&[format!("{}/{}/v2.0/", running.base, tenant_guid())]);
    jsonwebtoken::decode::<Value>(id_token, &decoding, &validation).expect("a valid signature").claims
}

#[tokio::test]
async fn sign_up_then_sign_in_without_javascript_then_refresh() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let body = signed_up(&browser).await;
    let signed_up = verified(&browser, &running, body["id_token"].as_str().expect("id_token")).await;
    assert_eq!(signed_up["email"], "alice@contoso.com");
    assert_eq!(signed_up["name"], "Alice Smith");
    assert_eq!(signed_up["nonce"], "n-456");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["not_before"].is_number(), "the starter pack sets SendTokenResponseBodyWithJsonNumbers: {body}");
    let refresh = body["refresh_token"].as_str().expect("offline_access gives a refresh token").to_owned();

    // Another browser signs in with plain HTML forms: no XHR header, the token in the form.
    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[])).await;
    assert_eq!(page.api(), "CombinedSigninAndSignup");
    assert!(page.html.contains("id=\"signInName\"") && page.html.contains("id=\"password\""), "{}", page.html);
    let action = page.html.split_once("action=\"").and_then(|(_, r)| r.split_once('"')).expect("form action").0;
    let action = action.replace("&amp;", "&");
    let posted = other
        .client
        .post(other.url(&action))
        .form(&[
            ("csrf_token", page.csrf().as_str()),
            ("request_type", "RESPONSE"),
            ("signInName", "alice@contoso.com"),
            ("password", "Passw0rd!2024"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(posted.status(), 303);
    let next = posted.headers()["location"].to_str().expect("location").to_owned();
    let done = other.get(&other.url(&next)).await;
    assert_eq!(done.status(), 302);
    let params = redirect_params(&done);
    assert_eq!(param(&params, "state"), Some("st-123"));
    let (status, body) = other.redeem(param(&params, "code").expect("code")).await;
    assert_eq!(status, 200, "{body}");
    let signed_in = verified(&other, &running, body["id_token"].as_str().expect("id_token")).await;
    assert_eq!(signed_in["sub"], signed_up["sub"], "the same user");

    // The first browser's refresh token: new times, same user, and it rotates.
    let (status, refreshed) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "{refreshed}");
    let again = verified(&browser, &running, refreshed["id_token"].as_str().expect("id_token")).await;
    assert_eq!(again["sub"], signed_up["sub"]);
    assert!(again.get("nonce").is_none());
    assert_ne!(refreshed["refresh_token"].as_str(), Some(refresh.as_str()));
}

#[tokio::test]
async fn a_wrong_password_stays_on_the_page_and_cancel_reaches_the_app() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    sign_up(&browser).await;
    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[("response_mode", "form_post")])).await;
    let response = other.submit(&page, &[("signInName", "alice@contoso.com"), ("password", "wrong")]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "400", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    // The page is still answerable: cancel it, and the application hears of it by form_post.
    let cancelled = other
        .client
        .post(other.policy_url(&format!("SelfAsserted?tx={}&p={POLICY}", page.tx())))
        .header("X-CSRF-TOKEN", page.csrf())
        .header("X-Requested-With", "XMLHttpRequest")
        .form(&[("cancel", "true")])
        .send()
        .await
        .expect("POST");
    let body: Value = cancelled.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let done = page_of(other.confirmed(&page).await).await;
    assert_eq!(done.status, 200);
    assert!(done.html.contains("action='http://localhost:8765/cb'"), "{}", done.html);
    assert!(done.html.contains("name='error' id='error' value='access_denied'"), "{}", done.html);
    assert!(done.html.contains("AADB2C90091: "), "{}", done.html);
    assert!(done.html.contains("Correlation ID: "), "{}", done.html);
    assert!(done.html.contains("name='state' id='state' value='st-123'"), "{}", done.html);
}

#[tokio::test]
async fn a_second_sign_in_rides_the_session_unless_prompt_login() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    sign_up(&browser).await;
    let silent = browser.get(&browser.authorize_url(&[("prompt", "none")])).await;
    assert_eq!(silent.status(), 302, "the SSO session signs in without a page");
    let (status, body) = browser.redeem(param(&redirect_params(&silent), "code").expect("code")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["nonce"], "n-456");
    let forced = browser.page(&browser.authorize_url(&[("prompt", "login")])).await;
    assert_eq!(forced.api(), "CombinedSigninAndSignup", "prompt=login asks again");

    // Logout ends the session: prompt=none has nothing to ride now.
    let out = browser.get(&browser.policy_url("oauth2/v2.0/logout")).await;
    assert_eq!(out.status(), 200);
    let after = browser.get(&browser.authorize_url(&[("prompt", "none")])).await;
    assert_eq!(param(&redirect_params(&after), "error"), Some("interaction_required"));
}

#[tokio::test]
async fn hybrid_and_implicit_responses_bind_their_id_token_to_the_code_and_token() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    sign_up(&browser).await;
    let response_type = "code id_token token";
    let url = browser.authorize_url(&[("response_type", response_type), ("scope", &format!("openid {CLIENT}"))]);
    let done = browser.get(&url).await;
    assert_eq!(done.status(), 302, "the session signs in without a page");
    let location = done.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&format!("{REDIRECT}#")), "implicit tokens go in the fragment: {location}");
    let params = redirect_params(&done);
    let half = |v: &str| {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(v.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    };
    let id_token = claims(param(&params, "id_token").expect("id_token"));
    assert_eq!(id_token["c_hash"], half(param(&params, "code").expect("code")));
    assert_eq!(id_token["at_hash"], half(param(&params, "access_token").expect("access_token")));
    assert_eq!(claims(param(&params, "access_token").expect("access_token"))["azp"], CLIENT);
}

#[tokio::test]
async fn the_developer_page_runs_a_sign_in_and_shows_the_token() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let home = browser.get(&browser.url("/")).await.text().await.expect("home");
    let links: Vec<String> = home
        .split("class=\"run\" href=\"")
        .skip(1)
        .filter_map(|r| r.split_once('"').map(|(h, _)| h.replace("&amp;", "&")))
        .collect();
    assert_eq!(links.len(), 3, "one per relying party: {home}");
    let run = links.iter().find(|l| l.contains(&format!("/{POLICY}/"))).expect("the sign-up or sign-in policy");
    let location = sign_up_at(&browser, &browser.url(run)).await;
    assert!(location.starts_with(&format!("{}/ief/run?", running.base)), "{location}");
    let shown = browser.get(&location).await.text().await.expect("the token page");
    assert!(shown.contains("id=\"claims\"") && shown.contains("alice@contoso.com"), "{shown}");
    assert!(shown.contains("id=\"header\"") && shown.contains("RS256"), "the decoded token's header: {shown}");
    // The sign-in's step trace, as scenario reports show it: the password never.
    let trace = shown.split("<ol id=\"trace\">").nth(1).and_then(|t| t.split("</ol>").next()).expect("a trace");
    for step in ["SignUpOrSignIn step 1: CombinedSignInAndSignUp", "answer: submit", "SendClaims"] {
        assert!(trace.contains(step), "{step} in the trace: {trace}");
    }
    assert!(trace.contains("[redacted]") && !trace.contains("Passw0rd!2024"), "{trace}");
    // The code was redeemed by the page: a reload shows the error page, not the token again.
    let again = browser.get(&location).await;
    assert_eq!(again.status(), 400);

    // A sign-in that ends in an error shows the error and the steps that led there.
    let other = Browser::new(&running);
    let combined = other.page(&other.url(run)).await;
    let form = page_of(other.unified(&combined, ("local", "signup")).await).await;
    let cancelled: Value = other.submit(&form, &[("cancel", "true")]).await.json().await.expect("JSON");
    assert_eq!(cancelled["status"], "200", "{cancelled}");
    let back = other.confirmed(&form).await;
    let location = back.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&format!("{}/ief/run?", running.base)), "{location}");
    let shown = other.get(&location).await.text().await.expect("the error page");
    assert!(shown.contains("id=\"error\"") && shown.contains("AADB2C90091"), "{shown}");
    assert!(shown.contains("answer: cancel"), "the trace: {shown}");
}

#[tokio::test]
async fn the_refresh_journey_refuses_a_grant_older_than_the_account_s_revocation() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let body = signed_up(&browser).await;
    let sub = claims(body["id_token"].as_str().expect("id_token"))["sub"].as_str().expect("sub").to_owned();
    let refresh = |token: String| {
        let browser = &browser;
        async move {
            browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &token)]).await
        }
    };
    // The starter pack's RedeemRefreshToken journey reads the account and lets a fresh grant pass.
    let (status, body) = refresh(body["refresh_token"].as_str().expect("refresh_token").to_owned()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["sub"], sub.as_str());
    let next = body["refresh_token"].as_str().expect("a new refresh token").to_owned();

    // A password change moves refreshTokensValidFromDateTime: grants issued before it are revoked.
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::hours(1);
    let directory = running.server.directory().expect("the directory");
    let change = ief_protocols::directory::store::UserData {
        password: Some(ief_protocols::directory::store::Password::new("N3w!Passw0rd")),
        ..Default::default()
    };
    directory.update(&sub, &change, Some(later)).expect("the password changes");
    let (status, body) = refresh(next).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.starts_with("AADB2C90129: ")), "{body}");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
}

/// A browser without JavaScript: the page's form posted as is (CSRF token in the body), and the
/// server's 303 to `confirmed` followed.
async fn post_plain(browser: &Browser, page: &Page, fields: &[(&str, &str)]) -> reqwest::Response {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("tx", page.tx()), ("p", POLICY.to_owned())])
        .finish();
    let csrf = page.csrf();
    let mut body = vec![("request_type", "RESPONSE"), ("csrf_token", csrf.as_str())];
    body.extend_from_slice(fields);
    let response = browser
        .client
        .post(browser.policy_url(&format!("SelfAsserted?{query}")))
        .form(&body)
        .send()
        .await
        .expect("POST SelfAsserted");
    match response.status().as_u16() {
        303 => {
            let location = response.headers()["location"].to_str().expect("location").to_owned();
            browser.get(&browser.url(&location)).await
        }
        _ => response,
    }
}

#[tokio::test]
async fn without_javascript_a_wrong_password_shows_the_combined_page_again_and_a_retry_signs_in() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    signed_up(&browser).await;

    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[("prompt", "login")])).await;
    assert_eq!(page.api(), "CombinedSigninAndSignup", "{}", page.html);
    let again = page_of(
        post_plain(&other, &page, &[("signInName", "alice@contoso.com"), ("password", "Wrong!Passw0rd")]).await,
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.api(), "CombinedSigninAndSignup", "the same page, not a bare form: {}", again.html);
    assert!(again.html.contains("id=\"signInName\"") && again.html.contains("id=\"password\""), "{}", again.html);
    assert!(again.html.contains("pageLevel"), "the error is shown: {}", again.html);
    let done = post_plain(&other, &again, &[("signInName", "alice@contoso.com"), ("password", ALICE[1].1)]).await;
    assert_eq!(done.status(), 302, "the retry signs in");
    let code = param(&redirect_params(&done), "code").expect("a code").to_owned();
    let (status, body) = other.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
}
