//! The local-disk object store: each object is a file under the store's root, named by its
//! key (`docs/a.txt` is `<root>/docs/a.txt`).
//!
//! Writes are atomic: the bytes go to a file in the hidden temporary folder
//! `<root>/.botserver-tmp/` and are renamed into place only when complete, so readers see
//! the old object or the whole new one. A write that fails, is refused (413) or is dropped
//! half-way removes its temporary file (a guard deletes it on drop); temporaries left by a
//! crashed process are removed when the store is next opened. Uploads and downloads stream
//! through a bounded buffer, never holding an object in memory. Keys are checked with
//! [`check_key`], and no operation goes through a symbolic link inside the root: every
//! component of the path is examined without following links (403 on a link), and folders
//! the store creates are checked again after creation. The ETag is a hash of the file's size,
//! modification time and inode (never of its content, which may be gigabytes); content
//! types are not stored but guessed from the key's extension.

use super::keys::{check_key, check_prefix, content_type_for};
use crate::store::ObjectStore;
use anyhow::anyhow;
use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::services::{ByteStream, ObjectBody, ObjectMeta};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The folder of unfinished writes, inside the root; no key may start with it.
pub const TMP_DIR: &str = ".botserver-tmp";

/// Temporaries of a process that is gone are removed at open; those of a live process (or
/// of an unknown one) only once they are this old.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Read buffer of a streamed download.
const READ_CHUNK: usize = 64 * 1024;

/// Objects as files under a folder.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalStore {
    /// Opens (creating it when missing) the store rooted at `root`, and removes stale
    /// temporary files left by processes that are gone.
    pub fn open(root: PathBuf) -> AppResult<LocalStore> {
        fs::create_dir_all(&root).map_err(|e| io_err("create the drive folder", &root, e))?;
        let tmp = root.join(TMP_DIR);
        match fs::symlink_metadata(&tmp) {
            Ok(m) if m.is_dir() => remove_stale(&tmp),
            Ok(_) => {
                return Err(AppError::internal(anyhow!(
                    "{} is not a folder (a link or a file): remove it",
                    tmp.display()
                )));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir(&tmp).map_err(|e| io_err("create the temporary folder", &tmp, e))?
            }
            Err(e) => return Err(io_err("read", &tmp, e)),
        }
        Ok(LocalStore { root, tmp })
    }

    /// The folder holding the objects.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key's path under the root, after checking the key (400) and that it is not in
    /// the temporary folder.
    fn checked(&self, key: &str) -> AppResult<()> {
        check_key(key)?;
        if key.split('/').next() == Some(TMP_DIR) {
            return Err(AppError::bad_request(format!(
                "`{TMP_DIR}` is reserved and cannot start a key"
            )));
        }
        Ok(())
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            root: self.root.clone(),
            tmp: self.tmp.clone(),
        }
    }
}

/// What a blocking task needs of the store.
struct Ctx {
    root: PathBuf,
    tmp: PathBuf,
}

/// How a path is walked: for reading (a missing component is 404) or for writing (missing
/// folders are created, and a folder where the object should be is a conflict).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    Read,
    Write,
}

