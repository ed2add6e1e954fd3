//! A domain as the binary sees it: its name, its router, its migrations and its part of
//! the OpenAPI document.

use axum::Router;
use botstate::{AppState, MigrationSet};
use std::sync::Arc;

/// One domain crate's contribution to the server. Each domain crate exports
/// `pub const MODULE: Module`.
pub struct Module {
    /// Short name, e.g. `chat`; listed by `/api/version`.
    pub name: &'static str,
    /// Builds the domain's routes (full paths, no fallback: the core owns those).
    pub router: fn(Arc<AppState>) -> Router,
    /// The domain's tables.
    pub migrations: Option<&'static MigrationSet>,
    /// The domain's paths and schemas.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

impl Module {
    /// Every migration set the given modules need, core first.
    pub fn migration_sets(modules: &[&Module]) -> Vec<&'static MigrationSet> {
        std::iter::once(&botstate::CORE_MIGRATIONS)
            .chain(modules.iter().filter_map(|m| m.migrations))
            .collect()
    }
}
