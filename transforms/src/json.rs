//! JSON methods (json-transformations.md).
//!
//! Paths are B2C's dot notation, not JSONPath: GenerateJson splits its slot names on dots
//! (integers are array indexes), and the extraction methods name one top-level member, literally
//! (a name containing dots is one member name). Both are handled directly on `serde_json`
//! values; a JSONPath engine would neither build documents nor read names the way B2C does.
//!
//! Output JSON is written by [`Json`], an ordered tree, because `serde_json::Map` sorts its keys
//! (the workspace does not enable `preserve_order`); input is read with `serde_json::Value`,
//! except where document order matters (the first member of an object).

use std::fmt::Write as _;

use serde_json::Value;

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::Method;
use crate::compile::{Bound, Location, Problem, ProblemKind, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType, DateTimeForm, parse_bool, parse_date_time};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const LONG: TypeSpec = TypeSpec::Exact(DataType::Long);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const STRINGS: TypeSpec = TypeSpec::Exact(DataType::StringCollection);
/// The table types `includeEmptyClaims` as string, its XML as boolean.
const STRING_OR_BOOLEAN: TypeSpec = TypeSpec::OneOf(&[DataType::String, DataType::Boolean]);
/// The documented target types of GetClaimsFromJsonArray(V2).
const EXTRACTED: TypeSpec = TypeSpec::OneOf(&[DataType::String, DataType::Int, DataType::Boolean, DataType::DateTime]);

const FROM_ARRAY_PARAMS: &[Param] = &[
    Param { name: "errorOnMissingClaims", ty: BOOLEAN, required: false, default: Some("false") },
    Param { name: "includeEmptyClaims", ty: STRING_OR_BOOLEAN, required: false, default: Some("false") },
    Param { name: "jsonSourceKeyName", ty: STRING, required: true, default: None },
    Param { name: "jsonSourceValueName", ty: STRING, required: true, default: None },
];

const fn simple(
    method: &'static str,
    inputs: &'static [Slot],
    params: &'static [Param],
    outputs: &'static [Slot],
) -> Signature {
    Signature::fixed(method, Family::Json, inputs, params, outputs)
}

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: simple(
            "CreateJsonArray",
            &[Slot { name: "inputClaim", ty: STRING, required: true }],
            &[],
            &[Slot { name: "outputClaim", ty: STRING, required: true }],
        ),
        build: create_json_array,
    },
    Method {
        signature: Signature {
            method: "GenerateJson",
            family: Family::Json,
            inputs: &[],
            // Every claim and parameter is named by its dot path; claims of any type are written
            // in their JSON form, parameters likewise (`long` 1 becomes the number 1).
            extra_inputs: Some(TypeSpec::Any),
            params: &[],
            extra_params: Some(TypeSpec::Any),
            outputs: &[Slot { name: "outputClaim", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: generate_json,
    },
    Method {
        signature: simple(
            "GetClaimFromJson",
            &[Slot { name: "inputJson", ty: STRING, required: true }],
            &[Param { name: "claimToExtract", ty: STRING, required: true, default: None }],
            &[Slot { name: "extractedClaim", ty: STRING, required: true }],
        ),
        build: get_claim_from_json,
    },
    Method {
        signature: Signature {
            method: "GetClaimsFromJsonArray",
            family: Family::Json,
            // The table says jsonSourceClaim; the XML and the unit-test policy use jsonSource.
            inputs: &[Slot { name: "jsonSource", ty: STRING, required: true }],
            extra_inputs: None,
            params: FROM_ARRAY_PARAMS,
            extra_params: None,
            outputs: &[],
            extra_outputs: Some(EXTRACTED),
            user_message_key: None,
        },
        build: get_claims_from_json_array,
    },
    Method {
        signature: Signature {
            method: "GetClaimsFromJsonArrayV2",
            family: Family::Json,
            inputs: &[Slot { name: "jsonSource", ty: STRINGS, required: true }],
            extra_inputs: None,
            params: FROM_ARRAY_PARAMS,
            extra_params: None,
            outputs: &[],
            extra_outputs: Some(EXTRACTED),
            user_message_key: None,
        },
        build: get_claims_from_json_array,
    },
    Method {
        signature: simple(
            "GetNumericClaimFromJson",
            &[Slot { name: "inputJson", ty: STRING, required: true }],
            &[Param { name: "claimToExtract", ty: STRING, required: true, default: None }],
            &[Slot { name: "extractedClaim", ty: LONG, required: true }],
        ),
        build: get_numeric_claim_from_json,
    },
    Method {
        signature: simple(
            "GetSingleItemFromJson",
            &[Slot { name: "inputJson", ty: STRING, required: true }],
            &[],
            &[Slot { name: "key", ty: STRING, required: true }, Slot { name: "value", ty: STRING, required: true }],
        ),
        build: get_single_item_from_json,
    },
    Method {
        signature: simple(
            "GetSingleValueFromJsonArray",
            &[Slot { name: "inputJsonClaim", ty: STRING, required: true }],
            &[],
            &[Slot { name: "extractedClaim", ty: STRING, required: true }],
        ),
        build: get_single_value_from_json_array,
    },
    Method {
        signature: simple(
            "XmlStringToJsonString",
            &[Slot { name: "xml", ty: STRING, required: true }],
            &[],
            &[Slot { name: "json", ty: STRING, required: true }],
        ),
        build: xml_string_to_json_string,
    },
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// An ordered JSON value, for output.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Leaf(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn write(&self, out: &mut String) {
        match self {
            Json::Leaf(Value::String(s)) => push_json_string(out, s),
            Json::Leaf(v) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{v}");
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn string_input<'b>(bag: &'b ClaimsBag, id: ClaimId, slot: &str) -> Result<Option<&'b str>, TransformError> {
    match bag.get(id) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string"))),
    }
}

/// How deep partner data (JSON, and XML read for JSON) may nest: Json.NET's reader stops at 64.
/// Checked before anything recursive reads the value.
pub(crate) const MAX_DEPTH: usize = 64;

/// Whether JSON text nests objects and arrays more than [`MAX_DEPTH`] levels deep.
pub(crate) fn too_deep(text: &str) -> bool {
    // Nesting past the limit needs more opening brackets than the limit: a count the compiler
    // vectorises (byte lanes, `[` and `{` differ only in bit 0x20) settles most texts without
    // following strings.
    let brackets: usize = text
        .as_bytes()
        .chunks(128)
        .map(|chunk| usize::from(chunk.iter().map(|&b| u8::from(b | 0x20 == b'{')).sum::<u8>()))
        .sum();
    if brackets <= MAX_DEPTH {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The error for JSON nested past [`MAX_DEPTH`].
pub(crate) fn too_deep_error(slot: &str) -> TransformError {
    TransformError::invalid_value(format!(
        "{slot} is nested more than {MAX_DEPTH} levels deep (Json.NET's reader stops at {MAX_DEPTH})"
    ))
}

/// Parses a claim holding JSON text. A leading byte-order mark is tolerated.
fn parse_json(text: &str, slot: &str) -> Result<Value, TransformError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if too_deep(text) {
        return Err(too_deep_error(slot));
    }
    serde_json::from_str(text).map_err(|e| TransformError::invalid_value(format!("{slot} is not valid JSON: {e}")))
}

/// The text a JSON value gives a string claim: strings as they are, booleans as .NET prints
/// them, numbers as written, objects and arrays as compact JSON. `None` for null.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(ClaimValue::Boolean(*b).to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// CreateJsonArray

fn create_json_array(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "inputClaim")? else {
            return Ok(());
        };
        let mut json = String::with_capacity(text.len() + 4);
        json.push('[');
        push_json_string(&mut json, text);
        json.push(']');
        bag.set(output, ClaimValue::String(json));
        Ok(())
    }))
}

// ---------------------------------------------------------------------------------------------
// GenerateJson

/// Where a GenerateJson leaf takes its value from.
#[derive(Debug)]
enum Source {
    Claim(ClaimId),
    Constant(Value),
}

/// The document GenerateJson builds, fixed at compile time; leaves are filled per run.
#[derive(Debug)]
enum Shape {
    Leaf(Source),
    Array(Vec<Shape>),
    Object(Vec<(String, Shape)>),
}

enum Segment<'p> {
    Index(usize),
    Name(&'p str),
}

fn segment(text: &str) -> Result<Segment<'_>, String> {
    if text.is_empty() {
        return Err("has an empty segment".to_owned());
    }
    // "After splitting by dots, any integers are interpreted as the index of a JSON array."
    if let Ok(n) = text.parse::<i64>() {
        return usize::try_from(n).map(Segment::Index).map_err(|_| format!("has the negative array index {n}"));
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("has the array index {text}, which is too large"));
    }
    Ok(Segment::Name(text))
}

impl Shape {
    fn container_for(next: &Segment<'_>) -> Shape {
        match next {
            Segment::Index(_) => Shape::Array(Vec::new()),
            Segment::Name(_) => Shape::Object(Vec::new()),
        }
    }

