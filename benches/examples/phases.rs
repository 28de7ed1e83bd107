use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet};
use std::time::Instant;
fn main() {
    for n in [1000usize, 2500, 5000, 10000] {
        let p = ief_benches::generate(n);
        let t = Instant::now();
        let set = PolicySet::from_sources(p.sources());
        let t1 = t.elapsed();
        let leaf = set.relying_parties().next().unwrap();
        let t = Instant::now();
        let mut d = Diagnostics::default();
        let chain = set.chain(leaf, &mut d);
        let tree = ief_engine::merge::merge_chain(chain.iter().map(|&i| &set.files[i].root)).unwrap();
        let tm = t.elapsed();
        let t = Instant::now();
        let e = EffectivePolicy::build(&set, leaf, &mut d).unwrap();
        let t2 = t.elapsed();
        let t = Instant::now();
        let model = ief_engine::model::Policy::lower(&tree);
        let tl = t.elapsed();
        let t = Instant::now();
        ief_engine::validate::validate(&model, &mut d);
        let tv = t.elapsed();
        let t = Instant::now();
        let c = CompiledPolicy::compile(&e.model);
        let t3 = t.elapsed();
        println!(
            "{n}: files {} load {t1:?} build {t2:?} (merge {tm:?} lower {tl:?} validate {tv:?}) compile {t3:?} {}",
            p.files.len(),
            c.journeys.len()
        );
    }
}
