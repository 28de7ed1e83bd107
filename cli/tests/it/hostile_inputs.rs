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
}

fn ief_in<'a>(cwd: &'a Path, args: &[&str]) -> Ief<'a> {
    Ief { args: args.iter().map(|s| (*s).to_owned()).collect(), cwd, close_stdout: false, close_stderr: false }
}

impl Ief<'_> {
    /// Runs under the address-space limit; kills the process (by its PID) past [`TIME_LIMIT`].
    fn run(&self) -> Run {
        let started = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {MEMORY_LIMIT_KB} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_ief"))
            .args(&self.args)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ief runs");
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
    let made = Command::new("mkfifo").arg(pack.join("pol.xml")).status().expect("mkfifo");
    assert!(made.success());
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
