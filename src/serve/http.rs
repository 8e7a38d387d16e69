//! The HTTP layer: axum routes over [`Dashboard`], served by hyper under [`Limits`]. Handlers
//! only translate between HTTP and the dashboard's validated calls; every request body the
//! API reads goes through one extractor ([`JsonBody`]), and every refusal is an [`ApiError`]
//! rendered as `{"error": …, "field": …}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{ApiError, Dashboard};
use crate::error::{Error, Result};

/// Largest request body accepted by default (a full batch of 10,000 tracks fits).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

const PAGE: &str = include_str!("page.html");

/// What the server allows a client. Plain data: [`Limits::default`] lists every default, and
/// the `with_*` setters change one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest a connection may take to send a request's head (request line and headers),
    /// counted from when the server starts waiting for it: on a new connection and after each
    /// answer, so an idle keep-alive connection is closed after it too. Default 10 s.
    pub header_timeout: Duration,
    /// Longest a request's body may take to arrive once its head is in; a late body gets a
    /// 408 and the connection is closed. Default 10 s.
    pub body_timeout: Duration,
    /// Most connections served at once; further ones wait in the kernel's accept queue until
    /// one closes. Default 512 (under the usual limit of 1,024 open files).
    pub max_connections: usize,
    /// Largest request body in bytes (413 beyond). Default [`BODY_LIMIT`], 2 MiB.
    pub max_body: usize,
    /// Longest request target (path and query) in bytes (414 beyond). Default 8 KiB.
    pub max_uri: usize,
    /// Largest request head in bytes. hyper refuses a longer one itself with a bare 431 (no
    /// JSON body): it is over before a handler runs. Default 64 KiB, above `max_uri`, so an
    /// over-long target gets the JSON 414.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_body: BODY_LIMIT,
            max_uri: 8 * 1024,
            max_head: 64 * 1024,
        }
    }
}

impl Limits {
    /// Sets [`Limits::header_timeout`].
    pub fn with_header_timeout(mut self, d: Duration) -> Self {
        self.header_timeout = d;
        self
    }
    /// Sets [`Limits::body_timeout`].
    pub fn with_body_timeout(mut self, d: Duration) -> Self {
        self.body_timeout = d;
        self
    }
    /// Sets [`Limits::max_connections`] (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// Sets [`Limits::max_body`].
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
    /// Sets [`Limits::max_uri`].
    pub fn with_max_uri(mut self, bytes: usize) -> Self {
        self.max_uri = bytes;
        self
    }
    /// Sets [`Limits::max_head`] (hyper needs at least 8 KiB).
    pub fn with_max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes.max(8 * 1024);
        self
    }
}

/// What every handler sees.
#[derive(Clone)]
struct App {
    dashboard: Arc<Dashboard>,
    limits: Limits,
    /// The page's Content-Security-Policy (hashes of its own script and style).
    page_csp: HeaderValue,
}

/// The policy of every response but the page: nothing may load, nothing may frame it.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The text between `open` and `close` in the page (its one inline script or style).
fn inline(open: &str, close: &str) -> &'static str {
    PAGE.split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map_or("", |(inner, _)| inner)
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's policy: only its own inline script and style (by hash) run, it talks only to
/// its own origin, and no other page may frame it.
pub fn page_csp() -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256_source(inline("<script>", "</script>")),
        sha256_source(inline("<style>", "</style>")),
    )
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl ApiError {
    fn status(status: StatusCode, error: String) -> Self {
        ApiError {
            status: status.as_u16(),
            error,
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = json(status, &self);
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way: this connection is done.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// `application/json`, optionally with `charset=utf-8` (the only encoding JSON has), and
/// nothing else: `application/jsonfoo` or `application/json; x=1` are not JSON bodies.
fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

/// A request body the API accepts: declared JSON, within [`Limits::max_body`], arrived within
/// [`Limits::body_timeout`]. The dashboard then parses it strictly (duplicate keys and unknown
/// fields refused).
struct JsonBody(Bytes);

impl FromRequest<App> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> std::result::Result<Self, ApiError> {
        let content_type = req.headers().get(header::CONTENT_TYPE);
        if !content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json)
        {
            let got = content_type.map_or("none".into(), |v| {
                format!("`{}`", String::from_utf8_lossy(v.as_bytes()))
            });
            return Err(ApiError {
                field: Some("Content-Type".into()),
                ..ApiError::status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "the body must be JSON (Content-Type: application/json, optionally \
                         `; charset=utf-8`); got {got}"
                    ),
                )
            });
        }
        let limit = app.limits.max_body;
        let too_large = || {
            ApiError::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the {limit}-byte limit"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let timeout = app.limits.body_timeout;
        match tokio::time::timeout(timeout, Bytes::from_request(req, &())).await {
            Err(_) => Err(ApiError::status(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", timeout.as_secs_f64()),
            )),
            Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(too_large())
            }
            Ok(Err(rejection)) => Err(ApiError::status(
                rejection.status(),
                format!("unreadable body: {rejection}"),
            )),
            Ok(Ok(bytes)) => Ok(JsonBody(bytes)),
        }
    }
}

