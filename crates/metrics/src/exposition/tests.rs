//! Tests of the renderings: hand-written golden expositions of one small snapshot in the
//! two text formats, the protobuf decoded back, native histogram spans and deltas worked by
//! hand, negotiation of the headers Prometheus sends, and family merging.

use super::protobuf::{BucketSpan, MetricFamily, MetricType};
use super::*;
use crate::snapshot::{Exemplar, ExponentialHistogram, Histogram, Series, Value};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;

const TRACE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const SPAN: [u8; 8] = [0xaa; 8];

fn series(labels: &[(&str, &str)], value: Value) -> Series {
    Series {
        labels: labels
            .iter()
            .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
            .collect(),
        start_time_unix_nano: 1_600_000_000_000_000_000,
        last_update_unix_nano: 1_700_000_000_000_000_000,
        value,
    }
}

fn exemplar(value: f64, time_unix_nano: u64) -> Exemplar {
    Exemplar {
        value,
        time_unix_nano,
        trace_id: TRACE,
        span_id: SPAN,
    }
}

fn family(
    prom_name: &'static str,
    kind: Kind,
    unit: &'static str,
    help: &'static str,
    series: Vec<Series>,
) -> Family {
    Family {
        otel_name: prom_name,
        prom_name,
        help,
        unit,
        kind,
        series,
    }
}

/// A counter (with a label value to escape and a dotted key), a gauge with odd help, an
/// explicit histogram with exemplars, an exponential histogram, and an empty family.
fn snapshot() -> Vec<Family> {
    vec![
        family(
            "traces_spanmetrics_calls",
            Kind::Counter,
            "{call}",
            "Spans seen.",
            vec![
                series(
                    &[("service", "api"), ("span.name", "GET \"/x\"\n\\")],
                    Value::Counter(3.0),
                ),
                series(
                    &[("service", "db"), ("span.name", "q")],
                    Value::Counter(1e6),
                ),
            ],
        ),
        family(
            "tracegate_queue",
            Kind::Gauge,
            "1",
            "Depth \"now\"\\",
            vec![series(&[], Value::Gauge(2.5))],
        ),
        family(
            "gen_ai_client_operation_duration_seconds",
            Kind::Histogram,
            "s",
            "GenAI operation duration.",
            vec![series(
                &[("gen_ai.request.model", "m")],
                Value::Histogram(Histogram {
                    bounds: Arc::from(vec![0.01, 0.1]),
                    counts: vec![1, 0, 2],
                    sum: 0.305,
                    count: 3,
                    min: Some(0.005),
                    max: Some(0.15),
                    exemplars: vec![
                        Some(exemplar(0.005, 1_700_000_000_250_000_000)),
                        None,
                        Some(exemplar(0.15, 1_700_000_001_000_000_000)),
                    ],
                }),
            )],
        ),
        family(
            "traces_spanmetrics_latency",
            Kind::Exponential,
            "s",
            "Span latency.",
            vec![series(
                &[("service", "api")],
                Value::Exponential(ExponentialHistogram {
                    scale: 0,
                    zero_count: 0,
                    zero_threshold: 0.0,
                    positive_offset: -1,
                    positive_counts: vec![1, 2],
                    negative_offset: 0,
                    negative_counts: vec![],
                    sum: 3.5,
                    count: 3,
                    min: Some(0.75),
                    max: Some(1.5),
                    exemplars: vec![exemplar(1.5, 1_700_000_002_000_000_000)],
                }),
            )],
        ),
        family(
            "tracegate_nothing",
            Kind::Counter,
            "1",
            "No series.",
            vec![],
        ),
    ]
}

#[test]
fn text_golden() {
    let got = String::from_utf8(render(Format::Text, &snapshot())).unwrap();
    let want = r#"# HELP traces_spanmetrics_calls_total Spans seen.
# TYPE traces_spanmetrics_calls_total counter
traces_spanmetrics_calls_total{service="api",span_name="GET \"/x\"\n\\"} 3
traces_spanmetrics_calls_total{service="db",span_name="q"} 1e+06
# HELP tracegate_queue Depth "now"\\
# TYPE tracegate_queue gauge
tracegate_queue 2.5
# HELP gen_ai_client_operation_duration_seconds GenAI operation duration.
# TYPE gen_ai_client_operation_duration_seconds histogram
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="0.01"} 1
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="0.1"} 1
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="+Inf"} 3
gen_ai_client_operation_duration_seconds_sum{gen_ai_request_model="m"} 0.305
gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="m"} 3
# HELP traces_spanmetrics_latency Span latency.
# TYPE traces_spanmetrics_latency histogram
traces_spanmetrics_latency_bucket{service="api",le="0"} 0
traces_spanmetrics_latency_bucket{service="api",le="1"} 1
traces_spanmetrics_latency_bucket{service="api",le="2"} 3
traces_spanmetrics_latency_bucket{service="api",le="+Inf"} 3
traces_spanmetrics_latency_sum{service="api"} 3.5
traces_spanmetrics_latency_count{service="api"} 3
"#;
    assert_eq!(got, want);
}

