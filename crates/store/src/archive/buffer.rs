//! One open partition's buffers (rows of the `spans` and `traces` tables not yet cut into
//! files, with the payloads they hold rows of), and the tally of rows placed outside their
//! start's hour.

use super::durable::Units;
use super::placement::Placement;
use crate::encoder::SpanEncoder;
use crate::layout::HourPartition;
use crate::trace_encoder::TraceEncoder;
use tokio::time::Instant;
use tracegate_pipeline::telemetry;

#[derive(Debug)]
pub(super) struct Buffer {
    pub(super) partition: HourPartition,
    pub(super) encoder: SpanEncoder,
    /// The payloads `encoder` holds rows of.
    pub(super) span_units: Units,
    /// Rows of the `traces` table whose trace starts in `partition`.
    pub(super) traces: TraceEncoder,
    /// The payloads `traces` holds rows of.
    pub(super) trace_units: Units,
    /// When its first row arrived.
    pub(super) since: Instant,
}

impl Buffer {
    pub(super) fn estimated_bytes(&self) -> usize {
        self.encoder.estimated_bytes() + self.traces.estimated_bytes()
    }
}

/// Spans placed outside their start's hour in one payload, by reason.
#[derive(Debug, Default)]
pub(super) struct Clamped {
    too_old: usize,
    too_new: usize,
}

impl Clamped {
    pub(super) fn add(&mut self, placement: Placement) {
        match placement {
            Placement::AsStarted => {}
            Placement::TooOld => self.too_old += 1,
            Placement::TooNew => self.too_new += 1,
        }
    }

    pub(super) fn record(&self, exporter: &str) {
        for (placement, n) in [
            (Placement::TooOld, self.too_old),
            (Placement::TooNew, self.too_new),
        ] {
            if let (Some(reason), true) = (placement.reason(), n > 0) {
                telemetry::archive_clamped_spans(exporter, reason, n);
            }
        }
    }
}
