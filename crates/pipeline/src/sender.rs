//! The handle receivers use to push batches into their pipelines.

use std::time::Duration;
use tokio::sync::mpsc;
use tracegate_model::SpanBatch;

/// Why a batch was not accepted. Both are retryable for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A pipeline's queue stayed full for the whole wait.
    #[error("the pipeline is full; retry later")]
    Full,
    /// The gateway is shutting down.
    #[error("the gateway is shutting down; retry against another instance or later")]
    ShuttingDown,
}

impl Refused {
    /// The `reason` label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Full => "pipeline_full",
            Refused::ShuttingDown => "shutting_down",
        }
    }
}

/// Sends a receiver's batches to every pipeline that lists it.
///
/// Delivery is all-or-nothing: a slot is reserved in every pipeline's bounded queue before the
/// batch is handed over, so a batch is never half-accepted. A full queue is waited on for at
/// most `max_wait`, then the batch is refused, so a receiver never blocks forever.
#[derive(Debug, Clone)]
pub struct SpanSender {
    targets: Vec<mpsc::Sender<SpanBatch>>,
    max_wait: Duration,
}

impl SpanSender {
    /// A sender to these pipeline queues.
    pub fn new(targets: Vec<mpsc::Sender<SpanBatch>>, max_wait: Duration) -> Self {
        Self { targets, max_wait }
    }

    /// Hands `batch` to every pipeline, or refuses it whole.
    pub async fn send(&self, batch: SpanBatch) -> Result<(), Refused> {
        let mut permits = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let permit = match target.try_reserve() {
                Ok(p) => p,
                Err(mpsc::error::TrySendError::Closed(())) => return Err(Refused::ShuttingDown),
                Err(mpsc::error::TrySendError::Full(())) => {
                    match tokio::time::timeout(self.max_wait, target.reserve()).await {
                        Ok(Ok(p)) => p,
                        Ok(Err(_)) => return Err(Refused::ShuttingDown),
                        Err(_) => return Err(Refused::Full),
                    }
                }
            };
            permits.push(permit);
        }
        let last = permits.pop();
        for permit in permits {
            permit.send(batch.clone());
        }
        if let Some(permit) = last {
            permit.send(batch);
        }
        Ok(())
    }

    /// How many pipelines this sender feeds.
    pub fn fan_out(&self) -> usize {
        self.targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
