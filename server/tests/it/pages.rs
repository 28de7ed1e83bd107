//! What a person sees: each page type with B2C's ids and classes, templates (built in, a
//! policy's file or URL, sanitized), the language chosen, escaping and the page headers.
//! Pages are read with an HTML tokenizer, not string matching.

use std::collections::BTreeMap;
use std::path::PathBuf;

use html5gum::{Token, Tokenizer};
use serde_json::Value;

use crate::common::*;

const VOID: [&str; 8] = ["br", "hr", "img", "input", "link", "meta", "source", "wbr"];

/// An element of a page: its name, attributes and all the text inside it.
#[derive(Debug, Clone)]
struct El {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
}

impl El {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class").is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }
}

fn parse(html: &str) -> Vec<El> {
    let mut emitter = html5gum::DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut all: Vec<El> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                let attrs = tag
                    .attributes
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
                    .collect();
                all.push(El { name: name.clone(), attrs, text: String::new() });
                if !tag.self_closing && !VOID.contains(&name.as_str()) {
                    open.push(all.len() - 1);
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if let Some(at) = open.iter().rposition(|&i| all[i].name == name) {
                    open.truncate(at);
                }
            }
            Token::String(s) => {
                let s = String::from_utf8_lossy(&s);
                for &i in &open {
                    all[i].text.push_str(&s);
                }
            }
            _ => {}
        }
    }
    all
}

fn by_id<'a>(els: &'a [El], id: &str) -> &'a El {
    els.iter().find(|e| e.attr("id") == Some(id)).unwrap_or_else(|| panic!("no element #{id}"))
}

fn with_class<'a>(els: &'a [El], class: &str) -> Vec<&'a El> {
    els.iter().filter(|e| e.has_class(class)).collect()
}

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/pages/PagesDemo.xml")
}

async fn serve_paths(paths: Vec<PathBuf>) -> Running {
    serve_with("LocalAccounts", |o| {
        o.policy_paths = paths;
        o.settings.push(("IefStubUrl".to_owned(), "http://127.0.0.1:9".to_owned()));
    })
    .await
}

fn demo_browser(running: &Running) -> Browser {
    let mut browser = Browser::new(running);
    browser.tenant = "contoso.onmicrosoft.com".to_owned();
    browser.policy = "B2C_1A_PagesDemo".to_owned();
    browser
}

/// The page the demo policy shows first, asked for with these headers and parameters.
async fn demo_page(browser: &Browser, extra: &[(&str, &str)], accept_language: Option<&str>) -> Page {
    let mut request = browser.client.get(browser.authorize_url(extra));
    if let Some(language) = accept_language {
        request = request.header("Accept-Language", language);
    }
    page_of(request.send().await.expect("GET")).await
}

#[tokio::test]
async fn the_combined_page_has_b2c_s_ids_and_classes_and_its_links_work() {
    let running = serve("SocialAndLocalAccounts").await;
    let browser = Browser::new(&running);
    let response = browser.get(&browser.authorize_url(&[])).await;
    let headers = response.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
    let page = page_of(response).await;
    let els = parse(&page.html);
    assert_eq!(els.iter().find(|e| e.name == "html").and_then(|e| e.attr("lang")), Some("en"));
    let api = by_id(&els, "api");
    assert_eq!(api.attr("data-name"), Some("Unified"));
    // The starter pack's LoadUri names Ocean Blue: our own template of that family.
    assert!(els.iter().any(|e| e.name == "body" && e.has_class("ief-azureblue")), "{}", page.html);
    assert_eq!(by_id(&els, "localAccountForm").name, "form");
    assert_eq!(by_id(&els, "signInName").attr("type"), Some("email"));
    assert_eq!(by_id(&els, "password").attr("type"), Some("password"));
    assert_eq!(by_id(&els, "signInName_label").text, "Email Address");
    assert_eq!(by_id(&els, "next").text, "Sign in");
    assert_eq!(by_id(&els, "forgotPassword").text, "Forgot your password?");
    assert_eq!(by_id(&els, "createAccount").text, "Sign up now");
    let facebook = by_id(&els, "FacebookExchange");
    assert!(facebook.has_class("accountButton") && facebook.name == "button", "{facebook:?}");
    assert_eq!(facebook.text, "Facebook");
    assert!(with_class(&els, "pageLevel").iter().all(|e| e.attr("aria-hidden") == Some("true")));
    let script = els.iter().find(|e| e.name == "script" && e.attr("src").is_some()).expect("our page script");
    assert_eq!(script.attr("src"), Some(format!("{}/static/ief/page.js", running.base).as_str()));

    // The script and the built-in template are served where SETTINGS says.
    let js = browser.get(script.attr("src").unwrap_or_default()).await;
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(js.text().await.expect("body").contains("X-CSRF-TOKEN"));
    let remote = page.settings["remoteResource"].as_str().expect("remoteResource");
    assert!(remote.ends_with("/static/tenant/templates/AzureBlue/unified.cshtml"), "{remote}");
    assert!(browser.get(remote).await.text().await.expect("body").contains("<div id=\"api\"></div>"));

    // The Facebook button's form leads to Facebook.
    let form = els.iter().find(|e| e.name == "form" && e.attr("method") == Some("get")).expect("the buttons' form");
    let hidden: Vec<&str> = els
        .iter()
        .filter(|e| e.name == "input" && e.attr("type") == Some("hidden"))
        .filter_map(|e| e.attr("name"))
        .collect();
    assert!(
        hidden.ends_with(&["csrf_token", "tx", "p"]),
        "the buttons' form carries the page call's query: {hidden:?}"
    );
    let pairs =
        [("claimsexchange", "FacebookExchange"), ("csrf_token", &page.csrf()), ("tx", &page.tx()), ("p", POLICY)];
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let to_facebook = browser.get(&browser.url(&format!("{}?{query}", form.attr("action").unwrap_or_default()))).await;
    assert_eq!(to_facebook.status(), 302);
    assert!(to_facebook.headers()["location"].to_str().unwrap_or_default().contains("facebook.com"));

    // The forgot-password link: the starter pack's base journey answers the application with AADB2C90118.
    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[])).await;
    let href = parse(&page.html).into_iter().find(|e| e.attr("id") == Some("forgotPassword")).expect("link");
    let forgot = other.get(&other.url(href.attr("href").unwrap_or_default())).await;
    assert_eq!(forgot.status(), 302);
    let params = redirect_params(&forgot);
    assert!(param(&params, "error_description").is_some_and(|d| d.starts_with("AADB2C90118")), "{params:?}");
}

