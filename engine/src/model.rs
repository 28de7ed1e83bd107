//! The typed effective policy, lowered from the merged tree. Every name keeps its span; the
//! merged tree itself is kept beside it, so elements ief does not interpret are never lost.

use std::collections::HashMap;

use ief_transforms::{ClaimId, DataType};
use thin_vec::ThinVec;

use crate::source::Span;
use crate::syntax::{Element, SmolStr};
use crate::tenant::{TenantObjectId, TenantSource};

/// A name or literal as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// Shared with the tree it was read from: a step's ids are copied without allocating.
    pub value: SmolStr,
    pub span: Span,
}

impl Text {
    fn attr(el: &Element, name: &str) -> Option<Text> {
        el.attribute(name).map(|a| Text { value: a.value.clone(), span: a.value_span })
    }

    fn attr_or_empty(el: &Element, name: &str) -> Text {
        Text::attr(el, name).unwrap_or(Text { value: SmolStr::default(), span: el.name_span })
    }

    fn child(el: &Element, name: &str) -> Option<Text> {
        el.child(name).map(Text::of)
    }

    /// An element's own text (empty when it has none), spanned.
    fn of(el: &Element) -> Text {
        Text { value: el.text.clone().unwrap_or_default(), span: el.text_span }
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub policy_id: String,
    pub tenant_id: String,
    /// The `TenantObjectId` attribute as written.
    pub tenant_object_id: Option<String>,
    /// The tenant's object id the policy runs with: see [`Policy::configure_tenant`].
    pub tenant: TenantObjectId,
    pub deployment_mode: Option<String>,
    pub claim_types: Vec<ClaimType>,
    claim_index: HashMap<String, ClaimId>,
    pub predicates: Vec<Predicate>,
    pub predicate_validations: Vec<PredicateValidation>,
    pub transformations: Vec<ClaimsTransformation>,
    pub content_definitions: Vec<ContentDefinition>,
    pub localization: Option<Localization>,
    pub display_controls: Vec<DisplayControl>,
    pub technical_profiles: Vec<TechnicalProfile>,
    pub user_journeys: Vec<Journey>,
    pub sub_journeys: Vec<Journey>,
    pub relying_party: Option<RelyingParty>,
}

#[derive(Debug, Clone)]
pub struct ClaimType {
    pub id: Text,
    pub display_name: Option<String>,
    pub data_type: Option<DataType>,
    /// As written, for diagnostics when it is not a known type.
    pub data_type_text: Option<Text>,
    pub default_partner_claim_types: Vec<(String, String)>,
    pub user_input_type: Option<Text>,
    pub restriction: Option<Restriction>,
    pub predicate_validation: Option<Text>,
    /// A profile fills it with a provider's token (`{oauth2:access_token}` and its siblings),
    /// directly or through DefaultPartnerClaimTypes, or with a one-time code or an authenticator
    /// app's secret (an OTP profile's `otpGenerated` / `otpToVerify`, a VerificationControl's code,
    /// CreateOtpSecret's output, Azure MFA's `secretKey` / `otpCode`), so traces and reports never
    /// show its value.
    pub holds_credential: bool,
    pub span: Span,
}

impl ClaimType {
    /// Whether a choice field shows `option` selected for the claim's `value`: the values it
    /// names (comma-separated), else, without a value, the options marked SelectByDefault.
    pub fn shows_selected(&self, option: &str, value: &str) -> bool {
        if value.is_empty() {
            self.restriction.as_ref().is_some_and(|r| r.enumerations.iter().any(|(_, v, d)| *d && v == option))
        } else {
            value.split(',').any(|p| p.trim() == option)
        }
    }

