//! Unit tests that need the writer's test gate: group commit, observed without timing.

use crate::{Wal, WalConfig};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&WalConfig::new(dir.path()), &["a"]).unwrap();
    let shared = std::sync::Arc::clone(wal.shared());
    let gate = shared.gate.lock().unwrap_or_else(PoisonError::into_inner);
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            wal.append(i.to_le_bytes().to_vec()).await.unwrap()
        }));
    }
    // Every append is queued (or taken by the writer, which waits at the gate).
    while shared.pending.load(Ordering::Acquire) < 200 {
        tokio::task::yield_now().await;
    }
    drop(gate);
    let mut lsns = Vec::new();
    for t in tasks {
        lsns.push(t.await.unwrap());
    }
    let stats = wal.stats();
    assert_eq!(stats.appended_records, 200);
    // The first append may be written alone (taken before the gate); the rest share one.
    assert!(stats.writes <= 2, "{stats:?}");
    lsns.sort_unstable();
    lsns.dedup();
    assert_eq!(lsns.len(), 200);
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
