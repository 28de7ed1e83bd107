//! OpenID Connect: whole sign-ins per second on one core against the embedded OpenID provider
//! over loopback HTTPS, set against the RSA signing bound measured in the same run.
//!
//! One journey: executor start → the OpenIdConnect profile's redirect → the provider's
//! /authorize (an auto-login user; its form_post page is read by ief's headless user agent, one
//! request) → the callback → the token request, authenticated by a private_key_jwt client
//! assertion (RS256) → id_token validation → (a variant calls userinfo too) → the JwtIssuer
//! token (RS256).
//!
//! RSA signatures per journey: the client assertion (ief), the id_token (the provider), the
//! issued token (ief) = 3. TLS adds none: connections are kept alive (the provider's handshake
//! count is checked), and the provider's certificate is ECDSA anyway.
//!
//! "Per core": the provider, ief and the browser run on one current-thread tokio runtime on the
//! bench thread, so one core does all of a journey's work. The interleaved measurement also
//! reads that thread's CPU time, so a busy machine that takes the core away shows up as wall
//! time above CPU time rather than as a slower journey.
//!
//! Allocator: mimalloc, as the `ief` binary (cli/src/main.rs) that serves these sign-ins. Both
//! sides of the ratio run in this process, so both run under it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ief_benches::cpu::{self, per_call};
use ief_benches::median;
use ief_engine::exec::{
    Answer, Executor, Extensions, Outcome, PageKind, ProfileHandler, Progress, RequestContext, Session, Token,
};
use ief_engine::{CompiledPolicy, EffectivePolicy};
use ief_idp::TestUser;
use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};
use ief_idp::pki::rsa_private_key_pem;
use ief_protocols::env::SystemEnv;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::federation::{Callback, redirect_uri};
use ief_protocols::jwt_issuer::JwtIssuer;
use ief_protocols::keys::KeyStore;
use ief_protocols::oidc::OpenIdConnect;
use ief_scenario::agent::{CallbackMatch, Credentials, UserAgent};
use ief_testkit::journeys;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Value, json};

/// The `ief` binary's allocator (cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENT_ID: &str = "ief-private-key-jwt";
const ASSERTION_KEY: &str = "B2C_1A_ExampleIdpAssertionSigningKey";
const ISSUER_KEY: &str = journeys::TOKEN_SIGNING_KEY;
/// The profiles, without and with a userinfo call.
const PLAIN: &str = "ExampleIdp-PrivateKeyJwt";
const USERINFO: &str = "ExampleIdp-PrivateKeyJwt-Userinfo";
const APP_ID: &str = "6f1b9c4e-0d2a-4b7e-8c3f-5a9d2e1f0b7c";
const ALICE_SUB: &str = "alice-0001";

/// RSA signatures in one journey: client assertion, id_token, issued token.
const SIGNATURES_PER_JOURNEY: f64 = 3.0;