    /// Adds the leaf at `segments` below this node. Arrays grow one index at a time, in
    /// declaration order (claims first, then parameters), as the doc requires.
    fn insert(&mut self, segments: &[Segment<'_>], source: Source) -> Result<(), String> {
        let Some((first, rest)) = segments.split_first() else {
            return Err("is empty".to_owned());
        };
        match rest.first() {
            None => self.add_leaf(first, source),
            Some(next) => self.child(first, next)?.insert(rest, source),
        }
    }

    fn add_leaf(&mut self, segment: &Segment<'_>, source: Source) -> Result<(), String> {
        match (self, segment) {
            (Shape::Object(members), Segment::Name(name)) => {
                if members.iter().any(|(k, _)| k == name) {
                    return Err("is already used by another path".to_owned());
                }
                members.push(((*name).to_owned(), Shape::Leaf(source)));
                Ok(())
            }
            (Shape::Array(items), Segment::Index(i)) => {
                check_index(*i, items.len())?;
                if *i < items.len() {
                    return Err("is already used by another path".to_owned());
                }
                items.push(Shape::Leaf(source));
                Ok(())
            }
            (shape, segment) => Err(mismatch(shape, segment)),
        }
    }

    /// The container at `segment`, created (as an array or object, after `next`) if new.
    fn child(&mut self, segment: &Segment<'_>, next: &Segment<'_>) -> Result<&mut Shape, String> {
        match (self, segment) {
            (Shape::Object(members), Segment::Name(name)) => {
                let i = match members.iter().position(|(k, _)| k == name) {
                    Some(i) => i,
                    None => {
                        members.push(((*name).to_owned(), Shape::container_for(next)));
                        members.len() - 1
                    }
                };
                members.get_mut(i).map(|m| &mut m.1).ok_or_else(|| "could not be inserted".to_owned())
            }
            (Shape::Array(items), Segment::Index(i)) => {
                check_index(*i, items.len())?;
                if *i == items.len() {
                    items.push(Shape::container_for(next));
                }
                items.get_mut(*i).ok_or_else(|| "could not be inserted".to_owned())
            }
            (shape, segment) => Err(mismatch(shape, segment)),
        }
    }

    /// Whether any value below is set in this run (constants always are).
    fn present(&self, bag: &ClaimsBag) -> bool {
        match self {
            Shape::Leaf(Source::Claim(id)) => bag.contains(*id),
            Shape::Leaf(Source::Constant(_)) => true,
            Shape::Array(items) => items.iter().any(|i| i.present(bag)),
            Shape::Object(members) => members.iter().any(|(_, v)| v.present(bag)),
        }
    }

    /// Writes this run's JSON straight into `out`. Absent claims leave no trace: their members,
    /// and containers they leave empty, are omitted.
    fn write(&self, bag: &ClaimsBag, out: &mut String) {
        match self {
            Shape::Leaf(Source::Claim(id)) => match bag.get(*id) {
                Some(v) => match v.as_str() {
                    Some(text) => push_json_string(out, text),
                    None => Json::Leaf(v.to_json()).write(out),
                },
                None => out.push_str("null"),
            },
            Shape::Leaf(Source::Constant(v)) => {
                let _ = write!(out, "{v}");
            }
            Shape::Array(items) => {
                out.push('[');
                for (n, item) in items.iter().filter(|i| i.present(bag)).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    item.write(bag, out);
                }
                out.push(']');
            }
            Shape::Object(members) => {
                out.push('{');
                for (n, (key, value)) in members.iter().filter(|(_, v)| v.present(bag)).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    push_json_string(out, key);
                    out.push(':');
                    value.write(bag, out);
                }
                out.push('}');
            }
        }
    }
}

fn check_index(i: usize, len: usize) -> Result<(), String> {
    if i > len {
        return Err(format!(
            "skips to array index {i} while the array has {len} item(s); indexes must run from 0 without gaps, \
             claims before parameters"
        ));
    }
    Ok(())
}

fn mismatch(shape: &Shape, segment: &Segment<'_>) -> String {
    match (shape, segment) {
        (Shape::Leaf(_), _) => "goes below a value another path sets".to_owned(),
        (_, Segment::Index(i)) => format!("uses index {i} where another path has an object"),
        (_, Segment::Name(name)) => format!("uses the name '{name}' where another path has an array"),
    }
}

fn parse_path(path: &str) -> Result<Vec<Segment<'_>>, String> {
    let segments = path.split('.').map(segment).collect::<Result<Vec<_>, _>>()?;
    match segments.first() {
        Some(Segment::Index(_)) => Err("starts with an array index; the document is an object".to_owned()),
        _ => Ok(segments),
    }
}

fn generate_json(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("outputClaim")?;
    let mut root = Shape::Object(Vec::new());
    let path_problem = |at: Location, path: &str, why: String| Problem {
        kind: ProblemKind::InvalidParameter,
        at,
        message: format!("GenerateJson path '{path}' {why}"),
        suggestion: None,
    };
    for (i, input) in b.inputs().iter().enumerate() {
        let at = Location::Inputs(Some(i));
        let segments = parse_path(input.slot).map_err(|why| path_problem(at, input.slot, why))?;
        root.insert(&segments, Source::Claim(input.claim)).map_err(|why| path_problem(at, input.slot, why))?;
    }
    for (i, lit) in b.param_literals().iter().enumerate() {
        let at = Location::Params(Some(i));
        let data_type = lit.data_type.unwrap_or(DataType::String);
        let value = ClaimValue::parse(data_type, lit.value).map_err(|e| b.invalid_param(lit.id, e))?;
        let segments = parse_path(lit.id).map_err(|why| path_problem(at, lit.id, why))?;
        root.insert(&segments, Source::Constant(value.to_json())).map_err(|why| path_problem(at, lit.id, why))?;
    }
    Ok(Box::new(move |bag, _env| {
        let mut json = String::new();
        root.write(bag, &mut json);
        bag.set(output, ClaimValue::String(json));
        Ok(())
    }))
}

// ---------------------------------------------------------------------------------------------
// GetClaimFromJson, GetNumericClaimFromJson

/// The top-level member `name` of the JSON object in `text`.
fn member<'v>(json: &'v Value, name: &str) -> Result<&'v Value, TransformError> {
    let Value::Object(map) = json else {
        return Err(TransformError::invalid_value(format!("inputJson is {}, not a JSON object", kind_of(json))));
    };
    map.get(name).ok_or_else(|| TransformError::failed(format!("inputJson has no element '{name}'")))
}

fn claim_to_extract(b: &Bound<'_, '_>) -> Result<String, Problem> {
    b.param_str("claimToExtract").ok_or_else(|| b.invalid_param("claimToExtract", "is required"))
}

fn get_claim_from_json(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputJson")?;
    let output = b.required_output("extractedClaim")?;
    let name = claim_to_extract(b)?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "inputJson")? else {
            return Ok(());
        };
        let json = parse_json(text, "inputJson")?;
        // A null element leaves the claim unset.
        if let Some(value) = text_of(member(&json, &name)?) {
            bag.set(output, ClaimValue::String(value));
        }
        Ok(())
    }))
}

/// A JSON number (or numeric string) as a 64-bit integer; integral decimals such as `7.0` count.
fn to_long(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // i64::MAX is not exactly representable: the bound is exclusive at 2^63.
            (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
                .then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn get_numeric_claim_from_json(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputJson")?;
    let output = b.required_output("extractedClaim")?;
    let name = claim_to_extract(b)?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "inputJson")? else {
            return Ok(());
        };
        let json = parse_json(text, "inputJson")?;
        let value = member(&json, &name)?;
        if value.is_null() {
            return Ok(());
        }
        let n = to_long(value).ok_or_else(|| {
            TransformError::invalid_value(format!("element '{name}' is not a 64-bit integer: {value}"))
        })?;
        bag.set(output, ClaimValue::Long(n));
        Ok(())
    }))
}

// ---------------------------------------------------------------------------------------------
// GetSingleItemFromJson, GetSingleValueFromJsonArray

/// The first member, in document order, of the JSON object in `text`.
fn first_member(text: &str) -> Result<(String, Value), TransformError> {
    let json = parse_json(text, "inputJson")?;
    let Value::Object(map) = &json else {
        return Err(TransformError::invalid_value(format!("inputJson is {}, not a JSON object", kind_of(&json))));
    };
    // The map is sorted; read the first key from the text itself. The text is a valid object,
    // so after its `{` comes whitespace and the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let body = text.trim_start_matches([' ', '\t', '\n', '\r']).strip_prefix('{').unwrap_or_default();
    let key = serde_json::Deserializer::from_str(body).into_iter::<String>().next().and_then(Result::ok);
    let Some(key) = key else {
        return Err(TransformError::failed("inputJson is an empty object"));
    };
    let value = map.get(&key).cloned().unwrap_or(Value::Null);
    Ok((key, value))
}

