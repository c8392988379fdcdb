//! The `span_metrics` trace processor: metrics of every trace, before sampling.
//!
//! Placed before `tail_sampling`, it reads each released trace and passes it on unchanged,
//! updating its [`SpanMetrics`], which the Prometheus endpoint and the OTLP exporter collect
//! ([`MetricSource`](crate::snapshot::MetricSource)). Families (label keys are OTel-style;
//! the Prometheus renderer turns `.` into `_`):
//!
//! | Prometheus name | kind | labels | module |
//! |---|---|---|---|
//! | `traces_spanmetrics_calls`, `traces_spanmetrics_latency` | counter, histogram (explicit or exponential) | `service`, `span_name`, `span_kind`, `status_code`, + dimensions | [`red`] |
//! | `gen_ai_client_token_usage`, `gen_ai_client_operation_duration_seconds`, `gen_ai_server_time_to_first_token_seconds`, `gen_ai_server_time_per_output_token_seconds`, `tracegate_gen_ai_cost_usd` | histograms with the spec's bounds, counter | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model` (+ `gen_ai.token.type`, `error.type`) | [`genai`] |
//! | `tracegate_critical_path_seconds`, `tracegate_trace_duration_seconds`, `tracegate_traces` | histograms, counter | `service`, `root_operation` (+ `category`); `release_reason`, `complete`, `error` | [`per_trace`] |
//! | `traces_service_graph_request{,_failed}`, `traces_service_graph_request_{server,client}_seconds` | counters, histograms | `client`, `server`, `connection_type` | [`graph`] |
//!
//! Time is processing time (`now` as an argument everywhere, so tests drive it). Each family
//! holds at most `max_series_per_metric` series plus an overflow series ([`store`]); series
//! idle for `series_expiry` are dropped when collected. Explicit histograms keep the latest
//! exemplar per bucket ([`histogram`]).
//!
//! - [`config`]: the section and its defaults;
//! - [`store`]: bounded series tables looked up by borrowed labels;
//! - [`histogram`]: explicit and base-2 exponential histograms;
//! - [`red`], [`genai`], [`graph`], [`per_trace`]: the families;
//! - [`processor`]: the shared state, the processor and its factory.

pub mod config;
pub mod genai;
pub mod graph;
pub mod histogram;
pub mod per_trace;
pub mod processor;
pub mod red;
pub mod store;
#[cfg(test)]
mod tests;

pub use config::{HistogramConfig, HistogramKind, SpanMetricsConfig};
pub use processor::{SeriesStats, SpanMetrics, SpanMetricsFactory, SpanMetricsProcessor};
