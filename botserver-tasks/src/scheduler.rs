//! The scheduler's registrations and runs: `sched_jobs` and `sched_runs`, and
//! [`DbScheduler`], which implements botstate's `Scheduler` (the engine hands it each
//! bot's `SET SCHEDULE`, `ON …` and `WEBHOOK` lines on every install) and also takes the
//! server's own one-shot jobs ([`DbScheduler::schedule_internal`], e.g. task reminders,
//! run by handlers registered with [`DbScheduler::register`]).
//!
//! Registrations are validated when they arrive: a malformed cron expression or an
//! unknown time zone is refused with an error naming the script line, and nothing is
//! scheduled for it. A bot's registrations are replaced as a set, so a removed line
//! removes its job; a job that keeps its trigger keeps its next due time, its pause and
//! its missed-run policy.

use crate::cron_expr::CronSchedule;
use crate::runner::now_ms;
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botstate::services::{JobSpec, RejectedJob, Scheduler, Trigger};
use botstate::{AnyConnection, Db, DbErr};
use diesel::prelude::*;
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

diesel::table! {
    sched_jobs (id) {
        id -> Text,
        bot_id -> Text,
        name -> Text,
        kind -> Text,
        script -> Text,
        trigger_kind -> Text,
        cron -> Text,
        tz -> Text,
        event -> Text,
        payload -> Text,
        next_due_ms -> Nullable<BigInt>,
        paused -> Bool,
        missed -> Text,
        max_attempts -> BigInt,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    sched_runs (id) {
        id -> Text,
        job_id -> Text,
        due_ms -> BigInt,
        state -> Text,
        attempt -> BigInt,
        instance -> Text,
        lease_until_ms -> BigInt,
        next_attempt_ms -> BigInt,
        started_ms -> BigInt,
        ended_ms -> Nullable<BigInt>,
        error -> Nullable<Text>,
        output -> Nullable<Text>,
        trigger_source -> Text,
        payload -> Nullable<Text>,
    }
}

pub use sched_jobs as sj;
pub use sched_runs as sr;

/// A bot's script.
pub const KIND_SCRIPT: &str = "script";
/// The server's own job, run by a registered handler.
pub const KIND_INTERNAL: &str = "internal";

/// Run states.
pub mod state {
    /// Claimed by an instance, under its lease.
    pub const RUNNING: &str = "running";
    /// Finished well.
    pub const OK: &str = "ok";
    /// Gave up.
    pub const FAILED: &str = "failed";
    /// Failed; runs again at `next_attempt_ms`.
    pub const RETRYING: &str = "retrying";
    /// Asked for ("run now"); runs at `next_attempt_ms` on whichever instance claims it.
    pub const QUEUED: &str = "queued";
    /// A tick missed while everything was down, not run (policy `skip`).
    pub const SKIPPED: &str = "skipped";
}

/// Runs missed while everything was down: `once` runs the latest missed tick once,
/// `skip` records it as skipped; either way the schedule continues from now.
pub const MISSED_POLICIES: [&str; 2] = ["once", "skip"];

/// One registration.
#[derive(
    Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = sched_jobs, treat_none_as_null = true)]
pub struct JobRow {
    /// Derived from the bot and the name (internal jobs: from their key).
    pub id: String,
    /// The bot (empty for internal jobs).
    pub bot_id: String,
    /// `<script>:<line>` for a bot's, the key for internal ones.
    pub name: String,
    /// [`KIND_SCRIPT`] or [`KIND_INTERNAL`].
    pub kind: String,
    /// The script, or the internal handler's name.
    pub script: String,
    /// `cron`, `at` or `event`.
    pub trigger_kind: String,
    /// The cron expression (`cron`).
    pub cron: String,
    /// Its time zone (`cron`).
    pub tz: String,
    /// The event name (`event`).
    pub event: String,
    /// JSON given to the run (internal jobs).
    pub payload: String,
    /// The next tick not yet claimed; none for events and finished one-shot jobs.
    pub next_due_ms: Option<i64>,
    /// Paused jobs are not claimed.
    pub paused: bool,
    /// `once` or `skip`.
    pub missed: String,
    /// Attempts before a run is marked failed.
    pub max_attempts: i64,
    pub updated_ms: i64,
}

/// One run.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = sched_runs)]
pub struct RunRow {
    pub id: String,
    pub job_id: String,
    /// The tick it runs (or when it was asked for).
    pub due_ms: i64,
    /// See [`state`].
    pub state: String,
    pub attempt: i64,
    /// The instance that runs (ran) it.
    pub instance: String,
    pub lease_until_ms: i64,
    pub next_attempt_ms: i64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub error: Option<String>,
    /// What the script said and returned (at most 4 KiB).
    pub output: Option<String>,
    /// `schedule`, `event`, `manual`, `webhook`.
    pub trigger_source: String,
    /// An event's data (JSON), given to the script as `body`.
    #[serde(skip)]
    pub payload: Option<String>,
}

