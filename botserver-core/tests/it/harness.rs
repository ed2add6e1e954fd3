//! A test module with routes that misbehave on purpose.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::IntoResponse;
use botserver_core::{ApiResult, AppJson, Module, Routes};
use botstate::AppState;
use botstate::auth::{Access, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, Serialize)]
pub struct Echo {
    pub text: String,
}

async fn echo(AppJson(body): AppJson<Echo>) -> ApiResult<axum::Json<Echo>> {
    Ok(axum::Json(body))
}

async fn panics() -> &'static str {
    panic!("boom")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "finally"
}

async fn big() -> String {
    "botserver ".repeat(2000)
}

async fn conflict() -> ApiResult<()> {
    Err(botlib::AppError::Conflict("that name is taken".into()))?
}

async fn socket(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |socket| async move {
        botserver_core::ws::run_socket(&state.clone(), socket, |mut handle| async move {
            while let Some(Ok(msg)) = handle.socket().recv().await {
                if let Message::Text(t) = msg
                    && handle.socket().send(Message::Text(t)).await.is_err()
                {
                    break;
                }
            }
        })
        .await;
    })
}

fn router(state: Arc<AppState>) -> Routes {
    Routes::new()
        .post("/api/test/echo", Access::Public, echo)
        .get("/api/test/panic", Access::Public, panics)
        .get("/api/test/slow", Access::Public, slow)
        .get("/api/test/big", Access::Public, big)
        .get("/api/test/conflict", Access::Public, conflict)
        .get("/api/test/ws", Access::Public, socket)
        .get("/api/test/private", Access::Role(Role::User), private)
        .with_state(state)
}

async fn private(botserver_core::Caller(p): botserver_core::Caller) -> String {
    p.name
}

#[utoipa::path(post, path = "/api/test/echo", tag = "test", responses((status = 200, description = "The same text")))]
#[allow(dead_code)] // Only its generated path item is used.
fn echo_doc() {}

#[derive(utoipa::OpenApi)]
#[openapi(paths(echo_doc))]
struct TestApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <TestApi as utoipa::OpenApi>::openapi()
}

pub const TEST_MODULE: Module = Module {
    name: "test",
    router,
    migrations: None,
    openapi,
    install: None,
    start: None,
};
