//! Disk queue tests, on real files in a temporary directory: the round trip, restarts from the
//! cursor (clean and after a crash), torn tails and bad checksums, an unreadable cursor, the
//! byte bound dropping the oldest batches, and segments deleted once delivered.

use super::*;
use crate::test_util::{counter, init_metrics};
use tracegate_pipeline::telemetry::names;

/// Record bodies of `n` bytes: 8 + 4 + n bytes on disk.
fn body(tag: u8, n: usize) -> Vec<u8> {
    vec![tag; n]
}

fn options(dir: &Path, exporter: &str, max_bytes: u64, segment_bytes: u64) -> Options {
    init_metrics();
    Options {
        dir: dir.to_owned(),
        max_bytes,
        segment_bytes,
        sync: true,
        exporter: exporter.to_owned(),
    }
}

fn open(options: &Options) -> (DiskQueue, Recovered) {
    DiskQueue::open(options.clone()).unwrap()
}

/// Pops everything left, acking each, and returns (first byte of the body, spans).
fn drain(queue: &DiskQueue) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    while let Some(item) = queue.pop().unwrap() {
        out.push((item.body[0], item.spans));
        queue.ack(item.pos).unwrap();
    }
    out
}

fn segments(dir: &Path) -> Vec<u64> {
    segment::list(dir).unwrap()
}

#[test]
fn appended_batches_come_back_in_order_and_go_once_acked() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_round_trip", 1 << 20, 1 << 16);
    let (queue, recovered) = open(&options);
    assert_eq!(recovered, Recovered::default());
    for (tag, spans) in [(1u8, 3u32), (2, 1), (3, 7)] {
        let appended = queue.append(&body(tag, 100), spans).unwrap();
        assert_eq!(appended, Appended::default());
    }
    assert_eq!(
        queue.stats(),
        Stats {
            bytes: 3 * 112,
            batches: 3
        }
    );
    let first = queue.pop().unwrap().unwrap();
    assert_eq!((first.body.to_vec(), first.spans), (body(1, 100), 3));
    // In flight until acked.
    assert_eq!(queue.stats().batches, 3);
    queue.ack(first.pos).unwrap();
    assert_eq!(queue.stats().batches, 2);
    assert_eq!(drain(&queue), [(2, 1), (3, 7)]);
    assert_eq!(queue.stats().batches, 0);
    assert!(queue.pop().unwrap().is_none());
}

#[test]
fn a_restart_resumes_after_what_was_acked() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_restart", 1 << 20, 1 << 16);
    let (queue, _) = open(&options);
    for tag in 1..=4u8 {
        queue.append(&body(tag, 50), u32::from(tag)).unwrap();
    }
    let one = queue.pop().unwrap().unwrap();
    let two = queue.pop().unwrap().unwrap();
    let three = queue.pop().unwrap().unwrap();
    // Acked out of order: 1 and 3 are done, 2 is still in flight, so the cursor stays at 2.
    queue.ack(one.pos).unwrap();
    queue.ack(three.pos).unwrap();
    queue.close().unwrap();
    drop(queue);

    let (queue, recovered) = open(&options);
    assert_eq!(
        recovered,
        Recovered {
            batches: 3,
            spans: 2 + 3 + 4,
            corrupt: 0
        }
    );
    // At least once: 3 was acked after the oldest batch still in flight, so it comes again.
    assert_eq!(drain(&queue), [(2, 2), (3, 3), (4, 4)]);
    queue.close().unwrap();
    drop(queue);
    let _ = two;

    // Everything was acked and saved: nothing comes back, and no old segment is kept.
    let (queue, recovered) = open(&options);
    assert_eq!(recovered.batches, 0);
    assert!(queue.pop().unwrap().is_none());
    assert_eq!(segments(tmp.path()).len(), 1, "only the new head");
}

#[test]
fn a_crash_before_the_cursor_is_saved_sends_again_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_crash", 1 << 20, 1 << 16);
    let (queue, _) = open(&options);
    for tag in 1..=3u8 {
        queue.append(&body(tag, 10), 1).unwrap();
    }
    let first = queue.pop().unwrap().unwrap();
    queue.ack(first.pos).unwrap();
    let _in_flight = queue.pop().unwrap().unwrap();
    // No close: the process died.
    drop(queue);
    let (queue, recovered) = open(&options);
    let again: Vec<u8> = drain(&queue).into_iter().map(|(tag, _)| tag).collect();
    // The ack of 1 may not have been saved yet (it is saved at most once a second), but 2,
    // in flight, and 3 come back for sure, in order.
    assert!(again == [1, 2, 3] || again == [2, 3], "{again:?}");
    assert_eq!(recovered.batches, again.len() as u64);
}

#[test]
fn a_torn_tail_and_a_bad_checksum_are_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/dq_corrupt";
    let options = options(tmp.path(), id, 1 << 20, 1 << 16);
    let (queue, _) = open(&options);
    for tag in 1..=3u8 {
        queue.append(&body(tag, 20), u32::from(tag)).unwrap();
    }
    drop(queue);
    let seq = segments(tmp.path())[0];
    let path = tmp.path().join(segment::file_name(seq));
    let mut bytes = std::fs::read(&path).unwrap();
    // Record 2 (at 32..64) gets a flipped byte in its body; then half a record is appended.
    bytes[32 + 8 + 10] ^= 0xff;
    bytes.extend_from_slice(&segment::encode(&body(9, 20), 9)[..17]);
    std::fs::write(&path, &bytes).unwrap();

    let (queue, recovered) = open(&options);
    assert_eq!(
        recovered,
        Recovered {
            batches: 2,
            spans: 1 + 3,
            corrupt: 2
        }
    );
    assert_eq!(drain(&queue), [(1, 1), (3, 3)]);
    let corrupt = |kind| {
        counter(
            names::EXPORTER_QUEUE_CORRUPT_RECORDS,
            &[("exporter", id), ("kind", kind)],
        )
    };
    assert_eq!((corrupt("torn"), corrupt("checksum")), (1, 1));
    // New batches go to a new segment and come through.
    queue.append(&body(4, 20), 4).unwrap();
    assert_eq!(drain(&queue), [(4, 4)]);
}

