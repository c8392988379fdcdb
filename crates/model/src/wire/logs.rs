//! The log record's own message, encoded from a borrowed [`LogRecord`] (fields of
//! `opentelemetry.proto.logs.v1.LogRecord`, proto3 defaults left out).

use super::{WireItem, bytes, bytes_len, fixed64, fixed64_len, string, string_len, uint, uint_len};
use crate::log::LogRecord;
use crate::span::{Resource, Scope};
use prost::encoding::{WireType, encode_key, message};
use std::sync::Arc;

impl WireItem for LogRecord {
    fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }
    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }
    fn encoded_len(&self) -> usize {
        fixed64_len(1, self.time_unix_nano)
            + uint_len(2, severity(self))
            + string_len(3, &self.severity_text)
            + self.body.as_ref().map_or(0, |b| message::encoded_len(5, b))
            + message::encoded_len_repeated(6, &self.attributes)
            + uint_len(7, self.dropped_attributes_count.into())
            + if self.flags != 0 { 1 + 4 } else { 0 }
            + self.trace_id.map_or(0, |t| bytes_len(9, &t.0))
            + self.span_id.map_or(0, |s| bytes_len(10, &s.0))
            + fixed64_len(11, self.observed_time_unix_nano)
            + string_len(12, &self.event_name)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        fixed64(1, self.time_unix_nano, out);
        uint(2, severity(self), out);
        string(3, &self.severity_text, out);
        if let Some(body) = &self.body {
            message::encode(5, body, out);
        }
        message::encode_repeated(6, &self.attributes, out);
        uint(7, self.dropped_attributes_count.into(), out);
        if self.flags != 0 {
            // Field 8, fixed32: a one-byte key.
            encode_key(8, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&self.flags.to_le_bytes());
        }
        if let Some(t) = self.trace_id {
            bytes(9, &t.0, out);
        }
        if let Some(s) = self.span_id {
            bytes(10, &s.0, out);
        }
        fixed64(11, self.observed_time_unix_nano, out);
        string(12, &self.event_name, out);
    }
}

/// The severity number as protobuf writes an `int32` enum: negative values sign-extended.
fn severity(r: &LogRecord) -> u64 {
    i64::from(r.severity_number) as u64
}

#[cfg(test)]
mod tests {
    use crate::attr;
    use crate::ids::{SpanId, TraceId};
    use crate::log::{LogBatch, LogRecord};
    use crate::span::{Resource, Scope};
    use crate::wire::encode_logs;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValueList, any_value};
    use proptest::prelude::*;
    use prost::Message;
    use std::sync::Arc;

    fn record(
        resource: &Arc<Resource>,
        scope: &Arc<Scope>,
        n: u8,
        severity: i32,
        flags: u32,
    ) -> LogRecord {
        let body = match n % 3 {
            0 => None,
            1 => Some(attr::string_value(format!("body {n}"))),
            _ => Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![attr::int("n", i64::from(n)), attr::string("s", "x")],
                })),
            }),
        };
        LogRecord {
            resource: resource.clone(),
            scope: scope.clone(),
            time_unix_nano: u64::from(n) * 1_000,
            observed_time_unix_nano: if n.is_multiple_of(2) { 0 } else { 7 },
            severity_number: severity,
            severity_text: if n.is_multiple_of(2) {
                String::new()
            } else {
                "INFO".into()
            },
            body,
            attributes: (0..n % 4)
                .map(|i| attr::int(format!("k{i}"), i64::from(i)))
                .collect(),
            dropped_attributes_count: u32::from(n % 2),
            flags,
            trace_id: (!n.is_multiple_of(4)).then_some(TraceId([n | 1; 16])),
            span_id: (!n.is_multiple_of(5)).then_some(SpanId([n | 2; 8])),
            event_name: if n.is_multiple_of(3) {
                "gen_ai.evaluation.result".into()
            } else {
                String::new()
            },
            ..LogRecord::empty()
        }
    }

    proptest! {
        #[test]
        fn encodes_exactly_what_prost_writes(
            shape in prop::collection::vec((0u8..3, 0u8..2, any::<u8>(), -3i32..30, prop_oneof![Just(0u32), any::<u32>()]), 0..40)
        ) {
            let resources: Vec<_> = (0..3).map(|i| Arc::new(Resource::with_service(&format!("s{i}")))).collect();
            let scopes: Vec<_> = (0..2).map(|i| Arc::new(Scope { name: format!("scope{i}"), ..Default::default() })).collect();
            let records: Vec<LogRecord> = shape
                .iter()
                .map(|&(r, s, n, sev, flags)| record(&resources[r as usize], &scopes[s as usize], n, sev, flags))
                .collect();
            let batch = LogBatch { records };
            let mut ours = Vec::new();
            encode_logs(&batch.records, &mut ours);
            prop_assert_eq!(ours, batch.to_request().encode_to_vec());
        }
    }
}
