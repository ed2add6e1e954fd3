//! The scheduler's routes, under `/api/bots/{bot}/jobs`, for the bot's admins
//! (`Principal::can_admin_bot`; 403 otherwise, 404 for an unknown bot or job): the jobs
//! with their next due time, each job's run history, pause, resume, run now, and the
//! missed-run policy.

use crate::TasksModule;
use crate::scheduler::{DbScheduler, JobRow, RunRow};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use botlib::{AppError, AppResult, BotId};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::{ApiResult, AppJson};
use botstate::BotRegistry;
use botstate::auth::{Access, Principal, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the routes need.
#[derive(Clone)]
pub struct JobsApi {
    /// The scheduler.
    pub scheduler: Arc<DbScheduler>,
    /// Bots by name.
    pub bots: Arc<BotRegistry>,
    /// The domain (its runner).
    pub module: Arc<TasksModule>,
}

type S = State<JobsApi>;

/// The routes.
pub fn routes(api: JobsApi) -> Routes {
    let admin = Access::Role(Role::BotAdmin);
    Routes::new()
        .get("/api/bots/{bot}/jobs", admin, list)
        .get("/api/bots/{bot}/jobs/{id}/runs", admin, runs)
        .patch("/api/bots/{bot}/jobs/{id}", admin, update)
        .post("/api/bots/{bot}/jobs/{id}/pause", admin, pause)
        .post("/api/bots/{bot}/jobs/{id}/resume", admin, resume)
        .post("/api/bots/{bot}/jobs/{id}/run", admin, run_now)
        .with_state(api)
}

fn bot(api: &JobsApi, p: &Principal, name: &str) -> AppResult<BotId> {
    if !p.can_admin_bot(name) {
        return Err(AppError::Forbidden);
    }
    api.bots.by_name(name).map(|b| b.id).ok_or(AppError::NotFound)
}

async fn with_last_runs(api: &JobsApi, jobs: Vec<JobRow>) -> AppResult<Vec<Value>> {
    let mut out = Vec::new();
    for job in jobs {
        let last = api.scheduler.runs(&job.id, 1).await?.into_iter().next();
        let mut v = serde_json::to_value(&job).map_err(AppError::internal)?;
        v["last_run"] = serde_json::to_value(last).map_err(AppError::internal)?;
        out.push(v);
    }
    Ok(out)
}

/// `GET /api/bots/{bot}/jobs`.
async fn list(State(api): S, Caller(p): Caller, Path(name): Path<String>) -> ApiResult<Json<Vec<Value>>> {
    let id = bot(&api, &p, &name)?;
    let jobs = api.scheduler.jobs(id).await?;
    Ok(Json(with_last_runs(&api, jobs).await?))
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<i64>,
}

/// `GET /api/bots/{bot}/jobs/{id}/runs?limit=`: newest first.
async fn runs(
    State(api): S,
    Caller(p): Caller,
    Path((name, job)): Path<(String, String)>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Vec<RunRow>>> {
    let id = bot(&api, &p, &name)?;
    let job = api.scheduler.job(id, &job).await?;
    Ok(Json(api.scheduler.runs(&job.id, q.limit.unwrap_or(50)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct JobUpdate {
    /// `once` or `skip`.
    missed: Option<String>,
}

/// `PATCH /api/bots/{bot}/jobs/{id}` `{missed}`.
async fn update(
    State(api): S,
    Caller(p): Caller,
    Path((name, job)): Path<(String, String)>,
    AppJson(body): AppJson<JobUpdate>,
) -> ApiResult<Json<JobRow>> {
    let id = bot(&api, &p, &name)?;
    let row = api.scheduler.job(id, &job).await?;
    if let Some(policy) = body.missed {
        api.scheduler.set_missed(&row, &policy).await?;
    }
    Ok(Json(api.scheduler.job(id, &job).await?))
}

async fn set_paused(api: &JobsApi, p: &Principal, name: &str, job: &str, paused: bool) -> AppResult<JobRow> {
    let id = bot(api, p, name)?;
    let row = api.scheduler.job(id, job).await?;
    api.scheduler.set_paused(&row, paused).await?;
    api.scheduler.job(id, job).await
}

/// `POST /api/bots/{bot}/jobs/{id}/pause`.
async fn pause(
    State(api): S,
    Caller(p): Caller,
    Path((name, job)): Path<(String, String)>,
) -> ApiResult<Json<JobRow>> {
    Ok(Json(set_paused(&api, &p, &name, &job, true).await?))
}

/// `POST /api/bots/{bot}/jobs/{id}/resume`: continues from now.
async fn resume(
    State(api): S,
    Caller(p): Caller,
    Path((name, job)): Path<(String, String)>,
) -> ApiResult<Json<JobRow>> {
    Ok(Json(set_paused(&api, &p, &name, &job, false).await?))
}

/// `POST /api/bots/{bot}/jobs/{id}/run`: queues a run now (202 with its id); any
/// instance runs it within a poll, with the job's retries.
async fn run_now(
    State(api): S,
    Caller(p): Caller,
    Path((name, job)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = bot(&api, &p, &name)?;
    let row = api.scheduler.job(id, &job).await?;
    let run = api.scheduler.queue_run(&row, "manual").await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": run }))))
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{OpenApiBuilder, ResponseBuilder};
    let op = |summary: &str, ok: &str| {
        let mut b = OperationBuilder::new()
            .summary(Some(summary))
            .tag("scheduler")
            .response(ok, ResponseBuilder::new().description("OK"));
        for (code, what) in [("403", "Not an admin of this bot"), ("404", "No such bot or job")] {
            b = b.response(code, ResponseBuilder::new().description(what));
        }
        b.build()
    };
    let table: [(&str, HttpMethod, &str, &str); 6] = [
        (
            "/api/bots/{bot}/jobs",
            HttpMethod::Get,
            "The bot's jobs with their next due time and last run",
            "200",
        ),
        (
            "/api/bots/{bot}/jobs/{id}/runs",
            HttpMethod::Get,
            "A job's runs, newest first (?limit=, default 50): start, end, outcome, error, output",
            "200",
        ),
        (
            "/api/bots/{bot}/jobs/{id}",
            HttpMethod::Patch,
            "Set a job's missed-run policy {missed: once|skip}",
            "200",
        ),
        (
            "/api/bots/{bot}/jobs/{id}/pause",
            HttpMethod::Post,
            "Pause a job",
            "200",
        ),
        (
            "/api/bots/{bot}/jobs/{id}/resume",
            HttpMethod::Post,
            "Resume a job (from now)",
            "200",
        ),
        (
            "/api/bots/{bot}/jobs/{id}/run",
            HttpMethod::Post,
            "Run a job now: 202 {run}",
            "202",
        ),
    ];
    let mut paths = PathsBuilder::new();
    for (path, method, summary, ok) in table {
        paths = paths.path(path, PathItem::new(method, op(summary, ok)));
    }
    OpenApiBuilder::new().paths(paths.build()).build()
}
