//! The pipeline's head: runs the span (or log) processors on each batch, logs it (with the
//! WAL on), answers the receiver, and hands the batch on to the assembly shards or the
//! exporters. A `logs` pipeline has only a head: its batches go straight to the exporters.
//!
//! Logging is pipelined: the head encodes a batch and starts its append, then goes on with
//! the next batch while the log's writer thread groups the appends of every pipeline into one
//! write (and one sync). Each append answers its receiver the moment it returns, whatever the
//! head is doing; batches are handed on in the order they came, once their append is done,
//! stamped with their record's [`Origin`]. At most [`MAX_APPENDS`] appends are in flight per
//! pipeline.

use super::deadline::Deadline;
use super::fanout::{Outlet, deliver};
use super::stages::{Downstream, left_in, to_shards};
use crate::component::Payload;
use crate::durability::{Ledger, LogError, encode_batch};
use crate::helper::{Flow, Instrumented};
use crate::queue::{QueueReceiver, QueueSender};
use crate::sender::{Batch, Inbound, Refused};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tracegate_model::{Origin, SpanBatch};

/// Stamps every item of `batch` with the record it was logged in.
pub(super) fn stamp(batch: &mut Batch, origin: Origin) {
    match batch {
        Batch::Spans(b) => b.spans.iter_mut().for_each(|s| s.origin = origin),
        Batch::Logs(b) => b.records.iter_mut().for_each(|r| r.origin = origin),
    }
}

/// The health component of the write-ahead log.
const WAL_COMPONENT: &str = "wal";

/// Appends one pipeline head keeps in flight at most.
pub(super) const MAX_APPENDS: usize = 32;

/// Where the head sends what its span processors made.
#[derive(Debug)]
pub(super) enum HeadOutput {
    /// Straight to the exporters (no assembly).
    Exporters(Vec<Arc<Outlet>>),
    /// To the assembly shards, by trace id.
    Shards(Vec<QueueSender<SpanBatch>>),
}

/// What the head needs to log batches.
#[derive(Debug, Clone)]
pub(super) struct HeadLog {
    pub(super) ledger: Arc<Ledger>,
    /// The pipeline's id, written in each record so a replay finds the pipeline again
    /// (shared: every append task holds it).
    pub(super) pipeline: Arc<str>,
    /// The ledger's indices of the pipeline's exporters.
    pub(super) consumers: Arc<[usize]>,
    /// Where a log that cannot write is reported (component `wal`).
    pub(super) health: crate::health::Health,
}

/// The receiver's answer for a failed append.
fn refusal(error: &LogError) -> Refused {
    match error {
        LogError::Full { .. } => Refused::WalFull,
        LogError::TooLarge { .. } => Refused::TooLarge,
        LogError::Failed(_) => Refused::WalFailed,
    }
}

impl HeadLog {
    /// Starts logging `batch`: encodes it here, appends in a task of its own that answers the
    /// receiver as soon as the append returns. The task gives back the record's LSN.
    fn start(&self, batch: &Batch, mut answer: Inbound) -> JoinHandle<Option<u64>> {
        let mut record = Vec::new();
        encode_batch(&self.pipeline, batch, &mut record);
        let spans = batch.len() as u64;
        let ticket = self.ledger.begin();
        let log = self.clone();
        tokio::spawn(async move {
            match log.ledger.log().append(record).await {
                Ok(lsn) => {
                    log.ledger.logged(Some(ticket), lsn, spans, &log.consumers);
                    answer.answer(Ok(()));
                    log.health.recovered(WAL_COMPONENT);
                    Some(lsn)
                }
                Err(error) => {
                    drop(ticket);
                    if matches!(error, LogError::Failed(_)) {
                        tracing::error!(pipeline = %log.pipeline, %error, "could not log a batch; the receiver refuses it");
                        log.health.degraded(
                            WAL_COMPONENT,
                            format!("{error}; receivers refuse new data with retryable statuses; check the WAL's disk"),
                        );
                    }
                    answer.answer(Err(refusal(&error)));
                    None
                }
            }
        })
    }
}

/// Runs the head until its input closes (then finishes the appends in flight and hands
/// their batches on) or the deadline passes (then counts what it held; what was logged is
/// replayed at the next start).
pub(super) async fn run_head(
    stage: String,
    mut processors: Vec<Instrumented>,
    mut input: QueueReceiver<Inbound>,
    output: HeadOutput,
    log: Option<HeadLog>,
    deadline: Deadline,
) {
    let mut downstream = Downstream::new(stage.clone());
    let mut appending: VecDeque<(Batch, JoinHandle<Option<u64>>)> = VecDeque::new();
    let mut open = true;
    while open || !appending.is_empty() {
        let room = open && appending.len() < MAX_APPENDS;
        let front_done = async {
            match appending.front_mut() {
                Some((_, task)) => task.await.ok().flatten(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = deadline.passed() => break,
            lsn = front_done => {
                let Some((mut batch, _)) = appending.pop_front() else { continue };
                // `None`: the append failed and the receiver was refused; the client retries.
                if let Some(lsn) = lsn {
                    stamp(&mut batch, Origin::logged(lsn));
                    hand_on(batch, &output, &stage, &deadline, &mut downstream).await;
                }
            }
            next = input.recv(), if room => {
                let Some(mut inbound) = next else {
                    open = false;
                    continue;
                };
                let batch = std::mem::take(&mut inbound.batch);
                if inbound.replayed {
                    hand_on(batch, &output, &stage, &deadline, &mut downstream).await;
                    continue;
                }
                let mut flow = match batch {
                    Batch::Spans(b) => Flow::Spans(b),
                    Batch::Logs(b) => Flow::Logs(b),
                };
                for p in &mut processors {
                    flow = p.run(flow);
                }
                let batch = match flow {
                    Flow::Spans(b) => Batch::Spans(b),
                    Flow::Logs(b) => Batch::Logs(b),
                    Flow::Traces(_) => continue,
                };
                match &log {
                    Some(log) if !batch.is_empty() => {
                        let task = log.start(&batch, inbound);
                        appending.push_back((batch, task));
                    }
                    _ => {
                        inbound.answer(Ok(()));
                        if !batch.is_empty() {
                            hand_on(batch, &output, &stage, &deadline, &mut downstream).await;
                        }
                    }
                }
            }
        }
    }
    if deadline.is_passed() {
        let held: usize = appending.iter().map(|(b, _)| b.len()).sum();
        deadline.lost(
            &stage,
            held + left_in(&mut input, |i: &Inbound| i.batch.len()),
        );
    }
    tracing::debug!(%stage, "pipeline head stopped");
}

async fn hand_on(
    batch: Batch,
    output: &HeadOutput,
    stage: &str,
    deadline: &Deadline,
    downstream: &mut Downstream,
) {
    let batch = match (batch, output) {
        (Batch::Logs(logs), HeadOutput::Exporters(outlets)) => {
            return deliver(Payload::Logs(logs), outlets, deadline).await;
        }
        // Config resolution gives `logs` pipelines no assembly.
        (Batch::Logs(logs), HeadOutput::Shards(_)) => {
            deadline.lost(stage, logs.len());
            return;
        }
        (Batch::Spans(spans), _) => spans,
    };
    match output {
        HeadOutput::Exporters(outlets) => deliver(Payload::Spans(batch), outlets, deadline).await,
        HeadOutput::Shards(shards) => {
            let lost = to_shards(batch, shards, deadline, downstream).await;
            if lost > 0 {
                deadline.lost(stage, lost);
            }
        }
    }
}
