//! `ief idp serve` as a process: it prints its URLs, serves OpenID discovery over HTTPS with the
//! CA it wrote, the OAuth1 and OAuth2 providers beside it, its generated client credentials
//! work at each, and `--for` stops it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Running, Scratch, spawn};

/// Starts `ief idp serve ARGS` and collects its output up to the line starting with `until`.
pub(crate) fn serve(args: &[&str], until: &str) -> (Running, Vec<String>) {
    spawn(&["idp", "serve"], args, until)
}

pub(crate) fn value<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    let line = lines.iter().find(|l| l.trim_start().starts_with(prefix)).expect(prefix);
    line.trim_start()[prefix.len()..].split_whitespace().next().expect("a value")
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// A client for the plain-HTTP providers (OAuth1, OAuth2) that does not follow redirects.
pub(crate) fn plain_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub(crate) fn https(ca: &Path, identity: Option<&Path>) -> reqwest::Client {
    let ca = std::fs::read(ca).expect("ca.pem");
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA certificate")]);
    if let Some(path) = identity {
        let pem = std::fs::read(path).expect("identity file");
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("certificate and key"));
    }
    builder.build().expect("client")
}

#[test]
fn idp_serve_serves_discovery_and_its_generated_clients_work() {
    let out = Scratch::new("serve");
    let out_text = out.0.to_str().expect("UTF-8 temp path");
    let (_server, lines) = serve(&["--out", out_text, "--for", "300"], "client: ief-oauth2-client");
    let text = lines.join("\n");
    let issuer = value(&lines, "oidc: ").to_owned();
    assert!(issuer.starts_with("https://127.0.0.1:"), "{text}");
    let discovery = value(&lines, "discovery: ").to_owned();
    assert_eq!(discovery, format!("{issuer}/.well-known/openid-configuration"));
    assert!(text.contains("user: alice (password Passw0rd!)"), "{text}");
    for file in [
        "ca.pem",
        "ief-secret-post.txt",
        "ief-secret-basic.txt",
        "ief-private-key-jwt.pem",
        "ief-tls-client-auth.pem",
        "ief-self-signed-tls-client-auth.pem",
        "ief-oauth1-consumer.txt",
        "ief-oauth2-client.txt",
    ] {
        let path = out.0.join(file);
        assert!(path.is_file(), "{file} was not written");
        assert!(text.contains(&path.display().to_string()), "{file} is not named in the output:\n{text}");
    }
    // Secrets are in files, never in the output.
    let secret = std::fs::read_to_string(out.0.join("ief-secret-post.txt")).expect("secret");
    assert!(!text.contains(secret.trim()));

    let ca = out.0.join("ca.pem");
    runtime().block_on(async {
        let plain = https(&ca, None);
        let doc: serde_json::Value = plain.get(&discovery).send().await.expect("discovery").json().await.expect("JSON");
        assert_eq!(doc["issuer"], issuer.as_str());
        assert_eq!(doc["token_endpoint_auth_methods_supported"].as_array().map(Vec::len), Some(5));

        // Sign alice in through the form, then redeem the code with the written certificate.
        let code = sign_in(&plain, &format!("{issuer}/authorize"), "ief-tls-client-auth", ("scope", "openid")).await;
        let mtls = https(&ca, Some(&out.0.join("ief-tls-client-auth.pem")));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "ief-tls-client-auth"),
        ];
        let response = mtls.post(format!("{issuer}/token")).form(&form).send().await.expect("token");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        let token = body["access_token"].as_str().expect("access token");
        let info: serde_json::Value = mtls
            .get(format!("{issuer}/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo")
            .json()
            .await
            .expect("JSON");
        assert_eq!(info["email"], "alice@example.com");
    });
}

/// B2C's callback URI, registered for the default clients.
pub(crate) const REDIRECT: &str = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp";

/// Posts alice's login form for `client_id` and returns the code of the redirect to B2C.
pub(crate) async fn sign_in(client: &reqwest::Client, authorize: &str, client_id: &str, extra: (&str, &str)) -> String {
    let form = [
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        extra,
        ("username", "alice"),
        ("password", "Passw0rd!"),
    ];
    let response = client.post(authorize).form(&form).send().await.expect("authorize");
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let callback = reqwest::Url::parse(&location).expect("a URL");
    callback.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code")
}

pub(crate) fn secret_file(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).expect("a secret file").trim_end().to_owned()
}

