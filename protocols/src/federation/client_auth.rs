//! Client authentication at a token endpoint (`token_endpoint_auth_method`): client secrets in
//! the body or in HTTP Basic (RFC 6749 §2.3.1), `private_key_jwt` assertions (RFC 7523) signed
//! with `assertion_signing_key`, and mutual TLS (RFC 8705) with the `ClientCertificate` key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ief_engine::exec::{ProfileError, ProfileRequest};
use ief_transforms::TransformEnv;
use jsonwebtoken::{Algorithm, Header};

use super::http::TlsIdentity;
use super::{error, key_error, key_store, required_storage_id, secret_text};
use crate::keys::SigningKey;

/// `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid: providers want it short.
const ASSERTION_LIFETIME_SECS: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    ClientSecretPost,
    ClientSecretBasic,
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::ClientSecretPost,
        Method::ClientSecretBasic,
        Method::PrivateKeyJwt,
        Method::TlsClientAuth,
        Method::SelfSignedTlsClientAuth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::ClientSecretPost => "client_secret_post",
            Method::ClientSecretBasic => "client_secret_basic",
            Method::PrivateKeyJwt => "private_key_jwt",
            Method::TlsClientAuth => "tls_client_auth",
            Method::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == text.trim())
    }

    /// Whether the client authenticates with its TLS certificate.
    pub fn is_mutual_tls(self) -> bool {
        matches!(self, Method::TlsClientAuth | Method::SelfSignedTlsClientAuth)
    }
}

/// What identifies the signing key in a client assertion's header (`assertion_key_id`
/// metadata): providers differ in what they look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyIdHeader {
    /// `kid` = the RFC 7638 JWK thumbprint of the public key (default).
    Thumbprint,
    /// `x5t` = base64url SHA-1 of the key's certificate, no `kid`.
    X5t,
    /// Neither.
    None,
}

impl KeyIdHeader {
    fn parse(text: &str) -> Option<KeyIdHeader> {
        match text.trim().to_ascii_lowercase().as_str() {
            "thumbprint" => Some(KeyIdHeader::Thumbprint),
            "x5t" => Some(KeyIdHeader::X5t),
            "none" => Some(KeyIdHeader::None),
            _ => None,
        }
    }
}

/// A profile's token-endpoint authentication, resolved from its metadata and keys.
pub struct ClientAuth {
    method: Method,
    client_id: String,
    secret: Option<String>,
    assertion: Option<AssertionKey>,
    identity: Option<(String, String)>,
}

struct AssertionKey {
    key: SigningKey,
    algorithm: Algorithm,
    header: AssertionHeader,
}

/// [`KeyIdHeader`] resolved against the key.
enum AssertionHeader {
    Thumbprint,
    /// The certificate's thumbprint.
    X5t(String),
    Bare,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth").field("method", &self.method).field("client_id", &self.client_id).finish()
    }
}

