use super::scan::days_from_civil;
use super::*;
use crate::destination::S3Options;
use crate::layout::file_path;
use crate::layout::{HourPartition, civil_from_days};
use crate::read::spans_from_batch;
use crate::testing;
use crate::{SpanEncoder, WriterOptions, write_spans};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use tracegate_testkit::Profile;
use ulid::Ulid;

const HOUR: u64 = 3_600_000_000_000;
/// 2026-11-22T06:00:00Z, the generator's time base.
const BASE: u64 = 1_795_327_200_000_000_000;

fn options() -> WriterOptions {
    WriterOptions {
        row_group_rows: 50,
        ..Default::default()
    }
}

/// Writes `spans` as one file of the hour `hour` (the file's path; rows keep their times).
async fn put_file(store: &dyn ObjectStore, prefix: &Path, hour: u64, spans: &[Span]) -> Path {
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    let file = write_spans(&encoded.batch, Some(&encoded.order), &options()).unwrap();
    let path = file_path(
        prefix,
        SPANS_TABLE,
        HourPartition::of_unix_nanos(hour),
        "gw-1",
        Ulid::new(),
    );
    store.put(&path, PutPayload::from(file)).await.unwrap();
    path
}

/// What decoding the archive gives for `spans`: their rows, decoded, by start time.
fn as_archived(spans: &[Span]) -> Vec<Span> {
    let mut out = spans_from_batch(&SpanEncoder::encode(spans).unwrap(), None).unwrap();
    out.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
    out
}

fn trace_ids(spans: &[Span]) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = Vec::new();
    for s in spans {
        if !ids.contains(&s.trace_id) {
            ids.push(s.trace_id);
        }
    }
    ids
}

fn of_trace(spans: &[Span], id: TraceId) -> Vec<Span> {
    spans.iter().filter(|s| s.trace_id == id).cloned().collect()
}

struct LocalArchive {
    _dir: tempfile::TempDir,
    url: String,
    spans: Vec<Span>,
    files: usize,
}

/// 300 RAG traces in 4 files of one hour, cut by span count so some traces straddle files.
async fn local_archive() -> LocalArchive {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("archive").display().to_string();
    let destination = Destination::from_url(&url, None).unwrap();
    let store = destination.open().await.unwrap();
    let spans = testing::testkit_spans(300, Profile::Rag);
    let chunk = spans.len().div_ceil(4);
    for part in spans.chunks(chunk) {
        put_file(store.as_ref(), destination.prefix(), BASE, part).await;
    }
    LocalArchive {
        _dir: dir,
        url,
        spans,
        files: 4,
    }
}

impl LocalArchive {
    fn archive(&self, options: ColdOptions) -> ColdArchive {
        ColdArchive::new(Destination::from_url(&self.url, None).unwrap(), options)
    }
}

#[tokio::test]
async fn traces_are_found_whole_reading_few_row_groups_and_footers_once() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions::default());
    let ids = trace_ids(&a.spans);
    // A trace split over two files (the first one of the second file).
    let second_file_first = a.spans[a.spans.len().div_ceil(4)].trace_id;
    let split = of_trace(&a.spans, second_file_first);
    assert!(split.len() > 1);

    let mut first = true;
    let mut bytes_first = 0;
    for id in ids.iter().step_by(37).copied().chain([second_file_first]) {
        let lookup = archive.find_trace(&id, None).await.unwrap();
        assert_eq!(
            lookup.spans,
            as_archived(&of_trace(&a.spans, id)),
            "trace {id}"
        );
        assert_eq!(lookup.files_listed, a.files);
        assert_eq!(lookup.files_opened, a.files);
        assert!(lookup.row_groups_read <= 4, "{lookup:?}");
        assert!(lookup.row_groups_pruned > 20, "{lookup:?}");
        assert!(!lookup.truncated);
        assert_eq!(lookup.duplicates, 0);
        if first {
            assert_eq!(lookup.footers_fetched, a.files);
            bytes_first = lookup.bytes_read;
            first = false;
        } else {
            assert_eq!(lookup.footers_fetched, 0, "the footers are cached");
            assert!(
                lookup.bytes_read < bytes_first,
                "{} vs {bytes_first}",
                lookup.bytes_read
            );
        }
    }
    let stats = archive.cache_stats();
    assert_eq!(stats.entries, a.files);
    assert_eq!(stats.misses, a.files as u64);
    assert!(stats.bytes > 0 && stats.bytes <= archive.options().footer_cache_bytes);
}

