//! Runs a resolved [`Config`]: receivers → bounded queue → processors → bounded queues →
//! exporters, with staged shutdown under one deadline.
//!
//! Every queue is a byte-weighted [`queue`]: at most `service.queue_size`
//! batches and `service.queue_max_bytes` estimated bytes. Each pipeline is a head task (span
//! processors), one task per assembly shard and a trace-stage task (trace processors); each
//! exporter runs in its own task behind its own queue, and a pipeline hands every payload to
//! all its exporters at once, so one stalled exporter does not hold back another.
//!
//! Every one of those tasks is watched: a panic or an unexpected return is
//! logged with its cause, counted in `tracegate_component_failures_total` and marks the
//! component failed in [`Health`](crate::health::Health).
//!
//! Shutdown happens in stages, all within one deadline, `service.shutdown_timeout`, which
//! starts when shutdown is requested:
//! 1. the gateway is marked not ready; the receivers stop accepting and return, dropping their
//!    senders;
//! 2. each pipeline drains its queues through its processors, and each exporter takes what is
//!    left in its queue, then flushes.
//!
//! Every await that can block on the way (sends to full queues, `export`, `shutdown`) gives up
//! when the deadline passes; what was still queued or buffered is counted in
//! `tracegate_shutdown_unflushed_spans_total{stage}` and logged, and [`run`] returns an error.

mod deadline;
mod exporter;
mod fanout;
mod head;
mod replay;
mod stages;
mod supervisor;

use crate::component::{ComponentError, ComponentId, Processor, ReceiverContext};
use crate::config::{Config, Pipeline, ServiceConfig};
use crate::durability::{Durability, Ledger};
use crate::helper::Instrumented;
use crate::queue::{self, QueueSender};
use crate::sender::{Inbound, SpanSender};
use deadline::Deadline;
use exporter::ExporterLog;
use fanout::{Outlet, Stall};
use head::{HeadLog, HeadOutput};
use stages::Dropped;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use supervisor::Supervisor;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracegate_model::Signal;

