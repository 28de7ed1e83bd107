//! `response_types=code id_token`: the front channel's id_token is verified and bound to the
//! code by its c_hash before the code is redeemed, and both id_tokens name the same end user.

use std::sync::atomic::Ordering;

use ief_transforms::ClaimValue;

use super::fake::{CHash, Fake, Knobs};
use super::{Rig, claim, claims, failure};

const HYBRID: (&str, &str) = ("response_types", "code id_token");

#[tokio::test]
async fn both_id_tokens_are_checked_and_the_code_is_redeemed() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[HYBRID]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
    assert!(claim(&got, "{oauth2:access_token}").is_some(), "the code was redeemed");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_code_that_is_not_the_front_channel_tokens_is_never_redeemed() {
    for (c_hash, reason) in [
        (CHash::Wrong, "the front-channel id_token's c_hash does not match the authorization code"),
        (CHash::Omit, "the front-channel id_token has no 'c_hash' claim"),
    ] {
        let fake = Fake::start(Knobs { c_hash, ..Knobs::default() }).await;
        let rig = Rig::for_fake(&fake, &[HYBRID]);
        let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
        assert!(message.contains(reason), "{message}");
        assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0, "checked before the token request");
    }
}

#[tokio::test]
async fn a_front_channel_token_for_another_request_stops_the_sign_in_before_redemption() {
    let fake = Fake::start(Knobs { nonce: Some("someone else's nonce".into()), ..Knobs::default() }).await;
    let rig = Rig::for_fake(&fake, &[HYBRID]);
    let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
    assert!(message.contains("the front-channel id_token's nonce does not match"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_token_endpoint_must_speak_of_the_front_channels_end_user() {
    let fake = Fake::start(Knobs { front_sub: Some("mallory".into()), ..Knobs::default() }).await;
    let rig = Rig::for_fake(&fake, &[HYBRID]);
    let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
    assert!(
        message.contains(
            r#"the token endpoint's id_token has another 'sub' ("alice") than the front-channel id_token ("mallory")"#
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_hybrid_callback_without_its_id_token_is_refused() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[HYBRID]);
    let (url, state) = rig.start(&[]).await;
    let mut params = fake.follow(&url).await;
    params.retain(|(k, _)| k != "id_token");
    let message = failure(rig.callback(params, &state).await, "InvalidCallback");
    assert!(message.contains("neither an 'id_token' nor an 'error'"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0);
}
