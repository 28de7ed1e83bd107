//! Stand-ins for the protocols, so a journey runs the executor alone: no network, no keys.

use ief_engine::exec::{
    Answer, BoxFuture, Field, Invocation, Page, PageKind, ProfileError, ProfileHandler, ProfileRequest, ProfileResult,
    Token,
};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;
use serde_json::{Value, json};

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

/// A self-asserted page: shows a form of the profile's output claims once, returns what was
/// typed. [`StubPage::checking_state`] also keeps `{"page": <profile id>}` as its profile
/// state and refuses (`StateLost`) an answer that comes back without it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StubPage {
    check_state: bool,
}

impl StubPage {
    pub const fn new() -> StubPage {
        StubPage { check_state: false }
    }

    /// The page that checks the executor hands it back its own state.
    pub const fn checking_state() -> StubPage {
        StubPage { check_state: true }
    }
}

impl ProfileHandler for StubPage {
    fn name(&self) -> &'static str {
        "StubPage"
    }
    fn handles(&self, p: &TechnicalProfile, _: Invocation) -> bool {
        p.is_self_asserted()
    }
    fn execute<'a>(&'a self, r: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let state = self.check_state.then(|| json!({ "page": r.profile.id.value.as_str() }));
            match r.answer {
                Some(Answer::Submit(_)) if state.is_some() && r.profile_state != state.as_ref() => {
                    ProfileResult::Failed(ProfileError {
                        code: "StateLost".to_owned(),
                        user_message: format!("the page state came back as {:?}", r.profile_state),
                    })
                }
                Some(Answer::Submit(values)) => ProfileResult::Claims(
                    values.iter().map(|(k, v)| (k.clone(), ClaimValue::String(v.clone()))).collect(),
                ),
                _ => ProfileResult::NeedsInput(Page {
                    profile: r.profile.id.value.to_string(),
                    kind: PageKind::Form {
                        fields: r
                            .profile
                            .output_claims
                            .iter()
                            .map(|c| Field {
                                claim: c.claim.value.to_string(),
                                input_type: None,
                                required: c.required,
                                prefilled: None,
                            })
                            .collect(),
                    },
                    error: None,
                    profile_state: state.map(Box::new),
                    settings: Default::default(),
                }),
            }
        })
    }
}

/// A `ClaimsTransformationProtocolProvider` profile: returns nothing itself; the executor
/// writes its output claims' DefaultValues and runs its transformations.
#[derive(Debug, Clone, Copy, Default)]
pub struct StubClaimsTransformation;

impl ProfileHandler for StubClaimsTransformation {
    fn name(&self) -> &'static str {
        "ClaimsTransformation"
    }
    fn handles(&self, p: &TechnicalProfile, _: Invocation) -> bool {
        crate::handler_type(p) == Some("ClaimsTransformationProtocolProvider")
    }
    fn execute<'a>(&'a self, _: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async { ProfileResult::Claims(Vec::new()) })
    }
}
