//! Who is chatting. A caller with a token (bearer, API key, or `access_token` on a socket
//! upgrade) is that account. A caller without one is a visitor: the server issues a random
//! visitor id with the visitor's first session, and presenting that id is the visitor's
//! credential (the General Bots clients only know ids). An account's id is never accepted
//! as a visitor id, so knowing someone's account id gives nothing.

use crate::api::ChatApp;
use crate::store::{self, Session, now_ms};
use axum::http::{HeaderMap, Method};
use botlib::{AppError, AppResult};
use botserver_core::access::presented_token;

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

/// The caller of a request: the account its token names, else the visitor whose id it
/// gives (`user_id`), else nobody (`None`). A token that is not valid is refused (401).
pub async fn identify(
    app: &ChatApp,
    headers: &HeaderMap,
    method: &Method,
    query: Option<&str>,
    user_id: Option<&str>,
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
    // Only ids in the visitor shape are looked up: bounded input, one index probe.
    if uuid::Uuid::parse_str(u).is_err() {
        return Ok(None);
    }
    let id = u.to_string();
    let visitor = app.chat.db.run(move |c| store::is_visitor(c, &id)).await?;
    Ok(visitor.then(|| Who::Visitor(u.to_string())))
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
    let sid = id.to_string();
    let s = app.chat.db.run(move |c| store::session(c, &sid)).await?;
    match s {
        Some(s) if owns(who, &s) => Ok(s),
        Some(_) if who.is_none() => Err(AppError::Unauthorized),
        _ => Err(AppError::NotFound),
    }
}

/// A new session of bot `bot` for `who` (a new visitor when nobody). Returns it and the
/// caller it belongs to.
pub async fn new_session(app: &ChatApp, bot: &str, who: Option<Who>) -> AppResult<(Session, Who)> {
    let profile = app
        .chat
        .bot(bot)
        .ok_or_else(|| AppError::BadRequest(format!("no bot named {bot:?} is loaded")))?;
    let who = who.unwrap_or_else(|| Who::Visitor(uuid::Uuid::new_v4().to_string()));
    let now = now_ms();
    let s = Session {
        id: uuid::Uuid::new_v4().to_string(),
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
    app.chat.db.run(move |c| store::create_session(c, &row)).await?;
    Ok((s, who))
}
