//! Late scores end to end: a trace is exported, later a logs payload brings joined scores;
//! trace by id and search show them as evaluation events on the rated span (the root when
//! it is unknown), from the head and from a block, once each, and after a restart; tenants
//! apart; retention; the write-ahead log's release only once the file holds them, and a
//! failed append retried.

use super::*;
use crate::testing::TestLog;
use std::ops::ControlFlow;
use tracegate_model::proto::trace::v1::span::Event;
use tracegate_model::{LogBatch, LogRecord, Origin, Score, ScoreJoin, ScoreSource, attr, keys};
use tracegate_pipeline::durability::Ledger;

/// (gen_ai.evaluation.name, value, time) of each evaluation event of span `id`.
fn evals(spans: &[Span], id: u64) -> Vec<(String, Option<f64>, u64)> {
    let span = spans
        .iter()
        .find(|s| s.span_id == SpanId(id.to_be_bytes()))
        .expect("the span is served");
    span.events
        .iter()
        .filter(|e| e.name == keys::GEN_AI_EVALUATION_RESULT)
        .map(|e| {
            (
                attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME)
                    .unwrap_or_default()
                    .to_owned(),
                attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
                e.time_unix_nano,
            )
        })
        .collect()
}

fn late_score(trace: TraceId, span: Option<u64>, name: &str, value: f64) -> Score {
    Score {
        name: name.into(),
        value: Some(value),
        trace_id: Some(trace),
        span_id: span.map(|s| SpanId(s.to_be_bytes())),
        joined_by: ScoreJoin::ResponseId,
        source: ScoreSource::Log,
        time_unix_nano: T0 + 60 * S,
        service_name: "feedback".into(),
        ..Default::default()
    }
}

/// A log record of `tenant` carrying `score`.
fn record(tenant: Option<&str>, score: Option<Score>, lsn: Option<u64>) -> LogRecord {
    let mut r = LogRecord::empty();
    r.resource = Arc::new(Resource {
        tenant: tenant.map(Arc::from),
        ..Resource::with_service("feedback")
    });
    r.facts.score = score.map(Box::new);
    if let Some(lsn) = lsn {
        r.origin = Origin::logged(lsn);
    }
    r
}

fn logs(records: Vec<LogRecord>) -> Arc<Payload> {
    Arc::new(Payload::Logs(LogBatch { records }))
}

/// Root span 1 and its child 2 of trace `id`, of the default tenant.
fn two_spans(id: TraceId) -> Vec<Span> {
    let root = span_of(id, 1, None, "api", T0, S);
    let mut child = span_of(id, 2, None, "llm", T0 + 10, S / 2);
    child.parent_span_id = Some(SpanId(1u64.to_be_bytes()));
    vec![root, child]
}

