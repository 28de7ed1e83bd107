//! ief's OpenIdConnect journeys against the embedded OpenID provider (`idp::oidc`): every
//! token-endpoint authentication method from the redirect to the issued token, a
//! certificate-bound client whose userinfo call must come over its own certificate, and every
//! wrong credential, which ends the journey with the provider's reason in ief's message.
//!
//! The clients' keys are generated into the KeyStore ief gets, and registered from it: public
//! JWKs for private_key_jwt, certificates from the provider's test PKI for tls_client_auth,
//! self-signed ones for self_signed_tls_client_auth. One provider serves every case; the cases
//! run side by side.

use std::sync::Arc;

use ief_idp::TestUser;
use ief_idp::oidc::{ClientConfig, OidcConfig, OidcProvider, UserinfoAnswer};
use ief_idp::pki::{self, IssuedCert};
use ief_protocols::federation::client_auth::Method;
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;

use crate::node_op::REDIRECT_URI;
use crate::oidc_journeys::{Case, Journeys, OUTPUT_CLAIMS, case, report, run_concurrently};

const USERNAME: &str = "alice";
const PASSWORD: &str = "Alice-Pa55";
const SUB: &str = "alice-0001";
const EMAIL: &str = "alice@example.com";
const NAME: &str = "Alice Liddell";

const TLS_DN: &str = "CN=ief-tls-client,O=ief embedded,C=US";
const BOUND_DN: &str = "CN=ief-bound-client,O=ief embedded,C=US";
const OTHER_DN: &str = "CN=someone-else,O=ief embedded,C=US";
const SELF_SIGNED_DN: &str = "CN=ief-self-signed-client";

/// A registered client: how ief's profile authenticates it, with which key.
struct Client {
    client_id: &'static str,
    method: Method,
    /// `token_signing_algorithm` of the profile and `token_endpoint_auth_signing_alg` of the registration.
    alg: Option<&'static str>,
    /// StorageReferenceId of the credential.
    storage: &'static str,
    certificate_bound: bool,
}

const fn client(client_id: &'static str, method: Method, storage: &'static str) -> Client {
    Client { client_id, method, alg: None, storage, certificate_bound: false }
}

const CLIENTS: [Client; 7] = [
    Client { alg: Some("RS256"), ..client("pkjwt-rs256", Method::PrivateKeyJwt, "B2C_1A_EmbPkjwtRs256") },
    Client { alg: Some("RS512"), ..client("pkjwt-rs512", Method::PrivateKeyJwt, "B2C_1A_EmbPkjwtRs512") },
    client("secret-post", Method::ClientSecretPost, "B2C_1A_EmbSecretPost"),
    // Only a client that form-urlencodes id and secret before base64 (RFC 6749 §2.3.1) passes.
    client("secret-basic", Method::ClientSecretBasic, "B2C_1A_EmbSecretBasic"),
    client("tls", Method::TlsClientAuth, "B2C_1A_EmbTlsCert"),
    client("self-signed-tls", Method::SelfSignedTlsClientAuth, "B2C_1A_EmbSelfSignedCert"),
    Client { certificate_bound: true, ..client("bound", Method::TlsClientAuth, "B2C_1A_EmbBoundCert") },
];

const SECRETS: [(&str, &str); 3] = [
    ("B2C_1A_EmbSecretPost", "p0st-s3cret-value"),
    ("B2C_1A_EmbSecretBasic", "sp3c:al+/=%&?~ secret"),
    (WRONG_SECRET, "not-the-registered-secret"),
];

// Credentials no client registered (StorageReferenceIds).
const WRONG_KEY: &str = "B2C_1A_EmbWrongKey";
const WRONG_SECRET: &str = "B2C_1A_EmbWrongSecret";
/// The right DN, from a CA the provider does not trust.
const ROGUE_CA_CERT: &str = "B2C_1A_EmbRogueCaCert";
/// From the trusted CA, with another DN.
const WRONG_DN_CERT: &str = "B2C_1A_EmbWrongDnCert";
/// Self-signed, with the registered one's DN, but not registered.
const UNREGISTERED_CERT: &str = "B2C_1A_EmbUnregisteredCert";

