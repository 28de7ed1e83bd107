//! The claims bag: one slot per claim type, addressed by dense index.

use crate::value::ClaimValue;

/// A claim type interned to a dense index by the policy compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ClaimId(pub u32);

impl ClaimId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The per-sign-in claim values. Absent and never-set claims are both `None`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClaimsBag {
    slots: Vec<Option<ClaimValue>>,
}

impl ClaimsBag {
    /// A bag for a policy with `n_claims` claim types.
    pub fn with_capacity(n_claims: usize) -> ClaimsBag {
        ClaimsBag { slots: vec![None; n_claims] }
    }

    pub fn get(&self, id: ClaimId) -> Option<&ClaimValue> {
        self.slots.get(id.index()).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: ClaimId) -> Option<&mut ClaimValue> {
        self.slots.get_mut(id.index()).and_then(Option::as_mut)
    }

    pub fn set(&mut self, id: ClaimId, value: ClaimValue) {
        let i = id.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(value);
    }

    pub fn remove(&mut self, id: ClaimId) -> Option<ClaimValue> {
        self.slots.get_mut(id.index()).and_then(Option::take)
    }

    pub fn contains(&self, id: ClaimId) -> bool {
        self.get(id).is_some()
    }

    /// Present claims in index order.
    pub fn iter(&self) -> impl Iterator<Item = (ClaimId, &ClaimValue)> {
        self.slots.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (ClaimId(i as u32), v)))
    }
}
