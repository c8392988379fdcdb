//! Config parsing and resolution, with fake components so the rules are tested on their own.

use super::*;
use crate::component::{
    ComponentError, ExporterFactory, ReceiverFactory, SpanProcessor, TraceProcessor,
};
use crate::component::{ExportError, Exporter, Payload, ProcessorFactory, ReceiverContext};
use crate::helper::{FnSpanProcessor, FnTraceProcessor};
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FakeConfig {
    endpoint: String,
    flush_age: Duration,
    size: ByteSize,
}

#[derive(Debug)]
struct FakeReceiver;

#[async_trait]
impl Receiver for FakeReceiver {
    async fn bind(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    async fn run(self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError> {
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

#[derive(Debug)]
struct FakeExporter;

#[async_trait]
impl Exporter for FakeExporter {
    async fn export(&mut self, _: Arc<Payload>) -> Result<(), ExportError> {
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[derive(Debug)]
struct NoAssembler;

impl crate::component::Assembler for NoAssembler {
    fn ingest(
        &mut self,
        _: tracegate_model::SpanBatch,
        _: u64,
        _: &mut Vec<tracegate_model::Trace>,
    ) {
    }
    fn tick(&mut self, _: u64, _: &mut Vec<tracegate_model::Trace>) {}
    fn next_deadline(&self) -> Option<u64> {
        None
    }
    fn drain(&mut self, _: &mut Vec<tracegate_model::Trace>) {}
}

struct Fake(&'static str);

impl ReceiverFactory for Fake {
    fn type_name(&self) -> &'static str {
        self.0
    }
    fn build(
        &self,
        id: &ComponentId,
        v: Value,
        _: &BuildContext,
    ) -> Result<Box<dyn Receiver>, ConfigError> {
        parse_section::<FakeConfig>(&format!("receivers.{id}"), v)?;
        Ok(Box::new(FakeReceiver))
    }
}

impl ExporterFactory for Fake {
    fn type_name(&self) -> &'static str {
        self.0
    }
    fn build(
        &self,
        id: &ComponentId,
        v: Value,
        _: &BuildContext,
    ) -> Result<Box<dyn Exporter>, ConfigError> {
        parse_section::<FakeConfig>(&format!("exporters.{id}"), v)?;
        Ok(Box::new(FakeExporter))
    }
}

impl ProcessorFactory for Fake {
    fn type_name(&self) -> &'static str {
        self.0
    }
    fn build(&self, _: &ComponentId, _: Value, _: &BuildContext) -> Result<Processor, ConfigError> {
        Ok(match self.0 {
            "trace_assembly" => Processor::Assemble(vec![Box::new(NoAssembler)]),
            "span_thing" => {
                Processor::Span(Box::new(FnSpanProcessor(|b| b)) as Box<dyn SpanProcessor>)
            }
            _ => Processor::Trace(Box::new(FnTraceProcessor(|t| t)) as Box<dyn TraceProcessor>),
        })
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_receiver(Fake("otlp"))
        .with_exporter(Fake("archive"))
        .with_exporter(Fake("otlp"))
        .with_processor(Fake("span_thing"))
        .with_processor(Fake("trace_assembly"))
        .with_processor(Fake("trace_thing"))
}

fn ctx() -> BuildContext {
    BuildContext::new("test")
}

fn resolve(yaml: &str) -> Result<Config, ConfigErrors> {
    let raw =
        RawConfig::parse_with_env(yaml, &|n| (n == "ARCHIVE").then(|| "s3://b/p".to_owned()))?;
    Config::resolve(raw, &registry(), &ctx())
}

fn errors(yaml: &str) -> Vec<String> {
    match resolve(yaml) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"
receivers:
  otlp: { endpoint: "0.0.0.0:4317" }
processors:
  span_thing: {}
  trace_assembly: {}
  trace_thing: {}
exporters:
  archive: { endpoint: "${env:ARCHIVE}", flush_age: 5m, size: 128MiB }
  otlp/tempo: {}
service:
  queue_size: 8
  refuse_after: 50ms
  shutdown_timeout: 10s
  telemetry: { metrics_address: "127.0.0.1:9999", log_format: json }
  pipelines:
    traces:
      receivers: [otlp]
      processors: [span_thing, trace_assembly, trace_thing]
      exporters: [archive, otlp/tempo]
"#;

#[test]
fn resolves_a_full_config() {
    let config = resolve(GOOD).unwrap();
    assert_eq!(config.receivers.len(), 1);
    assert_eq!(config.exporters.len(), 2);
    let p = &config.pipelines[0];
    assert_eq!(p.id, "traces");
    assert_eq!(p.processors.len(), 3);
    assert_eq!(p.exporters[1].as_str(), "otlp/tempo");
    assert_eq!(p.exporters[1].type_name(), "otlp");
    assert_eq!(config.service.queue_size, 8);
    assert_eq!(config.service.refuse_after, Duration::from_millis(50));
    assert_eq!(config.service.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(config.service.telemetry.log_format, LogFormat::Json);
    assert_eq!(config.service.telemetry.metrics_address.port(), 9999);
}

#[test]
fn component_sections_parse_with_units_and_env() {
    let raw = RawConfig::parse_with_env(GOOD, &|_| Some("s3://bucket/x".into())).unwrap();
    let section = raw.exporters["archive"].clone();
    let parsed: FakeConfig = parse_section("exporters.archive", section).unwrap();
    assert_eq!(
        parsed,
        FakeConfig {
            endpoint: "s3://bucket/x".into(),
            flush_age: Duration::from_secs(300),
            size: ByteSize::mib(128),
        }
    );
    let defaults: FakeConfig = parse_section("x", Value::Null).unwrap();
    assert_eq!(defaults, FakeConfig::default());
}

#[test]
fn component_errors_carry_their_key_path() {
    let bad = GOOD.replace("flush_age: 5m", "flush_age: 5x");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(r#"exporters.archive.flush_age: invalid duration "5x""#),
        "{errs:?}"
    );
    let bad = GOOD.replace("otlp/tempo: {}", "otlp/tempo: { endpont: x }");
    let errs = errors(&bad);
    assert!(
        errs[0].starts_with("exporters.otlp/tempo.endpont: unknown field `endpont`"),
        "{errs:?}"
    );
}

#[test]
fn unknown_keys_and_bad_shapes_are_errors_with_paths() {
    let errs = errors(&GOOD.replace("queue_size: 8", "queue_sise: 8"));
    assert!(
        errs[0].starts_with("service.queue_sise: unknown field `queue_sise`"),
        "{errs:?}"
    );
    let errs = errors(&GOOD.replace(
        "exporters: [archive, otlp/tempo]",
        "exporters: [archive, otlp/tempo]\n      extra: 1",
    ));
    assert!(
        errs[0].starts_with("service.pipelines.traces.extra: unknown field `extra`"),
        "{errs:?}"
    );
    let errs = errors(&format!("{GOOD}\nextensions: {{}}\n"));
    assert!(
        errs[0].starts_with("extensions: unknown field `extensions`"),
        "{errs:?}"
    );
}

#[test]
fn reports_every_reference_error_at_once() {
    let yaml = r#"
receivers: { otlp: {}, "bad id": {} }
processors: { trace_thing: {} }
exporters: { archive: {}, kafka: {} }
service:
  pipelines:
    traces: { receivers: [otlp, missing], processors: [trace_thing], exporters: [archive, nope] }
    logs: { receivers: [otlp], processors: [trace_thing], exporters: [archive] }
    metrics: { receivers: [otlp], exporters: [archive] }
"#;
    let errs = errors(yaml);
    let expected = [
        "exporters.kafka: unknown exporter type \"kafka\"; known types: archive, otlp",
        "receivers.bad id: invalid component id",
        "service.pipelines.logs.exporters: exporter archive takes no logs",
        "service.pipelines.logs.processors[0]: trace_thing works on spans or traces, not on log records",
        "service.pipelines.metrics: unsupported pipeline type \"metrics\"",
        "service.pipelines.traces.exporters[1]: exporter \"nope\" is not defined under `exporters`",
        "service.pipelines.traces.processors[0]: trace_thing works on whole traces; put trace_assembly before it",
        "service.pipelines.traces.receivers[1]: receiver \"missing\" is not defined under `receivers`",
    ];
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(expected) {
        assert!(got.starts_with(want), "got {got:?}, want {want:?}");
    }
}

#[test]
fn span_processors_cannot_follow_assembly() {
    let yaml = GOOD.replace(
        "[span_thing, trace_assembly, trace_thing]",
        "[trace_assembly, span_thing]",
    );
    let errs = errors(&yaml);
    assert!(errs[0].contains("comes after trace assembly"), "{errs:?}");
}

#[test]
fn empty_and_invalid_documents_say_so() {
    assert!(
        RawConfig::parse("")
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        RawConfig::parse("receivers: [")
            .unwrap_err()
            .to_string()
            .contains("not valid YAML")
    );
    let e = RawConfig::parse("receivers: {}").unwrap_err().to_string();
    assert!(e.contains("missing field `service`"), "{e}");
    let e = RawConfig::parse_with_env(
        "service: { pipelines: {} }\nexporters: { a: { url: \"${env:NOPE}\" } }",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "exporters.a.url: environment variable NOPE is not set; set it, or write ${env:NOPE:-default}"
    );
}

#[test]
fn service_limits_beyond_what_tokio_accepts_are_errors_not_panics() {
    // tokio's mpsc panics above usize::MAX >> 3 items; its semaphore above MAX_PERMITS.
    let huge = GOOD.replace("queue_size: 8", &format!("queue_size: {}", usize::MAX));
    let errs = errors(&huge);
    assert!(
        errs[0].starts_with("service.queue_size: must be between 1 and "),
        "{errs:?}"
    );
    let errs = errors(&GOOD.replace("queue_size: 8", "queue_size: 0"));
    assert!(
        errs[0].starts_with("service.queue_size: must be between 1"),
        "{errs:?}"
    );
    let errs = errors(&GOOD.replace("queue_size: 8", "queue_size: 8\n  queue_max_bytes: 1PiB"));
    assert!(
        errs[0].starts_with("service.queue_max_bytes: must be between 1B and "),
        "{errs:?}"
    );
    let errs = errors(&GOOD.replace("shutdown_timeout: 10s", "shutdown_timeout: 0s"));
    assert!(
        errs[0].starts_with("service.shutdown_timeout: must be between more than 0s and 1day"),
        "{errs:?}"
    );
    let errs = errors(&GOOD.replace("refuse_after: 50ms", "refuse_after: 1000years"));
    assert!(
        errs[0].starts_with("service.refuse_after: must be between 0s"),
        "{errs:?}"
    );
    // The largest values allowed resolve, and the queue accepts them without panicking.
    let max = GOOD.replace(
        "queue_size: 8",
        &format!(
            "queue_size: {}\n  queue_max_bytes: {}",
            crate::queue::MAX_ITEMS,
            crate::queue::MAX_BYTES
        ),
    );
    let config = resolve(&max).unwrap();
    let s = &config.service;
    let _ = crate::queue::channel::<u8>("t", s.queue_size, s.queue_max_bytes.as_usize());
}

#[test]
fn service_defaults_are_the_documented_ones() {
    let config = resolve(&GOOD.replace("  queue_size: 8\n", "")).unwrap();
    let s = &config.service;
    assert_eq!(s.queue_size, 64);
    assert_eq!(s.queue_max_bytes, ByteSize::mib(64));
    assert_eq!(s.exporter_stall_timeout, Duration::from_secs(10));
    let d = ServiceConfig::default();
    assert_eq!(
        (
            d.queue_size,
            d.queue_max_bytes,
            d.refuse_after,
            d.shutdown_timeout,
            d.exporter_stall_timeout
        ),
        (
            64,
            ByteSize::mib(64),
            Duration::from_millis(200),
            Duration::from_secs(30),
            Duration::from_secs(10)
        )
    );
}
