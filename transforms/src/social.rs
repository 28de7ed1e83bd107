//! Social account methods (social-transformations.md).
//!
//! An `alternativeSecurityId` travels between these methods as the JSON text
//! `{"issuer":…,"issuerUserId":…}` in a string claim; collections are typed values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Signature, Slot, TypeSpec};
use crate::value::{AlternativeSecurityId, ClaimValue, DataType};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const ALT_IDS: TypeSpec = TypeSpec::Exact(DataType::AlternativeSecurityIdCollection);
const STRINGS: TypeSpec = TypeSpec::Exact(DataType::StringCollection);

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "AddItemToAlternativeSecurityIdCollection",
            family: Family::Social,
            inputs: &[
                Slot { name: "item", ty: STRING, required: true },
                // "Used if available": the collection may be left undeclared.
                Slot { name: "collection", ty: ALT_IDS, required: false },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "collection", ty: ALT_IDS, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: add_item,
    },
    Method {
        signature: Signature {
            method: "CreateAlternativeSecurityId",
            family: Family::Social,
            inputs: &[
                Slot { name: "key", ty: STRING, required: true },
                Slot { name: "identityProvider", ty: STRING, required: true },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "alternativeSecurityId", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: create,
    },
    Method {
        signature: Signature {
            method: "GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation",
            family: Family::Social,
            inputs: &[Slot { name: "alternativeSecurityIdCollection", ty: ALT_IDS, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "identityProvidersCollection", ty: STRINGS, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: identity_providers,
    },
    Method {
        signature: Signature {
            method: "RemoveAlternativeSecurityIdByIdentityProvider",
            family: Family::Social,
            inputs: &[
                Slot { name: "identityProvider", ty: STRING, required: true },
                Slot { name: "collection", ty: ALT_IDS, required: true },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "collection", ty: ALT_IDS, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: remove_by_identity_provider,
    },
];

/// Where a family keeps its identities: the alternativeSecurityId methods use a typed
/// collection and JSON text items, the user-identity methods their own DataTypes. The runners
/// below serve both, so the two families behave alike.
pub(crate) struct IdentityKind {
    /// The collection's DataType name, for errors.
    pub(crate) collection: &'static str,
    pub(crate) read_collection: fn(&ClaimValue) -> Option<Vec<AlternativeSecurityId>>,
    pub(crate) write_collection: fn(&[AlternativeSecurityId]) -> ClaimValue,
    /// One item (AddItem's `item`), or why it is not one.
    pub(crate) read_item: fn(&ClaimValue) -> Result<AlternativeSecurityId, TransformError>,
    pub(crate) write_item: fn(AlternativeSecurityId) -> ClaimValue,
}

const ALTERNATIVE_SECURITY_IDS: IdentityKind = IdentityKind {
    collection: "alternativeSecurityIdCollection",
    read_collection: |v| match v {
        ClaimValue::AlternativeSecurityIdCollection(ids) => Some(ids.clone()),
        _ => None,
    },
    write_collection: |ids| ClaimValue::AlternativeSecurityIdCollection(ids.to_vec()),
    read_item: |v| parse_item(string_of(v, "item")?),
    // CreateAlternativeSecurityId leaves the JSON text in a string claim.
    write_item: |id| ClaimValue::String(ClaimValue::AlternativeSecurityId(id).to_string()),
};

/// Reads the JSON text of one alternativeSecurityId (the `item` of AddItem...).
fn parse_item(text: &str) -> Result<AlternativeSecurityId, TransformError> {
    if crate::json::too_deep(text) {
        return Err(crate::json::too_deep_error("item"));
    }
    let json: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| TransformError::invalid_value(format!("item is not an alternativeSecurityId JSON: {e}")))?;
    match ClaimValue::from_json(DataType::AlternativeSecurityId, &json) {
        Ok(ClaimValue::AlternativeSecurityId(id)) => Ok(id),
        _ => Err(TransformError::invalid_value(
            "item is not an alternativeSecurityId: expected {\"issuer\": string, \"issuerUserId\": string}",
        )),
    }
}

fn collection_of(
    family: &IdentityKind,
    value: &ClaimValue,
    slot: &str,
) -> Result<Vec<AlternativeSecurityId>, TransformError> {
    (family.read_collection)(value)
        .ok_or_else(|| TransformError::invalid_value(format!("{slot} is not an {}", family.collection)))
}

fn string_of<'v>(value: &'v ClaimValue, slot: &str) -> Result<&'v str, TransformError> {
    value.as_str().ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string")))
}

/// AddItem…: the item appended to the collection, which may be undeclared or unset (then the
/// result holds only the item, as the unit-test policy relies on). No de-duplication.
pub(crate) fn add_item_runner(b: &Bound<'_, '_>, family: &'static IdentityKind) -> Result<Runner, Problem> {
    let item = b.required_input("item")?;
    let collection = b.input("collection");
    let output = b.required_output("collection")?;
    Ok(Box::new(move |bag, _env| {
        let Some(item) = bag.get(item) else {
            return Ok(());
        };
        let item = (family.read_item)(item)?;
        let mut ids = match collection.and_then(|c| bag.get(c)) {
            Some(v) => collection_of(family, v, "collection")?,
            None => Vec::new(),
        };
        ids.push(item);
        bag.set(output, (family.write_collection)(&ids));
        Ok(())
    }))
}

/// Create…: `issuerUserId` is the base64 of the UTF-8 bytes of the provider's user id.
pub(crate) fn create_runner(
    b: &Bound<'_, '_>,
    family: &'static IdentityKind,
    [user_slot, issuer_slot, output_slot]: [&'static str; 3],
) -> Result<Runner, Problem> {
    let user = b.required_input(user_slot)?;
    let issuer = b.required_input(issuer_slot)?;
    let output = b.required_output(output_slot)?;
    Ok(Box::new(move |bag, _env| {
        let (Some(user), Some(issuer)) = (bag.get(user), bag.get(issuer)) else {
            return Ok(());
        };
        let id = AlternativeSecurityId {
            issuer: string_of(issuer, issuer_slot)?.to_owned(),
            issuer_user_id: BASE64.encode(string_of(user, user_slot)?),
        };
        bag.set(output, (family.write_item)(id));
        Ok(())
    }))
}

/// Get…Issuers / identity providers: the issuers in collection order, duplicates kept.
pub(crate) fn issuers_runner(
    b: &Bound<'_, '_>,
    family: &'static IdentityKind,
    [input_slot, output_slot]: [&'static str; 2],
) -> Result<Runner, Problem> {
    let input = b.required_input(input_slot)?;
    let output = b.required_output(output_slot)?;
    Ok(Box::new(move |bag, _env| {
        let Some(value) = bag.get(input) else {
            return Ok(());
        };
        let issuers = collection_of(family, value, input_slot)?.into_iter().map(|id| id.issuer).collect();
        bag.set(output, ClaimValue::StringCollection(issuers));
        Ok(())
    }))
}

/// Remove…: every item of the issuer, compared without regard to case (issuers are domain names).
pub(crate) fn remove_runner(
    b: &Bound<'_, '_>,
    family: &'static IdentityKind,
    issuer_slot: &'static str,
) -> Result<Runner, Problem> {
    let issuer = b.required_input(issuer_slot)?;
    let collection = b.required_input("collection")?;
    let output = b.required_output("collection")?;
    Ok(Box::new(move |bag, _env| {
        let (Some(issuer), Some(collection)) = (bag.get(issuer), bag.get(collection)) else {
            return Ok(());
        };
        let issuer = string_of(issuer, issuer_slot)?.to_lowercase();
        let mut ids = collection_of(family, collection, "collection")?;
        ids.retain(|id| id.issuer.to_lowercase() != issuer);
        bag.set(output, (family.write_collection)(&ids));
        Ok(())
    }))
}

fn add_item(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    add_item_runner(b, &ALTERNATIVE_SECURITY_IDS)
}

fn create(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    create_runner(b, &ALTERNATIVE_SECURITY_IDS, ["key", "identityProvider", "alternativeSecurityId"])
}

fn identity_providers(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    issuers_runner(b, &ALTERNATIVE_SECURITY_IDS, ["alternativeSecurityIdCollection", "identityProvidersCollection"])
}

fn remove_by_identity_provider(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    remove_runner(b, &ALTERNATIVE_SECURITY_IDS, "identityProvider")
}

#[cfg(test)]
mod tests {
    use crate::testing::{case, coll, s};
    use crate::{AlternativeSecurityId, ClaimValue, DataType, ErrorCode};

    fn id(issuer: &str, user: &str) -> AlternativeSecurityId {
        AlternativeSecurityId { issuer: issuer.to_owned(), issuer_user_id: user.to_owned() }
    }

    fn ids(items: &[(&str, &str)]) -> ClaimValue {
        ClaimValue::AlternativeSecurityIdCollection(items.iter().map(|(i, u)| id(i, u)).collect())
    }

    // --- AddItemToAlternativeSecurityIdCollection ---

    #[test]
    fn add_item_appends_the_documented_example() {
        let out = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", s(r#"{"issuer": "facebook.com", "issuerUserId": "MTIzNDU="}"#))
            .input("collection", ids(&[("live.com", "MTA4MTQ2MDgyOTI3MDUyNTYzMjcw")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("live.com", "MTA4MTQ2MDgyOTI3MDUyNTYzMjcw"), ("facebook.com", "MTIzNDU=")])));
    }

    #[test]
    fn add_item_starts_from_an_empty_collection_when_it_is_unset_or_undeclared() {
        let item = s(r#"{"issuer":"live.com","issuerUserId":"YWJjZGU="}"#);
        let unset = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", item.clone())
            .input_claim("collection", "collection", DataType::AlternativeSecurityIdCollection, None)
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(unset, Some(ids(&[("live.com", "YWJjZGU=")])));
        let undeclared = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", item)
            .output_claim("collection", "ids", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(undeclared, Some(ids(&[("live.com", "YWJjZGU=")])));
    }

    #[test]
    fn add_item_chains_with_create_alternative_security_id() {
        let created = case("CreateAlternativeSecurityId")
            .input("key", s("abcde"))
            .input("identityProvider", s("live.com"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap()
            .unwrap();
        let out = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", created)
            .input("collection", ids(&[("facebook.com", "MTIzNDU=")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("facebook.com", "MTIzNDU="), ("live.com", "YWJjZGU=")])));
    }

    #[test]
    fn add_item_keeps_duplicates_and_unicode() {
        let out = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", s(r#"{"issuer":"İstanbul.example","issuerUserId":"8J+YgA=="}"#))
            .input("collection", ids(&[("İstanbul.example", "8J+YgA==")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("İstanbul.example", "8J+YgA=="), ("İstanbul.example", "8J+YgA==")])));
    }

    #[test]
    fn add_item_without_an_item_writes_nothing() {
        let out = case("AddItemToAlternativeSecurityIdCollection")
            .input_claim("item", "item", DataType::String, None)
            .input("collection", ids(&[("live.com", "eA==")]))
            .output_claim("collection", "result", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn add_item_rejects_an_item_that_is_not_an_alternative_security_id() {
        for bad in
            ["", "not json", r#"{"issuer":"live.com"}"#, r#"["live.com","eA=="]"#, r#"{"issuer":1,"issuerUserId":"x"}"#]
        {
            let err = case("AddItemToAlternativeSecurityIdCollection")
                .input("item", s(bad))
                .input("collection", ids(&[]))
                .output("collection", DataType::AlternativeSecurityIdCollection)
                .run()
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue, "{bad}");
        }
    }

    #[test]
    fn add_item_slot_types_are_checked() {
        let problems = case("AddItemToAlternativeSecurityIdCollection")
            .input("item", s("{}"))
            .input("collection", coll(&["a"]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]collection"), "{}", problems[0].message);
        let problems = case("AddItemToAlternativeSecurityIdCollection")
            .input("collection", ids(&[]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]item"), "{}", problems[0].message);
    }

    // --- CreateAlternativeSecurityId ---

    #[test]
    fn create_encodes_the_key_in_base64() {
        // The doc example's issuerUserId does not encode its key (appendix 5); the rule gives this.
        let out = case("CreateAlternativeSecurityId")
            .input("key", s("12334"))
            .input("identityProvider", s("Facebook.com"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s(r#"{"issuer":"Facebook.com","issuerUserId":"MTIzMzQ="}"#)));
    }

    #[test]
    fn create_reproduces_the_doc_issuer_user_id_from_its_decoded_key() {
        let out = case("CreateAlternativeSecurityId")
            .input("key", s("108146082927052563270"))
            .input("identityProvider", s("facebook.com"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s(r#"{"issuer":"facebook.com","issuerUserId":"MTA4MTQ2MDgyOTI3MDUyNTYzMjcw"}"#)));
    }

    #[test]
    fn create_encodes_utf8_and_escapes_the_issuer() {
        let out = case("CreateAlternativeSecurityId")
            .input("key", s("İ😀e\u{301}"))
            .input("identityProvider", s("a\"b"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap();
        // İ = C4 B0, 😀 = F0 9F 98 80, e + U+0301 = 65 CC 81.
        assert_eq!(out, Some(s(r#"{"issuer":"a\"b","issuerUserId":"xLDwn5iAZcyB"}"#)));
        let out = case("CreateAlternativeSecurityId")
            .input("key", s(""))
            .input("identityProvider", s(""))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s(r#"{"issuer":"","issuerUserId":""}"#)));
    }

    #[test]
    fn create_with_a_missing_input_writes_nothing() {
        let out = case("CreateAlternativeSecurityId")
            .input_claim("key", "key", DataType::String, None)
            .input("identityProvider", s("live.com"))
            .output("alternativeSecurityId", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn create_slot_types_are_checked() {
        let problems = case("CreateAlternativeSecurityId")
            .input("key", ClaimValue::Long(12334))
            .input("identityProvider", s("live.com"))
            .output("alternativeSecurityId", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[Long]key"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]key"), "{}", problems[0].message);
    }

    // --- GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation ---

    #[test]
    fn identity_providers_lists_the_documented_issuers() {
        let out = case("GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation")
            .input(
                "alternativeSecurityIdCollection",
                ids(&[("google.com", "MTA4MTQ2MDgyOTI3MDUyNTYzMjcw"), ("facebook.com", "MTIzNDU=")]),
            )
            .output("identityProvidersCollection", DataType::StringCollection)
            .run_one()
            .unwrap();
        // The doc shows the reverse order; order is unspecified and we keep the input's.
        assert_eq!(out, Some(coll(&["google.com", "facebook.com"])));
    }

    #[test]
    fn identity_providers_of_an_empty_or_missing_collection() {
        let out = case("GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation")
            .input("alternativeSecurityIdCollection", ids(&[]))
            .output("identityProvidersCollection", DataType::StringCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(coll(&[])));
        let out = case("GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation")
            .input_claim("alternativeSecurityIdCollection", "ids", DataType::AlternativeSecurityIdCollection, None)
            .output("identityProvidersCollection", DataType::StringCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn identity_providers_slot_types_are_checked() {
        let problems = case("GetIdentityProvidersFromAlternativeSecurityIdCollectionTransformation")
            .input("alternativeSecurityIdCollection", ids(&[]))
            .output("identityProvidersCollection", DataType::String)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]identityProvidersCollection"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[StringCollection]identityProvidersCollection"));
    }

    // --- RemoveAlternativeSecurityIdByIdentityProvider ---

    #[test]
    fn remove_drops_the_documented_provider() {
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s("facebook.com"))
            .input("collection", ids(&[("live.com", "MTA4MTQ2MDgyOTI3MDUyNTYzMjcw"), ("facebook.com", "MTIzNDU=")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("live.com", "MTA4MTQ2MDgyOTI3MDUyNTYzMjcw")])));
    }

    #[test]
    fn remove_ignores_case_and_removes_every_match() {
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s("FaceBook.COM"))
            .input("collection", ids(&[("facebook.com", "MQ=="), ("live.com", "Mg=="), ("Facebook.com", "Mw==")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("live.com", "Mg==")])));
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s("i\u{307}stanbul.example"))
            .input("collection", ids(&[("İstanbul.example", "MQ==")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[])));
    }

    #[test]
    fn remove_without_a_match_or_from_an_empty_collection() {
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s(""))
            .input("collection", ids(&[("live.com", "eA==")]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[("live.com", "eA==")])));
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s("live.com"))
            .input("collection", ids(&[]))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(ids(&[])));
    }

    #[test]
    fn remove_with_a_missing_input_writes_nothing() {
        let out = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input_claim("identityProvider", "identityProvider", DataType::String, None)
            .input("collection", ids(&[("live.com", "eA==")]))
            .output_claim("collection", "result", DataType::AlternativeSecurityIdCollection)
            .run_one()
            .unwrap();
        assert_eq!(out, None);
    }

    #[test]
    fn remove_requires_the_collection_slot() {
        let problems = case("RemoveAlternativeSecurityIdByIdentityProvider")
            .input("identityProvider", s("live.com"))
            .output("collection", DataType::AlternativeSecurityIdCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[AlternativeSecurityIdCollection]collection"), "{}", problems[0].message);
    }
}