#[tokio::test]
async fn a_missing_trace_is_empty_and_reads_almost_nothing() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions::default());
    let mut read = 0;
    for i in 1..=10u8 {
        let id = TraceId([i; 16]);
        let lookup = archive.find_trace(&id, None).await.unwrap();
        assert!(lookup.spans.is_empty());
        assert_eq!(lookup.files_listed, a.files);
        read += lookup.row_groups_read;
    }
    // Only bloom-filter false positives (1%) read a row group.
    assert!(read <= 2, "{read} row groups read for 10 missing traces");

    // Again: the bloom filters are cached, so only the listing touches the store.
    let id = TraceId([1; 16]);
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!((lookup.footers_fetched, lookup.blooms_fetched), (0, 0));
    if lookup.row_groups_read == 0 {
        assert_eq!(lookup.bytes_read, 0);
    }
    let blooms = archive.bloom_cache_stats();
    assert!(blooms.entries >= 1 && blooms.hits >= 1, "{blooms:?}");
}

#[tokio::test]
async fn a_window_lists_only_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let destination = Destination::from_url(dir.path().to_str().unwrap(), None).unwrap();
    let store = destination.open().await.unwrap();
    let spans = testing::testkit_spans(20, Profile::Tiny);
    let id = spans[0].trace_id;
    // The same trace's spans in 06:00, in 09:00 (late ones), and in the next day's 01:00
    // (a replay that arrived then: the arrival hour).
    let (a, b) = spans.split_at(spans.len() / 2);
    put_file(store.as_ref(), destination.prefix(), BASE, a).await;
    put_file(store.as_ref(), destination.prefix(), BASE + 3 * HOUR, b).await;
    put_file(
        store.as_ref(),
        destination.prefix(),
        BASE + 19 * HOUR,
        &spans[..3],
    )
    .await;
    // Not a spans file: ignored.
    store
        .put(
            &destination
                .prefix()
                .clone()
                .join("spans")
                .join("README.txt"),
            PutPayload::from_static(b"hi"),
        )
        .await
        .unwrap();
    let archive = ColdArchive::new(destination, ColdOptions::default());

    let lookup = archive
        .find_trace(&id, Some((BASE, BASE + HOUR - 1)))
        .await
        .unwrap();
    assert_eq!(lookup.files_listed, 1);
    let lookup = archive
        .find_trace(&id, Some((BASE + 3 * HOUR, BASE)))
        .await
        .unwrap();
    assert_eq!(
        lookup.files_listed, 2,
        "an inverted window is the same window"
    );
    let lookup = archive
        .find_trace(&id, Some((BASE + 3 * HOUR, BASE + 19 * HOUR)))
        .await
        .unwrap();
    assert_eq!(lookup.files_listed, 2, "across midnight");
    let lookup = archive
        .find_trace(&id, Some((BASE + 4 * HOUR, BASE + 18 * HOUR)))
        .await
        .unwrap();
    assert_eq!(lookup.files_listed, 0, "between the files' hours");
    let lookup = archive.find_trace(&id, Some((0, HOUR))).await.unwrap();
    assert_eq!(lookup.files_listed, 0);
    assert!(lookup.spans.is_empty());

    // Longer than max_listed_days: the whole table is listed and the paths filtered.
    let lookup = archive
        .find_trace(&id, Some((0, BASE + 4 * HOUR)))
        .await
        .unwrap();
    assert_eq!(lookup.files_listed, 2);

    // Everything: the spans of the trace once each, though the replay holds three again.
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.files_listed, 3);
    assert_eq!(lookup.spans, as_archived(&of_trace(&spans, id)));
    let replayed = spans[..3].iter().filter(|s| s.trace_id == id).count();
    assert_eq!(lookup.duplicates, replayed);
}

