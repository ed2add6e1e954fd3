//! Deterministic behaviour against the scripted model server (a test double).

use crate::support::{provider, usage_rows};
use botlib::AppError;
use botserver_llm::double::{ScriptedModelServer, Step};
use botstate::services::{ChatChunk, ChatMessage, ChatRequest, LlmProvider};
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

fn ask(bot: botlib::BotId, text: &str) -> ChatRequest {
    ChatRequest {
        bot: Some(bot),
        messages: vec![ChatMessage::new("user", text)],
        ..Default::default()
    }
}

async fn collect(llm: &dyn LlmProvider, req: ChatRequest) -> Vec<botlib::AppResult<ChatChunk>> {
    llm.chat_stream(req).await.expect("stream starts").collect().await
}

#[tokio::test]
async fn a_streamed_answer_arrives_in_pieces_and_its_usage_is_recorded() {
    let server = ScriptedModelServer::start(vec![Step::Text("Hello there, friend.".into())]).await;
    let f = provider(&server.url(), &[], |_| {});
    let chunks = collect(&f.llm, ask(f.bot, "hi")).await;
    let texts: Vec<String> = chunks
        .iter()
        .filter_map(|c| match c {
            Ok(ChatChunk::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert!(texts.len() >= 2, "streamed in pieces: {texts:?}");
    assert_eq!(texts.concat(), "Hello there, friend.");
    assert!(
        matches!(chunks.last(), Some(Ok(ChatChunk::Done(u))) if u.prompt_tokens == 12 && u.completion_tokens == 5)
    );
    let body = &server.requests()[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "scripted-model");
    let rows = usage_rows(&f.db, 1).await;
    assert_eq!((rows[0].prompt_tokens, rows[0].completion_tokens), (12, 5));
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].outcome.as_str()),
        ("stream", "ok")
    );
    assert_eq!(rows[0].bot_id, f.bot.to_string());
    assert!(rows[0].ttft_ms.is_some());
}

