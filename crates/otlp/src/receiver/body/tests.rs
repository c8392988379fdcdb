//! The body reader's and decoders' limits, golden cases and budget accounting.

use super::zstd_decode::zstd_frame_window;
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
