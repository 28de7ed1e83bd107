//! `UserJourneyContextProvider`: B2C's undocumented provider that puts facts of the request in
//! the claims bag. Microsoft's samples read two from it: the user's IP address (`IP-Address`)
//! and the sign-in's correlation id (`CorrelationId`). An output claim so named (its
//! PartnerClaimType, else its ClaimType Id, in any case) gets the request's value; any other
//! gets only its DefaultValue (docs/compatibility.md).

use ief_engine::exec::{BoxFuture, Invocation, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;

#[derive(Debug, Default)]
pub struct UserJourneyContext;

impl ProfileHandler for UserJourneyContext {
    fn name(&self) -> &'static str {
        "UserJourneyContextProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation != Invocation::Issuer
            && profile.protocol.as_ref().and_then(|p| p.handler_type()) == Some("UserJourneyContextProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move { ProfileResult::Claims(context_claims(&request)) })
    }
}

fn context_claims(request: &ProfileRequest<'_>) -> Vec<(String, ClaimValue)> {
    let context = request.context;
    request
        .profile
        .output_claims
        .iter()
        .filter_map(|claim| {
            let name = request.policy.partner_name(request.profile, claim);
            let value = if name.eq_ignore_ascii_case("IP-Address") {
                &context.ip_address
            } else if name.eq_ignore_ascii_case("CorrelationId") {
                &context.correlation_id
            } else {
                return None;
            };
            // Unknown (`ief serve` does not record the client's address): left out, so a
            // DefaultValue or absence applies.
            (!value.is_empty()).then(|| (name, ClaimValue::String(value.clone())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ief_engine::exec::ProfileResult;

    use super::UserJourneyContext;
    use crate::self_asserted::testing::{Harness, policy, string};

    #[test]
    fn the_ip_address_and_correlation_id_come_from_the_request_and_other_claims_get_nothing() {
        let claims = r#"<ClaimsSchema>
            <ClaimType Id="IP-Address"><DataType>string</DataType></ClaimType>
            <ClaimType Id="journeyId"><DataType>string</DataType></ClaimType>
            <ClaimType Id="city"><DataType>string</DataType></ClaimType>
          </ClaimsSchema>"#;
        let profiles = r#"<TechnicalProfile Id="Context">
            <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.UserJourneyContextProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
            <OutputClaims>
              <OutputClaim ClaimTypeReferenceId="IP-Address"/>
              <OutputClaim ClaimTypeReferenceId="journeyId" PartnerClaimType="correlationid"/>
              <OutputClaim ClaimTypeReferenceId="city"/>
            </OutputClaims>
          </TechnicalProfile>"#;
        let mut h = Harness::new(policy(claims, profiles));
        h.context.ip_address = "203.0.113.7".to_owned();
        let out = h.run(&UserJourneyContext, "Context", Vec::new(), None);
        assert_eq!(
            out,
            ProfileResult::Claims(vec![
                ("IP-Address".to_owned(), string("203.0.113.7")),
                ("correlationid".to_owned(), string("corr-1")),
            ])
        );
        // An address the server does not know is left out, not an empty claim.
        h.context.ip_address = String::new();
        let out = h.run(&UserJourneyContext, "Context", Vec::new(), None);
        assert_eq!(out, ProfileResult::Claims(vec![("correlationid".to_owned(), string("corr-1"))]));
    }
}
