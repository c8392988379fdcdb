//! Tail sampling in the archive: the `traces` table keeps a row for every trace with its
//! decision; the `spans` table, with `sampled_only_spans` (the default), only the spans of
//! the traces the sampler kept and of those it never saw.

use super::*;
use tracegate_model::Sampling;

fn decided(sampled: bool, policy: &str, probability: f64) -> Option<Sampling> {
    Some(Sampling {
        sampled,
        policy: policy.into(),
        probability,
    })
}

/// Whole RAG traces across 07:00, each with a decision in turn: kept by a rule, dropped by
/// the probabilistic policy, kept by it, and none (no sampler saw it).
pub(super) fn sampled_traces(spans: &[Span]) -> Vec<Trace> {
    let mut traces = testing::group_into_traces(spans);
    for (i, trace) in traces.iter_mut().enumerate() {
        trace.sampling = match i % 4 {
            0 => decided(true, "errors", 1.0),
            1 => decided(false, "rest", 0.1),
            2 => decided(true, "rest", 0.1),
            _ => None,
        };
    }
    traces
}

fn spans_of<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> Vec<Span> {
    traces.into_iter().flat_map(|t| t.spans.clone()).collect()
}

#[tokio::test]
async fn an_unsampled_trace_keeps_its_traces_row_with_the_decision_and_loses_its_spans() {
    metrics_on();
    let name = "archive/sampled-spans";
    let store = Arc::new(InMemory::new());
    let mut exporter = exporter(name, &small_config(), store.clone());
    let traces = sampled_traces(&spans_across_an_hour(40, 150));
    exporter
        .export(Arc::new(Payload::Traces(traces.clone())))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();

    let (kept, dropped): (Vec<&Trace>, Vec<&Trace>) = traces.iter().partition(|t| t.is_sampled());
    assert!(!dropped.is_empty() && kept.iter().any(|t| t.sampling.is_none()));
    assert_all_written(&files(store.as_ref()).await, &spans_of(kept));
    let rows: Vec<TraceRow> = trace_files(store.as_ref())
        .await
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect();
    assert_eq!(rows.len(), traces.len(), "a traces row for every trace");
    for trace in &traces {
        let row = rows
            .iter()
            .find(|r| r.trace_id == trace.trace_id.to_hex())
            .unwrap();
        assert_eq!(row, &expected_trace_row(trace));
    }
    let unsampled: Vec<&TraceRow> = rows.iter().filter(|r| r.sampled == Some(false)).collect();
    assert_eq!(unsampled.len(), dropped.len());
    for row in unsampled {
        assert_eq!(
            (row.sampling_policy.as_deref(), row.sampling_probability),
            (Some("rest"), Some(0.1))
        );
        assert!(
            row.span_count > 0,
            "the row still counts the spans left out"
        );
    }
    assert_eq!(
        counter(names::EXPORTER_UNSAMPLED_SPANS, name),
        spans_of(dropped).len() as u64
    );
}

#[tokio::test]
async fn sampled_only_spans_false_archives_every_span() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        sampled_only_spans: false,
        ..small_config()
    };
    let mut exporter = exporter("archive/every-span", &config, store.clone());
    let spans = spans_across_an_hour(20, 150);
    let traces = sampled_traces(&spans);
    assert!(traces.iter().any(|t| !t.is_sampled()));
    exporter
        .export(Arc::new(Payload::Traces(traces.clone())))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();
    assert_all_written(&files(store.as_ref()).await, &spans);
    let rows: usize = trace_files(store.as_ref())
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert_eq!(rows, traces.len());
}
