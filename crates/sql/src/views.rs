//! The ready-made questions, shipped as SQL in `config/sql/` and registered as views of the
//! same name: `SELECT * FROM cost_per_model_day`.

use crate::SqlError;
use datafusion::prelude::SessionContext;

/// Each view's name and its SQL (a `SELECT`), compiled in from `config/sql/NAME.sql`.
pub const VIEWS: [(&str, &str); 6] = [
    (
        "cost_per_model_day",
        include_str!("../../../config/sql/cost_per_model_day.sql"),
    ),
    (
        "cost_per_user_day",
        include_str!("../../../config/sql/cost_per_user_day.sql"),
    ),
    (
        "latency_by_model",
        include_str!("../../../config/sql/latency_by_model.sql"),
    ),
    (
        "slowest_stages",
        include_str!("../../../config/sql/slowest_stages.sql"),
    ),
    (
        "error_rate_by_class",
        include_str!("../../../config/sql/error_rate_by_class.sql"),
    ),
    (
        "low_score_traces",
        include_str!("../../../config/sql/low_score_traces.sql"),
    ),
];

/// Registers every view in `ctx`.
pub async fn register(ctx: &SessionContext) -> Result<(), SqlError> {
    for (name, sql) in VIEWS {
        ctx.sql(&format!("CREATE VIEW {name} AS {sql}"))
            .await
            .map_err(|e| SqlError::Query(format!("the shipped view {name} does not plan: {e}")))?;
    }
    Ok(())
}
