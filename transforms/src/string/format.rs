//! .NET composite formatting (`String.Format`) and the string claims-transformation expressions,
//! shared by FormatStringClaim, FormatStringMultipleClaims, FormatLocalizedString,
//! CreateRandomString and CreateStringClaim.

use crate::env::TransformEnv;
use crate::error::TransformError;

/// The expressions of string-transformations.md, written `{Name}` in the parameters that accept them.
const EXPRESSIONS: [&str; 3] = ["TechnicalProfileId", "RelyingPartyTenantId", "TrustFrameworkTenantId"];

/// .NET caps format-item indices and widths at this value.
const ITEM_LIMIT: usize = 1_000_000;

/// The maximum length (UTF-16 code units) of a format string and of a formatted result.
pub(super) const MAX_FORMAT_LEN: usize = 4000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// `{index[,alignment][:format]}`; the format part does not apply to string arguments.
    Item {
        index: usize,
        width: usize,
        left: bool,
    },
    /// `{TechnicalProfileId}` and friends, resolved from the environment at run time.
    Expression(&'static str),
}

/// A parsed composite format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CompositeFormat {
    pieces: Vec<Piece>,
}

impl CompositeFormat {
    /// Parses `text`. With `expressions`, `{TechnicalProfileId}`, `{RelyingPartyTenantId}` and
    /// `{TrustFrameworkTenantId}` are placeholders filled before formatting.
    pub(super) fn parse(text: &str, expressions: bool) -> Result<CompositeFormat, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if rest[i..].starts_with('}') {
                // A lone `}` is an error; `}}` is a literal brace.
                if !after.starts_with('}') {
                    return Err(format!("unexpected '}}' at position {}", offset(text, rest) + i));
                }
                literal.push('}');
                rest = &after[1..];
                continue;
            }
            if let Some(stripped) = after.strip_prefix('{') {
                literal.push('{');
                rest = stripped;
                continue;
            }
            if expressions && let Some(name) = EXPRESSIONS.iter().find(|n| expression_at(after, n)) {
                flush(&mut pieces, &mut literal);
                pieces.push(Piece::Expression(name));
                rest = &after[name.len() + 1..];
                continue;
            }
            let (item, consumed) =
                parse_item(after).map_err(|e| format!("{e} at position {}", offset(text, rest) + i))?;
            flush(&mut pieces, &mut literal);
            pieces.push(item);
            rest = &after[consumed..];
        }
        literal.push_str(rest);
        flush(&mut pieces, &mut literal);
        Ok(CompositeFormat { pieces })
    }

    /// The highest argument index used, if any.
    pub(super) fn max_index(&self) -> Option<usize> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Item { index, .. } => Some(*index),
                _ => None,
            })
            .max()
    }

    /// Checks that every item refers to one of `n_args` arguments (.NET throws otherwise).
    pub(super) fn check_arity(&self, n_args: usize) -> Result<(), String> {
        match self.max_index() {
            Some(i) if i >= n_args => Err(format!(
                "format item {{{i}}} has no argument: index (zero based) must be less than the size of the argument list ({n_args})"
            )),
            _ => Ok(()),
        }
    }

    /// Formats with `args`; expressions come from `env`.
    pub(super) fn render(&self, args: &[&str], env: &dyn TransformEnv) -> Result<String, TransformError> {
        // One allocation in the usual case: the literals, each argument once, no padding.
        let args_len: usize = args.iter().map(|a| a.len()).sum();
        let mut out = String::with_capacity(literal_len(&self.pieces) + args_len);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Item { index, width, left } => {
                    let arg = args.get(*index).ok_or_else(|| {
                        TransformError::failed(format!(
                            "format item {{{index}}} has no argument: index (zero based) must be less than the size of the argument list ({})",
                            args.len()
                        ))
                    })?;
                    // Width counts UTF-16 units, as .NET does; most items have none.
                    let pad = if *width == 0 { 0 } else { width.saturating_sub(utf16_len(arg)) };
                    if !left {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    out.push_str(arg);
                    if *left {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                Piece::Expression(name) => out.push_str(&expression(env, name)?),
            }
        }
        Ok(out)
    }
}

