//! The `hot_store` exporter: [`HotStoreFactory`] and the run loop, [`HotStoreExporter`].
//!
//! 1. **head** ([`Exporter::export`]): a payload (traces after assembly, or spans) is split
//!    by tenant and kept, by `Arc`, in each tenant's head, searchable at once;
//! 2. **cut**: a tenant's head is sealed when it reaches `block_max_bytes`, when its first
//!    payload is `block_max_age` old ([`Exporter::tick`]), when the heads together reach
//!    `max_head_bytes` with no write under way, and at [`Exporter::shutdown`];
//! 3. **write**: on a blocking thread, one or two blocks at a time, the sealed head is encoded once
//!    and written with a temporary file, `fsync` and rename (`block.rs`); it stays
//!    searchable until the block serves it. A failed write is logged, marks the exporter
//!    degraded and is tried again at the next tick; its spans stay in memory meanwhile. A
//!    block that cannot be encoded (a bug, which would fail every time) is given up: its
//!    spans are dropped, logged and released from the log.
//!
//! With the write-ahead log on ([`Exporter::take_release`]), spans are reported durable
//! once their block is on disk, so the log's checkpoint passes them only then; a crash
//! before that replays them into the head. Replayed spans that a block written before the
//! crash already holds are left out and reported durable at once (`replay.rs`); if that
//! check fails they are stored twice, and [`HotStore::find_trace`] deduplicates them by
//! span id. Retention runs at each tick ([`HotStore::enforce_retention`]).
//!
//! Memory: the heads of all tenants, blocks being written included, are bounded by
//! `max_head_bytes`; export waits for a write to finish when they reach it.
//!
//! Log payloads (`logs.rs`) bring late scores: a record whose score is joined to a trace
//! adds it to the store's late scores and their file, and is reported durable once that
//! file holds it; every other record is reported durable at once.

use super::config::HotStoreConfig;
use super::head::Head;
use super::registry::HotRegistry;
use super::store::{Clock, HotStore, SystemClock, TenantState};
use crate::error::StoreError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tracegate_model::Signal;
use tracegate_pipeline::durability::{OriginCounts, Release};
use tracegate_pipeline::health::Health;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, ExportError, Exporter, ExporterFactory, Payload,
    parse_section,
};

mod logs;

/// Builds `hot_store` exporters, registering each one's store in a [`HotRegistry`] for the
/// query API.
#[derive(Debug, Clone, Default)]
pub struct HotStoreFactory {
    registry: HotRegistry,
}

impl HotStoreFactory {
    /// A factory registering its stores in `registry`.
    pub fn new(registry: HotRegistry) -> Self {
        Self { registry }
    }
}

impl ExporterFactory for HotStoreFactory {
    fn type_name(&self) -> &'static str {
        "hot_store"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Exporter>, ConfigError> {
        let path = format!("exporters.{id}");
        let config: HotStoreConfig = parse_section(&path, config)?;
        config.validate(&path)?;
        let exporter = HotStoreExporter::new(id.as_str(), &config, ctx, Arc::new(SystemClock));
        self.registry.insert(id.as_str(), exporter.store().clone());
        Ok(Box::new(exporter))
    }
}

/// Why a block write failed.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// Encoding or the disk failed.
    #[error(transparent)]
    Store(StoreError),
    /// The encoder panicked (a bug).
    #[error("the block's encoder panicked")]
    Panicked,
}

impl WriteError {
    /// Whether another attempt may succeed (the disk), not fail the same way (a bug).
    fn is_retryable(&self) -> bool {
        matches!(self, WriteError::Store(e) if e.is_retryable())
    }
}

/// A sealed head waiting for (or between attempts at) its block write.
#[derive(Debug)]
struct Sealed {
    tenant: Arc<TenantState>,
    head: Arc<Head>,
    counts: OriginCounts,
}

/// Keeps recent traces of every tenant on local disk. See the [module docs](self).
#[derive(Debug)]
pub struct HotStoreExporter {
    store: Arc<HotStore>,
    block_max_age: Duration,
    block_max_bytes: usize,
    max_head_bytes: usize,
    release: Option<Release>,
    /// Blocks being written, at most `max_writes`.
    writing: JoinSet<(Sealed, Result<(), WriteError>)>,
    /// Block writes at once: 2 on a machine with more than 2 cores, else 1, so the writes
    /// never take more than a core from the receivers.
    max_writes: usize,
    /// Sealed heads waiting their turn, oldest first (failed writes go back here).
    queue: std::collections::VecDeque<Sealed>,
    health: Health,
    component: String,
    degraded: bool,
    /// Log records whose late scores are not yet in the file (a failed append).
    late_waiting: OriginCounts,
    /// Appends of late scores fail.
    late_degraded: bool,
    /// Unwritten late-score bytes past which export waits for the file.
    late_max_bytes: usize,
}

