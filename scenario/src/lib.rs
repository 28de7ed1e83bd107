//! Scenarios: a YAML file that names a relying-party policy, seeds the directory, says how
//! external identity providers behave and answers the interactive steps, then runs the sign-in
//! headlessly. `ief run` and `ief test` use it; so can a user's own `cargo test`:
//!
//! ```no_run
//! # async fn f() {
//! let report = ief_scenario::run_file(std::path::Path::new("policies/demo/sign-up.yaml"),
//!     &ief_scenario::RunOptions::deterministic()).await.unwrap();
//! println!("{}", report.to_yaml());
//! # }
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ief_engine::exec::{
    Answer, BoxFuture, Executor, Extensions, Invocation, Outcome, Page, PageKind, ProfileHandler, ProfileRequest,
    ProfileResult, Progress, RequestContext, Session,
};
use ief_engine::input;
use ief_engine::model::{Policy, TechnicalProfile};
use ief_engine::{CompiledPolicy, Diagnostic, EffectivePolicy, PolicySet, SettingsRequest};
use ief_transforms::{AlternativeSecurityId, ClaimValue, FixedEnv, TransformEnv};
use serde::{Deserialize, Serialize};

use crate::agent::{CallbackMatch, Credentials, UserAgent};
use ief_protocols::conditional_access::{CHALLENGES, ConditionalAccessSignals};
use ief_protocols::directory::Directory;
use ief_protocols::directory::store::{Password, SeedUser, SignInName, UserData};
use ief_protocols::env::KeyedEnv;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;
use ief_protocols::phone::CodeOutbox;

pub mod agent;
pub mod bench;
mod embedded;
mod http_stub;
mod redact;
pub mod remote;

pub use embedded::{
    EmbeddedClient, EmbeddedConsumer, EmbeddedOAuth1, EmbeddedOAuth2, EmbeddedOidc, EmbeddedProviders,
    OAUTH1_URL_SETTING, OAUTH2_URL_SETTING, OIDC_URL_SETTING,
};
use http_stub::StubServer;
pub use http_stub::{HttpStub, RecordedRequest, RequestExpect, StubResponse};

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The relying-party policy file, relative to the scenario.
    pub policy: PathBuf,
    /// More files or folders holding the chain's base policies (default: the policy's folder).
    #[serde(default)]
    pub bases: Vec<PathBuf>,
    /// The appsettings.json environment for `{Settings:Name}`.
    pub environment: Option<String>,
    /// The journey to run (default: the relying party's DefaultUserJourney).
    pub journey: Option<String>,
    #[serde(default)]
    pub request: RequestSpec,
    /// Users in the directory before the first run.
    #[serde(default)]
    pub directory: Vec<SeedSpec>,
    /// External identity providers by technical profile Id.
    #[serde(default)]
    pub identity_providers: BTreeMap<String, IdentityProviderSpec>,
    /// Loopback HTTP endpoints served while the scenario runs; their base URL is the setting
    /// `{Settings:IefStubUrl}`.
    #[serde(default)]
    pub http_stubs: Vec<HttpStub>,
    /// ief's test identity providers, started for the scenario: their base URLs are the
    /// settings `{Settings:IefOidcUrl}`, `{Settings:IefOAuth1Url}` and `{Settings:IefOAuth2Url}`.
    pub embedded_providers: Option<EmbeddedProviders>,
    /// `{Settings:Name}` values, winning over the environment's appsettings.json.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The tenant's object id (a GUID) for a policy without a TenantObjectId.
    pub tenant_id: Option<String>,
    /// PEM files of extra root certificates (a live provider's test CA), relative to the scenario.
    #[serde(default)]
    pub trusted_roots: Vec<PathBuf>,
    /// Text replaced in every policy file as it is read: a sample's placeholders filled in.
    #[serde(default)]
    pub replace: BTreeMap<String, String>,
    /// What Conditional Access asks of the sign-ins (none when absent).
    pub conditional_access: Option<ConditionalAccessSpec>,
    /// Answers of a single sign-in (when `runs` is absent).
    #[serde(default)]
    pub steps: Vec<StepAnswer>,
    pub expect: Option<Expect>,
    /// Several sign-ins sharing the directory and the browser session, in order.
    #[serde(default)]
    pub runs: Vec<RunSpec>,
}

/// The challenges Conditional Access raises for every sign-in of the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalAccessSpec {
    /// `mfa`, `chg_pwd` or `block`.
    pub challenges: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub name: String,
    /// Another relying-party file of the same chain (a profile-edit policy after a sign-in),
    /// relative to the scenario; default: the scenario's `policy`.
    pub policy: Option<PathBuf>,
    pub journey: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepAnswer>,
    pub expect: Option<Expect>,
    /// Start with a new browser session instead of the previous run's.
    #[serde(default)]
    pub new_session: bool,
    /// The browser was closed and opened again: only keep-me-signed-in sessions survive.
    #[serde(default)]
    pub reopen_browser: bool,
    /// How long after the previous run this one starts (`90s`, `20m`, `2h`, `30d`): the
    /// scenario's clock moves on by that much.
    pub after: Option<String>,
    /// This run's authorize request, instead of the scenario's.
    pub request: Option<RequestSpec>,
}

/// One answer to a page, in order.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAnswer {
    /// Click a button or link (a ClaimsExchange Id).
    Choose(String),
    /// Fill in and submit a form: ClaimType Id → text.
    Submit(BTreeMap<String, String>),
    /// Enter a verification code; `sent` uses the last code ief "sent".
    Code(String),
    /// Verify an address on a self-asserted page (`email: sent` or `email: "123456"`): enters the
    /// code on the code page the last `submit` led to, then submits that form again once the
    /// page shows it verified.
    Verify(BTreeMap<String, String>),
    /// Cancel the page.
    Cancel(bool),
    /// Press a display control's button: `{control: emailVerificationControl, action: SendCode,
    /// values: {email: a@contoso.com}}`; a value `sent` is the last code ief "sent".
    Press(PressSpec),
    /// The user waits (90s, 20m, 2h) before the next answer: the run's clock moves on.
    Wait(String),
}

