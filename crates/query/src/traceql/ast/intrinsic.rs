//! [`Intrinsic`]: the built-in fields of a span or its trace, and their TraceQL names.

/// A built-in field of a span or its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `name`, `span:name`.
    Name,
    /// `status`, `span:status`.
    Status,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `kind`, `span:kind`.
    Kind,
    /// `duration`, `span:duration`.
    Duration,
    /// `span:id` (hex).
    SpanId,
    /// `span:parentID` (hex; nil on a root).
    ParentId,
    /// `childCount`, `span:childCount`.
    ChildCount,
    /// `nestedSetParent`: the parent's `nestedSetLeft`; -1 on a root.
    NestedSetParent,
    /// `nestedSetLeft`.
    NestedSetLeft,
    /// `nestedSetRight`.
    NestedSetRight,
    /// `trace:id` (hex).
    TraceId,
    /// `rootName`, `trace:rootName`.
    TraceRootName,
    /// `rootServiceName`, `rootService`, `trace:rootService`.
    TraceRootService,
    /// `traceDuration`, `trace:duration`.
    TraceDuration,
    /// `event:name`: the name of any of the span's events.
    EventName,
    /// `event:timeSinceStart`: how long after the span's start any of its events happened.
    EventTimeSinceStart,
    /// `link:traceID`: the trace id of any of the span's links (hex).
    LinkTraceId,
    /// `link:spanID`: the span id of any of the span's links (hex).
    LinkSpanId,
    /// `instrumentation:name`.
    InstrumentationName,
    /// `instrumentation:version`.
    InstrumentationVersion,
}

impl Intrinsic {
    /// Every intrinsic.
    pub const ALL: [Intrinsic; 21] = [
        Intrinsic::Name,
        Intrinsic::Status,
        Intrinsic::StatusMessage,
        Intrinsic::Kind,
        Intrinsic::Duration,
        Intrinsic::SpanId,
        Intrinsic::ParentId,
        Intrinsic::ChildCount,
        Intrinsic::NestedSetParent,
        Intrinsic::NestedSetLeft,
        Intrinsic::NestedSetRight,
        Intrinsic::TraceId,
        Intrinsic::TraceRootName,
        Intrinsic::TraceRootService,
        Intrinsic::TraceDuration,
        Intrinsic::EventName,
        Intrinsic::EventTimeSinceStart,
        Intrinsic::LinkTraceId,
        Intrinsic::LinkSpanId,
        Intrinsic::InstrumentationName,
        Intrinsic::InstrumentationVersion,
    ];

    /// The name Tempo gives it (its search-result key), which is also how it is written:
    /// the unscoped legacy name where there is one (`name`, `traceDuration`), else the
    /// scoped one (`span:id`, `trace:id`).
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::ChildCount => "childCount",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::TraceRootName => "rootName",
            Intrinsic::TraceRootService => "rootServiceName",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    /// The intrinsic an unscoped word names (`name`, `traceDuration`, …).
    pub fn from_legacy(word: &str) -> Option<Self> {
        Some(match word {
            "name" => Intrinsic::Name,
            "status" => Intrinsic::Status,
            "statusMessage" => Intrinsic::StatusMessage,
            "kind" => Intrinsic::Kind,
            "duration" => Intrinsic::Duration,
            "childCount" => Intrinsic::ChildCount,
            "nestedSetParent" => Intrinsic::NestedSetParent,
            "nestedSetLeft" => Intrinsic::NestedSetLeft,
            "nestedSetRight" => Intrinsic::NestedSetRight,
            "rootName" => Intrinsic::TraceRootName,
            "rootServiceName" | "rootService" => Intrinsic::TraceRootService,
            "traceDuration" => Intrinsic::TraceDuration,
            _ => return None,
        })
    }

    /// The intrinsic `scope:name` names (`span:name`, `trace:id`, …).
    pub fn from_scoped(scope: &str, name: &str) -> Option<Self> {
        Some(match (scope, name) {
            ("span", "name") => Intrinsic::Name,
            ("span", "status") => Intrinsic::Status,
            ("span", "statusMessage") => Intrinsic::StatusMessage,
            ("span", "kind") => Intrinsic::Kind,
            ("span", "duration") => Intrinsic::Duration,
            ("span", "id") => Intrinsic::SpanId,
            ("span", "parentID") => Intrinsic::ParentId,
            ("span", "childCount") => Intrinsic::ChildCount,
            ("trace", "id") => Intrinsic::TraceId,
            ("trace", "rootName") => Intrinsic::TraceRootName,
            ("trace", "rootService") | ("trace", "rootServiceName") => Intrinsic::TraceRootService,
            ("trace", "duration") => Intrinsic::TraceDuration,
            ("event", "name") => Intrinsic::EventName,
            ("event", "timeSinceStart") => Intrinsic::EventTimeSinceStart,
            ("link", "traceID") => Intrinsic::LinkTraceId,
            ("link", "spanID") => Intrinsic::LinkSpanId,
            ("instrumentation", "name") => Intrinsic::InstrumentationName,
            ("instrumentation", "version") => Intrinsic::InstrumentationVersion,
            _ => return None,
        })
    }

    /// True for the intrinsics of the whole trace, the same on every span.
    pub fn is_trace_level(self) -> bool {
        matches!(
            self,
            Intrinsic::TraceId
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
                | Intrinsic::TraceDuration
        )
    }

    /// True for the intrinsics whose values are durations.
    pub fn is_duration(self) -> bool {
        matches!(
            self,
            Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart
        )
    }
}
