use super::*;
use tracegate_model::{Fragment, SpanBatch, attr, keys};
use tracegate_testkit::{Generator, GeneratorConfig};

fn build(yaml: &str) -> Result<Processor, ConfigError> {
    let value: Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::new("", e.to_string()))?;
    LatencyBreakdownFactory.build(
        &ComponentId::parse("latency_breakdown").map_err(|e| ConfigError::new("", e))?,
        value,
        &BuildContext::new("t"),
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
    tracegate_testkit::whole_traces(spans)
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
            // As exported: the facts become `tracegate.*` attributes.
            let a = s.to_proto().attributes;
            assert!(attr::get_str(&a, keys::TRACEGATE_CATEGORY).is_some());
            let self_ns = attr::get_i64(&a, keys::TRACEGATE_SELF_TIME_NS).unwrap();
            assert!(self_ns >= 0 && self_ns as u64 <= s.duration_ns());
            path += attr::get_i64(&a, keys::TRACEGATE_CRITICAL_PATH_NS).unwrap();
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
            .find(|s| s.facts.category == Some(tracegate_model::Category::Llm));
        with_llm += usize::from(llm.is_some());
    }
    // Most generated traces call an LLM (a failed retrieval may end one early).
    assert!(with_llm >= 40, "{with_llm} of 50 traces have an llm span");
    // A second run, here on spans whose facts were already exported as attributes (as
    // when traces pass through two gateways), replaces them and never duplicates them.
    // (`tracegate.ttft_source`, once an attribute, is kept where it is, so compare sets.)
    let exported = |traces: &[Trace]| -> Vec<Vec<String>> {
        traces
            .iter()
            .flat_map(|t| {
                t.spans.iter().map(|s| {
                    let mut a: Vec<String> = s
                        .to_proto()
                        .attributes
                        .iter()
                        .map(|kv| format!("{kv:?}"))
                        .collect();
                    a.sort();
                    a
                })
            })
            .collect()
    };
    let before = exported(&out);
    let mut out = out;
    for s in out.iter_mut().flat_map(|t| t.spans.iter_mut()) {
        s.materialize_facts();
    }
    let again = p.process(out);
    assert_eq!(before, exported(&again));
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
        let a = s.to_proto().attributes;
        assert!(attr::get_str(&a, keys::TRACEGATE_CATEGORY).is_some());
        assert!(attr::get(&a, keys::TRACEGATE_CRITICAL_PATH_NS).is_none());
        assert!(attr::get(&a, keys::TRACEGATE_SELF_TIME_NS).is_none());
    }
}
