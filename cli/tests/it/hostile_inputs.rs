//! The robustness probe's hostile folders, scenarios, keys and provider requests, kept as tests
//! (report sections 2, 3 and 6, and the folder rows of section 1). Every input is generated
//! here; each case asserts the clear error, the exit code, and that `ief` ends within
//! [`TIME_LIMIT`] under a [`MEMORY_LIMIT_KB`] address-space limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Scratch, workspace};

/// Far above what any of these inputs needs, so a noisy machine passes; a hang or a
/// quadratic blow-up does not.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// 1 GiB of address space: the probe's runaway reads and allocations went far past it.
const MEMORY_LIMIT_KB: u64 = 1024 * 1024;

impl Scratch {
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

    /// Asserts the exit code and that standard output holds `text`.
    fn prints(&self, code: i32, text: &str) {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stdout.contains(text), "expected {text:?} in:\n{}", self.stdout);
        self.no_panic();
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
            .stdout(pipe(self.close_stdout))
            .stderr(pipe(self.close_stderr));
        if let Some(temp) = self.temp {
            command.env("TMPDIR", temp);
        }
        command.spawn().expect("ief runs")
    }

    /// Runs to the end; kills the process (by its PID) past [`TIME_LIMIT`].
    fn run(&self) -> Run {
        let started = Instant::now();
        let mut child = self.spawn();
        let out = child.stdout.take().map(|mut stdout| std::thread::spawn(move || read_all(&mut stdout)));
        let err = child.stderr.take().map(|mut stderr| std::thread::spawn(move || read_all(&mut stderr)));
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

/// A pipe to read, or one whose reading end is closed before ief starts (so its first write fails).
fn pipe(closed: bool) -> Stdio {
    if !closed {
        return Stdio::piped();
    }
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer.into()
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
    // A folder with nothing else is refused, saying why.
    let only = s.0.join("only");
    std::fs::create_dir(&only).expect("folder");
    mkfifo(&only.join("pol.xml"));
    ief_in(&s.0, &["validate", "only"]).run().fails_with(1, "no policy file (*.xml) in only");
}

#[cfg(unix)]
#[test]
fn an_endless_device_given_as_the_file_is_read_up_to_the_limit() {
    let s = Scratch::new("zero");
    let run = ief_in(&s.0, &["validate", "/dev/zero"]).run();
    run.fails_with(1, "IEF002");
    let run = ief_in(&s.0, &["validate", "/dev/null"]).run();
    run.fails_with(1, "the file has no root element");
    // appsettings.json is bounded too.
    let demo = s.demo("demo");
    let run = ief_in(&demo, &["validate", ".", "--env", "Local", "--settings", "/dev/zero"]).run();
    run.fails_with(1, "the file has more than 1048576 bytes, the most ief reads (/dev/zero:1:1)");
    // So are ief serve's trusted roots and app config, and ief bench's baseline.
    let directory = s.0.join("serve.sqlite");
    let serve = |flag: &str| {
        ief_in(
            &demo,
            &[
                "serve",
                ".",
                "--env",
                "Local",
                "--http",
                "--port",
                "0",
                "--for",
                "1",
                "--directory",
                path_str(&directory),
                flag,
                "/dev/zero",
            ],
        )
        .run()
    };
    serve("--trusted-root").fails_with(2, "/dev/zero: the file has more than 1048576 bytes");
    serve("--config").fails_with(2, "the file has more than 1048576 bytes");
    let bench =
        ief_in(&demo, &["bench", "transform", ".", "--id", "x", "--input", "{}", "--baseline", "/dev/zero"]).run();
    assert_ne!(bench.code, Some(0), "{bench:#?}");
    bench.no_panic();
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
    run.prints(0, "outcome: token");
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
    // Base folders are walked the same way.
    let run = run_scenario(&s, "policy: DemoSignUp.xml\nbases: [/proc/self, /]\n");
    run.fails_with(2, "refusing to search /proc/");
    assert!(run.stderr.contains("refusing to search / (the filesystem root) for files"), "{}", run.stderr);
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
    run.prints(0, "outcome: token");
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
    run.prints(1, "policy key 'B2C_1A_TokenSigningKeyContainer' not found in kk/");
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
    run.prints(1, "code: PolicyKeyMissing");
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

// ---- ief idp serve (report section 6) ----

/// The server's peak resident memory in KB, from /proc (Linux).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A client assertion (RFC 7523) signed with `pem`, with `patch` merged into the usual claims.
fn assertion(pem: &[u8], alg: jsonwebtoken::Algorithm, client: &str, aud: &str, patch: serde_json::Value) -> String {
    let now = now_secs();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let jti = format!("jti-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut claims =
        serde_json::json!({"iss": client, "sub": client, "aud": aud, "exp": now + 300, "iat": now, "jti": jti});
    for (k, v) in patch.as_object().expect("an object") {
        if v.is_null() {
            claims.as_object_mut().expect("object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(pem),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(pem).expect("an RSA key"),
    };
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).expect("signed")
}

/// `header.payload.` with `{"alg":"none"}`.
fn unsigned(claims: &serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(claims))
}

/// Status and body of a token request with a client assertion and a code.
async fn redeem_with_assertion(
    http: &reqwest::Client,
    token: &str,
    client: &str,
    code: &str,
    jwt: &str,
) -> (u16, String) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", crate::idp_serve::REDIRECT),
        ("client_id", client),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt),
    ];
    let response =
        http.post(token).header("accept", "application/json").form(&form).send().await.expect("token request");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// The status code of `GET path` sent as raw HTTP/1.1 to `base` (reqwest refuses URIs over
/// 64 KB); HTTPS through `openssl s_client`.
fn raw_status(base: &str, path: &str) -> String {
    let url = reqwest::Url::parse(base).expect("a base URL");
    let host = format!("{}:{}", url.host_str().expect("host"), url.port().expect("port"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    let read = if url.scheme() == "https" {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests need the openssl command");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, request.as_bytes()).expect("request");
        let read = child.stdout.take().expect("stdout").read_exact(&mut head);
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        read
    } else {
        let mut stream = std::net::TcpStream::connect(&host).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        std::io::Write::write_all(&mut stream, request.as_bytes()).expect("request");
        stream.read_exact(&mut head)
    };
    read.expect("a status line");
    // "HTTP/1.1 414"
    String::from_utf8_lossy(&head[9..12]).into_owned()
}

async fn status_of(request: reqwest::RequestBuilder) -> (u16, String, Option<String>) {
    let response = request.send().await.expect("a response");
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
    (response.status().as_u16(), response.text().await.unwrap_or_default(), location)
}

#[test]
fn idp_serve_oidc_survives_hostile_requests() {
    use crate::idp_serve::{REDIRECT, https, runtime, secret_file, serve, sign_in, value};
    let s = Scratch::new("idp-oidc");
    let out = s.path("out");
    let (server, lines) = serve(&["--out", path_str(&out), "--for", "120"], "client: ief-oauth2-client");
    let issuer = value(&lines, "oidc: ").to_owned();
    let token = format!("{issuer}/token");
    let authorize = format!("{issuer}/authorize");
    openssl(&s.0, "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem");
    let other_key = std::fs::read(s.path("other.pem")).expect("other key");
    let client_key = std::fs::read(out.join("ief-private-key-jwt.pem")).expect("client key");
    openssl(&s.0, &format!("pkey -in {} -pubout -out client.pub", path_str(&out.join("ief-private-key-jwt.pem"))));
    let started = Instant::now();
    runtime().block_on(async {
        let http = https(&out.join("ca.pem"), None);
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        assert_eq!(status_of(http.get(&discovery)).await.0, 200);
        assert_eq!(status_of(http.get(format!("{issuer}/jwks"))).await.0, 200);

        let (status, body, _) = status_of(http.get(&authorize)).await;
        assert_eq!((status, body.contains("client_id is missing")), (400, true), "{body}");
        // No open redirect: an unregistered redirect_uri gets a page, never a Location.
        let evil =
            [("client_id", "ief-secret-post"), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code")];
        let (status, _, location) = status_of(http.get(&authorize).query(&evil)).await;
        assert_eq!((status, location), (400, None));
        // What the pages echo is escaped.
        let (_, body, _) = status_of(http.get(&authorize).query(&[("client_id", "<script>x</script>")])).await;
        assert!(!body.contains("<script>x") && body.contains("&lt;script&gt;"), "{body}");
        let login = [
            ("client_id", "ief-secret-post"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "\"><script>y</script>"),
        ];
        let (status, body, _) = status_of(http.get(&authorize).query(&login)).await;
        assert_eq!(status, 200);
        assert!(!body.contains("<script>y"), "{body}");
        // CR LF in state: the error redirect carries it percent-encoded.
        let crlf = [
            ("client_id", "ief-secret-post"),
            ("redirect_uri", REDIRECT),
            ("response_type", "bogus"),
            ("state", "a\r\nSet-Cookie: x=y"),
        ];
        let (status, _, location) = status_of(http.get(&authorize).query(&crlf)).await;
        let location = location.expect("an error redirect");
        assert_eq!(status, 302);
        assert!(
            location.starts_with(REDIRECT) && location.contains("error=") && location.contains("%0D%0A"),
            "{location}"
        );
        let repeated = format!(
            "{authorize}?client_id=ief-secret-post&redirect_uri={REDIRECT}&response_type=code&scope=openid&scope=email"
        );
        let (_, _, location) = status_of(http.get(repeated)).await;
        let location = reqwest::Url::parse(&location.expect("an error redirect")).expect("URL");
        let description = location.query_pairs().find(|(k, _)| k == "error_description").map(|(_, v)| v.into_owned());
        assert_eq!(description.as_deref(), Some("the parameter 'scope' is repeated"));
        assert_eq!(status_of(http.get(format!("{authorize}?client_id=%FF%FE"))).await.0, 400);
        let long = format!("/authorize?client_id={}", "a".repeat(100 * 1024));
        assert_eq!(raw_status(&issuer, &long), "414", "a 100 KB query string");
        for url in [&authorize, &token] {
            let big =
                http.post(url).header("content-type", "application/x-www-form-urlencoded").body(vec![b'a'; 10 << 20]);
            let refused = !matches!(big.send().await, Ok(r) if r.status().is_success());
            assert!(refused, "a 10 MB body to {url} was accepted");
        }
        let (status, body, _) = status_of(http.post(&token)).await;
        assert_eq!((status, body.contains("must be application/x-www-form-urlencoded")), (400, true), "{body}");
        let (status, body, _) =
            status_of(http.post(&token).header("content-type", "application/json").body("{}")).await;
        assert_eq!((status, body.contains("must be application/x-www-form-urlencoded")), (400, true), "{body}");
        assert_eq!(status_of(http.get(&token)).await.0, 405);

        // Alice signs in; the code works once, and its replay revokes what it gave.
        let code = sign_in(&http, &authorize, "ief-secret-post", ("scope", "openid")).await;
        let secret = secret_file(&out, "ief-secret-post.txt");
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "ief-secret-post"),
            ("client_secret", secret.as_str()),
        ];
        let first: serde_json::Value =
            http.post(&token).form(&redeem).send().await.expect("token").json().await.expect("JSON");
        let access = first["access_token"].as_str().expect("an access token").to_owned();
        let (status, body, _) = status_of(http.post(&token).form(&redeem)).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("invalid_grant") && body.contains("already used (the tokens issued for it are revoked)"),
            "{body}"
        );
        assert_eq!(status_of(http.get(format!("{issuer}/userinfo")).bearer_auth(&access)).await.0, 401);

        // Wrong passwords show the form again (no lockout in a test provider); then the right one works.
        for _ in 0..30 {
            let wrong = [
                ("client_id", "ief-secret-post"),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("username", "alice"),
                ("password", "wrong"),
            ];
            let (status, body, _) = status_of(http.post(&authorize).form(&wrong)).await;
            assert_eq!(status, 200);
            assert!(body.contains(r#"type="password""#));
        }
        let code = sign_in(&http, &authorize, "ief-secret-basic", ("scope", "openid")).await;
        // The secret holds ':+/=%&?~' on purpose: sent without form-urlencoding it is refused, saying why.
        let basic_secret = secret_file(&out, "ief-secret-basic.txt");
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
        let (status, body, _) =
            status_of(http.post(&token).basic_auth("ief-secret-basic", Some(&basic_secret)).form(&form)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("RFC 6749 §2.3.1"), "{body}");

        // private_key_jwt: every forged or stale assertion is refused, naming why.
        let c = "ief-private-key-jwt";
        let rs256 = jsonwebtoken::Algorithm::RS256;
        let public = std::fs::read(s.path("client.pub")).expect("the client's public key");
        let mut kid_header = jsonwebtoken::Header::new(rs256);
        kid_header.kid = Some("../../etc/passwd".to_owned());
        kid_header.jku = Some("http://127.0.0.1:9/jwks".to_owned());
        let kid_claims = serde_json::json!({"iss": c, "sub": c, "aud": token, "exp": now_secs() + 300, "jti": "kid"});
        let kid_token = jsonwebtoken::encode(
            &kid_header,
            &kid_claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(&client_key).expect("key"),
        )
        .expect("signed");
        let forged = [
            (
                unsigned(
                    &serde_json::json!({"iss": c, "sub": c, "aud": token, "exp": now_secs() + 300, "jti": "none"}),
                ),
                "not a JWT",
            ),
            (assertion(&public, jsonwebtoken::Algorithm::HS256, c, &token, serde_json::json!({})), "HS256"),
            (
                assertion(&other_key, rs256, c, &token, serde_json::json!({})),
                "does not verify with the key(s) registered",
            ),
            (assertion(&client_key, rs256, c, &token, serde_json::json!({"exp": now_secs() - 600})), "expired at"),
            (
                assertion(&client_key, rs256, c, "https://elsewhere.example/token", serde_json::json!({})),
                "is neither the token endpoint",
            ),
            (assertion(&client_key, rs256, c, &token, serde_json::json!({"jti": null})), "has no jti"),
            (
                assertion(
                    &client_key,
                    rs256,
                    c,
                    &token,
                    serde_json::json!({"iss": "ief-secret-post", "sub": "ief-secret-post"}),
                ),
                "not the client_id",
            ),
            (assertion(&client_key, jsonwebtoken::Algorithm::RS512, c, &token, serde_json::json!({})), "RS512"),
            (kid_token, "kid '../../etc/passwd' is not one of the keys registered"),
            ("a.b.c".to_owned(), "is not a JWT"),
            // D10: no upper bound on the lifetime, and `exp + skew` overflowed.
            (
                assertion(&client_key, rs256, c, &token, serde_json::json!({"exp": 1e30})),
                "the longest accepted is 3600 seconds",
            ),
        ];
        for (jwt, cause) in &forged {
            let (status, body) = redeem_with_assertion(&http, &token, c, "no-code", jwt).await;
            assert_eq!(status, 401, "{cause}: {body}");
            assert!(body.contains("invalid_client") && body.contains(cause), "{cause}: {body}");
        }
        // A valid assertion works once; the same one again is a replay.
        let good = assertion(&client_key, rs256, c, &token, serde_json::json!({}));
        let code = sign_in(&http, &authorize, c, ("scope", "openid")).await;
        let (status, body) = redeem_with_assertion(&http, &token, c, &code, &good).await;
        assert_eq!(status, 200, "{body}");
        let code = sign_in(&http, &authorize, c, ("scope", "openid")).await;
        let (status, body) = redeem_with_assertion(&http, &token, c, &code, &good).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("jti was already used (a replay)"), "{body}");

        assert_eq!(status_of(http.get(&discovery)).await.0, 200, "the provider still serves");
    });
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
    let peak = peak_rss_kb(server.0.id());
    assert!(peak < MEMORY_LIMIT_KB / 2, "peak RSS {peak} KB");
}

#[test]
fn idp_serve_oauth_providers_survive_hostile_requests() {
    use crate::idp_serve::{REDIRECT, plain_http, runtime, serve, value};
    let s = Scratch::new("idp-oauth");
    // An OAuth2 client authenticating with private_key_jwt, configured with its public key.
    openssl(&s.0, "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client.pem");
    openssl(&s.0, "pkey -in client.pem -pubout -out client.pub");
    let public = std::fs::read_to_string(s.path("client.pub")).expect("public key");
    let indented: String = public.lines().map(|l| format!("          {l}\n")).collect();
    let config = s.write(
        "idp.yaml",
        format!(
            "oauth2:\n  clients:\n    - client_id: pk\n      auth_method: private_key_jwt\n      redirect_uris: [{REDIRECT}]\n      public_key: |\n{indented}"
        ),
    );
    let out = s.path("out");
    let (server, lines) =
        serve(&["--config", path_str(&config), "--out", path_str(&out), "--for", "120"], "client: pk");
    let oauth2 = value(&lines, "oauth2: ").to_owned();
    let client_key = std::fs::read(s.path("client.pem")).expect("client key");
    let (_oauth1_server, oauth1_lines) = serve(&["--out", path_str(&s.path("out1")), "--for", "120"], "consumer:");
    let oauth1 = value(&oauth1_lines, "oauth1: ").to_owned();
    runtime().block_on(async {
        let http = plain_http();

        // OAuth1: every malformed request is a 400 naming the problem.
        let request_token = format!("{oauth1}/oauth/request_token");
        let (status, body, _) = status_of(http.post(&request_token)).await;
        assert_eq!((status, body.contains("missing oauth_consumer_key")), (400, true), "{body}");
        let (status, body, _) = status_of(http.post(&request_token).header("Authorization", "OAuth garbage")).await;
        assert_eq!(status, 400);
        assert!(body.contains("the Authorization header is malformed near `garbage"), "{body}");
        let (status, body, _) = status_of(http.post(&request_token).header("Authorization", "Bearer x")).await;
        assert_eq!((status, body.contains("does not use the OAuth scheme")), (400, true), "{body}");
        let duplicate = format!("{request_token}?oauth_consumer_key=a");
        let (status, body, _) =
            status_of(http.post(duplicate).header("Authorization", "OAuth oauth_consumer_key=\"a\"")).await;
        assert_eq!((status, body.contains("oauth_consumer_key is sent twice")), (400, true), "{body}");
        let (status, body, _) = status_of(http.get(format!("{oauth1}/oauth/authenticate?oauth_token=bogus"))).await;
        assert_eq!((status, body.contains("unknown or expired oauth_token")), (400, true), "{body}");
        // 10 MB: refused as too long, or the connection closed while the client still writes.
        let big = http
            .post(&request_token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 10 << 20]);
        if let Ok(response) = big.send().await {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            assert_eq!((status, body.contains("length limit exceeded")), (400, true), "{body}");
        }

        // OAuth2: client authentication, redirects and bearer tokens.
        let token = format!("{oauth2}/oauth2/access_token");
        let form =
            [("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", REDIRECT), ("client_id", "pk")];
        let (status, body, _) = status_of(http.post(&token).form(&form)).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("invalid_client"), "{body}");
        let (status, body) = redeem_with_assertion(&http, &token, "pk", "x", "bogus").await;
        assert_eq!(status, 401, "{body}");
        // D10: `exp + skew` overflowed ("expired at 9223372036854775807" in release builds).
        for exp in [serde_json::json!(1e30), serde_json::json!(1e308), serde_json::json!(i64::MAX)] {
            let jwt =
                assertion(&client_key, jsonwebtoken::Algorithm::RS256, "pk", &token, serde_json::json!({"exp": exp}));
            let (status, body) = redeem_with_assertion(&http, &token, "pk", "x", &jwt).await;
            assert_eq!(status, 401, "{exp}: {body}");
            assert!(body.contains("the longest accepted is 3600 seconds"), "{exp}: {body}");
        }
        let authorize = format!("{oauth2}/oauth2/authorize");
        let evil = [("client_id", "pk"), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code")];
        let (status, _, location) = status_of(http.get(&authorize).query(&evil)).await;
        assert_eq!((status, location), (400, None));
        for request in [http.get(format!("{oauth2}/me")), http.get(format!("{oauth2}/me")).bearer_auth("bogus")] {
            let (status, body, _) = status_of(request).await;
            assert_eq!(status, 401, "{body}");
        }
        let long = format!("/me?access_token={}", "a".repeat(100 * 1024));
        assert_eq!(raw_status(&oauth2, &long), "414", "a 100 KB token");
        assert_eq!(status_of(http.get(format!("{oauth2}/me"))).await.0, 401, "the provider still serves");
    });
    let peak = peak_rss_kb(server.0.id());
    assert!(peak < MEMORY_LIMIT_KB / 2, "peak RSS {peak} KB");
}

#[test]
fn idp_serve_configs_are_bounded() {
    let s = Scratch::new("idp-config");
    let deep = s.write("deep.yaml", format!("oidc: {{clients: {}{}}}\n", "[".repeat(100_000), "]".repeat(100_000)));
    let out = s.path("out");
    let serve =
        |config: &str| ief_in(&s.0, &["idp", "serve", "--config", config, "--out", path_str(&out), "--for", "1"]).run();
    serve(path_str(&deep))
        .fails_with(2, "deep.yaml: flow collections ([ or {) nest deeper than 64 levels at line 1 column");
    serve("/dev/zero").fails_with(2, "/dev/zero: the file has more than 1048576 bytes");
    let big = s.write("big.yaml", "# x\n".repeat(300_000));
    serve(path_str(&big)).fails_with(2, "big.yaml: the file has 1200000 bytes; ief reads at most 1048576");
}
