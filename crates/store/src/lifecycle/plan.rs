//! The pure core of the lifecycle: an object's age → what to do with it.
//!
//! An object's age is the time since the end of the hour partition its key names
//! (`…/dt=2026-09-01/hour=13/…` ends at 14:00 UTC that day). [`decide`] turns an age into a
//! [`Decision`]; the runner (`run.rs`) lists the objects, asks the store which cold
//! candidates moved already, and builds a [`Plan`] of [`Action`]s, oldest first.

use super::config::{LifecycleConfig, StorageClass};
use crate::layout::HourPartition;
use object_store::path::Path;
use std::time::Duration;

/// What an object's age calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Young enough to stay where it is (hot or warm).
    Keep,
    /// Old enough for the cold storage class.
    Cold,
    /// Past retention.
    Delete,
}

/// The age rules of one archive, from [`LifecycleConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Age to move to `cold_class`; `None`: never (and always on a local archive).
    pub cold_after: Option<Duration>,
    /// The cold tier's storage class.
    pub cold_class: StorageClass,
    /// Age to delete; `None`: never.
    pub delete_after: Option<Duration>,
    /// Age past which an hour gets no new files: the archive's `past_window` plus the hour
    /// itself. Only hours this old count as settled for the run's watermark (`run.rs`).
    pub settled_after: Duration,
}

impl Rules {
    /// The rules of `config`; `storage_classes` is false for a local archive, whose files
    /// have none (only deletion applies). The archive's default `past_window` (7d) sets
    /// [`Rules::settled_after`]; [`Rules::with_past_window`] sets another.
    pub fn new(config: &LifecycleConfig, storage_classes: bool) -> Self {
        Self {
            settled_after: Duration::from_secs(8 * 86_400),
            cold_after: config
                .cold_after
                .filter(|_| storage_classes)
                .map(|d| d.get()),
            cold_class: config.cold_storage_class,
            delete_after: config.delete_after.map(|d| d.get()),
        }
    }

    /// The same, for an archive whose `past_window` is `past_window`.
    pub fn with_past_window(mut self, past_window: Duration) -> Self {
        self.settled_after = past_window.saturating_add(Duration::from_secs(3_600));
        self
    }
}

/// The age at `now_secs` (Unix seconds) of the objects of `hour`: the time since the hour
/// ended, zero for an hour not yet over (or in the future).
pub fn age(hour: HourPartition, now_secs: u64) -> Duration {
    let end = (hour.hours_since_epoch() + 1).saturating_mul(3_600);
    Duration::from_secs(now_secs.saturating_sub(end))
}

/// What to do with an object of `hour` at `now_secs`: deletion wins over the cold tier.
pub fn decide(rules: &Rules, hour: HourPartition, now_secs: u64) -> Decision {
    let age = age(hour, now_secs);
    if rules.delete_after.is_some_and(|d| age >= d) {
        Decision::Delete
    } else if rules.cold_after.is_some_and(|c| age >= c) {
        Decision::Cold
    } else {
        Decision::Keep
    }
}

/// What one action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Rewrite the object with this storage class.
    Transition(StorageClass),
    /// Delete the object.
    Delete,
}

impl ActionKind {
    /// `transition` or `delete`, the metrics' `action` label.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Transition(_) => "transition",
            ActionKind::Delete => "delete",
        }
    }
}

/// One object to move or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The object.
    pub path: Path,
    /// Its size when planned; a transition of an object whose size changed since is skipped.
    pub size: u64,
    /// Its hour partition.
    pub hour: HourPartition,
    /// Its age when planned.
    pub age: Duration,
    /// What to do.
    pub kind: ActionKind,
}

/// What a lifecycle run would do, and what it leaves alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The clock the plan was made at (Unix seconds).
    pub now_secs: u64,
    /// The moves and deletions, oldest hour first (then by path), at most the run's
    /// `max_actions_per_run`.
    pub actions: Vec<Action>,
    /// Actions left for a later run (past `max_actions_per_run`).
    pub deferred: usize,
    /// Objects kept as they are, young enough: their count and bytes.
    pub kept: Tally,
    /// Objects in the cold storage class already.
    pub cold: Tally,
    /// Objects whose key names no hour partition (not the archive's own): left alone.
    pub foreign: Tally,
    /// Whether transitions were considered: false on a local archive or with
    /// `cold_after: null`.
    pub transitions: bool,
}

/// A count of objects and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Tally {
    /// Counts one object of `bytes`.
    pub fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }
}

impl Plan {
    /// The actions of `kind`'s sort (transitions or deletions) and their bytes.
    pub fn tally(&self, delete: bool) -> Tally {
        let mut t = Tally::default();
        for a in &self.actions {
            if matches!(a.kind, ActionKind::Delete) == delete {
                t.add(a.size);
            }
        }
        t
    }

