//! A tenant's in-memory head: the spans released since its last block, searchable at once.
//!
//! The head holds the payloads themselves ([`HeadEntry`]: an `Arc` of the exporter's
//! payload and the positions of this tenant's traces or spans in it), so taking a payload
//! copies no span. A map from trace id to those positions answers a lookup by id. When the
//! head is cut it becomes read-only (`Arc<Head>`) and stays searchable until its block is on
//! disk; [`Head::spans`] is then the one pass the block's encoder reads. Spans leave the head
//! with their trace's scores as events (`scores.rs`).

use super::index::{ScanFilter, TraceFacts};
use super::scores::ScoreEvents;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;
use tracegate_model::{Span, Trace, TraceId};
use tracegate_pipeline::Payload;
use tracegate_pipeline::durability::OriginCounts;

/// Bytes counted per indexed trace or span position, for the map and the position lists.
const REF_BYTES: usize = 48;

/// One payload as a tenant's head holds it.
#[derive(Debug)]
pub struct HeadEntry {
    payload: Arc<Payload>,
    /// Of [`Payload::Traces`]: the traces with spans of this tenant; of [`Payload::Spans`]:
    /// the spans of this tenant. Ascending.
    refs: Vec<u32>,
}

/// The part of one payload that belongs to one tenant, as export sorts it.
#[derive(Debug, Default)]
pub struct Part {
    /// See [`HeadEntry::refs`].
    pub refs: Vec<u32>,
    /// The spans' estimated bytes.
    pub bytes: usize,
    /// The spans counted.
    pub spans: usize,
    /// Their write-ahead-log records.
    pub counts: OriginCounts,
}

impl Part {
    /// Counts `span` into this part.
    pub fn add(&mut self, span: &Span) {
        self.bytes += span.estimated_bytes();
        self.spans += 1;
        self.counts.add(span.origin);
    }
}

/// A tenant's head. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Head {
    entries: Vec<Arc<HeadEntry>>,
    /// Trace id → (entry, position in the entry's payload), oldest first.
    traces: HashMap<TraceId, Vec<(u32, u32)>>,
    bytes: usize,
    spans: usize,
    counts: OriginCounts,
    since: Option<Instant>,
}

