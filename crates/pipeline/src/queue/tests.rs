//! The byte-weighted queue: both bounds hold, oversized items pass alone, closing wakes
//! waiters.

use super::*;
use proptest::prelude::*;

#[test]
fn bytes_bound_the_queue_before_items_do() {
    let (tx, mut rx) = channel::<u32>("test", 100, 1000);
    tx.try_reserve(600).unwrap().send(1);
    assert_eq!(rx.bytes(), 600);
    // 99 slots left, but only 400 bytes.
    assert_eq!(tx.try_reserve(500).err(), Some(TryReserveError::Full));
    tx.try_reserve(400).unwrap().send(2);
    assert_eq!(rx.bytes(), 1000);
    assert_eq!(tx.try_reserve(1).err(), Some(TryReserveError::Full));
    assert_eq!(rx.try_recv(), Some(1));
    assert_eq!(rx.bytes(), 400);
    tx.try_reserve(600).unwrap().send(3);
    assert_eq!(rx.try_recv(), Some(2));
    assert_eq!(rx.try_recv(), Some(3));
    assert_eq!(rx.bytes(), 0);
}

#[test]
fn items_bound_the_queue_when_items_are_light() {
    let (tx, mut rx) = channel::<u32>("test", 2, 1000);
    tx.try_reserve(1).unwrap().send(1);
    tx.try_reserve(1).unwrap().send(2);
    assert_eq!(tx.try_reserve(1).err(), Some(TryReserveError::Full));
    // The failed slot reservation gave its bytes back.
    assert_eq!(rx.bytes(), 2);
    assert_eq!(rx.try_recv(), Some(1));
    assert!(tx.try_reserve(1).is_ok());
}

#[test]
fn a_dropped_reservation_gives_its_bytes_back() {
    let (tx, rx) = channel::<u32>("test", 4, 100);
    let permit = tx.try_reserve(80).unwrap();
    assert_eq!(rx.bytes(), 80);
    drop(permit);
    assert_eq!(rx.bytes(), 0);
}

#[tokio::test]
async fn an_item_heavier_than_the_queue_passes_alone() {
    let (tx, mut rx) = channel::<u32>("test", 4, 100);
    tx.try_reserve(10).unwrap().send(1);
    // Heavier than the whole queue: it must wait for the queue to empty, not forever.
    assert_eq!(tx.try_reserve(10_000).err(), Some(TryReserveError::Full));
    let waiting = tokio::spawn(async move {
        tx.send(2, 10_000).await.unwrap();
        tx
    });
    assert_eq!(rx.recv().await, Some(1));
    let tx = waiting.await.unwrap();
    assert_eq!(rx.bytes(), 100);
    assert_eq!(tx.try_reserve(1).err(), Some(TryReserveError::Full));
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.bytes(), 0);
}

#[tokio::test]
async fn dropping_the_receiver_wakes_a_sender_waiting_for_bytes() {
    let (tx, mut rx) = channel::<u32>("test", 4, 100);
    tx.try_reserve(100).unwrap().send(1);
    let waiting = tokio::spawn(async move { tx.send(2, 50).await });
    tokio::task::yield_now().await;
    assert_eq!(rx.try_recv(), Some(1));
    drop(rx);
    // Either it got in before the drop (and its item was dropped with the queue) or it was
    // told the queue is closed; it never hangs.
    let _ = waiting.await.unwrap();

    let (tx, rx) = channel::<u32>("test", 4, 100);
    tx.try_reserve(100).unwrap().send(1);
    let waiting = tokio::spawn(async move { tx.send(2, 50).await });
    tokio::task::yield_now().await;
    drop(rx);
    assert_eq!(waiting.await.unwrap(), Err(2));
}

#[test]
fn a_plain_mpsc_sender_bounds_items_only() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
    let tx = QueueSender::from(tx);
    tx.try_reserve(usize::MAX).unwrap().send(7);
    assert_eq!(tx.try_reserve(0).err(), Some(TryReserveError::Full));
    assert_eq!(rx.try_recv().ok(), Some(7));
}

proptest! {
    /// Whatever the sequence of sends and takes, the bytes held never exceed the capacity and
    /// always equal the (clamped) weights of what is queued; nothing is lost or reordered.
    #[test]
    fn held_bytes_always_match_what_is_queued(
        capacity in 1usize..2000,
        ops in proptest::collection::vec((any::<bool>(), 0usize..3000), 0..200),
    ) {
        let (tx, mut rx) = channel::<usize>("prop", 16, capacity);
        let mut model: std::collections::VecDeque<(usize, usize)> = Default::default();
        let mut next = 0;
        for (send, weight) in ops {
            if send {
                let clamped = weight.min(capacity);
                let held: usize = model.iter().map(|(_, w)| w).sum();
                let fits = model.len() < 16 && held + clamped <= capacity;
                match tx.try_reserve(weight) {
                    Ok(p) => {
                        prop_assert!(fits, "accepted {clamped} with {held} of {capacity} held");
                        p.send(next);
                        model.push_back((next, clamped));
                        next += 1;
                    }
                    Err(e) => {
                        prop_assert_eq!(e, TryReserveError::Full);
                        prop_assert!(!fits, "refused {} with {} of {} held", clamped, held, capacity);
                    }
                }
            } else {
                prop_assert_eq!(rx.try_recv(), model.pop_front().map(|(n, _)| n));
            }
            let held: usize = model.iter().map(|(_, w)| w).sum();
            prop_assert_eq!(rx.bytes(), held);
            prop_assert!(rx.bytes() <= capacity);
        }
    }
}
