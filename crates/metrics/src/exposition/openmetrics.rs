//! OpenMetrics 1.0 text exposition.
//!
//! ```text
//! # HELP traces_spanmetrics_calls Spans seen.
//! # TYPE traces_spanmetrics_calls counter
//! traces_spanmetrics_calls_total{service="api"} 3.0
//! # HELP gen_ai_client_operation_duration_seconds GenAI operation duration.
//! # TYPE gen_ai_client_operation_duration_seconds histogram
//! # UNIT gen_ai_client_operation_duration_seconds seconds
//! gen_ai_client_operation_duration_seconds_bucket{le="0.01"} 1 # {trace_id="4bf9…",span_id="00f0…"} 0.005 1700000000.25
//! gen_ai_client_operation_duration_seconds_bucket{le="+Inf"} 1
//! gen_ai_client_operation_duration_seconds_sum 0.005
//! gen_ai_client_operation_duration_seconds_count 1
//! # EOF
//! ```
//!
//! Differences from the text format: a counter's family has no `_total` (its sample has);
//! floats always show a fraction (`3.0`); `# UNIT` is written when the family's name ends
//! with the unit's Prometheus word (OpenMetrics requires the name to carry the unit);
//! quotes in help are escaped; bucket lines carry their exemplar with its timestamp in
//! seconds; `# EOF` ends the exposition. `_created` lines are not written (Prometheus 2.42
//! would store them as separate series).

use super::{Group, histogram_samples, names, numbers, write_labels};
use crate::snapshot::{Exemplar, Kind, Value};
use std::borrow::Cow;

/// Renders the groups as OpenMetrics text, ending with `# EOF`.
pub(crate) fn render(groups: &[Group<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    for group in groups.iter().filter(|g| !g.series.is_empty()) {
        let name = group.name.as_ref();
        let kind = match group.family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram | Kind::Exponential => "histogram",
        };
        if !group.family.help.is_empty() {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            names::escape_help(&mut out, group.family.help, true);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
        if let Some(unit) = names::unit_in_name(name, group.family.unit) {
            out.push_str("# UNIT ");
            out.push_str(name);
            out.push(' ');
            out.push_str(&unit);
            out.push('\n');
        }
        match group.family.kind {
            Kind::Counter => {
                let total = format!("{name}_total");
                for series in &group.series {
                    let Value::Counter(v) = series.value else {
                        continue;
                    };
                    float_sample(&mut out, &total, &names::labels(&series.labels), v);
                }
            }
            Kind::Gauge => {
                for series in &group.series {
                    let Value::Gauge(v) = series.value else {
                        continue;
                    };
                    float_sample(&mut out, name, &names::labels(&series.labels), v);
                }
            }
            Kind::Histogram | Kind::Exponential => {
                histogram_samples(
                    &mut out,
                    group,
                    numbers::write_om_float,
                    Some(write_exemplar),
                );
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn float_sample(out: &mut String, name: &str, labels: &[(Cow<'_, str>, Cow<'_, str>)], v: f64) {
    out.push_str(name);
    write_labels(out, labels, None);
    out.push(' ');
    numbers::write_om_float(out, v);
    out.push('\n');
}

/// ` # {trace_id="<32 hex>",span_id="<16 hex>"} value timestamp`.
fn write_exemplar(out: &mut String, e: &Exemplar) {
    out.push_str(" # {trace_id=\"");
    out.push_str(&hex::encode(e.trace_id));
    out.push_str("\",span_id=\"");
    out.push_str(&hex::encode(e.span_id));
    out.push_str("\"} ");
    numbers::write_om_float(out, e.value);
    if e.time_unix_nano != 0 {
        out.push(' ');
        numbers::write_seconds(out, e.time_unix_nano);
    }
}
