//! The topology with a write-ahead log (in memory): log before the ack, refusals when the log
//! is full, checkpoints from exporters' progress, and the replay at start.

use super::*;
use crate::durability::{Durability, ReplayRecords, encode_record};
use crate::test_support::MemoryLog;

fn with_log(
    h: &mut Harness,
    log: &Arc<MemoryLog>,
    replay: ReplayRecords,
    checkpoints: &[(&str, u64)],
) {
    let end = log.state.lock().unwrap().end;
    h.config.durability = Some(Durability {
        log: log.clone(),
        state_dir: std::env::temp_dir().join("tracegate-topology-test-state"),
        sync: false,
        checkpoints: checkpoints
            .iter()
            .map(|(n, l)| (n.to_string(), *l))
            .collect(),
        replay_end: end,
        replay,
    });
}

fn logged_names(log: &MemoryLog) -> Vec<String> {
    let mut names: Vec<String> = log
        .state
        .lock()
        .unwrap()
        .records
        .iter()
        .flat_map(
            |(_, bytes)| match crate::durability::decode_record(bytes).unwrap().batch {
                crate::sender::Batch::Spans(b) => b.spans,
                crate::sender::Batch::Logs(_) => Vec::new(),
            },
        )
        .map(|s| s.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_acknowledged_span_is_logged_after_the_span_processors_and_checkpoints_reach_the_end()
{
    let mut h = harness(20, 10, Duration::ZERO, 64);
    let log = Arc::new(MemoryLog::default());
    with_log(&mut h, &log, Box::new(std::iter::empty()), &[]);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let accepted = h.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 200);
    // The log holds exactly what was acknowledged, as the processors left it: no nines.
    assert_eq!(logged_names(&log), expected_names(&accepted));
    for rec in [&h.fast, &h.slow] {
        let r = rec.lock().unwrap();
        let mut got = r.spans.clone();
        got.sort();
        assert_eq!(got, expected_names(&accepted));
        assert_eq!(
            r.logged,
            got.len(),
            "every exported span carries its record's origin"
        );
    }
    let state = log.state.lock().unwrap();
    for exporter in ["rec/fast", "rec/slow"] {
        assert_eq!(
            state.checkpoints.get(exporter),
            Some(&state.end),
            "{exporter} exported everything: its checkpoint is the log's end"
        );
    }
}

#[tokio::test]
async fn a_full_log_refuses_every_batch_and_nothing_reaches_the_exporters() {
    let mut h = harness(5, 10, Duration::ZERO, 64);
    let log = Arc::new(MemoryLog::default());
    log.state.lock().unwrap().full = true;
    with_log(&mut h, &log, Box::new(std::iter::empty()), &[]);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert!(h.accepted.lock().unwrap().is_empty());
    assert_eq!(*h.refused.lock().unwrap(), 5);
    assert!(h.fast.lock().unwrap().spans.is_empty());
}

#[tokio::test]
async fn replay_reaches_each_exporter_from_its_own_checkpoint_before_the_receivers_open() {
    let mut h = harness(0, 0, Duration::ZERO, 64);
    let log = Arc::new(MemoryLog::default());
    // Two records as an earlier run logged them, at LSNs 0 and 100.
    let mut records = Vec::new();
    for (lsn, first) in [(0u64, 100u64), (100, 200)] {
        let spans: Vec<Span> = (first..first + 3).map(span).collect();
        let mut bytes = Vec::new();
        encode_record("traces", &spans, &mut bytes);
        records.push(Ok((lsn, bytes::Bytes::from(bytes))));
    }
    // And one of a pipeline that is gone, and one that does not decode: both skipped.
    let mut gone = Vec::new();
    encode_record("traces/old", &[span(900)], &mut gone);
    records.push(Ok((150, gone.into())));
    records.push(Ok((160, bytes::Bytes::from_static(b"junk"))));
    log.state.lock().unwrap().end = 200;
    // rec/slow had made the first record durable before the restart.
    with_log(
        &mut h,
        &log,
        Box::new(records.into_iter()),
        &[("rec/fast", 0), ("rec/slow", 50)],
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let names = |r: &Arc<Mutex<Record>>| {
        let mut v = r.lock().unwrap().spans.clone();
        v.sort();
        v
    };
    // The replayed spans skip the span processors (they ran before the log): 209 is absent
    // only because there is no span 209; nothing of `traces/old` arrives.
    assert_eq!(
        names(&h.fast),
        [
            "span-100", "span-101", "span-102", "span-200", "span-201", "span-202"
        ]
    );
    assert_eq!(names(&h.slow), ["span-200", "span-201", "span-202"]);
    let state = log.state.lock().unwrap();
    assert_eq!(state.checkpoints.get("rec/fast"), Some(&200));
    assert_eq!(state.checkpoints.get("rec/slow"), Some(&200));
}

#[tokio::test]
async fn a_log_that_cannot_write_refuses_retryably_and_reports_the_wal_degraded() {
    let mut h = harness(4, 10, Duration::ZERO, 64);
    let log = Arc::new(MemoryLog::default());
    log.state.lock().unwrap().failing = true;
    with_log(&mut h, &log, Box::new(std::iter::empty()), &[]);
    let health = h.config.health.clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = health.report();
    assert_eq!(report.status, crate::health::Status::Degraded);
    assert!(
        report
            .components
            .iter()
            .any(|c| c.component == "wal" && c.reason.contains("No space left")),
        "{report:?}"
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert!(h.accepted.lock().unwrap().is_empty());
    assert_eq!(*h.refused.lock().unwrap(), 4);
    assert!(h.fast.lock().unwrap().spans.is_empty());
}
