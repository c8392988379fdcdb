//! The bytes of one write-ahead-log record: which pipeline logged it and its spans, as they
//! left the span processors.
//!
//! ```text
//! +------+---------+----------+-----------------+--------------------------------------+
//! | 0x54 | version | name len | pipeline name   | ExportTraceServiceRequest (protobuf) |
//! +------+---------+----------+-----------------+--------------------------------------+
//!   1 B     1 B       1 B       name len bytes    the rest
//! ```
//!
//! The spans are OTLP protobuf ([`tracegate_model::wire`]), so the log is readable with any
//! OTLP tooling and a change of the span representation does not change the format.

use tracegate_model::wire::{self, WireError};
use tracegate_model::{Span, SpanBatch};

const MAGIC: u8 = 0x54;
const VERSION: u8 = 1;

/// A decoded record.
#[derive(Debug)]
pub struct Record {
    /// The pipeline that logged it (`traces`, `traces/NAME`).
    pub pipeline: String,
    /// Its spans, with [`Origin::NONE`](tracegate_model::Origin::NONE).
    pub batch: SpanBatch,
}

/// Why a record did not decode. The record is skipped and counted; it is never a panic.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a record this version writes.
    #[error("not a tracegate span record (header {0:?})")]
    Header(Vec<u8>),
    /// The pipeline name is not UTF-8 or is cut short.
    #[error("the record's pipeline name is damaged")]
    Name,
    /// The spans did not decode.
    #[error(transparent)]
    Spans(#[from] WireError),
}

/// Appends the record of `spans` logged by `pipeline` to `out`. Pipeline names longer than
/// 255 bytes cannot occur (config ids are short), and are cut.
pub fn encode_record(pipeline: &str, spans: &[Span], out: &mut Vec<u8>) {
    let name = &pipeline.as_bytes()[..pipeline.len().min(255)];
    out.reserve(3 + name.len());
    out.push(MAGIC);
    out.push(VERSION);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    wire::encode_spans(spans, out);
}

/// Decodes what [`encode_record`] wrote.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    let [MAGIC, VERSION, len, rest @ ..] = bytes else {
        return Err(RecordError::Header(bytes.iter().take(3).copied().collect()));
    };
    let len = usize::from(*len);
    let name = rest.get(..len).ok_or(RecordError::Name)?;
    let pipeline = std::str::from_utf8(name).map_err(|_| RecordError::Name)?;
    let batch = wire::decode_spans(&rest[len..])?;
    Ok(Record {
        pipeline: pipeline.to_owned(),
        batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::span;

    #[test]
    fn round_trips_and_refuses_damage() {
        let spans = vec![span(1), span(2)];
        let mut out = Vec::new();
        encode_record("traces/llm", &spans, &mut out);
        let record = decode_record(&out).unwrap();
        assert_eq!(record.pipeline, "traces/llm");
        assert_eq!(record.batch.to_request(), SpanBatch { spans }.to_request());

        assert!(matches!(decode_record(b""), Err(RecordError::Header(_))));
        assert!(matches!(
            decode_record(&[MAGIC, 9, 0]),
            Err(RecordError::Header(_))
        ));
        assert!(matches!(
            decode_record(&[MAGIC, VERSION, 5, b'a']),
            Err(RecordError::Name)
        ));
        let mut cut = out.clone();
        cut.truncate(out.len() - 3);
        assert!(matches!(decode_record(&cut), Err(RecordError::Spans(_))));
    }
}
