//! The tenant's object id: what `{Policy:TenantObjectId}`, `tid` and the issuer's tenant
//! segment hold. B2C's is always a GUID, never the tenant's domain name.

use sha1::{Digest, Sha1};

/// Where the tenant's object id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSource {
    /// The policy's `TenantObjectId` attribute.
    Policy,
    /// A `tenant_id` setting (scenario, appsettings.json, server configuration).
    Configured,
    /// Derived from the tenant name, because nothing gave one.
    Derived,
}

/// A tenant object id and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantObjectId {
    /// Lower-case, hyphenated.
    pub guid: String,
    pub source: TenantSource,
}

impl TenantObjectId {
    /// Picks the id: the policy's attribute when it is a GUID, else the configured one, else a
    /// GUID derived from `tenant_name`. A configured value that is not a GUID is an error.
    pub fn choose(attribute: Option<&str>, configured: Option<&str>, tenant_name: &str) -> Result<Self, String> {
        if let Some(guid) = attribute.and_then(parse_guid) {
            return Ok(TenantObjectId { guid, source: TenantSource::Policy });
        }
        if let Some(text) = configured {
            return match parse_guid(text) {
                Some(guid) => Ok(TenantObjectId { guid, source: TenantSource::Configured }),
                None => Err(format!("the configured tenant_id '{text}' is not a GUID (the tenant's object id)")),
            };
        }
        Ok(TenantObjectId { guid: derive(tenant_name), source: TenantSource::Derived })
    }

    /// What to tell the user when the id was made up, naming how to set the real one.
    pub fn warning(&self, tenant_name: &str, attribute: Option<&str>) -> Option<String> {
        if self.source != TenantSource::Derived {
            return None;
        }
        let why = match attribute {
            Some(a) => format!("TenantObjectId '{a}' is not a GUID"),
            None => "the policy has no TenantObjectId".to_owned(),
        };
        Some(format!(
            "{why}: the tenant's object id is {}, derived from '{tenant_name}'; set TenantObjectId or a tenant_id \
             setting to use your tenant's",
            self.guid
        ))
    }
}

/// A GUID in any of the usual forms, in its lower-case hyphenated form.
pub fn parse_guid(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != '-').collect();
    let grouped = t.len() == 36 && [8, 13, 18, 23].iter().all(|&i| t.as_bytes()[i] == b'-');
    if hex.len() != 32 || !(grouped || t.len() == 32) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// RFC 9562 name-based (version 5) UUID of the lower-cased tenant name in the DNS namespace:
/// the same on every run and machine, and reproducible with any UUID tool.
pub fn derive(tenant_name: &str) -> String {
    const DNS_NAMESPACE: [u8; 16] =
        [0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];
    let mut hasher = Sha1::new();
    hasher.update(DNS_NAMESPACE);
    hasher.update(tenant_name.trim().to_lowercase().as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_version_5_uuids_of_the_tenant_name() {
        // The RFC 9562 DNS-namespace UUID of "www.example.com" (Python's uuid.uuid5 gives the same).
        assert_eq!(derive("www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        assert_eq!(derive("Contoso.onmicrosoft.com"), derive("contoso.onmicrosoft.com"));
        assert_ne!(derive("contoso.onmicrosoft.com"), derive("fabrikam.onmicrosoft.com"));
        assert!(parse_guid(&derive("x")).is_some());
    }

    #[test]
    fn guids_are_read_in_their_usual_forms() {
        let want = Some("8a3c0a6e-5f62-4b0e-9a57-2f0b3b1c4d21".to_owned());
        assert_eq!(parse_guid("8A3C0A6E-5F62-4B0E-9A57-2F0B3B1C4D21"), want);
        assert_eq!(parse_guid("{8a3c0a6e-5f62-4b0e-9a57-2f0b3b1c4d21}"), want);
        assert_eq!(parse_guid("8a3c0a6e5f624b0e9a572f0b3b1c4d21"), want);
        for bad in [
            "yourtenant.onmicrosoft.com",
            "",
            "8a3c0a6e-5f62-4b0e-9a57-2f0b3b1c4d2",
            "8a3c0a6e5f62-4b0e9a57-2f0b3b1c4d21-",
        ] {
            assert_eq!(parse_guid(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_attribute_wins_then_configuration_then_derivation() {
        let guid = "11111111-2222-3333-4444-555555555555";
        let other = "99999999-2222-3333-4444-555555555555";
        let t = TenantObjectId::choose(Some(guid), Some(other), "contoso").unwrap();
        assert_eq!((t.guid.as_str(), t.source), (guid, TenantSource::Policy));
        assert_eq!(t.warning("contoso", Some(guid)), None);
        // The HRD sample writes its domain name there: not a GUID, so configuration decides.
        let t = TenantObjectId::choose(Some("yourtenant.onmicrosoft.com"), Some(other), "contoso").unwrap();
        assert_eq!((t.guid.as_str(), t.source), (other, TenantSource::Configured));
        let t = TenantObjectId::choose(Some("yourtenant.onmicrosoft.com"), None, "contoso").unwrap();
        assert_eq!(t.source, TenantSource::Derived);
        let warning = t.warning("contoso", Some("yourtenant.onmicrosoft.com")).unwrap();
        assert!(warning.contains("'yourtenant.onmicrosoft.com' is not a GUID"), "{warning}");
        assert!(warning.contains(&derive("contoso")), "{warning}");
        let e = TenantObjectId::choose(None, Some("contoso.onmicrosoft.com"), "contoso").unwrap_err();
        assert!(e.contains("'contoso.onmicrosoft.com' is not a GUID"), "{e}");
    }
}
