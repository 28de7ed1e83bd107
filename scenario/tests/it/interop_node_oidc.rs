//! ief against node-oidc-provider 9, in two layers.
//!
//! Token requests: the headless user agent signs in through the provider's login and consent
//! forms and takes the form_post callback; the code is redeemed with ief's `ClientAuth`, read
//! from a B2C-style technical profile, for every token-endpoint authentication method, and each
//! wrong credential is refused (also those ief itself never sends: no certificate, a secret
//! without form-urlencoding).
//!
//! Journeys: the same clients through ief's `OpenIdConnect` handler, from the redirect to the
//! issued token: every method, a certificate-bound client whose userinfo call must come over
//! the same certificate (`ClaimsEndpoint`), and every wrong credential, which ends the journey
//! with an error naming the cause (our `server.mjs` puts node's error_detail into the token
//! endpoint's error_description).
//!
//! One node process serves every case, so the suite costs one start-up; the cases run side by
//! side (`run_concurrently`), each reports its own failure, and all of them run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ief_engine::model::Policy;
use ief_idp::pki;
use ief_protocols::env::SystemEnv;
use ief_protocols::federation::client_auth::ClientAuth;
use ief_protocols::federation::http::{ClientPool, TlsIdentity};
use ief_protocols::keys::KeyStore;
use ief_scenario::agent::{CallbackMatch, Credentials, UserAgent};
use reqwest::StatusCode;

use crate::node_op::{
    CLIENTS, NodeOp, OpUser, REDIRECT_URI, ROGUE_CA_CERT, UNREGISTERED_CERT, USERS, WRONG_DN_CERT, WRONG_KEY,
    WRONG_SECRET, client_auth, policy,
};
use crate::oidc_journeys::{Case, Journeys, OUTPUT_CLAIMS, case, report, run_concurrently};

struct Suite {
    op: NodeOp,
    policy: Policy,
    pool: ClientPool,
    journeys: Journeys,
}

/// A token (or userinfo) response as the tests look at it.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: serde_json::Value,
    /// node's error_detail, echoed by server.mjs: names the cause behind "client authentication failed".
    detail: String,
}

/// How a rejection case departs from what `ClientAuth` sends.
#[derive(Clone, Copy, PartialEq)]
enum Sending {
    AsConfigured,
    WithoutCertificate,
    /// The secret in Basic without RFC 6749's form-urlencoding, as reqwest's `basic_auth` does.
    RawBasic,
}

/// A wrong credential for a registered client, and how node must refuse it.
struct Rejection {
    name: &'static str,
    client: &'static str,
    /// Metadata items that differ from the client's own profile.
    metadata: &'static [(&'static str, &'static str)],
    /// The credential's StorageReferenceId, when not the client's own.
    storage: Option<&'static str>,
    send: Sending,
    status: StatusCode,
    error: &'static str,
    /// Words of node's error_detail or error_description.
    cause: &'static str,
}

const fn refused(name: &'static str, client: &'static str, storage: &'static str, cause: &'static str) -> Rejection {
    Rejection {
        name,
        client,
        metadata: &[],
        storage: Some(storage),
        send: Sending::AsConfigured,
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        cause,
    }
}

static REJECTIONS: [Rejection; 8] = [
    // The kid is the wrong key's thumbprint: no registered key matches.
    refused("wrong key", "pkjwt-rs256", WRONG_KEY, "no applicable key found"),
    // The assertion's alg must equal the client's token_endpoint_auth_signing_alg.
    Rejection {
        metadata: &[("token_signing_algorithm", "RS256")],
        storage: None,
        ..refused("wrong algorithm", "pkjwt-rs512", "", "alg mismatch")
    },
    refused("wrong certificate", "self-signed-tls", UNREGISTERED_CERT, "unregistered client certificate"),
    refused("untrusted CA", "tls", ROGUE_CA_CERT, "client certificate was not verified"),
    refused("wrong subject DN", "tls", WRONG_DN_CERT, "certificate subject value does not match"),
    Rejection {
        storage: None,
        send: Sending::WithoutCertificate,
        ..refused("no certificate", "tls", "", "client certificate was not provided")
    },
    refused("wrong secret", "secret-basic", WRONG_SECRET, "invalid secret provided"),
    Rejection {
        storage: None,
        send: Sending::RawBasic,
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        ..refused(
            "special-character secret without form-urlencoding",
            "secret-basic-special",
            "",
            "not properly encoded",
        )
    },
];

