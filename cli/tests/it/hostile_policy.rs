//! The robustness probe (`shared/reports/robustness-probe-2026-12.md`), sections 1 (XML attacks),
//! 4 (secrets in output), 5 (claims transformations) and 7 (fuzzing inputs), kept as tests.
//! Every input is generated here; every run has a time and address-space bound and must end
//! with exit 0, 1 or 2 and no panic.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::workspace;

/// Generous for a debug build on a busy two-core machine; the probe's defects took 10 s to hang.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Address space of one run (KiB): no probe input may need more than 1 GiB.
const MEMORY_LIMIT_KIB: u32 = 1024 * 1024;

/// A scratch folder, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("ief-hostile-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// `ief ARGS` in `dir` under the memory limit, killed at the time limit. Asserts the bounds and
/// an orderly end: exit 0, 1 or 2, no panic, no signal.
pub(crate) fn ief_in(dir: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ief"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ief starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).ok();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            child.kill().ok();
            child.wait().ok();
            panic!("ief {args:?} took more than {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    };
    let tail = |s: &str| s.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect::<String>();
    assert!(
        matches!(run.code, 0..=2) && !run.stderr.contains("panicked"),
        "ief {args:?} ended with {:?} (signal {:?}):\n{}",
        status.code(),
        status.signal(),
        tail(&run.stderr)
    );
    run
}

const NS: &str = r#"xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com""#;

/// A policy file with this PolicyId around `body`.
fn policy(id: &str, body: &str) -> String {
    format!(
        r#"<TrustFrameworkPolicy {NS} PolicyId="{id}" PublicPolicyUri="http://contoso.onmicrosoft.com/{id}">{body}</TrustFrameworkPolicy>"#
    )
}

fn based_on(base: &str) -> String {
    format!("<BasePolicy><TenantId>contoso.onmicrosoft.com</TenantId><PolicyId>{base}</PolicyId></BasePolicy>")
}

/// A policy that validates on its own (BuildingBlocks only).
fn valid_policy() -> String {
    std::fs::read_to_string(workspace().join("policies/transforms/claims.xml")).expect("claims.xml")
}

fn starter_pack(pack: &str) -> PathBuf {
    let dir = workspace().join("../shared/policies/starterpack").join(pack);
    assert!(dir.is_dir(), "these tests need ../shared/policies beside the repository");
    dir
}

/// Writes `name` and validates it: exit 1, the code and the message fragment on standard error.
fn refused(tmp: &Scratch, name: &str, bytes: impl AsRef<[u8]>, code: &str, message: &str) -> Run {
    tmp.write(name, bytes);
    let run = ief_in(tmp.path(), &["validate", name]);
    assert_eq!(run.code, 1, "{name}: {}", run.stderr);
    assert!(run.stderr.contains(code) && run.stderr.contains(message), "{name}: {code} {message}: {}", run.stderr);
    run
}

fn json_diagnostics(run: &Run) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(&run.stdout).expect("JSON diagnostics")
}

// ---------------------------------------------------------------------------------------------
// 1. XML attacks

