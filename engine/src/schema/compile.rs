//! Turns the XSD (parsed with our own XML reader) into a [`Schema`]. Only the XSD constructs
//! the policy schema uses are understood; anything else is recorded in `Schema::problems`.

use std::collections::HashMap;

use regex::Regex;

use super::model::*;
use crate::source::FileId;
use crate::syntax::{Element, parse};

const XS_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema";

pub(super) fn compile(xsd: &str) -> Schema {
    let xsd = xsd.strip_prefix('\u{feff}').unwrap_or(xsd);
    let (root, diags) = parse(FileId(u32::MAX), xsd);
    let mut c = Compiler::default();
    for d in diags {
        c.problems.push(format!("XSD does not parse: {}", d.message));
    }
    if let Some(root) = &root {
        c.schema(root);
    }
    c.finish()
}

/// A complex type before extensions are resolved and automata built.
struct Raw {
    attrs: Vec<AttrDecl>,
    any_attribute: bool,
    mixed: bool,
    particle: Option<Occ>,
    all: Option<Vec<(ElemId, bool)>>,
    simple: Option<SimpleId>,
    /// Extension base (content and attributes are inherited), resolved in `finish`.
    base: Option<TypeRef>,
}

#[derive(Default)]
struct Compiler<'x> {
    xs_prefix: String,
    complex_index: HashMap<&'x str, ComplexId>,
    simple_index: HashMap<&'x str, SimpleId>,
    simple_nodes: Vec<Option<&'x Element>>,
    raw: Vec<Option<Raw>>,
    complex_nodes: Vec<&'x Element>,
    simple: Vec<Option<SimpleType>>,
    simple_busy: Vec<bool>,
    elements: Vec<ElementDecl>,
    globals: HashMap<Box<str>, ElemId>,
    problems: Vec<String>,
}

fn occurs(el: &Element) -> (u32, Option<u32>) {
    let min = el.attr("minOccurs").and_then(|v| v.trim().parse().ok()).unwrap_or(1);
    let max = match el.attr("maxOccurs").map(str::trim) {
        Some("unbounded") => None,
        Some(v) => Some(v.parse().unwrap_or(1)),
        None => Some(1),
    };
    (min, max)
}

fn is_annotation(el: &Element) -> bool {
    el.name == "annotation"
}

/// Built-in types take the first simple ids, in `Builtin` order.
const BUILTINS: [(&str, Builtin); 5] = [
    ("xs:string", Builtin::String),
    ("xs:boolean", Builtin::Boolean),
    ("xs:int", Builtin::Int),
    ("xs:integer", Builtin::Integer),
    ("xs:anySimpleType", Builtin::Unchecked),
];

fn builtin(local: &str) -> Option<Builtin> {
    Some(match local {
        "string" | "normalizedString" | "token" => Builtin::String,
        "boolean" => Builtin::Boolean,
        "int" => Builtin::Int,
        "integer" => Builtin::Integer,
        "anyURI" | "anySimpleType" => Builtin::Unchecked,
        _ => return None,
    })
}

