//! Folding a BasePolicy chain into one effective policy tree, the way B2C assembles it: keyed,
//! element-wise deep merge, root file first, relying-party file last. Elements keep the spans of
//! the file that wrote them, so later diagnostics point at the right file.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};
use smol_str::SmolStr;

use crate::syntax::{Attribute, Attributes, Element, ThinVec};

/// Merges `chain` (root first) into one tree. The result carries the leaf's root attributes and
/// no `BasePolicy`. It shares the files' subtrees (`syntax::Shared`): only the lists the merge
/// changes are copied, and those only one level deep.
pub fn merge_chain<'a>(chain: impl IntoIterator<Item = &'a Element>) -> Option<Element> {
    let mut iter = chain.into_iter();
    let mut merged = iter.next()?.clone();
    let mut indexes = Indexes { enabled: true, ..Indexes::default() };
    for overlay in iter {
        merge_element(&mut merged, overlay, Rule::Deep, &mut indexes);
    }
    merged.children.to_mut().retain(|c| c.name != "BasePolicy");
    Some(merged)
}

/// How an element's children combine with an overlay's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Attributes and text of the overlay win; children merge by their own rules.
    Deep,
    /// The overlay's element replaces the base's whole.
    Replace,
}

/// A keyed list: items with the same key merge, new ones are added.
#[derive(Clone, Copy, Debug)]
enum List {
    /// Key is an attribute; items merge with `item_rule`.
    ByAttr(&'static [&'static str], Rule),
    /// Claim lists: keyed by claim; the child's order wins when it re-lists every base item.
    Claims,
    /// Concatenated, duplicates kept (ValidationTechnicalProfiles).
    Concat,
    /// Keyed by text; `MergeBehavior` on the list decides (SupportedLanguages).
    ByTextWithBehavior,
    /// Items keyed by an attribute; `MergeBehavior` on the list decides (Restriction).
    ByAttrWithBehavior(&'static str),
}

/// The merge rule for the children of `parent` named `child`.
fn list_rule(parent: &str, child: &str) -> Option<List> {
    Some(match (parent, child) {
        ("ClaimsSchema", "ClaimType") => List::ByAttr(&["Id"], Rule::Deep),
        ("Predicates", "Predicate")
        | ("InputValidations", "InputValidation")
        | ("PredicateValidations", "PredicateValidation")
        | ("ClaimsTransformations", "ClaimsTransformation") => List::ByAttr(&["Id"], Rule::Replace),
        ("ContentDefinitions", "ContentDefinition")
        | ("DisplayControls", "DisplayControl")
        | ("ClientDefinitions", "ClientDefinition")
        | ("Localization", "LocalizedResources")
        | ("UserJourneys", "UserJourney")
        | ("SubJourneys", "SubJourney")
        | ("ClaimsExchanges", "ClaimsExchange")
        | ("DocumentReferences", "DocumentReference") => List::ByAttr(&["Id"], Rule::Deep),
        ("Endpoints", "Endpoint") => List::ByAttr(&["Id"], Rule::Replace),
        ("LocalizedResourcesReferences", "LocalizedResourcesReference") => List::ByAttrWithBehavior("Language"),
        ("LocalizedStrings", "LocalizedString") => {
            List::ByAttr(&["ElementType", "ElementId", "StringId"], Rule::Replace)
        }
        ("LocalizedCollections", "LocalizedCollection") => {
            List::ByAttr(&["ElementType", "ElementId", "TargetCollection"], Rule::Replace)
        }
        ("SupportedLanguages", "SupportedLanguage") => List::ByTextWithBehavior,
        ("Restriction", "Enumeration") => List::ByAttrWithBehavior("Value"),
        ("Metadata", "Item") => List::ByAttr(&["Key"], Rule::Replace),
        ("CryptographicKeys", "Key") => List::ByAttr(&["Id"], Rule::Replace),
        ("InputClaims" | "OutputClaims" | "PersistedClaims" | "DisplayClaims", _) => List::Claims,
        ("InputClaimsTransformations" | "OutputClaimsTransformations", _) => {
            List::ByAttr(&["ReferenceId"], Rule::Replace)
        }
        ("ValidationTechnicalProfiles", _) => List::Concat,
        ("OrchestrationSteps", "OrchestrationStep") => List::ByAttr(&["Order"], Rule::Deep),
        ("ClaimsProviderSelections", "ClaimsProviderSelection") => {
            List::ByAttr(&["TargetClaimsExchangeId", "ValidationClaimsExchangeId"], Rule::Replace)
        }
        ("JourneyList", "Candidate") => List::ByAttr(&["SubJourneyReferenceId"], Rule::Replace),
        ("AuthorizationTechnicalProfiles", _) => List::ByAttr(&["ReferenceId"], Rule::Replace),
        ("ContentDefinitionParameters", "Parameter") => List::ByAttr(&["Name"], Rule::Replace),
        _ => return None,
    })
}

