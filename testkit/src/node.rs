//! Node.js peers of the interop tests: the runtime checked, the pinned packages installed from
//! the committed lock file, and a child's output read line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Node.js must be there and at least `min`; a missing runtime fails the test, never skips it.
/// `help` says what to install.
pub fn check_node(min: (u32, u32), help: &str) -> Result<(), String> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("the interop tests need `node` on PATH ({e}): {help}"))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let mut parts = text.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version < min {
        return Err(format!("node {text} is older than {}.{}: {help}", min.0, min.1));
    }
    Ok(())
}

/// `npm ci` in `project` when `node_modules` is missing, lacks `package`, or is older than the
/// lock file; bounded by `timeout`.
pub fn npm_ci(project: &Path, package: &str, timeout: Duration) -> Result<(), String> {
    // Tests of one binary run on threads: two `npm ci` in one folder at once leave a torn
    // `node_modules`, and a check beside a running install sees a half-written one.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let lock = project.join("package-lock.json");
    let installed = project.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((modified(&lock), modified(&installed)), (Some(l), Some(i)) if i >= l)
        && project.join("node_modules").join(package).join("package.json").is_file();
    if fresh {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]).current_dir(project);
    crate::process::run_bounded(&mut npm, &format!("npm ci in {} (installing {package})", project.display()), timeout)
        .map(drop)
}

/// Calls `f` with each line of `pipe` until it closes.
pub fn for_each_line(pipe: impl std::io::Read, mut f: impl FnMut(&str)) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        f(String::from_utf8_lossy(&line).trim_end());
        line.clear();
    }
}

/// Appends a line to a shared log.
pub fn push_log(logs: &Mutex<String>, line: &str) {
    if let Ok(mut l) = logs.lock() {
        l.push_str(line);
        l.push('\n');
    }
}
