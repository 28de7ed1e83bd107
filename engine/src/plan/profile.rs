//! What running one technical profile needs, resolved once: claim slots, partner names,
//! defaults typed ahead, transformation and validation-profile indices, the session manager's
//! claims and the `EnabledForUserJourneys` rule.

use std::collections::HashMap;

use ief_transforms::{ClaimId, ClaimValue, ClaimsBag, DataType};

use super::Condition;
use crate::model::{ClaimRef, Policy, TechnicalProfile};
use crate::page_settings::PageSettings;
use crate::syntax::SmolStr;

/// A reference by Id and its index in the policy's list (`None` when validation reported it
/// unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Shared with the model's Id: a plan copies it into every node of a pipeline.
    pub id: SmolStr,
    pub index: Option<usize>,
}

/// A ValidationTechnicalProfile of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationRef {
    pub profile: Ref,
    pub conditions: Vec<Condition>,
    pub continue_on_error: bool,
    pub continue_on_success: bool,
}

/// A claim a profile sends or receives.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimPlan {
    /// The ClaimType Id as written.
    pub name: String,
    pub id: Option<ClaimId>,
    /// The name the partner uses.
    pub partner: String,
    pub data_type: Option<DataType>,
    /// Only for a claim in the ClaimsSchema.
    pub default: Option<DefaultValue>,
    pub always_use_default: bool,
    pub required: bool,
    /// Typed into a password box or a provider's token: traces show `[redacted]`.
    pub secret: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DefaultValue {
    /// Typed at compile time.
    Value(ClaimValue),
    /// Holds claim resolvers, filled per sign-in.
    Resolved(Template),
}

/// A text with claim resolvers (`Hello {Claim:givenName}, {Culture:LanguageName}`), split once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// `{Claim:Id}`: the claim's value, empty when it has none.
    Claim(Option<ClaimId>),
    /// Any other `{Group:Name}`; the group lower-cased, as resolvers match it.
    Resolver {
        group: String,
        name: String,
    },
}

impl Template {
    /// Splits `text` as B2C reads it: `{Group:Name}` is a resolver, a brace without a colon
    /// (`{0}` in a format string) is text, and so is everything after an unclosed brace.
    pub fn parse(policy: &Policy, text: &str) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            literal.push_str(&rest[..open]);
            match rest[open + 1..open + close].split_once(':') {
                Some((group, name)) => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    let group = group.to_ascii_lowercase();
                    parts.push(if group == "claim" {
                        Part::Claim(policy.claim_id(name))
                    } else {
                        Part::Resolver { group, name: name.to_owned() }
                    });
                }
                None => literal.push_str(&rest[open..=open + close]),
            }
            rest = &rest[open + close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template { parts }
    }
}

impl ClaimPlan {
    fn new(policy: &Policy, c: &ClaimRef, partner: String, resolvers: bool) -> ClaimPlan {
        let id = policy.claim_id(&c.claim.value);
        let ct = id.map(|i| &policy.claim_types[i.index()]);
        let mut plan = ClaimPlan {
            name: c.claim.value.to_string(),
            id,
            partner,
            data_type: ct.and_then(|t| t.data_type),
            default: None,
            always_use_default: c.always_use_default_value,
            required: c.required,
            secret: ct.is_some_and(crate::model::ClaimType::is_secret),
        };
        plan.default = c.default_value.as_ref().and_then(|d| {
            if c.always_use_default_value && resolvers && has_resolver(&d.value) {
                id.map(|_| DefaultValue::Resolved(Template::parse(policy, &d.value)))
            } else {
                plan.typed(&d.value).map(DefaultValue::Value)
            }
        });
        plan
    }

    /// Text as this claim's DataType; text that does not parse stays a string, as B2C keeps it.
    pub fn typed(&self, text: &str) -> Option<ClaimValue> {
        self.id?;
        let data_type = self.data_type.unwrap_or(DataType::String);
        Some(ClaimValue::parse(data_type, text).unwrap_or_else(|_| ClaimValue::String(text.to_owned())))
    }

    pub fn current<'b>(&self, bag: &'b ClaimsBag) -> Option<&'b ClaimValue> {
        bag.get(self.id?)
    }
}

/// Whether a DefaultValue holds a resolver at all.
pub(crate) fn has_resolver(text: &str) -> bool {
    text.find('{').is_some_and(|i| text[i..].contains(':') && text[i..].contains('}'))
}

/// `EnabledForUserJourneys` with its claim conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enabled {
    Always,
    Never,
    OnClaimsExistence { claim: Option<ClaimId>, expected: Option<String> },
    OnItemExistence { claim: Option<ClaimId>, expected: Option<String> },
    OnItemAbsence { claim: Option<ClaimId>, expected: Option<String> },
}

