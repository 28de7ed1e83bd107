//! A headless user agent for live identity providers: it signs a scenario's user in at a real
//! provider the way a browser with a patient user would. It keeps cookies, follows redirects
//! itself (bounded), posts auto-submitting `form_post` pages, fills simple login forms and
//! answers consent forms (a refusal presses the first deny button or follows a cancel link it
//! finds, even on a login page), and stops at the callback URL without requesting it. A page that needs
//! more (a second factor, a captcha, a choice it cannot make) ends the run with an error that
//! describes the page.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use reqwest::{Client, StatusCode, Url};

use ief_protocols::federation::http::{TrustedRoots, root_cause};

/// Requests per sign-in before the agent gives up: real providers need fewer than ten.
pub const DEFAULT_MAX_HOPS: usize = 20;

/// The most of one response body the agent reads.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Words on a button, in its name or value, or in a form's action, that refuse consent.
const DENY_WORDS: [&str; 7] = ["deny", "abort", "cancel", "reject", "decline", "refuse", "disallow"];

/// Input names a login form uses for the account name (matched as substrings, lower case).
const USERNAME_HINTS: [&str; 6] = ["user", "login", "email", "signinname", "identifier", "loginfmt"];

/// What the user types and decides at the provider.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Accept (true) or refuse (false) a consent form.
    pub consent: bool,
    /// More form inputs by name ("remember me", a tenant picker...), filled wherever a form has them.
    pub fields: BTreeMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("consent", &self.consent)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where the provider hands the user back: the agent stops there and returns the parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackMatch {
    /// A URL starting with this text (compared case-insensitively), e.g. B2C's redirect URI.
    Prefix(String),
    /// Any path on `host` ending in `/oauth2/authresp` or `/oauth1/authresp`, with or without
    /// the policy segment B2C puts in front.
    AuthResp { host: String },
}

/// Where a sign-in at a provider came back to.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The callback URL (with the query of a redirect).
    pub url: Url,
    /// The callback's parameters.
    pub params: Vec<(String, String)>,
    /// Posted by a form (`form_post`), not reached by a redirect.
    pub posted: bool,
}

impl CallbackMatch {
    pub fn matches(&self, url: &Url) -> bool {
        match self {
            CallbackMatch::Prefix(prefix) => url
                .as_str()
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes())),
            CallbackMatch::AuthResp { host } => {
                let path = url.path().to_ascii_lowercase();
                url.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host))
                    && (path.ends_with("/oauth2/authresp") || path.ends_with("/oauth1/authresp"))
            }
        }
    }
}

impl From<&str> for CallbackMatch {
    fn from(prefix: &str) -> CallbackMatch {
        CallbackMatch::Prefix(prefix.to_owned())
    }
}

/// Why the agent did not reach the callback.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the user agent could not be set up: {0}")]
    Setup(String),
    #[error("'{url}' is not a URL the agent can open ({reason})")]
    BadUrl { url: String, reason: String },
    #[error("{method} {url} failed: {cause}")]
    Http { method: &'static str, url: String, cause: String },
    #[error("{url} answered {status} without a Location header")]
    NoLocation { url: String, status: u16 },
    #[error("no callback after {limit} requests; the last went to {url}")]
    TooManyHops { limit: usize, url: String },
    #[error("{reason}; found {page}")]
    Page { reason: String, page: Box<PageSummary> },
}

/// What the agent saw on a page it could not handle. URLs show no query values and forms no
/// field values, so codes and secrets never reach an error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSummary {
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub title: Option<String>,
    pub forms: Vec<String>,
    /// The page's visible text, shortened.
    pub text: String,
}

impl fmt::Display for PageSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {} at {}", self.status, self.url)?;
        if let Some(t) = &self.content_type {
            write!(f, " ({t})")?;
        }
        if let Some(title) = &self.title {
            write!(f, ", title \"{title}\"")?;
        }
        match self.forms.len() {
            0 => write!(f, ", no form")?,
            1 => write!(f, ", 1 form: {}", self.forms[0])?,
            n => write!(f, ", {n} forms: {}", self.forms.join("; "))?,
        }
        if !self.text.is_empty() {
            write!(f, ", text \"{}\"", self.text)?;
        }
        Ok(())
    }
}