fn scanned(store: &HotStore, tenant: &str) -> Vec<Span> {
    let mut out = Vec::new();
    store
        .scan(tenant, &ScanFilter::all(), &mut |t| {
            out.extend_from_slice(t);
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// Span 2's and the root's evaluations, by id and in a search, must be `child` and `root`.
fn check(
    store: &HotStore,
    id: TraceId,
    child: &[(String, Option<f64>, u64)],
    root: &[(String, Option<f64>, u64)],
) {
    let found = find(store, DEFAULT, &id);
    assert_eq!(evals(&found, 2), child, "by id: the child");
    assert_eq!(evals(&found, 1), root, "by id: the root");
    let searched = scanned(store, DEFAULT);
    assert_eq!(evals(&searched, 2), child, "search: the child");
    assert_eq!(evals(&searched, 1), root, "search: the root");
}

fn ev(name: &str, value: f64, time: u64) -> (String, Option<f64>, u64) {
    (name.to_owned(), Some(value), time)
}

#[tokio::test]
async fn late_scores_are_served_on_the_rated_span_from_head_block_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    let id = tid(8, 8);
    let late = T0 + 60 * S;
    {
        let mut exporter = started("hot-late", &config, clock()).await;
        assert_eq!(
            exporter.signals(),
            [
                tracegate_model::Signal::Traces,
                tracegate_model::Signal::Logs
            ]
        );
        exporter.export(traces(&two_spans(id))).await.unwrap();
        let store = exporter.store().clone();
        check(&store, id, &[], &[]);
        exporter
            .export(logs(vec![
                record(None, Some(late_score(id, Some(2), "thumbs", 0.0)), None),
                // A span the trace does not hold: on the root.
                record(
                    None,
                    Some(late_score(id, Some(99), "faithfulness", 0.5)),
                    None,
                ),
                record(None, None, None),
                // Not joined: nothing to show.
                record(
                    None,
                    Some(Score {
                        trace_id: None,
                        ..late_score(id, Some(2), "unjoined", 1.0)
                    }),
                    None,
                ),
                // Another tenant's score of the same trace id.
                record(
                    Some("other"),
                    Some(late_score(id, Some(2), "theirs", 1.0)),
                    None,
                ),
            ]))
            .await
            .unwrap();
        let child = [ev("thumbs", 0.0, late)];
        let root = [ev("faithfulness", 0.5, late)];
        check(&store, id, &child, &root);
        exporter.flush().await;
        assert_eq!(store.stats().blocks, 1);
        check(&store, id, &child, &root);
        assert!(
            store.find_trace("other", &id).unwrap().is_none(),
            "no spans of theirs"
        );
        // Again, the same score (a replay): kept once.
        exporter
            .export(logs(vec![record(
                None,
                Some(late_score(id, Some(2), "thumbs", 0.0)),
                None,
            )]))
            .await
            .unwrap();
        check(&store, id, &child, &root);
        exporter.shutdown().await.unwrap();
    }
    assert!(dir.path().join("@late_scores.log").exists());
    let exporter = started("hot-late", &config, clock()).await;
    check(
        exporter.store(),
        id,
        &[ev("thumbs", 0.0, late)],
        &[ev("faithfulness", 0.5, late)],
    );
    let reopened = HotStore::open_read_only(dir.path()).unwrap();
    check(
        &reopened,
        id,
        &[ev("thumbs", 0.0, late)],
        &[ev("faithfulness", 0.5, late)],
    );
}

#[tokio::test]
async fn a_late_score_already_attached_or_already_an_event_is_not_added_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-late-dup", &small_config(dir.path()), clock()).await;
    let id = tid(8, 9);
    let mut spans = two_spans(id);
    // Span 2 carries an evaluation event of its own.
    spans[1].events.push(Event {
        time_unix_nano: T0 + 20,
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes: vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance"),
            attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.9),
        ],
        dropped_attributes_count: 0,
    });
    let mut trace = testing::group_into_traces(&spans).remove(0);
    trace.scores = vec![late_score(id, Some(2), "attached", 1.0)];
    exporter
        .export(Arc::new(Payload::Traces(vec![trace])))
        .await
        .unwrap();
    let relevance = Score {
        time_unix_nano: T0 + 20,
        ..late_score(id, Some(2), "relevance", 0.9)
    };
    exporter
        .export(logs(vec![
            record(None, Some(late_score(id, Some(2), "attached", 1.0)), None),
            record(None, Some(relevance), None),
            record(None, Some(late_score(id, Some(2), "new", 0.1)), None),
        ]))
        .await
        .unwrap();
    let want = [
        ev("relevance", 0.9, T0 + 20),
        ev("attached", 1.0, T0 + 60 * S),
        ev("new", 0.1, T0 + 60 * S),
    ];
    let store = exporter.store().clone();
    check(&store, id, &want, &[]);
    exporter.flush().await;
    check(&store, id, &want, &[]);
}

