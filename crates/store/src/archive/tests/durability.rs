//! With the write-ahead log: spans reported durable only once every file holding rows of
//! their payload is uploaded, and exactly-once archiving across crashes through the intent
//! journal. Each "run" is a fresh ledger over a tiny in-memory log and a fresh exporter on
//! the same state directory and store; a crash is an `abandon` with no checkpoint saved, so
//! the next run replays every record.

use super::*;
use crate::archive::journal::{self, Journal};
use crate::testing::{Failure, FaultyStore, TestLog};
use tracegate_model::Origin;
use tracegate_pipeline::durability::{Ledger, Release};

/// Spans of whole RAG traces across 07:00, logged `per_record` to a record in order.
fn logged_spans(traces: usize, per_record: usize) -> Vec<Span> {
    let mut spans = spans_across_an_hour(traces, 150);
    for (i, span) in spans.iter_mut().enumerate() {
        span.origin = Origin::logged((i / per_record) as u64);
    }
    spans
}

/// One run of the gateway: a ledger that owes the archive every record of `spans`.
fn ledger_of(spans: &[Span]) -> Arc<Ledger> {
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["archive".to_owned()]);
    let mut counts = std::collections::BTreeMap::<u64, u64>::new();
    for span in spans {
        *counts.entry(span.origin.lsn().unwrap()).or_default() += 1;
    }
    let end = counts.keys().last().map_or(0, |l| l + 1);
    log.end.store(end, Ordering::SeqCst);
    for (lsn, n) in counts {
        ledger.logged(None, lsn, n, &[0]);
    }
    ledger
}

/// The archive's release in a run that replays every record below `replay_end`.
fn release(ledger: &Arc<Ledger>, state: &std::path::Path, replay_end: u64) -> Release {
    ledger.release(0, state.to_owned(), true, 0, replay_end)
}

async fn started(
    name: &str,
    store: &Arc<FaultyStore<InMemory>>,
    release: Release,
) -> ArchiveExporter {
    let mut exporter = exporter(name, &small_config(), store.clone());
    assert!(
        exporter.take_release(release),
        "the archive reports durability itself"
    );
    tokio::time::timeout(StdDuration::from_secs(10), exporter.start())
        .await
        .expect("recovery finishes")
        .unwrap();
    exporter
}

/// Waits until `done` holds, polling.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Files the archive writes for `spans` as whole traces: one per hour of the spans' starts,
/// and one per hour of the traces' starts.
fn expected_files(spans: &[Span]) -> usize {
    let hours = |starts: Vec<u64>| {
        let set: HashSet<HourPartition> = starts
            .into_iter()
            .map(HourPartition::of_unix_nanos)
            .collect();
        set.len()
    };
    let traces = testing::group_into_traces(spans);
    hours(spans.iter().map(|s| s.start_time_unix_nano).collect())
        + hours(traces.iter().map(|t| t.start_time_unix_nano()).collect())
}

fn journal_entries(state: &std::path::Path) -> journal::Contents {
    Journal::new(state.to_owned(), false).read().unwrap()
}

/// Asserts the archive holds each span once and one traces row per trace.
async fn assert_exactly_once(store: &FaultyStore<InMemory>, spans: &[Span]) {
    assert_all_written(&files(store.inner()).await, spans);
    let rows: Vec<String> = trace_files(store.inner())
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| r.trace_id)
        .collect();
    let unique: HashSet<&String> = rows.iter().collect();
    let traces = testing::group_into_traces(spans).len();
    assert_eq!(
        (rows.len(), unique.len()),
        (traces, traces),
        "one row per trace"
    );
}

/// The same traces as after a restart: regrouped by assembly, in another order.
fn replayed(spans: &[Span]) -> Arc<Payload> {
    let mut traces = testing::group_into_traces(spans);
    traces.reverse();
    for trace in &mut traces {
        trace.spans.reverse();
    }
    Arc::new(Payload::Traces(traces))
}

#[tokio::test]
async fn spans_are_released_only_once_their_spans_and_traces_files_are_uploaded() {
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(30, 7);
    let ledger = ledger_of(&spans);
    let total = spans.len() as u64;
    let mut exporter = started(
        "archive/dur-release",
        &store,
        release(&ledger, state.path(), 0),
    )
    .await;

    store.hold_paths("/traces/");
    exporter.export(traces_payload(&spans)).await.unwrap();
    assert_eq!(ledger.outstanding(0), total, "buffered: nothing is durable");
    exporter.flush_now();
    until("both spans files are uploaded", async || {
        files(store.inner()).await.len() == 2
    })
    .await;
    // Every upload is recorded in the journal before it starts.
    until("the traces uploads are journaled and refused", async || {
        journal_entries(state.path()).entries.len() == expected_files(&spans)
    })
    .await;
    assert!(trace_files(store.inner()).await.is_empty());
    assert_eq!(
        ledger.outstanding(0),
        total,
        "the traces rows describing them are not uploaded yet"
    );
    assert_eq!(ledger.low_water(0), 0);

    store.lift();
    exporter.drain().await;
    assert_eq!(ledger.outstanding(0), 0);
    assert_eq!(ledger.low_water(0), spans.len().div_ceil(7) as u64);
    exporter.shutdown().await.unwrap();
    assert_exactly_once(&store, &spans).await;
}

