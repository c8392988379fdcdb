//! Runs a resolved [`Config`]: receivers → bounded queue → processors → bounded queues →
//! exporters, with staged shutdown.
//!
//! Shutdown happens in three stages, each with its own `JoinSet`:
//! 1. the receivers stop accepting and return, dropping their senders;
//! 2. each pipeline drains its queue through its processors and returns, dropping the
//!    exporter queues' senders;
//! 3. each exporter takes what is left in its queue, then flushes, all within
//!    `service.shutdown_timeout`.

use crate::component::{
    Assembler, ComponentError, ComponentId, Exporter, Payload, Processor, ReceiverContext, shard_of,
};
use crate::config::{Config, Pipeline};
use crate::helper::{Flow, Instrumented};
use crate::sender::SpanSender;
use crate::telemetry;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracegate_model::{Span, SpanBatch, Trace};

/// Runs the gateway until `shutdown` is cancelled, then shuts down in stages.
///
/// Returns an error if a receiver could not start or failed while running (which also starts
/// the shutdown), or if the exporters missed the flush deadline.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ComponentError> {
    let Config {
        mut receivers,
        exporters,
        pipelines,
        service,
        health: _health,
    } = config;
    let queue_size = service.queue_size.max(1);

    // Bind every listener first, so a taken port fails before anything runs.
    for (id, receiver) in receivers.iter_mut() {
        receiver.bind().await.map_err(|e| {
            tracing::error!(receiver = %id, error = %e, "receiver could not start");
            e
        })?;
    }

    // Stage 3 first: exporters, each behind its own bounded queue.
    let mut exporter_tasks = JoinSet::new();
    let mut exporter_queues: BTreeMap<ComponentId, mpsc::Sender<Arc<Payload>>> = BTreeMap::new();
    for (id, exporter) in exporters {
        let (tx, rx) = mpsc::channel(queue_size);
        telemetry::queue_capacity(&format!("exporter/{id}"), queue_size);
        exporter_queues.insert(id.clone(), tx);
        exporter_tasks.spawn(run_exporter(id, exporter, rx));
    }

    // Stage 2: pipelines.
    let mut pipeline_tasks = JoinSet::new();
    let mut pipeline_inputs: BTreeMap<ComponentId, Vec<mpsc::Sender<SpanBatch>>> = BTreeMap::new();
    for pipeline in pipelines {
        let (tx, rx) = mpsc::channel(queue_size);
        telemetry::queue_capacity(&format!("pipeline/{}", pipeline.id), queue_size);
        for r in &pipeline.receivers {
            pipeline_inputs
                .entry(r.clone())
                .or_default()
                .push(tx.clone());
        }
        let outputs: Vec<_> = pipeline
            .exporters
            .iter()
            .filter_map(|e| exporter_queues.get(e).map(|q| (e.clone(), q.clone())))
            .collect();
        pipeline_tasks.spawn(run_pipeline(pipeline, queue_size, rx, outputs));
    }
    // Only the pipelines hold exporter senders now, and only receivers hold pipeline senders.
    drop(exporter_queues);

    // Stage 1: receivers.
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
    tracing::info!("tracegate is running");

    let mut failure = None;
    tokio::select! {
        _ = shutdown.cancelled() => tracing::info!("shutdown requested: stopping receivers"),
        Some(done) = receiver_tasks.join_next() => {
            let error = match done {
                Ok((id, Ok(()))) => ComponentError::Run { component: id.to_string(), message: "stopped unexpectedly".into(), source: None },
                Ok((_, Err(e))) => e,
                Err(e) => ComponentError::Run { component: "receiver".into(), message: format!("task failed: {e}"), source: None },
            };
            tracing::error!(error = %error, "a receiver stopped; shutting down");
            failure = Some(error);
        }
    }

    receivers_stop.cancel();
    while let Some(done) = receiver_tasks.join_next().await {
        match done {
            Ok((id, Err(e))) => {
                tracing::error!(receiver = %id, error = %e, "receiver failed while stopping")
            }
            Err(e) => tracing::error!(error = %e, "receiver task failed"),
            Ok(_) => {}
        }
    }
    tracing::info!("receivers stopped: draining pipelines");
    while let Some(done) = pipeline_tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "pipeline task failed");
        }
    }
    tracing::info!(deadline = %service.shutdown_timeout, "pipelines drained: flushing exporters");
    let flushed = tokio::time::timeout(service.shutdown_timeout.get(), async {
        while let Some(done) = exporter_tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "exporter task failed");
            }
        }
    })
    .await;
    if flushed.is_err() {
        exporter_tasks.abort_all();
        let error = ComponentError::Run {
            component: "exporters".into(),
            message: format!(
                "did not flush within service.shutdown_timeout ({}); buffered data was lost. \
                 Raise the timeout or check the destination",
                service.shutdown_timeout
            ),
            source: None,
        };
        tracing::error!(error = %error, "shutdown incomplete");
        return Err(failure.unwrap_or(error));
    }
    tracing::info!("shutdown complete");
    failure.map_or(Ok(()), Err)
}

