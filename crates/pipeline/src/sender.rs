//! The handle receivers use to push batches into their pipelines, and [`Inbound`], what a
//! pipeline's input queue carries.

use crate::queue::{Closed, QueueSender, TryReserveError};
use std::time::Duration;
use tokio::sync::oneshot;
use tracegate_model::{LogBatch, Signal, SpanBatch};

/// Why a batch was not accepted. All but [`Refused::TooLarge`] are retryable for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A pipeline's queue stayed full for the whole wait.
    #[error("the pipeline is full; retry later")]
    Full,
    /// The gateway is shutting down.
    #[error("the gateway is shutting down; retry against another instance or later")]
    ShuttingDown,
    /// The write-ahead log holds its `service.wal.max_bytes`: exporters are behind.
    #[error("the write-ahead log is full (an exporter is behind); retry later")]
    WalFull,
    /// The write-ahead log cannot write (see the gateway's log).
    #[error("the write-ahead log cannot write; retry later or against another instance")]
    WalFailed,
    /// The batch is larger than a write-ahead-log record may be.
    #[error("the batch is too large for the write-ahead log; send smaller batches")]
    TooLarge,
}

impl Refused {
    /// The `reason` label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Full => "pipeline_full",
            Refused::ShuttingDown => "shutting_down",
            Refused::WalFull => "wal_full",
            Refused::WalFailed => "wal_failed",
            Refused::TooLarge => "wal_record_too_large",
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Refused::TooLarge)
    }
}

/// The answer a pipeline gives once a batch is logged (or refused).
pub type Ack = oneshot::Sender<Result<(), Refused>>;

/// A batch of either signal, as a pipeline's input carries it: spans into a `traces`
/// pipeline, log records into a `logs` pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Spans.
    Spans(SpanBatch),
    /// Log records.
    Logs(LogBatch),
}

impl Default for Batch {
    fn default() -> Self {
        Batch::Spans(SpanBatch::default())
    }
}

