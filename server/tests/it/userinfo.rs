//! The UserInfo endpoint with the user-info-endpoint sample: its journey, its authorization
//! profile and its JSON issuer; and the bearer tokens it refuses.

use std::path::{Path, PathBuf};

use ief_protocols::keys::KeyStore;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::common::*;

pub(crate) const USERINFO_POLICY: &str = "B2C_1A_Demo_signup_signin_UserInfo";

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/samples/user-info-endpoint/policy")
}

/// The sample beside the starter pack, its authorization profile's `issuer` set to this
/// server's, as the sample's comment asks ("Update the Issuer").
pub(crate) async fn serve_userinfo() -> (Running, PathBuf, TempDir) {
    let folder = TempDir::new("userinfo");
    let keys = std::sync::Mutex::new(PathBuf::new());
    let running = serve_with("LocalAccounts", |options| {
        let issuer = format!("{}/{}/v2.0/", options.public_url, tenant_guid());
        for entry in std::fs::read_dir(sample()).expect("the sample") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let text =
                text.replace("https://yourtenant.b2clogin.com/00000000-0000-0000-0000-000000000000/v2.0/", &issuer);
            std::fs::write(folder.0.join(path.file_name().expect("name")), text).expect("write");
        }
        options.policy_paths.push(folder.0.clone());
        *keys.lock().expect("lock") = options.keys.clone();
    })
    .await;
    let keys = keys.into_inner().expect("lock");
    (running, keys, folder)
}

/// The sample's AAD-Common reads displayName and givenName, so the sign-up page, whose
/// validation profile now returns them, no longer asks for them (B2C's rule).
const SAMPLE_SIGN_UP: [(&str, &str); 4] = [
    ("email", "alice@contoso.com"),
    ("newPassword", "Passw0rd!2024"),
    ("reenterPassword", "Passw0rd!2024"),
    ("surname", "Smith"),
];