#[tokio::test]
async fn the_demo_page_draws_each_input_type_on_the_policy_s_template_and_checks_on_the_server() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[], None).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let els = parse(&page.html);
    // The policy's own template (policies/pages/template.html), its page in #api.
    assert_eq!(with_class(&els, "brand").first().map(|e| e.text.as_str()), Some("Contoso"));
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("SelfAsserted"));
    assert_eq!(with_class(&els, "intro").first().map(|e| e.text.as_str()), Some("Create your Contoso account."));
    assert_eq!(by_id(&els, "terms").text, "By creating an account you accept the Contoso terms of use.");
    assert!(by_id(&els, "terms").has_class("textInParagraph"));
    let email = by_id(&els, "email");
    assert_eq!(email.attr("type"), Some("email"));
    assert!(email.attr("data-pattern").is_some_and(|p| p.starts_with("^[a-zA-Z0-9")), "{email:?}");
    assert_eq!(by_id(&els, "email_help").text, "The address we write to.");
    assert_eq!(by_id(&els, "displayName_help").text, "Your name as others see it.");
    let predicates: Value =
        serde_json::from_str(by_id(&els, "newPassword").attr("data-predicates").expect("predicates")).expect("JSON");
    assert_eq!(predicates[1]["atLeast"], 2);
    assert_eq!(predicates[1]["predicates"][0]["params"]["CharacterSet"], "a-z");
    let country = by_id(&els, "country");
    assert!(country.name == "select" && country.has_class("dropdown_single"));
    let selected: Vec<&El> = els.iter().filter(|e| e.name == "option" && e.attrs.contains_key("selected")).collect();
    assert_eq!(selected.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["United States"]);
    assert!(by_id(&els, "accountType_personal").attrs.contains_key("checked"));
    assert_eq!(by_id(&els, "accountType_work").attr("type"), Some("radio"));
    assert_eq!(by_id(&els, "newsletter_events").attr("type"), Some("checkbox"));
    assert_eq!(by_id(&els, "continue").text, "Create");
    assert_eq!(by_id(&els, "cancel").text, "Cancel");
    assert!(with_class(&els, "itemLevel").len() >= 6);
    let fields = page.html.split_once("var SA_FIELDS = ").and_then(|(_, r)| r.split_once(";\n")).expect("SA_FIELDS").0;
    let fields: Value = serde_json::from_str(fields).expect("JSON");
    let country =
        fields["AttributeFields"].as_array().into_iter().flatten().find(|f| f["ID"] == "country").expect("country");
    assert_eq!(country["IS_DROP"], true);
    assert_eq!(country["OPTIONS"][2], serde_json::json!({ "DN": "United States", "VAL": "US", "SEL": true }));

    // The server checks what the page script checks: the predicates, then the pattern.
    let good = [
        ("email", "zoe@contoso.com"),
        ("displayName", "Zoe"),
        ("newPassword", "lowercase1"),
        ("country", "FR"),
        ("accountType", "work"),
    ];
    let mut weak = good;
    weak[2] = ("newPassword", "short");
    let body: Value = browser.submit(&page, &weak).await.json().await.expect("JSON");
    assert_eq!(body["status"], "400", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("8 to 64")), "{body}");
    let mut bad_email = good;
    bad_email[0] = ("email", "not an address");
    let body: Value = browser.submit(&page, &bad_email).await.json().await.expect("JSON");
    assert_eq!(body["status"], "400", "{body}");
    let body: Value = browser.submit(&page, &good).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let done = browser.confirmed(&page).await;
    assert_eq!(done.status(), 302);
    let params = redirect_params(&done);
    let (status, tokens) = browser.redeem(param(&params, "code").expect("code")).await;
    assert_eq!(status, 200, "{tokens}");
    let token = claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!((token["country"].as_str(), token["accountType"].as_str()), (Some("FR"), Some("work")));
}

#[tokio::test]
async fn check_boxes_post_every_box_ticked_and_an_empty_field_when_none_is() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[], None).await;
    let els = parse(&page.html);
    // Browsers post no unticked box: the group's own empty field says none is ticked.
    let empty = els
        .iter()
        .find(|e| e.name == "input" && e.attr("name") == Some("newsletter") && e.attr("type") == Some("hidden"));
    assert_eq!(empty.and_then(|e| e.attr("value")), Some(""), "{}", page.html);
    let form = [("email", "zoe@contoso.com"), ("displayName", "Zoe"), ("newPassword", "lowercase1"), ("country", "FR")];
    // A plain form posts each ticked box as its own field: all are checked, not the last alone.
    let ticked = [("newsletter", ""), ("newsletter", "bogus"), ("newsletter", "events")];
    let body: Value = browser.submit(&page, &[&form[..], &ticked[..]].concat()).await.json().await.expect("JSON");
    assert_eq!(body["status"], "400", "{body}");
    let ticked = [("newsletter", ""), ("newsletter", "product"), ("newsletter", "events")];
    let body: Value = browser.submit(&page, &[&form[..], &ticked[..]].concat()).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
}

