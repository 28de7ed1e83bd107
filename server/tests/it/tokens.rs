//! Access tokens for exposed APIs, the token shapes the JwtIssuer's metadata sets, the sliding
//! window of refresh tokens, and the client credentials grant.

use std::path::PathBuf;

use serde_json::Value;

use crate::attacks::{assert_app_error, assert_token_error};
use crate::common::*;

const SHAPES: &str = "B2C_1A_signin_token_shapes";
const FOREVER: &str = "B2C_1A_signin_token_forever";
const ORDERS: &str = "https://yourtenant.onmicrosoft.com/orders";

const APPS: &str = "apps:
  - client_id: orders-api
    api:
      identifier: https://yourtenant.onmicrosoft.com/orders
      scopes: [read, write]
  - client_id: native-a
    redirect_uris:
      public: [http://localhost:8765/cb]
    api_permissions:
      https://yourtenant.onmicrosoft.com/orders: [read]
  - client_id: daemon
    client_secret: B2C_1A_DaemonSecret
    api_permissions:
      https://yourtenant.onmicrosoft.com/orders: [read, write]
  - client_id: stranger
    client_secret: B2C_1A_DaemonSecret
";

/// The starter pack and `policies/tokens` with the apps above (the daemons' secret is `d4emon`).
async fn serve_tokens() -> Running {
    serve_tokens_and(None).await
}

/// [`serve_tokens`] with one more policy folder.
async fn serve_tokens_and(extra: Option<PathBuf>) -> Running {
    serve_with("LocalAccounts", |options| {
        options.policy_paths.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/tokens"));
        options.policy_paths.extend(extra);
        register_apps(options, APPS);
        std::fs::write(options.keys.join("B2C_1A_DaemonSecret.txt"), "d4emon\n").expect("secret");
    })
    .await
}

fn lifetime(token: &Value) -> i64 {
    let (Some(exp), Some(iat)) = (token["exp"].as_i64(), token["iat"].as_i64()) else { panic!("exp and iat: {token}") };
    exp - iat
}

#[tokio::test]
async fn a_granted_api_scope_gives_an_access_token_for_that_api_and_nothing_else_does() {
    let running = serve_tokens().await;
    let browser = Browser::new(&running);
    let scope = format!("openid offline_access {ORDERS}/read");
    let code = sign_up_with(&browser, &[("client_id", "native-a"), ("scope", &scope)]).await;
    let (status, body) = browser.redeem_as("native-a", &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "orders-api");
    let access = claims(body["access_token"].as_str().expect("an access token"));
    assert_eq!(
        (&access["aud"], &access["azp"], &access["scp"]),
        (&"orders-api".into(), &"native-a".into(), &"read".into())
    );
    assert_eq!(lifetime(&access), 3600, "the default token_lifetime_secs");
    let id_token = claims(body["id_token"].as_str().expect("an id token"));
    assert_eq!(id_token["aud"], "native-a");
    assert!(id_token.get("scp").is_none() && id_token.get("azp").is_none(), "{id_token}");
    assert_eq!(access["sub"], id_token["sub"]);

    // A refresh may not widen the grant.
    let refresh = body["refresh_token"].as_str().expect("refresh_token");
    let widened = format!("openid offline_access {ORDERS}/write");
    let (status, body) = browser
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "native-a"),
            ("refresh_token", refresh),
            ("scope", &widened),
        ])
        .await;
    assert_token_error(status, &body, "invalid_request", "AADB2C90205");

    // Not granted, not exposed, an unknown API, two APIs: refused at authorize, nothing issued.
    let cases = [
        (format!("openid {ORDERS}/write"), "AADB2C90205"),
        (format!("openid {ORDERS}/delete"), "AADB2C90012"),
        ("openid https://yourtenant.onmicrosoft.com/billing/pay".to_owned(), "AADB2C90012"),
        (format!("openid {ORDERS}/read native-a"), "AADB2C90146"),
    ];
    for (scope, code) in cases {
        let response = browser.get(&browser.authorize_url(&[("client_id", "native-a"), ("scope", &scope)])).await;
        assert_app_error(&response, "invalid_request", code);
    }
}