impl HotStoreExporter {
    /// An exporter named `name` (its component id), reading the wall clock from `clock`.
    /// Does no I/O; [`Exporter::start`] opens the blocks on disk.
    pub fn new(
        name: &str,
        config: &HotStoreConfig,
        ctx: &BuildContext,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store: Arc::new(HotStore::new(name, config, clock)),
            block_max_age: config.block_max_age.get(),
            block_max_bytes: config.block_max_bytes.as_usize().max(1),
            max_head_bytes: config.max_head_bytes.as_usize().max(1),
            release: None,
            writing: JoinSet::new(),
            max_writes: if std::thread::available_parallelism().map_or(1, usize::from) > 2 {
                2
            } else {
                1
            },
            queue: std::collections::VecDeque::new(),
            health: ctx.health.clone(),
            component: format!("exporter/{name}"),
            degraded: false,
            late_waiting: OriginCounts::default(),
            late_degraded: false,
            late_max_bytes: config.late_scores.max_bytes.as_usize().max(1),
        }
    }

    /// The store it writes, which the query API reads.
    pub fn store(&self) -> &Arc<HotStore> {
        &self.store
    }

    /// Seals `tenant`'s head and queues its write.
    fn seal(&mut self, tenant: Arc<TenantState>) {
        if let Some((head, counts)) = self.store.seal(&tenant) {
            self.queue.push_back(Sealed {
                tenant,
                head,
                counts,
            });
        }
    }

    fn seal_all(&mut self) {
        for tenant in self.store.tenants_with_head() {
            self.seal(tenant);
        }
    }

    /// Starts queued writes, up to `max_writes` at once.
    fn start_write(&mut self) {
        while self.writing.len() < self.max_writes {
            let Some(sealed) = self.queue.pop_front() else {
                return;
            };
            let store = self.store.clone();
            self.writing.spawn_blocking(move || {
                // A panic (a bug) must not lose the head: it comes back as an error.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    store
                        .write_sealed(&sealed.tenant, &sealed.head)
                        .map_err(WriteError::Store)
                }))
                .unwrap_or(Err(WriteError::Panicked));
                (sealed, result)
            });
        }
    }

    /// Handles a finished write.
    fn finished(&mut self, done: Result<(Sealed, Result<(), WriteError>), tokio::task::JoinError>) {
        match done {
            Ok((sealed, Ok(()))) => {
                if let Some(release) = &self.release {
                    release.durable(sealed.counts);
                }
                if self.degraded {
                    self.degraded = false;
                    self.health.recovered(&self.component);
                }
            }
            Ok((sealed, Err(e))) if !e.is_retryable() => {
                // Encoding failed: it would fail the same way every time. Give the spans up,
                // and release them, so the log does not replay them forever.
                super::metrics::write_failed(self.store.name());
                let lost = self.store.give_up(&sealed.tenant, &sealed.head);
                tracing::error!(exporter = %self.store.name(), tenant = sealed.tenant.name(), spans = lost, error = %e, "hot store: could not encode a block; dropping its spans (a bug: please report it)");
                if let Some(release) = &self.release {
                    release.durable(sealed.counts);
                }
            }
            Ok((sealed, Err(e))) => {
                super::metrics::write_failed(self.store.name());
                tracing::error!(exporter = %self.store.name(), tenant = sealed.tenant.name(), error = %e, "hot store: could not write a block; its spans stay in memory and the write is tried again");
                if !self.degraded {
                    self.degraded = true;
                    self.health
                        .degraded(&self.component, format!("cannot write blocks: {e}"));
                }
                // Back to the front: blocks are written in order.
                self.queue.push_front(sealed);
            }
            Err(e) => {
                // The task was cancelled (`abandon`); its head stays searchable, but its
                // spans are not reported durable, so the log replays them after a restart.
                tracing::error!(exporter = %self.store.name(), error = %e, "hot store: a block write task failed");
            }
        }
    }

    /// Collects finished writes and starts the next.
    fn reap(&mut self) {
        while let Some(done) = self.writing.try_join_next() {
            self.finished(done);
        }
        if !self.degraded {
            self.start_write();
        }
    }

    /// Waits until the heads hold less than `max_head_bytes`.
    async fn wait_for_room(&mut self) {
        while self.store.head_bytes() >= self.max_head_bytes {
            if self.queue.is_empty() && self.writing.is_empty() {
                self.seal_all();
            }
            self.start_write();
            match self.writing.join_next().await {
                Some(done) => {
                    let failed = matches!(&done, Ok((_, Err(_))));
                    self.finished(done);
                    if failed {
                        // Do not spin on a failing disk: wait as a tick would.
                        tokio::time::sleep(self.tick_period()).await;
                    }
                }
                None => return,
            }
        }
    }

    fn tick_period(&self) -> Duration {
        (self.block_max_age / 5).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }

    /// Waits for every queued and running write, trying each failed one `attempts` times.
    async fn drain(&mut self, mut attempts: usize) {
        loop {
            self.start_write();
            match self.writing.join_next().await {
                Some(done) => {
                    let failed = matches!(&done, Ok((_, Err(_))));
                    self.finished(done);
                    if failed {
                        attempts = attempts.saturating_sub(1);
                        if attempts == 0 {
                            return;
                        }
                    }
                }
                None if self.queue.is_empty() => return,
                None => {}
            }
        }
    }

    /// Writes every head now and waits for the blocks (for tests and benches).
    pub async fn flush(&mut self) {
        self.seal_all();
        self.drain(1).await;
    }
}