/// The federation policy of `policies/federation` reduced to what a sign-in runs: a
/// private_key_jwt profile (and the same with a userinfo call), each in its journey.
fn policy_xml(issuer: &str) -> String {
    let profile = |id: &str, userinfo: &str| {
        let xml = format!(
            r#"<TechnicalProfile Id="{id}"><DisplayName>Example OpenID provider</DisplayName>
    <Protocol Name="OpenIdConnect"/>
    <Metadata>
      <Item Key="METADATA">{issuer}/.well-known/openid-configuration</Item>
      <Item Key="ProviderName">{issuer}</Item>
      <Item Key="client_id">{CLIENT_ID}</Item>
      <Item Key="token_endpoint_auth_method">private_key_jwt</Item>
      <Item Key="token_signing_algorithm">RS256</Item>
      <Item Key="response_types">code</Item>
      <Item Key="response_mode">form_post</Item>
      <Item Key="scope">openid profile email</Item>
      <Item Key="HttpBinding">POST</Item>
      <Item Key="UsePolicyInRedirectUri">false</Item>
      {userinfo}
    </Metadata>
    <CryptographicKeys><Key Id="assertion_signing_key" StorageReferenceId="{ASSERTION_KEY}"/></CryptographicKeys>
    <OutputClaims>
      <OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="sub"/>
      <OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="email"/>
      <OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="name"/>
      <OutputClaim ClaimTypeReferenceId="identityProvider" PartnerClaimType="iss"/>
      <OutputClaim ClaimTypeReferenceId="authenticationSource" DefaultValue="socialIdpAuthentication" AlwaysUseDefaultValue="true"/>
    </OutputClaims></TechnicalProfile>"#
        );
        (id.to_owned(), xml)
    };
    let userinfo = format!(r#"<Item Key="ClaimsEndpoint">{issuer}/userinfo</Item>"#);
    journeys::policy_xml(&[profile(PLAIN, ""), profile(USERINFO, &userinfo)])
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    provider: OidcProvider,
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    handlers: Vec<Box<dyn ProfileHandler>>,
    extensions: Extensions,
    browser: UserAgent,
    callback: CallbackMatch,
    credentials: Credentials,
}

fn context() -> RequestContext {
    RequestContext {
        client_id: APP_ID.to_owned(),
        redirect_uri: "https://jwt.ms".to_owned(),
        scope: "openid".to_owned(),
        nonce: Some("defaultNonce".to_owned()),
        culture: "en-US".to_owned(),
        host_name: "contoso.b2clogin.com".to_owned(),
        ..RequestContext::default()
    }
}

fn fixture() -> Fixture {
    // One thread runs the provider's server tasks, ief and the browser.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut keys = KeyStore::empty();
    for name in [ASSERTION_KEY, ISSUER_KEY] {
        keys.insert_pem(name, &rsa_private_key_pem().expect("an RSA 2048 key")).expect("a signing key");
    }
    let alice = TestUser {
        username: "alice".into(),
        password: "unused".into(),
        claims: serde_json::from_value(json!({
            "sub": ALICE_SUB, "email": "alice@example.com", "name": "Alice Smith",
            "given_name": "Alice", "family_name": "Smith"
        }))
        .expect("claims"),
    };
    let config = OidcConfig::default().user(alice).auto_login("alice");
    let provider = runtime.block_on(OidcProvider::start(config)).expect("the provider starts");

    let (policy, compiled) = ief_testkit::compile("bench-oidc.xml", &policy_xml(provider.issuer()));

    let redirect = redirect_uri(&policy.model, &context(), Callback::OAuth2, false);
    let jwk = keys.signing_key(ASSERTION_KEY).expect("the assertion key").public_jwk().clone();
    provider.register(ClientConfig::private_key_jwt(CLIENT_ID, jwk).redirect_uri(&redirect)).expect("registered");

    let roots = TrustedRoots(vec![provider.ca_pem().to_owned()]);
    let browser = UserAgent::new(&roots).expect("a user agent");
    let mut extensions = Extensions::default();
    extensions.insert(keys);
    extensions.insert(roots);
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(OpenIdConnect::new()), Box::new(JwtIssuer)];
    let credentials = Credentials { username: "alice".into(), password: "unused".into(), ..Credentials::default() };
    Fixture {
        runtime,
        provider,
        policy,
        compiled,
        handlers,
        extensions,
        browser,
        callback: CallbackMatch::Prefix(redirect),
        credentials,
    }
}

/// One whole sign-in; `profile` picks the plain or the userinfo variant.
async fn sign_in(f: &Fixture, profile: &str) -> (Token, Vec<(String, ief_transforms::ClaimValue)>) {
    let executor = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &SystemEnv, &f.extensions);
    let mut s = executor.start(Some(&journeys::journey_id(profile)), context(), Session::default()).expect("start");
    let Ok(Progress::NeedsInput(page)) = executor.resume(&mut s, None).await else {
        panic!("no redirect to the provider: {:?}", s.trace)
    };
    let PageKind::Redirect { url } = page.kind else { panic!("not a redirect: {page:?}") };
    let params = f.browser.authorize(&url, &f.callback, &f.credentials).await.expect("the provider answers");
    match executor.resume(&mut s, Some(Answer::Callback(params))).await.expect("the callback") {
        Progress::Finished(Outcome::Token { token, claims }) => (token, claims),
        other => {
            panic!("no token: {other:?}\n{}", s.trace.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))
        }
    }
}

fn journey(f: &Fixture, name: &str) -> Token {
    f.runtime.block_on(sign_in(f, name)).0
}

fn issuer_key(f: &Fixture) -> &ief_protocols::keys::SigningKey {
    f.extensions.get::<KeyStore>().expect("keys").signing_key(ISSUER_KEY).expect("the issuer key")
}

