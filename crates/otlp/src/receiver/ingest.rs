//! What both transports do with a decoded request of either signal: validate the spans or
//! log records, hand the valid ones to the pipelines, build the OTLP response, and record
//! the outcome.

use super::secure::Peer;
use super::signal::OtlpRequest;
use std::sync::Arc;
use tokio::sync::RwLock;
use tracegate_auth::{AuthError, Authenticator, ClientCertificate, Tenancy};
use tracegate_model::Signal;
use tracegate_model::tenant::{TenantError, validate_tenant};
use tracegate_pipeline::{Refused, SpanSender, telemetry};

/// Why a request was turned away before its spans or records reached the pipeline. Each is
/// a `reason` label in the receiver metrics.
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
    /// No valid credential (`auth:`), or multi-tenancy is on and the request names no
    /// tenant (HTTP 401, gRPC `UNAUTHENTICATED`).
    Unauthenticated,
    /// `X-Scope-OrgID` names a tenant other than the credential's (HTTP 403, gRPC
    /// `PERMISSION_DENIED`).
    TenantMismatch,
    /// No pipeline of the request's signal lists this receiver (HTTP 404, gRPC
    /// `UNIMPLEMENTED`).
    NoPipeline,
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
            Reason::TenantMismatch => "tenant_mismatch",
            Reason::NoPipeline => "no_pipeline",
        }
    }
}

/// The receiver's shared state: its id and its way into the pipelines of both signals.
///
/// The sender sits behind a lock so that [`Ingest::close`] can take it away when the receiver
/// stops: requests still in flight finish (a send waits at most the pipeline's `refuse_after`),
/// later ones are refused as shutting down, and no handle outlives the receiver.
#[derive(Debug)]
pub(crate) struct Ingest {
    id: String,
    output: RwLock<Option<SpanSender>>,
    multitenancy: bool,
    /// Who may send (`auth:`); open without it.
    auth: Arc<Authenticator>,
    /// The listener names in `tracegate_auth_failures_total` (`ID/grpc`, `ID/http`), as
    /// the TLS metrics name them.
    grpc_listener: String,
    http_listener: String,
    /// Whether a `traces` / a `logs` pipeline lists the receiver (fixed at start).
    takes_traces: bool,
    takes_logs: bool,
}

/// The header (gRPC metadata key, lowercase) that names a request's tenant.
pub(crate) const TENANT_HEADER: &str = "x-scope-orgid";

impl Ingest {
    pub(crate) fn new(
        id: String,
        output: SpanSender,
        multitenancy: bool,
        auth: Arc<Authenticator>,
    ) -> Self {
        Self {
            grpc_listener: format!("{id}/grpc"),
            http_listener: format!("{id}/http"),
            auth,
            id,
            takes_traces: output.takes_traces(),
            takes_logs: output.takes_logs(),
            output: RwLock::new(Some(output)),
            multitenancy,
        }
    }

    /// Whether some pipeline of `signal` lists this receiver; if none does, the message to
    /// answer with, which says how to fix the config.
    pub(crate) fn serves(&self, signal: Signal) -> Result<(), String> {
        let takes = match signal {
            Signal::Traces => self.takes_traces,
            Signal::Logs => self.takes_logs,
        };
        if takes {
            return Ok(());
        }
        let signal = signal.as_str();
        Err(format!(
            "receiver {id} feeds no {signal} pipeline, so it does not accept {signal}: add a \
             `{signal}` pipeline that lists it (service.pipelines.{signal}.receivers: [{id}])",
            id = self.id
        ))
    }