impl Enabled {
    pub fn holds(&self, bag: &ClaimsBag) -> bool {
        let value = |claim: &Option<ClaimId>| claim.and_then(|id| bag.get(id));
        let has_item = |claim: &Option<ClaimId>, expected: &Option<String>| {
            value(claim)
                .and_then(ClaimValue::as_collection)
                .is_some_and(|c| expected.as_ref().is_some_and(|e| c.iter().any(|i| i == e)))
        };
        match self {
            Enabled::Always => true,
            Enabled::Never => false,
            Enabled::OnClaimsExistence { claim, expected } => match (value(claim), expected) {
                (Some(v), Some(e)) => v.to_string() == *e,
                (Some(_), None) => true,
                _ => false,
            },
            Enabled::OnItemExistence { claim, expected } => has_item(claim, expected),
            Enabled::OnItemAbsence { claim, expected } => !has_item(claim, expected),
        }
    }
}

/// What single sign-on does for a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Sso {
    /// NoopSSOSessionProvider: never restored, never remembered.
    pub noop: bool,
    /// The session manager's PersistedClaims, with their ClaimType Ids (a session outlives
    /// the policy that wrote it: other policies of the tenant read it by name).
    pub persisted: Vec<(ClaimId, Box<str>)>,
    /// Constants the session manager adds on restore (objectIdFromSession).
    pub on_restore: Vec<(ClaimId, ClaimValue)>,
}

/// A display control on a self-asserted page, its actions resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlPlan {
    pub id: String,
    /// `UserInterfaceControlType="VerificationControl"`: the page's Continue waits for its
    /// `VerifyCode`.
    pub verification: bool,
    /// Its display claims (the buttons take their values), each marked when it is the control's
    /// own claim (`ControlClaimType`, such as the verification code) rather than a page field.
    pub claims: Vec<(ClaimId, bool)>,
    /// Action Id with the validation profiles it runs, as a page runs its own.
    pub actions: Vec<(String, Vec<ValidationRef>)>,
}

impl ControlPlan {
    fn compile(policy: &Policy, ix: &Indices<'_>, dc: &crate::model::DisplayControl) -> ControlPlan {
        let claims = dc.display_claims.iter().filter_map(|d| {
            let id = policy.claim_id(&d.claim.as_ref()?.value)?;
            Some((id, d.control_claim_type.is_some()))
        });
        ControlPlan {
            id: dc.id.value.to_string(),
            verification: dc.control_type.as_deref() == Some("VerificationControl"),
            claims: claims.collect(),
            actions: dc
                .actions
                .iter()
                .map(|(id, profiles)| (id.value.to_string(), validation_refs(policy, ix, profiles)))
                .collect(),
        }
    }
}

fn validation_refs(
    policy: &Policy,
    ix: &Indices<'_>,
    profiles: &[crate::model::ValidationProfile],
) -> Vec<ValidationRef> {
    profiles
        .iter()
        .map(|vp| ValidationRef {
            profile: ix.profile(&vp.reference.value),
            conditions: conditions(policy, &vp.preconditions),
            continue_on_error: vp.continue_on_error,
            continue_on_success: vp.continue_on_success,
        })
        .collect()
}

/// One technical profile, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfilePlan {
    pub input_transforms: Vec<Ref>,
    pub input_claims: Vec<ClaimPlan>,
    pub output_claims: Vec<ClaimPlan>,
    pub validations: Vec<ValidationRef>,
    pub output_transforms: Vec<Ref>,
    /// The display controls its page shows (`DisplayControlReferenceId`), in page order.
    pub controls: Vec<ControlPlan>,
    /// `IncludeClaimResolvingInClaimsHandling`.
    pub resolvers: bool,
    pub sso: Sso,
    pub enabled: Enabled,
    /// Links of its page that pick the next step's exchange (`SignUpTarget`,
    /// `setting.forgotPasswordLinkOverride`).
    pub links: Vec<String>,
    /// Password claims, which stay on their page.
    pub page_only: Vec<ClaimId>,
    /// Its page's `setting.*` metadata, read once here rather than per page shown.
    pub page: PageSettings,
    /// The input claims (with their DefaultValues and resolvers) go into the claims bag, so the
    /// output transformations see them: a claims-transformation profile.
    pub inputs_to_bag: bool,
}

/// Ids to indices, the first of equal Ids winning as the model's lookups do.
pub(crate) struct Indices<'p> {
    pub(crate) profiles: HashMap<&'p str, usize>,
    pub(crate) transforms: HashMap<&'p str, usize>,
}

impl<'p> Indices<'p> {
    pub(crate) fn new(policy: &'p Policy) -> Indices<'p> {
        fn first<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
            let mut map = HashMap::new();
            for (i, id) in ids.enumerate() {
                map.entry(id).or_insert(i);
            }
            map
        }
        Indices {
            profiles: first(policy.technical_profiles.iter().map(|t| t.id.as_str())),
            transforms: first(policy.transformations.iter().map(|t| t.id.as_str())),
        }
    }

    pub(crate) fn profile(&self, id: &SmolStr) -> Ref {
        Ref { id: id.clone(), index: self.profiles.get(id.as_str()).copied() }
    }

    pub(crate) fn transform(&self, id: &SmolStr) -> Ref {
        Ref { id: id.clone(), index: self.transforms.get(id.as_str()).copied() }
    }
}

