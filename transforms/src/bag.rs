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
///
/// While a [`Mark`] is open the bag journals each write's replaced value, so a caller can
/// roll back to the mark or list what changed since it without copying the bag.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ClaimsBag {
    slots: Vec<Option<ClaimValue>>,
    /// Each write's slot and replaced value, in order, while any mark is open.
    #[serde(skip)]
    journal: Vec<(ClaimId, Option<ClaimValue>)>,
    #[serde(skip)]
    open_marks: u32,
}

impl PartialEq for ClaimsBag {
    fn eq(&self, other: &ClaimsBag) -> bool {
        self.slots == other.slots
    }
}

/// A point in a bag's writes, from [`ClaimsBag::mark`]; marks nest.
#[derive(Debug)]
#[must_use = "a mark is closed by ClaimsBag::close or ClaimsBag::roll_back"]
pub struct Mark(usize);

impl ClaimsBag {
    /// A bag for a policy with `n_claims` claim types.
    pub fn with_capacity(n_claims: usize) -> ClaimsBag {
        // `vec![None; n]` would clone the `None` into each slot through the value's Clone.
        let mut slots = Vec::with_capacity(n_claims);
        slots.resize_with(n_claims, || None);
        ClaimsBag { slots, journal: Vec::new(), open_marks: 0 }
    }

    /// Opens a mark: writes from here on are journaled until it is closed.
    pub fn mark(&mut self) -> Mark {
        self.open_marks += 1;
        Mark(self.journal.len())
    }

    /// The claims whose value now differs from their value at `mark` (set, changed or
    /// removed), in index order.
    pub fn changed_since(&self, mark: &Mark) -> Vec<ClaimId> {
        let since = &self.journal[mark.0.min(self.journal.len())..];
        let mut ids = Vec::new();
        for (i, (id, old)) in since.iter().enumerate() {
            // An id's first write since the mark holds the value it had at the mark.
            let first = !since[..i].iter().any(|(earlier, _)| earlier == id);
            if first && self.get(*id) != old.as_ref() {
                ids.push(*id);
            }
        }
        ids.sort_unstable();
        ids
    }

    /// Undoes every write since `mark` and closes it.
    pub fn roll_back(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            let Some((id, old)) = self.journal.pop() else { break };
            if let Some(slot) = self.slots.get_mut(id.index()) {
                *slot = old;
            }
        }
        self.close(mark);
    }

    /// Closes `mark`, keeping its writes; the journal is dropped once no mark is open.
    pub fn close(&mut self, mark: Mark) {
        let Mark(_) = mark;
        self.open_marks = self.open_marks.saturating_sub(1);
        if self.open_marks == 0 {
            self.journal = Vec::new();
        }
    }

    #[inline]
    fn journal(&mut self, id: ClaimId, old: Option<ClaimValue>) {
        if self.open_marks > 0 {
            self.journal.push((id, old));
        }
    }

    #[inline]
    pub fn get(&self, id: ClaimId) -> Option<&ClaimValue> {
        self.slots.get(id.index()).and_then(Option::as_ref)
    }

    #[inline]
    pub fn get_mut(&mut self, id: ClaimId) -> Option<&mut ClaimValue> {
        if self.open_marks > 0 {
            let old = self.get(id).cloned();
            self.journal(id, old);
        }
        self.slots.get_mut(id.index()).and_then(Option::as_mut)
    }

    #[inline]
    pub fn set(&mut self, id: ClaimId, value: ClaimValue) {
        match self.slots.get_mut(id.index()) {
            Some(slot) => {
                let old = slot.replace(value);
                self.journal(id, old);
            }
            None => self.grow_and_set(id, value),
        }
    }

    /// A claim past the bag's size: kept out of line, so `set` stays small enough to inline.
    #[cold]
    fn grow_and_set(&mut self, id: ClaimId, value: ClaimValue) {
        self.slots.resize_with(id.index(), || None);
        self.slots.push(Some(value));
        self.journal(id, None);
    }

    #[inline]
    pub fn remove(&mut self, id: ClaimId) -> Option<ClaimValue> {
        let old = self.slots.get_mut(id.index()).and_then(Option::take);
        if self.open_marks > 0 && old.is_some() {
            self.journal.push((id, old.clone()));
        }
        old
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

    #[test]
    fn a_mark_lists_changes_and_rolls_them_back_through_nested_marks() {
        let mut bag = ClaimsBag::with_capacity(4);
        bag.set(ClaimId(0), ClaimValue::Int(1));
        bag.set(ClaimId(1), ClaimValue::Int(2));
        let outer = bag.mark();
        bag.set(ClaimId(2), ClaimValue::Int(3));
        bag.set(ClaimId(1), ClaimValue::Int(2)); // the same value: no change
        let inner = bag.mark();
        bag.remove(ClaimId(0));
        bag.set(ClaimId(3), ClaimValue::Int(4));
        assert_eq!(bag.changed_since(&inner), [ClaimId(0), ClaimId(3)]);
        bag.close(inner);
        if let Some(ClaimValue::Int(n)) = bag.get_mut(ClaimId(2)) {
            *n = 30;
        }
        bag.set(ClaimId(3), ClaimValue::Int(5));
        bag.set(ClaimId(3), ClaimValue::Int(4));
        assert_eq!(bag.changed_since(&outer), [ClaimId(0), ClaimId(2), ClaimId(3)]);
        bag.roll_back(outer);
        let present: Vec<_> = bag.iter().map(|(id, v)| (id, v.clone())).collect();
        assert_eq!(present, [(ClaimId(0), ClaimValue::Int(1)), (ClaimId(1), ClaimValue::Int(2))]);
        // No mark open: nothing is journaled.
        bag.set(ClaimId(2), ClaimValue::Int(9));
        assert!(bag.journal.is_empty());
    }
}
