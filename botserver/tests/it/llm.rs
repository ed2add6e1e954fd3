//! Bots answering with a language model, through the WebSocket as a web client sees it:
//! - with the scripted model server (a TEST DOUBLE from botserver-llm): a bot whose
//!   start.bas offers a tool answers by calling it (the tool's TALK and the model's second
//!   turn streamed as one answer; the transcript shows the tool call, the tool result sent
//!   back, and the second turn); malformed tool arguments go back to the model as an
//!   error; a model that keeps calling tools is stopped at the round cap;
//! - with a real small model (`BOT_TEST_LLM_URL`): a streamed answer, usage in
//!   `/metrics`, and the `LLM` keyword in a script.

use crate::process::Server;
use botserver_llm::double::{ScriptedModelServer, Step};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const FORECAST: &str = r#"PARAM city AS STRING LIKE "Rio" DESCRIPTION "The city"
DESCRIPTION "The weather forecast for a city"
TALK "Checking the forecast for " + city + "..."
RETURN "31C and sunny in " + city
"#;

fn write_bot(root: &Path, name: &str, files: &[(&str, &str)], config: &str) {
    let pkg = root.join(format!("botserver-data/bots/{name}.gbai"));
    let dialog = pkg.join(format!("{name}.gbdialog"));
    std::fs::create_dir_all(&dialog).unwrap();
    for (f, src) in files {
        std::fs::write(dialog.join(f), src).unwrap();
    }
    let gbot = pkg.join(format!("{name}.gbot"));
    std::fs::create_dir_all(&gbot).unwrap();
    std::fs::write(gbot.join("config.csv"), format!("name,value\n{config}")).unwrap();
}

async fn connect(addr: SocketAddr, bot: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?bot_name={bot}"))
        .await
        .expect("connects");
    let hello = next(&mut ws).await.expect("connected frame");
    assert_eq!(hello["type"], "connected", "{hello}");
    ws
}

async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next complete bot message: its streamed pieces (if any) and its final content.
async fn answer(ws: &mut Ws) -> (Vec<String>, String) {
    let mut pieces = Vec::new();
    while let Some(f) = next(ws).await {
        if f["message_type"] != 2 {
            continue;
        }
        let content = f["content"].as_str().unwrap_or_default().to_string();
        if f["is_complete"] == true {
            return (pieces, content);
        }
        pieces.push(content);
    }
    panic!("the socket ended before a complete answer");
}

async fn say(ws: &mut Ws, text: &str) {
    let frame = json!({"content": text, "message_type": 1});
    ws.send(Message::Text(frame.to_string().into())).await.unwrap();
}

