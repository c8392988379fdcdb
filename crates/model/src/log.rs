//! Log records as they travel through a `logs` pipeline, and their conversion from and to OTLP.
//!
//! A [`LogRecord`] is built like a [`Span`](crate::Span): its fields are moved out of the
//! decoded `ExportLogsServiceRequest`, its ids are validated, and it shares its [`Resource`]
//! and [`Scope`] with its neighbours behind an `Arc`. Unlike a span's, its trace and span ids
//! are optional (a log written outside any trace has neither); empty or all-zero ids mean
//! "none", as the OTLP logs data model says, and ids of a wrong length are refused.
//!
//! What tracegate derives about a record travels typed in [`LogFacts`]: whether it is an LLM
//! call (the seed's structured LLM log, recognised by the `llm_logs` processor, which writes
//! the canonical `gen_ai.*` attributes), and the [`Score`] a quality record carries.

use crate::attr;
use crate::ids::{IdError, SpanId, TraceId};
use crate::origin::Origin;
use crate::score::Score;
use crate::span::{
    ARC_COUNTS, Rejections, Resource, Scope, Signal, resource_from_proto, resource_to_proto,
    scope_from_proto, scope_to_proto,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1 as proto;
use std::sync::Arc;

/// What a log record is, as tracegate's processors recognised it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogKind {
    /// Any other log, kept as it came.
    #[default]
    Other,
    /// A structured LLM log (request, response or performance): its canonical `gen_ai.*`
    /// attributes are filled.
    LlmCall,
    /// A quality record (an evaluation or feedback): [`LogFacts::score`] holds it.
    Score,
}

impl LogKind {
    /// The name in the archive's `logs.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Other => "log",
            LogKind::LlmCall => "llm_call",
            LogKind::Score => "score",
        }
    }
}

/// What tracegate derived about a log record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFacts {
    /// What the record is.
    pub kind: LogKind,
    /// The evaluation or feedback the record carries, once recognised. Boxed: most records
    /// carry none.
    pub score: Option<Box<Score>>,
}

/// One log record with validated ids. Fields are moved out of the decoded OTLP request.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Shared resource.
    pub resource: Arc<Resource>,
    /// Shared instrumentation scope.
    pub scope: Arc<Scope>,
    /// When the event happened, ns since the Unix epoch; 0 when unknown.
    pub time_unix_nano: u64,
    /// When the record was observed by the SDK or a collector, ns since the Unix epoch.
    pub observed_time_unix_nano: u64,
    /// OTLP severity number (0: unspecified, 9: INFO, 17: ERROR, …).
    pub severity_number: i32,
    /// Severity as the source wrote it.
    pub severity_text: String,
    /// The body: a string, or a structured value (a map, from a structured logger).
    pub body: Option<AnyValue>,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags.
    pub flags: u32,
    /// The trace the record was written in, if any.
    pub trace_id: Option<TraceId>,
    /// The span the record was written in, if any.
    pub span_id: Option<SpanId>,
    /// The event name (`gen_ai.evaluation.result`), empty for plain logs.
    pub event_name: String,
    /// What tracegate derived; never sent as it is (the archive writes it to columns).
    pub facts: LogFacts,
    /// The write-ahead-log record the log record was logged in, if any; never exported.
    pub origin: Origin,
}

impl LogRecord {
    /// A record with no fields set, of `unknown_service`: for tests and builders
    /// (`LogRecord { body, ..LogRecord::empty() }`).
    pub fn empty() -> Self {
        Self {
            resource: Arc::new(Resource {
                service_name: crate::keys::UNKNOWN_SERVICE.to_owned(),
                ..Default::default()
            }),
            scope: Arc::new(Scope::default()),
            time_unix_nano: 0,
            observed_time_unix_nano: 0,
            severity_number: 0,
            severity_text: String::new(),
            body: None,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: None,
            span_id: None,
            event_name: String::new(),
            facts: LogFacts::default(),
            origin: Origin::NONE,
        }
    }

    /// The service that wrote the record.
    pub fn service_name(&self) -> &str {
        &self.resource.service_name
    }

    /// The tenant the record belongs to ([`Resource::tenant`]).
    pub fn tenant(&self) -> &str {
        self.resource.tenant()
    }

    /// An attribute.
    pub fn attr(&self, key: &str) -> Option<&any_value::Value> {
        attr::get(&self.attributes, key)
    }

