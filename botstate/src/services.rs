//! The traits of the services whose implementations arrive with their own domain crates
//! (object store, LLM, vector store, mailer, scheduler, dialog engine), and
//! [`NotConfigured`], which answers every call with a clear "not configured" error so a
//! feature without its service fails loudly instead of pretending to work.

use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId, SessionId, UserId};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Metadata of a stored object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Key inside the store.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Content hash or ETag.
    pub etag: String,
    /// MIME type, when known.
    pub content_type: Option<String>,
    /// Last modification, Unix milliseconds.
    pub modified_ms: i64,
}

/// A stream of bytes: an object's body, or an upload on its way in.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An object being read: its metadata, the bytes sent (`start..=end`, inclusive, when a
/// range was asked for) and the body.
pub struct ObjectBody {
    /// The whole object's metadata.
    pub meta: ObjectMeta,
    /// The first and last byte sent, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes.
    pub stream: ByteStream,
}

/// Files: local disk by default, S3-compatible storage when configured.
///
/// Keys are `/`-separated relative paths (no `..`, no empty segments, no leading `/`);
/// a store refuses any other key with 400. Every write is atomic: readers see the old
/// object or the whole new one, never a part, and a write that fails (or whose input
/// stream fails) leaves nothing visible.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores an object (atomically: readers see the old or the new one).
    async fn put(&self, key: &str, data: Bytes, content_type: Option<&str>) -> AppResult<ObjectMeta>;
    /// Reads a whole object.
    async fn get(&self, key: &str) -> AppResult<Bytes>;
    /// Reads an object's metadata.
    async fn head(&self, key: &str) -> AppResult<ObjectMeta>;
    /// Deletes; `true` when something was deleted.
    async fn delete(&self, key: &str) -> AppResult<bool>;
    /// Lists keys under `prefix` (recursively, in key order), after `after`, at most
    /// `limit`.
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>>;

    /// Stores what `body` yields, without holding it all in memory (S3: a multipart
    /// upload for large bodies). Fails with 413 once more than `max_bytes` arrived, and
    /// stores nothing then or when `body` fails. The default collects the body first.
    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        content_type: Option<&str>,
        max_bytes: u64,
    ) -> AppResult<ObjectMeta> {
        use futures_util::StreamExt;
        let mut all = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| AppError::bad_request(format!("the upload failed: {e}")))?;
            if (all.len() + piece.len()) as u64 > max_bytes {
                return Err(AppError::PayloadTooLarge {
                    limit_bytes: max_bytes,
                });
            }
            all.extend_from_slice(&piece);
        }
        self.put(key, Bytes::from(all), content_type).await
    }

    /// Reads an object as a stream, or the bytes `start..=end` of it (the caller has
    /// checked the range against the object's size). The default reads it whole.
    async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> AppResult<ObjectBody> {
        let meta = self.head(key).await?;
        let data = self.get(key).await?;
        let data = match range {
            Some((start, end)) => {
                let end = (end as usize).min(data.len().saturating_sub(1));
                data.slice((start as usize).min(end + 1)..end + 1)
            }
            None => data,
        };
        Ok(ObjectBody {
            meta,
            range,
            stream: Box::pin(futures_util::stream::iter([Ok(data)])),
        })
    }

    /// Copies `from` to `to` (on S3, inside the server). The default reads and writes.
    async fn copy(&self, from: &str, to: &str) -> AppResult<ObjectMeta> {
        let meta = self.head(from).await?;
        let data = self.get(from).await?;
        self.put(to, data, meta.content_type.as_deref()).await
    }

    /// A URL from which anyone may download `key` for `ttl` without going through this
    /// server (S3 presigned URLs); `None` when the store has no such thing.
    async fn presign_get(&self, _key: &str, _ttl: std::time::Duration) -> AppResult<Option<String>> {
        Ok(None)
    }

    /// A link (a path on this server, or a URL) through which anyone holding it may
    /// download `key` until `ttl` passes, unless revoked. Only the drive service's store
    /// makes them.
    async fn share_link(&self, _key: &str, _ttl: std::time::Duration) -> AppResult<String> {
        Err(AppError::NotConfigured("drive share links"))
    }
}

/// Plain text out of documents (pdf, docx, xlsx, ods, csv, html, md, txt, json), for the
/// knowledge base and for BASIC's `READ`.
#[async_trait]
pub trait DocumentReader: Send + Sync {
    /// The text of the document `name` (its extension picks the format), within the
    /// reader's size and time limits. 400 with the reason when it cannot be read.
    async fn text(&self, name: &str, data: Bytes) -> AppResult<String>;
    /// Whether `name`'s extension is a format this reader turns into text (other than
    /// plain text, which needs no reader).
    fn reads(&self, name: &str) -> bool;
}

