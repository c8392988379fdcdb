//! Metrics and alerts from every trace, computed before sampling so they are exact over 100 %
//! of traffic even when `tail_sampling` keeps 10 %.
//!
//! - [`span_metrics`]: the `span_metrics` trace processor. Span RED metrics (calls, duration)
//!   by service, span name, kind and status plus configured dimensions; the OTel GenAI client
//!   and server metrics with the semantic conventions' names, units and buckets; cost,
//!   critical-path time by category and traces by release reason; a service graph. Series
//!   are bounded per metric (an overflow series takes the rest) and expire when idle.
//! - [`alerts`]: the `alerts` trace processor. Streaming rules over sliding windows
//!   (`error_ratio > 0.05 over 5m`), pending → firing → resolved, listed in Prometheus's JSON
//!   shape and sent to an Alertmanager or a webhook.
//! - [`exposition`]: Prometheus text, OpenMetrics (with exemplars) and protobuf (native
//!   histograms) renderings of a [`snapshot`].
//! - [`otlp`]: an OTLP/gRPC metrics exporter, cumulative or delta.
//! - [`server`]: the scrape and alerts endpoint (`/metrics`, `/api/v1/alerts`,
//!   `/api/v1/rules`), apart from the gateway's own telemetry on `:8888`.
//! - [`MetricsRegistry`]: where the processors built from the config leave their handles for
//!   the endpoints.
//! - [`telemetry`]: this crate's own counters (overflows, notifications, pushes), served with
//!   the gateway's telemetry on `:8888`.
//!
//! The data flows one way: processors update their own state on the trace stage's task; the
//! endpoints take a [`snapshot::Family`] copy under a short lock and render it elsewhere.

pub mod alerts;
pub mod config;
pub mod exposition;
pub mod otlp;
pub mod registry;
pub mod server;
pub mod snapshot;
pub mod span_metrics;
pub mod telemetry;

pub use registry::{MetricsRegistry, now_unix_nano};