#[tokio::test]
async fn the_language_is_ui_locales_then_accept_language_then_the_default() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let french = demo_page(&browser, &[("ui_locales", "fr")], Some("de")).await;
    let els = parse(&french.html);
    assert_eq!(els.iter().find(|e| e.name == "html").and_then(|e| e.attr("lang")), Some("fr"));
    assert_eq!(french.settings["locale"]["lang"], "fr");
    assert_eq!(by_id(&els, "email_label").text, "Adresse e-mail");
    assert_eq!(by_id(&els, "email_help").text, "L'adresse à laquelle nous vous écrivons.");
    assert_eq!(by_id(&els, "email").attr("data-pattern-help"), Some("Saisissez une adresse e-mail valide."));
    assert_eq!(by_id(&els, "continue").text, "Créer");
    assert_eq!(by_id(&els, "cancel").text, "Annuler");
    let labels: Vec<&str> = els.iter().filter(|e| e.name == "label").map(|e| e.text.as_str()).collect();
    assert!(labels.contains(&"Professionnel") && labels.contains(&"Type de compte"), "{labels:?}");
    let options: Vec<&str> = els.iter().filter(|e| e.name == "option").map(|e| e.text.as_str()).collect();
    assert_eq!(options, ["", "France", "Allemagne", "États-Unis"]);
    assert!(french.html.contains("\"initial_intro\":\"Créez votre compte Contoso.\""), "CONTENT is French");
    let predicates: Value =
        serde_json::from_str(by_id(&els, "newPassword").attr("data-predicates").expect("predicates")).expect("JSON");
    assert_eq!(predicates[0]["help"], "Le mot de passe doit compter de 8 à 64 caractères.");
    assert_eq!(predicates[1]["predicates"][0]["help"], "une minuscule");

    let by_browser = demo_page(&browser, &[], Some("de-DE, fr-CA;q=0.8, en;q=0.5")).await;
    assert_eq!(by_id(&parse(&by_browser.html), "continue").text, "Créer");
    let unsupported = demo_page(&browser, &[("ui_locales", "es")], Some("fr")).await;
    assert_eq!(by_id(&parse(&unsupported.html), "continue").text, "Créer");
    let default = demo_page(&browser, &[], Some("de")).await;
    assert_eq!(by_id(&parse(&default.html), "continue").text, "Create");
    assert_eq!(default.settings["locale"]["lang"], "en");
}

#[tokio::test]
async fn a_display_control_draws_its_claims_and_buttons() {
    let control =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/displaycontrols/EmailVerificationControl.xml");
    let running = serve_paths(vec![control]).await;
    let mut browser = Browser::new(&running);
    browser.tenant = "contoso.onmicrosoft.com".to_owned();
    browser.policy = "B2C_1A_EmailVerificationControl".to_owned();
    let page = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let els = parse(&page.html);
    let block = by_id(&els, "emailVerificationControl");
    assert!(block.has_class("verificationControlContent"), "{block:?}");
    assert_eq!(block.attr("data-control"), Some("emailVerificationControl"));
    for (id, class) in [
        ("emailVerificationControl_but_send_code", "sendCode"),
        ("emailVerificationControl_but_verify_code", "verifyCode"),
        ("emailVerificationControl_but_send_new_code", "sendNewCode"),
        ("emailVerificationControl_but_change_claims", "changeClaims"),
    ] {
        assert!(by_id(&els, id).has_class(class), "{id}");
    }
    assert_eq!(by_id(&els, "emailVerificationControl_but_send_code").text, "Send verification code");
    // Until a code is sent only "send" shows; the others are hidden, so not focusable.
    assert!(!by_id(&els, "emailVerificationControl_but_send_code").attrs.contains_key("hidden"));
    assert!(by_id(&els, "emailVerificationControl_but_verify_code").attrs.contains_key("hidden"));
    assert!(by_id(&els, "emailVerificationControl_but_change_claims").attrs.contains_key("hidden"));
    // The address is the form's; the code goes only with the control's VerifyCode call.
    assert_eq!(by_id(&els, "email").attr("name"), Some("email"));
    let code = by_id(&els, "emailVerificationControl_verificationCode");
    assert!(code.attr("name").is_none() && code.attr("data-claim") == Some("verificationCode"), "{code:?}");
    assert_eq!(by_id(&els, "displayName").attr("type"), Some("text"));
    assert!(
        els.iter().position(|e| e.attr("id") == Some("emailVerificationControl"))
            < els.iter().position(|e| e.attr("id") == Some("displayName"))
    );
}

#[tokio::test]
async fn the_error_page_shows_the_correlation_id_and_escapes_what_the_request_said() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let hostile = "<img src=x onerror=alert(1)>";
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs([("p", hostile)]).finish();
    let response = browser.get(&browser.url(&format!("/{TENANT}/oauth2/v2.0/authorize?{query}"))).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = response.text().await.expect("body");
    let els = parse(&html);
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("GlobalException"));
    assert!(!els.iter().any(|e| e.name == "img"), "{html}");
    let detail = &with_class(&els, "error-page-detail")[0].text;
    assert!(detail.starts_with("AADB2C90018: ") && detail.contains(hostile), "shown as text: {detail}");
    let cid = &with_class(&els, "error-page-correlationid")[0].text;
    let id = cid.rsplit(' ').next().unwrap_or_default();
    assert_eq!(id.len(), 36, "a GUID: {cid}");
}

