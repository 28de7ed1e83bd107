//! `ief serve`: local-account sign-ins per second on one core over loopback HTTP, set against
//! the cryptographic bound measured in the same run.
//!
//! One sign-in is what a browser and an application do against the starter pack's LocalAccounts
//! sign-up or sign-in policy: GET authorize (`prompt=login`, the combined page), POST
//! SelfAsserted (the password checked: one Argon2id verification), GET confirmed (the JwtIssuer
//! signs: one RS256 signature; 302 with the code), POST token (the code redeemed; scope openid
//! asks for no access token, so no signature). The bound is therefore one Argon2id verification
//! plus one RS256 signature, both measured here with the server's own directory and key.
//!
//! "Per core": the server and the client run on one current-thread tokio runtime on the bench
//! thread, so one core does all of a sign-in's work; the interleaved pass also reads the
//! thread's CPU time, so load from other processes shows as wall time above CPU time.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ief_benches::cpu::{self, per_call};
use ief_benches::median;
use ief_protocols::directory::Directory;
use ief_protocols::directory::store::{Password, SeedUser, SignInName, UserData};
use ief_protocols::keys::KeyStore;
use ief_server::{ServeOptions, Server};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const CLIENT: &str = ief_server::apps::DEV_CLIENT_ID;
const REDIRECT: &str = "http://localhost/cb";
const EMAIL: &str = "alice@contoso.com";
const PASSWORD: &str = "Passw0rd!2024";
const SIGNING_KEY: &str = "B2C_1A_TokenSigningKeyContainer";
const POLICY_PATH: &str = "/yourtenant.onmicrosoft.com/B2C_1A_signup_signin";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: Arc<Server>,
    base: String,
    client: reqwest::Client,
    object_id: String,
    keys: KeyStore,
    temp: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.temp);
    }
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let temp = std::env::temp_dir().join(format!("ief-bench-serve-{}", std::process::id()));
    let pack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/starterpack/LocalAccounts");
    assert!(pack.is_dir(), "the serve bench needs the starter pack at {}", pack.display());
    let (server, base) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let options = ServeOptions::new(vec![pack], &base, temp.join("keys"));
        let server = Arc::new(Server::load(&options).expect("the starter pack serves"));
        tokio::spawn(Arc::clone(&server).serve_shared(listener));
        (server, base)
    });
    let directory: &Directory = server.directory().expect("a directory");
    let user = directory
        .seed(&SeedUser {
            object_id: None,
            data: UserData {
                sign_in_names: vec![SignInName::new("emailAddress", EMAIL)],
                attributes: vec![("displayName".to_owned(), ief_transforms::ClaimValue::String("Alice".to_owned()))],
                password: Some(Password::new(PASSWORD)),
                ..UserData::default()
            },
        })
        .expect("alice is seeded");
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let keys = KeyStore::load(&temp.join("keys")).expect("the server's keys");
    Fixture { runtime, server, base, client, object_id: user.object_id, keys, temp }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split_once(start).and_then(|(_, r)| r.split_once(end)).map(|(v, _)| v).expect("in the page")
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// One sign-in: authorize, submit, confirmed, token. The id token.
async fn sign_in(f: &Fixture) -> String {
    let authorize = encode(&[
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("prompt", "login"),
    ]);
    let url = format!("{}{POLICY_PATH}/oauth2/v2.0/authorize?{authorize}", f.base);
    let page = f.client.get(url).send().await.expect("authorize").text().await.expect("the page");
    let settings: Value = serde_json::from_str(between(&page, "var SETTINGS = ", ";\n")).expect("SETTINGS");
    let csrf = settings["csrf"].as_str().expect("csrf");
    let tx = settings["transId"].as_str().expect("transId");
    let policy = "B2C_1A_signup_signin";
    let submitted = f
        .client
        .post(format!("{}{POLICY_PATH}/SelfAsserted?{}", f.base, encode(&[("tx", tx), ("p", policy)])))
        .header("X-CSRF-TOKEN", csrf)
        .header("X-Requested-With", "XMLHttpRequest")
        .form(&[("request_type", "RESPONSE"), ("signInName", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("submit")
        .text()
        .await
        .expect("status");
    assert_eq!(submitted, r#"{"status":"200"}"#);
    let query = encode(&[("csrf_token", csrf), ("tx", tx), ("p", policy)]);
    let done = f
        .client
        .get(format!("{}{POLICY_PATH}/api/CombinedSigninAndSignup/confirmed?{query}", f.base))
        .send()
        .await
        .expect("confirmed");
    let location = done.headers()["location"].to_str().expect("a redirect").to_owned();
    let code = form_urlencoded::parse(location.split_once('?').expect("a query").1.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let body: Value = f
        .client
        .post(format!("{}{POLICY_PATH}/oauth2/v2.0/token", f.base))
        .form(&form)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    body["id_token"].as_str().expect("an id token").to_owned()
}

fn one_sign_in(f: &Fixture) -> String {
    f.runtime.block_on(sign_in(f))
}

/// The sign-in ends with alice's verified token.
fn check(f: &Fixture) {
    let token = one_sign_in(f);
    let jwk = f.keys.signing_key(SIGNING_KEY).expect("the signing key").public_jwk().clone();
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
        .expect("the public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("the token verifies").claims;
    assert_eq!(claims["sub"], f.object_id.as_str());
}

/// The bound's two operations, as the sign-in does them: the directory's Argon2id verification
/// and jsonwebtoken's RS256 signature with the policy's key.
fn verify(f: &Fixture) -> bool {
    f.server.directory().expect("directory").verify_password(&f.object_id, &Password::new(PASSWORD)).expect("verifies")
}

fn sign(f: &Fixture, claims: &Value) -> String {
    let key = f.keys.signing_key(SIGNING_KEY).expect("the signing key");
    jsonwebtoken::encode(&key.header(Algorithm::RS256), claims, key.encoding_key()).expect("signs")
}

/// One round's seconds per call, by wall time and thread CPU time: sign-in, Argon2id
/// verification, RS256 signature.
type Round = ((f64, Option<f64>), (f64, Option<f64>), (f64, Option<f64>));
/// A round's seconds by one clock: sign-in, verification, signature.
type Times = (f64, f64, f64);

/// Sign-ins and the bound's operations alternated in short rounds; the median round.
fn interleaved(f: &Fixture, claims: &Value) {
    const ROUNDS: usize = 21;
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let sign_in = per_call(10, || drop(black_box(one_sign_in(f))));
        let argon = per_call(10, || assert!(black_box(verify(f))));
        let rsa = per_call(30, || drop(black_box(sign(f, claims))));
        rounds.push((sign_in, argon, rsa));
    }
    let report = |what: &str, pick: &dyn Fn(&Round) -> Option<Times>| {
        let picked: Vec<Times> = rounds.iter().filter_map(pick).collect();
        if picked.len() != rounds.len() {
            return;
        }
        let s = median(picked.iter().map(|r| r.0).collect());
        let a = median(picked.iter().map(|r| r.1).collect());
        let r = median(picked.iter().map(|r| r.2).collect());
        let ratio = median(picked.iter().map(|r| (r.1 + r.2) / r.0).collect());
        eprintln!(
            "interleaved ({what}, median of {ROUNDS} rounds): sign-in {:.3} ms ({:.1}/s), Argon2id verification \
             {:.3} ms, RS256 signature {:.3} ms, bound {:.1} sign-ins/s, sign-ins / bound = {ratio:.3}",
            s * 1e3,
            1.0 / s,
            a * 1e3,
            r * 1e3,
            1.0 / (a + r)
        );
    };
    report("wall time", &|r| Some((r.0.0, r.1.0, r.2.0)));
    report("thread CPU time", &|r| Some((r.0.1?, r.1.1?, r.2.1?)));
    if let (Some(p), Some(t)) = (cpu::process(), cpu::thread()) {
        eprintln!("CPU so far: process {:.2} s, bench thread {:.2} s", p.as_secs_f64(), t.as_secs_f64());
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    check(&f);
    let claims = json!({
        "exp": 1_704_070_800, "nbf": 1_704_067_200, "ver": "1.0",
        "iss": format!("{}/yourtenant.onmicrosoft.com/v2.0/", f.base), "aud": CLIENT,
        "acr": "b2c_1a_signup_signin", "iat": 1_704_067_200, "auth_time": 1_704_067_200,
        "name": "Alice", "sub": f.object_id, "tid": "yourtenant.onmicrosoft.com"
    });
    // `cargo test --benches` runs each function once (no `--bench`): skip the long pass.
    if std::env::args().any(|a| a == "--bench") {
        interleaved(&f, &claims);
    }
    let mut g = c.benchmark_group("serve_sign_in");
    g.throughput(Throughput::Elements(1));
    g.bench_function("local_account", |b| b.iter(|| one_sign_in(&f)));
    g.finish();
    let mut g = c.benchmark_group("serve_bound");
    g.throughput(Throughput::Elements(1));
    g.bench_function("argon2id_verify", |b| b.iter(|| verify(&f)));
    g.bench_function("rs256_sign", |b| b.iter(|| sign(&f, &claims)));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5))
}

criterion_group! { name = serve; config = config(); targets = benches }
criterion_main!(serve);
