//! The user directory: what B2C keeps in its Azure AD tenant, in one SQLite file (the embedded
//! default) or in a PostgreSQL database that several processes share.
//!
//! Tables (created on open; in PostgreSQL by the versioned migrations in
//! `protocols/migrations/directory/`):
//! - `users`: one row per account: `object_id` (GUID), the optional `user_principal_name`
//!   (unique, matched case-insensitively through `upn_key`), the password as an Argon2id PHC
//!   string (never the password itself) and `created` (insertion order for listings).
//! - `attributes`: every other directory attribute (`displayName`, `otherMails`,
//!   `extension_*`, ...) as (name, DataType, JSON value); names match case-insensitively
//!   through `name_key`, as Graph attribute names do.
//! - `sign_in_names`: local-account sign-in names (`emailAddress`, `userName`, ...). A value
//!   belongs to one account only, whatever its type, compared case-insensitively (`value_key`).
//! - `alternative_security_ids`: social identities (issuer, issuerUserId), unique per pair;
//!   the issuer is a domain (case-insensitive), the user id is base64 (case-sensitive).
//!
//! Every change is one transaction, and uniqueness is the database's: two processes creating the
//! same sign-in name at once get one account and one `Conflict`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::NaiveDateTime;
use ief_transforms::{AlternativeSecurityId, ClaimValue, DataType, TransformEnv};
use rusqlite::Connection;

use super::sql::{Cell, Db, Param, PgDb, SqliteDb, is_unique_violation, no_text};
use ief_store::pg::{self, Migration, Pg, PgError};

/// The tables of the PostgreSQL migrations, column for column (a test compares them). `seq`,
/// the insertion order, is SQLite's rowid under a name (`INTEGER PRIMARY KEY`); files made before
/// it was named lack the column, so SQLite orders by `rowid`, which both have.
const SCHEMA: &str = "
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS users (
    object_id TEXT PRIMARY KEY NOT NULL,
    user_principal_name TEXT,
    upn_key TEXT UNIQUE,
    password_hash TEXT,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attributes (
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    data_type TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (object_id, name_key)
);
CREATE TABLE IF NOT EXISTS sign_in_names (
    seq INTEGER PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS alternative_security_ids (
    seq INTEGER PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    issuer_key TEXT NOT NULL,
    issuer_user_id TEXT NOT NULL,
    UNIQUE (issuer_key, issuer_user_id)
);
CREATE INDEX IF NOT EXISTS sign_in_names_object_id ON sign_in_names (object_id);
CREATE INDEX IF NOT EXISTS alternative_security_ids_object_id ON alternative_security_ids (object_id);
CREATE INDEX IF NOT EXISTS users_created ON users (created, object_id);
";

/// The directory's schema in PostgreSQL, one step per change, recorded in `schema_version`.
pub const MIGRATIONS: [Migration; 1] =
    [Migration { version: 1, name: "tables", sql: include_str!("../../migrations/directory/0001_tables.sql") }];

/// Attribute names with their own storage; writing them as plain attributes would bypass
/// uniqueness or, for `password`, store a secret in clear.
const RESERVED: [&str; 7] = [
    "objectId",
    "password",
    "userPrincipalName",
    "signInNames",
    "alternativeSecurityId",
    "alternativeSecurityIds",
    "userIdentities",
];

/// Attributes every new account gets unless given (B2C accounts start enabled).
const ACCOUNT_ENABLED: &str = "accountEnabled";
/// Set on creation and on every password change; the starter pack compares refresh tokens to it.
pub const REFRESH_TOKENS_VALID_FROM: &str = "refreshTokensValidFromDateTime";

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("directory database error: {0}")]
    Postgres(#[from] PgError),
    #[error("no user with objectId '{0}' in the directory")]
    NotFound(String),
    #[error("{0} is already used by another user")]
    Conflict(String),
    #[error("'{0}' is not a plain attribute; it has its own field")]
    ReservedAttribute(String),
    #[error("the directory holds a corrupt value for '{name}': {reason}")]
    Corrupt { name: String, reason: String },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error(
        "{} is an SQLite database, but not an ief directory ({found}); give --directory a new file",
        path.display()
    )]
    Foreign { path: PathBuf, found: String },
}

/// SQLite's `application_id` of an ief directory file ("IEFD"), so ief never writes its tables
/// into another program's database.
const APPLICATION_ID: i64 = 0x4945_4644;

/// The tables of [`SCHEMA`]; a file with exactly these (and no application id) is a directory
/// written before ief marked its files.
const TABLES: [&str; 4] = ["alternative_security_ids", "attributes", "sign_in_names", "users"];

pub type Result<T> = std::result::Result<T, DirectoryError>;

/// What makes an opened database not ief's: another application id, or (unmarked) other tables.
fn foreign(conn: &Connection) -> Result<Option<String>> {
    let id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    if id == APPLICATION_ID {
        return Ok(None);
    }
    if id != 0 {
        return Ok(Some(format!("application_id {id:#x}")));
    }
    let mut query = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables: Vec<String> = query.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok((!tables.is_empty() && tables != TABLES).then(|| format!("its tables: {}", tables.join(", "))))
}

/// A plaintext password on its way to the hasher. Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(text: impl Into<String>) -> Password {
        Password(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Password {
        Password::new(text)
    }
}

/// A local-account sign-in name: `kind` is `emailAddress`, `userName`, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInName {
    pub kind: String,
    pub value: String,
}

impl SignInName {
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> SignInName {
        SignInName { kind: kind.into(), value: value.into() }
    }
}

/// Values to write to an account (all optional): what a create or update changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserData {
    pub user_principal_name: Option<String>,
    /// Each replaces the account's sign-in name of the same kind.
    pub sign_in_names: Vec<SignInName>,
    /// Added to the account's identities.
    pub alternative_security_ids: Vec<AlternativeSecurityId>,
    /// When set, the account's identities become exactly these (Azure AD's `userIdentities`
    /// attribute is written whole, which is how a journey unlinks one).
    pub user_identities: Option<Vec<AlternativeSecurityId>>,
    /// Plain attributes by name; reserved names are refused.
    pub attributes: Vec<(String, ClaimValue)>,
    /// Hashed before it reaches the database.
    pub password: Option<Password>,
}

/// A user a scenario puts in the directory before a run. Its password is given in clear and
/// hashed on insert.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeedUser {
    /// Generated when absent.
    pub object_id: Option<String>,
    pub data: UserData,
}

/// One account as read back. The password hash is never part of it.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub object_id: String,
    pub user_principal_name: Option<String>,
    pub sign_in_names: Vec<SignInName>,
    pub alternative_security_ids: Vec<AlternativeSecurityId>,
    /// In name order.
    pub attributes: Vec<(String, ClaimValue)>,
    pub has_password: bool,
}

impl User {
    /// A plain attribute by name, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&ClaimValue> {
        let key = fold(name);
        self.attributes.iter().find(|(n, _)| fold(n) == key).map(|(_, v)| v)
    }

    /// The sign-in name of `kind` (case-insensitive), or the first one when `kind` is `None`.
    pub fn sign_in_name(&self, kind: Option<&str>) -> Option<&str> {
        self.sign_in_names
            .iter()
            .find(|s| kind.is_none_or(|k| s.kind.eq_ignore_ascii_case(k)))
            .map(|s| s.value.as_str())
    }
}