#[test]
fn openmetrics_golden() {
    let got = String::from_utf8(render(Format::OpenMetrics, &snapshot())).unwrap();
    let want = r#"# HELP traces_spanmetrics_calls Spans seen.
# TYPE traces_spanmetrics_calls counter
traces_spanmetrics_calls_total{service="api",span_name="GET \"/x\"\n\\"} 3.0
traces_spanmetrics_calls_total{service="db",span_name="q"} 1e+06
# HELP tracegate_queue Depth \"now\"\\
# TYPE tracegate_queue gauge
tracegate_queue 2.5
# HELP gen_ai_client_operation_duration_seconds GenAI operation duration.
# TYPE gen_ai_client_operation_duration_seconds histogram
# UNIT gen_ai_client_operation_duration_seconds seconds
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="0.01"} 1 # {trace_id="0102030405060708090a0b0c0d0e0f10",span_id="aaaaaaaaaaaaaaaa"} 0.005 1700000000.25
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="0.1"} 1
gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="m",le="+Inf"} 3 # {trace_id="0102030405060708090a0b0c0d0e0f10",span_id="aaaaaaaaaaaaaaaa"} 0.15 1700000001
gen_ai_client_operation_duration_seconds_sum{gen_ai_request_model="m"} 0.305
gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="m"} 3
# HELP traces_spanmetrics_latency Span latency.
# TYPE traces_spanmetrics_latency histogram
traces_spanmetrics_latency_bucket{service="api",le="0.0"} 0
traces_spanmetrics_latency_bucket{service="api",le="1.0"} 1
traces_spanmetrics_latency_bucket{service="api",le="2.0"} 3 # {trace_id="0102030405060708090a0b0c0d0e0f10",span_id="aaaaaaaaaaaaaaaa"} 1.5 1700000002
traces_spanmetrics_latency_bucket{service="api",le="+Inf"} 3
traces_spanmetrics_latency_sum{service="api"} 3.5
traces_spanmetrics_latency_count{service="api"} 3
# EOF
"#;
    assert_eq!(got, want);
}

#[test]
fn empty_snapshot_renders() {
    assert!(render(Format::Text, &[]).is_empty());
    assert_eq!(render(Format::OpenMetrics, &[]), b"# EOF\n");
    assert!(render(Format::Protobuf, &[]).is_empty());
}

fn decode_all(mut bytes: &[u8]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(MetricFamily::decode_length_delimited(&mut bytes).unwrap());
    }
    out
}

