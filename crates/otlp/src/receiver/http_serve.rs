//! The OTLP/HTTP connection loop: hyper serving the axum router on each gated connection.
//!
//! `axum::serve` gives no hold on hyper's connection settings, and without a timer hyper
//! ignores its header read timeout, so a client could hold a connection by sending headers
//! a byte at a time. This loop sets them:
//! - HTTP/1: `header_read_timeout` (with a timer, so it takes effect);
//! - HTTP/2 (cleartext, prior knowledge): `max_concurrent_requests` as
//!   `SETTINGS_MAX_CONCURRENT_STREAMS`, and keep-alive PINGs (`keepalive_interval`,
//!   `keepalive_timeout`) so a vanished peer's connection is closed;
//! - at most `max_connections` connections, see [`GatedListener`];
//! - with `tls`, the handshake first, in the connection's own task (see `secure.rs`); each
//!   request carries the connection's [`Peer`] as an extension.
//!
//! On shutdown it stops accepting, asks every connection to finish gracefully (the request
//! in progress is answered, then the connection closes), and returns once they have.

use super::Limits;
use super::connections::GatedListener;
use super::secure::{Peer, WithPeer, secure};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracegate_tls::TlsAcceptor;

/// Serves `app` on `listener` until `stop` is cancelled, then lets the open connections
/// finish.
pub(crate) async fn serve(
    listener: GatedListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<TlsAcceptor>>,
    stop: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(u32::try_from(limits.max_concurrent_requests).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.keepalive_interval))
        .keep_alive_timeout(limits.keepalive_timeout);
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Some(stream) => stream,
                None => break,
            },
        };
        // Reap finished connections so the set does not grow with the listener's lifetime.
        while connections.try_join_next().is_some() {}
        let builder = builder.clone();
        let app = app.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let stream = tokio::select! {
                conn = secure(stream, tls.as_deref()) => match conn {
                    Some(conn) => conn,
                    None => return,
                },
                () = stop.cancelled() => return,
            };
            let peer: Peer = stream.peer();
            let service = TowerToHyperService::new(WithPeer::new(app, peer));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // A client that went away or timed out: nothing for the operator to do.
                tracing::debug!(error = %e, "OTLP/HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
