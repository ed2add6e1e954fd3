//! REST of the language-model domain: usage totals for administrators.

use crate::usage::{self, UsageTotal};
use axum::Json;
use axum::extract::{Query, State};
use botserver_core::ApiResult;
use botserver_core::access::Routes;
use botstate::AppState;
use botstate::auth::{Access, Role};
use serde::Deserialize;
use std::sync::Arc;

/// The routes.
pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new().get("/api/llm/usage", Access::Role(Role::Admin), usage_totals)
}

/// `?since=` Unix ms; default: the start of this month.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UsageQuery {
    /// Unix ms.
    pub since: Option<i64>,
}

/// Model usage per bot and model since a time (default: this month).
#[utoipa::path(get, path = "/api/llm/usage", params(UsageQuery),
    responses((status = 200, body = Vec<UsageTotal>), (status = 403, description = "Not an administrator")),
    tag = "llm")]
pub async fn usage_totals(
    State(state): State<Arc<AppState>>,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Json<Vec<UsageTotal>>> {
    let since = q
        .since
        .unwrap_or_else(|| usage::month_start_ms(chrono::Utc::now()));
    let rows = state.db.run(move |c| usage::totals(c, since)).await?;
    Ok(Json(rows))
}

/// The OpenAPI part.
#[derive(utoipa::OpenApi)]
#[openapi(paths(usage_totals), components(schemas(UsageTotal)))]
pub struct LlmApi;