fn labels_of(m: &protobuf::Metric) -> BTreeMap<String, String> {
    m.label
        .iter()
        .map(|l| {
            (
                l.name.clone().unwrap_or_default(),
                l.value.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn protobuf_round_trip() {
    let families = decode_all(&render(Format::Protobuf, &snapshot()));
    let names: Vec<_> = families.iter().map(|f| f.name.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "traces_spanmetrics_calls_total",
            "tracegate_queue",
            "gen_ai_client_operation_duration_seconds",
            "traces_spanmetrics_latency"
        ]
    );
    let types: Vec<_> = families.iter().map(|f| f.r#type.unwrap()).collect();
    assert_eq!(
        types,
        [
            MetricType::Counter as i32,
            MetricType::Gauge as i32,
            MetricType::Histogram as i32,
            MetricType::Histogram as i32
        ]
    );

    let calls = &families[0];
    assert_eq!(calls.help.as_deref(), Some("Spans seen."));
    assert_eq!(calls.metric.len(), 2);
    assert_eq!(labels_of(&calls.metric[0])["span_name"], "GET \"/x\"\n\\");
    assert_eq!(calls.metric[1].counter.as_ref().unwrap().value, Some(1e6));
    assert_eq!(
        families[1].metric[0].gauge.as_ref().unwrap().value,
        Some(2.5)
    );

    assert_eq!(families[2].unit.as_deref(), Some("seconds"));
    assert_eq!(
        families[3].unit, None,
        "the name does not end with the unit"
    );
    let classic = families[2].metric[0].histogram.as_ref().unwrap();
    assert_eq!(classic.sample_count, Some(3));
    assert_eq!(classic.sample_sum, Some(0.305));
    assert_eq!(classic.schema, None, "explicit histograms stay classic");
    let buckets: Vec<(f64, u64, Option<f64>)> = classic
        .bucket
        .iter()
        .map(|b| {
            (
                b.upper_bound.unwrap(),
                b.cumulative_count.unwrap(),
                b.exemplar.as_ref().and_then(|e| e.value),
            )
        })
        .collect();
    // +Inf is written only because it carries an exemplar.
    assert_eq!(
        buckets,
        vec![
            (0.01, 1, Some(0.005)),
            (0.1, 1, None),
            (f64::INFINITY, 3, Some(0.15))
        ]
    );
    let e = classic.bucket[0].exemplar.as_ref().unwrap();
    let e_labels: BTreeMap<_, _> = e
        .label
        .iter()
        .map(|l| (l.name.clone().unwrap(), l.value.clone().unwrap()))
        .collect();
    assert_eq!(e_labels["trace_id"], "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(e_labels["span_id"], "aaaaaaaaaaaaaaaa");
    let ts = e.timestamp.as_ref().unwrap();
    assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 250_000_000));

    let native = families[3].metric[0].histogram.as_ref().unwrap();
    assert_eq!(native.schema, Some(0));
    assert!(native.bucket.is_empty());
    // OTel buckets -1 and 0 are Prometheus buckets 0 and 1: one span of two.
    assert_eq!(native.positive_span, vec![span(0, 2)]);
    assert_eq!(native.positive_delta, vec![1, 1]);
    assert_eq!(native.exemplars.len(), 1);
    assert_eq!(native.sample_count, Some(3));
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

fn expo(scale: i32, positive: (i32, Vec<u64>), negative: (i32, Vec<u64>)) -> ExponentialHistogram {
    let count = positive.1.iter().chain(&negative.1).sum();
    ExponentialHistogram {
        scale,
        zero_count: 0,
        zero_threshold: 0.0,
        positive_offset: positive.0,
        positive_counts: positive.1,
        negative_offset: negative.0,
        negative_counts: negative.1,
        sum: 0.0,
        count,
        min: None,
        max: None,
        exemplars: vec![],
    }
}

#[test]
fn native_spans_and_deltas_golden() {
    // Positive: OTel indices 3 (2), 7 (5), 8 (1) → Prometheus 4, 8, 9. The gap of three
    // empty buckets starts a new span: {4,1}, {3,2}; deltas 2, +3, -4.
    // Negative: OTel -2 (1), 0 (3) → -1, 1; a gap of one stays inside: {-1,3}; 1, -1, +3.
    let h = expo(1, (3, vec![2, 0, 0, 0, 5, 1]), (-2, vec![1, 0, 3]));
    let n = protobuf::native(&h).unwrap();
    assert_eq!(n.schema, Some(1));
    assert_eq!(n.positive_span, vec![span(4, 1), span(3, 2)]);
    assert_eq!(n.positive_delta, vec![2, 3, -4]);
    assert_eq!(n.negative_span, vec![span(-1, 3)]);
    assert_eq!(n.negative_delta, vec![1, -1, 3]);
}

#[test]
fn native_scale_above_eight_is_merged_down() {
    // Scale 10 → schema 8 merges 4 buckets into 1: OTel 5..=8 → (i >> 2) + 1 = 2, 2, 2, 3.
    // Negative OTel -3, -2 → -1, -1 → 0.
    let h = expo(10, (5, vec![1, 1, 1, 1]), (-3, vec![1, 1]));
    let n = protobuf::native(&h).unwrap();
    assert_eq!(n.schema, Some(8));
    assert_eq!(n.positive_span, vec![span(2, 2)]);
    assert_eq!(n.positive_delta, vec![3, -2]);
    assert_eq!(n.negative_span, vec![span(0, 1)]);
    assert_eq!(n.negative_delta, vec![2]);
}

#[test]
fn native_empty_and_too_coarse() {
    let empty = protobuf::native(&expo(3, (0, vec![]), (0, vec![]))).unwrap();
    assert_eq!(
        empty.positive_span,
        vec![span(0, 0)],
        "the no-op span marks a native histogram"
    );
    assert!(empty.positive_delta.is_empty());
    assert!(protobuf::native(&expo(-5, (0, vec![1]), (0, vec![]))).is_none());
}

/// Expands spans + deltas back to (Prometheus index, count) of the non-empty buckets.
fn expand(spans: &[BucketSpan], deltas: &[i64]) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let (mut index, mut count, mut d) = (0i64, 0i64, deltas.iter());
    for (n, s) in spans.iter().enumerate() {
        index += i64::from(s.offset.unwrap_or(0)) + if n == 0 { 0 } else { 1 };
        for k in 0..s.length.unwrap_or(0) {
            if k > 0 {
                index += 1;
            }
            count += d.next().unwrap();
            if count != 0 {
                out.push((index, u64::try_from(count).unwrap()));
            }
        }
    }
    assert!(d.next().is_none(), "deltas left over");
    out
}

proptest::proptest! {
    #[test]
    fn native_buckets_decode_to_the_merged_counts(
        scale in -4i32..=12,
        offset in -50i32..50,
        counts in proptest::collection::vec(proptest::prop_oneof![3 => proptest::strategy::Just(0u64), 2 => 1u64..1000], 0..40),
    ) {
        let h = expo(scale, (offset, counts.clone()), (offset, counts.clone()));
        let n = protobuf::native(&h).unwrap();
        let reduce = (scale - 8).max(0);
        let mut want: BTreeMap<i64, u64> = BTreeMap::new();
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                *want.entry(((i64::from(offset) + i as i64) >> reduce) + 1).or_default() += c;
            }
        }
        let want: Vec<(i64, u64)> = want.into_iter().collect();
        let got = expand(&n.positive_span, &n.positive_delta);
        if want.is_empty() {
            proptest::prop_assert_eq!(n.positive_span.clone(), vec![span(0, 0)]);
        } else {
            proptest::prop_assert_eq!(&got, &want);
        }
        proptest::prop_assert_eq!(expand(&n.negative_span, &n.negative_delta), want);
        proptest::prop_assert_eq!(n.schema, Some(scale.min(8)));
    }
}

#[test]
fn negotiation() {
    let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
    let default = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(negotiate(Some(native)), Format::Protobuf);
    // What Prometheus 2.42 with `--enable-feature=native-histograms` sent in a trial scrape.
    let native_242 = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(negotiate(Some(native_242)), Format::Protobuf);
    assert_eq!(negotiate(Some(default)), Format::OpenMetrics);
    assert_eq!(negotiate(Some("*/*")), Format::Text);
    assert_eq!(negotiate(None), Format::Text);
    assert_eq!(negotiate(Some("")), Format::Text);
    // q-values decide, not the order.
    assert_eq!(
        negotiate(Some(
            "text/plain;version=0.0.4;q=0.5, application/openmetrics-text; version=1.0.0; q=0.9"
        )),
        Format::OpenMetrics
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text;q=0,text/plain")),
        Format::Text
    );
    // Protobuf only by its full name.
    assert_eq!(
        negotiate(Some("application/vnd.google.protobuf")),
        Format::Text
    );
    assert_eq!(
        negotiate(Some(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
        )),
        Format::Text
    );
    // An unknown text version is not text 0.0.4; an unknown OpenMetrics one is skipped.
    assert_eq!(
        negotiate(Some(
            "application/openmetrics-text;version=2.0.0,text/plain;q=0.1"
        )),
        Format::Text
    );
    assert_eq!(
        negotiate(Some("text/html,application/openmetrics-text;q=0.2")),
        Format::OpenMetrics
    );
    // Ties keep the header's order.
    assert_eq!(
        negotiate(Some("text/plain,application/openmetrics-text")),
        Format::Text
    );
    assert_eq!(
        content_type(Format::Text),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        content_type(Format::OpenMetrics)
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    assert!(
        content_type(Format::Protobuf)
            .contains("proto=io.prometheus.client.MetricFamily; encoding=delimited")
    );
}

#[test]
fn families_of_one_name_are_merged_and_conflicts_left_out() {
    let a = family(
        "x_requests",
        Kind::Counter,
        "1",
        "A.",
        vec![series(&[("k", "1")], Value::Counter(1.0))],
    );
    let b = family(
        "x_requests_total",
        Kind::Counter,
        "1",
        "B.",
        vec![series(&[("k", "2")], Value::Counter(2.0))],
    );
    let c = family(
        "x_requests",
        Kind::Gauge,
        "1",
        "C.",
        vec![series(&[("k", "3")], Value::Gauge(3.0))],
    );
    let got = String::from_utf8(render(Format::Text, &[a, b, c])).unwrap();
    assert_eq!(
        got,
        "# HELP x_requests_total A.\n# TYPE x_requests_total counter\nx_requests_total{k=\"1\"} 1\nx_requests_total{k=\"2\"} 2\n"
    );
}

#[test]
fn dotted_names_are_sanitised() {
    let f = family(
        "gen_ai.client.token.usage",
        Kind::Gauge,
        "{token}",
        "T.",
        vec![series(
            &[("gen_ai.token.type", "input"), ("9x", "y")],
            Value::Gauge(4.0),
        )],
    );
    let got = String::from_utf8(render(Format::Text, &[f])).unwrap();
    assert!(
        got.contains("gen_ai_client_token_usage{gen_ai_token_type=\"input\",key_9x=\"y\"} 4\n"),
        "{got}"
    );
}
