//! What a held span keeps alive besides itself: its resource and its scope.
//!
//! Spans share their resource and scope through `Arc`s: every span of one `ResourceSpans`
//! points at one resource. Counting only the spans' own bytes would miss what a
//! span-per-request exporter sends (SimpleSpanProcessor, AWS Lambda), where every span
//! brings a resource of its own, often kilobytes of attributes. So a trace is charged a
//! span's resource (and scope) when the span does not share it with the span held before it
//! in that trace: once for a batch of spans from one service, once per span when each has
//! its own. What a trace was charged is released with it. A trace whose spans alternate
//! between resources is charged more than once, which errs on the safe side.

use std::sync::Arc;
use tracegate_model::{Resource, Scope, Span};

/// Works out the bytes a span adds to its trace, remembering the size of the last resource
/// and scope it measured, so spans sharing one are not measured again.
///
/// The remembered pointers are only compared, never followed. [`Self::reset`] must be called
/// at the start of each call that holds spans, so an address freed and reused between calls
/// cannot be mistaken for the resource that was there.
#[derive(Debug, Default)]
pub(crate) struct ContextBytes {
    resource: Measured,
    scope: Measured,
}

/// The address and size of the last resource or scope measured (address 0: none).
#[derive(Debug, Default)]
struct Measured {
    address: usize,
    bytes: usize,
}

impl Measured {
    fn get<T>(&mut self, shared: &Arc<T>, measure: impl FnOnce(&T) -> usize) -> usize {
        let address = Arc::as_ptr(shared) as usize;
        if address != self.address {
            self.bytes = measure(shared);
            self.address = address;
        }
        self.bytes
    }
}

impl ContextBytes {
    /// Forgets what was measured.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// The bytes `span` adds to a trace whose last held span is `previous`: its own, and its
    /// resource's and scope's unless `previous` shares them.
    pub(crate) fn charge(&mut self, span: &Span, previous: Option<&Span>) -> usize {
        let mut bytes = span.estimated_bytes();
        if previous.is_none_or(|p| !Arc::ptr_eq(&p.resource, &span.resource)) {
            bytes += self.resource.get(&span.resource, Resource::estimated_bytes);
        }
        if previous.is_none_or(|p| !Arc::ptr_eq(&p.scope, &span.scope)) {
            bytes += self.scope.get(&span.scope, Scope::estimated_bytes);
        }
        bytes
    }
}