/// A browser without a screen: one cookie jar per agent, so one agent is one browser session.
#[derive(Debug, Clone)]
pub struct UserAgent {
    client: Client,
    max_hops: usize,
}

impl UserAgent {
    /// An agent trusting the system's roots and `roots`, with a fresh cookie jar.
    pub fn new(roots: &TrustedRoots) -> Result<UserAgent, AgentError> {
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .timeout(Duration::from_secs(15))
            .no_proxy()
            .user_agent(concat!("ief/", env!("CARGO_PKG_VERSION"), " (headless)"));
        let mut certs = Vec::new();
        for pem in &roots.0 {
            certs.extend(
                reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                    .map_err(|e| AgentError::Setup(format!("a trusted root is not PEM ({})", root_cause(&e))))?,
            );
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| AgentError::Setup(root_cause(&e)))?;
        Ok(UserAgent { client, max_hops: DEFAULT_MAX_HOPS })
    }

    /// The same agent with another bound on requests per sign-in.
    pub fn with_max_hops(mut self, max_hops: usize) -> UserAgent {
        self.max_hops = max_hops;
        self
    }

    /// Opens `start_url` and goes on until a redirect or a form leads to `callback`; returns the
    /// callback's parameters: the query (and fragment) of a redirect, or the fields of a
    /// `form_post` page. The callback URL itself is never requested.
    pub async fn authorize(
        &self,
        start_url: &str,
        callback: &CallbackMatch,
        credentials: &Credentials,
    ) -> Result<Vec<(String, String)>, AgentError> {
        self.authorize_to(start_url, callback, credentials).await.map(|reached| reached.params)
    }

    /// [`UserAgent::authorize`], also saying where the browser was going: the callback URL and
    /// whether a `form_post` page posts there (else a redirect leads there).
    pub async fn authorize_to(
        &self,
        start_url: &str,
        callback: &CallbackMatch,
        credentials: &Credentials,
    ) -> Result<Reached, AgentError> {
        let mut next = Request::get(parse_url(start_url)?);
        let mut submitted: BTreeSet<String> = BTreeSet::new();
        for _ in 0..self.max_hops {
            if callback.matches(&next.url) {
                return Ok(Reached { params: next.callback_params(), posted: next.form.is_some(), url: next.url });
            }
            let response = self.send(&next).await?;
            let url = next.url.clone();
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| AgentError::NoLocation { url: display_url(&url), status: status.as_u16() })?;
                let target = url.join(location).map_err(|e| AgentError::BadUrl {
                    url: location.split('?').next().unwrap_or_default().to_owned(),
                    reason: e.to_string(),
                })?;
                // 307/308 repeat the method; a browser turns everything else into a GET.
                next = match status {
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => next.to(target),
                    _ => Request::get(target),
                };
                continue;
            }
            let content_type =
                response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = read_body(response, &url).await?;
            let page = ParsedPage::parse(&body);
            let summary = || Box::new(page.summary(&url, status, content_type.clone()));
            let is_html = content_type.as_deref().map_or(body.trim_start().starts_with('<'), |t| t.contains("html"));
            if !is_html {
                return Err(AgentError::Page {
                    reason: "the response is not an HTML page".to_owned(),
                    page: summary(),
                });
            }
            // A form_post response (also an error one, sent with status 400) ends the sign-in.
            for form in &page.forms {
                let action = form.action_url(&url)?;
                if callback.matches(&action) {
                    return Ok(Reached { params: form.values(None, &BTreeMap::new()), url: action, posted: true });
                }
            }
            if !status.is_success() {
                return Err(AgentError::Page { reason: format!("the provider answered {status}"), page: summary() });
            }
            let (form, values) = match decide(&page, credentials) {
                Ok(Choice::Submit(form, values)) => (form, values),
                Ok(Choice::Follow(href)) => {
                    next = Request::get(join_url(&url, href)?);
                    continue;
                }
                Err(reason) => return Err(AgentError::Page { reason, page: summary() }),
            };
            let action = form.action_url(&url)?;
            if form.is_login() {
                // The same login form again means the credentials were refused.
                let signature = format!("{} {}", action.path(), form.field_names().join(","));
                if !submitted.insert(signature) {
                    return Err(AgentError::Page {
                        reason: "the login form came back after the credentials were submitted".to_owned(),
                        page: summary(),
                    });
                }
            }
            next = form.submission(action, values);
        }
        Err(AgentError::TooManyHops { limit: self.max_hops, url: display_url(&next.url) })
    }

    async fn send(&self, request: &Request) -> Result<reqwest::Response, AgentError> {
        let builder = match &request.form {
            Some(form) => self.client.post(request.url.clone()).form(form),
            None => self.client.get(request.url.clone()),
        };
        builder.header(reqwest::header::ACCEPT, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8").send().await.map_err(
            |e| AgentError::Http {
                method: if request.form.is_some() { "POST" } else { "GET" },
                url: display_url(&request.url),
                cause: root_cause(&e),
            },
        )
    }
}

