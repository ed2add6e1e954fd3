//! The task list: people's to-do items (`tasks`), [`TaskService`], which is
//! `state.todos` (BASIC's `CREATE TASK` through botstate's `TaskList`) and what the REST
//! routes of [`crate::todo_api`] call.
//!
//! Every task belongs to an organization and is seen only inside it. Within it a task is
//! visible to its creator, its assignee (by user id, or by the caller's name for tasks a
//! script assigned by name or e-mail address; compared without case) and the
//! organization's `admin`s; to anyone else it does not exist (404). The creator and
//! admins may change everything and delete it; the assignee may change only its status
//! (403 for anything else).
//!
//! A task with `remind_ms` is reminded through the scheduler: an internal one-shot job
//! `task-reminder:<id>` (handler [`REMINDER_HANDLER`]) that runs on exactly one instance.
//! Setting, moving or clearing the time, finishing, cancelling, reopening or deleting the
//! task reschedules or cancels it. The reminder mails the assignee when it is an e-mail
//! address and mail is configured, publishes `{"task", "assignee", "title"}` on the
//! cache's pub/sub channel [`REMINDER_CHANNEL`] (other domains and instances listen
//! there), and records `reminded_ms`.
//!
//! Tasks a bot creates (`CREATE TASK`) belong to the organization named by the bot's
//! `organization` setting (`config.csv`, an organization id), read from the bot registry
//! given with [`TaskService::use_bots`]; a bot without that setting (or a service
//! without the registry) files them under the nil organization id
//! (`00000000-0000-0000-0000-000000000000`), where no signed-in user sees them. Whoever
//! administers a bot's package therefore chooses the organization its tasks land in.

use crate::runner::now_ms;
use crate::scheduler::{DbScheduler, KIND_INTERNAL, sj, sr};
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId, OrgId};
use botstate::auth::{Principal, Role};
use botstate::services::{Mailer, NewTask, OutgoingMail, TaskList};
use botstate::{AnyConnection, BotRegistry, Cache, Db, DbErr};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use std::sync::{Arc, OnceLock};

diesel::table! {
    tasks (id) {
        id -> Text,
        org_id -> Text,
        title -> Text,
        description -> Text,
        assignee -> Text,
        created_by -> Text,
        bot_id -> Nullable<Text>,
        due_ms -> Nullable<BigInt>,
        status -> Text,
        priority -> Text,
        tags -> Text,
        project -> Nullable<Text>,
        remind_ms -> Nullable<BigInt>,
        reminded_ms -> Nullable<BigInt>,
        created_ms -> BigInt,
        updated_ms -> BigInt,
    }
}

use tasks as t;

