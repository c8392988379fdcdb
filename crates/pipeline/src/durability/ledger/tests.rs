use super::*;
use crate::durability::Log;
use crate::test_support::MemoryLog;
use proptest::prelude::*;
use tracegate_model::Origin;

fn counts(lsn: u64, n: u64) -> OriginCounts {
    let mut c = OriginCounts::default();
    for _ in 0..n {
        c.add(Origin::logged(lsn));
    }
    c
}

async fn append(log: &MemoryLog, len: usize) -> u64 {
    log.append(vec![0; len]).await.unwrap()
}

#[tokio::test]
async fn golden_checkpoint_follows_the_oldest_record_not_yet_durable() {
    let log = Arc::new(MemoryLog::default());
    let ledger = Ledger::new(log.clone(), vec!["archive".into(), "otlp".into()]);
    // Three records of 10 bytes: LSNs 0, 10, 20.
    for _ in 0..3 {
        let t = ledger.begin();
        let lsn = append(&log, 10).await;
        ledger.logged(Some(t), lsn, 2, &[0, 1]);
    }
    assert_eq!((ledger.low_water(0), ledger.low_water(1)), (0, 0));
    ledger.durable(0, &mut counts(10, 2));
    ledger.durable(0, &mut counts(0, 1));
    assert_eq!(ledger.low_water(0), 0, "one span of record 0 is still owed");
    ledger.durable(0, &mut counts(0, 1));
    assert_eq!(ledger.low_water(0), 20);
    ledger.durable(0, &mut counts(20, 2));
    assert_eq!(ledger.low_water(0), 30, "nothing owed: the log's end");
    assert_eq!(ledger.low_water(1), 0, "the other exporter has nothing yet");
    ledger.checkpoint();
    assert_eq!(
        log.state.lock().unwrap().checkpoints.get("archive"),
        Some(&30)
    );
    assert_eq!(log.state.lock().unwrap().checkpoints.get("otlp"), None);
}

#[tokio::test]
async fn an_append_in_flight_holds_every_checkpoint_back() {
    let log = Arc::new(MemoryLog::default());
    let ledger = Ledger::new(log.clone(), vec!["a".into()]);
    let first = ledger.begin();
    let second = ledger.begin();
    let lsn1 = append(&log, 5).await;
    let lsn2 = append(&log, 5).await;
    // The second append returns first and is counted and made durable at once.
    ledger.logged(Some(second), lsn2, 1, &[0]);
    ledger.durable(0, &mut counts(lsn2, 1));
    assert_eq!(
        ledger.low_water(0),
        0,
        "the first append is not counted yet"
    );
    ledger.logged(Some(first), lsn1, 1, &[0]);
    assert_eq!(ledger.low_water(0), 0);
    ledger.durable(0, &mut counts(lsn1, 1));
    assert_eq!(ledger.low_water(0), 10);
    // A ticket dropped without being logged (the append failed) holds nothing.
    let failed = ledger.begin();
    assert_eq!(ledger.low_water(0), 10);
    drop(failed);
    let _replay = ledger.begin_at(3);
    assert_eq!(ledger.low_water(0), 3);
}

#[tokio::test]
async fn overreporting_saturates_instead_of_wrapping() {
    let log = Arc::new(MemoryLog::default());
    let ledger = Ledger::new(log.clone(), vec!["a".into()]);
    let lsn = append(&log, 5).await;
    ledger.logged(None, lsn, 1, &[0]);
    ledger.durable(0, &mut counts(lsn, 3));
    ledger.durable(0, &mut counts(99, 1));
    assert_eq!(ledger.outstanding(0), 0);
    assert_eq!(ledger.low_water(0), 5);
}

#[derive(Debug, Clone)]
enum Op {
    Begin,
    /// Completes the in-flight append at this index (mod the count) with this many spans.
    Complete(usize, u64),
    /// Makes `n` spans of the owed record at this index durable for this consumer.
    Durable(usize, usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Begin),
        (any::<usize>(), 0u64..4).prop_map(|(i, n)| Op::Complete(i, n)),
        (0usize..2, any::<usize>(), 1u64..3).prop_map(|(c, i, n)| Op::Durable(c, i, n)),
    ]
}

proptest! {
    /// Whatever the order of appends returning and exporters reporting, a checkpoint never
    /// passes a record with spans still owed or an append in flight, and reaches the log's end
    /// once everything is durable.
    #[test]
    fn never_passes_what_is_owed(ops in prop::collection::vec(op(), 0..80)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let log = Arc::new(MemoryLog::default());
            let ledger = Ledger::new(log.clone(), vec!["a".into(), "b".into()]);
            let mut in_flight: Vec<(Ticket, u64)> = Vec::new();
            let mut owed: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); 2];
            for op in ops {
                match op {
                    Op::Begin => {
                        let t = ledger.begin();
                        let lsn = append(&log, 7).await;
                        in_flight.push((t, lsn));
                    }
                    Op::Complete(i, n) if !in_flight.is_empty() => {
                        let (t, lsn) = in_flight.remove(i % in_flight.len());
                        ledger.logged(Some(t), lsn, n, &[0, 1]);
                        if n > 0 {
                            owed[0].insert(lsn, n);
                            owed[1].insert(lsn, n);
                        }
                    }
                    Op::Durable(c, i, n) if !owed[c].is_empty() => {
                        let lsn = *owed[c].keys().nth(i % owed[c].len()).unwrap();
                        let left = owed[c][&lsn];
                        let n = n.min(left);
                        ledger.durable(c, &mut counts(lsn, n));
                        if left == n { owed[c].remove(&lsn); } else { owed[c].insert(lsn, left - n); }
                    }
                    _ => {}
                }
                for (c, owed) in owed.iter().enumerate() {
                    let lw = ledger.low_water(c);
                    if let Some(oldest) = owed.keys().next() {
                        prop_assert!(lw <= *oldest);
                    }
                    for (_, lsn) in &in_flight {
                        prop_assert!(lw <= *lsn);
                    }
                    prop_assert!(lw <= log.end());
                }
            }
            for (t, lsn) in in_flight.drain(..) {
                ledger.logged(Some(t), lsn, 0, &[0, 1]);
            }
            for (c, owed) in owed.iter_mut().enumerate() {
                for (lsn, n) in std::mem::take(owed) {
                    ledger.durable(c, &mut counts(lsn, n));
                }
                prop_assert_eq!(ledger.low_water(c), log.end());
            }
            Ok(())
        })?;
    }
}
