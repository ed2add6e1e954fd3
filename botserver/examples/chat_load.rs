//! Chat load generator. Starts a botserver process on the embedded defaults (SQLite) with
//! a TALK/HEAR bot, runs N concurrent WebSocket clients through its dialog for a while, and
//! reports turns/s, p50/p99 turn latency and the server's RSS, next to a bare axum
//! WebSocket echo server (a separate process, same clients, same run). Then it opens M
//! idle sockets and reports the server's RSS with them.
//!
//! ```text
//! cargo build --release -p botserver --example chat_load
//! target/release/examples/chat_load --server target/release/botserver \
//!     [--clients 200] [--seconds 15] [--idle 10000] [--turns-per-session 20]
//! ```
//!
//! Each client talks `--turns-per-session` turns in one conversation, then opens a new one
//! (a conversation replays its journal on every turn, so its cost grows with its length).

use futures_util::{SinkExt, StreamExt};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const BOT: &str = r#"TALK "Hello, load tester."
DO
  HEAR line
  TALK "You said " + line
LOOP
"#;

struct Args {
    server: String,
    clients: usize,
    seconds: u64,
    idle: usize,
    per_session: u64,
}

fn args() -> Args {
    let mut a = Args {
        server: "target/release/botserver".into(),
        clients: 200,
        seconds: 15,
        idle: 10_000,
        per_session: 20,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--server" => a.server = val,
            "--clients" => a.clients = val.parse().expect("--clients N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds S"),
            "--idle" => a.idle = val.parse().expect("--idle M"),
            "--turns-per-session" => a.per_session = val.parse().expect("--turns-per-session T"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--echo") {
        return echo_server();
    }
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(a));
}

