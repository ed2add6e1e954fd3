//! Answering a message no script waits for: the prompt (system prompt, knowledge-base
//! passages with their sources, trimmed history), the model's answer streamed piece by
//! piece, and the tool-call loop: the model asks for a tool (a BASIC script the session
//! offers), the tool runs with arguments validated against its schema, its result goes
//! back to the model, which continues; at most `llm-max-tool-rounds` rounds (default 8).
//! Tools named in the bot's `confirm-tools` wait for the user's "yes" before they run.
//! Without a model: the knowledge base's best passage, else the fallback.

use crate::metrics::ChatMetrics;
use crate::prompt;
use crate::store::{self, BotText, Message, Session};
use crate::turns::{Chat, FALLBACK, Reply, SORRY, bot_frame, event_frame};
use botlib::protocol::{ServerEvent, SourceItem, Suggestion};
use botlib::{AppError, BotId};
use botstate::services::{
    ChatChunk, ChatMessage, ChatRequest, FreeText, KbQuery, Passage, ToolCall, ToolInput,
};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A streamed answer that sends nothing for this long is abandoned.
const STREAM_IDLE: Duration = Duration::from_secs(30);
/// A streamed answer may take this long in all (tool runs included).
const STREAM_TOTAL: Duration = Duration::from_secs(180);
/// Prompt budget when the bot sets no `llm-prompt-tokens`.
const PROMPT_TOKENS: usize = 3000;
/// The answer when the rate limit refuses a call.
pub const BUSY: &str = "I'm receiving too many questions right now. Please try again in a minute.";
/// The answer when the monthly budget is used up.
pub const BUDGET: &str = "This assistant has used up its allowance of AI answers for now. Please try again later, or ask a person.";
/// Said when the tool loop hit its cap.
pub const TOO_MANY_STEPS: &str = "I couldn't finish that: it took too many steps.";

/// How one model round ended.
enum Ended {
    Done,
    Cancelled,
    Failed,
}

/// One round: its text and the tools it asked for.
struct Round {
    text: String,
    calls: Vec<ToolCall>,
    ended: Ended,
}

impl Chat {
    /// A message no script waited for.
    pub(crate) async fn free_text(&self, s: &Session, m: &Message, ft: FreeText) -> Vec<Reply> {
        let bot_id: Option<BotId> = s.bot_id.parse().ok();
        let info = bot_id.and_then(|b| self.bots.get(b));
        // A confirmation this message answers.
        if let Some(r) = self.confirmation(s, m, &ft).await {
            return r;
        }
        let limit = info
            .as_ref()
            .map(|b| b.parse_or("history-limit", 10i64))
            .unwrap_or(10);
        let (sid, before) = (s.id.clone(), m.seq);
        let history: Vec<(String, String)> = self
            .db
            .run(move |c| store::recent(c, &sid, before, limit * 2))
            .await
            .unwrap_or_default()
            .into_iter()
            // The conversation's text only (not tool runs or "continue" frames).
            .filter(|h| h.kind == "text")
            .map(|h| {
                (
                    if h.role == "user" { "user" } else { "assistant" }.to_string(),
                    h.content,
                )
            })
            .collect();
        let passages = self.passages(s, bot_id, &ft).await;
        let budget = info
            .as_ref()
            .map(|b| b.parse_or("llm-prompt-tokens", PROMPT_TOKENS))
            .unwrap_or(PROMPT_TOKENS);
        let messages = prompt::assemble(&ft.system_prompt, &passages, &history, &ft.message, budget);
        let req = ChatRequest {
            bot: bot_id,
            session: s.id.parse().ok(),
            model: ft.model.clone(),
            messages,
            tools: ft.tools.clone(),
            ..Default::default()
        };
        let max_rounds = info
            .as_ref()
            .map(|b| b.parse_or("llm-max-tool-rounds", 8u32))
            .unwrap_or(8);
        let confirm: Vec<String> = info
            .as_ref()
            .and_then(|b| b.get("confirm-tools"))
            .map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        self.converse(s, m, req, ft.suggestions, &passages, max_rounds, &confirm)
            .await
    }

