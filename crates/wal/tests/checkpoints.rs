//! Checkpoints, segment deletion and the `max_bytes` bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, records, segments};
use tracegate_wal::{Wal, WalError};

const BIG: u64 = 1 << 30;

/// Appends `n` records of 50 bytes with 100-byte segments: one record per segment.
async fn one_per_segment(wal: &Wal, n: u8) -> Vec<u64> {
    let mut lsns = Vec::new();
    for i in 0..n {
        lsns.push(wal.append(vec![i; 50]).await.unwrap());
    }
    lsns
}

#[tokio::test]
async fn segments_are_deleted_only_when_every_consumer_passed_them() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), 100, BIG), &["a", "b"]).unwrap();
    let lsns = one_per_segment(&wal, 5).await;
    assert_eq!(segments(dir.path()).len(), 5);
    wal.checkpoint("a", lsns[4]).unwrap();
    wal.flush().await;
    assert_eq!(segments(dir.path()).len(), 5, "b has passed nothing");
    wal.checkpoint("b", lsns[2]).unwrap();
    wal.flush().await;
    assert_eq!(segments(dir.path()).len(), 3, "both passed records 0 and 1");
    assert_eq!(wal.stats().segments, 3);
    // Inside a record is not past it.
    wal.checkpoint("b", lsns[3] - 1).unwrap();
    wal.flush().await;
    assert_eq!(segments(dir.path()).len(), 3);
    wal.close().await;
}

#[tokio::test]
async fn a_fully_checkpointed_active_segment_is_replaced_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    wal.append(vec![1; 10]).await.unwrap();
    wal.append(vec![2; 10]).await.unwrap();
    let before = wal.stats().bytes;
    assert_eq!(before, 44);
    wal.checkpoint("a", wal.end()).unwrap();
    wal.flush().await;
    assert_eq!(wal.stats().bytes, 0);
    assert_eq!(segments(dir.path()).len(), 1);
    let lsn = wal.append(vec![3; 10]).await.unwrap();
    assert_eq!(lsn, 44, "LSNs go on across the new segment");
    wal.close().await;
}

#[tokio::test]
async fn replay_after_restart_starts_at_the_lowest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 100, BIG);
    let (wal, _) = Wal::open(&cfg, &["a", "b"]).unwrap();
    let lsns = one_per_segment(&wal, 5).await;
    wal.checkpoint("a", lsns[3]).unwrap();
    wal.checkpoint("b", lsns[1]).unwrap();
    wal.close().await;
    let (wal, mut replay) = Wal::open(&cfg, &["a", "b"]).unwrap();
    assert_eq!(replay.start(), lsns[1]);
    assert_eq!(replay.checkpoint("a"), Some(lsns[3]));
    assert_eq!(replay.checkpoint("b"), Some(lsns[1]));
    let got: Vec<u64> = records(&mut replay).into_iter().map(|r| r.0).collect();
    assert_eq!(got, lsns[1..].to_vec());
    wal.close().await;
}

#[tokio::test]
async fn checkpoint_inside_a_segment_replays_from_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BIG, BIG);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    let l0 = wal.append(b"zero".to_vec()).await.unwrap();
    let l1 = wal.append(b"one".to_vec()).await.unwrap();
    wal.checkpoint("a", l0 + 1).unwrap();
    wal.close().await;
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(records(&mut replay), vec![(l1, b"one".to_vec())]);
    wal.close().await;
}

#[tokio::test]
async fn checkpoints_never_go_backwards_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BIG, BIG);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    one_per_segment(&wal, 3).await;
    wal.checkpoint("a", 100).unwrap();
    wal.checkpoint("a", 50).unwrap();
    assert_eq!(wal.checkpoint_of("a"), Some(100));
    wal.close().await;
    let (wal, replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(replay.checkpoint("a"), Some(100));
    wal.close().await;
}

