//! The seam between the executor and the technical profiles: one trait that every protocol
//! implements (in `ief-protocols`), and the values that cross it.

use std::future::Future;
use std::pin::Pin;

use ief_transforms::{ClaimValue, ClaimsBag, TransformEnv};

use crate::model::{Policy, TechnicalProfile};
use crate::page_settings::PageSettings;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A technical profile's protocol implementation. Handlers hold no per-sign-in state: all of it
/// is in the request and in the services.
pub trait ProfileHandler: Send + Sync {
    /// Names the protocol for traces and errors (`SelfAssertedAttributeProvider`, `OAuth1`).
    fn name(&self) -> &'static str;

    /// Whether this handler runs `profile` when called this way (several handlers may share a
    /// protocol name: the OIDC identity provider and the local-password login both say
    /// `OpenIdConnect`).
    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool;

    /// Runs the profile once. An interactive profile first returns `NeedsInput` with the page to
    /// show; it is called again with the user's answer.
    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult>;
}

/// Why the executor calls a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Invocation {
    /// A ClaimsExchange of an orchestration step.
    Step,
    /// A ValidationTechnicalProfile of a self-asserted page (or a display control action).
    Validation,
    /// The issuer of a SendClaims step.
    Issuer,
}

/// One input claim as the profile sends it: resolved value, named by its partner claim type.
#[derive(Clone, Debug, PartialEq)]
pub struct InputClaim {
    /// The ClaimType Id.
    pub claim: String,
    /// `PartnerClaimType`, else the ClaimType's default for the protocol, else the Id.
    pub partner: String,
    pub value: Option<ClaimValue>,
    pub required: bool,
}

/// Everything a handler may look at for one call.
pub struct ProfileRequest<'a> {
    pub policy: &'a Policy,
    pub profile: &'a TechnicalProfile,
    pub invocation: Invocation,
    /// Input claims after input claims transformations, defaults and resolvers.
    pub inputs: Vec<InputClaim>,
    /// The whole claims bag, read-only (self-asserted pages pre-fill from it).
    pub bag: &'a ClaimsBag,
    /// The user's answer when the profile asked for input.
    pub answer: Option<&'a Answer>,
    /// With the answer: the `Page::profile_state` the profile returned with its page.
    pub profile_state: Option<&'a serde_json::Value>,
    pub services: &'a Services<'a>,
    /// The application's request that started the sign-in.
    pub context: &'a RequestContext,
    /// For the issuer: the relying party's output claims, already mapped to partner names.
    pub token_claims: &'a [(String, ClaimValue)],
}

impl std::fmt::Debug for ProfileRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileRequest")
            .field("profile", &self.profile.id.value)
            .field("invocation", &self.invocation)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

/// What a profile hands back.
#[derive(Clone, Debug, PartialEq)]
pub enum ProfileResult {
    /// Claims returned by the partner, named by partner claim type (or ClaimType Id).
    Claims(Vec<(String, ClaimValue)>),
    /// The profile needs the user (a page, a code, a redirect to an identity provider).
    NeedsInput(Page),
    /// A failure the journey routes: shown on the page inside a validation, else the end of the
    /// journey with an error to the application.
    Failed(ProfileError),
    /// The issuer's token.
    Token(Token),
    /// The answer does not fit the page (a field the page does not have, a code where a form
    /// was expected): the driver's mistake, not the user's, so the run stops with it.
    InvalidAnswer(String),
    /// The answer was already handled, here or by another process sharing the sign-ins (an
    /// identity provider's callback posted twice): the request that handled it first carries
    /// the sign-in on, so this one is refused: the driver discards this `SignIn` (its trace
    /// holds the answer) and keeps the one it stored.
    Replayed(ProfileError),
    /// A service the answer needs (the store every process shares) failed: refused the same
    /// way, so the same answer may be tried again.
    Unavailable(ProfileError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// Machine-readable code (`AADB2C90225`, `UserMessageIfClaimsPrincipalDoesNotExist`, HTTP status...).
    pub code: String,
    /// The message a user would see.
    pub user_message: String,
}

/// A minted token: the signed form and its decoded claims (for traces and snapshots).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Token {
    pub encoded: String,
    #[serde(with = "ief_transforms::stored::json_text")]
    pub header: serde_json::Value,
    #[serde(with = "ief_transforms::stored::json_text")]
    pub claims: serde_json::Value,
}

