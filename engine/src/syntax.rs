//! The spanned element tree of a policy file. Parsing never fails: it returns the tree it could
//! build and the diagnostics it found.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, LazyLock};

use quick_xml::XmlVersion;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
pub use smol_str::SmolStr;
pub use thin_vec::ThinVec;

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// B2C's limit on one policy file.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// How deep elements may nest. Policies need fewer than 20 levels; deeper input is refused while
/// parsing, so nothing recursive (settings, schema, merge, writing, dropping the tree) sees it.
pub const MAX_DEPTH: usize = 32;

/// Diagnostics about characters XML 1.0 forbids, per file; the rest are counted in one more.
const MAX_CHARACTER_DIAGNOSTICS: usize = 20;

/// The policy namespace; every element of a policy lives in it.
pub const POLICY_NAMESPACE: &str = "http://schemas.microsoft.com/online/cpim/schemas/2013/06";

/// Names and values are [`SmolStr`]s: inline up to 23 bytes and shared beyond, so a tree is
/// built and copied without a heap string per name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: SmolStr,
    pub value: SmolStr,
    pub name_span: Span,
    pub value_span: Span,
}

/// An element with its attributes, child elements and text. Comments and processing
/// instructions are not kept; mixed content does not occur in policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Local name (a namespace prefix, if any, is dropped).
    pub name: SmolStr,
    /// Shared by reference count in one allocation with the attributes (nothing allocated when
    /// empty), so a merge that appends an overlay's element copies no attribute: a 20,000-step
    /// journey's trees are tens of MB, and their size decides its speed.
    pub attributes: Attributes,
    /// Shared with the trees copied from this one until one of them changes it: the merged
    /// policy points at the loaded files' subtrees instead of copying them.
    pub children: Shared<Element>,
    /// Concatenated character data, trimmed; `None` when there is none.
    pub text: Option<SmolStr>,
    /// Span of the text, or of the whole element when there is no text.
    pub text_span: Span,
    /// From `<` of the start tag to `>` of the end tag.
    pub span: Span,
    /// The name in the start tag.
    pub name_span: Span,
}

/// A list shared by reference count, copied on first change (`Arc::make_mut`): a copy of an
/// element costs one count, not a copy of its subtree. Nothing is allocated for an empty list.
pub struct Shared<T>(Option<Arc<ThinVec<T>>>);

/// Equal when the items are: an empty list reads as `[]` whether or not it was ever allocated.
impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        matches!((&self.0, &other.0), (Some(a), Some(b)) if Arc::ptr_eq(a, b)) || **self == **other
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new() -> Self {
        Shared(None)
    }
}

impl<T: Clone> Shared<T> {
    /// The list to change, copied first if another tree shares it.
    pub fn to_mut(&mut self) -> &mut ThinVec<T> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }

    /// The first item `pred` accepts, to change: the list is copied (when shared) only if one
    /// is found, where `iter_mut().find` would copy it before searching.
    pub fn find_mut(&mut self, pred: impl FnMut(&T) -> bool) -> Option<&mut T> {
        let i = self.iter().position(pred)?;
        Some(&mut self.to_mut()[i])
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(None)
    }
}

impl<T> Deref for Shared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], ThinVec::as_slice)
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.0 {
            Some(list) => Arc::make_mut(list).as_mut_slice(),
            None => &mut [],
        }
    }
}

