//! The merge's sink: compacted files of the target size, each a multipart upload (so it
//! appears whole or not at all), written through Parquet's synchronous writer.

use super::merge::Sink;
use super::record::output_name;
use super::run::Progress;
use crate::error::StoreError;
use arrow_array::RecordBatch;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use parquet::arrow::ArrowWriter;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

/// Multipart chunk size of an output.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// One output being written.
pub(super) struct OpenOutput<'r> {
    name: String,
    writer: ArrowWriter<PartWriter<'r>>,
    rows: u64,
}

/// An output written.
pub(super) struct DoneOutput {
    pub(super) name: String,
    pub(super) bytes: u64,
    pub(super) rows: u64,
}

/// The merge's sink: outputs of the target size, each a multipart upload.
pub(super) struct FileSink<'r> {
    pub(super) rt: &'r Runtime,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) dir: Path,
    pub(super) generation: u64,
    pub(super) target: u64,
    pub(super) properties: parquet::file::properties::WriterProperties,
    pub(super) open: Option<OpenOutput<'r>>,
    pub(super) done: Vec<DoneOutput>,
    pub(super) cancel: &'r CancellationToken,
    pub(super) progress: &'r mut dyn FnMut(Progress),
    pub(super) rows: u64,
    pub(super) total_rows: u64,
    pub(super) renew: &'r mut dyn FnMut() -> Result<(), StoreError>,
}

impl<'r> FileSink<'r> {
    fn start(&mut self, schema: arrow_schema::SchemaRef) -> Result<OpenOutput<'r>, StoreError> {
        let name = output_name(self.generation, Ulid::new());
        let path = self.dir.clone().join(name.as_str());
        let upload = self
            .rt
            .block_on(self.store.put_multipart(&path))
            .map_err(|source| StoreError::ObjectStore {
                op: "start the upload of",
                path: path.to_string(),
                source,
            })?;
        let part = PartWriter {
            rt: self.rt,
            upload: Some(WriteMultipart::new_with_chunk_size(upload, PART_BYTES)),
            bytes: 0,
        };
        let writer = ArrowWriter::try_new(part, schema, Some(self.properties.clone()))
            .map_err(StoreError::parquet("start a compacted file"))?;
        Ok(OpenOutput {
            name,
            writer,
            rows: 0,
        })
    }

    /// Closes the open output, if any, and completes its upload.
    pub(super) fn finish(&mut self) -> Result<(), StoreError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let mut part = open
            .writer
            .into_inner()
            .map_err(StoreError::parquet("finish a compacted file"))?;
        let bytes = part.bytes;
        let upload = part.upload.take();
        if let Some(upload) = upload {
            self.rt
                .block_on(upload.finish())
                .map_err(|source| StoreError::ObjectStore {
                    op: "complete the upload of",
                    path: format!("{}/{}", self.dir, open.name),
                    source,
                })?;
        }
        tracing::debug!(file = %open.name, rows = open.rows, bytes, "compaction: file written");
        self.done.push(DoneOutput {
            name: open.name,
            bytes,
            rows: open.rows,
        });
        (self.renew)()
    }

    /// Aborts the open output's upload.
    pub(super) fn abort(&mut self) {
        if let Some(open) = self.open.take()
            && let Ok(mut part) = open.writer.into_inner()
            && let Some(upload) = part.upload.take()
        {
            let _ = self.rt.block_on(upload.abort());
        }
    }
}

impl Sink for FileSink<'_> {
    fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        if self.cancel.is_cancelled() {
            return Err(StoreError::Compaction {
                dir: self.dir.to_string(),
                reason: "cancelled (shutting down); the hour is left as it was".into(),
            });
        }
        if self.open.is_none() {
            self.open = Some(self.start(batch.schema())?);
        }
        let rows = batch.num_rows() as u64;
        let full = {
            let Some(open) = self.open.as_mut() else {
                return Ok(());
            };
            open.writer
                .write(&batch)
                .map_err(StoreError::parquet("write a compacted file"))?;
            open.rows += rows;
            (open.writer.bytes_written() + open.writer.in_progress_size()) as u64 >= self.target
        };
        self.rows += rows;
        (self.progress)(Progress {
            rows: self.rows,
            total_rows: self.total_rows,
        });
        if full {
            self.finish()?;
        }
        Ok(())
    }
}

/// `std::io::Write` onto a multipart upload, a part at a time (two in flight at most).
struct PartWriter<'r> {
    rt: &'r Runtime,
    upload: Option<WriteMultipart>,
    bytes: u64,
}

impl std::io::Write for PartWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(std::io::Error::other("the upload was closed"));
        };
        self.rt
            .block_on(async {
                upload.write(buf);
                upload.wait_for_capacity(2).await
            })
            .map_err(std::io::Error::other)?;
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