#[tokio::test]
async fn the_jwt_issuers_metadata_shapes_tokens_and_ends_the_refresh_window() {
    // The same policy with allow_infinite_rolling_refresh_token: its window never ends.
    let forever_folder = TempDir::new("forever");
    let shapes = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/tokens/SignInTokenShapes.xml"),
    )
    .expect("the policy");
    let forever = shapes.replace(SHAPES, FOREVER).replace(
        "<Item Key=\"rolling_refresh_token_lifetime_secs\">2</Item>",
        "<Item Key=\"rolling_refresh_token_lifetime_secs\">2</Item><Item Key=\"allow_infinite_rolling_refresh_token\">true</Item>",
    );
    std::fs::write(forever_folder.0.join("Forever.xml"), forever).expect("write");
    let running = serve_tokens_and(Some(forever_folder.0.clone())).await;
    let mut browser = Browser::new(&running);
    browser.policy = SHAPES.to_owned();
    let scope = format!("openid offline_access {ORDERS}/read");
    let code = sign_up_with(&browser, &[("client_id", "native-a"), ("scope", &scope)]).await;
    let (status, body) = browser.redeem_as("native-a", &code).await;
    assert_eq!(status, 200, "{body}");
    // SendTokenResponseBodyWithJsonNumbers=false: B2C's legacy strings.
    assert_eq!(body["expires_in"], "600");
    assert_eq!(body["id_token_expires_in"], "900");
    assert!(body["not_before"].is_string() && body["expires_on"].is_string(), "{body}");
    let window: i64 = body["refresh_token_expires_in"].as_str().and_then(|s| s.parse().ok()).expect("a number");
    assert!((0..=2).contains(&window), "the two-second sliding window bounds the refresh token: {window}");
    let id_token = claims(body["id_token"].as_str().expect("id_token"));
    let access = claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!((lifetime(&id_token), lifetime(&access)), (900, 600));
    // AuthenticationContextReferenceClaimPattern=None: no acr; the policy named by tfp instead.
    for token in [&id_token, &access] {
        assert!(token.get("acr").is_none(), "{token}");
        assert_eq!(token["tfp"], SHAPES);
    }

    let (status, body) = refresh_at(&browser, SHAPES, body["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(status, 200, "{body}");
    // The session signs in at the unbounded policy; its refresh token lives its own lifetime.
    browser.policy = FOREVER.to_owned();
    let response = browser.get(&browser.authorize_url(&[("client_id", "native-a"), ("scope", &scope)])).await;
    let code = param(&redirect_params(&response), "code").expect("a code from the session").to_owned();
    let (status, unbounded) = browser.redeem_as("native-a", &code).await;
    assert_eq!((status, &unbounded["refresh_token_expires_in"]), (200, &"86400".into()), "{unbounded}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = refresh_at(&browser, SHAPES, body["refresh_token"].as_str().expect("refresh")).await;
    assert_token_error(status, &body, "invalid_grant", "AADB2C90080");
    let (status, body) = refresh_at(&browser, FOREVER, unbounded["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(status, 200, "{body}");
}

async fn refresh_at(browser: &Browser, policy: &str, token: &str) -> (u16, Value) {
    let response = browser
        .client
        .post(browser.url(&format!("/{TENANT}/{policy}/oauth2/v2.0/token")))
        .form(&[("grant_type", "refresh_token"), ("client_id", "native-a"), ("refresh_token", token)])
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Client, secret, scope, and the error and B2C code they must bring.
type CredentialsCase<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str, &'a str);

async fn client_credentials(
    browser: &Browser,
    client: &str,
    secret: Option<&str>,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials"), ("client_id", client)];
    form.extend(secret.map(|s| ("client_secret", s)));
    form.extend(scope.map(|s| ("scope", s)));
    browser.token(&form).await
}

#[tokio::test]
async fn client_credentials_run_the_policys_journey_for_a_granted_confidential_app() {
    let running = serve_tokens().await;
    let mut browser = Browser::new(&running);
    browser.policy = SHAPES.to_owned();
    let default = format!("{ORDERS}/.default");
    let (status, body) = client_credentials(&browser, "daemon", Some("d4emon"), Some(&default)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["token_type"], &body["resource"], &body["expires_in"]),
        (&"Bearer".into(), &"orders-api".into(), &"600".into())
    );
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    let access = claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!(access["aud"], "orders-api");
    assert_eq!((&access["sub"], &access["azp"]), (&"daemon".into(), &"daemon".into()));
    assert_eq!(access["scp"], "read write", "every granted scope of the API");
    // The journey's own step put this claim in.
    assert_eq!(access["name"], "Orders daemon");
    assert_eq!(lifetime(&access), 600);
    let iss = format!("{}/{}/v2.0/", running.base, tenant_guid());
    assert_eq!(access["iss"], iss);

    let read = format!("{ORDERS}/read");
    let cases: [CredentialsCase<'_>; 7] = [
        ("native-a", None, Some(&default), "invalid_request", "AADB2C90079"),
        ("native-a", Some("d4emon"), Some(&default), "invalid_request", "AADB2C90084"),
        ("daemon", Some("d4em0n"), Some(&default), "invalid_client", "AADB2C90081"),
        ("stranger", Some("d4emon"), Some(&default), "invalid_scope", "AADB2C90205"),
        ("stranger", Some("d4emon"), Some(&read), "invalid_scope", "AADB2C90205"),
        ("daemon", Some("d4emon"), None, "invalid_request", "AADB2C90010"),
        ("daemon", Some("d4emon"), Some("openid"), "invalid_scope", "AADB2C90012"),
    ];
    for (client, secret, scope, error, code) in cases {
        let (status, body) = client_credentials(&browser, client, secret, scope).await;
        assert_token_error(status, &body, error, code);
    }
    // The starter pack's policy names no client credentials journey.
    browser.policy = POLICY.to_owned();
    let (status, body) = client_credentials(&browser, "daemon", Some("d4emon"), Some(&default)).await;
    assert_token_error(status, &body, "unsupported_grant_type", "AADB2C90086");
}

#[tokio::test]
async fn the_password_grant_runs_the_ropc_journey_and_refuses_wrong_credentials() {
    let running = serve_tokens().await;
    let starter = Browser::new(&running);
    let code = sign_up_with(&starter, &[("client_id", "native-a")]).await;
    let (_, body) = starter.redeem_as("native-a", &code).await;
    let alice = claims(body["id_token"].as_str().expect("id_token"));
    let mut browser = Browser::new(&running);
    browser.policy = "B2C_1A_ROPC_Auth".to_owned();
    let scope = format!("openid offline_access {ORDERS}/read");
    let grant = |username: &'static str, password: &'static str| {
        let scope = scope.clone();
        let browser = &browser;
        async move {
            let mut form = vec![("grant_type", "password"), ("client_id", "native-a"), ("scope", scope.as_str())];
            form.extend([("username", username), ("password", password)].into_iter().filter(|(_, v)| !v.is_empty()));
            browser.token(&form).await
        }
    };
    let (status, body) = grant("alice@contoso.com", "Passw0rd!2024").await;
    assert_eq!(status, 200, "{body}");
    let id_token = claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!((&id_token["sub"], &id_token["given_name"]), (&alice["sub"], &"Alice".into()));
    assert_eq!(id_token["acr"], "b2c_1a_ropc_auth");
    assert_eq!(claims(body["access_token"].as_str().expect("access_token"))["aud"], "orders-api");
    assert!(body["refresh_token"].is_string(), "{body}");

    for (username, password, error, code) in [
        ("alice@contoso.com", "Passw0rd!2025", "invalid_grant", "AADB2C90225"),
        ("nobody@contoso.com", "Passw0rd!2024", "invalid_grant", "AADB2C90225"),
        ("alice@contoso.com", "", "invalid_request", "AADB2C90083"),
    ] {
        let (status, body) = grant(username, password).await;
        assert_token_error(status, &body, error, code);
        assert!(!body.to_string().contains("Passw0rd"), "the password is not echoed: {body}");
    }
    // The starter pack's sign-in policy has no ROPC journey.
    let (status, body) = starter
        .token(&[
            ("grant_type", "password"),
            ("client_id", "native-a"),
            ("username", "alice@contoso.com"),
            ("password", "Passw0rd!2024"),
        ])
        .await;
    assert_token_error(status, &body, "unauthorized_client", "AADB2C90224");
}

#[test]
fn issuer_metadata_the_server_cannot_read_stops_the_start_at_its_position() {
    let folder = TempDir::new("bad-metadata");
    let shapes = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/tokens/SignInTokenShapes.xml"),
    )
    .expect("the policy");
    let bad = shapes
        .replace(SHAPES, "B2C_1A_bad_metadata")
        .replace(">600</Item>", ">an hour</Item>")
        .replace("WithJsonNumbers\">false<", "WithJsonNumbers\">yes<");
    let path = folder.0.join("Bad.xml");
    std::fs::write(&path, &bad).expect("write");
    let position = |needle: &str| {
        let offset = bad.find(needle).expect("in the file");
        let line = bad[..offset].matches('\n').count() + 1;
        let column = offset - bad[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
        format!("{}:{line}:{column}", path.display())
    };
    let keys = TempDir::new("bad-metadata-keys");
    let options = ief_server::ServeOptions::new(
        vec![starter_pack("LocalAccounts"), folder.0.clone()],
        "http://127.0.0.1:1",
        keys.0.clone(),
    );
    let error = ief_server::Server::load(&options).expect_err("refused").to_string();
    assert!(error.contains(&format!("{}: error[IEF604]: metadata 'token_lifetime_secs' of technical profile 'JwtIssuer' is 'an hour', not a whole number of seconds", position("an hour"))), "{error}");
    assert!(
        error
            .contains(&format!("{}: error[IEF604]: metadata 'SendTokenResponseBodyWithJsonNumbers'", position("yes<"))),
        "{error}"
    );
}
