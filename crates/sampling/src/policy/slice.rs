//! `first_per_slice`: the first K traces per hour of every slice (such as every model and
//! provider pair), so a new model, provider or prompt version is always seen.
//!
//! A slice is taken from each LLM call in the trace: the values of the `by` dimensions,
//! hashed to 64 bits (a collision merges two slices, at odds of about n²/2⁶⁵). Calls where
//! every dimension is missing are skipped. Hours are fixed windows of the sampler's clock.
//! The table holds at most `max_slices` slices of 16 B each (plus the map's overhead); when
//! it is full, slices last seen in an earlier hour are dropped, and a new slice that still
//! finds no room does not match, so a flood of new values cannot keep everything.
//!
//! The policy counts the traces it evaluates. Since the first matching policy decides,
//! traces kept by an earlier policy are not counted: place it first to count every trace.

use super::is_llm;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use tracegate_model::{Span, Trace, attr, keys};

const NS_PER_HOUR: u64 = 3_600 * 1_000_000_000;

/// One dimension of a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dimension {
    Model,
    Provider,
    Operation,
    Service,
    /// A span (or else resource) attribute.
    Attribute(String),
}

impl Dimension {
    /// Parses a `by` entry.
    pub(crate) fn parse(text: &str) -> Option<Dimension> {
        Some(match text {
            "model" => Self::Model,
            "provider" => Self::Provider,
            "operation" => Self::Operation,
            "service" => Self::Service,
            "prompt_version" => Self::Attribute("gen_ai.prompt.version".to_owned()),
            _ => Self::Attribute(text.strip_prefix("attribute:")?.to_owned()),
        })
    }

    fn value<'a>(&self, span: &'a Span) -> Option<&'a str> {
        let a = &span.attributes;
        match self {
            Self::Model => attr::get_str(a, keys::GEN_AI_REQUEST_MODEL)
                .or_else(|| attr::get_str(a, keys::GEN_AI_RESPONSE_MODEL)),
            Self::Provider => attr::get_str(a, keys::GEN_AI_PROVIDER_NAME),
            Self::Operation => attr::get_str(a, keys::GEN_AI_OPERATION_NAME),
            Self::Service => Some(span.service_name()),
            Self::Attribute(k) => {
                attr::get_str(a, k).or_else(|| attr::get_str(&span.resource.attributes, k))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hour: u64,
    count: u32,
}

/// `first_per_slice`.
#[derive(Debug, Clone)]
pub struct FirstPerSlice {
    pub(crate) per_hour: u32,
    pub(crate) by: Vec<Dimension>,
    pub(crate) max_slices: usize,
    table: HashMap<u64, Slot>,
}

impl FirstPerSlice {
    pub(crate) fn new(per_hour: u32, by: Vec<Dimension>, max_slices: usize) -> Self {
        Self {
            per_hour,
            by,
            max_slices,
            table: HashMap::new(),
        }
    }

    fn slices(&self, trace: &Trace) -> Vec<u64> {
        let mut out: Vec<u64> = trace
            .spans
            .iter()
            .filter(|s| is_llm(s))
            .filter_map(|s| {
                let values: Vec<Option<&str>> = self.by.iter().map(|d| d.value(s)).collect();
                if values.iter().all(Option::is_none) {
                    return None;
                }
                let mut h = std::hash::DefaultHasher::new();
                values.hash(&mut h);
                Some(h.finish())
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// True when some slice of the trace has had fewer than `per_hour` traces this hour;
    /// then every slice of the trace counts it.
    pub(crate) fn evaluate(&mut self, trace: &Trace, now_ns: u64) -> bool {
        let hour = now_ns / NS_PER_HOUR;
        let slices = self.slices(trace);
        let count = |t: &HashMap<u64, Slot>, k: &u64| {
            t.get(k).filter(|s| s.hour == hour).map_or(0, |s| s.count)
        };
        let matched = slices.iter().any(|k| {
            count(&self.table, k) < self.per_hour
                && (self.table.contains_key(k) || self.table.len() < self.max_slices || {
                    self.table.retain(|_, s| s.hour == hour);
                    self.table.len() < self.max_slices
                })
        });
        if matched {
            for k in slices {
                let known = self.table.contains_key(&k);
                if !known && self.table.len() >= self.max_slices {
                    continue;
                }
                let slot = self.table.entry(k).or_insert(Slot { hour, count: 0 });
                if slot.hour != hour {
                    *slot = Slot { hour, count: 0 };
                }
                slot.count = slot.count.saturating_add(1);
            }
        }
        matched
    }

    /// Slices remembered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no slice is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}
