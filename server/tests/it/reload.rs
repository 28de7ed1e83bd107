//! Policies reload when their files change: the next discovery reflects an edit, a sign-in
//! begun before it finishes on the policies it began on (refused with B2C's state error once
//! that load is gone), and a broken edit keeps the last good policies serving while the
//! developer page shows the error with its file, line and column.

use std::sync::Arc;

use ief_server::Server;
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

/// The LocalAccounts starter pack copied to a folder of its own (the tests edit it) and served.
struct Served {
    folder: TempDir,
    keys: TempDir,
    /// The sign-up or sign-in relying party's file.
    leaf: std::path::PathBuf,
    base: String,
    server: Arc<Server>,
    serving: tokio::task::JoinHandle<()>,
}

async fn serve_a_copy() -> Served {
    let folder = TempDir::new("reload");
    for entry in std::fs::read_dir(starter_pack("LocalAccounts")).expect("the starter pack").flatten() {
        std::fs::copy(entry.path(), folder.0.join(entry.file_name())).expect("copy");
    }
    let leaf = folder.0.join("SignUpOrSignin.xml");
    let keys = TempDir::new("reload-keys");
    let (listener, base) = listen("http://127.0.0.1").await;
    let server = Arc::new(load(vec![folder.0.clone()], &base, keys.0.clone(), |_| {}));
    let serving = tokio::spawn(Arc::clone(&server).serve_shared(listener));
    Served { folder, keys, leaf, base, server, serving }
}

#[tokio::test]
async fn an_edited_policy_serves_at_once_and_a_broken_edit_keeps_the_last_good_one() {
    let Served { folder: _folder, keys: _keys, leaf, base, server, serving } = serve_a_copy().await;
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let watching = tokio::spawn(Arc::clone(&server).watch(Arc::new(move |o| seen.lock().expect("lock").push(o))));

    let mut browser = Browser::trusting(&base, None);
    browser.codes = Some(Arc::clone(&server));
    assert!(!claims_supported(&browser).await.contains(&"last_name_reloaded".to_owned()));
    signed_up(&browser).await;
    // Two sign-ins begin on the first load.
    let (alice, late) = (Browser::trusting(&base, None), Browser::trusting(&base, None));
    let in_flight = alice.page(&alice.authorize_url(&[])).await;
    let too_late = late.page(&late.authorize_url(&[])).await;
    assert_eq!((in_flight.status, too_late.status), (200, 200), "{}", in_flight.html);

    // The author renames a claim; the watcher picks the file up within its poll.
    let text = std::fs::read_to_string(&leaf).expect("the policy");
    std::fs::write(&leaf, text.replace(SURNAME, FAMILY_NAME)).expect("edit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !claims_supported(&browser).await.contains(&"last_name_reloaded".to_owned()) {
        assert!(std::time::Instant::now() < deadline, "the edit was not served: {:?}", outcomes.lock().expect("lock"));
        tokio::time::sleep(ief_server::RELOAD_POLL / 4).await;
    }
    assert!(matches!(outcomes.lock().expect("lock").as_slice(), [Ok(ids)] if ids.len() == 3));
    // The sign-in begun before the edit finishes on the policies it began on: the surname as `family_name`.
    let body: Value = alice
        .submit(&in_flight, &[("signInName", ALICE[0].1), ("password", ALICE[1].1)])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let done = alice.confirmed(&in_flight).await;
    let code = param(&redirect_params(&done), "code").unwrap_or_else(|| panic!("a code: {done:?}")).to_owned();
    let (status, body) = alice.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    let token = claims(body["id_token"].as_str().expect("id_token"));
    assert!(token["family_name"] == "Smith" && token.get("last_name_reloaded").is_none(), "{token}");

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

    // Two more saves: the first load is no longer kept, and its last sign-in cannot go on.
    for n in 0..2 {
        std::fs::write(&leaf, format!("{edited}<!-- save {n} -->")).expect("edit");
        assert!(matches!(server.reload_if_changed(), Some(Ok(_))));
    }
    let refused = late.submit(&too_late, &[("signInName", ALICE[0].1), ("password", ALICE[1].1)]).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["errorCode"], "AADB2C90046", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("reloaded")), "{body}");
    serving.abort();
}

#[tokio::test]
async fn a_sign_in_goes_on_through_any_number_of_reloads_that_leave_its_plan_alone() {
    let Served { folder: _folder, keys: _keys, leaf, base, server, serving } = serve_a_copy().await;
    let browser = Browser::trusting(&base, None);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;

    // Saved again unchanged, more often than the server keeps earlier loads: each save is a
    // reload, but the relying party's files and settings, so its plan, are the same.
    let text = std::fs::read_to_string(&leaf).expect("the policy");
    let start = std::time::SystemTime::now();
    for n in 1..=6 {
        std::fs::write(&leaf, &text).expect("save");
        let file = std::fs::File::options().write(true).open(&leaf).expect("open");
        file.set_modified(start + std::time::Duration::from_secs(n)).expect("mtime");
        assert!(matches!(server.reload_if_changed(), Some(Ok(_))), "save {n} reloads");
    }
    let body: Value = browser.submit(&form, &ALICE).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "the sign-up form answered after six reloads: {body}");
    let code_page = page_of(browser.confirmed(&form).await).await;
    assert_eq!(code_page.api(), "Phonefactor", "{}", code_page.html);
    serving.abort();
}
