//! Prometheus renderings of a [`snapshot`](crate::snapshot): the scrape endpoint picks a
//! [`Format`] from the scraper's `Accept` header with [`negotiate`], and writes
//! [`render`]'s bytes with [`content_type`].
//!
//! - [`text`]: Prometheus text 0.0.4: `# HELP`/`# TYPE`, counters as `name_total`,
//!   histograms as cumulative `_bucket{le=…}` lines up to `+Inf`, `_sum`, `_count`.
//! - [`openmetrics`]: OpenMetrics 1.0 text: the same data, with `# UNIT` where the name
//!   ends in the unit, exemplars on bucket lines (`# {trace_id="…",span_id="…"} value
//!   timestamp`) and `# EOF`.
//! - [`protobuf`]: delimited `io.prometheus.client.MetricFamily` messages; exponential
//!   histograms as native histograms (schema, zero bucket, spans and deltas), explicit ones
//!   as classic buckets with exemplars.
//! - [`names`]: OpenTelemetry names and keys made valid for Prometheus (`.` → `_`).
//!
//! Exponential histograms in the two text formats become classic buckets at their bucket
//! boundaries (`classic`), since neither text format has native histograms.
//!
//! Families with the same Prometheus name (two `span_metrics` processors, say) are merged
//! into one before rendering: every format needs a family's lines together, under one
//! `# TYPE`. A family whose kind disagrees with the first of its name is left out (and
//! logged), since Prometheus would refuse the whole scrape.

mod classic;
pub mod names;
mod numbers;
pub mod openmetrics;
pub mod protobuf;
pub mod text;

#[cfg(test)]
mod tests;

use crate::snapshot::{Exemplar, Family, Kind, Series, Value};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A scrape format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0 text, with exemplars.
    OpenMetrics,
    /// Prometheus protobuf (delimited `MetricFamily`), with native histograms.
    Protobuf,
}

/// The format a scraper's `Accept` header asks for, as Prometheus's Go client negotiates:
/// the acceptable media ranges in order of their `q` (ties keep the header's order), the
/// first one this renderer speaks wins. Protobuf only when asked for by its full name
/// (`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`,
/// which Prometheus sends when native histograms are on); OpenMetrics for
/// `application/openmetrics-text` (versions 0.0.1 and 1.0.0); text for `text/plain`
/// (version 0.0.4) and for anything else, `*/*` and no header included.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut choices: Vec<(f64, usize, Format)> = Vec::new();
    for (position, range) in accept.split(',').enumerate().take(64) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let (mut q, mut version, mut proto, mut encoding) = (1.0f64, None, None, None);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.parse().unwrap_or(0.0),
                "version" => version = Some(value),
                "proto" => proto = Some(value),
                "encoding" => encoding = Some(value),
                _ => {}
            }
        }
        let format = match media.as_str() {
            "application/vnd.google.protobuf"
                if proto == Some("io.prometheus.client.MetricFamily")
                    && encoding == Some("delimited") =>
            {
                Format::Protobuf
            }
            "text/plain" if version.is_none_or(|v| v == "0.0.4") => Format::Text,
            "application/openmetrics-text"
                if version.is_none_or(|v| v == "0.0.1" || v == "1.0.0") =>
            {
                Format::OpenMetrics
            }
            _ => continue,
        };
        if q > 0.0 && q.is_finite() {
            choices.push((q, position, format));
        }
    }
    choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    choices.first().map_or(Format::Text, |c| c.2)
}

/// The `Content-Type` of `format`.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::Protobuf => {
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        }
    }
}

/// Renders `families` in `format`.
pub fn render(format: Format, families: &[Family]) -> Vec<u8> {
    let groups = group(families);
    match format {
        Format::Text => text::render(&groups).into_bytes(),
        Format::OpenMetrics => openmetrics::render(&groups).into_bytes(),
        Format::Protobuf => protobuf::render(&groups),
    }
}

/// The series of every family of one Prometheus name, under the first family's metadata.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    /// The first family of this name: help, unit, kind.
    pub family: &'a Family,
    /// The sanitised Prometheus name (without `_total` for counters).
    pub name: Cow<'a, str>,
    /// Every series, in the order given.
    pub series: Vec<&'a Series>,
}

fn same_shape(a: Kind, b: Kind) -> bool {
    let histogram = |k| matches!(k, Kind::Histogram | Kind::Exponential);
    a == b || (histogram(a) && histogram(b))
}

/// Groups families by sanitised Prometheus name, in order of first appearance.
pub(crate) fn group(families: &[Family]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for family in families {
        let mut name = names::metric_name(family.prom_name);
        if family.kind == Kind::Counter
            && let Some(stripped) = name.strip_suffix("_total")
            && !stripped.is_empty()
        {
            name = Cow::Owned(stripped.to_owned());
        }
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) if same_shape(g.family.kind, family.kind) => {
                g.series.extend(family.series.iter())
            }
            Some(g) => tracing::warn!(
                metric = %name,
                kind = ?family.kind,
                first_kind = ?g.family.kind,
                "two metric families share a Prometheus name with different kinds; leaving the later one out of the scrape"
            ),
            None => groups.push(Group {
                family,
                name,
                series: family.series.iter().collect(),
            }),
        }
    }
    groups
}

/// Appends the classic samples of every histogram series of `group` (`_bucket` with its
/// cumulative `le`, `_sum`, `_count`), as both text formats write them: floats by
/// `write_float`, and each bucket's exemplar by `write_exemplar` when the format has them.
pub(crate) fn histogram_samples(
    out: &mut String,
    group: &Group<'_>,
    write_float: fn(&mut String, f64),
    write_exemplar: Option<fn(&mut String, &Exemplar)>,
) {
    let bucket = format!("{}_bucket", group.name);
    let sum_name = format!("{}_sum", group.name);
    let count_name = format!("{}_count", group.name);
    let mut le = String::new();
    for series in &group.series {
        let (buckets, sum, count) = match &series.value {
            Value::Histogram(h) => (classic::explicit(h), h.sum, h.count),
            Value::Exponential(h) => (classic::exponential(h), h.sum, h.count),
            _ => continue,
        };
        let labels = names::labels(&series.labels);
        for b in &buckets {
            le.clear();
            write_float(&mut le, b.le);
            out.push_str(&bucket);
            write_labels(out, &labels, Some(("le", &le)));
            out.push(' ');
            let _ = write!(out, "{}", b.cumulative);
            if let (Some(write), Some(exemplar)) = (write_exemplar, &b.exemplar) {
                write(out, exemplar);
            }
            out.push('\n');
        }
        out.push_str(&sum_name);
        write_labels(out, &labels, None);
        out.push(' ');
        write_float(out, sum);
        out.push('\n');
        out.push_str(&count_name);
        write_labels(out, &labels, None);
        out.push(' ');
        let _ = write!(out, "{count}");
        out.push('\n');
    }
}

/// Appends `{k="v",…}` (with an extra trailing pair such as `le`), or nothing when there
/// are no labels at all.
pub(crate) fn write_labels(
    out: &mut String,
    labels: &[(Cow<'_, str>, Cow<'_, str>)],
    extra: Option<(&str, &str)>,
) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let pairs = labels
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .chain(extra);
    for (key, value) in pairs {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        names::escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}
