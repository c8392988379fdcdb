//! The `events` and `links` columns of the `spans` table: lists of structs, each with its
//! own attribute map.

use super::{
    ENTRY_BYTES, Offsets, StringMapBuilder, append_hex, append_opt_str, append_str,
    list_item_field, nanos, struct_fields,
};
use crate::error::StoreError;
use arrow_array::builder::{StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, ListArray, StructArray};
use std::sync::Arc;
use tracegate_model::Span;
use tracegate_model::schema::col;

/// Builds the `events` column: `list<struct<time, name, attributes>>`.
#[derive(Debug)]
pub(super) struct EventsBuilder {
    pub(super) offsets: Offsets,
    pub(super) time: TimestampNanosecondBuilder,
    pub(super) name: StringBuilder,
    pub(super) attributes: StringMapBuilder,
}

impl Default for EventsBuilder {
    fn default() -> Self {
        Self {
            offsets: Offsets::default(),
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            name: StringBuilder::new(),
            attributes: StringMapBuilder::default(),
        }
    }
}

impl EventsBuilder {
    pub(super) fn append(&mut self, span: &Span, scratch: &mut String) -> usize {
        let mut bytes = 0;
        for event in &span.events {
            self.time.append_value(nanos(event.time_unix_nano));
            bytes += append_str(&mut self.name, &event.name) + ENTRY_BYTES;
            bytes += self.attributes.append(&event.attributes, scratch);
        }
        self.offsets.push_length(span.events.len());
        bytes
    }

    pub(super) fn finish(mut self) -> Result<ListArray, StoreError> {
        let item = list_item_field(col::EVENTS)?;
        let fields = struct_fields(&item, col::EVENTS)?;
        let values = StructArray::try_new(
            fields,
            vec![
                Arc::new(self.time.finish()) as ArrayRef,
                Arc::new(self.name.finish()),
                Arc::new(self.attributes.finish()?),
            ],
            None,
        )
        .map_err(StoreError::arrow("build the events column"))?;
        ListArray::try_new(item, self.offsets.finish()?, Arc::new(values), None)
            .map_err(StoreError::arrow("build the events column"))
    }
}

/// Builds the `links` column: `list<struct<trace_id, span_id, trace_state, attributes>>`.
#[derive(Debug)]
pub(super) struct LinksBuilder {
    pub(super) offsets: Offsets,
    pub(super) trace_id: StringBuilder,
    pub(super) span_id: StringBuilder,
    pub(super) trace_state: StringBuilder,
    pub(super) attributes: StringMapBuilder,
}

impl Default for LinksBuilder {
    fn default() -> Self {
        Self {
            offsets: Offsets::default(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            attributes: StringMapBuilder::default(),
        }
    }
}

impl LinksBuilder {
    pub(super) fn append(&mut self, span: &Span, scratch: &mut String) -> usize {
        let mut bytes = 0;
        for link in &span.links {
            bytes += append_hex(&mut self.trace_id, &link.trace_id, scratch);
            bytes += append_hex(&mut self.span_id, &link.span_id, scratch);
            bytes += append_opt_str(&mut self.trace_state, &link.trace_state) + ENTRY_BYTES;
            bytes += self.attributes.append(&link.attributes, scratch);
        }
        self.offsets.push_length(span.links.len());
        bytes
    }

    pub(super) fn finish(mut self) -> Result<ListArray, StoreError> {
        let item = list_item_field(col::LINKS)?;
        let fields = struct_fields(&item, col::LINKS)?;
        let values = StructArray::try_new(
            fields,
            vec![
                Arc::new(self.trace_id.finish()) as ArrayRef,
                Arc::new(self.span_id.finish()),
                Arc::new(self.trace_state.finish()),
                Arc::new(self.attributes.finish()?),
            ],
            None,
        )
        .map_err(StoreError::arrow("build the links column"))?;
        ListArray::try_new(item, self.offsets.finish()?, Arc::new(values), None)
            .map_err(StoreError::arrow("build the links column"))
    }
}
