//! The `tail_sampling` trace processor: the [`Sampler`] on every trace, on the gateway's
//! monotonic clock, with its metrics.
//!
//! - this file: the factory and the transform;
//! - `tests.rs`: the YAML fixture, config errors and the processor's metrics.

#[cfg(test)]
mod tests;

use crate::config::TailSamplingConfig;
use crate::sampler::{NONE_INDEX, Sampler};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::time::Instant;
use tracegate_model::{Sampling, Trace};
use tracegate_pipeline::telemetry;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, TraceProcessor,
    parse_section,
};

/// Builds [`TailSamplingProcessor`]s for `processors.tail_sampling[/NAME]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TailSamplingFactory;

impl ProcessorFactory for TailSamplingFactory {
    fn type_name(&self) -> &'static str {
        "tail_sampling"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: Value,
        _ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        let config: TailSamplingConfig = parse_section(&path, config)?;
        let sampler = Sampler::new(&config, &path)?;
        Ok(Processor::Trace(Box::new(TailSamplingProcessor::new(
            id.as_str(),
            sampler,
        ))))
    }
}

/// Marks every trace with its [`Sampling`] decision and passes every trace on: exporters
/// decide per destination what to keep.
#[derive(Debug)]
pub struct TailSamplingProcessor {
    id: String,
    sampler: Sampler,
    origin: Instant,
}

impl TailSamplingProcessor {
    /// A processor named `id` (for metric labels) around `sampler`.
    pub fn new(id: &str, sampler: Sampler) -> Self {
        Self {
            id: id.to_owned(),
            sampler,
            origin: Instant::now(),
        }
    }

    /// The sampler.
    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// Marks `traces` as decided at `now_ns` (ns on a monotonic clock), and records the
    /// metrics: the transform with the clock injected, for tests.
    pub fn process_at(&mut self, mut traces: Vec<Trace>, now_ns: u64) -> Vec<Trace> {
        // Counted per call, then recorded once per (policy, outcome).
        let mut decided: BTreeMap<(u16, bool), u64> = BTreeMap::new();
        let (mut dropped_traces, mut dropped_spans) = (0u64, 0u64);
        for trace in &mut traces {
            let d = self.sampler.decide(trace, now_ns);
            *decided.entry((d.policy, d.sampled)).or_default() += 1;
            if !d.sampled {
                dropped_traces += 1;
                dropped_spans += trace.spans.len() as u64;
            }
            trace.sampling = Some(Sampling {
                sampled: d.sampled,
                policy: self.sampler.policy_name(d.policy).clone(),
                probability: d.probability,
            });
        }
        for ((policy, sampled), n) in decided {
            let name = if policy == NONE_INDEX {
                crate::policy::NONE_NAME
            } else {
                self.sampler.policy_name(policy)
            };
            telemetry::sampling_decisions(&self.id, name, sampled, n);
        }
        if dropped_traces > 0 {
            telemetry::sampling_not_sampled(&self.id, dropped_traces, dropped_spans);
        }
        let stats = self.sampler.take_cache_stats();
        let cache = self.sampler.cache();
        telemetry::sampling_cache(
            &self.id,
            stats.hits,
            stats.misses,
            stats.evictions,
            cache.bytes() as u64,
            cache.len() as u64,
        );
        traces
    }
}

impl TraceProcessor for TailSamplingProcessor {
    fn process(&mut self, traces: Vec<Trace>) -> Vec<Trace> {
        let now_ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.process_at(traces, now_ns)
    }
}
