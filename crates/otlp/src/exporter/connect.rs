//! The exporter's TLS connector: TCP, then the TLS handshake with the exporter's
//! [`TlsClient`], for tonic's channel (`connect_with_connector_lazy`). A failed connection
//! is logged with its cause (an untrusted certificate says what to check) and counted in
//! [`CONNECT_FAILURES_TOTAL`]; the export attempt then fails as unavailable and is retried
//! like any other connection error.

use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::Service;
use tracegate_tls::{ClientTlsStream, TlsClient};

/// Failed connections of an exporter with TLS, by exporter and reason (`connect`: TCP,
/// `tls`: the handshake, such as a certificate the CA did not sign, `server_name`: a host
/// no certificate can name).
pub const CONNECT_FAILURES_TOTAL: &str = "tracegate_exporter_connect_failures_total";

/// Describes [`CONNECT_FAILURES_TOTAL`], for its HELP line. Call once after the recorder is
/// installed.
pub fn describe() {
    metrics::describe_counter!(
        CONNECT_FAILURES_TOTAL,
        metrics::Unit::Count,
        "Failed connections of an OTLP exporter with TLS, by exporter and reason (connect: TCP, \
         tls: the handshake, such as a certificate the CA did not sign, server_name)."
    );
}

/// Connects to the URI's host and port (443 by default) over TLS.
#[derive(Debug, Clone)]
pub(crate) struct TlsConnector {
    pub(crate) tls: TlsClient,
    pub(crate) exporter: Arc<str>,
}

impl Service<http::Uri> for TlsConnector {
    type Response = TokioIo<ClientTlsStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.tls.clone();
        let exporter = self.exporter.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(443);
            match tls.connect(&host, port).await {
                Ok(stream) => Ok(TokioIo::new(stream)),
                Err(e) => {
                    metrics::counter!(
                        CONNECT_FAILURES_TOTAL,
                        "exporter" => exporter.to_string(),
                        "reason" => e.reason()
                    )
                    .increment(1);
                    tracing::warn!(
                        exporter = %exporter,
                        reason = e.reason(),
                        error = %e,
                        "cannot connect to the endpoint; the batch is retried"
                    );
                    Err(e.into())
                }
            }
        })
    }
}
