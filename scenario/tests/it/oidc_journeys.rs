//! Full sign-ins through ief's `OpenIdConnect` handler against a live OpenID provider, shared by
//! the node-oidc-provider and the embedded-provider suites.
//!
//! [`Journeys`] builds a B2C-style policy from OpenIdConnect technical profiles: one user journey
//! per profile (the profile's ClaimsExchange, then SendClaims with a JwtIssuer), the relying
//! party issuing `sub`, `email`, `name` and `idp`. [`Journeys::sign_in`] runs a journey with the
//! executor and every ief handler, on the wall clock, and follows its redirect with the headless
//! user agent, which signs in at the provider and brings the callback back.
//! [`run_concurrently`] runs independent cases side by side with a bound on each.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ief_engine::exec::{
    Answer, Executor, Extensions, Outcome, PageKind, ProfileHandler, Progress, RequestContext, Session,
};
use ief_engine::{CompiledPolicy, EffectivePolicy, PolicySet};
use ief_protocols::env::SystemEnv;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;
use ief_scenario::agent::{CallbackMatch, Credentials, UserAgent};
use ief_testkit::journeys::{TOKEN_SIGNING_KEY, journey_id, policy_xml};

/// The host B2C serves the policy from: with the tenant it makes the redirect URI
/// `https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp`.
pub(crate) const HOST: &str = "contoso.b2clogin.com";
/// Pages one journey may show: the provider's redirect, and nothing else here.
const MAX_PAGES: usize = 3;
/// Bound of one case, sign-in included: a hung provider fails the case, not the run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Cases in flight at once: enough to overlap the providers' latency on two cores.
const CONCURRENCY: usize = 8;

/// The OutputClaims of every journey profile: the provider's names, as B2C's OIDC samples map them.
pub(crate) const OUTPUT_CLAIMS: &str = r#"<OutputClaims><OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="sub" /><OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="email" /><OutputClaim ClaimTypeReferenceId="displayName" PartnerClaimType="name" /><OutputClaim ClaimTypeReferenceId="identityProvider" PartnerClaimType="iss" /><OutputClaim ClaimTypeReferenceId="authenticationSource" DefaultValue="socialIdpAuthentication" /></OutputClaims>"#;

/// A compiled policy with one journey per OpenIdConnect profile, ief's handlers, the keys and
/// the roots that trust the provider.
pub(crate) struct Journeys {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    handlers: Vec<Box<dyn ProfileHandler>>,
    extensions: Extensions,
    roots: TrustedRoots,
}

/// How one sign-in ended.
#[derive(Debug)]
pub(crate) struct Journey {
    pub(crate) outcome: Outcome,
    /// Where ief sent the browser, without the query.
    pub(crate) redirected_to: Option<String>,
}

impl Journey {
    /// The issued token's claims, or why there is no token.
    pub(crate) fn token_claims(&self) -> Result<&serde_json::Value, String> {
        match &self.outcome {
            Outcome::Token { token, .. } => Ok(&token.claims),
            Outcome::Error { code, message } => Err(format!("the journey ended with {code}: {message}")),
        }
    }

    /// Checks the token's claims against `expected` (claim, value).
    pub(crate) fn expect_claims(&self, expected: &[(&str, &str)]) -> Result<(), String> {
        let claims = self.token_claims()?;
        for (claim, value) in expected {
            if claims[claim].as_str() != Some(value) {
                return Err(format!("the token's {claim} is {}, expected {value}; token: {claims}", claims[claim]));
            }
        }
        Ok(())
    }

    /// Checks the journey failed with `code` and a message holding every one of `words`.
    pub(crate) fn expect_error(&self, code: &str, words: &[&str]) -> Result<(), String> {
        match &self.outcome {
            Outcome::Error { code: got, message } if got == code && words.iter().all(|w| message.contains(w)) => Ok(()),
            Outcome::Error { code: got, message } => {
                Err(format!("expected {code} naming {words:?}, got {got}: {message}"))
            }
            Outcome::Token { token, .. } => Err(format!("expected {code}, but a token was issued: {}", token.claims)),
        }
    }
}

