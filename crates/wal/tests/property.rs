//! The WAL's property: random appends (sizes 0 to beyond a segment, alone and concurrent),
//! checkpoints by 1–3 consumers, and crashes followed by reopen. After every reopen, replay
//! returns exactly the acknowledged records at or after the lowest checkpoint, once each, in
//! LSN order, with their bytes; nothing twice, nothing never appended.
//!
//! What a "crash" may do to the files, and so what the model may lose:
//! - `Clean`: nothing (a restart).
//! - `TornWrite`: a prefix of one more record, never acknowledged, is left at the end of the
//!   newest segment: the write in flight when the process died. Nothing acknowledged may be
//!   lost. (In `process` mode a process crash cannot un-write the page cache, so this is the
//!   only damage a process crash can do.)
//! - `Truncate`: the newest segment is cut at any byte, acknowledged data included. That is
//!   a host crash in `process` mode, outside its promise: records wholly before the cut must
//!   survive, the ones after it are lost, and appends continue without reusing a live LSN.
//! - `Flip`: one byte of any segment is flipped (media corruption): the one record holding
//!   that byte is lost, every other one survives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, segments};
use proptest::prelude::*;
use std::path::Path;
use tracegate_wal::{Lsn, SyncMode, Wal, WalError, record, segment};

const SEGMENT: u64 = 256;
const MAX_BYTES: u64 = 4096;

#[derive(Debug, Clone)]
enum Crash {
    Clean,
    TornWrite(prop::sample::Index),
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, prop::sample::Index),
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Concurrent(Vec<usize>),
    Checkpoint(usize, prop::sample::Index),
    Crash(Crash),
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..64, 1 => Just(0usize), 1 => 200usize..600]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => size().prop_map(Op::Append),
        2 => prop::collection::vec(size(), 2..12).prop_map(Op::Concurrent),
        3 => (0usize..3, any::<prop::sample::Index>()).prop_map(|(c, i)| Op::Checkpoint(c, i)),
        2 => prop_oneof![
            Just(Crash::Clean),
            any::<prop::sample::Index>().prop_map(Crash::TornWrite),
            any::<prop::sample::Index>().prop_map(Crash::Truncate),
            (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(s, b)| Crash::Flip(s, b)),
        ].prop_map(Op::Crash),
    ]
}

struct Model {
    /// Acknowledged records still owed to some consumer, in LSN order.
    acked: Vec<(Lsn, Vec<u8>)>,
    checkpoints: Vec<Lsn>,
    counter: u64,
    /// Positions (LSNs) of the bytes `Flip` corrupted. Media corruption does not heal: a
    /// second flip of one of them would restore the byte, and with it a record the model
    /// counts as lost, so it is not made.
    flipped: std::collections::HashSet<Lsn>,
}

impl Model {
    fn payload(&mut self, len: usize) -> Vec<u8> {
        self.counter += 1;
        let tag = self.counter.to_le_bytes();
        (0..len).map(|i| tag[i % 8] ^ (i as u8)).collect()
    }

    fn ack(&mut self, lsn: Lsn, bytes: Vec<u8>) {
        assert!(
            self.acked.last().is_none_or(|(l, _)| *l < lsn),
            "LSN {lsn} not after every live record"
        );
        self.acked.push((lsn, bytes));
    }

    fn low(&self) -> Lsn {
        self.checkpoints.iter().copied().min().unwrap_or(0)
    }

    /// Forgets the records at or after `from` in the span `[from, to)` of the log.
    fn lose(&mut self, from: Lsn, to: Lsn) {
        self.acked.retain(|(lsn, b)| {
            let end = lsn + record::encoded_len(b.len());
            end <= from || *lsn >= to
        });
    }
}

fn newest(dir: &Path) -> (std::path::PathBuf, Lsn) {
    let path = segments(dir).pop().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    (path, segment::parse_name(&name).unwrap())
}

