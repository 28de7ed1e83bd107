//! HTTPS with the local CA: made once, kept, and trusted across restarts.

use std::sync::Arc;

use ief_server::Server;

use crate::common::*;

/// Serves the starter pack over HTTPS with the CA in `ca_dir`; returns the task and the base URL.
async fn serve_https_keeping(
    ca_dir: &std::path::Path,
    keys: &std::path::Path,
) -> (tokio::task::JoinHandle<()>, String, Arc<Server>) {
    let (listener, base) = listen("https://localhost").await;
    let server = Arc::new(load(vec![starter_pack("LocalAccounts")], &base, keys.to_path_buf(), |_| {}));
    (serve_tls(&server, listener, ca_dir).0, base, server)
}

#[tokio::test]
async fn sign_up_over_https_and_the_ca_outlives_a_restart() {
    let temp = TempDir::new("https");
    let ca_dir = temp.0.join("ca");
    let (first, base, server) = serve_https_keeping(&ca_dir, &temp.0.join("keys")).await;
    let ca_pem = std::fs::read(ca_dir.join("ca.pem")).expect("ca.pem");
    let browser = Browser { codes: Some(server), ..Browser::trusting(&base, Some(&ca_pem)) };
    let body = signed_up(&browser).await;
    assert_eq!(claims(body["id_token"].as_str().expect("id_token"))["iss"], format!("{base}/{}/v2.0/", tenant_guid()));
    first.abort();

    // A restart signs a new server certificate with the kept CA: clients keep trusting it.
    let (second, base, _) = serve_https_keeping(&ca_dir, &temp.0.join("keys")).await;
    assert_eq!(std::fs::read(ca_dir.join("ca.pem")).expect("ca.pem"), ca_pem, "the CA is made once");
    let browser = Browser::trusting(&base, Some(&ca_pem));
    let response = browser.get(&browser.policy_url("v2.0/.well-known/openid-configuration")).await;
    assert_eq!(response.status(), 200);
    // A client that trusts nothing refuses the server: the certificate is not a public one.
    let stranger = reqwest::Client::builder().tls_certs_only([]).build().expect("client");
    assert!(stranger.get(browser.policy_url("discovery/v2.0/keys")).send().await.is_err());

    // The page's cookies are B2C's over HTTPS: Secure, HttpOnly, SameSite=None.
    let page = browser.get(&browser.authorize_url(&[])).await;
    assert_eq!(page.status(), 200);
    let cookies: Vec<&str> = page.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    for name in ["x-ms-cpim-trans", "x-ms-cpim-csrf"] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name}: {cookies:?}"));
        for attribute in ["Secure", "HttpOnly", "SameSite=None"] {
            assert!(cookie.split("; ").any(|a| a == attribute), "{cookie}");
        }
    }
    second.abort();
}
