//! `__k`, the single door from a script to the world: every keyword's run-time handler,
//! each reaching its service through [`Services`] (botstate's traits) and the journal.
//! Keywords whose service does not exist yet stop the script with "not available:
//! <keyword> needs <service>", never a silent success.

use super::hear::HearSpec;
use super::values::{self as v};
use super::{Outbound, RunCtx, Suspend, runtime_error, with_ctx};
use botstate::AppState;
use botstate::services::{ChatMessage, ChatRequest, OutgoingMail};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position};
use serde_json::{Value as Json, json};
use std::sync::Arc;

type R = Result<Dynamic, Box<EvalAltResult>>;

/// What scripts reach: the server's services (taken from `AppState` when the engine is
/// installed, so modules that provide them must install before this one) and the
/// guarded HTTP clients.
pub struct Services {
    /// The database.
    pub db: botstate::Db,
    /// Cache, pub/sub and locks.
    pub cache: Arc<dyn botstate::Cache>,
    /// The drive.
    pub objects: Arc<dyn botstate::services::ObjectStore>,
    /// Text out of documents (pdf, docx, xlsx…) for `READ`; `NotConfigured` on a server
    /// without the vectordb domain.
    pub documents: Arc<dyn botstate::services::DocumentReader>,
    /// Language models.
    pub llm: Arc<dyn botstate::services::LlmProvider>,
    /// Knowledge bases.
    pub kb: Arc<dyn botstate::services::KnowledgeBase>,
    /// The loaded bots' settings, published for the other domains.
    pub bots: Arc<botstate::BotRegistry>,
    /// Outgoing mail.
    pub mailer: Arc<dyn botstate::services::Mailer>,
    /// Schedules and event hooks.
    pub scheduler: Arc<dyn botstate::services::Scheduler>,
    /// The task list (`CREATE TASK`); `NotConfigured` on a server without the tasks
    /// domain.
    pub todos: Arc<dyn botstate::services::TaskList>,
    /// HTTP refusing private addresses.
    pub http: crate::net::Guarded,
    /// HTTP for bots with `http-allow-private=true`.
    pub http_private: crate::net::Guarded,
    /// The runtime async services are driven on (runs happen on blocking threads).
    pub rt: tokio::runtime::Handle,
}

impl Services {
    /// The services of a server state, on the current Tokio runtime.
    pub fn new(state: &AppState) -> Result<Services, String> {
        let strict = crate::net::HttpPolicy::default();
        let private = crate::net::HttpPolicy {
            allow_private: true,
            ..Default::default()
        };
        Ok(Services {
            db: state.db.clone(),
            cache: state.cache.clone(),
            objects: state.objects.clone(),
            documents: state.documents.clone(),
            llm: state.llm.clone(),
            kb: state.kb.clone(),
            bots: state.bots.clone(),
            mailer: state.mailer.clone(),
            scheduler: state.scheduler.clone(),
            todos: state.todos.clone(),
            http: crate::net::Guarded::new(strict).map_err(|e| e.to_string())?,
            http_private: crate::net::Guarded::new(private).map_err(|e| e.to_string())?,
            rt: tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?,
        })
    }
}

fn err(m: impl Into<String>) -> Box<EvalAltResult> {
    runtime_error(m)
}

/// PRINT lines kept per turn, and characters per line.
const MAX_LOG_LINES: usize = 200;
const MAX_LOG_LINE: usize = 2000;
/// Suggestions, contexts, session values, tools, headers… a session may hold of each.
const MAX_SESSION_ITEMS: usize = 200;

fn room(len: usize, what: &str) -> Result<(), Box<EvalAltResult>> {
    if len >= MAX_SESSION_ITEMS {
        return Err(err(format!("a session holds at most {MAX_SESSION_ITEMS} {what}")));
    }
    Ok(())
}

fn arg(a: &Array, i: usize) -> Dynamic {
    a.get(i).cloned().unwrap_or(Dynamic::UNIT)
}

