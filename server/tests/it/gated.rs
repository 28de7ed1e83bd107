//! A test store over the memory store with knobs that make requests meet at a read, wait after
//! recording a callback, fail, or panic.

use std::sync::Mutex;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use ief_store::{BoxFuture, Kind, Record, Store, StoreError};

/// A memory store whose next two reads of a sign-in, once armed, wait for each other: two
/// requests read the same version before either writes. With `hold` set, the next callback
/// state recorded waits, once recorded, until `release`; it counts the codes stored. With
/// `fail_replay` set, the next callback state is not recorded: the store fails. With
/// `panic_reading` set, the next read of that kind panics (the request's task dies); with
/// `hang_reading` set, it never answers.
#[derive(Debug)]
pub(crate) struct Gated {
    inner: ief_store::MemoryStore,
    pub(crate) armed: AtomicUsize,
    pub(crate) together: tokio::sync::Barrier,
    pub(crate) hold: AtomicBool,
    pub(crate) held: tokio::sync::Notify,
    pub(crate) release: tokio::sync::Notify,
    pub(crate) codes: AtomicUsize,
    pub(crate) fail_replay: AtomicBool,
    pub(crate) panic_reading: Mutex<Option<Kind>>,
    pub(crate) hang_reading: Mutex<Option<Kind>>,
}

impl Gated {
    pub(crate) fn new() -> Gated {
        Gated {
            inner: ief_store::MemoryStore::new(),
            armed: AtomicUsize::new(0),
            together: tokio::sync::Barrier::new(2),
            hold: AtomicBool::new(false),
            held: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
            codes: AtomicUsize::new(0),
            fail_replay: AtomicBool::new(false),
            panic_reading: Mutex::new(None),
            hang_reading: Mutex::new(None),
        }
    }

    /// Panics when the armed kind is read, once; says whether this read is to hang.
    fn read(&self, kind: Kind) -> bool {
        let mut armed = self.panic_reading.lock().expect("the knob");
        if *armed == Some(kind) {
            *armed = None;
            drop(armed);
            panic!("the test store fails reading a {kind:?} record");
        }
        self.hang_reading.lock().expect("the knob").take_if(|k| *k == kind).is_some()
    }
}

impl Store for Gated {
    fn create<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            if kind == Kind::Replay && self.fail_replay.swap(false, SeqCst) {
                return Err(StoreError::Backend { backend: "gated", message: "down for the test".to_owned() });
            }
            let created = self.inner.create(kind, key, value, expires, now).await;
            if kind == Kind::Code && matches!(created, Ok(Some(_))) {
                self.codes.fetch_add(1, SeqCst);
            }
            if kind == Kind::Replay && self.hold.swap(false, SeqCst) {
                self.held.notify_one();
                self.release.notified().await;
            }
            created
        })
    }

    fn get<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        let hang = self.read(kind);
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            if kind == Kind::SignIn && self.armed.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
                self.together.wait().await;
            }
            self.inner.get(kind, key, now).await
        })
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
        self.inner.update(kind, key, version, value, expires, now)
    }

    fn delete<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: Option<u64>,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.delete(kind, key, version, now)
    }

    fn take<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        let hang = self.read(kind);
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            self.inner.take(kind, key, now).await
        })
    }

    fn expire(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.expire(now)
    }
}
