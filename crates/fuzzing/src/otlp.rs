//! OTLP request bodies: protobuf through prost and the model's batch builders, OTLP/JSON
//! through the receiver's JSON decoders and then the same builders.
//!
//! Checked on every decoded request: each span (log record) is either kept or rejected,
//! never lost or duplicated; a kept batch re-encodes to a request that decodes to the same
//! batch with no rejections (a fixpoint after one round); spans also survive the WAL's wire
//! encoding.

use prost::Message;
use tracegate_model::proto::collector::logs::v1::ExportLogsServiceRequest;
use tracegate_model::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracegate_model::{LogBatch, SpanBatch, wire};
use tracegate_otlp::receiver::{decode_json_logs_request, decode_json_request};

/// An OTLP `ExportTraceServiceRequest` in protobuf, as a gRPC or HTTP receiver decodes it.
pub fn otlp_traces_proto(data: &[u8]) {
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        check_traces(request);
    }
}

/// An OTLP `ExportLogsServiceRequest` in protobuf, as a gRPC or HTTP receiver decodes it.
pub fn otlp_logs_proto(data: &[u8]) {
    if let Ok(request) = ExportLogsServiceRequest::decode(data) {
        check_logs(request);
    }
}

/// An OTLP/JSON `ExportTraceServiceRequest`, as `POST /v1/traces` with
/// `Content-Type: application/json` decodes it.
pub fn otlp_traces_json(data: &[u8]) {
    if let Ok(request) = decode_json_request(data) {
        check_traces(request);
    }
}

/// An OTLP/JSON `ExportLogsServiceRequest`, as `POST /v1/logs` with
/// `Content-Type: application/json` decodes it.
pub fn otlp_logs_json(data: &[u8]) {
    if let Ok(request) = decode_json_logs_request(data) {
        check_logs(request);
    }
}

fn check_traces(request: ExportTraceServiceRequest) {
    let total: u64 = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum();
    let (batch, rejections) = SpanBatch::from_request(request);
    assert_eq!(
        batch.len() as u64 + rejections.count,
        total,
        "every span is kept or rejected"
    );
    let _ = rejections.message();

    let first = batch.to_request();
    let first_bytes = first.encode_to_vec();
    let (again, rejected) = SpanBatch::from_request(first);
    assert_eq!(rejected.count, 0, "a kept span is valid when sent again");
    assert_eq!(again.len(), batch.len());
    assert_eq!(
        again.to_request().encode_to_vec(),
        first_bytes,
        "re-encoding a batch is a fixpoint"
    );

    let mut wal = Vec::new();
    wire::encode_spans(&batch.spans, &mut wal);
    match wire::decode_spans(&wal) {
        Ok(decoded) => assert_eq!(decoded.len(), batch.len()),
        Err(e) => panic!("the WAL encoding of kept spans does not decode: {e}"),
    }
}

fn check_logs(request: ExportLogsServiceRequest) {
    let total: u64 = request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len() as u64)
        .sum();
    let (batch, rejections) = LogBatch::from_request(request);
    assert_eq!(
        batch.records.len() as u64 + rejections.count,
        total,
        "every log record is kept or rejected"
    );
    let _ = rejections.message();

    let first = batch.to_request();
    let first_bytes = first.encode_to_vec();
    let (again, rejected) = LogBatch::from_request(first);
    assert_eq!(rejected.count, 0, "a kept record is valid when sent again");
    assert_eq!(again.records.len(), batch.records.len());
    assert_eq!(
        again.to_request().encode_to_vec(),
        first_bytes,
        "re-encoding a batch is a fixpoint"
    );
}
