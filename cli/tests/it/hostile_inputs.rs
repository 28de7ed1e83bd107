//! The robustness probe's hostile folders, scenarios, keys and provider requests, kept as tests
//! (report sections 2, 3 and 6, and the folder rows of section 1). Every input is generated
//! here; each case asserts the clear error, the exit code, and that `ief` ends within
//! [`TIME_LIMIT`] under a [`MEMORY_LIMIT_KB`] address-space limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::workspace;

/// Far above what any of these inputs needs, so a noisy machine passes; a hang or a
/// quadratic blow-up does not.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// 2 GiB of address space: the probe's runaway reads and allocations went far past it.
const MEMORY_LIMIT_KB: u64 = 2 * 1024 * 1024;

/// A fresh folder under the system temp dir, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("ief-hostile-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// The starter pack's local-account files, copied into `name/`.
    fn starter_pack(&self, name: &str) -> PathBuf {
        let from = workspace().join("../shared/policies/starterpack/LocalAccounts");
        let to = self.path(name);
        std::fs::create_dir_all(&to).expect("folder");
        for entry in std::fs::read_dir(&from).expect("the starter pack in ../shared/policies").flatten() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
        to
    }

    /// The demo policy and its settings, copied into `name/`.
    fn demo(&self, name: &str) -> PathBuf {
        let to = self.path(name);
        std::fs::create_dir_all(&to).expect("folder");
        for file in ["DemoSignUp.xml", "appsettings.json", "sign-up-gold-member.yaml"] {
            std::fs::copy(workspace().join("policies/demo").join(file), to.join(file)).expect("copy");
        }
        to
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a bounded `ief` run did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts the exit code and that standard error holds `message`; returns standard error.
    fn fails_with(&self, code: i32, message: &str) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stderr.contains(message), "expected {message:?} in:\n{}", self.stderr);
        self.no_panic();
        &self.stderr
    }

    fn no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// How `ief` is started: arguments, folder, and what happens to its output pipes.
struct Ief<'a> {
    args: Vec<String>,
    cwd: &'a Path,
    close_stdout: bool,
    close_stderr: bool,
    /// The temp folder ief sees (`TMPDIR`).
    temp: Option<&'a Path>,
}

fn ief_in<'a>(cwd: &'a Path, args: &[&str]) -> Ief<'a> {
    Ief {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        cwd,
        close_stdout: false,
        close_stderr: false,
        temp: None,
    }
}

impl Ief<'_> {
    /// Starts `ief` under the address-space limit (`exec`, so the PID is ief's).
    fn spawn(&self) -> std::process::Child {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -v {MEMORY_LIMIT_KB} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_ief"))
            .args(&self.args)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(temp) = self.temp {
            command.env("TMPDIR", temp);
        }
        command.spawn().expect("ief runs")
    }

    /// Runs to the end; kills the process (by its PID) past [`TIME_LIMIT`].
    fn run(&self) -> Run {
        let started = Instant::now();
        let mut child = self.spawn();
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        // A closed pipe: the reading end goes away before ief writes anything.
        let out = (!self.close_stdout).then(|| std::thread::spawn(move || read_all(&mut stdout)));
        let err = (!self.close_stderr).then(|| std::thread::spawn(move || read_all(&mut stderr)));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > TIME_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ief {} ran longer than {TIME_LIMIT:?}", self.args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let join =
            |h: Option<std::thread::JoinHandle<String>>| h.map_or_else(String::new, |h| h.join().unwrap_or_default());
        Run { code: status.code(), stdout: join(out), stderr: join(err) }
    }
}

