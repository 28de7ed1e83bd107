//! The JWT issuer: the technical profile a `SendClaims` step names, minting the RS256 id_token.
//!
//! A profile is an issuer because a SendClaims step calls it, not because of its protocol: the
//! starter pack says `OpenIdConnect` + `OutputTokenFormat=JWT`, the docs say `None` (spec c.2, d.5).

use ief_engine::exec::{BoxFuture, Invocation, ProfileError, ProfileHandler, ProfileRequest, ProfileResult, Token};
use ief_engine::model::{Policy, TechnicalProfile};
use ief_transforms::ClaimValue;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::keys::KeyStore;

/// The CryptographicKey Id of the signing key.
pub const SIGNING_KEY_ID: &str = "issuer_secret";

const DEFAULT_LIFETIME_SECS: i64 = 3600;
const LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 300..=86400;

/// Claims the issuer always sets itself: a relying party's output claim of the same name is dropped.
const ISSUER_CLAIMS: [&str; 7] = ["exp", "nbf", "iat", "iss", "aud", "ver", "nonce"];

#[derive(Clone, Copy, Debug, Default)]
pub struct JwtIssuer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IssuancePattern {
    AuthorityAndTenantGuid,
    AuthorityWithTfp,
}

fn failed(code: &str, message: String) -> ProfileResult {
    ProfileResult::Failed(ProfileError { code: code.to_owned(), user_message: message })
}

/// Whether the profile mints a JWT when a SendClaims step names it.
fn is_jwt_issuer(profile: &TechnicalProfile) -> bool {
    let protocol = profile.protocol.as_ref().map(|p| p.name.as_str());
    match profile.output_token_format.as_deref().map(str::trim) {
        Some(format) => format.eq_ignore_ascii_case("JWT"),
        None => matches!(protocol, None | Some("OpenIdConnect" | "None")),
    }
}

impl ProfileHandler for JwtIssuer {
    fn name(&self) -> &'static str {
        "JwtIssuer"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        invocation == Invocation::Issuer && is_jwt_issuer(profile)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        // All work is synchronous; the request itself need not cross an await.
        let result = self.issue(&request);
        Box::pin(std::future::ready(result))
    }
}

impl JwtIssuer {
    /// Mints the token for one SendClaims.
    pub fn issue(&self, request: &ProfileRequest<'_>) -> ProfileResult {
        match self.try_issue(request) {
            Ok(token) => ProfileResult::Token(token),
            Err(result) => result,
        }
    }

    fn try_issue(&self, request: &ProfileRequest<'_>) -> Result<Token, ProfileResult> {
        let profile = request.profile;
        let tp = profile.id.as_str();

        let lifetime = match profile.metadata("id_token_lifetime_secs").map(str::trim) {
            None => DEFAULT_LIFETIME_SECS,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if LIFETIME_RANGE.contains(&n) => n,
                _ => {
                    return Err(failed(
                        "InvalidMetadata",
                        format!(
                            "technical profile '{tp}': id_token_lifetime_secs '{text}' must be a number of seconds from 300 to 86400"
                        ),
                    ));
                }
            },
        };
        let pattern = issuance_pattern(profile).map_err(|m| failed("InvalidMetadata", m))?;
        let with_acr = match profile.metadata("AuthenticationContextReferenceClaimPattern").map(str::trim) {
            None => true,
            Some(p) if p.eq_ignore_ascii_case("None") => false,
            Some(p) if p.eq_ignore_ascii_case("PolicyId") => true,
            Some(p) => {
                return Err(failed(
                    "InvalidMetadata",
                    format!(
                        "technical profile '{tp}': AuthenticationContextReferenceClaimPattern '{p}' is not None or PolicyId"
                    ),
                ));
            }
        };

        let Some(key_ref) = profile.keys.iter().find(|k| k.id.as_str() == SIGNING_KEY_ID) else {
            return Err(failed(
                "PolicyKeyMissing",
                format!(
                    "technical profile '{tp}' has no CryptographicKey with Id '{SIGNING_KEY_ID}' to sign the token"
                ),
            ));
        };
        let storage_id = key_ref.storage_reference_id.as_str();
        let empty = KeyStore::empty();
        let store = request.services.extensions.get::<KeyStore>().unwrap_or(&empty);
        let key = store.signing_key(storage_id).map_err(|e| failed("PolicyKeyMissing", e.to_string()))?;

        let policy = request.policy;
        let iss = issuer_of(policy, pattern, &host_name(request));

