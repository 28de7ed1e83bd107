//! End-to-end tests of the OpenID Connect handler against a small provider that misbehaves on
//! demand (`fake`), and a rig that runs the handler the way the executor does.

mod attacks;
mod fake;
mod flow;
mod hybrid;
mod methods;
mod tenants;

use ief_engine::exec::{Answer, Extensions, InputClaim, Invocation, PageKind, ProfileHandler, ProfileRequest};
use ief_engine::exec::{ProfileResult, RequestContext, Services};
use ief_engine::model::Policy;
use ief_transforms::{ClaimValue, ClaimsBag, FixedEnv};
use serde_json::Value;

use super::OpenIdConnect;
use crate::federation::http::TrustedRoots;
use crate::keys::KeyStore;
use fake::{Fake, test_keys};

pub(super) const CLIENT_ID: &str = "client-1";
/// Every character RFC 6749 §2.3.1 makes a Basic header encode.
pub(super) const SECRET: &str = "sp3c:al+/=%&?~ secret";
/// The deterministic clock's 2024-01-01T00:00:00Z.
pub(super) const NOW: i64 = 1_704_067_200;

const CLAIMS: &str = r#"<ClaimsSchema>
  <ClaimType Id="login_hint"><DataType>string</DataType></ClaimType>
  <ClaimType Id="domain_hint"><DataType>string</DataType></ClaimType>
  <ClaimType Id="state_claim"><DataType>string</DataType></ClaimType>
  <ClaimType Id="issuerUserId"><DataType>string</DataType></ClaimType>
</ClaimsSchema>"#;

/// One OpenID Connect profile `IdP` with these metadata items and keys.
pub(crate) fn profile_policy(metadata: &[(&str, &str)], keys: &[(&str, &str)], inputs: &str) -> Policy {
    let items: String =
        metadata.iter().map(|(k, v)| format!(r#"<Item Key="{k}">{}</Item>"#, ief_idp::escape(v))).collect();
    let keys: String =
        keys.iter().map(|(id, storage)| format!(r#"<Key Id="{id}" StorageReferenceId="{storage}"/>"#)).collect();
    let keys = if keys.is_empty() { String::new() } else { format!("<CryptographicKeys>{keys}</CryptographicKeys>") };
    let profile = format!(
        r#"<TechnicalProfile Id="IdP"><DisplayName>Fake</DisplayName><Protocol Name="OpenIdConnect"/>
        <Metadata>{items}</Metadata>{keys}<InputClaims>{inputs}</InputClaims>
        <OutputClaims><OutputClaim ClaimTypeReferenceId="issuerUserId" PartnerClaimType="sub"/></OutputClaims>
        </TechnicalProfile>"#
    );
    crate::self_asserted::testing::policy(CLAIMS, &profile)
}

/// The handler with a policy, keys, clock and context, run as the executor runs it.
pub(super) struct Rig {
    pub(crate) policy: Policy,
    pub(crate) env: FixedEnv,
    pub(crate) extensions: Extensions,
    pub(crate) context: RequestContext,
    pub(crate) bag: ClaimsBag,
    pub(crate) handler: OpenIdConnect,
}

impl Rig {
    pub(crate) fn new(policy: Policy) -> Rig {
        let keys = test_keys();
        let mut store = KeyStore::empty();
        store.insert_secret("B2C_1A_Secret", SECRET);
        store.insert_pem("B2C_1A_Assertion", &keys.client_signing_pem()).expect("assertion key");
        store.insert_pem("B2C_1A_ClientCert", &keys.client_a.identity_pem()).expect("client certificate");
        let mut extensions = Extensions::default();
        extensions.insert(store);
        extensions.insert(TrustedRoots(vec![keys.ca_pem.clone()]));
        let context = RequestContext { host_name: "contoso.b2clogin.com".to_owned(), ..RequestContext::default() };
        let bag = ClaimsBag::with_capacity(policy.claim_types.len());
        Rig {
            policy,
            env: FixedEnv::default(),
            extensions,
            context,
            bag,
            handler: OpenIdConnect::with_timeout(std::time::Duration::from_secs(10)),
        }
    }

    /// A rig for `fake` with the usual metadata plus `extra`.
    pub(crate) fn for_fake(fake: &Fake, extra: &[(&str, &str)]) -> Rig {
        Rig::new(fake.policy(extra))
    }

    pub(crate) async fn run(
        &self,
        inputs: &[(&str, &str)],
        answer: Option<Answer>,
        state: Option<&Value>,
    ) -> ProfileResult {
        let profile = self.policy.profile("IdP").expect("the IdP profile");
        assert!(self.handler.handles(profile, Invocation::Step), "the handler takes the IdP profile");
        let inputs = profile
            .input_claims
            .iter()
            .map(|c| InputClaim {
                claim: c.claim.value.to_string(),
                partner: self.policy.partner_name(profile, c),
                value: inputs
                    .iter()
                    .find(|(k, _)| *k == c.claim.value)
                    .map(|(_, v)| ClaimValue::String((*v).to_owned())),
                required: c.required,
            })
            .collect();
        let services = Services { env: &self.env, extensions: &self.extensions };
        let request = ProfileRequest {
            policy: &self.policy,
            profile,
            invocation: Invocation::Step,
            inputs,
            bag: &self.bag,
            answer: answer.as_ref(),
            profile_state: state,
            services: &services,
            context: &self.context,
            token_claims: &[],
        };
        self.handler.execute(request).await
    }

    /// The first call: the authorization URL and the state the executor would keep.
    pub(crate) async fn start(&self, inputs: &[(&str, &str)]) -> (String, Value) {
        match self.run(inputs, None, None).await {
            ProfileResult::NeedsInput(page) => {
                let PageKind::Redirect { url } = page.kind else { panic!("not a redirect: {:?}", page.kind) };
                (url, *page.profile_state.expect("the pending request is kept"))
            }
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    pub(crate) async fn callback(&self, params: Vec<(String, String)>, state: &Value) -> ProfileResult {
        self.run(&[], Some(Answer::Callback(params)), Some(state)).await
    }

    /// A whole sign-in: redirect, the provider's answer, the callback.
    pub(crate) async fn sign_in(&self, fake: &Fake) -> ProfileResult {
        let (url, state) = self.start(&[]).await;
        let params = fake.follow(&url).await;
        self.callback(params, &state).await
    }
}

/// The claims of a successful result.
pub(super) fn claims(result: ProfileResult) -> Vec<(String, ClaimValue)> {
    match result {
        ProfileResult::Claims(c) => c,
        other => panic!("expected claims, got {other:?}"),
    }
}

pub(super) fn claim<'a>(claims: &'a [(String, ClaimValue)], name: &str) -> Option<&'a ClaimValue> {
    claims.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The message of a failure, checking its code.
pub(super) fn failure(result: ProfileResult, code: &str) -> String {
    match result {
        ProfileResult::Failed(e) => {
            assert_eq!(e.code, code, "{}", e.user_message);
            assert!(e.user_message.starts_with("Sign-in with 'IdP' failed: "), "{}", e.user_message);
            e.user_message
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

pub(super) fn query_of(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url).expect("a URL").query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn set_param(params: &mut [(String, String)], name: &str, value: &str) {
    params.iter_mut().find(|(k, _)| k == name).expect("the parameter is there").1 = value.to_owned();
}
