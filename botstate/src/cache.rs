//! Cache, pub/sub and distributed locks behind one trait: in-process by default, Redis
//! when `REDIS_URL` is set (see [`crate::redis_cache`]).
//!
//! The in-process backend is exact for one process; only the Redis backend makes these
//! shared across instances, which is what a multi-instance deployment must configure.

use async_trait::async_trait;
use botlib::{AppError, AppResult};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// A held lock; release it with [`Cache::unlock`]. It also expires by itself after its TTL,
/// so a crashed holder never blocks others forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockToken {
    /// The lock's name.
    pub name: String,
    /// A random value only this holder knows, so nobody else can release it.
    pub token: String,
}

/// Messages from one pub/sub channel.
pub struct Subscription {
    inner: SubscriptionInner,
}

enum SubscriptionInner {
    Local(broadcast::Receiver<Bytes>),
    Remote(mpsc::Receiver<Bytes>),
}

impl Subscription {
    /// A subscription fed by a background task (used by remote backends).
    pub fn from_channel(rx: mpsc::Receiver<Bytes>) -> Self {
        Subscription {
            inner: SubscriptionInner::Remote(rx),
        }
    }

    /// The next message; `None` when the channel is gone.
    pub async fn recv(&mut self) -> Option<Bytes> {
        match &mut self.inner {
            SubscriptionInner::Remote(rx) => rx.recv().await,
            SubscriptionInner::Local(rx) => loop {
                match rx.recv().await {
                    Ok(msg) => return Some(msg),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "slow subscriber skipped messages");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        }
    }
}

/// Key-value cache with expiry, counters, pub/sub and locks.
#[async_trait]
pub trait Cache: Send + Sync {
    /// `memory` or `redis`.
    fn backend(&self) -> &'static str;
    /// Reads a value.
    async fn get(&self, key: &str) -> AppResult<Option<Bytes>>;
    /// Writes a value, optionally expiring.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<()>;
    /// Writes only if absent; `true` when written.
    async fn set_nx(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<bool>;
    /// Deletes; `true` when something was deleted.
    async fn delete(&self, key: &str) -> AppResult<bool>;
    /// Adds `by` to an integer counter, creating it at 0 (with `ttl`) when absent.
    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> AppResult<i64>;
    /// Publishes a message to every subscriber of `channel`.
    async fn publish(&self, channel: &str, payload: &[u8]) -> AppResult<()>;
    /// Subscribes to `channel`.
    async fn subscribe(&self, channel: &str) -> AppResult<Subscription>;
    /// Takes the lock `name` for `ttl` if nobody holds it.
    async fn try_lock(&self, name: &str, ttl: Duration) -> AppResult<Option<LockToken>>;
    /// Releases a lock this holder still owns; `false` if it had expired or was taken.
    async fn unlock(&self, lock: &LockToken) -> AppResult<bool>;
    /// Extends a lock this holder still owns; `false` if it was lost.
    async fn extend_lock(&self, lock: &LockToken, ttl: Duration) -> AppResult<bool>;
    /// Checks the backend answers.
    async fn ping(&self) -> AppResult<()>;
}

/// A random token for lock ownership.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// The embedded cache: a map with lazy expiry, broadcast channels and map-based locks.
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
    channels: Mutex<HashMap<String, broadcast::Sender<Bytes>>>,
    max_entries: usize,
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache {
            entries: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            max_entries: 1_000_000,
        }
    }
}

impl MemoryCache {
    fn lock_key(name: &str) -> String {
        format!("lock:{name}")
    }

    /// Drops expired entries; when still over capacity, refuses the write.
    fn make_room(&self, map: &mut HashMap<String, Entry>, now: Instant) -> AppResult<()> {
        if map.len() < self.max_entries {
            return Ok(());
        }
        map.retain(|_, e| e.live(now));
        if map.len() >= self.max_entries {
            return Err(AppError::Unavailable("in-process cache is full".into()));
        }
        Ok(())
    }

    /// Stores `value` (only when absent or expired, with `only_if_absent`); `true` when
    /// written.
    fn write(&self, key: &str, value: &[u8], ttl: Option<Duration>, only_if_absent: bool) -> AppResult<bool> {
        let now = Instant::now();
        let mut map = self.entries();
        let present = map.get(key).is_some_and(|e| e.live(now));
        if only_if_absent && present {
            return Ok(false);
        }
        if !map.contains_key(key) {
            self.make_room(&mut map, now)?;
        }
        let entry = Entry {
            value: Bytes::copy_from_slice(value),
            expires: ttl.map(|t| now + t),
        };
        map.insert(key.to_string(), entry);
        Ok(true)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock cannot leave an entry half-written, so the map
        // is still consistent and poisoning can be ignored.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> AppResult<Option<Bytes>> {
        let now = Instant::now();
        let mut map = self.entries();
        match map.get(key) {
            Some(e) if e.live(now) => Ok(Some(e.value.clone())),
            Some(_) => {
                map.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<()> {
        self.write(key, value, ttl, false).map(|_| ())
    }

    async fn set_nx(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> AppResult<bool> {
        self.write(key, value, ttl, true)
    }

    async fn delete(&self, key: &str) -> AppResult<bool> {
        let now = Instant::now();
        Ok(self.entries().remove(key).is_some_and(|e| e.live(now)))
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> AppResult<i64> {
        let now = Instant::now();
        let mut map = self.entries();
        let current = match map.get(key) {
            Some(e) if e.live(now) => Some(
                std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| AppError::bad_request(format!("cache key {key} is not a counter")))?,
            ),
            _ => None,
        };
        let (value, expires) = match current {
            Some(v) => (v + by, map.get(key).and_then(|e| e.expires)),
            None => {
                self.make_room(&mut map, now)?;
                (by, ttl.map(|t| now + t))
            }
        };
        map.insert(
            key.to_string(),
            Entry {
                value: Bytes::from(value.to_string()),
                expires,
            },
        );
        Ok(value)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> AppResult<()> {
        let sender = self
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(channel)
            .cloned();
        if let Some(tx) = sender
            && tx.send(Bytes::copy_from_slice(payload)).is_err()
        {
            // Nobody listens any more: forget the channel so the map does not grow.
            self.channels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, tx| tx.receiver_count() > 0);
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> AppResult<Subscription> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let tx = channels
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(1024).0);
        Ok(Subscription {
            inner: SubscriptionInner::Local(tx.subscribe()),
        })
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> AppResult<Option<LockToken>> {
        let token = random_token();
        if self
            .set_nx(&Self::lock_key(name), token.as_bytes(), Some(ttl))
            .await?
        {
            Ok(Some(LockToken {
                name: name.to_string(),
                token,
            }))
        } else {
            Ok(None)
        }
    }

    async fn unlock(&self, lock: &LockToken) -> AppResult<bool> {
        let now = Instant::now();
        let key = Self::lock_key(&lock.name);
        let mut map = self.entries();
        let owned = map
            .get(&key)
            .is_some_and(|e| e.live(now) && e.value == lock.token.as_bytes());
        if owned {
            map.remove(&key);
        }
        Ok(owned)
    }

    async fn extend_lock(&self, lock: &LockToken, ttl: Duration) -> AppResult<bool> {
        let now = Instant::now();
        let key = Self::lock_key(&lock.name);
        let mut map = self.entries();
        match map.get_mut(&key) {
            Some(e) if e.live(now) && e.value == lock.token.as_bytes() => {
                e.expires = Some(now + ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn ping(&self) -> AppResult<()> {
        Ok(())
    }
}
