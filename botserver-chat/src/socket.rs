//! The WebSocket endpoint (`/ws`, `/ws/{bot}`): the spec's protocol. The socket task only
//! reads, stores and forwards; turns run in their own tasks, so a slow turn never stops the
//! socket reading (and a new message can cancel an answer still streaming).

use crate::api::ChatApp;
use crate::identity::{self, Who};
use crate::store::{self, Session, Stored};
use crate::turns::event_frame;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use botlib::AppError;
use botlib::protocol::{ClientMessage, MessageType, ServerEvent};
use botserver_core::error::ApiResult;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// Largest frame a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8_000;
/// Messages a socket may send in a burst…
pub const RATE_BURST: f64 = 30.0;
/// …and per second after it.
pub const RATE_PER_SEC: f64 = 10.0;
/// The server pings this often…
const PING_EVERY: Duration = Duration::from_secs(25);
/// …and closes a socket it has heard nothing from for this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// Close code: the client fell too far behind (it reconnects and fetches the log).
const CLOSE_BEHIND: u16 = 4000;
/// Close code: the session was deleted.
const CLOSE_GONE: u16 = 4004;

/// Query of the upgrade request.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub bot_name: Option<String>,
}

/// `GET /ws?session_id=..&user_id=..&bot_name=..`
pub async fn ws_root(
    State(app): State<ChatApp>,
    parts: Parts,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let bot = q.bot_name.clone();
    upgrade(app, &parts, q, bot, ws).await
}

/// `GET /ws/{bot}`
pub async fn ws_bot(
    State(app): State<ChatApp>,
    Path(bot): Path<String>,
    parts: Parts,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    upgrade(app, &parts, q, Some(bot), ws).await
}

async fn upgrade(
    app: ChatApp,
    parts: &Parts,
    q: WsQuery,
    bot: Option<String>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let (headers, method, query) = (&parts.headers, &parts.method, parts.uri.query());
    let client = parts.extensions.get::<botserver_core::ClientIp>().map(|c| c.0);
    let who = identity::identify(
        &app,
        headers,
        method,
        query,
        q.user_id.as_deref(),
        q.session_id.as_deref(),
    )
    .await?;
    let session = match &q.session_id {
        // A session id the chat has not seen, from an authenticated caller (the auth
        // session of a General Bots client): the conversation starts under that id.
        Some(id)
            if matches!(who, Some(Who::Account(_)))
                && uuid::Uuid::parse_str(id).is_ok()
                && identity::find_session(&app, id).await?.is_none()
                && identity::may_open_as(&app, headers, method, query, q.user_id.as_deref(), id).await =>
        {
            let name = bot.ok_or_else(|| AppError::BadRequest("bot_name is required".into()))?;
            identity::new_session_with_id(&app, &name, who, id.clone())
                .await?
                .0
        }
        Some(id) => {
            let s = identity::owned_session(&app, &who, id).await?;
            if bot
                .as_deref()
                .is_some_and(|b| !b.eq_ignore_ascii_case(&s.bot_name))
            {
                return Err(AppError::BadRequest("this session belongs to another bot".into()).into());
            }
            s
        }
        None => {
            let name =
                bot.ok_or_else(|| AppError::BadRequest("bot_name or session_id is required".into()))?;
            identity::new_session(&app, &name, who, client).await?.0
        }
    };
    Ok(ws
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Small buffers: an idle socket costs a few KiB, not the 128 KiB default.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let state = app.state.clone();
            botserver_core::ws::run_socket(&state, socket, move |mut handle| async move {
                session_loop(app, session, handle.socket()).await;
            })
            .await
        }))
}

/// A token bucket: the per-socket message rate.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * RATE_PER_SEC).min(RATE_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Unregisters the socket however the loop ends.
struct Registered {
    app: ChatApp,
    session: String,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.app.chat.hub.unregister(&self.session, self.id);
        self.app.chat.metrics.sockets.dec();
    }
}

