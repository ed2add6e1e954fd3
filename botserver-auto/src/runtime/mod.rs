//! Running compiled scripts: the sandboxed Rhai engine, the per-run context the keyword
//! functions reach, and the journal that makes a conversation durable.
//!
//! A run executes a script from its first line. Every call that touches the world or is
//! not deterministic (HEAR, TALK, NOW, RANDOM, HTTP, tables, memory, LLM, mail…) goes
//! through [`RunCtx::effect`]: when the journal already holds the result of that call
//! (an earlier turn made it), the recorded result is returned and nothing is repeated;
//! otherwise the call is made and its result appended. A HEAR with no recorded answer
//! *suspends* the run (a non-catchable Rhai termination), so a waiting conversation is
//! its journal in a database row and nothing else: no thread, no task, no memory.

pub mod builtins;
mod data_ops;
mod drive;
pub mod filters;
pub mod hear;
mod keywords;
mod memory;
pub mod values;

use crate::compile::{CompileError, Compiled};
use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use data_ops::define_tables;
pub use keywords::Services;

/// Per-bot sandbox limits (spec §10), from config.csv `limit-*` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    /// Rhai operations per turn (replay included).
    pub operations: u64,
    /// Wall-clock per turn.
    pub wall_ms: u64,
    /// Nested SUB/FUNCTION/CALL depth.
    pub call_depth: usize,
    /// Longest string, in bytes.
    pub string_bytes: usize,
    /// Longest array.
    pub array_len: usize,
    /// Largest object.
    pub map_len: usize,
    /// HTTP calls per turn.
    pub http_calls: u32,
    /// HTTP response bytes per turn.
    pub http_bytes: usize,
    /// Journal entries per conversation.
    pub journal_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: 5_000_000,
            wall_ms: 10_000,
            call_depth: 48,
            // Rhai counts these over a whole nested value (a FIND result is one array of
            // maps): room for a full FIND (10,000 rows) and a full HTTP answer (5 MiB).
            string_bytes: 8 << 20,
            array_len: 200_000,
            map_len: 500_000,
            http_calls: 20,
            http_bytes: 10 << 20,
            journal_entries: 20_000,
        }
    }
}

/// The most a bot's config.csv may raise each limit to: beyond these one script could
/// hurt the server (native stack, memory, the turn lock).
const MAXIMA: [(&str, u64); 9] = [
    ("operations", 200_000_000),
    ("wall-ms", 60_000),
    ("call-depth", 64),
    ("string-bytes", 32 << 20),
    ("array-len", 1_000_000),
    ("map-len", 1_000_000),
    ("http-calls", 200),
    ("http-bytes", 64 << 20),
    ("journal-entries", 100_000),
];

impl Limits {
    /// Reads `limit-operations`, `limit-wall-ms`, `limit-call-depth`, `limit-string-bytes`,
    /// `limit-array-len`, `limit-map-len`, `limit-http-calls`, `limit-http-bytes` from a
    /// bot's config; a bad value is an error naming the key.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Limits, String> {
        let mut l = Limits::default();
        for (key, value) in config {
            let Some(name) = key.strip_prefix("limit-") else {
                continue;
            };
            let n: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("config.csv: {key} must be a whole number, got {value:?}"))?;
            let max = MAXIMA
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, m)| *m)
                .ok_or_else(|| format!("config.csv: unknown limit {key}"))?;
            if n == 0 || n > max {
                return Err(format!(
                    "config.csv: {key} must be 1 to {max} on this server, got {n}"
                ));
            }
            match name {
                "operations" => l.operations = n,
                "wall-ms" => l.wall_ms = n,
                "call-depth" => l.call_depth = n as usize,
                "string-bytes" => l.string_bytes = n as usize,
                "array-len" => l.array_len = n as usize,
                "map-len" => l.map_len = n as usize,
                "http-calls" => l.http_calls = n as u32,
                "http-bytes" => l.http_bytes = n as usize,
                _ => l.journal_entries = n as usize,
            }
        }
        Ok(l)
    }
}

/// A script compiled to a Rhai AST, shared by every conversation that runs it.
#[derive(Debug)]
pub struct Program {
    /// What the compiler produced.
    pub compiled: Compiled,
    /// The content hash of the BASIC source (hex SHA-256).
    pub hash: String,
    ast: rhai::AST,
}

