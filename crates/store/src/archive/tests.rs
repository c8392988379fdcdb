//! Tests of the `archive` exporter, with the helpers they share:
//! - `tests/config.rs`: fixtures in `testdata/`, defaults, errors with their key paths, and
//!   the factory, which builds without I/O;
//! - here, the exporter on `InMemory` and `LocalFileSystem`: files at the Hive paths, every span
//!   written once; cuts by size, by age and at shutdown; multipart uploads; retries after
//!   failed uploads; back-pressure when the memory bound is reached; its metrics;
//! - `tests/traces_table.rs`: the `traces` table beside the spans;
//! - `tests/logs_table.rs`: the `logs` and `scores` tables: Hive paths, order, bloom
//!   filters, each score once, the traces row's `scores`, durability of log records;
//! - `tests/sampling.rs`: a traces row for every trace with its sampling decision, spans of
//!   the kept traces only (unless `sampled_only_spans: false`);
//! - `tests/failures.rs`: uploads that fail in the ways stores fail (lost answers, multipart
//!   uploads broken halfway, permanent errors), health, and `abandon`;
//! - `tests/partitions.rs`: far-off timestamps and the bound on open partitions;
//! - `tests/durability.rs`: with the write-ahead log, spans released only once uploaded,
//!   and exactly-once archiving across crashes through the intent journal.

use super::*;
use crate::destination::{Destination, S3Options};
use crate::layout::{HourPartition, SPANS_TABLE, TRACES_TABLE};
use crate::testing::{
    self, Row, TraceRow, expected_trace_row, is_sorted, read_parquet, rows_of, trace_rows_of,
};
use crate::writer::Compression;
use async_trait::async_trait;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;
use tokio::sync::Semaphore;
use tracegate_model::{ReleaseReason, Span, SpanBatch, Trace};
use tracegate_pipeline::telemetry::names;
use tracegate_pipeline::{
    BuildContext, ByteSize, ComponentId, Duration, Exporter, ExporterFactory, Payload,
    parse_section,
};
use tracegate_testkit::metrics::CapturedMetrics;
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

// ---------------------------------------------------------------------------------------
// Metrics

/// Counters by metric name and `exporter` label, from the recorder shared by the whole test
/// binary; each test uses its own exporter name.
fn counter(name: &str, exporter: &str) -> u64 {
    CapturedMetrics::global().counter(name, &[("exporter", exporter)])
}

/// Installs the recorder before the exporter records anything.
fn metrics_on() {
    CapturedMetrics::global();
}

// ---------------------------------------------------------------------------------------
// Test stores

fn injected() -> object_store::Error {
    object_store::Error::Generic {
        store: "test",
        source: "injected failure".into(),
    }
}

/// Delegates to `InMemory`; fails the first `failures` puts (single or multipart), and
/// blocks each put until `gate` gives it a permit when there is a gate.
#[derive(Debug)]
struct TestStore {
    inner: InMemory,
    failures: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
    puts: AtomicUsize,
}

impl TestStore {
    fn new() -> Self {
        Self {
            inner: InMemory::new(),
            failures: AtomicUsize::new(0),
            gate: None,
            puts: AtomicUsize::new(0),
        }
    }

    fn failing(n: usize) -> Self {
        Self {
            failures: AtomicUsize::new(n),
            ..Self::new()
        }
    }

    fn gated(gate: Arc<Semaphore>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new()
        }
    }

    async fn admit(&self) -> object_store::Result<()> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.map_err(|_| injected())?.forget();
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if fail.is_ok() {
            Err(injected())
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestStore")
    }
}

#[async_trait]
impl ObjectStore for TestStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.admit().await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.admit().await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

const INSTANCE: &str = "gw-test";

/// A century either side: these tests place rows by their start time alone (the window's
/// own tests are in `tests/partitions.rs`).
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

fn small_config() -> ArchiveConfig {
    ArchiveConfig {
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
        },
        past_window: CENTURY,
        future_window: CENTURY,
        ..Default::default()
    }
}

fn exporter(name: &str, config: &ArchiveConfig, store: Arc<dyn ObjectStore>) -> ArchiveExporter {
    exporter_with(name, config, store, &BuildContext::new(INSTANCE))
}

fn exporter_with(
    name: &str,
    config: &ArchiveConfig,
    store: Arc<dyn ObjectStore>,
    ctx: &BuildContext,
) -> ArchiveExporter {
    ArchiveExporter::new(
        name,
        config,
        Destination::from_store(store, Path::from("lake")),
        ctx,
    )
}

