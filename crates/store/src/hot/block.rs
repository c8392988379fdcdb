//! Blocks: a tenant's head written to disk as one Parquet file of the archive's `spans`
//! schema, and their reopening after a restart.
//!
//! A block is named `{ulid}.parquet` in its tenant's directory; the ULID's time is when it
//! was written, so names sort oldest first and retention can age blocks across restarts.
//! [`write_block`] encodes the spans once ([`SpanEncoder`], sized like the last block, then
//! [`write_hot_block_to`]: rows sorted by trace id and start, statistics on `trace_id`), into
//! `{ulid}.parquet.tmp`, `fsync`s it, renames it into place and `fsync`s the directory, so a
//! crash leaves either the whole block or a `.tmp` file that the next start deletes. The
//! block's [`BlockIndex`] is built from the same spans in file order; reopening builds it
//! from four projected columns ([`Block::open`]).

use super::index::{BlockIndex, IndexBuilder};
use crate::encoder::{SizeHint, SpanEncoder};
use crate::error::StoreError;
use crate::writer::{WriterOptions, write_hot_block_to};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tracegate_model::schema::col;
use tracegate_model::{Span, TraceId};
use ulid::Ulid;

/// The extension of a block file.
pub const BLOCK_EXT: &str = "parquet";
/// The extension of a block being written.
pub const TMP_EXT: &str = "tmp";

/// One block on disk, with its index.
#[derive(Debug)]
pub struct Block {
    /// Its id; the time part is when it was written.
    pub id: Ulid,
    /// The file.
    pub path: PathBuf,
    /// Its size on disk.
    pub bytes: u64,
    /// What it holds.
    pub index: BlockIndex,
}

impl Block {
    /// When it was written, ms since the epoch.
    pub fn written_ms(&self) -> u64 {
        self.id.timestamp_ms()
    }

    /// Reopens the block at `path`, named `{ulid}.parquet`, building its index from its
    /// `trace_id`, `service_name`, `start_time` and `end_time` columns.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| Ulid::from_string(s).ok())
            .ok_or_else(|| StoreError::HotStore {
                op: "name a block from",
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a block's name is {ulid}.parquet; move other files out of the store",
                ),
            })?;
        let file = File::open(path).map_err(io_error("open", path))?;
        let bytes = file.metadata().map_err(io_error("stat", path))?.len();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(StoreError::parquet("read a hot block's footer"))?;
        let mask = ProjectionMask::columns(
            builder.parquet_schema(),
            [
                col::TRACE_ID,
                col::SERVICE_NAME,
                col::START_TIME,
                col::END_TIME,
            ],
        );
        let reader = builder
            .with_projection(mask)
            .with_batch_size(16_384)
            .build()
            .map_err(StoreError::parquet("read a hot block's index columns"))?;
        let index = BlockIndex::from_batches(
            reader.map(|b| b.map_err(StoreError::arrow("read a hot block's index columns"))),
        )?;
        Ok(Self {
            id,
            path: path.to_owned(),
            bytes,
            index,
        })
    }
}

/// Writes `spans` as block `id` in `dir` (which must exist); see the [module docs](self).
/// The encoder's columns start with the room `hint` gives (the last block's sizes), and
/// `hint` is then set to this block's.
pub fn write_block<'a>(
    dir: &Path,
    id: Ulid,
    spans: impl Iterator<Item = Cow<'a, Span>>,
    options: &WriterOptions,
    hint: &mut SizeHint,
) -> Result<Block, StoreError> {
    let spans: Vec<Cow<'a, Span>> = spans.collect();
    // Pushed in the file's order (trace id, then start time, then arrival), so the encoder's
    // row order is the identity and the writer writes the columns as built, with no
    // reordered copy of the block (that copy was about a quarter of a block's cost). The
    // keys are sorted, not the spans, which are large to move.
    let mut keys: Vec<(TraceId, u64, u32)> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            (s.trace_id, s.start_time_unix_nano, i)
        })
        .collect();
    keys.sort_unstable();
    let mut encoder = SpanEncoder::with_size_hint(hint);
    for &(_, _, i) in &keys {
        if let Some(span) = spans.get(i as usize) {
            encoder.push(span.as_ref());
        }
    }
    *hint = encoder.size_hint();
    let encoded = encoder.finish()?;
    let mut index = IndexBuilder::default();
    for &row in &encoded.order {
        let span = keys.get(row as usize).and_then(|k| spans.get(k.2 as usize));
        if let Some(s) = span {
            index.push(
                s.trace_id,
                s.start_time_unix_nano,
                s.end_time_unix_nano,
                s.service_name(),
            );
        }
    }
    let path = dir.join(format!("{id}.{BLOCK_EXT}"));
    let tmp = dir.join(format!("{id}.{BLOCK_EXT}.{TMP_EXT}"));
    let written = (|| {
        let file = File::create(&tmp).map_err(io_error("create", &tmp))?;
        let mut out = write_hot_block_to(
            BufWriter::with_capacity(1 << 20, file),
            &encoded.batch,
            Some(&encoded.order),
            options,
        )?;
        out.flush().map_err(io_error("write", &tmp))?;
        let file = out
            .into_inner()
            .map_err(|e| io_error("write", &tmp)(e.into_error()))?;
        file.sync_all().map_err(io_error("fsync", &tmp))?;
        let bytes = file.metadata().map_err(io_error("stat", &tmp))?.len();
        std::fs::rename(&tmp, &path).map_err(io_error("rename", &tmp))?;
        sync_dir(dir)?;
        Ok(bytes)
    })();
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            // Best effort: a leftover is deleted at the next start anyway.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(Block {
        id,
        path,
        bytes,
        index: index.finish(),
    })
}

/// `fsync`s a directory, so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync", dir))
}

/// Maps an I/O error on `path` while doing `op`.
pub fn io_error(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::HotStore { op, path, source }
}