/// Elements replaced whole when an overlay has them (single-valued, or lists the docs treat as a unit).
fn replaced_whole(parent: &str, child: &str) -> bool {
    matches!(
        (parent, child),
        ("OrchestrationStep", "Preconditions")
            | (_, "Protocol")
            | (_, "SubjectNamingInfo")
            | (_, "IncludeTechnicalProfile")
            | (_, "UseTechnicalProfileForSessionManagement")
            | (_, "DefaultUserJourney")
            | (_, "Pattern")
    )
}

/// Lists at least this long keep their key index across the files of a chain.
const LONG_LIST: usize = 64;

/// One step of the way from the merged root to an element: a child found by name, or a keyed
/// list's item found by its key.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Seg {
    Name(SmolStr),
    Key(OwnedKey),
}

/// A long list's keys (first item per key) and the length of its parent's children they describe.
struct ListIndex {
    keys: KeyTable,
    len: usize,
}

/// The first position of each key among a list's items, found by the hash of the key's values
/// and confirmed against the item there: an entry is 16 bytes and holds no copy of a key, so
/// indexing an appended item allocates nothing, and growing the table reads no item.
struct KeyTable {
    /// (hash, position).
    table: HashTable<(u64, u32)>,
}

impl KeyTable {
    fn with_capacity(n: usize) -> Self {
        KeyTable { table: HashTable::with_capacity(n) }
    }

    /// The position of the item `is_key` accepts among those hashed to `hash`; if there is
    /// none, `at` is recorded as the key's first position (one probe either way).
    fn first_or_insert(&mut self, hash: u64, at: usize, mut is_key: impl FnMut(usize) -> bool) -> Option<usize> {
        match self.table.entry(hash, |&(h, i)| h == hash && is_key(i as usize), |&(h, _)| h) {
            Entry::Occupied(found) => Some(found.get().1 as usize),
            Entry::Vacant(room) => {
                let at = u32::try_from(at).expect("a policy file holds fewer than 2^32 elements");
                room.insert((hash, at));
                None
            }
        }
    }

    fn reserve(&mut self, extra: usize) {
        self.table.reserve(extra, |&(h, _)| h);
    }
}

/// The key indexes of long lists, kept across the overlays of one chain so that each file
/// looks up only its own items instead of re-reading every item merged so far. An index is
/// dropped whenever its parent's children change other than by its own appends, or when an
/// ancestor is replaced. Disabled (no paths, no indexes) inside ClaimsProviders and `layer`.
#[derive(Default)]
struct Indexes {
    enabled: bool,
    /// Hashes the keys of every list (random per chain: the tables confirm each hit).
    hasher: DefaultHashBuilder,
    /// Where the element being merged sits.
    path: Vec<Seg>,
    /// By the parent's path followed by the items' name.
    lists: HashMap<Vec<Seg>, ListIndex>,
    /// How a re-listed claim merges with the base's: attribute by attribute across a chain's
    /// files, whole in [`include`] (an including profile's claim is the one it wrote).
    claim_item: ClaimItem,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ClaimItem {
    #[default]
    Deep,
    Whole,
}

impl Indexes {
    fn enter(&mut self, seg: impl FnOnce() -> Seg) {
        if self.enabled {
            self.path.push(seg());
        }
    }

    fn leave(&mut self) {
        if self.enabled {
            self.path.pop();
        }
    }

