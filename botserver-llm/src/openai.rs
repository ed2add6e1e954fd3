//! The OpenAI chat-completions wire format (OpenAI, Groq, Ollama, vLLM, llama.cpp server,
//! LM Studio, and Azure OpenAI with its own URL and header): request bodies, answers,
//! streamed deltas (tool calls arrive in pieces by index and are assembled here), and
//! embeddings.

use crate::target::{Caps, Wire};
use botlib::{AppError, AppResult};
use botstate::services::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, ToolCall, Usage};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Azure's API version.
pub const AZURE_API_VERSION: &str = "2024-06-01";

/// The chat endpoint URL.
pub fn chat_url(wire: Wire, base: &str, model: &str) -> String {
    match wire {
        Wire::Azure => {
            format!("{base}/openai/deployments/{model}/chat/completions?api-version={AZURE_API_VERSION}")
        }
        _ => format!("{base}/chat/completions"),
    }
}

/// The embeddings endpoint URL.
pub fn embed_url(wire: Wire, base: &str, model: &str) -> String {
    match wire {
        Wire::Azure => {
            format!("{base}/openai/deployments/{model}/embeddings?api-version={AZURE_API_VERSION}")
        }
        _ => format!("{base}/embeddings"),
    }
}

/// Adds the key the way the wire expects.
pub fn authorize(wire: Wire, req: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match (wire, key) {
        (_, None) => req,
        (Wire::Azure, Some(k)) => req.header("api-key", k),
        (_, Some(k)) => req.bearer_auth(k),
    }
}

fn message(m: &ChatMessage, caps: &Caps) -> Value {
    let role = if m.role == "system" && !caps.system_role {
        "user"
    } else {
        m.role.as_str()
    };
    let mut v = json!({ "role": role, "content": m.content });
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = Value::Array(
            m.tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": arguments_text(&c.arguments) },
                    })
                })
                .collect(),
        );
        if m.content.is_empty() {
            v["content"] = Value::Null;
        }
    }
    v
}

