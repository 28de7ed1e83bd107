//! Reading policy files and folders into spanned trees, and resolving each file's BasePolicy
//! chain among the loaded files.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::input::{self, ReadError};
use crate::settings::{self, SETTINGS_FILE, Settings, SettingsRequest};
use crate::source::{FileId, SourceDb, Span};
use crate::syntax::{self, Element};

/// B2C's inheritance limit, counted in files.
pub const MAX_CHAIN_FILES: usize = 10;

/// One parsed policy file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub file: FileId,
    pub root: Element,
    pub policy_id: String,
    pub tenant_id: String,
    pub base: Option<BaseRef>,
}

/// A file's `BasePolicy`.
#[derive(Debug, Clone)]
pub struct BaseRef {
    pub policy_id: String,
    pub tenant_id: String,
    pub span: Span,
    pub tenant_span: Span,
}

impl PolicyFile {
    pub fn is_relying_party(&self) -> bool {
        self.root.child("RelyingParty").is_some()
    }
}

/// Every file given on the command line (folders searched for `*.xml`), parsed.
#[derive(Debug, Default)]
pub struct PolicySet {
    pub db: SourceDb,
    pub files: Vec<PolicyFile>,
    pub diagnostics: Diagnostics,
    /// The tenant object id the settings configure, for policies without their own.
    pub tenant_object_id: Option<String>,
    /// Policy files read, including those that did not parse.
    pub inputs: usize,
}

impl PolicySet {
    /// Loads files and folders; problems become diagnostics, never panics or early returns.
    pub fn load(paths: &[PathBuf], request: &SettingsRequest) -> PolicySet {
        PolicySet::load_replacing(paths, request, &[])
    }

    /// As [`PolicySet::load`], with each `(text, by)` replaced in every policy file before it is
    /// parsed: a sample's placeholders filled in as its readme asks (`yourtenant.onmicrosoft.com`).
    /// Diagnostics point into the replaced text.
    pub fn load_replacing(paths: &[PathBuf], request: &SettingsRequest, replace: &[(String, String)]) -> PolicySet {
        let mut set = PolicySet::default();
        let mut settings = None;
        if let Some(env) = &request.environment {
            match Settings::locate(request, paths) {
                Some(file) => match Settings::load(&mut set.db, &file, env) {
                    Ok(s) => settings = Some(s),
                    Err(d) => set.diagnostics.push(d),
                },
                None => {
                    let id = set.db.add(PathBuf::from(SETTINGS_FILE), String::new());
                    set.diagnostics.push(Diagnostic::new(
                        Code::SettingsFile,
                        Span::new(id, 0, 0),
                        format!("--env {env} was given but no {SETTINGS_FILE} was found beside the policies"),
                    ));
                }
            }
        }
        if !request.values.is_empty() {
            match &mut settings {
                Some(s) => s.extend(&request.values),
                None if request.environment.is_none() => settings = Some(Settings::from_values(&request.values)),
                None => {}
            }
        }
        for path in expand(paths, &mut set) {
            set.inputs += 1;
            match input::read_limited(&path, syntax::MAX_FILE_BYTES as u64) {
                Ok(bytes) => set.add_bytes(path, &bytes, settings.as_mut(), replace),
                Err(ReadError::TooLarge { size, limit }) => {
                    let id = set.db.add(path, String::new());
                    let size = size.unwrap_or(limit + 1);
                    set.diagnostics.extend(syntax::too_large(id, usize::try_from(size).unwrap_or(usize::MAX)));
                }
                Err(e) => set.read_failed(path, e.to_string()),
            }
        }
        if let Some(s) = &settings {
            s.report_unused(&mut set.diagnostics);
            match s.tenant_object_id() {
                Some(Ok(guid)) => set.tenant_object_id = Some(guid),
                Some(Err(d)) => set.diagnostics.push(d),
                None => {}
            }
        }
        set.check_duplicate_ids();
        set
    }

    /// Loads in-memory sources (tests, fuzzing, benches).
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> PolicySet {
        let mut set = PolicySet::default();
        for (name, text) in sources {
            set.inputs += 1;
            set.add_bytes(PathBuf::from(name), text.as_bytes(), None, &[]);
        }
        set.check_duplicate_ids();
        set
    }

