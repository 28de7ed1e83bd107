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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ief_engine::exec::{
    Answer, BoxFuture, Executor, Extensions, Invocation, Outcome, Page, PageKind, ProfileHandler, ProfileRequest,
    ProfileResult, Progress, RequestContext, Session,
};
use ief_engine::model::{Policy, TechnicalProfile};
use ief_engine::{CompiledPolicy, Diagnostic, EffectivePolicy, PolicySet, SettingsRequest};
use ief_transforms::{AlternativeSecurityId, ClaimValue, FixedEnv, TransformEnv};
use serde::{Deserialize, Serialize};

use crate::agent::{CallbackMatch, Credentials, UserAgent};
use ief_protocols::directory::Directory;
use ief_protocols::directory::store::{Password, SeedUser, SignInName, UserData};
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;
use ief_protocols::phone::CodeOutbox;

pub mod agent;
pub mod bench;
mod embedded;
mod redact;

pub use embedded::{
    EmbeddedClient, EmbeddedConsumer, EmbeddedOAuth1, EmbeddedOAuth2, EmbeddedOidc, EmbeddedProviders,
    OAUTH1_URL_SETTING, OAUTH2_URL_SETTING, OIDC_URL_SETTING,
};

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
    /// PEM files of extra root certificates (a live provider's test CA), relative to the scenario.
    #[serde(default)]
    pub trusted_roots: Vec<PathBuf>,
    /// Answers of a single sign-in (when `runs` is absent).
    #[serde(default)]
    pub steps: Vec<StepAnswer>,
    pub expect: Option<Expect>,
    /// Several sign-ins sharing the directory and the browser session, in order.
    #[serde(default)]
    pub runs: Vec<RunSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub name: String,
    pub journey: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepAnswer>,
    pub expect: Option<Expect>,
    /// Start with a new browser session instead of the previous run's.
    #[serde(default)]
    pub new_session: bool,
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
    /// Cancel the page.
    Cancel(bool),
}

/// What the run must end with; a mismatch fails the scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `token` or `error`.
    pub outcome: String,
    pub error_code: Option<String>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStub {
    pub path: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    pub body: serde_yaml_ng::Value,
}

fn ok_status() -> u16 {
    200
}

/// How to run: deterministic (tests, snapshots) or live (`ief run`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Fixed clock and seeded randomness, so snapshots are stable.
    pub deterministic: bool,
    /// Policy keys; generated into a temporary folder when absent.
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

/// Reads and runs a scenario file.
pub async fn run_file(path: &Path, options: &RunOptions) -> Result<ScenarioReport, ScenarioError> {
    Prepared::from_file(path, options).await?.run().await
}

