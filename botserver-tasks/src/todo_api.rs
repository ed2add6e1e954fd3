//! The task list's routes (being written).

use crate::todo::TaskService;
use botserver_core::access::Routes;
use std::sync::Arc;

/// The routes.
pub fn routes(_service: Arc<TaskService>) -> Routes {
    Routes::new()
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApi::default()
}
