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
mod stages;
mod supervisor;

use crate::component::{ComponentError, ComponentId, Processor, ReceiverContext};
use crate::config::{Config, Pipeline, ServiceConfig};
use crate::helper::Instrumented;
use crate::queue::{self, QueueSender};
use crate::sender::SpanSender;
use deadline::Deadline;
use fanout::{Outlet, Stall};
use stages::HeadOutput;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use supervisor::Supervisor;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracegate_model::SpanBatch;

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

    // Exporters first, each behind its own bounded queue.
    let mut outlets: BTreeMap<ComponentId, Arc<Outlet>> = BTreeMap::new();
    for (id, exporter) in exporters {
        let component = format!("exporter/{id}");
        let (tx, rx) = channel(&component, &service);
        let stall = Arc::new(Stall::new(component.clone(), health.clone()));
        let stall_after = service.exporter_stall_timeout.get();
        let outlet = Outlet::new(id.clone(), tx, stall_after, stall.clone());
        outlets.insert(id.clone(), Arc::new(outlet));
        let task = exporter::run_exporter(id, exporter, rx, stall, deadline.clone());
        workers.spawn(component, task);
    }

    // Pipelines.
    let mut pipeline_inputs: BTreeMap<ComponentId, Vec<QueueSender<SpanBatch>>> = BTreeMap::new();
    for pipeline in pipelines {
        let (tx, rx) = channel(&format!("pipeline/{}", pipeline.id), &service);
        for r in &pipeline.receivers {
            pipeline_inputs
                .entry(r.clone())
                .or_default()
                .push(tx.clone());
        }
        let targets: Vec<_> = pipeline
            .exporters
            .iter()
            .filter_map(|e| outlets.get(e).cloned())
            .collect();
        spawn_pipeline(pipeline, rx, targets, &service, &deadline, &mut workers);
    }
    // Only the pipelines hold exporter queues now, and only receivers hold pipeline queues.
    drop(outlets);

    // Receivers.
    let receivers_stop = CancellationToken::new();
    let mut receiver_tasks = JoinSet::new();
    for (id, receiver) in receivers {
        let targets = pipeline_inputs.remove(&id).unwrap_or_default();
        let ctx = ReceiverContext {
            id: id.clone(),
            output: SpanSender::new(targets, service.refuse_after.get()),
            shutdown: receivers_stop.clone(),
        };
        receiver_tasks.spawn(async move { (id, receiver.run(ctx).await) });
    }
    drop(pipeline_inputs);
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
    input: queue::QueueReceiver<SpanBatch>,
    outlets: Vec<Arc<Outlet>>,
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
        let head = stages::run_head(
            stage.clone(),
            before,
            input,
            HeadOutput::Exporters(outlets),
            deadline.clone(),
        );
        workers.spawn(stage, head);
        return;
    };

    let trace_stage = format!("{stage}/traces");
    let (traces_tx, traces_rx) = channel(&trace_stage, service);
    workers.spawn(
        trace_stage.clone(),
        stages::run_traces(trace_stage, after, traces_rx, outlets, deadline.clone()),
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
    let head = stages::run_head(
        stage.clone(),
        before,
        input,
        HeadOutput::Shards(shard_inputs),
        deadline.clone(),
    );
    workers.spawn(stage, head);
}

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
