//! The example bots of `tests/bots/` (a menu bot, a form bot, a tool bot, a data bot, an
//! HTTP bot, a language bot, a function-library bot, a services bot and a broken bot),
//! loaded from disk as packages, installed on a real database and driven turn by turn.
//! Every test checks a transcript, the rows a script stored, or the calls it made.

use crate::support::{Bot, backend, state_on};
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botserver_auto::data::Tables;
use botserver_auto::dialog::{Dialogs, SORRY};
use botserver_auto::package::Package;
use botserver_auto::runtime::{Services, SessionInfo};
use botstate::services::{
    DocumentReader, JobSpec, Mailer, NewTask, ObjectMeta, ObjectStore, OutgoingMail, Scheduler, TaskList,
    Trigger,
};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------
// Test doubles for the services a server plugs in (drive, mail, scheduler): they record
// what scripts asked of them.

/// A drive in memory.
#[derive(Default)]
struct MemDrive(Mutex<BTreeMap<String, Bytes>>);

fn meta(key: &str, size: usize) -> ObjectMeta {
    ObjectMeta {
        key: key.to_string(),
        size: size as u64,
        etag: format!("e{size}"),
        content_type: None,
        modified_ms: 0,
    }
}

#[async_trait]
impl ObjectStore for MemDrive {
    async fn put(&self, key: &str, data: Bytes, _: Option<&str>) -> AppResult<ObjectMeta> {
        let size = data.len();
        self.0.lock().unwrap().insert(key.to_string(), data);
        Ok(meta(key, size))
    }
    async fn get(&self, key: &str) -> AppResult<Bytes> {
        self.0.lock().unwrap().get(key).cloned().ok_or(AppError::NotFound)
    }
    async fn head(&self, key: &str) -> AppResult<ObjectMeta> {
        let files = self.0.lock().unwrap();
        files
            .get(key)
            .map(|d| meta(key, d.len()))
            .ok_or(AppError::NotFound)
    }
    async fn delete(&self, key: &str) -> AppResult<bool> {
        Ok(self.0.lock().unwrap().remove(key).is_some())
    }
    async fn share_link(&self, key: &str, _: std::time::Duration) -> AppResult<String> {
        Ok(format!("/shared/{key}"))
    }
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        let files = self.0.lock().unwrap();
        Ok(files
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .map(|(k, d)| meta(k, d.len()))
            .collect())
    }
}

impl MemDrive {
    fn text(&self, key: &str) -> Option<String> {
        let files = self.0.lock().unwrap();
        files.get(key).map(|d| String::from_utf8_lossy(d).to_string())
    }
}

/// A mailer that keeps every mail.
#[derive(Default)]
struct MailLog(Mutex<Vec<OutgoingMail>>);

#[async_trait]
impl Mailer for MailLog {
    async fn send(&self, mail: OutgoingMail) -> AppResult<String> {
        let mut sent = self.0.lock().unwrap();
        sent.push(mail);
        Ok(format!("m{}", sent.len()))
    }
}

/// A scheduler that keeps every registration it was given.
#[derive(Default)]
struct JobLog(Mutex<Vec<(BotId, Vec<JobSpec>)>>);

#[async_trait]
impl Scheduler for JobLog {
    async fn sync_bot_jobs(
        &self,
        bot: BotId,
        jobs: Vec<JobSpec>,
    ) -> AppResult<Vec<botstate::services::RejectedJob>> {
        self.0.lock().unwrap().push((bot, jobs));
        Ok(Vec::new())
    }
    async fn list(&self, bot: BotId) -> AppResult<Vec<JobSpec>> {
        let syncs = self.0.lock().unwrap();
        Ok(syncs
            .iter()
            .rev()
            .find(|(b, _)| *b == bot)
            .map(|(_, j)| j.clone())
            .unwrap_or_default())
    }
}

/// What the doubles recorded.
#[derive(Clone, Default)]
struct Fakes {
    drive: Arc<MemDrive>,
    mail: Arc<MailLog>,
    jobs: Arc<JobLog>,
}

// ---------------------------------------------------------------------------------------
// Loading and driving the example packages.

fn bots_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bots"))
}