#[test]
fn a_record_damaged_after_it_was_written_is_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/dq_damaged";
    let options = options(tmp.path(), id, 1 << 20, 1 << 16);
    let (queue, _) = open(&options);
    queue.append(&body(1, 20), 5).unwrap();
    queue.append(&body(2, 20), 6).unwrap();
    let seq = segments(tmp.path())[0];
    let path = tmp.path().join(segment::file_name(seq));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 12] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(drain(&queue), [(2, 6)]);
    let failed = counter(
        names::EXPORTER_FAILED_SPANS,
        &[("exporter", id), ("error_type", "queue_corrupt")],
    );
    assert_eq!(failed, 5);
}

#[test]
fn an_unreadable_cursor_resends_from_the_oldest_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/dq_cursor";
    let options = options(tmp.path(), id, 1 << 20, 1 << 16);
    let (queue, _) = open(&options);
    queue.append(&body(1, 10), 1).unwrap();
    queue.append(&body(2, 10), 1).unwrap();
    let first = queue.pop().unwrap().unwrap();
    queue.ack(first.pos).unwrap();
    queue.close().unwrap();
    drop(queue);
    std::fs::write(segment::cursor_path(tmp.path()), b"garbage").unwrap();
    let (queue, recovered) = open(&options);
    assert_eq!(recovered.corrupt, 1);
    assert_eq!(drain(&queue), [(1, 1), (2, 1)]);
    let corrupt = counter(
        names::EXPORTER_QUEUE_CORRUPT_RECORDS,
        &[("exporter", id), ("kind", "cursor")],
    );
    assert_eq!(corrupt, 1);
}

#[test]
fn the_bound_drops_the_oldest_segments_and_counts_their_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/dq_bound";
    // 100-byte records, two per segment, at most five records' worth on disk.
    let options = options(tmp.path(), id, 500, 200);
    let (queue, _) = open(&options);
    let mut dropped = Appended::default();
    for tag in 1..=9u8 {
        let appended = queue.append(&body(tag, 88), 10 + u32::from(tag)).unwrap();
        dropped.dropped_batches += appended.dropped_batches;
        dropped.dropped_spans += appended.dropped_spans;
        assert!(queue.stats().bytes <= 500, "{:?}", queue.stats());
    }
    // Segments [1,2] [3,4] were dropped to make room; [5,6] [7,8] [9] are kept.
    assert_eq!(
        dropped,
        Appended {
            dropped_batches: 4,
            dropped_spans: 11 + 12 + 13 + 14
        }
    );
    let failed = counter(
        names::EXPORTER_FAILED_SPANS,
        &[("exporter", id), ("error_type", "queue_full")],
    );
    assert_eq!(failed, 11 + 12 + 13 + 14);
    let tags: Vec<u8> = drain(&queue).into_iter().map(|(tag, _)| tag).collect();
    assert_eq!(tags, [5, 6, 7, 8, 9]);
}

#[test]
fn a_batch_in_flight_in_a_dropped_segment_is_not_counted_as_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_bound_in_flight", 300, 200);
    let (queue, _) = open(&options);
    queue.append(&body(1, 88), 1).unwrap();
    queue.append(&body(2, 88), 2).unwrap();
    let in_flight = queue.pop().unwrap().unwrap();
    queue.append(&body(3, 88), 3).unwrap();
    // The fourth needs room: segment [1,2] goes, and only 2 (not handed out) is dropped.
    let appended = queue.append(&body(4, 88), 4).unwrap();
    assert_eq!(
        appended,
        Appended {
            dropped_batches: 1,
            dropped_spans: 2
        }
    );
    queue.ack(in_flight.pos).unwrap();
    assert_eq!(drain(&queue), [(3, 3), (4, 4)]);
}

#[test]
fn a_batch_larger_than_the_bound_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_too_large", 100, 100);
    let (queue, _) = open(&options);
    let e = queue.append(&body(1, 200), 1).unwrap_err();
    assert!(
        matches!(
            e,
            QueueError::TooLarge {
                bytes: 212,
                max: 100
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("raise sending_queue.max_bytes"),
        "{e}"
    );
    assert_eq!(queue.stats(), Stats::default());
}

#[test]
fn delivered_segments_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), "otlp/dq_cleanup", 1 << 20, 100);
    let (queue, _) = open(&options);
    for tag in 1..=5u8 {
        queue.append(&body(tag, 88), 1).unwrap();
    }
    assert_eq!(segments(tmp.path()).len(), 5);
    assert_eq!(drain(&queue).len(), 5);
    assert_eq!(segments(tmp.path()).len(), 1, "only the head is kept");
    assert_eq!(
        queue.stats(),
        Stats {
            bytes: 100,
            batches: 0
        }
    );
}

#[test]
fn segment_names_round_trip_and_other_files_are_ignored() {
    assert_eq!(segment::file_name(7), "00000000000000000007.seg");
    assert_eq!(segment::parse_name("00000000000000000007.seg"), Some(7));
    for other in [
        "cursor",
        "7.seg",
        "0000000000000000000x.seg",
        "00000000000000000007",
    ] {
        assert_eq!(segment::parse_name(other), None, "{other}");
    }
    assert_eq!(Options::segment_bytes_for(1 << 30), 64 << 20);
    assert_eq!(Options::segment_bytes_for(1 << 20), 64 << 10);
}