/// The bare axum echo server: what the WebSocket stack alone costs.
fn echo_server() {
    use axum::extract::ws::WebSocketUpgrade;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(m)) = socket.recv().await {
                        if matches!(m, axum::extract::ws::Message::Text(_)) && socket.send(m).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", l.local_addr().expect("addr").port());
        axum::serve(l, app).await.expect("serve");
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) the process used so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Latencies of all clients, in microseconds.
fn report(name: &str, mut lat: Vec<u64>, secs: f64, pid: u32, cpu: f64) -> f64 {
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let rate = lat.len() as f64 / secs;
    let (rss, hwm) = rss_kib(pid);
    println!(
        "{name:>10}: {:>8} turns in {secs:.1} s = {rate:>8.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   server CPU {:.0}% ({:.0} µs/turn)   RSS {:.1} MiB (peak {:.1} MiB)",
        lat.len(),
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        100.0 * cpu / secs,
        1e6 * cpu / lat.len().max(1) as f64,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    rate
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON.
async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).expect("json frame"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// The next stored bot message.
async fn next_bot_message(ws: &mut Ws) -> serde_json::Value {
    loop {
        let f = next_json(ws).await;
        if f["message_type"] == 2 && f["is_complete"] == true {
            return f;
        }
    }
}

async fn run(a: Args) {
    println!(
        "chat_load: {} clients for {} s each phase ({} turns per conversation), then {} idle sockets ({} cores)",
        a.clients,
        a.seconds,
        a.per_session,
        a.idle,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    // The echo baseline.
    let mut echo = Command::new(std::env::current_exe().expect("exe"))
        .arg("--echo")
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo server starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(echo.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("echo port");
    let echo_pid = echo.id();
    let echo = Killed(echo);
    let echo_url = format!("ws://127.0.0.1:{}/ws", line.trim());
    let cpu0 = cpu_secs(echo_pid);
    let (lat, secs) = drive(
        a.clients,
        a.seconds,
        move |_| {
            let url = echo_url.clone();
            async move {
                let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
                    .await
                    .expect("echo connects");
                ws
            }
        },
        false,
        u64::MAX,
    )
    .await;
    let echo_rate = report("echo", lat, secs, echo_pid, cpu_secs(echo_pid) - cpu0);
    drop(echo);

    // The botserver.
    let dir = tempfile::tempdir().expect("tempdir");
    let bots = dir.path().join("bots/load.gbai/load.gbdialog");
    std::fs::create_dir_all(&bots).expect("bots dir");
    std::fs::write(bots.join("start.bas"), BOT).expect("bot");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let child = Command::new(&a.server)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("BOTSERVER_SERVER__BOTS_DIR", dir.path().join("bots"))
        .env("BOTSERVER_SERVER__RATE_LIMIT__PER_SECOND", "0")
        .env("BOTSERVER_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("botserver starts (build it with --release first)");
    let pid = child.id();
    let server = Killed(child);
    let base = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(&base).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start; see its log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("ws://{base}/ws?bot_name=load");
    let cpu0 = std::cell::Cell::new(0.0);
    let target = url.clone();
    let (lat, secs) = drive(
        a.clients,
        a.seconds,
        move |_| {
            let url = target.clone();
            async move {
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
                    .await
                    .expect("connects");
                let hello = next_json(&mut ws).await;
                assert_eq!(hello["type"], "connected");
                next_bot_message(&mut ws).await; // the greeting; the dialog now waits at HEAR
                ws
            }
        },
        true,
        a.per_session,
    )
    .await;
    let rate = report("botserver", lat, secs, pid, cpu_secs(pid) - cpu0.get());
    println!(
        "botserver/echo: {:.0}% of the echo rate",
        100.0 * rate / echo_rate
    );

    // Idle sockets.
    if a.idle > 0 {
        let (before, _) = rss_kib(pid);
        let mut held = Vec::with_capacity(a.idle);
        let t = Instant::now();
        for chunk in 0..a.idle.div_ceil(500) {
            let n = 500.min(a.idle - chunk * 500);
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n {
                let url = url.clone();
                set.spawn(async move {
                    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
                        .await
                        .expect("idle socket connects");
                    next_json(&mut ws).await;
                    next_bot_message(&mut ws).await;
                    ws
                });
            }
            while let Some(ws) = set.join_next().await {
                held.push(ws.expect("task"));
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (rss, hwm) = rss_kib(pid);
        println!(
            "      idle: {} sockets open (in {:.1} s); server RSS {:.1} MiB (before {:.1} MiB, peak {:.1} MiB)",
            held.len(),
            t.elapsed().as_secs_f64(),
            rss as f64 / 1024.0,
            before as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
        drop(held);
    }
    drop(server);
}

/// Runs `clients` connections, each sending a message and waiting for its answer in a
/// loop, for `seconds` (after all are connected). Returns every turn's latency (µs) and
/// the measured time.
async fn drive<F, Fut>(
    clients: usize,
    seconds: u64,
    connect: F,
    bot: bool,
    per_session: u64,
) -> (Vec<u64>, f64)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Ws> + Send + 'static,
{
    let mut sockets = Vec::with_capacity(clients);
    for chunk in (0..clients).collect::<Vec<_>>().chunks(100) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            set.spawn(connect(i));
        }
        while let Some(ws) = set.join_next().await {
            sockets.push(ws.expect("connect task"));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let stop = stop.clone();
        let connect = connect.clone();
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if n > 0 && n.is_multiple_of(per_session) {
                    // A new conversation (the time to open it is not a turn).
                    let _ = ws.close(None).await;
                    ws = connect(i).await;
                }
                n += 1;
                let text = format!("client {i} message {n}");
                let frame = if bot {
                    serde_json::json!({"content": text, "message_type": 1}).to_string()
                } else {
                    text.clone()
                };
                let t = Instant::now();
                ws.send(Message::Text(frame.into())).await.expect("send");
                if bot {
                    let m = next_bot_message(&mut ws).await;
                    assert_eq!(m["content"], format!("You said {text}"));
                } else {
                    next_text(&mut ws).await;
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            let _ = ws.close(None).await;
            lat
        });
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    while let Some(l) = set.join_next().await {
        all.extend(l.expect("client task"));
    }
    (all, secs)
}

async fn next_text(ws: &mut Ws) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => return,
            Some(Ok(_)) => continue,
            other => panic!("echo socket ended: {other:?}"),
        }
    }
}