    /// Typed into a password box or holding a provider's token: traces and reports never show it.
    pub fn is_secret(&self) -> bool {
        self.holds_credential || self.user_input_type.as_ref().is_some_and(|t| t.value == "Password")
    }
}

/// Partner claim types whose values are a provider's tokens.
const CREDENTIAL_PARTNER_TYPES: [&str; 4] =
    ["{oauth2:access_token}", "{oauth2:refresh_token}", "{oauth2:id_token}", "{oauth1:access_token}"];

/// The OTP profile's partner names of the code it generates and the code it verifies.
const OTP_PARTNER_TYPES: [&str; 2] = ["otpGenerated", "otpToVerify"];
/// Azure MFA's authenticator-app inputs: the app's secret and its code.
const TOTP_INPUTS: [&str; 2] = ["secretKey", "otpCode"];

fn is_credential_partner(partner: &str) -> bool {
    CREDENTIAL_PARTNER_TYPES.iter().any(|t| partner.trim().eq_ignore_ascii_case(t))
}

#[derive(Debug, Clone)]
pub struct Restriction {
    /// (Text, Value, SelectByDefault).
    pub enumerations: Vec<(String, String, bool)>,
    /// (RegularExpression, HelpText).
    pub pattern: Option<(Text, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct Predicate {
    pub id: Text,
    pub method: Text,
    pub help_text: Option<String>,
    pub user_help_text: Option<String>,
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct PredicateValidation {
    pub id: Text,
    pub groups: Vec<PredicateGroup>,
}

#[derive(Debug, Clone)]
pub struct PredicateGroup {
    pub id: Text,
    pub user_help_text: Option<String>,
    pub match_at_least: Option<u32>,
    pub predicates: Vec<Text>,
}

#[derive(Debug, Clone)]
pub struct ClaimsTransformation {
    pub id: Text,
    pub method: Text,
    pub inputs: Vec<TransformClaim>,
    pub params: Vec<InputParameter>,
    pub outputs: Vec<TransformClaim>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct TransformClaim {
    pub claim: Text,
    /// `TransformationClaimType`; when absent the slot is the claim's Id.
    pub slot: Option<Text>,
}

impl ClaimsTransformation {
    /// The declaration as the transforms crate checks and compiles it; `None` while a claim it
    /// names is not in the ClaimsSchema (validation reports that).
    pub fn decl<'a>(&'a self, policy: &Policy) -> Option<ief_transforms::TransformDecl<'a>> {
        let slot = |c: &'a TransformClaim| {
            let ct = policy.claim(&c.claim.value)?;
            Some(ief_transforms::ClaimSlot {
                slot: c.slot_name(),
                claim: policy.claim_id(&c.claim.value)?,
                claim_type: c.claim.as_str(),
                data_type: ct.data_type.unwrap_or(DataType::String),
            })
        };
        Some(ief_transforms::TransformDecl {
            id: self.id.as_str(),
            method: self.method.as_str(),
            inputs: self.inputs.iter().map(slot).collect::<Option<_>>()?,
            params: self
                .params
                .iter()
                .map(|p| ief_transforms::ParamLiteral {
                    id: p.id.as_str(),
                    data_type: DataType::parse(&p.data_type.value),
                    value: p.value.as_str(),
                })
                .collect(),
            outputs: self.outputs.iter().map(slot).collect::<Option<_>>()?,
        })
    }
}

impl TransformClaim {
    pub fn slot_name(&self) -> &str {
        self.slot.as_ref().unwrap_or(&self.claim).as_str()
    }
}

#[derive(Debug, Clone)]
pub struct InputParameter {
    pub id: Text,
    pub data_type: Text,
    pub value: Text,
}

#[derive(Debug, Clone)]
pub struct ContentDefinition {
    pub id: Text,
    pub load_uri: Option<String>,
    pub data_uri: Option<String>,
    /// (Language, LocalizedResourcesReferenceId).
    pub localized_resources: Vec<(String, Text)>,
}

#[derive(Debug, Clone)]
pub struct Localization {
    pub enabled: bool,
    pub default_language: Option<String>,
    pub supported_languages: Vec<String>,
    pub resources: Vec<LocalizedResources>,
}

#[derive(Debug, Clone)]
pub struct LocalizedResources {
    pub id: Text,
    /// (ElementType, ElementId, StringId, text).
    pub strings: Vec<(String, String, String, String)>,
    pub collections: Vec<LocalizedCollection>,
}

/// (ElementType, ElementId, TargetCollection, items as (Text, Value)).
pub type LocalizedCollection = (String, String, String, Vec<(String, String)>);

#[derive(Debug, Clone)]
pub struct DisplayControl {
    pub id: Text,
    pub control_type: Option<String>,
    pub input_claims: Vec<ClaimRef>,
    pub display_claims: Vec<DisplayClaim>,
    pub output_claims: Vec<ClaimRef>,
    /// Action Id with the validation profiles it runs.
    pub actions: Vec<(Text, Vec<ValidationProfile>)>,
}

#[derive(Debug, Clone)]
pub struct Protocol {
    pub name: Text,
    pub handler: Option<Text>,
}

impl Protocol {
    /// The handler's type name without namespace or assembly (`SelfAssertedAttributeProvider`).
    pub fn handler_type(&self) -> Option<&str> {
        let h = self.handler.as_ref()?.as_str();
        let type_name = h.split(',').next()?.trim();
        Some(type_name.rsplit('.').next().unwrap_or(type_name))
    }
}

#[derive(Debug, Clone)]
pub struct MetadataItem {
    pub key: Text,
    pub value: Text,
}

#[derive(Debug, Clone)]
pub struct CryptographicKey {
    pub id: Text,
    pub storage_reference_id: Text,
}

/// An InputClaim, OutputClaim or PersistedClaim of a technical profile.
#[derive(Debug, Clone)]
pub struct ClaimRef {
    pub claim: Text,
    pub partner_claim_type: Option<Text>,
    pub default_value: Option<Text>,
    pub always_use_default_value: bool,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct DisplayClaim {
    pub claim: Option<Text>,
    pub display_control: Option<Text>,
    pub required: bool,
    /// `ControlClaimType` inside a display control (`VerificationCode`, `QrCodeImage`...).
    pub control_claim_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ValidationProfile {
    pub reference: Text,
    pub continue_on_error: bool,
    pub continue_on_success: bool,
    pub preconditions: Vec<Precondition>,
}

#[derive(Debug, Clone)]
pub struct TechnicalProfile {
    pub id: Text,
    pub display_name: Option<String>,
    pub protocol: Option<Protocol>,
    pub output_token_format: Option<String>,
    pub metadata: Vec<MetadataItem>,
    pub keys: Vec<CryptographicKey>,
    pub include_in_sso: Option<bool>,
    pub input_transformations: Vec<Text>,
    pub input_claims: Vec<ClaimRef>,
    pub display_claims: Vec<DisplayClaim>,
    pub persisted_claims: Vec<ClaimRef>,
    pub output_claims: Vec<ClaimRef>,
    pub output_transformations: Vec<Text>,
    pub validation_profiles: Vec<ValidationProfile>,
    /// `SubjectNamingInfo/@ClaimType` (a partner claim name).
    pub subject_naming_info: Option<Text>,
    pub include: Option<Text>,
    pub session_management: Option<Text>,
    pub enabled_for_user_journeys: Option<Text>,
    pub span: Span,
}

impl TechnicalProfile {
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|m| m.key.value == key).map(|m| m.value.as_str())
    }

