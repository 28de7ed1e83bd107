//! A scenario driven over HTTP against a live `ief serve` (`ief run SCENARIO --server URL`):
//! the application's authorize request, the page calls a browser's page makes
//! (`unified`, `SelfAsserted`, `confirmed`), then the code redeemed at the token endpoint. Only
//! HTTP crosses: this driver knows the server by its URLs, as an application and a browser do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_protocols::directory::Directory;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    ErrorReport, RunReport, RunSpec, Scenario, ScenarioError, ScenarioReport, StepAnswer, TokenReport,
    check_expectation, load_policy, read, runs_of, seed_user,
};

/// The client id of `ief serve`'s development app, which takes any loopback redirect URI.
pub const DEV_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000a991";
/// Where the application "receives" the result: never contacted, only read from `Location`.
const REDIRECT_URI: &str = "http://localhost/ief-run";
/// Claims the token issuer writes itself; the relying party's claims are the others.
const ISSUER_CLAIMS: [&str; 10] = ["exp", "nbf", "ver", "iss", "aud", "acr", "nonce", "iat", "auth_time", "tfp"];
/// Requests one run may make: a journey needing more loops.
const MAX_REQUESTS: usize = 64;

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

/// Runs a parsed scenario, whose relative paths start at `base`, against the server.
pub async fn run(
    scenario: &Scenario,
    base: &Path,
    name: &str,
    options: &RemoteOptions,
) -> Result<ScenarioReport, ScenarioError> {
    let unsupported = |what: &str| {
        Err(ScenarioError::Setup(format!("{what} is not supported against a live server (ief run --server) yet")))
    };
    if scenario.embedded_providers.is_some() || !scenario.identity_providers.is_empty() {
        return unsupported("federation (identity_providers, embedded_providers)");
    }
    if !scenario.http_stubs.is_empty() {
        return unsupported("http_stubs");
    }
    if scenario.conditional_access.is_some() {
        return unsupported("conditional_access");
    }
    if scenario.journey.is_some() || scenario.runs.iter().any(|r| r.journey.is_some()) {
        return unsupported("a journey other than the relying party's");
    }
    if !scenario.request.input_claims.is_empty() {
        return unsupported("input_claims (id_token_hint)");
    }
    let settings: Vec<(String, String)> = scenario.settings.clone().into_iter().collect();
    if scenario.runs.iter().any(|r| r.policy.is_some() || r.after.is_some() || r.reopen_browser) {
        return unsupported("a run's own policy, `after` or `reopen_browser`");
    }
    let policy = load_policy(scenario, &scenario.policy, base, settings)?.model;
    if !scenario.directory.is_empty() {
        let Some(path) = &options.directory else {
            return Err(ScenarioError::Setup(
                "the scenario seeds the directory: give the server's directory file (ief serve --directory FILE, \
                 ief run --server URL --directory FILE)"
                    .to_owned(),
            ));
        };
        let directory = Directory::open(path).map_err(|e| ScenarioError::Setup(e.to_string()))?;
        for seed in &scenario.directory {
            let mut user = seed_user(seed);
            if user.object_id.is_none() {
                user.object_id = directory.new_object_id(&ief_protocols::env::SystemEnv).ok();
            }
            directory.seed(&user).map_err(|e| ScenarioError::Setup(format!("seeding the directory: {e}")))?;
        }
    }
    let rp_claims: Vec<String> = policy
        .relying_party
        .as_ref()
        .and_then(|rp| rp.technical_profile.as_ref())
        .map(|tp| tp.output_claims.iter().map(|c| policy.partner_name(tp, c)).collect())
        .unwrap_or_default();
    let target = Target {
        base: format!("{}/{}/{}", options.server.trim_end_matches('/'), policy.tenant_id, policy.policy_id),
        policy: policy.policy_id.clone(),
        rp_claims,
        codes: options.codes.clone(),
    };
    let mut client = new_browser()?;
    let mut reports = Vec::new();
    for run in runs_of(scenario, name) {
        if run.new_session {
            client = new_browser()?;
        }
        let mut report = target
            .run_one(&client, scenario, &run)
            .await
            .map_err(|message| ScenarioError::Run { run: run.name.clone(), message })?;
        check_expectation(run.expect.as_ref(), &mut report);
        reports.push(report);
    }
    Ok(ScenarioReport { scenario: name.to_owned(), runs: reports, graphs: BTreeMap::new(), warnings: Vec::new() })
}

/// A browser: its own cookies, redirects read rather than followed.
fn new_browser() -> Result<reqwest::Client, ScenarioError> {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| ScenarioError::Setup(e.to_string()))
}

struct Target {
    /// `{server}/{tenant}/{policy}`.
    base: String,
    policy: String,
    rp_claims: Vec<String>,
    codes: Option<CodeSource>,
}

