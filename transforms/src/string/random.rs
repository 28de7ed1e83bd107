//! Random values: CreateOtpSecret and CreateRandomString.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::format::CompositeFormat;
use super::{BOOLEAN, INT, STRING, optional, param, slot};
use crate::catalog::Method;
use crate::compile::{Bound, Problem, Runner};
use crate::env::TransformEnv;
use crate::signature::{Family, Signature};
use crate::value::ClaimValue;

pub(super) const CREATE_OTP_SECRET: Method = Method {
    signature: Signature {
        method: "CreateOtpSecret",
        family: Family::String,
        inputs: &[],
        extra_inputs: None,
        params: &[],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: create_otp_secret,
};

pub(super) const CREATE_RANDOM_STRING: Method = Method {
    signature: Signature {
        method: "CreateRandomString",
        family: Family::String,
        inputs: &[],
        extra_inputs: None,
        params: &[
            param("randomGeneratorType", STRING),
            optional("stringFormat", STRING, None),
            optional("base64", BOOLEAN, Some("false")),
            optional("maximumNumber", INT, None),
            optional("seed", INT, None),
        ],
        extra_params: None,
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: create_random_string,
};

/// 80 bits: 16 base32 characters, the shape of the documented samples (`hmlcmd4ph6fph64c`).
const OTP_SECRET_BYTES: usize = 10;

fn create_otp_secret(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("outputClaim")?;
    Ok(Box::new(move |bag, env| {
        let mut bytes = [0u8; OTP_SECRET_BYTES];
        env.fill_random(&mut bytes);
        bag.set(output, ClaimValue::String(base32_lower(&bytes)));
        Ok(())
    }))
}

/// RFC 4648 base32 in lower case, without padding.
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = ((buffer << 8) | u32::from(byte)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Generator {
    Guid,
    Integer { maximum: Option<i32>, seed: Option<i32> },
}

fn create_random_string(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let output = b.required_output("outputClaim")?;
    let kind = b.param_str("randomGeneratorType").unwrap_or_default();
    let generator = if kind.trim().eq_ignore_ascii_case("GUID") {
        Generator::Guid
    } else if kind.trim().eq_ignore_ascii_case("INTEGER") {
        let int = |name: &str| b.param_i64(name).and_then(|n| i32::try_from(n).ok());
        let maximum = int("maximumNumber");
        if let Some(m) = maximum.filter(|m| *m < 0) {
            // .NET's Random.Next(maxValue) throws on a negative maximum.
            return Err(b.invalid_param("maximumNumber", format!("must not be negative, found {m}")));
        }
        Generator::Integer { maximum, seed: int("seed") }
    } else {
        return Err(b.invalid_param("randomGeneratorType", format!("expected GUID or INTEGER, found '{kind}'")));
    };
    let format = match b.param_str("stringFormat") {
        Some(text) => {
            let f = CompositeFormat::parse(&text, false).map_err(|e| b.invalid_param("stringFormat", e))?;
            f.check_arity(1).map_err(|e| b.invalid_param("stringFormat", e))?;
            Some(f)
        }
        None => None,
    };
    let base64 = b.param_bool("base64").unwrap_or(false);
    Ok(Box::new(move |bag, env| {
        let raw = match generator {
            Generator::Guid => guid(env),
            Generator::Integer { maximum, seed } => integer(env, maximum, seed).to_string(),
        };
        let formatted = match &format {
            Some(f) => f.render(&[&raw], env)?,
            None => raw,
        };
        let value = if base64 { STANDARD.encode(formatted.as_bytes()) } else { formatted };
        bag.set(output, ClaimValue::String(value));
        Ok(())
    }))
}

/// A version-4 GUID in .NET's default form: lower case, hyphenated.
fn guid(env: &dyn TransformEnv) -> String {
    let mut bytes = [0u8; 16];
    env.fill_random(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    // A digit table rather than `write!` per byte: formatting was most of the method's time.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// `Random.Next(maximum)` (0 ≤ n < maximum; 0 when maximum is 0) or `Random.Next()` without one.
/// A seed gives .NET's seeded sequence, whose first value is the same on every run.
fn integer(env: &dyn TransformEnv, maximum: Option<i32>, seed: Option<i32>) -> i32 {
    if let Some(seed) = seed {
        let mut random = DotNetRandom::new(seed);
        return match maximum {
            Some(m) => random.next_below(m),
            None => random.next(),
        };
    }
    let mut bytes = [0u8; 8];
    env.fill_random(&mut bytes);
    let r = u64::from_le_bytes(bytes);
    let bound = match maximum {
        Some(0) => return 0,
        Some(m) => m,
        None => i32::MAX,
    };
    // `bound` is positive, so the remainder fits.
    i32::try_from(r % bound.unsigned_abs() as u64).unwrap_or_default()
}

/// .NET's seeded `System.Random` (the subtractive generator kept for seeded instances), so a
/// policy's `seed` yields the numbers B2C yields.
#[derive(Debug)]
struct DotNetRandom {
    seeds: [i32; 56],
    inext: usize,
    inextp: usize,
}

impl DotNetRandom {
    const MBIG: i32 = i32::MAX;
    const MSEED: i32 = 161_803_398;

    fn new(seed: i32) -> DotNetRandom {
        let mut seeds = [0i32; 56];
        let subtraction = if seed == i32::MIN { i32::MAX } else { seed.abs() };
        let mut mj = Self::MSEED.wrapping_sub(subtraction);
        seeds[55] = mj;
        let mut mk = 1i32;
        for i in 1..55 {
            let ii = (21 * i) % 55;
            seeds[ii] = mk;
            mk = mj.wrapping_sub(mk);
            if mk < 0 {
                mk = mk.wrapping_add(Self::MBIG);
            }
            mj = seeds[ii];
        }
        for _ in 1..5 {
            for i in 1..56 {
                let v = seeds[i].wrapping_sub(seeds[1 + (i + 30) % 55]);
                seeds[i] = if v < 0 { v.wrapping_add(Self::MBIG) } else { v };
            }
        }
        DotNetRandom { seeds, inext: 0, inextp: 21 }
    }

    fn internal_sample(&mut self) -> i32 {
        self.inext = if self.inext + 1 >= 56 { 1 } else { self.inext + 1 };
        self.inextp = if self.inextp + 1 >= 56 { 1 } else { self.inextp + 1 };
        let mut r = self.seeds[self.inext].wrapping_sub(self.seeds[self.inextp]);
        if r == Self::MBIG {
            r -= 1;
        }
        if r < 0 {
            r = r.wrapping_add(Self::MBIG);
        }
        self.seeds[self.inext] = r;
        r
    }

    fn next(&mut self) -> i32 {
        self.internal_sample()
    }

    fn next_below(&mut self, maximum: i32) -> i32 {
        let sample = f64::from(self.internal_sample()) * (1.0 / f64::from(Self::MBIG));
        (sample * f64::from(maximum)) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::{DotNetRandom, base32_lower};
    use crate::testing::{case, s};
    use crate::{ClaimValue, DataType, FixedEnv, ProblemKind};
    use base64::Engine as _;

    fn text(v: Option<ClaimValue>) -> String {
        match v {
            Some(ClaimValue::String(t)) => t,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn is_guid(t: &str) -> bool {
        let groups: Vec<&str> = t.split('-').collect();
        groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && t.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
            && groups[2].starts_with('4')
            && groups[3].starts_with(['8', '9', 'a', 'b'])
    }

    #[test]
    fn create_otp_secret_documented_shape() {
        let c = case("CreateOtpSecret").output_claim("outputClaim", "secretKey", DataType::String);
        let secret = text(c.run_one().unwrap());
        assert_eq!(secret.len(), 16);
        assert!(secret.chars().all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)), "{secret}");
        // FixedEnv's bytes 00 1f 3e 5d 7c 9b ba d9 f8 17, base32-encoded.
        assert_eq!(secret, "aapt4xl4to5nt6ax");
        let other = case("CreateOtpSecret")
            .output("outputClaim", DataType::String)
            .env(FixedEnv { seed: 7, ..FixedEnv::default() });
        assert_ne!(text(other.run_one().unwrap()), secret);
        let problems = case("CreateOtpSecret").output("outputClaim", DataType::Int).check();
        assert!(problems[0].message.contains("[String]outputClaim"), "{}", problems[0].message);
    }

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_lower(input.as_bytes()), expected);
        }
    }

    fn random(params: &[(&'static str, &'static str, &'static str)]) -> crate::testing::Case {
        let mut c = case("CreateRandomString").output_claim("outputClaim", "randomValue", DataType::String);
        for (id, dt, value) in params {
            c = c.param(id, dt, value);
        }
        c
    }

    #[test]
    fn create_random_string_documented_guid_example() {
        let value = text(random(&[("randomGeneratorType", "string", "GUID")]).run_one().unwrap());
        assert!(is_guid(&value), "{value}");
        assert!(is_guid("bc8bedd2-aaa3-411e-bdee-2f1810b73dfc"));
        assert_eq!(value, "001f3e5d-7c9b-4ad9-b817-36557493b2d1");
    }

    #[test]
    fn create_random_string_documented_integer_example() {
        let c = random(&[
            ("randomGeneratorType", "string", "INTEGER"),
            ("maximumNumber", "int", "1000"),
            ("stringFormat", "string", "OTP_{0}"),
            ("base64", "boolean", "false"),
        ]);
        let value = text(c.run_one().unwrap());
        let n: u32 = value.strip_prefix("OTP_").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{value}"));
        assert!(n < 1000, "{value}");
    }

    #[test]
    fn create_random_string_seed_reproduces_dotnet() {
        let seeded = |seed: &'static str, max: Option<&'static str>| {
            let mut p = vec![("randomGeneratorType", "string", "integer"), ("seed", "int", seed)];
            if let Some(m) = max {
                p.push(("maximumNumber", "int", m));
            }
            text(random(&p).run_one().unwrap())
        };
        // new Random(0).Next() and new Random(0).Next(1000).
        assert_eq!(seeded("0", None), "1559595546");
        assert_eq!(seeded("0", Some("1000")), "726");
        assert_eq!(seeded("1", None), "534011718");
        assert_eq!(seeded("-1", None), "534011718");
        assert_eq!(seeded("0", Some("0")), "0");
        assert_eq!(seeded("0", Some("1")), "0");
    }

    #[test]
    fn dotnet_random_sequences() {
        let mut r = DotNetRandom::new(0);
        assert_eq!([r.next(), r.next(), r.next()], [1559595546, 1755192844, 1649316166]);
        let mut r = DotNetRandom::new(1);
        assert_eq!([r.next(), r.next(), r.next()], [534011718, 237820880, 1002897798]);
        // Extreme seeds do not overflow.
        let mut r = DotNetRandom::new(i32::MIN);
        assert!((0..100).map(|_| r.next()).all(|n| (0..i32::MAX).contains(&n)));
        let mut r = DotNetRandom::new(i32::MAX);
        assert!((0..100).map(|_| r.next_below(10)).all(|n| (0..10).contains(&n)));
    }

    #[test]
    fn create_random_string_format_and_base64() {
        let c = random(&[
            ("randomGeneratorType", "string", "GUID"),
            ("stringFormat", "string", "id-{0}"),
            ("base64", "boolean", "true"),
        ]);
        let encoded = text(c.run_one().unwrap());
        let decoded = base64::engine::general_purpose::STANDARD.decode(&encoded).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "id-001f3e5d-7c9b-4ad9-b817-36557493b2d1");
        let c = random(&[
            ("randomGeneratorType", "string", "INTEGER"),
            ("seed", "int", "0"),
            ("maximumNumber", "int", "1000"),
            ("stringFormat", "string", "İ{0}😀"),
            ("base64", "boolean", "true"),
        ]);
        assert_eq!(c.run_one().unwrap(), Some(s(&base64::engine::general_purpose::STANDARD.encode("İ726😀"))));
        let plain = text(random(&[("randomGeneratorType", "string", "INTEGER")]).run_one().unwrap());
        assert!(plain.parse::<i32>().is_ok_and(|n| n >= 0), "{plain}");
        let zero = text(
            random(&[("randomGeneratorType", "string", "INTEGER"), ("maximumNumber", "int", "0")]).run_one().unwrap(),
        );
        assert_eq!(zero, "0");
    }

    #[test]
    fn create_random_string_rejects_bad_parameters() {
        let p = super::super::test_util::problem(&random(&[("randomGeneratorType", "string", "UUID")]));
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("randomGeneratorType"), "{}", p.message);
        let p = super::super::test_util::problem(&random(&[
            ("randomGeneratorType", "string", "INTEGER"),
            ("maximumNumber", "int", "-5"),
        ]));
        assert!(p.message.contains("maximumNumber"), "{}", p.message);
        let p = super::super::test_util::problem(&random(&[
            ("randomGeneratorType", "string", "GUID"),
            ("stringFormat", "string", "{0}{1}"),
        ]));
        assert!(p.message.contains("stringFormat"), "{}", p.message);
        let problems =
            random(&[("randomGeneratorType", "string", "INTEGER"), ("maximumNumber", "int", "2147483648")]).check();
        assert!(problems[0].message.contains("maximumNumber"), "{}", problems[0].message);
        let problems = random(&[("randomGeneratorType", "string", "GUID"), ("base64", "string", "true")]).check();
        assert!(
            problems[0].message.contains("base64") && problems[0].message.contains("Boolean"),
            "{}",
            problems[0].message
        );
        let problems = case("CreateRandomString").output("outputClaim", DataType::String).check();
        assert!(problems[0].message.contains("randomGeneratorType"), "{}", problems[0].message);
    }
}
