//! WAL throughput (issue 10): what each `sync` promise costs, and how fast a restart replays.
//!
//! - `append/{process,host}/{1,8}`: 64 KiB records appended by 1 or 8 concurrent appenders;
//!   one iteration is one record, so criterion's time is per record and its throughput is
//!   bytes/s. The consumer checkpoints after every append, so segments are deleted as they
//!   fill (the steady state of a gateway whose exporters keep up). At the end each case
//!   prints its group-commit factor (records per write).
//! - `replay`: open a WAL holding 64 MiB of 64 KiB records and replay all of it.
//!
//! Run with `cargo bench -p tracegate-wal -- --quick`. Files go to
//! `target/wal-bench` (override with `WAL_BENCH_DIR`), removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracegate_pipeline::ByteSize;
use tracegate_wal::{SyncMode, Wal, WalConfig};

const RECORD: usize = 64 * 1024;
const REPLAY_BYTES: usize = 64 * 1024 * 1024;

fn bench_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("WAL_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wal-bench"),
        PathBuf::from,
    );
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(dir: PathBuf, sync: SyncMode) -> WalConfig {
    WalConfig {
        enabled: true,
        dir,
        sync,
        max_bytes: ByteSize(1 << 30),
        segment_bytes: ByteSize::mib(16),
    }
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(RECORD as u64));
    for (mode, sync) in [("process", SyncMode::Process), ("host", SyncMode::Host)] {
        for appenders in [1u64, 8] {
            let dir = bench_dir(&format!("{mode}-{appenders}"));
            let (wal, _) = Wal::open(&config(dir.clone(), sync), &["bench"]).unwrap();
            let record = bytes::Bytes::from(vec![0x5au8; RECORD]);
            group.bench_function(format!("{mode}/{appenders}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let started = Instant::now();
                        let mut set = tokio::task::JoinSet::new();
                        for a in 0..appenders {
                            let n = iters / appenders + u64::from(a < iters % appenders);
                            let (wal, record) = (wal.clone(), record.clone());
                            set.spawn(async move {
                                for _ in 0..n {
                                    let lsn = wal.append(record.clone()).await.unwrap();
                                    wal.checkpoint("bench", lsn + 1).unwrap();
                                }
                            });
                        }
                        while let Some(r) = set.join_next().await {
                            r.unwrap();
                        }
                        started.elapsed()
                    })
                });
            });
            let stats = wal.stats();
            println!(
                "append/{mode}/{appenders}: {} records in {} writes ({:.2} records/write), {} syncs",
                stats.appended_records,
                stats.writes,
                stats.appended_records as f64 / stats.writes.max(1) as f64,
                stats.syncs
            );
            rt.block_on(wal.close());
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = bench_dir("replay");
    let cfg = config(dir.clone(), SyncMode::Process);
    let (wal, _) = Wal::open(&cfg, &["bench"]).unwrap();
    rt.block_on(async {
        for _ in 0..REPLAY_BYTES / RECORD {
            wal.append(vec![0xa5u8; RECORD]).await.unwrap();
        }
    });
    rt.block_on(wal.close());
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Bytes(REPLAY_BYTES as u64));
    group.sample_size(10);
    group.bench_function("64MiB", |b| {
        b.iter(|| {
            let (wal, replay) = Wal::open(&cfg, &["bench"]).unwrap();
            let mut bytes = 0;
            for r in replay {
                bytes += r.unwrap().1.len();
            }
            assert_eq!(bytes, REPLAY_BYTES);
            rt.block_on(wal.close());
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = append, replay
}
criterion_main!(benches);
