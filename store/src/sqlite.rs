//! The embedded backend: one SQLite file (`.ief/state.sqlite` for `ief serve`). Every call is
//! one statement, so each change is atomic and a killed process leaves either the old record or
//! the new one. Several processes may open the same file; SQLite serializes their writes.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{BoxFuture, Kind, Record, Store, StoreError};

/// SQLite's `application_id` of an ief state file ("IEFS"), so ief never writes its tables
/// into another program's database.
const APPLICATION_ID: i64 = 0x4945_4653;

/// The schema's migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: [&str; 1] = [include_str!("../migrations/sqlite/0001_entries.sql")];

/// How long a call waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend { backend: "SQLite", message: e.to_string() }
}

/// Creates `path` readable and writable by its owner only, unless it exists: SQLite would create
/// it with the process's umask, and these files hold sign-ins and accounts.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens the state file, creating it (readable by its owner only: it holds sign-ins in
    /// flight) and migrating its schema. Another program's SQLite file is refused.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let file_error = |message: String| StoreError::File { path: path.display().to_string(), message };
        create_private(path).map_err(|e| file_error(e.to_string()))?;
        let conn = Connection::open(path).map_err(|e| file_error(e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        let id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0)).map_err(backend)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |row| row.get(0))
            .map_err(backend)?;
        if id != APPLICATION_ID && (id != 0 || tables != 0) {
            return Err(file_error(
                "an SQLite database, but not ief's state store; give --store a new file".to_owned(),
            ));
        }
        // Readers never wait for the writer; a killed process loses nothing committed.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(())).map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
        SqliteStore::migrate(conn).map_err(|e| file_error(e.to_string()))
    }

    /// A store that lives as long as this value.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::migrate(Connection::open_in_memory().map_err(backend)?)
    }

    fn migrate(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        // IMMEDIATE: of two processes starting at once, one migrates and the other then sees it done.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        let applied: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(backend)?;
        let applied = usize::try_from(applied).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Backend {
                backend: "SQLite",
                message: format!(
                    "the state file has schema version {applied}, newer than this ief's {}; use a newer ief or a new file",
                    MIGRATIONS.len()
                ),
            });
        }
        for sql in &MIGRATIONS[applied..] {
            tx.execute_batch(sql).map_err(backend)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64).map_err(backend)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // Each call is one statement: a panic cannot leave a change half made.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
        Ok(Record { value: row.get(0)?, version: row.get::<_, i64>(1)? as u64, expires: row.get(2)? })
    }
}

/// Runs one statement as blocking work (it may wait for the lock, or for another process's
/// write up to [`BUSY_TIMEOUT`]), so a multi-threaded runtime's other tasks go on meanwhile.
fn run_statement<'a, T: Send + 'a>(
    statement: impl FnOnce() -> rusqlite::Result<T>,
) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(crate::blocking(statement).map_err(backend)))
}

impl Store for SqliteStore {
    fn create<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        run_statement(|| {
            self.lock()
                .query_row(
                    "INSERT INTO entries (kind, key, version, expires, value) VALUES (?1, ?2, 1, ?3, ?4)
                     ON CONFLICT (kind, key) DO UPDATE
                       SET version = entries.version + 1, expires = excluded.expires, value = excluded.value
                       WHERE entries.expires <= ?5
                     RETURNING version",
                    params![kind.as_str(), key, expires, value, now],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map(|v| v.map(|v| v as u64))
        })
    }

