//! B2C's URL forms, normalised to (tenant, policy, endpoint): the policy in the path or as
//! `?p=`, an optional `/tfp/` or `/te/` prefix, the tenant by name or GUID, any case.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Discovery,
    Keys,
    Authorize,
    Token,
    Logout,
    /// `openid/v2.0/userinfo`: GET or POST with a bearer access token.
    UserInfo,
    /// `POST /SelfAsserted`: a page's form (also `POST /Phonefactor/verify`, the code page's).
    SelfAsserted,
    /// `POST /SelfAsserted/DisplayControlAction/vbeta/{control}/{action}`: a display control's
    /// button (server-spec §2.6).
    DisplayControl {
        control: String,
        action: String,
    },
    /// `GET /api/{api}/confirmed`.
    Confirmed,
    /// `GET /api/{api}/unified?claimsexchange=…|local=signup`.
    Unified,
    /// An identity provider's callback: `/{tenant}[/{policy}]/oauth2/authresp` or
    /// `/{tenant}/{policy}/oauth1/authresp`.
    AuthResp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub tenant: String,
    /// From the path when it names one, else `p=`.
    pub policy: Option<String>,
    pub endpoint: Endpoint,
    /// Whether the policy came from the path (metadata echoes the form it was asked in).
    pub policy_in_path: bool,
}

const ENDPOINTS: [(&[&str], Endpoint); 6] = [
    (&["v2.0", ".well-known", "openid-configuration"], Endpoint::Discovery),
    (&["discovery", "v2.0", "keys"], Endpoint::Keys),
    (&["oauth2", "v2.0", "authorize"], Endpoint::Authorize),
    (&["oauth2", "v2.0", "token"], Endpoint::Token),
    (&["oauth2", "v2.0", "logout"], Endpoint::Logout),
    (&["openid", "v2.0", "userinfo"], Endpoint::UserInfo),
];

/// Parses a request path; `p` is the `p=` query parameter, if any.
pub fn parse(path: &str, p: Option<&str>) -> Option<Route> {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first().is_some_and(|s| s.eq_ignore_ascii_case("tfp") || s.eq_ignore_ascii_case("te")) {
        segments.remove(0);
    }
    let (&tenant, rest) = segments.split_first()?;
    let (endpoint, before) = endpoint_of(rest)?;
    let (policy, policy_in_path) = match before {
        [] => (p.map(str::to_owned), false),
        [policy] => (Some((*policy).to_owned()), true),
        _ => return None,
    };
    Some(Route { tenant: tenant.to_owned(), policy, endpoint, policy_in_path })
}

/// The endpoint `rest` ends with, and the segments before it.
fn endpoint_of<'a, 'b>(rest: &'b [&'a str]) -> Option<(Endpoint, &'b [&'a str])> {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    for (suffix, endpoint) in ENDPOINTS {
        if lower.len() >= suffix.len() && lower[lower.len() - suffix.len()..] == *suffix {
            return Some((endpoint, &rest[..rest.len() - suffix.len()]));
        }
    }
    match lower.as_slice() {
        [.., protocol, last] if last == "authresp" && (protocol == "oauth2" || protocol == "oauth1") => {
            Some((Endpoint::AuthResp, &rest[..rest.len() - 2]))
        }
        [.., last] if last == "selfasserted" => Some((Endpoint::SelfAsserted, &rest[..rest.len() - 1])),
        [.., page, verify] if page == "phonefactor" && verify == "verify" => {
            Some((Endpoint::SelfAsserted, &rest[..rest.len() - 2]))
        }
        [.., page, call, _, _, _] if page == "selfasserted" && call == "displaycontrolaction" => {
            let n = rest.len();
            let endpoint = Endpoint::DisplayControl { control: rest[n - 2].to_owned(), action: rest[n - 1].to_owned() };
            Some((endpoint, &rest[..n - 5]))
        }
        [.., api, _, action] if api == "api" && (action == "confirmed" || action == "unified") => {
            let endpoint = if action == "confirmed" { Endpoint::Confirmed } else { Endpoint::Unified };
            Some((endpoint, &rest[..rest.len() - 3]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str, p: Option<&str>) -> (String, Option<String>, Endpoint) {
        let r = parse(path, p).unwrap_or_else(|| panic!("{path} does not route"));
        (r.tenant, r.policy, r.endpoint)
    }

    #[test]
    fn every_b2c_form_routes_to_the_same_endpoint() {
        let want = |e: Endpoint| ("contoso.onmicrosoft.com".to_owned(), Some("B2C_1A_signup_signin".to_owned()), e);
        for path in [
            "/contoso.onmicrosoft.com/B2C_1A_signup_signin/oauth2/v2.0/authorize",
            "/tfp/contoso.onmicrosoft.com/B2C_1A_signup_signin/oauth2/v2.0/authorize",
            "/te/contoso.onmicrosoft.com/B2C_1A_signup_signin/OAuth2/v2.0/Authorize",
        ] {
            assert_eq!(route(path, None), want(Endpoint::Authorize), "{path}");
        }
        assert_eq!(
            route("/contoso.onmicrosoft.com/oauth2/v2.0/token", Some("B2C_1A_signup_signin")),
            want(Endpoint::Token)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", Some("B2C_1A_signup_signin")),
            want(Endpoint::Discovery)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/B2C_1A_signup_signin/openid/v2.0/userinfo", None),
            want(Endpoint::UserInfo)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/B2C_1A_signup_signin/discovery/v2.0/keys", None),
            want(Endpoint::Keys)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/B2C_1A_signup_signin/api/CombinedSigninAndSignup/confirmed", None),
            want(Endpoint::Confirmed)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/B2C_1A_signup_signin/SelfAsserted", None),
            want(Endpoint::SelfAsserted)
        );
        assert_eq!(
            route("/contoso.onmicrosoft.com/B2C_1A_signup_signin/Phonefactor/verify", None),
            want(Endpoint::SelfAsserted)
        );
        let press = Endpoint::DisplayControl { control: "emailControl".to_owned(), action: "SendCode".to_owned() };
        assert_eq!(
            route(
                "/contoso.onmicrosoft.com/B2C_1A_signup_signin/SelfAsserted/DisplayControlAction/vbeta/emailControl/SendCode",
                None
            ),
            want(press)
        );
    }

    #[test]
    fn other_paths_do_not_route() {
        for path in ["/", "/contoso.onmicrosoft.com", "/a/b/c/oauth2/v2.0/authorize", "/t/p/api/x/deleted", "/tfp"] {
            assert!(parse(path, None).is_none(), "{path}");
        }
    }
}
