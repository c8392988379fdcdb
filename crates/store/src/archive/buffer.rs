//! One open partition's buffers (rows of the `spans`, `traces`, `logs` and `scores` tables
//! not yet cut into files, with the payloads they hold rows of), which of a payload's spans
//! go into them, and the tally of rows placed outside their start's hour.

use super::durable::Units;
use super::placement::Placement;
use crate::encoder::SpanEncoder;
use crate::layout::Partition;
use crate::log_encoder::LogEncoder;
use crate::score_encoder::ScoreEncoder;
use crate::trace_encoder::TraceEncoder;
use tokio::time::Instant;
use tracegate_model::Span;
use tracegate_pipeline::{Payload, telemetry};

#[derive(Debug)]
pub(super) struct Buffer {
    /// The (tenant, hour) its rows belong to: a file never mixes tenants.
    pub(super) partition: Partition,
    pub(super) encoder: SpanEncoder,
    /// The payloads `encoder` holds rows of.
    pub(super) span_units: Units,
    /// Rows of the `traces` table whose trace starts in `partition`.
    pub(super) traces: TraceEncoder,
    /// The payloads `traces` holds rows of.
    pub(super) trace_units: Units,
    /// Rows of the `logs` table whose record's time falls in `partition`.
    pub(super) logs: LogEncoder,
    /// The payloads `logs` holds rows of.
    pub(super) log_units: Units,
    /// Rows of the `scores` table whose score's time falls in `partition`.
    pub(super) scores: ScoreEncoder,
    /// The payloads `scores` holds rows of.
    pub(super) score_units: Units,
    /// When its first row arrived.
    pub(super) since: Instant,
}

impl Buffer {
    pub(super) fn estimated_bytes(&self) -> usize {
        self.encoder.estimated_bytes()
            + self.traces.estimated_bytes()
            + self.logs.estimated_bytes()
            + self.scores.estimated_bytes()
    }

    /// An empty buffer of `partition`, spans encoded with `encoder`, log records with `logs`.
    pub(super) fn new(partition: Partition, encoder: SpanEncoder, logs: LogEncoder) -> Self {
        Self {
            partition,
            encoder,
            span_units: Units::default(),
            traces: TraceEncoder::new(),
            trace_units: Units::default(),
            logs,
            log_units: Units::default(),
            scores: ScoreEncoder::new(),
            score_units: Units::default(),
            since: Instant::now(),
        }
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

/// The spans of `payload` that go to the `spans` table: with `sampled_only`, those of the
/// traces a sampler kept (and of traces no sampler saw); and how many were left out.
pub(super) fn spans_to_write(
    payload: &Payload,
    sampled_only: bool,
) -> (Box<dyn Iterator<Item = &Span> + '_>, usize) {
    match payload {
        Payload::Traces(traces) if sampled_only => {
            let unsampled = traces
                .iter()
                .filter(|t| !t.is_sampled())
                .map(|t| t.spans.len())
                .sum();
            let kept = traces
                .iter()
                .filter(|t| t.is_sampled())
                .flat_map(|t| t.spans.iter());
            (Box::new(kept), unsampled)
        }
        _ => (payload.spans(), 0),
    }
}
