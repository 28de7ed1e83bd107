//! What a running transformation may ask of its surroundings. The executor provides it;
//! tests use [`FixedEnv`].

use std::collections::HashMap;

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
#[derive(Clone, Debug)]
pub struct FixedEnv {
    pub now: NaiveDateTime,
    pub seed: u8,
    pub keys: HashMap<String, Vec<u8>>,
    /// Keyed by (ElementType, ElementId, StringId).
    pub strings: HashMap<(String, String, String), String>,
    /// Keyed by (ElementType, ElementId).
    pub collections: HashMap<(String, String), Vec<(String, String)>>,
    pub expressions: HashMap<String, String>,
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
        }
    }
}

impl TransformEnv for FixedEnv {
    fn now(&self) -> NaiveDateTime {
        self.now
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.seed.wrapping_add(i as u8).wrapping_mul(31);
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
