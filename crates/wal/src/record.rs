//! The on-disk record: encoding, decoding, and the scan that finds the valid records in a
//! segment's bytes, resynchronising past corrupt ones.
//!
//! ```text
//!  0        4        8        12
//!  +--------+--------+--------+------------------+
//!  | magic  |  len   | crc32c |  payload (len B) |
//!  +--------+--------+--------+------------------+
//!  magic  = b"TGWR"
//!  len    = payload length, u32 little-endian
//!  crc32c = CRC32C of (lsn as u64 LE ‖ len as u32 LE ‖ payload)
//! ```
//!
//! The checksum is seeded with the record's LSN (its position in the logical log), which is
//! not stored: a record only verifies at the position it was written to. A stray copy of a
//! record inside another record's payload, or a stale record at the wrong offset, never
//! passes as valid.

use crate::Lsn;
use std::ops::Range;

/// The marker every record starts with; the scan resynchronises on it.
pub const MAGIC: [u8; 4] = *b"TGWR";
/// Bytes of a record's header (magic, length, checksum).
pub const HEADER_BYTES: usize = 12;
/// The largest payload the length field can describe.
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// The bytes a record with a payload of `len` bytes takes on disk.
pub fn encoded_len(len: usize) -> u64 {
    (HEADER_BYTES + len) as u64
}

fn checksum(lsn: Lsn, len: u32, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&lsn.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &len.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// The header of `payload` written at `lsn`: what precedes the payload on disk.
pub fn header(lsn: Lsn, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = [0u8; HEADER_BYTES];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..].copy_from_slice(&checksum(lsn, len, payload).to_le_bytes());
    h
}

/// Appends the encoding of `payload`, written at `lsn`, to `out`.
///
/// The caller has checked `payload.len() <= MAX_PAYLOAD`; a longer payload is cut to what the
/// length field can say (and so never verifies), it does not panic.
pub fn encode(lsn: Lsn, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(&header(lsn, payload));
    out.extend_from_slice(payload);
}

/// The payload range of a valid record at `pos` of `buf`, whose LSN is `base + pos` (none
/// when that passes `u64::MAX`).
pub fn decode_at(buf: &[u8], pos: usize, base: Lsn) -> Option<Range<usize>> {
    let header = buf.get(pos..pos.checked_add(HEADER_BYTES)?)?;
    if header[0..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let start = pos + HEADER_BYTES;
    let end = start.checked_add(len as usize)?;
    let payload = buf.get(start..end)?;
    // A segment's base comes from its file name, which may say anything up to u64::MAX: a
    // position past the LSN space holds no record (rather than an overflow).
    let lsn = base.checked_add(pos as u64)?;
    (checksum(lsn, len, payload) == crc).then_some(start..end)
}

/// One finding of [`Scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A valid record: its LSN and the payload's range in the buffer.
    Record {
        /// The record's LSN.
        lsn: Lsn,
        /// Where its payload is in the scanned buffer.
        payload: Range<usize>,
    },
    /// Bytes between two valid records that are no record: a corrupt record (bad checksum,
    /// bad length, bad marker), skipped.
    Corrupt {
        /// The skipped bytes' range in the buffer.
        bytes: Range<usize>,
    },
    /// Bytes after the last valid record that are no record: a write cut short (torn).
    Torn {
        /// The torn bytes' range in the buffer.
        bytes: Range<usize>,
    },
}

/// Walks a segment's bytes from the start, yielding valid records, corrupt stretches between
/// them and a torn tail. Never panics, whatever the bytes.
#[derive(Debug)]
pub struct Scan<'a> {
    buf: &'a [u8],
    base: Lsn,
    pos: usize,
}

impl<'a> Scan<'a> {
    /// Scans `buf`, the contents of a segment whose first byte is at LSN `base`.
    pub fn new(buf: &'a [u8], base: Lsn) -> Self {
        Self { buf, base, pos: 0 }
    }

    /// Scans `buf` from offset `pos`, which must be where an earlier scan stopped.
    pub fn resume(buf: &'a [u8], base: Lsn, pos: usize) -> Self {
        Self { buf, base, pos }
    }

    /// The offset just past the last item yielded.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next offset after `from` where a valid record starts.
    fn resync(&self, from: usize) -> Option<usize> {
        let mut at = from;
        while at + HEADER_BYTES <= self.buf.len() {
            let window = &self.buf[at..];
            let hit = window.windows(MAGIC.len()).position(|w| w == MAGIC)?;
            let candidate = at + hit;
            if decode_at(self.buf, candidate, self.base).is_some() {
                return Some(candidate);
            }
            at = candidate + 1;
        }
        None
    }
}

