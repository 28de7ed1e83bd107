//! OAuth1 journeys through the executor against the embedded Twitter-like provider: the full
//! flow, the provider's `oauth_callback_confirmed` variants, a user who denies, and the
//! rejections (wrong consumer secret, replayed nonce, stale timestamp, tampered callback).

use std::sync::Arc;

use crate::oauth1_support::{
    CALLBACK, CONSUMER_KEY, CONSUMER_SECRET, FIXED_NOW, Fixture, TestEnv, auto_approve, browser, policy_xml,
    policy_xml_with, query_params, sign_in,
};
use ief_engine::exec::{Answer, ExecError, Outcome, Page, PageKind, Progress, RequestContext, Session, SignIn};
use ief_idp::TestUser;
use ief_idp::oauth1::{CallbackConfirmed, OAuth1Config, OAuth1Provider, start};
use ief_protocols::federation::replay::SharedReplayGuard;
use serde_json::json;

fn provider_config() -> OAuth1Config {
    let mut config = OAuth1Config::new(CONSUMER_KEY, CONSUMER_SECRET);
    config.users = vec![TestUser {
        username: "alice".into(),
        password: "correct horse".into(),
        claims: serde_json::from_value(json!({
            "user_id": "1234567890", "screen_name": "alice_x", "name": "Alice", "email": "alice@example.com"
        }))
        .unwrap(),
    }];
    config.auto_login = Some("alice".into());
    config.clock = Arc::new(|| FIXED_NOW);
    config
}

async fn provider(change: impl FnOnce(&mut OAuth1Config)) -> OAuth1Provider {
    let mut config = provider_config();
    change(&mut config);
    start(config).await.expect("the provider starts")
}

#[tokio::test]
async fn a_full_journey_maps_the_partner_claims_and_defaults() {
    let idp = provider(|_| {}).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;

    assert_eq!(journey.claim("sub").as_deref(), Some("1234567890"), "{journey:#?}");
    assert_eq!(journey.claim("name").as_deref(), Some("alice_x"));
    assert_eq!(journey.claim("email").as_deref(), Some("alice@example.com"));
    assert_eq!(journey.claim("idp").as_deref(), Some("twitter.com"));
    assert_eq!(journey.claim("authenticationSource").as_deref(), Some("socialIdpAuthentication"));

    let redirect = journey.redirect.as_deref().unwrap();
    assert!(redirect.starts_with(&format!("{}/oauth/authenticate?oauth_token=", idp.url())), "{redirect}");
    // The provider sends the browser to B2C's per-policy OAuth1 callback.
    let callback = journey.callback.as_deref().unwrap();
    assert!(callback.starts_with(&format!("{CALLBACK}?oauth_token=")), "{callback}");
    assert_eq!(query_params(callback)[0].1, query_params(redirect)[0].1);
    // Secrets stay out of the trace.
    let trace = journey.trace.join("\n");
    assert!(!trace.contains(CONSUMER_SECRET) && !trace.contains("oauth_token_secret"), "{trace}");
}

#[tokio::test]
async fn several_journeys_in_a_row_use_fresh_nonces() {
    let idp = provider(|_| {}).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    for _ in 0..3 {
        let journey = sign_in(&fixture, &auto_approve()).await;
        assert_eq!(journey.claim("sub").as_deref(), Some("1234567890"), "{journey:#?}");
    }
}

#[tokio::test]
async fn callback_confirmed_true_and_1_are_accepted() {
    for confirmed in [CallbackConfirmed::TitleCaseTrue, CallbackConfirmed::One] {
        let idp = provider(|c| c.callback_confirmed = confirmed).await;
        let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
        let journey = sign_in(&fixture, &auto_approve()).await;
        assert_eq!(journey.claim("email").as_deref(), Some("alice@example.com"), "{confirmed:?}: {journey:#?}");
    }
}

#[tokio::test]
async fn callback_confirmed_missing_or_false_is_refused() {
    for (confirmed, said) in [(CallbackConfirmed::Omitted, "is missing"), (CallbackConfirmed::False, "is 'false'")] {
        let idp = provider(|c| c.callback_confirmed = confirmed).await;
        let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
        let journey = sign_in(&fixture, &auto_approve()).await;
        assert!(journey.redirect.is_none(), "no redirect to an unconfirmed provider");
        let (code, message) = journey.error();
        assert_eq!(code, "InvalidResponse");
        assert!(
            message.contains(&format!("Twitter did not confirm the callback: oauth_callback_confirmed {said}")),
            "{message}"
        );
    }
}

/// Plays the user on the provider's sign-in page: submits `form` (plus the page's oauth_token)
/// and returns where the provider redirects.
fn on_sign_in_page(
    form: &'static str,
) -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Sync {
    move |url: String| {
        Box::pin(async move {
            let page = browser().get(&url).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("Sign in to Twitter"), "{page}");
            let token = &query_params(&url)[0].1;
            let action = url.split_once('?').unwrap().0.to_owned();
            let response = browser()
                .post(action)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("oauth_token={token}&{form}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 302, "{:?}", response.text().await);
            response.headers()["location"].to_str().unwrap().to_owned()
        })
    }
}

#[tokio::test]
async fn the_user_signs_in_on_the_providers_page() {
    let idp = provider(|c| c.auto_login = None).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &on_sign_in_page("username=alice&password=correct+horse")).await;
    assert_eq!(journey.claim("name").as_deref(), Some("alice_x"), "{journey:#?}");
}

