//! The sampler: the decision order, the deciding policy and probability, and the decision
//! cache for fragments. A pure state machine: time comes in as an argument.

use crate::cache::{CacheStats, CachedDecision, DecisionCache};
use crate::config::TailSamplingConfig;
use crate::policy::{self, NamedPolicy};
use std::sync::Arc;
use tracegate_model::{Sampling, Trace};
use tracegate_pipeline::ConfigError;

/// The decision index recorded when no policy matched (policy `none`).
pub const NONE_INDEX: u16 = u16::MAX;

const NS_PER_S: u64 = 1_000_000_000;

/// A decision: which policy made it, the outcome and the probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Index of the deciding policy in config order; [`NONE_INDEX`] when none matched.
    pub policy: u16,
    /// Kept or not.
    pub sampled: bool,
    /// See [`Sampling::probability`]; for a trace not kept, the probability it would have
    /// been kept with.
    pub probability: f64,
    /// True when it came from the decision cache.
    pub cached: bool,
}

/// Decides traces by the policies of one `tail_sampling` processor.
#[derive(Debug)]
pub struct Sampler {
    policies: Vec<NamedPolicy>,
    drops: Vec<usize>,
    none: Arc<str>,
    /// The not-sampled probability of a trace that reached every policy (the usual case),
    /// so decisions read back from the cache give the same `f64`.
    none_probability: Option<f64>,
    cache: DecisionCache,
}

impl Sampler {
    /// Builds a sampler from a parsed config, checking it; errors name keys under `path`
    /// (such as `processors.tail_sampling`).
    pub fn new(config: &TailSamplingConfig, path: &str) -> Result<Self, ConfigError> {
        refuse_collector_only(config, path)?;
        let policies = policy::build(&config.policies, &format!("{path}.policies"))?;
        let drops = (0..policies.len()).filter(|&i| policies[i].drop).collect();
        let cache_path = format!("{path}.decision_cache");
        let window = config.decision_cache.late_window.get();
        if window.is_zero() || window.as_secs() > u64::from(u32::MAX / 2) {
            return Err(ConfigError::new(
                format!("{cache_path}.late_window"),
                "write a duration of at least 1s, such as 5m",
            ));
        }
        let max_bytes = config.decision_cache.max_bytes.get();
        if max_bytes != 0 && max_bytes < crate::cache::MIN_BYTES {
            return Err(ConfigError::new(
                format!("{cache_path}.max_bytes"),
                "write 0 (no cache) or at least 4KiB, such as 16MiB",
            ));
        }
        let window_s = u32::try_from(window.as_secs() + u64::from(window.subsec_nanos() > 0))
            .unwrap_or(u32::MAX / 2);
        let none_probability = none_probability(&policies);
        Ok(Self {
            policies,
            drops,
            none: Arc::from(policy::NONE_NAME),
            none_probability,
            cache: DecisionCache::new(max_bytes, window_s),
        })
    }

