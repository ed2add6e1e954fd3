//! Indexing a bot's documents: `<folder>/<bot>.gbkb/<kb>/**` into chunks (the
//! `kb_chunks` table, and the lexical index) and vectors (the vector store), driven by the
//! `kb_documents` job table.
//!
//! A pass over a knowledge base lists its files (metadata only) and compares each with its
//! row. A file whose size and modification time match an indexed row is not read. A file
//! that changed is read and hashed: the same content only updates the row, new content is
//! extracted, chunked and embedded, and only that file. A row whose file is gone is
//! deleted with its chunks and vectors. Only when there is work does the pass take the
//! cluster lock `kb-index:<bot>:<kb>` (`Cache::try_lock`, extended after each document),
//! then plans again under it, so of several instances one indexes and the others skip.
//!
//! Indexing a document: its chunks replace the old ones and its row becomes `pending` with
//! the new hash in one transaction (so BM25 finds it at once), then embeddings are made in
//! batches through `LlmProvider::embed`, the document's old vectors deleted and the new
//! ones upserted, and the row becomes `indexed`. Chunk ids derive from (bot, kb, path,
//! content hash, ordinal) and every write replaces, so a pass killed anywhere and run
//! again leaves exactly one copy of everything. A failure (unreadable file, embedding
//! error) counts an attempt and schedules the next at `backoff_base × 2^(attempts-1)`
//! (30 s, 1 min, 2 min, …); after `max_attempts` (5) the row is `failed` with its error,
//! until the file changes or a reindex is asked for. A document whose embedding failed
//! keeps its chunks, so lexical search still finds it. A bot without an embedding model
//! (`NotConfigured`) is indexed lexically, and its rows say so (`vector_space`
//! `none:…`); when its embedding settings change, documents are embedded again from the
//! stored chunks, without reading the files.

use crate::chunk::{self, ChunkOpts};
use crate::extract;
use crate::kb::{KbService, collection_name, doc_key};
use crate::repo::{self, ChunkRow, DocumentRow, FAILED, INDEXED, PENDING};
use botlib::{AppError, AppResult, BotId};
use botstate::BotInfo;
use botstate::services::VectorPoint;
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IndexReport {
    /// Documents (re)indexed.
    pub indexed: usize,
    /// Documents whose vectors were made again from stored chunks (a new embedding model).
    pub reembedded: usize,
    /// Documents unchanged (not read, or read and found identical).
    pub unchanged: usize,
    /// Documents removed (their file is gone).
    pub removed: usize,
    /// Attempts that failed in this pass (retried later, or recorded as failed).
    pub failed: usize,
    /// Documents waiting for a retry or given up, skipped.
    pub waiting: usize,
    /// Chunks written.
    pub chunks: usize,
    /// Texts sent to the embedding model.
    pub embedded: usize,
    /// Knowledge bases skipped because another instance holds their lock.
    pub locked: usize,
}

impl IndexReport {
    fn add(&mut self, o: &IndexReport) {
        self.indexed += o.indexed;
        self.reembedded += o.reembedded;
        self.unchanged += o.unchanged;
        self.removed += o.removed;
        self.failed += o.failed;
        self.waiting += o.waiting;
        self.chunks += o.chunks;
        self.embedded += o.embedded;
        self.locked += o.locked;
    }
}

/// Progress of a pass, after each document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The knowledge base.
    pub kb: String,
    /// Documents done in this knowledge base.
    pub done: usize,
    /// Documents with work in this knowledge base.
    pub total: usize,
    /// The document just done.
    pub path: String,
}

/// A file of a knowledge base, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Path inside the knowledge base, `/`-separated.
    pub path: String,
    /// Where it is.
    pub full: PathBuf,
    /// Size in bytes.
    pub size: i64,
    /// Modification time, Unix milliseconds.
    pub mtime_ms: i64,
}

/// A document's content on its way to the index: its fingerprint and hash, and how to
/// get its text (run on the blocking pool, only when the hash changed).
pub(crate) struct Content {
    /// Size in bytes (a file's; a web page's body).
    pub size: i64,
    /// Modification time (a file's; when a web page was fetched).
    pub mtime_ms: i64,
    /// What decides whether the document changed.
    pub hash: String,
    /// Its text, as sections.
    pub extract: Box<dyn FnOnce() -> Result<Vec<crate::chunk::Section>, extract::ExtractError> + Send>,
}

