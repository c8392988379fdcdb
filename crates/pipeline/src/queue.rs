//! A bounded queue that bounds both items and bytes.
//!
//! A queue of 64 batches says nothing about memory: 64 decoded requests of 64 MiB each are
//! 4 GiB. Every queue in the topology is therefore a [`channel`] with two bounds: a number of
//! items (the `mpsc` channel's capacity) and a number of bytes (a [`Semaphore`] whose permits
//! are bytes). A sender first takes `weight` permits, then a slot; the permits travel with the
//! item and go back when the consumer takes it out. Weights are estimates the caller computes
//! once (`SpanBatch::estimated_bytes`).
//!
//! An item heavier than the whole byte capacity still passes, alone: its weight is clamped to
//! the capacity, so it waits until the queue is empty instead of forever.
//!
//! When the receiving side is dropped the semaphore is closed, so a sender waiting for bytes
//! learns the queue is gone instead of waiting forever.

use crate::telemetry::{self, QueueGauges};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};

/// The largest byte capacity a queue can have: tokio's semaphore limit, and what one
/// `acquire_many` call can take (`u32`).
pub const MAX_BYTES: usize = if Semaphore::MAX_PERMITS < u32::MAX as usize {
    Semaphore::MAX_PERMITS
} else {
    u32::MAX as usize
};

/// The largest item capacity a queue can have: tokio's `mpsc` panics above it.
pub const MAX_ITEMS: usize = usize::MAX >> 3;

/// An item with the bytes it holds in its queue.
#[derive(Debug)]
struct Weighed<T> {
    item: T,
    bytes: u32,
}

#[derive(Debug)]
enum Inner<T> {
    /// Bounded in items and bytes.
    Weighed {
        tx: mpsc::Sender<Weighed<T>>,
        bytes: Arc<Semaphore>,
        capacity: u32,
        gauges: QueueGauges,
    },
    /// Bounded in items only, for a consumer that is a plain `mpsc::Receiver` (tests, and
    /// callers that bound bytes themselves).
    Plain(mpsc::Sender<T>),
}

/// The sending half of a [`channel`]. Clones share the queue.
#[derive(Debug)]
pub struct QueueSender<T> {
    inner: Inner<T>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Weighed {
                tx,
                bytes,
                capacity,
                gauges,
            } => Inner::Weighed {
                tx: tx.clone(),
                bytes: bytes.clone(),
                capacity: *capacity,
                gauges: gauges.clone(),
            },
            Inner::Plain(tx) => Inner::Plain(tx.clone()),
        };
        Self { inner }
    }
}

impl<T> From<mpsc::Sender<T>> for QueueSender<T> {
    /// An item-bounded sender over a plain `mpsc` channel: weights are ignored.
    fn from(tx: mpsc::Sender<T>) -> Self {
        Self {
            inner: Inner::Plain(tx),
        }
    }
}

/// The receiving half of a [`channel`].
#[derive(Debug)]
pub struct QueueReceiver<T> {
    rx: mpsc::Receiver<Weighed<T>>,
    bytes: Arc<Semaphore>,
    capacity: u32,
    gauges: QueueGauges,
}

/// Why an item could not be queued at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryReserveError {
    /// No room now, in items or in bytes.
    Full,
    /// The consumer is gone.
    Closed,
}

/// The consumer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Room for one item of a known weight, reserved in a queue; [`send`](Permit::send) it or
/// drop it to give the room back.
#[derive(Debug)]
pub struct Permit<'a, T> {
    inner: PermitInner<'a, T>,
}

#[derive(Debug)]
enum PermitInner<'a, T> {
    Weighed {
        slot: mpsc::Permit<'a, Weighed<T>>,
        bytes: tokio::sync::SemaphorePermit<'a>,
        weight: u32,
        sender: &'a QueueSender<T>,
    },
    Plain(mpsc::Permit<'a, T>),
}

impl<T> Permit<'_, T> {
    /// Queues `item` in the reserved room. Never waits.
    pub fn send(self, item: T) {
        match self.inner {
            PermitInner::Weighed {
                slot,
                bytes,
                weight,
                sender,
            } => {
                // The consumer gives the bytes back when it takes the item.
                bytes.forget();
                slot.send(Weighed {
                    item,
                    bytes: weight,
                });
                sender.record();
            }
            PermitInner::Plain(slot) => slot.send(item),
        }
    }
}

/// A queue of at most `items` items and `max_bytes` bytes (both at least 1, and at most
/// [`MAX_ITEMS`] and [`MAX_BYTES`]: larger values are clamped), reporting its depth and bytes
/// under `stage`.
pub fn channel<T>(
    stage: &str,
    items: usize,
    max_bytes: usize,
) -> (QueueSender<T>, QueueReceiver<T>) {
    let items = items.clamp(1, MAX_ITEMS);
    let capacity = u32::try_from(max_bytes.clamp(1, MAX_BYTES)).unwrap_or(u32::MAX);
    let (tx, rx) = mpsc::channel(items);
    let bytes = Arc::new(Semaphore::new(capacity as usize));
    let gauges = telemetry::queue_gauges(stage, items, capacity as usize);
    (
        QueueSender {
            inner: Inner::Weighed {
                tx,
                bytes: bytes.clone(),
                capacity,
                gauges: gauges.clone(),
            },
        },
        QueueReceiver {
            rx,
            bytes,
            capacity,
            gauges,
        },
    )
}

