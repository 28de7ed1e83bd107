//! What `ief serve` keeps between requests, in one store every process of a deployment can
//! share: sign-ins in flight, SSO sessions, authorization codes, refresh-token families and
//! replay guards. As Dex's storage: create, get, update-if-unchanged (compare-and-swap on a
//! version), delete, take and expire, on opaque values; the caller serializes (and encrypts)
//! what it keeps.
//!
//! Backends: [`MemoryStore`] (one process, tests), [`SqliteStore`] (one file, survives a
//! crash) and [`PostgresStore`] (one database that several processes share). Every backend
//! passes the same suite, `conformance::check` (feature `conformance`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod pg;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::{SqliteStore, create_private};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs blocking work (an SQLite statement, a directory's database round trip or password
/// hashing) on a multi-threaded runtime as blocking, so the worker's other requests move to
/// another thread instead of waiting; on a current-thread runtime (headless runs, tests) or
/// outside one it runs inline.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What a record is; each kind has its own keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A sign-in in flight, by the transaction id inside `tx`.
    SignIn,
    /// A browser's SSO sessions, by the session cookie's value.
    Session,
    /// An authorization code, redeemed once ([`Store::take`]).
    Code,
    /// A refresh-token family: the grant and the one token of it that is current.
    RefreshFamily,
    /// A value seen once (a callback state, a client assertion's `jti`, an OAuth1 nonce):
    /// [`Store::create`] says whether it is new.
    Replay,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::SignIn, Kind::Session, Kind::Code, Kind::RefreshFamily, Kind::Replay];

    /// The kind's name in a database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::Session => "session",
            Kind::Code => "code",
            Kind::RefreshFamily => "refresh_family",
            Kind::Replay => "replay",
        }
    }
}

