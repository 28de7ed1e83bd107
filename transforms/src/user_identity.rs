//! The user-identity methods Microsoft's account-linking sample uses, though B2C does not
//! document them: CreateUserIdentity, AddItemToUserIdentityCollection,
//! RemoveUserIdentityFromCollectionByIssuer, GetIssuersFromUserIdentityCollectionTransformation.
//!
//! A `userIdentity` is Azure AD's `userIdentities` item, `{"issuer", "issuerUserId"}`: the
//! alternativeSecurityId's shape, so the social methods' rules carry over (docs/compatibility.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature, Slot, TypeSpec};
use crate::value::{AlternativeSecurityId, ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const IDENTITY: TypeSpec = TypeSpec::Exact(DataType::UserIdentity);
const IDENTITIES: TypeSpec = TypeSpec::Exact(DataType::UserIdentityCollection);
const STRINGS: TypeSpec = TypeSpec::Exact(DataType::StringCollection);

const fn required(name: &'static str, ty: TypeSpec) -> Slot {
    Slot { name, ty, required: true }
}

const fn signature(method: &'static str, inputs: &'static [Slot], outputs: &'static [Slot]) -> Signature {
    Signature {
        method,
        family: Family::Social,
        inputs,
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs,
        extra_outputs: None,
        user_message_key: None,
    }
}

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: signature(
            "AddItemToUserIdentityCollection",
            // The collection is optional, as for AddItemToAlternativeSecurityIdCollection.
            &[required("item", IDENTITY), Slot { name: "collection", ty: IDENTITIES, required: false }],
            &[required("collection", IDENTITIES)],
        ),
        build: add_item,
    },
    Method {
        signature: signature(
            "CreateUserIdentity",
            &[required("issuerUserId", STRING), required("issuer", STRING)],
            &[required("userIdentity", IDENTITY)],
        ),
        build: create,
    },
    Method {
        signature: signature(
            "GetIssuersFromUserIdentityCollectionTransformation",
            &[required("userIdentityCollection", IDENTITIES)],
            &[required("issuersCollection", STRINGS)],
        ),
        build: issuers,
    },
    Method {
        signature: signature(
            "RemoveUserIdentityFromCollectionByIssuer",
            &[required("issuer", STRING), required("collection", IDENTITIES)],
            &[required("collection", IDENTITIES)],
        ),
        build: remove_by_issuer,
    },
];

fn identities(value: &ClaimValue, slot: &str) -> Result<Vec<AlternativeSecurityId>, TransformError> {
    value.as_user_identities().ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a userIdentity")))
}

fn string_of<'v>(value: &'v ClaimValue, slot: &str) -> Result<&'v str, TransformError> {
    value.as_str().ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string")))
}

fn add_item(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let item = b.required_input("item")?;
    let collection = b.input("collection");
    let output = b.required_output("collection")?;
    Ok(Box::new(move |bag, _env| {
        let Some(item) = bag.get(item) else {
            return Ok(());
        };
        let item = identities(item, "item")?;
        let mut ids = match collection.and_then(|c| bag.get(c)) {
            Some(v) => identities(v, "collection")?,
            None => Vec::new(),
        };
        ids.extend(item);
        bag.set(output, ClaimValue::user_identities(&ids));
        Ok(())
    }))
}

fn create(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let user_id = b.required_input("issuerUserId")?;
    let issuer = b.required_input("issuer")?;
    let output = b.required_output("userIdentity")?;
    Ok(Box::new(move |bag, _env| {
        let (Some(user_id), Some(issuer)) = (bag.get(user_id), bag.get(issuer)) else {
            return Ok(());
        };
        let id = AlternativeSecurityId {
            issuer: string_of(issuer, "issuer")?.to_owned(),
            // Azure AD keeps issuerUserId as binary, shown in base64: the provider's id, UTF-8.
            issuer_user_id: BASE64.encode(string_of(user_id, "issuerUserId")?),
        };
        bag.set(output, ClaimValue::user_identity(id));
        Ok(())
    }))
}

fn issuers(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("userIdentityCollection")?;
    let output = b.required_output("issuersCollection")?;
    Ok(Box::new(move |bag, _env| {
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let issuers = identities(value, "userIdentityCollection")?.into_iter().map(|id| id.issuer).collect();
        bag.set(output, ClaimValue::StringCollection(issuers));
        Ok(())
    }))
}

