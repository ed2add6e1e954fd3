//! The runner every instance runs: it claims due work and runs it.
//!
//! - **A due tick** is claimed by moving its job's `next_due_ms` forward with a
//!   compare-and-set (`UPDATE … WHERE id = ? AND next_due_ms = <the tick>`) in the same
//!   transaction that inserts its run (unique per job and tick), so each tick starts on
//!   exactly one instance, however many poll the same table.
//! - **A run** holds a lease it renews every third of its length while it runs. A run
//!   whose instance died (its lease expired) is taken over by another instance with the
//!   same compare-and-set, as its next attempt: runs are exactly once per tick while
//!   instances live, and at least once across a crash.
//! - **Failures** are retried after 2 s, 4 s, 8 s… (up to 5 minutes) until the job's
//!   `max_attempts`, then the run is `failed` with its error.
//! - **Missed ticks**: a tick more than `missed_after` old when claimed (everything was
//!   down) follows the job's policy: `once` runs it once, `skip` records it as skipped;
//!   either way the schedule continues from now, so a day of downtime never replays a
//!   day of ticks.
//!
//! Scripts run through `DialogEngine::run_script` (the current version of the script),
//! internal jobs through their registered handler. Metrics: runs by outcome, and the lag
//! between a tick's due time and its start.

use crate::cron_expr::CronSchedule;
use crate::scheduler::{DbScheduler, JobRow, KIND_INTERNAL, RunRow, sj, sr, state};
use botlib::{AppError, AppResult, BotId};
use botstate::services::{DialogEngine, ScriptCall, ToolOutput};
use botstate::{AnyConnection, DbErr};
use diesel::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Largest output kept in a run's history.
pub const MAX_OUTPUT: usize = 4096;

/// Most runs one instance starts per pass.
const BATCH: i64 = 500;

/// The scheduler's Prometheus families (prefixed `botserver_scheduler_`).
#[derive(Clone)]
pub struct SchedulerMetrics {
    /// `scheduler_runs_total{outcome}`: ok, failed, retrying, skipped.
    pub runs: Family<[(&'static str, String); 1], Counter>,
    /// `scheduler_lag_seconds`: from a tick's due time to its start.
    pub lag: Histogram,
}

impl SchedulerMetrics {
    /// Creates the families and registers them.
    pub fn register(metrics: &botstate::Metrics) -> SchedulerMetrics {
        let m = SchedulerMetrics {
            runs: Family::default(),
            lag: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 30.0, 120.0]),
        };
        let mut r = metrics.registry.lock().unwrap_or_else(|e| e.into_inner());
        let r = r.sub_registry_with_prefix("scheduler");
        r.register("runs", "Job runs by outcome", m.runs.clone());
        r.register(
            "lag_seconds",
            "Delay between a tick's due time and its start",
            m.lag.clone(),
        );
        m
    }
}

/// A run this instance claimed, with its job.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The run.
    pub run: RunRow,
    /// Its job.
    pub job: JobRow,
}

/// One instance's runner.
pub struct Runner {
    sched: Arc<DbScheduler>,
    engine: Arc<dyn DialogEngine>,
    instance: String,
    metrics: SchedulerMetrics,
    /// Caps runs in flight on this instance.
    slots: Arc<tokio::sync::Semaphore>,
}

fn lease_ms(sched: &DbScheduler) -> i64 {
    sched.config.lease.as_millis() as i64
}

/// What a claimed tick does to its job: the next due time, and whether to run it.
fn advance(job: &JobRow, now: i64, missed_after_ms: i64) -> (Option<i64>, bool) {
    let due = job.next_due_ms.unwrap_or(now);
    if job.trigger_kind != "cron" {
        return (None, true);
    }
    let Ok(cron) = CronSchedule::parse(&job.cron, &job.tz) else {
        return (None, false);
    };
    if now - due > missed_after_ms {
        // Missed while everything was down: continue from now.
        return (cron.next_after(now), job.missed != "skip");
    }
    (cron.next_after(due), true)
}