/// Spans of whole RAG traces starting `offset_ms` before 07:00 UTC, so they straddle an hour.
fn spans_across_an_hour(traces: usize, offset_ms: u64) -> Vec<Span> {
    let start =
        GeneratorConfig::DEFAULT_START_UNIX_NANO + 3_600_000_000_000 - offset_ms * 1_000_000;
    let config = GeneratorConfig {
        seed: 5,
        profile: Profile::Rag,
        start_unix_nano: start,
    };
    Generator::new(config).batch_with_traces(traces).spans
}

fn payload(spans: &[Span]) -> Arc<Payload> {
    Arc::new(Payload::Spans(SpanBatch {
        spans: spans.to_vec(),
    }))
}

/// The same spans as whole traces, the shape after trace assembly.
fn traces_payload(spans: &[Span]) -> Arc<Payload> {
    Arc::new(Payload::Traces(testing::group_into_traces(spans)))
}

/// Every file under `lake/spans/`, with its rows, checking the layout of each.
async fn files(store: &dyn ObjectStore) -> Vec<(Path, Vec<Row>)> {
    let prefix = Path::from("lake");
    let mut metas: Vec<ObjectMeta> = store
        .list(Some(&prefix.clone().join(SPANS_TABLE)))
        .try_collect()
        .await
        .unwrap();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let rows = rows_of(&read_parquet(bytes).0);
        assert!(!rows.is_empty(), "{} is empty", meta.location);
        assert!(is_sorted(&rows), "{} is not sorted", meta.location);
        let partition = HourPartition::of_unix_nanos(rows[0].start_time as u64);
        let dir = partition.dir(&prefix, SPANS_TABLE);
        for row in &rows {
            assert_eq!(
                HourPartition::of_unix_nanos(row.start_time as u64),
                partition,
                "{}",
                meta.location
            );
        }
        let name = meta.location.filename().unwrap();
        assert_eq!(meta.location.as_ref(), format!("{dir}/{name}"));
        let ulid = name
            .strip_prefix("gw-test-")
            .and_then(|n| n.strip_suffix(".parquet"))
            .unwrap();
        assert!(ulid::Ulid::from_string(ulid).is_ok(), "{name}");
        out.push((meta.location, rows));
    }
    out
}

/// Every file under `lake/traces/`, with its rows, checking the layout of each: rows sorted
/// by trace id, every row in the partition of its trace's start.
async fn trace_files(store: &dyn ObjectStore) -> Vec<(Path, Vec<TraceRow>)> {
    let prefix = Path::from("lake");
    let mut metas: Vec<ObjectMeta> = store
        .list(Some(&prefix.clone().join(TRACES_TABLE)))
        .try_collect()
        .await
        .unwrap();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let (batch, metadata) = read_parquet(bytes);
        let table = metadata
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .find(|kv| kv.key == tracegate_model::schema::TABLE_KEY)
            .and_then(|kv| kv.value.clone());
        assert_eq!(table.as_deref(), Some("traces"));
        let rows = trace_rows_of(&batch);
        assert!(!rows.is_empty(), "{} is empty", meta.location);
        assert!(
            rows.windows(2)
                .all(|w| (&w[0].trace_id, w[0].start_time) <= (&w[1].trace_id, w[1].start_time)),
            "{} is not sorted",
            meta.location
        );
        let partition = HourPartition::of_unix_nanos(rows[0].start_time as u64);
        for row in &rows {
            assert_eq!(
                HourPartition::of_unix_nanos(row.start_time as u64),
                partition
            );
        }
        let name = meta.location.filename().unwrap();
        assert_eq!(
            meta.location.as_ref(),
            format!("{}/{name}", partition.dir(&prefix, TRACES_TABLE))
        );
        assert!(name.starts_with("gw-test-") && name.ends_with(".parquet"));
        out.push((meta.location, rows));
    }
    out
}

/// Asserts that `files` hold exactly `spans`, each once.
fn assert_all_written(files: &[(Path, Vec<Row>)], spans: &[Span]) {
    let written: Vec<_> = files
        .iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| (r.trace_id.clone(), r.span_id.clone()))
        .collect();
    let unique: HashSet<_> = written.iter().cloned().collect();
    assert_eq!(written.len(), spans.len(), "rows written");
    assert_eq!(unique.len(), spans.len(), "no duplicates");
    for s in spans {
        assert!(
            unique.contains(&(s.trace_id.to_hex(), s.span_id.to_hex())),
            "missing {:?}",
            s.span_id
        );
    }
}

// ---------------------------------------------------------------------------------------
// The exporter

