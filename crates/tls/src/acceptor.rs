//! [`TlsAcceptor`]: the TLS side of one listener. It runs the server handshake (with a
//! timeout) on accepted connections, and reloads its certificate files when they change.
//!
//! Reload swaps the whole rustls `ServerConfig` behind a lock: each handshake takes the
//! config current at its start, so new connections get the new certificate (and the new
//! client CAs) while established ones go on with the session they negotiated. A file that
//! does not load keeps the old config: logged at error once per distinct failure and counted
//! in `tracegate_tls_reload_failures_total`; a reload that took effect counts in
//! `tracegate_tls_reloads_total`. Failed handshakes count in
//! `tracegate_tls_handshake_failures_total` by reason, and are logged at warn at most once
//! per [`LOG_EVERY`] per listener (the rest at debug), so a port scan cannot flood the log.
//! A client that closes before the handshake completes (reason `closed`: a TCP health check,
//! a port probe) is counted but logged at debug only.

use crate::config::TlsServerConfig;
use crate::identity::ClientIdentity;
use crate::load::{Files, Fingerprint, LoadError, build};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// Reloads of certificate files that took effect, by listener.
pub const RELOADS_TOTAL: &str = "tracegate_tls_reloads_total";
/// Reloads that failed (the old certificate stays in use), by listener.
pub const RELOAD_FAILURES_TOTAL: &str = "tracegate_tls_reload_failures_total";
/// Failed TLS handshakes, by listener and reason (`timeout`, `not_tls`,
/// `client_certificate`, `incompatible`, `closed`, `io`, `other`).
pub const HANDSHAKE_FAILURES_TOTAL: &str = "tracegate_tls_handshake_failures_total";

/// When the certificate in use expires (its `notAfter`), seconds since the Unix epoch, by
/// listener: alert on `… - time() < 7 * 86400` to catch a rotation that stopped working.
pub const CERTIFICATE_EXPIRY: &str = "tracegate_tls_certificate_expiry_timestamp_seconds";

/// At most one warn-level handshake failure log per listener in this time.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The TLS side of one listener; share it as `Arc<TlsAcceptor>`.
#[derive(Debug)]
pub struct TlsAcceptor {
    listener: String,
    config: TlsServerConfig,
    alpn: Vec<Vec<u8>>,
    current: RwLock<Arc<rustls::ServerConfig>>,
    state: Mutex<ReloadState>,
    log_limit: Mutex<LogLimit>,
}

#[derive(Debug)]
struct ReloadState {
    /// Of the files in use.
    fingerprint: Fingerprint,
    /// The last failure reported, so the same one is not logged and counted every interval.
    last_failure: Option<String>,
}

#[derive(Debug, Default)]
struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

/// What a [`TlsAcceptor::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold what is in use.
    Unchanged,
    /// New content was loaded; the next handshakes use it.
    Reloaded,
    /// New content did not load; the old stays in use. `repeated`: the same failure as the
    /// last check's, so it was neither logged nor counted again.
    Failed {
        /// What went wrong.
        error: LoadError,
        /// Whether it was already reported.
        repeated: bool,
    },
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client did not finish within `handshake_timeout`.
    #[error("the TLS handshake did not finish within {0:?}")]
    Timeout(Duration),
    /// The client did not speak TLS (plaintext to a TLS port, say).
    #[error("the client did not speak TLS ({0}); is it configured for plaintext?")]
    NotTls(rustls::Error),
    /// The client's certificate was missing or did not verify against `client_ca_file`.
    #[error("client certificate refused: {0}")]
    ClientCertificate(rustls::Error),
    /// No protocol version, cipher suite or ALPN protocol in common.
    #[error("client incompatible: {0}")]
    Incompatible(rustls::Error),
    /// Another TLS error.
    #[error("TLS error: {0}")]
    Other(rustls::Error),
    /// The client closed the connection before the handshake completed (a TCP health check
    /// or port probe does).
    #[error("the client closed the connection during the TLS handshake")]
    Closed,
    /// The connection failed during the handshake.
    #[error("connection failed during the TLS handshake: {0}")]
    Io(io::Error),
}

