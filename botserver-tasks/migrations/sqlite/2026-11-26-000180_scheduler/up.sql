-- Scheduled jobs: a bot's script on a cron schedule, once at a time, or on an event
-- (kind `script`), or an internal one-shot job of the server (kind `internal`: a task
-- reminder, with `handler` and `payload`). `next_due_ms` is the next tick not yet
-- claimed; an instance claims a tick by moving it forward with a compare-and-set in the
-- same transaction that inserts the run, so each tick runs on exactly one instance.
CREATE TABLE sched_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    bot_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    script TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    cron TEXT NOT NULL,
    tz TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    next_due_ms BIGINT,
    paused BOOLEAN NOT NULL,
    missed TEXT NOT NULL,
    max_attempts BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX sched_jobs_due ON sched_jobs (next_due_ms);
CREATE INDEX sched_jobs_bot ON sched_jobs (bot_id, name);

-- Every run: `running` under a lease the runner renews, then `ok` or `failed`;
-- `retrying` waits for `next_attempt_ms`; `skipped` records a tick missed while
-- everything was down, under the job's `skip` policy. One row per (job, due time).
-- `payload` is an event's data (the script's `body`), when an event queued the run.
CREATE TABLE sched_runs (
    id TEXT PRIMARY KEY NOT NULL,
    job_id TEXT NOT NULL,
    due_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    instance TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    error TEXT,
    output TEXT,
    trigger_source TEXT NOT NULL,
    payload TEXT
);
CREATE UNIQUE INDEX sched_runs_tick ON sched_runs (job_id, due_ms);
CREATE INDEX sched_runs_state ON sched_runs (state, next_attempt_ms);
