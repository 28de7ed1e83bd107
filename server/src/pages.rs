//! The page API (server-spec §2): B2C's page shell with its `SETTINGS`, `CONTENT`, `SA_FIELDS`
//! and `CP` globals around a plain HTML form that works without JavaScript, and the calls the
//! page makes: `POST /SelfAsserted`, `GET /api/{api}/confirmed`, `GET /api/{api}/unified`.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{Answer, ExecError, Field, Page, PageKind, Progress};
use serde_json::{Value, json};

use crate::oauth::{TRANS_COOKIE, finish, is_token_text};
use crate::route::Endpoint;
use crate::store::{Step, Transaction};
use crate::{Hosted, Request, Server, cookie, escape_html, form_encode, html, json, redirect};

pub(crate) const CSRF_COOKIE: &str = "x-ms-cpim-csrf";
/// The sign-in waiting for an identity provider's callback, set when the browser is sent there.
const CONTEXT_COOKIE: &str = "x-ms-cpim-ctx";

/// Shows what the sign-in needs next: a page, a redirect to an identity provider, or the end
/// (the application's redirect URI). The sign-in is saved unless it ended; a request that lost
/// the race to another answer of the same page shows nothing of its own.
pub(crate) async fn advance(server: &Server, hosted: &Hosted, mut tx: Transaction, request: &Request) -> Response {
    let progress = match std::mem::replace(&mut tx.step, Step::Submitted(Progress::NeedsInput(placeholder()))) {
        Step::Submitted(progress) => progress,
        Step::Showing(page) => Progress::NeedsInput(page),
    };
    match progress {
        Progress::Finished(outcome) => finish(server, hosted, tx, outcome, request).await,
        Progress::NeedsInput(page) => {
            if let PageKind::Redirect { url } = &page.kind {
                // The provider's callback finds the sign-in by this cookie.
                let url = url.clone();
                let context = cookie(server, CONTEXT_COOKIE, &tx.id);
                tx.step = Step::Showing(page);
                if let Err(refused) = save_or_refuse(server, hosted, &mut tx, request, false).await {
                    return refused;
                }
                let mut response = redirect(&url);
                response.headers_mut().append(header::SET_COOKIE, context);
                return response;
            }
            tx.step = Step::Showing(page);
            show(server, hosted, tx, request).await
        }
    }
}

/// Stores the sign-in as this request leaves it (compare-and-swap on the version it read);
/// `hosted` is the relying party it runs.
pub(crate) async fn save(server: &Server, hosted: &Hosted, tx: &mut Transaction) -> Result<(), Refusal> {
    tx.sign_in.forget_passwords(&hosted.policy.model);
    match server.state.save_transaction(tx, server.now()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refusal::Lost),
        Err(e) => Err(Refusal::from(e)),
    }
}

/// [`save`], or when it fails the refusal's answer (JSON for `as_json`, else the error page).
async fn save_or_refuse(
    server: &Server,
    hosted: &Hosted,
    tx: &mut Transaction,
    request: &Request,
    as_json: bool,
) -> Result<(), Response> {
    match save(server, hosted, tx).await {
        Ok(()) => Ok(()),
        Err(refusal) => Err(refusal.respond(server, Some((hosted, None)), request, as_json).await),
    }
}

/// Saves the sign-in with a new CSRF token and shows its page.
async fn show(server: &Server, hosted: &Hosted, mut tx: Transaction, request: &Request) -> Response {
    tx.csrf = server.random(32);
    if let Err(refused) = save_or_refuse(server, hosted, &mut tx, request, false).await {
        return refused;
    }
    crate::page::render(server, hosted, &tx, StatusCode::OK).await
}

/// The sign-in the browser names, as stored.
async fn load(server: &Server, tid: &str) -> Result<Transaction, Refusal> {
    server.state.transaction(tid, server.now()).await?.ok_or(Refusal::State)
}

fn placeholder() -> Page {
    Page::new("", PageKind::Form { fields: Vec::new() }, None)
}

/// `StateProperties=` + base64url of `{"TID":"…"}`, as B2C's `tx`.
pub(crate) fn tx_param(id: &str) -> String {
    format!("StateProperties={}", URL_SAFE_NO_PAD.encode(json!({ "TID": id }).to_string()))
}

