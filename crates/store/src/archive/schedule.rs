//! The archive exporter's lifecycle schedule ([`crate::lifecycle`]): started with the
//! exporter, stopped with it (a move under way is aborted, the object left as it was).

use crate::destination::Destination;
use crate::lifecycle::{Lifecycle, LifecycleConfig, Rules, spawn_schedule};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Starts the periodic lifecycle of the archive at `destination`, unless its interval is
/// zero. Dropping the guard stops it.
pub(super) async fn start(
    exporter: &str,
    destination: &Destination,
    config: &LifecycleConfig,
    past_window: std::time::Duration,
) -> Option<DropGuard> {
    let interval = config.interval.get();
    if interval.is_zero() {
        return None;
    }
    let store = match destination.open().await {
        Ok(store) => store,
        Err(e) => {
            // The uploads report the store's problems; the lifecycle waits for the next start.
            tracing::warn!(exporter, error = %e, "lifecycle: not scheduled, the archive cannot be opened");
            return None;
        }
    };
    let rules = Rules::new(config, !destination.is_local()).with_past_window(past_window);
    let lifecycle = Lifecycle::new(
        exporter,
        store,
        destination.prefix().clone(),
        rules,
        config.max_actions_per_run,
    );
    let cancel = CancellationToken::new();
    tracing::info!(
        exporter,
        every = %config.interval,
        cold_after = ?rules.cold_after.map(crate::lifecycle::run::format_age),
        cold_class = %rules.cold_class,
        delete_after = ?rules.delete_after.map(crate::lifecycle::run::format_age),
        "lifecycle: scheduled"
    );
    drop(spawn_schedule(lifecycle, interval, cancel.clone()));
    Some(cancel.drop_guard())
}
