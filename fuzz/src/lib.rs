//! Shared bodies of the fuzz targets.

use ief_engine::diag::report::Report;
use ief_engine::source::SourceDb;
use ief_engine::{CompiledPolicy, Diagnostic, EffectivePolicy, PolicySet, syntax};
use ief_transforms::{
    ClaimId, ClaimSlot, ClaimValue, ClaimsBag, DataType, FixedEnv, ParamLiteral, TransformDecl, TransformError,
};
use miette::{GraphicalReportHandler, GraphicalTheme};

/// Decodes each input as a policy file, loads them together, builds and compiles every
/// relying party, then renders every diagnostic as `ief validate` does (text and JSON).
/// Must never panic.
pub fn run(files: &[&[u8]]) {
    let texts: Vec<String> = files.iter().filter_map(|b| syntax::decode(b).ok()).collect();
    let names: Vec<String> = (0..texts.len()).map(|i| format!("f{i}.xml")).collect();
    let set = PolicySet::from_sources(names.iter().map(String::as_str).zip(texts.iter().map(String::as_str)));
    let mut diags = set.diagnostics.clone();
    let leaves: Vec<usize> = set.relying_parties().collect();
    for leaf in leaves {
        if let Some(eff) = EffectivePolicy::build(&set, leaf, &mut diags) {
            let _ = CompiledPolicy::compile(&eff.model);
        }
    }
    render(&diags.into_sorted(), &set.db);
}

/// Both renderings of the CLI: miette's graphical report and the JSON fields (positions).
fn render(diags: &[Diagnostic], db: &SourceDb) {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(110);
    let mut text = String::new();
    // The CLI renders at most 100 per file; the fuzzer's inputs rarely have more.
    for d in diags.iter().take(200) {
        handler.render_report(&mut text, &Report::new(d, db)).expect("miette renders");
    }
    let json: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let pos = db.position(d.span);
            serde_json::json!({
                "code": d.code.as_str(),
                "file": db.path(d.span.file).display().to_string(),
                "line": pos.line,
                "column": pos.column,
                "message": d.message,
            })
        })
        .collect();
    serde_json::to_string(&json).expect("JSON renders");
}

/// Splits on NUL bytes into at most `max` files (the last keeps any further NULs).
pub fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
    data.splitn(max, |&b| b == 0).collect()
}

/// Runs one claims transformation on string input claims: `inputs` as (slot, value), `params`
/// as (id, value) string literals, `outputs` as (slot, type). Returns the first output's value
/// or the method's error; must never panic.
pub fn transform(
    method: &str,
    inputs: &[(&str, &str)],
    params: &[(&str, &str)],
    outputs: &[(&str, DataType)],
) -> Result<Option<ClaimValue>, TransformError> {
    let slot = |i: usize, slot, data_type| ClaimSlot { slot, claim: ClaimId(i as u32), claim_type: slot, data_type };
    let decl = TransformDecl {
        id: "Fuzzed",
        method,
        inputs: inputs.iter().enumerate().map(|(i, (s, _))| slot(i, s, DataType::String)).collect(),
        params: params
            .iter()
            .map(|&(id, value)| ParamLiteral { id, data_type: Some(DataType::String), value })
            .collect(),
        outputs: outputs.iter().enumerate().map(|(i, &(s, t))| slot(inputs.len() + i, s, t)).collect(),
    };
    let compiled = ief_transforms::compile(&decl).expect("the declaration fits the method");
    let mut bag = ClaimsBag::with_capacity(inputs.len() + outputs.len());
    for (i, (_, value)) in inputs.iter().enumerate() {
        bag.set(ClaimId(i as u32), ClaimValue::String((*value).to_owned()));
    }
    compiled.run(&mut bag, &FixedEnv::default())?;
    Ok(bag.get(ClaimId(inputs.len() as u32)).cloned())
}
