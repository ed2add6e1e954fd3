//! Bot and user memory (spec §6): persistent key-values per bot, or per bot and user,
//! optionally expiring (`REMEMBER "k", v, "30 days"`). Reads are journaled, writes are
//! side effects made durable before the script goes on.

use super::values as v;
use super::{runtime_error, with_ctx};
use crate::schema::bot_memory as m;
use botstate::AnyConnection;
use diesel::prelude::*;
use rhai::{Array, Dynamic, EvalAltResult};
use serde_json::Value as Json;

type R = Result<Dynamic, Box<EvalAltResult>>;

/// Largest stored value, in bytes of JSON.
const MAX_VALUE_BYTES: usize = 64 * 1024;

pub(super) fn call(name: &str, a: &Array) -> R {
    let key = a.first().map(v::text).unwrap_or_default();
    if key.is_empty() || key.len() > 200 {
        return Err(runtime_error(format!(
            "{name}: the key must be 1 to 200 characters"
        )));
    }
    let value = a.get(1).map(v::to_json).unwrap_or(Json::Null);
    let ttl = a.get(2).map(v::text);
    let (user_scope, write) = match name {
        "SET BOT MEMORY" => (false, true),
        "GET BOT MEMORY" => (false, false),
        "SET USER MEMORY" | "REMEMBER" => (true, true),
        _ => (true, false),
    };
    let expires_in = match ttl.as_deref() {
        Some(t) if !t.trim().is_empty() => Some(duration_ms(t).map_err(runtime_error)?),
        _ => None,
    };
    let j = with_ctx(|ctx| {
        let scope = if user_scope {
            format!("user:{}", ctx.session.user_id)
        } else {
            "bot".to_string()
        };
        let bot = ctx.session.bot_id.to_string();
        let r = ctx.effect(name, |ctx| {
            let now = ctx.now_ms();
            let mut conn = ctx.services.db.get().map_err(|e| e.to_string())?;
            if write {
                let text = value.to_string();
                if text.len() > MAX_VALUE_BYTES {
                    return Err(format!(
                        "{name}: the value is larger than {MAX_VALUE_BYTES} bytes"
                    ));
                }
                set(
                    &mut conn,
                    &bot,
                    &scope,
                    &key,
                    &text,
                    expires_in.map(|d| now.saturating_add(d)),
                    now,
                )
                .map_err(|e| e.to_string())?;
                Ok(Json::Null)
            } else {
                get(&mut conn, &bot, &scope, &key, now).map_err(|e| e.to_string())
            }
        });
        if write && r.is_ok() {
            ctx.checkpoint()?;
        }
        r
    })??;
    Ok(v::from_json(&j))
}

/// `"30 days"`, `"2 hours"`, `"10 minutes"`, `"45 seconds"`, `"1 week"`, or a number of days.
pub fn duration_ms(t: &str) -> Result<i64, String> {
    let t = t.trim().to_lowercase();
    let (n, unit) = t.split_once(' ').unwrap_or((t.as_str(), "days"));
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("REMEMBER: {t:?} is not a duration (for example \"30 days\")"))?;
    let unit_ms = match unit.trim().trim_end_matches('s') {
        "second" | "sec" => 1_000.0,
        "minute" | "min" => 60_000.0,
        "hour" => 3_600_000.0,
        "day" => 86_400_000.0,
        "week" => 7.0 * 86_400_000.0,
        "month" => 30.0 * 86_400_000.0,
        "year" => 365.0 * 86_400_000.0,
        other => {
            return Err(format!(
                "REMEMBER: unknown unit {other:?} (seconds, minutes, hours, days…)"
            ));
        }
    };
    if n.is_nan() || n <= 0.0 {
        return Err("REMEMBER: the duration must be positive".into());
    }
    Ok((n * unit_ms) as i64)
}

fn set(
    conn: &mut AnyConnection,
    bot: &str,
    scope: &str,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
    now: i64,
) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::delete(
            m::table
                .filter(m::bot_id.eq(bot))
                .filter(m::scope.eq(scope))
                .filter(m::mkey.eq(key)),
        )
        .execute(c)?;
        diesel::insert_into(m::table)
            .values((
                m::bot_id.eq(bot),
                m::scope.eq(scope),
                m::mkey.eq(key),
                m::value.eq(value),
                m::expires_at.eq(expires_at),
                m::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    })
}

fn get(conn: &mut AnyConnection, bot: &str, scope: &str, key: &str, now: i64) -> QueryResult<Json> {
    let row: Option<(String, Option<i64>)> = m::table
        .filter(m::bot_id.eq(bot))
        .filter(m::scope.eq(scope))
        .filter(m::mkey.eq(key))
        .select((m::value, m::expires_at))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((value, exp)) if exp.is_none_or(|e| e > now) => {
            serde_json::from_str(&value).unwrap_or(Json::Null)
        }
        _ => Json::Null,
    })
}
