//! Debian's Chromium for the browser tests: installed when missing (never downloaded by a test
//! tool), a CA trusted through a private NSS database, and a ChromeDriver on a free loopback
//! port, killed by PID with the browsers it started.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use crate::process::{is_root, kill_tree, run_bounded};

/// The Debian packages the browser tests need, and the programs they bring.
pub const PACKAGES: [&str; 3] = ["chromium", "chromium-driver", "libnss3-tools"];
pub const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CERTUTIL: &str = "/usr/bin/certutil";

const APT_TIMEOUT: Duration = Duration::from_secs(900);
const DRIVER_START: Duration = Duration::from_secs(20);

/// The packages installed with apt-get when a program is missing, once per test binary;
/// where that cannot be done (not root, no apt-get, no network) the error names the packages.
pub fn ensure_chromium() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

fn install() -> Result<(), String> {
    let missing: Vec<&str> =
        [CHROMIUM, CHROMEDRIVER, CERTUTIL].into_iter().filter(|p| !Path::new(p).is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let help = format!(
        "the browser tests need Debian's packages {} ({} missing); install them with `sudo apt-get install {}`",
        PACKAGES.join(", "),
        missing.join(", "),
        PACKAGES.join(" ")
    );
    if !is_root() {
        return Err(format!("{help} (the tests install them only when run as root)"));
    }
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(["-y", "-o", "DPkg::Lock::Timeout=300"]).args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_bounded(&mut command, &format!("apt-get {}", args.join(" ")), APT_TIMEOUT)
    };
    let mut install = vec!["install", "--no-install-recommends"];
    install.extend(PACKAGES);
    // A fresh machine's package lists may be missing or stale: update once and retry.
    apt(&install)
        .or_else(|_| apt(&["update"]).and_then(|_| apt(&install)))
        .map(drop)
        .map_err(|e| format!("{help}: {e}"))
}

/// A home folder for one browser: its NSS database trusts `ca_pem` (a file) and nothing else
/// besides the system's roots, so the test's CA is trusted by that browser only.
pub fn home_trusting(home: &Path, ca_pem: &Path) -> Result<(), String> {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let db_arg = format!("sql:{}", db.display());
    let certutil = |args: &[&str]| {
        run_bounded(Command::new(CERTUTIL).args(["-d", &db_arg]).args(args), "certutil", Duration::from_secs(30))
    };
    certutil(&["-N", "--empty-password"])?;
    certutil(&["-A", "-n", "ief test CA", "-t", "C,,", "-i", &ca_pem.display().to_string()]).map(drop)
}

/// The command-line switches of a headless Chromium on this closed network: without the
/// background-networking ones it floods the network with refused connections.
pub fn chromium_args(user_data_dir: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--password-store=basic",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1000,1100",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("--user-data-dir={}", user_data_dir.display())])
    .collect()
}

/// A ChromeDriver on a free 127.0.0.1 port; dropping it kills it and every browser it started.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    /// `http://127.0.0.1:PORT`, for the WebDriver client.
    pub url: String,
    pub log: PathBuf,
}

impl ChromeDriver {
    /// Starts ChromeDriver with `home` as the browsers' home folder (see [`home_trusting`]);
    /// its log goes to `log`. A driver that exits before it listens is started again (twice
    /// at most); the error carries the end of its log.
    pub fn start(home: &Path, log: &Path) -> Result<ChromeDriver, String> {
        ensure_chromium()?;
        let mut last = String::new();
        for _ in 0..3 {
            match ChromeDriver::start_once(home, log) {
                Ok(driver) => return Ok(driver),
                Err(e) => last = e,
            }
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        Err(format!("{last}; the end of {}:\n{}", log.display(), tail.into_iter().rev().collect::<Vec<_>>().join("\n")))
    }

    fn start_once(home: &Path, log: &Path) -> Result<ChromeDriver, String> {
        let mut child = Command::new(CHROMEDRIVER)
            .args(["--port=0", &format!("--log-path={}", log.display())])
            .env("HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{CHROMEDRIVER} could not start: {e}"))?;
        let stdout = child.stdout.take().ok_or("chromedriver's stdout")?;
        let (tx, rx) = mpsc::channel();
        // It prints the port it chose; the rest of its output is read and dropped.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let started = line.contains("started successfully");
                if let Some(port) = line.split("on port ").nth(1).filter(|_| started) {
                    let _ = tx.send(port.trim_end_matches('.').trim().to_owned());
                }
            }
        });
        let mut driver = ChromeDriver { child, url: String::new(), log: log.to_path_buf() };
        match rx.recv_timeout(DRIVER_START) {
            Ok(port) if port.parse::<u16>().is_ok_and(|p| p != 0) => {
                driver.url = format!("http://127.0.0.1:{port}");
                Ok(driver)
            }
            other => {
                let status = driver.child.try_wait().ok().flatten();
                Err(format!("chromedriver printed no port within {DRIVER_START:?} ({other:?}, exit {status:?})"))
            }
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        kill_tree(&mut self.child);
    }
}
