//! Tests of the hot store, with the helpers they share:
//! - here: the head (searchable at once), blocks and restarts, ids with leading zeros, a
//!   trace over several blocks, tenants, read-only opening, span payloads, the factory;
//! - `tests/config.rs`: defaults, YAML and its errors;
//! - `tests/retention.rs`: eviction by age (an injected clock) and by size, counted;
//! - `tests/scan.rs`: newest first, pruning by the index, early stop;
//! - `tests/scores.rs`: a trace's scores as evaluation events on the spans they rate;
//! - `tests/late.rs`: late scores from a logs payload, served with the trace, kept on disk;
//! - `tests/bounds.rs`: the memory bound on the heads, and the write-ahead log's release
//!   only once a block is on disk.

use super::*;
use crate::testing;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::{Resource, Span, SpanBatch, SpanId, TraceId};
use tracegate_pipeline::{BuildContext, ByteSize, Duration, Exporter, Payload};
use tracegate_testkit::metrics::CapturedMetrics;

mod bounds;
mod config;
mod late;
mod retention;
mod scan;
mod scores;

/// A wall clock tests move by hand.
#[derive(Debug)]
pub(super) struct ManualClock(pub(super) AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 2024-01-01T00:00:00Z in ms.
pub(super) const T0_MS: u64 = 1_704_067_200_000;

pub(super) fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock(AtomicU64::new(T0_MS)))
}

pub(super) fn small_config(dir: &Path) -> HotStoreConfig {
    HotStoreConfig {
        path: dir.to_owned(),
        block_max_age: Duration::from_millis(100),
        block_max_bytes: ByteSize::mib(1),
        max_head_bytes: ByteSize::mib(4),
        ..HotStoreConfig::default()
    }
}

pub(super) async fn started(
    name: &str,
    config: &HotStoreConfig,
    clock: Arc<dyn Clock>,
) -> HotStoreExporter {
    let mut exporter = HotStoreExporter::new(name, config, &BuildContext::new("test"), clock);
    exporter.start().await.expect("the store opens");
    exporter
}

/// A trace id whose high half is `hi` and low half `lo`.
pub(super) fn tid(hi: u64, lo: u64) -> TraceId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hi.to_be_bytes());
    b[8..].copy_from_slice(&lo.to_be_bytes());
    TraceId(b)
}

/// A span of `trace` of `tenant` (`None`: the default one) and `service`.
pub(super) fn span_of(
    trace: TraceId,
    id: u64,
    tenant: Option<&str>,
    service: &str,
    start: u64,
    duration: u64,
) -> Span {
    let mut s = testing::span(0, 0, start);
    s.trace_id = trace;
    s.span_id = SpanId(id.to_be_bytes());
    s.name = format!("op-{id}");
    s.resource = Arc::new(Resource {
        tenant: tenant.map(Arc::from),
        ..Resource::with_service(service)
    });
    s.end_time_unix_nano = start + duration;
    s
}

/// `spans` as whole traces, the shape after trace assembly.
pub(super) fn traces(spans: &[Span]) -> Arc<Payload> {
    Arc::new(Payload::Traces(testing::group_into_traces(spans)))
}

/// What a test compares of a span: what the store must give back unchanged.
pub(super) fn key(s: &Span) -> (TraceId, SpanId, String, u64, u64, String, String) {
    (
        s.trace_id,
        s.span_id,
        s.name.clone(),
        s.start_time_unix_nano,
        s.end_time_unix_nano,
        s.service_name().to_owned(),
        s.tenant().to_owned(),
    )
}

pub(super) fn keys<'a>(
    spans: impl IntoIterator<Item = &'a Span>,
) -> Vec<(TraceId, SpanId, String, u64, u64, String, String)> {
    let mut k: Vec<_> = spans.into_iter().map(key).collect();
    k.sort_by_key(|k| (k.3, k.1));
    k
}

pub(super) const DEFAULT: &str = tracegate_model::DEFAULT_TENANT;

/// 1 s in ns after 2024-01-01.
pub(super) const S: u64 = 1_000_000_000;
pub(super) const T0: u64 = T0_MS * 1_000_000;

fn find(store: &HotStore, tenant: &str, id: &TraceId) -> Vec<Span> {
    store.find_trace(tenant, id).unwrap().unwrap_or_default()
}

