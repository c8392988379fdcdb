//! [`FaultyStore`]: wraps any object store (object_store's wrap-don't-fork style, as
//! `ThrottledStore` and `LimitStore` do) and injects the failures the archive must survive:
//! refused writes, writes that succeed but answer with an error, multipart uploads that fail
//! after some parts, and permanent errors (401, 403, a missing bucket) until they are lifted.
//! It keeps the books an S3 bucket would: which multipart uploads were started, completed
//! or aborted, so a test can check that none is left open.

use async_trait::async_trait;
use futures::FutureExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// An error as a store reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A 503 or a dropped connection: `Generic`.
    Transient,
    /// 401: `Unauthenticated`.
    Unauthorized,
    /// 403: `PermissionDenied`.
    Forbidden,
    /// 404 `NoSuchBucket` on a write: `NotFound`.
    NoSuchBucket,
}

impl Failure {
    /// The error object_store's S3 client would return.
    pub fn error(self, path: &Path) -> object_store::Error {
        let path = path.to_string();
        match self {
            Failure::Transient => object_store::Error::Generic {
                store: "S3",
                source: "Server returned non-2xx status code: 503 Service Unavailable".into(),
            },
            Failure::Unauthorized => object_store::Error::Unauthenticated {
                path,
                source: "Server returned non-2xx status code: 401 Unauthorized".into(),
            },
            Failure::Forbidden => object_store::Error::PermissionDenied {
                path,
                source: "Server returned non-2xx status code: 403 Forbidden: AccessDenied".into(),
            },
            Failure::NoSuchBucket => object_store::Error::NotFound {
                path,
                source: "Server returned non-2xx status code: 404 Not Found: NoSuchBucket".into(),
            },
        }
    }
}

/// What happens to one write (a `put`, or the start of a multipart upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused before it reaches the store; nothing is written.
    Refuse(Failure),
    /// Written to the store, but the caller gets this error (the answer was lost).
    WriteThenFail(Failure),
    /// A multipart upload whose part number `part` (from 0) fails: the parts before it go
    /// through, that one and the rest are refused. A single `put` ignores it.
    FailPart(usize),
}

/// What the store saw.
#[derive(Debug, Default)]
pub struct Books {
    /// Write attempts: `put`s and multipart starts.
    pub writes: AtomicUsize,
    /// Multipart uploads started.
    pub multipart_started: AtomicUsize,
    /// Parts that reached the store.
    pub parts: AtomicUsize,
    /// Multipart uploads completed.
    pub completed: AtomicUsize,
    /// Multipart uploads aborted.
    pub aborted: AtomicUsize,
}

impl Books {
    /// Multipart uploads neither completed nor aborted: on S3 their parts stay, and cost.
    pub fn open_uploads(&self) -> usize {
        let started = self.multipart_started.load(Ordering::SeqCst);
        let ended = self.completed.load(Ordering::SeqCst) + self.aborted.load(Ordering::SeqCst);
        started.saturating_sub(ended)
    }
}

/// Wraps `inner`, applying scripted [`Fault`]s to writes in order, then a sticky failure
/// while one is set. Reads, lists and deletes pass through.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    script: Mutex<VecDeque<Fault>>,
    sticky: Mutex<Option<Failure>>,
    /// Writes to paths containing this are refused (transiently) until lifted.
    held: Mutex<Option<String>>,
    books: Arc<Books>,
}

impl<S: ObjectStore> FaultyStore<S> {
    /// A store that does what `inner` does until told otherwise.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            script: Mutex::new(VecDeque::new()),
            sticky: Mutex::new(None),
            held: Mutex::new(None),
            books: Arc::default(),
        }
    }

    /// Applies `faults` to the next writes, one each.
    pub fn with_faults(self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.script.lock().unwrap().extend(faults);
        self
    }

    /// Refuses every write with `failure` (after the scripted faults) until
    /// [`FaultyStore::lift`].
    pub fn fail_always(&self, failure: Failure) {
        *self.sticky.lock().unwrap() = Some(failure);
    }

    /// Refuses every write to a path containing `needle` with a transient failure (after
    /// the scripted faults) until [`FaultyStore::lift`]: one table's uploads wait.
    pub fn hold_paths(&self, needle: &str) {
        *self.held.lock().unwrap() = Some(needle.to_owned());
    }

    /// Lets writes through again.
    pub fn lift(&self) {
        *self.sticky.lock().unwrap() = None;
        *self.held.lock().unwrap() = None;
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// What the store saw.
    pub fn books(&self) -> &Books {
        &self.books
    }

    fn next_fault(&self, location: &Path) -> Option<Fault> {
        self.books.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(fault) = self.script.lock().unwrap().pop_front() {
            return Some(fault);
        }
        let held = self.held.lock().unwrap();
        if held
            .as_deref()
            .is_some_and(|needle| location.as_ref().contains(needle))
        {
            return Some(Fault::Refuse(Failure::Transient));
        }
        self.sticky.lock().unwrap().map(Fault::Refuse)
    }
}

impl<S> fmt::Display for FaultyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultyStore")
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match self.next_fault(location) {
            Some(Fault::Refuse(failure)) => Err(failure.error(location)),
            Some(Fault::WriteThenFail(failure)) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(failure.error(location))
            }
            Some(Fault::FailPart(_)) | None => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let fault = self.next_fault(location);
        if let Some(Fault::Refuse(failure)) = fault {
            return Err(failure.error(location));
        }
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.books.multipart_started.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FaultyUpload {
            inner,
            location: location.clone(),
            fault,
            next_part: 0,
            books: self.books.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// A multipart upload of a [`FaultyStore`].
#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    location: Path,
    fault: Option<Fault>,
    next_part: usize,
    books: Arc<Books>,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.next_part;
        self.next_part += 1;
        if let Some(Fault::FailPart(failing)) = self.fault
            && part >= failing
        {
            let error = Failure::Transient.error(&self.location);
            return async move { Err(error) }.boxed();
        }
        self.books.parts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let done = self.inner.complete().await?;
        self.books.completed.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Some(Fault::WriteThenFail(failure)) => Err(failure.error(&self.location)),
            _ => Ok(done),
        }
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.books.aborted.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}
