//! What a sign-in runs is what `ief graph` draws. Every scenario (the starter packs', the
//! demo's, the federation and social ones) runs, and each run's path through the plan is checked
//! against the rendered JSON graph of its journeys: every node it entered is drawn, each is
//! reachable along the drawn edges from the one before, and the trace's steps are the path's
//! step nodes, one for one.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use ief_scenario::{RunOptions, parse, run_file};
use serde_json::Value;

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// A rendered graph: node kinds and labels, edges.
struct Drawn {
    nodes: HashMap<u64, (String, String)>,
    edges: HashMap<u64, Vec<u64>>,
}

impl Drawn {
    fn new(json: &Value) -> Drawn {
        let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let id = |v: &Value| v.as_u64().expect("node ids are numbers");
        let nodes = json["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| (id(&n["id"]), (field(n, "kind"), field(n, "label"))));
        let mut edges: HashMap<u64, Vec<u64>> = HashMap::new();
        for e in json["edges"].as_array().expect("edges") {
            edges.entry(id(&e["from"])).or_default().push(id(&e["to"]));
        }
        Drawn { nodes: nodes.collect(), edges }
    }

    fn reaches(&self, from: u64, to: u64) -> bool {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for &t in self.edges.get(&n).into_iter().flatten() {
                if t == to {
                    return true;
                }
                if seen.insert(t) {
                    todo.push(t);
                }
            }
        }
        false
    }

    fn label(&self, n: u64) -> &str {
        self.nodes.get(&n).map_or("?", |(_, l)| l.as_str())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_walks_its_rendered_graph_node_for_node() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("../shared/policies/starterpack").is_dir(),
        "the starter-pack scenarios need ../shared/policies beside the repository"
    );
    let mut files = Vec::new();
    for dir in ["policies/demo", "policies/scenarios", "policies/federation", "policies/social"] {
        yaml_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() >= 22, "found {} scenarios", files.len());
    let mut starter_pack_journeys = BTreeSet::new();
    let mut runs = 0;
    for file in &files {
        let report =
            run_file(file, &RunOptions::deterministic()).await.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // The starter pack a scenario runs: the folder of its policy.
        let text = std::fs::read_to_string(file).expect("readable scenario");
        let policy = parse(&text).expect("a scenario").policy;
        let pack = policy.parent().and_then(Path::file_name).map(|p| p.to_string_lossy().into_owned());
        let drawn: HashMap<&str, Drawn> = report.graphs.iter().map(|(k, v)| (k.as_str(), Drawn::new(v))).collect();
        for run in &report.runs {
            runs += 1;
            let what = format!("{} ({})", file.display(), run.name);
            assert!(!run.path.is_empty(), "{what}: no path");
            let mut last: HashMap<&str, u64> = HashMap::new();
            let mut steps = Vec::new();
            for (journey, node) in &run.path {
                let node = u64::from(*node);
                let graph = drawn.get(journey.as_str()).unwrap_or_else(|| panic!("{what}: {journey} was not rendered"));
                let Some((kind, label)) = graph.nodes.get(&node) else {
                    panic!("{what}: node {node} of {journey} is not in its rendered graph")
                };
                if kind == "start" {
                    // A journey (re)entered from its start.
                    last.remove(journey.as_str());
                }
                if let Some(&before) = last.get(journey.as_str()) {
                    let forward = graph.reaches(before, node);
                    // A page shown again after a failed validation is the one way back.
                    let page_again = kind == "profile" && graph.reaches(node, before);
                    assert!(
                        forward || page_again,
                        "{what}: {journey} went from '{}' to '{label}', which its graph has no path for",
                        graph.label(before)
                    );
                }
                last.insert(journey, node);
                if kind == "step" {
                    let order = label.split('.').next().unwrap_or_default();
                    steps.push(format!("{journey} step {order}"));
                }
                if let Some(pack) =
                    pack.as_ref().filter(|_| file.starts_with(root.join("policies/scenarios/starterpack")))
                {
                    starter_pack_journeys.insert(format!("{pack} {journey}"));
                }
            }
            // Run or skipped, every step the trace names is the path's next step node.
            let traced: Vec<String> = run
                .trace
                .iter()
                .filter(|l| !l.starts_with(' ') && !l.starts_with("journey failed"))
                .filter_map(|l| l.split(':').next().map(str::to_owned))
                .collect();
            assert_eq!(traced, steps, "{what}: the trace's steps and the path's step nodes differ");
        }
    }
    assert!(runs >= 25, "{runs} runs");
    // Every starter-pack journey but RedeemRefreshToken, which starts from a refresh token's
    // claims that a scenario cannot supply.
    let mut expected = BTreeSet::new();
    for pack in ["LocalAccounts", "SocialAndLocalAccounts", "SocialAndLocalAccountsWithMfa", "SocialAccounts"] {
        for journey in ["SignUpOrSignIn", "ProfileEdit", "PasswordReset"] {
            // The social-only pack has no password to reset.
            if !(pack == "SocialAccounts" && journey == "PasswordReset") {
                expected.insert(format!("{pack} {journey}"));
            }
        }
    }
    assert_eq!(starter_pack_journeys, expected, "the starter-pack journeys the scenarios walked");
}
