//! The object store every write of the server goes through (`state.objects`): the REST
//! API, BASIC's `WRITE`/`UPLOAD`/`COPY`, anything. It wraps the real store (local disk or
//! S3) and, for keys inside a space ([`Space::of_key`]), checks the space's quota before
//! writing (507 when it would be exceeded, counting the trash) and keeps the space's
//! index (`drive_files`) in step after. Keys outside spaces (bot packages, the trash)
//! pass straight through. It also makes share links for scripts (`SEND FILE`, `UPLOAD`).
//!
//! Two uploads into one space at the same instant may both pass the quota check: a
//! quota is a bound checked before each write, not a reservation.

use crate::links::{Links, now_ms};
use crate::repo::{self, FileRow};
use crate::space::Space;
use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::Db;
use botstate::services::{ByteStream, ObjectBody, ObjectMeta, ObjectStore};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Default quotas of each kind of space, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Quotas {
    /// A user's space.
    pub user: u64,
    /// A bot's space.
    pub bot: u64,
    /// An organization's space.
    pub org: u64,
}

/// A space's use of its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Bytes of its files.
    pub files_bytes: u64,
    /// Bytes in its trash (counted against the quota until purged).
    pub trash_bytes: u64,
    /// Its quota.
    pub quota_bytes: u64,
}

impl Usage {
    /// Bytes counted against the quota.
    pub fn used(&self) -> u64 {
        self.files_bytes + self.trash_bytes
    }
}

/// See the module documentation.
pub struct TrackedStore {
    inner: Arc<dyn ObjectStore>,
    db: Db,
    quotas: Quotas,
    links: Arc<Links>,
}

impl TrackedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, db: Db, quotas: Quotas, links: Arc<Links>) -> TrackedStore {
        TrackedStore {
            inner,
            db,
            quotas,
            links,
        }
    }

    /// The real store (for moves into and out of the trash, which the index records
    /// itself).
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// The share links.
    pub fn links(&self) -> &Arc<Links> {
        &self.links
    }

    /// A space's use of its quota.
    pub async fn usage(&self, space: &Space) -> AppResult<Usage> {
        let id = space.id();
        let (files, trash, quota) = self
            .db
            .run(move |c| {
                let (f, t) = repo::used_bytes(c, &id)?;
                Ok((f, t, repo::quota(c, &id)?))
            })
            .await?;
        let default = match space {
            Space::User(_) => self.quotas.user,
            Space::Bot(_) => self.quotas.bot,
            Space::Org(_) => self.quotas.org,
        };
        Ok(Usage {
            files_bytes: files.max(0) as u64,
            trash_bytes: trash.max(0) as u64,
            quota_bytes: quota.map_or(default, |q| q.max(0) as u64),
        })
    }

    /// Bytes `path` of `space` may grow to: the quota minus what the space uses besides
    /// the file now at `path`. Also returns the usage, for the error.
    pub async fn allowance(&self, space: &Space, path: &str) -> AppResult<(u64, Usage)> {
        let usage = self.usage(space).await?;
        let (id, p) = (space.id(), path.to_string());
        let existing = self
            .db
            .run(move |c| repo::file(c, &id, &p))
            .await?
            .map_or(0, |r| r.size.max(0) as u64);
        let others = usage.used().saturating_sub(existing);
        Ok((usage.quota_bytes.saturating_sub(others), usage))
    }

    fn exceeded(usage: Usage) -> AppError {
        AppError::QuotaExceeded {
            quota_bytes: usage.quota_bytes,
            used_bytes: usage.used(),
        }
    }

    /// Records a file written into the index.
    pub(crate) async fn record(
        &self,
        space: &Space,
        path: &str,
        meta: &ObjectMeta,
        content_type: Option<&str>,
    ) {
        let row = FileRow {
            space: space.id(),
            path: path.to_string(),
            size: meta.size as i64,
            etag: meta.etag.clone(),
            content_type: content_type
                .map(str::to_string)
                .or_else(|| meta.content_type.clone()),
            modified_ms: if meta.modified_ms > 0 {
                meta.modified_ms
            } else {
                now_ms()
            },
        };
        if let Err(e) = self.db.write(move |c| repo::save_file(c, &row)).await {
            // The bytes are stored; the index catches up on the next write of that file.
            tracing::warn!(error = %e, "drive: the file index could not be updated");
        }
    }

    /// Forgets a file in the index.
    pub async fn forget(&self, space: &Space, path: &str) -> AppResult<()> {
        let (id, p) = (space.id(), path.to_string());
        self.db.write(move |c| repo::delete_file(c, &id, &p)).await?;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for TrackedStore {
    async fn put(&self, key: &str, data: Bytes, content_type: Option<&str>) -> AppResult<ObjectMeta> {
        let Some((space, path)) = Space::of_key(key) else {
            return self.inner.put(key, data, content_type).await;
        };
        let (room, usage) = self.allowance(&space, path).await?;
        if data.len() as u64 > room {
            return Err(Self::exceeded(usage));
        }
        let meta = self.inner.put(key, data, content_type).await?;
        self.record(&space, path, &meta, content_type).await;
        Ok(meta)
    }

    async fn get(&self, key: &str) -> AppResult<Bytes> {
        self.inner.get(key).await
    }

    async fn head(&self, key: &str) -> AppResult<ObjectMeta> {
        self.inner.head(key).await
    }

    async fn delete(&self, key: &str) -> AppResult<bool> {
        let deleted = self.inner.delete(key).await?;
        if let Some((space, path)) = Space::of_key(key) {
            self.forget(&space, path).await?;
        }
        Ok(deleted)
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        self.inner.list(prefix, after, limit).await
    }

    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        content_type: Option<&str>,
        max_bytes: u64,
    ) -> AppResult<ObjectMeta> {
        let Some((space, path)) = Space::of_key(key) else {
            return self.inner.put_stream(key, body, content_type, max_bytes).await;
        };
        let (room, usage) = self.allowance(&space, path).await?;
        let limit = max_bytes.min(room);
        match self.inner.put_stream(key, body, content_type, limit).await {
            Ok(meta) => {
                self.record(&space, path, &meta, content_type).await;
                Ok(meta)
            }
            Err(AppError::PayloadTooLarge { .. }) if room < max_bytes => Err(Self::exceeded(usage)),
            Err(e) => Err(e),
        }
    }

    async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> AppResult<ObjectBody> {
        self.inner.get_stream(key, range).await
    }

    async fn copy(&self, from: &str, to: &str) -> AppResult<ObjectMeta> {
        let Some((space, path)) = Space::of_key(to) else {
            return self.inner.copy(from, to).await;
        };
        let source = self.inner.head(from).await?;
        let (room, usage) = self.allowance(&space, path).await?;
        if source.size > room {
            return Err(Self::exceeded(usage));
        }
        let meta = self.inner.copy(from, to).await?;
        self.record(&space, path, &meta, source.content_type.as_deref())
            .await;
        Ok(meta)
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> AppResult<Option<String>> {
        self.inner.presign_get(key, ttl).await
    }

    async fn share_link(&self, key: &str, ttl: Duration) -> AppResult<String> {
        let Some((space, path)) = Space::of_key(key) else {
            return Err(AppError::bad_request("only files in a drive space can be shared"));
        };
        self.inner.head(key).await?;
        let ttl = ttl.min(self.links.max_ttl());
        Ok(self.links.create(&space, path, "script", ttl).await?.url)
    }
}
