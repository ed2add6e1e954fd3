//! HTTP to model providers: connect and request timeouts, and retries with exponential
//! back-off on 429 and 5xx that honour the provider's `Retry-After` (seconds or an HTTP
//! date), capped. Errors become [`AppError`]s a caller can act on, never a provider's raw
//! body beyond a short excerpt.

use botlib::{AppError, AppResult};
use botstate::config::LlmConfig;
use std::time::Duration;

/// The HTTP client with the server's limits.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    /// Whole-call timeout for non-streamed calls and the wait for a stream's headers.
    pub request_timeout: Duration,
    /// Longest silence inside a stream.
    pub idle_timeout: Duration,
    max_retries: u32,
    max_retry_after: Duration,
    /// First back-off step.
    pub base_backoff: Duration,
}

impl Transport {
    /// A client from the `[llm]` settings.
    pub fn new(cfg: &LlmConfig) -> AppResult<Transport> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("botserver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AppError::internal)?;
        Ok(Transport {
            client,
            request_timeout: Duration::from_secs(cfg.request_timeout_secs),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_secs),
            max_retries: cfg.max_retries,
            max_retry_after: Duration::from_secs(cfg.max_retry_after_secs),
            base_backoff: Duration::from_millis(500),
        })
    }

    /// The client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (again on each retry) and returns a successful
    /// response; `streaming` leaves the body unread and bounds only the wait for headers.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        streaming: bool,
    ) -> AppResult<reqwest::Response> {
        let mut attempt = 0u32;
        loop {
            let mut req = build(&self.client);
            if !streaming {
                req = req.timeout(self.request_timeout);
            }
            let sent = tokio::time::timeout(self.request_timeout, req.send()).await;
            let (retry_after, err) = match sent {
                Err(_) => (None, AppError::Unavailable("the language model timed out".into())),
                Ok(Err(e)) if e.is_timeout() => {
                    (None, AppError::Unavailable("the language model timed out".into()))
                }
                Ok(Err(e)) if e.is_connect() => (
                    None,
                    AppError::Unavailable(format!(
                        "cannot reach the language model: {}",
                        short(&e.to_string())
                    )),
                ),
                Ok(Err(e)) => {
                    return Err(AppError::Unavailable(format!(
                        "language model request failed: {}",
                        short(&e.to_string())
                    )));
                }
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    if status.is_success() {
                        return Ok(resp);
                    }
                    let retry_after = parse_retry_after(resp.headers());
                    let body = resp.text().await.unwrap_or_default();
                    let err = status_error(status.as_u16(), &body, retry_after);
                    if !(status.as_u16() == 429 || status.is_server_error()) {
                        return Err(err);
                    }
                    (retry_after, err)
                }
            };
            if attempt >= self.max_retries {
                return Err(err);
            }
            let wait = match retry_after {
                Some(ra) if ra > self.max_retry_after => return Err(err),
                Some(ra) => ra,
                None => self.backoff(attempt),
            };
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "llm: retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Back-off before retry `attempt` (0-based): base × 2^attempt, ±25 % jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.base_backoff.as_millis() as u64 * (1u64 << attempt.min(10));
        let mut b = [0u8; 2];
        clock_noise(&mut b);
        let jitter = (u16::from_le_bytes(b) as u64 % (base / 2 + 1)) as i64 - (base / 4) as i64;
        Duration::from_millis((base as i64 + jitter).max(1) as u64)
    }
}

fn clock_noise(b: &mut [u8]) {
    // Jitter needs no cryptographic quality: the clock's nanoseconds will do.
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for (i, x) in b.iter_mut().enumerate() {
        *x = (n >> (i * 8)) as u8;
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(ms.max(0) as u64))
}

/// The error for a failed status, with the provider's message (short) when it gave one.
pub fn status_error(status: u16, body: &str, retry_after: Option<Duration>) -> AppError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.pointer("/error"))
                .or_else(|| v.pointer("/message"))
                .and_then(|m| m.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| body.to_string());
    let message = short(&message);
    match status {
        400 | 404 | 413 | 422 => {
            AppError::BadRequest(format!("the language model refused the request: {message}"))
        }
        401 | 403 => AppError::Unavailable("the language model refused the configured key".into()),
        429 => AppError::RateLimited {
            retry_after_secs: retry_after.map(|d| d.as_secs().max(1)).unwrap_or(1),
        },
        _ => AppError::Unavailable(format!("the language model failed ({status}): {message}")),
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert("retry-after", later.parse().unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
    }

    #[test]
    fn statuses_map_to_actionable_errors() {
        assert!(matches!(
            status_error(400, r#"{"error":{"message":"bad tools"}}"#, None),
            AppError::BadRequest(m) if m.contains("bad tools")
        ));
        assert!(matches!(
            status_error(429, "", Some(Duration::from_secs(7))),
            AppError::RateLimited { retry_after_secs: 7 }
        ));
        // A key is never echoed: 401 says only that the key was refused.
        assert!(
            matches!(status_error(401, "sk-secret wrong", None), AppError::Unavailable(m) if !m.contains("sk-"))
        );
    }

    #[test]
    fn backoff_grows() {
        let t = Transport::new(&LlmConfig::default()).unwrap();
        let (a, b) = (t.backoff(0), t.backoff(3));
        assert!(
            a >= Duration::from_millis(375) && a <= Duration::from_millis(625),
            "{a:?}"
        );
        assert!(b >= Duration::from_millis(3000), "{b:?}");
    }
}
