//! Walks a parsed file against the compiled schema and reports every violation in one pass.

use std::collections::HashMap;

use super::model::*;
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::syntax::{Attribute, Element};

/// Deeper than any path the schema declares; guards recursive schemas against hostile input.
const MAX_DEPTH: u32 = 256;

pub(super) struct Checker<'s> {
    pub(super) schema: &'s Schema,
    pub(super) diags: Vec<Diagnostic>,
}

/// What a checked value belongs to; formatted only when it is wrong.
#[derive(Clone, Copy)]
enum What<'a> {
    Attribute(&'a str),
    Element(&'a str),
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Attribute(n) => write!(f, "attribute '{n}'"),
            What::Element(n) => write!(f, "element '{n}'"),
        }
    }
}

/// `'A', 'B', 'C'`
fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

/// Namespace declarations and prefixed attributes (xsi:*, xml:*) are not the schema's business.
fn ignored_attribute(el: &Element, a: &Attribute) -> bool {
    a.name == "xmlns"
        || a.name.starts_with("xmlns:")
        || (a.name_span != el.name_span && a.name_span.len() > a.name.len())
}

fn suggestion(name: &str, primary: &[&str], fallback: &[&str]) -> Option<String> {
    let guess = did_you_mean(name, primary.iter().copied()).or_else(|| did_you_mean(name, fallback.iter().copied()));
    guess.filter(|g| *g != name).map(|g| format!("did you mean '{g}'? "))
}

impl<'s> Checker<'s> {
    pub(super) fn element(&mut self, el: &Element, decl: &ElementDecl, depth: u32) {
        if depth > MAX_DEPTH {
            return;
        }
        match decl.ty {
            TypeRef::Any => {}
            TypeRef::Simple(st) => {
                self.attributes(el, None);
                self.no_children(el, "text only");
                self.text(el, st);
            }
            TypeRef::Complex(ct) => {
                let Some(ty) = self.schema.complex.get(ct as usize) else { return };
                self.attributes(el, Some(ty));
                match &ty.content {
                    Content::Empty => {
                        if !ty.mixed {
                            self.no_text(el);
                        }
                        self.no_children(el, "empty");
                    }
                    Content::Simple(st) => {
                        self.no_children(el, "text only");
                        self.text(el, *st);
                    }
                    Content::Elements(model) => {
                        if !ty.mixed {
                            self.no_text(el);
                        }
                        self.children(el, model, depth);
                    }
                    Content::All(items) => {
                        if !ty.mixed {
                            self.no_text(el);
                        }
                        self.all(el, items, depth);
                    }
                }
            }
        }
        for key in &decl.keys {
            self.key(el, key);
        }
    }

    fn attributes(&mut self, el: &Element, ty: Option<&ComplexType>) {
        if ty.is_some_and(|t| t.any_attribute) {
            return;
        }
        let declared: &[AttrDecl] = ty.map_or(&[], |t| &t.attrs);
        for a in &el.attributes {
            if ignored_attribute(el, a) {
                continue;
            }
            match declared.iter().find(|d| *d.name == *a.name) {
                Some(d) => self.value(a.value_span, &a.value, d.ty, What::Attribute(&a.name)),
                None => {
                    let names: Vec<&str> = declared.iter().map(|d| &*d.name).collect();
                    let mut help = suggestion(&a.name, &names, &[]).unwrap_or_default();
                    if names.is_empty() {
                        help.push_str(&format!("'{}' takes no attributes", el.name));
                    } else {
                        help.push_str(&format!("allowed attributes: {}", quoted(&names)));
                    }
                    self.diags.push(
                        Diagnostic::new(
                            Code::UnknownAttribute,
                            a.name_span,
                            format!("The '{}' attribute is not declared on element '{}'.", a.name, el.name),
                        )
                        .with_help(help),
                    );
                }
            }
        }
        for d in declared.iter().filter(|d| d.required) {
            if el.attribute(&d.name).is_none() {
                self.diags.push(Diagnostic::new(
                    Code::MissingAttribute,
                    el.name_span,
                    format!("The required attribute '{}' is missing on element '{}'.", d.name, el.name),
                ));
            }
        }
    }