    /// The body when it is a string.
    pub fn body_str(&self) -> Option<&str> {
        match self.body.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// The body's entries when it is a map (a structured log).
    pub fn body_map(&self) -> Option<&[KeyValue]> {
        match self.body.as_ref()?.value.as_ref()? {
            any_value::Value::KvlistValue(kv) => Some(&kv.values),
            _ => None,
        }
    }

    /// A field of a structured record: an attribute, else a key of the body's map, else a
    /// key of one of the body's nested `metrics`, `config` or `metadata` maps (where the
    /// seed's logger puts token counts, latencies and model settings). Call
    /// [`Self::structure_body`] first so a JSON-object string body counts as a map.
    pub fn field(&self, key: &str) -> Option<&any_value::Value> {
        if let Some(v) = attr::get(&self.attributes, key) {
            return Some(v);
        }
        let body = self.body_map()?;
        if let Some(v) = attr::get(body, key) {
            return Some(v);
        }
        NESTED_FIELDS
            .iter()
            .find_map(|nested| match attr::get(body, nested) {
                Some(any_value::Value::KvlistValue(inner)) => attr::get(&inner.values, key),
                _ => None,
            })
    }

    /// A field ([`Self::field`]) that is a string.
    pub fn field_str(&self, key: &str) -> Option<&str> {
        match self.field(key)? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// A field ([`Self::field`]) read as a number: ints, doubles and numeric strings.
    pub fn field_f64(&self, key: &str) -> Option<f64> {
        match self.field(key)? {
            any_value::Value::DoubleValue(d) => Some(*d),
            any_value::Value::IntValue(i) => Some(*i as f64),
            any_value::Value::StringValue(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Turns a string body that holds a JSON object (what a JSON log formatter writes) into
    /// the equivalent map, once, so every processor and the archive see its fields. Bodies
    /// over [`MAX_JSON_BODY_BYTES`], nested deeper than [`MAX_JSON_DEPTH`], or not a JSON
    /// object stay as they are. Returns whether the body is now a map.
    pub fn structure_body(&mut self) -> bool {
        if self.body_map().is_some() {
            return true;
        }
        let Some(text) = self.body_str() else {
            return false;
        };
        let trimmed = text.trim_start();
        if !trimmed.starts_with('{') || text.len() > MAX_JSON_BODY_BYTES {
            return false;
        }
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
        else {
            return false;
        };
        let Some(value) = json_to_any(serde_json::Value::Object(map), 0) else {
            return false;
        };
        self.body = Some(AnyValue { value: Some(value) });
        true
    }

    pub fn timestamp_unix_nano(&self) -> u64 {
        if self.time_unix_nano != 0 {
            self.time_unix_nano
        } else {
            self.observed_time_unix_nano
        }
    }

    /// Approximate heap size of the record itself (its resource and scope, which records
    /// share, are not counted), for byte bounds.
    pub fn estimated_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.severity_text.len()
            + self.event_name.len()
            + self
                .body
                .as_ref()
                .map_or(0, attr::any_value_estimated_bytes)
            + attr::estimated_bytes(&self.attributes)
            + self.facts.score.as_ref().map_or(0, |s| s.estimated_bytes())
    }

    /// Converts back to the OTLP record, moving the fields. Facts are not written.
    pub fn into_proto(self) -> proto::LogRecord {
        proto::LogRecord {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.observed_time_unix_nano,
            severity_number: self.severity_number,
            severity_text: self.severity_text,
            body: self.body,
            attributes: self.attributes,
            dropped_attributes_count: self.dropped_attributes_count,
            flags: self.flags,
            trace_id: self.trace_id.map(|t| t.0.to_vec()).unwrap_or_default(),
            span_id: self.span_id.map(|s| s.0.to_vec()).unwrap_or_default(),
            event_name: self.event_name,
        }
    }
}

/// The body maps [`LogRecord::field`] looks into after the top level.
pub const NESTED_FIELDS: [&str; 3] = ["metrics", "config", "metadata"];

/// The largest string body [`LogRecord::structure_body`] parses as JSON.
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;

/// The deepest nesting [`LogRecord::structure_body`] accepts.
pub const MAX_JSON_DEPTH: usize = 32;

fn json_to_any(value: serde_json::Value, depth: usize) -> Option<any_value::Value> {
    use any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    if depth > MAX_JSON_DEPTH {
        return None;
    }
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => V::BoolValue(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => V::StringValue(s),
        serde_json::Value::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                values.push(AnyValue {
                    value: json_to_any_or_empty(item, depth + 1)?,
                });
            }
            V::ArrayValue(ArrayValue { values })
        }
        serde_json::Value::Object(map) => {
            let mut values = Vec::with_capacity(map.len());
            for (key, item) in map {
                values.push(KeyValue {
                    key,
                    value: Some(AnyValue {
                        value: json_to_any_or_empty(item, depth + 1)?,
                    }),
                    ..Default::default()
                });
            }
            V::KvlistValue(KeyValueList { values })
        }
    })
}

/// As [`json_to_any`], with JSON `null` as an empty value; `None` only when too deep.
fn json_to_any_or_empty(
    value: serde_json::Value,
    depth: usize,
) -> Option<Option<any_value::Value>> {
    if depth > MAX_JSON_DEPTH {
        return None;
    }
    if value.is_null() {
        return Some(None);
    }
    json_to_any(value, depth).map(Some)
}

/// Log records as they arrive, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    /// The records.
    pub records: Vec<LogRecord>,
}