async fn session_loop(app: ChatApp, s: Session, socket: &mut WebSocket) {
    let reg = app.chat.hub.register(&s.id);
    app.chat.metrics.sockets.inc();
    let mut frames = reg.frames;
    let me = Registered {
        app: app.clone(),
        session: s.id.clone(),
        id: reg.id,
    };
    let hello = event_frame(&ServerEvent::Connected {
        session_id: s.id.clone(),
        user_id: s.user_id.clone(),
        bot_id: s.bot_id.clone(),
    });
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    // The start (first connection) or anything left pending by a crash.
    tokio::spawn(app.chat.clone().drain(s.id.clone()));
    let mut bucket = Bucket {
        tokens: RATE_BURST,
        at: Instant::now(),
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            msg = socket.recv() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        let reply = on_text(&app, &s, me.id, &mut bucket, t.as_str()).await;
                        match reply {
                            Ok(None) => {}
                            Ok(Some(frame)) => {
                                if socket.send(Message::Text(frame.into())).await.is_err() {
                                    break;
                                }
                            }
                            Err(()) => {
                                close(socket, CLOSE_GONE, "session deleted").await;
                                break;
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let e = event_frame(&ServerEvent::Error { message: "frames are JSON text".into() });
                        if socket.send(Message::Text(e.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                }
            }
            frame = frames.recv() => match frame {
                Some(f) => {
                    if socket.send(Message::Text(f)).await.is_err() {
                        break;
                    }
                }
                None => {
                    close(socket, CLOSE_BEHIND, "too far behind; reconnect").await;
                    break;
                }
            },
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT {
                    close(socket, 1001, "no keep-alive").await;
                    break;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(me);
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

fn error(message: impl Into<String>) -> Option<String> {
    Some(event_frame(&ServerEvent::Error {
        message: message.into(),
    }))
}

/// One client frame: checked, stored, and its turn started. Returns a frame for this
/// socket only (an error), or `Err` when the session is gone.
async fn on_text(
    app: &ChatApp,
    s: &Session,
    socket_id: u64,
    bucket: &mut Bucket,
    text: &str,
) -> Result<Option<String>, ()> {
    if !bucket.take() {
        return Ok(error("too many messages; wait a moment and send again"));
    }
    let frame: ClientMessage = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => return Ok(error(format!("bad frame: {e}"))),
    };
    let kind = match frame.message_type {
        MessageType::UserText | MessageType::SuggestionClicked => "text",
        MessageType::RunTool => "tool",
        MessageType::Continue => "continue",
        MessageType::System => return Ok(None),
        MessageType::BotResponse => return Ok(error("message_type 2 is for the server's frames")),
    };
    if kind != "continue" && frame.content.trim().is_empty() {
        return Ok(error("the message is empty"));
    }
    if frame.content.chars().count() > MAX_MESSAGE_CHARS {
        return Ok(error(format!(
            "the message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    if frame.id.as_ref().is_some_and(|id| id.len() > 100) {
        return Ok(error("the message id is longer than 100 characters"));
    }
    let (sid, content, client_id) = (s.id.clone(), frame.content.clone(), frame.id.clone());
    let kind_owned = kind.to_string();
    let stored = app
        .chat
        .db
        .write(move |c| store::add_user_message(c, &sid, &kind_owned, &content, client_id.as_deref()))
        .await;
    match stored {
        Ok(Some(Stored::New(seq))) => {
            // A new message cancels the answer still streaming (a message sent again is
            // not new: it leaves its own answer alone).
            app.chat.hub.cancel_stream(&s.id).await;
            // The user's other sockets (tabs, devices) see what was said here.
            let echo = event_frame(&ServerEvent::UserMessage {
                id: seq,
                content: frame.content,
                client_id: frame.id,
            });
            app.chat.hub.send(&s.id, echo, Some(socket_id)).await;
        }
        Ok(Some(Stored::Duplicate(_))) => {}
        Ok(None) => return Err(()),
        Err(e) => {
            tracing::warn!(error = %e, session = %s.id, "chat: storing a message failed");
            return Ok(error("the message could not be stored; send it again"));
        }
    }
    tokio::spawn(app.chat.clone().drain(s.id.clone()));
    Ok(None)
}
