//! Building the merged OpenAPI document.

use crate::module::Module;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The JSON body of every error (documents [`botlib::ErrorBody`]).
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Stable machine-readable code, e.g. `not_found`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds to wait before retrying (429).
    pub retry_after_secs: Option<u64>,
    /// The request id, to quote when reporting a problem.
    pub request_id: Option<String>,
}

/// The core document merged with every module's.
pub fn document(modules: &[&Module]) -> utoipa::openapi::OpenApi {
    let mut doc = crate::routes::CoreApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for module in modules {
        doc.merge((module.openapi)());
    }
    doc
}
