//! `POST /api/sql`: a gateway without SQL says how to get it; with a backend, the tenant,
//! format and refusals reach it as the module docs say.

use super::*;
use crate::api::sql::{SqlAnswer, SqlBackend, SqlFailure, SqlFormat};
use std::sync::Mutex;

/// Records what it was asked and answers with it.
#[derive(Default)]
struct Echo(Mutex<Vec<(Option<String>, String, SqlFormat)>>);

impl SqlBackend for Echo {
    fn run(
        &self,
        tenant: Option<String>,
        sql: String,
        format: SqlFormat,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SqlAnswer> + Send + '_>> {
        Box::pin(async move {
            if sql.contains("nope") {
                return Err(SqlFailure {
                    bad_query: true,
                    message: "no column nope".into(),
                });
            }
            self.0.lock().unwrap().push((tenant, sql, format));
            Ok(("application/json", b"[]".to_vec()))
        })
    }
}

async fn post(app: &axum::Router, uri: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::post(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        content_type: String::new(),
        body,
    }
}

#[tokio::test]
async fn without_sql_the_endpoint_says_how_to_get_it() {
    let reply = post(&app(vec![]), "/api/sql", "SELECT 1", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);
    assert!(reply.text().contains("--features sql"), "{}", reply.text());
}

#[tokio::test]
async fn the_backend_gets_the_tenant_the_statement_and_the_format() {
    let echo = Arc::new(Echo::default());
    let config = ApiConfig {
        multitenancy_enabled: true,
        ..Default::default()
    };
    let app =
        router(ApiState::new(Arc::new(MemoryBackend::new(vec![])), config).with_sql(echo.clone()));
    let ok = post(&app, "/api/sql", "SELECT 1", &[("X-Scope-OrgID", "a")]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let json = post(
        &app,
        "/api/sql?format=arrow",
        r#"{"query": "SELECT 2"}"#,
        &[("X-Scope-OrgID", "b"), ("Content-Type", "application/json")],
    )
    .await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.text());
    assert_eq!(
        *echo.0.lock().unwrap(),
        [
            (Some("a".to_owned()), "SELECT 1".to_owned(), SqlFormat::Json),
            (
                Some("b".to_owned()),
                "SELECT 2".to_owned(),
                SqlFormat::Arrow
            ),
        ]
    );
    let refusals = [
        (
            "/api/sql",
            "SELECT 1",
            vec![],
            StatusCode::UNAUTHORIZED,
            "no org id",
        ),
        (
            "/api/sql",
            "SELECT 1",
            vec![("X-Scope-OrgID", "a|b")],
            StatusCode::BAD_REQUEST,
            "one tenant",
        ),
        (
            "/api/sql",
            "  ",
            vec![("X-Scope-OrgID", "a")],
            StatusCode::BAD_REQUEST,
            "no statement",
        ),
        (
            "/api/sql?format=xml",
            "SELECT 1",
            vec![("X-Scope-OrgID", "a")],
            StatusCode::BAD_REQUEST,
            "not served",
        ),
        (
            "/api/sql",
            "SELECT nope",
            vec![("X-Scope-OrgID", "a")],
            StatusCode::BAD_REQUEST,
            "no column nope",
        ),
    ];
    for (uri, body, headers, status, says) in refusals {
        let reply = post(&app, uri, body, &headers).await;
        assert_eq!(reply.status, status, "{uri} {body:?}: {}", reply.text());
        assert!(reply.text().contains(says), "{}", reply.text());
    }
    let big = "x".repeat(crate::api::sql::MAX_SQL_BYTES + 1);
    let reply = post(&app, "/api/sql", &big, &[("X-Scope-OrgID", "a")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        echo.0.lock().unwrap().len(),
        2,
        "no refused request reached the engine"
    );
}
