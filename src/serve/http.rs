//! The HTTP layer: axum routes over [`Dashboard`]. Handlers only translate between HTTP and
//! the dashboard's validated calls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{ApiError, Dashboard};
use crate::error::{Error, Result};

/// Largest request body accepted (a full batch of 10,000 tracks fits).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

const PAGE: &str = include_str!("page.html");

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    json(status, &e)
}

/// Checks the content type and the body, before the dashboard sees it.
fn accept(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Bytes, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(ApiError {
            status: 415,
            error: "the body must be JSON (Content-Type: application/json)".into(),
            field: None,
        });
    }
    body.map_err(|rejection| ApiError {
        status: rejection.status().as_u16(),
        error: if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than the {BODY_LIMIT}-byte limit")
        } else {
            format!("unreadable body: {rejection}")
        },
        field: None,
    })
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health(State(d): State<Arc<Dashboard>>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "models": d.artifacts().len() }),
    )
}

async fn models(State(d): State<Arc<Dashboard>>) -> Response {
    json(StatusCode::OK, d.as_ref())
}

async fn predict(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&headers, body).and_then(|b| d.predict(&b)) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error(e),
    }
}

async fn predict_batch(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&headers, body).and_then(|b| d.predict_batch(&b)) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error(e),
    }
}

async fn explain(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    // Explaining a batch is CPU work: off the async workers.
    let answer = match accept(&headers, body) {
        Ok(b) => tokio::task::spawn_blocking(move || d.explain(&b))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError {
                    status: 500,
                    error: "the explanation failed".into(),
                    field: None,
                })
            }),
        Err(e) => Err(e),
    };
    match answer {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error(e),
    }
}

async fn not_found() -> Response {
    error(ApiError {
        status: 404,
        error: "no such page; the API is under /api (see the README)".into(),
        field: None,
    })
}

/// The dashboard's routes.
pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/health", get(health))
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/predict/batch", post(predict_batch))
        .route("/api/explain", post(explain))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(dashboard)
}

/// Serves the dashboard on `addr` until the process ends; `on_ready` receives the bound
/// address (useful with port 0).
///
/// # Errors
/// [`Error::Io`] if the address cannot be bound.
pub fn run(
    addr: SocketAddr,
    dashboard: Dashboard,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let io = |e: std::io::Error| Error::io(addr.to_string(), e);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
        on_ready(listener.local_addr().map_err(io)?);
        axum::serve(listener, router(Arc::new(dashboard)))
            .await
            .map_err(io)
    })
}
