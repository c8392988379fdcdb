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
//! reported durable once its logs and scores files are uploaded. After a restart, a
//! replayed record whose row (or score's row) recovery found archived, by its fingerprint,
//! is not written again ([`super::super::fingerprint`]); it is durable with its unit.

use super::super::buffer::Clamped;
use super::super::durable::Unit;
use super::super::fingerprint;
use super::{ArchiveExporter, done_tenant, trace_tenant};
use crate::layout::{LOGS_TABLE, SCORES_TABLE};
use crate::log_encoder::LogEncoder;
use crate::score_encoder::ScoreEncoder;
use std::sync::Arc;
use tracegate_model::{LogBatch, Score, Trace};
use tracegate_pipeline::durability::Release;
use tracegate_pipeline::telemetry;

/// Which rows of a replayed payload are archived already.
#[derive(Debug, Default)]
struct Archived {
    /// By record: its logs row.
    logs: Vec<bool>,
    /// By record (or by score of a trace): its scores row.
    scores: Vec<bool>,
}

impl Archived {
    fn log(&self, i: usize) -> bool {
        self.logs.get(i).copied().unwrap_or(false)
    }

    fn score(&self, i: usize) -> bool {
        self.scores.get(i).copied().unwrap_or(false)
    }
}

impl ArchiveExporter {
    /// Buffers a logs row for every record of `batch`, and a scores row for each record's
    /// score, each in the partition of its time (or of `now`, outside the window); rows
    /// archived before a restart are skipped.
    pub(super) fn push_logs(
        &mut self,
        batch: &LogBatch,
        now: u64,
        unit: Option<&Arc<Unit>>,
        release: Option<&Release>,
    ) {
        let archived = self.archived_logs(batch, release);
        let mut clamped = Clamped::default();
        for (i, record) in batch.records.iter().enumerate() {
            let time = LogEncoder::row_time(record);
            if let Some(score) = record.facts.score.as_deref()
                && !archived.score(i)
            {
                self.push_score(score, record.resource.tenant.as_ref(), time, now, unit);
            }
            if archived.log(i) {
                continue;
            }
            let (hour, placement) = self.placement.place(time, now);
            clamped.add(placement);
            let index = self.buffer_for(self.partition(record.resource.tenant.as_ref(), hour));
            let buffer = &mut self.partitions[index];
            self.buffered += buffer.logs.push(record);
            buffer.log_units.note(unit);
            if buffer.estimated_bytes() >= self.flush_bytes {
                self.cut(index);
            }
        }
        clamped.record(&self.shared.name);
    }

    /// The rows of `batch`'s replayed records that recovery found archived: each found row
    /// is taken once. Nothing when there was no restart, or nothing of it is replayed.
    fn archived_logs(&mut self, batch: &LogBatch, release: Option<&Release>) -> Archived {
        let multitenancy = self.multitenancy;
        let tenant_of =
            |i: usize| done_tenant(multitenancy, batch.records[i].resource.tenant.as_ref());
        let (Some(done), Some(release)) = (self.done.as_mut(), release) else {
            return Archived::default();
        };
        let replayed: Vec<usize> = (0..batch.records.len())
            .filter(|&i| release.is_replayed_origin(batch.records[i].origin))
            .collect();
        if replayed.is_empty() {
            return Archived::default();
        }
        let n = batch.records.len();
        let mut archived = Archived {
            logs: vec![false; n],
            scores: vec![false; n],
        };
        if done.has_rows(LOGS_TABLE) {
            let mut encoder = LogEncoder::new();
            for &i in &replayed {
                encoder.push(&batch.records[i]);
            }
            match encoder.finish().and_then(|e| fingerprint::rows(&e.batch)) {
                Ok(rows) => {
                    for (&i, row) in replayed.iter().zip(rows) {
                        archived.logs[i] = done.take_row(LOGS_TABLE, tenant_of(i), row);
                    }
                }
                Err(e) => {
                    tracing::warn!(exporter = %self.shared.name, error = %e, "archive: could not fingerprint replayed log records; they are archived again")
                }
            }
        }
        if done.has_rows(SCORES_TABLE) {
            let scored: Vec<(usize, &Score)> = replayed
                .iter()
                .filter_map(|&i| Some((i, batch.records[i].facts.score.as_deref()?)))
                .collect();
            let mut encoder = ScoreEncoder::new();
            for &(i, score) in &scored {
                encoder.push(score, LogEncoder::row_time(&batch.records[i]));
            }
            match encoder.finish().and_then(|e| fingerprint::rows(&e.batch)) {
                Ok(rows) => {
                    for (&(i, _), row) in scored.iter().zip(rows) {
                        archived.scores[i] = done.take_row(SCORES_TABLE, tenant_of(i), row);
                    }
                }
                Err(e) => {
                    tracing::warn!(exporter = %self.shared.name, error = %e, "archive: could not fingerprint replayed scores; they are archived again")
                }
            }
        }
        let skipped = archived.logs.iter().filter(|&&s| s).count();
        if skipped > 0 {
            telemetry::archive_replay_skipped(&self.shared.name, skipped);
        }
        archived
    }

