//! Where held spans live: one arena of slots per shard, each trace's spans chained in arrival
//! order through the slots.
//!
//! A `Vec<Span>` per trace would waste up to half its capacity while it grows (a 10-span trace
//! ends at capacity 16: six empty slots of about 240 bytes each). Here a span costs its slot's
//! 8-byte link and nothing else; spans are moved in and moved out once, into a `Vec` of exact
//! capacity when their trace is released. Slots are allocated in fixed chunks, so growth never
//! copies what is held, and freed slots are reused. The arena keeps its peak size, which
//! `max_bytes` bounds.

use tracegate_model::Span;

/// The index that means "none".
pub(crate) const NIL: u32 = u32::MAX;

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: u32 = (1 << CHUNK_BITS) - 1;

/// One span, or a free slot, and the next slot of its chain.
#[derive(Debug)]
pub(crate) struct Slot {
    span: Option<Span>,
    next: u32,
}

/// Slots in fixed-size chunks with a free list threaded through `next`.
#[derive(Debug, Default)]
pub(crate) struct SpanArena {
    chunks: Vec<Vec<Slot>>,
    free: Option<u32>,
    live: usize,
}

impl SpanArena {
    /// Stores a span as the end of a chain; returns its slot. Gives the span back when every
    /// index is in use (some four billion spans), which the caller passes through.
    #[allow(
        clippy::result_large_err,
        reason = "the span is handed back by move, so the caller passes it on, never drops it"
    )]
    pub(crate) fn push(&mut self, span: Span) -> Result<u32, Span> {
        if let Some(index) = self.free
            && let Some(slot) = self.slot_mut(index)
        {
            let next_free = slot.next;
            slot.span = Some(span);
            slot.next = NIL;
            self.free = (next_free != NIL).then_some(next_free);
            self.live += 1;
            return Ok(index);
        }
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunks = self.chunks.len();
        let Some(chunk) = self.chunks.last_mut() else {
            return Err(span);
        };
        let index = match u32::try_from((chunks - 1) * CHUNK + chunk.len()) {
            Ok(index) if index != NIL => index,
            _ => return Err(span),
        };
        chunk.push(Slot {
            span: Some(span),
            next: NIL,
        });
        self.live += 1;
        Ok(index)
    }

    /// Links `next` after `index` in a chain.
    pub(crate) fn set_next(&mut self, index: u32, next: u32) {
        if let Some(slot) = self.slot_mut(index) {
            slot.next = next;
        }
    }

    /// Moves the `count` spans of the chain starting at `head` out, in order, freeing their
    /// slots.
    pub(crate) fn take_chain(&mut self, head: u32, count: usize) -> Vec<Span> {
        let mut spans = Vec::with_capacity(count);
        let mut index = head;
        while index != NIL {
            let free = self.free.unwrap_or(NIL);
            let Some(slot) = self.slot_mut(index) else {
                break;
            };
            let next = slot.next;
            if let Some(span) = slot.span.take() {
                spans.push(span);
            }
            slot.next = free;
            self.free = Some(index);
            self.live -= 1;
            index = next;
        }
        spans
    }

    /// The span in slot `index`, if one is held there.
    pub(crate) fn get(&self, index: u32) -> Option<&Span> {
        self.chunks
            .get((index >> CHUNK_BITS) as usize)?
            .get((index & CHUNK_MASK) as usize)?
            .span
            .as_ref()
    }

    /// Spans held.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Bytes of slots allocated, held or free.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<Slot>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<Slot>>()
    }

    fn slot_mut(&mut self, index: u32) -> Option<&mut Slot> {
        self.chunks
            .get_mut((index >> CHUNK_BITS) as usize)?
            .get_mut((index & CHUNK_MASK) as usize)
    }
}

/// The size of a slot beyond its span: the chain link, padded.
pub(crate) const SLOT_OVERHEAD: usize = std::mem::size_of::<Slot>() - std::mem::size_of::<Span>();
