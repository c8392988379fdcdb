//! `tracegate loadgen`: an OTLP load generator on the testkit's synthetic RAG traces.
//!
//! Requests are generated and encoded before timing starts (see [`pool`]), then sent
//! round-robin by N connections, each with one call in flight, either as fast as they are
//! accepted or at a fixed rate of spans per second. A run lasts a duration or a span count.
//! Latency is that of each export call, from send to response; at a fixed rate a call that
//! falls behind its schedule is sent at once and its latency counts from then.
//!
//! `--decode-only` (hidden) is the reference for `make bench`: it decodes the same requests
//! with prost on the current thread, as fast as it can, and reports the same summary.
//!
//! `--signal logs` sends the same calls as the seed's structured LLM logs instead, one log
//! record of about the span's size per span ([`tracegate_testkit::logs`]), to `LogsService`
//! or `/v1/logs`; counts of "spans" are then counts of log records.

mod client;
mod pool;
mod report;

use anyhow::Context as _;
use clap::ValueEnum;
use client::{Client, Outcome};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use pool::Pool;
use prost::Message as _;
use report::{Summary, Tally};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracegate_testkit::{ExportTraceServiceRequest, Profile};

/// Pause after a refused call when sending as fast as accepted, so a full gateway is not
/// hammered with calls it can only refuse.
const REFUSED_BACKOFF: Duration = Duration::from_millis(5);

/// Arguments of `tracegate loadgen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// OTLP endpoint: http://HOST:PORT (default http://127.0.0.1:4317 for gRPC,
    /// http://127.0.0.1:4318 for HTTP, where /v1/traces is added when no path is given).
    #[arg(long)]
    endpoint: Option<String>,
    /// Transport.
    #[arg(long, value_enum, default_value_t = Transport::Grpc)]
    transport: Transport,
    /// Concurrent connections, each with one export call in flight.
    #[arg(long, short = 'c', default_value_t = 4)]
    connections: usize,
    /// Spans per request (whole traces; a longer trace gets a request of its own).
    #[arg(long, default_value_t = 512)]
    spans_per_request: usize,
    /// Fixed rate in spans per second (default: as fast as accepted).
    #[arg(long, value_name = "SPANS_PER_S")]
    rate: Option<f64>,
    /// How long to send, e.g. 10s, 2m, 500ms (default 10s unless --spans is given).
    #[arg(long, value_parser = parse_duration, conflicts_with = "spans")]
    duration: Option<Duration>,
    /// Spans to send: stops at the first request boundary at or after this count.
    #[arg(long)]
    spans: Option<u64>,
    /// Span profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Rag)]
    profile: ProfileArg,
    /// Seed of the trace generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Most spans pre-encoded in memory (about 570 B each for rag, 160 B for tiny); a run
    /// that sends more reuses them round-robin, with fresh trace ids on every pass.
    #[arg(long, default_value_t = 200_000)]
    pool_spans: u64,
    /// Compress requests with gzip (done per call, so it costs the generator CPU).
    #[arg(long)]
    gzip: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Decode the requests with prost in-process instead of sending them (the reference rate).
    #[arg(long, hide = true)]
    decode_only: bool,
    /// What to send: spans of traces, or the same calls as structured LLM log records (one
    /// record per span, of about its size).
    #[arg(long, value_enum, default_value_t = SignalArg::Traces)]
    signal: SignalArg,
    /// Connect over TLS (gRPC only), trusting the CA certificates in this PEM file; the
    /// endpoint may then be written http:// or https://.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// Send `authorization: Bearer TOKEN` with every call (gRPC metadata or HTTP header).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRACEGATE_LOADGEN_TOKEN",
        hide_env_values = true
    )]
    bearer_token: Option<String>,
}

/// The OTLP signal the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignalArg {
    /// `TraceService/Export`, `/v1/traces`.
    Traces,
    /// `LogsService/Export`, `/v1/logs`.
    Logs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// Realistic RAG traces: ~10 spans per trace, ~400 B spans, 1–2 KB prompts.
    Rag,
    /// Testbed-like minimal spans: ~150 B.
    Tiny,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Rag => Profile::Rag,
            ProfileArg::Tiny => Profile::Tiny,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 2m, 500ms"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Runs `tracegate loadgen`.
