use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;

use super::*;
use ief_idp::{Served, form_post_page, login_page};

/// How the test provider returns its answer.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Query,
    FormPost,
    /// An auto-submitting page to an intermediate hop, which then redirects to the callback.
    Relay,
}

/// Paths the provider served, to check that the agent never opens the callback.
type Hits = Arc<Mutex<Vec<String>>>;

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The callback path; the provider answers with relative URLs, which the agent resolves.
const CB: &str = "/contoso.onmicrosoft.com/b2c_1a_signin/oauth2/authresp";

fn callback(base: &str) -> String {
    format!("{base}{CB}")
}

/// A provider with a login form, a consent page that needs the login cookie, and a callback
/// that records every visit.
async fn provider(mode: Mode) -> (Served, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let router = Router::new()
        .route("/authorize", get(|| async { Redirect::to("/login?client=c1") }))
        .route(
            "/login",
            get(|| async { Html(login_page("Sign in", "/login", &[("tx".into(), "t1".into())], None)) }).post(
                move |axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                    let ok = field(&form, "username").as_deref() == Some("alice")
                        && field(&form, "password").as_deref() == Some("pw")
                        && field(&form, "tx").as_deref() == Some("t1");
                    if !ok {
                        let page =
                            login_page("Sign in", "/login", &[("tx".into(), "t1".into())], Some("Wrong password"));
                        return Html(page).into_response();
                    }
                    ([(header::SET_COOKIE, "sid=s3ss10n; Path=/; HttpOnly")], Redirect::to("/consent")).into_response()
                },
            ),
        )
        .route(
            "/consent",
            get(|headers: HeaderMap| async move {
                if !has_session(&headers) {
                    return (StatusCode::FORBIDDEN, Html("<title>No session</title>")).into_response();
                }
                Html(
                    r#"<html><head><title>Allow access?</title></head><body><p>Contoso wants your email.</p>
                    <form method="post" action="/consent"><input type="hidden" name="tx" value="t1">
                    <button type="submit" name="decision" value="allow">Allow</button>
                    <button type="submit" name="decision" value="deny">Deny</button></form></body></html>"#,
                )
                .into_response()
            })
            .post(
                move |headers: HeaderMap, axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                    let cb = CB;
                    if !has_session(&headers) {
                        return (StatusCode::FORBIDDEN, Html("<title>No session</title>")).into_response();
                    }
                    if field(&form, "decision").as_deref() != Some("allow") {
                        return Redirect::to(&format!("{cb}?error=access_denied&state=s1")).into_response();
                    }
                    match mode {
                        Mode::Query => Redirect::to(&format!("{cb}?code=c0de&state=s1")).into_response(),
                        Mode::FormPost => {
                            Html(form_post_page(cb, &[("code".into(), "c0de".into()), ("state".into(), "s1".into())]))
                                .into_response()
                        }
                        Mode::Relay => {
                            Html(form_post_page("/relay", &[("code".into(), "c0de".into())])).into_response()
                        }
                    }
                },
            ),
        )
        .route(
            "/relay",
            axum::routing::post(|axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                let code = field(&form, "code").unwrap_or_default();
                Redirect::to(&format!("{CB}?code={code}&relayed=yes"))
            }),
        )
        .route(
            CB,
            get(move || {
                h.lock().unwrap().push("callback".to_owned());
                async { "callback" }
            }),
        );
    let served = Served::http(router).await.unwrap();
    (served, hits)
}

fn has_session(headers: &HeaderMap) -> bool {
    headers.get_all(header::COOKIE).iter().any(|v| v.to_str().unwrap_or_default().contains("sid=s3ss10n"))
}

fn alice(consent: bool) -> Credentials {
    Credentials { username: "alice".into(), password: "pw".into(), consent, fields: BTreeMap::new() }
}

fn agent() -> UserAgent {
    UserAgent::new(&TrustedRoots::default()).unwrap()
}

