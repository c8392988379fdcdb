//! `tracegate compact`: the archive's small files of each hour merged into few large ones,
//! by hand (a backfill, or an archive whose gateways run with `compaction.interval: 0s`).
//!
//! The archive and its settings come from the config's `archive` exporter
//! (`exporters.archive.compaction`); `--min-age` and `--max-age` widen or narrow the hours
//! it reaches. It takes each hour's lease as the gateway's compactor does, so the two can
//! run at once on one archive. On a terminal it shows a progress line per hour.

use anyhow::Context as _;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::{ByteSize, Duration};
use tracegate_store::StoreError;
use tracegate_store::compaction::{Compactor, Event, HourDir, HourOutcome};

/// Arguments of `tracegate compact`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file; the embedded default without one.
    #[arg(short, long, value_name = "FILE", env = "TRACEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The `archive` exporter to act on, when the config has several.
    #[arg(long, value_name = "ID")]
    pub exporter: Option<String>,
    /// Compact hours that ended at least this long ago. Default: `compaction.min_age` (1h).
    #[arg(long, value_name = "AGE")]
    pub min_age: Option<Duration>,
    /// ... and at most this long ago. Default: `compaction.max_age` (30d); `--max-age
    /// 100000d` reaches the whole archive.
    #[arg(long, value_name = "AGE")]
    pub max_age: Option<Duration>,
    /// Size of the files written. Default: `compaction.target_file_size` (128MiB).
    #[arg(long, value_name = "SIZE")]
    pub target_file_size: Option<ByteSize>,
    /// One JSON object per hour, then a summary, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tracegate compact`.
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
    let (id, config) =
        crate::archive_config::archive_exporter(args.config.as_deref(), args.exporter.as_deref())?;
    let mut settings = config.compaction.clone();
    if let Some(size) = args.target_file_size {
        settings.target_file_size = size;
    }
    let min_age = args.min_age.unwrap_or(settings.min_age).get().as_secs();
    let max_age = args.max_age.unwrap_or(settings.max_age).get().as_secs();
    if max_age <= min_age {
        anyhow::bail!("--max-age must be longer than --min-age");
    }
    settings
        .validate(&format!("exporters.{id}.compaction"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let destination = config
        .destination(&format!("exporters.{id}"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Compaction blocks on its own runtime; it is built here and never entered from async
    // code.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let store = rt
        .block_on(destination.open())
        .with_context(|| format!("cannot open the archive {destination}"))?;
    let owner = format!(
        "tracegate-compact@{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| std::process::id().to_string())
    );
    let compactor = Compactor::new(
        &id,
        &owner,
        store,
        destination.prefix().clone(),
        settings.clone(),
        config.writer_options(),
        !destination.is_local(),
    );
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        // Ctrl-C gives up the hour under way (its files deleted, the hour as it was).
        let _ = ctrlc_thread(move || cancel.cancel());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tty = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!(
            "compacting {destination} (exporters.{id}): hours that ended {} to {} ago, into files of {}",
            format_secs(min_age),
            format_secs(max_age),
            settings.target_file_size
        );
    }
    let started = Instant::now();
    let mut index = 0usize;
    let mut hour_started = Instant::now();
    let mut current: Option<String> = None;
    let report = compactor.run(
        &rt,
        now,
        min_age,
        max_age,
        &cancel,
        &mut |event| match event {
            Event::Started(hour) => {
                index += 1;
                hour_started = Instant::now();
                current = Some(describe(hour));
            }
            Event::Merged(p) if tty => {
                let percent = (p.rows * 100).checked_div(p.total_rows).unwrap_or(0);
                eprint!(
                    "\r\x1b[2K[{index}] {} {percent:>3}% {} of {} rows, {:.0}s",
                    current.as_deref().unwrap_or(""),
                    p.rows,
                    p.total_rows,
                    hour_started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
            }
            Event::Merged(_) => {}
            Event::Finished(hour, outcome) => {
                if tty {
                    eprint!("\r\x1b[2K");
                }
                print_hour(
                    hour,
                    outcome,
                    hour_started.elapsed().as_secs_f64(),
                    args.json,
                );
            }
        },
    );
    let report = report.with_context(|| format!("cannot list the archive {destination}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let mb_per_s = report.input_bytes as f64 / 1e6 / seconds.max(1e-9);
    if args.json {
        println!(
            "{}",
            json!({
                "summary": true,
                "hours": report.hours,
                "compacted": report.compacted,
                "busy": report.busy,
                "failed": report.failed,
                "inputs": report.inputs,
                "outputs": report.outputs,
                "input_bytes": report.input_bytes,
                "output_bytes": report.output_bytes,
                "rows": report.rows,
                "duplicates": report.duplicates,
                "seconds": seconds,
                "input_mb_per_s": mb_per_s,
            })
        );
    } else {
        println!(
            "{} of {} hours compacted ({} busy, {} failed): {} files ({}) → {} ({}), {} rows, {} duplicates dropped, {:.1}s, {:.1} MB/s",
            report.compacted,
            report.hours,
            report.busy,
            report.failed,
            report.inputs,
            ByteSize(report.input_bytes),
            report.outputs,
            ByteSize(report.output_bytes),
            report.rows,
            report.duplicates,
            seconds,
            mb_per_s
        );
    }
    Ok(if report.failed > 0 || cancel.is_cancelled() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(hour: &HourDir) -> String {
    let dir = hour.dir.as_ref();
    // From the table on: `spans/dt=…/hour=HH`.
    let at = dir.rfind(&format!("{}/", hour.table)).unwrap_or(0);
    dir[at..].to_owned()
}

fn print_hour(hour: &HourDir, outcome: &Result<HourOutcome, StoreError>, seconds: f64, json: bool) {
    let dir = describe(hour);
    if json {
        let line = match outcome {
            Ok(HourOutcome::Compacted(r)) => json!({
                "hour": dir, "outcome": "compacted", "generation": r.generation,
                "inputs": r.inputs, "input_bytes": r.input_bytes, "outputs": r.outputs,
                "output_bytes": r.output_bytes, "rows": r.rows.rows_out,
                "duplicates": r.rows.duplicates, "garbage": r.garbage, "seconds": seconds,
            }),
            Ok(HourOutcome::Cleaned { garbage }) => {
                json!({"hour": dir, "outcome": "cleaned", "garbage": garbage})
            }
            Ok(HourOutcome::Busy) => json!({"hour": dir, "outcome": "busy"}),
            Ok(HourOutcome::Nothing) => json!({"hour": dir, "outcome": "nothing"}),
            Err(e) => json!({"hour": dir, "outcome": "failed", "error": e.to_string()}),
        };
        println!("{line}");
        return;
    }
    match outcome {
        Ok(HourOutcome::Compacted(r)) => println!(
            "  {dir}: {} files ({}) → {} ({}), {} rows, {} duplicates, generation {}, {seconds:.1}s",
            r.inputs,
            ByteSize(r.input_bytes),
            r.outputs,
            ByteSize(r.output_bytes),
            r.rows.rows_out,
            r.rows.duplicates,
            r.generation
        ),
        Ok(HourOutcome::Cleaned { garbage }) => {
            println!("  {dir}: deleted {garbage} files an earlier run left")
        }
        Ok(HourOutcome::Busy) => println!("  {dir}: another compactor holds its lease; skipped"),
        Ok(HourOutcome::Nothing) => {}
        Err(e) => println!("  {dir}: failed: {e}"),
    }
}

fn format_secs(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// Calls `on_signal` on the first SIGINT or SIGTERM, from a thread of its own (the main
/// thread blocks on the compaction).
fn ctrlc_thread(on_signal: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            on_signal();
        })
        .map(drop)
}
