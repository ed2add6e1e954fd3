//! The database: one connection type over SQLite and PostgreSQL, a pool, and embedded
//! migrations per domain.
//!
//! Repository functions are synchronous and take `&mut AnyConnection`; async code reaches
//! them through [`Db::run`], which runs them on the blocking pool so nothing blocks a
//! runtime worker.

use crate::config::DatabaseTarget;
use botlib::{AppError, AppResult};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::MigrationHarness;
pub use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Runs `$body` with `$c` bound to the concrete connection inside an [`AnyConnection`]
/// (the body is compiled once per backend). For hot queries: through `AnyConnection`
/// diesel serializes every query to SQL text and looks its prepared statement up by that
/// text on every run (~10% of a chat turn's CPU, measured); on the concrete connection a
/// query with a static id is found by type and only its binds are collected.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::AnyConnection::Sqlite($c) => $body,
            $crate::AnyConnection::Postgresql($c) => $body,
        }
    };
}

/// A connection to whichever backend the configuration selected.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Which backend a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Backend {
    /// `postgres` or `sqlite`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// The error a repository closure returns: diesel's, or one of ours.
#[derive(Debug)]
pub enum DbErr {
    /// A query failed.
    Diesel(diesel::result::Error),
    /// A business rule failed inside the closure.
    App(AppError),
}

impl From<diesel::result::Error> for DbErr {
    fn from(e: diesel::result::Error) -> Self {
        DbErr::Diesel(e)
    }
}

impl From<AppError> for DbErr {
    fn from(e: AppError) -> Self {
        DbErr::App(e)
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        match e {
            DbErr::Diesel(e) => diesel_to_app(e),
            DbErr::App(e) => e,
        }
    }
}

/// Maps a diesel error to the kind a client can act on.
pub fn diesel_to_app(e: diesel::result::Error) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::NotFound => AppError::NotFound,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict("already exists".into())
        }
        other => AppError::internal(other),
    }
}

/// Options for opening the pool.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Maximum connections.
    pub pool_size: u32,
    /// How long `get` waits for a connection (and start-up waits for the first one).
    pub connect_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Per-connection settings: SQLite needs WAL, a busy timeout and foreign keys on every
/// connection, since they are connection-scoped pragmas. No memory-mapped reads: a
/// connection unmaps its whole mapping whenever another has written since its last read,
/// which under chat load meant an munmap (and page faults after it) for nearly every read;
/// plain reads from the OS cache cost less (measured: 528–579 instead of 581–676 µs of
/// server CPU per chat turn, with the change to string interning).
#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                 PRAGMA mmap_size = 0; PRAGMA journal_size_limit = 67108864;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Opens connections of the configured backend only. (diesel's generic manager tries
/// every backend in turn, which would open a PostgreSQL URL as a SQLite file when the
/// server is down.)
#[derive(Debug)]
pub struct Manager {
    target: DatabaseTarget,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgresql),
            DatabaseTarget::Sqlite(path) => {
                SqliteConnection::establish(&path.to_string_lossy()).map(AnyConnection::Sqlite)
            }
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// A pooled connection.
pub type PooledConn = PooledConnection<Manager>;

/// The connection pool, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    target: DatabaseTarget,
    /// SQLite only: the group-commit writer, started by the first [`Db::write`].
    writer: Arc<OnceLock<std::sync::mpsc::Sender<WriteJob>>>,
}

/// A write run by the SQLite writer: it runs inside the batch's transaction (in its own
/// savepoint) and returns what to do once the batch's commit is known.
type WriteJob = Box<dyn FnOnce(&mut AnyConnection) -> WriteDone + Send>;

/// What a write does once its batch's commit is known (answers its caller).
type WriteDone = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Writes one batch may hold before it commits.
const MAX_BATCH: usize = 256;

