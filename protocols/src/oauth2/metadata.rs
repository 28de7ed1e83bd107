//! The OAuth2 profile's metadata, read and checked once per call: every bad value is refused
//! with its key named, before the user is sent anywhere.

use ief_engine::exec::ProfileError;
use ief_engine::model::TechnicalProfile;
use reqwest::Url;

use crate::federation::{error, flag};

/// How the identity provider returns the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// The token request's method (`HttpBinding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpBinding {
    Get,
    Post,
}

/// How to read the token response (`AccessTokenResponseFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// JSON when the answer is JSON, else form-encoded (early Facebook, GitHub).
    Default,
    /// Asks for JSON and requires it.
    Json,
    /// JSON wrapped in a callback: `cb({...})`.
    JsonP,
}

/// Where the access token goes at the claims endpoint (`BearerTokenTransmissionMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerTransmission {
    Query,
    AuthorizationHeader,
}

/// Parameters the journey may not replace: they carry the flow itself.
pub(super) const RESERVED: [&str; 4] = ["client_id", "redirect_uri", "response_type", "state"];

#[derive(Debug)]
pub struct Metadata {
    pub authorization_endpoint: Url,
    pub access_token_endpoint: String,
    pub claims_endpoint: Url,
    pub scope: Option<String>,
    pub response_mode: ResponseMode,
    pub additional_query: Vec<(String, String)>,
    pub http_binding: HttpBinding,
    pub token_format: TokenFormat,
    pub bearer: BearerTransmission,
    /// `ClaimsEndpointAccessTokenName`, default `access_token`.
    pub token_parameter: String,
    /// `ClaimsEndpointFormatName` = `ClaimsEndpointFormat`.
    pub format_parameter: Option<(String, String)>,
    /// Fields of the token response copied into the claims request
    /// (`ExtraParamsInAccessTokenEndpointResponse`, `ExtraParamsInClaimsEndpointRequest`).
    pub extra_claims_params: Vec<String>,
    /// `ExtraParamsInAccessTokenEndpointResponse` alone: these may also be output claims.
    pub extra_token_fields: Vec<String>,
    pub error_parameter: Option<String>,
    pub json_paths: bool,
    pub use_policy_in_redirect_uri: bool,
    pub id_token_audience: Option<String>,
}

fn required<'a>(profile: &'a TechnicalProfile, key: &str) -> Result<&'a str, ProfileError> {
    profile
        .metadata(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| error("MissingMetadata", format!("the metadata item '{key}' is missing")))
}

fn optional<'a>(profile: &'a TechnicalProfile, key: &str) -> Option<&'a str> {
    profile.metadata(key).map(str::trim).filter(|v| !v.is_empty())
}

fn invalid(message: String) -> ProfileError {
    error("InvalidMetadata", message)
}