/// Before timing: the provider's user reaches the issued token, the token's RS256 signature
/// verifies, and journeys reuse their connections (no TLS handshake per journey).
fn check(f: &Fixture) {
    for name in [PLAIN, USERINFO] {
        let (token, claims) = f.runtime.block_on(sign_in(f, name));
        let claim = |k: &str| claims.iter().find(|(n, _)| n == k).map(|(_, v)| v.to_string());
        assert_eq!(claim("sub").as_deref(), Some(ALICE_SUB), "{claims:?}");
        assert_eq!(claim("email").as_deref(), Some("alice@example.com"), "{claims:?}");
        assert_eq!(claim("idp").as_deref(), Some(f.provider.issuer()), "{claims:?}");
        let jwk = issuer_key(f).public_jwk();
        let key = DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
            .expect("the issuer's public key");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[APP_ID]);
        let decoded = jsonwebtoken::decode::<Value>(&token.encoded, &key, &validation).expect("the token verifies");
        assert_eq!(decoded.header.alg, Algorithm::RS256);
        assert_eq!(decoded.claims["sub"], ALICE_SUB);
    }
    let before = f.provider.served().tls_handshakes();
    for _ in 0..20 {
        black_box(journey(f, PLAIN));
        black_box(journey(f, USERINFO));
    }
    let handshakes = f.provider.served().tls_handshakes() - before;
    assert_eq!(handshakes, 0, "40 journeys made {handshakes} TLS handshakes: a client does not keep its connection");
    eprintln!("connections: {before} TLS handshakes in all (ief's pooled client and the browser), none in 40 journeys");
}

/// A signature of an id_token-sized claims set with the issuer's key, two ways: as ief and the
/// provider sign (`SigningKey::sign_claims`, the key parsed once and the header segment kept), and
/// as jsonwebtoken signs (`jsonwebtoken::encode`, which encodes the header, parses and checks the
/// DER and sets up RSA blinding again for every signature).
struct Signing {
    /// The header `sign_claims` signs with, for jsonwebtoken.
    header: Header,
    claims: Value,
}

impl Signing {
    fn new(f: &Fixture) -> Signing {
        let header = issuer_key(f).header(Algorithm::RS256);
        let claims = json!({
            "iss": f.provider.issuer(), "sub": ALICE_SUB, "aud": CLIENT_ID, "exp": 1_704_070_800,
            "iat": 1_704_067_200, "auth_time": 1_704_067_200, "nonce": "Jf3w8QvHbq2yD0aXk5mN1pR7sT4uV6zC9eB2gL0oW8i",
            "email": "alice@example.com", "name": "Alice Smith", "given_name": "Alice", "family_name": "Smith"
        });
        let signing = Signing { header, claims };
        // PKCS#1 v1.5 is deterministic: the parsed key must give jsonwebtoken's token exactly.
        assert_eq!(signing.sign(f), signing.sign_per_parse(f), "the parsed key signs as jsonwebtoken does");
        signing
    }

    /// The bound's signature, as the journey's three are made: the key parsed once, the header
    /// segment kept.
    fn sign(&self, f: &Fixture) -> String {
        issuer_key(f).sign_claims(Algorithm::RS256, &self.claims).expect("signs")
    }

    fn sign_per_parse(&self, f: &Fixture) -> String {
        jsonwebtoken::encode(&self.header, &self.claims, issuer_key(f).encoding_key()).expect("signs")
    }
}