impl Program {
    /// The BASIC line of a generated Rhai line.
    pub fn basic_line(&self, rhai_line: usize) -> u32 {
        rhai_line
            .checked_sub(1)
            .and_then(|i| self.compiled.lines.get(i))
            .copied()
            .unwrap_or(0)
    }
}

/// The hex SHA-256 of a source text.
pub fn content_hash(src: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(src.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiled programs by content hash: a script is compiled once however many bots,
/// conversations or reloads use it.
fn cache() -> &'static Mutex<HashMap<String, Arc<Program>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Program>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// How many programs the cache keeps before it starts over (a bound, not a tuning knob).
const CACHE_CAP: usize = 4096;

/// Compiles `src` (named `file`), or returns the cached program with the same content.
pub fn program(file: &str, src: &str) -> Result<Arc<Program>, CompileError> {
    let hash = content_hash(&format!("{file}\n{src}"));
    if let Some(p) = cache().lock().expect("program cache").get(&hash) {
        return Ok(p.clone());
    }
    let p = Arc::new(compile_uncached(file, src)?);
    let mut c = cache().lock().expect("program cache");
    if c.len() >= CACHE_CAP {
        c.clear();
    }
    c.insert(hash, p.clone());
    Ok(p)
}

/// A compiled program already in the cache, by its content hash (what conversations pin):
/// resuming a conversation then needs neither its source nor a hash of it.
pub fn cached_program(hash: &str) -> Option<Arc<Program>> {
    cache().lock().expect("program cache").get(hash).cloned()
}

/// Compiles without the cache (benchmarks; everything else wants [`program`]).
pub fn compile_uncached(file: &str, src: &str) -> Result<Program, CompileError> {
    let hash = content_hash(&format!("{file}\n{src}"));
    let compiled = crate::compile::compile(file, src)?;
    let ast = engine(&Limits::default())
        .compile(&compiled.source)
        .map_err(|e| {
            // Generated code that Rhai refuses is a limit of Rhai's parser (nesting too
            // deep), reported at the BASIC line it came from.
            let line = e
                .position()
                .line()
                .and_then(|l| compiled.lines.get(l.saturating_sub(1)))
                .copied();
            match line {
                Some(line) if line > 0 => CompileError {
                    file: file.to_string(),
                    line,
                    col: 1,
                    message: format!("this line is too complex to compile ({})", e.err_type()),
                },
                _ => CompileError {
                    file: file.to_string(),
                    line: 0,
                    col: 0,
                    message: format!("internal compiler error: {e}"),
                },
            }
        })?;
    Ok(Program { compiled, hash, ast })
}

/// One engine per distinct set of limits (a server has very few).
fn engine(limits: &Limits) -> Arc<Engine> {
    static ENGINES: OnceLock<Mutex<HashMap<Limits, Arc<Engine>>>> = OnceLock::new();
    let engines = ENGINES.get_or_init(Default::default);
    let mut map = engines.lock().expect("engines");
    map.entry(*limits)
        .or_insert_with(|| Arc::new(build_engine(limits)))
        .clone()
}

fn build_engine(limits: &Limits) -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(limits.operations)
        .set_max_call_levels(limits.call_depth)
        .set_max_expr_depths(256, 256)
        .set_max_string_size(limits.string_bytes)
        .set_max_array_size(limits.array_len)
        .set_max_map_size(limits.map_len)
        .set_max_variables(10_000)
        .set_max_functions(10_000)
        .set_fail_on_invalid_map_property(false);
    e.set_optimization_level(rhai::OptimizationLevel::None);
    // No interning of string values: every user message is a new string, and once the
    // interner is full each one is stored by scanning all the others to evict one (4% of
    // a chat turn's CPU under load), behind a lock all script threads share.
    e.set_max_strings_interned(0);
    e.disable_symbol("eval");
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    let wall = limits.wall_ms;
    e.on_progress(move |ops| {
        if ops % 1024 != 0 {
            return None;
        }
        CTX.with(|c| {
            let c = c.borrow();
            let ctx = c.as_ref()?;
            (ctx.started.elapsed() > Duration::from_millis(wall)).then(|| Dynamic::from("wall-clock"))
        })
    });
    e.register_type_with_name::<values::Date>("date");
    builtins::register(&mut e);
    keywords::register(&mut e);
    e
}

/// One journal entry: the kind of call and its recorded result (or error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The keyword or function (`HEAR`, `NOW`, `POST` …).
    pub k: String,
    /// Its result.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub v: Json,
    /// Its error, when it failed (the script sees the same error on replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A suggestion button.
pub type Suggestion = botlib::protocol::Suggestion;

/// Session values a script builds (suggestions, tools, contexts…). Replay rebuilds them
/// from the start, so they need no journal; the final state is saved with the session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// `SET SESSION` values.
    pub values: BTreeMap<String, Json>,
    /// Active suggestion buttons.
    pub suggestions: Vec<Suggestion>,
    /// Tools offered to the LLM.
    pub tools: Vec<String>,
    /// `SET CONTEXT` texts.
    pub contexts: BTreeMap<String, String>,
    /// `BEGIN SYSTEM PROMPT`.
    pub system_prompt: Option<String>,
    /// `USE MODEL`.
    pub model: Option<String>,
    /// Active knowledge bases.
    pub kbs: Vec<String>,
    /// `SET HEADER` values for HTTP calls.
    pub headers: Vec<(String, String)>,
    /// Bots added with `ADD BOT`: name and trigger words.
    pub bots: Vec<(String, String)>,
    /// `TRANSFER TO HUMAN` reason, once asked.
    pub transfer: Option<String>,
}