#[tokio::test]
async fn a_trace_split_over_blocks_gets_each_score_once_in_a_search() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-late-split", &small_config(dir.path()), clock()).await;
    let id = tid(8, 13);
    let spans = two_spans(id);
    // The root in one block, its child (a late fragment) in the next.
    exporter.export(traces(&spans[..1])).await.unwrap();
    exporter.flush().await;
    exporter.export(traces(&spans[1..])).await.unwrap();
    exporter.flush().await;
    assert_eq!(exporter.store().stats().blocks, 2);
    exporter
        .export(logs(vec![
            record(None, Some(late_score(id, Some(2), "child", 1.0)), None),
            record(None, Some(late_score(id, Some(99), "unknown", 0.5)), None),
            record(None, Some(late_score(id, None, "none", 0.2)), None),
        ]))
        .await
        .unwrap();
    let late = T0 + 60 * S;
    let child = [ev("child", 1.0, late)];
    let root = [ev("unknown", 0.5, late), ev("none", 0.2, late)];
    let store = exporter.store().clone();
    let mut fragments = 0;
    store
        .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
            fragments += 1;
            for s in t {
                let n = u64::from_be_bytes(s.span_id.0);
                let want: &[_] = if n == 1 { &root } else { &child };
                assert_eq!(evals(t, n), want, "span {n}");
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(fragments, 2, "one visit per block");
    check(&store, id, &child, &root);
}

#[tokio::test]
async fn late_scores_go_with_the_retention() {
    CapturedMetrics::global();
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = HotStoreConfig {
        retention: Duration::from_secs(3_600),
        ..small_config(dir.path())
    };
    let mut exporter = started("hot-late-age", &config, clock.clone()).await;
    let id = tid(8, 10);
    exporter.export(traces(&two_spans(id))).await.unwrap();
    exporter
        .export(logs(vec![record(
            None,
            Some(late_score(id, Some(2), "x", 1.0)),
            None,
        )]))
        .await
        .unwrap();
    clock.0.fetch_add(1_800_000, Ordering::SeqCst);
    exporter.tick().await.unwrap();
    assert_eq!(
        evals(&find(exporter.store(), DEFAULT, &id), 2).len(),
        1,
        "young: kept"
    );
    let before = counter(
        crate::hot::metrics::names::LATE_SCORES_EVICTED,
        &[("exporter", "hot-late-age"), ("reason", "age")],
    );
    clock.0.fetch_add(1_800_000, Ordering::SeqCst);
    exporter.tick().await.unwrap();
    assert!(
        evals(&find(exporter.store(), DEFAULT, &id), 2).is_empty(),
        "past retention: gone"
    );
    let after = counter(
        crate::hot::metrics::names::LATE_SCORES_EVICTED,
        &[("exporter", "hot-late-age"), ("reason", "age")],
    );
    assert_eq!(after - before, 1);
    exporter.shutdown().await.unwrap();
    // Nor does it come back from the file.
    let exporter = started("hot-late-age", &config, clock).await;
    assert!(exporter.store().late.is_empty());
}

#[tokio::test]
async fn a_torn_tail_of_the_file_is_dropped_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    let id = tid(8, 11);
    {
        let mut exporter = started("hot-late-torn", &config, clock()).await;
        exporter.export(traces(&two_spans(id))).await.unwrap();
        for (i, name) in ["a", "b"].iter().enumerate() {
            exporter
                .export(logs(vec![record(
                    None,
                    Some(late_score(id, Some(2), name, i as f64)),
                    None,
                )]))
                .await
                .unwrap();
        }
        exporter.shutdown().await.unwrap();
    }
    let file = dir.path().join("@late_scores.log");
    let whole = std::fs::read(&file).unwrap();
    // A crash in the middle of the second record's append.
    std::fs::write(&file, &whole[..whole.len() - 5]).unwrap();
    let mut exporter = started("hot-late-torn", &config, clock()).await;
    let names: Vec<_> = evals(&find(exporter.store(), DEFAULT, &id), 2)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, ["a"]);
    assert!(
        std::fs::read(&file).unwrap().len() < whole.len() - 5,
        "rewritten without it"
    );
    // What comes next is framed and read back.
    exporter
        .export(logs(vec![record(
            None,
            Some(late_score(id, Some(2), "c", 2.0)),
            None,
        )]))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();
    let reopened = HotStore::open_read_only(dir.path()).unwrap();
    let names: Vec<_> = evals(&find(&reopened, DEFAULT, &id), 2)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, ["a", "c"]);
}