fn text(a: &Array, i: usize) -> String {
    a.get(i).map(v::text).unwrap_or_default()
}

fn suspend() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorTerminated(
        Dynamic::from("suspend"),
        Position::NONE,
    ))
}

/// A service error in the words an author can act on.
fn service_error(e: botlib::AppError) -> String {
    match e {
        botlib::AppError::NotConfigured(what) => format!("{what} is not configured on this server"),
        other => other.to_string(),
    }
}

pub(super) fn register(e: &mut Engine) {
    e.register_fn("__k", |name: &str, args: Array| keyword(name, args));
}

/// Journals and runs an async service call.
fn service<F, Fut>(kind: &str, side_effect: bool, f: F) -> R
where
    F: FnOnce(Arc<Services>, &mut RunCtx) -> Fut,
    Fut: std::future::Future<Output = Result<Json, String>>,
{
    let j = with_ctx(|ctx| {
        let r = ctx.effect(kind, |ctx| {
            let services = ctx.services.clone();
            let fut = f(services.clone(), ctx);
            services.rt.block_on(fut)
        });
        if side_effect && r.is_ok() {
            ctx.checkpoint()?;
        }
        r
    })??;
    Ok(v::from_json(&j))
}

fn not_available(phrase: &str, service: &str) -> R {
    Err(err(format!("not available: {phrase} needs {service}")))
}

