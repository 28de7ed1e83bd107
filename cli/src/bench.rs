//! `ief bench`: how fast a transformation, a profile's output-claims chain or a scenario's
//! sign-ins run. `ief_scenario::bench` measures; this prints and compares with a baseline.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ief_scenario::bench::{self, Chain, ChainFailed, Config, Report};

use crate::Format;
use crate::transform::{self, RunArgs};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// One ClaimsTransformation on the given input claims.
    Transform {
        #[command(flatten)]
        target: Box<RunArgs>,
        #[command(flatten)]
        measure: MeasureArgs,
    },
    /// A TechnicalProfile's OutputClaimsTransformations, in order, on the claims it returned.
    Profile {
        #[command(flatten)]
        target: Box<RunArgs>,
        #[command(flatten)]
        measure: MeasureArgs,
    },
    /// A scenario's sign-ins (as `ief test` runs them; a fresh directory for each).
    Scenario {
        /// The scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        measure: MeasureArgs,
    },
}

#[derive(clap::Args, Debug)]
pub(crate) struct MeasureArgs {
    /// Milliseconds of runs before measuring.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    warm_up: u64,
    /// Samples to take; the median and spread are over these.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Milliseconds one sample should take.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    sample_time: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// An earlier `--format json` result of the same target: exit 1 when this one is slower
    /// than it by more than --max-ratio.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// This median over the baseline's, above which the run fails.
    #[arg(long, default_value_t = 1.25)]
    max_ratio: f64,
}

/// Slowest parts printed in text.
const PARTS_SHOWN: usize = 10;

