//! Policy keys: the local stand-in for a tenant's policy key containers.
//!
//! A folder (`--keys DIR`, default `keys/`) holds one file per StorageReferenceId:
//! `NAME.pem` (an RSA private key as PKCS#8 or PKCS#1, or certificates followed by their private
//! key), `NAME.txt` (a secret; one trailing newline is not part of it) or `NAME.json` (a JWK set).
//! Key material never reaches Debug output or error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaEncoding, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The folder used when `--keys` is not given.
pub const DEFAULT_DIR: &str = "keys";

/// The largest key file read; a certificate chain with its key is a few KB.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// The StorageReferenceIds the starter packs reference (`ief keys init` creates them).
pub fn starter_pack_key_names() -> &'static [&'static str] {
    &["B2C_1A_TokenSigningKeyContainer", "B2C_1A_TokenEncryptionKeyContainer", "B2C_1A_FacebookSecret"]
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "policy key '{storage_reference_id}' not found in {} (expected {storage_reference_id}.pem, .txt or .json)",
        dir_text(dir)
    )]
    Missing { storage_reference_id: String, dir: PathBuf },
    #[error(
        "policy key '{storage_reference_id}' is not among the keys generated for this run; give --keys a folder that has it"
    )]
    NotGenerated { storage_reference_id: String },
    #[error("policy key '{storage_reference_id}' in {} is {found}, but {expected} is needed here", file.display())]
    WrongKind { storage_reference_id: String, file: PathBuf, found: &'static str, expected: &'static str },
    #[error("{}: {reason}", file.display())]
    Invalid { file: PathBuf, reason: String },
    #[error("policy key '{storage_reference_id}' has two files, {} and {}; keep one", first.display(), second.display())]
    Duplicate { storage_reference_id: String, first: PathBuf, second: PathBuf },
    #[error("'{name}' is not a usable policy key name (letters, digits, '_', '-' and '.' only)")]
    InvalidName { name: String },
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("cannot generate policy key '{storage_reference_id}': {reason}")]
    Generate { storage_reference_id: String, reason: String },
}

fn dir_text(dir: &Path) -> String {
    let text = dir.display().to_string();
    if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) { text } else { format!("{text}/") }
}

fn io_error(path: &Path, e: &std::io::Error) -> KeyError {
    KeyError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// Holds key material; Debug never shows it.
#[derive(Clone)]
struct Redacted<T>(T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An RSA private key ready to sign, with its public half. Cloning it shares the key.
#[derive(Clone)]
pub struct SigningKey(Arc<SigningKeyInner>);

struct SigningKeyInner {
    encoding: EncodingKey,
    /// Parsed once: jsonwebtoken parses and checks the DER on every signature, which with the
    /// fresh blinding it implies is nearly half of an RS256 signature's cost.
    pair: RsaKeyPair,
    kid: String,
    public_jwk: serde_json::Value,
    /// The base64url header segment of `Header::new(alg)` with this key's `kid`, per algorithm
    /// (RS256, RS384, RS512, PS256, PS384, PS512), made on first use: the header most tokens carry.
    headers: [OnceLock<String>; 6],
}

impl SigningKey {
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.0.encoding
    }

    /// A compact JWS of `claims`, byte for byte what `jsonwebtoken::encode` makes with this key,
    /// signed with the key parsed once. Algorithms outside RS*/PS* go to jsonwebtoken (and fail
    /// there as they would have).
    pub fn sign_jwt<T: Serialize>(&self, header: &Header, claims: &T) -> jsonwebtoken::errors::Result<String> {
        let Some((_, padding)) = rsa_algorithm(header.alg) else {
            return jsonwebtoken::encode(header, claims, &self.0.encoding);
        };
        let segment = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
        self.sign_after(&segment, padding, claims)
    }

    /// `Header::new(alg)` with this key's `kid`: the header [`SigningKey::sign_claims`] signs with.
    pub fn header(&self, alg: Algorithm) -> Header {
        let mut header = Header::new(alg);
        header.kid = Some(self.0.kid.clone());
        header
    }

    /// [`SigningKey::sign_jwt`] with [`SigningKey::header`], the header most
    /// tokens carry: its segment is encoded once per algorithm and kept, so only the claims and
    /// the signature are made per token.
    pub fn sign_claims<T: Serialize>(&self, alg: Algorithm, claims: &T) -> jsonwebtoken::errors::Result<String> {
        let Some((slot, padding)) = rsa_algorithm(alg) else {
            return jsonwebtoken::encode(&self.header(alg), claims, &self.0.encoding);
        };
        let segment = match self.0.headers[slot].get() {
            Some(segment) => segment,
            None => {
                let segment = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.header(alg))?);
                self.0.headers[slot].get_or_init(|| segment)
            }
        };
        self.sign_after(segment, padding, claims)
    }

    /// `header_segment.claims.signature`.
    fn sign_after<T: Serialize>(
        &self,
        header_segment: &str,
        padding: &'static dyn RsaEncoding,
        claims: &T,
    ) -> jsonwebtoken::errors::Result<String> {
        let pair = &self.0.pair;
        let claims = serde_json::to_vec(claims)?;
        let modulus_len = pair.public_modulus_len();
        let mut message =
            String::with_capacity(header_segment.len() + 2 + (claims.len() + modulus_len).div_ceil(3) * 4);
        message.push_str(header_segment);
        message.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut message);
        let mut sig = vec![0; modulus_len];
        pair.sign(padding, &SystemRandom::new(), message.as_bytes(), &mut sig)
            .map_err(|_| jsonwebtoken::errors::ErrorKind::RsaFailedSigning)?;
        message.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut message);
        Ok(message)
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key: stable across runs
    /// and shaped like B2C's own `kid`s.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The public key as a JWK (`kty`, `n`, `e`, `kid`, `use`, `alg`), as a keys endpoint lists it.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.0.public_jwk
    }
}

