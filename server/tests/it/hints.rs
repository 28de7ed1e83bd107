//! Authorize's `max_age` and `id_token_hint`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::attacks::{assert_app_error, assert_error_page};
use crate::common::*;
use crate::userinfo::signed;

const HINTED: &str = "B2C_1A_signin_with_hint";
const HINT_SECRET: &str = "an invitation signing secret of 32+ bytes";

/// The starter pack and `policies/tokens`; the folder of the keys too (tests sign with them).
async fn serve_hints() -> (Running, PathBuf) {
    let keys = std::sync::Mutex::new(PathBuf::new());
    let running = serve_with("LocalAccounts", |options| {
        options.policy_paths.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/tokens"));
        std::fs::create_dir_all(&options.keys).expect("keys dir");
        std::fs::write(options.keys.join("B2C_1A_IdTokenHintKey.txt"), HINT_SECRET).expect("secret");
        *keys.lock().expect("lock") = options.keys.clone();
    })
    .await;
    (running, keys.into_inner().expect("lock"))
}

#[tokio::test]
async fn max_age_asks_for_credentials_again_once_they_are_older() {
    let (running, _) = serve_hints().await;
    let browser = Browser::new(&running);
    sign_up(&browser).await;
    // Within max_age the session signs in without a page.
    let response = browser.get(&browser.authorize_url(&[("max_age", "3600")])).await;
    assert_eq!(response.status(), 302);
    assert!(param(&redirect_params(&response), "code").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Older than max_age (a second has passed): the sign-in page again, and prompt=none cannot
    // sign in.
    let page = browser.page(&browser.authorize_url(&[("max_age", "0")])).await;
    assert_eq!((page.status, page.api()), (200, "CombinedSigninAndSignup".to_owned()), "{}", page.html);
    let response = browser.get(&browser.authorize_url(&[("max_age", "0"), ("prompt", "none")])).await;
    assert_app_error(&response, "interaction_required", "AADB2C90077");
}

#[tokio::test]
async fn an_id_token_hint_of_this_issuer_feeds_the_relying_partys_input_claims() {
    let (running, keys) = serve_hints().await;
    let mut browser = Browser::new(&running);
    let body = signed_up(&browser).await;
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    let alice = claims(&id_token);

    browser.policy = HINTED.to_owned();
    let response = browser.get(&browser.authorize_url(&[("id_token_hint", &id_token)])).await;
    assert_eq!(response.status(), 302);
    let code = param(&redirect_params(&response), "code").expect("a code").to_owned();
    let (status, body) = browser.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    let echoed = claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!((&echoed["email"], &echoed["sub"]), (&alice["email"], &alice["sub"]));
    assert_eq!(echoed["email"], "alice@contoso.com");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = alice.clone();
        change(&mut c);
        signed(&keys, &c)
    };
    // Alice's claims changed to Bob's under her token's signature.
    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
    let mut bob = alice.clone();
    bob["email"] = Value::from("bob@contoso.com");
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bob.to_string());
    let forged = parts.join(".");
    let cases = [
        (forged, "AADB2C90210"),
        (with(&|c| c["exp"] = Value::from(chrono::Utc::now().timestamp() - 60)), "AADB2C90208"),
        (with(&|c| c["aud"] = Value::from("another-app")), "AADB2C90232"),
        (with(&|c| c["iss"] = Value::from("https://evil.example/v2.0/")), "AADB2C90233"),
    ];
    for (hint, code) in cases {
        let response = browser.get(&browser.authorize_url(&[("id_token_hint", &hint)])).await;
        assert_app_error(&response, "invalid_request", code);
    }
}

#[tokio::test]
async fn a_policy_that_enforces_the_id_token_hint_on_logout_refuses_a_logout_without_one() {
    let (running, _) = serve_hints().await;
    let mut browser = Browser::new(&running);
    let body = signed_up(&browser).await;
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    browser.policy = HINTED.to_owned();
    let target: String = form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect();
    let without =
        browser.get(&browser.policy_url(&format!("oauth2/v2.0/logout?post_logout_redirect_uri={target}"))).await;
    assert_error_page(without, "AADB2C90272").await;
    let with = browser
        .get(
            &browser
                .policy_url(&format!("oauth2/v2.0/logout?post_logout_redirect_uri={target}&id_token_hint={id_token}")),
        )
        .await;
    assert_eq!(with.status(), 302);
    assert_eq!(with.headers()["location"], REDIRECT);
}

#[tokio::test]
async fn the_documented_hint_profile_checks_another_issuers_token_with_its_own_secret() {
    let (running, _) = serve_hints().await;
    let mut browser = Browser::new(&running);
    browser.policy = "B2C_1A_signin_with_hint_profile".to_owned();
    let invitation = |secret: &str, change: &dyn Fn(&mut Value)| {
        let mut claims = serde_json::json!({
            "iss": "https://invitations.contoso.example",
            "aud": "a489fc44-3cc0-4a78-92f6-e413cd853eae",
            "exp": chrono::Utc::now().timestamp() + 300,
            "email": "carol@contoso.com",
        });
        change(&mut claims);
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).expect("sign")
    };
    let hint = invitation(HINT_SECRET, &|_| {});
    let response = browser.get(&browser.authorize_url(&[("id_token_hint", &hint)])).await;
    assert_eq!(response.status(), 302);
    let code = param(&redirect_params(&response), "code").expect("a code").to_owned();
    let (status, body) = browser.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["email"], "carol@contoso.com");

    let cases = [
        (invitation("another secret of thirty-two bytes!", &|_| {}), "AADB2C90210"),
        (invitation(HINT_SECRET, &|c| c["iss"] = Value::from("https://evil.example")), "AADB2C90233"),
        (invitation(HINT_SECRET, &|c| c["aud"] = Value::from(CLIENT)), "AADB2C90232"),
        (invitation(HINT_SECRET, &|c| c["exp"] = Value::from(chrono::Utc::now().timestamp() - 60)), "AADB2C90208"),
    ];
    for (hint, code) in cases {
        let response = browser.get(&browser.authorize_url(&[("id_token_hint", &hint)])).await;
        assert_app_error(&response, "invalid_request", code);
    }
}
