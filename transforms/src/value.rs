//! Typed claim values: the `DataType`s of a ClaimsSchema and their B2C text forms.

use std::fmt;
use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// A `ClaimType/DataType` (also `InputParameter/@DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    Boolean,
    Date,
    DateTime,
    Duration,
    Int,
    Long,
    String,
    StringCollection,
    PhoneNumber,
    AlternativeSecurityId,
    AlternativeSecurityIdCollection,
    UserIdentity,
    UserIdentityCollection,
    ObjectIdentity,
    ObjectIdentityCollection,
}

impl DataType {
    pub const ALL: [DataType; 15] = [
        DataType::Boolean,
        DataType::Date,
        DataType::DateTime,
        DataType::Duration,
        DataType::Int,
        DataType::Long,
        DataType::String,
        DataType::StringCollection,
        DataType::PhoneNumber,
        DataType::AlternativeSecurityId,
        DataType::AlternativeSecurityIdCollection,
        DataType::UserIdentity,
        DataType::UserIdentityCollection,
        DataType::ObjectIdentity,
        DataType::ObjectIdentityCollection,
    ];

    /// The name as written in policies (`dateTime`, `stringCollection`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Boolean => "boolean",
            DataType::Date => "date",
            DataType::DateTime => "dateTime",
            DataType::Duration => "duration",
            DataType::Int => "int",
            DataType::Long => "long",
            DataType::String => "string",
            DataType::StringCollection => "stringCollection",
            DataType::PhoneNumber => "phoneNumber",
            DataType::AlternativeSecurityId => "alternativeSecurityId",
            DataType::AlternativeSecurityIdCollection => "alternativeSecurityIdCollection",
            DataType::UserIdentity => "userIdentity",
            DataType::UserIdentityCollection => "userIdentityCollection",
            DataType::ObjectIdentity => "objectIdentity",
            DataType::ObjectIdentityCollection => "objectIdentityCollection",
        }
    }

    /// The .NET-style name B2C prints in signature mismatches (`[String]rightOperand`).
    pub fn service_name(self) -> &'static str {
        match self {
            DataType::Boolean => "Boolean",
            DataType::Date => "Date",
            DataType::DateTime => "DateTime",
            DataType::Duration => "Duration",
            DataType::Int => "Int",
            DataType::Long => "Long",
            DataType::String => "String",
            DataType::StringCollection => "StringCollection",
            DataType::PhoneNumber => "PhoneNumber",
            DataType::AlternativeSecurityId => "AlternativeSecurityId",
            DataType::AlternativeSecurityIdCollection => "AlternativeSecurityIdCollection",
            DataType::UserIdentity => "UserIdentity",
            DataType::UserIdentityCollection => "UserIdentityCollection",
            DataType::ObjectIdentity => "ObjectIdentity",
            DataType::ObjectIdentityCollection => "ObjectIdentityCollection",
        }
    }

    /// Parses the policy spelling. The XSD enumeration is case-sensitive.
    pub fn parse(text: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    pub fn is_collection(self) -> bool {
        matches!(
            self,
            DataType::StringCollection
                | DataType::AlternativeSecurityIdCollection
                | DataType::UserIdentityCollection
                | DataType::ObjectIdentityCollection
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One social identity: the issuer and the user's id at that issuer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AlternativeSecurityId {
    pub issuer: String,
    /// The raw user id; B2C shows it base64-encoded (`issuerUserId`).
    pub issuer_user_id: String,
}

/// How a dateTime prints. B2C's methods write two forms: GetCurrentDateTime and
/// ConvertDateToDateTimeClaim write `2022-01-14T11:40:35.0000000Z`, the JSON methods
/// `2005-09-23T00:00:00Z` (claims-transformations D.2, D.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DateTimeForm {
    /// .NET's round-trip form `yyyy-MM-ddTHH:mm:ss.fffffffZ`: always seven fractional digits.
    #[default]
    RoundTrip,
    /// Json.NET's ISO form `yyyy-MM-ddTHH:mm:ss.FFFFFFFZ`: trailing zeros of the fraction
    /// dropped, and the fraction with them when it is zero.
    Json,
}

/// A claim's value. Its variant always agrees with the claim's `DataType`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ClaimValue {
    String(String),
    Boolean(bool),
    Int(i32),
    Long(i64),
    Date(#[serde(with = "crate::stored::date")] NaiveDate),
    /// Always UTC, with the form it prints in.
    DateTime(#[serde(with = "crate::stored::date_time")] NaiveDateTime, DateTimeForm),
    /// ISO 8601 duration, kept as written after validation.
    Duration(String),
    /// Kept as given (E.164 after normalisation where a method normalises it).
    PhoneNumber(String),
    StringCollection(Vec<String>),
    AlternativeSecurityId(AlternativeSecurityId),
    AlternativeSecurityIdCollection(Vec<AlternativeSecurityId>),
    /// Undocumented identity types, kept as their JSON form.
    Json(DataType, #[serde(with = "crate::stored::json_text")] serde_json::Value),
}

/// A literal that does not parse for its DataType.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {data_type}: {reason}")]
pub struct ValueError {
    pub data_type: DataType,
    pub text: String,
    pub reason: &'static str,
}

impl ClaimValue {
    pub fn data_type(&self) -> DataType {
        match self {
            ClaimValue::String(_) => DataType::String,
            ClaimValue::Boolean(_) => DataType::Boolean,
            ClaimValue::Int(_) => DataType::Int,
            ClaimValue::Long(_) => DataType::Long,
            ClaimValue::Date(_) => DataType::Date,
            ClaimValue::DateTime(..) => DataType::DateTime,
            ClaimValue::Duration(_) => DataType::Duration,
            ClaimValue::PhoneNumber(_) => DataType::PhoneNumber,
            ClaimValue::StringCollection(_) => DataType::StringCollection,
            ClaimValue::AlternativeSecurityId(_) => DataType::AlternativeSecurityId,
            ClaimValue::AlternativeSecurityIdCollection(_) => DataType::AlternativeSecurityIdCollection,
            ClaimValue::Json(t, _) => *t,
        }
    }

    /// Parses a literal (a `DefaultValue`, an `InputParameter/@Value`, a precondition value)
    /// the way B2C reads it: culture-invariant, booleans in any case.
    pub fn parse(data_type: DataType, text: &str) -> Result<ClaimValue, ValueError> {
        let err = |reason| ValueError { data_type, text: text.to_owned(), reason };
        let trimmed = text.trim();
        Ok(match data_type {
            DataType::String => ClaimValue::String(text.to_owned()),
            DataType::Boolean => ClaimValue::Boolean(parse_bool(trimmed).ok_or(err("expected True or False"))?),
            DataType::Int => ClaimValue::Int(trimmed.parse().map_err(|_| err("expected a 32-bit integer"))?),
            DataType::Long => ClaimValue::Long(trimmed.parse().map_err(|_| err("expected a 64-bit integer"))?),
            DataType::Date => ClaimValue::Date(parse_date(trimmed).ok_or(err("expected a date such as 2024-01-31"))?),
            DataType::DateTime => {
                ClaimValue::date_time(parse_date_time(trimmed).ok_or(err("expected an ISO 8601 date and time"))?)
            }
            DataType::Duration => {
                if !is_duration(trimmed) {
                    return Err(err("expected an ISO 8601 duration such as P1DT2H"));
                }
                ClaimValue::Duration(trimmed.to_owned())
            }
            DataType::PhoneNumber => ClaimValue::PhoneNumber(text.to_owned()),
            DataType::StringCollection => ClaimValue::StringCollection(if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(str::to_owned).collect()
            }),
            DataType::AlternativeSecurityId
            | DataType::AlternativeSecurityIdCollection
            | DataType::UserIdentity
            | DataType::UserIdentityCollection
            | DataType::ObjectIdentity
            | DataType::ObjectIdentityCollection => {
                if crate::json::too_deep(trimmed) {
                    return Err(err("JSON nested more than 64 levels deep"));
                }
                let json: serde_json::Value = serde_json::from_str(trimmed).map_err(|_| err("expected JSON"))?;
                ClaimValue::from_json(data_type, &json).map_err(|e| ValueError { text: text.to_owned(), ..e })?
            }
        })
    }

    /// A dateTime in the round-trip form most methods write.
    pub fn date_time(dt: NaiveDateTime) -> ClaimValue {
        ClaimValue::DateTime(dt, DateTimeForm::RoundTrip)
    }

    /// The instant of a dateTime value.
    pub fn as_date_time(&self) -> Option<NaiveDateTime> {
        match self {
            ClaimValue::DateTime(dt, _) => Some(*dt),
            _ => None,
        }
    }

    /// Builds a value from its JSON form (the `ief transform run` and scenario input format).
    pub fn from_json(data_type: DataType, json: &serde_json::Value) -> Result<ClaimValue, ValueError> {
        use serde_json::Value as J;
        let err = |reason| ValueError { data_type, text: json.to_string(), reason };
        match (data_type, json) {
            (DataType::Boolean, J::Bool(b)) => Ok(ClaimValue::Boolean(*b)),
            (DataType::Int, J::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(ClaimValue::Int)
                .ok_or(err("expected a 32-bit integer")),
            (DataType::Long, J::Number(n)) => n.as_i64().map(ClaimValue::Long).ok_or(err("expected a 64-bit integer")),
            (DataType::StringCollection, J::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(ClaimValue::StringCollection)
                .ok_or(err("expected an array of strings")),
            (DataType::AlternativeSecurityId, J::Object(_)) => alt_sec_id_from_json(json)
                .map(ClaimValue::AlternativeSecurityId)
                .ok_or(err("expected {\"issuer\", \"issuerUserId\"}")),
            (DataType::AlternativeSecurityIdCollection, J::Array(items)) => items
                .iter()
                .map(alt_sec_id_from_json)
                .collect::<Option<Vec<_>>>()
                .map(ClaimValue::AlternativeSecurityIdCollection)
                .ok_or(err("expected an array of {\"issuer\", \"issuerUserId\"}")),
            (DataType::UserIdentity, J::Object(_)) => alt_sec_id_from_json(json)
                .map(ClaimValue::user_identity)
                .ok_or(err("expected {\"issuer\", \"issuerUserId\"}")),
            (DataType::UserIdentityCollection, J::Array(items)) => items
                .iter()
                .map(alt_sec_id_from_json)
                .collect::<Option<Vec<_>>>()
                .map(|ids| ClaimValue::user_identities(&ids))
                .ok_or(err("expected an array of {\"issuer\", \"issuerUserId\"}")),
            (DataType::ObjectIdentity | DataType::ObjectIdentityCollection, _) => {
                Ok(ClaimValue::Json(data_type, json.clone()))
            }
            (_, J::String(s)) if !data_type.is_collection() => ClaimValue::parse(data_type, s),
            _ => Err(err("JSON value of the wrong kind")),
        }
    }

    /// A `userIdentity`: the same issuer and base64 issuerUserId as an alternativeSecurityId,
    /// kept in its JSON form (Azure AD's `userIdentities` items).
    pub fn user_identity(id: AlternativeSecurityId) -> ClaimValue {
        ClaimValue::Json(DataType::UserIdentity, alt_sec_id_to_json(&id))
    }

    /// A `userIdentityCollection`.
    pub fn user_identities(ids: &[AlternativeSecurityId]) -> ClaimValue {
        ClaimValue::Json(DataType::UserIdentityCollection, ids.iter().map(alt_sec_id_to_json).collect())
    }

    /// The identities of a `userIdentity` or `userIdentityCollection` value.
    pub fn as_user_identities(&self) -> Option<Vec<AlternativeSecurityId>> {
        match self {
            ClaimValue::Json(DataType::UserIdentity, v) => alt_sec_id_from_json(v).map(|id| vec![id]),
            ClaimValue::Json(DataType::UserIdentityCollection, serde_json::Value::Array(items)) => {
                items.iter().map(alt_sec_id_from_json).collect()
            }
            _ => None,
        }
    }

    /// The JSON form, inverse of [`ClaimValue::from_json`].
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            ClaimValue::Boolean(b) => J::Bool(*b),
            ClaimValue::Int(n) => J::from(*n),
            ClaimValue::Long(n) => J::from(*n),
            ClaimValue::StringCollection(items) => J::Array(items.iter().cloned().map(J::String).collect()),
            ClaimValue::AlternativeSecurityId(id) => alt_sec_id_to_json(id),
            ClaimValue::AlternativeSecurityIdCollection(ids) => J::Array(ids.iter().map(alt_sec_id_to_json).collect()),
            ClaimValue::Json(_, v) => v.clone(),
            other => J::String(other.to_string()),
        }
    }

    /// The string a B2C `string` slot sees; `None` for non-string values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ClaimValue::String(s) | ClaimValue::PhoneNumber(s) | ClaimValue::Duration(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ClaimValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ClaimValue::Int(n) => Some(i64::from(*n)),
            ClaimValue::Long(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_collection(&self) -> Option<&[String]> {
        match self {
            ClaimValue::StringCollection(items) => Some(items),
            _ => None,
        }
    }
}

/// The invariant text form B2C uses when a value is shown or compared as a string:
/// `True`/`False`, ISO dates, dateTimes as `yyyy-MM-ddTHH:mm:ss.fffffffZ`, collections comma-joined.
impl fmt::Display for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimValue::String(s) | ClaimValue::PhoneNumber(s) | ClaimValue::Duration(s) => f.write_str(s),
            ClaimValue::Boolean(true) => f.write_str("True"),
            ClaimValue::Boolean(false) => f.write_str("False"),
            ClaimValue::Int(n) => write!(f, "{n}"),
            ClaimValue::Long(n) => write!(f, "{n}"),
            ClaimValue::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            ClaimValue::DateTime(dt, DateTimeForm::RoundTrip) => f.write_str(&format_date_time(*dt)),
            ClaimValue::DateTime(dt, DateTimeForm::Json) => f.write_str(&format_json_date_time(*dt)),
            ClaimValue::StringCollection(items) => f.write_str(&items.join(",")),
            ClaimValue::AlternativeSecurityId(id) => write!(f, "{}", alt_sec_id_to_json(id)),
            ClaimValue::AlternativeSecurityIdCollection(ids) => {
                let json: Vec<_> = ids.iter().map(alt_sec_id_to_json).collect();
                write!(f, "{}", serde_json::Value::Array(json))
            }
            ClaimValue::Json(_, v) => write!(f, "{v}"),
        }
    }
}