#[tokio::test]
async fn the_error_page_is_the_policy_s_api_error_page_in_the_sign_in_s_language() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let error_page = |html: &str| {
        let els = parse(html);
        assert_eq!(by_id(&els, "api").attr("data-name"), Some("GlobalException"), "{html}");
        // The demo's api.error names our custom template.
        assert!(els.iter().any(|e| e.name == "header" && e.has_class("brand")), "{html}");
        let lang = els.iter().find(|e| e.name == "html").and_then(|e| e.attr("lang")).map(str::to_owned);
        let title = els.iter().find(|e| e.name == "h1").map(|e| e.text.clone()).unwrap_or_default();
        let cid = with_class(&els, "error-page-correlationid")[0].text.clone();
        (lang, title, cid)
    };
    // An unregistered client: its redirect URI cannot be trusted, so the error is a page.
    let french = browser.get(&browser.authorize_url(&[("client_id", "nobody"), ("ui_locales", "fr")])).await;
    assert_eq!(french.status(), 400);
    let (lang, title, cid) = error_page(&french.text().await.expect("body"));
    assert_eq!(lang.as_deref(), Some("fr"));
    assert_eq!(title, "Désolé, nous ne parvenons pas à vous connecter.");
    assert!(cid.starts_with("ID de corrélation : "), "{cid}");
    let english = browser.get(&browser.authorize_url(&[("client_id", "nobody")])).await;
    let (lang, title, _) = error_page(&english.text().await.expect("body"));
    assert_eq!((lang.as_deref(), title.as_str()), (Some("en"), "Sorry, but we're having trouble signing you in."));

    // A page call out of order is refused in the sign-in's language, whatever the browser asks.
    let page = demo_page(&browser, &[("ui_locales", "fr")], None).await;
    let refused = browser.confirmed(&page).await;
    assert_eq!(refused.status(), 409);
    let (lang, title, _) = error_page(&refused.text().await.expect("body"));
    assert_eq!((lang.as_deref(), title.as_str()), (Some("fr"), "Désolé, nous ne parvenons pas à vous connecter."));
}

#[tokio::test]
async fn what_a_user_typed_is_escaped_when_the_page_shows_it_again() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[], None).await;
    let action = parse(&page.html)
        .into_iter()
        .find(|e| e.attr("id") == Some("attributeVerification"))
        .and_then(|e| e.attr("action").map(str::to_owned))
        .expect("form action");
    let hostile = "<img src=x onerror=alert(1)>";
    // No JavaScript: a plain form post with a weak password shows the page again.
    let again = browser
        .client
        .post(browser.url(&action))
        .form(&[
            ("csrf_token", page.csrf().as_str()),
            ("request_type", "RESPONSE"),
            ("email", "zoe@contoso.com"),
            ("displayName", hostile),
            ("newPassword", "weak"),
            ("country", "FR"),
            ("accountType", "work"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(again.status(), 200);
    let html = again.text().await.expect("body");
    let els = parse(&html);
    assert!(!els.iter().any(|e| e.name == "img"), "{html}");
    let error =
        with_class(&els, "pageLevel").into_iter().find(|e| e.attr("aria-hidden") == Some("false")).expect("error");
    assert!(error.text.contains("8 to 64"), "{error:?}");
    let shown = by_id(&els, "displayName").attr("value").unwrap_or_default().to_owned();
    assert_eq!(shown, hostile, "what was typed comes back, as text");
    assert!(!html.contains("<img"), "{html}");
}

/// A copy of the demo policy in a folder of its own, with another template and RP behaviours.
fn demo_copy(dir: &TempDir, template: &str, load_uri: &str, behaviours: &str) -> PathBuf {
    let xml = std::fs::read_to_string(demo()).expect("demo policy");
    let xml = xml.replace("<LoadUri>template.html</LoadUri>", &format!("<LoadUri>{load_uri}</LoadUri>"));
    let xml = xml.replace(
        "<DefaultUserJourney ReferenceId=\"SignUp\" />",
        &format!(
            "<DefaultUserJourney ReferenceId=\"SignUp\" /><UserJourneyBehaviors>{behaviours}</UserJourneyBehaviors>"
        ),
    );
    let path = dir.0.join("PagesDemo.xml");
    std::fs::write(&path, xml).expect("write policy");
    std::fs::write(dir.0.join("template.html"), template).expect("write template");
    path
}

#[tokio::test]
async fn templates_are_sanitized_scripts_need_script_execution_and_files_reload() {
    let hostile = "<html><head><script src=\"https://cdn.example/app.js\" defer></script></head>\
<body onload=\"steal()\"><iframe src=\"https://evil.example\"></iframe><form action=\"https://evil.example\">\
<div id=\"api\"></div></form><a href=\"javascript:alert(1)\">x</a><p id=\"marker\">v1</p></body></html>";
    let dir = TempDir::new("pages-sanitize");
    let running = serve_paths(vec![demo_copy(&dir, hostile, "template.html", "")]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[], None).await;
    let els = parse(&page.html);
    assert_eq!(by_id(&els, "marker").text, "v1");
    assert!(!els.iter().any(|e| e.name == "iframe" || e.attr("onload").is_some()), "{}", page.html);
    assert!(!page.html.contains("evil.example") && !page.html.contains("javascript:"), "{}", page.html);
    assert!(!page.html.contains("cdn.example"), "no ScriptExecution: no template script");
    let forms: Vec<&str> = els.iter().filter(|e| e.name == "form").filter_map(|e| e.attr("id")).collect();
    assert_eq!(forms, ["attributeVerification"], "only the page's own form");

    // The file changed on disk: the next page shows it.
    let path = dir.0.join("template.html");
    std::fs::write(&path, hostile.replace("v1", "v2")).expect("rewrite");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(later)).expect("touch");
    let page = demo_page(&browser, &[], None).await;
    assert_eq!(by_id(&parse(&page.html), "marker").text, "v2");

    // ScriptExecution=Allow on a contract page layout keeps the template's script, nothing else.
    let allowed = TempDir::new("pages-scripts");
    let running =
        serve_paths(vec![demo_copy(&allowed, hostile, "template.html", "<ScriptExecution>Allow</ScriptExecution>")])
            .await;
    let page = demo_page(&demo_browser(&running), &[], None).await;
    assert!(page.html.contains("<script defer=\"\" src=\"https://cdn.example/app.js\"></script>"), "{}", page.html);
    assert!(!page.html.contains("evil.example"), "{}", page.html);
}

/// Serves `router` on a free loopback port, for the server to call; its base URL.
async fn stub_host(router: axum::Router) -> String {
    let (listener, base) = listen("http://127.0.0.1").await;
    spawn_router(listener, router);
    base
}

/// An HTTP server answering `body` (HTML) to every request and recording the paths and queries.
async fn template_host(body: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = std::sync::Arc::clone(&log);
        async move {
            log.lock().expect("log").push(uri.to_string());
            axum::response::Html(body)
        }
    });
    (stub_host(router).await, seen)
}