#[tokio::test]
async fn a_lookup_stops_at_max_spans() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions {
        max_spans: 3,
        concurrency: 1,
        ..Default::default()
    });
    let id = a.spans[0].trace_id;
    assert!(of_trace(&a.spans, id).len() > 3);
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert!(lookup.truncated);
    assert_eq!(lookup.spans.len(), 3);
}

#[tokio::test]
async fn a_tiny_cache_evicts_and_still_answers() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions {
        footer_cache_bytes: 1,
        ..Default::default()
    });
    let id = a.spans[0].trace_id;
    for _ in 0..2 {
        let lookup = archive.find_trace(&id, None).await.unwrap();
        assert_eq!(lookup.footers_fetched, a.files);
        assert_eq!(lookup.spans, as_archived(&of_trace(&a.spans, id)));
    }
    assert_eq!(archive.cache_stats().entries, 0);
    assert_eq!(archive.cache_stats().too_large, 2 * a.files as u64);
}

#[tokio::test]
async fn a_corrupt_file_is_skipped_and_counted_and_the_tenant_is_set() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions {
        tenant: Some("acme".into()),
        ..Default::default()
    });
    let id = a.spans[0].trace_id;
    let whole = archive.find_trace(&id, None).await.unwrap();
    assert!(whole.spans.iter().all(|s| s.tenant() == "acme"));
    assert_eq!(whole.files_unreadable, 0);

    let destination = Destination::from_url(&a.url, None).unwrap();
    let store = destination.open().await.unwrap();
    store
        .put(
            &Path::from("spans/dt=2026-11-22/hour=06/bad.parquet"),
            PutPayload::from_static(b"not parquet at all"),
        )
        .await
        .unwrap();
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.files_unreadable, 1);
    assert_eq!(lookup.files_listed, a.files + 1);
    assert_eq!(lookup.spans, whole.spans);
}

/// A store whose reads fail (503), listing and writes working.
#[derive(Debug)]
struct FailingReads(Arc<dyn ObjectStore>);

impl std::fmt::Display for FailingReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailingReads")
    }
}

#[async_trait::async_trait]
impl ObjectStore for FailingReads {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        _location: &Path,
        _options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        Err(object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 503 Service Unavailable".into(),
        })
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_failing_store_fails_the_lookup_naming_the_file() {
    let a = local_archive().await;
    let local = Destination::from_url(&a.url, None)
        .unwrap()
        .open()
        .await
        .unwrap();
    let archive = ColdArchive::new(
        Destination::from_store(Arc::new(FailingReads(local)), Path::default()),
        ColdOptions::default(),
    );
    let e = archive
        .find_trace(&a.spans[0].trace_id, None)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("could not read spans/dt=2026-11-22/hour=06/") && text.contains("503"),
        "{text}"
    );
}

#[test]
fn lookups_can_be_spawned() {
    fn is_send<T: Send>(_: &T) {}
    let archive = ColdArchive::new(
        Destination::from_url("/nonexistent", None).unwrap(),
        ColdOptions::default(),
    );
    let id = TraceId([1; 16]);
    is_send(&archive.find_trace(&id, None));
}

#[test]
fn partitions_are_found_in_paths() {
    assert_eq!(
        partition_of("p/spans/dt=2024-02-29/hour=23/gw-1.parquet"),
        Some("dt=2024-02-29/hour=23")
    );
    assert_eq!(partition_of("spans/x.parquet"), None);
    assert_eq!(partition_of("spans/dt=2024-02-29/x.parquet"), None);
}

proptest! {
    #[test]
    fn days_from_civil_inverts_civil_from_days(days in 0i64..200_000) {
        let (y, m, d) = civil_from_days(days);
        prop_assert_eq!(days_from_civil(&format!("{y:04}-{m:02}-{d:02}")), Some(days));
    }
}