/// A wrong credential for a registered client, and the words of the provider's reason.
struct Rejection {
    name: &'static str,
    client: &'static str,
    /// Metadata items that differ from the client's own profile.
    metadata: &'static [(&'static str, &'static str)],
    /// The credential's StorageReferenceId, when not the client's own.
    storage: Option<&'static str>,
    cause: &'static str,
}

static REJECTIONS: [Rejection; 6] = [
    Rejection {
        name: "wrong key",
        client: "pkjwt-rs256",
        metadata: &[],
        storage: Some(WRONG_KEY),
        cause: "is not one of the keys registered for client 'pkjwt-rs256'",
    },
    Rejection {
        name: "wrong algorithm",
        client: "pkjwt-rs512",
        metadata: &[("token_signing_algorithm", "RS256")],
        storage: None,
        cause: "client assertion is signed with RS256, but client 'pkjwt-rs512' registered RS512",
    },
    Rejection {
        name: "wrong certificate",
        client: "self-signed-tls",
        metadata: &[],
        storage: Some(UNREGISTERED_CERT),
        cause: "is not one registered for client 'self-signed-tls'",
    },
    Rejection {
        name: "untrusted CA",
        client: "tls",
        metadata: &[],
        storage: Some(ROGUE_CA_CERT),
        cause: "client certificate does not chain to a trusted CA",
    },
    Rejection {
        name: "wrong subject DN",
        client: "tls",
        metadata: &[],
        storage: Some(WRONG_DN_CERT),
        cause: "certificate subject 'CN=someone-else,O=ief embedded,C=US' does not match the registered 'CN=ief-tls-client,O=ief embedded,C=US'",
    },
    Rejection {
        name: "wrong secret",
        client: "secret-basic",
        metadata: &[],
        storage: Some(WRONG_SECRET),
        cause: "the client secret does not match the one registered for client 'secret-basic'",
    },
];

const NO_CERTIFICATE: &str = "JourneyNoCertificate";

struct Suite {
    op: OidcProvider,
    journeys: Journeys,
    /// `x5t#S256` of the certificate-bound client's certificate.
    bound_x5t: String,
}

fn the_client(client_id: &str) -> &'static Client {
    CLIENTS.iter().find(|c| c.client_id == client_id).unwrap_or_else(|| panic!("no client {client_id}"))
}

