//! The two transports: OTLP/gRPC (`TraceService/Export` over one HTTP/2 channel per
//! connection, sending pre-encoded bytes) and OTLP/HTTP protobuf (`POST /v1/traces`).

use anyhow::Context as _;
use bytes::{BufMut as _, Bytes};
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use std::io::Write as _;
use std::time::Duration;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// The method every OTLP/gRPC trace receiver serves.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The method every OTLP/gRPC logs receiver serves.
const LOGS_EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
/// Time allowed to connect, and for one export call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How an export call went.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Accepted, with `rejected` spans refused by OTLP partial success.
    Accepted { rejected: u64 },
    /// Refused or failed: the status (`UNAVAILABLE`, `HTTP 503`, `TRANSPORT_ERROR`, …).
    Refused(String),
}

/// One connection to the endpoint.
#[derive(Debug)]
pub(crate) enum Client {
    Grpc(tonic::client::Grpc<Channel>, &'static str),
    Http {
        client: reqwest::Client,
        url: reqwest::Url,
        gzip: bool,
    },
}

impl Client {
    /// Connects a gRPC channel to `endpoint` (`http://host:port`); fails if it cannot.
    pub(crate) async fn grpc(
        endpoint: &str,
        gzip: bool,
        signal: super::SignalArg,
    ) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .with_context(|| format!("invalid gRPC endpoint {endpoint}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot connect to {endpoint}"))?;
        let grpc = tonic::client::Grpc::new(channel);
        let grpc = if gzip {
            grpc.send_compressed(CompressionEncoding::Gzip)
        } else {
            grpc
        };
        let path = match signal {
            super::SignalArg::Traces => EXPORT_PATH,
            super::SignalArg::Logs => LOGS_EXPORT_PATH,
        };
        Ok(Self::Grpc(grpc, path))
    }

    /// An HTTP client for `url` (`http://host:port/v1/traces`) with its own connection.
    pub(crate) fn http(url: reqwest::Url, gzip: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self::Http { client, url, gzip })
    }

    /// One export call with `body`, an encoded `ExportTraceServiceRequest` (or logs request).
    pub(crate) async fn export(&mut self, body: Bytes) -> Outcome {
        match self {
            Self::Grpc(grpc, path) => {
                if let Err(e) = grpc.ready().await {
                    tracing::debug!(error = %e, "channel not ready");
                    return Outcome::Refused(code_name(Code::Unavailable));
                }
                let path = PathAndQuery::from_static(path);
                match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
                    Ok(response) => Outcome::Accepted {
                        rejected: rejected(response.into_inner()),
                    },
                    Err(status) => Outcome::Refused(code_name(status.code())),
                }
            }
            Self::Http { client, url, gzip } => {
                let mut request = client
                    .post(url.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                request = if *gzip {
                    match gzip_bytes(&body) {
                        Ok(compressed) => request
                            .header(http::header::CONTENT_ENCODING, "gzip")
                            .body(compressed),
                        Err(_) => return Outcome::Refused("GZIP_ERROR".to_owned()),
                    }
                } else {
                    request.body(body)
                };
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "HTTP export failed");
                        return Outcome::Refused("TRANSPORT_ERROR".to_owned());
                    }
                };
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                if status.is_success() {
                    Outcome::Accepted {
                        rejected: ExportTraceServiceResponse::decode(bytes)
                            .map(rejected)
                            .unwrap_or(0),
                    }
                } else {
                    Outcome::Refused(format!("HTTP {}", status.as_u16()))
                }
            }
        }
    }
}

fn rejected(response: ExportTraceServiceResponse) -> u64 {
    response
        .partial_success
        .map(|p| u64::try_from(p.rejected_spans).unwrap_or(0))
        .unwrap_or(0)
}

fn gzip_bytes(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// The gRPC status code's name, as in the gRPC spec (`RESOURCE_EXHAUSTED`).
fn code_name(code: Code) -> String {
    let name = match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    };
    name.to_owned()
}

/// Sends `Bytes` as they are (they already are an encoded request) and decodes the response
/// with prost. The logs response has the same wire form (`partial_success` = field 1, its
/// rejected count = field 1), so one decoder reads both.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("invalid response: {e}")))
    }
}
