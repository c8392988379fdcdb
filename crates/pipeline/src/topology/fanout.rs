//! Hands each payload to every exporter queue of a pipeline at once, so each exporter has its
//! own fate: a stalled archive does not hold back the OTLP export to Tempo.
//!
//! Back-pressure stays: when an exporter's queue is full the pipeline waits for it (and the
//! receivers refuse with retryable statuses meanwhile), but for at most
//! `service.exporter_stall_timeout`. An exporter whose queue had no room that long is
//! *stalled*: payloads for it are dropped and counted
//! (`tracegate_exporter_failed_spans_total{error_type="stalled"}`) and it is reported
//! degraded, until its queue has room again. The other exporters go on at full speed. With
//! the write-ahead log on, what reaches an outlet was acknowledged, so nothing is dropped: a
//! stalled exporter is reported degraded and the pipeline keeps waiting for it.

use super::deadline::Deadline;
use crate::component::{ComponentId, Payload};
use crate::health::Health;
use crate::queue::{Closed, QueueSender, TryReserveError};
use crate::telemetry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether an exporter is stalled, shared by its outlet (which stalls it) and its task
/// (which clears it on taking a payload: its queue has room again).
#[derive(Debug)]
pub(super) struct Stall {
    stalled: AtomicBool,
    /// `exporter/ID`: the health component.
    stage: String,
    health: Health,
}

impl Stall {
    pub(super) fn new(stage: String, health: Health) -> Self {
        Self {
            stalled: AtomicBool::new(false),
            stage,
            health,
        }
    }

    fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// The exporter's queue has room again: it is no longer stalled.
    pub(super) fn has_room(&self) {
        if self.stalled.load(Ordering::Relaxed) && self.stalled.swap(false, Ordering::Relaxed) {
            self.health.recovered(&self.stage);
        }
    }

    fn stall(&self, after: Duration) {
        if !self.stalled.swap(true, Ordering::Relaxed) {
            self.health.degraded(
                &self.stage,
                format!(
                    "its queue has had no room for service.exporter_stall_timeout ({}): \
                     payloads for it are dropped until it has room; check its destination",
                    crate::Duration(after)
                ),
            );
        }
    }
}

/// One exporter's queue, shared by every pipeline that feeds it.
#[derive(Debug)]
pub(super) struct Outlet {
    id: ComponentId,
    /// `exporter/ID`: the queue's stage.
    stage: String,
    queue: QueueSender<Arc<Payload>>,
    stall_after: Duration,
    stall: Arc<Stall>,
    /// Drop payloads for a stalled exporter (no WAL); with the WAL, keep waiting instead,
    /// since what is dropped here was acknowledged.
    drop_when_stalled: bool,
}

impl Outlet {
    pub(super) fn new(
        id: ComponentId,
        queue: QueueSender<Arc<Payload>>,
        stall_after: Duration,
        stall: Arc<Stall>,
        drop_when_stalled: bool,
    ) -> Self {
        Self {
            stage: format!("exporter/{id}"),
            id,
            queue,
            stall_after,
            stall,
            drop_when_stalled,
        }
    }

    fn has_room(&self) {
        self.stall.has_room();
    }

    fn stall(&self) {
        self.stall.stall(self.stall_after);
    }

    fn stopped(&self, spans: usize) {
        telemetry::exporter_failed(self.id.as_str(), "exporter_stopped", spans);
    }

    /// Waits for room (at most the stall timeout, and never past the deadline), then queues.
    async fn wait_and_send(
        &self,
        payload: Arc<Payload>,
        weight: usize,
        spans: usize,
        deadline: &Deadline,
    ) {
        let reserve = self.queue.reserve(weight);
        tokio::pin!(reserve);
        let mut stalled = self.stall.is_stalled();
        loop {
            let wait = if stalled {
                Duration::MAX
            } else {
                self.stall_after
            };
            tokio::select! {
                biased;
                _ = deadline.passed() => return deadline.lost(&self.stage, spans),
                room = tokio::time::timeout(wait, reserve.as_mut()) => match room {
                    Ok(Ok(permit)) => {
                        permit.send(payload);
                        self.has_room();
                        return;
                    }
                    Ok(Err(Closed)) => return self.stopped(spans),
                    Err(_) => {
                        self.stall();
                        stalled = true;
                        if self.drop_when_stalled {
                            return telemetry::exporter_stalled(self.id.as_str(), spans);
                        }
                    }
                },
            }
        }
    }
}

/// Hands `payload` to every outlet concurrently; returns once each has taken it, dropped it
/// (stalled or stopped) or the deadline passed.
pub(super) async fn deliver(payload: Payload, outlets: &[Arc<Outlet>], deadline: &Deadline) {
    let spans = payload.span_count();
    if spans == 0 {
        return;
    }
    let weight = payload.estimated_bytes();
    let payload = Arc::new(payload);
    // Only outlets without room now need waiting on (and only they allocate).
    let mut waiting = Vec::new();
    for outlet in outlets {
        match outlet.queue.try_reserve(weight) {
            Ok(permit) => {
                permit.send(payload.clone());
                outlet.has_room();
            }
            Err(TryReserveError::Closed) => outlet.stopped(spans),
            Err(TryReserveError::Full) if outlet.drop_when_stalled && outlet.stall.is_stalled() => {
                telemetry::exporter_stalled(outlet.id.as_str(), spans)
            }
            Err(TryReserveError::Full) => waiting.push(outlet),
        }
    }
    match waiting.as_slice() {
        [] => {}
        [one] => one.wait_and_send(payload, weight, spans, deadline).await,
        many => {
            futures::future::join_all(
                many.iter()
                    .map(|o| o.wait_and_send(payload.clone(), weight, spans, deadline)),
            )
            .await;
        }
    }
}