/// Lenient boolean parsing: `true`/`false` in any case, and `1`/`0` as real policies write them.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Some(false)
    } else {
        None
    }
}

/// The strftime formats read after RFC 3339, in the order tried, and the date's, each parsed
/// into items once: `parse_from_str` would parse its format again on every call.
static DATE_TIME_FORMATS: LazyLock<[Vec<Item<'static>>; 3]> =
    LazyLock::new(|| ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f"].map(format_items));
static DATE_FORMAT: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| format_items("%Y-%m-%d"));

fn format_items(format: &'static str) -> Vec<Item<'static>> {
    StrftimeItems::new(format).collect()
}

/// What `parse_from_str` does with a format already parsed into items.
fn parse_items(text: &str, items: &[Item<'static>]) -> Option<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
    Some(parsed)
}

/// `yyyy-MM-dd`; a dateTime literal is accepted and truncated, as .NET's `DateTime.Parse` does.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    parse_items(text, &DATE_FORMAT)
        .and_then(|p| p.to_naive_date().ok())
        .or_else(|| parse_date_time(text).map(|dt| dt.date()))
}

/// ISO 8601 date and time; offsets are converted to UTC, a missing offset is read as UTC,
/// a bare date is midnight.
pub fn parse_date_time(text: &str) -> Option<NaiveDateTime> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc).naive_utc());
    }
    let no_z = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')).unwrap_or(text);
    for items in DATE_TIME_FORMATS.iter() {
        if let Some(dt) = parse_items(no_z, items).and_then(|p| p.to_naive_datetime_with_offset(0).ok()) {
            return Some(dt);
        }
    }
    parse_items(text, &DATE_FORMAT).and_then(|p| p.to_naive_date().ok()).and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// B2C's round-trip form: seven fractional digits and `Z`.
