//! BuildUri: `scheme://host/path?name=value&…`, escaped as .NET's UriBuilder and query-string
//! encoder do.

use super::{STRING, input_str, param, slot};
use crate::bag::ClaimId;
use crate::catalog::Method;
use crate::compile::{Bound, Location, Problem, ProblemKind, Runner};
use crate::signature::{Family, Signature};
use crate::value::ClaimValue;

pub(super) const BUILD_URI: Method = Method {
    signature: Signature {
        method: "BuildUri",
        family: Family::String,
        inputs: &[slot("path", STRING)],
        // `query.<name>` claims, e.g. `query.secret`.
        extra_inputs: Some(STRING),
        params: &[param("scheme", STRING), param("host", STRING)],
        // `query.<name>` literals, e.g. `query.issuer`.
        extra_params: Some(STRING),
        outputs: &[slot("outputClaim", STRING)],
        extra_outputs: None,
        user_message_key: None,
    },
    build: build_uri,
};

const QUERY_PREFIX: &str = "query.";

enum QueryValue {
    Claim(ClaimId),
    Literal(String),
}

fn build_uri(b: &Bound<'_, '_>) -> Result<Runner, Problem> {
    let path = b.required_input("path")?;
    let output = b.required_output("outputClaim")?;
    let scheme = b.param_str("scheme").unwrap_or_default();
    let valid_scheme = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(b.invalid_param("scheme", format!("'{scheme}' is not a URI scheme")));
    }
    let host = b.param_str("host").unwrap_or_default();
    let query_name = |slot: &str| slot.strip_prefix(QUERY_PREFIX).filter(|n| !n.is_empty()).map(str::to_owned);
    // Claims first, then literals, each in document order (the documented example's order).
    let mut query = Vec::new();
    for (i, input) in b.inputs().iter().enumerate().filter(|(_, d)| d.slot != "path") {
        let Some(name) = query_name(input.slot) else {
            return Err(Problem {
                kind: ProblemKind::InputMismatch,
                at: Location::Inputs(Some(i)),
                message: format!("InputClaim '{}' of BuildUri must be 'path' or 'query.<name>'", input.slot),
                suggestion: None,
            });
        };
        query.push((name, QueryValue::Claim(input.claim)));
    }
    for lit in b.param_literals().iter().filter(|l| l.id != "scheme" && l.id != "host") {
        let name = query_name(lit.id)
            .ok_or_else(|| b.invalid_param(lit.id, "BuildUri parameters are scheme, host and query.<name>"))?;
        query.push((name, QueryValue::Literal(lit.value.to_owned())));
    }
    Ok(Box::new(move |bag, _env| {
        let Some(path_text) = input_str(bag, path, "path")? else {
            return Ok(());
        };
        let mut uri = format!("{scheme}://{host}");
        if !path_text.starts_with('/') {
            uri.push('/');
        }
        escape_path(&mut uri, path_text);
        let mut separator = '?';
        for (name, value) in &query {
            let value = match value {
                QueryValue::Literal(text) => text.as_str(),
                // A query claim without a value is left out.
                QueryValue::Claim(id) => match input_str(bag, *id, name)? {
                    Some(text) => text,
                    None => continue,
                },
            };
            uri.push(separator);
            separator = '&';
            encode_query(&mut uri, name);
            uri.push('=');
            encode_query(&mut uri, value);
        }
        bag.set(output, ClaimValue::String(uri));
        Ok(())
    }))
}

/// UriBuilder's path escaping: unreserved and reserved characters stay, except `?` and `#`;
/// everything else is percent-encoded as UTF-8 with upper-case hex.
fn escape_path(out: &mut String, text: &str) {
    for c in text.chars() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | '~'
                    | ':'
                    | '/'
                    | '@'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '['
                    | ']'
            );
        if keep {
            out.push(c);
        } else {
            percent_encode(out, c, b"0123456789ABCDEF");
        }
    }
}

/// HttpUtility.UrlEncode: letters, digits and `-_.!*()` stay, a space is `+`, everything else is
/// percent-encoded as UTF-8 with lower-case hex.
fn encode_query(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!' | '*' | '(' | ')') {
            out.push(c);
        } else if c == ' ' {
            out.push('+');
        } else {
            percent_encode(out, c, b"0123456789abcdef");
        }
    }
}

