//! [`HotStore`]: the blocks and heads of every tenant, and the two reads the query API
//! needs, [`HotStore::find_trace`] and [`HotStore::scan`].
//!
//! Each tenant has a [`TenantState`]: its active head, the heads being written (still
//! searchable), and its blocks, oldest first, behind one lock that readers hold only to
//! copy `Arc`s; the reading and decoding happen after. A tenant's data lives in a directory
//! of its own, and a reader only ever sees the state of the exact tenant it names, so data
//! of one tenant is never returned to another.

use super::block::{BLOCK_EXT, Block, TMP_EXT, io_error, sync_dir, write_block};
use super::config::HotStoreConfig;
use super::head::{Head, split_by_tenant};
use super::late_store::LateStore;
use super::metrics;
use super::reader::FooterCache;
use super::retention::{self, Aged, Reason};
use super::tenant::{TENANT_FILE, dir_candidates};
use crate::encoder::SizeHint;
use crate::error::StoreError;
use crate::writer::WriterOptions;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;
use tracegate_model::DEFAULT_TENANT;
use tracegate_pipeline::Payload;
use tracegate_pipeline::durability::OriginCounts;
use ulid::Ulid;

/// Memory for parsed block footers: a 32 MiB block's is about 100 KiB.
const FOOTER_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A wall clock, ms since the epoch: block names and retention. Tests inject their own.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// What a [`HotStore::scan`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Blocks read (blocks the index ruled out are not counted).
    pub blocks: usize,
    /// Traces (or fragments) visited.
    pub traces: usize,
    /// Spans visited.
    pub spans: usize,
    /// Bytes read from disk.
    pub bytes: u64,
}

/// What a store holds, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HotStats {
    /// Blocks on disk.
    pub blocks: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Spans in blocks.
    pub block_spans: u64,
    /// Estimated bytes of the heads, blocks being written included.
    pub head_bytes: usize,
    /// Spans in the heads.
    pub head_spans: usize,
}

/// One tenant's heads and blocks.
#[derive(Debug)]
pub struct TenantState {
    pub(super) name: Arc<str>,
    dir: PathBuf,
    /// Created (with its `TENANT` file) before the first block is written.
    dir_ready: OnceLock<()>,
    inner: RwLock<TenantInner>,
}

#[derive(Debug, Default)]
pub(super) struct TenantInner {
    pub(super) head: Head,
    /// Heads being written, oldest first.
    pub(super) sealing: Vec<Arc<Head>>,
    /// Oldest first.
    pub(super) blocks: Vec<Arc<Block>>,
}

impl TenantState {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, TenantInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, TenantInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant as decoded spans carry it.
    pub(super) fn decode_tenant(&self) -> Option<Arc<str>> {
        (&*self.name != DEFAULT_TENANT).then(|| self.name.clone())
    }

    /// When the active head's first payload arrived.
    pub fn head_since(&self) -> Option<Instant> {
        self.read().head.since()
    }
}

/// Recent traces of every tenant on local disk: each tenant's heads and blocks, behind
/// a lock readers hold only to copy `Arc`s. See the [`hot`](super) module docs.
#[derive(Debug)]
pub struct HotStore {
    name: String,
    root: PathBuf,
    read_only: bool,
    writer: WriterOptions,
    retention_ms: u64,
    max_bytes: u64,
    clock: Arc<dyn Clock>,
    /// Exact tenant name → state.
    tenants: RwLock<HashMap<Arc<str>, Arc<TenantState>>>,
    pub(super) footers: FooterCache,
    /// Bytes of every head, active or being written.
    head_bytes: AtomicUsize,
    /// The newest block id given out: ids only grow, so blocks written in one ms, or after
    /// the clock stepped back, still sort in the order they were written.
    last_id: Mutex<Ulid>,
    /// The string column sizes of the last block written, so the next one's encoder
    /// starts with room for as much (no buffer doubling and copying as it fills).
    size_hint: Mutex<SizeHint>,
    /// The newest block on disk when the store was loaded, for the replay's check.
    newest_at_start: Mutex<Option<Ulid>>,
    /// Scores that came after their trace, added to its spans when they are read.
    pub(super) late: LateStore,
    /// Tests: fail every block's encoding, as a bug would.
    #[cfg(test)]
    pub(crate) fail_encoding: std::sync::atomic::AtomicBool,
}

impl HotStore {
    /// A store named `name` (its exporter's id) over `config.path`. Does no I/O: call
    /// [`Self::load`] before using it.
    pub fn new(name: &str, config: &HotStoreConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_mode(name, config, clock, false)
    }

