//! .NET regular-expression syntax as policies write it, rewritten for Rust regex engines.

/// Inside a character class .NET reads `[`, `&&` and `~~` literally, where Rust's regex syntax
/// opens a nested class or means intersection / symmetric difference; escape them.
pub fn translate_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut class_start = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(c);
            if let Some(n) = chars.next() {
                out.push(n);
            }
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                // `]` right after `[` or `[^` is a literal in both syntaxes.
                ']' if !class_start => in_class = false,
                '[' | '&' | '~' => out.push('\\'),
                _ => {}
            }
            class_start = c == '^' && out.ends_with('[');
        } else if c == '[' {
            in_class = true;
            class_start = true;
            out.push(c);
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::translate_regex;

    #[test]
    fn literal_brackets_and_operators_in_classes_are_escaped() {
        assert_eq!(translate_regex(r"[a[\]&&~~]"), r"[a\[\]\&\&\~\~]");
        assert_eq!(translate_regex(r"^[^]a]+$"), r"^[^]a]+$");
        assert_eq!(translate_regex(r"(a&b)~[x]"), r"(a&b)~[x]");
    }

    #[test]
    fn the_starter_pack_password_pattern_compiles() {
        let p = r#"^((?=.*[a-z])(?=.*[A-Z])(?=.*\d)|(?=.*[a-z])(?=.*[A-Z])(?=.*[^A-Za-z0-9])|(?=.*[a-z])(?=.*\d)(?=.*[^A-Za-z0-9])|(?=.*[A-Z])(?=.*\d)(?=.*[^A-Za-z0-9]))([A-Za-z\d@#$%^&*\-_+=[\]{}|\\:',?/`~"();!]|\.(?!@)){8,16}$"#;
        // Lookarounds need a backtracking engine; the plain regex crate must at least accept the class.
        let class = r#"^[A-Za-z\d@#$%^&*\-_+=[\]{}|\\:',?/`~"();!]+$"#;
        let re = regex::Regex::new(&translate_regex(class)).unwrap();
        assert!(re.is_match("a[b]&c~"));
        assert!(!translate_regex(p).is_empty());
    }
}
