//! One export attempt: an encoded `ExportTraceServiceRequest` sent with
//! `TraceService/Export` over a shared, lazily connected channel, and the answer classified.
//!
//! The request is encoded once, when the batch is queued, and every attempt sends the same
//! bytes. That is the generated `TraceServiceClient`'s call with a codec that passes the
//! bytes through instead of re-encoding the message on each retry; the queue holds compact
//! bytes instead of message trees, too.

use super::config::Compression;
use bytes::{BufMut, Bytes};
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The method every OTLP/gRPC trace receiver serves.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// How an attempt went.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Accepted; `rejected` spans were refused by the receiver (OTLP partial success) and
    /// must not be retried.
    Sent { rejected: u64, message: String },
    /// Might work later.
    Retryable(Status),
    /// Never will; drop the batch.
    Permanent(Status),
}

/// Sends encoded requests to one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct TraceClient {
    grpc: tonic::client::Grpc<Channel>,
    headers: MetadataMap,
}

impl TraceClient {
    /// A client over `channel`, which connects on first use and reconnects as needed.
    pub(crate) fn new(channel: Channel, compression: Compression, headers: MetadataMap) -> Self {
        let grpc = tonic::client::Grpc::new(channel);
        let grpc = match compression {
            Compression::Gzip => grpc.send_compressed(CompressionEncoding::Gzip),
            Compression::Zstd => grpc.send_compressed(CompressionEncoding::Zstd),
            Compression::None => grpc,
        };
        Self { grpc, headers }
    }

    /// One attempt.
    pub(crate) async fn export(&mut self, request: Bytes) -> Outcome {
        if let Err(e) = self.grpc.ready().await {
            return Outcome::Retryable(Status::unavailable(format!("channel not ready: {e}")));
        }
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.headers.clone();
        let path = PathAndQuery::from_static(EXPORT_PATH);
        match self.grpc.unary(request, path, EncodedCodec).await {
            Ok(response) => {
                let partial = response.into_inner().partial_success.unwrap_or_default();
                Outcome::Sent {
                    rejected: u64::try_from(partial.rejected_spans).unwrap_or(0),
                    message: partial.error_message,
                }
            }
            Err(status) if is_retryable(status.code()) => Outcome::Retryable(status),
            Err(status) => match broken_connection(&status) {
                Some(cause) => Outcome::Retryable(Status::unavailable(format!(
                    "the connection to the endpoint failed: {cause}"
                ))),
                None => Outcome::Permanent(status),
            },
        }
    }
}

/// The cause, when `status` is tonic's `Unknown` "transport error": the connection broke
/// under the request, not an answer of the endpoint. Retried like a failed connect. This is
/// how a TLS 1.3 server that requires a client certificate refuses one without: the
/// client's handshake completes, and the server's alert arrives with the first request.
fn broken_connection(status: &Status) -> Option<String> {
    use std::error::Error as _;
    if status.code() != Code::Unknown {
        return None;
    }
    let mut source = status.source();
    let mut transport = false;
    let mut causes = Vec::new();
    while let Some(e) = source {
        transport |= e.is::<tonic::transport::Error>();
        causes.push(e.to_string());
        source = e.source();
    }
    // Each level of the chain repeats or refines the last: the innermost two say most.
    let start = causes.len().saturating_sub(2);
    transport.then(|| causes[start..].join(": "))
}

/// Retryable gRPC codes, per the OTLP spec's table. `RESOURCE_EXHAUSTED` is retried too, since
/// backends such as Tempo use it for rate limits; the spec would retry it only with
/// `RetryInfo`. The metrics exporter uses the same table.
pub fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// Sends `Bytes` as they are and decodes the response with prost.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedCodec;
    type Decoder = EncodedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for EncodedCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for EncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("invalid response from the endpoint: {e}")))
    }
}
