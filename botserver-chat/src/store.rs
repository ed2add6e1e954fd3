//! Sessions and the message log in the database: everything about a conversation that must
//! survive the process (the dialog's own state is the engine's, behind `DialogEngine`).
//!
//! The writing functions must run inside `Db::write` (one transaction each, group-committed
//! on SQLite). Each starts by touching its session row, so writes to one session are
//! serialized (a row lock on PostgreSQL; SQLite has one writer) and message numbers are
//! assigned without races.

use botlib::protocol::Suggestion;
use botstate::{AnyConnection, Bind, DbErr, FixedSql, on_conn};
use diesel::prelude::*;
use serde::Serialize;

diesel::table! {
    chat_sessions (id) {
        id -> Text,
        bot_id -> Text,
        bot_name -> Text,
        user_id -> Text,
        anonymous -> Bool,
        channel -> Text,
        started -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    chat_messages (session_id, seq) {
        session_id -> Text,
        seq -> BigInt,
        role -> Text,
        kind -> Text,
        content -> Text,
        suggestions -> Text,
        client_id -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
    }
}

use chat_messages as cm;
use chat_sessions as cs;

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = chat_sessions)]
pub struct Session {
    pub id: String,
    pub bot_id: String,
    pub bot_name: String,
    pub user_id: String,
    /// `true` for a visitor without an account.
    pub anonymous: bool,
    pub channel: String,
    /// `true` once the conversation's start (start.bas or the welcome) is stored.
    pub started: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = chat_messages)]
pub struct Message {
    #[serde(skip)]
    pub session_id: String,
    /// Number of the message in its session, from 1.
    #[serde(rename = "id")]
    pub seq: i64,
    /// `user` or `bot`.
    pub role: String,
    /// User messages: `text`, `tool` (run a tool) or `continue`. Bot messages: `text`.
    pub kind: String,
    pub content: String,
    /// JSON array of suggestions.
    #[serde(serialize_with = "raw_suggestions")]
    #[schema(value_type = Vec<Object>)]
    pub suggestions: String,
    /// The id the client gave a user message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// User messages: `pending` until answered, then `done`.
    pub status: String,
    pub created_at: i64,
}

fn raw_suggestions<S: serde::Serializer>(s: &str, ser: S) -> Result<S::Ok, S::Error> {
    let v: Vec<Suggestion> = serde_json::from_str(s).unwrap_or_default();
    v.serialize(ser)
}

