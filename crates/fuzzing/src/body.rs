//! The OTLP/HTTP receiver's body decoders (`Content-Encoding` gzip, deflate and zstd) with
//! their caps: `max_decompressed_bytes`, the zstd window and the in-flight byte budget.
//!
//! The first two bytes choose the encoding and the limits, the rest is the body. Checked: the
//! output never passes the limit; with a budget large enough for the limit, the result is
//! exactly what an uncapped decoder gives (same bytes, or an error when that decoder fails or
//! gives more than the limit), so the cap neither truncates nor accepts corrupt input.

use flate2::read::{MultiGzDecoder, ZlibDecoder};
use std::io::BufReader;
use std::io::Read;
use tracegate_otlp::receiver::decompress_body;

/// `[encoding selector, limits selector, body...]`.
pub fn http_body(data: &[u8]) {
    let [encoding, limits, body @ ..] = data else {
        return;
    };
    let encoding = match encoding % 7 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        3 => Some(" X-GZIP "),
        4 => Some("identity"),
        5 => Some("zstd"),
        // Unsupported: must be an error, never a decode.
        _ => Some("br"),
    };
    // Limits from 1 byte to 1 MiB; the budget either ample or a quarter of the limit. Ample
    // covers a zstd decoder's largest window and buffers beside the output.
    let limit = 1usize << (limits & 0x0f).min(20);
    let ample = limits & 0x10 == 0;
    let zstd = encoding == Some("zstd");
    let budget = match (ample, zstd) {
        (true, false) => limit,
        (true, true) => limit + ZSTD_DECODER_MAX,
        (false, _) => (limit / 4).max(1),
    };
    let got = decompress_body(encoding, body, limit, budget);
    if let Ok(out) = &got {
        // Identity bodies are bounded on the wire (max_request_bytes), not here.
        if encoding.is_some_and(|e| e != "identity") {
            assert!(out.len() <= limit, "output past max_decompressed_bytes");
            // Every byte of the output's buffer was reserved before it was written.
            assert!(out.len() <= budget, "output past the in-flight budget");
        }
    }
    if !ample {
        return;
    }
    let reference = match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Some(body.to_vec()),
        Some(e) if e == "identity" => Some(body.to_vec()),
        Some(e) if e == "gzip" || e == "x-gzip" => uncapped(MultiGzDecoder::new(body), limit),
        Some(e) if e == "deflate" => uncapped(ZlibDecoder::new(body), limit),
        Some(e) if e == "zstd" => zstd_reference(body, limit),
        Some(_) => {
            assert!(got.is_err(), "an unsupported encoding was decoded");
            return;
        }
    };
    match (got, reference) {
        (Ok(out), Some(want)) => assert_eq!(&out[..], &want[..], "capped and uncapped differ"),
        (Err(_), None) => {}
        (Ok(_), None) => panic!("accepted a body the uncapped decoder refuses or finds too large"),
        // libzstd checks a frame's declared content size when it decodes the frame in one
        // pass (its output buffer holds the whole frame), not always when it streams: a frame
        // whose content is not the size it declares may be refused, by either.
        (Err(_), Some(_)) if zstd && declares_a_wrong_size(body, limit) => {}
        (Err(e), Some(_)) => panic!("refused a body that decodes within the limit: {e}"),
    }
}

/// The most a zstd decode reserves beside its output: an 8 MiB window and 192 KiB of buffers.
const ZSTD_DECODER_MAX: usize = (8 << 20) + (192 << 10);

/// The receiver's zstd semantics without its caps on output: frames of a window up to
/// 8 MiB, read to the end.
fn zstd_reference(body: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(BufReader::new(body)).ok()?;
    decoder.window_log_max(23).ok()?;
    uncapped(decoder, limit)
}

/// Whether some zstd frame of `body` declares a content size other than what it decodes to.
fn declares_a_wrong_size(body: &[u8], limit: usize) -> bool {
    use zstd::zstd_safe::{find_frame_compressed_size, get_frame_content_size};
    let mut rest = body;
    while !rest.is_empty() {
        let Ok(len) = find_frame_compressed_size(rest) else {
            return false;
        };
        let (frame, next) = rest.split_at(len.min(rest.len()));
        if let Ok(Some(declared)) = get_frame_content_size(frame) {
            let decoded = zstd_reference(frame, limit).map(|out| out.len() as u64);
            if decoded != Some(declared) {
                return true;
            }
        }
        rest = next;
    }
    false
}

/// The whole output of `reader`, or `None` when it fails or passes `limit`.
fn uncapped(reader: impl Read, limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).ok()?;
    (out.len() <= limit).then_some(out)
}