    /// The element at the current path was replaced: nothing indexed in it holds.
    fn replaced(&mut self) {
        if !self.lists.is_empty() {
            let path = &self.path;
            self.lists.retain(|k, _| !k.starts_with(path));
        }
    }

    /// The current element's children moved: its own lists' positions no longer hold.
    fn children_moved(&mut self) {
        if !self.lists.is_empty() {
            let path = &self.path;
            self.lists.retain(|k, _| !(k.len() == path.len() + 1 && k.starts_with(path)));
        }
    }

    fn list_path(&self, name: &str) -> Vec<Seg> {
        let mut p = Vec::with_capacity(self.path.len() + 1);
        p.extend_from_slice(&self.path);
        p.push(Seg::Name(name.into()));
        p
    }
}

/// The overlay's attributes over the base's (same name: the overlay's value). A scan per name
/// suits the usual handful, replacing in place (shared attributes are copied on the first
/// replacement) and rebuilding only to append; a hostile element's thousands are found through
/// a map.
fn merge_attributes(base: &mut Attributes, overlay: &Attributes) {
    if overlay.is_empty() {
        return;
    }
    if (base.len() + overlay.len()) * overlay.len() > 4096 {
        return merge_many_attributes(base, overlay);
    }
    let mut added = Vec::new();
    for a in overlay.iter() {
        let found = match base.find_mut(|b| b.name == a.name) {
            Some(b) => Some(b),
            None => added.iter_mut().find(|b: &&mut Attribute| b.name == a.name),
        };
        match found {
            Some(b) => b.clone_from(a),
            None => added.push(a.clone()),
        }
    }
    if !added.is_empty() {
        *base = base.iter().cloned().chain(added).collect();
    }
}

/// [`merge_attributes`] for thousands: names found through a map, the attributes rebuilt once.
fn merge_many_attributes(base: &mut Attributes, overlay: &Attributes) {
    let original = std::mem::take(base);
    let mut merged = original.to_vec();
    let mut index: HashMap<&str, usize> =
        original.iter().enumerate().rev().map(|(i, a)| (a.name.as_str(), i)).collect();
    for a in overlay.iter() {
        match index.get(a.name.as_str()).copied() {
            Some(i) => merged[i] = a.clone(),
            None => {
                index.insert(a.name.as_str(), merged.len());
                merged.push(a.clone());
            }
        }
    }
    *base = merged.into_iter().collect();
}

fn merge_element(base: &mut Element, overlay: &Element, rule: Rule, ix: &mut Indexes) {
    if rule == Rule::Replace {
        *base = overlay.clone();
        ix.replaced();
        return;
    }
    merge_attributes(&mut base.attributes, &overlay.attributes);
    if overlay.text.is_some() {
        base.text.clone_from(&overlay.text);
        base.text_span = overlay.text_span;
    }
    if base.name == "ClaimsProviders" {
        merge_claims_providers(base, overlay);
        return;
    }
    let parent = base.name.clone();
    let mut i = 0;
    while i < overlay.children.len() {
        let child_name = overlay.children[i].name.as_str();
        match list_rule(&parent, child_name) {
            Some(list) => {
                // A list's items are consecutive children with the same name.
                let end = overlay.children[i..]
                    .iter()
                    .position(|c| c.name != child_name)
                    .map_or(overlay.children.len(), |n| i + n);
                let behavior = overlay.attr("MergeBehavior").unwrap_or("ReplaceAll");
                merge_list(base, &overlay.children[i..end], child_name, list, behavior, ix);
                i = end;
            }
            None => {
                let child = &overlay.children[i];
                match base.children.find_mut(|c| c.name == child.name) {
                    Some(existing) => {
                        ix.enter(|| Seg::Name(child.name.clone()));
                        if replaced_whole(&parent, &child.name) {
                            *existing = child.clone();
                            ix.replaced();
                        } else {
                            merge_element(existing, child, Rule::Deep, ix);
                        }
                        ix.leave();
                    }
                    None => {
                        insert_in_schema_order(base, child.clone());
                        ix.children_moved();
                    }
                }
                i += 1;
            }
        }
    }
}

/// The most attributes a keyed list's key has (LocalizedStrings').
const KEY_ATTRS: usize = 3;

/// The values of `attrs` an element has, in order, borrowed.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key<'e> {
    values: [&'e str; KEY_ATTRS],
    len: usize,
}

/// Only the values hashed: journeys split over files index thousands of steps per file.
impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.values[..self.len].iter().copied(), state);
    }
}

