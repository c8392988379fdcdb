//! `tracegate explain FILE [--json]`: the latency breakdown of the traces in a file, as a
//! terminal waterfall or as JSON.
//!
//! The file holds OTLP traces in one of these forms (detected from the first byte):
//! - OTLP/JSON: one `ExportTraceServiceRequest` document, or several, one per line (JSONL, as
//!   the Collector's file exporter writes them);
//! - OTLP/protobuf: one `ExportTraceServiceRequest`, or several simply concatenated (protobuf
//!   merges concatenated messages into one request holding every span, so `cat a.pb b.pb`
//!   works); failing that, a sequence of length-delimited requests (each preceded by its
//!   varint length, as `writeDelimitedTo` writes them).
//!
//! Spans are grouped by trace id (traces in order of first appearance) and each trace goes
//! through the same analysis as the `latency_breakdown` processor.

use anyhow::{Context as _, bail};
use prost::Message as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use tracegate_breakdown::{Breakdown, Category, Options, analyze};
use tracegate_model::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracegate_model::{Span, SpanBatch, TraceId};

/// Width of the waterfall's time bar, in cells.
const BAR_WIDTH: usize = 40;
/// Width of the name column (indentation included).
const NAME_WIDTH: usize = 34;

/// Runs the subcommand: prints to stdout, errors to stderr.
pub fn main(path: &Path, as_json: bool) -> ExitCode {
    let colour = !as_json && colour_on_stdout();
    match explain(path, as_json, colour) {
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

/// The text (or JSON) `explain` prints for the file at `path`.
pub fn explain(path: &Path, as_json: bool, colour: bool) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let requests = decode(&bytes).with_context(|| format!("cannot decode {}", path.display()))?;
    let traces = group(requests);
    if traces.is_empty() {
        bail!("{} holds no spans", path.display());
    }
    render(traces, as_json, colour)
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset.
pub fn colour_on_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The waterfall (or JSON) of each trace: the one renderer behind `explain` and `trace`.
pub fn render(
    traces: Vec<(TraceId, Vec<Span>)>,
    as_json: bool,
    colour: bool,
) -> anyhow::Result<String> {
    let options = Options::default();
    let analysed: Vec<(TraceId, Vec<Span>, Breakdown)> = traces
        .into_iter()
        .map(|(id, spans)| {
            let b = analyze(&spans, &options);
            (id, spans, b)
        })
        .collect();
    if as_json {
        let traces: Vec<Value> = analysed
            .iter()
            .map(|(id, spans, b)| trace_json(id, spans, b))
            .collect();
        let mut text = serde_json::to_string_pretty(&json!({ "traces": traces }))?;
        text.push('\n');
        Ok(text)
    } else {
        let mut out = String::new();
        for (i, (id, spans, b)) in analysed.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            waterfall(&mut out, id, spans, b, colour);
        }
        Ok(out)
    }
}

/// Decodes the file's requests: OTLP/JSON (a document or JSONL) or OTLP/protobuf.
fn decode(bytes: &[u8]) -> anyhow::Result<Vec<ExportTraceServiceRequest>> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let whole = match tracegate_otlp::receiver::decode_json_request(bytes) {
            Ok(request) => return Ok(vec![request]),
            Err(e) => e,
        };
        let lines: Vec<(usize, &[u8])> = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()))
            .collect();
        if lines.len() < 2 {
            bail!("{whole}");
        }
        return lines
            .into_iter()
            .map(|(n, line)| {
                tracegate_otlp::receiver::decode_json_request(line)
                    .map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))
            })
            .collect();
    }
    match ExportTraceServiceRequest::decode(bytes) {
        Ok(request) => Ok(vec![request]),
        Err(whole) => {
            let mut buf = bytes;
            let mut out = Vec::new();
            while !buf.is_empty() {
                match ExportTraceServiceRequest::decode_length_delimited(&mut buf) {
                    Ok(r) => out.push(r),
                    Err(_) => bail!(
                        "neither OTLP/JSON nor OTLP/protobuf (ExportTraceServiceRequest): {whole}"
                    ),
                }
            }
            Ok(out)
        }
    }
}

