//! The chat's HTTP side: `/api/chat/session` (ids for a socket), sessions and their history,
//! the public bot list, the socket routes, and the web chat page (embedded files).
//!
//! Routes are public at the router; each handler finds the caller (account token or
//! visitor id, see [`crate::identity`]) and serves only that caller's sessions.

use crate::identity::{self, Who};
use crate::store::{self, Message, Session};
use crate::turns::Chat;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botlib::AppError;
use botlib::protocol::AuthResponse;
use botserver_core::access::Routes;
use botserver_core::error::ApiResult;
use botstate::AppState;
use botstate::auth::Access;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The router's state.
#[derive(Clone)]
pub struct ChatApp {
    pub state: Arc<AppState>,
    pub chat: Arc<Chat>,
}

/// Messages one history request returns at most.
pub const MAX_PAGE: i64 = 500;

/// The chat page's policy: its own scripts and styles only; images from the web (bot
/// Markdown) but no other origin for anything else.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: http: data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// The routes.
pub fn routes(app: ChatApp) -> Routes {
    // Every route is public at the router: handlers serve only the caller's sessions.
    let public = Access::Public;
    Routes::new()
        .get("/", public, index_page)
        .get("/chat/{bot}", public, chat_page)
        .get("/assets/chat.js", public, chat_js)
        .get("/assets/chat.css", public, chat_css)
        .get("/api/chat/bots", public, list_bots)
        .get("/api/chat/bots/{bot}", public, get_bot)
        .get("/api/chat/session", public, open_session)
        .get("/ws", public, crate::socket::ws_root)
        .get("/ws/{bot}", public, crate::socket::ws_bot)
        .get("/api/sessions", public, list_sessions)
        .get("/api/sessions/{id}", public, get_session)
        .delete("/api/sessions/{id}", public, delete_session)
        .get("/api/sessions/{id}/messages", public, messages)
        .with_state(app)
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index_page() -> Response {
    page(include_str!("../assets/index.html"), "text/html; charset=utf-8")
}

async fn chat_page(State(app): State<ChatApp>, Path(bot): Path<String>) -> Response {
    if app.chat.bot(&bot).is_none() {
        return botserver_core::error::ApiError(AppError::NotFound).into_response();
    }
    page(include_str!("../assets/chat.html"), "text/html; charset=utf-8")
}

async fn chat_js() -> Response {
    page(
        include_str!("../assets/chat.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn chat_css() -> Response {
    page(include_str!("../assets/chat.css"), "text/css; charset=utf-8")
}

/// A bot as the picker shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicBot {
    pub id: String,
    pub name: String,
    pub title: String,
    pub description: String,
    /// `theme-*` keys of its config.csv.
    pub theme: std::collections::BTreeMap<String, String>,
}

fn public(b: botstate::services::BotProfile) -> PublicBot {
    PublicBot {
        id: b.id.to_string(),
        name: b.name,
        title: b.title,
        description: b.description,
        theme: b.theme,
    }
}

/// The bots anyone may talk to.
#[utoipa::path(get, path = "/api/chat/bots", tag = "chat",
    responses((status = 200, body = Vec<PublicBot>)))]
pub async fn list_bots(State(app): State<ChatApp>) -> Json<Vec<PublicBot>> {
    Json(app.chat.dialogs.bots().into_iter().map(public).collect())
}

/// One bot's public profile (title, description, theme).
#[utoipa::path(get, path = "/api/chat/bots/{bot}", tag = "chat",
    params(("bot" = String, Path)),
    responses((status = 200, body = PublicBot), (status = 404)))]
pub async fn get_bot(State(app): State<ChatApp>, Path(bot): Path<String>) -> ApiResult<Json<PublicBot>> {
    Ok(Json(public(app.chat.bot(&bot).ok_or(AppError::NotFound)?)))
}

/// Query of `/api/chat/session`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuthQuery {
    /// The bot to talk to.
    pub bot_name: String,
    /// A visitor id given before (to keep one identity across sessions).
    pub user_id: Option<String>,
    /// A session to resume.
    pub session_id: Option<String>,
}

/// The ids a client opens its socket with (the shape of `GET /api/auth`): a new session,
/// or the one given when the caller owns it (`status`: `new` or `resumed`). Without a
/// token the caller is a visitor, and the `user_id` returned is the visitor's credential.
#[utoipa::path(get, path = "/api/chat/session", tag = "chat", params(AuthQuery),
    responses((status = 200, body = Object), (status = 400), (status = 401)))]
