//! The `tracegate` binary: CLI glue over the library crates. Not a library.
//!
//! - `tracegate run [-c FILE]` starts the gateway (the embedded `config/default.yaml` when no
//!   file is given) and shuts it down in stages on SIGINT/SIGTERM.
//! - `tracegate validate -c FILE` checks a config and prints every error with its key path.
//! - `tracegate explain FILE [--json]` prints the latency breakdown of the traces in an OTLP
//!   file as a terminal waterfall (or JSON).
//! - `tracegate trace ID` and `tracegate search 'TRACEQL'` read a running gateway's traces
//!   through its query API.
//! - `tracegate query "SELECT …"` runs SQL over the archive and the hot tier (with the
//!   `sql` feature).
//! - `tracegate compact` merges each hour's small archive files into few large ones, as the
//!   gateway does every `compaction.interval`.
//! - `tracegate lifecycle plan|apply|rule` moves the archive's old files to a cold storage
//!   class and deletes them past retention, as the gateway does every `lifecycle.interval`.

mod archive_config;
mod auth;
mod compact;
mod components;
mod data_metrics;
mod durability;
mod explain;
mod lifecycle;
mod loadgen;
mod lookup;
mod query;
mod signals;
mod sql;
mod telemetry;
mod tls;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracegate_metrics::MetricsRegistry;
use tracegate_metrics::config::MetricsConfig;
use tracegate_pipeline::BuildContext;
use tracegate_pipeline::config::{Config, ConfigErrors, RawConfig};
use tracegate_store::hot::HotRegistry;

/// mimalloc instead of glibc's malloc. A gateway allocates and frees millions of small
/// strings a second (every decoded attribute), across threads, and grows Arrow buffers by
/// doubling: with glibc that was about 15 % of CPU in malloc and free, plus page faults
/// from large buffers returned to the kernel after each archive file and faulted in again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The configuration used when `-c` is not given.
const DEFAULT_CONFIG: &str = include_str!("../../../config/default.yaml");

