//! Search: heads then blocks, newest first; blocks and traces the filter rules out are not
//! read; a visitor can stop early.

use super::*;
use std::ops::ControlFlow;

/// Three blocks a minute apart and a head, each with a fast `api` trace and a slow `db` one.
async fn store_of_four_minutes(dir: &Path) -> (HotStoreExporter, Vec<[TraceId; 2]>) {
    let mut exporter = started("hot-scan", &small_config(dir), clock()).await;
    let mut ids = Vec::new();
    for m in 0..4u64 {
        let (fast, slow) = (tid(m, 1), tid(m, 2));
        let start = T0 + m * 60 * S;
        let mut spans = vec![
            span_of(fast, m * 10 + 1, None, "api", start, 1_000),
            span_of(fast, m * 10 + 2, None, "api", start + 10, 500),
        ];
        spans.push(span_of(slow, m * 10 + 3, None, "db", start + 20, 2 * S));
        spans.push(span_of(slow, m * 10 + 4, None, "api", start + 30, 100));
        exporter.export(traces(&spans)).await.unwrap();
        if m < 3 {
            exporter.flush().await;
        }
        ids.push([fast, slow]);
    }
    (exporter, ids)
}

fn visited(store: &HotStore, filter: &ScanFilter) -> (Vec<TraceId>, ScanStats) {
    let mut seen = Vec::new();
    let stats = store
        .scan(DEFAULT, filter, &mut |t| {
            seen.push(t[0].trace_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    (seen, stats)
}

#[tokio::test]
async fn newest_first_with_pruning_by_time_service_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let (exporter, ids) = store_of_four_minutes(dir.path()).await;
    let store = exporter.store();
    assert_eq!(store.stats().blocks, 3);

    let (all, stats) = visited(store, &ScanFilter::all());
    // The head first, newest first within a payload (the slow trace came second); then
    // blocks newest first, each in trace id order.
    let mut want = vec![ids[3][1], ids[3][0]];
    want.extend(ids[..3].iter().rev().flat_map(|[f, s]| [*f, *s]));
    assert_eq!(all, want);
    assert_eq!((stats.blocks, stats.traces, stats.spans), (3, 8, 16));
    assert!(stats.bytes > 0);

    // `{resource.service.name="db" && duration>1s}`: the slow traces only.
    let slow = ScanFilter {
        service_names: Some(vec!["db".into()]),
        min_span_duration_ns: Some(S),
        ..ScanFilter::all()
    };
    let (got, stats) = visited(store, &slow);
    assert_eq!(got, ids.iter().rev().map(|[_, s]| *s).collect::<Vec<_>>());
    assert_eq!((stats.traces, stats.spans), (4, 8));

    // `{resource.service.name="api" && duration>1s}`: the slow traces have an api span and a
    // 2 s span, but not one span that is both. The blocks' two columns tell, so none of the
    // blocks' traces is decoded (the head's is, and the query's own evaluation drops it).
    let api_slow = ScanFilter {
        service_names: Some(vec!["api".into()]),
        min_span_duration_ns: Some(S),
        ..ScanFilter::all()
    };
    let (got, _) = visited(store, &api_slow);
    assert_eq!(got, ids.iter().rev().map(|[_, s]| *s).collect::<Vec<_>>());
    let one_span = ScanFilter {
        same_span: true,
        ..api_slow.clone()
    };
    let (got, stats) = visited(store, &one_span);
    assert_eq!(got, [ids[3][1]]);
    assert_eq!((stats.traces, stats.spans), (1, 2));
    assert!(
        stats.bytes > 0,
        "the two columns of the candidates were read"
    );
    // ... while `{resource.service.name="db" && duration>1s}` finds every slow trace.
    let db_one_span = ScanFilter {
        same_span: true,
        ..slow.clone()
    };
    assert_eq!(visited(store, &db_one_span).0.len(), 4);

    // A window over minute 1 only: one block read, none of the others.
    let minute1 = ScanFilter {
        start_ns: T0 + 60 * S,
        end_ns: T0 + 61 * S,
        ..ScanFilter::default()
    };
    let (got, stats) = visited(store, &minute1);
    assert_eq!(got, [ids[1][0], ids[1][1]]);
    assert_eq!(stats.blocks, 1);

    // A service no block has: nothing is read.
    let none = ScanFilter {
        service_names: Some(vec!["web".into()]),
        ..ScanFilter::all()
    };
    let (got, stats) = visited(store, &none);
    assert!(got.is_empty());
    assert_eq!((stats.blocks, stats.bytes), (0, 0));

    // Trace duration: only the slow traces last 1 s or more.
    let long = ScanFilter {
        min_trace_duration_ns: Some(S),
        ..ScanFilter::all()
    };
    assert_eq!(visited(store, &long).0.len(), 4);
}

#[tokio::test]
async fn a_visitor_can_stop_early() {
    let dir = tempfile::tempdir().unwrap();
    let (exporter, ids) = store_of_four_minutes(dir.path()).await;
    let store = exporter.store();
    for limit in [1, 2, 3, 5] {
        let mut seen = Vec::new();
        store
            .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
                seen.push(t[0].trace_id);
                if seen.len() == limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(seen.len(), limit);
        assert_eq!(seen[0], ids[3][1]);
    }
    // Decoded spans carry the tenant and the service.
    store
        .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
            assert!(
                t.iter()
                    .all(|s| s.tenant() == DEFAULT && !s.service_name().is_empty())
            );
            ControlFlow::Continue(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_raised_floor_skips_older_traces_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (exporter, ids) = store_of_four_minutes(dir.path()).await;
    let store = exporter.store();
    // A reader that holds its results once it has seen minute 2's block raises the floor to
    // minute 2's start: minute 1's and minute 0's blocks end before it and are not read.
    let filter = ScanFilter::all();
    let mut seen = Vec::new();
    let stats = store
        .scan(DEFAULT, &filter, &mut |t| {
            seen.push(t[0].trace_id);
            if t[0].trace_id == ids[2][1] {
                filter.floor.raise(T0 + 2 * 60 * S);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, [ids[3][1], ids[3][0], ids[2][0], ids[2][1]]);
    assert_eq!(stats.blocks, 1, "the two older blocks are skipped");
    // A floor between a payload's two traces: the earlier-starting one is skipped.
    let filter = ScanFilter::all();
    filter.floor.raise(T0 + 3 * 60 * S + 15);
    assert_eq!(visited(store, &filter).0, [ids[3][1]]);
    filter.floor.raise(0);
    assert_eq!(
        filter.floor.get(),
        T0 + 3 * 60 * S + 15,
        "the floor never goes down"
    );
}

#[tokio::test]
async fn a_block_is_read_newest_first_so_a_rising_floor_stops_its_scan_early() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-newest", &small_config(dir.path()), clock()).await;
    // 1 000 one-span traces whose start times are a permutation of their id order, so the
    // block's file order (by trace id) says nothing about which are newest.
    const N: u64 = 1_000;
    let start_of = |i: u64| T0 + ((i * 7_919) % N) * 1_000;
    let spans: Vec<Span> = (0..N)
        .map(|i| span_of(tid(7, i), i + 1, None, "api", start_of(i), 100))
        .collect();
    exporter.export(traces(&spans)).await.unwrap();
    exporter.flush().await;
    let store = exporter.store();
    assert_eq!(store.stats().blocks, 1);

    // What a newest-first search with a limit of 20 does: once it holds 20 traces, it
    // raises the floor to the oldest start among them.
    let filter = ScanFilter::all();
    let mut starts: Vec<u64> = Vec::new();
    let stats = store
        .scan(DEFAULT, &filter, &mut |t| {
            starts.push(t[0].start_time_unix_nano);
            let mut newest = starts.clone();
            newest.sort_unstable_by(|a, b| b.cmp(a));
            if let Some(&twentieth) = newest.get(19) {
                filter.floor.raise(twentieth);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    // The first run holds the newest traces, and the 20 newest of the block are found.
    let mut all: Vec<u64> = (0..N).map(start_of).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    let mut found = starts.clone();
    found.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(found[..20], all[..20]);
    assert!(
        stats.traces < 300,
        "the floor stopped the block's scan after its first runs: {} of {N} traces decoded",
        stats.traces
    );
    assert!(
        starts.iter().all(|&s| s >= all[299]),
        "every trace decoded is among the block's 300 newest"
    );
}