/// Serves one fixed response on `/` (and a redirect loop on `/loop`).
async fn page(status: StatusCode, content_type: &'static str, body: &'static str) -> Served {
    let router = Router::new()
        .route("/", get(move || async move { (status, [(header::CONTENT_TYPE, content_type)], body).into_response() }))
        .route("/loop", get(|| async { Redirect::to("/loop") }));
    Served::http(router).await.unwrap()
}

#[tokio::test]
async fn query_mode_signs_in_through_login_and_consent_and_stops_at_the_callback() {
    let (served, hits) = provider(Mode::Query).await;
    let base = served.http_url();
    let start = format!("{base}/authorize");
    let params = agent().authorize(&start, &CallbackMatch::Prefix(callback(&base)), &alice(true)).await.unwrap();
    assert_eq!(params, vec![("code".to_owned(), "c0de".to_owned()), ("state".to_owned(), "s1".to_owned())]);
    assert!(hits.lock().unwrap().is_empty(), "the agent must not open the callback");
}

#[tokio::test]
async fn form_post_pages_return_their_fields_without_posting_them() {
    let (served, hits) = provider(Mode::FormPost).await;
    let base = served.http_url();
    let host = served.addr.ip().to_string();
    let params =
        agent().authorize(&format!("{base}/authorize"), &CallbackMatch::AuthResp { host }, &alice(true)).await.unwrap();
    assert_eq!(field(&params, "code").as_deref(), Some("c0de"));
    assert_eq!(field(&params, "state").as_deref(), Some("s1"));
    assert!(hits.lock().unwrap().is_empty());
}

#[tokio::test]
async fn auto_submitting_pages_on_the_way_are_posted() {
    let (served, _) = provider(Mode::Relay).await;
    let base = served.http_url();
    let params = agent()
        .authorize(&format!("{base}/authorize"), &CallbackMatch::Prefix(callback(&base)), &alice(true))
        .await
        .unwrap();
    assert_eq!(field(&params, "relayed").as_deref(), Some("yes"));
    assert_eq!(field(&params, "code").as_deref(), Some("c0de"));
}

#[tokio::test]
async fn refused_consent_presses_the_deny_button() {
    let (served, _) = provider(Mode::Query).await;
    let base = served.http_url();
    let params = agent()
        .authorize(&format!("{base}/authorize"), &CallbackMatch::Prefix(callback(&base)), &alice(false))
        .await
        .unwrap();
    assert_eq!(field(&params, "error").as_deref(), Some("access_denied"));
    assert_eq!(field(&params, "code"), None);
}

/// A consent page whose refusal is a link, not a button.
async fn link_consent_provider() -> Served {
    let router = Router::new()
        .route(
            "/consent",
            get(|| async {
                Html(
                    r#"<title>Allow access?</title><form method="post" action="/consent"><button>Allow</button></form>
                    <p><a class="secondary" href="/consent/cancel?tx=t1"><span>Cancel</span></a></p>"#,
                )
            })
            .post(|| async { Redirect::to(&format!("{CB}?code=c0de")) }),
        )
        .route("/consent/cancel", get(|| async { Redirect::to(&format!("{CB}?error=access_denied&tx=t1")) }));
    Served::http(router).await.unwrap()
}

#[tokio::test]
async fn refused_consent_follows_a_cancel_link() {
    let served = link_consent_provider().await;
    let base = served.http_url();
    let cb = CallbackMatch::Prefix(callback(&base));
    let start = format!("{base}/consent");
    let refused = agent().authorize(&start, &cb, &alice(false)).await.unwrap();
    assert_eq!(field(&refused, "error").as_deref(), Some("access_denied"));
    assert_eq!(field(&refused, "tx").as_deref(), Some("t1"), "the link's query is kept");
    let accepted = agent().authorize(&start, &cb, &alice(true)).await.unwrap();
    assert_eq!(field(&accepted, "code").as_deref(), Some("c0de"));
}

#[tokio::test]
async fn a_wrong_password_ends_with_the_login_page_and_its_message() {
    let (served, _) = provider(Mode::Query).await;
    let base = served.http_url();
    let mut wrong = alice(true);
    wrong.password = "not-the-password".into();
    let err = agent()
        .authorize(&format!("{base}/authorize"), &CallbackMatch::Prefix(callback(&base)), &wrong)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("the login form came back"), "{text}");
    assert!(text.contains("Wrong password"), "{text}");
    assert!(!text.contains("not-the-password"), "the password leaked: {text}");
}

