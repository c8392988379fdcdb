//! The exporter's run loop, as a chain of stages:
//!
//! 1. `export` converts the shared payload into an `ExportTraceServiceRequest`, encodes it
//!    once, and queues it without waiting for the endpoint;
//! 2. `num_consumers` sender tasks (`sender.rs`) take batches off the queue;
//! 3. each sends its batch, retrying retryable failures with exponential backoff and jitter;
//!    permanent failures are dropped and counted at once.
//!
//! The queue is one of two (`sending_queue.storage`):
//!
//! - **disk** (the default, when the write-ahead log is on and so gives the exporter a
//!   [`Release`] and a state directory): `start` opens the [`DiskQueue`] in
//!   `<state_dir>/sending_queue` and starts sending what a previous run left there. `export`
//!   appends the batch (written, and synced with `wal.sync: host`) and only then reports its
//!   spans durable, so the log may drop them. Batches are retried without a time limit and
//!   removed once delivered; the queue's `max_bytes` bounds an outage, dropping (and
//!   counting) the oldest batches when it is reached. `shutdown` lets the senders go on while
//!   the endpoint takes batches and stops them at its first failure; what is left stays on
//!   disk for the next start, so `abandon` loses (and returns) nothing. Survives: endpoint
//!   outages, restarts, crashes, `kill -9`; with `sync: host`, power loss.
//! - **memory** (or disk with the log off): a bounded channel of `queue_size` batches. A full
//!   queue drops the batch and counts it (`queue_full`), so one slow backend never stalls the
//!   pipeline; a batch is given up after `retry.max_elapsed_time`. With the log on, spans are
//!   reported durable only once delivered or given up, so the log keeps (and a restart
//!   replays) what was still queued; with it off, a crash loses the queue.
//!
//! Nothing connects until the first batch, so a backend that is down does not fail the start.
//! Shutdown of the memory queue closes it and waits for the senders to deliver what is left.
//! If the topology's flush deadline passes first, it calls `abandon`, which stops the senders
//! and returns the spans of the memory queue lost with them (none with the log on: it still
//! holds them); an exporter dropped without either counts them itself
//! (`error_type="shutdown"`).

use super::config::{QueueStorage, Resolved};
use super::disk_queue::{DiskQueue, Options, QueueError};
use super::sender::{Job, Shared, disk_loop, memory_loop};
use super::service::TraceClient;
use async_trait::async_trait;
use bytes::Bytes;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracegate_model::Span;
use tracegate_model::span::to_request;
use tracegate_pipeline::durability::{OriginCounts, Release};
use tracegate_pipeline::{ExportError, Exporter, Payload, telemetry};