/// A display control's button and the control's claims as typed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PressSpec {
    pub control: String,
    pub action: String,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// What the run must end with; a mismatch fails the scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `token`, `error`, or `page`: the run stops at the page its answers run out on (a page
    /// without a way on, such as a block page).
    pub outcome: String,
    pub error_code: Option<String>,
    /// The requests the HTTP stubs must have received during the run, in order.
    pub requests: Option<Vec<RequestExpect>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub client_id: Option<String>,
    pub nonce: Option<String>,
    pub culture: Option<String>,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Claims the application passes in (`id_token_hint`), read by a GetClaims step.
    #[serde(default)]
    pub input_claims: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    pub object_id: Option<String>,
    pub email: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<String>,
    /// More sign-in names by kind (`signInNames.<kind>`), beside `email` and `user_name`.
    #[serde(default)]
    pub sign_in_names: BTreeMap<String, String>,
    #[serde(default)]
    pub alternative_security_ids: Vec<AltSecSpec>,
    /// Other attributes by directory name (displayName, givenName, strongAuthenticationPhoneNumber...).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AltSecSpec {
    pub issuer: String,
    /// The user's id at the provider, as the provider returns it (not base64).
    pub issuer_user_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentityProviderSpec {
    /// The provider signs the user in and returns these claims, named as the provider names them.
    Stub(BTreeMap<String, serde_yaml_ng::Value>),
    /// The user cancels at the provider.
    Cancel(bool),
    /// A live provider: the profile really runs, and its redirect is followed by the headless
    /// user agent, which signs in with these credentials.
    Browser(BrowserSpec),
}

/// What the user types and decides at a live provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSpec {
    pub username: String,
    pub password: String,
    /// Accept the provider's consent page (default) or deny it.
    #[serde(default = "yes")]
    pub consent: bool,
    /// More inputs by name, filled wherever a form has them.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// How to run: deterministic (tests, snapshots) or live (`ief run`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Fixed clock and seeded randomness, so snapshots are stable.
    pub deterministic: bool,
    /// Policy keys; generated in memory (from `key_pool`) when absent.
    pub keys: Option<PathBuf>,
    /// The directory file; in memory when absent.
    pub directory: Option<PathBuf>,
    /// Keep the step-by-step trace in the report.
    pub trace: bool,
    /// `{Settings:Name}` values for programmatic callers (a live provider's URL); they win over
    /// the scenario's `settings`.
    pub settings: Vec<(String, String)>,
    /// Extra trusted roots (PEM text), besides the scenario's `trusted_roots`.
    pub trusted_roots: Vec<String>,
    /// The server B2C's redirect URIs name when the embedded providers register their clients
    /// (`ief serve`'s public URL when a server runs the scenario); default `{tenant}.b2clogin.com`.
    pub callback_host: Option<String>,
    /// Where policy keys are generated when `keys` is absent, and the embedded providers' RSA
    /// keys always: shared by the runs of one `ief test`, each key made once.
    pub key_pool: KeyPool,
}

/// Throwaway keys shared by the runs of one `ief test` (RSA generation dominated a scenario's
/// CPU time); cloning shares the pool. Each key is made once per role and name, outside the
/// pool's lock, so runs that need different keys generate them in parallel.
#[derive(Debug, Clone, Default)]
pub struct KeyPool(Arc<PoolCells>);

#[derive(Debug, Default)]
struct PoolCells {
    /// Generated policy keys by StorageReferenceId, one key per store.
    policy: Cells<KeyStore, ief_protocols::keys::KeyError>,
    /// RSA private keys (PKCS#8 PEM) of the embedded providers by role.
    rsa: Cells<String, ief_idp::pki::PkiError>,
}

/// Values made once per name; the lock is held only to find a name's cell.
struct Cells<T, E>(Mutex<BTreeMap<String, Arc<Cell<T, E>>>>);

/// One name's value: whoever comes first makes it, later askers wait for it.
type Cell<T, E> = std::sync::OnceLock<Result<T, E>>;

impl<T, E> Default for Cells<T, E> {
    fn default() -> Self {
        Cells(Mutex::default())
    }
}

impl<T, E> std::fmt::Debug for Cells<T, E> {
    /// Names only: the values are private keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_list().entries(map.keys()).finish()
    }
}

impl<T: Clone, E: Clone> Cells<T, E> {
    /// How many names have a value made (or being made).
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    fn get(&self, name: &str, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let cell = {
            // A run that panicked while holding the lock left whole cells behind.
            let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(map.entry(name.to_owned()).or_default())
        };
        cell.get_or_init(make).clone()
    }
}

impl KeyPool {
    /// A generated store of just `names`, generating those no run has needed yet.
    fn take(&self, names: &[&str]) -> Result<KeyStore, ief_protocols::keys::KeyError> {
        let mut store = KeyStore::generate(&[])?;
        for &name in names {
            store.extend(&self.0.policy.get(name, || KeyStore::generate(&[name]))?);
        }
        Ok(store)
    }

    /// The RSA private key (PKCS#8 PEM) of an embedded provider's `role`, the same for every
    /// run of the pool.
    pub(crate) fn rsa(&self, role: &str) -> Result<String, ief_idp::pki::PkiError> {
        self.0.rsa.get(role, ief_idp::pki::rsa_private_key_pem)
    }

    /// How many keys the pool has generated so far.
    pub fn generated(&self) -> usize {
        self.0.policy.len() + self.0.rsa.len()
    }
}

impl RunOptions {
    pub fn deterministic() -> RunOptions {
        RunOptions { deterministic: true, trace: true, ..RunOptions::default() }
    }
}

/// What a scenario did, in a form that snapshots well.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioReport {
    pub scenario: String,
    /// What the run had to assume (a tenant object id derived from the tenant name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub runs: Vec<RunReport>,
    /// The rendered plan (`ief graph --format json`) of every journey the runs entered, by Id;
    /// not part of the report's text.
    #[serde(skip)]
    pub graphs: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    pub name: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// The relying party's claims by partner name.
    pub claims: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenReport>,
    /// Pages shown, in order.
    pub pages: Vec<String>,
    /// What the HTTP stubs received during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RecordedRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    /// Where the run did not do what `expect` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation_failed: Option<String>,
    /// The plan nodes the sign-in entered, in order: (journey Id, node); not part of the
    /// report's text.
    #[serde(skip)]
    pub path: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenReport {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
}

impl RunReport {
    /// A report of the run `name` that showed `pages`, before its outcome is known.
    fn new(name: &str, pages: Vec<String>) -> RunReport {
        RunReport {
            name: name.to_owned(),
            outcome: String::new(),
            error: None,
            claims: BTreeMap::new(),
            token: None,
            pages,
            requests: Vec::new(),
            trace: Vec::new(),
            expectation_failed: None,
            path: Vec::new(),
        }
    }
}

impl ScenarioReport {
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Whether every run met its expectation.
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.expectation_failed.is_none())
    }
}

