//! `max_connections`: each listener accepts a connection only while it holds a permit for it.
//!
//! Over the limit, new connections are not closed but left waiting in the kernel's listen
//! backlog: a client sees its request take longer, not an error, and is served as soon as
//! another connection closes. (The backlog itself is bounded by the OS; past it, connects
//! fail and clients retry.)

use metrics::Gauge;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long to pause after an accept error such as "too many open files", so the loop does
/// not spin while the process is out of descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A listener whose connections are capped at a number of permits.
#[derive(Debug)]
pub(crate) struct GatedListener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    open: Arc<Gauge>,
}

impl GatedListener {
    /// At most `max_connections` accepted connections at once; `open` shows how many.
    pub(crate) fn new(listener: TcpListener, max_connections: usize, open: Gauge) -> Self {
        open.set(0.0);
        Self {
            listener,
            permits: Arc::new(Semaphore::new(max_connections)),
            open: Arc::new(open),
        }
    }

    /// Waits for a free permit, then for a connection. Errors from `accept` (a client that
    /// reset before it was accepted, no descriptors left) are logged and retried: they
    /// concern one connection, not the listener. Cancel-safe. `None` only if the permits
    /// were closed, which nothing does.
    pub(crate) async fn accept(&self) -> Option<GatedStream> {
        loop {
            let permit = self.permits.clone().acquire_owned().await.ok()?;
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "could not set TCP_NODELAY");
                    }
                    self.open.increment(1.0);
                    return Some(GatedStream {
                        stream,
                        open: self.open.clone(),
                        _permit: permit,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed; retrying");
                    drop(permit);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }
}

/// An accepted connection holding its permit until it is dropped.
#[derive(Debug)]
pub(crate) struct GatedStream {
    stream: TcpStream,
    open: Arc<Gauge>,
    _permit: OwnedSemaphorePermit,
}

impl GatedStream {
    /// The client's address, if the socket still knows it.
    pub(crate) fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.peer_addr().ok()
    }
}

impl Drop for GatedStream {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

impl AsyncRead for GatedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for GatedStream {
    type ConnectInfo = <TcpStream as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}
