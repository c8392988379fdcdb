//! OTLP metrics export (stub: being written).
