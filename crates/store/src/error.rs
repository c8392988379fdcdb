//! The crate's error type.

use std::path::PathBuf;

/// Why encoding, writing or uploading spans failed.
///
/// [`StoreError::is_retryable`] tells apart what may succeed on a later attempt (the object
/// store or the disk) from what never will (a bug in building the batch).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Building or reordering Arrow arrays failed.
    #[error("could not {context}: {source}")]
    Arrow {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Encoding Parquet failed.
    #[error("could not {context}: {source}")]
    Parquet {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A batch did not have the `spans` (or `traces`) schema's columns.
    #[error("the batch has no usable {column:?} column; expected the spans or traces schema")]
    Schema {
        /// The missing or mistyped column.
        column: &'static str,
    },
    /// An object store operation failed.
    #[error("could not {op} {path}: {source}")]
    ObjectStore {
        /// The operation (`put`, `complete multipart upload`, ...).
        op: &'static str,
        /// The object.
        path: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// The archive's local directory could not be created or opened.
    #[error("could not create the archive directory {}: {source}", path.display())]
    LocalDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The archive URL is not one of the supported forms.
    #[error(
        "unsupported archive url {url:?}: {reason}; write a local path (./data/archive), \
         file:///absolute/path or s3://bucket/prefix"
    )]
    Url {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The S3 client could not be configured.
    #[error("could not configure S3 for bucket {bucket:?}: {source}")]
    S3Config {
        /// The bucket.
        bucket: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
}

impl StoreError {
    /// True when a later attempt may succeed: the object store or the local disk failed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::ObjectStore { .. } | StoreError::LocalDir { .. }
        )
    }

    pub(crate) fn arrow(context: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> Self {
        move |source| StoreError::Arrow { context, source }
    }

    pub(crate) fn parquet(
        context: &'static str,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        move |source| StoreError::Parquet { context, source }
    }
}
