//! The exporter's run loop, as a chain of stages:
//!
//! 1. `export` converts the shared payload into an `ExportTraceServiceRequest`, encodes it,
//!    and queues it without waiting. A full queue drops the batch and counts it
//!    (`queue_full`), so one slow backend never stalls the pipeline or the other exporters;
//! 2. `num_consumers` sender tasks take batches off the queue;
//! 3. each sends its batch, retrying retryable failures with exponential backoff and jitter
//!    until `retry.max_elapsed_time`; permanent failures are dropped and counted at once.
//!
//! Nothing connects until the first batch, so a backend that is down does not fail the start.
//! `shutdown` closes the queue and waits for the senders to deliver what is left. If the
//! topology's flush deadline passes first, it calls `abandon`, which stops the senders and
//! returns the spans still queued or in flight for the topology to count; an exporter
//! dropped without either counts them itself (`error_type="shutdown"`).

use super::config::Resolved;
use super::service::{Outcome, TraceClient};
use async_trait::async_trait;
use bytes::Bytes;
use prost::Message;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tracegate_model::Span;
use tracegate_model::span::to_request;
use tracegate_pipeline::{ExportError, Exporter, Payload, telemetry};

/// One queued batch: the encoded request and how many spans it carries.
#[derive(Debug)]
struct Job {
    body: Bytes,
    spans: usize,
}

/// Exports spans to an OTLP/gRPC endpoint such as Tempo.
#[derive(Debug)]
pub struct OtlpExporter {
    shared: Arc<Shared>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Built; nothing connected or spawned yet.
    Idle,
    /// Senders running behind the queue.
    Running {
        queue: mpsc::Sender<Job>,
        senders: JoinSet<()>,
    },
    /// Shut down.
    Stopped,
}

/// What the sender tasks share.
#[derive(Debug)]
struct Shared {
    id: String,
    stage: String,
    resolved: Resolved,
    /// Spans queued or being sent, to count what an abort loses.
    pending: AtomicUsize,
}

impl OtlpExporter {
    pub(crate) fn new(id: String, resolved: Resolved) -> Self {
        let stage = format!("exporter/{id}/sending_queue");
        Self {
            shared: Arc::new(Shared {
                id,
                stage,
                resolved,
                pending: AtomicUsize::new(0),
            }),
            state: State::Idle,
        }
    }

    /// Starts the senders on first use (inside the runtime), and returns the queue.
    fn queue(&mut self) -> Option<&mpsc::Sender<Job>> {
        if matches!(self.state, State::Idle) {
            let config = &self.shared.resolved.config;
            let (tx, rx) = mpsc::channel(config.sending_queue.queue_size);
            telemetry::queue_capacity(&self.shared.stage, config.sending_queue.queue_size);
            let rx = Arc::new(Mutex::new(rx));
            let channel = self.shared.resolved.endpoint.connect_lazy();
            let mut senders = JoinSet::new();
            for _ in 0..config.sending_queue.num_consumers {
                let client = TraceClient::new(
                    channel.clone(),
                    config.compression,
                    self.shared.resolved.headers.clone(),
                );
                senders.spawn(send_loop(self.shared.clone(), rx.clone(), client));
            }
            self.state = State::Running { queue: tx, senders };
        }
        match &self.state {
            State::Running { queue, .. } => Some(queue),
            _ => None,
        }
    }
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        let spans = payload.span_count();
        if spans == 0 {
            return Ok(());
        }
        let shared = self.shared.clone();
        let Some(queue) = self.queue() else {
            return Err(ExportError::Permanent(
                "the exporter is shut down".to_owned(),
            ));
        };
        let permit = match queue.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                // Counted here, so the batch is not counted again by the caller.
                tracing::warn!(
                    exporter = %shared.id,
                    spans,
                    "sending queue is full (the endpoint is slow or down); dropping the batch"
                );
                telemetry::exporter_failed(&shared.id, "queue_full", spans);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err(ExportError::Retryable(
                    "the sender tasks have stopped".to_owned(),
                ));
            }
        };
        // The payload is shared with other exporters, so its spans are cloned, once.
        let request = to_request(payload.spans(), |s: &Span| s.clone());
        let body = Bytes::from(request.encode_to_vec());
        shared.pending.fetch_add(spans, Ordering::Relaxed);
        permit.send(Job { body, spans });
        telemetry::queue_depth(&shared.stage, queue.max_capacity() - queue.capacity());
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ExportError> {
        if let State::Running { queue, mut senders } =
            std::mem::replace(&mut self.state, State::Stopped)
        {
            // Closing the queue lets the senders drain it and stop.
            drop(queue);
            while let Some(done) = senders.join_next().await {
                if let Err(e) = done {
                    tracing::error!(exporter = %self.shared.id, error = %e, "sender task failed");
                }
            }
        }
        Ok(())
    }

    /// Stops the senders (the batch each is sending is not finished) and drops the queue,
    /// and returns how many spans they held. A batch whose last attempt succeeds on another
    /// thread at this very moment may be counted although it was delivered.
    fn abandon(&mut self) -> usize {
        if let State::Running { queue, senders } =
            std::mem::replace(&mut self.state, State::Stopped)
        {
            drop(queue);
            // Dropping the set aborts the senders; the queue's receiver, and the batches
            // still in it, go with the last of them.
            drop(senders);
        }
        let lost = self.shared.pending.swap(0, Ordering::AcqRel);
        if lost > 0 {
            tracing::error!(
                exporter = %self.shared.id,
                spans = lost,
                "the shutdown deadline passed; dropping the batches not yet delivered"
            );
        }
        lost
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Only an abort (the shutdown deadline) leaves spans behind; the senders die with
        // their JoinSet.
        let lost = self.shared.pending.swap(0, Ordering::Relaxed);
        if lost > 0 {
            telemetry::exporter_failed(&self.shared.id, "shutdown", lost);
        }
    }
}

