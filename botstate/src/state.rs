//! [`AppState`]: what every handler of every domain receives, and how it is built on the
//! embedded defaults or on real services.

use crate::auth::Authenticator;
use crate::bots::BotRegistry;
use crate::cache::{Cache, MemoryCache};
use crate::config::Config;
use crate::db::{Db, DbOptions, MigrationSet, run_migrations};
use crate::metrics::Metrics;
use crate::redis_cache::RedisCache;
use crate::secrets::{LocalSecrets, SecretStore, load_or_create_master_key, read_secrets_file};
use crate::services::{
    DialogEngine, DocumentReader, KnowledgeBase, LlmProvider, Mailer, NotConfigured, ObjectStore, Scheduler,
    TaskList, VectorStore,
};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared state of one botserver process. Every service is a trait object, so domains
/// reach each other only through these traits.
pub struct AppState {
    /// The loaded, validated configuration.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: Db,
    /// Cache, pub/sub and locks.
    pub cache: Arc<dyn Cache>,
    /// Secrets and encryption at rest.
    pub secrets: Arc<dyn SecretStore>,
    /// Files.
    pub objects: Arc<dyn ObjectStore>,
    /// Text out of documents (pdf, docx, xlsx…).
    pub documents: Arc<dyn DocumentReader>,
    /// Folders of bot packages besides `config.bots_dir()` that the engine loads and
    /// watches the same way (the drive mirrors its packages prefix into one).
    pub bot_folders: Vec<std::path::PathBuf>,
    /// Language models.
    pub llm: Arc<dyn LlmProvider>,
    /// Vector indexes.
    pub vectors: Arc<dyn VectorStore>,
    /// Knowledge bases (retrieval over bots' documents).
    pub kb: Arc<dyn KnowledgeBase>,
    /// The bots loaded now and their settings.
    pub bots: Arc<BotRegistry>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Scheduled jobs.
    pub scheduler: Arc<dyn Scheduler>,
    /// To-do items (the tasks domain's task list).
    pub todos: Arc<dyn TaskList>,
    /// Bot conversations.
    pub dialogs: Arc<dyn DialogEngine>,
    /// Turns bearer tokens and API keys into callers.
    pub auth: Arc<dyn Authenticator>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the process starts shutting down; long-lived tasks and sockets
    /// watch it.
    pub shutdown: CancellationToken,
    /// Long-lived tasks (sockets, workers) that shutdown waits for, up to its deadline.
    pub tasks: TaskTracker,
    /// When the process started.
    pub started_at: Instant,
    /// Domain-private services, put here by a module's `install` and found again by its
    /// router (other domains use the traits above, never these).
    pub extensions: Extensions,
}

/// A map from type to one shared value of that type.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Extensions {
    /// Stores `value`, replacing any previous value of its type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), value);
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }
}

impl AppState {
    /// Builds the state from configuration: opens the database (SQLite file or
    /// PostgreSQL), applies `migrations`, opens the secret manager and the cache (in
    /// process, or Redis). Services of later domains start as [`NotConfigured`]; the binary
    /// plugs in their implementations.
    pub async fn build(config: Config, migrations: &[&'static MigrationSet]) -> Result<AppState, String> {
        let target = config.database_target();
        let opts = DbOptions {
            pool_size: config.database.pool_size,
            connect_timeout: Duration::from_secs(config.database.connect_timeout_secs),
        };
        let db = tokio::task::spawn_blocking(move || Db::connect(&target, &opts))
            .await
            .map_err(|e| e.to_string())??;
        let sets: Vec<&'static MigrationSet> = migrations.to_vec();
        db.run(move |c| run_migrations(c, &sets).map_err(|e| botlib::AppError::Unavailable(e).into()))
            .await
            .map_err(|e| match e {
                botlib::AppError::Unavailable(m) => m,
                other => other.to_string(),
            })?;

        let key = load_or_create_master_key(&config.secrets.master_key, &config.server.data_dir)?;
        let mut configured = config.secrets.values.clone();
        if let Some(file) = &config.secrets.file {
            for (k, v) in read_secrets_file(file)? {
                configured.entry(k).or_insert(v);
            }
        }
        let secrets = LocalSecrets::open(key, configured, db.clone()).await?;

        let cache: Arc<dyn Cache> = if config.cache.redis_url.trim().is_empty() {
            Arc::new(MemoryCache::default())
        } else {
            Arc::new(
                RedisCache::connect(
                    &config.cache.redis_url,
                    &config.cache.key_prefix,
                    Duration::from_secs(config.database.connect_timeout_secs),
                )
                .await?,
            )
        };

        Ok(AppState {
            config: Arc::new(config),
            db,
            cache,
            secrets: Arc::new(secrets),
            objects: Arc::new(NotConfigured),
            documents: Arc::new(NotConfigured),
            bot_folders: Vec::new(),
            llm: Arc::new(NotConfigured),
            vectors: Arc::new(NotConfigured),
            kb: Arc::new(NotConfigured),
            bots: Arc::new(BotRegistry::default()),
            mailer: Arc::new(NotConfigured),
            scheduler: Arc::new(NotConfigured),
            todos: Arc::new(NotConfigured),
            dialogs: Arc::new(NotConfigured),
            auth: Arc::new(NotConfigured),
            metrics: Arc::new(Metrics::default()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            started_at: Instant::now(),
            extensions: Extensions::default(),
        })
    }
}
