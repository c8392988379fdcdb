//! The sender tasks: each takes batches off the queue (memory or disk), delivers one at a
//! time with retries, and reports what is done with it.

use super::config::Resolved;
use super::disk_queue::DiskQueue;
use super::service::{Outcome, TraceClient};
use bytes::Bytes;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::durability::{OriginCounts, Release};
use tracegate_pipeline::telemetry;

/// How long a sender waits after the disk queue failed to read before it tries again.
const READ_RETRY: Duration = Duration::from_secs(1);

/// One batch in the memory queue: the encoded request, how many spans it carries, and (with
/// the write-ahead log) which logged spans to release once it is done.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) body: Bytes,
    pub(super) spans: usize,
    pub(super) counts: Option<OriginCounts>,
}

/// What the sender tasks share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) id: String,
    pub(super) stage: String,
    pub(super) resolved: Resolved,
    /// Spans in the memory queue or being sent from it, to count what an abort loses.
    pub(super) pending: AtomicUsize,
    /// The write-ahead log's handle, when the log is on.
    pub(super) release: Option<Release>,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Delivered, or given up for good (dropped and counted).
    Done,
    /// Not delivered and not given up: shutting down while the endpoint fails. The batch
    /// stays in the disk queue for the next start.
    Kept,
}

/// How long a batch is retried.
#[derive(Debug, Clone, Copy)]
enum Limit<'a> {
    /// The memory queue: until `retry.max_elapsed_time`.
    Elapsed,
    /// The disk queue: until delivered, or until shutdown starts.
    UntilDrained(&'a CancellationToken),
}

/// A sender on the memory queue: takes batches until the queue is closed and empty.
pub(super) async fn memory_loop(
    shared: Arc<Shared>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut client: TraceClient,
) {
    loop {
        let job = {
            let mut queue = queue.lock().await;
            let job = queue.recv().await;
            telemetry::queue_depth(&shared.stage, queue.len());
            job
        };
        let Some(job) = job else { break };
        deliver(&shared, &mut client, &job.body, job.spans, Limit::Elapsed).await;
        if let (Some(release), Some(counts)) = (&shared.release, job.counts) {
            release.durable(counts);
        }
        // Saturating: `abandon` may have zeroed the count while this batch was finishing on
        // another thread.
        let _ = shared
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(job.spans))
            });
    }
}

/// A sender on the disk queue: takes batches in order, waiting for `wake` when there are
/// none, until `drain` is cancelled and the queue is empty, or a batch cannot be delivered
/// while draining (it stays on disk).
pub(super) async fn disk_loop(
    shared: Arc<Shared>,
    disk: Arc<DiskQueue>,
    wake: Arc<Notify>,
    drain: CancellationToken,
    mut client: TraceClient,
) {
    let id = shared.id.as_str();
    loop {
        // Registered before looking, so an append in between is not missed.
        let appended = wake.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let queue = disk.clone();
        let item = match tokio::task::spawn_blocking(move || queue.pop()).await {
            Ok(Ok(item)) => item,
            Ok(Err(e)) => {
                tracing::error!(exporter = id, error = %e, "cannot read the disk queue; trying again in a second");
                tokio::select! {
                    _ = tokio::time::sleep(READ_RETRY) => continue,
                    _ = drain.cancelled() => break,
                }
            }
            Err(e) => {
                tracing::error!(exporter = id, error = %e, "the disk queue's read task failed; this sender stops");
                break;
            }
        };
        let Some(item) = item else {
            if drain.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = &mut appended => {}
                _ = drain.cancelled() => {}
            }
            continue;
        };
        let limit = Limit::UntilDrained(&drain);
        if deliver(&shared, &mut client, &item.body, item.spans, limit).await == Delivery::Kept {
            break;
        }
        let queue = disk.clone();
        let pos = item.pos;
        match tokio::task::spawn_blocking(move || queue.ack(pos)).await {
            Ok(Ok(())) => {}
            // The batch is done in memory either way; at worst it is sent again after a
            // restart.
            Ok(Err(e)) => {
                tracing::error!(exporter = id, error = %e, "cannot update the disk queue")
            }
            Err(e) => {
                tracing::error!(exporter = id, error = %e, "the disk queue's ack task failed")
            }
        }
    }
}

/// Sends one batch, retrying while it may still succeed. Every outcome but `Kept` is counted.
async fn deliver(
    shared: &Shared,
    client: &mut TraceClient,
    body: &Bytes,
    spans: usize,
    limit: Limit<'_>,
) -> Delivery {
    let retry = &shared.resolved.config.retry;
    let id = shared.id.as_str();
    let started = Instant::now();
    let mut backoff = Backoff::new(retry.initial_interval.get(), retry.max_interval.get());
    loop {
        let status = match client.export(body.clone()).await {
            Outcome::Sent { rejected, message } => {
                let rejected = usize::try_from(rejected).unwrap_or(usize::MAX).min(spans);
                telemetry::exporter_sent(id, spans - rejected);
                if rejected > 0 {
                    tracing::warn!(exporter = id, rejected, %message, "the endpoint rejected some spans");
                    telemetry::exporter_failed(id, "rejected", rejected);
                }
                return Delivery::Done;
            }
            Outcome::Permanent(status) => {
                tracing::warn!(
                    exporter = id,
                    code = ?status.code(),
                    message = status.message(),
                    spans,
                    "the endpoint refused the batch permanently; dropping it"
                );
                telemetry::exporter_failed(id, "permanent", spans);
                return Delivery::Done;
            }
            Outcome::Retryable(status) => status,
        };
        if !retry.enabled {
            tracing::warn!(exporter = id, code = ?status.code(), message = status.message(), "export failed; retry is disabled");
            telemetry::exporter_failed(id, "retryable", spans);
            return Delivery::Done;
        }
        let delay = backoff.next_delay();
        match limit {
            Limit::Elapsed => {
                let max = retry.max_elapsed_time.get();
                if !max.is_zero() && started.elapsed() + delay > max {
                    tracing::warn!(
                        exporter = id,
                        code = ?status.code(),
                        message = status.message(),
                        spans,
                        "giving up after retry.max_elapsed_time; dropping the batch"
                    );
                    telemetry::exporter_failed(id, "retries_exhausted", spans);
                    return Delivery::Done;
                }
            }
            Limit::UntilDrained(drain) if drain.is_cancelled() => return Delivery::Kept,
            Limit::UntilDrained(_) => {}
        }
        tracing::debug!(exporter = id, code = ?status.code(), message = status.message(), ?delay, "export failed; retrying");
        telemetry::exporter_retry(id);
        match limit {
            Limit::Elapsed => tokio::time::sleep(delay).await,
            Limit::UntilDrained(drain) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = drain.cancelled() => return Delivery::Kept,
                }
            }
        }
    }
}

/// Exponential backoff: each wait is 1.5× the last, up to a maximum, randomised by ±50% so
/// that many exporters do not retry in step.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const MULTIPLIER: f64 = 1.5;
    const JITTER: f64 = 0.5;

    fn new(initial: Duration, max: Duration) -> Self {
        Self { next: initial, max }
    }

    fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = base.mul_f64(Self::MULTIPLIER).min(self.max);
        let factor = rand::rng().random_range((1.0 - Self::JITTER)..=(1.0 + Self::JITTER));
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_maximum_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(200));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert!((50..=150).contains(&delays[0].as_millis()), "{delays:?}");
        assert!((75..=225).contains(&delays[1].as_millis()), "{delays:?}");
        for d in &delays[2..] {
            assert!((100..=300).contains(&d.as_millis()), "{delays:?}");
        }
    }
}
