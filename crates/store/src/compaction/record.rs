//! The compaction record of an hour partition, and which of its files a reader counts.
//!
//! Every compacted hour directory holds `_compaction.json`, the [`Record`] of its last
//! committed generation: the compacted files that are live (`outputs`), and the files
//! they replaced (`replaced`) that may still be there. The rule that makes a reader exact
//! ([`visible`]):
//!
//! - a file named in `replaced` is not counted (its rows are in an output);
//! - a compacted file (named `compacted-g{N}-{ulid}.parquet`, [`output_name`]) is counted
//!   only if `outputs` names it: one that is not is a generation being written, or left
//!   by a compactor that crashed before its commit;
//! - every other file (what the archive exporter writes) is counted.
//!
//! A hour with no record has no committed compaction: its compacted files, if any, are
//! uncommitted, and the rest is counted.

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The record's file name in an hour directory.
pub const RECORD_NAME: &str = "_compaction.json";
/// The lease's file name in an hour directory.
pub const LEASE_NAME: &str = "_compaction.lease";
/// The prefix of a compacted file's name.
pub const OUTPUT_PREFIX: &str = "compacted-g";
/// The record format this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// The committed state of an hour's compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The generation committed last; the next one is `generation + 1`.
    pub generation: u64,
    /// When it was committed, Unix milliseconds.
    pub committed_at_ms: u64,
    /// Who committed it (the gateway's instance, or `tracegate-compact`).
    pub by: String,
    /// The live compacted files, by name in the hour directory.
    pub outputs: Vec<String>,
    /// Files whose rows are in `outputs`, by name: not counted, deleted after the commit
    /// (kept here until a later run finds them gone).
    pub replaced: Vec<String>,
    /// Rows this generation wrote.
    pub rows: u64,
}

impl Record {
    /// Parses a record, refusing one of another version (a newer tracegate's, whose rules
    /// this build does not know).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let record: Record =
            serde_json::from_slice(bytes).map_err(|e| format!("not a compaction record: {e}"))?;
        if record.version != RECORD_VERSION {
            return Err(format!(
                "compaction record version {} (this build reads {RECORD_VERSION}); upgrade tracegate",
                record.version
            ));
        }
        Ok(record)
    }

    /// The record as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Whether a reader counts the file `name` of an hour directory whose record is `record`.
pub fn visible(name: &str, record: Option<&Record>) -> bool {
    match record {
        None => generation_of(name).is_none(),
        Some(record) => {
            if record.replaced.iter().any(|r| r == name) {
                return false;
            }
            generation_of(name).is_none() || record.outputs.iter().any(|o| o == name)
        }
    }
}

/// The name of a compacted file of generation `generation`.
pub fn output_name(generation: u64, id: Ulid) -> String {
    format!("{OUTPUT_PREFIX}{generation:06}-{id}.parquet")
}

/// The generation of a compacted file's name (`None`: not a compacted file).
pub fn generation_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(OUTPUT_PREFIX)?;
    let (generation, rest) = rest.split_once('-')?;
    if !rest.ends_with(".parquet") || generation.is_empty() {
        return None;
    }
    generation.parse().ok()
}

/// A Parquet data file of the archive (what readers glob: `*.parquet`), as opposed to the
/// record, the lease, or an upload's temporary file.
pub fn is_data_file(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('_') && !name.starts_with('.')
}

/// The lease an hour's compactor holds while it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub owner: String,
    /// Until when, Unix milliseconds; after that another compactor may take it.
    pub expires_at_ms: u64,
    /// The host it runs on, and its process id: a compactor on the same host may take the
    /// lease of a process that is gone (killed) before it expires.
    #[serde(default)]
    pub host: String,
    /// The process id on `host`.
    #[serde(default)]
    pub pid: u32,
}

impl Lease {
    /// A lease held by this process until `expires_at_ms`.
    pub fn mine(owner: &str, expires_at_ms: u64) -> Self {
        Self {
            owner: owner.to_owned(),
            expires_at_ms,
            host: this_host(),
            pid: std::process::id(),
        }
    }

    /// Whether another compactor may take it at `now_ms`: it expired, or its process, on
    /// this host, is gone.
    pub fn is_stale(&self, now_ms: u64) -> bool {
        self.expires_at_ms < now_ms
            || (!self.host.is_empty() && self.host == this_host() && !process_alive(self.pid))
    }
}

