//! The response cache: with `llm-cache=true`, an answer is kept in the cache backend
//! (shared by every instance with Redis) under the SHA-256 of everything that shapes it
//! (endpoint, model, the whole request body), for `llm-cache-ttl` seconds. Exact match
//! only. Answers with tool calls are not cached: tools act on the world each time.

use botstate::Cache;
use botstate::services::ChatResponse;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The cache key of a request.
pub fn key(url: &str, body: &serde_json::Value) -> String {
    let mut body = body.clone();
    // Streamed or not, the answer is the same.
    if let Some(o) = body.as_object_mut() {
        o.remove("stream");
        o.remove("stream_options");
    }
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update([0]);
    h.update(body.to_string().as_bytes());
    let d = h.finalize();
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("llm:answer:{hex}")
}

/// A cached answer.
pub async fn get(cache: &dyn Cache, key: &str) -> Option<ChatResponse> {
    let raw = cache.get(key).await.ok()??;
    serde_json::from_slice(&raw).ok()
}

/// Keeps an answer (not one with tool calls, not an empty one).
pub async fn put(cache: &dyn Cache, key: &str, answer: &ChatResponse, ttl: Duration) {
    if !answer.tool_calls.is_empty() || answer.content.is_empty() {
        return;
    }
    if let Ok(raw) = serde_json::to_vec(answer)
        && let Err(e) = cache.set(key, &raw, Some(ttl)).await
    {
        tracing::debug!(error = %e, "llm: answer not cached");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_does_not_change_the_key_but_the_prompt_does() {
        let a = serde_json::json!({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true});
        let b = serde_json::json!({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false});
        let c = serde_json::json!({"model":"m","messages":[{"role":"user","content":"hello"}]});
        assert_eq!(key("u", &a), key("u", &b));
        assert_ne!(key("u", &a), key("u", &c));
        assert_ne!(key("u", &a), key("v", &a));
    }
}
