//! The task list's routes, under `/api/tasks`, for signed-in users (`user` role and up;
//! anonymous chat visitors have no task list). Everything is scoped to the caller's
//! organization; within it the rules of [`crate::todo`] apply: a task is visible to its
//! creator, its assignee and the organization's admins (404 for anyone else, and for
//! another organization's task), its creator and admins change and delete it, its
//! assignee changes only its status (403 otherwise).
//!
//! Bodies are JSON objects with the fields `title`, `description`, `assignee`, `due`,
//! `remind_at`, `status`, `priority`, `tags`, `project`; times are Unix milliseconds or
//! RFC 3339 texts. A bad or unknown field is a 400 whose message names it. `PATCH` sets
//! only the fields given; `null` clears `due`, `remind_at` and `project`.

use crate::todo::{self, TaskDraft, TaskPatch, TaskQuery, TaskService, Viewer};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use botlib::{AppError, AppResult};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::{ApiResult, AppJson};
use botstate::auth::{Access, Role};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

type S = State<Arc<TaskService>>;

/// Default page size of a list.
const DEFAULT_LIMIT: i64 = 50;

/// The fields a body may hold.
const FIELDS: [&str; 9] = [
    "title",
    "description",
    "assignee",
    "due",
    "remind_at",
    "status",
    "priority",
    "tags",
    "project",
];

/// The routes.
pub fn routes(service: Arc<TaskService>) -> Routes {
    let user = Access::Role(Role::User);
    Routes::new()
        .post("/api/tasks", user, create)
        .get("/api/tasks", user, list)
        .get("/api/tasks/{id}", user, get_one)
        .patch("/api/tasks/{id}", user, update)
        .delete("/api/tasks/{id}", user, delete)
        .with_state(service)
}

// ---------------------------------------------------------------------------------------
// Reading bodies field by field, so every error names its field.

fn object(body: Value) -> AppResult<Map<String, Value>> {
    let Value::Object(map) = body else {
        return Err(AppError::bad_request("the body must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(AppError::bad_request(format!(
            "unknown field `{unknown}` (known: {})",
            FIELDS.join(", ")
        )));
    }
    Ok(map)
}

fn text<'a>(field: &str, v: &'a Value) -> AppResult<&'a str> {
    v.as_str()
        .ok_or_else(|| AppError::bad_request(format!("`{field}` must be a text")))
}

fn tags(v: &Value) -> AppResult<Vec<String>> {
    let bad = || AppError::bad_request("`tags` must be an array of texts");
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|t| t.as_str().map(str::to_string).ok_or_else(bad))
        .collect::<AppResult<Vec<_>>>()
        .and_then(|t| todo::check_tags(&t))
}

/// A time that may be `null` (none).
fn time(field: &str, v: &Value) -> AppResult<Option<i64>> {
    if v.is_null() {
        return Ok(None);
    }
    todo::parse_time(field, v).map(Some)
}

fn project(v: &Value) -> AppResult<Option<String>> {
    if v.is_null() {
        return Ok(None);
    }
    todo::check_project(text("project", v)?)
}

fn draft(body: Value, creator: String) -> AppResult<TaskDraft> {
    let m = object(body)?;
    let get = |k: &str| m.get(k);
    let title = match get("title") {
        Some(v) if !v.is_null() => todo::check_title(text("title", v)?)?,
        _ => return Err(AppError::bad_request("`title` is required")),
    };
    Ok(TaskDraft {
        title,
        description: match get("description") {
            Some(v) => todo::check_description(text("description", v)?)?,
            None => String::new(),
        },
        assignee: match get("assignee") {
            Some(v) if !v.is_null() => todo::check_assignee(text("assignee", v)?)?,
            _ => creator.clone(),
        },
        created_by: creator,
        bot_id: None,
        due_ms: get("due").map(|v| time("due", v)).transpose()?.flatten(),
        status: match get("status") {
            Some(v) => todo::check_status(text("status", v)?)?,
            None => "open".into(),
        },
        priority: match get("priority") {
            Some(v) => todo::check_priority(text("priority", v)?)?,
            None => "normal".into(),
        },
        tags: get("tags").map(tags).transpose()?.unwrap_or_default(),
        project: get("project").map(project).transpose()?.flatten(),
        remind_ms: get("remind_at")
            .map(|v| time("remind_at", v))
            .transpose()?
            .flatten(),
    })
}