impl LogBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Approximate heap size, for byte bounds.
    pub fn estimated_bytes(&self) -> usize {
        self.records.iter().map(LogRecord::estimated_bytes).sum()
    }

    /// Takes the records out of a decoded request, moving every field. Records whose ids are
    /// invalid are left out and described in the returned [`Rejections`].
    pub fn from_request(request: ExportLogsServiceRequest) -> (LogBatch, Rejections) {
        Self::from_request_for(request, None)
    }

    /// As [`Self::from_request`], for the given tenant ([`Resource::tenant`]; `None`: the
    /// single tenant).
    pub fn from_request_for(
        request: ExportLogsServiceRequest,
        tenant: Option<Arc<str>>,
    ) -> (LogBatch, Rejections) {
        let total: usize = request
            .resource_logs
            .iter()
            .flat_map(|rl| rl.scope_logs.iter())
            .map(|sl| sl.log_records.len())
            .sum();
        let mut records = Vec::with_capacity(total);
        let mut rejections = Rejections {
            signal: Signal::Logs,
            ..Default::default()
        };
        for (ri, rl) in request.resource_logs.into_iter().enumerate() {
            let mut resource = resource_from_proto(rl.resource, rl.schema_url);
            resource.tenant = tenant.clone();
            let resource = Arc::new(resource);
            for (si, sl) in rl.scope_logs.into_iter().enumerate() {
                let scope = Arc::new(scope_from_proto(sl.scope, sl.schema_url));
                for (li, record) in sl.log_records.into_iter().enumerate() {
                    match record_from_proto(record, &resource, &scope) {
                        Ok(r) => records.push(r),
                        Err(error) => rejections.push((ri, si, li), error),
                    }
                }
            }
        }
        (LogBatch { records }, rejections)
    }

    /// Builds an OTLP request, grouping consecutive records that share (by pointer) a
    /// resource and scope.
    pub fn into_request(self) -> ExportLogsServiceRequest {
        to_request(self.records.into_iter(), |r| r)
    }

    /// As [`Self::into_request`], for a batch that is shared and cannot be moved.
    pub fn to_request(&self) -> ExportLogsServiceRequest {
        to_request(self.records.iter(), Clone::clone)
    }
}

/// Builds an OTLP logs request from records, grouping runs that share (by pointer) a
/// resource and scope.
pub fn to_request<R: std::borrow::Borrow<LogRecord>>(
    records: impl Iterator<Item = R>,
    into_owned: impl Fn(R) -> LogRecord,
) -> ExportLogsServiceRequest {
    let mut out: Vec<proto::ResourceLogs> = Vec::new();
    let mut last: Option<(Arc<Resource>, Arc<Scope>)> = None;
    for r in records {
        let (same_res, same_scope) = match &last {
            Some((res, sc)) => {
                let b = r.borrow();
                (Arc::ptr_eq(res, &b.resource), Arc::ptr_eq(sc, &b.scope))
            }
            None => (false, false),
        };
        if !same_res {
            let b = r.borrow();
            out.push(proto::ResourceLogs {
                resource: Some(resource_to_proto(&b.resource)),
                schema_url: b.resource.schema_url.clone(),
                scope_logs: Vec::new(),
            });
        }
        if !same_res || !same_scope {
            let b = r.borrow();
            last = Some((b.resource.clone(), b.scope.clone()));
            if let Some(rl) = out.last_mut() {
                rl.scope_logs.push(proto::ScopeLogs {
                    scope: Some(scope_to_proto(&b.scope)),
                    schema_url: b.scope.schema_url.clone(),
                    log_records: Vec::new(),
                });
            }
        }
        if let Some(sl) = out.last_mut().and_then(|rl| rl.scope_logs.last_mut()) {
            sl.log_records.push(into_owned(r).into_proto());
        }
    }
    ExportLogsServiceRequest { resource_logs: out }
}

