//! `POST /api/sql`: SQL over the caller's tenant's data, hot and cold (crates/sql), when the
//! gateway was built with it.
//!
//! The body is the statement (`Content-Type: text/plain` or `application/sql`), or JSON
//! `{"query": "SELECT …"}`. The answer is a JSON array of row objects, or an Arrow IPC stream
//! when the request asks for `Accept: application/vnd.apache.arrow.stream` (or
//! `?format=arrow`). With multi-tenancy the statement reads exactly one tenant's data, the
//! one its credential or `X-Scope-OrgID` names (federation `a|b` is refused). A bad statement
//! is a 400 with DataFusion's reason; a gateway built without SQL answers 501 and says how to
//! get it. The engine itself is behind [`SqlBackend`], so this crate does not build
//! DataFusion.

use super::{ApiError, ApiState, Authorized};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;

/// Longest statement accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// What a result is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlFormat {
    /// A JSON array of row objects.
    Json,
    /// An Arrow IPC stream.
    Arrow,
}

/// A failed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFailure {
    /// Whether the statement is at fault (400) rather than the engine (500).
    pub bad_query: bool,
    /// Why, for the caller.
    pub message: String,
}

/// A result: its content type and body.
pub type SqlAnswer = Result<(&'static str, Vec<u8>), SqlFailure>;

/// The engine behind `POST /api/sql`.
pub trait SqlBackend: Send + Sync + 'static {
    /// Runs `sql` over `tenant`'s data (`None`: without multi-tenancy).
    fn run(
        &self,
        tenant: Option<String>,
        sql: String,
        format: SqlFormat,
    ) -> Pin<Box<dyn Future<Output = SqlAnswer> + Send + '_>>;
}

/// `?format=` of the request.
#[derive(Debug, serde::Deserialize)]
pub struct SqlParams {
    format: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct JsonBody {
    query: String,
}

/// The handler.
pub async fn sql(
    State(state): State<ApiState>,
    axum::Extension(authorized): axum::Extension<Authorized>,
    Query(params): Query<SqlParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&state, &authorized, &params, &headers, &body).await {
        Ok((content_type, body)) => {
            let mut response = (StatusCode::OK, body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &ApiState,
    authorized: &Authorized,
    params: &SqlParams,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'static str, Vec<u8>), ApiError> {
    let Some(backend) = state.sql.clone() else {
        return Err(ApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: "this tracegate was built without SQL; build it with \
                      `cargo build --release -p tracegate --features sql` (or `make build-sql`), \
                      or read the archive with DuckDB: \
                      read_parquet('ARCHIVE/spans/**/*.parquet', hive_partitioning = true)"
                .to_owned(),
        });
    };
    if body.len() > MAX_SQL_BYTES {
        return Err(ApiError::bad_request(format!(
            "the statement is {} bytes; at most {MAX_SQL_BYTES} are accepted",
            body.len()
        )));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        serde_json::from_slice::<JsonBody>(body)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the body is not JSON of the form {{\"query\": \"SELECT …\"}}: {e}"
                ))
            })?
            .query
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("the statement is not UTF-8"))?
    };
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request(
            "no statement: POST it as the body, such as SELECT count(*) FROM spans",
        ));
    }
    let arrow = params
        .format
        .as_deref()
        .map(|f| f.eq_ignore_ascii_case("arrow"))
        .unwrap_or_else(|| {
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/vnd.apache.arrow.stream"))
        });
    if let Some(f) = params.format.as_deref()
        && !f.eq_ignore_ascii_case("arrow")
        && !f.eq_ignore_ascii_case("json")
    {
        return Err(ApiError::bad_request(format!(
            "format {f:?} is not served: json (the default) or arrow"
        )));
    }
    let tenant = if state.config.multitenancy_enabled {
        let tenants = state.tenants(headers, authorized)?;
        match tenants.as_slice() {
            [one] => Some(one.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "SQL reads one tenant's data: name one tenant in X-Scope-OrgID",
                ));
            }
        }
    } else {
        None
    };
    let format = if arrow {
        SqlFormat::Arrow
    } else {
        SqlFormat::Json
    };
    backend
        .run(tenant, sql, format)
        .await
        .map_err(|f| ApiError {
            status: if f.bad_query {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            message: f.message,
        })
}