/// Journeys and signatures alternated in short rounds, so that load from other processes hits
/// both alike; prints the median round, by wall time and by the thread's CPU time.
fn interleaved(f: &Fixture, signing: &Signing) {
    const ROUNDS: usize = 31;
    let process_before = cpu::process();
    let thread_before = cpu::thread();
    let handshakes_before = f.provider.served().tls_handshakes();
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut per_parse = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let journey = per_call(20, || drop(black_box(journey(f, PLAIN))));
        let sign = per_call(60, || drop(black_box(signing.sign(f))));
        per_parse.push(per_call(60, || drop(black_box(signing.sign_per_parse(f)))).0);
        rounds.push((journey, sign));
    }
    let wall_j = median(rounds.iter().map(|r| r.0.0).collect());
    let wall_s = median(rounds.iter().map(|r| r.1.0).collect());
    let wall_ratio = median(rounds.iter().map(|r| SIGNATURES_PER_JOURNEY * r.1.0 / r.0.0).collect());
    eprintln!(
        "interleaved (median of {ROUNDS} rounds of 20 journeys and 60 signatures), wall time: journey {:.3} ms \
         ({:.1}/s), RS256 signature (key parsed once) {:.3} ms ({:.1}/s), bound = signatures/s / 3 = {:.1} journeys/s, \
         journeys / bound = {:.3}",
        wall_j * 1e3,
        1.0 / wall_j,
        wall_s * 1e3,
        1.0 / wall_s,
        1.0 / wall_s / SIGNATURES_PER_JOURNEY,
        wall_ratio
    );
    let per_parse_ratio = median(rounds.iter().zip(&per_parse).map(|(r, k)| r.1.0 / k).collect());
    let per_parse = median(per_parse);
    eprintln!(
        "interleaved: RS256 by jsonwebtoken::encode (the key parsed per signature) {:.3} ms ({:.1}/s); the parsed \
         key takes {:.0}% of that",
        per_parse * 1e3,
        1.0 / per_parse,
        per_parse_ratio * 100.0
    );
    let mut cpu_ratio = None;
    if rounds.iter().all(|r| r.0.1.is_some() && r.1.1.is_some()) {
        let cpu_j = median(rounds.iter().filter_map(|r| r.0.1).collect());
        let cpu_s = median(rounds.iter().filter_map(|r| r.1.1).collect());
        let ratio = median(rounds.iter().filter_map(|r| Some(SIGNATURES_PER_JOURNEY * r.1.1? / r.0.1?)).collect());
        cpu_ratio = Some(ratio);
        eprintln!(
            "interleaved, thread CPU time: journey {:.3} ms ({:.1} per CPU-second), RS256 signature (key parsed once) {:.3} ms \
             ({:.1} per CPU-second), bound {:.1} journeys per CPU-second, journeys / bound = {:.3}",
            cpu_j * 1e3,
            1.0 / cpu_j,
            cpu_s * 1e3,
            1.0 / cpu_s,
            1.0 / cpu_s / SIGNATURES_PER_JOURNEY,
            ratio
        );
    }
    let cpu = cpu_ratio.map(|r| format!(", {r:.3} by thread CPU time")).unwrap_or_default();
    eprintln!(
        "TARGET oidc private_key_jwt journeys / parsed-key RS256 bound: measured {wall_ratio:.3} by wall time{cpu} \
         (target >= 0.8)"
    );
    if let (Some(p0), Some(p1), Some(t0), Some(t1)) = (process_before, cpu::process(), thread_before, cpu::thread()) {
        eprintln!(
            "one core: the process used {:.2} s of CPU, the bench thread {:.2} s ({:.0}%)",
            (p1 - p0).as_secs_f64(),
            (t1 - t0).as_secs_f64(),
            100.0 * (t1 - t0).as_secs_f64() / (p1 - p0).as_secs_f64()
        );
    }
    assert_eq!(f.provider.served().tls_handshakes(), handshakes_before, "a timed journey opened a connection");
}

/// `IEF_BENCH_OIDC_COUNT=n`: after one journey (discovery, JWKS, connections), run `n` more
/// between these two markers and exit, so a debugger can count RSA private-key operations per
/// journey (BENCHMARKS.md has the gdb script) and callgrind or perf can profile just the
/// journeys (`--toggle-collect='*counted_journeys*'`).
#[inline(never)]
fn counted_journeys(f: &Fixture, n: u32) {
    for _ in 0..n {
        black_box(journey(f, PLAIN));
    }
    counted_done(n);
}

#[inline(never)]
fn counted_done(n: u32) {
    eprintln!("{} journeys done", black_box(n));
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    if let Some(n) = std::env::var("IEF_BENCH_OIDC_COUNT").ok().and_then(|n| n.parse().ok()) {
        black_box(journey(&f, PLAIN));
        counted_journeys(&f, n);
        std::process::exit(0);
    }
    check(&f);
    let signing = Signing::new(&f);
    // `cargo test --benches` runs each function once (no `--bench`): skip the long pass.
    if std::env::args().any(|a| a == "--bench") {
        interleaved(&f, &signing);
    }

    // Journeys first: the provider closes connections idle for 10 s (hyper's header read
    // timeout, which also runs while a kept-alive connection waits), and a signing group in
    // between would leave them idle that long.
    let mut g = c.benchmark_group("oidc_journey");
    g.throughput(Throughput::Elements(1));
    g.bench_function("private_key_jwt", |b| b.iter(|| journey(&f, PLAIN)));
    g.bench_function("private_key_jwt_userinfo", |b| b.iter(|| journey(&f, USERINFO)));
    g.finish();
    eprintln!("TLS handshakes at the provider after the journeys: {}", f.provider.served().tls_handshakes());

    let mut g = c.benchmark_group("oidc_rsa");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rs256_sign_parsed_key", |b| b.iter(|| signing.sign(&f)));
    g.bench_function("rs256_jsonwebtoken_encode", |b| b.iter(|| signing.sign_per_parse(&f)));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5))
}

criterion_group! { name = oidc; config = config(); targets = benches }
criterion_main!(oidc);
