//! Page rendering (server-spec §2): the content definition's template with B2C's page shell
//! (`SETTINGS`, `CONTENT`, `SA_FIELDS`, `CP`), our page script, and the page itself in
//! `<div id="api">` with B2C's ids and classes, as plain HTML forms that work without JavaScript.

mod fragment;
pub(crate) mod i18n;
pub(crate) mod template;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use ief_engine::exec::{Field, Page, PageKind};
use ief_engine::model::{ContentDefinition, Policy, StepType};
use ief_engine::syntax::Element;
use serde_json::{Value, json};

use crate::pages::{CSRF_COOKIE, tx_param};
use crate::store::{Step, Transaction};
use crate::{Hosted, Request, Server, cookie, escape_html, form_encode, html};
use i18n::Strings;
use template::{Family, Merge, Source};

pub(crate) use template::Cache as TemplateCache;

/// Where our page script is served, under `SETTINGS.hosts.static`.
const SCRIPT_PATH: &str = "ief/page.js";

/// `SETTINGS.api` of a page: how the page's calls name it.
pub(crate) fn api_of(page: &Page) -> &'static str {
    names_of(&page.kind).0
}

/// A page's `SETTINGS.api`, `data-name` and the page type its kind implies, as B2C names them.
fn names_of(kind: &PageKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        PageKind::Selection { sign_in: Some(_), .. } => ("CombinedSigninAndSignup", "Unified", "unifiedssp"),
        PageKind::Selection { .. } => ("ClaimsProviderSelection", "IdpSelections", "providerselection"),
        PageKind::Code { .. } => ("Phonefactor", "Phonefactor", "multifactor"),
        PageKind::Form { .. } | PageKind::Redirect { .. } => ("SelfAsserted", "SelfAsserted", "selfasserted"),
    }
}

/// The page type of a `DataUri` (`urn:com:microsoft:aad:b2c:elements[:contract]:{page}:{version}`)
/// and whether it is a JavaScript-enabled page contract; else the type the page's kind implies.
fn page_type(data_uri: Option<&str>, kind: &PageKind) -> (&'static str, bool) {
    let parts: Vec<String> = data_uri.unwrap_or_default().split(':').map(str::to_ascii_lowercase).collect();
    let contract = parts.iter().any(|p| p == "contract");
    let named = parts.iter().find_map(|p| match p.as_str() {
        "unifiedssp" | "unifiedssd" => Some("unifiedssp"),
        "selfasserted" | "claimsconsent" => Some("selfasserted"),
        "multifactor" => Some("multifactor"),
        "providerselection" | "idpselection" => Some("providerselection"),
        "globalexception" => Some("globalexception"),
        _ => None,
    });
    (named.unwrap_or(names_of(kind).2), contract)
}

/// The content definition of a page: its profile's `ContentDefinitionReferenceId`, or for a
/// selection page the one its orchestration step names (the relying party's journey first).
fn content_definition<'p>(policy: &'p Policy, page: &Page) -> Option<&'p ContentDefinition> {
    let profile_cd = || policy.profile(&page.profile).and_then(|tp| tp.metadata("ContentDefinitionReferenceId"));
    let id = match &page.kind {
        PageKind::Selection { sign_in, options } if !options.is_empty() || sign_in.is_some() => {
            let wanted =
                if sign_in.is_some() { StepType::CombinedSignInAndSignUp } else { StepType::ClaimsProviderSelection };
            let default = policy.default_journey().and_then(|id| policy.journey(id));
            let step_cd = default
                .into_iter()
                .chain(policy.user_journeys.iter())
                .chain(policy.sub_journeys.iter())
                .flat_map(|j| j.steps.iter())
                .filter(|s| s.step_type == wanted)
                .find_map(|s| s.content_definition.as_ref().map(|t| t.as_str()));
            // A phone factor's number choice is a selection of its own profile.
            if sign_in.is_none() && policy.profile(&page.profile).is_some() {
                profile_cd()
            } else {
                step_cd.or_else(profile_cd)
            }
        }
        _ => profile_cd(),
    }?;
    policy.content_definitions.iter().find(|c| c.id.value == id.trim())
}