    /// Checks a request's credential (`authorization`, or the connection's client
    /// certificate) and decides whose data it is; a refusal is counted and logged by the
    /// authenticator. Runs before the body is read.
    pub(crate) fn authenticate(
        &self,
        transport: &'static str,
        authorization: Option<&[u8]>,
        org_id: Option<&[u8]>,
        peer: Option<&Peer>,
    ) -> Result<Tenancy, AuthError> {
        let listener = match transport {
            "grpc" => &self.grpc_listener,
            _ => &self.http_listener,
        };
        let common_name = peer.and_then(|p| p.client.as_ref());
        self.auth.decide(&tracegate_auth::Request {
            listener,
            peer: peer.and_then(|p| p.remote_addr),
            authorization,
            org_id,
            client_certificate: common_name.map(|c| ClientCertificate {
                common_name: c.subject_cn.as_deref(),
            }),
            multitenancy: self.multitenancy,
            federation: false,
        })
    }

    /// The tenant of an authenticated request: the credential's, or the one its
    /// `X-Scope-OrgID` value names. Without multi-tenancy the header is ignored and the
    /// data is the single tenant's (`None`).
    pub(crate) fn tenant(
        &self,
        tenancy: &Tenancy,
        header: Option<&[u8]>,
    ) -> Result<Option<Arc<str>>, TenantError> {
        match tenancy {
            Tenancy::Single => return Ok(None),
            Tenancy::Credential(tenant) => return Ok(Some(tenant.clone())),
            Tenancy::FromHeader => {}
        }
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

    /// Validates `request`, sends its valid spans or records on, and answers with OTLP
    /// partial success for the invalid ones. A refusal means nothing was accepted and the
    /// client should retry.
    pub(crate) async fn ingest<R: OtlpRequest>(
        &self,
        transport: &'static str,
        request: R,
        tenant: Option<Arc<str>>,
    ) -> Result<R::Response, Refused> {
        let signal = R::SIGNAL.as_str();
        let label = tenant.clone(); // the counters' `tenant` label (None: multi-tenancy off)
        let (batch, rejections) = request.into_batch(tenant);
        if !rejections.is_empty() {
            let count = usize::try_from(rejections.count).unwrap_or(usize::MAX);
            R::count_refused(&self.id, transport, label.as_deref(), "invalid_id", count);
        }
        let items = R::batch_len(&batch);
        if items > 0 {
            let sent = match self.output.read().await.as_ref() {
                Some(output) => R::send(output, batch).await,
                None => Err(Refused::ShuttingDown),
            };
            if let Err(refused) = sent {
                R::count_refused(
                    &self.id,
                    transport,
                    label.as_deref(),
                    refused.reason(),
                    items,
                );
                telemetry::receiver_signal_request(&self.id, transport, signal, refused.reason());
                tracing::debug!(receiver = %self.id, transport, signal, items, reason = refused.reason(), "request refused");
                return Err(refused);
            }
            R::count_accepted(&self.id, transport, label.as_deref(), items);
        }
        if rejections.is_empty() {
            telemetry::receiver_signal_request(&self.id, transport, signal, "ok");
            return Ok(R::response(None));
        }
        let message = rejections.message();
        tracing::debug!(receiver = %self.id, transport, signal, accepted = items, %message, "partial success");
        telemetry::receiver_signal_request(&self.id, transport, signal, "partial");
        let rejected = i64::try_from(rejections.count).unwrap_or(i64::MAX);
        Ok(R::response(Some((rejected, message))))
    }

    /// The receiver's id, the `receiver` label.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Records spans or records of `R` refused before they reached the pipeline.
    pub(crate) fn refused_items<R: OtlpRequest>(
        &self,
        transport: &'static str,
        reason: Reason,
        items: usize,
    ) {
        R::count_refused(&self.id, transport, None, reason.label(), items);
    }

    /// Records a request turned away before decoding finished. `signal` is `traces`,
    /// `logs`, or `unknown` for a path that names neither.
    pub(crate) fn failed(
        &self,
        transport: &'static str,
        signal: &'static str,
        reason: Reason,
        message: &str,
    ) {
        tracing::debug!(receiver = %self.id, transport, signal, reason = reason.label(), message, "request rejected");
        telemetry::receiver_signal_request(&self.id, transport, signal, reason.label());
    }

    /// Drops the pipeline sender once requests in flight are done; later requests are refused
    /// as shutting down.
    pub(crate) async fn close(&self) {
        self.output.write().await.take();
    }
}