#[tokio::test]
async fn a_url_template_is_fetched_with_the_culture_and_content_definition_parameters_then_cached() {
    let (host, seen) =
        template_host("<html><body><h1 id=\"remote\">Hosted</h1><div id=\"api\"></div></body></html>").await;
    let dir = TempDir::new("pages-url");
    let behaviours = "<ContentDefinitionParameters><Parameter Name=\"campaign\">{OAUTH-KV:campaign}</Parameter></ContentDefinitionParameters>";
    let policy = demo_copy(&dir, "", &format!("{host}/{{Culture:RFC5646}}/signup.html"), behaviours);
    let running = serve_paths(vec![policy]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[("ui_locales", "fr"), ("campaign", "spring")], None).await;
    let els = parse(&page.html);
    assert_eq!(by_id(&els, "remote").text, "Hosted");
    assert_eq!(by_id(&els, "continue").text, "Créer");
    assert_eq!(page.settings["remoteResource"], format!("{host}/fr/signup.html?campaign=spring"));
    demo_page(&browser, &[("ui_locales", "fr"), ("campaign", "spring")], None).await;
    assert_eq!(*seen.lock().expect("log"), ["/fr/signup.html?campaign=spring"], "fetched once, then cached");
}

#[tokio::test]
async fn the_authenticator_app_enrolment_page_draws_the_qr_code() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/samples/totp/policy");
    let running = serve_with("LocalAccounts", |o| {
        o.policy_paths.push(sample.join("TrustFrameworkExtensions_TOTP.xml"));
        o.policy_paths.push(sample.join("SignUpOrSignIn_TOTP.xml"));
    })
    .await;
    let mut browser = Browser::new(&running);
    browser.policy = "B2C_1A_Demo_SignUp_SignIn_TOTP".to_owned();
    let page = page_of(sign_up_pages(&browser, &browser.authorize_url(&[])).await).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let els = parse(&page.html);
    let svg = els.iter().find(|e| e.name == "svg").expect("the QR code, inline");
    assert_eq!(svg.attr("role"), Some("img"));
    let link = with_class(&els, "qrCodeLink");
    assert!(link[0].attr("href").is_some_and(|h| h.starts_with("otpauth://totp/")), "{:?}", link[0]);
    assert_eq!(link[0].text, "Can't scan? Try this", "the sample's localized string");
    // A paragraph claim without a value shows its (localized) name.
    assert!(by_id(&els, "QrCodeScanInstruction").text.starts_with("Once you've downloaded the Authenticator app"));
    let app_icons = by_id(&els, "authenticatorAppIconControl");
    assert!(app_icons.text.is_empty(), "no verification texts or buttons on other controls: {app_icons:?}");
}