impl Journeys {
    /// `profiles`: OpenIdConnect TechnicalProfile elements (their Ids name the journeys).
    /// `keys` holds their credentials; the token signing key is added here.
    pub(crate) fn new(
        profiles: &[(String, String)],
        mut keys: KeyStore,
        roots: TrustedRoots,
    ) -> Result<Journeys, String> {
        let xml = policy_xml(profiles);
        let set = PolicySet::from_sources([("journeys.xml", xml.as_str())]);
        let mut diags = set.diagnostics.clone();
        let policy = EffectivePolicy::build(&set, 0, &mut diags);
        let errors: Vec<String> =
            diags.into_sorted().into_iter().filter(|d| d.is_error()).map(|d| d.display(&set.db).to_string()).collect();
        if !errors.is_empty() {
            return Err(format!("the journey policy has errors:\n{}", errors.join("\n")));
        }
        let policy = policy.ok_or("the journey policy does not build")?;
        let compiled = CompiledPolicy::compile(&policy.model);
        let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
        keys.insert_pem(TOKEN_SIGNING_KEY, &signing.serialize_pem()).map_err(|e| e.to_string())?;
        let mut extensions = Extensions::default();
        extensions.insert(keys);
        extensions.insert(roots.clone());
        Ok(Journeys { policy, compiled, handlers: ief_protocols::handlers(), extensions, roots })
    }

    /// Runs the journey of `profile`: ief redirects to the provider, the user agent signs in
    /// there as `username` and returns the callback, and ief finishes the journey.
    pub(crate) async fn sign_in(&self, profile: &str, username: &str, password: &str) -> Result<Journey, String> {
        let executor = Executor::new(&self.policy.model, &self.compiled, &self.handlers, &SystemEnv, &self.extensions);
        let context = RequestContext {
            host_name: HOST.to_owned(),
            correlation_id: format!("journey-{profile}"),
            redirect_uri: "https://jwt.ms".to_owned(),
            nonce: Some("defaultNonce".to_owned()),
            ..RequestContext::default()
        };
        let journey = journey_id(profile);
        let mut run = executor.start(Some(&journey), context, Session::default()).map_err(|e| e.to_string())?;
        let agent = UserAgent::new(&self.roots).map_err(|e| e.to_string())?;
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            consent: true,
            fields: BTreeMap::new(),
        };
        let callback = CallbackMatch::AuthResp { host: HOST.to_owned() };
        let mut answer = None;
        let mut redirected_to = None;
        for _ in 0..MAX_PAGES {
            match executor.resume(&mut run, answer.take()).await.map_err(|e| e.to_string())? {
                Progress::Finished(outcome) => return Ok(Journey { outcome, redirected_to }),
                Progress::NeedsInput(page) => {
                    let PageKind::Redirect { url } = &page.kind else {
                        return Err(format!("{journey} showed a page that is not a redirect: {page:?}"));
                    };
                    redirected_to = Some(url.split('?').next().unwrap_or_default().to_owned());
                    let params = agent
                        .authorize(url, &callback, &credentials)
                        .await
                        .map_err(|e| format!("{journey}: signing in at the provider as {username}: {e}"))?;
                    answer = Some(Answer::Callback(params));
                }
            }
        }
        Err(format!("{journey} did not finish after {MAX_PAGES} pages"))
    }
}

/// A named case: a future that says what went wrong.
pub(crate) type Case = (String, Pin<Box<dyn Future<Output = Result<(), String>> + Send>>);

/// Boxes a case.
pub(crate) fn case(name: impl Into<String>, future: impl Future<Output = Result<(), String>> + Send + 'static) -> Case {
    (name.into(), Box::pin(future))
}

/// Runs every case, at most [`CONCURRENCY`] at once and each within [`CASE_TIMEOUT`]; returns
/// the results in the cases' order.
pub(crate) async fn run_concurrently(cases: Vec<Case>) -> Vec<(String, Result<(), String>)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let mut index = std::collections::HashMap::new();
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    for (i, (name, future)) in cases.into_iter().enumerate() {
        let permits = Arc::clone(&permits);
        let task = tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            match tokio::time::timeout(CASE_TIMEOUT, future).await {
                Ok(result) => result,
                Err(_) => Err(format!("did not finish within {CASE_TIMEOUT:?}")),
            }
        });
        index.insert(task.id(), i);
        results.push((name, Err("no result".to_owned())));
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => (e.id(), Err(format!("the case panicked: {e}"))),
        };
        if let Some(&i) = index.get(&id) {
            results[i].1 = result;
        }
    }
    results
}

/// Prints one line per case and fails with every failure (and `context`, e.g. provider logs).
pub(crate) fn report(results: &[(String, Result<(), String>)], context: &str) {
    for (name, r) in results {
        println!("{} {name}", if r.is_ok() { "ok  " } else { "FAIL" });
    }
    let failures: Vec<String> =
        results.iter().filter_map(|(name, r)| r.as_ref().err().map(|e| format!("- {name}: {e}"))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\n{context}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