/// The next request: a GET, or a POST of form fields.
struct Request {
    url: Url,
    form: Option<Vec<(String, String)>>,
}

impl Request {
    fn get(url: Url) -> Request {
        Request { url, form: None }
    }

    /// The same method and body to another URL (307/308).
    fn to(self, url: Url) -> Request {
        Request { url, form: self.form }
    }

    fn callback_params(&self) -> Vec<(String, String)> {
        if let Some(form) = &self.form {
            return form.clone();
        }
        let mut params: Vec<(String, String)> = self.url.query_pairs().into_owned().collect();
        if let Some(fragment) = self.url.fragment() {
            params.extend(form_urlencoded::parse(fragment.as_bytes()).into_owned());
        }
        params
    }
}

fn parse_url(text: &str) -> Result<Url, AgentError> {
    let url = Url::parse(text).map_err(|e| AgentError::BadUrl {
        url: text.split('?').next().unwrap_or_default().to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(AgentError::BadUrl { url: display_url(&url), reason: format!("the scheme {other} is not HTTP") }),
    }
}

/// A URL for messages: no query values (codes, state) and no fragment.
pub fn display_url(url: &Url) -> String {
    let mut shown = format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path());
    if let Some(port) = url.port() {
        shown = format!("{}://{}:{port}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path());
    }
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    if !names.is_empty() {
        shown.push_str(&format!("?{}", names.iter().map(|n| format!("{n}=…")).collect::<Vec<_>>().join("&")));
    }
    shown
}

async fn read_body(mut response: reqwest::Response, url: &Url) -> Result<String, AgentError> {
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| AgentError::Http {
            method: "GET",
            url: display_url(url),
            cause: root_cause(&e),
        })?;
        match chunk {
            Some(bytes) if body.len() + bytes.len() <= MAX_BODY => body.extend_from_slice(&bytes),
            Some(_) => {
                return Err(AgentError::Http {
                    method: "GET",
                    url: display_url(url),
                    cause: format!("the page is larger than {MAX_BODY} bytes"),
                });
            }
            None => break,
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `href` against the page it is on, as an HTTP URL.
fn join_url(page: &Url, href: &str) -> Result<Url, AgentError> {
    let url = page.join(href).map_err(|e| AgentError::BadUrl {
        url: href.split('?').next().unwrap_or_default().to_owned(),
        reason: e.to_string(),
    })?;
    parse_url(url.as_str())
}

/// What the user does on a page.
enum Choice<'p> {
    /// Submits the form with these values.
    Submit(&'p Form, Vec<(String, String)>),
    /// Follows a link (a "Cancel" that is not a button).
    Follow(&'p str),
}

/// A refusal: the first deny button on the page (on a login form too, as X puts its login
/// fields and its Authorize/Cancel buttons in one form), a form that denies by its action, or
/// else a link that cancels. The credentials are not sent with a refusal.
fn refusal<'p>(page: &'p ParsedPage, credentials: &Credentials) -> Option<Choice<'p>> {
    let pressed = page.forms.iter().find_map(|f| f.buttons.iter().find(|b| b.is_deny()).map(|b| (f, Some(b))));
    let by_action = || page.forms.iter().find(|f| f.is_deny() && !f.is_login()).map(|f| (f, f.buttons.first()));
    if let Some((form, button)) = pressed.or_else(by_action) {
        let mut values = form.values(None, &credentials.fields);
        values.retain(|(name, _)| !form.inputs.iter().any(|i| &i.name == name && i.is_password()));
        if let Some(Button { name: Some(name), value, .. }) = button {
            values.push((name.clone(), value.clone()));
        }
        return Some(Choice::Submit(form, values));
    }
    page.links.iter().find(|l| l.is_deny()).map(|l| Choice::Follow(&l.href))
}

/// Which form to submit with which values, or why the page needs more than the agent does.
fn decide<'p>(page: &'p ParsedPage, credentials: &Credentials) -> Result<Choice<'p>, String> {
    if !credentials.consent
        && let Some(choice) = refusal(page, credentials)
    {
        return Ok(choice);
    }
    let forms = &page.forms;
    if forms.is_empty() {
        return Err("the page has no form to submit".to_owned());
    }
    let logins: Vec<&Form> = forms.iter().filter(|f| f.is_login()).collect();
    let form = match (forms.len(), logins.as_slice()) {
        (1, _) => &forms[0],
        (_, [login]) => login,
        _ if forms.iter().all(|f| f.visible_inputs().next().is_none()) => {
            // A consent page with one form per decision.
            let wanted = forms.iter().find(|f| f.is_deny() != credentials.consent);
            match wanted {
                Some(f) => f,
                None => return Err(format!("the page has {} forms and none of them fits", forms.len())),
            }
        }
        _ => return Err(format!("the page has {} forms and the agent cannot tell which to submit", forms.len())),
    };
    let unfilled: Vec<String> = form
        .visible_inputs()
        .filter(|i| !credentials.fields.contains_key(&i.name) && !i.fillable(form))
        .map(|i| format!("{} ({})", i.name, i.kind))
        .collect();
    if !unfilled.is_empty() {
        return Err(format!("the form asks for {} that the scenario does not fill", unfilled.join(", ")));
    }
    if form.is_login() {
        let mut values = form.values(Some(credentials), &credentials.fields);
        // A login form with its own Allow button sends that button, as a click would.
        if let Some(Button { name: Some(name), value, .. }) = form.buttons.iter().find(|b| !b.is_deny()) {
            values.push((name.clone(), value.clone()));
        }
        return Ok(Choice::Submit(form, values));
    }
    if form.visible_inputs().next().is_none() && page.auto_submit && form.buttons.is_empty() {
        return Ok(Choice::Submit(form, form.values(None, &credentials.fields)));
    }
    // A consent (or "continue") form: pick the button that says what the user decided.
    let button = if credentials.consent {
        form.buttons.iter().find(|b| !b.is_deny())
    } else {
        form.buttons.iter().find(|b| b.is_deny())
    };
    if !credentials.consent && button.is_none() && !form.is_deny() {
        return Err("consent is refused but the page has no button or link to deny it".to_owned());
    }
    let mut values = form.values(None, &credentials.fields);
    if let Some(Button { name: Some(name), value, .. }) = button {
        values.push((name.clone(), value.clone()));
    }
    Ok(Choice::Submit(form, values))
}