#[tokio::test]
async fn writes_hive_partitioned_files_once_per_span() {
    metrics_on();
    let store = Arc::new(InMemory::new());
    let name = "archive/hive";
    let mut exporter = exporter(name, &small_config(), store.clone());
    let mut spans = spans_across_an_hour(100, 150);
    spans.extend(testing::edge_case_spans());
    let (first, second) = spans.split_at(spans.len() / 2);
    exporter.export(payload(first)).await.unwrap();
    exporter.export(traces_payload(second)).await.unwrap();
    assert!(
        files(store.as_ref()).await.is_empty(),
        "nothing is cut before a limit is reached"
    );
    exporter.shutdown().await.unwrap();
    exporter.shutdown().await.unwrap();

    let files = files(store.as_ref()).await;
    let dirs: Vec<_> = files
        .iter()
        .map(|(p, _)| {
            p.prefix_match(&Path::from("lake"))
                .unwrap()
                .take(3)
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    assert_eq!(
        dirs,
        [
            "spans/dt=1970-01-01/hour=00",
            "spans/dt=2024-02-29/hour=23",
            "spans/dt=2024-03-01/hour=00",
            "spans/dt=2026-11-22/hour=06",
            "spans/dt=2026-11-22/hour=07",
        ]
    );
    assert_all_written(&files, &spans);
    // Only the traces payload has traces rows: one per trace of the second half.
    let trace_files = trace_files(store.as_ref()).await;
    let trace_rows: usize = trace_files.iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(trace_rows, testing::group_into_traces(second).len());
    assert!(!trace_files.is_empty());
    assert_eq!(exporter.held_bytes(), 0);
    assert_eq!(
        counter(names::ARCHIVE_FILES_WRITTEN, name),
        5 + trace_files.len() as u64
    );
    assert_eq!(
        counter(names::ARCHIVE_SPANS_WRITTEN, name),
        spans.len() as u64
    );
    assert_eq!(
        counter(names::EXPORTER_SENT_SPANS, name),
        spans.len() as u64
    );
    assert_eq!(counter(names::ARCHIVE_UPLOAD_FAILURES, name), 0);
    let stored: u64 = {
        let metas: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        metas.iter().map(|m| m.size).sum()
    };
    assert_eq!(counter(names::ARCHIVE_BYTES_WRITTEN, name), stored);
}

#[tokio::test]
async fn writes_to_the_local_file_system_through_the_factory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let ctx = BuildContext::new(INSTANCE);
    let id = ComponentId::parse("archive").unwrap();
    let yaml = format!(
        "url: file://{}\ncompression: snappy\npast_window: 36500d",
        root.display()
    );
    let mut exporter = ArchiveExporterFactory
        .build(&id, serde_yaml_ng::from_str(&yaml).unwrap(), &ctx)
        .unwrap();
    let spans = spans_across_an_hour(50, 100);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();

    let entries: Vec<_> = walk(&root.join("spans"));
    assert_eq!(entries.len(), 2, "{entries:?}");
    for path in &entries {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            relative.starts_with("spans/dt=2026-11-22/hour=0"),
            "{relative}"
        );
        assert!(
            relative.contains("/gw-test-") && relative.ends_with(".parquet"),
            "{relative}"
        );
    }
    let mut written = 0;
    for path in entries {
        let (batch, metadata) = read_parquet(std::fs::read(path).unwrap().into());
        assert_eq!(
            metadata.row_group(0).column(0).compression(),
            parquet::basic::Compression::SNAPPY
        );
        assert!(is_sorted(&rows_of(&batch)));
        written += batch.num_rows();
    }
    assert_eq!(written, spans.len());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn cuts_files_by_size() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        flush_bytes: ByteSize::kib(256),
        max_buffer_bytes: ByteSize::mib(64),
        ..small_config()
    };
    let mut exporter = exporter("archive/size", &config, store.clone());
    let spans = testing::testkit_spans(400, Profile::Rag);
    for chunk in spans.chunks(100) {
        exporter.export(payload(chunk)).await.unwrap();
        assert!(
            exporter.buffered_bytes() < 256 * 1024,
            "the buffer stays under flush_bytes"
        );
    }
    exporter.drain().await;
    let before_shutdown = files(store.as_ref()).await.len();
    assert!(before_shutdown >= 3, "{before_shutdown} files cut by size");
    exporter.shutdown().await.unwrap();
    let files = files(store.as_ref()).await;
    assert_eq!(files.len(), before_shutdown + 1, "the rest at shutdown");
    assert_all_written(&files, &spans);
}

