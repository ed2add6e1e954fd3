//! [`Llm`]: the server's `LlmProvider`. For each call it resolves the bot's model
//! ([`crate::target`]), checks the rate limits and budgets ([`crate::guard`]), answers
//! from the response cache when allowed, calls the provider over the right wire (with the
//! transport's timeouts and retries), and records usage in the database and the metrics.
//! Streams are read by a task that forwards pieces through a small channel: a consumer
//! that stops reading (a cancelled answer) closes the upstream connection.

use crate::guard::{self, Limits};
use crate::llamacpp::Supervisor;
use crate::metrics::LlmMetrics;
use crate::sse::SseParser;
use crate::target::{self, Target, Wire};
use crate::transport::Transport;
use crate::usage::{self, UsageRow};
use crate::{answer_cache, anthropic, openai};
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botstate::config::LlmConfig;
use botstate::services::{ChatChunk, ChatRequest, ChatResponse, LlmProvider, Usage};
use botstate::{BotInfo, BotRegistry, Cache, Db};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most inputs in one embeddings request (larger lists are split).
pub const EMBED_BATCH: usize = 64;
/// Most inputs one `embed` call accepts.
pub const MAX_EMBED_INPUTS: usize = 4096;

/// The server's language models.
pub struct Llm {
    /// `[llm]` defaults.
    pub defaults: LlmConfig,
    /// The server-wide key (`llm-key` secret).
    pub server_key: Option<String>,
    /// The loaded bots' settings.
    pub bots: Arc<BotRegistry>,
    /// Budgets are summed from the usage rows here.
    pub db: Db,
    /// Rate counters and the response cache.
    pub cache: Arc<dyn Cache>,
    /// HTTP with timeouts and retries.
    pub transport: Transport,
    /// Usage rows and metrics.
    pub recorder: Recorder,
    /// Supervised `llama-server` processes.
    pub local: Supervisor,
}

/// What a call needs besides its body.
struct Call {
    target: Target,
    bot: Option<Arc<BotInfo>>,
    limits: Limits,
    cache_ttl: Option<Duration>,
}

impl Llm {
    fn bot(&self, bot: Option<BotId>) -> Option<Arc<BotInfo>> {
        bot.and_then(|b| self.bots.get(b))
    }