fn crash(dir: &Path, crash: &Crash, model: &mut Model) {
    match crash {
        Crash::Clean => {}
        Crash::TornWrite(cut) => {
            let (path, base) = newest(dir);
            let len = std::fs::metadata(&path).unwrap().len();
            let mut rec = Vec::new();
            record::encode(base + len, b"never acknowledged", &mut rec);
            let keep = 1 + cut.index(rec.len() - 1);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend_from_slice(&rec[..keep]);
            std::fs::write(&path, bytes).unwrap();
        }
        Crash::Truncate(at) => {
            let (path, base) = newest(dir);
            let len = std::fs::metadata(&path).unwrap().len();
            let cut = at.index(len as usize + 1) as u64;
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(cut).unwrap();
            model.lose(base + cut, Lsn::MAX);
        }
        Crash::Flip(seg, byte) => {
            let segs = segments(dir);
            let path = seg.get(&segs);
            let len = std::fs::metadata(path).unwrap().len();
            if len == 0 {
                return;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            let base = segment::parse_name(name).unwrap();
            let at = byte.index(len as usize) as u64;
            if !model.flipped.insert(base + at) {
                return;
            }
            common::flip(path, at);
            model.lose(base + at, base + at + 1);
        }
    }
}

async fn append(wal: &Wal, model: &mut Model, len: usize) {
    let bytes = model.payload(len);
    match wal.append(bytes.clone()).await {
        Ok(lsn) => model.ack(lsn, bytes),
        Err(WalError::Full { .. }) => {}
        Err(e) => panic!("append: {e}"),
    }
}

async fn run(ops: Vec<Op>, consumers: usize, sync: SyncMode) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), SEGMENT, MAX_BYTES);
    cfg.sync = sync;
    let names: Vec<String> = (0..consumers).map(|c| format!("c{c}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut model = Model {
        acked: Vec::new(),
        checkpoints: vec![0; consumers],
        counter: 0,
        flipped: Default::default(),
    };
    let (mut wal, _) = Wal::open(&cfg, &names).unwrap();
    for op in ops.iter().chain([&Op::Crash(Crash::Clean)]) {
        match op {
            Op::Append(len) => append(&wal, &mut model, *len).await,
            Op::Concurrent(lens) => {
                let mut set = tokio::task::JoinSet::new();
                for len in lens {
                    let bytes = model.payload(*len);
                    let wal = wal.clone();
                    set.spawn(async move { (wal.append(bytes.clone()).await, bytes) });
                }
                let mut done: Vec<(Lsn, Vec<u8>)> = Vec::new();
                while let Some(r) = set.join_next().await {
                    match r.unwrap() {
                        (Ok(lsn), bytes) => done.push((lsn, bytes)),
                        (Err(WalError::Full { .. }), _) => {}
                        (Err(e), _) => panic!("append: {e}"),
                    }
                }
                done.sort_by_key(|r| r.0);
                for (lsn, bytes) in done {
                    model.ack(lsn, bytes);
                }
            }
            Op::Checkpoint(c, pick) => {
                let c = c % consumers;
                if model.acked.is_empty() {
                    continue;
                }
                let lsn = pick.get(&model.acked).0 + 1;
                wal.checkpoint(names[c], lsn).unwrap();
                model.checkpoints[c] = model.checkpoints[c].max(lsn);
            }
            Op::Crash(kind) => {
                wal.close().await;
                crash(dir.path(), kind, &mut model);
                let (reopened, replay) = Wal::open(&cfg, &names).unwrap();
                wal = reopened;
                let low = model.low();
                let got: Vec<(Lsn, Vec<u8>)> = replay
                    .map(|r| {
                        let (lsn, b) = r.unwrap();
                        (lsn, b.to_vec())
                    })
                    .collect();
                model.acked.retain(|(lsn, _)| *lsn >= low);
                assert_eq!(got, model.acked, "after {kind:?}");
            }
        }
    }
    wal.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_acknowledged_record_is_lost_or_returned_twice(
        ops in prop::collection::vec(op(), 1..40),
        consumers in 1usize..=3,
        host in prop::bool::weighted(0.2),
    ) {
        let sync = if host { SyncMode::Host } else { SyncMode::Process };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops, consumers, sync));
    }
}
