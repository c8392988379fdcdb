//! The archive as a trace store: [`ColdArchive::find_trace`] finds every span of one trace
//! id in the `spans` table of an archive (a local directory, `file://…` or `s3://…`).
//!
//! A lookup lists the table's files (every partition, or those of a time window), opens
//! their footers `concurrency` at a time (from a bounded [`FooterCache`] when it has them,
//! so a second lookup fetches no footer again), and reads from each file only the row
//! groups and pages that may hold the id ([`find_in_file`](super::file::find_in_file));
//! the `trace_id` bloom filters it fetches on the way are kept in a bounded [`BloomCache`]
//! too, so a warm lookup asks the
//! store only for the files that may hold the trace (and lists the partitions). The spans come back
//! deduplicated by span id and sorted by start time.
//!
//! # The window
//!
//! `window = Some((start_ns, end_ns))` lists only the partitions (`dt=…/hour=…`) whose UTC
//! hour overlaps `[start_ns, end_ns]`: the hours the trace's spans *started* in. Two kinds
//! of rows sit elsewhere:
//! - rows whose start time was far from their arrival (older than the archive's
//!   `past_window`, by default 7 days, or ahead by more than its `future_window`, 1 hour:
//!   wrong clocks, replays of old data) are in the partition of the hour they *arrived*
//!   in (see [`tracegate_model::schema`]);
//! - a trace's late spans arrive after it, but are partitioned by their own start, so the
//!   window of the trace's start and end covers them.
//!
//! So a window finds every row of a trace whose spans started within it and arrived within
//! the archive's windows of their start; `None` searches the whole table (every file's
//! footer, from the cache after the first lookup). Windows of more than
//! [`ColdOptions::max_listed_days`] days list the whole table and filter the paths.
//!
//! # Scores
//!
//! Once a trace's spans are found, its rows of the archive's `scores` table are looked up
//! the same way (listing, the same footer and bloom caches, statistics, bloom filter and
//! column index pruning), reading only [`SCORE_COLUMNS`], and added to the spans as
//! `gen_ai.evaluation.result` events, as the hot store shows them
//! ([`super::scores`]; [`ColdLookup::scores`] says what was found and what it cost).
//!
//! `scores` rows are partitioned by the score's own time, and a score (a user's feedback,
//! an offline evaluation) often comes hours after its trace. So the partitions searched are
//! not the request's window but the trace's own times, widened: from an hour before its
//! first span starts ([`SCORES_LEAD_NS`], for a scorer whose clock runs behind) to
//! [`ColdOptions::scores_lookahead`] (default 24 hours) after its last span ends. This
//! also bounds the lookup when the request gives no window. A score given later than that,
//! or one the archive placed in its arrival hour (a clock off by more than the archive's
//! windows), is not found; raise `scores_lookahead` to reach it, at the cost of listing
//! and opening more files. A trace not found has no scores lookup; a `scores` table that
//! does not exist yet lists no files. At most [`ColdOptions::max_scores`] scores are
//! added, the earliest; the rest are cut and counted ([`ColdScores::cut`]). A failure to
//! read the scores is logged and reported ([`ColdScores::error`]), and the spans are
//! returned without them.

use super::cache::{BloomCache, CacheStats, FileKey, FooterCache};
use super::decode::SpanDecoder;
use super::file::{ObjectFile, load_blooms, load_footer};
use super::scores::{SCORE_COLUMNS, attach_scores, scores_from_batch};
use crate::destination::Destination;
use crate::error::StoreError;
use crate::layout::{SCORES_TABLE, SPANS_TABLE};
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use scan::{Failure, FileBlooms, Table, classify, partition_of};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracegate_model::{Score, Span, TraceId};

