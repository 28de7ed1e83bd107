//! The compiled schema: declarations, simple types and one deterministic automaton per
//! element-only content model.

use std::collections::{HashMap, VecDeque};

use regex::Regex;

pub(super) type ElemId = u32;
pub(super) type SimpleId = u32;
pub(super) type ComplexId = u32;

#[derive(Debug)]
pub(super) struct Schema {
    pub(super) elements: Vec<ElementDecl>,
    pub(super) complex: Vec<ComplexType>,
    pub(super) simple: Vec<SimpleType>,
    pub(super) globals: HashMap<Box<str>, ElemId>,
    /// XSD constructs that could not be compiled; a test keeps this empty for the shipped XSD.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by tests"))]
    pub(super) problems: Vec<String>,
}

impl Schema {
    pub(super) fn global(&self, name: &str) -> Option<&ElementDecl> {
        self.globals.get(name).and_then(|&id| self.elements.get(id as usize))
    }
}

#[derive(Debug)]
pub(super) struct ElementDecl {
    pub(super) name: Box<str>,
    pub(super) ty: TypeRef,
    pub(super) keys: Vec<Key>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TypeRef {
    Complex(ComplexId),
    Simple(SimpleId),
    /// xs:anyType: any attributes, any content.
    Any,
}

#[derive(Debug)]
pub(super) struct ComplexType {
    pub(super) attrs: Vec<AttrDecl>,
    pub(super) any_attribute: bool,
    pub(super) mixed: bool,
    pub(super) content: Content,
}

#[derive(Debug)]
pub(super) enum Content {
    Empty,
    Simple(SimpleId),
    Elements(Model),
    /// xs:all: each element at most once, in any order.
    All(Vec<(ElemId, bool)>),
}

#[derive(Debug)]
pub(super) struct AttrDecl {
    pub(super) name: Box<str>,
    pub(super) ty: SimpleId,
    pub(super) required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Builtin {
    String,
    Boolean,
    Int,
    Integer,
    /// Types whose lexical space we do not check (anyURI, anySimpleType, ...).
    Unchecked,
}

#[derive(Debug)]
pub(super) struct SimpleType {
    pub(super) name: Box<str>,
    pub(super) builtin: Builtin,
    /// Empty means no enumeration facet.
    pub(super) enums: Vec<Box<str>>,
    /// Each derivation step's patterns are alternatives; all steps must hold.
    pub(super) patterns: Vec<Vec<(Regex, Box<str>)>>,
    pub(super) min_len: Option<usize>,
    pub(super) max_len: Option<usize>,
}

/// An xs:key: the field's value is unique among the nodes the selector picks.
#[derive(Debug)]
pub(super) struct Key {
    pub(super) name: Box<str>,
    pub(super) selector: Vec<Path>,
    pub(super) field: Field,
}

#[derive(Debug)]
pub(super) struct Path {
    /// Starts with `.//`.
    pub(super) descendants: bool,
    pub(super) steps: Vec<Step>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    SelfNode,
    AnyChild,
    Child(Box<str>),
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) steps: Vec<Step>,
    /// `None`: the text of the node the steps reach.
    pub(super) attr: Option<Box<str>>,
}

/// A particle with its occurrence bounds; `max: None` is unbounded.
#[derive(Clone, Debug)]
pub(super) struct Occ {
    pub(super) particle: Particle,
    pub(super) min: u32,
    pub(super) max: Option<u32>,
}

#[derive(Clone, Debug)]
pub(super) enum Particle {
    Element(ElemId),
    Any,
    Sequence(Vec<Occ>),
    Choice(Vec<Occ>),
}

/// Bounds above this are treated as unbounded (and minimums clamped) to keep automata small.
const MAX_EXPANDED: u32 = 32;

pub(super) type Sym = u16;
const ANY: Sym = Sym::MAX;

/// A deterministic automaton over child element names. State 0 is the start.
#[derive(Debug)]
pub(super) struct Model {
    /// The alphabet in schema order; a symbol is an index into it.
    pub(super) names: Vec<(Box<str>, ElemId)>,
    /// How often each symbol may occur in total (`None`: unbounded).
    pub(super) max: Vec<Option<u32>>,
    pub(super) states: Vec<DState>,
}

#[derive(Debug, Default)]
pub(super) struct DState {
    pub(super) accept: bool,
    /// Sorted by symbol, so expected names come out in schema order.
    pub(super) edges: Vec<(Sym, u32)>,
    pub(super) any: Option<u32>,
}

/// Where a child leads: a declared element, or a wildcard (content skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Element(ElemId),
    Wildcard,
}

impl Model {
    pub(super) fn sym(&self, name: &str) -> Option<Sym> {
        self.names.iter().position(|(n, _)| &**n == name).map(|i| i as Sym)
    }

