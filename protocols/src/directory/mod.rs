//! Azure AD directory technical profiles (`Proprietary` + `AzureActiveDirectoryProvider`,
//! policy-spec §d.7) over the embedded [`Directory`], and the local-password login of
//! `login-NonInteractive` ([`LocalPasswordLogin`], §d.3).
//!
//! Errors a user may see carry, inside a validation (a self-asserted page), the code of their
//! localizable string (`UserMessageIfClaimsPrincipalDoesNotExist`, ...), so the executor can
//! substitute the calling page's metadata or localized text of that id; the message is the
//! profile's own metadata, else the environment's `ErrorMessage` string, else the starter
//! pack's English text. As an orchestration step they carry B2C's service code (`AADB2C99002`,
//! `AADB2C90001`) and message.

pub mod login;
mod sql;
pub mod store;

use ief_engine::exec::{BoxFuture, Invocation, ProfileError, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::{ClaimRef, Protocol, TechnicalProfile};
use ief_transforms::{AlternativeSecurityId, ClaimValue, DataType};

pub use login::LocalPasswordLogin;
pub use store::{Directory, DirectoryError, Password, SeedUser, SignInName, User, UserData};

const HANDLER: &str = "AzureActiveDirectoryProvider";

/// Runs Read, Write, DeleteClaims and DeleteClaimsPrincipal against the [`Directory`] found in
/// the request's extensions.
#[derive(Clone, Copy, Debug, Default)]
pub struct AzureActiveDirectory;

impl ProfileHandler for AzureActiveDirectory {
    fn name(&self) -> &'static str {
        HANDLER
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation != Invocation::Issuer && profile.protocol.as_ref().and_then(Protocol::handler_type) == Some(HANDLER)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            // Database round trips and Argon2id's tens of milliseconds of hashing.
            match ief_store::blocking(|| operate(&request)) {
                Ok(claims) => ProfileResult::Claims(claims),
                Err(e) => ProfileResult::Failed(e),
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Read,
    Write,
    DeleteClaims,
    DeleteClaimsPrincipal,
}

/// The account an AAD profile addresses, from its one input claim.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    ObjectId(String),
    /// `signInNames.<kind>`; bare `signInNames` matches any kind.
    SignInName {
        kind: Option<String>,
        value: String,
    },
    AlternativeSecurityId(AlternativeSecurityId),
    /// `userIdentities`: the account holding any of them.
    UserIdentities(Vec<AlternativeSecurityId>),
    UserPrincipalName(String),
}

type Claims = Vec<(String, ClaimValue)>;

fn operate(req: &ProfileRequest<'_>) -> Result<Claims, ProfileError> {
    let profile = req.profile;
    let dir = directory(req)?;
    let operation = match profile.metadata("Operation").map(str::trim) {
        Some("Read") => Operation::Read,
        Some("Write") => Operation::Write,
        Some("DeleteClaims") => Operation::DeleteClaims,
        Some("DeleteClaimsPrincipal") => Operation::DeleteClaimsPrincipal,
        Some(other) => {
            return Err(error(
                "UnsupportedOperation",
                format!(
                    "technical profile '{}' has Operation '{other}'; an Azure AD technical profile does Read, Write, \
                     DeleteClaims or DeleteClaimsPrincipal",
                    profile.id.value
                ),
            ));
        }
        None => {
            return Err(error(
                "AADB2C99011",
                format!(
                    "The metadata value 'Operation' has not been specified in TechnicalProfile '{}' in policy '{}'.",
                    profile.id.value, req.policy.policy_id
                ),
            ));
        }
    };
    let raise_missing = flag(profile, "RaiseErrorIfClaimsPrincipalDoesNotExist");
    let raise_exists = flag(profile, "RaiseErrorIfClaimsPrincipalAlreadyExists");
    let (key_partner, key) = key(req)?;
    let found = match &key {
        Some(key) => lookup(dir, key)?,
        None => None,
    };
    match (operation, found) {
        (_, None) if raise_missing => Err(principal_error(req, Principal::DoesNotExist)),
        (Operation::Write, Some(_)) if raise_exists => Err(principal_error(req, Principal::AlreadyExists)),
        (Operation::Read | Operation::DeleteClaims | Operation::DeleteClaimsPrincipal, None) => Ok(Vec::new()),
        (Operation::Read, Some(user)) => outputs(req, &user),
        (Operation::Write, Some(user)) => {
            let data = persisted(req)?;
            let user =
                dir.update(&user.object_id, &data, Some(req.services.env.now())).map_err(|e| store_error(req, e))?;
            let mut claims = outputs(req, &user)?;
            claims.push(("newClaimsPrincipalCreated".to_owned(), ClaimValue::Boolean(false)));
            Ok(claims)
        }
        (Operation::Write, None) => {
            let Some(key) = key.filter(|k| !matches!(k, Key::ObjectId(_))) else {
                // An account cannot be created from an objectId (or from no key at all).
                return Err(principal_error(req, Principal::DoesNotExist));
            };
            let user = create(req, dir, key)?;
            let mut claims = outputs(req, &user)?;
            claims.push(("newClaimsPrincipalCreated".to_owned(), ClaimValue::Boolean(true)));
            Ok(claims)
        }
        (Operation::DeleteClaims, Some(user)) => {
            let names: Vec<String> = profile
                .persisted_claims
                .iter()
                .map(|pc| req.policy.partner_name(profile, pc))
                .filter(|p| !p.eq_ignore_ascii_case(&key_partner))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let user = dir.delete_attributes(&user.object_id, &names).map_err(|e| store_error(req, e))?;
            outputs(req, &user)
        }
        (Operation::DeleteClaimsPrincipal, Some(user)) => {
            dir.delete_user(&user.object_id).map_err(|e| store_error(req, e))?;
            Ok(Vec::new())
        }
    }
}

fn directory<'r>(req: &'r ProfileRequest<'_>) -> Result<&'r Directory, ProfileError> {
    req.services.extensions.get::<Directory>().ok_or_else(|| {
        error(
            "DirectoryUnavailable",
            format!("technical profile '{}' needs the user directory, but this run has none", req.profile.id.value),
        )
    })
}

fn flag(profile: &TechnicalProfile, key: &str) -> bool {
    profile.metadata(key).and_then(ief_transforms::value::parse_bool).unwrap_or(false)
}

fn error(code: &str, message: impl Into<String>) -> ProfileError {
    ProfileError { code: code.to_owned(), user_message: message.into() }
}

/// A user-facing message: the profile's metadata `string_id`, else the environment's
/// localized `ErrorMessage`, else `default`.
pub(crate) fn user_message(req: &ProfileRequest<'_>, string_id: &str, default: &str) -> String {
    req.profile
        .metadata(string_id)
        .map(str::to_owned)
        .or_else(|| req.services.env.localized_string("ErrorMessage", "", string_id))
        .unwrap_or_else(|| default.to_owned())
}

#[derive(Clone, Copy, Debug)]
enum Principal {
    DoesNotExist,
    AlreadyExists,
}

fn principal_error(req: &ProfileRequest<'_>, which: Principal) -> ProfileError {
    let id = &req.profile.id.value;
    let (string_id, service_code, page_default, service_text) = match which {
        Principal::DoesNotExist => (
            "UserMessageIfClaimsPrincipalDoesNotExist",
            "AADB2C99002",
            "An account could not be found for the provided user ID.",
            format!("This user does not exist and profile '{id}' requires the user to have already been created."),
        ),
        Principal::AlreadyExists => (
            "UserMessageIfClaimsPrincipalAlreadyExists",
            "AADB2C90001",
            "A user with the specified ID already exists. Please choose a different one.",
            format!("This user already exists, and profile '{id}' does not allow the same user to be created again."),
        ),
    };
    match req.invocation {
        Invocation::Validation => error(string_id, user_message(req, string_id, page_default)),
        _ => error(service_code, req.profile.metadata(string_id).map_or(service_text, str::to_owned)),
    }
}

fn store_error(req: &ProfileRequest<'_>, e: DirectoryError) -> ProfileError {
    match e {
        DirectoryError::Conflict(_) => principal_error(req, Principal::AlreadyExists),
        DirectoryError::NotFound(_) => principal_error(req, Principal::DoesNotExist),
        other => error("DirectoryError", format!("technical profile '{}': {other}", req.profile.id.value)),
    }
}

fn text_of(value: &ClaimValue) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

fn parse_alternative_security_id(value: &ClaimValue) -> Option<AlternativeSecurityId> {
    match value {
        ClaimValue::AlternativeSecurityId(id) => Some(id.clone()),
        ClaimValue::AlternativeSecurityIdCollection(ids) if ids.len() == 1 => ids.first().cloned(),
        // CreateAlternativeSecurityId leaves the JSON text in a string claim.
        other => match ClaimValue::parse(DataType::AlternativeSecurityId, &text_of(other)) {
            Ok(ClaimValue::AlternativeSecurityId(id)) => Some(id),
            _ => None,
        },
    }
}

/// The identities of a `userIdentities` value: typed, or the JSON text of one or of a list.
fn user_identities(value: &ClaimValue) -> Option<Vec<AlternativeSecurityId>> {
    if let Some(ids) = value.as_user_identities() {
        return Some(ids);
    }
    match value {
        ClaimValue::AlternativeSecurityIdCollection(ids) => Some(ids.clone()),
        other => ClaimValue::parse(DataType::UserIdentityCollection, &text_of(other))
            .ok()
            .and_then(|v| v.as_user_identities())
            .or_else(|| parse_alternative_security_id(other).map(|id| vec![id])),
    }
}

fn key(req: &ProfileRequest<'_>) -> Result<(String, Option<Key>), ProfileError> {
    let profile = &req.profile.id.value;
    let [input] = req.inputs.as_slice() else {
        return Err(error(
            "InvalidDirectoryKey",
            format!(
                "technical profile '{profile}' has {} input claims; an Azure AD technical profile takes exactly one, \
                 the key of the account",
                req.inputs.len()
            ),
        ));
    };
    let partner = input.partner.as_str();
    let lower = partner.to_ascii_lowercase();
    let Some(value) = input.value.as_ref().filter(|v| !text_of(v).trim().is_empty()) else {
        return Ok((partner.to_owned(), None));
    };
    let text = || text_of(value).trim().to_owned();
    let key = match lower.as_str() {
        "objectid" => Key::ObjectId(text()),
        "userprincipalname" => Key::UserPrincipalName(text()),
        "signinnames" => Key::SignInName { kind: None, value: text() },
        "alternativesecurityid" => {
            Key::AlternativeSecurityId(parse_alternative_security_id(value).ok_or_else(|| {
                error(
                    "InvalidDirectoryKey",
                    format!(
                        "input claim '{}' of technical profile '{profile}' is not an alternativeSecurityId: expected \
                     {{\"issuer\": ..., \"issuerUserId\": ...}}",
                        input.claim
                    ),
                )
            })?)
        }
        "useridentities" => match user_identities(value) {
            Some(ids) if ids.is_empty() => return Ok((partner.to_owned(), None)),
            Some(ids) => Key::UserIdentities(ids),
            None => {
                return Err(error(
                    "InvalidDirectoryKey",
                    format!(
                        "input claim '{}' of technical profile '{profile}' is not a userIdentity or \
                         userIdentityCollection",
                        input.claim
                    ),
                ));
            }
        },
        _ => match partner.split_once('.') {
            Some((head, kind)) if head.eq_ignore_ascii_case("signInNames") && !kind.is_empty() => {
                Key::SignInName { kind: Some(kind.to_owned()), value: text() }
            }
            _ => {
                return Err(error(
                    "InvalidDirectoryKey",
                    format!(
                        "input claim '{}' (partner '{partner}') of technical profile '{profile}' is not a directory \
                         key; use objectId, userPrincipalName, signInNames.emailAddress, signInNames.userName, \
                         alternativeSecurityId or userIdentities",
                        input.claim
                    ),
                ));
            }
        },
    };
    Ok((partner.to_owned(), Some(key)))
}

fn lookup(dir: &Directory, key: &Key) -> Result<Option<User>, ProfileError> {
    let found = match key {
        Key::ObjectId(id) => dir.find_by_object_id(id),
        Key::SignInName { kind, value } => dir.find_by_sign_in_name(kind.as_deref(), value),
        Key::AlternativeSecurityId(id) => dir.find_by_alternative_security_id(id),
        Key::UserIdentities(ids) => {
            let mut found = Ok(None);
            for id in ids {
                found = dir.find_by_alternative_security_id(id);
                if !matches!(found, Ok(None)) {
                    break;
                }
            }
            found
        }
        Key::UserPrincipalName(upn) => dir.find_by_user_principal_name(upn),
    };
    found.map_err(|e| error("DirectoryError", e.to_string()))
}

/// The value a persisted claim writes: its DefaultValue when forced or when the bag has none.
fn persisted_value(req: &ProfileRequest<'_>, claim: &ClaimRef) -> Result<Option<ClaimValue>, ProfileError> {
    let policy = req.policy;
    let data_type = policy.claim(&claim.claim.value).and_then(|c| c.data_type).unwrap_or(DataType::String);
    let default = match &claim.default_value {
        Some(d) => Some(ClaimValue::parse(data_type, &d.value).map_err(|e| {
            error(
                "InvalidDefaultValue",
                format!("persisted claim '{}' of technical profile '{}': {e}", claim.claim.value, req.profile.id.value),
            )
        })?),
        None => None,
    };
    if claim.always_use_default_value && default.is_some() {
        return Ok(default);
    }
    let current = policy.claim_id(&claim.claim.value).and_then(|id| req.bag.get(id)).cloned();
    Ok(current.or(default))
}

/// What the profile's PersistedClaims write, routed to the directory's fields.
fn persisted(req: &ProfileRequest<'_>) -> Result<UserData, ProfileError> {
    let mut data = UserData::default();
    for claim in &req.profile.persisted_claims {
        let partner = req.policy.partner_name(req.profile, claim);
        let Some(value) = persisted_value(req, claim)? else {
            continue;
        };
        let text = text_of(&value);
        match partner.to_ascii_lowercase().as_str() {
            "objectid" | "newclaimsprincipalcreated" => {}
            "password" => {
                if !text.is_empty() {
                    data.password = Some(Password::new(text));
                }
            }
            "userprincipalname" => {
                if !text.trim().is_empty() {
                    data.user_principal_name = Some(text.trim().to_owned());
                }
            }
            "signinnames" => {
                if !text.trim().is_empty() {
                    let kind = if text.contains('@') { "emailAddress" } else { "userName" };
                    data.sign_in_names.push(SignInName::new(kind, text.trim()));
                }
            }
            "useridentities" => {
                data.user_identities = Some(user_identities(&value).ok_or_else(|| {
                    error(
                        "InvalidDirectoryValue",
                        format!(
                            "persisted claim '{}' of technical profile '{}' is not a userIdentityCollection",
                            claim.claim.value, req.profile.id.value
                        ),
                    )
                })?);
            }
            "alternativesecurityid" | "alternativesecurityids" => match &value {
                ClaimValue::AlternativeSecurityIdCollection(ids) => data.alternative_security_ids.extend(ids.clone()),
                other => data.alternative_security_ids.push(parse_alternative_security_id(other).ok_or_else(|| {
                    error(
                        "InvalidDirectoryValue",
                        format!(
                            "persisted claim '{}' of technical profile '{}' is not an alternativeSecurityId",
                            claim.claim.value, req.profile.id.value
                        ),
                    )
                })?),
            },
            _ => match partner.split_once('.') {
                Some((head, kind)) if head.eq_ignore_ascii_case("signInNames") && !kind.is_empty() => {
                    if !text.trim().is_empty() {
                        data.sign_in_names.push(SignInName::new(kind, text.trim()));
                    }
                }
                _ => data.attributes.push((partner.to_owned(), value)),
            },
        }
    }
    Ok(data)
}

fn create(req: &ProfileRequest<'_>, dir: &Directory, key: Key) -> Result<User, ProfileError> {
    let mut data = persisted(req)?;
    // The key always identifies the new account, persisted or not.
    match key {
        Key::SignInName { kind, value } => {
            if !data.sign_in_names.iter().any(|s| s.value.eq_ignore_ascii_case(&value)) {
                let kind = match kind {
                    Some(kind) => kind,
                    None if value.contains('@') => "emailAddress".to_owned(),
                    None => "userName".to_owned(),
                };
                data.sign_in_names.push(SignInName::new(kind, value));
            }
        }
        Key::AlternativeSecurityId(id) => {
            if !data.alternative_security_ids.contains(&id) {
                data.alternative_security_ids.push(id);
            }
        }
        Key::UserIdentities(ids) => data.alternative_security_ids.extend(ids),
        Key::UserPrincipalName(upn) => {
            if data.user_principal_name.is_none() {
                data.user_principal_name = Some(upn);
            }
        }
        Key::ObjectId(_) => {}
    }
    let named = data.attributes.iter().find(|(n, _)| n.eq_ignore_ascii_case("displayName"));
    if named.is_none_or(|(_, v)| text_of(v).trim().is_empty()) {
        return Err(error(
            "DisplayNameRequired",
            format!(
                "technical profile '{}' creates an account without a displayName; Azure AD requires a non-empty \
                 displayName (persist one, or give it a DefaultValue)",
                req.profile.id.value
            ),
        ));
    }
    let env = req.services.env;
    let object_id = dir.new_object_id(env).map_err(|e| store_error(req, e))?;
    if data.user_principal_name.is_none() && !req.policy.tenant_id.is_empty() {
        // B2C names local accounts `<objectId>@<tenant>`.
        data.user_principal_name = Some(format!("{object_id}@{}", req.policy.tenant_id));
    }
    dir.create(Some(&object_id), &data, env).map_err(|e| store_error(req, e))
}

/// A directory value as the profile reads it under `partner`.
fn directory_value(user: &User, partner: &str) -> Option<ClaimValue> {
    let lower = partner.to_ascii_lowercase();
    match lower.as_str() {
        "objectid" => Some(ClaimValue::String(user.object_id.clone())),
        "userprincipalname" => user.user_principal_name.clone().map(ClaimValue::String),
        "signinnames" => user.sign_in_name(None).map(|s| ClaimValue::String(s.to_owned())),
        "alternativesecurityid" => {
            user.alternative_security_ids.first().cloned().map(ClaimValue::AlternativeSecurityId)
        }
        "alternativesecurityids" => (!user.alternative_security_ids.is_empty())
            .then(|| ClaimValue::AlternativeSecurityIdCollection(user.alternative_security_ids.clone())),
        // Azure AD answers an account without identities with an empty list.
        "useridentities" => Some(ClaimValue::user_identities(&user.alternative_security_ids)),
        "password" | "newclaimsprincipalcreated" => None,
        _ => match lower.strip_prefix("signinnames.") {
            Some(kind) => user.sign_in_name(Some(kind)).map(|s| ClaimValue::String(s.to_owned())),
            None => user.attribute(partner).cloned(),
        },
    }
}

/// Converts a stored value to the output ClaimType's DataType.
fn convert(value: ClaimValue, target: DataType) -> Option<ClaimValue> {
    if value.data_type() == target {
        return Some(value);
    }
    match (target, value) {
        (DataType::String, v) => Some(ClaimValue::String(text_of(&v))),
        (DataType::StringCollection, ClaimValue::String(s)) => Some(ClaimValue::StringCollection(vec![s])),
        (DataType::AlternativeSecurityIdCollection, ClaimValue::AlternativeSecurityId(id)) => {
            Some(ClaimValue::AlternativeSecurityIdCollection(vec![id]))
        }
        (target, v) => ClaimValue::parse(target, &text_of(&v)).ok(),
    }
}

/// The profile's OutputClaims the account has values for, by partner name.
fn outputs(req: &ProfileRequest<'_>, user: &User) -> Result<Claims, ProfileError> {
    let mut claims: Claims = Vec::new();
    for claim in &req.profile.output_claims {
        let partner = req.policy.partner_name(req.profile, claim);
        if claims.iter().any(|(p, _)| *p == partner) {
            continue;
        }
        let Some(value) = directory_value(user, &partner) else {
            continue;
        };
        let target = req.policy.claim(&claim.claim.value).and_then(|c| c.data_type).unwrap_or(DataType::String);
        let stored = value.data_type();
        let value = convert(value, target).ok_or_else(|| {
            error(
                "InvalidDirectoryValue",
                format!(
                    "the directory holds a {stored} for '{partner}', which does not convert to claim '{}' ({target}) \
                     of technical profile '{}'",
                    claim.claim.value, req.profile.id.value
                ),
            )
        })?;
        claims.push((partner, value));
    }
    Ok(claims)
}

#[cfg(test)]
pub(crate) mod testing {
    //! The starter pack's profiles, run the way the executor runs them.

    use std::path::Path;
    use std::sync::OnceLock;

    use ief_engine::exec::{Extensions, InputClaim, RequestContext, Services};
    use ief_engine::model::Policy;
    use ief_engine::{Diagnostics, EffectivePolicy, PolicySet, SettingsRequest};
    use ief_transforms::{ClaimsBag, FixedEnv};

    use super::*;

    /// SocialAndLocalAccounts' sign-up-or-sign-in policy, lowered once.
    pub(crate) fn starter() -> &'static Policy {
        static POLICY: OnceLock<Policy> = OnceLock::new();
        POLICY.get_or_init(|| {
            let dir =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/starterpack/SocialAndLocalAccounts");
            assert!(dir.is_dir(), "these tests read the starter pack from {}", dir.display());
            let set = PolicySet::load(&[dir], &SettingsRequest::default());
            let leaf = set.find("B2C_1A_signup_signin").expect("the sign-up-or-sign-in policy");
            let mut diags = Diagnostics::default();
            EffectivePolicy::build(&set, leaf, &mut diags).expect("a chain").model
        })
    }

    pub(crate) fn profile(id: &str) -> TechnicalProfile {
        starter().profile(id).unwrap_or_else(|| panic!("starter pack profile {id}")).clone()
    }

    /// Sets metadata `key` to `value` on a copy of a profile.
    pub(crate) fn with_metadata(mut profile: TechnicalProfile, key: &str, value: &str) -> TechnicalProfile {
        let text = |v: &str| ief_engine::model::Text { value: v.into(), span: profile.span };
        profile.metadata.retain(|m| m.key.value != key);
        profile.metadata.push(ief_engine::model::MetadataItem { key: text(key), value: text(value) });
        profile
    }

    pub(crate) fn bag(values: &[(&str, ClaimValue)]) -> ClaimsBag {
        let policy = starter();
        let mut bag = ClaimsBag::with_capacity(policy.claim_types.len());
        for (claim, value) in values {
            bag.set(policy.claim_id(claim).unwrap_or_else(|| panic!("claim {claim}")), value.clone());
        }
        bag
    }

    pub(crate) fn s(text: &str) -> ClaimValue {
        ClaimValue::String(text.to_owned())
    }

    /// Input claims as the executor resolves them (defaults, partner names).
    fn inputs(policy: &Policy, profile: &TechnicalProfile, bag: &ClaimsBag) -> Vec<InputClaim> {
        profile
            .input_claims
            .iter()
            .map(|c| {
                let data_type = policy.claim(&c.claim.value).and_then(|t| t.data_type).unwrap_or(DataType::String);
                let default = c.default_value.as_ref().and_then(|d| ClaimValue::parse(data_type, &d.value).ok());
                let current = policy.claim_id(&c.claim.value).and_then(|id| bag.get(id)).cloned();
                let value = if c.always_use_default_value && default.is_some() { default } else { current.or(default) };
                InputClaim {
                    claim: c.claim.value.to_string(),
                    partner: policy.partner_name(profile, c),
                    value,
                    required: c.required,
                }
            })
            .collect()
    }

    pub(crate) fn run_with(
        handler: &dyn ProfileHandler,
        profile: &TechnicalProfile,
        invocation: Invocation,
        bag: &ClaimsBag,
        dir: Option<&Directory>,
        env: &FixedEnv,
    ) -> ProfileResult {
        let policy = starter();
        let mut extensions = Extensions::default();
        if let Some(dir) = dir {
            extensions.insert(dir.clone());
        }
        let services = Services { env, extensions: &extensions };
        let context = RequestContext::default();
        let request = ProfileRequest {
            policy,
            profile,
            invocation,
            inputs: inputs(policy, profile, bag),
            bag,
            answer: None,
            profile_state: None,
            services: &services,
            context: &context,
            token_claims: &[],
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        runtime.block_on(handler.execute(request))
    }

    pub(crate) fn run(
        handler: &dyn ProfileHandler,
        profile: &TechnicalProfile,
        invocation: Invocation,
        bag: &ClaimsBag,
        dir: &Directory,
    ) -> ProfileResult {
        run_with(handler, profile, invocation, bag, Some(dir), &FixedEnv::default())
    }

    pub(crate) fn claims(result: ProfileResult) -> Vec<(String, ClaimValue)> {
        match result {
            ProfileResult::Claims(c) => c,
            other => panic!("expected claims, got {other:?}"),
        }
    }

    pub(crate) fn failure(result: ProfileResult) -> ProfileError {
        match result {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    pub(crate) fn get<'c>(claims: &'c [(String, ClaimValue)], partner: &str) -> Option<&'c ClaimValue> {
        claims.iter().find(|(p, _)| p == partner).map(|(_, v)| v)
    }

    pub(crate) fn seed_alice(dir: &Directory) -> User {
        dir.seed(&SeedUser {
            object_id: Some("a11ce000-0000-4000-8000-000000000001".to_owned()),
            data: UserData {
                user_principal_name: Some("alice@yourtenant.onmicrosoft.com".to_owned()),
                sign_in_names: vec![SignInName::new("emailAddress", "alice@contoso.com")],
                attributes: vec![
                    ("displayName".to_owned(), s("Alice Smith")),
                    ("givenName".to_owned(), s("Alice")),
                    ("surname".to_owned(), s("Smith")),
                    ("otherMails".to_owned(), ClaimValue::StringCollection(vec!["alice@home.example".to_owned()])),
                ],
                password: Some(Password::new("Passw0rd!")),
                ..UserData::default()
            },
        })
        .expect("seeded")
    }
}

#[cfg(test)]
mod tests {
    use ief_transforms::FixedEnv;

    use super::testing::*;
    use super::*;

    const AAD: AzureActiveDirectory = AzureActiveDirectory;

    fn alt_id_json(issuer: &str, user: &str) -> ClaimValue {
        s(&format!(r#"{{"issuer":"{issuer}","issuerUserId":"{user}"}}"#))
    }

    #[test]
    fn handles_directory_profiles_only() {
        for id in [
            "AAD-UserReadUsingObjectId",
            "AAD-UserWriteUsingLogonEmail",
            "AAD-UserReadUsingAlternativeSecurityId-NoError",
        ] {
            assert!(AAD.handles(&profile(id), Invocation::Step), "{id}");
            assert!(AAD.handles(&profile(id), Invocation::Validation), "{id}");
        }
        assert!(!AAD.handles(&profile("login-NonInteractive"), Invocation::Validation));
        assert!(!AAD.handles(&profile("SelfAsserted-LocalAccountSignin-Email"), Invocation::Step));
        assert_eq!(AAD.name(), "AzureActiveDirectoryProvider");
    }

    #[test]
    fn read_by_email_returns_the_output_claims_by_partner_name() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let bag = bag(&[("email", s("ALICE@contoso.com"))]);
        let out = claims(run(&AAD, &profile("AAD-UserReadUsingEmailAddress"), Invocation::Validation, &bag, &dir));
        assert_eq!(
            out,
            vec![
                ("objectId".to_owned(), s(&alice.object_id)),
                ("userPrincipalName".to_owned(), s("alice@yourtenant.onmicrosoft.com")),
                ("displayName".to_owned(), s("Alice Smith")),
                ("accountEnabled".to_owned(), ClaimValue::Boolean(true)),
                ("otherMails".to_owned(), ClaimValue::StringCollection(vec!["alice@home.example".to_owned()])),
                ("signInNames.emailAddress".to_owned(), s("alice@contoso.com")),
            ]
        );
    }

    #[test]
    fn read_of_a_missing_user_fails_with_the_documented_messages() {
        let dir = Directory::in_memory().unwrap();
        let bag = bag(&[("email", s("nobody@contoso.com")), ("objectId", s("no-such-id"))]);
        let read_email = profile("AAD-UserReadUsingEmailAddress");
        let e = failure(run(&AAD, &read_email, Invocation::Validation, &bag, &dir));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");
        assert_eq!(e.user_message, "An account could not be found for the provided user ID.");

        // The profile's own message wins, then the page's localized string.
        let custom = with_metadata(read_email.clone(), "UserMessageIfClaimsPrincipalDoesNotExist", "Who are you?");
        let e = failure(run(&AAD, &custom, Invocation::Validation, &bag, &dir));
        assert_eq!(e.user_message, "Who are you?");
        let mut env = FixedEnv::default();
        env.strings.insert(
            ("ErrorMessage".to_owned(), String::new(), "UserMessageIfClaimsPrincipalDoesNotExist".to_owned()),
            "Localized: not found".to_owned(),
        );
        let e = failure(run_with(&AAD, &read_email, Invocation::Validation, &bag, Some(&dir), &env));
        assert_eq!(e.user_message, "Localized: not found");

        // As an orchestration step it is B2C's service error.
        let e = failure(run(&AAD, &profile("AAD-UserReadUsingObjectId"), Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "AADB2C99002");
        assert_eq!(
            e.user_message,
            "This user does not exist and profile 'AAD-UserReadUsingObjectId' requires the user to have already been \
             created."
        );
    }

    #[test]
    fn no_error_read_of_a_missing_user_returns_nothing() {
        let dir = Directory::in_memory().unwrap();
        let bag = bag(&[("alternativeSecurityId", alt_id_json("facebook.com", "MTIz"))]);
        let out = run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId-NoError"), Invocation::Step, &bag, &dir);
        assert_eq!(out, ProfileResult::Claims(Vec::new()));
        let e = failure(run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId"), Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "AADB2C99002");
    }

    #[test]
    fn local_sign_up_writes_hashes_the_password_and_refuses_a_second_time() {
        let dir = Directory::in_memory().unwrap();
        let write = profile("AAD-UserWriteUsingLogonEmail");
        let bag = bag(&[
            ("email", s("Bob@Contoso.com")),
            ("newPassword", s("S3cret-pass")),
            ("displayName", s("Bob")),
            ("givenName", s("Bob")),
            ("surname", s("Jones")),
        ]);
        let out = claims(run(&AAD, &write, Invocation::Validation, &bag, &dir));
        let id = match get(&out, "objectId") {
            Some(ClaimValue::String(id)) => id.clone(),
            other => panic!("objectId: {other:?}"),
        };
        assert_eq!(get(&out, "newClaimsPrincipalCreated"), Some(&ClaimValue::Boolean(true)));
        assert_eq!(get(&out, "userPrincipalName"), Some(&s(&format!("{id}@yourtenant.onmicrosoft.com"))));
        assert_eq!(get(&out, "signInNames.emailAddress"), Some(&s("Bob@Contoso.com")));
        assert_eq!(out.len(), 4, "authenticationSource is a DefaultValue the executor adds: {out:?}");

        let user = dir.find_by_object_id(&id).unwrap().unwrap();
        assert_eq!(user.attribute("passwordPolicies"), Some(&s("DisablePasswordExpiration")), "DefaultValue");
        assert_eq!(user.attribute("surname"), Some(&s("Jones")));
        assert_eq!(user.attribute("password"), None);
        let hash = dir.password_hash(&id).unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains("S3cret-pass"), "{hash}");
        assert!(dir.verify_password(&id, &Password::new("S3cret-pass")).unwrap());

        let again = bag.clone();
        let e = failure(run(&AAD, &write, Invocation::Validation, &again, &dir));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalAlreadyExists");
        assert_eq!(e.user_message, "A user with the specified ID already exists. Please choose a different one.");
        let e = failure(run(&AAD, &write, Invocation::Step, &again, &dir));
        assert_eq!(e.code, "AADB2C90001");
        assert!(e.user_message.contains("'AAD-UserWriteUsingLogonEmail' does not allow"), "{}", e.user_message);
        assert_eq!(dir.users().unwrap().len(), 1);
    }

    /// A copy of `profile` whose input and persisted `alternativeSecurityId` go to
    /// `userIdentities`, as the account-linking sample's profiles do.
    fn through_user_identities(mut profile: TechnicalProfile) -> TechnicalProfile {
        let span = profile.span;
        for claim in profile.input_claims.iter_mut().chain(profile.persisted_claims.iter_mut()) {
            if claim.claim.value == "alternativeSecurityId" {
                claim.partner_claim_type = Some(ief_engine::model::Text { value: "userIdentities".into(), span });
            }
        }
        profile
    }

    #[test]
    fn user_identities_find_write_and_replace_the_social_identities() {
        let dir = Directory::in_memory().unwrap();
        let write = through_user_identities(profile("AAD-UserWriteUsingAlternativeSecurityId"));
        let read = through_user_identities(profile("AAD-UserReadUsingAlternativeSecurityId"));
        let facebook = bag(&[("alternativeSecurityId", alt_id_json("facebook.com", "MTIzNDU="))]);
        let out = claims(run(&AAD, &write, Invocation::Step, &facebook, &dir));
        let Some(ClaimValue::String(id)) = get(&out, "objectId") else { panic!("{out:?}") };
        // The account the userIdentities wrote is the one its alternativeSecurityId finds.
        let by_alt =
            claims(run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId"), Invocation::Step, &facebook, &dir));
        assert_eq!(get(&by_alt, "objectId"), Some(&s(id)));
        let by_identities = claims(run(&AAD, &read, Invocation::Step, &facebook, &dir));
        assert_eq!(get(&by_identities, "objectId"), Some(&s(id)));

        // Writing userIdentities replaces the list: linking adds, unlinking removes.
        let linked = ClaimValue::user_identities(&[
            AlternativeSecurityId { issuer: "facebook.com".into(), issuer_user_id: "MTIzNDU=".into() },
            AlternativeSecurityId { issuer: "live.com".into(), issuer_user_id: "eA==".into() },
        ]);
        dir.update(id, &UserData { user_identities: linked.as_user_identities(), ..UserData::default() }, None)
            .unwrap();
        let user = dir.find_by_object_id(id).unwrap().unwrap();
        assert_eq!(directory_value(&user, "userIdentities"), Some(linked));
        let live = bag(&[("alternativeSecurityId", alt_id_json("LIVE.com", "eA=="))]);
        assert_eq!(get(&claims(run(&AAD, &read, Invocation::Step, &live, &dir)), "objectId"), Some(&s(id)));
        let unlinked = vec![AlternativeSecurityId { issuer: "facebook.com".into(), issuer_user_id: "MTIzNDU=".into() }];
        dir.update(id, &UserData { user_identities: Some(unlinked.clone()), ..UserData::default() }, None).unwrap();
        assert_eq!(failure(run(&AAD, &read, Invocation::Step, &live, &dir)).code, "AADB2C99002");
        let user = dir.find_by_object_id(id).unwrap().unwrap();
        assert_eq!(user.alternative_security_ids, unlinked);

        let bad = bag(&[("alternativeSecurityId", s("not an identity"))]);
        let e = failure(run(&AAD, &read, Invocation::Step, &bad, &dir));
        assert_eq!(e.code, "InvalidDirectoryKey");
        assert!(e.user_message.contains("userIdentity"), "{}", e.user_message);
    }

    #[test]
    fn social_sign_up_then_sign_in_by_alternative_security_id() {
        let dir = Directory::in_memory().unwrap();
        let bag = bag(&[
            ("alternativeSecurityId", alt_id_json("facebook.com", "MTIzNDU=")),
            ("userPrincipalName", s("cpim_abc@yourtenant.onmicrosoft.com")),
            ("otherMails", ClaimValue::StringCollection(vec!["carol@fb.example".to_owned()])),
            ("givenName", s("Carol")),
        ]);
        let out = claims(run(&AAD, &profile("AAD-UserWriteUsingAlternativeSecurityId"), Invocation::Step, &bag, &dir));
        assert_eq!(get(&out, "newClaimsPrincipalCreated"), Some(&ClaimValue::Boolean(true)));
        assert_eq!(get(&out, "otherMails"), Some(&ClaimValue::StringCollection(vec!["carol@fb.example".to_owned()])));
        let Some(ClaimValue::String(id)) = get(&out, "objectId") else { panic!("{out:?}") };
        let user = dir.find_by_object_id(id).unwrap().unwrap();
        assert_eq!(user.attribute("displayName"), Some(&s("unknown")), "DefaultValue");
        assert_eq!(user.attribute("mailNickName"), Some(&s("unknown")));
        assert_eq!(user.user_principal_name.as_deref(), Some("cpim_abc@yourtenant.onmicrosoft.com"));
        assert!(!user.has_password);

        let read = claims(run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId"), Invocation::Step, &bag, &dir));
        assert_eq!(
            read,
            vec![
                ("objectId".to_owned(), s(id)),
                ("userPrincipalName".to_owned(), s("cpim_abc@yourtenant.onmicrosoft.com")),
                ("displayName".to_owned(), s("unknown")),
                ("otherMails".to_owned(), ClaimValue::StringCollection(vec!["carol@fb.example".to_owned()])),
                ("givenName".to_owned(), s("Carol")),
            ]
        );
        // The issuer matches case-insensitively; objectId finds the same account.
        let upper = super::testing::bag(&[("alternativeSecurityId", alt_id_json("FACEBOOK.COM", "MTIzNDU="))]);
        let again = claims(run(
            &AAD,
            &profile("AAD-UserReadUsingObjectId"),
            Invocation::Step,
            &super::testing::bag(&[("objectId", s(id))]),
            &dir,
        ));
        assert_eq!(get(&again, "givenName"), Some(&s("Carol")));
        let read =
            claims(run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId"), Invocation::Step, &upper, &dir));
        assert_eq!(get(&read, "objectId"), Some(&s(id)), "issuers match case-insensitively");

        let e = failure(run(&AAD, &profile("AAD-UserWriteUsingAlternativeSecurityId"), Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "AADB2C90001");
    }

    #[test]
    fn password_reset_writes_a_new_hash_for_an_existing_user_only() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let write = profile("AAD-UserWritePasswordUsingObjectId");
        let bag = bag(&[("objectId", s(&alice.object_id)), ("newPassword", s("Brand-new-1"))]);
        let env = FixedEnv::default();
        let out = run_with(&AAD, &write, Invocation::Validation, &bag, Some(&dir), &env);
        // The executor keeps only what the profile's OutputClaims name (here nothing).
        assert_eq!(
            out,
            ProfileResult::Claims(vec![("newClaimsPrincipalCreated".to_owned(), ClaimValue::Boolean(false))])
        );
        assert!(dir.verify_password(&alice.object_id, &Password::new("Brand-new-1")).unwrap());
        assert!(!dir.verify_password(&alice.object_id, &Password::new("Passw0rd!")).unwrap());
        let user = dir.find_by_object_id(&alice.object_id).unwrap().unwrap();
        assert_eq!(user.attribute(store::REFRESH_TOKENS_VALID_FROM), Some(&ClaimValue::date_time(env.now)));

        let missing = super::testing::bag(&[("objectId", s("nobody")), ("newPassword", s("x"))]);
        let e = failure(run(&AAD, &write, Invocation::Validation, &missing, &dir));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");
        assert_eq!(dir.users().unwrap().len(), 1, "no account was created from an objectId");
    }

    #[test]
    fn profile_edit_updates_and_reports_an_existing_user() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let write = profile("AAD-UserWriteProfileUsingObjectId");
        let bag = bag(&[("objectId", s(&alice.object_id)), ("givenName", s("Ally")), ("surname", s("Smythe"))]);
        let out = claims(run(&AAD, &write, Invocation::Validation, &bag, &dir));
        assert_eq!(out, vec![("newClaimsPrincipalCreated".to_owned(), ClaimValue::Boolean(false))]);
        let user = dir.find_by_object_id(&alice.object_id).unwrap().unwrap();
        assert_eq!(user.attribute("givenName"), Some(&s("Ally")));
        assert_eq!(user.attribute("surname"), Some(&s("Smythe")));
        assert_eq!(user.attribute("displayName"), Some(&s("Alice Smith")), "not persisted, not touched");

        // Write without RaiseErrorIfClaimsPrincipalAlreadyExists updates (the starter's is false).
        let upsert =
            with_metadata(profile("AAD-UserWriteUsingLogonEmail"), "RaiseErrorIfClaimsPrincipalAlreadyExists", "false");
        let bag = super::testing::bag(&[("email", s("alice@contoso.com")), ("displayName", s("A. Smith"))]);
        let out = claims(run(&AAD, &upsert, Invocation::Validation, &bag, &dir));
        assert_eq!(get(&out, "newClaimsPrincipalCreated"), Some(&ClaimValue::Boolean(false)));
        assert_eq!(get(&out, "objectId"), Some(&s(&alice.object_id)));
        let user = dir.find_by_object_id(&alice.object_id).unwrap().unwrap();
        assert_eq!(user.attribute("displayName"), Some(&s("A. Smith")));
        assert!(dir.verify_password(&alice.object_id, &Password::new("Passw0rd!")).unwrap(), "no newPassword, kept");

        let missing = super::testing::bag(&[("objectId", s("nobody")), ("givenName", s("X"))]);
        let e = failure(run(&AAD, &write, Invocation::Step, &missing, &dir));
        assert_eq!(e.code, "AADB2C99002");
    }

    fn delete_profile(operation: &str, persisted: &[(&str, Option<&str>)]) -> TechnicalProfile {
        let mut p = with_metadata(profile("AAD-UserReadUsingObjectId"), "Operation", operation);
        // As documented for the delete operations: no RaiseErrorIf... items.
        p.metadata.retain(|m| !m.key.value.starts_with("RaiseErrorIf"));
        let span = p.span;
        let text = |v: &str| ief_engine::model::Text { value: v.into(), span };
        p.persisted_claims = persisted
            .iter()
            .map(|(claim, partner)| ClaimRef {
                claim: text(claim),
                partner_claim_type: partner.map(text),
                default_value: None,
                always_use_default_value: false,
                required: false,
            })
            .collect();
        p
    }

    #[test]
    fn delete_claims_clears_the_persisted_attributes() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let p = delete_profile("DeleteClaims", &[("objectId", None), ("otherMails", None), ("givenName", None)]);
        let bag = bag(&[("objectId", s(&alice.object_id))]);
        let out = claims(run(&AAD, &p, Invocation::Step, &bag, &dir));
        assert_eq!(get(&out, "otherMails"), None, "read back after the delete: {out:?}");
        assert_eq!(get(&out, "givenName"), None);
        assert_eq!(get(&out, "displayName"), Some(&s("Alice Smith")));
        let user = dir.find_by_object_id(&alice.object_id).unwrap().unwrap();
        assert_eq!(user.attribute("otherMails"), None);
        assert_eq!(user.attribute("surname"), Some(&s("Smith")));

        let missing = super::testing::bag(&[("objectId", s("nobody"))]);
        assert_eq!(run(&AAD, &p, Invocation::Step, &missing, &dir), ProfileResult::Claims(Vec::new()));
        let strict = with_metadata(p, "RaiseErrorIfClaimsPrincipalDoesNotExist", "true");
        assert_eq!(failure(run(&AAD, &strict, Invocation::Step, &missing, &dir)).code, "AADB2C99002");
    }

    #[test]
    fn delete_claims_principal_removes_the_account() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let p = delete_profile("DeleteClaimsPrincipal", &[]);
        let bag = bag(&[("objectId", s(&alice.object_id))]);
        assert_eq!(run(&AAD, &p, Invocation::Step, &bag, &dir), ProfileResult::Claims(Vec::new()));
        assert_eq!(dir.find_by_object_id(&alice.object_id).unwrap(), None);
        assert_eq!(dir.find_by_sign_in_name(None, "alice@contoso.com").unwrap(), None);
        // Gone already: not an error unless asked for.
        assert_eq!(run(&AAD, &p, Invocation::Step, &bag, &dir), ProfileResult::Claims(Vec::new()));
        let strict = with_metadata(p, "RaiseErrorIfClaimsPrincipalDoesNotExist", "True");
        let e = failure(run(&AAD, &strict, Invocation::Validation, &bag, &dir));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");
    }

    #[test]
    fn lookups_by_user_principal_name_and_user_name() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        dir.update(
            &alice.object_id,
            &UserData { sign_in_names: vec![SignInName::new("userName", "alice")], ..UserData::default() },
            None,
        )
        .unwrap();
        let mut by_upn = profile("AAD-UserReadUsingObjectId");
        by_upn.input_claims[0].claim.value = "userPrincipalName".into();
        let out = claims(run(
            &AAD,
            &by_upn,
            Invocation::Step,
            &bag(&[("userPrincipalName", s("ALICE@yourtenant.onmicrosoft.com"))]),
            &dir,
        ));
        assert_eq!(get(&out, "displayName"), Some(&s("Alice Smith")));

        let mut by_name = profile("AAD-UserReadUsingEmailAddress");
        by_name.input_claims[0].claim.value = "signInName".into();
        by_name.input_claims[0].partner_claim_type.as_mut().unwrap().value = "signInNames.userName".into();
        let out = claims(run(&AAD, &by_name, Invocation::Validation, &bag(&[("signInName", s("Alice"))]), &dir));
        assert_eq!(get(&out, "objectId"), Some(&s(&alice.object_id)));
        // The email is not a userName.
        let e =
            failure(run(&AAD, &by_name, Invocation::Validation, &bag(&[("signInName", s("alice@contoso.com"))]), &dir));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");
        // Bare signInNames matches any kind.
        by_name.input_claims[0].partner_claim_type.as_mut().unwrap().value = "signInNames".into();
        let out =
            claims(run(&AAD, &by_name, Invocation::Validation, &bag(&[("signInName", s("alice@contoso.com"))]), &dir));
        assert_eq!(get(&out, "objectId"), Some(&s(&alice.object_id)));
    }

    #[test]
    fn configuration_errors_are_clear() {
        let dir = Directory::in_memory().unwrap();
        let read = profile("AAD-UserReadUsingObjectId");
        let bag = bag(&[("objectId", s("x"))]);
        let e = failure(run_with(&AAD, &read, Invocation::Step, &bag, None, &FixedEnv::default()));
        assert_eq!(e.code, "DirectoryUnavailable");
        assert!(e.user_message.contains("AAD-UserReadUsingObjectId"), "{}", e.user_message);

        let mut no_op = read.clone();
        no_op.metadata.retain(|m| m.key.value != "Operation");
        let e = failure(run(&AAD, &no_op, Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "AADB2C99011");
        assert!(e.user_message.contains("'Operation'") && e.user_message.contains("B2C_1A_signup_signin"));
        let e = failure(run(&AAD, &with_metadata(read.clone(), "Operation", "Upsert"), Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "UnsupportedOperation");

        let mut two = read.clone();
        two.input_claims.push(two.input_claims[0].clone());
        let e = failure(run(&AAD, &two, Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "InvalidDirectoryKey");
        assert!(e.user_message.contains("has 2 input claims"), "{}", e.user_message);

        let mut odd = read.clone();
        odd.input_claims[0].partner_claim_type = Some(ief_engine::model::Text { value: "mail".into(), span: odd.span });
        let e = failure(run(&AAD, &odd, Invocation::Step, &bag, &dir));
        assert_eq!(e.code, "InvalidDirectoryKey");
        assert!(e.user_message.contains("partner 'mail'"), "{}", e.user_message);

        let bad_alt = super::testing::bag(&[("alternativeSecurityId", s("not json"))]);
        let e =
            failure(run(&AAD, &profile("AAD-UserReadUsingAlternativeSecurityId"), Invocation::Step, &bad_alt, &dir));
        assert_eq!(e.code, "InvalidDirectoryKey");
    }

    #[test]
    fn creating_an_account_needs_a_display_name() {
        let dir = Directory::in_memory().unwrap();
        let mut write = profile("AAD-UserWriteUsingLogonEmail");
        write.persisted_claims.retain(|c| c.claim.value != "displayName");
        let bag = bag(&[("email", s("dan@contoso.com")), ("newPassword", s("pw-Dan-123"))]);
        let e = failure(run(&AAD, &write, Invocation::Validation, &bag, &dir));
        assert_eq!(e.code, "DisplayNameRequired");
        assert!(!e.user_message.contains("pw-Dan-123"));
        assert!(dir.users().unwrap().is_empty());
    }

    #[test]
    fn stored_values_convert_to_the_output_claim_type() {
        assert_eq!(convert(ClaimValue::Boolean(true), DataType::String), Some(s("True")));
        assert_eq!(convert(s("true"), DataType::Boolean), Some(ClaimValue::Boolean(true)));
        assert_eq!(
            convert(s("a"), DataType::StringCollection),
            Some(ClaimValue::StringCollection(vec!["a".to_owned()]))
        );
        let id = AlternativeSecurityId { issuer: "x.com".to_owned(), issuer_user_id: "MQ==".to_owned() };
        assert_eq!(
            convert(ClaimValue::AlternativeSecurityId(id.clone()), DataType::String),
            Some(s(r#"{"issuer":"x.com","issuerUserId":"MQ=="}"#))
        );
        assert_eq!(
            convert(ClaimValue::AlternativeSecurityId(id.clone()), DataType::AlternativeSecurityIdCollection),
            Some(ClaimValue::AlternativeSecurityIdCollection(vec![id]))
        );
        assert_eq!(convert(s("soon"), DataType::DateTime), None);
        let typed = ClaimValue::AlternativeSecurityId(AlternativeSecurityId {
            issuer: "x.com".to_owned(),
            issuer_user_id: "MQ==".to_owned(),
        });
        assert_eq!(
            parse_alternative_security_id(&typed),
            parse_alternative_security_id(&s(r#"{"issuer":"x.com","issuerUserId":"MQ=="}"#))
        );
        assert!(parse_alternative_security_id(&typed).is_some());
        assert_eq!(parse_alternative_security_id(&s("{}")), None);
    }
}
