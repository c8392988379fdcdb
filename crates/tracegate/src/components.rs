//! Every component type the gateway knows, one registration line each.

use std::sync::Arc;
use tracegate_metrics::MetricsRegistry;
use tracegate_metrics::alerts::AlertsFactory;
use tracegate_metrics::span_metrics::SpanMetricsFactory;
use tracegate_pipeline::Registry;
use tracegate_scores::{ScoreBoard, ScoresFactory};
use tracegate_store::hot::{HotRegistry, HotStoreFactory};

/// The registry of built-in components. Each `hot_store` exporter built from it is recorded
/// in `hot`, where the query API finds the store it serves; each `span_metrics` and `alerts`
/// processor in `metrics`, where the metrics endpoints find what they serve. The `scores`
/// processors of `logs` pipelines and `trace_assembly` share one [`ScoreBoard`]: scores
/// joined in the one are attached to traces the other still holds.
pub fn registry(hot: &HotRegistry, metrics: &MetricsRegistry) -> Registry {
    let board: Arc<ScoreBoard> = ScoreBoard::shared(Default::default());
    Registry::new()
        .with_receiver(tracegate_otlp::OtlpReceiverFactory)
        .with_processor(tracegate_genai::GenAiNormalizeFactory)
        .with_processor(tracegate_genai::RedactionFactory)
        .with_processor(tracegate_genai::LlmLogsFactory)
        .with_processor(ScoresFactory::new(board.clone()))
        .with_processor(tracegate_assembly::TraceAssemblyFactory::with_scores(board))
        .with_processor(tracegate_breakdown::LatencyBreakdownFactory)
        .with_processor(SpanMetricsFactory::new(metrics.clone()))
        .with_processor(AlertsFactory::new(metrics.clone()))
        .with_processor(tracegate_sampling::TailSamplingFactory)
        .with_exporter(tracegate_otlp::OtlpExporterFactory)
        .with_exporter(tracegate_store::ArchiveExporterFactory)
        .with_exporter(HotStoreFactory::new(hot.clone()))
}
