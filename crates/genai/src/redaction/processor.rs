//! The `redaction` span processor and its factory (which builds the log processor of
//! [`super::logs`] for a `logs` pipeline).

use super::config::RedactionConfig;
use super::keys::FnvBuild;
use super::redactor::{Redactor, Tally, is_content_event};
use std::collections::HashMap;
use std::sync::Arc;
use tracegate_model::{Resource, Scope, Signal, Span, SpanBatch};
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, SpanProcessor,
    parse_section,
};

/// Metric names, kept with the others in `tracegate_pipeline::telemetry::names`.
pub mod names {
    use tracegate_pipeline::telemetry::names as all;
    /// Values redacted, by `reason` (the detector type, or `blocked_key`).
    pub const REDACTED_VALUES: &str = all::REDACTION_REDACTED_VALUES;
    /// Attributes removed, by `reason`: `blocked_key`, `content_off`, `detector_drop`.
    pub const DROPPED_ATTRIBUTES: &str = all::REDACTION_DROPPED_ATTRIBUTES;
    /// Values truncated to `max_attribute_bytes`.
    pub const TRUNCATED_VALUES: &str = all::REDACTION_TRUNCATED_VALUES;
}

/// Redacts personal data and secrets in every client string of a span that reaches disk or an
/// exporter: its name, status message and `trace_state`; its attributes (keys included); its
/// events' names and attributes; its links' `trace_state` and attributes; its scope's name and
/// attributes; its resource's attributes. Resources and scopes are redacted once per distinct
/// `Arc` in a batch.
#[derive(Debug)]
pub struct RedactionProcessor {
    name: String,
    pub(super) redactor: Redactor,
    /// Per span or log record.
    pub(super) span_tally: Tally,
    /// Per batch, for metrics.
    pub(super) batch_tally: Tally,
    /// Per batch: each distinct resource, by address, with its redacted form.
    pub(super) resources: Shared<Resource>,
    /// Per batch: each distinct scope, by address, with its redacted form.
    pub(super) scopes: Shared<Scope>,
}

/// Shared values met in a batch, by the address of their `Arc`: (original, redacted). The
/// original is held so its address cannot be reused while the batch is processed; the map is
/// cleared after each batch and keeps its capacity.
pub(super) type Shared<T> = HashMap<usize, (Arc<T>, Arc<T>), FnvBuild>;

impl RedactionProcessor {
    /// A processor named `name` (its component id, for metrics) applying `redactor`.
    pub fn new(name: impl Into<String>, redactor: Redactor) -> Self {
        let span_tally = redactor.new_tally();
        let batch_tally = redactor.new_tally();
        Self {
            name: name.into(),
            redactor,
            span_tally,
            batch_tally,
            resources: HashMap::default(),
            scopes: HashMap::default(),
        }
    }

    /// The redactor it applies.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Redacts a resource, or hands back the same `Arc` when nothing changes.
    pub(super) fn resource(&mut self, resource: &Arc<Resource>) -> Arc<Resource> {
        if !self.redactor.may_change(&resource.attributes, false) {
            return Arc::clone(resource);
        }
        let mut attrs = resource.attributes.clone();
        let mut tally = self.redactor.new_tally();
        self.redactor
            .redact_attributes(&mut attrs, false, &mut tally);
        if tally.is_empty() && attrs.len() == resource.attributes.len() {
            return Arc::clone(resource);
        }
        tally.write_audit(&self.redactor, &mut attrs);
        self.batch_tally.add(&tally);
        let service_name = tracegate_model::attr::get_str(&attrs, "service.name")
            .map_or_else(|| resource.service_name.clone(), str::to_owned);
        Arc::new(Resource {
            attributes: attrs,
            dropped_attributes_count: resource.dropped_attributes_count,
            schema_url: resource.schema_url.clone(),
            service_name,
            tenant: resource.tenant.clone(),
        })
    }

    /// Redacts a scope's name and attributes, or hands back the same `Arc` when nothing
    /// changes. Findings are counted on the scope's own attributes, as a resource's are.
    pub(super) fn scope(&mut self, scope: &Arc<Scope>) -> Arc<Scope> {
        let r = &self.redactor;
        if !r.has_findings(&scope.name) && !r.may_change(&scope.attributes, false) {
            return Arc::clone(scope);
        }
        let mut new = Scope::clone(scope);
        let mut tally = r.new_tally();
        r.redact_field(&mut new.name, &mut tally);
        r.redact_attributes(&mut new.attributes, false, &mut tally);
        if tally.is_empty() && new.attributes.len() == scope.attributes.len() {
            return Arc::clone(scope);
        }
        tally.write_audit(r, &mut new.attributes);
        self.batch_tally.add(&tally);
        Arc::new(new)
    }