/// How a [`ColdArchive`] looks traces up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdOptions {
    /// Memory for parsed footers (with their offset indexes, and `trace_id`'s statistics and
    /// column index; the other columns' are dropped when a footer is loaded), in bytes;
    /// least recently used ones are dropped beyond it. Default 256 MiB: a footer of a 64 MB
    /// spans file with 64 Ki-row groups takes about 0.7 MB (measured on a 10 GB archive of
    /// 180 files: 130 MB), so about 20 GB of archive stays cached. Past that, lookups refetch
    /// footers (each lookup opens every file of its window).
    pub footer_cache_bytes: usize,
    /// Memory for `trace_id` bloom filters, in bytes, least recently used out first. Every
    /// file whose statistics do not rule the id out costs a bloom filter request; cached,
    /// a repeated lookup asks the store only about files that may hold the trace. Default
    /// 64 MiB: a 64 Ki-row group's filter (some 6,500 traces at 1% false positives) is
    /// about 8 KiB, so about 8,000 row groups.
    pub bloom_cache_bytes: usize,
    /// Files read at once (footer, bloom filter and pages). Default 16: enough to hide an
    /// object store's latency without many requests in flight per lookup.
    pub concurrency: usize,
    /// Spans a lookup returns at most; past it, the lookup stops and says so
    /// ([`ColdLookup::truncated`]). Default 200,000.
    pub max_spans: usize,
    /// A window longer than this many days lists the whole table (one paginated listing)
    /// instead of one listing per day. Default 31.
    pub max_listed_days: u64,
    /// The tenant of the decoded spans ([`tracegate_model::Resource::tenant`]) of
    /// [`ColdArchive::find_trace`], which reads an archive without tenant levels. An archive
    /// written with multi-tenancy is read per tenant with [`ColdArchive::find_trace_of`].
    /// Default `None`, the single tenant.
    pub tenant: Option<Arc<str>>,
    /// How long after a trace's last span ends its scores are looked for: the `scores`
    /// partitions searched run from an hour before the trace's first start to this long
    /// after its last end (see [Scores](self#scores)). Default 24 hours.
    pub scores_lookahead: Duration,
    /// Scores a lookup adds at most; past it the rest are cut, and the lookup says so
    /// ([`ColdScores::truncated`]). 0 turns the scores lookup off. Default 1,000.
    pub max_scores: usize,
}

impl Default for ColdOptions {
    fn default() -> Self {
        Self {
            footer_cache_bytes: 256 * 1024 * 1024,
            bloom_cache_bytes: 64 * 1024 * 1024,
            concurrency: 16,
            max_spans: 200_000,
            max_listed_days: 31,
            tenant: None,
            scores_lookahead: Duration::from_secs(24 * 3600),
            max_scores: 1000,
        }
    }
}

/// What a lookup found, and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColdLookup {
    /// The trace's spans, one per span id, by start time.
    pub spans: Vec<Span>,
    /// Parquet files listed in the searched partitions.
    pub files_listed: usize,
    /// Files whose footer was consulted (from the cache or fetched).
    pub files_opened: usize,
    /// Footers fetched (cache misses).
    pub footers_fetched: usize,
    /// `trace_id` bloom filters fetched (cache misses).
    pub blooms_fetched: usize,
    /// Row groups whose data pages were read.
    pub row_groups_read: usize,
    /// Row groups ruled out by statistics or bloom filters.
    pub row_groups_pruned: usize,
    /// Bytes fetched from the store: footers, bloom filters and pages.
    pub bytes_read: u64,
    /// Spans dropped as duplicates of a span id already found.
    pub duplicates: usize,
    /// Files listed but gone when read (compacted away meanwhile), skipped.
    pub files_vanished: usize,
    /// Files that are not readable spans files (corrupt, truncated, another schema),
    /// skipped and logged with their path at `warn`: the spans found may be incomplete.
    pub files_unreadable: usize,
    /// True when the lookup stopped at [`ColdOptions::max_spans`].
    pub truncated: bool,
    /// The trace's scores, found in the `scores` table and added to [`Self::spans`] as
    /// events, and what finding them cost.
    pub scores: ColdScores,
}