    pub(super) fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("any element", |(n, _)| n)
    }

    fn state(&self, state: u32) -> Option<&DState> {
        self.states.get(state as usize)
    }

    pub(super) fn accepts(&self, state: u32) -> bool {
        self.state(state).is_some_and(|s| s.accept)
    }

    /// The transition on a child, by name first and then by wildcard.
    pub(super) fn step(&self, state: u32, sym: Option<Sym>) -> Option<(u32, Target)> {
        let st = self.state(state)?;
        if let Some(sym) = sym
            && let Ok(i) = st.edges.binary_search_by_key(&sym, |&(s, _)| s)
        {
            let decl = self.names.get(sym as usize).map(|&(_, d)| d)?;
            return Some((st.edges[i].1, Target::Element(decl)));
        }
        st.any.map(|next| (next, Target::Wildcard))
    }

    /// Names allowed next, in schema order.
    pub(super) fn expected(&self, state: u32) -> Vec<&str> {
        let Some(st) = self.state(state) else { return Vec::new() };
        let mut out: Vec<&str> = st.edges.iter().map(|&(s, _)| self.name(s)).collect();
        if st.any.is_some() {
            out.push("any element");
        }
        out
    }

    /// Shortest run of children from `state` to a state satisfying `goal`: the symbols and the
    /// state reached. Used to name missing required elements.
    pub(super) fn shortest(&self, state: u32, goal: impl Fn(&DState) -> bool) -> Option<(Vec<Sym>, u32)> {
        let mut prev: Vec<Option<(u32, Sym)>> = vec![None; self.states.len()];
        let mut seen = vec![false; self.states.len()];
        let mut queue = VecDeque::from([state]);
        *seen.get_mut(state as usize)? = true;
        while let Some(s) = queue.pop_front() {
            let st = self.state(s)?;
            if goal(st) {
                let mut path = Vec::new();
                let mut at = s;
                while let Some((p, sym)) = prev[at as usize] {
                    path.push(sym);
                    at = p;
                }
                path.reverse();
                return Some((path, s));
            }
            let any = st.any.map(|n| (ANY, n));
            for (sym, next) in st.edges.iter().copied().chain(any) {
                if let Some(flag) = seen.get_mut(next as usize)
                    && !*flag
                {
                    *flag = true;
                    prev[next as usize] = Some((s, sym));
                    queue.push_back(next);
                }
            }
        }
        None
    }

    pub(super) fn has_edge(st: &DState, sym: Sym) -> bool {
        st.edges.binary_search_by_key(&sym, |&(s, _)| s).is_ok()
    }

    /// Thompson construction, then subset construction. `name_of` gives a declaration's name.
    pub(super) fn build(root: &Occ, name_of: &dyn Fn(ElemId) -> Box<str>) -> Model {
        let mut names: Vec<(Box<str>, ElemId)> = Vec::new();
        let mut max: Vec<Option<u32>> = Vec::new();
        alphabet(root, Some(1), name_of, &mut names, &mut max);
        let sym_of = |id: ElemId| -> Sym {
            let name = name_of(id);
            names.iter().position(|(n, _)| *n == name).map_or(ANY, |i| i as Sym)
        };
        let mut nfa = Nfa::default();
        let (start, end) = nfa.occ(root, &sym_of);

        let mut states: Vec<DState> = Vec::new();
        let mut sets: Vec<Vec<u32>> = Vec::new();
        let mut index: HashMap<Vec<u32>, u32> = HashMap::new();
        let first = nfa.closure(vec![start]);
        index.insert(first.clone(), 0);
        sets.push(first);
        let mut i = 0;
        while i < sets.len() {
            let set = sets[i].clone();
            let mut st = DState { accept: set.contains(&end), ..DState::default() };
            let syms = (0..names.len() as Sym).map(Some).chain([None]);
            for sym in syms {
                let mut moved: Vec<u32> = Vec::new();
                for &s in &set {
                    for &(t, to) in &nfa.trans[s as usize] {
                        // A wildcard also matches declared names.
                        if t == ANY || Some(t) == sym {
                            moved.push(to);
                        }
                    }
                }
                if moved.is_empty() {
                    continue;
                }
                let target = nfa.closure(moved);
                let id = match index.get(&target) {
                    Some(&id) => id,
                    None => {
                        let id = sets.len() as u32;
                        index.insert(target.clone(), id);
                        sets.push(target);
                        id
                    }
                };
                match sym {
                    Some(sym) => st.edges.push((sym, id)),
                    None => st.any = Some(id),
                }
            }
            states.push(st);
            i += 1;
        }
        Model { names, max, states }
    }
}

fn alphabet(
    occ: &Occ,
    mult: Option<u32>,
    name_of: &dyn Fn(ElemId) -> Box<str>,
    names: &mut Vec<(Box<str>, ElemId)>,
    max: &mut Vec<Option<u32>>,
) {
    let mult = match (mult, occ.max) {
        (Some(a), Some(b)) => a.checked_mul(b),
        _ => None,
    };
    match &occ.particle {
        Particle::Element(id) => {
            let name = name_of(*id);
            match names.iter().position(|(n, _)| *n == name) {
                Some(i) => max[i] = max[i].zip(mult).and_then(|(a, b)| a.checked_add(b)),
                None => {
                    names.push((name, *id));
                    max.push(mult);
                }
            }
        }
        Particle::Any => {}
        Particle::Sequence(items) | Particle::Choice(items) => {
            for item in items {
                alphabet(item, mult, name_of, names, max);
            }
        }
    }
}