/// Valid spans grouped by trace id, traces in order of first appearance.
pub fn group(requests: Vec<ExportTraceServiceRequest>) -> Vec<(TraceId, Vec<Span>)> {
    let mut traces: Vec<(TraceId, Vec<Span>)> = Vec::new();
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    for request in requests {
        let (SpanBatch { spans }, rejected) = SpanBatch::from_request(request);
        if !rejected.is_empty() {
            eprintln!("warning: {}", rejected.message());
        }
        for span in spans {
            let slot = *index.entry(span.trace_id).or_insert_with(|| {
                traces.push((span.trace_id, Vec::new()));
                traces.len() - 1
            });
            traces[slot].1.push(span);
        }
    }
    traces
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn signed_ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// Cuts `text` to `width` characters, marking the cut with `…`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        format!("{text:<width$}")
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
    fn path(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
}

/// One line per span, indented by depth: name, service, category, self and critical-path
/// ms, a bar over the root's window (`█` on the critical path, `░` elsewhere, `›` where the
/// span runs past the window), then notes.
fn waterfall(out: &mut String, id: &TraceId, spans: &[Span], b: &Breakdown, colour: bool) {
    let p = Paint { on: colour };
    let total = b.duration_ns();
    let root = match b.root {
        Some(r) => format!("{} ({})", spans[r].name, spans[r].service_name()),
        None => "no single root: a virtual root spans the trace".to_owned(),
    };
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "trace {id} · {} spans · {:.1} ms · root {root}",
            spans.len(),
            ms(total)
        ))
    );
    let header = format!(
        "{} {:<14} {:<9} {:>9} {:>9}  {}",
        fit("span", NAME_WIDTH),
        "service",
        "category",
        "self ms",
        "path ms",
        format_args!("0 … {:.1} ms", ms(total))
    );
    let _ = writeln!(out, "{}", p.dim(&header));
    let mut segments: Vec<Vec<(u64, u64)>> = vec![Vec::new(); spans.len()];
    for s in &b.segments {
        if let Some(i) = s.span {
            segments[i].push((s.start_ns, s.end_ns));
        }
    }
    for &i in &b.order {
        let f = &b.spans[i];
        let name = format!("{}{}", "  ".repeat(f.depth as usize), spans[i].name);
        let category = if f.path_category == Category::Network {
            "network"
        } else {
            f.category.as_str()
        };
        let mut line = format!(
            "{} {} {:<9} {:>9.1} {:>9.1}  ",
            fit(&name, NAME_WIDTH),
            fit(spans[i].service_name(), 14),
            category,
            ms(f.self_time_ns),
            ms(f.critical_path_ns),
        );
        line.push_str(&bar(b, f.start_ns, f.end_ns, &segments[i], &p));
        let notes = notes(b, i);
        if !notes.is_empty() {
            line.push_str("  ");
            line.push_str(&p.dim(&notes.join(", ")));
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for e in evaluations(&spans[i]) {
            let indent = "  ".repeat(f.depth as usize + 1);
            let _ = writeln!(out, "{}", p.dim(&format!("{indent}↳ score {}", e.text())));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!("critical path by category ({:.1} ms):", ms(total)))
    );
    let summary = b.summary(spans);
    for (c, ns) in summary.categories() {
        let cells = ((ns as u128 * 20).div_ceil(u128::from(total.max(1)))) as usize;
        let _ = writeln!(
            out,
            "  {:<10} {:>9.1} ms {:>5.1}%  {}",
            c.as_str(),
            ms(ns),
            percent(ns, total),
            p.path(&"█".repeat(cells))
        );
    }
    if !summary.top_contributors.is_empty() {
        let _ = writeln!(out, "{}", p.bold("largest contributors:"));
        for (n, c) in summary.top_contributors.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} ({})  {:.1} ms",
                n + 1,
                c.name,
                c.service,
                ms(c.ns)
            );
        }
    }
}

