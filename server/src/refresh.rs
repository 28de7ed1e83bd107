//! The refresh journey (`RefreshTokenUserJourneyId`, or the relying party's
//! `<Endpoint Id="Token">`): run at every refresh_token redemption, so a policy can refuse a
//! revoked grant (the starter pack compares the token's issue time with the account's
//! `refreshTokensValidFromDateTime`) and refresh the claims.

use ief_engine::exec::{BoxFuture, Invocation, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::{Policy, TechnicalProfile};
use ief_transforms::{ClaimValue, DataType};

/// The claim the refresh token's setup profile returns with the grant's issue time.
pub const ISSUED_ON_CLAIM: &str = "refreshTokenIssuedOnDateTime";

/// The journey a policy runs on refresh, if it names one.
pub fn journey(policy: &Policy, issuer: Option<&TechnicalProfile>) -> Option<String> {
    let from_issuer = issuer.and_then(|tp| tp.metadata("RefreshTokenUserJourneyId")).map(str::trim);
    let from_endpoint = policy
        .relying_party
        .as_ref()
        .and_then(|rp| rp.endpoints.iter().find(|(id, _)| id.eq_ignore_ascii_case("Token")))
        .map(|(_, journey)| journey.as_str());
    from_issuer.or(from_endpoint).filter(|j| policy.journey(j).is_some()).map(str::to_owned)
}

/// The `Protocol Name="None"` profiles of the refresh journey's steps: they read the grant
/// (B2C's `RefreshTokenReadAndSetup`). [`GrantReader`] answers them from the run's input claims.
pub fn setup_profiles(policy: &Policy, journey: &str) -> Vec<String> {
    let Some(journey) = policy.journey(journey) else { return Vec::new() };
    journey
        .steps
        .iter()
        .flat_map(|s| s.exchanges.iter())
        .filter_map(|e| policy.profile(e.profile.as_str()))
        .filter(|tp| tp.protocol.as_ref().is_some_and(|p| p.name.as_str().eq_ignore_ascii_case("None")))
        .map(|tp| tp.id.value.to_string())
        .collect()
}

/// Answers the refresh journey's setup profiles with what the grant holds, passed as the run's
/// input claims (the user's id and the grant's issue time).
#[derive(Debug)]
pub struct GrantReader {
    pub profiles: Vec<String>,
}

impl ProfileHandler for GrantReader {
    fn name(&self) -> &'static str {
        "refresh token setup"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Step && self.profiles.iter().any(|p| *p == profile.id.value)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        let claims = request
            .profile
            .output_claims
            .iter()
            .filter_map(|oc| {
                let id = oc.claim.as_str();
                let (_, text) = request.context.input_claims.iter().find(|(k, _)| k.eq_ignore_ascii_case(id))?;
                let data_type = request.policy.claim(id).and_then(|c| c.data_type).unwrap_or(DataType::String);
                let value = ClaimValue::parse(data_type, text).unwrap_or_else(|_| ClaimValue::String(text.clone()));
                Some((request.policy.partner_name(request.profile, oc), value))
            })
            .collect();
        Box::pin(std::future::ready(ProfileResult::Claims(claims)))
    }
}