/// Why a scenario could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("the policy has errors:\n{0}")]
    Policy(String),
    #[error("{0}")]
    Setup(String),
    #[error("run '{run}': {message}")]
    Run { run: String, message: String },
}

/// The largest scenario (or trusted root) file ief reads; real ones are a few KB.
pub const MAX_SCENARIO_BYTES: u64 = 1024 * 1024;

/// How deep flow collections (`[`, `{`) may nest in a scenario; stub bodies need a handful.
pub const MAX_SCENARIO_NESTING: usize = 64;

/// Reads and runs a scenario file.
pub async fn run_file(path: &Path, options: &RunOptions) -> Result<ScenarioReport, ScenarioError> {
    Prepared::from_file(path, options).await?.run().await
}

/// A scenario file parsed (bounded in size), and its name (the file stem).
fn read(path: &Path) -> Result<(Scenario, String), ScenarioError> {
    let file_error = |message: String| ScenarioError::File { path: path.to_path_buf(), message };
    let text = input::read_text_limited(path, MAX_SCENARIO_BYTES).map_err(|e| file_error(e.to_string()))?;
    let scenario = parse(&text).map_err(file_error)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok((scenario, name))
}

/// Parses scenario YAML; answers and providers are written as one-key maps (`- choose: X`).
pub fn parse(text: &str) -> Result<Scenario, String> {
    input::check_yaml_nesting(text, MAX_SCENARIO_NESTING)?;
    serde_yaml_ng::with::singleton_map_recursive::deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|e: serde_yaml_ng::Error| e.to_string())
}

/// Runs a parsed scenario whose relative paths start at `base`.
pub async fn run(
    scenario: &Scenario,
    base: &Path,
    name: &str,
    options: &RunOptions,
) -> Result<ScenarioReport, ScenarioError> {
    run_with(scenario, base, name, options, Vec::new()).await
}

/// [`run`] with `extra` handlers asked before ief's own.
pub(crate) async fn run_with(
    scenario: &Scenario,
    base: &Path,
    name: &str,
    options: &RunOptions,
    extra: Vec<Box<dyn ProfileHandler>>,
) -> Result<ScenarioReport, ScenarioError> {
    Prepared::new(scenario.clone(), base, name, options, extra).await?.run().await
}

/// A scenario ready to sign in: its policies compiled, keys made, providers and stubs serving.
/// Each [`Prepared::extensions`] is a fresh directory, so its runs can repeat (`ief bench`).
pub(crate) struct Prepared {
    scenario: Scenario,
    name: String,
    options: RunOptions,
    /// The scenario's policy first, then the other policies its runs name.
    policy_files: Vec<PathBuf>,
    /// Where the scenario's relative paths start.
    base: PathBuf,
    /// `{Settings:Name}` values the policies were loaded with.
    settings: Vec<(String, String)>,
    policies: Vec<EffectivePolicy>,
    compiled: Vec<CompiledPolicy>,
    /// How far `after` has moved the runs' clock.
    clock_offset: Arc<AtomicI64>,
    keys: KeyStore,
    roots: TrustedRoots,
    thumbprints: Vec<String>,
    env: Box<dyn TransformEnv + Send + Sync>,
    handlers: Vec<Box<dyn ProfileHandler>>,
    stub_server: Option<StubServer>,
    providers: Option<embedded::Started>,
}

impl Prepared {
    pub(crate) async fn from_file(path: &Path, options: &RunOptions) -> Result<Prepared, ScenarioError> {
        let (scenario, name) = read(path)?;
        Prepared::new(scenario, input::folder_of(path), &name, options, Vec::new()).await
    }

    async fn new(
        scenario: Scenario,
        base: &Path,
        name: &str,
        options: &RunOptions,
        extra: Vec<Box<dyn ProfileHandler>>,
    ) -> Result<Prepared, ScenarioError> {
        if scenario.replace.keys().any(String::is_empty) {
            return Err(ScenarioError::Setup("replace: the text to replace cannot be empty".to_owned()));
        }
        let challenges = scenario.conditional_access.iter().flat_map(|c| &c.challenges);
        if let Some(bad) = challenges.into_iter().find(|c| !CHALLENGES.contains(&c.as_str())) {
            return Err(ScenarioError::Setup(format!(
                "conditional_access: '{bad}' is not a challenge (one of {})",
                CHALLENGES.join(", ")
            )));
        }
        let stub_server = match scenario.http_stubs.is_empty() {
            true => None,
            false => Some(StubServer::start(&scenario.http_stubs).await?),
        };
        // The embedded providers share the run's clock, which `after` moves on; deterministic runs
        // also seed them.
        let clock_offset = Arc::new(AtomicI64::new(0));
        let (clock, seed): (ief_idp::Clock, Option<u64>) = if options.deterministic {
            let now = FixedEnv::default().now().and_utc().timestamp();
            (embedded::fixed_clock(now), Some(now.unsigned_abs()))
        } else {
            (ief_idp::system_clock(), None)
        };
        let clock: ief_idp::Clock = {
            let offset = Arc::clone(&clock_offset);
            Arc::new(move || clock() + offset.load(Ordering::Relaxed))
        };
        let mut providers = match &scenario.embedded_providers {
            Some(spec) => Some(embedded::Started::bind(spec, clock, seed, &options.key_pool).await?),
            None => None,
        };
        let mut settings: Vec<(String, String)> = Vec::new();
        let stub_url = stub_server.as_ref().map(|s| ("IefStubUrl".to_owned(), s.url.clone()));
        let provider_urls = providers.as_ref().map(embedded::Started::settings).unwrap_or_default();
        for (k, v) in
            provider_urls.into_iter().chain(stub_url).chain(scenario.settings.clone()).chain(options.settings.clone())
        {
            // Later sources win: the providers and the stub, then the scenario, then the caller.
            settings.retain(|(name, _)| *name != k);
            settings.push((k, v));
        }
        if let Some(id) = &scenario.tenant_id {
            let guid = ief_engine::tenant::parse_guid(id).ok_or_else(|| {
                ScenarioError::Setup(format!("tenant_id '{id}' is not a GUID (the tenant's object id)"))
            })?;
            settings.retain(|(name, _)| name != ief_engine::settings::TENANT_OBJECT_ID);
            settings.push((ief_engine::settings::TENANT_OBJECT_ID.to_owned(), guid));
        }
        let mut roots = trusted_roots(&scenario, base, options)?;
        roots.0.extend(providers.as_ref().and_then(embedded::Started::trusted_root));
        // The scenario's policy first, then the other policies its runs name.
        let mut policy_files = vec![scenario.policy.clone()];
        for file in scenario.runs.iter().filter_map(|r| r.policy.as_ref()) {
            if !policy_files.contains(file) {
                policy_files.push(file.clone());
            }
        }
        let policies: Vec<EffectivePolicy> =
            policy_files.iter().map(|f| load_policy(&scenario, f, base, settings.clone())).collect::<Result<_, _>>()?;
        let base = base.to_path_buf();
        let policy = &policies[0];
        let compiled: Vec<CompiledPolicy> = policies.iter().map(|p| CompiledPolicy::compile(&p.model)).collect();

        let mut keys = match &options.keys {
            Some(dir) => KeyStore::load(dir),
            None => {
                let mut names: Vec<String> = policies.iter().flat_map(|p| referenced_keys(&p.model)).collect();
                names.extend(scenario.embedded_providers.iter().flat_map(EmbeddedProviders::key_names));
                names.sort();
                names.dedup();
                // In memory only: Ctrl-C or an abort leaves no private key in the temp folder.
                options.key_pool.take(&names.iter().map(String::as_str).collect::<Vec<_>>())
            }
        }
        .map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let mut issued = Vec::new();
        if let (Some(started), Some(spec)) = (&mut providers, &scenario.embedded_providers) {
            let mut context = request_context(&policy.model, &scenario.request, options.deterministic);
            if let Some(host) = &options.callback_host {
                context.host_name.clone_from(host);
            }
            issued = started.register(spec, &policy.model, &context, &mut keys, &options.key_pool)?;
        }
        // Keys made for this run (generated, or issued by a provider's test CA) have thumbprints
        // that change every run: reports name them as [thumbprint].
        let thumbprints = match options.keys {
            None => redact::key_thumbprints(&keys, keys.names()),
            Some(_) => redact::key_thumbprints(&keys, issued.iter().map(String::as_str)),
        };
        let offset = Arc::clone(&clock_offset);
        let env: Box<dyn TransformEnv + Send + Sync> = if options.deterministic {
            Box::new(KeyedEnv::new(FixedEnv::default(), keys.clone()).with_clock_offset(offset))
        } else {
            Box::new(KeyedEnv::new(ief_protocols::env::SystemEnv, keys.clone()).with_clock_offset(offset))
        };
        let mut handlers = ief_protocols::handlers();
        handlers.insert(0, Box::new(StubIdentityProviders { providers: scenario.identity_providers.clone() }));
        for handler in extra.into_iter().rev() {
            handlers.insert(0, handler);
        }
        Ok(Prepared {
            scenario,
            name: name.to_owned(),
            options: options.clone(),
            policy_files,
            base,
            settings,
            policies,
            compiled,
            clock_offset,
            keys,
            roots,
            thumbprints,
            env,
            handlers,
            stub_server,
            providers,
        })
    }