async fn run_pipeline(
    pipeline: Pipeline,
    queue_size: usize,
    mut input: mpsc::Receiver<SpanBatch>,
    outputs: Vec<(ComponentId, mpsc::Sender<Arc<Payload>>)>,
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
    let outputs = Arc::new(outputs);

    let Some((assembly_id, assemblers)) = shards else {
        while let Some(batch) = input.recv().await {
            telemetry::queue_depth(&stage, input.len());
            let mut flow = Flow::Spans(batch);
            for p in &mut before {
                flow = p.run(flow);
            }
            deliver(flow, &outputs).await;
        }
        tracing::debug!(pipeline = %pipeline.id, "pipeline drained");
        return;
    };

    // With assembly: this task → one task per shard → one task for the trace processors.
    let mut tasks = JoinSet::new();
    let (traces_tx, mut traces_rx) = mpsc::channel::<Vec<Trace>>(queue_size);
    let trace_outputs = outputs.clone();
    let trace_stage = format!("{stage}/traces");
    tasks.spawn(async move {
        while let Some(traces) = traces_rx.recv().await {
            telemetry::queue_depth(&trace_stage, traces_rx.len());
            let mut flow = Flow::Traces(traces);
            for p in &mut after {
                flow = p.run(flow);
            }
            deliver(flow, &trace_outputs).await;
        }
    });
    let origin = tokio::time::Instant::now();
    let mut shard_inputs = Vec::with_capacity(assemblers.len());
    for (n, assembler) in assemblers.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(queue_size);
        shard_inputs.push(tx);
        let shard_stage = format!("{stage}/{assembly_id}/{n}");
        tasks.spawn(run_shard(
            assembler,
            rx,
            traces_tx.clone(),
            origin,
            shard_stage,
        ));
    }
    drop(traces_tx);

    let shard_count = shard_inputs.len();
    while let Some(batch) = input.recv().await {
        telemetry::queue_depth(&stage, input.len());
        let mut flow = Flow::Spans(batch);
        for p in &mut before {
            flow = p.run(flow);
        }
        let Flow::Spans(batch) = flow else { continue };
        if shard_count == 1 {
            if shard_inputs[0].send(batch).await.is_err() {
                tracing::error!(pipeline = %pipeline.id, "assembly shard stopped");
            }
            continue;
        }
        let mut parts: Vec<Vec<Span>> = (0..shard_count).map(|_| Vec::new()).collect();
        for span in batch.spans {
            parts[shard_of(&span.trace_id, shard_count)].push(span);
        }
        for (spans, shard) in parts.into_iter().zip(&shard_inputs) {
            // Waiting here is the back-pressure when assembly cannot keep up.
            if !spans.is_empty() && shard.send(SpanBatch { spans }).await.is_err() {
                tracing::error!(pipeline = %pipeline.id, "assembly shard stopped");
            }
        }
    }
    drop(shard_inputs);
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(pipeline = %pipeline.id, error = %e, "pipeline stage failed");
        }
    }
    tracing::debug!(pipeline = %pipeline.id, "pipeline drained");
}

/// Runs one assembly shard: it alone owns its state, so there is no lock on the hot path.
async fn run_shard(
    mut assembler: Box<dyn Assembler>,
    mut input: mpsc::Receiver<SpanBatch>,
    output: mpsc::Sender<Vec<Trace>>,
    origin: tokio::time::Instant,
    stage: String,
) {
    let now_ns = || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut released = Vec::new();
    loop {
        let deadline = assembler.next_deadline();
        let wake = async {
            match deadline {
                Some(ns) => {
                    tokio::time::sleep_until(origin + std::time::Duration::from_nanos(ns)).await
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            next = input.recv() => {
                let Some(batch) = next else { break };
                telemetry::queue_depth(&stage, input.len());
                let now = now_ns();
                assembler.ingest(batch, now, &mut released);
                // Under constant load the queue is never empty: release what is due anyway.
                assembler.tick(now, &mut released);
            }
            _ = wake => assembler.tick(now_ns(), &mut released),
        }
        if !released.is_empty() && output.send(std::mem::take(&mut released)).await.is_err() {
            tracing::error!(%stage, "trace stage stopped");
        }
    }
    assembler.drain(&mut released);
    if !released.is_empty() && output.send(released).await.is_err() {
        tracing::error!(%stage, "trace stage stopped during shutdown");
    }
}

/// Hands a processed flow to every exporter queue, waiting for room (back-pressure).
async fn deliver(flow: Flow, outputs: &[(ComponentId, mpsc::Sender<Arc<Payload>>)]) {
    let payload = match flow {
        Flow::Spans(b) if b.is_empty() => return,
        Flow::Traces(t) if t.is_empty() => return,
        Flow::Spans(b) => Payload::Spans(b),
        Flow::Traces(t) => Payload::Traces(t),
    };
    let payload = Arc::new(payload);
    for (id, out) in outputs {
        if out.send(payload.clone()).await.is_err() {
            telemetry::exporter_failed(id.as_str(), "exporter_stopped", payload.span_count());
        }
    }
}

async fn run_exporter(
    id: ComponentId,
    mut exporter: Box<dyn Exporter>,
    mut queue: mpsc::Receiver<Arc<Payload>>,
) {
    let stage = format!("exporter/{id}");
    let mut ticker = exporter.tick_interval().map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            next = queue.recv() => {
                let Some(payload) = next else { break };
                telemetry::queue_depth(&stage, queue.len());
                let spans = payload.span_count();
                if let Err(e) = exporter.export(payload).await {
                    tracing::warn!(exporter = %id, error = %e, "export failed");
                    telemetry::exporter_failed(id.as_str(), e.kind(), spans);
                }
            }
            _ = tick => {
                if let Err(e) = exporter.tick().await {
                    tracing::warn!(exporter = %id, error = %e, "periodic flush failed");
                }
            }
        }
    }
    if let Err(e) = exporter.shutdown().await {
        tracing::error!(exporter = %id, error = %e, "exporter failed to flush at shutdown");
    }
    tracing::debug!(exporter = %id, "exporter stopped");
}

#[cfg(test)]
mod tests;
