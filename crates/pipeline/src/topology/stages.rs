//! The pipeline's stages after the head (`head.rs`): one task per assembly shard, and the
//! trace stage (trace processors). Each runs until its input
//! closes, or gives up at the shutdown deadline and counts what it still held.

use super::deadline::Deadline;
use super::fanout::{Outlet, deliver};
use crate::component::{Assembler, Payload, shard_of, traces_estimated_bytes};
use crate::durability::{Ledger, OriginCounts};
use crate::helper::{Flow, Instrumented};
use crate::queue::{QueueReceiver, QueueSender};
use crate::telemetry;
use std::sync::Arc;
use tracegate_model::{Span, SpanBatch, Trace};

/// Sends `item` unless the deadline passes first. `Err` gives the item back: `true` when the
/// deadline passed, `false` when the next stage is gone.
async fn send_or_give_up<T>(
    queue: &QueueSender<T>,
    item: T,
    weight: usize,
    deadline: &Deadline,
) -> Result<(), (T, bool)> {
    tokio::select! {
        biased;
        _ = deadline.passed() => Err((item, true)),
        permit = queue.reserve(weight) => match permit {
            Ok(p) => {
                p.send(item);
                Ok(())
            }
            Err(_) => Err((item, false)),
        },
    }
}

/// Counts what is left in `input` once a stage gives up at the deadline.
pub(super) fn left_in<T>(input: &mut QueueReceiver<T>, spans: impl Fn(&T) -> usize) -> usize {
    input.close();
    let mut n = 0;
    while let Some(item) = input.try_recv() {
        n += spans(&item);
    }
    n
}

/// Logs a dead next stage once, and counts every span dropped because of it.
#[derive(Debug)]
pub(super) struct Downstream {
    stage: String,
    logged: bool,
}

impl Downstream {
    pub(super) fn new(stage: String) -> Self {
        Self {
            stage,
            logged: false,
        }
    }

    pub(super) fn gone(&mut self, spans: usize) {
        if !self.logged {
            self.logged = true;
            tracing::error!(stage = %self.stage, "the next stage is gone: its spans are dropped and counted");
        }
        telemetry::pipeline_dropped(&self.stage, "stage_failed", spans);
    }
}

/// Splits `batch` by shard and sends each part; returns the spans given up at the deadline.
pub(super) async fn to_shards(
    batch: SpanBatch,
    shards: &[QueueSender<SpanBatch>],
    deadline: &Deadline,
    downstream: &mut Downstream,
) -> usize {
    if let [shard] = shards {
        let weight = batch.estimated_bytes();
        return match send_or_give_up(shard, batch, weight, deadline).await {
            Ok(()) => 0,
            Err((b, true)) => b.len(),
            Err((b, false)) => {
                downstream.gone(b.len());
                0
            }
        };
    }
    let mut parts: Vec<(Vec<Span>, usize)> = (0..shards.len()).map(|_| (Vec::new(), 0)).collect();
    for span in batch.spans {
        let part = &mut parts[shard_of(&span.trace_id, shards.len())];
        part.1 += span.estimated_bytes();
        part.0.push(span);
    }
    let mut lost = 0;
    for ((spans, weight), shard) in parts.into_iter().zip(shards) {
        if spans.is_empty() {
            continue;
        }
        if deadline.is_passed() {
            lost += spans.len();
            continue;
        }
        // Waiting here is the back-pressure when assembly cannot keep up.
        match send_or_give_up(shard, SpanBatch { spans }, weight, deadline).await {
            Ok(()) => {}
            Err((b, true)) => lost += b.len(),
            Err((b, false)) => downstream.gone(b.len()),
        }
    }
    lost
}