/// tracegate: an OpenTelemetry gateway for LLM and RAG applications.
///
/// It receives OTLP over gRPC (4317) and HTTP (4318) from any OpenTelemetry SDK and writes the
/// spans to Parquet archives (local disk or S3) that DuckDB, Athena, Trino or Spark read as
/// they are, and to any OTLP backend such as Grafana Tempo. Recent traces stay in a hot store
/// on local disk, served with Tempo's query API on port 3200 (point Grafana's Tempo
/// datasource at it, or use `tracegate search` and `tracegate trace`). Its own metrics are on
/// http://HOST:8888/metrics.
#[derive(Debug, Parser)]
#[command(
    name = "tracegate",
    version,
    about,
    long_about,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the gateway.
    ///
    /// Without -c, runs the embedded default: OTLP on 0.0.0.0:4317 (gRPC) and 0.0.0.0:4318
    /// (HTTP), spans archived as Parquet under ./data/archive, recent traces in ./data/hot
    /// served by the Tempo-compatible query API on 0.0.0.0:3200, metrics on 0.0.0.0:8888.
    /// SIGINT or SIGTERM stops the receivers, drains the pipelines and flushes the exporters.
    Run {
        /// Config file (OTel Collector shape: receivers, processors, exporters, service).
        /// `${env:VAR}` and `${env:VAR:-default}` are interpolated.
        #[arg(short, long, value_name = "FILE", env = "TRACEGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Name of this instance, used in archive file names so that several gateways can
        /// write to one bucket. Defaults to the host name.
        #[arg(long, env = "TRACEGATE_INSTANCE")]
        instance: Option<String>,
    },
    /// Check a config file and print every error with its key path.
    Validate {
        /// Config file to check.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the embedded default config, a starting point for your own.
    DefaultConfig,
    /// Show where a trace's time went: a waterfall with the critical path, self time and
    /// category of every span, and the critical path per category.
    ///
    /// FILE holds OTLP traces: OTLP/JSON (one request, or one per line) or OTLP/protobuf
    /// (ExportTraceServiceRequest messages, concatenated or length-delimited). Spans are
    /// grouped by trace id. Colour is used only when stdout is a terminal (and NO_COLOR is
    /// unset).
    Explain {
        /// The OTLP/JSON or OTLP/protobuf file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the same facts as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Send synthetic RAG traces to an OTLP endpoint and report throughput and latency.
    ///
    /// Requests are generated and encoded before timing starts, then sent round-robin over
    /// N connections (gRPC by default, or OTLP/HTTP protobuf), as fast as they are accepted
    /// or at a fixed rate, for a duration or a span count. Reports spans sent, accepted and
    /// refused (by status), spans/s and export-call latency p50/p99/p999.
    Loadgen(loadgen::Args),
    /// Show one trace from a running gateway: the waterfall with the critical path and stage
    /// breakdown, as `explain` prints it.
    ///
    /// Reads the gateway's query API (the Tempo-compatible one Grafana uses), which serves
    /// the hot store and falls back to the archive.
    Trace(lookup::TraceArgs),
    /// Search a running gateway's recent traces with TraceQL, as Grafana does, and print a
    /// table: trace id, root service and name, start, duration, spans, errors, cost, tokens.
    ///
    /// Examples: '{status=error}', '{resource.service.name="rag-api" && duration>1s}',
    /// '{span.gen_ai.request.model="gpt-4o" && span.gen_ai.usage.input_tokens>1000}',
    /// '{span.tracegate.category="retrieval" && duration>500ms}'.
    Search(lookup::SearchArgs),
    /// The archive's tiers: move files older than `lifecycle.cold_after` (90d) to a cold S3
    /// storage class (GLACIER_IR), delete those older than `lifecycle.delete_after` (if set).
    ///
    /// Ages count from the end of each file's hour partition. `plan` prints what `apply`
    /// does; `--now 2027-03-01T00:00:00Z` shows a date to come. The gateway runs the same
    /// every `lifecycle.interval` (1h) of each archive exporter.
    Lifecycle(lifecycle::Args),
    /// Merge each hour's small archive files into few of `compaction.target_file_size`
    /// (128MiB), sorted by trace and start, each span once (the duplicates of an upload
    /// retry or a replay dropped). The traces, logs and scores tables are compacted too
    /// (log records and scores are all kept).
    ///
    /// Readers that follow the hour's `_compaction.json` (tracegate query, the Tempo API's
    /// archive lookups, the README's DuckDB query) count every span once while it runs; a
    /// crash at any point leaves the archive correct, and the next run finishes the job.
    /// The gateway does the same every `compaction.interval` (10m); both take each hour's
    /// lease, so they can run at once.
    Compact(compact::Args),
    /// SQL over the archive and the hot tier together, with DataFusion (a build with
    /// `--features sql`, such as `make build-sql`).
    ///
    /// Tables: spans (hot and cold, each span once), archive_spans, hot_spans, traces, logs,
    /// scores; a filter on dt (YYYY-MM-DD) or hour (HH) reads only those partitions, and
    /// `trace_id = '…'` only the row groups that can hold it. Views of config/sql/:
    /// cost_per_model_day, cost_per_user_day, latency_by_model, slowest_stages,
    /// error_rate_by_class, low_score_traces (`--view NAME`, or SELECT * FROM NAME).
    Query(sql::QueryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(&config),
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::Explain { file, json } => explain::main(&file, json),
        Command::Loadgen(args) => loadgen::main(args),
        Command::Trace(args) => lookup::trace_main(args),
        Command::Search(args) => lookup::search_main(args),
        Command::Lifecycle(args) => lifecycle::main(args),
        Command::Compact(args) => compact::main(args),
        Command::Query(args) => sql::main(args),
        Command::Run { config, instance } => match run(config.as_deref(), instance) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "tracegate stopped with an error");
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A resolved config with what the query API needs: its section, and the hot stores the
/// `hot_store` factory built.
struct Loaded {
    config: Config,
    query: Option<query::QuerySetup>,
    hot: HotRegistry,
    /// The `metrics:` section, and the `span_metrics` and `alerts` processors it serves.
    metrics: MetricsConfig,
    data: MetricsRegistry,
    /// The `auth:` section's authenticator (open without one), shared by every listener.
    auth: std::sync::Arc<tracegate_auth::Authenticator>,
}

fn load(
    path: Option<&Path>,
    instance: Option<String>,
) -> anyhow::Result<Result<Loaded, ConfigErrors>> {
    let (text, source) = match path {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            DEFAULT_CONFIG.to_owned(),
            "embedded default config".to_owned(),
        ),
    };
    let hot = HotRegistry::new();
    let data = MetricsRegistry::new();
    let registry = components::registry(&hot, &data);
    let resolved = RawConfig::parse(&text).and_then(|raw| {
        let auth = auth::setup(&raw);
        let ctx = BuildContext::new(instance.unwrap_or_else(default_instance))
            .with_multitenancy(raw.service.multitenancy_enabled)
            .with_auth(auth.as_ref().map_or_else(
                |_| std::sync::Arc::new(tracegate_auth::Authenticator::open()),
                std::sync::Arc::clone,
            ));
        let query = query::setup(&raw);
        let metrics = data_metrics::setup(&raw);
        let telemetry_tls = tls::telemetry_tls(&raw.service.telemetry);
        let config = Config::resolve(raw, &registry, &ctx);
        match (config, query, metrics, telemetry_tls, auth) {
            (Ok(config), Ok(query), Ok(metrics), Ok(_), Ok(auth)) => Ok(Loaded {
                config,
                query,
                hot: hot.clone(),
                metrics,
                data: data.clone(),
                auth,
            }),
            (config, query, metrics, telemetry_tls, auth) => {
                let mut errors = config.err().map(|e| e.0).unwrap_or_default();
                errors.extend(query.err().unwrap_or_default());
                errors.extend(metrics.err().unwrap_or_default());
                errors.extend(telemetry_tls.err().unwrap_or_default());
                errors.extend(auth.err().unwrap_or_default());
                Err(ConfigErrors(errors))
            }
        }
    });
    tracing::debug!(%source, "config loaded");
    Ok(resolved)
}

fn validate(path: &Path) -> ExitCode {
    match load(Some(path), None) {
        Ok(Ok(_)) => {
            println!("{}: valid", path.display());
            ExitCode::SUCCESS
        }
        Ok(Err(errors)) => {
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            for e in &errors.0 {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(path: Option<&Path>, instance: Option<String>) -> anyhow::Result<()> {
    let Loaded {
        mut config,
        query,
        hot,
        metrics: metrics_config,
        data,
        auth,
    } = match load(path, instance)? {
        Ok(c) => c,
        Err(errors) => anyhow::bail!("invalid config:\n{errors}"),
    };
    telemetry::init_logs(&config.service.telemetry)?;
    tracegate_pipeline::telemetry::set_max_tenant_labels(
        config.service.telemetry.max_tenant_labels,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tracegate")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // The same Health the components report to (it came from the BuildContext).
        let telemetry_tls = tls::telemetry_tls(&config.service.telemetry)
            .map_err(|e| anyhow::anyhow!("invalid config:\n{}", ConfigErrors(e)))?;
        let metrics = telemetry::serve_metrics(
            config.service.telemetry.metrics_address,
            config.health.clone(),
            telemetry_tls.as_ref(),
        )
        .await?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        // Re-reads auth.tokens_file until the gateway stops.
        let tokens_reload = auth.spawn_reloader(shutdown.child_token());
        let api = match query {
            Some(setup) => Some(query::QueryServer::start(setup, &hot, auth.clone()).await?),
            None => None,
        };
        let data_metrics = data_metrics::DataMetrics::start(metrics_config, &data).await?;
        let wal = durability::attach(&mut config).await?;
        let result = tracegate_pipeline::topology::run(config, shutdown).await;
        if let Some(api) = api {
            api.stop().await;
        }
        data_metrics.stop().await;
        if let Some(wal) = wal {
            wal.close().await;
        }
        if let Some(task) = tokens_reload {
            task.abort();
        }
        metrics.cancel();
        result.context("the gateway stopped")
    })
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; a second one during shutdown exits the
/// process at once (status 128 + the signal's number), without waiting for the deadline.
async fn stop_on_signal(shutdown: CancellationToken) {
    let mut signals = signals::Signals::new();
    let first = signals.next().await;
    tracing::info!(
        signal = first.name(),
        "shutting down within service.shutdown_timeout; send the signal again to exit at once"
    );
    shutdown.cancel();
    let second = signals.next().await;
    tracing::error!(
        signal = second.name(),
        "second signal during shutdown: exiting at once; what was not flushed yet is lost"
    );
    eprintln!(
        "tracegate: {} during shutdown: exiting at once",
        second.name()
    );
    std::process::exit(second.exit_code());
}

/// The host name, made safe for object keys.
fn default_instance() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let clean: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "tracegate".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_embedded_default_config_resolves() {
        let loaded = load(None, Some("test".into())).unwrap().unwrap();
        let config = loaded.config;
        assert_eq!(config.receivers.len(), 1);
        assert!(
            loaded.query.is_some(),
            "the default config serves the query API"
        );
        assert!(loaded.hot.get("hot_store").is_some());
        assert!(config.exporters.keys().any(|id| id.as_str() == "archive"));
        assert!(
            loaded.metrics.prometheus.is_some(),
            "the default config serves the data metrics"
        );
        assert_eq!(loaded.data.sources().len(), 1, "span_metrics is on");
        let alerts = loaded.data.alerts();
        assert_eq!(alerts.len(), 1, "alerts is on");
        let rules = alerts[0].1.prometheus_rules();
        let names: Vec<&str> = rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["HighErrorRate", "SlowInference"]);
    }

    #[test]
    fn example_configs_resolve() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        // config/production.example.yaml reads server.crt and server.key in TRACEGATE_TLS_DIR.
        let pki = tracegate_tls::test_util::TestPki::new("example configs");
        let server = pki.server("server", "localhost");
        let tls_dir = pki.dir().join("tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::copy(&server.cert, tls_dir.join("server.crt")).unwrap();
        std::fs::copy(&server.key, tls_dir.join("server.key")).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            // Gateway configs only: config/ also holds data files such as prices.yaml.
            if name == "default.yaml" || name.ends_with(".example.yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Secrets have no default on purpose (config/production.example.yaml): a token.
                let lookup = |var: &str| match var {
                    "TRACEGATE_TLS_DIR" => Some(tls_dir.display().to_string()),
                    _ => var
                        .ends_with("_TOKEN")
                        .then(|| format!("example-{}-0123456789abcdef", var.len())),
                };
                let raw = RawConfig::parse_with_env(&text, &lookup)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let ctx = BuildContext::new("t");
                if let Err(e) = query::setup(&raw) {
                    panic!("{}: {e:?}", path.display());
                }
                if let Err(e) = data_metrics::setup(&raw) {
                    panic!("{}: {e:?}", path.display());
                }
                let hot = HotRegistry::new();
                let data = MetricsRegistry::new();
                if let Err(e) = Config::resolve(raw, &components::registry(&hot, &data), &ctx) {
                    panic!("{}: {e}", path.display());
                }
            }
        }
    }
}
