//! The query API's place in `tracegate run`: the `query:` section, checked with the rest of
//! the config, and the Tempo-compatible server started beside the pipelines.
//!
//! The section names the `hot_store` exporter to serve and the `archive` exporter whose
//! archive answers the trace-by-id lookups the hot store cannot. Both are found by id: the
//! hot store through the [`HotRegistry`] its factory fills while the config resolves; the
//! archive by reading that exporter's own section for its URL and S3 settings.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::config::{ConfigError, RawConfig, parse_section};
use tracegate_query::api::{ApiConfig, ApiState, router};
use tracegate_query::stores::Stores;
use tracegate_store::hot::HotRegistry;
use tracegate_store::read::{ColdArchive, ColdOptions};
use tracegate_store::{ArchiveConfig, Destination};

/// The query API as configured: what to serve and where.
#[derive(Debug)]
pub struct QuerySetup {
    api: ApiConfig,
    cold: Option<Destination>,
}

/// Reads the `query:` section of `raw`: `None` when there is none (no API). Errors carry
/// their key paths, like every other config error.
pub fn setup(raw: &RawConfig) -> Result<Option<QuerySetup>, Vec<ConfigError>> {
    if raw.query.is_null() {
        return Ok(None);
    }
    let mut api: ApiConfig = parse_section("query", raw.query.clone()).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    if let Err(message) = api.validate() {
        errors.push(ConfigError::new("query", message));
    }
    if let Some(tls) = &api.tls {
        errors.extend(tls.validate("query.tls"));
    }
    api.multitenancy_enabled = raw.service.multitenancy_enabled;
    match exporter_of_type(&raw.exporters, &api.hot_store, "hot_store") {
        Ok(true) => {}
        Ok(false) => errors.push(ConfigError::new(
            "query.hot_store",
            format!(
                "no exporter {:?} is defined: name the hot_store exporter the API serves",
                api.hot_store
            ),
        )),
        Err(e) => errors.push(e),
    }
    let mut cold = None;
    if let Some(id) = &api.archive {
        match exporter_of_type(&raw.exporters, id, "archive") {
            Ok(true) => {
                let path = format!("exporters.{id}");
                let section = raw.exporters.get(id).cloned().unwrap_or_default();
                // The archive exporter reports its own section's errors.
                if let Ok(archive) = parse_section::<ArchiveConfig>(&path, section) {
                    match Destination::from_url(&archive.url, archive.s3.as_ref()) {
                        Ok(d) => cold = Some(d),
                        Err(e) => {
                            errors.push(ConfigError::new(format!("{path}.url"), e.to_string()))
                        }
                    }
                }
            }
            // No such exporter: the default `archive` is optional, the fallback is off.
            Ok(false) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Some(QuerySetup { api, cold }))
    } else {
        Err(errors)
    }
}

/// Whether `id` is defined under `exporters`, and if so that it has type `kind`.
fn exporter_of_type(
    exporters: &BTreeMap<String, serde_yaml_ng::Value>,
    id: &str,
    kind: &str,
) -> Result<bool, ConfigError> {
    if !exporters.contains_key(id) {
        return Ok(false);
    }
    let type_name = id.split('/').next().unwrap_or_default();
    if type_name != kind {
        return Err(ConfigError::new(
            format!("query.{kind}"),
            format!("exporter {id:?} is a {type_name} exporter, not {kind}"),
        ));
    }
    Ok(true)
}

/// The running API.
#[derive(Debug)]
pub struct QueryServer {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl QueryServer {
    /// Binds the endpoint (so a taken port fails before the pipelines start) and serves.
    pub async fn start(
        setup: QuerySetup,
        hot: &HotRegistry,
        auth: Arc<tracegate_auth::Authenticator>,
    ) -> anyhow::Result<Self> {
        let QuerySetup { api, cold } = setup;
        let listener = TcpListener::bind(&api.endpoint).await.with_context(|| {
            format!(
                "cannot listen on {} for the query API: set query.endpoint (or \
                 TRACEGATE_QUERY_ADDRESS in the default config) to a free address",
                api.endpoint
            )
        })?;
        let stop = CancellationToken::new();
        let tls = crate::tls::acceptor("query", api.tls.as_ref(), !auth.is_on(), &listener, &stop)?;
        let store = hot.get(&api.hot_store);
        let multitenancy = api.multitenancy_enabled;
        // With multi-tenancy the archive is partitioned by tenant, and each lookup reads the
        // asking tenant's partitions only (`Stores::with_multitenancy`).
        #[cfg(feature = "sql")]
        let sql = {
            let archive = match &cold {
                Some(d) => Some((
                    d.open()
                        .await
                        .with_context(|| format!("cannot open the archive {d}"))?,
                    d.prefix().clone(),
                )),
                None => None,
            };
            let hot_path = store.as_ref().map(|s| s.path().to_path_buf());
            Arc::new(crate::sql::SqlService::new(archive, hot_path))
        };
        let cold = cold.map(|d| Arc::new(ColdArchive::new(d, ColdOptions::default())));
        tracing::info!(
            endpoint = %api.endpoint,
            hot_store = %api.hot_store,
            cold_fallback = cold.is_some(),
            multitenancy,
            "query API (Tempo-compatible) listening"
        );
        if let Some(cold) = cold.clone() {
            // The first lookups would fetch every file's footer and bloom filter one by one
            // (seconds on S3); fetch them now, in the background, while the caches have room.
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                match cold.warm().await {
                    Ok(w) => tracing::info!(
                        files = w.files,
                        footers_fetched = w.footers_fetched,
                        blooms_fetched = w.blooms_fetched,
                        bytes_read = w.bytes_read,
                        caches_full = w.stopped_full,
                        seconds = started.elapsed().as_secs_f64(),
                        "archive lookup caches warmed"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "could not warm the archive lookup caches; lookups fetch what they need"
                    ),
                }
            });
        }
        let backend = Stores::new(store, cold, tokio::runtime::Handle::current())
            .with_multitenancy(multitenancy);
        let state = ApiState::new(Arc::new(backend), api).with_auth(auth);
        #[cfg(feature = "sql")]
        let state = state.with_sql(sql);
        let app = router(state);
        let task = tokio::spawn(tracegate_tls::serve_router(
            listener,
            app,
            tls,
            crate::tls::MAX_CONNECTIONS,
            stop.clone(),
        ));
        Ok(Self { task, stop })
    }

    /// Stops serving; requests in flight finish first, within a few seconds.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}