impl<T> From<ThinVec<T>> for Shared<T> {
    fn from(list: ThinVec<T>) -> Self {
        Shared((!list.is_empty()).then(|| Arc::new(list)))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<ThinVec<T>>().into()
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T: Clone> IntoIterator for &'a mut Shared<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An element's attributes: one allocation with its reference count, shared by the copies of
/// the element and rebuilt on change (attributes change rarely: an overlay's or a setting's
/// value). Reads cost what a `ThinVec`'s do; copies cost a count.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attributes(Option<Arc<[Attribute]>>);

impl Attributes {
    /// The first attribute `pred` accepts, to change: copied (when shared) only if one is found.
    pub fn find_mut(&mut self, pred: impl FnMut(&Attribute) -> bool) -> Option<&mut Attribute> {
        let i = self.iter().position(pred)?;
        Some(&mut self[i])
    }

    pub fn push(&mut self, attribute: Attribute) {
        *self = self.iter().cloned().chain([attribute]).collect();
    }
}

impl Deref for Attributes {
    type Target = [Attribute];
    fn deref(&self) -> &[Attribute] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl DerefMut for Attributes {
    fn deref_mut(&mut self) -> &mut [Attribute] {
        match &mut self.0 {
            Some(list) => Arc::make_mut(list),
            None => &mut [],
        }
    }
}

impl FromIterator<Attribute> for Attributes {
    fn from_iter<I: IntoIterator<Item = Attribute>>(iter: I) -> Self {
        let iter = iter.into_iter();
        // Even an empty `Arc<[_]>` is allocated (its counts): most leaves have no attributes.
        if iter.size_hint().1 == Some(0) {
            return Attributes(None);
        }
        let list: Arc<[Attribute]> = iter.collect();
        Attributes((!list.is_empty()).then_some(list))
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = &'a Attribute;
    type IntoIter = std::slice::Iter<'a, Attribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Attributes {
    type Item = &'a mut Attribute;
    type IntoIter = std::slice::IterMut<'a, Attribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// A long journey's trees stream through memory: each byte of an element counts (BENCHMARKS.md).
const _: () = assert!(std::mem::size_of::<Element>() <= 112);

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.name == name).map(|a| a.value.as_str())
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The span of an attribute's value, or of the element's name when the attribute is absent.
    pub fn attr_span(&self, name: &str) -> Span {
        self.attribute(name).map_or(self.name_span, |a| a.value_span)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.find_mut(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Children of the first child called `list` that are called `item`
    /// (`<InputClaims><InputClaim/>...`).
    pub fn items<'a>(&'a self, list: &'a str, item: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.child(list).into_iter().flat_map(move |l| l.children_named(item))
    }

    pub fn text(&self) -> &str {
        self.text.as_deref().unwrap_or("")
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).and_then(|c| c.text.as_deref())
    }

    pub fn set_attr(&mut self, name: &str, value: impl Into<SmolStr>) {
        let value = value.into();
        match self.attributes.find_mut(|a| a.name == name) {
            Some(a) => a.value = value,
            None => self.attributes.push(Attribute {
                name: SmolStr::new(name),
                value,
                name_span: self.name_span,
                value_span: self.name_span,
            }),
        }
    }
}

/// B2C's size limit, checked before anything is decoded or parsed.
pub fn too_large(file: FileId, bytes: usize) -> Option<Diagnostic> {
    (bytes > MAX_FILE_BYTES).then(|| {
        Diagnostic::new(
            Code::FileTooLarge,
            Span::new(file, 0, 0),
            format!(
                "the file is {} bytes; B2C accepts at most {} bytes (1,024 KB) per policy file",
                thousands(bytes),
                thousands(MAX_FILE_BYTES)
            ),
        )
        .with_help("split the policy into a base and an extension file")
    })
}

/// Parses one file. `None` when no root element could be read.
pub fn parse(file: FileId, text: &str) -> (Option<Element>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if let Some(d) = too_large(file, text.len()) {
        diags.push(d);
        return (None, diags);
    }
    forbidden_characters(file, text, &mut diags);
    let mut parser = Parser {
        file,
        text,
        reader: Reader::from_str(text),
        stack: Vec::new(),
        closed: Vec::new(),
        attributes: Vec::new(),
        root: None,
        diags,
    };
    parser.reader.config_mut().check_end_names = true;
    parser.run();
    let Parser { root, mut diags, .. } = parser;
    if diags.iter().any(|d| d.code == Code::DtdRefused) {
        return (None, diags);
    }
    if root.is_none() && diags.is_empty() {
        diags.push(Diagnostic::new(Code::XmlSyntax, Span::new(file, 0, 0), "the file has no root element"));
    }
    (root, diags)
}

struct Parser<'t> {
    file: FileId,
    text: &'t str,
    reader: Reader<&'t [u8]>,
    /// Open elements, each with the raw text read so far and where its children start in `closed`.
    stack: Vec<(Element, Option<String>, usize)>,
    /// Closed elements whose parent is still open, in document order. A parent takes its own
    /// at its end tag, so each list is allocated once, at its size (a tree without spare room).
    closed: Vec<Element>,
    /// The attributes of the start tag being read, likewise.
    attributes: Vec<Attribute>,
    root: Option<Element>,
    diags: Vec<Diagnostic>,
}

impl<'t> Parser<'t> {
    fn span(&self, start: u64, end: u64) -> Span {
        Span::new(self.file, start as usize, end as usize)
    }

    /// Byte offset of a slice that borrows from the input.
    fn offset_of(&self, s: &str) -> Option<usize> {
        let base = self.text.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        (p >= base && p + s.len() <= base + self.text.len()).then(|| p - base)
    }

    fn run(&mut self) {
        loop {
            let start = self.reader.buffer_position();
            let event = match self.reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let at = self.reader.error_position();
                    let message = e.to_string();
                    self.diags.push(Diagnostic::new(Code::XmlSyntax, self.span(at, at + 1), message));
                    return;
                }
            };
            let end = self.reader.buffer_position();
            match event {
                Event::Start(_) | Event::Empty(_) if self.stack.len() >= MAX_DEPTH => {
                    let at = start as usize + 1;
                    self.diags.push(
                        Diagnostic::new(
                            Code::XmlSyntax,
                            Span::new(self.file, at, at + 1),
                            format!("elements are nested more than {MAX_DEPTH} levels deep"),
                        )
                        .with_help("policies need fewer than 20 levels; ief stops reading the file here"),
                    );
                    return;
                }
                Event::Start(tag) => {
                    let el = self.open(&tag, start, end);
                    self.stack.push((el, None, self.closed.len()));
                }
                Event::Empty(tag) => {
                    let mut el = self.open(&tag, start, end);
                    el.span = self.span(start, end);
                    el.text_span = el.span;
                    self.close(el, None, self.closed.len());
                }
                Event::End(_) => {
                    if let Some((mut el, text, first_child)) = self.stack.pop() {
                        el.span.end = end as u32;
                        if text.is_none() {
                            el.text_span = el.span;
                        }
                        self.close(el, text, first_child);
                    }
                }
                Event::Text(t) => {
                    let content = t.xml_content(XmlVersion::Implicit1_0);
                    self.add_text(&content, start, end);
                }
                Event::CData(t) => {
                    let content: &str = &t;
                    let content = content.to_owned();
                    self.add_text(&content, start, end);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c.to_string()),
                        Ok(None) => predefined_entity(&r).map(str::to_owned),
                        Err(e) => {
                            let message = format!("{e} ('&{};')", &*r);
                            self.diags.push(Diagnostic::new(Code::XmlSyntax, self.span(start, end), message));
                            continue;
                        }
                    };
                    match resolved {
                        Some(s) if s.chars().any(forbidden) => {
                            let d = forbidden_reference(self.span(start, end), &s);
                            self.diags.push(d);
                        }
                        Some(s) => self.add_text(&s, start, end),
                        None => self.diags.push(
                            Diagnostic::new(
                                Code::XmlSyntax,
                                self.span(start, end),
                                format!("unknown entity reference '&{};'", &*r),
                            )
                            .with_help("only the five predefined XML entities and character references are allowed"),
                        ),
                    }
                }
                Event::DocType(_) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DtdRefused,
                            self.span(start, end),
                            "a DOCTYPE declaration is not allowed",
                        )
                        .with_help("remove the <!DOCTYPE ...> block; ief never expands entities"),
                    );
                    return;
                }
                Event::Eof => {
                    if let Some((el, _, _)) = self.stack.last() {
                        let d = Diagnostic::new(
                            Code::XmlSyntax,
                            el.name_span,
                            format!("element '{}' is not closed before the end of the file", el.name),
                        );
                        self.diags.push(d);
                    }
                    return;
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            }
        }
    }

    fn open(&mut self, tag: &BytesStart<'_>, start: u64, end: u64) -> Element {
        let qname = tag.name();
        let raw_name: &str = qname.as_ref();
        let local = name(local_name(raw_name));
        let name_start = start as usize + 1;
        let name_span = Span::new(self.file, name_start, name_start + raw_name.len());
        for attr in tag.attributes() {
            let attr = match attr {
                Ok(a) => a,
                // Its positions count from the tag's name: point at both attributes.
                Err(AttrError::Duplicated(at, first)) => {
                    let (at, first) = (name_start + at, name_start + first);
                    let source = self.text.get(at..end as usize).unwrap_or_default();
                    let len = source.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(0);
                    let message = format!("duplicated attribute '{}'", &source[..len]);
                    let d = Diagnostic::new(Code::XmlSyntax, Span::new(self.file, at, at + len), message)
                        .with_label(Span::new(self.file, first, first + len), "first given here");
                    self.diags.push(d);
                    continue;
                }
                Err(e) => {
                    self.diags.push(Diagnostic::new(Code::XmlSyntax, self.span(start, end), e.to_string()));
                    continue;
                }
            };
            let key: &str = attr.key.as_ref();
            let raw_value: &str = match &attr.value {
                Cow::Borrowed(v) => v,
                Cow::Owned(v) => v.as_str(),
            };
            let value_start = self.offset_of(raw_value);
            let key_start = self.offset_of_key(&attr.key, start as usize, end as usize, key);
            let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
                Ok(v) => SmolStr::new(&*v),
                Err(e) => {
                    let at = value_start.unwrap_or(start as usize);
                    self.diags.push(Diagnostic::new(
                        Code::XmlSyntax,
                        Span::new(self.file, at, at + raw_value.len()),
                        format!("attribute '{key}': {e}"),
                    ));
                    SmolStr::new(raw_value)
                }
            };
            let value_span = match value_start {
                Some(at) => Span::new(self.file, at, at + raw_value.len()),
                None => name_span,
            };
            // Raw forbidden characters are reported by the scan; these came from references.
            if has_forbidden(&value) && !has_forbidden(raw_value) {
                self.diags.push(forbidden_reference(value_span, &value));
            }
            let name_span = Span::new(self.file, key_start, key_start + key.len());
            let name = name(if key.starts_with("xmlns") { key } else { local_name(key) });
            self.attributes.push(Attribute { name, value, name_span, value_span });
        }
        Element {
            name: local,
            attributes: self.attributes.drain(..).collect(),
            children: Shared::new(),
            text: None,
            text_span: self.span(start, end),
            span: self.span(start, end),
            name_span,
        }
    }

    fn offset_of_key(&self, key: &quick_xml::name::QName<'_>, start: usize, end: usize, fallback: &str) -> usize {
        let bytes = key.as_ref();
        let base = self.text.as_ptr() as usize;
        let p = bytes.as_ptr() as usize;
        if p >= base && p + bytes.len() <= base + self.text.len() {
            p - base
        } else {
            self.text.get(start..end).and_then(|t| t.find(fallback)).map_or(start, |i| start + i)
        }
    }

    fn add_text(&mut self, content: &str, start: u64, end: u64) {
        let file = self.file;
        let Some((el, text, _)) = self.stack.last_mut() else {
            if !is_blank(content) {
                let d = Diagnostic::new(Code::XmlSyntax, self.span(start, end), "text outside the root element");
                self.diags.push(d);
            }
            return;
        };
        // Raw text accumulates while the element is open; `finish_text` trims it at the end tag.
        match text {
            Some(existing) => {
                existing.push_str(content);
                if !is_blank(content) {
                    el.text_span.end =
                        (end as usize - (content.len() - content.trim_end().len()).min(end as usize)) as u32;
                }
            }
            None if is_blank(content) => {}
            None => {
                let lead = content.len() - content.trim_start().len();
                let trail = content.len() - content.trim_end().len();
                *text = Some(content.to_owned());
                el.text_span = Span::new(file, start as usize + lead, (end as usize).saturating_sub(trail));
            }
        }
    }

    fn close(&mut self, mut el: Element, text: Option<String>, first_child: usize) {
        el.text = text.map(|t| SmolStr::new(t.trim()));
        el.children = self.closed.drain(first_child..).collect();
        match self.stack.last() {
            Some(_) => self.closed.push(el),
            None if self.root.is_none() => self.root = Some(el),
            None => {
                let d = Diagnostic::new(Code::XmlSyntax, el.name_span, "a second root element is not allowed");
                self.diags.push(d);
            }
        }
    }
}

