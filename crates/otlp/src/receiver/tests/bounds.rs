//! Issue 18, item 4: memory and connection bounds that hold, against real sockets.
//!
//! Requests are held in flight by uploads that stop half-way (the server has their headers
//! and part of their body), so every test knows exactly what the receiver holds, without
//! timing anything. Where a test must show that something does *not* happen (a connection
//! over the cap is not served), it waits a fixed while for it and expects nothing.

use super::*;
use tracegate_testkit::metrics::CapturedMetrics;

/// How long a test waits for something that must not happen.
const NOT_SERVED: Duration = Duration::from_millis(300);
/// How long a test waits for an answer that must come, before failing instead of hanging.
const ANSWERED: Duration = Duration::from_secs(10);

/// A small receiver: 1 KiB requests, so the smallest valid budget is 4 KiB.
fn small_config() -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        max_request_bytes: ByteSize::kib(1),
        max_decompressed_bytes: ByteSize::kib(1),
        max_in_flight_bytes: ByteSize::kib(4),
        ..local_config()
    }
}

impl Harness {
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut all = vec![("receiver", self.id.as_str())];
        all.extend_from_slice(labels);
        CapturedMetrics::global().gauge(name, &all)
    }

    fn in_flight(&self) -> f64 {
        self.gauge(names::RECEIVER_IN_FLIGHT_BYTES, &[])
    }

    /// Waits (bounded) until `check` holds, then asserts it.
    async fn eventually(&self, what: &str, check: impl Fn(&Self) -> bool) {
        for _ in 0..1000 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{what} never happened");
    }
}

/// Opens a connection and sends `head` (request line and headers, without the blank line) and
/// then `body`, and stops: the request stays in flight until the stream is dropped.
async fn stall(addr: SocketAddr, head: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-protobuf\r\n{head}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

/// A chunked upload whose first chunk is `size` bytes and which never ends.
async fn stall_chunked(addr: SocketAddr, size: usize) -> TcpStream {
    let mut body = format!("{size:x}\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'x', size));
    body.extend_from_slice(b"\r\n");
    stall(addr, "transfer-encoding: chunked\r\n", &body).await
}

/// Reads an HTTP response to its end (the server closes after an error), failing instead of
/// hanging if none comes.
async fn read_reply(mut stream: TcpStream) -> String {
    let mut raw = Vec::new();
    tokio::time::timeout(ANSWERED, stream.read_to_end(&mut raw))
        .await
        .expect("the server must answer")
        .unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test]
async fn issue_18_requests_over_the_in_flight_budget_are_refused_with_retryable_statuses() {
    let h = start("otlp/budget", small_config(), 64).await;
    // Four uploads of 1 KiB that never finish hold the whole 4 KiB budget.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(stall_chunked(h.http, 1024).await);
    }
    h.eventually("the budget filling up", |h| h.in_flight() == 4096.0)
        .await;

    // Both listeners share the budget: HTTP gets 503 with Retry-After, gRPC UNAVAILABLE.
    let reply = h
        .post("application/x-protobuf", &valid_request(1).encode_to_vec())
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(
        reply.error_message().contains("max_in_flight_bytes"),
        "{}",
        reply.error_message()
    );
    let status = h
        .grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("max_in_flight_bytes"),
        "{status:?}"
    );
    assert_eq!(
        (
            h.requests("http", "memory_limit"),
            h.requests("grpc", "memory_limit")
        ),
        (1, 1)
    );
    assert!(h.rx.is_empty(), "nothing refused reached the pipeline");

    // The uploads give up: their bytes come back, and requests get through again.
    stalled.clear();
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    let reply = h
        .post("application/x-protobuf", &valid_request(2).encode_to_vec())
        .await;
    assert_eq!(reply.status, 200);
    h.grpc_client()
        .await
        .export(valid_request(3))
        .await
        .unwrap();
    assert_eq!((h.requests("http", "ok"), h.requests("grpc", "ok")), (1, 1));
    assert_eq!(h.in_flight(), 0.0, "answered requests hold nothing");
    h.stop().await;
}

#[tokio::test]
async fn issue_18_a_request_that_would_pass_the_budget_mid_body_is_refused() {
    let h = start("otlp/budget_mid", small_config(), 64).await;
    // 3.5 KiB held; a fourth 1 KiB upload is admitted but cannot fit its body.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stall_chunked(h.http, 1024).await);
    }
    stalled.push(stall_chunked(h.http, 512).await);
    h.eventually("3.5 KiB held", |h| h.in_flight() == 3584.0)
        .await;
    let reply = h.post("application/x-protobuf", &[0u8; 1000]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(h.requests("http", "memory_limit"), 1);
    assert_eq!(
        h.in_flight(),
        3584.0,
        "the refused request gave back what it had"
    );
    stalled.clear();
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    h.stop().await;
}