/// A page as the server sent it.
struct Shown {
    settings: Value,
    fields: Vec<String>,
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
    Some(Shown {
        fields: ids(&fields["AttributeFields"], "ID"),
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
}

impl Target {
    async fn run_one(&self, client: &reqwest::Client, scenario: &Scenario, run: &RunSpec) -> Result<RunReport, String> {
        let mut verifier_bytes = [0u8; 32];
        getrandom::fill(&mut verifier_bytes).map_err(|e| e.to_string())?;
        let verifier = URL_SAFE_NO_PAD.encode(verifier_bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let request = &scenario.request;
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

        let mut reply = self.fetch(client, client.get(&authorize)).await?;
        let mut answers = run.steps.iter();
        let mut pages = Vec::new();
        let mut requests = 0;
        // A page refused a submit: it is shown again with this description.
        let mut again: Option<String> = None;
        let mut last_submit = Vec::new();
        let result = loop {
            requests += 1;
            if requests > MAX_REQUESTS {
                return Err(format!("more than {MAX_REQUESTS} requests in one run"));
            }
            let page = match reply {
                Reply::Done(params) => break params,
                Reply::Page(page) => page,
            };
            pages.push(again.take().unwrap_or_else(|| page.describe(None)));
            let Some(answer) = answers.next() else {
                return Err(format!("no answer left for the page {}", page.describe(None)));
            };
            reply = match self.answer(client, &page, answer, &mut last_submit).await? {
                Answered::Next(next) => next,
                Answered::Refused(message) => {
                    again = Some(page.describe(Some(&message)));
                    Reply::Page(page)
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
            let response = client
                .post(format!("{}/oauth2/v2.0/token", self.base))
                .form(&form)
                .send()
                .await
                .map_err(|e| format!("the token request failed: {e}"))?;
            let status = response.status();
            let body: Value = response.json().await.map_err(|e| format!("the token response is not JSON: {e}"))?;
            let id_token =
                body["id_token"].as_str().ok_or_else(|| format!("the token endpoint said {status}: {body}"))?;
            let (header, claims) = decode(id_token)?;
            report.outcome = "token".to_owned();
            report.claims = claims
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| self.rp_claims.contains(k) || !ISSUER_CLAIMS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
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
                if !location.starts_with('/') {
                    return Err(format!(
                        "the server redirects to {location}: following identity providers is not supported by ief run --server yet"
                    ));
                }
                let origin = self.base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                response = client.get(format!("{origin}{location}")).send().await.map_err(|e| e.to_string())?;
                continue;
            }
            let body = response.text().await.map_err(|e| e.to_string())?;
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

    /// Answers `page`; `last_submit` holds the last form submitted (a `verify` submits it again).
    async fn answer(
        &self,
        client: &reqwest::Client,
        page: &Shown,
        answer: &StepAnswer,
        last_submit: &mut Vec<(String, String)>,
    ) -> Result<Answered, String> {
        let form: Vec<(String, String)> = match answer {
            StepAnswer::Choose(id) => {
                let query = self.page_query(page, &[("claimsexchange", id)]);
                let url = format!("{}/api/{}/unified?{query}", self.base, page.get("api"));
                return self.fetch(client, client.get(url)).await.map(Answered::Next);
            }
            StepAnswer::Submit(values) => {
                *last_submit = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                last_submit.clone()
            }
            StepAnswer::Code(code) => vec![("verificationCode".to_owned(), self.code(code)?)],
            StepAnswer::Cancel(_) => vec![("cancel".to_owned(), "true".to_owned())],
            StepAnswer::Verify(values) => {
                // The code page the submit led to, then the same form again, now verified.
                let code = values.values().next().ok_or("`verify` names no claim")?;
                let entered = vec![("verificationCode".to_owned(), self.code(code)?)];
                let Answered::Next(Reply::Page(form)) = self.post(client, page, entered).await? else {
                    return Err("the verification code did not lead back to the form".to_owned());
                };
                return self.post(client, &form, last_submit.clone()).await;
            }
            StepAnswer::Press(_) => {
                return Err("display controls' `press` is not supported against a live server yet".to_owned());
            }
            StepAnswer::Wait(_) => {
                return Err("`wait` is not supported against a live server: its clock is its own".to_owned());
            }
        };
        self.post(client, page, form).await
    }

    /// A `code` answer: the text given, or for `sent` the last code the server "sent".
    fn code(&self, code: &str) -> Result<String, String> {
        if code != "sent" {
            return Ok(code.to_owned());
        }
        self.codes
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

    /// The page JS's submit (`POST SelfAsserted`, XHR), then `confirmed` when it was accepted.
    async fn post(
        &self,
        client: &reqwest::Client,
        page: &Shown,
        form: Vec<(String, String)>,
    ) -> Result<Answered, String> {
        let mut body = vec![("request_type".to_owned(), "RESPONSE".to_owned())];
        body.extend(form);
        let query = encode(&[("tx", page.get("transId")), ("p", self.policy.as_str())]);
        let response = client
            .post(format!("{}/SelfAsserted?{query}", self.base))
            .header("X-CSRF-TOKEN", page.get("csrf"))
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let json: Value =
            response.json().await.map_err(|e| format!("SelfAsserted answered {status}, not JSON: {e}"))?;
        match json["status"].as_str() {
            Some("200") => {
                let url = format!("{}/api/{}/confirmed?{}", self.base, page.get("api"), self.page_query(page, &[]));
                self.fetch(client, client.get(url)).await.map(Answered::Next)
            }
            Some("400") if status.is_success() => {
                Ok(Answered::Refused(json["message"].as_str().unwrap_or_default().to_owned()))
            }
            _ => Err(format!("SelfAsserted answered {status}: {json}")),
        }
    }
}

enum Answered {
    Next(Reply),
    /// The submit failed the page's checks: the message the page now shows.
    Refused(String),
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
