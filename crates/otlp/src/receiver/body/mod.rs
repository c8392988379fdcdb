//! Reading an OTLP/HTTP request body within its limits: the wire size, then the
//! decompressed size. Neither step ever holds more than its limit.
//!
//! `Content-Encoding` may be `gzip`, `deflate` or `zstd` (the Collector's HTTP receiver takes
//! the same; the SDKs send gzip). A zstd frame's window (the decoder's history buffer) is
//! held to [`zstd_decode::ZSTD_MAX_WINDOW_LOG`] and reserved in the budget while the body
//! inflates, so a frame that declares a huge window is refused instead of allocated.

use super::budget::{Budget, Reservation};
use super::ingest::Reason;
use axum::body::Body;
use bytes::Bytes;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use futures::StreamExt;
use std::io::Read;
use tokio::time::Instant;

mod zstd_decode;
pub(crate) use zstd_decode::ZSTD_MAX_DECODER_BYTES;
use zstd_decode::inflate_zstd;

/// Compressed bodies bigger than this are inflated on the blocking pool, so a large body does
/// not stall the other requests on this worker thread.
const INLINE_DECOMPRESS_BYTES: usize = 64 * 1024;
/// The smallest step a growing buffer takes, so a body of many small chunks is not copied at
/// every one.
const MIN_GROWTH: usize = 8 * 1024;
/// How much a decompressor writes per read: the step in which its output grows.
const INFLATE_CHUNK: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyError {
    pub(crate) reason: Reason,
    pub(crate) message: String,
}

impl BodyError {
    fn new(reason: Reason, message: String) -> Self {
        Self { reason, message }
    }
}

/// A `Content-Encoding` this receiver understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No encoding.
    Identity,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped DEFLATE (RFC 1950).
    Deflate,
    /// Zstandard (RFC 8878), possibly several frames.
    Zstd,
}

impl Encoding {
    /// Parses a `Content-Encoding` header value; `None` (absent) is identity.
    pub(crate) fn parse(header: Option<&str>) -> Result<Self, BodyError> {
        let Some(value) = header else {
            return Ok(Encoding::Identity);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "zstd" => Ok(Encoding::Zstd),
            other => Err(BodyError::new(
                Reason::Unsupported,
                format!(
                    "unsupported Content-Encoding {other:?}: send gzip, deflate, zstd or no \
                     encoding"
                ),
            )),
        }
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes, as soon as the
/// budget cannot hold its next chunk, or when it has not arrived in full by `deadline`.
///
/// The buffer grows with the bytes that arrive, never from what `Content-Length` declares:
/// a client declaring 60 MB and sending 10 bytes costs 10 bytes, not 60 MB.
pub(crate) async fn read_limited(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
    reservation: &Reservation,
    deadline: Instant,
) -> Result<Bytes, BodyError> {
    let mut buf = BodyBuffer::new(content_length, limit)?;
    let mut stream = body.into_data_stream();
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(BodyError::new(
                    Reason::Timeout,
                    format!(
                        "the request body did not arrive within request_timeout ({} of {} \
                         bytes received); retry, or send smaller requests",
                        buf.len(),
                        content_length.map_or_else(|| "?".to_owned(), |l| l.to_string())
                    ),
                ));
            }
        };
        let Some(chunk) = next else {
            return Ok(buf.finish());
        };
        let chunk = chunk.map_err(|e| {
            BodyError::new(
                Reason::BadRequest,
                format!("could not read the request body: {e}"),
            )
        })?;
        reservation
            .grow(chunk.len())
            .map_err(|over| BodyError::new(Reason::MemoryLimit, over.message()))?;
        buf.push(chunk)?;
    }
}

fn too_large(size: &str, limit: usize) -> BodyError {
    BodyError::new(
        Reason::TooLarge,
        format!("request body is {size} bytes, over max_request_bytes ({limit} bytes)"),
    )
}

/// A request body as it arrives: a single chunk is kept as it is (no copy); several are
/// copied into a buffer that grows with them, at most to `limit`.
#[derive(Debug)]
pub(crate) struct BodyBuffer {
    first: Option<Bytes>,
    rest: Vec<u8>,
    limit: usize,
}

impl BodyBuffer {
    /// A buffer for a body of at most `limit` bytes. A declared `content_length` over it is
    /// refused at once; otherwise it is not trusted for anything: nothing is allocated until
    /// bytes arrive.
    pub(crate) fn new(content_length: Option<u64>, limit: usize) -> Result<Self, BodyError> {
        if let Some(length) = content_length
            && length > limit as u64
        {
            return Err(too_large(&length.to_string(), limit));
        }
        Ok(Self {
            first: None,
            rest: Vec::new(),
            limit,
        })
    }

    /// Bytes received so far.
    pub(crate) fn len(&self) -> usize {
        self.first.as_ref().map_or(self.rest.len(), Bytes::len)
    }

