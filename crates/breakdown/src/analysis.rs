//! The analysis itself: tree, clock skew, self time, network gaps, critical path, LLM stages.
//!
//! Everything is index-based over flat arrays (children in one CSR array), walks are
//! iterative (a 100,000-deep chain does not touch the call stack), and the only super-linear
//! steps are sorts (span ids, and each span's children): O(n log n) for the trace. Each
//! call makes about a dozen allocations, whatever the trace's size.

use crate::category::{Category, categorize};
use std::cmp::Reverse;
use tracegate_genai::ttft::{self, TtftSource};
use tracegate_model::{Span, SpanId, SpanKind};

/// Marks an absent parent or child in the index arrays.
const NONE: usize = usize::MAX;

/// What the analysis may do beyond the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Shift a server subtree that lies outside its client span to fit inside it.
    pub clock_skew_adjustment: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock_skew_adjustment: true,
        }
    }
}

/// An LLM call split into time to first token and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmStages {
    /// Span start to first token, ns.
    pub prefill_ns: u64,
    /// First token to span end, ns.
    pub decode_ns: u64,
    /// Where the time to first token came from.
    pub source: TtftSource,
}

/// The facts about one span, at the span's index in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanBreakdown {
    /// The span's category, from the category table.
    pub category: Category,
    /// The category of the span's critical-path time: [`Category::Network`] for a CLIENT span
    /// calling a SERVER span in another service, otherwise `category`.
    pub path_category: Category,
    /// Duration minus the union of the children's intervals clipped to the span, ns.
    pub self_time_ns: u64,
    /// The span's share of the critical path, ns.
    pub critical_path_ns: u64,
    /// Prefill and decode for an LLM span that streamed; `None` otherwise.
    pub llm: Option<LlmStages>,
    /// On a SERVER span called by a CLIENT span of another service: the client's time
    /// outside its server spans (network and queueing), shared out between them.
    pub network_ns: Option<u64>,
    /// Shift applied to the span's times to undo clock skew, ns (0: none). Saturates at the
    /// `i64` range; the span is never moved before 0 or past `u64::MAX` (its duration is kept).
    pub skew_adjusted_ns: i64,
    /// Start after skew adjustment, ns since the epoch.
    pub start_ns: u64,
    /// End after skew adjustment (never before the start), ns since the epoch.
    pub end_ns: u64,
    /// The parent's index in the tree; `None` for the root and for spans under the virtual
    /// root.
    pub parent: Option<usize>,
    /// Depth in the tree: 0 for the root and for spans under the virtual root.
    pub depth: u32,
    /// The parent id names no span of the trace; the span hangs under the root.
    pub orphan: bool,
    /// The span's parent link closed a cycle and was cut; the span hangs under the root.
    pub cycle_broken: bool,
    /// Another span of the trace has the same id and was preferred as the parent of spans
    /// naming that id.
    pub duplicate_id: bool,
}

/// One piece of the critical path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The span on the path; `None` for the virtual root.
    pub span: Option<usize>,
    /// Start, ns since the epoch.
    pub start_ns: u64,
    /// End, ns since the epoch.
    pub end_ns: u64,
    /// The category the time counts under.
    pub category: Category,
}

/// The latency breakdown of one trace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Breakdown {
    /// Per span, in input order.
    pub spans: Vec<SpanBreakdown>,
    /// The critical path in time order. Consecutive segments touch, and together they cover
    /// `start_ns..end_ns` exactly.
    pub segments: Vec<Segment>,
    /// Span indices in tree order (depth first, children by start time), for display.
    pub order: Vec<usize>,
    /// The root's index; `None` when the trace has no single root and a virtual root spans
    /// all of it.
    pub root: Option<usize>,
    /// Start of the analysed window (the root's start), ns since the epoch.
    pub start_ns: u64,
    /// End of the analysed window (the root's end), ns since the epoch.
    pub end_ns: u64,
    /// Critical-path ns per category, indexed by [`Category::index`]. Sums to
    /// [`Breakdown::duration_ns`].
    pub by_category: [u64; Category::COUNT],
}

impl Breakdown {
    /// The root's duration (of the virtual root: first start to last end), which the
    /// critical path covers exactly.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }

    /// Critical-path ns of one category.
    pub fn category_ns(&self, category: Category) -> u64 {
        self.by_category[category.index()]
    }
}

/// Per-node working state: one allocation for the whole trace, not one per field.
#[derive(Debug, Clone, Copy)]
struct Node {
    parent: usize,
    start: u64,
    end: u64,
    clip_start: u64,
    clip_end: u64,
    shift: i64,
    self_time: u64,
    critical: u64,
    network: Option<u64>,
    cursor: usize,
    depth: u32,
    category: Category,
    path_category: Category,
    flags: u8,
}

