//! A scenario driven over HTTP against a live `ief serve` (`ief run SCENARIO --server URL`):
//! the application's authorize request, the page calls a browser's page makes
//! (`unified`, `SelfAsserted`, display-control actions, `Phonefactor/verify`, `confirmed`), the
//! browser's trip to an identity provider and back to `authresp`, then the code redeemed at the
//! token endpoint. Only HTTP crosses: this driver knows the server by its URLs, as an
//! application and a browser do.
//!
//! A scenario's HTTP stubs, embedded providers and stand-in identity providers live in the
//! runner, so a server that runs such a scenario is started for it: [`ScenarioHost`] starts
//! them and hands over what `ief serve` needs (settings, keys, trusted roots, handlers, the
//! clock `after` moves), and `ief run SCENARIO --serve` does exactly that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{ProfileHandler, REMEMBER_ME_FIELD};
use ief_engine::model::Policy;
use ief_protocols::directory::Directory;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::agent::{CallbackMatch, Credentials, UserAgent};
use crate::http_stub::StubServer;
use crate::{
    ErrorReport, IdentityProviderSpec, OUTCOME_PAGE, Prepared, RunOptions, RunReport, RunSpec, Scenario, ScenarioError,
    ScenarioReport, StepAnswer, StubIdentityProviders, TokenReport, check_expectation, ends_at_page, load_policy,
    next_answer, parse_duration, read, redact, redirect_target, runs_of, seed_directory,
};

/// The client id of `ief serve`'s development app, which takes any loopback redirect URI.
pub const DEV_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000a991";
/// Where the application "receives" the result: never contacted, only read from `Location`.
const REDIRECT_URI: &str = "http://localhost/ief-run";
/// Claims the token issuer writes itself; the relying party's claims are the others.
const ISSUER_CLAIMS: [&str; 10] = ["exp", "nbf", "ver", "iss", "aud", "acr", "nonce", "iat", "auth_time", "tfp"];
/// Requests one run may make: a journey needing more loops.
const MAX_REQUESTS: usize = 64;
/// Sign-ins at identity providers one run may make.
const MAX_PROVIDER_SIGN_INS: usize = 10;

/// The last verification code the server "sent", for `code: sent`.
pub type CodeSource = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct RemoteOptions {
    /// The server's base URL (`http://localhost:5443`).
    pub server: String,
    /// The SQLite directory the server uses (`ief serve --directory`): the scenario's users are
    /// seeded there. Without it, a scenario that seeds users is refused.
    pub directory: Option<PathBuf>,
    /// Where `code: sent` reads the code: only a caller that runs the server in its own
    /// process has one (codes never cross HTTP); without it `code: sent` is refused.
    pub codes: Option<CodeSource>,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("server", &self.server)
            .field("directory", &self.directory)
            .field("codes", &self.codes.is_some())
            .finish()
    }
}

/// Reads a scenario file and runs it against the server.
pub async fn run_file(path: &Path, options: &RemoteOptions) -> Result<ScenarioReport, ScenarioError> {
    let (scenario, name) = read(path)?;
    run(&scenario, ief_engine::input::folder_of(path), &name, options).await
}

/// What a run needs the runner's own process for: a server that only shares a URL cannot run it.
fn needs_the_runner(scenario: &Scenario) -> Option<&'static str> {
    let stand_in = scenario.identity_providers.values().any(|p| !matches!(p, IdentityProviderSpec::Browser(_)));
    if scenario.embedded_providers.is_some() {
        Some("embedded_providers")
    } else if !scenario.http_stubs.is_empty() {
        Some("http_stubs")
    } else if stand_in {
        Some("identity_providers answered by the scenario (stub, cancel)")
    } else if scenario.runs.iter().any(|r| r.after.is_some()) {
        Some("`after` (the server's clock)")
    } else if scenario
        .steps
        .iter()
        .chain(scenario.runs.iter().flat_map(|r| &r.steps))
        .any(|s| matches!(s, StepAnswer::Wait(_)))
    {
        Some("`wait` (the server's clock)")
    } else {
        None
    }
}

/// Why the scenario cannot run over HTTP at all, if it cannot.
fn not_over_http(scenario: &Scenario) -> Option<&'static str> {
    let requests = std::iter::once(&scenario.request).chain(scenario.runs.iter().filter_map(|r| r.request.as_ref()));
    if scenario.journey.is_some() || scenario.runs.iter().any(|r| r.journey.is_some()) {
        Some("a journey other than the relying party's DefaultUserJourney (an application cannot ask B2C for one)")
    } else if requests.into_iter().any(|r| !r.input_claims.is_empty()) {
        Some("input_claims (an id_token_hint the application would sign)")
    } else if !scenario.replace.is_empty() {
        Some("replace (the server reads the policy files as they are)")
    } else if scenario.conditional_access.is_some() {
        Some("conditional_access")
    } else if scenario.http_stubs.iter().any(|s| s.url.is_some()) {
        Some("http_stubs standing in for a URL (the server calls the real one)")
    } else {
        None
    }
}