    fn add_bytes(
        &mut self,
        path: PathBuf,
        bytes: &[u8],
        settings: Option<&mut Settings>,
        replace: &[(String, String)],
    ) {
        if bytes.len() > syntax::MAX_FILE_BYTES {
            let id = self.db.add(path, String::new());
            self.diagnostics.extend(syntax::too_large(id, bytes.len()));
            return;
        }
        let mut text = match syntax::decode(bytes) {
            Ok(t) => t,
            Err(reason) => return self.read_failed(path, reason),
        };
        for (from, to) in replace.iter().filter(|(from, _)| !from.is_empty()) {
            // Sized before it is built, so a replacement cannot grow a file past the limit.
            let grown = text.matches(from.as_str()).count().saturating_mul(to.len().saturating_sub(from.len()));
            let size = text.len().saturating_add(grown);
            if size > syntax::MAX_FILE_BYTES {
                let id = self.db.add(path, String::new());
                self.diagnostics.extend(syntax::too_large(id, size));
                return;
            }
            text = text.replace(from.as_str(), to);
        }
        let id = self.db.add(path, text);
        let (root, diags) = syntax::parse(id, &self.db.file(id).text);
        let syntax_ok = diags.iter().all(|d| !d.is_error());
        self.diagnostics.extend(diags);
        let Some(mut root) = root else { return };
        if !syntax_ok {
            return;
        }
        if settings::may_hold_placeholder(&self.db.file(id).text) {
            match settings {
                Some(s) => s.substitute(&mut root, &mut self.diagnostics),
                None => settings::report_unfilled(&mut root, &mut self.diagnostics),
            }
        }
        self.diagnostics.extend(crate::schema::check(&root));
        if root.name != "TrustFrameworkPolicy" {
            return;
        }
        let policy_id = root.attr("PolicyId").unwrap_or_default().to_owned();
        let tenant_id = root.attr("TenantId").unwrap_or_default().to_owned();
        if !policy_id.is_empty() && !policy_id.to_ascii_uppercase().starts_with("B2C_1A_") {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::PolicyIdPrefix,
                    root.attr_span("PolicyId"),
                    format!("PolicyId '{policy_id}' does not start with B2C_1A_"),
                )
                .with_help("the portal adds the prefix on upload, so references to this policy must use B2C_1A_"),
            );
        }
        let base = root.child("BasePolicy").map(|b| {
            let pid = b.child("PolicyId");
            let tid = b.child("TenantId");
            BaseRef {
                policy_id: pid.map(|p| p.text().to_owned()).unwrap_or_default(),
                tenant_id: tid.map(|t| t.text().to_owned()).unwrap_or_default(),
                span: pid.map_or(b.name_span, |p| p.text_span),
                tenant_span: tid.map_or(b.name_span, |t| t.text_span),
            }
        });
        self.files.push(PolicyFile { file: id, root, policy_id, tenant_id, base });
    }

    fn read_failed(&mut self, path: PathBuf, reason: impl Into<String>) {
        let id = self.db.add(path, String::new());
        self.diagnostics.push(Diagnostic::new(Code::ReadFailed, Span::new(id, 0, 0), reason.into()));
    }

    fn check_duplicate_ids(&mut self) {
        let firsts = self.firsts();
        for (i, (f, first)) in self.files.iter().zip(firsts).enumerate() {
            if first == i || f.policy_id.is_empty() {
                continue;
            }
            let other = &self.files[first];
            self.diagnostics.push(
                Diagnostic::new(
                    Code::DuplicatePolicyId,
                    f.root.attr_span("PolicyId"),
                    format!("PolicyId '{}' is also used by {}", f.policy_id, self.db.path(other.file).display()),
                )
                .with_label(other.root.attr_span("PolicyId"), "first used here")
                .with_help("the second upload would overwrite the first; give each file its own PolicyId"),
            );
        }
    }

    /// The first file of each PolicyId, keyed by [`id_key`].
    fn first_by_id(&self) -> HashMap<String, usize> {
        let mut firsts = HashMap::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            firsts.entry(id_key(&f.policy_id)).or_insert(i);
        }
        firsts
    }

    /// For each file, the file [`PolicySet::find`] resolves its PolicyId to: itself, or the
    /// first file of a duplicated id.
    pub fn firsts(&self) -> Vec<usize> {
        let firsts = self.first_by_id();
        self.files.iter().map(|f| firsts[&id_key(&f.policy_id)]).collect()
    }

    /// For each file, its base as [`PolicySet::find`] resolves it; `None` when it has no
    /// BasePolicy or no loaded file has that PolicyId.
    pub fn bases(&self) -> Vec<Option<usize>> {
        let firsts = self.first_by_id();
        let base = |f: &PolicyFile| f.base.as_ref().and_then(|b| firsts.get(&id_key(&b.policy_id)).copied());
        self.files.iter().map(base).collect()
    }

    /// Index of the file with this PolicyId (case-insensitive); the first one on duplicates.
    pub fn find(&self, policy_id: &str) -> Option<usize> {
        self.files.iter().position(|f| f.policy_id.eq_ignore_ascii_case(policy_id))
    }

    /// Files that are relying parties (have a `RelyingParty` element).
    pub fn relying_parties(&self) -> impl Iterator<Item = usize> + '_ {
        self.files.iter().enumerate().filter(|(_, f)| f.is_relying_party()).map(|(i, _)| i)
    }

    /// The chain of `leaf`, root first. Missing bases, cycles, depth and tenant mismatches are
    /// reported; the chain returned stops where resolution stopped.
    pub fn chain(&self, leaf: usize, diags: &mut Diagnostics) -> Vec<usize> {
        let mut chain = vec![leaf];
        let mut current = leaf;
        while let Some(base) = &self.files[current].base {
            let Some(next) = self.find(&base.policy_id) else {
                let ids = self.files.iter().map(|f| f.policy_id.as_str());
                let mut d = Diagnostic::new(
                    Code::BaseNotFound,
                    base.span,
                    format!("base policy '{}' is not among the loaded files", base.policy_id),
                );
                d = match did_you_mean(&base.policy_id, ids) {
                    Some(s) => d.with_help(format!("did you mean '{s}'?")),
                    None => d.with_help("load the folder that holds the base policy too"),
                };
                diags.push(d);
                break;
            };
            if chain.contains(&next) {
                let names: Vec<&str> = chain.iter().chain([&next]).map(|&i| self.files[i].policy_id.as_str()).collect();
                diags.push(Diagnostic::new(
                    Code::InheritanceCycle,
                    base.span,
                    format!("inheritance cycle: {}", names.join(" -> ")),
                ));
                break;
            }
            let next_file = &self.files[next];
            if !base.tenant_id.eq_ignore_ascii_case(&next_file.tenant_id) {
                diags.push(
                    Diagnostic::new(
                        Code::TenantMismatch,
                        base.tenant_span,
                        format!(
                            "base policy '{}' belongs to tenant '{}', not '{}'",
                            next_file.policy_id, next_file.tenant_id, base.tenant_id
                        ),
                    )
                    .with_label(next_file.root.attr_span("TenantId"), "the base's tenant"),
                );
            }
            chain.push(next);
            if chain.len() > MAX_CHAIN_FILES {
                diags.push(
                    Diagnostic::new(
                        Code::ChainTooDeep,
                        self.files[leaf].root.attr_span("PolicyId"),
                        format!("the inheritance chain has more than {MAX_CHAIN_FILES} files"),
                    )
                    .with_help("B2C allows 10 levels of inheritance; fold some files together"),
                );
                break;
            }
            current = next;
        }
        chain.reverse();
        chain
    }
}

/// A PolicyId as [`PolicySet::find`] compares it: ASCII case ignored.
fn id_key(id: &str) -> String {
    id.to_ascii_uppercase()
}

fn expand(paths: &[PathBuf], set: &mut PolicySet) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let walk = input::walk(p, &|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")));
            out.extend(walk.files);
            for (dir, reason) in walk.errors {
                set.read_failed(dir, reason);
            }
        } else {
            out.push(p.clone());
        }
    }
    // A file reached twice (a folder and a file in it, or two spellings of one path) loads once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    out
}