/// Who the conversation is with (spec §4 `GET SESSION` attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The bot's id.
    pub bot_id: botlib::BotId,
    /// The bot's name.
    pub bot_name: String,
    /// The conversation.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// Display name.
    pub user_name: String,
    /// E-mail.
    pub user_email: String,
    /// Phone.
    pub user_phone: String,
    /// Channel (`web`, `cli`, …).
    pub channel: String,
    /// Language code.
    pub language: String,
}

/// A message for the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Markdown text.
    pub content: String,
    /// Suggestions active with it.
    pub suggestions: Vec<Suggestion>,
}

/// Why a run stopped before the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suspend {
    /// Waiting at HEAR.
    Hear {
        /// The HEAR's type and options.
        spec: hear::HearSpec,
    },
    /// Waiting at WAIT until a time (Unix ms).
    Wait {
        /// Wake-up time.
        until_ms: i64,
    },
}

/// Where scripts for `CALL "other.bas"` come from: the conversation's pinned package.
pub trait ScriptSource: Send + Sync {
    /// The program of `file` (relative to the `.gbdialog` folder).
    fn program(&self, file: &str) -> Result<Arc<Program>, String>;
}

/// What one run needs and produces.
pub struct RunCtx {
    /// Services (database, HTTP, LLM…).
    pub services: Arc<Services>,
    /// The conversation.
    pub session: SessionInfo,
    /// Session values, rebuilt by replay.
    pub state: SessionState,
    /// Recorded calls.
    pub journal: Vec<Entry>,
    /// Next journal entry to replay.
    pub cursor: usize,
    /// User messages not yet taken by a HEAR.
    pub inbox: VecDeque<String>,
    /// Messages produced by live (not replayed) calls.
    pub out: Vec<Outbound>,
    /// PRINT lines.
    pub log: Vec<String>,
    /// Set when the run suspends.
    pub suspend: Option<Suspend>,
    /// Limits.
    pub limits: Limits,
    /// HTTP calls made by this turn.
    pub http_calls: u32,
    /// HTTP bytes received by this turn.
    pub http_bytes: usize,
    /// Scripts reachable by CALL.
    pub scripts: Arc<dyn ScriptSource>,
    /// Config values of the bot (`param-*`, `http-allow-private`…).
    pub config: Arc<BTreeMap<String, String>>,
    /// When this run started.
    pub started: Instant,
    /// CALL nesting.
    pub depth: usize,
    /// Called after every side effect with the journal so far, so a crash right after it
    /// cannot repeat it.
    pub checkpoint: Option<Checkpoint>,
    /// Now, for tests (Unix ms); `None` uses the clock.
    pub clock: Option<i64>,
    /// Bytes of messages and session values produced by this turn.
    pub out_bytes: usize,
    /// Approximate bytes of the journal.
    pub journal_bytes: usize,
}