fn is_deny_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    DENY_WORDS.iter().any(|w| lower.contains(w)) || lower.trim() == "no"
}

/// What the agent reads from a page: the title, the forms, the links and whether it submits
/// itself.
#[derive(Debug, Default)]
struct ParsedPage {
    title: Option<String>,
    forms: Vec<Form>,
    links: Vec<Link>,
    /// A script or the body's onload submits a form.
    auto_submit: bool,
    /// The visible text as found; whitespace is collapsed only for a summary.
    text: String,
}

#[derive(Debug, Default)]
struct Form {
    action: Option<String>,
    method: String,
    inputs: Vec<Input>,
    buttons: Vec<Button>,
}

#[derive(Debug)]
struct Input {
    name: String,
    /// Lower-case `type` (`text` when absent), `select` or `textarea`.
    kind: String,
    value: String,
    checked: bool,
    autocomplete: String,
}

/// An `<a href>`: its target and its text (or `title` / `aria-label`).
#[derive(Debug)]
struct Link {
    href: String,
    label: String,
}

impl Link {
    fn is_deny(&self) -> bool {
        let path = self.href.split(['?', '#']).next().unwrap_or_default();
        let target = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or_default();
        !self.href.trim_start().to_ascii_lowercase().starts_with("javascript:")
            && (is_deny_text(&self.label) || is_deny_text(target))
    }
}