/// Runs one assembly shard: it alone owns its state, so there is no lock on the hot path.
pub(super) async fn run_shard(
    stage: String,
    mut assembler: Box<dyn Assembler>,
    mut input: QueueReceiver<SpanBatch>,
    output: QueueSender<Vec<Trace>>,
    origin: tokio::time::Instant,
    deadline: Deadline,
) {
    let now_ns = || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut downstream = Downstream::new(stage.clone());
    let mut released = Vec::new();
    let mut lost = 0;
    loop {
        let due = assembler.next_deadline();
        let wake = async {
            match due {
                Some(ns) => {
                    let at = origin.checked_add(std::time::Duration::from_nanos(ns));
                    match at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending::<()>().await,
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            _ = deadline.passed() => break,
            next = input.recv() => {
                let Some(batch) = next else { break };
                let now = now_ns();
                assembler.ingest(batch, now, &mut released);
                // Under constant load the queue is never empty: release what is due anyway.
                assembler.tick(now, &mut released);
            }
            _ = wake => assembler.tick(now_ns(), &mut released),
        }
        if !released.is_empty() {
            lost += send_traces(
                std::mem::take(&mut released),
                &output,
                &deadline,
                &mut downstream,
            )
            .await;
        }
    }
    if deadline.is_passed() {
        // Give up: count what is queued, held and released but not sent.
        lost += left_in(&mut input, SpanBatch::len);
        assembler.drain(&mut released);
        lost += released.iter().map(|t| t.spans.len()).sum::<usize>();
    } else {
        assembler.drain(&mut released);
        if !released.is_empty() {
            lost += send_traces(released, &output, &deadline, &mut downstream).await;
        }
    }
    deadline.lost(&stage, lost);
}

/// Sends released traces to the trace stage; returns the spans given up at the deadline.
async fn send_traces(
    traces: Vec<Trace>,
    output: &QueueSender<Vec<Trace>>,
    deadline: &Deadline,
    downstream: &mut Downstream,
) -> usize {
    let weight = traces_estimated_bytes(&traces);
    match send_or_give_up(output, traces, weight, deadline).await {
        Ok(()) => 0,
        Err((t, true)) => t.iter().map(|t| t.spans.len()).sum(),
        Err((t, false)) => {
            downstream.gone(t.iter().map(|t| t.spans.len()).sum());
            0
        }
    }
}

/// The trace stage: runs the trace processors on released traces and hands them to the
/// exporters.
pub(super) async fn run_traces(
    stage: String,
    mut processors: Vec<Instrumented>,
    mut input: QueueReceiver<Vec<Trace>>,
    outlets: Vec<Arc<Outlet>>,
    dropped: Option<Dropped>,
    deadline: Deadline,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = deadline.passed() => None,
            next = input.recv() => next,
        };
        let Some(traces) = next else { break };
        let before = dropped
            .as_ref()
            .map(|_| OriginCounts::of(traces.iter().flat_map(|t| &t.spans)));
        let mut flow = Flow::Traces(traces);
        for p in &mut processors {
            flow = p.run(flow);
        }
        let out = match flow {
            Flow::Traces(traces) => traces,
            Flow::Spans(_) | Flow::Logs(_) => Vec::new(),
        };
        if let (Some(dropped), Some(before)) = (&dropped, before) {
            dropped.release(before, &out);
        }
        if !out.is_empty() {
            deliver(Payload::Traces(out), &outlets, &deadline).await;
        }
    }
    if deadline.is_passed() {
        let left = left_in(&mut input, |t: &Vec<Trace>| {
            t.iter().map(|t| t.spans.len()).sum()
        });
        deadline.lost(&stage, left);
    }
}

/// Spans a trace processor dropped (a sampler) will reach no exporter: they are released
/// for every exporter of the pipeline, so the log does not keep them.
#[derive(Debug)]
pub(super) struct Dropped {
    pub(super) ledger: Arc<Ledger>,
    pub(super) consumers: Arc<[usize]>,
}

impl Dropped {
    fn release(&self, before: OriginCounts, after: &[Trace]) {
        let kept: usize = after.iter().map(|t| t.spans.len()).sum();
        if kept as u64 == before.spans() {
            return;
        }
        let gone = before.minus(OriginCounts::of(after.iter().flat_map(|t| &t.spans)));
        for &c in self.consumers.iter() {
            self.ledger.durable(c, &mut gone.clone());
        }
    }
}
