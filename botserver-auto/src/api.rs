//! HTTP routes of the BASIC engine: run a dialog turn, list and call a bot's tools, fire a
//! bot's webhooks, and see each bot's compile errors; the package admin routes (upload,
//! export, reload, delete, errors) are in [`crate::admin`]. The chat domain (WebSocket,
//! sessions) builds on the same [`Dialogs`] engine.

use crate::dialog::Dialogs;
use crate::runtime::SessionInfo;
use axum::Json;
use axum::extract::{Path, State};
use botlib::{AppError, BotId};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::{ApiResult, AppJson};
use botstate::auth::{Access, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<Dialogs>>;

/// The routes; `dialogs` is the engine `install` created.
pub fn routes(dialogs: Arc<Dialogs>) -> Routes {
    let user = Access::Role(Role::User);
    let bot_admin = Access::Role(Role::BotAdmin);
    Routes::new()
        .get("/api/bots", bot_admin, list_bots)
        .post("/api/bots/{bot}/dialog", user, dialog_turn)
        .get("/api/bots/{bot}/tools", user, list_tools)
        .post("/api/bots/{bot}/tools/{tool}", user, call_tool)
        .merge(crate::admin::routes())
        .with_state(dialogs)
}

fn bot_id(dialogs: &Dialogs, name: &str) -> Result<(BotId, Arc<crate::package::Package>), AppError> {
    let id = BotId::for_name(name);
    let pkg = dialogs.package(id).ok_or(AppError::NotFound)?;
    Ok((id, pkg))
}

fn info_for(
    caller: &botstate::auth::Principal,
    bot: BotId,
    pkg: &crate::package::Package,
    session: &str,
) -> SessionInfo {
    SessionInfo {
        bot_id: bot,
        bot_name: pkg.name.clone(),
        // Sessions are per caller: one user can never reach another's conversation.
        session_id: format!("{bot}:{}:{session}", caller.user),
        user_id: caller.user.to_string(),
        user_name: caller.name.clone(),
        user_email: String::new(),
        user_phone: String::new(),
        channel: "api".into(),
        language: pkg.config.get("language").cloned().unwrap_or_else(|| "en".into()),
    }
}

/// A bot and the state of its scripts.
#[derive(Serialize)]
struct BotSummary {
    name: String,
    id: String,
    scripts: usize,
    tools: Vec<String>,
    errors: Vec<String>,
}

async fn list_bots(State(d): S, Caller(p): Caller) -> ApiResult<Json<Vec<BotSummary>>> {
    let mut out: Vec<BotSummary> = d
        .packages()
        .into_iter()
        .filter(|pkg| p.can_admin_bot(&pkg.name))
        .map(|pkg| BotSummary {
            id: BotId::for_name(&pkg.name).to_string(),
            scripts: pkg.sources.len(),
            tools: pkg.tools().iter().map(|t| t.name.clone()).collect(),
            errors: pkg.errors.iter().map(|e| e.to_string()).collect(),
            name: pkg.name.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

/// One turn of a dialog.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnRequest {
    /// The caller's name for the conversation (1 to 100 characters).
    session: String,
    /// The user's message; absent to start.
    message: Option<String>,
}

/// Largest user message accepted by a dialog turn.
const MAX_MESSAGE_BYTES: usize = 16 * 1024;

async fn dialog_turn(
    State(d): S,
    Caller(p): Caller,
    Path(bot): Path<String>,
    AppJson(req): AppJson<TurnRequest>,
) -> ApiResult<Json<Value>> {
    if req.session.is_empty() || req.session.len() > 100 {
        return Err(AppError::BadRequest("session must be 1 to 100 characters".into()).into());
    }
    if req.message.as_ref().is_some_and(|m| m.len() > MAX_MESSAGE_BYTES) {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: MAX_MESSAGE_BYTES as u64,
        }
        .into());
    }
    if !p.can_use_bot(&bot) {
        return Err(AppError::Forbidden.into());
    }
    let (id, pkg) = bot_id(&d, &bot)?;
    let out = d.turn(info_for(&p, id, &pkg, &req.session), req.message).await?;
    Ok(Json(json!({
        "messages": out.messages,
        "waiting_for_input": out.waiting_for_input,
    })))
}

async fn list_tools(State(d): S, Caller(p): Caller, Path(bot): Path<String>) -> ApiResult<Json<Value>> {
    if !p.can_use_bot(&bot) {
        return Err(AppError::Forbidden.into());
    }
    let (_, pkg) = bot_id(&d, &bot)?;
    let tools: Vec<Value> = pkg
        .tools()
        .iter()
        .map(|t| json!({ "name": t.name, "openai": t.openai(), "mcp": t.mcp() }))
        .collect();
    Ok(Json(Value::Array(tools)))
}

async fn call_tool(
    State(d): S,
    Caller(p): Caller,
    Path((bot, tool)): Path<(String, String)>,
    AppJson(args): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    if !p.can_use_bot(&bot) {
        return Err(AppError::Forbidden.into());
    }
    let (id, pkg) = bot_id(&d, &bot)?;
    let run = d
        .run_tool(info_for(&p, id, &pkg, "tool"), &format!("{tool}.bas"), &args)
        .await?;
    Ok(Json(json!({ "result": run.result, "messages": run.messages })))
}

/// The engine's paths for `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::{PathsBuilder, ResponseBuilder};
    let op = |summary: &str| {
        OperationBuilder::new()
            .summary(Some(summary))
            .tag("bots")
            .response("200", ResponseBuilder::new().description("OK"))
            .build()
    };
    let mut paths = PathsBuilder::new()
        .path(
            "/api/bots",
            PathItem::new(
                HttpMethod::Get,
                op("Bots this caller administers, with compile errors"),
            ),
        )
        .path(
            "/api/bots/{bot}/dialog",
            PathItem::new(
                HttpMethod::Post,
                op("One dialog turn: {session, message?} -> {messages, waiting_for_input}"),
            ),
        )
        .path(
            "/api/bots/{bot}/tools",
            PathItem::new(HttpMethod::Get, op("The bot's tools (OpenAI and MCP shapes)")),
        )
        .path(
            "/api/bots/{bot}/tools/{tool}",
            PathItem::new(
                HttpMethod::Post,
                op("Run a tool with JSON arguments -> {result, messages}"),
            ),
        )
        .build();
    paths.merge(crate::admin::openapi_paths());
    utoipa::openapi::OpenApiBuilder::new().paths(paths).build()
}