/// What a browser without JavaScript sends for the form `id`: its named inputs as the page
/// filled them, with what the user typed on top; the response to the POST.
async fn post_form(browser: &Browser, html: &str, id: &str, typed: &[(&str, &str)]) -> reqwest::Response {
    let els = parse(html);
    let start = els.iter().position(|e| e.attr("id") == Some(id)).unwrap_or_else(|| panic!("no form #{id}: {html}"));
    let action = els[start].attr("action").expect("action").to_owned();
    let end = els[start + 1..].iter().position(|e| e.name == "form").map_or(els.len(), |p| start + 1 + p);
    let mut pairs: Vec<(String, String)> = els[start..end]
        .iter()
        .filter(|e| e.name == "input" && e.attr("type") != Some("checkbox") && e.attr("type") != Some("radio"))
        .filter_map(|e| Some((e.attr("name")?.to_owned(), e.attr("value").unwrap_or_default().to_owned())))
        .collect();
    for (k, v) in typed {
        match pairs.iter_mut().find(|(name, _)| name == k) {
            Some(pair) => pair.1 = (*v).to_owned(),
            None => pairs.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    browser.client.post(browser.url(&action)).form(&pairs).send().await.expect("POST")
}

/// Follows a form post's 303 to the page or redirect that comes next.
async fn after(browser: &Browser, posted: reqwest::Response) -> reqwest::Response {
    assert_eq!(posted.status(), 303, "{:?}", posted.text().await);
    let next = posted.headers()["location"].to_str().expect("location").to_owned();
    browser.get(&browser.url(&next)).await
}

#[tokio::test]
async fn plain_forms_sign_up_with_email_verification_and_retry_a_wrong_password() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let href = parse(&page.html).into_iter().find(|e| e.attr("id") == Some("createAccount")).expect("sign-up link");
    let form = browser.get(&browser.url(href.attr("href").unwrap_or_default())).await.text().await.expect("body");
    let code_page = after(&browser, post_form(&browser, &form, "attributeVerification", &ALICE).await).await;
    let code_page = code_page.text().await.expect("body");
    assert_eq!(by_id(&parse(&code_page), "api").attr("data-name"), Some("Phonefactor"), "{code_page}");
    let code = running.server.outbox().and_then(|o| o.last_code("alice@contoso.com")).expect("a code was sent");
    let verified =
        after(&browser, post_form(&browser, &code_page, "attributeVerification", &[("verificationCode", &code)]).await)
            .await;
    let verified = verified.text().await.expect("body");
    // The form again, the address verified: the browser sends what the page holds, passwords retyped.
    let passwords = [("newPassword", "Passw0rd!2024"), ("reenterPassword", "Passw0rd!2024")];
    let done = after(&browser, post_form(&browser, &verified, "attributeVerification", &passwords).await).await;
    assert_eq!(done.status(), 302, "{:?}", done.text().await);
    let params = redirect_params(&done);
    let (status, tokens) = browser.redeem(param(&params, "code").expect("code")).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(claims(tokens["id_token"].as_str().expect("id_token"))["email"], "alice@contoso.com");

    // A wrong password on the combined page: the same page again, with the error, to retry.
    let other = Browser::new(&running);
    let page = other.page(&other.authorize_url(&[])).await;
    let sign_in = [("signInName", "alice@contoso.com"), ("password", "wrong")];
    let again = post_form(&other, &page.html, "localAccountForm", &sign_in).await;
    assert_eq!(again.status(), 200);
    let again = again.text().await.expect("body");
    let els = parse(&again);
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("Unified"), "{again}");
    assert!(with_class(&els, "pageLevel").iter().any(|e| e.attr("aria-hidden") == Some("false") && !e.text.is_empty()));
    let retried = post_form(
        &other,
        &again,
        "localAccountForm",
        &[("signInName", "alice@contoso.com"), ("password", "Passw0rd!2024")],
    )
    .await;
    let done = after(&other, retried).await;
    assert_eq!(done.status(), 302, "{:?}", done.text().await);
}

#[tokio::test]
async fn a_plain_form_refused_by_its_validation_shows_what_was_typed_but_passwords() {
    let running = serve("LocalAccounts").await;
    // The address is taken once Alice has signed up; Bob tries it again.
    let alice = Browser::new(&running);
    sign_up(&alice).await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let href = parse(&page.html).into_iter().find(|e| e.attr("id") == Some("createAccount")).expect("sign-up link");
    let form = browser.get(&browser.url(href.attr("href").unwrap_or_default())).await.text().await.expect("body");
    let typed = [
        ("email", "alice@contoso.com"),
        ("newPassword", "Passw0rd!2024"),
        ("reenterPassword", "Passw0rd!2024"),
        ("displayName", "Bob Again"),
        ("givenName", "Bob"),
    ];
    let code_page = after(&browser, post_form(&browser, &form, "attributeVerification", &typed).await).await;
    let code_page = code_page.text().await.expect("body");
    let code = running.server.outbox().and_then(|o| o.last_code("alice@contoso.com")).expect("a code was sent");
    let verified =
        after(&browser, post_form(&browser, &code_page, "attributeVerification", &[("verificationCode", &code)]).await)
            .await;
    let verified = verified.text().await.expect("body");
    let passwords = [("newPassword", "Passw0rd!2024"), ("reenterPassword", "Passw0rd!2024"), ("displayName", "Bob B")];
    let refused = post_form(&browser, &verified, "attributeVerification", &passwords).await;
    assert_eq!(refused.status(), 200);
    let refused = refused.text().await.expect("body");
    let els = parse(&refused);
    assert!(with_class(&els, "pageLevel").iter().any(|e| e.attr("aria-hidden") == Some("false") && !e.text.is_empty()));
    assert_eq!(by_id(&els, "displayName").attr("value"), Some("Bob B"), "{refused}");
    assert_eq!(by_id(&els, "givenName").attr("value"), Some("Bob"));
    assert_eq!(by_id(&els, "newPassword").attr("value").unwrap_or_default(), "");
}

#[tokio::test]
async fn a_code_page_that_gives_way_to_its_form_sends_the_script_on_to_it() {
    let running = serve("LocalAccounts").await;
    let browser = Browser::new(&running);
    let page = browser.page(&browser.authorize_url(&[])).await;
    let form = page_of(browser.unified(&page, ("local", "signup")).await).await;
    let body: Value = browser.submit(&form, &ALICE).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let code_page = page_of(browser.confirmed(&form).await).await;
    assert_eq!(code_page.api(), "Phonefactor", "{}", code_page.html);
    let wrong = [("verificationCode", "000000")];
    let body: Value = browser.submit(&code_page, &wrong).await.json().await.expect("JSON");
    assert_eq!(body["status"], "400", "a wrong code: the code page stays: {body}");
    let _ = browser.submit(&code_page, &wrong).await;
    // The third voids the code: the form comes back with the reason, so the script goes on.
    let body: Value = browser.submit(&code_page, &wrong).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let again = page_of(browser.confirmed(&code_page).await).await;
    assert_eq!(again.api(), "SelfAsserted", "{}", again.html);
    let els = parse(&again.html);
    let shown = with_class(&els, "pageLevel").into_iter().find(|e| e.attr("aria-hidden") == Some("false"));
    assert_eq!(
        shown.map(|e| e.text.as_str()),
        Some("You've made too many incorrect attempts. Please try again later."),
        "{}",
        again.html
    );
}