#[tokio::test]
async fn a_page_that_needs_more_is_described() {
    let served = page(
        StatusCode::OK,
        "text/html; charset=utf-8",
        r#"<!DOCTYPE html><html><head><title>Verify it's you</title><style>p{color:red}</style></head>
        <body><p>Enter the code we sent to your phone.</p>
        <form method="post" action="/mfa?tx=secret-tx"><input type="hidden" name="tx" value="hidden-value">
        <input name="otp" inputmode="numeric"><button>Verify</button></form></body></html>"#,
    )
    .await;
    let err = agent()
        .authorize(&served.http_url(), &CallbackMatch::Prefix("https://b2c.test/cb".into()), &alice(true))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AgentError::Page { .. }));
    assert!(text.contains("otp (text)"), "{text}");
    assert!(text.contains("title \"Verify it's you\""), "{text}");
    assert!(text.contains("POST /mfa with fields tx (hidden), otp (text) and buttons \"Verify\""), "{text}");
    assert!(text.contains("Enter the code we sent"), "{text}");
    assert!(text.contains("status 200"), "{text}");
    assert!(!text.contains("color:red"), "style is not text: {text}");
    assert!(!text.contains("hidden-value") && !text.contains("secret-tx"), "values leaked: {text}");
}

#[tokio::test]
async fn pages_without_forms_errors_and_non_html_are_described() {
    let cb = CallbackMatch::Prefix("https://b2c.test/cb".into());
    let none = page(StatusCode::OK, "text/html", "<title>Welcome</title><p>Hello there</p>").await;
    let text = agent().authorize(&none.http_url(), &cb, &alice(true)).await.unwrap_err().to_string();
    assert!(text.contains("no form to submit") && text.contains("Hello there"), "{text}");

    let error = page(StatusCode::BAD_REQUEST, "text/html", "<title>oops</title><form><input name=q></form>").await;
    let text = agent().authorize(&error.http_url(), &cb, &alice(true)).await.unwrap_err().to_string();
    assert!(text.contains("answered 400 Bad Request") && text.contains("status 400"), "{text}");

    let json = page(StatusCode::OK, "application/json", r#"{"error":"invalid_request"}"#).await;
    let text = agent().authorize(&json.http_url(), &cb, &alice(true)).await.unwrap_err().to_string();
    assert!(text.contains("not an HTML page") && text.contains("application/json"), "{text}");
}

#[tokio::test]
async fn consent_refused_without_a_deny_button_is_an_error() {
    let served = page(
        StatusCode::OK,
        "text/html",
        r#"<title>Continue</title><form method=post action=/next><input type=hidden name=a value=1><button>Continue</button></form>"#,
    )
    .await;
    let cb = CallbackMatch::Prefix("https://b2c.test/cb".into());
    let text = agent().authorize(&served.http_url(), &cb, &alice(false)).await.unwrap_err().to_string();
    assert!(text.contains("no button or link to deny"), "{text}");
}

#[tokio::test]
async fn redirects_are_bounded() {
    let served = page(StatusCode::OK, "text/html", "").await;
    let cb = CallbackMatch::Prefix("https://b2c.test/cb".into());
    let start = format!("{}/loop", served.http_url());
    let err = agent().with_max_hops(5).authorize(&start, &cb, &alice(true)).await.unwrap_err();
    assert!(matches!(err, AgentError::TooManyHops { limit: 5, .. }), "{err}");
    assert!(err.to_string().contains("/loop"));
}

#[tokio::test]
async fn unreachable_providers_name_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/authorize?secret=x", listener.local_addr().unwrap());
    drop(listener);
    let cb = CallbackMatch::Prefix("https://b2c.test/cb".into());
    let err = agent().authorize(&url, &cb, &alice(true)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AgentError::Http { method: "GET", .. }), "{text}");
    assert!(text.contains("/authorize?secret=…") && !text.contains("secret=x"), "{text}");
    let bad = agent().authorize("ftp://127.0.0.1/x", &cb, &alice(true)).await.unwrap_err();
    assert!(bad.to_string().contains("scheme ftp"), "{bad}");
}

