//! The knowledge-base routes, under `/api/bots/{bot}/kbs`.
//!
//! Who may call them: searching needs a signed-in user (`user` role) whose credential may
//! use the bot (`Principal::can_use_bot`: an API key scoped to other bots may not);
//! everything else (listing knowledge bases and documents with their indexing status,
//! uploading, deleting, reindexing) needs `bot-admin` with an admin grant on that bot, or
//! `admin` (`Principal::can_admin_bot`, as the package admin routes), since it shows file
//! names and errors or changes the bot: 403 otherwise. An unknown bot is 404.
//!
//! Uploads are the raw file as the body (`PUT …/documents/{path}`, any content type; no
//! multipart), at most [`crate::extract::MAX_FILE_BYTES`] and within the server's
//! `server.body_limit_bytes` (10 MiB by default), written into the bot's
//! `<bot>.gbkb/<kb>/` folder through a hidden temporary file and a rename, so the indexer
//! never reads half a file. The indexer is woken at once and indexes it within seconds;
//! the document list shows its status.

use crate::extract;
use crate::ingest::{self, kb_root, valid_component};
use crate::kb::{KbService, RunStatus};
use crate::repo::{self, DocumentRow};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path as Param, Query, State};
use axum::http::StatusCode;
use botlib::{AppError, AppResult};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::ApiResult;
use botstate::BotInfo;
use botstate::auth::{Access, Principal, Role};
use botstate::services::{KbQuery, Passage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

type S = State<Arc<KbService>>;

/// The routes.
pub fn routes(kb: Arc<KbService>) -> Routes {
    let admin = Access::Role(Role::BotAdmin);
    let user = Access::Role(Role::User);
    Routes::new()
        .get("/api/bots/{bot}/kbs", admin, list_kbs)
        .get("/api/bots/{bot}/kbs/status", admin, status)
        .get("/api/bots/{bot}/kbs/search", user, search)
        .get("/api/bots/{bot}/kbs/{kb}/documents", admin, list_documents)
        .put("/api/bots/{bot}/kbs/{kb}/documents/{*path}", admin, upload)
        .delete(
            "/api/bots/{bot}/kbs/{kb}/documents/{*path}",
            admin,
            delete_document,
        )
        .post("/api/bots/{bot}/kbs/{kb}/reindex", admin, reindex)
        .with_state(kb)
}

fn admin_bot(kb: &KbService, p: &Principal, bot: &str) -> AppResult<Arc<BotInfo>> {
    if !p.can_admin_bot(bot) {
        return Err(AppError::Forbidden);
    }
    kb.bots().by_name(bot).ok_or(AppError::NotFound)
}

/// A document's state as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentStatus {
    /// Path inside the knowledge base.
    pub path: String,
    /// `new` (not seen by the indexer yet), `pending`, `indexed` or `failed`.
    pub status: String,
    /// Chunks stored.
    pub chunks: i64,
    /// Size in bytes.
    pub size: i64,
    /// Failed attempts since the content last changed.
    pub attempts: i64,
    /// When the next attempt may run (Unix milliseconds), while pending after a failure.
    pub next_attempt_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Whether vectors exist for it (`false`: lexical search only).
    pub embedded: bool,
    /// Last change of its row (Unix milliseconds).
    pub updated_ms: i64,
}

fn document_status(r: &DocumentRow) -> DocumentStatus {
    DocumentStatus {
        path: r.path.clone(),
        status: r.status.clone(),
        chunks: r.chunk_count,
        size: r.file_size.max(0),
        attempts: r.attempts,
        next_attempt_ms: (r.status == repo::PENDING && r.next_attempt_ms > 0).then_some(r.next_attempt_ms),
        last_error: r.last_error.clone(),
        embedded: r.status == repo::INDEXED
            && !r.vector_space.is_empty()
            && !r.vector_space.starts_with("none:"),
        updated_ms: r.updated_ms,
    }
}

/// Counts of one knowledge base.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct KbSummary {
    /// The knowledge base (folder name).
    pub name: String,
    /// Documents known to the indexer.
    pub documents: usize,
    /// Indexed.
    pub indexed: usize,
    /// Waiting for (re)indexing or a retry.
    pub pending: usize,
    /// Given up on.
    pub failed: usize,
    /// Chunks stored.
    pub chunks: i64,
}

async fn summaries(kb: &KbService, bot: &BotInfo) -> AppResult<Vec<KbSummary>> {
    let b = bot.id.to_string();
    let rows = kb.db().run(move |c| repo::documents(c, &b)).await?;
    let mut by: BTreeMap<String, KbSummary> = BTreeMap::new();
    if let Some(root) = kb_root(bot) {
        for name in ingest::list_kbs(&root) {
            by.entry(name.clone()).or_insert_with(|| KbSummary {
                name,
                ..Default::default()
            });
        }
    }
    for r in rows {
        let s = by.entry(r.kb.clone()).or_insert_with(|| KbSummary {
            name: r.kb.clone(),
            ..Default::default()
        });
        s.documents += 1;
        s.chunks += r.chunk_count;
        match r.status.as_str() {
            repo::INDEXED => s.indexed += 1,
            repo::FAILED => s.failed += 1,
            _ => s.pending += 1,
        }
    }
    Ok(by.into_values().collect())
}

