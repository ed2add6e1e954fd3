//! Usage accounting: one `llm_usage` row per model call (tokens, latency, time to first
//! token, model, estimated cost, cache hit, outcome), the monthly totals budgets are
//! checked against, and the per-model price table behind the cost estimate.

use botlib::AppResult;
use botstate::{AnyConnection, Db, DbErr};
use diesel::prelude::*;
use serde::Serialize;

diesel::table! {
    llm_usage (id) {
        id -> Text,
        at_ms -> BigInt,
        bot_id -> Text,
        org -> Text,
        session_id -> Nullable<Text>,
        provider -> Text,
        model -> Text,
        kind -> Text,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        latency_ms -> BigInt,
        ttft_ms -> Nullable<BigInt>,
        cost_micros -> BigInt,
        cached -> Bool,
        outcome -> Text,
    }
}

/// One call.
#[derive(Clone, Debug, Insertable, Queryable, Serialize, PartialEq)]
#[diesel(table_name = llm_usage)]
pub struct UsageRow {
    /// Random id.
    pub id: String,
    /// When the call started, Unix ms.
    pub at_ms: i64,
    /// The bot (`-` for calls without one).
    pub bot_id: String,
    /// The bot's `organization` (or `default`).
    pub org: String,
    /// The conversation.
    pub session_id: Option<String>,
    /// `openai`, `anthropic`, …
    pub provider: String,
    /// The model.
    pub model: String,
    /// `chat`, `stream` or `embed`.
    pub kind: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Whole call, ms.
    pub latency_ms: i64,
    /// Time to the first streamed piece, ms.
    pub ttft_ms: Option<i64>,
    /// Estimated cost in millionths of a dollar.
    pub cost_micros: i64,
    /// Answered from the response cache.
    pub cached: bool,
    /// `ok`, `error`, `cancelled`.
    pub outcome: String,
}

/// Dollars per million prompt and completion tokens: the bot's `llm-price-input` /
/// `llm-price-output`, else a small table of well-known models, else free.
pub fn price(model: &str, input: Option<f64>, output: Option<f64>) -> (f64, f64) {
    let m = model.to_ascii_lowercase();
    let known = [
        ("gpt-4o-mini", (0.15, 0.6)),
        ("gpt-4o", (2.5, 10.0)),
        ("gpt-4.1-mini", (0.4, 1.6)),
        ("gpt-4.1", (2.0, 8.0)),
        ("claude-3-5-haiku", (0.8, 4.0)),
        ("claude-3-5-sonnet", (3.0, 15.0)),
        ("claude-sonnet-4", (3.0, 15.0)),
        ("text-embedding-3-small", (0.02, 0.0)),
    ];
    let table = known
        .iter()
        .find(|(p, _)| m.starts_with(p))
        .map(|(_, c)| *c)
        .unwrap_or((0.0, 0.0));
    (input.unwrap_or(table.0), output.unwrap_or(table.1))
}

/// Cost in millionths of a dollar.
pub fn cost_micros(prices: (f64, f64), prompt: u32, completion: u32) -> i64 {
    (prices.0 * prompt as f64 + prices.1 * completion as f64).round() as i64
}

/// Stores a row (through the group-committing writer).
pub async fn record(db: &Db, row: UsageRow) -> AppResult<()> {
    db.write(move |c| {
        diesel::insert_into(llm_usage::table).values(&row).execute(c)?;
        Ok(())
    })
    .await
}

/// Start of the current calendar month (UTC), Unix ms.
pub fn month_start_ms(now: chrono::DateTime<chrono::Utc>) -> i64 {
    use chrono::Datelike;
    chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// Start of the next calendar month (UTC), Unix ms.
pub fn next_month_ms(now: chrono::DateTime<chrono::Utc>) -> i64 {
    use chrono::Datelike;
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// Tokens used since `since_ms` by a bot (`by_org = false`) or an organization.
pub fn tokens_since(c: &mut AnyConnection, key: &str, by_org: bool, since_ms: i64) -> Result<i64, DbErr> {
    let q = llm_usage::table
        .filter(llm_usage::at_ms.ge(since_ms))
        .select((llm_usage::prompt_tokens, llm_usage::completion_tokens));
    let rows: Vec<(i64, i64)> = if by_org {
        q.filter(llm_usage::org.eq(key)).load(c)?
    } else {
        q.filter(llm_usage::bot_id.eq(key)).load(c)?
    };
    Ok(rows.iter().map(|(p, c)| p + c).sum())
}

/// Totals since `since_ms`, per bot and model.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UsageTotal {
    /// The bot.
    pub bot_id: String,
    /// The model.
    pub model: String,
    /// Calls.
    pub calls: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Estimated cost, dollars.
    pub cost_usd: f64,
    /// Calls answered from the cache.
    pub cached: i64,
    /// Calls that failed.
    pub errors: i64,
    /// Mean latency, ms.
    pub mean_latency_ms: i64,
}

/// Totals per bot and model since `since_ms`.
pub fn totals(c: &mut AnyConnection, since_ms: i64) -> Result<Vec<UsageTotal>, DbErr> {
    let rows: Vec<UsageRow> = llm_usage::table.filter(llm_usage::at_ms.ge(since_ms)).load(c)?;
    let mut map: std::collections::BTreeMap<(String, String), UsageTotal> = Default::default();
    for r in rows {
        let t = map
            .entry((r.bot_id.clone(), r.model.clone()))
            .or_insert_with(|| UsageTotal {
                bot_id: r.bot_id.clone(),
                model: r.model.clone(),
                calls: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost_usd: 0.0,
                cached: 0,
                errors: 0,
                mean_latency_ms: 0,
            });
        t.calls += 1;
        t.prompt_tokens += r.prompt_tokens;
        t.completion_tokens += r.completion_tokens;
        t.cost_usd += r.cost_micros as f64 / 1e6;
        t.cached += r.cached as i64;
        t.errors += (r.outcome == "error") as i64;
        t.mean_latency_ms += r.latency_ms;
    }
    Ok(map
        .into_values()
        .map(|mut t| {
            t.mean_latency_ms /= t.calls.max(1);
            t
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn months_and_prices() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 17, 10, 0, 0).unwrap();
        assert_eq!(
            month_start_ms(now),
            chrono::Utc
                .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            next_month_ms(now),
            chrono::Utc
                .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(price("gpt-4o-mini-2024", None, None), (0.15, 0.6));
        assert_eq!(price("my-local", Some(1.0), None), (1.0, 0.0));
        assert_eq!(cost_micros((2.5, 10.0), 1000, 100), 3500);
    }
}
