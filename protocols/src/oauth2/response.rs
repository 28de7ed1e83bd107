//! What comes back from the identity provider, without I/O: the token response in its three
//! formats, error fields, and the output claims read from the claims-endpoint JSON.

use ief_engine::exec::{ProfileError, ProfileRequest};
use ief_transforms::{ClaimValue, DataType};
use serde_json::{Map, Value};

use super::metadata::{Metadata, TokenFormat};
use crate::federation::error;
use crate::rest::{json_path, typed};

/// Reads a token response. `Default` takes JSON when the answer is JSON (by content type or
/// shape), else form-encoded fields.
pub(super) fn parse_token_response(
    format: TokenFormat,
    content_type: Option<&str>,
    body: &str,
) -> Result<Map<String, Value>, String> {
    let object = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("the answer is JSON but not an object ({})", kind(&other))),
        Err(e) => Err(format!("the answer is not JSON ({e})")),
    };
    match format {
        TokenFormat::Json => object(body.trim()),
        TokenFormat::JsonP => {
            let text = body.trim();
            match (text.find('('), text.rfind(')')) {
                (Some(open), Some(close)) if open < close && !text.starts_with('{') => object(&text[open + 1..close]),
                _ => object(text),
            }
        }
        TokenFormat::Default => {
            let is_json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"))
                || body.trim_start().starts_with('{');
            if is_json {
                return object(body.trim());
            }
            Ok(form_urlencoded::parse(body.trim().as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect())
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A scalar field as query-string text.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `error` and `error_description` of an error answer (RFC 6749 §5.2), or Facebook's
/// `{"error": {"message": ...}}`, as one line.
pub(super) fn error_detail(fields: &Value) -> Option<String> {
    let described = |code: String| match fields.get("error_description").and_then(text) {
        Some(d) if !d.is_empty() => format!("{code} ({d})"),
        _ => code,
    };
    match fields.get("error")? {
        Value::String(code) if !code.is_empty() => Some(described(code.clone())),
        Value::Object(inner) => {
            let message = inner.get("message").and_then(text)?;
            Some(match inner.get("type").and_then(text) {
                Some(t) => format!("{t}: {message}"),
                None => message,
            })
        }
        _ => None,
    }
}

/// With `ResponseErrorCodeParamName`: the error a provider reports inside an HTTP 200 answer.
pub(super) fn error_in_ok(fields: &Value, parameter: Option<&str>) -> Option<String> {
    let parameter = parameter?;
    let value = fields.get(parameter).filter(|v| !v.is_null())?;
    let code = text(value).unwrap_or_else(|| value.to_string());
    if code.is_empty() {
        return None;
    }
    Some(match fields.get("error_description").and_then(text) {
        Some(d) if !d.is_empty() && parameter != "error_description" => format!("{parameter} = {code} ({d})"),
        _ => format!("{parameter} = {code}"),
    })
}

/// `{oauth2:access_token}` → `access_token` (any case of the prefix).
pub(super) fn token_field(partner: &str) -> Option<&str> {
    let inner = partner.strip_prefix('{')?.strip_suffix('}')?;
    let (group, name) = inner.split_once(':')?;
    group.eq_ignore_ascii_case("oauth2").then_some(name.trim())
}

/// The output claims the provider returned, by partner name: `{oauth2:…}` from the token
/// response, the rest from the claims-endpoint JSON (by JSON path when the profile resolves
/// them, else top-level fields), and fields named in `ExtraParamsInAccessTokenEndpointResponse`
/// from the token response when the claims endpoint lacks them. Values are typed by the
/// ClaimType.
pub(super) fn outputs(
    request: &ProfileRequest<'_>,
    metadata: &Metadata,
    token: &Map<String, Value>,
    claims: &Value,
) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
    let profile = request.profile;
    let mut out: Vec<(String, ClaimValue)> = Vec::new();
    for output in &profile.output_claims {
        let partner = request.policy.partner_name(profile, output);
        if out.iter().any(|(p, _)| *p == partner) {
            continue;
        }
        let found = match token_field(&partner) {
            Some(field) => token.get(field),
            None => {
                let from_claims = if metadata.json_paths {
                    json_path(claims, &partner).or_else(|| claims.get(&partner))
                } else {
                    claims.get(&partner)
                };
                from_claims
                    .filter(|v| !v.is_null())
                    .or_else(|| metadata.extra_token_fields.contains(&partner).then(|| token.get(&partner)).flatten())
            }
        };
        let Some(found) = found.filter(|v| !v.is_null()) else { continue };
        let data_type =
            request.policy.claim(output.claim.as_str()).and_then(|c| c.data_type).unwrap_or(DataType::String);
        let value = typed(data_type, found).ok_or_else(|| {
            error(
                "InvalidResponse",
                format!(
                    "the identity provider returned {found} for '{partner}', which is not a valid {data_type} for the claim '{}'",
                    output.claim.as_str()
                ),
            )
        })?;
        out.push((partner, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn token_responses_parse_in_each_format() {
        let form = "access_token=abc&token_type=bearer&scope=a%20b";
        let parsed =
            parse_token_response(TokenFormat::Default, Some("application/x-www-form-urlencoded"), form).unwrap();
        assert_eq!(parsed["access_token"], "abc");
        assert_eq!(parsed["scope"], "a b");
        let json = r#"{"access_token":"abc","expires_in":60}"#;
        assert_eq!(parse_token_response(TokenFormat::Default, Some("text/plain"), json).unwrap()["expires_in"], 60);
        assert_eq!(parse_token_response(TokenFormat::Json, None, json).unwrap()["access_token"], "abc");
        let err = parse_token_response(TokenFormat::Json, None, form).unwrap_err();
        assert!(err.starts_with("the answer is not JSON"), "{err}");
        assert!(parse_token_response(TokenFormat::Json, None, "[1]").unwrap_err().contains("an array"));
        let padded = r#"callback({"access_token":"p"});"#;
        assert_eq!(parse_token_response(TokenFormat::JsonP, None, padded).unwrap()["access_token"], "p");
        assert_eq!(parse_token_response(TokenFormat::JsonP, None, json).unwrap()["access_token"], "abc");
    }

    #[test]
    fn errors_are_read_from_both_shapes_and_from_ok_answers() {
        assert_eq!(
            error_detail(&json!({"error": "invalid_client", "error_description": "bad secret"})).as_deref(),
            Some("invalid_client (bad secret)")
        );
        assert_eq!(
            error_detail(&json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException"}}))
                .as_deref(),
            Some("OAuthException: Invalid OAuth access token.")
        );
        assert_eq!(error_detail(&json!({"access_token": "x"})), None);
        let ok = json!({"error": "bad_verification_code", "error_description": "The code is wrong."});
        assert_eq!(
            error_in_ok(&ok, Some("error")).as_deref(),
            Some("error = bad_verification_code (The code is wrong.)")
        );
        assert_eq!(error_in_ok(&ok, None), None);
        assert_eq!(error_in_ok(&json!({"error": ""}), Some("error")), None);
    }

    #[test]
    fn oauth2_resolvers_name_token_fields() {
        assert_eq!(token_field("{oauth2:access_token}"), Some("access_token"));
        assert_eq!(token_field("{OAuth2:expires_in}"), Some("expires_in"));
        assert_eq!(token_field("{OIDC:Nonce}"), None);
        assert_eq!(token_field("access_token"), None);
    }
}
