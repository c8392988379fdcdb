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

use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::{ARCHIVE_URL_LINE, BIN, Gateway, free_port, parquet_files};

/// Slack on top of `shutdown_timeout` for a debug build on a busy machine.
const MARGIN: Duration = Duration::from_secs(20);

/// Where the default pipeline archives to.
enum Store {
    /// A local directory.
    Local,
    /// S3 on a loopback port nothing listens on, with this small a buffer.
    Down { max_buffer_bytes: &'static str },
}

/// The default pipeline archiving to `store`, with this `shutdown_timeout`, small archive
/// files and quick retries.
fn start(store: Store, shutdown_timeout: &str) -> Gateway {
    Gateway::start(|config, archive| {
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
        let config = common::keep_every_span(config)
            .replace(ARCHIVE_URL_LINE, &archive_section)
            .replace("    flush_bytes: 128MiB", "    flush_bytes: 256KiB")
            .replace(
                "    retry: { initial_backoff: 500ms, max_backoff: 30s }",
                "    retry: { initial_backoff: 100ms, max_backoff: 1s }",
            )
            .replace(
                "  shutdown_timeout: 30s",
                &format!("  shutdown_timeout: {shutdown_timeout}"),
            );
        assert!(config.contains("flush_bytes: 256KiB"), "{config}");
        assert!(config.contains("max_backoff: 1s"), "{config}");
        assert!(
            config.contains(&format!("shutdown_timeout: {shutdown_timeout}")),
            "{config}"
        );
        config
    })
}

/// `tracegate loadgen` against `gateway` for `duration`, in the background.
fn load(gateway: &Gateway, duration: &str) -> Child {
    Command::new(BIN)
        .args([
            "loadgen",
            "--endpoint",
            &format!("http://127.0.0.1:{}", gateway.grpc),
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

fn stop_load(mut load: Child) {
    let _ = load.kill();
    let _ = load.wait();
}

#[test]
fn issue_18_sigterm_under_load_flushes_and_exits_cleanly_within_the_deadline() {
    let mut gateway = start(Store::Local, "20s");
    let load = load(&gateway, "60s");
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
    let mut gateway = start(
        Store::Down {
            max_buffer_bytes: "1MiB",
        },
        "3s",
    );
    // Enough load to fill the archive's buffer and every queue behind it.
    let load = load(&gateway, "60s");
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
    let mut gateway = start(
        Store::Down {
            max_buffer_bytes: "1MiB",
        },
        "10m",
    );
    let load = load(&gateway, "60s");
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
