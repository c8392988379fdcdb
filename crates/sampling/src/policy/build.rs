//! Config → policies: every check the types cannot make, each reported with its key path
//! and what to write instead.

use super::Policy;
use super::checks::{check_names, check_sections, check_values, err, ms_to_ns, non_empty};
use super::errors::{ErrorClass, LlmError};
use super::limits::{BytesLimiter, Composite, CompositeSub, RateLimiter};
use super::llm::{AgentLoop, Cost, FinishReason, Tokens, Ttft, canonical_finish_reason};
use super::rules::{
    BooleanAttribute, Latency, NumericAttribute, Probabilistic, SpanCount, StatusCodes,
    StringAttribute, StringMatch, TraceStateRule, probabilistic_threshold,
};
use super::scores::EvaluationScore;
use super::slice::{Dimension, FirstPerSlice};
use crate::config::{PolicyConfig, PolicyType};
use std::collections::HashSet;
use std::sync::Arc;
use tracegate_pipeline::ConfigError;

/// Most policies in one list (top level, or one `and`/`drop`/`composite`).
pub const MAX_POLICIES: usize = 64;
/// Deepest nesting of `and` / `composite` / `drop` sub-policies (the top level is 1).
pub const MAX_DEPTH: usize = 3;
/// Longest regular expression in `string_attribute`, bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Most values (or patterns) in one list.
pub const MAX_VALUES: usize = 256;
/// The size bound given to the regex compiler per `string_attribute`, bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The Collector's default salt for `probabilistic`.
pub const DEFAULT_HASH_SALT: &str = "default-hash-seed";
/// The policy recorded when nothing matched.
pub const NONE_NAME: &str = "none";

/// A top-level policy with its name.
#[derive(Debug)]
pub struct NamedPolicy {
    /// Its name in config (the type when none was given).
    pub name: Arc<str>,
    /// A `drop` policy: a match means "not sampled".
    pub drop: bool,
    /// The policy (a `drop`'s sub-policies as an `and`).
    pub policy: Policy,
    /// The probability every trace this policy keeps is kept with, when that does not
    /// vary from trace to trace (rules and `probabilistic`); `None` for rate-based ones.
    pub constant_probability: Option<f64>,
}

/// Compiles `policies`, found at `path` (such as `processors.tail_sampling.policies`).
pub fn build(policies: &[PolicyConfig], path: &str) -> Result<Vec<NamedPolicy>, ConfigError> {
    let names = check_names(policies, path)?;
    policies
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, (p, name))| {
            let at = format!("{path}[{i}]");
            let policy = compile(p, &at, 1)?;
            Ok(NamedPolicy {
                name: Arc::from(name),
                drop: p.kind == PolicyType::Drop,
                constant_probability: constant_probability(&policy),
                policy,
            })
        })
        .collect()
}

fn constant_probability(policy: &Policy) -> Option<f64> {
    match policy {
        Policy::Probabilistic(p) => Some(p.ratio),
        Policy::RateLimiting(_) | Policy::BytesLimiting(_) | Policy::Composite(_) => None,
        Policy::And(subs) => subs
            .iter()
            .map(constant_probability)
            .try_fold(1.0, |acc, p| p.map(|p| acc * p)),
        _ => Some(1.0),
    }
}

/// The type's own section, which must be given unless every field has a default.
macro_rules! section {
    ($p:expr, $field:ident, $at:expr) => {
        match &$p.$field {
            Some(c) => c.clone(),
            None => {
                return Err(err(
                    $at,
                    format!(
                        "a `{0}` policy needs its settings under `{0}:`, as in `{{ type: {0}, {0}: {{ ... }} }}`",
                        stringify!($field)
                    ),
                ))
            }
        }
    };
}

