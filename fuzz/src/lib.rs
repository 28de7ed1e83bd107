//! Shared body of the loader fuzz targets.

use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet, syntax};

/// Decodes each input as a policy file, loads them together, then builds and compiles every
/// relying party. Must never panic.
pub fn run(files: &[&[u8]]) {
    let texts: Vec<String> = files.iter().filter_map(|b| syntax::decode(b).ok()).collect();
    let names: Vec<String> = (0..texts.len()).map(|i| format!("f{i}.xml")).collect();
    let set = PolicySet::from_sources(names.iter().map(String::as_str).zip(texts.iter().map(String::as_str)));
    let mut diags = Diagnostics::default();
    let leaves: Vec<usize> = set.relying_parties().collect();
    for leaf in leaves {
        if let Some(eff) = EffectivePolicy::build(&set, leaf, &mut diags) {
            let _ = CompiledPolicy::compile(&eff.model);
        }
    }
}

/// Splits on NUL bytes into at most `max` files (the last keeps any further NULs).
pub fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
    data.splitn(max, |&b| b == 0).collect()
}
