//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! tonic decodes the request (once; gzip and zstd accepted) and the handler moves it into a
//! span batch. tonic also refuses a message over `max_decompressed_bytes`, both by its
//! length prefix (`OUT_OF_RANGE`) and while decompressing (`RESOURCE_EXHAUSTED`).
//!
//! A thin service around tonic's does what tonic cannot be told to:
//! - it refuses a message over `max_request_bytes` by its length prefix, and a body that
//!   streams past it, with `RESOURCE_EXHAUSTED` (not retryable under OTLP, since the same
//!   request would fail again);
//! - it turns tonic's `INTERNAL` for undecodable input (bad protobuf, corrupt compression)
//!   into `INVALID_ARGUMENT`, which OTLP prescribes for bad data;
//! - it records the outcome of every request that failed before reaching the handler.

use super::Limits;
use super::ingest::{Ingest, Reason};
use axum::body::Body as AxumBody;
use bytes::Bytes;
use futures::StreamExt;
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
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tracegate_pipeline::Refused;

/// The label for metrics.
const TRANSPORT: &str = "grpc";

/// Serves OTLP/gRPC on `listener` until `stop` is cancelled, then finishes the requests in
/// flight and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    limits: Limits,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let service = GuardedService::new(ingest, limits);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(service, incoming, stop.cancelled_owned())
        .await
}

/// Marks, through the request's extensions, that the handler ran, so the outer service knows
/// the outcome was already recorded.
#[derive(Debug, Clone)]
struct HandlerRan(Arc<AtomicBool>);

/// The `TraceService` implementation.
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
        if let Some(ran) = request.extensions().get::<HandlerRan>() {
            ran.0.store(true, Ordering::Release);
        }
        match self.ingest.ingest(TRANSPORT, request.into_inner()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Refused::Full) => Err(Status::unavailable("pipeline full, retry later")),
            Err(Refused::ShuttingDown) => Err(Status::unavailable(
                "the gateway is shutting down, retry later",
            )),
        }
    }
}

/// tonic's generated server with the request-size guard and outcome recording around it.
#[derive(Debug, Clone)]
struct GuardedService {
    inner: TraceServiceServer<Handler>,
    ingest: Arc<Ingest>,
    max_request_bytes: usize,
}

impl GuardedService {
    fn new(ingest: Arc<Ingest>, limits: Limits) -> Self {
        let inner = TraceServiceServer::new(Handler {
            ingest: ingest.clone(),
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(limits.max_decompressed_bytes);
        Self {
            inner,
            ingest,
            max_request_bytes: limits.max_request_bytes,
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
        let ran = Arc::new(AtomicBool::new(false));
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(HandlerRan(ran.clone()));
        let body = limit_body(body, self.max_request_bytes);
        let response = self.inner.call(http::Request::from_parts(parts, body));
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let response = response.await?;
            if ran.load(Ordering::Acquire) {
                return Ok(response);
            }
            Ok(failed_early(&ingest, response))
        })
    }
}

/// Records a request that failed before the handler, and gives undecodable input the status
/// OTLP prescribes.
fn failed_early(
    ingest: &Ingest,
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
        _ => Reason::BadRequest,
    };
    ingest.failed(TRANSPORT, reason, status.message());
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

/// Wraps the request body so that it fails with `RESOURCE_EXHAUSTED` as soon as it is known
/// to be over `limit`: from the message's length prefix, or by counting.
fn limit_body(body: tonic::body::Body, limit: usize) -> AxumBody {
    let too_large = move |size: String| -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(Status::resource_exhausted(format!(
            "request message is {size} bytes, over max_request_bytes ({limit} bytes)"
        )))
    };
    // gRPC frames a message as a 1-byte compressed flag and a 4-byte big-endian length.
    let mut prefix = [0u8; 5];
    let mut prefix_len = 0usize;
    let mut seen = 0usize;
    let stream = AxumBody::new(body).into_data_stream().map(move |chunk| {
        let chunk: Bytes =
            chunk.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        if prefix_len < prefix.len() {
            let take = (prefix.len() - prefix_len).min(chunk.len());
            prefix[prefix_len..prefix_len + take].copy_from_slice(&chunk[..take]);
            prefix_len += take;
            if prefix_len == prefix.len() {
                let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
                if length as usize > limit {
                    return Err(too_large(length.to_string()));
                }
            }
        }
        seen = seen.saturating_add(chunk.len());
        if seen > limit.saturating_add(prefix.len()) {
            return Err(too_large(format!("more than {limit}")));
        }
        Ok(chunk)
    });
    AxumBody::from_stream(stream)
}