/// An optional id: empty or all zeros is "none" (the logs data model), a wrong length is an
/// error.
fn optional_id<T>(
    bytes: &[u8],
    len: usize,
    parse: impl Fn(&[u8]) -> Result<T, IdError>,
) -> Result<Option<T>, IdError> {
    if bytes.is_empty() || (bytes.len() == len && bytes.iter().all(|b| *b == 0)) {
        return Ok(None);
    }
    parse(bytes).map(Some)
}

fn record_from_proto(
    record: proto::LogRecord,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<LogRecord, IdError> {
    let trace_id = optional_id(&record.trace_id, TraceId::LEN, TraceId::from_bytes)?;
    let span_id = optional_id(&record.span_id, SpanId::LEN, SpanId::from_bytes)?;
    Ok(LogRecord {
        resource: resource.clone(),
        scope: scope.clone(),
        time_unix_nano: record.time_unix_nano,
        observed_time_unix_nano: record.observed_time_unix_nano,
        severity_number: record.severity_number,
        severity_text: record.severity_text,
        body: record.body,
        attributes: record.attributes,
        dropped_attributes_count: record.dropped_attributes_count,
        flags: record.flags,
        trace_id,
        span_id,
        event_name: record.event_name,
        facts: LogFacts::default(),
        origin: Origin::NONE,
    })
}

/// Approximate heap size of an `Arc`-shared resource and scope pair, for callers that weigh
/// records with what they keep alive.
pub fn shared_estimated_bytes(record: &LogRecord) -> usize {
    ARC_COUNTS + record.resource.estimated_bytes() + record.scope.estimated_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};

    fn request(records: Vec<proto::LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: vec![attr::string("service.name", "rag-api")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn keeps_valid_records_and_reports_bad_ids_with_their_positions() {
        let ok = proto::LogRecord {
            body: Some(attr::string_value("hello")),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        let untraced = proto::LogRecord {
            trace_id: vec![0; 16],
            ..Default::default()
        };
        let bad = proto::LogRecord {
            trace_id: vec![1; 17],
            ..Default::default()
        };
        let (batch, rejected) = LogBatch::from_request(request(vec![ok, untraced, bad]));
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.records[0].trace_id, Some(TraceId([1; 16])));
        assert_eq!(batch.records[0].body_str(), Some("hello"));
        assert_eq!(batch.records[0].service_name(), "rag-api");
        assert_eq!(batch.records[1].trace_id, None);
        assert_eq!(rejected.count, 1);
        assert_eq!(
            rejected.message(),
            "1 log record(s) rejected: resource_logs[0].scope_logs[0].log_records[2]: \
             trace_id is 17 bytes, expected 16"
        );
    }

    #[test]
    fn json_bodies_become_maps_and_fields_are_found_where_the_seed_puts_them() {
        let mut record = LogRecord {
            body: Some(attr::string_value(
                r#"{"request_id":"r-1","model":"gpt-4o","metrics":{"input_tokens":12,"latency_ms":850.5},"config":{"temperature":0.2},"tags":[1,null]}"#,
            )),
            attributes: vec![attr::string("request_id", "from-attribute")],
            ..LogRecord::empty()
        };
        assert!(record.structure_body());
        assert!(record.body_map().is_some());
        assert_eq!(record.field_str("request_id"), Some("from-attribute"));
        assert_eq!(record.field_str("model"), Some("gpt-4o"));
        assert_eq!(record.field_f64("input_tokens"), Some(12.0));
        assert_eq!(record.field_f64("latency_ms"), Some(850.5));
        assert_eq!(record.field_f64("temperature"), Some(0.2));
        assert_eq!(record.field("missing"), None);

        let deep = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
        let mut too_deep = LogRecord {
            body: Some(attr::string_value(deep.clone())),
            ..LogRecord::empty()
        };
        assert!(!too_deep.structure_body());
        assert_eq!(too_deep.body_str(), Some(deep.as_str()));
        let mut plain = LogRecord {
            body: Some(attr::string_value("{not json")),
            ..LogRecord::empty()
        };
        assert!(!plain.structure_body());
    }

    #[test]
    fn round_trips_through_otlp() {
        let record = proto::LogRecord {
            time_unix_nano: 5,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(attr::string_value("x")),
            attributes: vec![attr::string("k", "v")],
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            event_name: "gen_ai.evaluation.result".into(),
            ..Default::default()
        };
        let req = request(vec![record.clone(), record]);
        let (batch, rejected) = LogBatch::from_request(req.clone());
        assert!(rejected.is_empty());
        assert_eq!(batch.to_request(), batch.clone().into_request());
        let back = batch.into_request();
        assert_eq!(back.resource_logs.len(), 1);
        assert_eq!(
            back.resource_logs[0].scope_logs[0].log_records,
            req.resource_logs[0].scope_logs[0].log_records
        );
    }
}
