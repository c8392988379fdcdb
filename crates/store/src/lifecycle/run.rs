//! The lifecycle's I/O: listing the archive into a [`Plan`], and carrying it out.
//!
//! A plan lists every object under `{prefix}/{spans,traces,logs,scores}/`, and decides on
//! each from its hour partition ([`decide`]). A cold candidate may have moved already:
//! objects tracegate moved carry the user metadata `x-amz-meta-tracegate-storage-class`,
//! which one `HEAD` reads (object_store's listing does not return storage classes). So
//! that a large cold tier is not `HEAD`ed object by object on every run, the archive keeps a
//! watermark, `{prefix}/_lifecycle/state.json`: the newest hour whose every object is in
//! the cold class. It only covers hours older than the archive's `past_window` plus an hour
//! ([`Rules::settled_after`]): the archive writes no file into an hour older than that, so
//! no object can appear in such an hour later. Younger cold hours are checked every run.
//!
//! A move rewrites the object under its own key with the new storage class (a single `PUT`
//! up to 16 MiB, a multipart upload above, streamed through at most 16 MiB of memory per
//! move, two moves at a time). The content is the same bytes, so a reader sees the object
//! before or after, never a mix; an object whose size changed since the plan is skipped.
//! Deletions go out in batches (S3 `DeleteObjects`). Every action is logged and counted in
//! `tracegate_lifecycle_actions_total{action, outcome}` and
//! `tracegate_lifecycle_bytes_total{action}`.

use super::config::StorageClass;
use super::plan::{Action, ActionKind, Decision, Plan, Rules, decide};
use crate::error::StoreError;
use crate::layout::{LOGS_TABLE, SCORES_TABLE, SPANS_TABLE, TRACES_TABLE, hour_of_path};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use metrics::{counter, gauge};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    WriteMultipart,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The user metadata key (`x-amz-meta-…`) that names the class tracegate moved an object to.
pub const CLASS_METADATA: &str = "tracegate-storage-class";
/// The tables the lifecycle looks after.
pub const TABLES: [&str; 4] = [SPANS_TABLE, TRACES_TABLE, LOGS_TABLE, SCORES_TABLE];
/// Objects up to this size are moved with one `PUT`.
const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// Part size of a multipart move.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Moves at once.
const CONCURRENT_MOVES: usize = 2;
/// `HEAD` requests at once while planning.
const CONCURRENT_HEADS: usize = 16;

/// Metric names (`tracegate_lifecycle_*`, label `exporter`).
pub mod names {
    /// Actions carried out, by `action` (`transition`, `delete`) and `outcome` (`done`,
    /// `skipped`, `failed`).
    pub const ACTIONS: &str = "tracegate_lifecycle_actions_total";
    /// Bytes of the objects moved or deleted, by `action`.
    pub const BYTES: &str = "tracegate_lifecycle_bytes_total";
    /// Lifecycle runs, by `outcome` (`ok`, `partial`, `failed`).
    pub const RUNS: &str = "tracegate_lifecycle_runs_total";
    /// When the last run ended without a failed action (Unix seconds, gauge).
    pub const LAST_SUCCESS: &str = "tracegate_lifecycle_last_success_timestamp_seconds";
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Moved or deleted.
    Done,
    /// Left alone, with why (gone already, changed since the plan).
    Skipped(&'static str),
    /// It failed; the next run tries again.
    Failed(String),
}

impl Outcome {
    /// The metrics' `outcome` label.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// What a run did: per outcome, actions and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects moved to the cold class.
    pub transitioned: super::plan::Tally,
    /// Objects deleted.
    pub deleted: super::plan::Tally,
    /// Actions skipped.
    pub skipped: u64,
    /// Actions failed.
    pub failed: u64,
    /// Actions not started because the run was cancelled.
    pub cancelled: u64,
}

/// The watermark kept in `{prefix}/_lifecycle/state.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The class the hours up to `cold_through` are in.
    cold_class: StorageClass,
    /// Hours since the epoch of the newest hour whose objects are all in `cold_class`.
    cold_through_hour: u64,
}

/// One archive's lifecycle: its store, prefix and rules.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    name: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    rules: Rules,
    max_actions: usize,
}

