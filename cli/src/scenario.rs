//! `ief run`, `ief test` and `ief keys init`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ief_scenario::{RunOptions, ScenarioReport};

use crate::Format;

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The scenario file (YAML).
    scenario: PathBuf,
    /// Policy keys, one file per StorageReferenceId (default: keys/ when it exists, else keys
    /// generated for this run).
    #[arg(long, conflicts_with = "serve")]
    keys: Option<PathBuf>,
    /// The embedded directory; it persists between runs. A `postgres://` URL names a shared one.
    /// Not with --serve: the server started for the run keeps its own.
    #[arg(long, default_value = ".ief/directory.sqlite", conflicts_with = "serve")]
    directory: PathBuf,
    /// Print the step-by-step trace.
    #[arg(long, conflicts_with = "serve")]
    trace: bool,
    /// Fixed clock and seeded randomness, as `ief test` runs.
    #[arg(long, conflicts_with = "serve")]
    deterministic: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run against a live `ief serve` at this URL over HTTP instead of in process; the
    /// scenario's users are seeded into --directory, which the server must share.
    #[arg(long, value_name = "URL", conflicts_with = "serve")]
    server: Option<String>,
    /// Run over HTTP through an `ief serve` started for this run on 127.0.0.1, with the
    /// scenario's HTTP stubs, embedded providers and stand-in identity providers.
    #[arg(long)]
    serve: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TestArgs {
    /// Folders (or files) holding scenarios (*.yaml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the results as the new snapshots.
    #[arg(long)]
    accept: bool,
    /// Scenario files run at once (default: the machine's cores); reports keep file order.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, String> {
    if !args.serve {
        private_parent(&args.directory)?;
    }
    let report = match &args.server {
        Some(server) => {
            let options = ief_scenario::remote::RemoteOptions {
                server: server.clone(),
                directory: Some(args.directory.clone()),
                codes: None,
            };
            runtime()?.block_on(ief_scenario::remote::run_file(&args.scenario, &options)).map_err(|e| e.to_string())?
        }
        None if args.serve => runtime()?.block_on(ief_cli::served::run(
            &args.scenario,
            &RunOptions::default(),
            PathBuf::from(".ief/keys"),
        ))?,
        None => run_in_process(args)?,
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text => out!("{}", report.to_yaml()),
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Makes the folder of a directory file: it holds password hashes, so owner only.
pub(crate) fn private_parent(file: &Path) -> Result<(), String> {
    if file.to_str().is_some_and(ief_store::pg::is_url) {
        return Ok(());
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    Ok(())
}

fn run_in_process(args: &RunArgs) -> Result<ScenarioReport, String> {
    let keys = match &args.keys {
        Some(k) => Some(k.clone()),
        None if Path::new("keys").is_dir() => Some(PathBuf::from("keys")),
        None => {
            errln!(
                "note: no keys/ folder, so this run uses freshly generated keys (`ief keys init` creates lasting ones)"
            );
            None
        }
    };
    let options = RunOptions {
        deterministic: args.deterministic,
        keys,
        directory: Some(args.directory.clone()),
        trace: args.trace,
        ..RunOptions::default()
    };
    runtime()?.block_on(ief_scenario::run_file(&args.scenario, &options)).map_err(|e| e.to_string())
}

pub(crate) fn keys_init(dir: &Path) -> Result<ExitCode, String> {
    let created = ief_protocols::keys::init_keys(dir, ief_protocols::keys::starter_pack_key_names())
        .map_err(|e| e.to_string())?;
    for path in &created {
        outln!("created {}", path.display());
    }
    if created.is_empty() {
        outln!("{} already holds every key the starter pack needs", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Scenario files under the given paths, sorted, and the folders that could not be searched.
fn scenarios(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            let walk = ief_engine::input::walk(p, &|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"));
            out.extend(walk.files);
            errors.extend(walk.errors.into_iter().map(|(dir, reason)| format!("{}: {reason}", dir.display())));
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    (out, errors)
}

/// The largest snapshot read; reports of real scenarios are a few KB.
const MAX_SNAPSHOT_BYTES: u64 = 16 * 1024 * 1024;

/// The snapshot next to a scenario: `sign-up.yaml` → `sign-up.snap`, in insta's file format.
fn snapshot_path(scenario: &Path) -> PathBuf {
    scenario.with_extension("snap")
}

fn snapshot_text(scenario: &Path, body: &str) -> String {
    format!("---\nsource: ief test\nexpression: {}\n---\n{body}", scenario.display())
}

fn snapshot_body(text: &str) -> &str {
    // insta's layout: a YAML header between two `---` lines, then the content.
    text.strip_prefix("---\n").and_then(|rest| rest.split_once("\n---\n")).map_or(text, |(_, body)| body)
}

pub(crate) fn test(args: &TestArgs) -> Result<ExitCode, String> {
    let (files, unsearchable) = scenarios(&args.paths);
    if !unsearchable.is_empty() {
        return Err(unsearchable.join("\n"));
    }
    if files.is_empty() {
        return Err(format!(
            "no scenario files (*.yaml) under {}",
            args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from);
    // One key pool for the whole run: each scenario still gets its own directory and outbox.
    let options = RunOptions::deterministic();
    let (mut passed, mut failed) = (0usize, 0usize);
    in_parallel(
        &files,
        jobs,
        |file| verdict(file, &options, args.accept),
        |file, verdict| {
            match verdict {
                Ok(()) => passed += 1,
                Err(why) => {
                    failed += 1;
                    bar.suspend(|| errln!("FAIL {}\n{}\n", file.display(), indent(&why)));
                }
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    outln!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs one scenario file and compares it with its snapshot, on a runtime of this thread.
fn verdict(file: &Path, options: &RunOptions, accept: bool) -> Result<(), String> {
    thread_local! {
        static RUNTIME: Result<tokio::runtime::Runtime, String> = runtime();
    }
    RUNTIME.with(|rt| {
        let report = rt.as_ref()?.block_on(ief_scenario::run_file(file, options)).map_err(|e| e.to_string())?;
        compare(file, &report, accept)
    })
}

/// `work` on every file from `jobs` threads; `done` sees the results on this thread in file
/// order, each as soon as those before it are in.
fn in_parallel<R: Send>(
    files: &[PathBuf],
    jobs: usize,
    work: impl Fn(&Path) -> R + Sync,
    mut done: impl FnMut(&Path, R),
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            let (tx, next, work) = (tx.clone(), &next, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    if tx.send((i, work(file))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut first = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&first) {
                done(&files[first], result);
                first += 1;
            }
        }
    });
}

fn compare(file: &Path, report: &ScenarioReport, accept: bool) -> Result<(), String> {
    let body = report.to_yaml();
    let path = snapshot_path(file);
    let expectation =
        report.runs.iter().find_map(|r| r.expectation_failed.as_ref().map(|e| format!("run '{}': {e}", r.name)));
    if accept {
        std::fs::write(&path, snapshot_text(file, &body)).map_err(|e| format!("{}: {e}", path.display()))?;
        return expectation.map_or(Ok(()), Err);
    }
    if let Some(e) = expectation {
        return Err(e);
    }
    let read = ief_engine::input::refuse_pipe(&path)
        .and_then(|()| ief_engine::input::read_text_limited(&path, MAX_SNAPSHOT_BYTES));
    let existing = match read {
        Ok(text) => text,
        Err(ief_engine::input::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "no snapshot {} yet; review the result and run with --accept:\n{body}",
                path.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if snapshot_body(&existing) == body {
        Ok(())
    } else {
        Err(format!("differs from {}:\n{}", path.display(), diff(snapshot_body(&existing), &body)))
    }
}

/// A line diff: `-` old, `+` new (simple, for short YAML reports).
fn diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) => {
                // Resynchronise on the next line both sides share.
                match new[j..].iter().position(|l| l == a) {
                    Some(k) => {
                        for l in &new[j..j + k] {
                            out.push_str(&format!("+{l}\n"));
                        }
                        j += k;
                    }
                    None => {
                        out.push_str(&format!("-{a}\n+{b}\n"));
                        i += 1;
                        j += 1;
                    }
                }
            }
            (Some(a), None) => {
                out.push_str(&format!("-{a}\n"));
                i += 1;
            }
            (None, Some(b)) => {
                out.push_str(&format!("+{b}\n"));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::{diff, snapshot_body, snapshot_text};
    use std::path::Path;

    #[test]
    fn snapshot_files_round_trip_in_insta_layout() {
        let text = snapshot_text(Path::new("a/b.yaml"), "x: 1\n");
        assert_eq!(snapshot_body(&text), "x: 1\n");
    }

    #[test]
    fn diff_marks_changed_and_added_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nB\nc\nd\n"), "-b\n+B\n+d\n");
    }
}