/// The TID inside a `tx` value, if it is one.
fn parse_tx(tx: &str) -> Option<String> {
    let encoded = tx.strip_prefix("StateProperties=")?;
    if encoded.len() > 256 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("TID")?.as_str().map(str::to_owned)
}

/// Why a page call is refused.
pub(crate) enum Refusal {
    /// No such sign-in (unknown, ended, expired, or stored by a version of ief or of the
    /// policies that no longer reads it).
    State,
    /// Another request answered the same page first; its answer stands.
    Lost,
    /// The state store failed.
    Unavailable,
    Browser,
    Csrf,
    /// The call does not fit what the sign-in waits for.
    OutOfOrder(&'static str),
    /// The policies changed since the sign-in started (a reload, or a process serving other
    /// files): its plan is gone.
    Reloaded,
    /// An identity provider's callback that another request (or process) already handled.
    Replayed,
    /// The request failed inside ief (its task panicked).
    Internal,
}

impl From<crate::store::StateError> for Refusal {
    /// A record this ief cannot read any more is a sign-in to start again; a failing store is not.
    fn from(error: crate::store::StateError) -> Refusal {
        match error {
            crate::store::StateError::Store(_) | crate::store::StateError::Random => Refusal::Unavailable,
            _ => Refusal::State,
        }
    }
}

impl Refusal {
    fn message(&self) -> &'static str {
        match self {
            Refusal::State => {
                "We are having trouble loading your current state. You might want to try starting your session over from the beginning."
            }
            Refusal::Lost => "The page was answered by another request.",
            Refusal::Replayed => "The identity provider's answer was already received by another request.",
            Refusal::Unavailable => "The sign-in's state cannot be read or written just now. Please try again.",
            Refusal::Browser => "The request was not made by the browser that started the sign-in.",
            Refusal::Csrf => "The request's CSRF token is missing or does not match.",
            Refusal::OutOfOrder(m) => m,
            Refusal::Reloaded => {
                "The policy was reloaded or changed after this sign-in started. Start the sign-in again from the application."
            }
            Refusal::Internal => crate::INTERNAL_ERROR,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::State | Refusal::Reloaded => StatusCode::BAD_REQUEST,
            Refusal::Browser | Refusal::Csrf => StatusCode::FORBIDDEN,
            Refusal::Lost | Refusal::Replayed | Refusal::OutOfOrder(_) => StatusCode::CONFLICT,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::State | Refusal::Reloaded => "AADB2C90046",
            Refusal::Unavailable | Refusal::Internal => "AADB2C90085",
            _ => "AADB2C90065",
        }
    }

    /// JSON for the page's script, else the policy's error page in the sign-in's language when
    /// the call found the sign-in, else in the language the browser asks for.
    pub(crate) async fn respond(
        &self,
        server: &Server,
        policy: Option<(&Hosted, Option<&str>)>,
        request: &Request,
        as_json: bool,
    ) -> Response {
        if as_json {
            let body = json!({ "status": self.status().as_u16().to_string(), "errorCode": self.code(), "message": self.message() });
            return json(self.status(), &body);
        }
        let mut response = crate::page::exception(server, request, self.code(), self.message(), policy).await;
        *response.status_mut() = self.status();
        response
    }
}

/// The policies a sign-in runs on: the request's, or the earlier load it began on.
struct Load(Option<Arc<Vec<Hosted>>>);

impl Load {
    /// The sign-in's relying party `policy` in its load, else `current`.
    fn hosted<'a>(&'a self, current: &'a Hosted, policy: &str) -> &'a Hosted {
        self.0.as_deref().and_then(|load| crate::find(load, None, policy)).unwrap_or(current)
    }
}

/// The load whose plan the sign-in began on: the request's when its relying party's files and
/// settings are the same (after a restart too, or on another process), else an earlier load
/// this process still keeps.
fn load_for(server: &Server, current: &Hosted, tx: &Transaction) -> Result<Load, Refusal> {
    if tx.fingerprint == current.fingerprint {
        return Ok(Load(None));
    }
    server.load_of(&tx.policy, tx.fingerprint).map(|load| Load(Some(load))).ok_or(Refusal::Reloaded)
}