impl Db {
    /// Opens a pool. Fails (with a message naming the database) when no connection can be
    /// made within the timeout, so a bad URL stops start-up instead of every request.
    pub fn connect(target: &DatabaseTarget, opts: &DbOptions) -> Result<Db, String> {
        let (url, backend) = match target {
            DatabaseTarget::Postgres(url) => (url.clone(), Backend::Postgres),
            DatabaseTarget::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create database directory {}: {e}", parent.display()))?;
                }
                (path.to_string_lossy().into_owned(), Backend::Sqlite)
            }
        };
        let manager = Manager {
            target: target.clone(),
        };
        // One direct attempt first: a clear one-line error at start-up instead of the
        // pool's retries and warnings.
        let probe = std::sync::mpsc::channel();
        let probe_target = target.clone();
        std::thread::spawn(move || {
            let _ = probe.0.send(Manager { target: probe_target }.connect().map(drop));
        });
        let unreachable =
            |why: String| format!("database {} unreachable: {why}", crate::config::redact_url(&url));
        match probe.1.recv_timeout(opts.connect_timeout) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unreachable(one_line(&e.to_string()))),
            Err(_) => return Err(unreachable("timed out".into())),
        }
        let pool = Pool::builder()
            .max_size(opts.pool_size)
            .min_idle(Some(1))
            .connection_timeout(opts.connect_timeout)
            .connection_customizer(Box::new(ConnectionSetup))
            .error_handler(Box::new(LogErrors))
            // A SQLite file needs no ping before each use (a query per checkout, measured
            // at ~1% of a chat turn); a server connection does, to find a dropped one.
            .test_on_check_out(backend == Backend::Postgres)
            .build(manager)
            .map_err(|e| format!("database {} unreachable: {e}", crate::config::redact_url(&url)))?;
        Ok(Db {
            pool,
            backend,
            target: target.clone(),
            writer: Arc::new(OnceLock::new()),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a synchronous repository function on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, DbErr> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| AppError::Unavailable(format!("database: {e}")))?;
            f(&mut conn).map_err(AppError::from)
        })
        .await
        .map_err(AppError::internal)?
    }

    /// Runs a short read (a point query) with the least latency: on SQLite, with an idle
    /// pooled connection, right here on the calling task (a local read takes microseconds,
    /// far less than a hand-off to the blocking pool and back); otherwise, or on
    /// PostgreSQL (a network round trip), like [`Db::run`]. Never use it for a query that
    /// may scan much.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, DbErr> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend == Backend::Sqlite
            && let Some(mut conn) = self.pool.try_get()
        {
            return f(&mut conn).map_err(AppError::from);
        }
        self.run(f).await
    }

    /// Runs a write transaction. On PostgreSQL it is a plain transaction on the pool. On
    /// SQLite, which has one writer at a time, every write of the process goes to one
    /// writer thread that runs those waiting together in one transaction, each in its own
    /// savepoint (group commit): no lock contention between writers, one commit for many
    /// writes. Either way `f`'s writes are atomic, and the result is returned only once
    /// they are committed. A failing `f` rolls back its own writes only.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, DbErr> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend == Backend::Postgres {
            return self
                .run(move |c| {
                    let mut out = None;
                    let r = c.transaction(|c| match f(c) {
                        Ok(v) => {
                            out = Some(Ok(v));
                            Ok(())
                        }
                        Err(e) => {
                            out = Some(Err(e));
                            Err(diesel::result::Error::RollbackTransaction)
                        }
                    });
                    match (out, r) {
                        (Some(Err(e)), _) => Err(e),
                        (_, Err(e)) => Err(DbErr::from(e)),
                        (Some(Ok(v)), Ok(())) => Ok(v),
                        (None, Ok(())) => unreachable!("the closure ran"),
                    }
                })
                .await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<AppResult<T>>();
        let job: WriteJob = Box::new(move |c: &mut AnyConnection| {
            // A savepoint: a failure undoes this write only.
            let r = in_savepoint(c, f);
            Box::new(move |commit: Result<(), String>| {
                let result = match (commit, r) {
                    (Ok(()), r) => r.map_err(AppError::from),
                    (Err(e), _) => Err(AppError::Unavailable(format!("database: commit failed: {e}"))),
                };
                let _ = tx.send(result);
            })
        });
        self.writer
            .get_or_init(|| spawn_writer(self.target.clone()))
            .send(job)
            .map_err(|_| AppError::Unavailable("database: the writer stopped".into()))?;
        rx.await
            .map_err(|_| AppError::Unavailable("database: the writer stopped".into()))?
    }

    /// Checks the database answers within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> AppResult<()> {
        let pool = self.pool.clone();
        let check = tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get_timeout(timeout)
                .map_err(|e| AppError::Unavailable(format!("database: {e}")))?;
            conn.batch_execute("SELECT 1")
                .map_err(|e| AppError::Unavailable(format!("database: {e}")))
        });
        match tokio::time::timeout(timeout, check).await {
            Ok(joined) => joined.map_err(AppError::internal)?,
            Err(_) => Err(AppError::Unavailable("database: ping timed out".into())),
        }
    }

    /// `(connections open, connections idle, maximum)`.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections, self.pool.max_size())
    }

    /// A connection for synchronous callers (CLI commands, tests).
    pub fn get(&self) -> AppResult<PooledConn> {
        self.pool
            .get()
            .map_err(|e| AppError::Unavailable(format!("database: {e}")))
    }
}

