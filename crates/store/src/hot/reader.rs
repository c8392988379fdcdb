//! Reading rows of a block back as spans: only the row groups and pages that hold the rows
//! asked for, decoded with [`crate::read::SpanDecoder`].
//!
//! A block's footer (with its page offsets, so a [`RowSelection`] skips pages) is parsed
//! once and kept in a [`FooterCache`] of bounded bytes, so a lookup by id costs one open, the
//! selected pages' reads and their decoding. [`read_rows`] counts the bytes it reads.

use super::block::{Block, io_error};
use crate::error::StoreError;
use crate::read::SpanDecoder;
use crate::read::cache::ByteLru;
use arrow_array::Array as _;
use arrow_array::cast::AsArray as _;
use arrow_array::types::Int64Type;
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::reader::{ChunkReader, Length};
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::Span;
use tracegate_model::schema::col;
use ulid::Ulid;

/// Rows decoded per batch.
const BATCH_ROWS: usize = 8_192;

/// Parsed footers of recently read blocks, within a byte bound, the least recently used
/// out first ([`ByteLru`]).
#[derive(Debug)]
pub struct FooterCache {
    lru: ByteLru<Ulid, ArrowReaderMetadata>,
}

impl FooterCache {
    /// A cache of footers taking at most `capacity_bytes` of memory.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            lru: ByteLru::new(capacity_bytes),
        }
    }

    fn get(&self, id: Ulid, reader: &Counted) -> Result<ArrowReaderMetadata, StoreError> {
        if let Some(meta) = self.lru.get(&id) {
            return Ok(meta);
        }
        let meta = ArrowReaderMetadata::load(
            reader,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
        )
        .map_err(StoreError::parquet("read a hot block's footer"))?;
        self.lru
            .insert(id, meta.clone(), meta.metadata().memory_size());
        Ok(meta)
    }

    /// Its counts, for tests and metrics.
    pub fn stats(&self) -> crate::read::CacheStats {
        self.lru.stats()
    }
}

/// Reads `ranges` (sorted, not overlapping) of `block`'s rows, in file order, as spans of
/// `tenant` (`None`: the default tenant). `Ok(None)` when the block was deleted meanwhile
/// (evicted). Adds the bytes read to `bytes`.
pub fn read_rows(
    block: &Block,
    ranges: &[Range<usize>],
    tenant: Option<&Arc<str>>,
    cache: &FooterCache,
    bytes: &mut u64,
) -> Result<Option<Vec<Span>>, StoreError> {
    let Some(rows) = Selected::open(block, ranges, cache)? else {
        return Ok(None);
    };
    let read = rows.read.clone();
    let Some(batches) = rows.batches(None)? else {
        return Ok(Some(Vec::new()));
    };
    let mut spans = Vec::new();
    // One decoder for all the batches, so their spans share resources and scopes.
    let mut decoder = SpanDecoder::new(tenant.cloned());
    for batch in batches {
        let batch = batch.map_err(StoreError::arrow("read a hot block"))?;
        spans.extend(decoder.decode(&batch)?);
    }
    *bytes += read.load(Ordering::Relaxed);
    Ok(Some(spans))
}

