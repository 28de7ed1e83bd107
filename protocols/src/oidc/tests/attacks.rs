//! Each attack a relying party must stop, one per test, each refused with its cause named.

use std::sync::atomic::Ordering;

use ief_engine::exec::ProfileResult;
use serde_json::json;

use super::fake::{Fake, IssParam, Knobs, Signing, test_keys};
use super::{CLIENT_ID, Rig, claims, failure, param, set_param};

async fn refused(knobs: Knobs, code: &str) -> (String, Fake) {
    let fake = Fake::start(knobs).await;
    let rig = Rig::for_fake(&fake, &[]);
    let message = failure(rig.sign_in(&fake).await, code);
    (message, fake)
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (message, fake) = refused(Knobs { signing: Signing::None, ..Knobs::default() }, "InvalidIdToken").await;
    assert!(message.contains("the id_token is not signed (alg 'none')"), "{message}");
    assert_eq!(fake.hits().jwks.load(Ordering::SeqCst), 0, "no key lookup for an unsigned token");
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key_is_refused() {
    let (message, fake) =
        refused(Knobs { signing: Signing::Hs256WithPublicKey, ..Knobs::default() }, "InvalidIdToken").await;
    assert!(
        message.contains("the id_token is signed with the symmetric algorithm 'HS256'; only asymmetric signatures"),
        "{message}"
    );
    assert_eq!(fake.hits().jwks.load(Ordering::SeqCst), 0, "the header is refused before any key is used");
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let (message, _) = refused(Knobs { signing: Signing::Tampered, ..Knobs::default() }, "InvalidIdToken").await;
    let kid = &test_keys().provider.kid;
    assert!(
        message.contains(&format!("the id_token's signature does not verify with the provider's key '{kid}'")),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_kid_is_refused_after_exactly_one_jwks_refresh() {
    let (message, fake) = refused(Knobs { signing: Signing::UnknownKey, ..Knobs::default() }, "InvalidIdToken").await;
    let kid = &test_keys().unpublished.kid;
    assert!(
        message.contains(&format!(
            "the id_token's signing key '{kid}' is not in the provider's JWKS (fetched again once)"
        )),
        "{message}"
    );
    assert_eq!(fake.hits().jwks.load(Ordering::SeqCst), 2, "the first fetch and one refresh");
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let fake = Fake::start(Knobs { iss: Some("https://evil.example".into()), ..Knobs::default() }).await;
    let rig = Rig::for_fake(&fake, &[]);
    let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
    assert!(
        message.contains(&format!(
            "the id_token's issuer 'https://evil.example' is not the provider's issuer '{}'",
            fake.issuer()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let (message, _) =
        refused(Knobs { aud: Some(json!(["someone-else"])), ..Knobs::default() }, "InvalidIdToken").await;
    assert!(
        message.contains(&format!(
            r#"the id_token's audience ["someone-else"] does not contain the client_id '{CLIENT_ID}'"#
        )),
        "{message}"
    );
}

#[tokio::test]
async fn an_extra_audience_without_azp_is_refused() {
    let (message, _) =
        refused(Knobs { aud: Some(json!([CLIENT_ID, "another-app"])), ..Knobs::default() }, "InvalidIdToken").await;
    assert!(
        message.contains("names other parties besides 'client-1', and its authorized party (azp) None"),
        "{message}"
    );
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let (message, _) = refused(Knobs { lifetime: -400, ..Knobs::default() }, "InvalidIdToken").await;
    assert!(
        message.contains("the id_token expired at 1704066800 (400 s before now; the allowed clock skew is 300 s)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_nonce_mismatch_is_refused() {
    let (message, _) =
        refused(Knobs { nonce: Some("another-sign-in".into()), ..Knobs::default() }, "InvalidIdToken").await;
    assert!(
        message.contains("the id_token's nonce does not match the nonce sent in the authorization request"),
        "{message}"
    );
}

#[tokio::test]
async fn a_state_mismatch_is_refused_before_the_code_is_used() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let (url, state) = rig.start(&[]).await;
    let mut params = fake.follow(&url).await;
    set_param(&mut params, "state", "forged-state");
    let message = failure(rig.callback(params.clone(), &state).await, "InvalidCallback");
    assert!(
        message.contains(
            "the callback's state does not match the state sent with the authorization request (state mismatch)"
        ),
        "{message}"
    );
    params.retain(|(k, _)| k != "state");
    let message = failure(rig.callback(params, &state).await, "InvalidCallback");
    assert!(message.contains("the callback has no state parameter"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0, "no code was redeemed");
}

#[tokio::test]
async fn a_replayed_callback_is_refused_in_the_same_and_in_a_new_sign_in() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let (url, state) = rig.start(&[]).await;
    let params = fake.follow(&url).await;
    claims(rig.callback(params.clone(), &state).await);
    // The same response again, with the same pending request: refused as a replay, which
    // leaves the sign-in to the request that handled it first.
    let message = replayed(rig.callback(params.clone(), &state).await);
    assert!(
        message.contains("the authorization response for this request was already used (replayed callback)"),
        "{message}"
    );
    // The same response delivered to a new sign-in: its state is not this one's.
    let (_, new_state) = rig.start(&[]).await;
    let message = failure(rig.callback(params, &new_state).await, "InvalidCallback");
    assert!(message.contains("(state mismatch)"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 1, "the code was redeemed once");
}

#[tokio::test]
async fn a_reused_code_surfaces_the_providers_invalid_grant() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    let (url, state) = rig.start(&[]).await;
    let first = fake.follow(&url).await;
    claims(rig.callback(first.clone(), &state).await);
    // An attacker injects the used code into a new sign-in with that sign-in's own state.
    let (url, state) = rig.start(&[]).await;
    let mut second = fake.follow(&url).await;
    set_param(&mut second, "code", param(&first, "code").unwrap());
    let message = failure(rig.callback(second, &state).await, "TokenRequestFailed");
    assert!(
        message.contains("the token endpoint refused the request with 'invalid_grant': the authorization code was already used (HTTP 400)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_mix_up_iss_parameter_from_another_issuer_is_refused() {
    let (message, fake) = refused(
        Knobs { iss_param: IssParam::Value("https://attacker.example".into()), ..Knobs::default() },
        "InvalidCallback",
    )
    .await;
    assert!(
        message.contains(&format!(
            "the authorization response's issuer 'https://attacker.example' is not the provider's issuer '{}' (RFC 9207",
            fake.issuer()
        )),
        "{message}"
    );
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 0, "the code never reaches a token endpoint");
}

#[tokio::test]
async fn a_missing_iss_parameter_is_refused_when_the_provider_promises_one() {
    let (message, _) =
        refused(Knobs { iss_param: IssParam::Omit, advertise_iss_param: true, ..Knobs::default() }, "InvalidCallback")
            .await;
    assert!(
        message.contains("has no 'iss' parameter although the provider's metadata says it sends one (RFC 9207)"),
        "{message}"
    );
    // Without the promise, a response without `iss` is fine.
    let fake = Fake::start(Knobs { iss_param: IssParam::Omit, ..Knobs::default() }).await;
    claims(Rig::for_fake(&fake, &[]).sign_in(&fake).await);
}

#[tokio::test]
async fn a_swapped_access_token_fails_at_hash() {
    let (message, _) = refused(Knobs { wrong_at_hash: true, ..Knobs::default() }, "InvalidIdToken").await;
    assert!(message.contains("the id_token's at_hash does not match the access token"), "{message}");
}

#[tokio::test]
async fn a_userinfo_answer_about_another_subject_is_refused() {
    let mut knobs = Knobs::default();
    knobs.userinfo_claims.insert("sub".into(), json!("mallory"));
    let (message, _) = refused(knobs, "UserInfoFailed").await;
    assert!(
        message.contains(r#"the userinfo response's sub Some("mallory") is not the id_token's sub 'alice'"#),
        "{message}"
    );
}

#[tokio::test]
async fn a_callback_after_the_request_expired_is_refused() {
    let fake = Fake::start(Knobs::default()).await;
    let mut rig = Rig::for_fake(&fake, &[]);
    let (url, state) = rig.start(&[]).await;
    let params = fake.follow(&url).await;
    rig.env.now += chrono::Duration::hours(2);
    let message = failure(rig.callback(params, &state).await, "InvalidCallback");
    assert!(
        message.contains("the callback came 7200 s after the authorization request, which expires after 3600 s"),
        "{message}"
    );
}

#[tokio::test]
async fn the_providers_tls_certificate_must_be_trusted() {
    let fake = Fake::start_tls(Knobs::default()).await;
    let mut rig = Rig::for_fake(&fake, &[("token_endpoint_auth_method", "tls_client_auth")]);
    rig.extensions.insert(crate::federation::http::TrustedRoots(Vec::new()));
    let message = failure(rig.run(&[], None, None).await, "MetadataUnavailable");
    assert!(message.contains("could not be fetched: invalid peer certificate"), "{message}");
}

#[tokio::test]
async fn a_token_bound_to_another_certificate_is_refused_at_userinfo() {
    let fake =
        Fake::start_tls(Knobs { bind_to: Some(test_keys().client_b.cert_der.clone()), ..Knobs::default() }).await;
    let rig = Rig::for_fake(&fake, &[("token_endpoint_auth_method", "tls_client_auth")]);
    let message = failure(rig.sign_in(&fake).await, "UserInfoFailed");
    assert!(message.contains("refused the access token: HTTP 401"), "{message}");
    assert!(message.contains("the access token is bound to another client certificate"), "{message}");
    assert!(message.contains("bound to the client certificate it was issued to, RFC 8705"), "{message}");
}

#[tokio::test]
async fn a_key_pinned_to_rs256_does_not_verify_rs512() {
    let (message, _) = refused(Knobs { signing: Signing::Rs512, ..Knobs::default() }, "InvalidIdToken").await;
    let kid = &test_keys().provider.kid;
    assert!(
        message.contains(&format!("the id_token's signing key '{kid}' cannot verify RS512 signatures")),
        "{message}"
    );
}

#[tokio::test]
async fn a_callback_replayed_at_another_process_sharing_the_store_is_refused() {
    let fake = Fake::start(Knobs::default()).await;
    let (first, second) = two_processes(&fake);
    let (url, state) = first.start(&[]).await;
    let params = fake.follow(&url).await;
    claims(first.callback(params.clone(), &state).await);
    // The stored sign-in, with its pending request, read by the other process.
    let message = replayed(second.callback(params, &state).await);
    assert!(message.contains("already used (replayed callback)"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 1, "the code was redeemed once");
}

#[tokio::test]
async fn one_callback_posted_twice_at_once_gives_claims_once_and_the_other_is_a_replay() {
    let fake = Fake::start(Knobs::default()).await;
    let (first, second) = two_processes(&fake);
    let (url, state) = first.start(&[]).await;
    let params = fake.follow(&url).await;
    // A browser's double submit, reaching two processes.
    let (one, two) = tokio::join!(first.callback(params.clone(), &state), second.callback(params, &state));
    let (won, lost) = match (&one, &two) {
        (ProfileResult::Claims(_), _) => (one, two),
        _ => (two, one),
    };
    assert!(!claims(won).is_empty(), "one of them signs the user in");
    let message = replayed(lost);
    assert!(message.contains("already used (replayed callback)"), "{message}");
    assert_eq!(fake.hits().token.load(Ordering::SeqCst), 1, "the code was redeemed once");
}

/// Two handlers with their own memory, as two `ief serve` processes on one store.
fn two_processes(fake: &Fake) -> (Rig, Rig) {
    let guard = crate::federation::replay::SharedReplayGuard::new(std::sync::Arc::new(ief_store::MemoryStore::new()));
    let (mut first, mut second) = (Rig::for_fake(fake, &[]), Rig::for_fake(fake, &[]));
    first.extensions.insert(guard.clone());
    second.extensions.insert(guard);
    (first, second)
}

/// A callback refused as handled before: not a failure that would end the sign-in.
fn replayed(result: ProfileResult) -> String {
    match result {
        ProfileResult::Replayed(e) => {
            assert_eq!(e.code, "InvalidCallback", "{}", e.user_message);
            assert!(e.user_message.starts_with("Sign-in with 'IdP' failed: "), "{}", e.user_message);
            e.user_message
        }
        other => panic!("expected a replayed callback, got {other:?}"),
    }
}
