//! One exporter's task: takes payloads from its own queue, ticks, and flushes at shutdown;
//! at the shutdown deadline it abandons what it holds and counts it. For an exporter that
//! takes only sampled traces ([`Exporter::sampled_only`]) it leaves out the unsampled ones
//! and reports their spans durable itself.

use super::deadline::Deadline;
use super::fanout::Stall;
use crate::component::{ComponentId, Exporter, Payload};
use crate::durability::{OriginCounts, Release};
use crate::queue::QueueReceiver;
use crate::telemetry;
use std::sync::Arc;
use tracegate_model::Trace;

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
            give_up(exporter.as_mut(), &mut queue, &deadline, &stage);
            return;
        }
    }
    let floor = log.as_ref().map_or(0, |l| l.release.replay_floor());
    let sampled_only = exporter.sampled_only();
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
                if sampled_only {
                    let (kept, left_out) = without_unsampled(payload);
                    payload = kept;
                    if left_out.spans > 0 {
                        telemetry::exporter_unsampled(id.as_str(), left_out.spans);
                    }
                    // Never given to the exporter, so durable here at once: the log must
                    // not wait for them.
                    if let Some(l) = &log {
                        l.release.durable(left_out.origins);
                    }
                }
                let spans = payload.span_count();
                if spans == 0 {
                    continue;
                }
                // Tallied before `export` takes the payload; reported once it returns.
                let unmanaged = log.as_ref().filter(|l| !l.manages);
                let counts = unmanaged.map(|_| OriginCounts::of_origins(payload.origins()));
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
                if let (Some(l), Some(counts)) = (unmanaged, counts) {
                    l.release.durable(counts);
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
        give_up(exporter.as_mut(), &mut queue, &deadline, &stage);
    }
    tracing::debug!(exporter = %id, "exporter stopped");
}

/// The deadline passed: the future that was starting, exporting or flushing has been
/// dropped. The exporter counts what it still buffered or had in flight; what is queued is
/// counted here.
fn give_up(
    exporter: &mut dyn Exporter,
    queue: &mut QueueReceiver<Arc<Payload>>,
    deadline: &Deadline,
    stage: &str,
) {
    let mut lost = exporter.abandon();
    queue.close();
    while let Some(payload) = queue.try_recv() {
        lost += payload.span_count();
    }
    deadline.lost(stage, lost);
}

/// What [`without_unsampled`] left out.
#[derive(Debug, Default)]
struct LeftOut {
    /// Spans of unsampled traces.
    spans: usize,
    /// Their tally per log record (logged spans only).
    origins: OriginCounts,
}

/// `payload` without the traces a sampler decided not to keep, and what they held. Takes
/// the payload apart in place when no other exporter shares it; otherwise clones only the
/// kept traces.
fn without_unsampled(payload: Arc<Payload>) -> (Arc<Payload>, LeftOut) {
    let Payload::Traces(traces) = payload.as_ref() else {
        return (payload, LeftOut::default());
    };
    if traces.iter().all(Trace::is_sampled) {
        return (payload, LeftOut::default());
    }
    let unsampled = || traces.iter().filter(|t| !t.is_sampled());
    let left_out = LeftOut {
        spans: unsampled().map(|t| t.spans.len()).sum(),
        origins: OriginCounts::of(unsampled().flat_map(|t| t.spans.iter())),
    };
    let kept = match Arc::try_unwrap(payload) {
        Ok(Payload::Traces(mut traces)) => {
            traces.retain(Trace::is_sampled);
            traces
        }
        Ok(other @ (Payload::Spans(_) | Payload::Logs(_))) => return (Arc::new(other), left_out),
        Err(shared) => match shared.as_ref() {
            Payload::Traces(traces) => traces.iter().filter(|t| t.is_sampled()).cloned().collect(),
            Payload::Spans(_) | Payload::Logs(_) => return (shared, left_out),
        },
    };
    (Arc::new(Payload::Traces(kept)), left_out)
}
