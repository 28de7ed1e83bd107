//! .NET regular-expression syntax as policies write it, rewritten for Rust regex engines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Compiled patterns by source text. Compiling a large .NET pattern with lookarounds costs
/// milliseconds, and the same patterns recur across the relying parties of a chain and across
/// sign-ins.
type Compiled = Result<Arc<fancy_regex::Regex>, String>;

/// Every pattern compiled in the process, so each is compiled once. Taken only the first time a
/// thread meets a pattern.
static COMPILED: LazyLock<Mutex<HashMap<String, Compiled>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    /// This thread's copies of the patterns it has used: a match takes no lock, and a copy's
    /// match caches (regex-automata's pool) belong to this thread, so sign-ins on several
    /// threads share nothing they write.
    static LOCAL: RefCell<HashMap<String, Compiled>> = RefCell::new(HashMap::new());
}

/// Bound on cached patterns; policies hold tens, not thousands.
const MAX_CACHED: usize = 4096;

/// A policy's .NET pattern compiled with a backtracking engine (lookarounds work), cached.
pub fn regex(pattern: &str) -> Compiled {
    with_regex(pattern, Compiled::clone)
}

/// `Regex.IsMatch` as .NET runs it: unanchored unless the pattern anchors itself. A pattern that
/// does not compile matches nothing.
pub fn is_match(pattern: &str, text: &str) -> bool {
    with_regex(pattern, |re| re.as_ref().is_ok_and(|re| re.is_match(text).unwrap_or(false)))
}

/// Calls `f` with this thread's copy of `pattern`, made from the process-wide one.
fn with_regex<T>(pattern: &str, f: impl FnOnce(&Compiled) -> T) -> T {
    LOCAL.with(|local| {
        if let Some(hit) = local.borrow().get(pattern) {
            return f(hit);
        }
        // A clone shares the compiled program and gets match caches of its own.
        let copy = shared(pattern).map(|re| Arc::new(fancy_regex::Regex::clone(&re)));
        let mut local = local.borrow_mut();
        if local.len() >= MAX_CACHED {
            local.clear();
        }
        f(local.entry(pattern.to_owned()).or_insert(copy))
    })
}

fn shared(pattern: &str) -> Compiled {
    if let Some(hit) = COMPILED.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return hit;
    }
    let compiled = fancy_regex::Regex::new(&translate_regex(pattern)).map(Arc::new).map_err(|e| reason(&e));
    if let Ok(mut cache) = COMPILED.lock() {
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), compiled.clone());
    }
    compiled
}

/// Why a pattern does not compile. fancy-regex says only "error parsing pattern 0" for what the
/// regex crate refuses; that error's last line names the cause. Its positions would point into
/// the rewritten pattern, so only the cause is kept.
fn reason(e: &fancy_regex::Error) -> String {
    if let fancy_regex::Error::CompileError(fancy_regex::CompileError::InnerError(inner)) = e
        && let Some(syntax) = inner.syntax_error()
    {
        let text = syntax.to_string();
        if let Some(cause) = text.lines().filter_map(|l| l.strip_prefix("error: ")).next_back() {
            return cause.to_owned();
        }
    }
    e.to_string()
}

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
    use std::sync::Arc;

    use super::translate_regex;

    #[test]
    fn patterns_compile_once_and_errors_are_kept() {
        let a = super::regex(r"^(?=.*\d)[a-z\d]{3}$").unwrap();
        let b = super::regex(r"^(?=.*\d)[a-z\d]{3}$").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.is_match("ab1").unwrap() && !a.is_match("abc").unwrap());
        assert!(super::regex("a(").is_err());
        assert!(!super::is_match("a(", "a("));
    }

    #[test]
    fn a_refused_pattern_says_why() {
        // A reversed range, as .NET refuses it too ("[x-y] range in reverse order").
        assert_eq!(
            super::regex("^[a-z0-9_-@]*$").unwrap_err(),
            "invalid character class range, the start must be <= the end"
        );
        assert_eq!(super::regex("a{2,1}").unwrap_err(), "invalid repetition count range, the start must be <= the end");
        // fancy-regex's own parse errors already say why.
        assert!(super::regex("(abc").unwrap_err().contains("without closing parenthesis"));
    }

    #[test]
    fn each_thread_matches_with_its_own_copy_of_a_pattern_compiled_once() {
        let p = r"^(?=.*[A-Z])\w{4}$";
        let here = super::regex(p).unwrap();
        let shared = super::COMPILED.lock().unwrap().get(p).cloned().unwrap().unwrap();
        let there = std::thread::spawn(move || {
            let re = super::regex(p).unwrap();
            (super::is_match(p, "abCd"), super::is_match(p, "abcd"), Arc::as_ptr(&re) as usize)
        })
        .join()
        .unwrap();
        assert_eq!((there.0, there.1), (true, false));
        // Three copies: the process-wide one and one per thread; the other thread compiled nothing.
        assert_ne!(Arc::as_ptr(&here) as usize, there.2);
        assert!(!Arc::ptr_eq(&here, &shared));
        assert!(Arc::ptr_eq(&shared, &super::COMPILED.lock().unwrap().get(p).cloned().unwrap().unwrap()));
    }

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