#[test]
fn callback_matching() {
    let url = |s: &str| Url::parse(s).unwrap();
    let auth = CallbackMatch::AuthResp { host: "contoso.b2clogin.com".into() };
    assert!(auth.matches(&url("https://Contoso.B2CLogin.com/contoso.onmicrosoft.com/oauth2/authresp?code=1")));
    assert!(auth.matches(&url("https://contoso.b2clogin.com/t/b2c_1a_x/oauth1/authresp")));
    assert!(!auth.matches(&url("https://other.example/t/oauth2/authresp")));
    assert!(!auth.matches(&url("https://contoso.b2clogin.com/t/oauth2/authorize")));
    let prefix = CallbackMatch::from("https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp");
    assert!(prefix.matches(&url("https://contoso.b2clogin.com/Contoso.onmicrosoft.com/oauth2/authresp?x=1")));
    assert!(!prefix.matches(&url("https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authorize")));
    assert!(!prefix.matches(&url("https://contoso.b2clogin.com/")), "shorter than the prefix");
    let upper = CallbackMatch::from("HTTPS://Contoso.B2CLOGIN.com/T/");
    assert!(upper.matches(&url("https://contoso.b2clogin.com/t/oauth2/authresp")));
    assert!(!upper.matches(&url("https://contoso.b2clogin.com/u/oauth2/authresp")));
}

#[test]
fn query_and_fragment_parameters_are_both_returned() {
    let req = Request::get(Url::parse("https://b2c.test/cb?code=a%20b#state=s&id_token=t").unwrap());
    assert_eq!(
        req.callback_params(),
        vec![("code".into(), "a b".into()), ("state".into(), "s".into()), ("id_token".into(), "t".into())]
    );
}

#[test]
fn forms_read_like_a_browser_reads_them() {
    let page = ParsedPage::parse(
        r#"<html><head><title> Sign
        in </title><script>var x = "<form action='/fake'>";</script></head><body>
        <form action="/go?a=1&amp;b=2" method="POST">
          <input type="email" name="signInName" autocomplete="username">
          <input type="password" name="pwd">
          <input type="checkbox" name="remember" checked>
          <input type="checkbox" name="marketing" value="yes">
          <select name="tenant"><option value="a">A<option value="b" selected>B</select>
          <select name="lang"><option>English</option><option>French</option></select>
          <textarea name="note">hello &amp; bye</textarea>
          <input type="submit" name="go" value="Sign in">
        </form></body></html>"#,
    );
    assert_eq!(page.title.as_deref(), Some("Sign in"));
    assert_eq!(page.forms.len(), 1, "script text is not markup");
    let form = &page.forms[0];
    assert_eq!(form.action.as_deref(), Some("/go?a=1&b=2"));
    assert!(form.is_login());
    let values = form.values(Some(&alice(true)), &BTreeMap::from([("note".to_owned(), "mine".to_owned())]));
    assert_eq!(
        values,
        vec![
            ("signInName".into(), "alice".into()),
            ("pwd".into(), "pw".into()),
            ("remember".into(), "on".into()),
            ("tenant".into(), "b".into()),
            ("lang".into(), "English".into()),
            ("note".into(), "mine".into()),
        ]
    );
    assert_eq!(form.buttons.len(), 1);
    assert_eq!(form.buttons[0].label, "Sign in");
}

