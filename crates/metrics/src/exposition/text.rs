//! Prometheus text exposition 0.0.4.
//!
//! ```text
//! # HELP traces_spanmetrics_calls_total Spans seen.
//! # TYPE traces_spanmetrics_calls_total counter
//! traces_spanmetrics_calls_total{service="api"} 3
//! # HELP traces_spanmetrics_latency Span duration.
//! # TYPE traces_spanmetrics_latency histogram
//! traces_spanmetrics_latency_bucket{service="api",le="0.1"} 1
//! traces_spanmetrics_latency_bucket{service="api",le="+Inf"} 3
//! traces_spanmetrics_latency_sum{service="api"} 1.25
//! traces_spanmetrics_latency_count{service="api"} 3
//! ```
//!
//! A counter's family is named with `_total`, as the Go client names it, so `# TYPE`
//! matches its samples. Numbers are Go's shortest `%g` (`1e+06`). No timestamps: the
//! scraper stamps the samples. Families without series are left out, and so is an
//! empty `# HELP`.

use super::{Group, histogram_samples, names, numbers, write_labels};
use crate::snapshot::{Kind, Value};

/// Renders the groups as Prometheus text.
pub(crate) fn render(groups: &[Group<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    for group in groups.iter().filter(|g| !g.series.is_empty()) {
        match group.family.kind {
            Kind::Counter => {
                let name = format!("{}_total", group.name);
                header(&mut out, &name, group.family.help, "counter");
                for series in &group.series {
                    let Value::Counter(v) = series.value else {
                        continue;
                    };
                    let labels = names::labels(&series.labels);
                    sample(&mut out, &name, &labels, None, v);
                }
            }
            Kind::Gauge => {
                header(&mut out, &group.name, group.family.help, "gauge");
                for series in &group.series {
                    let Value::Gauge(v) = series.value else {
                        continue;
                    };
                    let labels = names::labels(&series.labels);
                    sample(&mut out, &group.name, &labels, None, v);
                }
            }
            Kind::Histogram | Kind::Exponential => {
                header(&mut out, &group.name, group.family.help, "histogram");
                histogram_samples(&mut out, group, numbers::write_go_float, None);
            }
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    if !help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        names::escape_help(out, help, false);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)],
    extra: Option<(&str, &str)>,
    v: f64,
) {
    out.push_str(name);
    write_labels(out, labels, extra);
    out.push(' ');
    numbers::write_go_float(out, v);
    out.push('\n');
}
