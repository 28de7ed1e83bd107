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
        // `vec![None; n]` would clone the `None` into each slot through the value's Clone.
        let mut slots = Vec::with_capacity(n_claims);
        slots.resize_with(n_claims, || None);
        ClaimsBag { slots }
    }

    #[inline]
    pub fn get(&self, id: ClaimId) -> Option<&ClaimValue> {
        self.slots.get(id.index()).and_then(Option::as_ref)
    }

    #[inline]
    pub fn get_mut(&mut self, id: ClaimId) -> Option<&mut ClaimValue> {
        self.slots.get_mut(id.index()).and_then(Option::as_mut)
    }

    #[inline]
    pub fn set(&mut self, id: ClaimId, value: ClaimValue) {
        match self.slots.get_mut(id.index()) {
            Some(slot) => *slot = Some(value),
            None => self.grow_and_set(id, value),
        }
    }

    /// A claim past the bag's size: kept out of line, so `set` stays small enough to inline.
    #[cold]
    fn grow_and_set(&mut self, id: ClaimId, value: ClaimValue) {
        self.slots.resize_with(id.index(), || None);
        self.slots.push(Some(value));
    }

    #[inline]
    pub fn remove(&mut self, id: ClaimId) -> Option<ClaimValue> {
        self.slots.get_mut(id.index()).and_then(Option::take)
    }

    #[inline]
    pub fn contains(&self, id: ClaimId) -> bool {
        self.get(id).is_some()
    }

    /// Present claims in index order.
    pub fn iter(&self) -> impl Iterator<Item = (ClaimId, &ClaimValue)> {
        self.slots.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (ClaimId(i as u32), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_past_the_size_grows_the_bag() {
        let mut bag = ClaimsBag::with_capacity(2);
        bag.set(ClaimId(1), ClaimValue::Boolean(true));
        bag.set(ClaimId(4), ClaimValue::Int(7));
        assert_eq!(bag.get(ClaimId(4)), Some(&ClaimValue::Int(7)));
        assert_eq!(bag.get(ClaimId(3)), None);
        assert_eq!(bag.get(ClaimId(9)), None);
        let present: Vec<ClaimId> = bag.iter().map(|(id, _)| id).collect();
        assert_eq!(present, [ClaimId(1), ClaimId(4)]);
        bag.set(ClaimId(4), ClaimValue::Int(8));
        assert_eq!(bag.remove(ClaimId(4)), Some(ClaimValue::Int(8)));
        assert!(!bag.contains(ClaimId(4)));
    }
}
