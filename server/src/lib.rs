//! `ief serve`: relying-party policies hosted as a B2C-compatible identity provider that real
//! applications sign in to. The second driver of the engine's executor beside the headless one
//! in `ief-scenario`: it holds each `SignIn` between HTTP requests (in an [`ief_store::Store`],
//! keyed by the transaction id inside `tx`) and answers its pages from the browser's forms.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ief_server::ServeOptions::new(vec!["policies".into()], "http://127.0.0.1:5000", "keys".into());
//! let server = ief_server::Server::load(&options)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! server.serve(listener).await;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{Executor, Extensions, ProfileHandler};
use ief_engine::model::{Policy, StepType, TechnicalProfile};
use ief_engine::{CompiledPolicy, Diagnostic, EffectivePolicy, PolicySet, SettingsRequest};
use ief_protocols::directory::Directory;
use ief_protocols::env::{KeyedEnv, SystemEnv};
use ief_protocols::escape_html;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::federation::replay::SharedReplayGuard;
use ief_protocols::keys::KeyStore;
use ief_protocols::phone::CodeOutbox;
use ief_transforms::TransformEnv;
use sha2::{Digest, Sha256};

pub mod apps;
mod cors;
mod grants;
mod hint;
mod issuer;
mod oauth;
mod page;
mod pages;
pub mod refresh;
pub mod route;
pub mod scopes;
pub mod store;
pub mod tls;
mod userinfo;

use apps::Apps;
use route::Endpoint;
use store::State;

/// Largest request body accepted (a page's form, a token request).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest request line plus headers accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Longest a request is waited for by default (`ServeOptions::request_timeout`), federation calls
/// included (the request runs on to its end in its own task; its HTTP calls have their own time
/// limits).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a client may take to send its request line and headers, after connecting (or the
/// TLS handshake, itself bounded the same) or after the previous answer; else it is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request's body may take to arrive after its headers.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sign-in may wait for the browser.
const TRANSACTION_SECS: i64 = 15 * 60;
/// How often expired records are swept from the store.
const SWEEP_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{path}:{line}:{column}: {message}")]
    Config { path: PathBuf, line: usize, column: usize, message: String },
    #[error("the policies have errors:\n{0}")]
    Policy(String),
    #[error("no relying-party policy among {0}")]
    NoRelyingParty(String),
    #[error("{0}")]
    Keys(String),
    #[error("the public URL '{0}' is not an http(s) URL without a path, such as https://localhost:5443")]
    PublicUrl(String),
    #[error("{0}")]
    Directory(String),
    #[error("HTTPS: {0}")]
    Tls(String),
    #[error("{0}")]
    Store(String),
}

/// What `ief serve` is asked to host.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub policy_paths: Vec<PathBuf>,
    /// When not empty, only the relying parties of these files are served; the rest of
    /// `policy_paths` are their bases (a scenario's policies among a folder of samples).
    pub only: Vec<PathBuf>,
    /// The URL browsers and applications use; it fixes the issuer (never taken from `Host`).
    pub public_url: String,
    /// App registrations; the development app when absent.
    pub config: Option<PathBuf>,
    /// Policy keys: made there when the policies name keys it lacks.
    pub keys: PathBuf,
    /// The directory's SQLite file; in memory when absent.
    pub directory: Option<PathBuf>,
    /// The appsettings.json environment for `{Settings:Name}`.
    pub environment: Option<String>,
    /// `{Settings:Name}` values, winning over the environment's.
    pub settings: Vec<(String, String)>,
    /// Extra root certificates (PEM) for calls to identity providers and REST APIs.
    pub trusted_roots: Vec<String>,
    /// Where sign-ins in flight, sessions, codes and refresh tokens are kept (shared by every
    /// process of a deployment); this process's memory when absent.
    pub store: Option<Arc<dyn ief_store::Store>>,
    /// Policy keys already in memory (a scenario's, with its providers' credentials), used
    /// instead of `keys`; keys the policies name beyond them are generated in memory.
    pub key_store: Option<KeyStore>,
    /// Seconds the server's clock runs ahead of the system's (a scenario's `after`).
    pub clock_offset: Option<Arc<AtomicI64>>,
    /// Longest a request is waited for before 504; [`REQUEST_TIMEOUT`] by default.
    pub request_timeout: Duration,
}

