//! One Parquet `spans` file → the rows of one trace id, reading as little as the file's
//! indexes allow.
//!
//! [`ObjectFile`] reads a file of an object store through Parquet's [`AsyncFileReader`],
//! counting the bytes it fetches. [`load_footer`] parses a file's footer and page indexes
//! into a [`Footer`] (what the archive's footer cache holds). [`find_in_file`] then finds
//! one trace:
//!
//! 1. row groups whose `trace_id` min/max statistics exclude the id are skipped;
//! 2. then those whose `trace_id` bloom filter rules it out;
//! 3. within the rest, only the pages whose `trace_id` min/max (the column index) include
//!    the id are selected, and their rows are read with a row filter on `trace_id`
//!    equality. Parquet fetches only the pages of each column that hold selected rows
//!    (the offset index says where they are).
//!
//! Rows are sorted by trace id within a file, so for a present trace step 1 leaves one row
//! group (two when the trace straddles a boundary) and step 3 a page or two per column; for
//! an absent one the bloom filter usually stops the lookup before any data page is read.
//! Files from other writers without page indexes or bloom filters are read correctly, only
//! with less pruning.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::bloom_filter::Sbbf;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::schema::col;

/// One file of an object store, read through Parquet's async reader, counting the bytes
/// fetched into a shared counter.
#[derive(Debug, Clone)]
pub struct ObjectFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    fetched: Arc<AtomicU64>,
}