#[derive(Debug)]
struct Button {
    name: Option<String>,
    value: String,
    label: String,
}

impl Button {
    fn is_deny(&self) -> bool {
        is_deny_text(&self.label)
            || is_deny_text(&self.value)
            || self.name.as_deref().is_some_and(|n| is_deny_text(n) && self.value.is_empty())
    }
}

impl Input {
    fn is_visible(&self) -> bool {
        !matches!(self.kind.as_str(), "hidden" | "submit" | "button" | "reset" | "image" | "checkbox" | "radio")
    }

    fn is_password(&self) -> bool {
        self.kind == "password"
    }

    fn is_username(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        matches!(self.kind.as_str(), "text" | "email" | "tel")
            && (self.autocomplete.contains("username")
                || self.autocomplete.contains("email")
                || USERNAME_HINTS.iter().any(|h| name.contains(h)))
    }

    /// Whether the agent can fill it on this form by itself.
    fn fillable(&self, form: &Form) -> bool {
        let passwords = form.inputs.iter().filter(|i| i.is_password()).count();
        (self.is_password() && passwords == 1)
            || self.is_username()
            || (!self.value.is_empty() && !self.is_password())
            || self.kind == "select"
    }
}

impl Form {
    fn visible_inputs(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter().filter(|i| i.is_visible())
    }

    fn is_login(&self) -> bool {
        self.inputs.iter().any(|i| i.is_password() || i.is_username())
    }

    fn is_deny(&self) -> bool {
        self.action.as_deref().is_some_and(is_deny_text) || self.buttons.iter().any(Button::is_deny)
    }