diesel::define_sql_function! {
    /// SQL `LOWER` (both backends).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// `COALESCE(ms, default)`: the sort key of an optional time.
    #[sql_name = "COALESCE"]
    fn or_ms(x: diesel::sql_types::Nullable<diesel::sql_types::BigInt>, y: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// A task's states.
pub const STATUSES: [&str; 4] = ["open", "in_progress", "done", "cancelled"];
/// A task's priorities, least urgent first.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Most tags on a task.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 50;
/// Longest assignee, in characters.
pub const MAX_ASSIGNEE: usize = 200;
/// Longest project name, in characters.
pub const MAX_PROJECT: usize = 100;
/// Largest page of a list.
pub const MAX_LIMIT: i64 = 200;
/// The scheduler handler that reminds.
pub const REMINDER_HANDLER: &str = "task-reminder";
/// The pub/sub channel reminders are published on.
pub const REMINDER_CHANNEL: &str = "tasks:reminder";
/// The latest time accepted (9999-12-31T23:59:59.999Z).
const MAX_MS: i64 = 253_402_300_799_999;

/// The scheduler key of a task's reminder.
pub fn reminder_key(id: &str) -> String {
    format!("task-reminder:{id}")
}

/// Whether a task in `status` still needs doing.
fn active(status: &str) -> bool {
    status == "open" || status == "in_progress"
}

/// One row of `tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tasks, treat_none_as_null = true)]
pub struct TaskRow {
    pub id: String,
    pub org_id: String,
    pub title: String,
    pub description: String,
    pub assignee: String,
    pub created_by: String,
    pub bot_id: Option<String>,
    pub due_ms: Option<i64>,
    pub status: String,
    pub priority: String,
    /// A JSON array of texts.
    pub tags: String,
    pub project: Option<String>,
    pub remind_ms: Option<i64>,
    pub reminded_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A task as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: String,
    /// A user id, or a name or e-mail address as a script wrote it.
    pub assignee: String,
    /// A user id, or `bot:<name>`.
    pub created_by: String,
    /// The bot that created it, if one did.
    pub bot_id: Option<String>,
    /// When it is due, Unix milliseconds.
    pub due_ms: Option<i64>,
    /// `open`, `in_progress`, `done` or `cancelled`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// Lower-case labels.
    pub tags: Vec<String>,
    pub project: Option<String>,
    /// When to remind the assignee, Unix milliseconds.
    pub remind_ms: Option<i64>,
    /// When the assignee was reminded.
    pub reminded_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Task {
        Task {
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            id: r.id,
            title: r.title,
            description: r.description,
            assignee: r.assignee,
            created_by: r.created_by,
            bot_id: r.bot_id,
            due_ms: r.due_ms,
            status: r.status,
            priority: r.priority,
            project: r.project,
            remind_ms: r.remind_ms,
            reminded_ms: r.reminded_ms,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        }
    }
}

/// A task to create, validated (see the `check_*` functions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskDraft {
    pub title: String,
    pub description: String,
    pub assignee: String,
    pub created_by: String,
    pub bot_id: Option<String>,
    pub due_ms: Option<i64>,
    pub status: String,
    pub priority: String,
    pub tags: Vec<String>,
    pub project: Option<String>,
    pub remind_ms: Option<i64>,
}

/// Changes to a task, validated; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<String>,
    pub due_ms: Option<Option<i64>>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub tags: Option<Vec<String>>,
    pub project: Option<Option<String>>,
    pub remind_ms: Option<Option<i64>>,
}

impl TaskPatch {
    /// The fields it changes other than the status.
    fn other_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut note = |set: bool, name: &'static str| {
            if set {
                out.push(name);
            }
        };
        note(self.title.is_some(), "title");
        note(self.description.is_some(), "description");
        note(self.assignee.is_some(), "assignee");
        note(self.due_ms.is_some(), "due");
        note(self.priority.is_some(), "priority");
        note(self.tags.is_some(), "tags");
        note(self.project.is_some(), "project");
        note(self.remind_ms.is_some(), "remind_at");
        out
    }
}

// ---------------------------------------------------------------------------------------
// Validation, shared by the REST routes and `TaskList::create`. Each error names its field.

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A title: required, at most [`MAX_TITLE`] characters, one line.
pub fn check_title(raw: &str) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(AppError::bad_request("`title` is required"));
    }
    if s.chars().count() > MAX_TITLE {
        return Err(AppError::bad_request(format!(
            "`title` is longer than {MAX_TITLE} characters"
        )));
    }
    if has_control(s) {
        return Err(AppError::bad_request(
            "`title` must be one line without control characters",
        ));
    }
    Ok(s.to_string())
}

/// A description: at most [`MAX_DESCRIPTION`] characters.
pub fn check_description(raw: &str) -> AppResult<String> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::bad_request(format!(
            "`description` is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(raw.to_string())
}

/// An assignee: a user id, a name or an e-mail address; one line of at most
/// [`MAX_ASSIGNEE`] characters.
pub fn check_assignee(raw: &str) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(AppError::bad_request("`assignee` must not be empty"));
    }
    if s.chars().count() > MAX_ASSIGNEE || has_control(s) {
        return Err(AppError::bad_request(format!(
            "`assignee` must be one line of at most {MAX_ASSIGNEE} characters"
        )));
    }
    Ok(s.to_string())
}

