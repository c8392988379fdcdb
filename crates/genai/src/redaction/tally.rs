//! What redaction did, counted, and the audit attributes that record it on a span.

use super::redactor::{BLOCKED_KEY, REDACTED_COUNT, REDACTED_PREFIX, Redactor, TRUNCATED};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// What redaction did to one span, resource or batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Findings per kind, indexed like the redactor's kinds.
    pub found: Vec<u64>,
    /// Attributes removed because their key is blocked.
    pub blocked: u64,
    /// Attributes removed by the `off` content policy.
    pub content_removed: u64,
    /// Attributes removed because a `drop` detector found something in them.
    pub dropped: u64,
    /// Values truncated to `max_attribute_bytes`.
    pub truncated: u64,
}

impl Tally {
    /// Zeroes every count, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.found.iter_mut().for_each(|n| *n = 0);
        self.blocked = 0;
        self.content_removed = 0;
        self.dropped = 0;
        self.truncated = 0;
    }

    /// Values redacted, blocked keys included: what `tracegate.redacted.count` says.
    pub fn redacted(&self) -> u64 {
        self.found.iter().sum::<u64>() + self.blocked
    }

    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.redacted() == 0 && self.content_removed == 0 && self.truncated == 0
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Tally) {
        if self.found.len() < other.found.len() {
            self.found.resize(other.found.len(), 0);
        }
        for (a, b) in self.found.iter_mut().zip(&other.found) {
            *a += b;
        }
        self.blocked += other.blocked;
        self.content_removed += other.content_removed;
        self.dropped += other.dropped;
        self.truncated += other.truncated;
    }
}

/// Sets an attribute, replacing an earlier one of the same key.
pub(crate) fn set_attr(attrs: &mut Vec<KeyValue>, key: &str, value: Value) {
    let value = Some(AnyValue { value: Some(value) });
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attrs.push(KeyValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
    }
}

impl Tally {
    /// Writes the audit attributes for this tally onto `attrs`: `tracegate.redacted.count`,
    /// one `tracegate.redacted.<type>` per type found, and `tracegate.truncated`.
    pub fn write_audit(&self, redactor: &Redactor, attrs: &mut Vec<KeyValue>) {
        let total = self.redacted();
        if total > 0 {
            set_attr(attrs, REDACTED_COUNT, Value::IntValue(clamp(total)));
            for (name, &n) in redactor.kind_names().zip(&self.found) {
                if n > 0 {
                    set_attr(
                        attrs,
                        &format!("{REDACTED_PREFIX}{name}"),
                        Value::IntValue(clamp(n)),
                    );
                }
            }
            if self.blocked > 0 {
                set_attr(
                    attrs,
                    &format!("{REDACTED_PREFIX}{BLOCKED_KEY}"),
                    Value::IntValue(clamp(self.blocked)),
                );
            }
        }
        if self.truncated > 0 {
            set_attr(attrs, TRUNCATED, Value::BoolValue(true));
        }
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