const STATE: &str = "st4te-123";
const NONCE: &str = "n0nce-456";

impl Suite {
    fn auth(&self, profile: &str) -> Result<ClientAuth, String> {
        self.auth_with(profile, &self.op.keys)
    }

    fn auth_with(&self, profile: &str, keys: &KeyStore) -> Result<ClientAuth, String> {
        client_auth(&self.policy, profile, keys).map_err(|e| format!("{profile}: {}", e.user_message))
    }

    /// Signs alice in for `client_id` and returns the code from the form_post callback.
    async fn code(&self, client_id: &str) -> Result<String, String> {
        let user = &USERS[0];
        let agent = UserAgent::new(&self.op.roots()).map_err(|e| e.to_string())?;
        let credentials = Credentials {
            username: user.username.into(),
            password: user.password.into(),
            consent: true,
            fields: BTreeMap::new(),
        };
        let url = self.op.authorize_url(client_id, STATE, NONCE);
        let params = agent
            .authorize(&url, &CallbackMatch::Prefix(REDIRECT_URI.into()), &credentials)
            .await
            .map_err(|e| format!("signing in for {client_id}: {e}"))?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("state").as_deref() != Some(STATE) {
            return Err(format!("the callback's state is {:?}", get("state")));
        }
        // RFC 9207: node always names itself.
        if get("iss").as_deref() != Some(self.op.issuer.as_str()) {
            return Err(format!("the callback's iss is {:?}", get("iss")));
        }
        get("code")
            .ok_or_else(|| format!("no code in the callback: {:?}", params.iter().map(|p| &p.0).collect::<Vec<_>>()))
    }

    /// The token request of `profile`, authenticated as ief's `ClientAuth` does it.
    async fn redeem(&self, profile: &str, code: &str, send: Sending) -> Result<Reply, String> {
        self.redeem_with(self.auth(profile)?, code, send).await
    }

