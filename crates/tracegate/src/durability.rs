//! Opens the write-ahead log `service.wal` describes and hands it, with what to replay, to
//! the topology.

use anyhow::Context;
use std::sync::Arc;
use tracegate_pipeline::config::Config;
use tracegate_pipeline::config::wal::SyncMode;
use tracegate_pipeline::durability::Durability;
use tracegate_wal::{Wal, segment};

/// Opens the log for `config`'s exporters and attaches it; returns the log so the caller can
/// close it after the topology stops. `None` when `service.wal.enabled` is false.
pub async fn attach(config: &mut Config) -> anyhow::Result<Option<Wal>> {
    let wal_config = config.service.wal.clone();
    if !wal_config.enabled {
        tracing::warn!(
            "service.wal.enabled is false: acknowledged spans live in memory until exported, and a crash loses them"
        );
        return Ok(None);
    }
    let consumers: Vec<String> = config.exporters.keys().map(|id| id.to_string()).collect();
    let dir = wal_config.dir.clone();
    let (wal, replay) = tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = consumers.iter().map(String::as_str).collect();
        Wal::open(&wal_config, &names)
    })
    .await
    .context("the WAL's opening task failed")?
    .with_context(|| format!("cannot open the write-ahead log in {}", dir.display()))?;
    let stats = replay.stats();
    let checkpoints = replay
        .checkpoints()
        .map(|(name, lsn)| (name.to_owned(), lsn))
        .collect();
    tracing::info!(
        dir = %dir.display(),
        replay_from = replay.start(),
        replay_to = replay.end(),
        torn = stats.torn,
        corrupt = stats.corrupt,
        "write-ahead log open"
    );
    let replay_end = replay.end();
    config.durability = Some(Durability {
        log: Arc::new(wal.clone()),
        state_dir: dir.join(segment::STATE),
        sync: config.service.wal.sync == SyncMode::Host,
        checkpoints,
        replay_end,
        replay: Box::new(replay.map(|r| r.map_err(|e| e.to_string()))),
    });
    Ok(Some(wal))
}
