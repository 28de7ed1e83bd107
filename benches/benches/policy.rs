//! The policy pipeline: load (parse + schema), build (merge + lower + validate), compile (plan),
//! on the MFA starter pack and on generated journeys of 1,000 to 10,000 steps.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ief_benches::{GeneratedPolicy, generate, median};
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};

/// The allocator the `ief` binary compiles policies under (cli/src/main.rs); both sides of every
/// ratio below run under it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PACK: &str = "starterpack/SocialAndLocalAccountsWithMfa";
const RP: &str = "B2C_1A_signup_signin";

/// Every `*.xml` of the pack, read once so that disk I/O is not measured.
fn starter_pack() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies").join(PACK);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the policy bench needs the starter pack at {} ({e}); clone the project next to its shared/ folder",
            dir.display()
        )
    });
    let mut files: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p.display().to_string(), text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no XML files in {}", dir.display());
    files
}

fn load(files: &[(String, String)]) -> PolicySet {
    PolicySet::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
}

fn leaf(set: &PolicySet, policy_id: &str) -> usize {
    set.find(policy_id).unwrap_or_else(|| panic!("{policy_id} is not among the loaded files"))
}

fn build(set: &PolicySet, leaf: usize) -> EffectivePolicy {
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(set, leaf, &mut diags).expect("a chain")
}

/// The whole pipeline, as `ief` runs it for one relying party.
#[inline(never)]
fn pipeline(files: &[(String, String)], policy_id: &str) -> CompiledPolicy {
    let set = load(files);
    let effective = build(&set, leaf(&set, policy_id));
    CompiledPolicy::compile(&effective.model)
}

/// Fails loudly unless the files load, merge, validate and compile without errors.
fn assert_valid(files: &[(String, String)], policy_id: &str) {
    let set = load(files);
    let render = |set: &PolicySet, d: &Diagnostics| -> String {
        d.iter().filter(|d| d.is_error()).take(10).map(|d| format!("{}\n", d.display(&set.db))).collect()
    };
    assert!(!set.diagnostics.has_errors(), "load errors:\n{}", render(&set, &set.diagnostics));
    let mut diags = Diagnostics::default();
    let effective = EffectivePolicy::build(&set, leaf(&set, policy_id), &mut diags).expect("a chain");
    assert_eq!(diags.error_count(), 0, "validation errors:\n{}", render(&set, &diags));
    let compiled = CompiledPolicy::compile(&effective.model);
    assert!(compiled.transforms.iter().all(Option::is_some), "every transformation compiles");
    assert!(!compiled.journeys.is_empty());
}

