//! Client timestamps far from now, and the bound on open partitions (issue 18, item 4).

use super::*;
use crate::testing::span;

const HOUR: u64 = 3_600_000_000_000;

fn clamped(exporter: &str, reason: &str) -> u64 {
    CapturedMetrics::global().counter(
        names::ARCHIVE_CLAMPED_SPANS,
        &[("exporter", exporter), ("reason", reason)],
    )
}

/// The partition directories of every spans file, in order.
async fn span_dirs(store: &dyn ObjectStore) -> Vec<String> {
    let metas: Vec<ObjectMeta> = store
        .list(Some(&Path::from("lake/spans")))
        .try_collect()
        .await
        .unwrap();
    let mut dirs: Vec<String> = metas
        .iter()
        .map(|m| {
            let parts: Vec<_> = m.location.parts().map(|p| p.as_ref().to_owned()).collect();
            format!("{}/{}", parts[2], parts[3])
        })
        .collect();
    dirs.sort();
    dirs
}

async fn all_rows(store: &dyn ObjectStore) -> Vec<Row> {
    let metas: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
    let mut rows = Vec::new();
    for meta in metas
        .iter()
        .filter(|m| m.location.as_ref().contains("/spans/"))
    {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        rows.extend(rows_of(&read_parquet(bytes).0));
    }
    rows
}

#[tokio::test]
async fn issue_18_far_off_start_times_go_to_the_arrival_hour_and_keep_their_value() {
    metrics_on();
    let name = "archive/clamp";
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        past_window: Duration::from_secs(7 * 24 * 3_600),
        future_window: Duration::from_secs(3_600),
        ..small_config()
    };
    let mut exporter = exporter(name, &config, store.clone());
    // 2026-11-22T06:30Z.
    let now = GeneratorConfig::DEFAULT_START_UNIX_NANO + HOUR / 2;
    exporter.set_now(now);
    let spans = vec![
        span(1, 1, now),                         // this hour
        span(1, 2, now - 3 * 24 * HOUR),         // three days ago: its own hour
        span(1, 3, now - 8 * 24 * HOUR),         // eight days ago: too old
        span(1, 4, 0),                           // 1970: too old
        span(1, 5, now + HOUR / 4),              // 15 minutes ahead: its own hour
        span(1, 6, now + 3 * HOUR),              // three hours ahead: too new
        span(1, 7, now + 100 * 365 * 24 * HOUR), // a century ahead: too new
    ];
    exporter.export(traces_payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();

    assert_eq!(
        span_dirs(store.as_ref()).await,
        ["dt=2026-11-19/hour=06", "dt=2026-11-22/hour=06"],
        "15 minutes ahead is still hour 06; the far-off spans join the arrival hour"
    );
    let rows = all_rows(store.as_ref()).await;
    assert_eq!(rows.len(), spans.len());
    for s in &spans {
        let row = rows
            .iter()
            .find(|r| r.span_id == s.span_id.to_hex())
            .unwrap();
        assert_eq!(
            row.start_time as u64, s.start_time_unix_nano,
            "start_time is kept"
        );
    }
    assert_eq!(clamped(name, "too_old"), 2);
    assert_eq!(clamped(name, "too_new"), 2);
    // The trace starts in 1970, so its traces row goes to the arrival hour too.
    let traces: Vec<ObjectMeta> = store
        .list(Some(&Path::from("lake/traces")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(traces.len(), 1);
    assert!(
        traces[0]
            .location
            .as_ref()
            .contains("/dt=2026-11-22/hour=06/")
    );
}

#[tokio::test]
async fn issue_18_one_request_spanning_thousands_of_hours_opens_at_most_max_open_partitions() {
    metrics_on();
    let name = "archive/many-hours";
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        max_open_partitions: 8,
        past_window: Duration::from_secs(7 * 24 * 3_600),
        future_window: Duration::from_secs(3_600),
        ..small_config()
    };
    let mut exporter = exporter(name, &config, store.clone());
    let now = GeneratorConfig::DEFAULT_START_UNIX_NANO + HOUR / 2;
    exporter.set_now(now);
    // One span an hour from 5,000 hours ago to 5,000 hours ahead.
    let spans: Vec<Span> = (0..10_001u64)
        .map(|i| {
            let mut s = span(
                (i % 251) as u8,
                (i % 241) as u8,
                now - 5_000 * HOUR + i * HOUR,
            );
            s.trace_id.0[..8].copy_from_slice(&i.to_be_bytes());
            s
        })
        .collect();
    exporter.export(payload(&spans)).await.unwrap();
    assert!(
        exporter.peak_open_partitions() <= 8,
        "{} buffers open at once",
        exporter.peak_open_partitions()
    );
    assert!(exporter.open_partitions() <= 8);
    exporter.shutdown().await.unwrap();

    // In the window: 7 days back, the arrival hour, and the next hour: 7·24 + 2 hours.
    let dirs = span_dirs(store.as_ref()).await;
    let mut distinct = dirs.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 7 * 24 + 2, "hours written");
    assert_eq!(distinct.first().unwrap(), "dt=2026-11-15/hour=06");
    assert_eq!(distinct.last().unwrap(), "dt=2026-11-22/hour=07");
    // One file per hour, except the arrival hour: opened first (by the first far-off span),
    // it was the oldest when the ninth hour came, was cut early, and reopened later.
    assert_eq!(dirs.len(), distinct.len() + 1, "{dirs:?}");
    assert_eq!(
        dirs.iter()
            .filter(|d| *d == "dt=2026-11-22/hour=06")
            .count(),
        2
    );
    let rows = all_rows(store.as_ref()).await;
    assert_eq!(rows.len(), spans.len());
    let outside = 10_001 - (7 * 24 + 2);
    assert_eq!(
        clamped(name, "too_old") + clamped(name, "too_new"),
        outside as u64
    );
    assert_eq!(clamped(name, "too_old"), 5_000 - 7 * 24);
    // 171 openings (170 hours, one of them twice) through 8 buffers: every opening past the
    // eighth cut the buffer waiting longest.
    assert_eq!(
        counter(names::ARCHIVE_EARLY_FLUSHES, name),
        (7 * 24 + 2 + 1 - 8) as u64
    );
}

#[tokio::test]
async fn the_oldest_partition_is_cut_first() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        max_open_partitions: 2,
        ..small_config()
    };
    let mut exporter = exporter("archive/oldest-first", &config, store.clone());
    let base = GeneratorConfig::DEFAULT_START_UNIX_NANO;
    exporter.set_now(base);
    exporter.export(payload(&[span(1, 1, base)])).await.unwrap();
    exporter
        .export(payload(&[span(1, 2, base + HOUR)]))
        .await
        .unwrap();
    // Hour 06 again: it stays open, so the next new hour evicts 06 (opened first).
    exporter.export(payload(&[span(1, 3, base)])).await.unwrap();
    exporter
        .export(payload(&[span(1, 4, base + 2 * HOUR)]))
        .await
        .unwrap();
    exporter.drain().await;
    assert_eq!(span_dirs(store.as_ref()).await, ["dt=2026-11-22/hour=06"]);
    exporter.shutdown().await.unwrap();
    assert_eq!(
        span_dirs(store.as_ref()).await,
        [
            "dt=2026-11-22/hour=06",
            "dt=2026-11-22/hour=07",
            "dt=2026-11-22/hour=08"
        ]
    );
}
