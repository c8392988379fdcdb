//! `tracegate lifecycle plan|apply|rule`: the archive's hot → warm → cold → deleted tiers by
//! hand (the gateway also runs them every `lifecycle.interval`).
//!
//! The archive and its rules come from the config (`-c`, or the embedded default): the
//! `archive` exporter's `url`, `s3` and `lifecycle` sections. `plan` prints what `apply`
//! would do, one line per object, with the same code path; `--now` sets the clock, for a
//! dry run of a date to come.

use anyhow::{Context as _, bail};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracegate_store::lifecycle::run::format_age;
use tracegate_store::lifecycle::{
    Action, ActionKind, Lifecycle, Outcome, Plan, Rules, bucket_rule,
};

/// Arguments of `tracegate lifecycle`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Step,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Step {
    /// Print what `apply` would move to the cold storage class or delete, and why (each
    /// object's age), without changing anything.
    Plan(Common),
    /// Move and delete what `plan` prints, logging and counting each action. Exits 1 if an
    /// action failed (the next run tries it again).
    Apply(Common),
    /// Print the S3 bucket lifecycle rule that does the same (for `aws s3api
    /// put-bucket-lifecycle-configuration --bucket B --lifecycle-configuration file://rule.json`),
    /// for a bucket where S3 should move and delete rather than tracegate.
    Rule(Common),
}

