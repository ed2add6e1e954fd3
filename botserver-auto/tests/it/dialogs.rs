//! Conversations end to end: scripts compiled, run, parked at HEAR in the database and
//! resumed by replay, transcripts checked.

use crate::support::Bot;

#[tokio::test(flavor = "multi_thread")]
async fn menu_bot_talks_hears_and_branches() {
    let bot = Bot::new(
        "menu",
        &[(
            "start.bas",
            r#"user = GET SESSION "user_name"
TALK "Hello, ${user}!"
HEAR choice AS "Sales", "Support" WITH "What do you need?"
SELECT CASE choice
  CASE "Sales"
    TALK "Sales it is."
  CASE "Support"
    TALK "Opening a ticket."
END SELECT
RETURN choice
"#,
        )],
        &[],
    )
    .await;
    assert_eq!(bot.start("s1").await, ["Hello, Ana!", "What do you need?"]);
    assert_eq!(bot.say("s1", "2").await, ["Opening a ticket."]);
    let (status, result) = bot.result("s1").await;
    assert_eq!(status, "done");
    assert_eq!(result, Some(serde_json::json!("Support")));
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_hear_reasks_converts_and_gives_up_after_three_tries() {
    let bot = Bot::new(
        "form",
        &[(
            "start.bas",
            r#"HEAR age AS INTEGER WITH "How old are you?"
HEAR email AS EMAIL WITH "Your e-mail?"
HEAR ok AS BOOLEAN WITH "Confirm?"
IF ok THEN
  TALK "Saved: " + age + " / " + email + " next year " + (age + 1)
END IF
"#,
        )],
        &[],
    )
    .await;
    assert_eq!(bot.start("f").await, ["How old are you?"]);
    assert_eq!(
        bot.say("f", "old").await,
        ["Please answer with a whole number (for example 42)."]
    );
    assert_eq!(bot.say("f", "41").await, ["Your e-mail?"]);
    assert_eq!(bot.say("f", "Ana@Example.COM").await, ["Confirm?"]);
    assert_eq!(
        bot.say("f", "sim").await,
        ["Saved: 41 / ana@example.com next year 42"]
    );

    assert_eq!(bot.start("g").await, ["How old are you?"]);
    // Three invalid answers are re-asked; the fourth fails the HEAR.
    for bad in ["x", "y", "z"] {
        assert_eq!(
            bot.say("g", bad).await,
            ["Please answer with a whole number (for example 42)."]
        );
    }
    let last = bot.say("g", "w").await;
    assert_eq!(last, [botserver_auto::dialog::SORRY]);
    let (status, result) = bot.result("g").await;
    assert_eq!(status, "error");
    let err = result.unwrap()["error"].as_str().unwrap().to_string();
    assert!(err.starts_with("start.bas:1:"), "{err}");
    assert!(err.contains("no valid answer after 3 tries"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hear_in_loops_subs_and_called_scripts_resumes_with_the_same_variables() {
    let bot = Bot::new(
        "loops",
        &[
            (
                "start.bas",
                r#"total = 0
FOR i = 1 TO 3
  HEAR n AS NUMBER WITH "Number " + i + "?"
  total = total + n
NEXT
CALL AskName
names = []
DO
  HEAR more AS "yes", "no" WITH "Another?"
  IF more = "no" THEN EXIT DO
  names = PUSH(names, "x")
LOOP
who = ""
CALL "greet.bas", name
TALK "Total " + total + ", " + name + ", extra " + LEN(names) + ", " + who
SUB AskName
  HEAR name AS NAME WITH "Your name?"
END SUB
"#,
            ),
            (
                "greet.bas",
                r#"PARAM person AS STRING
DESCRIPTION "Greets someone"
HEAR mood WITH "How are you, " + person + "?"
TALK "Glad you are " + mood
RETURN mood
"#,
            ),
        ],
        &[],
    )
    .await;
    assert_eq!(bot.start("l").await, ["Number 1?"]);
    assert_eq!(bot.say("l", "1.5").await, ["Number 2?"]);
    assert_eq!(bot.say("l", "2").await, ["Number 3?"]);
    assert_eq!(bot.say("l", "3").await, ["Your name?"]);
    assert_eq!(bot.say("l", "ana maria").await, ["Another?"]);
    assert_eq!(bot.say("l", "yes").await, ["Another?"]);
    assert_eq!(bot.say("l", "no").await, ["How are you, Ana Maria?"]);
    assert_eq!(
        bot.say("l", "fine").await,
        ["Glad you are fine", "Total 6.5, Ana Maria, extra 1, "]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_script_does_not_disturb_waiting_conversations() {
    let v1 = r#"HEAR a WITH "v1 asks"
TALK "v1 got " + a
"#;
    let v2 = r#"TALK "v2 greets"
HEAR a WITH "v2 asks"
TALK "v2 got " + a
"#;
    let bot = Bot::new("edit", &[("start.bas", v1)], &[]).await;
    assert_eq!(bot.start("old").await, ["v1 asks"]);
    let pkg = botserver_auto::package::Package::from_sources(
        "edit",
        [("start.bas".to_string(), v2.to_string())].into(),
        Default::default(),
    );
    bot.dialogs.install(pkg).await.unwrap();
    assert_eq!(
        bot.say("old", "hi").await,
        ["v1 got hi"],
        "finishes on the version it started"
    );
    assert_eq!(bot.start("new").await, ["v2 greets", "v2 asks"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn runaway_scripts_stop_with_a_polite_message() {
    let bot = Bot::new(
        "runaway",
        &[
            ("start.bas", "TALK \"before\"\nDO\n  x = x + 1\nLOOP\n"),
            (
                "deep.bas",
                "FUNCTION f(n)\n  RETURN f(n + 1)\nEND FUNCTION\nTALK f(1)\n",
            ),
            ("big.bas", "s = \"x\"\nDO\n  s = s & s\nLOOP\n"),
        ],
        &[("limit-operations", "200000")],
    )
    .await;
    assert_eq!(bot.start("r").await, ["before", botserver_auto::dialog::SORRY]);
    let (status, result) = bot.result("r").await;
    assert_eq!(status, "error");
    let r = result.unwrap();
    assert_eq!(r["limit"], true);
    assert!(r["error"].as_str().unwrap().contains("operations"), "{r}");
}

/// Runs `src` as start.bas of a fresh bot with `config`; returns (transcript, result).
async fn outcome_of(src: &str, config: &[(&str, &str)]) -> (Vec<String>, serde_json::Value) {
    let bot = Bot::new("hostile", &[("start.bas", src)], config).await;
    let said = bot.start("h").await;
    let (status, result) = bot.result("h").await;
    assert_eq!(status, "error", "{said:?} {result:?}");
    (said, result.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_scripts_stop_with_typed_errors_within_budget() {
    // Wall clock: an endless loop with a huge operation budget ends at the time budget.
    let bot = Bot::new(
        "hostile",
        &[("start.bas", "DO\n  x = x + 1\nLOOP\n")],
        &[("limit-wall-ms", "300"), ("limit-operations", "200000000")],
    )
    .await;
    // Timed without the set-up (a fresh database), which varies with the machine's load.
    let started = std::time::Instant::now();
    let said = bot.start("h").await;
    let took = started.elapsed();
    let (_, r) = bot.result("h").await;
    let r = r.unwrap();
    assert_eq!(said, [botserver_auto::dialog::SORRY]);
    assert_eq!(r["limit"], true);
    assert!(r["error"].as_str().unwrap().contains("longer than 300 ms"), "{r}");
    assert!(
        took < std::time::Duration::from_millis(330 + 300),
        "took {took:?} (budget 300 ms + 10%, plus saving the turn)"
    );

    // Deep recursion.
    let (_, r) = outcome_of("FUNCTION f(n)\n  RETURN f(n + 1)\nEND FUNCTION\nx = f(1)\n", &[]).await;
    assert_eq!(r["limit"], true);
    assert!(r["error"].as_str().unwrap().contains("nest deeper"), "{r}");

    // Huge strings.
    let (_, r) = outcome_of(
        "s = \"x\"\nDO\n  s = s & s\nLOOP\n",
        &[("limit-string-bytes", "100000")],
    )
    .await;
    assert_eq!(r["limit"], true, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("larger than this bot allows"),
        "{r}"
    );

    // Huge arrays.
    let (_, r) = outcome_of(
        "a = []\nDO\n  a = PUSH(a, 1)\nLOOP\n",
        &[("limit-array-len", "1000")],
    )
    .await;
    assert_eq!(r["limit"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_private_addresses_is_refused_with_the_line() {
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://localhost:9/",
        "http://[::1]:9/",
    ] {
        let (said, r) = outcome_of(&format!("TALK \"hi\"\nr = GET \"{url}\"\nTALK r\n"), &[]).await;
        assert_eq!(said, ["hi", botserver_auto::dialog::SORRY]);
        let e = r["error"].as_str().unwrap();
        assert!(e.starts_with("start.bas:2:"), "{e}");
        assert!(e.contains("refused"), "{e}");
        assert_eq!(r["limit"], false);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_validate_arguments_and_return_their_value_and_messages() {
    let bot = Bot::new(
        "tools",
        &[
            (
                "order.bas",
                r#"PARAM item AS STRING DESCRIPTION "What to order"
PARAM qty AS INTEGER LIKE "2"
PARAM gift AS BOOLEAN OPTIONAL
DESCRIPTION "Orders an item"
TALK "Ordering " + qty + " x " + item
IF gift THEN TALK "Gift wrapped"
RETURN { "item": item, "total": qty * 10 }
"#,
            ),
            ("start.bas", "ADD TOOL \"order\"\nTALK \"ready\"\n"),
        ],
        &[],
    )
    .await;
    let run = bot
        .dialogs
        .run_tool(
            bot.info("t"),
            "order",
            &serde_json::json!({"item": "pen", "qty": "3", "gift": "sim"}),
        )
        .await
        .unwrap();
    assert_eq!(run.messages, ["Ordering 3 x pen", "Gift wrapped"]);
    assert_eq!(run.result, serde_json::json!({"item": "pen", "total": 30}));
    let err = bot
        .dialogs
        .run_tool(
            bot.info("t"),
            "order",
            &serde_json::json!({"item": "pen", "qty": "many"}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("qty"), "{err}");
    assert_eq!(bot.start("s").await, ["ready"]);
    let state = bot.dialogs.session_state("s").await.unwrap().unwrap();
    assert_eq!(state.tools, ["order"]);
}

#[test]
fn compile_errors_name_file_line_and_what_was_expected() {
    let cases = [
        (
            "TALK \"a\"\nPUBLISH x\n",
            "start.bas:2:1: unknown keyword PUBLISH",
        ),
        ("x = FOO(1)\n", "start.bas:1:5: unknown function FOO"),
        ("CALL nowhere\n", "start.bas:1:1: unknown SUB or FUNCTION NOWHERE"),
        ("EXIT FOR\n", "start.bas:1:1: EXIT FOR OUTSIDE A FOR LOOP"),
        ("HEAR x AS COLOUR\n", "start.bas:1:11: unknown HEAR type COLOUR"),
        ("rows = FIND \"t\", \"name = \"\n", "start.bas:1:"),
        (
            "SET SCHEDULE \"* *\"\n",
            "start.bas:1:1: SET SCHEDULE \"* *\": a cron expression has 5 or 6 fields",
        ),
    ];
    for (src, want) in cases {
        let e = botserver_auto::compile::compile("start.bas", src)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "{src:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_nesting_and_growth_stop_cleanly() {
    // Deeply nested arrays, a filter nested past its limit, a huge JOIN and REPLACE, a
    // loop of PRINT and of TALK: each ends the turn with an error; the process survives.
    for (src, want) in [
        ("a = []\nFOR i = 1 TO 100000\n  a = [a]\nNEXT\nTALK LEN(a)\n", ""),
        (
            "f = \"(\"\nFOR i = 1 TO 12\n  f = f & f\nNEXT\ng = f & \"a = 1\"\nr = FIND \"t\", g\n",
            "nests deeper",
        ),
        (
            "s = \"x\"\nFOR i = 1 TO 16\n  s = s & s\nNEXT\na = SPLIT(LEFT(s, 60000), \"\")\nt = JOIN(a, s)\n",
            "larger than this bot allows",
        ),
        (
            "s = \"x\"\nFOR i = 1 TO 16\n  s = s & s\nNEXT\nu = REPLACE(s, \"x\", s)\n",
            "larger than this bot allows",
        ),
        (
            "s = \"x\"\nFOR i = 1 TO 19\n  s = s & s\nNEXT\nDO\n  TALK s\nLOOP\n",
            "larger than this bot allows",
        ),
        (
            "DO\n  SET CONTEXT \"k\" + RND(), \"v\"\nLOOP\n",
            "at most 200 contexts",
        ),
        ("x = DATEADD(TODAY(), 200000000000, \"day\")\n", "out of range"),
        ("x = -9223372036854775807 - 1\nTALK x / -1\n", ""),
    ] {
        let bot = Bot::new("nest", &[("start.bas", src)], &[]).await;
        let said = bot.start("n").await;
        let (status, result) = bot.result("n").await;
        if want.is_empty() {
            // Either outcome is fine as long as the server is intact and answered.
            assert!(status == "done" || status == "error", "{src}: {status} {said:?}");
        } else {
            assert_eq!(status, "error", "{src}: {said:?}");
            let e = result.unwrap()["error"].as_str().unwrap().to_string();
            assert!(e.contains(want), "{src}: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_joined_with_values_bind_them() {
    let src = r#"SAVE "people", { "id": "1", "cpf": "111" }
SAVE "people", { "id": "2", "cpf": "222" }
cpf = "x OR cpf <> x"
a = FIND "people", "cpf = " & cpf
b = FIND "people", "cpf = " + "111"
c = FIND "people", "cpf = '" & "222" & "'"
TALK LEN(a) + " " + LEN(b) + " " + LEN(c)
"#;
    let bot = Bot::new("bind", &[("start.bas", src)], &[]).await;
    assert_eq!(bot.start("s").await, ["0 1 1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_belongs_to_its_user_and_bot() {
    let bot = Bot::new(
        "owned",
        &[("start.bas", "HEAR x WITH \"secret?\"\nTALK \"got \" + x\n")],
        &[],
    )
    .await;
    assert_eq!(bot.start("shared-id").await, ["secret?"]);
    let mut intruder = bot.info("shared-id");
    intruder.user_id = "someone-else".into();
    let err = bot.dialogs.turn(intruder, Some("hi".into())).await.unwrap_err();
    assert!(matches!(err, botlib::AppError::NotFound), "{err:?}");
    let mut other_bot = bot.info("shared-id");
    other_bot.bot_id = botlib::BotId::for_name("another");
    assert!(bot.dialogs.turn(other_bot, Some("hi".into())).await.is_err());
    // Starting again says nothing new; the owner still continues.
    assert!(bot.start("shared-id").await.is_empty());
    assert_eq!(bot.say("shared-id", "mine").await, ["got mine"]);
}

#[test]
fn long_if_and_select_chains_compile() {
    let mut src = String::from("x = 250\nSELECT CASE x\n");
    for i in 0..300 {
        src.push_str(&format!("  CASE {i}\n    y = {i}\n"));
    }
    src.push_str("END SELECT\nIF x = 0 THEN\n  y = 0\n");
    for i in 1..300 {
        src.push_str(&format!("ELSEIF x = {i} THEN\n  y = {i}\n"));
    }
    src.push_str("END IF\n");
    botserver_auto::runtime::compile_uncached("long.bas", &src).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_asked_again_with_its_input_id_answers_the_same_without_running_again() {
    use botstate::services::{DialogEngine, TurnInput};
    let bot = Bot::new(
        "memo",
        &[(
            "start.bas",
            "n = 0\nDO\n  HEAR x\n  n = n + 1\n  TALK \"turn \" + n + \" \" + x\nLOOP\n",
        )],
        &[],
    )
    .await;
    let (session, user) = (botlib::SessionId::new_random(), botlib::UserId::new_random());
    let input = |m: Option<&str>, id: &str| {
        let mut i = TurnInput::new(bot.bot, session, user, m.map(str::to_string));
        i.input_id = Some(id.into());
        i
    };
    let said = |o: botstate::services::TurnOutput| -> Vec<String> {
        o.messages.into_iter().map(|m| m.content).collect()
    };
    bot.dialogs.run_turn(input(None, "start")).await.unwrap();
    assert_eq!(
        said(bot.dialogs.run_turn(input(Some("a"), "1")).await.unwrap()),
        ["turn 1 a"]
    );
    // A retry (the caller crashed before storing the answer): the same answer, no second run.
    assert_eq!(
        said(bot.dialogs.run_turn(input(Some("a"), "1")).await.unwrap()),
        ["turn 1 a"]
    );
    assert_eq!(
        said(bot.dialogs.run_turn(input(Some("b"), "2")).await.unwrap()),
        ["turn 2 b"]
    );
    // Without a key the same message is a new turn.
    let mut plain = input(Some("b"), "x");
    plain.input_id = None;
    assert_eq!(said(bot.dialogs.run_turn(plain).await.unwrap()), ["turn 3 b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_write_commits_with_the_turn_and_its_failure_undoes_the_turn() {
    use botstate::services::{CommitWith, DialogEngine, TurnInput};
    use botstate::{Bind, FixedSql};
    use diesel::RunQueryDsl;
    use std::sync::{Arc, Mutex};
    let bot = Bot::new("hooked", &[("start.bas", "HEAR x\nTALK \"got \" + x\n")], &[]).await;
    let db = bot.dialogs.services().db.clone();
    let (session, user) = (botlib::SessionId::new_random(), botlib::UserId::new_random());
    // The caller's write: a row named after the turn's answer, and what it was given.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = |fail: bool| {
        let seen = seen.clone();
        CommitWith(Arc::new(move |c, out| {
            let said = out
                .messages
                .iter()
                .map(|m| m.content.clone())
                .collect::<Vec<_>>()
                .join("|");
            FixedSql::new(
                &[
                    "INSERT INTO dialog_scripts (hash, file, source, created_at) VALUES (",
                    ", 'hook', '', 0)",
                ],
                &[Bind::Text(&said)],
            )
            .execute(c)?;
            seen.lock().unwrap().push(said);
            if fail {
                return Err(botlib::AppError::BadRequest("the caller's write failed".into()).into());
            }
            Ok(())
        }))
    };
    let input = |m: Option<&str>, id: &str, fail: bool| {
        let mut i = TurnInput::new(bot.bot, session, user, m.map(str::to_string));
        i.input_id = Some(id.into());
        i.commit_with = Some(hook(fail));
        i
    };
    let kept = || {
        let db = db.clone();
        async move {
            db.run(|c| {
                Ok(
                    diesel::sql_query("SELECT hash AS name FROM dialog_scripts WHERE file = 'hook'")
                        .load::<Named>(c)?
                        .into_iter()
                        .map(|n| n.name)
                        .collect::<Vec<String>>(),
                )
            })
            .await
            .unwrap()
        }
    };
    #[derive(diesel::QueryableByName)]
    struct Named {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut start = input(None, "start", false);
    start.commit_with = None;
    bot.dialogs.run_turn(start).await.unwrap();
    // The caller's write fails: the whole turn is undone, the dialog did not move on.
    assert!(bot.dialogs.run_turn(input(Some("a"), "1", true)).await.is_err());
    assert_eq!(*seen.lock().unwrap(), ["got a"]);
    assert!(kept().await.is_empty(), "nothing of the failed write is kept");
    // The same turn again: it runs as if for the first time, and both writes commit.
    let out = bot.dialogs.run_turn(input(Some("a"), "1", false)).await.unwrap();
    assert_eq!(out.messages[0].content, "got a");
    assert_eq!(kept().await, ["got a"]);
    // The caller's write recorded the answer, so the engine kept no memo of this input
    // (one row less written per turn): the memo still holds the start's.
    let memo = {
        let db = db.clone();
        db.run(|c| {
            Ok(diesel::sql_query("SELECT input_id AS name FROM dialog_replies")
                .load::<Named>(c)?
                .into_iter()
                .map(|n| n.name)
                .collect::<Vec<String>>())
        })
        .await
        .unwrap()
    };
    assert_eq!(memo, ["start"]);
    assert_eq!(seen.lock().unwrap().len(), 2);
    // Free text handed back to the caller (the script has ended) is not final: no hook.
    let mut free = input(Some("b"), "2", false);
    free.delegate_free_text = true;
    let out = bot.dialogs.run_turn(free).await.unwrap();
    assert_eq!(out.free_text.expect("handed back").message, "b");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(kept().await, ["got a"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn free_text_is_handed_back_with_the_prompt_when_the_caller_asks() {
    use botstate::services::{DialogEngine, TurnInput};
    let bot = Bot::new(
        "free",
        &[(
            "start.bas",
            "BEGIN SYSTEM PROMPT\nYou are terse.\nEND SYSTEM PROMPT\nSET CONTEXT \"shop\" AS \"Open 9-5\"\nTALK \"hi\"\n",
        )],
        &[],
    )
    .await;
    let (session, user) = (botlib::SessionId::new_random(), botlib::UserId::new_random());
    let start = bot
        .dialogs
        .run_turn(TurnInput::new(bot.bot, session, user, None))
        .await
        .unwrap();
    assert_eq!(start.messages[0].content, "hi");
    let mut ask = TurnInput::new(bot.bot, session, user, Some("when do you open?".into()));
    ask.delegate_free_text = true;
    let out = bot.dialogs.run_turn(ask).await.unwrap();
    assert!(out.messages.is_empty());
    let ft = out.free_text.expect("handed back");
    assert_eq!(ft.message, "when do you open?");
    assert!(
        ft.system_prompt.contains("You are terse.") && ft.system_prompt.contains("Open 9-5"),
        "{}",
        ft.system_prompt
    );
    // Not asked to: the engine answers itself (no model here: the clear fallback).
    let out = bot
        .dialogs
        .run_turn(TurnInput::new(bot.bot, session, user, Some("when?".into())))
        .await
        .unwrap();
    assert_eq!(out.messages[0].content, botserver_auto::dialog::CANNOT_ANSWER);
    // Its profile: what the chat page may show, nothing else.
    let profile = bot.dialogs.bots().into_iter().find(|b| b.name == "free").unwrap();
    assert!(profile.has_start);
    assert_eq!(profile.history_limit, 10);
}
