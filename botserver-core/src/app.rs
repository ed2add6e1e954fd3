//! Assembling the one router: core routes, every enabled module's routes, the JSON
//! fallback and the middleware stack.

use crate::access::RouteRule;
use crate::middleware::{self, Ctx};
use crate::module::Module;
use crate::rate_limit::RateLimiter;
use crate::routes::{self, CoreInfo};
use axum::Router;
use axum::http::{HeaderName, Method};
use botlib::AppError;
use botstate::AppState;
use botstate::auth::Access;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

/// Builds the application router for `state` with `modules` merged in.
pub fn build_app(state: Arc<AppState>, modules: &[&Module]) -> Router {
    build_app_with_rules(state, modules).0
}

/// Builds the application router and returns the access rule of every route it serves.
pub fn build_app_with_rules(state: Arc<AppState>, modules: &[&Module]) -> (Router, Vec<RouteRule>) {
    let config = &state.config.server;
    let openapi_json =
        serde_json::to_string(&crate::openapi::document(modules)).unwrap_or_else(|_| "{}".to_string());
    let info = Arc::new(CoreInfo {
        state: state.clone(),
        openapi_json,
        modules: modules.iter().map(|m| m.name).collect(),
    });

    let mut routes = routes::router(info);
    for module in modules {
        routes = routes.merge((module.router)(state.clone()));
    }
    for start in modules.iter().filter_map(|m| m.start) {
        start(&state);
    }
    if let Some(dir) = &config.static_dir {
        routes = routes.nest_service("/static", Access::Public, ServeDir::new(dir));
    }
    let (app, rules) = routes.into_parts();
    let app = app
        .route_layer(axum::middleware::from_fn(middleware::record_route))
        .fallback(|| async { crate::error::ApiError(AppError::NotFound) });

    let ctx = Arc::new(Ctx {
        state: state.clone(),
        limiter: RateLimiter::new(config.rate_limit.per_second, config.rate_limit.burst),
        trusted_proxies: config
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse::<IpAddr>().ok())
            .collect(),
        timeout: Duration::from_secs(config.request_timeout_secs),
        body_limit: config.body_limit_bytes,
        streaming: rules.iter().filter(|r| r.streaming).cloned().collect(),
        hsts: config.tls.is_some(),
    });

    // Layers wrap what is already there, so the last one added runs first.
    let app = app
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            middleware::body_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            middleware::deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            middleware::rate_limit,
        ))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            middleware::finish,
        ))
        .layer(CompressionLayer::new())
        .layer(tower::util::option_layer(cors_layer(
            &config.cors.allowed_origins,
        )))
        .layer(axum::middleware::from_fn_with_state(ctx, middleware::observe));
    (app, rules)
}

/// CORS from configuration: none when no origin is listed.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| o.trim_end_matches('/').parse().ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(3600)),
    )
}
