//! Reading an OTLP/HTTP request body within its limits: the wire size, then the
//! decompressed size. Neither step ever holds more than its limit.

use super::ingest::Reason;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use futures::StreamExt;
use std::io::Read;

/// Compressed bodies bigger than this are inflated on the blocking pool, so a large body does
/// not stall the other requests on this worker thread.
const INLINE_DECOMPRESS_BYTES: usize = 64 * 1024;

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
            other => Err(BodyError::new(
                Reason::Unsupported,
                format!(
                    "unsupported Content-Encoding {other:?}: send gzip, deflate or no encoding"
                ),
            )),
        }
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub(crate) async fn read_limited(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let too_large = |size: String| {
        BodyError::new(
            Reason::TooLarge,
            format!("request body is {size} bytes, over max_request_bytes ({limit} bytes)"),
        )
    };
    if let Some(length) = content_length
        && length > limit as u64
    {
        return Err(too_large(length.to_string()));
    }
    let capacity = content_length.map_or(0, |l| usize::try_from(l).unwrap_or(limit).min(limit));
    let mut buf = BytesMut::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            BodyError::new(
                Reason::BadRequest,
                format!("could not read the request body: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large(format!("more than {limit}")));
        }
        if buf.is_empty() && content_length.is_some_and(|l| l == chunk.len() as u64) {
            // The whole body in one chunk: keep it as it is, without a copy.
            return Ok(chunk);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Decompresses `body`, stopping with an error at `limit` decompressed bytes.
pub(crate) async fn decompress(
    encoding: Encoding,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if encoding == Encoding::Identity {
        return Ok(body);
    }
    if body.len() <= INLINE_DECOMPRESS_BYTES {
        return decompress_blocking(encoding, &body, limit);
    }
    tokio::task::spawn_blocking(move || decompress_blocking(encoding, &body, limit))
        .await
        .map_err(|e| BodyError::new(Reason::BadRequest, format!("decompression failed: {e}")))?
}

fn decompress_blocking(encoding: Encoding, body: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    match encoding {
        Encoding::Identity => Ok(Bytes::copy_from_slice(body)),
        Encoding::Gzip => read_capped(MultiGzDecoder::new(body), "gzip", body.len(), limit),
        Encoding::Deflate => read_capped(ZlibDecoder::new(body), "deflate", body.len(), limit),
    }
}

/// Reads at most `limit + 1` bytes, so an oversized result is detected without holding it.
fn read_capped(
    reader: impl Read,
    name: &str,
    compressed: usize,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let mut out = Vec::with_capacity(compressed.saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::new(Reason::BadRequest, format!("invalid {name} body: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::new(
            Reason::TooLarge,
            format!("{name} body decompresses to more than max_decompressed_bytes ({limit} bytes)"),
        ));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn inflates_gzip_and_deflate_within_the_limit() {
        let data = b"hello hello hello".repeat(10);
        let gz = decompress(Encoding::Gzip, gzip(&data).into(), 1000)
            .await
            .unwrap();
        assert_eq!(&gz[..], &data[..]);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&data).unwrap();
        let zl = decompress(Encoding::Deflate, z.finish().unwrap().into(), 1000)
            .await
            .unwrap();
        assert_eq!(&zl[..], &data[..]);
        // Exactly at the limit is fine; one byte over is not.
        assert!(
            decompress(Encoding::Gzip, gzip(&data).into(), data.len())
                .await
                .is_ok()
        );
        let err = decompress(Encoding::Gzip, gzip(&data).into(), data.len() - 1)
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
    }

    #[tokio::test]
    async fn rejects_corrupt_bodies_and_unknown_encodings() {
        let err = decompress(Encoding::Gzip, Bytes::from_static(b"not gzip"), 1000)
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

    #[tokio::test]
    async fn stops_reading_at_the_wire_limit() {
        let body = Body::from(vec![1u8; 100]);
        assert_eq!(read_limited(body, Some(100), 100).await.unwrap().len(), 100);
        let err = read_limited(Body::from(vec![1u8; 101]), Some(101), 100)
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
        // Without a Content-Length, the stream is cut off at the limit.
        let err = read_limited(Body::from(vec![1u8; 101]), None, 100)
            .await
            .unwrap_err();
        assert_eq!(err.reason, Reason::TooLarge);
    }
}