impl ServeOptions {
    pub fn new(policy_paths: Vec<PathBuf>, public_url: &str, keys: PathBuf) -> ServeOptions {
        ServeOptions {
            policy_paths,
            only: Vec::new(),
            public_url: public_url.to_owned(),
            config: None,
            keys,
            directory: None,
            environment: None,
            settings: Vec::new(),
            trusted_roots: Vec::new(),
            store: None,
            key_store: None,
            clock_offset: None,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// One line of the request log: no query string and no body, which may carry codes, tokens
/// and passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub millis: u128,
    /// Also in every AADB2C error description the request produced.
    pub correlation_id: String,
}

/// Receives one [`RequestLog`] per request (the CLI prints them).
pub type RequestLogger = Arc<dyn Fn(&RequestLog) + Send + Sync>;

/// One relying party served.
struct Hosted {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    /// Of its chain's files and the settings: a sign-in goes on only on the plan it began on
    /// (this load's, or an earlier one with the same fingerprint), in any process.
    fingerprint: u64,
    /// The profile handlers of that load (its refresh journeys' grant readers among them).
    handlers: Arc<Vec<Box<dyn ProfileHandler>>>,
    /// The relying-party file's folder: relative template paths start there.
    folder: PathBuf,
}

/// What the policy files looked like at the last load: path, modification time, length.
type Stamp = Vec<(PathBuf, Option<std::time::SystemTime>, u64)>;

/// The reloading state: the files as last seen and the last load's errors.
#[derive(Debug, Default)]
struct Reload {
    stamp: Stamp,
    /// Why the last reload was refused (the policies before it still serve).
    error: Option<String>,
}

/// Earlier loads kept for the sign-ins begun on them (each holds its compiled plans).
const EARLIER_LOADS: usize = 3;

/// How often `ief serve` looks at its policy files.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Everything the server shares across requests.
pub struct Server {
    /// The policies of the last good load.
    hosted: std::sync::RwLock<Arc<Vec<Hosted>>>,
    /// The loads before it, newest first: sign-ins begun on them finish on them.
    earlier: std::sync::Mutex<std::collections::VecDeque<Arc<Vec<Hosted>>>>,
    /// A scenario's handlers, asked first in every load.
    extra: Vec<Arc<dyn ProfileHandler>>,
    options: ServeOptions,
    reload: std::sync::Mutex<Reload>,
    env: Box<dyn TransformEnv + Send + Sync>,
    extensions: Extensions,
    keys: KeyStore,
    apps: Apps,
    state: State,
    /// Unix second of the last sweep of expired records.
    swept: std::sync::atomic::AtomicI64,
    /// Without a trailing slash.
    public_url: String,
    /// Whether cookies need `Secure`.
    https: bool,
    /// Unix seconds of the start: the signing key's `nbf` in the JWKS.
    started: i64,
    logger: Option<RequestLogger>,
    /// Page templates read or fetched.
    templates: page::TemplateCache,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

impl Server {
    /// Loads, checks and compiles every relying party under the paths, the keys they name and
    /// the app registrations. Any error stops the start.
    pub fn load(options: &ServeOptions) -> Result<Server, ServerError> {
        Server::load_with(options, Vec::new())
    }

    /// [`Server::load`] with `extra` handlers asked before ief's own (a scenario's stand-ins for
    /// identity providers).
    pub fn load_with(options: &ServeOptions, extra: Vec<Box<dyn ProfileHandler>>) -> Result<Server, ServerError> {
        let public_url = check_public_url(&options.public_url)?;
        let extra: Vec<Arc<dyn ProfileHandler>> = extra.into_iter().map(Arc::from).collect();
        let stamp = stamp(&options.policy_paths);
        let (hosted, names) = load_policies(options, &extra)?;
        let names: Vec<&str> = names.iter().map(String::as_str).chain([store::STATE_KEY]).collect();
        let keys = match &options.key_store {
            Some(given) => given.clone().take_generated(&names),
            None => ief_protocols::keys::init_keys(&options.keys, &names).and_then(|_| KeyStore::load(&options.keys)),
        }
        .map_err(|e| ServerError::Keys(e.to_string()))?;
        let state_key = keys.secret(store::STATE_KEY).map_err(|e| ServerError::Keys(e.to_string()))?;
        let backend: Arc<dyn ief_store::Store> =
            options.store.clone().unwrap_or_else(|| Arc::new(ief_store::MemoryStore::new()));
        let state = State::new(backend.clone(), state_key);
        let apps = match &options.config {
            Some(path) => Apps::load(path, &keys)?,
            None => Apps::development(),
        };
        let directory = match &options.directory {
            Some(path) => Directory::open(path),
            None => Directory::in_memory(),
        }
        .map_err(|e| ServerError::Directory(e.to_string()))?;
        let mut extensions = Extensions::default();
        extensions.insert(keys.clone());
        extensions.insert(directory);
        extensions.insert(CodeOutbox::new());
        extensions.insert(TrustedRoots(options.trusted_roots.clone()));
        extensions.insert(SharedReplayGuard::new(backend));
        let env = KeyedEnv::new(SystemEnv, keys.clone());
        let env = match &options.clock_offset {
            Some(offset) => env.with_clock_offset(Arc::clone(offset)),
            None => env,
        };
        Ok(Server {
            hosted: std::sync::RwLock::new(Arc::new(hosted)),
            earlier: std::sync::Mutex::default(),
            extra,
            options: options.clone(),
            reload: std::sync::Mutex::new(Reload { stamp, error: None }),
            env: Box::new(env),
            extensions,
            keys,
            apps,
            state,
            swept: std::sync::atomic::AtomicI64::new(0),
            https: public_url.starts_with("https://"),
            started: chrono::Utc::now().timestamp(),
            logger: None,
            templates: page::TemplateCache::default(),
            public_url,
        })
    }

    /// The relying parties served, by PolicyId.
    pub fn policy_ids(&self) -> Vec<String> {
        self.policies().iter().map(|h| h.policy.model.policy_id.clone()).collect()
    }

    /// The policies of the last good load; requests hold them while they run.
    fn policies(&self) -> Arc<Vec<Hosted>> {
        Arc::clone(&self.hosted.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Loads the policies again if a file under the policy paths changed since the last look:
    /// `None` when nothing changed. A load with errors leaves the last good policies serving
    /// and its diagnostics on the developer page. Sign-ins in flight finish on the load they
    /// began on while it is among the last few; after that their next page call is refused.
    pub fn reload_if_changed(&self) -> Option<Result<Vec<String>, String>> {
        let stamp = stamp(&self.options.policy_paths);
        let mut state = self.reload.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if stamp == state.stamp {
            return None;
        }
        state.stamp = stamp;
        let loaded = load_policies(&self.options, &self.extra).and_then(|(hosted, names)| {
            let missing: Vec<String> = names.into_iter().filter(|n| !self.keys.contains(n)).collect();
            match missing.is_empty() {
                true => Ok(hosted),
                false => Err(ServerError::Keys(format!(
                    "the policies now name keys ief serve did not load ({}): restart it to make them",
                    missing.join(", ")
                ))),
            }
        });
        match loaded {
            Ok(hosted) => {
                let ids = hosted.iter().map(|h| h.policy.model.policy_id.clone()).collect();
                let before = std::mem::replace(
                    &mut *self.hosted.write().unwrap_or_else(std::sync::PoisonError::into_inner),
                    Arc::new(hosted),
                );
                let mut earlier = self.earlier.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                earlier.push_front(before);
                earlier.truncate(EARLIER_LOADS);
                state.error = None;
                Some(Ok(ids))
            }
            Err(e) => {
                state.error = Some(e.to_string());
                Some(Err(e.to_string()))
            }
        }
    }

    /// The load (this one or an earlier one this process keeps) whose relying party `policy`
    /// has the plan of `fingerprint`.
    fn load_of(&self, policy: &str, fingerprint: u64) -> Option<Arc<Vec<Hosted>>> {
        let is = |load: &Arc<Vec<Hosted>>| find(load, None, policy).is_some_and(|h| h.fingerprint == fingerprint);
        let current = self.policies();
        if is(&current) {
            return Some(current);
        }
        self.earlier.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().find(|l| is(l)).cloned()
    }

    /// Why the last reload was refused, while the policies before it serve.
    pub fn reload_error(&self) -> Option<String> {
        self.reload.lock().unwrap_or_else(std::sync::PoisonError::into_inner).error.clone()
    }

    /// Looks at the policy files every [`RELOAD_POLL`] and reloads them when they change,
    /// telling `report` each outcome (the relying parties now served, or the errors).
    pub async fn watch(self: Arc<Self>, report: Arc<dyn Fn(Result<Vec<String>, String>) + Send + Sync>) {
        loop {
            tokio::time::sleep(RELOAD_POLL).await;
            let server = Arc::clone(&self);
            // Loading parses and compiles: off the request threads.
            if let Ok(Some(outcome)) = tokio::task::spawn_blocking(move || server.reload_if_changed()).await {
                report(outcome);
            }
        }
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Sends a [`RequestLog`] for every request to `logger`.
    pub fn log_requests(&mut self, logger: RequestLogger) {
        self.logger = Some(logger);
    }

    /// Each relying party's PolicyId and discovery URL.
    pub fn metadata_urls(&self) -> Vec<(String, String)> {
        self.policies()
            .iter()
            .map(|h| {
                let m = &h.policy.model;
                let url = format!(
                    "{}/{}/{}/v2.0/.well-known/openid-configuration",
                    self.public_url, m.tenant_id, m.policy_id
                );
                (m.policy_id.clone(), url)
            })
            .collect()
    }

    /// What the policies ask that this server cannot give, for the developer to fix: a UserInfo
    /// authorization profile expecting another issuer than the one this server's tokens name.
    pub fn warnings(&self) -> Vec<String> {
        self.policies().iter().filter_map(|h| userinfo::issuer_mismatch(self, h)).collect()
    }

    /// The directory sign-ups write to (tests seed it).
    pub fn directory(&self) -> Option<&Directory> {
        self.extensions.get::<Directory>()
    }

    /// The verification codes "sent" (tests and the developer read them).
    pub fn outbox(&self) -> Option<&CodeOutbox> {
        self.extensions.get::<CodeOutbox>()
    }

    /// What the server keeps between requests (tests read it back).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The app registrations in force.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// The HTTP routes; they bound each request's headers (32 KiB), body and time, while hyper's
    /// 64 KiB read buffer and [`HEADER_TIMEOUT`] are the accept loop's (`tls::serve`), so nothing
    /// serves this alone.
    fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(dispatch).with_state(self)
    }

    /// Serves plain HTTP until the task is aborted (a failed accept is retried, so it never
    /// returns on its own).
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        Arc::new(self).serve_shared(listener).await;
    }

    /// [`Server::serve`] for a server the caller keeps a handle to (its directory, its outbox).
    pub async fn serve_shared(self: Arc<Self>, listener: tokio::net::TcpListener) {
        tls::serve(listener, self.router(), None).await;
    }

    /// Serves HTTPS with `tls` until the task is aborted.
    pub async fn serve_tls(self: Arc<Self>, listener: tokio::net::TcpListener, tls: tls::Tls) {
        tls::serve(listener, self.router(), Some(&tls)).await;
    }

    /// The public URL's host (what the server certificate must name).
    pub fn public_host(&self) -> &str {
        let authority = self.public_url.split_once("://").map_or("", |(_, a)| a);
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        }
    }

    fn executor<'s>(&'s self, hosted: &'s Hosted) -> Executor<'s> {
        Executor::new(&hosted.policy.model, &hosted.compiled, &hosted.handlers, self.env.as_ref(), &self.extensions)
    }

    /// Drops expired records, at most once a minute (of the processes sharing a store, any).
    async fn sweep(&self) {
        use std::sync::atomic::Ordering;
        let now = self.now();
        let last = self.swept.load(Ordering::Relaxed);
        if now - last >= SWEEP_SECS
            && self.swept.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            // A failed sweep is retried at the next; requests still see expired records as gone.
            let _ = self.state.expire(now).await;
        }
    }

    fn now(&self) -> i64 {
        self.env.now().and_utc().timestamp()
    }

    fn random(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.env.fill_random(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    fn guid(&self) -> String {
        ief_protocols::env::random_guid()
    }
}

/// The relying party `policy`, any case: of `tenant` (name or GUID) when one is given, else
/// the one a sign-in runs (a sign-in names only its lower-case PolicyId).
fn find<'h>(hosted: &'h [Hosted], tenant: Option<&str>, policy: &str) -> Option<&'h Hosted> {
    hosted.iter().find(|h| {
        let m = &h.policy.model;
        m.policy_id.eq_ignore_ascii_case(policy)
            && tenant.is_none_or(|t| m.tenant_id.eq_ignore_ascii_case(t) || m.tenant.guid.eq_ignore_ascii_case(t))
    })
}

/// Loads, checks and compiles the relying parties of `options`; returns them and the policy
/// keys they name.
fn load_policies(
    options: &ServeOptions,
    extra: &[Arc<dyn ProfileHandler>],
) -> Result<(Vec<Hosted>, Vec<String>), ServerError> {
    let request =
        SettingsRequest { environment: options.environment.clone(), file: None, values: options.settings.clone() };
    let set = PolicySet::load(&options.policy_paths, &request);
    let mut diags = set.diagnostics.clone();
    let only: Vec<PathBuf> = options.only.iter().map(|f| f.canonicalize().unwrap_or_else(|_| f.clone())).collect();
    let chosen = |leaf: &usize| {
        let path = set.db.path(set.files[*leaf].file);
        only.is_empty() || only.contains(&path.canonicalize().unwrap_or_else(|_| path.to_path_buf()))
    };
    let policies: Vec<EffectivePolicy> = set
        .relying_parties()
        .filter(chosen)
        .filter_map(|leaf| EffectivePolicy::build(&set, leaf, &mut diags))
        .collect();
    for policy in &policies {
        issuer::check(&policy.model).into_iter().for_each(|d| diags.push(d));
    }
    let errors: Vec<Diagnostic> = diags.into_sorted().into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        let text: Vec<String> = errors.iter().map(|d| d.display(&set.db).to_string()).collect();
        return Err(ServerError::Policy(text.join("\n")));
    }
    if policies.is_empty() {
        let paths: Vec<String> = options.policy_paths.iter().map(|p| p.display().to_string()).collect();
        return Err(ServerError::NoRelyingParty(paths.join(", ")));
    }
    let mut names: Vec<String> = policies
        .iter()
        .flat_map(|p| p.model.technical_profiles.iter())
        .flat_map(|tp| tp.keys.iter().map(|k| k.storage_reference_id.value.to_string()))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut handlers = ief_protocols::handlers();
    let grant_profiles: Vec<String> = policies
        .iter()
        .flat_map(|p| {
            let m = &p.model;
            let refresh = refresh::journey(m, issuer_profile(m));
            let client_credentials = grants::client_credentials_journey(m, issuer_profile(m));
            refresh.into_iter().chain(client_credentials).flat_map(|j| refresh::setup_profiles(m, &j))
        })
        .collect();
    if !grant_profiles.is_empty() {
        handlers.insert(0, Box::new(refresh::GrantReader { profiles: grant_profiles }));
    }
    handlers.insert(0, Box::new(userinfo::JsonIssuer));
    for handler in extra.iter().rev() {
        handlers.insert(0, Box::new(Shared(Arc::clone(handler))));
    }
    let handlers = Arc::new(handlers);
    let hosted = policies
        .into_iter()
        .map(|policy| {
            let leaf = policy.chain.last().map(|&f| set.db.path(f).to_path_buf()).unwrap_or_default();
            let folder = leaf.parent().map(Path::to_path_buf).unwrap_or_default();
            Hosted {
                compiled: CompiledPolicy::compile(&policy.model),
                fingerprint: fingerprint(&set, &policy, &request),
                policy,
                handlers: Arc::clone(&handlers),
                folder,
            }
        })
        .collect();
    Ok((hosted, names))
}

/// A handler shared by every load of the policies.
struct Shared(Arc<dyn ProfileHandler>);

impl ProfileHandler for Shared {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: ief_engine::exec::Invocation) -> bool {
        self.0.handles(profile, invocation)
    }

