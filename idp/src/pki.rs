//! A test PKI made at run time: a CA, a server certificate for `127.0.0.1` and `localhost`,
//! client certificates signed by the CA or self-signed, and a second "rogue" CA nobody trusts.
//! Nothing here is ever committed: keys exist in memory, or in a folder a user names.
//!
//! Also distinguished names (RFC 4514 text and the DER of a certificate's subject) and the
//! `x5t#S256` thumbprint that RFC 8705 binds tokens to.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate the test certificate '{what}': {reason}")]
    Generate { what: String, reason: String },
    #[error("'{text}' is not a distinguished name: {reason}")]
    DistinguishedName { text: String, reason: String },
    #[error("the certificate's subject cannot be read: {0}")]
    Subject(String),
    #[error("not a PEM certificate ({0})")]
    Pem(String),
}

pub use ief_protocols::keys::x5t_s256;

/// The DER of the first certificate in `pem`.
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    ief_protocols::keys::certificate_der(pem).map_err(PkiError::Pem)
}

/// A certificate with its private key, both PEM. Debug shows the thumbprint only.
#[derive(Clone)]
pub struct IssuedCert {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl IssuedCert {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> IssuedCert {
        IssuedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The PKCS#8 private key.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Certificate then key, the layout of a policy key file (`NAME.pem`) and of
    /// `reqwest::Identity::from_pem`.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    pub fn x5t_s256(&self) -> String {
        x5t_s256(&self.der)
    }

    /// The subject, in RFC 4514 order.
    pub fn subject(&self) -> Result<DistinguishedName, PkiError> {
        DistinguishedName::of_certificate(&self.der)
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert").field("x5t#S256", &self.x5t_s256()).finish_non_exhaustive()
    }
}

/// A certificate authority that can sign.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    fn generate(common_name: &str) -> Result<Authority, PkiError> {
        let fail = |e: rcgen::Error| PkiError::Generate { what: common_name.to_owned(), reason: e.to_string() };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "ief");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).map_err(fail)?;
        Ok(Authority { pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// A client certificate (ClientAuth) for `subject` and `key` (a new RSA 2048 key when
    /// `None`), signed by this authority.
    fn client(&self, subject: &DistinguishedName, key: Option<&str>) -> Result<IssuedCert, PkiError> {
        let fail = |e: rcgen::Error| PkiError::Generate { what: subject.to_string(), reason: e.to_string() };
        let key = match key {
            Some(pem) => KeyPair::from_pem(pem).map_err(fail)?,
            None => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(fail)?,
        };
        let params = client_params(subject)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(fail)?;
        Ok(IssuedCert::new(&cert, &key))
    }
}

fn client_params(subject: &DistinguishedName) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// The test CA (trusted), its server certificate and a rogue CA (trusted by nobody).
pub struct TestPki {
    ca: Authority,
    rogue: Authority,
    server: IssuedCert,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").field("server", &self.server).finish_non_exhaustive()
    }
}