/// Reads the sign-in the call names, after checking it belongs to this browser and carries
/// the page's CSRF token; a refused call writes nothing, so the sign-in stays as it was.
async fn checked(server: &Server, hosted: &Hosted, request: &Request) -> Result<(Transaction, Load), Refusal> {
    let tid = request.param("tx").and_then(parse_tx).ok_or(Refusal::State)?;
    let tx = load(server, &tid).await?;
    if tx.policy != hosted.policy.model.policy_id.to_lowercase() {
        return Err(Refusal::State);
    }
    if request.cookie(TRANS_COOKIE) != Some(tx.browser.as_str()) {
        return Err(Refusal::Browser);
    }
    // Its plan gone: every later call is refused the same way, until the record expires.
    let load = load_for(server, hosted, &tx)?;
    let presented = request
        .header("x-csrf-token")
        .or_else(|| request.form_param("csrf_token"))
        .or_else(|| request.param("csrf_token"));
    let cookie = request.cookie(CSRF_COOKIE);
    let valid = |t: &str| is_token_text(t) && t == tx.csrf;
    if !(presented.is_some_and(valid) && cookie.is_some_and(valid)) {
        return Err(Refusal::Csrf);
    }
    Ok((tx, load))
}

/// [`checked`], for a call that answers the page shown: the sign-in and its page.
async fn showing(server: &Server, hosted: &Hosted, request: &Request) -> Result<(Transaction, Page, Load), Refusal> {
    let (tx, load) = checked(server, hosted, request).await?;
    let Step::Showing(page) = &tx.step else {
        return Err(Refusal::OutOfOrder("The page was already answered."));
    };
    let page = page.clone();
    Ok((tx, page, load))
}

fn is_xhr(request: &Request) -> bool {
    request.header("x-requested-with").is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"))
}

/// Whether a call to `endpoint` is the page script's, answered with its JSON status: a display
/// control's button always, a form's submit when made by XHR.
pub(crate) fn answers_json(endpoint: &Endpoint, request: &Request) -> bool {
    match endpoint {
        Endpoint::DisplayControl { .. } => true,
        Endpoint::SelfAsserted => is_xhr(request),
        _ => false,
    }
}

/// `POST /SelfAsserted`: a page's form. XHR callers get B2C's JSON status (HTTP 200 with
/// `"status":"400"` on a validation error); a plain form is answered with the next page.
pub(crate) async fn self_asserted(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let xhr = is_xhr(request);
    let (mut tx, page, load) = match showing(server, hosted, request).await {
        Ok(found) => found,
        Err(refusal) => return refusal.respond(server, Some((hosted, None)), request, xhr).await,
    };
    let hosted = load.hosted(hosted, &tx.policy);
    let values: Vec<(String, String)> = request
        .form
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "request_type" | "csrf_token" | "cancel" | "resend"))
        .cloned()
        .collect();
    let answer = if request.form_param("cancel").is_some() {
        Answer::Cancel
    } else {
        match &page.kind {
            // "Send a new code" (`#retryCode`) posts the code page's form with `resend=true`.
            PageKind::Code { .. } if request.form_param("resend") == Some("true") => {
                Answer::Choose(ief_protocols::phone::RESEND.to_owned())
            }
            PageKind::Code { .. } => {
                Answer::Code(request.form_param("verificationCode").unwrap_or_default().to_owned())
            }
            PageKind::Form { .. } | PageKind::Selection { sign_in: Some(_), .. } => Answer::Submit(values.clone()),
            PageKind::Selection { .. } | PageKind::Redirect { .. } => {
                let lang = tx.sign_in.context.culture.clone();
                return Refusal::OutOfOrder("This page has no form to submit.")
                    .respond(server, Some((hosted, Some(&lang))), request, xhr)
                    .await;
            }
        }
    };
    let executor = server.executor(hosted);
    let progress = match executor.resume(&mut tx.sign_in, Some(answer)).await {
        Ok(p) => p,
        Err(ExecError::BadAnswer { message, .. }) => {
            return json(StatusCode::BAD_REQUEST, &json!({ "status": "400", "message": message }));
        }
        Err(e) => return failed(server, hosted, tx, "AADB2C90085", &e, request).await,
    };
    // A code page that gives way to its form (too many wrong codes, an expired one) is not the
    // same page again: the browser goes on to the form, which shows why.
    let leaves_code_page =
        |next: &Page| matches!(page.kind, PageKind::Code { .. }) && !matches!(next.kind, PageKind::Code { .. });
    match progress {
        // The same page back with an error: the submit failed its checks.
        Progress::NeedsInput(next)
            if next.error.is_some() && next.profile == page.profile && !leaves_code_page(&next) =>
        {
            let message = next.error.clone().unwrap_or_default();
            // A failed validation comes back as a form without fields: the same page, with its error.
            let next = match &next.kind {
                PageKind::Form { fields } if fields.is_empty() => Page { kind: as_typed(&page.kind, &values), ..next },
                _ => next,
            };
            tx.step = Step::Showing(next);
            if xhr {
                if let Err(refused) = save_or_refuse(server, hosted, &mut tx, request, xhr).await {
                    return refused;
                }
                return json(StatusCode::OK, &json!({ "status": "400", "message": message }));
            }
            show(server, hosted, tx, request).await
        }
        progress => {
            tx.step = Step::Submitted(progress);
            let confirmed = confirmed_url(hosted, &tx, crate::page::api_of(&page));
            if let Err(refused) = save_or_refuse(server, hosted, &mut tx, request, xhr).await {
                return refused;
            }
            if xhr { json(StatusCode::OK, &json!({ "status": "200" })) } else { see_other(&confirmed) }
        }
    }
}