fn start(dir: &Path, url: &str) -> Server {
    std::fs::write(
        dir.join("botserver.toml"),
        "[server.rate_limit]\nper_second = 0\n",
    )
    .unwrap();
    Server::start(
        dir,
        &[
            ("LLM_URL", url.to_string()),
            ("LLM_MODEL", "scripted-model".to_string()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_answers_by_calling_its_tool_and_using_the_result() {
    let model = ScriptedModelServer::start(vec![
        Step::Tool {
            name: "forecast".into(),
            arguments: r#"{"city":"Rio"}"#.into(),
        },
        Step::Text("It is 31C and sunny in Rio.".into()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_bot(
        dir.path(),
        "weather",
        &[
            (
                "start.bas",
                "ADD TOOL \"forecast\"\nTALK \"Ask me about the weather.\"\n",
            ),
            ("forecast.bas", FORECAST),
        ],
        "bot-name,Weather\n",
    );
    let server = start(dir.path(), &model.url());
    let mut ws = connect(server.addr, "weather").await;
    assert_eq!(answer(&mut ws).await.1, "Ask me about the weather.");
    say(&mut ws, "What's the weather in Rio?").await;
    let (pieces, _) = answer(&mut ws).await;
    let text = pieces.concat();
    assert_eq!(
        text, "Checking the forecast for Rio...\n\nIt is 31C and sunny in Rio.",
        "{pieces:?}"
    );

    let t = model.requests();
    assert_eq!(t.len(), 2, "{t:#?}");
    assert_eq!(t[0]["tools"][0]["function"]["name"], "forecast");
    assert_eq!(
        t[0]["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    let second = t[1]["messages"].as_array().unwrap();
    let call = second
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .expect("the call");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "forecast");
    let result = second
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result");
    assert_eq!(result["tool_call_id"], "call_1");
    assert_eq!(result["content"], "31C and sunny in Rio");

    // Malformed arguments reach the model as an error it can act on; nothing runs.
    model.set_script(vec![
        Step::Tool {
            name: "forecast".into(),
            arguments: "{city: Rio".into(),
        },
        Step::Text("Which city, exactly?".into()),
    ]);
    say(&mut ws, "And tomorrow?").await;
    let (pieces, _) = answer(&mut ws).await;
    assert_eq!(pieces.concat(), "Which city, exactly?");
    let t = model.requests();
    let last = t.last().unwrap()["messages"].as_array().unwrap().clone();
    let result = last.iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert!(
        result["content"].as_str().unwrap().starts_with("error:"),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_never_stops_calling_tools_is_capped() {
    let model = ScriptedModelServer::start(vec![Step::Tool {
        name: "forecast".into(),
        arguments: r#"{"city":"Rio"}"#.into(),
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_bot(
        dir.path(),
        "loop",
        &[
            ("start.bas", "ADD TOOL \"forecast\"\nTALK \"Hi.\"\n"),
            ("forecast.bas", FORECAST),
        ],
        "llm-max-tool-rounds,2\n",
    );
    let server = start(dir.path(), &model.url());
    let mut ws = connect(server.addr, "loop").await;
    answer(&mut ws).await;
    say(&mut ws, "weather?").await;
    let (pieces, _) = answer(&mut ws).await;
    let text = pieces.concat();
    assert!(text.ends_with(botserver_chat::answer::TOO_MANY_STEPS), "{text}");
    assert_eq!(model.requests().len(), 3, "the first round and two more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_answers_over_the_socket_and_through_the_llm_keyword() {
    let Some(url) = botstate::testing::service_url("BOT_TEST_LLM_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_bot(
        dir.path(),
        "free",
        &[],
        "llm-max-tokens,24\nllm-temperature,0\nwelcome-message,Hello!\n",
    );
    write_bot(
        dir.path(),
        "keyword",
        &[("start.bas", "x = LLM \"Say hello.\"\nTALK \"Model says: \" + x\n")],
        "llm-max-tokens,16\nllm-temperature,0\n",
    );
    std::fs::write(
        dir.path().join("botserver.toml"),
        "[server.rate_limit]\nper_second = 0\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &[("LLM_URL", url)]);
    let mut ws = connect(server.addr, "free").await;
    assert_eq!(answer(&mut ws).await.1, "Hello!");
    say(&mut ws, "Say hello.").await;
    let (pieces, _) = answer(&mut ws).await;
    assert!(pieces.len() > 1, "streamed: {pieces:?}");
    assert!(!pieces.concat().trim().is_empty());

    let mut ws = connect(server.addr, "keyword").await;
    let (_, welcome) = answer(&mut ws).await;
    assert!(
        welcome.starts_with("Model says: ") && welcome.len() > "Model says: ".len(),
        "{welcome}"
    );

    let (_, metrics) = server.get("/metrics");
    let ok_calls: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("botserver_llm_requests_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(ok_calls >= 2, "{metrics}");
    assert!(
        metrics.contains("botserver_llm_completion_tokens_total"),
        "usage counted"
    );
}

/// The suggestions of a final frame, as texts.
async fn answer_with_suggestions(ws: &mut Ws) -> (String, Vec<String>) {
    let mut pieces = String::new();
    while let Some(f) = next(ws).await {
        if f["message_type"] != 2 {
            continue;
        }
        if f["is_complete"] == true {
            let content = f["content"].as_str().unwrap_or_default();
            let text = if content.is_empty() {
                pieces
            } else {
                content.to_string()
            };
            let suggestions = f["suggestions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["text"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            return (text, suggestions);
        }
        pieces.push_str(f["content"].as_str().unwrap_or_default());
    }
    panic!("the socket ended before a complete answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_tool_waits_for_yes_and_an_exhausted_budget_is_refused_politely() {
    let model = ScriptedModelServer::start(vec![Step::Tool {
        name: "forecast".into(),
        arguments: r#"{"city":"Rio"}"#.into(),
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_bot(
        dir.path(),
        "careful",
        &[
            ("start.bas", "ADD TOOL \"forecast\"\nTALK \"Hi.\"\n"),
            ("forecast.bas", FORECAST),
        ],
        "confirm-tools,forecast\n",
    );
    write_bot(
        dir.path(),
        "thrifty",
        &[],
        "llm-monthly-tokens,10\nwelcome-message,Hello!\n",
    );
    let server = start(dir.path(), &model.url());

    let mut ws = connect(server.addr, "careful").await;
    answer(&mut ws).await;
    say(&mut ws, "weather in Rio?").await;
    let (ask, buttons) = answer_with_suggestions(&mut ws).await;
    assert!(
        ask.contains("**forecast**") && ask.ends_with("Shall I go ahead?"),
        "{ask}"
    );
    assert_eq!(buttons, vec!["Yes", "No"]);
    say(&mut ws, "no").await;
    assert_eq!(answer_with_suggestions(&mut ws).await.0, "OK, I won't do it.");
    say(&mut ws, "weather in Rio?").await;
    answer(&mut ws).await;
    say(&mut ws, "yes").await;
    assert_eq!(
        answer_with_suggestions(&mut ws).await.0,
        "Checking the forecast for Rio..."
    );
    model.set_script(vec![Step::Text("ok".into())]);
    let mut ws = connect(server.addr, "thrifty").await;
    answer(&mut ws).await;
    say(&mut ws, "first question").await;
    assert_eq!(answer_with_suggestions(&mut ws).await.0, "ok");
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(&mut ws, "second question").await;
    assert_eq!(
        answer_with_suggestions(&mut ws).await.0,
        botserver_chat::answer::BUDGET
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_from_unstructured_stores_the_columns_the_model_extracted() {
    let model = ScriptedModelServer::start(vec![Step::Text(
        r#"{"name": "Ana Lima", "email": "ana@example.com", "shoe_size": 37, "city": null}"#.into(),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_bot(
        dir.path(),
        "crm",
        &[
            (
                "tables.bas",
                "TABLE contacts\n  name string(60)\n  email string(80) key\n  city string(40)\nEND TABLE\n",
            ),
            (
                "start.bas",
                "SAVE FROM UNSTRUCTURED \"contacts\", \"Hi, I'm Ana Lima, write to ana@example.com\"\n\
                 rows = FIND \"contacts\", \"email = 'ana@example.com'\"\n\
                 c = FIRST(rows)\n\
                 TALK \"Saved \" + c.name + \" <\" + c.email + \">, city empty: \" + ISEMPTY(c.city)\n",
            ),
        ],
        "",
    );
    let server = start(dir.path(), &model.url());
    let mut ws = connect(server.addr, "crm").await;
    let Ok((_, said)) = tokio::time::timeout(Duration::from_secs(20), answer(&mut ws)).await else {
        panic!("no answer; server log:\n{}", server.stderr());
    };
    assert_eq!(said, "Saved Ana Lima <ana@example.com>, city empty: true");
    let req = &model.requests()[0];
    assert_eq!(req["response_format"]["type"], "json_object");
    let system = req["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("name, email, city"), "{system}");
}
