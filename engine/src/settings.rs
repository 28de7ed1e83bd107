//! `{Settings:Name}` placeholders, filled from an `appsettings.json` in the format of the B2C
//! VS Code extension: `{"Environments": [{"Name", "Tenant", "PolicySettings": {...}}]}`.

use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::source::{FileId, SourceDb, Span};
use crate::syntax::Element;

pub const SETTINGS_FILE: &str = "appsettings.json";
/// The environment's tenant object id (a GUID), for policies without a TenantObjectId.
pub const TENANT_OBJECT_ID: &str = "TenantObjectId";

/// The chosen environment's values. `Tenant`, `Environment` and `Name` are available as settings
/// beside `PolicySettings`, as the extension makes them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    value: String,
    span: Span,
    /// Only `PolicySettings` entries are reported when unused.
    report_unused: bool,
    used: bool,
}

/// What the caller asked for: an environment and, optionally, an explicit settings file.
#[derive(Debug, Clone, Default)]
pub struct SettingsRequest {
    pub environment: Option<String>,
    pub file: Option<PathBuf>,
    /// Values supplied by the caller (a scenario's loopback stub URL); they win over the file's.
    pub values: Vec<(String, String)>,
}

impl Settings {
    /// Reads `path` and selects `environment`. Problems are diagnostics on the settings file.
    pub fn load(db: &mut SourceDb, path: &Path, environment: &str) -> Result<Settings, Diagnostic> {
        let original = match crate::input::read_text_limited(path, crate::syntax::MAX_FILE_BYTES as u64) {
            Ok(text) => text,
            Err(e) => {
                let file = db.add(path.to_path_buf(), String::new());
                return Err(Diagnostic::new(Code::SettingsFile, Span::new(file, 0, 0), e.to_string()));
            }
        };
        // Diagnostics show the file; values may be secrets, so only a masked copy is kept.
        let file = db.add(path.to_path_buf(), mask_values(&original));
        let text = &original;
        let whole = Span::new(file, 0, 0);
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let offset = offset_of_line_col(text, e.line(), e.column());
            Diagnostic::new(Code::SettingsFile, Span::new(file, offset, offset + 1), e.to_string())
        })?;
        let envs = json.get("Environments").and_then(|e| e.as_array()).ok_or_else(|| {
            Diagnostic::new(Code::SettingsFile, whole, "appsettings.json has no \"Environments\" array")
        })?;
        let names: Vec<&str> = envs.iter().filter_map(|e| e.get("Name")?.as_str()).collect();
        let env =
            envs.iter().find(|e| e.get("Name").and_then(|n| n.as_str()) == Some(environment)).ok_or_else(|| {
                let d = Diagnostic::new(
                    Code::SettingsFile,
                    whole,
                    format!("environment '{environment}' is not defined in appsettings.json"),
                );
                match did_you_mean(environment, names.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean '{s}'?")),
                    None => d.with_help(format!("defined environments: {}", names.join(", "))),
                }
            })?;
        let env_start = text.find(&format!("\"{environment}\"")).unwrap_or(0);
        let span_of = |key: &str| {
            let needle = format!("\"{key}\"");
            let at = text[env_start..].find(&needle).map_or(env_start, |i| env_start + i);
            Span::new(file, at, at + needle.len())
        };
        let mut entries = Vec::new();
        let mut push = |name: &str, value: String, report_unused: bool| {
            entries.push(Entry { name: name.to_owned(), value, span: span_of(name), report_unused, used: false });
        };
        push("Environment", environment.to_owned(), false);
        if let Some(t) = env.get("Tenant").and_then(|t| t.as_str()) {
            push("Tenant", t.to_owned(), false);
        }
        if let Some(t) = env.get(TENANT_OBJECT_ID).and_then(|t| t.as_str()) {
            push(TENANT_OBJECT_ID, t.to_owned(), false);
        }
        if let Some(settings) = env.get("PolicySettings").and_then(|s| s.as_object()) {
            for (k, v) in settings {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                push(k, value, true);
            }
        }
        Ok(Settings { environment: environment.to_owned(), entries })
    }

    /// Settings from caller-supplied values only.
    pub fn from_values(values: &[(String, String)]) -> Settings {
        let entries = values
            .iter()
            .map(|(name, value)| Entry {
                name: name.clone(),
                value: value.clone(),
                span: Span::new(FileId(0), 0, 0),
                report_unused: false,
                used: false,
            })
            .collect();
        Settings { environment: "(supplied)".to_owned(), entries }
    }

    /// Adds or replaces values; they are never reported as unused.
    pub fn extend(&mut self, values: &[(String, String)]) {
        for (name, value) in values {
            self.entries.retain(|e| e.name != *name);
            self.entries.push(Entry {
                name: name.clone(),
                value: value.clone(),
                span: self.entries.first().map_or(Span::new(FileId(0), 0, 0), |e| e.span),
                report_unused: false,
                used: false,
            });
        }
    }

    /// The configured tenant object id, checked to be a GUID.
    pub fn tenant_object_id(&self) -> Option<Result<String, Diagnostic>> {
        let e = self.entries.iter().find(|e| e.name == TENANT_OBJECT_ID)?;
        Some(crate::tenant::parse_guid(&e.value).ok_or_else(|| {
            Diagnostic::new(
                Code::SettingsFile,
                e.span,
                format!("{TENANT_OBJECT_ID} '{}' is not a GUID (the tenant's object id)", e.value),
            )
        }))
    }

    /// Finds the settings file: the explicit one, or `appsettings.json` beside the given paths.
    pub fn locate(request: &SettingsRequest, paths: &[PathBuf]) -> Option<PathBuf> {
        if let Some(f) = &request.file {
            return Some(f.clone());
        }
        paths.iter().find_map(|p| {
            let dir = if p.is_dir() { p.as_path() } else { p.parent()? };
            let candidate = dir.join(SETTINGS_FILE);
            candidate.is_file().then_some(candidate)
        })
    }

    /// Replaces placeholders in every attribute value and text of the tree.
    pub fn substitute(&mut self, root: &mut Element, diags: &mut Diagnostics) {
        substitute(root, &mut |name, span| {
            let Some(e) = self.entries.iter_mut().find(|e| e.name == name) else {
                let known: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
                let mut d = Diagnostic::new(
                    Code::UnknownSetting,
                    span,
                    format!("setting '{name}' is not defined for environment '{}'", self.environment),
                );
                if let Some(s) = did_you_mean(name, known) {
                    d = d.with_help(format!("did you mean '{s}'?"));
                }
                diags.push(d);
                return None;
            };
            e.used = true;
            Some(e.value.clone())
        });
    }

    /// Settings of `PolicySettings` that no placeholder used.
    pub fn report_unused(&self, diags: &mut Diagnostics) {
        for e in self.entries.iter().filter(|e| e.report_unused && !e.used) {
            diags.push(Diagnostic::new(
                Code::UnusedSetting,
                e.span,
                format!("setting '{}' of environment '{}' is never used", e.name, self.environment),
            ));
        }
    }

    pub fn file(&self) -> Option<FileId> {
        self.entries.first().map(|e| e.span.file)
    }
}