/// Makes the journal (and the messages not yet delivered) durable.
pub type Checkpoint = Box<dyn FnMut(&[Entry], &[Outbound]) -> Result<(), String> + Send>;

thread_local! {
    static CTX: RefCell<Option<RunCtx>> = const { RefCell::new(None) };
}

/// Runs `f` with the current run's context.
pub(crate) fn with_ctx<T>(f: impl FnOnce(&mut RunCtx) -> T) -> Result<T, Box<EvalAltResult>> {
    CTX.with(|c| match c.borrow_mut().as_mut() {
        Some(ctx) => Ok(f(ctx)),
        None => Err(runtime_error("no script is running")),
    })
}

/// The most a conversation's journal may hold, in bytes of JSON.
pub const MAX_JOURNAL_BYTES: usize = 16 << 20;

/// The size of a JSON value as stored (approximate for numbers).
pub fn json_size(v: &Json) -> usize {
    match v {
        Json::Null | Json::Bool(_) => 5,
        Json::Number(_) => 12,
        Json::String(s) => s.len() + 2,
        Json::Array(a) => 2 + a.iter().map(|x| json_size(x) + 1).sum::<usize>(),
        Json::Object(m) => 2 + m.iter().map(|(k, x)| k.len() + 4 + json_size(x)).sum::<usize>(),
    }
}

/// A script error no `ON ERROR` can trap.
pub(crate) fn stop(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorTerminated(
        Dynamic::from(format!("stop:{}", msg.into())),
        Position::NONE,
    ))
}

/// A catchable script error.
pub(crate) fn runtime_error(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        Position::NONE,
    ))
}

impl RunCtx {
    /// A fresh context: empty journal, inbox and output, nothing spent yet.
    pub fn new(
        services: Arc<Services>,
        session: SessionInfo,
        limits: Limits,
        scripts: Arc<dyn ScriptSource>,
        config: Arc<BTreeMap<String, String>>,
    ) -> RunCtx {
        RunCtx {
            services,
            session,
            state: SessionState::default(),
            journal: Vec::new(),
            cursor: 0,
            inbox: VecDeque::new(),
            out: Vec::new(),
            log: Vec::new(),
            suspend: None,
            limits,
            http_calls: 0,
            http_bytes: 0,
            scripts,
            config,
            started: Instant::now(),
            depth: 0,
            checkpoint: None,
            clock: None,
            out_bytes: 0,
            journal_bytes: 0,
        }
    }

    /// Replays or performs one call. `live` runs only when the journal has no entry here.
    pub fn effect(
        &mut self,
        kind: &str,
        live: impl FnOnce(&mut RunCtx) -> Result<Json, String>,
    ) -> Result<Json, Box<EvalAltResult>> {
        if let Some(entry) = self.journal.get(self.cursor) {
            if entry.k != kind {
                // Not catchable: ON ERROR must never paper over a replay gone astray.
                return Err(stop(format!(
                    "this conversation cannot continue: the replay met {kind} where its journal has {}",
                    entry.k
                )));
            }
            self.cursor += 1;
            return match &entry.e {
                Some(e) => Err(runtime_error(e.clone())),
                None => Ok(entry.v.clone()),
            };
        }
        if self.journal.len() >= self.limits.journal_entries || self.journal_bytes > MAX_JOURNAL_BYTES {
            return Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from("journal"),
                Position::NONE,
            )));
        }
        // Native calls do not count operations: check the time before each live one.
        if self.started.elapsed() > Duration::from_millis(self.limits.wall_ms) {
            return Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from("wall-clock"),
                Position::NONE,
            )));
        }
        let r = live(self);
        let entry = match &r {
            Ok(v) => Entry {
                k: kind.into(),
                v: v.clone(),
                e: None,
            },
            Err(e) => Entry {
                k: kind.into(),
                v: Json::Null,
                e: Some(e.clone()),
            },
        };
        self.journal_bytes += kind.len() + entry.e.as_ref().map_or(0, String::len) + json_size(&entry.v);
        self.journal.push(entry);
        self.cursor = self.journal.len();
        r.map_err(runtime_error)
    }

    /// Whether the run is replaying recorded calls.
    pub fn replaying(&self) -> bool {
        self.cursor < self.journal.len()
    }

    /// Makes the journal durable after a side effect the world saw. A failure stops the
    /// script (not catchable: the effect happened, its record did not).
    pub fn checkpoint(&mut self) -> Result<(), Box<EvalAltResult>> {
        if let Some(cp) = self.checkpoint.as_mut() {
            cp(&self.journal, &self.out).map_err(|e| stop(format!("could not record a side effect: {e}")))?;
        }
        Ok(())
    }

    /// Counts bytes of messages and session values a turn produces; past the bot's string
    /// limit the script stops (a loop of TALKs cannot fill the server's memory).
    pub fn spend(&mut self, bytes: usize) -> Result<(), Box<EvalAltResult>> {
        self.out_bytes += bytes;
        if self.out_bytes > self.limits.string_bytes {
            return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
                "what this turn says and stores".into(),
                Position::NONE,
            )));
        }
        Ok(())
    }

    /// Counts one outbound HTTP call against the turn's limit and picks the client the
    /// bot may use (`http-allow-private=true` lets it reach private addresses).
    pub fn http_call(&mut self) -> Result<crate::net::Guarded, String> {
        if self.http_calls >= self.limits.http_calls {
            return Err(format!(
                "more than {} HTTP calls in one turn",
                self.limits.http_calls
            ));
        }
        self.http_calls += 1;
        let private = self
            .config
            .get("http-allow-private")
            .is_some_and(|x| x.trim().eq_ignore_ascii_case("true"));
        Ok(if private {
            self.services.http_private.clone()
        } else {
            self.services.http.clone()
        })
    }

    /// Now, in Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.clock
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
    }
}