pub(crate) fn main(args: Args) -> ExitCode {
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// When the run stops.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Duration(Duration),
    Spans(u64),
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        anyhow::bail!("--rate must be a positive number of spans per second");
    }
    let budget = match (args.spans, args.duration) {
        (Some(spans), _) => Budget::Spans(spans),
        (None, Some(d)) => Budget::Duration(d),
        (None, None) => Budget::Duration(Duration::from_secs(10)),
    };
    let pool_spans = match budget {
        Budget::Spans(n) => n.min(args.pool_spans.max(1)),
        Budget::Duration(_) => args.pool_spans.max(1),
    };
    let pool = Pool::build(
        args.profile.into(),
        args.seed,
        pool_spans,
        args.spans_per_request,
        args.signal,
    );
    if args.decode_only {
        let summary = decode_only(args.signal, &pool, budget)?;
        print_summary(args, &PoolInfo::of(&pool), &summary, "decode-only");
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("loadgen")
        .build()
        .context("cannot start the async runtime")?;
    let info = PoolInfo::of(&pool);
    let summary = runtime.block_on(send(args, Arc::new(pool), budget))?;
    print_summary(args, &info, &summary, "send");
    if summary.sent_spans > 0 && summary.accepted_spans == 0 {
        eprintln!("error: no span was accepted");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the summary says about the pool.
#[derive(Debug, Clone, Copy)]
struct PoolInfo {
    requests: usize,
    spans: u64,
    bytes: u64,
}

impl PoolInfo {
    fn of(pool: &Pool) -> Self {
        Self {
            requests: pool.len(),
            spans: pool.spans(),
            bytes: pool.bytes(),
        }
    }
}

fn print_summary(args: &Args, pool: &PoolInfo, summary: &Summary, mode: &str) {
    let endpoint = endpoint(args);
    if args.json {
        let mut json = summary.to_json();
        if let Some(obj) = json.as_object_mut() {
            obj.insert("mode".into(), mode.into());
            obj.insert(
                "transport".into(),
                match args.transport {
                    Transport::Grpc => "grpc",
                    Transport::Http => "http",
                }
                .into(),
            );
            obj.insert("endpoint".into(), endpoint.into());
            obj.insert(
                "profile".into(),
                match args.profile {
                    ProfileArg::Rag => "rag",
                    ProfileArg::Tiny => "tiny",
                }
                .into(),
            );
            obj.insert("connections".into(), args.connections.into());
            obj.insert("spans_per_request".into(), args.spans_per_request.into());
            obj.insert("rate".into(), args.rate.into());
            obj.insert("gzip".into(), args.gzip.into());
            obj.insert(
                "signal".into(),
                match args.signal {
                    SignalArg::Traces => "traces",
                    SignalArg::Logs => "logs",
                }
                .into(),
            );
            obj.insert(
                "pool".into(),
                serde_json::json!({
                    "requests": pool.requests,
                    "spans": pool.spans,
                    "bytes": pool.bytes,
                }),
            );
        }
        println!("{json}");
    } else {
        if mode == "decode-only" {
            println!("decode-only (prost, one thread): {}", summary_line(summary));
        } else {
            println!("loadgen → {endpoint}");
        }
        print!("{}", summary.to_text());
        println!(
            "pool            {} requests, {} spans, {:.1} B per span",
            pool.requests,
            pool.spans,
            if pool.spans > 0 {
                pool.bytes as f64 / pool.spans as f64
            } else {
                0.0
            }
        );
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{:.0} spans/s, {:.1} MB/s",
        s.spans_per_s,
        s.bytes_per_s / 1e6
    )
}

fn endpoint(args: &Args) -> String {
    match (&args.endpoint, args.transport) {
        (Some(e), _) => e.clone(),
        (None, Transport::Grpc) => "http://127.0.0.1:4317".to_owned(),
        (None, Transport::Http) => "http://127.0.0.1:4318".to_owned(),
    }
}

/// The OTLP/HTTP URL: `/v1/traces` (or `/v1/logs`) added when the endpoint has no path.
fn http_url(endpoint: &str, signal: SignalArg) -> anyhow::Result<reqwest::Url> {
    let mut url =
        reqwest::Url::parse(endpoint).with_context(|| format!("invalid endpoint {endpoint}"))?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(match signal {
            SignalArg::Traces => "/v1/traces",
            SignalArg::Logs => "/v1/logs",
        });
    }
    Ok(url)
}

/// Decodes the pool's requests with prost on this thread until the budget is spent.
fn decode_only(signal: SignalArg, pool: &Pool, budget: Budget) -> anyhow::Result<Summary> {
    let mut tally = Tally::new()?;
    let start = Instant::now();
    'outer: loop {
        for request in pool.iter() {
            match budget {
                Budget::Spans(n) if tally.accepted_spans >= n => break 'outer,
                Budget::Duration(d) if start.elapsed() >= d => break 'outer,
                _ => {}
            }
            let t0 = Instant::now();
            match signal {
                SignalArg::Traces => {
                    let decoded = ExportTraceServiceRequest::decode(request.bytes.clone())
                        .context("cannot decode a generated request")?;
                    drop(std::hint::black_box(decoded));
                }
                SignalArg::Logs => {
                    let decoded = ExportLogsServiceRequest::decode(request.bytes.clone())
                        .context("cannot decode a generated request")?;
                    drop(std::hint::black_box(decoded));
                }
            }
            tally.record_latency(t0.elapsed());
            tally.requests += 1;
            tally.sent_spans += request.spans;
            tally.accepted_spans += request.spans;
            tally.sent_bytes += request.bytes.len() as u64;
            tally.accepted_bytes += request.bytes.len() as u64;
        }
        if pool.len() == 0 {
            break;
        }
    }
    Ok(tally.summary(start.elapsed()))
}

