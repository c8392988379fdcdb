//! Release time: [`ScoreBoard::attach`] fills a released trace's `scores`.

use super::{ScoreBoard, lock, pending_shard};
use crate::extract;
use crate::telemetry;
use std::sync::atomic::Ordering;
use tracegate_model::{Score, ScoreJoin, Trace, keys};

impl ScoreBoard {
    /// Fills `trace.scores` as trace assembly releases it, at the board's clock; see
    /// [`Self::attach_at`].
    pub fn attach(&self, trace: &mut Trace) {
        let now = if self.pending_scores.load(Ordering::Relaxed) > 0 {
            self.now_ns()
        } else {
            0
        };
        self.attach_at(trace, now);
    }

    /// Moves the scores pending for `trace` into `trace.scores` (a whole trace only, not a
    /// late or over-cap fragment), then adds every score its spans carry ([`extract::from_span`]): span events and feedback spans, joined by
    /// trace context. An event naming another call's response id is joined through a span
    /// of this trace with that id, else through the index, else (a miss, counted) to the
    /// span it is on. Takes no lock when nothing is pending.
    pub fn attach_at(&self, trace: &mut Trace, now_ns: u64) {
        let Some(tenant) = trace.spans.first().map(|s| s.resource.tenant()) else {
            return;
        };
        // Only a whole trace takes pending scores: an over-cap fragment goes while its trace
        // is still held (the trace, which the sampler decides on, should have them), and a
        // late one follows a decision already made.
        if trace.fragment.is_none() && self.pending_scores.load(Ordering::Relaxed) > 0 {
            let key = (self.hashers.tenant(tenant), trace.trace_id);
            let mut shard = lock(&self.pending[pending_shard(&trace.trace_id)]);
            let before = shard.scores();
            let (scores, dropped) = shard.take(&key, now_ns);
            let total = self.count_pending(before, shard.scores());
            drop(shard);
            if let Some(total) = total {
                telemetry::pending_scores(total);
            }
            self.count_dropped(dropped);
            trace.scores.extend(scores);
        }
        for i in 0..trace.spans.len() {
            let found = extract::from_span(&trace.spans[i]);
            for mut score in found {
                if score.trace_id.is_none() {
                    self.join_span_event(&mut score, trace, i, tenant, now_ns);
                }
                telemetry::score(score.source.as_str(), score.joined_by.as_str());
                trace.scores.push(score);
            }
        }
    }

    /// Joins a span event that names another call's response id.
    fn join_span_event(
        &self,
        score: &mut Score,
        trace: &Trace,
        carrier: usize,
        tenant: &str,
        now_ns: u64,
    ) {
        let named = score.response_id.as_deref().map(str::trim);
        let in_trace = trace.spans.iter().find(|s| {
            named.is_some()
                && tracegate_model::attr::get_str(&s.attributes, keys::GEN_AI_RESPONSE_ID)
                    .map(str::trim)
                    == named
        });
        if let Some(rated) = in_trace {
            score.trace_id = Some(rated.trace_id);
            score.span_id = Some(rated.span_id);
            score.joined_by = ScoreJoin::TraceContext;
            return;
        }
        if self.resolve(score, tenant, now_ns) == ScoreJoin::Unresolved
            && let Some(span) = trace.spans.get(carrier)
        {
            // Not found anywhere: it is at least about this trace.
            score.trace_id = Some(span.trace_id);
            score.span_id = Some(span.span_id);
            score.joined_by = ScoreJoin::TraceContext;
        }
    }
}
