//! A real small model (SmolLM2-135M-Instruct, Q4_1) behind llama-cpp-python's
//! OpenAI-compatible server: the plumbing works end to end (its answers are not judged).

use crate::support::{provider, usage_rows};
use botstate::services::{ChatChunk, ChatMessage, ChatRequest, LlmProvider};
use futures_util::StreamExt;

#[tokio::test]
async fn a_real_model_streams_an_answer_and_its_usage_is_recorded() {
    let Some(url) = botstate::testing::service_url("BOT_TEST_LLM_URL") else {
        return;
    };
    let f = provider(
        &url,
        &[("llm-max-tokens", "24"), ("llm-temperature", "0")],
        |_| {},
    );
    let req = ChatRequest {
        bot: Some(f.bot),
        messages: vec![
            ChatMessage::new("system", "You are a helpful assistant."),
            ChatMessage::new("user", "Say hello."),
        ],
        ..Default::default()
    };
    let chunks: Vec<_> = f.llm.chat_stream(req.clone()).await.unwrap().collect().await;
    let text: String = chunks
        .iter()
        .filter_map(|c| match c {
            Ok(ChatChunk::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let pieces = chunks
        .iter()
        .filter(|c| matches!(c, Ok(ChatChunk::Text(_))))
        .count();
    assert!(!text.trim().is_empty(), "{chunks:?}");
    assert!(pieces > 1, "streamed token by token: {pieces}");
    assert!(matches!(chunks.last(), Some(Ok(ChatChunk::Done(_)))));
    let whole = f.llm.chat(req).await.unwrap();
    assert!(!whole.content.trim().is_empty());
    assert!(whole.usage.completion_tokens > 0 && whole.usage.prompt_tokens > 0);
    let rows = usage_rows(&f.db, 2).await;
    assert!(
        rows.iter().all(|r| r.outcome == "ok" && r.completion_tokens > 0),
        "{rows:?}"
    );
}