impl ObjectFile {
    /// The file at `path`, `size` bytes long (from the listing), counting into `fetched`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        size: u64,
        fetched: Arc<AtomicU64>,
    ) -> Self {
        Self {
            store,
            path,
            size,
            fetched,
        }
    }

    fn count(&self, bytes: &[Bytes]) {
        let n: usize = bytes.iter().map(Bytes::len).sum();
        self.fetched.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl AsyncFileReader for ObjectFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let bytes = self
                .store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            self.count(std::slice::from_ref(&bytes));
            Ok(bytes)
        }
        .boxed()
    }

    /// Fetches the ranges merged where they are at most [`COALESCE_GAP_BYTES`] apart, a few
    /// requests at a time, counting the bytes actually transferred.
    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let merged = coalesce(&ranges, COALESCE_GAP_BYTES);
            let fetched: Vec<Bytes> = futures::stream::iter(merged.iter().cloned())
                .map(|range| {
                    let store = self.store.clone();
                    let path = self.path.clone();
                    async move { store.get_range(&path, range).await }
                })
                .buffered(FETCH_CONCURRENCY)
                .try_collect()
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            self.count(&fetched);
            ranges
                .iter()
                .map(|r| {
                    if r.start >= r.end {
                        return Ok(Bytes::new());
                    }
                    let i = merged.partition_point(|m| m.end < r.end);
                    let (m, bytes) = merged.get(i).zip(fetched.get(i)).ok_or_else(|| {
                        ParquetError::General(format!("range {r:?} was not fetched"))
                    })?;
                    let start = usize::try_from(r.start - m.start).unwrap_or(usize::MAX);
                    let end = usize::try_from(r.end - m.start).unwrap_or(usize::MAX);
                    if r.start < m.start || end > bytes.len() {
                        return Err(ParquetError::General(format!(
                            "range {r:?} is not within the fetched {m:?}"
                        )));
                    }
                    Ok(bytes.slice(start..end))
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Ranges at most this far apart are fetched in one request. An object store's cost is its
/// requests more than its bytes: with 16 KiB a warm lookup on a 4 GB archive on moto made a
/// request per column and took 73–462 ms for about 1 MB; with 1 MiB it takes 47–120 ms for
/// about 2.7 MB (`examples/cold_lookup --reuse`).
pub const COALESCE_GAP_BYTES: u64 = 1024 * 1024;
/// Requests in flight at once for one read of a file.
const FETCH_CONCURRENCY: usize = 8;

/// Sorted, merged ranges covering `ranges`, merging across gaps of at most `gap` bytes.
pub fn coalesce(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Bytes fetched from a file's end in the first request for its footer: one request for a
/// typical spans file's footer and page indexes.
pub const FOOTER_PREFETCH_BYTES: usize = 64 * 1024;

/// A file's parsed footer and page indexes, ready to read with, and where its `trace_id`
/// column is.
#[derive(Debug, Clone)]
pub struct Footer {
    /// The footer, with the Arrow schema it implies.
    pub metadata: ArrowReaderMetadata,
    /// The `trace_id` column's leaf index; `None` when the file has none (not a spans file).
    pub trace_id_leaf: Option<usize>,
    /// Approximate memory the parsed footer holds, for the cache's byte bound.
    pub memory_bytes: usize,
}

fn parquet_error(context: &'static str) -> impl FnOnce(ParquetError) -> StoreError {
    StoreError::parquet(context)
}

/// Fetches and parses a file's footer and page indexes.
pub async fn load_footer(file: &mut ObjectFile) -> Result<Footer, StoreError> {
    let metadata = file
        .get_metadata(None)
        .await
        .map_err(parquet_error("read a Parquet footer"))?;
    let trace_id_leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == col::TRACE_ID);
    let metadata = keep_trace_id_column_index(metadata, trace_id_leaf);
    let memory_bytes = metadata.memory_size();
    let metadata = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new())
        .map_err(parquet_error("read a Parquet footer's schema"))?;
    Ok(Footer {
        metadata,
        trace_id_leaf,
        memory_bytes,
    })
}

/// The footer with only what a lookup reads kept for columns other than `trace_id`: a lookup
/// prunes row groups and pages by `trace_id` alone, so the other columns' chunk statistics
/// (min/max of attribute values, prompts among them, untruncated) and their column indexes
/// (per-page min/max) are dropped: 12–16 % of a parsed footer's memory on the archive's
/// files, which let a 10 GB archive's 180 footers fit the default cache. The offset indexes
/// (where each page is) stay: they let a lookup fetch only the selected pages of every
/// column. Should the footer not rebuild, it is kept whole.
fn keep_trace_id_column_index(
    metadata: Arc<ParquetMetaData>,
    trace_id_leaf: Option<usize>,
) -> Arc<ParquetMetaData> {
    let Some(leaf) = trace_id_leaf else {
        return metadata;
    };
    match strip_to_trace_id((*metadata).clone(), leaf) {
        Ok(stripped) => Arc::new(stripped),
        Err(e) => {
            tracing::debug!(error = %e, "kept a Parquet footer whole");
            metadata
        }
    }
}

fn strip_to_trace_id(
    metadata: ParquetMetaData,
    leaf: usize,
) -> parquet::errors::Result<ParquetMetaData> {
    let mut builder = metadata.into_builder();
    let row_groups = builder
        .take_row_groups()
        .into_iter()
        .map(|rg| {
            let mut rg = rg.into_builder();
            let columns = rg
                .take_columns()
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == leaf {
                        Ok(c)
                    } else {
                        c.into_builder().clear_statistics().build()
                    }
                })
                .collect::<parquet::errors::Result<Vec<_>>>()?;
            rg.set_column_metadata(columns).build()
        })
        .collect::<parquet::errors::Result<Vec<_>>>()?;
    builder = builder.set_row_groups(row_groups);
    if let Some(mut index) = builder.take_column_index() {
        for row_group in &mut index {
            for (i, column) in row_group.iter_mut().enumerate() {
                if i != leaf {
                    *column = ColumnIndexMetaData::NONE;
                }
            }
        }
        builder = builder.set_column_index(Some(index));
    }
    Ok(builder.build())
}

/// Bloom filters already fetched, by row group, for [`find_in_file`] to reuse.
pub trait BloomStore: Send + Sync {
    /// The row group's filter if it is known: `Some(None)` when the row group has none.
    fn get(&self, row_group: usize) -> Option<Option<Arc<Sbbf>>>;
    /// Remembers a fetched filter (or that there is none).
    fn put(&self, row_group: usize, bloom: Option<Arc<Sbbf>>);
}