    /// The run's services around a fresh directory seeded from the scenario.
    pub(crate) fn extensions(&self) -> Result<Extensions, ScenarioError> {
        let (scenario, options, env) = (&self.scenario, &self.options, &self.env);
        let directory = match &options.directory {
            Some(path) => Directory::open(path),
            None => Directory::in_memory(),
        }
        .map_err(|e| ScenarioError::Setup(e.to_string()))?;
        seed_directory(scenario, &directory, env.as_ref(), &self.policies[0].model.tenant_id)?;
        let mut extensions = Extensions::default();
        extensions.insert(self.keys.clone());
        extensions.insert(directory);
        extensions.insert(CodeOutbox::new());
        extensions.insert(self.roots.clone());
        if let Some(stubs) = &self.stub_server {
            extensions.insert(stubs.stubbed_origins());
        }
        if let Some(spec) = &scenario.conditional_access {
            extensions.insert(ConditionalAccessSignals { challenges: spec.challenges.clone() });
        }
        Ok(extensions)
    }

    /// Runs the scenario's sign-ins from the scenario's start time; `times`, when given, gets
    /// the executor's time to each page and to each end.
    pub(crate) async fn runs(
        &self,
        extensions: &Extensions,
        mut times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<RunReport>, ScenarioError> {
        let (scenario, options, name) = (&self.scenario, &self.options, self.name.as_str());
        self.clock_offset.store(0, Ordering::Relaxed);
        let executors: Vec<Executor<'_>> = self
            .policies
            .iter()
            .zip(&self.compiled)
            .map(|(p, c)| Executor::new(&p.model, c, &self.handlers, self.env.as_ref(), extensions))
            .collect();
        let runs = runs_of(scenario, name);
        let mut session = Session::default();
        let mut browser = Browser { providers: &scenario.identity_providers, agent: None, authenticator: None };
        let mut reports = Vec::new();
        for run in &runs {
            let journey = run.journey.clone().or_else(|| scenario.journey.clone());
            let which = run.policy.as_ref().and_then(|f| self.policy_files.iter().position(|p| p == f)).unwrap_or(0);
            let executor = &executors[which];
            let request = run.request.as_ref().unwrap_or(&scenario.request);
            let context = request_context(executor.policy, request, options.deterministic);
            if let Some(after) = &run.after {
                let seconds = parse_duration("after", after)
                    .map_err(|message| ScenarioError::Run { run: run.name.clone(), message })?;
                self.clock_offset.fetch_add(seconds, Ordering::Relaxed);
            }
            let start_session = match (run.new_session, run.reopen_browser) {
                (true, _) => Session::default(),
                (false, true) => std::mem::take(&mut session).reopened(),
                (false, false) => std::mem::take(&mut session),
            };
            if run.new_session || run.reopen_browser {
                browser.agent = None;
            }
            let (report, after) = run_one(
                executor,
                run,
                journey.as_deref(),
                context,
                start_session,
                extensions,
                options,
                &mut browser,
                &self.thumbprints,
                self.stub_server.as_ref(),
                &self.clock_offset,
                times.as_deref_mut(),
            )
            .await?;
            session = after;
            reports.push(report);
        }
        Ok(reports)
    }

    /// Runs the scenario once, as `ief run` and `ief test` do.
    async fn run(self) -> Result<ScenarioReport, ScenarioError> {
        let extensions = self.extensions()?;
        let reports = self.runs(&extensions, None).await?;
        Ok(self.finish(reports))
    }

    /// The report of `reports`, with the plans they walked; stops the providers and stubs.
    fn finish(self, reports: Vec<RunReport>) -> ScenarioReport {
        drop(self.stub_server);
        drop(self.providers);
        let mut graphs = BTreeMap::new();
        for (journey, _) in reports.iter().flat_map(|r| &r.path) {
            let plan = self.compiled.iter().find_map(|c| c.journey(journey));
            if let Some(plan) = plan.filter(|_| !graphs.contains_key(journey)) {
                graphs.insert(journey.clone(), ief_engine::plan::render::json(plan));
            }
        }
        let warnings = self.policies[0].model.tenant_warning().into_iter().collect();
        ScenarioReport { scenario: self.name, warnings, runs: reports, graphs }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_one(
    executor: &Executor<'_>,
    run: &RunSpec,
    journey: Option<&str>,
    context: RequestContext,
    session: Session,
    extensions: &Extensions,
    options: &RunOptions,
    browser: &mut Browser<'_>,
    thumbprints: &[String],
    stubs: Option<&StubServer>,
    clock_offset: &AtomicI64,
    mut times: Option<&mut Vec<Duration>>,
) -> Result<(RunReport, Session), ScenarioError> {
    let fail = |message: String| ScenarioError::Run { run: run.name.clone(), message };
    let callback_host = context.host_name.clone();
    let mut sign_in = executor.start(journey, context, session).map_err(|e| fail(e.to_string()))?;
    let mut answers = run.steps.iter();
    let mut pages = Vec::new();
    let mut answer = None;
    // The last form submitted (and its page), and whether a verified code sends it again.
    let mut last_submit: Option<Answer> = None;
    let mut last_submitted_to: Option<String> = None;
    let mut resubmit: Option<Answer> = None;
    // Each page takes one answer; a journey cannot show more pages than it has answers plus one,
    // and more browser sign-ins than MAX_BROWSER_SIGN_INS.
    let mut sign_ins = 0;
    // None: the run stopped at a page it expects to end at (`expect: outcome: page`).
    let outcome = loop {
        let started = Instant::now();
        let progress = executor.resume(&mut sign_in, answer.take()).await.map_err(|e| fail(e.to_string()))?;
        if let Some(times) = times.as_deref_mut() {
            times.push(started.elapsed());
        }
        match progress {
            Progress::Finished(outcome) => break Some(outcome),
            Progress::NeedsInput(page) => {
                pages.push(describe_page(&page));
                // A live provider's redirect is the browser's to follow; it takes no answer.
                if let Some(params) = browser.follow(&page, &callback_host, extensions).await.map_err(fail)? {
                    sign_ins += 1;
                    if sign_ins > MAX_BROWSER_SIGN_INS {
                        return Err(fail(format!(
                            "more than {MAX_BROWSER_SIGN_INS} browser sign-ins in one run; the last at '{}'",
                            page.profile
                        )));
                    }
                    answer = Some(Answer::Callback(params));
                    continue;
                }
                // A verified address: the form as typed before goes again, like the page's Continue.
                if let Some(again) = resubmit.take()
                    && matches!(page.kind, PageKind::Form { .. })
                    && page.error.is_none()
                {
                    answer = Some(again);
                    continue;
                }
                if let Some(secret) = shown_totp_secret(&page) {
                    browser.authenticator = Some(secret);
                }
                let Some(next) = next_answer(&mut answers, Some(clock_offset)).map_err(fail)? else {
                    if ends_at_page(run) {
                        break None;
                    }
                    return Err(fail(format!("no answer left for the page {}", describe_page(&page))));
                };
                let totp = browser.authenticator.as_deref().map(|secret| {
                    let now = executor.now();
                    let key = ief_protocols::totp::base32_decode(secret).unwrap_or_default();
                    ief_protocols::totp::code_at(&key, now.and_utc().timestamp())
                });
                let mut given = to_answer(next, &page, extensions, totp.as_deref()).map_err(fail)?;
                match next {
                    StepAnswer::Submit(_) => {
                        // The form that refused the last submit still holds what was typed.
                        let refused_it = page.error.is_some()
                            && matches!(
                                page.kind,
                                PageKind::Form { .. } | PageKind::Selection { sign_in: Some(_), .. }
                            )
                            && last_submitted_to.as_deref() == Some(page.profile.as_str());
                        if refused_it
                            && let (Answer::Submit(now), Some(Answer::Submit(before))) = (&mut given, &last_submit)
                        {
                            *now = typed_over(before, std::mem::take(now));
                        }
                        last_submit = Some(given.clone());
                        last_submitted_to = Some(page.profile.clone());
                    }
                    StepAnswer::Verify(_) => {
                        resubmit = Some(last_submit.clone().ok_or_else(|| {
                            fail("`verify` needs an earlier `submit` of the form whose address it verifies".to_owned())
                        })?);
                    }
                    _ => {}
                }
                answer = Some(given);
            }
        }
    };
    let redactions =
        redact::Redactions::new(ief_engine::exec::credential_values(executor.policy, sign_in.claims()), thumbprints);
    let expected = run.expect.as_ref().and_then(|e| e.requests.as_deref());
    let (requests, requests_mismatch) = match stubs {
        Some(server) => server.take(expected),
        None => (Vec::new(), expected.filter(|e| !e.is_empty()).map(|_| "the scenario has no http_stubs".to_owned())),
    };
    if let Some(extra) = answers.next() {
        // The real cause first: how the journey ended and what it did, then the unused answer.
        let ended = match &outcome {
            Some(Outcome::Token { .. }) => "with a token".to_owned(),
            Some(Outcome::Error { code, message }) => format!("with error {code}: {message}"),
            None => "at a page".to_owned(),
        };
        let trace: Vec<String> = sign_in.trace.iter().map(|e| format!("  {e}")).collect();
        return Err(fail(redactions.scrub(&format!(
            "the journey ended {ended}\ntrace:\n{}\nso the answer {extra:?} was not used",
            trace.join("\n")
        ))));
    }
    let mut report = RunReport::new(&run.name, pages);
    report.requests = requests;
    if options.trace {
        report.trace = sign_in.trace.iter().map(ToString::to_string).collect();
    }
    report.path =
        sign_in.path().iter().filter_map(|p| Some((executor.compiled.plan(p.journey)?.id.clone(), p.node))).collect();
    match outcome {
        Some(Outcome::Token { token, claims }) => {
            report.outcome = "token".to_owned();
            report.claims = claims.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            let mut header = token.header.clone();
            if let Some(kid) = header.get_mut("kid") {
                *kid = serde_json::Value::String("[kid]".to_owned());
            }
            report.token = Some(TokenReport { header, claims: token.claims.clone() });
        }
        Some(Outcome::Error { code, message }) => {
            report.outcome = "error".to_owned();
            report.error = Some(ErrorReport { code, message });
        }
        None => report.outcome = OUTCOME_PAGE.to_owned(),
    }
    redactions.apply(&mut report);
    check_expectation(run.expect.as_ref(), &mut report);
    if report.expectation_failed.is_none() {
        report.expectation_failed = requests_mismatch;
    }
    Ok((report, sign_in.into_session()))
}

/// A run's `after`: a number and a unit (`s`, `m`, `h`, `d`), in seconds.
fn parse_duration(key: &str, text: &str) -> Result<i64, String> {
    let t = text.trim();
    let unit = t.chars().last().unwrap_or('s');
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => 0,
    };
    let number = t[..t.len() - unit.len_utf8().min(t.len())].trim().parse::<i64>().ok().filter(|n| *n >= 0);
    match (number, scale) {
        (Some(n), s) if s > 0 => n.checked_mul(s).ok_or_else(|| format!("`{key}: {text}` is too long")),
        _ => Err(format!("`{key}: {text}` is not a duration such as 90s, 20m, 2h or 30d")),
    }
}

/// The next answer that is not a `wait`, `clock` moved on by each `wait` passed over (an
/// error without a clock to move).
fn next_answer<'a>(
    answers: &mut std::slice::Iter<'a, StepAnswer>,
    clock: Option<&AtomicI64>,
) -> Result<Option<&'a StepAnswer>, String> {
    loop {
        match answers.next() {
            Some(StepAnswer::Wait(wait)) => {
                let clock = clock.ok_or("`wait` needs the server's clock")?;
                clock.fetch_add(parse_duration("wait", wait)?, Ordering::Relaxed);
            }
            other => return Ok(other),
        }
    }
}

