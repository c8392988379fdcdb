//! The write-ahead log's bytes, as read back after a restart: a segment file scanned for
//! records, and each record's payload decoded into a pipeline's batch.
//!
//! Checked: the scan covers the segment exactly once, in order (records, corrupt stretches,
//! at most one torn tail at the end); every record it yields verifies at its position; a
//! decoded payload re-encodes to a record that decodes to the same bytes again.

use tracegate_pipeline::durability::{decode_record, encode_batch};
use tracegate_wal::record::{self, HEADER_BYTES, Item, Scan};
use tracegate_wal::segment;

/// The payload of one WAL record: a pipeline's spans or log records with its header.
pub fn wal_record(data: &[u8]) {
    let Ok(decoded) = decode_record(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_batch(&decoded.pipeline, &decoded.batch, &mut first);
    let again = match decode_record(&first) {
        Ok(again) => again,
        Err(e) => panic!("a re-encoded record does not decode: {e}"),
    };
    assert_eq!(again.pipeline, decoded.pipeline);
    let mut second = Vec::new();
    encode_batch(&again.pipeline, &again.batch, &mut second);
    assert_eq!(second, first, "re-encoding a record is a fixpoint");
}

/// `[base LSN as u64 LE (8 bytes), segment bytes...]`; the first bytes, read as text, also go
/// through the segment file name parser.
pub fn wal_segment(data: &[u8]) {
    let Some((base, buf)) = data.split_first_chunk::<8>() else {
        return;
    };
    let base = u64::from_le_bytes(*base);
    let mut expected = 0usize;
    let mut torn = false;
    for item in Scan::new(buf, base) {
        assert!(!torn, "an item after the torn tail");
        match item {
            Item::Record { lsn, payload } => {
                let at = payload.start - HEADER_BYTES;
                assert_eq!(at, expected, "a gap or overlap before a record");
                assert_eq!(lsn, base.wrapping_add(at as u64));
                assert_eq!(record::decode_at(buf, at, base), Some(payload.clone()));
                expected = payload.end;
            }
            Item::Corrupt { bytes } => {
                assert_eq!(
                    bytes.start, expected,
                    "a gap or overlap before a corrupt stretch"
                );
                assert!(bytes.end > bytes.start);
                expected = bytes.end;
            }
            Item::Torn { bytes } => {
                assert_eq!(
                    bytes.start, expected,
                    "a gap or overlap before the torn tail"
                );
                assert_eq!(bytes.end, buf.len(), "the torn tail is not at the end");
                torn = true;
                expected = bytes.end;
            }
        }
    }
    assert_eq!(expected, buf.len(), "the scan stopped before the end");

    let name = String::from_utf8_lossy(&buf[..buf.len().min(32)]);
    if let Some(lsn) = segment::parse_name(&name) {
        assert_eq!(
            segment::file_name(lsn),
            name,
            "a segment name that is not canonical"
        );
    }
}
