//! OTLP/gRPC export of the data metrics, cumulative or delta.
//!
//! - [`config`]: [`OtlpMetricsConfig`] (endpoint, temporality, interval, timeout, headers,
//!   compression, resource attributes) and the resource it gives.
//! - [`convert`]: [`to_request`] turns a snapshot into an `ExportMetricsServiceRequest`,
//!   with [`DeltaState`] to derive deltas.
//! - [`split`](mod@split): bounds the data points per request.
//! - [`exporter`]: [`OtlpMetricsExporter`], the push loop with retries and a final push at
//!   shutdown.

pub mod config;
pub mod convert;
pub mod exporter;
pub mod split;

#[cfg(test)]
mod tests;

pub use config::{Compression, OtlpMetricsConfig, Temporality};
pub use convert::{DeltaState, to_request, to_request_at};
pub use exporter::OtlpMetricsExporter;
pub use split::split;