/// What an internal job runs: its payload in, a line for the history out.
pub type Handler = Arc<dyn Fn(serde_json::Value) -> BoxFuture<'static, AppResult<String>> + Send + Sync>;

/// Timing of the scheduler.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerConfig {
    /// How often each instance looks for due work (it also wakes at the next due tick).
    pub poll: Duration,
    /// A run's lease: renewed every third of it while running; another instance takes an
    /// expired one over.
    pub lease: Duration,
    /// Attempts before a run is marked failed (a job's own value wins).
    pub max_attempts: i64,
    /// A tick older than this when claimed counts as missed (its job's policy applies).
    pub missed_after: Duration,
    /// Longest a run may take.
    pub run_timeout: Duration,
    /// First retry delay, doubled per attempt up to 5 minutes.
    pub retry_base: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::from(&botstate::config::SchedulerConfig::default())
    }
}

impl From<&botstate::config::SchedulerConfig> for SchedulerConfig {
    fn from(c: &botstate::config::SchedulerConfig) -> Self {
        SchedulerConfig {
            poll: Duration::from_millis(c.poll_ms),
            lease: Duration::from_secs(c.lease_secs),
            max_attempts: i64::from(c.max_attempts),
            missed_after: Duration::from_secs(c.missed_after_secs),
            run_timeout: Duration::from_secs(c.run_timeout_secs),
            retry_base: Duration::from_secs(2),
        }
    }
}

/// See the module documentation.
pub struct DbScheduler {
    pub(crate) db: Db,
    pub(crate) config: SchedulerConfig,
    handlers: RwLock<HashMap<String, Handler>>,
    /// The events each bot registered on this instance (every instance installs every
    /// bot, so this is the whole picture): firing an event nobody listens to costs no
    /// query, which matters because every data write of a script fires one.
    events: RwLock<HashMap<BotId, std::collections::HashSet<String>>>,
    /// Woken when work may be due sooner than the next poll.
    pub(crate) wake: tokio::sync::Notify,
}

/// The id of a bot's job.
pub fn job_id(bot: BotId, name: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("job\0{bot}\0{name}").as_bytes(),
    )
    .simple()
    .to_string()
}

fn internal_id(key: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("internal\0{key}").as_bytes())
        .simple()
        .to_string()
}

/// The first due time of a trigger registered at `now`.
fn first_due(trigger: &Trigger, now: i64) -> AppResult<Option<i64>> {
    Ok(match trigger {
        Trigger::Cron { expr, tz } => CronSchedule::parse(expr, tz)?.next_after(now),
        Trigger::At { at_ms } => Some(*at_ms),
        Trigger::Event { .. } => None,
    })
}

fn row_for(spec: &JobSpec, now: i64, max_attempts: i64) -> AppResult<JobRow> {
    let next = first_due(&spec.trigger, now)?;
    let (kind, cron, tz, event) = match &spec.trigger {
        Trigger::Cron { expr, tz } => ("cron", expr.clone(), tz.clone(), String::new()),
        Trigger::At { .. } => ("at", String::new(), String::new(), String::new()),
        Trigger::Event { name } => ("event", String::new(), String::new(), name.to_ascii_lowercase()),
    };
    Ok(JobRow {
        id: job_id(spec.bot, &spec.name),
        bot_id: spec.bot.to_string(),
        name: spec.name.clone(),
        kind: KIND_SCRIPT.into(),
        script: spec.script.clone(),
        trigger_kind: kind.into(),
        cron,
        tz,
        event,
        payload: "null".into(),
        next_due_ms: next,
        paused: false,
        missed: "once".into(),
        max_attempts,
        updated_ms: now,
    })
}

fn trigger_of(row: &JobRow) -> Trigger {
    match row.trigger_kind.as_str() {
        "cron" => Trigger::Cron {
            expr: row.cron.clone(),
            tz: row.tz.clone(),
        },
        "at" => Trigger::At {
            at_ms: row.next_due_ms.unwrap_or_default(),
        },
        _ => Trigger::Event {
            name: row.event.clone(),
        },
    }
}

fn jobs_of(c: &mut AnyConnection, bot: &str) -> Result<Vec<JobRow>, DbErr> {
    Ok(sj::table
        .filter(sj::bot_id.eq(bot).and(sj::kind.eq(KIND_SCRIPT)))
        .order(sj::name.asc())
        .select(JobRow::as_select())
        .load(c)?)
}