#[test]
fn get_forms_replace_the_action_query() {
    let page = ParsedPage::parse(r#"<form action="/next?old=1"><input type=hidden name=n value="v 1"></form>"#);
    let form = &page.forms[0];
    let base = Url::parse("https://idp.test/start").unwrap();
    let req = form.submission(form.action_url(&base).unwrap(), form.values(None, &BTreeMap::new()));
    assert!(req.form.is_none());
    assert_eq!(req.url.as_str(), "https://idp.test/next?n=v+1");
}

#[test]
fn deny_buttons_and_forms_are_recognised() {
    let page = ParsedPage::parse(
        r#"<form method=post action="/confirm"><button type=submit>Yes, allow</button></form>
           <form method=post action="/abort"><input type=submit value="Not now"></form>"#,
    );
    assert_eq!(submitted(&page, false).0.as_deref(), Some("/abort"));
    assert_eq!(submitted(&page, true).0.as_deref(), Some("/confirm"));
    let two_logins = ParsedPage::parse(
        "<form><input name=username><input type=password name=p></form><form><input name=login></form>",
    );
    assert!(decide(&two_logins, &alice(true)).err().unwrap().contains("cannot tell which"));
}

/// The action and values of the form the agent submits on `page`.
fn submitted(page: &ParsedPage, consent: bool) -> (Option<String>, Vec<(String, String)>) {
    match decide(page, &alice(consent)) {
        Ok(Choice::Submit(form, values)) => (form.action.clone(), values),
        Ok(Choice::Follow(href)) => panic!("followed the link {href}"),
        Err(e) => panic!("{e}"),
    }
}

/// X's sign-in page: the login fields and the Authorize / Cancel buttons in one form.
const X_PAGE: &str = r#"<title>Authorize Contoso to use your account?</title>
    <form action="/oauth/authorize" method="post"><input type="hidden" name="oauth_token" value="tok">
    <input name="session[username_or_email]" autocomplete="username"><input type="password" name="session[password]">
    <input type="submit" value="Authorize app" id="allow" name="allow"><input type="submit" value="Cancel" name="cancel" id="cancel"></form>"#;

#[test]
fn one_form_with_login_and_consent_buttons_presses_the_decision() {
    let page = ParsedPage::parse(X_PAGE);
    let (_, allowed) = submitted(&page, true);
    assert_eq!(field(&allowed, "session[password]").as_deref(), Some("pw"));
    assert_eq!(field(&allowed, "allow").as_deref(), Some("Authorize app"));
    assert_eq!(field(&allowed, "cancel"), None);
    let (_, denied) = submitted(&page, false);
    assert_eq!(field(&denied, "cancel").as_deref(), Some("Cancel"));
    assert_eq!(field(&denied, "allow"), None);
    assert_eq!(field(&denied, "oauth_token").as_deref(), Some("tok"));
    assert_eq!(field(&denied, "session[password]"), None, "a refusal sends no password");
}

#[test]
fn cancel_links_are_read_by_text_title_or_target() {
    for (html, href) in [
        (r#"<a href="/consent/no-thanks">Cancel</a>"#, "/consent/no-thanks"),
        (r#"<a href="/x" title="Deny access"><img src=i.png></a>"#, "/x"),
        (r#"<a href="/interaction/u1/abort">[ Back to the app ]</a>"#, "/interaction/u1/abort"),
    ] {
        let page = ParsedPage::parse(&format!("<form method=post><button>Allow</button></form>{html}"));
        match decide(&page, &alice(false)) {
            Ok(Choice::Follow(found)) => assert_eq!(found, href),
            _ => panic!("{html}: the link is not followed"),
        }
        assert_eq!(submitted(&page, true).0, None, "{html}: consent submits the form");
    }
    let not_deny = ParsedPage::parse(
        r#"<form method=post><button>Allow</button></form><a href="javascript:cancel()">Cancel</a><a href="/help">Help</a>"#,
    );
    assert!(decide(&not_deny, &alice(false)).err().unwrap().contains("no button or link to deny"));
}

#[test]
fn credentials_never_show_the_password() {
    let mut c = alice(true);
    c.fields.insert("pin".into(), "4321".into());
    let text = format!("{c:?}");
    assert!(!text.contains("pw\"") && !text.contains("4321"), "{text}");
    assert!(text.contains("[redacted]") && text.contains("pin"));
}

#[test]
fn urls_in_messages_hide_values() {
    let url = Url::parse("https://idp.test:8443/auth?code=abc&state=xyz#frag").unwrap();
    assert_eq!(display_url(&url), "https://idp.test:8443/auth?code=…&state=…");
}