/// A page the user must answer. Headless runs answer it from a scenario; a browser front end
/// renders it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    pub profile: String,
    pub kind: PageKind,
    /// The error shown on the page after a failed submit.
    pub error: Option<String>,
    /// What the profile must remember until the answer (state, nonce, PKCE verifier, request
    /// token secret). The executor keeps it and hands it back with the answer; drivers never see it.
    #[serde(with = "ief_transforms::stored::json_text_option")]
    pub profile_state: Option<Box<serde_json::Value>>,
    /// Buttons and links the page shows or hides (`setting.*`); the executor fills it from the
    /// page's profile, so handlers leave the default.
    pub settings: Box<PageSettings>,
}

impl Page {
    /// A page without profile state.
    pub fn new(profile: impl Into<String>, kind: PageKind, error: Option<String>) -> Page {
        Page { profile: profile.into(), kind, error, profile_state: None, settings: Box::default() }
    }

    /// The page as a driver sees it: without the profile's state.
    pub fn shown(&self) -> Page {
        Page { profile_state: None, ..self.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PageKind {
    /// Buttons of a ClaimsProviderSelection (exchange ids, in order), and an embedded sign-in
    /// form's exchange for CombinedSignInAndSignUp.
    Selection { options: Vec<String>, sign_in: Option<String> },
    /// A self-asserted form: the fields shown, in order.
    Form { fields: Vec<Field> },
    /// A verification code sent to a phone or an address.
    Code { to: String },
    /// A redirect to an external identity provider, with the URL the browser would follow.
    Redirect { url: String },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Field {
    pub claim: String,
    pub input_type: Option<String>,
    pub required: bool,
    pub prefilled: Option<String>,
}

/// The user's answer to a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Pick a selection button (a ClaimsExchange Id).
    Choose(String),
    /// Submit a form: ClaimType Id and the text typed.
    Submit(Vec<(String, String)>),
    /// Enter a verification code.
    Code(String),
    /// The identity provider's callback parameters.
    Callback(Vec<(String, String)>),
    /// The user cancelled.
    Cancel,
    /// A display control's button (`SendCode`, `VerifyCode`) on the page, with the control's
    /// claims as typed: ClaimType Id and text.
    Action { control: String, action: String, values: Vec<(String, String)> },
}

/// Services shared by every sign-in: clock, randomness and the stores handlers need.
pub struct Services<'a> {
    pub env: &'a (dyn TransformEnv + Sync),
    /// Protocol-specific services, looked up by type (directory, key store, HTTP clients...).
    pub extensions: &'a Extensions,
}

impl std::fmt::Debug for Services<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// A type map, so the engine can carry protocol services it knows nothing about.
#[derive(Default)]
pub struct Extensions {
    items: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} items)", self.items.len())
    }
}

impl Extensions {
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.items.retain(|i| !i.is::<T>());
        self.items.push(Box::new(value));
    }

    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.items.iter().find_map(|i| i.downcast_ref::<T>())
    }
}

/// The relying-party request that started a sign-in (what B2C reads from the authorize URL).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestContext {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub state: Option<String>,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    /// Culture as RFC 5646 (`en-US`).
    pub culture: String,
    pub correlation_id: String,
    pub ip_address: String,
    /// The host the policy is served from (`contoso.b2clogin.com`).
    pub host_name: String,
    /// Other query parameters, for `{OAUTH-KV:name}`.
    pub query: Vec<(String, String)>,
    /// Claims the application supplied (`id_token_hint`), read by a GetClaims step.
    pub input_claims: Vec<(String, String)>,
    /// Keep me signed in was checked.
    pub kmsi: bool,
}
