//! `@azure/msal-browser` (npm, pinned in `interop/browser`) in a small single-page app served
//! on loopback: `loginRedirect` against `ief serve` in the same Chromium, then
//! `acquireTokenSilent`. The server answers the app's own-origin calls with CORS.

use std::path::PathBuf;
use std::time::Duration;

use ief_testkit::node::{check_node, npm_ci};
use serde_json::Value;

use crate::flows::{ALICE, sign_up};
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_browser_signs_in_with_login_redirect_then_gets_a_token_silently() {
    bounded(async {
        let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/browser");
        check_node((20, 18), "install Node.js 20.18 or newer for the MSAL.js test").expect("node");
        npm_ci(&project, "@azure/msal-browser", Duration::from_secs(300)).expect("MSAL.js installed");
        let served = serve(vec![starter_pack("LocalAccounts")]).await;
        let browser = Browser::start(&served).await;
        let authority = format!("{}/tfp/{TENANT}/{POLICY}/", served.https.base);
        let scope = "https://yourtenant.onmicrosoft.com/api/read";
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("authority", authority.as_str()), ("client_id", CLIENT), ("scope", scope)])
            .finish();
        browser.open(&format!("{}/spa/?{query}", served.app.base)).await;
        browser.click("#login:enabled").await;

        // ief's sign-in page, in the same browser: alice signs up, and MSAL takes the answer.
        sign_up(&browser, &served, &ALICE).await;
        let text = browser.shown_text("#result").await;
        let result: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(result.get("error").is_none(), "{result}");
        let sub = result["claims"]["sub"].as_str().unwrap_or_else(|| panic!("a sub: {result}"));
        let tenant = ief_engine::tenant::TenantObjectId::choose(None, None, TENANT).expect("a derived id").guid;
        // B2C's home account id: {object id}-{policy}.{tenant object id}.
        assert_eq!(result["home_account_id"], format!("{sub}-{}.{tenant}", POLICY.to_lowercase()));
        assert_eq!(result["claims"]["name"], "Alice Smith", "{result}");
        assert_eq!(result["has_access_token"], true, "{result}");
        assert_eq!(result["silent_access_token"], true, "a new access token: {result}");
        assert_eq!(result["silent_from_cache"], false, "{result}");
        assert_eq!(result["silent_home_account_id"], result["home_account_id"]);
        browser.close().await;
    })
    .await;
}