/// The form that refused a submit as it was typed, as a browser keeps its form (a page drawn
/// again for a form posted without the page script): never passwords, nor read-only fields.
fn as_typed(kind: &PageKind, typed: &[(String, String)]) -> PageKind {
    let PageKind::Form { fields } = kind else { return kind.clone() };
    let fields = fields
        .iter()
        .map(|f| {
            let posted: Vec<&str> =
                typed.iter().filter(|(k, _)| k.eq_ignore_ascii_case(&f.claim)).map(|(_, v)| v.as_str()).collect();
            let shown_as_drawn = matches!(f.input_type.as_deref(), Some("Password" | "Readonly" | "Paragraph"));
            let Some(last) = posted.last().filter(|_| !shown_as_drawn) else { return f.clone() };
            let text = if f.input_type.as_deref() == Some("CheckboxMultiSelect") {
                posted.iter().flat_map(|v| v.split(',')).filter(|v| !v.is_empty()).collect::<Vec<_>>().join(",")
            } else {
                (*last).to_owned()
            };
            Field { prefilled: (!text.is_empty()).then_some(text), ..f.clone() }
        })
        .collect();
    PageKind::Form { fields }
}

/// `POST /SelfAsserted/DisplayControlAction/vbeta/{control}/{action}`: a display control's
/// button, answered with B2C's JSON status. The page stays shown (with the control's new state)
/// and keeps its CSRF token, as the page's script keeps its `SETTINGS`.
pub(crate) async fn display_control(
    server: &Server,
    hosted: &Hosted,
    request: &Request,
    control: String,
    action: String,
) -> Response {
    let (mut tx, page, load) = match showing(server, hosted, request).await {
        Ok(found) => found,
        Err(refusal) => return refusal.respond(server, Some((hosted, None)), request, true).await,
    };
    let hosted = load.hosted(hosted, &tx.policy);
    if !matches!(page.kind, PageKind::Form { .. }) {
        return Refusal::OutOfOrder("This page has no display controls.").respond(server, None, request, true).await;
    }
    let values: Vec<(String, String)> =
        request.form.iter().filter(|(k, _)| !matches!(k.as_str(), "request_type" | "csrf_token")).cloned().collect();
    let executor = server.executor(hosted);
    match executor.resume(&mut tx.sign_in, Some(Answer::Action { control, action, values })).await {
        Ok(progress) => {
            let (body, step) = match progress {
                Progress::NeedsInput(next) => {
                    let body = match &next.error {
                        Some(message) => json!({ "status": "400", "message": message }),
                        None => json!({ "status": "200" }),
                    };
                    (body, Step::Showing(next))
                }
                progress => (json!({ "status": "200" }), Step::Submitted(progress)),
            };
            tx.step = step;
            if let Err(refused) = save_or_refuse(server, hosted, &mut tx, request, true).await {
                return refused;
            }
            json(StatusCode::OK, &body)
        }
        // Refused: nothing is written, the page stays as it was.
        Err(ExecError::BadAnswer { message, .. }) => {
            json(StatusCode::BAD_REQUEST, &json!({ "status": "400", "message": message }))
        }
        Err(e) => failed(server, hosted, tx, "AADB2C90085", &e, request).await,
    }
}

