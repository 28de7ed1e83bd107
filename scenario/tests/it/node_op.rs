//! node-oidc-provider as a live OpenID provider on 127.0.0.1 (`interop/node-oidc-provider`).
//!
//! [`NodeOp::start`] checks Node.js, installs the pinned packages when needed (`npm ci`),
//! generates the test PKI with rcgen into a temporary folder, registers one client per
//! token-endpoint authentication method, starts `server.mjs` and waits for its ready line. The
//! process is killed by PID when the handle drops; node also exits by itself when our end of its
//! stdin closes or after its time to live.
//!
//! For journeys through ief's own profiles: [`NodeOp::keys`] holds every client's key under its
//! StorageReferenceId, [`NodeOp::roots`] trusts the test CA, and [`NodeOp::profile_xml`] writes
//! an OpenIdConnect technical profile for a client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ief_engine::exec::{Extensions, Invocation, ProfileError, ProfileRequest, RequestContext, Services};
use ief_engine::model::Policy;
use ief_engine::{EffectivePolicy, PolicySet};
use ief_protocols::env::SystemEnv;
use ief_protocols::federation::client_auth::{ClientAuth, Method};
use ief_protocols::federation::http::TrustedRoots;
use ief_protocols::keys::KeyStore;
use ief_testkit::node::{check_node, for_each_line, npm_ci, push_log};
use ief_transforms::ClaimsBag;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The oldest Node.js that runs oidc-provider 9 (`crypto.hash`, `URL.parse`).
const MIN_NODE: (u32, u32) = (20, 18);
const NODE_HELP: &str = "install Node.js 20.18 or newer (node-oidc-provider 9 needs crypto.hash and URL.parse), e.g. Debian trixie's nodejs or the nodesource 20.x packages";
/// Seconds node lives at most: a backstop if a test process is killed before dropping the handle.
const NODE_TTL_SECS: u64 = 300;
/// Generous: node shares two cores with cargo builds here.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const NPM_TIMEOUT: Duration = Duration::from_secs(300);

/// B2C's redirect URI for the tenant every interop policy uses (`federation::redirect_uri`).
pub(crate) const REDIRECT_URI: &str = "https://contoso.b2clogin.com/contoso.onmicrosoft.com/oauth2/authresp";
/// The subject DN registered for `tls_client_auth`, in RFC 4514 order.
pub(crate) const TLS_CLIENT_DN: &str = "CN=ief-tls-client,O=ief interop,C=US";

/// Keys that belong to no registered client, for rejection tests (StorageReferenceIds).
pub(crate) const WRONG_KEY: &str = "B2C_1A_NodeOpWrongKey";
pub(crate) const WRONG_SECRET: &str = "B2C_1A_NodeOpWrongSecret";
/// The right DN, issued by a CA the provider does not trust.
pub(crate) const ROGUE_CA_CERT: &str = "B2C_1A_NodeOpRogueCaCert";
/// Issued by the trusted CA, with another DN.
pub(crate) const WRONG_DN_CERT: &str = "B2C_1A_NodeOpWrongDnCert";
/// A self-signed certificate no client registered.
pub(crate) const UNREGISTERED_CERT: &str = "B2C_1A_NodeOpUnregisteredCert";

/// A user of the provider: (username, password, claims).
pub(crate) struct OpUser {
    pub(crate) username: &'static str,
    pub(crate) password: &'static str,
    pub(crate) sub: &'static str,
    pub(crate) email: &'static str,
    pub(crate) given_name: &'static str,
    pub(crate) family_name: &'static str,
}

pub(crate) const USERS: [OpUser; 2] = [
    OpUser {
        username: "alice",
        password: "Alice-Pa55",
        sub: "a11ce-0001",
        email: "alice@example.com",
        given_name: "Alice",
        family_name: "Liddell",
    },
    OpUser {
        username: "bob",
        password: "Bob-Pa55",
        sub: "b0b-0002",
        email: "bob@example.com",
        given_name: "Bob",
        family_name: "Builder",
    },
];

