//! Each token_endpoint_auth_method sends exactly its credentials, read back from the wire.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::fake::{Fake, Knobs, Seen, test_keys};
use super::{CLIENT_ID, NOW, Rig, SECRET, claim, claims};
use crate::keys::KeyStore;
use ief_transforms::ClaimValue;

async fn token_request(extra: &[(&str, &str)]) -> (Seen, Fake) {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, extra);
    claims(rig.sign_in(&fake).await);
    let seen = fake.token_requests().pop().expect("a token request");
    (seen, fake)
}

#[tokio::test]
async fn client_secret_post_sends_id_and_secret_in_the_body_only() {
    let (seen, fake) = token_request(&[]).await;
    assert_eq!(seen.method, "POST");
    assert_eq!(fake.userinfo_requests()[0].method, "GET", "userinfo is a GET unless HttpBinding says POST");
    assert_eq!(seen.param("client_id"), Some(CLIENT_ID));
    assert_eq!(seen.param("client_secret"), Some(SECRET));
    assert_eq!(seen.authorization, None);
    assert_eq!(seen.param("client_assertion"), None);
}

#[tokio::test]
async fn client_secret_basic_form_encodes_before_base64_and_keeps_the_body_clean() {
    let (seen, _) = token_request(&[("token_endpoint_auth_method", "client_secret_basic")]).await;
    let header = seen.authorization.clone().expect("an Authorization header");
    let encoded = header.strip_prefix("Basic ").expect("Basic");
    let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(decoded, "client-1:sp3c%3Aal%2B%2F%3D%25%26%3F%7E+secret");
    // What an RFC 6749 §2.3.1 server does: split, then form-urldecode each half.
    let (id, secret) = decoded.split_once(':').unwrap();
    let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().unwrap().1.into_owned();
    assert_eq!((decode(id).as_str(), decode(secret).as_str()), (CLIENT_ID, SECRET));
    assert_eq!(seen.param("client_secret"), None);
    assert_eq!(seen.param("client_id"), None);
}

#[tokio::test]
async fn http_binding_get_sends_the_token_request_in_the_query() {
    let (seen, fake) = token_request(&[("HttpBinding", "GET")]).await;
    assert_eq!(seen.method, "GET");
    assert_eq!(fake.userinfo_requests()[0].method, "GET");
    assert_eq!(seen.param("grant_type"), Some("authorization_code"));
    assert_eq!(seen.param("client_secret"), Some(SECRET));
}

#[tokio::test]
async fn http_binding_post_posts_to_both_endpoints() {
    let (seen, fake) = token_request(&[("HttpBinding", "POST")]).await;
    assert_eq!(seen.method, "POST");
    assert_eq!(fake.userinfo_requests()[0].method, "POST");
}