/// Tool arguments as the wire carries them: a JSON text (malformed arguments kept as the
/// model sent them, so the model sees its own mistake).
fn arguments_text(args: &Value) -> String {
    match args {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// The request body.
pub fn chat_body(
    req: &ChatRequest,
    model: &str,
    caps: &Caps,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    stream: bool,
) -> Value {
    let mut messages: Vec<Value> = req.messages.iter().map(|m| message(m, caps)).collect();
    if req.json_mode && !caps.json_mode {
        messages.insert(0, json!({"role": if caps.system_role { "system" } else { "user" }, "content": "Answer with one JSON object and nothing else."}));
    }
    let mut body = json!({ "model": model, "messages": messages, "stream": stream });
    if let Some(t) = req.temperature.or(temperature).filter(|_| caps.temperature) {
        body["temperature"] = json!(t);
    }
    if let Some(n) = req.max_tokens.or(max_tokens) {
        body["max_tokens"] = json!(n);
    }
    if caps.tools && !req.tools.is_empty() {
        body["tools"] = Value::Array(req.tools.clone());
    }
    if req.json_mode && caps.json_mode {
        body["response_format"] = json!({"type": "json_object"});
    }
    if stream && caps.stream_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Parses tool-call arguments; malformed JSON is kept as a string, for the caller's
/// validation to refuse with a message the model can act on.
pub fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn usage(v: &Value) -> Usage {
    Usage {
        prompt_tokens: v.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
        completion_tokens: v.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
    }
}

/// A whole answer.
pub fn parse_response(v: &Value) -> AppResult<ChatResponse> {
    let msg = v
        .pointer("/choices/0/message")
        .ok_or_else(|| AppError::Unavailable("the language model answered without a message".into()))?;
    let tool_calls = msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    name: c
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    arguments: parse_arguments(
                        c.pointer("/function/arguments")
                            .and_then(Value::as_str)
                            .unwrap_or(""),
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        content: msg
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        tool_calls,
        usage: v.get("usage").map(usage).unwrap_or_default(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// Assembles a stream of deltas into chunks.
#[derive(Default)]
pub struct StreamState {
    calls: BTreeMap<u64, (String, String, String)>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    /// The chunks one `data:` payload yields.
    pub fn on_data(&mut self, data: &str) -> AppResult<Vec<ChatChunk>> {
        let mut out = Vec::new();
        if data.trim() == "[DONE]" {
            out.extend(self.flush_calls());
            out.push(ChatChunk::Done(self.usage));
            self.done = true;
            return Ok(out);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            AppError::Unavailable(format!("the language model sent a malformed stream event: {e}"))
        })?;
        if let Some(err) = v.get("error") {
            let m = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(AppError::Unavailable(format!(
                "the language model failed mid-answer: {m}"
            )));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = usage(u);
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return Ok(out);
        };
        if let Some(t) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !t.is_empty()
        {
            out.push(ChatChunk::Text(t.to_string()));
        }
        for c in choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let e = self.calls.entry(index).or_default();
            if let Some(id) = c.get("id").and_then(Value::as_str) {
                e.0.push_str(id);
            }
            if let Some(n) = c.pointer("/function/name").and_then(Value::as_str) {
                e.1.push_str(n);
            }
            if let Some(a) = c.pointer("/function/arguments").and_then(Value::as_str) {
                e.2.push_str(a);
            }
        }
        if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
            out.extend(self.flush_calls());
        }
        Ok(out)
    }

    fn flush_calls(&mut self) -> Vec<ChatChunk> {
        std::mem::take(&mut self.calls)
            .into_values()
            .map(|(id, name, args)| {
                ChatChunk::ToolCall(ToolCall {
                    id,
                    name,
                    arguments: parse_arguments(&args),
                })
            })
            .collect()
    }

    /// The stream ended: whatever is left (a server that closes without `[DONE]`).
    pub fn on_end(&mut self) -> Vec<ChatChunk> {
        if self.done {
            return Vec::new();
        }
        let mut out = self.flush_calls();
        out.push(ChatChunk::Done(self.usage));
        self.done = true;
        out
    }
}

/// The embeddings body.
pub fn embed_body(model: &str, inputs: &[String]) -> Value {
    json!({ "model": model, "input": inputs })
}

/// The vectors of an embeddings answer, in input order.
pub fn parse_embeddings(v: &Value, expected: usize) -> AppResult<(Vec<Vec<f32>>, Usage)> {
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::Unavailable("the embedding model answered without data".into()))?;
    let mut rows: Vec<(u64, Vec<f32>)> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let index = d.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
            let vector = d
                .get("embedding")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).map(|x| x as f32).collect())
                .unwrap_or_default();
            (index, vector)
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    if rows.len() != expected || rows.iter().any(|r| r.1.is_empty()) {
        return Err(AppError::Unavailable(format!(
            "the embedding model returned {} vectors for {expected} inputs",
            rows.len()
        )));
    }
    Ok((
        rows.into_iter().map(|r| r.1).collect(),
        v.get("usage").map(usage).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::caps_for;

    #[test]
    fn tool_call_deltas_assemble_by_index() {
        let mut s = StreamState::default();
        let mut got = Vec::new();
        for d in [
            r#"{"choices":[{"delta":{"content":"Let me check"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"weather","arguments":"{\"ci"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Rio\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}"#,
            "[DONE]",
        ] {
            got.extend(s.on_data(d).unwrap());
        }
        assert_eq!(
            got,
            vec![
                ChatChunk::Text("Let me check".into()),
                ChatChunk::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "weather".into(),
                    arguments: json!({"city": "Rio"})
                }),
                ChatChunk::Done(Usage {
                    prompt_tokens: 11,
                    completion_tokens: 7
                }),
            ]
        );
    }

    #[test]
    fn bodies_follow_capabilities() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::new("system", "be brief"),
                ChatMessage::new("user", "hi"),
            ],
            tools: vec![json!({"type":"function","function":{"name":"t"}})],
            json_mode: true,
            temperature: Some(0.2),
            ..Default::default()
        };
        let full = chat_body(
            &req,
            "gpt-4o",
            &caps_for(Wire::OpenAi, "gpt-4o", None),
            None,
            Some(50),
            true,
        );
        assert_eq!(full["response_format"]["type"], "json_object");
        assert_eq!(full["tools"][0]["function"]["name"], "t");
        assert_eq!(full["max_tokens"], 50);
        assert_eq!(full["stream_options"]["include_usage"], true);
        let o1 = chat_body(
            &req,
            "o1-mini",
            &caps_for(Wire::OpenAi, "o1-mini", Some("json=false")),
            None,
            None,
            false,
        );
        assert!(
            o1.get("temperature").is_none()
                && o1.get("tools").is_none()
                && o1.get("response_format").is_none()
        );
        assert!(
            o1["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["role"] != "system")
        );
    }

    #[test]
    fn malformed_arguments_are_kept_as_text() {
        assert_eq!(parse_arguments("{oops"), json!("{oops"));
        let m = ChatMessage {
            tool_calls: vec![ToolCall {
                id: "1".into(),
                name: "t".into(),
                arguments: json!("{oops"),
            }],
            ..ChatMessage::new("assistant", "")
        };
        let v = message(&m, &caps_for(Wire::OpenAi, "x", None));
        assert_eq!(v["tool_calls"][0]["function"]["arguments"], "{oops");
        assert!(v["content"].is_null());
    }

    #[test]
    fn embeddings_come_back_in_input_order() {
        let v = json!({"data":[{"index":1,"embedding":[0.0,1.0]},{"index":0,"embedding":[1.0,0.0]}]});
        let (rows, _) = parse_embeddings(&v, 2).unwrap();
        assert_eq!(rows, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(parse_embeddings(&v, 3).is_err());
    }
}