/// Parses scenario YAML; answers and providers are written as one-key maps (`- choose: X`).
pub fn parse(text: &str) -> Result<Scenario, String> {
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

/// A scenario ready to sign in: its policy compiled, keys made, providers and stubs serving.
/// Each [`Prepared::extensions`] is a fresh directory, so its runs can repeat (`ief bench`).
pub(crate) struct Prepared {
    scenario: Scenario,
    name: String,
    options: RunOptions,
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    keys: KeyStore,
    roots: TrustedRoots,
    thumbprints: Vec<String>,
    env: Box<dyn TransformEnv + Send + Sync>,
    handlers: Vec<Box<dyn ProfileHandler>>,
    stub_server: Option<StubServer>,
    providers: Option<embedded::Started>,
    _temp_keys: Option<TempDir>,
}

impl Prepared {
    pub(crate) async fn from_file(path: &Path, options: &RunOptions) -> Result<Prepared, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::File { path: path.to_path_buf(), message: e.to_string() })?;
        let scenario = parse(&text).map_err(|message| ScenarioError::File { path: path.to_path_buf(), message })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Prepared::new(scenario, path.parent().unwrap_or(Path::new(".")), &name, options, Vec::new()).await
    }

    async fn new(
        scenario: Scenario,
        base: &Path,
        name: &str,
        options: &RunOptions,
        extra: Vec<Box<dyn ProfileHandler>>,
    ) -> Result<Prepared, ScenarioError> {
        let stub_server = match scenario.http_stubs.is_empty() {
            true => None,
            false => Some(StubServer::start(&scenario.http_stubs).await?),
        };
        // The embedded providers share the run's clock; deterministic runs also seed them.
        let (clock, seed): (ief_idp::Clock, Option<u64>) = if options.deterministic {
            let now = FixedEnv::default().now().and_utc().timestamp();
            (embedded::fixed_clock(now), Some(now.unsigned_abs()))
        } else {
            (ief_idp::system_clock(), None)
        };
        let mut providers = match &scenario.embedded_providers {
            Some(spec) => Some(embedded::Started::bind(spec, clock, seed).await?),
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
        let mut roots = trusted_roots(&scenario, base, options)?;
        roots.0.extend(providers.as_ref().and_then(embedded::Started::trusted_root));
        let policy = load_policy(&scenario, base, settings)?;
        let compiled = CompiledPolicy::compile(&policy.model);

        let mut temp_keys = None;
        let mut keys = match &options.keys {
            Some(dir) => KeyStore::load(dir).map_err(|e| ScenarioError::Setup(e.to_string()))?,
            None => {
                let dir = temp_keys.insert(TempDir::new("ief-keys")?);
                let mut names = referenced_keys(&policy.model);
                names.extend(scenario.embedded_providers.iter().flat_map(EmbeddedProviders::key_names));
                names.sort();
                names.dedup();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                ief_protocols::keys::init_keys(&dir.0, &names).map_err(|e| ScenarioError::Setup(e.to_string()))?;
                KeyStore::load(&dir.0).map_err(|e| ScenarioError::Setup(e.to_string()))?
            }
        };
        let mut issued = Vec::new();
        if let (Some(started), Some(spec)) = (&mut providers, &scenario.embedded_providers) {
            let context = request_context(&policy.model, &scenario.request, options.deterministic);
            issued = started.register(spec, &policy.model, &context, &mut keys)?;
        }
        // Keys made for this run (generated, or issued by a provider's test CA) have thumbprints
        // that change every run: reports name them as [thumbprint].
        let thumbprints = match options.keys {
            None => redact::key_thumbprints(&keys, keys.names()),
            Some(_) => redact::key_thumbprints(&keys, issued.iter().map(String::as_str)),
        };
        let env: Box<dyn TransformEnv + Send + Sync> = if options.deterministic {
            Box::new(KeyedEnv { inner: FixedEnv::default(), keys: keys.clone() })
        } else {
            Box::new(KeyedEnv { inner: ief_protocols::env::SystemEnv, keys: keys.clone() })
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
            policy,
            compiled,
            keys,
            roots,
            thumbprints,
            env,
            handlers,
            stub_server,
            providers,
            _temp_keys: temp_keys,
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
        for seed in &scenario.directory {
            let mut user = seed_user(seed);
            if user.object_id.is_none() {
                // Drawn from the run's randomness, so deterministic runs give stable ids.
                user.object_id = directory.new_object_id(env.as_ref()).ok();
            }
            directory.seed(&user).map_err(|e| ScenarioError::Setup(format!("seeding the directory: {e}")))?;
        }
        let mut extensions = Extensions::default();
        extensions.insert(self.keys.clone());
        extensions.insert(directory);
        extensions.insert(CodeOutbox::new());
        extensions.insert(self.roots.clone());
        Ok(extensions)
    }

    /// Runs the scenario's sign-ins; `times`, when given, gets the executor's time to each
    /// page and to each end.
    pub(crate) async fn runs(
        &self,
        extensions: &Extensions,
        mut times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<RunReport>, ScenarioError> {
        let (scenario, options, name) = (&self.scenario, &self.options, self.name.as_str());
        let executor = Executor::new(&self.policy.model, &self.compiled, &self.handlers, self.env.as_ref(), extensions);
        let runs: Vec<RunSpec> = if scenario.runs.is_empty() {
            vec![RunSpec {
                name: name.to_owned(),
                journey: scenario.journey.clone(),
                steps: scenario.steps.clone(),
                expect: scenario.expect.clone(),
                new_session: false,
            }]
        } else {
            scenario.runs.clone()
        };
        let mut session = Session::default();
        let mut browser = Browser { providers: &scenario.identity_providers, agent: None };
        let mut reports = Vec::new();
        for run in &runs {
            let journey = run.journey.clone().or_else(|| scenario.journey.clone());
            let context = request_context(&self.policy.model, &scenario.request, options.deterministic);
            let start_session = if run.new_session { Session::default() } else { std::mem::take(&mut session) };
            if run.new_session {
                browser.agent = None;
            }
            let (report, after) = run_one(
                &executor,
                run,
                journey.as_deref(),
                context,
                start_session,
                extensions,
                options,
                &mut browser,
                &self.thumbprints,
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
            if let Some(plan) = self.compiled.journey(journey).filter(|_| !graphs.contains_key(journey)) {
                graphs.insert(journey.clone(), ief_engine::plan::render::json(plan));
            }
        }
        ScenarioReport { scenario: self.name, runs: reports, graphs }
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
    mut times: Option<&mut Vec<Duration>>,
) -> Result<(RunReport, Session), ScenarioError> {
    let fail = |message: String| ScenarioError::Run { run: run.name.clone(), message };
    let callback_host = context.host_name.clone();
    let mut sign_in = executor.start(journey, context, session).map_err(|e| fail(e.to_string()))?;
    let mut answers = run.steps.iter();
    let mut pages = Vec::new();
    let mut answer = None;
    // Each page takes one answer; a journey cannot show more pages than it has answers plus one,
    // and more browser sign-ins than MAX_BROWSER_SIGN_INS.
    let mut sign_ins = 0;
    let outcome = loop {
        let started = Instant::now();
        let progress = executor.resume(&mut sign_in, answer.take()).await.map_err(|e| fail(e.to_string()))?;
        if let Some(times) = times.as_deref_mut() {
            times.push(started.elapsed());
        }
        match progress {
            Progress::Finished(outcome) => break outcome,
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
                let Some(next) = answers.next() else {
                    return Err(fail(format!("no answer left for the page {}", describe_page(&page))));
                };
                answer = Some(to_answer(next, &page, extensions).map_err(fail)?);
            }
        }
    };
    if let Some(extra) = answers.next() {
        return Err(fail(format!("the journey ended before the answer {extra:?} was used")));
    }
    let mut report = RunReport {
        name: run.name.clone(),
        outcome: String::new(),
        error: None,
        claims: BTreeMap::new(),
        token: None,
        pages,
        trace: if options.trace { sign_in.trace.iter().map(ToString::to_string).collect() } else { Vec::new() },
        expectation_failed: None,
        path: sign_in
            .path()
            .iter()
            .filter_map(|p| Some((executor.compiled.plan(p.journey)?.id.clone(), p.node)))
            .collect(),
    };
    match outcome {
        Outcome::Token { token, claims } => {
            report.outcome = "token".to_owned();
            report.claims = claims.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            let mut header = token.header.clone();
            if let Some(kid) = header.get_mut("kid") {
                *kid = serde_json::Value::String("[kid]".to_owned());
            }
            report.token = Some(TokenReport { header, claims: token.claims.clone() });
        }
        Outcome::Error { code, message } => {
            report.outcome = "error".to_owned();
            report.error = Some(ErrorReport { code, message });
        }
    }
    redact::Redactions::new(redact::token_values(executor.policy, sign_in.claims()), thumbprints).apply(&mut report);
    if let Some(expect) = &run.expect {
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
    Ok((report, sign_in.into_session()))
}

fn to_answer(step: &StepAnswer, page: &Page, extensions: &Extensions) -> Result<Answer, String> {
    Ok(match step {
        StepAnswer::Choose(id) => Answer::Choose(id.clone()),
        StepAnswer::Submit(values) => Answer::Submit(values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        StepAnswer::Code(code) if code == "sent" => {
            let outbox = extensions.get::<CodeOutbox>().ok_or("no code outbox")?;
            let to = match &page.kind {
                PageKind::Code { to } => Some(to.clone()),
                _ => None,
            };
            let sent = to.and_then(|t| outbox.last_code(&t)).or_else(|| outbox.last().map(|c| c.code.clone()));
            Answer::Code(sent.ok_or("no code was sent, so `code: sent` has nothing to enter")?)
        }
        StepAnswer::Code(code) => Answer::Code(code.clone()),
        StepAnswer::Cancel(_) => Answer::Cancel,
    })
}

fn describe_page(page: &Page) -> String {
    let what = match &page.kind {
        PageKind::Selection { options, sign_in } => match sign_in {
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
        let pem = std::fs::read_to_string(&path)
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
    base: &Path,
    settings: Vec<(String, String)>,
) -> Result<EffectivePolicy, ScenarioError> {
    let policy_path = base.join(&scenario.policy);
    let mut paths = vec![policy_path.parent().unwrap_or(base).to_path_buf()];
    paths.extend(scenario.bases.iter().map(|b| base.join(b)));
    let request = SettingsRequest { environment: scenario.environment.clone(), file: None, values: settings };
    let set = PolicySet::load(&paths, &request);
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
        .flat_map(|tp| tp.keys.iter().map(|k| k.storage_reference_id.value.clone()))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn seed_user(seed: &SeedSpec) -> SeedUser {
    let mut sign_in_names = Vec::new();
    if let Some(e) = &seed.email {
        sign_in_names.push(SignInName::new("emailAddress", e.clone()));
    }
    if let Some(u) = &seed.user_name {
        sign_in_names.push(SignInName::new("userName", u.clone()));
    }
    SeedUser {
        object_id: seed.object_id.clone(),
        data: UserData {
            user_principal_name: None,
            sign_in_names,
            alternative_security_ids: seed
                .alternative_security_ids
                .iter()
                .map(|a| AlternativeSecurityId { issuer: a.issuer.clone(), issuer_user_id: a.issuer_user_id.clone() })
                .collect(),
            attributes: seed.attributes.iter().map(|(k, v)| (k.clone(), ClaimValue::String(v.clone()))).collect(),
            password: seed.password.as_ref().map(|p| Password::new(p.clone())),
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
            && self.providers.get(&profile.id.value).is_some_and(|p| !matches!(p, IdentityProviderSpec::Browser(_)))
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match self.providers.get(&request.profile.id.value) {
                Some(IdentityProviderSpec::Stub(claims)) => ProfileResult::Claims(
                    claims
                        .iter()
                        .map(|(k, v)| {
                            let value = match v {
                                serde_yaml_ng::Value::String(s) => ClaimValue::String(s.clone()),
                                serde_yaml_ng::Value::Bool(b) => ClaimValue::Boolean(*b),
                                serde_yaml_ng::Value::Number(n) => match n.as_i64() {
                                    Some(i) => ClaimValue::Long(i),
                                    None => ClaimValue::String(n.to_string()),
                                },
                                other => ClaimValue::String(
                                    serde_yaml_ng::to_string(other).unwrap_or_default().trim().to_owned(),
                                ),
                            };
                            (k.clone(), value)
                        })
                        .collect(),
                ),
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

/// A loopback HTTP server with canned responses; it stops when dropped.
struct StubServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl StubServer {
    async fn start(stubs: &[HttpStub]) -> Result<StubServer, ScenarioError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ScenarioError::Setup(format!("cannot serve the HTTP stubs on 127.0.0.1: {e}")))?;
        let addr = listener.local_addr().map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let mut router = axum::Router::new();
        for stub in stubs {
            let body = Arc::new(serde_json::to_value(&stub.body).unwrap_or(serde_json::Value::Null));
            let status = axum::http::StatusCode::from_u16(stub.status).unwrap_or(axum::http::StatusCode::OK);
            let handler = move || {
                let body = Arc::clone(&body);
                async move { (status, axum::Json((*body).clone())) }
            };
            router = router.route(&stub.path, axum::routing::any(handler));
        }
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(StubServer { url: format!("http://{addr}"), task })
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An environment whose policy keys (the Hash transformation's secret) come from the key store.
struct KeyedEnv<E> {
    inner: E,
    keys: KeyStore,
}

impl<E: TransformEnv> TransformEnv for KeyedEnv<E> {
    fn now(&self) -> chrono::NaiveDateTime {
        self.inner.now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.inner.fill_random(buf);
    }

    fn policy_key(&self, storage_reference_id: &str) -> Option<Vec<u8>> {
        self.keys.secret(storage_reference_id).ok().map(<[u8]>::to_vec)
    }

    fn localized_string(&self, element_type: &str, element_id: &str, string_id: &str) -> Option<String> {
        self.inner.localized_string(element_type, element_id, string_id)
    }

    fn localized_collection(&self, element_type: &str, element_id: &str) -> Option<Vec<(String, String)>> {
        self.inner.localized_collection(element_type, element_id)
    }

    fn expression(&self, name: &str) -> Option<String> {
        self.inner.expression(name)
    }
}

/// A folder removed on drop (generated keys).
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir, ScenarioError> {
        let unique = format!("{prefix}-{}-{}", std::process::id(), ief_protocols::env::random_guid());
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).map_err(|e| ScenarioError::Setup(format!("{}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests;