#[tokio::test]
async fn the_provider_selection_page_offers_each_provider_by_name() {
    let running = serve("SocialAndLocalAccounts").await;
    let mut browser = Browser::new(&running);
    browser.policy = "B2C_1A_ProfileEdit".to_owned();
    let page = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let els = parse(&page.html);
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("IdpSelections"));
    assert_eq!(by_id(&els, "api").attr("data-page"), Some("providerselection"));
    assert!(els.iter().any(|e| e.name == "title" && !e.text.trim().is_empty()), "a page has a title");
    let buttons: Vec<(&str, &str)> = with_class(&els, "accountButton")
        .into_iter()
        .map(|b| (b.attr("id").unwrap_or_default(), b.text.as_str()))
        .collect();
    assert_eq!(
        buttons,
        [("FacebookExchange", "Facebook"), ("LocalAccountSigninEmailExchange", "Local Account Signin")]
    );
}

#[tokio::test]
async fn the_phone_factor_pages_ask_for_a_number_then_its_code() {
    let running = serve("SocialAndLocalAccountsWithMfa").await;
    let browser = Browser::new(&running);
    let enrol = page_of(sign_up_pages(&browser, &browser.authorize_url(&[])).await).await;
    assert_eq!(enrol.status, 200, "{}", enrol.html);
    let els = parse(&enrol.html);
    assert_eq!(by_id(&els, "api").attr("data-page"), Some("multifactor"), "{}", enrol.html);
    let number = els.iter().find(|e| e.name == "input" && e.attr("type") == Some("tel")).expect("a phone number input");
    let claim = number.attr("name").expect("named").to_owned();
    assert_eq!(by_id(&els, "verifyPhone").text, "Send Code");
    let body: Value = browser.submit(&enrol, &[(claim.as_str(), "+15555550100")]).await.json().await.expect("JSON");
    assert_eq!(body["status"], "200", "{body}");
    let code = page_of(browser.confirmed(&enrol).await).await;
    let els = parse(&code.html);
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("Phonefactor"), "{}", code.html);
    assert_eq!(by_id(&els, "verificationCode").attr("autocomplete"), Some("one-time-code"));
    assert_eq!(by_id(&els, "verifyCode").text, "Verify Code");
    assert!(
        by_id(&els, "codeDestination").text.ends_with("0100"),
        "the masked number: {}",
        by_id(&els, "codeDestination").text
    );

    // "Send a new code": the code page again and a second code; the first no longer works.
    let outbox = running.server.outbox().expect("an outbox");
    let first = outbox.last_code("+15555550100").expect("a code was sent");
    assert_eq!(by_id(&els, "retryCode").text, "Send a new code");
    let again =
        after(&browser, post_form(&browser, &code.html, "attributeVerification", &[("resend", "true")]).await).await;
    let again = again.text().await.expect("body");
    assert_eq!(by_id(&parse(&again), "api").attr("data-name"), Some("Phonefactor"), "{again}");
    let sent: Vec<_> = outbox.sent().into_iter().filter(|c| c.destination == "+15555550100").collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let second = outbox.last_code("+15555550100").expect("a new code");
    let mut again = again;
    // The first code is refused, unless the new one happens to be the same digits.
    if first != second {
        let wrong = post_form(&browser, &again, "attributeVerification", &[("verificationCode", &first)]).await;
        assert_eq!(wrong.status(), 200, "the code page again");
        again = wrong.text().await.expect("body");
        let els = parse(&again);
        assert!(with_class(&els, "pageLevel").iter().any(|e| e.attr("aria-hidden") == Some("false")), "{again}");
    }
    let done = post_form(&browser, &again, "attributeVerification", &[("verificationCode", &second)]).await;
    let done = after(&browser, done).await;
    assert_eq!(done.status(), 302, "{:?}", done.text().await);
}

#[tokio::test]
async fn the_starter_pack_runs_on_our_custom_template() {
    let custom = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/pages-starterpack");
    let running = serve_with("SocialAndLocalAccountsWithMfa", |o| o.policy_paths.push(custom)).await;
    let mut browser = Browser::new(&running);
    browser.policy = "B2C_1A_signup_signin_custom_template".to_owned();
    let page = browser.page(&browser.authorize_url(&[])).await;
    let els = parse(&page.html);
    assert_eq!(with_class(&els, "brand").first().map(|e| e.text.as_str()), Some("Contoso"), "{}", page.html);
    assert_eq!(by_id(&els, "api").attr("data-name"), Some("Unified"));
    assert!(page.settings["remoteResource"].as_str().is_some_and(|r| r.ends_with("../pages/template.html")));
    // Through sign-up with email verification to the phone factor, each page on the template.
    let mfa = page_of(sign_up_pages(&browser, &browser.authorize_url(&[])).await).await;
    let els = parse(&mfa.html);
    assert_eq!(with_class(&els, "brand").first().map(|e| e.text.as_str()), Some("Contoso"), "{}", mfa.html);
    assert_eq!(by_id(&els, "api").attr("data-page"), Some("multifactor"));
}

