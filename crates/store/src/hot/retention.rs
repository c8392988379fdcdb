//! Which blocks to delete: by age, then by size, oldest first ([`plan`]).
//!
//! A block's age is the time since it was written (the time in its ULID name, so it survives
//! restarts), not its spans' start times, which clients set. Blocks of all tenants share one
//! disk bound, so the plan looks at them together, oldest first.

/// Why a block was evicted: the `reason` label of
/// `tracegate_hot_store_evicted_blocks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Older than `retention`.
    Age,
    /// The store was over `max_bytes`.
    Size,
}

impl Reason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Size => "size",
        }
    }
}

/// One block as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aged {
    /// When it was written, ms since the epoch.
    pub written_ms: u64,
    /// Its size on disk.
    pub bytes: u64,
}

/// The blocks to evict, as (position in `blocks`, reason), oldest first. `blocks` must be
/// sorted oldest first. A block is too old when it was written `retention_ms` or more before
/// `now_ms`; after those, the oldest blocks go until the rest fit in `max_bytes`.
pub fn plan(
    blocks: &[Aged],
    now_ms: u64,
    retention_ms: u64,
    max_bytes: u64,
) -> Vec<(usize, Reason)> {
    let mut evict = Vec::new();
    let mut total: u64 = blocks.iter().map(|b| b.bytes).sum();
    for (i, block) in blocks.iter().enumerate() {
        let reason = if now_ms.saturating_sub(block.written_ms) >= retention_ms {
            Reason::Age
        } else if total > max_bytes {
            Reason::Size
        } else {
            break;
        };
        total -= block.bytes;
        evict.push((i, reason));
    }
    evict
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aged(written_ms: u64, bytes: u64) -> Aged {
        Aged { written_ms, bytes }
    }

    #[test]
    fn golden_age_then_size() {
        let blocks = [aged(0, 10), aged(5, 10), aged(10, 10), aged(20, 10)];
        // At 16 with retention 10: blocks written at 0 and 5 are too old; 20 bytes are
        // left, and a bound of 15 takes the next oldest.
        assert_eq!(
            plan(&blocks, 16, 10, 15),
            [(0, Reason::Age), (1, Reason::Age), (2, Reason::Size)]
        );
        assert_eq!(plan(&blocks, 16, 100, 40), []);
        assert_eq!(plan(&blocks, 16, 100, 39), [(0, Reason::Size)]);
        assert_eq!(plan(&blocks, 30, 11, 100).len(), 3);
        assert_eq!(
            plan(&blocks, 30, 10, 100).len(),
            4,
            "an age equal to the retention is too old"
        );
        assert_eq!(plan(&[], 30, 10, 0), []);
    }

    proptest! {
        #[test]
        fn evicts_a_prefix_leaving_young_blocks_within_the_bound(
            mut times in proptest::collection::vec(0u64..1_000, 0..40),
            sizes in proptest::collection::vec(1u64..100, 40),
            now in 0u64..2_000, retention in 1u64..1_000, max in 0u64..2_000,
        ) {
            times.sort_unstable();
            let blocks: Vec<_> = times.iter().zip(&sizes).map(|(&t, &b)| aged(t, b)).collect();
            let got = plan(&blocks, now, retention, max);
            // A prefix, in order.
            for (k, (i, _)) in got.iter().enumerate() {
                prop_assert_eq!(*i, k);
            }
            let kept = &blocks[got.len()..];
            prop_assert!(kept.iter().map(|b| b.bytes).sum::<u64>() <= max);
            prop_assert!(kept.iter().all(|b| now.saturating_sub(b.written_ms) < retention));
            // Nothing evicted that both rules would keep: the last evicted was needed.
            if let Some(&(i, Reason::Size)) = got.last() {
                let without: u64 = blocks[i..].iter().map(|b| b.bytes).sum();
                prop_assert!(without > max);
            }
        }
    }
}
