//! The botserver binary: reads the configuration, builds `AppState` on the embedded
//! defaults or real services, plugs in the enabled domains and serves them in one process.

mod cli;

use botserver::modules;
use botserver_core::{Module, build_app, serve, telemetry};
use botstate::config::{self, Overrides};
use botstate::{AppState, Config};
use clap::Parser;
use cli::{Cli, Command, ConfigAction};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let overrides = Overrides {
        bind: cli.serve.bind.clone(),
        port: cli.serve.port,
        data_dir: cli.serve.data_dir.clone(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let file = config_file(cli.config.clone(), &env);
    let config = match config::load(file.as_deref(), &env, &overrides) {
        Ok(c) => c,
        Err(e) => return fail(2, &e.to_string()),
    };
    if let Err(e) = telemetry::init(&config.log) {
        return fail(2, &e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Migrate) => migrate(config).await,
            Some(Command::Config {
                action: ConfigAction::Check,
            }) => {
                check(&config, file.as_deref());
                Ok(())
            }
            #[cfg(feature = "auth")]
            Some(Command::User { action }) => user_command(config, action).await,
            #[cfg(feature = "auto")]
            Some(Command::Bot { action }) => bot_command(config, action).await,
            #[cfg(feature = "vectordb")]
            Some(Command::Kb { action }) => kb_command(config, action).await,
            Some(Command::Serve) | None => run(config, started).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e),
    }
}

/// Prints one line naming the problem and returns the exit code.
fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("botserver: {message}");
    ExitCode::from(code)
}

/// `--config`, else `$BOTSERVER_CONFIG`, else `./botserver.toml` when it exists.
fn config_file(flag: Option<PathBuf>, env: &[(String, String)]) -> Option<PathBuf> {
    flag.or_else(|| {
        env.iter()
            .find(|(k, _)| k == "BOTSERVER_CONFIG")
            .map(|(_, v)| PathBuf::from(v))
    })
    .or_else(|| {
        let default = PathBuf::from("botserver.toml");
        default.exists().then_some(default)
    })
}

async fn run(config: Config, started: Instant) -> Result<(), String> {
    let modules = modules::enabled();
    let mut state = AppState::build(config, &Module::migration_sets(&modules)).await?;
    Module::install_all(&mut state, &modules).await?;
    let state = Arc::new(state);
    let bound = serve::bind(&state).await?;
    let addr = bound.local_addr().map_err(|e| e.to_string())?;
    let scheme = if state.config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    serve::cancel_on_signals(&state);
    let app = build_app(state.clone(), &modules);
    tracing::info!(
        %addr,
        database = state.db.backend().name(),
        cache = state.cache.backend(),
        modules = ?modules.iter().map(|m| m.name).collect::<Vec<_>>(),
        ready_ms = started.elapsed().as_millis() as u64,
        "botserver ready"
    );
    botserver_core::announce(&format!("botserver listening on {scheme}://{addr}"));
    serve::serve(state, app, bound).await
}

async fn migrate(config: Config) -> Result<(), String> {
    let modules = modules::enabled();
    let sets = Module::migration_sets(&modules);
    let target = config.database_target();
    let opts = botstate::db::DbOptions {
        pool_size: 1,
        connect_timeout: std::time::Duration::from_secs(config.database.connect_timeout_secs),
    };
    let applied = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let db = botstate::Db::connect(&target, &opts)?;
        let mut conn = db.get().map_err(|e| e.to_string())?;
        botstate::db::run_migrations(&mut conn, &sets)
    })
    .await
    .map_err(|e| e.to_string())??;
    if applied.is_empty() {
        println!("migrations: nothing to apply");
    } else {
        for v in &applied {
            println!("applied {v}");
        }
        println!("migrations: {} applied", applied.len());
    }
    Ok(())
}

