//! The pipeline: tracegate's component model, configuration and runtime.
//!
//! tracegate follows the OpenTelemetry Collector's component model, which its users already
//! know:
//!
//! - [`Receiver`]s accept spans and push [`SpanBatch`](tracegate_model::SpanBatch)es through a
//!   [`SpanSender`], which refuses (never blocks forever) when the pipeline is full;
//! - [`SpanProcessor`]s transform span batches, [`TraceProcessor`]s transform whole traces;
//!   [`helper::Instrumented`] counts and times each so authors write only the transform;
//! - [`Exporter`]s take a shared [`Payload`] of either shape.
//!
//! Each component type has a factory ([`ReceiverFactory`], [`ProcessorFactory`],
//! [`ExporterFactory`]) that parses its YAML section into a typed config; a [`Registry`] maps
//! type names to factories. [`config::RawConfig`] parses the document; [`config::Config`]
//! resolves it against the registry, reporting every error with its key path.
//! [`topology::run`] wires the components with [`queue`]s bounded in batches and in bytes,
//! watches every task, and shuts them down in stages under one deadline.
//! [`telemetry`] names every internal metric; [`health`] is what `/healthz` and `/readyz` report.
//! [`durability`] is the pipeline's side of the write-ahead log: the record format, the
//! [`Log`](durability::Log) trait the `tracegate-wal` crate implements, and the
//! [`Ledger`](durability::Ledger) that turns exporters' progress into checkpoints.
//!
//! ```
//! use tracegate_pipeline::config::RawConfig;
//!
//! let raw = RawConfig::parse_with_env(
//!     "receivers: { otlp: {} }\n\
//!      exporters: { archive: { url: ./data } }\n\
//!      service: { pipelines: { traces: { receivers: [otlp], exporters: [archive] } } }",
//!     &|_| None,
//! ).unwrap();
//! assert_eq!(raw.service.pipelines["traces"].exporters, ["archive"]);
//! assert_eq!(raw.service.queue_size, 64);
//! ```

pub mod component;
pub mod config;
pub mod durability;
pub mod health;
pub mod helper;
pub mod queue;
pub mod registry;
pub mod sender;
pub mod telemetry;
pub mod topology;

#[cfg(test)]
pub(crate) mod test_support;

pub use component::{
    Assembler, BuildContext, ComponentError, ComponentId, ExportError, Exporter, ExporterFactory,
    LogProcessor, Payload, Processor, ProcessorFactory, Receiver, ReceiverContext, ReceiverFactory,
    SpanProcessor, TraceProcessor, shard_of,
};
pub use config::{ByteSize, ConfigError, ConfigErrors, Duration, parse_section};
pub use registry::Registry;
pub use sender::{Refused, SpanSender};