/// `GET /api/bots/{bot}/kbs`: the bot's knowledge bases with counts.
async fn list_kbs(
    State(kb): S,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let bot = admin_bot(&kb, &p, &bot)?;
    let kbs = summaries(&kb, &bot).await?;
    Ok(Json(serde_json::json!({ "bot": bot.name, "kbs": kbs })))
}

/// `GET /api/bots/{bot}/kbs/status`: the indexer's state for the bot and the counts.
async fn status(
    State(kb): S,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let bot = admin_bot(&kb, &p, &bot)?;
    let kbs = summaries(&kb, &bot).await?;
    let run: RunStatus = kb.run_status(bot.id);
    Ok(Json(serde_json::json!({
        "bot": bot.name,
        "indexer": run,
        "embedding_model": bot.get("embedding-model"),
        "kbs": kbs,
    })))
}

/// `GET /api/bots/{bot}/kbs/{kb}/documents`: every document with its status, files not
/// seen by the indexer yet included (`new`).
async fn list_documents(
    State(kb): S,
    Caller(p): Caller,
    Param((bot, name)): Param<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let bot = admin_bot(&kb, &p, &bot)?;
    if !valid_component(&name) {
        return Err(AppError::NotFound.into());
    }
    let (b, k) = (bot.id.to_string(), name.clone());
    let rows = kb.db().run(move |c| repo::documents_of_kb(c, &b, &k)).await?;
    let mut docs: BTreeMap<String, DocumentStatus> = rows
        .iter()
        .map(|r| (r.path.clone(), document_status(r)))
        .collect();
    let dir = kb_root(&bot).map(|r| r.join(&name));
    let exists = dir.as_ref().is_some_and(|d| d.is_dir());
    if let Some(dir) = dir.filter(|d| d.is_dir()) {
        let files = tokio::task::spawn_blocking(move || ingest::list_files(&dir, usize::MAX))
            .await
            .map_err(AppError::internal)?;
        for f in files {
            docs.entry(f.path.clone()).or_insert(DocumentStatus {
                path: f.path,
                status: "new".into(),
                chunks: 0,
                size: f.size,
                attempts: 0,
                next_attempt_ms: None,
                last_error: None,
                embedded: false,
                updated_ms: f.mtime_ms,
            });
        }
    }
    if !exists && docs.is_empty() {
        return Err(AppError::NotFound.into());
    }
    Ok(Json(serde_json::json!({
        "bot": bot.name,
        "kb": name,
        "documents": docs.into_values().collect::<Vec<_>>(),
    })))
}

/// The file a document path names inside the bot's knowledge base, or why it cannot be.
fn document_file(bot: &BotInfo, kb: &str, path: &str) -> AppResult<(PathBuf, String)> {
    if !valid_component(kb) {
        return Err(AppError::bad_request("invalid knowledge base name"));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 16 || !parts.iter().all(|p| valid_component(p)) {
        return Err(AppError::bad_request(
            "invalid document path (no empty, hidden, `..` or `:` components)",
        ));
    }
    if !extract::is_supported(path) {
        return Err(AppError::bad_request(format!(
            "unsupported document type (supported: {})",
            extract::EXTENSIONS.join(", ")
        )));
    }
    let root = kb_root(bot).ok_or_else(|| AppError::Conflict("this bot has no package folder".into()))?;
    Ok((root.join(kb).join(path), parts.join("/")))
}

/// `PUT /api/bots/{bot}/kbs/{kb}/documents/{path}`: stores the body as the document.
async fn upload(
    State(kb): S,
    Caller(p): Caller,
    Param((bot, name, path)): Param<(String, String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let bot = admin_bot(&kb, &p, &bot)?;
    let (file, rel) = document_file(&bot, &name, &path)?;
    let limit = extract::MAX_FILE_BYTES;
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| AppError::PayloadTooLarge { limit_bytes: limit })?;
    let size = bytes.len();
    let replaced = tokio::task::spawn_blocking(move || -> AppResult<bool> {
        let dir = file.parent().ok_or(AppError::NotFound)?;
        std::fs::create_dir_all(dir).map_err(AppError::internal)?;
        if file.is_dir() {
            return Err(AppError::Conflict("a folder has that name".into()));
        }
        let replaced = file.is_file();
        let tmp = dir.join(format!(".upload-{}", botstate::cache::random_token()));
        std::fs::write(&tmp, &bytes).map_err(AppError::internal)?;
        std::fs::rename(&tmp, &file).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            AppError::internal(e)
        })?;
        Ok(replaced)
    })
    .await
    .map_err(AppError::internal)??;
    kb.wake();
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(serde_json::json!({ "kb": name, "path": rel, "size": size, "status": "pending" })),
    ))
}