fn read_all(pipe: &mut impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

// ---- Folders: symlink loops, FIFOs, devices (D4, D5) ----

#[cfg(unix)]
#[test]
fn folder_with_two_symlink_loops_is_walked_once() {
    let s = Scratch::new("loops");
    let pack = s.starter_pack("p");
    std::os::unix::fs::symlink(".", pack.join("a")).expect("symlink");
    std::os::unix::fs::symlink(".", pack.join("b")).expect("symlink");
    std::os::unix::fs::symlink("..", pack.join("parent")).expect("symlink");
    let run = ief_in(&s.0, &["validate", "p"]).run();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("6 file(s) checked: 0 errors"), "{}", run.stderr);
    // `ief test` walks for scenarios the same way.
    s.write("p/none.txt", "");
    let run = ief_in(&s.0, &["test", "p"]).run();
    run.fails_with(2, "no scenario files (*.yaml) under p");
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_in_a_policy_folder_are_skipped() {
    let s = Scratch::new("fifo");
    let pack = s.starter_pack("p");
    mkfifo(&pack.join("pol.xml"));
    std::os::unix::fs::symlink("/dev/zero", pack.join("zero.xml")).expect("symlink");
    let run = ief_in(&s.0, &["validate", "p"]).run();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("6 file(s) checked: 0 errors"), "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn an_endless_device_given_as_the_file_is_read_up_to_the_limit() {
    let s = Scratch::new("zero");
    let run = ief_in(&s.0, &["validate", "/dev/zero"]).run();
    run.fails_with(1, "IEF002");
    let run = ief_in(&s.0, &["validate", "/dev/null"]).run();
    run.fails_with(1, "the file has no root element");
}

// ---- Closed pipes (D12) ----

#[test]
fn a_closed_output_pipe_ends_ief_quietly() {
    let s = Scratch::new("pipe");
    let pack = s.starter_pack("p");
    let pack = path_str(&pack);
    let merge = ["merge", pack, "--policy", "B2C_1A_signup_signin"];
    for args in [&merge[..], &["transform", "list"][..]] {
        let mut ief = ief_in(&s.0, args);
        ief.close_stdout = true;
        let run = ief.run();
        assert_eq!(run.code, Some(0), "{args:?}: {run:#?}");
        run.no_panic();
        assert!(run.stderr.is_empty(), "{args:?}: {}", run.stderr);
    }
    // Diagnostics go to standard error: `ief validate … 2>&1 | head -1`.
    s.write("bad.xml", "<TrustFrameworkPolicy");
    let mut ief = ief_in(&s.0, &["validate", "bad.xml"]);
    ief.close_stderr = true;
    let run = ief.run();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

// ---- Scenario YAML (report section 2) ----

/// The demo folder with one scenario `t.yaml`; `ief run ./t.yaml` there.
fn run_scenario(s: &Scratch, yaml: &str) -> Run {
    let demo = s.demo("demo");
    std::fs::write(demo.join("t.yaml"), yaml).expect("scenario");
    ief_in(&demo, &["run", "./t.yaml", "--directory", "d.sqlite"]).run()
}

/// The demo's sign-up answers, so a scenario with a stub reaches the REST call.
const SIGN_UP: &str = "steps:\n  - submit: {email: a@contoso.com, displayName: A}\n";

fn loyalty_stub(body: &str) -> String {
    format!("policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /loyalty\n    body: {body}\n{SIGN_UP}")
}

/// An alias bomb: each level repeats the previous one ten times.
fn alias_bomb(levels: usize, indent: &str) -> String {
    let mut text = format!("{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..levels {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("{indent}a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn scenario_yaml_errors_are_clear_and_positioned() {
    let s = Scratch::new("yaml");
    let deep_lists = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_maps = format!("{}1{}", "{a: ".repeat(20_000), "}".repeat(20_000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("alias bomb at top level", alias_bomb(9, ""), "unknown field `a0`"),
        (
            "alias bomb in a stub body",
            format!("policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /x\n    body:\n{}", alias_bomb(9, "      ")),
            "repetition limit exceeded",
        ),
        // D9: the scanner's cost grew with the square of the depth (46 s for 100,000).
        ("100,000 nested [", loyalty_stub(&deep_lists), "nest deeper than 64 levels at line 4 column 75"),
        ("20,000 nested {a:", loyalty_stub(&deep_maps), "nest deeper than 64 levels at line 4 column"),
        (
            "status beyond u16",
            "policy: DemoSignUp.xml\nhttp_stubs:\n  - path: /x\n    status: 99999999999999999999999\n    body: {}\n"
                .to_owned(),
            "expected u16",
        ),
        ("30-digit integer in a body", loyalty_stub("{n: 123456789012345678901234567890}"), "invalid type: integer"),
        (
            "policy is a list",
            "policy: [x]\n".to_owned(),
            "policy: invalid type: sequence, expected path string at line 1 column 9",
        ),
        (
            "submit is a list",
            "policy: DemoSignUp.xml\nsteps:\n  - submit: [1, 2]\n".to_owned(),
            "steps[0].submit: invalid type: sequence, expected a map at line 3 column 13",
        ),
        (
            "a field value is a list",
            "policy: DemoSignUp.xml\nsteps:\n  - submit: {displayName: [a, b]}\n".to_owned(),
            "invalid type: sequence, expected a string at line 3 column 27",
        ),
        ("unknown top-level key", "polcy: x\n".to_owned(), "unknown field `polcy`, expected one of `policy`"),
        (
            "unknown key in request",
            "policy: DemoSignUp.xml\nrequest: {colour: y}\n".to_owned(),
            "request: unknown field `colour`, expected one of",
        ),
        ("duplicate key", "policy: a.xml\npolicy: b.xml\n".to_owned(), "duplicate field `policy`"),
        ("empty file", String::new(), "missing field `policy`"),
        ("NUL byte", "policy: \0x\n".to_owned(), "control characters are not allowed"),
        ("!!binary tag", "policy: !!binary aGVsbG8=\n".to_owned(), "aGVsbG8=: No such file or directory"),
    ];
    for (name, yaml, message) in &cases {
        let run = run_scenario(&s, yaml);
        assert_eq!(run.code, Some(2), "{name}: {run:#?}");
        assert!(run.stderr.contains(message), "{name}: expected {message:?} in:\n{}", run.stderr);
        run.no_panic();
    }
    let demo = s.path("demo");
    std::fs::write(demo.join("t.yaml"), b"policy: \xff\n").expect("scenario");
    ief_in(&demo, &["run", "./t.yaml"]).run().fails_with(2, "./t.yaml: the file is not valid UTF-8");
}

#[test]
fn odd_but_valid_stub_bodies_run() {
    let s = Scratch::new("bodies");
    let run = run_scenario(&s, &loyalty_stub("{n: 1e999999, tier: .nan, number: L-1}"));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("outcome: token"), "{}", run.stdout);
}

#[test]
fn scenario_files_are_bounded_in_size() {
    let s = Scratch::new("big");
    let big = format!("policy: DemoSignUp.xml\n{}", "# padding\n".repeat(110_000));
    run_scenario(&s, &big).fails_with(2, "./t.yaml: the file has 1100023 bytes; ief reads at most 1048576");
}

#[cfg(unix)]
#[test]
fn a_scenario_policy_path_never_walks_the_machine() {
    let s = Scratch::new("paths");
    // D4: these walked / or /proc/self recursively and hung.
    for (policy, message) in [
        ("/nonexistent.xml", "/nonexistent.xml: No such file or directory"),
        ("/proc/self/environ", "/proc/self/environ: not a policy file (policies are *.xml files)"),
        ("/etc/passwd", "/etc/passwd: not a policy file"),
        ("../../../../../../../../etc/passwd", "etc/passwd: not a policy file"),
    ] {
        let run = run_scenario(&s, &format!("policy: {policy}\n"));
        run.fails_with(2, message);
        assert!(!run.stderr.contains("root:"), "passwd content is never printed: {}", run.stderr);
    }
    // A policy in a system folder: its folder would be searched for bases.
    let shm = Path::new("/dev/shm");
    assert!(shm.is_dir(), "this test puts a policy under /dev/shm");
    let xml = shm.join(format!("ief-hostile-{}.xml", std::process::id()));
    std::fs::write(&xml, "<TrustFrameworkPolicy/>").expect("policy in /dev/shm");
    let run = run_scenario(&s, &format!("policy: {}\n", xml.display()));
    let _ = std::fs::remove_file(&xml);
    run.fails_with(2, "refusing to search /dev/shm (/dev is a system folder, not files of yours)");
}

#[test]
fn a_broken_xml_file_beside_the_policy_is_reported() {
    let s = Scratch::new("vscode");
    s.demo("demo");
    s.write("demo/.vscode/settings.xml", "<x");
    let run = ief_in(&s.path("demo"), &["run", "./sign-up-gold-member.yaml", "--directory", "d.sqlite"]).run();
    run.fails_with(2, "the policy has errors:\n./.vscode/settings.xml:1:1: error[IEF003]");
}

#[test]
fn trusted_roots_that_are_not_certificates_are_refused() {
    let s = Scratch::new("roots");
    s.write("demo/bad.pem", "-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----\n");
    s.write("demo/empty.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    let with_roots = |roots: &str| format!("trusted_roots: [{roots}]\n{}", loyalty_stub("{tier: gold}"));
    run_scenario(&s, &with_roots("/etc/passwd")).fails_with(2, "/etc/passwd: a trusted root is not a PEM certificate");
    run_scenario(&s, &with_roots(".")).fails_with(2, "a trusted root: Is a directory");
    run_scenario(&s, &with_roots("/dev/zero")).fails_with(2, "a trusted root: the file has more than 1048576 bytes");
    run_scenario(&s, &with_roots("bad.pem"))
        .fails_with(2, "a trusted root is not a PEM certificate (invalid certificate encoding)");
    run_scenario(&s, &with_roots("empty.pem")).fails_with(2, "invalid peer certificate: BadEncoding");
    // A FIFO named by the scenario would wait for a writer for ever.
    #[cfg(unix)]
    {
        mkfifo(&s.path("demo/fifo.pem"));
        run_scenario(&s, &with_roots("fifo.pem")).fails_with(2, "a trusted root: not a file but a FIFO or socket");
    }
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().expect("mkfifo").success());
}

#[cfg(unix)]
#[test]
fn ief_test_refuses_a_fifo_snapshot() {
    let s = Scratch::new("snap");
    s.demo("demo");
    mkfifo(&s.path("demo/sign-up-gold-member.snap"));
    let run = ief_in(&s.0, &["test", "demo"]).run();
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("sign-up-gold-member.snap: not a file but a FIFO or socket"), "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "0 passed, 1 failed");
}

#[test]
fn run_takes_a_bare_scenario_file_name() {
    // D8: `Path::new("x.yaml").parent()` is "", which named no folder.
    let s = Scratch::new("bare");
    let demo = s.demo("demo");
    let run = ief_in(&demo, &["run", "sign-up-gold-member.yaml", "--directory", "d.sqlite"]).run();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("outcome: token"), "{}", run.stdout);
}

#[test]
fn the_directory_file_is_private_and_never_another_programs() {
    let s = Scratch::new("directory");
    let demo = s.demo("demo");
    let gold = |directory: &str| ief_in(&demo, &["run", "sign-up-gold-member.yaml", "--directory", directory]).run();
    let run = gold(".ief/directory.sqlite");
    assert_eq!(run.code, Some(0), "{run:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| std::fs::metadata(demo.join(p)).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(".ief/directory.sqlite"), 0o600);
        assert_eq!(mode(".ief"), 0o700);
    }
    std::fs::write(demo.join("notes.txt"), "hello\n").expect("notes");
    gold("notes.txt").fails_with(2, "file is not a database");
    assert_eq!(std::fs::read_to_string(demo.join("notes.txt")).expect("notes"), "hello\n");
    // An SQLite file of another program (made here with ief's own directory, marked otherwise).
    let other = demo.join("other.db");
    std::fs::copy(demo.join(".ief/directory.sqlite"), &other).expect("copy");
    let mut bytes = std::fs::read(&other).expect("db");
    bytes[68..72].copy_from_slice(&7u32.to_be_bytes()); // the header's application_id
    std::fs::write(&other, &bytes).expect("db");
    gold("other.db").fails_with(2, "other.db is an SQLite database, but not an ief directory (application_id 0x7)");
    assert_eq!(std::fs::read(&other).expect("db"), bytes, "the other database is unchanged");
}

// ---- Keys (report section 3) ----

/// Files and folders in `dir`, by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn generated_keys_never_touch_the_disk_even_on_ctrl_c() {
    // D11: keys generated for a run sat in $TMPDIR/ief-keys-*/ and survived Ctrl-C and aborts.
    let s = Scratch::new("ctrl-c");
    let demo = s.demo("demo");
    let temp = s.path("tmp");
    std::fs::create_dir_all(&temp).expect("temp");
    // A REST service that accepts the call and never answers, so the run waits in it.
    let service = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    service.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", service.local_addr().expect("address"));
    std::fs::write(
        demo.join("t.yaml"),
        format!("policy: DemoSignUp.xml\nsettings: {{IefStubUrl: \"{url}\"}}\n{SIGN_UP}"),
    )
    .expect("scenario");
    let mut ief = ief_in(&demo, &["run", "./t.yaml", "--directory", "d.sqlite"]);
    ief.temp = Some(&temp);
    let mut child = ief.spawn();
    let deadline = Instant::now() + TIME_LIMIT;
    let _held = loop {
        match service.accept() {
            Ok((connection, _)) => break connection,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        if Instant::now() > deadline || child.try_wait().expect("wait").is_some() {
            let _ = child.kill();
            panic!("ief never called the REST service: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(listing(&temp), Vec::<String>::new(), "keys written to the temp folder mid-run");
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(interrupted.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ief ignored SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    assert_eq!(listing(&temp), Vec::<String>::new(), "keys left in the temp folder after Ctrl-C");
    assert!(!demo.join("keys").exists());
}

const SIGNING: &str = "kk/B2C_1A_TokenSigningKeyContainer.pem";

/// `openssl ARGS` in `dir`, for key kinds ief never makes (EC, Ed25519, RSA 1024).
fn openssl(dir: &Path, args: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl {args}"))
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("these tests need the openssl command");
    assert!(status.success(), "openssl {args}");
}

/// The demo with a fresh `kk/` from `ief keys init`, changed by `change`, run with `--keys kk`.
fn run_with_keys(s: &Scratch, change: &dyn Fn(&Path)) -> Run {
    let demo = s.demo("demo");
    let _ = std::fs::remove_dir_all(demo.join("kk"));
    assert_eq!(ief_in(&demo, &["keys", "init", "kk"]).run().code, Some(0));
    change(&demo);
    ief_in(&demo, &["run", "sign-up-gold-member.yaml", "--keys", "kk", "--directory", "d.sqlite"]).run()
}

#[cfg(unix)]
#[test]
fn bad_key_files_are_named_and_never_echoed() {
    let s = Scratch::new("keys");
    let replace = |with: &'static str| {
        move |demo: &Path| {
            std::fs::remove_file(demo.join(SIGNING)).expect("remove");
            openssl(demo, &format!("{with} -out {SIGNING}"));
        }
    };
    // Refused when the folder is read (exit 2).
    let rsa_1024 = replace("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024");
    run_with_keys(&s, &rsa_1024).fails_with(2, "not a usable RSA private key (RSA key invalid: TooSmall)");
    let truncated = |demo: &Path| {
        let pem = std::fs::read_to_string(demo.join(SIGNING)).expect("pem");
        let lines: Vec<&str> = pem.lines().collect();
        let cut = [&lines[..10], &lines[lines.len() - 1..]].concat().join("\n");
        std::fs::write(demo.join(SIGNING), cut).expect("write");
    };
    run_with_keys(&s, &truncated).fails_with(2, "the PRIVATE KEY block is not DER (damaged or truncated)");
    let empty = |demo: &Path| std::fs::write(demo.join(SIGNING), "").expect("write");
    run_with_keys(&s, &empty).fails_with(2, "not a PEM file (no -----BEGIN block)");
    let unused_empty = |demo: &Path| std::fs::write(demo.join("kk/B2C_1A_Unused.txt"), "").expect("write");
    run_with_keys(&s, &unused_empty).fails_with(2, "kk/B2C_1A_Unused.txt: the secret is empty");
    let secret_jwks = "{\"keys\": [{\"kty\": \"oct\", \"k\": \"canary-jwks-secret\"";
    let broken_json = |demo: &Path| std::fs::write(demo.join("kk/B2C_1A_J.json"), secret_jwks).expect("write");
    let run = run_with_keys(&s, &broken_json);
    run.fails_with(2, "kk/B2C_1A_J.json: not JSON (EOF while parsing");
    assert!(!run.stderr.contains("canary"), "{}", run.stderr);
    let passwd = |demo: &Path| {
        std::fs::remove_file(demo.join(SIGNING)).expect("remove");
        std::os::unix::fs::symlink("/etc/passwd", demo.join(SIGNING)).expect("symlink");
    };
    let run = run_with_keys(&s, &passwd);
    run.fails_with(2, "not a PEM file (no -----BEGIN block)");
    assert!(!run.stderr.contains("root:"), "{}", run.stderr);

    // Kept, but refused where an RSA key is needed: the run's outcome names it (exit 1).
    for kind in [
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl ec",
        "genpkey -algorithm ED25519",
    ] {
        let run = run_with_keys(&s, &replace(kind));
        assert_eq!(run.code, Some(1), "{kind}: {run:#?}");
        assert!(
            run.stdout.contains("is a non-RSA private key, but an RSA private key (.pem) is needed here"),
            "{kind}: {}",
            run.stdout
        );
    }
    // Not regular files: a folder with a key's name, a link to an endless device.
    let folder = |demo: &Path| {
        std::fs::remove_file(demo.join(SIGNING)).expect("remove");
        std::fs::create_dir(demo.join(SIGNING)).expect("folder");
        std::os::unix::fs::symlink("/dev/zero", demo.join("kk/B2C_1A_Zero.txt")).expect("symlink");
    };
    let run = run_with_keys(&s, &folder);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("policy key 'B2C_1A_TokenSigningKeyContainer' not found in kk/"), "{}", run.stdout);
}

#[test]
fn key_names_never_become_paths() {
    let s = Scratch::new("key-names");
    let demo = s.demo("demo");
    // A valid key really exists where the StorageReferenceId points.
    assert_eq!(ief_in(&s.0, &["keys", "init", "secretdir"]).run().code, Some(0));
    let key = s.path("secretdir/B2C_1A_TokenSigningKeyContainer.pem");
    std::fs::rename(key, s.path("secretdir/B2C_1A_Outside.pem")).expect("rename");
    let policy = std::fs::read_to_string(demo.join("DemoSignUp.xml")).expect("policy").replace(
        "StorageReferenceId=\"B2C_1A_TokenSigningKeyContainer\"",
        "StorageReferenceId=\"../secretdir/B2C_1A_Outside\"",
    );
    std::fs::write(demo.join("DemoSignUp.xml"), policy).expect("policy");
    assert_eq!(ief_in(&demo, &["keys", "init", "kk"]).run().code, Some(0));
    let run = ief_in(&demo, &["run", "sign-up-gold-member.yaml", "--keys", "kk", "--directory", "d.sqlite"]).run();
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("code: PolicyKeyMissing"), "{}", run.stdout);
    assert!(run.stdout.contains("policy key '../secretdir/B2C_1A_Outside' not found in kk/"), "{}", run.stdout);
    // Generated keys: the name is refused before anything is made.
    let run = ief_in(&demo, &["run", "sign-up-gold-member.yaml", "--directory", "d.sqlite"]).run();
    run.fails_with(2, "'../secretdir/B2C_1A_Outside' is not a usable policy key name");
}

#[test]
fn keys_init_never_overwrites_or_follows_links() {
    let s = Scratch::new("keys-init");
    let first = ief_in(&s.0, &["keys", "init", "kk"]).run();
    assert_eq!(first.code, Some(0), "{first:#?}");
    assert_eq!(listing(&s.path("kk")).len(), 3);
    let before: Vec<Vec<u8>> =
        listing(&s.path("kk")).iter().map(|n| std::fs::read(s.path("kk").join(n)).expect("key")).collect();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in listing(&s.path("kk")) {
            let mode = std::fs::metadata(s.path("kk").join(&name)).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
    let again = ief_in(&s.0, &["keys", "init", "kk"]).run();
    assert_eq!(again.code, Some(0));
    assert!(again.stdout.contains("kk already holds every key the starter pack needs"), "{}", again.stdout);
    let after: Vec<Vec<u8>> =
        listing(&s.path("kk")).iter().map(|n| std::fs::read(s.path("kk").join(n)).expect("key")).collect();
    assert_eq!(before, after);
    // A customised secret is left alone.
    s.write("mine/B2C_1A_FacebookSecret.txt", "my-own-secret\n");
    assert_eq!(ief_in(&s.0, &["keys", "init", "mine"]).run().code, Some(0));
    assert_eq!(std::fs::read_to_string(s.path("mine/B2C_1A_FacebookSecret.txt")).expect("secret"), "my-own-secret\n");
    // A dangling symlink where a key goes is not written through; a file is not a folder.
    #[cfg(unix)]
    {
        std::fs::create_dir_all(s.path("linked")).expect("folder");
        std::os::unix::fs::symlink(s.path("elsewhere.txt"), s.path("linked/B2C_1A_FacebookSecret.txt")).expect("link");
        ief_in(&s.0, &["keys", "init", "linked"]).run().fails_with(2, "B2C_1A_FacebookSecret.txt: File exists");
        assert!(!s.path("elsewhere.txt").exists());
    }
    s.write("file", "x");
    ief_in(&s.0, &["keys", "init", "file"]).run().fails_with(2, "file: File exists");
}
