//! Every component type the gateway knows, one registration line each.

use tracegate_pipeline::Registry;

/// The registry of built-in components.
pub fn registry() -> Registry {
    Registry::new()
        .with_receiver(tracegate_otlp::OtlpReceiverFactory)
        .with_processor(tracegate_genai::GenAiNormalizeFactory)
        .with_processor(tracegate_genai::RedactionFactory)
        .with_processor(tracegate_assembly::TraceAssemblyFactory)
        .with_processor(tracegate_breakdown::LatencyBreakdownFactory)
        .with_processor(tracegate_sampling::TailSamplingFactory)
        .with_exporter(tracegate_otlp::OtlpExporterFactory)
        .with_exporter(tracegate_store::ArchiveExporterFactory)
        .with_exporter(tracegate_store::HotStoreFactory::new(
            tracegate_store::HotRegistry::new(),
        ))
}