/// The most bytes a [`SmolStr`] holds inline.
const INLINE_NAME: usize = 23;

/// The schema's names too long to be held inline (`TechnicalProfileReferenceId`), borrowed from
/// the embedded XSD, so that the names policies use most are never allocated.
static LONG_NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    crate::schema::XSD
        .split("name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|n| n.len() > INLINE_NAME)
        .collect()
});

/// An element or attribute name: inline, or the schema's copy, or (an unknown long name) a new one.
fn name(s: &str) -> SmolStr {
    if s.len() <= INLINE_NAME {
        return SmolStr::new(s);
    }
    LONG_NAMES.get(s).map_or_else(|| SmolStr::new(s), |n| SmolStr::new_static(n))
}

/// The part of a qualified name after its prefix.
fn local_name(qname: &str) -> &str {
    qname.as_bytes().iter().rposition(|&b| b == b':').map_or(qname, |i| &qname[i + 1..])
}

/// Nothing but white space (the indentation between elements, mostly ASCII: checked by byte first).
fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace()) || s.trim().is_empty()
}

/// Whether `s` may hold a character [`forbidden`] names: a control byte, or 0xEF, which starts
/// U+FFFE and U+FFFF in UTF-8. A byte scan, cheaper than decoding every character.
fn may_forbid(s: &str) -> bool {
    s.bytes().any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF)
}

