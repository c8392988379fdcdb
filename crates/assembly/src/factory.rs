//! The `trace_assembly` factory: parses the config and builds one shard per worker.

use crate::config::TraceAssemblyConfig;
use std::sync::Arc;
use tracegate_pipeline::{
    Assembler, BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, parse_section,
};
use tracegate_scores::ScoreBoard;

/// Builds the `trace_assembly` processor: [`Processor::Assemble`] with one [`Shard`] per
/// worker, global bounds split between them and the byte counter shared.
///
/// With a [`ScoreBoard`] ([`Self::with_scores`]), every shard feeds the board's index of
/// LLM calls from the spans it ingests and attaches scores to every trace it releases;
/// without one ([`Self::new`], `Default`) assembly knows nothing of scores.
///
/// [`Shard`]: crate::Shard
#[derive(Debug, Clone, Default)]
pub struct TraceAssemblyFactory {
    scores: Option<Arc<ScoreBoard>>,
}

impl TraceAssemblyFactory {
    /// The type name in config.
    pub const TYPE_NAME: &'static str = "trace_assembly";

    /// A factory without a score board.
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory whose shards use `board` (the one the `scores` log processor posts to).
    pub fn with_scores(board: Arc<ScoreBoard>) -> Self {
        Self {
            scores: Some(board),
        }
    }
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
        // The factory interface carries one error; `validate` lists them all.
        config.validate(&path).or_else(ConfigError::first_of)?;
        let shards = config
            .build_shards()
            .into_iter()
            .map(|s| match &self.scores {
                Some(board) => s.with_scores(board.clone()),
                None => s,
            })
            .map(|s| Box::new(s) as Box<dyn Assembler>)
            .collect();
        Ok(Processor::Assemble(shards))
    }
}