/// Live counters for the progress line.
#[derive(Debug, Default)]
struct Live {
    sent: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// Connects, then sends with `args.connections` connections until the budget is spent.
async fn send(args: &Args, pool: Arc<Pool>, budget: Budget) -> anyhow::Result<Summary> {
    let endpoint = endpoint(args);
    let connections = args.connections.max(1);
    let mut clients = Vec::with_capacity(connections);
    let auth = args
        .bearer_token
        .as_deref()
        .map(client::bearer)
        .transpose()?;
    let tls = match &args.tls_ca {
        Some(ca) => {
            if args.transport != Transport::Grpc {
                anyhow::bail!("--tls-ca: TLS is built for --transport grpc only");
            }
            let config = tracegate_tls::TlsClientConfig {
                ca_file: Some(ca.clone()),
                ..Default::default()
            };
            Some(
                config
                    .load("--tls-ca", tracegate_tls::ALPN_GRPC)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        }
        None => None,
    };
    // With --tls-ca the channel's URI says https (its :scheme).
    let endpoint = match (&tls, endpoint.strip_prefix("http://")) {
        (Some(_), Some(rest)) => format!("https://{rest}"),
        _ => endpoint,
    };
    match args.transport {
        Transport::Grpc => {
            for _ in 0..connections {
                clients.push(
                    Client::grpc(
                        &endpoint,
                        args.gzip,
                        args.signal,
                        tls.as_ref(),
                        auth.as_ref(),
                    )
                    .await?,
                );
            }
        }
        Transport::Http => {
            let url = http_url(&endpoint, args.signal)?;
            let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
            let port = url.port_or_known_default().unwrap_or(80);
            tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("cannot connect to {endpoint}"))?;
            for _ in 0..connections {
                clients.push(Client::http(url.clone(), args.gzip, auth.clone())?);
            }
        }
    }

    let next = Arc::new(AtomicU64::new(0));
    let live = Arc::new(Live::default());
    let start = tokio::time::Instant::now();
    let deadline = match budget {
        Budget::Duration(d) => Some(start + d),
        Budget::Spans(_) => None,
    };
    let limit = match budget {
        Budget::Spans(n) => Some(n),
        Budget::Duration(_) => None,
    };
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(progress(live.clone(), start)));
    let mut workers = Vec::with_capacity(connections);
    for client in clients {
        let worker = Worker {
            client,
            pool: pool.clone(),
            next: next.clone(),
            live: live.clone(),
            start,
            deadline,
            limit,
            rate: args.rate,
        };
        workers.push(tokio::spawn(worker.run()));
    }
    let mut total = Tally::new()?;
    for worker in workers {
        let tally = worker.await.context("a connection task failed")??;
        total.merge(&tally)?;
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    Ok(total.summary(elapsed))
}

/// One connection's send loop.
#[derive(Debug)]
struct Worker {
    client: Client,
    pool: Arc<Pool>,
    next: Arc<AtomicU64>,
    live: Arc<Live>,
    start: tokio::time::Instant,
    deadline: Option<tokio::time::Instant>,
    limit: Option<u64>,
    rate: Option<f64>,
}

impl Worker {
    async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new()?;
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((request, before)) = self.pool.nth(k) else {
                break;
            };
            if self.limit.is_some_and(|limit| before >= limit) {
                break;
            }
            let spans = request.spans;
            let due = self.start + report::due(before, self.rate);
            if self
                .deadline
                .is_some_and(|d| due >= d || tokio::time::Instant::now() >= d)
            {
                break;
            }
            tokio::time::sleep_until(due).await;
            let Some(body) = self.pool.body(k) else {
                break;
            };
            let bytes = body.len() as u64;
            let t0 = Instant::now();
            let outcome = self.client.export(body).await;
            tally.record_latency(t0.elapsed());
            tally.requests += 1;
            tally.sent_spans += spans;
            tally.sent_bytes += bytes;
            self.live.sent.fetch_add(spans, Ordering::Relaxed);
            match outcome {
                Outcome::Accepted { rejected } => {
                    let rejected = rejected.min(spans);
                    tally.accepted_spans += spans - rejected;
                    tally.accepted_bytes += bytes;
                    tally.rejected_spans += rejected;
                    self.live
                        .accepted
                        .fetch_add(spans - rejected, Ordering::Relaxed);
                }
                Outcome::Refused(code) => {
                    *tally.refused.entry(code).or_default() += spans;
                    self.live.refused.fetch_add(spans, Ordering::Relaxed);
                    if self.rate.is_none() {
                        tokio::time::sleep(REFUSED_BACKOFF).await;
                    }
                }
            }
        }
        Ok(tally)
    }
}

/// A progress line on stderr once per second.
async fn progress(live: Arc<Live>, start: tokio::time::Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let accepted = live.accepted.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        // A progress line that cannot be written is not worth stopping for.
        let _ = write!(
            err,
            "\r{:>5.0} s  sent {:>10}  accepted {:>10}  refused {:>8}  {:>9} spans/s ",
            start.elapsed().as_secs_f64(),
            live.sent.load(Ordering::Relaxed),
            accepted,
            live.refused.load(Ordering::Relaxed),
            accepted - last,
        );
        let _ = err.flush();
        last = accepted;
    }
}

#[cfg(test)]
mod tests;