/// Replaces the `{Name}` expressions in a plain (non-format) value such as CreateStringClaim's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ExpressionText {
    pieces: Vec<Piece>,
}

impl ExpressionText {
    pub(super) fn parse(text: &str) -> ExpressionText {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            match EXPRESSIONS.iter().find(|n| expression_at(after, n)) {
                Some(name) => {
                    flush(&mut pieces, &mut literal);
                    pieces.push(Piece::Expression(name));
                    rest = &after[name.len() + 1..];
                }
                None => {
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        flush(&mut pieces, &mut literal);
        ExpressionText { pieces }
    }

    /// The text, when it holds no expression.
    pub(super) fn constant(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Literal(text)] => Some(text),
            _ => None,
        }
    }

    pub(super) fn render(&self, env: &dyn TransformEnv) -> Result<String, TransformError> {
        let mut out = String::with_capacity(literal_len(&self.pieces));
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Expression(name) => out.push_str(&expression(env, name)?),
                Piece::Item { .. } => {}
            }
        }
        Ok(out)
    }
}

/// The bytes of a format's literal pieces.
fn literal_len(pieces: &[Piece]) -> usize {
    pieces.iter().map(|p| if let Piece::Literal(text) = p { text.len() } else { 0 }).sum()
}

fn expression(env: &dyn TransformEnv, name: &str) -> Result<String, TransformError> {
    env.expression(name)
        .ok_or_else(|| TransformError::failed(format!("the expression {{{name}}} has no value in this context")))
}

fn expression_at(after_brace: &str, name: &str) -> bool {
    after_brace.strip_prefix(name).is_some_and(|r| r.starts_with('}'))
}

fn flush(pieces: &mut Vec<Piece>, literal: &mut String) {
    if !literal.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(literal)));
    }
}

fn offset(whole: &str, tail: &str) -> usize {
    whole.len() - tail.len()
}

/// Parses what follows `{` up to and including `}`: `index[ ][,[ ][-]width[ ]][:format]}`.
fn parse_item(text: &str) -> Result<(Piece, usize), &'static str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    // `Ok(None)` when no digit follows.
    let digits = |i: &mut usize| -> Result<Option<usize>, &'static str> {
        let start = *i;
        let mut n: usize = 0;
        while let Some(d) = bytes.get(*i).filter(|b| b.is_ascii_digit()) {
            n = n * 10 + usize::from(d - b'0');
            if n >= ITEM_LIMIT {
                return Err("format item index or width is too large");
            }
            *i += 1;
        }
        Ok((*i > start).then_some(n))
    };
    let spaces = |i: &mut usize| {
        while bytes.get(*i) == Some(&b' ') {
            *i += 1;
        }
    };
    let index = digits(&mut i)?.ok_or("format item must start with an argument index")?;
    spaces(&mut i);
    let (mut width, mut left) = (0, false);
    if bytes.get(i) == Some(&b',') {
        i += 1;
        spaces(&mut i);
        if bytes.get(i) == Some(&b'-') {
            left = true;
            i += 1;
        }
        width = digits(&mut i)?.ok_or("format item alignment must be a number")?;
        spaces(&mut i);
    }
    if bytes.get(i) == Some(&b':') {
        // The format string only matters for formattable arguments; arguments here are strings.
        loop {
            match bytes.get(i) {
                None => return Err("format item is not closed"),
                Some(b'{') => return Err("unexpected '{' in a format item"),
                Some(b'}') => break,
                Some(_) => i += 1,
            }
        }
    }
    match bytes.get(i) {
        Some(b'}') => Ok((Piece::Item { index, width, left }, i + 1)),
        None => Err("format item is not closed"),
        Some(_) => Err("malformed format item"),
    }
}