/// The `scores` part of a lookup: the trace's rows of the archive's `scores` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColdScores {
    /// The scores found (the columns of [`SCORE_COLUMNS`]), by time.
    pub scores: Vec<Score>,
    /// The partitions searched, `(from_ns, to_ns)`; `None` when no lookup ran (no spans
    /// found, or [`ColdOptions::max_scores`] is 0).
    pub window: Option<(u64, u64)>,
    /// Parquet files listed in the searched partitions (0 when the table does not exist).
    pub files_listed: usize,
    /// Files whose footer was consulted.
    pub files_opened: usize,
    /// Footers fetched (cache misses).
    pub footers_fetched: usize,
    /// Bloom filters fetched (cache misses).
    pub blooms_fetched: usize,
    /// Row groups whose data pages were read.
    pub row_groups_read: usize,
    /// Row groups ruled out by statistics or bloom filters.
    pub row_groups_pruned: usize,
    /// Bytes fetched from the store for the scores.
    pub bytes_read: u64,
    /// Files gone when read, skipped.
    pub files_vanished: usize,
    /// Files not readable as `scores` files, skipped and logged.
    pub files_unreadable: usize,
    /// Events added to the spans.
    pub events_added: usize,
    /// Scores already on their span as an event (span-borne), not added again.
    pub already_on_span: usize,
    /// Rows repeated in the table, added once.
    pub duplicates: usize,
    /// True when more scores were found than [`ColdOptions::max_scores`]; the rest were cut.
    pub truncated: bool,
    /// Scores read and cut past [`ColdOptions::max_scores`] (at least this many).
    pub cut: usize,
    /// Why the scores lookup failed, when it did: the spans are returned without scores.
    pub error: Option<String>,
}

/// What [`ColdArchive::warm`] loaded into the caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColdWarmup {
    /// Files whose footer and bloom filters are now cached.
    pub files: usize,
    /// Footers fetched.
    pub footers_fetched: usize,
    /// Bloom filters fetched.
    pub blooms_fetched: usize,
    /// Bytes fetched from the store.
    pub bytes_read: u64,
    /// Files skipped: gone since the listing, or unreadable.
    pub files_skipped: usize,
    /// True when it stopped because a cache was nearly full, before the oldest files.
    pub stopped_full: bool,
}

/// The archive's `spans` table as a trace store, with a bounded footer cache; see the
/// [module docs](self).
#[derive(Debug)]
pub struct ColdArchive {
    destination: Destination,
    options: ColdOptions,
    footers: FooterCache,
    blooms: BloomCache,
}

/// Hours before a trace's first start that its scores' partitions are searched from: a
/// score given by a service whose clock runs behind (the archive's default
/// `future_window`).
pub const SCORES_LEAD_NS: u64 = 3_600_000_000_000;

impl ColdArchive {
    /// A lookup over the archive at `destination`.
    pub fn new(destination: Destination, options: ColdOptions) -> Self {
        let footers = FooterCache::new(options.footer_cache_bytes);
        let blooms = BloomCache::new(options.bloom_cache_bytes);
        Self {
            destination,
            options,
            footers,
            blooms,
        }
    }

    /// The footer cache's counts.
    pub fn cache_stats(&self) -> CacheStats {
        self.footers.stats()
    }

    /// The bloom filter cache's counts.
    pub fn bloom_cache_stats(&self) -> CacheStats {
        self.blooms.stats()
    }

    /// The options in use.
    pub fn options(&self) -> &ColdOptions {
        &self.options
    }

    /// The archive's store, listed as readers count it through compactions
    /// ([`CompactionView`](crate::compaction::CompactionView)).
    async fn store(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        let store = self.destination.open().await?;
        Ok(Arc::new(crate::compaction::CompactionView::new(store)))
    }

    /// Every span of `id` in the archive's spans table, reading few row groups (trace_id
    /// min/max statistics, then the bloom filter, then the column index), with the trace's
    /// scores from the `scores` table added as span events (see [Scores](self#scores)).
    /// `window`: (start_ns, end_ns) to limit the partitions listed (see the
    /// [module docs](self)); None = all.
    pub async fn find_trace(
        &self,
        id: &TraceId,
        window: Option<(u64, u64)>,
    ) -> Result<ColdLookup, StoreError> {
        self.find_trace_of(None, id, window).await
    }