/// The outcome of a run that stops at a page with no way on (a block page without buttons).
const OUTCOME_PAGE: &str = "page";

/// Whether the run expects to stop at the page its answers run out on.
fn ends_at_page(run: &RunSpec) -> bool {
    run.expect.as_ref().is_some_and(|e| e.outcome == OUTCOME_PAGE)
}

/// Notes in the report where the run did not do what `expect` says.
fn check_expectation(expect: Option<&Expect>, report: &mut RunReport) {
    let Some(expect) = expect else { return };
    let code = report.error.as_ref().map(|e| e.code.as_str());
    if expect.outcome != report.outcome {
        report.expectation_failed = Some(format!("expected outcome {}, got {}", expect.outcome, report.outcome));
    } else if expect.error_code.is_some() && expect.error_code.as_deref() != code {
        report.expectation_failed = Some(format!(
            "expected error {:?}, got {:?}",
            expect.error_code.as_deref().unwrap_or(""),
            code.unwrap_or("")
        ));
    }
}

/// The runs of a scenario: its `runs`, or one run of its top-level steps.
fn runs_of(scenario: &Scenario, name: &str) -> Vec<RunSpec> {
    if scenario.runs.is_empty() {
        vec![RunSpec {
            name: name.to_owned(),
            policy: None,
            journey: scenario.journey.clone(),
            steps: scenario.steps.clone(),
            expect: scenario.expect.clone(),
            new_session: false,
            reopen_browser: false,
            after: None,
            request: None,
        }]
    } else {
        scenario.runs.clone()
    }
}