    fn no_children(&mut self, el: &Element, kind: &str) {
        for child in &el.children {
            self.diags.push(
                Diagnostic::new(
                    Code::UnexpectedElement,
                    child.name_span,
                    format!(
                        "The element '{}' cannot contain child element '{}' because its content model is {kind}.",
                        el.name, child.name
                    ),
                )
                .with_label(el.name_span, format!("'{}' declared here", el.name)),
            );
        }
    }

    fn no_text(&mut self, el: &Element) {
        if el.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
            self.diags.push(
                Diagnostic::new(
                    Code::InvalidAttributeValue,
                    el.text_span,
                    format!("The element '{}' cannot contain text; only child elements are allowed.", el.name),
                )
                .with_help("remove the text or move it into the child element it belongs to"),
            );
        }
    }

    fn text(&mut self, el: &Element, st: SimpleId) {
        let span = if el.text.is_some() { el.text_span } else { el.name_span };
        self.value(span, el.text(), st, What::Element(&el.name));
    }

    /// Checks a value against a simple type: built-in lexical form, enumeration, length, patterns.
    fn value(&mut self, span: Span, value: &str, st: SimpleId, what: What<'_>) {
        let Some(ty) = self.schema.simple.get(st as usize) else { return };
        let problem = match ty.builtin {
            Builtin::Boolean if !matches!(value.trim(), "true" | "false" | "1" | "0") => {
                Some("expected a boolean: 'true', 'false', '1' or '0'".to_owned())
            }
            Builtin::Int if !is_integer(value.trim()) || value.trim().parse::<i32>().is_err() => {
                Some("expected a 32-bit integer".to_owned())
            }
            Builtin::Integer if !is_integer(value.trim()) => Some("expected an integer".to_owned()),
            _ => None,
        };
        let problem = problem.or_else(|| {
            if !ty.enums.is_empty() && !ty.enums.iter().any(|e| **e == *value) {
                let names: Vec<&str> = ty.enums.iter().map(|e| &**e).collect();
                let mut help = suggestion(value, &names, &[]).unwrap_or_default();
                help.push_str(&format!("allowed values: {}", quoted(&names)));
                return Some(help);
            }
            let len = if ty.min_len.is_some() || ty.max_len.is_some() { value.chars().count() } else { 0 };
            if let Some(min) = ty.min_len.filter(|&m| len < m) {
                return Some(format!(
                    "the value must be at least {min} character{} long",
                    if min == 1 { "" } else { "s" }
                ));
            }
            if let Some(max) = ty.max_len.filter(|&m| len > m) {
                return Some(format!("the value must be at most {max} characters long"));
            }
            for group in &ty.patterns {
                if !group.iter().any(|(re, _)| re.is_match(value)) {
                    let pats: Vec<&str> = group.iter().map(|(_, p)| &**p).collect();
                    let one = if pats.len() == 1 { "the pattern" } else { "one of the patterns" };
                    return Some(format!("the value must match {one} {}", quoted(&pats)));
                }
            }
            None
        });
        if let Some(help) = problem {
            self.diags.push(
                Diagnostic::new(
                    Code::InvalidAttributeValue,
                    span,
                    format!("The value '{value}' of {what} is invalid according to its datatype '{}'.", ty.name),
                )
                .with_help(help),
            );
        }
    }

    /// Runs the content model over the children. A child that does not fit is reported and
    /// skipped (the state stays), except that a child further ahead resynchronises past
    /// missing required elements.
    fn children(&mut self, el: &Element, model: &Model, depth: u32) {
        let mut state = 0u32;
        for (i, child) in el.children.iter().enumerate() {
            let sym = model.sym(&child.name);
            if let Some((next, target)) = model.step(state, sym) {
                state = next;
                if let Target::Element(id) = target {
                    self.child(child, id, depth);
                }
                continue;
            }
            let expected = model.expected(state);
            let Some(sym) = sym else {
                let all: Vec<&str> = model.names.iter().map(|(n, _)| &**n).collect();
                let mut help = suggestion(&child.name, &expected, &all).unwrap_or_default();
                if expected.is_empty() {
                    help.push_str("no more child elements are allowed here");
                } else {
                    help.push_str(&format!("expected one of: {}", quoted(&expected)));
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::UnexpectedElement,
                        child.name_span,
                        format!("The element '{}' has invalid child element '{}'.", el.name, child.name),
                    )
                    .with_help(help),
                );
                continue;
            };
            let decl = model.names.get(sym as usize).map(|&(_, d)| d);
            let later = &el.children[i + 1..];
            // Ahead in the model, with only required elements in between that do not follow.
            let ahead = model
                .shortest(state, |st| Model::has_edge(st, sym))
                .filter(|(path, _)| path.iter().all(|&p| later.iter().all(|c| c.name != model.name(p))));
            if let Some((path, at)) = ahead {
                let missing: Vec<&str> = path.iter().map(|&p| model.name(p)).collect();
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingElement,
                        child.name_span,
                        format!(
                            "The element '{}' is missing required child element{} {} before '{}'.",
                            el.name,
                            if missing.len() == 1 { "" } else { "s" },
                            quoted(&missing),
                            child.name
                        ),
                    )
                    .with_help(format!("add {} before '{}'", quoted(&missing), child.name)),
                );
                if let Some((next, _)) = model.step(at, Some(sym)) {
                    state = next;
                }
            } else {
                let earlier: Vec<&Element> = el.children[..i].iter().filter(|c| c.name == child.name).collect();
                let max = model.max.get(sym as usize).copied().flatten();
                match (max, earlier.first()) {
                    (Some(max), Some(first)) if earlier.len() as u64 >= u64::from(max) => {
                        let times = if max == 1 { "once".to_owned() } else { format!("{max} times") };
                        self.diags.push(
                            Diagnostic::new(
                                Code::TooManyElements,
                                child.name_span,
                                format!(
                                    "The element '{}' has too many '{}' child elements; at most {times} allowed.",
                                    el.name, child.name
                                ),
                            )
                            .with_label(first.name_span, format!("first '{}' here", child.name))
                            .with_help(format!("merge the '{}' elements into one", child.name)),
                        );
                    }
                    _ => {
                        let list = if expected.is_empty() {
                            "no more elements are allowed here.".to_owned()
                        } else {
                            format!("List of possible elements expected: '{}'.", expected.join(", "))
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::ElementOrder,
                                child.name_span,
                                format!("The element '{}' has invalid child element '{}'. {list}", el.name, child.name),
                            )
                            .with_help(format!(
                                "'{}' is allowed in '{}' but not at this position; the schema fixes the order of children",
                                child.name, el.name
                            )),
                        );
                    }
                }
            }
            // Its own content is still checked.
            if let Some(id) = decl {
                self.child(child, id, depth);
            }
        }
        if !model.accepts(state) {
            let expected = model.expected(state);
            let missing = model
                .shortest(state, |st| st.accept)
                .map(|(path, _)| path.iter().map(|&p| model.name(p)).collect::<Vec<_>>())
                .unwrap_or_default();
            let mut d = Diagnostic::new(
                Code::MissingElement,
                el.name_span,
                format!(
                    "The element '{}' has incomplete content. List of possible elements expected: '{}'.",
                    el.name,
                    expected.join(", ")
                ),
            );
            if !missing.is_empty() {
                d = d.with_help(format!("add {}", quoted(&missing)));
            }
            self.diags.push(d);
        }
    }

    fn child(&mut self, child: &Element, id: ElemId, depth: u32) {
        if let Some(decl) = self.schema.elements.get(id as usize) {
            self.element(child, decl, depth + 1);
        }
    }

    fn all(&mut self, el: &Element, items: &[(ElemId, bool)], depth: u32) {
        let schema = self.schema;
        let names: Vec<&str> =
            items.iter().map(|&(id, _)| schema.elements.get(id as usize).map_or("", |d| &*d.name)).collect();
        let mut seen: Vec<Option<&Element>> = vec![None; items.len()];
        for child in &el.children {
            let Some(i) = names.iter().position(|n| *n == child.name) else {
                let help = suggestion(&child.name, &names, &[]).unwrap_or_default();
                self.diags.push(
                    Diagnostic::new(
                        Code::UnexpectedElement,
                        child.name_span,
                        format!("The element '{}' has invalid child element '{}'.", el.name, child.name),
                    )
                    .with_help(format!("{help}expected one of: {}", quoted(&names))),
                );
                continue;
            };
            if let Some(first) = seen[i] {
                self.diags.push(
                    Diagnostic::new(
                        Code::TooManyElements,
                        child.name_span,
                        format!(
                            "The element '{}' has too many '{}' child elements; at most once allowed.",
                            el.name, child.name
                        ),
                    )
                    .with_label(first.name_span, format!("first '{}' here", child.name)),
                );
            } else {
                seen[i] = Some(child);
            }
            self.child(child, items[i].0, depth);
        }
        let missing: Vec<&str> =
            items.iter().zip(&seen).zip(&names).filter(|((it, s), _)| it.1 && s.is_none()).map(|(_, n)| *n).collect();
        if !missing.is_empty() {
            self.diags.push(Diagnostic::new(
                Code::MissingElement,
                el.name_span,
                format!("The element '{}' has incomplete content. Missing: {}.", el.name, quoted(&missing)),
            ));
        }
    }

    /// xs:key: field values must be unique among the selected nodes under `el`.
    fn key(&mut self, el: &Element, key: &Key) {
        let mut nodes: Vec<&Element> = Vec::new();
        for path in &key.selector {
            select(el, path, &mut nodes);
        }
        if nodes.len() < 2 {
            return;
        }
        // One path of child steps selects each node once, in document order; only a union or a
        // `.//` path needs sorting (which reads every node again, scattered past the caches).
        let in_order = matches!(&key.selector[..], [path] if !path.descendants);
        if !in_order {
            nodes.sort_by_key(|n| n.span.start);
            nodes.dedup_by_key(|n| n.span.start);
        }
        let mut seen: HashMap<&str, Span> = HashMap::with_capacity(nodes.len());
        let last_step =
            key.field.steps.iter().rev().find_map(|s| if let Step::Child(n) = s { Some(&**n) } else { None });
        let field_name = key.field.attr.as_deref().or(last_step).unwrap_or("value");
        for node in nodes {
            let Some((value, span)) = field(node, &key.field) else { continue };
            match seen.get(value) {
                Some(&first) => self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        span,
                        format!(
                            "Duplicate {} {field_name} '{value}'; it must be unique within '{}'.",
                            node.name, el.name
                        ),
                    )
                    .with_label(first, format!("first {} with {field_name} '{value}'", node.name))
                    .with_help(format!("rename one of them (schema key '{}')", key.name)),
                ),
                None => {
                    seen.insert(value, span);
                }
            }
        }
    }
}

