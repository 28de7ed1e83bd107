//! Measuring for `ief bench`: a warm-up, then several samples of many runs each; the median
//! and spread of the time per run, and where that time goes (the slowest transformations of a
//! chain, the executor's time per step of a scenario). Callers print; nothing here does.

use std::path::Path;
use std::time::{Duration, Instant};

use ief_transforms::{ClaimsBag, CompiledTransform, TransformEnv, TransformError};
use serde::{Deserialize, Serialize};

use crate::{Prepared, RunOptions, ScenarioError};

/// How long to warm up and how much to sample.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub warm_up: Duration,
    pub samples: usize,
    /// The time one sample should take; its run count follows from the warm-up's pace.
    pub sample_time: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config { warm_up: Duration::from_millis(500), samples: 20, sample_time: Duration::from_millis(100) }
    }
}

/// One measurement, as printed and as read back for `--baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `transform`, `profile` or `scenario`.
    pub kind: String,
    /// The ClaimsTransformation or TechnicalProfile Id, or the scenario file.
    pub target: String,
    pub samples: usize,
    pub runs_per_sample: u64,
    /// Time per run (a sign-in for a scenario), in nanoseconds.
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
    /// Median absolute deviation of the samples from the median.
    pub mad_ns: f64,
    pub runs_per_second: f64,
    /// Where the time goes, slowest first.
    pub parts: Vec<Part>,
}

/// A transformation of a chain, or a step of a scenario (the executor's time up to a page or
/// the end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub ns_per_run: f64,
    /// Of the parts' total.
    pub share: f64,
}

/// How a measurement compares with a baseline of the same target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// This median over the baseline's: above 1 is slower.
    pub ratio: f64,
    pub max_ratio: f64,
}

impl Comparison {
    pub fn slower(&self) -> bool {
        self.ratio > self.max_ratio
    }
}

impl Report {
    /// Compares medians; a baseline of another kind or target is an error, not a verdict.
    pub fn compare(&self, baseline: &Report, max_ratio: f64) -> Result<Comparison, String> {
        if (baseline.kind.as_str(), baseline.target.as_str()) != (self.kind.as_str(), self.target.as_str()) {
            return Err(format!(
                "the baseline measured {} '{}', not {} '{}'",
                baseline.kind, baseline.target, self.kind, self.target
            ));
        }
        if !(baseline.median_ns > 0.0 && baseline.median_ns.is_finite()) {
            return Err(format!("the baseline's median_ns {} is not a positive time", baseline.median_ns));
        }
        Ok(Comparison { ratio: self.median_ns / baseline.median_ns, max_ratio })
    }
}

/// Told after each sample: (samples done, samples in all).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Times of one run per sample, and the runs each sample made. `sample(n)` makes `n` runs and
/// returns the time they took, leaving out any setup it does between them.
fn measure(config: &Config, progress: Progress<'_>, mut sample: impl FnMut(u64) -> Duration) -> (Vec<f64>, u64) {
    let started = Instant::now();
    let (mut runs, mut spent, mut batch) = (0u64, Duration::ZERO, 1u64);
    loop {
        spent += sample(batch);
        runs += batch;
        if started.elapsed() >= config.warm_up {
            break;
        }
        batch = batch.saturating_mul(2);
    }
    let per_run = spent.as_secs_f64() / runs as f64;
    let runs_per_sample = if per_run > 0.0 { (config.sample_time.as_secs_f64() / per_run) as u64 } else { 1 }.max(1);
    let samples = config.samples.max(1);
    let mut times = Vec::with_capacity(samples);
    for done in 1..=samples {
        times.push(sample(runs_per_sample).as_nanos() as f64 / runs_per_sample as f64);
        progress(done, samples);
    }
    (times, runs_per_sample)
}