fn keyword(name: &str, a: Array) -> R {
    match name {
        "TALK" => talk(text(&a, 0)),
        "BEGIN TALK" => talk(text(&a, 0)),
        "HEAR" => hear(&a),
        "PRINT" => {
            with_ctx(|ctx| {
                if !ctx.replaying() && ctx.log.len() < MAX_LOG_LINES {
                    ctx.log.push(text(&a, 0).chars().take(MAX_LOG_LINE).collect());
                }
            })?;
            Ok(Dynamic::UNIT)
        }
        "WAIT" => wait(&a),
        "ADD SUGGESTION" => with_ctx(|ctx| {
            let (kind, key, label) = (text(&a, 0), text(&a, 1), text(&a, 2));
            ctx.spend(key.len() + label.len())?;
            ctx.state
                .suggestions
                .retain(|s| s.context.as_deref() != Some(key.as_str()));
            room(ctx.state.suggestions.len(), "suggestions")?;
            ctx.state.suggestions.push(botlib::protocol::Suggestion {
                text: label,
                context: Some(key),
                action: Some(kind),
            });
            Ok(Dynamic::UNIT)
        })?,
        "CLEAR SUGGESTIONS" => with_ctx(|ctx| {
            ctx.state.suggestions.clear();
            Dynamic::UNIT
        }),
        "SET CONTEXT" => with_ctx(|ctx| {
            let (k, t) = (text(&a, 0), text(&a, 1));
            ctx.spend(k.len() + t.len())?;
            if !ctx.state.contexts.contains_key(&k) {
                room(ctx.state.contexts.len(), "contexts")?;
            }
            ctx.state.contexts.insert(k, t);
            Ok(Dynamic::UNIT)
        })?,
        "BEGIN SYSTEM PROMPT" => with_ctx(|ctx| {
            let t = text(&a, 0);
            ctx.spend(t.len())?;
            ctx.state.system_prompt = Some(t);
            Ok(Dynamic::UNIT)
        })?,
        "GET SESSION" => session_get(&text(&a, 0)),
        "SET SESSION" => with_ctx(|ctx| {
            let (k, val) = (text(&a, 0), v::to_json(&arg(&a, 1)));
            ctx.spend(k.len() + super::json_size(&val))?;
            if !ctx.state.values.contains_key(&k) {
                room(ctx.state.values.len(), "session values")?;
            }
            ctx.state.values.insert(k, val);
            Ok(Dynamic::UNIT)
        })?,
        "ADD TOOL" | "USE TOOL" => {
            let tool = text(&a, 0).to_lowercase();
            let tool = tool.strip_suffix(".bas").unwrap_or(&tool).to_string();
            with_ctx(|ctx| {
                let p = ctx.scripts.program(&format!("{tool}.bas")).map_err(err)?;
                if p.compiled.tool.is_none() {
                    return Err(err(format!(
                        "{tool}.bas is not a tool: it has no DESCRIPTION line"
                    )));
                }
                if !ctx.state.tools.contains(&tool) {
                    room(ctx.state.tools.len(), "tools")?;
                    ctx.state.tools.push(tool);
                }
                Ok(Dynamic::UNIT)
            })?
        }
        "CLEAR TOOLS" => with_ctx(|ctx| {
            ctx.state.tools.clear();
            Dynamic::UNIT
        }),
        "USE MODEL" => with_ctx(|ctx| {
            ctx.state.model = Some(text(&a, 0));
            Dynamic::UNIT
        }),
        "USE KB" => with_ctx(|ctx| {
            let kb = text(&a, 0);
            if !ctx.state.kbs.contains(&kb) {
                room(ctx.state.kbs.len(), "knowledge bases")?;
                ctx.state.kbs.push(kb);
            }
            Ok(Dynamic::UNIT)
        })?,
        "CLEAR KB" => with_ctx(|ctx| {
            let kb = text(&a, 0);
            if kb.is_empty() {
                ctx.state.kbs.clear();
            } else {
                ctx.state.kbs.retain(|k| *k != kb);
            }
            Dynamic::UNIT
        }),
        "ADD BOT" => with_ctx(|ctx| {
            room(ctx.state.bots.len(), "bots")?;
            ctx.spend(text(&a, 0).len() + text(&a, 1).len())?;
            ctx.state.bots.push((text(&a, 0), text(&a, 1)));
            Ok(Dynamic::UNIT)
        })?,
        "TRANSFER TO HUMAN" => {
            let reason = text(&a, 0);
            with_ctx(|ctx| ctx.state.transfer = Some(reason.clone()))?;
            talk("Transferring you to a human attendant.".into())
        }
        "SET HEADER" => with_ctx(|ctx| {
            let k = text(&a, 0);
            ctx.spend(k.len() + text(&a, 1).len())?;
            ctx.state.headers.retain(|(x, _)| !x.eq_ignore_ascii_case(&k));
            room(ctx.state.headers.len(), "headers")?;
            ctx.state.headers.push((k, text(&a, 1)));
            Ok(Dynamic::UNIT)
        })?,
        "CLEAR HEADERS" => with_ctx(|ctx| {
            ctx.state.headers.clear();
            Dynamic::UNIT
        }),
        "GET" => {
            let url = text(&a, 0);
            match url.strip_prefix("session.") {
                Some(attr) => session_get(attr),
                None => http("GET", url, Dynamic::UNIT),
            }
        }
        "POST" | "PUT" | "PATCH" => http(name, text(&a, 0), arg(&a, 1)),
        "DELETE" if a.len() == 1 && is_url(&text(&a, 0)) => http("DELETE", text(&a, 0), Dynamic::UNIT),
        "GRAPHQL" => {
            let body = Dynamic::from_map(Map::from_iter([
                ("query".into(), arg(&a, 1)),
                ("variables".into(), arg(&a, 2)),
            ]));
            http("POST", text(&a, 0), body)
        }
        "LLM" => llm(text(&a, 0), None),
        "SUMMARIZE" => llm(
            format!("Summarize the following text briefly:\n\n{}", text(&a, 0)),
            None,
        ),
        "TRANSLATE" => llm(
            format!(
                "Translate the following text to the language with code {}. Answer with the translation only.\n\n{}",
                text(&a, 1),
                text(&a, 0)
            ),
            None,
        ),
        "SENTIMENT" => {
            let r = llm(
                format!(
                    "Classify the sentiment of this text as exactly one word: positive, negative or neutral.\n\n{}",
                    text(&a, 0)
                ),
                None,
            )?;
            let t = v::text(&r).to_lowercase();
            let word = ["positive", "negative", "neutral"]
                .into_iter()
                .find(|w| t.contains(w))
                .unwrap_or("neutral");
            Ok(Dynamic::from(word.to_string()))
        }
        "CLASSIFY" => {
            let options: Vec<String> = super::builtins::items(&arg(&a, 1)).iter().map(v::text).collect();
            let r = llm(
                format!(
                    "Classify the text into exactly one of these categories: {}. Answer with the category only.\n\n{}",
                    options.join(", "),
                    text(&a, 0)
                ),
                None,
            )?;
            let t = v::text(&r).to_lowercase();
            let pick = options
                .iter()
                .find(|o| t.contains(&o.to_lowercase()))
                .cloned()
                .unwrap_or_default();
            Ok(Dynamic::from(pick))
        }
        "THINK KB" => think_kb(text(&a, 0)),
        "SEND MAIL" | "SEND EMAIL" | "BEGIN MAIL" => send_mail(text(&a, 0), text(&a, 1), text(&a, 2)),
        "PUBLISH EVENT" => {
            let (event, data) = (text(&a, 0), v::to_json(&arg(&a, 1)));
            service("PUBLISH EVENT", true, move |s, ctx| {
                let channel = format!("bot-events:{}:{event}", ctx.session.bot_id);
                async move {
                    s.cache
                        .publish(&channel, data.to_string().as_bytes())
                        .await
                        .map(|_| Json::Null)
                        .map_err(service_error)
                }
            })
        }
        "CALL" => call_script(&text(&a, 0), super::builtins::items(&arg(&a, 1))),
        "MAP" => Ok(map_rows(&arg(&a, 0), &text(&a, 1))),
        "FILL" => fill(&arg(&a, 0), &text(&a, 1)),
        "PIVOT" => Ok(pivot(&arg(&a, 0), &text(&a, 1), &text(&a, 2))),
        "READ" | "WRITE" | "LIST" | "COPY" | "MOVE" | "DELETE FILE" | "UPLOAD" | "DOWNLOAD" | "SEND FILE" => {
            super::drive::call(name, &a)
        }
        "SAVE"
        | "INSERT"
        | "UPDATE"
        | "DELETE"
        | "MERGE"
        | "FIND"
        | "SEARCH"
        | "FILTER"
        | "AGGREGATE"
        | "JOIN"
        | "GROUP BY"
        | "SORT"
        | "SAVE FROM UNSTRUCTURED" => super::data_ops::call(name, &a),
        "SET BOT MEMORY" | "GET BOT MEMORY" | "SET USER MEMORY" | "GET USER MEMORY" | "REMEMBER"
        | "RECALL" => super::memory::call(name, &a),
        "CREATE TASK" => create_task(&a),
        "BOOK" => not_available(name, "the calendar service"),
        "TALK TO" | "SEND SMS" | "SEND MESSAGE" | "SEND TO" | "SEND TEMPLATE" => {
            not_available(name, "a messaging channel (SMS/WhatsApp)")
        }
        "CREATE DRAFT" => not_available(name, "the mail service's IMAP drafts"),
        "GENERATE PDF" | "MERGE PDF" => not_available(name, "the PDF service"),
        "COMPRESS" | "EXTRACT" | "IMPORT" | "EXPORT" | "QR CODE" => {
            not_available(name, "the drive's file converters")
        }
        "BOT SHARE MEMORY" | "DELEGATE" => not_available(name, "the multi-bot service"),
        "ADD MEMBER" => not_available(name, "the groups service"),
        "POST TO" => not_available(name, "a social network connector"),
        "USE WEBSITE" => use_website(text(&a, 0)),
        "KB STATISTICS" | "KB DOCUMENTS COUNT" => not_available(name, "the knowledge-base service"),
        "WEATHER" => not_available(name, "a weather provider"),
        "SOAP" => not_available(name, "a SOAP client"),
        "WAIT FOR EVENT" => not_available(name, "the events service"),
        other => Err(err(format!("unknown keyword {other}"))),
    }
}