    /// The policy names, in config order.
    pub fn policy_names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.policies.iter().map(|p| &p.name)
    }

    /// The name recorded for decision index `policy`.
    pub fn policy_name(&self, policy: u16) -> &Arc<str> {
        self.policies
            .get(usize::from(policy))
            .map_or(&self.none, |p| &p.name)
    }

    /// The decision cache.
    pub fn cache(&self) -> &DecisionCache {
        &self.cache
    }

    /// Cache hits, misses and evictions since the last call.
    pub fn take_cache_stats(&mut self) -> CacheStats {
        self.cache.take_stats()
    }

    /// Decides `trace` at `now_ns` (ns of a monotonic clock). A fragment whose trace was
    /// decided within `late_window` follows that decision; anything else is decided on its
    /// own spans and remembered.
    pub fn decide(&mut self, trace: &Trace, now_ns: u64) -> Decision {
        let now_s = u32::try_from(now_ns / NS_PER_S).unwrap_or(u32::MAX);
        if trace.fragment.is_some()
            && let Some(c) = self.cache.get(&trace.trace_id, now_s)
        {
            return Decision {
                policy: c.policy,
                sampled: c.sampled,
                probability: self.widen(c.policy, c.probability),
                cached: true,
            };
        }
        let d = self.evaluate(trace, now_ns);
        self.cache.insert(
            trace.trace_id,
            CachedDecision {
                policy: d.policy,
                sampled: d.sampled,
                probability: d.probability as f32,
            },
            now_s,
        );
        d
    }

    /// [`Self::decide`], as the [`Sampling`] the trace carries.
    pub fn sampling(&mut self, trace: &Trace, now_ns: u64) -> Sampling {
        let d = self.decide(trace, now_ns);
        Sampling {
            sampled: d.sampled,
            policy: self.policy_name(d.policy).clone(),
            probability: d.probability,
        }
    }

    /// The policies' verdict on `trace`, without the cache: any `drop` that matches drops
    /// it; else the first policy that matches keeps it; else it is not kept (`none`).
    pub fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> Decision {
        for &i in &self.drops {
            if self.policies[i].policy.evaluate(trace, now_ns).matched {
                return decision(i, false, 0.0);
            }
        }
        let mut chance = 0.0;
        for (i, p) in self.policies.iter_mut().enumerate() {
            if p.drop {
                continue;
            }
            let o = p.policy.evaluate(trace, now_ns);
            if o.matched {
                return decision(i, true, o.probability);
            }
            chance = either(chance, o.probability);
        }
        Decision {
            policy: NONE_INDEX,
            sampled: false,
            probability: chance,
            cached: false,
        }
    }

    /// A cached `f32` probability back as the `f64` the policy gives, where it gives one.
    fn widen(&self, policy: u16, p: f32) -> f64 {
        let exact = match self.policies.get(usize::from(policy)) {
            Some(named) if named.drop => Some(0.0),
            Some(named) => named.constant_probability,
            None => self.none_probability,
        };
        match exact {
            Some(x) if x as f32 == p => x,
            _ => f64::from(p),
        }
    }
}

fn decision(i: usize, sampled: bool, probability: f64) -> Decision {
    Decision {
        policy: u16::try_from(i).unwrap_or(NONE_INDEX - 1),
        sampled,
        probability,
        cached: false,
    }
}

/// The chance a trace that matched no policy had of being kept, when every policy's
/// chance is fixed: 1 − ∏(1 − pᵢ) over the `probabilistic` ones (0 for rules).
fn none_probability(policies: &[NamedPolicy]) -> Option<f64> {
    let mut chance = 0.0;
    for p in policies.iter().filter(|p| !p.drop) {
        match (&p.policy, p.constant_probability) {
            (policy::Policy::Probabilistic(_), Some(x)) => chance = either(chance, x),
            (_, Some(_)) => {}
            (_, None) => return None,
        }
    }
    Some(chance)
}

/// The chance that either of two independent events happens, `a + b − ab`: exact for
/// `either(0, p) = p`, unlike `1 − (1 − a)(1 − b)`.
pub(crate) fn either(a: f64, b: f64) -> f64 {
    a + b - a * b
}

/// The Collector's knobs with no meaning here, refused with what to use instead.
fn refuse_collector_only(config: &TailSamplingConfig, path: &str) -> Result<(), ConfigError> {
    let assembly = "tracegate decides a trace when trace assembly releases it; set \
                    `processors.trace_assembly` (`idle_after_root`, `max_wait`, `max_traces`) \
                    instead, and remove this key";
    for (key, given) in [
        ("decision_wait", config.decision_wait.is_some()),
        ("num_traces", config.num_traces.is_some()),
        (
            "expected_new_traces_per_sec",
            config.expected_new_traces_per_sec.is_some(),
        ),
    ] {
        if given {
            return Err(ConfigError::new(format!("{path}.{key}"), assembly));
        }
    }
    let cache = &config.decision_cache;
    for (key, given) in [
        ("sampled_cache_size", cache.sampled_cache_size.is_some()),
        (
            "non_sampled_cache_size",
            cache.non_sampled_cache_size.is_some(),
        ),
    ] {
        if given {
            return Err(ConfigError::new(
                format!("{path}.decision_cache.{key}"),
                "the decision cache is bounded in bytes and remembers both outcomes; write \
                 `max_bytes` (such as 16MiB) and `late_window` (such as 5m) instead",
            ));
        }
    }
    Ok(())
}
