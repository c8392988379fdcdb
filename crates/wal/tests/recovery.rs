//! Recovery: torn tails, corrupt records, odd directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, flip, records, segments};
use tracegate_wal::{Wal, WalError, segment};

const BIG: u64 = 1 << 30;

#[tokio::test]
async fn torn_tail_at_every_byte_of_the_last_record() {
    let payloads: [&[u8]; 3] = [b"alpha", b"bravo!", b"charlie-delta"];
    for cut in 1..(12 + payloads[2].len() as u64) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), BIG, BIG);
        let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
        let mut lsns = Vec::new();
        for p in payloads {
            lsns.push(wal.append(p.to_vec()).await.unwrap());
        }
        wal.close().await;
        let seg = &segments(dir.path())[0];
        let file = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
        file.set_len(lsns[2] + cut).unwrap();
        drop(file);

        let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
        let got = records(&mut replay);
        assert_eq!(
            got,
            vec![
                (lsns[0], payloads[0].to_vec()),
                (lsns[1], payloads[1].to_vec())
            ],
            "cut {cut}"
        );
        assert_eq!(replay.stats().torn, 1, "cut {cut}");
        assert_eq!(replay.end(), lsns[2]);
        // The next append lands right after the complete records.
        assert_eq!(wal.append(b"echo".to_vec()).await.unwrap(), lsns[2]);
        wal.close().await;
        let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
        let got: Vec<Vec<u8>> = records(&mut replay).into_iter().map(|r| r.1).collect();
        assert_eq!(
            got,
            vec![b"alpha".to_vec(), b"bravo!".to_vec(), b"echo".to_vec()]
        );
        assert_eq!(replay.stats().torn + replay.stats().corrupt, 0);
        wal.close().await;
    }
}

async fn three_records(dir: &std::path::Path, segment_bytes: u64) -> Vec<u64> {
    let (wal, _) = Wal::open(&config(dir, segment_bytes, BIG), &["a"]).unwrap();
    let mut lsns = Vec::new();
    for p in [&b"first"[..], b"second", b"third"] {
        lsns.push(wal.append(p.to_vec()).await.unwrap());
    }
    wal.close().await;
    lsns
}

#[tokio::test]
async fn flipped_byte_in_a_middle_record_skips_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = three_records(dir.path(), BIG).await;
    flip(&segments(dir.path())[0], lsns[1] + 14);
    let (wal, mut replay) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    let got = records(&mut replay);
    assert_eq!(
        got,
        vec![(lsns[0], b"first".to_vec()), (lsns[2], b"third".to_vec())]
    );
    assert_eq!(replay.stats().corrupt, 1);
    assert_eq!(replay.stats().torn, 0);
    wal.close().await;
}

#[tokio::test]
async fn flipped_byte_in_an_older_segment_skips_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    // 30-byte segments: one record per segment.
    let lsns = three_records(dir.path(), 30).await;
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 3);
    flip(&segs[1], 2); // the magic of "second"
    let (wal, mut replay) = Wal::open(&config(dir.path(), 30, BIG), &["a"]).unwrap();
    let got = records(&mut replay);
    assert_eq!(
        got,
        vec![(lsns[0], b"first".to_vec()), (lsns[2], b"third".to_vec())]
    );
    // Alone in its segment, the damaged record is that segment's torn tail.
    assert_eq!(replay.stats().torn, 1);
    wal.close().await;
}

#[tokio::test]
async fn corrupt_length_field_resyncs_at_the_next_marker() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = three_records(dir.path(), BIG).await;
    let seg = &segments(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let at = lsns[1] as usize + 4;
    bytes[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    std::fs::write(seg, bytes).unwrap();
    let (wal, mut replay) = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap();
    let got = records(&mut replay);
    assert_eq!(
        got,
        vec![(lsns[0], b"first".to_vec()), (lsns[2], b"third".to_vec())]
    );
    assert_eq!(replay.stats().corrupt, 1);
    wal.close().await;
}

#[tokio::test]
async fn garbage_files_are_counted_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("1.wal"), b"not a segment name").unwrap();
    // A file with a segment's name but garbage inside: skipped as torn, never a panic.
    std::fs::write(dir.path().join(segment::file_name(0)), vec![0xA5u8; 300]).unwrap();
    let cfg = config(dir.path(), BIG, BIG);
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert!(records(&mut replay).is_empty());
    assert_eq!(replay.stats().unknown_files, 2);
    assert_eq!(replay.stats().torn, 1);
    assert_eq!(wal.append(b"x".to_vec()).await.unwrap(), 0);
    wal.close().await;
    assert!(dir.path().join("notes.txt").exists());
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(records(&mut replay), vec![(0, b"x".to_vec())]);
    wal.close().await;
}

#[tokio::test]
async fn an_unreadable_segment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(segment::file_name(0))).unwrap();
    let err = Wal::open(&config(dir.path(), BIG, BIG), &["a"]).unwrap_err();
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("00000000000000000000.wal"),
        "{err}"
    );
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BIG, BIG);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    let err = Wal::open(&cfg, &["a"]).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    assert!(!err.is_retryable());
    wal.close().await;
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    wal.close().await;
}

#[tokio::test]
async fn records_larger_than_a_segment_get_a_segment_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 100, BIG);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    let big = vec![7u8; 1000];
    let l0 = wal.append(b"small".to_vec()).await.unwrap();
    let l1 = wal.append(big.clone()).await.unwrap();
    let l2 = wal.append(Vec::new()).await.unwrap();
    wal.close().await;
    assert_eq!(segments(dir.path()).len(), 3);
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(
        records(&mut replay),
        vec![(l0, b"small".to_vec()), (l1, big), (l2, Vec::new())]
    );
    wal.close().await;
}

#[tokio::test]
async fn host_mode_syncs_every_write_and_process_mode_never() {
    for (sync, want) in [
        (tracegate_wal::SyncMode::Host, 4),
        (tracegate_wal::SyncMode::Process, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), BIG, BIG);
        cfg.sync = sync;
        let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
        for i in 0..4u8 {
            wal.append(vec![i]).await.unwrap();
        }
        assert_eq!(wal.stats().writes, 4);
        assert_eq!(wal.stats().syncs, want, "{sync:?}");
        wal.close().await;
    }
}

#[tokio::test]
async fn appends_never_reuse_an_lsn_a_consumer_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BIG, BIG);
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    wal.append(b"one".to_vec()).await.unwrap();
    let end = wal.end();
    wal.checkpoint("a", end).unwrap();
    wal.close().await;
    // The log loses its segments (an operator, a disk); the checkpoint file survives.
    for s in segments(dir.path()) {
        std::fs::remove_file(s).unwrap();
    }
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert!(records(&mut replay).is_empty());
    let lsn = wal.append(b"two".to_vec()).await.unwrap();
    assert_eq!(
        lsn, end,
        "a record below the checkpoint would never be replayed"
    );
    wal.close().await;
    let (wal, mut replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(records(&mut replay), vec![(end, b"two".to_vec())]);
    wal.close().await;
}