/// The user store. Cloning shares the same database.
#[derive(Clone)]
pub struct Directory {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Pg),
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Directory {
    /// Opens the directory file, creating it (readable by its owner only, like the keys, as it
    /// holds password hashes and personal data) and its tables when missing. Another program's
    /// SQLite file is refused, not extended. A `postgres://` URL connects instead
    /// ([`Directory::connect`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Directory> {
        let path = path.as_ref();
        if let Some(url) = path.to_str().filter(|text| pg::is_url(text)) {
            return Directory::connect(url);
        }
        let file_error = |e: std::io::Error| DirectoryError::File { path: path.to_owned(), reason: e.to_string() };
        ief_store::create_private(path).map_err(file_error)?;
        let conn = Connection::open(path)?;
        if let Some(found) = foreign(&conn)? {
            return Err(DirectoryError::Foreign { path: path.to_owned(), found });
        }
        Directory::init(conn)
    }

    /// The directory in a PostgreSQL database, which any number of processes may share; its
    /// tables are created or migrated first.
    pub fn connect(url: &str) -> Result<Directory> {
        let pg = Pg::connect(url, pg::CONNECTIONS)?;
        pg.migrate("directory", &MIGRATIONS)?;
        Ok(Directory { backend: Backend::Postgres(pg) })
    }

    /// A directory that lives as long as this value (tests, one-off runs).
    pub fn in_memory() -> Result<Directory> {
        Directory::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Directory> {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Directory { backend: Backend::Sqlite(Arc::new(Mutex::new(conn))) })
    }

    /// Runs `f` on a connection of the directory's database; with `transaction`, as one
    /// transaction that an error rolls back.
    fn run<T>(&self, transaction: bool, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                // A panic while holding the lock cannot leave SQLite inconsistent: each change is
                // a transaction, rolled back when dropped.
                let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                if !transaction {
                    return f(&SqliteDb(&conn));
                }
                let tx = conn.transaction()?;
                let value = f(&SqliteDb(&tx))?;
                tx.commit()?;
                Ok(value)
            }
            Backend::Postgres(pg) => {
                let mut client = pg.client();
                if !transaction {
                    return f(&PgDb(&*client));
                }
                let tx = pg::block_on(client.transaction()).map_err(PgError::from)?;
                let value = f(&PgDb(&tx))?;
                pg::block_on(tx.commit()).map_err(PgError::from)?;
                Ok(value)
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        self.run(false, f)
    }

    fn write<T>(&self, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        self.run(true, f)
    }

    pub fn find_by_object_id(&self, object_id: &str) -> Result<Option<User>> {
        self.read(|db| load_user(db, object_id))
    }

    /// Finds the account with sign-in name `value` (case-insensitive); with `kind`, only a
    /// sign-in name of that kind matches.
    pub fn find_by_sign_in_name(&self, kind: Option<&str>, value: &str) -> Result<Option<User>> {
        self.read(|db| {
            let sql = "SELECT object_id, kind FROM sign_in_names WHERE value_key = $1";
            match pairs(db, sql, &fold(value))?.into_iter().next() {
                Some((id, k)) if kind.is_none_or(|kind| k.eq_ignore_ascii_case(kind)) => load_user(db, &id),
                _ => Ok(None),
            }
        })
    }

    pub fn find_by_alternative_security_id(&self, id: &AlternativeSecurityId) -> Result<Option<User>> {
        self.read(|db| match identity_owner(db, id)? {
            Some(object_id) => load_user(db, &object_id),
            None => Ok(None),
        })
    }

    pub fn find_by_user_principal_name(&self, upn: &str) -> Result<Option<User>> {
        self.read(|db| match upn_owner(db, upn)? {
            Some(object_id) => load_user(db, &object_id),
            None => Ok(None),
        })
    }

    /// Every account, oldest first.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|db| load_users(db, None))
    }

    /// A fresh objectId from the environment's randomness, not yet used in this directory. A
    /// deterministic environment repeats its bytes, so a taken id is stepped until free.
    pub fn new_object_id(&self, env: &dyn TransformEnv) -> Result<String> {
        let mut bytes = [0u8; 16];
        env.fill_random(&mut bytes);
        self.free_object_id(bytes)
    }

    fn free_object_id(&self, bytes: [u8; 16]) -> Result<String> {
        self.read(|db| free_object_id(db, bytes))
    }

    /// Creates an account; `object_id` is generated from `env` when absent. New accounts are
    /// enabled and stamped with `refreshTokensValidFromDateTime` unless `data` says otherwise.
    pub fn create(&self, object_id: Option<&str>, data: &UserData, env: &dyn TransformEnv) -> Result<User> {
        let id = match object_id {
            Some(id) => id.to_owned(),
            None => self.new_object_id(env)?,
        };
        check_attributes(data)?;
        let hash = hashed(data)?;
        self.write(|db| insert(db, &id, data, hash.as_deref(), Some(env.now())))
    }

    /// Puts a scenario's user in the directory. A seed says who exists before a run, so it
    /// replaces any account holding its objectId, sign-in names, identities or UPN: re-running a
    /// scenario on a kept directory file gives the same state. Without an objectId it keeps the
    /// one account it replaces, else takes one from OS randomness. One transaction: a seed that
    /// fails leaves the accounts it would have replaced.
    pub fn seed(&self, user: &SeedUser) -> Result<User> {
        check_attributes(&user.data)?;
        let hash = hashed(&user.data)?;
        let mut random = [0u8; 16];
        if user.object_id.is_none() {
            getrandom::fill(&mut random).map_err(|e| DirectoryError::Random(e.to_string()))?;
        }
        self.write(|db| {
            let owners = owners(db, user)?;
            let id = match (&user.object_id, owners.as_slice()) {
                (Some(id), _) => id.clone(),
                (None, [only]) => only.clone(),
                (None, _) => free_object_id(db, random)?,
            };
            for owner in &owners {
                delete_user(db, owner)?;
            }
            insert(db, &id, &user.data, hash.as_deref(), None)
        })
    }

    /// Writes `data` to an existing account. A password change also moves
    /// `refreshTokensValidFromDateTime` to `now`.
    pub fn update(&self, object_id: &str, data: &UserData, now: Option<NaiveDateTime>) -> Result<User> {
        check_attributes(data)?;
        let hash = hashed(data)?;
        self.write(|db| {
            if !exists(db, object_id)? {
                return Err(DirectoryError::NotFound(object_id.to_owned()));
            }
            if let Some(hash) = &hash {
                set_hash(db, object_id, Some(hash))?;
                if let Some(now) = now {
                    set_attribute(db, object_id, REFRESH_TOKENS_VALID_FROM, &ClaimValue::date_time(now))?;
                }
            }
            apply(db, object_id, data)?;
            load_user(db, object_id)?.ok_or_else(|| DirectoryError::NotFound(object_id.to_owned()))
        })
    }

    /// Clears attributes by name. `password`, `userPrincipalName`, `signInNames.<kind>` (or
    /// all `signInNames`), `alternativeSecurityId(s)` and `userIdentities` clear those fields; `objectId` is
    /// ignored.
    pub fn delete_attributes(&self, object_id: &str, names: &[&str]) -> Result<User> {
        self.write(|db| {
            if !exists(db, object_id)? {
                return Err(DirectoryError::NotFound(object_id.to_owned()));
            }
            let id = Param::Text(object_id);
            for name in names {
                let lower = fold(name);
                match lower.as_str() {
                    "objectid" => {}
                    "password" => {
                        set_hash(db, object_id, None)?;
                    }
                    "userprincipalname" => {
                        db.execute(
                            "UPDATE users SET user_principal_name = NULL, upn_key = NULL WHERE object_id = $1",
                            &[id],
                        )?;
                    }
                    "signinnames" => {
                        db.execute("DELETE FROM sign_in_names WHERE object_id = $1", &[id])?;
                    }
                    "alternativesecurityid" | "alternativesecurityids" | "useridentities" => {
                        db.execute("DELETE FROM alternative_security_ids WHERE object_id = $1", &[id])?;
                    }
                    _ => match lower.strip_prefix("signinnames.") {
                        Some(kind) => {
                            db.execute(
                                "DELETE FROM sign_in_names WHERE object_id = $1 AND lower(kind) = $2",
                                &[id, Param::Text(kind)],
                            )?;
                        }
                        None => {
                            db.execute(
                                "DELETE FROM attributes WHERE object_id = $1 AND name_key = $2",
                                &[id, Param::Text(&lower)],
                            )?;
                        }
                    },
                }
            }
            load_user(db, object_id)?.ok_or_else(|| DirectoryError::NotFound(object_id.to_owned()))
        })
    }

    /// Deletes the account and everything it owns; false when there was none.
    pub fn delete_user(&self, object_id: &str) -> Result<bool> {
        self.write(|db| delete_user(db, object_id))
    }

    pub fn set_password(&self, object_id: &str, password: &Password) -> Result<()> {
        let hash = hash_password(password)?;
        self.write(|db| {
            if set_hash(db, object_id, Some(&hash))? == 0 {
                return Err(DirectoryError::NotFound(object_id.to_owned()));
            }
            Ok(())
        })
    }

    /// Whether `password` is the account's password; false for an account without one.
    pub fn verify_password(&self, object_id: &str, password: &Password) -> Result<bool> {
        let stored = self.password_hash(object_id)?;
        let Some(stored) = stored else {
            return Ok(false);
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| DirectoryError::Corrupt {
            name: format!("password hash of {object_id}"),
            reason: e.to_string(),
        })?;
        Ok(argon2().verify_password(password.expose().as_bytes(), &parsed).is_ok())
    }

    /// The stored PHC string (for checks that no password is kept in clear).
    pub fn password_hash(&self, object_id: &str) -> Result<Option<String>> {
        self.read(|db| {
            let rows = db.query("SELECT password_hash FROM users WHERE object_id = $1", &[Param::Text(object_id)])?;
            let row = rows.into_iter().next().ok_or_else(|| DirectoryError::NotFound(object_id.to_owned()))?;
            Ok(row.into_iter().next().and_then(|c| c.into_text()))
        })
    }
}

