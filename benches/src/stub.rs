//! Protocol stand-ins the benches share.

use ief_engine::exec::{BoxFuture, Invocation, ProfileHandler, ProfileRequest, ProfileResult, Token};
use ief_engine::model::TechnicalProfile;
use serde_json::Value;

/// An issuer that only builds the claims map: no header, no signature.
#[derive(Debug)]
pub struct StubIssuer;

impl ProfileHandler for StubIssuer {
    fn name(&self) -> &'static str {
        "StubIssuer"
    }
    fn handles(&self, _: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Issuer
    }
    fn execute<'a>(&'a self, r: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let claims: serde_json::Map<String, Value> =
                r.token_claims.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            ProfileResult::Token(Token { encoded: String::new(), header: Value::Null, claims: Value::Object(claims) })
        })
    }
}
