//! Reading an OTLP/HTTP request body within its limits: the wire size, then the
//! decompressed size. Neither step ever holds more than its limit.
//!
//! `Content-Encoding` may be `gzip`, `deflate` or `zstd` (the Collector's HTTP receiver takes
//! the same; the SDKs send gzip). A zstd frame's window (the decoder's history buffer) is held
//! to [`ZSTD_MAX_WINDOW_LOG`] and reserved in the budget while the body inflates, so a frame
//! that declares a huge window is refused instead of allocated.

use super::budget::{Budget, Reservation};
use super::ingest::Reason;
use axum::body::Body;
use bytes::Bytes;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use futures::StreamExt;
use std::io::Read;
use tokio::time::Instant;

/// Compressed bodies bigger than this are inflated on the blocking pool, so a large body does
/// not stall the other requests on this worker thread.
const INLINE_DECOMPRESS_BYTES: usize = 64 * 1024;
/// The smallest step a growing buffer takes, so a body of many small chunks is not copied at
/// every one.
const MIN_GROWTH: usize = 8 * 1024;
/// How much a decompressor writes per read: the step in which its output grows.
const INFLATE_CHUNK: usize = 16 * 1024;
/// The largest zstd window accepted: 8 MiB, what zstd's levels 1 to 19 (and the Go and Java
/// encoders' defaults) use. Only `--ultra` and `--long` frames need more; they are refused.
pub(crate) const ZSTD_MAX_WINDOW_LOG: u32 = 23;
/// The smallest window zstd has (1 KiB).
const ZSTD_MIN_WINDOW_LOG: u32 = 10;

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

/// What a zstd decoder holds beside its window: one block (128 KiB, zstd's largest) and its
/// tables, rounded up.
const ZSTD_DECODER_BYTES: usize = 192 << 10;

/// The most a zstd decode holds beside its output: the largest window accepted and the
/// decoder's own buffers.
pub(crate) const ZSTD_MAX_DECODER_BYTES: usize = (1 << ZSTD_MAX_WINDOW_LOG) + ZSTD_DECODER_BYTES;

/// The window the first frame of `body` declares (RFC 8878 §3.1.1.1): the frame's content size
/// for a single-segment frame, else its window descriptor; `None` when the header is not
/// there or is not a zstd frame's (the decoder then reports the error).
fn zstd_frame_window(body: &[u8]) -> Option<u64> {
    const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    let (magic, rest) = body.split_first_chunk::<4>()?;
    if *magic != MAGIC {
        return None;
    }
    let (&descriptor, rest) = rest.split_first()?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let &window = rest.first()?;
        let exponent = u32::from(window >> 3);
        let base = 1u64 << (10 + exponent);
        return Some(base + (base / 8) * u64::from(window & 7));
    }
    let dictionary_bytes = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let size_bytes = [1usize, 2, 4, 8][usize::from(descriptor >> 6)];
    let field = rest.get(dictionary_bytes..dictionary_bytes + size_bytes)?;
    let mut le = [0u8; 8];
    le[..size_bytes].copy_from_slice(field);
    let size = u64::from_le_bytes(le);
    // A 2-byte content size is stored minus 256.
    Some(if size_bytes == 2 { size + 256 } else { size })
}

