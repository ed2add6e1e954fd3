//! The chat as web clients see it, against real server processes:
//! - 200 clients mid-dialog, the server killed with SIGKILL and started again: every client
//!   reconnects, resends what it is unsure of (with its message id), and every dialog goes
//!   on from where it was, with no message lost or duplicated;
//! - two server processes on one PostgreSQL and one Redis: one client's messages sent
//!   alternately through both make one coherent conversation, and every answer reaches the
//!   client's sockets on both instances.

use crate::process::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 200;

/// A counting dialog: its state (`n`) must survive the kill.
const COUNT: &str = r#"TALK "Let's count."
n = 0
DO
  HEAR x
  n = n + 1
  TALK "Turn " + n + ": " + x
LOOP
"#;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn write_bot(root: &Path) {
    let pkg = root.join("botserver-data/bots/count.gbai/count.gbdialog");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("start.bas"), COUNT).unwrap();
    std::fs::write(
        root.join("botserver.toml"),
        "[server.rate_limit]\nper_second = 0\n",
    )
    .unwrap();
}

/// Ids of one conversation.
#[derive(Clone, Debug)]
struct Ids {
    session: String,
    user: String,
}

async fn connect(addr: SocketAddr, ids: Option<&Ids>) -> (Ws, Ids) {
    let url = match ids {
        None => format!("ws://{addr}/ws?bot_name=count"),
        Some(i) => format!(
            "ws://{addr}/ws?session_id={}&user_id={}&bot_name=count",
            i.session, i.user
        ),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
    let hello = next(&mut ws).await.expect("connected frame");
    assert_eq!(hello["type"], "connected", "{hello}");
    let ids = Ids {
        session: hello["session_id"].as_str().unwrap().to_string(),
        user: hello["user_id"].as_str().unwrap().to_string(),
    };
    (ws, ids)
}

/// The next JSON frame; `None` when the socket ends (or 10 s pass).
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Waits for the stored bot message with this content; `false` if the socket ended first.
async fn await_reply(ws: &mut Ws, content: &str) -> bool {
    while let Some(f) = next(ws).await {
        if f["message_type"] == 2 && f["is_complete"] == true && f["content"] == content {
            return true;
        }
    }
    false
}

async fn send(ws: &mut Ws, content: &str, id: &str) -> bool {
    let frame = json!({"content": content, "message_type": 1, "id": id});
    ws.send(Message::Text(frame.to_string().into())).await.is_ok()
}

async fn history(addr: SocketAddr, ids: &Ids) -> Vec<(String, String)> {
    let path = format!(
        "/api/sessions/{}/messages?after=0&user_id={}",
        ids.session, ids.user
    );
    let (status, v) =
        tokio::task::spawn_blocking(move || crate::process::call(addr, "GET", &path, None, None))
            .await
            .unwrap();
    assert_eq!(status, 200, "{v}");
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The transcript a counting dialog of `turns` turns must have, exactly.
fn expected(client: usize, turns: usize) -> Vec<(String, String)> {
    let mut v = vec![("bot".to_string(), "Let's count.".to_string())];
    for k in 1..=turns {
        let said = format!("client {client} says {k}");
        v.push(("user".into(), said.clone()));
        v.push(("bot".into(), format!("Turn {k}: {said}")));
    }
    v
}

/// One web client: talks until the server dies, then reconnects to wherever `addr_rx`
/// says, resends its last message (same id), and talks `after` more turns.
async fn client(
    i: usize,
    first: SocketAddr,
    mut addr_rx: tokio::sync::watch::Receiver<Option<SocketAddr>>,
    killed_mid_dialog: Arc<AtomicUsize>,
    caught: Arc<[AtomicUsize; 3]>,
    welcomed: Arc<AtomicUsize>,
    after: usize,
) -> (usize, Ids, usize) {
    let (mut ws, ids) = connect(first, None).await;
    assert!(await_reply(&mut ws, "Let's count.").await);
    welcomed.fetch_add(1, Ordering::SeqCst);
    let mut k = 0;
    // Talk until the server goes away.
    loop {
        k += 1;
        let said = format!("client {i} says {k}");
        if !send(&mut ws, &said, &format!("{i}-{k}")).await {
            break;
        }
        if !await_reply(&mut ws, &format!("Turn {k}: {said}")).await {
            break;
        }
        // A little thinking time keeps 200 dialogs interleaved rather than racing.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed_mid_dialog.fetch_add(1, Ordering::SeqCst);
    // The server is gone; wait for the new one.
    let addr = loop {
        if let Some(a) = *addr_rx.borrow_and_update() {
            break a;
        }
        addr_rx.changed().await.unwrap();
    };
    let said = format!("client {i} says {k}");
    // Where the kill caught message k: answered, stored but not answered, or not stored.
    let before = history(addr, &ids).await;
    let state = if before
        .iter()
        .any(|(r, c)| r == "bot" && c.starts_with(&format!("Turn {k}: ")))
    {
        0
    } else if before.iter().any(|(r, c)| r == "user" && *c == said) {
        1
    } else {
        2
    };
    caught[state].fetch_add(1, Ordering::SeqCst);
    let (mut ws, again) = connect(addr, Some(&ids)).await;
    assert_eq!(again.session, ids.session);
    // Unsure whether message k arrived: send it again with its id (stored once at most).
    assert!(send(&mut ws, &said, &format!("{i}-{k}")).await);
    let want = format!("Turn {k}: {said}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = history(addr, &ids).await;
        if h.iter().any(|(r, c)| r == "bot" && *c == want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "client {i}: no answer to message {k} after restart: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Frames for it may still be queued on the socket; only new answers matter below.
    for _ in 0..after {
        k += 1;
        let said = format!("client {i} says {k}");
        assert!(send(&mut ws, &said, &format!("{i}-{k}")).await);
        assert!(
            await_reply(&mut ws, &format!("Turn {k}: {said}")).await,
            "client {i}: turn {k} after restart"
        );
    }
    (i, ids, k)
}

async fn sigkill_scenario(envs: Vec<(&'static str, String)>, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_bot(dir.path());
    let server = Server::start(dir.path(), &envs);
    let (tx, rx) = tokio::sync::watch::channel(None);
    let killed = Arc::new(AtomicUsize::new(0));
    let caught: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let welcomed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        tasks.spawn(client(
            i,
            server.addr,
            rx.clone(),
            killed.clone(),
            caught.clone(),
            welcomed.clone(),
            3,
        ));
    }
    // Every client in its dialog, then a little more, then the kill in the middle of them.
    let started = Instant::now();
    while welcomed.load(Ordering::SeqCst) < CLIENTS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "clients did not all start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.signal("-KILL");
    let dir_path = dir.path().to_path_buf();
    drop(server);
    let started = Instant::now();
    while killed.load(Ordering::SeqCst) < CLIENTS {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "clients did not notice the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = Server::start(&dir_path, &envs);
    tx.send(Some(server.addr)).unwrap();
    let mut turns = 0;
    while let Some(r) = tasks.join_next().await {
        let (i, ids, k) = r.expect("client task");
        let h = history(server.addr, &ids).await;
        assert_eq!(
            h,
            expected(i, k),
            "client {i}: the transcript has a gap or a duplicate"
        );
        turns += k;
    }
    let [answered, pending, lost] = [0, 1, 2].map(|i| caught[i].load(Ordering::SeqCst));
    eprintln!(
        "chat durability on {backend}: {CLIENTS} clients, {turns} turns in all; at the SIGKILL the last \
         message of {answered} was answered, of {pending} stored but not answered, of {lost} not stored \
         (resent); nothing lost or doubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_clients_mid_dialog_survive_sigkill_on_sqlite() {
    sigkill_scenario(Vec::new(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_clients_mid_dialog_survive_sigkill_on_postgres() {
    let Some((_db, url)) = crate::process::postgres_db() else {
        return;
    };
    sigkill_scenario(vec![("DATABASE_URL", url)], "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_and_redis_make_one_conversation() {
    let Some((_db, url)) = crate::process::postgres_db() else {
        return;
    };
    let Some(redis) = botstate::testing::service_url("BOT_TEST_REDIS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_bot(dir.path());
    let envs = vec![("DATABASE_URL", url), ("REDIS_URL", redis)];
    // Same folder: the same master key and bots; the first creates the key.
    let a = Server::start(dir.path(), &envs);
    let b = Server::start(dir.path(), &envs);
    let (mut on_a, ids) = connect(a.addr, None).await;
    assert!(await_reply(&mut on_a, "Let's count.").await);
    let (mut on_b, _) = connect(b.addr, Some(&ids)).await;
    for k in 1..=10 {
        let said = format!("client 0 says {k}");
        let want = format!("Turn {k}: {said}");
        // Odd turns through A, even through B; the answer reaches both sockets.
        let (via, other) = if k % 2 == 1 {
            (&mut on_a, &mut on_b)
        } else {
            (&mut on_b, &mut on_a)
        };
        assert!(send(via, &said, &format!("0-{k}")).await);
        assert!(await_reply(via, &want).await, "turn {k} on the sending instance");
        assert!(
            await_reply(other, &want).await,
            "turn {k} delivered on the other instance"
        );
    }
    let from_a = history(a.addr, &ids).await;
    let from_b = history(b.addr, &ids).await;
    assert_eq!(from_a, expected(0, 10));
    assert_eq!(from_a, from_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_general_bots_client_chats_with_the_ids_of_api_auth() {
    let dir = tempfile::tempdir().unwrap();
    write_bot(dir.path());
    let server = Server::start(dir.path(), &[]);
    let addr = server.addr;
    let (status, v) = tokio::task::spawn_blocking(move || {
        crate::process::call(addr, "GET", "/api/auth?bot_name=count", None, None)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let ids = Ids {
        session: v["session_id"].as_str().unwrap().to_string(),
        user: v["user_id"].as_str().unwrap().to_string(),
    };
    // The socket with only the two ids (what those clients send) is the visitor's.
    let (mut ws, got) = connect(addr, Some(&ids)).await;
    assert_eq!(got.session, ids.session);
    assert!(await_reply(&mut ws, "Let's count.").await);
    assert!(send(&mut ws, "hello", "m1").await);
    assert!(await_reply(&mut ws, "Turn 1: hello").await);
    assert_eq!(history(addr, &ids).await.len(), 3);
    // Someone else's user id with that session id opens nothing.
    let url = format!(
        "ws://{addr}/ws?session_id={}&user_id={}",
        ids.session,
        uuid::Uuid::new_v4()
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    // The visitor's access token works as well, on the socket and on the history.
    let token = v["access_token"].as_str().unwrap().to_string();
    let url = format!("ws://{addr}/ws?session_id={}&access_token={token}", ids.session);
    let (mut ws2, _) = tokio_tungstenite::connect_async(url).await.expect("token socket");
    assert_eq!(next(&mut ws2).await.unwrap()["type"], "connected");
    let path = format!("/api/sessions/{}/messages", ids.session);
    let (status, v) =
        tokio::task::spawn_blocking(move || crate::process::call(addr, "GET", &path, Some(&token), None))
            .await
            .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["messages"].as_array().unwrap().len(), 3);
}
