//! What the board is keyed by, and the one pass over a span's attributes that finds a
//! call's ids.
//!
//! An id is never stored: the index is keyed by two SipHash-1-3 values of (kind, tenant,
//! id), each under its own random key chosen when the board is made. A wrong join would
//! take two ids whose 128 bits of keyed hash agree: with 200,000 entries, about 2^-93 per
//! lookup, and no sender can aim for one without the keys.

use std::hash::BuildHasher;
use std::io::Write as _;
use tracegate_model::keys;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::proto::common::v1::any_value::Value;

/// Which id of a call a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum IdKind {
    Response = 1,
    Request = 2,
}

/// A 128-bit keyed hash of (kind, tenant, id).
pub(crate) type CallKey = [u64; 2];

/// A 64-bit keyed hash of a tenant, for the pending scores' keys.
pub(crate) type TenantKey = u64;

/// The random hash keys of one board.
#[derive(Debug, Clone)]
pub(crate) struct Hashers([std::hash::RandomState; 2]);

impl Hashers {
    pub(crate) fn new() -> Self {
        Self([std::hash::RandomState::new(), std::hash::RandomState::new()])
    }

    pub(crate) fn call(&self, kind: IdKind, tenant: &str, id: &str) -> CallKey {
        let parts = (kind as u8, tenant, id);
        [self.0[0].hash_one(parts), self.0[1].hash_one(parts)]
    }

    pub(crate) fn tenant(&self, tenant: &str) -> TenantKey {
        self.0[0].hash_one((0u8, tenant))
    }
}

/// An id as the index hashes it: a trimmed non-empty string, or an integer in decimal
/// (written to a stack buffer, so `123` and `"123"` are one id).
pub(crate) enum IdText<'a> {
    Str(&'a str),
    Int([u8; 20], usize),
}

impl IdText<'_> {
    pub(crate) fn of(value: &Value) -> Option<IdText<'_>> {
        match value {
            Value::StringValue(s) if !s.trim().is_empty() => Some(IdText::Str(s.trim())),
            Value::IntValue(i) => {
                let mut buf = [0u8; 20];
                let mut cursor = &mut buf[..];
                write!(cursor, "{i}").ok()?;
                let len = 20 - cursor.len();
                Some(IdText::Int(buf, len))
            }
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            IdText::Str(s) => s,
            // Only ASCII digits and `-` were written.
            IdText::Int(buf, len) => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
        }
    }
}

/// What one pass over a span's attributes found.
#[derive(Debug, Default)]
pub(crate) struct CallIds<'a> {
    pub response: Option<&'a Value>,
    /// The request id under the earliest of [`keys::REQUEST_ID_KEYS`] present, with its rank.
    pub request: Option<(usize, &'a Value)>,
    pub llm: bool,
}

impl CallIds<'_> {
    pub(crate) fn any(&self) -> bool {
        self.response.is_some() || self.request.is_some()
    }
}

/// The shortest key the scan cares about (`request_id`, `request.id`).
const SHORTEST: usize = 10;

/// One pass over `attributes`: the response id, the request id and whether the span is the
/// model call. Allocates nothing; most keys are passed over on their length or last byte.
pub(crate) fn scan(attributes: &[KeyValue]) -> CallIds<'_> {
    let mut found = CallIds::default();
    for kv in attributes {
        let key = kv.key.as_str();
        if key.len() < SHORTEST {
            continue;
        }
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        if key.ends_with("id") {
            if key == keys::GEN_AI_RESPONSE_ID {
                if let Some(v) = value {
                    found.response = Some(v);
                    found.llm = true;
                }
            } else if let Some(rank) = keys::REQUEST_ID_KEYS.iter().position(|k| *k == key)
                && let Some(v) = value
                && found.request.is_none_or(|(r, _)| rank <= r)
            {
                found.request = Some((rank, v));
            }
        } else if key == keys::GEN_AI_OPERATION_NAME || key == keys::GEN_AI_REQUEST_MODEL {
            found.llm = true;
        }
    }
    found
}