/// This host's name (empty when it cannot be read).
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether process `pid` of this host runs (a zombie or an unknown answer counts as alive).
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(outputs: &[&str], replaced: &[&str]) -> Record {
        Record {
            version: RECORD_VERSION,
            generation: 2,
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            replaced: replaced.iter().map(|s| s.to_string()).collect(),
            ..Record::default()
        }
    }

    #[test]
    fn output_names_carry_their_generation() {
        let id = Ulid::from_parts(1, 2);
        let name = output_name(7, id);
        assert_eq!(name, format!("compacted-g000007-{id}.parquet"));
        assert_eq!(generation_of(&name), Some(7));
        assert_eq!(generation_of("gw-01J0000000000000000000000.parquet"), None);
        assert_eq!(generation_of("compacted-g-x.parquet"), None);
        assert_eq!(generation_of("compacted-g000001-x.parquet#1"), None);
    }

    #[test]
    fn golden_visibility() {
        let r = record(
            &["compacted-g000002-b.parquet", "compacted-g000001-a.parquet"],
            &["gw-1.parquet", "compacted-g000001-z.parquet"],
        );
        // Replaced: not counted.
        assert!(!visible("gw-1.parquet", Some(&r)));
        assert!(!visible("compacted-g000001-z.parquet", Some(&r)));
        // Live outputs, of this generation and an older one that was not merged again.
        assert!(visible("compacted-g000002-b.parquet", Some(&r)));
        assert!(visible("compacted-g000001-a.parquet", Some(&r)));
        // Being written, or left by a crash.
        assert!(!visible("compacted-g000003-c.parquet", Some(&r)));
        // Written by the exporter since.
        assert!(visible("gw-2.parquet", Some(&r)));
        // No record: nothing committed.
        assert!(visible("gw-1.parquet", None));
        assert!(!visible("compacted-g000001-a.parquet", None));
    }

    #[test]
    fn a_lease_is_stale_once_expired_or_its_process_is_gone() {
        let now = 1_000_000;
        assert!(!Lease::mine("me", now + 1).is_stale(now));
        assert!(Lease::mine("me", now - 1).is_stale(now));
        // A process of this host that does not run.
        let mut gone = Lease::mine("me", now + 60_000);
        gone.pid = i32::MAX as u32;
        assert!(gone.is_stale(now));
        // Another host's: only its expiry counts.
        gone.host = "elsewhere".into();
        assert!(!gone.is_stale(now));
    }

    #[test]
    fn a_record_of_another_version_is_refused() {
        let mut r = record(&[], &[]);
        assert_eq!(Record::parse(&r.to_json()), Ok(r.clone()));
        r.version = 2;
        let e = Record::parse(&r.to_json()).unwrap_err();
        assert!(e.contains("upgrade tracegate"), "{e}");
        assert!(Record::parse(b"{").is_err());
    }

    proptest! {
        /// Across a commit, the rows counted are the same: before it, the inputs (and no
        /// output); after it, the outputs (and no input). Inputs are any mix of exporter
        /// files and live outputs of the previous generation.
        #[test]
        fn a_commit_swaps_inputs_for_outputs(
            exporter_files in proptest::collection::btree_set("[a-z]{1,6}", 0..6),
            old_outputs in proptest::collection::btree_set("[a-z]{1,6}", 0..4),
            merged_mask in any::<u16>(),
        ) {
            let old_outputs: Vec<String> =
                old_outputs.iter().map(|s| format!("compacted-g000001-{s}.parquet")).collect();
            let exporter: Vec<String> = exporter_files.iter().map(|s| format!("gw-{s}.parquet")).collect();
            let before = record(&old_outputs.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
            let all: Vec<String> = exporter.iter().chain(&old_outputs).cloned().collect();
            let inputs: Vec<String> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| merged_mask & (1 << i) != 0)
                .map(|(_, n)| n.clone())
                .collect();
            let new_output = "compacted-g000002-new.parquet".to_owned();
            let mut after = before.clone();
            after.generation = 2;
            after.outputs.retain(|o| !inputs.contains(o));
            after.outputs.push(new_output.clone());
            after.replaced = inputs.clone();
            let mut listing = all.clone();
            listing.push(new_output.clone());
            let counted = |r: &Record| -> Vec<String> {
                listing.iter().filter(|n| visible(n, Some(r))).cloned().collect()
            };
            // Before the commit, the new output is invisible and every input is counted.
            let seen = counted(&before);
            prop_assert!(!seen.contains(&new_output));
            prop_assert_eq!(seen.len(), all.len());
            // After, no input is, and the output is; what was not merged is counted still.
            let seen = counted(&after);
            prop_assert!(seen.contains(&new_output));
            for input in &inputs {
                prop_assert!(!seen.contains(input));
            }
            prop_assert_eq!(seen.len(), all.len() - inputs.len() + 1);
        }
    }
}
