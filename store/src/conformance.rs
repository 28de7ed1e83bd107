//! The suite every backend passes: what the server relies on, checked against a real store.
//! Call [`check`] from a multi-threaded tokio runtime with an empty store; it panics naming the
//! first broken promise.

use std::sync::Arc;

use crate::{Kind, Store};

/// A time far from every other test's, so a shared database cannot confuse two runs.
const NOW: i64 = 1_700_000_000;

/// Runs every check on `store`, with keys of its own (`conformance-…`).
pub async fn check(store: Arc<dyn Store>) {
    // Leftovers of an earlier run on the same database are long expired at this clock.
    store.expire(NOW + 3600).await.unwrap();
    create_get_update_delete(store.as_ref()).await;
    expiry(store.as_ref()).await;
    take_is_once(store.as_ref()).await;
    replay_guard(store.as_ref()).await;
    kinds_are_apart(store.as_ref()).await;
    concurrent_updates_one_wins(store.clone()).await;
    concurrent_takes_one_wins(store.clone()).await;
    concurrent_creates_one_wins(store).await;
}

async fn create_get_update_delete(store: &dyn Store) {
    let key = "conformance-crud";
    let v1 = store.create(Kind::SignIn, key, b"one", NOW + 60, NOW).await.unwrap().expect("a new key is created");
    assert_eq!(store.create(Kind::SignIn, key, b"two", NOW + 60, NOW).await.unwrap(), None, "a live key stays");
    let got = store.get(Kind::SignIn, key, NOW).await.unwrap().expect("created record");
    assert_eq!((got.value.as_slice(), got.version, got.expires), (b"one".as_slice(), v1, NOW + 60));

    let v2 = store.update(Kind::SignIn, key, v1, b"two", NOW + 120, NOW).await.unwrap().expect("same version");
    assert_ne!(v2, v1, "an update gives a new version");
    assert_eq!(store.update(Kind::SignIn, key, v1, b"stale", NOW + 120, NOW).await.unwrap(), None, "stale version");
    let got = store.get(Kind::SignIn, key, NOW).await.unwrap().expect("updated record");
    assert_eq!((got.value.as_slice(), got.version, got.expires), (b"two".as_slice(), v2, NOW + 120));

    assert!(!store.delete(Kind::SignIn, key, Some(v1), NOW).await.unwrap(), "a stale delete removes nothing");
    assert!(store.get(Kind::SignIn, key, NOW).await.unwrap().is_some());
    assert!(store.delete(Kind::SignIn, key, Some(v2), NOW).await.unwrap());
    assert!(store.get(Kind::SignIn, key, NOW).await.unwrap().is_none());
    assert!(!store.delete(Kind::SignIn, key, None, NOW).await.unwrap(), "nothing left to delete");
    assert_eq!(store.update(Kind::SignIn, key, v2, b"gone", NOW + 60, NOW).await.unwrap(), None);

    store.create(Kind::Session, key, b"s", NOW + 60, NOW).await.unwrap().expect("created");
    assert!(store.delete(Kind::Session, key, None, NOW).await.unwrap(), "an unconditional delete");
}

async fn expiry(store: &dyn Store) {
    let key = "conformance-expiry";
    let v = store.create(Kind::Session, key, b"old", NOW + 10, NOW).await.unwrap().expect("created");
    assert!(store.get(Kind::Session, key, NOW + 9).await.unwrap().is_some());
    assert!(store.get(Kind::Session, key, NOW + 10).await.unwrap().is_none(), "gone at its expiry");
    assert_eq!(store.update(Kind::Session, key, v, b"late", NOW + 99, NOW + 10).await.unwrap(), None);
    assert!(!store.delete(Kind::Session, key, None, NOW + 10).await.unwrap());
    let again = store.create(Kind::Session, key, b"new", NOW + 99, NOW + 10).await.unwrap().expect("replaces");
    assert_ne!(again, v, "a replacement never has its predecessor's version");
    assert_eq!(store.get(Kind::Session, key, NOW + 10).await.unwrap().expect("new").value, b"new");

    store.create(Kind::Code, "conformance-expiry-a", b"", NOW + 5, NOW).await.unwrap().expect("created");
    store.create(Kind::Code, "conformance-expiry-b", b"", NOW + 500, NOW).await.unwrap().expect("created");
    let gone = store.expire(NOW + 20).await.unwrap();
    assert!(gone >= 1, "the expired code is collected");
    assert!(store.get(Kind::Code, "conformance-expiry-b", NOW + 20).await.unwrap().is_some(), "a live one stays");
    assert!(store.take(Kind::Code, "conformance-expiry-a", NOW).await.unwrap().is_none(), "collected");
    store.delete(Kind::Code, "conformance-expiry-b", None, NOW).await.unwrap();
    store.delete(Kind::Session, key, None, NOW).await.unwrap();
}