/// The options every step takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Config file; the embedded default without one.
    #[arg(short, long, value_name = "FILE", env = "TRACEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The `archive` exporter to act on, when the config has several.
    #[arg(long, value_name = "ID")]
    pub exporter: Option<String>,
    /// The clock, as RFC 3339 (`2027-03-01T00:00:00Z`): ages are counted up to it.
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// One JSON object per line (each action, then a summary), for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tracegate lifecycle …`.
pub fn main(args: Args) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (common, step) = match &args.command {
        Step::Plan(c) => (c, "plan"),
        Step::Apply(c) => (c, "apply"),
        Step::Rule(c) => (c, "rule"),
    };
    let (id, config) = crate::archive_config::archive_exporter(
        common.config.as_deref(),
        common.exporter.as_deref(),
    )?;
    if step == "rule" {
        let destination = config
            .destination(&format!("exporters.{id}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if destination.is_local() {
            bail!(
                "exporters.{id} writes to a local directory ({}); bucket rules are for s3:// archives",
                config.url
            );
        }
        let prefix = destination.prefix().to_string();
        println!(
            "{}",
            serde_json::to_string_pretty(&bucket_rule(&config.lifecycle, &prefix))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = match &common.now {
        Some(text) => humantime::parse_rfc3339_weak(text)
            .with_context(|| format!("--now {text:?}: write it like 2027-03-01T00:00:00Z"))?,
        None => SystemTime::now(),
    };
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let destination = config
            .destination(&format!("exporters.{id}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let store = destination
            .open()
            .await
            .with_context(|| format!("cannot open the archive {destination}"))?;
        let rules = Rules::new(&config.lifecycle, !destination.is_local())
            .with_past_window(config.past_window.get());
        let lifecycle = Lifecycle::new(
            &id,
            store,
            destination.prefix().clone(),
            rules,
            config.lifecycle.max_actions_per_run,
        );
        let plan = lifecycle
            .plan(now_secs)
            .await
            .with_context(|| format!("cannot list the archive {destination}"))?;
        let out = Printer {
            json: common.json,
            apply: step == "apply",
        };
        if !common.json {
            println!(
                "lifecycle of {destination} (exporters.{id}) at {}",
                humantime::format_rfc3339_seconds(now)
            );
            println!("  {}", describe(&rules, destination.is_local()));
        }
        if step == "plan" {
            out.header(&plan);
            for action in &plan.actions {
                out.line(action, None);
            }
            out.summary(&plan, None);
            return Ok(ExitCode::SUCCESS);
        }
        // Ctrl-C stops starting actions and aborts the moves under way.
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        out.header(&plan);
        let report = lifecycle
            .apply(&plan, &cancel, |action, outcome| {
                out.line(action, Some(outcome))
            })
            .await;
        out.summary(&plan, Some(&report));
        Ok(if report.failed > 0 || report.cancelled > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn describe(rules: &Rules, local: bool) -> String {
    let cold = match rules.cold_after {
        Some(age) => format!("warm until {}, then {}", format_age(age), rules.cold_class),
        None if local => "no cold tier (a local archive has no storage classes)".to_owned(),
        None => "no cold tier (cold_after: null)".to_owned(),
    };
    let delete = match rules.delete_after {
        Some(age) => format!("deleted after {}", format_age(age)),
        None => "never deleted (no delete_after)".to_owned(),
    };
    format!("{cold}; {delete}")
}

struct Printer {
    json: bool,
    apply: bool,
}

impl Printer {
    fn header(&self, plan: &Plan) {
        if !self.json && !plan.actions.is_empty() {
            let outcome = if self.apply { "  OUTCOME" } else { "" };
            println!(
                "{:<22} {:>8} {:>10}  OBJECT{outcome}",
                "ACTION", "AGE", "BYTES"
            );
        }
    }

    fn line(&self, action: &Action, outcome: Option<&Outcome>) {
        let (kind, class) = match action.kind {
            ActionKind::Transition(class) => ("transition", Some(class.as_str())),
            ActionKind::Delete => ("delete", None),
        };
        if self.json {
            let mut line = json!({
                "action": kind,
                "object": action.path.as_ref(),
                "bytes": action.size,
                "age_hours": action.age.as_secs() / 3_600,
            });
            if let Some(class) = class {
                line["storage_class"] = json!(class);
            }
            if let Some(outcome) = outcome {
                line["outcome"] = json!(outcome.name());
                match outcome {
                    Outcome::Skipped(why) => line["reason"] = json!(why),
                    Outcome::Failed(e) => line["error"] = json!(e),
                    Outcome::Done => {}
                }
            }
            println!("{line}");
            return;
        }
        let what = match class {
            Some(c) => format!("move to {c}"),
            None => "delete".to_owned(),
        };
        let outcome = match outcome {
            None => String::new(),
            Some(Outcome::Done) => "  done".to_owned(),
            Some(Outcome::Skipped(why)) => format!("  skipped: {why}"),
            Some(Outcome::Failed(e)) => format!("  FAILED: {e}"),
        };
        println!(
            "{what:<22} {:>8} {:>10}  {}{outcome}",
            format_age(action.age),
            bytes(action.size),
            action.path
        );
    }

    fn summary(&self, plan: &Plan, report: Option<&tracegate_store::lifecycle::Report>) {
        let (moves, deletes) = (plan.tally(false), plan.tally(true));
        if self.json {
            let mut summary = json!({
                "transitions": moves.objects, "transition_bytes": moves.bytes,
                "deletions": deletes.objects, "deletion_bytes": deletes.bytes,
                "deferred": plan.deferred,
                "kept": plan.kept.objects, "kept_bytes": plan.kept.bytes,
                "cold": plan.cold.objects, "cold_bytes": plan.cold.bytes,
                "foreign": plan.foreign.objects,
            });
            if let Some(r) = report {
                summary["done"] = json!({
                    "transitioned": r.transitioned.objects, "deleted": r.deleted.objects,
                    "skipped": r.skipped, "failed": r.failed, "cancelled": r.cancelled,
                });
            }
            println!("{}", json!({ "summary": summary }));
            return;
        }
        let verb = if report.is_some() { "planned" } else { "would" };
        println!(
            "{verb}: move {} objects ({}), delete {} ({}){}",
            moves.objects,
            bytes(moves.bytes),
            deletes.objects,
            bytes(deletes.bytes),
            if plan.deferred > 0 {
                format!("; {} more next run (max_actions_per_run)", plan.deferred)
            } else {
                String::new()
            }
        );
        println!(
            "left as they are: {} warm ({}), {} cold already ({}), {} not the archive's",
            plan.kept.objects,
            bytes(plan.kept.bytes),
            plan.cold.objects,
            bytes(plan.cold.bytes),
            plan.foreign.objects
        );
        if let Some(r) = report {
            println!(
                "done: moved {} ({}), deleted {} ({}), skipped {}, failed {}, cancelled {}",
                r.transitioned.objects,
                bytes(r.transitioned.bytes),
                r.deleted.objects,
                bytes(r.deleted.bytes),
                r.skipped,
                r.failed,
                r.cancelled
            );
        }
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
