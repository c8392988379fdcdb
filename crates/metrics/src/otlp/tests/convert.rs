use super::*;
use crate::otlp::config::{OtlpMetricsConfig, Temporality};
use crate::otlp::convert::{DELTA_OVERFLOW_TOTAL, DeltaState, to_request_at};
use crate::otlp::split::{request_points, split};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, number_data_point,
};
use tracegate_testkit::metrics::CapturedMetrics;

const T0: u64 = 1_000_000_000_000;
const T1: u64 = 2_000_000_000_000;
const T2: u64 = 3_000_000_000_000;
const T3: u64 = 4_000_000_000_000;

fn metrics_of(request: &ExportMetricsServiceRequest) -> &[Metric] {
    assert_eq!(request.resource_metrics.len(), 1);
    let rm = &request.resource_metrics[0];
    assert_eq!(rm.scope_metrics.len(), 1);
    assert_eq!(
        rm.scope_metrics[0].scope.as_ref().unwrap().name,
        "tracegate"
    );
    &rm.scope_metrics[0].metrics
}

fn labels(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => (kv.key.clone(), s.clone()),
                other => panic!("{other:?}"),
            },
        )
        .collect()
}

fn sum_points(m: &Metric) -> (&[NumberDataPoint], i32, bool) {
    match &m.data {
        Some(Data::Sum(s)) => (&s.data_points, s.aggregation_temporality, s.is_monotonic),
        other => panic!("not a sum: {other:?}"),
    }
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        other => panic!("{other:?}"),
    }
}

fn histogram_points(m: &Metric) -> (&[HistogramDataPoint], i32) {
    match &m.data {
        Some(Data::Histogram(h)) => (&h.data_points, h.aggregation_temporality),
        other => panic!("not a histogram: {other:?}"),
    }
}

fn exponential_points(m: &Metric) -> &[ExponentialHistogramDataPoint] {
    match &m.data {
        Some(Data::ExponentialHistogram(h)) => &h.data_points,
        other => panic!("not an exponential histogram: {other:?}"),
    }
}

fn first_snapshot() -> Vec<Family> {
    vec![
        family(
            "traces.spanmetrics.calls",
            Kind::Counter,
            "{call}",
            vec![
                series(&[("service", "a")], T0, Value::Counter(5.0)),
                series(&[("service", "b")], T0, Value::Counter(2.0)),
                series(&[("service", "gone")], T0, Value::Counter(1.0)),
            ],
        ),
        family(
            "tracegate.queue",
            Kind::Gauge,
            "1",
            vec![series(&[], T0, Value::Gauge(4.0))],
        ),
        family(
            "gen_ai.client.operation.duration",
            Kind::Histogram,
            "s",
            vec![series(
                &[("gen_ai.request.model", "m")],
                T0,
                histogram(vec![1, 2, 0], 1.5, Some(T0 + 5)),
            )],
        ),
        family(
            "traces.spanmetrics.latency",
            Kind::Exponential,
            "s",
            vec![series(
                &[("service", "a")],
                T0,
                exponential(1, 0, vec![1, 1, 1, 1], 1),
            )],
        ),
        family("tracegate.empty", Kind::Counter, "1", vec![]),
    ]
}

/// A push later: `a` +3, `b` recreated at T2 with 1, `gone` gone, `new` appeared; the
/// histogram gained 1 and 1 in its first two buckets; the exponential histogram fell to
/// scale 0 and gained (1, 3) in its two buckets and 1 in the zero bucket.
fn second_snapshot() -> Vec<Family> {
    vec![
        family(
            "traces.spanmetrics.calls",
            Kind::Counter,
            "{call}",
            vec![
                series(&[("service", "a")], T0, Value::Counter(8.0)),
                series(&[("service", "b")], T2, Value::Counter(1.0)),
                series(&[("service", "new")], T2, Value::Counter(4.0)),
            ],
        ),
        family(
            "tracegate.queue",
            Kind::Gauge,
            "1",
            vec![series(&[], T0, Value::Gauge(1.0))],
        ),
        family(
            "gen_ai.client.operation.duration",
            Kind::Histogram,
            "s",
            vec![series(
                &[("gen_ai.request.model", "m")],
                T0,
                histogram(vec![2, 3, 0], 2.0, Some(T2)),
            )],
        ),
        family(
            "traces.spanmetrics.latency",
            Kind::Exponential,
            "s",
            vec![series(
                &[("service", "a")],
                T0,
                exponential(0, 0, vec![3, 5], 2),
            )],
        ),
    ]
}