    async fn prepare(&self, bot_id: Option<BotId>) -> AppResult<Call> {
        let bot = self.bot(bot_id);
        let mut target = target::resolve(&self.defaults, self.server_key.as_deref(), bot.as_deref())
            .ok_or(AppError::NotConfigured("llm"))?;
        if let Some(file) = target.model_file.clone() {
            let ctx = bot
                .as_ref()
                .map(|b| b.parse_or("llm-context", 4096u32))
                .unwrap_or(4096);
            let extra = bot
                .as_ref()
                .and_then(|b| b.get("llm-server-args"))
                .unwrap_or_default()
                .to_string();
            target.base = self.local.base_url(&file, ctx, &extra).await?;
        }
        let b = bot.as_deref();
        let setting = |k: &str| b.and_then(|b| b.get(k));
        let limits = Limits {
            bot: bot_id.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
            org: setting("organization").unwrap_or("default").to_string(),
            bot_rpm: setting("llm-requests-per-minute")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.defaults.requests_per_minute_per_bot),
            org_rpm: self.defaults.requests_per_minute_per_org,
            bot_monthly_tokens: setting("llm-monthly-tokens")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.defaults.monthly_tokens_per_bot),
            org_monthly_tokens: self.defaults.monthly_tokens_per_org,
        };
        let cache_ttl = (setting("llm-cache") == Some("true")).then(|| {
            Duration::from_secs(
                setting("llm-cache-ttl")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(self.defaults.cache_ttl_secs),
            )
        });
        Ok(Call {
            target,
            bot,
            limits,
            cache_ttl,
        })
    }

    fn request(&self, call: &Call, req: &ChatRequest, stream: bool) -> (String, serde_json::Value) {
        let t = &call.target;
        let model = req
            .model
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| t.model.clone());
        match t.wire {
            Wire::Anthropic => (
                anthropic::url(&t.base),
                anthropic::body(req, &model, t.temperature, t.max_tokens, stream),
            ),
            wire => (
                openai::chat_url(wire, &t.base, &model),
                openai::chat_body(req, &model, &t.caps, t.temperature, t.max_tokens, stream),
            ),
        }
    }

    /// Sends a chat request. A supervised local server that died under the call is
    /// waited for (the supervisor restarts it) and the request sent once more.
    async fn send(
        &self,
        call: &mut Call,
        req: &ChatRequest,
        url: &str,
        body: &serde_json::Value,
        stream: bool,
    ) -> AppResult<reqwest::Response> {
        let first = self
            .transport
            .send(Self::builder(&call.target, url, body), stream)
            .await;
        let Some(file) = call.target.model_file.clone() else {
            return first;
        };
        match first {
            Err(AppError::Unavailable(m))
                if m.starts_with("cannot reach") || m.contains("request failed") =>
            {
                let ctx = call
                    .bot
                    .as_ref()
                    .map(|b| b.parse_or("llm-context", 4096u32))
                    .unwrap_or(4096);
                let extra = call
                    .bot
                    .as_ref()
                    .and_then(|b| b.get("llm-server-args"))
                    .unwrap_or_default()
                    .to_string();
                call.target.base = self
                    .local
                    .base_url_avoiding(&file, ctx, &extra, Some(&call.target.base))
                    .await?;
                let (url, body) = self.request(call, req, stream);
                self.transport
                    .send(Self::builder(&call.target, &url, &body), stream)
                    .await
            }
            other => other,
        }
    }

    fn builder(
        target: &Target,
        url: &str,
        body: &serde_json::Value,
    ) -> impl Fn(&reqwest::Client) -> reqwest::RequestBuilder {
        let (wire, key, url, body) = (target.wire, target.key.clone(), url.to_string(), body.clone());
        move |c: &reqwest::Client| {
            let r = c.post(&url).json(&body);
            match wire {
                Wire::Anthropic => anthropic::authorize(r, key.as_deref()),
                w => openai::authorize(w, r, key.as_deref()),
            }
        }
    }

    fn record(&self, call: &Call, session: Option<String>, r: Record) {
        self.recorder.record(call, session, r)
    }

    fn refused(&self, call: &Call, e: &AppError) {
        self.recorder.refused(call, e)
    }
}

/// Writes usage rows and metrics.
#[derive(Clone)]
pub struct Recorder {
    /// Where rows go.
    pub db: Db,
    /// The families.
    pub metrics: LlmMetrics,
}