/// Steps from `bytes` to an objectId no account has.
fn free_object_id(db: &dyn Db, bytes: [u8; 16]) -> Result<String> {
    let base = u128::from_be_bytes(bytes);
    for step in 0..1024u128 {
        let id = guid(base.wrapping_add(step << 64).to_be_bytes());
        if !exists(db, &id)? {
            return Ok(id);
        }
    }
    Err(DirectoryError::Conflict("every generated objectId".to_owned()))
}

/// The accounts a seed would collide with.
fn owners(db: &dyn Db, user: &SeedUser) -> Result<Vec<String>> {
    let mut owners: Vec<String> = Vec::new();
    let mut add = |id: Option<String>| {
        if let Some(id) = id.filter(|id| !owners.contains(id)) {
            owners.push(id);
        }
    };
    if let Some(id) = &user.object_id {
        add(exists(db, id)?.then(|| id.clone()));
    }
    if let Some(upn) = &user.data.user_principal_name {
        add(upn_owner(db, upn)?);
    }
    for name in &user.data.sign_in_names {
        add(sign_in_name_owner(db, &fold(&name.value))?);
    }
    for alt in &user.data.alternative_security_ids {
        add(identity_owner(db, alt)?);
    }
    Ok(owners)
}

/// The account's new password hash, made before a connection is taken: Argon2 is deliberately
/// slow.
fn hashed(data: &UserData) -> Result<Option<String>> {
    data.password.as_ref().map(hash_password).transpose()
}

/// Writes a new account with its attributes, sign-in names and identities.
fn insert(
    db: &dyn Db,
    object_id: &str,
    data: &UserData,
    hash: Option<&str>,
    now: Option<NaiveDateTime>,
) -> Result<User> {
    db.execute(
        "INSERT INTO users (object_id, password_hash, created)
         VALUES ($1, $2, (SELECT COALESCE(MAX(created), 0) + 1 FROM users))",
        &[Param::Text(object_id), Param::OptText(hash)],
    )
    .map_err(|e| conflict(e, || format!("objectId '{object_id}'")))?;
    if !data.attributes.iter().any(|(n, _)| n.eq_ignore_ascii_case(ACCOUNT_ENABLED)) {
        set_attribute(db, object_id, ACCOUNT_ENABLED, &ClaimValue::Boolean(true))?;
    }
    if let Some(now) = now {
        set_attribute(db, object_id, REFRESH_TOKENS_VALID_FROM, &ClaimValue::date_time(now))?;
    }
    apply(db, object_id, data)?;
    load_user(db, object_id)?.ok_or_else(|| DirectoryError::NotFound(object_id.to_owned()))
}

fn delete_user(db: &dyn Db, object_id: &str) -> Result<bool> {
    Ok(db.execute("DELETE FROM users WHERE object_id = $1", &[Param::Text(object_id)])? > 0)
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hash_password(password: &Password) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DirectoryError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DirectoryError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::Hash(e.to_string()))
}

/// The case-insensitive key of a name or sign-in value.
fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

/// Formats 16 random bytes as a version-4 GUID.
fn guid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn check_attributes(data: &UserData) -> Result<()> {
    for (name, _) in &data.attributes {
        let lower = fold(name);
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&lower)) || lower.starts_with("signinnames.") {
            return Err(DirectoryError::ReservedAttribute(name.clone()));
        }
    }
    Ok(())
}

fn conflict(e: DirectoryError, what: impl FnOnce() -> String) -> DirectoryError {
    if is_unique_violation(&e) { DirectoryError::Conflict(what()) } else { e }
}

fn exists(db: &dyn Db, object_id: &str) -> Result<bool> {
    db.flag("SELECT EXISTS(SELECT 1 FROM users WHERE object_id = $1)", &[Param::Text(object_id)])
}

