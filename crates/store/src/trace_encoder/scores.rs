//! The `traces` table's `scores` column: each trace's
//! [`Trace::scores`](tracegate_model::Trace::scores) as a
//! `list<struct<name, value, label, span_id, source>>`, empty when it has none.

use crate::error::StoreError;
use crate::log_encoder::{append_option, append_span_id, append_str};
use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use std::sync::Arc;
use tracegate_model::Score;
use tracegate_model::schema::{self, traces_col};

/// Builds the `scores` column, one trace at a time.
#[derive(Debug)]
pub(super) struct ScoresColumn {
    offsets: Vec<i32>,
    name: StringBuilder,
    value: Float64Builder,
    label: StringBuilder,
    span_id: StringBuilder,
    source: StringBuilder,
}

impl Default for ScoresColumn {
    fn default() -> Self {
        Self {
            offsets: vec![0],
            name: StringBuilder::new(),
            value: Float64Builder::new(),
            label: StringBuilder::new(),
            span_id: StringBuilder::new(),
            source: StringBuilder::new(),
        }
    }
}

impl ScoresColumn {
    /// Appends one trace's row of `scores`; returns the bytes it added.
    pub(super) fn append(&mut self, scores: &[Score]) -> usize {
        let mut bytes = 0;
        let mut len = self.offsets.last().copied().unwrap_or(0);
        for score in scores {
            bytes += append_str(&mut self.name, &score.name) + 24;
            self.value
                .append_option(score.value.filter(|v| v.is_finite()));
            bytes += append_option(&mut self.label, score.label.as_deref());
            bytes += append_span_id(&mut self.span_id, score.span_id);
            bytes += append_str(&mut self.source, score.source.as_str());
            // A trace holds few scores; 2^31 in one file is far past any cut.
            len = len.saturating_add(1);
        }
        self.offsets.push(len);
        bytes
    }

    pub(super) fn finish(mut self) -> Result<ListArray, StoreError> {
        let column = traces_col::SCORES;
        let item = match schema::traces_schema()
            .field_with_name(column)
            .map(|f| f.data_type().clone())
        {
            Ok(DataType::List(item)) => item,
            _ => return Err(StoreError::Schema { column }),
        };
        let DataType::Struct(fields) = item.data_type().clone() else {
            return Err(StoreError::Schema { column });
        };
        let values = StructArray::try_new(
            fields,
            vec![
                Arc::new(self.name.finish()) as ArrayRef,
                Arc::new(self.value.finish()),
                Arc::new(self.label.finish()),
                Arc::new(self.span_id.finish()),
                Arc::new(self.source.finish()),
            ],
            None,
        )
        .map_err(StoreError::arrow("build the scores column"))?;
        ListArray::try_new(
            item,
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Arc::new(values),
            None,
        )
        .map_err(StoreError::arrow("build the scores column"))
    }
}
