//! Retrying what the archive does besides uploads (reading files back, writing its intent
//! journal) until it succeeds, with the uploads' backoff and health reporting.

use super::upload::Shared;
use crate::error::StoreError;

/// Runs `op` (described by `what`, as in "could not {what}") until it succeeds, waiting with the uploads' backoff between attempts.
pub(super) async fn retry<T, F, Fut>(shared: &Shared, what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = shared.backoff();
    let mut degraded = false;
    let mut attempt: u32 = 1;
    loop {
        match op().await {
            Ok(v) => {
                if degraded {
                    tracing::info!(exporter = %shared.name, "archive: could {what} again");
                    shared.health.recovered(&shared.component);
                }
                return v;
            }
            Err(e) => {
                let class = e.class();
                let wait = if class.is_permanent() {
                    backoff.permanent()
                } else {
                    backoff.retryable()
                };
                if !degraded && (class.is_permanent() || backoff.saturated()) {
                    degraded = true;
                    let hint = class.hint().replace("<id>", &shared.name);
                    tracing::error!(exporter = %shared.name, attempt, retry_in = ?wait, error = %e, "archive: could not {what}: {}; {hint}. Retrying until it succeeds", class.cause());
                    shared
                        .health
                        .degraded(&shared.component, format!("could not {what}: {e}; {hint}"));
                } else {
                    tracing::warn!(exporter = %shared.name, attempt, retry_in = ?wait, error = %e, "archive: could not {what}; retrying");
                }
                tokio::time::sleep(wait).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Runs blocking journal I/O (`op` on the journal in `dir`) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    op: &'static str,
    dir: &std::path::Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    let failed = |source| StoreError::Journal {
        op,
        dir: dir.to_owned(),
        source,
    };
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(std::io::Error::other(e))),
    }
}
