//! `ief serve`: the relying parties under the given folders as a B2C-compatible identity
//! provider on 127.0.0.1, until Ctrl-C or `--for`. Prints each policy's metadata URL and the
//! apps that may sign in.

use std::path::PathBuf;
use std::process::ExitCode;

use ief_server::{ServeOptions, Server};

/// A trusted root is one certificate or a short chain; every input is read with a bound.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Policy files or folders; every relying party in them is served.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// App registrations (YAML: `apps` with client_id, redirect_uris by web/spa/public,
    /// client_secret naming a policy key, implicit, logout_url). Without it, one development
    /// app accepts any loopback redirect URI.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port on 127.0.0.1 (0: an ephemeral port).
    #[arg(long, default_value_t = 5443)]
    port: u16,
    /// The URL applications and browsers use; it fixes the token issuer (default:
    /// https://localhost:PORT, or http:// with --http).
    #[arg(long)]
    public_url: Option<String>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// The local certificate authority of HTTPS, made there once: trust its ca.pem.
    #[arg(long, default_value = ".ief/ca")]
    ca: PathBuf,
    /// Policy keys; the keys the policies name are created there when missing.
    #[arg(long, default_value = ".ief/keys")]
    keys: PathBuf,
    /// The directory's SQLite file (shared with `ief run`, which seeds scenarios' users there),
    /// or a `postgres://user@host:port/database` URL that several `ief serve` processes share.
    #[arg(long, default_value = ".ief/directory.sqlite")]
    directory: PathBuf,
    /// Where sign-ins in flight, SSO sessions, codes and refresh tokens are kept: an SQLite
    /// file (they survive a restart), `memory` (lost at exit), or a
    /// `postgres://user@host:port/database` URL that several `ief serve` processes share.
    #[arg(long, default_value = ".ief/state.sqlite", value_name = "FILE|memory|URL")]
    store: String,
    /// The appsettings.json environment whose PolicySettings fill {Settings:Name}.
    #[arg(long = "env")]
    environment: Option<String>,
    /// The tenant's object id (a GUID) for `tid` and the issuer, over the environment's
    /// TenantObjectId; policies with a TenantObjectId of their own keep it.
    #[arg(long = "tenant-id", value_name = "GUID")]
    tenant_id: Option<String>,
    /// A PEM root certificate to trust when calling identity providers and REST APIs
    /// (repeatable), such as `ief idp serve`'s CA.
    #[arg(long = "trusted-root", value_name = "PEM_FILE")]
    trusted_roots: Vec<PathBuf>,
    /// Stop after this many seconds instead of at Ctrl-C.
    #[arg(long = "for", value_name = "SECONDS")]
    duration: Option<u64>,
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode, String> {
    crate::scenario::private_parent(&args.directory)?;
    let store = open_store(&args.store)?;
    let mut roots = Vec::new();
    for path in &args.trusted_roots {
        let pem = ief_engine::input::read_text_limited(path, MAX_PEM_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("{}: not a PEM certificate", path.display()));
        }
        roots.push(pem);
    }
    // One worker per core: sign-ins share nothing but the store, so a process serves on all cores.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let scheme = if args.http { "http" } else { "https" };
        let public_url = args.public_url.clone().unwrap_or_else(|| format!("{scheme}://localhost:{port}"));
        let options = ServeOptions {
            policy_paths: args.paths.clone(),
            only: Vec::new(),
            public_url,
            config: args.config.clone(),
            keys: args.keys.clone(),
            directory: Some(args.directory.clone()),
            environment: args.environment.clone(),
            settings: args
                .tenant_id
                .iter()
                .map(|id| (ief_engine::settings::TENANT_OBJECT_ID.to_owned(), id.clone()))
                .collect(),
            trusted_roots: roots,
            store: Some(store),
            key_store: None,
            clock_offset: None,
            request_timeout: ief_server::REQUEST_TIMEOUT,
        };
        let mut server = Server::load(&options).map_err(|e| e.to_string())?;
        server.log_requests(std::sync::Arc::new(|r: &ief_server::RequestLog| {
            crate::output::log_line(&format!(
                "{} {} {} {}ms correlation {}",
                r.method, r.path, r.status, r.millis, r.correlation_id
            ));
        }));
        let tls = match args.http {
            true => None,
            false => Some(ief_server::tls::Tls::local(&args.ca, server.public_host()).map_err(|e| e.to_string())?),
        };
        outln!("listening on {scheme}://127.0.0.1:{port}");
        for (policy, metadata) in server.metadata_urls() {
            outln!("policy: {policy}");
            outln!("  metadata: {metadata}");
        }
        for app in server.apps().iter() {
            let kind = if app.loopback { "development app: any loopback redirect URI" } else { app.name.as_str() };
            outln!("app: {} ({kind})", app.client_id);
        }
        outln!("directory: {}", ief_store::pg::redact_url(&args.directory.to_string_lossy()));
        outln!("store: {}", ief_store::pg::redact_url(&args.store));
        if let Some(tls) = &tls {
            outln!("ca: {} (trust it: NODE_EXTRA_CA_CERTS, SSL_CERT_FILE or the system store)", tls.ca_path.display());
        }
        outln!("keys: {}", args.keys.display());
        for warning in server.warnings() {
            crate::output::log_line(&format!("warning: {warning}"));
        }
        let server = std::sync::Arc::new(server);
        // Policies reload when their files change; a load with errors keeps the last good one.
        let watching =
            tokio::spawn(std::sync::Arc::clone(&server).watch(std::sync::Arc::new(|outcome| match outcome {
                Ok(policies) => crate::output::log_line(&format!("reloaded: {}", policies.join(", "))),
                Err(errors) => crate::output::log_line(&format!(
                    "reload refused, still serving the last good policies (also on the page at /):\n{errors}"
                )),
            })));
        let serving = match tls {
            Some(tls) => tokio::spawn(server.serve_tls(listener, tls)),
            None => tokio::spawn(server.serve_shared(listener)),
        };
        let result = crate::idp::wait(args.duration).await;
        serving.abort();
        watching.abort();
        result
    })
}

/// The state store `--store` names.
fn open_store(spec: &str) -> Result<std::sync::Arc<dyn ief_store::Store>, String> {
    if spec == "memory" {
        return Ok(std::sync::Arc::new(ief_store::MemoryStore::new()));
    }
    if ief_store::pg::is_url(spec) {
        return Ok(std::sync::Arc::new(ief_store::PostgresStore::connect(spec).map_err(|e| e.to_string())?));
    }
    let path = std::path::Path::new(spec);
    crate::scenario::private_parent(path)?;
    Ok(std::sync::Arc::new(ief_store::SqliteStore::open(path).map_err(|e| e.to_string())?))
}
