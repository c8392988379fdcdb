//! The alert rule language: one condition over a windowed aggregate of the traces or spans
//! the processor has seen.
//!
//! ```text
//! rule      = aggregate [ "by" "(" key { "," key } ")" ] cmp threshold "over" DURATION
//! aggregate = "error_ratio" [ "of" filter ]
//!           | ( "count" | "rate" ) [ "of" filter ]
//!           | func "(" value [ "of" filter ] ")"
//! func      = "avg" | "min" | "max" | "sum" | "p1" … "p99" | "p99.9"
//! value     = "duration" | "ttft" | "cost" | "tokens" | "input_tokens" | "output_tokens"
//! filter    = cond { "and" cond }
//! cond      = key ( "=" | "!=" ) literal
//! key       = "category" | "service" | "name" | "kind" | "status" | "model" | "provider"
//!           | "attr." ATTRIBUTE_KEY | "resource." ATTRIBUTE_KEY
//! literal   = WORD | NUMBER | STRING
//! cmp       = ">" | ">=" | "<" | "<=" | "==" | "!="
//! threshold = NUMBER | DURATION
//! DURATION  = NUMBER ( "ms" | "s" | "m" | "h" )      (no space: 500ms, 10s, 5m, 1h)
//! NUMBER    = digits [ "." digits ]
//! WORD      = ( letter | "_" ) { letter | digit | "_" | "." | "-" | "/" | ":" }
//! STRING    = '"' { any character, with \" and \\ as escapes } '"'
//! ```
//!
//! Keywords (`of`, `and`, `by`, `over`) are words; a value that is not a word (`/chat`,
//! `4o-mini`, one with spaces) is written as a string. [`Rule`]'s `Display` writes the
//! canonical text, which parses back to the same rule.
//!
//! The seed's rules: `error_ratio > 0.05 over 5m` and
//! `p95(duration of category=llm) > 10s over 10m`.
//!
//! **What is counted.** With no `of`, every trace seen is one sample: `error_ratio` is the
//! share of traces with at least one ERROR span, `count` the traces in the window, `rate`
//! traces per second (count / window length); a trace's `duration` is its critical-path
//! window (the root's duration), else first start to last end; its `cost`, `tokens`,
//! `input_tokens`, `output_tokens` are sums over its spans (a trace with none has no
//! sample); its `ttft` is that of its earliest-starting span that has one. Fragments (late
//! spans, spans over the per-trace cap) are not traces of their own. With `of
//! <filter>`, every matching span is one sample: `error_ratio of category=llm` is the share
//! of LLM spans with ERROR status.
//!
//! **Values**, in their natural units: `duration` and `ttft` in seconds (`ttft` from
//! `gen_ai.response.time_to_first_chunk`, else the breakdown's prefill time; a span with
//! neither has no sample), `cost` in USD (`tracegate.cost_usd`), `tokens` = input + output
//! (`gen_ai.usage.*`). A duration threshold (`10s`) is converted to seconds and only goes
//! with `duration` or `ttft`.
//!
//! **Keys.** `category` is one of `llm`, `retrieval`, … (an unknown name is an error),
//! `service` the resource's `service.name`, `name` the span name, `kind` one of
//! `server client producer consumer internal unspecified`, `status` one of `ok error unset`,
//! `model` `gen_ai.request.model`, `provider` `gen_ai.provider.name` (else `gen_ai.system`);
//! `attr.K` / `resource.K` any span / resource attribute, compared in its text form (`200`,
//! `true`). A missing key equals nothing: `=` is false and `!=` is true for it.
//!
//! **Too few samples.** A window with fewer samples than `min_count` (default 10) never
//! satisfies a rule, so one error in one trace cannot page: for `error_ratio` the samples
//! are the traces or spans counted, for a value aggregate the samples that have the value.
//! `count` and `rate` have no such guard: their value is the number of samples.
//!
//! **Category.** `category` is the latency breakdown's: place `alerts` after
//! `latency_breakdown` in the pipeline (a span with neither the breakdown's fact nor a
//! `tracegate.category` attribute has no category).
//!
//! **Grouping.** `by (service, model)` keeps one window and one alert per distinct value
//! list; a key that is missing groups under `""`. Trace-level rules group by the root span's
//! keys. The alert's label for a key is its name, and for an attribute its key with `.` as
//! `_` (`attr.http.route` → `http_route`); an empty value is left out. A rule keeps at most
//! `max_groups` groups; samples of further groups go to one overflow group labelled
//! `overflow="true"`, and are counted.

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use lexer::{Token, TokenKind, lex};
pub use parser::{kind_name, parse, status_name};

use std::fmt;
use tracegate_model::{Category, SpanKind, StatusCode};

/// A rule that does not parse: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {pos}: {message}")]
pub struct RuleError {
    /// Byte offset in the rule text.
    pub pos: usize,
    /// What was wrong, and what was expected.
    pub message: String,
}

