//! A trace read from the archive carries its rows of the `scores` table as evaluation
//! events on the spans they rate: late scores within the lookahead, pruned reads of few row
//! groups, no duplicates of span-borne events, a cap, and archives without scores.

use super::*;
use crate::read::file::find_columns_in_file;
use crate::read::scores::event;
use crate::{ScoreEncoder, write_scores};
use arrow_array::RecordBatch;
use std::sync::atomic::AtomicU64;
use tracegate_model::{Score, ScoreJoin, ScoreSource, SpanId, attr, keys};

/// The scored trace: root span 1, child span 2 that carries its own evaluation event.
const SCORED: u8 = 0xf1;
/// A trace of the archive with no scores.
const PLAIN: u8 = 0xf2;

fn score(trace: u8, span: Option<u8>, name: &str, value: f64, time: u64) -> Score {
    Score {
        name: name.into(),
        value: Some(value),
        label: Some(format!("{name}-label")),
        explanation: Some("because".into()),
        trace_id: Some(TraceId([trace; 16])),
        span_id: span.map(|s| SpanId([s; 8])),
        joined_by: ScoreJoin::TraceContext,
        source: ScoreSource::Log,
        time_unix_nano: time,
        service_name: "eval".into(),
        ..Default::default()
    }
}

fn scored_spans() -> Vec<Span> {
    let root = testing::span(SCORED, 1, BASE + 1_000);
    let mut child = testing::span(SCORED, 2, BASE + 2_000);
    child.parent_span_id = Some(SpanId([1; 8]));
    let own = span_borne();
    child.events.push(event(&own, &child));
    vec![root, child]
}

/// The score the scores processor took from span 2's own event, written from the trace.
fn span_borne() -> Score {
    let mut s = score(SCORED, Some(2), "relevance", 0.9, BASE + 2_500);
    s.source = ScoreSource::SpanEvent;
    s
}

/// Writes `scores` as one `scores` file of the hour of `hour`.
async fn put_scores(store: &dyn ObjectStore, prefix: &Path, hour: u64, scores: &[Score]) {
    let mut encoder = ScoreEncoder::new();
    for s in scores {
        encoder.push(s, 0);
    }
    let encoded = encoder.finish().unwrap();
    let file = write_scores(&encoded.batch, &encoded.order, &options()).unwrap();
    let path = file_path(
        prefix,
        SCORES_TABLE,
        HourPartition::of_unix_nanos(hour),
        "gw-1",
        Ulid::new(),
    );
    store.put(&path, PutPayload::from(file)).await.unwrap();
}

/// 60 testkit traces plus the scored and the plain one, in two spans files; scores for the
/// scored trace (and 400 of other traces, so the files have many row groups) three hours
/// later, and one more 30 hours later.
async fn scored_archive() -> LocalArchive {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("archive").display().to_string();
    let destination = Destination::from_url(&url, None).unwrap();
    let store = destination.open().await.unwrap();
    let mut spans = testing::testkit_spans(60, Profile::Rag);
    spans.extend(scored_spans());
    spans.push(testing::span(PLAIN, 7, BASE + 3_000));
    let half = spans.len() / 2;
    put_file(store.as_ref(), destination.prefix(), BASE, &spans[..half]).await;
    put_file(store.as_ref(), destination.prefix(), BASE, &spans[half..]).await;

    let late = BASE + 3 * HOUR;
    let mut rows: Vec<Score> = (0..400u32)
        .map(|i| {
            let mut s = score(0, None, "filler", 0.1, late + u64::from(i));
            s.trace_id = Some(TraceId(u128::from(i * 7919 + 1).to_be_bytes()));
            s
        })
        .collect();
    rows.extend([
        score(SCORED, Some(2), "helpfulness", 1.0, late + 10),
        score(SCORED, Some(2), "helpfulness", 1.0, late + 10), // a replayed row
        span_borne(),
        score(SCORED, Some(99), "faithfulness", 0.4, late + 20), // unknown span: the root
        score(SCORED, None, "user_feedback", 0.0, late + 30),
    ]);
    put_scores(store.as_ref(), destination.prefix(), late, &rows).await;
    let much_later = BASE + 30 * HOUR;
    put_scores(
        store.as_ref(),
        destination.prefix(),
        much_later,
        &[score(SCORED, Some(1), "offline_eval", 0.7, much_later)],
    )
    .await;
    LocalArchive {
        _dir: dir,
        url,
        spans,
        files: 2,
    }
}