impl Message {
    /// The suggestions, parsed.
    pub fn suggestion_list(&self) -> Vec<Suggestion> {
        serde_json::from_str(&self.suggestions).unwrap_or_default()
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Creates a session.
pub fn create_session(c: &mut AnyConnection, s: &Session) -> Result<(), DbErr> {
    diesel::insert_into(cs::table).values(s).execute(c)?;
    Ok(())
}

/// A session by id.
pub fn session(c: &mut AnyConnection, id: &str) -> Result<Option<Session>, DbErr> {
    Ok(on_conn!(c, |c| cs::table
        .find(id)
        .select(Session::as_select())
        .first(c)
        .optional())?)
}

/// A user's sessions, most recent first.
pub fn sessions_of(
    c: &mut AnyConnection,
    user: &str,
    anonymous: bool,
    limit: i64,
) -> Result<Vec<Session>, DbErr> {
    Ok(cs::table
        .filter(cs::user_id.eq(user))
        .filter(cs::anonymous.eq(anonymous))
        .order(cs::updated_at.desc())
        .limit(limit)
        .select(Session::as_select())
        .load(c)?)
}

/// `true` when `user` is a visitor id this server issued (it owns an anonymous session).
pub fn is_visitor(c: &mut AnyConnection, user: &str) -> Result<bool, DbErr> {
    let n: i64 = cs::table
        .filter(cs::user_id.eq(user))
        .filter(cs::anonymous.eq(true))
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// Deletes a session and its messages.
pub fn delete_session(c: &mut AnyConnection, id: &str) -> Result<bool, DbErr> {
    let n = diesel::delete(cs::table.find(id)).execute(c)?;
    diesel::delete(cm::table.filter(cm::session_id.eq(id))).execute(c)?;
    Ok(n > 0)
}

/// Touches the session row first: the write lock (SQLite) or row lock (PostgreSQL) that
/// serializes this session's writes. `false` when the session is gone.
fn touch(c: &mut AnyConnection, session: &str, now: i64) -> Result<bool, DbErr> {
    // Fixed SQL, prepared once per connection (diesel prepares each UPDATE it builds anew).
    Ok(FixedSql::new(
        &["UPDATE chat_sessions SET updated_at = ", " WHERE id = ", ""],
        &[Bind::Int(now), Bind::Text(session)],
    )
    .execute_on(c)?
        == 1)
}

fn next_seq(c: &mut AnyConnection, session: &str) -> Result<i64, DbErr> {
    let max: Option<i64> = on_conn!(c, |c| cm::table
        .filter(cm::session_id.eq(session))
        .select(diesel::dsl::max(cm::seq))
        .first(c))?;
    Ok(max.unwrap_or(0) + 1)
}

/// What storing a user message did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Stored under this number.
    New(i64),
    /// A message with the same client id was stored before, under this number.
    Duplicate(i64),
}

/// Stores a user message as pending. A repeated client id stores nothing.
pub fn add_user_message(
    c: &mut AnyConnection,
    session: &str,
    kind: &str,
    content: &str,
    client_id: Option<&str>,
) -> Result<Option<Stored>, DbErr> {
    let now = now_ms();
    if !touch(c, session, now)? {
        return Ok(None);
    }
    if let Some(id) = client_id {
        let seen: Option<i64> = on_conn!(c, |c| cm::table
            .filter(cm::session_id.eq(session))
            .filter(cm::client_id.eq(id))
            .select(cm::seq)
            .first(c)
            .optional())?;
        if let Some(seq) = seen {
            return Ok(Some(Stored::Duplicate(seq)));
        }
    }
    let seq = next_seq(c, session)?;
    on_conn!(c, |c| diesel::insert_into(cm::table)
        .values((
            cm::session_id.eq(session),
            cm::seq.eq(seq),
            cm::role.eq("user"),
            cm::kind.eq(kind),
            cm::content.eq(content),
            cm::suggestions.eq("[]"),
            cm::client_id.eq(client_id),
            cm::status.eq("pending"),
            cm::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(Some(Stored::New(seq)))
}

/// `status = 'pending'` with the value written in the SQL, not bound: the condition of
/// the partial index `chat_messages_pending`, which SQLite uses only when it can see the
/// value when preparing (a bound value it can use too, but then it prepares the statement
/// again on every run). Cacheable, unlike diesel's `sql` literals.
#[derive(Clone, Copy, Debug, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
struct IsPending;

impl diesel::Expression for IsPending {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> diesel::AppearsOnTable<QS> for IsPending {}

impl<QS> diesel::SelectableExpression<QS> for IsPending {}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for IsPending {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("chat_messages.status = 'pending'");
        Ok(())
    }
}

/// The oldest user message still waiting for its answer.
pub fn next_pending(c: &mut AnyConnection, session: &str) -> Result<Option<Message>, DbErr> {
    Ok(oldest_pending(c, session, 1)?.pop())
}

/// The oldest `limit` user messages still waiting for their answers, oldest first.
pub fn oldest_pending(c: &mut AnyConnection, session: &str, limit: i64) -> Result<Vec<Message>, DbErr> {
    Ok(on_conn!(c, |c| cm::table
        .filter(cm::session_id.eq(session))
        .filter(IsPending)
        .order(cm::seq.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(c))?)
}

/// The first pending user message after number `seq`.
pub fn next_pending_after(c: &mut AnyConnection, session: &str, seq: i64) -> Result<Option<Message>, DbErr> {
    Ok(cm::table
        .filter(cm::session_id.eq(session))
        .filter(IsPending)
        .filter(cm::seq.gt(seq))
        .order(cm::seq.asc())
        .select(Message::as_select())
        .first(c)
        .optional()?)
}

/// A bot message to store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BotText {
    pub content: String,
    pub suggestions: Vec<Suggestion>,
    /// `text`, or `confirm` (a tool call waiting for the user's yes: kept in the log for
    /// the next turn, never shown).
    pub kind: &'static str,
}

/// Stores a turn's answer (one transaction: run it in `Db::write`): the bot messages, the
/// user message marked answered (`answered`), and the session marked started (`start`).
/// Returns the stored bot messages; empty when the session is gone.
pub fn finish_turn(
    c: &mut AnyConnection,
    session: &str,
    answered: Option<i64>,
    start: bool,
    replies: &[BotText],
) -> Result<Vec<Message>, DbErr> {
    let now = now_ms();
    // On PostgreSQL the touch locks the session row, so this turn's numbers cannot clash
    // with a user message stored at the same moment. SQLite has one writer at a time
    // anyway, and marking the message (or the start) below finds a deleted session too
    // (its messages go with it): the touch would only write the session row once more.
    let sqlite = matches!(c, AnyConnection::Sqlite(_));
    if !(sqlite && (answered.is_some() || start)) && !touch(c, session, now)? {
        return Ok(Vec::new());
    }
    // Only the worker that answers a message (or the start) stores its answer: one that
    // finds it answered already (another worker, after a lost lock) stores nothing.
    if let Some(seq) = answered {
        let n = FixedSql::new(
            &[
                "UPDATE chat_messages SET status = 'done' WHERE session_id = ",
                " AND seq = ",
                " AND status = 'pending'",
            ],
            &[Bind::Text(session), Bind::Int(seq)],
        )
        .execute_on(c)?;
        if n == 0 {
            return Ok(Vec::new());
        }
    }
    if start {
        let n = diesel::update(cs::table.find(session))
            .filter(cs::started.eq(false))
            .set(cs::started.eq(true))
            .execute(c)?;
        if n == 0 {
            return Ok(Vec::new());
        }
    }
    let first = next_seq(c, session)?;
    let mut out = Vec::with_capacity(replies.len());
    for (seq, r) in (first..).zip(replies) {
        let m = Message {
            session_id: session.to_string(),
            seq,
            role: "bot".into(),
            kind: r.kind.into(),
            content: r.content.clone(),
            suggestions: serde_json::to_string(&r.suggestions).expect("json"),
            client_id: None,
            status: "done".into(),
            created_at: now,
        };
        on_conn!(c, |c| diesel::insert_into(cm::table)
            .values((
                cm::session_id.eq(&m.session_id),
                cm::seq.eq(m.seq),
                cm::role.eq(&m.role),
                cm::kind.eq(&m.kind),
                cm::content.eq(&m.content),
                cm::suggestions.eq(&m.suggestions),
                cm::client_id.eq(None::<String>),
                cm::status.eq(&m.status),
                cm::created_at.eq(m.created_at),
            ))
            .execute(c))?;
        out.push(m);
    }
    Ok(out)
}

/// Messages after number `after`, oldest first.
pub fn messages_after(
    c: &mut AnyConnection,
    session: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>, DbErr> {
    Ok(cm::table
        .filter(cm::session_id.eq(session))
        .filter(cm::seq.gt(after))
        // Internal records (a tool call waiting for confirmation) are never shown.
        .filter(cm::kind.ne("confirm"))
        .order(cm::seq.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(c)?)
}

/// The last `limit` messages before number `before`, oldest first (LLM history).
pub fn recent(c: &mut AnyConnection, session: &str, before: i64, limit: i64) -> Result<Vec<Message>, DbErr> {
    let mut v: Vec<Message> = cm::table
        .filter(cm::session_id.eq(session))
        .filter(cm::seq.lt(before))
        .order(cm::seq.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(c)?;
    v.reverse();
    Ok(v)
}
