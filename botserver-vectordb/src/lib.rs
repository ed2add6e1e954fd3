//! Knowledge bases for bots (feature `vectordb`): documents of `<bot>.gbkb/<kb>/` (and
//! uploads through REST) extracted ([`extract`]), chunked with overlap ([`chunk`]), indexed
//! lexically ([`lexical`], BM25) and as vectors (embeddings from the bot's provider through
//! `LlmProvider::embed`, stored in a [`VectorStore`]), and searched by both, fused
//! ([`hybrid`]). It owns the vector stores: the embedded one ([`embedded`], the default),
//! pgvector in the server's PostgreSQL database ([`pgvector`], chosen when the database is
//! PostgreSQL and the extension can be created), Qdrant (`qdrant`, feature `qdrant`, off by
//! default; chosen when `QDRANT_URL` is set), one of which is `state.vectors` (see
//! [`StoreChoice`]); the knowledge-base service ([`kb`], `state.kb`, what the chat and the
//! BASIC `USE KB`/`THINK KB` call), the indexing job table and the background indexer
//! ([`ingest`], [`repo`]), `USE WEBSITE`'s bounded crawl ([`website`]), the REST routes
//! ([`api`]) and `botserver kb …` ([`cli`]). Its document reader ([`reader`]) is also
//! `state.documents`, the text of documents for BASIC's `READ`.
//!
//! It never reads another domain's tables or calls a model directly: bots come from
//! `state.bots`, embeddings from `state.llm`. Without an embedding model a knowledge base
//! works on BM25 alone.

pub mod api;
pub mod checks;
pub mod chunk;
pub mod cli;
pub mod embedded;
pub mod extract;
pub mod hybrid;
pub mod ingest;
pub mod kb;
pub mod lexical;
pub mod pgvector;
#[cfg(feature = "qdrant")]
pub mod qdrant;
pub mod reader;
pub mod repo;
pub mod testing;
pub mod website;

use botstate::services::VectorStore;
use std::sync::Arc;

pub use embedded::EmbeddedVectorStore;
pub use kb::{IndexOpts, KbDeps, KbService};
pub use pgvector::PgVectorStore;
#[cfg(feature = "qdrant")]
pub use qdrant::QdrantVectorStore;

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
    start: None,
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
        let choice = StoreChoice::from_env(&|k| std::env::var(k).ok());
        state.documents = Arc::new(reader::Extractor::default());
        let (vectors, store_tag) = open_store(state, &choice).await?;
        state.vectors = vectors.clone();
        let service = Arc::new(KbService::new(
            KbDeps {
                db: state.db.clone(),
                cache: state.cache.clone(),
                llm: state.llm.clone(),
                vectors,
                store_tag,
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

/// Which vector store to use, from the environment (read once, at install):
/// `BOTSERVER_VECTOR_STORE` = `embedded`, `pgvector` or `qdrant` forces one (start-up
/// fails when it cannot open); otherwise Qdrant when `QDRANT_URL` is set, else pgvector
/// when the database is PostgreSQL and the extension can be created, else the embedded
/// store. `QDRANT_API_KEY` (or the `qdrant-api-key` secret) is Qdrant's key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreChoice {
    /// `BOTSERVER_VECTOR_STORE`, lower-cased, when set.
    pub forced: Option<String>,
    /// `QDRANT_URL`, when set.
    pub qdrant_url: Option<String>,
    /// `QDRANT_API_KEY`, when set.
    pub qdrant_api_key: Option<String>,
}

impl StoreChoice {
    /// Reads the variables through `get` (the process environment at install).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> StoreChoice {
        let get = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        StoreChoice {
            forced: get("BOTSERVER_VECTOR_STORE").map(|v| v.to_ascii_lowercase()),
            qdrant_url: get("QDRANT_URL"),
            qdrant_api_key: get("QDRANT_API_KEY"),
        }
    }
}

/// Opens the chosen store (see [`StoreChoice`]) and says which it is (the tag of
/// [`KbDeps::store_tag`]).
async fn open_store(
    state: &botstate::AppState,
    choice: &StoreChoice,
) -> Result<(Arc<dyn VectorStore>, &'static str), String> {
    let forced = choice.forced.as_deref();
    match forced {
        None | Some("embedded" | "pgvector" | "qdrant") => {}
        Some(other) => {
            return Err(format!(
                "BOTSERVER_VECTOR_STORE: `{other}` is not one of embedded, pgvector, qdrant"
            ));
        }
    }
    if forced == Some("qdrant") || (forced.is_none() && choice.qdrant_url.is_some()) {
        return open_qdrant(state, choice).await;
    }
    if forced == Some("pgvector") || (forced.is_none() && state.db.backend() == botstate::Backend::Postgres) {
        match PgVectorStore::open(state.db.clone()).await {
            Ok(s) => {
                tracing::info!(
                    store = "pgvector",
                    version = s.extension_version(),
                    "vector store"
                );
                return Ok((Arc::new(s), "pgvector"));
            }
            Err(e) if forced.is_some() => return Err(format!("the pgvector store cannot open: {e}")),
            Err(e) => tracing::info!(
                error = %e,
                "pgvector is not available on this PostgreSQL database; using the embedded vector store"
            ),
        }
    }
    let dir = state.config.server.data_dir.join("vectors");
    let store = tokio::task::spawn_blocking(move || EmbeddedVectorStore::open(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the embedded vector store cannot open: {e}"))?;
    tracing::info!(store = "embedded", "vector store");
    Ok((Arc::new(store), ""))
}

#[cfg(feature = "qdrant")]
async fn open_qdrant(
    state: &botstate::AppState,
    choice: &StoreChoice,
) -> Result<(Arc<dyn VectorStore>, &'static str), String> {
    let url = choice
        .qdrant_url
        .as_deref()
        .ok_or("BOTSERVER_VECTOR_STORE=qdrant needs QDRANT_URL")?;
    let key = choice
        .qdrant_api_key
        .clone()
        .or_else(|| state.config.secrets.values.get("qdrant-api-key").cloned());
    let store = QdrantVectorStore::new(url, key, std::time::Duration::from_secs(10))
        .map_err(|e| format!("the Qdrant store cannot open: {e}"))?;
    // A server that is down now may be up later: start anyway (searches fall back to
    // BM25 and indexing retries), but say so.
    match tokio::time::timeout(std::time::Duration::from_secs(5), store.health()).await {
        Ok(Ok(version)) => tracing::info!(store = "qdrant", url, version, "vector store"),
        Ok(Err(e)) => {
            tracing::warn!(store = "qdrant", url, error = %e, "vector store: Qdrant does not answer yet")
        }
        Err(_) => tracing::warn!(
            store = "qdrant",
            url,
            "vector store: Qdrant does not answer yet (timed out)"
        ),
    }
    Ok((Arc::new(store), "qdrant"))
}

#[cfg(not(feature = "qdrant"))]
async fn open_qdrant(
    _state: &botstate::AppState,
    _choice: &StoreChoice,
) -> Result<(Arc<dyn VectorStore>, &'static str), String> {
    Err(
        "QDRANT_URL is set, but this build has no Qdrant store (the botserver-vectordb feature `qdrant`)"
            .into(),
    )
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