#[tokio::test]
async fn issue_18_a_stalled_upload_gets_408_and_its_budget_back() {
    let config = OtlpReceiverConfig {
        request_timeout: tracegate_pipeline::Duration::from_millis(200),
        ..small_config()
    };
    let h = start("otlp/slow_upload", config, 64).await;
    // Headers and 10 of 1000 bytes, then nothing.
    let stream = stall(h.http, "content-length: 1000\r\n", &[0u8; 10]).await;
    let reply = read_reply(stream).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");
    assert_eq!(h.requests("http", "timeout"), 1);
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    h.stop().await;
}

#[tokio::test]
async fn issue_18_a_lying_content_length_is_answered_without_waiting_for_60_mb() {
    // Limits large enough that 60 MB passes the Content-Length check: only the bytes that
    // arrive may be allocated (see body.rs's test of the buffer's capacity).
    let config = OtlpReceiverConfig {
        max_request_bytes: ByteSize::mib(64),
        max_decompressed_bytes: ByteSize::mib(64),
        ..local_config()
    };
    let h = start("otlp/lying_length", config, 64).await;
    let mut stream = stall(h.http, "content-length: 60000000\r\n", b"0123456789").await;
    h.eventually("the 10 bytes held", |h| h.in_flight() == 10.0)
        .await;
    // The client gives up sending: the body ends short, which is a bad request.
    stream.shutdown().await.unwrap();
    let reply = read_reply(stream).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("could not read the request body"), "{reply}");
    assert_eq!(h.requests("http", "bad_request"), 1);
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    h.stop().await;
}