/// Whether a document's path is a web page's URL (documents of `USE WEBSITE`, owned by
/// the crawler: a folder pass neither reads nor removes them).
pub fn is_web_document(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

/// The `.gbkb` folder of a bot, when it has a package folder.
pub fn kb_root(bot: &BotInfo) -> Option<PathBuf> {
    bot.folder.as_ref().map(|f| f.join(format!("{}.gbkb", bot.name)))
}

/// Whether `name` can name a knowledge base or a path component: not empty, not hidden,
/// no separators or NUL, not `..`.
pub fn valid_component(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.starts_with('.') && !name.contains(['/', '\\', '\0', ':'])
}

/// The knowledge bases (sub-folders of the `.gbkb` folder) of a bot.
pub fn list_kbs(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| valid_component(n))
        .collect();
    out.sort();
    out
}

/// The documents of a knowledge base folder: supported files, recursively, hidden
/// entries and links skipped, at most `max` (by path).
pub fn list_files(dir: &Path, max: usize) -> Vec<FileMeta> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !valid_component(&name) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if meta.is_dir() {
                stack.push((e.path(), rel));
            } else if meta.is_file() && extract::is_supported(&name) {
                let mtime_ms = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as i64);
                out.push(FileMeta {
                    path: rel,
                    full: e.path(),
                    size: meta.len() as i64,
                    mtime_ms,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.truncate(max);
    out
}

/// The id of a document's row.
pub fn document_id(bot: BotId, kb: &str, path: &str) -> String {
    let h = sha2::Sha256::digest(format!("{bot}\u{0}{kb}\u{0}{path}").as_bytes());
    crate::embedded::hex(&h[..16])
}

/// The id of a chunk: the same content always gives the same ids.
pub fn chunk_id(bot: BotId, kb: &str, path: &str, content_hash: &str, ordinal: usize) -> String {
    let h = sha2::Sha256::digest(
        format!("{bot}\u{0}{kb}\u{0}{path}\u{0}{content_hash}\u{0}{ordinal}").as_bytes(),
    );
    crate::embedded::hex(&h[..16])
}

/// What a pass does with one document.
#[derive(Clone, Debug)]
enum Work {
    /// Read the file (new, changed, pending, forced).
    Read(FileMeta),
    /// Embed the stored chunks again (the bot's embedding model changed).
    Reembed(FileMeta),
    /// The file is gone.
    Remove(DocumentRow),
}

impl Work {
    fn path(&self) -> &str {
        match self {
            Work::Read(f) | Work::Reembed(f) => &f.path,
            Work::Remove(r) => &r.path,
        }
    }
}

/// How a document's vectors stand for the bot's embedding model.
fn space_ok(row: &DocumentRow, space: &str) -> bool {
    row.vector_space == space || row.vector_space == format!("none:{space}")
}

impl KbService {
    fn chunk_opts(bot: &BotInfo) -> ChunkOpts {
        ChunkOpts::from_settings(bot.get("kb-chunk-size"), bot.get("kb-chunk-overlap"))
    }

    /// The work for one knowledge base, and how many documents need none.
    fn plan(
        &self,
        bot: &BotInfo,
        files: &[FileMeta],
        rows: &[DocumentRow],
        now: i64,
    ) -> (Vec<Work>, usize, usize) {
        let sig = Self::chunk_opts(bot).signature();
        let space = self.space(bot);
        let by_path: HashMap<&str, &DocumentRow> = rows.iter().map(|r| (r.path.as_str(), r)).collect();
        let mut work = Vec::new();
        let (mut unchanged, mut waiting) = (0, 0);
        for f in files {
            let Some(row) = by_path.get(f.path.as_str()) else {
                work.push(Work::Read(f.clone()));
                continue;
            };
            let same_file = row.file_size == f.size && row.file_mtime_ms == f.mtime_ms && row.chunker == sig;
            match row.status.as_str() {
                INDEXED if same_file && space_ok(row, &space) => unchanged += 1,
                INDEXED if same_file => work.push(Work::Reembed(f.clone())),
                FAILED if same_file => waiting += 1,
                PENDING if same_file && row.next_attempt_ms > now => waiting += 1,
                _ => work.push(Work::Read(f.clone())),
            }
        }
        let present: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for r in rows {
            if is_web_document(&r.path) {
                // A web page has no file: only the crawler reads it again. Its stored
                // chunks are embedded again when the model changed or embedding failed.
                match r.status.as_str() {
                    INDEXED if space_ok(r, &space) => unchanged += 1,
                    FAILED => waiting += 1,
                    PENDING if r.next_attempt_ms > now => waiting += 1,
                    _ => work.push(Work::Reembed(FileMeta {
                        path: r.path.clone(),
                        full: PathBuf::new(),
                        size: r.file_size,
                        mtime_ms: r.file_mtime_ms,
                    })),
                }
            } else if !present.contains(r.path.as_str()) {
                work.push(Work::Remove(r.clone()));
            }
        }
        (work, unchanged, waiting)
    }

    /// One pass over every knowledge base of `bot`. `progress` hears of each document.
    pub async fn index_bot(
        &self,
        bot: &BotInfo,
        progress: Option<&(dyn Fn(&Progress) + Sync)>,
    ) -> AppResult<IndexReport> {
        let mut report = IndexReport::default();
        let root = kb_root(bot);
        let mut kbs = root.as_deref().map(list_kbs).unwrap_or_default();
        // Knowledge bases whose folder is gone still have rows to delete.
        let b = bot.id.to_string();
        let rows = self.deps.db.run(move |c| repo::documents(c, &b)).await?;
        for r in &rows {
            if !kbs.contains(&r.kb) {
                kbs.push(r.kb.clone());
            }
        }
        let mut rows_by_kb: HashMap<String, Vec<DocumentRow>> = HashMap::new();
        for r in rows {
            rows_by_kb.entry(r.kb.clone()).or_default().push(r);
        }
        for kb in kbs {
            let dir = root.as_ref().map(|r| r.join(&kb));
            let rows = rows_by_kb.remove(&kb).unwrap_or_default();
            let r = self.index_kb(bot, &kb, dir.as_deref(), rows, progress).await?;
            report.add(&r);
        }
        Ok(report)
    }

    /// One pass over one knowledge base (see the module's documentation).
    async fn index_kb(
        &self,
        bot: &BotInfo,
        kb: &str,
        dir: Option<&Path>,
        rows: Vec<DocumentRow>,
        progress: Option<&(dyn Fn(&Progress) + Sync)>,
    ) -> AppResult<IndexReport> {
        let max = self.opts.max_files;
        let list = |dir: Option<&Path>| {
            let dir = dir.map(Path::to_path_buf);
            async move {
                match dir {
                    Some(d) => tokio::task::spawn_blocking(move || list_files(&d, max))
                        .await
                        .map_err(AppError::internal),
                    None => Ok(Vec::new()),
                }
            }
        };
        let files = list(dir).await?;
        let (work, unchanged, waiting) = self.plan(bot, &files, &rows, self.now_ms());
        if work.is_empty() {
            return Ok(IndexReport {
                unchanged,
                waiting,
                ..Default::default()
            });
        }
        let lock_name = format!("kb-index:{}:{kb}", bot.id);
        let Some(lock) = self.deps.cache.try_lock(&lock_name, self.opts.lock_ttl).await? else {
            return Ok(IndexReport {
                locked: 1,
                ..Default::default()
            });
        };
        let result = self.index_locked(bot, kb, dir, &lock, progress).await;
        if let Err(e) = self.deps.cache.unlock(&lock).await {
            tracing::warn!(error = %e, lock = %lock_name, "releasing the indexing lock failed");
        }
        self.set_status(bot.id, |s| {
            s.running = false;
            s.kb = None;
        });
        result
    }

    async fn index_locked(
        &self,
        bot: &BotInfo,
        kb: &str,
        dir: Option<&Path>,
        lock: &botstate::LockToken,
        progress: Option<&(dyn Fn(&Progress) + Sync)>,
    ) -> AppResult<IndexReport> {
        // Plan again: another instance may have done the work before we got the lock.
        let (b, k) = (bot.id.to_string(), kb.to_string());
        let rows = self
            .deps
            .db
            .run(move |c| repo::documents_of_kb(c, &b, &k))
            .await?;
        let max = self.opts.max_files;
        let files = match dir {
            Some(d) => {
                let d = d.to_path_buf();
                tokio::task::spawn_blocking(move || list_files(&d, max))
                    .await
                    .map_err(AppError::internal)?
            }
            None => Vec::new(),
        };
        let (work, unchanged, waiting) = self.plan(bot, &files, &rows, self.now_ms());
        let mut report = IndexReport {
            unchanged,
            waiting,
            ..Default::default()
        };
        let by_path: HashMap<String, DocumentRow> = rows.into_iter().map(|r| (r.path.clone(), r)).collect();
        let total = work.len();
        self.set_status(bot.id, |s| {
            s.running = true;
            s.kb = Some(kb.to_string());
            s.done = 0;
            s.total = total;
        });
        for (n, w) in work.into_iter().enumerate() {
            let row = by_path.get(w.path()).cloned();
            let path = w.path().to_string();
            match w {
                Work::Remove(row) => {
                    self.remove_document(bot, &row).await?;
                    report.removed += 1;
                }
                Work::Reembed(f) => {
                    let row = row.ok_or(AppError::NotFound)?;
                    self.reembed(bot, kb, &f.path, row, &mut report).await?;
                }
                Work::Read(f) => self.read_and_index(bot, kb, &f, row, &mut report).await?,
            }
            self.set_status(bot.id, |s| s.done = n + 1);
            if let Some(p) = progress {
                p(&Progress {
                    kb: kb.to_string(),
                    done: n + 1,
                    total,
                    path,
                });
            }
            if !self.deps.cache.extend_lock(lock, self.opts.lock_ttl).await? {
                tracing::warn!(bot = %bot.name, kb, "indexing lock lost; another instance goes on");
                break;
            }
        }
        Ok(report)
    }

    pub(crate) fn new_row(bot: &BotInfo, kb: &str, f: &FileMeta, now: i64) -> DocumentRow {
        DocumentRow {
            id: document_id(bot.id, kb, &f.path),
            bot_id: bot.id.to_string(),
            kb: kb.to_string(),
            path: f.path.clone(),
            content_hash: String::new(),
            file_size: f.size,
            file_mtime_ms: f.mtime_ms,
            chunker: String::new(),
            status: PENDING.into(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
            chunk_count: 0,
            vector_space: String::new(),
            updated_ms: now,
        }
    }

    async fn save(&self, row: DocumentRow) -> AppResult<()> {
        self.deps.db.write(move |c| repo::save_document(c, &row)).await
    }

    /// Counts a failed attempt and schedules the next (or gives up).
    async fn fail(&self, mut row: DocumentRow, error: String, report: &mut IndexReport) -> AppResult<()> {
        let now = self.now_ms();
        row.attempts += 1;
        row.last_error = Some(error.clone());
        row.updated_ms = now;
        if row.attempts >= self.opts.max_attempts {
            row.status = FAILED.into();
            row.next_attempt_ms = 0;
            tracing::warn!(bot_id = %row.bot_id, kb = %row.kb, path = %row.path, attempts = row.attempts, error = %error, "knowledge-base document failed; giving up until it changes");
        } else {
            row.status = PENDING.into();
            let shift = (row.attempts - 1).clamp(0, 20) as u32;
            row.next_attempt_ms = now + self.opts.backoff_base_ms.saturating_mul(1 << shift);
            tracing::info!(bot_id = %row.bot_id, kb = %row.kb, path = %row.path, attempts = row.attempts, error = %error, "knowledge-base document failed; will retry");
        }
        report.failed += 1;
        self.save(row).await
    }

    async fn read_and_index(
        &self,
        bot: &BotInfo,
        kb: &str,
        f: &FileMeta,
        row: Option<DocumentRow>,
        report: &mut IndexReport,
    ) -> AppResult<()> {
        let now = self.now_ms();
        let mut row = row.unwrap_or_else(|| Self::new_row(bot, kb, f, now));
        let full = f.full.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            let meta = std::fs::metadata(&full).map_err(|e| format!("cannot read the file: {e}"))?;
            if meta.len() > extract::MAX_FILE_BYTES {
                return Err(extract::ExtractError::TooLarge(meta.len()).to_string());
            }
            std::fs::read(&full).map_err(|e| format!("cannot read the file: {e}"))
        })
        .await
        .map_err(AppError::internal)?;
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                // The file may be gone already; the next pass removes it then.
                row.file_size = f.size;
                row.file_mtime_ms = f.mtime_ms;
                return self.fail(row, e, report).await;
            }
        };
        let hash = crate::embedded::hex(&sha2::Sha256::digest(&bytes));
        let name = f.path.clone();
        let content = Content {
            size: f.size,
            mtime_ms: f.mtime_ms,
            hash,
            extract: Box::new(move || extract::extract(&name, &bytes)),
        };
        self.index_content(bot, kb, content, row, report).await
    }

    /// Indexes a document's content (a file's, or a web page's): when its hash and the
    /// chunking are those already indexed, only the row's fingerprint is updated (and the
    /// stored chunks embedded again if the embedding model changed); otherwise the text is
    /// extracted, chunked, stored and embedded.
    pub(crate) async fn index_content(
        &self,
        bot: &BotInfo,
        kb: &str,
        content: Content,
        mut row: DocumentRow,
        report: &mut IndexReport,
    ) -> AppResult<()> {
        let now = self.now_ms();
        let sig = Self::chunk_opts(bot).signature();
        let Content {
            size,
            mtime_ms,
            hash,
            extract,
        } = content;
        let changed = row.content_hash != hash || row.chunker != sig;
        row.file_size = size;
        row.file_mtime_ms = mtime_ms;
        if !changed && row.status == INDEXED {
            // Touched, not changed: remember the new fingerprint only.
            row.updated_ms = now;
            let space = self.space(bot);
            let reembed = !space_ok(&row, &space);
            self.save(row.clone()).await?;
            if reembed {
                let path = row.path.clone();
                return self.reembed(bot, kb, &path, row, report).await;
            }
            report.unchanged += 1;
            return Ok(());
        }
        if changed {
            row.attempts = 0;
            row.last_error = None;
        }
        let opts = Self::chunk_opts(bot);
        let extracted =
            tokio::task::spawn_blocking(move || extract().map(|sections| chunk::chunk(&sections, &opts)))
                .await
                .map_err(AppError::internal)?;
        let path = row.path.clone();
        let chunks = match extracted {
            Ok(c) => c,
            Err(e) => {
                // The document is what it is now: unreadable. Its old passages go.
                self.drop_vectors(bot, &row).await;
                let (b, k, p) = (bot.id.to_string(), kb.to_string(), path.clone());
                self.deps
                    .db
                    .write(move |c| repo::replace_chunks(c, &b, &k, &p, &[]))
                    .await?;
                row.content_hash = hash;
                row.chunker = sig;
                row.chunk_count = 0;
                return self.fail(row, e.to_string(), report).await;
            }
        };
        let rows: Vec<ChunkRow> = chunks
            .iter()
            .map(|c| ChunkRow {
                id: chunk_id(bot.id, kb, &path, &hash, c.ordinal),
                bot_id: bot.id.to_string(),
                kb: kb.to_string(),
                path: path.clone(),
                ordinal: c.ordinal as i64,
                location: c.location.clone(),
                text: c.text.clone(),
            })
            .collect();
        row.content_hash = hash;
        row.chunker = sig;
        row.chunk_count = rows.len() as i64;
        row.status = PENDING.into();
        row.updated_ms = now;
        {
            let (row, rows) = (row.clone(), rows.clone());
            self.deps
                .db
                .write(move |c| {
                    repo::replace_chunks(c, &row.bot_id, &row.kb, &row.path, &rows)?;
                    repo::save_document(c, &row)
                })
                .await?;
        }
        report.chunks += rows.len();
        self.lexical_now(bot.id, kb, &path, &row, &rows);
        self.embed_document(bot, kb, row, rows, report).await?;
        report.indexed += 1;
        Ok(())
    }

    /// Puts a document's new chunks into the bot's lexical index at once (the periodic
    /// sync would too, a moment later).
    fn lexical_now(&self, bot: BotId, kb: &str, path: &str, row: &DocumentRow, rows: &[ChunkRow]) {
        let Some(lex) = self.lexical_of(bot) else {
            return;
        };
        let key = doc_key(kb, path);
        let pairs: Vec<(String, String)> = rows.iter().map(|r| (r.id.clone(), r.text.clone())).collect();
        if pairs.is_empty() {
            lex.index.write().expect("kb index").remove_document(&key);
            lex.versions.lock().expect("kb versions").remove(&key);
            return;
        }
        lex.index
            .write()
            .expect("kb index")
            .replace_document(kb, &key, &pairs);
        lex.versions.lock().expect("kb versions").insert(
            key,
            (row.content_hash.clone(), row.chunker.clone(), row.chunk_count),
        );
    }

    async fn reembed(
        &self,
        bot: &BotInfo,
        kb: &str,
        path: &str,
        row: DocumentRow,
        report: &mut IndexReport,
    ) -> AppResult<()> {
        let (b, k, p) = (bot.id.to_string(), kb.to_string(), path.to_string());
        let rows = self.deps.db.run(move |c| repo::chunks_of(c, &b, &k, &p)).await?;
        self.embed_document(bot, kb, row, rows, report).await?;
        report.reembedded += 1;
        Ok(())
    }

    /// Deletes a document's vectors from the collection they were made in.
    async fn drop_vectors(&self, bot: &BotInfo, row: &DocumentRow) {
        if row.vector_space.is_empty() || row.vector_space.starts_with("none:") {
            return;
        }
        let coll = collection_name(bot.id, &row.kb, &row.vector_space);
        if let Err(e) = self.deps.vectors.delete_by_document(&coll, &row.path).await
            && !matches!(e, AppError::NotFound)
        {
            tracing::warn!(bot = %bot.name, path = %row.path, error = %e, "deleting old vectors failed");
        }
    }

    /// Embeds a document's chunks and replaces its vectors; marks it indexed, or counts a
    /// failed attempt.
    async fn embed_document(
        &self,
        bot: &BotInfo,
        kb: &str,
        mut row: DocumentRow,
        chunks: Vec<ChunkRow>,
        report: &mut IndexReport,
    ) -> AppResult<()> {
        let space = self.space(bot);
        let coll = collection_name(bot.id, kb, &space);
        if row.vector_space != space {
            self.drop_vectors(bot, &row).await;
        }
        let mut embedded_space = space.clone();
        let want_dims: Option<usize> = bot.get("embedding-dimensions").and_then(|v| v.parse().ok());
        let mut started = false;
        for batch in chunks.chunks(self.opts.batch.max(1)) {
            let texts: Vec<String> = batch.iter().map(|c| c.text.clone()).collect();
            let n = texts.len();
            let vectors = match self.deps.llm.embed(Some(bot.id), texts).await {
                Ok(v) => {
                    report.embedded += n;
                    v
                }
                Err(AppError::NotConfigured(_)) => {
                    embedded_space = format!("none:{space}");
                    break;
                }
                Err(e) => return self.fail(row, format!("embedding: {e}"), report).await,
            };
            if vectors.len() != batch.len() {
                let msg = format!("embedding: {} vectors for {} texts", vectors.len(), batch.len());
                return self.fail(row, msg, report).await;
            }
            let dims = vectors[0].len();
            if dims == 0 || vectors.iter().any(|v| v.len() != dims) || want_dims.is_some_and(|w| w != dims) {
                let msg = format!(
                    "embedding: vectors of {dims} dimensions, expected {}",
                    want_dims.map_or("one size for all".to_string(), |w| w.to_string())
                );
                return self.fail(row, msg, report).await;
            }
            if !started {
                self.deps.vectors.ensure_collection(&coll, dims).await?;
                self.deps.vectors.delete_by_document(&coll, &row.path).await?;
                started = true;
            }
            let points = batch
                .iter()
                .zip(vectors)
                .map(|(c, v)| VectorPoint {
                    id: c.id.clone(),
                    vector: v,
                    payload: serde_json::json!({
                        "document": c.path,
                        "kb": c.kb,
                        "ordinal": c.ordinal,
                        "location": c.location,
                    }),
                })
                .collect();
            if let Err(e) = self.deps.vectors.upsert(&coll, points).await {
                return self.fail(row, format!("storing vectors: {e}"), report).await;
            }
        }
        if chunks.is_empty() && row.vector_space == space {
            self.deps.vectors.delete_by_document(&coll, &row.path).await.ok();
        }
        row.status = INDEXED.into();
        row.vector_space = embedded_space;
        row.attempts = 0;
        row.next_attempt_ms = 0;
        row.last_error = None;
        row.updated_ms = self.now_ms();
        self.save(row).await
    }

    pub(crate) async fn remove_document(&self, bot: &BotInfo, row: &DocumentRow) -> AppResult<()> {
        self.drop_vectors(bot, row).await;
        let (b, k, p) = (row.bot_id.clone(), row.kb.clone(), row.path.clone());
        self.deps
            .db
            .write(move |c| repo::delete_document(c, &b, &k, &p))
            .await?;
        if let Some(lex) = self.lexical_of(bot.id) {
            let key = doc_key(&row.kb, &row.path);
            lex.index.write().expect("kb index").remove_document(&key);
            lex.versions.lock().expect("kb versions").remove(&key);
        }
        Ok(())
    }

    /// Marks every document of a knowledge base (all of them when `kb` is `None`) to be
    /// read and indexed again on the next pass, failed ones included; returns how many.
    pub async fn request_reindex(&self, bot: BotId, kb: Option<&str>) -> AppResult<usize> {
        let (b, k) = (bot.to_string(), kb.map(str::to_string));
        let now = self.now_ms();
        let n = self
            .deps
            .db
            .write(move |c| {
                let rows = match &k {
                    Some(k) => repo::documents_of_kb(c, &b, k)?,
                    None => repo::documents(c, &b)?,
                };
                for mut r in rows.iter().cloned() {
                    r.status = PENDING.into();
                    r.attempts = 0;
                    r.next_attempt_ms = 0;
                    r.last_error = None;
                    // Forces a read: the fingerprint can no longer match.
                    r.file_size = -1;
                    r.updated_ms = now;
                    repo::save_document(c, &r)?;
                }
                Ok(rows.len())
            })
            .await?;
        self.wake();
        Ok(n)
    }

    /// The background indexer: every `scan_every` (or when woken), each bot of the
    /// registry is indexed and its lexical index synced; bots that left the registry are
    /// forgotten. Stops when `stop` is cancelled.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut known: Vec<BotId> = Vec::new();
        // The first pass waits one interval (or a wake-up): the bots are published after
        // this module installs, and a command that indexes in the foreground stops this
        // task before it has begun.
        tokio::select! {
            () = tokio::time::sleep(self.opts.scan_every) => {}
            () = self.wake.notified() => {}
            () = stop.cancelled() => return,
        }
        loop {
            let bots = self.deps.bots.all();
            for gone in known.iter().filter(|id| !bots.iter().any(|b| b.id == **id)) {
                self.drop_bot(*gone);
            }
            known = bots.iter().map(|b| b.id).collect();
            for bot in bots {
                if stop.is_cancelled() {
                    return;
                }
                let pass = tokio::select! {
                    r = self.index_bot(&bot, None) => r,
                    () = stop.cancelled() => return,
                };
                let now = self.now_ms();
                match pass {
                    Ok(r) => {
                        if r.indexed + r.removed + r.reembedded + r.failed > 0 {
                            tracing::info!(
                                bot = %bot.name,
                                indexed = r.indexed,
                                reembedded = r.reembedded,
                                removed = r.removed,
                                failed = r.failed,
                                chunks = r.chunks,
                                "knowledge base indexed"
                            );
                        }
                        self.set_status(bot.id, |s| {
                            s.last_pass_ms = Some(now);
                            s.last_error = None;
                        });
                    }
                    Err(e) => {
                        tracing::warn!(bot = %bot.name, error = %e, "knowledge-base pass failed");
                        self.set_status(bot.id, |s| {
                            s.last_pass_ms = Some(now);
                            s.last_error = Some(e.public_message());
                        });
                    }
                }
                if let Err(e) = self.sync_lexical(bot.id).await {
                    tracing::warn!(bot = %bot.name, error = %e, "knowledge-base lexical sync failed");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.opts.scan_every) => {}
                () = self.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