/// Reads `tests/bots/<name>.gbai`.
fn load(name: &str) -> Package {
    Package::load_dir(&bots_dir().join(format!("{name}.gbai"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Installs `tests/bots/<name>.gbai` with `extra` config on top of its config.csv, on a
/// server whose drive, mailer and scheduler are the doubles (`fakes`), or are not
/// configured (`None`).
async fn install(name: &str, extra: &[(&str, &str)], fakes: Option<&Fakes>) -> Bot {
    let pkg = load(name);
    assert!(pkg.errors.is_empty(), "{name} does not compile: {:?}", pkg.errors);
    let db = backend();
    let state = state_on(&db).await;
    let mut services = Services::new(&state).unwrap();
    if let Some(f) = fakes {
        services.objects = f.drive.clone();
        services.mailer = f.mail.clone();
        services.scheduler = f.jobs.clone();
    }
    let dialogs = Arc::new(Dialogs::new(Arc::new(services)));
    let mut config = pkg.config.clone();
    for (k, v) in extra {
        config.insert(k.to_string(), v.to_string());
    }
    let files: Vec<(&str, &str)> = pkg
        .sources
        .iter()
        .map(|(f, s)| (f.as_str(), s.as_str()))
        .collect();
    let config: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Bot::install_on(dialogs, db, name, &files, &config).await
}

/// Installs an example on a server without drive, mailer or scheduler.
async fn example(name: &str) -> Bot {
    install(name, &[], None).await
}

/// Starts `script` as a new conversation `session`; returns what the bot said.
async fn open(bot: &Bot, script: &str, session: &str) -> Vec<String> {
    let out = bot
        .dialogs
        .turn_in(script, bot.info(session), None)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    out.messages.into_iter().map(|m| m.content).collect()
}

/// One turn with everything it produced (suggestions included).
async fn turn(bot: &Bot, session: &str, msg: Option<&str>) -> botstate::services::TurnOutput {
    bot.dialogs
        .turn(bot.info(session), msg.map(str::to_string))
        .await
        .expect("turn runs")
}

/// The suggestion buttons of a message as `(label, key, action)`.
fn buttons(m: &botstate::services::OutboundMessage) -> Vec<(String, String, String)> {
    m.suggestions
        .iter()
        .map(|s| {
            (
                s.text.clone(),
                s.context.clone().unwrap_or_default(),
                s.action.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn b(label: &str, key: &str, action: &str) -> (String, String, String) {
    (label.to_string(), key.to_string(), action.to_string())
}

/// Runs `script` to its end (in a session named after it); returns its transcript and
/// its stored outcome.
async fn run(bot: &Bot, script: &str) -> (Vec<String>, String, Value) {
    let session = format!("run-{script}");
    let said = open(bot, script, &session).await;
    let (status, result) = bot.result(&session).await;
    (said, status, result.unwrap_or(Value::Null))
}

/// Runs `script`, which must end normally, and returns its transcript.
async fn transcript(bot: &Bot, script: &str) -> Vec<String> {
    let (said, status, result) = run(bot, script).await;
    assert_eq!(status, "done", "{script} ended with {result}; it said {said:#?}");
    said
}

/// The error a failed conversation stored.
fn error_of(status: &str, result: &Value) -> String {
    assert_eq!(status, "error", "expected an error, got {result}");
    result["error"].as_str().unwrap_or_default().to_string()
}

/// Every row of a table of the bot, as FIND returns them.
fn rows(bot: &Bot, table: &str) -> Value {
    let mut conn = bot.dialogs.services().db.get().unwrap();
    let c: &mut botstate::AnyConnection = &mut conn;
    let found = Tables::new(bot.bot).find(c, table, None, None).unwrap();
    Value::Array(found.into_iter().map(Value::Object).collect())
}

#[test]
fn every_example_package_compiles_except_the_broken_one() {
    let mut scripts = 0;
    for name in [
        "menu", "form", "tools", "data", "http", "lang", "funcs", "services",
    ] {
        let pkg = load(name);
        let errors: Vec<String> = pkg.errors.iter().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        scripts += pkg.programs.len();
    }
    scripts += load("broken").sources.len();
    assert!(scripts >= 40, "only {scripts} example scripts");
}

// ---------------------------------------------------------------------------------------
// The menu bot: TALK, BEGIN SYSTEM PROMPT, SET CONTEXT, GET SESSION (both forms),
// ADD SUGGESTION (three forms), CLEAR SUGGESTIONS, a menu HEAR, SET SESSION, SELECT
// CASE, CALL "script", SWITCH, TRANSFER TO HUMAN, RETURN, config `param-*` values.

#[tokio::test(flavor = "multi_thread")]
async fn menu_bot_greets_shows_buttons_and_hands_over_to_a_human() {
    let bot = example("menu").await;
    let out = turn(&bot, "m", None).await;
    let said: Vec<&str> = out.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        said,
        [
            "Welcome to Acme Books, Ana! (ana@example.com on test)",
            "How can I help?"
        ]
    );
    assert!(out.waiting_for_input);
    let quick = [
        b("Talk to sales", "sales", "key"),
        b("Opening hours", "hours", "text"),
    ];
    assert_eq!(buttons(&out.messages[0]), quick);
    let mut with_menu = quick.to_vec();
    for o in ["Sales", "Support", "Hours", "Human"] {
        with_menu.push(b(o, o, "text"));
    }
    assert_eq!(buttons(&out.messages[1]), with_menu);

    // An answer that is no option asks again, with the options.
    let again = turn(&bot, "m", Some("pizza")).await;
    assert_eq!(
        again.messages[0].content,
        "Please choose one of: Sales, Support, Hours, Human."
    );
    assert_eq!(buttons(&again.messages[0]).len(), 4);

    // By number: the fourth option.
    assert_eq!(
        bot.say("m", "4").await,
        [
            "Transferring you to a human attendant.",
            "Anything else? Just ask."
        ]
    );
    assert_eq!(bot.result("m").await, ("done".to_string(), Some(json!("Human"))));
    let state = bot.dialogs.session_state("m").await.unwrap().unwrap();
    assert_eq!(state.transfer.as_deref(), Some("asked from the menu"));
    assert_eq!(
        state.values,
        BTreeMap::from([("choice".to_string(), json!("Human"))])
    );
    assert_eq!(
        state.system_prompt.as_deref(),
        Some("You are the assistant of Acme Books.\nAnswer in one sentence.")
    );
    assert_eq!(
        state.contexts,
        BTreeMap::from([("hours".to_string(), "We open at 9h.".to_string())])
    );
    assert!(state.suggestions.is_empty(), "CLEAR SUGGESTIONS removed them");
}

#[tokio::test(flavor = "multi_thread")]
async fn menu_bot_runs_the_script_of_each_choice() {
    let bot = example("menu").await;

    // Sales: a sub-menu in a DO loop, the answer matched without case.
    bot.start("sales").await;
    assert_eq!(bot.say("sales", "sales").await, ["What would you like?"]);
    assert_eq!(
        bot.say("sales", "book").await,
        ["Book added: 30", "What would you like?"]
    );
    assert_eq!(
        bot.say("sales", "2").await,
        ["Pen added: 2.5", "What would you like?"]
    );
    assert_eq!(
        bot.say("sales", "Done").await,
        ["Total: 32.50", "Anything else? Just ask."]
    );
    assert_eq!(bot.result("sales").await.1, Some(json!("Sales")));

    // Support: a tool script CALLed with an argument for its PARAM.
    bot.start("support").await;
    assert_eq!(
        bot.say("support", "Support").await,
        ["Describe the problem, Ana."]
    );
    assert_eq!(
        bot.say("support", "Printer jams").await,
        [
            "Ticket T-12 opened for Ana: Printer jams",
            "Anything else? Just ask."
        ]
    );

    // Hours: SWITCH on the WEEKDAY of a typed date.
    for (day, answer) in [
        ("28/11/2026", "Closed on weekends."),
        ("2026-11-27", "Friday: 9h to 14h."),
        ("26/11/2026", "Open 26/11 from 9h to 18h."),
    ] {
        let s = format!("hours-{day}");
        bot.start(&s).await;
        assert_eq!(bot.say(&s, "hours").await, ["Which day?"]);
        assert_eq!(
            bot.say(&s, day).await,
            [answer, "Anything else? Just ask."],
            "{day}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_waiting_in_a_called_script_resumes_on_another_server_instance() {
    let pkg = load("menu");
    let db = backend();
    let second_state = state_on(&db).await;
    let bot = {
        let state = state_on(&db).await;
        let dialogs = Arc::new(Dialogs::new(Arc::new(Services::new(&state).unwrap())));
        let files: Vec<(&str, &str)> = pkg
            .sources
            .iter()
            .map(|(f, s)| (f.as_str(), s.as_str()))
            .collect();
        let config: Vec<(&str, &str)> = pkg.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Bot::install_on(dialogs, db, "menu", &files, &config).await
    };
    bot.start("x").await;
    assert_eq!(bot.say("x", "Sales").await, ["What would you like?"]);
    assert_eq!(
        bot.say("x", "Book").await,
        ["Book added: 30", "What would you like?"]
    );

    // A second instance of the same deployment (same database, fresh memory).
    let other = Dialogs::new(Arc::new(Services::new(&second_state).unwrap()));
    other.install(load("menu")).await.unwrap();
    let out = other.turn(bot.info("x"), Some("Book".into())).await.unwrap();
    let said: Vec<String> = out.messages.into_iter().map(|m| m.content).collect();
    assert_eq!(said, ["Book added: 30", "What would you like?"]);
    let out = other.turn(bot.info("x"), Some("Done".into())).await.unwrap();
    let said: Vec<String> = out.messages.into_iter().map(|m| m.content).collect();
    assert_eq!(said, ["Total: 60.00", "Anything else? Just ask."]);
}

// ---------------------------------------------------------------------------------------
// The form bot: every HEAR type, WITH, DEFAULT, re-asking, the error after three tries
// trapped by ON ERROR, HEAR in a SUB and in a FOR loop, SAVE of variables, BEGIN TALK.

#[tokio::test(flavor = "multi_thread")]
async fn form_bot_converts_each_typed_answer_and_asks_again_when_it_does_not_fit() {
    let bot = example("form").await;
    assert_eq!(
        bot.start("f").await,
        ["Let's get you registered.", "Your full name?"]
    );
    let steps = [
        ("12", "Please answer with a name."),
        ("ana maria", "How old are you?"),
        ("forty", "Please answer with a whole number (for example 42)."),
        ("41", "Your e-mail?"),
        (
            "ana@example",
            "Please answer with an e-mail address (for example ana@example.com).",
        ),
        ("Ana@Example.COM", "Your phone?"),
        (
            "call me",
            "Please answer with a phone number (for example +55 21 99999-0000).",
        ),
        ("+55 (21) 99999-0000", "Date of birth?"),
        (
            "yesterday",
            "Please answer with a date (for example 2026-12-31 or 31/12/2026).",
        ),
        ("07/03/1985", "Monthly budget?"),
        ("lots", "Please answer with an amount (for example 19.90)."),
        ("R$ 1.234,56", "Newsletter?"),
        ("maybe", "Please answer yes or no."),
        ("sim", "Your website? (empty for none)"),
        (
            "ftp://example.com",
            "Please answer with a web address (for example https://example.com).",
        ),
    ];
    for (answer, reply) in steps {
        assert_eq!(bot.say("f", answer).await, [reply], "after {answer:?}");
    }
    // An empty answer takes the DEFAULT.
    assert_eq!(
        bot.say("f", "").await,
        [
            "Thanks, Ana Maria!\nAge 41, born 07/03/1985, budget 1,234.56.\nNewsletter: yes. Site: https://example.com"
        ]
    );
    let (status, result) = bot.result("f").await;
    assert_eq!(status, "done");
    let mut row = result.unwrap();
    assert!(
        row["id"].as_str().is_some_and(|id| !id.is_empty()),
        "a generated key: {row}"
    );
    row.as_object_mut().unwrap().remove("id");
    assert_eq!(
        row,
        json!({
            "name": "Ana Maria", "age": 41, "email": "ana@example.com", "phone": "+5521999990000",
            "born": "1985-03-07", "budget": 1234.56, "news": true, "site": "https://example.com"
        })
    );
    assert_eq!(rows(&bot, "people.csv").as_array().unwrap().len(), 1);

    // The early RETURN.
    bot.start("young").await;
    bot.say("young", "Bo").await;
    assert_eq!(bot.say("young", "12").await, ["Sorry, you must be at least 18."]);
    assert_eq!(bot.result("young").await.1, Some(json!("too young")));
}

#[tokio::test(flavor = "multi_thread")]
async fn form_bot_plain_text_number_uuid_and_array_menu_answers() {
    let bot = example("form").await;
    assert!(
        open(&bot, "types.bas", "t").await.is_empty(),
        "a HEAR without WITH says nothing"
    );
    assert_eq!(bot.say("t", "hello there").await, ["A note?"]);
    assert_eq!(bot.say("t", "  spaced  ").await, ["A word?"]);
    assert_eq!(bot.say("t", "w").await, ["A number?"]);
    assert_eq!(
        bot.say("t", "three").await,
        ["Please answer with a number (for example 3.5)."]
    );
    assert_eq!(bot.say("t", "3,5").await, ["An id?"]);
    assert_eq!(bot.say("t", "not-a-uuid").await, ["Please answer with a UUID."]);
    let out = turn(&bot, "t", Some("67E55044-10B1-426F-9247-BB680E5FE0C8")).await;
    assert_eq!(out.messages[0].content, "A color?");
    assert_eq!(
        buttons(&out.messages[0]),
        [
            b("Red", "Red", "text"),
            b("Green", "Green", "text"),
            b("Blue", "Blue", "text")
        ]
    );
    assert_eq!(
        bot.say("t", "purple").await,
        ["Please choose one of: Red, Green, Blue."]
    );
    assert_eq!(
        bot.say("t", "green").await,
        [
            "string: hello there",
            "  spaced   / w",
            "number 7",
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "Green"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn form_bot_traps_the_error_after_three_invalid_answers() {
    let bot = example("form").await;
    assert_eq!(open(&bot, "retry.bas", "r").await, ["How many?"]);
    let ask = "Please answer with a whole number (for example 42).";
    assert_eq!(bot.say("r", "a").await, [ask]);
    assert_eq!(bot.say("r", "b").await, [ask]);
    assert_eq!(bot.say("r", "c").await, [ask], "re-asked three times");
    assert_eq!(
        bot.say("r", "d").await,
        ["Giving up: no valid answer after 3 tries", "Quantity 1"]
    );
    assert_eq!(bot.result("r").await, ("done".to_string(), Some(json!(1))));
}

#[tokio::test(flavor = "multi_thread")]
async fn form_bot_hears_in_a_loop_with_a_default() {
    let bot = example("form").await;
    assert_eq!(open(&bot, "survey.bas", "s").await, ["Score for question 1?"]);
    assert_eq!(bot.say("s", "8").await, ["Score for question 2?"]);
    assert_eq!(bot.say("s", "").await, ["Score for question 3?"]);
    assert_eq!(bot.say("s", "2").await, ["Send the survey?"]);
    assert_eq!(bot.say("s", "1").await, ["Average 5 from 8, 5, 2"]);
    assert_eq!(bot.result("s").await.1, Some(json!([8, 5, 2])));
}

// ---------------------------------------------------------------------------------------
// The tool bot: PARAM (every type, LIKE, DESCRIPTION, ENUM, OPTIONAL), DESCRIPTION, the
// JSON Schema in both shapes, ADD TOOL / USE TOOL / CLEAR TOOLS, ADD SUGGESTION TOOL,
// argument validation, RETURN as the tool's result.

#[tokio::test(flavor = "multi_thread")]
async fn tool_bot_offers_its_tools_for_the_session() {
    let bot = example("tools").await;
    let out = turn(&bot, "yes", None).await;
    let said: Vec<&str> = out.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        said,
        [
            "I can book tables at Casa Nova and check orders.",
            "Do you also need the calculator?"
        ]
    );
    assert_eq!(buttons(&out.messages[0]), [b("Book a table", "booking", "tool")]);
    let state = bot.dialogs.session_state("yes").await.unwrap().unwrap();
    assert_eq!(state.tools, ["booking", "order_status"]);

    assert_eq!(bot.say("yes", "yes").await, ["Ready."]);
    let state = bot.dialogs.session_state("yes").await.unwrap().unwrap();
    assert_eq!(
        state.tools,
        ["booking", "order_status", "calc"],
        "USE TOOL twice adds once"
    );

    bot.start("no").await;
    assert_eq!(bot.say("no", "não").await, ["Ready."]);
    let state = bot.dialogs.session_state("no").await.unwrap().unwrap();
    assert!(state.tools.is_empty(), "CLEAR TOOLS: {:?}", state.tools);

    assert_eq!(
        transcript(&bot, "misuse.bas").await,
        [
            "seed.bas is not a tool: it has no DESCRIPTION line",
            "no script nowhere.bas in this bot"
        ]
    );
}

#[test]
fn tool_scripts_become_json_schemas_in_the_openai_and_mcp_shapes() {
    let pkg = load("tools");
    let mut names: Vec<&str> = pkg.tools().iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["booking", "calc", "kinds", "order_status"]);
    let booking = pkg.program("booking").unwrap().compiled.tool.clone().unwrap();
    let parameters = json!({
        "type": "object",
        "properties": {
            "guest": {"type": "string", "description": "Who is coming", "examples": ["Maria"]},
            "day": {"type": "string", "format": "date", "description": "The day, as YYYY-MM-DD"},
            "people": {"type": "integer", "description": "How many people"},
            "vegan": {"type": "boolean"},
            "room": {"type": "string", "description": "Where to sit", "enum": ["hall", "garden"]},
            "email": {"type": "string", "format": "email"}
        },
        "required": ["guest", "day", "people"],
        "additionalProperties": false
    });
    assert_eq!(
        booking.openai(),
        json!({"type": "function", "function": {
            "name": "booking", "description": "Book a table at the restaurant", "parameters": parameters
        }})
    );
    assert_eq!(
        booking.mcp(),
        json!({"name": "booking", "description": "Book a table at the restaurant", "inputSchema": parameters})
    );
    let kinds = pkg.program("kinds.bas").unwrap().compiled.tool.clone().unwrap();
    let props = &kinds.schema()["properties"];
    let types: Vec<&str> = ["amount", "phone", "items", "meta", "note"]
        .iter()
        .map(|p| props[p]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["number", "string", "array", "object", "string"]);
    assert_eq!(
        kinds.schema()["required"],
        json!(["amount", "phone", "items", "meta"])
    );
    assert!(pkg.program("start").unwrap().compiled.tool.is_none());
}

async fn calc(bot: &Bot, a: Value, b: Value, op: &str) -> AppResult<botserver_auto::dialog::ToolRun> {
    let args = json!({"a": a, "b": b, "op": op});
    bot.dialogs.run_tool(bot.info("t"), "calc", &args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_run_with_validated_and_coerced_arguments() {
    let bot = example("tools").await;
    let d = &bot.dialogs;
    let run = d
        .run_tool(
            bot.info("t"),
            "booking",
            &json!({"guest": "Ana", "day": "2026-12-24", "people": "4", "vegan": "sim"}),
        )
        .await
        .unwrap();
    assert_eq!(
        run.messages,
        ["Booked 4 at Casa Nova for Ana on 24/12/2026 in the hall (vegan)."]
    );
    assert_eq!(
        run.result,
        json!({"guest": "Ana", "day": "2026-12-24", "people": 4, "room": "hall", "vegan": true, "email": ""})
    );
    let run = d
        .run_tool(
            bot.info("t"),
            "booking.bas",
            &json!({"guest": "Bo", "day": "2027-01-02", "people": 2, "room": "garden", "email": "bo@example.com"}),
        )
        .await
        .unwrap();
    assert_eq!(
        run.messages,
        ["Booked 2 at Casa Nova for Bo on 02/01/2027 in the garden."]
    );

    for (args, wanted) in [
        (
            json!({"guest": "A", "day": "2026-12-24"}),
            "missing parameter `people`",
        ),
        (
            json!({"guest": "A", "day": "24/12/2026", "people": 2}),
            "must be a date like 2026-01-31",
        ),
        (
            json!({"guest": "A", "day": "2026-12-24", "people": "many"}),
            "parameter `people`",
        ),
        (
            json!({"guest": "A", "day": "2026-12-24", "people": 2, "room": "roof"}),
            "must be one of hall, garden",
        ),
        (
            json!({"guest": "A", "day": "2026-12-24", "people": 2, "email": "nope"}),
            "must be an e-mail address",
        ),
        (
            json!({"guest": "A", "day": "2026-12-24", "people": 2, "extra": 1}),
            "unknown parameter `extra`",
        ),
    ] {
        let e = d
            .run_tool(bot.info("t"), "booking", &args)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(wanted), "{args}: {e}");
    }

    assert_eq!(
        calc(&bot, json!("7"), json!(2), "/").await.unwrap().result,
        json!(3.5)
    );
    assert_eq!(
        calc(&bot, json!(7), json!(2), "*").await.unwrap().result,
        json!(14)
    );
    assert_eq!(
        calc(&bot, json!(1.5), json!("2,25"), "+").await.unwrap().result,
        json!(3.75)
    );
    let e = calc(&bot, json!(1), json!(0), "/").await.unwrap_err().to_string();
    assert!(e.contains("calc.bas:13: cannot divide 1 by zero"), "{e}");
    let e = calc(&bot, json!(1), json!(2), "%").await.unwrap_err().to_string();
    assert!(e.contains("must be one of +, -, *, /"), "{e}");

    let run = d
        .run_tool(
            bot.info("t"),
            "kinds",
            &json!({"amount": "2.5", "phone": "+55 21 99999-0000", "items": [1, 2], "meta": {"source": "web"}}),
        )
        .await
        .unwrap();
    assert_eq!(run.result, json!("number,string,array,object,string:5:2:web:[]"));

    // A tool reading the bot's tables.
    assert_eq!(transcript(&bot, "seed.bas").await, ["2 orders"]);
    let run = d
        .run_tool(bot.info("t"), "order_status", &json!({"order_id": "1001"}))
        .await
        .unwrap();
    assert_eq!(run.messages, ["Order 1001 is shipped."]);
    assert_eq!(run.result, json!({"found": true, "status": "shipped"}));
    let run = d
        .run_tool(bot.info("t"), "order_status", &json!({"order_id": 7}))
        .await
        .unwrap();
    assert_eq!(
        (run.messages, run.result),
        (vec!["No order 7.".to_string()], json!({"found": false}))
    );
    let e = d
        .run_tool(bot.info("t"), "seed", &json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("seed is not a tool"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_started_by_its_button_asks_for_the_missing_parameters() {
    let bot = example("tools").await;
    let out = bot
        .dialogs
        .turn_in("booking.bas", bot.info("button"), None)
        .await
        .unwrap();
    assert!(out.waiting_for_input, "it asks: {:?}", out.messages);
    assert!(
        out.messages[0].content.contains("Who is coming"),
        "{:?}",
        out.messages
    );
}

// ---------------------------------------------------------------------------------------
// The data bot: TABLE blocks, SAVE (object and variables), INSERT, UPDATE, DELETE,
// MERGE, FIND (filters literal, interpolated and computed; limit; FIRST), SEARCH,
// FILTER, AGGREGATE, JOIN, GROUP BY, SORT, MAP, FILL, PIVOT, NEW OBJECT, NEW ARRAY, and
// the memory keywords.

#[tokio::test(flavor = "multi_thread")]
async fn data_bot_writes_rows_in_every_form_and_reads_them_back() {
    let bot = example("data").await;
    assert_eq!(
        transcript(&bot, "seed.bas").await,
        ["Seeded 3 customers and 3 orders."]
    );
    assert_eq!(
        rows(&bot, "customers"),
        json!([
            {"id": 1, "name": "Ana", "city": "Rio", "vip": true, "since": "2020-01-15"},
            {"id": 2, "name": "Bruno", "city": "Porto", "vip": null, "since": null},
            {"id": 3, "name": "Carla", "city": "Rio", "vip": false, "since": null},
        ])
    );
    assert_eq!(
        rows(&bot, "orders.csv"),
        json!([
            {"order_no": 10, "customer_id": 1, "total": 120.5, "status": "open"},
            {"order_no": 11, "customer_id": 1, "total": 30, "status": "paid"},
            {"order_no": 12, "customer_id": 3, "total": 75, "status": "open"},
        ])
    );

    let said = transcript(&bot, "change.bas").await;
    assert_eq!(said.len(), 1);
    assert!(
        said[0].starts_with("Insert twice: INSERT customers: ") && said[0].contains("key 1"),
        "{said:?}"
    );
    assert_eq!(
        rows(&bot, "customers"),
        json!([
            {"id": 1, "name": "Ana", "city": "Rio de Janeiro", "vip": true, "since": "2020-01-15"},
            {"id": 2, "name": "Bruno", "city": "Porto", "vip": true, "since": null},
            {"id": 3, "name": "Carla", "city": "Rio de Janeiro", "vip": false, "since": null},
        ])
    );
    assert_eq!(
        rows(&bot, "orders"),
        json!([
            {"order_no": 10, "customer_id": 1, "total": 120.5, "status": "open"},
            {"order_no": 11, "customer_id": 1, "total": 30, "status": "refunded"},
        ])
    );

    assert_eq!(
        transcript(&bot, "report.bas").await,
        [
            "Ana (Rio de Janeiro) VIP",
            "Carla (Rio de Janeiro)",
            "Orders over 50: 10",
            "First VIP: Ana since 2020-01-15",
            "Limited to 2",
            "Computed filter: Bruno",
            "Search: 1 Ana",
            "Injection finds 0",
            "No table finds 0",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_inserted_before_a_hear_is_written_once() {
    let bot = example("data").await;
    assert_eq!(open(&bot, "signup.bas", "s").await, ["Your name?"]);
    assert_eq!(bot.say("s", "eva").await, ["Signed up Eva: done"]);
    assert_eq!(
        rows(&bot, "signups"),
        json!([{"id": "s1", "step": "done", "name": "Eva"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_bot_transforms_rows_in_memory() {
    let bot = example("data").await;
    assert_eq!(
        transcript(&bot, "rows.bas").await,
        [
            "North: 2",
            "sum=210.5 count=4 avg=52.625 min=10.5 max=100",
            "Groups: north 2, south 2",
            "Top: Ana, bottom: 10.5",
            "First rep: Ana 100",
            "Joined: 3 ABA",
            "Mapped: Ana 100 true",
            "Ana sold 100; Bruno sold 40; Carla sold 60; Ana sold 10.5",
            "Pivot: Ana 110.5, Bruno 40, Carla 60",
            "{\"name\":\"x\"} [1]",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bot_memory_is_shared_user_memory_is_per_user_and_remember_expires() {
    let bot = example("data").await;
    assert_eq!(open(&bot, "memory.bas", "m1").await, ["Visits: 1"]);
    assert_eq!(open(&bot, "memory.bas", "m2").await, ["Visits: 2"]);
    assert_eq!(bot.result("m2").await.1, Some(json!(2)));

    let as_user_of_m1 = |session: &str| {
        let mut info = bot.info(session);
        info.user_id = "user-of-m1".into();
        info
    };
    let said = |out: botstate::services::TurnOutput| -> Vec<String> {
        out.messages.into_iter().map(|m| m.content).collect()
    };
    let bad_duration = "REMEMBER: \"soon\" is not a duration (for example \"30 days\")";
    let out = bot
        .dialogs
        .turn_in("recall.bas", as_user_of_m1("r1"), None)
        .await
        .unwrap();
    assert_eq!(
        said(out),
        [
            "Hello from memory; visits 2; color [blue]; plan [gold x3]; code [1234]",
            bad_duration
        ]
    );
    assert_eq!(
        open(&bot, "recall.bas", "r2").await,
        [
            "Hello from memory; visits 2; color []; plan [ x]; code []",
            bad_duration
        ],
        "another user sees the bot's memory, not the first user's"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = bot
        .dialogs
        .turn_in("recall.bas", as_user_of_m1("r3"), None)
        .await
        .unwrap();
    assert_eq!(
        said(out)[0],
        "Hello from memory; visits 2; color [blue]; plan [gold x3]; code []",
        "REMEMBER … \"1 second\" has expired"
    );
}

// ---------------------------------------------------------------------------------------
// The HTTP bot against a local server: GET, POST, PUT, PATCH, DELETE, SET HEADER (both
// forms), CLEAR HEADERS, GRAPHQL, errors, and the private-address guard.

/// Requests the test server received: method, path, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

async fn api_server() -> (String, Seen) {
    use axum::Router;
    use axum::body::Bytes as Body;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use axum::response::IntoResponse;
    use axum::routing::{any, get, post};

    fn note(seen: &Seen, method: &Method, uri: &Uri, body: &Body) {
        let body = String::from_utf8_lossy(body).to_string();
        seen.lock()
            .unwrap()
            .push((method.to_string(), uri.path().to_string(), body));
    }
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/json", get(|| async { axum::Json(json!({"ok": true, "n": 3})) }))
        .route(
            "/products",
            get(|| async { axum::Json(json!([{"name": "pen", "price": 2.5}, {"name": "book", "price": 30}])) }),
        )
        .route("/text", get(|| async { "hello world" }))
        .route("/binary", get(|| async { vec![0u8, 159, 146, 150, 255, b'P', b'K'] }))
        .route(
            "/echo",
            any(
                |State(seen): State<Seen>, method: Method, uri: Uri, headers: HeaderMap, body: Body| async move {
                    note(&seen, &method, &uri, &body);
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    axum::Json(json!({
                        "method": method.as_str(),
                        "content_type": content_type,
                        "body": String::from_utf8_lossy(&body),
                    }))
                },
            ),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                axum::Json(json!({"x-api-key": get("x-api-key"), "authorization": get("authorization")}))
            }),
        )
        .route(
            "/graphql",
            post(|State(seen): State<Seen>, uri: Uri, body: Body| async move {
                note(&seen, &Method::POST, &uri, &body);
                let req: Value = serde_json::from_slice(&body).unwrap_or_default();
                axum::Json(json!({
                    "data": {"user": {"name": format!("user {}", req["variables"]["id"])}},
                    "query": req["query"],
                }))
            }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"error": "nope"}))).into_response() }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn http_bot_gets_json_as_objects_and_text_as_text() {
    let (api, _) = api_server().await;
    let bot = install("http", &[("param-api", &api)], None).await;
    let (said, status, result) = run(&bot, "get.bas").await;
    assert_eq!(
        said,
        [
            "ok=true n=3 object",
            "array of 2, first pen at 2.5",
            "string: hello world"
        ]
    );
    assert_eq!((status.as_str(), result), ("done", json!({"ok": true, "n": 3})));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_bot_sends_objects_as_json_and_text_as_text() {
    let (api, seen) = api_server().await;
    let bot = install("http", &[("param-api", &api)], None).await;
    assert_eq!(
        transcript(&bot, "send.bas").await,
        [
            "POST application/json {\"item\":\"pen\",\"qty\":2}",
            "PUT text/plain; charset=utf-8 plain words",
            "PATCH {\"qty\":3}",
            "DELETE []",
            "done"
        ]
    );
    let calls: Vec<(String, String, String)> = seen.lock().unwrap().clone();
    let calls: Vec<(&str, &str)> = calls.iter().map(|(m, _, b)| (m.as_str(), b.as_str())).collect();
    assert_eq!(
        calls,
        [
            ("POST", "{\"item\":\"pen\",\"qty\":2}"),
            ("PUT", "plain words"),
            ("PATCH", "{\"qty\":3}"),
            ("DELETE", ""),
            ("POST", "{\"fire\":\"and forget\"}"),
        ],
        "each call made once, even though the script ran once per turn"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_bot_sets_and_clears_headers_and_calls_graphql() {
    let (api, seen) = api_server().await;
    let bot = install("http", &[("param-api", &api)], None).await;
    assert_eq!(
        transcript(&bot, "headers.bas").await,
        ["key=k-123 auth=Bearer t-42", "after clear: key=[] auth=[]"]
    );
    assert_eq!(
        transcript(&bot, "graphql.bas").await,
        ["user 7 for query($id: Int) { user(id: $id) { name } }"]
    );
    let body: Value = serde_json::from_str(&seen.lock().unwrap()[0].2).unwrap();
    assert_eq!(
        body,
        json!({"query": "query($id: Int) { user(id: $id) { name } }", "variables": {"id": 7}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_errors_are_errors_the_script_sees() {
    let (api, _) = api_server().await;
    let bot = install("http", &[("param-api", &api)], None).await;
    let (said, status, result) = run(&bot, "failures.bas").await;
    assert_eq!(
        said,
        [
            "status: HTTP 404: {\"error\":\"nope\"}",
            "soap: not available: SOAP needs a SOAP client",
            SORRY
        ]
    );
    assert_eq!(
        error_of(&status, &result),
        "failures.bas:9: HTTP 404: {\"error\":\"nope\"}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_call_before_a_hear_is_not_repeated_when_the_script_is_replayed() {
    let (api, seen) = api_server().await;
    let bot = install("http", &[("param-api", &api)], None).await;
    assert_eq!(open(&bot, "order.bas", "o").await, ["Placed with POST. Confirm?"]);
    assert_eq!(bot.say("o", "yes").await, ["Confirmed: {\"step\":2}"]);
    let bodies: Vec<String> = seen.lock().unwrap().iter().map(|(_, _, b)| b.clone()).collect();
    assert_eq!(bodies, ["{\"step\":1}", "{\"step\":2}"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_calls_limit_stops_the_script() {
    let (api, seen) = api_server().await;
    let bot = install("http", &[("param-api", &api), ("limit-http-calls", "2")], None).await;
    let (said, status, result) = run(&bot, "get.bas").await;
    assert_eq!(
        said,
        ["ok=true n=3 object", "array of 2, first pen at 2.5", SORRY]
    );
    assert_eq!(
        error_of(&status, &result),
        "get.bas:6: more than 2 HTTP calls in one turn"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_http_allow_private_the_bot_cannot_reach_loopback() {
    let (api, seen) = api_server().await;
    let bot = install(
        "http",
        &[("param-api", &api), ("http-allow-private", "false")],
        None,
    )
    .await;
    let (said, status, result) = run(&bot, "send.bas").await;
    assert_eq!(said, [SORRY]);
    assert_eq!(
        error_of(&status, &result),
        "send.bas:3: refused: 127.0.0.1 is a private/loopback address; \
         set http-allow-private=true in config.csv to allow"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the server");
}

// ---------------------------------------------------------------------------------------
// The language bot: assignment forms, IF forms, truthiness, operators, literals and
// comments, SELECT CASE and SWITCH, every loop, every EXIT, WITH, SUB/FUNCTION/CALL,
// CALL "other.bas", ON ERROR, THROW, ERR, ERROR MESSAGE, WAIT and PRINT.

#[tokio::test(flavor = "multi_thread")]
async fn language_bot_assignments_conditions_and_truthiness() {
    let bot = example("lang").await;
    assert_eq!(transcript(&bot, "assign.bas").await, ["total 10 10"]);
    assert_eq!(
        transcript(&bot, "ifs.bas").await,
        [
            "one-line then",
            "one-line else",
            "elseif five",
            "else branch",
            "lowercase keywords",
            "names ignore case"
        ]
    );
    assert_eq!(
        transcript(&bot, "truth.bas").await,
        [
            "FFFFFTTTTTTTT",
            "an unset variable is empty",
            "NULL and empty text are both empty",
            "text compares case-sensitively",
            "numeric text equals its number"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn language_bot_operators_literals_and_comments() {
    let bot = example("lang").await;
    assert_eq!(
        transcript(&bot, "operators.bas").await,
        [
            "10|4|21|3.5|1|1024|2",
            "ID: 42",
            "33",
            "20 14 -2.5 -4 -6",
            "true false true false true false true true",
            "false true true false true false",
            "true true false",
            "pear in",
            "kiwi not in",
            "substring in",
            "key in",
            "not in parentheses"
        ]
    );
    assert_eq!(
        transcript(&bot, "literals.bas").await,
        [
            "Order 7 for Ana: B2 x1",
            "paid 5 Ana Maria 3 B2",
            "She said \"hi\" ' and left // still text",
            "Sum 7, 2 items, X",
            "Total 6",
            "[1,\"two\",3.5,true,null,{\"a\":[]}]",
            "Hi, Hi"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn language_bot_select_case_switch_and_loops() {
    let bot = example("lang").await;
    assert_eq!(
        transcript(&bot, "selects.bas").await,
        [
            "one",
            "two to four",
            "else 5",
            "a or b",
            "else z",
            "first match",
            "switch b",
            "switch default"
        ]
    );
    assert_eq!(
        transcript(&bot, "loops.bas").await,
        [
            "for: 12345",
            "step: 10 7 4 1",
            "decimal step: 0;0.25;0.5;0.75;1;",
            "empty range: []",
            "for each: ANABO12",
            "while: 3",
            "do while: 0",
            "do until: 4",
            "loop while: 5",
            "loop until: 0",
            "bodies: 1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn language_bot_exits_with_and_procedures() {
    let bot = example("lang").await;
    assert_eq!(
        transcript(&bot, "exits.bas").await,
        [
            "found i=4 j=3 i=4",
            "exit do from a for: k=2",
            "exit while: n=3",
            "checked 2",
            "sign: [] [+] [-]"
        ]
    );
    assert_eq!(
        transcript(&bot, "with.bas").await,
        ["{\"age\":31,\"city\":\"Rio\",\"name\":\"Ana\"}", "Ana is 31"]
    );
    assert_eq!(
        transcript(&bot, "procs.bas").await,
        [
            "total 12",
            "fact 120",
            "twice 12, n still 100",
            "temp is local: []",
            "Hi from a SUB",
            "Hi from a SUB"
        ]
    );
    assert_eq!(
        transcript(&bot, "caller.bas").await,
        ["sum 5", "args: x,1 (2)", "caller r=0"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn language_bot_traps_errors_and_stops_on_untrapped_ones() {
    let bot = example("lang").await;
    let (said, status, result) = run(&bot, "errors.bas").await;
    assert_eq!(
        said,
        [
            "err=1 msg=division by zero",
            "from a SUB: failed in a SUB",
            "reset: err=0 msg=[]",
            "before the unhandled error",
            SORRY
        ]
    );
    assert_eq!(
        error_of(&status, &result),
        "errors.bas:12: cannot use - on the text \"a\" and number 1"
    );
    assert_eq!(result["limit"], false);

    let (said, status, result) = run(&bot, "throw.bas").await;
    assert_eq!(said, ["about to throw", SORRY]);
    assert_eq!(error_of(&status, &result), "throw.bas:3: custom problem 42");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_parks_the_conversation_and_print_is_not_shown() {
    let bot = example("lang").await;
    assert_eq!(open(&bot, "waits.bas", "w").await, ["before", "after zero"]);
    assert_eq!(bot.result("w").await, ("wait".to_string(), None));
    // Too early: nothing happens.
    assert!(bot.dialogs.wake_due().await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let woken = bot.dialogs.wake_due().await.unwrap();
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].0.session_id, "w");
    let said: Vec<&str> = woken[0].1.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(said, ["after one second"]);
    assert_eq!(bot.result("w").await, ("done".to_string(), Some(json!("woke"))));
}

// ---------------------------------------------------------------------------------------
// The function-library bot: every function of spec §9 with exact values.

#[tokio::test(flavor = "multi_thread")]
async fn function_bot_string_functions() {
    let bot = example("funcs").await;
    assert_eq!(
        transcript(&bot, "strings.bas").await,
        [
            "[Hello World][Hello World  ][  Hello World]",
            "11 Hello World World ell",
            "HELLO WORLD A hello world b LOWER-CASE CALL",
            "Hello There abc",
            "3:a|b|c:x, y:3",
            "5 8 0",
            "45.5 0 421.5 string",
            "a1true2.5",
            "1,234,567.89 3.1 42 -1,234.50",
            "05/03/2026 14:07:09 26-03-05"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn function_bot_math_functions() {
    let bot = example("funcs").await;
    assert_eq!(
        transcript(&bot, "math.bas").await,
        [
            "3 2.5 2.57 -2 -3 -2 2 3",
            "9 2 2 -101 4 256",
            "1 2.71828 0 4.6052",
            "6 4 5 3 3",
            "rnd in [0,1), dice in 1..6"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn function_bot_date_functions() {
    let bot = example("funcs").await;
    assert_eq!(
        transcript(&bot, "dates.bas").await,
        [
            "2024-2-29 13:45:30 weekday 5",
            "2025-02-28 13:45:30 | 2024-02-29 | 2024-02-28 13:45:30 | 2024-02-29 15:45:30 | 2024-03-07 13:45:30",
            "60 17 1 750",
            "date date 00:00:00 recent today",
            "false true true"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn function_bot_array_check_and_json_functions() {
    let bot = example("funcs").await;
    assert_eq!(
        transcript(&bot, "arrays.bas").await,
        [
            "2 0 3",
            "3,1,2,5,4",
            "4 3,1,2,5,4",
            "true false true",
            "1,2,3,4,5 c,b,a 1,2,1",
            "4,5,2,1,3 cba",
            "1,2 5,4 3 4 []"
        ]
    );
    assert_eq!(
        transcript(&bot, "checks.bas").await,
        [
            "true true true false true",
            "true false true false true false",
            "string number number boolean date array object null",
            "fallback value yes no third"
        ]
    );
    assert_eq!(
        transcript(&bot, "json.bas").await,
        [
            "Ana 2 b 31 object boolean",
            "{\"a\":\"x\",\"b\":[1,2.5],\"n\":null}",
            "\"quote\\\"s\" 3",
            "bad json: error"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn now_and_random_keep_their_values_when_the_conversation_is_replayed() {
    let bot = example("funcs").await;
    let first = open(&bot, "replay.bas", "r").await;
    assert_eq!(first.len(), 2);
    assert_eq!(first[1], "Continue?");
    let values = first[0].strip_prefix("first ").unwrap().to_string();
    assert_eq!(
        values.len(),
        "2026-01-01 00:00:00 ".len() + values.split(' ').nth(2).unwrap().len()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(bot.say("r", "yes").await, [format!("again {values}")]);
}

// ---------------------------------------------------------------------------------------
// The services bot: SET SCHEDULE, ON …, WEBHOOK, mail, the drive, the AI keywords with
// no model configured, and the keywords whose service this server lacks.

fn hook(name: &str, script: &str, trigger: Trigger) -> JobSpec {
    JobSpec {
        bot: BotId::for_name("services"),
        name: name.to_string(),
        script: script.to_string(),
        trigger,
    }
}

fn cron(expr: &str) -> Trigger {
    Trigger::Cron {
        expr: expr.to_string(),
        tz: "America/Sao_Paulo".to_string(),
    }
}

fn event(name: &str) -> Trigger {
    Trigger::Event {
        name: name.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_and_hooks_are_registered_at_install_and_follow_the_source() {
    let fakes = Fakes::default();
    let bot = install("services", &[], Some(&fakes)).await;
    let expected = vec![
        hook("hooks.bas:2", "hooks.bas", event("email:orders@acme.com")),
        hook("hooks.bas:3", "hooks.bas", event("insert:customers")),
        hook("hooks.bas:4", "hooks.bas", event("update:customers")),
        hook("hooks.bas:5", "hooks.bas", event("delete:customers")),
        hook("hooks.bas:6", "hooks.bas", event("form:contact")),
        hook("hooks.bas:7", "hooks.bas", event("event:paid")),
        hook("nightly.bas:2", "nightly.bas", cron("0 2 * * *")),
        hook("webhook.bas:2", "webhook.bas", event("webhook:orders")),
        hook("weekdays.bas:2", "weekdays.bas", cron("0 30 8 * * 1-5")),
    ];
    assert_eq!(botserver_auto::hooks::jobs(bot.bot, &load("services")), expected);
    assert_eq!(
        fakes.jobs.list(bot.bot).await.unwrap(),
        expected,
        "handed to the scheduler"
    );

    // Removing the SET SCHEDULE line removes the schedule at the next install.
    let mut pkg = load("services");
    let nightly = pkg.sources["nightly.bas"].replace("SET SCHEDULE \"0 2 * * *\"\n", "");
    pkg.sources.insert("nightly.bas".into(), nightly);
    let pkg = Package::from_sources("services", pkg.sources, pkg.config);
    bot.dialogs.install(pkg).await.unwrap();
    let now = fakes.jobs.list(bot.bot).await.unwrap();
    assert_eq!(now.len(), expected.len() - 1);
    assert!(!now.iter().any(|j| j.script == "nightly.bas"), "{now:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_script_runs_with_the_posted_body() {
    let bot = example("services").await;
    let run = bot
        .dialogs
        .run_script(
            bot.info("webhook:orders"),
            "webhook.bas",
            json!({"id": 7, "total": 19.9}),
        )
        .await
        .unwrap();
    assert_eq!(run.messages, ["Order 7 received"]);
    assert_eq!(run.result, json!({"ok": true, "id": 7}));
    // A table without a TABLE definition gets a text key.
    assert_eq!(rows(&bot, "webhook_orders"), json!([{"id": "7", "total": 19.9}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_through_the_mailer_and_fails_loudly_without_one() {
    let fakes = Fakes::default();
    let bot = install("services", &[], Some(&fakes)).await;
    assert_eq!(transcript(&bot, "mail.bas").await, ["3 mails sent"]);
    let sent: Vec<(Vec<String>, String, String)> = fakes
        .mail
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|m| (m.to.clone(), m.subject.clone(), m.text.clone()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sent,
        [
            (
                s(&["ana@example.com"]),
                "Your order".into(),
                "Order 7 is ready.".into()
            ),
            (
                s(&["bo@example.com", "cy@example.com"]),
                "Hello".into(),
                "Two recipients".into()
            ),
            (
                s(&["dan@example.com"]),
                "Invoice 42".into(),
                "Dear dan@example.com,\nyour invoice is attached.".into()
            ),
        ]
    );
    assert!(
        fakes
            .mail
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|m| m.bot == Some(bot.bot))
    );

    let bot = example("services").await;
    let (said, status, result) = run(&bot, "mail.bas").await;
    assert_eq!(said, [SORRY]);
    assert_eq!(
        error_of(&status, &result),
        "mail.bas:2: mail is not configured on this server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drive_keywords_read_and_write_the_bots_own_files() {
    let fakes = Fakes::default();
    let bot = install("services", &[], Some(&fakes)).await;
    let prefix = format!("bots/{}/drive/", bot.bot);
    assert_eq!(
        transcript(&bot, "drive.bas").await,
        [
            "buy milk / object pen".to_string(),
            "notes: notes/todo.txt".to_string(),
            "all: archive/todo.txt, data/order.json".to_string(),
            format!("/shared/{prefix}exports/x.csv"),
            format!("[Your list](/shared/{prefix}archive/todo.txt)"),
            "the path \"../other-bot/secret.txt\" leaves the bot's drive".to_string(),
        ]
    );
    let files: Vec<String> = fakes.drive.0.lock().unwrap().keys().cloned().collect();
    assert_eq!(
        files,
        [
            format!("{prefix}archive/todo.txt"),
            format!("{prefix}data/order.json"),
            format!("{prefix}exports/x.csv")
        ]
    );
    assert_eq!(
        fakes.drive.text(&format!("{prefix}exports/x.csv")).as_deref(),
        Some("a,b")
    );
    assert_eq!(
        fakes.drive.text(&format!("{prefix}data/order.json")).as_deref(),
        Some("{\"id\":7,\"items\":[\"pen\"]}")
    );

    // Without a drive on the server, the first drive keyword is an error.
    let bot = example("services").await;
    let (_, status, result) = run(&bot, "drive.bas").await;
    assert_eq!(
        error_of(&status, &result),
        "drive.bas:2: WRITE needs the drive: object store is not configured"
    );
}

/// A document reader for the drive tests: "extracts" a document by quoting its bytes
/// and remembers which files it was asked for; a file whose bytes start with `broken` is
/// a 400, as the real reader answers.
#[derive(Default)]
struct TestDoubleReader(Mutex<Vec<String>>);

#[async_trait]
impl DocumentReader for TestDoubleReader {
    async fn text(&self, name: &str, data: Bytes) -> AppResult<String> {
        self.0.lock().unwrap().push(name.to_string());
        if data.starts_with(b"broken") {
            return Err(AppError::BadRequest(format!("{name}: not a .docx (zip) file")));
        }
        Ok(format!("text of {name}: {}", String::from_utf8_lossy(&data)))
    }
    fn reads(&self, _: &str) -> bool {
        // Every name, so the test shows READ keeps text files away from the reader itself.
        true
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn read_gives_a_documents_text_through_the_document_reader() {
    let src = "t = READ \"letters/Memo.DOCX\"\nTALK t\nTALK READ(\"prices.xlsx\")\n\
               WRITE \"notes.txt\", \"plain\"\nTALK READ(\"notes.txt\")\nTALK READ(\"list.csv\")\n\
               ON ERROR RESUME NEXT\nx = READ \"bad.docx\"\nTALK ERROR MESSAGE\n";
    let fakes = Fakes::default();
    let reader = Arc::new(TestDoubleReader::default());
    let db = backend();
    let state = state_on(&db).await;
    let mut services = Services::new(&state).unwrap();
    services.objects = fakes.drive.clone();
    services.documents = reader.clone();
    let dialogs = Arc::new(Dialogs::new(Arc::new(services)));
    let bot = Bot::install_on(dialogs, db, "reader", &[("start.bas", src)], &[]).await;
    let prefix = format!("bots/{}/drive/", bot.bot);
    for (path, data) in [
        ("letters/Memo.DOCX", &b"Dear team"[..]),
        ("prices.xlsx", b"Tea | 3"),
        ("list.csv", b"a,b"),
        ("bad.docx", b"broken bytes"),
    ] {
        fakes
            .drive
            .put(&format!("{prefix}{path}"), Bytes::copy_from_slice(data), None)
            .await
            .unwrap();
    }
    assert_eq!(
        bot.start("s").await,
        [
            "text of letters/Memo.DOCX: Dear team",
            "text of prices.xlsx: Tea | 3",
            "plain",
            "a,b",
            "READ: bad.docx: not a .docx (zip) file",
        ]
    );
    assert_eq!(
        *reader.0.lock().unwrap(),
        ["letters/Memo.DOCX", "prices.xlsx", "bad.docx"],
        "text files are read as they are"
    );

    // Without a document reader on the server: a clear error naming what is missing,
    // while text files still read.
    let fakes = Fakes::default();
    let db = backend();
    let state = state_on(&db).await;
    let mut services = Services::new(&state).unwrap();
    services.objects = fakes.drive.clone();
    let dialogs = Arc::new(Dialogs::new(Arc::new(services)));
    let src = "WRITE \"a.txt\", \"still text\"\nTALK READ(\"a.txt\")\nTALK READ(\"report.pdf\")\n";
    let bot = Bot::install_on(dialogs, db, "noreader", &[("start.bas", src)], &[]).await;
    assert_eq!(bot.start("s").await, ["still text", SORRY]);
    let (status, result) = bot.result("s").await;
    assert_eq!(
        error_of(&status, &result.unwrap_or_default()),
        "start.bas:3: READ: reading .pdf files needs the document reader (the server's vectordb feature)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_keywords_without_a_model_fail_with_not_configured() {
    let bot = example("services").await;
    let llm = "llm is not configured on this server";
    assert_eq!(
        transcript(&bot, "ai.bas").await,
        [
            format!("LLM: {llm}"),
            format!("LLM fast: {llm}"),
            format!("SUMMARIZE: {llm}"),
            format!("TRANSLATE: {llm}"),
            format!("SENTIMENT: {llm}"),
            format!("CLASSIFY: {llm}"),
            "THINK KB: knowledge base is not configured on this server".to_string(),
            format!("SAVE FROM UNSTRUCTURED: {llm}"),
            "USE WEBSITE: website indexing is not configured on this server".to_string(),
            "DELEGATE: not available: DELEGATE needs the multi-bot service".to_string(),
            "r is still empty: true".to_string(),
        ]
    );
    let state = bot.dialogs.session_state("run-ai.bas").await.unwrap().unwrap();
    assert_eq!(state.model.as_deref(), Some("fast"));
    assert_eq!(state.kbs, ["faq"]);
    assert_eq!(
        state.bots,
        [("billing".to_string(), "invoice, payment".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keywords_without_their_service_say_which_service_they_need() {
    let bot = example("services").await;
    let na = |k: &str, service: &str| format!("not available: {k} needs {service}");
    let channel = "a messaging channel (SMS/WhatsApp)";
    let files = "the drive's file converters";
    assert_eq!(
        transcript(&bot, "unavailable.bas").await,
        [
            na("BOOK", "the calendar service"),
            na("TALK TO", channel),
            na("SEND TEMPLATE", channel),
            na("SEND TEMPLATE", channel),
            na("SEND SMS", channel),
            na("SEND MESSAGE", channel),
            na("SEND TO", channel),
            na("CREATE DRAFT", "the mail service's IMAP drafts"),
            na("GENERATE PDF", "the PDF service"),
            na("MERGE PDF", "the PDF service"),
            na("COMPRESS", files),
            na("EXTRACT", files),
            na("IMPORT", files),
            na("EXPORT", files),
            na("QR CODE", files),
            na("BOT SHARE MEMORY", "the multi-bot service"),
            na("ADD MEMBER", "the groups service"),
            na("POST TO", "a social network connector"),
            na("WAIT FOR EVENT", "the events service"),
            na("WEATHER", "a weather provider"),
            na("KB STATISTICS", "the knowledge-base service"),
            na("KB DOCUMENTS COUNT", "the knowledge-base service"),
            "PUBLISH EVENT: []".to_string(),
        ]
    );
}

/// A task list that records every task scripts create and numbers them `task-1`, …
#[derive(Default)]
struct TestDoubleTasks(Mutex<Vec<NewTask>>);

#[async_trait]
impl TaskList for TestDoubleTasks {
    async fn create(&self, task: NewTask) -> AppResult<String> {
        let mut tasks = self.0.lock().unwrap();
        tasks.push(task);
        Ok(format!("task-{}", tasks.len()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_task_hands_the_task_to_the_task_list_once_and_gives_its_id() {
    let src = "id = CREATE TASK \"Call Ana\", \"ana@example.com\", \"2026-12-01 09:30\", \"Sales\"\n\
               TALK \"created \" + id\n\
               CREATE TASK \"Send the invoice\", \"Bo\", DATEADD(\"2026-12-01\", 2, \"day\")\n\
               CREATE TASK \"Someday\", \"\", \"\"\n\
               HEAR answer\n\
               TALK \"noted: \" + answer\n\
               ON ERROR RESUME NEXT\n\
               CREATE TASK \"Bad\", \"Bo\", \"next week\"\n\
               TALK ERROR MESSAGE\n";
    let tasks = Arc::new(TestDoubleTasks::default());
    let db = backend();
    let state = state_on(&db).await;
    let mut services = Services::new(&state).unwrap();
    services.todos = tasks.clone();
    let dialogs = Arc::new(Dialogs::new(Arc::new(services)));
    let bot = Bot::install_on(dialogs, db, "planner", &[("start.bas", src)], &[]).await;
    assert_eq!(bot.start("s").await, ["created task-1"]);
    // The answer replays the script: the tasks before the HEAR are not created again.
    let said = bot.say("s", "thanks").await;
    assert_eq!(said[0], "noted: thanks");
    assert!(
        said[1].starts_with("CREATE TASK needs a due date (or empty), got") && said[1].contains("next week"),
        "{said:?}"
    );
    let ms = |d: &str| {
        chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    let task = |title: &str, assignee: Option<&str>, due: Option<i64>, project: Option<&str>| NewTask {
        bot: Some(bot.bot),
        created_by: "bot:planner".into(),
        title: title.into(),
        description: String::new(),
        assignee: assignee.map(str::to_string),
        due_ms: due,
        project: project.map(str::to_string),
    };
    assert_eq!(
        *tasks.0.lock().unwrap(),
        [
            task(
                "Call Ana",
                Some("ana@example.com"),
                Some(ms("2026-12-01 09:30")),
                Some("Sales")
            ),
            task("Send the invoice", Some("Bo"), Some(ms("2026-12-03 00:00")), None),
            task("Someday", None, None, None),
        ]
    );

    // Without the tasks domain on the server: a script error naming the service.
    let bot = Bot::new(
        "planner",
        &[("start.bas", "CREATE TASK \"x\", \"y\", \"\"\n")],
        &[],
    )
    .await;
    assert_eq!(bot.start("s").await, [SORRY]);
    let (status, result) = bot.result("s").await;
    assert_eq!(
        error_of(&status, &result.unwrap_or_default()),
        "start.bas:1: tasks is not configured on this server"
    );
}

// ---------------------------------------------------------------------------------------
// The broken bot: each mistake is a compile error naming the file, line and column.

#[tokio::test(flavor = "multi_thread")]
async fn broken_scripts_are_located_compile_errors_and_the_good_ones_still_run() {
    let pkg = load("broken");
    let mut errors: Vec<String> = pkg.errors.iter().map(|e| e.to_string()).collect();
    errors.sort();
    // (The EXIT message comes out all in capitals; compared without case.)
    errors[3] = errors[3].to_lowercase();
    assert_eq!(
        errors,
        [
            "bad_filter.bas:2:26: bad filter: expected a value after '=' (at character 8)",
            "bad_param.bas:2:1: expected a type for PARAM color: STRING, TEXT, INTEGER, NUMBER, BOOLEAN, DATE, \
             EMAIL, PHONE, ARRAY or OBJECT",
            "bad_schedule.bas:1:1: SET SCHEDULE \"0 2 * *\": a cron expression has 5 or 6 fields, this has 4",
            "exit_outside.bas:2:1: exit for outside a for loop",
            "unclosed_if.bas:2:1: IF is not closed: expected ELSEIF or ELSE IF or ELSE or END IF",
            "unclosed_string.bas:1:6: string is not closed: expected `\"` before the end of the line",
            "unknown_function.bas:1:5: unknown function FROBNICATE",
            "unknown_keyword.bas:3:1: unknown keyword PUBLISH",
            "wrong_arity.bas:1:5: LEFT takes 2 argument(s), 1 given",
        ]
    );
    assert_eq!(pkg.programs.keys().collect::<Vec<_>>(), ["start.bas"]);

    let db = backend();
    let state = state_on(&db).await;
    let dialogs = Dialogs::new(Arc::new(Services::new(&state).unwrap()));
    let bot = dialogs.install(pkg).await.unwrap();
    let info = SessionInfo {
        bot_id: bot,
        bot_name: "broken".into(),
        session_id: "b".into(),
        user_id: "u".into(),
        user_name: String::new(),
        user_email: String::new(),
        user_phone: String::new(),
        channel: "test".into(),
        language: "en".into(),
    };
    let out = dialogs.turn(info.clone(), None).await.unwrap();
    assert_eq!(out.messages[0].content, "still works");
    let e = dialogs
        .turn_in(
            "unknown_keyword.bas",
            SessionInfo {
                session_id: "c".into(),
                ..info
            },
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bot broken has no unknown_keyword.bas that compiles"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Engine bugs found while writing the examples: each test holds the minimal script and
// the behaviour the spec asks for, and is ignored until the engine is fixed.

/// A one-script bot.
async fn one(src: &str) -> Bot {
    Bot::new("bug", &[("start.bas", src)], &[]).await
}

/// Compile errors of a one-script package.
fn compile_errors(src: &str) -> Vec<String> {
    let pkg = Package::from_sources(
        "bug",
        [("start.bas".to_string(), src.to_string())].into(),
        Default::default(),
    );
    pkg.errors.iter().map(|e| e.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn library_functions_named_like_keywords_can_be_called_in_an_assignment() {
    let src = "parts = [\"a\", \"b\"]\ns = JOIN(parts, \"-\")\nb = SORT([3, 1, 2], \"desc\")\n\
               t = AGGREGATE(\"SUM\", [{ \"n\": 2 }, { \"n\": 3 }], \"n\")\nTALK s + \" \" + JOIN(b, \",\") + \" \" + t\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    assert_eq!(one(src).await.start("s").await, ["a-b 3,2,1 5"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_mod_can_be_called_as_a_function() {
    let src = "TALK MOD(17, 5)\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    assert_eq!(one(src).await.start("s").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_kb_statistics_take_their_spec_form_with_parentheses() {
    let src = "ON ERROR RESUME NEXT\ns = KB STATISTICS()\nTALK ERROR MESSAGE\nn = KB DOCUMENTS COUNT()\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    assert_eq!(
        one(src).await.start("s").await,
        ["not available: KB STATISTICS needs the knowledge-base service"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_post_to_takes_its_spec_form() {
    let src = "img = \"photo.png\"\nPOST TO \"instagram\" img, \"New books\"\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    let bot = one(src).await;
    bot.start("s").await;
    let (status, result) = bot.result("s").await;
    assert_eq!(
        error_of(&status, &result.unwrap()),
        "start.bas:2: not available: POST TO needs a social network connector"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_a_keyword_may_take_an_array_literal_as_its_first_argument() {
    let src = "ON ERROR RESUME NEXT\nCOMPRESS [\"a.txt\"], \"a.zip\"\nTALK ERROR MESSAGE\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    assert_eq!(
        one(src).await.start("s").await,
        ["not available: COMPRESS needs the drive's file converters"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_begin_talk_lines_may_call_functions_with_text_arguments() {
    let src = "d = \"2026-03-05\"\nBEGIN TALK\nDate: ${FORMAT(d, \"DD/MM\")}\nEND TALK\n";
    assert_eq!(compile_errors(src), Vec::<String>::new());
    assert_eq!(one(src).await.start("s").await, ["Date: 05/03"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_find_called_as_a_function_binds_interpolated_values() {
    let src = r#"SAVE "people", { "id": "1", "name": "Ana" }
SAVE "people", { "id": "2", "name": "Bo" }
evil = "x' OR name <> 'y"
hits = FIND "people", "name = '${evil}'"
TALK LEN(hits) + " " + LEN(FIND("people", "name = '${evil}'"))
"#;
    assert_eq!(one(src).await.start("s").await, ["0 0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_throw_is_trapped_by_on_error_resume_next() {
    let src = "ON ERROR RESUME NEXT\nTHROW \"bad input\"\nTALK \"trapped: \" + ERROR MESSAGE\n";
    let bot = one(src).await;
    assert_eq!(bot.start("s").await, ["trapped: bad input"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_positional_save_uses_the_table_column_order() {
    let tables = "TABLE items\n  sku string key\n  qty integer\nEND TABLE\n";
    let src = "SAVE \"items\", \"A1\", 5\nTALK FIRST(FIND(\"items\")).qty\n";
    let bot = Bot::new("bug", &[("tables.bas", tables), ("start.bas", src)], &[]).await;
    assert_eq!(bot.start("s").await, ["5"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_format_pads_with_the_zeros_of_its_pattern() {
    let bot = one("TALK FORMAT(7, \"000\") + \" \" + FORMAT(42.5, \"0000.0\")\n").await;
    assert_eq!(bot.start("s").await, ["007 0042.5"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_a_message_after_the_script_ended_gets_a_clear_answer_without_an_llm() {
    let bot = one("TALK \"hello\"\n").await;
    assert_eq!(bot.start("s").await, ["hello"]);
    let said = bot.say("s", "what are your opening hours?").await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("can't answer"), "{said:?}");
}

/// A bot named `name` running `src`, with the in-memory drive test double and the
/// loopback API server as its `api` parameter.
async fn bot_with_drive_and_api(name: &str, src: &str) -> (Bot, Fakes) {
    let (api, _) = api_server().await;
    let fakes = Fakes::default();
    let db = backend();
    let state = state_on(&db).await;
    let mut services = Services::new(&state).unwrap();
    services.objects = fakes.drive.clone();
    let dialogs = Arc::new(Dialogs::new(Arc::new(services)));
    let bot = Bot::install_on(
        dialogs,
        db,
        name,
        &[("start.bas", src)],
        &[("http-allow-private", "true"), ("param-api", &api)],
    )
    .await;
    (bot, fakes)
}

#[tokio::test(flavor = "multi_thread")]
async fn bug_download_fetches_a_url_into_the_drive() {
    let src = "DOWNLOAD api + \"/text\", \"inbox/hello.txt\"\nTALK READ(\"inbox/hello.txt\")\n";
    let (bot, _) = bot_with_drive_and_api("bug", src).await;
    assert_eq!(bot.start("s").await, ["hello world"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn download_keeps_binary_files_byte_for_byte() {
    let src = "DOWNLOAD api + \"/binary\", \"inbox/blob.bin\"\nTALK \"ok\"\n";
    let (bot, fakes) = bot_with_drive_and_api("blob", src).await;
    assert_eq!(bot.start("s").await, ["ok"]);
    let key = format!("bots/{}/drive/inbox/blob.bin", botlib::BotId::for_name("blob"));
    let stored = fakes
        .drive
        .0
        .lock()
        .unwrap()
        .get(&key)
        .cloned()
        .expect("downloaded");
    assert_eq!(stored.as_ref(), &[0u8, 159, 146, 150, 255, b'P', b'K']);
}