impl Iterator for Scan<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let pos = self.pos;
        if let Some(payload) = decode_at(self.buf, pos, self.base) {
            self.pos = payload.end;
            return Some(Item::Record {
                lsn: self.base + pos as u64,
                payload,
            });
        }
        match self.resync(pos + 1) {
            Some(next) => {
                self.pos = next;
                Some(Item::Corrupt { bytes: pos..next })
            }
            None => {
                self.pos = self.buf.len();
                Some(Item::Torn {
                    bytes: pos..self.buf.len(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn log(base: Lsn, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(base + out.len() as u64, p, &mut out);
        }
        out
    }

    /// Found by the `wal_segment` fuzz target: a segment named near `u64::MAX` overflowed
    /// `base + pos` (a panic in debug builds) instead of holding no record.
    #[test]
    fn positions_past_the_lsn_space_hold_no_record() {
        let mut buf = vec![0u8; 3];
        encode(u64::MAX, b"x", &mut buf);
        assert_eq!(decode_at(&buf, 3, u64::MAX - 2), None);
        let items: Vec<Item> = Scan::new(&buf, u64::MAX - 2).collect();
        assert_eq!(
            items,
            [Item::Torn {
                bytes: 0..buf.len()
            }]
        );
        // The last LSN itself still verifies.
        let mut last = Vec::new();
        encode(u64::MAX, b"x", &mut last);
        assert_eq!(decode_at(&last, 0, u64::MAX), Some(12..13));
    }

    #[test]
    fn golden_encoding_of_a_record() {
        let mut out = Vec::new();
        encode(0, b"hi", &mut out);
        let crc = checksum(0, 2, b"hi").to_le_bytes();
        let mut want = b"TGWR".to_vec();
        want.extend_from_slice(&[2, 0, 0, 0]);
        want.extend_from_slice(&crc);
        want.extend_from_slice(b"hi");
        assert_eq!(out, want);
        // CRC32C of the 14 bytes 00*8 02 00 00 00 'h' 'i', computed independently.
        let mut seed = [0u8; 14];
        seed[8] = 2;
        seed[12] = b'h';
        seed[13] = b'i';
        assert_eq!(checksum(0, 2, b"hi"), crc32c::crc32c(&seed));
        assert_eq!(decode_at(&out, 0, 0), Some(12..14));
    }

    #[test]
    fn a_record_verifies_only_at_its_own_lsn() {
        let out = log(100, &[b"abc"]);
        assert!(decode_at(&out, 0, 100).is_some());
        assert!(decode_at(&out, 0, 101).is_none());
    }

    #[test]
    fn empty_payload_round_trips() {
        let out = log(7, &[b"", b"x", b""]);
        let items: Vec<_> = Scan::new(&out, 7).collect();
        assert_eq!(
            items,
            vec![
                Item::Record {
                    lsn: 7,
                    payload: 12..12
                },
                Item::Record {
                    lsn: 19,
                    payload: 24..25
                },
                Item::Record {
                    lsn: 32,
                    payload: 37..37
                },
            ]
        );
    }

    #[test]
    fn flipped_payload_byte_skips_that_record_only() {
        let mut out = log(0, &[b"first", b"second", b"third"]);
        out[17 + 12 + 2] ^= 0x40; // inside "second"
        let items: Vec<_> = Scan::new(&out, 0).collect();
        assert_eq!(items.len(), 3);
        assert!(matches!(items[0], Item::Record { lsn: 0, .. }));
        assert_eq!(items[1], Item::Corrupt { bytes: 17..35 });
        assert!(matches!(items[2], Item::Record { lsn: 35, .. }));
    }

    #[test]
    fn corrupt_length_resyncs_at_the_next_marker() {
        let mut out = log(0, &[b"first", b"second", b"third"]);
        // "second"'s length claims 4 GiB: the scan must not trust it.
        out[17 + 4..17 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let items: Vec<_> = Scan::new(&out, 0).collect();
        assert_eq!(items[1], Item::Corrupt { bytes: 17..35 });
        assert!(matches!(items[2], Item::Record { lsn: 35, .. }));
        // A length that is short by one also lands on the next marker.
        let mut out = log(0, &[b"first", b"second", b"third"]);
        out[17 + 4..17 + 8].copy_from_slice(&5u32.to_le_bytes());
        let items: Vec<_> = Scan::new(&out, 0).collect();
        assert_eq!(items[1], Item::Corrupt { bytes: 17..35 });
        assert!(matches!(items[2], Item::Record { lsn: 35, .. }));
    }

    #[test]
    fn torn_tail_at_every_byte_of_the_last_record() {
        let full = log(0, &[b"one", b"two", b"three!"]);
        let last = 30; // 15 + 15
        for cut in last + 1..full.len() {
            let items: Vec<_> = Scan::new(&full[..cut], 0).collect();
            assert_eq!(items.len(), 3, "cut at {cut}");
            assert!(matches!(items[1], Item::Record { lsn: 15, .. }));
            assert_eq!(items[2], Item::Torn { bytes: last..cut });
        }
        assert_eq!(Scan::new(&full[..last], 0).count(), 2);
    }

    proptest! {
        #[test]
        fn scan_returns_what_was_encoded(
            base in 0u64..1 << 40,
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            let out = log(base, &refs);
            let got: Vec<Vec<u8>> = Scan::new(&out, base)
                .map(|item| match item {
                    Item::Record { payload, .. } => out[payload].to_vec(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            prop_assert_eq!(got, payloads);
        }

        #[test]
        fn scan_of_any_bytes_never_panics_and_covers_them(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut covered = 0;
            for item in Scan::new(&bytes, 0) {
                let r = match item {
                    Item::Record { payload, .. } => payload.start - HEADER_BYTES..payload.end,
                    Item::Corrupt { bytes } | Item::Torn { bytes } => bytes,
                };
                prop_assert_eq!(r.start, covered);
                covered = r.end;
            }
            prop_assert_eq!(covered, bytes.len());
        }
    }
}