impl Suite {
    async fn start() -> Result<Suite, String> {
        let user = TestUser {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            claims: serde_json::from_value(serde_json::json!({
                "sub": SUB, "email": EMAIL, "email_verified": true, "name": NAME,
                "given_name": "Alice", "family_name": "Liddell",
            }))
            .map_err(|e| e.to_string())?,
        };
        let op = OidcProvider::start(OidcConfig::default().user(user)).await.map_err(|e| e.to_string())?;
        let err = |e: pki::PkiError| e.to_string();

        let mut keys = KeyStore::empty();
        let mut insert = |name: &str, pem: &str| keys.insert_pem(name, pem).map_err(|e| e.to_string());
        for name in ["B2C_1A_EmbPkjwtRs256", "B2C_1A_EmbPkjwtRs512", WRONG_KEY] {
            insert(name, &pki::rsa_private_key_pem().map_err(err)?)?;
        }
        let pki = op.pki();
        let tls: IssuedCert = pki.client_cert(TLS_DN).map_err(err)?;
        let bound = pki.client_cert(BOUND_DN).map_err(err)?;
        let self_signed = pki::self_signed_client_cert(SELF_SIGNED_DN).map_err(err)?;
        insert("B2C_1A_EmbTlsCert", &tls.identity_pem())?;
        insert("B2C_1A_EmbBoundCert", &bound.identity_pem())?;
        insert("B2C_1A_EmbSelfSignedCert", &self_signed.identity_pem())?;
        insert(ROGUE_CA_CERT, &pki.rogue_client_cert(TLS_DN).map_err(err)?.identity_pem())?;
        insert(WRONG_DN_CERT, &pki.client_cert(OTHER_DN).map_err(err)?.identity_pem())?;
        insert(UNREGISTERED_CERT, &pki::self_signed_client_cert(SELF_SIGNED_DN).map_err(err)?.identity_pem())?;
        for (name, secret) in SECRETS {
            keys.insert_secret(name, secret.as_bytes().to_vec());
        }

        // Each registration comes from the key ief holds.
        for c in &CLIENTS {
            let registration = match c.method {
                Method::ClientSecretPost | Method::ClientSecretBasic => {
                    let secret = String::from_utf8(keys.secret(c.storage).map_err(|e| e.to_string())?.to_vec())
                        .map_err(|e| e.to_string())?;
                    if c.method == Method::ClientSecretPost {
                        ClientConfig::client_secret_post(c.client_id, secret)
                    } else {
                        ClientConfig::client_secret_basic(c.client_id, secret)
                    }
                }
                Method::PrivateKeyJwt => {
                    let jwk = keys.signing_key(c.storage).map_err(|e| e.to_string())?.public_jwk().clone();
                    ClientConfig::private_key_jwt(c.client_id, jwk).signing_alg(c.alg.unwrap_or("RS256"))
                }
                Method::TlsClientAuth => {
                    let dn = if c.certificate_bound { BOUND_DN } else { TLS_DN };
                    let registration = ClientConfig::tls_client_auth(c.client_id, dn);
                    if c.certificate_bound { registration.certificate_bound() } else { registration }
                }
                Method::SelfSignedTlsClientAuth => {
                    let (certs, _) = keys.identity_pem(c.storage).map_err(|e| e.to_string())?;
                    ClientConfig::self_signed_tls_client_auth(c.client_id, certs)
                }
            };
            op.register(registration.redirect_uri(REDIRECT_URI)).map_err(|e| e.to_string())?;
        }

        let profiles = profiles(&op);
        let roots = TrustedRoots(vec![op.ca_pem().to_owned()]);
        let journeys = Journeys::new(&profiles, keys, roots)?;
        Ok(Suite { bound_x5t: bound.x5t_s256(), op, journeys })
    }

    async fn journey_works(&self, client_id: &str) -> Result<(), String> {
        let journey = self.journeys.sign_in(&format!("Journey-{client_id}"), USERNAME, PASSWORD).await?;
        journey.expect_claims(&[
            ("sub", SUB),
            ("email", EMAIL),
            ("name", NAME),
            ("idp", self.op.issuer()),
            ("authenticationSource", "socialIdpAuthentication"),
        ])
    }

    /// The certificate-bound client's journey called userinfo, over its own certificate.
    async fn bound_journey_works(&self) -> Result<(), String> {
        self.journey_works("bound").await?;
        let expected = UserinfoAnswer {
            client_id: "bound".to_owned(),
            subject: SUB.to_owned(),
            certificate: Some(self.bound_x5t.clone()),
        };
        // Only this journey has a ClaimsEndpoint.
        let answers = self.op.userinfo_answers();
        if answers != [expected.clone()] {
            return Err(format!("expected the userinfo answer {expected:?}, the provider gave {answers:?}"));
        }
        Ok(())
    }

    async fn journey_rejected(&self, r: &Rejection, profile: &str) -> Result<(), String> {
        let journey = self.journeys.sign_in(profile, USERNAME, PASSWORD).await?;
        journey.expect_error("TokenRequestFailed", &["'invalid_client'", r.cause, "(HTTP 401)"])
    }

    /// A mutual-TLS profile whose key has no certificate fails before the user leaves ief.
    async fn journey_without_certificate(&self) -> Result<(), String> {
        let journey = self.journeys.sign_in(NO_CERTIFICATE, USERNAME, PASSWORD).await?;
        if let Some(url) = &journey.redirected_to {
            return Err(format!("the journey went to {url} although it cannot authenticate"));
        }
        journey.expect_error("MissingKey", &["'ClientCertificate'", "a certificate followed by its private key"])
    }
}