    pub fn metadata_item(&self, key: &str) -> Option<&MetadataItem> {
        self.metadata.iter().find(|m| m.key.value == key)
    }

    pub fn is_self_asserted(&self) -> bool {
        self.protocol.as_ref().and_then(Protocol::handler_type) == Some("SelfAssertedAttributeProvider")
    }

    /// A `ClaimsTransformationProtocolProvider` profile, whose input claims its output
    /// transformations read.
    pub fn is_claims_transformation(&self) -> bool {
        self.protocol.as_ref().and_then(Protocol::handler_type) == Some("ClaimsTransformationProtocolProvider")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JourneyKind {
    UserJourney,
    /// `Type="Call"`.
    SubJourneyCall,
    /// `Type="Transfer"`.
    SubJourneyTransfer,
}

#[derive(Debug, Clone)]
pub struct Journey {
    pub id: Text,
    pub kind: JourneyKind,
    pub default_issuer: Option<Text>,
    pub authorization_profiles: Vec<Text>,
    pub steps: Vec<Step>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepType {
    ClaimsProviderSelection,
    CombinedSignInAndSignUp,
    ClaimsExchange,
    InvokeSubJourney,
    GetClaims,
    SendClaims,
    /// XSD-only types (`ConsentScreen`, `ReviewScreen`, `UserDialog`, `Noop`) and unknown ones.
    Other(String),
}

impl StepType {
    fn parse(s: &str) -> StepType {
        match s {
            "ClaimsProviderSelection" => StepType::ClaimsProviderSelection,
            "CombinedSignInAndSignUp" => StepType::CombinedSignInAndSignUp,
            "ClaimsExchange" => StepType::ClaimsExchange,
            "InvokeSubJourney" => StepType::InvokeSubJourney,
            "GetClaims" => StepType::GetClaims,
            "SendClaims" => StepType::SendClaims,
            other => StepType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            StepType::Other(s) => s,
            known => known.known_name().unwrap_or_default(),
        }
    }

    /// The name of a step type the schema defines (`None` for [`StepType::Other`]).
    pub fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            StepType::ClaimsProviderSelection => "ClaimsProviderSelection",
            StepType::CombinedSignInAndSignUp => "CombinedSignInAndSignUp",
            StepType::ClaimsExchange => "ClaimsExchange",
            StepType::InvokeSubJourney => "InvokeSubJourney",
            StepType::GetClaims => "GetClaims",
            StepType::SendClaims => "SendClaims",
            StepType::Other(_) => return None,
        })
    }