fn clamp_weight(weight: usize, capacity: u32) -> u32 {
    u32::try_from(weight).unwrap_or(u32::MAX).min(capacity)
}

impl<T> QueueSender<T> {
    /// Reserves room for an item of `weight` bytes if there is room now.
    pub fn try_reserve(&self, weight: usize) -> Result<Permit<'_, T>, TryReserveError> {
        match &self.inner {
            Inner::Weighed {
                tx,
                bytes,
                capacity,
                ..
            } => {
                let weight = clamp_weight(weight, *capacity);
                let held = bytes.try_acquire_many(weight).map_err(|e| match e {
                    tokio::sync::TryAcquireError::Closed => TryReserveError::Closed,
                    tokio::sync::TryAcquireError::NoPermits => TryReserveError::Full,
                })?;
                let slot = tx.try_reserve().map_err(|e| match e {
                    mpsc::error::TrySendError::Full(()) => TryReserveError::Full,
                    mpsc::error::TrySendError::Closed(()) => TryReserveError::Closed,
                })?;
                Ok(Permit {
                    inner: PermitInner::Weighed {
                        slot,
                        bytes: held,
                        weight,
                        sender: self,
                    },
                })
            }
            Inner::Plain(tx) => match tx.try_reserve() {
                Ok(slot) => Ok(Permit {
                    inner: PermitInner::Plain(slot),
                }),
                Err(mpsc::error::TrySendError::Full(())) => Err(TryReserveError::Full),
                Err(mpsc::error::TrySendError::Closed(())) => Err(TryReserveError::Closed),
            },
        }
    }

    /// Waits for room for an item of `weight` bytes: first the bytes, then a slot.
    pub async fn reserve(&self, weight: usize) -> Result<Permit<'_, T>, Closed> {
        match &self.inner {
            Inner::Weighed {
                tx,
                bytes,
                capacity,
                ..
            } => {
                let weight = clamp_weight(weight, *capacity);
                let held = bytes.acquire_many(weight).await.map_err(|_| Closed)?;
                let slot = tx.reserve().await.map_err(|_| Closed)?;
                Ok(Permit {
                    inner: PermitInner::Weighed {
                        slot,
                        bytes: held,
                        weight,
                        sender: self,
                    },
                })
            }
            Inner::Plain(tx) => tx
                .reserve()
                .await
                .map(|slot| Permit {
                    inner: PermitInner::Plain(slot),
                })
                .map_err(|_| Closed),
        }
    }

    /// Waits for room, then queues `item`. Gives the item back if the consumer is gone.
    pub async fn send(&self, item: T, weight: usize) -> Result<(), T> {
        match self.reserve(weight).await {
            Ok(permit) => {
                permit.send(item);
                Ok(())
            }
            Err(Closed) => Err(item),
        }
    }

    /// Whether the consumer is gone.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Inner::Weighed { tx, .. } => tx.is_closed(),
            Inner::Plain(tx) => tx.is_closed(),
        }
    }

    fn record(&self) {
        if let Inner::Weighed {
            tx,
            bytes,
            capacity,
            gauges,
        } = &self.inner
        {
            let depth = tx.max_capacity() - tx.capacity();
            gauges.set(depth, held_bytes(bytes, *capacity));
        }
    }
}

fn held_bytes(bytes: &Semaphore, capacity: u32) -> usize {
    (capacity as usize).saturating_sub(bytes.available_permits())
}

impl<T> QueueReceiver<T> {
    /// The next item, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        let next = self.rx.recv().await?;
        Some(self.took(next))
    }

    /// The next item if one is queued now.
    pub fn try_recv(&mut self) -> Option<T> {
        let next = self.rx.try_recv().ok()?;
        Some(self.took(next))
    }

    fn took(&self, next: Weighed<T>) -> T {
        self.bytes.add_permits(next.bytes as usize);
        self.gauges
            .set(self.rx.len(), held_bytes(&self.bytes, self.capacity));
        next.item
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Bytes held by queued items and by senders' reservations, now.
    pub fn bytes(&self) -> usize {
        held_bytes(&self.bytes, self.capacity)
    }

    /// Stops accepting: senders learn the queue is closed; what is queued can still be taken.
    pub fn close(&mut self) {
        self.rx.close();
        self.bytes.close();
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        // Wake senders waiting for bytes: the queue is gone.
        self.bytes.close();
        self.gauges.set(0, 0);
    }
}

#[cfg(test)]
mod tests;