    /// Orders the actions oldest first and keeps at most `max`, counting the rest as
    /// deferred.
    pub fn bound(&mut self, max: usize) {
        self.actions
            .sort_by(|a, b| (a.hour, &a.path).cmp(&(b.hour, &b.path)));
        if self.actions.len() > max {
            self.deferred += self.actions.len() - max;
            self.actions.truncate(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::hour_of_path;
    use proptest::prelude::*;

    const DAY: u64 = 86_400;

    fn rules(cold: Option<u64>, delete: Option<u64>) -> Rules {
        Rules {
            cold_after: cold.map(|d| Duration::from_secs(d * DAY)),
            cold_class: StorageClass::GlacierIr,
            delete_after: delete.map(|d| Duration::from_secs(d * DAY)),
            settled_after: Duration::ZERO,
        }
    }

    /// 2026-09-01T14:00:00Z, the end of hour 13 that day.
    const END_OF_13: u64 = 1_788_271_200;

    #[test]
    fn golden_ages_are_counted_from_the_end_of_the_hour() {
        let hour = hour_of_path("spans/dt=2026-09-01/hour=13/a.parquet").unwrap();
        assert_eq!(
            age(hour, END_OF_13 - 1),
            Duration::ZERO,
            "the hour is not over"
        );
        assert_eq!(age(hour, END_OF_13), Duration::ZERO);
        assert_eq!(age(hour, END_OF_13 + 90), Duration::from_secs(90));
        let r = rules(Some(90), Some(400));
        assert_eq!(decide(&r, hour, END_OF_13 + 90 * DAY - 1), Decision::Keep);
        assert_eq!(decide(&r, hour, END_OF_13 + 90 * DAY), Decision::Cold);
        assert_eq!(decide(&r, hour, END_OF_13 + 400 * DAY - 1), Decision::Cold);
        assert_eq!(decide(&r, hour, END_OF_13 + 400 * DAY), Decision::Delete);
        assert_eq!(
            decide(&rules(None, None), hour, u64::MAX),
            Decision::Keep,
            "no rules, nothing ever moves"
        );
    }

    #[test]
    fn a_local_archive_only_deletes() {
        let config = LifecycleConfig {
            delete_after: Some(tracegate_pipeline::Duration::from_secs(400 * DAY)),
            ..LifecycleConfig::default()
        };
        let local = Rules::new(&config, false);
        assert_eq!(local.cold_after, None);
        assert_eq!(local.delete_after, Some(Duration::from_secs(400 * DAY)));
        assert_eq!(
            Rules::new(&config, true).cold_after,
            Some(Duration::from_secs(90 * DAY))
        );
    }

    #[test]
    fn bound_keeps_the_oldest_and_counts_the_rest() {
        let action = |path: &str| Action {
            path: Path::from(path),
            size: 1,
            hour: hour_of_path(path).unwrap(),
            age: Duration::ZERO,
            kind: ActionKind::Delete,
        };
        let mut plan = Plan {
            actions: vec![
                action("s/dt=2026-01-02/hour=00/b"),
                action("s/dt=2026-01-01/hour=05/z"),
                action("s/dt=2026-01-01/hour=05/a"),
            ],
            ..Plan::default()
        };
        plan.bound(2);
        let paths: Vec<&str> = plan.actions.iter().map(|a| a.path.as_ref()).collect();
        assert_eq!(
            paths,
            ["s/dt=2026-01-01/hour=05/a", "s/dt=2026-01-01/hour=05/z"]
        );
        assert_eq!(plan.deferred, 1);
    }

    proptest! {
        /// As the clock moves on, an object only ever goes Keep → Cold → Delete.
        #[test]
        fn decisions_never_go_back(
            hour in 0u64..1_000_000,
            cold in proptest::option::of(1u64..500),
            extra in proptest::option::of(1u64..500),
            t1 in 0u64..5_000_000_000,
            dt in 0u64..1_000_000_000,
        ) {
            let delete = extra.map(|e| cold.unwrap_or(0) + e);
            let r = rules(cold, delete);
            let h = HourPartition::of_unix_nanos(hour * 3_600 * 1_000_000_000);
            let rank = |d: Decision| match d { Decision::Keep => 0, Decision::Cold => 1, Decision::Delete => 2 };
            let (a, b) = (decide(&r, h, t1), decide(&r, h, t1 + dt));
            prop_assert!(rank(a) <= rank(b), "{a:?} at {t1}, then {b:?} at {}", t1 + dt);
            // And each decision is exactly what the ages say.
            let age = age(h, t1).as_secs();
            let expected = if delete.is_some_and(|d| age >= d * DAY) {
                Decision::Delete
            } else if cold.is_some_and(|c| age >= c * DAY) {
                Decision::Cold
            } else {
                Decision::Keep
            };
            prop_assert_eq!(a, expected);
        }
    }
}
