//! Time-based one-time passwords (RFC 6238) as authenticator apps compute them: HMAC-SHA1 over
//! 30-second steps, six digits, the secret in RFC 4648 base32 (CreateOtpSecret's form).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Steps either side of now that still verify: an app's clock may be a little off.
pub const WINDOW_STEPS: i64 = 1;
const DIGITS: u32 = 6;

/// RFC 4648 base32 (any case, `=` padding and spaces ignored); `None` for other characters.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut count = 0u32;
    let mut out = Vec::new();
    for c in text.chars().filter(|c| !matches!(c, '=' | ' ')) {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The code for the step holding `unix` seconds (RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], unix: i64) -> String {
    let counter = unix.div_euclid(STEP_SECS) as u64;
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return String::new() };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    format!("{:0width$}", value % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// Whether `code` is the code of a step within [`WINDOW_STEPS`] of `unix`.
pub fn verify(secret_base32: &str, code: &str, unix: i64) -> bool {
    let Some(secret) = base32_decode(secret_base32).filter(|s| !s.is_empty()) else { return false };
    let code = code.trim();
    (-WINDOW_STEPS..=WINDOW_STEPS).any(|d| code_at(&secret, unix + d * STEP_SECS) == code)
}

/// The secret of an `otpauth://totp/...?secret=...` URI, as a QR code carries it.
pub fn secret_of_uri(uri: &str) -> Option<String> {
    let url = reqwest::Url::parse(uri.trim()).ok().filter(|u| u.scheme() == "otpauth")?;
    url.query_pairs().find(|(k, _)| k == "secret").map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // Appendix B: the 8-digit values' last six digits.
        let secret = b"12345678901234567890";
        for (t, expected) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(code_at(secret, t), expected, "T={t}");
        }
    }

    #[test]
    fn base32_reads_create_otp_secret_output() {
        assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(), b"12345678901234567890");
        assert_eq!(base32_decode("gezdgnbv gy3tqojq====").unwrap(), b"1234567890");
        assert_eq!(base32_decode("hmlcmd4ph6fph64c").unwrap().len(), 10);
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn codes_verify_within_one_step_either_side() {
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let now = 1_704_067_200;
        let code = code_at(b"12345678901234567890", now);
        assert!(verify(secret, &code, now));
        assert!(verify(secret, &code, now + STEP_SECS));
        assert!(!verify(secret, &code, now + 2 * STEP_SECS));
        assert!(!verify(secret, "000000", now) || code == "000000");
        assert!(!verify("", &code, now));
    }

    #[test]
    fn the_secret_comes_out_of_an_otpauth_uri() {
        let uri = "otpauth://totp/Contoso%20demo:emily@fabrikam.com?secret=fay2lj7ynpntjgqa&issuer=Contoso+demo";
        assert_eq!(secret_of_uri(uri).as_deref(), Some("fay2lj7ynpntjgqa"));
        assert_eq!(secret_of_uri("https://example.com/?secret=x"), None);
    }
}