#[tokio::test]
async fn a_crash_after_upload_and_before_the_checkpoint_archives_each_span_once() {
    metrics_on();
    let name = "archive/dur-crash";
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(40, 5);
    let traces = testing::group_into_traces(&spans);
    let (first, second) = traces.split_at(traces.len() / 2);
    let first_spans: Vec<Span> = first.iter().flat_map(|t| t.spans.clone()).collect();

    // Run 1: the first half is uploaded, the second is still being retried at the crash.
    let ledger = ledger_of(&spans);
    let mut exporter = started(name, &store, release(&ledger, state.path(), 0)).await;
    exporter
        .export(Arc::new(Payload::Traces(first.to_vec())))
        .await
        .unwrap();
    exporter.flush_now();
    exporter.drain().await;
    let second_count: usize = second.iter().map(|t| t.spans.len()).sum();
    assert_eq!(ledger.outstanding(0), second_count as u64);
    store.fail_always(Failure::Transient);
    exporter
        .export(Arc::new(Payload::Traces(second.to_vec())))
        .await
        .unwrap();
    exporter.flush_now();
    assert_eq!(exporter.abandon(), second_count);
    drop(exporter);
    store.lift();

    // Run 2: no checkpoint was saved, so every record is replayed, regrouped.
    let ledger = ledger_of(&spans);
    let end = ledger.log().end();
    let mut exporter = started(name, &store, release(&ledger, state.path(), end)).await;
    exporter.export(replayed(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    assert_exactly_once(&store, &spans).await;
    assert_eq!(
        counter(names::ARCHIVE_REPLAY_SKIPPED_SPANS, name),
        first_spans.len() as u64,
        "the first half is not written again"
    );
    assert_eq!(ledger.outstanding(0), 0, "skipped spans are durable too");
    assert_eq!(ledger.low_water(0), end);
    // The recovery's ids go once the checkpoint passes every replayed record.
    assert!(exporter.remembers_archived_ids());
    exporter.tick().await.unwrap();
    assert!(!exporter.remembers_archived_ids());
}

#[tokio::test]
async fn an_intent_whose_upload_never_happened_does_not_skip_the_replayed_spans() {
    metrics_on();
    let name = "archive/dur-never";
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(20, 3);

    let ledger = ledger_of(&spans);
    let mut exporter = started(name, &store, release(&ledger, state.path(), 0)).await;
    store.fail_always(Failure::Transient);
    exporter.export(traces_payload(&spans)).await.unwrap();
    exporter.flush_now();
    until("every upload is journaled", async || {
        journal_entries(state.path()).entries.len() == expected_files(&spans)
    })
    .await;
    exporter.abandon();
    drop(exporter);
    store.lift();
    assert!(files(store.inner()).await.is_empty());

    let ledger = ledger_of(&spans);
    let end = ledger.log().end();
    let mut exporter = started(name, &store, release(&ledger, state.path(), end)).await;
    assert!(!exporter.remembers_archived_ids(), "nothing was archived");
    assert!(
        journal_entries(state.path()).entries.is_empty(),
        "intents of uploads that never happened are dropped"
    );
    exporter.export(replayed(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    assert_exactly_once(&store, &spans).await;
    assert_eq!(counter(names::ARCHIVE_REPLAY_SKIPPED_SPANS, name), 0);
    assert_eq!(ledger.outstanding(0), 0);
}

#[tokio::test]
async fn a_torn_and_a_damaged_journal_line_are_tolerated() {
    let name = "archive/dur-torn";
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(20, 4);

    let ledger = ledger_of(&spans);
    let mut exporter = started(name, &store, release(&ledger, state.path(), 0)).await;
    exporter.export(traces_payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    drop(exporter);
    // The crash tore the last line, a line was damaged, and garbage got in.
    let path = state.path().join(journal::FILE_NAME);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), expected_files(&spans));
    assert_eq!(lines.len(), 3, "two spans files and one traces file");
    let damaged = journal::Entry::parse(&lines[1]).unwrap();
    lines[1] = lines[1].replacen(".parquet", ".parquez", 1);
    lines.insert(2, "0123 garbage".to_owned());
    let torn = "00ff 12 spans lake/spans/dt=2026-11-22/hour=07/gw-te";
    std::fs::write(&path, format!("{}\n{torn}", lines.join("\n"))).unwrap();
    let before = journal_entries(state.path());
    assert_eq!(
        (before.entries.len(), before.damaged, before.torn),
        (2, 2, true)
    );

    let ledger = ledger_of(&spans);
    let end = ledger.log().end();
    let mut exporter = started(name, &store, release(&ledger, state.path(), end)).await;
    let after = journal_entries(state.path());
    assert_eq!((after.damaged, after.torn), (0, false), "rewritten clean");
    assert_eq!(after.entries, before.entries);
    exporter.export(replayed(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    // The rows of the file whose line was damaged are written again: duplicates, never loss.
    let span_files = files(store.inner()).await;
    let rows: Vec<(String, String)> = span_files
        .iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| (r.trace_id.clone(), r.span_id.clone()))
        .collect();
    let unique: HashSet<_> = rows.iter().collect();
    assert_eq!(unique.len(), spans.len(), "every span is archived");
    let trace_rows: usize = trace_files(store.inner())
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    let traces = testing::group_into_traces(&spans).len();
    let again = |path: &str| {
        span_files
            .iter()
            .find(|(p, _)| p.as_ref() == path)
            .map_or(0, |(_, r)| r.len())
    };
    if damaged.table == SPANS_TABLE {
        assert_eq!(rows.len(), spans.len() + again(&damaged.path));
        assert_eq!(trace_rows, traces);
    } else {
        assert_eq!(rows.len(), spans.len(), "no span twice");
        assert!(trace_rows > traces, "that file's traces rows again");
    }
    assert_eq!(ledger.outstanding(0), 0);
}

#[tokio::test]
async fn abandon_releases_nothing_it_had_not_uploaded() {
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(30, 6);
    let traces = testing::group_into_traces(&spans);
    let (first, rest) = traces.split_at(10);
    let (second, third) = rest.split_at(10);
    let count = |ts: &[Trace]| ts.iter().map(|t| t.spans.len() as u64).sum::<u64>();

    let ledger = ledger_of(&spans);
    let mut exporter = started(
        "archive/dur-abandon",
        &store,
        release(&ledger, state.path(), 0),
    )
    .await;
    exporter
        .export(Arc::new(Payload::Traces(first.to_vec())))
        .await
        .unwrap();
    exporter.flush_now();
    exporter.drain().await;
    assert_eq!(ledger.outstanding(0), count(rest));
    // The second payload's files are retried, the third is still buffered.
    store.fail_always(Failure::Transient);
    exporter
        .export(Arc::new(Payload::Traces(second.to_vec())))
        .await
        .unwrap();
    exporter.flush_now();
    exporter
        .export(Arc::new(Payload::Traces(third.to_vec())))
        .await
        .unwrap();
    assert_eq!(exporter.abandon() as u64, count(rest));
    drop(exporter);
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    assert_eq!(ledger.outstanding(0), count(rest), "the log keeps them");
    let oldest = rest
        .iter()
        .flat_map(|t| &t.spans)
        .filter_map(|s| s.origin.lsn())
        .min();
    assert_eq!(Some(ledger.low_water(0)), oldest);
}

#[tokio::test]
async fn spans_left_out_as_unsampled_are_released_once_their_traces_rows_are_uploaded() {
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let spans = logged_spans(30, 7);
    let ledger = ledger_of(&spans);
    let mut exporter = started(
        "archive/dur-unsampled",
        &store,
        release(&ledger, state.path(), 0),
    )
    .await;
    let traces = super::sampling::sampled_traces(&spans);
    let kept: Vec<Span> = traces
        .iter()
        .filter(|t| t.is_sampled())
        .flat_map(|t| t.spans.clone())
        .collect();
    assert!(kept.len() < spans.len());

    store.hold_paths("/traces/");
    exporter
        .export(Arc::new(Payload::Traces(traces.clone())))
        .await
        .unwrap();
    exporter.flush_now();
    until("the spans files are uploaded", async || {
        files(store.inner()).await.len() == 2
    })
    .await;
    assert_all_written(&files(store.inner()).await, &kept);
    assert_eq!(
        ledger.outstanding(0),
        spans.len() as u64,
        "nothing is durable before the traces rows, which describe the unsampled spans too"
    );

    store.lift();
    exporter.drain().await;
    assert_eq!(
        ledger.outstanding(0),
        0,
        "the unsampled spans are released too"
    );
    assert_eq!(ledger.low_water(0), ledger.log().end());
    exporter.shutdown().await.unwrap();
    let rows: usize = trace_files(store.inner())
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert_eq!(rows, traces.len());
}
