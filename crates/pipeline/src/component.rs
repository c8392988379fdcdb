//! The component traits: receivers, processors and exporters.

use crate::config::ConfigError;
use crate::health::Health;
use crate::sender::SpanSender;
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracegate_model::{LogBatch, Signal, SpanBatch, Trace};

/// A component id of the form `type[/name]`, as in the OTel Collector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    full: String,
    type_len: usize,
}

impl ComponentId {
    /// Parses `type` or `type/name`. Both parts must be non-empty and have no whitespace.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (ty, name) = match text.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (text, None),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        };
        if !valid(ty) || name.is_some_and(|n| !valid(n)) {
            return Err(format!(
                "invalid component id {text:?}: expected `type` or `type/name` using letters, \
                 digits, `_`, `-` and `.`"
            ));
        }
        Ok(Self {
            full: text.to_owned(),
            type_len: ty.len(),
        })
    }

    /// The component type, which selects the factory.
    pub fn type_name(&self) -> &str {
        &self.full[..self.type_len]
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// What an exporter is handed: either shape of data. Exporters share it behind an `Arc`, so
/// fan-out to several exporters copies nothing.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Spans as they arrived, from a pipeline with no trace assembly.
    Spans(SpanBatch),
    /// Whole traces, from a pipeline with trace assembly.
    Traces(Vec<Trace>),
    /// Log records, from a `logs` pipeline. Only exporters whose
    /// [`Exporter::signals`] include [`Signal::Logs`] are given these.
    Logs(LogBatch),
}

impl Payload {
    /// Number of items carried: spans, or log records for [`Payload::Logs`]. The pipeline's
    /// counters and the write-ahead log's release accounting count in these.
    pub fn span_count(&self) -> usize {
        match self {
            Payload::Spans(b) => b.len(),
            Payload::Traces(t) => t.iter().map(|t| t.spans.len()).sum(),
            Payload::Logs(l) => l.len(),
        }
    }

    /// The items' estimated in-memory size: the payload's weight in a byte-bounded queue.
    pub fn estimated_bytes(&self) -> usize {
        match self {
            Payload::Spans(b) => b.estimated_bytes(),
            Payload::Traces(t) => traces_estimated_bytes(t),
            Payload::Logs(l) => l.estimated_bytes(),
        }
    }

    /// Every span, in order (none for [`Payload::Logs`]).
    pub fn spans(&self) -> Box<dyn Iterator<Item = &tracegate_model::Span> + '_> {
        match self {
            Payload::Spans(b) => Box::new(b.spans.iter()),
            Payload::Traces(t) => Box::new(t.iter().flat_map(|t| t.spans.iter())),
            Payload::Logs(_) => Box::new(std::iter::empty()),
        }
    }

    /// The signal carried.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Spans(_) | Payload::Traces(_) => Signal::Traces,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    /// The write-ahead-log origin of every item, in order: what an exporter reports durable.
    pub fn origins(&self) -> Box<dyn Iterator<Item = tracegate_model::Origin> + '_> {
        match self {
            Payload::Logs(l) => Box::new(l.records.iter().map(|r| r.origin)),
            _ => Box::new(self.spans().map(|s| s.origin)),
        }
    }
}

