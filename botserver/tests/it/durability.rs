//! Durable dialogs (spec §4): 1,000 conversations parked at HEAR (in a loop, in a SUB
//! and in a CALLed script), the server killed with SIGKILL and started again, every
//! conversation answered. Each must continue where it was, with its variables, and no side
//! effect done before the kill may happen twice: a counting HTTP endpoint and a table
//! with one INSERT per conversation prove it. On SQLite, and on PostgreSQL when the tests
//! have one.

use crate::process::Server;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const CONVERSATIONS: usize = 1000;
const THREADS: usize = 4;

/// A loopback HTTP endpoint counting the requests it gets.
fn counting_endpoint() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head and the body (Content-Length).
                loop {
                    let Ok(n) = s.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let body = format!("{{\"hit\":{n}}}");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (addr, hits)
}

/// POST with a bearer token and a JSON body; returns status and parsed body.
fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    crate::process::call(addr, "POST", path, token, Some(body))
}

/// Resident memory of a process, in kB (Linux).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn tail(s: &str) -> String {
    let skip = s.chars().count().saturating_sub(3000);
    s.chars().skip(skip).collect()
}

fn messages(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {v}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

const START: &str = r#"sid = GET SESSION "session_id"
token = RANDOM(1, 1000000000)
r = POST "http://COUNTER/hit", { "sid": sid }
INSERT "visits", { "id": sid, "token": token }
kind = VAL(RIGHT(sid, 1)) MOD 3
TALK "token " + token
IF kind = 0 THEN
  FOR i = 1 TO 2
    HEAR a WITH "loop " + i + "?"
    last = a
  NEXT
ELSEIF kind = 1 THEN
  CALL Ask
ELSE
  CALL "called.bas", token
  last = "called"
END IF
rows = FIND "visits", "id = ${sid}"
TALK "done " + kind + " " + last + " token " + token + " rows " + COUNT(rows)
SUB Ask
  HEAR last WITH "sub?"
END SUB
"#;

const CALLED: &str = r#"PARAM t AS INTEGER
DESCRIPTION "asks inside a called script"
HEAR b WITH "called " + t + "?"
TALK "called got " + b
"#;

fn run_scenario(envs: Vec<(&'static str, String)>, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (counter, hits) = counting_endpoint();
    let pkg = dir.path().join("botserver-data/bots/dur.gbai");
    std::fs::create_dir_all(pkg.join("dur.gbdialog")).unwrap();
    std::fs::create_dir_all(pkg.join("dur.gbot")).unwrap();
    std::fs::write(
        pkg.join("dur.gbdialog/start.bas"),
        START.replace("COUNTER", &counter.to_string()),
    )
    .unwrap();
    std::fs::write(pkg.join("dur.gbdialog/called.bas"), CALLED).unwrap();
    std::fs::write(
        pkg.join("dur.gbot/config.csv"),
        "name,value\nhttp-allow-private,true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("botserver.toml"),
        "[server.rate_limit]\nper_second = 0\n",
    )
    .unwrap();
    let mut envs = envs;
    envs.push(("BOTSERVER_SECRET_ADMIN_PASSWORD", "durable-admin-pass-1".into()));
    let server = Server::start(dir.path(), &envs);
    let login = |addr| {
        let (status, v) = post(
            addr,
            "/api/auth/login",
            None,
            &json!({"username": "admin", "password": "durable-admin-pass-1"}),
        );
        assert_eq!(status, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    };
    let token = login(server.addr);
    let rss_before = rss_kb(server.child.id());

    // Park every conversation at its first HEAR.
    let started = Instant::now();
    let tokens: Vec<(usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let token = token.clone();
                let addr = server.addr;
                let server_ref = &server;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for i in (t..CONVERSATIONS).step_by(THREADS) {
                        let (status, v) = post(
                            addr,
                            "/api/bots/dur/dialog",
                            Some(&token),
                            &json!({"session": format!("c{i}")}),
                        );
                        assert_eq!(status, 200, "start c{i}: {v}\n{}", tail(&server_ref.stderr()));
                        let said = messages(&v);
                        let first = said[0]
                            .strip_prefix("token ")
                            .unwrap_or_else(|| panic!("{said:?}\n{}", tail(&server_ref.stderr())))
                            .to_string();
                        let kind = i % 10 % 3;
                        let asked = match kind {
                            0 => "loop 1?".to_string(),
                            1 => "sub?".to_string(),
                            _ => format!("called {first}?"),
                        };
                        assert_eq!(said[1..], [asked], "c{i}");
                        assert_eq!(v["waiting_for_input"], true);
                        out.push((i, first));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let parked_in = started.elapsed();
    // Parked conversations live in the database, not in the process.
    let rss_after = rss_kb(server.child.id());
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB with {CONVERSATIONS} parked conversations"
    );
    assert_eq!(hits.load(Ordering::SeqCst), CONVERSATIONS);

    // SIGKILL: no shutdown, no flush.
    server.signal("-KILL");
    drop(server);
    let server = Server::start(dir.path(), &envs);
    let token = login(server.addr);

    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in tokens.chunks(CONVERSATIONS.div_ceil(THREADS)) {
            let token = token.clone();
            let addr = server.addr;
            scope.spawn(move || {
                for (i, tok) in chunk {
                    let session = json!({"session": format!("c{i}"), "message": "yes"});
                    let (status, v) = post(addr, "/api/bots/dur/dialog", Some(&token), &session);
                    assert_eq!(status, 200, "answer c{i}: {v}");
                    let kind = i % 10 % 3;
                    let said = messages(&v);
                    match kind {
                        0 => {
                            assert_eq!(said, ["loop 2?"], "c{i} resumes inside its loop");
                            let (_, v) = post(
                                addr,
                                "/api/bots/dur/dialog",
                                Some(&token),
                                &json!({"session": format!("c{i}"), "message": "again"}),
                            );
                            assert_eq!(messages(&v), [format!("done 0 again token {tok} rows 1")], "c{i}");
                        }
                        1 => assert_eq!(said, [format!("done 1 yes token {tok} rows 1")], "c{i}"),
                        _ => assert_eq!(
                            said,
                            [
                                "called got yes".to_string(),
                                format!("done 2 called token {tok} rows 1")
                            ],
                            "c{i}"
                        ),
                    }
                }
            });
        }
    });
    let answered_in = started.elapsed();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        CONVERSATIONS,
        "no HTTP call made before the kill was repeated"
    );
    eprintln!(
        "durability on {backend}: {CONVERSATIONS} conversations parked in {parked_in:?} (server RSS {rss_before} -> {rss_after} kB), answered after SIGKILL in {answered_in:?}"
    );
}

#[test]
fn a_thousand_parked_conversations_survive_sigkill_on_sqlite() {
    run_scenario(Vec::new(), "sqlite");
}

#[test]
fn a_thousand_parked_conversations_survive_sigkill_on_postgres() {
    let Some((_db, url)) = crate::process::postgres_db() else {
        return;
    };
    run_scenario(vec![("DATABASE_URL", url)], "postgres");
}
