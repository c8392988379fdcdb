//! `tracegate query "SELECT …"`, and the engine behind the query API's `POST /api/sql`: SQL
//! over the archive and the hot tier (crates/sql), in builds with the `sql` feature.
//!
//! Without the feature (`make run`'s build, which stays fast to compile) the command and
//! the endpoint say how to get it; everything else works the same.

use std::path::PathBuf;

/// Arguments of `tracegate query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The statement, such as "SELECT service_name, count(*) FROM spans GROUP BY 1";
    /// `-` reads it from standard input.
    #[arg(value_name = "SQL", conflicts_with_all = ["file", "view"])]
    pub sql: Option<String>,
    /// Read the statement from a file (such as config/sql/cost_per_model_day.sql).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run one of the shipped views, in its own order: cost_per_model_day,
    /// cost_per_user_day, latency_by_model, slowest_stages, error_rate_by_class,
    /// low_score_traces.
    #[arg(long, value_name = "NAME")]
    pub view: Option<String>,
    /// Config file whose archive and hot_store exporters are read (the embedded default
    /// without one: ./data/archive and ./data/hot).
    #[arg(short, long, value_name = "FILE", env = "TRACEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read this archive instead (a path, file://… or s3://bucket/prefix; S3 settings from
    /// the usual AWS_* variables).
    #[arg(long, value_name = "URL")]
    pub archive: Option<String>,
    /// Read this hot store's directory instead.
    #[arg(long, value_name = "DIR")]
    pub hot: Option<PathBuf>,
    /// With multi-tenancy: read this tenant's data only.
    #[arg(long, env = "TRACEGATE_TENANT")]
    pub tenant: Option<String>,
    /// Output: table (for a terminal), csv, json, jsonl, parquet or arrow.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Write the result to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Memory for joins, sorts and aggregations; a query that needs more fails.
    #[arg(long, default_value = "1GiB")]
    pub memory: String,
}

/// Runs `tracegate query`.
#[cfg(not(feature = "sql"))]
pub fn main(_args: QueryArgs) -> std::process::ExitCode {
    eprintln!(
        "error: this tracegate was built without SQL, which keeps `make run`'s first build \
         short. Build it with `cargo build --release -p tracegate --features sql` (or \
         `make build-sql`), or read the archive with DuckDB:\n  duckdb -c \"SELECT count(*) \
         FROM read_parquet('data/archive/spans/**/*.parquet', hive_partitioning = true)\""
    );
    std::process::ExitCode::from(2)
}

#[cfg(feature = "sql")]
pub use with_sql::{SqlService, main};

#[cfg(feature = "sql")]
mod with_sql {
    use super::QueryArgs;
    use anyhow::{Context as _, bail};
    use std::io::{IsTerminal as _, Read as _, Write as _};
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tracegate_pipeline::config::{RawConfig, parse_section};
    use tracegate_query::api::sql::{SqlAnswer, SqlBackend, SqlFailure, SqlFormat};
    use tracegate_sql::{Engine, Format, Limits, Sources, views};
    use tracegate_store::Destination;
    use tracegate_store::hot::HotStoreConfig;