impl Payload {
    /// The payload without spans logged below `floor` (records an exporter already made
    /// durable before a restart), or `None` when there are none such. Traces left empty are
    /// dropped.
    pub fn without_logged_below(&self, floor: u64) -> Option<Payload> {
        let below = |s: &tracegate_model::Span| s.origin.lsn().is_some_and(|lsn| lsn < floor);
        let below_origin = |o: tracegate_model::Origin| o.lsn().is_some_and(|lsn| lsn < floor);
        if floor == 0 || !self.origins().any(below_origin) {
            return None;
        }
        Some(match self {
            Payload::Logs(l) => Payload::Logs(LogBatch {
                records: l
                    .records
                    .iter()
                    .filter(|r| !below_origin(r.origin))
                    .cloned()
                    .collect(),
            }),
            Payload::Spans(b) => Payload::Spans(SpanBatch {
                spans: b.spans.iter().filter(|s| !below(s)).cloned().collect(),
            }),
            Payload::Traces(t) => Payload::Traces(
                t.iter()
                    .filter_map(|t| {
                        let spans: Vec<_> = t.spans.iter().filter(|s| !below(s)).cloned().collect();
                        (!spans.is_empty()).then(|| Trace {
                            trace_id: t.trace_id,
                            spans,
                            release_reason: t.release_reason,
                            tree_whole: t.tree_whole,
                            fragment: t.fragment,
                            critical_path: t.critical_path.clone(),
                            sampling: t.sampling.clone(),
                            scores: t.scores.clone(),
                        })
                    })
                    .collect(),
            ),
        })
    }
}

/// The estimated in-memory size of the spans of `traces`.
pub fn traces_estimated_bytes(traces: &[Trace]) -> usize {
    traces
        .iter()
        .flat_map(|t| t.spans.iter())
        .map(tracegate_model::Span::estimated_bytes)
        .sum()
}

/// An error from a running component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// Could not start (for example, a port was taken).
    #[error("{component}: could not start: {message}")]
    Start {
        /// The component.
        component: String,
        /// What went wrong and what to do.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Failed while running.
    #[error("{component}: {message}")]
    Run {
        /// The component.
        component: String,
        /// What went wrong.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// An exporter's failure to take or deliver data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Might succeed later (network, throttling, a full queue).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never succeed for this data (rejected as invalid); the data is dropped and counted.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl ExportError {
    /// The `error_type` label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ExportError::Retryable(_) => "retryable",
            ExportError::Permanent(_) => "permanent",
        }
    }
}

/// What a receiver is given when it starts.
#[derive(Debug)]
pub struct ReceiverContext {
    /// The receiver's id.
    pub id: ComponentId,
    /// Where to send accepted batches. Refuses, never blocks, when the pipeline is full.
    pub output: SpanSender,
    /// Cancelled when the gateway shuts down: stop accepting, finish in-flight requests,
    /// drop `output`, and return.
    pub shutdown: CancellationToken,
}

/// A source of spans, such as the OTLP receiver.
#[async_trait]
pub trait Receiver: Send + fmt::Debug {
    /// Binds its listeners. Called for every receiver before any starts serving, so a taken
    /// port fails the start cleanly.
    async fn bind(&mut self) -> Result<(), ComponentError>;

    /// Serves until `ctx.shutdown` is cancelled.
    async fn run(self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError>;
}

/// A transform on span batches. Runs before trace assembly.
///
/// Write only the transform: the pipeline counts spans in and out and times each call.
pub trait SpanProcessor: Send + fmt::Debug {
    /// Transforms one batch. May drop or add spans.
    fn process(&mut self, batch: SpanBatch) -> SpanBatch;
}

/// A transform on whole traces. Runs after trace assembly.
///
/// Write only the transform: the pipeline counts spans in and out and times each call.
pub trait TraceProcessor: Send + fmt::Debug {
    /// Transforms released traces. May drop traces (sampling) or annotate them.
    fn process(&mut self, traces: Vec<Trace>) -> Vec<Trace>;
}

/// A transform on log records, in a `logs` pipeline.
///
/// Write only the transform: the pipeline counts records in and out and times each call.
pub trait LogProcessor: Send + fmt::Debug {
    /// Transforms one batch. May drop or add records.
    fn process(&mut self, batch: LogBatch) -> LogBatch;
}

/// Turns span batches into traces: the `trace_assembly` stage.
///
/// It is a pure state machine: time comes in as an argument (ns on a monotonic clock whose
/// origin is arbitrary), so tests drive it deterministically. The pipeline runs one instance
/// per shard, each owned by its own task, and hands each only the spans whose trace id maps to
/// it ([`shard_of`]). Released traces are appended to `released`.
pub trait Assembler: Send + fmt::Debug {
    /// Takes spans that arrived at `now_ns`. May release traces at once (late fragments,
    /// spans over the per-trace cap, evictions forced by a bound).
    fn ingest(&mut self, batch: SpanBatch, now_ns: u64, released: &mut Vec<Trace>);