/// The slot of [`SigningKeyInner::headers`] and the padding of an RSA algorithm.
fn rsa_algorithm(alg: Algorithm) -> Option<(usize, &'static dyn RsaEncoding)> {
    Some(match alg {
        Algorithm::RS256 => (0, &signature::RSA_PKCS1_SHA256),
        Algorithm::RS384 => (1, &signature::RSA_PKCS1_SHA384),
        Algorithm::RS512 => (2, &signature::RSA_PKCS1_SHA512),
        Algorithm::PS256 => (3, &signature::RSA_PSS_SHA256),
        Algorithm::PS384 => (4, &signature::RSA_PSS_SHA384),
        Algorithm::PS512 => (5, &signature::RSA_PSS_SHA512),
        _ => return None,
    })
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.0.kid).finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Entry {
    Secret(Redacted<Vec<u8>>),
    Pem {
        /// Certificates in file order, as PEM text (empty for a bare key).
        certs: String,
        key: Redacted<String>,
        /// Present when the key is RSA.
        signing: Option<SigningKey>,
    },
    Jwks(Redacted<serde_json::Value>),
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Secret(_) => "a secret",
            Entry::Pem { certs, signing: Some(_), .. } if certs.is_empty() => "an RSA private key",
            Entry::Pem { signing: None, .. } => "a non-RSA private key",
            Entry::Pem { .. } => "a certificate with its RSA private key",
            Entry::Jwks(_) => "a JWK set",
        }
    }

    fn extension(&self) -> &'static str {
        match self {
            Entry::Secret(_) => "txt",
            Entry::Pem { .. } => "pem",
            Entry::Jwks(_) => "json",
        }
    }
}

/// Policy keys by StorageReferenceId. Send + Sync, so it travels in the executor's extensions.
#[derive(Clone)]
pub struct KeyStore {
    dir: PathBuf,
    /// Made in memory for one run ([`KeyStore::generate`]), not read from `dir`.
    generated: bool,
    entries: BTreeMap<String, (PathBuf, Entry)>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for KeyStore {
    fn default() -> KeyStore {
        KeyStore::empty()
    }
}

impl KeyStore {
    /// A store with no keys (errors still name the default folder).
    pub fn empty() -> KeyStore {
        KeyStore { dir: PathBuf::from(DEFAULT_DIR), generated: false, entries: BTreeMap::new() }
    }

    /// Reads every `.pem`, `.txt` and `.json` file of `dir`; other files are ignored. A folder
    /// that does not exist gives an empty store, so only a policy that needs a key fails, naming it.
    pub fn load(dir: &Path) -> Result<KeyStore, KeyError> {
        let mut store = KeyStore { dir: dir.to_owned(), generated: false, entries: BTreeMap::new() };
        let read = match std::fs::read_dir(dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(io_error(dir, &e)),
        };
        let mut files = Vec::new();
        for item in read {
            let item = item.map_err(|e| io_error(dir, &e))?;
            let path = item.path();
            if !path.is_file() {
                continue;
            }
            let (Some(stem), Some(ext)) =
                (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str()))
            else {
                continue;
            };
            let ext = ext.to_ascii_lowercase();
            if stem.starts_with('.') || !matches!(ext.as_str(), "pem" | "txt" | "json") {
                continue;
            }
            files.push((stem.to_owned(), ext, path));
        }
        // Sorted, so a duplicate is always reported the same way.
        files.sort_by(|a, b| a.2.cmp(&b.2));
        for (name, ext, path) in files {
            let bytes = ief_engine::input::read_limited(&path, MAX_KEY_FILE_BYTES)
                .map_err(|e| KeyError::Io { path: path.clone(), reason: e.to_string() })?;
            let entry = match ext.as_str() {
                "pem" => parse_pem(&path, &bytes)?,
                "txt" => parse_secret(&path, bytes)?,
                _ => parse_jwks(&path, &bytes)?,
            };
            if let Some((first, _)) = store.entries.get(&name) {
                return Err(KeyError::Duplicate { storage_reference_id: name, first: first.clone(), second: path });
            }
            store.entries.insert(name, (path, entry));
        }
        Ok(store)
    }

    /// New keys for `names`, made as `ief keys init` makes them but held in memory only, so an
    /// interrupted or aborted run leaves no private key behind.
    pub fn generate(names: &[&str]) -> Result<KeyStore, KeyError> {
        let mut store = KeyStore { generated: true, ..KeyStore::empty() };
        for &name in names {
            check_name(name)?;
            let (ext, contents) = new_key(name)?;
            let path = PathBuf::from(format!("{name}.{ext}"));
            let entry = match ext {
                "pem" => parse_pem(&path, contents.as_bytes())?,
                _ => parse_secret(&path, contents.into_bytes())?,
            };
            store.entries.insert(name.to_owned(), (path, entry));
        }
        Ok(store)
    }