/// An absolute http(s) URL.
fn endpoint(profile: &TechnicalProfile, key: &str) -> Result<Url, ProfileError> {
    let text = required(profile, key)?;
    let url = Url::parse(text).map_err(|e| invalid(format!("{key} '{text}' is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("{key} '{text}' is not an http or https URL")));
    }
    Ok(url)
}

/// A comma-separated list of names (`a,b`, spaces allowed).
fn names(profile: &TechnicalProfile, key: &str) -> Vec<String> {
    optional(profile, key)
        .map(|v| v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

impl Metadata {
    pub fn read(profile: &TechnicalProfile) -> Result<Metadata, ProfileError> {
        let authorization_endpoint = endpoint(profile, "authorization_endpoint")?;
        let access_token_endpoint = endpoint(profile, "AccessTokenEndpoint")?.to_string();
        let claims_endpoint = endpoint(profile, "ClaimsEndpoint")?;
        let response_mode = match optional(profile, "response_mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("form_post") => ResponseMode::FormPost,
            Some("query") => ResponseMode::Query,
            Some("fragment") => {
                return Err(invalid(
                    "response_mode 'fragment' returns the code in the URL fragment, which only a browser's script \
                     can read; ief runs journeys without one: use query or form_post"
                        .to_owned(),
                ));
            }
            Some(other) => return Err(invalid(format!("response_mode '{other}' is not one of query, form_post"))),
        };
        let http_binding = match optional(profile, "HttpBinding").map(str::to_ascii_uppercase).as_deref() {
            None | Some("POST") => HttpBinding::Post,
            Some("GET") => HttpBinding::Get,
            Some(other) => return Err(invalid(format!("HttpBinding '{other}' is not GET or POST"))),
        };
        let token_format = match optional(profile, "AccessTokenResponseFormat").map(str::to_ascii_lowercase).as_deref()
        {
            None | Some("default") => TokenFormat::Default,
            Some("json") => TokenFormat::Json,
            Some("jsonp") => TokenFormat::JsonP,
            Some(other) => {
                return Err(invalid(format!("AccessTokenResponseFormat '{other}' is not one of Default, Json, JsonP")));
            }
        };
        let bearer = match optional(profile, "BearerTokenTransmissionMethod").map(str::to_ascii_lowercase).as_deref() {
            None | Some("querystring") | Some("query") => BearerTransmission::Query,
            Some("authorizationheader") => BearerTransmission::AuthorizationHeader,
            Some(other) => {
                return Err(invalid(format!(
                    "BearerTokenTransmissionMethod '{other}' is not AuthorizationHeader (the default sends the token in the query string)"
                )));
            }
        };
        let format_parameter =
            match (optional(profile, "ClaimsEndpointFormatName"), optional(profile, "ClaimsEndpointFormat")) {
                (Some(name), Some(value)) => Some((name.to_owned(), value.to_owned())),
                (None, None) => None,
                (Some(name), None) => {
                    return Err(invalid(format!("ClaimsEndpointFormatName '{name}' needs ClaimsEndpointFormat")));
                }
                (None, Some(value)) => {
                    return Err(invalid(format!("ClaimsEndpointFormat '{value}' needs ClaimsEndpointFormatName")));
                }
            };
        let extra_token_fields = names(profile, "ExtraParamsInAccessTokenEndpointResponse");
        let mut extra_claims_params = extra_token_fields.clone();
        for name in names(profile, "ExtraParamsInClaimsEndpointRequest") {
            if !extra_claims_params.contains(&name) {
                extra_claims_params.push(name);
            }
        }
        Ok(Metadata {
            authorization_endpoint,
            access_token_endpoint,
            claims_endpoint,
            scope: optional(profile, "scope").map(str::to_owned),
            response_mode,
            additional_query: additional_query(optional(profile, "AdditionalRequestQueryParameters"))?,
            http_binding,
            token_format,
            bearer,
            token_parameter: optional(profile, "ClaimsEndpointAccessTokenName").unwrap_or("access_token").to_owned(),
            format_parameter,
            extra_claims_params,
            extra_token_fields,
            error_parameter: optional(profile, "ResponseErrorCodeParamName").map(str::to_owned),
            json_paths: flag(profile, "ResolveJsonPathsInJsonTokens", false),
            use_policy_in_redirect_uri: flag(profile, "UsePolicyInRedirectUri", false),
            id_token_audience: optional(profile, "IdTokenAudience").map(str::to_owned),
        })
    }
}

/// `AdditionalRequestQueryParameters`: `name=value` pairs separated by commas; values may be
/// percent-encoded already.
fn additional_query(text: Option<&str>) -> Result<Vec<(String, String)>, ProfileError> {
    let mut pairs = Vec::new();
    for item in text.unwrap_or_default().split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = form_urlencoded::parse(item.as_bytes())
            .next()
            .map(|(k, v)| (k.trim().to_owned(), v.into_owned()))
            .unwrap_or_default();
        if name.is_empty() {
            return Err(invalid(format!("AdditionalRequestQueryParameters has an item without a name: '{item}'")));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(invalid(format!(
                "AdditionalRequestQueryParameters may not set '{name}', which the authorization request carries itself"
            )));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additional_parameters_split_on_commas_and_decode() {
        let pairs = additional_query(Some("prompt=login, access_type=offline,hd=a%2Cb,flag")).unwrap();
        assert_eq!(
            pairs,
            [
                ("prompt".to_owned(), "login".to_owned()),
                ("access_type".to_owned(), "offline".to_owned()),
                ("hd".to_owned(), "a,b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(additional_query(Some("=x")).unwrap_err().user_message.contains("without a name"));
        assert!(additional_query(Some("state=x")).unwrap_err().user_message.contains("may not set 'state'"));
        assert!(additional_query(None).unwrap().is_empty());
    }
}