/// An OpenIdConnect technical profile for `c`, as a B2C policy writes it.
fn profile_xml(
    op: &OidcProvider,
    id: &str,
    c: &Client,
    metadata: &[(&str, &str)],
    storage: Option<&str>,
) -> (String, String) {
    let discovery = op.discovery_url();
    let mut items: Vec<(&str, &str)> = vec![
        ("METADATA", discovery.as_str()),
        ("client_id", c.client_id),
        ("response_types", "code"),
        ("response_mode", "form_post"),
        ("scope", "openid email profile"),
        ("HttpBinding", "POST"),
        ("UsePolicyInRedirectUri", "false"),
        ("token_endpoint_auth_method", c.method.as_str()),
    ];
    if let Some(alg) = c.alg {
        items.push(("token_signing_algorithm", alg));
    }
    for (k, v) in metadata {
        items.retain(|(key, _)| key != k);
        items.push((k, v));
    }
    let items: String = items.iter().map(|(k, v)| format!(r#"<Item Key="{k}">{}</Item>"#, escape(v))).collect();
    let key_id = match c.method {
        Method::ClientSecretPost | Method::ClientSecretBasic => "client_secret",
        Method::PrivateKeyJwt => "assertion_signing_key",
        Method::TlsClientAuth | Method::SelfSignedTlsClientAuth => "ClientCertificate",
    };
    let xml = format!(
        r#"<TechnicalProfile Id="{id}"><DisplayName>{id}</DisplayName><Protocol Name="OpenIdConnect" /><Metadata>{items}</Metadata><CryptographicKeys><Key Id="{key_id}" StorageReferenceId="{}" /></CryptographicKeys>{OUTPUT_CLAIMS}</TechnicalProfile>"#,
        storage.unwrap_or(c.storage),
    );
    (id.to_owned(), xml)
}

fn profiles(op: &OidcProvider) -> Vec<(String, String)> {
    let userinfo = op.url("/userinfo");
    let mut profiles: Vec<(String, String)> = CLIENTS
        .iter()
        .map(|c| {
            let metadata: &[(&str, &str)] =
                if c.certificate_bound { &[("ClaimsEndpoint", userinfo.as_str())] } else { &[] };
            profile_xml(op, &format!("Journey-{}", c.client_id), c, metadata, None)
        })
        .collect();
    for (i, r) in REJECTIONS.iter().enumerate() {
        profiles.push(profile_xml(op, &format!("JourneyReject-{i}"), the_client(r.client), r.metadata, r.storage));
    }
    // The key holds only a private key: ief has no certificate to present.
    profiles.push(profile_xml(op, NO_CERTIFICATE, the_client("tls"), &[], Some("B2C_1A_EmbPkjwtRs256")));
    profiles
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_authentication_method_through_ief_journeys() {
    let suite = Arc::new(Suite::start().await.unwrap_or_else(|e| panic!("the embedded provider could not start: {e}")));
    let mut cases: Vec<Case> = Vec::new();
    for c in CLIENTS.iter().filter(|c| !c.certificate_bound) {
        let (s, id) = (Arc::clone(&suite), c.client_id);
        cases.push(case(format!("journey: {id} ({})", c.method.as_str()), async move { s.journey_works(id).await }));
    }
    let s = Arc::clone(&suite);
    cases.push(case("journey: certificate-bound client, userinfo over its certificate", async move {
        s.bound_journey_works().await
    }));
    for (i, r) in REJECTIONS.iter().enumerate() {
        let s = Arc::clone(&suite);
        cases.push(case(format!("journey rejects {}", r.name), async move {
            s.journey_rejected(r, &format!("JourneyReject-{i}")).await
        }));
    }
    let s = Arc::clone(&suite);
    cases.push(case("journey rejects no certificate", async move { s.journey_without_certificate().await }));

    let results = run_concurrently(cases).await;
    report(&results, &format!("registered clients: {:?}", suite.op.clients()));
}
