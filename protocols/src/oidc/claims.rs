//! Provider claims as claim values, named as the provider names them (the executor maps them
//! through OutputClaims/PartnerClaimType and converts them to the ClaimType's DataType).

use ief_transforms::ClaimValue;
use serde_json::{Map, Value};

/// Strings, booleans and integers as themselves; other numbers as their text; arrays of
/// scalars as a string collection; objects (e.g. `address`) as their compact JSON text.
/// Strings are moved, not copied.
pub fn claim_value(value: Value) -> Option<ClaimValue> {
    Some(match value {
        Value::Null => return None,
        Value::String(s) => ClaimValue::String(s),
        Value::Bool(b) => ClaimValue::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ClaimValue::Long(i),
            None => ClaimValue::String(n.to_string()),
        },
        Value::Array(items) => ClaimValue::StringCollection(
            items
                .into_iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
        ),
        object @ Value::Object(_) => ClaimValue::String(object.to_string()),
    })
}

/// Adds `claims` to `out`, replacing values of the same name (later sources win); names and
/// values are moved out of the verified claims.
pub fn merge(out: &mut Vec<(String, ClaimValue)>, claims: Map<String, Value>) {
    for (name, value) in claims {
        let Some(value) = claim_value(value) else { continue };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
}

/// `ReadBodyClaimsOnIdpRedirect` (Apple posts `user={"name":{"firstName":..}}` once): each
/// entry is a callback parameter, optionally followed by a dotted path into its JSON value.
/// The claim keeps the entry's full name (`user.name.firstName`).
pub fn body_claims(names: &[String], params: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for name in names {
        let mut segments = name.split('.');
        let Some(first) = segments.next() else { continue };
        let Some((_, raw)) = params.iter().find(|(k, _)| k == first) else { continue };
        let rest: Vec<&str> = segments.collect();
        let value = if rest.is_empty() {
            Value::String(raw.clone())
        } else {
            let Ok(json) = serde_json::from_str::<Value>(raw) else { continue };
            match rest.iter().try_fold(&json, |v, key| v.get(key)) {
                Some(v) => v.clone(),
                None => continue,
            }
        };
        out.insert(name.clone(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_values_become_claim_values() {
        assert_eq!(claim_value(json!("a")), Some(ClaimValue::String("a".into())));
        assert_eq!(claim_value(json!(true)), Some(ClaimValue::Boolean(true)));
        assert_eq!(claim_value(json!(1_700_000_000_000i64)), Some(ClaimValue::Long(1_700_000_000_000)));
        assert_eq!(claim_value(json!(1.5)), Some(ClaimValue::String("1.5".into())));
        assert_eq!(
            claim_value(json!(["a", 2, null, true])),
            Some(ClaimValue::StringCollection(vec!["a".into(), "2".into(), "true".into()]))
        );
        assert_eq!(claim_value(json!({"locality": "X"})), Some(ClaimValue::String(r#"{"locality":"X"}"#.into())));
        assert_eq!(claim_value(Value::Null), None);
    }

    #[test]
    fn later_sources_replace_earlier_values() {
        let mut out = vec![("name".to_owned(), ClaimValue::String("old".into()))];
        let Value::Object(claims) = json!({"name": "new", "email": "a@b"}) else { unreachable!() };
        merge(&mut out, claims);
        assert_eq!(
            out,
            vec![("name".into(), ClaimValue::String("new".into())), ("email".into(), ClaimValue::String("a@b".into()))]
        );
    }

    #[test]
    fn body_claims_follow_dotted_paths_into_json_parameters() {
        let params = vec![
            ("user".to_owned(), r#"{"name":{"firstName":"Ada","lastName":"L"},"email":"ada@x"}"#.to_owned()),
            ("plain".to_owned(), "v".to_owned()),
        ];
        let names: Vec<String> = ["user.name.firstName", "user.email", "user.missing", "plain", "absent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = body_claims(&names, &params);
        assert_eq!(got.get("user.name.firstName"), Some(&json!("Ada")));
        assert_eq!(got.get("user.email"), Some(&json!("ada@x")));
        assert_eq!(got.get("plain"), Some(&json!("v")));
        assert_eq!(got.len(), 3);
    }
}