pub fn format_date_time(dt: NaiveDateTime) -> String {
    let utc = dt.and_utc();
    let base = utc.to_rfc3339_opts(SecondsFormat::Secs, true);
    let nanos = utc.timestamp_subsec_nanos();
    // Insert the 7-digit fraction before the trailing `Z`.
    format!("{}.{:07}Z", &base[..base.len() - 1], nanos / 100)
}

/// Json.NET's ISO form: the round-trip form with the fraction's trailing zeros dropped.
pub fn format_json_date_time(dt: NaiveDateTime) -> String {
    let text = format_date_time(dt);
    let Some((seconds, fraction)) = text.strip_suffix('Z').and_then(|t| t.split_once('.')) else {
        return text;
    };
    match fraction.trim_end_matches('0') {
        "" => format!("{seconds}Z"),
        digits => format!("{seconds}.{digits}Z"),
    }
}

fn is_duration(text: &str) -> bool {
    // PnYnMnDTnHnMnS, with B2C's `Mo` for months tolerated; at least one component.
    let Some(rest) = text.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let components = |part: &str, units: &[&str]| -> Option<usize> {
        let mut count = 0;
        let mut rest = part;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(rest.len());
            if digits == 0 {
                return None;
            }
            rest = &rest[digits..];
            let unit = units.iter().find(|u| rest.starts_with(**u))?;
            rest = &rest[unit.len()..];
            count += 1;
        }
        Some(count)
    };
    let Some(n_date) = components(date, &["Y", "Mo", "M", "W", "D"]) else {
        return false;
    };
    match time {
        Some(t) => matches!(components(t, &["H", "M", "S"]), Some(n) if n > 0),
        None => n_date > 0,
    }
}

