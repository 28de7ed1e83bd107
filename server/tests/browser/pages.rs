//! The pages demo (`policies/pages`): our custom template, each kind of input, and French.

use crate::harness::*;

const DEMO: &str = "B2C_1A_PagesDemo";

async fn serve_demo() -> Served {
    let mut served = serve(vec![policies("pages")]).await;
    served.tenant = "contoso.onmicrosoft.com".to_owned();
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_template_in_french_checks_the_fields_and_signs_up() {
    bounded(async {
        let served = serve_demo().await;
        let browser = Browser::start(&served).await;
        browser.open(&served.authorize_url(DEMO, &[("ui_locales", "fr")])).await;
        // The policy's own template around the page, in the language asked for.
        assert_eq!(browser.text("header.brand").await, "Contoso");
        let lang = browser.find("html").await.attr("lang").await.expect("lang");
        assert_eq!(lang.as_deref(), Some("fr"));
        assert_eq!(browser.text(".intro").await, "Créez votre compte Contoso.");
        assert_eq!(browser.text("label[for=email]").await, "Adresse e-mail");
        assert_eq!(browser.text("label[for=displayName]").await, "Nom affiché");
        assert_eq!(browser.text("#continue").await, "Créer");
        assert_eq!(browser.text("#cancel").await, "Annuler");
        let options = browser.find("select#country").await.text().await.expect("options");
        assert!(options.contains("Allemagne") && options.contains("États-Unis"), "{options}");

        // Nothing filled in: each required field says so, in French, and nothing is sent.
        browser.click("#continue").await;
        assert_eq!(browser.shown_text("#email_error").await, "Cette information est obligatoire.");
        browser.fill("#email", "pas-une-adresse").await;
        browser.click("#continue").await;
        assert_eq!(browser.shown_text("#email_error").await, "Saisissez une adresse e-mail valide.");
        browser.screenshot("custom-template-fr").await;

        browser.fill("#email", "chloe@contoso.fr").await;
        browser.fill("#displayName", "Chloé").await;
        browser.fill("#newPassword", "Passw0rd!fr").await;
        browser.find("select#country").await.select_by_value("DE").await.expect("select");
        browser.click("#accountType_work").await;
        browser.click("#continue").await;
        let claims = served.claims_at_app(&browser, DEMO).await;
        assert_eq!(claims["email"], "chloe@contoso.fr", "{claims}");
        assert_eq!(claims["name"], "Chloé", "{claims}");
        assert_eq!(claims["country"], "DE", "{claims}");
        assert_eq!(claims["accountType"], "work", "{claims}");
        browser.close().await;
    })
    .await;
}
