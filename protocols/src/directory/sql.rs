//! The few statements the directory needs, run on either database: SQL written once with
//! PostgreSQL's `$n` parameters (SQLite binds them by name), plain cells back.

use std::ffi::CStr;

use ief_store::pg::tokio_postgres::types::{ToSql, Type};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::store::{DirectoryError, Result};
use ief_store::pg::{GenericClient, PgError, block_on};

/// A statement parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
}

/// A value read back: booleans come as 0 or 1, as SQLite has them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub(crate) fn flag(&self) -> bool {
        matches!(self, Cell::Int(n) if *n != 0)
    }

    pub(crate) fn into_text(self) -> Option<String> {
        match self {
            Cell::Text(text) => Some(text),
            _ => None,
        }
    }

    /// A column that may not be empty; `column` names it if it is.
    pub(crate) fn into_string(self, column: &str) -> Result<String> {
        self.into_text().ok_or_else(|| no_text(column.to_owned()))
    }
}

/// A NOT NULL text column whose cell is not text: a corrupt row.
pub(crate) fn no_text(column: String) -> DirectoryError {
    DirectoryError::Corrupt { name: column, reason: "no text".to_owned() }
}

pub(crate) type Rows = Vec<Vec<Cell>>;

/// One connection (or transaction) of either database.
pub(crate) trait Db {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows>;
    /// The column that orders a table's rows as they were inserted.
    fn insertion_order(&self) -> &'static str;
}

impl dyn Db + '_ {
    /// The first column of the first row, when it is text.
    pub(crate) fn text(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<String>> {
        Ok(self.query(sql, params)?.into_iter().next().and_then(|row| row.into_iter().next()).and_then(Cell::into_text))
    }

    pub(crate) fn flag(&self, sql: &str, params: &[Param<'_>]) -> Result<bool> {
        Ok(self.query(sql, params)?.first().and_then(|row| row.first()).is_some_and(Cell::flag))
    }
}

/// A unique or primary-key constraint refused the write, in either database.
pub(crate) fn is_unique_violation(e: &DirectoryError) -> bool {
    match e {
        DirectoryError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation),
        DirectoryError::Postgres(e) => e.is_unique_violation(),
        _ => false,
    }
}

pub(crate) struct SqliteDb<'c>(pub(crate) &'c Connection);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => rusqlite::ToSql::to_sql(text),
            Param::OptText(text) => rusqlite::ToSql::to_sql(text),
        }
    }
}

/// SQLite's names of the `$n` parameters: SQLite binds `$1` as a named parameter, so a statement
/// is prepared (and cached) as written, with no rewritten copy of its SQL per call.
const SQLITE_PARAMS: [&CStr; 9] = [c"$1", c"$2", c"$3", c"$4", c"$5", c"$6", c"$7", c"$8", c"$9"];

/// Binds `params` to `$1`, `$2`, ...: exactly as many as the statement has.
fn bind(statement: &mut rusqlite::Statement<'_>, params: &[Param<'_>]) -> Result<()> {
    let expected = statement.parameter_count();
    if expected > SQLITE_PARAMS.len() {
        let most = SQLITE_PARAMS.len();
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "a directory statement binds at most {most} parameters ($1 to ${most}); this one has {expected}"
        ))
        .into());
    }
    if params.len() != expected {
        return Err(rusqlite::Error::InvalidParameterCount(params.len(), expected).into());
    }
    for (name, param) in SQLITE_PARAMS.iter().zip(params) {
        statement.raw_bind_parameter(*name, param)?;
    }
    Ok(())
}

impl Db for SqliteDb<'_> {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind(&mut statement, params)?;
        Ok(statement.raw_execute()? as u64)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind(&mut statement, params)?;
        let columns = statement.column_count();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = (0..columns).map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) => Cell::Text(x.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                })
            });
            out.push(cells.collect::<rusqlite::Result<_>>()?);
        }
        Ok(out)
    }

    fn insertion_order(&self) -> &'static str {
        "rowid"
    }
}

pub(crate) struct PgDb<'c, C>(pub(crate) &'c C);

fn pg_params<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(text) => text as &(dyn ToSql + Sync),
            Param::OptText(text) => text as &(dyn ToSql + Sync),
        })
        .collect()
}

fn pg_error(e: ief_store::pg::tokio_postgres::Error) -> DirectoryError {
    DirectoryError::Postgres(PgError::Db(e))
}

impl<C: GenericClient + Sync> Db for PgDb<'_, C> {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        block_on(self.0.execute(sql, &pg_params(params))).map_err(pg_error)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows> {
        let rows = block_on(self.0.query(sql, &pg_params(params))).map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| {
                        let cell = match *column.type_() {
                            Type::BOOL => row.try_get::<_, Option<bool>>(i).map(|v| v.map(i64::from).map(Cell::Int)),
                            Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
                            Type::INT4 => row.try_get::<_, Option<i32>>(i).map(|v| v.map(|n| Cell::Int(n.into()))),
                            _ => row.try_get::<_, Option<String>>(i).map(|v| v.map(Cell::Text)),
                        };
                        Ok(cell.map_err(pg_error)?.unwrap_or(Cell::Null))
                    })
                    .collect()
            })
            .collect()
    }

    fn insertion_order(&self) -> &'static str {
        "seq"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_binds_dollar_parameters_by_number_and_counts_them() {
        let conn = Connection::open_in_memory().unwrap();
        let db: &dyn Db = &SqliteDb(&conn);
        let rows = db.query("SELECT $2 || $1 || $2", &[Param::Text("a"), Param::Text("b")]).unwrap();
        assert_eq!(rows, vec![vec![Cell::Text("bab".to_owned())]]);
        assert!(db.query("SELECT $1, $2", &[Param::Text("a")]).is_err(), "a missing parameter is not NULL");
        assert!(db.execute("SELECT $1", &[Param::Text("a"), Param::Text("b")]).is_err(), "nor is one too many");
        // Ten parameters, ten given: named for what they are, not a count mismatch.
        let ten = [Param::Text("a"); 10];
        let sql = (1..=10).map(|n| format!("${n}")).collect::<Vec<_>>().join(" || ");
        let message = db.query(&format!("SELECT {sql}"), &ten).unwrap_err().to_string();
        assert!(message.contains("binds at most 9 parameters ($1 to $9); this one has 10"), "{message}");
    }
}
