//! Sending alerts: the Alertmanager v2 body ([`body`]), one POST with retry
//! ([`Notifier::send`]), and the evaluation loop behind [`super::Alerts::run`].
//!
//! The body is a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}`,
//! POSTed to `{alertmanager.url}/api/v2/alerts` and, unchanged, to each webhook's `url`.
//! A connection error, a timeout, a 5xx or a 429 is retried after `initial_backoff`,
//! doubling up to `max_backoff`, until the next wait would end past `max_elapsed` since
//! the first attempt; then the batch is given up. Another answer (a 4xx) is not retried.
//!
//! Each target has its own sender task behind a queue of [`QUEUE_BATCHES`] batches, so a
//! slow target delays neither the evaluations nor the other targets; a batch that finds
//! the queue full is dropped. Counted, by `processor` and `target`:
//! `tracegate_alerts_notifications_sent_total` (alerts delivered),
//! `tracegate_alerts_notifications_failed_total` (alerts given up, with `reason`
//! `retries_exhausted`, `rejected` or `queue_full`) and
//! `tracegate_alerts_notification_retries_total` (attempts retried).

use super::api::rfc3339;
use super::config::{RetryConfig, Target, WEBHOOK_ALPN};
use super::engine::Notification;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Batches waiting per target.
pub const QUEUE_BATCHES: usize = 64;

/// The JSON body for `notifications`.
pub fn body(notifications: &[Notification]) -> Vec<u8> {
    let alerts: Vec<serde_json::Value> = notifications
        .iter()
        .map(|n| {
            serde_json::json!({
                "labels": n.labels,
                "annotations": n.annotations,
                "startsAt": rfc3339(Some(n.starts_at_unix_nano)),
                "endsAt": rfc3339(Some(n.ends_at_unix_nano)),
                "generatorURL": n.generator_url,
            })
        })
        .collect();
    serde_json::to_vec(&alerts).unwrap_or_else(|_| b"[]".to_vec())
}

/// Why a send was given up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Retryable failures until `max_elapsed`.
    #[error("{target}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The target.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// An answer that retrying cannot change.
    #[error("{target}: refused with {status}: {body}")]
    Rejected {
        /// The target.
        target: String,
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// Shutdown came first.
    #[error("{target}: shutting down")]
    Cancelled {
        /// The target.
        target: String,
    },
}

impl SendError {
    /// The `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            SendError::RetriesExhausted { .. } => "retries_exhausted",
            SendError::Rejected { .. } => "rejected",
            SendError::Cancelled { .. } => "shutdown",
        }
    }
}

/// Sends bodies to targets, with retry.
#[derive(Debug, Clone)]
pub struct Notifier {
    id: String,
    /// For `http://` targets.
    client: reqwest::Client,
    /// For each `https://` target, by name: a client with that target's TLS settings.
    tls_clients: HashMap<String, reqwest::Client>,
    retry: RetryConfig,
}

enum Attempt {
    Ok,
    Retry(String),
    Reject(u16, String),
}