fn set_hash(db: &dyn Db, object_id: &str, hash: Option<&str>) -> Result<u64> {
    db.execute(
        "UPDATE users SET password_hash = $2 WHERE object_id = $1",
        &[Param::Text(object_id), Param::OptText(hash)],
    )
}

fn upn_owner(db: &dyn Db, upn: &str) -> Result<Option<String>> {
    db.text("SELECT object_id FROM users WHERE upn_key = $1", &[Param::Text(&fold(upn))])
}

fn sign_in_name_owner(db: &dyn Db, key: &str) -> Result<Option<String>> {
    db.text("SELECT object_id FROM sign_in_names WHERE value_key = $1", &[Param::Text(key)])
}

fn identity_owner(db: &dyn Db, id: &AlternativeSecurityId) -> Result<Option<String>> {
    db.text(
        "SELECT object_id FROM alternative_security_ids WHERE issuer_key = $1 AND issuer_user_id = $2",
        &[Param::Text(&fold(&id.issuer)), Param::Text(&id.issuer_user_id)],
    )
}

fn set_attribute(db: &dyn Db, object_id: &str, name: &str, value: &ClaimValue) -> Result<()> {
    let params = &[
        Param::Text(object_id),
        Param::Text(name),
        Param::Text(&fold(name)),
        Param::Text(value.data_type().as_str()),
        Param::Text(&value.to_json().to_string()),
    ];
    db.execute(
        "INSERT INTO attributes (object_id, name, name_key, data_type, value) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (object_id, name_key) DO UPDATE SET name = $2, data_type = $4, value = $5",
        params,
    )?;
    Ok(())
}

fn apply(db: &dyn Db, object_id: &str, data: &UserData) -> Result<()> {
    let id = Param::Text(object_id);
    if let Some(upn) = &data.user_principal_name {
        db.execute(
            "UPDATE users SET user_principal_name = $2, upn_key = $3 WHERE object_id = $1",
            &[id, Param::Text(upn), Param::Text(&fold(upn))],
        )
        .map_err(|e| conflict(e, || format!("userPrincipalName '{upn}'")))?;
    }
    for name in &data.sign_in_names {
        let key = fold(&name.value);
        let taken = || DirectoryError::Conflict(format!("sign-in name '{}'", name.value));
        if sign_in_name_owner(db, &key)?.is_some_and(|owner| owner != object_id) {
            return Err(taken());
        }
        // One sign-in name per kind; the same value may move to another kind.
        db.execute(
            "DELETE FROM sign_in_names WHERE object_id = $1 AND (lower(kind) = lower($2) OR value_key = $3)",
            &[id, Param::Text(&name.kind), Param::Text(&key)],
        )?;
        // Another process may take the name between the check and here: the unique key decides.
        db.execute(
            "INSERT INTO sign_in_names (object_id, kind, value, value_key) VALUES ($1, $2, $3, $4)",
            &[id, Param::Text(&name.kind), Param::Text(&name.value), Param::Text(&key)],
        )
        .map_err(|e| conflict(e, || format!("sign-in name '{}'", name.value)))?;
    }
    if let Some(ids) = &data.user_identities {
        db.execute("DELETE FROM alternative_security_ids WHERE object_id = $1", &[id])?;
        add_identities(db, object_id, ids)?;
    }
    add_identities(db, object_id, &data.alternative_security_ids)?;
    for (name, value) in &data.attributes {
        set_attribute(db, object_id, name, value)?;
    }
    Ok(())
}

/// Adds identities the account does not have yet; one another account holds is a conflict.
fn add_identities(db: &dyn Db, object_id: &str, ids: &[AlternativeSecurityId]) -> Result<()> {
    for id in ids {
        let taken = || format!("alternativeSecurityId (issuer '{}', issuerUserId '{}')", id.issuer, id.issuer_user_id);
        match identity_owner(db, id)? {
            Some(owner) if owner == object_id => {}
            Some(_) => return Err(DirectoryError::Conflict(taken())),
            None => {
                db.execute(
                    "INSERT INTO alternative_security_ids (object_id, issuer, issuer_key, issuer_user_id)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        Param::Text(object_id),
                        Param::Text(&id.issuer),
                        Param::Text(&fold(&id.issuer)),
                        Param::Text(&id.issuer_user_id),
                    ],
                )
                .map_err(|e| conflict(e, taken))?;
            }
        }
    }
    Ok(())
}

/// The rows of `sql` (one text parameter) as pairs of text.
fn pairs(db: &dyn Db, sql: &str, param: &str) -> Result<Vec<(String, String)>> {
    db.query(sql, &[Param::Text(param)])?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let first = cells.next().map_or(Ok(String::new()), |c| c.into_string("first column"))?;
            let second = cells.next().map_or(Ok(String::new()), |c| c.into_string("second column"))?;
            Ok((first, second))
        })
        .collect()
}

fn load_user(db: &dyn Db, object_id: &str) -> Result<Option<User>> {
    Ok(load_users(db, Some(object_id))?.pop())
}

/// The account `one`, or every account oldest first: four queries whatever their number (one
/// when there is none).
fn load_users(db: &dyn Db, one: Option<&str>) -> Result<Vec<User>> {
    let (filter, params) = match one {
        Some(id) => ("WHERE object_id = $1", vec![Param::Text(id)]),
        None => ("", Vec::new()),
    };
    let rows = db.query(
        &format!(
            "SELECT object_id, user_principal_name, password_hash IS NOT NULL FROM users {filter}
             ORDER BY created, object_id"
        ),
        &params,
    )?;
    // No account: the other three tables have nothing for it.
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // A cell of a NOT NULL text column that is not text is a corrupt row, never "".
    let text = |cells: &mut std::vec::IntoIter<Cell>, table: &str, column: &str| {
        cells.next().and_then(Cell::into_text).ok_or_else(|| no_text(format!("{table}.{column}")))
    };
    // Each account's rows of `table`, its `columns` in `order`.
    let grouped = |table: &str, columns: &[&str], order: &str| -> Result<HashMap<String, Vec<Vec<String>>>> {
        let sql = format!("SELECT object_id, {} FROM {table} {filter} ORDER BY {order}", columns.join(", "));
        let mut by_user: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for row in db.query(&sql, &params)? {
            let mut cells = row.into_iter();
            let id = text(&mut cells, table, "object_id")?;
            let values = columns.iter().map(|c| text(&mut cells, table, c)).collect::<Result<_>>()?;
            by_user.entry(id).or_default().push(values);
        }
        Ok(by_user)
    };
    let order = db.insertion_order();
    let mut names = grouped("sign_in_names", &["kind", "value"], order)?;
    let mut ids = grouped("alternative_security_ids", &["issuer", "issuer_user_id"], order)?;
    let mut attributes = grouped("attributes", &["name", "data_type", "value"], "name_key")?;
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = row.into_iter();
        let object_id = text(&mut cells, "users", "object_id")?;
        let user_principal_name = match cells.next() {
            None | Some(Cell::Null) => None,
            Some(cell) => Some(cell.into_string("users.user_principal_name")?),
        };
        let has_password = cells.next().is_some_and(|c| c.flag());
        let take = |table: &mut HashMap<String, Vec<Vec<String>>>| table.remove(&object_id).unwrap_or_default();
        let sign_in_names = take(&mut names)
            .into_iter()
            .map(|row| {
                let [kind, value] = <[String; 2]>::try_from(row).unwrap_or_default();
                SignInName { kind, value }
            })
            .collect();
        let alternative_security_ids = take(&mut ids)
            .into_iter()
            .map(|row| {
                let [issuer, issuer_user_id] = <[String; 2]>::try_from(row).unwrap_or_default();
                AlternativeSecurityId { issuer, issuer_user_id }
            })
            .collect();
        let attributes = take(&mut attributes).into_iter().map(attribute).collect::<Result<_>>()?;
        users.push(User {
            object_id,
            user_principal_name,
            sign_in_names,
            alternative_security_ids,
            attributes,
            has_password,
        });
    }
    Ok(users)
}

