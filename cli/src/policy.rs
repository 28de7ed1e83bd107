//! `validate`, `merge`, `graph` and `explain`: commands over loaded policy chains.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, ExitCode, Stdio};

use ief_engine::plan::render;
use ief_engine::{CompiledPolicy, Diagnostic, EffectivePolicy, PolicySet, SettingsRequest};

use crate::{Format, GraphFormat, PolicyInput, report};

/// Loaded files, the effective policies of their leaves, and every diagnostic found.
pub(crate) struct Loaded {
    pub(crate) set: PolicySet,
    pub(crate) policies: Vec<EffectivePolicy>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// Loads the inputs and builds the effective policy of every leaf: the relying-party files,
/// or, when there are none, the files no other loaded file extends; and one file of each
/// BasePolicy cycle no leaf reaches (its build reports the cycle).
pub(crate) fn load(input: &PolicyInput) -> Loaded {
    let request =
        SettingsRequest { environment: input.environment.clone(), file: input.settings.clone(), values: Vec::new() };
    let set = PolicySet::load(&input.paths, &request);
    let mut diags = set.diagnostics.clone();
    let bases = set.bases();
    let mut leaves: Vec<usize> = set.relying_parties().collect();
    if leaves.is_empty() {
        let mut is_base = vec![false; set.files.len()];
        for &base in bases.iter().flatten() {
            is_base[base] = true;
        }
        // Files sharing a PolicyId share the first one's mark, as any file naming it extends both.
        leaves = set.firsts().into_iter().enumerate().filter(|&(_, first)| !is_base[first]).map(|(i, _)| i).collect();
    }
    let unreached = cycle_members(&bases, &leaves);
    leaves.extend(unreached);
    if let Some(wanted) = &input.policy {
        leaves.retain(|&i| set.files[i].policy_id.eq_ignore_ascii_case(wanted));
    }
    let policies = leaves.into_iter().filter_map(|leaf| EffectivePolicy::build(&set, leaf, &mut diags)).collect();
    Loaded { diagnostics: diags.into_sorted(), set, policies }
}

/// One file of each BasePolicy cycle that no walk from `leaves` along `bases` (each file's
/// base, [`PolicySet::bases`]) reaches: one walk per unvisited file finds every cycle in
/// linear time.
fn cycle_members(bases: &[Option<usize>], leaves: &[usize]) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        Not,
        OnThisWalk,
        Done,
    }
    let mut seen = vec![Seen::Not; bases.len()];
    for &leaf in leaves {
        let mut at = Some(leaf);
        while let Some(i) = at.filter(|&i| seen[i] == Seen::Not) {
            seen[i] = Seen::Done;
            at = bases[i];
        }
    }
    let mut members = Vec::new();
    for start in 0..bases.len() {
        let mut walk = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at.filter(|&i| seen[i] == Seen::Not) {
            seen[i] = Seen::OnThisWalk;
            walk.push(i);
            at = bases[i];
        }
        // Back on this walk's own path: a cycle none of the earlier walks reached.
        if let Some(i) = at.filter(|&i| seen[i] == Seen::OnThisWalk) {
            members.push(i);
        }
        for i in walk {
            seen[i] = Seen::Done;
        }
    }
    members
}

