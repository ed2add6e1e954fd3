//! The knowledge base as a user meets it: the built-in default bot, with no language
//! model configured, answers a question from its own small knowledge base (indexed in the
//! background from the documents the binary carries), with the source.

use crate::process::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn said(ws: &mut Ws) -> Vec<String> {
    // Everything the bot says until it waits (a final frame with suggestions or a prompt).
    let mut out = Vec::new();
    loop {
        let f: Value = match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str()).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended: {other:?}"),
        };
        if f["message_type"] == 2 && f["is_complete"] == true {
            let c = f["content"].as_str().unwrap_or_default().to_string();
            let waits = f["suggestions"].as_array().is_some_and(|s| !s.is_empty())
                || c.ends_with('?')
                || c.ends_with(')');
            out.push(c);
            if waits {
                return out;
            }
        }
    }
}

async fn say(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(
        json!({"content": text, "message_type": 1}).to_string().into(),
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bot_answers_from_its_own_knowledge_base_without_a_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("botserver.toml"),
        "[server.rate_limit]\nper_second = 0\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &[]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws?bot_name=default", server.addr))
        .await
        .unwrap();
    let _connected = ws.next().await;
    let hello = said(&mut ws).await;
    assert_eq!(hello.last().unwrap(), "What would you like to know?");
    // The knowledge base is indexed in the background within seconds of start-up.
    let started = Instant::now();
    loop {
        say(&mut ws, "Ask a question").await;
        said(&mut ws).await;
        say(&mut ws, "How do I check a package from the command line?").await;
        let answer = said(&mut ws).await;
        if answer.iter().any(|a| a.contains("botserver bot check")) {
            assert!(
                answer.iter().any(|a| a == "Source: making-a-bot.md"),
                "{answer:?}"
            );
            break;
        }
        assert!(
            answer[0].starts_with("I don't know that yet") && started.elapsed() < Duration::from_secs(20),
            "{answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