/// One message of a chat completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
    /// For `tool` messages: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `assistant` messages: the tools the model asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl ChatMessage {
    /// A plain message.
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_call_id: None,
            tool_calls: Vec::new(),
        }
    }

    /// The result of tool call `call_id`.
    pub fn tool_result(call_id: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            tool_call_id: Some(call_id.into()),
            ..ChatMessage::new("tool", content)
        }
    }
}

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON.
    pub arguments: serde_json::Value,
}

/// Token counts of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
}

/// A chat completion request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The bot asking (selects its provider and limits).
    pub bot: Option<BotId>,
    /// The conversation asking, for usage accounting.
    pub session: Option<SessionId>,
    /// Model override.
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Completion token cap.
    pub max_tokens: Option<u32>,
    /// Tools offered, in OpenAI function shape.
    pub tools: Vec<serde_json::Value>,
    /// Ask for a JSON object answer.
    pub json_mode: bool,
}

/// A complete answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Text of the answer.
    pub content: String,
    /// Tools the model wants called.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    pub usage: Usage,
    /// The model that answered.
    pub model: String,
}

/// One piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatChunk {
    /// More text.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// The end, with token counts.
    Done(Usage),
}

/// Language models.
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// One completion.
    async fn chat(&self, req: ChatRequest) -> AppResult<ChatResponse>;
    /// One completion, streamed.
    async fn chat_stream(&self, req: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>>;
    /// Embeddings of `inputs`, one vector each.
    async fn embed(&self, bot: Option<BotId>, inputs: Vec<String>) -> AppResult<Vec<Vec<f32>>>;
}

/// A vector with its payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorPoint {
    /// Unique id inside the collection.
    pub id: String,
    /// The embedding.
    pub vector: Vec<f32>,
    /// Source document, text and anything filterable.
    pub payload: serde_json::Value,
}

/// A search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorHit {
    /// Point id.
    pub id: String,
    /// Similarity (higher is closer).
    pub score: f32,
    /// The point's payload.
    pub payload: serde_json::Value,
}

/// Vector indexes for knowledge bases.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Creates the collection if missing.
    async fn ensure_collection(&self, collection: &str, dimensions: usize) -> AppResult<()>;
    /// Inserts or replaces points.
    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> AppResult<()>;
    /// Nearest points, optionally filtered by payload equality.
    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: Option<serde_json::Value>,
    ) -> AppResult<Vec<VectorHit>>;
    /// Deletes every point of a document; returns how many.
    async fn delete_by_document(&self, collection: &str, document: &str) -> AppResult<u64>;
}

/// A file attached to a mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Contents.
    pub data: Bytes,
}

/// A mail to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The bot sending it (selects its SMTP settings).
    pub bot: Option<BotId>,
    /// Sender; the bot's or server's default when empty.
    pub from: Option<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Optional HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

/// Outgoing mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends; returns the message id.
    async fn send(&self, mail: OutgoingMail) -> AppResult<String>;
}

/// When a job runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A 5- or 6-field cron expression in a time zone.
    Cron {
        /// The expression.
        expr: String,
        /// IANA time zone.
        tz: String,
    },
    /// Once, at Unix milliseconds.
    At {
        /// When.
        at_ms: i64,
    },
    /// On a named event (`ON …`, `WEBHOOK`).
    Event {
        /// The event name.
        name: String,
    },
}

/// A job registration: a bot's script to run on a trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The owning bot.
    pub bot: BotId,
    /// Unique per bot (usually the script path plus the line).
    pub name: String,
    /// Script to run.
    pub script: String,
    /// When.
    pub trigger: Trigger,
}

/// A registration the scheduler refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedJob {
    /// The job's name (`<script>:<line>`).
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Scheduled and event-triggered jobs.
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Replaces every registration of `bot` with `jobs` (what a compile produced), so a
    /// removed line removes its job. Registrations that cannot be scheduled (a malformed
    /// cron expression, an unknown time zone) are not, and come back with the reason.
    async fn sync_bot_jobs(&self, bot: BotId, jobs: Vec<JobSpec>) -> AppResult<Vec<RejectedJob>>;
    /// The registrations of `bot`.
    async fn list(&self, bot: BotId) -> AppResult<Vec<JobSpec>>;
    /// Fires an event of `bot` (`insert:orders`): every job registered for it runs once,
    /// soon, on one instance, with `payload` as the script's `body`. Returns how many
    /// runs were queued.
    async fn fire_event(&self, _bot: BotId, _event: &str, _payload: serde_json::Value) -> AppResult<usize> {
        Err(AppError::NotConfigured("scheduler"))
    }
}

