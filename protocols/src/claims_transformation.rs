//! `ClaimsTransformationProtocolProvider`: a profile that only runs its output claims
//! transformations, which the executor applies after every profile anyway.

use ief_engine::exec::{BoxFuture, Invocation, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::TechnicalProfile;

/// Runs claims-transformation profiles (as steps or as validation profiles).
#[derive(Debug, Default)]
pub struct ClaimsTransformationProfile;

impl ProfileHandler for ClaimsTransformationProfile {
    fn name(&self) -> &'static str {
        "ClaimsTransformationProtocolProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, _invocation: Invocation) -> bool {
        let handler = profile.protocol.as_ref().and_then(|p| p.handler_type());
        handler == Some("ClaimsTransformationProtocolProvider")
    }

    fn execute<'a>(&'a self, _request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        // Output claims take their DefaultValues and the transformations run in the executor.
        Box::pin(async { ProfileResult::Claims(Vec::new()) })
    }
}