    fn execute<'a>(
        &'a self,
        request: ief_engine::exec::ProfileRequest<'a>,
    ) -> ief_engine::exec::BoxFuture<'a, ief_engine::exec::ProfileResult> {
        self.0.execute(request)
    }
}

/// The policy files under `paths` (XML and appsettings.json) as they are now.
fn stamp(paths: &[PathBuf]) -> Stamp {
    let keep =
        |f: &Path| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml") || e.eq_ignore_ascii_case("json"));
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        match path.is_dir() {
            true => files.extend(ief_engine::input::walk(path, &keep).files),
            false => files.push(path.clone()),
        }
    }
    files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (f, modified, len)
        })
        .collect()
}

/// What a relying party's plan is compiled from: the text of each file of its chain and the
/// settings (not the paths: processes sharing a store may load the same files from other
/// folders). A stored plan position is only meaningful in the same plan.
fn fingerprint(set: &PolicySet, policy: &EffectivePolicy, settings: &SettingsRequest) -> u64 {
    let mut hash = Sha256::new();
    for &file in &policy.chain {
        hash.update(Sha256::digest(set.db.file(file).text.as_bytes()));
    }
    hash.update(format!("{settings:?}").as_bytes());
    let digest = hash.finalize();
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

/// `scheme://host[:port]` without a path, query or trailing slash.
fn check_public_url(url: &str) -> Result<String, ServerError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(authority) if !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']) => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ServerError::PublicUrl(url.to_owned())),
    }
}