#[tokio::test(start_paused = true)]
async fn cuts_files_by_age_on_tick() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        flush_age: Duration::from_secs(5),
        ..small_config()
    };
    let mut exporter = exporter("archive/age", &config, store.clone());
    assert_eq!(exporter.tick_interval(), Some(StdDuration::from_secs(1)));
    let spans = testing::testkit_spans(10, Profile::Tiny);
    exporter.export(payload(&spans[..20])).await.unwrap();
    tokio::time::advance(StdDuration::from_secs(3)).await;
    exporter.export(payload(&spans[20..])).await.unwrap();
    exporter.tick().await.unwrap();
    assert_eq!(exporter.pending_uploads(), 0, "younger than flush_age");
    tokio::time::advance(StdDuration::from_millis(2_001)).await;
    exporter.tick().await.unwrap();
    assert_eq!(exporter.pending_uploads(), 1, "the oldest span is 5s old");
    assert_eq!(exporter.buffered_bytes(), 0);
    exporter.drain().await;
    let files = files(store.as_ref()).await;
    assert_eq!(files.len(), 1);
    assert_all_written(&files, &spans);
    exporter.shutdown().await.unwrap();
    assert_eq!(
        self::files(store.as_ref()).await.len(),
        1,
        "nothing left for shutdown"
    );
}

#[tokio::test]
async fn failed_uploads_are_retried_until_they_succeed() {
    metrics_on();
    let name = "archive/flaky";
    let store = Arc::new(TestStore::failing(3));
    let mut exporter = exporter(name, &small_config(), store.clone());
    let spans = spans_across_an_hour(30, 50);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    let files = files(&store.inner).await;
    assert_eq!(files.len(), 2);
    assert_all_written(&files, &spans);
    assert_eq!(
        store.puts.load(Ordering::SeqCst),
        5,
        "3 failures, then 2 files"
    );
    assert_eq!(counter(names::ARCHIVE_UPLOAD_FAILURES, name), 3);
    assert_eq!(counter(names::EXPORTER_RETRIES, name), 3);
    assert_eq!(counter(names::ARCHIVE_FILES_WRITTEN, name), 2);
    assert_eq!(
        counter(names::EXPORTER_SENT_SPANS, name),
        spans.len() as u64
    );
}

#[tokio::test]
async fn large_files_go_up_in_parts() {
    let spans = testing::testkit_spans(100, Profile::Rag);
    // In memory, with the first multipart upload failing.
    let store = Arc::new(TestStore::failing(1));
    let mut exporter = exporter("archive/multipart", &small_config(), store.clone())
        .with_multipart(16 * 1024, 10 * 1024);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    let files = files(&store.inner).await;
    assert_all_written(&files, &spans);
    assert_eq!(
        store.puts.load(Ordering::SeqCst),
        2,
        "one failed start, one upload"
    );

    // On the local file system, through the lazily created directory.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let destination = Destination::from_url(root.to_str().unwrap(), None).unwrap();
    let mut exporter = ArchiveExporter::new(
        "archive/multipart-local",
        &small_config(),
        destination,
        &BuildContext::new(INSTANCE),
    )
    .with_multipart(16 * 1024, 10 * 1024);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    let paths = walk(&root);
    assert_eq!(paths.len(), 1, "{paths:?}");
    let (batch, _) = read_parquet(std::fs::read(&paths[0]).unwrap().into());
    assert_eq!(batch.num_rows(), spans.len());
}

#[tokio::test]
async fn export_waits_for_room_when_the_buffer_is_full() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore::gated(gate.clone()));
    let config = ArchiveConfig {
        flush_bytes: ByteSize::kib(16),
        max_buffer_bytes: ByteSize::kib(16),
        ..small_config()
    };
    let mut exporter = exporter("archive/backpressure", &config, store.clone());
    let spans = testing::testkit_spans(10, Profile::Rag);
    let (first, second) = spans.split_at(spans.len() / 2);

    // The first payload is over flush_bytes: it is cut, and its upload blocks.
    tokio::time::timeout(StdDuration::from_secs(5), exporter.export(payload(first)))
        .await
        .unwrap()
        .unwrap();
    assert!(exporter.held_bytes() >= 16 * 1024);
    {
        let export = exporter.export(payload(second));
        tokio::pin!(export);
        let waited = tokio::time::timeout(StdDuration::from_millis(300), &mut export).await;
        assert!(
            waited.is_err(),
            "export waits while the memory bound is reached"
        );
        gate.add_permits(100);
        tokio::time::timeout(StdDuration::from_secs(10), &mut export)
            .await
            .expect("room was freed")
            .unwrap();
    }
    exporter.shutdown().await.unwrap();
    assert_eq!(exporter.held_bytes(), 0);
    let files = files(&store.inner).await;
    assert_all_written(&files, &spans);
}

#[tokio::test]
async fn shutdown_with_nothing_buffered_writes_nothing() {
    let store = Arc::new(InMemory::new());
    let mut exporter = exporter("archive/empty", &small_config(), store.clone());
    exporter.tick().await.unwrap();
    exporter
        .export(Arc::new(Payload::Spans(SpanBatch::default())))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();
    assert!(files(store.as_ref()).await.is_empty());
}

mod config;
mod durability;
mod failures;
mod logs_table;
mod partitions;
mod sampling;
mod tenants;
mod traces_table;
