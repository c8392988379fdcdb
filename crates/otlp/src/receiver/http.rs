//! OTLP/HTTP: `POST /v1/traces` and `POST /v1/logs` with a protobuf or JSON body, answered in
//! the same format. Both paths are one handler, generic over the request type
//! ([`OtlpRequest`]), so the two signals have the same limits and statuses.
//!
//! Status codes follow the OTLP spec: 200 with partial success when some spans or log records
//! were invalid,
//! 400 for a body that cannot be decoded, 413 for one over a size limit, 415 for a
//! Content-Type or Content-Encoding this receiver does not read, 408 for a body that did not
//! arrive within `request_timeout`, 503 with `Retry-After` when the pipeline is full or
//! shutting down, the in-flight byte budget is full or the listener already handles
//! `max_concurrent_requests` (all retryable), 404 when no pipeline of the path's signal lists
//! this receiver, and 405 for other methods. Every error body is a `google.rpc.Status` whose
//! message says what was wrong.
//!
//! Before its body is read, a request takes a slot of `max_concurrent_requests` and is
//! admitted to the byte budget; both are given back when it is answered.

use super::body::{self, BodyError, Encoding};
use super::budget::{Budget, DECODED_BYTES_PER_BYTE, Reservation};
use super::connections::GatedListener;
use super::ingest::{Ingest, Reason, TENANT_HEADER};
use super::secure::Peer;
use super::signal::OtlpRequest;
use super::status::RpcStatus;
use super::{Limits, http_serve, json};
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracegate_model::tenant::TenantError;
use tracegate_pipeline::{Refused, telemetry};
use tracegate_tls::TlsAcceptor;

