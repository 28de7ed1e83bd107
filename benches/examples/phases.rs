//! Where the time goes, which criterion's phases do not split: the build phase split into
//! merge, lower and validate, for the MFA starter pack (averaged) and each generated size (one
//! pass); and what validation spends compiling regular expressions.
//!
//! `cargo run --release -p ief-benches --example phases`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ief_engine::model::Policy;
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet, merge, validate};

/// Mean time of `f` over `reps` runs.
fn mean<T>(reps: u32, mut f: impl FnMut() -> T) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    t.elapsed() / reps
}

fn starter_pack() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/policies/starterpack/SocialAndLocalAccountsWithMfa");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the starter pack is not at {} ({e})", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("readable")))
        .collect();
    files.sort();
    let sources = || files.iter().map(|(n, t)| (n.as_str(), t.as_str()));
    let reps = 200;
    let load = mean(reps, || PolicySet::from_sources(sources()));
    let set = PolicySet::from_sources(sources());
    let leaf = set.find("B2C_1A_signup_signin").expect("the relying party");
    let build = mean(reps, || EffectivePolicy::build(&set, leaf, &mut Diagnostics::default()));
    let chain = set.chain(leaf, &mut Diagnostics::default());
    let merged = mean(reps, || merge::merge_chain(chain.iter().map(|&i| &set.files[i].root)));
    let effective = EffectivePolicy::build(&set, leaf, &mut Diagnostics::default()).expect("a chain");
    let lowered = mean(reps, || Policy::lower(&effective.tree));
    let validated = mean(reps, || validate::validate(&effective.model, &mut Diagnostics::default()));
    // The same model without regular expressions, to see what compiling them costs.
    let mut plain = effective.model.clone();
    for ct in &mut plain.claim_types {
        if let Some(r) = &mut ct.restriction {
            r.pattern = None;
        }
    }
    for p in &mut plain.predicates {
        p.parameters.retain(|(id, _)| id != "RegularExpression");
    }
    let plain_validated = mean(reps, || validate::validate(&plain, &mut Diagnostics::default()));
    let compile = mean(reps, || CompiledPolicy::compile(&effective.model));
    println!(
        "starter pack MFA SignUpOrSignin (mean of {reps}): load {load:.1?}, build {build:.1?} (merge {merged:.1?}, \
         lower {lowered:.1?}, validate {validated:.1?}; validate without regexes {plain_validated:.1?}), compile {compile:.1?}"
    );
}

fn main() {
    starter_pack();
    for n in [1_000, 2_500, 5_000, 10_000] {
        let policy = ief_benches::generate(n);
        let t = Instant::now();
        let set = PolicySet::from_sources(policy.sources());
        let load = t.elapsed();
        let leaf = set.relying_parties().next().expect("a relying party");

        let t = Instant::now();
        let mut diags = Diagnostics::default();
        let effective = EffectivePolicy::build(&set, leaf, &mut diags).expect("a chain");
        let build = t.elapsed();
        assert_eq!(diags.error_count(), 0, "the generated policy validates");

        // The build's parts, again one by one.
        let chain = set.chain(leaf, &mut diags);
        let t = Instant::now();
        let tree = merge::merge_chain(chain.iter().map(|&i| &set.files[i].root)).expect("a tree");
        let merged = t.elapsed();
        let t = Instant::now();
        let model = Policy::lower(&tree);
        let lowered = t.elapsed();
        let t = Instant::now();
        validate::validate(&model, &mut diags);
        let validated = t.elapsed();

        let t = Instant::now();
        let compiled = CompiledPolicy::compile(&effective.model);
        let compile = t.elapsed();
        assert_eq!(compiled.journeys.len(), 1);
        println!(
            "{n:>6} steps, {} file(s): load {load:.1?}, build {build:.1?} (merge {merged:.1?}, lower {lowered:.1?}, \
             validate {validated:.1?}), compile {compile:.1?}",
            policy.files.len()
        );
    }
}
