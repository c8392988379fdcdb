//! The `scores` processor: config, build rules, what a batch comes out as, metrics.

use super::*;
use crate::config::{IndexConfig, PendingConfig};
use crate::telemetry::names;
use crate::{ScoresConfig, ScoresFactory};
use serde_yaml_ng::Value;
use tracegate_model::{LogBatch, LogKind, LogRecord, ScoreJoin, Signal};
use tracegate_pipeline::{
    BuildContext, ByteSize, ComponentId, ConfigError, Duration, Processor, ProcessorFactory,
    parse_section,
};
use tracegate_testkit::metrics::CapturedMetrics;

const PATH: &str = "processors.scores";

fn build(board: &Arc<ScoreBoard>, yaml: &str, signal: Signal) -> Result<Processor, ConfigError> {
    let value: Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::new("", e.to_string()))?;
    ScoresFactory::new(board.clone()).build(
        &ComponentId::parse("scores").map_err(|e| ConfigError::new("", e))?,
        value,
        &BuildContext::new("t").for_signal(signal),
    )
}

#[test]
fn the_yaml_fixture_parses_and_sets_the_boards_bounds() {
    let text = include_str!("../../testdata/scores.yaml");
    let config: ScoresConfig = parse_section(PATH, serde_yaml_ng::from_str(text).unwrap()).unwrap();
    assert_eq!(
        config,
        ScoresConfig {
            index: IndexConfig {
                max_entries: 50_000,
                ttl: Duration::from_secs(1800),
            },
            pending: PendingConfig {
                max_scores: 20_000,
                max_bytes: ByteSize::mib(8),
                ttl: Duration::from_secs(120),
            },
        }
    );
    let board = Arc::new(board());
    assert!(matches!(
        build(&board, text, Signal::Logs),
        Ok(Processor::Log(_))
    ));
    assert_eq!(
        board.limits(),
        BoardLimits {
            max_calls: 50_000,
            call_ttl_ns: 1800 * S,
            max_pending: 20_000,
            max_pending_bytes: 8 << 20,
            pending_ttl_ns: 120 * S,
        }
    );
    // An empty section is the defaults.
    assert!(build(&board, "{}", Signal::Logs).is_ok());
    assert_eq!(board.limits(), BoardLimits::default());
}

#[test]
fn config_errors_name_their_key_and_what_to_write() {
    let board = Arc::new(board());
    let cases: &[(&str, Signal, &str, &str)] = &[
        ("{}", Signal::Traces, "processors.scores", "`logs` pipeline"),
        (
            "{ index: { size: 5 } }",
            Signal::Logs,
            "processors.scores.index.size",
            "unknown field",
        ),
        (
            "{ index: { max_entries: 10 } }",
            Signal::Logs,
            "processors.scores.index.max_entries",
            "from 1024",
        ),
        (
            "{ index: { ttl: 0s } }",
            Signal::Logs,
            "processors.scores.index.ttl",
            "more than zero",
        ),
        (
            "{ pending: { ttl: 5x } }",
            Signal::Logs,
            "processors.scores.pending.ttl",
            "5x",
        ),
        (
            "{ pending: { max_bytes: 1KiB } }",
            Signal::Logs,
            "processors.scores.pending.max_bytes",
            "at least 64KiB",
        ),
        (
            "{ pending: { max_scores: 1000000000 } }",
            Signal::Logs,
            "processors.scores.pending.max_scores",
            "at most",
        ),
        (
            "{ index: { ttl: 0s }, pending: { ttl: 0s } }",
            Signal::Logs,
            "processors.scores.index.ttl",
            "and 1 more problem",
        ),
    ];
    for (yaml, signal, path, message) in cases {
        let e = build(&board, yaml, *signal).unwrap_err();
        assert_eq!(&e.path, path, "{yaml}: {}", e.message);
        assert!(
            e.message.contains(message),
            "{yaml}: {:?} should say {message:?}",
            e.message
        );
    }
    // Nothing invalid reached the board.
    assert_eq!(board.limits(), BoardLimits::default());
}

fn evaluation(attributes: Vec<KeyValue>, trace: Option<u8>) -> LogRecord {
    LogRecord {
        event_name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes,
        trace_id: trace.map(|t| TraceId([t; 16])),
        span_id: trace.map(|_| SpanId([2; 8])),
        ..LogRecord::empty()
    }
}