/// The issuer TP of a policy's default journey: the SendClaims step's, else the journey's default.
fn issuer_profile(policy: &Policy) -> Option<&TechnicalProfile> {
    let journey = policy.journey(policy.default_journey()?)?;
    let step = journey.steps.iter().find(|s| s.step_type == StepType::SendClaims)?;
    let id = step.issuer.as_ref().or(journey.default_issuer.as_ref())?;
    policy.profile(id.as_str())
}

/// One request as the handlers see it.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    /// The body as a form (empty for other bodies).
    form: Vec<(String, String)>,
    correlation_id: String,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn form_param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

async fn dispatch(
    axum::extract::State(server): axum::extract::State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = std::time::Instant::now();
    // Refused before its body is waited for: 431 at once, not 408 after the body's time limit.
    let header_bytes: usize =
        headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>() + uri.to_string().len();
    let body = if header_bytes > MAX_HEADER_BYTES {
        Err((StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large").into_response())
    } else {
        read_body(body).await
    };
    let query: Vec<(String, String)> =
        uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = match &body {
        Ok(body) if is_form => form_urlencoded::parse(body).into_owned().collect(),
        _ => Vec::new(),
    };
    let request = Arc::new(Request { method, uri, headers, query, form, correlation_id: server.guid() });
    let response = match body {
        // Logged and readable cross-origin like any other answer.
        Err(refusal) => decorate(&server, &request, endpoint(&request).as_ref(), refusal),
        Ok(_) => run(&server, &request).await,
    };
    if let Some(logger) = &server.logger {
        logger(&RequestLog {
            method: request.method.to_string(),
            path: request.uri.path().to_owned(),
            status: response.status().as_u16(),
            millis: started.elapsed().as_millis(),
            correlation_id: request.correlation_id.clone(),
        });
    }
    response
}

/// The request's body, or the refusal of one too large, garbled or too slow.
async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, Response> {
    // A body sent a byte at a time would otherwise hold its connection for ever.
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|e| e.is::<http_body_util::LengthLimitError>()) => {
            let refusal = format!("the request body is larger than {MAX_BODY_BYTES} bytes");
            Err((StatusCode::PAYLOAD_TOO_LARGE, refusal).into_response())
        }
        // Garbled chunks, a connection closed mid-body: the client's error.
        Ok(Err(_)) => Err((StatusCode::BAD_REQUEST, "the request body could not be read").into_response()),
        Err(_) => {
            let refusal = format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs());
            Err((StatusCode::REQUEST_TIMEOUT, refusal).into_response())
        }
    }
}