#[test]
fn dtds_are_refused_without_expanding_or_fetching_anything() {
    let tmp = Scratch::new("dtd");
    let canary = tmp.write("canary.txt", "CANARY-7f3a");
    // Nothing may connect here: ief must not fetch the parameter entity.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port();
    let laughs: String =
        (1..10).map(|i| format!(r#"<!ENTITY l{i} "{}">"#, format!("&l{};", i - 1).repeat(10))).collect();
    let cases = [
        ("laughs.xml", format!(r#"<!DOCTYPE x [<!ENTITY l0 "lol">{laughs}]>{}"#, policy("B2C_1A_x", "&l9;"))),
        (
            "xxe.xml",
            format!(
                r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{}">]>{}"#,
                canary.display(),
                policy("B2C_1A_x", "<BuildingBlocks>&xxe;</BuildingBlocks>")
            ),
        ),
        ("external.xml", format!(r#"<!DOCTYPE x SYSTEM "file://{}">{}"#, canary.display(), policy("B2C_1A_x", ""))),
        (
            "parameter.xml",
            format!(
                r#"<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>{}"#,
                policy("B2C_1A_x", "")
            ),
        ),
    ];
    for (name, text) in cases {
        let file = tmp.write(&format!("in/{name}"), text);
        let file = file.to_str().expect("path");
        for args in [vec!["validate", file], vec!["merge", file]] {
            let run = ief_in(tmp.path(), &args);
            assert_eq!(run.code, 1, "{name} {args:?}: {}", run.stderr);
            assert!(run.stderr.contains("IEF004") && run.stderr.contains("a DOCTYPE declaration is not allowed"));
            assert!(run.stderr.contains("ief never expands entities"), "{}", run.stderr);
            assert!(!run.stdout.contains("CANARY") && !run.stderr.contains("CANARY"), "{name}: the canary leaked");
        }
        std::fs::remove_file(file).expect("remove");
    }
    assert!(listener.accept().is_err(), "ief connected to the parameter entity's URL");
}

#[test]
fn an_entity_without_a_dtd_is_unknown() {
    let tmp = Scratch::new("entity");
    let body = "<BuildingBlocks>&xxe;</BuildingBlocks>";
    refused(&tmp, "e.xml", policy("B2C_1A_x", body), "IEF003", "unknown entity reference '&xxe;'");
}

/// D1: 100,000 nested elements (700 KB, under the size limit) overflowed the stack.
#[test]
fn deep_nesting_is_refused_where_it_passes_the_limit() {
    let tmp = Scratch::new("deep");
    for n in [30_000, 100_000] {
        let open = "<a>".repeat(n);
        let text = format!(
            "{}{open}{}</TrustFrameworkPolicy>",
            policy("B2C_1A_d", "").replace("</TrustFrameworkPolicy>", ""),
            "</a>".repeat(n)
        );
        tmp.write("d.xml", &text);
        let column = text.find("<a>").expect("nesting") + 3 * 31 + 2;
        for args in [&["validate", "d.xml"][..], &["validate", "d.xml", "--format", "json"], &["merge", "d.xml"]] {
            let run = ief_in(tmp.path(), args);
            assert_eq!(run.code, 1, "{args:?}");
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(all.contains("elements are nested more than 32 levels deep"), "{all}");
            if args.contains(&"json") {
                let d = &json_diagnostics(&run)[0];
                assert_eq!(
                    (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
                    (Some("IEF003"), Some(1), Some(column as u64))
                );
            } else {
                assert!(all.contains(&format!("d.xml:1:{column}")), "{all}");
            }
        }
    }
}

/// D2: 200,000 unclosed elements on one line reached miette with a column past 65,535.
#[test]
fn unclosed_elements_on_one_line_end_in_a_clear_error() {
    let tmp = Scratch::new("unclosed");
    refused(&tmp, "u.xml", "<a>".repeat(200_000), "IEF003", "u.xml:1:98");
}

#[test]
fn the_size_limit_is_exact_and_checked_before_parsing() {
    let tmp = Scratch::new("size");
    let valid = valid_policy();
    let padded = |total: usize| {
        let pad = total - valid.len() - "<!---->".len();
        format!("{valid}<!--{}-->", " ".repeat(pad))
    };
    tmp.write("exact/p.xml", padded(1_048_576));
    let run = ief_in(tmp.path(), &["validate", "exact"]);
    assert_eq!(run.code, 0, "exactly 1,024 KB is accepted: {}", run.stderr);
    tmp.write("over/p.xml", padded(1_048_577));
    let run = ief_in(tmp.path(), &["validate", "over"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the file is 1,048,577 bytes; B2C accepts at most 1,048,576 bytes (1,024 KB)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 file(s) checked: 1 error"), "{}", run.stderr);
    tmp.write("huge/p.xml", padded(50 * 1024 * 1024));
    let run = ief_in(tmp.path(), &["validate", "huge"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("IEF002") && run.stderr.contains("52,428,800 bytes"), "{}", run.stderr);
}

#[test]
fn a_million_character_attribute_is_reported_in_a_window() {
    let tmp = Scratch::new("attr");
    let value = "v".repeat(1_000_000);
    tmp.write("a.xml", policy("B2C_1A_a", &format!(r#"<BuildingBlocks Huge="{value}"/>"#)));
    let run = ief_in(tmp.path(), &["validate", "a.xml"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("IEF104"), "{}", run.stderr);
    assert!(run.stderr.len() < 8_000, "the line is shown around the span, not whole: {} bytes", run.stderr.len());
}

/// D3: text rendering repeated and rescanned the file per diagnostic (80,000 attributes on one
/// line ran out of memory; 90,000 on their own lines took over a minute).
#[test]
fn many_diagnostics_render_in_linear_time_capped_per_file() {
    let tmp = Scratch::new("many");
    for (n, separator) in [(80_000, " "), (90_000, "\n")] {
        let attrs: Vec<String> = (0..n).map(|i| format!(r#"a{i}="v""#)).collect();
        tmp.write("m.xml", policy("B2C_1A_m", &format!("<BuildingBlocks {}/>", attrs.join(separator))));
        let text = ief_in(tmp.path(), &["validate", "m.xml"]);
        assert_eq!(text.code, 1);
        assert_eq!(text.stderr.matches("IEF104").count(), 100, "100 rendered");
        assert!(
            text.stderr.contains(&format!("... and {} more in m.xml", n - 100)),
            "{}",
            &text.stderr[text.stderr.len() - 300..]
        );
        assert!(text.stderr.contains(&format!("1 file(s) checked: {n} errors")));
        let json = ief_in(tmp.path(), &["validate", "m.xml", "--format", "json"]);
        assert_eq!(json.code, 1);
        assert_eq!(json_diagnostics(&json).len(), n, "JSON lists every diagnostic");
    }
}

/// A diagnostic's label far from its primary span: miette would join the two snippets and print
/// every line between them, for each of the diagnostics.
#[test]
fn labels_far_apart_are_shown_as_two_snippets() {
    let tmp = Scratch::new("far");
    let claim = |id: String| format!("<ClaimType Id=\"{id}\"><DataType>string</DataType></ClaimType>\n");
    let firsts: String = (0..100).map(|i| claim(format!("dup{i}"))).collect();
    let filler = |prefix: &str, n: usize| -> String { (0..n).map(|i| claim(format!("{prefix}{i}"))).collect() };
    let seconds: String = (0..100).map(|i| claim(format!("dup{i}"))).collect();
    // miette joins two snippets when the second starts before twice the first's line.
    let (before, between) = (filler("b", 3_000), filler("c", 1_500));
    let body =
        format!("<BuildingBlocks><ClaimsSchema>\n{before}{firsts}{between}{seconds}</ClaimsSchema></BuildingBlocks>");
    let run = refused(&tmp, "far.xml", policy("B2C_1A_f", &body), "IEF107", "Duplicate ClaimType Id 'dup99'");
    assert_eq!(run.stderr.matches("IEF107").count(), 100);
    assert!(run.stderr.lines().count() < 100 * 20, "{} lines", run.stderr.lines().count());
}

#[test]
fn a_wide_tree_of_sixteen_thousand_claim_types_loads() {
    let tmp = Scratch::new("wide");
    let claims: String =
        (0..16_000).map(|i| format!(r#"<ClaimType Id="c{i}"><DataType>string</DataType></ClaimType>"#)).collect();
    tmp.write(
        "w.xml",
        policy("B2C_1A_w", &format!("<BuildingBlocks><ClaimsSchema>{claims}</ClaimsSchema></BuildingBlocks>")),
    );
    let run = ief_in(tmp.path(), &["validate", "w.xml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("1 file(s) checked: 0 errors"));
}

#[test]
fn malformed_markup_is_a_positioned_syntax_error() {
    let tmp = Scratch::new("markup");
    let cases = [
        (
            "dup.xml",
            r#"<TrustFrameworkPolicy PolicyId="a" PolicyId="b"/>"#,
            "duplicated attribute 'PolicyId'",
            "dup.xml:1:36",
        ),
        ("zero.xml", "<a>&#0;</a>", "0x0 character is not permitted in XML ('&#0;')", "zero.xml:1:4"),
        ("big.xml", "<a>\n&#x110000;</a>", "is not a valid codepoint ('&#x110000;')", "big.xml:2:1"),
        ("surrogate.xml", "<a>&#xD800;</a>", "is not a valid codepoint ('&#xD800;')", "surrogate.xml:1:4"),
    ];
    for (name, text, message, position) in cases {
        let run = refused(&tmp, name, text, "IEF003", message);
        assert!(run.stderr.contains(position), "{name}: {}", run.stderr);
    }
    let run = ief_in(tmp.path(), &["validate", "/dev/null"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("IEF003") && run.stderr.contains("the file has no root element"), "{}", run.stderr);
}

#[test]
fn encodings_decode_or_fail_with_ief001() {
    let tmp = Scratch::new("enc");
    let valid = valid_policy().replacen(r#"encoding="utf-8""#, r#"encoding="utf-16""#, 1);
    let utf16 = |text: &str, le: bool| -> Vec<u8> {
        text.encode_utf16().flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() }).collect()
    };
    let with_bom = |bom: &[u8], body: Vec<u8>| [bom.to_vec(), body].concat();
    for (name, bom, le) in [("le.xml", [0xFF, 0xFE], true), ("be.xml", [0xFE, 0xFF], false)] {
        tmp.write(name, with_bom(&bom, utf16(&valid, le)));
        let run = ief_in(tmp.path(), &["validate", name]);
        assert_eq!(run.code, 0, "{name} is decoded: {}", run.stderr);
    }
    // Without a BOM the bytes are read as UTF-8: NULs XML forbids, no panic.
    let ascii = policy("B2C_1A_x", "");
    for (name, le) in [("le-no-bom.xml", true), ("be-no-bom.xml", false)] {
        refused(&tmp, name, utf16(&ascii, le), "IEF003", "characters XML 1.0 forbids");
    }
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("latin1.xml", b"<a>caf\xE9</a>".to_vec(), "the file is not valid UTF-8"),
        ("odd.xml", with_bom(&[0xFF, 0xFE], b"<\0a\0/".to_vec()), "the file is not valid UTF-16"),
        ("surrogate.xml", with_bom(&[0xFF, 0xFE], vec![b'<', 0, 0x00, 0xD8, b'>', 0]), "the file is not valid UTF-16"),
    ];
    for (name, bytes, message) in cases {
        refused(&tmp, name, bytes, "IEF001", message);
    }
}

/// D13: B2C's parser refuses characters XML 1.0 forbids; ief accepted them.
#[test]
fn characters_xml_forbids_are_reported_with_their_position() {
    let tmp = Scratch::new("chars");
    let pack = starter_pack("LocalAccounts");
    for entry in std::fs::read_dir(&pack).expect("starter pack") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, tmp.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let base = tmp.path().join("TrustFrameworkBase.xml");
    let text = std::fs::read_to_string(&base).expect("base");
    let at = text.find("<DisplayName>").expect("a DisplayName") + "<DisplayName>".len();
    std::fs::write(&base, format!("{}\u{0}\u{1}{}", &text[..at], &text[at..])).expect("write");
    let line = text[..at].lines().count();
    let column = text[..at].rsplit('\n').next().expect("line").chars().count() + 1;
    let run = ief_in(tmp.path(), &["validate", "."]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("2 characters XML 1.0 forbids, the first U+0000"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("TrustFrameworkBase.xml:{line}:{column}")), "{}", run.stderr);
    // In a name and in an attribute value.
    tmp.write("n/name.xml", "<Trust\u{0}Framework/>");
    tmp.write("n/value.xml", "<a b='x\u{0}'/>");
    for (name, column) in [("n/name.xml", 7), ("n/value.xml", 8)] {
        let run = ief_in(tmp.path(), &["validate", name, "--format", "json"]);
        assert_eq!(run.code, 1);
        let d = &json_diagnostics(&run)[0];
        assert_eq!((d["code"].as_str(), d["column"].as_u64()), (Some("IEF003"), Some(column)), "{name}: {d}");
        assert_eq!(d["message"], "U+0000 is a character XML 1.0 forbids");
    }
}

#[test]
fn inheritance_cycles_and_long_chains_are_reported() {
    let tmp = Scratch::new("chain");
    for (id, base) in [("B2C_1A_A", "B2C_1A_C"), ("B2C_1A_B", "B2C_1A_A"), ("B2C_1A_C", "B2C_1A_B")] {
        tmp.write(&format!("cycle/{id}.xml"), policy(id, &based_on(base)));
    }
    tmp.write("self/s.xml", policy("B2C_1A_S", &based_on("B2C_1A_S")));
    // No relying party: every file is another's base, and the cycle is still found.
    for (dir, cycle) in [("cycle", "B2C_1A_A -> B2C_1A_C -> B2C_1A_B -> B2C_1A_A"), ("self", "B2C_1A_S -> B2C_1A_S")] {
        let run = ief_in(tmp.path(), &["validate", dir]);
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains("IEF202") && run.stderr.contains(cycle), "{}", run.stderr);
        assert_eq!(ief_in(tmp.path(), &["merge", dir]).code, 1);
    }
    // Beside a sound chain, and beside each other, every cycle is still reported.
    for (id, base) in [("B2C_1A_A", "B2C_1A_C"), ("B2C_1A_B", "B2C_1A_A"), ("B2C_1A_C", "B2C_1A_B")] {
        tmp.write(&format!("mixed/{id}.xml"), policy(id, &based_on(base)));
    }
    tmp.write("mixed/s.xml", policy("B2C_1A_S", &based_on("B2C_1A_S")));
    tmp.write("mixed/f0.xml", valid_policy().replace("B2C_1A_TransformExamples", "B2C_1A_F0"));
    tmp.write("mixed/f1.xml", policy("B2C_1A_F1", &based_on("B2C_1A_F0")));
    let run = ief_in(tmp.path(), &["validate", "mixed"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("B2C_1A_S -> B2C_1A_S") && run.stderr.contains("-> B2C_1A_A"), "{}", run.stderr);
    // A duplicated PolicyId: the cycle is found through the first file, the base chains resolve.
    tmp.write("dup/a.xml", policy("B2C_1A_P", &based_on("B2C_1A_Q")));
    tmp.write("dup/b.xml", policy("B2C_1A_Q", &based_on("B2C_1A_P")));
    tmp.write("dup/c.xml", policy("B2C_1A_Q", ""));
    let run = ief_in(tmp.path(), &["validate", "dup"]);
    assert!(run.stderr.contains("IEF202") && run.stderr.contains("B2C_1A_P -> B2C_1A_Q -> B2C_1A_P"), "{}", run.stderr);
    for files in [10, 11] {
        let dir = format!("chain{files}");
        tmp.write(&format!("{dir}/f0.xml"), valid_policy().replace("B2C_1A_TransformExamples", "B2C_1A_F0"));
        for i in 1..files {
            tmp.write(
                &format!("{dir}/f{i}.xml"),
                policy(&format!("B2C_1A_F{i}"), &based_on(&format!("B2C_1A_F{}", i - 1))),
            );
        }
        let run = ief_in(tmp.path(), &["validate", &dir]);
        if files == 10 {
            assert_eq!(run.code, 0, "ten files are accepted: {}", run.stderr);
        } else {
            assert_eq!(run.code, 1);
            assert!(run.stderr.contains("IEF203") && run.stderr.contains("more than 10 files"), "{}", run.stderr);
        }
    }
}

#[test]
fn five_thousand_chained_files_load_in_bounded_time() {
    let tmp = Scratch::new("thousands");
    tmp.write("p/f0.xml", policy("B2C_1A_F0", ""));
    for i in 1..5_000 {
        tmp.write(&format!("p/f{i}.xml"), policy(&format!("B2C_1A_F{i}"), &based_on(&format!("B2C_1A_F{}", i - 1))));
    }
    let run = ief_in(tmp.path(), &["validate", "p", "--format", "json"]);
    assert_eq!(run.code, 1);
    let diags = json_diagnostics(&run);
    assert!(diags.iter().any(|d| d["code"] == "IEF203"), "chains past 10 files are reported");
}

/// Ten files each overriding and appending thousands of steps, with duplicate and non-numeric
/// Orders and duplicate keys in every keyed list: reported with positions, in bounded time.
#[test]
fn hostile_chains_merge_in_bounded_time() {
    let tmp = Scratch::new("hostile-chain");
    let step = |order: &str| {
        format!(
            r#"<OrchestrationStep Order="{order}" Type="ClaimsExchange"><ClaimsExchanges><ClaimsExchange Id="E" TechnicalProfileReferenceId="TP1"/></ClaimsExchanges></OrchestrationStep>"#
        )
    };
    let orders = (0..2_000).map(|k| if k % 7 == 0 { format!("x{k}") } else { (k / 2).to_string() });
    let steps: String = orders.map(|o| step(&o)).collect();
    let claims: String =
        (0..200).map(|k| format!(r#"<ClaimType Id="c{}"><DataType>string</DataType></ClaimType>"#, k % 20)).collect();
    let profiles: String = (0..40)
        .map(|k| format!(r#"<TechnicalProfile Id="TP{}"><DisplayName>x</DisplayName></TechnicalProfile>"#, k % 10))
        .collect();
    for i in 0..10 {
        let base = if i == 0 { String::new() } else { based_on(&format!("B2C_1A_H{}", i - 1)) };
        let body = format!(
            "{base}<BuildingBlocks><ClaimsSchema>{claims}</ClaimsSchema></BuildingBlocks><ClaimsProviders><ClaimsProvider><DisplayName>P</DisplayName><TechnicalProfiles>{profiles}</TechnicalProfiles></ClaimsProvider></ClaimsProviders><UserJourneys><UserJourney Id=\"J\"><OrchestrationSteps>{steps}</OrchestrationSteps></UserJourney><UserJourney Id=\"J\"><OrchestrationSteps>{steps}</OrchestrationSteps></UserJourney></UserJourneys>"
        );
        tmp.write(&format!("chain/h{i}.xml"), policy(&format!("B2C_1A_H{i}"), &body));
    }
    // One element with 20,000 attributes in a base, and 20,000 others on it in an overlay.
    for (file, id, base) in [("base", "B2C_1A_AB", String::new()), ("over", "B2C_1A_AO", based_on("B2C_1A_AB"))] {
        let attributes: String = (0..20_000).map(|k| format!(r#" {}{k:05}="v""#, &file[..1])).collect();
        let body = format!(
            r#"{base}<BuildingBlocks><ClaimsSchema><ClaimType Id="c"{attributes}><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks>"#
        );
        tmp.write(&format!("attrs/{file}.xml"), policy(id, &body));
    }
    for (dir, codes) in [("chain", &["IEF107", "IEF106"][..]), ("attrs", &["IEF104"])] {
        let run = ief_in(tmp.path(), &["validate", dir, "--format", "json"]);
        assert_eq!(run.code, 1);
        let diags = json_diagnostics(&run);
        for &code in codes {
            assert!(diags.iter().any(|d| d["code"] == code), "{dir}: {code}");
        }
        assert!(diags.iter().all(|d| d["line"].as_u64() >= Some(1) && d["column"].as_u64() >= Some(1)), "{dir}");
        let merged = ief_in(tmp.path(), &["merge", dir]);
        assert_eq!(merged.code, 1, "{dir}: {}", merged.stderr);
    }
}

#[test]
fn symlinked_folders_load_each_file_once() {
    for (link, target) in [("loop", "."), ("sub/parent", "..")] {
        let tmp = Scratch::new("links");
        tmp.write("p/sub/claims.xml", valid_policy());
        std::os::unix::fs::symlink(target, tmp.path().join("p").join(link)).expect("symlink");
        let run = ief_in(tmp.path(), &["validate", "p"]);
        assert_eq!(run.code, 0, "{link} -> {target}: one file, no duplicate PolicyId: {}", run.stderr);
        assert!(run.stderr.contains("1 file(s) checked: 0 errors"), "{}", run.stderr);
    }
}

/// Minified policies are one line; diagnostics past column 65,535 panicked in miette (D2).
#[test]
fn single_line_policies_render_errors_at_any_column() {
    let tmp = Scratch::new("oneline");
    let base = std::fs::read_to_string(starter_pack("LocalAccounts").join("TrustFrameworkBase.xml")).expect("base");
    let base = base.trim_start_matches('\u{feff}');
    let minified: String = base.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    let near_end = minified.replace("</TrustFrameworkPolicy>", "<Bogus/></TrustFrameworkPolicy>");
    let far = policy("B2C_1A_l", &format!("<!--{}--><Bogus/>", "x".repeat(70_000)));
    for (name, text) in [("min.xml", near_end), ("far.xml", far)] {
        tmp.write(name, &text);
        let column = text[..text.find("<Bogus/>").expect("bogus")].chars().count() + 2;
        let run = ief_in(tmp.path(), &["validate", name]);
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains(&format!("{name}:1:{column}")) && run.stderr.contains("IEF101"), "{}", run.stderr);
        assert!(run.stderr.contains("<Bogus/>"), "the window shows the element");
        assert!(run.stderr.len() < 4_000, "{} bytes", run.stderr.len());
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Claims transformations

/// One ClaimsTransformation: inputs and outputs as (claim, slot), parameters as (id, type, value).
fn ct(
    id: &str,
    method: &str,
    inputs: &[(&str, &str)],
    params: &[(&str, &str, &str)],
    outputs: &[(&str, &str)],
) -> String {
    let list =
        |tag: &str, items: String| if items.is_empty() { String::new() } else { format!("<{tag}>{items}</{tag}>") };
    let claims = |items: &[(&str, &str)], tag: &str| -> String {
        items
            .iter()
            .map(|(c, s)| format!(r#"<{tag} ClaimTypeReferenceId="{c}" TransformationClaimType="{s}"/>"#))
            .collect()
    };
    let params: String =
        params.iter().map(|(n, t, v)| format!(r#"<InputParameter Id="{n}" DataType="{t}" Value="{v}"/>"#)).collect();
    format!(
        r#"<ClaimsTransformation Id="{id}" TransformationMethod="{method}">{}{}{}</ClaimsTransformation>"#,
        list("InputClaims", claims(inputs, "InputClaim")),
        list("InputParameters", params),
        list("OutputClaims", claims(outputs, "OutputClaim"))
    )
}

/// A BuildingBlocks-only policy with the claim types the transformations below use.
fn transforms_policy(transformations: &[String]) -> String {
    let types = [
        ("s", "string"),
        ("o", "string"),
        ("b", "boolean"),
        ("n", "int"),
        ("l", "long"),
        ("d1", "dateTime"),
        ("d2", "dateTime"),
        ("c", "stringCollection"),
    ];
    let schema: String =
        types.iter().map(|(id, t)| format!(r#"<ClaimType Id="{id}"><DataType>{t}</DataType></ClaimType>"#)).collect();
    policy(
        "B2C_1A_t",
        &format!(
            "<BuildingBlocks><ClaimsSchema>{schema}</ClaimsSchema><ClaimsTransformations>{}</ClaimsTransformations></BuildingBlocks>",
            transformations.concat()
        ),
    )
}

fn regex_match(pattern: &str) -> String {
    ct(
        "Regex",
        "SetClaimsIfRegexMatch",
        &[("s", "claimToMatch")],
        &[("matchTo", "string", pattern), ("outputClaimIfMatched", "string", "y")],
        &[("o", "outputClaim"), ("b", "regexCompareResultClaim")],
    )
}

#[test]
fn bad_transformation_parameters_are_refused_at_validate() {
    let tmp = Scratch::new("params");
    let format = |f: &str| {
        ct("T", "FormatStringClaim", &[("s", "inputClaim")], &[("stringFormat", "string", f)], &[("o", "outputClaim")])
    };
    let random = |p: (&str, &str, &str)| {
        ct("T", "CreateRandomString", &[], &[("randomGeneratorType", "string", "INTEGER"), p], &[("o", "outputClaim")])
    };
    let cases = [
        (
            regex_match(r"^(?=.*\d)(a+)+$"),
            "IEF704",
            "look-around, including look-ahead and look-behind, is not supported",
        ),
        (regex_match(r"(\w{1000}){1000}"), "IEF704", "Compiled regex exceeds size limit of 10485760 bytes"),
        (format("{999}"), "IEF704", "format item {999} has no argument"),
        (format("{99999999999999999999}"), "IEF704", "format item index or width is too large at position 0"),
        (format("{0,2000000000}"), "IEF704", "format item index or width is too large at position 0"),
        (format("x{0y}}{{"), "IEF704", "malformed format item at position 1"),
        (random(("stringFormat", "string", "{999}")), "IEF704", "format item {999} has no argument"),
        (random(("maximumNumber", "int", "-2147483648")), "IEF704", "must not be negative, found -2147483648"),
        (
            ct(
                "T",
                "StringReplace",
                &[("s", "inputClaim")],
                &[("oldValue", "string", ""), ("newValue", "string", "x")],
                &[("o", "outputClaim")],
            ),
            "IEF704",
            "'oldValue' of ClaimsTransformation \"T\": must not be empty",
        ),
        (
            ct("T", "StringSplit", &[("s", "inputClaim")], &[("delimiter", "string", "")], &[("c", "outputClaim")]),
            "IEF704",
            "'delimiter' of ClaimsTransformation \"T\": must not be empty",
        ),
        (
            ct(
                "T",
                "StringSubstring",
                &[("s", "inputClaim")],
                &[("startIndex", "int", "-1"), ("length", "int", "1")],
                &[("o", "outputClaim")],
            ),
            "IEF704",
            "must not be negative, found -1",
        ),
        (
            ct("T", "GenerateJson", &[("s", "a.4294967295")], &[], &[("o", "outputClaim")]),
            "IEF702",
            "skips to array index 4294967295",
        ),
    ];
    for (transformation, code, message) in cases {
        tmp.write("p.xml", transforms_policy(&[transformation]));
        let run = ief_in(tmp.path(), &["validate", "p.xml", "--format", "json"]);
        assert_eq!(run.code, 1, "{message}");
        let diags = json_diagnostics(&run);
        assert!(
            diags.iter().any(|d| d["code"] == code && d["message"].as_str().is_some_and(|m| m.contains(message))),
            "{code} {message}: {diags:?}"
        );
    }
}

/// `ief transform run` of one transformation of `policy` on `input` (JSON), clock pinned.
fn transform(tmp: &Scratch, id: &str, input: &str) -> Run {
    ief_in(tmp.path(), &["transform", "run", "p.xml", "--id", id, "--input", input, "--now", "2024-05-01T12:00:00Z"])
}

fn transform_output(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
}

#[test]
fn transformations_on_hostile_values_end_in_a_result_or_their_error() {
    let tmp = Scratch::new("transform");
    let json_get = |id: &str, method: &str, out: &str| {
        ct(id, method, &[("s", "inputJson")], &[("claimToExtract", "string", "v")], &[(out, "extractedClaim")])
    };
    let compare = |id: &str, span: &str| {
        ct(
            id,
            "DateTimeComparison",
            &[("d1", "firstDateTime"), ("d2", "secondDateTime")],
            &[("operator", "string", "later than"), ("timeSpanInSeconds", "int", span)],
            &[("b", "result")],
        )
    };
    tmp.write(
        "p.xml",
        transforms_policy(&[
            regex_match("^(a+)+$"),
            ct(
                "Sub",
                "StringSubstring",
                &[("s", "inputClaim")],
                &[("startIndex", "int", "2147483647"), ("length", "int", "1")],
                &[("o", "outputClaim")],
            ),
            ct(
                "Inc",
                "AdjustNumber",
                &[("n", "inputClaim")],
                &[("Operator", "string", "INCREMENT")],
                &[("n", "outputClaim")],
            ),
            ct(
                "Dec",
                "AdjustNumber",
                &[("n", "inputClaim")],
                &[("Operator", "string", "DECREMENT")],
                &[("n", "outputClaim")],
            ),
            json_get("Num", "GetNumericClaimFromJson", "l"),
            json_get("Get", "GetClaimFromJson", "o"),
            compare("Later", "2147483647"),
            compare("Earlier", "-2147483648"),
            ct("Xml", "XmlStringToJsonString", &[("s", "xml")], &[], &[("o", "json")]),
        ]),
    );
    // A catastrophic pattern for a backtracking engine: linear here.
    let run = transform(&tmp, "Regex", &format!(r#"{{"s":"{}!"}}"#, "a".repeat(100_000)));
    assert_eq!((run.code, transform_output(&run)["output_claims"]["b"].as_bool()), (0, Some(false)));
    let json_claim = |text: &str| serde_json::json!({ "s": text }).to_string();
    let nested = |n: usize| format!(r#"{{"v":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    let failures = [
        (
            "Sub",
            r#"{"s":"abc"}"#.to_owned(),
            "Failed",
            "startIndex 2147483647 and length 1 must refer to a location within the string",
        ),
        ("Inc", r#"{"n":2147483647}"#.to_owned(), "Failed", "adjusting 2147483647 by 1 overflows an int"),
        ("Dec", r#"{"n":-2147483648}"#.to_owned(), "Failed", "adjusting -2147483648 by -1 overflows an int"),
        ("Num", json_claim(r#"{"v":1e99999}"#), "InvalidValue", "number out of range"),
        ("Num", json_claim(r#"{"v":123456789012345678901234567890}"#), "InvalidValue", "is not a 64-bit integer"),
        ("Get", json_claim(&nested(60_000)), "InvalidValue", "inputJson is nested more than 64 levels deep"),
        (
            "Later",
            r#"{"d1":"+262142-12-31T00:00:00Z","d2":"2020-01-01T00:00:00Z"}"#.to_owned(),
            "Failed",
            "firstDateTime plus timeSpanInSeconds is out of range",
        ),
        (
            "Xml",
            json_claim(r#"<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#),
            "InvalidValue",
            "unknown entity &x;",
        ),
        (
            "Xml",
            json_claim(&format!("{}{}", "<a>".repeat(18_000), "</a>".repeat(18_000))),
            "InvalidValue",
            "elements are nested more than 64 levels deep",
        ),
    ];
    for (id, input, code, message) in failures {
        let run = transform(&tmp, id, &input);
        let error = &transform_output(&run)["error"];
        assert_eq!(run.code, 1, "{id}: {}", run.stdout);
        assert_eq!(error["code"], code, "{id}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| m.contains(message)), "{id}: {error}");
    }
    let results = [
        ("Get", json_claim(r#"{"v":"first","v":"second"}"#), serde_json::json!({"o": "second"})),
        (
            "Later",
            r#"{"d1":"9999-12-31T23:59:59Z","d2":"0001-01-01T00:00:00Z"}"#.to_owned(),
            serde_json::json!({"b": true}),
        ),
        (
            "Earlier",
            r#"{"d1":"0001-01-01T00:00:00Z","d2":"9999-12-31T00:00:00Z"}"#.to_owned(),
            serde_json::json!({"b": false}),
        ),
        // Beyond .NET's 0001–9999 (docs/compatibility.md), but read.
        (
            "Later",
            r#"{"d1":"-0001-01-01T00:00:00Z","d2":"+262142-12-31T00:00:00Z"}"#.to_owned(),
            serde_json::json!({"b": false}),
        ),
        ("Xml", json_claim("<!DOCTYPE x><a>1</a>"), serde_json::json!({"o": r#"{"a":"1"}"#})),
    ];
    for (id, input, expected) in results {
        let run = transform(&tmp, id, &input);
        assert_eq!((run.code, &transform_output(&run)["output_claims"]), (0, &expected), "{id} {input}");
    }
    // Bad command-line input: exit 2 with the reason.
    let usage = [
        (vec!["--input", r#"{"d1":"10000-01-01T00:00:00Z","d2":"2020-01-01T00:00:00Z"}"#], "is not a valid dateTime"),
        (vec!["--now", "262143-01-01T00:00:00Z"], "is not ISO 8601"),
        (vec!["--now", "2023-02-30T00:00:00Z"], "is not ISO 8601"),
    ];
    for (extra, message) in usage {
        let mut args = vec!["transform", "run", "p.xml", "--id", "Later"];
        if extra[0] == "--now" {
            args.extend(["--input", r#"{"d1":"2020-01-01T00:00:00Z","d2":"2020-01-01T00:00:00Z"}"#]);
        }
        args.extend(extra);
        let run = ief_in(tmp.path(), &args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(message), "{}", run.stderr);
    }
    let deep_input = format!(r#"{{"s":{}{}}}"#, "[".repeat(20_000), "]".repeat(20_000));
    let run = ief_in(tmp.path(), &["transform", "run", "p.xml", "--id", "Get", "--input", &deep_input]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--input is not JSON: recursion limit exceeded"), "{}", run.stderr);
}

/// The demo policy, its settings and a scenario in a scratch folder; `edit` changes the policy.
fn demo_with(tmp: &Scratch, edit: impl Fn(String) -> String, scenario: &str) {
    let demo = workspace().join("policies/demo");
    let policy = std::fs::read_to_string(demo.join("DemoSignUp.xml")).expect("demo policy");
    tmp.write("DemoSignUp.xml", edit(policy));
    tmp.write("appsettings.json", std::fs::read(demo.join("appsettings.json")).expect("settings"));
    tmp.write("s.yaml", scenario);
}

/// D6: a partner's 100,000 nested XML elements overflowed the stack in XmlStringToJsonString.
#[test]
fn deep_xml_from_a_rest_response_ends_in_the_methods_error() {
    let tmp = Scratch::new("rest-xml");
    let edit = |text: String| {
        let text = text.replacen(
            r#"<ClaimType Id="tier">"#,
            r#"<ClaimType Id="xmlBlob"><DataType>string</DataType></ClaimType><ClaimType Id="blobJson"><DataType>string</DataType></ClaimType><ClaimType Id="tier">"#,
            1,
        );
        let rest = text.find(r#"<TechnicalProfile Id="REST-LookUpLoyalty">"#).expect("the REST profile");
        let end = rest + text[rest..].find("</OutputClaims>").expect("its output claims");
        let text = format!(
            "{}{}{}",
            &text[..end],
            r#"<OutputClaim ClaimTypeReferenceId="xmlBlob" PartnerClaimType="blob"/></OutputClaims><OutputClaimsTransformations><OutputClaimsTransformation ReferenceId="BlobToJson"/></OutputClaimsTransformations>"#,
            &text[end + "</OutputClaims>".len()..]
        );
        text.replacen(
            "<ClaimsTransformations>",
            &format!(
                "<ClaimsTransformations>{}",
                ct("BlobToJson", "XmlStringToJsonString", &[("xmlBlob", "xml")], &[], &[("blobJson", "json")])
            ),
            1,
        )
    };
    let n = 100_000;
    let scenario = format!(
        "policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /loyalty\n    body: {{number: L-1042, tier: gold, blob: \"{}{}\"}}\nsteps:\n  - submit:\n      email: grace@contoso.com\n      displayName: Grace\n",
        "<a>".repeat(n),
        "</a>".repeat(n)
    );
    demo_with(&tmp, edit, &scenario);
    let run = ief_in(tmp.path(), &["run", "./s.yaml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#"showing "xml is not well-formed XML: elements are nested more than 64 levels deep""#),
        "{}",
        run.stderr
    );
}

/// A Pattern that forces fancy_regex to backtrack: bounded by its backtrack limit.
#[test]
fn a_backtracking_pattern_on_a_self_asserted_page_is_bounded() {
    let tmp = Scratch::new("pattern");
    let edit = |text: String| {
        text.replacen(
            "<DataType>string</DataType><UserInputType>TextBox</UserInputType></ClaimType>",
            r#"<DataType>string</DataType><UserInputType>TextBox</UserInputType><Restriction><Pattern RegularExpression="^((?=a)a+)+@x$" HelpText="bad"/></Restriction></ClaimType>"#,
            1,
        )
    };
    for n in [20, 5_000] {
        let scenario = format!(
            "policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /loyalty\n    body: {{number: L-1042, tier: gold}}\nsteps:\n  - submit:\n      email: grace@contoso.com\n      displayName: {}!\n",
            "a".repeat(n)
        );
        demo_with(&tmp, edit, &scenario);
        let run = ief_in(tmp.path(), &["run", "./s.yaml"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(r#"showing "displayName: bad""#), "{}", run.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Secrets in output

/// The values a scenario gives password fields (`password: X`, `newPassword: X`, inline maps too).
fn scenario_passwords(yaml: &str) -> Vec<String> {
    yaml.split(['\n', ',', '{'])
        .filter_map(|part| {
            let (key, value) = part.split_once(':')?;
            let value = value.trim().trim_end_matches('}').trim();
            (key.trim().to_ascii_lowercase().ends_with("password") && value.len() > 3).then(|| value.to_owned())
        })
        .collect()
}

/// What must never appear in output: key material, hashes, provider secrets, raw tokens.
fn assert_no_secrets(what: &str, output: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!output.contains(secret.as_str()), "{what}: {secret:?} appears in the output");
    }
    // A JWT's header starts {"alg", {"typ" or {"kid": eyJhbGci, eyJ0eXAi, eyJraWQi in base64url.
    for marker in ["CANARY", "PRIVATE KEY", "BEGIN ", "$argon2", "client_secret=", "eyJhbGci", "eyJ0eXAi", "eyJraWQi"] {
        assert!(!output.contains(marker), "{what}: {marker:?} appears in the output");
    }
    // Provider tokens are only ever named, never shown.
    for token in ["access_token", "refresh_token", "oauth_token"] {
        for (at, _) in output.match_indices(token) {
            let after = &output[at + token.len()..];
            let shown = after.starts_with("=") || after.starts_with("\": \"") || after.starts_with(": '");
            assert!(
                !shown || after.contains("[redacted]") && after.find("[redacted]") < Some(8),
                "{what}: {token}{}",
                &after[..after.len().min(40)]
            );
        }
    }
}

/// Keys for the sample scenarios: `ief keys init`, with canaries as the providers' secrets.
fn canary_keys(tmp: &Scratch) -> PathBuf {
    let keys = tmp.path().join("keys");
    assert_eq!(ief_in(tmp.path(), &["keys", "init", "keys"]).code, 0);
    for name in ["B2C_1A_FacebookSecret", "B2C_1A_GitHubSecret", "B2C_1A_TwitterSecret", "B2C_1A_SomeOtherSecret"] {
        tmp.write(&format!("keys/{name}.txt"), format!("CANARY-{name}"));
    }
    keys
}

#[test]
fn traces_of_every_sample_scenario_keep_secrets_out() {
    let tmp = Scratch::new("secrets");
    let keys = canary_keys(&tmp);
    let pem = std::fs::read_to_string(keys.join("B2C_1A_TokenSigningKeyContainer.pem")).expect("signing key");
    let key_body: String = pem.lines().nth(3).expect("a line of key material").to_owned();
    let mut runs = 0;
    for folder in ["federation", "demo", "social", "scenarios/starterpack"] {
        let mut scenarios: Vec<PathBuf> = std::fs::read_dir(workspace().join("policies").join(folder))
            .expect("scenario folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        scenarios.sort();
        for scenario in scenarios {
            let yaml = std::fs::read_to_string(&scenario).expect("scenario");
            let name = scenario.file_stem().expect("name").to_string_lossy().into_owned();
            // (local-wrong-password types the password "wrong-password": its name is no leak.)
            let mut secrets: Vec<String> =
                scenario_passwords(&yaml).into_iter().filter(|s| !name.contains(s)).collect();
            secrets.push(key_body.clone());
            for format in ["text", "json"] {
                // The directory persists: one per run, so sign-ups start afresh.
                let database = tmp.path().join(format!("{name}-{format}.sqlite"));
                let mut args = vec![
                    "run",
                    scenario.to_str().expect("path"),
                    "--trace",
                    "--format",
                    format,
                    "--directory",
                    database.to_str().expect("path"),
                ];
                // Federation needs keys of its own: generated ones (no keys/ where it runs).
                let cwd = if folder == "federation" { tmp.path().join("no-keys") } else { tmp.path().to_owned() };
                std::fs::create_dir_all(&cwd).expect("folder");
                if folder != "federation" {
                    args.extend(["--keys", keys.to_str().expect("path")]);
                }
                let run = ief_in(&cwd, &args);
                assert_eq!(run.code, 0, "{name} ({format}): {}", run.stderr);
                assert_no_secrets(&format!("{name} ({format})"), &format!("{}{}", run.stdout, run.stderr), &secrets);
                runs += 1;
                // The directory keeps Argon2id hashes, never a password.
                if let Ok(bytes) = std::fs::read(&database) {
                    let text = String::from_utf8_lossy(&bytes);
                    for secret in scenario_passwords(&yaml) {
                        assert!(!text.contains(&secret), "{name}: the directory holds {secret:?}");
                    }
                }
            }
        }
    }
    assert!(runs >= 34, "only {runs} runs");
}

#[test]
fn rest_basic_credentials_stay_out_of_output_on_success_and_refusal() {
    let tmp = Scratch::new("basic");
    let keys = canary_keys(&tmp);
    tmp.write("keys/B2C_1A_RestApiUsername.txt", "CANARY-user");
    tmp.write("keys/B2C_1A_RestApiPassword.txt", "CANARY-password");
    let edit = |text: String| {
        text.replacen(r#"<Item Key="AuthenticationType">None</Item>"#, r#"<Item Key="AuthenticationType">Basic</Item>"#, 1)
            .replacen(
                "</Metadata>\n          <InputClaims>\n            <InputClaim ClaimTypeReferenceId=\"email\" PartnerClaimType=\"emailAddress\" />",
                "</Metadata>\n          <CryptographicKeys><Key Id=\"BasicAuthenticationUsername\" StorageReferenceId=\"B2C_1A_RestApiUsername\" /><Key Id=\"BasicAuthenticationPassword\" StorageReferenceId=\"B2C_1A_RestApiPassword\" /></CryptographicKeys>\n          <InputClaims>\n            <InputClaim ClaimTypeReferenceId=\"email\" PartnerClaimType=\"emailAddress\" />",
                1,
            )
    };
    // 401: the page shows the REST error and the scenario has no answer left.
    for (status, expected) in [(200, 0), (401, 2)] {
        let scenario = format!(
            "policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /loyalty\n    status: {status}\n    body: {{number: L-1042, tier: gold}}\nsteps:\n  - submit:\n      email: grace@contoso.com\n      displayName: Grace\n"
        );
        demo_with(&tmp, edit, &scenario);
        let policy = std::fs::read_to_string(tmp.path().join("DemoSignUp.xml")).expect("policy");
        assert!(policy.contains("B2C_1A_RestApiPassword") && policy.contains(">Basic<"), "the edit applies");
        let run = ief_in(tmp.path(), &["run", "./s.yaml", "--trace", "--keys", keys.to_str().expect("path")]);
        assert_eq!(run.code, expected, "status {status}: {}", run.stderr);
        assert_no_secrets(&format!("status {status}"), &format!("{}{}", run.stdout, run.stderr), &[]);
    }
}

#[test]
fn settings_values_are_masked_where_diagnostics_quote_the_file() {
    let tmp = Scratch::new("settings");
    tmp.write("p.xml", valid_policy());
    tmp.write(
        "appsettings.json",
        r#"{"Environments": [{"Name": "Local", "Tenant": "contoso.onmicrosoft.com", "PolicySettings": {"ApiSecret": "CANARY-setting"}}]}"#,
    );
    for format in ["text", "json"] {
        let run = ief_in(tmp.path(), &["validate", ".", "--env", "Local", "--format", format]);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains("IEF302") && all.contains("ApiSecret"), "the unused setting is reported: {all}");
        assert!(!all.contains("CANARY"), "{all}");
    }
}

#[test]
fn test_provider_secrets_and_keys_are_written_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = Scratch::new("idp-out");
    let run = ief_in(tmp.path(), &["idp", "serve", "--out", "out", "--for", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut files = 0;
    for entry in std::fs::read_dir(tmp.path().join("out")).expect("out folder") {
        let path = entry.expect("entry").path();
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is readable by others ({mode:o})", path.display());
        if path.extension().is_some_and(|e| e == "txt") {
            let secret = std::fs::read_to_string(&path).expect("secret");
            assert!(!run.stdout.contains(secret.trim()), "{} is printed", path.display());
        }
        files += 1;
    }
    assert!(files >= 2, "ca.pem and the client's secrets");
}
