//! What the receiver does differently for traces and for logs, as one trait over the export
//! request type: [`OtlpRequest`], implemented by `ExportTraceServiceRequest` and
//! `ExportLogsServiceRequest`.
//!
//! Everything else — limits, decompression, the byte budget, tenancy, error statuses,
//! partial success, refusals and telemetry — is written once, generic over it, in
//! `grpc.rs`, `http.rs` and `ingest.rs`.

use super::json;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    logs_service_server,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server,
};
use std::future::Future;
use std::sync::Arc;
use tracegate_model::{LogBatch, Rejections, Signal, SpanBatch};
use tracegate_pipeline::{Refused, SpanSender, telemetry};

/// An OTLP export request of one signal, with what the receiver needs to know about it.
pub(crate) trait OtlpRequest: prost::Message + Default + Sized + 'static {
    /// The export response.
    type Response: prost::Message + Default + Send + 'static;
    /// What the request becomes in the pipeline.
    type Batch: Send;
    /// The signal, for the `signal` metrics label and messages.
    const SIGNAL: Signal;
    /// The OTLP/HTTP path.
    const HTTP_PATH: &'static str;
    /// The gRPC service (`package.Service`), the first segment of its request paths.
    const GRPC_SERVICE: &'static str;
    /// The response's count of rejected items in OTLP/JSON.
    const REJECTED_JSON_KEY: &'static str;

    /// How many spans or records the request carries.
    fn items(&self) -> usize;
    /// Moves the valid items into a batch for `tenant`; the invalid ones are described in
    /// the [`Rejections`].
    fn into_batch(self, tenant: Option<Arc<str>>) -> (Self::Batch, Rejections);
    /// How many items a batch holds.
    fn batch_len(batch: &Self::Batch) -> usize;
    /// Hands the batch to every pipeline of this signal, or refuses it whole.
    fn send(
        output: &SpanSender,
        batch: Self::Batch,
    ) -> impl Future<Output = Result<(), Refused>> + Send;
    /// The response: OK, or partial success with `(rejected, message)`.
    fn response(partial: Option<(i64, String)>) -> Self::Response;
    /// The partial success a response carries, as `(rejected, message)`.
    fn partial(response: &Self::Response) -> Option<(i64, &str)>;
    /// Decodes an OTLP/JSON body.
    fn decode_json(body: &[u8]) -> Result<Self, String>;
    /// Counts items accepted into the pipelines, of `tenant` with multi-tenancy (a bounded
    /// `tenant` label), `None` without (no label).
    fn count_accepted(receiver: &str, transport: &'static str, tenant: Option<&str>, items: usize);
    /// Counts items refused, by `reason`; `tenant` as in [`Self::count_accepted`].
    fn count_refused(
        receiver: &str,
        transport: &'static str,
        tenant: Option<&str>,
        reason: &'static str,
        items: usize,
    );
}

impl OtlpRequest for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    type Batch = SpanBatch;
    const SIGNAL: Signal = Signal::Traces;
    const HTTP_PATH: &'static str = "/v1/traces";
    const GRPC_SERVICE: &'static str = trace_service_server::SERVICE_NAME;
    const REJECTED_JSON_KEY: &'static str = "rejectedSpans";

    fn items(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    fn into_batch(self, tenant: Option<Arc<str>>) -> (SpanBatch, Rejections) {
        SpanBatch::from_request_for(self, tenant)
    }

    fn batch_len(batch: &SpanBatch) -> usize {
        batch.len()
    }

    fn send(
        output: &SpanSender,
        batch: SpanBatch,
    ) -> impl Future<Output = Result<(), Refused>> + Send {
        output.send(batch)
    }

    fn response(partial: Option<(i64, String)>) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }
    }

    fn partial(response: &ExportTraceServiceResponse) -> Option<(i64, &str)> {
        let p = response.partial_success.as_ref()?;
        Some((p.rejected_spans, &p.error_message))
    }

    fn decode_json(body: &[u8]) -> Result<Self, String> {
        json::decode_request(body)
    }

    fn count_accepted(receiver: &str, transport: &'static str, tenant: Option<&str>, items: usize) {
        telemetry::receiver_accepted_of(receiver, transport, tenant, items);
    }

    fn count_refused(
        receiver: &str,
        transport: &'static str,
        tenant: Option<&str>,
        reason: &'static str,
        items: usize,
    ) {
        telemetry::receiver_refused_of(receiver, transport, tenant, reason, items);
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    type Batch = LogBatch;
    const SIGNAL: Signal = Signal::Logs;
    const HTTP_PATH: &'static str = "/v1/logs";
    const GRPC_SERVICE: &'static str = logs_service_server::SERVICE_NAME;
    const REJECTED_JSON_KEY: &'static str = "rejectedLogRecords";

    fn items(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }

    fn into_batch(self, tenant: Option<Arc<str>>) -> (LogBatch, Rejections) {
        LogBatch::from_request_for(self, tenant)
    }

    fn batch_len(batch: &LogBatch) -> usize {
        batch.len()
    }

    fn send(
        output: &SpanSender,
        batch: LogBatch,
    ) -> impl Future<Output = Result<(), Refused>> + Send {
        output.send_logs(batch)
    }

    fn response(partial: Option<(i64, String)>) -> ExportLogsServiceResponse {
        ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }
    }

    fn partial(response: &ExportLogsServiceResponse) -> Option<(i64, &str)> {
        let p = response.partial_success.as_ref()?;
        Some((p.rejected_log_records, &p.error_message))
    }

    fn decode_json(body: &[u8]) -> Result<Self, String> {
        json::decode_logs_request(body)
    }

    fn count_accepted(receiver: &str, transport: &'static str, tenant: Option<&str>, items: usize) {
        telemetry::receiver_accepted_log_records_of(receiver, transport, tenant, items);
    }

    fn count_refused(
        receiver: &str,
        transport: &'static str,
        tenant: Option<&str>,
        reason: &'static str,
        items: usize,
    ) {
        telemetry::receiver_refused_log_records_of(receiver, transport, tenant, reason, items);
    }
}

/// The signal of a gRPC request path (`/package.Service/Method`), if it names one of the
/// services this receiver serves.
pub(crate) fn grpc_signal(path: &str) -> Option<Signal> {
    let service = path.strip_prefix('/')?.split('/').next()?;
    if service == <ExportTraceServiceRequest as OtlpRequest>::GRPC_SERVICE {
        Some(Signal::Traces)
    } else if service == <ExportLogsServiceRequest as OtlpRequest>::GRPC_SERVICE {
        Some(Signal::Logs)
    } else {
        None
    }
}
