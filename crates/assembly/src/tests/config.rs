//! Config: the fixture, defaults, validation errors with key paths, and the factory.

use crate::{TraceAssemblyConfig, TraceAssemblyFactory};
use tracegate_pipeline::{
    BuildContext, ByteSize, ComponentId, Duration, Processor, ProcessorFactory, parse_section,
};

fn fixture(name: &str) -> serde_yaml_ng::Value {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn build(yaml: &str) -> Result<Processor, tracegate_pipeline::ConfigError> {
    let id = ComponentId::parse("trace_assembly").unwrap();
    let ctx = BuildContext::new("test");
    TraceAssemblyFactory::default().build(&id, serde_yaml_ng::from_str(yaml).unwrap(), &ctx)
}

#[test]
fn full_fixture_parses_into_the_expected_struct() {
    let parsed: TraceAssemblyConfig =
        parse_section("processors.trace_assembly", fixture("trace_assembly.yaml")).unwrap();
    let expected = TraceAssemblyConfig {
        idle_after_root: Duration::from_millis(1500),
        max_wait: Duration::from_secs(60),
        late_window: Duration::from_secs(600),
        max_remembered: 500_000,
        max_traces: 50_000,
        max_spans_per_trace: 5_000,
        max_bytes: ByteSize::mib(256),
        shards: 4,
    };
    assert_eq!(parsed, expected);
    assert_eq!(parsed.validate("processors.trace_assembly"), Ok(()));
}

#[test]
fn defaults_are_documented_values() {
    let parsed: TraceAssemblyConfig =
        parse_section("processors.trace_assembly", serde_yaml_ng::Value::Null).unwrap();
    assert_eq!(parsed, TraceAssemblyConfig::default());
    assert_eq!(parsed.idle_after_root, Duration::from_secs(2));
    assert_eq!(parsed.max_wait, Duration::from_secs(30));
    assert_eq!(parsed.late_window, Duration::from_secs(300));
    assert_eq!(parsed.max_remembered, 1_000_000);
    assert_eq!(parsed.max_traces, 200_000);
    assert_eq!(parsed.max_spans_per_trace, 20_000);
    assert_eq!(parsed.max_bytes, ByteSize::mib(512));
    assert!(parsed.shards >= 1);
    let empty: TraceAssemblyConfig = parse_section(
        "processors.trace_assembly",
        serde_yaml_ng::from_str("{}").unwrap(),
    )
    .unwrap();
    assert_eq!(empty, parsed);
}

#[test]
fn validation_reports_every_problem_with_its_key_path() {
    let parsed: TraceAssemblyConfig = parse_section(
        "processors.trace_assembly",
        fixture("trace_assembly_invalid.yaml"),
    )
    .unwrap();
    let errors: Vec<String> = parsed
        .validate("processors.trace_assembly")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "processors.trace_assembly.idle_after_root: must be less than max_wait (10s), got 30s",
            "processors.trace_assembly.max_traces: must be at least 1, such as 200000",
            "processors.trace_assembly.shards: must be between 1 and 1024, got 0",
        ]
    );
}

#[test]
fn unknown_keys_and_bad_units_are_errors_with_their_path() {
    let err = build("{ idle_after_root: 2s, max_wiat: 30s }").unwrap_err();
    assert_eq!(err.path, "processors.trace_assembly.max_wiat");
    assert!(err.message.contains("unknown field `max_wiat`"), "{err}");
    let err = build("{ max_wait: 30 }").unwrap_err();
    assert_eq!(err.path, "processors.trace_assembly.max_wait");
    assert!(err.message.contains("give a unit"), "{err}");
    let err = build("{ idle_after_root: 0s }").unwrap_err();
    assert_eq!(
        err.to_string(),
        "processors.trace_assembly.idle_after_root: must be more than zero, such as 2s"
    );
    let err = build("{ idle_after_root: 1m, max_spans_per_trace: 0 }").unwrap_err();
    assert_eq!(err.path, "processors.trace_assembly.idle_after_root");
    assert!(
        err.message
            .ends_with("(and 1 more problem(s) in this section)"),
        "{err}"
    );
}