fn remove_by_issuer(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let issuer = b.required_input("issuer")?;
    let collection = b.required_input("collection")?;
    let output = b.required_output("collection")?;
    Ok(Box::new(move |bag, _env| {
        let (Some(issuer), Some(collection)) = (bag.get(issuer), bag.get(collection)) else {
            return Ok(());
        };
        // Issuers are domain names: compared without regard to case, as the social method does.
        let issuer = string_of(issuer, "issuer")?.to_lowercase();
        let mut ids = identities(collection, "collection")?;
        ids.retain(|id| id.issuer.to_lowercase() != issuer);
        bag.set(output, ClaimValue::user_identities(&ids));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{case, coll, s};
    use crate::{AlternativeSecurityId, ClaimValue, DataType, ErrorCode, catalog, signature::Family};

    fn ids(items: &[(&str, &str)]) -> ClaimValue {
        let ids: Vec<_> = items
            .iter()
            .map(|(i, u)| AlternativeSecurityId { issuer: (*i).to_owned(), issuer_user_id: (*u).to_owned() })
            .collect();
        ClaimValue::user_identities(&ids)
    }

    fn one(issuer: &str, user: &str) -> ClaimValue {
        ClaimValue::user_identity(AlternativeSecurityId { issuer: issuer.to_owned(), issuer_user_id: user.to_owned() })
    }

    #[test]
    fn the_four_methods_are_in_the_catalog() {
        for name in [
            "AddItemToUserIdentityCollection",
            "CreateUserIdentity",
            "GetIssuersFromUserIdentityCollectionTransformation",
            "RemoveUserIdentityFromCollectionByIssuer",
        ] {
            let m = catalog::method(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
            assert_eq!(m.signature.family, Family::Social, "{name}");
        }
    }

    #[test]
    fn create_encodes_the_provider_id_like_an_alternative_security_id() {
        let out = case("CreateUserIdentity")
            .input("issuerUserId", s("12334"))
            .input("issuer", s("facebook.com"))
            .output("userIdentity", DataType::UserIdentity)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(one("facebook.com", "MTIzMzQ=")));
        let alt = case("CreateAlternativeSecurityId")
            .input("key", s("12334"))
            .input("identityProvider", s("facebook.com"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap()
            .unwrap();
        // The same account is found by either claim.
        assert_eq!(alt.as_str(), Some(out.unwrap().to_string().as_str()));
    }

    #[test]
    fn create_without_an_input_writes_nothing() {
        let out = case("CreateUserIdentity")
            .input_claim("issuerUserId", "issuerUserId", DataType::String, None)
            .input("issuer", s("facebook.com"))
            .output("userIdentity", DataType::UserIdentity)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn add_item_appends_and_starts_from_nothing() {
        let out = case("AddItemToUserIdentityCollection")
            .input("item", one("live.com", "eA=="))
            .input("collection", ids(&[("facebook.com", "MTIz")]))
            .output("collection", DataType::UserIdentityCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("facebook.com", "MTIz"), ("live.com", "eA==")])));
        let unset = case("AddItemToUserIdentityCollection")
            .input("item", one("live.com", "eA=="))
            .input_claim("collection", "collection", DataType::UserIdentityCollection, None)
            .output("collection", DataType::UserIdentityCollection)
            .run_one()
            .unwrap();
        assert_eq!(unset, Some(ids(&[("live.com", "eA==")])));
    }

    #[test]
    fn add_item_checks_slot_types() {
        let problems = case("AddItemToUserIdentityCollection")
            .input("item", s(r#"{"issuer":"x","issuerUserId":"eA=="}"#))
            .output("collection", DataType::UserIdentityCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]item"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[UserIdentity]item"), "{}", problems[0].message);
    }

    #[test]
    fn remove_by_issuer_ignores_case_and_removes_every_match() {
        let out = case("RemoveUserIdentityFromCollectionByIssuer")
            .input("issuer", s("FACEBOOK.com"))
            .input("collection", ids(&[("facebook.com", "MQ=="), ("live.com", "Mg=="), ("Facebook.com", "Mw==")]))
            .output("collection", DataType::UserIdentityCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("live.com", "Mg==")])));
    }

    #[test]
    fn issuers_in_collection_order() {
        let out = case("GetIssuersFromUserIdentityCollectionTransformation")
            .input("userIdentityCollection", ids(&[("live.com", "MQ=="), ("facebook.com", "Mg==")]))
            .output("issuersCollection", DataType::StringCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(coll(&["live.com", "facebook.com"])));
        let empty = case("GetIssuersFromUserIdentityCollectionTransformation")
            .input("userIdentityCollection", ids(&[]))
            .output("issuersCollection", DataType::StringCollection)
            .run_one()
            .unwrap();
        assert_eq!(empty, Some(coll(&[])));
    }

    #[test]
    fn a_malformed_identity_is_an_invalid_value() {
        let bad = ClaimValue::Json(DataType::UserIdentityCollection, serde_json::json!([{"issuer": 1}]));
        let err = case("GetIssuersFromUserIdentityCollectionTransformation")
            .input("userIdentityCollection", bad)
            .output("issuersCollection", DataType::StringCollection)
            .run()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidValue);
    }
}
