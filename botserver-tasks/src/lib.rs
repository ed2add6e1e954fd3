//! Scheduled jobs and the task list (feature `tasks`).
//!
//! The scheduler ([`scheduler`], `state.scheduler`) keeps each bot's `SET SCHEDULE`,
//! `ON …` and `WEBHOOK` registrations (cron expressions in the bot's time zone:
//! [`cron_expr`]) and the server's own one-shot jobs in the database; every instance runs
//! a [`runner`] that claims due ticks and runs with compare-and-set updates, so with
//! several instances on one database each tick runs on exactly one of them, a crashed run
//! is taken over when its lease expires, failures are retried with back-off, and every
//! run is recorded. [`jobs_api`] lists jobs and their history, pauses, resumes and
//! triggers them; [`webhooks`] runs a bot's `WEBHOOK` script for a request that carries
//! the webhook's secret.
//!
//! The task list ([`todo`], `state.todos`, BASIC's `CREATE TASK`; REST in [`todo_api`])
//! keeps people's to-do items and reminds through the scheduler.
//!
//! Scripts run through `state.dialogs` (`DialogEngine::run_script`): the runner starts in
//! [`MODULE`]'s `start`, once every domain is installed.

pub mod cron_expr;
pub mod jobs_api;
pub mod runner;
pub mod scheduler;
pub mod todo;
pub mod todo_api;
pub mod webhooks;

use std::sync::Arc;

pub use scheduler::{DbScheduler, SchedulerConfig};

/// This crate's tables: jobs, runs, tasks.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "tasks",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The tasks domain. Install it before the engine (which hands it every bot's schedules
/// and takes `state.todos`).
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "tasks",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi,
    install: Some(install),
    start: Some(start),
};

/// What the domain keeps in `state.extensions`.
pub struct TasksModule {
    /// The scheduler (also `state.scheduler`).
    pub scheduler: Arc<DbScheduler>,
    /// The task list (also `state.todos`).
    pub todos: Arc<todo::TaskService>,
    /// Its metrics.
    pub metrics: runner::SchedulerMetrics,
    /// This instance's runner, once started.
    pub runner: std::sync::OnceLock<Arc<runner::Runner>>,
}

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let scheduler = Arc::new(DbScheduler::new(
            state.db.clone(),
            SchedulerConfig::from(&state.config.scheduler),
        ));
        let todos = todo::TaskService::new(
            state.db.clone(),
            scheduler.clone(),
            state.cache.clone(),
            state.mailer.clone(),
        );
        // Tasks a bot creates belong to the bot's organization (its `organization` key).
        todos.use_bots(state.bots.clone());
        state.scheduler = scheduler.clone();
        state.todos = todos.clone();
        let metrics = runner::SchedulerMetrics::register(&state.metrics);
        state.extensions.insert(Arc::new(TasksModule {
            scheduler,
            todos,
            metrics,
            runner: std::sync::OnceLock::new(),
        }));
        Ok(())
    })
}

/// Starts this instance's runner (the engine is installed by now).
fn start(state: &Arc<botstate::AppState>) {
    let Some(m) = state.extensions.get::<TasksModule>() else {
        return;
    };
    let runner = Arc::new(runner::Runner::new(
        m.scheduler.clone(),
        state.dialogs.clone(),
        m.metrics.clone(),
    ));
    if m.runner.set(runner.clone()).is_ok() {
        state.tasks.spawn(runner.run(state.shutdown.child_token()));
    }
}

fn module(state: &botstate::AppState) -> Arc<TasksModule> {
    state
        .extensions
        .get::<TasksModule>()
        .expect("botserver-tasks: MODULE.install must run before its router is built")
}

/// The domain's routes.
pub fn create_router(state: Arc<botstate::AppState>) -> botserver_core::access::Routes {
    let m = module(&state);
    jobs_api::routes(jobs_api::JobsApi {
        scheduler: m.scheduler.clone(),
        bots: state.bots.clone(),
        module: m.clone(),
    })
    .merge(webhooks::routes(webhooks::Webhooks {
        scheduler: m.scheduler.clone(),
        bots: state.bots.clone(),
        module: m.clone(),
    }))
    .merge(todo_api::routes(m.todos.clone()))
}

/// The domain's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = jobs_api::openapi();
    doc.merge(webhooks::openapi());
    doc.merge(todo_api::openapi());
    doc
}