pub(crate) fn run(command: &BenchCommand) -> Result<ExitCode, String> {
    let (measured, measure) = match command {
        BenchCommand::Transform { target, measure } => (transformation(target, measure), measure),
        BenchCommand::Profile { target, measure } => (profile(target, measure), measure),
        BenchCommand::Scenario { scenario, measure } => {
            let mut bar = Bar::new(measure);
            let report = bench::scenario(scenario, &config(measure), &mut |done, all| bar.tick(done, all));
            bar.finish();
            (report.map_err(|e| Err(e.to_string())), measure)
        }
    };
    let report = match measured {
        Ok(r) => r,
        Err(Ok(code)) => return Ok(code),
        Err(Err(message)) => return Err(message),
    };
    let baseline = match &measure.baseline {
        Some(path) => Some(read_baseline(path)?),
        None => None,
    };
    let comparison = match &baseline {
        Some(b) => Some(report.compare(b, measure.max_ratio).map_err(|e| format!("--baseline: {e}"))?),
        None => None,
    };
    match measure.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text => out!("{}", text(&report)),
    }
    let Some(c) = comparison else { return Ok(ExitCode::SUCCESS) };
    let verdict = if c.slower() { "slower than allowed" } else { "within" };
    errln!("{:.2}× the baseline's median ({verdict} {:.2}×)", c.ratio, c.max_ratio);
    Ok(if c.slower() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A measurement, or how the command ends without one: an exit code after printing why, or a
/// message for `main` to print.
type Measured = Result<Report, Result<ExitCode, String>>;

fn transformation(args: &RunArgs, measure: &MeasureArgs) -> Measured {
    let missing = format!("no ClaimsTransformation with Id '{}' in the policy", args.id);
    let prepared = transform::prepare(args, |p| p.transformation(&args.id).is_some(), &missing).map_err(Ok)?;
    let Some((_, compiled)) = prepared.transform(&args.id) else {
        return Err(Err(format!("ClaimsTransformation '{}' does not compile", args.id)));
    };
    let mut bar = Bar::new(measure);
    let what = Chain::One(&args.id, compiled);
    let report =
        bench::transforms(what, &prepared.bag, &prepared.env(None), &config(measure), &mut |d, a| bar.tick(d, a));
    bar.finish();
    report.map_err(failed)
}

fn profile(args: &RunArgs, measure: &MeasureArgs) -> Measured {
    let missing = format!("no TechnicalProfile with Id '{}' in the policy", args.id);
    let prepared = transform::prepare(args, |p| p.profile(&args.id).is_some(), &missing).map_err(Ok)?;
    let policy = prepared.policy();
    let index = policy.technical_profiles.iter().position(|t| t.id.value == args.id).unwrap_or_default();
    let mut chain = Vec::new();
    for r in &prepared.compiled.profiles[index].output_transforms {
        let compiled = r.index.and_then(|i| prepared.compiled.transforms.get(i)?.as_ref());
        let Some(compiled) = compiled else {
            return Err(Err(format!("OutputClaimsTransformation '{}' of '{}' does not compile", r.id, args.id)));
        };
        chain.push((r.id.to_string(), compiled));
    }
    if chain.is_empty() {
        return Err(Err(format!("TechnicalProfile '{}' has no OutputClaimsTransformations", args.id)));
    }
    let env = prepared.env(Some(&policy.technical_profiles[index]));
    let mut bar = Bar::new(measure);
    let what = Chain::Profile(&args.id, &chain);
    let report = bench::transforms(what, &prepared.bag, &env, &config(measure), &mut |d, a| bar.tick(d, a));
    bar.finish();
    report.map_err(failed)
}

fn failed(f: ChainFailed) -> Result<ExitCode, String> {
    Err(format!(
        "ClaimsTransformation '{}' fails on this input, so it is not measured: {} ({})",
        f.transform,
        f.error.message,
        f.error.code.as_str()
    ))
}

fn config(m: &MeasureArgs) -> Config {
    Config {
        warm_up: Duration::from_millis(m.warm_up),
        samples: m.samples,
        sample_time: Duration::from_millis(m.sample_time),
    }
}

/// An `ief bench --format json` result is a few kilobytes; every input is read with a bound.
const MAX_BASELINE_BYTES: u64 = 1024 * 1024;

fn read_baseline(path: &Path) -> Result<Report, String> {
    let text = ief_engine::input::read_text_limited(path, MAX_BASELINE_BYTES)
        .map_err(|e| format!("--baseline {}: {e}", path.display()))?;
    // serde_json's message ends with the line and column.
    serde_json::from_str(&text)
        .map_err(|e| format!("--baseline {}: not an `ief bench --format json` result: {e}", path.display()))
}

/// The progress bar on stderr while measuring; hidden when stderr is not a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(m: &MeasureArgs) -> Bar {
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(m.samples as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_message("warming up");
        Bar(bar)
    }

    fn tick(&mut self, done: usize, all: usize) {
        self.0.set_length(all as u64);
        self.0.set_position(done as u64);
        self.0.set_message("sampling");
    }

    fn finish(self) {
        self.0.finish_and_clear();
    }
}

fn text(r: &Report) -> String {
    let mut out = format!(
        "{} {}\n  {} runs/s  median {}  spread ±{} (MAD)  min {}  max {}\n  {} samples of {} runs\n",
        r.kind,
        r.target,
        significant(r.runs_per_second),
        duration(r.median_ns),
        duration(r.mad_ns),
        duration(r.min_ns),
        duration(r.max_ns),
        r.samples,
        r.runs_per_sample
    );
    if !r.parts.is_empty() {
        out.push_str(match r.kind.as_str() {
            "scenario" => "  executor time per step, slowest first:\n",
            _ => "  slowest transformations:\n",
        });
        for p in r.parts.iter().take(PARTS_SHOWN) {
            out.push_str(&format!("    {:>10}  {:>5.1}%  {}\n", duration(p.ns_per_run), p.share * 100.0, p.name));
        }
    }
    out
}

/// A time in the unit that keeps it between 1 and 1000.
fn duration(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.1} ns"),
        n if n < 1e6 => format!("{:.2} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

fn significant(x: f64) -> String {
    if x >= 100.0 { format!("{x:.0}") } else { format!("{x:.2}") }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration(512.0), "512.0 ns");
        assert_eq!(duration(1_500.0), "1.50 µs");
        assert_eq!(duration(2_345_678.0), "2.35 ms");
        assert_eq!(duration(3e9), "3.00 s");
    }
}