/// The fields of a page: a form's own, or the sign-in form of a combined page.
fn fields_of(hosted: &Hosted, page: &Page) -> Vec<Field> {
    match &page.kind {
        PageKind::Form { fields } => fields.clone(),
        PageKind::Selection { sign_in: Some(_), .. } => {
            let model = &hosted.policy.model;
            model
                .profile(&page.profile)
                .map(|tp| ief_protocols::self_asserted::page_fields(model, tp))
                .unwrap_or_default()
                .into_iter()
                .map(|f| Field { claim: f.claim, input_type: f.input_type, required: f.required, prefilled: None })
                .collect()
        }
        PageKind::Code { .. } => vec![Field {
            claim: "verificationCode".to_owned(),
            input_type: Some("TextBox".to_owned()),
            required: true,
            prefilled: None,
        }],
        PageKind::Selection { .. } | PageKind::Redirect { .. } => Vec::new(),
    }
}

/// A JSON value inside a `<script>`: no markup character appears as itself, so nothing a user
/// typed can end the script or start a tag.
fn script_json(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The relying party's `UserJourneyBehaviors` child of that name.
fn behaviour<'t>(tree: &'t Element, name: &str) -> Option<&'t Element> {
    tree.child("RelyingParty")?.child("UserJourneyBehaviors")?.child(name)
}

/// A `LoadUri` with `{Culture:…}` filled and the relying party's `ContentDefinitionParameters`
/// appended (their `{OAUTH-KV:name}` from the authorization request).
fn load_uri(tree: &Element, uri: &str, lang: &str, query: &[(String, String)]) -> String {
    let primary = lang.split('-').next().unwrap_or(lang);
    let fill = |text: &str| {
        let mut out = text.replace("{Culture:RFC5646}", lang).replace("{Culture:LanguageName}", primary);
        while let Some(start) = out.find("{OAUTH-KV:") {
            let Some(len) = out[start..].find('}') else { break };
            let name = &out[start + 10..start + len];
            let value = query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
            out.replace_range(start..=start + len, &value);
        }
        out
    };
    let mut uri = fill(uri.trim());
    let params: Vec<(String, String)> = behaviour(tree, "ContentDefinitionParameters")
        .map(|p| {
            p.children_named("Parameter").filter_map(|e| Some((e.attr("Name")?.to_owned(), fill(e.text())))).collect()
        })
        .unwrap_or_default();
    if !params.is_empty() {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(&form_encode(&pairs));
    }
    uri
}

/// What a fragment needs to draw a page.
pub(crate) struct View<'a> {
    policy: &'a Policy,
    tree: &'a Element,
    page: &'a Page,
    strings: Strings,
    /// B2C's English, to recognise an engine message the policy localized.
    english: Strings,
    tenant_path: String,
    txp: String,
    csrf: &'a str,
    api: &'static str,
    page_type: &'static str,
    fields: Vec<Field>,
    /// The selection's buttons (the executor leaves hidden links out).
    options: &'a [String],
}

impl View<'_> {
    /// `csrf_token`, `tx` and `p` after `extra`: a page call's query.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        pairs.extend([("csrf_token", self.csrf), ("tx", self.txp.as_str()), ("p", self.policy.policy_id.as_str())]);
        form_encode(&pairs)
    }

    fn ux<'s>(&'s self, id: &str, fallback: &'s str) -> &'s str {
        self.strings.ux(id, fallback)
    }
}