/// A project name (empty means none): one line of at most [`MAX_PROJECT`] characters.
pub fn check_project(raw: &str) -> AppResult<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_PROJECT || has_control(s) {
        return Err(AppError::bad_request(format!(
            "`project` must be one line of at most {MAX_PROJECT} characters"
        )));
    }
    Ok(Some(s.to_string()))
}

/// A status, one of [`STATUSES`].
pub fn check_status(raw: &str) -> AppResult<String> {
    let s = raw.trim().to_ascii_lowercase();
    if STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(AppError::bad_request(format!(
            "`status` is one of {}; got `{raw}`",
            STATUSES.join(", ")
        )))
    }
}

/// A priority, one of [`PRIORITIES`].
pub fn check_priority(raw: &str) -> AppResult<String> {
    let s = raw.trim().to_ascii_lowercase();
    if PRIORITIES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(AppError::bad_request(format!(
            "`priority` is one of {}; got `{raw}`",
            PRIORITIES.join(", ")
        )))
    }
}

/// Tags: at most [`MAX_TAGS`], each one line of 1 to [`MAX_TAG`] characters; kept
/// lower-case, without repeats, in their order.
pub fn check_tags(raw: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_TAG || has_control(&tag) {
            return Err(AppError::bad_request(format!(
                "`tags` holds texts of 1 to {MAX_TAG} characters"
            )));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AppError::bad_request(format!(
            "`tags` holds at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

/// A time in Unix milliseconds between 1970 and 9999 (`field` names it in the error).
pub fn check_ms(field: &str, ms: i64) -> AppResult<i64> {
    if (0..=MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(AppError::bad_request(format!(
            "`{field}` is out of range (Unix milliseconds from 1970 to 9999)"
        )))
    }
}

/// A time given as Unix milliseconds (a JSON integer) or an RFC 3339 text.
pub fn parse_time(field: &str, v: &serde_json::Value) -> AppResult<i64> {
    let bad = || {
        AppError::bad_request(format!(
            "`{field}` is a time: Unix milliseconds or RFC 3339 (2026-12-01T09:00:00Z)"
        ))
    };
    match v {
        serde_json::Value::Number(n) => check_ms(field, n.as_i64().ok_or_else(bad)?),
        serde_json::Value::String(s) => {
            let d = chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|_| bad())?;
            check_ms(field, d.timestamp_millis())
        }
        _ => Err(bad()),
    }
}

/// The checks of a whole draft (for drafts not built from checked parts).
fn check_draft(d: TaskDraft) -> AppResult<TaskDraft> {
    Ok(TaskDraft {
        title: check_title(&d.title)?,
        description: check_description(&d.description)?,
        assignee: check_assignee(&d.assignee)?,
        created_by: {
            let c = d.created_by.trim();
            if c.is_empty() || c.len() > MAX_ASSIGNEE || has_control(c) {
                return Err(AppError::bad_request(
                    "`created_by` must be a user id or bot:<name>",
                ));
            }
            c.to_string()
        },
        bot_id: d.bot_id,
        due_ms: d.due_ms.map(|ms| check_ms("due", ms)).transpose()?,
        status: check_status(&d.status)?,
        priority: check_priority(&d.priority)?,
        tags: check_tags(&d.tags)?,
        project: match d.project {
            Some(p) => check_project(&p)?,
            None => None,
        },
        remind_ms: d.remind_ms.map(|ms| check_ms("remind_at", ms)).transpose()?,
    })
}

// ---------------------------------------------------------------------------------------
// Who asks, and what they may see.

/// The caller as the task list sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// Their organization.
    pub org: String,
    /// Their user id.
    pub user: String,
    /// Their name (tasks a script assigned by name reach them through it).
    pub name: String,
    /// An organization `admin` (sees and changes every task of the organization).
    pub admin: bool,
}

impl Viewer {
    /// The viewer a principal is. A `bot-admin` is a user here.
    pub fn of(p: &Principal) -> Viewer {
        Viewer {
            org: p.org.to_string(),
            user: p.user.to_string(),
            name: p.name.trim().to_string(),
            admin: p.has_role(Role::Admin),
        }
    }
}

type Backend = <AnyConnection as diesel::Connection>::Backend;
type Cond = Box<dyn BoxableExpression<t::table, Backend, SqlType = diesel::sql_types::Bool>>;

/// Tasks created by or assigned to `v` (by user id, or by name without case).
fn mine(v: &Viewer) -> Cond {
    let by_name: Cond = if v.name.is_empty() {
        Box::new(t::assignee.eq(v.user.clone()))
    } else {
        Box::new(lower(t::assignee).eq(lower(v.name.clone())))
    };
    Box::new(
        t::created_by
            .eq(v.user.clone())
            .or(lower(t::assignee).eq(v.user.to_lowercase()))
            .or(by_name),
    )
}

/// The tasks `v` may see (narrowed to theirs with `only_mine`).
fn visible(v: &Viewer, only_mine: bool) -> Cond {
    let org = t::org_id.eq(v.org.clone());
    if v.admin && !only_mine {
        Box::new(org)
    } else {
        Box::new(org.and(mine(v)))
    }
}

fn load_visible(c: &mut AnyConnection, v: &Viewer, id: &str) -> Result<Option<TaskRow>, DbErr> {
    Ok(t::table
        .filter(t::id.eq(id.to_string()))
        .filter(visible(v, false))
        .select(TaskRow::as_select())
        .first(c)
        .optional()?)
}

/// How `v` may change a task they see: everything, or only its status.
fn may_change_all(v: &Viewer, row: &TaskRow) -> bool {
    v.admin || row.created_by == v.user
}

/// What a list asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only tasks assigned to or created by the caller (admins see all otherwise).
    pub mine: bool,
    /// Only tasks due before now and still open or in progress.
    pub overdue: bool,
    pub project: Option<String>,
    pub status: Option<String>,
    /// Matched without case.
    pub assignee: Option<String>,
    pub tag: Option<String>,
    /// Page size (1 to [`MAX_LIMIT`]).
    pub limit: i64,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskPage {
    /// Ordered by due time (tasks without one last), then creation.
    pub items: Vec<Task>,
    /// Pass as `after` for the next page; none on the last.
    pub next: Option<String>,
}

/// The position of a task in a list: (due or `i64::MAX`, created, id).
fn cursor_of(r: &TaskRow) -> String {
    format!("{}.{}.{}", r.due_ms.unwrap_or(i64::MAX), r.created_ms, r.id)
}

fn parse_cursor(s: &str) -> AppResult<(i64, i64, String)> {
    let bad = || AppError::bad_request("`after` is not a cursor from this list");
    let mut parts = s.splitn(3, '.');
    let due = parts.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let created = parts.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
    Ok((due, created, id.to_string()))
}

/// `%` `_` and `\` taken literally in a LIKE pattern escaped with `\`.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn list_rows(c: &mut AnyConnection, v: &Viewer, q: &TaskQuery, now: i64) -> Result<Vec<TaskRow>, DbErr> {
    let mut query = t::table
        .select(TaskRow::as_select())
        .filter(visible(v, q.mine))
        .into_boxed::<Backend>();
    if q.overdue {
        query = query
            .filter(t::due_ms.lt(now))
            .filter(t::status.eq_any(["open", "in_progress"]));
    }
    if let Some(p) = &q.project {
        query = query.filter(t::project.eq(p.clone()));
    }
    if let Some(s) = &q.status {
        query = query.filter(t::status.eq(s.clone()));
    }
    if let Some(a) = &q.assignee {
        query = query.filter(lower(t::assignee).eq(lower(a.clone())));
    }
    if let Some(tag) = &q.tag {
        // Tags are stored lower-case as a JSON array: match the quoted element.
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        query = query.filter(t::tags.like(format!("%{}%", like_literal(&quoted))).escape('\\'));
    }
    if let Some(after) = &q.after {
        let (due, created, id) = parse_cursor(after)?;
        let key = || or_ms(t::due_ms, i64::MAX);
        query = query.filter(
            key().gt(due).or(key().eq(due).and(
                t::created_ms
                    .gt(created)
                    .or(t::created_ms.eq(created).and(t::id.gt(id))),
            )),
        );
    }
    Ok(query
        .order((or_ms(t::due_ms, i64::MAX).asc(), t::created_ms.asc(), t::id.asc()))
        .limit(q.limit.clamp(1, MAX_LIMIT) + 1)
        .load(c)?)
}

// ---------------------------------------------------------------------------------------
// The service.

/// See the module documentation.
pub struct TaskService {
    db: Db,
    scheduler: Arc<DbScheduler>,
    cache: Arc<dyn Cache>,
    mailer: Arc<dyn Mailer>,
    bots: OnceLock<Arc<BotRegistry>>,
}

/// Whether a text looks like an e-mail address (worth mailing a reminder to).
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ';')
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

