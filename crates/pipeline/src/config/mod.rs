//! Configuration in the OTel Collector's shape, parsed first and resolved second.
//!
//! 1. [`RawConfig::parse`] reads YAML, interpolates `${env:VAR}` and checks the top-level
//!    shape. It does no I/O and knows nothing of component types.
//! 2. [`Config::resolve`] checks ids and pipeline references against a
//!    [`Registry`](crate::Registry) and has each factory parse its component's section. Every
//!    error found is reported, each with its key path:
//!    `exporters.archive.flush_age: invalid duration "5x"`.
//!
//! Components get their sections through [`parse_section`], which applies serde defaults and
//! `deny_unknown_fields` and prefixes errors with the component's path.

pub mod env;
mod service;
pub mod units;
pub mod wal;

use crate::component::{BuildContext, ComponentId, Exporter, Processor, Receiver};
use crate::registry::Registry;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;
pub use service::{LogFormat, PipelineConfig, ServiceConfig, TelemetryConfig};
use std::collections::BTreeMap;
use std::fmt;
pub use units::{ByteSize, Duration};

/// One problem in a config, with the key path it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, such as `exporters.archive.flush_age`.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// What a factory, which returns one error, reports for a section's validation: `Ok`
    /// when `errors` is empty, else the first, saying how many more there are.
    pub fn first_of(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut errors = errors.into_iter();
        let Some(first) = errors.next() else {
            return Ok(());
        };
        match errors.count() {
            0 => Err(first),
            more => Err(ConfigError::new(
                first.path,
                format!(
                    "{} (and {more} more problem(s) in this section)",
                    first.message
                ),
            )),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// Parses a component's section into its config type. A missing or null section gives the
/// type's defaults. Errors carry `path` plus the path inside the section.
pub fn parse_section<T: DeserializeOwned + Default>(
    path: &str,
    value: Value,
) -> Result<T, ConfigError> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let full = if inner == "." || inner.is_empty() {
            path.to_owned()
        } else if path.is_empty() {
            inner
        } else {
            format!("{path}.{inner}")
        };
        ConfigError::new(full, e.into_inner().to_string())
    })
}

/// The YAML document as written, after `${env:VAR}` interpolation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Receiver sections by component id.
    #[serde(default)]
    pub receivers: BTreeMap<String, Value>,
    /// Processor sections by component id.
    #[serde(default)]
    pub processors: BTreeMap<String, Value>,
    /// Exporter sections by component id.
    #[serde(default)]
    pub exporters: BTreeMap<String, Value>,
    /// Pipelines and the gateway's own settings.
    pub service: ServiceConfig,
    /// The query API's section (`query:`), as written. The pipeline does not read it: the
    /// binary parses it into the query crate's config, so that the crates below the query
    /// side need not know it. Null when absent.
    #[serde(default)]
    pub query: Value,
    /// The data metrics' section (`metrics:`: the Prometheus scrape endpoint and the OTLP
    /// metrics exporter of the `span_metrics` and `alerts` processors), as written. The binary
    /// parses it into the metrics crate's config. Null when absent.
    #[serde(default)]
    pub metrics: Value,
    /// The `auth:` section (bearer tokens, client certificates), as written. The binary
    /// parses it into an authenticator that every receiver gets through the
    /// [`BuildContext`]. Null when absent: every listener is open.
    #[serde(default)]
    pub auth: Value,
}

impl RawConfig {
    /// Parses YAML text, interpolating `${env:VAR}` from the process environment.
    pub fn parse(text: &str) -> Result<Self, ConfigErrors> {
        Self::parse_with_env(text, &|name| std::env::var(name).ok())
    }

    /// Parses YAML text, interpolating with `lookup`.
    pub fn parse_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut value: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::new("", format!("not valid YAML: {e}")))?;
        if value.is_null() {
            return Err(ConfigError::new(
                "",
                "the config is empty: it needs at least `service.pipelines`",
            )
            .into());
        }
        let mut errors = Vec::new();
        env::interpolate(&mut value, "", lookup, &mut errors);
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        parse_section::<Option<RawConfig>>("", value)
            .map_err(ConfigErrors::from)?
            .ok_or_else(|| ConfigError::new("", "the config is empty").into())
    }
}

/// A pipeline with its components built.
#[derive(Debug)]
pub struct Pipeline {
    /// The pipeline id (`traces`, `traces/llm`, `logs`).
    pub id: String,
    /// What it carries: its type, the part of the id before `/`.
    pub signal: tracegate_model::Signal,
    /// Receiver ids feeding it.
    pub receivers: Vec<ComponentId>,
    /// Its processors, built for this pipeline alone, in order.
    pub processors: Vec<(ComponentId, Processor)>,
    /// Exporter ids it fans out to.
    pub exporters: Vec<ComponentId>,
}

