//! Values accepted once until they expire: the states of handled callbacks, the `jti` of
//! client assertions. Expired entries are dropped at most once per clock second, so a check
//! costs one lookup, not a scan of everything remembered.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// Bounds memory; past it the entry closest to expiry goes first.
const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct SeenOnce<K> {
    inner: Mutex<Inner<K>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<K> {
    until: HashMap<K, i64>,
    /// The clock second of the last prune.
    pruned_at: Option<i64>,
}

impl<K> Default for SeenOnce<K> {
    fn default() -> SeenOnce<K> {
        SeenOnce::with_capacity(DEFAULT_CAPACITY)
    }
}

impl<K> SeenOnce<K> {
    pub fn with_capacity(capacity: usize) -> SeenOnce<K> {
        SeenOnce { inner: Mutex::new(Inner { until: HashMap::new(), pruned_at: None }), capacity: capacity.max(1) }
    }
}

impl<K: Hash + Eq + Clone> SeenOnce<K> {
    /// Records `key` until `until` (unix seconds); false when it was recorded before and has
    /// not expired at `now`.
    pub fn first_use(&self, key: K, until: i64, now: i64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.pruned_at != Some(now) {
            inner.pruned_at = Some(now);
            inner.until.retain(|_, u| *u > now);
        }
        if inner.until.get(&key).is_some_and(|u| *u > now) {
            return false;
        }
        if inner.until.len() >= self.capacity
            && let Some(oldest) = inner.until.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone())
        {
            inner.until.remove(&oldest);
        }
        inner.until.insert(key, until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_704_067_200;

    #[test]
    fn a_value_is_accepted_once_until_it_expires() {
        let seen = SeenOnce::default();
        assert!(seen.first_use(("c", "j"), NOW + 10, NOW));
        assert!(!seen.first_use(("c", "j"), NOW + 10, NOW + 9));
        assert!(seen.first_use(("other", "j"), NOW + 10, NOW));
        assert!(seen.first_use(("c", "j"), NOW + 20, NOW + 10), "expired, so new again");
    }

    #[test]
    fn past_its_capacity_the_entry_closest_to_expiry_goes() {
        let seen = SeenOnce::with_capacity(2);
        assert!(seen.first_use("a", NOW + 5, NOW));
        assert!(seen.first_use("b", NOW + 50, NOW));
        assert!(seen.first_use("c", NOW + 60, NOW));
        assert!(seen.first_use("a", NOW + 5, NOW), "a was evicted");
        assert!(!seen.first_use("c", NOW + 60, NOW));
    }
}
