//! PostgreSQL connections for what several `ief serve` processes share (the directory, the
//! server's store): a few connections driven by a thread of their own, used synchronously, and
//! versioned migrations applied at start.
//!
//! The connections run on a private current-thread runtime, so a caller may block on a query
//! from anywhere, also from inside another runtime's task: the query's future only talks to its
//! connection through channels, and [`block_on`] parks the calling thread until it answers.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

pub use tokio_postgres;
pub use tokio_postgres::{Client, GenericClient, Row};
use tokio_postgres::{Config, NoTls};

/// Connections a process keeps open.
pub const CONNECTIONS: usize = 4;
/// A connection attempt or a statement that takes longer fails rather than hanging a request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_TIMEOUT_MS: u32 = 15_000;
/// Serializes migrations of every component when several processes start at once.
const MIGRATION_LOCK: i64 = 0x4945_4653_4348; // "IEFSCH"

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("'{0}' is not a PostgreSQL URL (postgres://user@host:port/database): {1}")]
    Url(String, String),
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error(
        "the database's {component} schema is at version {found}, newer than this ief knows ({known}): use a newer ief"
    )]
    NewerSchema { component: String, found: i64, known: i64 },
    #[error("migration {version} ({name}) of the {component} schema failed: {source}")]
    Migration { component: String, version: i64, name: String, source: tokio_postgres::Error },
}

impl PgError {
    /// A unique or primary-key constraint refused a write: someone else holds the value.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Db(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }
}

/// Whether `text` names a PostgreSQL database rather than a file.
pub fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// One versioned step of a component's schema: its SQL runs once, in order, in a transaction.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A small pool of connections to one database for callers that need one to themselves (a
/// transaction). Cloning shares it.
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    clients: Vec<Mutex<Client>>,
    next: AtomicUsize,
    target: String,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The target names host, port and database; never the password.
        f.debug_struct("Pg").field("target", &self.inner.target).finish_non_exhaustive()
    }
}

/// Opens `count` connections to `url`, driven by a thread of their own that ends when the last
/// client is dropped; also names the target (host:port/database, never the password).
pub fn connect(url: &str, count: usize) -> Result<(Vec<Client>, String), PgError> {
    let mut config: Config =
        url.parse().map_err(|e: tokio_postgres::Error| PgError::Url(redact_url(url), e.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_options().is_none() {
        config.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
    }
    let target = describe(&config);
    let (sender, receiver) = std::sync::mpsc::channel();
    let count = count.max(1);
    let failed = |reason: String| PgError::Connect { target: target.clone(), reason };
    std::thread::Builder::new()
        .name("ief-postgres".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut clients = Vec::with_capacity(count);
                let mut running = Vec::with_capacity(count);
                for _ in 0..count {
                    match config.connect(NoTls).await {
                        Ok((client, connection)) => {
                            clients.push(client);
                            running.push(tokio::spawn(connection));
                        }
                        Err(e) => {
                            let _ = sender.send(Err(e.to_string()));
                            return;
                        }
                    }
                }
                let _ = sender.send(Ok(clients));
                for connection in running {
                    let _ = connection.await;
                }
            });
        })
        .map_err(|e| failed(e.to_string()))?;
    let clients = receiver.recv().map_err(|e| failed(e.to_string()))?.map_err(failed)?;
    Ok((clients, target))
}

/// Brings `component`'s tables up to the last of `migrations` (sorted by version), each step
/// once, recorded in `schema_version`. Several processes may start at once: an advisory lock
/// lets one migrate while the others wait and then find nothing to do.
pub fn migrate(client: &mut Client, component: &str, migrations: &[Migration]) -> Result<(), PgError> {
    let tx = block_on(client.transaction())?;
    block_on(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]))?;
    block_on(tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            component TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            applied TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )",
    ))?;
    let row = block_on(
        tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version WHERE component = $1", &[&component]),
    )?;
    let found: i64 = row.get(0);
    let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if found > known {
        return Err(PgError::NewerSchema { component: component.to_owned(), found, known });
    }
    for migration in migrations.iter().filter(|m| m.version > found) {
        let failed = |source| PgError::Migration {
            component: component.to_owned(),
            version: migration.version,
            name: migration.name.to_owned(),
            source,
        };
        block_on(tx.batch_execute(migration.sql)).map_err(failed)?;
        block_on(tx.execute(
            "INSERT INTO schema_version (component, version, name) VALUES ($1, $2, $3)",
            &[&component, &migration.version, &migration.name],
        ))?;
    }
    block_on(tx.commit())?;
    Ok(())
}