fn patch(body: Value) -> AppResult<TaskPatch> {
    let m = object(body)?;
    let get = |k: &str| m.get(k);
    Ok(TaskPatch {
        title: get("title")
            .map(|v| todo::check_title(text("title", v)?))
            .transpose()?,
        description: get("description")
            .map(|v| todo::check_description(text("description", v)?))
            .transpose()?,
        assignee: get("assignee")
            .map(|v| todo::check_assignee(text("assignee", v)?))
            .transpose()?,
        due_ms: get("due").map(|v| time("due", v)).transpose()?,
        status: get("status")
            .map(|v| todo::check_status(text("status", v)?))
            .transpose()?,
        priority: get("priority")
            .map(|v| todo::check_priority(text("priority", v)?))
            .transpose()?,
        tags: get("tags").map(tags).transpose()?,
        project: get("project").map(project).transpose()?,
        remind_ms: get("remind_at").map(|v| time("remind_at", v)).transpose()?,
    })
}

// ---------------------------------------------------------------------------------------
// Handlers.

/// `POST /api/tasks`: 201 with the task; the assignee defaults to the caller.
async fn create(
    State(s): S,
    Caller(p): Caller,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<todo::Task>)> {
    let d = draft(body, p.user.to_string())?;
    let task = s.create(&p.org.to_string(), d).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

#[derive(Deserialize)]
struct ListParams {
    mine: Option<String>,
    overdue: Option<String>,
    project: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
    tag: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn flag(name: &str, v: Option<&str>) -> AppResult<bool> {
    match v.map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(AppError::bad_request(format!("`{name}` is true or false"))),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn query(q: ListParams) -> AppResult<TaskQuery> {
    let limit = match non_empty(q.limit) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=todo::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                AppError::bad_request(format!("`limit` is a number from 1 to {}", todo::MAX_LIMIT))
            })?,
    };
    Ok(TaskQuery {
        mine: flag("mine", q.mine.as_deref())?,
        overdue: flag("overdue", q.overdue.as_deref())?,
        project: non_empty(q.project),
        status: non_empty(q.status).map(|s| todo::check_status(&s)).transpose()?,
        assignee: non_empty(q.assignee),
        tag: non_empty(q.tag).map(|t| t.to_lowercase()),
        limit,
        after: non_empty(q.after),
    })
}

/// `GET /api/tasks?mine=&overdue=&project=&status=&assignee=&tag=&limit=&after=`.
async fn list(
    State(s): S,
    Caller(p): Caller,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<todo::TaskPage>> {
    let q = query(q)?;
    Ok(Json(s.list(&Viewer::of(&p), &q).await?))
}

/// `GET /api/tasks/{id}`.
async fn get_one(State(s): S, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<todo::Task>> {
    Ok(Json(s.get(&Viewer::of(&p), &id).await?))
}

/// `PATCH /api/tasks/{id}`.
async fn update(
    State(s): S,
    Caller(p): Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<todo::Task>> {
    let changes = patch(body)?;
    Ok(Json(s.update(&Viewer::of(&p), &id, changes).await?))
}

/// `DELETE /api/tasks/{id}`: 204.
async fn delete(State(s): S, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.delete(&Viewer::of(&p), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{OpenApiBuilder, ResponseBuilder};
    let op = |summary: &str, ok: &str| {
        let mut b = OperationBuilder::new()
            .summary(Some(summary))
            .tag("tasks")
            .response(ok, ResponseBuilder::new().description("OK"));
        for (code, what) in [
            ("400", "A bad field (the message names it)"),
            ("401", "Not signed in"),
            ("403", "Not allowed (an assignee changing more than the status)"),
            ("404", "No such task, or not visible to the caller"),
        ] {
            b = b.response(code, ResponseBuilder::new().description(what));
        }
        b.build()
    };
    let table: [(&str, HttpMethod, &str, &str); 5] = [
        (
            "/api/tasks",
            HttpMethod::Post,
            "Create a task {title, description, assignee, due, remind_at, status, priority, tags, project}: 201",
            "201",
        ),
        (
            "/api/tasks",
            HttpMethod::Get,
            "The caller's visible tasks by due time, then creation (?mine, overdue, project, status, assignee, \
             tag, limit, after): {items, next}",
            "200",
        ),
        ("/api/tasks/{id}", HttpMethod::Get, "One task", "200"),
        (
            "/api/tasks/{id}",
            HttpMethod::Patch,
            "Change a task (the assignee: only its status); null clears due, remind_at, project",
            "200",
        ),
        (
            "/api/tasks/{id}",
            HttpMethod::Delete,
            "Delete a task (creator or admin): 204",
            "204",
        ),
    ];
    let mut paths = PathsBuilder::new();
    for (path, method, summary, ok) in table {
        paths = paths.path(path, PathItem::new(method, op(summary, ok)));
    }
    OpenApiBuilder::new().paths(paths.build()).build()
}
