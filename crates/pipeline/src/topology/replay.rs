//! Replay at start: every record some exporter has not made durable goes back to the
//! pipeline that logged it, straight past the span processors (they ran before the record
//! was written) into assembly, before the receivers open. Whole traces come out whole again.
//!
//! Reading and decoding run on a thread of their own; sends into the pipeline wait for room
//! like any other, so a long replay is paced by the exporters. A record an exporter had
//! already made durable is not owed to it again (its checkpoint is past the record), and its
//! exporter task skips the record's spans.

use super::Logged;
use crate::durability::{Record, RecordError, decode_record};
use crate::queue::QueueSender;
use crate::sender::Inbound;
use crate::telemetry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracegate_model::Origin;

/// Each replayed pipeline's input and the ledger indices of its exporters.
pub(super) type Targets = BTreeMap<String, (QueueSender<Inbound>, Arc<[usize]>)>;

type Decoded = Result<(u64, Result<Record, RecordError>), String>;

/// Replays `logged`'s records; returns the spans replayed. Stops early (leaving the rest in
/// the log) on shutdown or a read error.
pub(super) async fn run(
    logged: &Logged,
    targets: &Targets,
    shutdown: &CancellationToken,
) -> Result<u64, String> {
    let records = logged
        .replay
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(records) = records else {
        return Ok(0);
    };
    let ledger = logged.ledger.clone();
    // No checkpoint passes a record before it is counted.
    let hold = ledger.begin_at(0);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Decoded>(4);
    let reader = std::thread::Builder::new()
        .name("tracegate-replay".into())
        .spawn(move || {
            for item in records {
                let decoded = item.map(|(lsn, bytes)| (lsn, decode_record(&bytes)));
                let stop = decoded.is_err();
                if tx.blocking_send(decoded).is_err() || stop {
                    break;
                }
            }
        })
        .map_err(|e| format!("could not start the replay thread: {e}"))?;
    let started = Instant::now();
    let (mut spans, mut records) = (0u64, 0u64);
    let mut result = Ok(());
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                result = Err("shutdown requested during replay".to_owned());
                break;
            }
            next = rx.recv() => next,
        };
        let Some(next) = next else { break };
        let (lsn, record) = match next {
            Ok(next) => next,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let mut record = match record {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(lsn, error = %e, "WAL record does not decode; skipped");
                telemetry::wal_replay_skipped("undecodable");
                continue;
            }
        };
        let Some((input, consumers)) = targets.get(&record.pipeline) else {
            tracing::warn!(lsn, pipeline = %record.pipeline, spans = record.batch.len(), "WAL record of a pipeline no longer configured; skipped");
            telemetry::wal_replay_skipped("unknown_pipeline");
            continue;
        };
        // Owed only to the exporters whose checkpoint is at or below the record.
        let owed: Vec<usize> = consumers
            .iter()
            .copied()
            .filter(|&c| logged.floor_of(c) <= lsn)
            .collect();
        if owed.is_empty() || record.batch.is_empty() {
            continue;
        }
        super::head::stamp(&mut record.batch, Origin::logged(lsn));
        let n = record.batch.len();
        ledger.logged(None, lsn, n as u64, &owed);
        let weight = record.batch.estimated_bytes();
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => None,
            permit = input.reserve(weight) => permit.ok(),
        };
        let Some(permit) = permit else {
            result = Err("the pipeline stopped during replay".to_owned());
            break;
        };
        permit.send(Inbound::replayed(record.batch));
        spans += n as u64;
        records += 1;
        telemetry::wal_replayed_spans(n);
    }
    drop(rx);
    let _ = reader.join();
    drop(hold);
    let seconds = started.elapsed().as_secs_f64();
    if records > 0 {
        tracing::info!(
            records,
            spans,
            seconds,
            spans_per_second = (spans as f64 / seconds.max(1e-9)) as u64,
            "replayed the WAL into the pipelines"
        );
    }
    result.map(|()| spans)
}
