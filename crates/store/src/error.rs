//! The crate's error type.

use std::path::PathBuf;

/// Why encoding, writing or uploading spans failed.
///
/// [`StoreError::is_retryable`] tells apart what may succeed on a later attempt (the object
/// store or the disk) from what never will (a bug in building the batch);
/// [`StoreError::class`] says, for a failed upload, whether waiting can help or an operator
/// must act (credentials, permissions, a missing bucket, configuration).
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
        source: arrow_schema::ArrowError,
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
    /// The archive's intent journal (in the write-ahead log's state directory) could not be
    /// read or written.
    #[error("could not {op} the archive's intent journal in {}: {source}", dir.display())]
    Journal {
        /// What was being done (`read`, `append to`, `rewrite`).
        op: &'static str,
        /// The exporter's state directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
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
    /// A file or directory of the hot store could not be read or written.
    #[error("hot store: could not {op} {}: {source}; check the disk and the permissions of the store's path", path.display())]
    HotStore {
        /// What was being done (`create`, `rename`, `read`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Compaction stopped work on an hour (cancelled, its lease lost, another compactor
    /// committed first, or a file it cannot merge); the hour is left as it was.
    #[error("compaction of {dir}: {reason}")]
    Compaction {
        /// The hour directory.
        dir: String,
        /// Why.
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
    /// True when the store or the local disk failed, so that the operation is worth trying
    /// again; false for a bug in building the batch, which fails the same way every time.
    /// Whether an operator must act first is [`StoreError::class`].
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::ObjectStore { .. }
                | StoreError::LocalDir { .. }
                | StoreError::Journal { .. }
                | StoreError::HotStore { .. }
                | StoreError::Compaction { .. }
        )
    }

    /// What it takes for the failed operation to succeed: only time
    /// ([`ErrorClass::Retryable`]), or an operator's fix (every other class).
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::ObjectStore { source, .. } => classify_object_store(source),
            StoreError::LocalDir { source, .. } => {
                io_class(source.as_ref()).unwrap_or(ErrorClass::Retryable)
            }
            StoreError::Journal { source, .. } | StoreError::HotStore { source, .. } => {
                io_class(source).unwrap_or(ErrorClass::Retryable)
            }
            StoreError::Url { .. } | StoreError::S3Config { .. } => ErrorClass::InvalidConfig,
            StoreError::Compaction { .. } => ErrorClass::Retryable,
            StoreError::Arrow { .. } | StoreError::Parquet { .. } | StoreError::Schema { .. } => {
                ErrorClass::Data
            }
        }
    }

    pub(crate) fn arrow(context: &'static str) -> impl FnOnce(arrow_schema::ArrowError) -> Self {
        move |source| StoreError::Arrow { context, source }
    }

    pub(crate) fn parquet(
        context: &'static str,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        move |source| StoreError::Parquet { context, source }
    }
}

/// Why an operation failed, as far as retrying it goes (the OTel Collector's permanent vs
/// retryable split, with the permanent side told apart so the log can say what to fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// May succeed unchanged later: network errors, timeouts, 5xx, 429, a precondition or
    /// conflict from a concurrent writer, and anything not recognised.
    Retryable,
    /// The store did not accept the credentials (401, an unknown access key, a bad
    /// signature, an expired token).
    Unauthenticated,
    /// The credentials may not write there (403, or a local directory without write
    /// permission).
    PermissionDenied,
    /// The bucket does not exist (`NoSuchBucket`, or any 404 on a write).
    MissingBucket,
    /// The destination is misconfigured (a bad URL, S3 settings, an unsupported operation).
    InvalidConfig,
    /// The rows could not be encoded: a bug, which no retry fixes.
    Data,
}

impl ErrorClass {
    /// False only for [`ErrorClass::Retryable`].
    pub fn is_permanent(self) -> bool {
        self != ErrorClass::Retryable
    }

    /// The `error_type` label: `retryable` or `permanent`.
    pub fn label(self) -> &'static str {
        if self.is_permanent() {
            "permanent"
        } else {
            "retryable"
        }
    }

    /// A short name of the cause, for logs and `/healthz`.
    pub fn cause(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "the object store is failing",
            ErrorClass::Unauthenticated => "the object store rejected the credentials",
            ErrorClass::PermissionDenied => "the credentials may not write to the archive",
            ErrorClass::MissingBucket => "the archive's bucket does not exist",
            ErrorClass::InvalidConfig => "the archive destination is misconfigured",
            ErrorClass::Data => "the rows could not be encoded",
        }
    }

    /// What an operator should do about it.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorClass::Retryable => {
                "check the store's status and the network; uploads are retried with backoff"
            }
            ErrorClass::Unauthenticated => {
                "check the credentials (exporters.<id>.s3.access_key_id / secret_access_key / \
                 session_token, or the AWS_* environment) and that they have not expired"
            }
            ErrorClass::PermissionDenied => {
                "grant the credentials s3:PutObject (and multipart upload) on the archive prefix, \
                 or make the local directory writable by tracegate"
            }
            ErrorClass::MissingBucket => {
                "create the bucket, or fix the bucket name in exporters.<id>.url"
            }
            ErrorClass::InvalidConfig => "fix exporters.<id>.url and exporters.<id>.s3",
            ErrorClass::Data => "report this as a bug, with the log line",
        }
    }
}