fn alt_sec_id_from_json(json: &serde_json::Value) -> Option<AlternativeSecurityId> {
    let obj = json.as_object()?;
    Some(AlternativeSecurityId {
        issuer: obj.get("issuer")?.as_str()?.to_owned(),
        issuer_user_id: obj.get("issuerUserId")?.as_str()?.to_owned(),
    })
}

fn alt_sec_id_to_json(id: &AlternativeSecurityId) -> serde_json::Value {
    serde_json::json!({ "issuer": id.issuer, "issuerUserId": id.issuer_user_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_parse_leniently_and_print_capitalised() {
        for (text, b) in [("true", true), ("True", true), ("1", true), ("FALSE", false), ("0", false)] {
            assert_eq!(ClaimValue::parse(DataType::Boolean, text), Ok(ClaimValue::Boolean(b)));
        }
        assert!(ClaimValue::parse(DataType::Boolean, "yes").is_err());
        assert_eq!(ClaimValue::Boolean(true).to_string(), "True");
    }

    #[test]
    fn date_times_round_trip_in_b2c_form() {
        let v = ClaimValue::parse(DataType::DateTime, "2020-03-09T09:15:00").unwrap();
        assert_eq!(v.to_string(), "2020-03-09T09:15:00.0000000Z");
        let v = ClaimValue::parse(DataType::DateTime, "2022-01-03T00:00:00.1234567+01:00").unwrap();
        assert_eq!(v.to_string(), "2022-01-02T23:00:00.1234567Z");
        assert!(ClaimValue::parse(DataType::DateTime, "yesterday").is_err());
    }

    #[test]
    fn json_date_times_drop_trailing_fraction_zeros() {
        let at = |text| parse_date_time(text).unwrap();
        let json = |text| ClaimValue::DateTime(at(text), DateTimeForm::Json).to_string();
        assert_eq!(json("2005-09-23T00:00:00Z"), "2005-09-23T00:00:00Z");
        assert_eq!(json("2005-09-23T00:00:00.0000000Z"), "2005-09-23T00:00:00Z");
        assert_eq!(json("2005-09-23T00:00:00.1234500Z"), "2005-09-23T00:00:00.12345Z");
        assert_eq!(json("2005-09-23T00:00:00.0000001Z"), "2005-09-23T00:00:00.0000001Z");
        assert_eq!(ClaimValue::date_time(at("2005-09-23T00:00:00Z")).to_string(), "2005-09-23T00:00:00.0000000Z");
    }

    #[test]
    fn integers_are_bounded_by_their_type() {
        assert!(ClaimValue::parse(DataType::Int, "2147483648").is_err());
        assert_eq!(ClaimValue::parse(DataType::Long, " 2147483648 "), Ok(ClaimValue::Long(2147483648)));
    }

    #[test]
    fn durations_need_a_component() {
        assert!(ClaimValue::parse(DataType::Duration, "P1Y2Mo5D").is_ok());
        assert!(ClaimValue::parse(DataType::Duration, "PT90S").is_ok());
        assert!(ClaimValue::parse(DataType::Duration, "P").is_err());
        assert!(ClaimValue::parse(DataType::Duration, "PT").is_err());
        assert!(ClaimValue::parse(DataType::Duration, "1 day").is_err());
    }

    #[test]
    fn json_forms_round_trip() {
        let json = serde_json::json!([{"issuer": "facebook.com", "issuerUserId": "MTIzNA=="}]);
        let v = ClaimValue::from_json(DataType::AlternativeSecurityIdCollection, &json).unwrap();
        assert_eq!(v.to_json(), json);
        let v = ClaimValue::from_json(DataType::Date, &serde_json::json!("2024-02-29")).unwrap();
        assert_eq!(v.to_json(), serde_json::json!("2024-02-29"));
        assert!(ClaimValue::from_json(DataType::Int, &serde_json::json!("7")).is_ok());
        assert!(ClaimValue::from_json(DataType::StringCollection, &serde_json::json!("a")).is_err());
    }

    #[test]
    fn user_identities_have_the_alternative_security_id_shape() {
        let json = serde_json::json!([{"issuer": "facebook.com", "issuerUserId": "MTIzNA=="}]);
        let v = ClaimValue::from_json(DataType::UserIdentityCollection, &json).unwrap();
        assert_eq!(v.data_type(), DataType::UserIdentityCollection);
        assert_eq!(v.to_json(), json);
        let ids = v.as_user_identities().unwrap();
        assert_eq!(
            ids,
            vec![AlternativeSecurityId { issuer: "facebook.com".into(), issuer_user_id: "MTIzNA==".into() }]
        );
        let one = ClaimValue::parse(DataType::UserIdentity, r#"{"issuer":"live.com","issuerUserId":"eA=="}"#).unwrap();
        assert_eq!(one.data_type(), DataType::UserIdentity);
        assert_eq!(one.as_user_identities().unwrap()[0].issuer, "live.com");
        assert!(ClaimValue::parse(DataType::UserIdentity, r#"{"issuer":"live.com"}"#).is_err());
        assert!(ClaimValue::from_json(DataType::UserIdentityCollection, &serde_json::json!([1])).is_err());
    }
}