fn get_single_item_from_json(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputJson")?;
    let key_out = b.required_output("key")?;
    let value_out = b.required_output("value")?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "inputJson")? else {
            return Ok(());
        };
        let (key, value) = first_member(text)?;
        bag.set(key_out, ClaimValue::String(key));
        if let Some(value) = text_of(&value) {
            bag.set(value_out, ClaimValue::String(value));
        }
        Ok(())
    }))
}

fn get_single_value_from_json_array(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputJsonClaim")?;
    let output = b.required_output("extractedClaim")?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "inputJsonClaim")? else {
            return Ok(());
        };
        let json = parse_json(text, "inputJsonClaim")?;
        let Value::Array(items) = &json else {
            return Err(TransformError::invalid_value(format!(
                "inputJsonClaim is {}, not a JSON array",
                kind_of(&json)
            )));
        };
        let first = items.first().ok_or_else(|| TransformError::failed("inputJsonClaim is an empty array"))?;
        if let Some(value) = text_of(first) {
            bag.set(output, ClaimValue::String(value));
        }
        Ok(())
    }))
}

// ---------------------------------------------------------------------------------------------
// GetClaimsFromJsonArray(V2)

static NULL: Value = Value::Null;

struct Wanted {
    /// The slot name, which is the claim type's id when TransformationClaimType is omitted.
    name: String,
    claim: ClaimId,
    data_type: DataType,
}

/// A JSON value as a claim of `data_type`; `Ok(None)` for an empty value (null or "").
fn convert(value: &Value, data_type: DataType, name: &str) -> Result<Option<ClaimValue>, TransformError> {
    if value.is_null() || value.as_str() == Some("") {
        return Ok(None);
    }
    let bad =
        || TransformError::invalid_value(format!("the value of '{name}' ({value}) cannot be read as {data_type}"));
    let converted = match (data_type, value) {
        (DataType::String, v) => text_of(v).map(ClaimValue::String),
        (DataType::Int, Value::String(s)) => s.trim().parse().ok().map(ClaimValue::Int),
        (DataType::Int, v) => to_long(v).and_then(|n| i32::try_from(n).ok()).map(ClaimValue::Int),
        (DataType::Boolean, Value::Bool(b)) => Some(ClaimValue::Boolean(*b)),
        (DataType::Boolean, Value::String(s)) => parse_bool(s).map(ClaimValue::Boolean),
        (DataType::DateTime, Value::String(s)) => {
            parse_date_time(s.trim()).map(|dt| ClaimValue::DateTime(dt, DateTimeForm::Json))
        }
        _ => None,
    };
    converted.map(Some).ok_or_else(bad)
}

fn get_claims_from_json_array(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let source = b.required_input("jsonSource")?;
    let error_on_missing = b.param_bool("errorOnMissingClaims").unwrap_or(false);
    let include_empty = match b.param("includeEmptyClaims") {
        None => false,
        Some(ClaimValue::Boolean(v)) => *v,
        Some(other) => parse_bool(&other.to_string())
            .ok_or_else(|| b.invalid_param("includeEmptyClaims", format!("expected true or false, found '{other}'")))?,
    };
    let key_name =
        b.param_str("jsonSourceKeyName").ok_or_else(|| b.invalid_param("jsonSourceKeyName", "is required"))?;
    let value_name =
        b.param_str("jsonSourceValueName").ok_or_else(|| b.invalid_param("jsonSourceValueName", "is required"))?;
    let wanted: Vec<Wanted> = b
        .outputs()
        .iter()
        .map(|o| Wanted { name: o.slot.to_owned(), claim: o.claim, data_type: o.data_type })
        .collect();
    Ok(Box::new(move |bag, _env| {
        let elements: Vec<Value> = match bag.get(source) {
            None => return Ok(()),
            Some(ClaimValue::StringCollection(items)) => {
                items.iter().map(|item| parse_json(item, "jsonSource")).collect::<Result<_, _>>()?
            }
            Some(v) => {
                let text = v.as_str().ok_or_else(|| TransformError::invalid_value("jsonSource is not a string"))?;
                match parse_json(text, "jsonSource")? {
                    Value::Array(items) => items,
                    other => {
                        return Err(TransformError::invalid_value(format!(
                            "jsonSource is {}, not a JSON array",
                            kind_of(&other)
                        )));
                    }
                }
            }
        };
        let mut found = Vec::with_capacity(wanted.len());
        for w in &wanted {
            // The first element whose key property names the claim; others are ignored.
            let value = elements.iter().find_map(|e| {
                let obj = e.as_object()?;
                (obj.get(&key_name)?.as_str()? == w.name).then(|| obj.get(&value_name).unwrap_or(&NULL))
            });
            match value {
                None if error_on_missing => {
                    return Err(TransformError::failed(format!(
                        "jsonSource has no element with {key_name} '{}'",
                        w.name
                    )));
                }
                None => {}
                Some(value) => match convert(value, w.data_type, &w.name)? {
                    Some(v) => found.push((w.claim, v)),
                    None if include_empty && w.data_type == DataType::String => {
                        found.push((w.claim, ClaimValue::String(String::new())));
                    }
                    None => {}
                },
            }
        }
        for (claim, value) in found {
            bag.set(claim, value);
        }
        Ok(())
    }))
}

// ---------------------------------------------------------------------------------------------
// XmlStringToJsonString

/// A node of the parsed XML document.
#[derive(Debug)]
enum XmlNode {
    Element(XmlElement),
    Text(String),
    CData(String),
    Instruction(String, String),
}

#[derive(Debug)]
struct XmlElement {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<XmlNode>,
    /// `<a/>` rather than `<a></a>`: Json.NET writes null for the first, "" for the second.
    self_closing: bool,
}

#[derive(Debug, Default)]
struct XmlDocument {
    declaration: Vec<(String, String)>,
    /// Processing instructions outside the root element.
    instructions: Vec<(String, String)>,
    root: Option<XmlElement>,
}

fn xml_error(e: impl std::fmt::Display) -> TransformError {
    TransformError::invalid_value(format!("xml is not well-formed XML: {e}"))
}

fn read_element(e: &quick_xml::events::BytesStart<'_>, self_closing: bool) -> Result<XmlElement, TransformError> {
    let mut attributes = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(xml_error)?;
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(xml_error)?;
        attributes.push((attr.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(XmlElement { name: e.name().as_ref().to_owned(), attributes, children: Vec::new(), self_closing })
}

fn parse_xml(text: &str) -> Result<XmlDocument, TransformError> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(text);
    let mut doc = XmlDocument::default();
    let mut open: Vec<XmlElement> = Vec::new();
    let mut text_buf = String::new();

    // Whitespace-only text is insignificant (XmlDocument without PreserveWhitespace); other
    // text must sit inside the root element.
    fn flush(text_buf: &mut String, open: &mut [XmlElement]) -> Result<(), TransformError> {
        if text_buf.chars().all(char::is_whitespace) {
            text_buf.clear();
            return Ok(());
        }
        match open.last_mut() {
            Some(parent) => {
                parent.children.push(XmlNode::Text(std::mem::take(text_buf)));
                Ok(())
            }
            None => Err(xml_error("text outside the root element")),
        }
    }
    fn close(element: XmlElement, open: &mut [XmlElement], doc: &mut XmlDocument) -> Result<(), TransformError> {
        match open.last_mut() {
            Some(parent) => parent.children.push(XmlNode::Element(element)),
            None if doc.root.is_none() => doc.root = Some(element),
            None => return Err(xml_error("more than one root element")),
        }
        Ok(())
    }

    loop {
        let event = reader.read_event().map_err(xml_error)?;
        if !matches!(event, Event::Text(_) | Event::GeneralRef(_)) {
            flush(&mut text_buf, &mut open)?;
        }
        match event {
            Event::Start(_) | Event::Empty(_) if open.len() >= MAX_DEPTH => {
                return Err(xml_error(format!("elements are nested more than {MAX_DEPTH} levels deep")));
            }
            Event::Start(e) => open.push(read_element(&e, false)?),
            Event::Empty(e) => {
                let element = read_element(&e, true)?;
                close(element, &mut open, &mut doc)?;
            }
            Event::End(_) => match open.pop() {
                Some(element) => close(element, &mut open, &mut doc)?,
                None => return Err(xml_error("unmatched end tag")),
            },
            Event::Text(t) => text_buf.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_error)? {
                    Some(c) => c,
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(xml_error(format!("unknown entity &{other};"))),
                    },
                };
                text_buf.push(c);
            }
            Event::CData(c) => match open.last_mut() {
                Some(parent) => parent.children.push(XmlNode::CData(c.xml10_content().into_owned())),
                None => return Err(xml_error("CDATA outside the root element")),
            },
            Event::Decl(d) => {
                let mut attrs = vec![("version".to_owned(), d.version().map_err(xml_error)?.into_owned())];
                if let Some(enc) = d.encoding() {
                    attrs.push(("encoding".to_owned(), enc.map_err(xml_error)?.into_owned()));
                }
                if let Some(sa) = d.standalone() {
                    attrs.push(("standalone".to_owned(), sa.map_err(xml_error)?.into_owned()));
                }
                doc.declaration = attrs;
            }
            Event::PI(p) => {
                let pi = (p.target().to_owned(), p.content().trim_start().to_owned());
                match open.last_mut() {
                    Some(parent) => parent.children.push(XmlNode::Instruction(pi.0, pi.1)),
                    None => doc.instructions.push(pi),
                }
            }
            // Comments are not data; Json.NET would write them as JSON comments.
            Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(element) = open.last() {
        return Err(xml_error(format!("element <{}> is not closed", element.name)));
    }
    if doc.root.is_none() {
        return Err(xml_error("no root element"));
    }
    Ok(doc)
}