/// Stack of a script thread: Rhai walks nested values recursively (size checks, drops),
/// and a script may nest arrays as deep as its array limit. Only touched pages are used.
const SCRIPT_STACK_BYTES: usize = 512 << 20;
/// Scripts running at once in this process (each on its own thread).
const MAX_SCRIPT_THREADS: usize = 64;

/// A script thread kept after its run waits this long for the next one, then ends.
const SCRIPT_THREAD_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

type ScriptJob = Box<dyn FnOnce() + Send>;

/// Script threads waiting for work (each one's job queue).
static IDLE_SCRIPT_THREADS: std::sync::Mutex<Vec<std::sync::mpsc::Sender<ScriptJob>>> =
    std::sync::Mutex::new(Vec::new());

/// Runs `f` (a script run) on a script thread (a large stack), at most
/// [`MAX_SCRIPT_THREADS`] at once; the async caller waits without blocking its worker.
/// Threads are reused: starting one (and unmapping its stack) costs more than a turn.
pub async fn on_script_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| tokio::sync::Semaphore::new(MAX_SCRIPT_THREADS));
    let _permit = slots.acquire().await.map_err(|e| e.to_string())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut job: ScriptJob = Box::new(move || {
        let _ = tx.send(f());
    });
    // An idle thread, if one is still there (it may have just timed out: try the next).
    loop {
        let idle = IDLE_SCRIPT_THREADS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let Some(worker) = idle else { break };
        match worker.send(job) {
            Ok(()) => return rx.await.map_err(|_| "the script thread died".to_string()),
            Err(std::sync::mpsc::SendError(j)) => job = j,
        }
    }
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<ScriptJob>();
    std::thread::Builder::new()
        .name("bas-script".into())
        .stack_size(SCRIPT_STACK_BYTES)
        .spawn(move || {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                // A panicking script loses its own run (its caller gets an error), not
                // the thread.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                IDLE_SCRIPT_THREADS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(jobs_tx.clone());
                next = jobs_rx.recv_timeout(SCRIPT_THREAD_IDLE).ok();
            }
        })
        .map_err(|e| format!("cannot start a script thread: {e}"))?;
    rx.await.map_err(|_| "the script thread died".to_string())
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The script ended; its RETURN value.
    Done(Json),
    /// The script waits (HEAR or WAIT).
    Suspended(Suspend),
    /// The script failed.
    Failed(ScriptError),
}

/// A run-time error, located in BASIC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptError {
    /// The script file.
    pub file: String,
    /// The BASIC line (0 when unknown).
    pub line: u32,
    /// What happened.
    pub message: String,
    /// A sandbox limit stopped the script (the user gets a polite message).
    pub limit: bool,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Runs `program` from its first line with `vars` bound, inside `ctx`; returns the
