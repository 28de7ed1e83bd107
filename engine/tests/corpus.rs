//! The shared corpus: Microsoft's starter packs and the community samples. Both live in
//! `../shared/policies`, beside the repository; without it these tests fail and say so.

use std::path::{Path, PathBuf};

use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet, SettingsRequest};

fn shared_policies() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies");
    assert!(
        dir.is_dir(),
        "the corpus tests need ../shared/policies beside the repository (looked in {}); \
         clone the project next to its shared/ folder",
        dir.display()
    );
    dir
}

fn render(set: &PolicySet, diags: &Diagnostics) -> String {
    diags.iter().map(|d| format!("{}\n", d.display(&set.db))).collect()
}

const PACKS: [&str; 4] = ["LocalAccounts", "SocialAccounts", "SocialAndLocalAccounts", "SocialAndLocalAccountsWithMfa"];

#[test]
fn starter_packs_validate_without_errors_and_their_journeys_compile() {
    let root = shared_policies().join("starterpack");
    let mut relying_parties = 0;
    let mut files = 0;
    for pack in PACKS {
        let set = PolicySet::load(&[root.join(pack)], &SettingsRequest::default());
        files += set.files.len();
        assert!(!set.diagnostics.has_errors(), "{pack}:\n{}", render(&set, &set.diagnostics));
        for leaf in set.relying_parties() {
            relying_parties += 1;
            let mut diags = Diagnostics::default();
            let effective = EffectivePolicy::build(&set, leaf, &mut diags).expect("a chain");
            assert!(!diags.has_errors(), "{pack} {}:\n{}", set.files[leaf].policy_id, render(&set, &diags));
            assert_eq!(effective.chain.len(), 4, "Base <- Localization <- Extensions <- RP");
            let compiled = CompiledPolicy::compile(&effective.model);
            assert!(!compiled.journeys.is_empty());
            for plan in &compiled.journeys {
                let journey = effective.model.journey(&plan.id).expect("planned journeys exist");
                assert_eq!(plan.steps.len(), journey.steps.len());
                assert_eq!(plan.topological_order().len(), plan.graph.node_count(), "{} is acyclic", plan.id);
                assert!(ief_engine::plan::render::dot(plan).contains("digraph"));
                assert!(ief_engine::plan::render::mermaid(plan).starts_with("flowchart"));
            }
            let transforms_ok = compiled.transforms.iter().filter(|t| t.is_some()).count();
            assert_eq!(transforms_ok, effective.model.transformations.len(), "every transformation compiles");
        }
    }
    assert_eq!(files, 23, "all 23 XML files of the four packs load");
    assert_eq!(relying_parties, 11);
}

#[test]
fn probe_samples() {
    let root = shared_policies();
    let mut sets = Vec::new();
    for entry in walk(&root.join("samples")) {
        if entry.extension().is_some_and(|e| e == "xml") {
            let dir = entry.parent().unwrap().to_path_buf();
            if !sets.contains(&dir) {
                sets.push(dir);
            }
        }
    }
    for dir in sets {
        for pack in PACKS {
            let set = PolicySet::load(&[dir.clone(), root.join("starterpack").join(pack)], &SettingsRequest::default());
            let mut all = Diagnostics::default();
            all.extend(set.diagnostics.clone());
            for leaf in set.relying_parties() {
                if !set.db.path(set.files[leaf].file).starts_with(&dir) {
                    continue;
                }
                EffectivePolicy::build(&set, leaf, &mut all);
            }
            let sorted = all.into_sorted();
            let errors: Vec<_> = sorted.iter().filter(|d| d.is_error()).collect();
            eprintln!("{} {pack}: {} errors", dir.strip_prefix(&root).unwrap().display(), errors.len());
            for e in errors.iter().take(4) {
                eprintln!("    {}", e.display(&set.db));
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
