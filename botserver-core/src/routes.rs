//! The operational routes every server has: liveness, readiness, metrics, version, the
//! OpenAPI document and its browsable page.

use crate::access::Routes;
use crate::error::ApiResult;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use botstate::AppState;
use botstate::auth::Access;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// What the core routes need.
pub struct CoreInfo {
    /// The application state.
    pub state: Arc<AppState>,
    /// The merged OpenAPI document, serialized once.
    pub openapi_json: String,
    /// Names of the domains this build serves.
    pub modules: Vec<&'static str>,
}

/// `/health` answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
}

/// One dependency's readiness.
#[derive(Serialize, ToSchema)]
pub struct Check {
    /// Whether it answered in time.
    pub ok: bool,
    /// Which backend is in use.
    pub backend: &'static str,
    /// Why not, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/ready` answer.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready` or `shutting_down`.
    pub status: &'static str,
    /// The database check.
    pub database: Check,
    /// The cache check.
    pub cache: Check,
}

/// `/api/version` answer.
#[derive(Serialize, ToSchema)]
pub struct Version {
    /// `botserver`.
    pub name: &'static str,
    /// The release.
    pub version: &'static str,
    /// Domains compiled into this build.
    pub modules: Vec<&'static str>,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// `memory` or `redis`.
    pub cache: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
}

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: the database and the cache answer, and the server is not shutting down.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready to serve", body = Readiness),
              (status = 503, description = "A dependency is down, or shutting down", body = Readiness)))]
pub async fn ready(State(info): State<Arc<CoreInfo>>) -> Response {
    let state = &info.state;
    let (db, cache) = tokio::join!(
        state.db.ping(CHECK_TIMEOUT),
        tokio::time::timeout(CHECK_TIMEOUT, state.cache.ping())
    );
    let cache = cache.unwrap_or_else(|_| Err(botlib::AppError::Unavailable("cache: ping timed out".into())));
    let check = |r: Result<(), botlib::AppError>, backend| Check {
        ok: r.is_ok(),
        backend,
        error: r.err().map(|e| e.public_message()),
    };
    let database = check(db, state.db.backend().name());
    let cache = check(cache, state.cache.backend());
    let shutting_down = state.shutdown.is_cancelled();
    let ok = database.ok && cache.ok && !shutting_down;
    let status = match (ok, shutting_down) {
        (true, _) => "ready",
        (false, true) => "shutting_down",
        (false, false) => "not_ready",
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(Readiness {
            status,
            database,
            cache,
        }),
    )
        .into_response()
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(info): State<Arc<CoreInfo>>) -> Response {
    let state = &info.state;
    let (open, idle, max) = state.db.pool_state();
    state.metrics.db.connections.set(open.into());
    state.metrics.db.idle.set(idle.into());
    state.metrics.db.max.set(max.into());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// The server's version and what this build contains.
#[utoipa::path(get, path = "/api/version", tag = "operations",
    responses((status = 200, description = "Version and build", body = Version)))]
pub async fn version(State(info): State<Arc<CoreInfo>>) -> ApiResult<axum::Json<Version>> {
    Ok(axum::Json(Version {
        name: "botserver",
        version: env!("CARGO_PKG_VERSION"),
        modules: info.modules.clone(),
        database: info.state.db.backend().name(),
        cache: info.state.cache.backend(),
        uptime_secs: info.state.started_at.elapsed().as_secs(),
    }))
}

/// The OpenAPI 3.1 document of every route this build serves.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi(State(info): State<Arc<CoreInfo>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        info.openapi_json.clone(),
    )
        .into_response()
}

async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs/index.html"))
}

async fn docs_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("docs/docs.js"),
    )
}

async fn docs_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("docs/docs.css"),
    )
}

/// The core routes. Probes, the version and the API description are public.
pub fn router(info: Arc<CoreInfo>) -> Routes {
    Routes::new()
        .get("/health", Access::Public, health)
        .get("/ready", Access::Public, ready)
        .get("/metrics", Access::Public, metrics)
        .get("/api/version", Access::Public, version)
        .get("/api/openapi.json", Access::Public, openapi)
        .get("/api/docs", Access::Public, docs_page)
        .get("/api/docs/docs.js", Access::Public, docs_js)
        .get("/api/docs/docs.css", Access::Public, docs_css)
        .with_state(info)
}

/// The core's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "botserver", description = "Self-hosted bot and AI-agent platform."),
    paths(health, ready, metrics, version, openapi),
    components(schemas(crate::openapi::ErrorResponse))
)]
pub struct CoreApi;
