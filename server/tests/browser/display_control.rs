//! Sign-up with an email verification display control (`policies/displaycontrols`): the
//! control's buttons call the server, the code goes out through the email API (a stub here).

use serde_json::Value;

use crate::harness::*;

const POLICY: &str = "B2C_1A_EmailVerificationControl";
const CONTROL: &str = "#emailVerificationControl";
const ERIN: &str = "erin@contoso.com";

/// The code in the last email the policy asked the email API to send.
async fn emailed_code(served: &Served) -> String {
    for _ in 0..100 {
        if let Some(mail) = served.app.arrivals("/mail/send").pop() {
            let body: Value = serde_json::from_str(&mail.body).unwrap_or_else(|e| panic!("{e}: {}", mail.body));
            assert_eq!(body["to"], ERIN, "{body}");
            return body["code"].as_str().unwrap_or_else(|| panic!("a code in {body}")).to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no email was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verifies_the_address_through_the_display_control() {
    bounded(async {
        let mut served = serve_with(vec![policies("displaycontrols")], |options, stub| {
            options.environment = Some("Local".to_owned());
            options.settings = vec![("IefStubUrl".to_owned(), stub.to_owned())];
        })
        .await;
        served.tenant = "contoso.onmicrosoft.com".to_owned();
        let browser = Browser::start(&served).await;
        browser.open(&served.authorize_url(POLICY, &[])).await;
        browser.find(&format!("{CONTROL}.verificationControlContent")).await;
        browser.fill("#email", ERIN).await;
        browser.fill("#displayName", "Erin").await;

        browser.click(&format!("{CONTROL}_but_send_code")).await;
        let code = emailed_code(&served).await;
        let code_field = format!("{CONTROL}_verificationCode");
        browser.fill(&code_field, &code).await;
        browser.screenshot("display-control").await;
        // Continue before the code is verified: the page says so and stays.
        browser.click("#continue").await;
        let refused = browser.shown_text(".error.pageLevel").await;
        assert_eq!(refused, "A required field is missing. Please fill out all required fields and try again.");

        browser.fill(&code_field, "000000").await;
        browser.click(&format!("{CONTROL}_but_verify_code")).await;
        assert_eq!(browser.shown_text(&format!("{CONTROL}_error")).await, "That code is incorrect. Please try again.");
        browser.fill(&code_field, &code).await;
        browser.click(&format!("{CONTROL}_but_verify_code")).await;
        browser.shown_text(&format!("{CONTROL}_success")).await;
        // The earlier "required field missing" no longer shows once the address is verified.
        let page_error = browser.find("#attributeVerification > .error.pageLevel").await;
        assert_eq!(page_error.attr("aria-hidden").await.expect("attribute").as_deref(), Some("true"));
        assert_eq!(page_error.text().await.expect("text"), "");

        browser.click("#continue").await;
        let claims = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(claims["email"], ERIN, "{claims}");
        assert_eq!(claims["displayName"], "Erin", "{claims}");
        assert_eq!(served.app.arrivals("/mail/send").len(), 1, "one email sent");
        browser.close().await;
    })
    .await;
}