const DUPLICATE: u8 = 1;
const ORPHAN: u8 = 2;
const CYCLE_BROKEN: u8 = 4;
const DROPPED: u8 = 8;
const ON_WALK: u8 = 16;
const WALKED: u8 = 32;

impl Node {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Analyses a trace's spans (in any order; the result does not depend on it).
pub fn analyze(spans: &[Span], options: &Options) -> Breakdown {
    let n = spans.len();
    if n == 0 {
        return Breakdown::default();
    }
    let virt = n;
    let mut nodes: Vec<Node> = spans
        .iter()
        .map(|s| Node {
            parent: NONE,
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano.max(s.start_time_unix_nano),
            clip_start: 0,
            clip_end: 0,
            shift: 0,
            self_time: 0,
            critical: 0,
            network: None,
            cursor: 0,
            depth: 0,
            category: categorize(s),
            path_category: Category::Other,
            flags: 0,
        })
        .collect();
    nodes.push(Node {
        start: 0,
        end: 0,
        category: Category::Other,
        ..nodes[0]
    });

    // 1. Resolve ids through a sorted index. With duplicates, the earliest (then longest)
    //    span owns the id.
    let mut ids: Vec<(SpanId, usize)> = spans.iter().map(|s| s.span_id).zip(0..).collect();
    ids.sort_unstable_by(|a, b| {
        (a.0, canonical_key(&spans[a.1])).cmp(&(b.0, canonical_key(&spans[b.1])))
    });
    for w in ids.windows(2) {
        if w[0].0 == w[1].0 {
            nodes[w[1].1].flags |= DUPLICATE;
        }
    }
    ids.dedup_by_key(|e| e.0);
    for (i, s) in spans.iter().enumerate() {
        if let Some(p) = s.parent_span_id {
            match ids.binary_search_by_key(&p, |e| e.0) {
                Ok(k) => nodes[i].parent = ids[k].1,
                Err(_) => nodes[i].flags |= ORPHAN,
            }
        }
    }

    // 2. Break parent cycles: in each, cut the link of the earliest span (then lowest id).
    let mut stack: Vec<usize> = Vec::with_capacity(n.min(64));
    for i in 0..n {
        let mut cur = i;
        while cur != NONE && nodes[cur].flags & (ON_WALK | WALKED) == 0 {
            nodes[cur].flags |= ON_WALK;
            stack.push(cur);
            cur = nodes[cur].parent;
        }
        if cur != NONE && nodes[cur].has(ON_WALK) {
            let from = stack.iter().rposition(|&x| x == cur).unwrap_or(0);
            let cut = stack[from..]
                .iter()
                .copied()
                .min_by_key(|&x| (spans[x].start_time_unix_nano, spans[x].span_id));
            if let Some(cut) = cut {
                nodes[cut].parent = NONE;
                nodes[cut].flags |= CYCLE_BROKEN;
            }
        }
        for &x in &stack {
            nodes[x].flags = (nodes[x].flags & !ON_WALK) | WALKED;
        }
        stack.clear();
    }

    // 3. The root: the one span with no parent id, or a virtual root over several (or none).
    let mut roots =
        (0..n).filter(|&i| nodes[i].parent == NONE && spans[i].parent_span_id.is_none());
    let root = match (roots.next(), roots.next()) {
        (Some(r), None) => r,
        _ => virt,
    };
    for (i, node) in nodes[..n].iter_mut().enumerate() {
        if node.parent == NONE && i != root {
            node.parent = root;
        }
    }

    // 4. Children in one CSR array.
    let mut offsets = vec![0usize; n + 2];
    for node in &nodes[..n] {
        if node.parent != NONE {
            offsets[node.parent + 1] += 1;
        }
    }
    for k in 1..offsets.len() {
        offsets[k] += offsets[k - 1];
    }
    let mut children = vec![0usize; offsets[n + 1]];
    for (p, node) in nodes.iter_mut().enumerate() {
        node.cursor = offsets[p];
    }
    for i in 0..n {
        let p = nodes[i].parent;
        if p != NONE {
            children[nodes[p].cursor] = i;
            nodes[p].cursor += 1;
        }
    }
    let kids = |p: usize| offsets[p]..offsets[p + 1];

    // 5. Clock skew, undone top-down so a shift carries to the whole subtree.
    stack.push(root);
    while let Some(p) = stack.pop() {
        let (ps, pe, pshift, pdepth) =
            (nodes[p].start, nodes[p].end, nodes[p].shift, nodes[p].depth);
        for k in kids(p) {
            let c = children[k];
            let node = &mut nodes[c];
            node.depth = if p == virt { 0 } else { pdepth + 1 };
            let length = node.end - node.start;
            let mut delta = pshift;
            if options.clock_skew_adjustment && p != virt && is_rpc(&spans[p], &spans[c]) {
                // Outside the client where the inherited shift would place it: the server's
                // own shift replaces it (computed from the original start, so no sum of
                // shifts can overflow).
                let at = place(node.start, length, delta);
                if at < ps || at + length > pe {
                    delta = skew(ps, pe, node.start, length);
                }
            }
            if delta != 0 {
                node.start = place(node.start, length, delta);
                node.end = node.start + length;
                node.shift = delta;
            }
            stack.push(c);
        }
    }
    if root == virt {
        nodes[virt].start = nodes[..n].iter().map(|x| x.start).min().unwrap_or(0);
        nodes[virt].end = nodes[..n].iter().map(|x| x.end).max().unwrap_or(0);
    }

    // 6. Children by start (then id), and the display order.
    let id_of = |i: usize| spans.get(i).map(|s| s.span_id).unwrap_or_default();
    for p in 0..=n {
        let range = kids(p);
        if range.len() > 1 {
            children[range].sort_unstable_by_key(|&c| (nodes[c].start, nodes[c].end, id_of(c), c));
        }
    }
    let mut order = Vec::with_capacity(n + 1);
    stack.push(root);
    while let Some(p) = stack.pop() {
        order.push(p);
        stack.extend(children[kids(p)].iter().rev());
    }

    // 7. Self time: duration minus the union of the children clipped to the span.
    for p in 0..=n {
        let (s, e) = (nodes[p].start, nodes[p].end);
        let mut covered = 0;
        let mut run: Option<(u64, u64)> = None;
        for &c in &children[kids(p)] {
            let (cs, ce) = (nodes[c].start.max(s), nodes[c].end.min(e));
            if ce <= cs {
                continue;
            }
            run = match run {
                Some((rs, re)) if cs <= re => Some((rs, re.max(ce))),
                Some((rs, re)) => {
                    covered += re - rs;
                    Some((cs, ce))
                }
                None => Some((cs, ce)),
            };
        }
        if let Some((rs, re)) = run {
            covered += re - rs;
        }
        nodes[p].self_time = (e - s).saturating_sub(covered);
        nodes[p].path_category = nodes[p].category;
    }

    // 8. Network gaps: a CLIENT's time outside the SERVER spans it called in another
    //    service, shared out as the gap before each server (the last also takes the gap
    //    after).
    for p in 0..n {
        if spans[p].kind != SpanKind::Client {
            continue;
        }
        let (s, e) = (nodes[p].start, nodes[p].end);
        let mut covered_until = s;
        let mut last = NONE;
        for &c in &children[kids(p)] {
            if !is_cross_service_rpc(&spans[p], &spans[c]) {
                continue;
            }
            let cs = nodes[c].start.clamp(s, e);
            let ce = nodes[c].end.clamp(cs, e);
            nodes[c].network = Some(cs.saturating_sub(covered_until));
            covered_until = covered_until.max(ce);
            last = c;
        }
        if last != NONE {
            nodes[last].network = nodes[last].network.map(|gap| gap + (e - covered_until));
            nodes[p].path_category = Category::Network;
        }
    }

    // 9. Critical path. Clip children to their (clipped) parent and drop those entirely
    //    outside it; then walk back from the root's end, each time entering the
    //    last-finishing child that ends at or before the current point (ties: earliest start,
    //    then span id). Each child is considered once, so the walk is linear.
    nodes[root].clip_start = nodes[root].start;
    nodes[root].clip_end = nodes[root].end;
    for &p in &order {
        let (ps, pe, pdropped) = (
            nodes[p].clip_start,
            nodes[p].clip_end,
            nodes[p].has(DROPPED),
        );
        for k in kids(p) {
            let c = &mut nodes[children[k]];
            if pdropped || c.end < ps || c.start > pe {
                c.flags |= DROPPED;
            } else {
                c.clip_start = c.start.max(ps);
                c.clip_end = c.end.min(pe);
            }
        }
    }
    for p in 0..=n {
        let range = kids(p);
        if range.len() > 1 {
            children[range].sort_unstable_by_key(|&c| {
                let x = &nodes[c];
                (
                    x.has(DROPPED),
                    Reverse(x.clip_end),
                    x.clip_start,
                    id_of(c),
                    c,
                )
            });
        }
        nodes[p].cursor = offsets[p];
    }
    let mut segments = Vec::with_capacity(2 * n + 1);
    let mut by_category = [0u64; Category::COUNT];
    let mut push = |nodes: &mut [Node], node: usize, from: u64, to: u64| {
        if to > from {
            nodes[node].critical += to - from;
            let category = nodes[node].path_category;
            by_category[category.index()] += to - from;
            segments.push(Segment {
                span: (node != virt).then_some(node),
                start_ns: from,
                end_ns: to,
                category,
            });
        }
    };
    let mut node = root;
    let mut t = nodes[root].clip_end;
    loop {
        let mut pick = NONE;
        while nodes[node].cursor < offsets[node + 1] {
            let c = children[nodes[node].cursor];
            nodes[node].cursor += 1;
            if !nodes[c].has(DROPPED) && nodes[c].clip_end <= t {
                pick = c;
                break;
            }
        }
        if pick != NONE {
            let to = nodes[pick].clip_end;
            push(&mut nodes, node, to, t);
            t = to;
            node = pick;
        } else {
            let from = nodes[node].clip_start;
            push(&mut nodes, node, from, t);
            t = from;
            if node == root || nodes[node].parent == NONE {
                break;
            }
            node = nodes[node].parent;
        }
    }
    segments.reverse();

    // 10. LLM stages, and the result.
    let out = spans
        .iter()
        .zip(&nodes)
        .map(|(span, x)| {
            let llm = (x.category == Category::Llm)
                .then(|| ttft::extract(span))
                .flatten()
                .map(|t| LlmStages {
                    prefill_ns: t.ns,
                    decode_ns: span.duration_ns().saturating_sub(t.ns),
                    source: t.source,
                });
            SpanBreakdown {
                category: x.category,
                path_category: x.path_category,
                self_time_ns: x.self_time,
                critical_path_ns: x.critical,
                llm,
                network_ns: x.network,
                skew_adjusted_ns: x.shift,
                start_ns: x.start,
                end_ns: x.end,
                parent: (x.parent != virt && x.parent != NONE).then_some(x.parent),
                depth: x.depth,
                orphan: x.has(ORPHAN),
                cycle_broken: x.has(CYCLE_BROKEN),
                duplicate_id: x.has(DUPLICATE),
            }
        })
        .collect();
    order.retain(|&i| i != virt);
    Breakdown {
        spans: out,
        segments,
        order,
        root: (root != virt).then_some(root),
        start_ns: nodes[root].start,
        end_ns: nodes[root].end,
        by_category,
    }
}

/// Which of several spans sharing an id owns it: the earliest, then the longest, then by
/// name and kind, so the choice does not depend on arrival order.
fn canonical_key(s: &Span) -> (u64, Reverse<u64>, &str, i32) {
    (
        s.start_time_unix_nano,
        Reverse(s.end_time_unix_nano),
        s.name.as_str(),
        s.kind as i32,
    )
}

/// A CLIENT span with a SERVER child: one hop of a remote call, where two clocks meet.
fn is_rpc(client: &Span, server: &Span) -> bool {
    client.kind == SpanKind::Client && server.kind == SpanKind::Server
}

/// A remote call into another service, whose gap is network and queueing.
fn is_cross_service_rpc(client: &Span, server: &Span) -> bool {
    is_rpc(client, server)
        && !std::sync::Arc::ptr_eq(&client.resource, &server.resource)
        && client.service_name() != server.service_name()
}

/// Where a span starting at `start` and `length` long lands when shifted by `delta`: the
/// shift saturates at 0 and where the end would pass `u64::MAX`, so the duration is kept.
fn place(start: u64, length: u64, delta: i64) -> u64 {
    start.saturating_add_signed(delta).min(u64::MAX - length)
}

/// The shift that moves a server span starting at `start` and `length` long inside its client
/// span `[ps, pe]`, as Jaeger's clock-skew adjuster does: centred, so the network time is
/// split evenly between request and response; a server longer than its client is aligned on
/// the client's start. Computed exactly, then saturated to the `i64` range (a shift of more
/// than 292 years is not a clock skew anyone can undo).
fn skew(ps: u64, pe: u64, start: u64, length: u64) -> i64 {
    let client = pe - ps;
    let target = if length > client {
        ps
    } else {
        ps + (client - length) / 2
    };
    let shift = i128::from(target) - i128::from(start);
    i64::try_from(shift).unwrap_or(if shift < 0 { i64::MIN } else { i64::MAX })
}