/// Json.NET's `SerializeXmlNode` conventions: attributes as `@name`, text beside elements or
/// attributes as `#text`, CDATA as `#cdata-section`, processing instructions as `?target`,
/// same-named siblings grouped into an array at the first one's place, every value a string.
fn element_json(e: &XmlElement) -> Json {
    if let ([], [XmlNode::Text(t)]) = (e.attributes.as_slice(), e.children.as_slice()) {
        return Json::Leaf(Value::String(t.clone()));
    }
    if e.attributes.is_empty() && e.children.is_empty() {
        return Json::Leaf(if e.self_closing { Value::Null } else { Value::String(String::new()) });
    }
    let mut members: Vec<(String, Json)> =
        e.attributes.iter().map(|(k, v)| (format!("@{k}"), Json::Leaf(Value::String(v.clone())))).collect();
    let mut groups: Vec<(String, Vec<Json>)> = Vec::new();
    for child in &e.children {
        let (name, value) = match child {
            XmlNode::Element(c) => (c.name.clone(), element_json(c)),
            XmlNode::Text(t) => ("#text".to_owned(), Json::Leaf(Value::String(t.clone()))),
            XmlNode::CData(t) => ("#cdata-section".to_owned(), Json::Leaf(Value::String(t.clone()))),
            XmlNode::Instruction(target, content) => (format!("?{target}"), Json::Leaf(Value::String(content.clone()))),
        };
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    for (name, mut values) in groups {
        let value = if values.len() == 1 { values.remove(0) } else { Json::Array(values) };
        members.push((name, value));
    }
    Json::Object(members)
}

fn document_json(doc: &XmlDocument) -> Json {
    let mut members = Vec::new();
    if !doc.declaration.is_empty() {
        let attrs =
            doc.declaration.iter().map(|(k, v)| (format!("@{k}"), Json::Leaf(Value::String(v.clone())))).collect();
        members.push(("?xml".to_owned(), Json::Object(attrs)));
    }
    for (target, content) in &doc.instructions {
        members.push((format!("?{target}"), Json::Leaf(Value::String(content.clone()))));
    }
    if let Some(root) = &doc.root {
        members.push((root.name.clone(), element_json(root)));
    }
    Json::Object(members)
}

fn xml_string_to_json_string(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("xml")?;
    let output = b.required_output("json")?;
    Ok(Box::new(move |bag, _env| {
        let Some(text) = string_input(bag, input, "xml")? else {
            return Ok(());
        };
        let doc = parse_xml(text.strip_prefix('\u{feff}').unwrap_or(text))?;
        bag.set(output, ClaimValue::String(document_json(&doc).to_text()));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testing::{case, coll, s};
    use crate::{ClaimValue, DataType, DateTimeForm, ErrorCode};

    /// The JSON held by a string output.
    fn json_of(out: Option<ClaimValue>) -> Value {
        match out {
            Some(ClaimValue::String(text)) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}")),
            other => panic!("expected a string output, got {other:?}"),
        }
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let mut text: String = (0u8..0x20).map(char::from).collect();
        text.push_str("\"\\/ İ😀e\u{301}\u{7f}\u{2028}");
        let mut ours = String::new();
        super::push_json_string(&mut ours, &text);
        assert_eq!(ours, serde_json::to_string(&text).unwrap());
    }

    // --- CreateJsonArray ---

    fn create_json_array(input: &str) -> Option<ClaimValue> {
        case("CreateJsonArray").input("inputClaim", s(input)).output("outputClaim", DataType::String).run_one().unwrap()
    }

    #[test]
    fn create_json_array_wraps_the_documented_value() {
        // The doc's output shows contoso.com for an example.com input (appendix 9): the rule wins.
        assert_eq!(create_json_array("someone@example.com"), Some(s(r#"["someone@example.com"]"#)));
    }

    #[test]
    fn create_json_array_escapes_and_keeps_unicode() {
        assert_eq!(create_json_array(""), Some(s(r#"[""]"#)));
        assert_eq!(create_json_array("İ\"😀\ne\u{301}"), Some(s("[\"İ\\\"😀\\ne\u{301}\"]")));
        // JSON text is a plain string to it.
        assert_eq!(create_json_array(r#"["a"]"#), Some(s(r#"["[\"a\"]"]"#)));
    }

    #[test]
    fn create_json_array_missing_input_writes_nothing() {
        let out = case("CreateJsonArray")
            .input_claim("inputClaim", "email", DataType::String, None)
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn create_json_array_slot_types_are_checked() {
        let problems =
            case("CreateJsonArray").input("inputClaim", coll(&["a"])).output("outputClaim", DataType::String).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]inputClaim"), "{}", problems[0].message);
    }

    // --- GenerateJson ---

    #[test]
    fn generate_json_documented_arrays_example() {
        let out = case("GenerateJson")
            .input_claim("emails.0.name", "mailToName1", DataType::String, Some(s("Joni")))
            .input_claim("emails.0.address", "mailToAddress1", DataType::String, Some(s("joni@contoso.com")))
            .input_claim("emails.1.name", "mailToName2", DataType::String, Some(s("Emily")))
            .input_claim("emails.1.address", "mailToAddress2", DataType::String, Some(s("emily@contoso.com")))
            .param("values.0.app", "string", "Mobile app")
            .param("values.0.appId", "string", "123")
            .param("values.1.program", "string", "Holidays")
            .param("values.2.color", "string", "Yellow")
            .param("values.2.language", "string", "Spanish")
            .param("values.2.logo", "string", "contoso.png")
            .param("values.2.background", "string", "White")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        let expected = json!({
            "values": [
                {"app": "Mobile app", "appId": "123"},
                {"program": "Holidays"},
                {"color": "Yellow", "language": "Spanish", "logo": "contoso.png", "background": "White"}
            ],
            "emails": [
                {"name": "Joni", "address": "joni@contoso.com"},
                {"name": "Emily", "address": "emily@contoso.com"}
            ]
        });
        assert_eq!(json_of(out.clone()), expected);
        // Members appear in declaration order, claims first.
        let Some(ClaimValue::String(text)) = out else { panic!() };
        assert!(text.starts_with(r#"{"emails":[{"name":"Joni","address":"joni@contoso.com"}"#), "{text}");
    }

    #[test]
    fn generate_json_documented_array_continued_in_parameters() {
        let out = case("GenerateJson")
            .input_claim("values.0.app", "app", DataType::String, Some(s("Mobile app")))
            .input_claim("values.0.appId", "appId", DataType::String, Some(s("123")))
            .param("values.1.program", "string", "Holidays")
            .param("values.2.color", "string", "Yellow")
            .param("values.2.language", "string", "Spanish")
            .param("values.2.logo", "string", "contoso.png")
            .param("values.2.background", "string", "White")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(
            json_of(out),
            json!({"values": [
                {"app": "Mobile app", "appId": "123"},
                {"program": "Holidays"},
                {"color": "Yellow", "language": "Spanish", "logo": "contoso.png", "background": "White"}
            ]})
        );
    }

    #[test]
    fn generate_json_documented_sendgrid_example() {
        let out = case("GenerateJson")
            .input_claim("personalizations.0.to.0.email", "email", DataType::String, Some(s("someone@example.com")))
            .input_claim("personalizations.0.dynamic_template_data.otp", "otp", DataType::String, Some(s("346349")))
            .input_claim(
                "personalizations.0.dynamic_template_data.verify-email",
                "copiedEmail",
                DataType::String,
                Some(s("someone@example.com")),
            )
            .param("template_id", "string", "d-4c56ffb40fa648b1aa6822283df94f60")
            .param("from.email", "string", "service@contoso.com")
            .param("personalizations.0.subject", "string", "Contoso account email verification code")
            .output_claim("outputClaim", "requestBody", DataType::String)
            .run_one()
            .unwrap();
        // The doc's output shows another template_id (appendix 9); the input's is what is written.
        assert_eq!(
            json_of(out),
            json!({
                "personalizations": [{
                    "to": [{"email": "someone@example.com"}],
                    "dynamic_template_data": {"otp": "346349", "verify-email": "someone@example.com"},
                    "subject": "Contoso account email verification code"
                }],
                "template_id": "d-4c56ffb40fa648b1aa6822283df94f60",
                "from": {"email": "service@contoso.com"}
            })
        );
    }

    fn customer_entity(email: &str) -> Option<ClaimValue> {
        case("GenerateJson")
            .input_claim("customerEntity.email", "email", DataType::String, Some(s(email)))
            .input_claim(
                "customerEntity.userObjectId",
                "objectId",
                DataType::String,
                Some(s("01234567-89ab-cdef-0123-456789abcdef")),
            )
            .input_claim("customerEntity.firstName", "givenName", DataType::String, Some(s("John")))
            .input_claim("customerEntity.lastName", "surname", DataType::String, Some(s("Smith")))
            .param("customerEntity.role.name", "string", "Administrator")
            .param("customerEntity.role.id", "long", "1")
            .output_claim("outputClaim", "requestBody", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn generate_json_documented_rest_example_with_a_long_parameter() {
        let out = customer_entity("john.s@contoso.com");
        let expected = r#"{"customerEntity":{"email":"john.s@contoso.com","userObjectId":"01234567-89ab-cdef-0123-456789abcdef","firstName":"John","lastName":"Smith","role":{"name":"Administrator","id":1}}}"#;
        assert_eq!(out, Some(s(expected)));
    }

    #[test]
    fn generate_json_escapes_a_claim_holding_json() {
        let out = customer_entity(r#"["someone@contoso.com"]"#);
        assert_eq!(json_of(out)["customerEntity"]["email"], json!("[\"someone@contoso.com\"]"));
    }

    #[test]
    fn generate_json_writes_claims_of_other_types_in_their_json_form() {
        // The unit-test policy's claims and parameters.
        let date_time = ClaimValue::parse(DataType::DateTime, "2024-02-29T13:45:00Z").unwrap();
        let out = case("GenerateJson")
            .input_claim("customerEntity.BooleanClaim", "boolean1", DataType::Boolean, Some(ClaimValue::Boolean(true)))
            .input_claim("customerEntity.DateTimeClaim", "dateTime1", DataType::DateTime, Some(date_time))
            .input_claim("customerEntity.IntClaim", "int1", DataType::Int, Some(ClaimValue::Int(-7)))
            .input_claim("customerEntity.LongClaim", "long1", DataType::Long, Some(ClaimValue::Long(123456)))
            .input_claim("customerEntity.StringClaim", "string1", DataType::String, Some(s("İstanbul 😀")))
            .input_claim("customerEntity.Roles", "roles", DataType::StringCollection, Some(coll(&["a", "b"])))
            .param("customerEntity.properties.FixedString", "string", "Administrator")
            .param("customerEntity.properties.FixedLong", "long", "123456789")
            .param("customerEntity.properties.FixedInt", "int", "1513693")
            .param("customerEntity.properties.FixedBool", "boolean", "true")
            .output_claim("outputClaim", "result", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(
            json_of(out),
            json!({"customerEntity": {
                "BooleanClaim": true,
                "DateTimeClaim": "2024-02-29T13:45:00.0000000Z",
                "IntClaim": -7,
                "LongClaim": 123456,
                "StringClaim": "İstanbul 😀",
                "Roles": ["a", "b"],
                "properties": {
                    "FixedString": "Administrator",
                    "FixedLong": 123456789,
                    "FixedInt": 1513693,
                    "FixedBool": true
                }
            }})
        );
    }

    #[test]
    fn generate_json_omits_absent_claims_and_the_containers_they_empty() {
        let out = case("GenerateJson")
            .input_claim("to.0.email", "email", DataType::String, None)
            .input_claim("to.1.email", "email2", DataType::String, Some(s("b@example.com")))
            .input_claim("params.otp", "otp", DataType::String, None)
            .input_claim("params.name", "name", DataType::String, Some(s("")))
            .input_claim("from.email", "from", DataType::String, None)
            .param("templateId", "int", "1")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s(r#"{"to":[{"email":"b@example.com"}],"params":{"name":""},"templateId":1}"#)));
        let out = case("GenerateJson")
            .input_claim("a.b", "a", DataType::String, None)
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("{}")));
    }

    #[test]
    fn generate_json_unicode_names() {
        let out = case("GenerateJson")
            .input_claim("ünïcödé.名前", "n", DataType::String, Some(s("e\u{301}😀")))
            .param("ünïcödé.\"quoted\"", "string", "x")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("{\"ünïcödé\":{\"名前\":\"e\u{301}😀\",\"\\\"quoted\\\"\":\"x\"}}")));
    }

    fn generate_json_problem(claims: &[&'static str], params: &[&'static str]) -> String {
        let mut c = case("GenerateJson");
        for (i, path) in claims.iter().enumerate() {
            let claim: &'static str = ["c0", "c1", "c2", "c3"][i];
            c = c.input_claim(path, claim, DataType::String, Some(s("v")));
        }
        for path in params {
            c = c.param(path, "string", "v");
        }
        let problems = c.output("outputClaim", DataType::String).compile_problems();
        assert_eq!(problems.len(), 1, "{claims:?} {params:?}: {problems:?}");
        problems[0].message.clone()
    }

    #[test]
    fn generate_json_rejects_bad_paths_at_compile_time() {
        let gap = generate_json_problem(&["emails.1.name"], &[]);
        assert!(gap.contains("'emails.1.name'") && gap.contains("without gaps"), "{gap}");
        let gap = generate_json_problem(&["emails.0.name"], &["emails.2.name"]);
        assert!(gap.contains("'emails.2.name'"), "{gap}");
        // Claims come first: a parameter cannot start an array a claim continues.
        let order = generate_json_problem(&["values.1.program"], &["values.0.app"]);
        assert!(order.contains("'values.1.program'"), "{order}");
        let twice = generate_json_problem(&["a.b"], &["a.b"]);
        assert!(twice.contains("already used"), "{twice}");
        let below = generate_json_problem(&["a"], &["a.b"]);
        assert!(below.contains("below a value"), "{below}");
        let above = generate_json_problem(&["a.b"], &["a"]);
        assert!(above.contains("already used"), "{above}");
        let kind = generate_json_problem(&["a.b"], &["a.0"]);
        assert!(kind.contains("index 0 where another path has an object"), "{kind}");
        let kind = generate_json_problem(&["a.0"], &["a.b"]);
        assert!(kind.contains("name 'b' where another path has an array"), "{kind}");
        for bad in ["a..b", ".a", "a.", ""] {
            let empty = generate_json_problem(&[], &[bad]);
            assert!(empty.contains("empty segment"), "{bad}: {empty}");
        }
        let root = generate_json_problem(&["0.a"], &[]);
        assert!(root.contains("starts with an array index"), "{root}");
        let negative = generate_json_problem(&[], &["a.-1"]);
        assert!(negative.contains("negative array index -1"), "{negative}");
        let huge = generate_json_problem(&[], &["a.99999999999999999999"]);
        assert!(huge.contains("too large"), "{huge}");
    }

    #[test]
    fn generate_json_rejects_a_bad_parameter_literal() {
        let problems = case("GenerateJson")
            .param("customerEntity.role.id", "long", "one")
            .output("outputClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("customerEntity.role.id"), "{}", problems[0].message);
        let problems = case("GenerateJson")
            .param("a", "int", "2147483648")
            .output("outputClaim", DataType::String)
            .compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn generate_json_slot_types_are_checked() {
        let problems = case("GenerateJson")
            .input_claim("a", "a", DataType::String, Some(s("x")))
            .output("outputClaim", DataType::Int)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]outputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]outputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn generate_json_with_nothing_declared_is_an_empty_object() {
        let out = case("GenerateJson").output("outputClaim", DataType::String).run_one().unwrap();
        assert_eq!(out, Some(s("{}")));
    }

    // --- GetClaimFromJson ---

    fn get_claim(input: &str, name: &'static str) -> Result<Option<ClaimValue>, crate::TransformError> {
        case("GetClaimFromJson")
            .input("inputJson", s(input))
            .param("claimToExtract", "string", name)
            .output("extractedClaim", DataType::String)
            .run_one()
    }

    #[test]
    fn get_claim_from_json_documented_examples() {
        let input = r#"{"emailAddress": "someone@example.com", "displayName": "Someone"}"#;
        assert_eq!(get_claim(input, "emailAddress").unwrap(), Some(s("someone@example.com")));
        assert_eq!(get_claim(input, "displayName").unwrap(), Some(s("Someone")));
    }

    #[test]
    fn get_claim_from_json_renders_other_values_as_text() {
        let input = r#"{"n": 6353399, "f": 1.5, "t": true, "o": {"b": [1, "x"]}, "z": null, "u": "İ😀e\u0301"}"#;
        assert_eq!(get_claim(input, "n").unwrap(), Some(s("6353399")));
        assert_eq!(get_claim(input, "f").unwrap(), Some(s("1.5")));
        assert_eq!(get_claim(input, "t").unwrap(), Some(s("True")));
        assert_eq!(get_claim(input, "o").unwrap(), Some(s(r#"{"b":[1,"x"]}"#)));
        assert_eq!(get_claim(input, "u").unwrap(), Some(s("İ😀e\u{301}")));
        // A null element leaves the claim unset.
        assert_eq!(get_claim(input, "z").unwrap(), None);
        assert_eq!(get_claim(r#"{"e": ""}"#, "e").unwrap(), Some(s("")));
    }

    #[test]
    fn get_claim_from_json_reads_top_level_names_literally() {
        let nested = r#"{"customerEntity": {"role": {"name": "Administrator"}}, "a.b": "dotted"}"#;
        assert_eq!(get_claim(nested, "a.b").unwrap(), Some(s("dotted")));
        let err = get_claim(nested, "customerEntity.role.name").unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        // Names are case-sensitive.
        assert_eq!(get_claim(nested, "A.B").unwrap_err().code, ErrorCode::Failed);
    }

    #[test]
    fn get_claim_from_json_errors() {
        assert_eq!(get_claim("{}", "x").unwrap_err().code, ErrorCode::Failed);
        for bad in ["", "not json", "{'single': 'quotes'}", r#"["x"]"#, "42"] {
            assert_eq!(get_claim(bad, "x").unwrap_err().code, ErrorCode::InvalidValue, "{bad}");
        }
    }

    #[test]
    fn get_claim_from_json_missing_input_writes_nothing() {
        let out = case("GetClaimFromJson")
            .input_claim("inputJson", "json", DataType::String, None)
            .param("claimToExtract", "string", "x")
            .output("extractedClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn get_claim_from_json_requires_its_parameter_and_types() {
        let problems =
            case("GetClaimFromJson").input("inputJson", s("{}")).output("extractedClaim", DataType::String).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]claimToExtract"), "{}", problems[0].message);
        let problems = case("GetClaimFromJson")
            .input("inputJson", s("{}"))
            .param("claimToExtract", "string", "x")
            .output("extractedClaim", DataType::Long)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Long]extractedClaim"), "{}", problems[0].message);
    }

    // --- GetClaimsFromJsonArray ---

    const DOC_ARRAY: &str = r#"[
        {"key": "email", "value": "someone@example.com"},
        {"key": "displayName", "value": "Someone"},
        {"key": "membershipID", "value": 6353399},
        {"key": "active", "value": true},
        {"key": "birthDate", "value": "2005-09-23T00:00:00Z"}
    ]"#;

    fn doc_outputs(c: crate::testing::Case) -> crate::testing::Case {
        c.output("email", DataType::String)
            .output("displayName", DataType::String)
            .output("membershipID", DataType::Int)
            .output("active", DataType::Boolean)
            .output("birthDate", DataType::DateTime)
    }

    fn with_params(
        c: crate::testing::Case,
        error_on_missing: &'static str,
        include_empty: &'static str,
    ) -> crate::testing::Case {
        c.param("errorOnMissingClaims", "boolean", error_on_missing)
            .param("includeEmptyClaims", "boolean", include_empty)
            .param("jsonSourceKeyName", "string", "key")
            .param("jsonSourceValueName", "string", "value")
    }

    fn doc_expected() -> Vec<(&'static str, ClaimValue)> {
        vec![
            ("email", s("someone@example.com")),
            ("displayName", s("Someone")),
            ("membershipID", ClaimValue::Int(6353399)),
            ("active", ClaimValue::Boolean(true)),
            ("birthDate", json_date_time("2005-09-23T00:00:00Z")),
        ]
    }

    /// A dateTime as the JSON methods write it.
    fn json_date_time(text: &str) -> ClaimValue {
        ClaimValue::DateTime(crate::value::parse_date_time(text).unwrap(), DateTimeForm::Json)
    }

    /// The documented outputs, as text: the dateTime keeps the documented form.
    fn doc_texts(out: &[(&'static str, ClaimValue)]) -> Vec<String> {
        out.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    const DOC_TEXTS: [&str; 5] = [
        "email=someone@example.com",
        "displayName=Someone",
        "membershipID=6353399",
        "active=True",
        "birthDate=2005-09-23T00:00:00Z",
    ];

    #[test]
    fn get_claims_from_json_array_documented_example() {
        let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(DOC_ARRAY)), "false", "false");
        let out = doc_outputs(c).run().unwrap();
        assert_eq!(out, doc_expected());
        assert_eq!(doc_texts(&out), DOC_TEXTS);
    }

    #[test]
    fn get_claims_from_json_array_empty_values() {
        let source = r#"[{"key":"email","value":""},{"key":"displayName","value":null},{"key":"active"}]"#;
        let run = |include: &'static str| {
            let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(source)), "false", include);
            c.output("email", DataType::String)
                .output("displayName", DataType::String)
                .output("active", DataType::Boolean)
                .run()
                .unwrap()
        };
        assert_eq!(run("false"), vec![]);
        // Empty values make empty string claims; a boolean has no empty value.
        assert_eq!(run("true"), vec![("email", s("")), ("displayName", s(""))]);
    }

    #[test]
    fn get_claims_from_json_array_missing_claims() {
        let source = r#"[{"key":"email","value":"a@example.com"}]"#;
        let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(source)), "false", "false");
        let out = c.output("email", DataType::String).output("displayName", DataType::String).run().unwrap();
        assert_eq!(out, vec![("email", s("a@example.com"))]);
        let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(source)), "true", "false");
        let err = c.output("email", DataType::String).output("displayName", DataType::String).run().unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert!(err.message.contains("displayName"), "{}", err.message);
    }

    #[test]
    fn get_claims_from_json_array_conversions() {
        let source = r#"[
            {"key":"n","value":"42"},{"key":"t","value":"TRUE"},{"key":"sn","value":12.5},
            {"key":"sb","value":false},{"key":"so","value":{"a":1}},{"key":"d","value":"2020-03-09T09:15:00+01:00"},
            {"key":"f","value":"2020-03-09T09:15:00.1200000Z"},{"key":"u","value":"İstanbul 😀"}
        ]"#;
        let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(source)), "true", "false");
        let out = c
            .output("n", DataType::Int)
            .output("t", DataType::Boolean)
            .output("sn", DataType::String)
            .output("sb", DataType::String)
            .output("so", DataType::String)
            .output("d", DataType::DateTime)
            .output("f", DataType::DateTime)
            .output("u", DataType::String)
            .run()
            .unwrap();
        assert_eq!(
            out,
            vec![
                ("n", ClaimValue::Int(42)),
                ("t", ClaimValue::Boolean(true)),
                ("sn", s("12.5")),
                ("sb", s("False")),
                ("so", s(r#"{"a":1}"#)),
                ("d", json_date_time("2020-03-09T08:15:00Z")),
                ("f", json_date_time("2020-03-09T09:15:00.12Z")),
                ("u", s("İstanbul 😀")),
            ]
        );
        // Offsets become UTC; the fraction loses its trailing zeros.
        assert_eq!(out[5].1.to_string(), "2020-03-09T08:15:00Z");
        assert_eq!(out[6].1.to_string(), "2020-03-09T09:15:00.12Z");
    }

    #[test]
    fn get_claims_from_json_array_conversion_failures_change_nothing() {
        for (value, data_type) in [
            ("2147483648", DataType::Int),
            ("1.5", DataType::Int),
            (r#""abc""#, DataType::Int),
            (r#""yes""#, DataType::Boolean),
            ("1", DataType::Boolean),
            (r#""yesterday""#, DataType::DateTime),
            ("20050923", DataType::DateTime),
        ] {
            let source: &'static str =
                Box::leak(format!(r#"[{{"key":"email","value":"a"}},{{"key":"x","value":{value}}}]"#).into_boxed_str());
            let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(source)), "false", "false");
            let err = c.output("email", DataType::String).output("x", data_type).run().unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue, "{value} as {data_type}");
        }
    }

    #[test]
    fn get_claims_from_json_array_matching_rules() {
        let source = r#"[
            "not an object", {"value":"no key"}, {"type":"email"}, {"type":7,"val":"numeric key"},
            {"type":"email","val":"first@example.com"}, {"type":"email","val":"second@example.com"},
            {"type":"Email","val":"other case"}
        ]"#;
        let out = case("GetClaimsFromJsonArray")
            .input("jsonSource", s(source))
            .param("jsonSourceKeyName", "string", "type")
            .param("jsonSourceValueName", "string", "val")
            .output("email", DataType::String)
            .run()
            .unwrap();
        // {"type":"email"} without a value is an empty value, skipped; the first full match wins.
        assert_eq!(out, vec![]);
        let source = r#"[{"type":"email","val":"first@example.com"},{"type":"email","val":"second@example.com"}]"#;
        let out = case("GetClaimsFromJsonArray")
            .input("jsonSource", s(source))
            .param("jsonSourceKeyName", "string", "type")
            .param("jsonSourceValueName", "string", "val")
            .output("email", DataType::String)
            .run()
            .unwrap();
        assert_eq!(out, vec![("email", s("first@example.com"))]);
    }

    #[test]
    fn get_claims_from_json_array_rejects_sources_that_are_not_arrays() {
        for bad in ["", "nope", r#"{"key":"email","value":"x"}"#] {
            let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s(bad)), "false", "false");
            let err = c.output("email", DataType::String).run().unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue, "{bad}");
        }
        let c = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s("[]")), "false", "false");
        assert_eq!(c.output("email", DataType::String).run().unwrap(), vec![]);
    }

    #[test]
    fn get_claims_from_json_array_missing_input_writes_nothing() {
        let c = case("GetClaimsFromJsonArray").input_claim("jsonSource", "src", DataType::String, None);
        let c = with_params(c, "true", "true");
        assert_eq!(c.output("email", DataType::String).run().unwrap(), vec![]);
    }

    #[test]
    fn get_claims_from_json_array_parameters() {
        // includeEmptyClaims may be written as a string, as the table types it.
        let c = case("GetClaimsFromJsonArray")
            .input("jsonSource", s(r#"[{"key":"email","value":""}]"#))
            .param("includeEmptyClaims", "string", "True")
            .param("jsonSourceKeyName", "string", "key")
            .param("jsonSourceValueName", "string", "value");
        assert_eq!(c.output("email", DataType::String).run().unwrap(), vec![("email", s(""))]);
        let problems = case("GetClaimsFromJsonArray")
            .input("jsonSource", s("[]"))
            .param("includeEmptyClaims", "string", "maybe")
            .param("jsonSourceKeyName", "string", "key")
            .param("jsonSourceValueName", "string", "value")
            .output("email", DataType::String)
            .compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("includeEmptyClaims"), "{}", problems[0].message);
        let problems = case("GetClaimsFromJsonArray")
            .input("jsonSource", s("[]"))
            .param("errorOnMissingClaims", "boolean", "perhaps")
            .param("jsonSourceValueName", "string", "value")
            .output("email", DataType::String)
            .check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.message.contains("errorOnMissingClaims")), "{problems:?}");
        assert!(problems.iter().any(|p| p.message.contains("[String]jsonSourceKeyName")), "{problems:?}");
    }

    #[test]
    fn get_claims_from_json_array_slot_names_and_types_are_checked() {
        // The table's jsonSourceClaim is a doc defect; the service's slot is jsonSource.
        let problems = with_params(case("GetClaimsFromJsonArray").input("jsonSourceClaim", s("[]")), "false", "false")
            .output("email", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]jsonSourceClaim"), "{}", problems[0].message);
        assert!(
            problems[0]
                .message
                .contains("expected by the TransformMethod but were not declared in the Policy: [String]jsonSource.")
        );
        let problems = with_params(case("GetClaimsFromJsonArray").input("jsonSource", s("[]")), "false", "false")
            .output("membershipID", DataType::Long)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Long]membershipID"), "{}", problems[0].message);
    }

    // --- GetClaimsFromJsonArrayV2 ---

    #[test]
    fn get_claims_from_json_array_v2_documented_example() {
        let items = [
            r#"{"key": "email", "value": "someone@example.com"}"#,
            r#"{"key": "displayName", "value": "Someone"}"#,
            r#"{"key": "membershipID", "value": 6353399}"#,
            r#"{"key": "active", "value": true}"#,
            r#"{"key": "birthDate", "value": "2005-09-23T00:00:00Z"}"#,
        ];
        let c = with_params(case("GetClaimsFromJsonArrayV2").input("jsonSource", coll(&items)), "false", "false");
        let out = doc_outputs(c).run().unwrap();
        assert_eq!(out, doc_expected());
        assert_eq!(doc_texts(&out), DOC_TEXTS);
    }

    #[test]
    fn get_claims_from_json_array_v2_edges() {
        let c = with_params(case("GetClaimsFromJsonArrayV2").input("jsonSource", coll(&[])), "false", "false");
        assert_eq!(c.output("email", DataType::String).run().unwrap(), vec![]);
        let c = with_params(case("GetClaimsFromJsonArrayV2").input("jsonSource", coll(&[])), "true", "false");
        assert_eq!(c.output("email", DataType::String).run().unwrap_err().code, ErrorCode::Failed);
        let c = with_params(
            case("GetClaimsFromJsonArrayV2").input("jsonSource", coll(&[r#"{"key":"email","value":"x"}"#, "{oops"])),
            "false",
            "false",
        );
        assert_eq!(c.output("email", DataType::String).run().unwrap_err().code, ErrorCode::InvalidValue);
    }

    #[test]
    fn get_claims_from_json_array_v2_slot_types_are_checked() {
        let problems = with_params(case("GetClaimsFromJsonArrayV2").input("jsonSource", s("[]")), "false", "false")
            .output("email", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]jsonSource"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[StringCollection]jsonSource"), "{}", problems[0].message);
    }

    // --- GetNumericClaimFromJson ---

    fn get_numeric(input: &str) -> Result<Option<ClaimValue>, crate::TransformError> {
        case("GetNumericClaimFromJson")
            .input("inputJson", s(input))
            .param("claimToExtract", "string", "id")
            .output("extractedClaim", DataType::Long)
            .run_one()
    }

    #[test]
    fn get_numeric_claim_from_json_documented_example() {
        let input = r#"{"emailAddress": "someone@example.com", "displayName": "Someone", "id": 6353399}"#;
        assert_eq!(get_numeric(input).unwrap(), Some(ClaimValue::Long(6353399)));
    }

    #[test]
    fn get_numeric_claim_from_json_bounds_and_forms() {
        assert_eq!(get_numeric(r#"{"id": 9223372036854775807}"#).unwrap(), Some(ClaimValue::Long(i64::MAX)));
        assert_eq!(get_numeric(r#"{"id": -9223372036854775808}"#).unwrap(), Some(ClaimValue::Long(i64::MIN)));
        assert_eq!(get_numeric(r#"{"id": 9007199254740993}"#).unwrap(), Some(ClaimValue::Long(9007199254740993)));
        assert_eq!(get_numeric(r#"{"id": 7.0}"#).unwrap(), Some(ClaimValue::Long(7)));
        assert_eq!(get_numeric(r#"{"id": " 42 "}"#).unwrap(), Some(ClaimValue::Long(42)));
        assert_eq!(get_numeric(r#"{"id": null}"#).unwrap(), None);
        for bad in [
            r#"{"id": 9223372036854775808}"#,
            r#"{"id": 1e19}"#,
            r#"{"id": 7.5}"#,
            r#"{"id": true}"#,
            r#"{"id": "٤٢"}"#,
            r#"{"id": [1]}"#,
            "[]",
            "",
        ] {
            assert_eq!(get_numeric(bad).unwrap_err().code, ErrorCode::InvalidValue, "{bad}");
        }
        assert_eq!(get_numeric(r#"{"ID": 1}"#).unwrap_err().code, ErrorCode::Failed);
    }

    #[test]
    fn get_numeric_claim_from_json_slot_types_are_checked() {
        let problems = case("GetNumericClaimFromJson")
            .input("inputJson", s("{}"))
            .param("claimToExtract", "string", "id")
            .output("extractedClaim", DataType::Int)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Int]extractedClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[Long]extractedClaim"), "{}", problems[0].message);
    }

    // --- GetSingleItemFromJson ---

    fn single_item(input: &str) -> Result<Vec<(&'static str, ClaimValue)>, crate::TransformError> {
        case("GetSingleItemFromJson")
            .input("inputJson", s(input))
            .output("key", DataType::String)
            .output("value", DataType::String)
            .run()
    }

    #[test]
    fn get_single_item_from_json_documented_example() {
        // The doc's "Emilty" is a typo (appendix 9).
        let out = single_item(r#"{"givenName": "Emily", "lastName": "Smith"}"#).unwrap();
        assert_eq!(out, vec![("key", s("givenName")), ("value", s("Emily"))]);
    }

    #[test]
    fn get_single_item_from_json_takes_the_first_member_in_document_order() {
        let out = single_item(r#"{"zeta": 1, "alpha": 2}"#).unwrap();
        assert_eq!(out, vec![("key", s("zeta")), ("value", s("1"))]);
        let out = single_item("\u{feff} {\n \"k\\u00e9y\\n\" : {\"a\": [1, \"😀\"]}, \"b\": 2 }").unwrap();
        assert_eq!(out, vec![("key", s("kéy\n")), ("value", s(r#"{"a":[1,"😀"]}"#))]);
        let out = single_item(r#"{"İ": null}"#).unwrap();
        assert_eq!(out, vec![("key", s("İ"))]);
    }

    #[test]
    fn get_single_item_from_json_overwrites_its_source_as_the_linkedin_profile_does() {
        let out = case("GetSingleItemFromJson")
            .input_claim("inputJson", "givenName", DataType::String, Some(s(r#"{"en_US": "Emily"}"#)))
            .output_claim("key", "nullStringClaim", DataType::String)
            .output_claim("value", "givenName", DataType::String)
            .run()
            .unwrap();
        assert_eq!(out, vec![("nullStringClaim", s("en_US")), ("givenName", s("Emily"))]);
    }

    #[test]
    fn get_single_item_from_json_errors() {
        assert_eq!(single_item("{}").unwrap_err().code, ErrorCode::Failed);
        for bad in ["", "[1]", "\"x\"", "{\"a\":", "{\"a\":1} trailing"] {
            assert_eq!(single_item(bad).unwrap_err().code, ErrorCode::InvalidValue, "{bad}");
        }
        let out = case("GetSingleItemFromJson")
            .input_claim("inputJson", "json", DataType::String, None)
            .output("key", DataType::String)
            .output("value", DataType::String)
            .run()
            .unwrap();
        assert_eq!(out, vec![]);
    }

    #[test]
    fn get_single_item_from_json_slot_types_are_checked() {
        let problems = case("GetSingleItemFromJson")
            .input("inputJson", s("{}"))
            .output("key", DataType::String)
            .output("value", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Boolean]value"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]value"), "{}", problems[0].message);
    }

    // --- GetSingleValueFromJsonArray ---

    fn single_value(input: &str) -> Result<Option<ClaimValue>, crate::TransformError> {
        case("GetSingleValueFromJsonArray")
            .input("inputJsonClaim", s(input))
            .output("extractedClaim", DataType::String)
            .run_one()
    }

    #[test]
    fn get_single_value_from_json_array_documented_example() {
        let out = single_value(r#"["someone@example.com", "Someone", 6353399]"#).unwrap();
        assert_eq!(out, Some(s("someone@example.com")));
    }

    #[test]
    fn get_single_value_from_json_array_renders_the_first_element() {
        assert_eq!(single_value("[6353399, \"x\"]").unwrap(), Some(s("6353399")));
        assert_eq!(single_value("[false]").unwrap(), Some(s("False")));
        assert_eq!(single_value(r#"[{"a": "İ"}]"#).unwrap(), Some(s(r#"{"a":"İ"}"#)));
        assert_eq!(single_value(r#"[["😀"]]"#).unwrap(), Some(s(r#"["😀"]"#)));
        assert_eq!(single_value("[\"\"]").unwrap(), Some(s("")));
        assert_eq!(single_value("[null, 1]").unwrap(), None);
    }

    #[test]
    fn get_single_value_from_json_array_errors() {
        assert_eq!(single_value("[]").unwrap_err().code, ErrorCode::Failed);
        for bad in ["", "{\"a\": 1}", "\"x\"", "[1,"] {
            assert_eq!(single_value(bad).unwrap_err().code, ErrorCode::InvalidValue, "{bad}");
        }
        let out = case("GetSingleValueFromJsonArray")
            .input_claim("inputJsonClaim", "json", DataType::String, None)
            .output("extractedClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn get_single_value_from_json_array_slot_types_are_checked() {
        let problems = case("GetSingleValueFromJsonArray")
            .input("inputJson", s("[]"))
            .output("extractedClaim", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("Policy but were not expected by the TransformMethod: [String]inputJson."),
            "{}",
            problems[0].message
        );
        assert!(problems[0].message.contains("[String]inputJsonClaim"), "{}", problems[0].message);
    }

    // --- XmlStringToJsonString ---

    fn xml_to_json(xml: &str) -> Result<Option<ClaimValue>, crate::TransformError> {
        case("XmlStringToJsonString").input("xml", s(xml)).output("json", DataType::String).run_one()
    }

    #[test]
    fn xml_to_json_reads_to_json_nets_depth_and_refuses_deeper() {
        let nested = |n: usize| format!("{}x{}", "<a>".repeat(n), "</a>".repeat(n));
        let ok = xml_to_json(&nested(super::MAX_DEPTH)).unwrap().unwrap().to_string();
        assert_eq!(ok.matches(r#"{"a":"#).count(), super::MAX_DEPTH, "{ok}");
        for n in [super::MAX_DEPTH + 1, 100_000] {
            let err = xml_to_json(&nested(n)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue);
            assert_eq!(err.message, "xml is not well-formed XML: elements are nested more than 64 levels deep");
        }
        // A self-closing element is a level too.
        assert!(xml_to_json(&format!("{}<b/>{}", "<a>".repeat(64), "</a>".repeat(64))).is_err());
    }

    #[test]
    fn json_readers_stop_at_json_nets_depth() {
        let nested = |n: usize| format!(r#"{{"v":{}1{}}}"#, "[".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(get_claim(&nested(super::MAX_DEPTH), "v").unwrap().unwrap().to_string().len(), 2 * 63 + 1);
        for n in [super::MAX_DEPTH + 1, 200_000] {
            let err = get_claim(&nested(n), "v").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue);
            assert_eq!(err.message, "inputJson is nested more than 64 levels deep (Json.NET's reader stops at 64)");
        }
        // Brackets inside strings, escaped quotes included, are not nesting.
        let text = format!(r#"{{"v":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(get_claim(&text, "v").unwrap().is_some());
        // Many brackets side by side are not nesting either.
        let siblings = format!(r#"{{"v":[{}{{}}]}}"#, "[],{},".repeat(100));
        assert_eq!(get_claim(&siblings, "v").unwrap().unwrap().to_string().len(), 6 * 100 + 4);
    }

    #[test]
    fn xml_to_json_documented_example() {
        let xml = "<user>\n  <name>Someone</name>\n  <email>someone@example.com</email>\n</user>";
        assert_eq!(xml_to_json(xml).unwrap(), Some(s(r#"{"user":{"name":"Someone","email":"someone@example.com"}}"#)));
    }

    #[test]
    fn xml_to_json_follows_json_net_conventions() {
        let cases = [
            (
                r#"<user id="1"><name lang="en">Emily</name></user>"#,
                r##"{"user":{"@id":"1","name":{"@lang":"en","#text":"Emily"}}}"##,
            ),
            ("<r><i>1</i><x/><i>2</i></r>", r#"{"r":{"i":["1","2"],"x":null}}"#),
            ("<a></a>", r#"{"a":""}"#),
            ("<a/>", r#"{"a":null}"#),
            ("<a>  \n </a>", r#"{"a":""}"#),
            ("<p>Hello <b>World</b>!</p>", r##"{"p":{"#text":["Hello ","!"],"b":"World"}}"##),
            ("<a> spaced </a>", r#"{"a":" spaced "}"#),
            ("<a><![CDATA[<x> & y]]></a>", r##"{"a":{"#cdata-section":"<x> & y"}}"##),
            (
                r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?><a>1</a>"#,
                r#"{"?xml":{"@version":"1.0","@encoding":"utf-8","@standalone":"yes"},"a":"1"}"#,
            ),
            (r#"<x:a xmlns:x="urn:x"><x:b>1</x:b></x:a>"#, r#"{"x:a":{"@xmlns:x":"urn:x","x:b":"1"}}"#),
            ("<a><!-- note --><b>1</b></a>", r#"{"a":{"b":"1"}}"#),
            ("<a>x<!-- split -->y</a>", r##"{"a":{"#text":["x","y"]}}"##),
            ("<a><?php echo 1 ?></a>", r#"{"a":{"?php":"echo 1 "}}"#),
            ("<!DOCTYPE a><a>1</a>", r#"{"a":"1"}"#),
            (r#"<a v="1"/>"#, r#"{"a":{"@v":"1"}}"#),
            ("<r><i><j>1</j></i><i/></r>", r#"{"r":{"i":[{"j":"1"},null]}}"#),
        ];
        for (xml, expected) in cases {
            assert_eq!(xml_to_json(xml).unwrap(), Some(s(expected)), "{xml}");
        }
    }

    #[test]
    fn xml_to_json_decodes_references_and_keeps_unicode() {
        let out = xml_to_json(r#"<名前 a="&quot;&#65;&amp;">&lt;&amp;&#x1F600;&#233;&apos;İ e&#x301;</名前>"#).unwrap();
        assert_eq!(out, Some(s("{\"名前\":{\"@a\":\"\\\"A&\",\"#text\":\"<&😀é'İ e\u{301}\"}}")));
        let out = xml_to_json("<a>\"q\"\\\t</a>").unwrap();
        assert_eq!(out, Some(s(r#"{"a":"\"q\"\\\t"}"#)));
        let out = xml_to_json("\u{feff}<a>1</a>").unwrap();
        assert_eq!(out, Some(s(r#"{"a":"1"}"#)));
    }

    #[test]
    fn xml_to_json_rejects_malformed_xml() {
        for bad in [
            "",
            "   ",
            "not xml",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "text<a/>",
            "<a/>text",
            "<a>&foo;</a>",
            r#"<a x="1" x="2"/>"#,
            r#"<a x="&bogus;"/>"#,
            "<a><b></a></b>",
            "<![CDATA[x]]><a/>",
        ] {
            let err = xml_to_json(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue, "{bad:?}");
        }
    }

    #[test]
    fn xml_to_json_missing_input_writes_nothing() {
        let out = case("XmlStringToJsonString")
            .input_claim("xml", "intpuXML", DataType::String, None)
            .output("json", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn xml_to_json_slot_types_are_checked() {
        let problems =
            case("XmlStringToJsonString").input("xml", s("<a/>")).output("json", DataType::StringCollection).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]json"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]json"), "{}", problems[0].message);
    }
}