#[derive(Default)]
struct Nfa {
    eps: Vec<Vec<u32>>,
    trans: Vec<Vec<(Sym, u32)>>,
}

impl Nfa {
    fn state(&mut self) -> u32 {
        self.eps.push(Vec::new());
        self.trans.push(Vec::new());
        self.eps.len() as u32 - 1
    }

    fn eps(&mut self, from: u32, to: u32) {
        self.eps[from as usize].push(to);
    }

    /// A fragment for a particle with its bounds, copies unrolled.
    fn occ(&mut self, occ: &Occ, sym_of: &dyn Fn(ElemId) -> Sym) -> (u32, u32) {
        let min = occ.min.min(MAX_EXPANDED);
        let max = occ.max.filter(|&m| m <= MAX_EXPANDED).map(|m| m.max(min));
        let start = self.state();
        let mut cur = start;
        for _ in 0..min {
            let (s, e) = self.once(&occ.particle, sym_of);
            self.eps(cur, s);
            cur = e;
        }
        let end = self.state();
        match max {
            None => {
                let hub = self.state();
                self.eps(cur, hub);
                let (s, e) = self.once(&occ.particle, sym_of);
                self.eps(hub, s);
                self.eps(e, hub);
                self.eps(hub, end);
            }
            Some(max) => {
                for _ in min..max {
                    let (s, e) = self.once(&occ.particle, sym_of);
                    self.eps(cur, end);
                    self.eps(cur, s);
                    cur = e;
                }
                self.eps(cur, end);
            }
        }
        (start, end)
    }

    fn once(&mut self, particle: &Particle, sym_of: &dyn Fn(ElemId) -> Sym) -> (u32, u32) {
        let s = self.state();
        let e = self.state();
        match particle {
            Particle::Element(id) => self.trans[s as usize].push((sym_of(*id), e)),
            Particle::Any => self.trans[s as usize].push((ANY, e)),
            Particle::Sequence(items) => {
                let mut cur = s;
                for item in items {
                    let (fs, fe) = self.occ(item, sym_of);
                    self.eps(cur, fs);
                    cur = fe;
                }
                self.eps(cur, e);
            }
            Particle::Choice(items) => {
                for item in items {
                    let (fs, fe) = self.occ(item, sym_of);
                    self.eps(s, fs);
                    self.eps(fe, e);
                }
            }
        }
        (s, e)
    }

    fn closure(&self, mut stack: Vec<u32>) -> Vec<u32> {
        let mut seen = vec![false; self.eps.len()];
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s as usize], true) {
                continue;
            }
            out.push(s);
            stack.extend(self.eps[s as usize].iter().copied());
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(id: ElemId, min: u32, max: Option<u32>) -> Occ {
        Occ { particle: Particle::Element(id), min, max }
    }

    fn names(id: ElemId) -> Box<str> {
        ["A", "B", "C"][id as usize].into()
    }

    fn run(m: &Model, input: &[&str]) -> bool {
        let mut s = 0;
        for n in input {
            match m.step(s, m.sym(n)) {
                Some((next, _)) => s = next,
                None => return false,
            }
        }
        m.accepts(s)
    }

    #[test]
    fn sequence_choice_and_bounds() {
        // (A, (B | C){0,2}, A?)
        let root = Occ {
            particle: Particle::Sequence(vec![
                el(0, 1, Some(1)),
                Occ { particle: Particle::Choice(vec![el(1, 1, Some(1)), el(2, 1, Some(1))]), min: 0, max: Some(2) },
                el(0, 0, Some(1)),
            ]),
            min: 1,
            max: Some(1),
        };
        let m = Model::build(&root, &names);
        assert!(run(&m, &["A"]));
        assert!(run(&m, &["A", "B", "C", "A"]));
        assert!(!run(&m, &["A", "B", "C", "B"]));
        assert!(!run(&m, &[]));
        assert_eq!(m.max, vec![Some(2), Some(2), Some(2)]);
        assert_eq!(m.expected(0), vec!["A"]);
    }

    #[test]
    fn unbounded_and_wildcard() {
        let root = Occ {
            particle: Particle::Sequence(vec![el(0, 1, None), Occ { particle: Particle::Any, min: 0, max: None }]),
            min: 1,
            max: Some(1),
        };
        let m = Model::build(&root, &names);
        assert!(run(&m, &["A", "A", "A", "Zed", "A"]));
        assert!(!run(&m, &["Zed"]));
        assert_eq!(m.max, vec![None]);
    }
}