impl TestPki {
    /// Fresh keys and certificates; nothing touches the disk.
    pub fn generate() -> Result<TestPki, PkiError> {
        let ca = Authority::generate("ief test CA")?;
        let rogue = Authority::generate("ief rogue CA")?;
        let fail = |e: rcgen::Error| PkiError::Generate { what: "server".to_owned(), reason: e.to_string() };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        // An IP SAN for 127.0.0.1: the providers' URLs use the address, not a name.
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(fail)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &ca.issuer).map_err(fail)?;
        let server = IssuedCert::new(&cert, &key);
        Ok(TestPki { ca, rogue, server })
    }

    /// The CA certificate: what clients trust for the servers, and servers for client certificates.
    pub fn ca_pem(&self) -> &str {
        &self.ca.pem
    }

    /// The rogue CA's certificate (for tests that trust the wrong CA).
    pub fn rogue_ca_pem(&self) -> &str {
        &self.rogue.pem
    }

    /// The server certificate (for 127.0.0.1 and localhost) and its key.
    pub fn server(&self) -> &IssuedCert {
        &self.server
    }

    /// A client certificate for `subject_dn` (RFC 4514, e.g. `CN=client,O=ief`) signed by the CA.
    pub fn client_cert(&self, subject_dn: &str) -> Result<IssuedCert, PkiError> {
        self.ca.client(&DistinguishedName::parse(subject_dn)?, None)
    }

    /// A client certificate for `subject_dn` and the PKCS#8 `key_pem`, signed by the CA: runs
    /// that share throwaway keys still get certificates from their own CA.
    pub fn client_cert_for_key(&self, subject_dn: &str, key_pem: &str) -> Result<IssuedCert, PkiError> {
        self.ca.client(&DistinguishedName::parse(subject_dn)?, Some(key_pem))
    }

    /// A client certificate for `subject_dn` signed by the rogue CA.
    pub fn rogue_client_cert(&self, subject_dn: &str) -> Result<IssuedCert, PkiError> {
        self.rogue.client(&DistinguishedName::parse(subject_dn)?, None)
    }
}

/// A self-signed client certificate (ClientAuth, RSA 2048) for `subject_dn`.
pub fn self_signed_client_cert(subject_dn: &str) -> Result<IssuedCert, PkiError> {
    let subject = DistinguishedName::parse(subject_dn)?;
    let fail = |e: rcgen::Error| PkiError::Generate { what: subject_dn.to_owned(), reason: e.to_string() };
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(fail)?;
    let mut params = client_params(&subject)?;
    params.use_authority_key_identifier_extension = false;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(IssuedCert::new(&cert, &key))
}

/// A fresh RSA 2048 private key, PKCS#8 PEM (for `private_key_jwt` clients).
pub fn rsa_private_key_pem() -> Result<String, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .map(|k| k.serialize_pem())
        .map_err(|e| PkiError::Generate { what: "RSA key".to_owned(), reason: e.to_string() })
}

// --- Distinguished names ---

/// Attribute type short names of RFC 4514 §3 and a few common others, with their OIDs.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("SN", "2.5.4.4"),
    ("GN", "2.5.4.42"),
    ("TITLE", "2.5.4.12"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

fn oid_of(name: &str) -> Option<&'static str> {
    ATTRIBUTE_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, oid)| *oid)
}

fn name_of(oid: &str) -> Option<&'static str> {
    ATTRIBUTE_NAMES.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

/// One `type=value` of a relative distinguished name; the type as a dotted OID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Attribute {
    oid: String,
    value: String,
}

/// A distinguished name in RFC 4514 order (most specific first, `CN=…,O=…`), each RDN a set of
/// attributes. Certificates store the reverse order; [`DistinguishedName::of_certificate`]
/// turns it around.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinguishedName {
    rdns: Vec<Vec<Attribute>>,
}

