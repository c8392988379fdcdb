//! `tracegate trace ID` and `tracegate search 'TRACEQL'`: a running gateway's traces in the
//! terminal, through its Tempo-compatible query API (the same one Grafana calls).
//!
//! - `trace` fetches one trace (`GET /api/traces/{id}`, protobuf; or straight from a hot
//!   store's directory with `--data`, or from an archive with `--archive`) and prints the waterfall
//!   with the critical path and stage breakdown that `tracegate explain` prints (one renderer
//!   for both, [`crate::explain::render`]).
//! - `search` runs a TraceQL search (`GET /api/search`) and prints a table of the matching
//!   traces; for the cost and token columns it fetches each listed trace (at most `--limit`).

use crate::explain;
use anyhow::{Context as _, bail};
use prost::Message as _;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracegate_model::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracegate_model::{DEFAULT_TENANT, Span, SpanBatch, TraceId, attr, keys};
use tracegate_store::Destination;
use tracegate_store::hot::HotStore;
use tracegate_store::read::{ColdArchive, ColdOptions};

/// Where `trace` and `search` read from when no flag says otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3200";

/// Arguments of `tracegate trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The trace id, in hex. A 64-bit id, or one with its leading zeros trimmed (as search
    /// results show them), is left-padded with zeros.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The gateway's query API.
    #[arg(long, env = "TRACEGATE_QUERY_URL", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Read a hot store's directory directly (the `hot_store` exporter's `path`, such as
    /// ./data/hot) instead of asking a gateway; works while the gateway is stopped.
    #[arg(long, value_name = "DIR", conflicts_with = "archive")]
    pub data: Option<PathBuf>,
    /// Read an archive directly (a local path, file://… or s3://bucket/prefix; S3 settings
    /// from the usual AWS_* variables) instead of asking a gateway.
    #[arg(long, value_name = "URL")]
    pub archive: Option<String>,
    /// The tenant to read as (sent as `X-Scope-OrgID`), when multi-tenancy is on; with
    /// --archive, only its part of the archive (`{table}/tenant={T}/…`) is read.
    #[arg(long, env = "TRACEGATE_TENANT")]
    pub tenant: Option<String>,
    /// Print the breakdown as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tracegate search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// A TraceQL query, such as `{span.gen_ai.request.model="gpt-4o" && duration>2s}`.
    #[arg(value_name = "TRACEQL")]
    pub query: String,
    /// How far back to search (`15m`, `1h`, `2d`); at most 168h, as Tempo.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// The most traces to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// The gateway's query API.
    #[arg(long, env = "TRACEGATE_QUERY_URL", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// The tenant to read as (sent as `X-Scope-OrgID`), when multi-tenancy is on.
    #[arg(long, env = "TRACEGATE_TENANT")]
    pub tenant: Option<String>,
    /// Print the rows as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tracegate trace`.
pub fn trace_main(args: TraceArgs) -> ExitCode {
    finish(run(async move {
        let id = TraceId::parse_padded(&args.id)
            .map_err(|e| anyhow::anyhow!("{:?} is not a trace id: {e}", args.id))?;
        let (spans, source) = if let Some(dir) = &args.data {
            let tenant = args
                .tenant
                .clone()
                .unwrap_or_else(|| DEFAULT_TENANT.to_owned());
            let dir = dir.clone();
            let found = tokio::task::spawn_blocking(move || {
                HotStore::open_read_only(&dir)?.find_trace(&tenant, &id)
            })
            .await
            .context("the hot store read did not complete")?
            .with_context(|| format!("cannot read the hot store at {}", dir_name(&args.data)))?;
            (found.filter(|s| !s.is_empty()), dir_name(&args.data))
        } else if let Some(url) = &args.archive {
            let destination = Destination::from_url(url, None)
                .with_context(|| format!("invalid archive URL {url:?}"))?;
            // An archive written with multi-tenancy is read in the tenant's part only
            // (`{table}/tenant={T}/…`); without --tenant, the archive without tenant levels.
            let lookup = ColdArchive::new(destination, ColdOptions::default())
                .find_trace_of(args.tenant.as_deref(), &id, None)
                .await
                .with_context(|| format!("cannot read the archive at {url}"))?;
            (
                (!lookup.spans.is_empty()).then_some(lookup.spans),
                url.clone(),
            )
        } else {
            let client = Client::new(&args.endpoint, args.tenant.as_deref())?;
            (client.trace(&id).await?, args.endpoint.clone())
        };
        let spans = spans.with_context(|| format!("trace {id} was not found in {source}"))?;
        let colour = !args.json && explain::colour_on_stdout();
        explain::render(vec![(id, spans)], args.json, colour)
    }))
}

