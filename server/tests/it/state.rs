//! What `ief serve` keeps between requests: in the store, sealed, small, without passwords, and
//! enough for another server on the same store (or the same one restarted) to go on.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_store::{Kind, SqliteStore, Store};
use serde_json::Value;

use crate::common::*;

/// The sign-in id inside a page's `tx`.
fn tid(page: &Page) -> String {
    let encoded = page.tx().strip_prefix("StateProperties=").expect("a tx").to_owned();
    let json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("JSON");
    json["TID"].as_str().expect("TID").to_owned()
}

async fn stored_size(store: &Arc<dyn Store>, page: &Page) -> usize {
    let record = store.get(Kind::SignIn, &tid(page), chrono::Utc::now().timestamp()).await.expect("store");
    record.expect("the sign-in is stored").value.len()
}

/// The per-sign-in budget at a page (docs/state.md, BENCHMARKS.md).
const MAX_STORED_BYTES: usize = 4096;

#[tokio::test]
async fn every_page_of_a_sign_up_is_stored_sealed_under_4_kib() {
    let store: Arc<dyn Store> = Arc::new(ief_store::MemoryStore::new());
    let running = serve_with("LocalAccounts", |o| o.store = Some(store.clone())).await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let mut sizes = vec![("combined sign-in page", stored_size(&store, &page).await)];
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    sizes.push(("sign-up form", stored_size(&store, &form).await));
    let body: Value = browser.submit(&form, &ALICE).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let code_page = page_of(browser.confirmed(&form).await).await;
    sizes.push(("email code page", stored_size(&store, &code_page).await));
    let code = running.server.outbox().and_then(|o| o.last_code("alice@contoso.com")).expect("a code");
    browser.submit(&code_page, &[("verificationCode", &code)]).await;
    let verified = page_of(browser.confirmed(&code_page).await).await;
    sizes.push(("sign-up form, email verified", stored_size(&store, &verified).await));
    eprintln!("stored sign-in sizes: {sizes:?}");
    for (page, size) in &sizes {
        assert!(*size <= MAX_STORED_BYTES, "{page}: {size} bytes");
    }
    let raw = store.get(Kind::SignIn, &tid(&verified), chrono::Utc::now().timestamp()).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw.value);
    assert!(!text.contains("alice@contoso.com") && !text.contains("Alice"), "the sign-in is encrypted at rest");
    browser.submit(&verified, &ALICE).await;
    assert_eq!(browser.confirmed(&verified).await.status(), 302);
    assert!(
        store.get(Kind::SignIn, &tid(&verified), chrono::Utc::now().timestamp()).await.unwrap().is_none(),
        "an ended sign-in is gone from the store"
    );
}

