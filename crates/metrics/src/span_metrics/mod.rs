//! The `span_metrics` trace processor (stub: being written).
