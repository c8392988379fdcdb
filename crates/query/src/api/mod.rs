//! The Tempo-compatible HTTP API Grafana's Tempo datasource talks to (TEMPO_API.md).
//!
//! [`router`] serves, over any [`Backend`]:
//!
//! | endpoint | handler |
//! |---|---|
//! | `GET /api/echo`, `GET /api/status/buildinfo` | [`router`] itself |
//! | `GET /api/traces/{id}` (v1), `GET /api/v2/traces/{id}` | [`traces`] |
//! | `GET /api/search` (TraceQL `q`, or legacy `tags`/`minDuration`/`maxDuration`) | [`search`] |
//! | `GET /api/search/tags`, `GET /api/v2/search/tags` | [`tags`] |
//! | `GET /api/search/tag/{tag}/values`, `GET /api/v2/search/tag/{tag}/values` | [`tags`] |
//! | `POST /api/sql` (a gateway built with the `sql` feature; 501 otherwise) | [`sql`] |
//!
//! With an `auth:` section every request, `/api/echo` included, needs a credential (a bearer
//! token, or a verified client certificate over mTLS): 401 with `WWW-Authenticate: Bearer`
//! without one, 403 when `X-Scope-OrgID` names a tenant the credential does not belong to
//! (every tenant of a federated `a|b` must be the credential's). Requests name their tenants
//! through `X-Scope-OrgID` when multi-tenancy is on ([`tenancy`]); parameters are read with Tempo's rules and 400 messages ([`params`]);
//! errors are plain text ([`ApiError`]). Storage reads block, so every [`Backend`] call runs
//! in `spawn_blocking`. gRPC streaming and TraceQL metrics are not served.

mod backend;
pub mod config;
mod error;
pub mod params;
pub mod search;
pub mod sql;
pub mod tags;
pub mod tenancy;
pub mod traces;

pub use backend::{Backend, BackendError, ScanRequest, ScanStats, TraceLookup};
pub use config::ApiConfig;
pub use error::ApiError;
pub use tenancy::Tenants;

pub(crate) use crate::traceql as tql;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tracegate_auth::{Authenticator, ClientCertificate, Tenancy};
use tracegate_tls::ClientIdentity;

/// The listener name in `tracegate_auth_failures_total`.
pub const AUTH_LISTENER: &str = "query";

/// What every handler shares: the storage, the configuration and who may ask.
#[derive(Clone)]
pub struct ApiState {
    backend: Arc<dyn Backend>,
    config: Arc<ApiConfig>,
    auth: Arc<Authenticator>,
    /// The SQL engine of `POST /api/sql`, in a build with it.
    sql: Option<Arc<dyn sql::SqlBackend>>,
}

/// A request's tenancy, decided from its credential by the router's authentication layer
/// before any handler runs; handlers take it as an `Extension`.
#[derive(Debug, Clone)]
pub struct Authorized(pub Tenancy);

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// State over a backend.
    pub fn new(backend: Arc<dyn Backend>, config: ApiConfig) -> Self {
        Self {
            backend,
            config: Arc::new(config),
            auth: Arc::new(Authenticator::open()),
            sql: None,
        }
    }

    /// The same, serving `POST /api/sql` with `sql`.
    pub fn with_sql(mut self, sql: Arc<dyn sql::SqlBackend>) -> Self {
        self.sql = Some(sql);
        self
    }

    /// The same, with `auth` deciding who may ask (the `auth:` section); open without.
    pub fn with_auth(mut self, auth: Arc<Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The tenants an authenticated request reads: its credential's, or those its
    /// `X-Scope-OrgID` names.
    pub fn tenants(
        &self,
        headers: &HeaderMap,
        authorized: &Authorized,
    ) -> Result<Tenants, ApiError> {
        match &authorized.0 {
            Tenancy::Single => Tenants::from_headers(headers, false),
            Tenancy::FromHeader => Tenants::from_headers(headers, self.config.multitenancy_enabled),
            Tenancy::Credential(tenant) => Ok(Tenants::one(tenant)),
        }
    }
}

/// The API's routes. Serve with `axum::serve(listener, router(state))`.
pub fn router(state: ApiState) -> Router {
    let slots = Arc::new(Semaphore::new(state.config.max_concurrent_requests));
    Router::new()
        .route("/api/echo", get(echo))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(traces::trace_v1))
        .route("/api/v2/traces/{id}", get(traces::trace_v2))
        .route("/api/search", get(search::search))
        .route("/api/search/tags", get(tags::tags_v1))
        .route("/api/v2/search/tags", get(tags::tags_v2))
        .route("/api/search/tag/{*rest}", get(tags::tag_values_v1))
        .route("/api/v2/search/tag/{*rest}", get(tags::tag_values_v2))
        .route("/api/sql", axum::routing::post(sql::sql))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(slots, limit))
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
}

/// Decides every request's tenancy from its credential (outermost, so a request without one
/// takes no query slot), or answers 401 / 403 in plain text as Tempo does.
async fn authenticate(
    State(state): State<ApiState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let identity = request.extensions().get::<ClientIdentity>();
    let decided = state.auth.decide(&tracegate_auth::Request {
        listener: AUTH_LISTENER,
        // serve_router puts the peer's address on every request.
        peer: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        authorization: headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        org_id: headers.get(tenancy::ORG_ID_HEADER).map(|v| v.as_bytes()),
        client_certificate: identity.map(|c| ClientCertificate {
            common_name: c.subject_cn.as_deref(),
        }),
        multitenancy: state.config.multitenancy_enabled,
        federation: true,
    });
    match decided {
        Ok(tenancy) => {
            request.extensions_mut().insert(Authorized(tenancy));
            next.run(request).await
        }
        Err(e) if e.reason.is_forbidden() => ApiError::forbidden(e.message).into_response(),
        Err(e) => {
            let mut response = ApiError::unauthorized(e.message).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(tracegate_auth::WWW_AUTHENTICATE),
            );
            response
        }
    }
}

/// At most `max_concurrent_requests` requests at once: the rest get 429 with `Retry-After`,
/// at once, rather than queueing without bound.
async fn limit(
    State(slots): State<Arc<Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(_slot) = slots.try_acquire() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::RETRY_AFTER, "1"),
            ],
            "too many queries in flight (query.max_concurrent_requests); retry shortly\n",
        )
            .into_response();
    };
    next.run(request).await
}

/// `GET /api/echo`: the health check Grafana's "Save & test" calls.
async fn echo() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "echo\n",
    )
        .into_response()
}

/// `GET /api/status/buildinfo`: Prometheus' build-info shape, with the configured version.
async fn buildinfo(State(state): State<ApiState>) -> Response {
    let body = serde_json::json!({
        "version": state.config.build_version,
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    axum::Json(body).into_response()
}

/// True when the client asked for protobuf (`Accept` contains `application/protobuf`, the
/// substring match Tempo does).
pub(crate) fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/protobuf"))
}

/// A JSON response with Tempo's content type.
pub(crate) fn json_response<T: serde::Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("could not encode the response as JSON: {e}"))
            .into_response(),
    }
}

/// A protobuf response.
pub(crate) fn protobuf_response(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/protobuf")],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
