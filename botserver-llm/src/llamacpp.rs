//! Local models: for a bot with `llm-provider=llamacpp` and `llm-model-file`, the server
//! starts a `llama-server` process on a free loopback port (`-m <file> --host 127.0.0.1
//! --port <port> -c <llm-context>`, plus `llm-server-args`), waits until it answers,
//! restarts it with back-off when it dies, and stops it at shutdown. A bot with
//! `llm-url` instead points at a server already running.

use botlib::{AppError, AppResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a new server may take to answer its health check.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// One model file's server.
struct Supervised {
    /// The port while running (`None` while (re)starting).
    port: watch::Receiver<Option<u16>>,
    /// The process id while running (0 otherwise).
    pid: Arc<std::sync::atomic::AtomicU32>,
}

/// Every supervised server, by model file.
pub struct Supervisor {
    program: String,
    servers: Mutex<HashMap<String, Arc<Supervised>>>,
    shutdown: CancellationToken,
    http: reqwest::Client,
    /// Times a server was started (the first start included).
    pub starts: Arc<std::sync::atomic::AtomicU64>,
}

impl Supervisor {
    /// A supervisor running `program` (the `[llm] llama_server` setting).
    pub fn new(program: String, shutdown: CancellationToken) -> Supervisor {
        Supervisor {
            program,
            servers: Mutex::new(HashMap::new()),
            shutdown,
            http: reqwest::Client::new(),
            starts: Default::default(),
        }
    }

    /// The base URL (`http://127.0.0.1:<port>/v1`) of the server for `model_file`,
    /// starting it on first use and waiting while it (re)starts.
    pub async fn base_url(&self, model_file: &str, context: u32, extra: &str) -> AppResult<String> {
        self.base_url_avoiding(model_file, context, extra, None).await
    }

    /// Like [`Supervisor::base_url`], but waits for a server other than the one at `avoid`
    /// (which just failed: the supervisor is about to restart it).
    pub async fn base_url_avoiding(
        &self,
        model_file: &str,
        context: u32,
        extra: &str,
        avoid: Option<&str>,
    ) -> AppResult<String> {
        let url = |p: u16| format!("http://127.0.0.1:{p}/v1");
        let sup = {
            let mut map = self.servers.lock().expect("servers");
            map.entry(model_file.to_string())
                .or_insert_with(|| self.spawn(model_file.to_string(), context, extra.to_string()))
                .clone()
        };
        let mut rx = sup.port.clone();
        let port = tokio::time::timeout(START_TIMEOUT, async {
            loop {
                if let Some(p) = *rx.borrow_and_update()
                    && avoid != Some(url(p).as_str())
                {
                    return Ok(p);
                }
                if rx.changed().await.is_err() {
                    return Err(());
                }
            }
        })
        .await
        .map_err(|_| AppError::Unavailable("the local model server did not start in time".into()))?
        .map_err(|_| AppError::Unavailable("the local model server stopped".into()))?;
        Ok(url(port))
    }

    /// The process id of the server for `model_file`, while it runs.
    pub fn pid(&self, model_file: &str) -> Option<u32> {
        let map = self.servers.lock().expect("servers");
        let pid = map
            .get(model_file)?
            .pid
            .load(std::sync::atomic::Ordering::Relaxed);
        (pid != 0).then_some(pid)
    }

    fn spawn(&self, model_file: String, context: u32, extra: String) -> Arc<Supervised> {
        let (tx, rx) = watch::channel(None);
        let pid = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let pid_slot = pid.clone();
        let program = self.program.clone();
        let stop = self.shutdown.clone();
        let http = self.http.clone();
        let starts = self.starts.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            while !stop.is_cancelled() {
                let port = match free_port() {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "llamacpp: no free port");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                let mut cmd = tokio::process::Command::new(&program);
                cmd.arg("-m")
                    .arg(&model_file)
                    .args([
                        "--host",
                        "127.0.0.1",
                        "--port",
                        &port.to_string(),
                        "-c",
                        &context.to_string(),
                    ])
                    .args(extra.split_whitespace())
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true);
                starts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let started = std::time::Instant::now();
                match cmd.spawn() {
                    Ok(mut child) => {
                        pid_slot.store(child.id().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                        tracing::info!(model = %model_file, port, "llamacpp: server starting");
                        let healthy = wait_healthy(&http, port, &mut child).await;
                        if healthy {
                            let _ = tx.send(Some(port));
                        }
                        tokio::select! {
                            status = child.wait() => {
                                pid_slot.store(0, std::sync::atomic::Ordering::Relaxed);
                                let _ = tx.send(None);
                                tracing::warn!(model = %model_file, ?status, "llamacpp: server exited; restarting");
                            }
                            _ = stop.cancelled() => {
                                let _ = child.kill().await;
                                let _ = tx.send(None);
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(program = %program, error = %e, "llamacpp: cannot start the server")
                    }
                }
                // A server that lived a while restarts at once; one that keeps dying backs off.
                failures = if started.elapsed() > Duration::from_secs(60) {
                    0
                } else {
                    failures + 1
                };
                let wait = Duration::from_millis(250 * (1u64 << failures.min(7)));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
        Arc::new(Supervised { port: rx, pid })
    }
}

async fn wait_healthy(http: &reqwest::Client, port: u16, child: &mut tokio::process::Child) -> bool {
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let ok = http
            .get(format!("http://127.0.0.1:{port}/v1/models"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