fn unsupported(what: &str) -> ScenarioError {
    ScenarioError::Setup(format!("{what} cannot run over HTTP (ief run --server, --serve)"))
}

/// Runs a parsed scenario, whose relative paths start at `base`, against the server.
pub async fn run(
    scenario: &Scenario,
    base: &Path,
    name: &str,
    options: &RemoteOptions,
) -> Result<ScenarioReport, ScenarioError> {
    if let Some(what) = not_over_http(scenario) {
        return Err(unsupported(what));
    }
    if let Some(what) = needs_the_runner(scenario) {
        return Err(ScenarioError::Setup(format!(
            "{what} needs a server started for the scenario: ief run SCENARIO --serve"
        )));
    }
    let settings: Vec<(String, String)> = scenario.settings.clone().into_iter().collect();
    let mut files = vec![scenario.policy.clone()];
    files.extend(scenario.runs.iter().filter_map(|r| r.policy.clone()).filter(|f| *f != scenario.policy));
    let mut targets = Vec::new();
    for file in files {
        let policy = load_policy(scenario, &file, base, settings.clone())?.model;
        targets.push((file, Target::new(&options.server, &policy, scenario)));
    }
    if !scenario.directory.is_empty() {
        let Some(path) = &options.directory else {
            return Err(ScenarioError::Setup(
                "the scenario seeds the directory: give the server's directory file (ief serve --directory FILE, \
                 ief run --server URL --directory FILE)"
                    .to_owned(),
            ));
        };
        let directory = Directory::open(path).map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let tenant = load_policy(scenario, &scenario.policy, base, settings)?.model.tenant_id;
        seed_directory(scenario, &directory, &ief_protocols::env::SystemEnv, &tenant)?;
    }
    let drive = Drive {
        scenario,
        name,
        targets,
        codes: options.codes.clone(),
        stubs: None,
        clock: None,
        roots: TrustedRoots::default(),
        thumbprints: &[],
    };
    drive.run().await
}

/// A scenario's outside world started for a server that runs it: its HTTP stubs and embedded
/// providers serving (their clients registered with the server's redirect URIs), its keys, its
/// settings and its stand-in identity providers. Start `ief serve` from what it gives
/// (`ServeOptions` from [`ScenarioHost::policy_paths`] and the rest, `Server::load_with` with
/// [`ScenarioHost::handlers`]), then [`ScenarioHost::run`] against it.
pub struct ScenarioHost {
    prepared: Prepared,
}

impl std::fmt::Debug for ScenarioHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioHost").field("scenario", &self.prepared.name).finish_non_exhaustive()
    }
}

impl ScenarioHost {
    /// Starts the scenario's stubs and providers for a server at `public_url`.
    pub async fn start(path: &Path, public_url: &str, options: &RunOptions) -> Result<ScenarioHost, ScenarioError> {
        let (scenario, name) = read(path)?;
        if let Some(what) = not_over_http(&scenario) {
            return Err(unsupported(what));
        }
        let options = RunOptions { callback_host: Some(public_url.to_owned()), ..options.clone() };
        let prepared = Prepared::new(scenario, ief_engine::input::folder_of(path), &name, &options, Vec::new()).await?;
        Ok(ScenarioHost { prepared })
    }

    /// The folders the server loads: each policy file's folder, then the scenario's `bases`.
    pub fn policy_paths(&self) -> Vec<PathBuf> {
        let p = &self.prepared;
        let mut paths: Vec<PathBuf> = Vec::new();
        let folders = p.policy_files.iter().map(|f| ief_engine::input::folder_of(&p.base.join(f)).to_path_buf());
        for path in folders.chain(p.scenario.bases.iter().map(|b| p.base.join(b))) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }

    /// The policy files the scenario runs: the only relying parties to serve.
    pub fn relying_parties(&self) -> Vec<PathBuf> {
        self.prepared.policy_files.iter().map(|f| self.prepared.base.join(f)).collect()
    }

    /// The appsettings.json environment of the scenario.
    pub fn environment(&self) -> Option<String> {
        self.prepared.scenario.environment.clone()
    }

    /// `{Settings:Name}` values: the stubs' and providers' URLs, the scenario's settings.
    pub fn settings(&self) -> Vec<(String, String)> {
        self.prepared.settings.clone()
    }

    /// Root certificates to trust: the scenario's and the embedded OpenID provider's CA.
    pub fn trusted_roots(&self) -> Vec<String> {
        self.prepared.roots.0.clone()
    }

    /// The scenario's policy keys, with the credentials its providers issued.
    pub fn keys(&self) -> KeyStore {
        self.prepared.keys.clone()
    }

