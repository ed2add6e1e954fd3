//! Durable conversations: botstate's `DialogEngine` over the journal runtime.
//!
//! A conversation is one `dialog_sessions` row: the script it runs, the content hashes of
//! the package's scripts when it started (it finishes on that version, even if the files
//! change), its journal, its session values, and what it waits for. A turn takes the
//! conversation's cluster lock, loads the row, replays the script against the journal on
//! a blocking thread, and saves the row; nothing stays in memory between turns.

use crate::package::Package;
use crate::runtime::hear::{self, HearSpec};
use crate::runtime::{
    self, Entry, Limits, Outbound, Outcome, Program, RunCtx, ScriptSource, Services, SessionInfo,
    SessionState, Suspend,
};
use crate::schema::{dialog_replies as dr, dialog_scripts as ds, dialog_sessions as dss};
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botstate::services::{
    BotProfile, CommitWith, DialogEngine, FreeText, OutboundMessage, ToolInput, ToolOutput, TurnInput,
    TurnOutput, WokenTurn,
};
use botstate::{AnyConnection, Bind, Db, DbErr, FixedSql};
use diesel::prelude::*;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The message a user gets when a script fails (the author gets the details in the log).
pub const SORRY: &str = "Sorry, something went wrong on my side. Please try again later.";

/// The answer to a message no script waits for, when no language model is configured.
pub const CANNOT_ANSWER: &str = "Sorry, I can't answer that. Try one of the options, or ask a person.";

/// How long a turn may hold a conversation's lock.
const TURN_LOCK: Duration = Duration::from_secs(120);

/// A conversation row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = dss)]
pub struct SessionRow {
    session_id: String,
    bot_id: String,
    user_id: String,
    script: String,
    /// What the conversation started on: `{"scripts": {file: hash}, "config": {…}}`.
    pinned: String,
    status: String,
    wake_at: Option<i64>,
    hear: Option<String>,
    journal: String,
    state: String,
    outbox: String,
    inbox: String,
    info: String,
    result: Option<String>,
    turns: i64,
    updated_at: i64,
}

/// What a conversation pinned when it started.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Pin {
    /// Content hash of every script, by file.
    scripts: BTreeMap<String, String>,
    /// The bot's config.csv.
    config: BTreeMap<String, String>,
}

/// What a tool run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRun {
    /// The script's RETURN value.
    pub result: Json,
    /// What it TALKed.
    pub messages: Vec<String>,
}

/// How a turn is asked for, beyond its message.
#[derive(Clone, Debug, Default)]
pub struct TurnOpts {
    /// Idempotency key (see [`TurnInput::input_id`]).
    pub input_id: Option<String>,
    /// Hand unconsumed messages back instead of answering them (see
    /// [`TurnInput::delegate_free_text`]).
    pub delegate_free_text: bool,
    /// The script was asked for explicitly: a finished conversation starts it afresh.
    pub restart: bool,
    /// The caller's write to commit with the turn's save (see [`TurnInput::commit_with`]).
    pub commit_with: Option<CommitWith>,
}

/// What a turn's save keeps besides the conversation: its answer under the input's
/// idempotency key, and the caller's own write in the same transaction.
#[derive(Clone, Debug, Default)]
struct Memo {
    key: Option<String>,
    with: Option<CommitWith>,
}

/// The dialog engine.
pub struct Dialogs {
    services: Arc<Services>,
    bots: RwLock<HashMap<BotId, Arc<Package>>>,
    builtin_home: std::sync::OnceLock<std::path::PathBuf>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The scripts a conversation pinned when it started, fetched by content hash.
struct Pinned {
    versions: BTreeMap<String, String>,
    db: Db,
}

impl ScriptSource for Pinned {
    fn program(&self, file: &str) -> Result<Arc<Program>, String> {
        let Some((name, hash)) = crate::package::resolve(self.versions.iter(), file) else {
            return Err(format!("no script {file} in this bot"));
        };
        if let Some(p) = runtime::cached_program(hash).filter(|p| p.compiled.file == *name) {
            return Ok(p);
        }
        let mut conn = self.db.get().map_err(|e| e.to_string())?;
        let src: String = ds::table
            .filter(ds::hash.eq(hash))
            .select(ds::source)
            .first(&mut *conn)
            .map_err(|e| format!("script {name} (version {hash}) is missing: {e}"))?;
        runtime::program(name, &src).map_err(|e| e.to_string())
    }
}

impl Dialogs {
    /// An engine over the server's services.
    pub fn new(services: Arc<Services>) -> Dialogs {
        Dialogs {
            services,
            bots: RwLock::new(HashMap::new()),
            builtin_home: std::sync::OnceLock::new(),
        }
    }

