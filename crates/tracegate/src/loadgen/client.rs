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
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracegate_tls::TlsClient;

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
    Grpc {
        grpc: tonic::client::Grpc<Channel>,
        path: &'static str,
        /// `authorization` metadata (`--bearer-token`), marked sensitive.
        auth: Option<AsciiMetadataValue>,
    },
    Http {
        client: reqwest::Client,
        url: reqwest::Url,
        gzip: bool,
        /// The `Authorization` header value (`--bearer-token`).
        auth: Option<http::HeaderValue>,
    },
}

/// `Bearer TOKEN`, marked sensitive so Debug does not show it.
pub(crate) fn bearer(token: &str) -> anyhow::Result<http::HeaderValue> {
    let mut value =
        http::HeaderValue::try_from(format!("Bearer {}", token.trim())).map_err(|_| {
            anyhow::anyhow!("--bearer-token: only visible ASCII characters are allowed")
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Connects over TLS for tonic's channel (`--tls-ca`).
#[derive(Debug, Clone)]
struct TlsConnector(TlsClient);

impl tonic::codegen::Service<http::Uri> for TlsConnector {
    type Response = hyper_util::rt::TokioIo<tracegate_tls::ClientTlsStream>;
    type Error = anyhow::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Self::Response>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<anyhow::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.0.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let stream = tls.connect(&host, port).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

impl Client {
    /// Connects a gRPC channel to `endpoint` (`http://host:port`, or `https://` with `tls`);
    /// fails if it cannot.
    pub(crate) async fn grpc(
        endpoint: &str,
        gzip: bool,
        signal: super::SignalArg,
        tls: Option<&TlsClient>,
        auth: Option<&http::HeaderValue>,
    ) -> anyhow::Result<Self> {
        let endpoint_config = Endpoint::from_shared(endpoint.to_owned())
            .with_context(|| format!("invalid gRPC endpoint {endpoint}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true);
        let channel = match tls {
            Some(tls) => {
                endpoint_config
                    .connect_with_connector(TlsConnector(tls.clone()))
                    .await
            }
            None => endpoint_config.connect().await,
        }
        .map_err(|e| {
            // tonic's error says only "transport error"; the cause is in its source.
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            anyhow::anyhow!("cannot connect to {endpoint}{cause}")
        })?;
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
        let auth = match auth {
            Some(value) => {
                let mut value = AsciiMetadataValue::try_from(value.as_bytes())
                    .context("--bearer-token: not a valid metadata value")?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self::Grpc { grpc, path, auth })
    }

    /// An HTTP client for `url` (`http://host:port/v1/traces`) with its own connection.
    pub(crate) fn http(
        url: reqwest::Url,
        gzip: bool,
        auth: Option<http::HeaderValue>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self::Http {
            client,
            url,
            gzip,
            auth,
        })
    }

    /// One export call with `body`, an encoded `ExportTraceServiceRequest` (or logs request).
    pub(crate) async fn export(&mut self, body: Bytes) -> Outcome {
        match self {
            Self::Grpc { grpc, path, auth } => {
                if let Err(e) = grpc.ready().await {
                    tracing::debug!(error = %e, "channel not ready");
                    return Outcome::Refused(code_name(Code::Unavailable));
                }
                let path = PathAndQuery::from_static(path);
                let mut request = tonic::Request::new(body);
                if let Some(auth) = auth {
                    request.metadata_mut().insert("authorization", auth.clone());
                }
                match grpc.unary(request, path, RawCodec).await {
                    Ok(response) => Outcome::Accepted {
                        rejected: rejected(response.into_inner()),
                    },
                    Err(status) => Outcome::Refused(code_name(status.code())),
                }
            }
            Self::Http {
                client,
                url,
                gzip,
                auth,
            } => {
                let mut request = client
                    .post(url.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                if let Some(auth) = auth {
                    request = request.header(http::header::AUTHORIZATION, auth.clone());
                }
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
