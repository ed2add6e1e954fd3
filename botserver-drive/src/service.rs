//! The drive's operations on a space, below the REST routes: listing, folders, copy and
//! move (of a file or a whole folder), deleting into the trash, restoring, purging, and
//! the retention sweep that empties old trash. Writes go through the [`TrackedStore`], so
//! quotas and the index hold whatever the caller.

use crate::links::now_ms;
use crate::repo::{self, FileRow, TrashRow};
use crate::space::{Space, clean_folder, clean_path};
use crate::tracked::TrackedStore;
use botlib::{AppError, AppResult};
use botstate::services::{ObjectMeta, ObjectStore};
use botstate::{BotRegistry, Db};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The marker object a folder made with `mkdir` holds, so an empty folder exists on every
/// store (S3 has no folders). Listings hide it.
pub const FOLDER_MARKER: &str = ".keep";

/// Most objects one folder operation (move, copy, delete) touches.
pub const MAX_FOLDER_OBJECTS: usize = 10_000;

/// A file as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FileInfo {
    /// Path inside the space.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag (changes with the content).
    pub etag: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Last change, Unix milliseconds.
    pub modified_ms: i64,
}

/// A trash entry as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrashInfo {
    /// Its id (to restore or purge it).
    pub id: String,
    /// Where it was.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was deleted, Unix milliseconds.
    pub deleted_ms: i64,
    /// When the retention sweep purges it, Unix milliseconds.
    pub purge_ms: i64,
}

/// One page of a listing.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Listing {
    /// Files (recursively under the folder), in path order.
    pub items: Vec<FileInfo>,
    /// The folder's immediate subfolders seen in this page.
    pub folders: Vec<String>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// See the module documentation.
pub struct Drive {
    /// Every write goes through it.
    pub store: Arc<TrackedStore>,
    /// The drive's tables.
    pub db: Db,
    /// Bots by name (for `bot:<name>` spaces).
    pub bots: Arc<BotRegistry>,
    /// `[drive]`.
    pub config: botstate::config::DriveConfig,
}

fn info(space: &Space, meta: &ObjectMeta, indexed: Option<&FileRow>) -> FileInfo {
    FileInfo {
        path: meta
            .key
            .strip_prefix(&space.prefix())
            .unwrap_or(&meta.key)
            .to_string(),
        size: meta.size,
        etag: meta.etag.clone(),
        content_type: indexed
            .and_then(|r| r.content_type.clone())
            .or_else(|| meta.content_type.clone()),
        modified_ms: meta.modified_ms,
    }
}