    async fn redeem_with(&self, auth: ClientAuth, code: &str, send: Sending) -> Result<Reply, String> {
        let token_endpoint = self.op.endpoint("token_endpoint");
        let identity = if send == Sending::WithoutCertificate { None } else { auth.tls_identity() };
        let client = self.pool.client(identity, Some(&self.op.roots())).map_err(|e| e.to_string())?;
        let mut form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), REDIRECT_URI.to_owned()),
        ];
        let mut authorization = auth
            .apply(&token_endpoint, &SystemEnv, &mut form)
            .map_err(|e| format!("{}: {}", auth.client_id(), e.user_message))?;
        if send == Sending::RawBasic {
            let secret = self.op.keys.secret("B2C_1A_NodeOpSecretBasicSpecial").map_err(|e| e.to_string())?;
            let raw = [auth.client_id().as_bytes(), b":", secret].concat();
            authorization = Some(format!("Basic {}", STANDARD.encode(raw)));
        }
        let mut request = client.post(&token_endpoint).form(&form);
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        reply(request.send().await.map_err(|e| format!("POST {token_endpoint}: {e:?}"))?).await
    }

    async fn userinfo(&self, access_token: &str, identity: Option<TlsIdentity<'_>>) -> Result<Reply, String> {
        let url = self.op.endpoint("userinfo_endpoint");
        let client = self.pool.client(identity, Some(&self.op.roots())).map_err(|e| e.to_string())?;
        let response =
            client.get(&url).bearer_auth(access_token).send().await.map_err(|e| format!("GET {url}: {e:?}"))?;
        reply(response).await
    }

    /// The happy path of one registered client: sign in, redeem, check the id_token.
    async fn method_works(&self, client_id: &str) -> Result<serde_json::Value, String> {
        let code = self.code(client_id).await?;
        let reply = self.redeem(&format!("NodeOp-{client_id}"), &code, Sending::AsConfigured).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("token endpoint: {reply:?}"));
        }
        let id_token = reply.body["id_token"].as_str().ok_or("no id_token")?;
        let claims = jwt_claims(id_token)?;
        let alice = &USERS[0];
        let expected = [
            ("iss", self.op.issuer.as_str()),
            ("aud", client_id),
            ("sub", alice.sub),
            ("nonce", NONCE),
            ("email", alice.email),
            ("given_name", alice.given_name),
            ("family_name", alice.family_name),
        ];
        for (claim, value) in expected {
            if claims[claim].as_str() != Some(value) {
                return Err(format!("id_token {claim} is {}, expected {value}", claims[claim]));
            }
        }
        if reply.body["token_type"].as_str() != Some("Bearer") || reply.body["access_token"].as_str().is_none() {
            return Err(format!("token response: {}", reply.body));
        }
        Ok(reply.body)
    }

    /// A wrong credential is refused, and the code survives for the right one.
    async fn rejected(&self, r: &Rejection, profile: &str) -> Result<(), String> {
        let code = self.code(r.client).await?;
        let reply = self.redeem(profile, &code, r.send).await?;
        let text = format!("{} {}", reply.detail, reply.body["error_description"].as_str().unwrap_or_default());
        if reply.status != r.status || reply.body["error"].as_str() != Some(r.error) || !text.contains(r.cause) {
            return Err(format!("expected {} {} ({}), got {reply:?}", r.status, r.error, r.cause));
        }
        let good = self.redeem(&format!("NodeOp-{}", r.client), &code, Sending::AsConfigured).await?;
        if good.status != StatusCode::OK {
            return Err(format!("the code did not survive the refused attempt: {good:?}"));
        }
        Ok(())
    }

    /// The key folder written for scenario runs loads back and authenticates as well.
    async fn written_keys_work(&self) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("ief-node-op-keys-{}", std::process::id()));
        let _cleanup = Cleanup(dir.clone());
        self.op.write_keys(&dir, &["B2C_1A_TokenSigningKeyContainer"])?;
        let loaded = KeyStore::load(&dir).map_err(|e| e.to_string())?;
        if loaded.signing_key("B2C_1A_TokenSigningKeyContainer").is_err() {
            return Err("the policy's own key was not generated".into());
        }
        for client in ["pkjwt-rs512", "self-signed-tls", "secret-basic-special"] {
            let code = self.code(client).await?;
            let auth = self.auth_with(&format!("NodeOp-{client}"), &loaded)?;
            let reply = self.redeem_with(auth, &code, Sending::AsConfigured).await?;
            if reply.status != StatusCode::OK {
                return Err(format!("{client} with keys from {}: {reply:?}", dir.display()));
            }
        }
        Ok(())
    }

    async fn certificate_bound_tokens(&self) -> Result<(), String> {
        let body = self.method_works("bound").await?;
        let token = body["access_token"].as_str().ok_or("no access_token")?;
        let own = self.auth("NodeOp-bound")?;
        let with_cert = self.userinfo(token, own.tls_identity()).await?;
        if with_cert.status != StatusCode::OK || with_cert.body["email"].as_str() != Some(USERS[0].email) {
            return Err(format!("userinfo with the bound certificate: {with_cert:?}"));
        }
        let without = self.userinfo(token, None).await?;
        if without.status != StatusCode::UNAUTHORIZED || without.body["error"].as_str() != Some("invalid_token") {
            return Err(format!("userinfo without a certificate: {without:?}"));
        }
        let other = self.auth("NodeOp-tls")?;
        let with_other = self.userinfo(token, other.tls_identity()).await?;
        if with_other.status != StatusCode::UNAUTHORIZED || !with_other.detail.contains("x5t#S256") {
            return Err(format!("userinfo with another certificate: {with_other:?}"));
        }
        Ok(())
    }

    /// The agent against node's own pages: a refused consent and a wrong password.
    async fn agent_edges(&self) -> Result<(), String> {
        let user = &USERS[1];
        let url = self.op.authorize_url("secret-post", STATE, NONCE);
        let callback = CallbackMatch::Prefix(REDIRECT_URI.into());
        let agent = UserAgent::new(&self.op.roots()).map_err(|e| e.to_string())?;
        let deny = Credentials {
            username: user.username.into(),
            password: user.password.into(),
            consent: false,
            fields: BTreeMap::new(),
        };
        let params = agent.authorize(&url, &callback, &deny).await.map_err(|e| e.to_string())?;
        if !params.contains(&("error".to_owned(), "access_denied".to_owned())) {
            return Err(format!("refused consent returned {params:?}"));
        }
        let wrong = Credentials { password: "not-bobs-password".into(), consent: true, ..deny };
        let fresh = UserAgent::new(&self.op.roots()).map_err(|e| e.to_string())?;
        match fresh.authorize(&url, &callback, &wrong).await {
            Err(e) if e.to_string().contains("Invalid username or password") => Ok(()),
            other => Err(format!("a wrong password gave {other:?}")),
        }
    }
}

