//! Single sign-on sessions across sign-ins: the scope that shares them, keep me signed in, and
//! the auth_time a session carries into its tokens.

use ief_engine::exec::{
    Answer, ExecError, Executor, Extensions, Outcome, ProfileHandler, Progress, RequestContext, Session,
};
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};
use ief_testkit::{StubIssuer, StubPage, block_on};

/// A sign-in page whose session manager persists the email, and a journey that issues it as
/// the subject. `behaviors` is the relying party's UserJourneyBehaviors.
fn policy(policy_id: &str, behaviors: &str, remember_me: bool) -> String {
    format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="{policy_id}" PublicPolicyUri="http://contoso.onmicrosoft.com/{policy_id}">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="email"><DataType>string</DataType><UserInputType>EmailBox</UserInputType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="SignIn">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="setting.enableRememberMe">{remember_me}</Item></Metadata>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims>
    <UseTechnicalProfileForSessionManagement ReferenceId="SM"/>
  </TechnicalProfile>
  <TechnicalProfile Id="SM">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.SSO.DefaultSSOSessionProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <PersistedClaims><PersistedClaim ClaimTypeReferenceId="email"/></PersistedClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="Main"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="SignInExchange" TechnicalProfileReferenceId="SignIn"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="Main"/>
  <UserJourneyBehaviors>{behaviors}</UserJourneyBehaviors>
  <TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/>
  <OutputClaims><OutputClaim ClaimTypeReferenceId="email" PartnerClaimType="sub"/></OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#
    )
}

struct Compiled {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
}

fn compile(xml: &str) -> Compiled {
    let set = PolicySet::from_sources([("sessions.xml", xml)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(!diags.has_errors(), "{:?}", diags.iter().map(|d| d.display(&set.db).to_string()).collect::<Vec<_>>());
    let compiled = CompiledPolicy::compile(&policy.model);
    Compiled { policy, compiled }
}

struct Browser {
    handlers: Vec<Box<dyn ProfileHandler>>,
    env: ief_transforms::FixedEnv,
    extensions: Extensions,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            handlers: vec![Box::new(StubPage::new()), Box::new(StubIssuer)],
            env: ief_transforms::FixedEnv::default(),
            extensions: Extensions::default(),
        }
    }

    /// Signs in with `answer` when the page asks; returns the token's claims, whether a page
    /// was shown, and the browser's sessions after.
    fn sign_in(
        &self,
        p: &Compiled,
        client: &str,
        session: Session,
        answer: &[(&str, &str)],
    ) -> (serde_json::Value, bool, Session) {
        let context = RequestContext { client_id: client.to_owned(), ..RequestContext::default() };
        self.sign_in_with(p, context, session, answer)
    }

    /// [`Browser::sign_in`] with the application's whole request.
    fn sign_in_with(
        &self,
        p: &Compiled,
        context: RequestContext,
        session: Session,
        answer: &[(&str, &str)],
    ) -> (serde_json::Value, bool, Session) {
        let ex = Executor::new(&p.policy.model, &p.compiled, &self.handlers, &self.env, &self.extensions);
        let mut s = ex.start(None, context, session).unwrap();
        let mut progress = block_on(ex.resume(&mut s, None)).unwrap();
        let asked = matches!(progress, Progress::NeedsInput(_));
        if asked {
            let values = answer.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            progress = block_on(ex.resume(&mut s, Some(Answer::Submit(values)))).unwrap();
        }
        let Progress::Finished(Outcome::Token { token, .. }) = progress else { panic!("no token: {progress:?}") };
        (token.claims, asked, s.into_session())
    }
}

const BOB: &[(&str, &str)] = &[("email", "bob@contoso.com")];