/// An attribute row's (name, DataType, JSON value) read back as a claim value.
fn attribute(row: Vec<String>) -> Result<(String, ClaimValue)> {
    let [name, data_type, json] = <[String; 3]>::try_from(row).unwrap_or_default();
    let corrupt = |reason: String| DirectoryError::Corrupt { name: name.clone(), reason };
    let data_type = DataType::parse(&data_type).ok_or_else(|| corrupt(format!("unknown DataType '{data_type}'")))?;
    let json: serde_json::Value = serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?;
    let value = ClaimValue::from_json(data_type, &json).map_err(|e| corrupt(e.to_string()))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use ief_testkit::postgres::PgCluster;
    use ief_transforms::FixedEnv;

    use super::*;

    fn alice() -> UserData {
        UserData {
            sign_in_names: vec![SignInName::new("emailAddress", "Alice@Contoso.com")],
            attributes: vec![
                ("displayName".to_owned(), ClaimValue::String("Alice".to_owned())),
                (
                    "otherMails".to_owned(),
                    ClaimValue::StringCollection(vec!["a@x.org".to_owned(), "b@y.org".to_owned()]),
                ),
            ],
            password: Some(Password::new("Passw0rd!")),
            ..UserData::default()
        }
    }

    /// The one number `sql` counts, read through the directory's own connection.
    fn count(dir: &Directory, sql: &str) -> i64 {
        let rows = dir.read(|db| db.query(sql, &[])).unwrap();
        match rows.first().and_then(|r| r.first()) {
            Some(Cell::Int(n)) => *n,
            other => panic!("{sql} counted {other:?}"),
        }
    }

    /// An in-memory SQLite directory, and one in a fresh database of the private PostgreSQL
    /// cluster (held while its directory is in use).
    fn backends() -> Vec<(Directory, Option<Arc<PgCluster>>)> {
        let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("directory").unwrap();
        vec![(Directory::in_memory().unwrap(), None), (Directory::connect(&url).unwrap(), Some(cluster))]
    }

    fn facebook(id: &str) -> AlternativeSecurityId {
        AlternativeSecurityId { issuer: "facebook.com".to_owned(), issuer_user_id: id.to_owned() }
    }

    #[test]
    fn create_then_find_by_every_key() {
        for (dir, _cluster) in backends() {
            let env = FixedEnv::default();
            let mut data = alice();
            data.user_principal_name = Some("alice@contoso.onmicrosoft.com".to_owned());
            data.alternative_security_ids = vec![facebook("MTIz")];
            let user = dir.create(None, &data, &env).unwrap();
            assert_eq!(user.object_id.len(), 36);
            assert_eq!(&user.object_id[14..15], "4", "a version-4 GUID: {}", user.object_id);
            assert_eq!(user.sign_in_name(Some("emailAddress")), Some("Alice@Contoso.com"));
            assert_eq!(user.attribute("DISPLAYNAME"), Some(&ClaimValue::String("Alice".to_owned())));
            assert_eq!(user.attribute("accountEnabled"), Some(&ClaimValue::Boolean(true)));
            assert_eq!(user.attribute(REFRESH_TOKENS_VALID_FROM), Some(&ClaimValue::date_time(env.now)));
            assert!(user.has_password);

            let by_id = dir.find_by_object_id(&user.object_id).unwrap().unwrap();
            assert_eq!(by_id, user);
            assert_eq!(
                dir.find_by_sign_in_name(Some("emailaddress"), "alice@contoso.COM").unwrap(),
                Some(user.clone())
            );
            assert_eq!(dir.find_by_sign_in_name(None, "ALICE@contoso.com").unwrap(), Some(user.clone()));
            assert_eq!(dir.find_by_sign_in_name(Some("userName"), "alice@contoso.com").unwrap(), None);
            assert_eq!(dir.find_by_alternative_security_id(&facebook("MTIz")).unwrap(), Some(user.clone()));
            let upper_issuer =
                AlternativeSecurityId { issuer: "FaceBook.com".to_owned(), issuer_user_id: "MTIz".to_owned() };
            assert_eq!(dir.find_by_alternative_security_id(&upper_issuer).unwrap(), Some(user.clone()));
            assert_eq!(
                dir.find_by_alternative_security_id(&facebook("mtiz")).unwrap(),
                None,
                "user ids are case-sensitive"
            );
            assert_eq!(dir.find_by_user_principal_name("ALICE@contoso.onmicrosoft.com").unwrap(), Some(user.clone()));
            assert_eq!(dir.find_by_object_id("00000000-0000-4000-8000-000000000000").unwrap(), None);
        }
    }

    #[test]
    fn sign_in_names_and_identities_are_unique() {
        for (dir, _cluster) in backends() {
            let env = FixedEnv::default();
            let first = dir.create(None, &alice(), &env).unwrap();
            // Same bytes from the fixed environment, yet a different id.
            let mut other = UserData {
                sign_in_names: vec![SignInName::new("userName", "ALICE@contoso.com")],
                ..UserData::default()
            };
            let err = dir.create(None, &other, &env).unwrap_err();
            assert!(matches!(&err, DirectoryError::Conflict(what) if what.contains("ALICE@contoso.com")), "{err}");
            assert_eq!(dir.users().unwrap().len(), 1, "the failed create left nothing behind");

            other.sign_in_names = vec![SignInName::new("userName", "bob")];
            other.alternative_security_ids = vec![facebook("Qk9C")];
            let second = dir.create(None, &other, &env).unwrap();
            assert_ne!(second.object_id, first.object_id);

            let steal = UserData { alternative_security_ids: vec![facebook("Qk9C")], ..UserData::default() };
            assert!(matches!(dir.update(&first.object_id, &steal, None), Err(DirectoryError::Conflict(_))));
            let steal = UserData { sign_in_names: vec![SignInName::new("emailAddress", "BOB")], ..UserData::default() };
            assert!(matches!(dir.update(&first.object_id, &steal, None), Err(DirectoryError::Conflict(_))));

            let upn = UserData { user_principal_name: Some("x@t.onmicrosoft.com".to_owned()), ..UserData::default() };
            dir.update(&first.object_id, &upn, None).unwrap();
            let upn = UserData { user_principal_name: Some("X@T.onmicrosoft.com".to_owned()), ..UserData::default() };
            assert!(matches!(dir.update(&second.object_id, &upn, None), Err(DirectoryError::Conflict(_))));
            assert_eq!(
                dir.users().unwrap().iter().map(|u| &u.object_id).collect::<Vec<_>>(),
                [&first.object_id, &second.object_id]
            );
        }
    }

    #[test]
    fn update_replaces_attributes_and_sign_in_names_of_the_same_kind() {
        for (dir, _cluster) in backends() {
            let user = dir.create(Some("id-1"), &alice(), &FixedEnv::default()).unwrap();
            let change = UserData {
                sign_in_names: vec![SignInName::new("emailAddress", "alice@fabrikam.com")],
                attributes: vec![
                    ("DisplayName".to_owned(), ClaimValue::String("Alice B".to_owned())),
                    ("extension_loyalty".to_owned(), ClaimValue::Int(3)),
                ],
                ..UserData::default()
            };
            let updated = dir.update(&user.object_id, &change, None).unwrap();
            assert_eq!(updated.sign_in_names, [SignInName::new("emailAddress", "alice@fabrikam.com")]);
            assert_eq!(updated.attribute("displayName"), Some(&ClaimValue::String("Alice B".to_owned())));
            assert_eq!(updated.attribute("extension_loyalty"), Some(&ClaimValue::Int(3)));
            assert_eq!(dir.find_by_sign_in_name(None, "alice@contoso.com").unwrap(), None, "the old name is free");
            assert!(matches!(dir.update("nobody", &change, None), Err(DirectoryError::NotFound(id)) if id == "nobody"));
        }
    }

    #[test]
    fn reserved_names_are_not_plain_attributes() {
        for (dir, _cluster) in backends() {
            for name in ["password", "objectId", "signInNames.emailAddress", "UserPrincipalName"] {
                let data = UserData {
                    attributes: vec![(name.to_owned(), ClaimValue::String("x".to_owned()))],
                    ..UserData::default()
                };
                let err = dir.create(None, &data, &FixedEnv::default()).unwrap_err();
                assert!(matches!(&err, DirectoryError::ReservedAttribute(n) if n == name), "{err}");
            }
            assert!(dir.users().unwrap().is_empty());
        }
    }

    #[test]
    fn delete_attributes_and_users() {
        for (dir, _cluster) in backends() {
            let mut data = alice();
            data.alternative_security_ids = vec![facebook("MTIz")];
            data.user_principal_name = Some("a@t.onmicrosoft.com".to_owned());
            let user = dir.create(Some("id-1"), &data, &FixedEnv::default()).unwrap();
            let after = dir
                .delete_attributes(
                    &user.object_id,
                    &[
                        "otherMails",
                        "signInNames.emailAddress",
                        "alternativeSecurityId",
                        "password",
                        "userPrincipalName",
                        "objectId",
                    ],
                )
                .unwrap();
            assert_eq!(after.attribute("otherMails"), None);
            assert_eq!(after.attribute("displayName"), Some(&ClaimValue::String("Alice".to_owned())));
            assert!(after.sign_in_names.is_empty());
            assert!(after.alternative_security_ids.is_empty());
            assert_eq!(after.user_principal_name, None);
            assert!(!after.has_password);
            assert!(!dir.verify_password("id-1", &Password::new("Passw0rd!")).unwrap());

            assert!(dir.delete_user("id-1").unwrap());
            assert!(!dir.delete_user("id-1").unwrap());
            assert_eq!(dir.find_by_object_id("id-1").unwrap(), None);
            let leftovers = count(
                &dir,
                "SELECT (SELECT COUNT(*) FROM attributes) + (SELECT COUNT(*) FROM sign_in_names)
                 + (SELECT COUNT(*) FROM alternative_security_ids)",
            );
            assert_eq!(leftovers, 0, "a deleted user's rows go with it");
        }
    }

    #[test]
    fn passwords_are_stored_only_as_salted_argon2id_hashes() {
        for (dir, _cluster) in backends() {
            let env = FixedEnv::default();
            let a = dir.create(Some("a"), &alice(), &env).unwrap();
            let mut b = alice();
            b.sign_in_names = vec![SignInName::new("userName", "b")];
            let b = dir.create(Some("b"), &b, &env).unwrap();
            let hash_a = dir.password_hash(&a.object_id).unwrap().unwrap();
            let hash_b = dir.password_hash(&b.object_id).unwrap().unwrap();
            assert!(hash_a.starts_with("$argon2id$v=19$"), "{hash_a}");
            assert!(!hash_a.contains("Passw0rd!"));
            assert_ne!(hash_a, hash_b, "each hash has its own salt");
            // Nothing anywhere in the database holds the clear text.
            let clear = count(
                &dir,
                "SELECT (SELECT COUNT(*) FROM users WHERE password_hash LIKE '%Passw0rd!%')
                 + (SELECT COUNT(*) FROM attributes WHERE value LIKE '%Passw0rd!%')",
            );
            assert_eq!(clear, 0);

            assert!(dir.verify_password("a", &Password::new("Passw0rd!")).unwrap());
            assert!(!dir.verify_password("a", &Password::new("passw0rd!")).unwrap());
            dir.set_password("a", &Password::new("N3w-secret")).unwrap();
            assert!(dir.verify_password("a", &Password::new("N3w-secret")).unwrap());
            assert!(!dir.verify_password("a", &Password::new("Passw0rd!")).unwrap());
            assert!(matches!(dir.set_password("zz", &Password::new("x")), Err(DirectoryError::NotFound(_))));
            assert!(matches!(dir.verify_password("zz", &Password::new("x")), Err(DirectoryError::NotFound(_))));
            assert_eq!(format!("{:?}", Password::new("Passw0rd!")), "[redacted]");
            assert!(!format!("{:?}", alice()).contains("Passw0rd!"));
        }
    }

    #[test]
    fn password_change_moves_refresh_token_validity() {
        for (dir, _cluster) in backends() {
            let env = FixedEnv::default();
            let user = dir.create(Some("a"), &alice(), &env).unwrap();
            let later = env.now + chrono::Duration::hours(1);
            let change = UserData { password: Some(Password::new("Other1!")), ..UserData::default() };
            let updated = dir.update(&user.object_id, &change, Some(later)).unwrap();
            assert_eq!(updated.attribute(REFRESH_TOKENS_VALID_FROM), Some(&ClaimValue::date_time(later)));
            assert!(dir.verify_password("a", &Password::new("Other1!")).unwrap());
        }
    }

    #[test]
    fn seeded_users_get_an_id_and_a_hashed_password() {
        for (dir, _cluster) in backends() {
            let seeded = dir.seed(&SeedUser { object_id: None, data: alice() }).unwrap();
            assert_eq!(seeded.object_id.len(), 36);
            assert_eq!(seeded.attribute(REFRESH_TOKENS_VALID_FROM), None, "seeds carry no clock time");
            let fixed = dir
                .seed(&SeedUser {
                    object_id: Some("11111111-1111-4111-8111-111111111111".to_owned()),
                    data: UserData { sign_in_names: vec![SignInName::new("userName", "bob")], ..UserData::default() },
                })
                .unwrap();
            assert_eq!(fixed.object_id, "11111111-1111-4111-8111-111111111111");
            assert!(!fixed.has_password);
            assert!(dir.verify_password(&seeded.object_id, &Password::new("Passw0rd!")).unwrap());
            assert!(dir.password_hash(&seeded.object_id).unwrap().unwrap().starts_with("$argon2id$"));
        }
    }

    #[test]
    fn seeding_again_replaces_the_same_account() {
        let path = std::env::temp_dir().join(format!("ief-directory-seed-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let seed = SeedUser { object_id: None, data: alice() };
        let first = Directory::open(&path).unwrap().seed(&seed).unwrap();
        let dir = Directory::open(&path).unwrap();
        dir.update(
            &first.object_id,
            &UserData { password: Some(Password::new("changed")), ..UserData::default() },
            None,
        )
        .unwrap();
        let again = dir.seed(&seed).unwrap();
        assert_eq!(again.object_id, first.object_id, "the replaced account keeps its objectId");
        assert!(dir.verify_password(&again.object_id, &Password::new("Passw0rd!")).unwrap(), "back to the seed");
        assert_eq!(dir.users().unwrap().len(), 1);

        // A fixed objectId wins and takes over the sign-in name.
        let fixed = SeedUser { object_id: Some("fixed".to_owned()), data: alice() };
        assert_eq!(dir.seed(&fixed).unwrap().object_id, "fixed");
        assert_eq!(dir.seed(&fixed).unwrap().object_id, "fixed");
        assert_eq!(dir.users().unwrap().iter().map(|u| u.object_id.as_str()).collect::<Vec<_>>(), ["fixed"]);
        drop(dir);
        let _ = std::fs::remove_file(&path);
    }

    /// Makes the database itself refuse to store an attribute named `name`.
    fn refuse_attribute(dir: &Directory, name: &str) {
        let statements = match &dir.backend {
            Backend::Sqlite(_) => vec![format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON attributes WHEN NEW.name = '{name}'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )],
            Backend::Postgres(_) => vec![
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON attributes FOR EACH ROW
                     WHEN (NEW.name = '{name}') EXECUTE FUNCTION refuse()"
                ),
            ],
        };
        for sql in statements {
            dir.write(|db| db.execute(&sql, &[])).unwrap();
        }
    }

    #[test]
    fn a_failed_seed_leaves_the_accounts_it_would_replace() {
        for (dir, _cluster) in backends() {
            let old = dir.seed(&SeedUser { object_id: None, data: alice() }).unwrap();
            let replacing = |attribute: &str| {
                let mut data = alice();
                data.attributes.push((attribute.to_owned(), ClaimValue::String("x".to_owned())));
                SeedUser { object_id: Some("new".to_owned()), data }
            };
            // Refused before anything is written.
            let reserved = dir.seed(&replacing("password"));
            assert!(matches!(reserved, Err(DirectoryError::ReservedAttribute(_))), "{reserved:?}");
            assert_eq!(dir.find_by_object_id(&old.object_id).unwrap(), Some(old.clone()));
            // Refused by the database after the old account was deleted: rolled back with it.
            refuse_attribute(&dir, "refused");
            let refused = dir.seed(&replacing("refused"));
            assert!(format!("{refused:?}").contains("refused by the test"), "{refused:?}");
            assert_eq!(dir.find_by_object_id(&old.object_id).unwrap(), Some(old.clone()));
            assert_eq!(dir.find_by_sign_in_name(None, "alice@contoso.com").unwrap(), Some(old));
            assert_eq!(dir.find_by_object_id("new").unwrap(), None);
            assert_eq!(dir.users().unwrap().len(), 1);
        }
    }

    /// A tampered SQLite file (a table recreated without its types and constraints) holding a
    /// number where text belongs: reading the account names the corrupt column.
    #[test]
    fn a_cell_that_is_not_text_is_reported_as_corrupt() {
        let dir = Directory::in_memory().unwrap();
        let user = dir.create(None, &alice(), &FixedEnv::default()).unwrap();
        assert_eq!(dir.find_by_object_id(&user.object_id).unwrap().unwrap().sign_in_names.len(), 1);
        for (table, columns, values, column) in [
            ("sign_in_names", "object_id, kind, value, value_key", "$1, 'emailAddress', 42, 'x'", "value"),
            (
                "alternative_security_ids",
                "object_id, issuer, issuer_key, issuer_user_id",
                "$1, 'idp', 'idp', NULL",
                "issuer_user_id",
            ),
        ] {
            dir.write(|db| {
                db.execute(&format!("DROP TABLE {table}"), &[])?;
                db.execute(&format!("CREATE TABLE {table} ({columns})"), &[])?;
                db.execute(
                    &format!("INSERT INTO {table} ({columns}) VALUES ({values})"),
                    &[Param::Text(&user.object_id)],
                )
            })
            .unwrap();
            let error = dir.find_by_object_id(&user.object_id).unwrap_err().to_string();
            assert_eq!(error, format!("the directory holds a corrupt value for '{table}.{column}': no text"));
            // Mended, the account reads again.
            dir.write(|db| db.execute(&format!("DELETE FROM {table}"), &[])).unwrap();
        }
        assert!(dir.find_by_object_id(&user.object_id).unwrap().unwrap().alternative_security_ids.is_empty());
    }

    /// (table, column, type class, NOT NULL) of the directory's tables, in column order.
    fn columns(dir: &Directory) -> Vec<(String, String, String, bool)> {
        let sql = match &dir.backend {
            Backend::Sqlite(_) => {
                "SELECT m.name, p.name, p.type, p.\"notnull\" OR p.pk > 0 FROM sqlite_master m
                 JOIN pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid"
            }
            Backend::Postgres(_) => {
                "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO'
                 FROM information_schema.columns WHERE table_schema = current_schema()
                 ORDER BY table_name, ordinal_position"
            }
        };
        let rows = dir.read(|db| db.query(sql, &[])).unwrap();
        rows.into_iter()
            .filter_map(|row| {
                let mut cells = row.into_iter();
                let mut text = || cells.next().and_then(Cell::into_text).unwrap_or_default();
                let (table, column, data_type) = (text(), text(), text().to_lowercase());
                let not_null = cells.next().is_some_and(|c| c.flag());
                // BIGINT and INTEGER hold the same values here.
                let class = if data_type.contains("int") { "integer".to_owned() } else { data_type };
                TABLES.contains(&table.as_str()).then_some((table, column, class, not_null))
            })
            .collect()
    }

    #[test]
    fn sqlite_and_postgres_have_the_same_tables_and_columns() {
        let backends = backends();
        let [sqlite, postgres] = [&backends[0].0, &backends[1].0].map(columns);
        let tables: std::collections::BTreeSet<&str> = sqlite.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(tables.into_iter().collect::<Vec<_>>(), TABLES, "every table");
        assert_eq!(sqlite, postgres);
    }

    #[test]
    fn users_lists_every_account_whole_and_oldest_first() {
        for (dir, _cluster) in backends() {
            let env = FixedEnv::default();
            let mut two = alice();
            two.sign_in_names =
                vec![SignInName::new("userName", "zed"), SignInName::new("emailAddress", "zed@contoso.com")];
            two.alternative_security_ids = vec![facebook("2"), facebook("1")];
            let created = [
                dir.create(Some("b-first"), &alice(), &env).unwrap(),
                dir.create(Some("a-second"), &two, &env).unwrap(),
                dir.create(Some("c-third"), &UserData::default(), &env).unwrap(),
            ];
            let read: Vec<User> =
                created.iter().map(|u| dir.find_by_object_id(&u.object_id).unwrap().unwrap()).collect();
            assert_eq!(read, created);
            assert_eq!(dir.users().unwrap(), created);
            assert_eq!(created[1].sign_in_names[0].kind, "userName", "names in insertion order");
            assert_eq!(created[1].alternative_security_ids, [facebook("2"), facebook("1")]);
        }
    }

    #[test]
    fn a_file_made_before_seq_was_named_still_works() {
        let path = std::env::temp_dir().join(format!("ief-directory-noseq-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let before = SCHEMA.replace("    seq INTEGER PRIMARY KEY,\n", "");
        assert_ne!(before, SCHEMA);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&before).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        drop(conn);
        let dir = Directory::open(&path).unwrap();
        let mut data = alice();
        data.sign_in_names.push(SignInName::new("userName", "alice"));
        data.alternative_security_ids = vec![facebook("2"), facebook("1")];
        let created = dir.create(Some("a"), &data, &FixedEnv::default()).unwrap();
        assert_eq!(created.sign_in_names, data.sign_in_names);
        assert_eq!(dir.users().unwrap(), [created]);
        drop(dir);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_file_is_private_and_another_programs_database_is_refused() {
        let base = std::env::temp_dir().join(format!("ief-directory-own-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let own = base.join("d.sqlite");
        Directory::open(&own).unwrap().create(None, &alice(), &FixedEnv::default()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&own).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(Directory::open(&own).unwrap().users().unwrap().len(), 1);

        let other = base.join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE notes (body TEXT);").unwrap();
        let err = Directory::open(&other).unwrap_err().to_string();
        assert!(err.ends_with("other.db is an SQLite database, but not an ief directory (its tables: notes); give --directory a new file"), "{err}");
        let marked = base.join("marked.db");
        Connection::open(&marked).unwrap().pragma_update(None, "application_id", 7).unwrap();
        assert!(Directory::open(&marked).unwrap_err().to_string().contains("(application_id 0x7)"));
        let tables: i64 = Connection::open(&other)
            .unwrap()
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1, "nothing was added to the other database");

        // A directory written before files were marked has exactly ief's tables: it is adopted.
        let unmarked = base.join("unmarked.sqlite");
        Connection::open(&unmarked).unwrap().execute_batch(SCHEMA).unwrap();
        Directory::open(&unmarked).unwrap();
        let id: i64 =
            Connection::open(&unmarked).unwrap().pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(id, APPLICATION_ID);

        let text = base.join("notes.txt");
        std::fs::write(&text, "hello, this is not a database at all, but plain text").unwrap();
        assert!(Directory::open(&text).unwrap_err().to_string().contains("file is not a database"));
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "hello, this is not a database at all, but plain text");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_directory_persists_across_reopen() {
        let path = std::env::temp_dir().join(format!("ief-directory-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let id = {
            let dir = Directory::open(&path).unwrap();
            dir.create(None, &alice(), &FixedEnv::default()).unwrap().object_id
        };
        let reopened = Directory::open(&path).unwrap();
        let user = reopened.find_by_sign_in_name(Some("emailAddress"), "alice@contoso.com").unwrap().unwrap();
        assert_eq!(user.object_id, id);
        assert_eq!(
            user.attribute("otherMails"),
            Some(&ClaimValue::StringCollection(vec!["a@x.org".to_owned(), "b@y.org".to_owned()]))
        );
        assert!(reopened.verify_password(&id, &Password::new("Passw0rd!")).unwrap());
        drop(reopened);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn directory_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Directory>();
        for (dir, _cluster) in backends() {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let dir = dir.clone();
                    std::thread::spawn(move || {
                        let data = UserData {
                            sign_in_names: vec![SignInName::new("userName", format!("user{i}"))],
                            ..UserData::default()
                        };
                        dir.seed(&SeedUser { object_id: None, data }).map(|u| u.object_id)
                    })
                })
                .collect();
            for h in handles {
                assert!(h.join().unwrap().is_ok());
            }
            assert_eq!(dir.users().unwrap().len(), 4);
        }
    }

    #[test]
    fn one_postgres_directory_is_shared_and_a_sign_in_name_goes_to_one_account_under_concurrency() {
        let cluster = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database("directory_race").unwrap();
        // Two processes' directories: separate connection pools on one database.
        let first = Directory::open(&url).unwrap();
        let second = Directory::connect(&url).unwrap();
        let created = first.create(Some("id-1"), &alice(), &FixedEnv::default()).unwrap();
        assert_eq!(second.find_by_sign_in_name(None, "alice@contoso.com").unwrap(), Some(created.clone()));
        let renamed = UserData {
            attributes: vec![("displayName".to_owned(), ClaimValue::String("Alice C".to_owned()))],
            ..UserData::default()
        };
        second.update("id-1", &renamed, None).unwrap();
        let read = first.find_by_object_id("id-1").unwrap().unwrap();
        assert_eq!(read.attribute("displayName"), Some(&ClaimValue::String("Alice C".to_owned())));

        let racers: Vec<_> = (0..8)
            .map(|i| {
                let dir = if i % 2 == 0 { first.clone() } else { second.clone() };
                std::thread::spawn(move || {
                    let data = UserData {
                        sign_in_names: vec![SignInName::new("emailAddress", format!("Race{i}@Contoso.com"))],
                        ..UserData::default()
                    };
                    let mine = dir.create(Some(&format!("racer-{i}")), &data, &FixedEnv::default())?;
                    // Every racer then claims the same name for itself.
                    let claim =
                        UserData { sign_in_names: vec![SignInName::new("userName", "winner")], ..UserData::default() };
                    dir.update(&mine.object_id, &claim, None).map(|_| ())
                })
            })
            .collect();
        let results: Vec<Result<()>> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        let lost =
            results.iter().filter(|r| matches!(r, Err(DirectoryError::Conflict(w)) if w.contains("winner"))).count();
        assert_eq!((won, lost), (1, 7), "{results:?}");
        let owner = first.find_by_sign_in_name(None, "WINNER").unwrap().unwrap();
        assert!(owner.object_id.starts_with("racer-"));
        assert_eq!(owner.sign_in_names.len(), 2, "the winner keeps its email and gains the user name");
        assert_eq!(first.users().unwrap().len(), 9, "each racer's account exists once");
        assert_eq!(count(&first, "SELECT COUNT(*) FROM sign_in_names WHERE value_key = 'winner'"), 1);
        assert_eq!(count(&first, "SELECT MAX(version) FROM schema_version WHERE component = 'directory'"), 1);
        drop((first, second));
        drop(cluster);
    }
}
