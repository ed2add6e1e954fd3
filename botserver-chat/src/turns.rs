//! A conversation's turns: user messages are stored first (pending), then answered in order
//! by whichever worker holds the session's cluster lock, on any instance. An answer comes
//! from the dialog engine (a pending HEAR, a tool, start.bas), else from the language
//! model (streamed), else from the knowledge base, else a clear fallback; it is stored in
//! one transaction with the user message marked answered, and only then delivered.
//!
//! Crash safety: the engine is asked with the message's number as idempotency key, so a
//! turn retried after a crash (the message still pending) gets the answer the engine
//! already gave instead of running twice.

use crate::hub::Hub;
use crate::metrics::ChatMetrics;
use crate::store::{self, BotText, Message, Session};
use botlib::protocol::{BotResponse, MessageType, ServerEvent, Suggestion};
use botlib::{AppError, AppResult, BotId};
use botstate::BotRegistry;
use botstate::Db;
use botstate::cache::Cache;
use botstate::services::{
    BotProfile, CommitWith, DialogEngine, FreeText, KnowledgeBase, LlmProvider, TurnInput, TurnOutput,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The answer when nothing could answer a message.
pub const FALLBACK: &str = "Sorry, I can't answer that. Try one of the options, or ask a person.";

/// The answer when a turn failed on our side.
pub const SORRY: &str = "Sorry, something went wrong on my side. Please try again.";

/// How long a worker may hold a session before another may take over.
const SESSION_LOCK: Duration = Duration::from_secs(150);

/// Everything a turn needs, shared by the sockets, the REST routes and the wake-up loop.
pub struct Chat {
    pub db: Db,
    pub cache: Arc<dyn Cache>,
    pub dialogs: Arc<dyn DialogEngine>,
    pub llm: Arc<dyn LlmProvider>,
    pub kb: Arc<dyn KnowledgeBase>,
    pub bots: Arc<BotRegistry>,
    pub hub: Arc<Hub>,
    pub metrics: ChatMetrics,
}

/// A frame for a bot message.
pub fn bot_frame(
    s: &Session,
    content: &str,
    complete: bool,
    suggestions: Vec<Suggestion>,
    id: Option<i64>,
) -> String {
    serde_json::to_string(&BotResponse {
        bot_id: s.bot_id.clone(),
        user_id: s.user_id.clone(),
        session_id: s.id.clone(),
        channel: s.channel.clone(),
        content: content.to_string(),
        message_type: MessageType::BotResponse,
        is_complete: complete,
        suggestions,
        context_name: None,
        id,
    })
    .expect("json")
}

/// A typed event frame.
pub fn event_frame(e: &ServerEvent) -> String {
    serde_json::to_string(e).expect("json")
}

/// A reply before it is stored: its text, and whether its pieces were streamed already.
pub(crate) struct Reply {
    pub(crate) text: BotText,
    pub(crate) streamed: bool,
}

impl Chat {
    /// The profile of a loaded bot, by name.
    pub fn bot(&self, name: &str) -> Option<BotProfile> {
        let id = BotId::for_name(name);
        self.dialogs.bots().into_iter().find(|b| b.id == id)
    }

    /// Answers everything pending in `session` (its start first), unless a worker on some
    /// instance holds it already; that worker looks again after letting go, so nothing
    /// stored is left unanswered.
    ///
    /// How the holder knows to look again without reading the log after every turn: a
    /// caller that finds the session locked leaves a mark in the shared cache
    /// (`chat:again:<id>`) and tries the lock once more (the holder may have let go and
    /// looked for the mark just before it was left); the holder takes the mark after
    /// letting go and, when there was one, goes round again. Messages already waiting when
    /// the holder read the log it sees itself (it reads two). Every message is stored
    /// before its caller tries the lock, so one of them always answers it.
    pub async fn drain(self: Arc<Self>, session: String) {
        let again = format!("chat:again:{session}");
        loop {
            let lock = match self.lock(&session).await {
                Ok(Some(l)) => l,
                Ok(None) => {
                    if self
                        .cache
                        .set(&again, b"1", Some(SESSION_LOCK * 2))
                        .await
                        .is_err()
                    {
                        // The holder cannot take the mark either: it reads the log.
                        return;
                    }
                    match self.lock(&session).await {
                        Ok(Some(l)) => {
                            // Ours now: our own read sees everything stored before.
                            let _ = self.cache.delete(&again).await;
                            l
                        }
                        _ => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, session, "chat: cannot lock the session");
                    return;
                }
            };
            // The lock is extended while the turn runs (a long streamed answer must not let
            // another worker take the same message).
            let keep = async {
                loop {
                    tokio::time::sleep(SESSION_LOCK / 3).await;
                    if !matches!(self.cache.extend_lock(&lock, SESSION_LOCK).await, Ok(true)) {
                        tracing::warn!(session, "chat: lost the session lock during a turn");
                    }
                }
            };
            let r = tokio::select! {
                r = self.drain_locked(&session) => r,
                _ = keep => unreachable!("the keep-alive loop never ends"),
            };
            let _ = self.cache.unlock(&lock).await;
            let more = match r {
                Ok(more) => more,
                Err(e) => {
                    // Told to the user, counted; the message stays pending and is tried again
                    // with the next message or reconnection.
                    tracing::warn!(error = %e, session, "chat: turn failed");
                    let frame = event_frame(&ServerEvent::Error {
                        message: "the answer could not be stored; it will be retried".into(),
                    });
                    self.hub.send(&session, frame, None).await;
                    return;
                }
            };
            if more {
                continue;
            }
            // A message stored while we held the lock, after our last look, left a mark.
            match self.cache.delete(&again).await {
                Ok(true) => continue,
                Ok(false) => return,
                Err(_) => {
                    let sid = session.clone();
                    match self.db.read(move |c| store::next_pending(c, &sid)).await {
                        Ok(Some(_)) => continue,
                        _ => return,
                    }
                }
            }
        }
    }

    async fn lock(&self, session: &str) -> AppResult<Option<botstate::cache::LockToken>> {
        self.cache
            .try_lock(&format!("chat:{session}"), SESSION_LOCK)
            .await
    }

    /// Answers the session's start and its oldest pending message; `true` when another
    /// was waiting too.
    async fn drain_locked(&self, session: &str) -> AppResult<bool> {
        let sid = session.to_string();
        let (s, mut pending) = self
            .db
            .read(move |c| Ok((store::session(c, &sid)?, store::oldest_pending(c, &sid, 2)?)))
            .await?;
        let Some(s) = s else {
            return Ok(false);
        };
        let more = pending.len() > 1;
        let r = async {
            if !s.started {
                self.start(&s).await?;
            }
            // One message per hold of the lock: `drain` looks for the next after letting go.
            if !pending.is_empty() {
                self.answer(&s, pending.remove(0)).await?;
            }
            Ok(more)
        }
        .await;
        if let Err(e) = &r {
            self.count_error(&s, e);
        }
        r
    }

    /// The conversation's start: start.bas (exactly once: the engine keeps it), or the
    /// bot's welcome message when it has none.
    async fn start(&self, s: &Session) -> AppResult<()> {
        let Some(bot) = self.bot(&s.bot_name) else {
            return Err(AppError::NotFound);
        };
        let replies = if bot.has_start {
            let mut input = self.input(s, None)?;
            input.input_id = Some("start".into());
            match self.dialogs.run_turn(input).await {
                Ok(out) => texts(out),
                Err(e) => {
                    self.count_error(s, &e);
                    vec![plain(SORRY)]
                }
            }
        } else {
            bot.welcome.iter().map(|w| plain(w)).collect()
        };
        self.store_and_deliver(s, None, true, replies).await
    }

    fn input(&self, s: &Session, message: Option<String>) -> AppResult<TurnInput> {
        let bad = |e: uuid::Error| AppError::internal(e);
        let mut input = TurnInput::new(
            s.bot_id.parse().map_err(bad)?,
            s.id.parse().map_err(bad)?,
            s.user_id.parse().map_err(bad)?,
            message,
        );
        input.channel = s.channel.clone();
        input.delegate_free_text = true;
        Ok(input)
    }

    /// Answers one pending user message.
    async fn answer(&self, s: &Session, m: Message) -> AppResult<()> {
        let started = Instant::now();
        self.hub
            .send(&s.id, event_frame(&ServerEvent::Typing), None)
            .await;
        let mut input = self.input(s, None)?;
        input.input_id = Some(m.seq.to_string());
        match m.kind.as_str() {
            "tool" => input.script = Some(m.content.clone()),
            "continue" => {}
            _ => input.message = Some(m.content.clone()),
        }
        // The answer is stored in the engine's own transaction when the engine has the
        // final words (one durable write per turn); `stored` says whether that happened.
        let stored: Arc<std::sync::Mutex<Option<Vec<Message>>>> = Arc::default();
        input.commit_with = Some(answer_with_turn(s.id.clone(), m.seq, stored.clone()));
        // A conflict is transient (the dialog busy with a wake-up, or continued elsewhere):
        // asked again a few times, with the same idempotency key.
        let mut result = self.dialogs.run_turn(input.clone()).await;
        for wait in [250, 1000, 3000] {
            if !matches!(result, Err(AppError::Conflict(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(wait)).await;
            result = self.dialogs.run_turn(input.clone()).await;
        }
        let stored = stored.lock().expect("stored answer").take();
        if let (Ok(out), Some(stored)) = (&result, stored) {
            self.deliver(s, &stored, &texts(out.clone())).await;
            self.count_turn(s, started);
            return Ok(());
        }
        let replies = match result {
            Ok(TurnOutput {
                free_text: Some(ft), ..
            }) => self.free_text(s, &m, ft).await,
            Ok(out) => texts(out),
            Err(AppError::Conflict(msg)) | Err(AppError::BadRequest(msg)) => {
                self.hub
                    .send(&s.id, event_frame(&ServerEvent::Error { message: msg }), None)
                    .await;
                Vec::new()
            }
            Err(AppError::NotConfigured(_)) => {
                // No dialog engine in this build: every message is free text.
                let ft = FreeText {
                    message: m.content.clone(),
                    ..Default::default()
                };
                self.free_text(s, &m, ft).await
            }
            Err(e) => {
                self.count_error(s, &e);
                vec![plain(SORRY)]
            }
        };
        self.store_and_deliver(s, Some(m.seq), false, replies).await?;
        self.count_turn(s, started);
        Ok(())
    }

    fn count_turn(&self, s: &Session, started: Instant) {
        let label = ChatMetrics::bot(&s.bot_name);
        self.metrics.turns.get_or_create(&label).inc();
        self.metrics.latency.observe(started.elapsed().as_secs_f64());
    }

    pub(crate) fn count_error(&self, s: &Session, e: &AppError) {
        tracing::warn!(bot = %s.bot_name, session = %s.id, error = %e, "chat turn failed");
        self.metrics
            .errors
            .get_or_create(&ChatMetrics::bot(&s.bot_name))
            .inc();
    }

    /// Stores the replies (marking `answered` done) and delivers them.
    async fn store_and_deliver(
        &self,
        s: &Session,
        answered: Option<i64>,
        start: bool,
        replies: Vec<Reply>,
    ) -> AppResult<()> {
        let sid = s.id.clone();
        let texts: Vec<BotText> = replies.iter().map(|r| r.text.clone()).collect();
        let stored = self
            .db
            .write(move |c| store::finish_turn(c, &sid, answered, start, &texts))
            .await?;
        self.deliver(s, &stored, &replies).await;
        Ok(())
    }

    /// Sends stored bot messages to the session's sockets.
    async fn deliver(&self, s: &Session, stored: &[Message], replies: &[Reply]) {
        for (m, r) in stored.iter().zip(replies).filter(|(m, _)| m.kind == "text") {
            // A streamed answer's pieces were sent already: close it with its id.
            let content = if r.streamed { "" } else { m.content.as_str() };
            let frame = bot_frame(s, content, true, m.suggestion_list(), Some(m.seq));
            self.hub.send(&s.id, frame, None).await;
        }
    }

    /// Resumes conversations whose WAIT is over, stores and delivers what they said. Runs
    /// on every instance; the engine resumes each conversation on exactly one.
    pub async fn wake_loop(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let woken = match self.dialogs.wake_due().await {
                Ok(w) => w,
                Err(AppError::NotConfigured(_)) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "chat: waking conversations failed");
                    continue;
                }
            };
            for w in woken {
                let sid = w.session.to_string();
                let Ok(Some(s)) = self.db.run(move |c| store::session(c, &sid)).await else {
                    continue;
                };
                // Only the conversation's own chat session gets its words.
                if s.user_id != w.user.to_string() || s.bot_id != w.bot.to_string() {
                    continue;
                }
                let replies = texts(w.output);
                if let Err(e) = self.store_and_deliver(&s, None, false, replies).await {
                    tracing::warn!(error = %e, session = %s.id, "chat: storing a woken turn failed");
                }
            }
        }
    }
}

fn plain(content: &str) -> Reply {
    Reply {
        text: BotText {
            content: content.into(),
            suggestions: vec![],
            kind: "text",
        },
        streamed: false,
    }
}

/// The write that stores the engine's answer to message `seq` in the engine's own
/// transaction (see [`CommitWith`]); what it stored is left in `stored`.
fn answer_with_turn(
    session: String,
    seq: i64,
    stored: Arc<std::sync::Mutex<Option<Vec<Message>>>>,
) -> CommitWith {
    CommitWith(Arc::new(move |c, out| {
        let texts: Vec<BotText> = texts(out.clone()).into_iter().map(|r| r.text).collect();
        let m = store::finish_turn(c, &session, Some(seq), false, &texts)?;
        *stored.lock().expect("stored answer") = Some(m);
        Ok(())
    }))
}

fn texts(out: TurnOutput) -> Vec<Reply> {
    out.messages
        .into_iter()
        .map(|m| Reply {
            text: BotText {
                content: m.content,
                suggestions: m.suggestions,
                kind: "text",
            },
            streamed: false,
        })
        .collect()
}