    /// A generated store of just `names`, from this store's keys, generating (and keeping) those
    /// it lacks.
    pub fn take_generated(&mut self, names: &[&str]) -> Result<KeyStore, KeyError> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.entries.contains_key(*n)).collect();
        self.entries.extend(KeyStore::generate(&missing)?.entries);
        let entries = names.iter().filter_map(|&n| Some((n.to_owned(), self.entries.get(n)?.clone()))).collect();
        Ok(KeyStore { generated: true, entries, ..KeyStore::empty() })
    }

    /// Adds the keys of `other` (a generated store stays generated): runs that share
    /// generated keys assemble their store from one-key stores.
    pub fn extend(&mut self, other: &KeyStore) {
        self.entries.extend(other.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// The folder the keys came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// StorageReferenceIds held, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Adds (or replaces) a secret, as if read from `NAME.txt`.
    pub fn insert_secret(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        let name = name.into();
        let path = self.dir.join(format!("{name}.txt"));
        self.entries.insert(name, (path, Entry::Secret(Redacted(bytes.into()))));
    }

    /// Adds (or replaces) a key or certificate with its key, as if read from `NAME.pem`.
    pub fn insert_pem(&mut self, name: impl Into<String>, pem: &str) -> Result<(), KeyError> {
        let name = name.into();
        let path = self.dir.join(format!("{name}.pem"));
        let entry = parse_pem(&path, pem.as_bytes())?;
        self.entries.insert(name, (path, entry));
        Ok(())
    }

    /// Adds (or replaces) a JWK set, as if read from `NAME.json`.
    pub fn insert_jwks(&mut self, name: impl Into<String>, jwks: serde_json::Value) -> Result<(), KeyError> {
        let name = name.into();
        let path = self.dir.join(format!("{name}.json"));
        check_jwks(&path, &jwks)?;
        self.entries.insert(name, (path, Entry::Jwks(Redacted(jwks))));
        Ok(())
    }

    fn get(&self, id: &str) -> Result<(&Path, &Entry), KeyError> {
        self.entries.get(id).map(|(p, e)| (p.as_path(), e)).ok_or_else(|| match self.generated {
            true => KeyError::NotGenerated { storage_reference_id: id.to_owned() },
            false => KeyError::Missing { storage_reference_id: id.to_owned(), dir: self.dir.clone() },
        })
    }

    fn wrong_kind(id: &str, file: &Path, entry: &Entry, expected: &'static str) -> KeyError {
        KeyError::WrongKind {
            storage_reference_id: id.to_owned(),
            file: file.to_owned(),
            found: entry.kind(),
            expected,
        }
    }

    /// A secret's bytes (`NAME.txt`).
    pub fn secret(&self, id: &str) -> Result<&[u8], KeyError> {
        match self.get(id)? {
            (_, Entry::Secret(s)) => Ok(&s.0),
            (file, other) => Err(Self::wrong_kind(id, file, other, "a secret (.txt)")),
        }
    }

    /// The private-key PEM block of an RSA key (`NAME.pem`, without any certificate).
    pub fn rsa_private_pem(&self, id: &str) -> Result<&str, KeyError> {
        match self.get(id)? {
            (_, Entry::Pem { key, signing: Some(_), .. }) => Ok(&key.0),
            (file, other) => Err(Self::wrong_kind(id, file, other, "an RSA private key (.pem)")),
        }
    }

    /// An RSA key parsed for signing, with its `kid`.
    pub fn signing_key(&self, id: &str) -> Result<&SigningKey, KeyError> {
        match self.get(id)? {
            (_, Entry::Pem { signing: Some(s), .. }) => Ok(s),
            (file, other) => Err(Self::wrong_kind(id, file, other, "an RSA private key (.pem)")),
        }
    }

    /// A client certificate: (certificate chain PEM, private key PEM).
    pub fn identity_pem(&self, id: &str) -> Result<(&str, &str), KeyError> {
        match self.get(id)? {
            (_, Entry::Pem { certs, key, .. }) if !certs.is_empty() => Ok((certs, &key.0)),
            (file, other) => Err(Self::wrong_kind(id, file, other, "a certificate followed by its private key (.pem)")),
        }
    }

    /// A JWK set (`NAME.json`).
    pub fn jwks(&self, id: &str) -> Result<&serde_json::Value, KeyError> {
        match self.get(id)? {
            (_, Entry::Jwks(j)) => Ok(&j.0),
            (file, other) => Err(Self::wrong_kind(id, file, other, "a JWK set (.json)")),
        }
    }

    /// The file extension the key was loaded from (`pem`, `txt`, `json`).
    pub fn kind_of(&self, id: &str) -> Option<&'static str> {
        self.entries.get(id).map(|(_, e)| e.extension())
    }
}

fn parse_secret(path: &Path, mut bytes: Vec<u8>) -> Result<Entry, KeyError> {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.is_empty() {
        return Err(KeyError::Invalid { file: path.to_owned(), reason: "the secret is empty".into() });
    }
    Ok(Entry::Secret(Redacted(bytes)))
}

fn check_jwks(path: &Path, json: &serde_json::Value) -> Result<(), KeyError> {
    let ok = json
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|keys| keys.iter().all(|k| k.get("kty").is_some_and(serde_json::Value::is_string)));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Invalid {
            file: path.to_owned(),
            reason: "not a JWK set: expected {\"keys\": [...]} whose keys each have a \"kty\"".into(),
        })
    }
}

fn parse_jwks(path: &Path, bytes: &[u8]) -> Result<Entry, KeyError> {
    // serde_json's message gives only line and column, never the text.
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| KeyError::Invalid { file: path.to_owned(), reason: format!("not JSON ({e})") })?;
    check_jwks(path, &json)?;
    Ok(Entry::Jwks(Redacted(json)))
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock<'a> {
    tag: &'a str,
    text: &'a str,
    der: Vec<u8>,
}

fn pem_blocks<'a>(path: &Path, text: &'a str) -> Result<Vec<PemBlock<'a>>, KeyError> {
    let invalid = |reason: String| KeyError::Invalid { file: path.to_owned(), reason };
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let tag_end = after.find("-----").ok_or_else(|| invalid("a BEGIN line is not closed".into()))?;
        let tag = &after[..tag_end];
        let end_line = format!("-----END {tag}-----");
        let body_start = start + "-----BEGIN ".len() + tag_end + "-----".len();
        let body_len =
            rest[body_start..].find(&end_line).ok_or_else(|| invalid(format!("the {tag} block has no END line")))?;
        let body = &rest[body_start..body_start + body_len];
        if tag == "ENCRYPTED PRIVATE KEY" || body.lines().any(|l| l.contains(':')) {
            return Err(invalid(format!(
                "the {tag} block is encrypted; export the key without a password (openssl pkey -in in.pem -out out.pem)"
            )));
        }
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_| invalid(format!("the {tag} block is not valid base64")))?;
        if !is_der_sequence(&der) {
            return Err(invalid(format!("the {tag} block is not DER (damaged or truncated)")));
        }
        let block_end = body_start + body_len + end_line.len();
        blocks.push(PemBlock { tag, text: &rest[start..block_end], der });
        rest = &rest[block_end..];
    }
    Ok(blocks)
}

