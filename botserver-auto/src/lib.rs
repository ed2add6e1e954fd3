//! The BASIC engine: bot scripts (shared/spec/basic.md is the contract) compiled to Rhai
//! and run as durable conversations.
//!
//! Owns the dialect (lexer, parser, keyword registry and the generated reference in
//! `docs/`), the compiler (`compile`), the sandboxed runtime and every keyword's handler
//! (`runtime`), durable dialogs (`dialog`: the journal-replay engine behind botstate's
//! `DialogEngine`), scripts as tools (`tools`), the bot's tables (`data`), guarded
//! outbound HTTP (`net`), packages and the bots folder watcher (`package`, `watch`), `botserver bot check|run` (`cli`) and the
//! `/api/bots…` routes (`api`). It reaches other domains only through botstate's traits
//! and never lets a script touch the server's files, environment or another bot's data.

pub mod admin;
pub mod api;
pub mod ast;
pub mod cli;
pub mod compile;
pub mod data;
pub mod dialog;
pub mod hooks;
pub mod keywords;
pub mod lexer;
pub mod net;
pub mod package;
pub mod parser;
pub mod runtime;
mod schema;
pub mod statements;
pub mod tools;
pub mod watch;

/// This crate's tables: durable conversations, script versions, bot memory and the bot
/// tables' catalog.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "auto",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The BASIC engine as the server sees it: tables, the dialog engine in `state.dialogs`,
/// the bots of the bots folder, and the routes. Install it after the modules that provide
/// services scripts use (LLM, mail, drive), since it takes them from the state.
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "auto",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi: api::openapi,
    install: Some(install),
    start: None,
};

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let services = runtime::Services::new(state)?;
        let dialogs = std::sync::Arc::new(dialog::Dialogs::new(std::sync::Arc::new(services)));
        dialogs.set_builtin_home(state.config.server.data_dir.clone());
        let dir = state.config.bots_dir();
        dialogs
            .install(dialogs.builtin())
            .await
            .map_err(|e| e.to_string())?;
        // The bots folder, then the folders other domains fill (the drive's packages
        // mirror): each loaded the same way, and watched.
        for dir in std::iter::once(dir).chain(state.bot_folders.iter().cloned()) {
            let mut seen = Default::default();
            let first = watch::sync(&dialogs, &dir, &mut seen).await;
            if !first.loaded.is_empty() {
                tracing::info!(bots = ?first.loaded, dir = %dir.display(), "bots loaded");
            }
            // Changes to the folder take effect while the server runs.
            let stop = state.shutdown.clone();
            state
                .tasks
                .spawn(watch::run(dialogs.clone(), dir, seen, async move {
                    stop.cancelled().await
                }));
        }
        state.dialogs = dialogs.clone();
        state.extensions.insert(dialogs);
        Ok(())
    })
}

/// The engine's routes. Panics if `install` did not run (a wiring bug, found at start-up).
pub fn create_router(state: std::sync::Arc<botstate::AppState>) -> botserver_core::access::Routes {
    let dialogs = state
        .extensions
        .get::<dialog::Dialogs>()
        .expect("botserver-auto: MODULE.install must run before its router is built");
    api::routes(dialogs)
}

pub use lexer::{LexError, Pos, StrPart, Tok, Token, lex};
pub use parser::{ParseError, parse_expr};
pub use statements::parse_script;