fn percent_encode(out: &mut String, c: char, hex: &[u8; 16]) {
    let mut utf8 = [0u8; 4];
    for byte in c.encode_utf8(&mut utf8).bytes() {
        out.push('%');
        out.push(char::from(hex[usize::from(byte >> 4)]));
        out.push(char::from(hex[usize::from(byte & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::problem;
    use crate::testing::{case, s};
    use crate::{ClaimValue, DataType, ProblemKind};

    fn build(path: Option<&'static str>, secret: Option<&'static str>, issuer: &'static str) -> crate::testing::Case {
        case("BuildUri")
            .input_claim("path", "uriLabel", DataType::String, path.map(s))
            .input_claim("query.secret", "secretKey", DataType::String, secret.map(s))
            .param("scheme", "string", "otpauth")
            .param("host", "string", "totp")
            .param("query.issuer", "string", issuer)
            .output_claim("outputClaim", "qrCodeContent", DataType::String)
    }

    #[test]
    fn build_uri_documented_example() {
        // The doc's input omits the "Contoso demo:" label its output shows; the TOTP sample builds
        // the label first and deployment fills {AuthenticatorIssuer}.
        let out =
            build(Some("Contoso demo:emily@fabrikam.com"), Some("fay2lj7ynpntjgqa"), "Contoso demo").run_one().unwrap();
        assert_eq!(
            out,
            Some(s("otpauth://totp/Contoso%20demo:emily@fabrikam.com?secret=fay2lj7ynpntjgqa&issuer=Contoso+demo"))
        );
    }

    #[test]
    fn build_uri_escaping() {
        let out = build(Some("a b?#%/İ😀"), Some("x&y=z"), "Zoë & Co. (test)!").run_one().unwrap();
        assert_eq!(
            out,
            Some(s(
                "otpauth://totp/a%20b%3F%23%25/%C4%B0%F0%9F%98%80?secret=x%26y%3dz&issuer=Zo%c3%ab+%26+Co.+(test)!"
            ))
        );
        let out = build(Some("/already"), Some(""), "").run_one().unwrap();
        assert_eq!(out, Some(s("otpauth://totp/already?secret=&issuer=")));
        let out = build(Some(""), None, "i").run_one().unwrap();
        assert_eq!(out, Some(s("otpauth://totp/?issuer=i")));
        assert_eq!(build(None, Some("x"), "i").run_one().unwrap(), None);
    }

    #[test]
    fn build_uri_without_query() {
        let out = case("BuildUri")
            .input("path", s("p"))
            .param("scheme", "string", "https")
            .param("host", "string", "contoso.com")
            .output("outputClaim", DataType::String)
            .run_one()
            .unwrap();
        assert_eq!(out, Some(s("https://contoso.com/p")));
    }

    #[test]
    fn build_uri_rejects_bad_declarations() {
        let p = problem(&build(Some("p"), Some("x"), "i").param("issuer", "string", "i"));
        assert_eq!(p.kind, ProblemKind::InvalidParameter);
        assert!(p.message.contains("'issuer'"), "{}", p.message);
        let p = problem(&build(Some("p"), Some("x"), "i").input("secret", s("x")));
        assert_eq!(p.kind, ProblemKind::InputMismatch);
        assert!(p.message.contains("'secret'"), "{}", p.message);
        let p = problem(&build(Some("p"), Some("x"), "i").input("query.", s("x")));
        assert_eq!(p.kind, ProblemKind::InputMismatch);
        let p = problem(
            &case("BuildUri")
                .input("path", s("p"))
                .param("scheme", "string", "1tp")
                .param("host", "string", "h")
                .output("outputClaim", DataType::String),
        );
        assert!(p.message.contains("scheme"), "{}", p.message);
        let problems = build(Some("p"), Some("x"), "i").input("query.n", ClaimValue::Int(1)).check();
        assert!(problems[0].message.contains("[Int]query.n"), "{}", problems[0].message);
        let problems = case("BuildUri").input("path", s("p")).output("outputClaim", DataType::String).check();
        assert!(problems.iter().any(|p| p.message.contains("[String]scheme")), "{problems:?}");
    }
}
