//! The archive's lifecycle, hot → warm → cold → deleted (the seed's tiers):
//!
//! - **hot**: the `hot_store` exporter's blocks on local disk, 30 days by default (its own
//!   `retention` and `max_bytes`; not this module);
//! - **warm**: the archive's objects as written, in the object store's default class (S3
//!   `STANDARD`), until `cold_after` (90 days);
//! - **cold**: then moved to `cold_storage_class` (`GLACIER_IR` by default);
//! - **deleted** at `delete_after`, if set (by default nothing is ever deleted).
//!
//! Ages count from the end of each object's hour partition (`dt=…/hour=…`), not from when
//! it was written or last rewritten. A local archive has no storage classes, so there the
//! lifecycle only deletes.
//!
//! Why tracegate moves the objects itself rather than writing an S3 bucket lifecycle rule:
//! a rule counts days from each object's creation, cannot be tested with a controlled
//! clock, and needs `s3:PutLifecycleConfiguration` on the bucket, a permission a gateway
//! should not hold; the move is a rewrite of the same bytes under the same key. For a bucket
//! where S3 should do it, `tracegate lifecycle rule` prints the equivalent rule
//! ([`bucket_rule`]) for `aws s3api put-bucket-lifecycle-configuration`; set
//! `cold_after: null` (and leave `delete_after` out) so that the two do not both act.
//!
//! - [`config`]: [`LifecycleConfig`], under `exporters.archive.lifecycle`;
//! - [`plan`]: the pure core, an object's age → [`Decision`], and the [`Plan`] of a run;
//! - [`run`]: [`Lifecycle`], which lists the archive into a plan and carries it out;
//! - [`spawn_schedule`]: the gateway's periodic run (`interval`, 1h by default), which the
//!   `archive` exporter starts and stops.
//!
//! Concurrency: the lifecycle touches only hours older than the archive's `past_window`
//! plus an hour, which the archive no longer writes to, so it never races an upload. Two
//! gateways running it on one archive do the same work twice, harmlessly: a move writes the
//! same bytes, and deleting a deleted object succeeds.

pub mod config;
pub mod plan;
pub mod run;

pub use config::{LifecycleConfig, StorageClass};
pub use plan::{Action, ActionKind, Decision, Plan, Rules, decide};
pub use run::{Lifecycle, Outcome, Report};

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Runs `lifecycle` every `interval` until `cancel` fires, the first time one interval
/// from now. Each run is logged (what it moved and deleted) and counted.
pub fn spawn_schedule(
    lifecycle: Lifecycle,
    interval: Duration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = cancel.cancelled() => return,
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let plan = tokio::select! {
                plan = lifecycle.plan(now) => plan,
                () = cancel.cancelled() => return,
            };
            match plan {
                Ok(plan) => {
                    let report = lifecycle.apply(&plan, &cancel, |_, _| {}).await;
                    if plan.actions.is_empty() {
                        tracing::debug!("lifecycle: nothing to move or delete");
                    } else {
                        tracing::info!(
                            moved = report.transitioned.objects,
                            moved_bytes = report.transitioned.bytes,
                            deleted = report.deleted.objects,
                            deleted_bytes = report.deleted.bytes,
                            failed = report.failed,
                            deferred = plan.deferred,
                            "lifecycle: run done"
                        );
                    }
                }
                Err(e) => {
                    metrics::counter!(run::names::RUNS, "outcome" => "failed").increment(1);
                    tracing::warn!(error = %e, "lifecycle: could not plan a run; trying again in one interval");
                }
            }
        }
    })
}

/// The S3 bucket lifecycle configuration (JSON, as `aws s3api
/// put-bucket-lifecycle-configuration --lifecycle-configuration` takes it) that does what
/// `config` asks for the archive under `prefix`, one rule per table: S3 counts days from
/// each object's creation, which for the archive is within `flush_age` of its hour.
pub fn bucket_rule(config: &LifecycleConfig, prefix: &str) -> serde_json::Value {
    let days = |d: tracegate_pipeline::Duration| d.get().as_secs().div_ceil(86_400).max(1);
    let rules: Vec<serde_json::Value> = run::TABLES
        .iter()
        .map(|table| {
            let key = if prefix.is_empty() {
                format!("{table}/")
            } else {
                format!("{}/{table}/", prefix.trim_matches('/'))
            };
            let mut rule = serde_json::json!({
                "ID": format!("tracegate-{table}"),
                "Filter": { "Prefix": key },
                "Status": "Enabled",
            });
            if let Some(cold) = config.cold_after {
                rule["Transitions"] = serde_json::json!([{
                    "Days": days(cold),
                    "StorageClass": config.cold_storage_class.as_str(),
                }]);
            }
            if let Some(delete) = config.delete_after {
                rule["Expiration"] = serde_json::json!({ "Days": days(delete) });
            }
            rule
        })
        .collect();
    serde_json::json!({ "Rules": rules })
}

#[cfg(test)]
mod tests;
