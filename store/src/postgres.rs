//! The shared backend: one PostgreSQL database that every `ief serve` process of a deployment
//! uses (`--store postgres://…`). Every call is one statement, so the database decides races:
//! compare-and-swap is `UPDATE … WHERE version = $n`, a take is `DELETE … RETURNING`, a replay
//! guard is an insert that only an expired row lets through.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use crate::pg::{self, Client, Migration, PgError, block_on};
use crate::{BoxFuture, Kind, Record, Store, StoreError};

/// The store's schema, recorded as component `store` in `schema_version`.
pub(crate) const MIGRATIONS: [Migration; 1] =
    [Migration { version: 1, name: "entries", sql: include_str!("../migrations/postgres/0001_entries.sql") }];

/// One connection and its statements, prepared once.
struct Connection {
    client: Client,
    create: Statement,
    get: Statement,
    update: Statement,
    delete: Statement,
    take: Statement,
    expire: Statement,
}

const CREATE: &str = "INSERT INTO entries (kind, key, version, expires, value)
     VALUES ($1, $2, nextval('entries_version'), $3, $4)
     ON CONFLICT (kind, key) DO UPDATE
       SET version = nextval('entries_version'), expires = excluded.expires, value = excluded.value
       WHERE entries.expires <= $5
     RETURNING version";
const GET: &str = "SELECT value, version, expires FROM entries WHERE kind = $1 AND key = $2 AND expires > $3";
const UPDATE: &str = "UPDATE entries SET version = nextval('entries_version'), value = $4, expires = $5
     WHERE kind = $1 AND key = $2 AND version = $3 AND expires > $6
     RETURNING version";
const DELETE: &str = "DELETE FROM entries
     WHERE kind = $1 AND key = $2 AND expires > $3 AND ($4::BIGINT IS NULL OR version = $4)";
const TAKE: &str =
    "DELETE FROM entries WHERE kind = $1 AND key = $2 AND expires > $3 RETURNING value, version, expires";
const EXPIRE: &str = "DELETE FROM entries WHERE expires <= $1";

pub struct PostgresStore {
    connections: Vec<Connection>,
    next: AtomicUsize,
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { backend: "PostgreSQL", message: e.to_string() }
}

/// A statement's error, worded as [`PgError`] words it.
fn db(e: tokio_postgres::Error) -> StoreError {
    backend(PgError::from(e))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and creates or migrates the
    /// store's table.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let (mut clients, target) = pg::connect(url, pg::CONNECTIONS).map_err(backend)?;
        if let Some(first) = clients.first_mut() {
            pg::migrate(first, "store", &MIGRATIONS).map_err(backend)?;
        }
        let connections = clients
            .into_iter()
            .map(|client| {
                let prepare = |sql| block_on(client.prepare(sql)).map_err(db);
                Ok(Connection {
                    create: prepare(CREATE)?,
                    get: prepare(GET)?,
                    update: prepare(UPDATE)?,
                    delete: prepare(DELETE)?,
                    take: prepare(TAKE)?,
                    expire: prepare(EXPIRE)?,
                    client,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(PostgresStore { connections, next: AtomicUsize::new(0), target })
    }

    /// The next connection in turn: queries on one connection are pipelined, never exclusive.
    fn connection(&self) -> &Connection {
        &self.connections[self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len()]
    }
}

/// The one row of a statement that returns at most one, as what `read` makes of it.
async fn one<T>(
    client: &Client,
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
    read: impl FnOnce(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Option<T>, StoreError> {
    let row = client.query_opt(statement, params).await.map_err(db)?;
    row.as_ref().map(read).transpose().map_err(db)
}

fn version(row: &tokio_postgres::Row) -> Result<u64, tokio_postgres::Error> {
    Ok(row.try_get::<_, i64>(0)? as u64)
}

fn record(row: &tokio_postgres::Row) -> Result<Record, tokio_postgres::Error> {
    Ok(Record { value: row.try_get(0)?, version: row.try_get::<_, i64>(1)? as u64, expires: row.try_get(2)? })
}

impl Store for PostgresStore {
    fn create<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            one(&c.client, &c.create, &[&kind.as_str(), &key, &expires, &value, &now], version).await
        })
    }

    fn get<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            one(&c.client, &c.get, &[&kind.as_str(), &key, &now], record).await
        })
    }

    fn update<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version_now: u64,
        value: &'a [u8],
        expires: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            let Ok(old) = i64::try_from(version_now) else {
                return Ok(None);
            };
            one(&c.client, &c.update, &[&kind.as_str(), &key, &old, &value, &expires, &now], version).await
        })
    }

    fn delete<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
        version: Option<u64>,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            let Ok(version) = version.map(i64::try_from).transpose() else {
                return Ok(false);
            };
            let gone = c.client.execute(&c.delete, &[&kind.as_str(), &key, &now, &version]).await.map_err(db)?;
            Ok(gone > 0)
        })
    }

    fn take<'a>(&'a self, kind: Kind, key: &'a str, now: i64) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            one(&c.client, &c.take, &[&kind.as_str(), &key, &now], record).await
        })
    }

    fn expire(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let c = self.connection();
            c.client.execute(&c.expire, &[&now]).await.map_err(db)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ief_testkit::postgres::PgCluster;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_postgres_store_passes_the_backend_suite() {
        let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("store").unwrap();
        crate::conformance::check(Arc::new(PostgresStore::connect(&url).unwrap())).await;
        drop(cluster);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_processes_share_records_and_exactly_one_redeems_a_code() {
        let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("store_shared").unwrap();
        // Two connections pools on one database, as two `ief serve` processes have.
        let first = Arc::new(PostgresStore::connect(&url).unwrap());
        let second = Arc::new(PostgresStore::connect(&url).unwrap());
        let now = 1_800_000_000;
        let v = first.create(Kind::SignIn, "tx-1", b"page 1", now + 60, now).await.unwrap().unwrap();
        let seen = second.get(Kind::SignIn, "tx-1", now).await.unwrap().unwrap();
        assert_eq!((seen.value.as_slice(), seen.version), (b"page 1".as_slice(), v));
        let v2 = second.update(Kind::SignIn, "tx-1", v, b"page 2", now + 60, now).await.unwrap().unwrap();
        assert_eq!(first.update(Kind::SignIn, "tx-1", v, b"stale", now + 60, now).await.unwrap(), None);
        assert_eq!(first.get(Kind::SignIn, "tx-1", now).await.unwrap().unwrap().version, v2);

        first.create(Kind::Code, "code-1", b"grant", now + 60, now).await.unwrap().unwrap();
        let takers: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { first.clone() } else { second.clone() };
                tokio::spawn(async move { store.take(Kind::Code, "code-1", now).await.unwrap() })
            })
            .collect();
        let mut redeemed = 0;
        for taker in takers {
            redeemed += usize::from(taker.await.unwrap().is_some());
        }
        assert_eq!(redeemed, 1, "a code is redeemed once across processes");
        assert!(second.create(Kind::Replay, "jti-1", b"", now + 60, now).await.unwrap().is_some());
        assert!(first.create(Kind::Replay, "jti-1", b"", now + 60, now).await.unwrap().is_none(), "replay refused");
        // A second start finds the schema in place; the version is recorded once.
        let client = &first.connection().client;
        let row = client.query_one("SELECT COUNT(*) FROM schema_version WHERE component = 'store'", &[]).await.unwrap();
        assert_eq!(row.get::<_, i64>(0), 1);
        assert!(format!("{first:?}").contains("/store_shared_"));
        drop((first, second));
        drop(cluster);
    }
}
