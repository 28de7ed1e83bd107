//! The provider over real HTTPS with real mutual TLS: reqwest clients present certificates
//! from the generated PKI and trust its CA only.

use std::sync::atomic::{AtomicI64, Ordering};

use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{DecodingKey, Header, Validation};
use reqwest::StatusCode as Status;

use super::*;
use crate::pki::{IssuedCert, self_signed_client_cert};
use ief_protocols::federation::client_auth::basic_authorization;

/// 2024-01-01T00:00:00Z, the clock of deterministic scenario runs.
const NOW: i64 = 1_704_067_200;
const REDIRECT: &str = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp";
/// Every character RFC 6749 §2.3.1's encoding changes.
const SPECIAL_SECRET: &str = "sp3c:al+/=%&?~ secret";
const TLS_DN: &str = "CN=tls client,O=ief";

struct Fixture {
    op: OidcProvider,
    time: Arc<AtomicI64>,
    keys: KeyStore,
    tls_cert: IssuedCert,
    self_signed: IssuedCert,
}

fn alice() -> TestUser {
    let claims = json!({"email": "alice@example.com", "name": "Alice Smith", "sub": "alice-id"});
    TestUser { username: "alice".into(), password: "Passw0rd!".into(), claims: claims.as_object().unwrap().clone() }
}

async fn fixture(auto_login: bool) -> Fixture {
    let pki = Arc::new(TestPki::generate().unwrap());
    let time = Arc::new(AtomicI64::new(NOW));
    let clock_time = time.clone();
    let mut keys = KeyStore::empty();
    for name in ["jwt", "jwt512", "other"] {
        keys.insert_pem(name, &pki::rsa_private_key_pem().unwrap()).unwrap();
    }
    let tls_cert = pki.client_cert(TLS_DN).unwrap();
    let self_signed = self_signed_client_cert("CN=self signed client").unwrap();
    keys.insert_pem("self", &self_signed.identity_pem()).unwrap();
    let jwk = |name: &str| keys.signing_key(name).unwrap().public_jwk().clone();
    let mut config = OidcConfig::default()
        .user(alice())
        .clock(Arc::new(move || clock_time.load(Ordering::SeqCst)))
        .client(ClientConfig::client_secret_post("post", "post-secret").redirect_uri(REDIRECT))
        .client(ClientConfig::client_secret_basic("basic", SPECIAL_SECRET).redirect_uri(REDIRECT))
        .client(ClientConfig::client_secret_basic("basic-plus", "a+b").redirect_uri(REDIRECT))
        .client(ClientConfig::private_key_jwt("jwt", jwk("jwt")).redirect_uri(REDIRECT))
        .client(
            ClientConfig::private_key_jwt("jwt512", json!({"keys": [jwk("jwt512")]}))
                .signing_alg("RS512")
                .redirect_uri(REDIRECT),
        )
        .client(
            ClientConfig::tls_client_auth("mtls", "o=IEF, cn=TLS  Client").redirect_uri(REDIRECT).certificate_bound(),
        )
        .client(
            ClientConfig::self_signed_tls_client_auth("self", keys.identity_pem("self").unwrap().0)
                .redirect_uri(REDIRECT)
                .certificate_bound(),
        );
    if auto_login {
        config = config.auto_login("alice");
    }
    let op = OidcProvider::start_with(config, pki, 0).await.unwrap();
    Fixture { op, time, keys, tls_cert, self_signed }
}