#[test]
fn factory_builds_one_shard_per_worker_with_global_bounds_split() {
    assert_eq!(
        TraceAssemblyFactory::default().type_name(),
        "trace_assembly"
    );
    let Processor::Assemble(shards) = build("{ shards: 3, max_traces: 10 }").unwrap() else {
        panic!("not an assembler");
    };
    assert_eq!(shards.len(), 3);

    let config = TraceAssemblyConfig {
        shards: 4,
        max_traces: 10,
        max_remembered: 7,
        max_bytes: ByteSize(1000),
        ..Default::default()
    };
    let shards = config.build_shards();
    assert_eq!(shards.len(), 4);
    let limits = shards[0].limits();
    assert_eq!(limits.max_traces, 3);
    assert_eq!(limits.max_remembered, 2);
    assert_eq!(limits.max_bytes, 1000);
    assert_eq!(limits.fair_share_bytes, 250);
    assert_eq!(limits.idle_after_root_ns, 2_000_000_000);
    assert_eq!(limits.max_wait_ns, 30_000_000_000);
    assert_eq!(limits.late_window_ns, 300_000_000_000);
    assert_eq!(limits.max_spans_per_trace, 20_000);
}

/// Values the shards cannot represent are refused with their key paths (issue 18).
#[test]
fn values_past_what_a_shard_can_count_are_refused() {
    let config = TraceAssemblyConfig {
        idle_after_root: Duration::from_secs(1),
        max_wait: Duration::from_secs(u64::MAX / 2),
        late_window: Duration::from_secs(u64::MAX),
        max_traces: usize::MAX,
        max_spans_per_trace: u32::MAX as usize,
        ..Default::default()
    };
    let errors: Vec<String> = config
        .validate("processors.trace_assembly")
        .unwrap_err()
        .iter()
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(
        errors,
        [
            "processors.trace_assembly.max_wait",
            "processors.trace_assembly.late_window",
            "processors.trace_assembly.max_traces",
            "processors.trace_assembly.max_spans_per_trace",
        ]
    );
}

/// The largest values `validate` accepts build shards that hold, tick, report deadlines and
/// drain without a panic (the tests run in debug builds, where overflow panics).
#[test]
fn the_largest_accepted_values_run_without_overflow() {
    use super::{S, service, span, trace_id};
    use tracegate_model::SpanBatch;
    use tracegate_pipeline::Assembler;

    let longest = Duration(std::time::Duration::from_nanos(u64::MAX));
    let config = TraceAssemblyConfig {
        idle_after_root: Duration(std::time::Duration::from_nanos(u64::MAX - 1)),
        max_wait: longest,
        late_window: longest,
        max_remembered: usize::MAX,
        max_traces: TraceAssemblyConfig::MAX_COUNT,
        max_spans_per_trace: TraceAssemblyConfig::MAX_COUNT,
        max_bytes: ByteSize(u64::MAX),
        shards: TraceAssemblyConfig::MAX_SHARDS,
    };
    config.validate("processors.trace_assembly").unwrap();
    let mut shards = config.build_shards();
    assert_eq!(shards.len(), TraceAssemblyConfig::MAX_SHARDS);
    let shard = &mut shards[0];
    let svc = service("svc");
    let mut out = Vec::new();
    for (n, now) in [0, S, u64::MAX - 1, u64::MAX].into_iter().enumerate() {
        let n = n as u64;
        let spans = vec![
            span(trace_id(n), 1, None, &svc, "root", 10),
            span(trace_id(n), 2, Some(1), &svc, "child", 10),
        ];
        shard.ingest(SpanBatch { spans }, now, &mut out);
        assert!(shard.next_deadline() >= Some(u64::MAX - 1));
        shard.tick(now, &mut out);
    }
    // Deadlines saturate at u64::MAX: the clock reaching it releases everything, once.
    assert_eq!(out.len(), 4);
    shard.drain(&mut out);
    assert_eq!(out.len(), 4);
    assert_eq!(shard.bytes_held_total(), 0);
}
