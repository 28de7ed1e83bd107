//! The shared corpus: Microsoft's starter packs and the community samples. Both live in
//! `../shared/policies`, beside the repository; without it these tests fail and say so.

use std::path::{Path, PathBuf};

use ief_engine::model::StepType;
use ief_engine::plan::{JourneyPlan, PlanEdge, PlanNode};
use ief_engine::{CompiledPolicy, Diagnostics, EffectivePolicy, PolicySet, SettingsRequest};
use petgraph::stable_graph::NodeIndex;

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
            for plan in compiled.journeys.iter().chain(&compiled.sub_journeys) {
                walk(&compiled, plan, true);
            }
            let transforms_ok = compiled.transforms.iter().filter(|t| t.is_some()).count();
            assert_eq!(transforms_ok, effective.model.transformations.len(), "every transformation compiles");
        }
    }
    assert_eq!(files, 23, "all 23 XML files of the four packs load");
    assert_eq!(relying_parties, 11);
}

/// Each sample set extends one of the starter packs without saying which; the pack that
/// leaves the fewest errors is the one it was written for. Self-contained sets need none.
#[test]
fn every_sample_set_loads_and_its_problems_are_pinned() {
    let root = shared_policies();
    let mut sets: Vec<PathBuf> = Vec::new();
    for file in files(&root.join("samples")) {
        if file.extension().is_some_and(|e| e == "xml") {
            let dir = file.parent().expect("a file has a parent").to_path_buf();
            if !sets.contains(&dir) {
                sets.push(dir);
            }
        }
    }
    assert!(sets.len() >= 10, "found {} sample sets", sets.len());
    for dir in sets {
        let candidates = std::iter::once(None).chain(PACKS.iter().map(Some));
        let (pack, set, diags) = candidates
            .map(|pack| {
                let mut paths = vec![dir.clone()];
                paths.extend(pack.map(|p| root.join("starterpack").join(p)));
                let set = PolicySet::load(&paths, &SettingsRequest::default());
                let mut diags = set.diagnostics.clone();
                let leaves: Vec<usize> =
                    set.relying_parties().filter(|&i| set.db.path(set.files[i].file).starts_with(&dir)).collect();
                assert!(!leaves.is_empty(), "{} has relying parties", dir.display());
                for leaf in leaves {
                    let effective = EffectivePolicy::build(&set, leaf, &mut diags).expect("a chain");
                    // Plans compile whatever the diagnostics say.
                    let compiled = CompiledPolicy::compile(&effective.model);
                    assert_eq!(compiled.journeys.len(), effective.model.user_journeys.len());
                    for plan in compiled.journeys.iter().chain(&compiled.sub_journeys) {
                        walk(&compiled, plan, false);
                    }
                }
                (pack, set, diags.into_sorted())
            })
            .min_by_key(|(_, _, d)| {
                let unresolved = d.iter().any(|d| d.code == ief_engine::Code::BaseNotFound);
                (unresolved, d.iter().filter(|d| d.is_error()).count())
            })
            .expect("at least one candidate");
        let mut report = format!("starter pack: {}\n", pack.unwrap_or(&"(none, self-contained)"));
        for d in &diags {
            let line = d.display(&set.db).to_string();
            report.push_str(&line.replace(&format!("{}/", root.display()), ""));
            report.push('\n');
        }
        let name = dir.strip_prefix(&root).expect("under the corpus").display().to_string().replace('/', "__");
        insta::assert_snapshot!(name, report);
    }
}

