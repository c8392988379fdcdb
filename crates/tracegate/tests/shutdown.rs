//! Shutting down the real `tracegate run` with the default pipeline (`genai_normalize,
//! redaction, trace_assembly, latency_breakdown` → archive), issue 18:
//! - under load from `tracegate loadgen`, SIGTERM flushes and exits 0 within the deadline;
//! - with the archive's store down, SIGTERM exits within `shutdown_timeout` plus a margin,
//!   non-zero, and logs how many spans were not flushed;
//! - a second SIGTERM during shutdown exits at once.
//!
//! These are liveness checks, not benchmarks: the margins are generous for a debug build on a
//! loaded machine.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tracegate");

/// Slack on top of `shutdown_timeout` for a debug build on a busy machine.
const MARGIN: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gateway running the default config on free ports; killed on drop.
struct Gateway {
    child: Child,
    grpc: u16,
    archive: PathBuf,
    dir: tempfile::TempDir,
}

/// Where the default pipeline archives to.
enum Store {
    /// A local directory.
    Local,
    /// S3 on a loopback port nothing listens on, with this small a buffer.
    Down { max_buffer_bytes: &'static str },
}

impl Gateway {
    fn start(store: Store, shutdown_timeout: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let (grpc, http, metrics) = (free_port(), free_port(), free_port());
        let default = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.yaml"),
        )
        .unwrap();
        let url_line = "    url: ${env:TRACEGATE_ARCHIVE_URL:-./data/archive}";
        let archive_section = match store {
            Store::Local => format!("    url: {}", archive.display()),
            Store::Down { max_buffer_bytes } => format!(
                "    url: s3://bucket/x\n    \
                 s3: {{ endpoint: \"http://127.0.0.1:{}\", allow_http: true, region: us-east-1, \
                 access_key_id: test, secret_access_key: test }}\n    \
                 max_buffer_bytes: {max_buffer_bytes}",
                free_port()
            ),
        };
        let config = default
            .replace(
                "${env:TRACEGATE_OTLP_GRPC_ENDPOINT:-0.0.0.0:4317}",
                &format!("127.0.0.1:{grpc}"),
            )
            .replace(
                "${env:TRACEGATE_OTLP_HTTP_ENDPOINT:-0.0.0.0:4318}",
                &format!("127.0.0.1:{http}"),
            )
            .replace(url_line, &archive_section)
            .replace("    flush_bytes: 128MiB", "    flush_bytes: 256KiB")
            .replace(
                "    retry: { initial_backoff: 500ms, max_backoff: 30s }",
                "    retry: { initial_backoff: 100ms, max_backoff: 1s }",
            )
            .replace(
                "${env:TRACEGATE_METRICS_ADDRESS:-0.0.0.0:8888}",
                &format!("127.0.0.1:{metrics}"),
            )
            .replace(
                "  shutdown_timeout: 30s",
                &format!("  shutdown_timeout: {shutdown_timeout}"),
            );
        assert!(
            !config
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("${env:")),
            "the default config changed:\n{config}"
        );
        assert!(config.contains("flush_bytes: 256KiB"), "{config}");
        assert!(config.contains("max_backoff: 1s"), "{config}");
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
            archive,
            dir,
        };
        // Ready means the receivers serve.
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(metrics, "/readyz") != Some(200) {
            if let Some(status) = gateway.child.try_wait().unwrap() {
                panic!("the gateway exited at start: {status}\n{}", gateway.log());
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits at most `limit` for the process to exit; how long it took and its status.
    fn wait(&mut self, limit: Duration) -> (Duration, ExitStatus) {
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

    /// `tracegate loadgen` against this gateway for `duration`, in the background.
    fn load(&self, duration: &str) -> Child {
        Command::new(BIN)
            .args([
                "loadgen",
                "--endpoint",
                &format!("http://127.0.0.1:{}", self.grpc),
                "--duration",
                duration,
                "--connections",
                "2",
                "--spans-per-request",
                "100",
                "--pool-spans",
                "5000",
                "--json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of a plain HTTP/1.1 GET on localhost, or `None` if nothing answers.
fn get(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// Every `.parquet` file under `dir`, recursively.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
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

fn stop_load(mut load: Child) {
    let _ = load.kill();
    let _ = load.wait();
}

#[test]
fn issue_18_sigterm_under_load_flushes_and_exits_cleanly_within_the_deadline() {
    let mut gateway = Gateway::start(Store::Local, "20s");
    let load = gateway.load("60s");
    std::thread::sleep(Duration::from_secs(3));
    gateway.signal("-TERM");
    let (took, status) = gateway.wait(Duration::from_secs(20) + MARGIN);
    stop_load(load);
    let log = gateway.log();
    assert!(status.success(), "exit {status} after {took:?}\n{log}");
    assert!(!log.contains("not flushed"), "{log}");
    assert!(
        !parquet_files(&gateway.archive.join("spans")).is_empty(),
        "nothing archived\n{log}"
    );
}

#[test]
fn issue_18_sigterm_with_the_store_down_exits_at_the_deadline_and_counts_the_loss() {
    let mut gateway = Gateway::start(
        Store::Down {
            max_buffer_bytes: "1MiB",
        },
        "3s",
    );
    // Enough load to fill the archive's buffer and every queue behind it.
    let load = gateway.load("60s");
    std::thread::sleep(Duration::from_secs(5));
    gateway.signal("-TERM");
    let (took, status) = gateway.wait(Duration::from_secs(3) + MARGIN);
    stop_load(load);
    let log = gateway.log();
    assert!(!status.success(), "exit {status} after {took:?}\n{log}");
    assert!(
        log.contains("did not finish within service.shutdown_timeout (3s)")
            && log.contains("spans were not flushed"),
        "the log does not give the unflushed count:\n{log}"
    );
    let unflushed: u64 = log
        .split(" spans were not flushed")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no unflushed count in the log:\n{log}"));
    // The archive's buffer and every queue before it were full when the deadline passed.
    assert!(unflushed > 0, "{log}");
}

#[test]
fn issue_18_a_second_sigterm_exits_at_once() {
    // A deadline far away: only the second signal can end this shutdown quickly.
    let mut gateway = Gateway::start(
        Store::Down {
            max_buffer_bytes: "1MiB",
        },
        "10m",
    );
    let load = gateway.load("60s");
    std::thread::sleep(Duration::from_secs(5));
    gateway.signal("-TERM");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        gateway.child.try_wait().unwrap().is_none(),
        "the gateway exited before the second signal; the store-down setup no longer blocks \
         shutdown\n{}",
        gateway.log()
    );
    gateway.signal("-TERM");
    let (took, status) = gateway.wait(MARGIN);
    stop_load(load);
    let log = gateway.log();
    assert_eq!(status.code(), Some(143), "after {took:?}\n{log}");
    assert!(log.contains("second signal during shutdown"), "{log}");
}