/// Whether `der` is exactly one DER SEQUENCE (keys and certificates all are).
fn is_der_sequence(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (der.first(), der.get(1)) else {
        return false;
    };
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || der.len() < 2 + n {
            return false;
        }
        (der[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    der.len() == header + len
}

/// DER of the rsaEncryption OID (1.2.840.113549.1.1.1), found in a PKCS#8 AlgorithmIdentifier.
const RSA_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn parse_pem(path: &Path, bytes: &[u8]) -> Result<Entry, KeyError> {
    let invalid = |reason: String| KeyError::Invalid { file: path.to_owned(), reason };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not a PEM file (not text)".into()))?;
    let blocks = pem_blocks(path, text)?;
    if blocks.is_empty() {
        return Err(invalid("not a PEM file (no -----BEGIN block)".into()));
    }
    let mut certs = String::new();
    let mut key: Option<(&PemBlock<'_>, bool)> = None;
    for block in &blocks {
        let rsa = match block.tag {
            "CERTIFICATE" => {
                certs.push_str(block.text);
                certs.push('\n');
                continue;
            }
            "RSA PRIVATE KEY" => true,
            // The algorithm identifier sits in the first few dozen bytes.
            "PRIVATE KEY" => block.der.windows(RSA_OID.len()).take(32).any(|w| w == RSA_OID),
            "EC PRIVATE KEY" => false,
            other => return Err(invalid(format!("unexpected {other} block; expected a private key and certificates"))),
        };
        if key.is_some() {
            return Err(invalid("more than one private key; keep one per file".into()));
        }
        key = Some((block, rsa));
    }
    let Some((block, rsa)) = key else {
        return Err(invalid("no private key (a .pem must hold the private key, after any certificates)".into()));
    };
    let signing = if rsa { Some(signing_key(path, block.text)?) } else { None };
    Ok(Entry::Pem { certs, key: Redacted(format!("{}\n", block.text)), signing })
}

fn signing_key(path: &Path, pem: &str) -> Result<SigningKey, KeyError> {
    let invalid = |e: jsonwebtoken::errors::Error| KeyError::Invalid {
        file: path.to_owned(),
        reason: format!("not a usable RSA private key ({e})"),
    };
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(invalid)?;
    // Parsing the public half also checks the private key (aws-lc validates it).
    let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(invalid)?;
    // The PKCS#1 DER jsonwebtoken extracted, parsed as jsonwebtoken parses it per signature
    // (after the check above, whose words name a bad key).
    let pair = RsaKeyPair::from_der(encoding.as_bytes()).map_err(|e| KeyError::Invalid {
        file: path.to_owned(),
        reason: format!("not a usable RSA private key ({e})"),
    })?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(invalid)?;
    let mut public_jwk = serde_json::to_value(&jwk).map_err(|e| KeyError::Invalid {
        file: path.to_owned(),
        reason: format!("cannot describe the public key ({e})"),
    })?;
    if let Some(obj) = public_jwk.as_object_mut() {
        obj.insert("kid".into(), kid.clone().into());
        obj.insert("use".into(), "sig".into());
    }
    Ok(SigningKey(Arc::new(SigningKeyInner { encoding, pair, kid, public_jwk, headers: Default::default() })))
}

/// An RSA public key parsed by aws-lc at most once per PKCS#1 v1.5 algorithm (a parsed key is
/// bound to its algorithm), on the first check with that algorithm, so that later checks pay
/// neither the parse nor the Montgomery set-up again and a key set fetch parses nothing: the
/// id_token check against a provider's JWKS and the embedded providers' client assertions keep
/// one per key.
pub struct RsaVerifyingKey {
    /// Big-endian, the modulus without leading zeros.
    n: Vec<u8>,
    e: Vec<u8>,
    /// RS256, RS384, RS512; `None` inside when aws-lc refuses the key.
    parsed: [OnceLock<Option<signature::ParsedPublicKey>>; 3],
}

impl fmt::Debug for RsaVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaVerifyingKey").field("modulus_len", &self.n.len()).finish_non_exhaustive()
    }
}

impl RsaVerifyingKey {
    /// From the big-endian modulus and exponent (a JWK's `n` and `e` decoded; leading zeros
    /// allowed); `None` when either is empty. A key aws-lc refuses (smaller than 2,048 bits, for
    /// one) verifies nothing.
    pub fn from_components(n: &[u8], e: &[u8]) -> Option<RsaVerifyingKey> {
        let n = &n[n.iter().position(|&b| b != 0)?..];
        if e.is_empty() {
            return None;
        }
        Some(RsaVerifyingKey { n: n.to_vec(), e: e.to_vec(), parsed: Default::default() })
    }

    /// From a JWK's base64url `n` and `e`.
    pub fn from_jwk(jwk: &serde_json::Value) -> Option<RsaVerifyingKey> {
        let part = |name| URL_SAFE_NO_PAD.decode(jwk.get(name)?.as_str()?).ok();
        RsaVerifyingKey::from_components(&part("n")?, &part("e")?)
    }

    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    /// Whether `signature` is `alg`'s over `message`; false for an algorithm other than
    /// RS256/384/512 and for a key aws-lc refuses.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        let (slot, params) = match alg {
            Algorithm::RS256 => (0, &signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => (1, &signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => (2, &signature::RSA_PKCS1_2048_8192_SHA512),
            _ => return false,
        };
        let key = self.parsed[slot].get_or_init(|| {
            signature::RsaPublicKeyComponents { n: &self.n, e: &self.e }.to_parsed_public_key(params).ok()
        });
        key.as_ref().is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }

    /// How many algorithms the key has been parsed for.
    #[cfg(test)]
    fn parses(&self) -> usize {
        self.parsed.iter().filter(|p| p.get().is_some()).count()
    }
}

/// The DER of the first certificate in `pem`.
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).map(|c| c.to_vec()).map_err(|e| e.to_string())
}

/// base64url SHA-1 of a certificate's DER: the JOSE `x5t` header.
pub fn x5t(der: &[u8]) -> String {
    use sha1::Digest;
    URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der))
}

/// base64url SHA-256 of a certificate's DER: RFC 8705's `x5t#S256`.
pub fn x5t_s256(der: &[u8]) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(KeyError::InvalidName { name: name.to_owned() }) }
}

/// Whether `ief keys init` makes an RSA key (rather than a secret) for this container.
fn wants_rsa(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("signing") || lower.contains("encryption")
}

/// Whether `ief keys init` makes a self-signed client certificate with its key (a
/// `ClientCertificate` for mutual TLS).
fn wants_certificate(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("clientcert")
}

/// A self-signed RSA client certificate named after its container, followed by its key.
fn self_signed_client_certificate(name: &str) -> Result<String, rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key)?;
    Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
}