pub async fn open_session(
    State(app): State<ChatApp>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<AuthQuery>,
    client: Option<axum::Extension<botserver_core::ClientIp>>,
) -> ApiResult<Json<AuthResponse>> {
    let who = identity::identify(
        &app,
        &headers,
        &method,
        None,
        q.user_id.as_deref(),
        q.session_id.as_deref(),
    )
    .await?;
    if let Some(id) = q.session_id.as_deref().filter(|s| !s.is_empty()) {
        match identity::owned_session(&app, &who, id).await {
            Ok(s) if s.bot_name.eq_ignore_ascii_case(&q.bot_name) => {
                return Ok(Json(AuthResponse {
                    user_id: s.user_id,
                    session_id: s.id,
                    bot_id: s.bot_id,
                    bot_name: s.bot_name,
                    status: "resumed".into(),
                }));
            }
            // Not the caller's (or gone, or another bot's): a new session instead.
            Ok(_) | Err(AppError::NotFound) | Err(AppError::Unauthorized) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let ip = client.map(|c| c.0.0);
    let (s, _) = identity::new_session(&app, &q.bot_name, who, ip).await?;
    Ok(Json(AuthResponse {
        user_id: s.user_id,
        session_id: s.id,
        bot_id: s.bot_id,
        bot_name: s.bot_name,
        status: "new".into(),
    }))
}

/// Identifies a visitor by `user_id` in the query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct Visitor {
    /// The visitor id (callers with a token leave it out).
    pub user_id: Option<String>,
}

async fn caller(
    app: &ChatApp,
    method: &Method,
    headers: &HeaderMap,
    user_id: Option<&str>,
    session_id: Option<&str>,
) -> ApiResult<Who> {
    identity::identify(app, headers, method, None, user_id, session_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized.into())
}

/// The caller's sessions, most recent first.
#[utoipa::path(get, path = "/api/sessions", tag = "chat", params(Visitor),
    responses((status = 200, body = Vec<Session>), (status = 401)))]
pub async fn list_sessions(
    State(app): State<ChatApp>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<Visitor>,
) -> ApiResult<Json<Vec<Session>>> {
    let who = caller(&app, &method, &headers, q.user_id.as_deref(), None).await?;
    let (user, anonymous) = match who {
        Who::Account(u) => (u, false),
        Who::Visitor(u) => (u, true),
    };
    let list = app
        .chat
        .db
        .run(move |c| store::sessions_of(c, &user, anonymous, 200))
        .await?;
    Ok(Json(list))
}

/// One of the caller's sessions.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "chat", params(("id" = String, Path), Visitor),
    responses((status = 200, body = Session), (status = 401), (status = 404)))]
pub async fn get_session(
    State(app): State<ChatApp>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Visitor>,
) -> ApiResult<Json<Session>> {
    let who = Some(caller(&app, &method, &headers, q.user_id.as_deref(), Some(&id)).await?);
    Ok(Json(identity::owned_session(&app, &who, &id).await?))
}

/// Deletes one of the caller's sessions: its messages and its dialog state.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "chat", params(("id" = String, Path), Visitor),
    responses((status = 204), (status = 401), (status = 404)))]
pub async fn delete_session(
    State(app): State<ChatApp>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Visitor>,
) -> ApiResult<StatusCode> {
    let who = Some(caller(&app, &method, &headers, q.user_id.as_deref(), Some(&id)).await?);
    let s = identity::owned_session(&app, &who, &id).await?;
    // The log first: a turn still running then finds no session and stores nothing, and
    // cannot start the dialog again after it is forgotten.
    let sid = s.id.clone();
    app.chat.db.write(move |c| store::delete_session(c, &sid)).await?;
    app.chat.hub.cancel_stream(&s.id).await;
    if let Ok(sid) = s.id.parse() {
        match app.chat.dialogs.forget(sid).await {
            Ok(_) | Err(AppError::NotConfigured(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the history route.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct After {
    /// Only messages after this id (0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many (default and maximum 500).
    pub limit: Option<i64>,
    /// The visitor id (callers with a token leave it out).
    pub user_id: Option<String>,
}

/// A page of history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct History {
    pub messages: Vec<Message>,
}

/// The session's messages after `after`, oldest first: what a reconnecting client missed.
#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "chat", params(("id" = String, Path), After),
    responses((status = 200, body = History), (status = 401), (status = 404)))]
pub async fn messages(
    State(app): State<ChatApp>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<After>,
) -> ApiResult<Json<History>> {
    let who = Some(caller(&app, &method, &headers, q.user_id.as_deref(), Some(&id)).await?);
    let s = identity::owned_session(&app, &who, &id).await?;
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let after = q.after.max(0);
    let messages = app
        .chat
        .db
        .run(move |c| store::messages_after(c, &s.id, after, limit))
        .await?;
    Ok(Json(History { messages }))
}

/// The chat's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_bots,
        get_bot,
        open_session,
        list_sessions,
        get_session,
        delete_session,
        messages
    ),
    components(schemas(PublicBot, Session, Message, History))
)]
pub struct ChatApi;