#[test]
fn quality_records_become_joined_scores_posted_for_their_trace() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        let board = Arc::new(board());
        let Ok(Processor::Log(mut p)) = build(&board, "{}", Signal::Logs) else {
            panic!("not a log processor");
        };
        // Assembly has seen the LLM span of trace 5.
        board.remember(&llm(5, 6, "chatcmpl-5", "req-5"));
        let name = |n: &str| attr::string(keys::GEN_AI_EVALUATION_NAME, n);
        // A JSON string body, as the SDK's logging bridge sends the seed's logger: the
        // processor structures it itself.
        let quality = LogRecord {
            body: Some(attr::string_value(
                r#"{"event":"quality","request_id":"req-5","rating":1,"feedback":"bad"}"#,
            )),
            ..LogRecord::empty()
        };
        let plain = LogRecord {
            body: Some(attr::string_value("hello")),
            ..LogRecord::empty()
        };
        let batch = LogBatch {
            records: vec![
                evaluation(vec![name("by-context")], Some(1)),
                evaluation(
                    vec![
                        name("by-response"),
                        attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-5"),
                    ],
                    None,
                ),
                quality,
                evaluation(
                    vec![name("unjoined"), attr::string("request_id", "nobody")],
                    None,
                ),
                plain.clone(),
            ],
        };
        let out = p.process(batch);
        assert_eq!(out.records.len(), 5, "every record goes on");
        let got: Vec<_> = out
            .records
            .iter()
            .map(|r| {
                (
                    r.facts.kind,
                    r.facts
                        .score
                        .as_ref()
                        .map(|s| (s.name.as_str(), s.joined_by, s.trace_id)),
                )
            })
            .collect();
        let t = |b: u8| Some(TraceId([b; 16]));
        assert_eq!(
            got,
            [
                (
                    LogKind::Score,
                    Some(("by-context", ScoreJoin::TraceContext, t(1)))
                ),
                (
                    LogKind::Score,
                    Some(("by-response", ScoreJoin::ResponseId, t(5)))
                ),
                (
                    LogKind::Score,
                    Some(("user_feedback", ScoreJoin::RequestId, t(5)))
                ),
                (
                    LogKind::Score,
                    Some(("unjoined", ScoreJoin::Unresolved, None))
                ),
                (LogKind::Other, None),
            ]
        );
        assert_eq!(out.records[4], plain);
        // A quality record names the rated call in the canonical attributes, for the logs
        // table's id columns; one that already has them keeps its own.
        assert_eq!(
            attr::get_str(&out.records[2].attributes, keys::TRACEGATE_REQUEST_ID),
            Some("req-5")
        );
        assert_eq!(
            attr::get_str(&out.records[1].attributes, keys::GEN_AI_RESPONSE_ID),
            Some("chatcmpl-5")
        );
        let ids = |r: &LogRecord| {
            r.attributes
                .iter()
                .filter(|kv| kv.key == keys::GEN_AI_RESPONSE_ID)
                .count()
        };
        assert_eq!(ids(&out.records[1]), 1);
        // The joined ones wait for their traces.
        assert_eq!(board.stats().pending_scores, 3);
        let mut five = trace(vec![llm(5, 6, "chatcmpl-5", "req-5")]);
        board.attach(&mut five);
        let names: Vec<_> = five.scores.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["by-response", "user_feedback"]);
    });
    let count = |source, joined_by| {
        captured.counter(
            names::SCORES,
            &[("source", source), ("joined_by", joined_by)],
        )
    };
    assert_eq!(count("log", "trace_context"), 1);
    assert_eq!(count("log", "response_id"), 1);
    assert_eq!(count("log", "request_id"), 1);
    assert_eq!(count("log", "unresolved"), 1);
    assert_eq!(
        captured.counter(names::JOIN_MISSES, &[("reason", "not_found")]),
        1
    );
    assert_eq!(captured.gauge(names::INDEX_ENTRIES, &[]), 2.0);
    assert_eq!(captured.gauge(names::PENDING_SCORES, &[]), 1.0);
}

#[test]
fn llm_logs_with_trace_context_are_remembered_and_dropped_pending_scores_counted() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        let board = Arc::new(ScoreBoard::new(BoardLimits {
            max_pending: 0,
            ..BoardLimits::default()
        }));
        let mut p = crate::ScoresProcessor::new(board.clone());
        let mut call = LogRecord {
            attributes: vec![attr::string(keys::TRACEGATE_REQUEST_ID, "req-l")],
            trace_id: Some(TraceId([3; 16])),
            span_id: Some(SpanId([4; 8])),
            ..LogRecord::empty()
        };
        call.facts.kind = LogKind::LlmCall;
        use tracegate_pipeline::LogProcessor;
        let out = p.process(LogBatch {
            records: vec![call],
        });
        assert_eq!(out.records[0].facts.kind, LogKind::LlmCall);
        let out = p.process(LogBatch {
            records: vec![evaluation(vec![attr::string("request_id", "req-l")], None)],
        });
        let score = out.records[0].facts.score.as_ref().unwrap();
        assert_eq!(
            (score.joined_by, score.span_id),
            (ScoreJoin::RequestId, Some(SpanId([4; 8])))
        );
        assert_eq!(board.stats().pending_full, 1, "no room: counted");
    });
    assert_eq!(
        captured.counter(names::PENDING_DROPPED, &[("reason", "full")]),
        1
    );
}
