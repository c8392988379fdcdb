//! TLS on the receiver's listeners: a connection that is plaintext or TLS ([`Conn`]), who is
//! on the other end ([`Peer`]), and the gRPC listener's stream of handshaken connections
//! ([`incoming`]).
//!
//! Handshakes run after the connection took its `max_connections` permit, each in its own
//! task and within the acceptor's `handshake_timeout`, so a client that connects and stalls
//! holds one permit for at most that long and never blocks other clients' handshakes. A
//! failed handshake is counted and logged by the acceptor and the connection dropped.

use super::connections::{GatedListener, GatedStream};
use futures::Stream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tonic::codegen::Service;
use tracegate_tls::{ClientIdentity, TlsAcceptor, TlsStream, client_identity};

/// Handshaken connections waiting for the gRPC server to take them.
const READY_QUEUE: usize = 16;

/// Who is on the other end of a connection. gRPC handlers find it in the request's
/// extensions (as tonic's connect info); HTTP handlers as an extension of each request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Peer {
    /// The client's address.
    pub(crate) remote_addr: Option<SocketAddr>,
    /// With mTLS, the verified client certificate's identity.
    pub(crate) client: Option<ClientIdentity>,
}

/// An accepted connection, plaintext or TLS.
#[derive(Debug)]
pub(crate) enum Conn {
    /// No TLS on this listener.
    Plain(GatedStream),
    /// After a successful handshake.
    Tls(Box<TlsStream<GatedStream>>),
}

impl Conn {
    /// The peer of this connection.
    pub(crate) fn peer(&self) -> Peer {
        match self {
            Self::Plain(s) => Peer {
                remote_addr: s.peer_addr(),
                client: None,
            },
            Self::Tls(s) => Peer {
                remote_addr: s.get_ref().0.peer_addr(),
                client: client_identity(s),
            },
        }
    }
}

/// `stream` as a [`Conn`]: as it is without TLS, else after the handshake. `None` when the
/// handshake failed (already counted and logged).
pub(crate) async fn secure(stream: GatedStream, tls: Option<&TlsAcceptor>) -> Option<Conn> {
    let Some(acceptor) = tls else {
        return Some(Conn::Plain(stream));
    };
    let peer = stream.peer_addr();
    acceptor
        .accept(stream, peer)
        .await
        .ok()
        .map(|s| Conn::Tls(Box::new(s)))
}

/// The connections of `listener` for tonic: plaintext ones as they are accepted; with
/// `tls`, each handshaken in its own task and yielded once it succeeded. Dropping the
/// stream (tonic does on shutdown) stops accepting and abandons the handshakes in progress.
pub(crate) fn incoming(
    listener: GatedListener,
    tls: Option<Arc<TlsAcceptor>>,
) -> Pin<Box<dyn Stream<Item = io::Result<Conn>> + Send>> {
    let Some(acceptor) = tls else {
        return Box::pin(futures::stream::unfold(listener, |listener| async move {
            let stream = listener.accept().await?;
            Some((Ok(Conn::Plain(stream)), listener))
        }));
    };
    let (ready, rx) = mpsc::channel::<Conn>(READY_QUEUE);
    tokio::spawn(async move {
        let mut handshakes = JoinSet::new();
        loop {
            tokio::select! {
                () = ready.closed() => break,
                accepted = listener.accept() => {
                    let Some(stream) = accepted else { break };
                    let (acceptor, ready) = (acceptor.clone(), ready.clone());
                    handshakes.spawn(async move {
                        if let Some(conn) = secure(stream, Some(&acceptor)).await {
                            // The server is gone when this fails: nothing to serve.
                            let _ = ready.send(conn).await;
                        }
                    });
                }
                Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
            }
        }
        // Dropping `handshakes` aborts the ones in progress; their permits are released.
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        let conn = rx.recv().await?;
        Some((Ok(conn), rx))
    }))
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer()
    }
}

/// An HTTP service that gives every request its connection's [`Peer`] as an extension.
#[derive(Debug, Clone)]
pub(crate) struct WithPeer<S> {
    inner: S,
    peer: Peer,
}

impl<S> WithPeer<S> {
    /// `inner`, with `peer` added to each request.
    pub(crate) fn new(inner: S, peer: Peer) -> Self {
        Self { inner, peer }
    }
}

impl<S, B> Service<http::Request<B>> for WithPeer<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> S::Future {
        request.extensions_mut().insert(self.peer.clone());
        self.inner.call(request)
    }
}