impl Lifecycle {
    /// The lifecycle of the archive at `prefix` in `store`, for exporter `name`.
    pub fn new(
        name: &str,
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        rules: Rules,
        max_actions: usize,
    ) -> Self {
        Self {
            name: name.to_owned(),
            store,
            prefix,
            rules,
            max_actions: max_actions.max(1),
        }
    }

    /// The rules it applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn state_path(&self) -> Path {
        self.prefix.clone().join("_lifecycle").join("state.json")
    }

    async fn read_state(&self) -> Result<Option<State>, StoreError> {
        let path = self.state_path();
        match self.store.get(&path).await {
            Ok(got) => {
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|source| StoreError::ObjectStore {
                        op: "read",
                        path: path.to_string(),
                        source,
                    })?;
                // A damaged state only costs HEAD requests: plan as if there were none.
                Ok(serde_json::from_slice(&bytes).ok())
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(StoreError::ObjectStore {
                op: "read",
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Lists the archive and decides on every object at `now_secs` (Unix seconds).
    pub async fn plan(&self, now_secs: u64) -> Result<Plan, StoreError> {
        let mut plan = Plan {
            now_secs,
            transitions: self.rules.cold_after.is_some(),
            ..Plan::default()
        };
        let state = self
            .read_state()
            .await?
            .filter(|s| s.cold_class == self.rules.cold_class);
        let mut candidates = Vec::new();
        for table in TABLES {
            let dir = self.prefix.clone().join(table);
            let mut listing = self.store.list(Some(&dir));
            while let Some(meta) =
                listing
                    .try_next()
                    .await
                    .map_err(|source| StoreError::ObjectStore {
                        op: "list",
                        path: dir.to_string(),
                        source,
                    })?
            {
                let Some(hour) = hour_of_path(meta.location.as_ref()) else {
                    plan.foreign.add(meta.size);
                    continue;
                };
                let age = super::plan::age(hour, now_secs);
                let action = |kind| Action {
                    path: meta.location.clone(),
                    size: meta.size,
                    hour,
                    age,
                    kind,
                };
                match decide(&self.rules, hour, now_secs) {
                    Decision::Keep => plan.kept.add(meta.size),
                    Decision::Delete => plan.actions.push(action(ActionKind::Delete)),
                    Decision::Cold
                        if state
                            .is_some_and(|s| hour.hours_since_epoch() <= s.cold_through_hour) =>
                    {
                        plan.cold.add(meta.size)
                    }
                    Decision::Cold => {
                        candidates.push(action(ActionKind::Transition(self.rules.cold_class)))
                    }
                }
            }
        }
        // Which candidates moved already: one HEAD each, a few at once.
        let class = self.rules.cold_class.as_str();
        let store = self.store.clone();
        let mut heads = futures::stream::iter(candidates)
            .map(move |action| {
                let store = store.clone();
                async move {
                    let head = GetOptions {
                        head: true,
                        ..GetOptions::default()
                    };
                    let got = store.get_opts(&action.path, head).await;
                    (action, got)
                }
            })
            .buffer_unordered(CONCURRENT_HEADS);
        while let Some((action, got)) = heads.next().await {
            match got {
                Ok(got) => {
                    let moved = got
                        .attributes
                        .get(&Attribute::Metadata(CLASS_METADATA.into()))
                        .is_some_and(|v| v.as_ref() == class);
                    if moved {
                        plan.cold.add(action.size);
                    } else {
                        plan.actions.push(action);
                    }
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(StoreError::ObjectStore {
                        op: "head",
                        path: action.path.to_string(),
                        source,
                    });
                }
            }
        }
        plan.bound(self.max_actions);
        Ok(plan)
    }

    /// Carries out `plan`, reporting each action's outcome to `each` as it ends. Stops
    /// starting actions once `cancel` fires; a move under way is aborted (its multipart
    /// upload too), the object left as it was.
    pub async fn apply(
        &self,
        plan: &Plan,
        cancel: &CancellationToken,
        mut each: impl FnMut(&Action, &Outcome),
    ) -> Report {
        let mut report = Report::default();
        let mut record = |action: &Action, outcome: Outcome, report: &mut Report| {
            let kind = action.kind.name();
            counter!(names::ACTIONS, "exporter" => self.name.clone(), "action" => kind, "outcome" => outcome.name())
                .increment(1);
            match (&outcome, action.kind) {
                (Outcome::Done, ActionKind::Delete) => report.deleted.add(action.size),
                (Outcome::Done, ActionKind::Transition(_)) => report.transitioned.add(action.size),
                (Outcome::Skipped(_), _) => report.skipped += 1,
                (Outcome::Failed(_), _) => report.failed += 1,
            }
            if outcome == Outcome::Done {
                counter!(names::BYTES, "exporter" => self.name.clone(), "action" => kind)
                    .increment(action.size);
            }
            log_action(&self.name, action, &outcome);
            each(action, &outcome);
        };

        // Deletions, in batches.
        let deletes: Vec<&Action> = plan
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete)
            .collect();
        for batch in deletes.chunks(1_000) {
            if cancel.is_cancelled() {
                report.cancelled += batch.len() as u64;
                continue;
            }
            let paths: Vec<object_store::Result<Path>> =
                batch.iter().map(|a| Ok(a.path.clone())).collect();
            let mut results = self
                .store
                .delete_stream(futures::stream::iter(paths).boxed());
            let mut outcomes: std::collections::HashMap<Path, Outcome> = Default::default();
            loop {
                let next = tokio::select! {
                    next = results.next() => next,
                    () = cancel.cancelled() => break,
                };
                match next {
                    None => break,
                    Some(Ok(path)) => {
                        outcomes.insert(path, Outcome::Done);
                    }
                    Some(Err(object_store::Error::NotFound { path, .. })) => {
                        outcomes.insert(Path::from(path), Outcome::Done);
                    }
                    Some(Err(e)) => {
                        // A batch error names no path: every action of the batch not yet
                        // settled failed with it.
                        let message = e.to_string();
                        for a in batch {
                            outcomes
                                .entry(a.path.clone())
                                .or_insert_with(|| Outcome::Failed(message.clone()));
                        }
                    }
                }
            }
            for a in batch {
                match outcomes.remove(&a.path) {
                    Some(outcome) => record(a, outcome, &mut report),
                    None => report.cancelled += 1,
                }
            }
        }

        // Moves, a few at once.
        let moves: Vec<(Action, StorageClass)> = plan
            .actions
            .iter()
            .filter_map(|a| match a.kind {
                ActionKind::Transition(class) => Some((a.clone(), class)),
                ActionKind::Delete => None,
            })
            .collect();
        let store = self.store.clone();
        let token = cancel.clone();
        let mut running = futures::stream::iter(moves)
            .map(move |(a, class)| {
                let store = store.clone();
                let cancel = token.clone();
                async move {
                    if cancel.is_cancelled() {
                        return (a, None);
                    }
                    let outcome = transition(store.as_ref(), &a, class, &cancel).await;
                    (a, Some(outcome))
                }
            })
            .buffer_unordered(CONCURRENT_MOVES);
        while let Some((action, outcome)) = running.next().await {
            match outcome {
                Some(outcome) => record(&action, outcome, &mut report),
                None => report.cancelled += 1,
            }
        }
        drop(running);

        let outcome = if report.failed > 0 || report.cancelled > 0 {
            "partial"
        } else {
            "ok"
        };
        counter!(names::RUNS, "exporter" => self.name.clone(), "outcome" => outcome).increment(1);
        if outcome == "ok" {
            gauge!(names::LAST_SUCCESS, "exporter" => self.name.clone()).set(plan.now_secs as f64);
            if let Err(e) = self.advance_watermark(plan).await {
                tracing::warn!(exporter = %self.name, error = %e, "lifecycle: could not save its state; the next run checks the cold objects again");
            }
        }
        report
    }

    /// After a run without failures or deferred actions: every cold-aged hour is now cold.
    async fn advance_watermark(&self, plan: &Plan) -> Result<(), StoreError> {
        let Some(cold_after) = self.rules.cold_after else {
            return Ok(());
        };
        if plan.deferred > 0 {
            return Ok(());
        }
        let settled = cold_after.max(self.rules.settled_after);
        let Some(newest) = plan.now_secs.checked_sub(settled.as_secs()) else {
            return Ok(());
        };
        // The newest hour that had ended that long before the plan's clock.
        let Some(through) = (newest / 3_600).checked_sub(1) else {
            return Ok(());
        };
        let old = self.read_state().await?;
        if old.is_some_and(|s| {
            s.cold_class == self.rules.cold_class && s.cold_through_hour >= through
        }) {
            return Ok(());
        }
        let state = State {
            cold_class: self.rules.cold_class,
            cold_through_hour: through,
        };
        let body = serde_json::to_vec(&state).unwrap_or_default();
        let path = self.state_path();
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| StoreError::ObjectStore {
                op: "put",
                path: path.to_string(),
                source,
            })?;
        Ok(())
    }
}

/// Rewrites one object with `class`.
async fn transition(
    store: &dyn ObjectStore,
    action: &Action,
    class: StorageClass,
    cancel: &CancellationToken,
) -> Outcome {
    let path = &action.path;
    let got = tokio::select! {
        got = store.get(path) => got,
        () = cancel.cancelled() => return Outcome::Skipped("cancelled"),
    };
    let got = match got {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Outcome::Skipped("gone"),
        Err(e) => return Outcome::Failed(format!("could not read it: {e}")),
    };
    if got.meta.size != action.size {
        return Outcome::Skipped("changed since the plan");
    }
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::StorageClass, class.as_str().into());
    attributes.insert(
        Attribute::Metadata(CLASS_METADATA.into()),
        class.as_str().into(),
    );
    if action.size <= SINGLE_PUT_MAX {
        let bytes = tokio::select! {
            b = got.bytes() => b,
            () = cancel.cancelled() => return Outcome::Skipped("cancelled"),
        };
        let bytes: Bytes = match bytes {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("could not read it: {e}")),
        };
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        return tokio::select! {
            put = store.put_opts(path, PutPayload::from(bytes), opts) => match put {
                Ok(_) => Outcome::Done,
                Err(e) => Outcome::Failed(format!("could not write it: {e}")),
            },
            () = cancel.cancelled() => Outcome::Skipped("cancelled"),
        };
    }
    let opts = object_store::PutMultipartOptions {
        attributes,
        ..Default::default()
    };
    let upload = match store.put_multipart_opts(path, opts).await {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("could not start the upload: {e}")),
    };
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut body = got.into_stream();
    let copied = async {
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| format!("could not read it: {e}"))?
        {
            writer
                .wait_for_capacity(1)
                .await
                .map_err(|e| format!("could not write it: {e}"))?;
            writer.put(chunk);
        }
        Ok::<(), String>(())
    };
    let copied = tokio::select! {
        c = copied => c.map_err(Some),
        () = cancel.cancelled() => Err(None),
    };
    match copied {
        Ok(()) => match writer.finish().await {
            Ok(_) => Outcome::Done,
            Err(e) => Outcome::Failed(format!("could not complete the upload: {e}")),
        },
        Err(why) => {
            // The parts uploaded so far would cost storage until a bucket rule aborts them.
            if let Err(e) = writer.abort().await {
                tracing::warn!(path = %path, error = %e, "lifecycle: could not abort a multipart upload");
            }
            match why {
                Some(message) => Outcome::Failed(message),
                None => Outcome::Skipped("cancelled"),
            }
        }
    }
}

fn log_action(exporter: &str, action: &Action, outcome: &Outcome) {
    let age = format_age(action.age);
    let what = match action.kind {
        ActionKind::Transition(class) => format!("move to {class}"),
        ActionKind::Delete => "delete".to_owned(),
    };
    match outcome {
        Outcome::Done => {
            tracing::info!(exporter, object = %action.path, bytes = action.size, age = %age, "lifecycle: {what}: done")
        }
        Outcome::Skipped(why) => {
            tracing::info!(exporter, object = %action.path, "lifecycle: {what}: skipped, {why}")
        }
        Outcome::Failed(e) => {
            tracing::warn!(exporter, object = %action.path, error = %e, "lifecycle: {what}: failed; the next run tries again")
        }
    }
}

/// An age in whole days and hours: `91d 3h`, `5h`.
pub fn format_age(age: std::time::Duration) -> String {
    let hours = age.as_secs() / 3_600;
    match (hours / 24, hours % 24) {
        (0, h) => format!("{h}h"),
        (d, 0) => format!("{d}d"),
        (d, h) => format!("{d}d {h}h"),
    }
}