/// A stored value with its version and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub value: Vec<u8>,
    /// Opaque: compare it, never compute it. Every update gives a new one, and a record that
    /// replaces an expired one never has the version its predecessor had.
    pub version: u64,
    /// Unix seconds; at and after it the record is gone.
    pub expires: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state store ({backend}): {message}")]
    Backend { backend: &'static str, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// The state shared by every process of a deployment. Every call names the current time
/// (`now`, Unix seconds): a record whose `expires` is not after it is absent to every call.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Adds a record unless a live one has the key (an expired one is replaced): its version,
    /// or `None`.
    fn create<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;

    fn get<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    /// Replaces the live record's value and expiry if its version is still `version`: the new
    /// version, or `None` when the record changed, expired or went meanwhile. Of several callers
    /// that read the same version, exactly one succeeds.
    fn update<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: u64,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;

    /// Removes the live record, only if its version is `version` when one is given: whether
    /// this call removed it.
    fn delete<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: Option<u64>,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes the live record and returns it, atomically: of several callers, one gets it.
    fn take<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    /// Drops every record expired at `now`: how many went.
    fn expire(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Records each kind of [`MemoryStore`] keeps at most: past this, expired ones are pruned
/// first and then those expiring soonest go, so a flood of requests cannot exhaust memory.
pub const MAX_MEMORY_ENTRIES: usize = 10_000;

/// Everything in this process's memory: lost at exit, fine for tests and one developer.
#[derive(Debug, Default)]
pub struct MemoryStore {
    kinds: Mutex<HashMap<Kind, HashMap<String, Record>>>,
    /// One sequence for every version, so a version never repeats.
    versions: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T>(&self, kind: Kind, f: impl FnOnce(&mut HashMap<String, Record>) -> T) -> T {
        // A panic while holding the lock leaves plain data behind; keep serving.
        let mut kinds = self.kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(kinds.entry(kind).or_default())
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Makes room for one more record in `map`.
fn make_room(map: &mut HashMap<String, Record>, now: i64) {
    if map.len() < MAX_MEMORY_ENTRIES {
        return;
    }
    map.retain(|_, r| r.expires > now);
    while map.len() >= MAX_MEMORY_ENTRIES {
        let Some(soonest) = map.iter().min_by_key(|(_, r)| r.expires).map(|(k, _)| k.clone()) else { break };
        map.remove(&soonest);
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Store for MemoryStore {
    fn create<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let created = self.with(kind, |map| {
            if map.get(key).is_some_and(|r| r.expires > now) {
                return None;
            }
            make_room(map, now);
            let version = self.next_version();
            map.insert(key.to_owned(), Record { value: value.to_vec(), version, expires });
            Some(version)
        });
        ready(Ok(created))
    }

    fn get<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        ready(Ok(self.with(kind, |map| map.get(key).filter(|r| r.expires > now).cloned())))
    }

    fn update<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: u64,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let updated = self.with(kind, |map| {
            let record = map.get_mut(key).filter(|r| r.expires > now && r.version == version)?;
            let version = self.next_version();
            *record = Record { value: value.to_vec(), version, expires };
            Some(version)
        });
        ready(Ok(updated))
    }

    fn delete<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: Option<u64>,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let removed = self.with(kind, |map| {
            let live = map.get(key).is_some_and(|r| r.expires > now && version.is_none_or(|v| v == r.version));
            live && map.remove(key).is_some()
        });
        ready(Ok(removed))
    }

    fn take<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        ready(Ok(self.with(kind, |map| map.remove(key).filter(|r| r.expires > now))))
    }

    fn expire(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut gone = 0;
        for kind in Kind::ALL {
            gone += self.with(kind, |map| {
                let before = map.len();
                map.retain(|_, r| r.expires > now);
                (before - map.len()) as u64
            });
        }
        ready(Ok(gone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_work_hands_a_worker_s_other_tasks_on() {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let wait = Duration::from_secs(10);
        // One worker: while blocking work holds it, another task runs only if the worker's
        // queue is handed to another thread.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("a runtime");
        let released = rt.block_on(async {
            let (entered, on_entry) = channel();
            let (release, on_release) = channel();
            let work = tokio::spawn(async move {
                blocking(move || {
                    entered.send(()).expect("the test waits");
                    on_release.recv_timeout(wait)
                })
            });
            on_entry.recv_timeout(wait).expect("the blocking work starts");
            let other = tokio::spawn(async move { release.send(()) });
            other.await.expect("the other task").expect("sent");
            work.await.expect("the blocking work")
        });
        assert!(released.is_ok(), "the other task ran while the blocking work held the only worker");
        // Without a multi-threaded runtime the work runs inline.
        assert_eq!(blocking(|| 7), 7);
        let current = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        assert_eq!(current.block_on(async { blocking(|| 8) }), 8);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_memory_store_passes_the_backend_suite() {
        conformance::check(std::sync::Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn a_flood_of_codes_stays_bounded_and_expired_ones_go_first() {
        let store = MemoryStore::new();
        let now = 1_000;
        store.create(Kind::Code, "expired", b"", now + 1, now).await.unwrap();
        for i in 0..MAX_MEMORY_ENTRIES {
            store.create(Kind::Code, &format!("live-{i}"), b"", now + 600 + i as i64, now + 2).await.unwrap();
        }
        assert_eq!(store.with(Kind::Code, |m| m.len()), MAX_MEMORY_ENTRIES);
        assert!(store.take(Kind::Code, "expired", now).await.unwrap().is_none(), "the expired code went first");
        assert!(store.take(Kind::Code, "live-0", now).await.unwrap().is_some());
        let last = format!("live-{}", MAX_MEMORY_ENTRIES - 1);
        assert!(store.take(Kind::Code, &last, now).await.unwrap().is_some());
        store.create(Kind::Code, "one more", b"", now + 600, now).await.unwrap();
        assert!(store.with(Kind::Code, |m| m.len()) <= MAX_MEMORY_ENTRIES);
    }
}