/// Reports placeholders when no environment was chosen.
pub fn report_unfilled(root: &mut Element, diags: &mut Diagnostics) {
    substitute(root, &mut |name, span| {
        diags.push(
            Diagnostic::new(Code::UnknownSetting, span, format!("setting '{name}' needs an environment"))
                .with_help(format!("pass --env NAME to fill placeholders from {SETTINGS_FILE}")),
        );
        None
    });
}

const PREFIX: &str = "{Settings:";

/// Whether a file's text can hold a placeholder once parsed: it spells one, or has character
/// references (which could spell one). Files without either skip the walk over their tree.
pub(crate) fn may_hold_placeholder(text: &str) -> bool {
    text.contains(PREFIX) || text.contains("&#")
}

fn substitute(el: &mut Element, lookup: &mut dyn FnMut(&str, Span) -> Option<String>) {
    for a in &mut el.attributes {
        if let Some(v) = fill(&a.value, a.value_span, lookup) {
            a.value = v.into();
        }
    }
    if let Some(t) = &el.text
        && let Some(v) = fill(t, el.text_span, lookup)
    {
        el.text = Some(v.into());
    }
    for c in &mut el.children {
        substitute(c, lookup);
    }
}

fn fill(text: &str, span: Span, lookup: &mut dyn FnMut(&str, Span) -> Option<String>) -> Option<String> {
    if !text.contains(PREFIX) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0usize;
    while let Some(i) = rest.find(PREFIX) {
        let Some(close) = rest[i..].find('}') else { break };
        let name = &rest[i + PREFIX.len()..i + close];
        out.push_str(&rest[..i]);
        // Spans point at the placeholder when the value was written without escapes.
        let at = span.start as usize + consumed + i;
        let ph = Span::new(span.file, at, at + close + 1);
        let ph = if ph.end <= span.end { ph } else { span };
        match lookup(name, ph) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..=i + close]),
        }
        consumed += i + close + 1;
        rest = &rest[i + close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn offset_of_line_col(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// The JSON text with every string value (not key) replaced by `*`s of the same byte length.
fn mask_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut is_value = false;
    let mut escaped = false;
    let mut last_significant = ' ';
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push(c);
                last_significant = c;
                continue;
            }
            if is_value {
                out.extend(std::iter::repeat_n('*', c.len_utf8()));
            } else {
                out.push(c);
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            // A string after `:` or inside an array is a value; after `{` or `,` in an object, a key.
            is_value = last_significant == ':' || last_significant == '[';
        }
        if !c.is_whitespace() {
            last_significant = c;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_values;

    #[test]
    fn values_are_masked_and_keys_and_offsets_kept() {
        let text = r#"{"Environments": [{"Name": "Dev", "PolicySettings": {"Secret": "p\"ä", "N": 3}}]}"#;
        let masked = mask_values(text);
        assert_eq!(masked.len(), text.len());
        assert!(masked.contains(r#""Secret": "*****""#), "{masked}");
        assert!(masked.contains(r#""Name": "***""#), "{masked}");
        assert!(masked.contains(r#""PolicySettings""#));
    }

    #[test]
    fn placeholders_are_found_however_they_are_written_and_only_where_they_are() {
        let reported = |text: &str| {
            let set = crate::PolicySet::from_sources([("p.xml", text)]);
            set.diagnostics.iter().filter(|d| d.code == crate::diag::Code::UnknownSetting).count()
        };
        assert_eq!(reported("<a x='{Settings:A}'><b>{Settings:B}</b></a>"), 2);
        // Spelled with character references: the walk still runs.
        assert_eq!(reported("<a x='&#123;Settings:A}'><b>&#x7B;Settings&#58;B}</b></a>"), 2);
        assert_eq!(reported("<a x='{Setting:A}'><b>&amp;{Settings}</b></a>"), 0);
    }
}
