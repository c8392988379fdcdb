//! How [`ColdArchive`] reads one table (`spans` or `scores`) for one trace id: lists the
//! table's files (every partition, or the days a window covers, filtered to its hours),
//! reads them `concurrency` at a time through the archive's footer and bloom caches
//! ([`find_columns_in_file`]), and sorts out files that vanished or cannot be read
//! ([`Failure`]). The result is raw Arrow batches and what they cost ([`Scan`]); the
//! caller decodes them.

use super::ColdArchive;
use crate::error::StoreError;
use crate::layout::HourPartition;
use crate::layout::civil_from_days;
use crate::read::cache::{BloomCache, FileKey};
use crate::read::file::{BloomStore, Footer, ObjectFile, find_columns_in_file, load_footer};
use arrow_array::RecordBatch;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use parquet::errors::ParquetError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One file's bloom filters in the archive's [`BloomCache`].
pub(super) struct FileBlooms<'a> {
    pub(super) cache: &'a BloomCache,
    pub(super) file: &'a FileKey,
}

impl BloomStore for FileBlooms<'_> {
    fn get(&self, row_group: usize) -> Option<Option<Arc<parquet::bloom_filter::Sbbf>>> {
        self.cache.get(&(self.file.clone(), row_group))
    }

    fn put(&self, row_group: usize, bloom: Option<Arc<parquet::bloom_filter::Sbbf>>) {
        // The bitset, and the key and the map's bookkeeping.
        let bytes = bloom.as_ref().map_or(0, |b| b.num_blocks() * 32) + self.file.path.len() + 64;
        self.cache
            .insert((self.file.clone(), row_group), bloom, bytes);
    }
}

/// The table a [`ColdArchive::scan`] reads, which of its columns, and how many rows at most.
#[derive(Debug, Clone, Copy)]
pub(super) struct Table {
    pub(super) name: &'static str,
    /// `None`: every column.
    pub(super) columns: Option<&'static [&'static str]>,
    pub(super) max_rows: usize,
}

/// The rows one table scan found, and what it cost.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) batches: Vec<RecordBatch>,
    pub(super) files_listed: usize,
    pub(super) files_opened: usize,
    pub(super) footers_fetched: usize,
    pub(super) blooms_fetched: usize,
    pub(super) row_groups_read: usize,
    pub(super) row_groups_pruned: usize,
    pub(super) bytes_read: u64,
    pub(super) files_vanished: usize,
    pub(super) files_unreadable: usize,
    pub(super) truncated: bool,
}

/// One file's part of a lookup.
#[derive(Debug, Default)]
struct FilePart {
    batches: Vec<RecordBatch>,
    rows: usize,
    footer_fetched: bool,
    blooms_fetched: usize,
    row_groups_read: usize,
    row_groups_pruned: usize,
    vanished: bool,
    unreadable: bool,
    truncated: bool,
}

/// Why reading one file failed, as far as the lookup goes.
pub(super) enum Failure {
    /// The object is gone (compacted away since the listing): skipped.
    Vanished,
    /// The store failed: the lookup fails, naming the file.
    Store(StoreError),
    /// The file is not a readable spans file: skipped, counted and logged.
    Unreadable(StoreError),
}

pub(super) fn classify(e: StoreError, path: &str) -> Failure {
    let store_error = |source: object_store::Error| match source {
        object_store::Error::NotFound { .. } => Failure::Vanished,
        source => Failure::Store(StoreError::ObjectStore {
            op: "read",
            path: path.to_owned(),
            source,
        }),
    };
    match e {
        StoreError::Parquet {
            context,
            source: ParquetError::External(inner),
        } => match inner.downcast::<object_store::Error>() {
            Ok(source) => store_error(*source),
            Err(inner) => Failure::Unreadable(StoreError::Parquet {
                context,
                source: ParquetError::External(inner),
            }),
        },
        StoreError::ObjectStore { source, .. } => store_error(source),
        other => Failure::Unreadable(other),
    }
}

/// The `dt=YYYY-MM-DD/hour=HH` part of an archive path, if it has one.
pub(super) fn partition_of(path: &str) -> Option<&str> {
    let at = path.find("dt=")?;
    let rest = &path[at..];
    let hour = rest.find("/hour=")?;
    rest.get(..hour + "/hour=HH".len())
}

