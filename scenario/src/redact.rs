//! What a report must not show, wherever it appears (claims, the token, pages, the trace,
//! errors): the tokens an identity provider handed over (`{oauth2:access_token}` and its
//! siblings), and values that change from run to run: loopback ports and the thumbprints of
//! keys and certificates generated for the run.

use super::RunReport;
use ief_protocols::keys::KeyStore;

/// What replaces a credential.
pub(super) const REDACTED: &str = "[redacted]";

/// What replaces the thumbprint of a key made for this run.
pub(super) const THUMBPRINT: &str = "[thumbprint]";

/// The shortest value treated as a credential: shorter ones would blank out ordinary words.
const MIN_SECRET_LEN: usize = 8;

/// Hosts whose port is replaced by `[port]`.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1:", "localhost:", "[::1]:"];

/// `127.0.0.1:PORT` (and `localhost:PORT`, `[::1]:PORT`) → `127.0.0.1:[port]`.
pub(super) fn loopback_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = LOOPBACK_HOSTS.iter().filter_map(|h| rest.find(h).map(|i| (i, h.len()))).min_by_key(|(i, _)| *i);
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        let (before, after) = rest.split_at(at + len);
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[port]");
        }
        rest = &after[digits..];
    }
}

/// The thumbprints by which messages name the keys `names` of `keys`: a signing key's `kid`
/// (its JWK thumbprint), a certificate's `x5t#S256` and `x5t`. Keys generated for one run have
/// new ones every run.
pub(super) fn key_thumbprints<'a>(keys: &KeyStore, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        if let Ok(key) = keys.signing_key(name) {
            out.push(key.kid().to_owned());
        }
        if let Ok((certificate, _)) = keys.identity_pem(name)
            && let Ok(der) = ief_protocols::keys::certificate_der(certificate)
        {
            out.push(ief_protocols::keys::x5t_s256(&der));
            out.push(ief_protocols::keys::x5t(&der));
        }
    }
    out
}

/// Values to take out of a report: credentials and run-specific thumbprints.
#[derive(Debug, Default)]
pub(super) struct Redactions {
    replacements: Vec<(String, &'static str)>,
}

impl Redactions {
    pub(super) fn new(secrets: Vec<String>, thumbprints: &[String]) -> Redactions {
        let mut replacements: Vec<(String, &'static str)> = secrets
            .into_iter()
            .map(|s| (s, REDACTED))
            .chain(thumbprints.iter().map(|t| (t.clone(), THUMBPRINT)))
            .filter(|(v, _)| v.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a value containing another is replaced whole.
        replacements.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        replacements.dedup_by(|a, b| a.0 == b.0);
        Redactions { replacements }
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (value, label) in &self.replacements {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), label);
            }
        }
        loopback_ports(&text)
    }

