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
use bytes::Bytes;
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
    if groups.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let selection = RowSelection::from_consecutive_ranges(selected.into_iter(), offset);
    let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, meta)
        .with_row_groups(groups)
        .with_row_selection(selection)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(StoreError::parquet("read a hot block"))?;
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