/// (span, evaluation name, value, time) of each evaluation event, by span then order.
fn evaluations(spans: &[Span]) -> Vec<(u8, String, Option<f64>, u64)> {
    let mut out = Vec::new();
    for s in spans {
        for e in &s.events {
            if e.name == keys::GEN_AI_EVALUATION_RESULT {
                out.push((
                    s.span_id.0[0],
                    attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME)
                        .unwrap_or_default()
                        .to_owned(),
                    attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
                    e.time_unix_nano,
                ));
            }
        }
    }
    out.sort_by_key(|e| (e.0, e.3));
    out
}

#[tokio::test]
async fn a_cold_trace_carries_its_late_scores_on_the_spans_they_rate() {
    let a = scored_archive().await;
    let archive = a.archive(ColdOptions::default());
    let id = TraceId([SCORED; 16]);
    let late = BASE + 3 * HOUR;
    let lookup = archive
        .find_trace(&id, Some((BASE, BASE + 1)))
        .await
        .unwrap();
    assert_eq!(
        evaluations(&lookup.spans),
        vec![
            (1, "faithfulness".into(), Some(0.4), late + 20),
            (1, "user_feedback".into(), Some(0.0), late + 30),
            (2, "relevance".into(), Some(0.9), BASE + 2_500),
            (2, "helpfulness".into(), Some(1.0), late + 10),
        ]
    );
    let s = &lookup.scores;
    assert_eq!((s.events_added, s.already_on_span, s.duplicates), (3, 1, 1));
    assert_eq!(s.scores.len(), 5);
    assert!(!s.truncated && s.error.is_none());
    // The 30-hours-later score is past the default lookahead: its partition is not listed.
    assert_eq!(s.files_listed, 1, "{s:?}");
    // 405 rows in 50-row groups: statistics and the bloom filter leave one.
    assert_eq!(s.row_groups_read, 1, "{s:?}");
    assert!(s.row_groups_pruned >= 8, "{s:?}");
    // Apart from the events, the spans are as archived.
    let mut bare = lookup.spans.clone();
    for span in &mut bare {
        span.events.retain(|e| e.time_unix_nano < late);
    }
    assert_eq!(bare, as_archived(&of_trace(&a.spans, id)));

    // A longer lookahead reaches the later score; the second lookup fetches no footer.
    let archive = a.archive(ColdOptions {
        scores_lookahead: std::time::Duration::from_secs(40 * 3600),
        ..ColdOptions::default()
    });
    let first = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(first.scores.files_listed, 2);
    assert!(evaluations(&first.spans).contains(&(
        1,
        "offline_eval".into(),
        Some(0.7),
        BASE + 30 * HOUR
    )));
    let again = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(again.spans, first.spans);
    assert_eq!(again.scores.footers_fetched, 0);
    assert_eq!(again.scores.blooms_fetched, 0);
}

#[tokio::test]
async fn a_trace_without_scores_and_an_archive_without_a_scores_table_are_unchanged() {
    let a = scored_archive().await;
    let archive = a.archive(ColdOptions::default());
    let id = TraceId([PLAIN; 16]);
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.spans, as_archived(&of_trace(&a.spans, id)));
    assert!(lookup.scores.scores.is_empty());
    assert_eq!(lookup.scores.events_added, 0);
    assert_eq!(lookup.scores.files_listed, 1);
    assert_eq!(lookup.scores.row_groups_read, 0, "{:?}", lookup.scores);

    // No scores table at all.
    let plain = local_archive().await;
    let archive = plain.archive(ColdOptions::default());
    let id = plain.spans[0].trace_id;
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.spans, as_archived(&of_trace(&plain.spans, id)));
    assert_eq!(lookup.scores.files_listed, 0);
    assert!(lookup.scores.error.is_none());
    assert!(lookup.scores.window.is_some());

    // A missing trace looks for no scores.
    let missing = archive
        .find_trace(&TraceId([0xee; 16]), None)
        .await
        .unwrap();
    assert!(missing.spans.is_empty());
    assert_eq!(missing.scores, ColdScores::default());
}