/// What [`find_in_file`] found and read.
#[derive(Debug, Default)]
pub struct FileMatch {
    /// The trace's rows, all columns.
    pub batches: Vec<RecordBatch>,
    /// Row groups in the file.
    pub row_groups: usize,
    /// Row groups skipped by min/max statistics.
    pub pruned_by_statistics: usize,
    /// Row groups skipped by the bloom filter.
    pub pruned_by_bloom: usize,
    /// Row groups whose data pages were read.
    pub row_groups_read: usize,
    /// Bloom filters fetched (not found in the [`BloomStore`]).
    pub blooms_fetched: usize,
    /// True when reading stopped past `max_rows` rows.
    pub truncated: bool,
}

/// True when `[min, max]` (absent: unbounded) may hold `id`.
fn may_hold(min: Option<&[u8]>, max: Option<&[u8]>, id: &[u8]) -> bool {
    min.is_none_or(|m| m <= id) && max.is_none_or(|m| id <= m)
}

/// Finds the rows of the trace whose lowercase hex id is `id_hex` in one file; see the
/// [module docs](self). Byte counts go to `file`'s counter; bloom filters come from
/// `blooms` when it has them, and go there when fetched. Reading stops once more than
/// `max_rows` rows were found ([`FileMatch::truncated`]).
pub async fn find_in_file(
    file: ObjectFile,
    footer: &Footer,
    id_hex: &str,
    blooms: Option<&dyn BloomStore>,
    max_rows: usize,
) -> Result<FileMatch, StoreError> {
    find_columns_in_file(file, footer, id_hex, blooms, max_rows, None).await
}

/// [`find_in_file`], reading only the named top-level `columns` of the matching rows
/// (`None`: all of them; a name the file lacks is left out): the pages of the other
/// columns are not fetched. The batches hold the columns in the file's order.
pub async fn find_columns_in_file(
    file: ObjectFile,
    footer: &Footer,
    id_hex: &str,
    blooms: Option<&dyn BloomStore>,
    max_rows: usize,
    columns: Option<&[&str]>,
) -> Result<FileMatch, StoreError> {
    let id = id_hex.as_bytes();
    let metadata = footer.metadata.metadata().clone();
    let mut found = FileMatch {
        row_groups: metadata.num_row_groups(),
        ..Default::default()
    };
    let Some(leaf) = footer.trace_id_leaf else {
        return Ok(found);
    };

    // 1. Statistics.
    let mut candidates = Vec::new();
    for (i, rg) in metadata.row_groups().iter().enumerate() {
        let keep = match rg.column(leaf).statistics() {
            Some(Statistics::ByteArray(s)) => may_hold(s.min_bytes_opt(), s.max_bytes_opt(), id),
            _ => true,
        };
        if keep {
            candidates.push(i);
        } else {
            found.pruned_by_statistics += 1;
        }
    }
    if candidates.is_empty() {
        return Ok(found);
    }

    // 2. Bloom filters.
    let mut builder =
        ParquetRecordBatchStreamBuilder::new_with_metadata(file, footer.metadata.clone());
    let mut row_groups = Vec::with_capacity(candidates.len());
    for rg in candidates {
        let bloom = match blooms.and_then(|b| b.get(rg)) {
            Some(known) => known,
            None => {
                let fetched = builder
                    .get_row_group_column_bloom_filter(rg, leaf)
                    .await
                    .map_err(parquet_error("read a trace_id bloom filter"))?
                    .map(Arc::new);
                found.blooms_fetched += 1;
                if let Some(store) = blooms {
                    store.put(rg, fetched.clone());
                }
                fetched
            }
        };
        if bloom.is_none_or(|b| b.check(id)) {
            row_groups.push(rg);
        } else {
            found.pruned_by_bloom += 1;
        }
    }
    if row_groups.is_empty() {
        return Ok(found);
    }

    // 3. Pages, then rows.
    let selection = page_selection(&metadata, leaf, &row_groups, id);
    if let Some(selection) = &selection
        && !selection.selects_any()
    {
        found.pruned_by_statistics += row_groups.len();
        return Ok(found);
    }
    found.row_groups_read = row_groups.len();
    let schema_descr = metadata.file_metadata().schema_descr_ptr();
    let wanted = id_hex.to_owned();
    let predicate = ArrowPredicateFn::new(
        ProjectionMask::leaves(&schema_descr, [leaf]),
        move |batch: RecordBatch| -> Result<BooleanArray, arrow_schema::ArrowError> {
            let ids = batch.column(0).as_string_opt::<i32>().ok_or_else(|| {
                arrow_schema::ArrowError::SchemaError(format!(
                    "trace_id is {}, not a string column",
                    batch.column(0).data_type()
                ))
            })?;
            Ok(ids.iter().map(|id| id.map(|id| id == wanted)).collect())
        },
    );
    builder = builder
        .with_row_groups(row_groups)
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
    if let Some(columns) = columns {
        builder = builder.with_projection(ProjectionMask::columns(
            &schema_descr,
            columns.iter().copied(),
        ));
    }
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let mut stream = builder
        .build()
        .map_err(parquet_error("start reading a trace's rows"))?;
    let mut rows = 0;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(parquet_error("read a trace's rows"))?
    {
        if batch.num_rows() == 0 {
            continue;
        }
        rows += batch.num_rows();
        found.batches.push(batch);
        if rows > max_rows {
            found.truncated = true;
            break;
        }
    }
    Ok(found)
}