impl Ctx {
    /// The path of `key`, with every component checked without following links: a link is
    /// 403, a file where a folder should be is 404 (reading) or 409 (writing). Writing
    /// creates the missing folders and checks each again after creating it.
    fn walk(&self, key: &str, mode: Walk) -> AppResult<PathBuf> {
        let mut path = self.root.clone();
        let segments: Vec<&str> = key.split('/').collect();
        let (last, folders) = segments.split_last().expect("a checked key has a segment");
        for (i, folder) in folders.iter().enumerate() {
            path.push(folder);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Err(link_refused(&path)),
                Ok(m) if m.is_dir() => {}
                Ok(_) if mode == Walk::Read => return Err(AppError::NotFound),
                Ok(_) => {
                    return Err(AppError::Conflict(format!(
                        "`{}` is a file, so it cannot hold other files",
                        folders[..=i].join("/")
                    )));
                }
                Err(e) if e.kind() == ErrorKind::NotFound && mode == Walk::Read => {
                    return Err(AppError::NotFound);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    match fs::create_dir(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io_err("create the folder", &path, e)),
                    }
                    // Whatever is there now (ours, or another writer's) must be a real folder.
                    match fs::symlink_metadata(&path) {
                        Ok(m) if m.file_type().is_symlink() => return Err(link_refused(&path)),
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            return Err(AppError::Conflict(format!(
                                "`{}` is a file, so it cannot hold other files",
                                folders[..=i].join("/")
                            )));
                        }
                        Err(e) => return Err(io_err("read", &path, e)),
                    }
                }
                Err(e) => return Err(io_err("read", &path, e)),
            }
        }
        path.push(last);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Err(link_refused(&path)),
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) if mode == Walk::Read => Err(AppError::NotFound),
            Ok(_) => Err(AppError::Conflict(format!("`{key}` is a folder of other files"))),
            Err(e) if e.kind() == ErrorKind::NotFound && mode == Walk::Read => Err(AppError::NotFound),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(path),
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    /// A new, empty temporary file and the guard that removes it unless it is renamed.
    fn temp_file(&self) -> AppResult<(File, TempGuard)> {
        let name = format!("{}.{}.part", std::process::id(), uuid::Uuid::new_v4().simple());
        let path = self.tmp.join(name);
        let file = File::create_new(&path).map_err(|e| io_err("create a temporary file", &path, e))?;
        Ok((file, TempGuard { path: Some(path) }))
    }

    /// Renames the finished temporary file to `key`'s path (checked again: a concurrent
    /// delete may have removed an emptied parent folder meanwhile, which is then recreated).
    fn publish(&self, mut guard: TempGuard, key: &str, mut target: PathBuf) -> AppResult<()> {
        let from = guard.path.clone().expect("an armed guard");
        let mut tries = 0;
        loop {
            match fs::rename(&from, &target) {
                Ok(()) => {
                    guard.path = None;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::NotFound && tries < 5 => {
                    tries += 1;
                    target = self.walk(key, Walk::Write)?;
                }
                Err(e) => return Err(io_err("move the new file to", &target, e)),
            }
        }
    }

    /// Removes the folders above `path` that became empty, up to the root.
    fn prune(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    /// Keys under `prefix`, after `after`, at most `limit`, in byte order.
    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // The folder to walk: the prefix up to its last `/`.
        let (dir_key, name_start) = match prefix.rfind('/') {
            Some(i) => (&prefix[..i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let mut dir = self.root.clone();
        if !dir_key.is_empty() {
            for folder in dir_key.split('/') {
                dir.push(folder);
                match fs::symlink_metadata(&dir) {
                    Ok(m) if m.file_type().is_symlink() => return Err(link_refused(&dir)),
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Ok(out),
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(io_err("read", &dir, e)),
                }
            }
        }
        let key_base = if dir_key.is_empty() {
            String::new()
        } else {
            format!("{dir_key}/")
        };
        let walk = Lister { prefix, after, limit };
        walk.dir(&dir, &key_base, Some(name_start), &mut out)?;
        Ok(out)
    }
}

/// A recursive, ordered walk for [`Ctx::list`].
struct Lister<'a> {
    prefix: &'a str,
    after: Option<&'a str>,
    limit: usize,
}

impl Lister<'_> {
    /// Walks `dir`, whose keys start with `key_base`, in key order. Entries are sorted by
    /// name with `/` appended to folders, which is the byte order of the keys they hold.
    /// Returns `false` once `limit` is reached.
    fn dir(
        &self,
        dir: &Path,
        key_base: &str,
        name_start: Option<&str>,
        out: &mut Vec<ObjectMeta>,
    ) -> AppResult<bool> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            // Deleted meanwhile.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(io_err("list", dir, e)),
        };
        let mut items: Vec<(String, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if key_base.is_empty() && name == TMP_DIR {
                continue;
            }
            if name_start.is_some_and(|s| !name.starts_with(s)) {
                continue;
            }
            // Links are neither followed nor shown.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                items.push((format!("{name}/"), true));
            } else if kind.is_file() {
                items.push((name, false));
            }
        }
        items.sort_unstable();
        for (name, is_dir) in items {
            let key = format!("{key_base}{name}");
            if is_dir {
                // Every key in the folder starts with `key`; skip it when `after` is past all of them.
                if self
                    .after
                    .is_some_and(|a| a > key.as_str() && !a.starts_with(&key))
                {
                    continue;
                }
                if !self.dir(&dir.join(&name[..name.len() - 1]), &key, None, out)? {
                    return Ok(false);
                }
            } else {
                if self.after.is_some_and(|a| key.as_str() <= a) || !key.starts_with(self.prefix) {
                    continue;
                }
                if check_key(&key).is_err() {
                    continue;
                }
                let path = dir.join(&name);
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                out.push(object_meta(&key, &meta));
                if out.len() >= self.limit {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

/// Removes the temporary file it names when dropped, unless it was published.
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take()
            && let Err(e) = fs::remove_file(&path)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a temporary file");
        }
    }
}

/// Removes temporary files of processes that are gone, and any older than [`STALE_AFTER`].
fn remove_stale(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else { return };
    let proc_fs = Path::new("/proc/self").exists();
    let me = std::process::id();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('.').next().and_then(|p| p.parse::<u32>().ok());
        let gone = match pid {
            Some(pid) if proc_fs => pid != me && !Path::new("/proc").join(pid.to_string()).exists(),
            _ => false,
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if gone || old {
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a stale temporary file");
            }
        }
    }
}