fn has_forbidden(s: &str) -> bool {
    may_forbid(s) && s.chars().any(forbidden)
}

/// Characters XML 1.0's `Char` production leaves out (surrogates cannot occur in a `str`).
/// .NET's XmlReader refuses them, raw or as character references, so B2C refuses the file.
fn forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

fn forbidden_help() -> &'static str {
    "XML 1.0 forbids control characters other than tab, line feed and carriage return, raw or as \
     character references; B2C refuses the file"
}

fn forbidden_reference(span: Span, value: &str) -> Diagnostic {
    let c = value.chars().find(|&c| forbidden(c)).unwrap_or_default();
    Diagnostic::new(
        Code::XmlSyntax,
        span,
        format!("a character reference to U+{:04X}, a character XML 1.0 forbids", u32::from(c)),
    )
    .with_help(forbidden_help())
}

/// Every raw character XML 1.0 forbids, each run of them once, with its position.
fn forbidden_characters(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) {
    if !may_forbid(text) {
        return;
    }
    let mut runs = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if forbidden(c) {
            let (mut end, mut count) = (at + c.len_utf8(), 1);
            while let Some((next, c)) = chars.next_if(|&(_, c)| forbidden(c)) {
                (end, count) = (next + c.len_utf8(), count + 1);
            }
            runs.push((at, end, count, c));
        }
    }
    for &(at, end, count, c) in runs.iter().take(MAX_CHARACTER_DIAGNOSTICS) {
        let message = match count {
            1 => format!("U+{:04X} is a character XML 1.0 forbids", u32::from(c)),
            n => format!("{n} characters XML 1.0 forbids, the first U+{:04X}", u32::from(c)),
        };
        diags.push(Diagnostic::new(Code::XmlSyntax, Span::new(file, at, end), message).with_help(forbidden_help()));
    }
    if let Some(&(at, end, _, _)) = runs.get(MAX_CHARACTER_DIAGNOSTICS) {
        let more = runs.len() - MAX_CHARACTER_DIAGNOSTICS;
        diags.push(Diagnostic::new(
            Code::XmlSyntax,
            Span::new(file, at, end),
            format!("{more} more runs of characters XML 1.0 forbids from here on"),
        ));
    }
}

