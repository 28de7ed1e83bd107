//! StringCollection methods (stringcollection-transformations.md).

use crate::bag::{ClaimId, ClaimsBag};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::error::TransformError;
use crate::signature::{Family, Param, Signature, Slot, TypeSpec};
use crate::value::{ClaimValue, DataType, parse_bool};

const STRING: TypeSpec = TypeSpec::Exact(DataType::String);
const BOOLEAN: TypeSpec = TypeSpec::Exact(DataType::Boolean);
const COLLECTION: TypeSpec = TypeSpec::Exact(DataType::StringCollection);

// `ignoreCase` is a string parameter: the service throws on a boolean one (issue #93116).
const IGNORE_CASE: Param = Param { name: "ignoreCase", ty: STRING, required: false, default: Some("false") };

pub(crate) const METHODS: &[Method] = &[
    Method {
        signature: Signature {
            method: "AddItemToStringCollection",
            family: Family::StringCollection,
            // The doc table calls the item slot "Element"; the XML and the service use `item`.
            inputs: &[
                Slot { name: "item", ty: STRING, required: true },
                Slot { name: "collection", ty: COLLECTION, required: true },
            ],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "collection", ty: COLLECTION, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: add_item_to_string_collection,
    },
    Method {
        signature: Signature {
            method: "AddParameterToStringCollection",
            family: Family::StringCollection,
            inputs: &[Slot { name: "collection", ty: COLLECTION, required: true }],
            extra_inputs: None,
            params: &[Param { name: "item", ty: STRING, required: true, default: None }],
            extra_params: None,
            outputs: &[Slot { name: "collection", ty: COLLECTION, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: add_parameter_to_string_collection,
    },
    Method {
        signature: Signature {
            method: "GetSingleItemFromStringCollection",
            family: Family::StringCollection,
            inputs: &[Slot { name: "collection", ty: COLLECTION, required: true }],
            extra_inputs: None,
            params: &[],
            extra_params: None,
            outputs: &[Slot { name: "extractedItem", ty: STRING, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: get_single_item_from_string_collection,
    },
    Method {
        signature: Signature {
            method: "StringCollectionContains",
            family: Family::StringCollection,
            inputs: &[Slot { name: "inputClaim", ty: COLLECTION, required: true }],
            extra_inputs: None,
            params: &[Param { name: "item", ty: STRING, required: true, default: None }, IGNORE_CASE],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: string_collection_contains,
    },
    Method {
        signature: Signature {
            method: "StringCollectionContainsClaim",
            family: Family::StringCollection,
            inputs: &[
                Slot { name: "collection", ty: COLLECTION, required: true },
                Slot { name: "item", ty: STRING, required: true },
            ],
            extra_inputs: None,
            params: &[IGNORE_CASE],
            extra_params: None,
            outputs: &[Slot { name: "outputClaim", ty: BOOLEAN, required: true }],
            extra_outputs: None,
            user_message_key: None,
        },
        build: string_collection_contains_claim,
    },
];

/// The items in `id`; a collection without a value is empty.
fn read_items<'b>(bag: &'b ClaimsBag, id: ClaimId, slot: &str) -> Result<&'b [String], TransformError> {
    match bag.get(id) {
        None => Ok(&[]),
        Some(ClaimValue::StringCollection(items)) => Ok(items),
        Some(other) => Err(TransformError::invalid_value(format!(
            "{slot} holds a {} value, not a stringCollection",
            other.data_type()
        ))),
    }
}

fn read_text<'b>(bag: &'b ClaimsBag, id: ClaimId, slot: &str) -> Result<Option<&'b str>, TransformError> {
    match bag.get(id) {
        None => Ok(None),
        Some(value) => {
            value.as_str().map(Some).ok_or_else(|| TransformError::invalid_value(format!("{slot} is not a string")))
        }
    }
}

/// Unicode case-insensitive equality without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

fn contains(items: &[String], item: &str, ignore_case: bool) -> bool {
    if ignore_case { items.iter().any(|i| eq_ignore_case(i, item)) } else { items.iter().any(|i| i == item) }
}

/// The input items with `item` appended unless already present (ordinal comparison).
fn with_item(items: &[String], item: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len() + 1);
    out.extend_from_slice(items);
    if !contains(items, item, false) {
        out.push(item.to_owned());
    }
    out
}

fn ignore_case_param(b: &Bound<'_, '_>) -> Result<bool, Problem> {
    let text = b.param_str("ignoreCase").unwrap_or_default();
    parse_bool(&text).ok_or_else(|| b.invalid_param("ignoreCase", format!("expected true or false, found '{text}'")))
}

fn add_item_to_string_collection(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let item_id = b.required_input("item")?;
    let collection = b.required_input("collection")?;
    let output = b.required_output("collection")?;
    Ok(Box::new(move |bag, _env| {
        // No item, nothing to add: the output is left as it was.
        let Some(item) = read_text(bag, item_id, "item")? else {
            return Ok(());
        };
        let items = with_item(read_items(bag, collection, "collection")?, item);
        bag.set(output, ClaimValue::StringCollection(items));
        Ok(())
    }))
}

fn add_parameter_to_string_collection(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let collection = b.required_input("collection")?;
    let output = b.required_output("collection")?;
    let item = b.param_str("item").ok_or_else(|| b.invalid_param("item", "expected a string"))?;
    Ok(Box::new(move |bag, _env| {
        let items = with_item(read_items(bag, collection, "collection")?, &item);
        bag.set(output, ClaimValue::StringCollection(items));
        Ok(())
    }))
}

fn get_single_item_from_string_collection(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let collection = b.required_input("collection")?;
    let output = b.required_output("extractedItem")?;
    Ok(Box::new(move |bag, _env| {
        // An empty collection has no first item: the output is left as it was.
        if let Some(first) = read_items(bag, collection, "collection")?.first() {
            let first = first.clone();
            bag.set(output, ClaimValue::String(first));
        }
        Ok(())
    }))
}

fn string_collection_contains(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let input = b.required_input("inputClaim")?;
    let output = b.required_output("outputClaim")?;
    let item = b.param_str("item").ok_or_else(|| b.invalid_param("item", "expected a string"))?;
    let ignore_case = ignore_case_param(b)?;
    Ok(Box::new(move |bag, _env| {
        // Whole-element equality; an absent collection contains nothing.
        let found = contains(read_items(bag, input, "inputClaim")?, &item, ignore_case);
        bag.set(output, ClaimValue::Boolean(found));
        Ok(())
    }))
}

fn string_collection_contains_claim(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let collection = b.required_input("collection")?;
    let item_id = b.required_input("item")?;
    let output = b.required_output("outputClaim")?;
    let ignore_case = ignore_case_param(b)?;
    Ok(Box::new(move |bag, _env| {
        let items = read_items(bag, collection, "collection")?;
        // An absent item is in no collection.
        let found = match read_text(bag, item_id, "item")? {
            Some(item) => contains(items, item, ignore_case),
            None => false,
        };
        bag.set(output, ClaimValue::Boolean(found));
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{b, case, coll, s};
    use crate::{ClaimValue, DataType};

    // AddItemToStringCollection

    fn add_item(item: Option<&'static str>, collection: Option<ClaimValue>) -> Option<ClaimValue> {
        case("AddItemToStringCollection")
            .input_claim("item", "email", DataType::String, item.map(s))
            .input_claim("collection", "otherMails", DataType::StringCollection, collection)
            .output_claim("collection", "otherMails", DataType::StringCollection)
            .run_one()
            .unwrap()
    }

    #[test]
    fn add_item_documented_example() {
        let out = add_item(Some("admin@contoso.com"), Some(coll(&["someone@outlook.com"])));
        assert_eq!(out, Some(coll(&["someone@outlook.com", "admin@contoso.com"])));
    }

    #[test]
    fn add_item_keeps_values_unique_ordinally() {
        let out = add_item(Some("a@x.com"), Some(coll(&["a@x.com", "b@x.com"])));
        assert_eq!(out, Some(coll(&["a@x.com", "b@x.com"])));
        // Uniqueness is case-sensitive: a differently cased value is a new value.
        let out = add_item(Some("A@x.com"), Some(coll(&["a@x.com"])));
        assert_eq!(out, Some(coll(&["a@x.com", "A@x.com"])));
        // Composed and decomposed é are different strings.
        let out = add_item(Some("e\u{0301}"), Some(coll(&["é"])));
        assert_eq!(out, Some(coll(&["é", "e\u{0301}"])));
    }

    #[test]
    fn add_item_to_empty_or_missing_collection() {
        assert_eq!(add_item(Some("İstanbul"), Some(coll(&[]))), Some(coll(&["İstanbul"])));
        assert_eq!(add_item(Some("🙂"), None), Some(coll(&["🙂"])));
        assert_eq!(add_item(Some(""), None), Some(coll(&[""])));
    }

    #[test]
    fn add_item_missing_item_leaves_the_collection() {
        assert_eq!(add_item(None, Some(coll(&["a"]))), Some(coll(&["a"])));
        let out = case("AddItemToStringCollection")
            .input_claim("item", "email", DataType::String, None)
            .input_claim("collection", "otherMails", DataType::StringCollection, Some(coll(&["a"])))
            .output_claim("collection", "newMails", DataType::StringCollection)
            .run()
            .unwrap();
        assert_eq!(out, vec![]);
    }

    #[test]
    fn add_item_requires_the_collection_declared() {
        let problems = case("AddItemToStringCollection")
            .input("item", s("a"))
            .output("collection", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]collection"), "{}", problems[0].message);
    }

    #[test]
    fn add_item_rejects_the_element_slot_name_and_wrong_types() {
        let problems = case("AddItemToStringCollection")
            .input("Element", s("a"))
            .input("collection", coll(&[]))
            .output("collection", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]Element"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]item"), "{}", problems[0].message);

        let problems = case("AddItemToStringCollection")
            .input("item", s("a"))
            .input("collection", s("a,b"))
            .output("collection", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]collection"), "{}", problems[0].message);
    }

    // AddParameterToStringCollection

    fn add_param(item: &'static str, collection: Option<ClaimValue>) -> Option<ClaimValue> {
        case("AddParameterToStringCollection")
            .input_claim("collection", "otherMails", DataType::StringCollection, collection)
            .param("item", "string", item)
            .output_claim("collection", "otherMails", DataType::StringCollection)
            .run_one()
            .unwrap()
    }

    #[test]
    fn add_parameter_documented_example() {
        let out = add_param("admin@contoso.com", Some(coll(&["someone@outlook.com"])));
        assert_eq!(out, Some(coll(&["someone@outlook.com", "admin@contoso.com"])));
    }

    #[test]
    fn add_parameter_unique_empty_and_unicode() {
        assert_eq!(add_param("a", Some(coll(&["a"]))), Some(coll(&["a"])));
        assert_eq!(add_param("👩‍👩‍👧", None), Some(coll(&["👩‍👩‍👧"])));
        assert_eq!(add_param("x", Some(coll(&[]))), Some(coll(&["x"])));
    }

    #[test]
    fn add_parameter_checks_its_parameter() {
        let problems = case("AddParameterToStringCollection")
            .input("collection", coll(&[]))
            .output("collection", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]item"), "{}", problems[0].message);

        let problems = case("AddParameterToStringCollection")
            .input("collection", coll(&[]))
            .param("item", "int", "5")
            .output("collection", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType String"), "{}", problems[0].message);
    }

    // GetSingleItemFromStringCollection

    fn first(collection: Option<ClaimValue>) -> Option<ClaimValue> {
        case("GetSingleItemFromStringCollection")
            .input_claim("collection", "otherMails", DataType::StringCollection, collection)
            .output_claim("extractedItem", "email", DataType::String)
            .run_one()
            .unwrap()
    }

    #[test]
    fn get_single_item_documented_example() {
        let out = first(Some(coll(&["someone@outlook.com", "someone@contoso.com"])));
        assert_eq!(out, Some(s("someone@outlook.com")));
    }

    #[test]
    fn get_single_item_empty_missing_and_unicode() {
        assert_eq!(first(Some(coll(&[]))), None);
        assert_eq!(first(None), None);
        assert_eq!(first(Some(coll(&["", "b"]))), Some(s("")));
        assert_eq!(first(Some(coll(&["İstanbul"]))), Some(s("İstanbul")));
    }

    #[test]
    fn get_single_item_output_is_a_string() {
        let problems = case("GetSingleItemFromStringCollection")
            .input("collection", coll(&["a"]))
            .output("extractedItem", DataType::StringCollection)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]extractedItem"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]extractedItem"), "{}", problems[0].message);
    }

    // StringCollectionContains

    fn contains(
        collection: Option<ClaimValue>,
        item: &'static str,
        ignore_case: Option<&'static str>,
    ) -> Option<ClaimValue> {
        let mut c = case("StringCollectionContains")
            .input_claim("inputClaim", "roles", DataType::StringCollection, collection)
            .param("item", "string", item);
        if let Some(ic) = ignore_case {
            c = c.param("ignoreCase", "string", ic);
        }
        c.output_claim("outputClaim", "isAdmin", DataType::Boolean).run_one().unwrap()
    }

    #[test]
    fn string_collection_contains_documented_example() {
        let out = contains(Some(coll(&["reader", "author", "admin"])), "Admin", Some("true"));
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn string_collection_contains_case_rules() {
        let roles = || Some(coll(&["reader", "author", "admin"]));
        assert_eq!(contains(roles(), "Admin", Some("false")), Some(b(false)));
        assert_eq!(contains(roles(), "Admin", None), Some(b(false)));
        assert_eq!(contains(roles(), "admin", None), Some(b(true)));
        assert_eq!(contains(roles(), "ADMIN", Some("TRUE")), Some(b(true)));
        // Whole-element equality, not a substring test.
        assert_eq!(contains(roles(), "adm", Some("true")), Some(b(false)));
    }

    #[test]
    fn string_collection_contains_unicode_case_folding() {
        let cities = || Some(coll(&["İstanbul", "ΣΊΣΥΦΟΣ"]));
        assert_eq!(contains(cities(), "i\u{0307}stanbul", Some("true")), Some(b(true)));
        assert_eq!(contains(cities(), "istanbul", Some("true")), Some(b(false)));
        assert_eq!(contains(cities(), "σίσυφοσ", Some("true")), Some(b(true)));
        assert_eq!(contains(Some(coll(&["🙂"])), "🙂", None), Some(b(true)));
    }

    #[test]
    fn string_collection_contains_empty_and_missing() {
        assert_eq!(contains(Some(coll(&[])), "admin", Some("true")), Some(b(false)));
        assert_eq!(contains(None, "admin", Some("true")), Some(b(false)));
        assert_eq!(contains(Some(coll(&[""])), "", None), Some(b(true)));
    }

    #[test]
    fn string_collection_contains_rejects_a_boolean_ignore_case() {
        let problems = case("StringCollectionContains")
            .input("inputClaim", coll(&["a"]))
            .param("item", "string", "a")
            .param("ignoreCase", "boolean", "true")
            .output("outputClaim", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("must have DataType String, not Boolean"), "{}", problems[0].message);

        let bad = case("StringCollectionContains")
            .input("inputClaim", coll(&["a"]))
            .param("item", "string", "a")
            .param("ignoreCase", "string", "maybe")
            .output("outputClaim", DataType::Boolean);
        let problems = bad.compile_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("ignoreCase"), "{}", problems[0].message);
    }

    #[test]
    fn string_collection_contains_wants_a_collection() {
        let problems = case("StringCollectionContains")
            .input("inputClaim", s("admin"))
            .param("item", "string", "admin")
            .output("outputClaim", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[String]inputClaim"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[StringCollection]inputClaim"), "{}", problems[0].message);
    }

    // StringCollectionContainsClaim

    fn contains_claim(
        collection: Option<ClaimValue>,
        item: Option<&'static str>,
        ignore_case: &'static str,
    ) -> Option<ClaimValue> {
        case("StringCollectionContainsClaim")
            .input_claim("collection", "roles", DataType::StringCollection, collection)
            .input_claim("item", "role", DataType::String, item.map(s))
            .param("ignoreCase", "string", ignore_case)
            .output_claim("outputClaim", "hasAccess", DataType::Boolean)
            .run_one()
            .unwrap()
    }

    #[test]
    fn string_collection_contains_claim_documented_example() {
        let out = contains_claim(Some(coll(&["reader", "author", "admin"])), Some("Admin"), "true");
        assert_eq!(out, Some(b(true)));
    }

    #[test]
    fn string_collection_contains_claim_edges() {
        let roles = || Some(coll(&["reader", "author", "admin"]));
        assert_eq!(contains_claim(roles(), Some("Admin"), "false"), Some(b(false)));
        assert_eq!(contains_claim(roles(), Some("author"), "false"), Some(b(true)));
        assert_eq!(contains_claim(roles(), None, "true"), Some(b(false)));
        assert_eq!(contains_claim(None, Some("admin"), "true"), Some(b(false)));
        assert_eq!(contains_claim(Some(coll(&[])), Some(""), "true"), Some(b(false)));
        assert_eq!(contains_claim(Some(coll(&["e\u{0301}"])), Some("É"), "true"), Some(b(false)));
        assert_eq!(contains_claim(Some(coll(&["é"])), Some("É"), "true"), Some(b(true)));
    }

    #[test]
    fn string_collection_contains_claim_checks_slots() {
        let problems = case("StringCollectionContainsClaim")
            .input("collection", coll(&["a"]))
            .input("item", coll(&["a"]))
            .output("outputClaim", DataType::Boolean)
            .check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("[StringCollection]item"), "{}", problems[0].message);
        assert!(problems[0].message.contains("[String]item"), "{}", problems[0].message);
    }
}