/// Runs the request to its answer within `ServeOptions::request_timeout`.
async fn run(server: &Arc<Server>, request: &Arc<Request>) -> Response {
    // Each request runs in its own task, not in its connection's: a request writes in steps (a
    // callback marks its state used, then saves the sign-in; a page may write the directory,
    // then the sign-in), and a client that leaves or the time limit must not cut it in between.
    let task = {
        let (server, request) = (Arc::clone(server), Arc::clone(request));
        tokio::spawn(async move { handle(&server, &request).await })
    };
    match tokio::time::timeout(server.options.request_timeout, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => panicked(server, request).await,
        Err(_) => {
            let response = (StatusCode::GATEWAY_TIMEOUT, "the request took too long").into_response();
            decorate(server, request, endpoint(request).as_ref(), response)
        }
    }
}

/// B2C's words for a failure inside the service.
const INTERNAL_ERROR: &str = "The service has encountered an internal error. Please reauthenticate and try again.";

/// A request whose task panicked, answered as its caller reads errors: the OAuth endpoints with
/// their JSON error (and CORS headers, so a single-page app can read it), a page script's call
/// with its JSON status, a browser's navigation with B2C's error page.
async fn panicked(server: &Server, request: &Request) -> Response {
    let cid = request.correlation_id.as_str();
    let endpoint = endpoint(request);
    let response = match &endpoint {
        Some(Endpoint::Token | Endpoint::Discovery | Endpoint::Keys) => {
            oauth::error_json(server, "server_error", "AADB2C90085", INTERNAL_ERROR, cid)
        }
        Some(Endpoint::UserInfo) => userinfo::internal_error(server, INTERNAL_ERROR, cid),
        Some(endpoint) if pages::answers_json(endpoint, request) => {
            pages::Refusal::Internal.respond(server, None, request, true).await
        }
        _ => oauth::error_page(server, None, request, "AADB2C90085", INTERNAL_ERROR).await,
    };
    decorate(server, request, endpoint.as_ref(), response)
}

