//! The Axum foundation of botserver: the middleware every request passes through (request
//! id, tracing, CORS, compression, body-size limit, deadline, panic catcher, security
//! headers, per-IP rate limiting, JSON errors), the operational routes (`/health`,
//! `/ready`, `/metrics`, `/api/version`, the OpenAPI document and its page), serving with
//! optional TLS, and graceful shutdown.
//!
//! It owns no domain: domain crates hand it a [`Module`] and it merges their routers. It
//! never reads the environment; everything arrives through `AppState`.

pub mod access;
pub mod app;
pub mod error;
pub mod middleware;
pub mod module;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod telemetry;
pub mod testing;
pub mod tls;
pub mod ws;

pub use access::{Caller, RouteRule, Routes};
pub use app::{build_app, build_app_with_rules};
pub use error::{ApiError, ApiResult, AppJson, RequestId};
pub use module::{InstallFuture, Module};
pub use rate_limit::ClientIp;

/// Prints a line for the operator on standard output. A closed or broken stdout (a pipe
/// whose reader went away) is ignored: a server must not die because nobody listens.
pub fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