/// How long tasks get to finish counting once the deadline has passed, before they are
/// aborted. They give up at once; only a processor stuck in a loop would need it.
const GRACE_AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// Runs the gateway until `shutdown` is cancelled, then shuts down in stages.
///
/// Returns an error if a receiver could not start or failed while running (which also starts
/// the shutdown), if any other component failed, or if the shutdown deadline passed.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ComponentError> {
    let Config {
        mut receivers,
        exporters,
        pipelines,
        service,
        health,
        durability,
        query: _,
    } = config;

    // Bind every listener first, so a taken port fails before anything runs.
    for (id, receiver) in receivers.iter_mut() {
        receiver.bind().await.map_err(|e| {
            tracing::error!(receiver = %id, error = %e, "receiver could not start");
            e
        })?;
    }

    let deadline = Deadline::default();
    let mut workers = Supervisor::new(health.clone());
    let logged = durability.map(|d| Logged::new(d, exporters.keys()));

    // Exporters first, each behind its own bounded queue.
    let mut outlets: BTreeMap<ComponentId, Arc<Outlet>> = BTreeMap::new();
    for (id, mut exporter) in exporters {
        let component = format!("exporter/{id}");
        let (tx, rx) = channel(&component, &service);
        let stall = Arc::new(Stall::new(component.clone(), health.clone()));
        let stall_after = service.exporter_stall_timeout.get();
        let outlet = Outlet::new(id.clone(), tx, stall_after, stall.clone(), logged.is_none());
        outlets.insert(id.clone(), Arc::new(outlet));
        let log = logged.as_ref().and_then(|l| {
            let release = l.release(&id)?;
            let manages = exporter.take_release(release.clone());
            Some(ExporterLog { release, manages })
        });
        let task = exporter::run_exporter(id, exporter, rx, stall, log, deadline.clone());
        workers.spawn(component, task);
    }

    // Pipelines.
    let mut pipeline_inputs: BTreeMap<ComponentId, Vec<QueueSender<Inbound>>> = BTreeMap::new();
    let mut log_inputs: BTreeMap<ComponentId, Vec<QueueSender<Inbound>>> = BTreeMap::new();
    let mut replay_targets = BTreeMap::new();
    for pipeline in pipelines {
        let (tx, rx) = channel(&format!("pipeline/{}", pipeline.id), &service);
        let inputs = match pipeline.signal {
            Signal::Traces => &mut pipeline_inputs,
            Signal::Logs => &mut log_inputs,
        };
        for r in &pipeline.receivers {
            inputs.entry(r.clone()).or_default().push(tx.clone());
        }
        let targets: Vec<_> = pipeline
            .exporters
            .iter()
            .filter_map(|e| outlets.get(e).cloned())
            .collect();
        let log = logged.as_ref().map(|l| l.head_log(&pipeline, &health));
        if let Some(log) = &log {
            replay_targets.insert(pipeline.id.clone(), (tx.clone(), log.consumers.clone()));
        }
        spawn_pipeline(
            pipeline,
            rx,
            targets,
            log,
            &service,
            &deadline,
            &mut workers,
        );
    }
    // Only the pipelines hold exporter queues now, and only receivers hold pipeline queues.
    drop(outlets);

    // Replay what the log holds that some exporter has not made durable, before the
    // receivers open; checkpoints move from here on.
    let mut checkpointer = None;
    if let Some(logged) = &logged {
        let replayed = replay::run(logged, &replay_targets, &shutdown).await;
        if let Err(e) = &replayed {
            tracing::error!(error = %e, "replay stopped early; what was not replayed stays in the WAL for the next start");
        }
        checkpointer = Some(logged.spawn_checkpointer());
    }
    drop(replay_targets);

    // Receivers.
    let receivers_stop = CancellationToken::new();
    let mut receiver_tasks = JoinSet::new();
    for (id, receiver) in receivers {
        let targets = pipeline_inputs.remove(&id).unwrap_or_default();
        let log_targets = log_inputs.remove(&id).unwrap_or_default();
        let mut output =
            SpanSender::new(targets, service.refuse_after.get()).with_logs(log_targets);
        if logged.is_some() {
            output = output.wait_for_log();
        }
        let ctx = ReceiverContext {
            id: id.clone(),
            output,
            shutdown: receivers_stop.clone(),
        };
        receiver_tasks.spawn(async move { (id, receiver.run(ctx).await) });
    }
    drop(pipeline_inputs);
    drop(log_inputs);
    health.set_ready(true);
    tracing::info!("tracegate is running");

    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                tracing::info!("shutdown requested: stopping receivers");
                break;
            }
            Some(done) = receiver_tasks.join_next() => {
                let (component, error) = receiver_failure(done);
                tracing::error!(error = %error, "a receiver stopped; shutting down");
                workers.fail(&component, &error.to_string());
                failure = Some(error);
                break;
            }
            Some(()) = workers.join_next(true) => {}
        }
    }

    // One deadline from here on.
    health.set_ready(false);
    let timer = {
        let deadline = deadline.clone();
        let timeout = service.shutdown_timeout.get();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            deadline.expire();
        })
    };
    receivers_stop.cancel();
    loop {
        tokio::select! {
            biased;
            _ = deadline.passed() => {
                receiver_tasks.abort_all();
                tracing::error!(receivers = receiver_tasks.len(), "receivers did not stop by the deadline: aborted");
                break;
            }
            done = receiver_tasks.join_next() => match done {
                None => break,
                Some(Ok((_, Ok(())))) => {}
                Some(done) => tracing::error!(error = %receiver_failure(done).1, "receiver failed while stopping"),
            },
        }
    }
    tracing::info!(deadline = %service.shutdown_timeout, "receivers stopped: draining pipelines, flushing exporters");
    loop {
        tokio::select! {
            biased;
            _ = deadline.passed() => break,
            next = workers.join_next(false) => if next.is_none() { break },
        }
    }
    if deadline.is_passed() {
        // Every stage gives up at once and counts what it held; wait for the counts.
        let counted = tokio::time::timeout(GRACE_AFTER_DEADLINE, async {
            while workers.join_next(false).await.is_some() {}
        })
        .await;
        if counted.is_err() {
            let stuck = workers.abort_all();
            tracing::error!(
                ?stuck,
                "tasks did not give up at the deadline: aborted, their data is not counted"
            );
        }
    }
    timer.abort();
    if let (Some(logged), Some(checkpointer)) = (&logged, checkpointer) {
        checkpointer.abort();
        logged.finish().await;
    }

    if deadline.is_passed() {
        let unflushed = deadline.unflushed();
        let error = ComponentError::Run {
            component: "shutdown".into(),
            message: format!(
                "did not finish within service.shutdown_timeout ({}): {unflushed} spans were \
                 not flushed (counted by stage in tracegate_shutdown_unflushed_spans_total). \
                 Raise the timeout or check the destinations",
                service.shutdown_timeout
            ),
            source: None,
        };
        tracing::error!(unflushed, error = %error, "shutdown incomplete");
        return Err(failure.unwrap_or(error));
    }
    if failure.is_none()
        && let Some(first) = workers.first_failure()
    {
        failure = Some(ComponentError::Run {
            component: "pipeline".into(),
            message: format!("a component failed while running ({first}); see the logs"),
            source: None,
        });
    }
    match failure {
        Some(e) => Err(e),
        None => {
            tracing::info!("shutdown complete");
            Ok(())
        }
    }
}