/// A submit to a form that refused the last one: the fields it leaves out are sent as typed
/// before, as a browser keeps them in the form.
pub(crate) fn typed_over(before: &[(String, String)], now: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        before.iter().filter(|(k, _)| !now.iter().any(|(n, _)| n.eq_ignore_ascii_case(k))).cloned().collect();
    out.extend(now);
    out
}

/// A form value `totp` is the authenticator app's current code for the secret the pages showed.
const TOTP_VALUE: &str = "totp";

fn to_answer(step: &StepAnswer, page: &Page, extensions: &Extensions, totp: Option<&str>) -> Result<Answer, String> {
    Ok(match step {
        StepAnswer::Choose(id) => Answer::Choose(id.clone()),
        StepAnswer::Submit(values) => {
            let mut typed = Vec::new();
            for (k, v) in values {
                let text = match v.as_str() {
                    TOTP_VALUE => totp
                        .ok_or(
                            "`totp` needs a page that showed an authenticator app's secret (a QR code or secretKey)",
                        )?
                        .to_owned(),
                    _ => v.clone(),
                };
                typed.push((k.clone(), text));
            }
            Answer::Submit(typed)
        }
        StepAnswer::Code(code) if code == "sent" => Answer::Code(sent_code(page, extensions)?),
        StepAnswer::Code(code) => Answer::Code(code.clone()),
        StepAnswer::Verify(fields) => {
            let [(_, code)] = fields.iter().collect::<Vec<_>>()[..] else {
                return Err("`verify` names one field and its code, e.g. `verify: {email: sent}`".to_owned());
            };
            if !matches!(page.kind, PageKind::Code { .. }) {
                return Err(format!("`verify` answers a code page, but the page is {}", describe_page(page)));
            }
            Answer::Code(if code == "sent" { sent_code(page, extensions)? } else { code.clone() })
        }
        StepAnswer::Cancel(_) => Answer::Cancel,
        StepAnswer::Wait(_) => return Err("`wait` is followed by no answer for the page".to_owned()),
        StepAnswer::Press(press) => {
            let mut values = Vec::new();
            for (name, text) in &press.values {
                let text = if text == "sent" { last_code(extensions)? } else { text.clone() };
                values.push((name.clone(), text));
            }
            Answer::Action { control: press.control.clone(), action: press.action.clone(), values }
        }
    })
}

/// The authenticator-app secret a form shows: an `otpauth://` URI's (the QR code) or a
/// `secretKey` field's.
fn shown_totp_secret(page: &Page) -> Option<String> {
    let PageKind::Form { fields } = &page.kind else { return None };
    fields.iter().find_map(|f| {
        let value = f.prefilled.as_deref()?;
        ief_protocols::totp::secret_of_uri(value)
            .or_else(|| f.claim.eq_ignore_ascii_case("secretKey").then(|| value.to_owned()))
    })
}

/// The code ief "sent" to the code page's destination (else the last one sent).
fn sent_code(page: &Page, extensions: &Extensions) -> Result<String, String> {
    let outbox = extensions.get::<CodeOutbox>().ok_or("no code outbox")?;
    match &page.kind {
        PageKind::Code { to } => outbox.last_code(to).map_or_else(|| last_code(extensions), Ok),
        _ => last_code(extensions),
    }
}