    fn field_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    fn action_url(&self, page: &Url) -> Result<Url, AgentError> {
        match self.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(page.clone()),
            Some(action) => page.join(action).map_err(|e| AgentError::BadUrl {
                url: action.split('?').next().unwrap_or_default().to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// The fields a browser would send: hidden and prefilled inputs, checked boxes, the
    /// credentials in a login form, and `extra` inputs by name.
    fn values(&self, credentials: Option<&Credentials>, extra: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut values = Vec::new();
        for input in &self.inputs {
            if let Some(v) = extra.get(&input.name) {
                values.push((input.name.clone(), v.clone()));
                continue;
            }
            let value = match input.kind.as_str() {
                "submit" | "button" | "reset" | "image" => continue,
                "checkbox" | "radio" if !input.checked => continue,
                "checkbox" | "radio" if input.value.is_empty() => "on".to_owned(),
                _ => match credentials {
                    Some(c) if input.is_password() => c.password.clone(),
                    Some(c) if input.is_username() && input.value.is_empty() => c.username.clone(),
                    _ => input.value.clone(),
                },
            };
            values.push((input.name.clone(), value));
        }
        values
    }

    /// The request that submits the form: GET replaces the action's query, POST sends a body.
    fn submission(&self, mut action: Url, values: Vec<(String, String)>) -> Request {
        if self.method == "get" {
            action.set_query(None);
            if !values.is_empty() {
                action.query_pairs_mut().extend_pairs(values);
            }
            Request::get(action)
        } else {
            Request { url: action, form: Some(values) }
        }
    }

    fn describe(&self) -> String {
        let action = self.action.as_deref().map(|a| a.split('?').next().unwrap_or_default()).unwrap_or("(this page)");
        let fields: Vec<String> = self
            .inputs
            .iter()
            .filter(|i| !matches!(i.kind.as_str(), "submit" | "button" | "reset" | "image"))
            .map(|i| format!("{} ({})", i.name, i.kind))
            .collect();
        let buttons: Vec<String> = self.buttons.iter().map(|b| format!("\"{}\"", b.label)).collect();
        let mut text = format!("{} {action}", self.method.to_ascii_uppercase());
        if !fields.is_empty() {
            text.push_str(&format!(" with fields {}", fields.join(", ")));
        }
        if !buttons.is_empty() {
            text.push_str(&format!(" and buttons {}", buttons.join(", ")));
        }
        text
    }
}

/// The element whose text is being collected.
enum Capture {
    None,
    Title,
    Button(usize, usize),
    Link(usize),
    TextArea(usize, usize),
    Option {
        value: Option<String>,
        selected: bool,
    },
    Script,
    /// Style and noscript bodies: not visible text.
    Ignored(&'static str),
}

/// The open `<select>`: where its value goes and whether an option settled it.
struct Select {
    form: usize,
    input: usize,
    assigned: bool,
    selected: bool,
}

impl Select {
    /// The selected option wins; otherwise the first.
    fn option(&mut self, page: &mut ParsedPage, value: String, selected: bool) {
        if (selected && !self.selected) || !self.assigned {
            page.forms[self.form].inputs[self.input].value = value;
            self.assigned = true;
            self.selected |= selected;
        }
    }
}

impl ParsedPage {
    fn parse(html: &str) -> ParsedPage {
        let mut emitter = DefaultEmitter::default();
        // Script, style and noscript bodies are text, as in a browser with scripting on.
        emitter.naively_switch_states(true);
        let mut page = ParsedPage::default();
        let mut open: Option<usize> = None;
        let mut select: Option<Select> = None;
        let mut capture = Capture::None;
        let mut text = String::new();
        let mut captured = String::new();
        for token in Tokenizer::new_with_emitter(html, emitter) {
            let Ok(token) = token;
            match token {
                Token::StartTag(tag) => {
                    let attr =
                        |key: &str| tag.attributes.get(key.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned());
                    // The tokenizer lower-cases tag and attribute names (HTML §13.2.5.8).
                    match &tag.name[..] {
                        b"title" => {
                            capture = Capture::Title;
                            captured.clear();
                        }
                        b"script" => {
                            capture = Capture::Script;
                            captured.clear();
                        }
                        b"style" => capture = Capture::Ignored("style"),
                        b"noscript" => capture = Capture::Ignored("noscript"),
                        b"body" if attr("onload").is_some_and(|o| o.contains("submit")) => page.auto_submit = true,
                        b"a" => {
                            let Some(href) = attr("href").filter(|h| !h.trim().is_empty()) else { continue };
                            let label = attr("aria-label").or_else(|| attr("title")).unwrap_or_default();
                            page.links.push(Link { href, label });
                            capture = Capture::Link(page.links.len() - 1);
                            captured.clear();
                        }
                        // A form inside a form does not exist in HTML.
                        b"form" if open.is_none() => {
                            page.forms.push(Form {
                                action: attr("action"),
                                method: lower(attr("method").unwrap_or_else(|| "get".to_owned())),
                                ..Form::default()
                            });
                            open = Some(page.forms.len() - 1);
                        }
                        b"input" => {
                            let Some(f) = open else { continue };
                            let kind = lower(attr("type").unwrap_or_else(|| "text".to_owned()));
                            let value = attr("value").unwrap_or_default();
                            if matches!(kind.as_str(), "submit" | "image") {
                                page.forms[f].buttons.push(Button {
                                    name: attr("name"),
                                    label: if value.is_empty() { "Submit".to_owned() } else { value.clone() },
                                    value: value.clone(),
                                });
                            }
                            if let Some(name) = attr("name").filter(|n| !n.is_empty()) {
                                page.forms[f].inputs.push(Input {
                                    name,
                                    kind,
                                    value,
                                    checked: attr("checked").is_some(),
                                    autocomplete: lower(attr("autocomplete").unwrap_or_default()),
                                });
                            }
                        }
                        b"button" => {
                            let Some(f) = open else { continue };
                            let kind = lower(attr("type").unwrap_or_else(|| "submit".to_owned()));
                            if kind == "submit" {
                                page.forms[f].buttons.push(Button {
                                    name: attr("name").filter(|n| !n.is_empty()),
                                    value: attr("value").unwrap_or_default(),
                                    label: String::new(),
                                });
                                capture = Capture::Button(f, page.forms[f].buttons.len() - 1);
                                captured.clear();
                            }
                        }
                        b"textarea" => {
                            let (Some(f), Some(name)) = (open, attr("name")) else { continue };
                            page.forms[f].inputs.push(Input {
                                name,
                                kind: "textarea".to_owned(),
                                value: String::new(),
                                checked: false,
                                autocomplete: String::new(),
                            });
                            capture = Capture::TextArea(f, page.forms[f].inputs.len() - 1);
                            captured.clear();
                        }
                        b"select" => {
                            let (Some(f), Some(name)) = (open, attr("name")) else { continue };
                            page.forms[f].inputs.push(Input {
                                name,
                                kind: "select".to_owned(),
                                value: String::new(),
                                checked: false,
                                autocomplete: String::new(),
                            });
                            select = Some(Select {
                                form: f,
                                input: page.forms[f].inputs.len() - 1,
                                assigned: false,
                                selected: false,
                            });
                        }
                        b"option" => {
                            let Some(sel) = select.as_mut() else { continue };
                            // `</option>` is optional: the next option ends the previous one.
                            if let Capture::Option { value, selected } = std::mem::replace(&mut capture, Capture::None)
                            {
                                sel.option(&mut page, value.unwrap_or_else(|| collapse(&captured)), selected);
                            }
                            capture = Capture::Option { value: attr("value"), selected: attr("selected").is_some() };
                            captured.clear();
                        }
                        _ => {}
                    }
                }
                Token::EndTag(tag) => {
                    let name = &tag.name[..];
                    let done = std::mem::replace(&mut capture, Capture::None);
                    let content = || collapse(&captured);
                    match (name, done) {
                        (b"title", Capture::Title) => page.title = Some(content()),
                        (b"script", Capture::Script) => {
                            if captured.contains(".submit()") {
                                page.auto_submit = true;
                            }
                        }
                        (b"button", Capture::Button(f, b)) => {
                            page.forms[f].buttons[b].label = content();
                        }
                        (b"a", Capture::Link(l)) => {
                            if page.links[l].label.is_empty() {
                                page.links[l].label = content();
                            }
                        }
                        (b"textarea", Capture::TextArea(f, i)) => page.forms[f].inputs[i].value = captured.clone(),
                        (b"option" | b"select", Capture::Option { value, selected }) => {
                            if let Some(sel) = select.as_mut() {
                                sel.option(&mut page, value.unwrap_or_else(content), selected);
                            }
                        }
                        (b"style", Capture::Ignored("style")) | (b"noscript", Capture::Ignored("noscript")) => {}
                        (_, other) => capture = other,
                    }
                    match name {
                        b"form" => open = None,
                        b"select" => select = None,
                        _ => {}
                    }
                }
                Token::String(s) => {
                    let s = String::from_utf8_lossy(&s);
                    match capture {
                        Capture::None => {
                            text.push(' ');
                            text.push_str(&s);
                        }
                        Capture::Button(..) | Capture::Link(..) => {
                            captured.push_str(&s);
                            text.push(' ');
                            text.push_str(&s);
                        }
                        _ => captured.push_str(&s),
                    }
                }
                _ => {}
            }
        }
        page.text = text;
        page
    }

    fn summary(&self, url: &Url, status: StatusCode, content_type: Option<String>) -> PageSummary {
        const MAX_TEXT: usize = 200;
        let mut text = collapse(&self.text);
        if text.chars().count() > MAX_TEXT {
            text = text.chars().take(MAX_TEXT).collect::<String>() + "…";
        }
        PageSummary {
            url: display_url(url),
            status: status.as_u16(),
            content_type,
            title: self.title.clone().filter(|t| !t.is_empty()),
            forms: self.forms.iter().map(Form::describe).collect(),
            text,
        }
    }
}

/// `text` in ASCII lower case, in place.
fn lower(mut text: String) -> String {
    text.make_ascii_lowercase();
    text
}

/// Whitespace runs as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
