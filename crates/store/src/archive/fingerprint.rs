//! Fingerprints of whole rows of the `logs` and `scores` tables, for recognising a replayed
//! record's row among those archived before a restart: log records and scores carry no id
//! of their own, so a row is known by all of its columns.
//!
//! Both sides are fingerprinted from Arrow batches of the same schema, the archived file as
//! read back and the replayed records as the encoder writes them, through the same
//! formatting of every cell (null marked apart from an empty string), hashed with 64-bit
//! FNV-1a. Two rows with one fingerprint are identical in every column (bar a 2^-64
//! collision), so taking one for the other loses nothing; a replayed record that comes out
//! different (a processor with state, a join that went otherwise) is written again, a
//! duplicate, never a loss.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

fn feed(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The fingerprint of every row of `batch`, in row order. Columns of types the `logs` and
/// `scores` tables do not use are an error.
pub(super) fn rows(batch: &RecordBatch) -> Result<Vec<u64>, StoreError> {
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .try_fold(OFFSET, |h, column| cell(h, column.as_ref(), row))
        })
        .collect()
}

/// Feeds one cell: a tag (null or not), then its value, strings with a length prefix so
/// cell boundaries stay apart ("ab","c" vs "a","bc").
fn cell(h: u64, array: &dyn Array, row: usize) -> Result<u64, StoreError> {
    if array.is_null(row) {
        return Ok(feed(h, &[0]));
    }
    let h = feed(h, &[1]);
    let bytes = |h: u64, b: &[u8]| feed(feed(h, &(b.len() as u64).to_le_bytes()), b);
    Ok(match array.data_type() {
        DataType::Utf8 => bytes(h, array.as_string::<i32>().value(row).as_bytes()),
        DataType::Int32 => feed(
            h,
            &array.as_primitive::<Int32Type>().value(row).to_le_bytes(),
        ),
        DataType::Int64 => feed(
            h,
            &array.as_primitive::<Int64Type>().value(row).to_le_bytes(),
        ),
        DataType::Float64 => feed(
            h,
            &array
                .as_primitive::<Float64Type>()
                .value(row)
                .to_bits()
                .to_le_bytes(),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => feed(
            h,
            &array
                .as_primitive::<TimestampNanosecondType>()
                .value(row)
                .to_le_bytes(),
        ),
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let mut h = feed(h, &(entries.len() as u64).to_le_bytes());
            for i in 0..entries.len() {
                for column in entries.columns() {
                    h = cell(h, column.as_ref(), i)?;
                }
            }
            h
        }
        _ => {
            return Err(StoreError::Schema {
                column: "a logs or scores column of an unknown type",
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_encoder::LogEncoder;
    use crate::score_encoder::ScoreEncoder;
    use crate::testing::logs::{llm_record, plain_record, score, score_record};
    use crate::testing::{LEAP_NIGHT, read_parquet};
    use crate::writer::{WriterOptions, write_logs, write_scores};
    use tracegate_model::ScoreSource;

    fn sorted(mut v: Vec<u64>) -> Vec<u64> {
        v.sort_unstable();
        v
    }

    #[test]
    fn a_row_read_back_from_its_file_has_the_fingerprint_it_was_encoded_with() {
        let s = score("relevance", Some(1), Some(2), ScoreSource::Log);
        let records = [
            llm_record(1, 2, LEAP_NIGHT),
            plain_record("hello", LEAP_NIGHT + 1),
            score_record(s.clone(), LEAP_NIGHT + 2),
        ];
        let mut encoder = LogEncoder::new();
        records.iter().for_each(|r| {
            encoder.push(r);
        });
        let encoded = encoder.finish().unwrap();
        let fresh = rows(&encoded.batch).unwrap();
        let file = write_logs(&encoded.batch, &encoded.order, &WriterOptions::default()).unwrap();
        let back = rows(&read_parquet(file).0).unwrap();
        assert_eq!(sorted(back), sorted(fresh.clone()));
        assert_eq!(
            fresh.iter().collect::<std::collections::HashSet<_>>().len(),
            3
        );

        let mut encoder = ScoreEncoder::new();
        encoder.push(&s, 7);
        let encoded = encoder.finish().unwrap();
        let fresh = rows(&encoded.batch).unwrap();
        let file = write_scores(&encoded.batch, &encoded.order, &WriterOptions::default()).unwrap();
        assert_eq!(rows(&read_parquet(file).0).unwrap(), fresh);
    }

    #[test]
    fn any_changed_cell_changes_the_fingerprint_and_null_is_not_empty() {
        let base = plain_record("hello", LEAP_NIGHT);
        let mut other_body = base.clone();
        other_body.body = Some(tracegate_model::attr::string_value("hellO"));
        let mut no_body = base.clone();
        no_body.body = None;
        let mut empty_body = base.clone();
        empty_body.body = Some(tracegate_model::attr::string_value(""));
        let mut other_attr = base.clone();
        other_attr.attributes[0].key = "logger2".into();
        let batch = LogEncoder::encode(&[
            base.clone(),
            other_body,
            no_body,
            empty_body,
            other_attr,
            base,
        ])
        .unwrap();
        let fps = rows(&batch).unwrap();
        assert_eq!(fps[0], fps[5], "identical rows, one fingerprint");
        let distinct: std::collections::HashSet<_> = fps[..5].iter().collect();
        assert_eq!(distinct.len(), 5);
    }
}