#[tokio::test]
async fn the_file_is_compacted_when_it_holds_twice_what_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let config = HotStoreConfig {
        late_scores: LateScoresConfig {
            max_scores: 200,
            ..LateScoresConfig::default()
        },
        ..small_config(dir.path())
    };
    let mut exporter = started("hot-late-compact", &config, clock()).await;
    let file = dir.path().join("@late_scores.log");
    let mut largest = 0;
    for i in 0..2_000u64 {
        let mut s = late_score(tid(9, i), None, "n", i as f64);
        s.explanation = Some("x".repeat(200));
        exporter
            .export(logs(vec![record(None, Some(s), None)]))
            .await
            .unwrap();
        largest = largest.max(std::fs::metadata(&file).unwrap().len());
    }
    let live = std::fs::metadata(&file).unwrap().len();
    let (kept, _, file_bytes) = exporter.store().late.stats();
    assert_eq!(kept, 200);
    assert_eq!(file_bytes, live);
    // 200 records of about 300 bytes: the file never grew far past twice that (or the
    // 64 KiB floor), where 2000 appends would have made it 600 KB.
    assert!(largest < 2 * 64 * 1024 + 1024, "largest {largest}");
    exporter.shutdown().await.unwrap();
    let exporter = started("hot-late-compact", &config, clock()).await;
    assert_eq!(exporter.store().late.stats().0, 200);
    let newest = find_late(exporter.store(), tid(9, 1_999));
    assert_eq!(newest, 1, "the newest survive");
    assert_eq!(
        find_late(exporter.store(), tid(9, 1_799)),
        0,
        "the oldest went"
    );
}

fn find_late(store: &HotStore, id: TraceId) -> usize {
    store.late.of_trace(DEFAULT, &id).len()
}

#[tokio::test]
async fn records_are_released_only_once_their_score_is_written_and_a_failed_write_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["hot_store".to_owned()]);
    for lsn in 0..3 {
        ledger.logged(None, lsn, 1, &[0]);
    }
    log.end.store(3, Ordering::SeqCst);
    let health = tracegate_pipeline::health::Health::default();
    let ctx = BuildContext::new("t").with_health(health.clone());
    let mut exporter = HotStoreExporter::new("hot_store", &small_config(dir.path()), &ctx, clock());
    assert!(exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0)));
    exporter.start().await.unwrap();
    let id = tid(8, 12);
    // Record 0 carries no score: durable at once.
    exporter
        .export(logs(vec![record(None, None, Some(0))]))
        .await
        .unwrap();
    assert_eq!((ledger.outstanding(0), ledger.low_water(0)), (2, 1));
    // The file cannot be written: a directory in its place.
    let file = dir.path().join("@late_scores.log");
    std::fs::create_dir(&file).unwrap();
    exporter
        .export(logs(vec![record(
            None,
            Some(late_score(id, Some(2), "b", 1.0)),
            Some(1),
        )]))
        .await
        .unwrap();
    assert_eq!(ledger.outstanding(0), 2, "not written: not released");
    assert_eq!(ledger.low_water(0), 1);
    let names: Vec<_> = find_late_names(exporter.store(), id);
    assert_eq!(names, ["b"], "served from memory meanwhile");
    let report = health.report();
    assert!(
        report
            .components
            .iter()
            .any(|c| c.reason.contains("cannot write late scores")),
        "{report:?}"
    );
    std::fs::remove_dir(&file).unwrap();
    exporter.tick().await.unwrap();
    assert_eq!(
        ledger.outstanding(0),
        1,
        "written at the tick, then released"
    );
    assert!(health.report().components.is_empty(), "recovered");
    // Written at once now.
    exporter
        .export(logs(vec![record(
            None,
            Some(late_score(id, Some(2), "c", 1.0)),
            Some(2),
        )]))
        .await
        .unwrap();
    assert_eq!((ledger.outstanding(0), ledger.low_water(0)), (0, 3));
    exporter.shutdown().await.unwrap();
    let reopened = HotStore::open_read_only(dir.path()).unwrap();
    assert_eq!(find_late_names(&reopened, id), ["b", "c"]);
}