impl RuleError {
    /// An error at byte `pos`.
    pub fn new(pos: usize, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What is computed over the window.
    pub func: Func,
    /// The value aggregated; `None` for `error_ratio`, `count` and `rate`.
    pub value: Option<ValueKind>,
    /// The span filter; `None`: every trace is one sample.
    pub filter: Option<Vec<Condition>>,
    /// Grouping keys (`by (...)`), in order; empty for one group.
    pub by: Vec<Key>,
    /// The comparison.
    pub op: CmpOp,
    /// The threshold, in the value's unit (seconds for durations).
    pub threshold: f64,
    /// The window length, in seconds.
    pub window_secs: f64,
}

impl Rule {
    /// True when samples are spans (a filter is given), false when they are traces.
    pub fn over_spans(&self) -> bool {
        self.filter.is_some()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filter = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            if let Some(conds) = &self.filter {
                f.write_str(" of ")?;
                for (i, c) in conds.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    write!(f, "{c}")?;
                }
            }
            Ok(())
        };
        write!(f, "{}", self.func)?;
        match self.value {
            Some(v) => {
                write!(f, "({}", v.as_str())?;
                filter(f)?;
                f.write_str(")")?;
            }
            None => filter(f)?,
        }
        if !self.by.is_empty() {
            f.write_str(" by (")?;
            for (i, k) in self.by.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}")?;
            }
            f.write_str(")")?;
        }
        let unit = if self.value.is_some_and(ValueKind::is_time) {
            "s"
        } else {
            ""
        };
        write!(
            f,
            " {} {}{unit} over {}s",
            self.op, self.threshold, self.window_secs
        )
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Func::ErrorRatio => f.write_str("error_ratio"),
            Func::Count => f.write_str("count"),
            Func::Rate => f.write_str("rate"),
            Func::Avg => f.write_str("avg"),
            Func::Min => f.write_str("min"),
            Func::Max => f.write_str("max"),
            Func::Sum => f.write_str("sum"),
            Func::Quantile(999) => f.write_str("p99.9"),
            Func::Quantile(p) => write!(f, "p{}", p / 10),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.key, if self.equal { "=" } else { "!=" })?;
        match &self.value {
            Literal::Category(c) => f.write_str(c.as_str()),
            Literal::Kind(k) => f.write_str(parser::kind_name(*k)),
            Literal::Status(s) => f.write_str(parser::status_name(*s)),
            Literal::Text(t) => {
                f.write_str("\"")?;
                for c in t.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        })
    }
}

/// The aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// Erring samples / samples.
    ErrorRatio,
    /// Samples in the window.
    Count,
    /// Samples per second over the window.
    Rate,
    /// Mean value.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum of values.
    Sum,
    /// A quantile, in tenths of a percent: `p95` is 950, `p99.9` is 999.
    Quantile(u16),
}

impl Func {
    /// The quantile as a fraction (0.95), for [`Func::Quantile`].
    pub fn quantile(self) -> Option<f64> {
        match self {
            Func::Quantile(permille) => Some(f64::from(permille) / 1000.0),
            _ => None,
        }
    }
}

/// What a value aggregate reads from a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Seconds.
    Duration,
    /// Time to first token, seconds.
    Ttft,
    /// USD.
    Cost,
    /// Input + output tokens.
    Tokens,
    /// Input tokens.
    InputTokens,
    /// Output tokens.
    OutputTokens,
}

impl ValueKind {
    /// The name in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Duration => "duration",
            ValueKind::Ttft => "ttft",
            ValueKind::Cost => "cost",
            ValueKind::Tokens => "tokens",
            ValueKind::InputTokens => "input_tokens",
            ValueKind::OutputTokens => "output_tokens",
        }
    }

    /// Every value, for messages.
    pub const ALL: [ValueKind; 6] = [
        ValueKind::Duration,
        ValueKind::Ttft,
        ValueKind::Cost,
        ValueKind::Tokens,
        ValueKind::InputTokens,
        ValueKind::OutputTokens,
    ];

    /// True for values in seconds, which a duration threshold may go with.
    pub fn is_time(self) -> bool {
        matches!(self, ValueKind::Duration | ValueKind::Ttft)
    }
}

/// A span (or resource) fact a filter or `by` reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// The breakdown's category.
    Category,
    /// `service.name`.
    Service,
    /// Span name.
    Name,
    /// Span kind.
    Kind,
    /// Status code.
    Status,
    /// `gen_ai.request.model`.
    Model,
    /// `gen_ai.provider.name`, else `gen_ai.system`.
    Provider,
    /// A span attribute.
    Attr(String),
    /// A resource attribute.
    Resource(String),
}

impl Key {
    /// The alert label this key groups under: its name, `.` as `_`.
    pub fn label(&self) -> String {
        match self {
            Key::Attr(k) | Key::Resource(k) => sanitize_label(k),
            other => other.to_string(),
        }
    }
}

/// A valid Prometheus label name from an attribute key: every character outside
/// `[A-Za-z0-9_]` becomes `_`, and a leading digit gets a `_` in front.
pub fn sanitize_label(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Category => f.write_str("category"),
            Key::Service => f.write_str("service"),
            Key::Name => f.write_str("name"),
            Key::Kind => f.write_str("kind"),
            Key::Status => f.write_str("status"),
            Key::Model => f.write_str("model"),
            Key::Provider => f.write_str("provider"),
            Key::Attr(k) => write!(f, "attr.{k}"),
            Key::Resource(k) => write!(f, "resource.{k}"),
        }
    }
}

/// One `key=value` or `key!=value` of a filter, with the value checked and normalised:
/// categories, kinds and statuses are held typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The key.
    pub key: Key,
    /// True for `=`, false for `!=`.
    pub equal: bool,
    /// The value.
    pub value: Literal,
}

/// The right side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A category name.
    Category(Category),
    /// A span kind.
    Kind(SpanKind),
    /// A status code.
    Status(StatusCode),
    /// Text, compared with the key's text form.
    Text(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// `value op threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CmpOp::Gt => value > threshold,
            CmpOp::Ge => value >= threshold,
            CmpOp::Lt => value < threshold,
            CmpOp::Le => value <= threshold,
            CmpOp::Eq => value == threshold,
            CmpOp::Ne => value != threshold,
        }
    }
}
