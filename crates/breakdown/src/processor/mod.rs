//! The `latency_breakdown` trace processor: the analysis on every trace, recorded on the
//! spans as [`SpanFacts`](tracegate_model::SpanFacts) (exported as `tracegate.*` attributes).
//!
//! - `config.rs`: [`LatencyBreakdownConfig`];
//! - this file: the factory and the transform;
//! - `tests.rs`: the YAML fixture and the processor on generated traces.

mod config;
#[cfg(test)]
mod tests;

pub use config::LatencyBreakdownConfig;

use crate::analysis::{Options, analyze};
use crate::annotate::{annotate, annotate_span_only};
use serde_yaml_ng::Value;
use tracegate_model::{CriticalPathSummary, Trace};
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, TraceProcessor,
    parse_section,
};

/// Builds [`LatencyBreakdownProcessor`]s for `processors.latency_breakdown[/NAME]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyBreakdownFactory;

impl ProcessorFactory for LatencyBreakdownFactory {
    fn type_name(&self) -> &'static str {
        "latency_breakdown"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: Value,
        _ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let config: LatencyBreakdownConfig = parse_section(&format!("processors.{id}"), config)?;
        Ok(Processor::Trace(Box::new(LatencyBreakdownProcessor::new(
            &config,
        ))))
    }
}

/// Annotates every span of every trace with its category, self time and critical-path
/// share (and LLM stages, network gaps, skew and tree marks), and gives every whole trace
/// its [`Trace::critical_path`] summary for the archive. Fragments (late spans, spans over
/// the per-trace cap) get only what needs no tree: category and LLM stages.
#[derive(Debug, Clone)]
pub struct LatencyBreakdownProcessor {
    options: Options,
}

impl LatencyBreakdownProcessor {
    /// A processor with `config`.
    pub fn new(config: &LatencyBreakdownConfig) -> Self {
        Self {
            options: Options {
                clock_skew_adjustment: config.clock_skew_adjustment,
            },
        }
    }

    /// Annotates one trace in place and, for a whole trace, sets
    /// [`Trace::critical_path`] from the same analysis (a fragment's is cleared: its tree is
    /// not all there).
    pub fn process_trace(&self, trace: &mut Trace) {
        if trace.fragment.is_some() {
            annotate_span_only(&mut trace.spans);
            trace.critical_path = None;
        } else {
            let breakdown = analyze(&trace.spans, &self.options);
            annotate(&mut trace.spans, &breakdown);
            let summary = breakdown.summary(&trace.spans);
            trace.critical_path = Some(Box::new(CriticalPathSummary::from(summary)));
        }
    }
}

impl TraceProcessor for LatencyBreakdownProcessor {
    fn process(&mut self, mut traces: Vec<Trace>) -> Vec<Trace> {
        for trace in &mut traces {
            self.process_trace(trace);
        }
        traces
    }
}
