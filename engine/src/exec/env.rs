//! The environment a transformation sees: the shared services plus the running profile's
//! expressions and the policy's localized strings for the request's language.

use chrono::NaiveDateTime;
use ief_transforms::TransformEnv;

use crate::model::{LocalizedResources, Policy, TechnicalProfile};

/// Shared services seen through one policy: used by the executor for each profile, and by
/// `ief transform run` with no profile.
pub struct PolicyEnv<'a> {
    pub inner: &'a (dyn TransformEnv + Sync),
    pub policy: &'a Policy,
    /// The running profile; `None` outside a journey.
    pub profile: Option<&'a TechnicalProfile>,
    /// RFC 5646 culture (`en-US`) or a bare language (`fr`).
    pub culture: &'a str,
}

impl std::fmt::Debug for PolicyEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEnv").field("culture", &self.culture).finish_non_exhaustive()
    }
}

impl PolicyEnv<'_> {
    /// Resources for the language: those the profile's content definition (every content
    /// definition outside a journey) maps to it, else every resource set named `*.{language}`.
    fn resources(&self) -> Vec<&LocalizedResources> {
        let Some(loc) = &self.policy.localization else { return Vec::new() };
        let culture = self.culture.to_lowercase();
        let language = culture.split('-').next().unwrap_or(&culture).to_owned();
        let matches = |l: &str| {
            let l = l.to_lowercase();
            l == culture || l == language
        };
        let definitions: Vec<_> = match self.profile {
            Some(tp) => tp
                .metadata("ContentDefinitionReferenceId")
                .and_then(|id| self.policy.content_definitions.iter().find(|c| c.id.value == id))
                .into_iter()
                .collect(),
            None => self.policy.content_definitions.iter().collect(),
        };
        let referenced: Vec<&str> = definitions
            .iter()
            .flat_map(|c| c.localized_resources.iter().filter(|(l, _)| matches(l)).map(|(_, r)| r.as_str()))
            .collect();
        let named = |r: &&LocalizedResources| {
            let id = r.id.value.to_lowercase();
            id.ends_with(&format!(".{culture}")) || id.ends_with(&format!(".{language}"))
        };
        if referenced.is_empty() {
            loc.resources.iter().filter(named).collect()
        } else {
            loc.resources.iter().filter(|r| referenced.contains(&r.id.as_str())).collect()
        }
    }
}

impl TransformEnv for PolicyEnv<'_> {
    fn now(&self) -> NaiveDateTime {
        self.inner.now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.inner.fill_random(buf);
    }

    fn policy_key(&self, storage_reference_id: &str) -> Option<Vec<u8>> {
        self.inner.policy_key(storage_reference_id)
    }

    fn localized_string(&self, element_type: &str, element_id: &str, string_id: &str) -> Option<String> {
        self.resources()
            .iter()
            .flat_map(|r| &r.strings)
            .find(|(t, e, s, _)| t == element_type && e == element_id && s == string_id)
            .map(|(_, _, _, text)| text.clone())
            .or_else(|| self.inner.localized_string(element_type, element_id, string_id))
    }

    fn localized_collection(&self, element_type: &str, element_id: &str) -> Option<Vec<(String, String)>> {
        let localized = self
            .resources()
            .iter()
            .flat_map(|r| &r.collections)
            .find(|(t, e, _, _)| t == element_type && e == element_id)
            .map(|(_, _, _, items)| items.clone());
        localized
            .or_else(|| {
                // A claim type's own enumeration stands when nothing localizes it.
                let ct = self.policy.claim(element_id).filter(|_| element_type == "ClaimType")?;
                let r = ct.restriction.as_ref().filter(|r| !r.enumerations.is_empty())?;
                Some(r.enumerations.iter().map(|(t, v, _)| (t.clone(), v.clone())).collect())
            })
            .or_else(|| self.inner.localized_collection(element_type, element_id))
    }

    fn expression(&self, name: &str) -> Option<String> {
        match name {
            "TechnicalProfileId" => self.profile.map(|p| p.id.value.to_string()),
            "RelyingPartyTenantId" | "TrustFrameworkTenantId" => Some(self.policy.tenant_id.clone()),
            _ => self.inner.expression(name),
        }
    }

    fn satisfies_predicates(&self, claim_type: &str, value: &str) -> Option<bool> {
        let reference = self.policy.claim(claim_type).and_then(|ct| ct.predicate_validation.as_ref());
        let Some(validation) = reference.and_then(|r| self.policy.predicate_validation(&r.value)) else {
            return self.inner.satisfies_predicates(claim_type, value);
        };
        Some(self.policy.predicate_failures(validation, value, self.now().date()).is_empty())
    }
}
