//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` and
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export`, on one listener.
//!
//! tonic decodes the request (once; gzip and zstd accepted) and the handler, generic over the
//! request type ([`OtlpRequest`]), moves it into a span or log batch. A request for a signal
//! no pipeline takes from this receiver is refused with `UNIMPLEMENTED` before its body is
//! read. tonic also refuses a message over `max_decompressed_bytes`, both by its
//! length prefix (`OUT_OF_RANGE`) and while decompressing (`RESOURCE_EXHAUSTED`).
//!
//! A thin service around tonic's does what tonic cannot be told to:
//! - it refuses a message over `max_request_bytes` by its length prefix, and a body that
//!   streams past it, with `RESOURCE_EXHAUSTED` (not retryable under OTLP, since the same
//!   request would fail again);
//! - it turns tonic's `INTERNAL` for undecodable input (bad protobuf, corrupt compression)
//!   into `INVALID_ARGUMENT`, which OTLP prescribes for bad data;
//! - it records the outcome of every request that failed before reaching the handler;
//! - it admits each request to the receiver's byte budget, reserving the message as it
//!   arrives plus its decoded size, and refuses with `UNAVAILABLE` when the budget is full
//!   (`UNAVAILABLE` rather than `RESOURCE_EXHAUSTED`: OTLP clients retry `UNAVAILABLE`
//!   always, `RESOURCE_EXHAUSTED` only with a `RetryInfo` detail, and here
//!   `RESOURCE_EXHAUSTED` already means "too large, do not retry");
//! - it fails a message that has not arrived within `request_timeout` with
//!   `DEADLINE_EXCEEDED` (retryable), which frees what it held. Only the upload is timed,
//!   never the hand-off to the pipeline, which must not be cut off half-way.
//!
//! With `tls`, each accepted connection is handshaken before tonic sees it (see `secure.rs`).
//! Connections are capped by `max_connections` ([`GatedListener`]). Requests are capped at
//! `max_concurrent_requests` per listener (more get `UNAVAILABLE`), and each connection
//! advertises the same number as `SETTINGS_MAX_CONCURRENT_STREAMS`, so a well-behaved client
//! queues its calls instead of being refused, with tonic's per-connection concurrency limit
//! behind it.

use super::Limits;
use super::budget::{Budget, DECODED_BYTES_PER_BYTE, Reservation};
use super::connections::GatedListener;
use super::ingest::{Ingest, Reason, TENANT_HEADER};
use super::secure::{self, Peer};
use super::signal::{OtlpRequest, grpc_signal};
use axum::body::Body as AxumBody;
use bytes::Bytes;
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tracegate_auth::Tenancy;
use tracegate_model::Signal;
use tracegate_model::tenant::TenantError;
use tracegate_pipeline::{Refused, telemetry};
use tracegate_tls::TlsAcceptor;

/// The label for metrics.
const TRANSPORT: &str = "grpc";

/// Serves OTLP/gRPC on `listener` until `stop` is cancelled, then finishes the requests in
/// flight and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    budget: Arc<Budget>,
    limits: Limits,
    tls: Option<Arc<TlsAcceptor>>,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let open = telemetry::receiver_connections_gauge(ingest.id(), TRANSPORT);
    let listener = GatedListener::new(listener, limits.max_connections, open);
    let incoming = secure::incoming(listener, tls);
    let service = GuardedService::new(ingest, budget, limits);
    let streams = u32::try_from(limits.max_concurrent_requests).unwrap_or(u32::MAX);
    tonic::transport::Server::builder()
        .max_concurrent_streams(streams)
        .concurrency_limit_per_connection(limits.max_concurrent_requests)
        // A peer that vanished without closing answers no PING: its connection is closed, so
        // it stops holding one of the `max_connections`.
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .serve_with_incoming_shutdown(service, incoming, stop.cancelled_owned())
        .await
}

/// Marks, through the request's extensions, that the handler ran, so the outer service knows
/// the outcome was already recorded.
#[derive(Debug, Clone)]
struct HandlerRan(Arc<AtomicBool>);

/// Whose request it is, decided from its credential before its body was read; reached by
/// the handler through the extensions.
#[derive(Debug, Clone)]
struct Authorized(Tenancy);

/// The request's share of the byte budget, reached by the handler through the extensions.
#[derive(Debug, Clone)]
struct Held(Arc<Reservation>);

/// The `TraceService` and `LogsService` implementation.
#[derive(Debug)]
struct Handler {
    ingest: Arc<Ingest>,
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.export(request).await
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.export(request).await
    }
}

impl Handler {
    /// Checks the tenant and the decoded size, then ingests the request.
    async fn export<R: OtlpRequest + Send>(
        &self,
        request: Request<R>,
    ) -> Result<Response<R::Response>, Status> {
        let signal = R::SIGNAL.as_str();
        if let Some(ran) = request.extensions().get::<HandlerRan>() {
            ran.0.store(true, Ordering::Release);
        }
        // An uncompressed message had its decoded size reserved from its length prefix; a
        // compressed one's is only known now.
        let compressed = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v.as_bytes() != b"identity");
        // Set by `GuardedService::call` for every request; without it, nothing is accepted.
        let Some(Authorized(tenancy)) = request.extensions().get::<Authorized>().cloned() else {
            return Err(Status::internal("the request was not authenticated"));
        };
        let tenant = self.ingest.tenant(
            &tenancy,
            request.metadata().get(TENANT_HEADER).map(|v| v.as_bytes()),
        );
        let tenant = match tenant {
            Ok(tenant) => tenant,
            Err(e) => {
                let (reason, status) = match e {
                    TenantError::Missing => (
                        Reason::Unauthenticated,
                        Status::unauthenticated(e.to_string()),
                    ),
                    _ => (Reason::BadRequest, Status::invalid_argument(e.to_string())),
                };
                self.ingest
                    .failed(TRANSPORT, signal, reason, &e.to_string());
                return Err(status);
            }
        };
        let held = request.extensions().get::<Held>().cloned();
        let request = request.into_inner();
        if let (true, Some(Held(reservation))) = (compressed, &held) {
            let decoded = request.encoded_len().saturating_mul(DECODED_BYTES_PER_BYTE);
            if let Err(over) = reservation.grow(decoded) {
                let message = over.message();
                self.ingest
                    .refused_items::<R>(TRANSPORT, Reason::MemoryLimit, request.items());
                self.ingest
                    .failed(TRANSPORT, signal, Reason::MemoryLimit, &message);
                return Err(Status::unavailable(message));
            }
        }
        match self.ingest.ingest(TRANSPORT, request, tenant).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Refused::TooLarge) => {
                Err(Status::resource_exhausted(Refused::TooLarge.to_string()))
            }
            Err(refused) => Err(Status::unavailable(refused.to_string())),
        }
    }
}

/// tonic's generated server with the request-size guard, the byte budget, the upload
/// timeout and outcome recording around it.
#[derive(Debug, Clone)]
struct GuardedService {
    /// Both generated servers, routed by path; other paths get `UNIMPLEMENTED`.
    inner: Routes,
    ingest: Arc<Ingest>,
    budget: Arc<Budget>,
    limits: Limits,
    /// One permit per request being handled on this listener (`max_concurrent_requests`).
    requests: Arc<Semaphore>,
}

impl GuardedService {
    fn new(ingest: Arc<Ingest>, budget: Arc<Budget>, limits: Limits) -> Self {
        let handler = Arc::new(Handler {
            ingest: ingest.clone(),
        });
        // The same compressions and decoded-size limit for both signals.
        let traces = TraceServiceServer::from_arc(handler.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(limits.max_decompressed_bytes);
        let logs = LogsServiceServer::from_arc(handler)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(limits.max_decompressed_bytes);
        let inner = Routes::new(traces).add_service(logs);
        Self {
            inner,
            ingest,
            budget,
            limits,
            requests: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        }
    }
}

impl Service<http::Request<tonic::body::Body>> for GuardedService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The generated server is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let deadline = Instant::now() + self.limits.request_timeout;
        let signal = grpc_signal(request.uri().path());
        let label = signal.map_or("unknown", Signal::as_str);
        // These refusals come before a byte of the body is read.
        let refuse = |reason: Reason, message: String| -> Self::Future {
            self.ingest.failed(TRANSPORT, label, reason, &message);
            let response = match reason {
                Reason::NoPipeline => Status::unimplemented(message),
                Reason::Unauthenticated => {
                    let mut status = Status::unauthenticated(message);
                    status.metadata_mut().insert(
                        "www-authenticate",
                        tonic::metadata::MetadataValue::from_static(
                            tracegate_auth::WWW_AUTHENTICATE,
                        ),
                    );
                    status
                }
                Reason::TenantMismatch => Status::permission_denied(message),
                _ => Status::unavailable(message),
            }
            .into_http();
            Box::pin(async move { Ok(response) })
        };
        // Credentials first, from the headers alone: an unauthenticated client learns
        // nothing of the receiver and costs no body read.
        let header = |name: &str| request.headers().get(name).map(|v| v.as_bytes());
        let tenancy = match self.ingest.authenticate(
            TRANSPORT,
            header(http::header::AUTHORIZATION.as_str()),
            header(TENANT_HEADER),
            request.extensions().get::<Peer>(),
        ) {
            Ok(tenancy) => tenancy,
            Err(e) if e.reason.is_forbidden() => return refuse(Reason::TenantMismatch, e.message),
            Err(e) => return refuse(Reason::Unauthenticated, e.message),
        };
        if let Some(Err(message)) = signal.map(|s| self.ingest.serves(s)) {
            return refuse(Reason::NoPipeline, message);
        }
        let Ok(slot) = self.requests.clone().try_acquire_owned() else {
            let message = format!(
                "the receiver is handling its limit of concurrent requests \
                 (max_concurrent_requests {}), retry later",
                self.limits.max_concurrent_requests
            );
            return refuse(Reason::Overloaded, message);
        };
        let reservation = match self.budget.admit() {
            Ok(reservation) => Arc::new(reservation),
            Err(over) => return refuse(Reason::MemoryLimit, over.message()),
        };
        let ran = Arc::new(AtomicBool::new(false));
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(HandlerRan(ran.clone()));
        parts.extensions.insert(Authorized(tenancy));
        parts.extensions.insert(Held(reservation.clone()));
        let guard = BodyGuard {
            limit: self.limits.max_request_bytes,
            reservation: reservation.clone(),
            prefix: [0; 5],
            prefix_len: 0,
            seen: 0,
        };
        let body = guard.wrap(body, deadline, self.limits.request_timeout);
        let response = self.inner.call(http::Request::from_parts(parts, body));
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let response = response.await;
            // Held until the request is answered.
            drop((reservation, slot));
            let response = response?;
            if ran.load(Ordering::Acquire) {
                return Ok(response);
            }
            Ok(failed_early(&ingest, label, response))
        })
    }
}

/// Records a request that failed before the handler, and gives undecodable input the status
/// OTLP prescribes.
fn failed_early(
    ingest: &Ingest,
    signal: &'static str,
    response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let status = response
        .extensions()
        .get::<Status>()
        .map(|s| Status::new(s.code(), s.message()))
        .or_else(|| Status::from_header_map(response.headers()));
    let Some(status) = status else {
        return response;
    };
    if status.code() == Code::Ok {
        return response;
    }
    let reason = match status.code() {
        Code::ResourceExhausted | Code::OutOfRange => Reason::TooLarge,
        Code::Unimplemented => Reason::Unsupported,
        // Only the body guard fails a request with these before the handler.
        Code::Unavailable => Reason::MemoryLimit,
        Code::DeadlineExceeded => Reason::Timeout,
        _ => Reason::BadRequest,
    };
    ingest.failed(TRANSPORT, signal, reason, status.message());
    if status.code() != Code::Internal {
        return response;
    }
    // tonic reports what it could not decode or decompress as INTERNAL; for a server that
    // only decodes before its handler runs, that is always the client's input.
    let message = if status
        .message()
        .starts_with("failed to decode Protobuf message")
    {
        format!("invalid protobuf: {}", status.message())
    } else {
        format!("invalid request: {}", status.message())
    };
    Status::invalid_argument(message).into_http()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Checks a gRPC request body as it streams in: its size against `max_request_bytes` (from
/// the message's length prefix, and by counting), its bytes against the budget.
#[derive(Debug)]
struct BodyGuard {
    limit: usize,
    reservation: Arc<Reservation>,
    /// gRPC frames a message as a 1-byte compressed flag and a 4-byte big-endian length.
    prefix: [u8; 5],
    prefix_len: usize,
    seen: usize,
}

impl BodyGuard {
    /// The body, failing with `RESOURCE_EXHAUSTED` once known to be over the limit,
    /// `UNAVAILABLE` once over the budget, and `DEADLINE_EXCEEDED` at `deadline`.
    fn wrap(
        self,
        body: tonic::body::Body,
        deadline: Instant,
        timeout: std::time::Duration,
    ) -> AxumBody {
        let stream = AxumBody::new(body).into_data_stream();
        let chunks = futures::stream::unfold(Some((stream, self)), move |state| async move {
            let (mut stream, mut guard) = state?;
            let item = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => Err(Box::new(Status::deadline_exceeded(format!(
                    "the request message did not arrive within request_timeout ({timeout:?}, \
                     {} bytes received); retry, or send smaller requests",
                    guard.seen
                ))) as BoxError),
                Ok(None) => return None,
                Ok(Some(Err(e))) => Err(Box::new(e) as BoxError),
                Ok(Some(Ok(chunk))) => guard.check(&chunk).map(|()| chunk),
            };
            // After an error the stream ends.
            let next = item.is_ok().then_some((stream, guard));
            Some((item, next))
        });
        AxumBody::from_stream(chunks)
    }

    fn check(&mut self, chunk: &Bytes) -> Result<(), BoxError> {
        let limit = self.limit;
        let too_large = move |size: String| -> BoxError {
            Box::new(Status::resource_exhausted(format!(
                "request message is {size} bytes, over max_request_bytes ({limit} bytes)"
            )))
        };
        let over = |over: super::budget::OverBudget| -> BoxError {
            Box::new(Status::unavailable(over.message()))
        };
        if self.prefix_len < self.prefix.len() {
            let take = (self.prefix.len() - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&chunk[..take]);
            self.prefix_len += take;
            if self.prefix_len == self.prefix.len() {
                let [flag, a, b, c, d] = self.prefix;
                let length = u32::from_be_bytes([a, b, c, d]) as usize;
                if length > limit {
                    return Err(too_large(length.to_string()));
                }
                if flag == 0 {
                    // Uncompressed: the decoded request's size is known from here.
                    self.reservation
                        .grow(length.saturating_mul(DECODED_BYTES_PER_BYTE))
                        .map_err(over)?;
                }
            }
        }
        self.seen = self.seen.saturating_add(chunk.len());
        if self.seen > limit.saturating_add(self.prefix.len()) {
            return Err(too_large(format!("more than {limit}")));
        }
        self.reservation.grow(chunk.len()).map_err(over)
    }
}