/// Starts the SQLite writer thread on its own connection; it ends when every `Db` clone
/// (and so the sender) is gone.
fn spawn_writer(target: DatabaseTarget) -> std::sync::mpsc::Sender<WriteJob> {
    let (tx, rx) = std::sync::mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let manager = Manager {
                target: target.clone(),
            };
            // The writer never checkpoints (a checkpoint would stall every write waiting
            // behind it); a thread of its own does, without blocking writers.
            let alive = Arc::new(());
            let restart = Arc::new(AtomicBool::new(false));
            spawn_checkpointer(target, Arc::downgrade(&alive), restart.clone());
            let mut conn = None;
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => batch.push(j),
                        Err(_) => break,
                    }
                }
                if conn.is_none() {
                    conn = manager
                        .connect()
                        .and_then(|mut c| ConnectionSetup.on_acquire(&mut c).map(|_| c))
                        .and_then(|mut c| {
                            c.batch_execute("PRAGMA wal_autocheckpoint = 0;")
                                .map_err(diesel::r2d2::Error::QueryError)
                                .map(|_| c)
                        })
                        .map_err(|e| tracing::error!(error = %e, "sqlite writer: cannot connect"))
                        .ok();
                }
                let Some(c) = conn.as_mut() else {
                    for job in batch {
                        // Nothing ran: report the failure without running the write.
                        drop(job);
                    }
                    continue;
                };
                let mut done: Vec<WriteDone> = Vec::with_capacity(batch.len());
                let mut panicked = false;
                let r = c.transaction(|c| {
                    for job in batch {
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(c))) {
                            Ok(d) => done.push(d),
                            Err(_) => {
                                // Its savepoint is still open: nothing of this batch may
                                // commit. The others are told, and may try again.
                                panicked = true;
                                return Err(diesel::result::Error::RollbackTransaction);
                            }
                        }
                    }
                    Ok::<_, diesel::result::Error>(())
                });
                let commit = match (panicked, r) {
                    (true, _) => Err("a write of the same batch panicked; nothing was committed".to_string()),
                    (false, r) => r.map_err(|e| e.to_string()),
                };
                if commit.is_err() {
                    // Closing the connection rolls back whatever is still open; the next
                    // batch gets a fresh one.
                    conn = None;
                }
                for d in done {
                    d(commit.clone());
                }
                if restart.swap(false, Ordering::Relaxed)
                    && let Some(c) = conn.as_mut()
                {
                    restart_wal(c);
                }
            }
        })
        .expect("the sqlite writer thread starts");
    tx
}

/// Runs `f` in a savepoint of the writer's open transaction: its writes are kept when it
/// succeeds and undone when it fails. The savepoint statements are prepared once (diesel's
/// own nested transactions prepare them on every use, a measurable cost per write).
fn in_savepoint<T>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    let stmt = |c: &mut AnyConnection, sql: &'static [&'static str]| {
        crate::sql::FixedSql::new(sql, &[]).execute_on(c).map(drop)
    };
    stmt(c, &["SAVEPOINT botserver_write"])?;
    match f(c) {
        Ok(v) => {
            stmt(c, &["RELEASE botserver_write"])?;
            Ok(v)
        }
        Err(e) => {
            stmt(c, &["ROLLBACK TO botserver_write"])?;
            stmt(c, &["RELEASE botserver_write"])?;
            Err(e)
        }
    }
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A write-ahead log this long (in pages of 4 KiB) is started again from its beginning.
const WAL_RESTART_PAGES: i64 = 4096;

/// What `PRAGMA wal_checkpoint` reports (of its three columns, the two read here).
#[derive(diesel::QueryableByName, Debug)]
struct WalCheckpoint {
    /// 1 when the checkpoint could not finish (readers still in the log, or the lock held).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// Runs `PRAGMA wal_checkpoint(<mode>)` on a SQLite connection.
fn wal_checkpoint(c: &mut AnyConnection, mode: &str) -> diesel::QueryResult<WalCheckpoint> {
    use diesel::RunQueryDsl;
    let AnyConnection::Sqlite(c) = c else {
        return Err(diesel::result::Error::QueryBuilderError(
            "not a SQLite database".into(),
        ));
    };
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(c)
}

/// Copies the SQLite write-ahead log into the database every [`CHECKPOINT_EVERY`]
/// (`PASSIVE`: it never waits for, nor blocks, readers and writers) while `alive` lives,
/// and asks the writer (`restart`) to start the log again when it has grown past
/// [`WAL_RESTART_PAGES`].
///
/// SQLite starts the log again at its beginning only when a write begins with every page
/// of it copied and no reader still in it. Under steady load that never happens (the
/// writer appends between two checkpoints, readers are always in), and the log grows
/// without end: measured 1.4 GB after 20 s of chat load, every append zero-filling new
/// file blocks. The writer, between two batches, waits for the readers instead.
fn spawn_checkpointer(target: DatabaseTarget, alive: std::sync::Weak<()>, restart: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(mut c) = (Manager { target }).connect() else {
                return;
            };
            let _ = ConnectionSetup.on_acquire(&mut c);
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                match wal_checkpoint(&mut c, "PASSIVE") {
                    Ok(w) if i64::from(w.log) >= WAL_RESTART_PAGES => restart.store(true, Ordering::Relaxed),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "sqlite checkpoint skipped"),
                }
            }
        });
}