#[tokio::test]
async fn the_head_is_searchable_at_once_and_a_block_serves_the_same_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-head", &small_config(dir.path()), clock()).await;
    let id = tid(7, 7);
    let spans: Vec<_> = (0..5)
        .map(|i| span_of(id, i + 1, None, "api", T0 + i * S, S / 2))
        .collect();
    exporter.export(traces(&spans)).await.unwrap();
    let store = exporter.store().clone();
    assert_eq!(keys(&find(&store, DEFAULT, &id)), keys(&spans));
    assert_eq!(store.stats().blocks, 0, "no block yet: the head answered");
    assert!(store.find_trace(DEFAULT, &tid(7, 8)).unwrap().is_none());

    exporter.flush().await;
    let stats = store.stats();
    assert_eq!(
        (stats.blocks, stats.block_spans, stats.head_spans),
        (1, 5, 0)
    );
    assert_eq!(stats.head_bytes, 0);
    assert_eq!(keys(&find(&store, DEFAULT, &id)), keys(&spans));
    let decoded = find(&store, DEFAULT, &id);
    assert_eq!(
        decoded[0].attributes, spans[0].attributes,
        "attributes come back"
    );
}

#[tokio::test]
async fn a_restart_reopens_the_blocks_and_finds_ids_with_leading_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    // 0000000000000000000000000000002a and 00000000000000010000000000000000.
    let ids = [tid(0, 42), tid(1, 0), tid(u64::MAX, u64::MAX)];
    let spans: Vec<_> = ids
        .iter()
        .enumerate()
        .flat_map(|(t, &id)| {
            (0..3).map(move |i| {
                span_of(
                    id,
                    (t * 10 + i) as u64 + 1,
                    None,
                    "api",
                    T0 + i as u64 * S,
                    10,
                )
            })
        })
        .collect();
    {
        let mut exporter = started("hot-restart", &config, clock()).await;
        exporter.export(traces(&spans)).await.unwrap();
        exporter.shutdown().await.unwrap();
    }
    // A write a crash cut short: deleted at start, never served.
    let tenant_dir = dir.path().join(DEFAULT);
    std::fs::write(
        tenant_dir.join("01HZZZZZZZZZZZZZZZZZZZZZZZ.parquet.tmp"),
        b"torn",
    )
    .unwrap();
    let exporter = started("hot-restart", &config, clock()).await;
    let store = exporter.store();
    for id in ids {
        let want: Vec<_> = spans.iter().filter(|s| s.trace_id == id).collect();
        assert_eq!(keys(&find(store, DEFAULT, &id)), keys(want), "{id}");
    }
    assert!(store.find_trace(DEFAULT, &tid(0, 41)).unwrap().is_none());
    let leftovers: Vec<_> = std::fs::read_dir(&tenant_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_trace_over_several_blocks_comes_back_whole_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-split", &small_config(dir.path()), clock()).await;
    let id = tid(3, 3);
    // A block without the trace, which a lookup must not open.
    exporter
        .export(traces(&[span_of(tid(3, 4), 99, None, "api", T0, 5)]))
        .await
        .unwrap();
    exporter.flush().await;
    let spans: Vec<_> = (0..9)
        .map(|i| span_of(id, i + 1, None, "api", T0 + i * S, 5))
        .collect();
    for part in spans.chunks(3).take(2) {
        exporter.export(traces(part)).await.unwrap();
        exporter.flush().await;
    }
    // The last part stays in the head; one span of the first part comes again (a replay).
    let mut last = spans[6..].to_vec();
    last.push(spans[0].clone());
    exporter.export(traces(&last)).await.unwrap();
    let store = exporter.store();
    assert_eq!(store.stats().blocks, 3);
    let found = find(store, DEFAULT, &id);
    assert_eq!(keys(&found), keys(&spans), "every span once");
    let cache = store.footer_cache_stats();
    assert_eq!(
        cache.misses, 2,
        "only the two blocks holding the trace were opened"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-tenants", &small_config(dir.path()), clock()).await;
    let id = tid(9, 9);
    let a: Vec<_> = (0..3)
        .map(|i| span_of(id, i + 1, Some("team-a"), "api", T0 + i, 5))
        .collect();
    let evil: Vec<_> = (0..2)
        .map(|i| span_of(id, i + 10, Some("../team-a"), "api", T0 + i, 5))
        .collect();
    // One payload mixing the tenants, and the same trace id in both.
    let mut mixed = a.clone();
    mixed.extend(evil.iter().cloned());
    exporter.export(traces(&mixed)).await.unwrap();
    let store = exporter.store().clone();
    let check = |store: &HotStore| {
        assert_eq!(keys(&find(store, "team-a", &id)), keys(&a));
        assert_eq!(keys(&find(store, "../team-a", &id)), keys(&evil));
        assert!(store.find_trace(DEFAULT, &id).unwrap().is_none());
        assert!(store.find_trace("team-b", &id).unwrap().is_none());
        let mut seen = Vec::new();
        store
            .scan("../team-a", &ScanFilter::all(), &mut |t| {
                seen.extend(t.iter().map(key));
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|k| k.6 == "../team-a"));
    };
    check(&store);
    exporter.flush().await;
    assert_eq!(store.stats().blocks, 2, "a block per tenant");
    check(&store);
    // Every directory is inside the store, named by Tempo's rule.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2);
    assert_eq!(names[1], "team-a");
    assert!(names[0].starts_with(".._team-a_"), "{names:?}");
    assert!(names.iter().all(|n| is_valid_tenant(n)));
    drop(exporter);
    let reopened = HotStore::open_read_only(dir.path()).unwrap();
    check(&reopened);
}

#[tokio::test]
async fn read_only_opening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let id = tid(0, 5);
    let spans: Vec<_> = (0..4)
        .map(|i| span_of(id, i + 1, None, "api", T0 + i, 5))
        .collect();
    let mut exporter = started("hot-ro", &small_config(dir.path()), clock()).await;
    exporter.export(traces(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    drop(exporter);
    let tmp = dir
        .path()
        .join(DEFAULT)
        .join("01HZZZZZZZZZZZZZZZZZZZZZZZ.parquet.tmp");
    std::fs::write(&tmp, b"torn").unwrap();
    let listing = |p: &Path| {
        let mut v: Vec<_> = walk(p);
        v.sort();
        v
    };
    let before = listing(dir.path());
    let store = HotStore::open_read_only(dir.path()).unwrap();
    assert_eq!(keys(&find(&store, DEFAULT, &id)), keys(&spans));
    assert_eq!(store.enforce_retention(), (0, 0));
    assert_eq!(listing(dir.path()), before);
    assert!(tmp.exists());
    assert!(HotStore::open_read_only(&dir.path().join("missing")).is_err());
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        out.push(e.path().display().to_string());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[tokio::test]
async fn span_payloads_from_a_pipeline_without_assembly_are_kept_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-spans", &small_config(dir.path()), clock()).await;
    let (x, y) = (tid(1, 1), tid(2, 2));
    // Interleaved traces in one batch.
    let spans: Vec<_> = (0..6)
        .map(|i| {
            span_of(
                if i % 2 == 0 { x } else { y },
                i + 1,
                None,
                "api",
                T0 + i,
                5,
            )
        })
        .collect();
    exporter
        .export(Arc::new(Payload::Spans(SpanBatch {
            spans: spans.clone(),
        })))
        .await
        .unwrap();
    let store = exporter.store().clone();
    let mut visits = Vec::new();
    store
        .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
            assert!(
                t.iter().all(|s| s.trace_id == t[0].trace_id),
                "one trace per visit"
            );
            visits.push((t[0].trace_id, t.len()));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(visits, [(y, 3), (x, 3)], "newest first");
    exporter.flush().await;
    let want: Vec<_> = spans.iter().filter(|s| s.trace_id == x).collect();
    assert_eq!(keys(&find(&store, DEFAULT, &x)), keys(want));
}

#[test]
fn the_factory_registers_its_store_and_keeps_every_trace() {
    use tracegate_pipeline::{ComponentId, ExporterFactory};
    let registry = HotRegistry::new();
    let factory = HotStoreFactory::new(registry.clone());
    assert_eq!(factory.type_name(), "hot_store");
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("path: {}\nretention: 1h\n", dir.path().join("x").display());
    let id = ComponentId::parse("hot_store/eu").unwrap();
    let exporter = factory
        .build(
            &id,
            serde_yaml_ng::from_str(&yaml).unwrap(),
            &BuildContext::new("t"),
        )
        .unwrap();
    assert!(!exporter.sampled_only());
    assert!(!dir.path().join("x").exists(), "build does no I/O");
    let store = registry.get("hot_store/eu").expect("registered");
    assert_eq!(store.path(), dir.path().join("x"));
    assert_eq!(registry.all().len(), 1);
    assert!(registry.get("hot_store").is_none());
    let bad = factory.build(
        &id,
        serde_yaml_ng::from_str("retention: 1s").unwrap(),
        &BuildContext::new("t"),
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("exporters.hot_store/eu.retention")
    );
}

pub(super) fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    CapturedMetrics::global().counter(name, labels)
}