/// For each of `ranges` (sorted, not overlapping) of `block`'s rows: whether one of its rows
/// is a span of one of `services` lasting at least `min_duration_ns`. Reads only the
/// `service_name` and `duration_ns` columns of those rows, so a search can drop the traces
/// that cannot match before decoding them. `Ok(None)` when the block was deleted meanwhile.
pub fn ranges_with_span(
    block: &Block,
    ranges: &[Range<usize>],
    services: &[String],
    min_duration_ns: u64,
    cache: &FooterCache,
    bytes: &mut u64,
) -> Result<Option<Vec<bool>>, StoreError> {
    let Some(rows) = Selected::open(block, ranges, cache)? else {
        return Ok(None);
    };
    let read = rows.read.clone();
    let mut hit = Vec::with_capacity(ranges.len());
    let Some(batches) = rows.batches(Some(&[col::SERVICE_NAME, col::DURATION_NS]))? else {
        return Ok(Some(vec![false; ranges.len()]));
    };
    // The selected rows arrive in order: range after range.
    let mut lens = ranges.iter().map(|r| r.len());
    let mut left = lens.next().unwrap_or(0);
    let mut any = false;
    let wanted = |service: &str| services.iter().any(|s| s == service);
    for batch in batches {
        let batch = batch.map_err(StoreError::arrow("read a hot block"))?;
        let service = batch
            .column_by_name(col::SERVICE_NAME)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or(StoreError::Schema {
                column: col::SERVICE_NAME,
            })?;
        let duration = batch
            .column_by_name(col::DURATION_NS)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or(StoreError::Schema {
                column: col::DURATION_NS,
            })?;
        for row in 0..batch.num_rows() {
            while left == 0 && hit.len() < ranges.len() {
                hit.push(any);
                any = false;
                left = lens.next().unwrap_or(0);
            }
            if !any
                && !service.is_null(row)
                && u64::try_from(duration.value(row)).unwrap_or(0) >= min_duration_ns
                && wanted(service.value(row))
            {
                any = true;
            }
            left = left.saturating_sub(1);
        }
    }
    while hit.len() < ranges.len() {
        hit.push(any);
        any = false;
    }
    *bytes += read.load(Ordering::Relaxed);
    Ok(Some(hit))
}

/// A block opened with the row groups and row selection that cover some ranges of its rows.
struct Selected {
    reader: Counted,
    meta: ArrowReaderMetadata,
    groups: Vec<usize>,
    selection: RowSelection,
    read: Arc<AtomicU64>,
}

impl Selected {
    /// `None` when the block was deleted meanwhile (evicted).
    fn open(
        block: &Block,
        ranges: &[Range<usize>],
        cache: &FooterCache,
    ) -> Result<Option<Self>, StoreError> {
        let file = match File::open(&block.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", &block.path)(e)),
        };
        let read = Arc::new(AtomicU64::new(0));
        let reader = Counted {
            file,
            read: read.clone(),
        };
        let meta = cache.get(block.id, &reader)?;
        // The row groups that hold any of the ranges, and the ranges within them.
        let mut groups = Vec::new();
        let mut selected = Vec::new();
        let mut group_start = 0usize;
        let mut offset = 0usize;
        let mut next = 0usize;
        for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
            let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
            let group_end = group_start + rows;
            let mut any = false;
            let mut k = next;
            while k < ranges.len() && ranges[k].start < group_end {
                let r = &ranges[k];
                let (lo, hi) = (r.start.max(group_start), r.end.min(group_end));
                if lo < hi {
                    selected.push(lo - group_start + offset..hi - group_start + offset);
                    any = true;
                }
                if r.end <= group_end {
                    next = k + 1;
                }
                k += 1;
            }
            if any {
                groups.push(i);
                offset += rows;
            }
            group_start = group_end;
        }
        let selection = RowSelection::from_consecutive_ranges(selected.into_iter(), offset);
        Ok(Some(Self {
            reader,
            meta,
            groups,
            selection,
            read,
        }))
    }

    /// The selected rows' batches, of `columns` only when given; `None` when no row group
    /// holds any of them.
    fn batches(
        self,
        columns: Option<&[&str]>,
    ) -> Result<Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>, StoreError> {
        if self.groups.is_empty() {
            return Ok(None);
        }
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(self.reader, self.meta)
                .with_row_groups(self.groups)
                .with_row_selection(self.selection)
                .with_batch_size(BATCH_ROWS);
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        builder
            .build()
            .map(Some)
            .map_err(StoreError::parquet("read a hot block"))
    }
}

/// A block's file that counts the bytes read from it.
struct Counted {
    file: File,
    read: Arc<AtomicU64>,
}

impl Length for Counted {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl ChunkReader for Counted {
    type T = CountingRead<<File as ChunkReader>::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(CountingRead {
            inner: self.file.get_read(start)?,
            read: self.read.clone(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.read.fetch_add(length as u64, Ordering::Relaxed);
        self.file.get_bytes(start, length)
    }
}

/// A reader that counts the bytes read through it.
struct CountingRead<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