fn report(kind: &str, target: &str, mut times: Vec<f64>, runs_per_sample: u64, parts: Vec<Part>) -> Report {
    times.sort_by(f64::total_cmp);
    let median = median(&times);
    let mut deviations: Vec<f64> = times.iter().map(|t| (t - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    Report {
        kind: kind.to_owned(),
        target: target.to_owned(),
        samples: times.len(),
        runs_per_sample,
        median_ns: median,
        min_ns: times.first().copied().unwrap_or_default(),
        max_ns: times.last().copied().unwrap_or_default(),
        mad_ns: self::median(&deviations),
        runs_per_second: if median > 0.0 { 1e9 / median } else { 0.0 },
        parts,
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Parts from (name, total time) over `runs` runs, slowest first.
fn parts(totals: Vec<(String, Duration)>, runs: u64) -> Vec<Part> {
    let sum: f64 = totals.iter().map(|(_, d)| d.as_secs_f64()).sum();
    let mut parts: Vec<Part> = totals
        .into_iter()
        .map(|(name, d)| Part {
            name,
            ns_per_run: d.as_nanos() as f64 / runs.max(1) as f64,
            share: if sum > 0.0 { d.as_secs_f64() / sum } else { 0.0 },
        })
        .collect();
    parts.sort_by(|a, b| b.ns_per_run.total_cmp(&a.ns_per_run));
    parts
}

/// Bags the timed loop starts from at once, so copying the input stays out of the time.
const BATCH: u64 = 1024;

/// Runs `run` on `n` fresh copies of `input`, timing only the runs.
fn over_copies(input: &ClaimsBag, n: u64, mut run: impl FnMut(&mut ClaimsBag)) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let mut bags: Vec<ClaimsBag> = (0..left.min(BATCH)).map(|_| input.clone()).collect();
        left -= bags.len() as u64;
        let started = Instant::now();
        for bag in &mut bags {
            run(bag);
        }
        spent += started.elapsed();
    }
    spent
}

/// A chain that failed on the input: the transformation's Id and its error.
#[derive(Debug)]
pub struct ChainFailed {
    pub transform: String,
    pub error: TransformError,
}

/// What `transforms` measures.
#[derive(Debug, Clone, Copy)]
pub enum Chain<'a> {
    /// One ClaimsTransformation, by Id.
    One(&'a str, &'a CompiledTransform),
    /// A technical profile's output-claims transformations in order, with the time of each.
    Profile(&'a str, &'a [(String, &'a CompiledTransform)]),
}

/// Transformations on `input` (for a profile, the claims it returned); they must succeed once
/// before they are timed.
pub fn transforms(
    what: Chain<'_>,
    input: &ClaimsBag,
    env: &dyn TransformEnv,
    config: &Config,
    progress: Progress<'_>,
) -> Result<Report, ChainFailed> {
    let one;
    let (kind, target, chain) = match what {
        Chain::One(id, t) => {
            one = [(id.to_owned(), t)];
            ("transform", id, &one[..])
        }
        Chain::Profile(id, chain) => ("profile", id, chain),
    };
    let mut bag = input.clone();
    for (id, t) in chain {
        t.run(&mut bag, env).map_err(|error| ChainFailed { transform: id.clone(), error })?;
    }
    let run_all = |bag: &mut ClaimsBag| {
        for (_, t) in chain {
            let _ = t.run(bag, env);
        }
    };
    let (times, runs) = measure(config, progress, |n| over_copies(input, n, run_all));
    if kind == "transform" {
        return Ok(report(kind, target, times, runs, Vec::new()));
    }
    // Each transformation's share, from one more pass timed step by step.
    let mut totals: Vec<(String, Duration)> = chain.iter().map(|(id, _)| (id.clone(), Duration::ZERO)).collect();
    over_copies(input, runs, |bag| {
        for ((_, t), (_, total)) in chain.iter().zip(&mut totals) {
            let started = Instant::now();
            let _ = t.run(bag, env);
            *total += started.elapsed();
        }
    });
    Ok(report(kind, target, times, runs, parts(totals, runs)))
}

/// Sign-ins of a scenario file, deterministic as `ief test` runs them, each with a fresh
/// directory seeded from the scenario (seeding is not timed); policy, keys and providers are
/// made once. Parts are the executor's time to each page and to the end.
pub fn scenario(path: &Path, config: &Config, progress: Progress<'_>) -> Result<Report, ScenarioError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ScenarioError::Setup(e.to_string()))?;
    let options = RunOptions::deterministic();
    let prepared = rt.block_on(Prepared::from_file(path, &options))?;
    // Steps are named after the first sign-in, which must pass.
    let extensions = prepared.extensions()?;
    let mut times = Vec::new();
    let first = rt.block_on(prepared.runs(&extensions, Some(&mut times)))?;
    if let Some(failed) =
        first.iter().find_map(|r| r.expectation_failed.as_ref().map(|e| format!("run '{}': {e}", r.name)))
    {
        return Err(ScenarioError::Setup(format!("the scenario does not pass, so it is not measured: {failed}")));
    }
    let names: Vec<String> = first
        .iter()
        .flat_map(|r| {
            let ends = r.pages.iter().cloned().chain(std::iter::once(r.outcome.clone()));
            ends.enumerate().map(move |(k, end)| format!("{} #{}: to {end}", r.name, k + 1))
        })
        .collect();
    let mut totals: Vec<(String, Duration)> = names.into_iter().map(|n| (n, Duration::ZERO)).collect();
    let mut failure = None;
    let mut counted = 0u64;
    let (samples, runs) = measure(config, progress, |n| {
        let mut spent = Duration::ZERO;
        for _ in 0..n {
            let extensions = match prepared.extensions() {
                Ok(x) => x,
                Err(e) => {
                    failure.get_or_insert(e);
                    continue;
                }
            };
            times.clear();
            let started = Instant::now();
            let result = rt.block_on(prepared.runs(&extensions, Some(&mut times)));
            spent += started.elapsed();
            if let Err(e) = result {
                failure.get_or_insert(e);
            }
            counted += 1;
            for ((_, total), t) in totals.iter_mut().zip(&times) {
                *total += *t;
            }
        }
        spent
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let target = path.display().to_string();
    Ok(report("scenario", &target, samples, runs, parts(totals, counted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(median_ns: f64) -> Report {
        report("transform", "X", vec![median_ns], 1, Vec::new())
    }

    #[test]
    fn median_and_spread_of_samples() {
        let r = report("transform", "X", vec![5.0, 1.0, 3.0, 100.0], 10, Vec::new());
        assert_eq!((r.median_ns, r.min_ns, r.max_ns), (4.0, 1.0, 100.0));
        // Deviations 1, 1, 3, 96: their median.
        assert_eq!(r.mad_ns, 2.0);
        assert_eq!(r.runs_per_second, 2.5e8);
    }

    #[test]
    fn slower_only_beyond_the_ratio() {
        assert!(!at(120.0).compare(&at(100.0), 1.25).unwrap().slower());
        assert!(at(130.0).compare(&at(100.0), 1.25).unwrap().slower());
        let mut other = at(100.0);
        other.target = "Y".to_owned();
        assert!(at(100.0).compare(&other, 1.25).unwrap_err().contains("'Y'"));
        assert!(at(100.0).compare(&at(0.0), 1.25).is_err());
    }

    #[test]
    fn sampling_warms_up_then_reports_each_sample() {
        let config = Config { warm_up: Duration::ZERO, samples: 3, sample_time: Duration::from_micros(10) };
        let mut seen = Vec::new();
        let (times, runs) =
            measure(&config, &mut |done, all| seen.push((done, all)), |n| Duration::from_nanos(n * 100));
        assert_eq!(times, vec![100.0; 3]);
        assert_eq!(runs, 100);
        assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
    }

    #[test]
    fn parts_are_slowest_first_with_shares() {
        let p = parts(vec![("a".into(), Duration::from_nanos(100)), ("b".into(), Duration::from_nanos(300))], 10);
        assert_eq!(p[0].name, "b");
        assert_eq!((p[0].ns_per_run, p[0].share), (30.0, 0.75));
    }
}
