//! The Anthropic Messages wire format: the system prompt as a field, tool calls as
//! `tool_use` blocks and their results as `tool_result` blocks in a user turn, tools with
//! `input_schema`, and the typed stream events (`content_block_delta` with text or partial
//! tool-input JSON).

use crate::openai::parse_arguments;
use botlib::{AppError, AppResult};
use botstate::services::{ChatChunk, ChatRequest, ChatResponse, ToolCall, Usage};
use serde_json::{Value, json};

/// The API version header value.
pub const VERSION: &str = "2023-06-01";
/// Anthropic requires a completion cap.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The messages endpoint.
pub fn url(base: &str) -> String {
    format!("{base}/v1/messages")
}

/// Adds the key and version headers.
pub fn authorize(req: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    let req = req.header("anthropic-version", VERSION);
    match key {
        Some(k) => req.header("x-api-key", k),
        None => req,
    }
}

/// The request body.
pub fn body(
    req: &ChatRequest,
    model: &str,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    stream: bool,
) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        match m.role.as_str() {
            "system" => system.push(m.content.clone()),
            "tool" => {
                let block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                });
                // Consecutive tool results share one user turn.
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"]
                                .as_array()
                                .is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result")) =>
                    {
                        last["content"].as_array_mut().expect("array").push(block);
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
            role => {
                let role = if role == "assistant" { "assistant" } else { "user" };
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                messages.push(json!({"role": role, "content": blocks}));
            }
        }
    }
    if req.json_mode {
        system.push("Answer with one JSON object and nothing else.".into());
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": req.max_tokens.or(max_tokens).unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = req.temperature.or(temperature) {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        body["tools"] = Value::Array(
            req.tools
                .iter()
                .map(|t| {
                    let f = t.get("function").unwrap_or(t);
                    json!({
                        "name": f.get("name").cloned().unwrap_or(Value::Null),
                        "description": f.get("description").cloned().unwrap_or(json!("")),
                        "input_schema": f.get("parameters").cloned().unwrap_or(json!({"type": "object"})),
                    })
                })
                .collect(),
        );
    }
    body
}

fn usage(v: &Value) -> Usage {
    Usage {
        prompt_tokens: v.get("input_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
        completion_tokens: v.get("output_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
    }
}

/// A whole answer.
pub fn parse_response(v: &Value) -> AppResult<ChatResponse> {
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::Unavailable("the language model answered without content".into()))?;
    let mut r = ChatResponse {
        usage: v.get("usage").map(usage).unwrap_or_default(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        ..Default::default()
    };
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => r
                .content
                .push_str(b.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("tool_use") => r.tool_calls.push(ToolCall {
                id: b
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                arguments: b.get("input").cloned().unwrap_or(json!({})),
            }),
            _ => {}
        }
    }
    Ok(r)
}

/// Assembles the typed stream events.
#[derive(Default)]
pub struct StreamState {
    tool: Option<(String, String, String)>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    /// The chunks one event yields.
    pub fn on_event(&mut self, event: &str, data: &str) -> AppResult<Vec<ChatChunk>> {
        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let kind = if event.is_empty() {
            v.get("type").and_then(Value::as_str).unwrap_or("")
        } else {
            event
        };
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage.prompt_tokens = usage(u).prompt_tokens;
                }
            }
            "content_block_start" => {
                let b = &v["content_block"];
                if b["type"] == "tool_use" {
                    self.tool = Some((
                        b["id"].as_str().unwrap_or_default().to_string(),
                        b["name"].as_str().unwrap_or_default().to_string(),
                        String::new(),
                    ));
                }
            }
            "content_block_delta" => match v.pointer("/delta/type").and_then(Value::as_str) {
                Some("text_delta") => {
                    let t = v
                        .pointer("/delta/text")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !t.is_empty() {
                        out.push(ChatChunk::Text(t.to_string()));
                    }
                }
                Some("input_json_delta") => {
                    if let Some(tool) = &mut self.tool {
                        tool.2.push_str(
                            v.pointer("/delta/partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                        );
                    }
                }
                _ => {}
            },
            "content_block_stop" => {
                if let Some((id, name, args)) = self.tool.take() {
                    out.push(ChatChunk::ToolCall(ToolCall {
                        id,
                        name,
                        arguments: parse_arguments(&args),
                    }));
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.usage.completion_tokens = usage(u).completion_tokens;
                }
            }
            "message_stop" => {
                self.done = true;
                out.push(ChatChunk::Done(self.usage));
            }
            "error" => {
                let m = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(AppError::Unavailable(format!(
                    "the language model failed mid-answer: {m}"
                )));
            }
            _ => {}
        }
        Ok(out)
    }

    /// The stream ended.
    pub fn on_end(&mut self) -> Vec<ChatChunk> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![ChatChunk::Done(self.usage)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botstate::services::ChatMessage;

    #[test]
    fn tools_and_results_take_anthropic_shapes() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::new("system", "sys"),
                ChatMessage::new("user", "weather?"),
                ChatMessage {
                    tool_calls: vec![ToolCall {
                        id: "t1".into(),
                        name: "weather".into(),
                        arguments: json!({"city":"Rio"}),
                    }],
                    ..ChatMessage::new("assistant", "")
                },
                ChatMessage::tool_result("t1", "31C"),
            ],
            tools: vec![
                json!({"type":"function","function":{"name":"weather","description":"w","parameters":{"type":"object"}}}),
            ],
            ..Default::default()
        };
        let b = body(&req, "claude", None, None, false);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], 1024);
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(b["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(b["messages"][2]["content"][0]["tool_use_id"], "t1");
    }

    #[test]
    fn stream_events_assemble() {
        let mut s = StreamState::default();
        let mut got = Vec::new();
        for (e, d) in [
            ("message_start", r#"{"message":{"usage":{"input_tokens":9}}}"#),
            (
                "content_block_delta",
                r#"{"delta":{"type":"text_delta","text":"Hi"}}"#,
            ),
            (
                "content_block_start",
                r#"{"content_block":{"type":"tool_use","id":"u1","name":"t"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            ),
            ("content_block_stop", "{}"),
            ("message_delta", r#"{"usage":{"output_tokens":4}}"#),
            ("message_stop", "{}"),
        ] {
            got.extend(s.on_event(e, d).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            ChatChunk::ToolCall(ToolCall {
                id: "u1".into(),
                name: "t".into(),
                arguments: json!({"a":1})
            })
        );
        assert_eq!(
            got[2],
            ChatChunk::Done(Usage {
                prompt_tokens: 9,
                completion_tokens: 4
            })
        );
    }
}
