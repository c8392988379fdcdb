//! This crate's own telemetry, served with the gateway's on `:8888` (not with the data
//! metrics on `:8889`): what the processors and endpoints refused, dropped or failed.

use metrics::{Unit, describe_counter};

/// Describes every metric this crate records, for the HELP lines. Call once after the
/// recorder is installed.
pub fn describe() {
    describe_counter!(
        "tracegate_span_metrics_overflow_total",
        Unit::Count,
        "Observations span_metrics counted in a metric's overflow series (otel_metric_overflow=\"true\") because the metric held max_series_per_metric series, by metric."
    );
    describe_counter!(
        "tracegate_alerts_group_overflow_total",
        Unit::Count,
        "Samples of an alert rule's `by (...)` groups beyond max_groups, counted in its overflow group, by processor and alert."
    );
    describe_counter!(
        "tracegate_alerts_notifications_sent_total",
        Unit::Count,
        "Alert notifications delivered to an Alertmanager or webhook."
    );
    describe_counter!(
        "tracegate_alerts_notification_retries_total",
        Unit::Count,
        "Alert notification attempts that failed with a retryable error and were retried."
    );
    describe_counter!(
        "tracegate_alerts_notifications_failed_total",
        Unit::Count,
        "Alert notifications given up (a permanent error, or retry.max_elapsed passed)."
    );
    describe_counter!(
        crate::otlp::exporter::EXPORTS_TOTAL,
        Unit::Count,
        "OTLP metrics pushes, by outcome (success, retry, failure)."
    );
    describe_counter!(
        crate::otlp::exporter::REJECTED_POINTS_TOTAL,
        Unit::Count,
        "Data points the OTLP metrics backend rejected (partial success)."
    );
    describe_counter!(
        crate::otlp::convert::DELTA_OVERFLOW_TOTAL,
        Unit::Count,
        "Series left out of delta pushes because the delta state held its maximum."
    );
    describe_counter!(
        "tracegate_metrics_scrapes_refused_total",
        Unit::Count,
        "Scrapes of the data metrics endpoint refused with 429 (more than max_concurrent_scrapes at once)."
    );
}