impl DistinguishedName {
    /// Parses RFC 4514 text, tolerating spaces around `,`, `+` and `=` and attribute type names
    /// in any case. Values may use `\` escapes (`\,` or `\2C`); `#` hex values are refused.
    pub fn parse(text: &str) -> Result<DistinguishedName, PkiError> {
        let fail = |reason: String| PkiError::DistinguishedName { text: text.to_owned(), reason };
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            // attribute type
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            if chars.next() != Some('=') {
                return Err(fail(format!("'{}' has no '='", name.trim())));
            }
            let name = name.trim();
            let bare = name.strip_prefix("OID.").or_else(|| name.strip_prefix("oid.")).unwrap_or(name);
            let oid = if !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit() || c == '.') {
                bare.to_owned()
            } else {
                oid_of(bare).ok_or_else(|| fail(format!("unknown attribute type '{name}'")))?.to_owned()
            };
            // value, up to an unescaped ',' or '+'
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek() == Some(&'#') {
                return Err(fail("hex-encoded (#...) values are not supported".to_owned()));
            }
            let mut bytes: Vec<u8> = Vec::new();
            // Length of `bytes` up to the last escaped or non-space character: unescaped
            // trailing spaces are not part of the value.
            let mut significant = 0;
            let mut end = None;
            while let Some(c) = chars.next() {
                match c {
                    ',' | '+' => {
                        end = Some(c);
                        break;
                    }
                    '\\' => {
                        let first = chars.next().ok_or_else(|| fail("a '\\' ends the text".to_owned()))?;
                        if let Some(high) = first.to_digit(16) {
                            let low = chars
                                .next()
                                .and_then(|c| c.to_digit(16))
                                .ok_or_else(|| fail(format!("'\\{first}' is not followed by a second hex digit")))?;
                            // Both digits are below 16, so the byte fits.
                            bytes.push(u8::try_from(high * 16 + low).unwrap_or_default());
                        } else {
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(first.encode_utf8(&mut buf).as_bytes());
                        }
                        significant = bytes.len();
                    }
                    c => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        if c != ' ' {
                            significant = bytes.len();
                        }
                    }
                }
            }
            bytes.truncate(significant);
            let value = String::from_utf8(bytes).map_err(|_| fail("an escaped value is not UTF-8".to_owned()))?;
            if value.is_empty() {
                return Err(fail(format!("the value of '{name}' is empty")));
            }
            rdn.push(Attribute { oid, value });
            match end {
                Some('+') => {}
                Some(_) => rdns.push(std::mem::take(&mut rdn)),
                None => {
                    rdns.push(rdn);
                    break;
                }
            }
        }
        Ok(DistinguishedName { rdns })
    }

    /// The subject of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Result<DistinguishedName, PkiError> {
        let subject = der::certificate_subject(der).ok_or_else(|| PkiError::Subject("not a DER certificate".into()))?;
        let mut rdns = der::name(subject).ok_or_else(|| PkiError::Subject("the subject is not a DER Name".into()))?;
        rdns.reverse();
        Ok(DistinguishedName { rdns })
    }

    /// Whether two names are the same, as RFC 4517's distinguishedNameMatch with
    /// caseIgnoreMatch values: attribute order inside an RDN, case and runs of spaces in values
    /// do not matter. The RDN order may also be reversed (certificate order against RFC 4514).
    pub fn matches(&self, other: &DistinguishedName) -> bool {
        let a = self.normalized();
        let mut b = other.normalized();
        if a == b {
            return true;
        }
        b.reverse();
        a == b
    }

    fn normalized(&self) -> Vec<Vec<Attribute>> {
        self.rdns
            .iter()
            .map(|rdn| {
                let mut rdn: Vec<Attribute> = rdn
                    .iter()
                    .map(|a| Attribute {
                        oid: a.oid.clone(),
                        value: a.value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase(),
                    })
                    .collect();
                rdn.sort();
                rdn
            })
            .collect()
    }

    /// For rcgen, in certificate order. rcgen holds one value per type and no multi-valued RDNs.
    fn to_rcgen(&self) -> Result<rcgen::DistinguishedName, PkiError> {
        let fail = |reason: &str| PkiError::DistinguishedName { text: self.to_string(), reason: reason.to_owned() };
        let mut dn = rcgen::DistinguishedName::new();
        let mut seen = Vec::new();
        for rdn in self.rdns.iter().rev() {
            let [attribute] = rdn.as_slice() else {
                return Err(fail("multi-valued RDNs ('+') cannot be generated"));
            };
            let arcs: Option<Vec<u64>> = attribute.oid.split('.').map(|a| a.parse().ok()).collect();
            let ty = DnType::from_oid(&arcs.ok_or_else(|| fail("an attribute type is not an OID"))?);
            if seen.contains(&ty) {
                return Err(fail("an attribute type appears twice, which cannot be generated"));
            }
            seen.push(ty.clone());
            let value = match ty {
                DnType::CountryName => match attribute.value.as_str().try_into() {
                    Ok(printable) => DnValue::PrintableString(printable),
                    Err(_) => DnValue::Utf8String(attribute.value.clone()),
                },
                _ => DnValue::Utf8String(attribute.value.clone()),
            };
            dn.push(ty, value);
        }
        Ok(dn)
    }
}