fn bar(b: &Breakdown, start: u64, end: u64, on_path: &[(u64, u64)], p: &Paint) -> String {
    let (ws, we) = (b.start_ns, b.end_ns);
    let width = BAR_WIDTH as u128;
    let span = u128::from((we - ws).max(1));
    let cell_of = |t: u64| -> usize {
        let off = u128::from(t.clamp(ws, we) - ws);
        ((off * width / span) as usize).min(BAR_WIDTH - 1)
    };
    let cell_start = |c: usize| ws + (c as u128 * span / width) as u64;
    let (first, last) = if end < ws || start > we {
        (usize::MAX, 0) // entirely outside the window: no cells
    } else {
        let last = if end > start {
            cell_of(end.saturating_sub(1)).max(cell_of(start))
        } else {
            cell_of(start)
        };
        (cell_of(start), last)
    };
    let mut text = String::new();
    let mut run = String::new();
    let mut run_hot = false;
    let flush = |text: &mut String, run: &mut String, hot: bool| {
        if !run.is_empty() {
            text.push_str(&if hot { p.path(run) } else { p.dim(run) });
            run.clear();
        }
    };
    for c in 0..BAR_WIDTH {
        if c < first || c > last {
            flush(&mut text, &mut run, run_hot);
            text.push(' ');
            continue;
        }
        let (cs, ce) = (cell_start(c), cell_start(c + 1).max(cell_start(c) + 1));
        let hot = on_path.iter().any(|&(s, e)| s < ce && e > cs);
        if hot != run_hot {
            flush(&mut text, &mut run, run_hot);
            run_hot = hot;
        }
        run.push(if hot { '█' } else { '░' });
    }
    flush(&mut text, &mut run, run_hot);
    let outside = end > we || start < ws;
    text.push(if outside { '›' } else { ' ' });
    text
}

fn notes(b: &Breakdown, i: usize) -> Vec<String> {
    let f = &b.spans[i];
    let mut notes = Vec::new();
    if let Some(l) = f.llm {
        notes.push(format!(
            "ttft {:.1} ms, decode {:.1} ms",
            ms(l.prefill_ns),
            ms(l.decode_ns)
        ));
    }
    if let Some(n) = f.network_ns {
        notes.push(format!("network {:.1} ms", ms(n)));
    }
    let inherited = f.parent.map_or(0, |p| b.spans[p].skew_adjusted_ns);
    if f.skew_adjusted_ns != inherited {
        notes.push(format!(
            "clock skew {:+.1} ms",
            signed_ms(f.skew_adjusted_ns)
        ));
    }
    if f.orphan {
        notes.push("parent missing".to_owned());
    }
    if f.cycle_broken {
        notes.push("parent cycle cut".to_owned());
    }
    if f.duplicate_id {
        notes.push("duplicate span id".to_owned());
    }
    if f.end_ns > b.end_ns {
        notes.push(format!(
            "ends {:.1} ms after the root",
            ms(f.end_ns - b.end_ns)
        ));
    }
    notes
}

