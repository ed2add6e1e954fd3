//! `POST /api/bots/{bot}/webhooks/{name}`: runs the bot's `WEBHOOK "name"` script with
//! the request's JSON as its `body`, and answers `{result, messages}`.
//!
//! The route is public, so the webhook's secret is the credential: the bot's config.csv
//! key `webhook-<name>-key` (or `webhook-key` for all its webhooks), presented either as
//! `X-Webhook-Key: <secret>` or as `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! (the form GitHub and others send). A webhook without a configured secret is refused
//! (403), a wrong or missing one is 401, a body over 256 KiB is 413, a body that is not
//! JSON is 400, a paused webhook 409; nothing runs then. Each call is a run in the job's
//! history.

use crate::TasksModule;
use crate::scheduler::DbScheduler;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use botlib::{AppError, AppResult};
use botserver_core::access::Routes;
use botserver_core::error::ApiResult;
use botstate::BotRegistry;
use botstate::auth::Access;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;

/// Largest webhook body.
pub const MAX_BODY: usize = 256 * 1024;

/// What the route needs.
#[derive(Clone)]
pub struct Webhooks {
    /// The scheduler.
    pub scheduler: Arc<DbScheduler>,
    /// Bots by name (their settings hold the secrets).
    pub bots: Arc<BotRegistry>,
    /// The domain (its runner).
    pub module: Arc<TasksModule>,
}

/// The route.
pub fn routes(w: Webhooks) -> Routes {
    Routes::new()
        .post("/api/bots/{bot}/webhooks/{name}", Access::Public, webhook)
        .with_state(w)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the request's credential against the webhook's secret.
fn authorize(secret: &str, headers: &HeaderMap, body: &[u8]) -> AppResult<()> {
    if let Some(key) = headers.get("x-webhook-key").and_then(|v| v.to_str().ok()) {
        return if same(key.trim().as_bytes(), secret.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::Unauthorized)
        };
    }
    let signature = headers
        .get("x-signature-256")
        .or_else(|| headers.get("x-hub-signature-256"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("sha256="))
        .ok_or(AppError::Unauthorized)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    if same(
        hex(&mac.finalize().into_bytes()).as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

async fn webhook(
    State(w): State<Webhooks>,
    Path((bot, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let info = w.bots.by_name(&bot).ok_or(AppError::NotFound)?;
    if body.len() > MAX_BODY {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: MAX_BODY as u64,
        }
        .into());
    }
    let secret = info
        .get(&format!("webhook-{}-key", name.to_ascii_lowercase()))
        .or_else(|| info.get("webhook-key"))
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            tracing::warn!(bot = %bot, webhook = %name, "a webhook without a secret was called: set webhook-<name>-key in config.csv");
            AppError::Forbidden
        })?;
    authorize(secret.trim(), &headers, &body)?;
    let job = w
        .scheduler
        .event_jobs(info.id, &format!("webhook:{name}"))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    if job.paused {
        return Err(AppError::Conflict(format!("the webhook `{name}` is paused")).into());
    }
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_request(format!("the body is not JSON: {e}")))?
    };
    let runner = w
        .module
        .runner
        .get()
        .ok_or_else(|| AppError::Unavailable("the scheduler is not running".into()))?;
    let out = runner.run_now(&job, "webhook", payload).await?;
    Ok(Json(json!({ "result": out.result, "messages": out.messages })))
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{OpenApiBuilder, ResponseBuilder};
    let mut op = OperationBuilder::new()
        .summary(Some(
            "Run the bot's WEBHOOK script with the JSON body (X-Webhook-Key or X-Signature-256: sha256=<HMAC of the body>): {result, messages}",
        ))
        .tag("scheduler")
        .response("200", ResponseBuilder::new().description("The script's result"));
    for (code, what) in [
        ("400", "The body is not JSON, or the script failed"),
        ("401", "Missing or wrong secret"),
        ("403", "The webhook has no secret configured"),
        ("404", "No such bot or webhook"),
        ("413", "Body over 256 KiB"),
    ] {
        op = op.response(code, ResponseBuilder::new().description(what));
    }
    let paths = PathsBuilder::new().path(
        "/api/bots/{bot}/webhooks/{name}",
        PathItem::new(HttpMethod::Post, op.build()),
    );
    OpenApiBuilder::new().paths(paths.build()).build()
}