/// Creates the named keys in `dir` (made if missing): self-signed client certificates with
/// their keys for containers whose names say Certificate, RSA 2048 keys for those that say
/// Signing or Encryption, random 32-byte base64url secrets for the rest. A key that already
/// has a file (of any kind) is left alone. Returns the files created.
pub fn init_keys(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>, KeyError> {
    for name in names {
        check_name(name)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    let mut created = Vec::new();
    for &name in names {
        let exists = ["pem", "txt", "json"].iter().any(|ext| dir.join(format!("{name}.{ext}")).exists());
        if exists {
            continue;
        }
        let (ext, contents) = new_key(name)?;
        let path = dir.join(format!("{name}.{ext}"));
        write_new(&path, contents.as_bytes())?;
        created.push(path);
    }
    Ok(created)
}

/// A new key for the container `name`, as (file extension, file contents).
fn new_key(name: &str) -> Result<(&'static str, String), KeyError> {
    let generate = |reason: String| KeyError::Generate { storage_reference_id: name.to_owned(), reason };
    if wants_certificate(name) {
        Ok(("pem", self_signed_client_certificate(name).map_err(|e| generate(e.to_string()))?))
    } else if wants_rsa(name) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| generate(e.to_string()))?;
        Ok(("pem", pair.serialize_pem()))
    } else {
        let mut buf = [0u8; 32];
        getrandom::fill(&mut buf).map_err(|e| generate(e.to_string()))?;
        Ok(("txt", format!("{}\n", URL_SAFE_NO_PAD.encode(buf))))
    }
}

