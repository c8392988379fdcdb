//! The `traces` table: one row per released trace, in the same buffers and bounds as the
//! spans.

use super::*;

#[tokio::test]
async fn a_traces_payload_writes_both_tables_with_consistent_counts() {
    metrics_on();
    let store = Arc::new(InMemory::new());
    let name = "archive/traces";
    let mut exporter = exporter(name, &small_config(), store.clone());
    let spans = spans_across_an_hour(60, 150);
    let mut traces = testing::group_into_traces(&spans);
    // A late fragment of the first trace, released after it: a row of its own.
    let mut late_span = traces[0].spans[0].clone();
    late_span.span_id = tracegate_model::SpanId([0xee; 8]);
    late_span.parent_span_id = Some(traces[0].spans[0].span_id);
    traces.push(Trace {
        trace_id: traces[0].trace_id,
        spans: vec![late_span.clone()],
        release_reason: ReleaseReason::Complete,
        tree_whole: false,
        fragment: Some(tracegate_model::Fragment::Late),
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    });
    traces[1].release_reason = ReleaseReason::MaxWait;
    let mut all_spans = spans.clone();
    all_spans.push(late_span);

    // What the buffer holds is counted in the same bound as the spans.
    let mut span_bytes = crate::SpanEncoder::new();
    all_spans.iter().for_each(|s| span_bytes.push(s));
    let mut trace_bytes = crate::TraceEncoder::new();
    traces.iter().for_each(|t| {
        trace_bytes.push(t);
    });
    let (first, second) = traces.split_at(traces.len() / 2);
    exporter
        .export(Arc::new(Payload::Traces(first.to_vec())))
        .await
        .unwrap();
    exporter
        .export(Arc::new(Payload::Traces(second.to_vec())))
        .await
        .unwrap();
    assert_eq!(
        exporter.buffered_bytes(),
        span_bytes.estimated_bytes() + trace_bytes.estimated_bytes()
    );
    exporter.shutdown().await.unwrap();
    assert_eq!(exporter.held_bytes(), 0);

    let span_files = files(store.as_ref()).await;
    assert_all_written(&span_files, &all_spans);
    let trace_files = trace_files(store.as_ref()).await;
    // The generated traces start on both sides of 07:00: two partitions.
    let dirs: Vec<String> = trace_files
        .iter()
        .map(|(p, _)| {
            p.prefix_match(&Path::from("lake/traces"))
                .unwrap()
                .take(2)
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    assert_eq!(dirs, ["dt=2026-11-22/hour=06", "dt=2026-11-22/hour=07"]);
    let rows: Vec<&TraceRow> = trace_files.iter().flat_map(|(_, r)| r).collect();
    assert_eq!(rows.len(), traces.len(), "one row per released trace");
    let spans_described: i64 = rows.iter().map(|r| r.span_count).sum();
    assert_eq!(spans_described as usize, all_spans.len());
    let span_rows: usize = span_files.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(span_rows, all_spans.len());
    for trace in &traces {
        let expected = expected_trace_row(trace);
        let found: Vec<_> = rows
            .iter()
            .filter(|r| r.trace_id == expected.trace_id && r.fragment == expected.fragment)
            .collect();
        assert_eq!(found, [&&expected], "{}", expected.trace_id);
    }
    let whole: Vec<_> = rows.iter().filter(|r| r.fragment.is_none()).collect();
    assert_eq!(whole.len(), 60, "one whole row per generated trace");
    assert_eq!(rows.iter().filter(|r| !r.complete).count(), 2);
    assert_eq!(
        counter(names::ARCHIVE_SPANS_WRITTEN, name),
        all_spans.len() as u64,
        "traces files add no spans"
    );
    assert_eq!(
        counter(names::ARCHIVE_FILES_WRITTEN, name),
        (span_files.len() + trace_files.len()) as u64
    );
}

#[tokio::test]
async fn a_spans_payload_writes_no_traces_rows() {
    let store = Arc::new(InMemory::new());
    let mut exporter = exporter("archive/spans-only", &small_config(), store.clone());
    let spans = spans_across_an_hour(20, 150);
    exporter.export(payload(&spans)).await.unwrap();
    exporter.shutdown().await.unwrap();
    assert_all_written(&files(store.as_ref()).await, &spans);
    assert!(trace_files(store.as_ref()).await.is_empty());
}

#[tokio::test]
async fn traces_rows_count_toward_flush_bytes() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        flush_bytes: ByteSize::kib(64),
        ..small_config()
    };
    let mut exporter = exporter("archive/traces-flush", &config, store.clone());
    let spans = testing::testkit_spans(200, Profile::Rag);
    exporter.export(traces_payload(&spans)).await.unwrap();
    assert!(exporter.buffered_bytes() < 64 * 1024, "cut at flush_bytes");
    exporter.drain().await;
    assert!(
        !trace_files(store.as_ref()).await.is_empty(),
        "cut before shutdown"
    );
    exporter.shutdown().await.unwrap();
    let rows: usize = trace_files(store.as_ref())
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert_eq!(rows, testing::group_into_traces(&spans).len());
    assert_all_written(&files(store.as_ref()).await, &spans);
}