fn link_refused(path: &Path) -> AppError {
    tracing::warn!(path = %path.display(), "refused: a symbolic link inside the drive folder");
    AppError::Forbidden
}

fn io_err(what: &str, path: &Path, e: io::Error) -> AppError {
    AppError::internal(anyhow!("could not {what} {}: {e}", path.display()))
}

/// The metadata of the object `key` stored in a file with metadata `m`.
fn object_meta(key: &str, m: &Metadata) -> ObjectMeta {
    let modified = m.modified().unwrap_or(UNIX_EPOCH);
    let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    ObjectMeta {
        key: key.to_string(),
        size: m.len(),
        etag: etag(m, since),
        content_type: content_type_for(key).map(str::to_string),
        modified_ms: i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
    }
}

/// A cheap ETag: a hash of the size, the modification time and the file's identity. Every
/// write renames a new file into place (a new inode, a new time), so a rewrite changes it.
fn etag(m: &Metadata, modified: Duration) -> String {
    let mut h = Sha256::new();
    h.update(m.len().to_le_bytes());
    h.update(modified.as_secs().to_le_bytes());
    h.update(modified.subsec_nanos().to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        h.update(m.dev().to_le_bytes());
        h.update(m.ino().to_le_bytes());
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::internal(anyhow!("a file task failed: {e}")))?
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, data: Bytes, _content_type: Option<&str>) -> AppResult<ObjectMeta> {
        self.checked(key)?;
        let (ctx, key) = (self.ctx(), key.to_string());
        blocking(move || {
            let target = ctx.walk(&key, Walk::Write)?;
            let (mut file, guard) = ctx.temp_file()?;
            let path = guard.path.clone().expect("armed");
            file.write_all(&data).map_err(|e| io_err("write", &path, e))?;
            let meta = file.metadata().map_err(|e| io_err("read", &path, e))?;
            drop(file);
            ctx.publish(guard, &key, target)?;
            Ok(object_meta(&key, &meta))
        })
        .await
    }

    async fn get(&self, key: &str) -> AppResult<Bytes> {
        self.checked(key)?;
        let (ctx, key) = (self.ctx(), key.to_string());
        blocking(move || {
            let path = ctx.walk(&key, Walk::Read)?;
            match fs::read(&path) {
                Ok(data) => Ok(Bytes::from(data)),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(AppError::NotFound),
                Err(e) => Err(io_err("read", &path, e)),
            }
        })
        .await
    }

    async fn head(&self, key: &str) -> AppResult<ObjectMeta> {
        self.checked(key)?;
        let (ctx, key) = (self.ctx(), key.to_string());
        blocking(move || {
            let path = ctx.walk(&key, Walk::Read)?;
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => Ok(object_meta(&key, &m)),
                Ok(_) => Err(AppError::NotFound),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(AppError::NotFound),
                Err(e) => Err(io_err("read", &path, e)),
            }
        })
        .await
    }

    async fn delete(&self, key: &str) -> AppResult<bool> {
        self.checked(key)?;
        let (ctx, key) = (self.ctx(), key.to_string());
        blocking(move || {
            let path = match ctx.walk(&key, Walk::Read) {
                Ok(path) => path,
                Err(AppError::NotFound) => return Ok(false),
                Err(e) => return Err(e),
            };
            match fs::remove_file(&path) {
                Ok(()) => {
                    ctx.prune(&path);
                    Ok(true)
                }
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err("delete", &path, e)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        check_prefix(prefix)?;
        let ctx = self.ctx();
        let (prefix, after) = (prefix.to_string(), after.map(str::to_string));
        blocking(move || ctx.list(&prefix, after.as_deref(), limit)).await
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        _content_type: Option<&str>,
        max_bytes: u64,
    ) -> AppResult<ObjectMeta> {
        self.checked(key)?;
        let (ctx, owned_key) = (self.ctx(), key.to_string());
        // The guard is made on the blocking thread together with the file: if this future
        // is dropped while the file is being created, the task's unclaimed result (the
        // guard) is dropped when it finishes, and removes the file.
        let (target, file, guard) = blocking(move || {
            let target = ctx.walk(&owned_key, Walk::Write)?;
            let (file, guard) = ctx.temp_file()?;
            Ok((target, file, guard))
        })
        .await?;
        let temp_path = guard.path.clone().expect("armed");
        // tokio's file keeps at most one bounded write in flight.
        let mut file = tokio::fs::File::from_std(file);
        let mut total: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| AppError::bad_request(format!("the upload failed: {e}")))?;
            total += piece.len() as u64;
            if total > max_bytes {
                return Err(AppError::PayloadTooLarge {
                    limit_bytes: max_bytes,
                });
            }
            file.write_all(&piece)
                .await
                .map_err(|e| io_err("write", &temp_path, e))?;
        }
        file.flush().await.map_err(|e| io_err("write", &temp_path, e))?;
        let file = file.into_std().await;
        let (ctx, key) = (self.ctx(), key.to_string());
        blocking(move || {
            let meta = file.metadata().map_err(|e| io_err("read", &temp_path, e))?;
            drop(file);
            ctx.publish(guard, &key, target)?;
            Ok(object_meta(&key, &meta))
        })
        .await
    }

    async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> AppResult<ObjectBody> {
        self.checked(key)?;
        let (ctx, owned_key) = (self.ctx(), key.to_string());
        let (file, m) = blocking(move || {
            let path = ctx.walk(&owned_key, Walk::Read)?;
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(AppError::NotFound),
                Err(e) => return Err(io_err("open", &path, e)),
            };
            // The metadata of what was opened, so it matches the bytes sent even if the
            // object is replaced meanwhile.
            let m = file.metadata().map_err(|e| io_err("read", &path, e))?;
            if !m.is_file() {
                return Err(AppError::NotFound);
            }
            Ok((file, m))
        })
        .await?;
        let meta = object_meta(key, &m);
        let size = m.len();
        let mut file = tokio::fs::File::from_std(file);
        let (range, stream): (_, ByteStream) = match range {
            None => (
                None,
                Box::pin(tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK)),
            ),
            Some((start, end)) => {
                if start > end || start >= size {
                    return Err(AppError::RangeNotSatisfiable { size });
                }
                let end = end.min(size - 1);
                file.seek(io::SeekFrom::Start(start))
                    .await
                    .map_err(|e| AppError::internal(anyhow!("could not seek in {key}: {e}")))?;
                let part = file.take(end - start + 1);
                (
                    Some((start, end)),
                    Box::pin(tokio_util::io::ReaderStream::with_capacity(part, READ_CHUNK)),
                )
            }
        };
        Ok(ObjectBody { meta, range, stream })
    }

    async fn copy(&self, from: &str, to: &str) -> AppResult<ObjectMeta> {
        self.checked(from)?;
        self.checked(to)?;
        let (ctx, from, to) = (self.ctx(), from.to_string(), to.to_string());
        blocking(move || {
            let source = ctx.walk(&from, Walk::Read)?;
            let mut src = match File::open(&source) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(AppError::NotFound),
                Err(e) => return Err(io_err("open", &source, e)),
            };
            let target = ctx.walk(&to, Walk::Write)?;
            let (mut file, guard) = ctx.temp_file()?;
            let path = guard.path.clone().expect("armed");
            io::copy(&mut src, &mut file).map_err(|e| io_err("copy into", &path, e))?;
            let meta = file.metadata().map_err(|e| io_err("read", &path, e))?;
            drop(file);
            ctx.publish(guard, &to, target)?;
            Ok(object_meta(&to, &meta))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_changes_with_time_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, b"same").unwrap();
        let m1 = fs::metadata(&a).unwrap();
        let t1 = m1.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(etag(&m1, t1), etag(&m1, t1));
        assert_eq!(etag(&m1, t1).len(), 32);
        assert_ne!(etag(&m1, t1), etag(&m1, t1 + Duration::from_nanos(1)));
        let b = dir.path().join("b");
        fs::write(&b, b"same").unwrap();
        let m2 = fs::metadata(&b).unwrap();
        assert_ne!(etag(&m1, t1), etag(&m2, t1), "another inode, another tag");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(TMP_DIR);
        fs::create_dir_all(&tmp).unwrap();
        // A pid that cannot be alive (above the kernel's maximum), and one of ours.
        let dead = tmp.join("4294967295.0123.part");
        let ours = tmp.join(format!("{}.0456.part", std::process::id()));
        fs::write(&dead, b"x").unwrap();
        fs::write(&ours, b"x").unwrap();
        let store = LocalStore::open(dir.path().to_path_buf()).unwrap();
        assert!(!dead.exists());
        assert!(ours.exists(), "a live process's young temporary is kept");
        assert_eq!(store.root(), dir.path());
    }

    #[test]
    fn folder_entries_sort_in_key_order() {
        // `a.txt` < `a/b` in bytes ('.' < '/'), though the folder `a` sorts before `a.txt`.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("a/b"), b"1").unwrap();
        fs::write(dir.path().join("a.txt"), b"2").unwrap();
        fs::write(dir.path().join("a0"), b"3").unwrap();
        let store = LocalStore::open(dir.path().to_path_buf()).unwrap();
        let keys: Vec<String> = store
            .ctx()
            .list("", None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["a.txt", "a/b", "a0"]);
    }
}