/// The endpoint a request is for, if its path names one.
fn endpoint(request: &Request) -> Option<Endpoint> {
    route::parse(request.uri.path(), request.param("p")).map(|r| r.endpoint)
}

/// An answer made outside its endpoint's handler, with the CORS headers that handler would add.
fn decorate(server: &Server, request: &Request, endpoint: Option<&Endpoint>, response: Response) -> Response {
    match endpoint {
        Some(endpoint) => cors::decorate(server, request, endpoint, response),
        None => response,
    }
}

async fn handle(server: &Server, request: &Request) -> Response {
    server.sweep().await;
    let path = request.uri.path();
    if path == "/" {
        return pages::home(server);
    }
    if path.starts_with("/static/") && request.method == Method::GET {
        return page::static_file(path).unwrap_or_else(|| (StatusCode::NOT_FOUND, "not found").into_response());
    }
    if path == "/ief/run" {
        return oauth::run_now(server, request).await;
    }
    let Some(route) = route::parse(path, request.param("p")) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let policies = server.policies();
    if route.endpoint == Endpoint::AuthResp {
        // The sign-in it belongs to names the policy; the path may not.
        return match request.method {
            Method::GET | Method::POST => pages::callback(server, &policies, request).await,
            _ => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response(),
        };
    }
    let Some(policy) = route.policy.as_deref() else {
        return oauth::error_page(server, None, request, "AADB2C90018", "The request does not name a policy (p=).")
            .await;
    };
    let Some(hosted) = find(&policies, Some(&route.tenant), policy) else {
        let message = format!("The policy '{policy}' does not exist in tenant '{}'.", route.tenant);
        return oauth::error_page(server, None, request, "AADB2C90018", &message).await;
    };
    if request.method == Method::OPTIONS {
        return cors::preflight(server, request, &route.endpoint);
    }
    let response = endpoint_response(server, hosted, request, &route).await;
    cors::decorate(server, request, &route.endpoint, response)
}