fn hash_values<'v, H: Hasher>(values: impl Iterator<Item = &'v str>, state: &mut H) {
    for v in values {
        state.write(v.as_bytes());
        state.write_u8(0xff);
    }
}

/// `None` when the element has none of the attributes.
fn key_of<'e>(el: &'e Element, attrs: &[&str]) -> Option<Key<'e>> {
    debug_assert!(attrs.len() <= KEY_ATTRS);
    let mut key = Key { values: [""; KEY_ATTRS], len: 0 };
    for value in attrs.iter().filter_map(|a| el.attr(a)) {
        key.values[key.len] = value;
        key.len += 1;
    }
    (key.len > 0).then_some(key)
}

/// An owned [`Key`]: a path segment, and an item's key compared before and after its merge.
#[derive(Clone, Default, PartialEq, Eq)]
struct OwnedKey {
    values: [SmolStr; KEY_ATTRS],
    len: usize,
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.values[..self.len].iter().map(SmolStr::as_str), state);
    }
}

fn owned_key_of(el: &Element, attrs: &[&str]) -> Option<OwnedKey> {
    let mut key = OwnedKey::default();
    for value in attrs.iter().filter_map(|a| el.attribute(a)).map(|a| &a.value) {
        key.values[key.len] = value.clone();
        key.len += 1;
    }
    (key.len > 0).then_some(key)
}

/// Where each of `items` goes: the first item with its key in `index` (among `base`'s first
/// `len` children, or this overlay's items appended before it), or `None` (appended at `len`,
/// `len + 1`, ..., and indexed so later items with its key merge into it); and how many are appended.
fn place(
    index: &mut KeyTable,
    hasher: &DefaultHashBuilder,
    base: &[Element],
    items: &[Element],
    attrs: &[&str],
) -> (Vec<Option<usize>>, usize) {
    let len = base.len();
    // An index kept from earlier files grows by this file's items: once, not by rehashing.
    index.reserve(items.len());
    // The overlay item at each position from `len` on.
    let mut appended: Vec<usize> = Vec::new();
    let mut targets = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let target = key_of(item, attrs).and_then(|key| {
            let hash = hasher.hash_one(key);
            let at = |i: usize| if i < len { &base[i] } else { &items[appended[i - len]] };
            index.first_or_insert(hash, len + appended.len(), |i| key_of(at(i), attrs) == Some(key))
        });
        if target.is_none() {
            appended.push(n);
        }
        targets.push(target);
    }
    (targets, appended.len())
}

fn claim_key(el: &Element) -> Option<&str> {
    el.attr("ClaimTypeReferenceId").or_else(|| el.attr("DisplayControlReferenceId")).or_else(|| el.attr("ReferenceId"))
}

/// The key of an item of a list merged by `MergeBehavior`.
fn behavior_key(el: &Element, list: List) -> Option<&str> {
    match list {
        List::ByAttrWithBehavior(a) => el.attr(a),
        _ => el.text.as_deref(),
    }
}

/// The first position of each key among `base`'s children named `name`, with room for `extra`.
fn index_keys(base: &Element, name: &str, attrs: &[&str], extra: usize, hasher: &DefaultHashBuilder) -> KeyTable {
    let mut index = KeyTable::with_capacity(base.children.len() + extra);
    for (i, c) in base.children.iter().enumerate().filter(|(_, c)| c.name == name) {
        if let Some(key) = key_of(c, attrs) {
            index.first_or_insert(hasher.hash_one(key), i, |at| key_of(&base.children[at], attrs) == Some(key));
        }
    }
    index
}