#[tokio::test]
async fn bad_checkpoints_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    let lsn = wal.append(b"x".to_vec()).await.unwrap();
    let err = wal.checkpoint("nobody", lsn).unwrap_err();
    assert!(matches!(err, WalError::UnknownConsumer { .. }));
    let err = wal.checkpoint("a", wal.end() + 1).unwrap_err();
    assert!(matches!(err, WalError::CheckpointAhead { .. }));
    assert!(!err.is_retryable());
    wal.close().await;
}

#[tokio::test]
async fn a_removed_consumer_no_longer_pins_and_a_new_one_starts_at_the_oldest_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 100, BIG);
    let (wal, _) = Wal::open(&cfg, &["a", "old"]).unwrap();
    let lsns = one_per_segment(&wal, 4).await;
    wal.checkpoint("a", lsns[2]).unwrap();
    wal.close().await;
    let (wal, mut replay) = Wal::open(&cfg, &["a", "new"]).unwrap();
    assert_eq!(replay.checkpoint("new"), Some(lsns[0]));
    assert_eq!(records(&mut replay).len(), 4);
    wal.checkpoint("new", lsns[3]).unwrap();
    wal.flush().await;
    // "old" never checkpointed, but it is gone: only "a" holds segments now.
    assert_eq!(segments(dir.path()).len(), 2);
    wal.close().await;
}

#[tokio::test]
async fn full_wal_refuses_then_accepts_after_checkpoints_free_segments() {
    let dir = tempfile::tempdir().unwrap();
    // 62-byte records, 100-byte segments, room for 4 records.
    let cfg = config(dir.path(), 100, 250);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    let lsns = one_per_segment(&wal, 4).await;
    let err = wal.append(vec![9; 50]).await.unwrap_err();
    assert!(matches!(err, WalError::Full { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(wal.stats().full_refusals, 1);
    assert_eq!(wal.stats().bytes, 248, "a refusal holds nothing");
    wal.checkpoint("a", lsns[2]).unwrap();
    wal.flush().await;
    let l4 = wal.append(vec![4; 50]).await.unwrap();
    wal.close().await;
    // Nothing acknowledged was dropped: everything not checkpointed comes back.
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    let got: Vec<u64> = records(&mut replay).into_iter().map(|r| r.0).collect();
    assert_eq!(got, vec![lsns[2], lsns[3], l4]);
    wal.close().await;
}

#[tokio::test]
async fn a_record_larger_than_max_bytes_is_a_permanent_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), 100, 250), &["a"]).unwrap();
    let err = wal.append(vec![0; 300]).await.unwrap_err();
    assert!(matches!(err, WalError::TooLarge { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(wal.stats().bytes, 0);
    wal.close().await;
}

#[tokio::test]
async fn appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    let other = wal.clone();
    wal.close().await;
    let err = other.append(b"late".to_vec()).await.unwrap_err();
    assert!(matches!(err, WalError::Closed), "{err}");
    assert_eq!(other.stats().bytes, 0);
}

#[tokio::test]
async fn checkpoints_reach_the_disk_without_close_or_more_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    wal.append(b"x".to_vec()).await.unwrap();
    wal.checkpoint("a", 1).unwrap();
    wal.flush().await; // persists the first move at once
    wal.checkpoint("a", 5).unwrap(); // the last move of a burst: due a second later
    let path = dir.path().join("checkpoints");
    let mut polls = 0u32;
    loop {
        let bytes = std::fs::read(&path).unwrap();
        // The file ends with (name "a", lsn as u64 LE, crc32c).
        let lsn = u64::from_le_bytes(bytes[bytes.len() - 12..bytes.len() - 4].try_into().unwrap());
        if lsn == 5 {
            break;
        }
        polls += 1;
        // A liveness bound, not a speed assertion: without the timed wait this never ends.
        assert!(polls < 2000, "checkpoint never persisted");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    wal.close().await;
}
