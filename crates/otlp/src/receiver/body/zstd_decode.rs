//! `Content-Encoding: zstd`: a decoder whose window is capped at [`ZSTD_MAX_WINDOW_LOG`] and
//! reserved in the in-flight budget while it inflates.

use super::{BodyError, Reason, Reservation, read_capped};

/// The largest zstd window accepted: 8 MiB, what zstd's levels 1 to 19 (and the Go and Java
/// encoders' defaults) use. Only `--ultra` and `--long` frames need more; they are refused.
pub(crate) const ZSTD_MAX_WINDOW_LOG: u32 = 23;
/// The smallest window zstd has (1 KiB).
const ZSTD_MIN_WINDOW_LOG: u32 = 10;

/// What a zstd decoder holds beside its window: one block (128 KiB, zstd's largest) and its
/// tables, rounded up.
const ZSTD_DECODER_BYTES: usize = 192 << 10;

/// The most a zstd decode holds beside its output: the largest window accepted and the
/// decoder's own buffers.
pub(crate) const ZSTD_MAX_DECODER_BYTES: usize = (1 << ZSTD_MAX_WINDOW_LOG) + ZSTD_DECODER_BYTES;

/// The window the first frame of `body` declares (RFC 8878 §3.1.1.1): the frame's content size
/// for a single-segment frame, else its window descriptor; `None` when the header is not
/// there or is not a zstd frame's (the decoder then reports the error).
pub(super) fn zstd_frame_window(body: &[u8]) -> Option<u64> {
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
pub(super) fn inflate_zstd(
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
