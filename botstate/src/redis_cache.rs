//! The Redis (or Valkey) backend of [`Cache`]: shared by every instance of a deployment.
//!
//! Commands go through one auto-reconnecting multiplexed connection; each subscription
//! opens its own pub/sub connection, fed into a channel by a task that ends when the
//! subscriber goes away.

use crate::cache::{Cache, LockToken, Subscription, random_token};
use async_trait::async_trait;
use botlib::{AppError, AppResult};
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// Releases a lock only when the caller still owns it (compare-and-delete).
const UNLOCK: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end";

/// Extends a lock only when the caller still owns it.
const EXTEND: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Increments and sets the TTL of a new counter atomically, so a crash between the two
/// steps cannot leave a counter that never expires.
const INCR_WITH_TTL: &str = r"local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v";

/// Cache, pub/sub and locks on Redis.
pub struct RedisCache {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

fn unavailable(e: redis::RedisError) -> AppError {
    AppError::Unavailable(format!("redis: {e}"))
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

impl RedisCache {
    /// Connects; fails when Redis does not answer within `timeout`.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, String> {
        let redacted = crate::config::redact_url(url);
        let client = redis::Client::open(url).map_err(|e| format!("redis {redacted}: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = tokio::time::timeout(timeout, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| format!("redis {redacted} unreachable: timed out"))?
            .map_err(|e| format!("redis {redacted} unreachable: {e}"))?;
        let cache = RedisCache {
            client,
            conn,
            prefix: prefix.to_string(),
        };
        cache
            .ping()
            .await
            .map_err(|e| format!("redis {redacted} unreachable: {e}"))?;
        Ok(cache)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn lock_key(&self, name: &str) -> String {
        format!("{}lock:{name}", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> AppResult<Option<Bytes>> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(v.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        cmd.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn set_nx(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX");
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        let written: Option<String> = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(written.is_some())
    }

    async fn delete(&self, key: &str) -> AppResult<bool> {
        let n: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> AppResult<i64> {
        redis::Script::new(INCR_WITH_TTL)
            .key(self.key(key))
            .arg(by)
            .arg(ttl.map_or(0, millis))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> AppResult<()> {
        redis::cmd("PUBLISH")
            .arg(self.key(channel))
            .arg(payload)
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> AppResult<Subscription> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(unavailable)?;
        pubsub.subscribe(self.key(channel)).await.map_err(unavailable)?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let mut stream = pubsub.into_on_message();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    msg = stream.next() => match msg {
                        Some(msg) => {
                            if tx.send(Bytes::copy_from_slice(msg.get_payload_bytes())).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
        });
        Ok(Subscription::from_channel(rx))
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> AppResult<Option<LockToken>> {
        let token = random_token();
        let written: Option<String> = redis::cmd("SET")
            .arg(self.lock_key(name))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(written.map(|_| LockToken {
            name: name.to_string(),
            token,
        }))
    }

    async fn unlock(&self, lock: &LockToken) -> AppResult<bool> {
        let n: i64 = redis::Script::new(UNLOCK)
            .key(self.lock_key(&lock.name))
            .arg(&lock.token)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn extend_lock(&self, lock: &LockToken, ttl: Duration) -> AppResult<bool> {
        let n: i64 = redis::Script::new(EXTEND)
            .key(self.lock_key(&lock.name))
            .arg(&lock.token)
            .arg(millis(ttl))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn ping(&self) -> AppResult<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(AppError::Unavailable(format!("redis answered {pong}")))
        }
    }
}