    /// The clock offset `after` moves; the server's clock must follow it.
    pub fn clock_offset(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.prepared.clock_offset)
    }

    /// Handlers the server asks first: the identity providers the scenario answers itself.
    pub fn handlers(&self) -> Vec<Box<dyn ProfileHandler>> {
        let providers = self.prepared.scenario.identity_providers.clone();
        vec![Box::new(StubIdentityProviders { providers })]
    }

    /// Runs the scenario against the server at `server`, whose directory is `directory`.
    pub async fn run(
        &self,
        server: &str,
        directory: &Directory,
        codes: Option<CodeSource>,
    ) -> Result<ScenarioReport, ScenarioError> {
        let p = &self.prepared;
        seed_directory(&p.scenario, directory, p.env.as_ref(), &p.policies[0].model.tenant_id)?;
        let targets = p
            .policy_files
            .iter()
            .zip(&p.policies)
            .map(|(file, policy)| (file.clone(), Target::new(server, &policy.model, &p.scenario)))
            .collect();
        let drive = Drive {
            scenario: &p.scenario,
            name: &p.name,
            targets,
            codes,
            stubs: p.stub_server.as_ref(),
            clock: Some(&p.clock_offset),
            roots: p.roots.clone(),
            thumbprints: &p.thumbprints,
        };
        let mut report = drive.run().await?;
        report.warnings = p.policies[0].model.tenant_warning().into_iter().collect();
        Ok(report)
    }
}

/// One scenario's runs over HTTP.
struct Drive<'a> {
    scenario: &'a Scenario,
    name: &'a str,
    /// Each policy file the runs name, with the server's URLs for it.
    targets: Vec<(PathBuf, Target)>,
    codes: Option<CodeSource>,
    stubs: Option<&'a StubServer>,
    /// The server's clock offset, when it shares the runner's.
    clock: Option<&'a AtomicI64>,
    /// For the browser at identity providers.
    roots: TrustedRoots,
    /// Thumbprints of keys made for this run, named `[thumbprint]` in reports.
    thumbprints: &'a [String],
}

impl Drive<'_> {
    async fn run(self) -> Result<ScenarioReport, ScenarioError> {
        if let Some(clock) = self.clock {
            clock.store(0, Ordering::Relaxed);
        }
        let mut browser = Browser::new(&self.roots)?;
        let mut reports = Vec::new();
        for run in runs_of(self.scenario, self.name) {
            let fail = |message: String| ScenarioError::Run { run: run.name.clone(), message };
            if let Some(after) = &run.after {
                let seconds = parse_duration("after", after).map_err(fail)?;
                let clock = self.clock.ok_or_else(|| fail("`after` needs the server's clock".to_owned()))?;
                clock.fetch_add(seconds, Ordering::Relaxed);
            }
            if run.new_session {
                // Like the user's phone, the authenticator app outlives the browser.
                let authenticator = browser.authenticator.take();
                browser = Browser::new(&self.roots)?;
                browser.authenticator = authenticator;
            } else if run.reopen_browser {
                browser.reopen();
            }
            let target = match &run.policy {
                Some(file) => self.targets.iter().find(|(f, _)| f == file),
                None => self.targets.first(),
            }
            .map(|(_, t)| t)
            .ok_or_else(|| fail("the run's policy was not loaded".to_owned()))?;
            let mut report = target.run_one(&mut browser, self.scenario, &run, &self).await.map_err(fail)?;
            let expected = run.expect.as_ref().and_then(|e| e.requests.as_deref());
            let (requests, mismatch) = match self.stubs {
                Some(stubs) => stubs.take(expected),
                None => (
                    Vec::new(),
                    expected.filter(|e| !e.is_empty()).map(|_| "the scenario has no http_stubs".to_owned()),
                ),
            };
            report.requests = requests;
            redact::Redactions::new(Vec::new(), self.thumbprints).apply(&mut report);
            let expect = run.expect.clone().map(|mut e| {
                e.error_code = e.error_code.map(|c| as_b2c_code(&c).to_owned());
                e
            });
            check_expectation(expect.as_ref(), &mut report);
            if report.expectation_failed.is_none() {
                report.expectation_failed = mismatch;
            }
            reports.push(report);
        }
        Ok(ScenarioReport {
            scenario: self.name.to_owned(),
            runs: reports,
            graphs: BTreeMap::new(),
            warnings: Vec::new(),
        })
    }

    /// The scenario's live provider whose profile names `url`'s origin.
    fn provider_for(&self, target: &Target, url: &str) -> Result<Credentials, String> {
        let origin = origin_of(url);
        let specs: Vec<(&String, &crate::BrowserSpec)> = self
            .scenario
            .identity_providers
            .iter()
            .filter_map(|(id, spec)| match spec {
                IdentityProviderSpec::Browser(b) => Some((id, b)),
                _ => None,
            })
            .collect();
        let named: Vec<_> = specs
            .iter()
            .filter(|(id, _)| target.provider_origins.get(*id).is_some_and(|o| o.contains(&origin)))
            .collect();
        let spec = match (named.as_slice(), specs.as_slice()) {
            ([(_, spec)], _) | ([], [(_, spec)]) => *spec,
            _ => {
                return Err(format!(
                    "the server sends the browser to {origin}, which no `browser` identity provider of the scenario names"
                ));
            }
        };
        Ok(Credentials {
            username: spec.username.clone(),
            password: spec.password.clone(),
            consent: spec.consent,
            fields: spec.fields.clone(),
        })
    }
}

