//! Unit tests that need the writer's test gate: group commit, observed without timing.

use crate::{Wal, WalConfig};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

#[expect(
    clippy::await_holding_lock,
    reason = "the gate is held on purpose to stop the writer thread; no task takes it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&WalConfig::new(dir.path()), &["a"]).unwrap();
    let shared = std::sync::Arc::clone(wal.shared());
    let gate = shared.gate.lock().unwrap_or_else(PoisonError::into_inner);
    // As many as the queue holds (the unit-test queue is small), plus the one the writer
    // takes before it stops at the gate.
    let n = crate::wal::QUEUE as u64 + 1;
    let mut tasks = Vec::new();
    for i in 0..n as u32 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            wal.append(i.to_le_bytes().to_vec()).await.unwrap()
        }));
    }
    // Every append is queued (or taken by the writer, which waits at the gate).
    while shared.pending.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
    drop(gate);
    let mut lsns = Vec::new();
    for t in tasks {
        lsns.push(t.await.unwrap());
    }
    let stats = wal.stats();
    assert_eq!(stats.appended_records, n);
    // The first append may be written alone (taken before the gate); the rest share one.
    assert!(stats.writes <= 2, "{stats:?}");
    lsns.sort_unstable();
    lsns.dedup();
    assert_eq!(lsns.len() as u64, n);
    wal.close().await;
}

#[tokio::test]
async fn appends_one_after_another_are_one_write_each() {
    // The counter is real: without concurrency there is nothing to share.
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&WalConfig::new(dir.path()), &["a"]).unwrap();
    for i in 0..5u8 {
        wal.append(vec![i]).await.unwrap();
    }
    assert_eq!(wal.stats().writes, 5);
    wal.close().await;
}

#[expect(
    clippy::await_holding_lock,
    reason = "the gate is held on purpose to stop the writer thread; no task takes it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_dropped_while_waiting_for_the_queue_give_their_bytes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&WalConfig::new(dir.path()), &["a"]).unwrap();
    let shared = std::sync::Arc::clone(wal.shared());
    let gate = shared.gate.lock().unwrap_or_else(PoisonError::into_inner);
    // More appends than the queue holds: with the writer held, some wait for room.
    let n = 3 * super::wal::QUEUE as u64;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let wal = wal.clone();
        tasks.push(tokio::spawn(
            async move { wal.append(vec![1u8; 100]).await },
        ));
    }
    while shared.pending.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(gate);
    wal.flush().await;
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let stats = wal.stats();
    assert!(
        stats.appended_records < n,
        "some appends were dropped waiting: {stats:?}"
    );
    assert_eq!(stats.bytes, on_disk, "{stats:?}");
    assert_eq!(stats.pending, 0);
    wal.close().await;
}

async fn replayed(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let (wal, replay) = Wal::open(&WalConfig::new(dir), &["a"]).unwrap();
    let records = replay.map(|r| r.unwrap().1.to_vec()).collect();
    wal.close().await;
    records
}

#[tokio::test]
async fn a_failed_write_refuses_its_appends_cuts_the_partial_write_off_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&WalConfig::new(dir.path()), &["a"]).unwrap();
    wal.append(b"first".to_vec()).await.unwrap();
    *wal.shared().inject.lock().unwrap() = Some(crate::writer::Injected::Write);
    let refused = wal.append(vec![7u8; 4096]).await;
    assert!(
        matches!(&refused, Err(e) if e.is_retryable()),
        "a full disk is retryable for the client: {refused:?}"
    );
    let after = wal.stats().bytes;
    wal.append(b"third".to_vec()).await.unwrap();
    assert!(wal.stats().bytes > after);
    wal.close().await;
    // The half-written record is gone; the next one follows the last acknowledged one.
    assert_eq!(
        replayed(dir.path()).await,
        [b"first".to_vec(), b"third".to_vec()]
    );
}

#[tokio::test]
async fn a_failed_sync_stops_the_log_and_a_restart_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.sync = crate::SyncMode::Host;
    let (wal, _) = Wal::open(&config, &["a"]).unwrap();
    wal.append(b"acknowledged".to_vec()).await.unwrap();
    *wal.shared().inject.lock().unwrap() = Some(crate::writer::Injected::Sync);
    assert!(wal.append(b"unsynced".to_vec()).await.is_err());
    // After a failed fsync nothing written since can be trusted: the log refuses until a restart.
    let later = wal.append(b"later".to_vec()).await;
    assert!(
        matches!(later, Err(crate::WalError::Failed { .. })),
        "{later:?}"
    );
    wal.close().await;
    let records = replayed(dir.path()).await;
    assert_eq!(records.first(), Some(&b"acknowledged".to_vec()));
    assert!(!records.contains(&b"later".to_vec()));
    // A restart recovers and appends again.
    let (wal, _) = Wal::open(&config, &["a"]).unwrap();
    wal.append(b"after restart".to_vec()).await.unwrap();
    wal.close().await;
}
