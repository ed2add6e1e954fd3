//! The one place that decides which domains this build serves: one Cargo feature per
//! domain crate, all on by default.

use botserver_core::Module;

/// The domains compiled into this build, in the order their routers are merged.
// One cfg-gated push per domain reads better than cfg'd elements inside vec![].
#[allow(clippy::vec_init_then_push)]
pub fn enabled() -> Vec<&'static Module> {
    #[allow(unused_mut)] // Empty when built with --no-default-features.
    let mut modules: Vec<&'static Module> = Vec::new();
    #[cfg(feature = "auth")]
    modules.push(&botserver_auth::MODULE);
    // Before the knowledge bases (embeddings) and the engine (the LLM keyword).
    #[cfg(feature = "llm")]
    modules.push(&botserver_llm::MODULE);
    // Before the engine: THINK KB and USE KB go through `state.kb`.
    #[cfg(feature = "vectordb")]
    modules.push(&botserver_vectordb::MODULE);
    // Before the engine: scripts' file keywords use `state.objects`, and the engine
    // loads the drive's packages folder.
    #[cfg(feature = "drive")]
    modules.push(&botserver_drive::MODULE);
    // Before the engine: it hands every bot's schedules and hooks to `state.scheduler`
    // and `CREATE TASK` uses `state.todos`.
    #[cfg(feature = "tasks")]
    modules.push(&botserver_tasks::MODULE);
    // Last: the BASIC engine takes the services other domains installed.
    #[cfg(feature = "auto")]
    modules.push(&botserver_auto::MODULE);
    // After the engine: the chat answers through `state.dialogs`.
    #[cfg(feature = "chat")]
    modules.push(&botserver_chat::MODULE);
    modules
}
