//! Uploads that fail the way object stores fail (issue 18, items 3 and 5): a put that was
//! written but answered with an error, a multipart upload broken halfway, permanent errors
//! (401, 403, a missing bucket) and retryable ones, with what `/healthz` and the metrics say;
//! and `abandon` at the shutdown deadline.

use super::*;
use crate::testing::{Failure, Fault, FaultyStore};
use object_store::local::LocalFileSystem;
use tokio::time::Instant;
use tracegate_pipeline::health::Status;

fn failures(exporter: &str, error_type: &str) -> u64 {
    CapturedMetrics::global().counter(
        names::ARCHIVE_UPLOAD_FAILURES,
        &[("exporter", exporter), ("error_type", error_type)],
    )
}

/// Polls until `check` holds, sleeping `step` between looks (virtual time under a paused
/// clock, so it measures the exporter's waits, not the machine's speed).
async fn until(what: &str, step: StdDuration, check: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if check() {
            return;
        }
        tokio::time::sleep(step).await;
    }
    panic!("gave up waiting for {what}");
}

fn writes<S: ObjectStore>(store: &FaultyStore<S>) -> usize {
    store.books().writes.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------
// Ambiguous and partial failures

#[tokio::test]
async fn issue_18_a_put_written_but_answered_with_an_error_leaves_each_span_once() {
    metrics_on();
    let name = "archive/lost-answer";
    // Both files' first puts are stored, but their callers hear a 503.
    let store = Arc::new(FaultyStore::new(InMemory::new()).with_faults([
        Fault::WriteThenFail(Failure::Transient),
        Fault::WriteThenFail(Failure::Transient),
    ]));
    let mut exporter = exporter(name, &small_config(), store.clone());
    let spans = spans_across_an_hour(30, 50);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();

    let files = files(store.inner()).await;
    // The retry overwrote the same key: one object per hour, no duplicate rows.
    assert_eq!(
        files.len(),
        2,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let rows: usize = files.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(rows, spans.len());
    assert_all_written(&files, &spans);
    assert_eq!(writes(&store), 4, "two files, each written twice");
    assert_eq!(failures(name, "retryable"), 2);
    assert_eq!(
        counter(names::ARCHIVE_SPANS_WRITTEN, name),
        spans.len() as u64
    );
}

#[tokio::test]
async fn issue_18_a_multipart_upload_failing_halfway_is_aborted_and_retried_whole() {
    let spans = testing::testkit_spans(100, Profile::Rag);

    // In memory, keeping S3's books of multipart uploads: the first upload's part 0 goes
    // through, part 1 fails.
    let store = Arc::new(FaultyStore::new(InMemory::new()).with_faults([Fault::FailPart(1)]));
    let mut exporter = exporter("archive/multipart-halfway", &small_config(), store.clone())
        .with_multipart(16 * 1024, 10 * 1024);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    let books = store.books();
    assert_eq!(books.multipart_started.load(Ordering::SeqCst), 2);
    assert_eq!(
        books.aborted.load(Ordering::SeqCst),
        1,
        "the broken upload is aborted"
    );
    assert_eq!(books.completed.load(Ordering::SeqCst), 1);
    assert_eq!(books.open_uploads(), 0, "no upload left holding parts");
    let all: Vec<ObjectMeta> = store.inner().list(None).try_collect().await.unwrap();
    assert_eq!(all.len(), 1, "one object, complete: {all:?}");
    let files = files(store.inner()).await;
    assert_all_written(&files, &spans);

    // On the local file system, where a multipart upload stages a file beside the target.
    let dir = tempfile::tempdir().unwrap();
    let local = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let store = Arc::new(FaultyStore::new(local).with_faults([Fault::FailPart(1)]));
    let mut exporter = super::exporter(
        "archive/multipart-halfway-local",
        &small_config(),
        store.clone(),
    )
    .with_multipart(16 * 1024, 10 * 1024);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(store.books().aborted.load(Ordering::SeqCst), 1);
    assert_eq!(store.books().open_uploads(), 0);
    let paths = walk(dir.path());
    assert_eq!(paths.len(), 1, "no staged part file left behind: {paths:?}");
    let (batch, _) = read_parquet(std::fs::read(&paths[0]).unwrap().into());
    assert_eq!(batch.num_rows(), spans.len());
}

// ---------------------------------------------------------------------------------------
// Permanent and retryable errors

fn cadence_config() -> ArchiveConfig {
    ArchiveConfig {
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(10),
        },
        ..small_config()
    }
}

#[tokio::test(start_paused = true)]
async fn issue_18_permanent_errors_degrade_at_once_and_recover_after_a_success() {
    metrics_on();
    for (failure, hint) in [
        (Failure::Forbidden, "s3:PutObject"),
        (Failure::Unauthorized, "check the credentials"),
        (Failure::NoSuchBucket, "create the bucket"),
    ] {
        let name = format!("archive/permanent-{failure:?}");
        let ctx = BuildContext::new(INSTANCE);
        let store = Arc::new(FaultyStore::new(InMemory::new()));
        store.fail_always(failure);
        let mut exporter =
            exporter_with(&name, &cadence_config(), store.clone(), &ctx).with_jitter_seed(1);
        let spans = testing::testkit_spans(5, Profile::Tiny);
        exporter.export(payload(&spans)).await.unwrap();
        exporter.flush_now();

        let step = StdDuration::from_millis(100);
        until("the first attempt", step, || writes(&store) >= 1).await;
        let report = ctx.health.report();
        assert_eq!(report.status, Status::Degraded, "{failure:?}: {report:?}");
        assert_eq!(report.components.len(), 1);
        let entry = &report.components[0];
        assert_eq!(entry.component, format!("exporter/{name}"));
        assert!(entry.reason.contains(hint), "{failure:?}: {}", entry.reason);
        assert!(
            entry.reason.contains(&format!("exporters.{name}")) || failure == Failure::Forbidden,
            "the hint names the exporter's keys: {}",
            entry.reason
        );

        // Retried at the max_backoff cadence (each wait in [5s, 10s]), not every few ms.
        let first = Instant::now();
        until("three more attempts", step, || writes(&store) >= 4).await;
        let waited = first.elapsed();
        assert!(
            waited >= StdDuration::from_secs(15),
            "{failure:?}: {waited:?}"
        );
        assert!(
            waited <= StdDuration::from_secs(31),
            "{failure:?}: {waited:?}"
        );
        assert!(failures(&name, "permanent") >= 4);
        assert_eq!(failures(&name, "retryable"), 0);
        assert_eq!(ctx.health.report().status, Status::Degraded);
        let nothing: Vec<ObjectMeta> = store.inner().list(None).try_collect().await.unwrap();
        assert!(nothing.is_empty(), "nothing written, nothing dropped");
        assert!(exporter.held_bytes() > 0, "the file is kept");

        // The operator fixes the bucket: the next attempt writes it, without a restart.
        store.lift();
        exporter.shutdown().await.unwrap();
        assert_eq!(ctx.health.report().status, Status::Ok, "{failure:?}");
        assert!(ctx.health.report().components.is_empty());
        assert_all_written(&files(store.inner()).await, &spans);
    }
}

#[tokio::test(start_paused = true)]
async fn issue_18_retryable_errors_back_off_quickly_and_degrade_only_when_they_last() {
    metrics_on();
    let name = "archive/retryable";
    let ctx = BuildContext::new(INSTANCE);
    let store = Arc::new(FaultyStore::new(InMemory::new()));
    store.fail_always(Failure::Transient);
    let mut exporter =
        exporter_with(name, &cadence_config(), store.clone(), &ctx).with_jitter_seed(2);
    let spans = testing::testkit_spans(5, Profile::Tiny);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.flush_now();

    let step = StdDuration::from_millis(1);
    until("the first attempt", step, || writes(&store) >= 1).await;
    let first = Instant::now();
    // Waits of about 1, 2, 4 ms (with jitter, at most 7 ms), not 10 s.
    until("three more attempts", step, || writes(&store) >= 4).await;
    assert!(
        first.elapsed() < StdDuration::from_millis(100),
        "{:?}",
        first.elapsed()
    );
    assert_eq!(
        ctx.health.report().status,
        Status::Ok,
        "a few retryable failures are not news"
    );
    assert!(failures(name, "retryable") >= 4);
    assert_eq!(failures(name, "permanent"), 0);

    // Bases 1ms, 2ms, ... 8.192s, then 10s: by the 16th failure the waits are at max.
    until(
        "the waits to reach max_backoff",
        StdDuration::from_millis(50),
        || writes(&store) >= 16,
    )
    .await;
    let report = ctx.health.report();
    assert_eq!(report.status, Status::Degraded, "{report:?}");
    assert!(
        report.components[0]
            .reason
            .contains("the object store is failing")
    );

    store.lift();
    exporter.shutdown().await.unwrap();
    assert_eq!(ctx.health.report().status, Status::Ok);
    assert_all_written(&files(store.inner()).await, &spans);
}

// ---------------------------------------------------------------------------------------
// Abandon at the shutdown deadline

#[tokio::test]
async fn issue_18_abandon_returns_the_spans_buffered_and_in_flight() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore::gated(gate.clone()));
    let mut exporter = exporter("archive/abandon", &small_config(), store.clone());
    let written = testing::testkit_spans(5, Profile::Tiny);
    let in_flight = spans_across_an_hour(4, 50);
    let buffered = testing::testkit_spans(3, Profile::Rag);

    // Written before the deadline: not counted.
    gate.add_permits(1);
    exporter.export(payload(&written)).await.unwrap();
    exporter.flush_now();
    exporter.drain().await;
    // Cut into two files whose uploads the store holds, then more rows buffered.
    exporter.export(payload(&in_flight)).await.unwrap();
    exporter.flush_now();
    exporter.export(payload(&buffered)).await.unwrap();
    assert!(exporter.pending_uploads() == 2 && exporter.open_partitions() == 1);

    let lost = exporter.abandon();
    assert_eq!(lost, in_flight.len() + buffered.len());
    assert_eq!(exporter.buffered_bytes(), 0);
    assert_eq!(
        (exporter.pending_uploads(), exporter.open_partitions()),
        (0, 0)
    );
    // The aborted uploads release their memory and write nothing, even once the store
    // lets them through.
    gate.add_permits(100);
    until(
        "the aborted tasks to end",
        StdDuration::from_millis(5),
        || exporter.held_bytes() == 0,
    )
    .await;
    assert_all_written(&files(&store.inner).await, &written);
    assert_eq!(exporter.abandon(), 0, "nothing left the second time");
    exporter.shutdown().await.unwrap();
    assert_all_written(&files(&store.inner).await, &written);
}