        let now = request.services.env.now().and_utc().timestamp();
        let mut claims = Map::new();
        claims.insert("exp".into(), Value::from(now + lifetime));
        claims.insert("nbf".into(), Value::from(now));
        claims.insert("ver".into(), Value::from("1.0"));
        claims.insert("iss".into(), Value::from(iss));
        claims.insert("aud".into(), Value::from(request.context.client_id.clone()));
        if with_acr {
            claims.insert("acr".into(), Value::from(policy.policy_id.to_lowercase()));
        }
        if let Some(nonce) = &request.context.nonce {
            claims.insert("nonce".into(), Value::from(nonce.clone()));
        }
        claims.insert("iat".into(), Value::from(now));
        claims.insert("auth_time".into(), Value::from(now));
        if pattern == IssuancePattern::AuthorityWithTfp {
            claims.insert("tfp".into(), Value::from(policy.policy_id.clone()));
        }
        for (name, value) in request.token_claims {
            if ISSUER_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            let json = match (name.as_str(), value) {
                // An SSO run passes the original sign-in time.
                ("auth_time", ClaimValue::DateTime(t, _)) => Value::from(t.and_utc().timestamp()),
                _ => value.to_json(),
            };
            claims.insert(name.clone(), json);
        }

        let claims = Value::Object(claims);
        let encoded = key.sign_claims(Algorithm::RS256, &claims).map_err(|e| {
            failed("SigningFailed", format!("technical profile '{tp}': cannot sign with '{storage_id}': {e}"))
        })?;
        // The header `sign_claims` signed with, for the sign-in's result.
        let header = serde_json::to_value(key.header(Algorithm::RS256))
            .map_err(|e| failed("SigningFailed", format!("technical profile '{tp}': {e}")))?;
        Ok(Token { encoded, header, claims })
    }
}

fn issuance_pattern(profile: &TechnicalProfile) -> Result<IssuancePattern, String> {
    let tp = profile.id.as_str();
    match profile.metadata("IssuanceClaimPattern").map(str::trim) {
        None => Ok(IssuancePattern::AuthorityAndTenantGuid),
        Some(p) if p.eq_ignore_ascii_case("AuthorityAndTenantGuid") => Ok(IssuancePattern::AuthorityAndTenantGuid),
        Some(p) if p.eq_ignore_ascii_case("AuthorityWithTfp") => Ok(IssuancePattern::AuthorityWithTfp),
        Some(p) => Err(format!(
            "technical profile '{tp}': IssuanceClaimPattern '{p}' is not AuthorityAndTenantGuid or AuthorityWithTfp"
        )),
    }
}

fn issuer_of(policy: &Policy, pattern: IssuancePattern, host_name: &str) -> String {
    let host = crate::authority(host_name);
    let tenant = policy.tenant.guid.as_str();
    match pattern {
        IssuancePattern::AuthorityAndTenantGuid => format!("{host}/{tenant}/v2.0/"),
        IssuancePattern::AuthorityWithTfp => format!("{host}/tfp/{tenant}/{}/v2.0/", policy.policy_id),
    }
}

/// The `iss` the issuer `profile` writes into tokens served from `host_name` (see
/// [`crate::authority`]), following its `IssuanceClaimPattern`; discovery documents name it too.
pub fn issuer_url(policy: &Policy, profile: &TechnicalProfile, host_name: &str) -> Result<String, String> {
    Ok(issuer_of(policy, issuance_pattern(profile)?, host_name))
}

