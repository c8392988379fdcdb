//! [`serve_router`]: an axum `Router` on a TCP listener, plaintext or TLS, for the listeners
//! with no connection handling of their own (the query API, the metrics endpoints). It does
//! what `axum::serve` cannot: the TLS handshake per connection (in the connection's task,
//! within the acceptor's timeout), a cap on open connections, and a header read timeout. Each
//! request carries the peer's address as axum's `ConnectInfo<SocketAddr>` (so handlers and
//! middleware can log who called) and, with mTLS, the client's [`ClientIdentity`] as an
//! `axum::Extension`.
//!
//! On `stop` it stops accepting, asks every connection to finish gracefully, and returns once
//! they have.

use crate::acceptor::{TlsAcceptor, client_identity};
use crate::identity::ClientIdentity;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client has to send a request's headers (and an idle keep-alive connection to
/// send its next request).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to pause after an accept error (such as no descriptors left).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener`, through `tls` if given, with at most `max_connections` open
/// (more wait in the listen backlog), until `stop` is cancelled.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<TlsAcceptor>>,
    max_connections: usize,
    stop: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (tcp, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed; retrying");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        while connections.try_join_next().is_some() {}
        let app = app
            .clone()
            .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
        let (builder, tls, stop) = (builder.clone(), tls.clone(), stop.clone());
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(&builder, tcp, app, &stop).await,
                Some(acceptor) => {
                    let accepted = tokio::select! {
                        accepted = acceptor.accept(tcp, Some(peer)) => accepted,
                        () = stop.cancelled() => return,
                    };
                    let Ok(stream) = accepted else { return };
                    let app = match client_identity(&stream) {
                        Some(identity) => app.layer(Extension::<ClientIdentity>(identity)),
                        None => app,
                    };
                    serve_connection(&builder, stream, app, &stop).await;
                }
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection<S>(
    builder: &Builder<TokioExecutor>,
    stream: S,
    app: Router,
    stop: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}