/// RFC 4514 text: short type names where known, dotted OIDs otherwise, special characters escaped.
impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, attribute) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                f.write_str(name_of(&attribute.oid).unwrap_or(&attribute.oid))?;
                f.write_str("=")?;
                let last = attribute.value.chars().count().saturating_sub(1);
                for (k, c) in attribute.value.chars().enumerate() {
                    let escape = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
                        || (k == 0 && matches!(c, ' ' | '#'))
                        || (k == last && c == ' ');
                    if c == '\0' {
                        f.write_str("\\00")?;
                        continue;
                    }
                    if escape {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

/// Just enough DER to read a certificate's subject. Every read is bounds-checked: a malformed
/// certificate gives `None`, never a panic.
mod der {
    use super::Attribute;

    /// (tag, contents, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (t, contents, rest) = tlv(input)?;
        (t == tag).then_some((contents, rest))
    }

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;

    /// The subject Name's contents (the RDN sequence) of a Certificate.
    pub(super) fn certificate_subject(der: &[u8]) -> Option<&[u8]> {
        let (certificate, _) = expect(der, SEQUENCE)?;
        let (tbs, _) = expect(certificate, SEQUENCE)?;
        let mut rest = tbs;
        // [0] EXPLICIT version, optional.
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest)?.2;
        }
        let (_serial, _, rest) = tlv(rest)?;
        let (_, rest) = expect(rest, SEQUENCE)?; // signature algorithm
        let (_, rest) = expect(rest, SEQUENCE)?; // issuer
        let (_, rest) = expect(rest, SEQUENCE)?; // validity
        let (subject, _) = expect(rest, SEQUENCE)?;
        Some(subject)
    }

    /// RDNs in certificate order.
    pub(super) fn name(mut rdns: &[u8]) -> Option<Vec<Vec<Attribute>>> {
        let mut out = Vec::new();
        while !rdns.is_empty() {
            let (set, rest) = expect(rdns, SET)?;
            rdns = rest;
            let mut rdn = Vec::new();
            let mut items = set;
            while !items.is_empty() {
                let (pair, rest) = expect(items, SEQUENCE)?;
                items = rest;
                let (oid, value) = expect(pair, 0x06)?;
                let (tag, contents, _) = tlv(value)?;
                rdn.push(Attribute { oid: oid_text(oid)?, value: string(tag, contents)? });
            }
            out.push(rdn);
        }
        Some(out)
    }

    fn oid_text(bytes: &[u8]) -> Option<String> {
        let mut arcs: Vec<u64> = Vec::new();
        let mut acc: u64 = 0;
        for &b in bytes {
            acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (acc / 40).min(2);
                    arcs.push(first);
                    arcs.push(acc - first * 40);
                } else {
                    arcs.push(acc);
                }
                acc = 0;
            }
        }
        if arcs.is_empty() || bytes.last().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        Some(arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
    }

    /// The directory string types certificates use.
    fn string(tag: u8, contents: &[u8]) -> Option<String> {
        match tag {
            // UTF8String, PrintableString, IA5String, NumericString
            0x0c | 0x13 | 0x16 | 0x12 => String::from_utf8(contents.to_vec()).ok(),
            // TeletexString: Latin-1 in practice
            0x14 => Some(contents.iter().map(|&b| char::from(b)).collect()),
            // BMPString: UTF-16BE
            0x1e => {
                let units: Vec<u16> = contents.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                String::from_utf16(&units).ok()
            }
            // UniversalString: UTF-32BE
            0x1c => {
                contents.chunks_exact(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names_parse_and_print_as_rfc_4514() {
        let dn = DistinguishedName::parse(" cn = Client One , o=ief\\, test+OU=dev ").unwrap();
        assert_eq!(dn.to_string(), "CN=Client One,O=ief\\, test+OU=dev");
        let hex = DistinguishedName::parse("CN=caf\\C3\\A9,2.5.4.10=x").unwrap();
        assert_eq!(hex.to_string(), "CN=café,O=x");
        assert_eq!(DistinguishedName::parse("CN=\\ lead\\ ").unwrap().to_string(), "CN=\\ lead\\ ");
        for bad in ["CN", "XX=a", "CN=", "CN=#0403", "CN=a\\", "CN=a\\4"] {
            let err = DistinguishedName::parse(bad).unwrap_err();
            assert!(matches!(err, PkiError::DistinguishedName { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn names_match_whatever_the_order_case_and_spacing() {
        let a = DistinguishedName::parse("CN=Client  One,O=ief").unwrap();
        assert!(a.matches(&DistinguishedName::parse("cn=client one, o=IEF").unwrap()));
        assert!(a.matches(&DistinguishedName::parse("O=ief,CN=Client One").unwrap()));
        assert!(!a.matches(&DistinguishedName::parse("CN=Client Two,O=ief").unwrap()));
        assert!(!a.matches(&DistinguishedName::parse("CN=Client One").unwrap()));
        let multi = DistinguishedName::parse("CN=x+OU=y,O=z").unwrap();
        assert!(multi.matches(&DistinguishedName::parse("OU=y+CN=x,O=z").unwrap()));
    }

    #[test]
    fn generated_certificates_carry_their_subject_and_thumbprint() {
        let pki = TestPki::generate().unwrap();
        let client = pki.client_cert("CN=client one,OU=dev,O=ief,C=NL").unwrap();
        assert_eq!(client.subject().unwrap().to_string(), "CN=client one,OU=dev,O=ief,C=NL");
        assert!(client.identity_pem().contains("BEGIN CERTIFICATE"));
        assert!(client.identity_pem().contains("BEGIN PRIVATE KEY"));
        assert_eq!(certificate_der(client.cert_pem()).unwrap(), client.der());
        // 32 bytes of SHA-256 in base64url without padding.
        assert_eq!(client.x5t_s256().len(), 43);
        assert_ne!(client.x5t_s256(), pki.client_cert("CN=client one,OU=dev,O=ief,C=NL").unwrap().x5t_s256());
        let self_signed = self_signed_client_cert("CN=me").unwrap();
        assert_eq!(self_signed.subject().unwrap().to_string(), "CN=me");
        assert_eq!(pki.server().subject().unwrap().to_string(), "CN=localhost");
        assert!(!format!("{client:?}").contains("PRIVATE"));
        assert_ne!(pki.ca_pem(), pki.rogue_ca_pem());
    }

    #[test]
    fn a_certificate_for_a_given_key_carries_that_key_and_the_cas_signature() {
        let key = rsa_private_key_pem().unwrap();
        let (one, two) = (TestPki::generate().unwrap(), TestPki::generate().unwrap());
        let first = one.client_cert_for_key("CN=shared", &key).unwrap();
        let second = two.client_cert_for_key("CN=shared", &key).unwrap();
        assert_eq!(first.key_pem(), key);
        assert_eq!(second.key_pem(), key);
        assert_ne!(first.der(), second.der(), "each CA issues its own certificate");
        let bad = one.client_cert_for_key("CN=shared", "not a key").unwrap_err();
        assert!(matches!(bad, PkiError::Generate { .. }), "{bad}");
    }

    #[test]
    fn malformed_certificates_are_errors_not_panics() {
        let der = pki_der();
        for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            let _ = DistinguishedName::of_certificate(&der[..cut]);
        }
        assert!(DistinguishedName::of_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(certificate_der("not pem").is_err());
    }

    fn pki_der() -> Vec<u8> {
        self_signed_client_cert("CN=x,O=y").unwrap().der().to_vec()
    }
}