async fn endpoint_response(server: &Server, hosted: &Hosted, request: &Request, route: &route::Route) -> Response {
    let allowed = match route.endpoint {
        Endpoint::Token | Endpoint::SelfAsserted | Endpoint::DisplayControl { .. } => request.method == Method::POST,
        Endpoint::Authorize | Endpoint::UserInfo => request.method == Method::GET || request.method == Method::POST,
        _ => request.method == Method::GET,
    };
    if !allowed {
        return (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
    }
    match &route.endpoint {
        Endpoint::Discovery => oauth::discovery(server, hosted, route),
        Endpoint::Keys => oauth::keys(server, hosted),
        Endpoint::Authorize => oauth::authorize(server, hosted, request).await,
        Endpoint::Token => oauth::token(server, hosted, request).await,
        Endpoint::Logout => oauth::logout(server, hosted, request).await,
        Endpoint::UserInfo => userinfo::userinfo(server, hosted, request).await,
        Endpoint::SelfAsserted => pages::self_asserted(server, hosted, request).await,
        Endpoint::DisplayControl { control, action } => {
            pages::display_control(server, hosted, request, control.clone(), action.clone()).await
        }
        Endpoint::Confirmed => pages::confirmed(server, hosted, request).await,
        Endpoint::Unified => pages::unified(server, hosted, request).await,
        Endpoint::AuthResp => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `name=value` cookie for the server's own path, HttpOnly, SameSite=None when served over
/// https (as B2C's), Lax over http where browsers refuse None without Secure.
fn cookie(server: &Server, name: &str, value: &str) -> HeaderValue {
    let tail = if server.https { "; Secure; SameSite=None" } else { "; SameSite=Lax" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly{tail}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// B2C's error text: `AADB2Cnnnnn: message\r\nCorrelation ID: …\r\nTimestamp: …\r\n`.
fn b2c_description(server: &Server, code: &str, message: &str, correlation_id: &str) -> String {
    let timestamp = server.env.now().format("%Y-%m-%d %H:%M:%SZ");
    format!("{code}: {message}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}\r\n")
}

/// Form encoding as B2C writes it: `+` for space and lower-case escapes (`%3a`, `%0d%0a`).
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        let upper: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
        let mut out = String::with_capacity(upper.len());
        let mut hex = 0;
        for c in upper.chars() {
            if c == '%' {
                hex = 2;
                out.push(c);
            } else if hex > 0 {
                hex -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// An HTML page no other site may frame (B2C's pages refuse framing unless JourneyFraming
/// allows it).
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => (StatusCode::BAD_REQUEST, "the redirect URI cannot be sent in a header").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_b2c_s() {
        assert_eq!(
            form_encode(&[("error_description", "AADB2C90091: x.\r\nCorrelation ID: a")]),
            "error_description=AADB2C90091%3a+x.%0d%0aCorrelation+ID%3a+a"
        );
    }

    #[test]
    fn public_urls_have_no_path() {
        assert_eq!(check_public_url("https://localhost:5443/").ok().as_deref(), Some("https://localhost:5443"));
        for bad in ["localhost:5443", "https://", "https://a/b", "ftp://a", "https://u@evil"] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }
}
