//! The starter pack's journeys in Chromium: what the pages show and what the application gets.

use crate::harness::*;

pub(crate) const EMAIL: &str = "alice@contoso.com";
pub(crate) const PASSWORD: &str = "Passw0rd!2024";

/// The sign-up form of the starter pack, as alice fills it in.
pub(crate) const ALICE: [(&str, &str); 6] = [
    ("#email", EMAIL),
    ("#newPassword", PASSWORD),
    ("#reenterPassword", PASSWORD),
    ("#displayName", "Alice Smith"),
    ("#givenName", "Alice"),
    ("#surname", "Smith"),
];

async fn fill_all(browser: &Browser, fields: &[(&str, &str)]) {
    for (css, value) in fields {
        browser.fill(css, value).await;
    }
}

/// From the sign-in page, signs alice up: the form, the code emailed to her, the form again
/// (the passwords are never shown back), and back to the application.
pub(crate) async fn sign_up(browser: &Browser, served: &Served, fields: &[(&str, &str)]) {
    browser.click("#createAccount").await;
    sign_up_on_the_form(browser, served, fields).await;
}

/// [`sign_up`] from the sign-up form.
async fn sign_up_on_the_form(browser: &Browser, served: &Served, fields: &[(&str, &str)]) {
    fill_all(browser, fields).await;
    browser.screenshot("sign-up").await;
    browser.click("#continue").await;
    enter_code(browser, served, EMAIL, Some("email-verification")).await;
    fill_all(browser, fields).await;
    browser.click("#continue").await;
}

/// Types the code last sent to `destination` on the code page and verifies it; a screenshot
/// of the page filled in when `picture` names one.
async fn enter_code(browser: &Browser, served: &Served, destination: &str, picture: Option<&str>) {
    browser.find("#verificationCode").await;
    browser.fill("#verificationCode", &served.code_sent_to(destination)).await;
    if let Some(name) = picture {
        browser.screenshot(name).await;
    }
    browser.click("#verifyCode").await;
}

