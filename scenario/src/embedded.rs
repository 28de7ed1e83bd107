//! `embedded_providers:` in a scenario: ief's own test identity providers (OpenID Connect,
//! Twitter-like OAuth1, GitHub-like OAuth2) started for the scenario, shared by its runs and
//! stopped when it ends.
//!
//! The providers learn their clients' credentials from the run's policy keys, so the policy and
//! the provider agree without copying secrets into the YAML: a client names a policy key
//! (StorageReferenceId) and the runner reads the secret, the public half of the signing key or
//! the certificate from the KeyStore. For `tls_client_auth` the runner issues a certificate
//! from the OpenID provider's test CA and puts it into the KeyStore under that name.
//!
//! Starting happens in two halves: [`Started::bind`] before the policy loads (the base URLs
//! become the settings `IefOidcUrl`, `IefOAuth1Url`, `IefOAuth2Url`), [`Started::register`]
//! after, when B2C's redirect URIs and the keys are known.

use std::sync::Arc;

use ief_engine::exec::RequestContext;
use ief_engine::model::{Policy, TechnicalProfile};
use serde::Deserialize;
use tokio::net::TcpListener;

use super::{KeyPool, ScenarioError};
use ief_idp::oauth1::{Consumer, OAuth1Config};
use ief_idp::oauth2::{ClientAuthMethod, OAuth2Client, OAuth2ProviderConfig, PublicKey};
use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider};
use ief_idp::{Clock, Served, TestUser};
use ief_protocols::federation::client_auth::Method;
use ief_protocols::federation::{Callback, flag, redirect_uri};
use ief_protocols::keys::KeyStore;

/// The setting that holds the OpenID provider's issuer (`https://127.0.0.1:PORT`).
pub const OIDC_URL_SETTING: &str = "IefOidcUrl";
/// The setting that holds the OAuth1 provider's base URL (`http://127.0.0.1:PORT`).
pub const OAUTH1_URL_SETTING: &str = "IefOAuth1Url";
/// The setting that holds the OAuth2 provider's base URL (`http://127.0.0.1:PORT`).
pub const OAUTH2_URL_SETTING: &str = "IefOAuth2Url";

/// The `embedded_providers:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedProviders {
    /// Users of every provider that lists none of its own.
    #[serde(default)]
    pub users: Vec<TestUser>,
    pub oidc: Option<EmbeddedOidc>,
    pub oauth1: Option<EmbeddedOAuth1>,
    pub oauth2: Option<EmbeddedOAuth2>,
}

/// The OpenID provider (`idp::oidc`): discovery, login form, token endpoint, userinfo.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedOidc {
    #[serde(default)]
    pub users: Vec<TestUser>,
    #[serde(default)]
    pub clients: Vec<EmbeddedClient>,
    /// Sign this user in without the login form.
    pub auto_login: Option<String>,
}

/// The Twitter-like OAuth 1.0a provider (`idp::oauth1`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedOAuth1 {
    /// Shown on its sign-in page (default Twitter).
    pub name: Option<String>,
    #[serde(default)]
    pub users: Vec<TestUser>,
    pub consumers: Vec<EmbeddedConsumer>,
    pub auto_login: Option<String>,
}

/// The GitHub- and Facebook-like OAuth2 provider (`idp::oauth2`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedOAuth2 {
    #[serde(default)]
    pub users: Vec<TestUser>,
    #[serde(default)]
    pub clients: Vec<EmbeddedClient>,
    pub auto_login: Option<String>,
}

/// A client registered at the OpenID or OAuth2 provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedClient {
    pub client_id: String,
    /// `client_secret_post`, `client_secret_basic`, `private_key_jwt`, and at the OpenID
    /// provider also `tls_client_auth` and `self_signed_tls_client_auth`.
    pub token_endpoint_auth_method: String,
    /// The policy key (StorageReferenceId) holding the client's credential: the secret, the
    /// RSA key whose public half verifies assertions, the self-signed certificate, or, for
    /// `tls_client_auth`, where the runner puts the certificate it issues.
    pub key: String,
    /// `tls_client_auth`: the certificate's subject (RFC 4514).
    pub subject_dn: Option<String>,
    /// `private_key_jwt`: RS256 or RS512; by default the `token_signing_algorithm` of the
    /// technical profiles using the client, else RS256.
    pub signing_alg: Option<String>,
    /// Bind access tokens to the client certificate (RFC 8705).
    #[serde(default)]
    pub certificate_bound: bool,
}