fn find_late_names(store: &HotStore, id: TraceId) -> Vec<String> {
    store
        .late
        .of_trace(DEFAULT, &id)
        .into_iter()
        .map(|s| s.name)
        .collect()
}

mod properties {
    use super::super::super::scores::{Fallback, ScoreEvents};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Adding a trace's scores to its spans, then the same scores again (a late copy of
        /// an attached one, a score already in a block), adds nothing the second time; each
        /// score whose span the trace holds is on that span.
        #[test]
        fn score_events_are_added_once_on_the_rated_span(
            n_spans in 1u64..5,
            scores in proptest::collection::vec((0u8..3, 0u8..3, proptest::option::of(1u64..7), 0u64..3), 0..12),
            fragment in any::<bool>(),
        ) {
            let id = tid(4, 4);
            let mut spans: Vec<Span> = (1..=n_spans)
                .map(|i| {
                    let mut s = span_of(id, i, None, "api", T0 + i, S);
                    s.parent_span_id = (i > 1).then(|| SpanId(1u64.to_be_bytes()));
                    s
                })
                .collect();
            if fragment {
                spans.remove(0);
            }
            let scores: Vec<Score> = scores
                .iter()
                .map(|&(name, value, span, time)| Score {
                    time_unix_nano: T0 + time,
                    ..late_score(id, span, &format!("n{name}"), f64::from(value))
                })
                .collect();
            let fallback = if fragment { Fallback::RootOnly } else { Fallback::RootOrFirst };
            let events = ScoreEvents::for_spans(id, &spans, &scores, fallback);
            for s in &mut spans {
                events.add_to(s);
            }
            let again = ScoreEvents::for_spans(id, &spans, &scores, fallback);
            prop_assert!(again.is_empty(), "added twice");
            for score in &scores {
                if let Some(span) = spans.iter().find(|s| Some(s.span_id) == score.span_id) {
                    let on = evals(&spans, u64::from_be_bytes(span.span_id.0));
                    prop_assert!(on.contains(&(score.name.clone(), score.value, score.time_unix_nano)));
                }
            }
            let total: usize = spans.iter().map(|s| s.events.len()).sum();
            prop_assert!(total <= scores.len());
        }
    }
}

#[tokio::test]
async fn after_a_restart_a_replayed_record_whose_score_is_on_file_is_released_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    let id = tid(8, 14);
    let payload = || {
        logs(vec![record(
            None,
            Some(late_score(id, Some(2), "a", 1.0)),
            Some(0),
        )])
    };
    let run = || {
        let log = Arc::new(TestLog::default());
        let ledger = Ledger::new(log.clone(), vec!["hot_store".to_owned()]);
        ledger.logged(None, 0, 1, &[0]);
        log.end.store(1, Ordering::SeqCst);
        let mut exporter =
            HotStoreExporter::new("hot_store", &config, &BuildContext::new("t"), clock());
        exporter.take_release(ledger.release(0, state.path().to_owned(), false, 0, 1));
        (log, ledger, exporter)
    };
    let file = dir.path().join("@late_scores.log");
    let (_log, ledger, mut exporter) = run();
    exporter.start().await.unwrap();
    exporter.export(payload()).await.unwrap();
    assert_eq!(ledger.outstanding(0), 0);
    let size = std::fs::metadata(&file).unwrap().len();
    drop(exporter);
    // The checkpoint was not saved: the record comes again.
    let (_log, ledger, mut exporter) = run();
    exporter.start().await.unwrap();
    exporter.export(payload()).await.unwrap();
    assert_eq!(ledger.outstanding(0), 0, "released at once");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        size,
        "not written again"
    );
    assert_eq!(find_late_names(exporter.store(), id), ["a"]);
}
