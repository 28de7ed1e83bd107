//! A scenario run through `ief serve` in this process (`ief run --serve`): the scenario's host
//! supplies the server's policies, keys, stubs and clock, and the driver signs in over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ief_scenario::remote::{CodeSource, ScenarioHost};
use ief_scenario::{RunOptions, ScenarioReport};
use ief_server::{ServeOptions, Server};

/// Runs `scenario` against a server on a free loopback port; `keys` is the folder the server
/// would keep keys in that it has to make.
pub async fn run(scenario: &Path, options: &RunOptions, keys: PathBuf) -> Result<ScenarioReport, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr().map_err(|e| e.to_string())?.port());
    let host = ScenarioHost::start(scenario, &base, options).await.map_err(|e| e.to_string())?;
    let mut serve = ServeOptions::new(host.policy_paths(), &base, keys);
    serve.only = host.relying_parties();
    serve.environment = host.environment();
    serve.settings = host.settings();
    serve.trusted_roots = host.trusted_roots();
    serve.key_store = Some(host.keys());
    serve.clock_offset = Some(host.clock_offset());
    let server = Arc::new(Server::load_with(&serve, host.handlers()).map_err(|e| e.to_string())?);
    let directory = server.directory().cloned().ok_or("the server has no directory")?;
    let outbox = Arc::clone(&server);
    let codes: CodeSource = Arc::new(move || outbox.outbox()?.last().map(|c| c.code));
    let serving = tokio::spawn(server.serve_shared(listener));
    let report = host.run(&base, &directory, Some(codes)).await.map_err(|e| e.to_string());
    serving.abort();
    report
}
