//! Random traces against a model computed directly from the spans.

use super::*;
use crate::snapshot::MetricSource;
use crate::span_metrics::{SpanMetrics, SpanMetricsConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;
use tracegate_model::attr;

const SERVICES: [&str; 3] = ["a", "b", "c"];
const NAMES: [&str; 4] = ["GET", "POST /x", "chat", "query"];
const KINDS: [SpanKind; 6] = [
    SpanKind::Unspecified,
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];
const MODELS: [&str; 2] = ["m1", "m2"];

#[derive(Debug, Clone)]
struct Gen {
    service: usize,
    name: usize,
    kind: usize,
    status: i32,
    duration_ns: u64,
    /// (model, input tokens, output tokens)
    gen_ai: Option<(usize, i64, i64)>,
}

fn gen_span() -> impl Strategy<Value = Gen> {
    (
        0..SERVICES.len(),
        0..NAMES.len(),
        0..KINDS.len(),
        -1..6i32,
        prop_oneof![
            0u64..20_000_000,
            0u64..20_000_000_000,
            Just(10_000_000u64),
            Just(2_000_000_000)
        ],
        proptest::option::of((0..MODELS.len(), 0i64..100_000, 0i64..5000)),
    )
        .prop_map(|(service, name, kind, status, duration_ns, gen_ai)| Gen {
            service,
            name,
            kind,
            status,
            duration_ns,
            gen_ai,
        })
}

fn build(spans: &[Gen]) -> Vec<Trace> {
    let resources: Vec<Arc<Resource>> = SERVICES.iter().map(|s| resource(s)).collect();
    spans
        .chunks(4)
        .enumerate()
        .map(|(t, chunk)| {
            let spans = chunk
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let mut attrs = vec![];
                    if let Some((m, input, output)) = g.gen_ai {
                        attrs.push(attr::string("gen_ai.operation.name", "chat"));
                        attrs.push(attr::string("gen_ai.request.model", MODELS[m]));
                        attrs.push(attr::int("gen_ai.usage.input_tokens", input));
                        attrs.push(attr::int("gen_ai.usage.output_tokens", output));
                    }
                    let parent = (i > 0).then_some(i as u8);
                    let mut s = span(
                        t as u8,
                        i as u8 + 1,
                        parent,
                        &resources[g.service],
                        NAMES[g.name],
                        KINDS[g.kind],
                        0,
                        0,
                        attrs,
                    );
                    s.end_time_unix_nano = g.duration_ns;
                    s.status.code = g.status;
                    s
                })
                .collect();
            trace(spans)
        })
        .collect()
}

fn labels_of(s: &Series) -> Vec<String> {
    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn red_and_tokens_match_the_spans(spans in proptest::collection::vec(gen_span(), 0..80), limit in 1usize..20) {
        let config = SpanMetricsConfig { max_series_per_metric: limit, ..Default::default() };
        let bounds = config.histogram.bounds_seconds();
        let m = SpanMetrics::new(&config);
        let traces = build(&spans);
        // In two calls: series persist across calls.
        let half = traces.len() / 2;
        m.observe(&traces[..half], 1);
        m.observe(&traces[half..], 2);
        let f = m.collect(3);

        // The model: durations per RED label set, tokens per (model, type).
        let mut red: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
        let mut tokens: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
        for t in &traces {
            for s in &t.spans {
                let key = vec![
                    format!("service={}", s.service_name()),
                    format!("span_name={}", s.name),
                    format!("span_kind={}", crate::span_metrics::red::kind_name(s.kind)),
                    format!("status_code={}", crate::span_metrics::red::status_name(s.status.code)),
                ];
                red.entry(key).or_default().push(s.duration_ns() as f64 / 1e9);
                for (ty, k) in [("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens")] {
                    if let Some(n) = attr::get_i64(&s.attributes, k) {
                        let key = vec![
                            "gen_ai.operation.name=chat".to_owned(),
                            format!("gen_ai.request.model={}", attr::get_str(&s.attributes, "gen_ai.request.model").unwrap()),
                            format!("gen_ai.token.type={ty}"),
                        ];
                        tokens.entry(key).or_default().push(n as f64);
                    }
                }
            }
        }

        let calls = family(&f, "traces_spanmetrics_calls");
        let latency = family(&f, "traces_spanmetrics_latency");
        prop_assert!(calls.series.len() <= limit + 1);
        prop_assert_eq!(calls.series.iter().map(counter).sum::<f64>(), spans.len() as f64);
        let mut overflow_count = 0u64;
        let mut seen = 0usize;
        for (c, l) in calls.series.iter().zip(&latency.series) {
            prop_assert_eq!(&c.labels, &l.labels);
            let h = hist(l);
            prop_assert_eq!(counter(c), h.count as f64);
            let key = labels_of(c);
            if key == ["otel.metric.overflow=true"] {
                overflow_count = h.count;
                continue;
            }
            seen += 1;
            let values = &red[&key];
            prop_assert_eq!(h.count as usize, values.len());
            let sum: f64 = values.iter().sum();
            prop_assert!((h.sum - sum).abs() <= 1e-9 * sum.max(1.0));
            for (i, n) in h.counts.iter().enumerate() {
                let lo = if i == 0 { f64::NEG_INFINITY } else { bounds[i - 1] };
                let hi = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let expected = values.iter().filter(|v| **v > lo && **v <= hi).count();
                prop_assert_eq!(*n as usize, expected, "bucket {} of {:?}", i, key);
            }
        }
        // Series are capped at the limit; only then does anything overflow.
        prop_assert_eq!(seen, red.len().min(limit));
        prop_assert_eq!(overflow_count > 0, red.len() > limit);

        let usage = family(&f, "gen_ai_client_token_usage");
        let total: f64 = tokens.values().flatten().sum();
        prop_assert!((usage.series.iter().map(|s| hist(s).sum).sum::<f64>() - total).abs() < 1e-6);
        for s in &usage.series {
            let key = labels_of(s);
            if key == ["otel.metric.overflow=true"] {
                continue;
            }
            let values = &tokens[&key];
            prop_assert_eq!(hist(s).count as usize, values.len());
            prop_assert_eq!(hist(s).sum, values.iter().sum::<f64>());
        }
    }
}
