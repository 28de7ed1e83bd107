//! OAuth1: request signing per second (HMAC-SHA1 through the profile's signer, for each request
//! of the flow), and a whole OAuth1 sign-in per second on loopback against the embedded
//! Twitter-like provider: request token, the redirect followed, access token, the signed
//! claims call, and the executor around it. The issuer is a stub so no RSA signature is timed.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ief_benches::{cpu, median};
use ief_engine::exec::{
    Answer, Executor, Extensions, Outcome, PageKind, ProfileHandler, Progress, RequestContext, Session,
};
use ief_engine::{CompiledPolicy, EffectivePolicy};
use ief_idp::TestUser;
use ief_idp::oauth1::{OAuth1Config, OAuth1Provider};
use ief_protocols::env::SystemEnv;
use ief_protocols::keys::KeyStore;
use ief_protocols::oauth1::{Credentials, OAuth1, SignInput, Signer};
use ief_testkit::StubIssuer;
use ief_testkit::oauth1::{CONSUMER_KEY, CONSUMER_SECRET, SECRET_KEY, policy_xml};

fn signing(c: &mut Criterion) {
    let consumer = Signer::new(Credentials::new(CONSUMER_KEY, CONSUMER_SECRET));
    let temporary = consumer.clone().with_token(Credentials::new("temporary-token", "temporary-secret"));
    let access = consumer.clone().with_token(Credentials::new("1234567890-access-token", "access-token-secret"));
    let callback = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1a_signup_signin/oauth1/authresp";
    let mut g = c.benchmark_group("oauth1_sign");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_token", |b| {
        b.iter(|| {
            black_box(consumer.sign(black_box(&SignInput {
                method: "POST",
                url: "https://api.twitter.com/oauth/request_token",
                callback: Some(callback),
                nonce: "0123456789abcdef0123456789abcdef",
                timestamp: 1_704_067_200,
                ..SignInput::default()
            })))
        })
    });
    g.bench_function("access_token", |b| {
        b.iter(|| {
            black_box(temporary.sign(black_box(&SignInput {
                method: "POST",
                url: "https://api.twitter.com/oauth/access_token",
                verifier: Some("hfdp7dh39dks9884"),
                nonce: "0123456789abcdef0123456789abcdef",
                timestamp: 1_704_067_200,
                ..SignInput::default()
            })))
        })
    });
    g.bench_function("claims_get_with_query", |b| {
        b.iter(|| {
            black_box(access.sign(black_box(&SignInput {
                method: "GET",
                url: "https://api.twitter.com/1.1/account/verify_credentials.json?include_email=true&skip_status=true",
                nonce: "0123456789abcdef0123456789abcdef",
                timestamp: 1_704_067_200,
                ..SignInput::default()
            })))
        })
    });
    g.finish();
}

struct Fixture {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    handlers: Vec<Box<dyn ProfileHandler>>,
    extensions: Extensions,
    browser: reqwest::Client,
}

/// One sign-in: ief's redirect followed by a GET (the provider signs the user in at once),
/// the callback handed back, the token checked.
async fn sign_in(fixture: &Fixture) {
    let executor =
        Executor::new(&fixture.policy.model, &fixture.compiled, &fixture.handlers, &SystemEnv, &fixture.extensions);
    let mut sign_in = executor.start(None, RequestContext::default(), Session::default()).expect("start");
    let Ok(Progress::NeedsInput(page)) = executor.resume(&mut sign_in, None).await else {
        panic!("no redirect to the provider: {:?}", sign_in.trace)
    };
    let PageKind::Redirect { url } = page.kind else { panic!("not a redirect: {page:?}") };
    let response = fixture.browser.get(&url).send().await.expect("the provider answers");
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).expect("a redirect back");
    let query = location.split_once('?').map_or("", |(_, q)| q);
    let params = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let progress = executor.resume(&mut sign_in, Some(Answer::Callback(params))).await.expect("the callback");
    let Progress::Finished(Outcome::Token { claims, .. }) = progress else {
        panic!("no token: {progress:?} {:?}", sign_in.trace)
    };
    assert_eq!(claims.len(), 5, "{claims:?}");
    black_box(claims);
}

fn journey(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut config = OAuth1Config::new(CONSUMER_KEY, CONSUMER_SECRET);
    config.users = vec![TestUser {
        username: "alice".into(),
        password: "unused".into(),
        claims: serde_json::from_value(serde_json::json!({
            "user_id": "1234567890", "screen_name": "alice_x", "email": "alice@example.com"
        }))
        .expect("claims"),
    }];
    config.auto_login = Some("alice".into());
    config.clock = Arc::new(|| chrono::Utc::now().timestamp());
    let provider: OAuth1Provider = runtime.block_on(ief_idp::oauth1::start(config)).expect("the provider starts");

    let (policy, compiled) = ief_testkit::compile("bench-oauth1.xml", &policy_xml(&provider.url()));
    let mut keys = KeyStore::empty();
    keys.insert_secret(SECRET_KEY, CONSUMER_SECRET.as_bytes().to_vec());
    let mut extensions = Extensions::default();
    extensions.insert(keys);
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(OAuth1::new()), Box::new(StubIssuer)];
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let fixture = Fixture { policy, compiled, handlers, extensions, browser };
    // Checked once before timing: the journey ends with the provider's claims.
    runtime.block_on(sign_in(&fixture));
    // `cargo test --benches` runs each function once (no `--bench`): skip the long pass.
    if std::env::args().any(|a| a == "--bench") {
        one_core(&runtime, &fixture);
    }

    let mut g = c.benchmark_group("oauth1_journey");
    g.throughput(Throughput::Elements(1));
    g.bench_function("loopback_embedded_provider", |b| b.iter(|| runtime.block_on(sign_in(&fixture))));
    g.finish();
    drop(provider);
}

/// The provider, ief and the browser share one current-thread runtime: one core does a whole
/// journey. Prints wall and thread CPU time per journey (median of short rounds), so a busy
/// machine shows as wall time above CPU time.
fn one_core(runtime: &tokio::runtime::Runtime, fixture: &Fixture) {
    let (process_before, thread_before) = (cpu::process(), cpu::thread());
    let rounds: Vec<(f64, Option<f64>)> =
        (0..21).map(|_| cpu::per_call(50, || runtime.block_on(sign_in(fixture)))).collect();
    let wall = median(rounds.iter().map(|r| r.0).collect());
    let cpu_time = rounds.iter().map(|r| r.1).collect::<Option<Vec<f64>>>().map(median);
    eprintln!(
        "one core (median of 21 rounds of 50 journeys): wall {:.1} us ({:.0}/s), thread CPU {}",
        wall * 1e6,
        1.0 / wall,
        cpu_time.map_or("n/a".to_owned(), |c| format!("{:.1} us ({:.0} per CPU-second)", c * 1e6, 1.0 / c))
    );
    if let (Some(p0), Some(p1), Some(t0), Some(t1)) = (process_before, cpu::process(), thread_before, cpu::thread()) {
        eprintln!(
            "the process used {:.2} s of CPU, the bench thread {:.2} s",
            (p1 - p0).as_secs_f64(),
            (t1 - t0).as_secs_f64()
        );
    }
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = oauth1; config = config(); targets = signing, journey }
criterion_main!(oauth1);
