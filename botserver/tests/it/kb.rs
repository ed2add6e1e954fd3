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

fn index_summary(out: &str) -> (u64, u64, u64) {
    // `big: 12 indexed, 0 embedded again, 488 unchanged, 0 removed, 12 chunks written, 12 texts embedded`
    let line = out
        .lines()
        .find(|l| l.starts_with("big:"))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let num = |label: &str| -> u64 {
        line.split(',')
            .map(str::trim)
            .find_map(|p| {
                p.strip_suffix(label)
                    .map(|n| n.trim_start_matches("big:").trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no `{label}` in {line}"))
    };
    (num(" indexed"), num(" unchanged"), num(" texts embedded"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_killed_midway_completes_after_a_restart_without_duplicates() {
    use botserver_llm::double::ScriptedModelServer;
    use diesel::prelude::*;
    const DOCS: u64 = 500;
    let model = ScriptedModelServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("botserver-data/bots/big.gbai/big.gbkb/docs");
    std::fs::create_dir_all(&kb).unwrap();
    for i in 0..DOCS {
        std::fs::write(
            kb.join(format!("doc{i}.md")),
            format!("# Document {i}\n\nThis is document number {i}; its code word is zq{i}x.\n"),
        )
        .unwrap();
    }
    let gbot = dir.path().join("botserver-data/bots/big.gbai/big.gbot");
    std::fs::create_dir_all(&gbot).unwrap();
    std::fs::write(gbot.join("config.csv"), "name,value\nembedding-model,e5\n").unwrap();
    let run = |args: &[&str]| {
        let mut c = crate::process::binary();
        c.current_dir(dir.path()).args(args).env("LLM_URL", model.url());
        c
    };

    // A slow embedding model; the indexer is killed (SIGKILL) part-way.
    model.set_embed_delay(Duration::from_millis(40));
    let mut child = run(&["kb", "index", "big"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while model.embedded.load(std::sync::atomic::Ordering::Relaxed) < 40 {
        assert!(t.elapsed() < Duration::from_secs(60), "indexing never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart = model.embedded.load(std::sync::atomic::Ordering::Relaxed);
    assert!(before_restart < DOCS, "killed before the end");

    // Restarted: it completes; what was done is not done again.
    model.set_embed_delay(Duration::ZERO);
    let out = run(&["kb", "index", "big"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (indexed, unchanged, embedded) = index_summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(indexed + unchanged, DOCS);
    assert!(
        unchanged >= before_restart.saturating_sub(64) && indexed < DOCS,
        "{indexed} {unchanged}"
    );
    assert_eq!(embedded, indexed);
    // A third run indexes nothing.
    let out = run(&["kb", "index", "big"]).output().unwrap();
    assert_eq!(index_summary(&String::from_utf8_lossy(&out.stdout)), (0, DOCS, 0));

    // No duplicates: one passage per document, each key once.
    let db = dir.path().join("botserver-data/botserver.db");
    let mut c = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count =
        |c: &mut diesel::SqliteConnection, q: &str| diesel::sql_query(q).get_result::<N>(c).unwrap().n;
    assert_eq!(count(&mut c, "SELECT COUNT(*) AS n FROM kb_chunks"), DOCS as i64);
    assert_eq!(
        count(
            &mut c,
            "SELECT COUNT(DISTINCT path || '#' || ordinal) AS n FROM kb_chunks"
        ),
        DOCS as i64
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT COUNT(*) AS n FROM kb_documents WHERE status = 'indexed'"
        ),
        DOCS as i64
    );
    // Keyword search finds the one document with the word (the test double's vectors are
    // noise, fused with it).
    let out = run(&["kb", "search", "big", "zq421x"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("docs/doc421.md"), "{text}");
}