#[tokio::test]
async fn tool_calls_are_assembled_and_offered_tools_sent() {
    let server = ScriptedModelServer::start(vec![Step::Tool {
        name: "forecast".into(),
        arguments: r#"{"city":"Rio de Janeiro"}"#.into(),
    }])
    .await;
    let f = provider(&server.url(), &[], |_| {});
    let mut req = ask(f.bot, "weather?");
    req.tools =
        vec![json!({"type":"function","function":{"name":"forecast","parameters":{"type":"object"}}})];
    let chunks = collect(&f.llm, req.clone()).await;
    let call = chunks
        .iter()
        .find_map(|c| match c {
            Ok(ChatChunk::ToolCall(c)) => Some(c.clone()),
            _ => None,
        })
        .expect("a tool call");
    assert_eq!((call.id.as_str(), call.name.as_str()), ("call_1", "forecast"));
    assert_eq!(call.arguments, json!({"city": "Rio de Janeiro"}));
    assert_eq!(server.requests()[0]["tools"][0]["function"]["name"], "forecast");
    // The same, not streamed.
    let r = f.llm.chat(req).await.unwrap();
    assert_eq!(r.tool_calls[0].arguments, json!({"city": "Rio de Janeiro"}));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let server = ScriptedModelServer::start(vec![
        Step::Status {
            code: 429,
            retry_after: Some("1".into()),
        },
        Step::Text("finally".into()),
    ])
    .await;
    let f = provider(&server.url(), &[], |_| {});
    let t = Instant::now();
    let r = f.llm.chat(ask(f.bot, "hi")).await.unwrap();
    assert_eq!(r.content, "finally");
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_or_repeated_5xx_give_up_with_a_clear_error() {
    let server = ScriptedModelServer::start(vec![Step::Status {
        code: 429,
        retry_after: Some("3600".into()),
    }])
    .await;
    let f = provider(&server.url(), &[], |_| {});
    let e = f.llm.chat(ask(f.bot, "hi")).await.unwrap_err();
    assert!(
        matches!(
            e,
            AppError::RateLimited {
                retry_after_secs: 3600
            }
        ),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 1, "not retried");
    server.set_script(vec![Step::Status {
        code: 503,
        retry_after: None,
    }]);
    let e = f.llm.chat(ask(f.bot, "hi")).await.unwrap_err();
    assert!(
        matches!(&e, AppError::Unavailable(m) if m.contains("503")),
        "{e:?}"
    );
    assert_eq!(
        server.requests().len(),
        1 + 3,
        "first try and max_retries=2 retries"
    );
}

#[tokio::test]
async fn a_hanging_model_times_out_and_a_silent_stream_is_abandoned() {
    let server = ScriptedModelServer::start(vec![Step::Hang(Duration::from_secs(5))]).await;
    let f = provider(&server.url(), &[], |c| {
        c.request_timeout_secs = 1;
        c.idle_timeout_secs = 1;
        c.max_retries = 0;
    });
    let t = Instant::now();
    let e = f.llm.chat(ask(f.bot, "hi")).await.unwrap_err();
    assert!(
        matches!(&e, AppError::Unavailable(m) if m.contains("timed out")),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    server.set_script(vec![Step::Stall(Duration::from_secs(5))]);
    let chunks = collect(&f.llm, ask(f.bot, "hi")).await;
    assert!(matches!(&chunks[0], Ok(ChatChunk::Text(t)) if t == "Hel"));
    assert!(
        matches!(chunks.last(), Some(Err(AppError::Unavailable(m))) if m.contains("silent")),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn an_exhausted_budget_and_the_rate_limit_refuse_politely() {
    let server = ScriptedModelServer::start(vec![Step::Text("ok".into())]).await;
    let f = provider(&server.url(), &[("llm-monthly-tokens", "10")], |_| {});
    f.llm.chat(ask(f.bot, "one")).await.unwrap();
    usage_rows(&f.db, 1).await;
    let e = f.llm.chat(ask(f.bot, "two")).await.unwrap_err();
    assert!(
        matches!(e, AppError::RateLimited { retry_after_secs } if retry_after_secs >= 3600),
        "{e:?}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "the refused call never reached the model"
    );

    let g = provider(&server.url(), &[("llm-requests-per-minute", "1")], |_| {});
    g.llm.chat(ask(g.bot, "one")).await.unwrap();
    let e = g.llm.chat(ask(g.bot, "two")).await.unwrap_err();
    assert!(
        matches!(e, AppError::RateLimited { retry_after_secs } if retry_after_secs <= 60),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_response_cache_answers_a_repeated_question_without_calling_the_model() {
    let server = ScriptedModelServer::start(vec![Step::Text("Cached answer.".into())]).await;
    let f = provider(&server.url(), &[("llm-cache", "true")], |_| {});
    assert_eq!(
        f.llm.chat(ask(f.bot, "same?")).await.unwrap().content,
        "Cached answer."
    );
    let streamed = collect(&f.llm, ask(f.bot, "same?")).await;
    assert!(matches!(&streamed[0], Ok(ChatChunk::Text(t)) if t == "Cached answer."));
    assert_eq!(server.requests().len(), 1);
    f.llm.chat(ask(f.bot, "different?")).await.unwrap();
    assert_eq!(server.requests().len(), 2);
    let rows = usage_rows(&f.db, 3).await;
    assert_eq!(rows.iter().filter(|r| r.cached).count(), 1);
}

#[tokio::test]
async fn embeddings_come_from_the_configured_model_in_batches() {
    let server = ScriptedModelServer::start(vec![]).await;
    let f = provider(&server.url(), &[("embedding-model", "e5")], |_| {});
    let texts: Vec<String> = (0..150).map(|i| format!("text {i}")).collect();
    let v = f.llm.embed(Some(f.bot), texts).await.unwrap();
    assert_eq!(v.len(), 150);
    assert_eq!(v[0].len(), 8);
    assert_ne!(v[0], v[1]);
    let none = provider(&server.url(), &[], |_| {});
    assert!(matches!(
        none.llm.embed(Some(none.bot), vec!["x".into()]).await,
        Err(AppError::NotConfigured(_))
    ));
}