#[tokio::test]
async fn journey_framing_lets_only_its_sources_frame_the_pages() {
    let dir = TempDir::new("pages-framing");
    let behaviours = "<JourneyFraming Enabled=\"true\" Sources=\"https://app.example https://portal.example\" />";
    let policy = demo_copy(&dir, "<div id=\"api\"></div>", "template.html", behaviours);
    let running = serve_paths(vec![policy]).await;
    let browser = demo_browser(&running);
    let response = browser.get(&browser.authorize_url(&[])).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-frame-options").is_none());
    assert_eq!(
        response.headers()["content-security-policy"],
        "frame-ancestors https://app.example https://portal.example"
    );
}

#[tokio::test]
async fn the_server_s_checks_speak_the_sign_in_s_language() {
    let running = serve_paths(vec![demo()]).await;
    let browser = demo_browser(&running);
    let page = demo_page(&browser, &[("ui_locales", "fr")], None).await;
    let action = parse(&page.html)
        .into_iter()
        .find(|e| e.attr("id") == Some("attributeVerification"))
        .and_then(|e| e.attr("action").map(str::to_owned))
        .expect("form action");
    let form = [
        ("csrf_token", page.csrf()),
        ("request_type", "RESPONSE".to_owned()),
        ("email", "not-an-email".to_owned()),
        ("displayName", String::new()),
        ("newPassword", "weakweakweak".to_owned()),
        ("country", "ZZ".to_owned()),
        ("accountType", "work".to_owned()),
    ];
    let french = [
        // The claim's PatternHelpText, B2C's required_field, predicate and group help texts,
        // and the UserMessageIfInvalidInput error string, each as the policy words them in fr.
        "email: Saisissez une adresse e-mail valide.",
        "displayName: Cette information est obligatoire.",
        "newPassword: Le mot de passe doit contenir au moins deux éléments parmi : une minuscule, une majuscule, un chiffre. une majuscule un chiffre",
        "country: country : la saisie n'est pas valide.",
    ];
    // The page's script: B2C's JSON status with the message.
    let xhr = browser
        .client
        .post(browser.url(&action))
        .header("X-CSRF-TOKEN", page.csrf())
        .header("X-Requested-With", "XMLHttpRequest")
        .form(&form)
        .send()
        .await
        .expect("POST");
    let body: Value = xhr.json().await.expect("JSON");
    assert_eq!(body["status"], "400");
    assert_eq!(body["message"].as_str().map(|m| m.lines().collect::<Vec<_>>()), Some(french.to_vec()), "{body}");
    // Without JavaScript: the page again, the same words at its page level.
    let again = browser.client.post(browser.url(&action)).form(&form).send().await.expect("POST");
    let html = again.text().await.expect("body");
    let els = parse(&html);
    let error =
        with_class(&els, "pageLevel").into_iter().find(|e| e.attr("aria-hidden") == Some("false")).expect("error");
    assert_eq!(error.text.lines().collect::<Vec<_>>(), french.to_vec(), "{html}");
}

/// A mail API stub: answers `{}` to every POST and keeps the `code` of each JSON body.
async fn mail_host() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let codes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&codes);
    let router = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let log = std::sync::Arc::clone(&log);
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            if let Some(code) = body["code"].as_str() {
                log.lock().expect("log").push(code.to_owned());
            }
            axum::Json(serde_json::json!({}))
        }
    });
    (stub_host(router).await, codes)
}

#[tokio::test]
async fn a_display_control_sends_a_new_code_over_http_and_only_the_newest_verifies() {
    let (mail, codes) = mail_host().await;
    let control =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/displaycontrols/EmailVerificationControl.xml");
    let running = serve_with("LocalAccounts", |o| {
        o.policy_paths = vec![control];
        o.settings.push(("IefStubUrl".to_owned(), mail));
    })
    .await;
    let mut browser = Browser::new(&running);
    browser.tenant = "contoso.onmicrosoft.com".to_owned();
    browser.policy = "B2C_1A_EmailVerificationControl".to_owned();
    let page = browser.page(&browser.authorize_url(&[])).await;
    assert_eq!(page.status, 200, "{}", page.html);
    // The page script's calls: send, send a new code (SendCode again), verify.
    let press = |action: &'static str, form: Vec<(&'static str, String)>| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("tx", page.tx()), ("p", browser.policy.clone())])
            .finish();
        let url = browser
            .policy_url(&format!("SelfAsserted/DisplayControlAction/vbeta/emailVerificationControl/{action}?{query}"));
        let request = browser
            .client
            .post(url)
            .header("X-Requested-With", "XMLHttpRequest")
            .header("X-CSRF-TOKEN", page.csrf())
            .form(&form);
        async move { request.send().await.expect("POST").json::<Value>().await.expect("JSON") }
    };
    let email = || ("email", "erin@contoso.com".to_owned());
    assert_eq!(press("SendCode", vec![email()]).await["status"], "200");
    assert_eq!(press("SendCode", vec![email()]).await["status"], "200", "send a new code");
    let sent = codes.lock().expect("codes").clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    if sent[0] != sent[1] {
        let stale = press("VerifyCode", vec![email(), ("verificationCode", sent[0].clone())]).await;
        assert_eq!(stale["status"], "400", "the first code after a new one: {stale}");
    }
    let fresh = press("VerifyCode", vec![email(), ("verificationCode", sent[1].clone())]).await;
    assert_eq!(fresh["status"], "200", "{fresh}");
}