#[tokio::test]
async fn a_stored_sign_in_never_holds_a_password() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    sign_up(&browser).await;
    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[])).await;
    let typed = "Wr0ng-Passw0rd-typed";
    let body: Value =
        other.submit(&page, &[("signInName", "alice@contoso.com"), ("password", typed)]).await.json().await.unwrap();
    assert_eq!(body["status"], "400", "the page is shown again: {body}");
    let now = chrono::Utc::now().timestamp();
    let tx = running.server.state().transaction(&tid(&page), now).await.expect("readable").expect("stored");
    assert!(!tx.sign_in.trace.is_empty(), "the sign-in is kept whole otherwise");
    assert!(!format!("{tx:?}").contains(typed), "the typed password is not kept: {tx:?}");

    // The sign-up form's passwords are gone once the form is answered and saved, too.
    let fresh = Browser::new(&running);
    let page = fresh.page(&fresh.authorize_url(&[])).await;
    let form = page_of(fresh.unified(&page, ("local", "signup")).await).await;
    let mut bob = ALICE;
    bob[0] = ("email", "bob@contoso.com");
    fresh.submit(&form, &bob).await;
    let tx = running.server.state().transaction(&tid(&form), now).await.unwrap().expect("stored");
    assert!(!format!("{tx:?}").contains("Passw0rd!2024"), "{tx:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_answers_to_the_same_page_at_once_exactly_one_wins() {
    let keys = TempDir::new("race");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&keys.0.join("state.sqlite")).expect("store"));
    let running = serve_with("LocalAccounts", |o| o.store = Some(store.clone())).await;
    let browser = Arc::new(Browser::new(&running));
    let page = browser.page(&browser.authorize_url(&[])).await;
    let form = Arc::new(page_of(browser.unified(&page, ("local", "signup")).await).await);
    let answers: Vec<_> = (0..8)
        .map(|_| {
            let (browser, form) = (browser.clone(), form.clone());
            tokio::spawn(async move {
                let response = browser.submit(&form, &ALICE).await;
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut accepted = 0;
    for answer in answers {
        let (status, body) = answer.await.expect("task");
        match (status, body["status"].as_str()) {
            (200, Some("200")) => accepted += 1,
            // Lost the race, or came after the winner had saved: the page was answered.
            (409, _) => assert_eq!(body["errorCode"], "AADB2C90065", "{body}"),
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!(accepted, 1, "exactly one answer of the page is accepted");
    // The winner's answer stands: the sign-in goes on to the email code.
    let code_page = page_of(browser.confirmed(&form).await).await;
    assert_eq!(code_page.api(), "Phonefactor", "{}", code_page.html);
}

#[tokio::test]
async fn another_server_on_the_same_store_finishes_the_sign_in_and_honours_its_grants() {
    let dir = TempDir::new("restart");
    let (store_file, directory, keys) =
        (dir.0.join("state.sqlite"), dir.0.join("directory.sqlite"), dir.0.join("keys"));
    let options = |o: &mut ief_server::ServeOptions| {
        o.store = Some(Arc::new(SqliteStore::open(&store_file).expect("store")));
        o.directory = Some(directory.clone());
        o.keys = keys.clone();
    };
    let first = serve_with("LocalAccounts", options).await;
    let mut browser = Browser::new(&first);
    let code = sign_up(&browser).await;
    let (status, tokens) = browser.redeem(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_owned();
    let page = browser.page(&browser.authorize_url(&[("prompt", "login")])).await;
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    assert_eq!(form.api(), "SelfAsserted");
    drop(first);

    // A second server: the same store, keys and directory, another port.
    let second = serve_with("LocalAccounts", options).await;
    browser.base = second.base.clone();
    browser.codes = Some(Arc::clone(&second.server));

    // SSO: the session the first server began signs the browser in on the second.
    let sso = browser.get(&browser.authorize_url(&[])).await;
    assert_eq!(sso.status(), 302, "no page: the session signs the browser in");
    assert!(param(&redirect_params(&sso), "code").is_some());

    // The sign-up form the first server showed goes on here.
    let mut carol = ALICE;
    carol[0] = ("email", "carol@contoso.com");
    let answered: Value = browser.submit(&form, &carol).await.json().await.expect("JSON");
    assert_eq!(answered["status"], "200", "{answered}");
    let code_page = page_of(browser.confirmed(&form).await).await;
    assert_eq!(code_page.api(), "Phonefactor", "{}", code_page.html);
    let sent = second.server.outbox().and_then(|o| o.last_code("carol@contoso.com")).expect("a code");
    browser.submit(&code_page, &[("verificationCode", &sent)]).await;
    let verified = page_of(browser.confirmed(&code_page).await).await;
    browser.submit(&verified, &carol).await;
    let done = browser.confirmed(&verified).await;
    assert_eq!(done.status(), 302, "the sign-in started on the first server ends on the second");
    let (status, body) = browser.redeem(param(&redirect_params(&done), "code").expect("a code")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["email"], "carol@contoso.com");

    let (status, refreshed) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "a refresh token of the first server works on the second: {refreshed}");
    let (status, replayed) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 400, "{replayed}");
    let next = refreshed["refresh_token"].as_str().expect("rotated").to_owned();
    let (status, revoked) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &next)]).await;
    assert_eq!(status, 400, "replaying the old token revoked its family: {revoked}");
    assert!(revoked["error_description"].as_str().is_some_and(|d| d.starts_with("AADB2C90129")), "{revoked}");
    let (status, body) = browser.redeem(&code).await;
    assert_eq!(status, 400, "a code redeemed on the first server is refused on the second: {body}");
}

#[tokio::test]
async fn a_sign_in_stored_for_other_policies_starts_again_while_sessions_and_refresh_tokens_go_on() {
    let dir = TempDir::new("policies-changed");
    let (store_file, directory, keys) =
        (dir.0.join("state.sqlite"), dir.0.join("directory.sqlite"), dir.0.join("keys"));
    let first = serve_with("LocalAccounts", |o| {
        o.store = Some(Arc::new(SqliteStore::open(&store_file).expect("store")));
        o.directory = Some(directory.clone());
        o.keys = keys.clone();
    })
    .await;
    let mut browser = Browser::new(&first);
    let (status, tokens) = browser.redeem(&sign_up(&browser).await).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_owned();
    let page = browser.page(&browser.authorize_url(&[("prompt", "login")])).await;
    drop(first);
    // The same files with another setting compile to another plan: a stored position means nothing there.
    let second = serve_with("LocalAccounts", |o| {
        o.store = Some(Arc::new(SqliteStore::open(&store_file).expect("store")));
        o.directory = Some(directory.clone());
        o.keys = keys.clone();
        o.settings.push(("Changed".to_owned(), "yes".to_owned()));
    })
    .await;
    browser.base = second.base.clone();
    browser.codes = Some(Arc::clone(&second.server));
    let response = browser.submit(&page, &[("signInName", "a@contoso.com"), ("password", "x")]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["errorCode"], "AADB2C90046", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("changed")), "{body}");

    // What does not hold a plan position outlives the change, as B2C's sessions outlive an upload.
    let (status, refreshed) =
        browser.token(&[("grant_type", "refresh_token"), ("client_id", CLIENT), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "a refresh token issued before the change: {refreshed}");
    let sso = browser.get(&browser.authorize_url(&[])).await;
    assert_eq!(sso.status(), 302, "the SSO session signs the browser in");
    assert!(param(&redirect_params(&sso), "code").is_some());
}