fn merge_list(base: &mut Element, items: &[Element], name: &str, list: List, behavior: &str, ix: &mut Indexes) {
    if !matches!(list, List::ByAttr(..)) {
        ix.replaced();
    }
    match list {
        List::Concat => base.children.to_mut().extend(items.iter().cloned()),
        List::ByAttr(attrs, rule) => {
            // Where each item goes is decided first, against keys indexed (first match wins, as
            // a scan would): scanning the base for every item made long lists, such as journeys
            // split over files, quadratic. Short lists are indexed per overlay; long ones keep
            // their index across the chain's files. `None`: appended.
            let len = base.children.len();
            let mut kept = None;
            let mut index = if ix.enabled && len >= LONG_LIST {
                let path = ix.list_path(name);
                let index = match ix.lists.remove(&path) {
                    Some(cached) if cached.len == len => cached.keys,
                    _ => index_keys(base, name, attrs, items.len(), &ix.hasher),
                };
                kept = Some(path);
                index
            } else {
                index_keys(base, name, attrs, items.len(), &ix.hasher)
            };
            let (targets, appended) = place(&mut index, &ix.hasher, &base.children, items, attrs);
            let kept = kept.map(|path| (path, index));
            let mut keys_held = true;
            // Room for the appended items made once (a journey continued in another file).
            if appended > 0 {
                base.children.to_mut().reserve(appended);
            }
            for (item, target) in items.iter().zip(targets) {
                let Some(i) = target else {
                    base.children.to_mut().push(item.clone());
                    continue;
                };
                let key = if ix.enabled { owned_key_of(&base.children[i], attrs) } else { None };
                ix.enter(|| Seg::Name(name.into()));
                ix.enter(|| Seg::Key(key.clone().unwrap_or_default()));
                merge_element(&mut base.children[i], item, rule, ix);
                if ix.enabled && owned_key_of(&base.children[i], attrs) != key {
                    // The merge changed the item's key: what was indexed under it is stale.
                    ix.replaced();
                    keys_held = false;
                }
                ix.leave();
                ix.leave();
            }
            if let Some((path, keys)) = kept.filter(|_| keys_held) {
                ix.lists.insert(path, ListIndex { keys, len: base.children.len() });
            }
        }
        List::Claims => {
            let rule = if ix.claim_item == ClaimItem::Whole { Rule::Replace } else { Rule::Deep };
            let base_keys: Vec<Option<&str>> = base.children.iter().map(claim_key).collect();
            let relists_all = !base_keys.is_empty()
                && base_keys.iter().all(|k| k.is_some() && items.iter().any(|i| claim_key(i) == *k));
            if relists_all {
                // The author listed the entire list to set its order (Microsoft's "add a claim" guide).
                let mut merged = ThinVec::with_capacity(items.len());
                for item in items {
                    let mut m = base
                        .children
                        .iter()
                        .find(|c| claim_key(c) == claim_key(item))
                        .cloned()
                        .unwrap_or_else(|| item.clone());
                    merge_element(&mut m, item, rule, &mut Indexes::default());
                    merged.push(m);
                }
                base.children = merged.into();
            } else {
                for item in items {
                    let k = claim_key(item);
                    match base.children.find_mut(|c| k.is_some() && claim_key(c) == k) {
                        Some(e) => merge_element(e, item, rule, &mut Indexes::default()),
                        None => base.children.to_mut().push(item.clone()),
                    }
                }
            }
        }
        List::ByTextWithBehavior | List::ByAttrWithBehavior(_) => match behavior {
            "Append" | "Prepend" => {
                let fresh: Vec<Element> = items
                    .iter()
                    .filter(|i| {
                        !base.children.iter().any(|c| c.name == name && behavior_key(c, list) == behavior_key(i, list))
                    })
                    .cloned()
                    .collect();
                for item in items {
                    let key = behavior_key(item, list);
                    if let Some(e) = base.children.find_mut(|c| c.name == name && behavior_key(c, list) == key) {
                        *e = item.clone();
                    }
                }
                let at = if behavior == "Prepend" {
                    base.children.iter().position(|c| c.name == name).unwrap_or(base.children.len())
                } else {
                    base.children.iter().rposition(|c| c.name == name).map_or(base.children.len(), |p| p + 1)
                };
                base.children.to_mut().splice(at..at, fresh);
            }
            _ => {
                let at = base.children.iter().position(|c| c.name == name).unwrap_or(base.children.len());
                base.children.to_mut().retain(|c| c.name != name);
                let at = at.min(base.children.len());
                base.children.to_mut().splice(at..at, items.iter().cloned());
            }
        },
    }
}