#[tokio::test]
async fn scores_are_capped_and_the_cut_is_counted() {
    let a = scored_archive().await;
    let id = TraceId([SCORED; 16]);
    let archive = a.archive(ColdOptions {
        max_scores: 2,
        ..ColdOptions::default()
    });
    let lookup = archive.find_trace(&id, None).await.unwrap();
    assert!(lookup.scores.truncated);
    assert_eq!(lookup.scores.scores.len(), 2);
    assert!(lookup.scores.cut >= 1, "{:?}", lookup.scores);
    let s = &lookup.scores;
    assert!(s.events_added + s.already_on_span + s.duplicates <= 2);

    let off = a.archive(ColdOptions {
        max_scores: 0,
        ..ColdOptions::default()
    });
    let lookup = off.find_trace(&id, None).await.unwrap();
    assert_eq!(lookup.scores, ColdScores::default());
    assert_eq!(
        evaluations(&lookup.spans).len(),
        1,
        "only the span's own event"
    );
}

#[tokio::test]
async fn a_scores_lookup_reads_only_its_columns_and_warming_covers_the_scores_table() {
    let a = scored_archive().await;
    let destination = Destination::from_url(&a.url, None).unwrap();
    let store = destination.open().await.unwrap();
    let table = destination.prefix().clone().join(SCORES_TABLE);
    let mut metas: Vec<ObjectMeta> = store.list(Some(&table)).try_collect().await.unwrap();
    metas.sort_by_key(|m| m.size);
    let meta = metas.pop().unwrap();
    let id = TraceId([SCORED; 16]).to_hex();
    let read = |columns: Option<&'static [&'static str]>| {
        let (store, meta, id) = (store.clone(), meta.clone(), id.clone());
        async move {
            let fetched = Arc::new(AtomicU64::new(0));
            let mut file = ObjectFile::new(store, meta.location, meta.size, fetched.clone());
            let footer = load_footer(&mut file).await.unwrap();
            let before = fetched.load(Ordering::Relaxed);
            let found = find_columns_in_file(file, &footer, &id, None, usize::MAX, columns)
                .await
                .unwrap();
            (found, fetched.load(Ordering::Relaxed) - before)
        }
    };
    let (projected, projected_bytes) = read(Some(SCORE_COLUMNS)).await;
    let (whole, whole_bytes) = read(None).await;
    assert_eq!(projected.batches[0].num_columns(), SCORE_COLUMNS.len());
    assert_eq!(
        whole.batches[0].num_columns(),
        tracegate_model::schema::scores_schema().fields().len()
    );
    let rows = |m: &crate::read::file::FileMatch| -> usize {
        m.batches.iter().map(RecordBatch::num_rows).sum()
    };
    assert_eq!(rows(&projected), 5);
    assert_eq!(rows(&whole), 5);
    assert!(
        projected_bytes < whole_bytes,
        "{projected_bytes} < {whole_bytes}"
    );

    // Warming loads the scores files' footers and blooms: a first lookup fetches none.
    let archive = a.archive(ColdOptions::default());
    let warm = archive.warm().await.unwrap();
    assert_eq!(warm.files, a.files + 2);
    let lookup = archive
        .find_trace(&TraceId([SCORED; 16]), None)
        .await
        .unwrap();
    assert_eq!(lookup.scores.footers_fetched, 0);
    assert_eq!(lookup.scores.blooms_fetched, 0);
    assert_eq!(lookup.scores.events_added, 3);
}
