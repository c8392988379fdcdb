//! OTLP in and out of tracegate.
//!
//! - [`OtlpReceiverFactory`] (type `otlp` under `receivers`) builds an [`OtlpReceiver`]: OTLP/gRPC
//!   on one port and OTLP/HTTP (`POST /v1/traces` and `POST /v1/logs`, protobuf or JSON) on
//!   another. It decodes each request once, moves its spans into a
//!   [`SpanBatch`](tracegate_model::SpanBatch) (its log records into a
//!   [`LogBatch`](tracegate_model::LogBatch)), and hands the batch to the pipelines of that
//!   signal; a signal no pipeline takes from the receiver is answered HTTP 404 / gRPC
//!   `UNIMPLEMENTED`. Spans or records with invalid ids are dropped and reported through OTLP
//!   partial success; the rest are kept. Requests over the size limits (on the wire and after
//!   decompression), undecodable bodies, and a full pipeline are refused with the statuses the
//!   OTLP spec prescribes, counted, and never panic. Memory and connections are bounded too:
//!   a byte budget shared by both listeners (`max_in_flight_bytes`, reserved as a request is
//!   read, inflated and decoded; over it, the retryable gRPC `UNAVAILABLE` / HTTP 503), per
//!   listener caps on connections and concurrent requests, a timeout for slow uploads and
//!   HTTP headers, and buffers that grow with the bytes that arrive rather than with what
//!   `Content-Length` declares.
//! - [`OtlpExporterFactory`] (type `otlp` under `exporters`) builds an [`OtlpExporter`]: it
//!   encodes each batch once, queues it without blocking the pipeline, and sends it over a
//!   lazily connected gRPC channel, retrying with exponential backoff where OTLP allows. With
//!   the write-ahead log on, the queue lives on disk (bounded by `sending_queue.max_bytes`,
//!   oldest dropped first), so an outage of the backend, a restart or a crash loses nothing.
//!
//! Configs are [`OtlpReceiverConfig`] and [`OtlpExporterConfig`]; both parse with
//! defaults for what is missing, reject unknown keys, and report errors with their key path:
//!
//! ```
//! use tracegate_otlp::OtlpReceiverConfig;
//!
//! let yaml = serde_yaml_ng::from_str("protocols: { grpc: }\nmax_request_bytes: 4MiB").unwrap();
//! let config = OtlpReceiverConfig::from_section("receivers.otlp", yaml).unwrap();
//! assert!(config.protocols.http.is_none());
//! assert_eq!(config.protocols.grpc.unwrap().endpoint, "0.0.0.0:4317");
//!
//! let yaml = serde_yaml_ng::from_str("max_request_bytes: lots").unwrap();
//! let err = OtlpReceiverConfig::from_section("receivers.otlp", yaml).unwrap_err();
//! assert!(err.to_string().starts_with("receivers.otlp.max_request_bytes: invalid size"));
//! ```

pub mod exporter;
pub mod receiver;

pub use exporter::{OtlpExporter, OtlpExporterConfig, OtlpExporterFactory};
pub use receiver::{OtlpReceiver, OtlpReceiverConfig, OtlpReceiverFactory};

#[cfg(test)]
mod test_util;
