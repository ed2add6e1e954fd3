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

/// A `llama-server` stand-in: llama-cpp-python's server under llama.cpp's argument names.
const WRAPPER: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    -c) ctx=$2; shift 2 ;;
    *) shift ;;
  esac
done
exec python3 -m llama_cpp.server --model "$model" --host "$host" --port "$port" --n_ctx "$ctx" --n_threads 2
"#;

#[tokio::test]
async fn a_supervised_local_model_starts_on_first_use_and_restarts_after_a_crash() {
    let Some(model) = botstate::testing::service_url("BOT_TEST_LLM_MODEL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("llama-server");
    std::fs::write(&program, WRAPPER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = [
        ("llm-provider", "llamacpp"),
        ("llm-model-file", model.as_str()),
        ("llm-context", "1024"),
        ("llm-max-tokens", "8"),
    ];
    let program = program.to_string_lossy().to_string();
    let f = provider("", &settings, |c| c.llama_server = program.clone());
    let req = ChatRequest {
        bot: Some(f.bot),
        messages: vec![ChatMessage::new("user", "Say hello.")],
        ..Default::default()
    };
    let first = f
        .llm
        .chat(req.clone())
        .await
        .expect("the supervised server answers");
    assert!(!first.content.trim().is_empty());
    let pid = f.llm.local.pid(&model).expect("running");
    // A crash: the supervisor starts it again and the next call is answered.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let again = f.llm.chat(req).await.expect("answered after the restart");
    assert!(!again.content.trim().is_empty());
    let new_pid = f.llm.local.pid(&model).expect("running again");
    assert_ne!(new_pid, pid);
    assert_eq!(f.llm.local.starts.load(std::sync::atomic::Ordering::Relaxed), 2);
}