/// The label for metrics.
const TRANSPORT: &str = "http";
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The two body formats, which also pick the response's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// From a Content-Type header, ignoring parameters such as `charset`.
    fn from_content_type(value: Option<&str>) -> Option<Self> {
        let media = value?.split(';').next()?.trim().to_ascii_lowercase();
        match media.as_str() {
            PROTOBUF | "application/protobuf" => Some(Format::Protobuf),
            JSON => Some(Format::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

#[derive(Debug)]
struct HttpState {
    ingest: Arc<Ingest>,
    budget: Arc<Budget>,
    limits: Limits,
    /// One permit per request being handled (`max_concurrent_requests`).
    requests: Semaphore,
}

/// Serves OTLP/HTTP on `listener` until `stop` is cancelled, then finishes the requests in
/// flight and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    budget: Arc<Budget>,
    limits: Limits,
    tls: Option<Arc<TlsAcceptor>>,
    stop: CancellationToken,
) {
    let open = telemetry::receiver_connections_gauge(ingest.id(), TRANSPORT);
    let listener = GatedListener::new(listener, limits.max_connections, open);
    let app = router(ingest, budget, limits);
    http_serve::serve(listener, app, limits, tls, stop).await;
}

/// The routes; other paths get 404 and other methods 405.
fn router(ingest: Arc<Ingest>, budget: Arc<Budget>, limits: Limits) -> Router {
    let requests = Semaphore::new(limits.max_concurrent_requests);
    Router::new()
        .route(
            ExportTraceServiceRequest::HTTP_PATH,
            post(export::<ExportTraceServiceRequest>),
        )
        .route(
            ExportLogsServiceRequest::HTTP_PATH,
            post(export::<ExportLogsServiceRequest>),
        )
        .with_state(Arc::new(HttpState {
            ingest,
            budget,
            limits,
            requests,
        }))
        // Limits are enforced while streaming the body, see `body::read_limited`.
        .layer(DefaultBodyLimit::disable())
}

/// `POST` of an `R` export request.
async fn export<R: OtlpRequest + Send>(
    State(state): State<Arc<HttpState>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = Instant::now() + state.limits.request_timeout;
    let signal = R::SIGNAL.as_str();
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header_str(header::CONTENT_TYPE);
    // Credentials first: an unauthenticated client learns nothing of the receiver and
    // costs no body read.
    let tenancy = match state.ingest.authenticate(
        TRANSPORT,
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        headers.get(TENANT_HEADER).map(|v| v.as_bytes()),
        peer.as_ref().map(|Extension(p)| p),
    ) {
        Ok(tenancy) => tenancy,
        Err(e) => {
            let format = Format::from_content_type(content_type).unwrap_or(Format::Protobuf);
            if e.reason.is_forbidden() {
                return state.reject(format, signal, Reason::TenantMismatch, e.message);
            }
            let mut response = state.reject(format, signal, Reason::Unauthenticated, e.message);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(tracegate_auth::WWW_AUTHENTICATE),
            );
            return response;
        }
    };
    let Some(format) = Format::from_content_type(content_type) else {
        let message = format!(
            "unsupported Content-Type {:?}: send {PROTOBUF} or {JSON}",
            content_type.unwrap_or("")
        );
        return state.reject(Format::Protobuf, signal, Reason::Unsupported, message);
    };
    if let Err(message) = state.ingest.serves(R::SIGNAL) {
        return state.reject(format, signal, Reason::NoPipeline, message);
    }
    let tenant = match state
        .ingest
        .tenant(&tenancy, headers.get(TENANT_HEADER).map(|v| v.as_bytes()))
    {
        Ok(tenant) => tenant,
        Err(e @ TenantError::Missing) => {
            return state.reject(format, signal, Reason::Unauthenticated, e.to_string());
        }
        Err(e) => return state.reject(format, signal, Reason::BadRequest, e.to_string()),
    };
    // Both refusals come before the body is read, so they cost nothing but the headers.
    let Ok(_slot) = state.requests.try_acquire() else {
        let message = format!(
            "the receiver is handling its limit of concurrent requests \
             (max_concurrent_requests {}), retry later",
            state.limits.max_concurrent_requests
        );
        return state.reject(format, signal, Reason::Overloaded, message);
    };
    let reservation = match state.budget.admit() {
        Ok(reservation) => reservation,
        Err(over) => return state.reject(format, signal, Reason::MemoryLimit, over.message()),
    };
    // The reservation lives until the response is built: the bytes are held until then.
    match state
        .read::<R>(format, &headers, body, &reservation, deadline)
        .await
    {
        Ok(request) => state.ingest(format, request, tenant).await,
        Err(e) => state.reject(format, signal, e.reason, e.message),
    }
}

impl HttpState {
    /// Reads, decompresses and decodes the body, each within its limit, reserving the
    /// memory each step takes.
    async fn read<R: OtlpRequest>(
        &self,
        format: Format,
        headers: &HeaderMap,
        body: Body,
        reservation: &Reservation,
        deadline: Instant,
    ) -> Result<R, BodyError> {
        let encoding = Encoding::parse(
            headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        )?;
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let raw = body::read_limited(
            body,
            content_length,
            self.limits.max_request_bytes,
            reservation,
            deadline,
        )
        .await?;
        // The inflated buffer is reserved as it grows, inside `decompress`.
        let bytes = body::decompress(
            encoding,
            raw,
            self.limits.max_decompressed_bytes,
            reservation,
        )
        .await?;
        let over = |over: super::budget::OverBudget| BodyError {
            reason: Reason::MemoryLimit,
            message: over.message(),
        };
        reservation
            .grow(bytes.len().saturating_mul(DECODED_BYTES_PER_BYTE))
            .map_err(over)?;
        let bad = |message: String| BodyError {
            reason: Reason::BadRequest,
            message,
        };
        match format {
            Format::Protobuf => R::decode(bytes).map_err(|e| bad(format!("invalid protobuf: {e}"))),
            Format::Json => R::decode_json(&bytes).map_err(bad),
        }
    }

    async fn ingest<R: OtlpRequest>(
        &self,
        format: Format,
        request: R,
        tenant: Option<Arc<str>>,
    ) -> Response {
        match self.ingest.ingest(TRANSPORT, request, tenant).await {
            Ok(response) => {
                let body = match format {
                    Format::Protobuf => response.encode_to_vec(),
                    Format::Json => {
                        json::encode_response(R::REJECTED_JSON_KEY, R::partial(&response))
                    }
                };
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, format.content_type())],
                    body,
                )
                    .into_response()
            }
            Err(Refused::TooLarge) => error_response(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::ResourceExhausted,
                &Refused::TooLarge.to_string(),
            ),
            Err(refused) => retry_later(error_response(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                tonic::Code::Unavailable,
                &refused.to_string(),
            )),
        }
    }

    /// Records and answers a request turned away before its spans or records reached the
    /// pipeline.
    fn reject(
        &self,
        format: Format,
        signal: &'static str,
        reason: Reason,
        message: String,
    ) -> Response {
        self.ingest.failed(TRANSPORT, signal, reason, &message);
        let (status, code) = match reason {
            Reason::BadRequest => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
            Reason::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::ResourceExhausted,
            ),
            Reason::Unsupported => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::Unimplemented,
            ),
            Reason::Timeout => (StatusCode::REQUEST_TIMEOUT, tonic::Code::DeadlineExceeded),
            Reason::Unauthenticated => (StatusCode::UNAUTHORIZED, tonic::Code::Unauthenticated),
            Reason::TenantMismatch => (StatusCode::FORBIDDEN, tonic::Code::PermissionDenied),
            Reason::NoPipeline => (StatusCode::NOT_FOUND, tonic::Code::Unimplemented),
            Reason::MemoryLimit | Reason::Overloaded => {
                let response = error_response(
                    format,
                    StatusCode::SERVICE_UNAVAILABLE,
                    tonic::Code::Unavailable,
                    &message,
                );
                return retry_later(response);
            }
        };
        error_response(format, status, code, &message)
    }
}

/// Adds `Retry-After: 1` to a retryable refusal.
fn retry_later(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A `google.rpc.Status` body in the request's format.
fn error_response(
    format: Format,
    status: StatusCode,
    code: tonic::Code,
    message: &str,
) -> Response {
    let code = code as i32;
    let body = match format {
        Format::Protobuf => RpcStatus {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Format::Json => json::encode_status(code, message),
    };
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}