/// The disk queue's directory inside the exporter's state directory.
const QUEUE_DIR: &str = "sending_queue";

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
    /// Senders running behind the memory queue.
    Memory {
        queue: mpsc::Sender<Job>,
        senders: JoinSet<()>,
    },
    /// Senders running behind the disk queue.
    Disk {
        disk: Arc<DiskQueue>,
        wake: Arc<Notify>,
        drain: CancellationToken,
        senders: JoinSet<()>,
    },
    /// Shut down.
    Stopped,
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
                release: None,
            }),
            state: State::Idle,
        }
    }

    fn clients(&self) -> impl Iterator<Item = TraceClient> + '_ {
        let config = &self.shared.resolved.config;
        let resolved = &self.shared.resolved;
        let channel = match &resolved.tls {
            Some(tls) => {
                resolved
                    .endpoint
                    .connect_with_connector_lazy(super::connect::TlsConnector {
                        tls: tls.clone(),
                        exporter: Arc::from(self.shared.id.as_str()),
                    })
            }
            None => resolved.endpoint.connect_lazy(),
        };
        (0..config.sending_queue.num_consumers).map(move |_| {
            TraceClient::new(
                channel.clone(),
                config.compression,
                self.shared.resolved.headers.clone(),
            )
        })
    }

    /// Starts the senders of the memory queue on first use (inside the runtime), and returns
    /// the queue.
    fn memory_queue(&mut self) -> Option<&mpsc::Sender<Job>> {
        if matches!(self.state, State::Idle) {
            let queue_size = self.shared.resolved.config.sending_queue.queue_size;
            let (tx, rx) = mpsc::channel(queue_size);
            telemetry::queue_capacity(&self.shared.stage, queue_size);
            let rx = Arc::new(Mutex::new(rx));
            let mut senders = JoinSet::new();
            for client in self.clients() {
                senders.spawn(memory_loop(self.shared.clone(), rx.clone(), client));
            }
            self.state = State::Memory { queue: tx, senders };
        }
        match &self.state {
            State::Memory { queue, .. } => Some(queue),
            _ => None,
        }
    }

    /// Starts the senders of the disk queue.
    fn start_disk(&mut self, disk: Arc<DiskQueue>) {
        let wake = Arc::new(Notify::new());
        let drain = CancellationToken::new();
        let mut senders = JoinSet::new();
        for client in self.clients() {
            senders.spawn(disk_loop(
                self.shared.clone(),
                disk.clone(),
                wake.clone(),
                drain.clone(),
                client,
            ));
        }
        self.state = State::Disk {
            disk,
            wake,
            drain,
            senders,
        };
    }

    /// Queues a batch in memory.
    fn export_memory(&mut self, payload: &Payload) -> Result<(), ExportError> {
        let spans = payload.span_count();
        let shared = self.shared.clone();
        let counts = shared
            .release
            .as_ref()
            .map(|_| OriginCounts::of(payload.spans()));
        let Some(queue) = self.memory_queue() else {
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
                if let (Some(release), Some(counts)) = (&shared.release, counts) {
                    release.durable(counts);
                }
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err(ExportError::Retryable(
                    "the sender tasks have stopped".to_owned(),
                ));
            }
        };
        let body = encode(payload);
        shared.pending.fetch_add(spans, Ordering::Relaxed);
        permit.send(Job {
            body,
            spans,
            counts,
        });
        telemetry::queue_depth(&shared.stage, queue.max_capacity() - queue.capacity());
        Ok(())
    }

    /// Appends a batch to the disk queue, then reports its spans durable.
    async fn export_disk(
        &self,
        payload: &Payload,
        disk: Arc<DiskQueue>,
        wake: Arc<Notify>,
    ) -> Result<(), ExportError> {
        let id = self.shared.id.as_str();
        let spans = payload.span_count();
        let counts = OriginCounts::of(payload.spans());
        let body = encode(payload);
        let count = u32::try_from(spans).unwrap_or(u32::MAX);
        let appended = tokio::task::spawn_blocking(move || disk.append(&body, count)).await;
        match appended {
            Ok(Ok(_)) => wake.notify_waiters(),
            Ok(Err(e)) => {
                let error_type = match e {
                    QueueError::TooLarge { .. } => "queue_full",
                    _ => "queue_io",
                };
                tracing::error!(exporter = id, error = %e, spans, "cannot queue the batch on disk; dropping it");
                telemetry::exporter_failed(id, error_type, spans);
            }
            Err(e) => {
                tracing::error!(exporter = id, error = %e, spans, "the disk queue's write task failed; dropping the batch");
                telemetry::exporter_failed(id, "queue_io", spans);
            }
        }
        // On disk now, or given up for good and counted: either way the log may let go.
        if let Some(release) = &self.shared.release {
            release.durable(counts);
        }
        Ok(())
    }
}

