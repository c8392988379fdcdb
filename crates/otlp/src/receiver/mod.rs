//! The OTLP receiver: OTLP/gRPC and OTLP/HTTP (protobuf and JSON) on their own listeners,
//! for traces and logs, feeding one [`SpanSender`](tracegate_pipeline::SpanSender).
//!
//! - `config.rs`: [`OtlpReceiverConfig`];
//! - `grpc.rs`: the gRPC services; `http.rs`: the HTTP routes; `http_serve.rs`: the HTTP
//!   connection loop; `body.rs`: HTTP body limits and decompression; `json/`: OTLP/JSON
//!   (shared mirrors, then `traces.rs` and `logs.rs`); `status.rs`: `google.rpc.Status`;
//! - `signal.rs`: what differs between traces and logs (`OtlpRequest`), so both transports
//!   serve both signals with one code path: the same limits, errors, partial success,
//!   refusals and tenancy; a signal no pipeline takes from the receiver is answered HTTP 404
//!   / gRPC `UNIMPLEMENTED`;
//! - `budget.rs`: the in-flight byte budget both listeners share; `connections.rs`: the cap
//!   on each listener's connections; `secure.rs`: TLS on a listener (`protocols.*.tls`,
//!   handshakes, the peer's identity), with certificates reloaded while running;
//! - `ingest.rs`: what both transports do with a decoded request.
//!
//! What bounds a receiver's memory, whatever clients do:
//! - each request: `max_request_bytes` on the wire, `max_decompressed_bytes` inflated, and
//!   `request_timeout` to arrive (HTTP 408 / gRPC `DEADLINE_EXCEEDED`);
//! - all requests together: `max_in_flight_bytes`, reserved step by step as a request is
//!   read, inflated and decoded, released when it is answered; a request that does not fit
//!   gets HTTP 503 with `Retry-After` / gRPC `UNAVAILABLE`, which OTLP clients retry;
//! - each listener: `max_connections` accepted at once (more wait in the backlog), and
//!   `max_concurrent_requests` handled at once;
//! - buffers grow with the bytes that arrive, never from a declared `Content-Length`.

mod body;
mod budget;
mod config;
mod connections;
mod grpc;
mod http;
mod http_serve;
mod ingest;
mod json;
mod secure;
mod signal;
mod status;
#[cfg(test)]
mod tests;

pub use body::decompress_body;
pub use config::{GrpcConfig, HttpConfig, OtlpReceiverConfig, Protocols};
/// Decodes one OTLP/JSON `ExportLogsServiceRequest` (as the HTTP receiver does on `/v1/logs`).
pub use json::decode_logs_request as decode_json_logs_request;
/// Decodes one OTLP/JSON `ExportTraceServiceRequest` (as the HTTP receiver does), for tools
/// that read OTLP/JSON files such as `tracegate explain`.
pub use json::decode_request as decode_json_request;
pub use status::RpcStatus;

use async_trait::async_trait;
use budget::Budget;
use ingest::Ingest;
use serde_yaml_ng::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracegate_pipeline::{
    BuildContext, ComponentError, ComponentId, ConfigError, Receiver, ReceiverContext,
    ReceiverFactory, telemetry,
};
use tracegate_tls::TlsAcceptor;

/// How long the listeners get, after shutdown starts, to finish the requests in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Builds [`OtlpReceiver`]s for `receivers.otlp` and `receivers.otlp/NAME`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpReceiverFactory;

impl ReceiverFactory for OtlpReceiverFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: Value,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Receiver>, ConfigError> {
        let config = OtlpReceiverConfig::from_section(&format!("receivers.{id}"), config)?;
        Ok(Box::new(
            OtlpReceiver::new(id.clone(), config)
                .with_multitenancy(ctx.multitenancy)
                .with_auth(ctx.auth.clone()),
        ))
    }
}

/// The limits both transports enforce, each per request or per listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_request_bytes: usize,
    pub(crate) max_decompressed_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_timeout: Duration,
}