impl DbScheduler {
    /// A scheduler over the database.
    pub fn new(db: Db, config: SchedulerConfig) -> DbScheduler {
        DbScheduler {
            db,
            config,
            handlers: RwLock::new(HashMap::new()),
            events: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Registers the handler of internal jobs named `name`.
    pub fn register(&self, name: &str, handler: Handler) {
        self.handlers
            .write()
            .expect("handlers")
            .insert(name.to_string(), handler);
    }

    pub(crate) fn handler(&self, name: &str) -> Option<Handler> {
        self.handlers.read().expect("handlers").get(name).cloned()
    }

    /// Runs internal handler `handler` with `payload` once at `at_ms`, on exactly one
    /// instance; a later call with the same `key` replaces it.
    pub async fn schedule_internal(
        &self,
        key: &str,
        at_ms: i64,
        handler: &str,
        payload: serde_json::Value,
    ) -> AppResult<()> {
        let now = now_ms();
        let row = JobRow {
            id: internal_id(key),
            bot_id: String::new(),
            name: key.to_string(),
            kind: KIND_INTERNAL.into(),
            script: handler.to_string(),
            trigger_kind: "at".into(),
            cron: String::new(),
            tz: String::new(),
            event: String::new(),
            payload: payload.to_string(),
            next_due_ms: Some(at_ms),
            paused: false,
            missed: "once".into(),
            max_attempts: self.config.max_attempts,
            updated_ms: now,
        };
        self.db
            .write(move |c| {
                let n = diesel::update(sj::table.find(&row.id)).set(&row).execute(c)?;
                if n == 0 {
                    diesel::insert_into(sj::table).values(&row).execute(c)?;
                }
                Ok(())
            })
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Cancels an internal job (its history stays).
    pub async fn cancel_internal(&self, key: &str) -> AppResult<()> {
        let id = internal_id(key);
        self.db
            .write(move |c| {
                diesel::update(sj::table.find(&id))
                    .set(sj::next_due_ms.eq(None::<i64>))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    /// A bot's jobs.
    pub async fn jobs(&self, bot: BotId) -> AppResult<Vec<JobRow>> {
        let b = bot.to_string();
        self.db.run(move |c| jobs_of(c, &b)).await
    }

    /// One job of a bot.
    pub async fn job(&self, bot: BotId, id: &str) -> AppResult<JobRow> {
        let (b, id) = (bot.to_string(), id.to_string());
        self.db
            .run(move |c| {
                Ok(sj::table
                    .filter(sj::id.eq(&id).and(sj::bot_id.eq(&b)))
                    .select(JobRow::as_select())
                    .first(c)
                    .optional()?)
            })
            .await?
            .ok_or(AppError::NotFound)
    }

    /// The jobs registered for a bot's event (`webhook:orders`), paused ones included.
    pub async fn event_jobs(&self, bot: BotId, event: &str) -> AppResult<Vec<JobRow>> {
        let (b, e) = (bot.to_string(), event.to_ascii_lowercase());
        self.db
            .run(move |c| {
                Ok(sj::table
                    .filter(
                        sj::bot_id
                            .eq(&b)
                            .and(sj::trigger_kind.eq("event"))
                            .and(sj::event.eq(&e)),
                    )
                    .order(sj::name.asc())
                    .select(JobRow::as_select())
                    .load(c)?)
            })
            .await
    }

    /// A job's runs, newest first.
    pub async fn runs(&self, job: &str, limit: i64) -> AppResult<Vec<RunRow>> {
        let job = job.to_string();
        self.db
            .run(move |c| {
                Ok(sr::table
                    .filter(sr::job_id.eq(&job))
                    .order(sr::due_ms.desc())
                    .limit(limit.clamp(1, 1000))
                    .select(RunRow::as_select())
                    .load(c)?)
            })
            .await
    }

    /// Pauses or resumes a job. Resuming a cron job continues from now (ticks of the
    /// pause are not run).
    pub async fn set_paused(&self, job: &JobRow, paused: bool) -> AppResult<()> {
        let id = job.id.clone();
        let next = if !paused && job.trigger_kind == "cron" {
            CronSchedule::parse(&job.cron, &job.tz)?.next_after(now_ms())
        } else {
            job.next_due_ms
        };
        self.db
            .write(move |c| {
                diesel::update(sj::table.find(&id))
                    .set((
                        sj::paused.eq(paused),
                        sj::next_due_ms.eq(next),
                        sj::updated_ms.eq(now_ms()),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Sets a job's missed-run policy.
    pub async fn set_missed(&self, job: &JobRow, policy: &str) -> AppResult<()> {
        if !MISSED_POLICIES.contains(&policy) {
            return Err(AppError::bad_request("`missed` is `once` or `skip`"));
        }
        let (id, p) = (job.id.clone(), policy.to_string());
        self.db
            .write(move |c| {
                diesel::update(sj::table.find(&id))
                    .set(sj::missed.eq(&p))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    /// Queues a run of `job` now ("run now", an event): any instance claims it within a
    /// poll. Returns the run's id.
    pub async fn queue_run(&self, job: &JobRow, source: &str) -> AppResult<String> {
        self.queue_with(job, source, None).await
    }

    async fn queue_with(&self, job: &JobRow, source: &str, payload: Option<String>) -> AppResult<String> {
        let now = now_ms();
        let run = RunRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            job_id: job.id.clone(),
            due_ms: now,
            state: state::QUEUED.into(),
            attempt: 0,
            instance: String::new(),
            lease_until_ms: 0,
            next_attempt_ms: now,
            started_ms: now,
            ended_ms: None,
            error: None,
            output: None,
            trigger_source: source.to_string(),
            payload,
        };
        let id = run.id.clone();
        self.db
            .write(move |c| {
                diesel::insert_into(sr::table).values(&run).execute(c)?;
                Ok(())
            })
            .await
            .map_err(|e| match e {
                // (job, due time) is unique: two runs asked for in the same millisecond.
                AppError::Conflict(_) => AppError::Conflict("a run of this job was just queued".into()),
                other => other,
            })?;
        self.wake.notify_waiters();
        Ok(id)
    }
}

#[async_trait]
impl Scheduler for DbScheduler {
    async fn sync_bot_jobs(&self, bot: BotId, jobs: Vec<JobSpec>) -> AppResult<Vec<RejectedJob>> {
        let listened: std::collections::HashSet<String> = jobs
            .iter()
            .filter_map(|j| match &j.trigger {
                Trigger::Event { name } => Some(name.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        self.events.write().expect("events").insert(bot, listened);
        let now = now_ms();
        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        for spec in &jobs {
            match row_for(spec, now, self.config.max_attempts) {
                Ok(r) => rows.push(r),
                Err(e) => rejected.push(RejectedJob {
                    name: spec.name.clone(),
                    reason: e.public_message(),
                }),
            }
        }
        let b = bot.to_string();
        self.db
            .write(move |c| {
                let old: HashMap<String, JobRow> =
                    jobs_of(c, &b)?.into_iter().map(|r| (r.id.clone(), r)).collect();
                let keep: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                for mut row in rows {
                    match old.get(&row.id) {
                        Some(prev)
                            if prev.trigger_kind == row.trigger_kind
                                && prev.cron == row.cron
                                && prev.tz == row.tz
                                && prev.event == row.event =>
                        {
                            // Same trigger: keep its state; only the script may differ.
                            if prev.script != row.script {
                                diesel::update(sj::table.find(&row.id))
                                    .set((sj::script.eq(&row.script), sj::updated_ms.eq(now)))
                                    .execute(c)?;
                            }
                        }
                        Some(prev) => {
                            row.paused = prev.paused;
                            row.missed = prev.missed.clone();
                            diesel::update(sj::table.find(&row.id)).set(&row).execute(c)?;
                        }
                        None => {
                            diesel::insert_into(sj::table).values(&row).execute(c)?;
                        }
                    }
                }
                let gone: Vec<&String> = old.keys().filter(|id| !keep.contains(id)).collect();
                if !gone.is_empty() {
                    diesel::delete(sj::table.filter(sj::id.eq_any(gone))).execute(c)?;
                }
                Ok(())
            })
            .await?;
        self.wake.notify_waiters();
        Ok(rejected)
    }

    async fn fire_event(&self, bot: BotId, event: &str, payload: serde_json::Value) -> AppResult<usize> {
        let listened = self
            .events
            .read()
            .expect("events")
            .get(&bot)
            .is_some_and(|set| set.contains(&event.to_ascii_lowercase()));
        if !listened {
            return Ok(0);
        }
        let jobs: Vec<JobRow> = self
            .event_jobs(bot, event)
            .await?
            .into_iter()
            .filter(|j| !j.paused)
            .collect();
        let body = payload.to_string();
        for job in &jobs {
            // Two events of one job in the same millisecond: the second takes the next.
            let mut tries = 0;
            loop {
                match self.queue_with(job, "event", Some(body.clone())).await {
                    Err(AppError::Conflict(_)) if tries < 5 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        Ok(jobs.len())
    }

    async fn list(&self, bot: BotId) -> AppResult<Vec<JobSpec>> {
        Ok(self
            .jobs(bot)
            .await?
            .into_iter()
            .map(|r| JobSpec {
                bot,
                name: r.name.clone(),
                script: r.script.clone(),
                trigger: trigger_of(&r),
            })
            .collect())
    }
}
