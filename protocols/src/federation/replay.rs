//! Values seen once across every process that shares a state store (`ief serve` with SQLite
//! or PostgreSQL): a driver puts a [`SharedReplayGuard`] in the executor's extensions and the
//! federating handlers use it instead of their per-process [`super::seen_once::SeenOnce`].

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{Extensions, ProfileError, ProfileResult};
use ief_store::{Kind, Store, StoreError};
use sha2::{Digest, Sha256};

use super::seen_once::SeenOnce;

/// How long an authorization request waits for its callback; its state is guarded as long.
pub const CALLBACK_LIFETIME_SECS: i64 = 60 * 60;

/// Why a callback is not handled.
#[derive(Debug, thiserror::Error)]
pub enum CallbackRefusal {
    #[error(
        "the callback came {age} s after the authorization request, which expires after {CALLBACK_LIFETIME_SECS} s"
    )]
    Late { age: i64 },
    /// Handled before, by this process or another: the sign-in goes on without this request.
    #[error("the authorization response for this request was already used (replayed callback)")]
    Replayed,
    #[error("the replay guard cannot record the state: {0}")]
    Guard(StoreError),
}

impl CallbackRefusal {
    /// How a handler answers it: a replay, or a guard the store cannot write, is refused
    /// without touching the sign-in; a late callback fails it.
    pub fn outcome(&self) -> fn(ProfileError) -> ProfileResult {
        match self {
            CallbackRefusal::Late { .. } => ProfileResult::Failed,
            CallbackRefusal::Replayed => ProfileResult::Replayed,
            CallbackRefusal::Guard(_) => ProfileResult::Unavailable,
        }
    }
}

/// Takes the one use of the callback to an authorization request (`state`, sent at
/// `issued_at`; a state saved before it recorded its time counts as sent `now`): in the store
/// every process shares when the driver put a [`SharedReplayGuard`] in the extensions, else in
/// the handler's own memory (`local`).
/// `namespace` names the protocol (`oidc-state`, `oauth2-state`, `oauth1-token`).
pub async fn callback_once(
    extensions: &Extensions,
    local: &SeenOnce<String>,
    namespace: &str,
    state: &str,
    issued_at: Option<i64>,
    now: i64,
) -> Result<(), CallbackRefusal> {
    let issued_at = issued_at.unwrap_or(now);
    let age = now - issued_at;
    if age > CALLBACK_LIFETIME_SECS {
        return Err(CallbackRefusal::Late { age });
    }
    let until = issued_at + CALLBACK_LIFETIME_SECS;
    let first = match extensions.get::<SharedReplayGuard>() {
        // Several processes share the sign-ins, so they share the states used too.
        Some(guard) => guard.first_use(namespace, state, until, now).await.map_err(CallbackRefusal::Guard)?,
        None => local.first_use(state.to_owned(), until, now),
    };
    if first { Ok(()) } else { Err(CallbackRefusal::Replayed) }
}

#[derive(Clone, Debug)]
pub struct SharedReplayGuard {
    store: Arc<dyn Store>,
}

impl SharedReplayGuard {
    pub fn new(store: Arc<dyn Store>) -> SharedReplayGuard {
        SharedReplayGuard { store }
    }

    /// Records `value` of `namespace` until `until` (Unix seconds): false when any process
    /// recorded it before and it has not expired at `now`. The store keeps only a hash of it.
    pub async fn first_use(&self, namespace: &str, value: &str, until: i64, now: i64) -> Result<bool, StoreError> {
        let key = format!("{namespace}:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes())));
        Ok(self.store.create(Kind::Replay, &key, &[], until, now).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_guards_on_one_store_accept_a_value_once() {
        let store: Arc<dyn Store> = Arc::new(ief_store::MemoryStore::new());
        let (one, two) = (SharedReplayGuard::new(store.clone()), SharedReplayGuard::new(store.clone()));
        let now = 1_000;
        ief_testkit::block_on(async {
            assert!(one.first_use("oidc-state", "s", now + 60, now).await.unwrap());
            assert!(!two.first_use("oidc-state", "s", now + 60, now + 1).await.unwrap(), "seen by the other");
            assert!(two.first_use("oauth1-nonce", "s", now + 60, now).await.unwrap(), "another namespace");
            assert!(two.first_use("oidc-state", "s", now + 120, now + 60).await.unwrap(), "expired, so new");
        });
    }

    #[test]
    fn a_callback_state_used_through_one_process_is_refused_through_another_on_postgres() {
        let cluster = ief_testkit::postgres::PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("replay").unwrap();
        // Each process has its own connections to the one database.
        let process = || SharedReplayGuard::new(Arc::new(ief_store::PostgresStore::connect(&url).unwrap()));
        let (one, two) = (process(), process());
        let now = 1_000;
        ief_store::pg::block_on(async {
            assert!(one.first_use("oidc-state", "s", now + 60, now).await.unwrap());
            assert!(!two.first_use("oidc-state", "s", now + 60, now + 1).await.unwrap(), "seen by the other");
            assert!(!one.first_use("oidc-state", "s", now + 60, now + 2).await.unwrap(), "and by itself");
            assert!(two.first_use("oidc-state", "s", now + 120, now + 60).await.unwrap(), "expired, so new");
        });
        drop((one, two));
        drop(cluster);
    }
}
