//! What a running transformation may ask of its surroundings. The executor provides it;
//! tests use [`FixedEnv`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;

pub trait TransformEnv {
    /// Current UTC time (GetCurrentDateTime, IsTermsOfUseConsentRequired, `Today`).
    fn now(&self) -> NaiveDateTime;
    /// Fills `buf` with random bytes (CreateRandomString, CreateOtpSecret).
    fn fill_random(&self, buf: &mut [u8]);
    /// A policy key's secret bytes by its StorageReferenceId (Hash).
    fn policy_key(&self, storage_reference_id: &str) -> Option<Vec<u8>>;
    /// A `LocalizedString` of the current language.
    fn localized_string(&self, element_type: &str, element_id: &str, string_id: &str) -> Option<String>;
    /// A `LocalizedCollection` of the current language as (Text, Value) items. For ElementType
    /// `ClaimType` it answers with the claim type's `Restriction` enumeration when no localized
    /// collection replaces it (GetMappedValueFromLocalizedCollection).
    fn localized_collection(&self, element_type: &str, element_id: &str) -> Option<Vec<(String, String)>>;
    /// String claims-transformation expressions: `TechnicalProfileId`, `RelyingPartyTenantId`,
    /// `TrustFrameworkTenantId`.
    fn expression(&self, name: &str) -> Option<String>;
    /// Whether `value` passes the `PredicateValidationReference` of ClaimType `claim_type`
    /// (CopyClaimIfPredicateMatch); `None` when that claim type has no predicate validation.
    fn satisfies_predicates(&self, claim_type: &str, value: &str) -> Option<bool> {
        let _ = (claim_type, value);
        None
    }
}

/// A deterministic environment: fixed clock, counter-based randomness, in-memory tables.
#[derive(Debug)]
pub struct FixedEnv {
    pub now: NaiveDateTime,
    pub seed: u8,
    pub keys: HashMap<String, Vec<u8>>,
    /// Keyed by (ElementType, ElementId, StringId).
    pub strings: HashMap<(String, String, String), String>,
    /// Keyed by (ElementType, ElementId).
    pub collections: HashMap<(String, String), Vec<(String, String)>>,
    pub expressions: HashMap<String, String>,
    /// How often randomness was drawn: each draw differs, and the sequence repeats per run.
    pub draws: AtomicU64,
}

impl Clone for FixedEnv {
    fn clone(&self) -> FixedEnv {
        FixedEnv {
            now: self.now,
            seed: self.seed,
            keys: self.keys.clone(),
            strings: self.strings.clone(),
            collections: self.collections.clone(),
            expressions: self.expressions.clone(),
            draws: AtomicU64::new(self.draws.load(Ordering::Relaxed)),
        }
    }
}

impl Default for FixedEnv {
    fn default() -> FixedEnv {
        FixedEnv {
            now: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default(),
            seed: 0,
            keys: HashMap::new(),
            strings: HashMap::new(),
            collections: HashMap::new(),
            expressions: HashMap::new(),
            draws: AtomicU64::new(0),
        }
    }
}

impl TransformEnv for FixedEnv {
    fn now(&self) -> NaiveDateTime {
        self.now
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The first draw keeps its simple documented pattern; later draws mix in a splitmix64
        // stream so that, say, two generated object ids never collide.
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut state = draw.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(self.seed);
        for (i, b) in buf.iter_mut().enumerate() {
            let base = self.seed.wrapping_add(i as u8).wrapping_mul(31);
            let mix = if draw == 0 {
                0
            } else {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as u8
            };
            *b = base ^ mix;
        }
    }

    fn policy_key(&self, storage_reference_id: &str) -> Option<Vec<u8>> {
        self.keys.get(storage_reference_id).cloned()
    }

    fn localized_string(&self, element_type: &str, element_id: &str, string_id: &str) -> Option<String> {
        self.strings.get(&(element_type.to_owned(), element_id.to_owned(), string_id.to_owned())).cloned()
    }

    fn localized_collection(&self, element_type: &str, element_id: &str) -> Option<Vec<(String, String)>> {
        self.collections.get(&(element_type.to_owned(), element_id.to_owned())).cloned()
    }

    fn expression(&self, name: &str) -> Option<String> {
        self.expressions.get(name).cloned()
    }
}