/// Runs `tracegate search`.
pub fn search_main(args: SearchArgs) -> ExitCode {
    finish(run(async move {
        let client = Client::new(&args.endpoint, args.tenant.as_deref())?;
        let rows = client.search(&args.query, args.since, args.limit).await?;
        if args.json {
            let rows: Vec<Value> = rows.iter().map(Row::to_json).collect();
            let mut text = serde_json::to_string_pretty(&rows)?;
            text.push('\n');
            return Ok(text);
        }
        Ok(table(&rows))
    }))
}

fn dir_name(dir: &Option<PathBuf>) -> String {
    dir.as_deref()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

fn run(work: impl Future<Output = anyhow::Result<String>>) -> anyhow::Result<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

fn finish(result: anyhow::Result<String>) -> ExitCode {
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A client of the query API.
struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    tenant: Option<String>,
}

impl Client {
    fn new(endpoint: &str, tenant: Option<&str>) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(endpoint).with_context(|| {
            format!("invalid endpoint {endpoint:?}: give a URL such as {DEFAULT_ENDPOINT}")
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base,
            tenant: tenant.map(str::to_owned),
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut url = self.base.clone();
        url.set_path(path);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut request = self.http.get(url.clone()).header("accept", accept);
        if let Some(tenant) = &self.tenant {
            request = request.header("x-scope-orgid", tenant);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach the query API at {url}: is the gateway running (tracegate run)?")
        })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok((status, body.to_vec()))
    }

    /// The trace's spans, or `None` when the gateway does not have it.
    async fn trace(&self, id: &TraceId) -> anyhow::Result<Option<Vec<Span>>> {
        let path = format!("/api/traces/{}", id.to_hex());
        let (status, body) = self.get(&path, &[], "application/protobuf").await?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => bail!(
                "the query API answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ),
        }
        // `tempopb.Trace` has the wire format of an OTLP `TracesData`.
        let request = ExportTraceServiceRequest::decode(&body[..])
            .context("the query API's trace is not valid protobuf")?;
        let (SpanBatch { spans }, rejected) = SpanBatch::from_request(request);
        if !rejected.is_empty() {
            eprintln!("warning: {}", rejected.message());
        }
        Ok((!spans.is_empty()).then_some(spans))
    }

    async fn search(&self, query: &str, since: Duration, limit: u32) -> anyhow::Result<Vec<Row>> {
        let end = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let start = end.saturating_sub(since.as_secs().max(1));
        let params = [
            ("q", query.to_owned()),
            ("start", start.to_string()),
            ("end", (end + 1).to_string()),
            ("limit", limit.to_string()),
        ];
        let (status, body) = self.get("/api/search", &params, "application/json").await?;
        if status != 200 {
            bail!(
                "the search failed ({status}): {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        let answer: Value =
            serde_json::from_slice(&body).context("the query API's search answer is not JSON")?;
        let mut rows = Vec::new();
        for t in answer["traces"].as_array().into_iter().flatten() {
            let mut row = Row::from_search(t);
            if let Ok(id) = TraceId::parse_padded(&row.trace_id)
                && let Some(spans) = self.trace(&id).await?
            {
                row.add_totals(&spans);
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

/// One line of the search table.
#[derive(Debug, Default)]
struct Row {
    trace_id: String,
    root_service: String,
    root_name: String,
    start_unix_nano: u64,
    duration_ms: u64,
    spans: u64,
    errors: u64,
    cost_usd: f64,
    tokens: i64,
}

impl Row {
    fn from_search(t: &Value) -> Self {
        let number = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0)
        };
        let (mut spans, mut errors) = (0, 0);
        if let Some(stats) = t["serviceStats"].as_object() {
            for s in stats.values() {
                spans += number(&s["spanCount"]);
                errors += number(&s["errorCount"]);
            }
        }
        Self {
            trace_id: t["traceID"].as_str().unwrap_or_default().to_owned(),
            root_service: t["rootServiceName"].as_str().unwrap_or_default().to_owned(),
            root_name: t["rootTraceName"].as_str().unwrap_or_default().to_owned(),
            start_unix_nano: number(&t["startTimeUnixNano"]),
            duration_ms: number(&t["durationMs"]),
            spans,
            errors,
            ..Self::default()
        }
    }

    /// Cost and tokens from the trace's spans (their `tracegate.cost_usd` and
    /// `gen_ai.usage.*_tokens`); the span and error counts too, when search gave none.
    fn add_totals(&mut self, spans: &[Span]) {
        for span in spans {
            self.cost_usd +=
                attr::get_f64(&span.attributes, keys::TRACEGATE_COST_USD).unwrap_or(0.0);
            self.tokens += attr::get_i64(&span.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS)
                .unwrap_or(0)
                + attr::get_i64(&span.attributes, keys::GEN_AI_USAGE_OUTPUT_TOKENS).unwrap_or(0);
        }
        if self.spans == 0 {
            self.spans = spans.len() as u64;
            self.errors = spans.iter().filter(|s| s.is_error()).count() as u64;
        }
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "trace_id": self.trace_id,
            "root_service": self.root_service,
            "root_name": self.root_name,
            "start_time_unix_nano": self.start_unix_nano,
            "duration_ms": self.duration_ms,
            "spans": self.spans,
            "errors": self.errors,
            "cost_usd": self.cost_usd,
            "tokens": self.tokens,
        })
    }
}

/// The rows as an aligned table, newest first (the API's order).
fn table(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no traces matched\n".to_owned();
    }
    let headers = [
        "TRACE ID",
        "ROOT",
        "START (UTC)",
        "DURATION",
        "SPANS",
        "ERRORS",
        "COST",
        "TOKENS",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.trace_id.clone(),
                format!("{}: {}", r.root_service, r.root_name),
                utc(r.start_unix_nano),
                format!("{} ms", r.duration_ms),
                r.spans.to_string(),
                r.errors.to_string(),
                format!("${:.4}", r.cost_usd),
                r.tokens.to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count()).min(60);
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cols: &[&str]| {
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            let c: String = c.chars().take(w).collect();
            let sep = if i + 1 == cols.len() { "\n" } else { "  " };
            let _ = write!(out, "{c:<w$}{sep}");
        }
    };
    line(&mut out, &headers);
    for row in &cells {
        let cols: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &cols);
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in ns.
fn utc(unix_nano: u64) -> String {
    let secs = unix_nano / 1_000_000_000;
    let (y, m, d) = tracegate_store::layout::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_rows_read_tempos_json_and_print_aligned() {
        let t = serde_json::json!({
            "traceID": "2f3e0cee77ae5dc9c17ade3689eb2e54",
            "rootServiceName": "rag-api",
            "rootTraceName": "POST /chat",
            "startTimeUnixNano": "1684778327699392724",
            "durationMs": 557,
            "serviceStats": { "rag-api": { "spanCount": 5, "errorCount": 1 }, "llm": { "spanCount": 2 } }
        });
        let row = Row::from_search(&t);
        assert_eq!((row.spans, row.errors, row.duration_ms), (7, 1, 557));
        assert_eq!(utc(row.start_unix_nano), "2023-05-22 17:58:47");
        let text = table(&[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("TRACE ID"));
        assert!(lines[1].contains("rag-api: POST /chat"));
        assert!(lines[1].contains("557 ms"));
        assert_eq!(lines[0].find("ROOT"), lines[1].find("rag-api"));
        assert_eq!(table(&[]), "no traces matched\n");
    }
}
