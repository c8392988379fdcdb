//! The WAL's metrics: one test in its own binary, so a global recorder sees the writer
//! thread's metrics too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, segments};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracegate_pipeline::telemetry::names;
use tracegate_wal::{SyncMode, Wal, WalError};

type Metrics = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// Every metric, read once (the debugging recorder resets values as it reads them).
fn read(snapshotter: &Snapshotter) -> Metrics {
    snapshotter.snapshot().into_vec()
}

fn value<'m>(
    metrics: &'m Metrics,
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<&'m DebugValue> {
    metrics
        .iter()
        .find(|(key, _, _, _)| {
            let k = key.key();
            k.name() == name
                && label.is_none_or(|(lk, lv)| k.labels().any(|l| l.key() == lk && l.value() == lv))
        })
        .map(|(_, _, _, v)| v)
}

fn counter(s: &Metrics, name: &str, label: Option<(&str, &str)>) -> u64 {
    match value(s, name, label) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn the_wal_records_its_metrics() {
    let recorder = DebuggingRecorder::new();
    let handle = recorder.snapshotter();
    recorder.install().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1 << 20, 200);
    cfg.sync = SyncMode::Host;
    let (wal, _) = Wal::open(&cfg, &["a"]).unwrap();
    for i in 0..3u8 {
        wal.append(vec![i; 40]).await.unwrap();
    }
    assert!(matches!(
        wal.append(vec![0; 40]).await,
        Err(WalError::Full { .. })
    ));
    wal.close().await;
    let m = read(&handle);
    assert_eq!(counter(&m, names::WAL_APPENDED_RECORDS, None), 3);
    assert_eq!(counter(&m, names::WAL_WRITES, None), 3);
    assert_eq!(counter(&m, names::WAL_FULL_REFUSALS, None), 1);
    match value(&m, names::WAL_SYNC_SECONDS, None) {
        Some(DebugValue::Histogram(v)) => assert_eq!(v.len(), 3),
        other => panic!("sync histogram: {other:?}"),
    }
    match value(&m, names::WAL_APPEND_SECONDS, None) {
        Some(DebugValue::Histogram(v)) => assert_eq!(v.len(), 3),
        other => panic!("append histogram: {other:?}"),
    }
    match value(&m, names::WAL_BYTES, None) {
        Some(DebugValue::Gauge(v)) => assert_eq!((*v).into_inner(), 156.0),
        other => panic!("bytes gauge: {other:?}"),
    }
    match value(&m, names::WAL_SEGMENTS, None) {
        Some(DebugValue::Gauge(v)) => assert_eq!((*v).into_inner(), 1.0),
        other => panic!("segments gauge: {other:?}"),
    }

    // A flipped middle record and a torn tail.
    let seg = &segments(dir.path())[0];
    common::flip(seg, 52 + 20);
    let mut bytes = std::fs::read(seg).unwrap();
    bytes.extend_from_slice(b"TGWR\x05");
    std::fs::write(seg, bytes).unwrap();
    let (wal, replay) = Wal::open(&cfg, &["a"]).unwrap();
    assert_eq!(replay.count(), 2);
    let m = read(&handle);
    assert_eq!(counter(&m, names::WAL_REPLAYED_RECORDS, None), 2);
    assert_eq!(
        counter(&m, names::WAL_CORRUPT_RECORDS, Some(("kind", "torn"))),
        1
    );
    assert_eq!(
        counter(&m, names::WAL_CORRUPT_RECORDS, Some(("kind", "checksum"))),
        1
    );
    wal.close().await;
}
