//! One exporter's task: takes payloads from its own queue, ticks, and flushes at shutdown;
//! at the shutdown deadline it abandons what it holds and counts it.

use super::deadline::Deadline;
use super::fanout::Stall;
use crate::component::{ComponentId, Exporter, Payload};
use crate::durability::{OriginCounts, Release};
use crate::queue::QueueReceiver;
use crate::telemetry;
use std::sync::Arc;

/// An exporter's part in the write-ahead log.
#[derive(Debug)]
pub(super) struct ExporterLog {
    pub(super) release: Release,
    /// The exporter took the handle and reports durability itself; otherwise each payload is
    /// released once `export` returns.
    pub(super) manages: bool,
}

enum Step {
    Payload(Arc<Payload>),
    Tick,
    Drained,
    GiveUp,
}

/// Runs `exporter` until its queue closes (then flushes it) or the deadline passes (then
/// abandons what is buffered and queued, counting it). Taking a payload clears `stall`.
pub(super) async fn run_exporter(
    id: ComponentId,
    mut exporter: Box<dyn Exporter>,
    mut queue: QueueReceiver<Arc<Payload>>,
    stall: Arc<Stall>,
    log: Option<ExporterLog>,
    deadline: Deadline,
) {
    let stage = format!("exporter/{id}");
    let started = tokio::select! {
        biased;
        _ = deadline.passed() => None,
        done = exporter.start() => Some(done),
    };
    match started {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::error!(exporter = %id, error = %e, "exporter failed to start; going on")
        }
        None => {
            let mut lost = exporter.abandon();
            queue.close();
            while let Some(payload) = queue.try_recv() {
                lost += payload.span_count();
            }
            deadline.lost(&stage, lost);
            return;
        }
    }
    let floor = log.as_ref().map_or(0, |l| l.release.replay_floor());
    let mut ticker = exporter.tick_interval().and_then(|every| {
        let first = tokio::time::Instant::now().checked_add(every)?;
        let mut t = tokio::time::interval_at(first, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Some(t)
    });
    let finished = loop {
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let step = tokio::select! {
            biased;
            _ = deadline.passed() => Step::GiveUp,
            next = queue.recv() => next.map_or(Step::Drained, Step::Payload),
            _ = tick => Step::Tick,
        };
        match step {
            Step::Payload(mut payload) => {
                // Taking a payload makes room in the queue: a stalled exporter is back.
                stall.has_room();
                // After a restart, skip what this exporter had made durable before.
                if let Some(rest) = payload.without_logged_below(floor) {
                    payload = Arc::new(rest);
                }
                let spans = payload.span_count();
                if spans == 0 {
                    continue;
                }
                let release = log
                    .as_ref()
                    .filter(|l| !l.manages)
                    .map(|l| (l.release.clone(), OriginCounts::of(payload.spans())));
                let done = tokio::select! {
                    biased;
                    _ = deadline.passed() => None,
                    done = exporter.export(payload) => Some(done),
                };
                match done {
                    None => break false,
                    Some(Err(e)) => {
                        tracing::warn!(exporter = %id, error = %e, "export failed");
                        telemetry::exporter_failed(id.as_str(), e.kind(), spans);
                    }
                    Some(Ok(())) => {}
                }
                // Done with it either way: a failed payload is counted above, not retried.
                if let Some((release, counts)) = release {
                    release.durable(counts);
                }
            }
            Step::Tick => {
                let done = tokio::select! {
                    biased;
                    _ = deadline.passed() => None,
                    done = exporter.tick() => Some(done),
                };
                match done {
                    None => break false,
                    Some(Err(e)) => {
                        tracing::warn!(exporter = %id, error = %e, "periodic flush failed")
                    }
                    Some(Ok(())) => {}
                }
            }
            Step::Drained => {
                let done = tokio::select! {
                    biased;
                    _ = deadline.passed() => None,
                    done = exporter.shutdown() => Some(done),
                };
                match done {
                    None => break false,
                    Some(Err(e)) => {
                        tracing::error!(exporter = %id, error = %e, "exporter failed to flush at shutdown")
                    }
                    Some(Ok(())) => {}
                }
                break true;
            }
            Step::GiveUp => break false,
        }
    };
    if !finished {
        // The future that was exporting or flushing has been dropped: the exporter counts what
        // it still buffered or had in flight; what is queued is counted here.
        let mut lost = exporter.abandon();
        queue.close();
        while let Some(payload) = queue.try_recv() {
            lost += payload.span_count();
        }
        deadline.lost(&stage, lost);
    }
    tracing::debug!(exporter = %id, "exporter stopped");
}