impl Head {
    /// Adds this tenant's `part` of `payload`.
    pub fn push(&mut self, payload: Arc<Payload>, part: Part, now: Instant) {
        if part.refs.is_empty() {
            return;
        }
        let entry = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        for &r in &part.refs {
            let id = match &*payload {
                Payload::Traces(t) => t[r as usize].trace_id,
                Payload::Spans(b) => b.spans[r as usize].trace_id,
                // Log payloads never reach a head: their scores go to the late scores.
                Payload::Logs(_) => continue,
            };
            self.traces.entry(id).or_default().push((entry, r));
        }
        self.bytes += part.bytes + part.refs.len() * REF_BYTES;
        self.spans += part.spans;
        self.counts.merge(part.counts);
        self.since.get_or_insert(now);
        self.entries.push(Arc::new(HeadEntry {
            payload,
            refs: part.refs,
        }));
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Spans held.
    pub fn span_count(&self) -> usize {
        self.spans
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When its first payload arrived.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// The write-ahead-log records of its spans, to report durable once they are on disk.
    pub fn take_counts(&mut self) -> OriginCounts {
        std::mem::take(&mut self.counts)
    }

    /// Its entries, oldest first, to search without holding the tenant's lock.
    pub fn entries(&self) -> &[Arc<HeadEntry>] {
        &self.entries
    }

    /// The positions of trace `id`, as (entry, position), to read with [`HeadEntry::find`].
    pub fn lookup(&self, id: &TraceId) -> Vec<(Arc<HeadEntry>, u32)> {
        self.traces
            .get(id)
            .map(|refs| {
                refs.iter()
                    .filter_map(|&(e, r)| Some((self.entries.get(e as usize)?.clone(), r)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every span of `tenant` in the head, in arrival order, with its trace's scores as
    /// events: the rows of its block.
    pub fn spans<'a>(&'a self, tenant: &'a str) -> impl Iterator<Item = Cow<'a, Span>> + 'a {
        self.entries.iter().flat_map(move |e| e.spans(tenant))
    }
}

impl HeadEntry {
    /// The spans of `tenant` in this entry, with their trace's scores as events.
    fn spans<'a>(&'a self, tenant: &'a str) -> Box<dyn Iterator<Item = Cow<'a, Span>> + 'a> {
        match &*self.payload {
            Payload::Traces(t) => Box::new(self.refs.iter().flat_map(move |&r| {
                let trace = &t[r as usize];
                let events = ScoreEvents::of(trace);
                trace
                    .spans
                    .iter()
                    .filter(move |s| s.tenant() == tenant)
                    .map(move |s| events.apply(s))
            })),
            Payload::Spans(b) => Box::new(
                self.refs
                    .iter()
                    .map(move |&r| Cow::Borrowed(&b.spans[r as usize])),
            ),
            Payload::Logs(_) => Box::new(std::iter::empty()),
        }
    }

    /// Appends (clones of) the spans of `tenant` and trace `id` at position `r` to `out`.
    pub fn find(&self, r: u32, tenant: &str, id: &TraceId, out: &mut Vec<Span>) {
        match &*self.payload {
            Payload::Traces(t) => {
                if let Some(trace) = t.get(r as usize) {
                    let events = ScoreEvents::of(trace);
                    out.extend(
                        trace
                            .spans
                            .iter()
                            .filter(|s| s.trace_id == *id && s.tenant() == tenant)
                            .map(|s| events.apply(s).into_owned()),
                    );
                }
            }
            Payload::Spans(b) => {
                if let Some(s) = b.spans.get(r as usize)
                    && s.trace_id == *id
                    && s.tenant() == tenant
                {
                    out.push(s.clone());
                }
            }
            Payload::Logs(_) => {}
        }
    }

    /// Visits the traces of `tenant` in this entry that may match `filter`, newest first;
    /// returns the traces and spans visited.
    pub fn scan(
        &self,
        tenant: &str,
        filter: &ScanFilter,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
        stats: &mut (usize, usize),
    ) -> ControlFlow<()> {
        match &*self.payload {
            Payload::Traces(traces) => {
                for &r in self.refs.iter().rev() {
                    let Some(trace) = traces.get(r as usize) else {
                        continue;
                    };
                    let spans = &trace.spans;
                    let whole = spans.iter().all(|s| s.tenant() == tenant);
                    let events = ScoreEvents::of(trace);
                    if whole && events.is_empty() {
                        if admits(filter, spans.iter()) {
                            stats.0 += 1;
                            stats.1 += spans.len();
                            visit(spans)?;
                        }
                    } else {
                        let mine: Vec<Span> = spans
                            .iter()
                            .filter(|s| s.tenant() == tenant)
                            .map(|s| events.apply(s).into_owned())
                            .collect();
                        if !mine.is_empty() && admits(filter, mine.iter()) {
                            stats.0 += 1;
                            stats.1 += mine.len();
                            visit(&mine)?;
                        }
                    }
                }
            }
            Payload::Spans(batch) => {
                // Spans of one trace may be anywhere in the batch: group them.
                let mut by_trace: HashMap<TraceId, Vec<&Span>> = HashMap::new();
                let mut order = Vec::new();
                for &r in &self.refs {
                    if let Some(s) = batch.spans.get(r as usize) {
                        let group = by_trace.entry(s.trace_id).or_default();
                        if group.is_empty() {
                            order.push(s.trace_id);
                        }
                        group.push(s);
                    }
                }
                for id in order.iter().rev() {
                    let Some(group) = by_trace.get(id) else {
                        continue;
                    };
                    if admits(filter, group.iter().copied()) {
                        let spans: Vec<Span> = group.iter().map(|s| (*s).clone()).collect();
                        stats.0 += 1;
                        stats.1 += spans.len();
                        visit(&spans)?;
                    }
                }
            }
            Payload::Logs(_) => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether the trace of `spans` may match `filter`.
fn admits<'a>(filter: &ScanFilter, spans: impl Iterator<Item = &'a Span> + Clone) -> bool {
    let mut facts: Option<TraceFacts> = None;
    for s in spans.clone() {
        match &mut facts {
            Some(f) => f.add(s.start_time_unix_nano, s.end_time_unix_nano),
            None => {
                facts = Some(TraceFacts::of_span(
                    s.start_time_unix_nano,
                    s.end_time_unix_nano,
                ))
            }
        }
    }
    let Some(facts) = facts else { return false };
    filter.admits(&facts, || {
        let names = filter.service_names.as_deref().unwrap_or_default();
        spans
            .clone()
            .any(|s| names.iter().any(|n| n == s.service_name()))
    })
}

/// Splits `payload` by tenant: each tenant's positions, bytes and log records.
pub fn split_by_tenant(payload: &Payload) -> Vec<(Arc<str>, Part)> {
    let mut parts: Vec<(Arc<str>, Part)> = Vec::new();
    let mut part_of = |span: &Span, parts: &mut Vec<(Arc<str>, Part)>| -> usize {
        let tenant = span.tenant();
        // Payloads rarely mix tenants: the last part is nearly always the one.
        if let Some(i) = parts.iter().rposition(|(t, _)| &**t == tenant) {
            return i;
        }
        parts.push((Arc::from(tenant), Part::default()));
        parts.len() - 1
    };
    match payload {
        Payload::Traces(traces) => {
            for (r, trace) in traces.iter().enumerate() {
                let r = u32::try_from(r).unwrap_or(u32::MAX);
                add_trace(trace, r, &mut parts, &mut part_of);
            }
        }
        Payload::Spans(batch) => {
            for (r, span) in batch.spans.iter().enumerate() {
                let i = part_of(span, &mut parts);
                let part = &mut parts[i].1;
                part.add(span);
                part.refs.push(u32::try_from(r).unwrap_or(u32::MAX));
            }
        }
        Payload::Logs(_) => {}
    }
    parts
}

fn add_trace(
    trace: &Trace,
    r: u32,
    parts: &mut Vec<(Arc<str>, Part)>,
    part_of: &mut impl FnMut(&Span, &mut Vec<(Arc<str>, Part)>) -> usize,
) {
    for span in &trace.spans {
        let i = part_of(span, parts);
        let part = &mut parts[i].1;
        part.add(span);
        if part.refs.last() != Some(&r) {
            part.refs.push(r);
        }
    }
}