/// The journey profile of a client, and of each rejection ief can send.
fn journey_profiles(op: &NodeOp) -> Vec<(String, String)> {
    let userinfo = op.endpoint("userinfo_endpoint");
    let mut profiles: Vec<(String, String)> = CLIENTS
        .iter()
        .map(|c| {
            let id = format!("Journey-{}", c.client_id);
            let metadata: &[(&str, &str)] =
                if c.certificate_bound { &[("ClaimsEndpoint", userinfo.as_str())] } else { &[] };
            let xml = op.profile_xml(&id, c, metadata, None, OUTPUT_CLAIMS);
            (id, xml)
        })
        .collect();
    for (i, r) in REJECTIONS.iter().enumerate().filter(|(_, r)| r.send == Sending::AsConfigured) {
        let id = format!("JourneyReject-{i}");
        let xml = op.profile_xml(&id, NodeOp::client(r.client), r.metadata, r.storage, OUTPUT_CLAIMS);
        profiles.push((id, xml));
    }
    // ief sends no mutual-TLS token request without a certificate: the key holds only a private key.
    let xml =
        op.profile_xml(NO_CERTIFICATE, NodeOp::client("tls"), &[], Some("B2C_1A_NodeOpPkjwtRs256"), OUTPUT_CLAIMS);
    profiles.push((NO_CERTIFICATE.to_owned(), xml));
    profiles
}

const NO_CERTIFICATE: &str = "JourneyNoCertificate";
/// How long node's log line may trail the response it belongs to.
const LOG_WAIT: Duration = Duration::from_secs(5);

impl Suite {
    /// A full journey for `client_id`: the token carries the provider's account.
    async fn journey_works(&self, client_id: &str, user: &OpUser) -> Result<(), String> {
        let journey = self.journeys.sign_in(&format!("Journey-{client_id}"), user.username, user.password).await?;
        let name = format!("{} {}", user.given_name, user.family_name);
        journey.expect_claims(&[
            ("sub", user.sub),
            ("email", user.email),
            ("name", &name),
            ("idp", &self.op.issuer),
            ("authenticationSource", "socialIdpAuthentication"),
        ])
    }

