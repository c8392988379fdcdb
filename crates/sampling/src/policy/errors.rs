//! LLM error classes, normalised from what providers and SDKs report.
//!
//! A span has failed when its status is ERROR, it has `error.type`, or its
//! `http.response.status_code` (or the older `http.status_code`) is 400 or more. Its class
//! is read from `error.type`, the status message and `exception.type` / `exception.message`
//! of its `exception` events (case-insensitively), then from the HTTP status:
//!
//! | class | text | HTTP |
//! |---|---|---|
//! | `context_length_exceeded` | `context_length_exceeded`, "prompt is too long" (Anthropic), "maximum context length", "context window", "input is too long", "too many tokens" | |
//! | `content_filtered` | `content_filter`, `content_policy_violation`, "content management policy" (Azure), `prohibited_content`, "safety" | |
//! | `rate_limited` | `RateLimitError`, `rate_limit`, "rate limit", "too many requests", `resource_exhausted`, "quota", "throttl" | 429 |
//! | `timeout` | "timeout", "timed out", `deadline_exceeded` | 408, 504 |
//! | `overloaded` | "overloaded" (Anthropic `overloaded_error`), "unavailable" | 503, 529 |
//! | `auth` | `authentication`, `permission_denied`, "unauthorized", "invalid api key" | 401, 403 |
//! | `server_error` | `internal_server_error`, `api_error` | other 5xx |
//! | `invalid_request` | `invalid_request`, "bad request" | other 4xx |
//! | `other` | a failure with none of the above | |
//!
//! The first row that matches wins, so an Anthropic 400 `invalid_request_error` saying
//! "prompt is too long" is `context_length_exceeded`, not `invalid_request`.

use tracegate_model::{Span, Trace, attr};

/// A normalised LLM error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The input was over the model's context window.
    ContextLengthExceeded,
    /// A provider's content filter or safety system refused.
    ContentFiltered,
    /// Throttled: HTTP 429, quota.
    RateLimited,
    /// Timed out.
    Timeout,
    /// The provider was overloaded or unavailable.
    Overloaded,
    /// Bad credentials or no permission.
    Auth,
    /// Another server-side failure.
    ServerError,
    /// Another rejected request.
    InvalidRequest,
    /// A failure with no recognisable class.
    Other,
}

impl ErrorClass {
    /// Every class, in the order they are tried.
    pub const ALL: [ErrorClass; 9] = [
        Self::ContextLengthExceeded,
        Self::ContentFiltered,
        Self::RateLimited,
        Self::Timeout,
        Self::Overloaded,
        Self::Auth,
        Self::ServerError,
        Self::InvalidRequest,
        Self::Other,
    ];

    /// The name in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ContentFiltered => "content_filtered",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::Overloaded => "overloaded",
            Self::Auth => "auth",
            Self::ServerError => "server_error",
            Self::InvalidRequest => "invalid_request",
            Self::Other => "other",
        }
    }

    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The text fragments (lowercase) that mark the class.
    fn patterns(self) -> &'static [&'static str] {
        match self {
            Self::ContextLengthExceeded => &[
                "context_length_exceeded",
                "prompt is too long",
                "maximum context length",
                "context window",
                "context length",
                "input is too long",
                "too many tokens",
            ],
            Self::ContentFiltered => &[
                "content_filter",
                "contentfilter",
                "content_policy_violation",
                "content management policy",
                "prohibited_content",
                "safety",
            ],
            Self::RateLimited => &[
                "ratelimit",
                "rate_limit",
                "rate limit",
                "too many requests",
                "resource_exhausted",
                "quota",
                "throttl",
            ],
            Self::Timeout => &[
                "timeout",
                "timed out",
                "deadline_exceeded",
                "deadline exceeded",
            ],
            Self::Overloaded => &["overloaded", "unavailable"],
            Self::Auth => &[
                "authentication",
                "permission_denied",
                "permissiondenied",
                "unauthorized",
                "invalid api key",
                "invalid_api_key",
            ],
            Self::ServerError => &["internal_server_error", "internalservererror", "api_error"],
            Self::InvalidRequest => &["invalid_request", "badrequest", "bad request"],
            Self::Other => &[],
        }
    }

    fn http(self, code: i64) -> bool {
        match self {
            Self::RateLimited => code == 429,
            Self::Timeout => code == 408 || code == 504,
            Self::Overloaded => code == 503 || code == 529,
            Self::Auth => code == 401 || code == 403,
            Self::ServerError => (500..600).contains(&code),
            Self::InvalidRequest => (400..500).contains(&code),
            _ => false,
        }
    }
}

/// `haystack` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The class of a failed span; `None` when the span has not failed.
pub fn classify(span: &Span) -> Option<ErrorClass> {
    let a = &span.attributes;
    let error_type = attr::get_str(a, "error.type");
    let http = attr::get_i64(a, "http.response.status_code")
        .or_else(|| attr::get_i64(a, "http.status_code"))
        .unwrap_or(0);
    if !span.is_error() && error_type.is_none() && http < 400 {
        return None;
    }
    let mut texts: Vec<&str> = Vec::with_capacity(4);
    texts.extend(error_type);
    if !span.status.message.is_empty() {
        texts.push(&span.status.message);
    }
    for e in span.events.iter().filter(|e| e.name == "exception") {
        texts.extend(attr::get_str(&e.attributes, "exception.type"));
        texts.extend(attr::get_str(&e.attributes, "exception.message"));
    }
    if let Some(code) = error_type.and_then(|t| t.trim().parse::<i64>().ok()) {
        // `error.type` may be the status code itself, as the HTTP conventions allow.
        if http < 400 {
            return Some(classify_text(&texts, code));
        }
    }
    Some(classify_text(&texts, http))
}

fn classify_text(texts: &[&str], http: i64) -> ErrorClass {
    ErrorClass::ALL
        .into_iter()
        .find(|c| {
            c.http(http)
                || c.patterns()
                    .iter()
                    .any(|p| texts.iter().any(|t| contains_ci(t, p)))
        })
        .unwrap_or(ErrorClass::Other)
}

/// `llm_error`: a span failed with one of the classes.
#[derive(Debug, Clone)]
pub struct LlmError {
    pub(crate) classes: Vec<ErrorClass>,
}

impl LlmError {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace
            .spans
            .iter()
            .filter_map(classify)
            .any(|c| self.classes.contains(&c))
    }
}
