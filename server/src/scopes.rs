//! Which API an access token is for: the `scope` parameter against the app registrations'
//! exposed APIs and granted permissions (server-spec §1.4–1.6).

use crate::apps::{App, Apps};

/// The API an access token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The API's client id: the token's `aud` and the response's `resource`.
    pub audience: String,
    /// The granted scope names: the token's `scp` (none for the app's own client id).
    pub scopes: Vec<String>,
}

/// A scope B2C refuses: its code and text.
pub type Refusal = (&'static str, String);

/// Scopes that ask for no access token.
fn is_oidc_scope(scope: &str) -> bool {
    matches!(scope, "openid" | "offline_access" | "profile" | "email")
}

/// The API the scope names, `None` when it names none (no access token), or B2C's refusal.
/// `.default` stands for every scope of the API granted to the client.
pub fn resolve(apps: &Apps, client: &App, scope: &str) -> Result<Option<Resource>, Refusal> {
    let mut resource: Option<Resource> = None;
    for item in scope.split(' ').filter(|s| !s.is_empty() && !is_oidc_scope(s)) {
        let (audience, names) = if item.eq_ignore_ascii_case(&client.client_id) {
            (client.client_id.clone(), Vec::new())
        } else if let Some((identifier, name)) = item.rsplit_once('/').filter(|_| item.contains("://")) {
            api_scope(apps, client, item, identifier, name)?
        } else {
            // A plain word (a claim name a library adds) names no API.
            continue;
        };
        match &mut resource {
            None => resource = Some(Resource { audience, scopes: names }),
            Some(r) if r.audience.eq_ignore_ascii_case(&audience) => {
                for n in names {
                    if !r.scopes.contains(&n) {
                        r.scopes.push(n);
                    }
                }
            }
            Some(_) => {
                let message = format!(
                    "The scope '{scope}' provided in request specifies more than one resource for an access token, which is not supported."
                );
                return Err(("AADB2C90146", message));
            }
        }
    }
    Ok(resource)
}

/// `{identifier}/{name}`: the API's client id and the granted names.
fn api_scope(
    apps: &Apps,
    client: &App,
    item: &str,
    identifier: &str,
    name: &str,
) -> Result<(String, Vec<String>), Refusal> {
    let not_supported = || ("AADB2C90012", format!("The scope '{item}' provided in request is not supported."));
    let api_app =
        apps.iter().find(|a| a.api.as_ref().is_some_and(|api| api.identifier.eq_ignore_ascii_case(identifier)));
    let Some(api_app) = api_app else {
        // The development app has no registrations to check against: its own API, any scope.
        return match client.loopback {
            true if name != ".default" => Ok((client.client_id.clone(), vec![name.to_owned()])),
            _ => Err(not_supported()),
        };
    };
    let api = api_app.api.as_ref().ok_or_else(not_supported)?;
    let granted: Vec<&String> = if api_app.client_id.eq_ignore_ascii_case(&client.client_id) {
        api.scopes.iter().collect()
    } else {
        client
            .api_permissions
            .iter()
            .filter(|(id, _)| id.trim_end_matches('/').eq_ignore_ascii_case(identifier))
            .flat_map(|(_, names)| names)
            .collect()
    };
    let names: Vec<String> = if name == ".default" {
        granted.into_iter().cloned().collect()
    } else if !api.scopes.iter().any(|s| s == name) {
        return Err(not_supported());
    } else if granted.iter().any(|s| *s == name) {
        vec![name.to_owned()]
    } else {
        Vec::new()
    };
    if names.is_empty() {
        let message =
            "This application does not have sufficient permissions against this web resource to perform the operation.";
        return Err(("AADB2C90205", message.to_owned()));
    }
    Ok((api_app.client_id.clone(), names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ief_protocols::keys::KeyStore;

    fn apps() -> Apps {
        let text = "apps:
  - client_id: orders
    api: {identifier: https://t.example/orders, scopes: [read, write]}
  - client_id: billing
    api: {identifier: https://t.example/billing, scopes: [pay]}
  - client_id: web
    redirect_uris: {public: [x://cb]}
    api_permissions: {https://t.example/orders: [read]}
";
        Apps::parse(std::path::Path::new("apps.yaml"), text, &KeyStore::empty()).expect("valid")
    }

    fn scope_of(client: &str, scope: &str) -> Result<Option<Resource>, Refusal> {
        let apps = apps();
        let app = apps.get(client).expect("app").clone();
        resolve(&apps, &app, scope)
    }

    #[test]
    fn a_granted_scope_names_the_api_as_audience() {
        let want = |aud: &str, scp: &[&str]| {
            Ok(Some(Resource { audience: aud.to_owned(), scopes: scp.iter().map(|s| (*s).to_owned()).collect() }))
        };
        assert_eq!(scope_of("web", "openid offline_access https://t.example/orders/read"), want("orders", &["read"]));
        assert_eq!(scope_of("web", "https://t.example/orders/.default"), want("orders", &["read"]));
        assert_eq!(scope_of("web", "openid web"), want("web", &[]));
        assert_eq!(scope_of("orders", "https://T.example/orders/write"), want("orders", &["write"]), "its own API");
        assert_eq!(scope_of("web", "openid offline_access email"), Ok(None));
    }

    #[test]
    fn scopes_not_granted_unknown_or_of_two_apis_are_refused() {
        let code = |r: Result<Option<Resource>, Refusal>| r.err().map(|(c, _)| c);
        assert_eq!(code(scope_of("web", "https://t.example/orders/write")), Some("AADB2C90205"));
        assert_eq!(code(scope_of("web", "https://t.example/billing/pay")), Some("AADB2C90205"));
        assert_eq!(code(scope_of("web", "https://t.example/billing/.default")), Some("AADB2C90205"));
        assert_eq!(code(scope_of("web", "https://t.example/orders/delete")), Some("AADB2C90012"));
        assert_eq!(code(scope_of("web", "https://t.example/stock/read")), Some("AADB2C90012"));
        assert_eq!(code(scope_of("web", "https://t.example/orders/read web")), Some("AADB2C90146"));
    }
}
