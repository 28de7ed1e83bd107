//! Front-channel sign-out: logout signs the session's other applications out through their
//! logout URLs, then follows post_logout_redirect_uri.

use crate::attacks::assert_app_error;
use crate::common::*;

const APPS: &str = "apps:
  - client_id: native-a
    redirect_uris:
      public: [http://localhost:8765/cb]
    logout_url: http://localhost:8765/signout-a
  - client_id: native-b
    redirect_uris:
      public: [http://localhost:8765/cb]
    logout_url: http://localhost:8766/signout-b
  - client_id: native-c
    redirect_uris:
      public: [http://localhost:8765/cb]
";

#[tokio::test]
async fn logout_signs_the_other_applications_out_in_iframes_then_goes_on() {
    let running = serve_with("LocalAccounts", |options| register_apps(options, APPS)).await;
    let browser = Browser::new(&running);
    let code = sign_up_with(&browser, &[("client_id", "native-a")]).await;
    let (_, body) = browser.redeem_as("native-a", &code).await;
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    // The session signs b and c in without a page.
    for client in ["native-b", "native-c"] {
        let response = browser.get(&browser.authorize_url(&[("client_id", client)])).await;
        assert_eq!(response.status(), 302, "{client}");
        assert!(param(&redirect_params(&response), "code").is_some(), "{client}");
    }
    // The id token names who signs out, as client_id would; a forged one ends nothing.
    let logout = |extra: &str| browser.policy_url(&format!("oauth2/v2.0/logout?id_token_hint={id_token}{extra}"));
    let forged = id_token.replacen('.', ".eyJ", 1);
    let refused = browser.get(&browser.policy_url(&format!("oauth2/v2.0/logout?id_token_hint={forged}"))).await;
    crate::attacks::assert_error_page(refused, "AADB2C90210").await;
    let target = format!(
        "&post_logout_redirect_uri={}&state=bye",
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let response = browser.get(&logout(&target)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    // b has a logout URL; a started the logout; c registered none.
    assert_eq!(html.matches("<iframe").count(), 1, "{html}");
    assert!(html.contains("<iframe class=\"front-channel-logout\" src=\"http://localhost:8766/signout-b\""), "{html}");
    assert!(!html.contains("signout-a"), "{html}");
    let next = format!("{REDIRECT}?state=bye");
    assert!(
        html.contains(&format!("content=\"3;url={next}\"")) && html.contains(&format!("href=\"{next}\"")),
        "{html}"
    );

    // The session is gone: prompt=none has nothing to sign in with, and a second logout has no
    // one left to sign out, so it redirects at once.
    let response = browser.get(&browser.authorize_url(&[("client_id", "native-b"), ("prompt", "none")])).await;
    assert_app_error(&response, "interaction_required", "AADB2C90077");
    let response = browser.get(&logout(&target)).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], next.as_str());
}