/// Signs in on the combined page with `password`.
async fn sign_in(browser: &Browser, password: &str) {
    browser.fill("#signInName", EMAIL).await;
    browser.fill("#password", password).await;
    browser.click("#next").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_with_email_verification_then_sign_in() {
    bounded(async {
        let (served, browser) = at_sign_in().await;
        browser.find("#localAccountForm").await;
        // The sign-in's cookies, as B2C sets its own over HTTPS.
        for name in ["x-ms-cpim-trans", "x-ms-cpim-csrf"] {
            let cookie = browser.client.get_named_cookie(name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cookie.secure(), Some(true), "{name}");
            assert_eq!(cookie.http_only(), Some(true), "{name}");
            assert_eq!(cookie.same_site().map(|s| s.to_string()).as_deref(), Some("None"), "{name}");
        }
        assert_eq!(browser.text("label[for=password]").await, "Password");
        assert_eq!(browser.text("#createAccount").await, "Sign up now");
        browser.screenshot("sign-in").await;

        browser.click("#createAccount").await;
        // The labels are the claims' display names.
        for (field, label) in [
            ("email", "Email Address"),
            ("newPassword", "New Password"),
            ("reenterPassword", "Confirm New Password"),
            ("displayName", "Display Name"),
        ] {
            assert_eq!(browser.text(&format!("label[for={field}]")).await, label);
        }
        sign_up_on_the_form(&browser, &served, &ALICE).await;
        let signed_up = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(signed_up["email"], EMAIL, "{signed_up}");
        assert_eq!(signed_up["name"], "Alice Smith", "{signed_up}");
        assert_eq!(signed_up["given_name"], "Alice", "{signed_up}");
        assert_eq!(signed_up["nonce"], "n-browser", "{signed_up}");

        // A new sign-in (prompt=login: the session would skip the page) is the same user.
        browser.open(&served.authorize_url(POLICY, &[("prompt", "login")])).await;
        sign_in(&browser, PASSWORD).await;
        let signed_in = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(signed_in["sub"], signed_up["sub"], "{signed_in}");
        // The starter pack reads no email at sign-in (AAD-UserReadUsingObjectId), as in B2C.
        assert_eq!(signed_in["email"], serde_json::Value::Null, "{signed_in}");
        browser.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_its_error_and_cancel_returns_to_the_app() {
    bounded(async {
        let (served, browser) = at_sign_in().await;
        sign_up(&browser, &served, &ALICE).await;
        browser.back_at_app(&served).await;

        browser.open(&served.authorize_url(POLICY, &[("prompt", "login")])).await;
        sign_in(&browser, "not-her-password").await;
        assert_eq!(browser.shown_text(".error.pageLevel").await, "Your password is incorrect.");
        browser.screenshot("validation-error").await;

        browser.click("#cancel").await;
        let params = browser.back_at_app(&served).await;
        assert_eq!(param(&params, "error"), Some("access_denied"), "{params:?}");
        let description = param(&params, "error_description").unwrap_or_default();
        assert!(description.starts_with("AADB2C90091: "), "{description}");
        assert_eq!(param(&params, "state"), Some("st-browser"));
        browser.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_proves_the_address_then_the_new_password_signs_in() {
    bounded(async {
        let (served, browser) = at_sign_in().await;
        sign_up(&browser, &served, &ALICE).await;
        let signed_up = served.claims_at_app(&browser, POLICY).await;

        let reset = "B2C_1A_PasswordReset";
        let new_password = "N3w!Passw0rd";
        browser.open(&served.authorize_url(reset, &[])).await;
        browser.fill("#email", EMAIL).await;
        browser.click("#continue").await;
        enter_code(&browser, &served, EMAIL, None).await;
        // The address page again, the proven address filled in.
        let shown = browser.find("#email").await.prop("value").await.expect("value");
        assert_eq!(shown.as_deref(), Some(EMAIL));
        browser.click("#continue").await;
        assert_eq!(browser.text("label[for=newPassword]").await, "New Password");
        browser.fill("#newPassword", new_password).await;
        browser.fill("#reenterPassword", new_password).await;
        browser.click("#continue").await;
        let reset_claims = served.claims_at_app(&browser, reset).await;
        assert_eq!(reset_claims["sub"], signed_up["sub"], "{reset_claims}");

        browser.open(&served.authorize_url(POLICY, &[("prompt", "login")])).await;
        sign_in(&browser, PASSWORD).await;
        assert_eq!(browser.shown_text(".error.pageLevel").await, "Your password is incorrect.");
        sign_in(&browser, new_password).await;
        let signed_in = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(signed_in["sub"], signed_up["sub"], "{signed_in}");
        browser.close().await;
    })
    .await;
}

/// Signs alice up on `policy` (the MFA starter pack's journey), enrolling her phone, then signs
/// her in with its code; `on_every_page` runs on each page shown.
async fn mfa_journey(browser: &Browser, served: &Served, policy: &str, on_every_page: &str) {
    let phone = "+14255550123";
    browser.open(&served.authorize_url(policy, &[])).await;
    browser.find(on_every_page).await;
    sign_up(browser, served, &ALICE).await;
    browser.fill("#strongAuthenticationPhoneNumber", phone).await;
    browser.find(on_every_page).await;
    browser.click("#verifyPhone").await;
    enter_code(browser, served, phone, Some("mfa")).await;
    let signed_up = served.claims_at_app(browser, policy).await;
    assert_eq!(signed_up["email"], EMAIL, "{signed_up}");

    browser.open(&served.authorize_url(policy, &[("prompt", "login")])).await;
    sign_in(browser, "not-her-password").await;
    assert_eq!(browser.shown_text(".error.pageLevel").await, "Your password is incorrect.");
    browser.find(on_every_page).await;
    sign_in(browser, PASSWORD).await;
    enter_code(browser, served, phone, None).await;
    let signed_in = served.claims_at_app(browser, policy).await;
    assert_eq!(signed_in["sub"], signed_up["sub"], "{signed_in}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_sign_up_enrolls_a_phone_and_the_next_sign_in_asks_its_code() {
    bounded(async {
        let served = serve(vec![starter_pack("SocialAndLocalAccountsWithMfa")]).await;
        let browser = Browser::start(&served).await;
        mfa_journey(&browser, &served, POLICY, "body.ief-azureblue #api").await;
        browser.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_journey_on_our_custom_template() {
    bounded(async {
        let served = serve(vec![starter_pack("SocialAndLocalAccountsWithMfa"), policies("pages-starterpack")]).await;
        let mut browser = Browser::start(&served).await;
        browser.pictures = false;
        // The template's own banner around B2C's ids and classes, on every page.
        mfa_journey(&browser, &served, "B2C_1A_signup_signin_custom_template", "header.brand + main #api").await;
        browser.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_server_refuses_shows_the_error_page_with_its_correlation_id() {
    bounded(async {
        let served = serve(vec![starter_pack("LocalAccounts")]).await;
        let browser = Browser::start(&served).await;
        let url = served.authorize_url(POLICY, &[("client_id", "00000000-0000-0000-0000-000000000bad")]);
        browser.open(&url).await;
        let page = browser.text("body").await;
        assert!(page.contains("AADB2C90018: The client id '00000000-0000-0000-0000-000000000bad'"), "{page}");
        let correlation = page.split("Correlation ID: ").nth(1).and_then(|r| r.split_whitespace().next());
        assert!(correlation.is_some_and(|id| id.len() == 36 && id.matches('-').count() == 4), "{page}");
        browser.screenshot("error").await;
        browser.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_a_user_typed_is_shown_as_text() {
    bounded(async {
        let (served, browser) = at_sign_in().await;
        let markup = "<img src=x onerror=alert(1)>";
        let mut fields = ALICE;
        fields[3] = ("#displayName", markup);
        fields[4] = ("#givenName", markup);
        browser.click("#createAccount").await;
        fill_all(&browser, &fields).await;
        browser.click("#continue").await;
        enter_code(&browser, &served, EMAIL, None).await;
        // The form comes back with what she typed: as text, no element made, no script run.
        assert_shown_as_text(&browser, "#displayName", markup).await;
        fill_all(&browser, &fields).await;
        browser.click("#continue").await;
        let signed_up = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(signed_up["name"], markup, "the claim keeps what she typed");

        // The profile page shows her given name back.
        browser.open(&served.authorize_url("B2C_1A_ProfileEdit", &[])).await;
        browser.fill("#signInName", EMAIL).await;
        browser.fill("#password", PASSWORD).await;
        browser.click("#continue").await;
        assert_shown_as_text(&browser, "#givenName", markup).await;
        browser.close().await;
    })
    .await;
}

async fn assert_shown_as_text(browser: &Browser, css: &str, markup: &str) {
    let shown = browser.find(css).await.prop("value").await.expect("value");
    assert_eq!(shown.as_deref(), Some(markup));
    let images = browser.client.find_all(fantoccini::Locator::Css("#api img")).await.expect("find");
    assert!(images.is_empty(), "the markup made an element: {}", browser.source().await);
    assert!(browser.client.get_alert_text().await.is_err(), "an alert opened");
}