/// Length in UTF-16 code units, as .NET counts string lengths.
pub(super) fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedEnv;

    fn fmt(format: &str, args: &[&str]) -> Result<String, String> {
        let f = CompositeFormat::parse(format, true)?;
        let mut env = FixedEnv::default();
        env.expressions.insert("RelyingPartyTenantId".into(), "b2cdemo.onmicrosoft.com".into());
        f.render(args, &env).map_err(|e| e.message)
    }

    #[test]
    fn items_escapes_and_alignment_follow_dotnet() {
        assert_eq!(fmt("{0} {1}", &["Joe", "Fernando"]).unwrap(), "Joe Fernando");
        assert_eq!(fmt("{1}{0}{1}", &["a", "b"]).unwrap(), "bab");
        assert_eq!(fmt("{{{0}}}", &["x"]).unwrap(), "{x}");
        assert_eq!(fmt("}}{{", &[]).unwrap(), "}{");
        assert_eq!(fmt("[{0,5}]", &["ab"]).unwrap(), "[   ab]");
        assert_eq!(fmt("[{0,-5}]", &["ab"]).unwrap(), "[ab   ]");
        assert_eq!(fmt("[{0 , -4 :X4}]", &["ab"]).unwrap(), "[ab  ]");
        assert_eq!(fmt("[{0,1}]", &["long"]).unwrap(), "[long]");
        // Width counts UTF-16 code units: an emoji is two.
        assert_eq!(fmt("[{0,3}]", &["😀"]).unwrap(), "[ 😀]");
        assert_eq!(fmt("", &[]).unwrap(), "");
        assert_eq!(fmt("İstanbul {0}", &["ß"]).unwrap(), "İstanbul ß");
    }

    #[test]
    fn malformed_formats_are_rejected() {
        for bad in
            ["{", "}", "{0", "{a}", "{ 0}", "{-1}", "{0,}", "{0,x}", "{0:{}", "a } b", "{1000000}", "{0,1000000}"]
        {
            assert!(CompositeFormat::parse(bad, false).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn a_too_large_alignment_says_so() {
        let err = |text| CompositeFormat::parse(text, false).err().map(|e| e.to_string());
        assert_eq!(err("{0,2000000000}").as_deref(), Some("format item index or width is too large at position 0"));
        assert_eq!(err("{0,x}").as_deref(), Some("format item alignment must be a number at position 0"));
    }

    #[test]
    fn arity_is_checked_and_reported() {
        let f = CompositeFormat::parse("{0}{2}", false).unwrap();
        assert_eq!(f.max_index(), Some(2));
        assert!(f.check_arity(3).is_ok());
        assert!(f.check_arity(2).unwrap_err().contains("{2}"));
        let err = f.render(&["a"], &FixedEnv::default()).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Failed);
    }

    #[test]
    fn expressions_are_replaced_before_formatting() {
        assert_eq!(
            fmt("cpim_{0}@{RelyingPartyTenantId}", &["5164db16"]).unwrap(),
            "cpim_5164db16@b2cdemo.onmicrosoft.com"
        );
        // Without expression support the placeholder is a malformed item, as in .NET.
        assert!(CompositeFormat::parse("{RelyingPartyTenantId}", false).is_err());
        // An expression the environment cannot resolve fails at run time.
        let err = fmt("{TechnicalProfileId}", &[]).unwrap_err();
        assert!(err.contains("TechnicalProfileId"), "{err}");
    }

    #[test]
    fn expression_text_replaces_only_known_names() {
        let mut env = FixedEnv::default();
        env.expressions.insert("TrustFrameworkTenantId".into(), "t.onmicrosoft.com".into());
        let t = ExpressionText::parse("{x} {TrustFrameworkTenantId} {0} {");
        assert_eq!(t.render(&env).unwrap(), "{x} t.onmicrosoft.com {0} {");
        assert_eq!(ExpressionText::parse("plain").render(&env).unwrap(), "plain");
    }
}
