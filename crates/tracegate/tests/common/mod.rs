//! The black-box harness shared by the binary's tests: `tracegate run` on the embedded
//! default config, on free loopback ports, archiving under a temp dir, its log (stderr) in
//! `gateway.log` there; killed on drop.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tracegate");

/// How long a gateway gets to become ready (a debug build on a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The default config's archive URL line.
pub const ARCHIVE_URL_LINE: &str = "    url: ${env:TRACEGATE_ARCHIVE_URL:-./data/archive}";

/// A loopback port nothing listens on now, never one handed out before in this process: the
/// kernel may give the same ephemeral port to two `bind(0)`s in a row once the first socket
/// is closed, and a gateway given one port for two listeners cannot start.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How often a start that lost a port race (another process took a port between `free_port`
/// and the gateway's bind) is tried again on fresh ports.
const START_ATTEMPTS: usize = 3;

/// A plain HTTP/1.1 GET on localhost: the status code and the body, or `None` if nothing
/// answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Every `.parquet` file under `dir`, recursively: the archive is Hive-partitioned
/// (`dt=YYYY-MM-DD/hour=HH/*.parquet`).
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in entries.map(|e| e.unwrap().path()) {
        if path.is_dir() {
            files.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    files
}

/// A running gateway.
pub struct Gateway {
    pub child: Child,
    pub grpc: u16,
    pub http: u16,
    pub metrics: u16,
    /// The local archive directory (used when the config archives locally).
    pub archive: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts the default config with its listeners on free ports, after `edit` (given the
    /// config text and the temp archive dir) has changed what the test needs; waits until
    /// `/readyz` says ready and both receivers accept connections.
    pub fn start(edit: impl Fn(String, &Path) -> String) -> Self {
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(&edit) {
                Ok(gateway) => return gateway,
                Err(log) if attempt < START_ATTEMPTS => {
                    eprintln!("a port was taken before the gateway bound it; again:\n{log}");
                }
                Err(log) => panic!("the gateway could not bind its ports:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One start; `Err(log)` only when the gateway exited because a port was in use.
    fn try_start(edit: &impl Fn(String, &Path) -> String) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let (grpc, http, metrics) = (free_port(), free_port(), free_port());
        let default = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.yaml"),
        )
        .unwrap();
        let config = default
            .replace(
                "${env:TRACEGATE_OTLP_GRPC_ENDPOINT:-0.0.0.0:4317}",
                &format!("127.0.0.1:{grpc}"),
            )
            .replace(
                "${env:TRACEGATE_OTLP_HTTP_ENDPOINT:-0.0.0.0:4318}",
                &format!("127.0.0.1:{http}"),
            )
            .replace(
                "${env:TRACEGATE_METRICS_ADDRESS:-0.0.0.0:8888}",
                &format!("127.0.0.1:{metrics}"),
            )
            .replace(
                "${env:TRACEGATE_WAL_DIR:-./data/wal}",
                &dir.path().join("wal").display().to_string(),
            )
            .replace("${env:TRACEGATE_WAL_ENABLED:-true}", "true")
            .replace("${env:TRACEGATE_WAL_SYNC:-process}", "process")
            .replace(
                "${env:TRACEGATE_HOT_STORE_DIR:-./data/hot}",
                &dir.path().join("hot").display().to_string(),
            )
            .replace(
                "${env:TRACEGATE_QUERY_ADDRESS:-0.0.0.0:3200}",
                &format!("127.0.0.1:{}", free_port()),
            )
            .replace(
                "${env:TRACEGATE_PROMETHEUS_ADDRESS:-0.0.0.0:8889}",
                &format!("127.0.0.1:{}", free_port()),
            )
            .replace("${env:TRACEGATE_MULTITENANCY:-false}", "false");
        let config = edit(config, &archive);
        assert!(
            !config
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("${env:")),
            "the default config changed:\n{config}"
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
        let child = Command::new(BIN)
            .args([
                "run",
                "-c",
                config_path.to_str().unwrap(),
                "--instance",
                "t",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut gateway = Self {
            child,
            grpc,
            http,
            metrics,
            archive,
            dir,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while !(get(metrics, "/readyz").is_some_and(|(status, _)| status == 200)
            && TcpStream::connect(("127.0.0.1", grpc)).is_ok()
            && TcpStream::connect(("127.0.0.1", http)).is_ok())
        {
            if let Some(status) = gateway.child.try_wait().unwrap() {
                let log = gateway.log();
                if log.contains("Address already in use") {
                    return Err(log);
                }
                panic!("the gateway exited at start: {status}\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not become ready\n{}",
                gateway.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(gateway)
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Sends `signal` (`-TERM`, `-INT`) to the gateway.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits at most `limit` for the process to exit; how long it took and its status.
    pub fn wait(&mut self, limit: Duration) -> (Duration, ExitStatus) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            assert!(
                started.elapsed() < limit,
                "the gateway did not exit within {limit:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config with the archive keeping every span, sampled or not (the default config keeps
/// only sampled traces' spans), so a test can count every accepted span in the spans table;
/// the sampler still runs.
pub fn keep_every_span(config: String) -> String {
    let kept = config.replace(
        "    sampled_only_spans: true",
        "    sampled_only_spans: false",
    );
    assert_ne!(
        kept, config,
        "the default config's archive no longer says sampled_only_spans: true"
    );
    kept
}