/// The host the token names: the request's, else the tenant's b2clogin.com host.
fn host_name(request: &ProfileRequest<'_>) -> String {
    let host = request.context.host_name.trim();
    if !host.is_empty() {
        return host.to_owned();
    }
    let tenant = request.policy.tenant_id.trim();
    let label = tenant.split('.').next().filter(|l| !l.is_empty()).unwrap_or("tenant");
    format!("{label}.b2clogin.com")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ief_engine::exec::{Extensions, RequestContext, Services};
    use ief_engine::model::Policy;
    use ief_engine::source::FileId;
    use ief_transforms::{ClaimsBag, FixedEnv};
    use jsonwebtoken::{DecodingKey, Validation};

    const SIGNING: &str = "B2C_1A_TokenSigningKeyContainer";

    fn policy(metadata: &str, protocol: &str, keys: &str) -> Policy {
        let xml = format!(
            r#"<TrustFrameworkPolicy PolicyId="B2C_1A_SignUp_SignIn" TenantId="contoso.onmicrosoft.com" TenantObjectId="11111111-2222-3333-4444-555555555555">
  <ClaimsProviders><ClaimsProvider><DisplayName>Token Issuer</DisplayName><TechnicalProfiles>
    <TechnicalProfile Id="JwtIssuer">
      {protocol}
      <Metadata>{metadata}</Metadata>
      <CryptographicKeys>{keys}</CryptographicKeys>
    </TechnicalProfile>
  </TechnicalProfiles></ClaimsProvider></ClaimsProviders>
</TrustFrameworkPolicy>"#
        );
        let (root, diags) = ief_engine::syntax::parse(FileId(0), &xml);
        assert!(diags.is_empty(), "{diags:?}");
        Policy::lower(&root.expect("root"))
    }

    const OIDC: &str = r#"<Protocol Name="OpenIdConnect" /><OutputTokenFormat>JWT</OutputTokenFormat>"#;
    const KEYS: &str = r#"<Key Id="issuer_secret" StorageReferenceId="B2C_1A_TokenSigningKeyContainer" />
      <Key Id="issuer_refresh_token_key" StorageReferenceId="B2C_1A_TokenEncryptionKeyContainer" />"#;

    fn store() -> KeyStore {
        let mut store = KeyStore::empty();
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa").serialize_pem();
        store.insert_pem(SIGNING, &pem).expect("pem");
        store
    }

    fn context() -> RequestContext {
        RequestContext {
            client_id: "app-client-id".into(),
            host_name: "contoso.b2clogin.com".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            ..RequestContext::default()
        }
    }

    fn claims() -> Vec<(String, ClaimValue)> {
        vec![
            ("sub".into(), ClaimValue::String("0a1b2c3d".into())),
            ("name".into(), ClaimValue::String("Ada".into())),
            ("newUser".into(), ClaimValue::Boolean(true)),
            ("emails".into(), ClaimValue::StringCollection(vec!["ada@example.com".into()])),
            // The relying party cannot forge the issuer's own claims.
            ("iss".into(), ClaimValue::String("https://evil/".into())),
        ]
    }

    struct Setup {
        policy: Policy,
        env: FixedEnv,
        extensions: Extensions,
        context: RequestContext,
        bag: ClaimsBag,
    }

    impl Setup {
        fn new(policy: Policy, store: Option<KeyStore>) -> Setup {
            let mut extensions = Extensions::default();
            if let Some(store) = store {
                extensions.insert(store);
            }
            Setup { policy, env: FixedEnv::default(), extensions, context: context(), bag: ClaimsBag::default() }
        }

        fn run(&self, token_claims: Vec<(String, ClaimValue)>) -> ProfileResult {
            let services = Services { env: &self.env, extensions: &self.extensions };
            let request = ProfileRequest {
                policy: &self.policy,
                profile: self.policy.profile("JwtIssuer").expect("profile"),
                invocation: Invocation::Issuer,
                inputs: Vec::new(),
                bag: &self.bag,
                answer: None,
                profile_state: None,
                services: &services,
                context: &self.context,
                token_claims: &token_claims,
            };
            let fut = JwtIssuer.execute(request);
            tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(fut)
        }

        fn token(&self, token_claims: Vec<(String, ClaimValue)>) -> Token {
            match self.run(token_claims) {
                ProfileResult::Token(t) => t,
                other => panic!("expected a token, got {other:?}"),
            }
        }

        fn public_key(&self) -> DecodingKey {
            let store = self.extensions.get::<KeyStore>().expect("store");
            let jwk = store.signing_key(SIGNING).expect("key").public_jwk();
            DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
                .expect("public key")
        }
    }

    fn error(result: ProfileResult) -> ProfileError {
        match result {
            ProfileResult::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    const NOW: i64 = 1_704_067_200; // FixedEnv: 2024-01-01T00:00:00Z

    #[test]
    fn token_verifies_and_carries_the_default_claims() {
        let setup = Setup::new(policy("", OIDC, KEYS), Some(store()));
        let token = setup.token(claims());

        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false; // the fixed clock is in the past
        validation.set_audience(&["app-client-id"]);
        validation.set_issuer(&["https://contoso.b2clogin.com/11111111-2222-3333-4444-555555555555/v2.0/"]);
        let decoded =
            jsonwebtoken::decode::<Value>(&token.encoded, &setup.public_key(), &validation).expect("verifies");
        assert_eq!(decoded.claims, token.claims);

        let kid =
            setup.extensions.get::<KeyStore>().expect("store").signing_key(SIGNING).expect("key").kid().to_owned();
        assert_eq!(decoded.header.alg, Algorithm::RS256);
        assert_eq!(decoded.header.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(token.header, serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}));

        assert_eq!(
            token.claims,
            serde_json::json!({
                "exp": NOW + 3600,
                "nbf": NOW,
                "iat": NOW,
                "auth_time": NOW,
                "ver": "1.0",
                "iss": "https://contoso.b2clogin.com/11111111-2222-3333-4444-555555555555/v2.0/",
                "aud": "app-client-id",
                "acr": "b2c_1a_signup_signin",
                "nonce": "n-0S6_WzA2Mj",
                "sub": "0a1b2c3d",
                "name": "Ada",
                "newUser": true,
                "emails": ["ada@example.com"],
            })
        );
    }

    #[test]
    fn verifies_with_full_validation_at_the_real_time() {
        let mut setup = Setup::new(policy("", OIDC, KEYS), Some(store()));
        setup.env.now = chrono::Utc::now().naive_utc();
        let token = setup.token(claims());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["app-client-id"]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let decoded =
            jsonwebtoken::decode::<Value>(&token.encoded, &setup.public_key(), &validation).expect("verifies");
        assert_eq!(decoded.claims["sub"], "0a1b2c3d");

        // Another key does not verify it.
        let other = Setup::new(policy("", OIDC, KEYS), Some(store()));
        assert!(jsonwebtoken::decode::<Value>(&token.encoded, &other.public_key(), &validation).is_err());
    }

    #[test]
    fn metadata_sets_lifetime_issuer_and_acr() {
        let metadata = r#"<Item Key="id_token_lifetime_secs">300</Item>
            <Item Key="IssuanceClaimPattern">AuthorityWithTfp</Item>
            <Item Key="AuthenticationContextReferenceClaimPattern">None</Item>"#;
        let mut setup = Setup::new(policy(metadata, OIDC, KEYS), Some(store()));
        setup.context.nonce = None;
        let token = setup.token(vec![("sub".into(), ClaimValue::String("u".into()))]);
        assert_eq!(
            token.claims,
            serde_json::json!({
                "exp": NOW + 300,
                "nbf": NOW,
                "iat": NOW,
                "auth_time": NOW,
                "ver": "1.0",
                "iss": "https://contoso.b2clogin.com/tfp/11111111-2222-3333-4444-555555555555/B2C_1A_SignUp_SignIn/v2.0/",
                "aud": "app-client-id",
                "tfp": "B2C_1A_SignUp_SignIn",
                "sub": "u",
            })
        );

        let max = Setup::new(policy(r#"<Item Key="id_token_lifetime_secs">86400</Item>"#, OIDC, KEYS), Some(store()));
        assert_eq!(max.token(Vec::new()).claims["exp"], NOW + 86400);
        let explicit = Setup::new(
            policy(r#"<Item Key="AuthenticationContextReferenceClaimPattern">PolicyId</Item>"#, OIDC, KEYS),
            Some(store()),
        );
        assert_eq!(explicit.token(Vec::new()).claims["acr"], "b2c_1a_signup_signin");
    }

    #[test]
    fn relying_party_may_supply_acr_tfp_and_auth_time() {
        let setup = Setup::new(
            policy(r#"<Item Key="IssuanceClaimPattern">AuthorityWithTfp</Item>"#, OIDC, KEYS),
            Some(store()),
        );
        let auth = chrono::NaiveDate::from_ymd_opt(2023, 12, 31).and_then(|d| d.and_hms_opt(23, 0, 0)).expect("date");
        let token = setup.token(vec![
            ("tfp".into(), ClaimValue::String("B2C_1A_Other".into())),
            ("acr".into(), ClaimValue::String("custom".into())),
            ("auth_time".into(), ClaimValue::date_time(auth)),
            ("exp".into(), ClaimValue::Long(1)),
            ("nonce".into(), ClaimValue::String("forged".into())),
        ]);
        assert_eq!(token.claims["tfp"], "B2C_1A_Other");
        assert_eq!(token.claims["acr"], "custom");
        assert_eq!(token.claims["auth_time"], NOW - 3600);
        assert_eq!(token.claims["exp"], NOW + 3600);
        assert_eq!(token.claims["nonce"], "n-0S6_WzA2Mj");
    }

    #[test]
    fn tenant_guid_and_host_fallbacks() {
        let mut p = policy("", OIDC, KEYS);
        p.tenant_object_id = None;
        p.configure_tenant(None).unwrap();
        let mut setup = Setup::new(p, Some(store()));
        setup.context.host_name = String::new();
        let token = setup.token(Vec::new());
        // Never the domain name: a GUID derived from it when nothing configures one.
        let derived = ief_engine::tenant::derive("contoso.onmicrosoft.com");
        assert_eq!(token.claims["iss"], format!("https://contoso.b2clogin.com/{derived}/v2.0/"));
    }

    #[test]
    fn missing_key_names_the_storage_reference_id() {
        let setup = Setup::new(policy("", OIDC, KEYS), Some(KeyStore::empty()));
        let err = error(setup.run(claims()));
        assert_eq!(err.code, "PolicyKeyMissing");
        assert_eq!(
            err.user_message,
            "policy key 'B2C_1A_TokenSigningKeyContainer' not found in keys/ (expected B2C_1A_TokenSigningKeyContainer.pem, .txt or .json)"
        );

        // No key store at all reads the same.
        let none = Setup::new(policy("", OIDC, KEYS), None);
        assert_eq!(error(none.run(claims())), err);

        let mut secret = KeyStore::empty();
        secret.insert_secret(SIGNING, "not a key");
        let wrong = Setup::new(policy("", OIDC, KEYS), Some(secret));
        let err = error(wrong.run(claims()));
        assert!(
            err.user_message.contains("B2C_1A_TokenSigningKeyContainer.txt is a secret, but an RSA private key"),
            "{}",
            err.user_message
        );

        let no_ref = Setup::new(policy("", OIDC, ""), Some(store()));
        assert_eq!(
            error(no_ref.run(claims())).user_message,
            "technical profile 'JwtIssuer' has no CryptographicKey with Id 'issuer_secret' to sign the token"
        );
    }

    #[test]
    fn bad_metadata_is_reported() {
        for (item, expected) in [
            (
                r#"<Item Key="id_token_lifetime_secs">299</Item>"#,
                "technical profile 'JwtIssuer': id_token_lifetime_secs '299' must be a number of seconds from 300 to 86400",
            ),
            (r#"<Item Key="id_token_lifetime_secs">86401</Item>"#, "id_token_lifetime_secs '86401'"),
            (r#"<Item Key="id_token_lifetime_secs">1h</Item>"#, "id_token_lifetime_secs '1h'"),
            (r#"<Item Key="IssuanceClaimPattern">Tfp</Item>"#, "IssuanceClaimPattern 'Tfp' is not"),
            (
                r#"<Item Key="AuthenticationContextReferenceClaimPattern">Acr</Item>"#,
                "AuthenticationContextReferenceClaimPattern 'Acr' is not None or PolicyId",
            ),
        ] {
            let setup = Setup::new(policy(item, OIDC, KEYS), Some(store()));
            let err = error(setup.run(claims()));
            assert_eq!(err.code, "InvalidMetadata");
            assert!(err.user_message.contains(expected), "{}", err.user_message);
        }
    }

    #[test]
    fn handles_issuer_calls_of_jwt_profiles_only() {
        let cases = [
            (OIDC, true),
            (r#"<Protocol Name="None" /><OutputTokenFormat>JWT</OutputTokenFormat>"#, true),
            (r#"<Protocol Name="None" />"#, true),
            (r#"<Protocol Name="OpenIdConnect" />"#, true),
            (r#"<Protocol Name="SAML2" /><OutputTokenFormat>SAML2</OutputTokenFormat>"#, false),
            (r#"<Protocol Name="SAML2" />"#, false),
            (r#"<Protocol Name="None" /><OutputTokenFormat>JSON</OutputTokenFormat>"#, false),
        ];
        for (protocol, expected) in cases {
            let p = policy("", protocol, KEYS);
            let profile = p.profile("JwtIssuer").expect("profile");
            assert_eq!(JwtIssuer.handles(profile, Invocation::Issuer), expected, "{protocol}");
            assert!(!JwtIssuer.handles(profile, Invocation::Step), "{protocol}");
            assert!(!JwtIssuer.handles(profile, Invocation::Validation), "{protocol}");
        }
        assert_eq!(JwtIssuer.name(), "JwtIssuer");
    }

    #[test]
    fn failures_never_show_key_material() {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa").serialize_pem();
        let body = pem.lines().nth(1).expect("body").to_owned();
        let mut store = KeyStore::empty();
        store.insert_pem("B2C_1A_Other", &pem).expect("pem");
        let setup = Setup::new(policy("", OIDC, KEYS), Some(store));
        let result = setup.run(claims());
        let debug = format!("{result:?} {:?} {:?}", setup.extensions.get::<KeyStore>(), setup.extensions);
        assert!(!debug.contains(&body) && !debug.contains("PRIVATE KEY"), "{debug}");
    }
}
