//! A private PostgreSQL cluster for tests: `initdb` and `pg_ctl` in a temporary directory, on a
//! free loopback port, its socket inside that directory, run as the `postgres` user when the tests
//! run as root (PostgreSQL refuses root). It is stopped by its PID when dropped, also on panic.
//! Each test takes a database of its own, so tests share one cluster without seeing each other.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Where Debian puts the server binaries when they are not on PATH.
const DEBIAN_BIN: &str = "/usr/lib/postgresql/15/bin";
/// initdb and a start under a busy machine: generous, but bounded.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "the PostgreSQL tests need `initdb` and `pg_ctl` (on PATH or in {DEBIAN_BIN}): install the Debian package \
         postgresql-15 (or postgresql)"
    )]
    Missing,
    /// A command that failed or took too long: what it was, and its output.
    #[error("{0}")]
    Command(String),
    #[error("{0}")]
    Io(String),
}

/// A running cluster. Stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    pid: u32,
    databases: AtomicUsize,
}

/// The postgres account's ids, when the tests run as root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl PgCluster {
    /// One cluster for every test of this process that holds it; the last one to let go stops it.
    pub fn shared() -> Result<Arc<PgCluster>, PgError> {
        static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return Ok(cluster);
        }
        let cluster = Arc::new(PgCluster::start()?);
        *shared = Arc::downgrade(&cluster);
        Ok(cluster)
    }

    /// initdb in a new temporary directory, then pg_ctl start on a free 127.0.0.1 port.
    pub fn start() -> Result<PgCluster, PgError> {
        let bin = find_bin()?;
        let run_as = run_as()?;
        let dir = temp_dir(run_as)?;
        let mut cluster = PgCluster { dir, bin, port: 0, pid: 0, databases: AtomicUsize::new(0) };
        let data = cluster.dir.join("data");
        let mut initdb = cluster.command("initdb", run_as);
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        run(initdb, "initdb", SETUP_TIMEOUT)?;
        // A port found free may be taken before the server binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                cluster.port,
                cluster.dir.display()
            );
            let mut start = cluster.command("pg_ctl", run_as);
            start.arg("-D").arg(&data).arg("-l").arg(cluster.dir.join("server.log"));
            start.args(["-w", "-t", "60", "-o", &options, "start"]);
            match run(start, "pg_ctl start", SETUP_TIMEOUT) {
                Ok(()) => {
                    cluster.pid = read_pid(&data)?;
                    return Ok(cluster);
                }
                Err(e) => last = Some(e),
            }
        }
        let log = std::fs::read_to_string(cluster.dir.join("server.log")).unwrap_or_default();
        Err(match last {
            Some(PgError::Command(detail)) => PgError::Command(format!("{detail}\n{log}")),
            Some(other) => other,
            None => PgError::Io("the cluster did not start".to_owned()),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A connection URL for `database` as the `postgres` superuser (trust on loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a fresh database named after `prefix` and returns its URL.
    pub fn create_database(&self, prefix: &str) -> Result<String, PgError> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let clean: String =
            prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let name = format!("{clean}_{n}");
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb.args(["-h", "127.0.0.1", "-U", "postgres", "-p", &self.port.to_string(), &name]);
        run(createdb, "createdb", SETUP_TIMEOUT)?;
        Ok(self.url(&name))
    }

    fn command(&self, program: &str, run_as: Option<RunAs>) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(&self.dir).env_remove("PGDATA").env_remove("PGPORT");
        if let Some(RunAs { uid, gid }) = run_as {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid).env("HOME", &self.dir);
        }
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.pid != 0 {
            // Immediate shutdown by PID: the data is thrown away with the directory.
            signal(self.pid, "QUIT");
            let deadline = Instant::now() + STOP_TIMEOUT;
            while alive(self.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(self.pid) {
                signal(self.pid, "KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

fn alive(pid: u32) -> bool {
    // A zombie has no command line left; the postmaster is pg_ctl's child, not ours.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

fn find_bin() -> Result<PathBuf, PgError> {
    find_bin_in(&std::env::var_os("PATH").unwrap_or_default(), Path::new(DEBIAN_BIN))
}

fn find_bin_in(path: &std::ffi::OsStr, fallback: &Path) -> Result<PathBuf, PgError> {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::split_paths(path).find(|dir| has(dir));
    let dir = on_path.or_else(|| Some(fallback.to_path_buf()).filter(|d| has(d)));
    // On Debian, PATH's initdb is a link into the versioned folder that also holds createdb.
    let dir = dir.ok_or(PgError::Missing)?;
    let real = std::fs::canonicalize(dir.join("initdb")).map_err(|e| PgError::Io(e.to_string()))?;
    Ok(real.parent().map(Path::to_path_buf).unwrap_or(dir))
}

/// Root cannot run PostgreSQL: then the cluster runs as the `postgres` account.
fn run_as() -> Result<Option<RunAs>, PgError> {
    if !crate::process::is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| PgError::Io(format!("/etc/passwd: {e}")))?;
    let entry = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.first() == Some(&"postgres"));
    let ids = entry.and_then(|f| Some(RunAs { uid: f.get(2)?.parse().ok()?, gid: f.get(3)?.parse().ok()? }));
    ids.map(Some).ok_or_else(|| {
        PgError::Io(
            "running as root, the cluster needs the `postgres` account, which the Debian package postgresql-15 creates"
                .to_owned(),
        )
    })
}

fn temp_dir(run_as: Option<RunAs>) -> Result<PathBuf, PgError> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    // Short: the socket path inside it must stay under the 107 bytes a unix socket allows.
    let dir = std::env::temp_dir().join(format!(
        "ief-pg-{}-{}-{nanos:x}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |e: std::io::Error| PgError::Io(format!("{}: {e}", dir.display()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(io)?;
    }
    if let Some(RunAs { uid, gid }) = run_as {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(io)?;
    }
    Ok(dir)
}

fn free_port() -> Result<u16, PgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| PgError::Io(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| PgError::Io(e.to_string()))
}

fn read_pid(data: &Path) -> Result<u32, PgError> {
    let file = data.join("postmaster.pid");
    let text = std::fs::read_to_string(&file).map_err(|e| PgError::Io(format!("{}: {e}", file.display())))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| PgError::Io(format!("{} names no process", file.display())))
}

/// Runs `command` to its end, killing it after `timeout`; its output is in the error.
fn run(mut command: Command, what: &str, timeout: Duration) -> Result<(), PgError> {
    crate::process::run_bounded(&mut command, what, timeout).map(drop).map_err(PgError::Command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_cluster_starts_takes_databases_and_stops_by_pid() {
        let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
        let pid = cluster.pid();
        assert!(alive(pid), "the postmaster runs");
        let dir = cluster.dir.clone();
        assert!(dir.join("data/PG_VERSION").is_file());
        let a = cluster.create_database("Some Test").unwrap();
        let b = cluster.create_database("Some Test").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("postgres://postgres@127.0.0.1:") && a.ends_with("/some_test_0"), "{a}");
        // The server answers on its port, and only on loopback.
        assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port())).is_ok());
        drop(cluster);
        assert!(!alive(pid), "dropping the cluster stops the server");
        assert!(!dir.exists(), "and removes its directory");
    }

    #[test]
    fn a_shared_cluster_lives_while_someone_holds_it() {
        let first = PgCluster::shared().unwrap_or_else(|e| panic!("{e}"));
        let second = PgCluster::shared().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        let pid = first.pid();
        drop(first);
        assert!(alive(pid));
        drop(second);
        assert!(!alive(pid));
    }

    #[test]
    fn missing_binaries_name_the_package() {
        let empty = std::env::temp_dir();
        let err = find_bin_in(empty.as_os_str(), &empty.join("nowhere")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PgError::Missing));
        assert!(text.contains("install the Debian package postgresql-15") && text.contains("initdb"), "{text}");
        // The real lookup finds the folder that holds createdb too.
        let bin = find_bin().unwrap_or_else(|e| panic!("{e}"));
        assert!(bin.join("createdb").is_file(), "{}", bin.display());
    }
}