    /// As [`Self::find_trace`], in one tenant's part of an archive written with multi-tenancy
    /// (`{table}/tenant={T}/…`, see [`crate::layout`]): only that tenant's spans and scores
    /// files are listed, so a trace id another tenant also sent is never mixed in. The spans
    /// come back with `tenant` as their resource's tenant. `None` reads the archive without
    /// tenant levels, as [`Self::find_trace`].
    pub async fn find_trace_of(
        &self,
        tenant: Option<&str>,
        id: &TraceId,
        window: Option<(u64, u64)>,
    ) -> Result<ColdLookup, StoreError> {
        let store = self.store().await?;
        let id_hex = id.to_hex();
        let spans_table = Table {
            name: SPANS_TABLE,
            columns: None,
            max_rows: self.options.max_spans,
        };
        let scan = self
            .scan(store.clone(), spans_table, tenant, window, &id_hex)
            .await?;
        let mut lookup = ColdLookup {
            files_listed: scan.files_listed,
            files_opened: scan.files_opened,
            footers_fetched: scan.footers_fetched,
            blooms_fetched: scan.blooms_fetched,
            row_groups_read: scan.row_groups_read,
            row_groups_pruned: scan.row_groups_pruned,
            bytes_read: scan.bytes_read,
            files_vanished: scan.files_vanished,
            files_unreadable: scan.files_unreadable,
            truncated: scan.truncated,
            ..ColdLookup::default()
        };
        let mut decoder = SpanDecoder::new(
            tenant
                .map(Arc::from)
                .or_else(|| self.options.tenant.clone()),
        );
        let mut spans = Vec::new();
        for batch in &scan.batches {
            spans.extend(decoder.decode(batch)?);
        }

        // One span per id: duplicates are replays of the same row; keep the first by
        // (id, start, end, name) so the choice does not depend on listing order.
        spans.sort_by(|a, b| {
            (
                a.span_id,
                a.start_time_unix_nano,
                a.end_time_unix_nano,
                &a.name,
            )
                .cmp(&(
                    b.span_id,
                    b.start_time_unix_nano,
                    b.end_time_unix_nano,
                    &b.name,
                ))
        });
        let before = spans.len();
        spans.dedup_by_key(|s| s.span_id);
        lookup.duplicates = before - spans.len();
        spans.truncate(self.options.max_spans);
        spans.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
        if !spans.is_empty() && self.options.max_scores > 0 {
            lookup.scores = self
                .add_scores(store, tenant, id, &id_hex, &mut spans)
                .await;
        }
        lookup.spans = spans;
        Ok(lookup)
    }

    /// The partitions of `spans`' scores: from [`SCORES_LEAD_NS`] before the first start to
    /// [`ColdOptions::scores_lookahead`] after the last end.
    fn scores_window(&self, spans: &[Span]) -> Option<(u64, u64)> {
        let first = spans.iter().map(|s| s.start_time_unix_nano).min()?;
        let last = spans
            .iter()
            .map(|s| s.end_time_unix_nano.max(s.start_time_unix_nano))
            .max()?;
        let ahead = u64::try_from(self.options.scores_lookahead.as_nanos()).unwrap_or(u64::MAX);
        Some((
            first.saturating_sub(SCORES_LEAD_NS),
            last.saturating_add(ahead),
        ))
    }

    /// Looks up the trace's rows of the `scores` table and adds them to `spans` as events.
    /// A failure is logged and reported in [`ColdScores::error`]: the spans stand alone.
    async fn add_scores(
        &self,
        store: Arc<dyn ObjectStore>,
        tenant: Option<&str>,
        id: &TraceId,
        id_hex: &str,
        spans: &mut [Span],
    ) -> ColdScores {
        let window = self.scores_window(spans);
        let table = Table {
            name: SCORES_TABLE,
            columns: Some(SCORE_COLUMNS),
            max_rows: self.options.max_scores,
        };
        let mut found = ColdScores {
            window,
            ..ColdScores::default()
        };
        let decoded = match self.scan(store, table, tenant, window, id_hex).await {
            Ok(scan) => {
                found.files_listed = scan.files_listed;
                found.files_opened = scan.files_opened;
                found.footers_fetched = scan.footers_fetched;
                found.blooms_fetched = scan.blooms_fetched;
                found.row_groups_read = scan.row_groups_read;
                found.row_groups_pruned = scan.row_groups_pruned;
                found.bytes_read = scan.bytes_read;
                found.files_vanished = scan.files_vanished;
                found.files_unreadable = scan.files_unreadable;
                found.truncated = scan.truncated;
                scan.batches
                    .iter()
                    .map(scores_from_batch)
                    .collect::<Result<Vec<_>, _>>()
            }
            Err(e) => Err(e),
        };
        let mut scores: Vec<Score> = match decoded {
            Ok(scores) => scores.into_iter().flatten().collect(),
            Err(e) => {
                tracing::warn!(trace_id = %id, error = %e, "reading a trace's scores from the archive failed; serving its spans without them");
                found.error = Some(e.to_string());
                return found;
            }
        };
        scores.sort_by_key(|s| s.time_unix_nano);
        if scores.len() > self.options.max_scores {
            found.truncated = true;
            found.cut = scores.len() - self.options.max_scores;
            scores.truncate(self.options.max_scores);
        }
        if found.truncated {
            tracing::warn!(trace_id = %id, max_scores = self.options.max_scores, "a trace has more scores in the archive than a lookup adds; the latest were cut");
        }
        let attached = attach_scores(spans, *id, &scores);
        found.events_added = attached.added;
        found.already_on_span = attached.already_on_span;
        found.duplicates = attached.duplicates;
        found.scores = scores;
        found
    }