    fn get<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        run_statement(|| {
            self.lock()
                .query_row(
                    "SELECT value, version, expires FROM entries WHERE kind = ?1 AND key = ?2 AND expires > ?3",
                    params![kind.as_str(), key, now],
                    SqliteStore::record,
                )
                .optional()
        })
    }

    fn update<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: u64,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        run_statement(|| {
            self.lock()
                .query_row(
                    "UPDATE entries SET version = version + 1, expires = ?4, value = ?5
                     WHERE kind = ?1 AND key = ?2 AND version = ?3 AND expires > ?6
                     RETURNING version",
                    params![kind.as_str(), key, version as i64, expires, value, now],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map(|v| v.map(|v| v as u64))
        })
    }

    fn delete<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: Option<u64>,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        run_statement(|| {
            self.lock()
                .execute(
                    "DELETE FROM entries WHERE kind = ?1 AND key = ?2 AND expires > ?3 AND (?4 IS NULL OR version = ?4)",
                    params![kind.as_str(), key, now, version.map(|v| v as i64)],
                )
                .map(|n| n == 1)
        })
    }

    fn take<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        // An expired record goes too, unreturned.
        run_statement(|| {
            self.lock()
                .query_row(
                    "DELETE FROM entries WHERE kind = ?1 AND key = ?2 RETURNING value, version, expires",
                    params![kind.as_str(), key],
                    SqliteStore::record,
                )
                .optional()
                .map(|r| r.filter(|r| r.expires > now))
        })
    }

    fn expire(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        run_statement(|| self.lock().execute("DELETE FROM entries WHERE expires <= ?1", params![now]).map(|n| n as u64))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn temp_file(tag: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        std::env::temp_dir().join(format!("ief-store-{tag}-{}-{nanos}.sqlite", std::process::id()))
    }

    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_sqlite_store_passes_the_backend_suite() {
        let path = temp_file("suite");
        let _cleanup = Cleanup(path.clone());
        crate::conformance::check(Arc::new(SqliteStore::open(&path).unwrap())).await;
    }

    #[test]
    fn a_statement_waiting_for_another_writer_hands_its_worker_s_other_tasks_on() {
        use std::sync::mpsc::channel;
        let path = temp_file("blocking");
        let _cleanup = Cleanup(path.clone());
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        // SQLite calls the busy handler while the statement waits for the lock: the test commits
        // only once the store's write is known to wait, and the write gives up as BUSY_TIMEOUT would.
        let (waiting, on_wait) = channel();
        let retries = BUSY_TIMEOUT.as_millis() as i32;
        store
            .lock()
            .busy_handler(Some(move |count: i32| {
                if count == 0 {
                    let _ = waiting.send(());
                }
                std::thread::sleep(Duration::from_millis(1));
                count < retries
            }))
            .unwrap();
        // Another process is writing: the store's next write waits for its commit.
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        // One worker: the commit, another task, runs only if the waiting statement hands the
        // worker's queue to another thread; else the write gives up.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("a runtime");
        let written = rt.block_on(async {
            let work = tokio::spawn(async move { store.create(Kind::SignIn, "t", b"state", 100, 0).await });
            on_wait.recv_timeout(BUSY_TIMEOUT).expect("the store's write waits for the lock");
            let commit = tokio::spawn(async move { writer.execute_batch("COMMIT") });
            commit.await.expect("the other task").expect("committed");
            work.await.expect("the store work")
        });
        assert!(written.unwrap().is_some(), "the other task ran while the statement held the only worker");
    }

    #[tokio::test]
    async fn records_outlive_the_connection_and_two_connections_share_them() {
        let path = temp_file("reopen");
        let _cleanup = Cleanup(path.clone());
        let first = SqliteStore::open(&path).unwrap();
        let v = first.create(Kind::SignIn, "t", b"state", 100, 0).await.unwrap().unwrap();
        let second = SqliteStore::open(&path).unwrap();
        assert!(second.update(Kind::SignIn, "t", v, b"next", 100, 0).await.unwrap().is_some());
        assert!(first.update(Kind::SignIn, "t", v, b"lost", 100, 0).await.unwrap().is_none(), "the other won");
        drop((first, second));
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.get(Kind::SignIn, "t", 0).await.unwrap().unwrap().value, b"next");
    }

    #[test]
    fn another_programs_database_is_refused_and_a_newer_schema_named() {
        let path = temp_file("foreign");
        let _cleanup = Cleanup(path.clone());
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE notes (body TEXT);").unwrap();
        let error = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(error.contains("not ief's state store") && error.contains(&path.display().to_string()), "{error}");

        let newer = temp_file("newer");
        let _cleanup_newer = Cleanup(newer.clone());
        drop(SqliteStore::open(&newer).unwrap());
        Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let error = SqliteStore::open(&newer).unwrap_err().to_string();
        assert!(error.contains("schema version 99, newer than this ief's 1"), "{error}");
    }
}