/// `IEF_BENCH_POLICY_PHASES=1` with `IEF_BENCH_POLICY_STEPS`: the median time of each phase of
/// the pipeline over the runs, to see which one grows faster than the input.
/// With `IEF_BENCH_POLICY_BETWEEN=m`, an `m`-step pipeline runs before each measured one, as
/// the other sizes do in the interleaved ratios (the caches and the allocator's free pages then
/// hold that pipeline's data, not this one's).
fn phases(files: &[(String, String)], policy_id: &str, runs: usize, between: Option<&(GeneratedPolicy, String)>) {
    const NAMES: [&str; 6] = ["load (parse, schema)", "merge", "lower", "validate", "plan", "drop"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    for _ in 0..runs {
        if let Some((other, id)) = between {
            black_box(pipeline(&other.files, id));
        }
        let mut at = Instant::now();
        let mut lap = |phase: usize| {
            times[phase].push(at.elapsed().as_secs_f64() * 1e3);
            at = Instant::now();
        };
        let set = load(files);
        lap(0);
        let chain = set.chain(leaf(&set, policy_id), &mut Diagnostics::default());
        let tree = ief_engine::merge::merge_chain(chain.iter().map(|&i| &set.files[i].root)).expect("a tree");
        lap(1);
        let model = ief_engine::model::Policy::lower(&tree);
        lap(2);
        let mut diags = Diagnostics::default();
        ief_engine::validate::validate(&model, &mut diags);
        lap(3);
        let compiled = CompiledPolicy::compile(&model);
        lap(4);
        drop((compiled, model, tree, set, diags));
        lap(5);
    }
    for (name, t) in NAMES.iter().zip(times) {
        eprintln!("{name}: {:.3} ms (median of {runs})", median(t));
    }
}

fn starter_pack_benches(c: &mut Criterion) {
    // `IEF_BENCH_POLICY_STEPS=n`: one pipeline of `n` steps and exit, for instruction counts
    // (`valgrind --tool=callgrind --toggle-collect='*pipeline*'`) that load does not move;
    // `IEF_BENCH_POLICY_RUNS=k` runs it `k` times (for `perf stat`: page faults, cache misses).
    if let Some(n) = std::env::var("IEF_BENCH_POLICY_STEPS").ok().and_then(|n| n.parse::<usize>().ok()) {
        let runs = std::env::var("IEF_BENCH_POLICY_RUNS").ok().and_then(|k| k.parse::<usize>().ok()).unwrap_or(1);
        let (policy, id) = generated(n);
        if std::env::var_os("IEF_BENCH_POLICY_PHASES").is_some() {
            let between = std::env::var("IEF_BENCH_POLICY_BETWEEN").ok().and_then(|m| m.parse::<usize>().ok());
            let between = between.map(generated);
            phases(&policy.files, &id, runs, between.as_ref());
        } else {
            for _ in 0..runs {
                black_box(pipeline(&policy.files, &id));
            }
        }
        std::process::exit(0);
    }
    let files = starter_pack();
    assert_valid(&files, RP);
    let mut g = c.benchmark_group("starterpack_mfa_signup_signin");
    g.bench_function("full", |b| b.iter(|| pipeline(&files, RP)));
    g.bench_function("1_load_parse_schema", |b| b.iter(|| load(&files)));
    let set = load(&files);
    let rp = leaf(&set, RP);
    g.bench_function("2_merge_lower_validate", |b| b.iter(|| build(&set, rp)));
    let effective = build(&set, rp);
    g.bench_function("3_plan_compile", |b| b.iter(|| CompiledPolicy::compile(&effective.model)));
    g.finish();
}

/// A generated policy of `steps` steps and its relying party's PolicyId.
fn generated(steps: usize) -> (GeneratedPolicy, String) {
    let policy = generate(steps);
    let (name, _) = policy.files.last().expect("a file");
    let id = name.trim_end_matches(".xml").to_owned();
    (policy, id)
}

/// The sizes of the generated journeys; the first is the base of the growth ratios.
const SIZES: [usize; 5] = [1_000, 2_500, 5_000, 10_000, 20_000];

/// Issue #18's linear-compile targets: (steps, largest ratio to the 1,000-step pipeline).
const TARGETS: [(usize, f64); 2] = [(10_000, 11.0), (20_000, 22.0)];

/// The load average, printed beside the figures it may distort.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Each size against 1,000 steps, the sizes alternated in rounds so that load from other
/// processes hits all alike; the median round of each ratio is printed.
fn interleaved_ratios(policies: &[(GeneratedPolicy, String)]) {
    let time = |(p, id): &(GeneratedPolicy, String), runs: u32| {
        let t = Instant::now();
        for _ in 0..runs {
            black_box(pipeline(&p.files, id));
        }
        t.elapsed().as_secs_f64() / f64::from(runs)
    };
    let (base, larger) = policies.split_first().expect("sizes");
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); larger.len()];
    for _ in 0..11 {
        let small = time(base, 10);
        for (r, p) in ratios.iter_mut().zip(larger) {
            r.push(time(p, 1) / small);
        }
    }
    let mut medians = Vec::new();
    for (r, (p, _)) in ratios.into_iter().zip(larger) {
        let median = median(r);
        medians.push((p.steps, median));
        eprintln!(
            "interleaved (median of 11 rounds): {} steps / {} steps = {:.2}x (linear: {:.1}x)",
            p.steps,
            base.0.steps,
            median,
            p.steps as f64 / base.0.steps as f64
        );
    }
    let load = load_average();
    for (steps, target) in TARGETS {
        if let Some((_, median)) = medians.iter().find(|(n, _)| *n == steps) {
            println!(
                "TARGET pipeline {}k vs {}k steps: measured {median:.2}x (target ≤ {target}x) [load average {load}]",
                steps / 1000,
                base.0.steps / 1000
            );
        }
    }
}

fn generated_benches(c: &mut Criterion) {
    let policies: Vec<(GeneratedPolicy, String)> = SIZES
        .iter()
        .map(|&n| {
            let (policy, id) = generated(n);
            assert_valid(&policy.files, &id);
            eprintln!(
                "generated {n} steps: {} file(s), {} KB total, largest {} KB",
                policy.files.len(),
                policy.total_bytes() / 1024,
                policy.largest_file_bytes() / 1024
            );
            (policy, id)
        })
        .collect();
    // `cargo test --benches` runs each function once (no `--bench`): skip the long pass.
    if std::env::args().any(|a| a == "--bench") {
        interleaved_ratios(&policies);
    }
    let mut g = c.benchmark_group("generated_journey");
    // Iterations take up to a second: flat sampling, few samples.
    g.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_secs(1));
    for (policy, id) in &policies {
        let n = policy.steps;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("full", n), policy, |b, p| b.iter(|| pipeline(&p.files, id)));
        if n == 20_000 {
            // The phases at the largest size, to see which one grows.
            g.bench_with_input(BenchmarkId::new("1_load_parse_schema", n), policy, |b, p| b.iter(|| load(&p.files)));
            let set = load(&policy.files);
            let rp = leaf(&set, id);
            g.bench_with_input(BenchmarkId::new("2_merge_lower_validate", n), &set, |b, s| b.iter(|| build(s, rp)));
            let effective = build(&set, rp);
            g.bench_with_input(BenchmarkId::new("3_plan_compile", n), &effective, |b, e| {
                b.iter(|| CompiledPolicy::compile(&e.model))
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = starter_pack_benches, generated_benches }
criterion_main!(benches);
