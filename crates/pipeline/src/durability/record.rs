//! The bytes of one write-ahead-log record: which pipeline logged it and its spans, as they
//! left the span processors.
//!
//! ```text
//! +------+---------+----------+---------------+------------+--------+--------------------------------------+
//! | 0x54 | version | name len | pipeline name | tenant len | tenant | ExportTraceServiceRequest (protobuf) |
//! +------+---------+----------+---------------+------------+--------+--------------------------------------+
//!   1 B     1 B       1 B       name len B      1 B          len B    the rest
//! ```
//!
//! The tenant (version 2) is the [`Resource::tenant`](tracegate_model::Resource::tenant) of
//! the record's spans, which all come from one request; length 0 is the single tenant.
//! Version 1 records (no tenant) still decode, as the single tenant's.
//!
//! The spans are OTLP protobuf ([`tracegate_model::wire`]), so the log is readable with any
//! OTLP tooling and a change of the span representation does not change the format.
//!
//! A `logs` pipeline's record has the same header with magic `0x4C` (`L`) and holds an
//! `ExportLogsServiceRequest` ([`tracegate_model::wire::encode_logs`], from borrowed records).

use crate::sender::Batch;
use prost::Message;
use std::sync::Arc;
use tracegate_model::proto::collector::logs::v1::ExportLogsServiceRequest;
use tracegate_model::tenant::MAX_TENANT_LEN;
use tracegate_model::wire::{self, WireError};
use tracegate_model::{LogBatch, LogRecord, Span, SpanBatch};

const MAGIC: u8 = 0x54;
const LOGS_MAGIC: u8 = 0x4C;
const VERSION: u8 = 2;
const VERSION_1: u8 = 1;

/// A decoded record.
#[derive(Debug)]
pub struct Record {
    /// The pipeline that logged it (`traces`, `traces/NAME`).
    pub pipeline: String,
    /// Its spans or log records, with [`Origin::NONE`](tracegate_model::Origin::NONE).
    pub batch: Batch,
}

/// Why a record did not decode. The record is skipped and counted; it is never a panic.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a record this version writes.
    #[error("not a tracegate span record (header {0:?})")]
    Header(Vec<u8>),
    /// The pipeline name is not UTF-8 or is cut short.
    #[error("the record's pipeline name is damaged")]
    Name,
    /// The tenant is not UTF-8 or is cut short.
    #[error("the record's tenant is damaged")]
    Tenant,
    /// The spans did not decode.
    #[error(transparent)]
    Spans(#[from] WireError),
    /// The log records did not decode.
    #[error("not an OTLP logs request: {0}")]
    Logs(#[from] prost::DecodeError),
}

/// Appends the record of `spans` logged by `pipeline` to `out`. Pipeline names longer than
/// 255 bytes cannot occur (config ids are short), and are cut. The tenant is the first
/// span's: a record holds one request's spans, and receivers give them all one tenant.
pub fn encode_record(pipeline: &str, spans: &[Span], out: &mut Vec<u8>) {
    let tenant = spans
        .first()
        .and_then(|s| s.resource.tenant.as_deref())
        .unwrap_or_default();
    header(MAGIC, pipeline, tenant, out);
    wire::encode_spans(spans, out);
}

/// Appends the record of log `records` logged by the `logs` pipeline `pipeline` to `out`;
/// the tenant is the first record's, as for spans.
pub fn encode_log_record(pipeline: &str, records: &[LogRecord], out: &mut Vec<u8>) {
    let tenant = records
        .first()
        .and_then(|r| r.resource.tenant.as_deref())
        .unwrap_or_default();
    header(LOGS_MAGIC, pipeline, tenant, out);
    wire::encode_logs(records, out);
}

/// Appends the record of `batch`, of either signal.
pub fn encode_batch(pipeline: &str, batch: &Batch, out: &mut Vec<u8>) {
    match batch {
        Batch::Spans(b) => encode_record(pipeline, &b.spans, out),
        Batch::Logs(b) => encode_log_record(pipeline, &b.records, out),
    }
}

fn header(magic: u8, pipeline: &str, tenant: &str, out: &mut Vec<u8>) {
    let name = &pipeline.as_bytes()[..pipeline.len().min(255)];
    // Receivers only admit valid tenants, which are at most 150 bytes.
    let tenant = &tenant.as_bytes()[..tenant.len().min(MAX_TENANT_LEN)];
    out.reserve(4 + name.len() + tenant.len());
    out.push(magic);
    out.push(VERSION);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(tenant.len() as u8);
    out.extend_from_slice(tenant);
}

/// Decodes what [`encode_record`] wrote.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    let (logs, version, len, rest) = match bytes {
        [MAGIC, version @ (VERSION | VERSION_1), len, rest @ ..] => (false, version, len, rest),
        [LOGS_MAGIC, version @ VERSION, len, rest @ ..] => (true, version, len, rest),
        _ => return Err(RecordError::Header(bytes.iter().take(3).copied().collect())),
    };
    let len = usize::from(*len);
    let name = rest.get(..len).ok_or(RecordError::Name)?;
    let pipeline = std::str::from_utf8(name).map_err(|_| RecordError::Name)?;
    let mut rest = &rest[len..];
    let mut tenant = None;
    if *version == VERSION {
        let [len, after @ ..] = rest else {
            return Err(RecordError::Tenant);
        };
        let len = usize::from(*len);
        let name = after.get(..len).ok_or(RecordError::Tenant)?;
        let name = std::str::from_utf8(name).map_err(|_| RecordError::Tenant)?;
        tenant = (!name.is_empty()).then(|| Arc::<str>::from(name));
        rest = &after[len..];
    }
    let batch = if logs {
        let request = ExportLogsServiceRequest::decode(rest)?;
        let (batch, rejected) = LogBatch::from_request_for(request, tenant);
        if !rejected.is_empty() {
            return Err(RecordError::Spans(WireError::InvalidSpans(rejected.count)));
        }
        Batch::Logs(batch)
    } else {
        let mut batch = wire::decode_spans(rest)?;
        if tenant.is_some() {
            set_tenant(&mut batch, tenant);
        }
        Batch::Spans(batch)
    };
    Ok(Record {
        pipeline: pipeline.to_owned(),
        batch,
    })
}