    /// Releases every trace whose deadline is at or before `now_ns`.
    fn tick(&mut self, now_ns: u64, released: &mut Vec<Trace>);

    /// The earliest pending deadline, if any trace is held: when to call `tick` next.
    fn next_deadline(&self) -> Option<u64>;

    /// Releases everything held, marked `shutdown`.
    fn drain(&mut self, released: &mut Vec<Trace>);
}

/// The shard a trace belongs to, out of `shards`.
pub fn shard_of(trace_id: &tracegate_model::TraceId, shards: usize) -> usize {
    (trace_id.shard_hash() % shards.max(1) as u64) as usize
}

/// A processor of any shape, as a factory builds it.
#[derive(Debug)]
pub enum Processor {
    /// Works on span batches.
    Span(Box<dyn SpanProcessor>),
    /// Works on traces.
    Trace(Box<dyn TraceProcessor>),
    /// Turns span batches into traces: one assembler per shard (at least one).
    Assemble(Vec<Box<dyn Assembler>>),
    /// Works on log records (in a `logs` pipeline).
    Log(Box<dyn LogProcessor>),
}

/// A destination for spans or traces.
///
/// The pipeline runs each exporter in its own task behind its own bounded queue (in batches
/// and in bytes). `export` may wait (for buffer space, for a retry); while it waits the queue
/// fills and the pipeline waits for it, so the receivers refuse new data with a retryable
/// status. That is how back-pressure reaches the sender. An exporter whose queue has had no
/// room for `service.exporter_stall_timeout` is stalled: payloads for it are dropped and
/// counted until it takes from its queue again, so it cannot hold back the other exporters.
///
/// At shutdown, `export`, `tick` and `shutdown` all run under `service.shutdown_timeout`;
/// when it passes, the running future is dropped and [`Exporter::abandon`] is called.
#[async_trait]
pub trait Exporter: Send + fmt::Debug {
    /// Takes one payload.
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError>;

