//! The top-level `metrics:` section (stub: being written).