/// Receives OTLP over gRPC and HTTP. [`Receiver::bind`] opens the listeners;
/// [`Receiver::run`] serves until shutdown.
#[derive(Debug)]
pub struct OtlpReceiver {
    id: ComponentId,
    config: OtlpReceiverConfig,
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
    grpc_tls: Option<Arc<TlsAcceptor>>,
    http_tls: Option<Arc<TlsAcceptor>>,
    multitenancy: bool,
    auth: Arc<tracegate_auth::Authenticator>,
}

impl OtlpReceiver {
    /// A receiver with this config. Opens nothing until [`Receiver::bind`].
    pub fn new(id: ComponentId, config: OtlpReceiverConfig) -> Self {
        Self {
            id,
            config,
            grpc: None,
            http: None,
            grpc_tls: None,
            http_tls: None,
            multitenancy: false,
            auth: Arc::new(tracegate_auth::Authenticator::open()),
        }
    }

    /// Requests must carry a credential `auth` accepts (the `auth:` section); without it
    /// every request is let through.
    pub fn with_auth(mut self, auth: Arc<tracegate_auth::Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// With multi-tenancy on, each request's tenant comes from its `X-Scope-OrgID` header,
    /// and a request without a valid one is refused (`service.multitenancy_enabled`).
    pub fn with_multitenancy(mut self, on: bool) -> Self {
        self.multitenancy = on;
        self
    }

    /// The gRPC listener's address once bound (useful with port 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP listener's address once bound (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.config.max_request_bytes.as_usize(),
            max_decompressed_bytes: self.config.max_decompressed_bytes.as_usize(),
            max_connections: self.config.max_connections,
            max_concurrent_requests: self.config.max_concurrent_requests,
            request_timeout: self.config.request_timeout.get(),
            header_read_timeout: self.config.header_read_timeout.get(),
            keepalive_interval: self.config.keepalive_interval.get(),
            keepalive_timeout: self.config.keepalive_timeout.get(),
        }
    }

    /// The TLS acceptor for a listener's `tls` section, its files loaded now.
    fn acceptor(
        &self,
        protocol: &str,
        tls: Option<&tracegate_tls::TlsServerConfig>,
    ) -> Result<Option<Arc<TlsAcceptor>>, ComponentError> {
        let Some(tls) = tls else { return Ok(None) };
        let key = protocol.to_ascii_lowercase();
        let alpn = match key.as_str() {
            "grpc" => tracegate_tls::ALPN_GRPC,
            _ => tracegate_tls::ALPN_HTTP,
        };
        let acceptor = TlsAcceptor::new(format!("{}/{key}", self.id), tls, alpn).map_err(|e| {
            ComponentError::Start {
                component: self.id.to_string(),
                message: format!(
                    "receivers.{}.protocols.{key}.tls.{}: {}",
                    self.id,
                    e.key,
                    e.message()
                ),
                source: None,
            }
        })?;
        Ok(Some(Arc::new(acceptor)))
    }

    async fn listen(
        &self,
        protocol: &str,
        endpoint: &str,
        tls: bool,
    ) -> Result<TcpListener, ComponentError> {
        let listener = TcpListener::bind(endpoint).await.map_err(|e| ComponentError::Start {
            component: self.id.to_string(),
            message: format!(
                "cannot listen for OTLP/{protocol} on {endpoint}: {e}; if another process holds \
                 the port, stop it or change receivers.{}.protocols.{}.endpoint",
                self.id,
                protocol.to_ascii_lowercase()
            ),
            source: Some(Box::new(e)),
        })?;
        let local = listener.local_addr().ok();
        let address = local.map_or_else(|| endpoint.to_owned(), |a| a.to_string());
        tracing::info!(receiver = %self.id, protocol, %address, tls, "listening");
        let public = local.is_some_and(|a| !a.ip().is_loopback());
        if public && !tls {
            tracing::warn!(
                receiver = %self.id,
                protocol,
                %address,
                "listening on a non-loopback address without TLS: telemetry (prompts and \
                 completions included) travels in the clear; set receivers.{}.protocols.{}.tls \
                 or listen on 127.0.0.1",
                self.id,
                protocol.to_ascii_lowercase()
            );
        }
        if public && !self.auth.is_on() {
            tracing::warn!(
                receiver = %self.id,
                protocol,
                %address,
                "listening on a non-loopback address without authentication: anyone who can \
                 reach it can send telemetry; add an `auth:` section (bearer_tokens or \
                 client_certificates) or listen on 127.0.0.1"
            );
        }
        Ok(listener)
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn bind(&mut self) -> Result<(), ComponentError> {
        if let (Some(grpc), None) = (&self.config.protocols.grpc, &self.grpc) {
            self.grpc_tls = self.acceptor("gRPC", grpc.tls.as_ref())?;
            let tls = self.grpc_tls.is_some();
            self.grpc = Some(self.listen("gRPC", &grpc.endpoint, tls).await?);
        }
        if let (Some(http), None) = (&self.config.protocols.http, &self.http) {
            self.http_tls = self.acceptor("HTTP", http.tls.as_ref())?;
            let tls = self.http_tls.is_some();
            self.http = Some(self.listen("HTTP", &http.endpoint, tls).await?);
        }
        Ok(())
    }

    async fn run(mut self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError> {
        self.bind().await?;
        let limits = self.limits();
        let ingest = Arc::new(Ingest::new(
            ctx.id.to_string(),
            ctx.output,
            self.multitenancy,
            self.auth.clone(),
        ));
        let budget = Budget::new(
            self.config.max_in_flight_bytes.as_usize(),
            telemetry::receiver_in_flight_gauge(ingest.id()),
        );
        // Stops the listeners on shutdown, or when one of them fails.
        let stop = ctx.shutdown.child_token();
        let mut servers: JoinSet<Result<(), String>> = JoinSet::new();
        // Certificate reloaders: they stop with the listeners.
        for acceptor in [&self.grpc_tls, &self.http_tls].into_iter().flatten() {
            let _ = acceptor.spawn_reloader(stop.clone());
        }
        if let Some(listener) = self.grpc.take() {
            let (ingest, budget, stop) = (ingest.clone(), budget.clone(), stop.clone());
            let tls = self.grpc_tls.clone();
            servers.spawn(async move {
                grpc::serve(listener, ingest, budget, limits, tls, stop)
                    .await
                    .map_err(|e| format!("OTLP/gRPC server failed: {e}"))
            });
        }
        if let Some(listener) = self.http.take() {
            let (ingest, budget, stop) = (ingest.clone(), budget.clone(), stop.clone());
            let tls = self.http_tls.clone();
            servers.spawn(async move {
                http::serve(listener, ingest, budget, limits, tls, stop).await;
                Ok(())
            });
        }

        let mut result = Ok(());
        tokio::select! {
            // Shutdown first: when it is cancelled the listeners also finish, and that is normal.
            biased;
            _ = stop.cancelled() => {}
            Some(done) = servers.join_next() => {
                let message = match done {
                    Ok(Ok(())) if stop.is_cancelled() => String::new(),
                    Ok(Ok(())) => "a listener stopped unexpectedly".to_owned(),
                    Ok(Err(message)) => message,
                    Err(e) => format!("a listener task failed: {e}"),
                };
                if !message.is_empty() {
                    result = Err(ComponentError::Run { component: self.id.to_string(), message, source: None });
                }
            }
        }
        stop.cancel();
        let drained = tokio::time::timeout(DRAIN_GRACE, async {
            while let Some(done) = servers.join_next().await {
                match done {
                    Ok(Err(message)) => tracing::warn!(receiver = %self.id, %message, "listener failed while stopping"),
                    Err(e) => tracing::warn!(receiver = %self.id, error = %e, "listener task failed while stopping"),
                    Ok(Ok(())) => {}
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                receiver = %self.id,
                grace = ?DRAIN_GRACE,
                "requests still in flight after the grace period; closing anyway"
            );
            servers.abort_all();
        }
        // In-flight sends finish first; the pipeline then sees this receiver's sender dropped.
        ingest.close().await;
        tracing::info!(receiver = %self.id, "receiver stopped");
        result
    }
}
