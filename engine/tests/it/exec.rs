//! The executor with stub protocol handlers: selection, pages, validation profiles,
//! preconditions, sub journeys, claim resolvers, SSO and the issuer.

use ief_engine::exec::{
    Answer, BoxFuture, Executor, Extensions, Invocation, Outcome, PageKind, ProfileError, ProfileHandler,
    ProfileRequest, ProfileResult, Progress, RequestContext, Session, TraceEvent,
};
use ief_engine::model::TechnicalProfile;
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};
use ief_testkit::{StubIssuer, StubPage, block_on, handler_type};
use ief_transforms::{ClaimValue, FixedEnv};

/// A directory lookup: refuses one address, otherwise returns an objectId.
struct Lookup;
impl ProfileHandler for Lookup {
    fn name(&self) -> &'static str {
        "Lookup"
    }
    fn handles(&self, p: &TechnicalProfile, _: Invocation) -> bool {
        handler_type(p) == Some("LookupProvider")
    }
    fn execute<'a>(&'a self, r: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            let email = r.inputs.iter().find(|i| i.partner == "mail").and_then(|i| i.value.clone());
            match email.map(|e| e.to_string()) {
                Some(e) if e == "taken@contoso.com" => ProfileResult::Failed(ProfileError {
                    code: "UserMessageIfClaimsPrincipalAlreadyExists".to_owned(),
                    user_message: "A user with the specified ID already exists.".to_owned(),
                }),
                Some(_) => {
                    ProfileResult::Claims(vec![("oid".to_owned(), ClaimValue::String("00000000-1111".to_owned()))])
                }
                None => ProfileResult::Failed(ProfileError {
                    code: "NoInput".to_owned(),
                    user_message: "no email".to_owned(),
                }),
            }
        })
    }
}

struct Transform;
impl ProfileHandler for Transform {
    fn name(&self) -> &'static str {
        "ClaimsTransformation"
    }
    fn handles(&self, p: &TechnicalProfile, _: Invocation) -> bool {
        handler_type(p) == Some("ClaimsTransformationProtocolProvider")
    }
    fn execute<'a>(&'a self, _: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async { ProfileResult::Claims(Vec::new()) })
    }
}

const POLICY: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" TenantObjectId="11111111-2222-3333-4444-555555555555" PolicyId="B2C_1A_Exec" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Exec">
<BuildingBlocks>
  <ClaimsSchema>
    <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
    <ClaimType Id="email"><DataType>string</DataType><UserInputType>EmailBox</UserInputType></ClaimType>
    <ClaimType Id="password"><DataType>string</DataType><UserInputType>Password</UserInputType></ClaimType>
    <ClaimType Id="greeting"><DataType>string</DataType></ClaimType>
    <ClaimType Id="source"><DataType>string</DataType></ClaimType>
    <ClaimType Id="tenantId"><DataType>string</DataType></ClaimType>
    <ClaimType Id="culture"><DataType>string</DataType></ClaimType>
  </ClaimsSchema>
  <ClaimsTransformations>
    <ClaimsTransformation Id="Greet" TransformationMethod="FormatStringClaim">
      <InputClaims><InputClaim ClaimTypeReferenceId="email" TransformationClaimType="inputClaim"/></InputClaims>
      <InputParameters><InputParameter Id="stringFormat" DataType="string" Value="Hello {0}"/></InputParameters>
      <OutputClaims><OutputClaim ClaimTypeReferenceId="greeting" TransformationClaimType="outputClaim"/></OutputClaims>
    </ClaimsTransformation>
  </ClaimsTransformations>
</BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>Test</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="SignUp">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="email"/><OutputClaim ClaimTypeReferenceId="password"/><OutputClaim ClaimTypeReferenceId="objectId"/></OutputClaims>
    <ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Lookup"/></ValidationTechnicalProfiles>
    <UseTechnicalProfileForSessionManagement ReferenceId="SM"/>
  </TechnicalProfile>
  <TechnicalProfile Id="Lookup">
    <Protocol Name="Proprietary" Handler="Test.LookupProvider, Test"/>
    <Metadata><Item Key="UserMessageIfClaimsPrincipalAlreadyExists">You are already registered.</Item></Metadata>
    <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="mail"/></InputClaims>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="oid"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="Guest">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="email" DefaultValue="guest@contoso.com"/><OutputClaim ClaimTypeReferenceId="source" DefaultValue="guest"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="Never">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="source" DefaultValue="should not run"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="Greeter">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="IncludeClaimResolvingInClaimsHandling">true</Item></Metadata>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="greeting"/><OutputClaim ClaimTypeReferenceId="culture" DefaultValue="{Culture:LanguageName}" AlwaysUseDefaultValue="true"/></OutputClaims>
    <OutputClaimsTransformations><OutputClaimsTransformation ReferenceId="Greet"/></OutputClaimsTransformations>
  </TechnicalProfile>
  <TechnicalProfile Id="SM">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.SSO.DefaultSSOSessionProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <PersistedClaims><PersistedClaim ClaimTypeReferenceId="objectId"/><PersistedClaim ClaimTypeReferenceId="email"/></PersistedClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="Main"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsProviderSelection">
    <ClaimsProviderSelections>
      <ClaimsProviderSelection TargetClaimsExchangeId="SignUpExchange"/>
      <ClaimsProviderSelection TargetClaimsExchangeId="GuestExchange"/>
    </ClaimsProviderSelections>
  </OrchestrationStep>
  <OrchestrationStep Order="2" Type="ClaimsExchange"><ClaimsExchanges>
    <ClaimsExchange Id="SignUpExchange" TechnicalProfileReferenceId="SignUp"/>
    <ClaimsExchange Id="GuestExchange" TechnicalProfileReferenceId="Guest"/>
  </ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="3" Type="ClaimsExchange">
    <Preconditions><Precondition Type="ClaimEquals" ExecuteActionsIf="true"><Value>source</Value><Value>nobody</Value><Action>SkipThisOrchestrationStep</Action></Precondition>
    <Precondition Type="ClaimsExist" ExecuteActionsIf="true"><Value>objectId</Value><Action>SkipThisOrchestrationStep</Action></Precondition></Preconditions>
    <ClaimsExchanges><ClaimsExchange Id="NeverExchange" TechnicalProfileReferenceId="Never"/></ClaimsExchanges>
  </OrchestrationStep>
  <OrchestrationStep Order="4" Type="InvokeSubJourney"><JourneyList><Candidate SubJourneyReferenceId="Greeting"/></JourneyList></OrchestrationStep>
  <OrchestrationStep Order="5" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<SubJourneys><SubJourney Id="Greeting" Type="Call"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="GreetExchange" TechnicalProfileReferenceId="Greeter"/></ClaimsExchanges></OrchestrationStep>
</OrchestrationSteps></SubJourney></SubJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="Main"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/>
  <OutputClaims>
    <OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub"/>
    <OutputClaim ClaimTypeReferenceId="email"/>
    <OutputClaim ClaimTypeReferenceId="greeting"/>
    <OutputClaim ClaimTypeReferenceId="culture"/>
    <OutputClaim ClaimTypeReferenceId="source"/>
    <OutputClaim ClaimTypeReferenceId="tenantId" AlwaysUseDefaultValue="true" DefaultValue="{Policy:TenantObjectId}"/>
  </OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#;

struct Fixture {
    policy: EffectivePolicy,
    compiled: CompiledPolicy,
    handlers: Vec<Box<dyn ProfileHandler>>,
    env: FixedEnv,
    extensions: Extensions,
}