/// A registered client and where its credential is in [`NodeOp::keys`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpClient {
    pub(crate) client_id: &'static str,
    pub(crate) method: Method,
    /// `token_endpoint_auth_signing_alg` of a private_key_jwt client.
    pub(crate) signing_alg: Option<&'static str>,
    /// The CryptographicKeys Id a B2C profile uses for the credential.
    pub(crate) key_id: &'static str,
    /// StorageReferenceId of the credential.
    pub(crate) storage: &'static str,
    /// Access tokens bound to the client certificate (RFC 8705 §3).
    pub(crate) certificate_bound: bool,
}

pub(crate) const CLIENTS: [OpClient; 8] = [
    OpClient {
        client_id: "pkjwt-rs256",
        method: Method::PrivateKeyJwt,
        signing_alg: Some("RS256"),
        key_id: "assertion_signing_key",
        storage: "B2C_1A_NodeOpPkjwtRs256",
        certificate_bound: false,
    },
    OpClient {
        client_id: "pkjwt-rs512",
        method: Method::PrivateKeyJwt,
        signing_alg: Some("RS512"),
        key_id: "assertion_signing_key",
        storage: "B2C_1A_NodeOpPkjwtRs512",
        certificate_bound: false,
    },
    OpClient {
        client_id: "secret-post",
        method: Method::ClientSecretPost,
        signing_alg: None,
        key_id: "client_secret",
        storage: "B2C_1A_NodeOpSecretPost",
        certificate_bound: false,
    },
    OpClient {
        client_id: "secret-basic",
        method: Method::ClientSecretBasic,
        signing_alg: None,
        key_id: "client_secret",
        storage: "B2C_1A_NodeOpSecretBasic",
        certificate_bound: false,
    },
    // Only an engine that form-urlencodes id and secret before base64 (RFC 6749 §2.3.1) passes.
    OpClient {
        client_id: "secret-basic-special",
        method: Method::ClientSecretBasic,
        signing_alg: None,
        key_id: "client_secret",
        storage: "B2C_1A_NodeOpSecretBasicSpecial",
        certificate_bound: false,
    },
    OpClient {
        client_id: "tls",
        method: Method::TlsClientAuth,
        signing_alg: None,
        key_id: "ClientCertificate",
        storage: "B2C_1A_NodeOpTlsCert",
        certificate_bound: false,
    },
    OpClient {
        client_id: "self-signed-tls",
        method: Method::SelfSignedTlsClientAuth,
        signing_alg: None,
        key_id: "ClientCertificate",
        storage: "B2C_1A_NodeOpSelfSignedCert",
        certificate_bound: false,
    },
    OpClient {
        client_id: "bound",
        method: Method::TlsClientAuth,
        signing_alg: None,
        key_id: "ClientCertificate",
        storage: "B2C_1A_NodeOpBoundCert",
        certificate_bound: true,
    },
];

const SECRETS: [(&str, &str); 4] = [
    ("secret-post", "p0st-s3cret-value"),
    ("secret-basic", "b4sic-s3cret-value"),
    ("secret-basic-special", "sp3c:al+/=%&?~ secret"),
    ("wrong", "not-the-registered-secret"),
];

/// A running node-oidc-provider; killed when dropped.
pub(crate) struct NodeOp {
    pub(crate) issuer: String,
    /// The test CA that issued the server's and the tls_client_auth clients' certificates.
    pub(crate) ca_pem: String,
    /// The provider's discovery document.
    pub(crate) discovery: serde_json::Value,
    /// Every client credential and the rejection keys, by StorageReferenceId.
    pub(crate) keys: KeyStore,
    /// The same keys as files (`NAME.pem`, `NAME.txt`), for [`NodeOp::write_keys`].
    key_files: Vec<(String, String)>,
    child: Child,
    logs: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl std::fmt::Debug for NodeOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOp").field("issuer", &self.issuer).field("pid", &self.child.id()).finish_non_exhaustive()
    }
}