async fn take_is_once(store: &dyn Store) {
    let key = "conformance-take";
    store.create(Kind::Code, key, b"grant", NOW + 60, NOW).await.unwrap().expect("created");
    let taken = store.take(Kind::Code, key, NOW).await.unwrap().expect("taken");
    assert_eq!(taken.value, b"grant");
    assert!(store.take(Kind::Code, key, NOW).await.unwrap().is_none(), "a code is taken once");
    store.create(Kind::Code, "conformance-take-expired", b"", NOW + 1, NOW).await.unwrap().expect("created");
    assert!(store.take(Kind::Code, "conformance-take-expired", NOW + 1).await.unwrap().is_none(), "expired");
}

async fn replay_guard(store: &dyn Store) {
    let key = "conformance-jti";
    assert!(store.create(Kind::Replay, key, b"", NOW + 300, NOW).await.unwrap().is_some(), "first use");
    assert!(store.create(Kind::Replay, key, b"", NOW + 300, NOW + 1).await.unwrap().is_none(), "replay");
    assert!(store.create(Kind::Replay, key, b"", NOW + 600, NOW + 300).await.unwrap().is_some(), "after expiry");
}

async fn kinds_are_apart(store: &dyn Store) {
    let key = "conformance-kinds";
    for kind in Kind::ALL {
        assert!(store.create(kind, key, kind.as_str().as_bytes(), NOW + 60, NOW).await.unwrap().is_some(), "{kind:?}");
    }
    for kind in Kind::ALL {
        let got = store.take(kind, key, NOW).await.unwrap().expect("each kind has its own record");
        assert_eq!(got.value, kind.as_str().as_bytes());
    }
}

/// Sixteen requests answer the same page at once: exactly one keeps its answer.
async fn concurrent_updates_one_wins(store: Arc<dyn Store>) {
    let key = "conformance-race";
    let v = store.create(Kind::SignIn, key, b"page", NOW + 60, NOW).await.unwrap().expect("created");
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.update(Kind::SignIn, key, v, &[i], NOW + 60, NOW).await.unwrap() })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.expect("task").is_some() {
            winners.push(i as u8);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one answer wins: {winners:?}");
    let got = store.get(Kind::SignIn, key, NOW).await.unwrap().expect("record");
    assert_eq!(got.value, [winners[0]], "the winner's answer is kept");
    store.delete(Kind::SignIn, key, None, NOW).await.unwrap();
}

async fn concurrent_takes_one_wins(store: Arc<dyn Store>) {
    let key = "conformance-code-race";
    store.create(Kind::Code, key, b"grant", NOW + 60, NOW).await.unwrap().expect("created");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take(Kind::Code, key, NOW).await.unwrap() })
        })
        .collect();
    let mut redeemed = 0;
    for task in tasks {
        redeemed += usize::from(task.await.expect("task").is_some());
    }
    assert_eq!(redeemed, 1, "a code is redeemed once");
}

async fn concurrent_creates_one_wins(store: Arc<dyn Store>) {
    let key = "conformance-nonce-race";
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create(Kind::Replay, key, b"", NOW + 60, NOW).await.unwrap() })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        first += usize::from(task.await.expect("task").is_some());
    }
    assert_eq!(first, 1, "a nonce is new once");
}