#[test]
fn cumulative_request_golden() {
    let resource = OtlpMetricsConfig::default().resource();
    let mut state = DeltaState::new();
    let request = to_request_at(
        &first_snapshot(),
        Temporality::Cumulative,
        &mut state,
        &resource,
        T1,
    );
    assert!(state.is_empty(), "cumulative export keeps no state");
    assert_eq!(
        request.resource_metrics[0].resource.as_ref(),
        Some(&resource)
    );
    let metrics = metrics_of(&request);
    let names: Vec<_> = metrics
        .iter()
        .map(|m| (m.name.as_str(), m.unit.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("traces.spanmetrics.calls", "{call}"),
            ("tracegate.queue", "1"),
            ("gen_ai.client.operation.duration", "s"),
            ("traces.spanmetrics.latency", "s")
        ],
        "the empty family is left out"
    );
    assert_eq!(metrics[0].description, "Help.");

    let (points, temporality, monotonic) = sum_points(&metrics[0]);
    assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
    assert!(monotonic);
    let got: Vec<_> = points
        .iter()
        .map(|p| {
            (
                labels(&p.attributes),
                p.start_time_unix_nano,
                p.time_unix_nano,
                value(p),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (vec![("service".to_owned(), "a".to_owned())], T0, T1, 5.0),
            (vec![("service".to_owned(), "b".to_owned())], T0, T1, 2.0),
            (vec![("service".to_owned(), "gone".to_owned())], T0, T1, 1.0),
        ]
    );

    match &metrics[1].data {
        Some(Data::Gauge(g)) => assert_eq!(value(&g.data_points[0]), 4.0),
        other => panic!("{other:?}"),
    }

    let (points, temporality) = histogram_points(&metrics[2]);
    assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
    let p = &points[0];
    assert_eq!(
        labels(&p.attributes),
        vec![("gen_ai.request.model".to_owned(), "m".to_owned())]
    );
    assert_eq!(
        (p.count, p.sum, p.min, p.max),
        (3, Some(1.5), Some(0.05), Some(2.0))
    );
    assert_eq!(p.bucket_counts, vec![1, 2, 0]);
    assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
    assert_eq!(p.exemplars.len(), 1);
    assert_eq!(p.exemplars[0].trace_id, TRACE.to_vec());
    assert_eq!(p.exemplars[0].span_id, SPAN.to_vec());
    assert_eq!(p.exemplars[0].time_unix_nano, T0 + 5);

    let e = &exponential_points(&metrics[3])[0];
    assert_eq!(
        (e.scale, e.zero_count, e.count, e.start_time_unix_nano),
        (1, 1, 5, T0)
    );
    assert_eq!(
        e.positive
            .as_ref()
            .map(|b| (b.offset, b.bucket_counts.clone())),
        Some((0, vec![1, 1, 1, 1]))
    );
}

#[test]
fn delta_over_two_snapshots() {
    let resource = OtlpMetricsConfig::default().resource();
    let mut state = DeltaState::new();
    let first = to_request_at(
        &first_snapshot(),
        Temporality::Delta,
        &mut state,
        &resource,
        T1,
    );
    // First export: everything is new, so whole values from each series' start.
    let (points, temporality, _) = sum_points(&metrics_of(&first)[0]);
    assert_eq!(temporality, AggregationTemporality::Delta as i32);
    let got: Vec<_> = points
        .iter()
        .map(|p| (p.start_time_unix_nano, value(p)))
        .collect();
    assert_eq!(got, vec![(T0, 5.0), (T0, 2.0), (T0, 1.0)]);
    assert_eq!(
        state.len(),
        5,
        "three counters, one histogram, one exponential"
    );

    let second = to_request_at(
        &second_snapshot(),
        Temporality::Delta,
        &mut state,
        &resource,
        T3,
    );
    let metrics = metrics_of(&second);
    let (points, _, _) = sum_points(&metrics[0]);
    let got: Vec<_> = points
        .iter()
        .map(|p| {
            (
                labels(&p.attributes)[0].1.clone(),
                p.start_time_unix_nano,
                p.time_unix_nano,
                value(p),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_owned(), T1, T3, 3.0), // the difference, since the last export
            ("b".to_owned(), T2, T3, 1.0), // recreated: from zero, since its new start
            ("new".to_owned(), T2, T3, 4.0), // new: whole
        ]
    );
    assert_eq!(state.len(), 5, "`gone` was dropped, `new` added");

    // Gauges are never deltas.
    match &metrics[1].data {
        Some(Data::Gauge(g)) => assert_eq!(value(&g.data_points[0]), 1.0),
        other => panic!("{other:?}"),
    }

    let (points, temporality) = histogram_points(&metrics[2]);
    assert_eq!(temporality, AggregationTemporality::Delta as i32);
    let p = &points[0];
    assert_eq!(p.start_time_unix_nano, T1);
    assert_eq!(p.bucket_counts, vec![1, 1, 0]);
    assert_eq!(p.count, 2);
    assert_eq!(p.sum, Some(0.5));
    assert_eq!(
        (p.min, p.max),
        (None, None),
        "min and max of the interval are unknown"
    );
    assert_eq!(
        p.exemplars.len(),
        1,
        "the exemplar newer than the last export"
    );
    assert_eq!(p.exemplars[0].time_unix_nano, T2);

    // Scale 1 → 0: the previous (1,1,1,1) at offset 0 merges to (2,2); now (3,5): delta (1,3).
    let e = &exponential_points(&metrics[3])[0];
    assert_eq!(e.scale, 0);
    assert_eq!(e.start_time_unix_nano, T1);
    assert_eq!(
        e.positive
            .as_ref()
            .map(|b| (b.offset, b.bucket_counts.clone())),
        Some((0, vec![1, 3]))
    );
    assert_eq!((e.zero_count, e.count), (1, 5));

    // A third export of the same snapshot: all zero.
    let third = to_request_at(
        &second_snapshot(),
        Temporality::Delta,
        &mut state,
        &resource,
        T3 + 1,
    );
    let (points, _, _) = sum_points(&metrics_of(&third)[0]);
    assert!(
        points
            .iter()
            .all(|p| value(p) == 0.0 && p.start_time_unix_nano == T3)
    );
}

#[test]
fn counter_that_went_down_is_a_reset() {
    let resource = OtlpMetricsConfig::default().resource();
    let mut state = DeltaState::new();
    let snap = |v| {
        vec![family(
            "c",
            Kind::Counter,
            "1",
            vec![series(&[], T0, Value::Counter(v))],
        )]
    };
    to_request_at(&snap(10.0), Temporality::Delta, &mut state, &resource, T1);
    let request = to_request_at(&snap(3.0), Temporality::Delta, &mut state, &resource, T2);
    let (points, _, _) = sum_points(&metrics_of(&request)[0]);
    assert_eq!(
        (points[0].start_time_unix_nano, value(&points[0])),
        (T1, 3.0)
    );
}

#[test]
fn delta_state_is_bounded() {
    let captured = CapturedMetrics::new();
    let resource = OtlpMetricsConfig::default().resource();
    let mut state = DeltaState::with_max_series(2);
    let snap = vec![family(
        "c",
        Kind::Counter,
        "1",
        (0..3)
            .map(|i| series(&[("i", &i.to_string())], T0, Value::Counter(1.0)))
            .collect(),
    )];
    let request =
        captured.run(|| to_request_at(&snap, Temporality::Delta, &mut state, &resource, T1));
    assert_eq!(request_points(&request), 2);
    assert_eq!(state.len(), 2);
    assert_eq!(captured.counter(DELTA_OVERFLOW_TOTAL, &[]), 1);
}

#[test]
fn split_bounds_points_per_request() {
    let resource = OtlpMetricsConfig::default().resource();
    let request = to_request_at(
        &first_snapshot(),
        Temporality::Cumulative,
        &mut DeltaState::new(),
        &resource,
        T1,
    );
    assert_eq!(request_points(&request), 6);
    let parts = split(request.clone(), 2);
    let sizes: Vec<_> = parts.iter().map(request_points).collect();
    assert_eq!(sizes, vec![2, 2, 2]);
    // Metric order and metadata survive; the counter's three points span two requests.
    let names: Vec<Vec<&str>> = parts
        .iter()
        .map(|r| metrics_of(r).iter().map(|m| m.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        vec![
            vec!["traces.spanmetrics.calls"],
            vec!["traces.spanmetrics.calls", "tracegate.queue"],
            vec![
                "gen_ai.client.operation.duration",
                "traces.spanmetrics.latency"
            ],
        ]
    );
    assert!(
        parts
            .iter()
            .all(|r| r.resource_metrics[0].resource.as_ref() == Some(&resource))
    );
    assert_eq!(split(request.clone(), 100), vec![request]);
    assert!(split(ExportMetricsServiceRequest::default(), 10).is_empty());
}

proptest::proptest! {
    #[test]
    fn delta_sums_add_up_to_the_cumulative(increments in proptest::collection::vec(0u32..100, 1..20)) {
        // Whatever the increments, the deltas of successive exports add up to the last
        // cumulative value.
        let resource = OtlpMetricsConfig::default().resource();
        let mut state = DeltaState::new();
        let (mut cumulative, mut total) = (0.0, 0.0);
        for (i, inc) in increments.iter().enumerate() {
            cumulative += f64::from(*inc);
            let snap = vec![family("c", Kind::Counter, "1", vec![series(&[], T0, Value::Counter(cumulative))])];
            let request = to_request_at(&snap, Temporality::Delta, &mut state, &resource, T1 + i as u64);
            let (points, _, _) = sum_points(&metrics_of(&request)[0]);
            total += value(&points[0]);
        }
        proptest::prop_assert_eq!(total, cumulative);
    }
}

proptest::proptest! {
    #[test]
    fn split_keeps_every_point_within_the_bound(
        sizes in proptest::collection::vec(0usize..12, 0..8),
        max in 1usize..10,
    ) {
        let families: Vec<Family> = sizes
            .iter()
            .map(|&n| family("c", Kind::Counter, "1", (0..n).map(|i| series(&[("i", &i.to_string())], T0, Value::Counter(i as f64))).collect()))
            .collect();
        let resource = OtlpMetricsConfig::default().resource();
        let request = to_request_at(&families, Temporality::Cumulative, &mut DeltaState::new(), &resource, T1);
        let total = request_points(&request);
        let parts = split(request, max);
        proptest::prop_assert!(parts.iter().all(|r| (1..=max).contains(&request_points(r))));
        proptest::prop_assert_eq!(parts.iter().map(request_points).sum::<usize>(), total);
        // Points keep their order across the parts.
        let values: Vec<f64> = parts.iter().flat_map(|r| metrics_of(r).iter().flat_map(|m| sum_points(m).0.iter().map(value)).collect::<Vec<_>>()).collect();
        let want: Vec<f64> = sizes.iter().flat_map(|&n| (0..n).map(|i| i as f64)).collect();
        proptest::prop_assert_eq!(values, want);
    }
}