impl Drop for NodeOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl NodeOp {
    /// Starts the provider, or says exactly what is missing.
    pub(crate) fn start() -> Result<NodeOp, String> {
        NodeOp::start_with(&[])
    }

    /// Like [`NodeOp::start`], registering more redirect URIs for every client (a policy with
    /// another tenant, or `UsePolicyInRedirectUri`).
    pub(crate) fn start_with(redirect_uris: &[&str]) -> Result<NodeOp, String> {
        let project = project_dir();
        check_node(MIN_NODE, NODE_HELP)?;
        npm_ci(&project, "oidc-provider", NPM_TIMEOUT)?;
        let dir = std::env::temp_dir().join(format!("ief-node-op-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut uris = vec![REDIRECT_URI];
        uris.extend(redirect_uris);
        let material = Material::generate(&uris).map_err(|e| format!("generating the test PKI: {e}"))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok::<PathBuf, String>(path)
        };
        let config = serde_json::json!({
            "tls": {
                "cert": write("server.pem", &material.server_cert)?,
                "key": write("server.key", &material.server_key)?,
                "ca": write("ca.pem", &material.ca_pem)?,
            },
            "accounts": USERS.iter().map(|u| serde_json::json!({
                "username": u.username,
                "password": u.password,
                "claims": {
                    "sub": u.sub,
                    "email": u.email,
                    "email_verified": true,
                    "name": format!("{} {}", u.given_name, u.family_name),
                    "given_name": u.given_name,
                    "family_name": u.family_name,
                },
            })).collect::<Vec<_>>(),
            "clients": material.clients,
            "consent": "form",
        });
        let config_path = write("config.json", &config.to_string())?;

        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg("--config")
            .arg(&config_path)
            .args(["--port", "0", "--ttl", &NODE_TTL_SECS.to_string()])
            .current_dir(&project)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let logs = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for_each_line(stdout, |line| {
                    if let Some(issuer) = line.strip_prefix("ready ") {
                        let _ = ready_tx.send(issuer.to_owned());
                    }
                    push_log(&logs, line);
                })
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || for_each_line(stderr, |line| push_log(&logs, line)));
        }
        // The handle owns the process from here: any early return kills it.
        let mut op = NodeOp {
            issuer: String::new(),
            ca_pem: material.ca_pem.clone(),
            discovery: serde_json::Value::Null,
            keys: material.keys,
            key_files: material.key_files,
            child,
            logs,
            dir,
        };
        let spawned = Instant::now();
        op.issuer = match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(issuer) => issuer,
            Err(e) => {
                let status = op.child.try_wait().ok().flatten();
                return Err(format!(
                    "node-oidc-provider printed no ready line ({e}) after {:?} (exit: {status:?}); output:\n{}",
                    spawned.elapsed(),
                    op.logs()
                ));
            }
        };
        op.discovery = op.fetch_discovery()?;
        Ok(op)
    }

    fn fetch_discovery(&self) -> Result<serde_json::Value, String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let roots = self.roots();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let pool = ief_protocols::federation::http::ClientPool::new(Duration::from_secs(10));
                let client = pool.client(None, Some(&roots)).map_err(|e| e.to_string())?;
                let response = client.get(&url).send().await.map_err(|e| format!("{url}: {e:?}"))?;
                response.json::<serde_json::Value>().await.map_err(|e| format!("{url}: {e}"))
            })
        });
        handle.join().map_err(|_| "the discovery thread panicked".to_owned())?
    }

    /// Writes every key of [`NodeOp::keys`] into `dir` as a key folder (`RunOptions::keys`,
    /// `ief run --keys`), and generates `also` (the policy's own keys, e.g. the token signing key).
    pub(crate) fn write_keys(&self, dir: &Path, also: &[&str]) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, text) in &self.key_files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        ief_protocols::keys::init_keys(dir, also).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Trust for the provider's TLS certificate.
    pub(crate) fn roots(&self) -> TrustedRoots {
        TrustedRoots(vec![self.ca_pem.clone()])
    }

    /// An endpoint from discovery (`token_endpoint`, `userinfo_endpoint`...).
    pub(crate) fn endpoint(&self, name: &str) -> String {
        self.discovery[name].as_str().unwrap_or_default().to_owned()
    }

    /// `{issuer}/.well-known/openid-configuration`, the `METADATA` of a B2C profile.
    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// A code-flow authorization request with `response_mode=form_post`.
    pub(crate) fn authorize_url(&self, client_id: &str, state: &str, nonce: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("response_mode", "form_post")
            .append_pair("scope", "openid email profile")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .finish();
        format!("{}?{query}", self.endpoint("authorization_endpoint"))
    }

    /// What node printed so far (ready line, JSON error events with their error_detail).
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub(crate) fn client(client_id: &str) -> &'static OpClient {
        CLIENTS.iter().find(|c| c.client_id == client_id).unwrap_or_else(|| panic!("no client {client_id}"))
    }

    /// An OpenIdConnect technical profile for `client`, as a B2C policy writes it. `metadata`
    /// adds or replaces items, `storage` replaces the credential's StorageReferenceId, and
    /// `inner` is appended inside the profile (OutputClaims...).
    pub(crate) fn profile_xml(
        &self,
        id: &str,
        client: &OpClient,
        metadata: &[(&str, &str)],
        storage: Option<&str>,
        inner: &str,
    ) -> String {
        let metadata_url = self.metadata_url();
        let mut items: Vec<(&str, &str)> = vec![
            ("METADATA", metadata_url.as_str()),
            ("client_id", client.client_id),
            ("response_types", "code"),
            ("response_mode", "form_post"),
            ("scope", "openid email profile"),
            ("HttpBinding", "POST"),
            ("UsePolicyInRedirectUri", "false"),
            ("token_endpoint_auth_method", client.method.as_str()),
        ];
        if let Some(alg) = client.signing_alg {
            items.push(("token_signing_algorithm", alg));
        }
        for (k, v) in metadata {
            items.retain(|(key, _)| key != k);
            items.push((k, v));
        }
        let items: String = items.iter().map(|(k, v)| format!(r#"<Item Key="{k}">{}</Item>"#, escape(v))).collect();
        format!(
            r#"<TechnicalProfile Id="{id}"><DisplayName>{id}</DisplayName><Protocol Name="OpenIdConnect" /><Metadata>{items}</Metadata><CryptographicKeys><Key Id="{}" StorageReferenceId="{}" /></CryptographicKeys>{inner}</TechnicalProfile>"#,
            client.key_id,
            storage.unwrap_or(client.storage),
        )
    }
}

/// A one-file policy holding `profiles` (TechnicalProfile XML) in the interop tenant.
pub(crate) fn policy(profiles: &str) -> Policy {
    let xml = format!(
        r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Interop" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Interop"><BuildingBlocks><ClaimsSchema><ClaimType Id="email"><DisplayName>Email</DisplayName><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks><ClaimsProviders><ClaimsProvider><DisplayName>node-oidc-provider</DisplayName><TechnicalProfiles>{profiles}</TechnicalProfiles></ClaimsProvider></ClaimsProviders></TrustFrameworkPolicy>"#
    );
    let set = PolicySet::from_sources([("interop.xml", xml.as_str())]);
    let mut diags = set.diagnostics.clone();
    let effective = EffectivePolicy::build(&set, 0, &mut diags);
    let errors: Vec<String> =
        diags.into_sorted().into_iter().filter(|d| d.is_error()).map(|d| d.display(&set.db).to_string()).collect();
    assert!(errors.is_empty(), "the interop policy has errors:\n{}", errors.join("\n"));
    effective.expect("the interop policy builds").model
}

/// The token-endpoint authentication of `profile`, read by ief from its metadata and keys.
pub(crate) fn client_auth(policy: &Policy, profile: &str, keys: &KeyStore) -> Result<ClientAuth, ProfileError> {
    let tp = policy.profile(profile).unwrap_or_else(|| panic!("no profile {profile}"));
    let bag = ClaimsBag::with_capacity(policy.claim_types.len());
    let mut extensions = Extensions::default();
    extensions.insert(keys.clone());
    let services = Services { env: &SystemEnv, extensions: &extensions };
    let context = RequestContext::default();
    let request = ProfileRequest {
        policy,
        profile: tp,
        invocation: Invocation::Step,
        inputs: Vec::new(),
        bag: &bag,
        answer: None,
        profile_state: None,
        services: &services,
        context: &context,
        token_claims: &[],
    };
    ClientAuth::from_profile(&request)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Reads a pipe to its end, line by line; bytes that are not UTF-8 never stop the reading, so
/// the child never blocks on a full pipe.
fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/node-oidc-provider")
}

/// The generated PKI, client registrations and key store.
struct Material {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    clients: Vec<serde_json::Value>,
    keys: KeyStore,
    key_files: Vec<(String, String)>,
}

impl Material {
    fn generate(redirect_uris: &[&str]) -> Result<Material, String> {
        let err = |e: rcgen::Error| e.to_string();
        let (ca_pem, ca) = certificate_authority()?;
        // Same CA name, another key: a client certificate from it has the right DN but must fail.
        let (_, rogue) = certificate_authority()?;

        let server_key = KeyPair::generate().map_err(err)?;
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(err)?;
        server.distinguished_name = dn(&[(DnType::CommonName, "127.0.0.1")]);
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca).map_err(err)?.pem();

        let rsa = || KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(err);
        let mut keys = KeyStore::empty();
        let mut key_files = Vec::new();
        let mut insert = |name: &str, pem: String| {
            keys.insert_pem(name, &pem).map_err(|e| e.to_string())?;
            key_files.push((format!("{name}.pem"), pem));
            Ok::<(), String>(())
        };

        let (rs256, rs512, wrong) = (rsa()?, rsa()?, rsa()?);
        insert("B2C_1A_NodeOpPkjwtRs256", rs256.serialize_pem())?;
        insert("B2C_1A_NodeOpPkjwtRs512", rs512.serialize_pem())?;
        insert(WRONG_KEY, wrong.serialize_pem())?;

        let tls_dn = [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "ief interop"),
            (DnType::CommonName, "ief-tls-client"),
        ];
        let bound_dn = [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "ief interop"),
            (DnType::CommonName, "ief-bound-client"),
        ];
        let (tls_key, bound_key, self_key) = (rsa()?, rsa()?, rsa()?);
        let tls_cert = client_cert(&tls_dn, &tls_key, Some(&ca))?;
        insert("B2C_1A_NodeOpTlsCert", format!("{tls_cert}{}", tls_key.serialize_pem()))?;
        let bound_cert = client_cert(&bound_dn, &bound_key, Some(&ca))?;
        insert("B2C_1A_NodeOpBoundCert", format!("{bound_cert}{}", bound_key.serialize_pem()))?;
        let self_cert = client_cert(&[(DnType::CommonName, "ief-self-signed-client")], &self_key, None)?;
        insert("B2C_1A_NodeOpSelfSignedCert", format!("{self_cert}{}", self_key.serialize_pem()))?;
        // Rejection certificates reuse keys: what differs is the certificate.
        let rogue_cert = client_cert(&tls_dn, &tls_key, Some(&rogue))?;
        insert(ROGUE_CA_CERT, format!("{rogue_cert}{}", tls_key.serialize_pem()))?;
        let wrong_dn = [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "ief interop"),
            (DnType::CommonName, "someone-else"),
        ];
        let wrong_dn_cert = client_cert(&wrong_dn, &tls_key, Some(&ca))?;
        insert(WRONG_DN_CERT, format!("{wrong_dn_cert}{}", tls_key.serialize_pem()))?;
        let unregistered = client_cert(&[(DnType::CommonName, "ief-self-signed-client")], &self_key, None)?;
        insert(UNREGISTERED_CERT, format!("{unregistered}{}", self_key.serialize_pem()))?;

        for (client, secret) in SECRETS {
            let name = match client {
                "secret-post" => "B2C_1A_NodeOpSecretPost",
                "secret-basic" => "B2C_1A_NodeOpSecretBasic",
                "secret-basic-special" => "B2C_1A_NodeOpSecretBasicSpecial",
                _ => WRONG_SECRET,
            };
            keys.insert_secret(name, secret.as_bytes().to_vec());
            key_files.push((format!("{name}.txt"), secret.to_owned()));
        }

        let mut clients = Vec::new();
        for c in CLIENTS {
            let mut meta = serde_json::json!({
                "client_id": c.client_id,
                "token_endpoint_auth_method": c.method.as_str(),
                "redirect_uris": redirect_uris,
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
            });
            let public_jwk =
                |storage: &str| keys.signing_key(storage).map(|k| k.public_jwk().clone()).map_err(|e| e.to_string());
            match c.method {
                Method::ClientSecretPost | Method::ClientSecretBasic => {
                    let secret = SECRETS.iter().find(|(id, _)| *id == c.client_id).map(|(_, s)| *s).unwrap_or_default();
                    meta["client_secret"] = secret.into();
                }
                Method::PrivateKeyJwt => {
                    meta["token_endpoint_auth_signing_alg"] = c.signing_alg.unwrap_or("RS256").into();
                    // The JWK's alg must be the client's, or node finds no applicable key.
                    let mut jwk = public_jwk(c.storage)?;
                    jwk["alg"] = c.signing_alg.unwrap_or("RS256").into();
                    meta["jwks"] = serde_json::json!({ "keys": [jwk] });
                }
                Method::TlsClientAuth => {
                    let dn = if c.certificate_bound { "CN=ief-bound-client,O=ief interop,C=US" } else { TLS_CLIENT_DN };
                    meta["tls_client_auth_subject_dn"] = dn.into();
                }
                Method::SelfSignedTlsClientAuth => {
                    // node matches x5t#S256 of the registered key's x5c, so the JWK carries it.
                    let (certs, _) = keys.identity_pem(c.storage).map_err(|e| e.to_string())?;
                    let mut jwk = public_jwk(c.storage)?;
                    jwk["x5c"] = serde_json::json!([pem_body(certs)]);
                    meta["jwks"] = serde_json::json!({ "keys": [jwk] });
                }
            }
            if c.certificate_bound {
                meta["tls_client_certificate_bound_access_tokens"] = true.into();
            }
            clients.push(meta);
        }
        Ok(Material { ca_pem, server_cert, server_key: server_key.serialize_pem(), clients, keys, key_files })
    }
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), *v);
    }
    dn
}

