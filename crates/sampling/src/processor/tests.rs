use super::*;
use crate::config::{LatencyConfig, PolicyType};
use tracegate_model::{Fragment, SpanBatch};
use tracegate_testkit::metrics::CapturedMetrics;
use tracegate_testkit::{Generator, GeneratorConfig};

const PATH: &str = "processors.tail_sampling";

fn build(yaml: &str) -> Result<Processor, ConfigError> {
    let value: Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::new("", e.to_string()))?;
    TailSamplingFactory.build(
        &ComponentId::parse("tail_sampling").map_err(|e| ConfigError::new("", e))?,
        value,
        &BuildContext::new("t"),
    )
}

fn error_of(yaml: &str) -> (String, String) {
    let e = build(yaml).unwrap_err();
    (e.path, e.message)
}

#[test]
fn the_yaml_fixture_parses_and_builds() {
    let text = include_str!("../../testdata/config.yaml");
    let value: Value = serde_yaml_ng::from_str(text).unwrap();
    let config: TailSamplingConfig = parse_section(PATH, value.clone()).unwrap();
    assert_eq!(config.decision_cache.late_window.get().as_secs(), 600);
    assert_eq!(config.decision_cache.max_bytes.get(), 8 << 20);
    assert_eq!(config.policies.len(), 25);
    let p = &config.policies[1];
    assert_eq!(
        (p.name.as_deref(), p.kind),
        (Some("test-policy-2"), PolicyType::Latency)
    );
    assert_eq!(
        p.latency,
        Some(LatencyConfig {
            threshold_ms: 5000,
            upper_threshold_ms: Some(10000)
        })
    );
    let composite = config.policies[13].composite.as_ref().unwrap();
    assert_eq!(composite.composite_sub_policy.len(), 3);
    assert_eq!(composite.rate_allocation[1].percent, 25.0);
    assert_eq!(
        config.policies[24].evaluation_score,
        Some(crate::config::EvaluationScoreConfig {
            name: Some("relevance".to_owned()),
            max_value: Some(0.3),
            labels: vec!["fail".to_owned(), "thumbs_down".to_owned()],
        })
    );
    let sampler = Sampler::new(&config, PATH).unwrap();
    assert_eq!(sampler.policy_names().count(), 25);
    assert!(matches!(build(text), Ok(Processor::Trace(_))));
}

#[test]
fn an_empty_section_builds_and_marks_nothing_sampled() {
    let mut p = match build("{}") {
        Ok(Processor::Trace(p)) => p,
        other => panic!("{other:?}"),
    };
    let out = p.process(traces(3));
    assert!(out.iter().all(|t| {
        t.sampling
            .as_ref()
            .is_some_and(|s| !s.sampled && &*s.policy == "none")
    }));
}

#[test]
fn config_errors_name_their_key_and_what_to_write() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ policies: [ { type: latency, latency: { threshold: 1 } } ] }",
            "processors.tail_sampling.policies[0].latency.threshold",
            "unknown field `threshold`",
        ),
        (
            "{ policies: [ { type: lateny } ] }",
            "processors.tail_sampling.policies[0].type",
            "unknown variant `lateny`",
        ),
        (
            "{ policies: [ { type: latency } ] }",
            "processors.tail_sampling.policies[0]",
            "latency: {",
        ),
        (
            "{ policies: [ { type: latency, latency: { threshold_ms: 5 }, probabilistic: { sampling_percentage: 1 } } ] }",
            "processors.tail_sampling.policies[0].probabilistic",
            "set `type: probabilistic`",
        ),
        (
            "{ policies: [ { type: probabilistic, probabilistic: { sampling_percentage: 200 } } ] }",
            "processors.tail_sampling.policies[0].probabilistic.sampling_percentage",
            "from 0 to 100",
        ),
        (
            "{ policies: [ { type: status_code, status_code: { status_codes: [FAILED] } } ] }",
            "processors.tail_sampling.policies[0].status_code.status_codes",
            "ERROR, OK or UNSET",
        ),
        (
            "{ policies: [ { type: always_sample }, { type: always_sample } ] }",
            "processors.tail_sampling.policies[1].name",
            "unique `name`",
        ),
        (
            "{ policies: [ { name: none, type: always_sample } ] }",
            "processors.tail_sampling.policies[0].name",
            "choose another name",
        ),
        (
            "{ policies: [ { type: string_attribute, string_attribute: { key: k, values: ['(' ], enabled_regex_matching: true } } ] }",
            "processors.tail_sampling.policies[0].string_attribute.values",
            "regular expression",
        ),
        (
            "{ policies: [ { type: llm_error, llm_error: { classes: [ratelimited] } } ] }",
            "processors.tail_sampling.policies[0].llm_error.classes",
            "rate_limited",
        ),
        (
            "{ policies: [ { type: and, and: { and_sub_policy: [ { type: drop, drop: { drop_sub_policy: [] } } ] } } ] }",
            "processors.tail_sampling.policies[0].and.and_sub_policy[0].type",
            "top level",
        ),
        (
            "{ policies: [ { name: c, type: composite, composite: { max_total_spans_per_second: 10, policy_order: [a], composite_sub_policy: [ { name: a, type: always_sample } ], rate_allocation: [ { policy: b, percent: 10 } ] } } ] }",
            "processors.tail_sampling.policies[0].composite.rate_allocation[0].policy",
            "write one of [a]",
        ),
        (
            "{ decision_wait: 10s }",
            "processors.tail_sampling.decision_wait",
            "trace_assembly",
        ),
        (
            "{ decision_cache: { sampled_cache_size: 100 } }",
            "processors.tail_sampling.decision_cache.sampled_cache_size",
            "max_bytes",
        ),
        (
            "{ decision_cache: { max_bytes: 100 } }",
            "processors.tail_sampling.decision_cache.max_bytes",
            "at least 4KiB",
        ),
        (
            "{ policies: [ { type: evaluation_score, evaluation_score: { name: relevance } } ] }",
            "processors.tail_sampling.policies[0].evaluation_score",
            "give `max_value`",
        ),
        (
            "{ policies: [ { type: evaluation_score, evaluation_score: { labels: [] } } ] }",
            "processors.tail_sampling.policies[0].evaluation_score",
            "`labels`",
        ),
        (
            "{ policies: [ { type: evaluation_score, evaluation_score: { max_value: .nan } } ] }",
            "processors.tail_sampling.policies[0].evaluation_score.max_value",
            "finite number",
        ),
        (
            "{ policies: [ { type: evaluation_score, evaluation_score: { labels: [' '] } } ] }",
            "processors.tail_sampling.policies[0].evaluation_score.labels",
            "must not be empty",
        ),
        (
            "{ policies: [ { type: evaluation_score, evaluation_score: { name: '', max_value: 1 } } ] }",
            "processors.tail_sampling.policies[0].evaluation_score.name",
            "must not be empty",
        ),
        (
            "{ policies: [ { type: evaluation_score } ] }",
            "processors.tail_sampling.policies[0]",
            "evaluation_score: {",
        ),
        (
            "{ policies: [ { type: first_per_slice, first_per_slice: { by: [colour] } } ] }",
            "processors.tail_sampling.policies[0].first_per_slice.by",
            "attribute:KEY",
        ),
    ];
    for (yaml, path, message) in cases {
        let (p, m) = error_of(yaml);
        assert_eq!(&p, path, "{yaml}: {m}");
        assert!(m.contains(message), "{yaml}: {m:?} should say {message:?}");
    }
}

