//! Prometheus renderings of a snapshot (stub: being written).

use crate::snapshot::Family;

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

/// The format a scraper's `Accept` header asks for.
pub fn negotiate(_accept: Option<&str>) -> Format {
    Format::Text
}

/// The `Content-Type` of `format`.
pub fn content_type(_format: Format) -> &'static str {
    "text/plain; version=0.0.4; charset=utf-8"
}

/// Renders `families` in `format`.
pub fn render(_format: Format, _families: &[Family]) -> Vec<u8> {
    Vec::new()
}