/// What a run said and returned, as one text for its history.
fn output_text(out: &ToolOutput) -> String {
    let mut text = out.messages.join("\n");
    if !out.result.is_null() {
        if !text.is_empty() {
            text.push('\n');
        }
        match &out.result {
            serde_json::Value::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
    }
    text
}

/// Claims due ticks in one transaction: jobs in id order (so instances lock rows in the
/// same order), each by a compare-and-set of its due time, its run inserted with it.
fn claim_ticks(
    c: &mut AnyConnection,
    instance: &str,
    now: i64,
    lease: i64,
    missed_after: i64,
) -> Result<Vec<Claimed>, DbErr> {
    let query = || {
        sj::table
            .filter(sj::next_due_ms.le(now).and(sj::paused.eq(false)))
            .order(sj::id.asc())
            .limit(BATCH)
            .select(sj::all_columns)
    };
    // On PostgreSQL, rows another instance is claiming right now are skipped rather than
    // waited for: instances share a burst of due jobs instead of queueing behind each
    // other's locks. (The compare-and-set below is what makes a claim exclusive.)
    let due: Vec<JobRow> = match c {
        AnyConnection::Postgresql(pg) => query().for_update().skip_locked().load::<JobRow>(pg)?,
        AnyConnection::Sqlite(lite) => query().load::<JobRow>(lite)?,
    };
    let mut out = Vec::new();
    for job in due {
        let Some(tick) = job.next_due_ms else { continue };
        let (next, run) = advance(&job, now, missed_after);
        let moved = diesel::update(sj::table.filter(sj::id.eq(&job.id).and(sj::next_due_ms.eq(tick))))
            .set(sj::next_due_ms.eq(next))
            .execute(c)?;
        if moved == 0 {
            continue; // another instance claimed it first
        }
        // A one-shot job moved back to a time it already ran at (a reminder set again)
        // has a run at that tick: the new run takes the next free millisecond, so the
        // insert never fails the whole claim.
        // (Cron ticks only move forward: no lookup for them on this hot path.)
        let mut slot = tick;
        while job.trigger_kind != "cron"
            && sr::table
                .filter(sr::job_id.eq(&job.id).and(sr::due_ms.eq(slot)))
                .count()
                .get_result::<i64>(c)?
                > 0
        {
            slot += 1;
        }
        let row = RunRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            job_id: job.id.clone(),
            due_ms: slot,
            state: if run { state::RUNNING } else { state::SKIPPED }.into(),
            attempt: if run { 1 } else { 0 },
            instance: instance.to_string(),
            lease_until_ms: now + lease,
            next_attempt_ms: 0,
            started_ms: now,
            ended_ms: (!run).then_some(now),
            error: None,
            output: (!run).then(|| "missed while the scheduler was down (policy skip)".to_string()),
            trigger_source: "schedule".into(),
            payload: None,
        };
        diesel::insert_into(sr::table).values(&row).execute(c)?;
        if run {
            out.push(Claimed { run: row, job });
        }
    }
    Ok(out)
}

/// Claims queued runs, retries that are due, and runs whose lease expired.
fn claim_runs(
    c: &mut AnyConnection,
    instance: &str,
    now: i64,
    lease: i64,
) -> Result<Vec<(Claimed, bool)>, DbErr> {
    let waiting: Vec<RunRow> = sr::table
        .filter(
            sr::state
                .eq_any([state::QUEUED, state::RETRYING])
                .and(sr::next_attempt_ms.le(now))
                .or(sr::state.eq(state::RUNNING).and(sr::lease_until_ms.lt(now))),
        )
        .order(sr::id.asc())
        .limit(BATCH)
        .select(RunRow::as_select())
        .load(c)?;
    let mut out = Vec::new();
    for run in waiting {
        let Some(job) = sj::table
            .find(&run.job_id)
            .select(JobRow::as_select())
            .first(c)
            .optional()?
        else {
            // The job was removed: its pending runs end here.
            diesel::update(sr::table.find(&run.id))
                .set((
                    sr::state.eq(state::FAILED),
                    sr::ended_ms.eq(Some(now)),
                    sr::error.eq(Some("the job was removed")),
                ))
                .execute(c)?;
            continue;
        };
        let taken = diesel::update(
            sr::table.filter(
                sr::id
                    .eq(&run.id)
                    .and(sr::state.eq(&run.state))
                    .and(sr::lease_until_ms.eq(run.lease_until_ms))
                    .and(sr::attempt.eq(run.attempt)),
            ),
        )
        .set((
            sr::state.eq(state::RUNNING),
            sr::instance.eq(instance),
            sr::lease_until_ms.eq(now + lease),
            sr::attempt.eq(run.attempt + 1),
            sr::started_ms.eq(now),
        ))
        .execute(c)?;
        if taken == 0 {
            continue;
        }
        let gave_up = run.attempt + 1 > job.max_attempts.max(1);
        let crashed = run.state == state::RUNNING;
        let mut run = run;
        run.attempt += 1;
        run.state = state::RUNNING.into();
        run.instance = instance.to_string();
        if gave_up {
            let why = if crashed {
                format!(
                    "gave up after {} attempts (the last one's instance stopped)",
                    run.attempt - 1
                )
            } else {
                format!("gave up after {} attempts", run.attempt - 1)
            };
            diesel::update(sr::table.find(&run.id))
                .set((
                    sr::state.eq(state::FAILED),
                    sr::attempt.eq(run.attempt - 1),
                    sr::ended_ms.eq(Some(now)),
                    sr::error.eq(Some(why)),
                ))
                .execute(c)?;
            continue;
        }
        out.push((Claimed { run, job }, crashed));
    }
    Ok(out)
}

