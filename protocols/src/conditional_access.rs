//! `ConditionalAccessProtocolProvider`: B2C asks Microsoft Entra Conditional Access (and
//! Identity Protection's risk) which challenges a sign-in must pass. ief has neither service:
//! the challenges a sign-in meets come from [`ConditionalAccessSignals`] in the executor's
//! extensions (a scenario's `conditional_access`), and there are none without it, as for a
//! tenant with no Conditional Access policy.
//!
//! `OperationType` `Evaluation` takes `UserId`, `AuthenticationMethodsUsed`, `IsFederated` and
//! `IsMfaRegistered`, and returns `Challenges` (`mfa`, `chg_pwd`, `block`); an `mfa` challenge
//! for a user with no MFA method registered is `block`, as Entra ID grants it. `Remediation`
//! takes `ChallengesSatisfied` and returns nothing.

use ief_engine::exec::{BoxFuture, Invocation, ProfileError, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;

/// The challenges Conditional Access would raise for the sign-ins of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionalAccessSignals {
    pub challenges: Vec<String>,
}

/// The challenges B2C's Conditional Access evaluation documents.
pub const CHALLENGES: [&str; 3] = ["mfa", "chg_pwd", "block"];

#[derive(Debug, Default)]
pub struct ConditionalAccess;

impl ProfileHandler for ConditionalAccess {
    fn name(&self) -> &'static str {
        "ConditionalAccessProtocolProvider"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation != Invocation::Issuer
            && profile.protocol.as_ref().and_then(|p| p.handler_type()) == Some("ConditionalAccessProtocolProvider")
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match run(&request) {
                Ok(claims) => ProfileResult::Claims(claims),
                Err(e) => ProfileResult::Failed(e),
            }
        })
    }
}

fn run(request: &ProfileRequest<'_>) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
    let input = |name: &str| request.inputs.iter().find(|i| i.partner == name).and_then(|i| i.value.as_ref());
    let required = |name: &str| {
        input(name).ok_or_else(|| error(format!("the input claim with partner type '{name}' has no value")))
    };
    match request.profile.metadata("OperationType") {
        Some("Evaluation") => {
            required("UserId")?;
            let mfa_registered = matches!(required("IsMfaRegistered")?, ClaimValue::Boolean(true));
            let signals = request.services.extensions.get::<ConditionalAccessSignals>();
            let mut challenges: Vec<String> = Vec::new();
            for c in signals.map(|s| s.challenges.as_slice()).unwrap_or_default() {
                // Without a method to prove it, an MFA requirement blocks the sign-in.
                let c = if c == "mfa" && !mfa_registered { "block".to_owned() } else { c.clone() };
                if !challenges.contains(&c) {
                    challenges.push(c);
                }
            }
            Ok(vec![("Challenges".to_owned(), ClaimValue::StringCollection(challenges))])
        }
        Some("Remediation") => {
            required("ChallengesSatisfied")?;
            Ok(Vec::new())
        }
        other => Err(error(format!(
            "conditional access profile '{}' needs OperationType Evaluation or Remediation, not {}",
            request.profile.id.value,
            other.map_or("nothing".to_owned(), |o| format!("'{o}'"))
        ))),
    }
}

fn error(message: String) -> ProfileError {
    ProfileError { code: "InvalidConfiguration".to_owned(), user_message: message }
}

#[cfg(test)]
mod tests {
    use ief_engine::exec::{ProfileError, ProfileResult};
    use ief_transforms::ClaimValue;

    use super::{ConditionalAccess, ConditionalAccessSignals};
    use crate::self_asserted::testing::{Harness, policy, string};

    const PROTOCOL: &str = r#"<Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ConditionalAccessProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>"#;

    fn harness(challenges: Option<&[&str]>) -> Harness {
        let claims = r#"<ClaimsSchema>
            <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
            <ClaimType Id="IsMfaRegistered"><DataType>boolean</DataType></ClaimType>
            <ClaimType Id="challenges"><DataType>stringCollection</DataType></ClaimType>
          </ClaimsSchema>"#;
        let profiles = format!(
            r#"<TechnicalProfile Id="Evaluate">{PROTOCOL}<Metadata><Item Key="OperationType">Evaluation</Item></Metadata>
                 <InputClaims><InputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="UserId"/>
                   <InputClaim ClaimTypeReferenceId="IsMfaRegistered"/></InputClaims>
                 <OutputClaims><OutputClaim ClaimTypeReferenceId="challenges" PartnerClaimType="Challenges"/></OutputClaims>
               </TechnicalProfile>
               <TechnicalProfile Id="Remediate">{PROTOCOL}<Metadata><Item Key="OperationType">Remediation</Item></Metadata>
                 <InputClaims><InputClaim ClaimTypeReferenceId="challenges" PartnerClaimType="ChallengesSatisfied"/></InputClaims>
               </TechnicalProfile>
               <TechnicalProfile Id="Unknown">{PROTOCOL}<Metadata><Item Key="OperationType">Evaluate</Item></Metadata></TechnicalProfile>"#
        );
        let mut h = Harness::new(policy(claims, &profiles));
        if let Some(challenges) = challenges {
            let challenges = challenges.iter().map(|c| (*c).to_owned()).collect();
            h.extensions.insert(ConditionalAccessSignals { challenges });
        }
        h
    }

    fn evaluate(h: &Harness, mfa_registered: bool) -> ProfileResult {
        let values = [("objectId", string("user-1")), ("IsMfaRegistered", ClaimValue::Boolean(mfa_registered))];
        h.run(&ConditionalAccess, "Evaluate", h.inputs("Evaluate", &values), None)
    }

    fn challenges(items: &[&str]) -> ProfileResult {
        let items = items.iter().map(|c| (*c).to_owned()).collect();
        ProfileResult::Claims(vec![("Challenges".to_owned(), ClaimValue::StringCollection(items))])
    }

    #[test]
    fn evaluation_returns_the_configured_challenges_and_blocks_mfa_without_a_method() {
        assert_eq!(evaluate(&harness(None), true), challenges(&[]));
        let h = harness(Some(&["mfa", "chg_pwd"]));
        assert_eq!(evaluate(&h, true), challenges(&["mfa", "chg_pwd"]));
        assert_eq!(evaluate(&h, false), challenges(&["block", "chg_pwd"]));
        assert_eq!(evaluate(&harness(Some(&["mfa", "block"])), false), challenges(&["block"]));
    }

    #[test]
    fn missing_inputs_and_unknown_operations_fail_naming_them() {
        let h = harness(Some(&["mfa"]));
        let no_user = h.run(&ConditionalAccess, "Evaluate", h.inputs("Evaluate", &[]), None);
        let ProfileResult::Failed(ProfileError { user_message, .. }) = no_user else { panic!("{no_user:?}") };
        assert!(user_message.contains("'UserId'"), "{user_message}");
        let remediated =
            h.run(&ConditionalAccess, "Remediate", h.inputs("Remediate", &[("challenges", string("mfa"))]), None);
        assert_eq!(remediated, ProfileResult::Claims(Vec::new()));
        let unknown = h.run(&ConditionalAccess, "Unknown", Vec::new(), None);
        let ProfileResult::Failed(ProfileError { user_message, .. }) = unknown else { panic!("{unknown:?}") };
        assert!(user_message.contains("not 'Evaluate'"), "{user_message}");
    }
}