pub(crate) fn validate(input: &PolicyInput, format: Format) -> Result<ExitCode, String> {
    let loaded = load(input);
    let diags = &loaded.diagnostics;
    match format {
        Format::Json => outln!("{}", report::json(diags, &loaded.set.db)),
        Format::Text => {
            err!("{}", report::text(diags, &loaded.set.db));
            errln!("{} file(s) checked: {}", loaded.set.inputs, report::summary(diags));
        }
    }
    if loaded.set.files.is_empty() && diags.is_empty() {
        let paths: Vec<String> = input.paths.iter().map(|p| p.display().to_string()).collect();
        errln!("no policy file (*.xml) in {}", paths.join(", "));
    }
    let failed = diags.iter().any(Diagnostic::is_error) || loaded.set.files.is_empty();
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The one effective policy a command works on, or a usage error naming the choices.
fn single(input: &PolicyInput) -> Result<(Loaded, usize), ExitCode> {
    let loaded = load(input);
    if loaded.diagnostics.iter().any(Diagnostic::is_error) {
        err!("{}", report::text(&loaded.diagnostics, &loaded.set.db));
        errln!("{}", report::summary(&loaded.diagnostics));
        return Err(ExitCode::from(1));
    }
    match loaded.policies.len() {
        1 => Ok((loaded, 0)),
        0 => {
            errln!("error: no relying-party policy among the inputs");
            Err(ExitCode::from(2))
        }
        _ => {
            let ids: Vec<&str> = loaded.policies.iter().map(|p| p.model.policy_id.as_str()).collect();
            errln!("error: several relying parties are loaded; choose one with --policy ({})", ids.join(", "));
            Err(ExitCode::from(2))
        }
    }
}

pub(crate) fn merge(input: &PolicyInput) -> Result<ExitCode, String> {
    let (loaded, i) = match single(input) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    out!("{}", ief_engine::syntax::write_xml(&loaded.policies[i].tree));
    Ok(ExitCode::SUCCESS)
}

/// The named journey's plan, or the relying party's DefaultUserJourney.
fn journey_plan<'c>(
    policy: &EffectivePolicy,
    compiled: &'c CompiledPolicy,
    journey: Option<&str>,
) -> Result<(String, &'c ief_engine::JourneyPlan), String> {
    let id = journey
        .or_else(|| policy.model.default_journey())
        .ok_or_else(|| "the policy has no DefaultUserJourney; name one with --journey".to_owned())?
        .to_owned();
    let plan = compiled.journey(&id).ok_or_else(|| format!("no user journey or sub journey '{id}'"))?;
    Ok((id, plan))
}

pub(crate) fn graph(
    input: &PolicyInput,
    journey: Option<&str>,
    format: GraphFormat,
    output: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let (loaded, i) = match single(input) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let policy = &loaded.policies[i];
    let compiled = CompiledPolicy::compile(&policy.model);
    let (_, plan) = journey_plan(policy, &compiled, journey)?;
    let bytes = match format {
        GraphFormat::Dot => render::dot(plan).into_bytes(),
        GraphFormat::Mermaid => render::mermaid(plan).into_bytes(),
        GraphFormat::Json => serde_json::to_string_pretty(&render::json(plan)).unwrap_or_default().into_bytes(),
        GraphFormat::Svg => svg(&render::dot(plan))?,
    };
    match output {
        Some(path) => std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => crate::output::stdout_bytes(&bytes),
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders DOT with Graphviz's `dot`, which must be installed.
fn svg(dot: &str) -> Result<Vec<u8>, String> {
    let mut child = Process::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|_| "SVG needs Graphviz: install it (apt-get install graphviz) or use --format dot".to_owned())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("dot failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out.stdout)
}

pub(crate) fn explain(input: &PolicyInput, journey: Option<&str>) -> Result<ExitCode, String> {
    let (loaded, i) = match single(input) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let policy = &loaded.policies[i];
    let compiled = CompiledPolicy::compile(&policy.model);
    let (_, plan) = journey_plan(policy, &compiled, journey)?;
    outln!("Policy {} (chain of {} files)", policy.model.policy_id, policy.chain.len());
    out!("{}", render::explain(&policy.model, plan));
    // Sub journeys the journey calls, once each, in the order of its steps.
    let mut seen = Vec::new();
    for n in plan.graph.node_indices() {
        if let ief_engine::plan::PlanNode::SubJourney { index: Some(i), .. } = &plan.graph[n]
            && !seen.contains(i)
        {
            seen.push(*i);
            out!("{}", render::explain(&policy.model, &compiled.sub_journeys[*i]));
        }
    }
    Ok(ExitCode::SUCCESS)
}