    /// The model's rounds with tools between them, streamed as one answer.
    #[allow(clippy::too_many_arguments)]
    async fn converse(
        &self,
        s: &Session,
        m: &Message,
        mut req: ChatRequest,
        suggestions: Vec<Suggestion>,
        passages: &[Passage],
        max_rounds: u32,
        confirm: &[String],
    ) -> Vec<Reply> {
        let cancel = self.hub.begin_stream(&s.id);
        // A message that arrived before this stream could be cancelled cancels it now.
        let (sid, seq) = (s.id.clone(), m.seq);
        if let Ok(Some(next)) = self
            .db
            .run(move |c| store::next_pending_after(c, &sid, seq))
            .await
        {
            tracing::debug!(session = %s.id, next = next.seq, "chat: answer superseded before it streamed");
            cancel.cancel();
        }
        let deadline = tokio::time::Instant::now() + STREAM_TOTAL;
        let mut said = String::new();
        let mut rounds = 0u32;
        let mut extra: Vec<Reply> = Vec::new();
        loop {
            let stream = match self.llm.chat_stream(req.clone()).await {
                Ok(st) => st,
                Err(AppError::NotConfigured(_)) if rounds == 0 => {
                    self.hub.end_stream(&s.id);
                    return self.without_model(s, passages, suggestions).await;
                }
                Err(e) => {
                    let polite = self.refusal(s, &e);
                    self.say(s, &cancel, &mut said, polite).await;
                    break;
                }
            };
            let round = self.read(s, stream, &cancel, deadline, &mut said).await;
            match round.ended {
                Ended::Cancelled => break,
                Ended::Failed => {
                    if said.is_empty() {
                        self.hub.end_stream(&s.id);
                        self.metrics
                            .errors
                            .get_or_create(&ChatMetrics::bot(&s.bot_name))
                            .inc();
                        return vec![plain(SORRY)];
                    }
                    break;
                }
                Ended::Done if round.calls.is_empty() => break,
                Ended::Done => {}
            }
            rounds += 1;
            if rounds > max_rounds {
                self.say(s, &cancel, &mut said, TOO_MANY_STEPS).await;
                break;
            }
            req.messages.push(ChatMessage {
                tool_calls: round.calls.clone(),
                ..ChatMessage::new("assistant", round.text)
            });
            for call in round.calls {
                if confirm.contains(&call.name.to_ascii_lowercase()) {
                    // Ask first; the next message decides (see `confirmation`).
                    let ask = format!(
                        "I'd like to run **{}** with {}. Shall I go ahead?",
                        call.name, call.arguments
                    );
                    self.say(s, &cancel, &mut said, &ask).await;
                    extra.push(Reply {
                        text: BotText {
                            content: serde_json::json!({"tool": call.name, "arguments": call.arguments})
                                .to_string(),
                            suggestions: Vec::new(),
                            kind: "confirm",
                        },
                        streamed: false,
                    });
                    self.hub.end_stream(&s.id);
                    return finish(said, yes_no(), extra);
                }
                let result = self.run_tool(s, &call, &cancel, &mut said).await;
                req.messages.push(ChatMessage::tool_result(&call.id, result));
            }
            if cancel.is_cancelled() {
                break;
            }
        }
        self.hub.end_stream(&s.id);
        finish(said, suggestions, extra)
    }