fn channel<T>(stage: &str, service: &ServiceConfig) -> (QueueSender<T>, queue::QueueReceiver<T>) {
    queue::channel(
        stage,
        service.queue_size,
        service.queue_max_bytes.as_usize(),
    )
}

/// Starts one pipeline's tasks: the head, and with assembly one task per shard and the
/// trace stage.
fn spawn_pipeline(
    pipeline: Pipeline,
    input: queue::QueueReceiver<Inbound>,
    outlets: Vec<Arc<Outlet>>,
    log: Option<HeadLog>,
    service: &ServiceConfig,
    deadline: &Deadline,
    workers: &mut Supervisor,
) {
    let stage = format!("pipeline/{}", pipeline.id);
    // Split the processors at the assembly stage: span processors before, trace processors after.
    let mut before = Vec::new();
    let mut shards = None;
    let mut after = Vec::new();
    for (id, p) in pipeline.processors {
        match p {
            Processor::Assemble(s) => shards = Some((id, s)),
            p if shards.is_none() => before.push(Instrumented::new(id.to_string(), p)),
            p => after.push(Instrumented::new(id.to_string(), p)),
        }
    }
    let Some((assembly_id, assemblers)) = shards else {
        let head = head::run_head(
            stage.clone(),
            before,
            input,
            HeadOutput::Exporters(outlets),
            log,
            deadline.clone(),
        );
        workers.spawn(stage, head);
        return;
    };
    let dropped = log.as_ref().map(|l| Dropped {
        ledger: l.ledger.clone(),
        consumers: l.consumers.clone(),
    });

    let trace_stage = format!("{stage}/traces");
    let (traces_tx, traces_rx) = channel(&trace_stage, service);
    workers.spawn(
        trace_stage.clone(),
        stages::run_traces(
            trace_stage,
            after,
            traces_rx,
            outlets,
            dropped,
            deadline.clone(),
        ),
    );
    let origin = tokio::time::Instant::now();
    let mut shard_inputs = Vec::with_capacity(assemblers.len());
    for (n, assembler) in assemblers.into_iter().enumerate() {
        let shard_stage = format!("{stage}/{assembly_id}/{n}");
        let (tx, rx) = channel(&shard_stage, service);
        shard_inputs.push(tx);
        let shard = stages::run_shard(
            shard_stage.clone(),
            assembler,
            rx,
            traces_tx.clone(),
            origin,
            deadline.clone(),
        );
        workers.spawn(shard_stage, shard);
    }
    drop(traces_tx);
    let head = head::run_head(
        stage.clone(),
        before,
        input,
        HeadOutput::Shards(shard_inputs),
        log,
        deadline.clone(),
    );
    workers.spawn(stage, head);
}