#[test]
fn idp_serve_runs_the_oauth1_and_oauth2_providers_with_working_credentials() {
    let out = Scratch::new("oauth");
    let out_text = out.0.to_str().expect("UTF-8 temp path");
    let (_server, lines) = serve(&["--out", out_text, "--for", "300"], "client: ief-oauth2-client");
    let text = lines.join("\n");
    let oauth1 = value(&lines, "oauth1: ").to_owned();
    let oauth2 = value(&lines, "oauth2: ").to_owned();
    assert!(oauth1.starts_with("http://127.0.0.1:") && oauth2.starts_with("http://127.0.0.1:"), "{text}");
    assert_ne!(oauth1, oauth2);
    assert_eq!(value(&lines, "request token: "), format!("{oauth1}/oauth/request_token"));
    assert_eq!(value(&lines, "token: "), format!("{oauth2}/oauth2/access_token"));
    assert!(text.contains("consumer: ief-oauth1-consumer (HMAC-SHA1, secret in"), "{text}");
    assert!(text.contains("client: ief-oauth2-client (client_secret_post, secret in"), "{text}");
    let consumer_secret = secret_file(&out.0, "ief-oauth1-consumer.txt");
    let client_secret = secret_file(&out.0, "ief-oauth2-client.txt");
    assert!(!text.contains(&consumer_secret) && !text.contains(&client_secret), "secrets stay in their files");

    runtime().block_on(async {
        let http = plain_http();

        // OAuth1: temporary credentials for a request signed with the written consumer secret.
        let url = format!("{oauth1}/oauth/request_token");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let signer = ief_protocols::oauth1::Signer::new(ief_protocols::oauth1::Credentials::new(
            "ief-oauth1-consumer",
            consumer_secret.as_str(),
        ));
        let input = ief_protocols::oauth1::SignInput {
            method: "POST",
            url: &url,
            callback: Some("https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1a_x/oauth1/authresp"),
            nonce: "idp-serve-test-nonce",
            timestamp: now,
            ..Default::default()
        };
        let authorization = signer.sign(&input).expect("signed");
        let response = http.post(&url).header("Authorization", authorization).send().await.expect("request token");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert!(body.contains("oauth_token=") && body.contains("oauth_callback_confirmed=true"), "{body}");
        let token = body.split('&').find_map(|p| p.strip_prefix("oauth_token=")).expect("a token");
        let page = http.get(format!("{oauth1}/oauth/authenticate?oauth_token={token}")).send().await.expect("page");
        assert_eq!(page.status(), reqwest::StatusCode::OK);
        assert!(page.text().await.expect("page").contains(r#"type="password""#));

        // OAuth2: alice signs in through the form, the code is redeemed with the written secret,
        // and the token reads the nested user document.
        let code = sign_in(&http, &format!("{oauth2}/oauth2/authorize"), "ief-oauth2-client", ("state", "st")).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "ief-oauth2-client"),
            ("client_secret", client_secret.as_str()),
        ];
        let response = http
            .post(format!("{oauth2}/oauth2/access_token"))
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
            .expect("token");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        let token = body["access_token"].as_str().expect("an access token");
        let user: serde_json::Value = http
            .get(format!("{oauth2}/user"))
            .bearer_auth(token)
            .send()
            .await
            .expect("user")
            .json()
            .await
            .expect("JSON");
        assert_eq!(user["data"]["email"], "alice@example.com", "{user}");
        assert_eq!(user["data"]["id"], "1442017", "{user}");
    });
}

#[test]
fn idp_serve_reads_a_config_and_stops_after_for_seconds() {
    let out = Scratch::new("config");
    let config = out.0.join("idp.yaml");
    std::fs::write(
        &config,
        "users:\n  - username: bob\n    password: pw\noidc:\n  clients:\n    - client_id: app/one\n      token_endpoint_auth_method: tls_client_auth\n      tls_client_auth_subject_dn: CN=app one,O=ief\n      redirect_uris: [https://app.example/cb]\noauth1:\n  consumers: [{key: x-app, secret: x-secret}]\noauth2:\n  clients: [{client_id: gh-app, client_secret: gh-secret}]\n",
    )
    .expect("config");
    let out_text = out.0.to_str().expect("UTF-8 temp path");
    let config_text = config.to_str().expect("UTF-8 temp path");
    let (mut server, lines) =
        serve(&["--config", config_text, "--out", out_text, "--for", "1"], "serving for 1 seconds");
    let text = lines.join("\n");
    assert!(text.contains("user: bob") && !text.contains("alice"), "{text}");
    assert!(text.contains("client: app/one (tls_client_auth, certificate and key in"), "{text}");
    // The shared users and the configured clients at the OAuth providers too.
    assert_eq!(text.matches("user: bob").count(), 3, "{text}");
    assert!(text.contains("consumer: x-app (HMAC-SHA1)") && !text.contains("x-secret"), "{text}");
    assert!(text.contains("client: gh-app (client_secret_post)") && !text.contains("gh-secret"), "{text}");
    let identity = std::fs::read_to_string(out.0.join("app_one.pem")).expect("certificate for the configured client");
    assert!(identity.contains("BEGIN CERTIFICATE") && identity.contains("BEGIN PRIVATE KEY"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "ief idp serve --for 1 is still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn idp_serve_names_what_is_wrong_in_a_config() {
    let out = Scratch::new("bad");
    let config = out.0.join("idp.yaml");
    std::fs::write(&config, "oidc:\n  clients:\n    - client_id: x\n      colour: blue\n").expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_ief"))
        .args(["idp", "serve", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out.0)
        .output()
        .expect("ief runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");
    // A client the provider cannot use is refused before anything listens.
    std::fs::write(&config, "oidc:\n  clients:\n    - client_id: x\n      token_endpoint_auth_method: private_key_jwt\n      redirect_uris: [https://a/cb]\n").expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_ief"))
        .args(["idp", "serve", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out.0)
        .output()
        .expect("ief runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("client 'x': private_key_jwt needs jwks or public_key_pem"), "{stderr}");
}