/// `botserver user …`: runs against the database directly (migrating it first).
#[cfg(feature = "auth")]
async fn user_command(config: Config, action: cli::UserAction) -> Result<(), String> {
    use cli::UserAction;
    let modules = modules::enabled();
    let mut state = AppState::build(config, &Module::migration_sets(&modules)).await?;
    Module::install_all(&mut state, &modules).await?;
    let svc = state
        .extensions
        .get::<botserver_auth::AuthService>()
        .ok_or("the auth domain did not install")?;
    let read_password = |wanted: bool| -> Result<Option<String>, String> {
        if !wanted {
            return Ok(None);
        }
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password: {e}"))?;
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
    };
    use botserver_auth::cli as user;
    let out = match action {
        UserAction::Create {
            username,
            roles,
            org,
            password_stdin,
        } => user::create(&svc, &username, read_password(password_stdin)?, roles, org).await,
        UserAction::List => user::list(&svc).await,
        UserAction::Disable { username } => user::disable(&svc, &username).await,
        UserAction::ResetPassword {
            username,
            password_stdin,
        } => user::reset_password(&svc, &username, read_password(password_stdin)?).await,
    }
    .map_err(|e| match e {
        botlib::AppError::NotFound => "no such user".to_string(),
        other => other.public_message(),
    })?;
    println!("{out}");
    Ok(())
}

/// `botserver bot …`: `check` needs nothing but the files; `run` uses the configured
/// database (migrated first) so tables and memory persist between runs.
#[cfg(feature = "auto")]
async fn bot_command(config: Config, action: cli::BotAction) -> Result<(), String> {
    match action {
        cli::BotAction::Check { dir } => match botserver_auto::cli::check(&dir) {
            Ok(report) => {
                print!("{report}");
                Ok(())
            }
            Err(report) => {
                print!("{report}");
                Err(format!("{}: the package has errors", dir.display()))
            }
        },
        cli::BotAction::Run { dir, script } => {
            let modules = modules::enabled();
            let mut state = AppState::build(config, &Module::migration_sets(&modules)).await?;
            Module::install_all(&mut state, &modules).await?;
            let dialogs = state
                .extensions
                .get::<botserver_auto::dialog::Dialogs>()
                .ok_or("the BASIC engine did not install")?;
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut output = std::io::stdout();
            botserver_auto::cli::run(&dialogs, &dir, script.as_deref(), &mut input, &mut output).await
        }
    }
}

/// `botserver kb …`: the server's state with every module installed (the engine publishes
/// the bots), then the command in the foreground (its background indexer stopped).
#[cfg(feature = "vectordb")]
async fn kb_command(config: Config, action: cli::KbAction) -> Result<(), String> {
    let modules = modules::enabled();
    let mut state = AppState::build(config, &Module::migration_sets(&modules)).await?;
    Module::install_all(&mut state, &modules).await?;
    let kb = state
        .extensions
        .get::<botserver_vectordb::KbModule>()
        .ok_or("the knowledge-base domain did not install")?;
    let out = match action {
        cli::KbAction::Index { bot } => {
            botserver_vectordb::cli::index(&kb, &bot, &mut std::io::stderr()).await
        }
        cli::KbAction::Search { bot, query, top_k } => {
            botserver_vectordb::cli::search(&kb, &bot, &query, top_k).await
        }
    };
    state.shutdown.cancel();
    print!("{}", out.as_ref().unwrap_or_else(|e| e));
    out.map(|_| ())
        .map_err(|_| "the command failed (see above)".to_string())
}

fn check(config: &Config, file: Option<&std::path::Path>) {
    let database = match config.database_target() {
        botstate::DatabaseTarget::Sqlite(p) => format!("sqlite {}", p.display()),
        botstate::DatabaseTarget::Postgres(url) => format!("postgres {}", config::redact_url(&url)),
    };
    let cache = if config.cache.redis_url.is_empty() {
        "in-process".to_string()
    } else {
        format!("redis {}", config::redact_url(&config.cache.redis_url))
    };
    println!("config ok");
    println!(
        "  file:     {}",
        file.map_or("(none)".into(), |f| f.display().to_string())
    );
    println!(
        "  listen:   {}:{}{}",
        config.server.bind,
        config.server.port,
        if config.server.tls.is_some() { " (tls)" } else { "" }
    );
    println!("  data dir: {}", config.server.data_dir.display());
    println!("  database: {database}");
    println!("  cache:    {cache}");
    println!("  log:      {} ({:?})", config.log.level, config.log.format);
}