pub(crate) async fn render(server: &Server, hosted: &Hosted, tx: &Transaction, status: StatusCode) -> Response {
    let Step::Showing(page) = &tx.step else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let m = &hosted.policy.model;
    let tree = &hosted.policy.tree;
    let lang = tx.sign_in.context.culture.clone();
    let content = content_definition(m, page);
    let (page_type, contract) = page_type(content.and_then(|c| c.data_uri.as_deref()), &page.kind);
    let (api, data_name, _) = names_of(&page.kind);
    let options: &[String] = match &page.kind {
        PageKind::Selection { options, .. } => options,
        _ => &[],
    };
    let view = View {
        policy: m,
        tree,
        page,
        strings: Strings::of(m, page_type, content, &lang),
        english: Strings::builtin(page_type),
        tenant_path: format!("/{}/{}", m.tenant_id, m.policy_id),
        txp: tx_param(&tx.id),
        csrf: &tx.csrf,
        api,
        page_type,
        fields: fields_of(hosted, page),
        options,
    };
    let fields = fragment::field_views(&view);
    let body = fragment::body(&view, &fields);

    let static_base = format!("{}/static/", server.public_url);
    let (template, remote, problem) = template_of(server, hosted, content, &lang, &tx.sign_in.context.query).await;
    let scripts = contract && behaviour(tree, "ScriptExecution").is_some_and(|s| s.text().trim() == "Allow");

    let (country, language) = match lang.split_once('-') {
        Some((l, c)) => (c.to_owned(), l.to_owned()),
        None => (String::new(), lang.clone()),
    };
    let settings = json!({
        "remoteResource": remote,
        "retryLimit": page.settings.retry_limit.unwrap_or(3),
        "trimSpacesInPassword": true,
        "api": api,
        "csrf": tx.csrf,
        "transId": view.txp,
        "pageViewId": server.guid(),
        "suppressElementCss": false,
        "isPageViewIdSentWithHeader": false,
        "allowAutoFocusOnPasswordField": true,
        "pageMode": 0,
        "config": {
            "showSignupLink": if page.settings.show_signup_link && !options.is_empty() { "True" } else { "False" },
            "operatingMode": page.settings.operating_mode.as_deref().unwrap_or("Email"),
            "enableRememberMe": if page.settings.enable_remember_me { "true" } else { "false" },
            "forgotPasswordLinkLocation": format!("{:?}", page.settings.forgot_password_link_location),
            "showCancelButton": if page.settings.show_cancel_button { "true" } else { "false" },
            "showContinueButton": if page.settings.show_continue_button { "true" } else { "false" },
        },
        "hosts": { "tenant": view.tenant_path, "policy": m.policy_id, "static": static_base },
        "locale": { "lang": language, "country": country },
        "xhrSettings": { "retryEnabled": true, "retryMaxAttempts": 3, "retryDelay": 200, "retryExponent": 2,
                         "retryOn": ["error", "timeout"] },
    });
    let content_json: serde_json::Map<String, Value> =
        view.strings.ux.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    let sa_fields: Vec<Value> = fields.iter().map(fragment::FieldView::sa_field).collect();
    let cp: Vec<Value> =
        options.iter().map(|o| json!({ "id": o, "description": view.strings.provider(o).unwrap_or(o) })).collect();
    let head = format!(
        "<meta charset=\"utf-8\"><title>{title}</title>\
<script data-container=\"true\">var SETTINGS = {settings};\nvar CONTENT = {content};\nvar SA_FIELDS = {{\"AttributeFields\":{fields}}};\nvar CP = {{\"list\":{cp}}};</script>\
<script src=\"{static_base}{SCRIPT_PATH}\" defer></script>",
        // The profile names the page for drivers (ief run --server); a provider choice has none.
        title = escape_html(if page.profile.is_empty() { view.ux("intro", "Sign in") } else { &page.profile }),
        settings = script_json(&settings),
        content = script_json(&Value::Object(content_json)),
        fields = script_json(&Value::from(sa_fields)),
        cp = script_json(&Value::from(cp)),
    );
    let notice = template_notice(problem);
    let merged = template::merge(
        &template,
        &Merge {
            lang: &lang,
            head: &head,
            api_attributes: &format!(" data-name=\"{data_name}\" data-page=\"{page_type}\""),
            api: &format!("{notice}{body}"),
            scripts,
        },
    );
    let mut response = html(status, merged);
    frame_headers(&mut response, tree);
    response.headers_mut().append(header::SET_COOKIE, cookie(server, CSRF_COOKIE, &tx.csrf));
    response
}

/// A content definition's template (`AzureBlue` when it names none), where the page script
/// finds it (`SETTINGS.remoteResource`), and why the Classic one stands in when it cannot be had.
async fn template_of(
    server: &Server,
    hosted: &Hosted,
    content: Option<&ContentDefinition>,
    lang: &str,
    query: &[(String, String)],
) -> (std::sync::Arc<String>, String, Option<String>) {
    let written =
        content.and_then(|c| c.load_uri.as_deref()).unwrap_or("~/tenant/templates/AzureBlue/selfAsserted.cshtml");
    let uri = load_uri(&hosted.policy.tree, written, lang, query);
    let (source, problem) = match template::resolve(&uri, &hosted.folder) {
        Ok(source) => (source, None),
        Err(e) => (Source::Builtin(Family::Default), Some(e.to_string())),
    };
    let remote = match &source {
        Source::Builtin(_) => format!("{}/static/{}", server.public_url, uri.trim().trim_start_matches("~/")),
        _ => uri.clone(),
    };
    match server.templates.load(&source).await {
        Ok(text) => (text, remote, problem),
        Err(e) => (Family::Default.html(), remote, Some(e.to_string())),
    }
}

/// The notice a page shows when its template could not be had.
fn template_notice(problem: Option<String>) -> String {
    problem
        .map(|p| format!("<div class=\"ief-template-error\" role=\"alert\"><p>{}</p></div>", escape_html(&p)))
        .unwrap_or_default()
}