    pub fn is_selection(&self) -> bool {
        matches!(self, StepType::ClaimsProviderSelection | StepType::CombinedSignInAndSignUp)
    }
}

/// Lists are thin (one pointer; nothing allocated when empty): a 20,000-step journey's steps
/// are read by validation and the plan and outgrow the cache.
#[derive(Debug, Clone)]
pub struct Step {
    pub order: u32,
    pub order_text: Text,
    pub step_type: StepType,
    pub type_span: Span,
    pub content_definition: Option<Text>,
    pub issuer: Option<Text>,
    pub preconditions: ThinVec<Precondition>,
    pub display_option: Option<SmolStr>,
    pub selections: ThinVec<Selection>,
    pub exchanges: ThinVec<Exchange>,
    pub sub_journeys: ThinVec<Text>,
    pub span: Span,
}

impl Step {
    /// The sub journey an InvokeSubJourney step runs: B2C documents one candidate, and only
    /// the first of several runs (IEF507).
    pub fn invoked(&self) -> Option<&Text> {
        self.sub_journeys.first()
    }
}

#[derive(Debug, Clone)]
pub struct Selection {
    pub target: Option<Text>,
    pub validation: Option<Text>,
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: Text,
    pub profile: Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreconditionType {
    ClaimsExist,
    ClaimEquals,
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Precondition {
    pub kind: PreconditionType,
    pub execute_actions_if: bool,
    pub values: Vec<Text>,
    pub action: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RelyingParty {
    pub default_journey: Option<Text>,
    /// (Endpoint Id, UserJourneyReferenceId).
    pub endpoints: Vec<(String, Text)>,
    /// UserJourneyBehaviors/SingleSignOn `Scope` and `KeepAliveInDays`.
    pub sso_scope: Option<Text>,
    /// `SingleSignOn/@EnforceIdTokenHintOnLogout`: logout needs the application's id token.
    pub enforce_id_token_hint_on_logout: Option<Text>,
    pub keep_alive_days: Option<Text>,
    /// UserJourneyBehaviors `SessionExpiryType` and `SessionExpiryInSeconds`.
    pub session_expiry_type: Option<Text>,
    pub session_expiry_seconds: Option<Text>,
    pub technical_profile: Option<TechnicalProfile>,
    pub span: Span,
}

impl Policy {
    pub fn claim(&self, id: &str) -> Option<&ClaimType> {
        self.claim_id(id).map(|c| &self.claim_types[c.index()])
    }

    /// ClaimType Ids resolve case-insensitively, as B2C resolves them (the starter pack
    /// references `surName` for `surname`).
    pub fn claim_id(&self, id: &str) -> Option<ClaimId> {
        self.claim_index.get(id).or_else(|| self.claim_index.get(&id.to_lowercase())).copied()
    }

    pub fn profile(&self, id: &str) -> Option<&TechnicalProfile> {
        self.technical_profiles.iter().find(|t| t.id.value == id)
    }

    /// Whether the policy runs in production: `DeploymentMode` absent or `Production`.
    pub fn is_production(&self) -> bool {
        self.deployment_mode.as_deref().is_none_or(|m| m.trim().eq_ignore_ascii_case("Production"))
    }

    pub fn transformation(&self, id: &str) -> Option<&ClaimsTransformation> {
        self.transformations.iter().find(|t| t.id.value == id)
    }

    /// The name a profile's claim has on the wire: its `PartnerClaimType`, else the ClaimType's
    /// default for the profile's protocol, else the ClaimType Id.
    pub fn partner_name(&self, tp: &TechnicalProfile, c: &ClaimRef) -> String {
        if let Some(p) = &c.partner_claim_type {
            return p.value.to_string();
        }
        let protocol = tp.protocol.as_ref().map_or("", |p| p.name.as_str());
        // The ClaimType Id is the one declared, not the reference's spelling (references match
        // without regard to case).
        match self.claim(&c.claim.value) {
            Some(ct) => ct
                .default_partner_claim_types
                .iter()
                .find(|(proto, _)| proto.eq_ignore_ascii_case(protocol))
                .map_or_else(|| ct.id.value.to_string(), |(_, p)| p.clone()),
            None => c.claim.value.to_string(),
        }
    }

    /// The relying party's DefaultUserJourney.
    pub fn default_journey(&self) -> Option<&str> {
        self.relying_party.as_ref()?.default_journey.as_ref().map(Text::as_str)
    }

    pub fn journey(&self, id: &str) -> Option<&Journey> {
        self.user_journeys.iter().find(|j| j.id.value == id)
    }

    pub fn sub_journey(&self, id: &str) -> Option<&Journey> {
        self.sub_journeys.iter().find(|j| j.id.value == id)
    }

    /// Applies a configured tenant object id (a `tenant_id` setting); the policy's own
    /// TenantObjectId still wins when it is a GUID.
    pub fn configure_tenant(&mut self, configured: Option<&str>) -> Result<(), String> {
        self.tenant = TenantObjectId::choose(self.tenant_object_id.as_deref(), configured, &self.tenant_id)?;
        Ok(())
    }

    /// Why the tenant's object id was made up, when it was.
    pub fn tenant_warning(&self) -> Option<String> {
        self.tenant.warning(&self.tenant_id, self.tenant_object_id.as_deref())
    }

    /// Lowers a merged tree whose technical profiles have their includes resolved.
    pub fn lower(root: &Element) -> Policy {
        Policy::lower_with(root, &HashMap::new())
    }

    /// [`Policy::lower`], reading each technical profile from `profiles` (by Id) where it has
    /// one: IncludeTechnicalProfile chains resolved without copying the whole tree.
    pub(crate) fn lower_with(root: &Element, profiles_by_id: &HashMap<String, Element>) -> Policy {
        let bb = root.child("BuildingBlocks");
        let items = |list: &'static str, item: &'static str| -> Vec<&Element> {
            bb.into_iter().flat_map(|b| b.items(list, item)).collect()
        };
        let claim_types: Vec<ClaimType> =
            items("ClaimsSchema", "ClaimType").into_iter().map(lower_claim_type).collect();
        let mut claim_index = HashMap::new();
        for (i, c) in claim_types.iter().enumerate() {
            claim_index.entry(c.id.value.to_string()).or_insert(ClaimId(i as u32));
            claim_index.entry(c.id.value.to_lowercase()).or_insert(ClaimId(i as u32));
        }
        let mut policy = Policy {
            policy_id: root.attr("PolicyId").unwrap_or_default().to_owned(),
            tenant_id: root.attr("TenantId").unwrap_or_default().to_owned(),
            tenant_object_id: root.attr("TenantObjectId").map(str::to_owned),
            tenant: TenantObjectId::choose(
                root.attr("TenantObjectId"),
                None,
                root.attr("TenantId").unwrap_or_default(),
            )
            .unwrap_or_else(|_| TenantObjectId { guid: String::new(), source: TenantSource::Derived }),
            deployment_mode: root.attr("DeploymentMode").map(str::to_owned),
            claim_types,
            claim_index,
            predicates: items("Predicates", "Predicate").into_iter().map(lower_predicate).collect(),
            predicate_validations: items("PredicateValidations", "PredicateValidation")
                .into_iter()
                .map(lower_predicate_validation)
                .collect(),
            transformations: items("ClaimsTransformations", "ClaimsTransformation")
                .into_iter()
                .map(lower_transformation)
                .collect(),
            content_definitions: items("ContentDefinitions", "ContentDefinition")
                .into_iter()
                .map(lower_content_definition)
                .collect(),
            localization: bb.and_then(|b| b.child("Localization")).map(lower_localization),
            display_controls: items("DisplayControls", "DisplayControl")
                .into_iter()
                .map(lower_display_control)
                .collect(),
            technical_profiles: profiles(root)
                .map(|tp| lower_profile(tp.attr("Id").and_then(|id| profiles_by_id.get(id)).unwrap_or(tp)))
                .collect(),
            user_journeys: root.items("UserJourneys", "UserJourney").map(|j| lower_journey(j, false)).collect(),
            sub_journeys: root.items("SubJourneys", "SubJourney").map(|j| lower_journey(j, true)).collect(),
            relying_party: root.child("RelyingParty").map(|rp| RelyingParty {
                default_journey: rp.child("DefaultUserJourney").and_then(|d| Text::attr(d, "ReferenceId")),
                endpoints: rp
                    .items("Endpoints", "Endpoint")
                    .map(|e| {
                        (e.attr("Id").unwrap_or_default().to_owned(), Text::attr_or_empty(e, "UserJourneyReferenceId"))
                    })
                    .collect(),
                sso_scope: rp
                    .child("UserJourneyBehaviors")
                    .and_then(|b| b.child("SingleSignOn"))
                    .and_then(|s| Text::attr(s, "Scope")),
                enforce_id_token_hint_on_logout: rp
                    .child("UserJourneyBehaviors")
                    .and_then(|b| b.child("SingleSignOn"))
                    .and_then(|s| Text::attr(s, "EnforceIdTokenHintOnLogout")),
                keep_alive_days: rp
                    .child("UserJourneyBehaviors")
                    .and_then(|b| b.child("SingleSignOn"))
                    .and_then(|s| Text::attr(s, "KeepAliveInDays")),
                session_expiry_type: rp.child("UserJourneyBehaviors").and_then(|b| Text::child(b, "SessionExpiryType")),
                session_expiry_seconds: rp
                    .child("UserJourneyBehaviors")
                    .and_then(|b| Text::child(b, "SessionExpiryInSeconds")),
                technical_profile: rp.child("TechnicalProfile").map(lower_profile),
                span: rp.name_span,
            }),
        };
        policy.mark_credentials();
        policy
    }

    fn mark_credentials(&mut self) {
        let tokens = self
            .technical_profiles
            .iter()
            .flat_map(|tp| &tp.output_claims)
            .filter(|c| c.partner_claim_type.as_ref().is_some_and(|p| is_credential_partner(&p.value)));
        // One-time codes: what the OTP profiles generate and verify, and a VerificationControl's code.
        let otp =
            self.technical_profiles.iter().flat_map(|tp| tp.output_claims.iter().chain(&tp.input_claims)).filter(|c| {
                c.partner_claim_type.as_ref().is_some_and(|p| OTP_PARTNER_TYPES.contains(&p.value.as_str()))
            });
        let control_codes = self
            .display_controls
            .iter()
            .flat_map(|dc| &dc.display_claims)
            .filter(|d| d.control_claim_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("VerificationCode")))
            .filter_map(|d| d.claim.as_ref());
        // Authenticator apps: the secret CreateOtpSecret makes, and what Azure MFA's TOTP
        // operations take (the secret, the app's code).
        let app_inputs = self
            .technical_profiles
            .iter()
            .filter(|tp| tp.protocol.as_ref().and_then(Protocol::handler_type) == Some("AzureMfaProtocolProvider"))
            .flat_map(|tp| &tp.input_claims)
            .filter(|c| {
                let name = c.partner_claim_type.as_ref().unwrap_or(&c.claim).value.as_str();
                TOTP_INPUTS.iter().any(|t| t.eq_ignore_ascii_case(name))
            });
        let app_secrets = self
            .transformations
            .iter()
            .filter(|t| t.method.value.eq_ignore_ascii_case("CreateOtpSecret"))
            .flat_map(|t| t.outputs.iter().map(|o| &o.claim));
        let credentials: Vec<ClaimId> = tokens
            .chain(otp)
            .chain(app_inputs)
            .map(|c| &c.claim)
            .chain(control_codes)
            .chain(app_secrets)
            .filter_map(|c| self.claim_id(&c.value))
            .collect();
        for id in credentials {
            self.claim_types[id.index()].holds_credential = true;
        }
        for claim in &mut self.claim_types {
            if claim.default_partner_claim_types.iter().any(|(_, p)| is_credential_partner(p)) {
                claim.holds_credential = true;
            }
        }
    }
}

/// Every `TechnicalProfile` element under `ClaimsProviders`.
pub fn profiles(root: &Element) -> impl Iterator<Item = &Element> {
    root.items("ClaimsProviders", "ClaimsProvider").flat_map(|p| p.items("TechnicalProfiles", "TechnicalProfile"))
}

fn flag(el: &Element, name: &str, default: bool) -> bool {
    el.attr(name).and_then(ief_transforms::value::parse_bool).unwrap_or(default)
}

fn lower_claim_type(el: &Element) -> ClaimType {
    let data_type_text = Text::child(el, "DataType");
    ClaimType {
        id: Text::attr_or_empty(el, "Id"),
        display_name: el.child_text("DisplayName").map(str::to_owned),
        data_type: data_type_text.as_ref().and_then(|t| DataType::parse(&t.value)),
        data_type_text,
        default_partner_claim_types: el
            .items("DefaultPartnerClaimTypes", "Protocol")
            .map(|p| {
                (
                    p.attr("Name").unwrap_or_default().to_owned(),
                    p.attr("PartnerClaimType").unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        user_input_type: Text::child(el, "UserInputType"),
        restriction: el.child("Restriction").map(|r| Restriction {
            enumerations: r
                .children_named("Enumeration")
                .map(|e| {
                    (
                        e.attr("Text").unwrap_or_default().to_owned(),
                        e.attr("Value").unwrap_or_default().to_owned(),
                        flag(e, "SelectByDefault", false),
                    )
                })
                .collect(),
            pattern: r
                .child("Pattern")
                .map(|p| (Text::attr_or_empty(p, "RegularExpression"), p.attr("HelpText").map(str::to_owned))),
        }),
        predicate_validation: el.child("PredicateValidationReference").and_then(|p| Text::attr(p, "Id")),
        holds_credential: false,
        span: el.name_span,
    }
}

fn lower_predicate(el: &Element) -> Predicate {
    Predicate {
        id: Text::attr_or_empty(el, "Id"),
        method: Text::attr_or_empty(el, "Method"),
        help_text: el.attr("HelpText").map(str::to_owned),
        user_help_text: el.child_text("UserHelpText").map(str::to_owned),
        parameters: el
            .items("Parameters", "Parameter")
            .map(|p| (p.attr("Id").unwrap_or_default().to_owned(), p.text().to_owned()))
            .collect(),
    }
}

fn lower_predicate_validation(el: &Element) -> PredicateValidation {
    PredicateValidation {
        id: Text::attr_or_empty(el, "Id"),
        groups: el
            .items("PredicateGroups", "PredicateGroup")
            .map(|g| {
                let refs = g.child("PredicateReferences");
                PredicateGroup {
                    id: Text::attr_or_empty(g, "Id"),
                    user_help_text: g.child_text("UserHelpText").map(str::to_owned),
                    match_at_least: refs.and_then(|r| r.attr("MatchAtLeast")).and_then(|m| m.trim().parse().ok()),
                    predicates: refs
                        .into_iter()
                        .flat_map(|r| r.children_named("PredicateReference"))
                        .map(|p| Text::attr_or_empty(p, "Id"))
                        .collect(),
                }
            })
            .collect(),
    }
}

fn lower_transform_claims(el: &Element, list: &'static str, item: &'static str) -> Vec<TransformClaim> {
    el.items(list, item)
        .map(|c| TransformClaim {
            claim: Text::attr_or_empty(c, "ClaimTypeReferenceId"),
            slot: Text::attr(c, "TransformationClaimType"),
        })
        .collect()
}

fn lower_transformation(el: &Element) -> ClaimsTransformation {
    ClaimsTransformation {
        id: Text::attr_or_empty(el, "Id"),
        method: Text::attr_or_empty(el, "TransformationMethod"),
        inputs: lower_transform_claims(el, "InputClaims", "InputClaim"),
        params: el
            .items("InputParameters", "InputParameter")
            .map(|p| InputParameter {
                id: Text::attr_or_empty(p, "Id"),
                data_type: Text::attr_or_empty(p, "DataType"),
                value: Text::attr_or_empty(p, "Value"),
            })
            .collect(),
        outputs: lower_transform_claims(el, "OutputClaims", "OutputClaim"),
        span: el.name_span,
    }
}

fn lower_content_definition(el: &Element) -> ContentDefinition {
    ContentDefinition {
        id: Text::attr_or_empty(el, "Id"),
        load_uri: el.child_text("LoadUri").map(str::to_owned),
        data_uri: el.child_text("DataUri").map(str::to_owned),
        localized_resources: el
            .items("LocalizedResourcesReferences", "LocalizedResourcesReference")
            .map(|r| {
                (
                    r.attr("Language").unwrap_or_default().to_owned(),
                    Text::attr_or_empty(r, "LocalizedResourcesReferenceId"),
                )
            })
            .collect(),
    }
}

fn lower_localization(el: &Element) -> Localization {
    let langs = el.child("SupportedLanguages");
    Localization {
        enabled: flag(el, "Enabled", true),
        default_language: langs.and_then(|l| l.attr("DefaultLanguage")).map(str::to_owned),
        supported_languages: langs
            .into_iter()
            .flat_map(|l| l.children_named("SupportedLanguage"))
            .map(|l| l.text().to_owned())
            .collect(),
        resources: el
            .children_named("LocalizedResources")
            .map(|r| LocalizedResources {
                id: Text::attr_or_empty(r, "Id"),
                strings: r
                    .items("LocalizedStrings", "LocalizedString")
                    .map(|s| {
                        (
                            s.attr("ElementType").unwrap_or_default().to_owned(),
                            s.attr("ElementId").unwrap_or_default().to_owned(),
                            s.attr("StringId").unwrap_or_default().to_owned(),
                            s.text().to_owned(),
                        )
                    })
                    .collect(),
                collections: r
                    .items("LocalizedCollections", "LocalizedCollection")
                    .map(|c| {
                        (
                            c.attr("ElementType").unwrap_or_default().to_owned(),
                            c.attr("ElementId").unwrap_or_default().to_owned(),
                            c.attr("TargetCollection").unwrap_or_default().to_owned(),
                            c.children_named("Item")
                                .map(|i| {
                                    (
                                        i.attr("Text").unwrap_or_default().to_owned(),
                                        i.attr("Value").unwrap_or_default().to_owned(),
                                    )
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn lower_claim_refs(el: &Element, list: &'static str, item: &'static str) -> Vec<ClaimRef> {
    el.items(list, item)
        .map(|c| ClaimRef {
            claim: Text::attr_or_empty(c, "ClaimTypeReferenceId"),
            partner_claim_type: Text::attr(c, "PartnerClaimType"),
            default_value: Text::attr(c, "DefaultValue"),
            always_use_default_value: flag(c, "AlwaysUseDefaultValue", false),
            required: flag(c, "Required", false),
        })
        .collect()
}

fn lower_display_claims(el: &Element) -> Vec<DisplayClaim> {
    el.items("DisplayClaims", "DisplayClaim")
        .map(|c| DisplayClaim {
            claim: Text::attr(c, "ClaimTypeReferenceId"),
            display_control: Text::attr(c, "DisplayControlReferenceId"),
            required: flag(c, "Required", false),
            control_claim_type: c.attr("ControlClaimType").map(str::to_owned),
        })
        .collect()
}

fn lower_validation_profiles<'a>(items: impl Iterator<Item = &'a Element>) -> Vec<ValidationProfile> {
    items
        .map(|v| ValidationProfile {
            reference: Text::attr(v, "ReferenceId")
                .or_else(|| Text::attr(v, "TechnicalProfileReferenceId"))
                .unwrap_or(Text { value: SmolStr::default(), span: v.name_span }),
            continue_on_error: flag(v, "ContinueOnError", false),
            continue_on_success: flag(v, "ContinueOnSuccess", true),
            preconditions: lower_preconditions(v),
        })
        .collect()
}

fn lower_display_control(el: &Element) -> DisplayControl {
    DisplayControl {
        id: Text::attr_or_empty(el, "Id"),
        control_type: el.attr("UserInterfaceControlType").map(str::to_owned),
        input_claims: lower_claim_refs(el, "InputClaims", "InputClaim"),
        display_claims: lower_display_claims(el),
        output_claims: lower_claim_refs(el, "OutputClaims", "OutputClaim"),
        actions: el
            .items("Actions", "Action")
            .map(|a| {
                let exchanges = a
                    .items("ValidationClaimsExchange", "ValidationClaimsExchangeTechnicalProfile")
                    .chain(a.items("ValidationClaimsExchange", "ValidationTechnicalProfile"));
                (Text::attr_or_empty(a, "Id"), lower_validation_profiles(exchanges))
            })
            .collect(),
    }
}

pub(crate) fn lower_profile(el: &Element) -> TechnicalProfile {
    TechnicalProfile {
        id: Text::attr_or_empty(el, "Id"),
        display_name: el.child_text("DisplayName").map(str::to_owned),
        protocol: el
            .child("Protocol")
            .map(|p| Protocol { name: Text::attr_or_empty(p, "Name"), handler: Text::attr(p, "Handler") }),
        output_token_format: el.child_text("OutputTokenFormat").map(str::to_owned),
        metadata: el
            .items("Metadata", "Item")
            .map(|i| MetadataItem { key: Text::attr_or_empty(i, "Key"), value: Text::of(i) })
            .collect(),
        keys: el
            .items("CryptographicKeys", "Key")
            .map(|k| CryptographicKey {
                id: Text::attr_or_empty(k, "Id"),
                storage_reference_id: Text::attr_or_empty(k, "StorageReferenceId"),
            })
            .collect(),
        include_in_sso: el.child_text("IncludeInSso").and_then(ief_transforms::value::parse_bool),
        input_transformations: el
            .items("InputClaimsTransformations", "InputClaimsTransformation")
            .map(|t| Text::attr_or_empty(t, "ReferenceId"))
            .collect(),
        input_claims: lower_claim_refs(el, "InputClaims", "InputClaim"),
        display_claims: lower_display_claims(el),
        persisted_claims: lower_claim_refs(el, "PersistedClaims", "PersistedClaim"),
        output_claims: lower_claim_refs(el, "OutputClaims", "OutputClaim"),
        output_transformations: el
            .items("OutputClaimsTransformations", "OutputClaimsTransformation")
            .map(|t| Text::attr_or_empty(t, "ReferenceId"))
            .collect(),
        validation_profiles: lower_validation_profiles(
            el.items("ValidationTechnicalProfiles", "ValidationTechnicalProfile"),
        ),
        subject_naming_info: el.child("SubjectNamingInfo").and_then(|s| Text::attr(s, "ClaimType")),
        include: el.child("IncludeTechnicalProfile").and_then(|i| Text::attr(i, "ReferenceId")),
        session_management: el
            .child("UseTechnicalProfileForSessionManagement")
            .and_then(|i| Text::attr(i, "ReferenceId")),
        enabled_for_user_journeys: Text::child(el, "EnabledForUserJourneys"),
        span: el.name_span,
    }
}

fn lower_preconditions<C: FromIterator<Precondition>>(el: &Element) -> C {
    el.items("Preconditions", "Precondition")
        .map(|p| Precondition {
            kind: match p.attr("Type").unwrap_or_default() {
                "ClaimsExist" => PreconditionType::ClaimsExist,
                "ClaimEquals" => PreconditionType::ClaimEquals,
                other => PreconditionType::Other(other.to_owned()),
            },
            execute_actions_if: flag(p, "ExecuteActionsIf", true),
            values: p.children_named("Value").map(Text::of).collect(),
            action: p.child_text("Action").map(str::to_owned),
            span: p.name_span,
        })
        .collect()
}

fn lower_journey(el: &Element, sub: bool) -> Journey {
    let kind = match (sub, el.attr("Type")) {
        (false, _) => JourneyKind::UserJourney,
        (true, Some("Transfer")) => JourneyKind::SubJourneyTransfer,
        (true, _) => JourneyKind::SubJourneyCall,
    };
    // Sized up front: a journey of thousands of steps would otherwise be copied into ever larger
    // fresh allocations as it grows.
    let mut steps: Vec<Step> = Vec::with_capacity(el.child("OrchestrationSteps").map_or(0, |l| l.children.len()));
    steps.extend(el.items("OrchestrationSteps", "OrchestrationStep").map(|s| {
        let order_text = Text::attr_or_empty(s, "Order");
        let selections = s.child("ClaimsProviderSelections");
        Step {
            order: order_text.value.trim().parse().unwrap_or(0),
            order_text,
            step_type: StepType::parse(s.attr("Type").unwrap_or_default()),
            type_span: s.attr_span("Type"),
            content_definition: Text::attr(s, "ContentDefinitionReferenceId"),
            issuer: Text::attr(s, "CpimIssuerTechnicalProfileReferenceId"),
            preconditions: lower_preconditions(s),
            display_option: selections.and_then(|c| c.attribute("DisplayOption")).map(|a| a.value.clone()),
            selections: selections
                .into_iter()
                .flat_map(|c| c.children_named("ClaimsProviderSelection"))
                .map(|c| Selection {
                    target: Text::attr(c, "TargetClaimsExchangeId"),
                    validation: Text::attr(c, "ValidationClaimsExchangeId"),
                })
                .collect(),
            exchanges: s
                .items("ClaimsExchanges", "ClaimsExchange")
                .map(|c| Exchange {
                    id: Text::attr_or_empty(c, "Id"),
                    profile: Text::attr_or_empty(c, "TechnicalProfileReferenceId"),
                })
                .collect(),
            sub_journeys: s
                .items("JourneyList", "Candidate")
                .map(|c| Text::attr_or_empty(c, "SubJourneyReferenceId"))
                .collect(),
            span: s.name_span,
        }
    }));
    // Execution follows Order, not document order. Most journeys are written in order, and the
    // stable sort would take a scratch buffer half the journey's size.
    if !steps.is_sorted_by_key(|s| s.order) {
        steps.sort_by_key(|s| s.order);
    }
    Journey {
        id: Text::attr_or_empty(el, "Id"),
        kind,
        default_issuer: Text::attr(el, "DefaultCpimIssuerTechnicalProfileReferenceId"),
        authorization_profiles: el
            .child("Authorization")
            .into_iter()
            .flat_map(|a| a.items("AuthorizationTechnicalProfiles", "AuthorizationTechnicalProfile"))
            .map(|a| Text::attr_or_empty(a, "ReferenceId"))
            .collect(),
        steps,
        span: el.name_span,
    }
}
