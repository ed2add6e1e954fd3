//! TEST DOUBLE: a scripted OpenAI-compatible model server on loopback, for deterministic
//! tests of streaming, tool calls, errors and timeouts (a real small model serves the
//! plumbing tests; it cannot be relied on to choose tools). Built only with the
//! `test-double` feature. Each chat request takes the next scripted step (the last one
//! repeats); every request body is recorded for transcript checks.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// A text answer (streamed as three pieces when asked to stream).
    Text(String),
    /// A tool call with raw argument text (may be malformed on purpose).
    Tool {
        /// Tool name.
        name: String,
        /// Arguments as the model would send them.
        arguments: String,
    },
    /// An error status, with an optional `Retry-After`.
    Status {
        /// HTTP status.
        code: u16,
        /// `Retry-After` value.
        retry_after: Option<String>,
    },
    /// Waits this long before answering (for timeouts).
    Hang(Duration),
    /// Streams a first piece, then goes silent for this long (idle timeout).
    Stall(Duration),
}

/// The running double.
pub struct ScriptedModelServer {
    /// Where it listens (`http://{addr}/v1` is the base URL).
    pub addr: SocketAddr,
    /// Every chat request body, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<Vec<Step>>>,
    embed_delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Texts embedded so far.
    pub embedded: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<Vec<Step>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    embed_delay_ms: Arc<std::sync::atomic::AtomicU64>,
    embedded: Arc<std::sync::atomic::AtomicU64>,
}

impl ScriptedModelServer {
    /// Starts on a free loopback port with `script`.
    pub async fn start(script: Vec<Step>) -> ScriptedModelServer {
        let shared = Shared {
            script: Arc::new(Mutex::new(script)),
            requests: Default::default(),
            embed_delay_ms: Default::default(),
            embedded: Default::default(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModelServer {
            addr,
            requests: shared.requests,
            script: shared.script,
            embed_delay_ms: shared.embed_delay_ms,
            embedded: shared.embedded,
        }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Replaces the remaining script.
    pub fn set_script(&self, script: Vec<Step>) {
        *self.script.lock().expect("script") = script;
    }

    /// Makes every embeddings request wait this long (a slow model, for crash tests).
    pub fn set_embed_delay(&self, d: Duration) {
        self.embed_delay_ms
            .store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// The recorded request bodies.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests").clone()
    }
}

fn next_step(s: &Shared) -> Step {
    let mut script = s.script.lock().expect("script");
    if script.len() > 1 {
        script.remove(0)
    } else {
        script
            .first()
            .cloned()
            .unwrap_or(Step::Text("(no script)".into()))
    }
}

fn sse(events: Vec<Value>) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&format!("data: {e}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn stream_response(body: String) -> Response<Body> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(body))
        .expect("response")
}

async fn chat(State(s): State<Shared>, body: axum::body::Bytes) -> Response<Body> {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let stream = req["stream"] == true;
    s.requests.lock().expect("requests").push(req);
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 5});
    match next_step(&s) {
        Step::Hang(d) => {
            tokio::time::sleep(d).await;
            json_response(json!({"choices":[{"message":{"role":"assistant","content":"late"}}]}))
        }
        Step::Status { code, retry_after } => {
            let mut r = Response::builder().status(StatusCode::from_u16(code).expect("status"));
            if let Some(ra) = retry_after {
                r = r.header("retry-after", ra);
            }
            r.body(Body::from(
                json!({"error":{"message":format!("scripted {code}")}}).to_string(),
            ))
            .expect("response")
        }
        Step::Text(t) if stream => {
            let n = t.chars().count();
            let cut: Vec<usize> = [0, n / 3, 2 * n / 3, n].to_vec();
            let chars: Vec<char> = t.chars().collect();
            let mut events: Vec<Value> = cut
                .windows(2)
                .filter(|w| w[1] > w[0])
                .map(|w| json!({"choices":[{"delta":{"content": chars[w[0]..w[1]].iter().collect::<String>()}}]}))
                .collect();
            events.push(json!({"choices":[{"delta":{},"finish_reason":"stop"}]}));
            events.push(json!({"choices":[], "usage": usage}));
            stream_response(sse(events))
        }
        Step::Text(t) => json_response(json!({
            "model": "scripted",
            "choices":[{"message":{"role":"assistant","content":t}}],
            "usage": usage,
        })),
        Step::Tool { name, arguments } if stream => {
            let half = arguments.len() / 2;
            let (a, b) = arguments.split_at(
                arguments
                    .char_indices()
                    .map(|(i, _)| i)
                    .find(|i| *i >= half)
                    .unwrap_or(0),
            );
            stream_response(sse(vec![
                json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":name,"arguments":a}}]}}]}),
                json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":b}}]}}]}),
                json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
                json!({"choices":[], "usage": usage}),
            ]))
        }
        Step::Tool { name, arguments } => json_response(json!({
            "choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":name,"arguments":arguments}}]}}],
            "usage": usage,
        })),
        Step::Stall(d) => {
            let first = format!("data: {}\n\n", json!({"choices":[{"delta":{"content":"Hel"}}]}));
            let s =
                futures_util::stream::once(
                    async move { Ok::<_, std::io::Error>(axum::body::Bytes::from(first)) },
                )
                .chain(futures_util::stream::once(async move {
                    tokio::time::sleep(d).await;
                    Ok(axum::body::Bytes::from_static(b"data: [DONE]\n\n"))
                }));
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(s))
                .expect("response")
        }
    }
}

use futures_util::StreamExt;

fn json_response(v: Value) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .expect("response")
}

/// Deterministic embeddings: 8 dimensions from the text's bytes.
async fn embeddings(State(s): State<Shared>, body: axum::body::Bytes) -> Response<Body> {
    let delay = s.embed_delay_ms.load(std::sync::atomic::Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs: Vec<String> = req["input"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = [0f32; 8];
            for (j, b) in t.bytes().enumerate() {
                v[j % 8] += b as f32 / 255.0;
            }
            json!({"index": i, "embedding": v})
        })
        .collect();
    s.embedded
        .fetch_add(inputs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    json_response(json!({"data": data, "usage": {"prompt_tokens": inputs.len()}}))
}