/// Classifies an object store error from a write.
pub fn classify_object_store(error: &object_store::Error) -> ErrorClass {
    use object_store::Error as E;
    match error {
        E::Unauthenticated { .. } => ErrorClass::Unauthenticated,
        E::PermissionDenied { .. } => ErrorClass::PermissionDenied,
        // The archive only writes, and a write to a missing key creates it: a 404 means the
        // bucket itself is missing.
        E::NotFound { .. } => ErrorClass::MissingBucket,
        E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. } => ErrorClass::InvalidConfig,
        E::Generic { source, .. } => {
            classify_chain(source.as_ref()).unwrap_or(ErrorClass::Retryable)
        }
        _ => ErrorClass::Retryable,
    }
}

/// Looks through a generic error's causes: an I/O permission error (the local file system),
/// or an S3 error code in a message the client did not map to a status.
fn classify_chain(error: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(class) = io_class(e) {
            return Some(class);
        }
        let text = e.to_string();
        for (code, class) in S3_CODES {
            if text.contains(code) {
                return Some(*class);
            }
        }
        next = e.source();
    }
    None
}

/// S3 error codes that no retry fixes.
const S3_CODES: &[(&str, ErrorClass)] = &[
    ("NoSuchBucket", ErrorClass::MissingBucket),
    ("InvalidAccessKeyId", ErrorClass::Unauthenticated),
    ("SignatureDoesNotMatch", ErrorClass::Unauthenticated),
    ("ExpiredToken", ErrorClass::Unauthenticated),
    ("InvalidToken", ErrorClass::Unauthenticated),
    ("AccessDenied", ErrorClass::PermissionDenied),
    ("AllAccessDisabled", ErrorClass::PermissionDenied),
    ("InvalidBucketName", ErrorClass::InvalidConfig),
];

fn io_class(error: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    use std::io::ErrorKind;
    let io = error.downcast_ref::<std::io::Error>()?;
    match io.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            Some(ErrorClass::PermissionDenied)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(text: &str) -> Box<dyn std::error::Error + Send + Sync> {
        text.to_owned().into()
    }

    fn put(source: object_store::Error) -> StoreError {
        StoreError::ObjectStore {
            op: "put",
            path: "lake/spans/x.parquet".into(),
            source,
        }
    }

    #[test]
    fn classifies_object_store_errors() {
        use object_store::Error as E;
        let path = || "lake/x".to_owned();
        let cases = [
            (
                E::Unauthenticated {
                    path: path(),
                    source: boxed("401"),
                },
                ErrorClass::Unauthenticated,
            ),
            (
                E::PermissionDenied {
                    path: path(),
                    source: boxed("403"),
                },
                ErrorClass::PermissionDenied,
            ),
            (
                E::NotFound {
                    path: path(),
                    source: boxed("404 NoSuchBucket"),
                },
                ErrorClass::MissingBucket,
            ),
            (
                E::NotSupported {
                    source: boxed("no multipart"),
                },
                ErrorClass::InvalidConfig,
            ),
            (
                E::Precondition {
                    path: path(),
                    source: boxed("412"),
                },
                ErrorClass::Retryable,
            ),
            (
                E::AlreadyExists {
                    path: path(),
                    source: boxed("409"),
                },
                ErrorClass::Retryable,
            ),
            (
                E::Generic {
                    store: "S3",
                    source: boxed("Server returned non-2xx status code: 503 Service Unavailable"),
                },
                ErrorClass::Retryable,
            ),
            (
                E::Generic {
                    store: "S3",
                    source: boxed("error sending request: connection refused"),
                },
                ErrorClass::Retryable,
            ),
            (
                E::Generic {
                    store: "S3",
                    source: boxed("<Error><Code>NoSuchBucket</Code></Error>"),
                },
                ErrorClass::MissingBucket,
            ),
            (
                E::Generic {
                    store: "S3",
                    source: boxed("<Code>InvalidAccessKeyId</Code>"),
                },
                ErrorClass::Unauthenticated,
            ),
            (
                E::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
                },
                ErrorClass::PermissionDenied,
            ),
            (
                E::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
                },
                ErrorClass::Retryable,
            ),
        ];
        for (error, expected) in cases {
            let text = error.to_string();
            let class = put(error).class();
            assert_eq!(class, expected, "{text}");
            assert_eq!(class.is_permanent(), expected != ErrorClass::Retryable);
        }
    }

    #[test]
    fn other_errors_are_classified_by_what_fixes_them() {
        let dir = StoreError::LocalDir {
            path: "/x".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        };
        assert_eq!(dir.class(), ErrorClass::PermissionDenied);
        let full = StoreError::LocalDir {
            path: "/x".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert_eq!(full.class(), ErrorClass::Retryable);
        let url = StoreError::Url {
            url: "gs://x".into(),
            reason: "no".into(),
        };
        assert_eq!(url.class(), ErrorClass::InvalidConfig);
        assert_eq!(StoreError::Schema { column: "x" }.class(), ErrorClass::Data);
    }

    #[test]
    fn every_permanent_class_says_what_to_do() {
        for class in [
            ErrorClass::Unauthenticated,
            ErrorClass::PermissionDenied,
            ErrorClass::MissingBucket,
            ErrorClass::InvalidConfig,
        ] {
            assert_eq!(class.label(), "permanent");
            assert!(!class.hint().is_empty() && !class.cause().is_empty());
        }
        assert_eq!(ErrorClass::Retryable.label(), "retryable");
        assert!(
            ErrorClass::MissingBucket
                .hint()
                .contains("create the bucket")
        );
        assert!(
            ErrorClass::Unauthenticated
                .hint()
                .contains("check the credentials")
        );
    }
}
