//! `serve_router` over TLS, mTLS (the client identity reaches the handler) and plaintext,
//! and a clean stop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tracegate_tls::test_util::TestPki;
use tracegate_tls::{ClientIdentity, TlsAcceptor, TlsServerConfig, serve_router};

fn app() -> Router {
    Router::new()
        .route(
            "/who",
            get(|who: Option<Extension<ClientIdentity>>| async move {
                match who {
                    Some(Extension(id)) => id.subject_cn.unwrap_or_default(),
                    None => "anonymous".to_owned(),
                }
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
}

async fn start(
    tls: Option<Arc<TlsAcceptor>>,
) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_router(listener, app(), tls, 8, stop.clone()));
    (addr, stop, task)
}

/// GET /who; the response's status line and body.
async fn get_who<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> (String, String) {
    fetch(stream, "/who").await
}

/// GET `path`; the response's status line and body.
async fn fetch<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8(raw).unwrap();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

async fn tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<impl AsyncRead + AsyncWrite + Unpin> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

#[tokio::test]
async fn mtls_identity_reaches_the_handler() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "api");
    let client = pki.client("client", "tenant-b");
    let mut config = TlsServerConfig::new(&server.cert, &server.key);
    config.client_ca_file = Some(pki.ca_cert.clone());
    let acceptor = Arc::new(TlsAcceptor::new("query", &config, tracegate_tls::ALPN_HTTP).unwrap());
    let (addr, stop, task) = start(Some(acceptor)).await;

    let stream = tls(addr, pki.client_config(Some(&client), &[b"http/1.1"]))
        .await
        .unwrap();
    let (status, body) = get_who(stream).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "tenant-b");

    // Without a client certificate: no HTTP answer.
    if let Ok(stream) = tls(addr, pki.client_config(None, &[b"http/1.1"])).await {
        let (status, _) = get_who(stream).await;
        assert!(!status.starts_with("HTTP/"), "{status}");
    }
    // Plaintext: no HTTP answer either.
    let (status, _) = get_who(TcpStream::connect(addr).await.unwrap()).await;
    assert!(!status.starts_with("HTTP/"), "{status}");

    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn tls_without_client_ca_and_plaintext_serve_anonymous() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "api");
    let config = TlsServerConfig::new(&server.cert, &server.key);
    let acceptor = Arc::new(TlsAcceptor::new("query", &config, tracegate_tls::ALPN_HTTP).unwrap());
    let (addr, stop, task) = start(Some(acceptor)).await;
    let stream = tls(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(get_who(stream).await.1, "anonymous");
    stop.cancel();
    task.await.unwrap();

    let (addr, stop, task) = start(None).await;
    let (status, body) = get_who(TcpStream::connect(addr).await.unwrap()).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "anonymous");
    stop.cancel();
    task.await.unwrap();
}

/// Handlers see the address the connection came from (the query API logs it with every
/// refused credential), over TLS and plaintext alike.
#[tokio::test]
async fn the_peer_address_reaches_the_handler() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "api");
    let config = TlsServerConfig::new(&server.cert, &server.key);
    let acceptor = Arc::new(TlsAcceptor::new("query", &config, tracegate_tls::ALPN_HTTP).unwrap());
    for tls_on in [true, false] {
        let (addr, stop, task) = start(tls_on.then(|| acceptor.clone())).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let local = tcp.local_addr().unwrap();
        let (status, body) = if tls_on {
            let stream = TlsConnector::from(pki.client_config(None, &[]))
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            fetch(stream, "/peer").await
        } else {
            fetch(tcp, "/peer").await
        };
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert_eq!(body, local.to_string(), "tls: {tls_on}");
        stop.cancel();
        task.await.unwrap();
    }
}
