//! A domain as the binary sees it: its name, its routes (each with an access rule), its
//! migrations, its part of the OpenAPI document, and the services it plugs into `AppState`.

use crate::access::Routes;
use botstate::{AppState, MigrationSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What [`Module::install`] returns.
pub type InstallFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One domain crate's contribution to the server. Each domain crate exports
/// `pub const MODULE: Module`.
pub struct Module {
    /// Short name, e.g. `chat`; listed by `/api/version`.
    pub name: &'static str,
    /// Builds the domain's routes (full paths, no fallback: the core owns those).
    pub router: fn(Arc<AppState>) -> Routes,
    /// The domain's tables.
    pub migrations: Option<&'static MigrationSet>,
    /// The domain's paths and schemas.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Plugs the domain's service implementations into the state (after migrations,
    /// before serving), e.g. the auth domain sets `state.auth`.
    pub install: Option<for<'a> fn(&'a mut AppState) -> InstallFuture<'a>>,
    /// Starts the domain's background work that needs the finished state (other
    /// domains' services installed after this one), once the app is built to serve, e.g.
    /// the scheduler's runner, which calls the engine. Commands that do not serve never
    /// call it.
    pub start: Option<fn(&Arc<AppState>)>,
}

impl Module {
    /// Every migration set the given modules need, core first.
    pub fn migration_sets(modules: &[&Module]) -> Vec<&'static MigrationSet> {
        std::iter::once(&botstate::CORE_MIGRATIONS)
            .chain(modules.iter().filter_map(|m| m.migrations))
            .collect()
    }

    /// Runs every module's `install`, in order.
    pub async fn install_all(state: &mut AppState, modules: &[&Module]) -> Result<(), String> {
        for module in modules {
            if let Some(install) = module.install {
                install(state)
                    .await
                    .map_err(|e| format!("{}: {e}", module.name))?;
            }
        }
        Ok(())
    }
}
