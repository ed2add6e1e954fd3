//! Bot packages from the drive: the objects under `drive.packages_prefix` (e.g.
//! `packages/sales.gbai/sales.gbdialog/start.bas`) are mirrored into a local folder
//! (`<data_dir>/drive-packages/`) that the BASIC engine loads and watches exactly like the
//! bots folder (`state.bot_folders`), so a package in a bucket is a bot source equal to a
//! package on disk: same loader, same content-addressed compiles, same last-good-version
//! rule, and its knowledge base is indexed from the mirror.
//!
//! Change detection is by ETag: each poll lists the prefix (paged), downloads only the
//! objects whose ETag changed (into a temporary file renamed into place), and deletes the
//! local files whose objects are gone; a package whose objects are all gone disappears, and
//! the engine unloads its bot. The ETags are kept in `.manifest.json` in the mirror, so a
//! restart downloads nothing that did not change. Polls run every
//! `drive.packages_poll_secs`; a failing poll doubles the wait up to 5 minutes (no tight
//! loop against a store that is down). Limits: 64 MiB a file, 20,000 objects.

use botlib::{AppError, AppResult};
use botstate::services::ObjectStore;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Largest file of a package.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Most objects under the prefix.
pub const MAX_OBJECTS: usize = 20_000;
/// Longest wait between polls after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

const MANIFEST: &str = ".manifest.json";

/// What one poll changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Files downloaded (new or changed).
    pub downloaded: usize,
    /// Files removed.
    pub removed: usize,
}

/// The mirror of one prefix.
pub struct PackageMirror {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    dir: PathBuf,
    /// Relative path → ETag of what is on disk.
    known: BTreeMap<String, String>,
}

/// Whether a relative path inside the prefix belongs to a package, and is safe to write.
fn package_path(rel: &str) -> Option<&str> {
    let first = rel.split('/').next()?;
    let ok = first.len() > 5
        && first.to_ascii_lowercase().ends_with(".gbai")
        && rel.contains('/')
        && !rel.ends_with('/')
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with(".tmp-"));
    ok.then_some(rel)
}

impl PackageMirror {
    /// A mirror of `prefix` of `store` into `dir` (created), resuming from its manifest.
    pub fn open(store: Arc<dyn ObjectStore>, prefix: &str, dir: PathBuf) -> AppResult<PackageMirror> {
        std::fs::create_dir_all(&dir).map_err(AppError::internal)?;
        let known = std::fs::read(dir.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(PackageMirror {
            store,
            prefix: prefix.to_string(),
            dir,
            known,
        })
    }

    /// The local folder (a bots folder for the engine).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One poll: brings the folder in step with the prefix.
    pub async fn sync(&mut self) -> AppResult<SyncReport> {
        let mut listed: BTreeMap<String, (String, u64)> = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.list(&self.prefix, after.as_deref(), 1000).await?;
            let done = page.len() < 1000;
            after = page.last().map(|m| m.key.clone());
            for m in page {
                if let Some(rel) = m.key.strip_prefix(&self.prefix).and_then(package_path) {
                    listed.insert(rel.to_string(), (m.etag.clone(), m.size));
                }
            }
            if listed.len() > MAX_OBJECTS {
                return Err(AppError::bad_request(format!(
                    "more than {MAX_OBJECTS} objects under {}",
                    self.prefix
                )));
            }
            if done {
                break;
            }
        }
        let mut report = SyncReport::default();
        for (rel, (etag, size)) in &listed {
            let local = self.dir.join(rel);
            if self.known.get(rel) == Some(etag) && local.is_file() {
                continue;
            }
            if *size > MAX_FILE_BYTES {
                tracing::warn!(file = %rel, size, "drive packages: file over 64 MiB skipped");
                continue;
            }
            self.download(rel, &local).await?;
            self.known.insert(rel.clone(), etag.clone());
            report.downloaded += 1;
        }
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !listed.contains_key(*k))
            .cloned()
            .collect();
        for rel in gone {
            let local = self.dir.join(&rel);
            let _ = tokio::fs::remove_file(&local).await;
            self.known.remove(&rel);
            report.removed += 1;
            prune_empty(&self.dir, local.parent());
        }
        if report != SyncReport::default() {
            let manifest = serde_json::to_vec(&self.known).map_err(AppError::internal)?;
            let tmp = self.dir.join(".tmp-manifest");
            tokio::fs::write(&tmp, manifest)
                .await
                .map_err(AppError::internal)?;
            tokio::fs::rename(&tmp, self.dir.join(MANIFEST))
                .await
                .map_err(AppError::internal)?;
        }
        Ok(report)
    }

    async fn download(&self, rel: &str, local: &Path) -> AppResult<()> {
        let parent = local.parent().ok_or(AppError::NotFound)?;
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(AppError::internal)?;
        let key = format!("{}{rel}", self.prefix);
        let mut body = self.store.get_stream(&key, None).await?.stream;
        let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut written = 0u64;
            while let Some(piece) = body.next().await {
                let piece = piece?;
                written += piece.len() as u64;
                if written > MAX_FILE_BYTES {
                    return Err(std::io::Error::other("a package file grew over 64 MiB"));
                }
                file.write_all(&piece).await?;
            }
            file.flush().await?;
            drop(file);
            tokio::fs::rename(&tmp, local).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(AppError::Unavailable(format!("downloading {key}: {e}")));
        }
        Ok(())
    }
}

/// Removes empty folders from `from` up to (not including) `root`.
fn prune_empty(root: &Path, from: Option<&Path>) {
    let mut cur = from.map(Path::to_path_buf);
    while let Some(dir) = cur {
        if dir == root || !dir.starts_with(root) || std::fs::remove_dir(&dir).is_err() {
            break;
        }
        cur = dir.parent().map(Path::to_path_buf);
    }
}

/// Polls until `stop`: every `every`, doubling after failures up to [`MAX_BACKOFF`].
pub async fn run(mut mirror: PackageMirror, every: Duration, stop: tokio_util::sync::CancellationToken) {
    let mut wait = every;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match mirror.sync().await {
            Ok(r) => {
                if r != SyncReport::default() {
                    tracing::info!(
                        downloaded = r.downloaded,
                        removed = r.removed,
                        "drive packages synced"
                    );
                }
                wait = every;
            }
            Err(e) => {
                wait = (wait * 2).min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "drive packages: poll failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::package_path;

    #[test]
    fn only_package_files_are_mirrored() {
        assert!(package_path("sales.gbai/sales.gbdialog/start.bas").is_some());
        assert!(package_path("sales.gbai/../x").is_none());
        assert!(package_path("readme.txt").is_none());
        assert!(package_path("notes/x.bas").is_none());
        assert!(package_path(".gbai/x").is_none());
        assert!(package_path("sales.gbai/.tmp-1").is_none());
    }
}
