//! Conversations with bots, as people see them: the WebSocket protocol of
//! shared/spec/packages.md (`/ws`, `/ws/{bot}`), sessions and their message log in the
//! database, delivery to a session's sockets on any instance (pub/sub over the shared
//! cache), the turn pipeline (the dialog engine, else the language model streamed, else the
//! knowledge base, else a clear fallback), the WAIT wake-up loop, metrics, and the web chat
//! page (plain HTML/CSS/JS embedded in the binary).
//!
//! It reaches the engine, the model and the vector store only through botstate's traits;
//! nothing about a conversation lives only in this process's memory (a socket's queue is
//! a cache of the log, refilled by `GET /api/sessions/{id}/messages?after=`).

pub mod answer;
pub mod api;
pub mod hub;
pub mod identity;
pub mod metrics;
pub mod prompt;
pub mod socket;
pub mod store;
pub mod turns;

use std::sync::Arc;

/// This crate's tables: chat sessions and the message log.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "chat",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The chat as the server sees it. Install it after the engine (`auto`), whose
/// `state.dialogs` it uses.
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "chat",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi,
    install: Some(install),
    start: None,
};

fn openapi() -> utoipa::openapi::OpenApi {
    <api::ChatApi as utoipa::OpenApi>::openapi()
}

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let hub = hub::Hub::new(state.cache.clone());
        let chat = Arc::new(turns::Chat {
            db: state.db.clone(),
            cache: state.cache.clone(),
            dialogs: state.dialogs.clone(),
            llm: state.llm.clone(),
            kb: state.kb.clone(),
            bots: state.bots.clone(),
            hub: hub.clone(),
            metrics: metrics::ChatMetrics::register(&state.metrics),
        });
        state.tasks.spawn(hub.listen(state.shutdown.clone()));
        state.tasks.spawn(chat.clone().wake_loop(state.shutdown.clone()));
        state.extensions.insert(chat);
        Ok(())
    })
}

/// The chat's routes. Panics if `install` did not run (a wiring bug, found at start-up).
pub fn create_router(state: Arc<botstate::AppState>) -> botserver_core::access::Routes {
    let chat = state
        .extensions
        .get::<turns::Chat>()
        .expect("botserver-chat: MODULE.install must run before its router is built");
    api::routes(api::ChatApp { state, chat })
}
