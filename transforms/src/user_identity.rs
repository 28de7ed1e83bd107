//! The user-identity methods Microsoft's account-linking sample uses, though B2C does not
//! document them: CreateUserIdentity, AddItemToUserIdentityCollection,
//! RemoveUserIdentityFromCollectionByIssuer, GetIssuersFromUserIdentityCollectionTransformation.
//!
//! A `userIdentity` is Azure AD's `userIdentities` item, `{"issuer", "issuerUserId"}`: the
//! alternativeSecurityId's shape, so the social methods' rules carry over (docs/compatibility.md).

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature, Slot, TypeSpec};
use crate::social::{IdentityKind, add_item_runner, create_runner, issuers_runner, remove_runner};
use crate::value::{ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const IDENTITY: TypeSpec = TypeSpec::Exact(DataType::UserIdentity);
const IDENTITIES: TypeSpec = TypeSpec::Exact(DataType::UserIdentityCollection);
const STRINGS: TypeSpec = TypeSpec::Exact(DataType::StringCollection);

const fn required(name: &'static str, ty: TypeSpec) -> Slot {
    Slot { name, ty, required: true }
}

const fn signature(method: &'static str, inputs: &'static [Slot], outputs: &'static [Slot]) -> Signature {
    Signature::fixed(method, Family::Social, inputs, &[], outputs)
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

const USER_IDENTITIES: IdentityKind = IdentityKind {
    collection: "userIdentityCollection",
    read_collection: |v| match v {
        ClaimValue::Json(DataType::UserIdentityCollection, _) => v.as_user_identities(),
        _ => None,
    },
    write_collection: ClaimValue::user_identities,
    read_item: |v| {
        match v {
            ClaimValue::Json(DataType::UserIdentity, _) => {
                v.as_user_identities().and_then(|ids| ids.into_iter().next())
            }
            _ => None,
        }
        .ok_or_else(|| TransformError::invalid_value("item is not a userIdentity"))
    },
    write_item: ClaimValue::user_identity,
};

fn add_item(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    add_item_runner(b, &USER_IDENTITIES)
}

fn create(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    create_runner(b, &USER_IDENTITIES, ["issuerUserId", "issuer", "userIdentity"])
}

fn issuers(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    issuers_runner(b, &USER_IDENTITIES, ["userIdentityCollection", "issuersCollection"])
}

fn remove_by_issuer(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    remove_runner(b, &USER_IDENTITIES, "issuer")
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