/// The client assertion's header and verified claims.
fn assertion(seen: &Seen, alg: Algorithm) -> (jsonwebtoken::Header, Value) {
    assert_eq!(seen.param("client_assertion_type"), Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
    assert_eq!(seen.param("client_secret"), None);
    assert_eq!(seen.authorization, None);
    let jwt = seen.param("client_assertion").expect("an assertion");
    let header = jsonwebtoken::decode_header(jwt).expect("a header");
    let mut store = KeyStore::empty();
    store.insert_pem("c", &test_keys().client_signing_pem()).unwrap();
    let jwk = store.signing_key("c").unwrap().public_jwk().clone();
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("signed by the assertion key").claims;
    (header, claims)
}

#[tokio::test]
async fn private_key_jwt_rs256_signs_a_short_lived_assertion_for_the_token_endpoint() {
    let fake = Fake::start(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("token_endpoint_auth_method", "private_key_jwt")]);
    claims(rig.sign_in(&fake).await);
    claims(rig.sign_in(&fake).await);
    let seen = fake.token_requests();
    let (header, first) = assertion(&seen[0], Algorithm::RS256);
    let (_, second) = assertion(&seen[1], Algorithm::RS256);
    assert_eq!(header.alg, Algorithm::RS256);
    let mut store = KeyStore::empty();
    store.insert_pem("c", &test_keys().client_signing_pem()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(store.signing_key("c").unwrap().kid()), "kid = JWK thumbprint");
    assert_eq!(seen[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(first["iss"], CLIENT_ID);
    assert_eq!(first["sub"], CLIENT_ID);
    assert_eq!(first["aud"], format!("{}/token", fake.base()));
    assert_eq!(first["iat"], NOW);
    let lifetime = first["exp"].as_i64().unwrap() - first["iat"].as_i64().unwrap();
    assert!((1..=300).contains(&lifetime), "{lifetime}");
    assert_ne!(first["jti"], second["jti"], "a fresh jti per request");
    assert!(first["jti"].as_str().is_some_and(|j| j.len() >= 16));
}

#[tokio::test]
async fn private_key_jwt_rs512_with_an_x5t_header() {
    let (seen, _) = token_request(&[
        ("token_endpoint_auth_method", "private_key_jwt"),
        ("token_signing_algorithm", "RS512"),
        ("assertion_key_id", "x5t"),
    ])
    .await;
    let (header, _) = assertion(&seen, Algorithm::RS512);
    assert_eq!(header.alg, Algorithm::RS512);
    assert_eq!(header.kid, None);
    let expected = URL_SAFE_NO_PAD.encode(Sha1::digest(&test_keys().client.cert_der));
    assert_eq!(header.x5t.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn private_key_jwt_without_a_key_id() {
    let (seen, _) =
        token_request(&[("token_endpoint_auth_method", "private_key_jwt"), ("assertion_key_id", "none")]).await;
    let (header, _) = assertion(&seen, Algorithm::RS256);
    assert_eq!((header.kid, header.x5t), (None, None));
}

async fn mutual_tls(method: &str) {
    let fake = Fake::start_tls(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[("token_endpoint_auth_method", method)]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "locale"), Some(&ClaimValue::String("en-GB".into())), "userinfo was read");
    let client_cert = &test_keys().client_a.cert_der;
    let token = fake.token_requests().pop().expect("a token request");
    assert_eq!(token.path, "/mtls/token", "the RFC 8705 alias");
    assert_eq!(token.client_cert.as_ref(), Some(client_cert), "the handshake presented the ClientCertificate");
    assert_eq!(token.param("client_id"), Some(CLIENT_ID));
    assert_eq!(token.param("client_secret"), None);
    assert_eq!(token.param("client_assertion"), None);
    assert_eq!(token.authorization, None);
    let info = fake.userinfo_requests().pop().expect("a userinfo request");
    assert_eq!(info.path, "/mtls/userinfo", "the RFC 8705 alias");
    assert_eq!(info.client_cert.as_ref(), Some(client_cert), "the same certificate as the token request");
    // One plain client (discovery, JWKS) and one per certificate.
    assert_eq!(rig.handler.client_count(), 2);
}

#[tokio::test]
async fn tls_client_auth_uses_the_certificate_and_the_mtls_aliases() {
    mutual_tls("tls_client_auth").await;
}

#[tokio::test]
async fn self_signed_tls_client_auth_uses_the_certificate_and_the_mtls_aliases() {
    mutual_tls("self_signed_tls_client_auth").await;
}

#[tokio::test]
async fn secret_methods_present_no_certificate_and_use_the_plain_endpoints() {
    let fake = Fake::start_tls(Knobs::default()).await;
    let rig = Rig::for_fake(&fake, &[]);
    claims(rig.sign_in(&fake).await);
    let token = fake.token_requests().pop().unwrap();
    assert_eq!(token.path, "/token");
    assert_eq!(token.client_cert, None);
    assert_eq!(fake.userinfo_requests().pop().unwrap().path, "/userinfo");
}