    /// Runs `tracegate query`.
    pub fn main(args: QueryArgs) -> ExitCode {
        match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        }
    }

    fn statement(args: &QueryArgs) -> anyhow::Result<String> {
        if let Some(name) = &args.view {
            return views::VIEWS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, sql)| (*sql).to_owned())
                .with_context(|| {
                    let names: Vec<&str> = views::VIEWS.iter().map(|(n, _)| *n).collect();
                    format!(
                        "no view {name:?}; the shipped ones are {}",
                        names.join(", ")
                    )
                });
        }
        if let Some(file) = &args.file {
            return std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()));
        }
        match args.sql.as_deref() {
            Some("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the statement from standard input")?;
                Ok(text)
            }
            Some(sql) => Ok(sql.to_owned()),
            None => bail!(
                "give a statement, -f FILE or --view NAME, such as: tracegate query \
                 \"SELECT service_name, count(*) FROM spans GROUP BY 1\""
            ),
        }
    }

    /// The archive and hot store the config's exporters write.
    fn locations(
        args: &QueryArgs,
    ) -> anyhow::Result<(Option<Destination>, Option<std::path::PathBuf>)> {
        let text = crate::archive_config::config_text(args.config.as_deref())?;
        let raw = RawConfig::parse(&text).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
        let of_type = |kind: &str| -> Vec<String> {
            raw.exporters
                .keys()
                .filter(|k| k.split('/').next() == Some(kind))
                .cloned()
                .collect()
        };
        let archive = match &args.archive {
            Some(url) => Some(Destination::from_url(url, None)?),
            None => match crate::archive_config::first_archive(args.config.as_deref())? {
                None => None,
                Some((id, config)) => Some(
                    config
                        .destination(&format!("exporters.{id}"))
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ),
            },
        };
        let hot = match &args.hot {
            Some(dir) => Some(dir.clone()),
            None => match of_type("hot_store").as_slice() {
                [] => None,
                [id, ..] => {
                    let config: HotStoreConfig =
                        parse_section(&format!("exporters.{id}"), raw.exporters[id].clone())
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Some(config.path)
                }
            },
        };
        Ok((archive, hot))
    }

    fn run(args: QueryArgs) -> anyhow::Result<()> {
        let sql = statement(&args)?;
        let format = Format::parse(&args.format).with_context(|| {
            format!(
                "--format {:?}: use table, csv, json, jsonl, parquet or arrow",
                args.format
            )
        })?;
        let memory: tracegate_pipeline::ByteSize = args
            .memory
            .parse()
            .map_err(|e| anyhow::anyhow!("--memory: {e}"))?;
        let binary = matches!(format, Format::Parquet | Format::Arrow);
        if binary && args.output.is_none() && std::io::stdout().is_terminal() {
            bail!(
                "--format {} is binary: add -o FILE, or redirect standard output",
                args.format
            );
        }
        let (archive, hot) = locations(&args)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let archive = match archive {
                Some(d) => Some((
                    d.open()
                        .await
                        .with_context(|| format!("cannot open the archive {d}"))?,
                    d.prefix().clone(),
                )),
                None => None,
            };
            let sources = Sources {
                archive,
                hot,
                tenant: args.tenant.clone(),
            };
            let limits = Limits {
                memory_bytes: memory.as_usize(),
                ..Limits::default()
            };
            let engine = Arc::new(Engine::open(&sources, limits).await?);
            let progress = progress_line(engine.clone());
            let result = engine.query(&sql).await;
            if let Some(p) = progress {
                p.abort();
                eprint!("\r\x1b[2K");
            }
            let (schema, batches) = result?;
            match &args.output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    tracegate_sql::output::write(
                        format,
                        &schema,
                        &batches,
                        std::io::BufWriter::new(file),
                    )?;
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout());
                    tracegate_sql::output::write(format, &schema, &batches, &mut out)?;
                    out.flush().context("cannot write to standard output")?;
                }
            }
            Ok(())
        })
    }

    /// On a terminal, a line on standard error once a query runs for more than a second:
    /// the time so far and the archive bytes read.
    fn progress_line(engine: Arc<Engine>) -> Option<tokio::task::JoinHandle<()>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let started = Instant::now();
        Some(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            loop {
                let mib = engine.bytes_read() as f64 / (1024.0 * 1024.0);
                eprint!(
                    "\r\x1b[2Kscanning… {:.1} s, {mib:.1} MiB of the archive read",
                    started.elapsed().as_secs_f64()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }))
    }

    /// `POST /api/sql` over one archive and hot store, each request on its tenant's data.
    pub struct SqlService {
        archive: Option<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)>,
        hot: Option<std::path::PathBuf>,
        limits: Limits,
    }

    /// The most bytes one answer may have.
    const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

    impl SqlService {
        /// Serves the archive at `archive` and the hot store at `hot`, each query within
        /// 256 MiB.
        pub fn new(
            archive: Option<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)>,
            hot: Option<std::path::PathBuf>,
        ) -> Self {
            let limits = Limits {
                memory_bytes: 256 << 20,
                ..Limits::default()
            };
            Self {
                archive,
                hot,
                limits,
            }
        }
    }

    impl SqlBackend for SqlService {
        fn run(
            &self,
            tenant: Option<String>,
            sql: String,
            format: SqlFormat,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SqlAnswer> + Send + '_>> {
            Box::pin(async move {
                let fail = |e: tracegate_sql::SqlError| SqlFailure {
                    bad_query: e.is_bad_query(),
                    message: e.to_string(),
                };
                let sources = Sources {
                    archive: self.archive.clone(),
                    hot: self.hot.clone(),
                    tenant,
                };
                let engine = Engine::open(&sources, self.limits).await.map_err(fail)?;
                let (schema, batches) = engine.query(&sql).await.map_err(fail)?;
                let size: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
                if size > MAX_ANSWER_BYTES {
                    return Err(SqlFailure {
                        bad_query: true,
                        message: format!(
                            "the result holds {size} bytes; at most {MAX_ANSWER_BYTES} are sent: \
                             add a LIMIT or aggregate"
                        ),
                    });
                }
                let (format, content_type) = match format {
                    SqlFormat::Json => (Format::Json, "application/json"),
                    SqlFormat::Arrow => (Format::Arrow, "application/vnd.apache.arrow.stream"),
                };
                let mut body = Vec::new();
                if format == Format::Json && batches.iter().all(|b| b.num_rows() == 0) {
                    body.extend_from_slice(b"[]");
                } else {
                    tracegate_sql::output::write(format, &schema, &batches, &mut body)
                        .map_err(fail)?;
                }
                Ok((content_type, body))
            })
        }
    }
}
