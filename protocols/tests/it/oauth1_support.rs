//! Shared by the OAuth1 integration tests: the Twitter-like policy (from ief-testkit), an
//! executor around it, and a driver that follows the redirect to the provider the way a
//! browser would.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;
use ief_engine::exec::{Answer, Executor, Extensions, Outcome, PageKind, Progress, RequestContext, Session};
use ief_engine::{CompiledPolicy, EffectivePolicy};
use ief_protocols::keys::KeyStore;
use ief_transforms::{ClaimValue, TransformEnv};

pub use ief_testkit::oauth1::{
    CALLBACK, CONSUMER_KEY, CONSUMER_SECRET, SECRET_KEY, SIGNING_KEY, policy_xml, policy_xml_with,
};

/// Clock and randomness of a test run: a fixed instant, and either a counter (every nonce
/// differs) or one constant (every nonce repeats, to provoke replays).
#[derive(Debug)]
pub struct TestEnv {
    pub now: NaiveDateTime,
    pub repeat_random: bool,
    draws: AtomicU64,
}

impl TestEnv {
    pub fn at(now: NaiveDateTime) -> TestEnv {
        TestEnv { now, repeat_random: false, draws: AtomicU64::new(0) }
    }

    /// 2024-01-01T00:00:00Z, the deterministic runs' clock.
    pub fn fixed() -> TestEnv {
        TestEnv::at(chrono::DateTime::from_timestamp(FIXED_NOW, 0).unwrap().naive_utc())
    }

    /// The wall clock, read once: peers that check timestamps against their own clock accept it.
    pub fn live() -> TestEnv {
        TestEnv::at(chrono::Utc::now().naive_utc())
    }

    pub fn repeating(mut self) -> TestEnv {
        self.repeat_random = true;
        self
    }

    pub fn unix_now(&self) -> i64 {
        self.now.and_utc().timestamp()
    }
}

pub const FIXED_NOW: i64 = 1_704_067_200;

impl TransformEnv for TestEnv {
    fn now(&self) -> NaiveDateTime {
        self.now
    }

    fn fill_random(&self, buf: &mut [u8]) {
        let draw = if self.repeat_random { 7 } else { self.draws.fetch_add(1, Ordering::Relaxed) + 1 };
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (draw >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }

    fn policy_key(&self, _: &str) -> Option<Vec<u8>> {
        None
    }

    fn localized_string(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }

    fn localized_collection(&self, _: &str, _: &str) -> Option<Vec<(String, String)>> {
        None
    }

    fn expression(&self, _: &str) -> Option<String> {
        None
    }
}

/// A compiled policy with every ief handler, policy keys and an environment.
pub struct Fixture {
    pub policy: EffectivePolicy,
    pub compiled: CompiledPolicy,
    pub handlers: Vec<Box<dyn ief_engine::exec::ProfileHandler>>,
    pub env: TestEnv,
    pub extensions: Extensions,
}

impl Fixture {
    /// `consumer_secret` is what the policy key holds (a wrong one provokes a bad signature).
    pub fn new(xml: &str, env: TestEnv, consumer_secret: &str) -> Fixture {
        let (policy, compiled) = ief_testkit::compile("oauth1-test.xml", xml);
        let mut keys = KeyStore::empty();
        let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("an RSA key");
        keys.insert_pem(SIGNING_KEY, &rsa.serialize_pem()).expect("the signing key");
        keys.insert_secret(SECRET_KEY, consumer_secret.as_bytes().to_vec());
        let mut extensions = Extensions::default();
        extensions.insert(keys);
        Fixture { policy, compiled, handlers: ief_protocols::handlers(), env, extensions }
    }

    pub fn executor(&self) -> Executor<'_> {
        Executor::new(&self.policy.model, &self.compiled, &self.handlers, &self.env, &self.extensions)
    }
}

/// How one sign-in went.
#[derive(Debug)]
pub struct Journey {
    /// Where ief sent the browser (the provider's authorization URL).
    pub redirect: Option<String>,
    /// Where the provider sent the browser back (ief's callback URL).
    pub callback: Option<String>,
    pub outcome: Outcome,
    /// The run's trace, one line per event.
    pub trace: Vec<String>,
}

impl Journey {
    pub fn claim(&self, name: &str) -> Option<String> {
        match &self.outcome {
            Outcome::Token { claims, .. } => claims.iter().find(|(k, _)| k == name).map(|(_, v)| match v {
                ClaimValue::String(s) => s.clone(),
                other => format!("{other:?}"),
            }),
            Outcome::Error { .. } => None,
        }
    }

    /// The error code and message, or a panic naming what happened instead.
    pub fn error(&self) -> (&str, &str) {
        match &self.outcome {
            Outcome::Error { code, message } => (code, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

/// The query parameters of a URL, decoded.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// What the browser does at the provider: `Ok(Location)` of its redirect back, or the page it
/// stayed on. `at_provider` gets the authorization URL.
pub type AtProvider<'a> =
    &'a (dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Sync);

/// Follows the authorization URL with a GET; the provider must redirect back at once.
pub fn auto_approve() -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Sync {
    |url: String| {
        Box::pin(async move {
            let response = browser().get(&url).send().await.expect("the provider answers");
            let status = response.status();
            let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
            match location {
                Some(location) if status.is_redirection() => location,
                _ => panic!("{url} did not redirect back: {status} {}", response.text().await.unwrap_or_default()),
            }
        })
    }
}

/// Runs one sign-in: ief redirects to the provider, `at_provider` plays the user there and
/// returns the callback URL, which goes back to ief as the callback's parameters.
pub async fn sign_in(fixture: &Fixture, at_provider: AtProvider<'_>) -> Journey {
    let executor = fixture.executor();
    let context = RequestContext { correlation_id: "corr-oauth1".to_owned(), ..RequestContext::default() };
    let mut sign_in = executor.start(None, context, Session::default()).expect("the journey starts");
    let first = executor.resume(&mut sign_in, None).await.expect("the journey runs");
    let (redirect, callback, progress) = match first {
        Progress::Finished(outcome) => (None, None, Progress::Finished(outcome)),
        Progress::NeedsInput(page) => {
            assert!(page.profile_state.is_none(), "drivers never see the profile state");
            let PageKind::Redirect { url } = page.kind else { panic!("expected a redirect, got {page:?}") };
            let callback = at_provider(url.clone()).await;
            let answer = Answer::Callback(query_params(&callback));
            let progress = executor.resume(&mut sign_in, Some(answer)).await.expect("the callback is taken");
            (Some(url), Some(callback), progress)
        }
    };
    let Progress::Finished(outcome) = progress else { panic!("the journey did not finish: {progress:?}") };
    let trace = sign_in.trace.iter().map(ToString::to_string).collect();
    Journey { redirect, callback, outcome, trace }
}