#[tokio::test]
async fn a_user_who_denies_ends_the_journey_as_cancelled() {
    let idp = provider(|c| c.auto_login = None).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &on_sign_in_page("cancel=Cancel")).await;
    assert!(query_params(journey.callback.as_deref().unwrap()).iter().any(|(k, _)| k == "denied"));
    let (code, message) = journey.error();
    assert_eq!(code, "AADB2C90273");
    assert!(message.contains("the user cancelled the sign-in at Twitter"), "{message}");
}

#[tokio::test]
async fn a_wrong_consumer_secret_is_refused_for_its_signature() {
    let idp = provider(|_| {}).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), "not the consumer secret");
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (code, message) = journey.error();
    assert_eq!(code, "IdentityProviderError");
    assert!(
        message.contains("Twitter refused the request token request with HTTP 401: invalid signature"),
        "{message}"
    );
    assert!(!message.contains("not the consumer secret"), "{message}");
}

#[tokio::test]
async fn a_replayed_nonce_is_refused() {
    let idp = provider(|_| {}).await;
    // Every nonce the same: the second sign-in repeats the first one's request-token nonce.
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed().repeating(), CONSUMER_SECRET);
    let first = sign_in(&fixture, &auto_approve()).await;
    assert_eq!(first.claim("sub").as_deref(), Some("1234567890"), "{first:#?}");
    let second = sign_in(&fixture, &auto_approve()).await;
    let (_, message) = second.error();
    assert!(message.contains("HTTP 401: nonce already used"), "{message}");
}

#[tokio::test]
async fn a_timestamp_outside_the_providers_window_is_refused() {
    // The provider's clock runs ten minutes ahead of the journey's.
    let idp = provider(|c| c.clock = Arc::new(|| FIXED_NOW + 600)).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (_, message) = journey.error();
    assert!(message.contains("HTTP 401: timestamp expired"), "{message}");
}

#[tokio::test]
async fn a_tampered_callback_token_is_refused() {
    let idp = provider(|_| {}).await;
    let fixture = Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
    let tamper = |url: String| -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> {
        Box::pin(async move {
            let location = auto_approve()(url).await;
            let verifier = query_params(&location).into_iter().find(|(k, _)| k == "oauth_verifier").unwrap().1;
            format!("{CALLBACK}?oauth_token=someone-elses-token&oauth_verifier={verifier}")
        })
    };
    let journey = sign_in(&fixture, &tamper).await;
    let (code, message) = journey.error();
    assert_eq!(code, "InvalidCallback");
    assert!(message.contains("the callback's oauth_token is not the request token this sign-in obtained"), "{message}");
}

/// The callback handled once is a replay after, at this process and at another that shares
/// the store and read the sign-in before the first answer: refused, not a failed journey.
#[tokio::test]
async fn a_callback_handled_once_is_a_replay_here_and_at_another_process_sharing_the_store() {
    for shared in [true, false] {
        // A provider of its own: the fixtures' nonces start over.
        let idp = provider(|_| {}).await;
        let fixture = || Fixture::new(&policy_xml(&idp.url()), TestEnv::fixed(), CONSUMER_SECRET);
        let mut processes = [fixture(), fixture()];
        let guard = SharedReplayGuard::new(Arc::new(ief_store::MemoryStore::new()));
        for process in processes.iter_mut().filter(|_| shared) {
            process.extensions.insert(guard.clone());
        }
        let (first, second) = (&processes[0], if shared { &processes[1] } else { &processes[0] });
        let (one, two) = (first.executor(), second.executor());
        let mut s = one.start(None, RequestContext::default(), Session::default()).expect("the journey starts");
        let Progress::NeedsInput(Page { kind: PageKind::Redirect { url }, .. }) =
            one.resume(&mut s, None).await.expect("the journey runs")
        else {
            panic!("expected a redirect")
        };
        let callback = Answer::Callback(query_params(&auto_approve()(url).await));
        // The sign-in as a store keeps it, read again by the second request.
        let mut again: SignIn = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        let done = one.resume(&mut s, Some(callback.clone())).await.expect("the callback is taken");
        assert!(matches!(done, Progress::Finished(Outcome::Token { .. })), "{done:?}");
        let refused = two.resume(&mut again, Some(callback)).await.unwrap_err();
        let ExecError::Replayed { error, .. } = &refused else { panic!("expected a replay, got {refused:?}") };
        assert_eq!(error.code, "InvalidCallback");
        assert_eq!(
            error.user_message,
            "OAuth1 technical profile 'Twitter-OAuth1': the authorization response for this request was already used (replayed callback)."
        );
    }
}

#[tokio::test]
async fn a_missing_metadata_item_is_named() {
    let idp = provider(|_| {}).await;
    let xml = policy_xml(&idp.url())
        .replace(&format!("<Item Key=\"access_token_endpoint\">{}/oauth/access_token</Item>", idp.url()), "");
    let fixture = Fixture::new(&xml, TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (code, message) = journey.error();
    assert_eq!(code, "AADB2C90023");
    assert!(message.contains("the required metadata access_token_endpoint is missing"), "{message}");
}

#[tokio::test]
async fn an_unsupported_claims_response_format_is_named() {
    let idp = provider(|_| {}).await;
    let xml = policy_xml_with(&idp.url(), "")
        .replace("<Item Key=\"ClaimsResponseFormat\">json</Item>", "<Item Key=\"ClaimsResponseFormat\">xml</Item>");
    let fixture = Fixture::new(&xml, TestEnv::fixed(), CONSUMER_SECRET);
    let journey = sign_in(&fixture, &auto_approve()).await;
    let (code, message) = journey.error();
    assert_eq!(code, "InvalidConfiguration");
    assert!(message.contains("ClaimsResponseFormat is 'xml'; ief reads json"), "{message}");
}