impl<'x> Compiler<'x> {
    /// Splits `prefix:local`; true when the prefix is the XML Schema namespace.
    fn qname<'v>(&self, value: &'v str) -> (bool, &'v str) {
        match value.trim().split_once(':') {
            Some((p, local)) => (p == self.xs_prefix, local),
            None => (false, value.trim()),
        }
    }

    fn schema(&mut self, root: &'x Element) {
        self.xs_prefix = root
            .attributes
            .iter()
            .find(|a| a.value == XS_NAMESPACE && a.name.starts_with("xmlns:"))
            .map_or("xs".to_owned(), |a| a.name["xmlns:".len()..].to_owned());
        for (name, b) in BUILTINS {
            self.simple.push(Some(SimpleType::new(name, b)));
            self.simple_nodes.push(None);
            self.simple_busy.push(false);
        }
        // Reserve ids for named types and global elements so references resolve in any order.
        for child in &root.children {
            let Some(name) = child.attr("name") else { continue };
            match child.name.as_str() {
                "complexType" => {
                    self.complex_index.insert(name, self.raw.len() as ComplexId);
                    self.raw.push(None);
                    self.complex_nodes.push(child);
                }
                "simpleType" => {
                    self.simple_index.insert(name, self.simple.len() as SimpleId);
                    self.simple.push(None);
                    self.simple_nodes.push(Some(child));
                    self.simple_busy.push(false);
                }
                "element" => {
                    self.globals.insert(name.into(), self.elements.len() as ElemId);
                    self.elements.push(ElementDecl { name: name.into(), ty: TypeRef::Any, keys: Vec::new() });
                }
                _ => {}
            }
        }
        for id in 0..self.simple.len() {
            self.simple_type(id as SimpleId);
        }
        for id in 0..self.complex_nodes.len() {
            let node = self.complex_nodes[id];
            let raw = self.complex_type(node);
            self.raw[id] = Some(raw);
        }
        for child in &root.children {
            match child.name.as_str() {
                "element" => {
                    if let Some(&id) = child.attr("name").and_then(|n| self.globals.get(n)) {
                        let decl = self.element_decl(child);
                        self.elements[id as usize] = decl;
                    }
                }
                "complexType" | "simpleType" | "annotation" => {}
                other => self.problems.push(format!("top-level xs:{other} is not supported")),
            }
        }
    }

    /// Compiles a named simple type on first use (bases may come later in the file).
    fn simple_type(&mut self, id: SimpleId) -> SimpleId {
        let i = id as usize;
        if self.simple.get(i).is_some_and(Option::is_some) || self.simple_busy.get(i).is_none_or(|b| *b) {
            return id;
        }
        self.simple_busy[i] = true;
        let node = self.simple_nodes[i];
        let st = match node {
            Some(node) => self.restriction(node),
            None => SimpleType::new("anySimpleType", Builtin::Unchecked),
        };
        self.simple[i] = Some(st);
        id
    }

    fn simple_ref(&mut self, value: &str) -> SimpleId {
        let (is_xs, local) = self.qname(value);
        if is_xs {
            return match builtin(local) {
                Some(b) => b as SimpleId,
                None => {
                    self.problems.push(format!("unknown built-in type xs:{local}"));
                    Builtin::Unchecked as SimpleId
                }
            };
        }
        match self.simple_index.get(local) {
            Some(&id) => self.simple_type(id),
            None => {
                self.problems.push(format!("unknown simple type '{value}'"));
                Builtin::Unchecked as SimpleId
            }
        }
    }

    fn type_ref(&mut self, value: &str) -> TypeRef {
        let (is_xs, local) = self.qname(value);
        if is_xs && local == "anyType" {
            return TypeRef::Any;
        }
        if !is_xs && let Some(&id) = self.complex_index.get(local) {
            return TypeRef::Complex(id);
        }
        TypeRef::Simple(self.simple_ref(value))
    }

    /// An xs:simpleType (named or inline): a restriction with facets.
    fn restriction(&mut self, node: &Element) -> SimpleType {
        let name: Box<str> = node.attr("name").unwrap_or("(anonymous)").into();
        let Some(r) = node.children.iter().find(|c| c.name == "restriction") else {
            if node.children.iter().any(|c| !is_annotation(c)) {
                self.problems.push(format!("simple type '{name}': only xs:restriction is supported"));
            }
            return SimpleType::new(&name, Builtin::Unchecked);
        };
        let base = r.attr("base").map_or(Builtin::Unchecked as SimpleId, |b| self.simple_ref(b));
        let mut st = match self.simple.get(base as usize).and_then(Option::as_ref) {
            Some(b) => b.derive(&name),
            None => SimpleType::new(&name, Builtin::Unchecked),
        };
        let mut enums = Vec::new();
        let mut patterns = Vec::new();
        for f in &r.children {
            let value = f.attr("value").unwrap_or("");
            match f.name.as_str() {
                "enumeration" => enums.push(value.into()),
                // XSD patterns are whole-value matches. A leading ^ or trailing $ inside one is
                // an anchor to .NET (which B2C uses), and also to the regex crate.
                "pattern" => match Regex::new(&format!("^(?:{value})$")) {
                    Ok(re) => patterns.push((re, value.into())),
                    Err(_) => self.problems.push(format!("simple type '{name}': pattern '{value}' does not compile")),
                },
                "minLength" => st.min_len = value.trim().parse().ok(),
                "maxLength" => st.max_len = value.trim().parse().ok(),
                "length" => {
                    st.min_len = value.trim().parse().ok();
                    st.max_len = st.min_len;
                }
                "annotation" => {}
                other => self.problems.push(format!("simple type '{name}': facet xs:{other} is not supported")),
            }
        }
        if !enums.is_empty() {
            st.enums = enums;
        }
        if !patterns.is_empty() {
            st.patterns.push(patterns);
        }
        st
    }

    fn element_decl(&mut self, node: &Element) -> ElementDecl {
        let name: Box<str> = node.attr("name").unwrap_or("").into();
        let ty = if let Some(t) = node.attr("type") {
            self.type_ref(t)
        } else if let Some(ct) = node.children.iter().find(|c| c.name == "complexType") {
            let raw = self.complex_type(ct);
            self.raw.push(Some(raw));
            TypeRef::Complex(self.raw.len() as ComplexId - 1)
        } else if let Some(st) = node.children.iter().find(|c| c.name == "simpleType") {
            let st = self.restriction(st);
            self.simple.push(Some(st));
            self.simple_busy.push(true);
            self.simple_nodes.push(None);
            TypeRef::Simple(self.simple.len() as SimpleId - 1)
        } else {
            TypeRef::Any
        };
        let keys =
            node.children.iter().filter(|c| matches!(c.name.as_str(), "key" | "unique")).filter_map(|k| self.key(k));
        let keys = keys.collect();
        ElementDecl { name, ty, keys }
    }

    fn key(&mut self, node: &Element) -> Option<Key> {
        let name = node.attr("name").unwrap_or("");
        let selector = node.child("selector").and_then(|s| s.attr("xpath")).unwrap_or("");
        let fields: Vec<&str> = node.children_named("field").filter_map(|f| f.attr("xpath")).collect();
        let parsed = (|| {
            let selector = selector.split('|').map(|p| self.path(p)).collect::<Option<Vec<_>>>()?;
            let [field] = fields.as_slice() else { return None };
            let field = self.field(field)?;
            Some(Key { name: name.into(), selector, field })
        })();
        if parsed.is_none() {
            self.problems.push(format!("key '{name}': xpath '{selector}' / {fields:?} is not supported"));
        }
        parsed
    }

    /// The restricted XPath of identity constraints: `(.//)? step (/ step)*`.
    fn path(&self, xpath: &str) -> Option<Path> {
        let xpath = xpath.trim();
        let (descendants, rest) = match xpath.strip_prefix(".//") {
            Some(rest) => (true, rest),
            None => (false, xpath),
        };
        let steps = rest.split('/').map(|s| self.step(s)).collect::<Option<Vec<_>>>()?;
        Some(Path { descendants, steps })
    }

    fn step(&self, step: &str) -> Option<Step> {
        let step = step.trim().strip_prefix("child::").unwrap_or(step.trim());
        match step {
            "." => Some(Step::SelfNode),
            "*" => Some(Step::AnyChild),
            "" => None,
            _ if step.ends_with(":*") => Some(Step::AnyChild),
            _ => {
                let (_, local) = self.qname(step);
                let valid = local.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
                valid.then(|| Step::Child(local.into()))
            }
        }
    }

    fn field(&self, xpath: &str) -> Option<Field> {
        let xpath = xpath.trim();
        let (path, attr) = match xpath.rsplit_once('/') {
            Some((p, last)) => (Some(p), last),
            None => (None, xpath),
        };
        let (steps, attr) = match attr.strip_prefix('@').or_else(|| attr.strip_prefix("attribute::")) {
            Some(a) => {
                let steps = match path {
                    Some(p) => p.split('/').map(|s| self.step(s)).collect::<Option<Vec<_>>>()?,
                    None => Vec::new(),
                };
                (steps, Some(self.qname(a).1.into()))
            }
            None => (xpath.split('/').map(|s| self.step(s)).collect::<Option<Vec<_>>>()?, None),
        };
        Some(Field { steps, attr })
    }

    fn complex_type(&mut self, node: &Element) -> Raw {
        let label = node.attr("name").unwrap_or("(anonymous)").to_owned();
        let mixed = node.attr("mixed").is_some_and(|m| matches!(m.trim(), "true" | "1"));
        let mut raw =
            Raw { attrs: Vec::new(), any_attribute: false, mixed, particle: None, all: None, simple: None, base: None };
        self.content(node, &mut raw, &label);
        raw
    }

    /// Children of xs:complexType, or of an xs:extension inside simple/complex content.
    fn content(&mut self, node: &Element, raw: &mut Raw, label: &str) {
        for child in &node.children {
            match child.name.as_str() {
                "sequence" | "choice" => raw.particle = self.particle(child),
                "all" => {
                    let items = child
                        .children_named("element")
                        .map(|e| {
                            let (min, _) = occurs(e);
                            (self.local_element(e), min > 0)
                        })
                        .collect();
                    raw.all = Some(items);
                }
                "attribute" => {
                    if let Some(a) = self.attribute(child) {
                        raw.attrs.push(a);
                    }
                }
                "anyAttribute" => raw.any_attribute = true,
                "simpleContent" | "complexContent" => {
                    let Some(ext) =
                        child.children.iter().find(|c| matches!(c.name.as_str(), "extension" | "restriction"))
                    else {
                        continue;
                    };
                    if ext.name == "restriction" {
                        self.problems.push(format!("type '{label}': content restriction treated as its base"));
                    }
                    let base = ext.attr("base").map_or(TypeRef::Any, |b| self.type_ref(b));
                    match base {
                        TypeRef::Simple(id) => raw.simple = Some(id),
                        _ => raw.base = Some(base),
                    }
                    self.content(ext, raw, label);
                }
                "annotation" => {}
                other => self.problems.push(format!("type '{label}': xs:{other} is not supported")),
            }
        }
    }

    fn attribute(&mut self, node: &Element) -> Option<AttrDecl> {
        let name = node.attr("name")?;
        let use_ = node.attr("use").map(str::trim);
        if use_ == Some("prohibited") {
            return None;
        }
        let ty = match (node.attr("type"), node.child("simpleType")) {
            (Some(t), _) => self.simple_ref(t),
            (None, Some(st)) => {
                let st = self.restriction(st);
                self.simple.push(Some(st));
                self.simple_busy.push(true);
                self.simple_nodes.push(None);
                self.simple.len() as SimpleId - 1
            }
            (None, None) => Builtin::Unchecked as SimpleId,
        };
        Some(AttrDecl { name: name.into(), ty, required: use_ == Some("required") })
    }

    fn local_element(&mut self, node: &Element) -> ElemId {
        if let Some(r) = node.attr("ref") {
            let (_, local) = self.qname(r);
            if let Some(&id) = self.globals.get(local) {
                return id;
            }
            self.problems.push(format!("element ref '{r}' not found"));
        }
        let decl = self.element_decl(node);
        self.elements.push(decl);
        self.elements.len() as ElemId - 1
    }

    fn particle(&mut self, node: &Element) -> Option<Occ> {
        let (min, max) = occurs(node);
        let particle = match node.name.as_str() {
            "element" => Particle::Element(self.local_element(node)),
            "any" => Particle::Any,
            "sequence" | "choice" => {
                let items = node.children.iter().filter(|c| !is_annotation(c)).filter_map(|c| self.particle(c));
                let items = items.collect();
                if node.name == "sequence" { Particle::Sequence(items) } else { Particle::Choice(items) }
            }
            other => {
                self.problems.push(format!("particle xs:{other} is not supported"));
                return None;
            }
        };
        Some(Occ { particle, min, max })
    }

    /// Resolves extensions and builds the automata.
    fn finish(mut self) -> Schema {
        let n = self.raw.len();
        let mut done = vec![false; n];
        for id in 0..n {
            self.resolve(id, &mut done, 0);
        }
        let simple: Vec<SimpleType> = self
            .simple
            .into_iter()
            .map(|s| s.unwrap_or_else(|| SimpleType::new("(cyclic)", Builtin::Unchecked)))
            .collect();
        let elements = self.elements;
        let name_of =
            |id: ElemId| -> Box<str> { elements.get(id as usize).map_or_else(|| "".into(), |e| e.name.clone()) };
        let complex = self
            .raw
            .into_iter()
            .map(|raw| {
                let raw = raw.unwrap_or(Raw {
                    attrs: Vec::new(),
                    any_attribute: true,
                    mixed: true,
                    particle: None,
                    all: None,
                    simple: None,
                    base: None,
                });
                let content = match (raw.simple, raw.all, &raw.particle) {
                    (Some(s), _, _) => Content::Simple(s),
                    (None, Some(all), _) => Content::All(all),
                    (None, None, Some(p)) => Content::Elements(Model::build(p, &name_of)),
                    (None, None, None) => Content::Empty,
                };
                ComplexType { attrs: raw.attrs, any_attribute: raw.any_attribute, mixed: raw.mixed, content }
            })
            .collect();
        Schema { elements, complex, simple, globals: self.globals, problems: self.problems }
    }

    /// Folds a complex base into a derived type: base attributes first, base content then own.
    fn resolve(&mut self, id: usize, done: &mut [bool], depth: u32) {
        if done.get(id).is_none_or(|d| *d) || depth > 64 {
            return;
        }
        done[id] = true;
        let Some(TypeRef::Complex(base)) = self.raw[id].as_ref().and_then(|r| r.base) else { return };
        self.resolve(base as usize, done, depth + 1);
        let Some(b) = self.raw.get(base as usize).and_then(Option::as_ref) else { return };
        let (b_attrs, b_particle, b_simple, b_any) = (
            b.attrs.iter().map(AttrDecl::clone_decl).collect::<Vec<_>>(),
            b.particle.clone(),
            b.simple,
            b.any_attribute,
        );
        let Some(raw) = self.raw[id].as_mut() else { return };
        let own = std::mem::take(&mut raw.attrs);
        raw.attrs = b_attrs;
        for a in own {
            match raw.attrs.iter_mut().find(|x| x.name == a.name) {
                Some(x) => *x = a,
                None => raw.attrs.push(a),
            }
        }
        raw.any_attribute |= b_any;
        raw.simple = raw.simple.or(b_simple);
        raw.particle = match (b_particle, raw.particle.take()) {
            (Some(b), Some(own)) => Some(Occ { particle: Particle::Sequence(vec![b, own]), min: 1, max: Some(1) }),
            (b, own) => b.or(own),
        };
    }
}

impl AttrDecl {
    fn clone_decl(&self) -> AttrDecl {
        AttrDecl { name: self.name.clone(), ty: self.ty, required: self.required }
    }
}

impl SimpleType {
    fn new(name: &str, builtin: Builtin) -> SimpleType {
        SimpleType { name: name.into(), builtin, enums: Vec::new(), patterns: Vec::new(), min_len: None, max_len: None }
    }

    /// A restriction starts with all of its base's facets.
    fn derive(&self, name: &str) -> SimpleType {
        SimpleType {
            name: name.into(),
            builtin: self.builtin,
            enums: self.enums.clone(),
            patterns: self.patterns.clone(),
            min_len: self.min_len,
            max_len: self.max_len,
        }
    }
}
