//! The drive's routes, under `/api/drive/{space}/…`, where `{space}` is `me` (the
//! caller's own files), `org` (the caller's organization's) or `bot:<name>` (a bot's: what
//! its scripts read and write).
//!
//! Who may do what: every route needs a signed-in user (`user` role; anonymous chat
//! visitors have no drive). `me` is the caller's alone. `org` may be read by any member
//! and changed by an `admin`. `bot:<name>` needs the right to administer that bot
//! (`Principal::can_admin_bot`); an unknown bot is 404. Setting a quota needs `admin`.
//! Share links (`GET /api/drive/shared/{token}`) are public: the signed token is the
//! credential.
//!
//! Uploads stream: `PUT …/files/{path}` takes the raw body, `POST …/upload` a multipart
//! form (each file part lands in `folder`). Neither is held in memory, both are exempt
//! from the server's body limit and response deadline, and both are bounded by
//! `drive.max_upload_bytes` (413), the space's quota (507) and an idle timeout of 60 s
//! between pieces. An upload that fails or is cut off leaves no file. The content type is
//! sniffed from the first bytes, then the name, then the declared header. Downloads
//! honour one `Range` (206, or 416 past the end) and `If-None-Match` (304); pages and
//! scripts (HTML, SVG, XML, JavaScript) are always sent as attachments, and every
//! download carries `Content-Security-Policy: sandbox`.

use crate::links::Share;
use crate::service::{Drive, FileInfo, Listing, TrashInfo};
use crate::space::{Space, clean_folder, clean_path};
use crate::tracked::Usage;
use crate::{range, sniff};
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path as Param, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botlib::{AppError, AppResult};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::{ApiResult, AppJson};
use botstate::auth::{Access, Principal, Role};
use botstate::services::{ByteStream, ObjectStore};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

type S = State<Arc<Drive>>;

/// Longest silence between two pieces of an upload.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// How long a presigned S3 URL that a share link redirects to stays valid.
const PRESIGNED_TTL: Duration = Duration::from_secs(60);

/// The routes.
pub fn routes(drive: Arc<Drive>) -> Routes {
    let user = Access::Role(Role::User);
    let files = "/api/drive/{space}/files/{*path}";
    Routes::new()
        .get("/api/drive/{space}", user, usage)
        .put("/api/drive/{space}/quota", Access::Role(Role::Admin), set_quota)
        .get("/api/drive/{space}/files", user, list)
        .get(files, user, download)
        .put(files, user, upload_raw)
        .delete(files, user, delete)
        .get("/api/drive/{space}/meta/{*path}", user, meta)
        .post("/api/drive/{space}/upload", user, upload_form)
        .post("/api/drive/{space}/folders", user, mkdir)
        .post("/api/drive/{space}/copy", user, copy)
        .post("/api/drive/{space}/move", user, move_path)
        .get("/api/drive/{space}/search", user, search)
        .get("/api/drive/{space}/trash", user, trash)
        .delete("/api/drive/{space}/trash", user, empty_trash)
        .post("/api/drive/{space}/trash/{id}/restore", user, restore)
        .delete("/api/drive/{space}/trash/{id}", user, purge_one)
        .get("/api/drive/{space}/shares", user, list_shares)
        .post("/api/drive/{space}/shares", user, create_share)
        .delete("/api/drive/{space}/shares/{id}", user, revoke_share)
        .get("/api/drive/shared/{token}", Access::Public, shared)
        .streaming("PUT", files)
        .streaming("POST", "/api/drive/{space}/upload")
        .with_state(drive)
}

/// Reading or changing a space.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Read,
    Write,
}

/// The space `{space}` names, if the caller may `want` it.
fn space(drive: &Drive, p: &Principal, name: &str, want: Want) -> AppResult<Space> {
    p.require(Role::User)?;
    match name {
        "me" => Ok(Space::User(p.user)),
        "org" => {
            if want == Want::Write {
                p.require(Role::Admin)?;
            }
            Ok(Space::Org(p.org))
        }
        other => {
            let Some(bot) = other.strip_prefix("bot:") else {
                return Err(AppError::bad_request(format!(
                    "unknown space `{other}` (me, org or bot:<name>)"
                )));
            };
            if !p.can_admin_bot(bot) {
                return Err(AppError::Forbidden);
            }
            let info = drive.bots.by_name(bot).ok_or(AppError::NotFound)?;
            Ok(Space::Bot(info.id))
        }
    }
}

