//! TLS for the gateway's own HTTP listeners (the query API, the data metrics endpoint): the
//! acceptor for a section's `tls:` key, its certificate reloader, and the start-up warning
//! for a non-loopback listener without TLS. The OTLP receivers do the same for themselves.

use anyhow::Context as _;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::config::{ConfigError, TelemetryConfig};
use tracegate_tls::{ALPN_HTTP, TlsAcceptor, TlsServerConfig};

/// Connections each of these listeners serves at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;

/// `service.telemetry.tls`, parsed and checked (its files loaded), or the errors at its keys.
pub fn telemetry_tls(
    config: &TelemetryConfig,
) -> Result<Option<TlsServerConfig>, Vec<ConfigError>> {
    const PATH: &str = "service.telemetry.tls";
    let Some(value) = config.tls.clone().filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let tls: TlsServerConfig = serde_yaml_ng::from_value(value)
        .map_err(|e| vec![ConfigError::new(PATH, e.to_string())])?;
    let errors = tls.validate(PATH);
    if errors.is_empty() {
        Ok(Some(tls))
    } else {
        Err(errors)
    }
}

/// The acceptor for `section.tls` (`None`: plaintext, with a warning if `listener` is not on
/// loopback), its files reloaded until `stop`. With `warn_no_auth` (a listener that serves
/// data and has no `auth:`), a non-loopback address is also warned about for being open to
/// anyone; the metrics endpoints, unauthenticated by design, pass false.
pub fn acceptor(
    section: &str,
    tls: Option<&TlsServerConfig>,
    warn_no_auth: bool,
    listener: &TcpListener,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Arc<TlsAcceptor>>> {
    let address = listener.local_addr().ok();
    if let Some(address) = address.filter(|a| warn_no_auth && !a.ip().is_loopback()) {
        tracing::warn!(
            %address,
            "{section} listens on a non-loopback address without authentication: anyone \
             who can reach it can read the traces; add an `auth:` section (bearer_tokens or \
             client_certificates), or listen on 127.0.0.1"
        );
    }
    let Some(tls) = tls else {
        if let Some(address) = address.filter(|a| !a.ip().is_loopback()) {
            tracing::warn!(
                %address,
                "{section} listens on a non-loopback address without TLS: set {section}.tls, \
                 or listen on 127.0.0.1"
            );
        }
        return Ok(None);
    };
    let acceptor = TlsAcceptor::new(section, tls, ALPN_HTTP)
        .map_err(|e| anyhow::anyhow!("{section}.tls.{}: {}", e.key, e.message()))
        .with_context(|| format!("cannot start TLS for {section}"))?;
    let acceptor = Arc::new(acceptor);
    let _ = acceptor.spawn_reloader(stop.clone());
    tracing::info!(
        ?address,
        section,
        mtls = acceptor.requires_client_certificate(),
        "TLS on"
    );
    Ok(Some(acceptor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry(yaml: &str) -> TelemetryConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn telemetry_tls_absent_null_or_checked() {
        assert_eq!(telemetry_tls(&telemetry("log_level: info")).unwrap(), None);
        assert_eq!(telemetry_tls(&telemetry("tls: null")).unwrap(), None);
        let errors = telemetry_tls(&telemetry("tls: { key_file: k.pem }")).unwrap_err();
        assert_eq!(errors[0].path, "service.telemetry.tls");
        assert!(
            errors[0].message.contains("cert_file"),
            "{}",
            errors[0].message
        );
        let errors = telemetry_tls(&telemetry(
            "tls: { cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem }",
        ))
        .unwrap_err();
        assert_eq!(errors[0].path, "service.telemetry.tls.cert_file");
        assert!(
            errors[0].message.contains("/nonexistent/c.pem"),
            "{}",
            errors[0].message
        );
    }
}