    /// Fills the footer and bloom caches from the newest files back, until a cache is about
    /// 90 % full or every file is in: what the first lookups would otherwise fetch one by
    /// one (a first lookup on an archive of 73 files on S3 took seconds, a warm one tens of
    /// milliseconds). Run it in the background when the API starts; lookups meanwhile work
    /// as usual and share the caches. Unreadable and vanished files are skipped. The
    /// `scores` table's files are warmed too (a lookup that finds a trace reads them), in
    /// the same newest-first order as the spans files.
    pub async fn warm(&self) -> Result<ColdWarmup, StoreError> {
        let store = self.store().await?;
        let mut files: Vec<ObjectMeta> = self
            .listing(store.clone(), SPANS_TABLE, None, None)
            .chain(self.listing(store.clone(), SCORES_TABLE, None, None))
            .try_filter(|m| std::future::ready(m.location.as_ref().ends_with(".parquet")))
            .try_collect()
            .await?;
        // Newest first: partitions are dt=…/hour=…, and file names end in a ULID; the two
        // tables' files interleave by partition.
        files.sort_by(|a, b| {
            let key = |m: &ObjectMeta| {
                let path = m.location.as_ref();
                (
                    partition_of(path).unwrap_or_default().to_owned(),
                    path.to_owned(),
                )
            };
            key(b).cmp(&key(a))
        });
        let fetched = Arc::new(AtomicU64::new(0));
        let full = |used: usize, capacity: usize| used >= capacity / 10 * 9;
        let mut warmup = ColdWarmup::default();
        let mut parts = stream::iter(files)
            .map(|meta| self.warm_file(store.clone(), meta, fetched.clone()))
            .buffer_unordered(self.options.concurrency.max(1));
        while let Some(part) = parts.next().await {
            match part {
                Ok((footer_fetched, blooms)) => {
                    warmup.files += 1;
                    warmup.footers_fetched += usize::from(footer_fetched);
                    warmup.blooms_fetched += blooms;
                }
                Err(e) => match classify(e, "") {
                    Failure::Store(e) => return Err(e),
                    Failure::Vanished | Failure::Unreadable(_) => warmup.files_skipped += 1,
                },
            }
            if full(self.footers.stats().bytes, self.footers.capacity_bytes())
                || full(self.blooms.stats().bytes, self.blooms.capacity_bytes())
            {
                warmup.stopped_full = true;
                break;
            }
        }
        drop(parts);
        warmup.bytes_read = fetched.load(Ordering::Relaxed);
        Ok(warmup)
    }

    /// One file's footer and bloom filters into the caches: (footer fetched, blooms fetched).
    async fn warm_file(
        &self,
        store: Arc<dyn ObjectStore>,
        meta: ObjectMeta,
        fetched: Arc<AtomicU64>,
    ) -> Result<(bool, usize), StoreError> {
        let key = FileKey {
            path: meta.location.to_string(),
            size: meta.size,
            modified_ms: meta.last_modified.timestamp_millis(),
        };
        let mut file = ObjectFile::new(store, meta.location, meta.size, fetched);
        let (footer, footer_fetched) = match self.footers.get(&key) {
            Some(footer) => (footer, false),
            None => {
                let footer = Arc::new(load_footer(&mut file).await?);
                let bytes = footer.memory_bytes + key.path.len();
                self.footers.insert(key.clone(), footer.clone(), bytes);
                (footer, true)
            }
        };
        let blooms = FileBlooms {
            cache: &self.blooms,
            file: &key,
        };
        let n = load_blooms(file, &footer, &blooms).await?;
        Ok((footer_fetched, n))
    }
}

mod scan;
#[cfg(test)]
mod tests;
