//! What a call must pass before it is sent: the per-minute rate limits (per bot, per
//! organization; counted in the cache backend, so every instance shares them) and the
//! monthly token budgets (summed from `llm_usage`). A refusal is
//! [`AppError::RateLimited`] with the seconds until the limit resets, which the chat turns
//! into a polite message.

use crate::usage;
use botlib::{AppError, AppResult};
use botstate::{Cache, Db};
use std::time::Duration;

/// The limits that apply to one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The bot (`-` when none).
    pub bot: String,
    /// Its organization.
    pub org: String,
    /// Calls per minute for the bot; 0 unlimited.
    pub bot_rpm: u32,
    /// Calls per minute for the organization; 0 unlimited.
    pub org_rpm: u32,
    /// Tokens per month for the bot; 0 unlimited.
    pub bot_monthly_tokens: u64,
    /// Tokens per month for the organization; 0 unlimited.
    pub org_monthly_tokens: u64,
}

/// Counts this call against the rate limits and checks the budgets.
pub async fn admit(cache: &dyn Cache, db: &Db, l: &Limits) -> AppResult<()> {
    let now = chrono::Utc::now();
    let minute = now.timestamp() / 60;
    let to_next_minute = (60 - now.timestamp() % 60) as u64;
    for (scope, key, limit) in [("bot", &l.bot, l.bot_rpm), ("org", &l.org, l.org_rpm)] {
        if limit == 0 {
            continue;
        }
        let n = cache
            .incr(
                &format!("llm:rpm:{scope}:{key}:{minute}"),
                1,
                Some(Duration::from_secs(120)),
            )
            .await?;
        if n > limit as i64 {
            return Err(AppError::RateLimited {
                retry_after_secs: to_next_minute,
            });
        }
    }
    if l.bot_monthly_tokens == 0 && l.org_monthly_tokens == 0 {
        return Ok(());
    }
    let since = usage::month_start_ms(now);
    let to_next_month = ((usage::next_month_ms(now) - now.timestamp_millis()) / 1000).max(1) as u64;
    let (bot, org, bl, ol) = (
        l.bot.clone(),
        l.org.clone(),
        l.bot_monthly_tokens,
        l.org_monthly_tokens,
    );
    let over = db
        .run(move |c| {
            if bl > 0 && usage::tokens_since(c, &bot, false, since)? >= bl as i64 {
                return Ok(true);
            }
            Ok(ol > 0 && usage::tokens_since(c, &org, true, since)? >= ol as i64)
        })
        .await?;
    if over {
        return Err(AppError::RateLimited {
            retry_after_secs: to_next_month,
        });
    }
    Ok(())
}

/// Seconds after which a refusal means "the budget is used up" rather than "slow down".
pub const BUDGET_REFUSAL_SECS: u64 = 3600;