impl Recorder {
    fn record(&self, call: &Call, req_session: Option<String>, r: Record) {
        let labels = [("bot", call.limits.bot.clone()), ("model", r.model.clone())];
        let outcome = if r.cached { "cached" } else { r.outcome };
        self.metrics
            .requests
            .get_or_create(&[
                ("bot", call.limits.bot.clone()),
                ("model", r.model.clone()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        let prices = usage::price(
            &r.model,
            call.bot
                .as_ref()
                .and_then(|b| b.get("llm-price-input"))
                .and_then(|v| v.parse().ok()),
            call.bot
                .as_ref()
                .and_then(|b| b.get("llm-price-output"))
                .and_then(|v| v.parse().ok()),
        );
        let cost = if r.cached {
            0
        } else {
            usage::cost_micros(prices, r.usage.prompt_tokens, r.usage.completion_tokens)
        };
        if !r.cached {
            self.metrics
                .prompt_tokens
                .get_or_create(&labels)
                .inc_by(r.usage.prompt_tokens as u64);
            self.metrics
                .completion_tokens
                .get_or_create(&labels)
                .inc_by(r.usage.completion_tokens as u64);
            self.metrics
                .cost
                .get_or_create(&labels)
                .inc_by(cost.max(0) as u64);
            self.metrics.latency.observe(r.latency.as_secs_f64());
            if let Some(t) = r.ttft {
                self.metrics.ttft.observe(t.as_secs_f64());
            }
        }
        let row = UsageRow {
            id: uuid_like(),
            at_ms: r.at_ms,
            bot_id: call.limits.bot.clone(),
            org: call.limits.org.clone(),
            session_id: req_session,
            provider: call.target.provider.clone(),
            model: r.model,
            kind: r.kind.into(),
            prompt_tokens: r.usage.prompt_tokens as i64,
            completion_tokens: r.usage.completion_tokens as i64,
            latency_ms: r.latency.as_millis() as i64,
            ttft_ms: r.ttft.map(|t| t.as_millis() as i64),
            cost_micros: cost,
            cached: r.cached,
            outcome: r.outcome.into(),
        };
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = usage::record(&db, row).await {
                tracing::warn!(error = %e, "llm: usage not recorded");
            }
        });
    }

    fn refused(&self, call: &Call, e: &AppError) {
        if matches!(e, AppError::RateLimited { .. }) {
            self.metrics
                .requests
                .get_or_create(&[
                    ("bot", call.limits.bot.clone()),
                    ("model", call.target.model.clone()),
                    ("outcome", "refused".into()),
                ])
                .inc();
        }
    }
}

/// One call's figures.
struct Record {
    at_ms: i64,
    model: String,
    kind: &'static str,
    usage: Usage,
    latency: Duration,
    ttft: Option<Duration>,
    cached: bool,
    outcome: &'static str,
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl LlmProvider for Llm {
    async fn chat(&self, req: ChatRequest) -> AppResult<ChatResponse> {
        let mut call = self.prepare(req.bot).await?;
        let session = req.session.map(|s| s.to_string());
        let (url, body) = self.request(&call, &req, false);
        let cache_key = call.cache_ttl.map(|_| answer_cache::key(&url, &body));
        let started = (Instant::now(), now_ms());
        if let Some(k) = &cache_key
            && let Some(hit) = answer_cache::get(self.cache.as_ref(), k).await
        {
            let model = hit.model.clone();
            self.record(
                &call,
                session,
                Record {
                    at_ms: started.1,
                    model,
                    kind: "chat",
                    usage: hit.usage,
                    latency: started.0.elapsed(),
                    ttft: None,
                    cached: true,
                    outcome: "ok",
                },
            );
            return Ok(hit);
        }
        if let Err(e) = guard::admit(self.cache.as_ref(), &self.db, &call.limits).await {
            self.refused(&call, &e);
            return Err(e);
        }
        let sent = self.send(&mut call, &req, &url, &body, false).await;
        let result = match sent {
            Ok(resp) => match resp.json::<serde_json::Value>().await {
                Ok(v) => match call.target.wire {
                    Wire::Anthropic => anthropic::parse_response(&v),
                    _ => openai::parse_response(&v),
                },
                Err(e) => Err(AppError::Unavailable(format!(
                    "the language model sent an unreadable answer: {e}"
                ))),
            },
            Err(e) => Err(e),
        };
        let model = |r: &ChatResponse| {
            if r.model.is_empty() {
                call.target.model.clone()
            } else {
                r.model.clone()
            }
        };
        match result {
            Ok(mut r) => {
                r.model = model(&r);
                self.record(
                    &call,
                    session,
                    Record {
                        at_ms: started.1,
                        model: r.model.clone(),
                        kind: "chat",
                        usage: r.usage,
                        latency: started.0.elapsed(),
                        ttft: None,
                        cached: false,
                        outcome: "ok",
                    },
                );
                if let (Some(k), Some(ttl)) = (&cache_key, call.cache_ttl) {
                    answer_cache::put(self.cache.as_ref(), k, &r, ttl).await;
                }
                Ok(r)
            }
            Err(e) => {
                self.refused(&call, &e);
                self.record(
                    &call,
                    session,
                    Record {
                        at_ms: started.1,
                        model: call.target.model.clone(),
                        kind: "chat",
                        usage: Usage::default(),
                        latency: started.0.elapsed(),
                        ttft: None,
                        cached: false,
                        outcome: "error",
                    },
                );
                Err(e)
            }
        }
    }

    async fn chat_stream(&self, req: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>> {
        let mut call = self.prepare(req.bot).await?;
        let session = req.session.map(|s| s.to_string());
        let (url, body) = self.request(&call, &req, true);
        let cache_key = call.cache_ttl.map(|_| answer_cache::key(&url, &body));
        let started = (Instant::now(), now_ms());
        if let Some(k) = &cache_key
            && let Some(hit) = answer_cache::get(self.cache.as_ref(), k).await
        {
            self.record(
                &call,
                session,
                Record {
                    at_ms: started.1,
                    model: hit.model.clone(),
                    kind: "stream",
                    usage: hit.usage,
                    latency: started.0.elapsed(),
                    ttft: None,
                    cached: true,
                    outcome: "ok",
                },
            );
            let chunks = vec![Ok(ChatChunk::Text(hit.content)), Ok(ChatChunk::Done(hit.usage))];
            return Ok(futures_util::stream::iter(chunks).boxed());
        }
        if let Err(e) = guard::admit(self.cache.as_ref(), &self.db, &call.limits).await {
            self.refused(&call, &e);
            return Err(e);
        }
        let resp = match self.send(&mut call, &req, &url, &body, true).await {
            Ok(r) => r,
            Err(e) => {
                self.refused(&call, &e);
                self.record(
                    &call,
                    session,
                    Record {
                        at_ms: started.1,
                        model: call.target.model.clone(),
                        kind: "stream",
                        usage: Usage::default(),
                        latency: started.0.elapsed(),
                        ttft: None,
                        cached: false,
                        outcome: "error",
                    },
                );
                return Err(e);
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<AppResult<ChatChunk>>(32);
        let idle = self.transport.idle_timeout;
        let wire = call.target.wire;
        let this = StreamEnd {
            recorder: self.recorder.clone(),
            cache: self.cache.clone(),
            call,
            session,
            cache_key,
            started,
        };
        tokio::spawn(async move {
            let mut bytes = resp.bytes_stream();
            let mut parser = SseParser::default();
            let mut oai = openai::StreamState::default();
            let mut ant = anthropic::StreamState::default();
            let mut text = String::new();
            let mut ttft = None;
            let mut usage = Usage::default();
            let mut outcome = "ok";
            let mut had_tools = false;
            'read: loop {
                let next = match tokio::time::timeout(idle, bytes.next()).await {
                    Err(_) => Some(Err(AppError::Unavailable(
                        "the language model went silent mid-answer".into(),
                    ))),
                    Ok(None) => None,
                    Ok(Some(Err(e))) => Some(Err(AppError::Unavailable(format!(
                        "the language model stream broke: {e}"
                    )))),
                    Ok(Some(Ok(b))) => {
                        Some(parser.feed(&b).map_err(AppError::Unavailable).and_then(|events| {
                            let mut out = Vec::new();
                            for e in events {
                                out.extend(match wire {
                                    Wire::Anthropic => ant.on_event(&e.event, &e.data)?,
                                    _ => oai.on_data(&e.data)?,
                                });
                            }
                            Ok(out)
                        }))
                    }
                };
                let chunks = match next {
                    None => {
                        let mut tail = Vec::new();
                        if let Some(e) = parser.finish() {
                            let more = match wire {
                                Wire::Anthropic => ant.on_event(&e.event, &e.data),
                                _ => oai.on_data(&e.data),
                            };
                            tail.extend(more.unwrap_or_default());
                        }
                        tail.extend(match wire {
                            Wire::Anthropic => ant.on_end(),
                            _ => oai.on_end(),
                        });
                        tail
                    }
                    Some(Err(e)) => {
                        outcome = "error";
                        let _ = tx.send(Err(e)).await;
                        break 'read;
                    }
                    Some(Ok(c)) => c,
                };
                let ended = chunks.iter().any(|c| matches!(c, ChatChunk::Done(_)));
                for c in chunks {
                    match &c {
                        ChatChunk::Text(t) => {
                            ttft.get_or_insert_with(|| this.started.0.elapsed());
                            text.push_str(t);
                        }
                        ChatChunk::ToolCall(_) => had_tools = true,
                        ChatChunk::Done(u) => usage = *u,
                    }
                    if tx.send(Ok(c)).await.is_err() {
                        outcome = "cancelled";
                        break 'read;
                    }
                }
                if ended {
                    break;
                }
            }
            this.finish(usage, ttft, outcome, text, had_tools).await;
        });
        Ok(
            futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
                .boxed(),
        )
    }

    async fn embed(&self, bot_id: Option<BotId>, inputs: Vec<String>) -> AppResult<Vec<Vec<f32>>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        if inputs.len() > MAX_EMBED_INPUTS {
            return Err(AppError::BadRequest(format!(
                "at most {MAX_EMBED_INPUTS} texts per embedding call"
            )));
        }
        let bot = self.bot(bot_id);
        // A local model folder (the bot's `embedding-model`, else the server's) runs in process.
        let named = bot.as_deref().and_then(|b| b.get("embedding-model"));
        let server = Some(self.defaults.embedding_model.as_str()).filter(|m| !m.trim().is_empty());
        if let Some(dir) = named.or(server).and_then(crate::local_embed::model_dir) {
            // A bot's package may name only the server's own model or one under `models_dir`.
            let allowed =
                named.is_none() || crate::local_embed::within(&dir, server, &self.defaults.models_dir);
            if !allowed {
                return Err(AppError::BadRequest(
                    "this bot's embedding-model is a folder outside the server's models_dir".into(),
                ));
            }
            return embed_in_process(self, bot_id, bot.as_deref(), dir, inputs).await;
        }
        let chat = target::resolve(&self.defaults, self.server_key.as_deref(), bot.as_deref());
        let t = target::resolve_embed(
            &self.defaults,
            self.server_key.as_deref(),
            bot.as_deref(),
            chat.as_ref(),
        )
        .ok_or(AppError::NotConfigured("embeddings"))?;
        let call = self.prepare(bot_id).await.unwrap_or_else(|_| Call {
            target: Target {
                wire: t.wire,
                provider: "embeddings".into(),
                base: t.base.clone(),
                key: t.key.clone(),
                model: t.model.clone(),
                temperature: None,
                max_tokens: None,
                caps: target::caps_for(t.wire, &t.model, None),
                model_file: None,
            },
            bot: bot.clone(),
            limits: Limits {
                bot: bot_id.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                org: "default".into(),
                ..Default::default()
            },
            cache_ttl: None,
        });
        let started = (Instant::now(), now_ms());
        let url = openai::embed_url(t.wire, &t.base, &t.model);
        let mut out = Vec::with_capacity(inputs.len());
        let mut total = Usage::default();
        for batch in inputs.chunks(EMBED_BATCH) {
            let body = openai::embed_body(&t.model, batch);
            let (url, key, wire) = (url.clone(), t.key.clone(), t.wire);
            let resp = self
                .transport
                .send(
                    move |c| openai::authorize(wire, c.post(&url).json(&body), key.as_deref()),
                    false,
                )
                .await?;
            let v: serde_json::Value = resp.json().await.map_err(|e| {
                AppError::Unavailable(format!("the embedding model sent an unreadable answer: {e}"))
            })?;
            let (vectors, u) = openai::parse_embeddings(&v, batch.len())?;
            total.prompt_tokens += u.prompt_tokens;
            out.extend(vectors);
        }
        self.record(
            &call,
            None,
            Record {
                at_ms: started.1,
                model: t.model.clone(),
                kind: "embed",
                usage: total,
                latency: started.0.elapsed(),
                ttft: None,
                cached: false,
                outcome: "ok",
            },
        );
        Ok(out)
    }
}

/// Embeds with the local model folder `dir` (feature `candle`) on the blocking pool, since
/// inference holds a CPU for a while, and records the call like the HTTP path does (kind
/// `embed`, provider `local`, the tokens read as prompt tokens, no cost).
async fn embed_in_process(
    llm: &Llm,
    bot_id: Option<BotId>,
    bot: Option<&BotInfo>,
    dir: std::path::PathBuf,
    inputs: Vec<String>,
) -> AppResult<Vec<Vec<f32>>> {
    #[cfg(not(feature = "candle"))]
    {
        let _ = (llm, bot_id, bot, dir, inputs);
        Err(AppError::BadRequest(
            "this build has no in-process embeddings: build with --features candle".into(),
        ))
    }
    #[cfg(feature = "candle")]
    {
        use crate::local_embed::LocalEmbedder;
        let started = (Instant::now(), now_ms());
        let model = dir.display().to_string();
        let done = tokio::task::spawn_blocking(move || LocalEmbedder::shared(&dir)?.embed_counted(&inputs))
            .await
            .map_err(|e| format!("the local embedding model stopped: {e}"))
            .and_then(|r| r);
        let call = Call {
            target: Target {
                wire: Wire::OpenAi,
                provider: "local".into(),
                base: String::new(),
                key: None,
                model: model.clone(),
                temperature: None,
                max_tokens: None,
                caps: target::caps_for(Wire::OpenAi, &model, None),
                model_file: None,
            },
            // No bot here: its `llm-price-*` settings price its remote model, and a local
            // model costs nothing.
            bot: None,
            limits: Limits {
                bot: bot_id.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                org: bot
                    .and_then(|b| b.get("organization"))
                    .unwrap_or("default")
                    .to_string(),
                ..Default::default()
            },
            cache_ttl: None,
        };
        let tokens = done.as_ref().map(|d| d.tokens).unwrap_or(0);
        llm.record(
            &call,
            None,
            Record {
                at_ms: started.1,
                model,
                kind: "embed",
                usage: Usage {
                    prompt_tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
                    completion_tokens: 0,
                },
                latency: started.0.elapsed(),
                ttft: None,
                cached: false,
                outcome: if done.is_ok() { "ok" } else { "error" },
            },
        );
        match done {
            Ok(d) => Ok(d.vectors),
            Err(e) => {
                tracing::warn!(error = %e, "llm: in-process embeddings failed");
                Err(AppError::Unavailable(e))
            }
        }
    }
}

/// Records a finished stream and caches its answer (the stream task outlives the call).
struct StreamEnd {
    recorder: Recorder,
    cache: Arc<dyn Cache>,
    call: Call,
    session: Option<String>,
    cache_key: Option<String>,
    started: (Instant, i64),
}

impl StreamEnd {
    async fn finish(
        self,
        usage: Usage,
        ttft: Option<Duration>,
        outcome: &'static str,
        text: String,
        had_tools: bool,
    ) {
        // A provider that reports no usage in streams: estimate from the text (4 chars a token).
        let usage = if usage == Usage::default() && !text.is_empty() {
            Usage {
                prompt_tokens: 0,
                completion_tokens: (text.chars().count() / 4).max(1) as u32,
            }
        } else {
            usage
        };
        let model = self.call.target.model.clone();
        self.recorder.record(
            &self.call,
            self.session.clone(),
            Record {
                at_ms: self.started.1,
                model: model.clone(),
                kind: "stream",
                usage,
                latency: self.started.0.elapsed(),
                ttft,
                cached: false,
                outcome,
            },
        );
        if outcome == "ok"
            && !had_tools
            && let (Some(k), Some(ttl)) = (&self.cache_key, self.call.cache_ttl)
        {
            let answer = ChatResponse {
                content: text,
                tool_calls: Vec::new(),
                usage,
                model,
            };
            answer_cache::put(self.cache.as_ref(), k, &answer, ttl).await;
        }
    }
}