// ---- Against a real S3 server (moto). ----

#[tokio::test]
async fn on_s3_traces_are_found_and_footers_cached() {
    let Some(moto) = testing::moto() else {
        eprintln!(
            "skipped: set TRACEGATE_MOTO to a moto_server program or endpoint to run this test"
        );
        return;
    };
    let bucket = format!("cold-{}", Ulid::new().to_string().to_lowercase());
    let created = testing::http(&moto.endpoint, &format!("PUT /{bucket} HTTP/1.1\r\n")).unwrap();
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let s3 = S3Options {
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: Some(true),
        virtual_hosted_style: Some(false),
        ..Default::default()
    };
    let url = format!("s3://{bucket}/llm-traces");
    let destination = Destination::from_url(&url, Some(&s3)).unwrap();
    let store = destination.open().await.unwrap();
    let spans = testing::testkit_spans(200, Profile::Rag);
    for part in spans.chunks(spans.len().div_ceil(3)) {
        put_file(store.as_ref(), destination.prefix(), BASE, part).await;
    }
    let archive = ColdArchive::new(destination, ColdOptions::default());
    let ids = trace_ids(&spans);
    for (i, id) in ids.iter().step_by(50).enumerate() {
        let lookup = archive
            .find_trace(id, Some((BASE, BASE + HOUR)))
            .await
            .unwrap();
        assert_eq!(lookup.spans, as_archived(&of_trace(&spans, *id)));
        assert_eq!(lookup.files_listed, 3);
        assert_eq!(lookup.footers_fetched, if i == 0 { 3 } else { 0 });
        assert!(lookup.row_groups_read <= 3, "{lookup:?}");
    }
    let missing = archive.find_trace(&TraceId([7; 16]), None).await.unwrap();
    assert!(missing.spans.is_empty() && missing.row_groups_read <= 1);
}

#[tokio::test]
async fn warming_fills_the_caches_so_first_lookups_fetch_no_footer_or_bloom() {
    let a = local_archive().await;
    let archive = a.archive(ColdOptions::default());
    let warm = archive.warm().await.unwrap();
    assert_eq!(warm.files, a.files);
    assert_eq!(warm.footers_fetched, a.files);
    assert!(warm.blooms_fetched > 20, "{warm:?}");
    assert!(warm.bytes_read > 0 && !warm.stopped_full, "{warm:?}");
    assert_eq!(archive.cache_stats().entries, a.files);
    assert_eq!(archive.bloom_cache_stats().entries, warm.blooms_fetched);
    for id in trace_ids(&a.spans).into_iter().step_by(41) {
        let lookup = archive.find_trace(&id, None).await.unwrap();
        assert_eq!(
            (lookup.footers_fetched, lookup.blooms_fetched),
            (0, 0),
            "{id}"
        );
        assert_eq!(lookup.spans, as_archived(&of_trace(&a.spans, id)));
    }
    // A second warm-up has nothing left to fetch.
    let again = archive.warm().await.unwrap();
    assert_eq!((again.footers_fetched, again.blooms_fetched), (0, 0));
}

#[tokio::test]
async fn warming_stops_when_a_cache_is_nearly_full() {
    let a = local_archive().await;
    // Less room than one file's bloom filters (15 of about 160 bytes each), and one file at
    // a time: with 8 KiB and 16 at once, whether the first check came after one file or
    // after all four depended on the machine's load.
    let archive = a.archive(ColdOptions {
        bloom_cache_bytes: 2 * 1024,
        concurrency: 1,
        ..Default::default()
    });
    let warm = archive.warm().await.unwrap();
    assert!(warm.stopped_full, "{warm:?}");
    assert_eq!(warm.files, 1, "{warm:?}");
    // Lookups still answer.
    let id = a.spans[0].trace_id;
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.spans, as_archived(&of_trace(&a.spans, id)));
}

mod scores;