/// A config whose every reference resolves and whose every component is built.
#[derive(Debug)]
pub struct Config {
    /// Receivers in use.
    pub receivers: BTreeMap<ComponentId, Box<dyn Receiver>>,
    /// Exporters in use.
    pub exporters: BTreeMap<ComponentId, Box<dyn Exporter>>,
    /// Pipelines.
    pub pipelines: Vec<Pipeline>,
    /// The gateway's own settings.
    pub service: ServiceConfig,
    /// The health every component reports to (the [`BuildContext`]'s).
    pub health: crate::health::Health,
    /// The write-ahead log and what to replay from it, once the caller has opened it
    /// (`service.wal`); `None` runs without one.
    pub durability: Option<crate::durability::Durability>,
    /// The query API's section, as written ([`RawConfig::query`]).
    pub query: Value,
}

impl Config {
    /// Resolves a raw config: every id, every reference and every component section is
    /// checked, and all errors are reported together.
    pub fn resolve(
        raw: RawConfig,
        registry: &Registry,
        ctx: &BuildContext,
    ) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let RawConfig {
            receivers,
            processors,
            exporters,
            service,
            query,
            metrics: _,
            auth: _,
        } = raw;

        let ids = |section: &str, map: &BTreeMap<String, Value>, errors: &mut Vec<ConfigError>| {
            let mut out = BTreeMap::new();
            for (key, value) in map {
                match ComponentId::parse(key) {
                    Ok(id) => {
                        out.insert(key.clone(), (id, value.clone()));
                    }
                    Err(e) => errors.push(ConfigError::new(format!("{section}.{key}"), e)),
                }
            }
            out
        };
        let receiver_defs = ids("receivers", &receivers, &mut errors);
        let processor_defs = ids("processors", &processors, &mut errors);
        let exporter_defs = ids("exporters", &exporters, &mut errors);

        if service.pipelines.is_empty() {
            errors.push(ConfigError::new(
                "service.pipelines",
                "no pipelines: define `traces` with receivers and exporters",
            ));
        }
        errors.extend(service.validate());

