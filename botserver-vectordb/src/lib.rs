//! Knowledge bases for bots (feature `vectordb`): documents of `<bot>.gbkb/<kb>/` (and
//! uploads through REST) extracted ([`extract`]), chunked with overlap ([`chunk`]), indexed
//! lexically ([`lexical`], BM25) and as vectors (embeddings from the bot's provider through
//! `LlmProvider::embed`, stored in a [`VectorStore`]), and searched by both, fused
//! ([`hybrid`]). It owns the embedded vector store ([`embedded`], the default
//! `state.vectors`), the knowledge-base service ([`kb`], `state.kb`, what the chat and the
//! BASIC `USE KB`/`THINK KB` call), the indexing job table and the background indexer
//! ([`ingest`], [`repo`]), the REST routes ([`api`]) and `botserver kb …` ([`cli`]).
//!
//! It never reads another domain's tables or calls a model directly: bots come from
//! `state.bots`, embeddings from `state.llm`. Without an embedding model a knowledge base
//! works on BM25 alone.

pub mod api;
pub mod chunk;
pub mod cli;
pub mod embedded;
pub mod extract;
pub mod hybrid;
pub mod ingest;
pub mod kb;
pub mod lexical;
pub mod repo;
pub mod testing;

use std::sync::Arc;

pub use embedded::EmbeddedVectorStore;
pub use kb::{IndexOpts, KbDeps, KbService};

/// This crate's tables: documents (indexing jobs) and chunks.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "kb",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The knowledge-base domain. Install it after the LLM domain (its embeddings) and before
/// the engine (whose `USE KB` and `THINK KB` use `state.kb`).
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "vectordb",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi: api::openapi,
    install: Some(install),
};

/// The installed service and the stop switch of its background indexer (the CLI stops it
/// to index in the foreground).
pub struct KbModule {
    /// The service (also `state.kb`).
    pub service: Arc<KbService>,
    /// Cancels the background indexer only.
    pub background: tokio_util::sync::CancellationToken,
}

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let dir = state.config.server.data_dir.join("vectors");
        let store = tokio::task::spawn_blocking(move || EmbeddedVectorStore::open(&dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the embedded vector store cannot open: {e}"))?;
        let vectors: Arc<dyn botstate::services::VectorStore> = Arc::new(store);
        state.vectors = vectors.clone();
        let service = Arc::new(KbService::new(
            KbDeps {
                db: state.db.clone(),
                cache: state.cache.clone(),
                llm: state.llm.clone(),
                vectors,
                bots: state.bots.clone(),
            },
            IndexOpts::default(),
        ));
        state.kb = service.clone();
        // Bots arrive in the registry later (the engine's install, package changes): the
        // indexer polls it.
        let background = state.shutdown.child_token();
        state.tasks.spawn(service.clone().run(background.clone()));
        state
            .extensions
            .insert(Arc::new(KbModule { service, background }));
        Ok(())
    })
}

/// The knowledge-base routes. Panics if `install` did not run (a wiring bug, found at
/// start-up).
pub fn create_router(state: Arc<botstate::AppState>) -> botserver_core::access::Routes {
    let m = state
        .extensions
        .get::<KbModule>()
        .expect("botserver-vectordb: MODULE.install must run before its router is built");
    api::routes(m.service.clone())
}
