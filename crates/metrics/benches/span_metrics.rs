//! Span metrics throughput (stub: being written).
fn main() {}
