//! Language models for bots, behind botstate's `LlmProvider`: the OpenAI chat-completions
//! wire (OpenAI, Groq, Ollama, vLLM, llama.cpp server, LM Studio), Azure OpenAI and
//! Anthropic Messages; streaming over SSE, tool calls, JSON mode and embeddings. Each bot
//! picks its model in `config.csv` over the server's `[llm]` defaults; model differences
//! are capability flags in one table (`target.rs`). Every call passes the per-minute rate
//! limits and monthly token budgets, may be answered from the response cache, is retried
//! with back-off on 429/5xx (honouring `Retry-After`) within its timeouts, and is recorded
//! (tokens, latency, time to first token, cost) in `llm_usage` and `/metrics`. A bot with
//! `llm-provider=llamacpp` and a model file gets a supervised local `llama-server`.
//!
//! The tool-call loop and prompt assembly live with the conversation (botserver-chat),
//! which reaches this crate only through the trait.

pub mod answer_cache;
pub mod anthropic;
pub mod api;
#[cfg(feature = "test-double")]
pub mod double;
pub mod guard;
pub mod llamacpp;
pub mod local_embed;
pub mod metrics;
pub mod openai;
pub mod provider;
pub mod sse;
pub mod target;
pub mod transport;
pub mod usage;

use std::sync::Arc;

/// This crate's table: `llm_usage`.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "llm",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The language-model domain. Install it before the modules that call models (the
/// engine's `LLM` keyword, the chat, the knowledge bases' embeddings).
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "llm",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi,
    install: Some(install),
    start: None,
};

fn openapi() -> utoipa::openapi::OpenApi {
    <api::LlmApi as utoipa::OpenApi>::openapi()
}

/// Builds the provider from the state (also used by tests).
pub async fn build(state: &botstate::AppState) -> Result<provider::Llm, String> {
    let server_key = state
        .secrets
        .get("llm-key")
        .await
        .map_err(|e| e.to_string())?
        .map(|k| k.expose().to_string());
    Ok(provider::Llm {
        defaults: state.config.llm.clone(),
        server_key,
        bots: state.bots.clone(),
        db: state.db.clone(),
        cache: state.cache.clone(),
        transport: transport::Transport::new(&state.config.llm).map_err(|e| e.to_string())?,
        recorder: provider::Recorder {
            db: state.db.clone(),
            metrics: metrics::LlmMetrics::register(&state.metrics),
        },
        local: llamacpp::Supervisor::new(state.config.llm.llama_server.clone(), state.shutdown.clone()),
    })
}

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let llm = Arc::new(build(state).await?);
        state.llm = llm;
        Ok(())
    })
}

/// The domain's routes.
pub fn create_router(state: Arc<botstate::AppState>) -> botserver_core::access::Routes {
    api::routes().with_state(state)
}