impl Notifier {
    /// A notifier for processor `id`, sending to `targets`.
    pub fn new(id: &str, retry: RetryConfig, targets: &[Target]) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("could not build the HTTP client for alert notifications: {e}"))?;
        let mut tls_clients = HashMap::new();
        for target in targets {
            let Some(tls) = &target.tls else { continue };
            let path = format!("processors.{id}.{}.tls", target.name);
            let loaded = tls.load(&path, WEBHOOK_ALPN).map_err(|e| e.to_string())?;
            if loaded.is_insecure() {
                tracing::warn!(processor = %id, target = %target.name, "alert target: insecure_skip_verify is on, the server's certificate is not verified");
            }
            let tls_client = reqwest::Client::builder()
                .use_preconfigured_tls((*loaded.client_config()).clone())
                .build()
                .map_err(|e| {
                    format!("could not build the HTTPS client for {}: {e}", target.name)
                })?;
            tls_clients.insert(target.name.clone(), tls_client);
        }
        Ok(Self {
            id: id.to_owned(),
            client,
            tls_clients,
            retry,
        })
    }

    async fn attempt(&self, target: &Target, body: &[u8]) -> Attempt {
        let client = self.tls_clients.get(&target.name).unwrap_or(&self.client);
        let sent = client
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(target.timeout)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Err(e) => Attempt::Retry(e.to_string()),
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Attempt::Ok
                } else if status.is_server_error() || status.as_u16() == 429 {
                    Attempt::Retry(format!("answered {status}"))
                } else {
                    let text = resp.text().await.unwrap_or_default();
                    Attempt::Reject(status.as_u16(), text.chars().take(200).collect())
                }
            }
        }
    }

    /// POSTs `body` to `target`, retrying as the module docs say, until delivered, given up
    /// or `shutdown`.
    pub async fn send(
        &self,
        target: &Target,
        body: &[u8],
        shutdown: &CancellationToken,
    ) -> Result<(), SendError> {
        let first = Instant::now();
        let mut backoff = self.retry.initial_backoff.get();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let last = tokio::select! {
                _ = shutdown.cancelled() => return Err(SendError::Cancelled { target: target.name.clone() }),
                a = self.attempt(target, body) => match a {
                    Attempt::Ok => return Ok(()),
                    Attempt::Reject(status, body) => {
                        return Err(SendError::Rejected { target: target.name.clone(), status, body });
                    }
                    Attempt::Retry(why) => why,
                },
            };
            if first.elapsed() + backoff > self.retry.max_elapsed.get() {
                return Err(SendError::RetriesExhausted {
                    target: target.name.clone(),
                    attempts,
                    last,
                });
            }
            metrics::counter!(
                "tracegate_alerts_notification_retries_total",
                "processor" => self.id.clone(),
                "target" => target.name.clone()
            )
            .increment(1);
            tracing::debug!(target = %target.name, %last, ?backoff, "alert notification failed; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return Err(SendError::Cancelled { target: target.name.clone() }),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.retry.max_backoff.get());
        }
    }

    /// Sends and counts the outcome (`alerts` alerts in the body).
    pub async fn send_counted(
        &self,
        target: &Target,
        body: &[u8],
        alerts: u64,
        shutdown: &CancellationToken,
    ) {
        match self.send(target, body, shutdown).await {
            Ok(()) => metrics::counter!(
                "tracegate_alerts_notifications_sent_total",
                "processor" => self.id.clone(),
                "target" => target.name.clone()
            )
            .increment(alerts),
            Err(e) => {
                tracing::warn!(error = %e, "alert notification not delivered");
                count_failed(&self.id, &target.name, e.reason(), alerts);
            }
        }
    }
}

fn count_failed(id: &str, target: &str, reason: &'static str, alerts: u64) {
    metrics::counter!(
        "tracegate_alerts_notifications_failed_total",
        "processor" => id.to_owned(),
        "target" => target.to_owned(),
        "reason" => reason
    )
    .increment(alerts);
}

type Batch = (Arc<Vec<u8>>, u64);

/// Evaluates `alerts` every evaluation interval and hands what is to be sent to one sender
/// task per target, until `shutdown`.
pub async fn run(alerts: super::Alerts, shutdown: CancellationToken) {
    let settings = alerts.settings();
    let id = alerts.id().to_owned();
    let notifier = match Notifier::new(&id, settings.retry, &settings.targets) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::error!(processor = %id, error = %e, "alerts are evaluated but not sent");
            None
        }
    };
    let mut senders: Vec<(String, mpsc::Sender<Batch>)> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(notifier) = &notifier {
        for target in settings.targets.iter().cloned() {
            let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE_BATCHES);
            senders.push((target.name.clone(), tx));
            let notifier = notifier.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => None,
                        b = rx.recv() => b,
                    };
                    let Some((body, n)) = next else { break };
                    notifier.send_counted(&target, &body, n, &shutdown).await;
                }
            });
        }
    }
    let period = settings.evaluation_interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let notifications = alerts.evaluate(crate::now_unix_nano());
        if notifications.is_empty() || senders.is_empty() {
            continue;
        }
        let n = notifications.len() as u64;
        let batch = Arc::new(body(&notifications));
        for (name, tx) in &senders {
            if tx.try_send((batch.clone(), n)).is_err() {
                tracing::warn!(processor = %id, target = %name, "alert notification queue full; batch dropped");
                count_failed(&id, name, "queue_full", n);
            }
        }
    }
    drop(senders);
    while tasks.join_next().await.is_some() {}
}
