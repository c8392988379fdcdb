//! The `trace_assembly` factory: parses the config and builds one shard per worker.

use crate::config::TraceAssemblyConfig;
use tracegate_pipeline::{
    Assembler, BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, parse_section,
};

/// Builds the `trace_assembly` processor: [`Processor::Assemble`] with one [`Shard`] per
/// worker, global bounds split between them and the byte counter shared.
///
/// [`Shard`]: crate::Shard
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceAssemblyFactory;

impl TraceAssemblyFactory {
    /// The type name in config.
    pub const TYPE_NAME: &'static str = "trace_assembly";
}

impl ProcessorFactory for TraceAssemblyFactory {
    fn type_name(&self) -> &'static str {
        Self::TYPE_NAME
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        _ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        let config: TraceAssemblyConfig = parse_section(&path, config)?;
        if let Err(errors) = config.validate(&path) {
            // The factory interface carries one error; `validate` lists them all.
            let mut errors = errors.into_iter();
            if let Some(first) = errors.next() {
                let more = errors.count();
                return Err(if more == 0 {
                    first
                } else {
                    ConfigError::new(
                        first.path,
                        format!(
                            "{} (and {more} more problem(s) in this section)",
                            first.message
                        ),
                    )
                });
            }
        }
        let shards = config
            .build_shards()
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Assembler>)
            .collect();
        Ok(Processor::Assemble(shards))
    }
}