fn is_integer(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn apply<'e>(nodes: Vec<&'e Element>, steps: &[Step]) -> Vec<&'e Element> {
    let mut cur = nodes;
    for step in steps {
        cur = match step {
            Step::SelfNode => cur,
            Step::AnyChild => cur.iter().flat_map(|n| n.children.iter()).collect(),
            Step::Child(name) => cur.iter().flat_map(|n| n.children.iter()).filter(|c| *c.name == **name).collect(),
        };
        if cur.is_empty() {
            break;
        }
    }
    cur
}

fn select<'e>(el: &'e Element, path: &Path, out: &mut Vec<&'e Element>) {
    let starts = if path.descendants {
        // Descendants-or-self, iteratively: input depth is not bounded.
        let mut all = Vec::new();
        let mut stack = vec![el];
        while let Some(n) = stack.pop() {
            all.push(n);
            stack.extend(n.children.iter().rev());
        }
        all
    } else {
        vec![el]
    };
    out.extend(apply(starts, &path.steps));
}

fn field<'e>(node: &'e Element, field: &Field) -> Option<(&'e str, Span)> {
    let target = if field.steps.is_empty() { node } else { apply(vec![node], &field.steps).into_iter().next()? };
    match &field.attr {
        Some(a) => target.attribute(a).map(|a| (a.value.as_str(), a.value_span)),
        None => target.text.as_deref().map(|t| (t, target.text_span)),
    }
}