/// outcome and the context back.
pub fn run(program: &Program, vars: rhai::Map, mut ctx: RunCtx) -> (Outcome, RunCtx) {
    let limits = ctx.limits;
    ctx.started = Instant::now();
    ctx.journal_bytes = ctx
        .journal
        .iter()
        .map(|e| e.k.len() + e.e.as_ref().map_or(0, String::len) + json_size(&e.v))
        .sum();
    CTX.with(|c| *c.borrow_mut() = Some(ctx));
    let outcome = run_nested(program, vars, &limits);
    let ctx = CTX.with(|c| c.borrow_mut().take()).expect("run context");
    (outcome, ctx)
}

/// Runs a program inside the current context (also used by `CALL "other.bas"`).
pub(crate) fn run_nested(program: &Program, vars: rhai::Map, limits: &Limits) -> Outcome {
    let engine = engine(limits);
    let mut this = Dynamic::from_map(vars);
    let mut scope = Scope::new();
    let r = engine.call_fn_with_options::<Dynamic>(
        rhai::CallFnOptions::new()
            .eval_ast(false)
            .bind_this_ptr(&mut this),
        &mut scope,
        &program.ast,
        "__main",
        (),
    );
    match r {
        Ok(v) => Outcome::Done(values::to_json(&v)),
        Err(e) => {
            let suspended = CTX.with(|c| c.borrow_mut().as_mut().and_then(|ctx| ctx.suspend.clone()));
            if let (EvalAltResult::ErrorTerminated(tag, _), Some(s)) = (&*e, suspended)
                && tag.clone().into_string().is_ok_and(|t| t == "suspend")
            {
                return Outcome::Suspended(s);
            }
            Outcome::Failed(locate(program, &e, limits))
        }
    }
}

/// Turns a Rhai error into a BASIC one: innermost cause, BASIC line, plain words.
fn locate(program: &Program, e: &EvalAltResult, limits: &Limits) -> ScriptError {
    let mut inner = e;
    let mut pos = e.position();
    while let EvalAltResult::ErrorInFunctionCall(_, _, cause, p) = inner {
        if !p.is_none() {
            pos = *p;
        }
        inner = cause;
        if !inner.position().is_none() {
            pos = inner.position();
        }
    }
    if !inner.position().is_none() {
        pos = inner.position();
    }
    let (message, limit) = match inner {
        EvalAltResult::ErrorRuntime(v, _) => {
            if let Some(m) = v.read_lock::<rhai::Map>() {
                (m.get("message").map(values::text).unwrap_or_default(), false)
            } else {
                (values::text(v), false)
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => (
            format!(
                "the script ran more than {} operations in one turn",
                limits.operations
            ),
            true,
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            format!("calls nest deeper than {} levels", limits.call_depth),
            true,
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (format!("{what} is larger than this bot allows"), true),
        EvalAltResult::ErrorTerminated(tag, _) => {
            let t = values::text(tag);
            if let Some(m) = t.strip_prefix("stop:") {
                (m.to_string(), false)
            } else if t == "journal" {
                (
                    format!(
                        "the conversation is longer than {} recorded steps; it has to start over",
                        limits.journal_entries
                    ),
                    true,
                )
            } else {
                (format!("the turn took longer than {} ms", limits.wall_ms), true)
            }
        }
        EvalAltResult::ErrorFunctionNotFound(f, _) => (format!("no function {f}"), false),
        other => (other.to_string(), false),
    };
    let line = pos.line().map(|l| program.basic_line(l)).unwrap_or(0);
    ScriptError {
        file: program.compiled.file.clone(),
        line,
        message,
        limit,
    }
}

/// The script variables a bot's config.csv defines (`param-<name>` becomes `<name>`).
pub fn config_vars(config: &BTreeMap<String, String>) -> rhai::Map {
    let mut vars = rhai::Map::new();
    for (k, val) in config {
        if let Some(name) = k.strip_prefix("param-") {
            let name = name.trim().to_lowercase().replace('-', "_");
            let value =
                values::parse_number(val).map_or_else(|| Dynamic::from(val.clone()), values::Num::dynamic);
            vars.insert(crate::compile::var_key(&name).into(), value);
        }
    }
    vars
}