#[async_trait]
impl Exporter for HotStoreExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        if let Payload::Logs(batch) = &*payload {
            self.export_logs(batch).await;
            return Ok(());
        }
        self.reap();
        self.wait_for_room().await;
        let payload = self.without_stored(payload).await;
        for tenant in self.store.push(&payload, self.block_max_bytes) {
            self.seal(tenant);
        }
        self.reap();
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.tick_period())
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Logs]
    }

    async fn tick(&mut self) -> Result<(), ExportError> {
        // A failed write is tried again here, at the tick's pace.
        self.degraded_retry();
        self.retry_late().await;
        self.reap();
        let now = std::time::Instant::now();
        for tenant in self.store.tenants_with_head() {
            if tenant
                .head_since()
                .is_some_and(|since| now.duration_since(since) >= self.block_max_age)
            {
                self.seal(tenant);
            }
        }
        self.start_write();
        let store = self.store.clone();
        // Deleting files is quick, but it is disk I/O: keep it off the async threads.
        let _ = tokio::task::spawn_blocking(move || store.enforce_retention()).await;
        self.store.report();
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ExportError> {
        self.seal_all();
        self.drain(3).await;
        self.retry_late().await;
        if !self.late_waiting.is_empty() {
            tracing::error!(exporter = %self.store.name(), records = self.late_waiting.spans(), "hot store: stopped with late scores not written to their file; with the write-ahead log on they are replayed at the next start");
            return Err(ExportError::Retryable(
                "late scores could not be written to the hot store".to_owned(),
            ));
        }
        let left = self.store.unwritten_spans();
        if left > 0 {
            tracing::error!(exporter = %self.store.name(), spans = left, "hot store: stopped with spans not written to a block; with the write-ahead log on they are replayed at the next start");
            return Err(ExportError::Retryable(format!(
                "{left} spans could not be written to the hot store"
            )));
        }
        Ok(())
    }

    fn abandon(&mut self) -> usize {
        let lost = self.store.unwritten_spans()
            + usize::try_from(std::mem::take(&mut self.late_waiting).spans()).unwrap_or(0);
        self.queue.clear();
        self.writing.abort_all();
        if lost > 0 {
            tracing::error!(exporter = %self.store.name(), spans = lost, "hot store: the shutdown deadline passed; spans in memory were not written");
        }
        lost
    }

    /// Takes the log's handle: spans are reported durable once their block is on disk, log
    /// records once their late score is in its file; the file is `fdatasync`ed if the log
    /// syncs.
    fn take_release(&mut self, release: Release) -> bool {
        self.store.late.set_sync(release.sync_writes());
        self.release = Some(release);
        true
    }

    /// Opens the blocks on disk (a blocking directory scan and index rebuild).
    async fn start(&mut self) -> Result<(), ExportError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.load()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ExportError::Permanent(format!("hot store: {e}"))),
            Err(e) => Err(ExportError::Permanent(format!(
                "hot store: opening the blocks failed: {e}"
            ))),
        }
    }
}

impl HotStoreExporter {
    /// After a restart, `payload` without the replayed spans a block held already (reported
    /// durable at once); see `replay.rs`. A failure to check is logged, and the payload kept
    /// whole (its spans may then be stored twice; lookups deduplicate them).
    async fn without_stored(&self, payload: Arc<Payload>) -> Arc<Payload> {
        let Some(release) = &self.release else {
            return payload;
        };
        if self.store.newest_at_start().is_none()
            || !payload.spans().any(|s| release.is_replayed(s))
        {
            return payload;
        }
        let (store, release_c, p) = (self.store.clone(), release.clone(), payload.clone());
        let checked = tokio::task::spawn_blocking(move || {
            super::replay::without_stored(&store, &release_c, &p)
        })
        .await;
        match checked {
            Ok(Ok(Some((kept, skipped)))) => {
                super::metrics::replay_skipped(self.store.name(), skipped.spans());
                release.durable(skipped);
                Arc::new(kept)
            }
            Ok(Ok(None)) => payload,
            Ok(Err(e)) => {
                tracing::warn!(exporter = %self.store.name(), error = %e, "hot store: could not check replayed spans against the blocks; they may be stored twice");
                payload
            }
            Err(e) => {
                tracing::warn!(exporter = %self.store.name(), error = %e, "hot store: the replay check failed; replayed spans may be stored twice");
                payload
            }
        }
    }

    /// After a failed write, lets the next tick try again.
    fn degraded_retry(&mut self) {
        if self.degraded && self.writing.is_empty() {
            self.start_write();
        }
    }
}

impl Drop for HotStoreExporter {
    fn drop(&mut self) {
        let left = self.store.unwritten_spans();
        if left > 0 {
            tracing::warn!(
                exporter = %self.store.name(),
                spans = left,
                "hot store exporter stopped with spans not written to a block; they are lost \
                 unless the write-ahead log replays them"
            );
        }
    }
}