fn is_url(s: &str) -> bool {
    let l = s.trim_start().to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

fn talk(content: String) -> R {
    with_ctx(|ctx| {
        if !ctx.replaying() {
            ctx.spend(content.len() + 64 * ctx.state.suggestions.len())?;
        }
        ctx.effect("TALK", |ctx| {
            ctx.out.push(Outbound {
                content,
                suggestions: ctx.state.suggestions.clone(),
            });
            Ok(Json::Null)
        })
        .map(|_| Dynamic::UNIT)
    })?
}

fn hear(a: &Array) -> R {
    let spec = HearSpec {
        ty: text(a, 0),
        options: super::builtins::items(&arg(a, 1)).iter().map(v::text).collect(),
        default: v::to_json(&arg(a, 3)),
        tries: 0,
        at: 0,
    };
    let prompt = arg(a, 2);
    with_ctx(|ctx| {
        if ctx.replaying() {
            return ctx
                .effect("HEAR", |_| Err("unreachable".into()))
                .map(|j| v::from_json(&j));
        }
        // A message that arrived while the script was busy answers this HEAR.
        // (one that does not fit is dropped, and the HEAR asks as usual).
        if let Some(msg) = ctx.inbox.pop_front()
            && let Ok(value) = super::hear::accept(&spec, &msg)
        {
            return ctx.effect("HEAR", |_| Ok(value)).map(|j| v::from_json(&j));
        }
        let buttons: Vec<botlib::protocol::Suggestion> = spec
            .options
            .iter()
            .map(|o| botlib::protocol::Suggestion {
                text: o.clone(),
                context: Some(o.clone()),
                action: Some("text".into()),
            })
            .collect();
        let mut suggestions = ctx.state.suggestions.clone();
        suggestions.extend(buttons.iter().cloned());
        if !prompt.is_unit() {
            ctx.out.push(Outbound {
                content: v::text(&prompt),
                suggestions,
            });
        } else if !buttons.is_empty() {
            match ctx.out.last_mut() {
                Some(last) => last.suggestions.extend(buttons),
                None => ctx.out.push(Outbound {
                    content: String::new(),
                    suggestions,
                }),
            }
        }
        let spec = HearSpec {
            at: ctx.journal.len(),
            ..spec
        };
        ctx.suspend = Some(Suspend::Hear { spec });
        Err(suspend())
    })?
}

fn wait(a: &Array) -> R {
    let secs = v::number(&arg(a, 0)).map_or(0.0, |n| n.f());
    if !(0.0..=366.0 * 86400.0).contains(&secs) {
        return Err(err(format!("WAIT takes 0 to 31,622,400 seconds, got {secs}")));
    }
    with_ctx(|ctx| {
        let until = ctx
            .effect("WAIT", |ctx| Ok(json!(ctx.now_ms() + (secs * 1000.0) as i64)))?
            .as_i64()
            .unwrap_or(0);
        if ctx.now_ms() >= until || ctx.cursor < ctx.journal.len() {
            return Ok(Dynamic::UNIT);
        }
        ctx.suspend = Some(Suspend::Wait { until_ms: until });
        Err(suspend())
    })?
}

fn session_get(attr: &str) -> R {
    with_ctx(|ctx| {
        let s = &ctx.session;
        let val = match attr.to_lowercase().as_str() {
            "user_id" => Json::String(s.user_id.clone()),
            "user_name" => Json::String(s.user_name.clone()),
            "user_email" => Json::String(s.user_email.clone()),
            "user_phone" => Json::String(s.user_phone.clone()),
            "channel" => Json::String(s.channel.clone()),
            "session_id" => Json::String(s.session_id.clone()),
            "bot_name" => Json::String(s.bot_name.clone()),
            "bot_id" => Json::String(s.bot_id.to_string()),
            "language" => Json::String(s.language.clone()),
            other => ctx.state.values.get(other).cloned().unwrap_or(Json::Null),
        };
        v::from_json(&val)
    })
}

fn http(method: &str, url: String, body: Dynamic) -> R {
    let method = method.to_string();
    let body = (!body.is_unit()).then(|| v::to_json(&body));
    let side_effect = method != "GET";
    let j = with_ctx(|ctx| {
        let r = ctx.effect(&method.clone(), |ctx| {
            let limits = ctx.limits;
            let client = ctx.http_call()?;
            let req = crate::net::HttpRequest {
                method,
                url,
                headers: ctx.state.headers.clone(),
                body,
            };
            let resp = ctx
                .services
                .rt
                .block_on(crate::net::fetch(&client, req))
                .map_err(|e| e.to_string())?;
            ctx.http_bytes += resp.body.to_string().len();
            if ctx.http_bytes > limits.http_bytes {
                return Err(format!(
                    "HTTP responses passed {} bytes in one turn",
                    limits.http_bytes
                ));
            }
            if resp.status >= 400 {
                return Err(format!(
                    "HTTP {}: {}",
                    resp.status,
                    truncate(&resp.body.to_string(), 200)
                ));
            }
            Ok(resp.body)
        });
        if side_effect && r.is_ok() {
            ctx.checkpoint()?;
        }
        r
    })??;
    Ok(v::from_json(&j))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// One completion with the session's system prompt and contexts.
fn llm(prompt: String, _mode: Option<String>) -> R {
    service("LLM", false, move |s, ctx| {
        let mut system = ctx.state.system_prompt.clone().unwrap_or_default();
        for (name, t) in &ctx.state.contexts {
            system.push_str(&format!("\n\n[{name}]\n{t}"));
        }
        if system.trim().is_empty()
            && let Some(p) = s
                .bots
                .get(ctx.session.bot_id)
                .and_then(|b| b.system_prompt().map(str::to_string))
        {
            system = p;
        }
        let mut messages = Vec::new();
        if !system.trim().is_empty() {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", prompt));
        let req = ChatRequest {
            bot: Some(ctx.session.bot_id),
            session: ctx.session.session_id.parse().ok(),
            model: ctx.state.model.clone(),
            messages,
            ..Default::default()
        };
        async move {
            s.llm
                .chat(req)
                .await
                .map(|r| Json::String(r.content))
                .map_err(service_error)
        }
    })
}

/// Crawls a site (bounded, SSRF rules: the knowledge-base service's) into a knowledge base
/// and uses it for the rest of the session.
fn use_website(url: String) -> R {
    if !is_url(&url) {
        return Err(err(format!("USE WEBSITE needs an http(s) URL, got `{url}`")));
    }
    let kb = service("USE WEBSITE", false, move |s, ctx| {
        let bot = ctx.session.bot_id;
        async move {
            s.kb.index_website(bot, url)
                .await
                .map(Json::String)
                .map_err(service_error)
        }
    })?;
    let kb = v::text(&kb);
    with_ctx(|ctx| {
        if !ctx.state.kbs.contains(&kb) {
            room(ctx.state.kbs.len(), "knowledge bases")?;
            ctx.state.kbs.push(kb);
        }
        Ok(Dynamic::UNIT)
    })?
}

/// `SAVE FROM UNSTRUCTURED`'s first half: the model reads `text` and answers one JSON
/// object with the table's columns (those of its TABLE definition, when it has one; only
/// those are kept).
pub(super) fn extract_row(table: String, text: String) -> R {
    service("SAVE FROM UNSTRUCTURED", false, move |s, ctx| {
        let bot = ctx.session.bot_id;
        let session = ctx.session.session_id.parse().ok();
        let model = ctx.state.model.clone();
        async move {
            let t = table.clone();
            let columns: Vec<String> =
                s.db.run(move |c| {
                    Ok(crate::data::Tables::new(bot)
                        .describe(c, &t)
                        .ok()
                        .flatten()
                        .filter(|i| i.defined)
                        .map(|i| i.columns.into_iter().map(|c| c.name).collect())
                        .unwrap_or_default())
                })
                .await
                .map_err(service_error)?;
            let wanted = if columns.is_empty() {
                "the fields the text gives (short snake_case names)".to_string()
            } else {
                format!("exactly these keys: {}", columns.join(", "))
            };
            let system = format!(
                "Extract a record for the table `{table}` from the user's text. Answer with one JSON object with {wanted}. \
                 Use null for anything the text does not say. No prose."
            );
            let req = ChatRequest {
                bot: Some(bot),
                session,
                model,
                messages: vec![ChatMessage::new("system", system), ChatMessage::new("user", text)],
                json_mode: true,
                temperature: Some(0.0),
                ..Default::default()
            };
            let answer = s.llm.chat(req).await.map_err(service_error)?.content;
            let body = answer
                .trim()
                .trim_start_matches("```json")
                .trim_start_matches("```")
                .trim_end_matches("```");
            let mut row: serde_json::Map<String, Json> = match serde_json::from_str(body.trim()) {
                Ok(Json::Object(m)) => m,
                _ => {
                    return Err(format!(
                        "the model did not answer a JSON object for {table}: {}",
                        answer.chars().take(200).collect::<String>()
                    ));
                }
            };
            if !columns.is_empty() {
                row.retain(|k, _| columns.iter().any(|c| c.eq_ignore_ascii_case(k)));
            }
            row.retain(|_, v| !v.is_null());
            Ok(Json::Object(row))
        }
    })
}

fn think_kb(query: String) -> R {
    service("THINK KB", false, move |s, ctx| {
        let bot = ctx.session.bot_id;
        let kbs = ctx.state.kbs.clone();
        async move {
            let query = botstate::services::KbQuery {
                bot,
                kbs,
                query,
                top_k: None,
            };
            let passages = s.kb.search(query).await.map_err(service_error)?;
            Ok(Json::Array(
                passages
                    .into_iter()
                    .map(|p| {
                        json!({
                            "text": p.text,
                            "source": p.source,
                            "location": p.location,
                            "kb": p.kb,
                            "score": p.score,
                        })
                    })
                    .collect(),
            ))
        }
    })
}

fn send_mail(to: String, subject: String, body: String) -> R {
    let recipients: Vec<String> = to
        .split([',', ';'])
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if recipients.is_empty() {
        return Err(err("SEND MAIL needs a recipient"));
    }
    service("MAIL", true, move |s, ctx| {
        let mail = OutgoingMail {
            bot: Some(ctx.session.bot_id),
            to: recipients,
            subject,
            text: body,
            ..Default::default()
        };
        async move { s.mailer.send(mail).await.map(Json::String).map_err(service_error) }
    })
}

/// `CREATE TASK title, assignee, due[, project]`: a to-do item in the server's task
/// list, created by `bot:<bot name>`; gives its id. `due` is a date (a date value, or a
/// text the date functions read, taken as UTC like NOW) or empty for none.
fn create_task(a: &Array) -> R {
    let due = arg(a, 2);
    let due_ms = if v::is_empty(&due) {
        None
    } else {
        let date = match due.read_lock::<v::Date>() {
            Some(d) => Some(*d),
            None => v::Date::parse(&v::text(&due)),
        };
        let date = date.ok_or_else(|| {
            err(format!(
                "CREATE TASK needs a due date (or empty), got {}",
                v::describe(&due)
            ))
        })?;
        Some(date.0.and_utc().timestamp_millis())
    };
    let (title, assignee, project) = (text(a, 0), text(a, 1), text(a, 3));
    service("CREATE TASK", true, move |s, ctx| {
        let task = botstate::services::NewTask {
            bot: Some(ctx.session.bot_id),
            created_by: format!("bot:{}", ctx.session.bot_name),
            title,
            description: String::new(),
            assignee: Some(assignee.trim().to_string()).filter(|x| !x.is_empty()),
            due_ms,
            project: Some(project.trim().to_string()).filter(|x| !x.is_empty()),
        };
        async move {
            s.todos
                .create(task)
                .await
                .map(Json::String)
                .map_err(service_error)
        }
    })
}

/// `CALL "other.bas", args`: the other script runs in this conversation (same journal),
/// its PARAMs bound to the arguments in order.
fn call_script(file: &str, args: Array) -> R {
    let file = if file.to_lowercase().ends_with(".bas") {
        file.to_string()
    } else {
        format!("{file}.bas")
    };
    let (program, limits) = with_ctx(|ctx| {
        if ctx.depth >= 16 {
            return Err(err("CALL nests deeper than 16 scripts"));
        }
        let p = ctx.scripts.program(&file).map_err(err)?;
        ctx.depth += 1;
        Ok((p, ctx.limits))
    })??;
    let mut vars = with_ctx(|ctx| super::config_vars(&ctx.config))?;
    match &program.compiled.tool {
        Some(tool) => {
            for (p, a) in tool.params.iter().zip(args.iter()) {
                vars.insert(crate::compile::var_key(&p.name).into(), a.clone());
            }
        }
        None => {
            vars.insert("v_args".into(), Dynamic::from_array(args));
        }
    }
    let outcome = super::run_nested(&program, vars, &limits);
    with_ctx(|ctx| ctx.depth -= 1)?;
    match outcome {
        super::Outcome::Done(v) => Ok(v::from_json(&v)),
        super::Outcome::Suspended(_) => Err(suspend()),
        super::Outcome::Failed(e) if e.limit => Err(Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(e.to_string()),
            Position::NONE,
        ))),
        super::Outcome::Failed(e) => Err(err(e.to_string())),
    }
}

/// `MAP rows, "a->b, c->d"`: renames columns.
fn map_rows(rows: &Dynamic, spec: &str) -> Dynamic {
    let pairs: Vec<(String, String)> = spec
        .split(',')
        .filter_map(|p| p.split_once("->"))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect();
    let out: Array = super::builtins::items(rows)
        .into_iter()
        .map(|row| match row.try_cast::<Map>() {
            Some(mut m) => {
                for (from, to) in &pairs {
                    if let Some(x) = m.remove(from.as_str()) {
                        m.insert(to.as_str().into(), x);
                    }
                }
                Dynamic::from_map(m)
            }
            None => Dynamic::UNIT,
        })
        .collect();
    Dynamic::from_array(out)
}

/// `FILL rows, "Dear {{name}}"`: one text per row.
fn fill(rows: &Dynamic, template: &str) -> R {
    let rows = super::builtins::items(rows);
    super::builtins::fits(rows.len().saturating_mul(template.len()))?;
    let out: Array = rows
        .iter()
        .map(|row| {
            let mut t = template.to_string();
            if let Some(m) = row.read_lock::<Map>() {
                for (k, x) in m.iter() {
                    t = t.replace(&format!("{{{{{k}}}}}"), &v::text(x));
                }
            }
            Dynamic::from(t)
        })
        .collect();
    Ok(Dynamic::from_array(out))
}

/// `PIVOT rows, "rowcol", "valcol"`: the sum of `valcol` for each value of `rowcol`.
fn pivot(rows: &Dynamic, by: &str, val: &str) -> Dynamic {
    let mut out = Map::new();
    for row in super::builtins::items(rows) {
        if let Some(m) = row.read_lock::<Map>() {
            let key = m.get(by).map(v::text).unwrap_or_default();
            let add = m.get(val).and_then(v::number).map_or(0.0, |n| n.f());
            let cur = out.get(key.as_str()).and_then(v::number).map_or(0.0, |n| n.f());
            out.insert(key.as_str().into(), Dynamic::from_float(cur + add));
        }
    }
    Dynamic::from_map(out)
}
