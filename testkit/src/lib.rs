//! Test support shared by the workspace's tests and benches: small inline policies, the
//! executor's stub profile handlers, and a way to run futures that never wait. Only ever a
//! dev-dependency (or a bench's dependency); never published.

pub mod authorize;
pub mod browser;
pub mod journeys;
pub mod node;
pub mod oauth1;
pub mod postgres;
pub mod process;
mod stub;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ief_engine::exec::{Executor, Extensions, Outcome, ProfileHandler, Progress, RequestContext, Session};
use ief_engine::model::{Policy, TechnicalProfile};
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};
use ief_transforms::FixedEnv;

pub use stub::{StubClaimsTransformation, StubIssuer, StubPage};

/// The root element's attributes of every inline test policy.
pub const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Test" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Test""#;

/// A one-file policy from `BuildingBlocks` and `ClaimsProviders` XML.
pub fn policy(building_blocks: &str, profiles: &str) -> Policy {
    let xml = format!(
        r#"<TrustFrameworkPolicy {NS}><BuildingBlocks>{building_blocks}</BuildingBlocks><ClaimsProviders><ClaimsProvider><DisplayName>Test</DisplayName><TechnicalProfiles>{profiles}</TechnicalProfiles></ClaimsProvider></ClaimsProviders></TrustFrameworkPolicy>"#
    );
    let set = PolicySet::from_sources([("test.xml", xml.as_str())]);
    let mut diags = set.diagnostics.clone();
    EffectivePolicy::build(&set, 0, &mut diags).expect("the test policy builds").model
}

/// A whole one-file policy `xml`, built and compiled; panics listing every error it has.
pub fn compile(name: &str, xml: &str) -> (EffectivePolicy, CompiledPolicy) {
    let set = PolicySet::from_sources([(name, xml)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("the test policy builds");
    let errors: Vec<String> = diags.iter().filter(|d| d.is_error()).map(|d| d.display(&set.db).to_string()).collect();
    assert!(errors.is_empty() && !set.diagnostics.has_errors(), "{errors:#?}");
    let compiled = CompiledPolicy::compile(&policy.model);
    (policy, compiled)
}

/// Runs the default journey of the one-file policy `xml` with the claims-transformation and
/// issuer stubs, answering no page, and returns the token's claims; panics on anything else.
pub fn token_claims(xml: &str, context: RequestContext) -> serde_json::Value {
    let (policy, compiled) = compile("test.xml", xml);
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(StubClaimsTransformation), Box::new(StubIssuer)];
    let (env, extensions) = (FixedEnv::default(), Extensions::default());
    let executor = Executor::new(&policy.model, &compiled, &handlers, &env, &extensions);
    let mut sign_in = executor.start(None, context, Session::default()).expect("the journey starts");
    match block_on(executor.resume(&mut sign_in, None)).expect("the journey runs") {
        Progress::Finished(Outcome::Token { token, .. }) => token.claims,
        other => panic!("expected a token, got {other:?}"),
    }
}

/// Runs a future that never waits (the stubs' journeys): polling until ready is enough.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The provider class a `Proprietary` profile names (`RestfulProvider`, ...), if any.
pub fn handler_type(p: &TechnicalProfile) -> Option<&str> {
    p.protocol.as_ref().and_then(|p| p.handler_type())
}