/// The last code ief "sent" to anyone.
fn last_code(extensions: &Extensions) -> Result<String, String> {
    let outbox = extensions.get::<CodeOutbox>().ok_or("no code outbox")?;
    outbox.last().map(|c| c.code).ok_or_else(|| "no code was sent, so `sent` has nothing to enter".to_owned())
}

fn describe_page(page: &Page) -> String {
    let what = match &page.kind {
        PageKind::Selection { options, sign_in } => match sign_in {
            Some(form) if options.is_empty() => format!("sign-in form {form}"),
            Some(form) => format!("sign-in form {form} with buttons {}", options.join(", ")),
            None => format!("buttons {}", options.join(", ")),
        },
        PageKind::Form { fields } if fields.is_empty() => format!("form {}", page.profile),
        PageKind::Form { fields } => {
            let names: Vec<&str> = fields.iter().map(|f| f.claim.as_str()).collect();
            format!("form {} ({})", page.profile, names.join(", "))
        }
        PageKind::Code { to } => format!("code sent to {to}"),
        PageKind::Redirect { url } => format!("redirect to {}", redirect_target(url)),
    };
    // What the page's settings change from the usual page.
    let s = &page.settings;
    let notes: Vec<&str> = [
        (!s.show_continue_button, "no continue button"),
        (!s.show_cancel_button, "no cancel button"),
        (s.enable_remember_me, "keep me signed in"),
    ]
    .into_iter()
    .filter_map(|(on, note)| on.then_some(note))
    .collect();
    let what = if notes.is_empty() { what } else { format!("{what} [{}]", notes.join(", ")) };
    match &page.error {
        Some(e) => format!("{what} showing \"{e}\""),
        None => what,
    }
}

/// A redirect's host and path for reports: no query values (state, nonce) and no loopback port,
/// which changes from run to run.
fn redirect_target(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
            match u.port() {
                Some(_) if loopback => format!("{host}:[port]{}", u.path()),
                Some(port) => format!("{host}:{port}{}", u.path()),
                None => format!("{host}{}", u.path()),
            }
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Live sign-ins one run may make: a journey federating more often than this loops.
const MAX_BROWSER_SIGN_INS: usize = 10;

/// The headless browser of the scenario's live providers: one cookie jar per browser session.
struct Browser<'s> {
    providers: &'s BTreeMap<String, IdentityProviderSpec>,
    agent: Option<UserAgent>,
    /// The authenticator app's secret, from the last page that showed one (a QR code's URI or a
    /// `secretKey`). Like the user's phone it outlives browser sessions.
    authenticator: Option<String>,
}

impl Browser<'_> {
    /// Signs in at the provider when `page` redirects to one the scenario drives live; returns
    /// the callback's parameters, or `None` for any other page.
    async fn follow(
        &mut self,
        page: &Page,
        callback_host: &str,
        extensions: &Extensions,
    ) -> Result<Option<Vec<(String, String)>>, String> {
        let (PageKind::Redirect { url }, Some(IdentityProviderSpec::Browser(spec))) =
            (&page.kind, self.providers.get(&page.profile))
        else {
            return Ok(None);
        };
        let agent = match &mut self.agent {
            Some(agent) => agent,
            empty => {
                let roots = extensions.get::<TrustedRoots>().cloned().unwrap_or_default();
                empty.insert(UserAgent::new(&roots).map_err(|e| e.to_string())?)
            }
        };
        let credentials = Credentials {
            username: spec.username.clone(),
            password: spec.password.clone(),
            consent: spec.consent,
            fields: spec.fields.clone(),
        };
        let callback = CallbackMatch::AuthResp { host: callback_host.to_owned() };
        match agent.authorize(url, &callback, &credentials).await {
            Ok(params) => Ok(Some(params)),
            Err(e) => Err(format!("the browser sign-in at '{}' did not reach the callback: {e}", page.profile)),
        }
    }
}

/// The scenario's `trusted_roots` files and the caller's PEM roots.
fn trusted_roots(scenario: &Scenario, base: &Path, options: &RunOptions) -> Result<TrustedRoots, ScenarioError> {
    let mut roots = Vec::new();
    for file in &scenario.trusted_roots {
        let path = base.join(file);
        let pem = input::refuse_pipe(&path)
            .and_then(|()| input::read_text_limited(&path, MAX_SCENARIO_BYTES))
            .map_err(|e| ScenarioError::File { path: path.clone(), message: format!("a trusted root: {e}") })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ScenarioError::File { path, message: "a trusted root is not a PEM certificate".to_owned() });
        }
        roots.push(pem);
    }
    roots.extend(options.trusted_roots.iter().cloned());
    Ok(TrustedRoots(roots))
}

