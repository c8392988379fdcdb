//! The memory bound on the heads, and the write-ahead log's release only once spans are in
//! a block on disk.

use super::*;
use crate::testing::TestLog;
use tracegate_model::Origin;
use tracegate_pipeline::durability::Ledger;

#[tokio::test]
async fn the_heads_stay_within_max_head_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = HotStoreConfig {
        block_max_bytes: ByteSize::kib(64),
        max_head_bytes: ByteSize::kib(256),
        ..small_config(dir.path())
    };
    let mut exporter = started("hot-bound", &config, clock()).await;
    let mut peak = 0;
    let mut largest = 0;
    for t in 0..400u64 {
        let spans: Vec<_> = (0..10)
            .map(|i| span_of(tid(5, t), i + 1, None, "api", T0 + t * 1_000 + i, 5))
            .collect();
        let payload = traces(&spans);
        largest = largest.max(payload.estimated_bytes());
        exporter.export(payload).await.unwrap();
        peak = peak.max(exporter.store().head_bytes());
    }
    assert!(peak > 64 * 1024, "the heads filled: {peak}");
    // The bound is checked before taking a payload, so it can be passed by one payload
    // (and its index overhead).
    assert!(peak < 256 * 1024 + 2 * largest, "peak {peak}");
    exporter.flush().await;
    let stats = exporter.store().stats();
    assert_eq!(stats.block_spans, 4_000);
    assert!(stats.blocks >= 4, "{stats:?}");
}

#[tokio::test]
async fn spans_are_released_to_the_log_only_once_their_block_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["hot_store".to_owned()]);
    // Two records of 4 spans, across two tenants.
    let mut spans = Vec::new();
    for lsn in 0..2u64 {
        for i in 0..4 {
            let tenant = if i % 2 == 0 { None } else { Some("t2") };
            let mut s = span_of(tid(lsn, i), lsn * 10 + i + 1, tenant, "api", T0 + i, 5);
            s.origin = Origin::logged(lsn);
            spans.push(s);
        }
        ledger.logged(None, lsn, 4, &[0]);
    }
    log.end.store(2, Ordering::SeqCst);
    let config = HotStoreConfig {
        block_max_age: Duration::from_secs(600),
        ..small_config(dir.path())
    };
    let mut exporter =
        HotStoreExporter::new("hot_store", &config, &BuildContext::new("t"), clock());
    assert!(exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0)));
    exporter.start().await.unwrap();
    exporter.export(traces(&spans)).await.unwrap();
    exporter.tick().await.unwrap();
    assert_eq!(ledger.low_water(0), 0, "in the head only: nothing durable");
    assert_eq!(ledger.outstanding(0), 8);
    exporter.shutdown().await.unwrap();
    assert_eq!(ledger.outstanding(0), 0);
    assert_eq!(
        ledger.low_water(0),
        2,
        "both records durable once both tenants' blocks are written"
    );
}

#[tokio::test]
async fn abandon_counts_what_was_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-abandon", &small_config(dir.path()), clock()).await;
    let spans: Vec<_> = (0..7)
        .map(|i| span_of(tid(1, 2), i + 1, None, "api", T0 + i, 5))
        .collect();
    exporter.export(traces(&spans)).await.unwrap();
    assert_eq!(exporter.abandon(), 7);
}

#[tokio::test]
async fn a_failed_block_write_keeps_the_spans_searchable_and_is_tried_again() {
    CapturedMetrics::global();
    let dir = tempfile::tempdir().unwrap();
    let health = tracegate_pipeline::health::Health::default();
    let ctx = BuildContext::new("t").with_health(health.clone());
    let mut exporter = HotStoreExporter::new("hot-fail", &small_config(dir.path()), &ctx, clock());
    exporter.start().await.unwrap();
    // A file where the tenant's directory should go: the write fails.
    let blocker = dir.path().join(DEFAULT);
    std::fs::write(&blocker, b"not a directory").unwrap();
    let id = tid(4, 4);
    let spans: Vec<_> = (0..3)
        .map(|i| span_of(id, i + 1, None, "api", T0 + i, 5))
        .collect();
    exporter.export(traces(&spans)).await.unwrap();
    exporter.flush().await;
    let store = exporter.store().clone();
    assert_eq!(store.stats().blocks, 0);
    assert_eq!(
        keys(&store.find_trace(DEFAULT, &id).unwrap().unwrap()),
        keys(&spans)
    );
    let report = health.report();
    assert_eq!(report.components.len(), 1, "{report:?}");
    assert!(
        report.components[0].reason.contains("cannot write blocks"),
        "{report:?}"
    );
    assert_eq!(
        counter(
            crate::hot::metrics::names::WRITE_FAILURES,
            &[("exporter", "hot-fail")]
        ),
        1
    );

    std::fs::remove_file(&blocker).unwrap();
    exporter.tick().await.unwrap();
    exporter.flush().await;
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(store.stats().head_spans, 0);
    assert!(health.report().components.is_empty(), "recovered");
    assert_eq!(
        keys(&store.find_trace(DEFAULT, &id).unwrap().unwrap()),
        keys(&spans)
    );
}

