//! The `redaction` span processor and its factory.

use super::config::RedactionConfig;
use super::redactor::{Redactor, Tally, is_content_event};
use std::sync::Arc;
use tracegate_model::{Resource, SpanBatch};
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

/// Redacts personal data and secrets in span, event and resource attributes.
#[derive(Debug)]
pub struct RedactionProcessor {
    name: String,
    redactor: Redactor,
    /// Per span.
    span_tally: Tally,
    /// Per batch, for metrics.
    batch_tally: Tally,
}

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
        }
    }

    /// The redactor it applies.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Redacts a resource, or hands back the same `Arc` when nothing changes.
    fn resource(&mut self, resource: &Arc<Resource>) -> Arc<Resource> {
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
        })
    }

    fn record_metrics(&self) {
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
        self.batch_tally.clear();
        // Each distinct resource is redacted once per batch: (original, redacted). The
        // original is held so its pointer cannot be reused while the batch is processed.
        let mut resources: Vec<(Arc<Resource>, Arc<Resource>)> = Vec::new();
        for span in &mut batch.spans {
            if self.redactor.scan_resource {
                let cached = resources
                    .iter()
                    .find(|(orig, _)| Arc::ptr_eq(orig, &span.resource))
                    .map(|(_, new)| Arc::clone(new));
                let new = match cached {
                    Some(new) => new,
                    None => {
                        let new = self.resource(&span.resource);
                        resources.push((Arc::clone(&span.resource), Arc::clone(&new)));
                        new
                    }
                };
                span.resource = new;
            }
            self.span_tally.clear();
            self.redactor
                .redact_attributes(&mut span.attributes, false, &mut self.span_tally);
            if self.redactor.scan_events {
                for event in &mut span.events {
                    let content = is_content_event(&event.name);
                    self.redactor.redact_attributes(
                        &mut event.attributes,
                        content,
                        &mut self.span_tally,
                    );
                }
            }
            if !self.span_tally.is_empty() {
                self.span_tally
                    .write_audit(&self.redactor, &mut span.attributes);
                self.batch_tally.add(&self.span_tally);
            }
        }
        if !self.batch_tally.is_empty() {
            self.record_metrics();
        }
        batch
    }
}

/// Builds `redaction` processors.
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
        _ctx: &BuildContext,
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
        Ok(Processor::Span(Box::new(RedactionProcessor::new(
            id.as_str(),
            redactor,
        ))))
    }
}