/// The payload as an encoded request. It is shared with other exporters, so its spans are
/// cloned, once.
fn encode(payload: &Payload) -> Bytes {
    let request = to_request(payload.spans(), |s: &Span| s.clone());
    Bytes::from(request.encode_to_vec())
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        if payload.span_count() == 0 {
            return Ok(());
        }
        match &self.state {
            State::Disk { disk, wake, .. } => {
                let (disk, wake) = (disk.clone(), wake.clone());
                self.export_disk(&payload, disk, wake).await
            }
            _ => self.export_memory(&payload),
        }
    }

    async fn shutdown(&mut self) -> Result<(), ExportError> {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Memory { queue, senders } => {
                // Closing the queue lets the senders drain it and stop.
                drop(queue);
                join(&self.shared.id, senders).await;
            }
            State::Disk {
                disk,
                drain,
                senders,
                ..
            } => {
                // The senders go on while the endpoint takes batches, and stop at the first
                // failure; what is left stays on disk.
                drain.cancel();
                join(&self.shared.id, senders).await;
                let left = disk.stats().batches;
                match tokio::task::spawn_blocking(move || disk.close()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(exporter = %self.shared.id, error = %e, "cannot save the disk queue's cursor; batches delivered since it was last saved will be sent again")
                    }
                    Err(e) => {
                        tracing::error!(exporter = %self.shared.id, error = %e, "the disk queue's close task failed")
                    }
                }
                if left > 0 {
                    tracing::info!(exporter = %self.shared.id, batches = left, "batches not yet delivered stay in the disk queue for the next start");
                }
            }
            State::Idle | State::Stopped => {}
        }
        Ok(())
    }

    /// Stops the senders (the batch each is sending is not finished). The memory queue is
    /// dropped, and the spans it held are returned, unless the write-ahead log still holds
    /// them; the disk queue keeps its batches for the next start. A batch whose last
    /// attempt succeeds on another thread at this very moment may be counted although it was
    /// delivered.
    fn abandon(&mut self) -> usize {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Memory { queue, senders } => {
                drop(queue);
                // Dropping the set aborts the senders; the queue's receiver, and the batches
                // still in it, go with the last of them.
                drop(senders);
            }
            State::Disk { disk, senders, .. } => {
                drop(senders);
                // Best effort: a stale cursor only means batches are sent again.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn_blocking(move || disk.close());
                }
                return 0;
            }
            State::Idle | State::Stopped => {}
        }
        let lost = self.shared.pending.swap(0, Ordering::AcqRel);
        if lost == 0 {
            return 0;
        }
        if self.shared.release.is_some() {
            tracing::warn!(
                exporter = %self.shared.id,
                spans = lost,
                "the shutdown deadline passed; the spans not yet delivered stay in the write-ahead log and are sent after the restart"
            );
            return 0;
        }
        tracing::error!(
            exporter = %self.shared.id,
            spans = lost,
            "the shutdown deadline passed; dropping the batches not yet delivered"
        );
        lost
    }

    fn sampled_only(&self) -> bool {
        self.shared.resolved.config.sampled_only
    }

    fn take_release(&mut self, release: Release) -> bool {
        if !matches!(self.state, State::Idle) {
            return false;
        }
        // Only before the senders start, while nothing else holds the shared state.
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => {
                shared.release = Some(release);
                true
            }
            None => false,
        }
    }

    async fn start(&mut self) -> Result<(), ExportError> {
        let config = &self.shared.resolved.config.sending_queue;
        let Some(release) = &self.shared.release else {
            return Ok(());
        };
        if !matches!(self.state, State::Idle) || config.storage != QueueStorage::Disk {
            return Ok(());
        }
        let max_bytes = config.max_bytes.get();
        let options = Options {
            dir: release.state_dir().join(QUEUE_DIR),
            max_bytes,
            segment_bytes: Options::segment_bytes_for(max_bytes),
            sync: release.sync_writes(),
            exporter: self.shared.id.clone(),
        };
        let dir = options.dir.clone();
        let opened = tokio::task::spawn_blocking(move || DiskQueue::open(options)).await;
        let error = match opened {
            Ok(Ok((disk, recovered))) => {
                if recovered.batches > 0 {
                    tracing::info!(
                        exporter = %self.shared.id,
                        batches = recovered.batches,
                        spans = recovered.spans,
                        "resuming delivery of the batches left in the disk queue"
                    );
                }
                self.start_disk(Arc::new(disk));
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the task opening the disk queue failed: {e}"),
        };
        tracing::error!(
            exporter = %self.shared.id,
            dir = %dir.display(),
            error,
            "cannot open the disk queue; using the memory queue instead (undelivered spans stay in the write-ahead log)"
        );
        Err(ExportError::Retryable(format!(
            "cannot open the disk queue in {}: {error}; using the memory queue",
            dir.display()
        )))
    }
}

async fn join(id: &str, mut senders: JoinSet<()>) {
    while let Some(done) = senders.join_next().await {
        if let Err(e) = done {
            tracing::error!(exporter = id, error = %e, "sender task failed");
        }
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Only an abort (the shutdown deadline) leaves spans behind in the memory queue; the
        // senders die with their JoinSet. With the write-ahead log on, it still holds them.
        let lost = self.shared.pending.swap(0, Ordering::Relaxed);
        if lost > 0 && self.shared.release.is_none() {
            telemetry::exporter_failed(&self.shared.id, "shutdown", lost);
        }
    }
}