/// A message the dialog engine wants delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Markdown text.
    pub content: String,
    /// Suggestion buttons active after this message.
    pub suggestions: Vec<botlib::protocol::Suggestion>,
}

/// One turn's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnInput {
    /// The bot.
    pub bot: BotId,
    /// The conversation.
    pub session: SessionId,
    /// The user.
    pub user: UserId,
    /// The user's message; `None` starts the conversation.
    pub message: Option<String>,
    /// Idempotency key. A turn whose key equals the conversation's last answered key does
    /// not run again: the engine returns that turn's answer again. The chat domain sends
    /// its stored message id, so a turn retried after a crash is never applied twice.
    pub input_id: Option<String>,
    /// Start this script instead of `start.bas` (a tool run directly). Refused while the
    /// conversation waits at HEAR.
    pub script: Option<String>,
    /// `true`: a message no script waits for is not answered by the engine but returned
    /// as [`TurnOutput::free_text`] for the caller to route (LLM, knowledge base, fallback).
    pub delegate_free_text: bool,
    /// The channel (`web`, `api`, …) scripts see.
    pub channel: String,
    /// The caller's own write, to commit in the same transaction as the turn's save (see
    /// [`CommitWith`]). Never serialized.
    #[serde(skip)]
    pub commit_with: Option<CommitWith>,
}

/// A write of the caller's that commits atomically with a turn: the engine calls it in
/// the transaction that saves the turn, with the turn's output, when it saved one whose
/// messages are final (no [`TurnOutput::free_text`] left for the caller). The chat stores
/// its answer this way: one durable write per turn instead of two. A turn answered from
/// its idempotency memo, or one that saves nothing, does not call it, so the caller must
/// know whether it ran (it records that itself) and write on its own otherwise. It may
/// run on another thread; an error fails the whole turn and nothing of it is kept. When
/// it runs, the engine keeps no idempotency memo of the turn: the caller's write must
/// itself record that the input was answered (the chat marks its message done), so that
/// input is never asked again.
#[derive(Clone)]
pub struct CommitWith(
    #[allow(clippy::type_complexity)]
    pub  Arc<dyn Fn(&mut crate::AnyConnection, &TurnOutput) -> Result<(), crate::DbErr> + Send + Sync>,
);

impl std::fmt::Debug for CommitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitWith(..)")
    }
}

impl PartialEq for CommitWith {
    fn eq(&self, other: &CommitWith) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl TurnInput {
    /// A plain turn on the web channel: `start.bas`, the engine answers free text itself.
    pub fn new(bot: BotId, session: SessionId, user: UserId, message: Option<String>) -> TurnInput {
        TurnInput {
            bot,
            session,
            user,
            message,
            input_id: None,
            script: None,
            delegate_free_text: false,
            channel: "web".into(),
            commit_with: None,
        }
    }
}

/// What a turn produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnOutput {
    /// Messages for the user, in order.
    pub messages: Vec<OutboundMessage>,
    /// `true` when the script waits at HEAR (the next message answers it).
    pub waiting_for_input: bool,
    /// Set (only with [`TurnInput::delegate_free_text`]) when no script consumed the
    /// message: what the caller needs to answer it.
    pub free_text: Option<FreeText>,
}

/// A message no script waits for, handed back to the caller with the conversation's
/// prompt context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FreeText {
    /// The message.
    pub message: String,
    /// System prompt plus SET CONTEXT values, ready for the model.
    pub system_prompt: String,
    /// Model chosen by the script, if any.
    pub model: Option<String>,
    /// Suggestions to keep showing with the answer.
    pub suggestions: Vec<botlib::protocol::Suggestion>,
    /// Tools the session offers the model (`ADD TOOL`), in OpenAI function shape.
    #[serde(default)]
    pub tools: Vec<serde_json::Value>,
    /// Knowledge bases the session uses (`USE KB`).
    #[serde(default)]
    pub kbs: Vec<String>,
}

/// A tool call to run for a conversation (the model asked for it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInput {
    /// The bot.
    pub bot: BotId,
    /// The conversation.
    pub session: SessionId,
    /// The user.
    pub user: UserId,
    /// The tool (script stem).
    pub name: String,
    /// Arguments from the model, validated against the tool's schema before it runs.
    pub arguments: serde_json::Value,
    /// The channel scripts see.
    pub channel: String,
}