/// The gateway's write-ahead log as the topology runs it: the ledger over the exporters,
/// and what each exporter is handed.
struct Logged {
    ledger: Arc<Ledger>,
    state_dir: std::path::PathBuf,
    sync: bool,
    /// Each consumer's checkpoint when the log was opened, by ledger index.
    floors: Vec<u64>,
    replay_end: u64,
    /// Taken by the replay (behind a lock only so that `Logged` is `Sync`).
    replay: std::sync::Mutex<Option<crate::durability::ReplayRecords>>,
}

impl Logged {
    fn new<'a>(durability: Durability, exporters: impl Iterator<Item = &'a ComponentId>) -> Self {
        let Durability {
            log,
            state_dir,
            sync,
            checkpoints,
            replay_end,
            replay,
        } = durability;
        let names: Vec<String> = exporters.map(|id| id.to_string()).collect();
        let floors = names
            .iter()
            .map(|n| checkpoints.get(n).copied().unwrap_or(0))
            .collect();
        Self {
            ledger: Ledger::new(log, names),
            state_dir,
            sync,
            floors,
            replay_end,
            replay: std::sync::Mutex::new(Some(replay)),
        }
    }

    /// The checkpoint consumer `c` had when the log was opened.
    fn floor_of(&self, c: usize) -> u64 {
        self.floors.get(c).copied().unwrap_or(0)
    }

    /// Exporter `id`'s handle, with a state directory of its own.
    fn release(&self, id: &ComponentId) -> Option<crate::durability::Release> {
        let consumer = self.ledger.consumer(id.as_str())?;
        let dir = self.state_dir.join(id.as_str().replace('/', "_"));
        Some(self.ledger.release(
            consumer,
            dir,
            self.sync,
            self.floor_of(consumer),
            self.replay_end,
        ))
    }

    fn head_log(&self, pipeline: &Pipeline, health: &crate::health::Health) -> HeadLog {
        let consumers: Vec<usize> = pipeline
            .exporters
            .iter()
            .filter_map(|e| self.ledger.consumer(e.as_str()))
            .collect();
        HeadLog {
            ledger: self.ledger.clone(),
            pipeline: pipeline.id.as_str().into(),
            consumers: consumers.into(),
            health: health.clone(),
        }
    }

    /// Moves the checkpoints a few times a second, and reports what each exporter owes.
    fn spawn_checkpointer(&self) -> tokio::task::JoinHandle<()> {
        let ledger = self.ledger.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ledger.checkpoint();
                for c in 0..ledger.consumers() {
                    crate::telemetry::wal_outstanding(
                        ledger.consumer_name(c),
                        ledger.outstanding(c),
                    );
                }
            }
        })
    }

    /// The last checkpoints, persisted: what was flushed is not replayed.
    async fn finish(&self) {
        self.ledger.checkpoint();
        self.ledger.log().flush().await;
    }
}

/// How often exporters' progress becomes checkpoints in the log.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

type ReceiverDone = Result<(ComponentId, Result<(), ComponentError>), tokio::task::JoinError>;

/// The health component of a receiver that ended, and why it ended.
fn receiver_failure(done: ReceiverDone) -> (String, ComponentError) {
    match done {
        Ok((id, Ok(()))) => (
            format!("receiver/{id}"),
            ComponentError::Run {
                component: id.to_string(),
                message: "stopped unexpectedly".into(),
                source: None,
            },
        ),
        Ok((id, Err(e))) => (format!("receiver/{id}"), e),
        Err(e) => (
            "receiver".to_owned(),
            ComponentError::Run {
                component: "receiver".into(),
                message: supervisor::cause_of(e),
                source: None,
            },
        ),
    }
}

#[cfg(test)]
mod tests;
