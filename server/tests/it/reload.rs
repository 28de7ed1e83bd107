//! Policies reload when their files change: the next discovery reflects an edit, a sign-in
//! begun before it is refused with B2C's state error, and a broken edit keeps the last good
//! policies serving while the developer page shows the error with its file, line and column.

use std::sync::Arc;

use ief_server::{ServeOptions, Server};
use serde_json::Value;

use crate::common::*;

const SURNAME: &str = r#"<OutputClaim ClaimTypeReferenceId="surname" />"#;
const FAMILY_NAME: &str = r#"<OutputClaim ClaimTypeReferenceId="surname" PartnerClaimType="last_name_reloaded" />"#;

/// `claims_supported` of the sign-up or sign-in policy's discovery document.
async fn claims_supported(browser: &Browser) -> Vec<String> {
    let url = browser.url(&format!("/{TENANT}/{POLICY}/v2.0/.well-known/openid-configuration"));
    let doc: Value = browser.get(&url).await.json().await.expect("discovery JSON");
    doc["claims_supported"]
        .as_array()
        .expect("claims_supported")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_edited_policy_serves_at_once_and_a_broken_edit_keeps_the_last_good_one() {
    let folder = TempDir::new("reload");
    for entry in std::fs::read_dir(starter_pack("LocalAccounts")).expect("the starter pack").flatten() {
        std::fs::copy(entry.path(), folder.0.join(entry.file_name())).expect("copy");
    }
    let leaf = folder.0.join("SignUpOrSignin.xml");
    let keys = TempDir::new("reload-keys");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let server =
        Arc::new(Server::load(&ServeOptions::new(vec![folder.0.clone()], &base, keys.0.clone())).expect("serves"));
    let serving = tokio::spawn(Arc::clone(&server).serve_shared(listener));
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let watching = tokio::spawn(Arc::clone(&server).watch(Arc::new(move |o| seen.lock().expect("lock").push(o))));

    let browser = Browser::trusting(&base, None);
    assert!(!claims_supported(&browser).await.contains(&"last_name_reloaded".to_owned()));
    let in_flight = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(in_flight.status, 200, "{}", in_flight.html);

    // The author renames a claim; the watcher picks the file up within its poll.
    let text = std::fs::read_to_string(&leaf).expect("the policy");
    std::fs::write(&leaf, text.replace(SURNAME, FAMILY_NAME)).expect("edit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !claims_supported(&browser).await.contains(&"last_name_reloaded".to_owned()) {
        assert!(std::time::Instant::now() < deadline, "the edit was not served: {:?}", outcomes.lock().expect("lock"));
        tokio::time::sleep(ief_server::RELOAD_POLL / 4).await;
    }
    assert!(matches!(outcomes.lock().expect("lock").as_slice(), [Ok(ids)] if ids.len() == 3));
    // The sign-in begun on the old policies cannot go on with their plan.
    let refused = browser.submit(&in_flight, &[("signInName", "a@b.c"), ("password", "x")]).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["errorCode"], "AADB2C90046", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("reloaded")), "{body}");
    let fresh = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(fresh.status, 200, "a new sign-in runs on the new policies");

    // A broken edit: the journey it names does not exist.
    watching.abort();
    let edited = std::fs::read_to_string(&leaf).expect("the policy");
    std::fs::write(
        &leaf,
        edited.replace(r#"ReferenceId="SignUpOrSignIn" />"#, r#"ReferenceId="SignUpOrSignInTypo" />"#),
    )
    .expect("edit");
    let outcome = server.reload_if_changed().expect("the file changed");
    let error = outcome.expect_err("the broken policy does not load");
    let line = edited.lines().position(|l| l.contains("<DefaultUserJourney")).expect("the line") + 1;
    let position = format!("SignUpOrSignin.xml:{line}:");
    assert!(error.contains(&position), "{position} in {error}");
    assert!(claims_supported(&browser).await.contains(&"last_name_reloaded".to_owned()), "the last good one serves");
    let home = browser.get(&browser.url("/")).await.text().await.expect("the developer page");
    assert!(home.contains("id=\"reload-error\"") && home.contains(&position), "{home}");
    assert!(server.reload_if_changed().is_none(), "nothing changed since");

    // Fixed again: the error goes.
    std::fs::write(&leaf, &edited).expect("edit");
    assert!(matches!(server.reload_if_changed(), Some(Ok(_))));
    let home = browser.get(&browser.url("/")).await.text().await.expect("the developer page");
    assert!(!home.contains("reload-error"), "{home}");
    serving.abort();
}