/// `DELETE /api/bots/{bot}/kbs/{kb}/documents/{path}`: deletes the document's file; its
/// chunks and vectors go with the indexer's next pass (within seconds).
async fn delete_document(
    State(kb): S,
    Caller(p): Caller,
    Param((bot, name, path)): Param<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let bot = admin_bot(&kb, &p, &bot)?;
    let (file, _) = document_file(&bot, &name, &path)?;
    let removed = tokio::task::spawn_blocking(move || match std::fs::remove_file(&file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AppError::internal(e)),
    })
    .await
    .map_err(AppError::internal)??;
    if !removed {
        return Err(AppError::NotFound.into());
    }
    kb.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/bots/{bot}/kbs/{kb}/reindex`: every document of the knowledge base is read
/// and indexed again (failed ones too); answers at once.
async fn reindex(
    State(kb): S,
    Caller(p): Caller,
    Param((bot, name)): Param<(String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let bot = admin_bot(&kb, &p, &bot)?;
    if !valid_component(&name) {
        return Err(AppError::NotFound.into());
    }
    let n = kb.request_reindex(bot.id, Some(&name)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "kb": name, "documents": n })),
    ))
}

/// Search parameters.
#[derive(Debug, Deserialize)]
struct SearchParams {
    q: String,
    /// Knowledge bases, comma-separated; all when absent.
    kb: Option<String>,
    top_k: Option<usize>,
}

/// `GET /api/bots/{bot}/kbs/search?q=…[&kb=a,b][&top_k=n]`: the best passages.
async fn search(
    State(kb): S,
    Caller(p): Caller,
    Param(bot): Param<String>,
    Query(q): Query<SearchParams>,
) -> ApiResult<Json<serde_json::Value>> {
    if !p.can_use_bot(&bot) {
        return Err(AppError::Forbidden.into());
    }
    let info = kb.bots().by_name(&bot).ok_or(AppError::NotFound)?;
    if q.q.trim().is_empty() {
        return Err(AppError::bad_request("q (the question) is empty").into());
    }
    if q.q.len() > 4096 {
        return Err(AppError::bad_request("q is longer than 4096 bytes").into());
    }
    let query = KbQuery {
        bot: info.id,
        kbs: q
            .kb
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        query: q.q,
        top_k: q.top_k,
    };
    let passages: Vec<Passage> = kb.search_bot(&info, &query).await?;
    Ok(Json(
        serde_json::json!({ "bot": info.name, "passages": passages }),
    ))
}

/// The routes' entries in `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let op = |summary: &str, ok: (&str, &str), others: &[(&str, &str)]| -> OperationBuilder {
        let mut b = OperationBuilder::new()
            .summary(Some(summary))
            .tag("knowledge bases")
            .response(ok.0, ResponseBuilder::new().description(ok.1));
        for (code, what) in [("403", "Not allowed for this bot"), ("404", "No such bot")]
            .iter()
            .chain(others)
        {
            b = b.response(*code, ResponseBuilder::new().description(*what));
        }
        b
    };
    let docs = "/api/bots/{bot}/kbs/{kb}/documents/{path}";
    let paths = PathsBuilder::new()
        .path(
            "/api/bots/{bot}/kbs",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "The bot's knowledge bases: {bot, kbs: [{name, documents, indexed, pending, failed, chunks}]} (bot admins)",
                    ("200", "OK"),
                    &[],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}/kbs/status",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "Indexing status: {bot, indexer: {running, kb, done, total, last_pass_ms, last_error}, embedding_model, kbs} (bot admins)",
                    ("200", "OK"),
                    &[],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}/kbs/search",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "Search: ?q=question[&kb=a,b][&top_k=n] -> {bot, passages: [{kb, source, location, text, score}]} (signed-in users)",
                    ("200", "OK"),
                    &[("400", "No question")],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}/kbs/{kb}/documents",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "Documents with their status: {bot, kb, documents: [{path, status, chunks, size, attempts, next_attempt_ms, last_error, embedded, updated_ms}]} (bot admins)",
                    ("200", "OK"),
                    &[],
                )
                .build(),
            ),
        )
        .path(
            docs,
            PathItem::new(
                HttpMethod::Put,
                op(
                    "Upload a document (the raw file as the body; .md .txt .html .csv .json .docx .pdf); indexed within seconds (bot admins)",
                    ("201", "Stored: {kb, path, size, status}"),
                    &[
                        ("200", "Replaced; same body"),
                        ("400", "Bad name or unsupported type"),
                        ("413", "Over 20 MiB or the server's body limit"),
                    ],
                )
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/octet-stream", ContentBuilder::new().build())
                        .build(),
                ))
                .build(),
            ),
        )
        .path(
            docs,
            PathItem::new(
                HttpMethod::Delete,
                op(
                    "Delete a document; its chunks and vectors go within seconds (bot admins)",
                    ("204", "Deleted"),
                    &[],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}/kbs/{kb}/reindex",
            PathItem::new(
                HttpMethod::Post,
                op(
                    "Index every document of the knowledge base again, failed ones too: 202 {kb, documents} (bot admins)",
                    ("202", "Accepted"),
                    &[],
                )
                .build(),
            ),
        )
        .build();
    utoipa::openapi::OpenApiBuilder::new().paths(paths).build()
}