fn traces(n: usize) -> Vec<Trace> {
    let SpanBatch { spans } = Generator::new(GeneratorConfig::default()).batch_with_traces(n);
    tracegate_testkit::whole_traces(spans)
}

#[test]
fn marks_every_trace_drops_none_and_records_its_metrics() {
    let yaml = "
policies:
  - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
";
    let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: TailSamplingConfig = parse_section(PATH, value).unwrap();
    let mut p = TailSamplingProcessor::new("tail_sampling/m", Sampler::new(&config, PATH).unwrap());
    let input = traces(200);
    let spans: usize = input.iter().map(|t| t.spans.len()).sum();
    let captured = CapturedMetrics::new();
    let out = captured.run(|| p.process_at(input, 0));
    assert_eq!(out.len(), 200, "marks, never drops");
    assert_eq!(out.iter().map(|t| t.spans.len()).sum::<usize>(), spans);
    let count = |policy: &str, sampled: bool| {
        out.iter()
            .filter(|t| {
                t.sampling
                    .as_ref()
                    .is_some_and(|s| &*s.policy == policy && s.sampled == sampled)
            })
            .count() as u64
    };
    let label = [("processor", "tail_sampling/m")];
    let decided = |policy, outcome| {
        captured.counter(
            "tracegate_sampling_decisions_total",
            &[label[0], ("policy", policy), ("outcome", outcome)],
        )
    };
    assert_eq!(decided("errors", "sampled"), count("errors", true));
    assert_eq!(decided("baseline", "sampled"), count("baseline", true));
    assert_eq!(decided("none", "not_sampled"), count("none", false));
    assert!(count("none", false) > 100);
    let dropped: Vec<&Trace> = out.iter().filter(|t| !t.is_sampled()).collect();
    assert_eq!(
        captured.counter("tracegate_sampling_not_sampled_traces_total", &label),
        dropped.len() as u64
    );
    assert_eq!(
        captured.counter("tracegate_sampling_not_sampled_spans_total", &label),
        dropped.iter().map(|t| t.spans.len() as u64).sum::<u64>()
    );
    assert_eq!(
        captured.gauge("tracegate_sampling_cache_bytes", &label),
        p.sampler().cache().bytes() as f64
    );
    assert_eq!(
        captured.gauge("tracegate_sampling_cache_entries", &label),
        200.0
    );

    // Late fragments of those traces follow them: cache hits.
    let late: Vec<Trace> = out
        .iter()
        .take(10)
        .map(|t| Trace {
            spans: t.spans[..1].to_vec(),
            fragment: Some(Fragment::Late),
            sampling: None,
            ..t.clone()
        })
        .collect();
    let again = captured.run(|| p.process_at(late, 1_000_000_000));
    for (frag, whole) in again.iter().zip(&out) {
        assert_eq!(frag.sampling, whole.sampling);
    }
    assert_eq!(
        captured.counter("tracegate_sampling_cache_hits_total", &label),
        10
    );
    assert_eq!(
        captured.counter("tracegate_sampling_cache_misses_total", &label),
        0
    );
}