/// A sender task: takes batches until the queue is closed and empty.
async fn send_loop(
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
        let spans = job.spans;
        deliver(&shared, &mut client, job).await;
        // Saturating: `abandon` may have zeroed the count while this batch was finishing on
        // another thread.
        let _ = shared
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(spans))
            });
    }
}

/// Sends one batch, retrying while it may still succeed. Every outcome is counted.
async fn deliver(shared: &Shared, client: &mut TraceClient, job: Job) {
    let retry = &shared.resolved.config.retry;
    let id = shared.id.as_str();
    let started = Instant::now();
    let mut backoff = Backoff::new(retry.initial_interval.get(), retry.max_interval.get());
    loop {
        let status = match client.export(job.body.clone()).await {
            Outcome::Sent { rejected, message } => {
                let rejected = usize::try_from(rejected)
                    .unwrap_or(usize::MAX)
                    .min(job.spans);
                telemetry::exporter_sent(id, job.spans - rejected);
                if rejected > 0 {
                    tracing::warn!(exporter = id, rejected, %message, "the endpoint rejected some spans");
                    telemetry::exporter_failed(id, "rejected", rejected);
                }
                return;
            }
            Outcome::Permanent(status) => {
                tracing::warn!(
                    exporter = id,
                    code = ?status.code(),
                    message = status.message(),
                    spans = job.spans,
                    "the endpoint refused the batch permanently; dropping it"
                );
                telemetry::exporter_failed(id, "permanent", job.spans);
                return;
            }
            Outcome::Retryable(status) => status,
        };
        if !retry.enabled {
            tracing::warn!(exporter = id, code = ?status.code(), message = status.message(), "export failed; retry is disabled");
            telemetry::exporter_failed(id, "retryable", job.spans);
            return;
        }
        let delay = backoff.next_delay();
        let limit = retry.max_elapsed_time.get();
        if !limit.is_zero() && started.elapsed() + delay > limit {
            tracing::warn!(
                exporter = id,
                code = ?status.code(),
                message = status.message(),
                spans = job.spans,
                "giving up after retry.max_elapsed_time; dropping the batch"
            );
            telemetry::exporter_failed(id, "retries_exhausted", job.spans);
            return;
        }
        tracing::debug!(exporter = id, code = ?status.code(), message = status.message(), ?delay, "export failed; retrying");
        telemetry::exporter_retry(id);
        tokio::time::sleep(delay).await;
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