/// Checkpoints the whole log and starts it again from its beginning (`RESTART`: waits,
/// up to the busy timeout, for readers still in it; as the one writer, it holds up the
/// writes queued behind it meanwhile).
fn restart_wal(c: &mut AnyConnection) {
    match wal_checkpoint(c, "RESTART") {
        Ok(w) if w.busy != 0 => tracing::debug!("sqlite log restart: readers still in it"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sqlite log restart failed"),
    }
}

/// libpq's messages span lines; configuration errors must fit on one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug)]
struct LogErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(error = %error, "database connection error");
    }
}

/// The migrations of one domain, one folder per backend with the same versions.
pub struct MigrationSet {
    /// The owning domain, e.g. `core`.
    pub name: &'static str,
    /// `migrations/sqlite`
    pub sqlite: EmbeddedMigrations,
    /// `migrations/postgres`
    pub postgres: EmbeddedMigrations,
}

/// The core migrations (tables owned by botstate itself, such as `secrets`), from the
/// workspace's top-level `migrations/` folder.
pub const CORE_MIGRATIONS: MigrationSet = MigrationSet {
    name: "core",
    sqlite: diesel_migrations::embed_migrations!("../migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("../migrations/postgres"),
};

/// Lends an embedded migration list to diesel's harness, which takes its source by value.
struct BySet<'a>(&'a EmbeddedMigrations);

impl<DB: diesel::backend::Backend> diesel::migration::MigrationSource<DB> for BySet<'_> {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        diesel::migration::MigrationSource::<DB>::migrations(self.0)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Key of the PostgreSQL advisory lock that serializes migrations of concurrent starts.
const MIGRATION_LOCK_KEY: i64 = 0x626f_7473_6572_7665;

/// Applies every pending migration of `sets`, in order. Returns the versions applied.
/// Concurrent starts against one PostgreSQL take turns through an advisory lock.
pub fn run_migrations(conn: &mut AnyConnection, sets: &[&MigrationSet]) -> Result<Vec<String>, String> {
    let mut applied = Vec::new();
    match conn {
        AnyConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| format!("migration lock: {e}"))?;
            let result = (|| -> Result<(), BoxError> {
                for set in sets {
                    for v in c.run_pending_migrations(BySet(&set.postgres))? {
                        applied.push(format!("{}/{v}", set.name));
                    }
                }
                Ok(())
            })();
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            result.map_err(|e| format!("migration failed: {e}"))?;
        }
        AnyConnection::Sqlite(c) => {
            for set in sets {
                let versions = c
                    .run_pending_migrations(BySet(&set.sqlite))
                    .map_err(|e| format!("migration of {} failed: {e}", set.name))?;
                applied.extend(versions.into_iter().map(|v| format!("{}/{v}", set.name)));
            }
        }
    }
    Ok(applied)
}

/// Reverts every applied migration of `set`, newest first (tests and `down` checks).
/// The set's migrations must be the newest applied ones.
pub fn revert_all(conn: &mut AnyConnection, set: &MigrationSet) -> Result<usize, String> {
    let (sqlite, postgres) = migration_versions(set);
    let mut reverted = 0;
    loop {
        let applied = match conn {
            AnyConnection::Postgresql(c) => c.applied_migrations(),
            AnyConnection::Sqlite(c) => c.applied_migrations(),
        }
        .map_err(|e| e.to_string())?;
        let mine = match conn {
            AnyConnection::Postgresql(_) => &postgres,
            AnyConnection::Sqlite(_) => &sqlite,
        };
        if !applied.iter().any(|v| mine.contains(&v.to_string())) {
            return Ok(reverted);
        }
        match conn {
            AnyConnection::Postgresql(c) => c.revert_last_migration(BySet(&set.postgres)),
            AnyConnection::Sqlite(c) => c.revert_last_migration(BySet(&set.sqlite)),
        }
        .map_err(|e| format!("revert of {} failed: {e}", set.name))?;
        reverted += 1;
    }
}

/// The versions of a set, as `(sqlite, postgres)`, sorted.
pub fn migration_versions(set: &MigrationSet) -> (Vec<String>, Vec<String>) {
    use diesel::migration::MigrationSource;
    let mut sqlite: Vec<String> = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&set.sqlite)
        .unwrap_or_default()
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let mut postgres: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&set.postgres)
        .unwrap_or_default()
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    sqlite.sort();
    postgres.sort();
    (sqlite, postgres)
}