/// TechnicalProfiles merge by Id across the whole chain, whatever ClaimsProvider wraps them.
fn merge_claims_providers(base: &mut Element, overlay: &Element) {
    for provider in overlay.children_named("ClaimsProvider") {
        let mut fresh = provider.clone();
        if let Some(tps) = fresh.child_mut("TechnicalProfiles") {
            tps.children.to_mut().retain(|tp| {
                let Some(id) = tp.attr("Id") else { return true };
                match find_profile(base, id) {
                    Some(existing) => {
                        merge_element(existing, tp, Rule::Deep, &mut Indexes::default());
                        false
                    }
                    None => true,
                }
            });
        }
        let has_new = fresh.child("TechnicalProfiles").is_some_and(|t| !t.children.is_empty());
        if !has_new {
            continue;
        }
        let display = provider.child_text("DisplayName");
        let same = base
            .children
            .iter_mut()
            .find(|p| p.name == "ClaimsProvider" && display.is_some() && p.child_text("DisplayName") == display);
        match same.and_then(|p| p.child_mut("TechnicalProfiles")) {
            Some(tps) => {
                if let Some(new) = fresh.child("TechnicalProfiles") {
                    tps.children.to_mut().extend(new.children.iter().cloned());
                }
            }
            None => base.children.to_mut().push(fresh),
        }
    }
}

fn find_profile<'a>(providers: &'a mut Element, id: &str) -> Option<&'a mut Element> {
    // Found by position first: descending mutably would copy every shared list on the way.
    let (p, t, i) = providers.children.iter().enumerate().filter(|(_, p)| p.name == "ClaimsProvider").find_map(
        |(p, provider)| {
            let mut lists = provider.children.iter().enumerate().filter(|(_, c)| c.name == "TechnicalProfiles");
            lists.find_map(|(t, tps)| tps.children.iter().position(|tp| tp.attr("Id") == Some(id)).map(|i| (p, t, i)))
        },
    )?;
    Some(&mut providers.children.to_mut()[p].children.to_mut()[t].children.to_mut()[i])
}

/// Inserts a child the base lacks where the schema's sequence puts it, so the merged document
/// stays schema-ordered.
fn insert_in_schema_order(parent: &mut Element, child: Element) {
    let order = child_order(&parent.name);
    let rank = |name: &str| order.iter().position(|n| *n == name);
    let Some(r) = rank(&child.name) else {
        parent.children.to_mut().push(child);
        return;
    };
    let at =
        parent.children.iter().position(|c| rank(&c.name).is_some_and(|cr| cr > r)).unwrap_or(parent.children.len());
    parent.children.to_mut().insert(at, child);
}

/// Child order of the containers that overlays commonly extend ([xsd] sequences).
fn child_order(parent: &str) -> &'static [&'static str] {
    match parent {
        "TrustFrameworkPolicy" => &[
            "BasePolicy",
            "PolicyConstraints",
            "Contacts",
            "DocumentReferences",
            "BuildingBlocks",
            "ClaimsProviders",
            "UserJourneys",
            "SubJourneys",
            "RelyingParty",
        ],
        "BuildingBlocks" => &[
            "ClaimsSchema",
            "Predicates",
            "InputValidations",
            "PredicateValidations",
            "ClaimsTransformations",
            "ClientDefinitions",
            "ContentDefinitions",
            "Localization",
            "DisplayControls",
        ],
        "ClaimType" => &[
            "DisplayName",
            "DataType",
            "DefaultPartnerClaimTypes",
            "Mask",
            "AdminHelpText",
            "UserHelpText",
            "UserInputType",
            "Restriction",
            "InputValidationReference",
            "PredicateValidationReference",
        ],
        "TechnicalProfile" => &[
            "Domain",
            "DisplayName",
            "Description",
            "Protocol",
            "InputTokenFormat",
            "OutputTokenFormat",
            "AssuranceLevelOfOutputClaims",
            "RequiredAssuranceLevelsOfInputClaims",
            "SubjectAuthenticationRequirements",
            "Metadata",
            "CryptographicKeys",
            "Suppressions",
            "PreferredBinding",
            "IncludeInSso",
            "InputTokenSources",
            "InputClaimsTransformations",
            "InputClaims",
            "DisplayClaims",
            "PersistedClaims",
            "OutputClaims",
            "OutputClaimsTransformations",
            "ValidationTechnicalProfiles",
            "SubjectNamingInfo",
            "Extensions",
            "IncludeClaimsFromTechnicalProfile",
            "IncludeTechnicalProfile",
            "UseTechnicalProfileForSessionManagement",
            "ErrorHandlers",
            "EnabledForUserJourneys",
        ],
        "UserJourney" | "SubJourney" => &[
            "AssuranceLevel",
            "PreserveOriginalAssertion",
            "Authorization",
            "OrchestrationSteps",
            "ClientDefinition",
            "CryptographicKeys",
        ],
        "OrchestrationStep" => &["Preconditions", "ClaimsProviderSelections", "ClaimsExchanges", "JourneyList"],
        "RelyingParty" => &["DefaultUserJourney", "Endpoints", "UserJourneyBehaviors", "TechnicalProfile"],
        "ContentDefinition" => &["LoadUri", "RecoveryUri", "DataUri", "Metadata", "LocalizedResourcesReferences"],
        "ClaimsProvider" => &["Domain", "DisplayName", "TechnicalProfiles"],
        _ => &[],
    }
}

