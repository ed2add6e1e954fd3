//! `AppState`, `Config` and the traits through which every botserver domain is reached:
//! the database (SQLite or PostgreSQL through one connection type), cache + pub/sub +
//! locks (in process or Redis), the secret manager, and the service traits (object store,
//! LLM, vector store, mailer, scheduler, dialog engine) that later domain crates implement.
//!
//! This crate never serves HTTP and never depends on a web framework: domain crates meet
//! here, through traits, and never depend on each other.

pub mod auth;
pub mod bots;
pub mod cache;
pub mod config;
pub mod db;
pub mod metrics;
pub mod redis_cache;
pub mod secrets;
pub mod services;
pub mod sql;
pub mod state;
pub mod testing;

pub use bots::{BotInfo, BotRegistry};
pub use cache::{Cache, LockToken, MemoryCache, Subscription};
pub use config::{Config, ConfigError, DatabaseTarget, Overrides};
pub use db::{AnyConnection, Backend, CORE_MIGRATIONS, Db, DbErr, MigrationSet};
pub use metrics::Metrics;
pub use secrets::{SecretStore, SecretString};
pub use sql::{Bind, FixedSql};
pub use state::AppState;