#[test]
fn tenant_scope_is_shared_by_policies_and_policy_scope_is_not() {
    let browser = Browser::new();
    let sign_in = compile(&policy("B2C_1A_SignIn", r#"<SingleSignOn Scope="Tenant"/>"#, false));
    let tenant = compile(&policy("B2C_1A_Tenant", r#"<SingleSignOn Scope="Tenant"/>"#, false));
    let own = compile(&policy("B2C_1A_Own", r#"<SingleSignOn Scope="Policy"/>"#, false));

    let (_, asked, session) = browser.sign_in(&sign_in, "app", Session::default(), BOB);
    assert!(asked);
    let (claims, asked, session) = browser.sign_in(&tenant, "app", session, &[]);
    assert!(!asked, "the tenant's session signs Bob in to another policy");
    assert_eq!(claims["sub"], "bob@contoso.com");
    let (_, asked, session) = browser.sign_in(&own, "app", session, BOB);
    assert!(asked, "a policy-scoped session is the policy's own");
    let (claims, asked, _) = browser.sign_in(&own, "app", session, &[]);
    assert!(!asked, "the policy's own session signs Bob in there the second time");
    assert_eq!(claims["sub"], "bob@contoso.com");
}

#[test]
fn application_scope_is_per_client_and_suppressed_keeps_no_session() {
    let browser = Browser::new();
    let app = compile(&policy("B2C_1A_App", r#"<SingleSignOn Scope="Application"/>"#, false));
    let (_, _, session) = browser.sign_in(&app, "pharmacy", Session::default(), BOB);
    let (_, asked, session) = browser.sign_in(&app, "pharmacy", session, &[]);
    assert!(!asked);
    let (_, asked, _) = browser.sign_in(&app, "groceries", session, BOB);
    assert!(asked, "another application has a session of its own");

    let suppressed = compile(&policy("B2C_1A_None", r#"<SingleSignOn Scope="Suppressed"/>"#, false));
    let (_, _, session) = browser.sign_in(&suppressed, "app", Session::default(), BOB);
    assert!(session.is_empty());
    let (_, asked, _) = browser.sign_in(&suppressed, "app", session, BOB);
    assert!(asked);
}

#[test]
fn an_sso_token_carries_the_auth_time_of_the_sign_in_that_entered_credentials() {
    let browser = Browser::new();
    let p = compile(&policy("B2C_1A_SignIn", "", false));
    let (first, _, session) = browser.sign_in(&p, "app", Session::default(), BOB);
    let (second, asked, _) = browser.sign_in(&p, "app", session, &[]);
    assert!(!asked);
    assert_eq!(first["auth_time"], "2024-01-01T00:00:00.0000000Z");
    assert_eq!(second["auth_time"], first["auth_time"]);
    // Without a session there is no sign-in time to carry: the issuer uses its own clock.
    let suppressed = compile(&policy("B2C_1A_None", r#"<SingleSignOn Scope="Suppressed"/>"#, false));
    let (claims, _, _) = browser.sign_in(&suppressed, "app", Session::default(), BOB);
    assert!(claims.get("auth_time").is_none());
}

#[test]
fn keep_me_signed_in_survives_a_reopened_browser_and_needs_the_checkbox() {
    let browser = Browser::new();
    let kmsi = compile(&policy("B2C_1A_Kmsi", r#"<SingleSignOn Scope="Tenant" KeepAliveInDays="7"/>"#, true));
    let remembered = [("email", "bob@contoso.com"), ("rememberMe", "true")];
    let (_, _, session) = browser.sign_in(&kmsi, "app", Session::default(), &remembered);
    let (_, asked, _) = browser.sign_in(&kmsi, "app", session.reopened(), &[]);
    assert!(!asked, "a kept session outlives the browser");
    let (_, _, session) = browser.sign_in(&kmsi, "app", Session::default(), BOB);
    let (_, asked, _) = browser.sign_in(&kmsi, "app", session.reopened(), BOB);
    assert!(asked, "a session cookie does not");

    // A page without the checkbox refuses the answer, naming it; the page still waits.
    let plain = compile(&policy("B2C_1A_Plain", "", false));
    let ex = Executor::new(&plain.policy.model, &plain.compiled, &browser.handlers, &browser.env, &browser.extensions);
    let mut s = ex.start(None, RequestContext::default(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    let answer = Answer::Submit(remembered.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    let err = block_on(ex.resume(&mut s, Some(answer))).unwrap_err();
    assert!(
        matches!(&err, ExecError::BadAnswer { message, .. } if message.contains("rememberMe") && message.contains("setting.enableRememberMe")),
        "{err}"
    );
    assert!(matches!(block_on(ex.resume(&mut s, None)).unwrap(), Progress::NeedsInput(_)));
}

#[test]
fn max_age_asks_for_credentials_again_once_the_sessions_are_older() {
    let p = compile(&policy("B2C_1A_SignIn", "", false));
    let (_, _, session) = Browser::new().sign_in(&p, "app", Session::default(), BOB);
    let mut later = Browser::new();
    later.env.now += chrono::Duration::seconds(61);
    let with_max_age = |age: &str| RequestContext { max_age: Some(age.to_owned()), ..RequestContext::default() };
    let (claims, asked, _) = later.sign_in_with(&p, with_max_age("3600"), session.clone(), &[]);
    assert!(!asked, "credentials entered 61 seconds ago are young enough");
    assert_eq!(claims["sub"], "bob@contoso.com");
    let (_, asked, _) = later.sign_in_with(&p, with_max_age("60"), session, BOB);
    assert!(asked, "older than max_age: the page again");
}
