//! [`split`]: an export request cut into several of at most so many data points, since
//! receivers refuse messages over a few MiB (4 MiB by default in gRPC servers). Each piece
//! keeps its metric's name, unit and description, its resource and scope, and the order.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1 as otlp;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// Data points in `metric`.
pub fn point_count(metric: &otlp::Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Data points in `request`.
pub fn request_points(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(point_count)
        .sum()
}

fn chunks<T>(points: Vec<T>, max: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(points.len().div_ceil(max));
    let mut iter = points.into_iter().peekable();
    while iter.peek().is_some() {
        out.push(iter.by_ref().take(max).collect());
    }
    out
}

/// `metric` as several metrics of at most `max` points each (none when it has no points).
fn split_metric(metric: otlp::Metric, max: usize) -> Vec<otlp::Metric> {
    let otlp::Metric {
        name,
        description,
        unit,
        metadata,
        data,
    } = metric;
    let with = |data: Data| otlp::Metric {
        name: name.clone(),
        description: description.clone(),
        unit: unit.clone(),
        metadata: metadata.clone(),
        data: Some(data),
    };
    match data {
        Some(Data::Gauge(g)) => chunks(g.data_points, max)
            .into_iter()
            .map(|data_points| with(Data::Gauge(otlp::Gauge { data_points })))
            .collect(),
        Some(Data::Sum(s)) => chunks(s.data_points, max)
            .into_iter()
            .map(|data_points| {
                with(Data::Sum(otlp::Sum {
                    data_points,
                    aggregation_temporality: s.aggregation_temporality,
                    is_monotonic: s.is_monotonic,
                }))
            })
            .collect(),
        Some(Data::Histogram(h)) => chunks(h.data_points, max)
            .into_iter()
            .map(|data_points| {
                with(Data::Histogram(otlp::Histogram {
                    data_points,
                    aggregation_temporality: h.aggregation_temporality,
                }))
            })
            .collect(),
        Some(Data::ExponentialHistogram(h)) => chunks(h.data_points, max)
            .into_iter()
            .map(|data_points| {
                with(Data::ExponentialHistogram(otlp::ExponentialHistogram {
                    data_points,
                    aggregation_temporality: h.aggregation_temporality,
                }))
            })
            .collect(),
        Some(Data::Summary(s)) => chunks(s.data_points, max)
            .into_iter()
            .map(|data_points| with(Data::Summary(otlp::Summary { data_points })))
            .collect(),
        None => Vec::new(),
    }
}

/// Cuts `request` into requests of at most `max_points` data points each (at least one
/// point per request), keeping each metric's resource, scope and order. A request without
/// points gives none.
pub fn split(
    request: ExportMetricsServiceRequest,
    max_points: usize,
) -> Vec<ExportMetricsServiceRequest> {
    let max = max_points.max(1);
    let mut out: Vec<ExportMetricsServiceRequest> = Vec::new();
    let mut room = 0usize;
    // The (resource, scope) entry the current request's last metric went into.
    let mut last: Option<(usize, usize)> = None;
    for (r, resource_metrics) in request.resource_metrics.into_iter().enumerate() {
        let (resource, resource_url) = (resource_metrics.resource, resource_metrics.schema_url);
        for (s, scope_metrics) in resource_metrics.scope_metrics.into_iter().enumerate() {
            let (scope, scope_url) = (scope_metrics.scope, scope_metrics.schema_url);
            for metric in scope_metrics.metrics {
                for piece in split_metric(metric, max) {
                    let points = point_count(&piece);
                    if out.is_empty() || points > room {
                        out.push(ExportMetricsServiceRequest::default());
                        room = max;
                        last = None;
                    }
                    room -= points;
                    let Some(current) = out.last_mut() else {
                        continue;
                    };
                    if last.is_none_or(|(lr, _)| lr != r) {
                        current.resource_metrics.push(otlp::ResourceMetrics {
                            resource: resource.clone(),
                            scope_metrics: Vec::new(),
                            schema_url: resource_url.clone(),
                        });
                    }
                    let Some(rm) = current.resource_metrics.last_mut() else {
                        continue;
                    };
                    if last != Some((r, s)) {
                        rm.scope_metrics.push(otlp::ScopeMetrics {
                            scope: scope.clone(),
                            metrics: Vec::new(),
                            schema_url: scope_url.clone(),
                        });
                    }
                    last = Some((r, s));
                    if let Some(sm) = rm.scope_metrics.last_mut() {
                        sm.metrics.push(piece);
                    }
                }
            }
        }
    }
    out
}