/// Spans of `trace` logged in record `lsn`.
fn logged(trace: TraceId, ids: std::ops::Range<u64>, lsn: u64) -> Vec<Span> {
    ids.map(|i| {
        let mut s = span_of(trace, i, None, "api", T0 + i, 5);
        s.origin = Origin::logged(lsn);
        s
    })
    .collect()
}

fn ledger_of(records: &[&[Span]]) -> (Arc<TestLog>, Arc<Ledger>) {
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["hot_store".to_owned()]);
    for (lsn, spans) in records.iter().enumerate() {
        ledger.logged(None, lsn as u64, spans.len() as u64, &[0]);
    }
    log.end.store(records.len() as u64, Ordering::SeqCst);
    (log, ledger)
}

#[tokio::test]
async fn after_a_crash_replayed_spans_already_in_a_block_are_not_stored_again() {
    CapturedMetrics::global();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = HotStoreConfig {
        block_max_age: Duration::from_secs(600),
        ..small_config(dir.path())
    };
    let (x, y) = (tid(0, 10), tid(0, 11));
    let a = logged(x, 1..5, 0);
    let mut b = logged(y, 11..15, 1);
    b.extend(logged(x, 5..6, 1));
    let name = "hot_store";
    {
        // Run 1: record 0 reaches a block, record 1 is in the head when the crash comes.
        let (_log, ledger) = ledger_of(&[&a, &b]);
        let mut exporter = HotStoreExporter::new(name, &config, &BuildContext::new("t"), clock());
        exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0));
        exporter.start().await.unwrap();
        exporter.export(traces(&a)).await.unwrap();
        exporter.flush().await;
        exporter.export(traces(&b)).await.unwrap();
        assert_eq!(exporter.abandon(), 5);
        assert_eq!(ledger.low_water(0), 1);
    }
    // Run 2: no checkpoint was saved, so both records replay.
    let (_log, ledger) = ledger_of(&[&a, &b]);
    let mut exporter = HotStoreExporter::new(name, &config, &BuildContext::new("t"), clock());
    exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 2));
    exporter.start().await.unwrap();
    let before = counter(
        crate::hot::metrics::names::REPLAY_SKIPPED_SPANS,
        &[("exporter", name)],
    );
    exporter.export(traces(&a)).await.unwrap();
    assert_eq!(
        ledger.outstanding(0),
        5,
        "record 0, already stored, is durable at once"
    );
    exporter.export(traces(&b)).await.unwrap();
    exporter.flush().await;
    assert_eq!(ledger.outstanding(0), 0);
    assert_eq!(
        counter(
            crate::hot::metrics::names::REPLAY_SKIPPED_SPANS,
            &[("exporter", name)]
        ) - before,
        4
    );
    let store = exporter.store();
    assert_eq!(store.stats().block_spans, 9, "every span in a block once");
    let mut visits = std::collections::HashMap::new();
    store
        .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
            *visits.entry(t[0].trace_id).or_insert(0) += t.len();
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(visits.get(&x), Some(&5));
    assert_eq!(visits.get(&y), Some(&4));
}

#[tokio::test]
async fn a_block_that_cannot_be_encoded_is_given_up_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let spans = logged(tid(0, 20), 1..4, 0);
    let (_log, ledger) = ledger_of(&[&spans]);
    let mut exporter = HotStoreExporter::new(
        "hot-bug",
        &small_config(dir.path()),
        &BuildContext::new("t"),
        clock(),
    );
    exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0));
    exporter.start().await.unwrap();
    exporter.store().fail_encoding.store(true, Ordering::SeqCst);
    exporter.export(traces(&spans)).await.unwrap();
    exporter.flush().await;
    let stats = exporter.store().stats();
    assert_eq!(
        (stats.blocks, stats.head_spans, stats.head_bytes),
        (0, 0, 0),
        "dropped, not retried"
    );
    assert_eq!(
        ledger.outstanding(0),
        0,
        "released, so the log does not replay it forever"
    );
    exporter.shutdown().await.unwrap();
}