    /// Buffers a scores row for each score of `trace` that a span carried (log-borne ones
    /// are written with their record), but those archived before a restart.
    pub(super) fn push_trace_scores(
        &mut self,
        trace: &Trace,
        now: u64,
        unit: Option<&Arc<Unit>>,
        release: Option<&Release>,
    ) {
        if trace.scores.is_empty() {
            return;
        }
        let start = trace.start_time_unix_nano();
        let scores: Vec<&Score> = trace
            .scores
            .iter()
            .filter(|s| ScoreEncoder::writes_from_trace(s))
            .collect();
        let archived = self.archived_trace_scores(trace, &scores, start, release);
        for (i, score) in scores.into_iter().enumerate() {
            if !archived.score(i) {
                self.push_score(score, trace_tenant(trace), start, now, unit);
            }
        }
    }

    /// Which of `scores` (of `trace`, timed `start` when they have no time) recovery found
    /// archived, when the trace holds replayed spans.
    fn archived_trace_scores(
        &mut self,
        trace: &Trace,
        scores: &[&Score],
        start: u64,
        release: Option<&Release>,
    ) -> Archived {
        let tenant = done_tenant(self.multitenancy, trace_tenant(trace));
        let (Some(done), Some(release)) = (self.done.as_mut(), release) else {
            return Archived::default();
        };
        if scores.is_empty()
            || !done.has_rows(SCORES_TABLE)
            || !trace.spans.iter().any(|s| release.is_replayed(s))
        {
            return Archived::default();
        }
        let mut encoder = ScoreEncoder::new();
        for score in scores {
            encoder.push(score, start);
        }
        match encoder.finish().and_then(|e| fingerprint::rows(&e.batch)) {
            Ok(rows) => Archived {
                logs: Vec::new(),
                scores: rows
                    .into_iter()
                    .map(|row| done.take_row(SCORES_TABLE, tenant, row))
                    .collect(),
            },
            Err(e) => {
                tracing::warn!(exporter = %self.shared.name, error = %e, "archive: could not fingerprint replayed scores; they are archived again");
                Archived::default()
            }
        }
    }

    /// Buffers one scores row, timed `fallback` when the score has no time of its own.
    fn push_score(
        &mut self,
        score: &Score,
        tenant: Option<&Arc<str>>,
        fallback: u64,
        now: u64,
        unit: Option<&Arc<Unit>>,
    ) {
        let (hour, _) = self
            .placement
            .place(ScoreEncoder::row_time(score, fallback), now);
        let index = self.buffer_for(self.partition(tenant, hour));
        let buffer = &mut self.partitions[index];
        self.buffered += buffer.scores.push(score, fallback);
        buffer.score_units.note(unit);
        if buffer.estimated_bytes() >= self.flush_bytes {
            self.cut(index);
        }
    }
}