impl ClientAuth {
    /// Reads `client_id`, `token_endpoint_auth_method` (default `client_secret_post`),
    /// `token_signing_algorithm` (RS256 default, or RS512) and `assertion_key_id`, and the key
    /// the method needs: `client_secret`, `assertion_signing_key` or `ClientCertificate`.
    pub fn from_profile(request: &ProfileRequest<'_>) -> Result<ClientAuth, ProfileError> {
        let profile = request.profile;
        let client_id = profile
            .metadata("client_id")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| error("MissingMetadata", "the metadata item 'client_id' is missing".to_owned()))?
            .to_owned();
        let method = match profile.metadata("token_endpoint_auth_method") {
            None => Method::ClientSecretPost,
            Some(text) => Method::parse(text).ok_or_else(|| {
                let known: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
                error(
                    "InvalidMetadata",
                    format!("token_endpoint_auth_method '{text}' is not one of {}", known.join(", ")),
                )
            })?,
        };
        let mut auth = ClientAuth { method, client_id, secret: None, assertion: None, identity: None };
        match method {
            Method::ClientSecretPost | Method::ClientSecretBasic => {
                auth.secret = Some(secret_text(request, "client_secret")?);
            }
            Method::PrivateKeyJwt => auth.assertion = Some(assertion_key(request)?),
            Method::TlsClientAuth | Method::SelfSignedTlsClientAuth => {
                let storage = required_storage_id(profile, "ClientCertificate")?;
                let (certs, key) =
                    key_store(request)?.identity_pem(storage).map_err(|e| key_error("ClientCertificate", &e))?;
                auth.identity = Some((certs.to_owned(), key.to_owned()));
            }
        }
        Ok(auth)
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The TLS identity to present: set for the mutual-TLS methods, whose token and userinfo
    /// calls must come from the same certificate.
    pub fn tls_identity(&self) -> Option<TlsIdentity<'_>> {
        self.identity.as_ref().map(|(c, k)| TlsIdentity { certificates: c, private_key: k })
    }

    /// Adds the client's credentials to a token request: form fields, and the value of the
    /// `Authorization` header for `client_secret_basic`. `audience` is the token endpoint.
    pub fn apply(
        &self,
        audience: &str,
        env: &dyn TransformEnv,
        form: &mut Vec<(String, String)>,
    ) -> Result<Option<String>, ProfileError> {
        let mut field = |k: &str, v: String| form.push((k.to_owned(), v));
        match self.method {
            Method::ClientSecretPost => {
                field("client_id", self.client_id.clone());
                field("client_secret", self.secret.clone().unwrap_or_default());
                Ok(None)
            }
            Method::ClientSecretBasic => {
                Ok(Some(basic_authorization(&self.client_id, self.secret.as_deref().unwrap_or_default())))
            }
            Method::PrivateKeyJwt => {
                let Some(key) = &self.assertion else { return Ok(None) };
                field("client_id", self.client_id.clone());
                field("client_assertion_type", JWT_BEARER.to_owned());
                field("client_assertion", key.sign(&self.client_id, audience, env)?);
                Ok(None)
            }
            Method::TlsClientAuth | Method::SelfSignedTlsClientAuth => {
                field("client_id", self.client_id.clone());
                Ok(None)
            }
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`: RFC 6749 §2.3.1 form-urlencodes both
/// before encoding, which reqwest's `basic_auth` does not.
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret))))
}

fn assertion_key(request: &ProfileRequest<'_>) -> Result<AssertionKey, ProfileError> {
    let profile = request.profile;
    let algorithm = match profile.metadata("token_signing_algorithm").map(str::trim) {
        None | Some("RS256") => Algorithm::RS256,
        Some("RS512") => Algorithm::RS512,
        Some(other) => {
            return Err(error(
                "InvalidMetadata",
                format!("token_signing_algorithm '{other}' is not supported (RS256 or RS512)"),
            ));
        }
    };
    let header = match profile.metadata("assertion_key_id") {
        None => KeyIdHeader::Thumbprint,
        Some(text) => KeyIdHeader::parse(text).ok_or_else(|| {
            error("InvalidMetadata", format!("assertion_key_id '{text}' is not one of thumbprint, x5t, none"))
        })?,
    };
    let storage = required_storage_id(profile, "assertion_signing_key")?;
    let keys = key_store(request)?;
    let signing = keys.signing_key(storage).map_err(|e| key_error("assertion_signing_key", &e))?;
    let header = match header {
        KeyIdHeader::Thumbprint => AssertionHeader::Thumbprint,
        KeyIdHeader::X5t => {
            let (certs, _) = keys.identity_pem(storage).map_err(|e| key_error("assertion_signing_key", &e))?;
            AssertionHeader::X5t(
                crate::keys::certificate_der(certs).ok().map(|der| crate::keys::x5t(&der)).ok_or_else(|| {
                    error(
                        "InvalidKey",
                        format!("the assertion_signing_key '{storage}' has no certificate for an x5t header"),
                    )
                })?,
            )
        }
        KeyIdHeader::None => AssertionHeader::Bare,
    };
    Ok(AssertionKey { key: signing.clone(), algorithm, header })
}

/// RFC 7523 §3's claims, in the order a JSON object of them serializes.
#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    exp: i64,
    iat: i64,
    iss: &'a str,
    jti: &'a str,
    sub: &'a str,
}

impl AssertionKey {
    /// iss = sub = client_id, aud = token endpoint, a fresh jti, iat now, exp five minutes on.
    fn sign(&self, client_id: &str, audience: &str, env: &dyn TransformEnv) -> Result<String, ProfileError> {
        let now = env.now().and_utc().timestamp();
        let mut jti = [0u8; 16];
        env.fill_random(&mut jti);
        let claims = AssertionClaims {
            aud: audience,
            exp: now + ASSERTION_LIFETIME_SECS,
            iat: now,
            iss: client_id,
            jti: &URL_SAFE_NO_PAD.encode(jti),
            sub: client_id,
        };
        let signed = match &self.header {
            // `kid` = the key's thumbprint: the header `sign_claims` keeps encoded.
            AssertionHeader::Thumbprint => self.key.sign_claims(self.algorithm, &claims),
            AssertionHeader::X5t(x5t) => {
                let mut header = Header::new(self.algorithm);
                header.x5t = Some(x5t.clone());
                self.key.sign_jwt(&header, &claims)
            }
            AssertionHeader::Bare => self.key.sign_jwt(&Header::new(self.algorithm), &claims),
        };
        signed.map_err(|e| error("InvalidKey", format!("the client assertion could not be signed ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        // RFC 6749 §2.3.1: a secret with reserved characters must survive the round trip.
        let header = basic_authorization("client one", "sp3c:al+/=%&?~ secret");
        let decoded = String::from_utf8(STANDARD.decode(header.trim_start_matches("Basic ")).unwrap()).unwrap();
        assert_eq!(decoded, "client+one:sp3c%3Aal%2B%2F%3D%25%26%3F%7E+secret");
    }

    #[test]
    fn methods_parse_by_their_registered_names() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("client_secret_jwt"), None);
        assert!(Method::SelfSignedTlsClientAuth.is_mutual_tls());
        assert!(!Method::PrivateKeyJwt.is_mutual_tls());
    }
}
