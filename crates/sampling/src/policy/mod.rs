//! The policies, compiled from config, and what each says about one trace.
//!
//! - `build.rs`: config → [`Policy`], with every check and its key path (`checks.rs`: the
//!   checks shared by every type);
//! - `rules.rs`: the Collector's stateless rules (status, latency, probabilistic,
//!   attributes, span count, trace state);
//! - `limits.rs`: the Collector's rate-based ones (`rate_limiting`, `bytes_limiting`,
//!   `composite`);
//! - `llm.rs`: the LLM-aware rules (cost, tokens, TTFT, finish reason, retries, agent loops);
//! - `errors.rs`: LLM error classes (`llm_error`);
//! - `slice.rs`: `first_per_slice`;
//! - `scores.rs`: `evaluation_score` (the quality scores joined to a trace).
//!
//! A policy is evaluated on a trace at a time `now_ns` (a monotonic clock; only the
//! rate-based policies and `first_per_slice` read it) and gives an [`Outcome`].

mod build;
mod checks;
mod errors;
mod limits;
mod llm;
mod rules;
mod scores;
mod slice;

pub use build::{
    DEFAULT_HASH_SALT, MAX_DEPTH, MAX_PATTERN_BYTES, MAX_POLICIES, NONE_NAME, NamedPolicy, build,
};
pub use errors::{ErrorClass, classify};
pub use llm::canonical_finish_reason;
pub use rules::probabilistic_threshold;

use tracegate_model::{Category, Span, Trace};

/// What one policy says about one trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The policy matches: it would keep the trace (or, for `drop`, drop it).
    pub matched: bool,
    /// When matched, the probability a trace like this one is kept by the policy: 1.0 for
    /// a rule, the percentage for `probabilistic`, the admitted share for the rate-based
    /// ones. When not matched, the probability it *would* have matched (0.0 for a rule
    /// that does not hold; the percentage for `probabilistic`; the admitted share for a
    /// rate-based policy that refused it).
    pub probability: f64,
}

impl Outcome {
    /// Matched, with certainty.
    pub const YES: Outcome = Outcome {
        matched: true,
        probability: 1.0,
    };
    /// Not matched, with no chance of matching.
    pub const NO: Outcome = Outcome {
        matched: false,
        probability: 0.0,
    };

    /// A rule's outcome.
    pub fn rule(matched: bool) -> Outcome {
        if matched { Self::YES } else { Self::NO }
    }
}

/// A compiled policy.
#[derive(Debug)]
#[non_exhaustive]
pub enum Policy {
    /// `always_sample`.
    Always,
    /// `status_code`.
    StatusCode(rules::StatusCodes),
    /// `latency`.
    Latency(rules::Latency),
    /// `probabilistic`.
    Probabilistic(rules::Probabilistic),
    /// `rate_limiting`.
    RateLimiting(limits::RateLimiter),
    /// `bytes_limiting`.
    BytesLimiting(limits::BytesLimiter),
    /// `string_attribute`.
    StringAttribute(rules::StringAttribute),
    /// `numeric_attribute`.
    NumericAttribute(rules::NumericAttribute),
    /// `boolean_attribute`.
    BooleanAttribute(rules::BooleanAttribute),
    /// `span_count`.
    SpanCount(rules::SpanCount),
    /// `trace_state`.
    TraceState(rules::TraceStateRule),
    /// `and`, and the body of a `drop`: every sub-policy, in order.
    And(Vec<Policy>),
    /// `composite`.
    Composite(limits::Composite),
    /// `llm_cost`.
    LlmCost(llm::Cost),
    /// `llm_tokens`.
    LlmTokens(llm::Tokens),
    /// `llm_ttft`.
    LlmTtft(llm::Ttft),
    /// `llm_finish_reason`.
    LlmFinishReason(llm::FinishReason),
    /// `llm_error`.
    LlmError(errors::LlmError),
    /// `llm_retry`.
    LlmRetry,
    /// `agent_loop`.
    AgentLoop(llm::AgentLoop),
    /// `first_per_slice`.
    FirstPerSlice(slice::FirstPerSlice),
    /// `evaluation_score`.
    EvaluationScore(scores::EvaluationScore),
}

impl Policy {
    /// Evaluates the policy on `trace` at `now_ns`. Rate-based policies count what they
    /// admit, so evaluate each trace once.
    pub fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> Outcome {
        match self {
            Policy::Always => Outcome::YES,
            Policy::StatusCode(p) => Outcome::rule(p.matches(trace)),
            Policy::Latency(p) => Outcome::rule(p.matches(trace)),
            Policy::Probabilistic(p) => p.evaluate(trace),
            Policy::RateLimiting(p) => p.evaluate(trace, now_ns),
            Policy::BytesLimiting(p) => p.evaluate(trace, now_ns),
            Policy::StringAttribute(p) => Outcome::rule(p.matches(trace)),
            Policy::NumericAttribute(p) => Outcome::rule(p.matches(trace)),
            Policy::BooleanAttribute(p) => Outcome::rule(p.matches(trace)),
            Policy::SpanCount(p) => Outcome::rule(p.matches(trace)),
            Policy::TraceState(p) => Outcome::rule(p.matches(trace)),
            Policy::And(subs) => {
                // Short-circuits, so a rate-based sub-policy placed last counts only traces
                // every earlier one matched. Unmatched: the chance up to the first miss.
                let mut probability = 1.0;
                for sub in subs {
                    let o = sub.evaluate(trace, now_ns);
                    probability *= o.probability;
                    if !o.matched {
                        return Outcome {
                            matched: false,
                            probability,
                        };
                    }
                }
                Outcome {
                    matched: true,
                    probability,
                }
            }
            Policy::Composite(p) => p.evaluate(trace, now_ns),
            Policy::LlmCost(p) => Outcome::rule(p.matches(trace)),
            Policy::LlmTokens(p) => Outcome::rule(p.matches(trace)),
            Policy::LlmTtft(p) => Outcome::rule(p.matches(trace)),
            Policy::LlmFinishReason(p) => Outcome::rule(p.matches(trace)),
            Policy::LlmError(p) => Outcome::rule(p.matches(trace)),
            Policy::LlmRetry => Outcome::rule(llm::has_retry(trace)),
            Policy::AgentLoop(p) => Outcome::rule(p.matches(trace)),
            Policy::FirstPerSlice(p) => Outcome::rule(p.evaluate(trace, now_ns)),
            Policy::EvaluationScore(p) => Outcome::rule(p.matches(trace)),
        }
    }
}

/// True for a model call that generates text: the latency breakdown's category when it
/// has run, else the same classification done here.
pub(crate) fn is_llm(span: &Span) -> bool {
    match span.facts.category {
        Some(c) => c == Category::Llm,
        None => tracegate_breakdown::categorize(span) == Category::Llm,
    }
}

/// True for a span that may be an LLM call: cheap, for per-span scans (with the breakdown
/// run, only LLM spans; without, every span).
pub(crate) fn may_be_llm(span: &Span) -> bool {
    span.facts.category.is_none_or(|c| c == Category::Llm)
}