pub(crate) fn conditions(policy: &Policy, preconditions: &[crate::model::Precondition]) -> Vec<Condition> {
    preconditions
        .iter()
        .filter_map(|p| {
            let claim = p.values.first()?;
            Some(Condition {
                kind: p.kind.clone(),
                claim: policy.claim_id(&claim.value),
                claim_name: claim.value.clone(),
                value: p.values.get(1).map(|v| v.value.clone()),
                execute_actions_if: p.execute_actions_if,
            })
        })
        .collect()
}

impl ProfilePlan {
    pub(crate) fn compile(policy: &Policy, ix: &Indices<'_>, tp: &TechnicalProfile) -> ProfilePlan {
        let resolvers =
            tp.metadata("IncludeClaimResolvingInClaimsHandling").and_then(ief_transforms::value::parse_bool)
                == Some(true);
        let claims = |list: &[ClaimRef]| -> Vec<ClaimPlan> {
            list.iter().map(|c| ClaimPlan::new(policy, c, policy.partner_name(tp, c), resolvers)).collect()
        };
        let page = PageSettings::of(tp);
        let manager = tp.session_management.as_ref().and_then(|m| ix.profiles.get(m.as_str()));
        let manager = manager.map(|&i| &policy.technical_profiles[i]);
        let noop =
            manager.and_then(|m| m.protocol.as_ref()).and_then(|p| p.handler_type()) == Some("NoopSSOSessionProvider");
        let sso = Sso {
            noop,
            persisted: manager
                .map(|m| m.persisted_claims.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|c| {
                    let id = policy.claim_id(&c.claim.value)?;
                    Some((id, policy.claim_types[id.index()].id.value.as_str().into()))
                })
                .collect(),
            on_restore: manager
                .map(|m| m.output_claims.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|c| {
                    let d = c.default_value.as_ref()?;
                    let plan = ClaimPlan::new(policy, c, String::new(), false);
                    Some((plan.id?, plan.typed(&d.value)?))
                })
                .collect(),
        };
        let claim = tp.metadata("ClaimTypeOnWhichToEnable").and_then(|c| policy.claim_id(c));
        let expected = tp.metadata("ClaimValueOnWhichToEnable").map(str::to_owned);
        let enabled = match tp.enabled_for_user_journeys.as_ref().map(|m| m.value.trim()) {
            None => Enabled::Always,
            Some("Never" | "false" | "False") => Enabled::Never,
            Some("OnClaimsExistence") => Enabled::OnClaimsExistence { claim, expected },
            Some("OnItemExistenceInStringCollectionClaim") => Enabled::OnItemExistence { claim, expected },
            Some("OnItemAbsenceInStringCollectionClaim") => Enabled::OnItemAbsence { claim, expected },
            Some(_) => Enabled::Always,
        };
        let output_claims = claims(&tp.output_claims);
        let page_only = tp
            .output_claims
            .iter()
            .filter(|c| {
                policy
                    .claim(&c.claim.value)
                    .and_then(|ct| ct.user_input_type.as_ref())
                    .is_some_and(|t| t.value == "Password")
            })
            .filter_map(|c| policy.claim_id(&c.claim.value))
            .collect();
        ProfilePlan {
            input_transforms: tp.input_transformations.iter().map(|r| ix.transform(&r.value)).collect(),
            input_claims: claims(&tp.input_claims),
            output_claims,
            validations: validation_refs(policy, ix, &tp.validation_profiles),
            output_transforms: tp.output_transformations.iter().map(|r| ix.transform(&r.value)).collect(),
            controls: tp
                .display_claims
                .iter()
                .filter_map(|d| d.display_control.as_ref())
                .filter_map(|c| policy.display_controls.iter().find(|dc| dc.id.value == c.value))
                .map(|dc| ControlPlan::compile(policy, ix, dc))
                .collect(),
            resolvers,
            sso,
            enabled,
            links: ["SignUpTarget", "setting.forgotPasswordLinkOverride"]
                .iter()
                .filter_map(|k| tp.metadata(k))
                .map(str::to_owned)
                .collect(),
            page_only,
            page,
            inputs_to_bag: tp.is_claims_transformation(),
        }
    }
}

/// The relying party's technical profile: what GetClaims reads and what SendClaims issues.
#[derive(Clone, Debug, PartialEq)]
pub struct RelyingPartyPlan {
    /// Named by `PartnerClaimType` or the Id, as the application sends them.
    pub input_claims: Vec<ClaimPlan>,
    pub output_claims: Vec<ClaimPlan>,
}

impl RelyingPartyPlan {
    pub(crate) fn compile(policy: &Policy, tp: &TechnicalProfile) -> RelyingPartyPlan {
        RelyingPartyPlan {
            input_claims: tp
                .input_claims
                .iter()
                .map(|c| {
                    let partner = c.partner_claim_type.as_ref().map_or(c.claim.as_str(), |p| p.as_str());
                    ClaimPlan::new(policy, c, partner.to_owned(), true)
                })
                .collect(),
            output_claims: tp
                .output_claims
                .iter()
                .map(|c| ClaimPlan::new(policy, c, policy.partner_name(tp, c), true))
                .collect(),
        }
    }
}
