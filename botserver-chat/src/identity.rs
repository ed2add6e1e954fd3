//! Who is chatting, in this order:
//! 1. a token (bearer, API key, or `access_token` on a socket upgrade): that account;
//! 2. the `user_id` and `session_id` that the auth domain's `GET /api/auth` gave an
//!    anonymous visitor (General Bots clients know only those), checked by the
//!    authenticator: that visitor's account;
//! 3. a visitor id the chat issued itself (`GET /api/chat/session` without a token):
//!    presenting it is the visitor's credential.
//!
//! An account's id is never accepted as a chat visitor id, so knowing someone's user id
//! gives nothing.

use crate::api::ChatApp;
use crate::store::{self, Session, now_ms};
use axum::http::{HeaderMap, Method};
use botlib::{AppError, AppResult};
use botserver_core::access::presented_token;
use botstate::auth::Credential;
use std::net::IpAddr;

/// The caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// An authenticated account (user id).
    Account(String),
    /// A visitor id this server issued.
    Visitor(String),
}

impl Who {
    fn id(&self) -> &str {
        match self {
            Who::Account(u) | Who::Visitor(u) => u,
        }
    }
}

/// The caller of a request (see the module's rules), or nobody (`None`). A token that is
/// not valid is refused (401). `session_id` is the session the request is about.
pub async fn identify(
    app: &ChatApp,
    headers: &HeaderMap,
    method: &Method,
    query: Option<&str>,
    user_id: Option<&str>,
    session_id: Option<&str>,
) -> AppResult<Option<Who>> {
    if let Some(token) = presented_token(headers, method, query) {
        let p = app.state.auth.authenticate(token).await.map_err(|e| match e {
            AppError::NotConfigured(_) => AppError::Unauthorized,
            e => e,
        })?;
        return Ok(Some(Who::Account(p.user.to_string())));
    }
    let Some(u) = user_id.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if let Some(sid) = session_id.filter(|s| !s.is_empty()) {
        match app.state.auth.visitor(u, sid).await {
            Ok(p) => return Ok(Some(Who::Account(p.user.to_string()))),
            Err(AppError::Unauthorized | AppError::NotConfigured(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // Only ids in the visitor shape are looked up: bounded input, one index probe.
    if uuid::Uuid::parse_str(u).is_err() {
        return Ok(None);
    }
    let id = u.to_string();
    let visitor = app.chat.db.run(move |c| store::is_visitor(c, &id)).await?;
    Ok(visitor.then(|| Who::Visitor(u.to_string())))
}

/// `true` when the caller may start a conversation under the id `session`: it is the
/// caller's own sign-in session (the token's, or the visitor pair's checked by the
/// authenticator), so nobody can take an id someone else will open.
pub async fn may_open_as(
    app: &ChatApp,
    headers: &HeaderMap,
    method: &Method,
    query: Option<&str>,
    user_id: Option<&str>,
    session: &str,
) -> bool {
    if let Some(token) = presented_token(headers, method, query) {
        return match app.state.auth.authenticate(token).await {
            Ok(p) => matches!(p.credential, Credential::Session { session: ref s } if s == session),
            Err(_) => false,
        };
    }
    match user_id {
        Some(u) => app.state.auth.visitor(u, session).await.is_ok(),
        None => false,
    }
}

/// `true` when `who` owns session `s`.
pub fn owns(who: &Option<Who>, s: &Session) -> bool {
    match who {
        Some(Who::Account(u)) => !s.anonymous && &s.user_id == u,
        Some(Who::Visitor(u)) => s.anonymous && &s.user_id == u,
        None => false,
    }
}

/// Session `id` if `who` owns it; 404 otherwise (another's session does not exist for you).
pub async fn owned_session(app: &ChatApp, who: &Option<Who>, id: &str) -> AppResult<Session> {
    match find_session(app, id).await? {
        Some(s) if owns(who, &s) => Ok(s),
        Some(_) if who.is_none() => Err(AppError::Unauthorized),
        _ => Err(AppError::NotFound),
    }
}

/// Session `id`, whoever owns it.
pub async fn find_session(app: &ChatApp, id: &str) -> AppResult<Option<Session>> {
    let sid = id.to_string();
    app.chat.db.run(move |c| store::session(c, &sid)).await
}

/// New visitors (sessions without any identity) one address may start per hour. Part of
/// the per-IP flood protection: off when `server.rate_limit.per_second` is 0.
pub const NEW_VISITORS_PER_IP_PER_HOUR: i64 = 1_000;

/// A new session of bot `bot` for `who`; nobody becomes a new visitor, at most
/// [`NEW_VISITORS_PER_IP_PER_HOUR`] from one address `ip` (429 beyond). Returns the
/// session and the caller it belongs to.
pub async fn new_session(
    app: &ChatApp,
    bot: &str,
    who: Option<Who>,
    ip: Option<IpAddr>,
) -> AppResult<(Session, Who)> {
    if who.is_none() && app.state.config.server.rate_limit.per_second > 0 {
        let hour = now_ms() / 3_600_000;
        let ip = ip.map_or_else(|| "unknown".to_string(), |i| i.to_string());
        let key = format!("chat:new-visitors:{ip}:{hour}");
        let n = app
            .chat
            .cache
            .incr(&key, 1, Some(std::time::Duration::from_secs(3_700)))
            .await?;
        if n > NEW_VISITORS_PER_IP_PER_HOUR {
            return Err(AppError::RateLimited {
                retry_after_secs: (3_600 - (now_ms() / 1000) % 3_600) as u64,
            });
        }
    }
    new_session_with_id(app, bot, who, uuid::Uuid::new_v4().to_string()).await
}

/// Like [`new_session`], under a given id (the auth session id a General Bots client
/// opens its socket with).
pub async fn new_session_with_id(
    app: &ChatApp,
    bot: &str,
    who: Option<Who>,
    id: String,
) -> AppResult<(Session, Who)> {
    let profile = app
        .chat
        .bot(bot)
        .ok_or_else(|| AppError::BadRequest(format!("no bot named {bot:?} is loaded")))?;
    let who = who.unwrap_or_else(|| Who::Visitor(uuid::Uuid::new_v4().to_string()));
    let now = now_ms();
    let s = Session {
        id,
        bot_id: profile.id.to_string(),
        bot_name: profile.name,
        user_id: who.id().to_string(),
        anonymous: matches!(who, Who::Visitor(_)),
        channel: "web".into(),
        started: false,
        created_at: now,
        updated_at: now,
    };
    let row = s.clone();
    app.chat.db.write(move |c| store::create_session(c, &row)).await?;
    Ok((s, who))
}
