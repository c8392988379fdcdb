use super::*;
use tracegate_model::{Fragment, ReleaseReason, SpanBatch, attr, keys};
use tracegate_testkit::{Generator, GeneratorConfig};

fn build(yaml: &str) -> Result<Processor, ConfigError> {
    let value: Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::new("", e.to_string()))?;
    LatencyBreakdownFactory.build(
        &ComponentId::parse("latency_breakdown").map_err(|e| ConfigError::new("", e))?,
        value,
        &BuildContext {
            instance: "t".into(),
        },
    )
}

#[test]
fn the_yaml_fixture_parses_into_the_expected_config() {
    let text = include_str!("../../testdata/config.yaml");
    let value: Value = serde_yaml_ng::from_str(text).unwrap();
    let config: LatencyBreakdownConfig =
        parse_section("processors.latency_breakdown", value).unwrap();
    assert_eq!(
        config,
        LatencyBreakdownConfig {
            clock_skew_adjustment: false
        }
    );
}

#[test]
fn an_empty_section_gives_the_defaults_and_unknown_keys_are_errors() {
    let config: LatencyBreakdownConfig =
        parse_section("processors.latency_breakdown", Value::Null).unwrap();
    assert!(config.clock_skew_adjustment);
    assert!(matches!(build("{}"), Ok(Processor::Trace(_))));
    let err = build("{ clock_skew: false }").unwrap_err();
    assert_eq!(err.path, "processors.latency_breakdown.clock_skew");
    assert!(
        err.message.contains("unknown field `clock_skew`"),
        "{}",
        err.message
    );
    let err = build("{ clock_skew_adjustment: maybe }").unwrap_err();
    assert_eq!(
        err.path,
        "processors.latency_breakdown.clock_skew_adjustment"
    );
}

fn traces(n: usize) -> Vec<Trace> {
    let SpanBatch { spans } = Generator::new(GeneratorConfig::default()).batch_with_traces(n);
    let mut by_id: std::collections::BTreeMap<_, Vec<_>> = Default::default();
    for s in spans {
        by_id.entry(s.trace_id).or_default().push(s);
    }
    by_id
        .into_iter()
        .map(|(trace_id, spans)| Trace {
            trace_id,
            spans,
            release_reason: ReleaseReason::Complete,
            tree_whole: true,
            fragment: None,
            critical_path: None,
        })
        .collect()
}

#[test]
fn annotates_every_span_and_the_path_covers_each_root() {
    let mut p = LatencyBreakdownProcessor::new(&LatencyBreakdownConfig::default());
    let out = p.process(traces(50));
    assert_eq!(out.len(), 50);
    let mut with_llm = 0;
    for t in &out {
        let mut path = 0;
        for s in &t.spans {
            assert!(attr::get_str(&s.attributes, keys::TRACEGATE_CATEGORY).is_some());
            let self_ns = attr::get_i64(&s.attributes, keys::TRACEGATE_SELF_TIME_NS).unwrap();
            assert!(self_ns >= 0 && self_ns as u64 <= s.duration_ns());
            path += attr::get_i64(&s.attributes, keys::TRACEGATE_CRITICAL_PATH_NS).unwrap();
        }
        assert_eq!(path as u64, t.root().unwrap().duration_ns());
        // The trace's summary comes from the same analysis.
        let summary = t
            .critical_path
            .as_deref()
            .expect("a whole trace gets a summary");
        assert_eq!(summary.duration_ns, t.root().unwrap().duration_ns());
        assert_eq!(summary.by_category.iter().sum::<u64>(), summary.duration_ns);
        assert_eq!(
            *summary,
            tracegate_model::CriticalPathSummary::from(crate::summarize(t))
        );
        assert!(!summary.top.is_empty() && summary.top.len() <= 3);
        assert!(summary.top.windows(2).all(|w| w[0].ns >= w[1].ns));
        let llm = t
            .spans
            .iter()
            .find(|s| attr::get_str(&s.attributes, keys::TRACEGATE_CATEGORY) == Some("llm"));
        with_llm += usize::from(llm.is_some());
    }
    // Most generated traces call an LLM (a failed retrieval may end one early).
    assert!(with_llm >= 40, "{with_llm} of 50 traces have an llm span");
    // A second run replaces, never duplicates, the attributes.
    let before: Vec<usize> = out
        .iter()
        .flat_map(|t| t.spans.iter().map(|s| s.attributes.len()))
        .collect();
    let again = p.process(out);
    let after: Vec<usize> = again
        .iter()
        .flat_map(|t| t.spans.iter().map(|s| s.attributes.len()))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn fragments_get_only_span_level_facts() {
    let mut p = LatencyBreakdownProcessor::new(&LatencyBreakdownConfig::default());
    // A summary left from an earlier run does not survive on a fragment.
    let mut t = p.process(traces(1));
    assert!(t[0].critical_path.is_some());
    t[0].fragment = Some(Fragment::Late);
    let out = p.process(t);
    assert_eq!(out[0].critical_path, None);
    for s in &out[0].spans {
        assert!(attr::get_str(&s.attributes, keys::TRACEGATE_CATEGORY).is_some());
        assert!(attr::get(&s.attributes, keys::TRACEGATE_CRITICAL_PATH_NS).is_none());
    }
}