/// Fetches every `trace_id` bloom filter of the file that `blooms` does not hold yet, and
/// gives each to `blooms`: what a later [`find_in_file`] would fetch one by one. Returns the
/// number fetched.
pub async fn load_blooms(
    file: ObjectFile,
    footer: &Footer,
    blooms: &dyn BloomStore,
) -> Result<usize, StoreError> {
    let Some(leaf) = footer.trace_id_leaf else {
        return Ok(0);
    };
    let row_groups = footer.metadata.metadata().num_row_groups();
    let mut builder =
        ParquetRecordBatchStreamBuilder::new_with_metadata(file, footer.metadata.clone());
    let mut fetched = 0;
    for rg in 0..row_groups {
        if blooms.get(rg).is_some() {
            continue;
        }
        let bloom = builder
            .get_row_group_column_bloom_filter(rg, leaf)
            .await
            .map_err(parquet_error("read a trace_id bloom filter"))?
            .map(Arc::new);
        fetched += 1;
        blooms.put(rg, bloom);
    }
    Ok(fetched)
}

/// The rows of `row_groups` (in that order) on `trace_id` pages whose min/max may hold
/// `id`; `None` when the file lacks the page indexes to tell.
fn page_selection(
    metadata: &ParquetMetaData,
    leaf: usize,
    row_groups: &[usize],
    id: &[u8],
) -> Option<RowSelection> {
    let column_index = metadata.column_index()?;
    let offset_index = metadata.offset_index()?;
    let mut selectors = Vec::new();
    for &rg in row_groups {
        let rows = usize::try_from(metadata.row_group(rg).num_rows()).ok()?;
        let ColumnIndexMetaData::BYTE_ARRAY(index) = column_index.get(rg)?.get(leaf)? else {
            return None;
        };
        let pages = offset_index.get(rg)?.get(leaf)?.page_locations();
        if pages.is_empty() || usize::try_from(index.num_pages()).ok()? != pages.len() {
            return None;
        }
        for (p, page) in pages.iter().enumerate() {
            let first = usize::try_from(page.first_row_index).ok()?;
            let end = match pages.get(p + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            let n = end.checked_sub(first)?;
            let hit =
                !index.is_null_page(p) && may_hold(index.min_value(p), index.max_value(p), id);
            selectors.push(if hit {
                RowSelector::select(n)
            } else {
                RowSelector::skip(n)
            });
        }
    }
    Some(RowSelection::from(selectors))
}

/// The size of the object at `path`, for a file known only by name.
pub async fn object_size(store: &dyn ObjectStore, path: &Path) -> Result<u64, StoreError> {
    store
        .head(path)
        .await
        .map(|meta| meta.size)
        .map_err(|source| StoreError::ObjectStore {
            op: "head",
            path: path.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests;