    /// Runs one tool the model asked for; its TALKs join the answer; returns what goes
    /// back to the model (the RETURN value, or the error it can correct).
    async fn run_tool(
        &self,
        s: &Session,
        call: &ToolCall,
        cancel: &CancellationToken,
        said: &mut String,
    ) -> String {
        let (Ok(bot), Ok(session), Ok(user)) = (s.bot_id.parse(), s.id.parse(), s.user_id.parse()) else {
            return "error: this conversation cannot run tools".into();
        };
        if !call.arguments.is_object() {
            return format!(
                "error: the arguments of {} must be a JSON object; got: {}",
                call.name, call.arguments
            );
        }
        let input = ToolInput {
            bot,
            session,
            user,
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            channel: s.channel.clone(),
        };
        match self.dialogs.run_tool(input).await {
            Ok(out) => {
                for t in out.messages {
                    self.say(s, cancel, said, &t).await;
                }
                match out.result {
                    serde_json::Value::String(t) => t,
                    serde_json::Value::Null => "done".into(),
                    v => v.to_string(),
                }
            }
            Err(AppError::BadRequest(m)) => format!("error: {m}"),
            Err(e) => {
                tracing::warn!(session = %s.id, tool = %call.name, error = %e, "chat: tool failed");
                self.metrics
                    .errors
                    .get_or_create(&ChatMetrics::bot(&s.bot_name))
                    .inc();
                format!("error: the tool {} failed", call.name)
            }
        }
    }

    /// A message answering a pending confirmation: "yes" runs the tool and lets the model
    /// finish; anything else cancels it (and is answered normally when it is not "no").
    async fn confirmation(&self, s: &Session, m: &Message, ft: &FreeText) -> Option<Vec<Reply>> {
        let (sid, before) = (s.id.clone(), m.seq);
        let last = self
            .db
            .run(move |c| store::recent(c, &sid, before, 1))
            .await
            .ok()?
            .pop()?;
        if last.kind != "confirm" {
            return None;
        }
        let pending: serde_json::Value = serde_json::from_str(&last.content).ok()?;
        let answer = ft.message.trim().to_ascii_lowercase();
        let yes = matches!(
            answer.as_str(),
            "yes" | "y" | "ok" | "sim" | "sí" | "si" | "go ahead" | "confirm"
        );
        if !yes {
            if matches!(answer.as_str(), "no" | "n" | "não" | "nao" | "cancel") {
                return Some(vec![plain("OK, I won't do it.")]);
            }
            return None;
        }
        let call = ToolCall {
            id: format!("confirmed-{}", m.seq),
            name: pending.get("tool")?.as_str()?.to_string(),
            arguments: pending.get("arguments").cloned().unwrap_or_default(),
        };
        let cancel = self.hub.begin_stream(&s.id);
        let mut said = String::new();
        let result = self.run_tool(s, &call, &cancel, &mut said).await;
        self.hub.end_stream(&s.id);
        let done = if said.is_empty() { result } else { said };
        Some(vec![plain(&done)])
    }

    /// Passages for the message from the session's knowledge bases (all of the bot's when
    /// none is chosen); their sources go to the client as a `sources` event.
    async fn passages(&self, s: &Session, bot: Option<BotId>, ft: &FreeText) -> Vec<Passage> {
        let Some(bot) = bot else { return Vec::new() };
        let q = KbQuery {
            bot,
            kbs: ft.kbs.clone(),
            query: ft.message.clone(),
            top_k: None,
        };
        let passages = match self.kb.search(q).await {
            Ok(p) => p,
            Err(AppError::NotConfigured(_)) => Vec::new(),
            Err(e) => {
                tracing::warn!(session = %s.id, error = %e, "chat: knowledge base search failed");
                Vec::new()
            }
        };
        if !passages.is_empty() {
            let items = passages
                .iter()
                .map(|p| SourceItem {
                    source: p.source.clone(),
                    location: Some(p.location.clone()).filter(|l| !l.is_empty()),
                    score: p.score,
                    text: Some(p.text.clone()),
                })
                .collect();
            self.hub
                .send(&s.id, event_frame(&ServerEvent::Sources { items }), None)
                .await;
        }
        passages
    }