impl ColdArchive {
    /// The rows of `id_hex` in `table`'s files of the partitions `window` covers (all: None),
    /// of `tenant` (its `tenant={T}` level; `None`: the layout without tenants), read
    /// `concurrency` files at a time; stops past `table.max_rows` rows.
    pub(super) async fn scan(
        &self,
        store: Arc<dyn ObjectStore>,
        table: Table,
        tenant: Option<&str>,
        window: Option<(u64, u64)>,
        id_hex: &str,
    ) -> Result<Scan, StoreError> {
        let fetched = Arc::new(AtomicU64::new(0));
        let listed = AtomicUsize::new(0);
        let window = window.map(|(a, b)| {
            (
                HourPartition::of_unix_nanos(a.min(b)).to_string(),
                HourPartition::of_unix_nanos(a.max(b)).to_string(),
            )
        });
        let files = self
            .listing(
                store.clone(),
                table.name,
                tenant,
                window.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            )
            .try_filter(|meta| {
                let keep = meta.location.as_ref().ends_with(".parquet")
                    && window.as_ref().is_none_or(|(first, last)| {
                        partition_of(meta.location.as_ref())
                            .is_some_and(|p| first.as_str() <= p && p <= last.as_str())
                    });
                if keep {
                    listed.fetch_add(1, Ordering::Relaxed);
                }
                std::future::ready(keep)
            });
        let mut parts = files
            .map_ok(|meta| self.lookup_file(store.clone(), meta, table, id_hex, fetched.clone()))
            .try_buffer_unordered(self.options.concurrency.max(1));

        let mut scan = Scan::default();
        let mut rows = 0;
        while let Some(part) = parts.try_next().await? {
            scan.files_opened += usize::from(!part.vanished);
            scan.files_vanished += usize::from(part.vanished);
            scan.files_unreadable += usize::from(part.unreadable);
            scan.footers_fetched += usize::from(part.footer_fetched);
            scan.blooms_fetched += part.blooms_fetched;
            scan.row_groups_read += part.row_groups_read;
            scan.row_groups_pruned += part.row_groups_pruned;
            rows += part.rows;
            scan.batches.extend(part.batches);
            if part.truncated || rows > table.max_rows {
                scan.truncated = true;
                break;
            }
        }
        drop(parts);
        scan.files_listed = listed.load(Ordering::Relaxed);
        scan.bytes_read = fetched.load(Ordering::Relaxed);
        Ok(scan)
    }

    /// The files of `table`, or of the days a window covers; with `tenant`, only those under
    /// its `tenant={T}` level. A table that does not exist (yet) lists no files.
    pub(super) fn listing(
        &self,
        store: Arc<dyn ObjectStore>,
        table: &str,
        tenant: Option<&str>,
        window: Option<(&str, &str)>,
    ) -> BoxStream<'static, Result<ObjectMeta, StoreError>> {
        let table = crate::layout::tenant_dir(self.destination.prefix(), table, tenant);
        let days = window.and_then(|(first, last)| {
            let day = |p: &str| -> Option<i64> {
                let date = p.strip_prefix("dt=")?.get(..10)?;
                days_from_civil(date)
            };
            let (a, b) = (day(first)?, day(last)?);
            (b - a < i64::try_from(self.options.max_listed_days).unwrap_or(i64::MAX))
                .then_some(a..=b)
        });
        let prefixes: Vec<Path> = match days {
            Some(days) => days
                .map(|d| {
                    let (y, m, day) = civil_from_days(d);
                    table.clone().join(format!("dt={y:04}-{m:02}-{day:02}"))
                })
                .collect(),
            None => vec![table],
        };
        stream::iter(prefixes)
            .flat_map(move |prefix| {
                let path = prefix.to_string();
                store
                    .list(Some(&prefix))
                    .map_err(move |source| StoreError::ObjectStore {
                        op: "list",
                        path: path.clone(),
                        source,
                    })
            })
            .boxed()
    }

    /// One file's part of a lookup; see [`Failure`] for what a failed read does.
    async fn lookup_file(
        &self,
        store: Arc<dyn ObjectStore>,
        meta: ObjectMeta,
        table: Table,
        id_hex: &str,
        fetched: Arc<AtomicU64>,
    ) -> Result<FilePart, StoreError> {
        let key = FileKey {
            path: meta.location.to_string(),
            size: meta.size,
            modified_ms: meta.last_modified.timestamp_millis(),
        };
        let mut part = FilePart::default();
        match self
            .read_file(store, meta, &key, (table, id_hex), fetched, &mut part)
            .await
        {
            Ok(()) => Ok(part),
            Err(e) => match classify(e, &key.path) {
                Failure::Vanished => Ok(FilePart {
                    vanished: true,
                    ..Default::default()
                }),
                Failure::Store(e) => Err(e),
                Failure::Unreadable(e) => {
                    tracing::warn!(file = %key.path, error = %e, "skipping an unreadable archive file in a trace lookup");
                    Ok(FilePart {
                        unreadable: true,
                        footer_fetched: part.footer_fetched,
                        ..Default::default()
                    })
                }
            },
        }
    }

    async fn read_file(
        &self,
        store: Arc<dyn ObjectStore>,
        meta: ObjectMeta,
        key: &FileKey,
        (table, id_hex): (Table, &str),
        fetched: Arc<AtomicU64>,
        part: &mut FilePart,
    ) -> Result<(), StoreError> {
        let mut file = ObjectFile::new(store, meta.location, meta.size, fetched);
        let footer: Arc<Footer> = match self.footers.get(key) {
            Some(footer) => footer,
            None => {
                part.footer_fetched = true;
                let footer = load_footer(&mut file).await?;
                let bytes = footer.memory_bytes + key.path.len();
                let footer = Arc::new(footer);
                self.footers.insert(key.clone(), footer.clone(), bytes);
                footer
            }
        };
        let blooms = FileBlooms {
            cache: &self.blooms,
            file: key,
        };
        let found = find_columns_in_file(
            file,
            &footer,
            id_hex,
            Some(&blooms),
            table.max_rows,
            table.columns,
        )
        .await?;
        part.truncated = found.truncated;
        part.row_groups_read = found.row_groups_read;
        part.blooms_fetched = found.blooms_fetched;
        part.row_groups_pruned = found.pruned_by_statistics + found.pruned_by_bloom;
        part.rows = found.batches.iter().map(RecordBatch::num_rows).sum();
        part.batches = found.batches;
        Ok(())
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (Howard Hinnant's `days_from_civil`, the
/// inverse of [`civil_from_days`]).
pub(super) fn days_from_civil(date: &str) -> Option<i64> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}
