//! The live environment of `ief run`: the system clock and the operating system's randomness.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::NaiveDateTime;
use ief_transforms::TransformEnv;

use crate::keys::KeyStore;

/// System clock and OS randomness; no policy keys or localized strings of its own.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

impl TransformEnv for SystemEnv {
    fn now(&self) -> NaiveDateTime {
        chrono::Utc::now().naive_utc()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // Without OS randomness nothing secure can be generated; fall back to the clock only so
        // that the run continues, never to a constant.
        if getrandom::fill(buf).is_err() {
            let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (nanos >> ((i % 8) * 8)) as u8 ^ i as u8;
            }
        }
    }

    fn policy_key(&self, _storage_reference_id: &str) -> Option<Vec<u8>> {
        None
    }

    fn localized_string(&self, _element_type: &str, _element_id: &str, _string_id: &str) -> Option<String> {
        None
    }

    fn localized_collection(&self, _element_type: &str, _element_id: &str) -> Option<Vec<(String, String)>> {
        None
    }

    fn expression(&self, _name: &str) -> Option<String> {
        None
    }
}

/// An environment whose policy keys (the Hash transformation's secret) come from the key store.
#[derive(Debug)]
pub struct KeyedEnv<E> {
    inner: E,
    keys: KeyStore,
    /// Seconds the clock runs ahead of the inner one (a scenario's `after` moves it on).
    offset: Option<Arc<AtomicI64>>,
}

impl<E> KeyedEnv<E> {
    pub fn new(inner: E, keys: KeyStore) -> KeyedEnv<E> {
        KeyedEnv { inner, keys, offset: None }
    }

    /// The same environment with its clock `offset` seconds ahead, read at every `now`.
    #[must_use]
    pub fn with_clock_offset(self, offset: Arc<AtomicI64>) -> KeyedEnv<E> {
        KeyedEnv { offset: Some(offset), ..self }
    }
}

impl<E: TransformEnv> TransformEnv for KeyedEnv<E> {
    fn now(&self) -> chrono::NaiveDateTime {
        let ahead = self.offset.as_ref().map_or(0, |o| o.load(Ordering::Relaxed));
        self.inner.now() + chrono::TimeDelta::seconds(ahead)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.inner.fill_random(buf);
    }

    fn policy_key(&self, storage_reference_id: &str) -> Option<Vec<u8>> {
        self.keys.secret(storage_reference_id).ok().map(<[u8]>::to_vec)
    }

    fn localized_string(&self, element_type: &str, element_id: &str, string_id: &str) -> Option<String> {
        self.inner.localized_string(element_type, element_id, string_id)
    }

    fn localized_collection(&self, element_type: &str, element_id: &str) -> Option<Vec<(String, String)>> {
        self.inner.localized_collection(element_type, element_id)
    }

    fn expression(&self, name: &str) -> Option<String> {
        self.inner.expression(name)
    }
}

/// A random GUID in its usual text form.
pub fn random_guid() -> String {
    let mut b = [0u8; 16];
    SystemEnv.fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}