    /// No model: the best passage, quoted with its source, else the fallback.
    async fn without_model(
        &self,
        s: &Session,
        passages: &[Passage],
        suggestions: Vec<Suggestion>,
    ) -> Vec<Reply> {
        if let Some(best) = passages.first() {
            let content = format!("{}\n\n*Source: {}*", best.text.trim(), best.source);
            return vec![Reply {
                text: BotText {
                    content,
                    suggestions,
                    kind: "text",
                },
                streamed: false,
            }];
        }
        self.metrics
            .fallbacks
            .get_or_create(&ChatMetrics::bot(&s.bot_name))
            .inc();
        vec![Reply {
            text: BotText {
                content: FALLBACK.into(),
                suggestions,
                kind: "text",
            },
            streamed: false,
        }]
    }

    /// The polite words for a model call that failed.
    fn refusal(&self, s: &Session, e: &AppError) -> &'static str {
        match e {
            AppError::RateLimited { retry_after_secs } if *retry_after_secs >= 3600 => BUDGET,
            AppError::RateLimited { .. } => BUSY,
            e => {
                self.count_error(s, e);
                SORRY
            }
        }
    }

    /// Sends a piece of the answer (pieces after the first start a new paragraph).
    async fn say(&self, s: &Session, cancel: &CancellationToken, said: &mut String, text: &str) {
        if cancel.is_cancelled() || text.is_empty() {
            return;
        }
        let piece = if said.is_empty() {
            text.to_string()
        } else {
            format!("\n\n{text}")
        };
        self.hub
            .send(&s.id, bot_frame(s, &piece, false, vec![], None), None)
            .await;
        said.push_str(&piece);
    }

    /// Reads one model round, forwarding its text as it comes.
    async fn read(
        &self,
        s: &Session,
        mut stream: futures_util::stream::BoxStream<'static, botlib::AppResult<ChatChunk>>,
        cancel: &CancellationToken,
        deadline: tokio::time::Instant,
        said: &mut String,
    ) -> Round {
        let mut round = Round {
            text: String::new(),
            calls: Vec::new(),
            ended: Ended::Done,
        };
        let mut first = true;
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(STREAM_IDLE, stream.next()) => n,
                _ = cancel.cancelled() => { round.ended = Ended::Cancelled; break }
                _ = tokio::time::sleep_until(deadline) => { round.ended = Ended::Failed; break }
            };
            match next {
                Ok(Some(Ok(ChatChunk::Text(t)))) if !t.is_empty() => {
                    // A round after a tool run starts a new paragraph.
                    let piece = if first && !said.is_empty() {
                        format!("\n\n{t}")
                    } else {
                        t.clone()
                    };
                    first = false;
                    self.hub
                        .send(&s.id, bot_frame(s, &piece, false, vec![], None), None)
                        .await;
                    said.push_str(&piece);
                    round.text.push_str(&t);
                }
                Ok(Some(Ok(ChatChunk::ToolCall(c)))) => round.calls.push(c),
                Ok(Some(Ok(ChatChunk::Done(_)))) | Ok(None) => break,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    self.count_error(s, &e);
                    round.ended = Ended::Failed;
                    break;
                }
                Err(_) => {
                    round.ended = Ended::Failed;
                    break;
                }
            }
        }
        round
    }
}

fn yes_no() -> Vec<Suggestion> {
    ["Yes", "No"]
        .iter()
        .map(|t| Suggestion {
            text: t.to_string(),
            context: None,
            action: None,
        })
        .collect()
}

/// The stored answer: what was streamed (if anything), then any extra records.
fn finish(said: String, suggestions: Vec<Suggestion>, extra: Vec<Reply>) -> Vec<Reply> {
    let mut out = Vec::new();
    if !said.is_empty() {
        out.push(Reply {
            text: BotText {
                content: said,
                suggestions,
                kind: "text",
            },
            streamed: true,
        });
    }
    out.extend(extra);
    out
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
