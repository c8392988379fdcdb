//! The processor helper: processor authors write the transform; this counts and times it.

use crate::component::{Processor, SpanProcessor, TraceProcessor};
use crate::telemetry;
use std::time::Instant;
use tracegate_model::{LogBatch, SpanBatch, Trace};

/// A processor wrapped with its metrics: spans in, spans out, and time per call.
#[derive(Debug)]
pub struct Instrumented {
    name: String,
    inner: Processor,
}

/// What flows between processors: span batches before assembly, traces after.
#[derive(Debug)]
pub enum Flow {
    /// Span batches.
    Spans(SpanBatch),
    /// Traces.
    Traces(Vec<Trace>),
    /// Log records.
    Logs(LogBatch),
}

impl Flow {
    /// Spans carried.
    pub fn span_count(&self) -> usize {
        match self {
            Flow::Spans(b) => b.len(),
            Flow::Traces(t) => t.iter().map(|t| t.spans.len()).sum(),
            Flow::Logs(l) => l.len(),
        }
    }
}

impl Instrumented {
    /// Wraps `inner`, recording metrics under `name` (the component id).
    pub fn new(name: impl Into<String>, inner: Processor) -> Self {
        Self {
            name: name.into(),
            inner,
        }
    }

    /// Runs the processor on `flow`, recording spans in and out and the time taken. Config
    /// validation guarantees each processor gets the shape it works on; a mismatch passes the
    /// data through untouched.
    pub fn run(&mut self, flow: Flow) -> Flow {
        let incoming = flow.span_count();
        let started = Instant::now();
        let out = match (&mut self.inner, flow) {
            (Processor::Span(p), Flow::Spans(b)) => Flow::Spans(p.process(b)),
            (Processor::Trace(p), Flow::Traces(t)) => Flow::Traces(p.process(t)),
            (Processor::Log(p), Flow::Logs(l)) => Flow::Logs(p.process(l)),
            (_, other) => other,
        };
        telemetry::processor_ran(
            &self.name,
            incoming,
            out.span_count(),
            started.elapsed().as_secs_f64(),
        );
        out
    }
}

/// Adapts a closure into a [`SpanProcessor`].
pub struct FnSpanProcessor<F>(pub F);

impl<F> std::fmt::Debug for FnSpanProcessor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSpanProcessor")
    }
}

impl<F: FnMut(SpanBatch) -> SpanBatch + Send> SpanProcessor for FnSpanProcessor<F> {
    fn process(&mut self, batch: SpanBatch) -> SpanBatch {
        (self.0)(batch)
    }
}

/// Adapts a closure into a [`TraceProcessor`].
pub struct FnTraceProcessor<F>(pub F);

impl<F> std::fmt::Debug for FnTraceProcessor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnTraceProcessor")
    }
}

impl<F: FnMut(Vec<Trace>) -> Vec<Trace> + Send> TraceProcessor for FnTraceProcessor<F> {
    fn process(&mut self, traces: Vec<Trace>) -> Vec<Trace> {
        (self.0)(traces)
    }
}