fn trace_json(id: &TraceId, spans: &[Span], b: &Breakdown) -> Value {
    let summary = b.summary(spans);
    let offset = |t: u64| i128::from(t) - i128::from(b.start_ns);
    let mut segments: Vec<Vec<Value>> = vec![Vec::new(); spans.len()];
    for s in &b.segments {
        if let Some(i) = s.span {
            segments[i].push(json!([offset(s.start_ns), offset(s.end_ns)]));
        }
    }
    let span_rows: Vec<Value> = b
        .order
        .iter()
        .map(|&i| {
            let f = &b.spans[i];
            let s = &spans[i];
            json!({
                "span_id": s.span_id.to_hex(),
                "parent_span_id": s.parent_span_id.map(|p| p.to_hex()),
                "name": s.name,
                "service": s.service_name(),
                "kind": s.kind.as_str_name(),
                "depth": f.depth,
                "start_offset_ns": offset(f.start_ns),
                "end_offset_ns": offset(f.end_ns),
                "duration_ns": s.duration_ns(),
                "category": f.category.as_str(),
                "critical_path_category": f.path_category.as_str(),
                "self_time_ns": f.self_time_ns,
                "critical_path_ns": f.critical_path_ns,
                "critical_path_segments": segments[i],
                "prefill_ns": f.llm.map(|l| l.prefill_ns),
                "decode_ns": f.llm.map(|l| l.decode_ns),
                "ttft_source": f.llm.map(|l| l.source.as_str()),
                "network_ns": f.network_ns,
                "skew_adjusted_ns": f.skew_adjusted_ns,
                "orphan": f.orphan,
                "cycle_broken": f.cycle_broken,
                "duplicate_span_id": f.duplicate_id,
                "scores": evaluations(s).iter().map(Evaluation::json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let by_category: serde_json::Map<String, Value> = summary
        .categories()
        .into_iter()
        .map(|(c, ns)| {
            (
                c.as_str().to_owned(),
                json!({ "ns": ns, "percent": (percent(ns, summary.duration_ns) * 10.0).round() / 10.0 }),
            )
        })
        .collect();
    json!({
        "trace_id": id.to_hex(),
        "root_span_id": b.root.map(|r| spans[r].span_id.to_hex()),
        "start_time_unix_nano": b.start_ns,
        "duration_ns": b.duration_ns(),
        "span_count": spans.len(),
        "critical_path_by_category": by_category,
        "top_contributors": summary.top_contributors.iter().map(|c| json!({
            "name": c.name, "service": c.service, "ns": c.ns
        })).collect::<Vec<_>>(),
        "spans": span_rows,
    })
}

/// A `gen_ai.evaluation.result` event on a span: a score the hot store or the archive
/// attached to the span it rates (or one the span carried itself).
struct Evaluation<'a> {
    name: &'a str,
    value: Option<f64>,
    label: Option<&'a str>,
    explanation: Option<&'a str>,
}

impl Evaluation<'_> {
    /// `relevance = 0.25 (fail): explanation`.
    fn text(&self) -> String {
        let mut t = self.name.to_owned();
        if let Some(v) = self.value {
            let _ = write!(t, " = {v}");
        }
        if let Some(l) = self.label {
            let _ = write!(t, " ({l})");
        }
        if let Some(x) = self.explanation {
            let _ = write!(t, ": {}", fit(x, 60).trim_end());
        }
        t
    }

    fn json(&self) -> Value {
        json!({ "name": self.name, "value": self.value, "label": self.label, "explanation": self.explanation })
    }
}

fn evaluations(span: &Span) -> Vec<Evaluation<'_>> {
    use tracegate_model::{attr, keys};
    span.events
        .iter()
        .filter(|e| e.name == keys::GEN_AI_EVALUATION_RESULT)
        .map(|e| Evaluation {
            name: attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME).unwrap_or("score"),
            value: attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
            label: attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_LABEL),
            explanation: attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_EXPLANATION),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_on_a_span_are_shown_under_it_and_in_the_json() {
        use tracegate_model::{attr, keys, proto::trace::v1::span::Event};
        let mut traces = group(decode(&std::fs::read(fixture()).unwrap()).unwrap());
        let (_, spans) = &mut traces[0];
        spans[0].events.push(Event {
            name: keys::GEN_AI_EVALUATION_RESULT.into(),
            attributes: vec![
                attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance"),
                attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.25),
                attr::string(keys::GEN_AI_EVALUATION_SCORE_LABEL, "fail"),
            ],
            ..Default::default()
        });
        let rated = spans[0].span_id.to_hex();
        let text = render(traces.clone(), false, false).unwrap();
        assert!(text.contains("↳ score relevance = 0.25 (fail)"), "{text}");
        let json: Value = serde_json::from_str(&render(traces, true, false).unwrap()).unwrap();
        let rows = json["traces"][0]["spans"].as_array().unwrap();
        let with_scores: Vec<_> = rows
            .iter()
            .filter(|r| !r["scores"].as_array().unwrap().is_empty())
            .collect();
        assert_eq!(with_scores.len(), 1);
        assert_eq!(with_scores[0]["span_id"], rated.as_str());
        assert_eq!(with_scores[0]["scores"][0]["name"], "relevance");
        assert_eq!(with_scores[0]["scores"][0]["value"], 0.25);
    }

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rag_trace.jsonl")
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = explain(&fixture(), false, false).unwrap();
        let coloured = explain(&fixture(), false, true).unwrap();
        assert!(!plain.contains('\x1b'));
        assert!(coloured.contains("\x1b[1;31m█"));
        // Stripping the escapes gives the plain text back.
        let stripped = regex_free_strip(&coloured);
        assert_eq!(stripped, plain);
    }

    fn regex_free_strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn bars_mark_the_window_and_the_path() {
        let b = Breakdown {
            start_ns: 0,
            end_ns: 40,
            ..Default::default()
        };
        let p = Paint { on: false };
        let full = bar(&b, 0, 40, &[(0, 10)], &p);
        assert_eq!(full, format!("{}{} ", "█".repeat(10), "░".repeat(30)));
        let past_end = bar(&b, 30, 90, &[], &p);
        assert_eq!(past_end, format!("{}{}›", " ".repeat(30), "░".repeat(10)));
        let zero = bar(&b, 20, 20, &[], &p);
        assert_eq!(zero, format!("{}░{} ", " ".repeat(20), " ".repeat(19)));
    }
}