/// The code an application sees for a journey's error `code`: B2C's own codes as they are,
/// ief's (a profile's `TokenEndpointError`) as B2C's internal error, which is what the server
/// sends (the message still says what failed).
pub fn as_b2c_code(code: &str) -> &str {
    if code.starts_with("AADB2C") { code } else { "AADB2C90085" }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

/// A browser: its cookies for the server (persistent ones survive a reopened browser), the
/// user agent that signs in at identity providers, and the user's authenticator app.
struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    agent: Option<UserAgent>,
    roots: TrustedRoots,
    authenticator: Option<String>,
}

impl Browser {
    fn new(roots: &TrustedRoots) -> Result<Browser, ScenarioError> {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ScenarioError::Setup(e.to_string()))?;
        Ok(Browser { client, jar, agent: None, roots: roots.clone(), authenticator: None })
    }

    /// Closed and opened again: only persistent cookies remain, and the provider's are gone.
    fn reopen(&mut self) {
        self.jar.reopen();
        self.agent = None;
    }

    fn agent(&mut self) -> Result<&UserAgent, String> {
        match &mut self.agent {
            Some(agent) => Ok(agent),
            empty => Ok(empty.insert(UserAgent::new(&self.roots).map_err(|e| e.to_string())?)),
        }
    }
}

/// The cookies one server sets (the driver's browser talks to no one else): name, value and
/// whether they outlive the browser (`Max-Age` or `Expires`).
#[derive(Debug, Default)]
struct Jar(Mutex<Vec<(String, String, bool)>>);

impl Jar {
    fn cookies_mut(&self) -> std::sync::MutexGuard<'_, Vec<(String, String, bool)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reopen(&self) {
        self.cookies_mut().retain(|(_, _, persistent)| *persistent);
    }
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &reqwest::header::HeaderValue>, _url: &reqwest::Url) {
        let mut cookies = self.cookies_mut();
        for header in headers {
            let Ok(text) = header.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else { continue };
            let (mut persistent, mut gone) = (false, value.is_empty());
            for attribute in parts.map(|a| a.trim().to_ascii_lowercase()) {
                if let Some(age) = attribute.strip_prefix("max-age=") {
                    persistent = true;
                    gone |= age.trim().parse::<i64>().map_or(true, |n| n <= 0);
                } else if attribute.starts_with("expires=") {
                    persistent = true;
                }
            }
            cookies.retain(|(n, _, _)| n != name);
            if !gone && cookies.len() < MAX_COOKIES {
                cookies.push((name.to_owned(), value.to_owned(), persistent));
            }
        }
    }

    fn cookies(&self, _url: &reqwest::Url) -> Option<reqwest::header::HeaderValue> {
        let cookies = self.cookies_mut();
        let text: Vec<String> = cookies.iter().map(|(n, v, _)| format!("{n}={v}")).collect();
        (!text.is_empty()).then(|| reqwest::header::HeaderValue::from_str(&text.join("; ")).ok()).flatten()
    }
}

struct Target {
    /// The server's origin.
    origin: String,
    /// `{server}/{tenant}/{policy}`.
    base: String,
    policy: String,
    rp_claims: Vec<String>,
    /// Relying-party claims (by partner name) that carry a provider's credential: reports
    /// redact them, as in-process runs do.
    credential_claims: Vec<String>,
    /// The origins each technical profile's metadata names (where it sends the browser).
    provider_origins: BTreeMap<String, Vec<String>>,
}

impl Target {
    fn new(server: &str, policy: &Policy, scenario: &Scenario) -> Target {
        let origin = origin_of(server);
        let rp = policy.relying_party.as_ref().and_then(|rp| rp.technical_profile.as_ref());
        let outputs = rp.map(|tp| tp.output_claims.as_slice()).unwrap_or_default();
        let partner = |c| rp.map(|tp| policy.partner_name(tp, c)).unwrap_or_default();
        let credential_claims = outputs
            .iter()
            .filter(|c| policy.claim(c.claim.as_str()).is_some_and(|t| t.holds_credential))
            .map(partner)
            .collect();
        let provider_origins = scenario
            .identity_providers
            .keys()
            .filter_map(|id| policy.profile(id))
            .map(|tp| {
                let origins = tp
                    .metadata
                    .iter()
                    .map(|m| origin_of(m.value.as_str().trim()))
                    .filter(|o| o != "null" && !o.is_empty());
                (tp.id.value.to_string(), origins.collect())
            })
            .collect();
        Target {
            base: format!("{origin}/{}/{}", policy.tenant_id, policy.policy_id),
            origin,
            policy: policy.policy_id.clone(),
            rp_claims: outputs.iter().map(partner).collect(),
            credential_claims,
            provider_origins,
        }
    }
}
/// A page as the server sent it.
struct Shown {
    settings: Value,
    fields: Vec<String>,
    /// Values the page fills in, by field (a TOTP enrolment's QR-code URI or secret key).
    prefilled: Vec<(String, String)>,
    options: Vec<String>,
    title: String,
}

