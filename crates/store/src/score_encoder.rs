//! Scores → an Arrow [`RecordBatch`] of the `scores` table
//! ([`scores_schema`](tracegate_model::schema::scores_schema)), one row per evaluation or
//! feedback.
//!
//! The archive writes each score once, from where it first reaches it (see
//! [`ScoreEncoder::writes_from_trace`]): a score carried by a log record comes with the
//! record (the `logs` pipeline), a score a span carried comes with its released trace
//! ([`Trace::scores`](tracegate_model::Trace::scores)); the trace's copies of log-borne
//! scores are not written again.
//!
//! Rows are sorted at [`ScoreEncoder::finish`] by trace id (unjoined scores last), then
//! time, then arrival.

use crate::error::StoreError;
use crate::log_encoder::{
    RowKey, append_option, append_span_id, append_str, append_trace_id, nanos, sorted_rows,
};
use arrow_array::builder::{Float64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use std::sync::Arc;
use tracegate_model::schema;
use tracegate_model::{Score, ScoreSource};

/// Scores encoded as one Arrow batch, with the order that sorts them.
#[derive(Debug, Clone)]
pub struct EncodedScores {
    /// One row per score, in the order they were pushed.
    pub batch: RecordBatch,
    /// Row indices sorted by trace id (none last), then time, then push order.
    pub order: Vec<u32>,
}

/// Bytes counted per row for the fixed-width parts of all columns and their offsets.
const FIXED_ROW_BYTES: usize = 15 * 8 + 64;

/// Builds the columns of the `scores` table, one score at a time.
#[derive(Debug)]
pub struct ScoreEncoder {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    value: Float64Builder,
    label: StringBuilder,
    explanation: StringBuilder,
    error_type: StringBuilder,
    reviewer_id: StringBuilder,
    annotations: StringBuilder,
    response_id: StringBuilder,
    request_id: StringBuilder,
    joined_by: StringBuilder,
    source: StringBuilder,
    service_name: StringBuilder,
    keys: Vec<RowKey>,
    bytes: usize,
}

impl Default for ScoreEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ScoreEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self {
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            name: StringBuilder::new(),
            value: Float64Builder::new(),
            label: StringBuilder::new(),
            explanation: StringBuilder::new(),
            error_type: StringBuilder::new(),
            reviewer_id: StringBuilder::new(),
            annotations: StringBuilder::new(),
            response_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            joined_by: StringBuilder::new(),
            source: StringBuilder::new(),
            service_name: StringBuilder::new(),
            keys: Vec::new(),
            bytes: 0,
        }
    }

    /// Whether a score found in [`Trace::scores`](tracegate_model::Trace::scores) is written
    /// from the trace: those a span carried are; a log record's score is written with its
    /// record by the `logs` pipeline, never twice.
    pub fn writes_from_trace(score: &Score) -> bool {
        score.source != ScoreSource::Log
    }

    /// The time a score's row is placed and sorted by: when it was given, else `fallback`
    /// (its record's time, its trace's start).
    pub fn row_time(score: &Score, fallback: u64) -> u64 {
        if score.time_unix_nano != 0 {
            score.time_unix_nano
        } else {
            fallback
        }
    }

    /// Encodes `scores` into one batch, in the order given, with no fallback time.
    pub fn encode<'a>(
        scores: impl IntoIterator<Item = &'a Score>,
    ) -> Result<RecordBatch, StoreError> {
        let mut encoder = Self::new();
        for score in scores {
            encoder.push(score, 0);
        }
        Ok(encoder.finish()?.batch)
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no score was appended.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Approximate memory held by the builders, in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one score as a row, timed [`Self::row_time`]`(score, fallback_time)`.
    /// Returns the bytes the row added to [`Self::estimated_bytes`].
    pub fn push(&mut self, score: &Score, fallback_time: u64) -> usize {
        let row = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let time = Self::row_time(score, fallback_time);
        self.keys.push((
            score.trace_id.is_none(),
            score.trace_id.unwrap_or_default(),
            time,
            row,
        ));
        let mut bytes = FIXED_ROW_BYTES;
        bytes += append_trace_id(&mut self.trace_id, score.trace_id);
        bytes += append_span_id(&mut self.span_id, score.span_id);
        self.time.append_value(nanos(time));
        bytes += append_str(&mut self.name, &score.name);
        self.value
            .append_option(score.value.filter(|v| v.is_finite()));
        for (builder, value) in [
            (&mut self.label, &score.label),
            (&mut self.explanation, &score.explanation),
            (&mut self.error_type, &score.error_type),
            (&mut self.reviewer_id, &score.reviewer_id),
            (&mut self.annotations, &score.annotations),
            (&mut self.response_id, &score.response_id),
            (&mut self.request_id, &score.request_id),
        ] {
            bytes += append_option(builder, value.as_deref());
        }
        bytes += append_str(&mut self.joined_by, score.joined_by.as_str());
        bytes += append_str(&mut self.source, score.source.as_str());
        bytes += append_str(&mut self.service_name, &score.service_name);
        self.bytes += bytes;
        bytes
    }

    /// Finishes the columns into a batch of the `scores` schema, with its sort order.
    pub fn finish(mut self) -> Result<EncodedScores, StoreError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.label.finish()),
            Arc::new(self.explanation.finish()),
            Arc::new(self.error_type.finish()),
            Arc::new(self.reviewer_id.finish()),
            Arc::new(self.annotations.finish()),
            Arc::new(self.response_id.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.joined_by.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.service_name.finish()),
        ];
        let batch = RecordBatch::try_new(schema::scores_schema(), columns)
            .map_err(StoreError::arrow("assemble the scores batch"))?;
        Ok(EncodedScores {
            batch,
            order: sorted_rows(self.keys),
        })
    }
}

#[cfg(test)]
mod tests;
