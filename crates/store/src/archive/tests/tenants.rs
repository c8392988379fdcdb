//! Multi-tenancy: every table under `tenant={T}/`, no file mixing tenants, the bound on
//! open partitions counting (tenant, hour) pairs, and cold reads of one tenant's part only.

use super::*;
use crate::read::{ColdArchive, ColdOptions};
use crate::testing::span;
use tracegate_model::{Resource, TraceId};

const T0: u64 = GeneratorConfig::DEFAULT_START_UNIX_NANO;

/// Spans `ids` of trace 1 (the same trace id for every tenant) sent by `tenant`.
fn tenant_spans(tenant: &str, ids: &[u8]) -> Vec<Span> {
    let resource = Arc::new(Resource {
        tenant: Some(Arc::from(tenant)),
        ..Resource::with_service("api")
    });
    ids.iter()
        .map(|&id| Span {
            resource: resource.clone(),
            ..span(1, id, T0 + u64::from(id) * 1_000)
        })
        .collect()
}

/// Two tenants' traces sharing trace id 1: team-a's spans 1 and 2, team-b's 3 and 4.
fn two_tenants() -> Arc<Payload> {
    let mut traces = testing::group_into_traces(&tenant_spans("team-a", &[1, 2]));
    traces.extend(testing::group_into_traces(&tenant_spans("team-b", &[3, 4])));
    Arc::new(Payload::Traces(traces))
}

/// Every object's path under `lake/`, sorted.
async fn paths(store: &dyn ObjectStore) -> Vec<String> {
    let metas: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
    let mut paths: Vec<String> = metas.iter().map(|m| m.location.to_string()).collect();
    paths.sort();
    paths
}

async fn span_ids_in(store: &dyn ObjectStore, path: &str) -> Vec<String> {
    let bytes = store
        .get(&Path::from(path))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut ids: Vec<String> = rows_of(&read_parquet(bytes).0)
        .into_iter()
        .map(|r| r.span_id)
        .collect();
    ids.sort();
    ids
}

fn hex(id: u8) -> String {
    tracegate_model::SpanId([id; 8]).to_hex()
}

async fn run(max_open_partitions: usize, multitenancy: bool) -> (Arc<InMemory>, ArchiveExporter) {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        max_open_partitions,
        ..small_config()
    };
    let ctx = BuildContext::new(INSTANCE).with_multitenancy(multitenancy);
    let mut exporter = exporter_with("archive/tenants", &config, store.clone(), &ctx);
    exporter.export(two_tenants()).await.unwrap();
    exporter.shutdown().await.unwrap();
    (store, exporter)
}

#[tokio::test]
async fn each_tenant_has_its_own_prefix_and_no_file_mixes_tenants() {
    for max_open in [1, 32] {
        let (store, exporter) = run(max_open, true).await;
        let paths = paths(store.as_ref()).await;
        let spans: Vec<&String> = paths.iter().filter(|p| p.contains("/spans/")).collect();
        let traces: Vec<&String> = paths.iter().filter(|p| p.contains("/traces/")).collect();
        for (table, files) in [("spans", &spans), ("traces", &traces)] {
            assert_eq!(files.len(), 2, "{table}: one file per tenant: {files:?}");
            assert!(files[0].starts_with(&format!(
                "lake/{table}/tenant=team-a/dt=2026-11-22/hour=06/gw-test-"
            )));
            assert!(files[1].starts_with(&format!(
                "lake/{table}/tenant=team-b/dt=2026-11-22/hour=06/gw-test-"
            )));
        }
        assert_eq!(
            span_ids_in(store.as_ref(), spans[0]).await,
            [hex(1), hex(2)]
        );
        assert_eq!(
            span_ids_in(store.as_ref(), spans[1]).await,
            [hex(3), hex(4)]
        );
        // The bound counts (tenant, hour) pairs: one hour, two tenants.
        assert_eq!(exporter.peak_open_partitions(), max_open.min(2));
    }
}

#[tokio::test]
async fn without_multitenancy_the_layout_has_no_tenant_level() {
    let (store, _) = run(32, false).await;
    let paths = paths(store.as_ref()).await;
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.iter().all(|p| !p.contains("tenant=")), "{paths:?}");
    let spans = paths.iter().find(|p| p.contains("/spans/")).unwrap();
    assert!(spans.starts_with("lake/spans/dt=2026-11-22/hour=06/gw-test-"));
    assert_eq!(
        span_ids_in(store.as_ref(), spans).await,
        [hex(1), hex(2), hex(3), hex(4)]
    );
}

#[tokio::test]
async fn a_cold_read_returns_only_the_asking_tenants_spans_of_a_shared_trace_id() {
    let (store, _) = run(32, true).await;
    let cold = ColdArchive::new(
        Destination::from_store(store.clone(), Path::from("lake")),
        ColdOptions::default(),
    );
    let id = TraceId([1; 16]);
    for (tenant, want) in [("team-a", [1, 2]), ("team-b", [3, 4])] {
        let found = cold.find_trace_of(Some(tenant), &id, None).await.unwrap();
        let ids: Vec<String> = found.spans.iter().map(|s| s.span_id.to_hex()).collect();
        assert_eq!(ids, [hex(want[0]), hex(want[1])], "{tenant}");
        assert!(found.spans.iter().all(|s| s.tenant() == tenant), "{tenant}");
        let window = Some((T0, T0 + 10_000));
        let found = cold.find_trace_of(Some(tenant), &id, window).await.unwrap();
        assert_eq!(found.spans.len(), 2, "{tenant}, windowed");
    }
    let none = cold.find_trace_of(Some("team-c"), &id, None).await.unwrap();
    assert!(none.spans.is_empty());
    assert_eq!(none.files_listed, 0);
}
