//! Multi-tenant providers and provider outages: `{tenant}` in METADATA, a discovery document's
//! `{tenantid}` issuer, `DiscoverMetadataByTokenIssuer` and `MarkAsFailureOnStatusCode5xx`.

use std::sync::atomic::Ordering;

use ief_transforms::ClaimValue;
use serde_json::{Map, json};

use super::fake::{Fake, IssParam, Knobs};
use super::{Rig, claim, claims, failure};

/// A token of tenant `tenant-42` under the fake's Entra-like issuers.
fn tenant_knobs(fake_base: Option<&str>) -> Knobs {
    let mut tid = Map::new();
    tid.insert("tid".into(), json!("tenant-42"));
    Knobs {
        iss: fake_base.map(|b| format!("{b}/tenant-42/v2.0")),
        iss_param: IssParam::Omit,
        issuer_template: true,
        id_token_claims: tid,
        ..Knobs::default()
    }
}

/// Starts the fake, then points its token issuer below its own address.
async fn tenant_fake() -> Fake {
    let fake = Fake::start(tenant_knobs(None)).await;
    let base = fake.base().to_owned();
    fake.knobs(|k| k.iss = Some(format!("{base}/tenant-42/v2.0")));
    fake
}

#[tokio::test]
async fn tenant_in_metadata_urls_is_the_policys_tenant() {
    let fake = Fake::start(Knobs { iss_param: IssParam::Omit, ..Knobs::default() }).await;
    let base = fake.base().to_owned();
    fake.knobs(|k| k.iss = Some(format!("{base}/contoso.onmicrosoft.com/v2.0")));
    let metadata = format!("{base}/{{tenant}}/v2.0/.well-known/openid-configuration");
    let rig = Rig::for_fake(&fake, &[("METADATA", &metadata)]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(
        claim(&got, "iss"),
        Some(&ClaimValue::String(format!("{base}/contoso.onmicrosoft.com/v2.0"))),
        "the tenant's own document was used"
    );
}

#[tokio::test]
async fn a_tenantid_issuer_template_takes_the_tenant_the_token_names() {
    let fake = tenant_fake().await;
    let rig = Rig::for_fake(&fake, &[]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "tid"), Some(&ClaimValue::String("tenant-42".into())));

    // The issuer's tenant and the token's tid must agree.
    fake.knobs(|k| {
        k.id_token_claims.insert("tid".into(), json!("tenant-7"));
    });
    let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
    assert!(message.contains("names the tenant 'tenant-42' but its tid claim is Some(\"tenant-7\")"), "{message}");
}

#[tokio::test]
async fn discover_metadata_by_token_issuer_verifies_with_the_issuers_own_document() {
    let fake = tenant_fake().await;
    let prefix = format!("{}/", fake.base());
    let rig = Rig::for_fake(&fake, &[("DiscoverMetadataByTokenIssuer", "true"), ("ValidTokenIssuerPrefixes", &prefix)]);
    let got = claims(rig.sign_in(&fake).await);
    assert_eq!(claim(&got, "sub"), Some(&ClaimValue::String("alice".into())));
    assert_eq!(fake.hits().discovery.load(Ordering::SeqCst), 2, "METADATA's document, then the issuer's");

    // A tenant document that names another issuer is not the token's.
    let other = format!("{}/tenant-7/v2.0", fake.base());
    fake.knobs(|k| k.tenant_doc_issuer = Some(other));
    let rig = Rig::for_fake(&fake, &[("DiscoverMetadataByTokenIssuer", "1"), ("ValidTokenIssuerPrefixes", &prefix)]);
    let message = failure(rig.sign_in(&fake).await, "TokenRequestFailed");
    assert!(message.contains("names the issuer") && message.contains("tenant-7"), "{message}");
}

#[tokio::test]
async fn discover_metadata_by_token_issuer_looks_up_trusted_issuers_only() {
    let fake = tenant_fake().await;
    let rig = Rig::for_fake(
        &fake,
        &[("DiscoverMetadataByTokenIssuer", "true"), ("ValidTokenIssuerPrefixes", "https://login.example/")],
    );
    let message = failure(rig.sign_in(&fake).await, "InvalidIdToken");
    assert!(message.contains("does not start with any of the ValidTokenIssuerPrefixes"), "{message}");
    assert_eq!(fake.hits().discovery.load(Ordering::SeqCst), 1, "no document fetched for an untrusted issuer");

    let rig = Rig::for_fake(&fake, &[("DiscoverMetadataByTokenIssuer", "true")]);
    let message = failure(rig.run(&[], None, None).await, "InvalidMetadata");
    assert!(message.contains("DiscoverMetadataByTokenIssuer needs ValidTokenIssuerPrefixes"), "{message}");
}

#[tokio::test]
async fn a_token_answer_that_is_not_a_token_response_is_refused_by_what_it_is() {
    let cases = [
        (r#"["at", "Bearer"]"#, "the token endpoint's answer is not a JSON object"),
        (r#"{"error": "invalid_grant", "access_token": "at"}"#, "refused the request with 'invalid_grant' (HTTP 200)"),
        (r#"{"access_token": 5}"#, "the token endpoint's answer is not a token response"),
        (r#"{"id_token": "x"} trailing"#, "the token endpoint's answer is not a JSON object"),
    ];
    for (body, expected) in cases {
        let fake = Fake::start(Knobs { token_body: Some(body), ..Knobs::default() }).await;
        let rig = Rig::for_fake(&fake, &[]);
        let message = failure(rig.sign_in(&fake).await, "TokenRequestFailed");
        assert!(message.contains(expected), "{body}: {message}");
    }
    // A numeric `error` is no refusal: the answer is read as tokens (here without an id_token).
    let fake =
        Fake::start(Knobs { token_body: Some(r#"{"error": 1, "access_token": "at"}"#), ..Knobs::default() }).await;
    let message = failure(Rig::for_fake(&fake, &[]).sign_in(&fake).await, "TokenRequestFailed");
    assert!(message.contains("the token endpoint's answer has no id_token"), "{message}");
}

#[tokio::test]
async fn mark_as_failure_on_5xx_makes_a_provider_error_an_outage() {
    let fake = Fake::start(Knobs { token_status: Some(503), ..Knobs::default() }).await;
    let rig = Rig::for_fake(&fake, &[]);
    let message = failure(rig.sign_in(&fake).await, "TokenRequestFailed");
    assert!(message.contains("refused the request with 'temporarily_unavailable'"), "{message}");

    let rig = Rig::for_fake(&fake, &[("MarkAsFailureOnStatusCode5xx", "true")]);
    let message = failure(rig.sign_in(&fake).await, "AADB2C90289");
    assert!(
        message.contains(
            "We encountered an error connecting to the identity provider. Please try again later. \
             (the token endpoint answered HTTP 503)"
        ),
        "{message}"
    );

    // A 4xx answer is the provider's refusal either way.
    fake.knobs(|k| k.token_status = Some(400));
    let message = failure(rig.sign_in(&fake).await, "TokenRequestFailed");
    assert!(message.contains("'temporarily_unavailable'"), "{message}");
}
