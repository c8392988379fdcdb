//! The `scores` log processor: recognises quality records, joins them, and posts them to
//! the board so trace assembly attaches them to their trace.

use crate::board::ScoreBoard;
use crate::config::ScoresConfig;
use crate::extract::from_log;
use std::sync::Arc;
use tracegate_model::{LogBatch, LogKind, Signal, attr, keys};
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, LogProcessor, Processor, ProcessorFactory,
    parse_section,
};

/// Builds the `scores` processor of a `logs` pipeline, around one shared [`ScoreBoard`]
/// (the same one given to `TraceAssemblyFactory::with_scores`). Its config sets the
/// board's bounds.
#[derive(Debug, Clone)]
pub struct ScoresFactory {
    board: Arc<ScoreBoard>,
}

impl ScoresFactory {
    /// The type name in config.
    pub const TYPE_NAME: &'static str = "scores";

    /// A factory whose processors use `board`.
    pub fn new(board: Arc<ScoreBoard>) -> Self {
        Self { board }
    }

    /// The board.
    pub fn board(&self) -> &Arc<ScoreBoard> {
        &self.board
    }
}

impl ProcessorFactory for ScoresFactory {
    fn type_name(&self) -> &'static str {
        Self::TYPE_NAME
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        if ctx.signal != Signal::Logs {
            return Err(ConfigError::new(
                path,
                "`scores` works on log records: list it in a `logs` pipeline. Scores that \
                 spans carry (evaluation events, feedback spans) are attached by \
                 `trace_assembly` in a traces pipeline without it",
            ));
        }
        let config: ScoresConfig = parse_section(&path, config)?;
        // The factory interface carries one error; `validate` lists them all.
        config.validate(&path).or_else(ConfigError::first_of)?;
        self.board.set_limits(config.limits());
        Ok(Processor::Log(Box::new(ScoresProcessor::new(
            self.board.clone(),
        ))))
    }
}

/// For each record of a batch: makes a JSON-object body a map
/// ([`LogRecord::structure_body`](tracegate_model::LogRecord::structure_body)), remembers an
/// LLM call's ids (a record `llm_logs` marked
/// [`LogKind::LlmCall`] with trace context), and turns a quality record into a [`Score`]
/// (`facts.kind = LogKind::Score`, `facts.score`), joined through the board and posted
/// there for its trace. Records pass on unchanged otherwise.
///
/// [`Score`]: tracegate_model::Score
#[derive(Debug)]
pub struct ScoresProcessor {
    board: Arc<ScoreBoard>,
}

impl ScoresProcessor {
    /// A processor on `board`.
    pub fn new(board: Arc<ScoreBoard>) -> Self {
        Self { board }
    }
}

impl LogProcessor for ScoresProcessor {
    fn process(&mut self, mut batch: LogBatch) -> LogBatch {
        let now = self.board.now_ns();
        for record in &mut batch.records {
            // `llm_logs` has done this already in the default pipeline; it is idempotent, and
            // without it a JSON body's fields would go unseen.
            record.structure_body();
            // A quality record is a score even if `llm_logs` took its request id for a call.
            let Some(mut score) = from_log(record) else {
                if record.facts.kind == LogKind::LlmCall {
                    self.board.remember_log_at(record, now);
                }
                continue;
            };
            let tenant = record.tenant();
            self.board.join_at(&mut score, tenant, now);
            if score.is_joined() {
                self.board.post_at(score.clone(), tenant, now);
            }
            // The logs table's id columns read the canonical attributes: name the rated call
            // there too, so a quality record's row is found by its request or response id.
            for (key, id) in [
                (keys::TRACEGATE_REQUEST_ID, &score.request_id),
                (keys::GEN_AI_RESPONSE_ID, &score.response_id),
            ] {
                if let Some(id) = id
                    && attr::get(&record.attributes, key).is_none()
                {
                    record.attributes.push(attr::string(key, id.as_str()));
                }
            }
            record.facts.kind = LogKind::Score;
            record.facts.score = Some(Box::new(score));
        }
        batch
    }
}