/// What a tool run produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The script's RETURN value: the tool result sent back to the model.
    pub result: serde_json::Value,
    /// What the script TALKed (shown to the user).
    pub messages: Vec<String>,
}

/// What anyone may see of a bot: the chat page's picker and theme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotProfile {
    /// The bot's id.
    pub id: BotId,
    /// The package name.
    pub name: String,
    /// `bot-name` from config, else the package name.
    pub title: String,
    /// `bot-description`.
    pub description: String,
    /// `theme-*` keys only.
    pub theme: std::collections::BTreeMap<String, String>,
    /// `history-limit`: turns of history sent to the model (default 10).
    pub history_limit: usize,
    /// `welcome-message`, shown when the bot has no start.bas.
    pub welcome: Option<String>,
    /// `true` when start.bas compiles.
    pub has_start: bool,
}

/// A conversation resumed by the engine itself (a WAIT that ended), with what it said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WokenTurn {
    /// The bot.
    pub bot: BotId,
    /// The conversation.
    pub session: SessionId,
    /// The user.
    pub user: UserId,
    /// What the resumed script produced.
    pub output: TurnOutput,
}

/// Runs bot scripts as durable conversations.
#[async_trait]
pub trait DialogEngine: Send + Sync {
    /// Runs one turn of a conversation.
    async fn run_turn(&self, input: TurnInput) -> AppResult<TurnOutput>;
    /// The bots loaded now, as anyone may see them.
    fn bots(&self) -> Vec<BotProfile> {
        Vec::new()
    }
    /// Resumes every conversation whose WAIT is over (each on exactly one instance).
    async fn wake_due(&self) -> AppResult<Vec<WokenTurn>> {
        Ok(Vec::new())
    }
    /// Forgets a conversation (its state and journal); `false` when there was none.
    async fn forget(&self, _session: SessionId) -> AppResult<bool> {
        Ok(false)
    }
    /// Runs a tool the model called: arguments validated against the tool's schema
    /// (`BadRequest` naming the problem when they do not fit), the script run once with
    /// them as variables. Only scripts declared as tools (`DESCRIPTION`) run.
    async fn run_tool(&self, _call: ToolInput) -> AppResult<ToolOutput> {
        Err(AppError::NotConfigured("tools"))
    }
    /// Runs a script of a bot once, outside any conversation (a scheduled job, an event,
    /// a webhook): the payload is the script's `body` variable; the current version of
    /// the script runs. `NotFound` for an unknown bot or script.
    async fn run_script(&self, _call: ScriptCall) -> AppResult<ToolOutput> {
        Err(AppError::NotConfigured("dialog engine"))
    }
}

/// A script to run once for a job or an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptCall {
    /// The bot.
    pub bot: BotId,
    /// The script's path in the package (`daily.bas`).
    pub script: String,
    /// What triggered it (`schedule`, `webhook:orders`, …): the run's channel and
    /// session name.
    pub event: String,
    /// The script's `body` variable.
    pub payload: serde_json::Value,
}

/// A to-do item to create.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// The bot that creates it (`CREATE TASK`), if a bot does.
    pub bot: Option<BotId>,
    /// Who creates it: a user id, or `bot:<name>`.
    pub created_by: String,
    /// The title.
    pub title: String,
    /// Longer text.
    pub description: String,
    /// Who should do it: a user id, or a name or e-mail address as a script wrote it.
    pub assignee: Option<String>,
    /// When it is due, Unix milliseconds.
    pub due_ms: Option<i64>,
    /// The project it belongs to.
    pub project: Option<String>,
}

/// The task list, as other domains reach it (BASIC's `CREATE TASK`).
#[async_trait]
pub trait TaskList: Send + Sync {
    /// Creates a task; returns its id.
    async fn create(&self, task: NewTask) -> AppResult<String>;
}

/// One passage a knowledge base returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The knowledge base.
    pub kb: String,
    /// The source document (path inside the KB, or a URL).
    pub source: String,
    /// Where in the document (`chunk 3`, a heading, a page).
    pub location: String,
    /// The passage's text.
    pub text: String,
    /// Relevance (higher is better; fused rank score for hybrid search).
    pub score: f32,
}

