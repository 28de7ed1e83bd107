//! Page rendering (server-spec §2): B2C's page shell with its `SETTINGS`, `CONTENT`,
//! `SA_FIELDS` and `CP` globals around a plain HTML form that works without JavaScript.

use axum::http::{StatusCode, header};
use axum::response::Response;
use ief_engine::exec::{Field, Page, PageKind};
use serde_json::{Value, json};

use crate::pages::{CSRF_COOKIE, tx_param};
use crate::store::{Step, Transaction};
use crate::{Hosted, Request, Server, cookie, escape_html, form_encode, html};

/// `SETTINGS.api` and the fragment's `data-name` of a page.
pub(crate) fn api_of(page: &Page) -> &'static str {
    names_of(page).0
}

fn data_name(page: &Page) -> &'static str {
    names_of(page).1
}

/// A page's `SETTINGS.api` and `data-name`, as B2C names its page types.
fn names_of(page: &Page) -> (&'static str, &'static str) {
    match &page.kind {
        PageKind::Selection { sign_in: Some(_), .. } => ("CombinedSigninAndSignup", "Unified"),
        PageKind::Selection { .. } => ("ClaimsProviderSelection", "IdpSelections"),
        PageKind::Code { .. } => ("Phonefactor", "Phonefactor"),
        PageKind::Form { .. } | PageKind::Redirect { .. } => ("SelfAsserted", "SelfAsserted"),
    }
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

/// A JSON value inside a `<script>`: no `</script>` can end it early.
fn script_json(value: &Value) -> String {
    value.to_string().replace("</", "<\\/").replace("<!--", "<\\!--")
}

pub(crate) fn render(server: &Server, hosted: &Hosted, tx: &Transaction, status: StatusCode) -> Response {
    let Step::Showing(page) = &tx.step else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let m = &hosted.policy.model;
    let tenant_path = format!("/{}/{}", m.tenant_id, m.policy_id);
    let txp = tx_param(&tx.id);
    let api = api_of(page);
    let fields = fields_of(hosted, page);
    // The executor leaves links the page settings hide out of the options.
    let options: &[String] = match &page.kind {
        PageKind::Selection { options, .. } => options,
        _ => &[],
    };
    let settings = json!({
        "remoteResource": "",
        "retryLimit": 3,
        "trimSpacesInPassword": true,
        "api": api,
        "csrf": tx.csrf,
        "transId": txp,
        "pageViewId": server.guid(),
        "suppressElementCss": false,
        "isPageViewIdSentWithHeader": false,
        "allowAutoFocusOnPasswordField": true,
        "pageMode": 0,
        "config": {
            "showSignupLink": if page.settings.show_signup_link && !options.is_empty() { "True" } else { "False" },
            "operatingMode": page.settings.operating_mode.as_deref().unwrap_or("Email"),
        },
        "hosts": { "tenant": tenant_path, "policy": m.policy_id, "static": format!("{}/static/", server.public_url) },
        "locale": { "lang": "en", "country": "US" },
        "xhrSettings": { "retryEnabled": true, "retryMaxAttempts": 3, "retryDelay": 200, "retryExponent": 2,
                         "retryOn": ["error", "timeout"] },
    });
    let sa_fields: Vec<Value> = fields
        .iter()
        .map(|f| {
            let t = f.input_type.as_deref().unwrap_or("TextBox");
            json!({ "UX_INPUT_TYPE": t, "USER_INPUT_TYPE": t, "IS_TEXT": t == "TextBox", "IS_EMAIL": t == "EmailBox",
                    "IS_PASSWORD": t == "Password", "IS_REQ": f.required, "IS_RDO": t == "Readonly",
                    "ID": f.claim, "DN": display_name(hosted, &f.claim), "PRE": f.prefilled.clone().unwrap_or_default(),
                    "OPTIONS": [] })
        })
        .collect();
    let cp: Vec<Value> = options.iter().map(|o| json!({ "id": o, "description": o })).collect();
    let query = |extra: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        pairs.extend([("csrf_token", tx.csrf.as_str()), ("tx", txp.as_str()), ("p", m.policy_id.as_str())]);
        form_encode(&pairs)
    };
    let mut body = String::new();
    if let Some(error) = &page.error {
        body.push_str(&format!("<div class=\"error pageLevel\"><p role=\"alert\">{}</p></div>", escape_html(error)));
    }
    if !fields.is_empty() || matches!(page.kind, PageKind::Form { .. }) {
        let form_id = if api == "CombinedSigninAndSignup" { "localAccountForm" } else { "attributeVerification" };
        let action = format!("{tenant_path}/SelfAsserted?{}", form_encode(&[("tx", &txp), ("p", &m.policy_id)]));
        body.push_str(&format!(
            "<form id=\"{form_id}\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
<input type=\"hidden\" name=\"request_type\" value=\"RESPONSE\"><ul id=\"attributeList\">",
            escape_html(&action),
            escape_html(&tx.csrf)
        ));
        for f in &fields {
            let kind = match f.input_type.as_deref() {
                Some("Password") => "password",
                Some("EmailBox") => "email",
                _ => "text",
            };
            let readonly = if f.input_type.as_deref() == Some("Readonly") { " readonly" } else { "" };
            let required = if f.required { " required" } else { "" };
            body.push_str(&format!(
                "<li class=\"attrEntry\"><label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{value}\"{readonly}{required}></li>",
                id = escape_html(&f.claim),
                label = escape_html(&display_name(hosted, &f.claim)),
                value = escape_html(f.prefilled.as_deref().unwrap_or_default()),
            ));
        }
        let next = if api == "CombinedSigninAndSignup" { "next" } else { "continue" };
        body.push_str("</ul><div class=\"buttons\">");
        if page.settings.show_continue_button {
            body.push_str(&format!("<button id=\"{next}\" type=\"submit\">Continue</button>"));
        }
        if page.settings.show_cancel_button {
            body.push_str(
                "<button id=\"cancel\" name=\"cancel\" value=\"true\" type=\"submit\" formnovalidate>Cancel</button>",
            );
        }
        body.push_str("</div></form>");
    }
    if !options.is_empty() {
        body.push_str("<div class=\"options\">");
        for option in options {
            let href = format!("{tenant_path}/api/{api}/unified?{}", query(&[("claimsexchange", option)]));
            body.push_str(&format!(
                "<a class=\"accountButton\" id=\"{}\" href=\"{}\">{}</a>",
                escape_html(option),
                escape_html(&href),
                escape_html(option)
            ));
        }
        body.push_str("</div>");
        if api == "CombinedSigninAndSignup" {
            let href = format!("{tenant_path}/api/{api}/unified?{}", query(&[("local", "signup")]));
            body.push_str(&format!(
                "<div class=\"create\"><a id=\"createAccount\" href=\"{}\">Sign up now</a></div>",
                escape_html(&href)
            ));
        }
    }
    let page_html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<script data-container=\"true\">var SETTINGS = {settings};\nvar CONTENT = {{}};\nvar SA_FIELDS = {{\"AttributeFields\":{fields}}};\nvar CP = {{\"list\":{cp}}};</script></head>\
<body><div id=\"api\" data-name=\"{name}\">{body}</div></body></html>",
        title = escape_html(&page.profile),
        settings = script_json(&settings),
        fields = script_json(&Value::from(sa_fields)),
        cp = script_json(&Value::from(cp)),
        name = data_name(page),
    );
    let mut response = html(status, page_html);
    response.headers_mut().append(header::SET_COOKIE, cookie(server, CSRF_COOKIE, &tx.csrf));
    response
}

fn display_name(hosted: &Hosted, claim: &str) -> String {
    hosted.policy.model.claim(claim).and_then(|c| c.display_name.clone()).unwrap_or_else(|| claim.to_owned())
}

/// The error page (`globalexception`): the code, the message and the correlation id.
pub(crate) fn exception(server: &Server, request: &Request, code: &str, message: &str) -> Response {
    let timestamp = server.env.now().format("%Y-%m-%d %H:%M:%SZ");
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body>\
<div id=\"api\" data-name=\"GlobalException\"><div class=\"error-page-content\"><h1>Sorry, but we're having trouble signing you in.</h1>\
<p class=\"error-page-detail\">{}: {}</p><p class=\"error-page-correlationid\">Correlation ID: {}</p>\
<p class=\"error-page-timestamp\">Timestamp: {timestamp}</p></div></div></body></html>",
        escape_html(code),
        escape_html(message),
        escape_html(&request.correlation_id)
    );
    html(StatusCode::BAD_REQUEST, body)
}
