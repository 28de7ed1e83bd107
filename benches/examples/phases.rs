//! One timed pass per generated size, with the build phase split into merge, lower and
//! validate: a quick look at where the time goes, which criterion's phases do not split.
//!
//! `cargo run --release -p ief-benches --example phases`

use std::time::Instant;

use ief_engine::model::Policy;
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet, merge, validate};

fn main() {
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