    /// The certificate-bound client's journey: node answered its userinfo lookup for this
    /// sign-in over the client's own certificate.
    async fn bound_journey_works(&self) -> Result<(), String> {
        // Bob: the token-level case signs alice in at userinfo with the same client.
        let bob = &USERS[1];
        self.journey_works("bound", bob).await?;
        let (certs, _) = self.op.keys.identity_pem("B2C_1A_NodeOpBoundCert").map_err(|e| e.to_string())?;
        let der = pki::certificate_der(certs).map_err(|e| e.to_string())?;
        let expected = serde_json::json!({
            "event": "userinfo.claims", "client": "bound", "sub": bob.sub, "x5t#S256": pki::x5t_s256(&der),
        });
        let started = Instant::now();
        loop {
            let logs = self.op.logs();
            let lookups: Vec<serde_json::Value> = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["event"] == "userinfo.claims" && v["sub"] == bob.sub)
                .collect();
            if lookups.contains(&expected) {
                return Ok(());
            }
            if started.elapsed() > LOG_WAIT {
                return Err(format!("node logged no userinfo lookup {expected} for the journey; found {lookups:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A wrong credential ends the journey with node's reason in ief's message.
    async fn journey_rejected(&self, r: &Rejection, profile: &str) -> Result<(), String> {
        let alice = &USERS[0];
        let journey = self.journeys.sign_in(profile, alice.username, alice.password).await?;
        let error = format!("'{}'", r.error);
        let status = format!("(HTTP {})", r.status.as_u16());
        journey.expect_error("TokenRequestFailed", &[&error, "client authentication failed (", r.cause, &status])
    }

    /// A mutual-TLS profile whose key has no certificate fails before the user leaves ief.
    async fn journey_without_certificate(&self) -> Result<(), String> {
        let alice = &USERS[0];
        let journey = self.journeys.sign_in(NO_CERTIFICATE, alice.username, alice.password).await?;
        if let Some(url) = &journey.redirected_to {
            return Err(format!("the journey went to {url} although it cannot authenticate"));
        }
        journey.expect_error("MissingKey", &["'ClientCertificate'", "a certificate followed by its private key"])
    }
}

/// Removes a folder on drop.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn reply(response: reqwest::Response) -> Result<Reply, String> {
    let status = response.status();
    let detail = response.headers().get("x-error-detail").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok(Reply { status, body, detail })
}

fn jwt_claims(jwt: &str) -> Result<serde_json::Value, String> {
    let payload = jwt.split('.').nth(1).ok_or("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_oidc_provider_interop() {
    let op = NodeOp::start().unwrap_or_else(|e| panic!("node-oidc-provider could not start: {e}"));
    let mut profiles: Vec<String> =
        CLIENTS.iter().map(|c| op.profile_xml(&format!("NodeOp-{}", c.client_id), c, &[], None, "")).collect();
    for (i, r) in REJECTIONS.iter().enumerate() {
        profiles.push(op.profile_xml(&format!("Reject-{i}"), NodeOp::client(r.client), r.metadata, r.storage, ""));
    }
    let journeys = Journeys::new(&journey_profiles(&op), op.keys.clone(), op.roots())
        .unwrap_or_else(|e| panic!("the journey policy: {e}"));
    let suite = Arc::new(Suite {
        policy: policy(&profiles.concat()),
        op,
        pool: ClientPool::new(Duration::from_secs(10)),
        journeys,
    });

    let mut cases: Vec<Case> = Vec::new();
    for client in CLIENTS.iter().filter(|c| !c.certificate_bound) {
        let (s, id) = (Arc::clone(&suite), client.client_id);
        cases.push(case(
            format!("{id} ({})", client.method.as_str()),
            async move { s.method_works(id).await.map(|_| ()) },
        ));
    }
    let s = Arc::clone(&suite);
    cases.push(case("certificate-bound access token", async move { s.certificate_bound_tokens().await }));
    for (i, r) in REJECTIONS.iter().enumerate() {
        let s = Arc::clone(&suite);
        cases.push(case(format!("rejects {}", r.name), async move { s.rejected(r, &format!("Reject-{i}")).await }));
    }
    let s = Arc::clone(&suite);
    cases.push(case("agent: refused consent and wrong password", async move { s.agent_edges().await }));
    let s = Arc::clone(&suite);
    cases.push(case("key folder for scenario runs", async move { s.written_keys_work().await }));

    for client in CLIENTS.iter().filter(|c| !c.certificate_bound) {
        let (s, id) = (Arc::clone(&suite), client.client_id);
        cases.push(case(format!("journey: {id} ({})", client.method.as_str()), async move {
            s.journey_works(id, &USERS[0]).await
        }));
    }
    let s = Arc::clone(&suite);
    cases.push(case("journey: certificate-bound client, userinfo over its certificate", async move {
        s.bound_journey_works().await
    }));
    for (i, r) in REJECTIONS.iter().enumerate().filter(|(_, r)| r.send == Sending::AsConfigured) {
        let s = Arc::clone(&suite);
        cases.push(case(format!("journey rejects {}", r.name), async move {
            s.journey_rejected(r, &format!("JourneyReject-{i}")).await
        }));
    }
    let s = Arc::clone(&suite);
    cases.push(case("journey rejects no certificate", async move { s.journey_without_certificate().await }));

    let results = run_concurrently(cases).await;
    if std::env::var_os("IEF_INTEROP_LOGS").is_some() {
        println!("{}", suite.op.logs());
    }
    report(&results, &format!("node output:\n{}", suite.op.logs()));
}