impl Shown {
    fn get(&self, key: &str) -> &str {
        self.settings[key].as_str().unwrap_or_default()
    }

    /// As the in-process run describes pages.
    fn describe(&self, error: Option<&str>) -> String {
        let what = match self.get("api") {
            "CombinedSigninAndSignup" => {
                format!("sign-in form {} with buttons {}", self.title, self.options.join(", "))
            }
            "ClaimsProviderSelection" => format!("buttons {}", self.options.join(", ")),
            "Phonefactor" => format!("code page {}", self.title),
            _ if self.fields.is_empty() => format!("form {}", self.title),
            _ => format!("form {} ({})", self.title, self.fields.join(", ")),
        };
        match error {
            Some(e) => format!("{what} showing \"{e}\""),
            None => what,
        }
    }
}

fn text_between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    html.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(inner, _)| inner)
}

fn parse_page(html: &str) -> Option<Shown> {
    let settings: Value = serde_json::from_str(text_between(html, "var SETTINGS = ", ";\n")?).ok()?;
    let fields: Value = serde_json::from_str(text_between(html, "var SA_FIELDS = ", ";\n")?).ok()?;
    let cp: Value = serde_json::from_str(text_between(html, "var CP = ", ";</script>")?).ok()?;
    let ids = |list: &Value, key: &str| -> Vec<String> {
        list.as_array().into_iter().flatten().filter_map(|f| f[key].as_str().map(str::to_owned)).collect()
    };
    let prefilled = fields["AttributeFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["ID"].as_str()?.to_owned(), f["PRE"].as_str().filter(|v| !v.is_empty())?.to_owned())))
        .collect();
    Some(Shown {
        fields: ids(&fields["AttributeFields"], "ID"),
        prefilled,
        options: ids(&cp["list"], "id"),
        title: text_between(html, "<title>", "</title>").unwrap_or_default().to_owned(),
        settings,
    })
}

/// What the server answered a browser request with.
enum Reply {
    Page(Shown),
    /// The application's redirect URI with the result's parameters.
    Done(Vec<(String, String)>),
    /// The browser is sent to an identity provider.
    Provider(String),
}

/// A form value `totp` is the authenticator app's current code, as in process.
const TOTP_VALUE: &str = "totp";

impl Target {
    async fn run_one(
        &self,
        browser: &mut Browser,
        scenario: &Scenario,
        run: &RunSpec,
        drive: &Drive<'_>,
    ) -> Result<RunReport, String> {
        let mut verifier_bytes = [0u8; 32];
        getrandom::fill(&mut verifier_bytes).map_err(|e| e.to_string())?;
        let verifier = URL_SAFE_NO_PAD.encode(verifier_bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let request = run.request.as_ref().unwrap_or(&scenario.request);
        let client_id = request.client_id.as_deref().unwrap_or(DEV_CLIENT_ID);
        let nonce = request.nonce.as_deref().unwrap_or("defaultNonce");
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("nonce", nonce),
            ("state", "ief-run"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        params.extend(request.login_hint.as_deref().map(|v| ("login_hint", v)));
        params.extend(request.domain_hint.as_deref().map(|v| ("domain_hint", v)));
        params.extend(request.culture.as_deref().map(|v| ("ui_locales", v)));
        params.extend(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let authorize = format!("{}/oauth2/v2.0/authorize?{}", self.base, encode(&params));

        let mut reply = self.fetch(&browser.client, browser.client.get(&authorize)).await?;
        let mut answers = run.steps.iter();
        let mut pages = Vec::new();
        let mut requests = 0;
        let mut sign_ins = 0;
        // A page answered with JSON is shown again, with this description; `refused`: it refused
        // the last submit, and still holds what was typed.
        let mut again: Option<String> = None;
        let mut refused = false;
        let mut last_submit = Vec::new();
        let result = loop {
            requests += 1;
            if requests > MAX_REQUESTS {
                return Err(format!("more than {MAX_REQUESTS} requests in one run"));
            }
            let page = match reply {
                Reply::Done(params) => break params,
                Reply::Provider(url) => {
                    pages.push(format!("redirect to {}", redirect_target(&url)));
                    sign_ins += 1;
                    if sign_ins > MAX_PROVIDER_SIGN_INS {
                        return Err(format!("more than {MAX_PROVIDER_SIGN_INS} sign-ins at identity providers"));
                    }
                    reply = self.sign_in_at_provider(browser, drive, &url).await?;
                    continue;
                }
                Reply::Page(page) => page,
            };
            pages.push(again.take().unwrap_or_else(|| page.describe(None)));
            if let Some(secret) = page.prefilled.iter().find_map(|(id, v)| {
                ief_protocols::totp::secret_of_uri(v)
                    .or_else(|| id.eq_ignore_ascii_case("secretKey").then(|| v.clone()))
            }) {
                browser.authenticator = Some(secret);
            }
            let Some(answer) = next_answer(&mut answers, drive.clock)? else {
                if ends_at_page(run) {
                    let mut report = RunReport::new(&run.name, pages);
                    report.outcome = OUTCOME_PAGE.to_owned();
                    return Ok(report);
                }
                return Err(format!("no answer left for the page {}", page.describe(None)));
            };
            let after_refusal = std::mem::take(&mut refused);
            reply = match self.answer(browser, drive, &page, answer, &mut last_submit, after_refusal).await? {
                Answered::Next(next) => next,
                Answered::Again(message) => {
                    refused = message.is_some() && matches!(answer, StepAnswer::Submit(_));
                    again = Some(page.describe(message.as_deref()));
                    Reply::Page(page)
                }
                Answered::Refused(form, message) => {
                    refused = true;
                    again = Some(form.describe(message.as_deref()));
                    Reply::Page(*form)
                }
            };
        };
        if let Some(extra) = answers.next() {
            return Err(format!("the journey ended before the answer {extra:?} was used"));
        }
        let mut report = RunReport::new(&run.name, pages);
        let get = |name: &str| result.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if let Some(code) = get("code") {
            let form = [
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
            ];
            let response = browser
                .client
                .post(format!("{}/oauth2/v2.0/token", self.base))
                .form(&form)
                .send()
                .await
                .map_err(|e| format!("the token request failed: {e}"))?;
            let status = response.status();
            let body = read_limited(response).await?;
            let body: Value =
                serde_json::from_slice(&body).map_err(|e| format!("the token response is not JSON: {e}"))?;
            let id_token =
                body["id_token"].as_str().ok_or_else(|| format!("the token endpoint said {status}: {body}"))?;
            let (header, claims) = decode(id_token)?;
            report.outcome = "token".to_owned();
            report.claims = claims
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| self.rp_claims.contains(k) || !ISSUER_CLAIMS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let redacted = self.credential_claims.contains(k) && v.is_string();
                    (k.clone(), if redacted { Value::from(redact::REDACTED) } else { v.clone() })
                })
                .collect();
            let mut header = header;
            if let Some(kid) = header.get_mut("kid") {
                *kid = Value::String("[kid]".to_owned());
            }
            report.token = Some(TokenReport { header, claims });
        } else if let Some(description) = get("error_description") {
            let first = description.lines().next().unwrap_or_default();
            let (code, message) = first.split_once(": ").unwrap_or(("", first));
            report.outcome = "error".to_owned();
            report.error = Some(ErrorReport { code: code.to_owned(), message: message.trim().to_owned() });
        } else {
            return Err(format!("the redirect to the application carries neither code nor error: {result:?}"));
        }
        Ok(report)
    }

    /// The browser signs in at the provider `url` leads to, and brings its answer back to the
    /// server's `authresp` as the provider sent it (a redirect's GET or a `form_post`).
    async fn sign_in_at_provider(&self, browser: &mut Browser, drive: &Drive<'_>, url: &str) -> Result<Reply, String> {
        let credentials = drive.provider_for(self, url)?;
        let callback = CallbackMatch::Prefix(format!("{}/", self.origin));
        let reached = browser
            .agent()?
            .authorize_to(url, &callback, &credentials)
            .await
            .map_err(|e| format!("the browser sign-in at {} did not come back: {e}", origin_of(url)))?;
        let back = match reached.posted {
            true => browser.client.post(reached.url).form(&reached.params),
            false => browser.client.get(reached.url),
        };
        self.fetch(&browser.client, back).await
    }

    /// Sends a browser request and reads what came back, following the server's own
    /// redirects (a plain form's 303 to `confirmed`).
    async fn fetch(&self, client: &reqwest::Client, request: reqwest::RequestBuilder) -> Result<Reply, String> {
        let mut response = request.send().await.map_err(|e| e.to_string())?;
        for _ in 0..5 {
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("a redirect without Location")?
                    .to_owned();
                if let Some(tail) = location.strip_prefix(REDIRECT_URI) {
                    let query = tail.trim_start_matches(['?', '#']);
                    return Ok(Reply::Done(form_urlencoded::parse(query.as_bytes()).into_owned().collect()));
                }
                let own = match location.starts_with('/') {
                    true => format!("{}{location}", self.origin),
                    false if origin_of(&location) == self.origin => location,
                    false => return Ok(Reply::Provider(location)),
                };
                response = client.get(own).send().await.map_err(|e| e.to_string())?;
                continue;
            }
            let body = String::from_utf8_lossy(&read_limited(response).await?).into_owned();
            if let Some(page) = parse_page(&body) {
                return Ok(Reply::Page(page));
            }
            if body.contains("name='hiddenform'") {
                return Err("the server answered with a form_post page; ief run --server asks for query".to_owned());
            }
            let excerpt: String = body.chars().take(400).collect();
            return Err(format!("the server answered {status}: {excerpt}"));
        }
        Err("too many redirects".to_owned())
    }

    /// Answers `page`; `last_submit` holds the last form submitted (a `verify` submits it again),
    /// and after a refused one a submit keeps what it leaves out.
    async fn answer(
        &self,
        browser: &Browser,
        drive: &Drive<'_>,
        page: &Shown,
        answer: &StepAnswer,
        last_submit: &mut Vec<(String, String)>,
        after_refusal: bool,
    ) -> Result<Answered, String> {
        let client = &browser.client;
        let form: Vec<(String, String)> = match answer {
            StepAnswer::Choose(id) => {
                let query = self.page_query(page, &[("claimsexchange", id)]);
                let url = format!("{}/api/{}/unified?{query}", self.base, page.get("api"));
                return self.fetch(client, client.get(url)).await.map(Answered::Next);
            }
            StepAnswer::Submit(values) => {
                let mut typed = Vec::new();
                for (k, v) in values {
                    let text = match v.as_str() {
                        TOTP_VALUE => self.totp(browser, drive)?,
                        _ => v.clone(),
                    };
                    typed.push((k.clone(), text));
                }
                *last_submit = if after_refusal { crate::typed_over(last_submit, typed) } else { typed };
                last_submit.clone()
            }
            StepAnswer::Code(code) => vec![("verificationCode".to_owned(), self.code(drive, code)?)],
            StepAnswer::Cancel(_) => vec![("cancel".to_owned(), "true".to_owned())],
            StepAnswer::Verify(values) => {
                // The code page the submit led to, then the same form again, now verified.
                let code = values.values().next().ok_or("`verify` names no claim")?;
                let entered = vec![("verificationCode".to_owned(), self.code(drive, code)?)];
                let Answered::Next(Reply::Page(form)) = self.post(client, page, entered).await? else {
                    return Err("the verification code did not lead back to the form".to_owned());
                };
                return Ok(match self.post(client, &form, last_submit.clone()).await? {
                    // The form is the page shown now, with what refused it (and its CSRF token).
                    Answered::Again(message) => Answered::Refused(Box::new(form), message),
                    next => next,
                });
            }
            StepAnswer::Press(press) => {
                let mut values = Vec::new();
                for (name, text) in &press.values {
                    values.push((name.clone(), self.code(drive, text)?));
                }
                let path = format!("SelfAsserted/DisplayControlAction/vbeta/{}/{}", press.control, press.action);
                let (status, json) = self.page_call(client, page, &path, values).await?;
                return match json["status"].as_str() {
                    Some("200") => Ok(Answered::Again(None)),
                    Some("400") => Ok(Answered::Again(Some(json["message"].as_str().unwrap_or_default().to_owned()))),
                    _ => Err(format!("the display control action answered {status}: {json}")),
                };
            }
            StepAnswer::Wait(_) => return Err("`wait` is followed by no answer for the page".to_owned()),
        };
        self.post(client, page, form).await
    }

    /// The authenticator app's code now (the server's clock, which `after` moves).
    fn totp(&self, browser: &Browser, drive: &Drive<'_>) -> Result<String, String> {
        let secret = browser
            .authenticator
            .as_deref()
            .ok_or("`totp` needs a page that showed an authenticator app's secret (a QR code or secretKey)")?;
        let key = ief_protocols::totp::base32_decode(secret).unwrap_or_default();
        let ahead = drive.clock.map_or(0, |c| c.load(Ordering::Relaxed));
        Ok(ief_protocols::totp::code_at(&key, chrono::Utc::now().timestamp() + ahead))
    }

    /// A code as given, or for `sent` the last code the server "sent".
    fn code(&self, drive: &Drive<'_>, code: &str) -> Result<String, String> {
        if code != "sent" {
            return Ok(code.to_owned());
        }
        drive
            .codes
            .as_ref()
            .and_then(|codes| codes())
            .ok_or_else(|| "`sent` reads ief's code outbox, which a live server keeps to itself".to_owned())
    }

    /// `csrf_token`, `tx` and `p` of the page, after `extra`.
    fn page_query(&self, page: &Shown, extra: &[(&str, &str)]) -> String {
        let mut pairs = extra.to_vec();
        pairs.extend([("csrf_token", page.get("csrf")), ("tx", page.get("transId")), ("p", self.policy.as_str())]);
        encode(&pairs)
    }

    /// An XHR call of the page's script: `POST {path}?tx=…&p=…` with the CSRF header, answered
    /// with B2C's JSON status.
    async fn page_call(
        &self,
        client: &reqwest::Client,
        page: &Shown,
        path: &str,
        form: Vec<(String, String)>,
    ) -> Result<(reqwest::StatusCode, Value), String> {
        let mut body = vec![("request_type".to_owned(), "RESPONSE".to_owned())];
        body.extend(form);
        let query = encode(&[("tx", page.get("transId")), ("p", self.policy.as_str())]);
        let response = client
            .post(format!("{}/{path}?{query}", self.base))
            .header("X-CSRF-TOKEN", page.get("csrf"))
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = read_limited(response).await?;
        let json: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{path} answered {status}, not JSON: {e}"))?;
        Ok((status, json))
    }

    /// The page's submit (`POST SelfAsserted`, or `Phonefactor/verify` on a code page), then
    /// `confirmed` when it was accepted.
    async fn post(
        &self,
        client: &reqwest::Client,
        page: &Shown,
        form: Vec<(String, String)>,
    ) -> Result<Answered, String> {
        let path = if page.get("api") == "Phonefactor" { "Phonefactor/verify" } else { "SelfAsserted" };
        // The keep-me-signed-in checkbox goes with `confirmed`, as B2C's page sends it.
        let (remember, form): (Vec<_>, Vec<_>) = form.into_iter().partition(|(k, _)| k == REMEMBER_ME_FIELD);
        let (status, json) = self.page_call(client, page, path, form).await?;
        match json["status"].as_str() {
            Some("200") => {
                let remember: Vec<(&str, &str)> = remember.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let query = self.page_query(page, &remember);
                let url = format!("{}/api/{}/confirmed?{query}", self.base, page.get("api"));
                self.fetch(client, client.get(url)).await.map(Answered::Next)
            }
            Some("400") if status.is_success() => {
                Ok(Answered::Again(Some(json["message"].as_str().unwrap_or_default().to_owned())))
            }
            _ => Err(format!("{path} answered {status}: {json}")),
        }
    }
}

enum Answered {
    Next(Reply),
    /// The same page again: a submit that failed its checks (its message), or a display
    /// control's action.
    Again(Option<String>),
    /// Another page than the one answered, refusing what it was sent: the form a verified
    /// code led back to, whose submit failed its checks or validations.
    Refused(Box<Shown>, Option<String>),
}

/// The largest response the driver reads: a page is tens of KB.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Cookies one server may keep in the driver's browser.
const MAX_COOKIES: usize = 64;

/// A response's body, refused past [`MAX_RESPONSE_BYTES`]: the server may be anyone's.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the server's answer is larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A JWT's header and claims (the server's own token: read, not verified).
fn decode(jwt: &str) -> Result<(Value, Value), String> {
    let mut parts = jwt.split('.');
    let mut part = || -> Result<Value, String> {
        let text = parts.next().ok_or("not a JWT")?;
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|e| format!("not a JWT: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("not a JWT: {e}"))
    };
    Ok((part()?, part()?))
}

#[cfg(test)]
mod tests {
    use reqwest::cookie::CookieStore;

    use super::*;

    #[tokio::test]
    async fn a_huge_answer_is_refused_not_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(|| async { "x".repeat(MAX_RESPONSE_BYTES + 1) });
        let serving = tokio::spawn(async move { axum::serve(listener, app).await });
        let target = Target {
            origin: base.clone(),
            base: format!("{base}/t/p"),
            policy: "p".to_owned(),
            rp_claims: Vec::new(),
            credential_claims: Vec::new(),
            provider_origins: BTreeMap::new(),
        };
        let client = reqwest::Client::new();
        let error = target.fetch(&client, client.get(&base)).await.err().expect("refused");
        assert!(error.contains("larger than"), "{error}");
        serving.abort();
    }

    #[test]
    fn only_persistent_cookies_survive_a_reopened_browser() {
        let jar = Jar::default();
        let url = reqwest::Url::parse("http://127.0.0.1/").expect("url");
        let set = |header: &str| {
            let value = reqwest::header::HeaderValue::from_str(header).expect("header");
            jar.set_cookies(&mut std::iter::once(&value), &url);
        };
        set("sso=abc; Path=/; HttpOnly; Max-Age=7776000");
        set("trans=t1; Path=/; HttpOnly");
        set("gone=x; Path=/");
        set("gone=; Path=/; Max-Age=0");
        let sent = |jar: &Jar| jar.cookies(&url).map(|v| v.to_str().expect("text").to_owned()).unwrap_or_default();
        assert_eq!(sent(&jar), "sso=abc; trans=t1");
        jar.reopen();
        assert_eq!(sent(&jar), "sso=abc");
    }
}