    /// Redacts one span's own strings, events and links; the audit goes on the span.
    fn span(&mut self, span: &mut Span) {
        let r = &self.redactor;
        let t = &mut self.span_tally;
        t.clear();
        r.redact_field(&mut span.name, t);
        r.redact_field(&mut span.status.message, t);
        r.redact_field(&mut span.trace_state, t);
        r.redact_attributes(&mut span.attributes, false, t);
        for event in &mut span.events {
            let content = is_content_event(&event.name);
            r.redact_field(&mut event.name, t);
            if r.scan_events {
                r.redact_attributes(&mut event.attributes, content, t);
            } else {
                r.strip_attributes(&mut event.attributes, content, t);
            }
        }
        for link in &mut span.links {
            r.redact_field(&mut link.trace_state, t);
            r.redact_attributes(&mut link.attributes, false, t);
        }
        if !t.is_empty() {
            t.write_audit(r, &mut span.attributes);
            self.batch_tally.add(t);
        }
    }

    pub(super) fn record_metrics(&self) {
        let t = &self.batch_tally;
        for (name, &n) in self.redactor.kind_names().zip(&t.found) {
            if n > 0 {
                metrics::counter!(names::REDACTED_VALUES, "processor" => self.name.clone(), "reason" => name.to_owned())
                    .increment(n);
            }
        }
        let dropped = [
            ("blocked_key", t.blocked),
            ("content_off", t.content_removed),
            ("detector_drop", t.dropped),
        ];
        if t.blocked > 0 {
            metrics::counter!(names::REDACTED_VALUES, "processor" => self.name.clone(), "reason" => "blocked_key")
                .increment(t.blocked);
        }
        for (reason, n) in dropped {
            if n > 0 {
                metrics::counter!(names::DROPPED_ATTRIBUTES, "processor" => self.name.clone(), "reason" => reason)
                    .increment(n);
            }
        }
        if t.truncated > 0 {
            metrics::counter!(names::TRUNCATED_VALUES, "processor" => self.name.clone())
                .increment(t.truncated);
        }
    }
}

impl SpanProcessor for RedactionProcessor {
    fn process(&mut self, mut batch: SpanBatch) -> SpanBatch {
        self.redact_items(
            &mut batch.spans,
            |s| (&mut s.resource, &mut s.scope),
            Self::span,
        );
        batch
    }
}

impl RedactionProcessor {
    /// Redacts a batch's items (spans or log records): each distinct resource and scope once
    /// per batch, then `item` on each; records the batch's findings.
    pub(super) fn redact_items<T>(
        &mut self,
        items: &mut [T],
        shared: fn(&mut T) -> (&mut Arc<Resource>, &mut Arc<Scope>),
        mut item: impl FnMut(&mut Self, &mut T),
    ) {
        self.batch_tally.clear();
        let mut resources = std::mem::take(&mut self.resources);
        let mut scopes = std::mem::take(&mut self.scopes);
        for it in items.iter_mut() {
            let (resource, scope) = shared(it);
            if self.redactor.scan_resource {
                *resource = once_per_batch(&mut resources, resource, |r| self.resource(r));
            }
            *scope = once_per_batch(&mut scopes, scope, |s| self.scope(s));
            item(self, it);
        }
        resources.clear();
        scopes.clear();
        self.resources = resources;
        self.scopes = scopes;
        if !self.batch_tally.is_empty() {
            self.record_metrics();
        }
    }
}

/// The redacted form of `orig`: from `seen` when this batch met the same `Arc` already, else
/// from `redact`, remembered.
fn once_per_batch<T>(
    seen: &mut Shared<T>,
    orig: &Arc<T>,
    redact: impl FnOnce(&Arc<T>) -> Arc<T>,
) -> Arc<T> {
    let address = Arc::as_ptr(orig) as usize;
    if let Some((_, new)) = seen.get(&address) {
        return Arc::clone(new);
    }
    let new = redact(orig);
    seen.insert(address, (Arc::clone(orig), Arc::clone(&new)));
    new
}

/// Builds `redaction` processors: a span processor for a `traces` pipeline, a log processor
/// ([`super::logs`]) for a `logs` pipeline, with the same config and detectors.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactionFactory;

impl RedactionFactory {
    /// The type name in config.
    pub const TYPE: &'static str = "redaction";
}

impl ProcessorFactory for RedactionFactory {
    fn type_name(&self) -> &'static str {
        Self::TYPE
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        let config: RedactionConfig = parse_section(&path, config)?;
        let redactor = Redactor::new(&config, &path).map_err(|errors| {
            let mut errors = errors.into_iter();
            let first = errors
                .next()
                .unwrap_or_else(|| ConfigError::new(&path, "invalid config"));
            // The factory reports one error; the others follow in its message.
            let rest: Vec<String> = errors.map(|e| e.to_string()).collect();
            if rest.is_empty() {
                first
            } else {
                ConfigError::new(
                    first.path,
                    format!("{} (and: {})", first.message, rest.join("; ")),
                )
            }
        })?;
        let processor = RedactionProcessor::new(id.as_str(), redactor);
        Ok(match ctx.signal {
            Signal::Logs => Processor::Log(Box::new(processor)),
            Signal::Traces => Processor::Span(Box::new(processor)),
        })
    }
}