impl Drive {
    fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.trash_retention_days) * 86_400)
    }

    /// A file's metadata (404 when missing).
    pub async fn meta(&self, space: &Space, path: &str) -> AppResult<FileInfo> {
        let path = clean_path(path)?;
        let meta = self.store.head(&space.key(&path)?).await?;
        let (id, p) = (space.id(), path.clone());
        let row = self.db.run(move |c| repo::file(c, &id, &p)).await?;
        Ok(info(space, &meta, row.as_ref()))
    }

    /// A page of the files under `folder`.
    pub async fn list(
        &self,
        space: &Space,
        folder: &str,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<Listing> {
        let folder = clean_folder(folder)?;
        let prefix = format!("{}{folder}", space.prefix());
        let after = match after {
            Some(a) if !a.is_empty() => Some(space.key(a)?),
            _ => None,
        };
        let limit = limit.clamp(1, 1000);
        let page = self.store.list(&prefix, after.as_deref(), limit).await?;
        let next = (page.len() == limit)
            .then(|| page.last().map(|m| info(space, m, None).path))
            .flatten();
        let mut folders: Vec<String> = Vec::new();
        let mut items = Vec::new();
        for m in &page {
            let rel = &m.key[prefix.len()..];
            if let Some((sub, _)) = rel.split_once('/') {
                let sub = format!("{folder}{sub}");
                if folders.last() != Some(&sub) && !folders.contains(&sub) {
                    folders.push(sub);
                }
            }
            if rel.rsplit('/').next() == Some(FOLDER_MARKER) {
                continue;
            }
            items.push(info(space, m, None));
        }
        // Content types the upload sniffed are in the index.
        let (id, paths): (String, Vec<String>) = (space.id(), items.iter().map(|i| i.path.clone()).collect());
        let rows = self
            .db
            .run(move |c| {
                let mut out = Vec::new();
                for p in paths {
                    out.push(repo::file(c, &id, &p)?);
                }
                Ok(out)
            })
            .await?;
        for (item, row) in items.iter_mut().zip(rows) {
            if let Some(t) = row.and_then(|r| r.content_type) {
                item.content_type = Some(t);
            }
        }
        Ok(Listing { items, folders, next })
    }

    /// Makes a folder (its marker object).
    pub async fn mkdir(&self, space: &Space, folder: &str) -> AppResult<String> {
        let folder = clean_path(folder)?;
        self.store
            .put(
                &space.key(&format!("{folder}/{FOLDER_MARKER}"))?,
                Default::default(),
                None,
            )
            .await?;
        Ok(folder)
    }

    /// The objects a path names: the file itself, else everything under it as a folder.
    async fn objects(&self, space: &Space, path: &str) -> AppResult<(bool, Vec<ObjectMeta>)> {
        let key = space.key(path)?;
        match self.store.head(&key).await {
            Ok(meta) => return Ok((true, vec![meta])),
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let prefix = format!("{key}/");
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.list(&prefix, after.as_deref(), 1000).await?;
            let done = page.len() < 1000;
            after = page.last().map(|m| m.key.clone());
            all.extend(page);
            if all.len() > MAX_FOLDER_OBJECTS {
                return Err(AppError::bad_request(format!(
                    "a folder operation touches at most {MAX_FOLDER_OBJECTS} files"
                )));
            }
            if done {
                break;
            }
        }
        if all.is_empty() {
            return Err(AppError::NotFound);
        }
        Ok((false, all))
    }

    /// Copies (or moves) `from` (a file or a folder) of `space` to `to` of `dest`.
    /// Returns how many files were copied.
    pub async fn transfer(
        &self,
        space: &Space,
        from: &str,
        dest: &Space,
        to: &str,
        remove_source: bool,
    ) -> AppResult<usize> {
        let (from, to) = (clean_path(from)?, clean_path(to)?);
        if space == dest && (to == from || to.starts_with(&format!("{from}/"))) {
            return Err(AppError::bad_request("cannot copy or move a folder into itself"));
        }
        let (is_file, objects) = self.objects(space, &from).await?;
        let source_prefix = space.key(&from)?;
        for meta in &objects {
            let target = if is_file {
                dest.key(&to)?
            } else {
                format!("{}{}", dest.key(&to)?, &meta.key[source_prefix.len()..])
            };
            if remove_source && space == dest {
                // A move inside a space does not grow it: no quota check.
                let moved = self.store.inner().copy(&meta.key, &target).await?;
                let (_, path) = Space::of_key(&target).ok_or(AppError::NotFound)?;
                self.store.record(dest, path, &moved, None).await;
            } else {
                self.store.copy(&meta.key, &target).await?;
            }
            if remove_source {
                self.store.delete(&meta.key).await?;
            }
        }
        Ok(objects.len())
    }

    /// Moves `path` (a file or a folder) into the trash. Returns the entries made.
    pub async fn trash_path(&self, space: &Space, path: &str, by: &str) -> AppResult<Vec<TrashInfo>> {
        let path = clean_path(path)?;
        let (_, objects) = self.objects(space, &path).await?;
        let mut out = Vec::new();
        for meta in objects {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let object_key = format!("trash/{id}");
            let inner = self.store.inner();
            inner.copy(&meta.key, &object_key).await?;
            let rel = meta.key[space.prefix().len()..].to_string();
            let row = TrashRow {
                id,
                space: space.id(),
                path: rel.clone(),
                object_key,
                size: meta.size as i64,
                content_type: meta.content_type.clone(),
                deleted_ms: now_ms(),
                deleted_by: by.to_string(),
            };
            let saved = row.clone();
            // The trash entry and the index row change together; then the original goes.
            self.db
                .write(move |c| {
                    repo::add_trash(c, &saved)?;
                    repo::delete_file(c, &saved.space, &saved.path)?;
                    Ok(())
                })
                .await?;
            inner.delete(&meta.key).await?;
            out.push(self.trash_info(&row));
        }
        Ok(out)
    }

    fn trash_info(&self, row: &TrashRow) -> TrashInfo {
        TrashInfo {
            id: row.id.clone(),
            path: row.path.clone(),
            size: row.size.max(0) as u64,
            deleted_ms: row.deleted_ms,
            purge_ms: row.deleted_ms + self.retention().as_millis() as i64,
        }
    }

    /// A space's trash, newest first.
    pub async fn trash(&self, space: &Space) -> AppResult<Vec<TrashInfo>> {
        let id = space.id();
        let rows = self.db.run(move |c| repo::trash(c, &id)).await?;
        Ok(rows.iter().map(|r| self.trash_info(r)).collect())
    }

    /// Puts a trash entry back where it was (or at `to`). 409 when a file is there now.
    pub async fn restore(&self, space: &Space, id: &str, to: Option<&str>) -> AppResult<FileInfo> {
        let (sid, tid) = (space.id(), id.to_string());
        let row = self
            .db
            .run(move |c| repo::trash_entry(c, &sid, &tid))
            .await?
            .ok_or(AppError::NotFound)?;
        let path = clean_path(to.unwrap_or(&row.path))?;
        let key = space.key(&path)?;
        match self.store.head(&key).await {
            Ok(_) => {
                return Err(AppError::Conflict(format!(
                    "a file exists at {path}; restore it under another name"
                )));
            }
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let inner = self.store.inner();
        let meta = inner.copy(&row.object_key, &key).await?;
        let file = FileRow {
            space: space.id(),
            path: path.clone(),
            size: meta.size as i64,
            etag: meta.etag.clone(),
            content_type: row.content_type.clone().or_else(|| meta.content_type.clone()),
            modified_ms: now_ms(),
        };
        let rid = row.id.clone();
        self.db
            .write(move |c| {
                repo::save_file(c, &file)?;
                repo::remove_trash(c, &rid)?;
                Ok(())
            })
            .await?;
        inner.delete(&row.object_key).await?;
        Ok(info(space, &meta, None))
    }

    /// Deletes trash entries for good: one (`Some(id)`) or all of a space's.
    pub async fn purge(&self, space: &Space, id: Option<&str>) -> AppResult<usize> {
        let sid = space.id();
        let rows = match id {
            Some(id) => {
                let id = id.to_string();
                vec![
                    self.db
                        .run(move |c| repo::trash_entry(c, &sid, &id))
                        .await?
                        .ok_or(AppError::NotFound)?,
                ]
            }
            None => self.db.run(move |c| repo::trash(c, &sid)).await?,
        };
        self.purge_rows(rows).await
    }

    async fn purge_rows(&self, rows: Vec<TrashRow>) -> AppResult<usize> {
        let mut n = 0;
        for row in rows {
            let id = row.id.clone();
            // Whoever removes the row (one instance) deletes the bytes.
            if self.db.write(move |c| repo::remove_trash(c, &id)).await? {
                self.store.inner().delete(&row.object_key).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Purges trash older than the retention, in batches. Safe on every instance at once.
    pub async fn sweep_trash(&self) -> AppResult<usize> {
        let before = now_ms() - self.retention().as_millis() as i64;
        let mut total = 0;
        loop {
            let rows = self.db.run(move |c| repo::expired_trash(c, before, 200)).await?;
            let batch = rows.len();
            total += self.purge_rows(rows).await?;
            if batch < 200 {
                return Ok(total);
            }
        }
    }

    /// Files of a space whose path contains `q`.
    pub async fn search(&self, space: &Space, q: &str) -> AppResult<Vec<FileInfo>> {
        let q = q.trim();
        if q.is_empty() || q.len() > 200 {
            return Err(AppError::bad_request("`q` is 1 to 200 characters"));
        }
        let (id, q) = (space.id(), q.to_string());
        let rows = self.db.run(move |c| repo::search(c, &id, &q, 200)).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.path.rsplit('/').next() != Some(FOLDER_MARKER))
            .map(|r| FileInfo {
                path: r.path,
                size: r.size.max(0) as u64,
                etag: r.etag,
                content_type: r.content_type,
                modified_ms: r.modified_ms,
            })
            .collect())
    }
}

/// Runs the retention sweep at start and then hourly until `stop`.
pub async fn run_sweeper(drive: Arc<Drive>, stop: tokio_util::sync::CancellationToken) {
    loop {
        match drive.sweep_trash().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "drive: old trash purged"),
            Err(e) => tracing::warn!(error = %e, "drive: trash sweep failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