impl Batch {
    /// Spans or records carried.
    pub fn len(&self) -> usize {
        match self {
            Batch::Spans(b) => b.len(),
            Batch::Logs(b) => b.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated in-memory size, the batch's weight in a byte-bounded queue.
    pub fn estimated_bytes(&self) -> usize {
        match self {
            Batch::Spans(b) => b.estimated_bytes(),
            Batch::Logs(b) => b.estimated_bytes(),
        }
    }

    /// The signal carried.
    pub fn signal(&self) -> Signal {
        match self {
            Batch::Spans(_) => Signal::Traces,
            Batch::Logs(_) => Signal::Logs,
        }
    }
}

impl From<SpanBatch> for Batch {
    fn from(b: SpanBatch) -> Self {
        Batch::Spans(b)
    }
}

impl From<LogBatch> for Batch {
    fn from(b: LogBatch) -> Self {
        Batch::Logs(b)
    }
}

/// What a pipeline's input queue carries: a batch from a receiver, which the pipeline
/// acknowledges once it is in the write-ahead log, or a batch replayed from the log at start.
#[derive(Debug)]
pub struct Inbound {
    /// The spans or log records.
    pub batch: Batch,
    /// Where to answer; `None` when the receiver does not wait (no log) or for a replay.
    pub ack: Option<Ack>,
    /// True for a batch replayed from the log: its span processors already ran and its
    /// spans carry their origin.
    pub replayed: bool,
}

impl Inbound {
    /// A batch from a receiver.
    pub fn new(batch: impl Into<Batch>, ack: Option<Ack>) -> Self {
        Self {
            batch: batch.into(),
            ack,
            replayed: false,
        }
    }

    /// A batch replayed from the log.
    pub fn replayed(batch: impl Into<Batch>) -> Self {
        Self {
            batch: batch.into(),
            ack: None,
            replayed: true,
        }
    }

    /// Spans or records carried.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True when nothing is carried.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The spans; empty when the batch is of logs.
    pub fn into_spans(self) -> SpanBatch {
        match self.batch {
            Batch::Spans(b) => b,
            Batch::Logs(_) => SpanBatch::default(),
        }
    }

    /// The log records; empty when the batch is of spans.
    pub fn into_logs(self) -> LogBatch {
        match self.batch {
            Batch::Logs(b) => b,
            Batch::Spans(_) => LogBatch::default(),
        }
    }

    /// The spans, when the batch is of spans.
    pub fn spans(&self) -> Option<&SpanBatch> {
        match &self.batch {
            Batch::Spans(b) => Some(b),
            Batch::Logs(_) => None,
        }
    }

    /// The log records, when the batch is of logs.
    pub fn logs(&self) -> Option<&LogBatch> {
        match &self.batch {
            Batch::Logs(b) => Some(b),
            Batch::Spans(_) => None,
        }
    }

    /// Answers the receiver, if it waits.
    pub fn answer(&mut self, result: Result<(), Refused>) {
        if let Some(ack) = self.ack.take() {
            let _ = ack.send(result);
        }
    }
}

impl PartialEq<SpanBatch> for Inbound {
    fn eq(&self, other: &SpanBatch) -> bool {
        self.spans() == Some(other)
    }
}

impl PartialEq<LogBatch> for Inbound {
    fn eq(&self, other: &LogBatch) -> bool {
        self.logs() == Some(other)
    }
}

/// Sends a receiver's batches to every pipeline that lists it: spans to its `traces`
/// pipelines ([`SpanSender::send`]), log records to its `logs` pipelines
/// ([`SpanSender::send_logs`]).
///
/// Delivery is all-or-nothing: room for the batch, in items and in bytes (its estimated
/// size), is reserved in every pipeline's bounded queue before the batch is handed over, so a
/// batch is never half-accepted. A full queue is waited on for at most `max_wait`, then the
/// batch is refused, so a receiver never blocks forever.
///
/// With the write-ahead log on ([`SpanSender::wait_for_log`]), `send` returns only once every
/// pipeline has logged the batch, so the receiver's OK means the spans are on disk.
#[derive(Debug, Clone)]
pub struct SpanSender {
    targets: Vec<QueueSender<Inbound>>,
    log_targets: Vec<QueueSender<Inbound>>,
    max_wait: Duration,
    wait_for_log: bool,
}

impl SpanSender {
    /// A sender to these pipeline queues (byte-weighted [`queue`](crate::queue)s, or plain
    /// `mpsc` senders in tests) that does not wait for a log.
    pub fn new<Q: Into<QueueSender<Inbound>>>(targets: Vec<Q>, max_wait: Duration) -> Self {
        Self {
            targets: targets.into_iter().map(Into::into).collect(),
            log_targets: Vec::new(),
            max_wait,
            wait_for_log: false,
        }
    }

    /// The same, also feeding these `logs` pipelines.
    pub fn with_logs<Q: Into<QueueSender<Inbound>>>(mut self, targets: Vec<Q>) -> Self {
        self.log_targets = targets.into_iter().map(Into::into).collect();
        self
    }

    /// The same, waiting for every pipeline to log each batch before `send` returns.
    pub fn wait_for_log(mut self) -> Self {
        self.wait_for_log = true;
        self
    }

    /// Hands `batch` to every `traces` pipeline, or refuses it whole.
    pub async fn send(&self, batch: SpanBatch) -> Result<(), Refused> {
        self.send_to(&self.targets, Batch::Spans(batch)).await
    }

    /// Hands `batch` to every `logs` pipeline, or refuses it whole. With no `logs` pipeline
    /// fed by this receiver, the batch is dropped and `Ok` returned: check
    /// [`Self::takes_logs`] first to answer such requests with an error instead.
    pub async fn send_logs(&self, batch: LogBatch) -> Result<(), Refused> {
        self.send_to(&self.log_targets, Batch::Logs(batch)).await
    }

    /// Whether any `logs` pipeline lists this receiver.
    pub fn takes_logs(&self) -> bool {
        !self.log_targets.is_empty()
    }

    /// Whether any `traces` pipeline lists this receiver.
    pub fn takes_traces(&self) -> bool {
        !self.targets.is_empty()
    }

    async fn send_to(&self, targets: &[QueueSender<Inbound>], batch: Batch) -> Result<(), Refused> {
        let weight = batch.estimated_bytes();
        let mut permits = Vec::with_capacity(targets.len());
        for target in targets {
            let permit = match target.try_reserve(weight) {
                Ok(p) => p,
                Err(TryReserveError::Closed) => return Err(Refused::ShuttingDown),
                Err(TryReserveError::Full) => {
                    match tokio::time::timeout(self.max_wait, target.reserve(weight)).await {
                        Ok(Ok(p)) => p,
                        Ok(Err(Closed)) => return Err(Refused::ShuttingDown),
                        Err(_) => return Err(Refused::Full),
                    }
                }
            };
            permits.push(permit);
        }
        let mut answers = Vec::new();
        let mut ack = || {
            self.wait_for_log.then(|| {
                let (tx, rx) = oneshot::channel();
                answers.push(rx);
                tx
            })
        };
        let last = permits.pop();
        for permit in permits {
            permit.send(Inbound::new(batch.clone(), ack()));
        }
        if let Some(permit) = last {
            permit.send(Inbound::new(batch, ack()));
        }
        let mut result = Ok(());
        for answer in answers {
            // A dropped answer: the pipeline gave up (the shutdown deadline passed).
            let r = answer.await.unwrap_or(Err(Refused::ShuttingDown));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// How many `traces` pipelines this sender feeds.
    pub fn fan_out(&self) -> usize {
        self.targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn waiting_for_the_log_returns_the_first_refusal_of_any_pipeline() {
        let (a_tx, mut a_rx) = mpsc::channel::<Inbound>(4);
        let (b_tx, mut b_rx) = mpsc::channel::<Inbound>(4);
        let sender = SpanSender::new(vec![a_tx, b_tx], Duration::from_millis(50)).wait_for_log();
        let answer = tokio::spawn(async move {
            let mut a = a_rx.recv().await.unwrap();
            let mut b = b_rx.recv().await.unwrap();
            a.answer(Ok(()));
            b.answer(Err(Refused::WalFull));
            // A pipeline that gives up without answering counts as shutting down.
            drop(a_rx.recv().await);
            drop(b_rx.recv().await);
        });
        assert_eq!(
            sender.send(SpanBatch::default()).await,
            Err(Refused::WalFull)
        );
        assert_eq!(
            sender.send(SpanBatch::default()).await,
            Err(Refused::ShuttingDown)
        );
        answer.await.unwrap();
        assert!(!Refused::TooLarge.is_retryable() && Refused::WalFull.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_when_full_after_waiting_and_never_half_delivers() {
        let (a_tx, mut a_rx) = mpsc::channel(1);
        let (b_tx, mut b_rx) = mpsc::channel(2);
        let sender = SpanSender::new(vec![a_tx, b_tx], Duration::from_millis(50));
        sender.send(SpanBatch::default()).await.unwrap();
        // `a` is now full: the next batch waits 50 ms and is refused, and `b` gets nothing.
        assert_eq!(sender.send(SpanBatch::default()).await, Err(Refused::Full));
        assert!(a_rx.try_recv().is_ok());
        assert!(b_rx.try_recv().is_ok());
        assert!(b_rx.try_recv().is_err());
        drop(a_rx);
        assert_eq!(
            sender.send(SpanBatch::default()).await,
            Err(Refused::ShuttingDown)
        );
    }
}

#[cfg(test)]
mod byte_tests {
    use super::*;
    use crate::queue;

    fn batch(name_bytes: usize) -> SpanBatch {
        let mut span = crate::test_support::span(0);
        span.name = "x".repeat(name_bytes);
        SpanBatch { spans: vec![span] }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipeline_full_in_bytes_refuses_although_it_has_free_slots() {
        let big = batch(10_000);
        let weight = big.estimated_bytes();
        // Room for 64 batches but only for the bytes of about one and a half.
        let (tx, mut rx) = queue::channel("t", 64, weight * 3 / 2);
        let (other, mut other_rx) = queue::channel("u", 64, usize::MAX);
        let sender = SpanSender::new(vec![other, tx], Duration::from_millis(50));
        sender.send(big.clone()).await.unwrap();
        assert_eq!(sender.send(big.clone()).await, Err(Refused::Full));
        // All or nothing: the other pipeline did not get the refused batch either.
        assert!(other_rx.try_recv().is_some());
        assert!(other_rx.try_recv().is_none());
        assert!(rx.try_recv().is_some());
        sender.send(big).await.unwrap();
    }
}
