//! Picking a social provider: the embedded GitHub-like OAuth2 provider (`ief_idp::oauth2`)
//! stands in for github.com behind `policies/social`; the browser signs in on its login form.

use ief_protocols::keys::KeyStore;
use serde_json::json;

use crate::harness::*;

const POLICY: &str = "B2C_1A_SignIn_Social";
const SECRET: &str = "B2C_1A_GitHubSecret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_social_sign_in_through_the_embedded_provider() {
    bounded(async {
        // The provider learns the client's secret from the policy key the server will use.
        let keys = TempDir::new("browser-social-keys");
        ief_protocols::keys::init_keys(&keys.0, &[SECRET]).expect("the client secret");
        let store = KeyStore::load(&keys.0).expect("keys");
        let secret = String::from_utf8(store.secret(SECRET).expect("secret").to_vec()).expect("text secret");
        let config = serde_json::from_value(json!({
            "users": [{ "username": "alice", "password": "Passw0rd!",
                        "claims": { "sub": "1442017", "name": "Alice Smith", "email": "alice@example.com" } }],
            "clients": [{ "client_id": "ief-github-client", "auth_method": "client_secret_basic", "client_secret": secret }],
        }))
        .expect("provider config");
        let provider = ief_idp::oauth2::start(config).await.expect("the provider starts");
        let mut served = serve_with(vec![policies("social")], |options, _| {
            options.keys = keys.0.clone();
            options.environment = Some("Local".to_owned());
            options.settings = vec![("IefOAuth2Url".to_owned(), provider.base_url())];
        })
        .await;
        served.tenant = "contoso.onmicrosoft.com".to_owned();

        let browser = Browser::start(&served).await;
        browser.open(&served.authorize_url(POLICY, &[])).await;
        let button = browser.find("button.accountButton#GitHubExchange, a.accountButton#GitHubExchange").await;
        assert_eq!(button.text().await.expect("text"), "GitHub");
        browser.screenshot("provider-selection").await;
        button.click().await.expect("click");

        // The provider's own login form, then back through the server to the application.
        browser.fill("input[name=username]", "alice").await;
        browser.fill("input[name=password]", "Passw0rd!").await;
        browser.click("button[type=submit]").await;
        let claims = served.claims_at_app(&browser, POLICY).await;
        assert_eq!(claims["name"], "Alice Smith", "{claims}");
        assert_eq!(claims["email"], "alice@example.com", "{claims}");
        assert_eq!(claims["idp"], "github.com", "{claims}");
        browser.close().await;
    })
    .await;
}