/// A consumer registered at the OAuth1 provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConsumer {
    pub consumer_key: String,
    /// The policy key (StorageReferenceId) holding the consumer secret.
    pub key: String,
}

impl EmbeddedProviders {
    /// Policy keys the section names that the runner must generate when it generates keys
    /// (not the `tls_client_auth` ones: the runner issues those itself).
    pub(crate) fn key_names(&self) -> Vec<String> {
        let clients = self.oidc.iter().flat_map(|o| &o.clients).chain(self.oauth2.iter().flat_map(|o| &o.clients));
        let mut names: Vec<String> = clients
            .filter(|c| Method::parse(&c.token_endpoint_auth_method) != Some(Method::TlsClientAuth))
            .map(|c| c.key.clone())
            .chain(self.oauth1.iter().flat_map(|o| o.consumers.iter().map(|c| c.key.clone())))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn users_or_shared(&self, own: &[TestUser]) -> Vec<TestUser> {
        if own.is_empty() { self.users.clone() } else { own.to_vec() }
    }
}

fn setup(message: String) -> ScenarioError {
    ScenarioError::Setup(format!("embedded_providers: {message}"))
}

/// The providers of one scenario. The OpenID provider runs from the start (clients are added
/// later); the OAuth1 and OAuth2 providers hold their port until their clients are known.
pub(crate) struct Started {
    oidc: Option<OidcProvider>,
    oauth1: Slot,
    oauth2: Slot,
    clock: Clock,
    seed: Option<u64>,
}

/// A provider's port, then its server.
enum Slot {
    None,
    Bound(TcpListener, String),
    Serving(#[allow(dead_code)] Served),
}

impl Slot {
    async fn bind(wanted: bool, what: &str) -> Result<Slot, ScenarioError> {
        if !wanted {
            return Ok(Slot::None);
        }
        let listener = Served::listen(0)
            .await
            .map_err(|e| setup(format!("the {what} provider cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener.local_addr().map_err(|e| setup(format!("the {what} provider: {e}")))?;
        Ok(Slot::Bound(listener, format!("http://{addr}")))
    }

    fn url(&self) -> Option<&str> {
        match self {
            Slot::Bound(_, url) => Some(url),
            _ => None,
        }
    }
}

impl Started {
    /// Starts the OpenID provider (without clients) and reserves the OAuth ports. `clock` is
    /// the run's time; `seed` makes the OAuth2 provider's codes and tokens repeatable.
    pub(crate) async fn bind(
        spec: &EmbeddedProviders,
        clock: Clock,
        seed: Option<u64>,
        pool: &KeyPool,
    ) -> Result<Started, ScenarioError> {
        let oidc = match &spec.oidc {
            Some(oidc) => {
                let signing = pool.rsa("oidc signing").map_err(|e| setup(format!("oidc: {e}")))?;
                let config = OidcConfig {
                    signing_key_pem: Some(signing),
                    users: spec.users_or_shared(&oidc.users),
                    auto_login: oidc.auto_login.clone(),
                    clock: clock.clone(),
                    ..OidcConfig::default()
                };
                Some(OidcProvider::start(config).await.map_err(|e| setup(format!("oidc: {e}")))?)
            }
            None => None,
        };
        let oauth1 = Slot::bind(spec.oauth1.is_some(), "OAuth1").await?;
        let oauth2 = Slot::bind(spec.oauth2.is_some(), "OAuth2").await?;
        Ok(Started { oidc, oauth1, oauth2, clock, seed })
    }

    /// `{Settings:Name}` values: each provider's base URL.
    pub(crate) fn settings(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(op) = &self.oidc {
            out.push((OIDC_URL_SETTING.to_owned(), op.issuer().to_owned()));
        }
        if let Some(url) = self.oauth1.url() {
            out.push((OAUTH1_URL_SETTING.to_owned(), url.to_owned()));
        }
        if let Some(url) = self.oauth2.url() {
            out.push((OAUTH2_URL_SETTING.to_owned(), url.to_owned()));
        }
        out
    }

    /// The OpenID provider's CA (it serves HTTPS), to trust during the run.
    pub(crate) fn trusted_root(&self) -> Option<String> {
        self.oidc.as_ref().map(|op| op.ca_pem().to_owned())
    }

    /// Registers the clients with B2C's redirect URIs for the request's host and their
    /// credentials from `keys` (issuing `tls_client_auth` certificates into it), then serves
    /// the OAuth providers. Returns the names of the keys it issued.
    pub(crate) fn register(
        &mut self,
        spec: &EmbeddedProviders,
        policy: &Policy,
        context: &RequestContext,
        keys: &mut KeyStore,
        pool: &KeyPool,
    ) -> Result<Vec<String>, ScenarioError> {
        let mut issued = Vec::new();
        if let (Some(op), Some(oidc)) = (&self.oidc, &spec.oidc) {
            for client in &oidc.clients {
                let config = oidc_client(op, client, policy, context, keys, pool)?;
                if config.token_endpoint_auth_method == Method::TlsClientAuth {
                    issued.push(client.key.clone());
                }
                op.register(config).map_err(|e| setup(format!("oidc: {e}")))?;
            }
        }
        if let (Some(oauth1), Slot::Bound(..)) = (&spec.oauth1, &self.oauth1) {
            let Some(first) = oauth1.consumers.first() else {
                return Err(setup("oauth1: no consumers are configured".to_owned()));
            };
            let mut config = OAuth1Config::new(first.consumer_key.clone(), "unset");
            config.consumers = oauth1
                .consumers
                .iter()
                .map(|c| Ok(Consumer { key: c.consumer_key.clone(), secret: secret(keys, &c.key, "oauth1")? }))
                .collect::<Result<_, ScenarioError>>()?;
            if let Some(name) = &oauth1.name {
                config.name = name.clone();
            }
            config.users = spec.users_or_shared(&oauth1.users);
            config.auto_login = oauth1.auto_login.clone();
            config.clock = self.clock.clone();
            let router = ief_idp::oauth1::router(config).map_err(|e| setup(e.to_string()))?;
            self.oauth1.serve(router, "OAuth1")?;
        }
        if let (Some(oauth2), Slot::Bound(_, base)) = (&spec.oauth2, &self.oauth2) {
            let clients = oauth2
                .clients
                .iter()
                .map(|c| oauth2_client(c, policy, context, keys))
                .collect::<Result<Vec<_>, _>>()?;
            let config = OAuth2ProviderConfig {
                users: spec.users_or_shared(&oauth2.users),
                clients,
                auto_login: oauth2.auto_login.clone(),
                seed: self.seed,
                clock: self.clock.clone(),
                ..OAuth2ProviderConfig::default()
            };
            let (router, base_url) = ief_idp::oauth2::router(config).map_err(|e| setup(e.to_string()))?;
            // Client assertions name the token endpoint, so the provider must know its URL.
            let _ = base_url.set(base.clone());
            self.oauth2.serve(router, "OAuth2")?;
        }
        Ok(issued)
    }
}

impl Slot {
    fn serve(&mut self, router: axum::Router, what: &str) -> Result<(), ScenarioError> {
        match std::mem::replace(self, Slot::None) {
            Slot::Bound(listener, _) => {
                let served =
                    Served::http_on(listener, router).map_err(|e| setup(format!("the {what} provider: {e}")))?;
                *self = Slot::Serving(served);
                Ok(())
            }
            other => {
                *self = other;
                Ok(())
            }
        }
    }
}

fn method_of(client: &EmbeddedClient, provider: &str) -> Result<Method, ScenarioError> {
    Method::parse(&client.token_endpoint_auth_method).ok_or_else(|| {
        let known: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        setup(format!(
            "{provider}: client '{}': token_endpoint_auth_method '{}' is not one of {}",
            client.client_id,
            client.token_endpoint_auth_method,
            known.join(", ")
        ))
    })
}

fn key_problem(provider: &str, client_id: &str, e: &dyn std::fmt::Display) -> ScenarioError {
    setup(format!("{provider}: client '{client_id}': {e}"))
}

/// A secret policy key as text.
fn secret(keys: &KeyStore, name: &str, provider: &str) -> Result<String, ScenarioError> {
    let bytes = keys.secret(name).map_err(|e| setup(format!("{provider}: {e}")))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| setup(format!("{provider}: the policy key '{name}' is not UTF-8 text")))
}

/// The technical profiles that name `client_id` as theirs.
fn profiles_of<'p>(client_id: &str, policy: &'p Policy) -> impl Iterator<Item = &'p TechnicalProfile> {
    policy.technical_profiles.iter().filter(move |tp| tp.metadata("client_id").map(str::trim) == Some(client_id))
}

/// B2C's redirect URIs for the client: one per technical profile that names it as its
/// `client_id` (with the policy in the path when the profile says `UsePolicyInRedirectUri`),
/// or both forms when no profile does.
fn redirect_uris(client_id: &str, policy: &Policy, context: &RequestContext) -> Vec<String> {
    let mut uris: Vec<String> = profiles_of(client_id, policy)
        .map(|tp| redirect_uri(policy, context, Callback::OAuth2, flag(tp, "UsePolicyInRedirectUri", false)))
        .collect();
    if uris.is_empty() {
        uris = [false, true].into_iter().map(|p| redirect_uri(policy, context, Callback::OAuth2, p)).collect();
    }
    uris.sort();
    uris.dedup();
    uris
}

fn oidc_client(
    op: &OidcProvider,
    client: &EmbeddedClient,
    policy: &Policy,
    context: &RequestContext,
    keys: &mut KeyStore,
    pool: &KeyPool,
) -> Result<ClientConfig, ScenarioError> {
    let id = client.client_id.as_str();
    let fail = |e: &dyn std::fmt::Display| key_problem("oidc", id, e);
    let mut config = match method_of(client, "oidc")? {
        Method::ClientSecretPost => ClientConfig::client_secret_post(id, secret(keys, &client.key, "oidc")?),
        Method::ClientSecretBasic => ClientConfig::client_secret_basic(id, secret(keys, &client.key, "oidc")?),
        Method::PrivateKeyJwt => {
            let jwk = keys.signing_key(&client.key).map_err(|e| fail(&e))?.public_jwk().clone();
            let config = ClientConfig::private_key_jwt(id, jwk);
            // The algorithm the policy signs with, unless the scenario says otherwise.
            let from_policy = profiles_of(id, policy).find_map(|tp| tp.metadata("token_signing_algorithm"));
            match client.signing_alg.as_deref().or(from_policy) {
                Some(alg) => config.signing_alg(alg.trim()),
                None => config,
            }
        }
        Method::SelfSignedTlsClientAuth => {
            let (certificate, _) = keys.identity_pem(&client.key).map_err(|e| fail(&e))?;
            ClientConfig::self_signed_tls_client_auth(id, certificate)
        }
        Method::TlsClientAuth => {
            let Some(dn) = &client.subject_dn else {
                return Err(setup(format!("oidc: client '{id}': tls_client_auth needs subject_dn")));
            };
            // The key is the run's, the certificate this file's CA's.
            let key = pool.rsa(&format!("tls_client_auth {}", client.key)).map_err(|e| fail(&e))?;
            let issued = op.pki().client_cert_for_key(dn, &key).map_err(|e| fail(&e))?;
            keys.insert_pem(client.key.clone(), &issued.identity_pem()).map_err(|e| fail(&e))?;
            ClientConfig::tls_client_auth(id, dn.clone())
        }
    };
    if client.certificate_bound {
        config = config.certificate_bound();
    }
    Ok(redirect_uris(id, policy, context).into_iter().fold(config, ClientConfig::redirect_uri))
}

fn oauth2_client(
    client: &EmbeddedClient,
    policy: &Policy,
    context: &RequestContext,
    keys: &KeyStore,
) -> Result<OAuth2Client, ScenarioError> {
    let id = client.client_id.as_str();
    let (auth_method, client_secret, public_key) = match method_of(client, "oauth2")? {
        Method::ClientSecretPost => {
            (ClientAuthMethod::ClientSecretPost, Some(secret(keys, &client.key, "oauth2")?), None)
        }
        Method::ClientSecretBasic => {
            (ClientAuthMethod::ClientSecretBasic, Some(secret(keys, &client.key, "oauth2")?), None)
        }
        Method::PrivateKeyJwt => {
            let jwk = keys.signing_key(&client.key).map_err(|e| key_problem("oauth2", id, &e))?.public_jwk().clone();
            (ClientAuthMethod::PrivateKeyJwt, None, Some(PublicKey::Jwk(jwk)))
        }
        other => {
            return Err(setup(format!(
                "oauth2: client '{id}': the OAuth2 provider does not offer {} (client_secret_post, client_secret_basic or private_key_jwt)",
                other.as_str()
            )));
        }
    };
    if client.subject_dn.is_some() || client.certificate_bound || client.signing_alg.is_some() {
        return Err(setup(format!(
            "oauth2: client '{id}': subject_dn, signing_alg and certificate_bound are for the oidc provider"
        )));
    }
    Ok(OAuth2Client {
        client_id: id.to_owned(),
        auth_method,
        client_secret,
        public_key,
        redirect_uris: redirect_uris(id, policy, context),
    })
}

/// A clock fixed at `now` (unix seconds), for deterministic runs.
pub(crate) fn fixed_clock(now: i64) -> Clock {
    Arc::new(move || now)
}

#[cfg(test)]
mod tests;