        let mut used_receivers = BTreeMap::new();
        let mut used_exporters = BTreeMap::new();
        // Exporters listed by `logs` pipelines, which must take logs.
        let mut log_exporters: Vec<(ComponentId, String)> = Vec::new();
        let mut pipelines = Vec::new();
        for (pid, p) in &service.pipelines {
            let base = format!("service.pipelines.{pid}");
            let ptype = pid.split('/').next().unwrap_or_default();
            let signal = match ptype {
                "traces" => tracegate_model::Signal::Traces,
                "logs" => tracegate_model::Signal::Logs,
                _ => {
                    errors.push(ConfigError::new(
                        &base,
                        format!(
                            "unsupported pipeline type {ptype:?}: tracegate handles `traces` and \
                             `logs` pipelines (`traces`, `traces/NAME`, `logs`, `logs/NAME`)"
                        ),
                    ));
                    continue;
                }
            };
            let logs = signal == tracegate_model::Signal::Logs;
            if p.receivers.is_empty() {
                errors.push(ConfigError::new(
                    format!("{base}.receivers"),
                    "a pipeline needs at least one receiver",
                ));
            }
            if p.exporters.is_empty() {
                errors.push(ConfigError::new(
                    format!("{base}.exporters"),
                    "a pipeline needs at least one exporter",
                ));
            }
            let resolve = |list: &[String],
                           defs: &BTreeMap<String, (ComponentId, Value)>,
                           kind: &str,
                           section: &str,
                           errors: &mut Vec<ConfigError>| {
                let mut out = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    match defs.get(name) {
                        Some((id, _)) => {
                            if out.contains(id) {
                                errors.push(ConfigError::new(
                                    format!("{base}.{section}[{i}]"),
                                    format!("{kind} {name:?} is listed twice"),
                                ));
                            }
                            out.push(id.clone());
                        }
                        None => errors.push(ConfigError::new(
                            format!("{base}.{section}[{i}]"),
                            format!("{kind} {name:?} is not defined under `{section}`"),
                        )),
                    }
                }
                out
            };
            let r = resolve(
                &p.receivers,
                &receiver_defs,
                "receiver",
                "receivers",
                &mut errors,
            );
            let e = resolve(
                &p.exporters,
                &exporter_defs,
                "exporter",
                "exporters",
                &mut errors,
            );
            let procs = resolve(
                &p.processors,
                &processor_defs,
                "processor",
                "processors",
                &mut errors,
            );
            for id in &r {
                used_receivers.insert(id.clone(), ());
            }
            for id in &e {
                if logs {
                    log_exporters.push((id.clone(), format!("{base}.exporters")));
                }
                used_exporters.insert(id.clone(), ());
            }
            // Processors are built once per pipeline, as in the Collector.
            let mut built = Vec::new();
            let mut assembled = false;
            for (i, id) in procs.into_iter().enumerate() {
                let path = format!("processors.{id}");
                let Some(factory) = registry.processor(id.type_name()) else {
                    errors.push(unknown_type(
                        &path,
                        "processor",
                        id.type_name(),
                        registry.processor_types(),
                    ));
                    continue;
                };
                let value = processor_defs
                    .get(id.as_str())
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                match factory.build(&id, value, &ctx.for_signal(signal)) {
                    Ok(proc_) => {
                        match &proc_ {
                            Processor::Log(_) if !logs => errors.push(ConfigError::new(
                                format!("{base}.processors[{i}]"),
                                format!("{id} works on log records; list it in a `logs` pipeline"),
                            )),
                            Processor::Span(_) | Processor::Trace(_) | Processor::Assemble(_) if logs => errors.push(ConfigError::new(
                                format!("{base}.processors[{i}]"),
                                format!("{id} works on spans or traces, not on log records; a `logs` pipeline takes log processors (redaction, llm_logs, scores)"),
                            )),
                            Processor::Assemble(_) if assembled => errors.push(ConfigError::new(
                                format!("{base}.processors[{i}]"),
                                format!("{id}: a pipeline assembles traces once; remove the second assembly stage"),
                            )),
                            Processor::Assemble(shards) if shards.is_empty() => errors.push(ConfigError::new(
                                format!("processors.{id}"),
                                "needs at least one shard",
                            )),
                            Processor::Span(_) if assembled => errors.push(ConfigError::new(
                                format!("{base}.processors[{i}]"),
                                format!("{id} works on span batches but comes after trace assembly; move it before"),
                            )),
                            Processor::Trace(_) if !assembled => errors.push(ConfigError::new(
                                format!("{base}.processors[{i}]"),
                                format!("{id} works on whole traces; put trace_assembly before it"),
                            )),
                            _ => {}
                        }
                        if matches!(proc_, Processor::Assemble(_)) {
                            assembled = true;
                        }
                        built.push((id, proc_));
                    }
                    Err(e) => errors.push(e),
                }
            }
            pipelines.push(Pipeline {
                id: pid.clone(),
                signal,
                receivers: r,
                processors: built,
                exporters: e,
            });
        }

        let mut built_receivers = BTreeMap::new();
        for (key, (id, value)) in receiver_defs {
            let path = format!("receivers.{key}");
            let Some(factory) = registry.receiver(id.type_name()) else {
                errors.push(unknown_type(
                    &path,
                    "receiver",
                    id.type_name(),
                    registry.receiver_types(),
                ));
                continue;
            };
            match factory.build(&id, value, ctx) {
                Ok(r) if used_receivers.contains_key(&id) => {
                    built_receivers.insert(id, r);
                }
                Ok(_) => {
                    tracing::warn!(receiver = %id, "receiver is defined but no pipeline uses it")
                }
                Err(e) => errors.push(e),
            }
        }
        let mut built_exporters = BTreeMap::new();
        for (key, (id, value)) in exporter_defs {
            let path = format!("exporters.{key}");
            let Some(factory) = registry.exporter(id.type_name()) else {
                errors.push(unknown_type(
                    &path,
                    "exporter",
                    id.type_name(),
                    registry.exporter_types(),
                ));
                continue;
            };
            match factory.build(&id, value, ctx) {
                Ok(x) if used_exporters.contains_key(&id) => {
                    for (_, path) in log_exporters.iter().filter(|(e, _)| *e == id) {
                        if !x.signals().contains(&tracegate_model::Signal::Logs) {
                            errors.push(ConfigError::new(
                                path,
                                format!(
                                    "exporter {id} takes no logs; a `logs` pipeline may list \
                                     the archive exporter"
                                ),
                            ));
                        }
                    }
                    built_exporters.insert(id, x);
                }
                Ok(_) => {
                    tracing::warn!(exporter = %id, "exporter is defined but no pipeline uses it")
                }
                Err(e) => errors.push(e),
            }
        }
        for (key, (id, _)) in &processor_defs {
            if registry.processor(id.type_name()).is_none()
                && !service
                    .pipelines
                    .values()
                    .any(|p| p.processors.contains(key))
            {
                errors.push(unknown_type(
                    &format!("processors.{key}"),
                    "processor",
                    id.type_name(),
                    registry.processor_types(),
                ));
            }
        }

        if errors.is_empty() {
            Ok(Config {
                receivers: built_receivers,
                exporters: built_exporters,
                pipelines,
                service,
                health: ctx.health.clone(),
                durability: None,
                query,
            })
        } else {
            errors.sort_by(|a, b| a.path.cmp(&b.path));
            errors.dedup();
            Err(ConfigErrors(errors))
        }
    }
}

fn unknown_type(path: &str, kind: &str, ty: &str, known: Vec<&'static str>) -> ConfigError {
    ConfigError::new(
        path,
        format!(
            "unknown {kind} type {ty:?}; known types: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ),
    )
}

#[cfg(test)]
mod tests;