/// `overlay` layered on a copy of `base` with the rules of inheritance, as one more file of a
/// chain would be (the merge tests check [`merge_chain`] against it).
pub fn layer(base: &Element, overlay: &Element) -> Element {
    let mut out = base.clone();
    merge_element(&mut out, overlay, Rule::Deep, &mut Indexes::default());
    out
}

/// `profile` layered on a copy of the profile it includes (IncludeTechnicalProfile): the rules
/// of [`layer`], except that a claim the including profile re-lists is its own whole: Microsoft's
/// username sample re-lists `strongAuthenticationEmailAddress` without the included profile's
/// PartnerClaimType to read the attribute of that name.
pub fn include(included: &Element, profile: &Element) -> Element {
    let mut out = included.clone();
    let mut ix = Indexes { claim_item: ClaimItem::Whole, ..Indexes::default() };
    merge_element(&mut out, profile, Rule::Deep, &mut ix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{FileId, Span};

    fn attribute(name: &str, value: &str, file: u32, at: usize) -> Attribute {
        let span = Span::new(FileId(file), at, at + 1);
        Attribute { name: name.into(), value: value.into(), name_span: span, value_span: span }
    }

    /// Enough attributes to take the map: its result is the scan's, attribute by attribute.
    #[test]
    fn many_attributes_merge_as_a_few_do() {
        let mut base: Attributes = (0..100).map(|i| attribute(&format!("a{i}"), "base", 0, i)).collect();
        let overlay: Attributes = (10..60)
            .map(|i| attribute(&format!("a{i}"), &format!("over{i}"), 1, i))
            .chain((0..10).map(|i| attribute(&format!("n{i}"), "new", 1, 100 + i)))
            .collect();
        assert!((base.len() + overlay.len()) * overlay.len() > 4096, "the map branch");
        // One overlay attribute at a time is far under the threshold: the scan.
        let mut scanned = base.clone();
        for a in overlay.iter() {
            merge_attributes(&mut scanned, &std::iter::once(a.clone()).collect());
        }
        merge_attributes(&mut base, &overlay);
        assert_eq!(base, scanned);
        let names: Vec<String> = (0..100).map(|i| format!("a{i}")).chain((0..10).map(|i| format!("n{i}"))).collect();
        assert_eq!(base.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), names);
        for (i, a) in base.iter().enumerate() {
            let (value, file, at) = match i {
                10..60 => (format!("over{i}"), 1, i),
                100.. => ("new".to_owned(), 1, i),
                _ => ("base".to_owned(), 0, i),
            };
            assert_eq!(a.value, value, "{}", a.name);
            assert_eq!(a.name_span, Span::new(FileId(file), at, at + 1), "{}", a.name);
            assert_eq!(a.value_span, a.name_span, "{}", a.name);
        }
    }
}