/// A knowledge-base search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KbQuery {
    /// The bot whose knowledge bases are searched.
    pub bot: BotId,
    /// Which of its knowledge bases; empty means all of them.
    pub kbs: Vec<String>,
    /// The question.
    pub query: String,
    /// At most this many passages (the bot's `kb-top-k` when `None`).
    pub top_k: Option<usize>,
}

/// Knowledge bases: documents indexed for retrieval (lexical, plus vectors when an
/// embedding model is available).
#[async_trait]
pub trait KnowledgeBase: Send + Sync {
    /// The best passages for a question.
    async fn search(&self, query: KbQuery) -> AppResult<Vec<Passage>>;
    /// Crawls a website (bounded, SSRF rules) into a knowledge base of the bot and
    /// returns its name.
    async fn index_website(&self, _bot: BotId, _url: String) -> AppResult<String> {
        Err(AppError::NotConfigured("website indexing"))
    }
}

/// The stand-in for every service not configured on this server.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotConfigured;

#[async_trait]
impl ObjectStore for NotConfigured {
    async fn put(&self, _: &str, _: Bytes, _: Option<&str>) -> AppResult<ObjectMeta> {
        Err(AppError::NotConfigured("object store"))
    }
    async fn get(&self, _: &str) -> AppResult<Bytes> {
        Err(AppError::NotConfigured("object store"))
    }
    async fn head(&self, _: &str) -> AppResult<ObjectMeta> {
        Err(AppError::NotConfigured("object store"))
    }
    async fn delete(&self, _: &str) -> AppResult<bool> {
        Err(AppError::NotConfigured("object store"))
    }
    async fn list(&self, _: &str, _: Option<&str>, _: usize) -> AppResult<Vec<ObjectMeta>> {
        Err(AppError::NotConfigured("object store"))
    }
}

#[async_trait]
impl DocumentReader for NotConfigured {
    async fn text(&self, _: &str, _: Bytes) -> AppResult<String> {
        Err(AppError::NotConfigured("document reader"))
    }
    fn reads(&self, _: &str) -> bool {
        false
    }
}

#[async_trait]
impl LlmProvider for NotConfigured {
    async fn chat(&self, _: ChatRequest) -> AppResult<ChatResponse> {
        Err(AppError::NotConfigured("llm"))
    }
    async fn chat_stream(&self, _: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>> {
        Err(AppError::NotConfigured("llm"))
    }
    async fn embed(&self, _: Option<BotId>, _: Vec<String>) -> AppResult<Vec<Vec<f32>>> {
        Err(AppError::NotConfigured("embeddings"))
    }
}

#[async_trait]
impl VectorStore for NotConfigured {
    async fn ensure_collection(&self, _: &str, _: usize) -> AppResult<()> {
        Err(AppError::NotConfigured("vector store"))
    }
    async fn upsert(&self, _: &str, _: Vec<VectorPoint>) -> AppResult<()> {
        Err(AppError::NotConfigured("vector store"))
    }
    async fn search(
        &self,
        _: &str,
        _: Vec<f32>,
        _: usize,
        _: Option<serde_json::Value>,
    ) -> AppResult<Vec<VectorHit>> {
        Err(AppError::NotConfigured("vector store"))
    }
    async fn delete_by_document(&self, _: &str, _: &str) -> AppResult<u64> {
        Err(AppError::NotConfigured("vector store"))
    }
}

#[async_trait]
impl KnowledgeBase for NotConfigured {
    async fn search(&self, _: KbQuery) -> AppResult<Vec<Passage>> {
        Err(AppError::NotConfigured("knowledge base"))
    }
}

#[async_trait]
impl Mailer for NotConfigured {
    async fn send(&self, _: OutgoingMail) -> AppResult<String> {
        Err(AppError::NotConfigured("mail"))
    }
}

#[async_trait]
impl Scheduler for NotConfigured {
    async fn sync_bot_jobs(&self, _: BotId, _: Vec<JobSpec>) -> AppResult<Vec<RejectedJob>> {
        Err(AppError::NotConfigured("scheduler"))
    }
    async fn list(&self, _: BotId) -> AppResult<Vec<JobSpec>> {
        Err(AppError::NotConfigured("scheduler"))
    }
}

#[async_trait]
impl TaskList for NotConfigured {
    async fn create(&self, _: NewTask) -> AppResult<String> {
        Err(AppError::NotConfigured("tasks"))
    }
}

#[async_trait]
impl DialogEngine for NotConfigured {
    async fn run_turn(&self, _: TurnInput) -> AppResult<TurnOutput> {
        Err(AppError::NotConfigured("dialog engine"))
    }
}