/// Ends the sign-in with the error `code` when its journey cannot go on.
async fn failed(
    server: &Server,
    hosted: &Hosted,
    tx: Transaction,
    code: &str,
    error: &ExecError,
    request: &Request,
) -> Response {
    let outcome = ief_engine::exec::Outcome::Error { code: code.to_owned(), message: error.to_string() };
    finish(server, hosted, tx, outcome, request).await
}

fn see_other(location: &str) -> Response {
    let mut response = redirect(location);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

fn confirmed_url(hosted: &Hosted, tx: &Transaction, api: &str) -> String {
    let m = &hosted.policy.model;
    let query = form_encode(&[("csrf_token", &tx.csrf), ("tx", &tx_param(&tx.id)), ("p", &m.policy_id)]);
    format!("/{}/{}/api/{api}/confirmed?{query}", m.tenant_id, m.policy_id)
}

/// `GET /api/{api}/confirmed`: what follows an accepted submit.
pub(crate) async fn confirmed(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let (mut tx, load) = match checked(server, hosted, request).await {
        Ok(found) => found,
        Err(refusal) => return refusal.respond(server, Some((hosted, None)), request, false).await,
    };
    let hosted = load.hosted(hosted, &tx.policy);
    if matches!(tx.step, Step::Showing(_)) {
        let lang = tx.sign_in.context.culture.clone();
        return Refusal::OutOfOrder("The page has not been submitted yet.")
            .respond(server, Some((hosted, Some(&lang))), request, false)
            .await;
    }
    // B2C's page sends the keep-me-signed-in checkbox here, after the form.
    if request.param("rememberMe").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        server.executor(hosted).keep_signed_in_after(&mut tx.sign_in);
    }
    advance(server, hosted, tx, request).await
}

/// `GET /api/{api}/unified?claimsexchange=…` (a button or link) or `?local=signup`.
pub(crate) async fn unified(server: &Server, hosted: &Hosted, request: &Request) -> Response {
    let (mut tx, page, load) = match showing(server, hosted, request).await {
        Ok(found) => found,
        Err(refusal) => return refusal.respond(server, Some((hosted, None)), request, false).await,
    };
    let hosted = load.hosted(hosted, &tx.policy);
    let choice = match (request.param("claimsexchange"), request.param("local"), &page.kind) {
        (Some(exchange), _, _) => Some(exchange.to_owned()),
        (None, Some("signup"), PageKind::Selection { options, .. }) => sign_up_option(options),
        _ => None,
    };
    let lang = tx.sign_in.context.culture.clone();
    let Some(choice) = choice else {
        return Refusal::OutOfOrder("The request names no claims exchange this page offers.")
            .respond(server, Some((hosted, Some(&lang))), request, false)
            .await;
    };
    let executor = server.executor(hosted);
    match executor.resume(&mut tx.sign_in, Some(Answer::Choose(choice))).await {
        Ok(progress) => {
            tx.step = Step::Submitted(progress);
            advance(server, hosted, tx, request).await
        }
        Err(ExecError::BadAnswer { .. }) => {
            Refusal::OutOfOrder("The request names no claims exchange this page offers.")
                .respond(server, Some((hosted, Some(&lang))), request, false)
                .await
        }
        Err(e) => failed(server, hosted, tx, "AADB2C90085", &e, request).await,
    }
}

