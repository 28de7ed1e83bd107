//! Printing diagnostics: miette reports for people, JSON for scripts.

use std::io::IsTerminal;

use ief_engine::diag::report::Report;
use ief_engine::source::SourceDb;
use ief_engine::{Diagnostic, Severity};
use miette::{GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;

/// One diagnostic as `ief validate --format json` prints it.
#[derive(Serialize, Debug)]
pub(crate) struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: &'static str,
    file: String,
    line: u32,
    column: u32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

pub(crate) fn json(diags: &[Diagnostic], db: &SourceDb) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diags
        .iter()
        .map(|d| {
            let pos = db.position(d.span);
            JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity.as_str(),
                file: db.path(d.span.file).display().to_string(),
                line: pos.line,
                column: pos.column,
                message: &d.message,
                help: d.help.as_deref(),
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned())
}

/// The graphical form, without colour unless standard error is a terminal.
pub(crate) fn text(diags: &[Diagnostic], db: &SourceDb) -> String {
    let theme =
        if std::io::stderr().is_terminal() { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    render(diags, db, GraphicalReportHandler::new_themed(theme).with_width(110))
}

/// Diagnostics rendered per file; the rest are counted (`--format json` lists them all).
pub(crate) const MAX_RENDERED_PER_FILE: usize = 100;

/// Stable text for snapshots: no colour, fixed width. Diagnostics arrive sorted by file.
pub(crate) fn render(diags: &[Diagnostic], db: &SourceDb, handler: GraphicalReportHandler) -> String {
    let mut out = String::new();
    for file in diags.chunk_by(|a, b| a.span.file == b.span.file) {
        for d in file.iter().take(MAX_RENDERED_PER_FILE) {
            let report = Report::new(d, db);
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&format!("{}\n", d.display(db)));
            }
            out.push('\n');
        }
        if let Some(more) = file.len().checked_sub(MAX_RENDERED_PER_FILE).filter(|&n| n > 0) {
            let path = db.path(file[0].span.file).display();
            out.push_str(&format!("... and {more} more in {path} (--format json lists every diagnostic)\n\n"));
        }
    }
    out
}

pub(crate) fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diags.len() - errors;
    format!("{errors} error{}, {warnings} warning{}", plural(errors), plural(warnings))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