/// Inflates a zstd body. The decoder's window (as the first frame declares it, at most
/// [`ZSTD_MAX_WINDOW_LOG`]) and buffers are reserved for the length of the decode and given
/// back after; a frame asking for a larger window is an invalid body.
fn inflate_zstd(
    body: &[u8],
    limit: usize,
    reservation: &Reservation,
) -> Result<Vec<u8>, BodyError> {
    let window = zstd_frame_window(body)
        .unwrap_or(0)
        .clamp(1 << ZSTD_MIN_WINDOW_LOG, 1 << ZSTD_MAX_WINDOW_LOG);
    let held = reservation.split();
    held.grow(usize::try_from(window).unwrap_or(usize::MAX) + ZSTD_DECODER_BYTES)
        .map_err(|over| BodyError::new(Reason::MemoryLimit, over.message()))?;
    let unavailable = |e: std::io::Error| {
        BodyError::new(Reason::BadRequest, format!("zstd decoder unavailable: {e}"))
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(unavailable)?;
    decoder
        .window_log_max(ZSTD_MAX_WINDOW_LOG)
        .map_err(unavailable)?;
    let out = read_capped(decoder, "zstd", limit, reservation);
    drop(held);
    out.map_err(|mut e| {
        if e.message.contains("Frame requires too much memory") {
            e.message = format!(
                "invalid zstd body: its window is larger than the {} MiB this receiver accepts \
                 (compress without --long or --ultra)",
                1usize << (ZSTD_MAX_WINDOW_LOG - 20)
            );
        }
        e
    })
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
mod tests {
    use super::*;
    use crate::receiver::budget::Budget;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn inflates_gzip_and_deflate_within_the_limit() {
        let data = b"hello hello hello".repeat(10);
        let gz = decompress(Encoding::Gzip, gzip(&data).into(), 1000, &free())
            .await
            .unwrap();
        assert_eq!(&gz[..], &data[..]);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&data).unwrap();
        let zl = decompress(Encoding::Deflate, z.finish().unwrap().into(), 1000, &free())
            .await
            .unwrap();
        assert_eq!(&zl[..], &data[..]);
        // Exactly at the limit is fine; one byte over is not.
        assert!(
            decompress(Encoding::Gzip, gzip(&data).into(), data.len(), &free())
                .await
                .is_ok()
        );
        let err = decompress(Encoding::Gzip, gzip(&data).into(), data.len() - 1, &free())
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
    }

    #[tokio::test]
    async fn rejects_corrupt_bodies_and_unknown_encodings() {
        let err = decompress(
            Encoding::Gzip,
            Bytes::from_static(b"not gzip"),
            1000,
            &free(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason, Reason::BadRequest);
        assert!(
            err.message.starts_with("invalid gzip body"),
            "{}",
            err.message
        );
        assert_eq!(Encoding::parse(None).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::parse(Some("GZIP")).unwrap(), Encoding::Gzip);
        let err = Encoding::parse(Some("br")).unwrap_err();
        assert_eq!(err.reason, Reason::Unsupported);
        assert!(err.message.contains("\"br\""), "{}", err.message);
    }

    fn budget(limit: usize) -> Arc<Budget> {
        Budget::new(limit, metrics::Gauge::noop())
    }

    /// A reservation against a budget too large to matter.
    fn free() -> Reservation {
        budget(usize::MAX).admit().unwrap()
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test]
    async fn stops_reading_at_the_wire_limit() {
        let b = budget(1000);
        let r = b.admit().unwrap();
        let body = Body::from(vec![1u8; 100]);
        let read = read_limited(body, Some(100), 100, &r, far()).await.unwrap();
        assert_eq!(read.len(), 100);
        assert_eq!(
            r.held(),
            100,
            "the body's bytes are reserved as they arrive"
        );
        let err = read_limited(Body::from(vec![1u8; 101]), Some(101), 100, &r, far())
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
        // Without a Content-Length, the stream is cut off at the limit.
        let err = read_limited(Body::from(vec![1u8; 101]), None, 100, &r, far())
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
    }

    /// A body as a stream of chunks, then (if `stall`) no end.
    fn chunked(chunks: Vec<&'static [u8]>, stall: bool) -> Body {
        let head = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        if stall {
            Body::from_stream(head.chain(futures::stream::pending()))
        } else {
            Body::from_stream(head)
        }
    }

    #[test]
    fn issue_18_a_declared_content_length_is_not_preallocated() {
        // The client declares 60 MB and sends 10 bytes: the buffer holds about 10 bytes.
        let mut buf = BodyBuffer::new(Some(60_000_000), 64 << 20).unwrap();
        assert_eq!(buf.capacity(), 0);
        buf.push(Bytes::from_static(b"0123456789")).unwrap();
        assert_eq!(buf.len(), 10);
        assert!(buf.capacity() <= 10, "capacity {}", buf.capacity());
        buf.push(Bytes::from_static(b"abc")).unwrap();
        assert!(buf.capacity() <= MIN_GROWTH, "capacity {}", buf.capacity());
        assert_eq!(&buf.finish()[..], b"0123456789abc");
    }

    #[test]
    fn a_growing_buffer_never_allocates_past_its_limit() {
        assert_eq!(
            BodyBuffer::new(Some(20_001), 20_000).unwrap_err().reason,
            Reason::TooLarge
        );
        let mut buf = BodyBuffer::new(Some(20_000), 20_000).unwrap();
        for _ in 0..19 {
            buf.push(Bytes::from(vec![7u8; 1000])).unwrap();
        }
        assert!(buf.capacity() <= 20_000, "capacity {}", buf.capacity());
        buf.push(Bytes::from(vec![7u8; 1000])).unwrap();
        assert!(buf.push(Bytes::from_static(b"x")).is_err());
        assert!(buf.capacity() <= 20_000, "capacity {}", buf.capacity());
        assert_eq!(buf.finish().len(), 20_000);
    }

    #[tokio::test(start_paused = true)]
    async fn issue_18_a_stalled_body_times_out_and_its_bytes_are_released() {
        let b = budget(1 << 20);
        let r = b.admit().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = read_limited(
            chunked(vec![b"0123456789"], true),
            Some(60_000_000),
            64 << 20,
            &r,
            deadline,
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason, Reason::Timeout);
        assert!(
            err.message.contains("10 of 60000000 bytes"),
            "{}",
            err.message
        );
        assert_eq!(b.used(), 10);
        drop(r);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn a_body_over_the_budget_is_a_memory_limit() {
        let b = budget(15);
        let r = b.admit().unwrap();
        let err = read_limited(
            chunked(vec![b"0123456789", b"0123456789"], false),
            None,
            100,
            &r,
            far(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason, Reason::MemoryLimit);
        assert!(
            err.message.contains("max_in_flight_bytes"),
            "{}",
            err.message
        );
        assert_eq!(r.held(), 10);
    }

    #[test]
    fn inflating_grows_with_the_output_not_past_the_limit() {
        // A small output under a large limit allocates about its own size.
        let small = read_capped(
            MultiGzDecoder::new(&gzip(b"hello")[..]),
            "gzip",
            64 << 20,
            &free(),
        )
        .unwrap();
        assert_eq!(&small[..], b"hello");
        assert!(
            small.capacity() <= MIN_GROWTH,
            "capacity {}",
            small.capacity()
        );
        // A large one never more than the limit.
        let data = vec![0u8; 100_000];
        let out = read_capped(
            MultiGzDecoder::new(&gzip(&data)[..]),
            "gzip",
            100_000,
            &free(),
        )
        .unwrap();
        assert_eq!(out.len(), 100_000);
        assert!(out.capacity() <= 100_000, "capacity {}", out.capacity());
        let mut v = Vec::new();
        reserve_capped(&mut v, 16_000, 100_000);
        reserve_capped(&mut v, 90_000, 100_000);
        assert!(
            (90_000..=100_000).contains(&v.capacity()),
            "{}",
            v.capacity()
        );
    }

    #[tokio::test]
    async fn issue_18_inflating_reserves_its_output_as_it_grows() {
        // 4 MiB of zeros gzip to a few KiB: a small request that would inflate past a 1 MiB
        // budget is refused as a memory limit while inflating, on the inline path and on the
        // blocking pool, and holds no more than the budget.
        for size in [1usize << 10, 4 << 20] {
            let data = vec![0u8; size];
            let body: Bytes = gzip(&data).into();
            let b = budget(1 << 20);
            let r = b.admit().unwrap();
            let result = decompress(Encoding::Gzip, body.clone(), 64 << 20, &r).await;
            if size < 1 << 20 {
                let out = result.unwrap();
                assert_eq!(out.len(), size);
                assert!(r.held() >= size, "{size}: held {}", r.held());
            } else {
                let err = result.unwrap_err();
                assert_eq!(err.reason, Reason::MemoryLimit, "{}", err.message);
                assert!(b.used() <= 1 << 20, "used {}", b.used());
            }
            drop(r);
            assert_eq!(b.used(), 0, "everything given back");
        }
        // Through the blocking pool: a body over INLINE_DECOMPRESS_BYTES.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let body: Bytes = gzip(&noise).into();
        assert!(body.len() > INLINE_DECOMPRESS_BYTES);
        let b = budget(usize::MAX);
        let r = b.admit().unwrap();
        let out = decompress(Encoding::Gzip, body, 64 << 20, &r)
            .await
            .unwrap();
        assert_eq!(out.len(), noise.len());
        assert!(
            r.held() >= noise.len(),
            "the pool's share came back: {}",
            r.held()
        );
    }

    #[test]
    fn decompress_body_applies_the_encoding_the_limit_and_the_budget() {
        let data = b"abc".repeat(100);
        let gz = gzip(&data);
        let out = decompress_body(Some("gzip"), &gz, 300, 300).unwrap();
        assert_eq!(&out[..], &data[..]);
        assert_eq!(&decompress_body(None, b"raw", 1, 1).unwrap()[..], b"raw");
        let err = decompress_body(Some("gzip"), &gz, 299, 1 << 20).unwrap_err();
        assert!(err.contains("max_decompressed_bytes (299 bytes)"), "{err}");
        let err = decompress_body(Some("gzip"), &gz, 300, 100).unwrap_err();
        assert!(err.contains("max_in_flight_bytes 100"), "{err}");
        let err = decompress_body(Some("br"), &gz, 300, 300).unwrap_err();
        assert!(
            err.starts_with("unsupported Content-Encoding \"br\""),
            "{err}"
        );
    }

    fn zstd(data: &[u8], level: i32) -> Vec<u8> {
        zstd::stream::encode_all(data, level).unwrap()
    }

    #[test]
    fn inflates_zstd_within_the_limit_and_refuses_past_it() {
        let data = b"span-name-".repeat(1000);
        let z = zstd(&data, 3);
        let out = decompress_body(Some("zstd"), &z, data.len(), 4 << 20).unwrap();
        assert_eq!(&out[..], &data[..]);
        // Two frames back to back are one body, as with gzip members.
        let mut two = z.clone();
        two.extend_from_slice(&zstd(b"tail", 1));
        let out = decompress_body(Some("ZSTD"), &two, data.len() + 4, 4 << 20).unwrap();
        assert_eq!(out.len(), data.len() + 4);
        let err = decompress_body(Some("zstd"), &z, data.len() - 1, 4 << 20).unwrap_err();
        assert!(
            err.starts_with("zstd body decompresses to more than max_decompressed_bytes"),
            "{err}"
        );
        let err = decompress_body(Some("zstd"), b"not zstd", 1000, 4 << 20).unwrap_err();
        assert!(err.starts_with("invalid zstd body"), "{err}");
        // A budget that cannot hold the decoder's window and buffers refuses before decoding.
        let err = decompress_body(Some("zstd"), &z, data.len(), 100 << 10).unwrap_err();
        assert!(err.contains("max_in_flight_bytes 102400"), "{err}");
    }

    #[test]
    fn a_zstd_frame_asking_for_a_window_past_the_cap_is_refused_not_allocated() {
        // A frame made with a 16 MiB window (--long=24) and no content size, which a decoder
        // capped at 8 MiB must refuse whatever the body's real size.
        let data = vec![7u8; 64 << 10];
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(24).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let z = encoder.finish().unwrap();
        assert_eq!(zstd_frame_window(&z), Some(16 << 20));
        let err = decompress_body(Some("zstd"), &z, 64 << 20, 256 << 20).unwrap_err();
        assert!(err.contains("window is larger than the 8 MiB"), "{err}");
    }

    #[test]
    fn golden_zstd_frame_windows() {
        // Window descriptor 0x58: exponent 11, mantissa 0 → 2 MiB (level 3, no content size).
        assert_eq!(
            zstd_frame_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]),
            Some(2 << 20)
        );
        // Exponent 0, mantissa 7: 1 KiB + 7/8 KiB.
        assert_eq!(
            zstd_frame_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x07]),
            Some(1024 + 7 * 128)
        );
        // Single segment, 1-byte content size 200: the window is the content.
        assert_eq!(
            zstd_frame_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x20, 200]),
            Some(200)
        );
        // Single segment, 2-byte content size (stored minus 256).
        assert_eq!(
            zstd_frame_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x01]),
            Some(256 + 256)
        );
        // A real frame of a known size declares that size.
        let z = zstd(&[1u8; 5000], 3);
        assert!(zstd_frame_window(&z).is_some_and(|w| (5000..=2 << 20).contains(&w)));
        assert_eq!(zstd_frame_window(b"gzip"), None);
        assert_eq!(zstd_frame_window(&[0x28, 0xb5, 0x2f, 0xfd]), None);
    }

    #[tokio::test]
    async fn inflating_zstd_gives_its_window_back_and_keeps_only_the_output() {
        let data = b"abc".repeat(20_000);
        let z = zstd(&data, 3);
        let b = budget(4 << 20);
        let r = b.admit().unwrap();
        let out = decompress(Encoding::Zstd, Bytes::from(z), 1 << 16, &r)
            .await
            .unwrap();
        assert_eq!(out.len(), data.len());
        // What stays reserved is the output's buffer (at least the data, at most the limit),
        // not the decoder's window and buffers on top of it.
        assert!(
            r.held() >= data.len() && r.held() <= 1 << 16,
            "{}",
            r.held()
        );
        assert_eq!(b.used(), r.held());
    }
}