fn certificate_authority() -> Result<(String, Issuer<'static, KeyPair>), String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name =
        dn(&[(DnType::OrganizationName, "ief interop"), (DnType::CommonName, "ief interop test CA")]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let pem = params.self_signed(&key).map_err(|e| e.to_string())?.pem();
    Ok((pem, Issuer::new(params, key)))
}

/// A client certificate for `key`, issued by `issuer` or self-signed.
fn client_cert(
    subject: &[(DnType, &str)],
    key: &KeyPair,
    issuer: Option<&Issuer<'static, KeyPair>>,
) -> Result<String, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name = dn(subject);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    // A fresh serial each time, so two certificates for one key and DN still differ.
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| e.to_string())?;
    serial[0] &= 0x7f;
    params.serial_number = Some(serial.to_vec().into());
    let cert = match issuer {
        Some(issuer) => params.signed_by(key, issuer),
        None => params.self_signed(key),
    };
    cert.map(|c| c.pem()).map_err(|e| e.to_string())
}

/// The base64 DER of the first PEM block (a JWK's `x5c` entry).
fn pem_body(pem: &str) -> String {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    // Round-trip so a malformed block fails here rather than at the provider.
    STANDARD.decode(&body).map(|der| STANDARD.encode(der)).unwrap_or(body)
}