#[tokio::test]
async fn issue_18_http_connections_over_max_connections_wait_their_turn() {
    let config = OtlpReceiverConfig {
        max_connections: 1,
        ..local_config()
    };
    let h = start("otlp/http_connections", config, 64).await;
    let open = |h: &Harness| h.gauge(names::RECEIVER_CONNECTIONS, &[("transport", "http")]);
    let first = stall(h.http, "content-length: 100\r\n", &[0u8; 10]).await;
    h.eventually("the first connection accepted", |h| open(h) == 1.0)
        .await;
    let addr = h.http;
    let body = valid_request(1).encode_to_vec();
    let mut second = tokio::spawn(async move {
        http_call(
            addr,
            "POST",
            &[("content-type", "application/x-protobuf")],
            Some(&body),
        )
        .await
    });
    assert!(
        tokio::time::timeout(NOT_SERVED, &mut second).await.is_err(),
        "a connection over max_connections was served"
    );
    assert_eq!(open(&h), 1.0);
    drop(first);
    let reply = tokio::time::timeout(ANSWERED, second)
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert_eq!(reply.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn issue_18_grpc_connections_over_max_connections_wait_their_turn() {
    let config = OtlpReceiverConfig {
        max_connections: 1,
        ..local_config()
    };
    let h = start("otlp/grpc_connections", config, 64).await;
    // The first client's connection stays open (HTTP/2 keeps it) after its call.
    let mut first = h.grpc_client().await;
    first.export(valid_request(1)).await.unwrap();
    let addr = h.grpc;
    let mut second = tokio::spawn(async move {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        TraceServiceClient::new(channel)
            .export(valid_request(2))
            .await
    });
    assert!(
        tokio::time::timeout(NOT_SERVED, &mut second).await.is_err(),
        "a connection over max_connections was served"
    );
    assert_eq!(
        h.gauge(names::RECEIVER_CONNECTIONS, &[("transport", "grpc")]),
        1.0
    );
    drop(first);
    tokio::time::timeout(ANSWERED, second)
        .await
        .expect("served once the first connection closed")
        .unwrap()
        .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn issue_18_http_requests_over_max_concurrent_requests_get_503() {
    let config = OtlpReceiverConfig {
        max_concurrent_requests: 1,
        ..local_config()
    };
    let h = start("otlp/http_requests", config, 64).await;
    let first = stall(h.http, "content-length: 100\r\n", &[0u8; 10]).await;
    h.eventually("the first request in flight", |h| h.in_flight() == 10.0)
        .await;
    let reply = h
        .post("application/x-protobuf", &valid_request(1).encode_to_vec())
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(
        reply.error_message().contains("max_concurrent_requests"),
        "{}",
        reply.error_message()
    );
    assert_eq!(h.requests("http", "overloaded"), 1);
    drop(first);
    h.eventually("the first request gone", |h| h.in_flight() == 0.0)
        .await;
    let reply = h
        .post("application/x-protobuf", &valid_request(1).encode_to_vec())
        .await;
    assert_eq!(reply.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn issue_18_headers_that_never_finish_close_the_connection() {
    let config = OtlpReceiverConfig {
        header_read_timeout: tracegate_pipeline::Duration::from_millis(200),
        ..local_config()
    };
    let h = start("otlp/slow_headers", config, 64).await;
    let mut stream = TcpStream::connect(h.http).await.unwrap();
    stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // hyper answers 408 or just closes; either way the connection ends.
    let reply = read_reply(stream).await;
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );
    h.eventually("the connection closed", |h| {
        h.gauge(names::RECEIVER_CONNECTIONS, &[("transport", "http")]) == 0.0
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn issue_18_an_idle_keep_alive_connection_is_closed_after_header_read_timeout() {
    // Long enough for the first request's headers to arrive even on a loaded machine.
    let config = OtlpReceiverConfig {
        header_read_timeout: tracegate_pipeline::Duration::from_millis(1000),
        ..local_config()
    };
    let h = start("otlp/idle_keep_alive", config, 64).await;
    let body = valid_request(1).encode_to_vec();
    // A complete request that keeps the connection open, then silence.
    let head = format!("content-length: {}\r\n", body.len());
    let stream = stall(h.http, &head, &body).await;
    let reply = read_reply(stream).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(h.requests("http", "ok"), 1);
    h.stop().await;
}

/// A gRPC request of exactly `message_len` bytes: one span whose name fills it out.
fn grpc_request_of(message_len: usize) -> ExportTraceServiceRequest {
    let mut request = valid_request(1);
    let base = request.encoded_len();
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.name.push_str(&"n".repeat(message_len - base));
    // The longer name may take another length byte; trim back to the size asked for.
    while request.encoded_len() > message_len {
        request.resource_spans[0].scope_spans[0].spans[0].name.pop();
    }
    assert_eq!(request.encoded_len(), message_len);
    request
}

#[tokio::test]
async fn issue_18_grpc_that_would_pass_the_budget_mid_message_is_unavailable() {
    let h = start("otlp/grpc_budget_mid", small_config(), 64).await;
    // 2 KiB held by HTTP uploads. A 1000-byte gRPC message reserves twice its length from
    // its prefix (2000, fits: 4048) and then cannot fit its own bytes.
    let mut stalled = vec![
        stall_chunked(h.http, 1024).await,
        stall_chunked(h.http, 1024).await,
    ];
    h.eventually("2 KiB held", |h| h.in_flight() == 2048.0)
        .await;
    let status = h
        .grpc_client()
        .await
        .export(grpc_request_of(1000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("max_in_flight_bytes"),
        "{status:?}"
    );
    assert_eq!(h.requests("grpc", "memory_limit"), 1);
    h.eventually("the gRPC request's bytes given back", |h| {
        h.in_flight() == 2048.0
    })
    .await;
    // With the budget free, the same request goes through.
    stalled.clear();
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    h.grpc_client()
        .await
        .export(grpc_request_of(1000))
        .await
        .unwrap();
    assert_eq!(h.requests("grpc", "ok"), 1);
    h.stop().await;
}

/// Starts a gRPC call over a raw HTTP/2 connection that sends an uncompressed 100-byte
/// message's prefix and 10 bytes, and then nothing; resolves to the response.
async fn stall_grpc(
    addr: SocketAddr,
) -> impl std::future::Future<Output = ::http::Response<hyper::body::Incoming>> {
    use futures::StreamExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut first = vec![0u8, 0, 0, 0, 100];
    first.extend_from_slice(&[0u8; 10]);
    let body = axum::body::Body::from_stream(
        futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(first))])
            .chain(futures::stream::pending()),
    );
    let request = ::http::Request::post(format!(
        "http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(body)
    .unwrap();
    async move {
        tokio::time::timeout(ANSWERED, sender.send_request(request))
            .await
            .expect("the server must answer")
            .unwrap()
    }
}

#[tokio::test]
async fn issue_18_a_stalled_grpc_upload_is_deadline_exceeded_and_its_budget_released() {
    let config = OtlpReceiverConfig {
        request_timeout: tracegate_pipeline::Duration::from_millis(200),
        ..small_config()
    };
    let h = start("otlp/grpc_slow_upload", config, 64).await;
    let response = stall_grpc(h.grpc).await.await;
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok());
    assert_eq!(code, Some("4"), "DEADLINE_EXCEEDED: {response:?}");
    assert_eq!(h.requests("grpc", "timeout"), 1);
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    h.stop().await;
}

#[tokio::test]
async fn issue_18_grpc_requests_over_max_concurrent_requests_are_unavailable() {
    let config = OtlpReceiverConfig {
        max_concurrent_requests: 1,
        ..local_config()
    };
    let h = start("otlp/grpc_requests", config, 64).await;
    let stalled = tokio::spawn(stall_grpc(h.grpc).await);
    // The stalled call holds its prefix's reservation and 15 bytes.
    h.eventually("the first call in flight", |h| h.in_flight() == 215.0)
        .await;
    let status = h
        .grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("max_concurrent_requests"),
        "{status:?}"
    );
    assert_eq!(h.requests("grpc", "overloaded"), 1);
    stalled.abort();
    h.eventually("the first call gone", |h| h.in_flight() == 0.0)
        .await;
    h.grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn issue_18_http_reserves_the_inflated_and_decoded_size() {
    let h = start("otlp/http_inflated", small_config(), 64).await;
    // 1 KiB of protobuf gzipped to about 120 bytes: it holds its wire bytes, 1024
    // inflated and 2048 decoded. With 1 KiB already held, that passes 4 KiB.
    let body = gzip(&grpc_request_of(1024).encode_to_vec());
    assert!(body.len() < 200, "{}", body.len());
    let stalled = stall_chunked(h.http, 1024).await;
    h.eventually("1 KiB held", |h| h.in_flight() == 1024.0)
        .await;
    let headers = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "gzip"),
    ];
    let reply = http_call(h.http, "POST", &headers, Some(&body)).await;
    assert_eq!(reply.status, 503, "{}", reply.error_message());
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(h.requests("http", "memory_limit"), 1);
    drop(stalled);
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    let reply = http_call(h.http, "POST", &headers, Some(&body)).await;
    assert_eq!(reply.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn issue_18_compressed_grpc_reserves_its_decoded_size_in_the_handler() {
    let h = start("otlp/grpc_inflated", small_config(), 64).await;
    // A gzipped 1000-byte message arrives as a few dozen bytes; its decoded size (2000) is
    // reserved once decoded, and with 2 KiB held that does not fit.
    let stalled = vec![
        stall_chunked(h.http, 1024).await,
        stall_chunked(h.http, 1024).await,
    ];
    h.eventually("2 KiB held", |h| h.in_flight() == 2048.0)
        .await;
    let client = || async {
        h.grpc_client()
            .await
            .send_compressed(CompressionEncoding::Gzip)
    };
    let status = client()
        .await
        .export(grpc_request_of(1000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(h.requests("grpc", "memory_limit"), 1);
    assert_eq!(
        h.count(
            names::RECEIVER_REFUSED_SPANS,
            &[("transport", "grpc"), ("reason", "memory_limit")]
        ),
        1
    );
    assert!(h.rx.is_empty());
    drop(stalled);
    h.eventually("the budget emptying", |h| h.in_flight() == 0.0)
        .await;
    client().await.export(grpc_request_of(1000)).await.unwrap();
    h.stop().await;
}

/// An HTTP/2 client that opens a connection (preface and SETTINGS) and then never answers
/// anything, PINGs included: a peer that vanished without closing. Returns when the server
/// closes the connection, or after [`ANSWERED`] with whether it did.
async fn h2_peer_that_vanishes(addr: SocketAddr) -> bool {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(ANSWERED, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn issue_18_a_vanished_http2_peer_is_closed_by_keepalive() {
    let config = OtlpReceiverConfig {
        keepalive_interval: tracegate_pipeline::Duration::from_millis(200),
        keepalive_timeout: tracegate_pipeline::Duration::from_millis(200),
        ..local_config()
    };
    let h = start("otlp/keepalive", config, 64).await;
    // gRPC, and h2c on the HTTP port: without keep-alive PINGs both connections would stay
    // open for ever, each holding one of max_connections.
    for (transport, addr) in [("grpc", h.grpc), ("http", h.http)] {
        assert!(
            h2_peer_that_vanishes(addr).await,
            "{transport}: the connection of a peer that answers no PING was not closed"
        );
        h.eventually("the connection released", |h| {
            h.gauge(names::RECEIVER_CONNECTIONS, &[("transport", transport)]) == 0.0
        })
        .await;
    }
    h.stop().await;
}