/// Compiles sub-policies (of `and`, `drop` or `composite`) found at `at`.
fn compile_subs(subs: &[PolicyConfig], at: &str, depth: usize) -> Result<Vec<Policy>, ConfigError> {
    if subs.is_empty() {
        return Err(err(at, "list at least one sub-policy"));
    }
    check_names(subs, at)?;
    subs.iter()
        .enumerate()
        .map(|(i, s)| {
            let sub_at = format!("{at}[{i}]");
            if matches!(s.kind, PolicyType::Drop | PolicyType::Composite) {
                return Err(err(
                    &format!("{sub_at}.type"),
                    format!("a `{}` policy cannot be a sub-policy; put it at the top level of `policies`", s.kind.as_str()),
                ));
            }
            compile(s, &sub_at, depth + 1)
        })
        .collect()
}

/// Compiles one policy found at `at`, `depth` levels down.
fn compile(p: &PolicyConfig, at: &str, depth: usize) -> Result<Policy, ConfigError> {
    if depth > MAX_DEPTH {
        return Err(err(
            at,
            format!("sub-policies nest at most {MAX_DEPTH} levels deep; flatten this one"),
        ));
    }
    check_sections(p, at)?;
    let sect = |name: &str| format!("{at}.{name}");
    Ok(match p.kind {
        PolicyType::AlwaysSample => Policy::Always,
        PolicyType::StatusCode => {
            let c = section!(p, status_code, at);
            let path = sect("status_code.status_codes");
            check_values(&c.status_codes, &path)?;
            let mut mask = [false; 3];
            for code in &c.status_codes {
                let i = match code.as_str() {
                    "UNSET" => 0,
                    "OK" => 1,
                    "ERROR" => 2,
                    other => {
                        return Err(err(
                            &path,
                            format!("unknown status code {other:?}; write ERROR, OK or UNSET"),
                        ));
                    }
                };
                mask[i] = true;
            }
            Policy::StatusCode(StatusCodes(mask))
        }
        PolicyType::Latency => {
            let c = section!(p, latency, at);
            let upper = c.upper_threshold_ms.filter(|u| *u > 0);
            if upper.is_some_and(|u| u < c.threshold_ms) {
                return Err(err(
                    &sect("latency.upper_threshold_ms"),
                    "is below `threshold_ms`; write a bound at or above it, or 0 for none",
                ));
            }
            Policy::Latency(Latency {
                threshold_ms: c.threshold_ms,
                upper_threshold_ms: upper,
            })
        }
        PolicyType::Probabilistic => {
            let c = section!(p, probabilistic, at);
            let pct = c.sampling_percentage;
            if !(0.0..=100.0).contains(&pct) {
                return Err(err(
                    &sect("probabilistic.sampling_percentage"),
                    format!("{pct} is not a percentage; write a number from 0 to 100, such as 10"),
                ));
            }
            let salt = c
                .hash_salt
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_HASH_SALT.to_owned());
            Policy::Probabilistic(Probabilistic {
                salt: salt.into_bytes(),
                threshold: probabilistic_threshold(pct / 100.0),
                ratio: pct / 100.0,
            })
        }
        PolicyType::RateLimiting => {
            let c = section!(p, rate_limiting, at);
            if c.spans_per_second == 0 {
                return Err(err(
                    &sect("rate_limiting.spans_per_second"),
                    "must be at least 1; to keep nothing, use a `drop` policy",
                ));
            }
            Policy::RateLimiting(RateLimiter::new(c.spans_per_second))
        }
        PolicyType::BytesLimiting => {
            let c = section!(p, bytes_limiting, at);
            if c.bytes_per_second == 0 {
                return Err(err(
                    &sect("bytes_limiting.bytes_per_second"),
                    "must be at least 1; to keep nothing, use a `drop` policy",
                ));
            }
            let burst = c
                .burst_capacity
                .unwrap_or(c.bytes_per_second.saturating_mul(2));
            if burst == 0 {
                return Err(err(
                    &sect("bytes_limiting.burst_capacity"),
                    "must be at least 1; leave it out for twice `bytes_per_second`",
                ));
            }
            Policy::BytesLimiting(BytesLimiter::new(c.bytes_per_second, burst))
        }
        PolicyType::StringAttribute => {
            let c = section!(p, string_attribute, at);
            non_empty(&c.key, &sect("string_attribute.key"))?;
            let path = sect("string_attribute.values");
            check_values(&c.values, &path)?;
            let values = if c.enabled_regex_matching {
                if let Some(long) = c.values.iter().find(|v| v.len() > MAX_PATTERN_BYTES) {
                    return Err(err(
                        &path,
                        format!(
                            "a pattern of {} bytes; patterns may be at most {MAX_PATTERN_BYTES} bytes",
                            long.len()
                        ),
                    ));
                }
                let set = regex::RegexSetBuilder::new(&c.values)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        err(
                            &path,
                            format!("not a valid regular expression (Rust regex syntax): {e}"),
                        )
                    })?;
                StringMatch::Regex(set)
            } else {
                StringMatch::Exact(c.values)
            };
            Policy::StringAttribute(StringAttribute {
                key: c.key,
                values,
                invert: c.invert_match,
            })
        }
        PolicyType::NumericAttribute => {
            let c = section!(p, numeric_attribute, at);
            non_empty(&c.key, &sect("numeric_attribute.key"))?;
            let (min, max) = (
                c.min_value.unwrap_or(f64::NEG_INFINITY),
                c.max_value.unwrap_or(f64::INFINITY),
            );
            if c.min_value.is_none() && c.max_value.is_none() {
                return Err(err(
                    &sect("numeric_attribute"),
                    "give `min_value`, `max_value` or both",
                ));
            }
            if min.is_nan() || max.is_nan() || min > max {
                return Err(err(
                    &sect("numeric_attribute.max_value"),
                    "is below `min_value`; write a range with min_value ≤ max_value",
                ));
            }
            Policy::NumericAttribute(NumericAttribute {
                key: c.key,
                min,
                max,
                invert: c.invert_match,
            })
        }
        PolicyType::BooleanAttribute => {
            let c = section!(p, boolean_attribute, at);
            non_empty(&c.key, &sect("boolean_attribute.key"))?;
            Policy::BooleanAttribute(BooleanAttribute {
                key: c.key,
                value: c.value,
                invert: c.invert_match,
            })
        }
        PolicyType::SpanCount => {
            let c = section!(p, span_count, at);
            let max = c.max_spans.filter(|m| *m > 0);
            if max.is_some_and(|m| m < c.min_spans) {
                return Err(err(
                    &sect("span_count.max_spans"),
                    "is below `min_spans`; write a bound at or above it, or 0 for none",
                ));
            }
            Policy::SpanCount(SpanCount {
                min: c.min_spans,
                max,
            })
        }
        PolicyType::TraceState => {
            let c = section!(p, trace_state, at);
            non_empty(&c.key, &sect("trace_state.key"))?;
            check_values(&c.values, &sect("trace_state.values"))?;
            Policy::TraceState(TraceStateRule {
                key: c.key,
                values: c.values,
            })
        }
        PolicyType::And => {
            let c = section!(p, and, at);
            Policy::And(compile_subs(
                &c.and_sub_policy,
                &sect("and.and_sub_policy"),
                depth,
            )?)
        }
        PolicyType::Drop => {
            if depth > 1 {
                return Err(err(
                    &format!("{at}.type"),
                    "a `drop` policy cannot be a sub-policy; put it at the top level of `policies`",
                ));
            }
            let c = section!(p, drop, at);
            Policy::And(compile_subs(
                &c.drop_sub_policy,
                &sect("drop.drop_sub_policy"),
                depth,
            )?)
        }
        PolicyType::Composite => compile_composite(p, at, depth)?,
        PolicyType::LlmCost => {
            let c = section!(p, llm_cost, at);
            if !c.threshold_usd.is_finite() || c.threshold_usd < 0.0 {
                return Err(err(
                    &sect("llm_cost.threshold_usd"),
                    "write a cost in US dollars, 0 or more, such as 0.50",
                ));
            }
            Policy::LlmCost(Cost::new(c.threshold_usd))
        }
        PolicyType::LlmTokens => {
            let c = section!(p, llm_tokens, at);
            if c.total_threshold.is_none() && c.per_call_threshold.is_none() {
                return Err(err(
                    &sect("llm_tokens"),
                    "give `total_threshold`, `per_call_threshold` or both",
                ));
            }
            Policy::LlmTokens(Tokens {
                total: c.total_threshold,
                per_call: c.per_call_threshold,
            })
        }
        PolicyType::LlmTtft => {
            let c = section!(p, llm_ttft, at);
            let threshold_ns = ms_to_ns(c.threshold_ms, &sect("llm_ttft.threshold_ms"))?;
            let mut models_ns = std::collections::BTreeMap::new();
            if c.models.len() > MAX_VALUES {
                return Err(err(
                    &sect("llm_ttft.models"),
                    format!("at most {MAX_VALUES} models"),
                ));
            }
            for (model, ms) in c.models {
                let ns = ms_to_ns(ms, &sect(&format!("llm_ttft.models.{model}")))?;
                models_ns.insert(model, ns);
            }
            Policy::LlmTtft(Ttft {
                threshold_ns,
                models_ns,
            })
        }
        PolicyType::LlmFinishReason => {
            let c = section!(p, llm_finish_reason, at);
            check_values(&c.values, &sect("llm_finish_reason.values"))?;
            let values = c
                .values
                .iter()
                .map(|v| {
                    canonical_finish_reason(v)
                        .map_or_else(|| v.trim().to_ascii_lowercase(), str::to_owned)
                })
                .collect();
            Policy::LlmFinishReason(FinishReason { values })
        }
        PolicyType::LlmError => {
            let c = p.llm_error.clone().unwrap_or_default();
            let path = sect("llm_error.classes");
            let classes = if c.classes.is_empty() {
                ErrorClass::ALL.to_vec()
            } else {
                c.classes
                    .iter()
                    .map(|name| {
                        ErrorClass::from_name(name).ok_or_else(|| {
                            let all: Vec<_> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
                            err(
                                &path,
                                format!(
                                    "unknown error class {name:?}; write any of {}",
                                    all.join(", ")
                                ),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            Policy::LlmError(LlmError { classes })
        }
        PolicyType::LlmRetry => Policy::LlmRetry,
        PolicyType::AgentLoop => {
            let c = p.agent_loop.clone().unwrap_or_default();
            if c.min_repeats < 2 {
                return Err(err(
                    &sect("agent_loop.min_repeats"),
                    "must be at least 2 (a loop repeats a call); the default is 3",
                ));
            }
            Policy::AgentLoop(AgentLoop {
                min_repeats: c.min_repeats,
            })
        }
        PolicyType::FirstPerSlice => {
            let c = p.first_per_slice.clone().unwrap_or_default();
            if c.per_hour == 0 {
                return Err(err(
                    &sect("first_per_slice.per_hour"),
                    "must be at least 1, such as 5",
                ));
            }
            if c.max_slices == 0 || c.max_slices > 1_000_000 {
                return Err(err(
                    &sect("first_per_slice.max_slices"),
                    "write a number from 1 to 1000000; the default is 10000",
                ));
            }
            let path = sect("first_per_slice.by");
            check_values(&c.by, &path)?;
            let by = c
                .by
                .iter()
                .map(|d| {
                    Dimension::parse(d).ok_or_else(|| err(&path, format!(
                        "unknown dimension {d:?}; write model, provider, operation, service, prompt_version or attribute:KEY"
                    )))
                })
                .collect::<Result<_, _>>()?;
            Policy::FirstPerSlice(FirstPerSlice::new(c.per_hour, by, c.max_slices))
        }
        PolicyType::EvaluationScore => {
            let c = section!(p, evaluation_score, at);
            if c.max_value.is_none() && c.labels.is_empty() {
                return Err(err(
                    &sect("evaluation_score"),
                    "give `max_value` (keep traces with a score at or below it), `labels` (keep traces with one of these labels) or both",
                ));
            }
            if c.max_value.is_some_and(|v| !v.is_finite()) {
                return Err(err(
                    &sect("evaluation_score.max_value"),
                    "write a finite number, such as 0.3",
                ));
            }
            if !c.labels.is_empty() {
                let path = sect("evaluation_score.labels");
                check_values(&c.labels, &path)?;
                if c.labels.iter().any(|l| l.trim().is_empty()) {
                    return Err(err(
                        &path,
                        "a label must not be empty; write one such as `fail`",
                    ));
                }
            }
            if c.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return Err(err(
                    &sect("evaluation_score.name"),
                    "must not be empty; write an evaluation name such as `relevance`, or leave it out for every score",
                ));
            }
            Policy::EvaluationScore(EvaluationScore::new(c.name, c.max_value, c.labels))
        }
    })
}

fn compile_composite(p: &PolicyConfig, at: &str, depth: usize) -> Result<Policy, ConfigError> {
    let c = section!(p, composite, at);
    let sect = |name: &str| format!("{at}.composite.{name}");
    if c.max_total_spans_per_second == 0 {
        return Err(err(
            &sect("max_total_spans_per_second"),
            "must be at least 1, such as 1000",
        ));
    }
    let sub_path = sect("composite_sub_policy");
    let names = check_names(&c.composite_sub_policy, &sub_path)?;
    let policies = compile_subs(&c.composite_sub_policy, &sub_path, depth)?;
    let order_path = sect("policy_order");
    if c.policy_order.len() != names.len()
        || c.policy_order.iter().collect::<HashSet<_>>().len() != names.len()
    {
        return Err(err(
            &order_path,
            format!(
                "list each sub-policy exactly once, in the order to try them: [{}]",
                names.join(", ")
            ),
        ));
    }
    let alloc_path = sect("rate_allocation");
    let mut percents: Vec<Option<f64>> = vec![None; names.len()];
    let mut total_percent = 0.0;
    for (i, a) in c.rate_allocation.iter().enumerate() {
        let Some(j) = names.iter().position(|n| *n == a.policy) else {
            return Err(err(
                &format!("{alloc_path}[{i}].policy"),
                format!(
                    "no sub-policy is named {:?}; write one of [{}]",
                    a.policy,
                    names.join(", ")
                ),
            ));
        };
        if !(a.percent > 0.0 && a.percent <= 100.0) || percents[j].is_some() {
            return Err(err(
                &format!("{alloc_path}[{i}].percent"),
                "write a percent above 0 and at most 100, once per sub-policy",
            ));
        }
        percents[j] = Some(a.percent);
        total_percent += a.percent;
    }
    if total_percent > 100.0 + 1e-9 {
        return Err(err(
            &alloc_path,
            format!("the shares add up to {total_percent}%; make them add up to 100% or less"),
        ));
    }
    let max = c.max_total_spans_per_second;
    let unallocated = percents.iter().filter(|p| p.is_none()).count();
    let rest = ((100.0 - total_percent).max(0.0) / 100.0 * max as f64) / unallocated.max(1) as f64;
    let mut subs: Vec<Option<CompositeSub>> = policies
        .into_iter()
        .zip(&percents)
        .map(|(policy, pct)| {
            let allocated = match pct {
                Some(pct) => pct / 100.0 * max as f64,
                None => rest,
            };
            Some(CompositeSub {
                policy,
                allocated: allocated.floor() as u64,
                share: Default::default(),
            })
        })
        .collect();
    let mut ordered = Vec::with_capacity(subs.len());
    for (i, name) in c.policy_order.iter().enumerate() {
        let Some(j) = names.iter().position(|n| n == name) else {
            return Err(err(
                &format!("{order_path}[{i}]"),
                format!(
                    "no sub-policy is named {name:?}; write one of [{}]",
                    names.join(", ")
                ),
            ));
        };
        ordered.extend(subs[j].take());
    }
    Ok(Policy::Composite(Composite::new(max, ordered)))
}
