//! [`Ledger`]: which logged spans each exporter has not yet made durable, and from that each
//! exporter's checkpoint in the log.

use super::Log;
use super::release::{OriginCounts, Release};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Per consumer (exporter), per record, the spans not yet durable; plus the appends in flight.
///
/// An exporter's checkpoint ([`Ledger::low_water`]) is the oldest record it still has spans
/// of. With none outstanding it is the log's end, held back by every [`Ticket`] in flight: an
/// append that has not returned yet (or a replay under way) lands at or after the log's end
/// when the ticket was taken, so no checkpoint passes a record before it is counted.
pub struct Ledger {
    log: Arc<dyn Log>,
    names: Vec<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    outstanding: Vec<BTreeMap<u64, u64>>,
    /// Ticket id → the log's end when it was taken.
    tickets: BTreeMap<u64, u64>,
    next_ticket: u64,
    /// The checkpoint last given to the log, per consumer.
    saved: Vec<u64>,
    /// Reports of more durable spans than were counted (an exporter's bug), logged once.
    overreported: bool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("consumers", &self.names)
            .finish_non_exhaustive()
    }
}

/// An append (or replay) in flight: until it is [`Ledger::logged`] or dropped, no checkpoint
/// passes the log's end as it was when the ticket was taken.
#[derive(Debug)]
pub struct Ticket {
    ledger: Arc<Ledger>,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.ledger.lock().tickets.remove(&self.id);
    }
}

impl Ledger {
    /// A ledger over `log` for these consumers (exporter ids).
    pub fn new(log: Arc<dyn Log>, consumers: Vec<String>) -> Arc<Self> {
        let n = consumers.len();
        Arc::new(Self {
            log,
            names: consumers,
            state: Mutex::new(State {
                outstanding: vec![BTreeMap::new(); n],
                saved: vec![0; n],
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    /// The index of consumer `name`.
    pub fn consumer(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// How many consumers there are.
    pub fn consumers(&self) -> usize {
        self.names.len()
    }

    /// The name of consumer `consumer`.
    pub fn consumer_name(&self, consumer: usize) -> &str {
        self.names.get(consumer).map_or("", String::as_str)
    }

    /// Takes a ticket before an append.
    pub fn begin(self: &Arc<Self>) -> Ticket {
        let lower = self.log.end();
        self.begin_at(lower)
    }

    /// Takes a ticket that holds every checkpoint at or below `lower` (a replay from there).
    pub fn begin_at(self: &Arc<Self>, lower: u64) -> Ticket {
        let mut state = self.lock();
        let id = state.next_ticket;
        state.next_ticket += 1;
        state.tickets.insert(id, lower);
        Ticket {
            ledger: self.clone(),
            id,
        }
    }

    /// The record at `lsn` holds `spans` spans, each owed to every consumer in `consumers`.
    /// Ends `ticket` (if given) at the same moment.
    pub fn logged(&self, ticket: Option<Ticket>, lsn: u64, spans: u64, consumers: &[usize]) {
        let mut state = self.lock();
        if spans > 0 {
            for &c in consumers {
                if let Some(map) = state.outstanding.get_mut(c) {
                    *map.entry(lsn).or_default() += spans;
                }
            }
        }
        if let Some(ticket) = ticket {
            state.tickets.remove(&ticket.id);
            drop(state);
            drop(ticket);
        }
    }

    /// `consumer` has made these spans durable.
    pub fn durable(&self, consumer: usize, counts: &mut OriginCounts) {
        let mut state = self.lock();
        let mut over = false;
        let State {
            outstanding,
            overreported,
            ..
        } = &mut *state;
        let Some(map) = outstanding.get_mut(consumer) else {
            return;
        };
        for (lsn, n) in counts.iter() {
            match map.get_mut(&lsn) {
                Some(left) if *left > n => *left -= n,
                Some(left) => {
                    over |= *left < n;
                    map.remove(&lsn);
                }
                None => over = true,
            }
        }
        if over && !*overreported {
            *overreported = true;
            tracing::warn!(
                exporter = self.consumer_name(consumer),
                "an exporter reported more spans durable than it was given; its checkpoint may run ahead"
            );
        }
    }

    /// The consumer's checkpoint now: every record below it is durable there.
    pub fn low_water(&self, consumer: usize) -> u64 {
        let end = self.log.end();
        let state = self.lock();
        let held = state.tickets.values().copied().min().unwrap_or(u64::MAX);
        let oldest = state
            .outstanding
            .get(consumer)
            .and_then(|m| m.keys().next().copied())
            .unwrap_or(u64::MAX);
        end.min(held).min(oldest)
    }

    /// Spans owed to `consumer` and not yet durable.
    pub fn outstanding(&self, consumer: usize) -> u64 {
        self.lock()
            .outstanding
            .get(consumer)
            .map_or(0, |m| m.values().sum())
    }

    /// Gives every checkpoint that moved to the log.
    pub fn checkpoint(&self) {
        for c in 0..self.names.len() {
            let lsn = self.low_water(c);
            let moved = {
                let mut state = self.lock();
                match state.saved.get_mut(c) {
                    Some(saved) if *saved < lsn => {
                        *saved = lsn;
                        true
                    }
                    _ => false,
                }
            };
            if moved {
                self.log.checkpoint(&self.names[c], lsn);
            }
        }
    }

    /// A [`Release`] handle for `consumer`.
    pub fn release(
        self: &Arc<Self>,
        consumer: usize,
        state_dir: PathBuf,
        sync: bool,
        floor: u64,
        replay_end: u64,
    ) -> Release {
        Release {
            ledger: self.clone(),
            consumer,
            state_dir,
            sync,
            floor,
            replay_end,
        }
    }
}

#[cfg(test)]
mod tests;