/// Writes a file that must not exist yet, readable by its owner only.
fn write_new(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| io_error(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let mut buf = [0u8; 8];
        getrandom::fill(&mut buf).expect("random");
        let dir = std::env::temp_dir().join(format!("ief-keys-{tag}-{}", URL_SAFE_NO_PAD.encode(buf)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rsa_pem() -> String {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa").serialize_pem()
    }

    /// PKCS#1 form of a PKCS#8 RSA key: the inner OCTET STRING of the PrivateKeyInfo.
    fn pkcs1_pem(pkcs8_pem: &str) -> String {
        let blocks = pem_blocks(Path::new("x"), pkcs8_pem).expect("pem");
        let der = &blocks[0].der;
        // PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING (PKCS#1) }.
        let pos = der.windows(RSA_OID.len()).position(|w| w == RSA_OID).expect("oid") + RSA_OID.len();
        let mut i = pos + 2; // NULL parameters
        assert_eq!(der[i], 0x04, "octet string");
        i += 1;
        let (len, skip) = match der[i] {
            n if n < 0x80 => (n as usize, 1),
            0x81 => (der[i + 1] as usize, 2),
            0x82 => (((der[i + 1] as usize) << 8) | der[i + 2] as usize, 3),
            other => panic!("length form {other}"),
        };
        let inner = &der[i + skip..i + skip + len];
        let b64 = STANDARD.encode(inner);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
        format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", lines.join("\n"))
    }

    fn cert_and_key() -> (String, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa");
        let params = rcgen::CertificateParams::new(vec!["client.example".to_owned()]).expect("params");
        let cert = params.self_signed(&pair).expect("cert");
        (cert.pem(), pair.serialize_pem())
    }

    fn body_line(pem: &str) -> String {
        pem.lines().nth(1).expect("body").to_owned()
    }

    #[test]
    fn loads_every_kind_of_file() {
        let dir = temp_dir("load");
        let _c = Cleanup(dir.clone());
        let key = rsa_pem();
        let (cert, cert_key) = cert_and_key();
        std::fs::write(dir.join("B2C_1A_TokenSigningKeyContainer.pem"), &key).expect("write");
        std::fs::write(dir.join("B2C_1A_Pkcs1.pem"), pkcs1_pem(&key)).expect("write");
        std::fs::write(dir.join("B2C_1A_ClientCert.pem"), format!("Bag Attributes\n{cert}{cert_key}")).expect("write");
        std::fs::write(dir.join("B2C_1A_Secret.txt"), "s3cret\n").expect("write");
        std::fs::write(dir.join("B2C_1A_CrLf.txt"), "two\r\n\r\n").expect("write");
        std::fs::write(dir.join("B2C_1A_Jwks.json"), r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#).expect("write");
        std::fs::write(dir.join("README.md"), "not a key").expect("write");
        std::fs::create_dir(dir.join("sub.pem")).expect("dir");

        let store = KeyStore::load(&dir).expect("load");
        assert_eq!(
            store.names().collect::<Vec<_>>(),
            [
                "B2C_1A_ClientCert",
                "B2C_1A_CrLf",
                "B2C_1A_Jwks",
                "B2C_1A_Pkcs1",
                "B2C_1A_Secret",
                "B2C_1A_TokenSigningKeyContainer"
            ]
        );
        assert_eq!(store.secret("B2C_1A_Secret").expect("secret"), b"s3cret");
        // Only one trailing newline is dropped.
        assert_eq!(store.secret("B2C_1A_CrLf").expect("secret"), b"two\r\n");
        assert_eq!(store.rsa_private_pem("B2C_1A_TokenSigningKeyContainer").expect("pem"), key);
        assert!(store.rsa_private_pem("B2C_1A_Pkcs1").expect("pem").starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        // PKCS#1 and PKCS#8 forms of one key have the same kid.
        assert_eq!(
            store.signing_key("B2C_1A_Pkcs1").expect("key").kid(),
            store.signing_key("B2C_1A_TokenSigningKeyContainer").expect("key").kid()
        );
        let (chain, id_key) = store.identity_pem("B2C_1A_ClientCert").expect("identity");
        assert_eq!(chain.trim(), cert.trim());
        assert_eq!(id_key.trim(), cert_key.trim());
        assert_eq!(store.rsa_private_pem("B2C_1A_ClientCert").expect("key").trim(), cert_key.trim());
        assert_eq!(store.jwks("B2C_1A_Jwks").expect("jwks")["keys"][0]["kty"], "oct");
        assert_eq!(store.kind_of("B2C_1A_Jwks"), Some("json"));
        assert_eq!(store.dir(), dir.as_path());
    }

    #[test]
    fn missing_key_and_folder() {
        let store = KeyStore::load(Path::new("/nonexistent/ief-keys")).expect("missing folder is empty");
        assert_eq!(store.names().count(), 0);
        let err = store.secret("B2C_1A_X").expect_err("missing");
        assert_eq!(
            err.to_string(),
            "policy key 'B2C_1A_X' not found in /nonexistent/ief-keys/ (expected B2C_1A_X.pem, .txt or .json)"
        );
        assert!(
            matches!(err, KeyError::Missing { ref storage_reference_id, .. } if storage_reference_id == "B2C_1A_X")
        );
        assert_eq!(
            KeyStore::empty().rsa_private_pem("B2C_1A_X").expect_err("missing").to_string(),
            "policy key 'B2C_1A_X' not found in keys/ (expected B2C_1A_X.pem, .txt or .json)"
        );
    }

    #[test]
    fn wrong_kind_names_the_file() {
        let mut store = KeyStore::empty();
        store.insert_secret("B2C_1A_S", "x");
        store.insert_pem("B2C_1A_K", &rsa_pem()).expect("pem");
        store.insert_jwks("B2C_1A_J", serde_json::json!({"keys": []})).expect("jwks");
        let err = store.rsa_private_pem("B2C_1A_S").expect_err("secret is not rsa");
        assert_eq!(
            err.to_string(),
            format!(
                "policy key 'B2C_1A_S' in {} is a secret, but an RSA private key (.pem) is needed here",
                Path::new("keys").join("B2C_1A_S.txt").display()
            )
        );
        assert!(store.secret("B2C_1A_K").expect_err("pem").to_string().contains("B2C_1A_K.pem is an RSA private key"));
        assert!(
            store
                .identity_pem("B2C_1A_K")
                .expect_err("no cert")
                .to_string()
                .ends_with("a certificate followed by its private key (.pem) is needed here")
        );
        assert!(store.jwks("B2C_1A_S").expect_err("secret").to_string().contains("a JWK set (.json)"));
        assert!(store.signing_key("B2C_1A_J").expect_err("jwks").to_string().contains("B2C_1A_J.json is a JWK set"));
    }

    #[test]
    fn garbage_files_are_reported() {
        let cases: Vec<(&str, String, &str)> = vec![
            ("A.pem", "hello".into(), "not a PEM file (no -----BEGIN block)"),
            ("B.pem", "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n".into(), "not valid base64"),
            ("C.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n".into(), "the PRIVATE KEY block has no END line"),
            (
                "D.pem",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into(),
                "the ENCRYPTED PRIVATE KEY block is encrypted",
            ),
            (
                "E.pem",
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
                    .into(),
                "block is encrypted",
            ),
            (
                "F.pem",
                "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n".into(),
                "not a usable RSA private key",
            ),
            (
                "G.pem",
                "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n".into(),
                "unexpected PUBLIC KEY block",
            ),
            ("H.pem", cert_and_key().0, "no private key"),
            ("I.pem", format!("{}{}", rsa_pem(), rsa_pem()), "more than one private key"),
            ("J.txt", "\n".into(), "the secret is empty"),
            ("K.json", "{nope".into(), "not JSON"),
            ("L.json", r#"{"kty":"RSA"}"#.into(), "not a JWK set"),
            (
                "M.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                "the PRIVATE KEY block is not DER",
            ),
        ];
        for (file, contents, expected) in cases {
            let dir = temp_dir("garbage");
            let _c = Cleanup(dir.clone());
            std::fs::write(dir.join(file), &contents).expect("write");
            let err = KeyStore::load(&dir).expect_err(file);
            let text = err.to_string();
            assert!(text.starts_with(&format!("{}: ", dir.join(file).display())), "{file}: {text}");
            assert!(text.contains(expected), "{file}: {text}");
        }
    }

    #[test]
    fn non_rsa_pkcs8_key_is_kept_but_not_for_signing() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec");
        let params = rcgen::CertificateParams::new(vec!["c".to_owned()]).expect("params");
        let cert = params.self_signed(&pair).expect("cert");
        let mut store = KeyStore::empty();
        store.insert_pem("B2C_1A_Ec", &format!("{}{}", cert.pem(), pair.serialize_pem())).expect("ec pem");
        assert!(store.identity_pem("B2C_1A_Ec").is_ok());
        assert!(store.rsa_private_pem("B2C_1A_Ec").expect_err("ec").to_string().contains("is a non-RSA private key"));
    }

    #[test]
    fn duplicate_names_are_an_error() {
        let dir = temp_dir("dup");
        let _c = Cleanup(dir.clone());
        std::fs::write(dir.join("B2C_1A_X.txt"), "a").expect("write");
        std::fs::write(dir.join("B2C_1A_X.json"), r#"{"keys":[]}"#).expect("write");
        let err = KeyStore::load(&dir).expect_err("dup");
        assert_eq!(
            err.to_string(),
            format!(
                "policy key 'B2C_1A_X' has two files, {} and {}; keep one",
                dir.join("B2C_1A_X.json").display(),
                dir.join("B2C_1A_X.txt").display()
            )
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = rsa_pem();
        let (cert, cert_key) = cert_and_key();
        let mut store = KeyStore::empty();
        store.insert_secret("B2C_1A_Secret", "hunter2-very-secret");
        store.insert_pem("B2C_1A_Key", &key).expect("pem");
        store.insert_pem("B2C_1A_Cert", &format!("{cert}{cert_key}")).expect("pem");
        store
            .insert_jwks("B2C_1A_Jwks", serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0LWp3aw"}]}))
            .expect("jwks");
        let debug = format!("{store:?}");
        assert_eq!(
            debug,
            r#"KeyStore { dir: "keys", keys: ["B2C_1A_Cert", "B2C_1A_Jwks", "B2C_1A_Key", "B2C_1A_Secret"] }"#
        );
        let pretty = format!("{store:#?}");
        for secret in ["hunter2", "c2VjcmV0LWp3aw", &body_line(&key), &body_line(&cert_key), "PRIVATE"] {
            assert!(!debug.contains(secret) && !pretty.contains(secret), "{secret}");
        }
        let signing = store.signing_key("B2C_1A_Key").expect("key");
        let debug = format!("{signing:?}");
        assert!(debug.starts_with("SigningKey { kid: ") && !debug.contains(&body_line(&key)), "{debug}");
        assert_eq!(format!("{:?}", Redacted("x")), "[redacted]");
    }

    #[test]
    fn a_verifying_key_parses_per_algorithm_on_first_use_and_refuses_what_aws_lc_refuses() {
        let mut store = KeyStore::empty();
        store.insert_pem("B2C_1A_Key", &rsa_pem()).expect("pem");
        let signer = store.signing_key("B2C_1A_Key").expect("key");
        let key = RsaVerifyingKey::from_jwk(signer.public_jwk()).expect("a JWK's n and e");
        assert_eq!((key.modulus_len(), key.parses()), (256, 0), "nothing parsed before a check");
        let token =
            signer.sign_jwt(&Header::new(Algorithm::RS256), &serde_json::json!({"sub": "alice"})).expect("signs");
        let (input, sig) = token.rsplit_once('.').expect("a JWS");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
        assert!(key.verifies(Algorithm::RS256, input.as_bytes(), &sig));
        assert!(key.verifies(Algorithm::RS256, input.as_bytes(), &sig), "the kept parse checks again");
        assert_eq!(key.parses(), 1, "one algorithm used, one parse");
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert!(!key.verifies(Algorithm::RS256, input.as_bytes(), &tampered));
        assert!(!key.verifies(Algorithm::RS256, b"another message", &sig));
        assert!(!key.verifies(Algorithm::RS384, input.as_bytes(), &sig), "an RS256 signature is not RS384's");
        assert!(!key.verifies(Algorithm::PS256, input.as_bytes(), &sig), "PSS is not checked here");
        assert_eq!(key.parses(), 2);
        // A 1,024-bit modulus: aws-lc refuses it, so nothing verifies, however often asked.
        let small = RsaVerifyingKey::from_components(&[0xc5; 128], &[1, 0, 1]).expect("components");
        assert!(!small.verifies(Algorithm::RS256, input.as_bytes(), &sig[..128]));
        assert!(!small.verifies(Algorithm::RS256, input.as_bytes(), &sig[..128]));
        assert_eq!(small.parses(), 1, "a refusal is kept too");
        // No modulus or no exponent is no key; leading zeros of n are not part of its length.
        assert!(RsaVerifyingKey::from_components(&[0, 0], &[1, 0, 1]).is_none());
        assert!(RsaVerifyingKey::from_components(&[0xc5; 256], &[]).is_none());
        assert_eq!(RsaVerifyingKey::from_components(&[0, 0xc5, 0xc5], &[3]).expect("key").modulus_len(), 2);
        assert!(
            RsaVerifyingKey::from_jwk(&serde_json::json!({"kty": "RSA", "n": "not base64!", "e": "AQAB"})).is_none()
        );
    }

    #[test]
    fn the_parsed_key_signs_as_jsonwebtoken_does() {
        let mut store = KeyStore::empty();
        store.insert_pem("B2C_1A_Key", &rsa_pem()).expect("pem");
        let key = store.signing_key("B2C_1A_Key").expect("key");
        let claims = serde_json::json!({"sub": "alice", "n": 1, "aud": ["a", "b"], "é": "ü"});
        // PKCS#1 v1.5 is deterministic: the same bytes as a parse per signature.
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            let mut header = Header::new(alg);
            header.kid = Some(key.kid().to_owned());
            let ours = key.sign_jwt(&header, &claims).expect("signs");
            assert_eq!(ours, jsonwebtoken::encode(&header, &claims, key.encoding_key()).expect("signs"), "{alg:?}");
            // The kept header segment: the same token on first use and after.
            assert_eq!(key.sign_claims(alg, &claims).expect("signs"), ours, "{alg:?}");
            assert_eq!(key.sign_claims(alg, &claims).expect("signs"), ours, "{alg:?}, segment kept");
        }
        // Another header is encoded as given, not taken from the kept segment.
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("another".to_owned());
        let other = key.sign_jwt(&header, &claims).expect("signs");
        assert_eq!(other, jsonwebtoken::encode(&header, &claims, key.encoding_key()).expect("signs"));
        assert_ne!(other, key.sign_claims(Algorithm::RS256, &claims).expect("signs"));
        // PSS is randomized: it verifies against the public half.
        let (n, e) = (key.public_jwk()["n"].as_str().expect("n"), key.public_jwk()["e"].as_str().expect("e"));
        let public = jsonwebtoken::DecodingKey::from_rsa_components(n, e).expect("public");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::PS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let token = key.sign_jwt(&Header::new(Algorithm::PS256), &claims).expect("signs");
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &public, &validation).expect("verifies");
        assert_eq!(decoded.claims, claims);
        // A non-RSA algorithm fails as jsonwebtoken fails it.
        let err = key.sign_jwt(&Header::new(Algorithm::HS256), &claims).expect_err("not RSA");
        assert_eq!(
            err.to_string(),
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key.encoding_key())
                .expect_err("not RSA")
                .to_string()
        );
    }

    #[test]
    fn signing_key_publishes_its_public_half() {
        let mut store = KeyStore::empty();
        store.insert_pem("B2C_1A_Key", &rsa_pem()).expect("pem");
        let key = store.signing_key("B2C_1A_Key").expect("key");
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none());
        // A SHA-256 thumbprint is 43 base64url characters.
        assert_eq!(key.kid().len(), 43);
        let parsed: Jwk = serde_json::from_value(jwk.clone()).expect("jwk");
        assert_eq!(parsed.thumbprint(ThumbprintHash::SHA256).expect("thumbprint"), key.kid());
    }

    #[test]
    fn init_creates_starter_pack_keys_and_never_overwrites() {
        let root = temp_dir("init");
        let _c = Cleanup(root.clone());
        let dir = root.join("keys");
        let created = init_keys(&dir, starter_pack_key_names()).expect("init");
        assert_eq!(
            created,
            [
                dir.join("B2C_1A_TokenSigningKeyContainer.pem"),
                dir.join("B2C_1A_TokenEncryptionKeyContainer.pem"),
                dir.join("B2C_1A_FacebookSecret.txt"),
            ]
        );
        let store = KeyStore::load(&dir).expect("load");
        assert!(store.signing_key("B2C_1A_TokenSigningKeyContainer").is_ok());
        assert!(store.signing_key("B2C_1A_TokenEncryptionKeyContainer").is_ok());
        let secret = store.secret("B2C_1A_FacebookSecret").expect("secret");
        assert_eq!(secret.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).expect("base64url").len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for path in &created {
                let mode = std::fs::metadata(path).expect("meta").permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }

        // A second run creates nothing and keeps the files as they were.
        let before = std::fs::read(dir.join("B2C_1A_TokenSigningKeyContainer.pem")).expect("read");
        assert_eq!(init_keys(&dir, starter_pack_key_names()).expect("again"), Vec::<PathBuf>::new());
        assert_eq!(std::fs::read(dir.join("B2C_1A_TokenSigningKeyContainer.pem")).expect("read"), before);

        // A key present in another form is not duplicated.
        std::fs::write(dir.join("B2C_1A_OtherSigning.txt"), "mine").expect("write");
        std::fs::write(dir.join("B2C_1A_Api.json"), r#"{"keys":[]}"#).expect("write");
        let created = init_keys(&dir, &["B2C_1A_OtherSigning", "B2C_1A_Api", "B2C_1A_New"]).expect("init");
        assert_eq!(created, [dir.join("B2C_1A_New.txt")]);
        assert_eq!(std::fs::read_to_string(dir.join("B2C_1A_OtherSigning.txt")).expect("read"), "mine");
        assert!(KeyStore::load(&dir).is_ok());
    }

    #[test]
    fn init_makes_a_self_signed_client_certificate_for_certificate_containers() {
        let root = temp_dir("cert");
        let _c = Cleanup(root.clone());
        let created = init_keys(&root, &["B2C_1A_IdpClientCertificate"]).expect("init");
        assert_eq!(created, [root.join("B2C_1A_IdpClientCertificate.pem")]);
        let store = KeyStore::load(&root).expect("load");
        let (certs, key) = store.identity_pem("B2C_1A_IdpClientCertificate").expect("identity");
        assert!(certs.starts_with("-----BEGIN CERTIFICATE-----"), "{certs}");
        assert!(key.contains("PRIVATE KEY"));
        // The identity is usable by the HTTP client as it is.
        let pem = format!("{certs}\n{key}");
        assert!(reqwest::Identity::from_pem(pem.as_bytes()).is_ok());
    }

    #[test]
    fn a_pool_generates_each_key_once_and_hands_out_only_the_names_asked() {
        let mut pool = KeyStore::empty();
        let first = pool.take_generated(&["B2C_1A_TokenSigningKeyContainer", "B2C_1A_Secret"]).expect("generated");
        let second = pool.take_generated(&["B2C_1A_TokenSigningKeyContainer"]).expect("taken");
        assert_eq!(second.names().collect::<Vec<_>>(), ["B2C_1A_TokenSigningKeyContainer"]);
        let pem = |s: &KeyStore| s.rsa_private_pem("B2C_1A_TokenSigningKeyContainer").expect("RSA").to_owned();
        assert_eq!(pem(&first), pem(&second), "the same key, not a second one");
        assert_eq!(pool.names().count(), 2);
    }

    #[test]
    fn extending_a_generated_store_keeps_it_generated_and_the_same_keys() {
        let one = KeyStore::generate(&["B2C_1A_TokenSigningKeyContainer"]).expect("generated");
        let mut store = KeyStore::generate(&["B2C_1A_Secret"]).expect("generated");
        store.extend(&one);
        assert_eq!(store.names().collect::<Vec<_>>(), ["B2C_1A_Secret", "B2C_1A_TokenSigningKeyContainer"]);
        let pem = |s: &KeyStore| s.rsa_private_pem("B2C_1A_TokenSigningKeyContainer").expect("RSA").to_owned();
        assert_eq!(pem(&store), pem(&one), "the same key, not a second one");
        let missing = store.secret("B2C_1A_Other").expect_err("absent").to_string();
        assert!(missing.contains("generated for this run"), "{missing}");
    }

    #[test]
    fn generated_keys_live_in_memory_with_the_kinds_init_makes() {
        let names = ["B2C_1A_TokenSigningKeyContainer", "B2C_1A_ClientCertificate", "B2C_1A_Secret"];
        let store = KeyStore::generate(&names).expect("generate");
        assert!(store.signing_key("B2C_1A_TokenSigningKeyContainer").is_ok());
        let (certs, key) = store.identity_pem("B2C_1A_ClientCertificate").expect("certificate with key");
        assert!(certs.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
        assert_eq!(store.secret("B2C_1A_Secret").expect("secret").len(), 43);
        let missing = store.secret("B2C_1A_Other").expect_err("not generated").to_string();
        assert_eq!(
            missing,
            "policy key 'B2C_1A_Other' is not among the keys generated for this run; give --keys a folder that has it"
        );
        assert_eq!(
            KeyStore::generate(&["../evil"]).expect_err("a path").to_string(),
            "'../evil' is not a usable policy key name (letters, digits, '_', '-' and '.' only)"
        );
    }

    #[test]
    fn init_rejects_path_like_names() {
        let root = temp_dir("names");
        let _c = Cleanup(root.clone());
        for bad in ["../evil", "a/b", "", ".hidden"] {
            let err = init_keys(&root, &[bad]).expect_err(bad);
            assert_eq!(err, KeyError::InvalidName { name: bad.to_owned() });
        }
        assert_eq!(std::fs::read_dir(&root).expect("dir").count(), 0);
    }

    #[test]
    fn starter_pack_names_cover_the_policies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/starterpack");
        let packs = std::fs::read_dir(&root).unwrap_or_else(|e| {
            panic!("the shared starter pack must sit beside the repository ({}): {e}", root.display())
        });
        let mut seen = std::collections::BTreeSet::new();
        for pack in packs.flatten().filter(|p| p.path().is_dir()) {
            for file in std::fs::read_dir(pack.path()).expect("pack").flatten() {
                let text = std::fs::read_to_string(file.path()).unwrap_or_default();
                for part in text.split("StorageReferenceId=\"").skip(1) {
                    seen.insert(part.split('"').next().unwrap_or_default().to_owned());
                }
            }
        }
        assert!(seen.contains("B2C_1A_TokenSigningKeyContainer"), "{seen:?}");
        let listed: std::collections::BTreeSet<String> =
            starter_pack_key_names().iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(seen, listed);
    }
}