impl Pg {
    /// Opens `connections` connections to `url`, each used by one caller at a time.
    pub fn connect(url: &str, connections: usize) -> Result<Pg, PgError> {
        let (clients, target) = connect(url, connections)?;
        let clients = clients.into_iter().map(Mutex::new).collect();
        Ok(Pg { inner: Arc::new(Inner { clients, next: AtomicUsize::new(0), target }) })
    }

    /// A free connection, else the next in turn once it is free.
    pub fn client(&self) -> MutexGuard<'_, Client> {
        let clients = &self.inner.clients;
        for client in clients {
            if let Ok(guard) = client.try_lock() {
                return guard;
            }
        }
        let turn = self.inner.next.fetch_add(1, Ordering::Relaxed) % clients.len();
        // A panic while holding a client leaves at worst an open transaction, rolled back on drop.
        clients[turn].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`migrate`] on one of the pool's connections.
    pub fn migrate(&self, component: &str, migrations: &[Migration]) -> Result<(), PgError> {
        migrate(&mut self.client(), component, migrations)
    }
}

/// host:port/database, for errors and Debug.
fn describe(config: &Config) -> String {
    let host = config.get_hosts().first().map_or_else(String::new, |h| match h {
        tokio_postgres::config::Host::Tcp(name) => name.clone(),
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
    });
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// A PostgreSQL URL without its password, to show or log; any other text as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://").filter(|_| is_url(url)) else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on this thread, parking it while the future waits. Meant for the futures of a
/// [`Client`], whose connection runs elsewhere.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_errors() {
        assert_eq!(redact_url("postgres://ief:s3cret@db:5432/ief"), "postgres://ief@db:5432/ief");
        assert_eq!(redact_url("postgres://db/ief"), "postgres://db/ief");
        assert_eq!(redact_url(".ief/directory.sqlite"), ".ief/directory.sqlite");
        let err = Pg::connect("postgres://ief:s3cret@db:notaport/ief", 1).unwrap_err().to_string();
        assert!(!err.contains("s3cret") && err.contains("postgres://ief@db:notaport/ief"), "{err}");
        assert!(is_url("postgresql://x/y") && !is_url(".ief/directory.sqlite"));
    }

    #[test]
    fn a_refused_connection_names_the_target_but_not_the_password() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = Pg::connect(&format!("postgres://ief:s3cret@127.0.0.1:{port}/ief"), 1).unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/ief: ")), "{err}");
        assert!(!err.contains("s3cret"));
    }

    #[test]
    fn migrations_run_once_in_order_and_a_newer_schema_is_refused() {
        let cluster = ief_testkit::postgres::PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("migrations").unwrap();
        let steps = [
            Migration { version: 1, name: "table", sql: "CREATE TABLE things (id BIGINT PRIMARY KEY)" },
            Migration { version: 2, name: "column", sql: "ALTER TABLE things ADD COLUMN label TEXT" },
        ];
        // Two processes starting together: both migrate, the steps run once.
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || Pg::connect(&url, 1).and_then(|pg| pg.migrate("test", &steps)))
            })
            .collect();
        for run in runs {
            run.join().unwrap().unwrap();
        }
        let pg = Pg::connect(&url, 2).unwrap();
        pg.migrate("test", &steps).unwrap();
        let client = pg.client();
        block_on(client.execute("INSERT INTO things (id, label) VALUES (1, 'a')", &[])).unwrap();
        let versions: Vec<i64> = block_on(client.query("SELECT version FROM schema_version ORDER BY version", &[]))
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, [1, 2]);
        drop(client);

        let err = pg.migrate("test", &steps[..1]).unwrap_err().to_string();
        assert!(err.contains("test schema is at version 2, newer than this ief knows (1)"), "{err}");
        let broken = [Migration { version: 3, name: "broken", sql: "ALTER TABLE nothing ADD COLUMN x TEXT" }];
        let err = pg.migrate("test", &[steps[0], steps[1], broken[0]]).unwrap_err().to_string();
        assert!(err.starts_with("migration 3 (broken) of the test schema failed"), "{err}");
        let err = block_on(pg.client().execute("INSERT INTO things (id) VALUES (1)", &[])).map_err(PgError::from);
        assert!(err.unwrap_err().is_unique_violation());
    }
}