/// Walks a plan the way the executor does and checks what it relies on: every node is drawn,
/// a step's pipelines lead to the next step, references point at what they name. `resolved`:
/// the policy validated without errors, so every reference resolves.
fn walk(compiled: &CompiledPolicy, plan: &JourneyPlan, resolved: bool) {
    let drawn = ief_engine::plan::render::json(plan);
    assert_eq!(drawn["nodes"].as_array().map(Vec::len), Some(plan.graph.node_count()), "{}: every node drawn", plan.id);
    let exchange_id = |n: NodeIndex| match &plan.graph[n] {
        PlanNode::Exchange { id, .. } => id.clone(),
        other => panic!("{}: a choice points at {other:?}", plan.id),
    };
    for (i, &step) in plan.steps.iter().enumerate() {
        let next = plan.steps.get(i + 1).copied().unwrap_or(plan.end);
        let PlanNode::Step { order, step_type, conditions, selection, .. } = &plan.graph[step] else {
            panic!("{}: step {i} is not a step node", plan.id)
        };
        let at = format!("{} step {order}", plan.id);
        if !conditions.is_empty() {
            assert_eq!(
                plan.follow(step, |e| *e == PlanEdge::Skip),
                Some(next),
                "{at}: skipped, it goes on to the next step"
            );
        }
        if resolved {
            assert!(conditions.iter().all(|c| c.claim.is_some()), "{at}: preconditions name known claims");
        }
        let runs: Vec<NodeIndex> = plan
            .graph
            .neighbors(step)
            .filter(|&n| plan.graph.find_edge(step, n).is_some_and(|e| matches!(plan.graph[e], PlanEdge::Runs { .. })))
            .collect();
        match step_type {
            StepType::SendClaims => {
                let [issuer] = runs[..] else { panic!("{at}: one issuer") };
                if let PlanNode::Issuer(r) = &plan.graph[issuer] {
                    assert!(!resolved || r.as_ref().is_some_and(|r| r.index.is_some()), "{at}: the issuer resolves");
                }
            }
            StepType::InvokeSubJourney => {
                for n in runs {
                    let PlanNode::SubJourney { id, index, .. } = &plan.graph[n] else {
                        panic!("{at}: calls a sub journey")
                    };
                    match index {
                        Some(i) => assert_eq!(&compiled.sub_journeys[*i].id, id, "{at}"),
                        None => assert!(!resolved, "{at}: sub journey {id} resolves"),
                    }
                }
            }
            _ => {
                assert_eq!(plan.successor(step), next, "{at}: done, it goes on to the next step");
                for x in runs {
                    assert_eq!(plan.successor(x), next, "{at}: the exchange's pipeline leads to the next step");
                    let PlanNode::Exchange { profile, .. } = &plan.graph[x] else { panic!("{at}: runs an exchange") };
                    assert!(!resolved || profile.index.is_some(), "{at}: profile {} resolves", profile.id);
                    // Input transformations, the profile, validations, output transformations.
                    let mut rank = 0;
                    let mut n = plan.follow(x, |e| *e == PlanEdge::Then);
                    while let Some(node) = n {
                        let r = match &plan.graph[node] {
                            PlanNode::InputTransform(_) => 0,
                            PlanNode::Profile { profile: p, links, .. } => {
                                assert_eq!(p, profile, "{at}: the exchange's own profile");
                                for l in links.iter().filter_map(|l| Some((l, l.target?))) {
                                    assert_eq!(exchange_id(l.1), l.0.exchange, "{at}");
                                }
                                1
                            }
                            PlanNode::Validation(_) => 2,
                            PlanNode::OutputTransform(_) => 3,
                            other => panic!("{at}: {other:?} in a pipeline"),
                        };
                        assert!(r >= rank, "{at}: pipeline order");
                        rank = r;
                        n = plan.follow(node, |e| *e == PlanEdge::Then);
                    }
                }
            }
        }
        if step_type.is_selection() {
            let sel = selection.as_ref().unwrap_or_else(|| panic!("{at}: a selection plan"));
            for b in &sel.buttons {
                match b.target {
                    Some(t) => assert_eq!(exchange_id(t), b.exchange, "{at}"),
                    None => assert!(!resolved, "{at}: button {} is an exchange of the next step", b.exchange),
                }
            }
            if let Some(form) = &sel.sign_in {
                match form.node {
                    Some(node) => assert_eq!(exchange_id(node), form.exchange, "{at}"),
                    None => assert!(!resolved, "{at}: the sign-in form {} runs here", form.exchange),
                }
            }
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("readable corpus").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
