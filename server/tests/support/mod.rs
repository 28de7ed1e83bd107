//! What both server test binaries (`it`, `browser`) set up alike: a server of some policy
//! folders on a free loopback port, over HTTP or HTTPS with the local CA, and the starter pack.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_server::tls::Tls;
use ief_server::{ServeOptions, Server};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) use ief_testkit::process::TempDir;

pub(crate) const CLIENT: &str = ief_server::apps::DEV_CLIENT_ID;
pub(crate) const TENANT: &str = "yourtenant.onmicrosoft.com";
pub(crate) const POLICY: &str = "B2C_1A_signup_signin";
/// The test application's PKCE code verifier.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789";

/// A folder of the shared starter pack.
pub(crate) fn starter_pack(folder: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/policies/starterpack").join(folder)
}

/// A free loopback port, and the base URL of what listens on it: `origin` (such as
/// `http://127.0.0.1` or `https://localhost`) with the port.
pub(crate) async fn listen(origin: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("{origin}:{}", listener.local_addr().expect("addr").port());
    (listener, base)
}

/// The relying parties of `folders` served at `base`, their keys in `keys`, with the options
/// `edit` changes.
pub(crate) fn load(folders: Vec<PathBuf>, base: &str, keys: PathBuf, edit: impl FnOnce(&mut ServeOptions)) -> Server {
    let mut options = ServeOptions::new(folders, base, keys);
    edit(&mut options);
    Server::load(&options).unwrap_or_else(|e| panic!("the policies serve: {e}"))
}

/// `server` over HTTPS on `listener`, its certificate signed by the local CA kept in `ca_dir`:
/// the serving task and the CA's PEM file.
pub(crate) fn serve_tls(server: &Arc<Server>, listener: TcpListener, ca_dir: &Path) -> (JoinHandle<()>, PathBuf) {
    let tls = Tls::local(ca_dir, server.public_host()).expect("a local CA");
    let ca_path = tls.ca_path.clone();
    (tokio::spawn(Arc::clone(server).serve_tls(listener, tls)), ca_path)
}

/// A server of some policy folders over HTTPS on a free loopback port, its certificate from a
/// fresh local CA; it stops when dropped.
pub(crate) struct Https {
    pub(crate) base: String,
    /// The CA's certificate (PEM), for the clients to trust.
    pub(crate) ca_path: PathBuf,
    pub(crate) server: Arc<Server>,
    task: JoinHandle<()>,
    _temp: TempDir,
}

impl Drop for Https {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `folders` at `origin` (`https://localhost`, `https://127.0.0.1`) and a free port, the
/// options changed by `edit`; the keys and the CA in a temporary folder named for `tag`.
pub(crate) async fn serve_https(
    tag: &str,
    origin: &str,
    folders: Vec<PathBuf>,
    edit: impl FnOnce(&mut ServeOptions),
) -> Https {
    let temp = TempDir::new(tag);
    let (listener, base) = listen(origin).await;
    let server = Arc::new(load(folders, &base, temp.0.join("keys"), edit));
    let (task, ca_path) = serve_tls(&server, listener, &temp.0.join("ca"));
    Https { base, ca_path, server, task, _temp: temp }
}

/// Serves `router` on `listener` until the task is aborted.
pub(crate) fn spawn_router(listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The claims of a JWT, unverified (the tests that care verify signatures separately).
pub(crate) fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}