impl HandshakeError {
    /// The `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::NotTls(_) => "not_tls",
            Self::ClientCertificate(_) => "client_certificate",
            Self::Incompatible(_) => "incompatible",
            Self::Other(_) => "other",
            Self::Closed => "closed",
            Self::Io(_) => "io",
        }
    }

    fn from_io(e: io::Error) -> Self {
        let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => Self::Closed,
                _ => Self::Io(e),
            };
        };
        use rustls::Error as E;
        match tls.clone() {
            tls @ (E::InvalidMessage(_) | E::InappropriateMessage { .. }) => Self::NotTls(tls),
            tls @ (E::NoCertificatesPresented | E::InvalidCertificate(_)) => {
                Self::ClientCertificate(tls)
            }
            tls @ (E::PeerIncompatible(_) | E::NoApplicationProtocol) => Self::Incompatible(tls),
            tls => Self::Other(tls),
        }
    }
}

impl TlsAcceptor {
    /// Loads the files of `config` for the listener named `listener` (a metrics label and log
    /// field, such as `otlp/grpc`), offering `alpn` protocols in order of preference (`h2`
    /// for gRPC; `h2` and `http/1.1` for HTTP).
    pub fn new(
        listener: impl Into<String>,
        config: &TlsServerConfig,
        alpn: &[&[u8]],
    ) -> Result<Self, LoadError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let files = Files::read(config)?;
        let loaded = build(config, &files, &alpn)?;
        let listener = listener.into();
        note_expiry(&listener, config, loaded.not_after);
        Ok(Self {
            listener,
            config: config.clone(),
            alpn,
            current: RwLock::new(loaded.server),
            state: Mutex::new(ReloadState {
                fingerprint: loaded.fingerprint,
                last_failure: None,
            }),
            log_limit: Mutex::new(LogLimit::default()),
        })
    }

    /// The listener's name.
    pub fn listener(&self) -> &str {
        &self.listener
    }

    /// Whether clients must present a certificate (mTLS).
    pub fn requires_client_certificate(&self) -> bool {
        self.config.client_ca_file.is_some()
    }

    /// The config handshakes start with now.
    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs the server handshake on `stream`, within `handshake_timeout`. A failure is counted
    /// and logged (with `peer`, never key material) before it is returned; the caller just
    /// drops the connection.
    pub async fn accept<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
    ) -> Result<TlsStream<S>, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current());
        let timeout = self.config.handshake_timeout.get();
        let result = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => HandshakeError::from_io(e),
            Err(_) => HandshakeError::Timeout(timeout),
        };
        self.handshake_failed(&result, peer);
        Err(result)
    }

    fn handshake_failed(&self, error: &HandshakeError, peer: Option<SocketAddr>) {
        metrics::counter!(
            HANDSHAKE_FAILURES_TOTAL,
            "listener" => self.listener.clone(),
            "reason" => error.reason(),
        )
        .increment(1);
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        if matches!(error, HandshakeError::Closed) {
            tracing::debug!(listener = %self.listener, %peer, "client closed before the TLS handshake completed");
            return;
        }
        let suppressed = {
            let mut limit = self
                .log_limit
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if limit.last.is_some_and(|last| now - last < LOG_EVERY) {
                limit.suppressed += 1;
                None
            } else {
                limit.last = Some(now);
                Some(std::mem::take(&mut limit.suppressed))
            }
        };
        match suppressed {
            Some(suppressed) => tracing::warn!(
                listener = %self.listener, %peer, reason = error.reason(), %error,
                suppressed_since_last_log = suppressed,
                "TLS handshake failed; connection closed"
            ),
            None => tracing::debug!(
                listener = %self.listener, %peer, reason = error.reason(), %error,
                "TLS handshake failed; connection closed"
            ),
        }
    }

    /// Re-reads the files now; if their content changed and loads, the next handshakes use
    /// it. Blocking file I/O: call it from a blocking context ([`TlsAcceptor::spawn_reloader`]
    /// does).
    pub fn reload(&self) -> ReloadOutcome {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let files = match Files::read(&self.config) {
            Ok(files) => files,
            Err(error) => return self.reload_failed(&mut state, error, None),
        };
        let fingerprint = files.fingerprint();
        if fingerprint == state.fingerprint {
            state.last_failure = None;
            return ReloadOutcome::Unchanged;
        }
        match build(&self.config, &files, &self.alpn) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded.server;
                note_expiry(&self.listener, &self.config, loaded.not_after);
                state.fingerprint = loaded.fingerprint;
                state.last_failure = None;
                metrics::counter!(RELOADS_TOTAL, "listener" => self.listener.clone()).increment(1);
                tracing::info!(
                    listener = %self.listener,
                    cert_file = %self.config.cert_file.display(),
                    "TLS certificate files changed; new connections use the new certificate"
                );
                ReloadOutcome::Reloaded
            }
            Err(error) => self.reload_failed(&mut state, error, Some(fingerprint)),
        }
    }

    fn reload_failed(
        &self,
        state: &mut ReloadState,
        error: LoadError,
        fingerprint: Option<Fingerprint>,
    ) -> ReloadOutcome {
        let key = format!("{error} {fingerprint:?}");
        let repeated = state.last_failure.as_deref() == Some(key.as_str());
        if !repeated {
            metrics::counter!(RELOAD_FAILURES_TOTAL, "listener" => self.listener.clone())
                .increment(1);
            tracing::error!(
                listener = %self.listener, %error,
                "TLS certificate reload failed; still serving the previous certificate. \
                 Fix the file; it is checked again every reload_interval"
            );
            state.last_failure = Some(key);
        }
        ReloadOutcome::Failed { error, repeated }
    }

    /// Starts checking the files every `reload_interval` until `stop` is cancelled. `None`
    /// when `reload_interval` is `0s` (reload off). Needs a Tokio runtime.
    pub fn spawn_reloader(self: &Arc<Self>, stop: CancellationToken) -> Option<JoinHandle<()>> {
        let interval = self.config.reload_interval.get();
        if interval.is_zero() {
            return None;
        }
        let acceptor = Arc::clone(self);
        Some(tokio::spawn(async move {
            let start = tokio::time::Instant::now() + interval;
            let mut ticks = tokio::time::interval_at(start, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let acceptor = Arc::clone(&acceptor);
                if let Err(e) = tokio::task::spawn_blocking(move || acceptor.reload()).await {
                    tracing::error!(error = %e, "TLS reload task failed");
                }
            }
        }))
    }
}

/// Sets the expiry gauge for the certificate now in use, warning if it has expired.
fn note_expiry(listener: &str, config: &TlsServerConfig, not_after: Option<i64>) {
    let Some(not_after) = not_after else { return };
    metrics::gauge!(CERTIFICATE_EXPIRY, "listener" => listener.to_owned()).set(not_after as f64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if not_after <= now {
        tracing::warn!(
            listener,
            cert_file = %config.cert_file.display(),
            expired_seconds_ago = now - not_after,
            "the TLS certificate has expired: clients will refuse it; replace cert_file and \
             key_file (they are re-read every reload_interval)"
        );
    }
}

/// The verified client certificate's identity on an accepted connection; `None` without mTLS
/// (no client certificate).
pub fn client_identity<S>(stream: &TlsStream<S>) -> Option<ClientIdentity> {
    stream
        .get_ref()
        .1
        .peer_certificates()?
        .first()
        .map(ClientIdentity::from_certificate)
}
