//! TLS and mTLS for tracegate's listeners and clients, with rustls (ring) and no OpenSSL.
//!
//! - `config.rs`: [`TlsServerConfig`], the `tls:` key of a listener, and its validation;
//! - `load.rs`: reading the PEM files into a rustls config ([`LoadError`] names the key);
//! - `acceptor.rs`: [`TlsAcceptor`], the handshake with a timeout and certificate hot reload,
//!   and the metrics it records;
//! - `identity.rs`: [`ClientIdentity`], the verified client certificate's subject, for a later
//!   authentication step to map to a tenant;
//! - `client.rs`: [`TlsClientConfig`], the `tls:` key of a client (the OTLP exporter,
//!   loadgen), and [`TlsClient`], its loaded rustls config, which connects;
//! - `serve.rs`: [`serve_router`], an axum router over TLS or plaintext with a connection cap,
//!   for the query API and the metrics endpoints;
//! - `test_util.rs` (feature `test-util`): test certificates made with the `openssl` CLI.

mod acceptor;
mod client;
mod config;
mod identity;
mod load;
mod serve;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use acceptor::{
    CERTIFICATE_EXPIRY, HANDSHAKE_FAILURES_TOTAL, HandshakeError, LOG_EVERY, RELOAD_FAILURES_TOTAL,
    RELOADS_TOTAL, ReloadOutcome, TlsAcceptor, client_identity,
};
pub use client::{ClientTlsStream, ConnectError, TlsClient, TlsClientConfig};
pub use config::{TlsServerConfig, TlsVersion};
pub use identity::{ClientIdentity, not_after, subject_common_name};
pub use load::{LoadError, MAX_FILE_BYTES};
pub use serve::{HEADER_READ_TIMEOUT, serve_router};
/// The server stream a handshake gives, re-exported so users need no direct tokio-rustls
/// dependency.
pub use tokio_rustls::server::TlsStream;

/// ALPN for a gRPC listener: HTTP/2 only (gRPC clients require `h2` to be negotiated).
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN for an HTTP listener: HTTP/2, then HTTP/1.1.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Describes the metrics this crate records, for the HELP lines. Call once after the recorder
/// is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        RELOADS_TOTAL,
        Unit::Count,
        "TLS certificate reloads that took effect (the files changed and loaded), by listener."
    );
    describe_counter!(
        RELOAD_FAILURES_TOTAL,
        Unit::Count,
        "TLS certificate reloads that failed, keeping the previous certificate, by listener."
    );
    describe_gauge!(
        CERTIFICATE_EXPIRY,
        Unit::Seconds,
        "When the TLS certificate in use expires (notAfter), seconds since the Unix epoch, by listener."
    );
    describe_counter!(
        HANDSHAKE_FAILURES_TOTAL,
        Unit::Count,
        "Failed TLS handshakes, by listener and reason (timeout, not_tls, client_certificate, incompatible, closed, io, other)."
    );
}