    /// How often [`Exporter::tick`] should run, for time-based flushing. `None`: never.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Periodic work such as flushing by age.
    async fn tick(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes everything buffered. Called once, after the last payload, within the
    /// shutdown deadline.
    async fn shutdown(&mut self) -> Result<(), ExportError>;

    /// Called instead of finishing when the shutdown deadline has passed while `export` or
    /// `shutdown` was still running (that future has been dropped). Drops everything still
    /// buffered or in flight and returns how many spans that was, so the loss is counted.
    fn abandon(&mut self) -> usize {
        0
    }

    /// With the write-ahead log on, the topology offers each exporter its [`Release`]
    /// handle before the first payload. An exporter that keeps payloads past `export` (a
    /// buffer, a retry queue) takes it and returns `true`: it then reports every span it was
    /// given through [`Release::durable`] once the span is safe at its destination. The
    /// default, `false`, means a payload counts as durable once `export` returns.
    ///
    /// [`Release`]: crate::durability::Release
    /// [`Release::durable`]: crate::durability::Release::durable
    fn take_release(&mut self, release: crate::durability::Release) -> bool {
        let _ = release;
        false
    }

    /// Whether this exporter takes only sampled traces. When `true`, the topology removes
    /// every trace a tail sampler decided not to keep ([`Trace::is_sampled`] is false) from
    /// each payload before [`Exporter::export`], and reports their spans durable itself, so
    /// the exporter never sees them and need not release them. Span batches and traces no
    /// sampler saw pass unchanged. The default, `false`, hands the exporter everything:
    /// exporters that honour sampling in their own way (the archive keeps a `traces` row for
    /// every trace) look at [`Trace::sampling`] themselves.
    fn sampled_only(&self) -> bool {
        false
    }

    /// The signals this exporter takes. A `logs` pipeline may list only exporters that take
    /// [`Signal::Logs`] (config resolution says so otherwise); the default is traces only.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    /// Runs once before the first payload, after [`Exporter::take_release`]: recovery such
    /// as reading a journal. Payloads wait meanwhile (the pipeline applies back-pressure).
    async fn start(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Facts every factory may use when building.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildContext {
    /// A name for this gateway instance, unique among instances writing to one archive.
    pub instance: String,
    /// The gateway's shared health: components report degraded or failed states here, and
    /// `/healthz` and `/readyz` read it.
    pub health: Health,
    /// `service.multitenancy_enabled`: receivers take each request's tenant from its
    /// `X-Scope-OrgID` header and refuse requests without one.
    pub multitenancy: bool,
    /// Who may send: the authenticator of the `auth:` section, shared by every receiver
    /// (open, letting every request through, without one).
    pub auth: std::sync::Arc<tracegate_auth::Authenticator>,
    /// The signal of the pipeline a processor is being built for: a processor type that
    /// works in both `traces` and `logs` pipelines (`redaction`) builds a
    /// [`Processor::Log`] for [`Signal::Logs`]. Receivers and exporters, which are built once
    /// for every pipeline, see [`Signal::Traces`].
    pub signal: Signal,
}

impl BuildContext {
    /// A context for instance `instance`, with a fresh [`Health`].
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            health: Health::default(),
            multitenancy: false,
            auth: std::sync::Arc::new(tracegate_auth::Authenticator::open()),
            signal: Signal::Traces,
        }
    }

    /// The same, for building a processor of a pipeline of `signal` ([`Self::signal`]).
    pub fn for_signal(&self, signal: Signal) -> Self {
        Self {
            signal,
            ..self.clone()
        }
    }

    /// The same, with multi-tenancy on or off ([`Self::multitenancy`]).
    pub fn with_multitenancy(mut self, on: bool) -> Self {
        self.multitenancy = on;
        self
    }

    /// The same, with `auth` deciding who may send ([`Self::auth`]).
    pub fn with_auth(mut self, auth: std::sync::Arc<tracegate_auth::Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// The same, sharing `health` (the one `/healthz` serves).
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
}

/// Builds receivers of one type.
pub trait ReceiverFactory: Send + Sync {
    /// The type name in config (`otlp`).
    fn type_name(&self) -> &'static str;
    /// Parses the component's config (with defaults for what is missing) and builds it. Does
    /// no I/O. Errors name key paths relative to the component.
    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Receiver>, ConfigError>;
}

/// Builds processors of one type.
pub trait ProcessorFactory: Send + Sync {
    /// The type name in config.
    fn type_name(&self) -> &'static str;
    /// Parses and builds, as [`ReceiverFactory::build`].
    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Processor, ConfigError>;
}

/// Builds exporters of one type.
pub trait ExporterFactory: Send + Sync {
    /// The type name in config (`archive`, `otlp`).
    fn type_name(&self) -> &'static str;
    /// Parses and builds, as [`ReceiverFactory::build`].
    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Exporter>, ConfigError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_component_ids() {
        let id = ComponentId::parse("otlp/tempo").unwrap();
        assert_eq!(id.type_name(), "otlp");
        assert_eq!(id.as_str(), "otlp/tempo");
        assert_eq!(
            ComponentId::parse("archive").unwrap().type_name(),
            "archive"
        );
        assert!(ComponentId::parse("otlp/").is_err());
        assert!(ComponentId::parse("/x").is_err());
        assert!(ComponentId::parse("a b").is_err());
    }
}