/// Gives every resource of a decoded batch the record's tenant. Spans of one resource share
/// one `Arc`, so each distinct resource is copied once.
fn set_tenant(batch: &mut SpanBatch, tenant: Option<Arc<str>>) {
    let mut last: Option<(
        *const tracegate_model::Resource,
        Arc<tracegate_model::Resource>,
    )> = None;
    for span in &mut batch.spans {
        let key = Arc::as_ptr(&span.resource);
        match &last {
            Some((from, to)) if *from == key => span.resource = to.clone(),
            _ => {
                let mut resource = (*span.resource).clone();
                resource.tenant = tenant.clone();
                let resource = Arc::new(resource);
                last = Some((key, resource.clone()));
                span.resource = resource;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::span;

    #[test]
    fn round_trips_and_refuses_damage() {
        let spans = vec![span(1), span(2)];
        let mut out = Vec::new();
        encode_record("traces/llm", &spans, &mut out);
        let record = decode_record(&out).unwrap();
        assert_eq!(record.pipeline, "traces/llm");
        let spans_of = |b: Batch| match b {
            Batch::Spans(b) => b,
            Batch::Logs(_) => panic!("expected spans"),
        };
        assert_eq!(
            spans_of(record.batch).to_request(),
            SpanBatch {
                spans: spans.clone()
            }
            .to_request()
        );

        assert!(matches!(decode_record(b""), Err(RecordError::Header(_))));
        let mut tenanted = vec![span(3)];
        let resource = tracegate_model::Resource {
            tenant: Some("team-a".into()),
            ..(*tenanted[0].resource).clone()
        };
        tenanted[0].resource = Arc::new(resource);
        let mut out2 = Vec::new();
        encode_record("traces", &tenanted, &mut out2);
        let record = decode_record(&out2).unwrap();
        assert_eq!(spans_of(record.batch).spans[0].tenant(), "team-a");
        assert_eq!(
            spans_of(decode_record(&out).unwrap().batch).spans[0].tenant(),
            tracegate_model::DEFAULT_TENANT
        );

        // A version 1 record (before tenants) decodes as the single tenant's.
        let mut v1 = vec![MAGIC, VERSION_1, 6];
        v1.extend_from_slice(b"traces");
        wire::encode_spans(&spans, &mut v1);
        let record = decode_record(&v1).unwrap();
        assert_eq!(record.pipeline, "traces");
        assert_eq!(record.batch.len(), 2);

        assert!(matches!(
            decode_record(&[MAGIC, VERSION, 1, b'a', 9, b'x']),
            Err(RecordError::Tenant)
        ));
        assert!(matches!(
            decode_record(&[MAGIC, 9, 0]),
            Err(RecordError::Header(_))
        ));
        assert!(matches!(
            decode_record(&[MAGIC, VERSION, 5, b'a']),
            Err(RecordError::Name)
        ));
        let mut cut = out.clone();
        cut.truncate(out.len() - 3);
        assert!(matches!(decode_record(&cut), Err(RecordError::Spans(_))));
    }

    #[test]
    fn log_records_round_trip_with_their_tenant() {
        use tracegate_model::proto::logs::v1 as logs;
        let request = ExportLogsServiceRequest {
            resource_logs: vec![logs::ResourceLogs {
                scope_logs: vec![logs::ScopeLogs {
                    log_records: vec![logs::LogRecord {
                        body: Some(tracegate_model::attr::string_value("hello")),
                        trace_id: vec![1; 16],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let (batch, _) = LogBatch::from_request_for(request, Some("team-b".into()));
        let mut out = Vec::new();
        encode_batch("logs", &Batch::Logs(batch.clone()), &mut out);
        let record = decode_record(&out).unwrap();
        assert_eq!(record.pipeline, "logs");
        let Batch::Logs(back) = record.batch else {
            panic!("expected logs")
        };
        assert_eq!(back, batch);
        assert_eq!(back.records[0].tenant(), "team-b");
        let mut cut = out.clone();
        cut.truncate(out.len() - 2);
        assert!(matches!(decode_record(&cut), Err(RecordError::Logs(_))));
    }
}