impl Runner {
    /// A runner for this instance.
    pub fn new(sched: Arc<DbScheduler>, engine: Arc<dyn DialogEngine>, metrics: SchedulerMetrics) -> Runner {
        Runner {
            sched,
            engine,
            instance: format!(
                "{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            metrics,
            slots: Arc::new(tokio::sync::Semaphore::new(64)),
        }
    }

    /// This instance's name in the runs it claims.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// One pass: claims what is due and starts it. Returns how many runs started.
    pub async fn pass(self: &Arc<Self>) -> AppResult<usize> {
        let now = now_ms();
        // Read first: an idle pass takes no write lock (on SQLite every write transaction
        // holds the one writer lock, which other writers would wait for).
        let work = self
            .sched
            .db
            .run(move |c| {
                let due: i64 = sj::table
                    .filter(sj::next_due_ms.le(now).and(sj::paused.eq(false)))
                    .count()
                    .get_result(c)?;
                let waiting: i64 = sr::table
                    .filter(
                        sr::state
                            .eq_any([state::QUEUED, state::RETRYING])
                            .and(sr::next_attempt_ms.le(now))
                            .or(sr::state.eq(state::RUNNING).and(sr::lease_until_ms.lt(now))),
                    )
                    .count()
                    .get_result(c)?;
                Ok(due + waiting)
            })
            .await?;
        if work == 0 {
            return Ok(0);
        }
        let (me, lease) = (self.instance.clone(), lease_ms(&self.sched));
        let missed = self.sched.config.missed_after.as_millis() as i64;
        let ticks = self
            .sched
            .db
            .write(move |c| claim_ticks(c, &me, now, lease, missed))
            .await?;
        let me = self.instance.clone();
        let runs = self
            .sched
            .db
            .write(move |c| claim_runs(c, &me, now, lease))
            .await?;
        let started = ticks.len() + runs.len();
        let claimed_at = now_ms();
        for claimed in ticks {
            self.metrics
                .lag
                .observe((claimed_at - claimed.run.due_ms).max(0) as f64 / 1000.0);
            self.spawn(claimed);
        }
        for (claimed, crashed) in runs {
            if crashed {
                tracing::warn!(job = %claimed.job.name, run = %claimed.run.id, "scheduler: taking over a run whose instance stopped");
            }
            self.spawn(claimed);
        }
        Ok(started)
    }

    fn spawn(self: &Arc<Self>, claimed: Claimed) {
        let me = self.clone();
        tokio::spawn(async move {
            let _slot = me.slots.clone().acquire_owned().await;
            let _ = me.execute(claimed).await;
        });
    }

    /// Runs a claimed run to its end (renewing its lease meanwhile) and records it.
    pub async fn execute(&self, claimed: Claimed) -> Result<String, String> {
        let Claimed { run, job } = claimed;
        let heartbeat = {
            let (db, id, me) = (self.sched.db.clone(), run.id.clone(), self.instance.clone());
            let lease = self.sched.config.lease;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let (id, me) = (id.clone(), me.clone());
                    let until = now_ms() + lease.as_millis() as i64;
                    let _ = db
                        .write(move |c| {
                            diesel::update(
                                sr::table.filter(
                                    sr::id
                                        .eq(&id)
                                        .and(sr::instance.eq(&me))
                                        .and(sr::state.eq(state::RUNNING)),
                                ),
                            )
                            .set(sr::lease_until_ms.eq(until))
                            .execute(c)?;
                            Ok(())
                        })
                        .await;
                }
            })
        };
        let result = tokio::time::timeout(self.sched.config.run_timeout, self.call(&job, &run, None)).await;
        heartbeat.abort();
        let result = match result {
            Ok(r) => r.map(|out| output_text(&out)).map_err(|e| e.public_message()),
            Err(_) => Err(format!(
                "timed out after {} s",
                self.sched.config.run_timeout.as_secs()
            )),
        };
        self.finish(&job, &run, &result, true).await;
        result
    }

    /// Runs `job` now on this instance with `payload` as the script's `body` (a webhook),
    /// recorded in its history; a failure is final (the caller gets it) and not retried.
    pub async fn run_now(
        &self,
        job: &JobRow,
        source: &str,
        payload: serde_json::Value,
    ) -> AppResult<ToolOutput> {
        let now = now_ms();
        let run = RunRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            job_id: job.id.clone(),
            due_ms: now,
            state: state::RUNNING.into(),
            attempt: 1,
            instance: self.instance.clone(),
            lease_until_ms: now + lease_ms(&self.sched),
            next_attempt_ms: 0,
            started_ms: now,
            ended_ms: None,
            error: None,
            output: None,
            trigger_source: source.to_string(),
            payload: None,
        };
        let saved = run.clone();
        // (job, due time) is unique: a second call in the same millisecond takes the next.
        self.sched
            .db
            .write(move |c| {
                let mut row = saved;
                for _ in 0..5 {
                    match diesel::insert_into(sr::table).values(&row).execute(c) {
                        Ok(_) => return Ok(()),
                        Err(diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        )) => row.due_ms += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(AppError::Conflict("too many runs of this job at once".into()).into())
            })
            .await?;
        let result = tokio::time::timeout(self.sched.config.run_timeout, self.call(job, &run, Some(payload)))
            .await
            .unwrap_or(Err(AppError::Timeout));
        let text = match &result {
            Ok(out) => Ok(output_text(out)),
            Err(e) => Err(e.public_message()),
        };
        self.finish(job, &run, &text, false).await;
        result
    }

    async fn call(
        &self,
        job: &JobRow,
        run: &RunRow,
        payload: Option<serde_json::Value>,
    ) -> AppResult<ToolOutput> {
        let stored: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
        if job.kind == KIND_INTERNAL {
            let handler = self
                .sched
                .handler(&job.script)
                .ok_or_else(|| AppError::bad_request(format!("no handler `{}`", job.script)))?;
            let line = handler(stored).await?;
            return Ok(ToolOutput {
                result: serde_json::Value::String(line),
                messages: Vec::new(),
            });
        }
        let bot = uuid::Uuid::parse_str(&job.bot_id)
            .map(BotId)
            .map_err(|_| AppError::NotFound)?;
        let event = match job.trigger_kind.as_str() {
            "event" => job.event.clone(),
            _ => "schedule".to_string(),
        };
        let queued = run.payload.as_deref().and_then(|p| serde_json::from_str(p).ok());
        let body = payload.or(queued).unwrap_or_else(|| {
            serde_json::json!({ "due_ms": run.due_ms, "attempt": run.attempt, "source": run.trigger_source })
        });
        self.engine
            .run_script(ScriptCall {
                bot,
                script: job.script.clone(),
                event,
                payload: body,
            })
            .await
    }

    async fn finish(&self, job: &JobRow, run: &RunRow, result: &Result<String, String>, retry: bool) {
        let now = now_ms();
        let cut = |s: &str| {
            let mut end = s.len().min(MAX_OUTPUT);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_string()
        };
        let (state, next, error, output) = match result {
            Ok(out) => (state::OK, 0, None, Some(cut(out))),
            Err(e) if retry && run.attempt < job.max_attempts.max(1) => {
                let base = self.sched.config.retry_base.as_millis() as i64;
                let wait = (base << (run.attempt - 1).clamp(0, 16)).min(300_000);
                (state::RETRYING, now + wait, Some(cut(e)), None)
            }
            Err(e) => (state::FAILED, 0, Some(cut(e)), None),
        };
        self.metrics
            .runs
            .get_or_create(&[("outcome", state.to_string())])
            .inc();
        if state == state::FAILED {
            tracing::warn!(job = %job.name, attempts = run.attempt, error = ?error, "scheduler: a run failed");
        }
        let (id, me) = (run.id.clone(), self.instance.clone());
        let ended = (state != state::RETRYING).then_some(now);
        let r = self
            .sched
            .db
            .write(move |c| {
                diesel::update(sr::table.filter(sr::id.eq(&id).and(sr::instance.eq(&me))))
                    .set((
                        sr::state.eq(state),
                        sr::next_attempt_ms.eq(next),
                        sr::ended_ms.eq(ended),
                        sr::error.eq(error),
                        sr::output.eq(output),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "scheduler: a run's end could not be recorded (its lease will expire and it runs again)");
        }
        if state == state::RETRYING {
            self.sched.wake.notify_waiters();
        }
    }

    /// The wait before the next pass: until the next tick of any job, at most `poll`.
    async fn until_next(&self) -> std::time::Duration {
        let poll = self.sched.config.poll;
        let next: AppResult<Option<i64>> = self
            .sched
            .db
            .run(|c| {
                Ok(sj::table
                    .filter(sj::paused.eq(false))
                    .select(diesel::dsl::min(sj::next_due_ms))
                    .first::<Option<i64>>(c)?)
            })
            .await;
        match next {
            Ok(Some(due)) => {
                // Never a spin: at least 5 ms, even with a backlog.
                let wait = (due - now_ms()).max(5) as u64;
                poll.min(std::time::Duration::from_millis(wait))
            }
            _ => poll,
        }
    }

    /// Polls until `stop`: at the next tick of any job, at least every `poll` (for runs
    /// queued or retried elsewhere), and when the scheduler is woken.
    pub async fn run(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "scheduler: a pass failed");
            }
            let wait = self.until_next().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.sched.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
