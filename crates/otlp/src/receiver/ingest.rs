//! What both transports do with a decoded request: validate the spans, hand the valid ones to
//! the pipeline, build the OTLP response, and record the outcome.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;
use tokio::sync::RwLock;
use tracegate_model::SpanBatch;
use tracegate_model::tenant::{TenantError, validate_tenant};
use tracegate_pipeline::{Refused, SpanSender, telemetry};

/// Why a request was turned away before its spans reached the pipeline. Each is a `reason`
/// label in the receiver metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The body could not be decoded (protobuf, JSON, compression).
    BadRequest,
    /// Over `max_request_bytes` or `max_decompressed_bytes`.
    TooLarge,
    /// A Content-Type, Content-Encoding, compression or method this receiver does not serve.
    Unsupported,
    /// The receiver's in-flight byte budget (`max_in_flight_bytes`) is full; retryable.
    MemoryLimit,
    /// The body did not arrive within `request_timeout`; retryable.
    Timeout,
    /// The listener already handles `max_concurrent_requests` requests; retryable.
    Overloaded,
    /// Multi-tenancy is on and the request names no tenant.
    Unauthenticated,
}

impl Reason {
    /// The `reason` / `outcome` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::TooLarge => "too_large",
            Reason::Unsupported => "unsupported",
            Reason::MemoryLimit => "memory_limit",
            Reason::Timeout => "timeout",
            Reason::Overloaded => "overloaded",
            Reason::Unauthenticated => "unauthenticated",
        }
    }
}

/// The receiver's shared state: its id and its way into the pipelines.
///
/// The sender sits behind a lock so that [`Ingest::close`] can take it away when the receiver
/// stops: requests still in flight finish (a send waits at most the pipeline's `refuse_after`),
/// later ones are refused as shutting down, and no handle outlives the receiver.
#[derive(Debug)]
pub(crate) struct Ingest {
    id: String,
    output: RwLock<Option<SpanSender>>,
    multitenancy: bool,
}

/// The header (gRPC metadata key, lowercase) that names a request's tenant.
pub(crate) const TENANT_HEADER: &str = "x-scope-orgid";

impl Ingest {
    pub(crate) fn new(id: String, output: SpanSender, multitenancy: bool) -> Self {
        Self {
            id,
            output: RwLock::new(Some(output)),
            multitenancy,
        }
    }

    /// The tenant a request's `X-Scope-OrgID` value names. Without multi-tenancy the header
    /// is ignored and the data is the single tenant's (`None`).
    pub(crate) fn tenant(&self, header: Option<&[u8]>) -> Result<Option<Arc<str>>, TenantError> {
        if !self.multitenancy {
            return Ok(None);
        }
        let header = header.ok_or(TenantError::Missing)?;
        let id = std::str::from_utf8(header)
            .map_err(|_| TenantError::Character(char::REPLACEMENT_CHARACTER))?
            .trim();
        validate_tenant(id)?;
        Ok(Some(Arc::from(id)))
    }

    /// Validates `request`, sends its valid spans on, and answers with OTLP partial success
    /// for the invalid ones. A refusal means nothing was accepted and the client should retry.
    pub(crate) async fn ingest(
        &self,
        transport: &'static str,
        request: ExportTraceServiceRequest,
        tenant: Option<Arc<str>>,
    ) -> Result<ExportTraceServiceResponse, Refused> {
        let (batch, rejections) = SpanBatch::from_request_for(request, tenant);
        if !rejections.is_empty() {
            let count = usize::try_from(rejections.count).unwrap_or(usize::MAX);
            telemetry::receiver_refused(&self.id, transport, "invalid_id", count);
        }
        let spans = batch.len();
        if spans > 0 {
            let sent = match self.output.read().await.as_ref() {
                Some(output) => output.send(batch).await,
                None => Err(Refused::ShuttingDown),
            };
            if let Err(refused) = sent {
                telemetry::receiver_refused(&self.id, transport, refused.reason(), spans);
                telemetry::receiver_request(&self.id, transport, refused.reason());
                tracing::debug!(receiver = %self.id, transport, spans, reason = refused.reason(), "request refused");
                return Err(refused);
            }
            telemetry::receiver_accepted(&self.id, transport, spans);
        }
        if rejections.is_empty() {
            telemetry::receiver_request(&self.id, transport, "ok");
            return Ok(ExportTraceServiceResponse {
                partial_success: None,
            });
        }
        let message = rejections.message();
        tracing::debug!(receiver = %self.id, transport, accepted = spans, %message, "partial success");
        telemetry::receiver_request(&self.id, transport, "partial");
        Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: i64::try_from(rejections.count).unwrap_or(i64::MAX),
                error_message: message,
            }),
        })
    }

    /// The receiver's id, the `receiver` label.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Records spans refused before they reached the pipeline.
    pub(crate) fn refused_spans(&self, transport: &'static str, reason: Reason, spans: usize) {
        telemetry::receiver_refused(&self.id, transport, reason.label(), spans);
    }

    /// Records a request turned away before decoding finished.
    pub(crate) fn failed(&self, transport: &'static str, reason: Reason, message: &str) {
        tracing::debug!(receiver = %self.id, transport, reason = reason.label(), message, "request rejected");
        telemetry::receiver_request(&self.id, transport, reason.label());
    }

    /// Drops the pipeline sender once requests in flight are done; later requests are refused
    /// as shutting down.
    pub(crate) async fn close(&self) {
        self.output.write().await.take();
    }
}
