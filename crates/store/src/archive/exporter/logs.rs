//! The archive's rows of the `logs` and `scores` tables: [`ArchiveExporter::push_logs`]
//! buffers a log payload (one logs row per record, one scores row per record that carries a
//! score), and [`ArchiveExporter::push_trace_scores`] the scores a released trace's spans
//! carried. Rows go to the partition of their time, with the same window as spans
//! (`placement.rs`), and count toward the same `flush_bytes`, `flush_age` and memory bound.
//!
//! A score is written once: a log record's score with the record, a span's (a span event, a
//! feedback span) with its trace; the trace's copies of log-borne scores
//! ([`ScoreSource::Log`](tracegate_model::ScoreSource::Log)) are skipped
//! ([`ScoreEncoder::writes_from_trace`]).
//!
//! With the write-ahead log, a log payload is one unit like a span payload: its records are
//! reported durable once its logs and scores files are uploaded. Log records carry no id the
//! archive could recognise after a restart, so records replayed after a crash between their
//! upload and the checkpoint may be archived twice (never lost); the same holds for scores
//! rows of replayed traces.

use super::super::buffer::Clamped;
use super::super::durable::Unit;
use super::ArchiveExporter;
use crate::log_encoder::LogEncoder;
use crate::score_encoder::ScoreEncoder;
use std::sync::Arc;
use tracegate_model::{LogBatch, Score, Trace};

impl ArchiveExporter {
    /// Buffers a logs row for every record of `batch`, and a scores row for each record's
    /// score, each in the partition of its time (or of `now`, outside the window).
    pub(super) fn push_logs(&mut self, batch: &LogBatch, now: u64, unit: Option<&Arc<Unit>>) {
        let mut clamped = Clamped::default();
        for record in &batch.records {
            let time = LogEncoder::row_time(record);
            let (partition, placement) = self.placement.place(time, now);
            clamped.add(placement);
            let index = self.buffer_for(partition);
            let buffer = &mut self.partitions[index];
            self.buffered += buffer.logs.push(record);
            buffer.log_units.note(unit);
            let full = buffer.estimated_bytes() >= self.flush_bytes;
            if full {
                self.cut(index);
            }
            if let Some(score) = record.facts.score.as_deref() {
                self.push_score(score, time, now, unit);
            }
        }
        clamped.record(&self.shared.name);
    }

    /// Buffers a scores row for each score of `trace` that a span carried (log-borne ones
    /// are written with their record).
    pub(super) fn push_trace_scores(&mut self, trace: &Trace, now: u64, unit: Option<&Arc<Unit>>) {
        if trace.scores.is_empty() {
            return;
        }
        let start = trace.start_time_unix_nano();
        for score in trace
            .scores
            .iter()
            .filter(|s| ScoreEncoder::writes_from_trace(s))
        {
            self.push_score(score, start, now, unit);
        }
    }

    /// Buffers one scores row, timed `fallback` when the score has no time of its own.
    fn push_score(&mut self, score: &Score, fallback: u64, now: u64, unit: Option<&Arc<Unit>>) {
        let (partition, _) = self
            .placement
            .place(ScoreEncoder::row_time(score, fallback), now);
        let index = self.buffer_for(partition);
        let buffer = &mut self.partitions[index];
        self.buffered += buffer.scores.push(score, fallback);
        buffer.score_units.note(unit);
        if buffer.estimated_bytes() >= self.flush_bytes {
            self.cut(index);
        }
    }
}