async fn page(State(app): State<App>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, app.page_csp);
    response
}

async fn health(State(app): State<App>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "models": app.dashboard.artifacts().len() }),
    )
}

async fn models(State(app): State<App>) -> Response {
    json(StatusCode::OK, app.dashboard.as_ref())
}

async fn predict(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &app.dashboard.predict(&body)?))
}

async fn predict_batch(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &app.dashboard.predict_batch(&body)?))
}

async fn curves(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &app.dashboard.curves(&body)?))
}

async fn neighbours(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    // A pass over every training track: off the async workers.
    blocking(app, move |d| d.neighbours(&body)).await
}

async fn position(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &app.dashboard.position(&body)?))
}

async fn score(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    #[cfg(feature = "csv")]
    {
        blocking(app, move |d| d.score_upload(&body)).await
    }
    #[cfg(not(feature = "csv"))]
    {
        let _ = (app, body);
        Err(ApiError::status(
            StatusCode::NOT_IMPLEMENTED,
            "this build reads no CSV (cargo feature `csv`)".into(),
        ))
    }
}

/// Runs `work` on the blocking pool (CPU work that would stall the async workers).
async fn blocking(
    app: App,
    work: impl FnOnce(&Dashboard) -> std::result::Result<serde_json::Value, ApiError> + Send + 'static,
) -> std::result::Result<Response, ApiError> {
    let dashboard = app.dashboard.clone();
    let answer = tokio::task::spawn_blocking(move || work(&dashboard))
        .await
        .map_err(|_| {
            ApiError::status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request failed".into(),
            )
        })??;
    Ok(json(StatusCode::OK, &answer))
}

async fn not_found() -> ApiError {
    ApiError::status(
        StatusCode::NOT_FOUND,
        "no such page; the API is under /api (see the README)".into(),
    )
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here (the Allow header lists what is)"),
    )
}

/// Refuses an over-long request target before routing, with the JSON shape.
async fn uri_limit(State(app): State<App>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    let len = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if len > app.limits.max_uri {
        return ApiError::status(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request target is {len} bytes; at most {} are accepted",
                app.limits.max_uri
            ),
        )
        .into_response();
    }
    next.run(req).await
}

async fn explain(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> std::result::Result<Response, ApiError> {
    // Explaining a batch is CPU work: off the async workers.
    blocking(app, move |d| d.explain(&body)).await
}

/// Headers on every response: no MIME sniffing, no framing, no referrer, no cross-origin
/// reads; the API's strict policy unless the handler set one (the page).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let fixed: [(HeaderName, &str); 4] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
    }
    response
}

/// The dashboard's routes under `limits` (the body, target and timeout limits a handler
/// enforces; the connection limits are [`run`]'s).
pub fn router(dashboard: Arc<Dashboard>, limits: &Limits) -> Router {
    let app = App {
        dashboard,
        limits: limits.clone(),
        page_csp: HeaderValue::from_str(&page_csp())
            .unwrap_or_else(|_| HeaderValue::from_static(API_CSP)),
    };
    Router::new()
        .route("/", get(page))
        .route("/api/health", get(health))
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/predict/batch", post(predict_batch))
        .route("/api/explain", post(explain))
        .route("/api/curves", post(curves))
        .route("/api/neighbours", post(neighbours))
        .route("/api/position", post(position))
        .route("/api/score", post(score))
        // Applies to the routes above only: keep it after the last `.route`.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(middleware::from_fn_with_state(app.clone(), uri_limit))
        .layer(middleware::map_response(security_headers))
        .with_state(app)
}

/// Serves the dashboard on `addr` under `limits` until the process ends; `on_ready` receives
/// the bound address (useful with port 0).
///
/// # Errors
/// [`Error::Io`] if the address cannot be bound.
pub fn run(
    addr: SocketAddr,
    dashboard: Dashboard,
    limits: &Limits,
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
        serve(listener, router(Arc::new(dashboard), limits), limits).await;
        Ok(())
    })
}

/// The accept loop: one task per connection, at most `max_connections` at once, each under
/// hyper's header timeout.
async fn serve(listener: tokio::net::TcpListener, app: Router, limits: &Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_head);
    loop {
        // A slot first, then the connection: over the cap, clients wait in the kernel's queue.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a connection reset before accept: wait, retry.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
}
