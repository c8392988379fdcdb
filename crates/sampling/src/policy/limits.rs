//! The Collector's rate-based policies: `rate_limiting`, `bytes_limiting` and `composite`.
//!
//! Each counts per second of the injected clock. The probability each reports is the share
//! of the spans offered to it that it admitted in the previous second (or, in the first
//! second after a pause, in this second so far):
//! an estimate of the chance a trace like this one is kept, so counts over sampled data
//! scale back up by 1/p.

use super::{Outcome, Policy};
use tracegate_model::Trace;

const NS_PER_S: u64 = 1_000_000_000;

/// Spans offered to and admitted by a limiter, this second and the one before.
#[derive(Debug, Clone, Default)]
pub(crate) struct Share {
    second: u64,
    offered: u64,
    admitted: u64,
    prev_offered: u64,
    prev_admitted: u64,
}

impl Share {
    /// Moves to `second`, rolling the counts.
    fn roll(&mut self, second: u64) {
        if second == self.second {
            return;
        }
        if second == self.second + 1 {
            self.prev_offered = self.offered;
            self.prev_admitted = self.admitted;
        } else {
            self.prev_offered = 0;
            self.prev_admitted = 0;
        }
        self.second = second;
        self.offered = 0;
        self.admitted = 0;
    }

    /// Records `spans` offered at `second`, admitted or not, and returns the share.
    fn record(&mut self, second: u64, spans: u64, admitted: bool) -> f64 {
        self.roll(second);
        self.offered += spans;
        if admitted {
            self.admitted += spans;
        }
        // The last whole second when there was one; else this second so far.
        let (admitted, offered) = if self.prev_offered > 0 {
            (self.prev_admitted, self.prev_offered)
        } else {
            (self.admitted, self.offered)
        };
        if offered == 0 {
            1.0
        } else {
            admitted as f64 / offered as f64
        }
    }
}

/// `rate_limiting`: keeps a trace while the spans kept this second, it included, stay at or
/// under `spans_per_second`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    pub(crate) limit: u64,
    pub(crate) share: Share,
}

impl RateLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            share: Share::default(),
        }
    }

    pub(crate) fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> Outcome {
        let second = now_ns / NS_PER_S;
        self.share.roll(second);
        let spans = trace.spans.len() as u64;
        let matched = self.share.admitted + spans <= self.limit;
        let probability = self.share.record(second, spans, matched);
        Outcome {
            matched,
            probability,
        }
    }
}

/// `bytes_limiting`: a token bucket over the spans' estimated in-memory bytes.
#[derive(Debug, Clone)]
pub struct BytesLimiter {
    pub(crate) rate: u64,
    pub(crate) capacity: u64,
    tokens: u64,
    last_ns: Option<u64>,
    share: Share,
}

impl BytesLimiter {
    pub(crate) fn new(rate: u64, capacity: u64) -> Self {
        Self {
            rate,
            capacity,
            tokens: capacity,
            last_ns: None,
            share: Share::default(),
        }
    }

    pub(crate) fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> Outcome {
        if let Some(last) = self.last_ns {
            let elapsed = u128::from(now_ns.saturating_sub(last));
            let refill = elapsed * u128::from(self.rate) / u128::from(NS_PER_S);
            let tokens = u128::from(self.tokens) + refill;
            self.tokens = tokens.min(u128::from(self.capacity)) as u64;
        }
        self.last_ns = Some(now_ns.max(self.last_ns.unwrap_or(0)));
        let bytes: u64 = trace.spans.iter().map(|s| s.estimated_bytes() as u64).sum();
        let matched = bytes <= self.tokens;
        if matched {
            self.tokens -= bytes;
        }
        let probability = self
            .share
            .record(now_ns / NS_PER_S, trace.spans.len() as u64, matched);
        Outcome {
            matched,
            probability,
        }
    }
}

/// One sub-policy of a `composite`, with its share of the budget.
#[derive(Debug)]
pub struct CompositeSub {
    pub(crate) policy: Policy,
    /// Spans per second allocated.
    pub(crate) allocated: u64,
    pub(crate) share: Share,
}

/// `composite`: the first sub-policy (in `policy_order`) that matches decides; the trace
/// is kept when that sub-policy's spans this second stay within its allocation and all
/// kept spans within `max_total_spans_per_second`.
#[derive(Debug)]
pub struct Composite {
    pub(crate) max_total: u64,
    pub(crate) subs: Vec<CompositeSub>,
    second: u64,
    total: u64,
}

impl Composite {
    pub(crate) fn new(max_total: u64, subs: Vec<CompositeSub>) -> Self {
        Self {
            max_total,
            subs,
            second: 0,
            total: 0,
        }
    }

    pub(crate) fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> Outcome {
        let second = now_ns / NS_PER_S;
        if second != self.second {
            self.second = second;
            self.total = 0;
        }
        let spans = trace.spans.len() as u64;
        let mut chance = 0.0;
        for sub in &mut self.subs {
            let o = sub.policy.evaluate(trace, now_ns);
            if !o.matched {
                chance = crate::sampler::either(chance, o.probability);
                continue;
            }
            sub.share.roll(second);
            let admitted =
                sub.share.admitted + spans <= sub.allocated && self.total + spans <= self.max_total;
            if admitted {
                self.total += spans;
            }
            let share = sub.share.record(second, spans, admitted);
            return Outcome {
                matched: admitted,
                probability: o.probability * share,
            };
        }
        Outcome {
            matched: false,
            probability: chance,
        }
    }

    /// Spans admitted this second per sub-policy, in `policy_order`: for tests.
    pub fn admitted_this_second(&self) -> Vec<u64> {
        self.subs.iter().map(|s| s.share.admitted).collect()
    }
}