impl TaskService {
    /// The service; registers its reminder handler on `scheduler`.
    pub fn new(
        db: Db,
        scheduler: Arc<DbScheduler>,
        cache: Arc<dyn Cache>,
        mailer: Arc<dyn Mailer>,
    ) -> Arc<TaskService> {
        let service = Arc::new(TaskService {
            db,
            scheduler: scheduler.clone(),
            cache,
            mailer,
            bots: OnceLock::new(),
        });
        // Weak: the scheduler keeps the handler, the service keeps the scheduler.
        let weak = Arc::downgrade(&service);
        scheduler.register(
            REMINDER_HANDLER,
            Arc::new(move |payload: serde_json::Value| {
                let weak = weak.clone();
                Box::pin(async move {
                    let Some(service) = weak.upgrade() else {
                        return Ok("nothing to remind (the task list is gone)".to_string());
                    };
                    let id = payload
                        .get("task")
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| AppError::bad_request("a task reminder without a task id"))?;
                    service.remind(id).await
                })
            }),
        );
        service
    }

    /// The bot registry, read for a bot's `organization` setting when a bot creates a
    /// task. Without it, bots' tasks go to the nil organization.
    pub fn use_bots(&self, bots: Arc<BotRegistry>) {
        let _ = self.bots.set(bots);
    }

    /// The organization of tasks `bot` creates (see the module documentation).
    fn bot_org(&self, bot: Option<BotId>) -> AppResult<String> {
        let setting = bot
            .and_then(|b| self.bots.get().and_then(|r| r.get(b)))
            .and_then(|info| info.get("organization").map(str::to_string));
        match setting {
            None => Ok(OrgId(uuid::Uuid::nil()).to_string()),
            Some(s) => uuid::Uuid::parse_str(&s)
                .map(|u| OrgId(u).to_string())
                .map_err(|_| {
                    AppError::bad_request(format!(
                        "the bot's `organization` setting `{s}` is not an organization id"
                    ))
                }),
        }
    }

    /// Creates a task in `org` from a checked draft; schedules its reminder.
    pub async fn create(&self, org: &str, draft: TaskDraft) -> AppResult<Task> {
        let d = check_draft(draft)?;
        let now = now_ms();
        let row = TaskRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            org_id: org.to_string(),
            title: d.title,
            description: d.description,
            assignee: d.assignee,
            created_by: d.created_by,
            bot_id: d.bot_id,
            due_ms: d.due_ms,
            status: d.status,
            priority: d.priority,
            tags: serde_json::to_string(&d.tags).map_err(AppError::internal)?,
            project: d.project,
            remind_ms: d.remind_ms,
            reminded_ms: None,
            created_ms: now,
            updated_ms: now,
        };
        let saved = row.clone();
        self.db
            .write(move |c| {
                diesel::insert_into(t::table).values(&saved).execute(c)?;
                Ok(())
            })
            .await?;
        if row.remind_ms.is_some() && active(&row.status) {
            self.sync_reminder(&row).await?;
        }
        Ok(row.into())
    }

    /// A task `v` may see (404 otherwise).
    pub async fn get(&self, v: &Viewer, id: &str) -> AppResult<Task> {
        let (v, id) = (v.clone(), id.to_string());
        self.db
            .run(move |c| load_visible(c, &v, &id))
            .await?
            .map(Task::from)
            .ok_or(AppError::NotFound)
    }

    /// A page of the tasks `v` may see, filtered.
    pub async fn list(&self, v: &Viewer, q: &TaskQuery) -> AppResult<TaskPage> {
        let (v, q) = (v.clone(), q.clone());
        let limit = q.limit.clamp(1, MAX_LIMIT) as usize;
        let now = now_ms();
        let mut rows = self.db.run(move |c| list_rows(c, &v, &q, now)).await?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Ok(TaskPage {
            items: rows.into_iter().map(Task::from).collect(),
            next,
        })
    }

    /// Changes a task: its creator and admins change anything, its assignee only the
    /// status (403 otherwise); 404 when `v` does not see it. Reschedules or cancels the
    /// reminder when its time or the status changed.
    pub async fn update(&self, v: &Viewer, id: &str, patch: TaskPatch) -> AppResult<Task> {
        let (viewer, id) = (v.clone(), id.to_string());
        let (before, after) = self
            .db
            .write(move |c| {
                let Some(row) = load_visible(c, &viewer, &id)? else {
                    return Err(AppError::NotFound.into());
                };
                if !may_change_all(&viewer, &row) && !patch.other_fields().is_empty() {
                    return Err(AppError::Forbidden.into());
                }
                let mut next = row.clone();
                if let Some(x) = patch.title {
                    next.title = x;
                }
                if let Some(x) = patch.description {
                    next.description = x;
                }
                if let Some(x) = patch.assignee {
                    next.assignee = x;
                }
                if let Some(x) = patch.due_ms {
                    next.due_ms = x;
                }
                if let Some(x) = patch.status {
                    next.status = x;
                }
                if let Some(x) = patch.priority {
                    next.priority = x;
                }
                if let Some(x) = patch.tags {
                    next.tags = serde_json::to_string(&x).map_err(AppError::internal)?;
                }
                if let Some(x) = patch.project {
                    next.project = x;
                }
                if let Some(x) = patch.remind_ms
                    && x != row.remind_ms
                {
                    // A new time is a new reminder.
                    next.remind_ms = x;
                    next.reminded_ms = None;
                }
                if next != row {
                    next.updated_ms = now_ms().max(row.updated_ms);
                    diesel::update(t::table.find(&row.id)).set(&next).execute(c)?;
                }
                Ok((row, next))
            })
            .await?;
        if before.remind_ms != after.remind_ms || active(&before.status) != active(&after.status) {
            self.sync_reminder(&after).await?;
        }
        Ok(after.into())
    }

    /// Deletes a task (its creator or an admin; 403 for its assignee, 404 for others) and
    /// cancels its reminder.
    pub async fn delete(&self, v: &Viewer, id: &str) -> AppResult<()> {
        let (viewer, id) = (v.clone(), id.to_string());
        let row = self
            .db
            .write(move |c| {
                let Some(row) = load_visible(c, &viewer, &id)? else {
                    return Err(AppError::NotFound.into());
                };
                if !may_change_all(&viewer, &row) {
                    return Err(AppError::Forbidden.into());
                }
                diesel::delete(t::table.find(&row.id)).execute(c)?;
                Ok(row)
            })
            .await?;
        if row.remind_ms.is_some() {
            self.scheduler.cancel_internal(&reminder_key(&row.id)).await?;
        }
        Ok(())
    }

    /// Schedules the task's reminder when one is pending (a time, not yet reminded, the
    /// task still to do), else cancels it.
    async fn sync_reminder(&self, row: &TaskRow) -> AppResult<()> {
        let key = reminder_key(&row.id);
        match row.remind_ms {
            Some(at) if active(&row.status) && row.reminded_ms.is_none() => {
                let at = self.free_tick(&key, at).await?;
                self.scheduler
                    .schedule_internal(&key, at, REMINDER_HANDLER, json!({ "task": row.id }))
                    .await
            }
            _ => self.scheduler.cancel_internal(&key).await,
        }
    }

    /// `at`, or the first millisecond after it at which the reminder's job has not run
    /// yet: a job runs each due time once (runs are unique per job and time), so a
    /// reminder moved back to a time that already ran takes the next free millisecond.
    async fn free_tick(&self, key: &str, at: i64) -> AppResult<i64> {
        let key = key.to_string();
        self.db
            .run(move |c| {
                let job: Option<String> = sj::table
                    .filter(
                        sj::bot_id
                            .eq("")
                            .and(sj::name.eq(&key))
                            .and(sj::kind.eq(KIND_INTERNAL)),
                    )
                    .select(sj::id)
                    .first(c)
                    .optional()?;
                let Some(job) = job else { return Ok(at) };
                let taken: Vec<i64> = sr::table
                    .filter(sr::job_id.eq(&job).and(sr::due_ms.ge(at)))
                    .select(sr::due_ms)
                    .order(sr::due_ms.asc())
                    .limit(1000)
                    .load(c)?;
                let mut at = at;
                for due in taken {
                    if due == at {
                        at += 1;
                    } else if due > at {
                        break;
                    }
                }
                Ok(at)
            })
            .await
    }

    /// Runs a task's reminder (the scheduler's [`REMINDER_HANDLER`]); returns the line
    /// for the run's history.
    pub async fn remind(&self, id: &str) -> AppResult<String> {
        let task_id = id.to_string();
        let row = self
            .db
            .run(move |c| {
                Ok(t::table
                    .find(&task_id)
                    .select(TaskRow::as_select())
                    .first(c)
                    .optional()?)
            })
            .await?;
        let Some(row) = row else {
            return Ok("nothing to remind (the task was deleted)".into());
        };
        let now = now_ms();
        match row.remind_ms {
            _ if !active(&row.status) => {
                return Ok(format!("nothing to remind (the task is {})", row.status));
            }
            None => return Ok("nothing to remind (no reminder set)".into()),
            // Moved to a later time: scheduled again for it (normally the move already
            // did that; this also mends two moves whose schedulings crossed).
            Some(at) if at > now + 5_000 => {
                self.sync_reminder(&row).await?;
                return Ok(format!(
                    "nothing to remind yet (the reminder moved to {})",
                    fmt_ms(at)
                ));
            }
            _ if row.reminded_ms.is_some() => return Ok("nothing to remind (already reminded)".into()),
            Some(_) => {}
        }
        let mut mailed = false;
        // Mail only for tasks a bot made (its author chose the address, as with SEND
        // MAIL): a task made over REST could otherwise mail any address with any text.
        if row.bot_id.is_some() && looks_like_email(&row.assignee) {
            let mut text = format!("This is a reminder of your task \"{}\".\n", row.title);
            if let Some(due) = row.due_ms {
                text.push_str(&format!("Due: {}\n", fmt_ms(due)));
            }
            if let Some(p) = &row.project {
                text.push_str(&format!("Project: {p}\n"));
            }
            if !row.description.trim().is_empty() {
                text.push('\n');
                text.push_str(&row.description);
                text.push('\n');
            }
            let mail = OutgoingMail {
                bot: row
                    .bot_id
                    .as_deref()
                    .and_then(|b| uuid::Uuid::parse_str(b).ok())
                    .map(BotId),
                to: vec![row.assignee.clone()],
                subject: format!("Reminder: {}", row.title),
                text,
                ..Default::default()
            };
            match self.mailer.send(mail).await {
                Ok(_) => mailed = true,
                // No mail on this server: the published event is the reminder.
                Err(AppError::NotConfigured(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let (task_id, at) = (row.id.clone(), now);
        self.db
            .write(move |c| {
                diesel::update(t::table.find(&task_id).filter(t::reminded_ms.is_null()))
                    .set(t::reminded_ms.eq(Some(at)))
                    .execute(c)?;
                Ok(())
            })
            .await?;
        let event = json!({ "task": row.id, "assignee": row.assignee, "title": row.title });
        let mut line = format!("reminded {} of \"{}\"", row.assignee, row.title);
        if mailed {
            line.push_str(" by mail");
        }
        if let Err(e) = self
            .cache
            .publish(REMINDER_CHANNEL, event.to_string().as_bytes())
            .await
        {
            tracing::warn!(task = %row.id, error = %e, "tasks: a reminder could not be published");
            line.push_str(" (not published)");
        }
        Ok(line)
    }
}

#[async_trait]
impl TaskList for TaskService {
    async fn create(&self, task: NewTask) -> AppResult<String> {
        let org = self.bot_org(task.bot)?;
        let assignee = task
            .assignee
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| task.created_by.clone());
        let draft = TaskDraft {
            title: task.title,
            description: task.description,
            assignee,
            created_by: task.created_by,
            bot_id: task.bot.map(|b| b.to_string()),
            due_ms: task.due_ms,
            status: "open".into(),
            priority: "normal".into(),
            tags: Vec::new(),
            project: task.project,
            remind_ms: None,
        };
        Ok(TaskService::create(self, &org, draft).await?.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert!(check_title(" ").unwrap_err().public_message().contains("`title`"));
        assert!(
            check_title(&"x".repeat(201))
                .unwrap_err()
                .public_message()
                .contains("`title`")
        );
        assert_eq!(check_title(&"é".repeat(200)).unwrap(), "é".repeat(200));
        assert!(check_title("a\nb").is_err());
        assert!(
            check_description(&"x".repeat(10_001))
                .unwrap_err()
                .public_message()
                .contains("`description`")
        );
        assert!(
            check_status("later")
                .unwrap_err()
                .public_message()
                .contains("`status`")
        );
        assert_eq!(check_status("In_Progress").unwrap(), "in_progress");
        assert!(
            check_priority("meh")
                .unwrap_err()
                .public_message()
                .contains("`priority`")
        );
        let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(check_tags(&tags).unwrap_err().public_message().contains("`tags`"));
        assert!(check_tags(&["x".repeat(51)]).is_err());
        assert_eq!(
            check_tags(&["A".into(), "a".into(), "b".into()]).unwrap(),
            ["a", "b"]
        );
        assert_eq!(check_project("  ").unwrap(), None);
        assert!(
            parse_time("due", &json!(-1))
                .unwrap_err()
                .public_message()
                .contains("`due`")
        );
        assert!(
            parse_time("remind_at", &json!("tomorrow"))
                .unwrap_err()
                .public_message()
                .contains("`remind_at`")
        );
        assert_eq!(parse_time("due", &json!("1970-01-01T00:00:01Z")).unwrap(), 1000);
        assert_eq!(parse_time("due", &json!(5)).unwrap(), 5);
    }

    #[test]
    fn emails_and_cursors() {
        assert!(looks_like_email("ana@example.com"));
        assert!(!looks_like_email("Ana"));
        assert!(!looks_like_email("a@b"));
        assert!(!looks_like_email("a@b.com, c@d.com"));
        assert_eq!(parse_cursor("5.6.abc").unwrap(), (5, 6, "abc".to_string()));
        assert!(parse_cursor("x").is_err());
        assert_eq!(like_literal("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