/// Alice signs up through the sample's policy asking for an access token to the app's own API;
/// the token response.
pub(crate) async fn sign_up_for_tokens(browser: &Browser) -> Value {
    let scope = format!("openid offline_access {CLIENT}");
    let location = sign_up_filling(browser, &browser.authorize_url(&[("scope", &scope)]), &SAMPLE_SIGN_UP).await;
    let params = location_params(&location);
    let code = param(&params, "code").expect("a code");
    let (status, body) = browser.redeem(code).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn userinfo(browser: &Browser, bearer: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = browser.client.get(browser.policy_url("openid/v2.0/userinfo"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("userinfo");
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, challenge, response.json().await.expect("JSON body"))
}

/// A refusal of the bearer token: 401, `WWW-Authenticate`, B2C's error text, no claims.
fn assert_refused(answer: &(u16, Option<String>, Value), why: &str) {
    let (status, challenge, body) = answer;
    assert_eq!(*status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    assert_eq!(body["error"], "invalid_token");
    let description = body["error_description"].as_str().expect("error_description");
    assert!(description.starts_with("AADB2C90194: ") && description.contains(why), "{description}");
    assert!(body.get("objectId").is_none() && body.get("surname").is_none(), "{body}");
}

/// A token signed with the server's own signing key.
pub(crate) fn signed(keys: &Path, claims: &Value) -> String {
    let store = KeyStore::load(keys).expect("keys");
    let key = store.signing_key("B2C_1A_TokenSigningKeyContainer").expect("signing key");
    key.sign_claims(Algorithm::RS256, claims).expect("sign")
}

#[tokio::test]
async fn the_userinfo_sample_answers_with_its_issuers_input_claims() {
    let (running, _keys, _folder) = serve_userinfo().await;
    let mut browser = Browser::new(&running);
    browser.policy = USERINFO_POLICY.to_owned();
    let discovery: Value =
        browser.get(&browser.policy_url("v2.0/.well-known/openid-configuration")).await.json().await.expect("JSON");
    assert_eq!(
        discovery["userinfo_endpoint"],
        browser.policy_url("openid/v2.0/userinfo").replace(USERINFO_POLICY, &USERINFO_POLICY.to_lowercase())
    );
    let tokens = sign_up_for_tokens(&browser).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    let sub = claims(access)["sub"].as_str().expect("sub").to_owned();

    let (status, _, body) = userinfo(&browser, Some(access)).await;
    assert_eq!(status, 200, "{body}");
    // The UserInfoIssuer's input claims, by ClaimType id, read back from the directory.
    assert_eq!(body["objectId"], sub.as_str());
    assert_eq!(body["surname"], "Smith");
    assert_eq!(body["signInNames.emailAddress"], "alice@contoso.com");
    // The starter pack writes this default when the page did not ask.
    assert_eq!(body["displayName"], "unknown");
    assert_eq!(body.as_object().map(serde_json::Map::len), Some(4), "givenName: the user has none: {body}");

    // POST with the token in the form (RFC 6750 §2.2) answers the same.
    let posted: Value = browser
        .client
        .post(browser.policy_url("openid/v2.0/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .expect("POST userinfo")
        .json()
        .await
        .expect("JSON");
    assert_eq!(posted, body);

    // A policy without the endpoint advertises none and serves none.
    browser.policy = POLICY.to_owned();
    let discovery: Value =
        browser.get(&browser.policy_url("v2.0/.well-known/openid-configuration")).await.json().await.expect("JSON");
    assert!(discovery.get("userinfo_endpoint").is_none(), "{discovery}");
    let (status, _, body) = userinfo(&browser, Some(access)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.get("objectId").is_none());
}

#[tokio::test]
async fn the_sample_as_shipped_is_served_with_a_warning_about_its_placeholder_issuer() {
    let running = serve_with("LocalAccounts", |options| options.policy_paths.push(sample())).await;
    let warnings = running.server.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let ours = format!("{}/{}/v2.0/", running.base, tenant_guid());
    assert!(
        warnings[0].starts_with(&format!("{USERINFO_POLICY}: the UserInfo authorization profile 'client_assertion'"))
    );
    assert!(warnings[0].contains("https://yourtenant.b2clogin.com/00000000-0000-0000-0000-000000000000/v2.0/"));
    assert!(warnings[0].contains(&ours), "{}", warnings[0]);
    // Once the issuer is set, there is nothing to warn about.
    let (fixed, _, _folder) = serve_userinfo().await;
    assert!(fixed.server.warnings().is_empty());
}

#[tokio::test]
async fn userinfo_refuses_id_tokens_expired_forged_and_missing_bearers() {
    let (running, keys, _folder) = serve_userinfo().await;
    let mut browser = Browser::new(&running);
    browser.policy = USERINFO_POLICY.to_owned();
    let tokens = sign_up_for_tokens(&browser).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    let id_token = tokens["id_token"].as_str().expect("an id token");

    assert_refused(&userinfo(&browser, None).await, "does not contain a bearer token");
    assert_refused(&userinfo(&browser, Some(id_token)).await, "not an access token");
    // One character of the signature changed.
    let mut forged = access.to_owned();
    let last = forged.pop().expect("a character");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_refused(&userinfo(&browser, Some(&forged)).await, "not a valid token");
    // Claims changed under the original signature.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut payload = claims(access);
    payload["sub"] = Value::from("00000000-0000-0000-0000-000000000001");
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload.to_string());
    assert_refused(&userinfo(&browser, Some(&parts.join("."))).await, "not a valid token");
    // Our key, but expired; our key, but another issuer.
    let mut expired = claims(access);
    expired["exp"] = Value::from(chrono::Utc::now().timestamp() - 60);
    assert_refused(&userinfo(&browser, Some(&signed(&keys, &expired))).await, "has expired");
    let mut elsewhere = claims(access);
    elsewhere["iss"] = Value::from("https://evil.example/v2.0/");
    assert_refused(&userinfo(&browser, Some(&signed(&keys, &elsewhere))).await, "was not issued by");
}
