//! Tests of the TraceQL module: the parser corpus, the evaluator on hand-built traces, and
//! property tests.

mod corpus;
mod errors;
mod eval;
mod props;
mod support;