    fn scrub_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.scrub(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.scrub_json(v)),
            _ => {}
        }
    }

    /// Removes the values and loopback ports from every text of the report.
    pub(super) fn apply(&self, report: &mut RunReport) {
        report.claims.values_mut().for_each(|v| self.scrub_json(v));
        if let Some(token) = &mut report.token {
            self.scrub_json(&mut token.header);
            self.scrub_json(&mut token.claims);
        }
        if let Some(error) = &mut report.error {
            error.message = self.scrub(&error.message);
        }
        for text in report.pages.iter_mut().chain(report.trace.iter_mut()) {
            *text = self.scrub(text);
        }
        for request in &mut report.requests {
            self.scrub_json(&mut request.body);
            request.query.values_mut().for_each(|v| *v = self.scrub(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ief_engine::exec::credential_values;
    use ief_transforms::{ClaimValue, ClaimsBag};
    use sha1::Digest;

    use super::*;

    #[test]
    fn loopback_ports_are_replaced_everywhere_and_nothing_else() {
        assert_eq!(
            loopback_ports("iss=https://127.0.0.1:41234, at http://localhost:8080/x and [::1]:9/y"),
            "iss=https://127.0.0.1:[port], at http://localhost:[port]/x and [::1]:[port]/y"
        );
        assert_eq!(
            loopback_ports("127.0.0.1 and 127.0.0.1:abc and 10.0.0.1:80"),
            "127.0.0.1 and 127.0.0.1:abc and 10.0.0.1:80"
        );
        assert_eq!(loopback_ports("ends with 127.0.0.1:"), "ends with 127.0.0.1:");
    }

    #[test]
    fn thumbprints_of_generated_keys_are_listed_for_redaction() {
        let mut keys = KeyStore::empty();
        let rsa = ief_idp::pki::rsa_private_key_pem().expect("a key");
        keys.insert_pem("signing", &rsa).expect("a key");
        let cert = ief_idp::pki::self_signed_client_cert("CN=client").expect("a certificate");
        keys.insert_pem("cert", &cert.identity_pem()).expect("a certificate");
        keys.insert_secret("secret", b"s3cret-value".to_vec());
        let kid = keys.signing_key("signing").expect("key").kid().to_owned();
        let listed = key_thumbprints(&keys, ["signing", "cert", "secret", "missing"]);
        assert!(listed.contains(&kid), "{listed:?}");
        assert!(listed.contains(&cert.x5t_s256()), "{listed:?}");
        assert!(listed.contains(&URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(cert.der()))), "{listed:?}");
        // The certificate's key is RSA too: its kid is listed as well; the secret gives nothing.
        assert_eq!(listed.len(), 4, "{listed:?}");
        let redactions = Redactions::new(Vec::new(), &listed);
        assert_eq!(redactions.scrub(&format!("kid {kid} of 127.0.0.1:80")), "kid [thumbprint] of 127.0.0.1:[port]");
    }

    #[test]
    fn tokens_from_partner_token_claims_are_redacted_in_every_part_of_a_report() {
        let xml = r#"<TechnicalProfile Id="Idp"><DisplayName>x</DisplayName><Protocol Name="OAuth2" />
            <OutputClaims>
              <OutputClaim ClaimTypeReferenceId="accessToken" PartnerClaimType="{OAUTH2:access_token}" />
              <OutputClaim ClaimTypeReferenceId="email" />
            </OutputClaims></TechnicalProfile>"#;
        let policy = ief_testkit::policy(
            r#"<ClaimsSchema><ClaimType Id="accessToken"><DataType>string</DataType></ClaimType>
               <ClaimType Id="email"><DataType>string</DataType></ClaimType></ClaimsSchema>"#,
            xml,
        );
        let credentials: Vec<&str> =
            policy.claim_types.iter().filter(|c| c.holds_credential).map(|c| c.id.as_str()).collect();
        assert_eq!(credentials, vec!["accessToken"]);
        let mut bag = ClaimsBag::with_capacity(policy.claim_types.len());
        let id = |name: &str| policy.claim_id(name).expect("claim");
        bag.set(id("accessToken"), ClaimValue::String("gho_0123456789abcdef".into()));
        bag.set(id("email"), ClaimValue::String("a@b.c".into()));
        let secrets = credential_values(&policy, &bag);
        assert_eq!(secrets, vec!["gho_0123456789abcdef".to_owned()]);

        let mut run = RunReport {
            name: "r".into(),
            outcome: "token".into(),
            error: Some(super::super::ErrorReport {
                code: "X".into(),
                message: "token gho_0123456789abcdef at http://127.0.0.1:5000, certificate Fn0oZOTS1ro6bOEt8qmiF5vdoFILCJJmh2IRkCS0XWM".into(),
            }),
            claims: [("idp_access_token".to_owned(), serde_json::json!("gho_0123456789abcdef"))].into(),
            token: Some(super::super::TokenReport {
                header: serde_json::json!({"alg": "RS256"}),
                claims: serde_json::json!({"at": ["gho_0123456789abcdef"], "email": "a@b.c"}),
            }),
            pages: vec!["redirect to 127.0.0.1:5000/authorize".into()],
            requests: Vec::new(),
            trace: vec!["out: accessToken=gho_0123456789abcdef, email=a@b.c".into()],
            expectation_failed: None,
            path: Vec::new(),
        };
        Redactions::new(secrets, &["Fn0oZOTS1ro6bOEt8qmiF5vdoFILCJJmh2IRkCS0XWM".to_owned()]).apply(&mut run);
        let text = serde_yaml_ng::to_string(&run).expect("yaml");
        assert!(!text.contains("gho_") && !text.contains("5000"), "{text}");
        assert_eq!(run.claims["idp_access_token"], "[redacted]");
        assert_eq!(run.token.as_ref().map(|t| t.claims["email"].clone()), Some(serde_json::json!("a@b.c")));
        assert_eq!(run.trace[0], "out: accessToken=[redacted], email=a@b.c");
        assert_eq!(run.pages[0], "redirect to 127.0.0.1:[port]/authorize");
        assert_eq!(
            run.error.map(|e| e.message),
            Some("token [redacted] at http://127.0.0.1:[port], certificate [thumbprint]".to_owned())
        );
    }
}
