//! Eviction by age (with an injected clock) and by size, oldest blocks first, counted.

use super::*;
use crate::hot::metrics::names;

async fn blocks(exporter: &mut HotStoreExporter, clock: &ManualClock, n: u64) -> Vec<TraceId> {
    let mut ids = Vec::new();
    for b in 0..n {
        let id = tid(100, b);
        let spans: Vec<_> = (0..20)
            .map(|i| span_of(id, i + 1, None, "api", T0 + b * S + i, 5))
            .collect();
        exporter.export(traces(&spans)).await.unwrap();
        exporter.flush().await;
        clock.0.fetch_add(1_000, Ordering::SeqCst);
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn blocks_older_than_the_retention_go_oldest_first_and_are_counted() {
    CapturedMetrics::global();
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = HotStoreConfig {
        retention: Duration::from_secs(3_600),
        ..small_config(dir.path())
    };
    let mut exporter = started("hot-age", &config, clock.clone()).await;
    let ids = blocks(&mut exporter, &clock, 3).await;
    let store = exporter.store().clone();
    exporter.tick().await.unwrap();
    assert_eq!(store.stats().blocks, 3, "all young");
    // The first block was written at T0, the others 1 s and 2 s later: at T0 + 1 h + 0.5 s
    // only the first is an hour old.
    clock.0.store(T0_MS + 3_600_500, Ordering::SeqCst);
    exporter.tick().await.unwrap();
    assert_eq!(store.stats().blocks, 2);
    assert!(store.find_trace(DEFAULT, &ids[0]).unwrap().is_none());
    assert!(store.find_trace(DEFAULT, &ids[1]).unwrap().is_some());
    let age = [("exporter", "hot-age"), ("reason", "age")];
    assert_eq!(counter(names::EVICTED_BLOCKS, &age), 1);
    assert_eq!(counter(names::EVICTED_SPANS, &age), 20);
    clock.0.store(T0_MS + 10 * 3_600_000, Ordering::SeqCst);
    exporter.tick().await.unwrap();
    assert_eq!(store.stats().blocks, 0);
    assert_eq!(counter(names::EVICTED_BLOCKS, &age), 3);
    assert_eq!(
        std::fs::read_dir(dir.path().join(DEFAULT)).unwrap().count(),
        1,
        "only TENANT left"
    );
}

#[tokio::test]
async fn over_max_bytes_the_oldest_blocks_of_any_tenant_go() {
    CapturedMetrics::global();
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let probe_dir = tempfile::tempdir().unwrap();
    // Measure a block's size first.
    let mut probe = started(
        "hot-size-probe",
        &small_config(probe_dir.path()),
        clock.clone(),
    )
    .await;
    blocks(&mut probe, &clock, 1).await;
    let one = probe.store().stats().bytes;
    let config = HotStoreConfig {
        max_bytes: ByteSize(one * 2 + one / 2),
        block_max_bytes: ByteSize(one),
        retention: Duration::from_secs(24 * 3_600),
        ..small_config(dir.path())
    };
    let mut exporter = started("hot-size", &config, clock.clone()).await;
    let ids = blocks(&mut exporter, &clock, 2).await;
    // A block of another tenant, newest of all.
    let other = tid(200, 0);
    exporter
        .export(traces(&[span_of(other, 1, Some("t2"), "api", T0, 5)]))
        .await
        .unwrap();
    exporter.flush().await;
    let store = exporter.store().clone();
    assert_eq!(store.stats().blocks, 3);
    exporter.tick().await.unwrap();
    let stats = store.stats();
    assert!(stats.bytes <= config.max_bytes.get(), "{stats:?}");
    assert_eq!(stats.blocks, 2);
    assert!(
        store.find_trace(DEFAULT, &ids[0]).unwrap().is_none(),
        "the oldest went"
    );
    assert!(store.find_trace(DEFAULT, &ids[1]).unwrap().is_some());
    assert!(store.find_trace("t2", &other).unwrap().is_some());
    let size = [("exporter", "hot-size"), ("reason", "size")];
    assert_eq!(counter(names::EVICTED_BLOCKS, &size), 1);
    // Retention survives a restart: the blocks' ages come from their names.
    drop(exporter);
    clock.0.fetch_add(25 * 3_600_000, Ordering::SeqCst);
    let mut reopened = started("hot-size", &config, clock.clone()).await;
    assert_eq!(reopened.store().stats().blocks, 2);
    reopened.tick().await.unwrap();
    assert_eq!(reopened.store().stats().blocks, 0);
}