    fn with_mode(
        name: &str,
        config: &HotStoreConfig,
        clock: Arc<dyn Clock>,
        read_only: bool,
    ) -> Self {
        let retention_ms = u64::try_from(config.retention.get().as_millis()).unwrap_or(u64::MAX);
        Self {
            name: name.to_owned(),
            root: config.path.clone(),
            read_only,
            writer: config.writer_options(),
            retention_ms,
            max_bytes: config.max_bytes.get(),
            clock,
            tenants: RwLock::new(HashMap::new()),
            footers: FooterCache::new(FOOTER_CACHE_BYTES),
            head_bytes: AtomicUsize::new(0),
            last_id: Mutex::new(Ulid::nil()),
            size_hint: Mutex::new(SizeHint::default()),
            newest_at_start: Mutex::new(None),
            late: LateStore::new(
                name,
                &config.path,
                read_only,
                config.late_scores.max_scores,
                config.late_scores.max_bytes.as_usize(),
                retention_ms,
            ),
            #[cfg(test)]
            fail_encoding: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Opens an existing store read-only (for `tracegate trace --data DIR`): no file is
    /// created, changed or deleted.
    pub fn open_read_only(path: &Path) -> Result<Arc<HotStore>, StoreError> {
        if !path.is_dir() {
            return Err(io_error("open", path)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no hot store here; give the `path` of a hot_store exporter",
            )));
        }
        let config = HotStoreConfig {
            path: path.to_owned(),
            ..HotStoreConfig::default()
        };
        let store = Self::with_mode("read-only", &config, Arc::new(SystemClock), true);
        store.load()?;
        Ok(Arc::new(store))
    }

    /// The store's name (its exporter's id).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens the blocks on disk: creates the directory (unless read-only), deletes the
    /// `.tmp` files of writes a crash cut short, and rebuilds each block's index. A block
    /// that cannot be read is logged, counted and left in place. Then replays the late
    /// scores' file. Blocking.
    pub fn load(&self) -> Result<(), StoreError> {
        if !self.read_only {
            std::fs::create_dir_all(&self.root).map_err(io_error("create", &self.root))?;
        }
        let dirs = std::fs::read_dir(&self.root).map_err(io_error("list", &self.root))?;
        let mut found = HashMap::new();
        for dir in dirs {
            let dir = dir.map_err(io_error("list", &self.root))?.path();
            let Ok(tenant) = std::fs::read_to_string(dir.join(TENANT_FILE)) else {
                continue;
            };
            let tenant: Arc<str> = Arc::from(tenant.as_str());
            let blocks = self.load_dir(&dir)?;
            let state = TenantState {
                name: tenant.clone(),
                dir,
                dir_ready: OnceLock::from(()),
                inner: RwLock::new(TenantInner {
                    blocks,
                    ..TenantInner::default()
                }),
            };
            found.insert(tenant, Arc::new(state));
        }
        let newest = found
            .values()
            .filter_map(|t| t.read().blocks.last().map(|b| b.id))
            .max();
        *self
            .newest_at_start
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = newest;
        if let Some(newest) = newest {
            let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
            *last = (*last).max(newest);
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        for (name, state) in found {
            tenants.entry(name).or_insert(state);
        }
        drop(tenants);
        self.late.load(self.clock.now_ms())?;
        self.report();
        Ok(())
    }

    fn load_dir(&self, dir: &Path) -> Result<Vec<Arc<Block>>, StoreError> {
        let mut blocks = Vec::new();
        for file in std::fs::read_dir(dir).map_err(io_error("list", dir))? {
            let path = file.map_err(io_error("list", dir))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(TMP_EXT) if !self.read_only => {
                    tracing::info!(path = %path.display(), "hot store: deleting a block whose write did not finish");
                    std::fs::remove_file(&path).map_err(io_error("delete", &path))?;
                }
                Some(BLOCK_EXT) => match Block::open(&path) {
                    Ok(block) => blocks.push(Arc::new(block)),
                    Err(e) => {
                        metrics::unreadable(&self.name);
                        tracing::warn!(path = %path.display(), error = %e, "hot store: skipping a block that cannot be read; move it away to silence this");
                    }
                },
                _ => {}
            }
        }
        blocks.sort_by_key(|b| b.id);
        Ok(blocks)
    }