fn fixture() -> Fixture {
    let set = PolicySet::from_sources([("exec.xml", POLICY)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(!diags.has_errors(), "{:?}", diags.iter().map(|d| d.display(&set.db).to_string()).collect::<Vec<_>>());
    let compiled = CompiledPolicy::compile(&policy.model);
    Fixture {
        policy,
        compiled,
        handlers: vec![
            Box::new(StubPage::checking_state()),
            Box::new(Lookup),
            Box::new(Transform),
            Box::new(StubIssuer),
        ],
        env: FixedEnv::default(),
        extensions: Extensions::default(),
    }
}

fn context() -> RequestContext {
    RequestContext { client_id: "app".to_owned(), culture: "fr-FR".to_owned(), ..RequestContext::default() }
}

fn submit(pairs: &[(&str, &str)]) -> Option<Answer> {
    Some(Answer::Submit(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
}

fn token_claims(progress: Progress) -> serde_json::Value {
    match progress {
        Progress::Finished(Outcome::Token { token, .. }) => token.claims,
        other => panic!("expected a token, got {other:?}"),
    }
}

#[test]
fn sign_up_runs_validation_preconditions_sub_journey_and_issuer() {
    let f = fixture();
    let ex = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).expect("start");
    let Progress::NeedsInput(page) = block_on(ex.resume(&mut s, None)).expect("runs") else { panic!("a page") };
    assert_eq!(
        page.kind,
        PageKind::Selection { options: vec!["SignUpExchange".into(), "GuestExchange".into()], sign_in: None }
    );
    let Progress::NeedsInput(form) =
        block_on(ex.resume(&mut s, Some(Answer::Choose("SignUpExchange".into())))).unwrap()
    else {
        panic!("the sign-up form")
    };
    assert_eq!(form.profile, "SignUp");
    assert_eq!(form.profile_state, None, "the profile's state stays with the executor");
    // The validation profile refuses the address; its message comes from the calling page's
    // metadata when it defines the key, else the profile's own.
    let again =
        block_on(ex.resume(&mut s, submit(&[("email", "taken@contoso.com"), ("password", "Secret123!")]))).unwrap();
    let Progress::NeedsInput(error_page) = again else { panic!("the form again") };
    assert_eq!(error_page.error.as_deref(), Some("A user with the specified ID already exists."));
    let done =
        block_on(ex.resume(&mut s, submit(&[("email", "new@contoso.com"), ("password", "Secret123!")]))).unwrap();
    let claims = token_claims(done);
    assert_eq!(claims["sub"], "00000000-1111", "objectId from the validation profile, as sub");
    assert_eq!(claims["email"], "new@contoso.com");
    assert_eq!(claims["greeting"], "Hello new@contoso.com", "sub journey ran the transformation");
    assert_eq!(claims["culture"], "fr", "claim resolver");
    assert_eq!(claims["tenantId"], "11111111-2222-3333-4444-555555555555", "relying-party resolver");
    assert!(claims.get("source").is_none(), "step 3 was skipped");
    assert!(
        s.trace
            .iter()
            .any(|e| matches!(e, TraceEvent::Skipped { order: 3, reason, .. } if reason == "objectId exists")),
        "{:#?}",
        s.trace
    );
    let trace = s.trace.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(!trace.contains("Secret123!"), "passwords never reach the trace:\n{trace}");
    assert!(trace.contains("password=[redacted]"), "{trace}");
    // The password stays on its page.
    let password = f.policy.model.claim_id("password").unwrap();
    assert!(s.claims().get(password).is_none());
}

#[test]
fn guest_branch_uses_output_defaults_and_a_second_sign_in_reuses_the_session() {
    let f = fixture();
    let ex = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    let claims = token_claims(block_on(ex.resume(&mut s, Some(Answer::Choose("GuestExchange".into())))).unwrap());
    assert_eq!(claims["email"], "guest@contoso.com");
    assert_eq!(claims["source"], "should not run", "no objectId and source is not 'nobody', so step 3 ran");

    // Sign up, then sign in again in the same session: the page is not shown again.
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    block_on(ex.resume(&mut s, Some(Answer::Choose("SignUpExchange".into())))).unwrap();
    token_claims(block_on(ex.resume(&mut s, submit(&[("email", "a@contoso.com"), ("password", "x")]))).unwrap());
    let session = s.into_session();
    // A profile without a session manager gets DefaultSSOSessionProvider: it takes part too.
    assert_eq!(session.profiles(), ["Greeter", "SignUp"]);
    let mut again = ex.start(None, context(), session).unwrap();
    let claims = token_claims(block_on(ex.resume(&mut again, None)).unwrap());
    assert_eq!(claims["email"], "a@contoso.com");
    // Its session persisted nothing, so it runs again rather than being skipped without claims.
    assert_eq!(claims["greeting"], "Hello a@contoso.com");
    let restored: Vec<&str> = again
        .trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::SessionRestored { profile } => Some(profile.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(restored, ["SignUp"]);
}

#[test]
fn bad_answers_are_clear_errors() {
    let f = fixture();
    let ex = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    let err = block_on(ex.resume(&mut s, Some(Answer::Choose("FacebookExchange".into())))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step 1 of 'Main': there is no button 'FacebookExchange'; the page offers: SignUpExchange, GuestExchange"
    );
    let cancelled = block_on(ex.resume(&mut s, Some(Answer::Cancel))).unwrap();
    assert!(matches!(cancelled, Progress::Finished(Outcome::Error { code, .. }) if code == "AADB2C90091"));
}

#[test]
fn profiles_without_a_handler_are_not_supported_yet() {
    let f = fixture();
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(Transform)];
    let ex = Executor::new(&f.policy.model, &f.compiled, &handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    let err = block_on(ex.resume(&mut s, Some(Answer::Choose("SignUpExchange".into())))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "technical profile 'SignUp' uses SelfAssertedAttributeProvider, which ief does not support yet"
    );
}

const BRANCHING: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Branching" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Branching">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="email"><DataType>string</DataType></ClaimType>
  <ClaimType Id="objectId"><DataType>string</DataType></ClaimType>
  <ClaimType Id="hint"><DataType>string</DataType></ClaimType>
  <ClaimType Id="source"><DataType>string</DataType></ClaimType>
  <ClaimType Id="enabledIdps"><DataType>stringCollection</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>T</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Lookup">
    <Protocol Name="Proprietary" Handler="Test.LookupProvider, Test"/>
    <InputClaims><InputClaim ClaimTypeReferenceId="email" PartnerClaimType="mail"/></InputClaims>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="oid"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="Contoso">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="ClaimTypeOnWhichToEnable">enabledIdps</Item><Item Key="ClaimValueOnWhichToEnable">contoso</Item></Metadata>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="source" DefaultValue="contoso"/></OutputClaims>
    <EnabledForUserJourneys>OnItemExistenceInStringCollectionClaim</EnabledForUserJourneys>
  </TechnicalProfile>
  <TechnicalProfile Id="Fabrikam">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="ClaimTypeOnWhichToEnable">enabledIdps</Item><Item Key="ClaimValueOnWhichToEnable">fabrikam</Item></Metadata>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="source" DefaultValue="fabrikam"/></OutputClaims>
    <EnabledForUserJourneys>OnItemExistenceInStringCollectionClaim</EnabledForUserJourneys>
  </TechnicalProfile>
  <TechnicalProfile Id="Hint">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata><Item Key="IncludeClaimResolvingInClaimsHandling">true</Item></Metadata>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="hint" DefaultValue="{OIDC:LoginHint}" AlwaysUseDefaultValue="true"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="Main"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="GetClaims"/>
  <OrchestrationStep Order="2" Type="ClaimsProviderSelection">
    <ClaimsProviderSelections>
      <ClaimsProviderSelection TargetClaimsExchangeId="ContosoExchange"/>
      <ClaimsProviderSelection TargetClaimsExchangeId="FabrikamExchange"/>
    </ClaimsProviderSelections>
  </OrchestrationStep>
  <OrchestrationStep Order="3" Type="ClaimsExchange"><ClaimsExchanges>
    <ClaimsExchange Id="ContosoExchange" TechnicalProfileReferenceId="Contoso"/>
    <ClaimsExchange Id="FabrikamExchange" TechnicalProfileReferenceId="Fabrikam"/>
  </ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="4" Type="InvokeSubJourney"><JourneyList><Candidate SubJourneyReferenceId="Finish"/></JourneyList></OrchestrationStep>
  <OrchestrationStep Order="5" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<SubJourneys><SubJourney Id="Finish" Type="Transfer"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="HintExchange" TechnicalProfileReferenceId="Hint"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></SubJourney></SubJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="Main"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/>
  <InputClaims><InputClaim ClaimTypeReferenceId="enabledIdps" PartnerClaimType="idps"/></InputClaims>
  <OutputClaims><OutputClaim ClaimTypeReferenceId="source"/><OutputClaim ClaimTypeReferenceId="hint"/></OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#;

#[test]
fn get_claims_filters_buttons_and_a_transfer_sub_journey_issues_the_token() {
    let set = PolicySet::from_sources([("branching.xml", BRANCHING)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(!diags.has_errors(), "{:?}", diags.iter().map(|d| d.display(&set.db).to_string()).collect::<Vec<_>>());
    let compiled = CompiledPolicy::compile(&policy.model);
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(Transform), Box::new(StubIssuer)];
    let (env, extensions) = (FixedEnv::default(), Extensions::default());
    let ex = Executor::new(&policy.model, &compiled, &handlers, &env, &extensions);
    let context = RequestContext {
        login_hint: Some("kim@contoso.com".to_owned()),
        // The application enables only Fabrikam (a GetClaims step reads it), so Contoso's
        // button disappears and the only one left is chosen without a page.
        input_claims: vec![("idps".to_owned(), "fabrikam".to_owned())],
        ..RequestContext::default()
    };
    let mut s = ex.start(None, context, Session::default()).unwrap();
    let claims = token_claims(block_on(ex.resume(&mut s, None)).unwrap());
    assert_eq!(claims["source"], "fabrikam");
    assert_eq!(claims["hint"], "kim@contoso.com", "{{OIDC:LoginHint}}");
    // The transfer never came back to step 5 of the main journey.
    let steps: Vec<String> = s
        .trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Step { journey, order, .. } => Some(format!("{journey}:{order}")),
            _ => None,
        })
        .collect();
    assert_eq!(steps, ["Main:1", "Main:2", "Main:3", "Main:4", "Finish:1", "Finish:2"]);
}

#[test]
fn continue_on_error_and_continue_on_success_steer_validation_profiles() {
    // Lookup refuses taken@contoso.com; with ContinueOnError the page still succeeds, Stamp runs,
    // and ContinueOnSuccess=false keeps the second Lookup from running at all.
    let policy = POLICY.replace(
        r#"<ValidationTechnicalProfiles><ValidationTechnicalProfile ReferenceId="Lookup"/></ValidationTechnicalProfiles>"#,
        r#"<ValidationTechnicalProfiles>
             <ValidationTechnicalProfile ReferenceId="Lookup" ContinueOnError="true"/>
             <ValidationTechnicalProfile ReferenceId="Guest" ContinueOnSuccess="false"/>
             <ValidationTechnicalProfile ReferenceId="Lookup"/>
           </ValidationTechnicalProfiles>"#,
    );
    assert_ne!(policy, POLICY, "the fixture changed shape");
    let set = PolicySet::from_sources([("exec.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    let effective = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(!diags.has_errors());
    let compiled = CompiledPolicy::compile(&effective.model);
    let handlers: Vec<Box<dyn ProfileHandler>> =
        vec![Box::new(StubPage::checking_state()), Box::new(Lookup), Box::new(Transform), Box::new(StubIssuer)];
    let (env, extensions) = (FixedEnv::default(), Extensions::default());
    let ex = Executor::new(&effective.model, &compiled, &handlers, &env, &extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    block_on(ex.resume(&mut s, Some(Answer::Choose("SignUpExchange".into())))).unwrap();
    let claims = token_claims(block_on(ex.resume(&mut s, submit(&[("email", "taken@contoso.com")]))).unwrap());
    let ran_as_validation = |name: &str| {
        s.trace.iter().any(
            |e| matches!(e, TraceEvent::Profile { profile, invocation: Invocation::Validation, .. } if profile == name),
        )
    };
    assert!(ran_as_validation("Guest"), "the validation after the tolerated failure ran");
    // An output DefaultValue fills in what the profile did not return (spec c.4).
    assert_eq!(claims["email"], "guest@contoso.com");
    assert!(claims.get("sub").is_none(), "the failed lookup produced no objectId");
    let lookups =
        s.trace.iter().filter(|e| matches!(e, TraceEvent::Profile { profile, .. } if profile == "Lookup")).count();
    assert_eq!(lookups, 1, "ContinueOnSuccess=false stopped before the second Lookup");
}

#[test]
fn bearer_credentials_are_redacted_like_passwords() {
    let xml = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Tokens" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Tokens">
<BuildingBlocks><ClaimsSchema>
  <ClaimType Id="idpAccessToken"><DataType>string</DataType></ClaimType>
  <ClaimType Id="idpRefreshToken"><DataType>string</DataType></ClaimType>
  <ClaimType Id="idpIdToken"><DataType>string</DataType>
    <DefaultPartnerClaimTypes><Protocol Name="OAuth2" PartnerClaimType="{oauth2:id_token}"/></DefaultPartnerClaimTypes></ClaimType>
  <ClaimType Id="email"><DataType>string</DataType></ClaimType>
</ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Social"><Protocol Name="OAuth2"/><OutputClaims>
    <OutputClaim ClaimTypeReferenceId="idpAccessToken" PartnerClaimType="{oauth2:access_token}"/>
    <OutputClaim ClaimTypeReferenceId="idpRefreshToken" PartnerClaimType="{OAuth2:refresh_token}"/>
    <OutputClaim ClaimTypeReferenceId="email"/>
  </OutputClaims></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
</TrustFrameworkPolicy>"#;
    let set = PolicySet::from_sources([("tokens.xml", xml)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy").model;
    let value = ClaimValue::String("EAAB-live-token".to_owned());
    assert_eq!(ief_engine::exec::redact(&policy, "idpAccessToken", &value), "[redacted]");
    assert_eq!(ief_engine::exec::redact(&policy, "idpRefreshToken", &value), "[redacted]");
    assert_eq!(ief_engine::exec::redact(&policy, "idpIdToken", &value), "[redacted]", "by DefaultPartnerClaimTypes");
    assert_eq!(ief_engine::exec::redact(&policy, "email", &value), "EAAB-live-token");
}

/// The fixture with a combined sign-in page at step 1 whose sign-in profile has `metadata`.
fn combined_fixture(metadata: &str) -> Fixture {
    let policy = POLICY
        .replace(
            r#"<OrchestrationStep Order="1" Type="ClaimsProviderSelection">
    <ClaimsProviderSelections>
      <ClaimsProviderSelection TargetClaimsExchangeId="SignUpExchange"/>
      <ClaimsProviderSelection TargetClaimsExchangeId="GuestExchange"/>
    </ClaimsProviderSelections>
  </OrchestrationStep>"#,
            r#"<OrchestrationStep Order="1" Type="CombinedSignInAndSignUp">
    <ClaimsProviderSelections>
      <ClaimsProviderSelection ValidationClaimsExchangeId="SignInExchange"/>
      <ClaimsProviderSelection TargetClaimsExchangeId="GuestExchange"/>
    </ClaimsProviderSelections>
    <ClaimsExchanges><ClaimsExchange Id="SignInExchange" TechnicalProfileReferenceId="SignUp"/></ClaimsExchanges>
  </OrchestrationStep>"#,
        )
        .replace(
            r#"<TechnicalProfile Id="SignUp">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>"#,
            &format!(
                r#"<TechnicalProfile Id="SignUp">
    <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.SelfAssertedAttributeProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/>
    <Metadata>{metadata}</Metadata>"#
            ),
        );
    assert!(policy.contains("CombinedSignInAndSignUp") && policy.contains("<Metadata>"), "the fixture changed");
    let set = PolicySet::from_sources([("exec.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    let effective = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(!diags.has_errors(), "{:?}", diags.iter().map(|d| d.display(&set.db).to_string()).collect::<Vec<_>>());
    Fixture { compiled: CompiledPolicy::compile(&effective.model), policy: effective, ..fixture() }
}

/// Clicks "Forgot your password?" on the combined page.
fn forgot_password(f: &Fixture) -> Result<Progress, ief_engine::exec::ExecError> {
    let ex = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    let page = block_on(ex.resume(&mut s, None)).unwrap();
    assert!(matches!(&page, Progress::NeedsInput(p) if matches!(p.kind, PageKind::Selection { sign_in: Some(_), .. })));
    block_on(ex.resume(&mut s, Some(Answer::Choose("forgotPassword".into()))))
}

#[test]
fn the_plain_forgot_password_link_returns_aadb2c90118_to_the_application() {
    match forgot_password(&combined_fixture("")).unwrap() {
        Progress::Finished(Outcome::Error { code, message }) => {
            assert_eq!(code, "AADB2C90118");
            assert_eq!(message, "The user has forgotten their password.");
        }
        other => panic!("expected AADB2C90118, got {other:?}"),
    }
}

#[test]
fn a_forgot_password_override_runs_its_exchange_and_location_none_hides_the_link() {
    let f = combined_fixture(r#"<Item Key="setting.forgotPasswordLinkOverride">GuestExchange</Item>"#);
    let claims = token_claims(forgot_password(&f).unwrap());
    assert_eq!(claims["email"], "guest@contoso.com", "the override's exchange ran: {claims}");

    let f = combined_fixture(r#"<Item Key="setting.forgotPasswordLinkLocation">None</Item>"#);
    let err = forgot_password(&f).unwrap_err().to_string();
    assert!(
        err.contains("the link 'forgotPassword' of 'SignUp' is hidden (setting.forgotPasswordLinkLocation is None)"),
        "{err}"
    );
}

#[test]
fn a_paused_sign_in_is_a_plan_position_that_survives_a_recompile() {
    use ief_engine::plan::{PlanNode, PlanPosition};
    let f = fixture();
    let ex = Executor::new(&f.policy.model, &f.compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    block_on(ex.resume(&mut s, None)).unwrap();
    block_on(ex.resume(&mut s, Some(Answer::Choose("SignUpExchange".into())))).unwrap();
    // Waiting for the sign-up form: at the SignUp profile's node of Main.
    let at = s.position();
    let plan = f.compiled.plan(at.journey).expect("a journey of the policy");
    assert_eq!(plan.id, "Main");
    assert!(
        matches!(&plan.graph[at.node()], PlanNode::Profile { profile, .. } if profile.id == "SignUp"),
        "{:?}",
        plan.graph[at.node()]
    );
    assert!(s.call_stack().is_empty());
    assert!(std::mem::size_of::<PlanPosition>() <= 12, "a position is small");
    let text = serde_json::to_string(&at).unwrap();
    assert_eq!(serde_json::from_str::<PlanPosition>(&text).unwrap(), at, "{text}");
    // The same policy compiled again has the same node there.
    let again = CompiledPolicy::compile(&f.policy.model);
    assert_eq!(again.plan(at.journey).map(|p| &p.graph[at.node()]), Some(&plan.graph[at.node()]));

    token_claims(block_on(ex.resume(&mut s, submit(&[("email", "new@contoso.com"), ("password", "x")]))).unwrap());
    // The path went into the called sub journey from its start to its end, then on to SendClaims.
    let sub = f.compiled.journey("Greeting").expect("the sub journey");
    let inside: Vec<_> = s.path().iter().filter(|p| p.journey == sub.reference).map(|p| p.node()).collect();
    assert_eq!((inside.first(), inside.last()), (Some(&sub.start), Some(&sub.end)));
    let mut main = s.path().iter().rev().filter(|p| p.journey == at.journey);
    let last_step = main.find(|p| matches!(plan.graph[p.node()], PlanNode::Step { .. }));
    assert_eq!(last_step.map(|p| p.node()), plan.steps.last().copied(), "SendClaims ran last");
}

#[test]
fn a_button_for_an_exchange_the_next_step_lacks_is_refused_there_by_name() {
    // Validation reports the unknown target; the sign-in still runs and fails where B2C does.
    let policy = POLICY.replace(
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="GuestExchange"/>"#,
        r#"<ClaimsProviderSelection TargetClaimsExchangeId="GhostExchange"/>"#,
    );
    assert_ne!(policy, POLICY, "the fixture changed shape");
    let set = PolicySet::from_sources([("exec.xml", policy.as_str())]);
    let mut diags = Diagnostics::default();
    let effective = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    assert!(diags.iter().any(|d| d.is_error() && d.message.contains("GhostExchange")), "validation reports it");
    let compiled = CompiledPolicy::compile(&effective.model);
    let f = fixture();
    let ex = Executor::new(&effective.model, &compiled, &f.handlers, &f.env, &f.extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    let Progress::NeedsInput(page) = block_on(ex.resume(&mut s, None)).unwrap() else { panic!("the selection page") };
    assert_eq!(
        page.kind,
        PageKind::Selection { options: vec!["SignUpExchange".into(), "GhostExchange".into()], sign_in: None }
    );
    let err = block_on(ex.resume(&mut s, Some(Answer::Choose("GhostExchange".into())))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Claims exchange with id 'GhostExchange' could not be found in orchestration step '2' and the step contains more than one claims exchange"
    );
}

/// A profile whose own page offers a choice (a phone factor with two numbers on file): it
/// answers `Choose` itself.
struct Picker;
impl ProfileHandler for Picker {
    fn name(&self) -> &'static str {
        "Picker"
    }
    fn handles(&self, p: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation != Invocation::Issuer && handler_type(p) == Some("PickerProvider")
    }
    fn execute<'a>(&'a self, r: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match r.answer {
                None => ProfileResult::NeedsInput(ief_engine::exec::Page {
                    profile: r.profile.id.value.to_string(),
                    kind: PageKind::Selection { options: vec!["home".into(), "office".into()], sign_in: None },
                    error: None,
                    profile_state: None,
                    settings: Default::default(),
                }),
                Some(Answer::Choose(choice)) => {
                    ProfileResult::Claims(vec![("picked".to_owned(), ClaimValue::String(choice.clone()))])
                }
                Some(other) => ProfileResult::InvalidAnswer(format!("not a choice: {other:?}")),
            }
        })
    }
}

const PICKING: &str = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Picking" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Picking">
<BuildingBlocks><ClaimsSchema><ClaimType Id="picked"><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks>
<ClaimsProviders><ClaimsProvider><DisplayName>T</DisplayName><TechnicalProfiles>
  <TechnicalProfile Id="Pick">
    <Protocol Name="Proprietary" Handler="Test.PickerProvider, Test"/>
    <OutputClaims><OutputClaim ClaimTypeReferenceId="picked"/></OutputClaims>
  </TechnicalProfile>
  <TechnicalProfile Id="JwtIssuer"><Protocol Name="None"/></TechnicalProfile>
</TechnicalProfiles></ClaimsProvider></ClaimsProviders>
<UserJourneys><UserJourney Id="Main"><OrchestrationSteps>
  <OrchestrationStep Order="1" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="PickExchange" TechnicalProfileReferenceId="Pick"/></ClaimsExchanges></OrchestrationStep>
  <OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/>
</OrchestrationSteps></UserJourney></UserJourneys>
<RelyingParty><DefaultUserJourney ReferenceId="Main"/><TechnicalProfile Id="PolicyProfile"><DisplayName>P</DisplayName><Protocol Name="OpenIdConnect"/>
  <OutputClaims><OutputClaim ClaimTypeReferenceId="picked"/></OutputClaims>
  <SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty>
</TrustFrameworkPolicy>"#;

/// Runs `policy` (PICKING or a variant) to its choice page and answers `office`.
fn pick_office(policy: &str) -> Progress {
    let set = PolicySet::from_sources([("picking.xml", policy)]);
    let mut diags = Diagnostics::default();
    let policy = EffectivePolicy::build(&set, 0, &mut diags).expect("a policy");
    let compiled = CompiledPolicy::compile(&policy.model);
    let handlers: Vec<Box<dyn ProfileHandler>> = vec![Box::new(Picker), Box::new(StubIssuer)];
    let (env, extensions) = (FixedEnv::default(), Extensions::default());
    let ex = Executor::new(&policy.model, &compiled, &handlers, &env, &extensions);
    let mut s = ex.start(None, context(), Session::default()).unwrap();
    let Progress::NeedsInput(page) = block_on(ex.resume(&mut s, None)).unwrap() else { panic!("the choice") };
    assert_eq!(page.profile, "Pick");
    block_on(ex.resume(&mut s, Some(Answer::Choose("office".into())))).expect("the handler takes it")
}

#[test]
fn a_profile_s_own_choice_page_takes_the_choice_to_its_handler() {
    assert_eq!(token_claims(pick_office(PICKING))["picked"], "office");
}

#[test]
fn a_claim_without_a_partner_type_goes_out_under_its_declared_id_whatever_the_reference_s_case() {
    let rp = r#"<OutputClaims><OutputClaim ClaimTypeReferenceId="picked"/></OutputClaims>
  <SubjectNamingInfo"#;
    assert_eq!(PICKING.matches(rp).count(), 1);
    let claims = token_claims(pick_office(&PICKING.replace(rp, &rp.replace("picked", "PICKED"))));
    assert_eq!(claims["picked"], "office", "{claims}");
    assert!(claims.get("PICKED").is_none(), "{claims}");
}