    /// Bytes allocated for the body so far.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.first.as_ref().map_or(self.rest.capacity(), Bytes::len)
    }

    /// Adds a chunk, or refuses it if the body would pass the limit.
    pub(crate) fn push(&mut self, chunk: Bytes) -> Result<(), BodyError> {
        let len = self.len();
        if len.saturating_add(chunk.len()) > self.limit {
            return Err(too_large(&format!("more than {}", self.limit), self.limit));
        }
        if len == 0 && self.first.is_none() {
            self.first = Some(chunk);
            return Ok(());
        }
        let first = self.first.take();
        let incoming = first.as_ref().map_or(0, Bytes::len) + chunk.len();
        reserve_capped(&mut self.rest, incoming, self.limit);
        if let Some(first) = first {
            self.rest.extend_from_slice(&first);
        }
        self.rest.extend_from_slice(&chunk);
        Ok(())
    }

    /// The whole body.
    pub(crate) fn finish(self) -> Bytes {
        self.first.unwrap_or_else(|| Bytes::from(self.rest))
    }
}

/// Makes room for `additional` more bytes in `buf`, doubling as a `Vec` would but never past
/// `cap` (which the caller has checked `len + additional` fits in).
fn reserve_capped(buf: &mut Vec<u8>, additional: usize, cap: usize) {
    let needed = buf.len().saturating_add(additional);
    if needed <= buf.capacity() {
        return;
    }
    let target = needed
        .max(buf.capacity().saturating_mul(2).min(cap))
        .max(MIN_GROWTH.min(cap));
    buf.reserve_exact(target - buf.len());
}

/// Decompresses `body`, stopping with an error at `limit` decompressed bytes. The output's
/// memory is reserved in `reservation` as it grows, so concurrent inflations cannot pass the
/// receiver's in-flight budget; over it, the error is a memory limit (retryable).
pub(crate) async fn decompress(
    encoding: Encoding,
    body: Bytes,
    limit: usize,
    reservation: &Reservation,
) -> Result<Bytes, BodyError> {
    if encoding == Encoding::Identity {
        return Ok(body);
    }
    if body.len() <= INLINE_DECOMPRESS_BYTES {
        return decompress_blocking(encoding, &body, limit, reservation);
    }
    let share = reservation.split();
    let (inflated, share) = tokio::task::spawn_blocking(move || {
        let inflated = decompress_blocking(encoding, &body, limit, &share);
        (inflated, share)
    })
    .await
    .map_err(|e| BodyError::new(Reason::BadRequest, format!("decompression failed: {e}")))?;
    reservation.absorb(share);
    inflated
}

/// Decompresses an OTLP/HTTP request body as the HTTP receiver does, outside a server: the
/// `Content-Encoding` header value (`None`: identity), the body, `limit` (the receiver's
/// `max_decompressed_bytes`) and `budget_bytes` (its `max_in_flight_bytes`, against which the
/// output's growth is reserved). For fuzzing and tools.
///
/// # Errors
///
/// The message the receiver would answer with: an unsupported encoding, a corrupt body, a
/// body that inflates past `limit`, or an output that does not fit `budget_bytes`.
pub fn decompress_body(
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
    budget_bytes: usize,
) -> Result<Bytes, String> {
    let encoding = Encoding::parse(content_encoding).map_err(|e| e.message)?;
    let budget = Budget::new(budget_bytes, metrics::Gauge::noop());
    let reservation = budget.admit().map_err(|over| over.message())?;
    decompress_blocking(encoding, body, limit, &reservation).map_err(|e| e.message)
}

fn decompress_blocking(
    encoding: Encoding,
    body: &[u8],
    limit: usize,
    reservation: &Reservation,
) -> Result<Bytes, BodyError> {
    match encoding {
        Encoding::Identity => Ok(Bytes::copy_from_slice(body)),
        Encoding::Gzip => {
            read_capped(MultiGzDecoder::new(body), "gzip", limit, reservation).map(Bytes::from)
        }
        Encoding::Deflate => {
            read_capped(ZlibDecoder::new(body), "deflate", limit, reservation).map(Bytes::from)
        }
        Encoding::Zstd => inflate_zstd(body, limit, reservation).map(Bytes::from),
    }
}

/// Inflates into a buffer that grows with the output, at most to `limit`: an oversized
/// result is detected at `limit + 1` bytes, without holding more. Every growth of the buffer
/// is reserved first.
fn read_capped(
    mut reader: impl Read,
    name: &str,
    limit: usize,
    reservation: &Reservation,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; INFLATE_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(BodyError::new(
                    Reason::BadRequest,
                    format!("invalid {name} body: {e}"),
                ));
            }
        };
        if out.len().saturating_add(n) > limit {
            return Err(BodyError::new(
                Reason::TooLarge,
                format!(
                    "{name} body decompresses to more than max_decompressed_bytes ({limit} bytes)"
                ),
            ));
        }
        let before = out.capacity();
        reserve_capped(&mut out, n, limit);
        reservation
            .grow(out.capacity() - before)
            .map_err(|over| BodyError::new(Reason::MemoryLimit, over.message()))?;
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests;