/// `GET /api/drive/{space}`: bytes used (files, trash) and the quota.
async fn usage(State(d): S, Caller(p): Caller, Param(name): Param<String>) -> ApiResult<Json<Usage>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    Ok(Json(d.store.usage(&sp).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct QuotaBody {
    quota_bytes: u64,
}

/// `PUT /api/drive/{space}/quota` (admin): sets the space's quota.
async fn set_quota(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    AppJson(body): AppJson<QuotaBody>,
) -> ApiResult<Json<Usage>> {
    let sp = space(&d, &p, &name, Want::Write)?;
    let (id, q) = (sp.id(), i64::try_from(body.quota_bytes).unwrap_or(i64::MAX));
    d.db.write(move |c| crate::repo::set_quota(c, &id, q)).await?;
    Ok(Json(d.store.usage(&sp).await?))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    folder: String,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/drive/{space}/files?folder=&after=&limit=`: a page of files under a folder.
async fn list(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Listing>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    Ok(Json(
        d.list(&sp, &q.folder, q.after.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

/// `GET /api/drive/{space}/meta/{path}`: a file's metadata.
async fn meta(
    State(d): S,
    Caller(p): Caller,
    Param((name, path)): Param<(String, String)>,
) -> ApiResult<Json<FileInfo>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    Ok(Json(d.meta(&sp, &path).await?))
}

#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    download: bool,
}

/// `GET /api/drive/{space}/files/{path}`: the file, whole or one range.
async fn download(
    State(d): S,
    Caller(p): Caller,
    Param((name, path)): Param<(String, String)>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let sp = space(&d, &p, &name, Want::Read)?;
    let info = d.meta(&sp, &path).await?;
    Ok(send_file(&d, &sp.key(&info.path)?, &info, &headers, q.download).await?)
}

/// Streams a file as a response.
async fn send_file(
    d: &Drive,
    key: &str,
    info: &FileInfo,
    headers: &HeaderMap,
    attachment: bool,
) -> AppResult<Response> {
    let etag = format!("\"{}\"", info.etag.trim_matches('"'));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let wanted = range::parse(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        info.size,
    )?;
    let body = d.store.get_stream(key, wanted).await?;
    let content_type = info
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let file_name = info
        .path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .replace(['"', '\\'], "_");
    let disposition = if attachment || sniff::must_download(&content_type) {
        "attachment"
    } else {
        "inline"
    };
    let mut resp = Response::new(Body::from_stream(body.stream));
    let h = resp.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("invalid"));
    h.insert(header::CONTENT_TYPE, value(content_type));
    h.insert(header::ETAG, value(etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        value(format!("{disposition}; filename=\"{file_name}\"")),
    );
    match wanted {
        Some((start, end)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, value((end - start + 1).to_string()));
            h.insert(
                header::CONTENT_RANGE,
                value(format!("bytes {start}-{end}/{}", info.size)),
            );
        }
        None => {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, value(info.size.to_string()));
        }
    }
    Ok(resp)
}

/// A request body as a stream that fails after [`UPLOAD_IDLE`] of silence.
fn idle_bounded<S, E>(body: S) -> ByteStream
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let body = Box::pin(body);
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        match tokio::time::timeout(UPLOAD_IDLE, body.next()).await {
            Ok(Some(Ok(b))) => Some((Ok(b), body)),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e.to_string())), body)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the upload was silent for 60 s",
                )),
                body,
            )),
        }
    }))
}

/// The first bytes of `body` (to sniff its type) and the whole body again.
async fn peek(mut body: ByteStream) -> std::io::Result<(Vec<u8>, ByteStream)> {
    let mut head = Vec::new();
    let mut pieces = Vec::new();
    while head.len() < 512 {
        match body.next().await {
            Some(Ok(b)) => {
                head.extend_from_slice(&b[..b.len().min(512 - head.len())]);
                pieces.push(Ok(b));
            }
            Some(Err(e)) => return Err(e),
            // Ended: the stream must not be polled again.
            None => return Ok((head, Box::pin(futures_util::stream::iter(pieces)))),
        }
    }
    Ok((head, Box::pin(futures_util::stream::iter(pieces).chain(body))))
}

/// Stores a streamed upload at `path` of `space`.
async fn store_upload(
    d: &Drive,
    sp: &Space,
    path: &str,
    body: ByteStream,
    declared: Option<&str>,
) -> AppResult<FileInfo> {
    let path = clean_path(path)?;
    let (head, body) = peek(body)
        .await
        .map_err(|e| AppError::bad_request(format!("the upload failed: {e}")))?;
    let content_type = sniff::content_type(&path, &head, declared);
    let meta = d
        .store
        .put_stream(
            &sp.key(&path)?,
            body,
            Some(&content_type),
            d.config.max_upload_bytes,
        )
        .await?;
    Ok(FileInfo {
        path,
        size: meta.size,
        etag: meta.etag,
        content_type: Some(content_type),
        modified_ms: meta.modified_ms,
    })
}

/// Refuses at once a declared length over the upload limit or, for a file at `path`, over
/// the room its space has for it (the store enforces both again on the bytes).
async fn check_declared_length(
    d: &Drive,
    sp: &Space,
    path: Option<&str>,
    headers: &HeaderMap,
) -> AppResult<()> {
    let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(());
    };
    if n > d.config.max_upload_bytes {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: d.config.max_upload_bytes,
        });
    }
    if let Some(path) = path {
        let (room, usage) = d.store.allowance(sp, &clean_path(path)?).await?;
        if n > room {
            return Err(AppError::QuotaExceeded {
                quota_bytes: usage.quota_bytes,
                used_bytes: usage.used(),
            });
        }
    }
    Ok(())
}

/// `PUT /api/drive/{space}/files/{path}`: the body is the file (created or replaced).
async fn upload_raw(
    State(d): S,
    Caller(p): Caller,
    Param((name, path)): Param<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileInfo>)> {
    let sp = space(&d, &p, &name, Want::Write)?;
    check_declared_length(&d, &sp, Some(&path), &headers).await?;
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let existed = d.store.head(&sp.key(&path)?).await.is_ok();
    let info = store_upload(&d, &sp, &path, idle_bounded(body.into_data_stream()), declared).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(info)))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    folder: String,
}

/// `POST /api/drive/{space}/upload?folder=`: a multipart form; every part with a file
/// name is stored under `folder` by that name.
async fn upload_form(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<Vec<FileInfo>>)> {
    let sp = space(&d, &p, &name, Want::Write)?;
    // A form's length counts its boundaries too: only the upload limit is checked early.
    check_declared_length(&d, &sp, None, &headers).await?;
    let folder = clean_folder(&q.folder)?;
    let mut stored = Vec::new();
    loop {
        let next = tokio::time::timeout(UPLOAD_IDLE, form.next_field())
            .await
            .map_err(|_| AppError::bad_request("the upload was silent for 60 s"))?;
        let mut field = match next {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(AppError::bad_request(format!("malformed multipart form: {e}")).into()),
        };
        let Some(file_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        // Only the last segment of a browser-given name counts.
        let base = file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_string();
        let path = format!("{folder}{base}");
        let declared = field.content_type().map(str::to_string);
        // The part borrows the form: feed it through a channel to the 'static stream the
        // store reads, both driven here.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let rx: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let pump = async move {
            loop {
                let item = match tokio::time::timeout(UPLOAD_IDLE, field.chunk()).await {
                    Ok(Ok(Some(b))) => Ok(b),
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the upload was silent for 60 s",
                    )),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        };
        let (_, r) = tokio::join!(pump, store_upload(&d, &sp, &path, rx, declared.as_deref()));
        stored.push(r?);
    }
    if stored.is_empty() {
        return Err(AppError::bad_request("the form has no file part").into());
    }
    Ok((StatusCode::CREATED, Json(stored)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PathBody {
    path: String,
}

/// `POST /api/drive/{space}/folders` `{path}`: makes a folder.
async fn mkdir(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    AppJson(body): AppJson<PathBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let sp = space(&d, &p, &name, Want::Write)?;
    let folder = d.mkdir(&sp, &body.path).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "folder": folder }))))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TransferBody {
    from: String,
    to: String,
    /// The space to copy into (`me`, `org`, `bot:<name>`); this one when absent.
    to_space: Option<String>,
}

async fn transfer(d: &Drive, p: &Principal, name: &str, body: TransferBody, mv: bool) -> AppResult<usize> {
    let source = space(d, p, name, if mv { Want::Write } else { Want::Read })?;
    let dest = match &body.to_space {
        Some(other) => space(d, p, other, Want::Write)?,
        None => space(d, p, name, Want::Write)?,
    };
    d.transfer(&source, &body.from, &dest, &body.to, mv).await
}

/// `POST /api/drive/{space}/copy` `{from, to, to_space?}`: copies a file or a folder.
async fn copy(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    AppJson(body): AppJson<TransferBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let n = transfer(&d, &p, &name, body, false).await?;
    Ok(Json(serde_json::json!({ "copied": n })))
}

/// `POST /api/drive/{space}/move` `{from, to, to_space?}`: moves or renames.
async fn move_path(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    AppJson(body): AppJson<TransferBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let n = transfer(&d, &p, &name, body, true).await?;
    Ok(Json(serde_json::json!({ "moved": n })))
}

/// `DELETE /api/drive/{space}/files/{path}`: moves a file (or folder) to the trash.
async fn delete(
    State(d): S,
    Caller(p): Caller,
    Param((name, path)): Param<(String, String)>,
) -> ApiResult<Json<Vec<TrashInfo>>> {
    let sp = space(&d, &p, &name, Want::Write)?;
    Ok(Json(d.trash_path(&sp, &path, &p.user.to_string()).await?))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /api/drive/{space}/search?q=`: files whose path contains `q`.
async fn search(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<FileInfo>>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    Ok(Json(d.search(&sp, &q.q).await?))
}

/// `GET /api/drive/{space}/trash`.
async fn trash(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
) -> ApiResult<Json<Vec<TrashInfo>>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    Ok(Json(d.trash(&sp).await?))
}

/// `DELETE /api/drive/{space}/trash`: empties the trash.
async fn empty_trash(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let sp = space(&d, &p, &name, Want::Write)?;
    Ok(Json(serde_json::json!({ "purged": d.purge(&sp, None).await? })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct RestoreBody {
    /// Restore under this path instead of the original one.
    to: Option<String>,
}

/// `POST /api/drive/{space}/trash/{id}/restore` `{to?}`.
async fn restore(
    State(d): S,
    Caller(p): Caller,
    Param((name, id)): Param<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<FileInfo>> {
    let sp = space(&d, &p, &name, Want::Write)?;
    // The body is optional.
    let to = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Option<RestoreBody>>(&body)
            .map_err(|e| AppError::bad_request(format!("malformed body: {e}")))?
            .and_then(|b| b.to)
    };
    Ok(Json(d.restore(&sp, &id, to.as_deref()).await?))
}

/// `DELETE /api/drive/{space}/trash/{id}`: purges one entry.
async fn purge_one(
    State(d): S,
    Caller(p): Caller,
    Param((name, id)): Param<(String, String)>,
) -> ApiResult<StatusCode> {
    let sp = space(&d, &p, &name, Want::Write)?;
    d.purge(&sp, Some(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/drive/{space}/shares`.
async fn list_shares(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
) -> ApiResult<Json<Vec<Share>>> {
    let sp = space(&d, &p, &name, Want::Read)?;
    let id = sp.id();
    let rows = d.db.run(move |c| crate::repo::shares(c, &id)).await?;
    Ok(Json(rows.iter().map(|r| d.store.links().show(r)).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ShareBody {
    path: String,
    /// Lifetime in seconds (default one day, at most `drive.share_max_days`).
    expires_in_secs: Option<u64>,
}

/// `POST /api/drive/{space}/shares` `{path, expires_in_secs?}`: a new share link.
async fn create_share(
    State(d): S,
    Caller(p): Caller,
    Param(name): Param<String>,
    AppJson(body): AppJson<ShareBody>,
) -> ApiResult<(StatusCode, Json<Share>)> {
    let sp = space(&d, &p, &name, Want::Write)?;
    let info = d.meta(&sp, &body.path).await?;
    let ttl = Duration::from_secs(body.expires_in_secs.unwrap_or(86_400));
    let share = d
        .store
        .links()
        .create(&sp, &info.path, &p.user.to_string(), ttl)
        .await?;
    Ok((StatusCode::CREATED, Json(share)))
}

/// `DELETE /api/drive/{space}/shares/{id}`: revokes a link at once.
async fn revoke_share(
    State(d): S,
    Caller(p): Caller,
    Param((name, id)): Param<(String, String)>,
) -> ApiResult<StatusCode> {
    let sp = space(&d, &p, &name, Want::Write)?;
    let sid = sp.id();
    let now = crate::links::now_ms();
    if !d
        .db
        .write(move |c| crate::repo::revoke_share(c, &sid, &id, now))
        .await?
    {
        return Err(AppError::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/drive/shared/{token}` (public): the shared file. On S3 a redirect to a
/// presigned URL valid for a minute (the bytes do not pass through this server), else the
/// file itself.
async fn shared(State(d): S, Param(token): Param<String>, headers: HeaderMap) -> ApiResult<Response> {
    let row = d.store.links().resolve(&token).await?;
    let sp = Space::from_id(&row.space).ok_or(AppError::NotFound)?;
    let key = sp.key(&row.path)?;
    if let Some(url) = d.store.presign_get(&key, PRESIGNED_TTL).await? {
        return Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, url),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response());
    }
    let info = d.meta(&sp, &row.path).await?;
    Ok(send_file(&d, &key, &info, &headers, false).await?)
}

/// This domain's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{ResponseBuilder, path::Paths};
    let op = |summary: &str, ok: &str| {
        let mut b = OperationBuilder::new()
            .summary(Some(summary))
            .tag("drive")
            .response(ok, ResponseBuilder::new().description("OK"));
        for (code, what) in [
            ("400", "Bad path or input"),
            ("401", "Not signed in"),
            ("403", "Not allowed in this space"),
            ("404", "No such file, bot or entry"),
        ] {
            b = b.response(code, ResponseBuilder::new().description(what));
        }
        b
    };
    let table: &[(&str, HttpMethod, &str, &str)] = &[
        (
            "/api/drive/{space}",
            HttpMethod::Get,
            "Bytes used (files, trash) and the quota of a space (`me`, `org`, `bot:<name>`)",
            "200",
        ),
        (
            "/api/drive/{space}/quota",
            HttpMethod::Put,
            "Set a space's quota {quota_bytes} (admin)",
            "200",
        ),
        (
            "/api/drive/{space}/files",
            HttpMethod::Get,
            "A page of files under ?folder= (?after=, ?limit= up to 1000): {items, folders, next}",
            "200",
        ),
        (
            "/api/drive/{space}/files/{path}",
            HttpMethod::Get,
            "Download a file (Range, If-None-Match; ?download=true for an attachment)",
            "200",
        ),
        (
            "/api/drive/{space}/files/{path}",
            HttpMethod::Put,
            "Upload the raw body as the file (streamed; 413 over drive.max_upload_bytes, 507 over the quota)",
            "201",
        ),
        (
            "/api/drive/{space}/files/{path}",
            HttpMethod::Delete,
            "Move a file or folder to the trash",
            "200",
        ),
        (
            "/api/drive/{space}/meta/{path}",
            HttpMethod::Get,
            "A file's metadata {path, size, etag, content_type, modified_ms}",
            "200",
        ),
        (
            "/api/drive/{space}/upload",
            HttpMethod::Post,
            "Upload a multipart form's files into ?folder= (streamed)",
            "201",
        ),
        (
            "/api/drive/{space}/folders",
            HttpMethod::Post,
            "Make a folder {path}",
            "201",
        ),
        (
            "/api/drive/{space}/copy",
            HttpMethod::Post,
            "Copy a file or folder {from, to, to_space?}",
            "200",
        ),
        (
            "/api/drive/{space}/move",
            HttpMethod::Post,
            "Move or rename a file or folder {from, to, to_space?}",
            "200",
        ),
        (
            "/api/drive/{space}/search",
            HttpMethod::Get,
            "Files whose path contains ?q=",
            "200",
        ),
        (
            "/api/drive/{space}/trash",
            HttpMethod::Get,
            "The trash: [{id, path, size, deleted_ms, purge_ms}]",
            "200",
        ),
        (
            "/api/drive/{space}/trash",
            HttpMethod::Delete,
            "Empty the trash",
            "200",
        ),
        (
            "/api/drive/{space}/trash/{id}/restore",
            HttpMethod::Post,
            "Restore a trash entry {to?} (409 when a file is in the way)",
            "200",
        ),
        (
            "/api/drive/{space}/trash/{id}",
            HttpMethod::Delete,
            "Purge one trash entry",
            "204",
        ),
        (
            "/api/drive/{space}/shares",
            HttpMethod::Get,
            "The space's share links",
            "200",
        ),
        (
            "/api/drive/{space}/shares",
            HttpMethod::Post,
            "Make a share link {path, expires_in_secs?}: {id, url, expires_ms}",
            "201",
        ),
        (
            "/api/drive/{space}/shares/{id}",
            HttpMethod::Delete,
            "Revoke a share link",
            "204",
        ),
        (
            "/api/drive/shared/{token}",
            HttpMethod::Get,
            "Download through a share link (public; on S3 a redirect to a presigned URL)",
            "200",
        ),
    ];
    let mut paths = PathsBuilder::new();
    for (path, method, summary, ok) in table {
        paths = paths.path(*path, PathItem::new(method.clone(), op(summary, ok).build()));
    }
    let paths: Paths = paths.build();
    utoipa::openapi::OpenApiBuilder::new().paths(paths).build()
}