fn load_policy(
    scenario: &Scenario,
    file: &Path,
    base: &Path,
    settings: Vec<(String, String)>,
) -> Result<EffectivePolicy, ScenarioError> {
    let policy_path = base.join(file);
    let file_error = |message: String| ScenarioError::File { path: policy_path.clone(), message };
    match std::fs::metadata(&policy_path) {
        Ok(m) if m.is_file() && policy_path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) => {}
        Ok(m) if m.is_file() => return Err(file_error("not a policy file (policies are *.xml files)".to_owned())),
        Ok(_) => return Err(file_error("not a policy file (not a regular file)".to_owned())),
        Err(e) => return Err(file_error(e.to_string())),
    }
    // The policy's folder is searched for its bases: never the whole machine or /proc.
    let folder = input::folder_of(&policy_path);
    folder
        .canonicalize()
        .map_err(|e| e.to_string())
        .and_then(|c| input::searchable(&c))
        .map_err(|reason| file_error(format!("{reason}; move the policy into a folder of its own")))?;
    let mut paths = vec![folder.to_path_buf()];
    paths.extend(scenario.bases.iter().map(|b| base.join(b)));
    let request = SettingsRequest { environment: scenario.environment.clone(), file: None, values: settings };
    let replace: Vec<(String, String)> = scenario.replace.clone().into_iter().collect();
    let set = PolicySet::load_replacing(&paths, &request, &replace);
    let leaf =
        set.files.iter().position(|f| same_file(set.db.path(f.file), &policy_path)).ok_or_else(|| {
            ScenarioError::File { path: policy_path.clone(), message: "not a policy file".to_owned() }
        })?;
    let mut diags = set.diagnostics.clone();
    let effective = EffectivePolicy::build(&set, leaf, &mut diags);
    let errors: Vec<Diagnostic> = diags.into_sorted().into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        let text: Vec<String> = errors.iter().map(|d| d.display(&set.db).to_string()).collect();
        return Err(ScenarioError::Policy(text.join("\n")));
    }
    effective.ok_or_else(|| ScenarioError::Policy("no effective policy".to_owned()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Every StorageReferenceId the policy names, so generated keys cover them all.
fn referenced_keys(policy: &Policy) -> Vec<String> {
    let mut names: Vec<String> = policy
        .technical_profiles
        .iter()
        .flat_map(|tp| tp.keys.iter().map(|k| k.storage_reference_id.value.to_string()))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Seeds the scenario's users into `directory` of the tenant `tenant`, object ids drawn from
/// `env` (so deterministic runs give stable ids).
pub(crate) fn seed_directory(
    scenario: &Scenario,
    directory: &Directory,
    env: &dyn TransformEnv,
    tenant: &str,
) -> Result<(), ScenarioError> {
    for spec in &scenario.directory {
        let mut user = seed_user(spec);
        if user.object_id.is_none() {
            user.object_id = directory.new_object_id(env).ok();
        }
        // Every Azure AD account has a UPN: the one a new account gets, unless the seed sets it.
        if let (None, Some(id)) = (&user.data.user_principal_name, &user.object_id) {
            user.data.user_principal_name = Some(format!("{id}@{tenant}"));
        }
        directory.seed(&user).map_err(|e| ScenarioError::Setup(format!("seeding the directory: {e}")))?;
    }
    Ok(())
}

fn seed_user(seed: &SeedSpec) -> SeedUser {
    let mut sign_in_names = Vec::new();
    if let Some(e) = &seed.email {
        sign_in_names.push(SignInName::new("emailAddress", e.clone()));
    }
    if let Some(u) = &seed.user_name {
        sign_in_names.push(SignInName::new("userName", u.clone()));
    }
    sign_in_names.extend(seed.sign_in_names.iter().map(|(kind, value)| SignInName::new(kind.clone(), value.clone())));
    SeedUser {
        object_id: seed.object_id.clone(),
        data: UserData {
            user_principal_name: seed.attributes.get("userPrincipalName").cloned(),
            sign_in_names,
            alternative_security_ids: seed
                .alternative_security_ids
                .iter()
                // The directory keeps the id base64-encoded, as CreateAlternativeSecurityId writes it.
                .map(|a| AlternativeSecurityId {
                    issuer: a.issuer.clone(),
                    issuer_user_id: BASE64.encode(&a.issuer_user_id),
                })
                .collect(),
            attributes: seed
                .attributes
                .iter()
                .filter(|(k, _)| *k != "userPrincipalName")
                .map(|(k, v)| (k.clone(), ClaimValue::String(v.clone())))
                .collect(),
            password: seed.password.as_ref().map(|p| Password::new(p.clone())),
            user_identities: None,
        },
    }
}

fn request_context(policy: &Policy, spec: &RequestSpec, deterministic: bool) -> RequestContext {
    let tenant_name = policy.tenant_id.split('.').next().unwrap_or("tenant").to_owned();
    RequestContext {
        client_id: spec.client_id.clone().unwrap_or_else(|| "00000000-0000-0000-0000-00000000a991".to_owned()),
        redirect_uri: "https://jwt.ms".to_owned(),
        scope: "openid".to_owned(),
        nonce: Some(spec.nonce.clone().unwrap_or_else(|| "defaultNonce".to_owned())),
        state: None,
        login_hint: spec.login_hint.clone(),
        domain_hint: spec.domain_hint.clone(),
        prompt: None,
        max_age: None,
        acr_values: None,
        culture: spec.culture.clone().unwrap_or_else(|| "en-US".to_owned()),
        correlation_id: if deterministic {
            "00000000-0000-0000-0000-000000000000".to_owned()
        } else {
            ief_protocols::env::random_guid()
        },
        ip_address: "127.0.0.1".to_owned(),
        host_name: format!("{tenant_name}.b2clogin.com"),
        query: spec.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        input_claims: spec.input_claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        kmsi: false,
    }
}

/// External identity providers answered from the scenario: they "sign the user in" at once and
/// return the configured claims. Live providers arrive with the OIDC and OAuth issues.
struct StubIdentityProviders {
    providers: BTreeMap<String, IdentityProviderSpec>,
}

impl ProfileHandler for StubIdentityProviders {
    fn name(&self) -> &'static str {
        "stub identity provider"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        // Browser providers are live: their own protocol handler runs them.
        invocation == Invocation::Step
            && self
                .providers
                .get(profile.id.value.as_str())
                .is_some_and(|p| !matches!(p, IdentityProviderSpec::Browser(_)))
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match self.providers.get(request.profile.id.value.as_str()) {
                Some(IdentityProviderSpec::Stub(claims)) => {
                    let user: serde_json::Map<String, serde_json::Value> =
                        claims.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect();
                    stub_claims(&request, serde_json::Value::Object(user))
                }
                Some(IdentityProviderSpec::Cancel(_) | IdentityProviderSpec::Browser(_)) | None => {
                    ProfileResult::Failed(ief_engine::exec::ProfileError {
                        code: "AADB2C90273".to_owned(),
                        user_message: "The user cancelled at the identity provider.".to_owned(),
                    })
                }
            }
        })
    }
}

/// A stub's answer, mapped as the profile's own handler maps a provider's: an OAuth2 profile
/// through its partner names and JSON paths; others (OpenID Connect, OAuth1) by top-level name,
/// nested objects as their JSON text.
fn stub_claims(request: &ProfileRequest<'_>, user: serde_json::Value) -> ProfileResult {
    let protocol = request.profile.protocol.as_ref().map_or("", |p| p.name.as_str());
    if protocol.eq_ignore_ascii_case("OAuth2") {
        return match ief_protocols::oauth2::claims_from_user(request, &user) {
            Ok(claims) => ProfileResult::Claims(claims),
            Err(e) => ProfileResult::Failed(e),
        };
    }
    let mut claims = Vec::new();
    if let serde_json::Value::Object(members) = user {
        ief_protocols::oidc::claims::merge(&mut claims, members);
    }
    ProfileResult::Claims(claims)
}

/// A folder removed on drop.
#[cfg(test)]
struct TempDir(PathBuf);

#[cfg(test)]
impl TempDir {
    fn new(prefix: &str) -> Result<TempDir, ScenarioError> {
        let unique = format!("{prefix}-{}-{}", std::process::id(), ief_protocols::env::random_guid());
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).map_err(|e| ScenarioError::Setup(format!("{}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests;
