//! The Collector's stateless rules.

use super::Outcome;
use regex::RegexSet;
use tracegate_model::proto::common::v1::{KeyValue, any_value::Value};
use tracegate_model::{Span, Trace, attr};

/// `status_code`: a span has one of the statuses, indexed by OTLP status code
/// (UNSET = 0, OK = 1, ERROR = 2).
#[derive(Debug, Clone)]
pub struct StatusCodes(pub(crate) [bool; 3]);

impl StatusCodes {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace.spans.iter().any(|s| {
            usize::try_from(s.status.code)
                .ok()
                .and_then(|i| self.0.get(i))
                .copied()
                .unwrap_or(false)
        })
    }
}

/// `latency`: first start to last end, in whole ms, within the bounds.
#[derive(Debug, Clone)]
pub struct Latency {
    pub(crate) threshold_ms: u64,
    pub(crate) upper_threshold_ms: Option<u64>,
}

impl Latency {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let (mut start, mut end) = (u64::MAX, 0);
        for s in &trace.spans {
            start = start.min(s.start_time_unix_nano);
            end = end.max(s.end_time_unix_nano);
        }
        let ms = end.saturating_sub(start) / 1_000_000;
        ms >= self.threshold_ms && self.upper_threshold_ms.is_none_or(|u| ms <= u)
    }
}

/// The Collector's threshold for a ratio in [0, 1]: a trace is kept when its hash is at
/// or below it. `None` for 0 (never keep).
pub fn probabilistic_threshold(ratio: f64) -> Option<u64> {
    if ratio.is_nan() || ratio <= 0.0 {
        return None;
    }
    if ratio >= 1.0 {
        return Some(u64::MAX);
    }
    // u64::MAX × ratio, with ratio rounded to 53 bits: exact integer arithmetic.
    let scaled = (ratio * (1u64 << 53) as f64).round() as u128;
    Some(((u128::from(u64::MAX) * scaled) >> 53) as u64)
}

/// `probabilistic`: FNV-1a 64 of the salt then the trace id, at or below a threshold.
#[derive(Debug, Clone)]
pub struct Probabilistic {
    pub(crate) salt: Vec<u8>,
    pub(crate) threshold: Option<u64>,
    pub(crate) ratio: f64,
}

impl Probabilistic {
    pub(crate) fn evaluate(&self, trace: &Trace) -> Outcome {
        let matched = self
            .threshold
            .is_some_and(|t| fnv1a64(&self.salt, &trace.trace_id.0) <= t);
        Outcome {
            matched,
            probability: self.ratio,
        }
    }
}

fn fnv1a64(salt: &[u8], id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in salt.iter().chain(id) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// True when `f` holds for the value of `key` on some span or on its resource.
fn any_value(trace: &Trace, key: &str, mut f: impl FnMut(&Value) -> bool) -> bool {
    let mut on = |attrs: &[KeyValue]| attr::get(attrs, key).is_some_and(&mut f);
    let mut last_resource: Option<&tracegate_model::Resource> = None;
    for s in &trace.spans {
        if on(&s.attributes) {
            return true;
        }
        // Spans of one batch share their resource: look at each once in a row.
        let r = &*s.resource;
        if !last_resource.is_some_and(|l| std::ptr::eq(l, r)) {
            last_resource = Some(r);
            if on(&r.attributes) {
                return true;
            }
        }
    }
    false
}

/// How `string_attribute` compares.
#[derive(Debug, Clone)]
pub(crate) enum StringMatch {
    Exact(Vec<String>),
    Regex(RegexSet),
}

/// `string_attribute`.
#[derive(Debug, Clone)]
pub struct StringAttribute {
    pub(crate) key: String,
    pub(crate) values: StringMatch,
    pub(crate) invert: bool,
}

impl StringAttribute {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let found = any_value(trace, &self.key, |v| match v {
            Value::StringValue(s) => match &self.values {
                StringMatch::Exact(values) => values.iter().any(|x| x == s),
                StringMatch::Regex(set) => set.is_match(s),
            },
            _ => false,
        });
        found != self.invert
    }
}

/// `numeric_attribute`.
#[derive(Debug, Clone)]
pub struct NumericAttribute {
    pub(crate) key: String,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) invert: bool,
}

impl NumericAttribute {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let found = any_value(trace, &self.key, |v| {
            let x = match v {
                Value::IntValue(i) => *i as f64,
                Value::DoubleValue(d) => *d,
                _ => return false,
            };
            x >= self.min && x <= self.max
        });
        found != self.invert
    }
}

/// `boolean_attribute`.
#[derive(Debug, Clone)]
pub struct BooleanAttribute {
    pub(crate) key: String,
    pub(crate) value: bool,
    pub(crate) invert: bool,
}

impl BooleanAttribute {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let found = any_value(
            trace,
            &self.key,
            |v| matches!(v, Value::BoolValue(b) if *b == self.value),
        );
        found != self.invert
    }
}

/// `span_count`.
#[derive(Debug, Clone)]
pub struct SpanCount {
    pub(crate) min: u64,
    pub(crate) max: Option<u64>,
}

impl SpanCount {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let n = trace.spans.len() as u64;
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

/// `trace_state`.
#[derive(Debug, Clone)]
pub struct TraceStateRule {
    pub(crate) key: String,
    pub(crate) values: Vec<String>,
}

impl TraceStateRule {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace.spans.iter().any(|s| self.span_matches(s))
    }

    fn span_matches(&self, span: &Span) -> bool {
        // W3C: `key=value` list members separated by commas, with optional spaces.
        span.trace_state.split(',').any(|member| {
            member
                .trim()
                .split_once('=')
                .is_some_and(|(k, v)| k == self.key && self.values.iter().any(|x| x == v))
        })
    }
}
