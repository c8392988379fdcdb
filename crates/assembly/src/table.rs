//! The traces a shard holds, and the two orders their deadlines come due in.
//!
//! Both deadlines grow with the clock: `max_wait` runs from a trace's first span and
//! `idle_after_root` from its last, and the clock never goes back. So traces ordered by first
//! span are ordered by `max_wait` deadline, and rooted traces ordered by last span are ordered
//! by idle deadline. Each order is an intrusive doubly linked list through the trace records:
//! a span moves its trace to the end of the idle list, a release unlinks it, and the next
//! deadline is at the front of one of the two lists, all in O(1). The first-span list is also
//! the eviction order: its front is the oldest trace.

use crate::arena::NIL;
use tracegate_model::TraceId;

/// One held trace. Its spans are a chain in the [`SpanArena`](crate::arena::SpanArena).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    pub(crate) trace_id: TraceId,
    /// When the first span arrived.
    pub(crate) first_ns: u64,
    /// When the last span arrived.
    pub(crate) last_ns: u64,
    /// Estimated bytes of the spans held, with the resources and scopes they keep alive.
    pub(crate) bytes: usize,
    /// First and last slot of the span chain.
    pub(crate) head: u32,
    pub(crate) tail: u32,
    /// Spans held.
    pub(crate) spans: u32,
    age: Link,
    idle: Link,
    /// A root span (no parent) has arrived: the trace is in the idle list.
    pub(crate) has_root: bool,
    live: bool,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

#[derive(Debug, Clone, Copy)]
enum Order {
    /// By first span: `max_wait` deadlines and eviction.
    Age,
    /// Rooted traces by last span: idle deadlines.
    Idle,
}

/// Trace records in a slab, with a free list threaded through the age links.
#[derive(Debug)]
pub(crate) struct TraceTable {
    slots: Vec<Held>,
    free: u32,
    len: usize,
    age: List,
    idle: List,
}

impl Default for TraceTable {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: NIL,
            len: 0,
            age: EMPTY,
            idle: EMPTY,
        }
    }
}

impl TraceTable {
    /// Holds a new trace whose first span arrives at `now_ns`, as the youngest. Returns its
    /// index, or `None` when every index is in use.
    pub(crate) fn insert(&mut self, trace_id: TraceId, now_ns: u64) -> Option<u32> {
        let record = Held {
            trace_id,
            first_ns: now_ns,
            last_ns: now_ns,
            bytes: 0,
            head: NIL,
            tail: NIL,
            spans: 0,
            age: UNLINKED,
            idle: UNLINKED,
            has_root: false,
            live: true,
        };
        let index = if self.free != NIL {
            let index = self.free;
            let slot = self.slots.get_mut(index as usize)?;
            self.free = slot.age.next;
            *slot = record;
            index
        } else {
            let index = u32::try_from(self.slots.len()).ok().filter(|&i| i != NIL)?;
            self.slots.push(record);
            index
        };
        self.len += 1;
        self.push_back(Order::Age, index);
        Some(index)
    }

    pub(crate) fn get(&self, index: u32) -> Option<&Held> {
        self.slots.get(index as usize).filter(|h| h.live)
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut Held> {
        self.slots.get_mut(index as usize).filter(|h| h.live)
    }

    /// A span of the trace arrived at `now_ns`. A rooted trace moves to the end of the idle
    /// order.
    pub(crate) fn touch(&mut self, index: u32, now_ns: u64, root_arrived: bool) {
        let Some(held) = self.get_mut(index) else {
            return;
        };
        held.last_ns = now_ns;
        let was_rooted = held.has_root;
        held.has_root |= root_arrived;
        if !held.has_root {
            return;
        }
        if was_rooted {
            if self.idle.tail == index {
                return;
            }
            self.unlink(Order::Idle, index);
        }
        self.push_back(Order::Idle, index);
    }

    /// Stops holding a trace, returning its record.
    pub(crate) fn remove(&mut self, index: u32) -> Option<Held> {
        let held = *self.get(index)?;
        self.unlink(Order::Age, index);
        if held.has_root {
            self.unlink(Order::Idle, index);
        }
        let free = self.free;
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.live = false;
            slot.age.next = free;
        }
        self.free = index;
        self.len -= 1;
        Some(held)
    }

    /// The trace whose first span came earliest: the next `max_wait` deadline, and the first
    /// to evict.
    pub(crate) fn oldest(&self) -> Option<(u32, &Held)> {
        let index = self.age.head;
        self.get(index).map(|h| (index, h))
    }

    /// The rooted trace whose last span came earliest: the next idle deadline.
    pub(crate) fn idlest(&self) -> Option<(u32, &Held)> {
        let index = self.idle.head;
        self.get(index).map(|h| (index, h))
    }

    /// Traces held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of trace records allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Held>()
    }

    fn link_mut(&mut self, order: Order, index: u32) -> Option<&mut Link> {
        let held = self.slots.get_mut(index as usize)?;
        Some(match order {
            Order::Age => &mut held.age,
            Order::Idle => &mut held.idle,
        })
    }

    fn list_mut(&mut self, order: Order) -> &mut List {
        match order {
            Order::Age => &mut self.age,
            Order::Idle => &mut self.idle,
        }
    }

    fn push_back(&mut self, order: Order, index: u32) {
        let tail = self.list_mut(order).tail;
        if let Some(link) = self.link_mut(order, index) {
            *link = Link {
                prev: tail,
                next: NIL,
            };
        }
        match self.link_mut(order, tail) {
            Some(link) => link.next = index,
            None => self.list_mut(order).head = index,
        }
        self.list_mut(order).tail = index;
    }

    fn unlink(&mut self, order: Order, index: u32) {
        let Some(link) = self.link_mut(order, index) else {
            return;
        };
        let Link { prev, next } = std::mem::replace(link, UNLINKED);
        match self.link_mut(order, prev) {
            Some(link) => link.next = next,
            None => self.list_mut(order).head = next,
        }
        match self.link_mut(order, next) {
            Some(link) => link.prev = prev,
            None => self.list_mut(order).tail = prev,
        }
    }
}

#[cfg(test)]
impl TraceTable {
    /// Checks the lists against the records: every live trace once in the age list in
    /// first-span order, exactly the rooted ones in the idle list in last-span order.
    pub(crate) fn check(&self) {
        let walk = |order: Order, list: List| {
            let mut out = Vec::new();
            let mut prev = NIL;
            let mut i = list.head;
            while i != NIL {
                let h = &self.slots[i as usize];
                assert!(h.live, "{order:?} list holds a free slot");
                let link = match order {
                    Order::Age => h.age,
                    Order::Idle => h.idle,
                };
                assert_eq!(link.prev, prev, "{order:?} prev link broken");
                out.push(i);
                prev = i;
                i = link.next;
            }
            assert_eq!(list.tail, prev, "{order:?} tail wrong");
            out
        };
        let age = walk(Order::Age, self.age);
        let idle = walk(Order::Idle, self.idle);
        assert_eq!(age.len(), self.len);
        assert!(
            age.windows(2)
                .all(|w| self.slots[w[0] as usize].first_ns <= self.slots[w[1] as usize].first_ns)
        );
        assert!(
            idle.windows(2)
                .all(|w| self.slots[w[0] as usize].last_ns <= self.slots[w[1] as usize].last_ns)
        );
        let rooted = self.slots.iter().filter(|h| h.live && h.has_root).count();
        assert_eq!(idle.len(), rooted, "idle list and rooted traces differ");
    }
}