    /// The state of `tenant`, if it has any data.
    pub(super) fn tenant(&self, tenant: &str) -> Option<Arc<TenantState>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(tenant).cloned()
    }

    /// The state of `tenant`, made (in memory) if new, with a directory no other tenant has.
    fn tenant_or_create(&self, tenant: &Arc<str>) -> Arc<TenantState> {
        if let Some(state) = self.tenant(tenant) {
            return state;
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = tenants.get(tenant) {
            return state.clone();
        }
        let taken: HashSet<&Path> = tenants.values().map(|t| t.dir.as_path()).collect();
        let dir = dir_candidates(tenant)
            .map(|name| self.root.join(name))
            .find(|dir| !taken.contains(dir.as_path()) && !self.is_foreign_dir(dir, tenant))
            // 64 candidates all taken by crafted names: fall back to a fresh unique name.
            .unwrap_or_else(|| self.root.join(format!("tenant-{}", Ulid::new())));
        let state = Arc::new(TenantState {
            name: tenant.clone(),
            dir,
            dir_ready: OnceLock::new(),
            inner: RwLock::new(TenantInner::default()),
        });
        tenants.insert(tenant.clone(), state.clone());
        state
    }

    /// Whether `dir` exists on disk for a tenant other than `tenant`.
    fn is_foreign_dir(&self, dir: &Path, tenant: &str) -> bool {
        std::fs::read_to_string(dir.join(TENANT_FILE)).is_ok_and(|t| t != tenant)
    }

    fn all_tenants(&self) -> Vec<Arc<TenantState>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.values().cloned().collect()
    }

    /// Tenants with data, in no order.
    pub fn tenants(&self) -> Vec<String> {
        self.all_tenants()
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    /// Adds each tenant's spans of `payload` to its head; returns the tenants whose head
    /// reached `block_bytes`.
    pub(crate) fn push(&self, payload: &Arc<Payload>, block_bytes: usize) -> Vec<Arc<TenantState>> {
        let now = Instant::now();
        let mut full = Vec::new();
        for (tenant, part) in split_by_tenant(payload) {
            let state = self.tenant_or_create(&tenant);
            let mut inner = state.write();
            let before = inner.head.bytes();
            inner.head.push(payload.clone(), part, now);
            let after = inner.head.bytes();
            drop(inner);
            self.head_bytes.fetch_add(after - before, Ordering::AcqRel);
            if after >= block_bytes {
                full.push(state);
            }
        }
        full
    }

    /// Bytes of every head, active or being written.
    pub fn head_bytes(&self) -> usize {
        self.head_bytes.load(Ordering::Acquire)
    }

    /// Tenants whose active head is not empty.
    pub(crate) fn tenants_with_head(&self) -> Vec<Arc<TenantState>> {
        self.all_tenants()
            .into_iter()
            .filter(|t| t.head_since().is_some())
            .collect()
    }

    /// Moves `tenant`'s active head to the heads being written; returns it and its spans'
    /// log records, or `None` when it is empty.
    pub(crate) fn seal(&self, tenant: &TenantState) -> Option<(Arc<Head>, OriginCounts)> {
        let mut inner = tenant.write();
        if inner.head.is_empty() {
            return None;
        }
        let mut head = std::mem::take(&mut inner.head);
        let counts = head.take_counts();
        let head = Arc::new(head);
        inner.sealing.push(head.clone());
        Some((head, counts))
    }

    /// Writes a sealed head of `tenant` as a block and serves it from there. On failure the
    /// head stays searchable, to be written again. Blocking.
    pub(crate) fn write_sealed(
        &self,
        tenant: &TenantState,
        head: &Arc<Head>,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        if tenant.dir_ready.get().is_none() {
            create_tenant_dir(&tenant.dir, &tenant.name)?;
            let _ = tenant.dir_ready.set(());
        }
        #[cfg(test)]
        if self.fail_encoding.load(Ordering::SeqCst) {
            return Err(StoreError::Schema { column: "trace_id" });
        }
        let id = self.next_id();
        let mut hint = self
            .size_hint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let block = write_block(
            &tenant.dir,
            id,
            head.spans(&tenant.name),
            &self.writer,
            &mut hint,
        )?;
        *self.size_hint.lock().unwrap_or_else(|e| e.into_inner()) = hint;
        metrics::block_written(
            &self.name,
            head.span_count(),
            started.elapsed().as_secs_f64(),
        );
        tracing::debug!(exporter = %self.name, tenant = %tenant.name, block = %id, spans = head.span_count(), bytes = block.bytes, "hot store: block written");
        let mut inner = tenant.write();
        let at = inner.blocks.partition_point(|b| b.id < block.id);
        inner.blocks.insert(at, Arc::new(block));
        inner.sealing.retain(|h| !Arc::ptr_eq(h, head));
        drop(inner);
        self.head_bytes.fetch_sub(head.bytes(), Ordering::AcqRel);
        self.report();
        Ok(())
    }

    /// The newest block on disk when the store was loaded, if any.
    pub(super) fn newest_at_start(&self) -> Option<Ulid> {
        *self
            .newest_at_start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A block id after every one given out so far, with the clock's time when it is later.
    fn next_id(&self) -> Ulid {
        let candidate = Ulid::from_parts(self.clock.now_ms(), rand::random());
        let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
        let id = if candidate > *last {
            candidate
        } else {
            last.increment().unwrap_or(candidate)
        };
        *last = id;
        id
    }

    /// Drops a sealed head of `tenant` that can never be written (a bug in encoding it);
    /// returns its spans.
    pub(crate) fn give_up(&self, tenant: &TenantState, head: &Arc<Head>) -> usize {
        tenant.write().sealing.retain(|h| !Arc::ptr_eq(h, head));
        self.head_bytes.fetch_sub(head.bytes(), Ordering::AcqRel);
        self.report();
        head.span_count()
    }

    /// Spans in heads not yet on disk (what a crash would leave to the log's replay).
    pub(crate) fn unwritten_spans(&self) -> usize {
        self.all_tenants()
            .iter()
            .map(|t| {
                let inner = t.read();
                inner.head.span_count()
                    + inner.sealing.iter().map(|h| h.span_count()).sum::<usize>()
            })
            .sum()
    }

    /// Deletes blocks past `retention`, then the oldest until the store fits `max_bytes`;
    /// returns how many went for each reason. Late scores past `retention` go too.
    pub fn enforce_retention(&self) -> (usize, usize) {
        if self.read_only {
            return (0, 0);
        }
        self.late.expire(self.clock.now_ms());
        let mut all: Vec<(Arc<TenantState>, Arc<Block>)> = Vec::new();
        for tenant in self.all_tenants() {
            let inner = tenant.read();
            all.extend(inner.blocks.iter().map(|b| (tenant.clone(), b.clone())));
        }
        all.sort_by_key(|(_, b)| (b.written_ms(), b.id));
        let aged: Vec<Aged> = all
            .iter()
            .map(|(_, b)| Aged {
                written_ms: b.written_ms(),
                bytes: b.bytes,
            })
            .collect();
        let plan = retention::plan(
            &aged,
            self.clock.now_ms(),
            self.retention_ms,
            self.max_bytes,
        );
        let (mut by_age, mut by_size) = (0, 0);
        for (i, reason) in plan {
            let (tenant, block) = &all[i];
            tenant.write().blocks.retain(|b| !Arc::ptr_eq(b, block));
            if let Err(e) = std::fs::remove_file(&block.path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %block.path.display(), error = %e, "hot store: could not delete an evicted block; it is no longer served");
            }
            metrics::evicted(&self.name, reason.label(), block.index.rows());
            match reason {
                Reason::Age => by_age += 1,
                Reason::Size => by_size += 1,
            }
        }
        if by_age + by_size > 0 {
            tracing::debug!(exporter = %self.name, by_age, by_size, "hot store: evicted blocks");
            self.report();
        }
        (by_age, by_size)
    }

    /// What the store holds.
    pub fn stats(&self) -> HotStats {
        let mut stats = HotStats {
            head_bytes: self.head_bytes(),
            ..HotStats::default()
        };
        for tenant in self.all_tenants() {
            let inner = tenant.read();
            stats.blocks += inner.blocks.len();
            stats.bytes += inner.blocks.iter().map(|b| b.bytes).sum::<u64>();
            stats.block_spans += inner.blocks.iter().map(|b| b.index.rows()).sum::<u64>();
            stats.head_spans += inner.head.span_count()
                + inner.sealing.iter().map(|h| h.span_count()).sum::<usize>();
        }
        stats
    }

    /// The counts of the cache of parsed block footers.
    pub fn footer_cache_stats(&self) -> crate::read::CacheStats {
        self.footers.stats()
    }

    /// Sets the gauges.
    pub(crate) fn report(&self) {
        let stats = self.stats();
        metrics::held(&self.name, stats.blocks, stats.bytes, stats.head_bytes);
        let (scores, bytes, file_bytes) = self.late.stats();
        metrics::late_held(&self.name, scores, bytes, file_bytes);
    }

    /// The wall clock, ms since the epoch.
    pub(super) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// Creates a tenant's directory and its `TENANT` file (written to a temporary name, synced,
/// then renamed), unless they exist.
fn create_tenant_dir(dir: &Path, tenant: &str) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    let file = dir.join(TENANT_FILE);
    if file.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!("{TENANT_FILE}.{TMP_EXT}"));
    std::fs::write(&tmp, tenant.as_bytes()).map_err(io_error("write", &tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_error("fsync", &tmp))?;
    std::fs::rename(&tmp, &file).map_err(io_error("rename", &tmp))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    sync_dir(dir)
}