/// An HTTPS client trusting only the test CA, presenting `identity` if given.
fn http(op: &OidcProvider, identity: Option<&IssuedCert>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(op.ca_pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .tls_certs_only([ca]);
    if let Some(identity) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(identity.identity_pem().as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn query_params(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// A code from the auto-login user, for `client_id`, with extra authorization parameters.
async fn code(f: &Fixture, client_id: &str, extra: &[(&str, &str)]) -> String {
    let response = authorize(f, client_id, extra).await;
    assert_eq!(response.status(), Status::FOUND, "{:?}", response.text().await);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let params = query_params(&location);
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(params["iss"], f.op.issuer());
    assert_eq!(params["state"], "st");
    params["code"].clone()
}

async fn authorize(f: &Fixture, client_id: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st"),
        ("nonce", "n-0S6"),
    ];
    for (k, v) in extra {
        params.retain(|(p, _)| p != k);
        params.push((k, v));
    }
    http(&f.op, None).get(f.op.url("/authorize")).query(&params).send().await.unwrap()
}

/// POSTs a token request; returns status and JSON.
async fn token_request(
    client: &reqwest::Client,
    f: &Fixture,
    form: &[(&str, &str)],
    authorization: Option<String>,
) -> (Status, Value) {
    let mut request = client.post(f.op.url("/token")).form(form);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn code_form<'a>(code: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
    form.extend_from_slice(extra);
    form
}

fn assertion(f: &Fixture, key: &str, alg: Algorithm, iss: &str, aud: &str, exp: i64, jti: &str) -> String {
    let key = f.keys.signing_key(key).unwrap();
    let header = key.header(alg);
    let claims = json!({"iss": iss, "sub": iss, "aud": aud, "exp": exp, "iat": NOW, "jti": jti});
    jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap()
}

fn assert_rejected(result: &(Status, Value), status: Status, error: &str, cause: &str) {
    let (s, body) = result;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(cause), "expected '{cause}' in '{description}'");
}

/// Checks an id_token against the provider's JWKS and returns its claims.
async fn verify_id_token(f: &Fixture, id_token: &str, audience: &str) -> Map<String, Value> {
    let jwks: Value = http(&f.op, None).get(f.op.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[f.op.issuer()]);
    // The provider's clock is fixed in 2024; jsonwebtoken would compare with the wall clock.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(id_token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap();
    data.claims
}

#[tokio::test]
async fn discovery_describes_the_provider() {
    let f = fixture(true).await;
    let doc: Value = http(&f.op, None).get(f.op.discovery_url()).send().await.unwrap().json().await.unwrap();
    let iss = f.op.issuer();
    assert!(iss.starts_with("https://127.0.0.1:"), "{iss}");
    assert_eq!(doc["issuer"], iss);
    assert_eq!(doc["token_endpoint"], format!("{iss}/token"));
    assert_eq!(doc["jwks_uri"], format!("{iss}/jwks"));
    assert_eq!(doc["mtls_endpoint_aliases"]["token_endpoint"], format!("{iss}/token"));
    assert_eq!(doc["mtls_endpoint_aliases"]["userinfo_endpoint"], format!("{iss}/userinfo"));
    let methods: Vec<&str> =
        doc["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for m in Method::ALL {
        assert!(methods.contains(&m.as_str()), "{}", m.as_str());
    }
    assert_eq!(doc["token_endpoint_auth_signing_alg_values_supported"], json!(["RS256", "RS512"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    assert!(doc["claims_supported"].as_array().unwrap().contains(&json!("email")));
    assert_eq!(f.op.clients().len(), 7);
}

#[tokio::test]
async fn handshakes_are_counted_once_per_kept_alive_connection() {
    let f = fixture(true).await;
    assert_eq!(f.op.served().tls_handshakes(), 0);
    let client = http(&f.op, None);
    for path in [DISCOVERY_PATH, "/jwks", DISCOVERY_PATH] {
        let response = client.get(f.op.url(path)).send().await.unwrap();
        assert_eq!(response.status(), Status::OK);
        // Read to the end, so the connection goes back to the pool.
        response.bytes().await.unwrap();
    }
    assert_eq!(f.op.served().tls_handshakes(), 1, "three requests over one kept-alive connection");
    http(&f.op, None).get(f.op.url("/jwks")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(f.op.served().tls_handshakes(), 2, "another client, another connection");
}

#[tokio::test]
async fn every_client_authentication_method_is_accepted() {
    let f = fixture(true).await;
    let plain = http(&f.op, None);
    let token_endpoint = f.op.url("/token");

    let c = code(&f, "post", &[]).await;
    let (status, body) =
        token_request(&plain, &f, &code_form(&c, &[("client_id", "post"), ("client_secret", "post-secret")]), None)
            .await;
    assert_eq!(status, Status::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let claims = verify_id_token(&f, body["id_token"].as_str().unwrap(), "post").await;
    assert_eq!(claims["sub"], "alice-id");
    assert_eq!(claims["nonce"], "n-0S6");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 3600);
    let info =
        plain.get(f.op.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(info.status(), Status::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], "alice-id");
    assert_eq!(info["name"], "Alice Smith");

    let c = code(&f, "basic", &[]).await;
    let basic = basic_authorization("basic", SPECIAL_SECRET);
    let (status, body) = token_request(&plain, &f, &code_form(&c, &[]), Some(basic)).await;
    assert_eq!(status, Status::OK, "{body}");

    let c = code(&f, "jwt", &[]).await;
    let a = assertion(&f, "jwt", Algorithm::RS256, "jwt", &token_endpoint, NOW + 300, "j1");
    let form = code_form(&c, &[("client_id", "jwt"), ("client_assertion_type", JWT_BEARER), ("client_assertion", &a)]);
    let (status, body) = token_request(&plain, &f, &form, None).await;
    assert_eq!(status, Status::OK, "{body}");

    // The issuer is an accepted audience too, and client_id may be left out.
    let c = code(&f, "jwt512", &[]).await;
    let a = assertion(&f, "jwt512", Algorithm::RS512, "jwt512", f.op.issuer(), NOW + 300, "j1");
    let form = code_form(&c, &[("client_assertion_type", JWT_BEARER), ("client_assertion", &a)]);
    let (status, body) = token_request(&plain, &f, &form, None).await;
    assert_eq!(status, Status::OK, "{body}");

    let mtls = http(&f.op, Some(&f.tls_cert));
    let c = code(&f, "mtls", &[]).await;
    let (status, body) = token_request(&mtls, &f, &code_form(&c, &[("client_id", "mtls")]), None).await;
    assert_eq!(status, Status::OK, "{body}");
    let info =
        mtls.get(f.op.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(info.status(), Status::OK);

    let own = http(&f.op, Some(&f.self_signed));
    let c = code(&f, "self", &[]).await;
    let (status, body) = token_request(&own, &f, &code_form(&c, &[("client_id", "self")]), None).await;
    assert_eq!(status, Status::OK, "{body}");
    let info = own.get(f.op.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(info.status(), Status::OK);
}

#[tokio::test]
async fn client_secrets_are_checked_and_basic_needs_rfc_6749_encoding() {
    let f = fixture(true).await;
    let plain = http(&f.op, None);
    let c = code(&f, "post", &[]).await;
    let wrong = code_form(&c, &[("client_id", "post"), ("client_secret", "nope")]);
    assert_rejected(
        &token_request(&plain, &f, &wrong, None).await,
        Status::UNAUTHORIZED,
        "invalid_client",
        "the client secret does not match the one registered for client 'post'",
    );
    // A failed client authentication leaves the code usable.
    let right = code_form(&c, &[("client_id", "post"), ("client_secret", "post-secret")]);
    assert_eq!(token_request(&plain, &f, &right, None).await.0, Status::OK);

    let c = code(&f, "post", &[]).await;
    let (status, body) =
        token_request(&plain, &f, &code_form(&c, &[]), Some(basic_authorization("post", "post-secret"))).await;
    assert_rejected(
        &(status, body),
        Status::UNAUTHORIZED,
        "invalid_client",
        "registered for client_secret_post, but sent an Authorization: Basic header",
    );

    // The special secret sent without the form-urlencoding: '%&?' is no escape.
    let c = code(&f, "basic", &[]).await;
    let raw = format!("Basic {}", STANDARD.encode(format!("basic:{SPECIAL_SECRET}")));
    assert_rejected(
        &token_request(&plain, &f, &code_form(&c, &[]), Some(raw)).await,
        Status::BAD_REQUEST,
        "invalid_request",
        "RFC 6749 §2.3.1",
    );
    // A raw '+' decodes to a space: the secret no longer matches, and the cause is named.
    let c = code(&f, "basic-plus", &[]).await;
    let raw = format!("Basic {}", STANDARD.encode("basic-plus:a+b"));
    let response = plain
        .post(f.op.url("/token"))
        .form(&code_form(&c, &[]))
        .header(header::AUTHORIZATION, raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"ief\"");
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("not form-urlencoded as RFC 6749"), "{body}");
    let encoded = basic_authorization("basic-plus", "a+b");
    assert_eq!(token_request(&plain, &f, &code_form(&c, &[]), Some(encoded)).await.0, Status::OK);
    // Secrets never come back in errors.
    let c = code(&f, "basic", &[]).await;
    let (_, body) = token_request(&plain, &f, &code_form(&c, &[]), Some(basic_authorization("basic", "guess"))).await;
    assert!(!body.to_string().contains("guess") && !body.to_string().contains("sp3c"), "{body}");
    // Two methods at once are refused.
    let both = code_form(&c, &[("client_secret", "x")]);
    assert_rejected(
        &token_request(&plain, &f, &both, Some(basic_authorization("basic", SPECIAL_SECRET))).await,
        Status::BAD_REQUEST,
        "invalid_request",
        "more than one client authentication method",
    );
}

#[tokio::test]
async fn client_assertions_are_verified() {
    let f = fixture(true).await;
    let plain = http(&f.op, None);
    let endpoint = f.op.url("/token");
    let mut cases = vec![
        ("jwt", assertion(&f, "other", Algorithm::RS256, "jwt", &endpoint, NOW + 300, "a"), "client assertion kid"),
        (
            "jwt512",
            assertion(&f, "jwt512", Algorithm::RS256, "jwt512", &endpoint, NOW + 300, "b"),
            "client assertion is signed with RS256, but client 'jwt512' registered RS512",
        ),
        (
            "jwt",
            assertion(&f, "jwt", Algorithm::RS256, "jwt", "https://elsewhere.example/token", NOW + 300, "c"),
            "client assertion aud 'https://elsewhere.example/token' is neither the token endpoint",
        ),
        (
            "jwt",
            assertion(&f, "jwt", Algorithm::RS256, "jwt", &endpoint, NOW - 1, "d"),
            "client assertion expired at 2023-12-31T23:59:59Z (now 2024-01-01T00:00:00Z)",
        ),
    ];
    // The wrong key without a kid: only the signature can tell.
    let other = f.keys.signing_key("other").unwrap();
    let claims = json!({"iss": "jwt", "sub": "jwt", "aud": endpoint, "exp": NOW + 300, "jti": "e"});
    let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, other.encoding_key()).unwrap();
    cases.push((
        "jwt",
        no_kid,
        "client assertion signature does not verify with the key(s) registered for client 'jwt'",
    ));
    for (client, a, cause) in &cases {
        let c = code(&f, client, &[]).await;
        let form = code_form(&c, &[("client_assertion_type", JWT_BEARER), ("client_assertion", a)]);
        assert_rejected(&token_request(&plain, &f, &form, None).await, Status::UNAUTHORIZED, "invalid_client", cause);
    }

    // A jti is good once.
    let a = assertion(&f, "jwt", Algorithm::RS256, "jwt", &endpoint, NOW + 300, "once");
    let c = code(&f, "jwt", &[]).await;
    let form = code_form(&c, &[("client_assertion_type", JWT_BEARER), ("client_assertion", &a)]);
    assert_eq!(token_request(&plain, &f, &form, None).await.0, Status::OK);
    let c = code(&f, "jwt", &[]).await;
    let form = code_form(&c, &[("client_assertion_type", JWT_BEARER), ("client_assertion", &a)]);
    assert_rejected(
        &token_request(&plain, &f, &form, None).await,
        Status::UNAUTHORIZED,
        "invalid_client",
        "client assertion jti was already used",
    );
    // A secret is no substitute for the assertion.
    let form = code_form(&c, &[("client_id", "jwt"), ("client_secret", "x")]);
    assert_rejected(
        &token_request(&plain, &f, &form, None).await,
        Status::UNAUTHORIZED,
        "invalid_client",
        "registered for private_key_jwt, but sent client_secret in the body",
    );
}

#[tokio::test]
async fn client_certificates_are_checked() {
    let f = fixture(true).await;
    let pki = f.op.pki().clone();
    let rogue = pki.rogue_client_cert(TLS_DN).unwrap();
    let other_dn = pki.client_cert("CN=other,O=ief").unwrap();
    let unregistered = self_signed_client_cert("CN=self signed client").unwrap();
    let cases: Vec<(&str, Option<&IssuedCert>, String)> = vec![
        (
            "mtls",
            None,
            "no client certificate was presented (client 'mtls' is registered for tls_client_auth)".to_owned(),
        ),
        ("mtls", Some(&rogue), "client certificate does not chain to a trusted CA".to_owned()),
        (
            "mtls",
            Some(&other_dn),
            "certificate subject 'CN=other,O=ief' does not match the registered 'O=IEF,CN=TLS  Client'".to_owned(),
        ),
        ("self", None, "no client certificate was presented".to_owned()),
        (
            "self",
            Some(&unregistered),
            format!("the client certificate (x5t#S256 {}) is not one registered", unregistered.x5t_s256()),
        ),
        // A trusted certificate is no self-signed registration either.
        ("self", Some(&f.tls_cert), "is not one registered for client 'self'".to_owned()),
    ];
    for (client, identity, cause) in &cases {
        let c = code(&f, client, &[]).await;
        let http = http(&f.op, *identity);
        let result = token_request(&http, &f, &code_form(&c, &[("client_id", client)]), None).await;
        assert_rejected(&result, Status::UNAUTHORIZED, "invalid_client", cause);
    }
    // A certificate client sending a secret is told so.
    let c = code(&f, "mtls", &[]).await;
    let result = token_request(
        &http(&f.op, Some(&f.tls_cert)),
        &f,
        &code_form(&c, &[("client_id", "mtls"), ("client_secret", "x")]),
        None,
    )
    .await;
    assert_rejected(
        &result,
        Status::UNAUTHORIZED,
        "invalid_client",
        "registered for tls_client_auth, but sent client_secret",
    );
}

#[tokio::test]
async fn further_client_cas_can_be_trusted() {
    let pki = Arc::new(TestPki::generate().unwrap());
    let mut config = OidcConfig::default()
        .user(alice())
        .auto_login("alice")
        .client(ClientConfig::tls_client_auth("mtls", TLS_DN).redirect_uri(REDIRECT));
    config.client_ca_pems.push(pki.rogue_ca_pem().to_owned());
    let op = OidcProvider::start_with(config, pki.clone(), 0).await.unwrap();
    let f = Fixture {
        op,
        time: Arc::new(AtomicI64::new(NOW)),
        keys: KeyStore::empty(),
        tls_cert: pki.rogue_client_cert(TLS_DN).unwrap(),
        self_signed: self_signed_client_cert("CN=unused").unwrap(),
    };
    let c = code(&f, "mtls", &[]).await;
    let result =
        token_request(&http(&f.op, Some(&f.tls_cert)), &f, &code_form(&c, &[("client_id", "mtls")]), None).await;
    assert_eq!(result.0, Status::OK, "{}", result.1);
}

#[tokio::test]
async fn certificate_bound_tokens_need_the_same_certificate_at_userinfo() {
    let f = fixture(true).await;
    let mtls = http(&f.op, Some(&f.tls_cert));
    let c = code(&f, "mtls", &[]).await;
    let (status, body) = token_request(&mtls, &f, &code_form(&c, &[("client_id", "mtls")]), None).await;
    assert_eq!(status, Status::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let bound = f.tls_cert.x5t_s256();

    let response = http(&f.op, None).get(f.op.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), Status::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("bound to a client certificate (x5t#S256 {bound}), but none was presented"))
    );

    let another = f.op.pki().client_cert(TLS_DN).unwrap();
    let response = http(&f.op, Some(&another)).get(f.op.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), Status::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    let expected = format!("bound to certificate x5t#S256 {bound}, but x5t#S256 {} was presented", another.x5t_s256());
    assert!(body["error_description"].as_str().unwrap().contains(&expected), "{body}");

    assert!(f.op.userinfo_answers().is_empty(), "refused requests are not answers");
    assert_eq!(mtls.get(f.op.url("/userinfo")).bearer_auth(token).send().await.unwrap().status(), Status::OK);
    let answered = f.op.userinfo_answers();
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].client_id, "mtls");
    assert_eq!(answered[0].certificate.as_deref(), Some(bound.as_str()));
    let response = mtls.get(f.op.url("/userinfo")).bearer_auth("made-up").send().await.unwrap();
    assert_eq!(response.status(), Status::UNAUTHORIZED);
    let response = mtls.get(f.op.url("/userinfo")).send().await.unwrap();
    assert_eq!(response.status(), Status::UNAUTHORIZED);
}

#[tokio::test]
async fn access_tokens_are_refused_once_expired_even_before_they_are_pruned() {
    // A token that expires the second it is issued: that second's prune already ran (at the
    // authorization and the token request), so only the lookup's own expiry check refuses it.
    for (lifetime, expected) in [(60, Status::OK), (0, Status::UNAUTHORIZED)] {
        let mut config = OidcConfig::default()
            .user(alice())
            .auto_login("alice")
            .clock(Arc::new(|| NOW))
            .client(ClientConfig::client_secret_post("post", "post-secret").redirect_uri(REDIRECT));
        config.token_lifetime_secs = lifetime;
        let op = OidcProvider::start(config).await.unwrap();
        let client = http(&op, None);
        let query = [("client_id", "post"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")];
        let response = client.get(op.url("/authorize")).query(&query).send().await.unwrap();
        let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
        let code = query_params(&location)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "post"),
            ("client_secret", "post-secret"),
        ];
        let body: Value = client.post(op.url("/token")).form(&form).send().await.unwrap().json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        let response = client.get(op.url("/userinfo")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), expected, "token lifetime {lifetime}");
        let body: Value = response.json().await.unwrap();
        if expected == Status::OK {
            assert_eq!(body["sub"], "alice-id");
        } else {
            assert!(body["error_description"].as_str().unwrap().contains("not recognised"), "{body}");
        }
    }
}

#[tokio::test]
async fn codes_are_single_use_bound_short_lived_and_pkce_checked() {
    let f = fixture(true).await;
    let plain = http(&f.op, None);
    let secret = [("client_id", "post"), ("client_secret", "post-secret")];

    let c = code(&f, "post", &[]).await;
    let (status, first) = token_request(&plain, &f, &code_form(&c, &secret), None).await;
    assert_eq!(status, Status::OK);
    assert_rejected(
        &token_request(&plain, &f, &code_form(&c, &secret), None).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "the authorization code was already used",
    );
    // The replay revoked the first redemption's token.
    let response = plain.get(f.op.url("/userinfo")).bearer_auth(first["access_token"].as_str().unwrap()).send().await;
    assert_eq!(response.unwrap().status(), Status::UNAUTHORIZED);

    // Bound to the client: another client cannot redeem it (and does not burn it).
    let c = code(&f, "post", &[]).await;
    let basic = basic_authorization("basic", SPECIAL_SECRET);
    assert_rejected(
        &token_request(&plain, &f, &code_form(&c, &[]), Some(basic)).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "issued to client 'post', not 'basic'",
    );
    let mut form = code_form(&c, &secret);
    form[2] = ("redirect_uri", "https://contoso.b2clogin.com/other");
    assert_rejected(
        &token_request(&plain, &f, &form, None).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "redirect_uri 'https://contoso.b2clogin.com/other' is not the one of the authorization request",
    );

    let verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
    let c = code(&f, "post", &pkce).await;
    let mut form = code_form(&c, &secret);
    form.push(("code_verifier", "not-the-verifier-not-the-verifier-not-the-v"));
    assert_rejected(
        &token_request(&plain, &f, &form, None).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "code_verifier does not match the code_challenge",
    );
    let c = code(&f, "post", &pkce).await;
    assert_rejected(
        &token_request(&plain, &f, &code_form(&c, &secret), None).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "code_verifier is missing",
    );
    let c = code(&f, "post", &pkce).await;
    let mut form = code_form(&c, &secret);
    form.push(("code_verifier", verifier));
    assert_eq!(token_request(&plain, &f, &form, None).await.0, Status::OK);

    let c = code(&f, "post", &[]).await;
    f.time.store(NOW + 61, Ordering::SeqCst);
    assert_rejected(
        &token_request(&plain, &f, &code_form(&c, &secret), None).await,
        Status::BAD_REQUEST,
        "invalid_grant",
        "the authorization code expired at 2024-01-01T00:01:00Z",
    );
}

#[tokio::test]
async fn authorization_requests_are_validated() {
    let f = fixture(true).await;
    // An unregistered redirect URI gets a page, never a redirect.
    let response = authorize(&f, "post", &[("redirect_uri", "https://evil.example/cb")]).await;
    assert_eq!(response.status(), Status::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("redirect_uri &#39;https://evil.example/cb&#39; is not registered for client &#39;post&#39;"),
        "{page}"
    );
    let response = authorize(&f, "nobody", &[]).await;
    assert_eq!(response.status(), Status::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("client &#39;nobody&#39; is not registered"));

    for (extra, error, cause) in [
        (("response_type", "token"), "unsupported_response_type", "response_type 'token' is not supported"),
        (("scope", "email"), "invalid_scope", "scope 'email' does not contain openid"),
        (("code_challenge_method", "plain"), "invalid_request", "code_challenge_method without a code_challenge"),
    ] {
        let response = authorize(&f, "post", &[extra]).await;
        assert_eq!(response.status(), Status::FOUND);
        let params = query_params(response.headers()[header::LOCATION].to_str().unwrap());
        assert_eq!(params["error"], error);
        assert!(params["error_description"].contains(cause), "{params:?}");
        assert_eq!(params["state"], "st");
        assert_eq!(params["iss"], f.op.issuer());
    }
}

#[tokio::test]
async fn the_login_form_signs_users_in_and_can_answer_by_form_post() {
    let f = fixture(false).await;
    let plain = http(&f.op, None);
    let response = authorize(&f, "post", &[("response_mode", "form_post")]).await;
    assert_eq!(response.status(), Status::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"name="username""#) && page.contains(r#"name="nonce" value="n-0S6""#), "{page}");
    assert!(page.contains(&format!(r#"action="{}/authorize""#, f.op.issuer())));

    let request = [
        ("client_id", "post"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
        ("nonce", "n-0S6"),
        ("response_mode", "form_post"),
    ];
    let mut form = request.to_vec();
    form.extend([("username", "alice"), ("password", "wrong")]);
    let page = plain.post(f.op.url("/authorize")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The username or password is incorrect.") && page.contains(r#"name="state" value="st""#));

    let mut form = request.to_vec();
    form.extend([("username", "alice"), ("password", "Passw0rd!")]);
    let response = plain.post(f.op.url("/authorize")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), Status::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!(r#"action="{REDIRECT}""#)), "{page}");
    assert!(page.contains(r#"name="state" value="st""#) && page.contains(r#"name="code""#));
    assert!(page.contains(&format!(r#"name="iss" value="{}""#, f.op.issuer())));

    let mut form = request.to_vec();
    form.push(("cancel", "1"));
    let page = plain.post(f.op.url("/authorize")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"name="error" value="access_denied""#), "{page}");

    let response = authorize(&f, "post", &[("prompt", "none")]).await;
    let params = query_params(response.headers()[header::LOCATION].to_str().unwrap());
    assert_eq!(params["error"], "login_required");
}

#[tokio::test]
async fn registrations_are_checked_and_clients_can_be_added_while_running() {
    let bad = [
        (ClientConfig::client_secret_post("a", ""), "needs a client_secret"),
        (ClientConfig::client_secret_post("a", "s"), "no redirect_uris"),
        (ClientConfig::private_key_jwt("a", json!({"kty": "EC"})), "not an RSA key"),
        (
            ClientConfig::private_key_jwt("a", json!({"kty": "RSA", "n": "x", "e": "AQAB"})).signing_alg("HS256"),
            "not RS256 or RS512",
        ),
        (ClientConfig::tls_client_auth("a", "nonsense"), "has no '='"),
        (ClientConfig::self_signed_tls_client_auth("a", "not a certificate"), "not a PEM certificate"),
    ];
    for (client, cause) in bad {
        let client = if cause == "no redirect_uris" { client } else { client.redirect_uri(REDIRECT) };
        let err = client.resolve().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("client 'a': ") && err.contains(cause), "{err}");
    }
    let config = OidcConfig::default().auto_login("ghost");
    assert!(matches!(OidcProvider::start(config).await, Err(OidcError::AutoLogin(_))));

    let yaml = r#"
users:
  - username: bob
    password: pw
clients:
  - client_id: yaml
    token_endpoint_auth_method: client_secret_post
    client_secret: s
    redirect_uris: [https://app.example/cb]
auto_login: bob
"#;
    let config: OidcConfig = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(config.clients[0].token_endpoint_auth_method, Method::ClientSecretPost);
    let err =
        serde_yaml_ng::from_str::<OidcConfig>("clients:\n  - client_id: x\n    token_endpoint_auth_method: none\n");
    assert!(err.unwrap_err().to_string().contains("'none' is not one of client_secret_post"));
    assert!(serde_yaml_ng::from_str::<OidcConfig>("colour: blue\n").is_err());
    let op = OidcProvider::start(config).await.unwrap();
    op.register(ClientConfig::client_secret_basic("late", "s").redirect_uri(REDIRECT)).unwrap();
    assert_eq!(
        op.clients(),
        vec![("late".to_owned(), Method::ClientSecretBasic), ("yaml".to_owned(), Method::ClientSecretPost)]
    );
    assert!(!format!("{:?}", ClientConfig::client_secret_post("a", "hidden-secret")).contains("hidden-secret"));
}