/// `1048577` as `1,048,577`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

/// Writes a tree back as an indented XML document (what `ief merge` prints).
pub fn write_xml(root: &Element) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    write_element(root, 0, &mut out);
    out
}

fn write_element(el: &Element, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    out.push_str(&indent);
    out.push('<');
    out.push_str(&el.name);
    for a in &el.attributes {
        out.push(' ');
        out.push_str(&a.name);
        out.push_str("=\"");
        out.push_str(&escape(&a.value, true));
        out.push('"');
    }
    match (&el.text, el.children.is_empty()) {
        (None, true) => out.push_str(" />\n"),
        (Some(t), true) => {
            out.push('>');
            out.push_str(&escape(t, false));
            out.push_str(&format!("</{}>\n", el.name));
        }
        (text, false) => {
            out.push_str(">\n");
            if let Some(t) = text {
                out.push_str(&format!("{indent}  {}\n", escape(t, false)));
            }
            for c in &el.children {
                write_element(c, depth + 1, out);
            }
            out.push_str(&format!("{indent}</{}>\n", el.name));
        }
    }
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            // A parser normalises raw line ends (and, in attributes, tabs and line feeds) to
            // other characters; references keep them.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            _ => out.push(c),
        }
    }
    out
}

/// Decodes file bytes: UTF-8 (with or without BOM) or UTF-16 with a BOM.
pub fn decode(bytes: &[u8]) -> Result<String, &'static str> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| "the file is not valid UTF-8");
    }
    let utf16 = |rest: &[u8], le: bool| -> Result<String, &'static str> {
        if !rest.len().is_multiple_of(2) {
            return Err("the file is not valid UTF-16");
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16(&units).map_err(|_| "the file is not valid UTF-16")
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "the file is not valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Element {
        let (root, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        root.unwrap()
    }

    #[test]
    fn shared_lists_compare_by_items_and_are_copied_only_when_changed() {
        let mut emptied: Shared<Element> = [parse_ok("<B/>")].into_iter().collect();
        emptied.to_mut().clear();
        assert_eq!(emptied, Shared::new(), "an emptied list equals one never allocated");
        let original = parse_ok("<A><B/><C/></A>");
        let mut copy = original.clone();
        let shared = |copy: &Element| std::ptr::eq(copy.children.as_ptr(), original.children.as_ptr());
        assert!(copy.child_mut("D").is_none());
        assert!(shared(&copy), "a search that finds nothing copies nothing");
        copy.child_mut("C").expect("C").name = "D".into();
        assert!(!shared(&copy), "a change copies the list");
        assert_eq!((original.children[1].name.as_str(), copy.children[1].name.as_str()), ("C", "D"));
    }

    #[test]
    fn spans_point_at_names_values_and_text() {
        let text = "<A x=\"1\">\n  <B y='two'>hi &amp; bye</B><C/></A>";
        let root = parse_ok(text);
        let b = root.child("B").unwrap();
        assert_eq!(&text[b.name_span.start as usize..b.name_span.end as usize], "B");
        let y = b.attribute("y").unwrap();
        assert_eq!(&text[y.value_span.start as usize..y.value_span.end as usize], "two");
        assert_eq!(&text[y.name_span.start as usize..y.name_span.end as usize], "y");
        assert_eq!(b.text(), "hi & bye");
        assert_eq!(&text[b.span.start as usize..b.span.end as usize], "<B y='two'>hi &amp; bye</B>");
        let c = root.child("C").unwrap();
        assert_eq!(&text[c.span.start as usize..c.span.end as usize], "<C/>");
    }

    #[test]
    fn doctype_is_refused_and_nothing_is_returned() {
        let (root, diags) = parse(FileId(0), "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>");
        assert!(root.is_none());
        assert_eq!(diags[0].code, Code::DtdRefused);
    }

    #[test]
    fn unknown_entities_are_errors_not_expansions() {
        let (_, diags) = parse(FileId(0), "<x>&boom;</x>");
        assert_eq!(diags[0].code, Code::XmlSyntax);
        assert!(diags[0].message.contains("boom"));
    }

    #[test]
    fn mismatched_end_tag_is_reported_at_its_position() {
        let text = "<a>\n<b>\n</c>\n</a>";
        let (_, diags) = parse(FileId(0), text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::XmlSyntax);
    }

    #[test]
    fn bom_and_utf16_decode() {
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("<a/>".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16).unwrap(), "<a/>");
        assert!(decode(b"\xFF\x00\x80").is_err());
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let big = format!("<a>{}</a>", " ".repeat(MAX_FILE_BYTES));
        let (root, diags) = parse(FileId(0), &big);
        assert!(root.is_none());
        assert_eq!(diags[0].code, Code::FileTooLarge);
    }

    #[test]
    fn written_xml_parses_back_to_the_same_tree() {
        let text = "<A x=\"a&amp;b &quot;q&quot;\"><B>1 &lt; 2</B><C/><D y='z'><E>t</E></D></A>";
        let root = parse_ok(text);
        let again = parse_ok(&write_xml(&root));
        let shape = |e: &Element| format!("{e:?}").split("span").count();
        assert_eq!(again.attr("x"), Some("a&b \"q\""));
        assert_eq!(again.child("B").unwrap().text(), "1 < 2");
        assert_eq!(again.child("D").unwrap().child("E").unwrap().text(), "t");
        assert_eq!(shape(&root), shape(&again));
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_at_the_first_element_too_deep() {
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(FileId(0), &ok).1.is_empty());
        for deep in [format!("{}<b/>", "<a>".repeat(MAX_DEPTH)), "<a>".repeat(200_000)] {
            let (root, diags) = parse(FileId(0), &deep);
            assert!(root.is_none());
            assert_eq!(diags.len(), 1, "{diags:?}");
            assert_eq!(diags[0].span.start as usize, 3 * MAX_DEPTH + 1, "the name of element {}", MAX_DEPTH + 1);
            assert!(diags[0].message.contains("nested more than 32 levels"));
        }
    }

    #[test]
    fn characters_xml_forbids_are_reported_where_they_are() {
        let text = "<a x='1&#x1;'>ok\u{0}\u{1}\u{1F} and \u{B} and &#65534;\tfine\r\n</a>";
        let (_, diags) = parse(FileId(0), text);
        let found: Vec<(&str, &str)> =
            diags.iter().map(|d| (&text[d.span.start as usize..d.span.end as usize], d.message.as_str())).collect();
        assert_eq!(
            found,
            [
                ("\u{0}\u{1}\u{1F}", "3 characters XML 1.0 forbids, the first U+0000"),
                ("\u{B}", "U+000B is a character XML 1.0 forbids"),
                ("1&#x1;", "a character reference to U+0001, a character XML 1.0 forbids"),
                ("&#65534;", "a character reference to U+FFFE, a character XML 1.0 forbids"),
            ]
        );
        let (_, diags) = parse(FileId(0), "<a>&#0;&#xD800;</a>");
        assert_eq!(diags.len(), 2);
        assert!(diags[0].message.ends_with("0x0 character is not permitted in XML ('&#0;')"), "{diags:?}");
        assert!(diags[1].message.ends_with("is not a valid codepoint ('&#xD800;')"), "{diags:?}");
        let many = format!("<a>{}</a>", "\u{1}.".repeat(50));
        let (_, diags) = parse(FileId(0), &many);
        assert_eq!(diags.len(), MAX_CHARACTER_DIAGNOSTICS + 1);
        assert_eq!(diags.last().unwrap().message, "30 more runs of characters XML 1.0 forbids from here on");
    }

    #[test]
    fn the_size_limit_message_counts_bytes() {
        let d = too_large(FileId(0), MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(
            d.message,
            "the file is 1,048,577 bytes; B2C accepts at most 1,048,576 bytes (1,024 KB) per policy file"
        );
        assert!(too_large(FileId(0), MAX_FILE_BYTES).is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for text in
            ["", "<", "<a", "<a b=>", "<a></b>", "</a>", "<a/><b/>", "<?xml?>", "<a>&#xFFFFFF;</a>", "<a x='&'/>"]
        {
            let _ = parse(FileId(0), text);
        }
    }
}