/// An identity provider's callback (`oauth2/authresp`, `oauth1/authresp`): the query of a GET
/// or the form of a `form_post`, handed to the profile that sent the browser there. The
/// sign-in is the one the browser's context cookie names, and it must be waiting on a redirect.
pub(crate) async fn callback(server: &Server, policies: &[Hosted], request: &Request) -> Response {
    // Before the sign-in is found, no policy names the page.
    let refused = |refusal: Refusal| async move { refusal.respond(server, None, request, false).await };
    let Some(tid) = request.cookie(CONTEXT_COOKIE) else { return refused(Refusal::State).await };
    let mut tx = match load(server, tid).await {
        Ok(tx) => tx,
        Err(refusal) => return refused(refusal).await,
    };
    if request.cookie(TRANS_COOKIE) != Some(tx.browser.as_str()) {
        return refused(Refusal::Browser).await;
    }
    if !matches!(&tx.step, Step::Showing(Page { kind: PageKind::Redirect { .. }, .. })) {
        return refused(Refusal::OutOfOrder("The sign-in is not waiting for an identity provider.")).await;
    }
    let Some(hosted) = crate::find(policies, None, &tx.policy) else {
        return refused(Refusal::State).await;
    };
    let load = match load_for(server, hosted, &tx) {
        Ok(load) => load,
        Err(refusal) => return refused(refusal).await,
    };
    let hosted = load.hosted(hosted, &tx.policy);
    let params = if request.form.is_empty() { request.query.clone() } else { request.form.clone() };
    let executor = server.executor(hosted);
    let lang = tx.sign_in.context.culture.clone();
    let refuse =
        |refusal: Refusal| async move { refusal.respond(server, Some((hosted, Some(&lang))), request, false).await };
    match executor.resume(&mut tx.sign_in, Some(Answer::Callback(params))).await {
        Ok(progress) => {
            tx.step = Step::Submitted(progress);
            advance(server, hosted, tx, request).await
        }
        // The callback posted twice (the request that took it first goes on with the sign-in), or
        // the shared replay guard failing: refused, the sign-in kept for a retry.
        Err(ExecError::Replayed { .. }) => refuse(Refusal::Replayed).await,
        Err(ExecError::Unavailable { .. }) => refuse(Refusal::Unavailable).await,
        Err(e) => failed(server, hosted, tx, "AADB2C90273", &e, request).await,
    }
}

/// The sign-up link of a combined page: the only button, or the one named for sign-up.
fn sign_up_option(options: &[String]) -> Option<String> {
    match options {
        [only] => Some(only.clone()),
        _ => options.iter().find(|o| o.to_ascii_lowercase().contains("signup")).cloned(),
    }
}

/// The developer page: each relying party served, its metadata and, when the development app
/// can reach the server itself, a "Run now" link that signs in and shows the token.
pub(crate) fn home(server: &Server) -> Response {
    let run = crate::oauth::run_now_uri(server);
    let dev = server.apps.get(crate::apps::DEV_CLIENT_ID).filter(|a| a.platform_of(&run).is_some());
    // A refused reload: the policies below are the last good ones.
    let reload = match server.reload_error() {
        Some(error) => format!(
            "<div id=\"reload-error\"><p>The policy files changed but do not load; still serving the last good version.</p><pre>{}</pre></div>",
            escape_html(&error)
        ),
        None => String::new(),
    };
    let mut rows = String::new();
    for hosted in server.policies().iter() {
        let m = &hosted.policy.model;
        let metadata =
            format!("{}/{}/{}/v2.0/.well-known/openid-configuration", server.public_url, m.tenant_id, m.policy_id);
        let link = match dev {
            Some(app) => {
                let query = form_encode(&[
                    ("client_id", app.client_id.as_str()),
                    ("redirect_uri", run.as_str()),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("nonce", "defaultNonce"),
                    // Names the sign-in whose trace the result page shows.
                    ("state", &server.random(16)),
                ]);
                let href = format!("/{}/{}/oauth2/v2.0/authorize?{query}", m.tenant_id, m.policy_id);
                format!(" <a class=\"run\" href=\"{}\">Run now</a>", escape_html(&href))
            }
            None => String::new(),
        };
        rows.push_str(&format!(
            "<li>{} <a href=\"{}\">metadata</a>{link}</li>",
            escape_html(&m.policy_id),
            escape_html(&metadata)
        ));
    }
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ief serve</title></head>\
<body><h1>ief serve</h1>{reload}<ul>{rows}</ul></body></html>"
        ),
    )
}