/// `JourneyFraming Enabled="true" Sources="…"` lets those origins frame the pages, as B2C;
/// otherwise no page may be framed.
fn frame_headers(response: &mut Response, tree: &Element) {
    let framing = behaviour(tree, "JourneyFraming").filter(|f| f.attr("Enabled").is_some_and(|e| e.trim() == "true"));
    let sources: Vec<&str> = framing
        .and_then(|f| f.attr("Sources"))
        .map(|s| s.split_whitespace().filter(|s| s.starts_with("https://") || s.starts_with("http://")).collect())
        .unwrap_or_default();
    if sources.is_empty() {
        return;
    }
    let headers = response.headers_mut();
    headers.remove(header::X_FRAME_OPTIONS);
    if let Ok(value) = HeaderValue::from_str(&format!("frame-ancestors {}", sources.join(" "))) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The content definition of the error page.
const ERROR_CONTENT: &str = "api.error";

/// The error page (`globalexception`): the code, the message and the correlation id. With the
/// policy known, its `api.error` content definition's template and strings in `lang` (else the
/// language the request asks for among the policy's); else the built-in Classic template.
pub(crate) async fn exception(
    server: &Server,
    request: &Request,
    code: &str,
    message: &str,
    policy: Option<(&Hosted, Option<&str>)>,
) -> Response {
    let (strings, lang, template, notice, tree) = match policy {
        Some((hosted, lang)) => {
            let m = &hosted.policy.model;
            let lang = lang.map(str::to_owned).unwrap_or_else(|| {
                i18n::choose(m.localization.as_ref(), request.param("ui_locales"), request.header("accept-language"))
            });
            let content = m.content_definitions.iter().find(|c| c.id.value == ERROR_CONTENT);
            let strings = Strings::of(m, "globalexception", content, &lang);
            let (template, _, problem) = template_of(server, hosted, content, &lang, &[]).await;
            (strings, lang, template, template_notice(problem), Some(&hosted.policy.tree))
        }
        None => (Strings::builtin("globalexception"), "en".to_owned(), Family::Default.html(), String::new(), None),
    };
    let timestamp = server.env.now().format("%Y-%m-%d %H:%M:%SZ");
    let body = format!(
        "{notice}<div class=\"error-page-content\"><h1>{title}</h1>\
<p class=\"error-page-detail\">{}: {}</p><p class=\"error-page-correlationid\">{cid} {}</p>\
<p class=\"error-page-timestamp\">{ts} {timestamp}</p></div>",
        escape_html(code),
        escape_html(message),
        escape_html(&request.correlation_id),
        title = escape_html(strings.ux("error_title", "")),
        cid = escape_html(strings.ux("correlation_id", "Correlation ID:")),
        ts = escape_html(strings.ux("timestamp", "Timestamp:")),
    );
    let page = template::merge(
        &template,
        &Merge {
            lang: &lang,
            head: "<meta charset=\"utf-8\"><title>Error</title>",
            api_attributes: " data-name=\"GlobalException\" data-page=\"globalexception\"",
            api: &body,
            scripts: false,
        },
    );
    let mut response = html(StatusCode::BAD_REQUEST, page);
    if let Some(tree) = tree {
        frame_headers(&mut response, tree);
    }
    response
}

/// `GET /static/…`: our page script and the built-in templates, for templates and tools that
/// load them by `SETTINGS.hosts.static` and `SETTINGS.remoteResource`.
pub(crate) fn static_file(path: &str) -> Option<Response> {
    let (body, kind) = if path == format!("/static/{SCRIPT_PATH}") {
        (include_str!("page.js").to_owned(), "text/javascript; charset=utf-8")
    } else {
        (Family::of(path)?.html().to_string(), "text/html; charset=utf-8")
    };
    let mut response = html(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Templates are fetched cross-origin by B2C's page bundle; ours are public.
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_name_the_page_type_and_the_contract() {
        let form = PageKind::Form { fields: Vec::new() };
        assert_eq!(
            page_type(Some("urn:com:microsoft:aad:b2c:elements:contract:unifiedssp:2.1.7"), &form),
            ("unifiedssp", true)
        );
        assert_eq!(
            page_type(Some("urn:com:microsoft:aad:b2c:elements:idpselection:1.0.0"), &form),
            ("providerselection", false)
        );
        assert_eq!(page_type(None, &PageKind::Code { to: String::new() }), ("multifactor", false));
        assert_eq!(page_type(Some("urn:nonsense"), &form), ("selfasserted", false));
    }
}