    /// Where the built-in default bot's documents are written (the data directory), so
    /// its knowledge base can be indexed like any folder's.
    pub fn set_builtin_home(&self, dir: std::path::PathBuf) {
        let _ = self.builtin_home.set(dir);
    }

    /// The built-in default bot, with its knowledge base on disk when a home is set.
    pub fn builtin(&self) -> Package {
        match self.builtin_home.get() {
            Some(home) => crate::watch::builtin_default_at(home).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the default bot's knowledge base could not be written");
                crate::watch::builtin_default()
            }),
            None => crate::watch::builtin_default(),
        }
    }

    /// The services scripts reach.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Makes a package the current version of its bot: stores its sources by hash (so
    /// conversations can finish on them), defines its tables and hands its schedules and
    /// hooks to the scheduler. Returns the bot's id.
    pub async fn install(&self, mut package: Package) -> AppResult<BotId> {
        let bot = BotId::for_name(&package.name);
        let rows: Vec<(String, String, String)> = package
            .programs
            .iter()
            .map(|(file, p)| (p.hash.clone(), file.clone(), package.sources[file].clone()))
            .collect();
        self.services.db.run(move |c| store_sources(c, &rows)).await?;
        let tables: Vec<crate::compile::TableBlock> = package
            .programs
            .values()
            .flat_map(|p| p.compiled.tables.clone())
            .collect();
        if !tables.is_empty() {
            let bot_uuid = bot;
            self.services
                .db
                .run(move |c| {
                    crate::runtime::define_tables(c, bot_uuid, &tables)
                        .map_err(|e| DbErr::App(AppError::BadRequest(e)))
                })
                .await?;
        }
        let jobs = crate::hooks::jobs(bot, &package);
        match self.services.scheduler.sync_bot_jobs(bot, jobs.clone()).await {
            // A registration the scheduler refused (a malformed cron expression, an unknown
            // time zone) is an error of its script line, shown to the bot's admins.
            Ok(rejected) => {
                for r in rejected {
                    let (file, line) = r.name.rsplit_once(':').unwrap_or((&r.name, "0"));
                    tracing::warn!(bot = %package.name, job = %r.name, reason = %r.reason, "not scheduled");
                    package.errors.push(crate::compile::CompileError {
                        file: file.to_string(),
                        line: line.parse().unwrap_or(0),
                        col: 1,
                        message: format!("not scheduled: {}", r.reason),
                    });
                }
            }
            // With no scheduler, a bot without schedules has nothing to register: quiet.
            Err(e) if !jobs.is_empty() => {
                tracing::warn!(bot = %package.name, error = %e, jobs = jobs.len(), "schedules not registered")
            }
            Err(_) => {}
        }
        self.services.bots.publish(botstate::BotInfo {
            id: bot,
            name: package.name.clone(),
            settings: package.config.clone(),
            prompt: package.prompt.clone(),
            folder: package.folder.clone(),
        });
        self.bots.write().expect("bots").insert(bot, Arc::new(package));
        Ok(bot)
    }

    /// Removes a bot (its conversations stay in the database).
    pub fn uninstall(&self, bot: BotId) -> bool {
        self.services.bots.remove(bot);
        self.bots.write().expect("bots").remove(&bot).is_some()
    }

    /// The current package of a bot.
    pub fn package(&self, bot: BotId) -> Option<Arc<Package>> {
        self.bots.read().expect("bots").get(&bot).cloned()
    }

    /// Starts (or continues) a conversation. `message` is `None` to start.
    pub async fn turn(&self, info: SessionInfo, message: Option<String>) -> AppResult<TurnOutput> {
        self.turn_in("start.bas", info, message).await
    }

    /// Like [`Dialogs::turn`], starting a new conversation at `script` instead of
    /// `start.bas` (the terminal runner, suggestion buttons that start a dialog).
    pub async fn turn_in(
        &self,
        script: &str,
        info: SessionInfo,
        message: Option<String>,
    ) -> AppResult<TurnOutput> {
        self.turn_with(script, info, message, TurnOpts::default()).await
    }

    /// A turn with options: idempotency key, delegated free text, explicit script.
    pub async fn turn_with(
        &self,
        script: &str,
        info: SessionInfo,
        message: Option<String>,
        opts: TurnOpts,
    ) -> AppResult<TurnOutput> {
        let cache = self.services.cache.clone();
        let lock_name = format!("dialog:{}", info.session_id);
        let mut lock = None;
        for _ in 0..100 {
            if let Some(l) = cache.try_lock(&lock_name, TURN_LOCK).await? {
                lock = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some(lock) = lock else {
            return Err(AppError::Conflict(
                "this conversation is busy with another turn".into(),
            ));
        };
        let r = self.turn_locked(script, info, message, &opts).await;
        let _ = cache.unlock(&lock).await;
        r
    }

    async fn turn_locked(
        &self,
        script: &str,
        info: SessionInfo,
        message: Option<String>,
        opts: &TurnOpts,
    ) -> AppResult<TurnOutput> {
        let db = self.services.db.clone();
        let sid = info.session_id.clone();
        let (row, memo): (Option<SessionRow>, Option<(String, String)>) = db
            .read(move |c| {
                let row = botstate::on_conn!(c, |c| dss::table
                    .find(&sid)
                    .select(SessionRow::as_select())
                    .first(c)
                    .optional())?;
                let memo = botstate::on_conn!(c, |c| dr::table
                    .find(&sid)
                    .select((dr::input_id, dr::output))
                    .first(c)
                    .optional())?;
                Ok::<_, DbErr>((row, memo))
            })
            .await?;
        let memo_key = Memo {
            key: opts.input_id.clone(),
            with: opts.commit_with.clone(),
        };
        let mut row = match row {
            // A conversation belongs to one bot and one user: any other caller gets nothing.
            Some(r) if r.bot_id != info.bot_id.to_string() || r.user_id != info.user_id => {
                return Err(AppError::NotFound);
            }
            // This input was answered already (the caller retries after a crash): the
            // same answer again, nothing runs twice.
            Some(_) if memo_key.key.is_some() && memo.as_ref().map(|m| &m.0) == memo_key.key.as_ref() => {
                return parse_req(&memo.expect("checked").1);
            }
            Some(r)
                if opts.restart && r.script != script && !matches!(r.status.as_str(), "hear" | "wait") =>
            {
                // Another script asked for explicitly on a finished conversation: it
                // starts afresh in the same session.
                let sid = r.session_id.clone();
                db.run(move |c| {
                    diesel::delete(dss::table.find(&sid))
                        .execute(c)
                        .map_err(DbErr::from)
                })
                .await?;
                return Box::pin(self.turn_locked(script, info, message, opts)).await;
            }
            Some(r) if opts.restart && r.script != script => {
                return Err(AppError::BadRequest(
                    "finish the current dialog first (it is waiting for an answer)".into(),
                ));
            }
            Some(r) => r,
            None => {
                let Some(pkg) = self.package(info.bot_id) else {
                    return Err(AppError::NotFound);
                };
                if let (None, true, Some(m)) = (pkg.program(script), opts.delegate_free_text, &message) {
                    // No dialog to run: the message goes to whoever answers free text.
                    return Ok(TurnOutput {
                        free_text: Some(FreeText {
                            message: m.clone(),
                            system_prompt: package_prompt(&pkg),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
                let Some(program) = pkg.program(script) else {
                    return Err(AppError::BadRequest(format!(
                        "bot {} has no {script} that compiles",
                        pkg.name
                    )));
                };
                let script = program.compiled.file.clone();
                let versions: BTreeMap<String, String> = pkg
                    .programs
                    .iter()
                    .map(|(f, p)| (f.clone(), p.hash.clone()))
                    .collect();
                let row = SessionRow {
                    session_id: info.session_id.clone(),
                    bot_id: info.bot_id.to_string(),
                    user_id: info.user_id.clone(),
                    script,
                    // The config is pinned with the scripts: `param-*` values and limits
                    // steer the replay.
                    pinned: serde_json::to_string(&Pin {
                        scripts: versions,
                        config: pkg.config.clone(),
                    })
                    .expect("json"),
                    status: "new".into(),
                    wake_at: None,
                    hear: None,
                    journal: "[]".into(),
                    state: "{}".into(),
                    outbox: "[]".into(),
                    inbox: "[]".into(),
                    info: serde_json::to_string(&info).expect("json"),
                    result: None,
                    turns: 0,
                    updated_at: now_ms(),
                };
                let r2 = row.clone();
                db.run(move |c| {
                    diesel::insert_into(dss::table)
                        .values(&r2)
                        .execute(c)
                        .map_err(DbErr::from)
                })
                .await?;
                // The start turn runs first; a message that came with it waits in the inbox.
                let mut row = row;
                if let Some(m) = message {
                    row.inbox = serde_json::to_string(&vec![m]).expect("json");
                }
                return self.replay(row, Vec::new(), memo_key).await;
            }
        };
        let mut journal: Vec<Entry> = parse_req(&row.journal)?;
        match (row.status.as_str(), message) {
            ("hear", Some(msg)) => {
                let mut spec: HearSpec = row.hear.as_deref().map(parse).unwrap_or_else(|| HearSpec {
                    ty: "TEXT".into(),
                    at: journal.len(),
                    ..Default::default()
                });
                if spec.at != journal.len() {
                    // A crash after a checkpoint left the journal past this HEAR: replay
                    // first; the message waits in the inbox for the HEAR it reaches.
                    queue(&mut row, msg);
                    return self.replay(row, journal, memo_key).await;
                }
                match hear::accept(&spec, &msg) {
                    Ok(value) => journal.push(Entry {
                        k: "HEAR".into(),
                        v: value,
                        e: None,
                    }),
                    Err(ask) => {
                        spec.tries += 1;
                        // Re-asked at most MAX_TRIES times; the next invalid answer fails.
                        if spec.tries > hear::MAX_TRIES {
                            journal.push(Entry {
                                k: "HEAR".into(),
                                v: Json::Null,
                                e: Some(format!("no valid answer after {} tries", hear::MAX_TRIES)),
                            });
                        } else {
                            row.hear = Some(serde_json::to_string(&spec).expect("json"));
                            let suggestions = menu_buttons(&spec);
                            return self
                                .save_only(
                                    row,
                                    TurnOutput {
                                        messages: vec![OutboundMessage {
                                            content: ask,
                                            suggestions,
                                        }],
                                        waiting_for_input: true,
                                        free_text: None,
                                    },
                                    memo_key,
                                )
                                .await;
                        }
                    }
                }
            }
            ("wait", msg) => {
                if let Some(m) = msg {
                    queue(&mut row, m);
                }
                if row.wake_at.is_some_and(|w| w > now_ms()) {
                    return self.save_only(row, TurnOutput::default(), memo_key).await;
                }
            }
            // Asked again to start: it is already waiting; say nothing new.
            ("hear", None) => {
                return Ok(TurnOutput {
                    waiting_for_input: true,
                    ..Default::default()
                });
            }
            ("new", msg) => {
                if let Some(m) = msg {
                    queue(&mut row, m);
                }
            }
            (_, Some(msg)) if opts.delegate_free_text => {
                return Ok(TurnOutput {
                    free_text: Some(self.free_text(&row, msg)),
                    ..Default::default()
                });
            }
            (_, Some(msg)) => return self.after_script(&row, msg).await,
            (_, None) => return Ok(TurnOutput::default()),
        }
        self.replay(row, journal, memo_key).await
    }

    /// A message after the script ended (spec §10): the LLM with the session's system
    /// prompt and contexts when one is configured, else a clear answer that the bot cannot
    /// answer. (The chat domain adds history, knowledge bases and tools on top.)
    async fn after_script(&self, row: &SessionRow, msg: String) -> AppResult<TurnOutput> {
        let FreeText {
            message: msg,
            system_prompt: system,
            model,
            suggestions,
            ..
        } = self.free_text(row, msg);
        let mut messages = Vec::new();
        if !system.trim().is_empty() {
            messages.push(botstate::services::ChatMessage::new("system", system));
        }
        messages.push(botstate::services::ChatMessage::new("user", msg));
        let req = botstate::services::ChatRequest {
            bot: row.bot_id.parse().ok(),
            session: row.session_id.parse().ok(),
            model,
            messages,
            ..Default::default()
        };
        let content = match self.services.llm.chat(req).await {
            Ok(r) => r.content,
            Err(AppError::NotConfigured(_)) => CANNOT_ANSWER.to_string(),
            Err(e) => return Err(e),
        };
        Ok(TurnOutput {
            messages: vec![OutboundMessage { content, suggestions }],
            ..Default::default()
        })
    }

    /// Writes the row back, fenced: only if nobody else saved it since it was read
    /// (`turns` is the fence), so two instances can never both finish the same turn.
    /// With the caller's write (when the answer is final), that runs in the same
    /// transaction; otherwise, with a memo key, the answer is kept under that input id.
    async fn save_only(&self, mut row: SessionRow, out: TurnOutput, memo: Memo) -> AppResult<TurnOutput> {
        let fence = row.turns;
        row.turns += 1;
        row.updated_at = now_ms();
        let db = self.services.db.clone();
        let with = memo.with.filter(|_| out.free_text.is_none());
        // The caller's write stores the answer with the turn, so the input is never asked
        // again: no memo needed (it would only be a second row written per turn).
        let output = match with {
            Some(_) => None,
            None => memo.key.map(|m| (m, serde_json::to_string(&out).expect("json"))),
        };
        // One transaction (on SQLite, part of a group commit with other writes).
        let (n, out) = db
            .write(move |c| {
                // Fixed SQL (prepared once per connection), writing only what a turn
                // changes: the script, pin, identity and info of a conversation never do.
                let n = FixedSql::new(
                    &[
                        "UPDATE dialog_sessions SET status = ",
                        ", wake_at = ",
                        ", hear = ",
                        ", journal = ",
                        ", state = ",
                        ", outbox = ",
                        ", inbox = ",
                        ", result = ",
                        ", turns = ",
                        ", updated_at = ",
                        " WHERE session_id = ",
                        " AND turns = ",
                        "",
                    ],
                    &[
                        Bind::Text(&row.status),
                        Bind::OptInt(row.wake_at),
                        Bind::OptText(row.hear.as_deref()),
                        Bind::Text(&row.journal),
                        Bind::Text(&row.state),
                        Bind::Text(&row.outbox),
                        Bind::Text(&row.inbox),
                        Bind::OptText(row.result.as_deref()),
                        Bind::Int(row.turns),
                        Bind::Int(row.updated_at),
                        Bind::Text(&row.session_id),
                        Bind::Int(fence),
                    ],
                )
                .execute_on(c)?;
                if let (1, Some((input, output))) = (n, output) {
                    let kept = FixedSql::new(
                        &[
                            "UPDATE dialog_replies SET input_id = ",
                            ", output = ",
                            ", updated_at = ",
                            " WHERE session_id = ",
                            "",
                        ],
                        &[
                            Bind::Text(&input),
                            Bind::Text(&output),
                            Bind::Int(row.updated_at),
                            Bind::Text(&row.session_id),
                        ],
                    )
                    .execute_on(c)?;
                    if kept == 0 {
                        diesel::insert_into(dr::table)
                            .values((
                                dr::session_id.eq(&row.session_id),
                                dr::input_id.eq(input),
                                dr::output.eq(output),
                                dr::updated_at.eq(row.updated_at),
                            ))
                            .execute(c)?;
                    }
                }
                if let (1, Some(with)) = (n, with) {
                    (with.0)(c, &out)?;
                }
                Ok::<_, DbErr>((n, out))
            })
            .await?;
        if n == 0 {
            return Err(AppError::Conflict(
                "this conversation was continued elsewhere meanwhile; send the message again".into(),
            ));
        }
        Ok(out)
    }

    /// Replays the conversation's script against its journal (`journal`, already parsed
    /// from the row and perhaps with this turn's answer appended: `row.journal` is stale)
    /// and saves where it stopped.
    async fn replay(&self, mut row: SessionRow, journal: Vec<Entry>, memo: Memo) -> AppResult<TurnOutput> {
        let pin: Pin = parse_req(&row.pinned)?;
        let versions = pin.scripts;
        let pinned = Arc::new(Pinned {
            versions,
            db: self.services.db.clone(),
        });
        let info: SessionInfo = parse_req(&row.info)?;
        let config: Arc<BTreeMap<String, String>> = Arc::new(pin.config);
        let limits = Limits::from_config(&config).map_err(AppError::BadRequest)?;
        let pending_outbox: Vec<Outbound> = parse(&row.outbox);
        let inbox: VecDeque<String> = parse::<Vec<String>>(&row.inbox).into();
        let db = self.services.db.clone();
        let sid = row.session_id.clone();
        let fence = row.turns;
        let checkpoint = Box::new(move |j: &[Entry], out: &[Outbound]| -> Result<(), String> {
            let mut conn = db.get().map_err(|e| e.to_string())?;
            let n = diesel::update(
                dss::table
                    .filter(dss::session_id.eq(&sid))
                    .filter(dss::turns.eq(fence)),
            )
            .set((
                dss::journal.eq(serde_json::to_string(j).expect("json")),
                dss::outbox.eq(serde_json::to_string(out).expect("json")),
            ))
            .execute(&mut *conn)
            .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the conversation was continued elsewhere meanwhile".into());
            }
            Ok(())
        });
        let script = row.script.clone();
        let mut ctx = RunCtx::new(
            self.services.clone(),
            info.clone(),
            limits,
            pinned.clone(),
            config.clone(),
        );
        ctx.journal = journal;
        ctx.inbox = inbox;
        ctx.out = pending_outbox;
        ctx.checkpoint = Some(checkpoint);
        let (outcome, ctx) = runtime::on_script_thread(move || {
            let program = match pinned.program(&script) {
                Ok(p) => p,
                Err(e) => {
                    return (
                        Outcome::Failed(runtime::ScriptError {
                            file: script,
                            line: 0,
                            message: e,
                            limit: false,
                        }),
                        ctx,
                    );
                }
            };
            let vars = runtime::config_vars(&config);
            runtime::run(&program, vars, ctx)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("dialog turn panicked: {e}")))?;
        let mut messages: Vec<OutboundMessage> = ctx
            .out
            .iter()
            .map(|o| OutboundMessage {
                content: o.content.clone(),
                suggestions: o.suggestions.clone(),
            })
            .collect();
        for line in &ctx.log {
            tracing::info!(bot = %info.bot_name, session = %info.session_id, "PRINT {line}");
        }
        let mut waiting = false;
        row.hear = None;
        row.wake_at = None;
        match outcome {
            Outcome::Suspended(Suspend::Hear { spec }) => {
                row.status = "hear".into();
                row.hear = Some(serde_json::to_string(&spec).expect("json"));
                waiting = true;
            }
            Outcome::Suspended(Suspend::Wait { until_ms }) => {
                row.status = "wait".into();
                row.wake_at = Some(until_ms);
            }
            Outcome::Done(v) => {
                row.status = "done".into();
                row.result = Some(v.to_string());
            }
            Outcome::Failed(e) => {
                tracing::warn!(bot = %info.bot_name, session = %info.session_id, error = %e, "script failed");
                row.status = "error".into();
                row.result =
                    Some(serde_json::json!({ "error": e.to_string(), "limit": e.limit }).to_string());
                messages.push(OutboundMessage {
                    content: SORRY.into(),
                    suggestions: vec![],
                });
            }
        }
        row.journal = serde_json::to_string(&ctx.journal).expect("json");
        row.state = serde_json::to_string(&ctx.state).expect("json");
        row.inbox = serde_json::to_string(&ctx.inbox).expect("json");
        row.outbox = "[]".into();
        self.save_only(
            row,
            TurnOutput {
                messages,
                waiting_for_input: waiting,
                free_text: None,
            },
            memo,
        )
        .await
    }

    /// Conversations whose WAIT is over, resumed; each with what it produced.
    pub async fn wake_due(&self) -> AppResult<Vec<(SessionInfo, TurnOutput)>> {
        let now = now_ms();
        let due: Vec<(String, String)> = self
            .services
            .db
            .run(move |c| {
                dss::table
                    .filter(dss::status.eq("wait"))
                    .filter(dss::wake_at.le(now))
                    .select((dss::session_id, dss::info))
                    .limit(100)
                    .load(c)
                    .map_err(DbErr::from)
            })
            .await?;
        let mut out = Vec::new();
        for (sid, info) in due {
            // One broken conversation must not hold up the others.
            let r = match parse_req::<SessionInfo>(&info) {
                Ok(info) => self.turn(info.clone(), None).await.map(|o| (info, o)),
                Err(e) => Err(e),
            };
            match r {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::warn!(session = %sid, error = %e, "could not resume a waiting conversation")
                }
            }
        }
        Ok(out)
    }

    /// A conversation's status (`hear`, `wait`, `done`, `error`) and its result (the
    /// RETURN value, or `{error, limit}`).
    pub async fn outcome(&self, session_id: &str) -> AppResult<Option<(String, Option<Json>)>> {
        let sid = session_id.to_string();
        let r: Option<(String, Option<String>)> = self
            .services
            .db
            .run(move |c| {
                dss::table
                    .find(&sid)
                    .select((dss::status, dss::result))
                    .first(c)
                    .optional()
                    .map_err(DbErr::from)
            })
            .await?;
        Ok(r.map(|(s, res)| (s, res.and_then(|r| serde_json::from_str(&r).ok()))))
    }

    /// The saved session values of a conversation (tools, suggestions, contexts…).
    pub async fn session_state(&self, session_id: &str) -> AppResult<Option<SessionState>> {
        let sid = session_id.to_string();
        let s: Option<String> = self
            .services
            .db
            .run(move |c| {
                dss::table
                    .find(&sid)
                    .select(dss::state)
                    .first(c)
                    .optional()
                    .map_err(DbErr::from)
            })
            .await?;
        Ok(s.map(|s| parse(&s)))
    }

    /// Every installed package.
    pub fn packages(&self) -> Vec<Arc<Package>> {
        self.bots.read().expect("bots").values().cloned().collect()
    }

    /// Runs a tool of a bot with arguments from a model or a person: validated against its
    /// schema, bound as variables; returns its RETURN value and what it TALKed.
    pub async fn run_tool(&self, info: SessionInfo, tool: &str, args: &Json) -> AppResult<ToolRun> {
        let pkg = self.package(info.bot_id).ok_or(AppError::NotFound)?;
        let program = pkg
            .program(tool)
            .cloned()
            .ok_or_else(|| AppError::BadRequest(format!("no tool {tool}")))?;
        let spec = program
            .compiled
            .tool
            .clone()
            .ok_or_else(|| AppError::BadRequest(format!("{tool} is not a tool")))?;
        let coerced = spec.coerce(args).map_err(AppError::BadRequest)?;
        let mut vars = rhai::Map::new();
        for p in &spec.params {
            let value = coerced.get(&p.name).cloned().unwrap_or(Json::Null);
            vars.insert(
                crate::compile::var_key(&p.name).into(),
                runtime::values::from_json(&value),
            );
        }
        self.run_once(info, pkg, program, vars).await
    }

    /// Runs a script once (a webhook, an event) with `body` bound as the variable `body`.
    pub async fn run_script(&self, info: SessionInfo, file: &str, body: Json) -> AppResult<ToolRun> {
        let pkg = self.package(info.bot_id).ok_or(AppError::NotFound)?;
        let program = pkg
            .program(file)
            .cloned()
            .ok_or_else(|| AppError::BadRequest(format!("no script {file}")))?;
        let mut vars = rhai::Map::new();
        vars.insert("v_body".into(), runtime::values::from_json(&body));
        self.run_once(info, pkg, program, vars).await
    }

    async fn run_once(
        &self,
        info: SessionInfo,
        pkg: Arc<Package>,
        program: Arc<Program>,
        extra: rhai::Map,
    ) -> AppResult<ToolRun> {
        let config = Arc::new(pkg.config.clone());
        let limits = Limits::from_config(&config).map_err(AppError::BadRequest)?;
        let mut vars = runtime::config_vars(&config);
        vars.extend(extra);
        let file = program.compiled.file.clone();
        let ctx = RunCtx::new(self.services.clone(), info, limits, pkg.clone(), config);
        let (outcome, ctx) = runtime::on_script_thread(move || runtime::run(&program, vars, ctx))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("script run panicked: {e}")))?;
        let messages = ctx.out.into_iter().map(|o| o.content).collect();
        match outcome {
            Outcome::Done(result) => Ok(ToolRun { result, messages }),
            Outcome::Suspended(_) => Err(AppError::BadRequest(format!(
                "{file} waits for the user (HEAR/WAIT): start it as a dialog instead"
            ))),
            Outcome::Failed(e) => Err(AppError::BadRequest(e.to_string())),
        }
    }
}

/// The bot's own system prompt: PROMPT.md, else `system-prompt`.
fn package_prompt(pkg: &Package) -> String {
    pkg.prompt
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .or_else(|| pkg.config.get("system-prompt").map(|s| s.trim()))
        .unwrap_or_default()
        .to_string()
}

impl Dialogs {
    /// What answering a message outside any HEAR needs: the system prompt (the script's
    /// `BEGIN SYSTEM PROMPT`, else the bot's) with the SET CONTEXT values, the model, the
    /// suggestions, the tools offered (`ADD TOOL`, as OpenAI functions) and the knowledge
    /// bases in use.
    fn free_text(&self, row: &SessionRow, message: String) -> FreeText {
        let state: SessionState = parse(&row.state);
        let pkg = row.bot_id.parse().ok().and_then(|b| self.package(b));
        let mut system = state
            .system_prompt
            .clone()
            .filter(|p| !p.trim().is_empty())
            .or_else(|| pkg.as_deref().map(package_prompt))
            .unwrap_or_default();
        for (name, t) in &state.contexts {
            system.push_str(&format!("\n\n[{name}]\n{t}"));
        }
        let tools = match &pkg {
            Some(pkg) => state
                .tools
                .iter()
                .filter_map(|t| pkg.program(t).and_then(|p| p.compiled.tool.as_ref()))
                .map(|spec| spec.openai())
                .collect(),
            None => Vec::new(),
        };
        FreeText {
            message,
            system_prompt: system,
            model: state.model,
            suggestions: state.suggestions,
            tools,
            kbs: state.kbs,
        }
    }
}

fn menu_buttons(spec: &HearSpec) -> Vec<botlib::protocol::Suggestion> {
    spec.options
        .iter()
        .map(|o| botlib::protocol::Suggestion {
            text: o.clone(),
            context: Some(o.clone()),
            action: Some("text".into()),
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// Queues a user message for the script's next HEAR.
fn queue(row: &mut SessionRow, msg: String) {
    let mut inbox: Vec<String> = parse(&row.inbox);
    inbox.push(msg);
    row.inbox = serde_json::to_string(&inbox).expect("json");
}

fn parse_req<T: serde::de::DeserializeOwned>(s: &str) -> AppResult<T> {
    serde_json::from_str(s)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored conversation is unreadable: {e}")))
}

fn store_sources(c: &mut AnyConnection, rows: &[(String, String, String)]) -> Result<(), DbErr> {
    let now = now_ms();
    for (hash, file, source) in rows {
        let exists: i64 = ds::table
            .filter(ds::hash.eq(hash))
            .count()
            .get_result(c)
            .map_err(DbErr::from)?;
        if exists == 0 {
            diesel::insert_into(ds::table)
                .values((
                    ds::hash.eq(hash),
                    ds::file.eq(file),
                    ds::source.eq(source),
                    ds::created_at.eq(now),
                ))
                .execute(c)
                .map_err(DbErr::from)?;
        }
    }
    Ok(())
}

#[async_trait]
impl DialogEngine for Dialogs {
    async fn run_turn(&self, input: TurnInput) -> AppResult<TurnOutput> {
        let pkg = self.package(input.bot).ok_or(AppError::NotFound)?;
        let info = SessionInfo {
            bot_id: input.bot,
            bot_name: pkg.name.clone(),
            session_id: input.session.to_string(),
            user_id: input.user.to_string(),
            channel: input.channel.clone(),
            language: pkg.config.get("language").cloned().unwrap_or_else(|| "en".into()),
            user_name: String::new(),
            user_email: String::new(),
            user_phone: String::new(),
        };
        let (script, restart) = match &input.script {
            Some(name) => {
                // Only scripts their authors declared as tools (DESCRIPTION) can be run
                // directly: not scheduled jobs, webhook handlers or helpers.
                let program = pkg
                    .program(name)
                    .filter(|p| p.compiled.tool.is_some())
                    .ok_or_else(|| AppError::BadRequest(format!("bot {} has no tool {name}", pkg.name)))?;
                (program.compiled.file.clone(), true)
            }
            None => ("start.bas".to_string(), false),
        };
        let opts = TurnOpts {
            input_id: input.input_id,
            delegate_free_text: input.delegate_free_text,
            restart,
            commit_with: input.commit_with,
        };
        self.turn_with(&script, info, input.message, opts).await
    }

    fn bots(&self) -> Vec<BotProfile> {
        let mut bots: Vec<BotProfile> = self.packages().iter().map(|p| profile(p)).collect();
        bots.sort_by(|a, b| a.name.cmp(&b.name));
        bots
    }

    async fn wake_due(&self) -> AppResult<Vec<WokenTurn>> {
        Ok(Dialogs::wake_due(self)
            .await?
            .into_iter()
            // Conversations of other channels (the dialog REST route) have no chat session.
            .filter_map(|(info, output)| {
                Some(WokenTurn {
                    bot: info.bot_id,
                    session: info.session_id.parse().ok()?,
                    user: info.user_id.parse().ok()?,
                    output,
                })
            })
            .collect())
    }

    async fn run_tool(&self, call: ToolInput) -> AppResult<ToolOutput> {
        let pkg = self.package(call.bot).ok_or(AppError::NotFound)?;
        let info = SessionInfo {
            bot_id: call.bot,
            bot_name: pkg.name.clone(),
            session_id: call.session.to_string(),
            user_id: call.user.to_string(),
            channel: call.channel.clone(),
            language: pkg.config.get("language").cloned().unwrap_or_else(|| "en".into()),
            user_name: String::new(),
            user_email: String::new(),
            user_phone: String::new(),
        };
        let run = Dialogs::run_tool(self, info, &call.name, &call.arguments).await?;
        Ok(ToolOutput {
            result: run.result,
            messages: run.messages,
        })
    }

    async fn run_script(&self, call: botstate::services::ScriptCall) -> AppResult<ToolOutput> {
        let pkg = self.package(call.bot).ok_or(AppError::NotFound)?;
        if pkg.program(&call.script).is_none() {
            return Err(AppError::NotFound);
        }
        let info = SessionInfo {
            bot_id: call.bot,
            bot_name: pkg.name.clone(),
            session_id: format!("{}:{}", call.event, call.script),
            user_id: String::new(),
            channel: call.event.split(':').next().unwrap_or("schedule").to_string(),
            language: pkg.config.get("language").cloned().unwrap_or_else(|| "en".into()),
            user_name: String::new(),
            user_email: String::new(),
            user_phone: String::new(),
        };
        let run = Dialogs::run_script(self, info, &call.script, call.payload).await?;
        Ok(ToolOutput {
            result: run.result,
            messages: run.messages,
        })
    }

    async fn forget(&self, session: botlib::SessionId) -> AppResult<bool> {
        let sid = session.to_string();
        let n = self
            .services
            .db
            .run(move |c| {
                diesel::delete(dr::table.find(&sid)).execute(c)?;
                Ok::<_, DbErr>(diesel::delete(dss::table.find(&sid)).execute(c)?)
            })
            .await?;
        Ok(n > 0)
    }
}

/// A package as anyone may see it (no config value other than these keys leaves).
fn profile(p: &Package) -> BotProfile {
    let cfg = |k: &str| p.config.get(k).filter(|v| !v.trim().is_empty()).cloned();
    BotProfile {
        id: BotId::for_name(&p.name),
        name: p.name.clone(),
        title: cfg("bot-name").unwrap_or_else(|| p.name.clone()),
        description: cfg("bot-description").unwrap_or_default(),
        theme: p
            .config
            .iter()
            .filter(|(k, _)| k.starts_with("theme-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        history_limit: cfg("history-limit").and_then(|v| v.parse().ok()).unwrap_or(10),
        welcome: cfg("welcome-message"),
        has_start: p.program("start.bas").is_some(),
    }
}
