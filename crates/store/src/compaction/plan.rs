//! The pure core: which hours are due, and what to do with an hour's files.

use super::record::{Record, is_data_file, visible};
use crate::layout::HourPartition;

/// A file of an hour directory: its name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The name in the hour directory.
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// What a run does with one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourPlan {
    /// The files to merge, oldest name first (empty: nothing to merge).
    pub inputs: Vec<FileEntry>,
    /// Their bytes.
    pub input_bytes: u64,
    /// Files no reader counts that are still there: replaced files the last commit did not
    /// get to delete, and compacted files no commit names (a crash before its commit).
    /// Deleted under the lease.
    pub garbage: Vec<String>,
    /// Files counted and left as they are (large enough already).
    pub kept: usize,
}

impl HourPlan {
    /// Whether there is anything to do.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.garbage.is_empty()
    }
}

/// Plans an hour whose directory holds `files` (every file, data or not) and whose record
/// is `record`: the small files counted (under half of `target`) are merged, at most
/// `max_inputs` of them, when there are at least two.
pub fn plan_hour(
    files: &[FileEntry],
    record: Option<&Record>,
    target: u64,
    max_inputs: usize,
) -> HourPlan {
    let mut plan = HourPlan::default();
    let mut small = Vec::new();
    for file in files.iter().filter(|f| is_data_file(&f.name)) {
        if !visible(&file.name, record) {
            plan.garbage.push(file.name.clone());
        } else if file.size < target / 2 {
            small.push(file.clone());
        } else {
            plan.kept += 1;
        }
    }
    small.sort_by(|a, b| a.name.cmp(&b.name));
    let limit = max_inputs.max(2);
    if small.len() > limit {
        // The rest wait for a later run.
        plan.kept += small.len() - limit;
        small.truncate(limit);
    }
    if small.len() >= 2 {
        plan.input_bytes = small.iter().map(|f| f.size).sum();
        plan.inputs = small;
    } else {
        plan.kept += small.len();
    }
    plan
}

/// The record that commits `outputs` (with `rows` rows) in place of `plan`'s inputs, after
/// `previous`, for files listed as `listing`.
pub fn next_record(
    previous: Option<&Record>,
    plan: &HourPlan,
    outputs: Vec<String>,
    rows: u64,
    listing: &[FileEntry],
    by: &str,
    now_ms: u64,
) -> Record {
    let is_input = |name: &str| plan.inputs.iter().any(|i| i.name == name);
    let present = |name: &str| listing.iter().any(|f| f.name == name);
    let mut live: Vec<String> = previous
        .map(|r| r.outputs.iter().filter(|o| !is_input(o)).cloned().collect())
        .unwrap_or_default();
    live.extend(outputs);
    // What the previous commit replaced and is still there stays replaced: its rows are in
    // an output still (or in one of this commit's).
    let mut replaced: Vec<String> = previous
        .map(|r| {
            r.replaced
                .iter()
                .filter(|n| present(n) && !is_input(n))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    replaced.extend(plan.inputs.iter().map(|i| i.name.clone()));
    Record {
        version: super::record::RECORD_VERSION,
        generation: previous.map_or(0, |r| r.generation) + 1,
        committed_at_ms: now_ms,
        by: by.to_owned(),
        outputs: live,
        replaced,
        rows,
    }
}

/// Whether `hour` is due for compaction at `now_secs`: it ended at least `min_age` and at
/// most `max_age` ago.
pub fn due(hour: HourPartition, now_secs: u64, min_age_secs: u64, max_age_secs: u64) -> bool {
    let end = (hour.hours_since_epoch() + 1) * 3_600;
    let Some(age) = now_secs.checked_sub(end) else {
        return false;
    };
    age >= min_age_secs && age <= max_age_secs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(name: &str, size: u64) -> FileEntry {
        FileEntry {
            name: name.to_owned(),
            size,
        }
    }

    #[test]
    fn golden_hour_plans() {
        let mib = 1 << 20;
        let files = [
            f("gw-01.parquet", mib),
            f("gw-02.parquet", 2 * mib),
            f("compacted-g000001-a.parquet", 100 * mib),
            f("compacted-g000002-x.parquet", mib),
            f("_compaction.json", 300),
            f("gw-03.parquet#1", mib),
        ];
        let record = Record {
            version: 1,
            generation: 1,
            outputs: vec!["compacted-g000001-a.parquet".into()],
            replaced: vec!["gw-00.parquet".into()],
            ..Record::default()
        };
        let plan = plan_hour(&files, Some(&record), 128 * mib, 1000);
        // The two exporter files are merged; the 100 MiB output stays; the uncommitted
        // generation-2 file is garbage; the record and the upload's temporary are not data.
        assert_eq!(
            plan.inputs
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>(),
            ["gw-01.parquet", "gw-02.parquet"]
        );
        assert_eq!(plan.input_bytes, 3 * mib);
        assert_eq!(plan.kept, 1);
        assert_eq!(plan.garbage, ["compacted-g000002-x.parquet"]);

        // One small file alone is not merged.
        let plan = plan_hour(&files[..1], None, 128 * mib, 1000);
        assert!(plan.inputs.is_empty());
        assert_eq!(plan.kept, 1);

        let next = next_record(
            Some(&record),
            &plan_hour(&files, Some(&record), 128 * mib, 1000),
            vec!["compacted-g000002-y.parquet".into()],
            10,
            &files,
            "me",
            5,
        );
        assert_eq!(next.generation, 2);
        assert_eq!(
            next.outputs,
            ["compacted-g000001-a.parquet", "compacted-g000002-y.parquet"]
        );
        // gw-00 is gone from the listing, so it is no longer named.
        assert_eq!(next.replaced, ["gw-01.parquet", "gw-02.parquet"]);
    }

    #[test]
    fn hours_are_due_between_min_and_max_age() {
        let hour = HourPartition::of_unix_nanos(10 * 3_600 * 1_000_000_000);
        let end = 11 * 3_600;
        assert!(!due(hour, end - 1, 0, 100));
        assert!(!due(hour, end + 59, 60, 100));
        assert!(due(hour, end + 60, 60, 100));
        assert!(due(hour, end + 100, 60, 100));
        assert!(!due(hour, end + 101, 60, 100));
    }

    proptest! {
        /// Whatever the files, a plan merges only counted small files, at most `max_inputs`,
        /// never one alone, and calls garbage exactly what no reader counts.
        #[test]
        fn plans_respect_their_bounds(
            sizes in proptest::collection::vec((0u8..3, 1u64..400), 0..30),
            max_inputs in 2usize..8,
        ) {
            let record = Record { version: 1, generation: 1, outputs: vec!["compacted-g000001-0.parquet".into()], ..Record::default() };
            let files: Vec<FileEntry> = sizes.iter().enumerate().map(|(i, &(kind, size))| match kind {
                0 => f(&format!("gw-{i:02}.parquet"), size),
                1 => f(&format!("compacted-g{:06}-{i}.parquet", i % 3), size),
                _ => f(&format!("_other-{i}"), size),
            }).collect();
            let plan = plan_hour(&files, Some(&record), 200, max_inputs);
            prop_assert!(plan.inputs.len() <= max_inputs);
            prop_assert!(plan.inputs.len() != 1);
            for input in &plan.inputs {
                prop_assert!(visible(&input.name, Some(&record)) && input.size < 100);
            }
            for name in &plan.garbage {
                prop_assert!(!visible(name, Some(&record)));
            }
            let data = files.iter().filter(|f| is_data_file(&f.name)).count();
            prop_assert_eq!(plan.inputs.len() + plan.garbage.len() + plan.kept, data);
        }
    }
}
