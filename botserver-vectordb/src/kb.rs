//! [`KbService`]: the knowledge bases of every bot, implementing botstate's
//! [`KnowledgeBase`]. A search runs BM25 over the bot's chunks always, and vector search
//! when the bot has an embedding model (the query embedded through `LlmProvider::embed`);
//! both rankings are fused (reciprocal rank fusion, [`crate::hybrid`]), cut at the bot's
//! `kb-min-score` and `kb-top-k` (default 5), and returned as passages with their source
//! file, location and score. With no embedding model (`NotConfigured`) or an embedding
//! call that fails, the answer is BM25's alone.
//!
//! The lexical index of each bot lives in memory and is kept in step with the chunks
//! table (`sync_lexical`, run by the background indexer every few seconds and before the
//! first search of a bot), so every instance sharing the database answers alike.

use crate::hybrid;
use crate::lexical::Bm25Index;
use crate::repo;
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botstate::services::{KbQuery, KnowledgeBase, LlmProvider, Passage, VectorStore};
use botstate::{BotInfo, BotRegistry, Cache, Db};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Default passages per search (`kb-top-k`).
pub const DEFAULT_TOP_K: usize = 5;
/// Most passages a search returns, whatever is asked.
pub const MAX_TOP_K: usize = 50;

/// How indexing behaves.
#[derive(Clone, Debug)]
pub struct IndexOpts {
    /// Texts per embedding call.
    pub batch: usize,
    /// Attempts before a document is recorded as failed.
    pub max_attempts: i64,
    /// The first retry waits this long; each later one twice as long as the one before.
    pub backoff_base_ms: i64,
    /// How long the per-(bot, kb) indexing lock lives without being extended.
    pub lock_ttl: Duration,
    /// How often the background task looks at the bots' folders.
    pub scan_every: Duration,
    /// Most files read in one knowledge base.
    pub max_files: usize,
}

impl Default for IndexOpts {
    fn default() -> Self {
        IndexOpts {
            batch: 64,
            max_attempts: 5,
            backoff_base_ms: 30_000,
            lock_ttl: Duration::from_secs(60),
            scan_every: Duration::from_secs(2),
            max_files: 20_000,
        }
    }
}

/// Milliseconds since the Unix epoch (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// What the service uses from the server.
#[derive(Clone)]
pub struct KbDeps {
    /// The database (documents and chunks tables).
    pub db: Db,
    /// Locks, so one instance indexes a knowledge base at a time.
    pub cache: Arc<dyn Cache>,
    /// Embeddings.
    pub llm: Arc<dyn LlmProvider>,
    /// Vectors.
    pub vectors: Arc<dyn VectorStore>,
    /// Which store `vectors` is, as part of every document's vector space: empty for the
    /// embedded store, `pgvector` or `qdrant` (see [`KbService::space`]).
    pub store_tag: &'static str,
    /// The bots and their settings and folders.
    pub bots: Arc<BotRegistry>,
}

/// One bot's lexical index and the versions of the documents in it.
#[derive(Default)]
pub(crate) struct Lexical {
    pub(crate) index: RwLock<Bm25Index>,
    /// `kb \0 path` → (content hash, chunker, chunk count) loaded.
    pub(crate) versions: Mutex<HashMap<String, (String, String, i64)>>,
}

/// What the background indexer is doing for a bot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunStatus {
    /// Indexing now.
    pub running: bool,
    /// The knowledge base being indexed.
    pub kb: Option<String>,
    /// Documents done and to do in the current pass.
    pub done: usize,
    /// Documents to do in the current pass.
    pub total: usize,
    /// When the last pass ended (Unix milliseconds).
    pub last_pass_ms: Option<i64>,
    /// Why the last pass stopped early, if it did.
    pub last_error: Option<String>,
}

/// The knowledge bases of every bot (see the module's documentation).
pub struct KbService {
    pub(crate) deps: KbDeps,
    pub(crate) opts: IndexOpts,
    pub(crate) clock: Clock,
    pub(crate) lexical: Mutex<HashMap<BotId, Arc<Lexical>>>,
    pub(crate) status: Mutex<HashMap<BotId, RunStatus>>,
    /// Wakes the background indexer before its next tick (an upload, a reindex).
    pub(crate) wake: tokio::sync::Notify,
}

/// The document key in a bot's lexical index.
pub(crate) fn doc_key(kb: &str, path: &str) -> String {
    format!("{kb}\u{0}{path}")
}

/// What identifies the embedding model of a bot: vectors made under another are never
/// compared with it.
pub fn vector_space(bot: &BotInfo) -> String {
    format!(
        "{}|{}|{}",
        bot.get("embedding-url").unwrap_or_default(),
        bot.get("embedding-model").unwrap_or_default(),
        bot.get("embedding-dimensions").unwrap_or_default()
    )
}

/// The vector collection of a bot's knowledge base under an embedding model.
pub fn collection_name(bot: BotId, kb: &str, space: &str) -> String {
    let h = sha2::Sha256::digest(format!("{kb}\u{0}{space}").as_bytes());
    format!("kb_{}_{}", bot.as_uuid().simple(), crate::embedded::hex(&h[..8]))
}

impl KbService {
    /// A service over `deps`.
    pub fn new(deps: KbDeps, opts: IndexOpts) -> KbService {
        KbService::with_clock(deps, opts, system_clock())
    }

    /// A service with its own clock (tests of back-off).
    pub fn with_clock(deps: KbDeps, opts: IndexOpts, clock: Clock) -> KbService {
        KbService {
            deps,
            opts,
            clock,
            lexical: Mutex::new(HashMap::new()),
            status: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Which vector store the service uses: empty for the embedded store, `pgvector` or
    /// `qdrant`.
    pub fn store_tag(&self) -> &'static str {
        self.deps.store_tag
    }

    /// The vector space of `bot`'s documents in this service's store: the embedding model
    /// ([`vector_space`]), prefixed by the store's tag unless it is the embedded store.
    /// Moving to another store therefore changes every document's space, and the indexer
    /// embeds them again from their stored chunks instead of leaving the new store empty.
    pub fn space(&self, bot: &BotInfo) -> String {
        match self.deps.store_tag {
            "" => vector_space(bot),
            tag => format!("{tag}|{}", vector_space(bot)),
        }
    }

    /// Now, by the service's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// The bots registry.
    pub fn bots(&self) -> &BotRegistry {
        &self.deps.bots
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.deps.db
    }

    /// Asks the background indexer to look now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What the indexer is doing for `bot`.
    pub fn run_status(&self, bot: BotId) -> RunStatus {
        self.status
            .lock()
            .expect("kb status")
            .get(&bot)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn set_status(&self, bot: BotId, f: impl FnOnce(&mut RunStatus)) {
        f(self.status.lock().expect("kb status").entry(bot).or_default());
    }

    pub(crate) fn lexical_of(&self, bot: BotId) -> Option<Arc<Lexical>> {
        self.lexical.lock().expect("kb lexical").get(&bot).cloned()
    }

    /// Forgets a bot's in-memory index (the bot was removed).
    pub(crate) fn drop_bot(&self, bot: BotId) {
        self.lexical.lock().expect("kb lexical").remove(&bot);
        self.status.lock().expect("kb status").remove(&bot);
    }

    /// Brings the bot's lexical index in step with the chunks table: documents whose
    /// content, chunking or chunk count changed are loaded again, removed ones dropped.
    /// Returns how many documents changed.
    pub async fn sync_lexical(&self, bot: BotId) -> AppResult<usize> {
        let lex = self
            .lexical
            .lock()
            .expect("kb lexical")
            .entry(bot)
            .or_default()
            .clone();
        let b = bot.to_string();
        let rows = self.deps.db.run(move |c| repo::documents(c, &b)).await?;
        let wanted: HashMap<String, (String, String, i64)> = rows
            .iter()
            .filter(|r| r.chunk_count > 0)
            .map(|r| {
                (
                    doc_key(&r.kb, &r.path),
                    (r.content_hash.clone(), r.chunker.clone(), r.chunk_count),
                )
            })
            .collect();
        let (stale, gone): (Vec<String>, Vec<String>) = {
            let have = lex.versions.lock().expect("kb versions");
            (
                wanted
                    .iter()
                    .filter(|(k, v)| have.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .collect(),
                have.keys()
                    .filter(|k| !wanted.contains_key(*k))
                    .cloned()
                    .collect(),
            )
        };
        if stale.is_empty() && gone.is_empty() {
            return Ok(0);
        }
        for key in &gone {
            lex.index.write().expect("kb index").remove_document(key);
            lex.versions.lock().expect("kb versions").remove(key);
        }
        for key in &stale {
            let (kb, path) = key.split_once('\u{0}').unwrap_or_default();
            let (b, kb2, p) = (bot.to_string(), kb.to_string(), path.to_string());
            let chunks = self
                .deps
                .db
                .run(move |c| repo::chunks_of(c, &b, &kb2, &p))
                .await?;
            let pairs: Vec<(String, String)> = chunks.into_iter().map(|c| (c.id, c.text)).collect();
            // The version the loaded chunks belong to may be newer than `wanted`; then
            // the next sync loads them again, which is harmless.
            lex.index
                .write()
                .expect("kb index")
                .replace_document(kb, key, &pairs);
            lex.versions
                .lock()
                .expect("kb versions")
                .insert(key.clone(), wanted[key].clone());
        }
        Ok(stale.len() + gone.len())
    }

    /// The passages for a question (the [`KnowledgeBase`] search, for a known bot).
    pub async fn search_bot(&self, bot: &BotInfo, query: &KbQuery) -> AppResult<Vec<Passage>> {
        let top_k = query
            .top_k
            .unwrap_or_else(|| bot.parse_or("kb-top-k", DEFAULT_TOP_K))
            .clamp(1, MAX_TOP_K);
        let min_score: f32 = bot.parse_or("kb-min-score", 0.0);
        let text = query.query.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let lex = match self.lexical_of(bot.id) {
            Some(l) => l,
            None => {
                self.sync_lexical(bot.id).await?;
                self.lexical_of(bot.id).ok_or(AppError::NotFound)?
            }
        };
        let wanted: HashSet<String> = query.kbs.iter().map(|k| k.trim().to_lowercase()).collect();
        let keep_kb = |kb: &str| wanted.is_empty() || wanted.contains(&kb.to_lowercase());
        let depth = (top_k * 4).max(20);
        let (lexical, kbs) = {
            let ix = lex.index.read().expect("kb index");
            let hits = ix.search(text, depth, &|c| keep_kb(&c.group));
            let kbs: Vec<String> = ix
                .groups()
                .iter()
                .filter(|g| keep_kb(g))
                .map(|g| g.to_string())
                .collect();
            (hits.into_iter().map(|h| h.chunk.id).collect::<Vec<_>>(), kbs)
        };
        let mut lists = vec![lexical];
        lists.extend(self.vector_hits(bot, text, &kbs, depth).await);
        let fused = hybrid::fuse(&lists, top_k, min_score);
        if fused.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = fused.iter().map(|f| f.id.clone()).collect();
        let rows = self.deps.db.run(move |c| repo::chunks_by_id(c, &ids)).await?;
        let mut rows: HashMap<String, repo::ChunkRow> = rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(fused
            .into_iter()
            .filter_map(|f| {
                rows.remove(&f.id).map(|r| Passage {
                    kb: r.kb,
                    source: r.path,
                    location: r.location,
                    text: r.text,
                    score: f.score,
                })
            })
            .collect())
    }

    /// Chunk ids by vector similarity across `kbs`, best first; `None` when no vector
    /// search was made (no embedding model, or embedding the query failed, logged).
    async fn vector_hits(
        &self,
        bot: &BotInfo,
        text: &str,
        kbs: &[String],
        depth: usize,
    ) -> Option<Vec<String>> {
        if kbs.is_empty() {
            return None;
        }
        let q = match self.deps.llm.embed(Some(bot.id), vec![text.to_string()]).await {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            Ok(_) => {
                tracing::warn!(bot = %bot.name, "embedding a query returned no vector");
                return None;
            }
            Err(AppError::NotConfigured(_)) => return None,
            Err(e) => {
                tracing::warn!(bot = %bot.name, error = %e, "embedding a query failed; lexical results only");
                return None;
            }
        };
        let space = self.space(bot);
        let mut hits = Vec::new();
        for kb in kbs {
            let coll = collection_name(bot.id, kb, &space);
            match self.deps.vectors.search(&coll, q.clone(), depth, None).await {
                Ok(h) => hits.extend(h),
                Err(AppError::NotFound) => {}
                Err(e) => tracing::warn!(bot = %bot.name, kb = %kb, error = %e, "vector search failed"),
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(depth);
        Some(hits.into_iter().map(|h| h.id).collect())
    }
}

#[async_trait]
impl KnowledgeBase for KbService {
    async fn search(&self, query: KbQuery) -> AppResult<Vec<Passage>> {
        let bot = self.deps.bots.get(query.bot).ok_or(AppError::NotFound)?;
        self.search_bot(&bot, &query).await
    }

    /// `USE WEBSITE`: a bounded crawl into `web-<host>` ([`crate::website`]).
    async fn index_website(&self, bot: BotId, url: String) -> AppResult<String> {
        let bot = self.deps.bots.get(bot).ok_or(AppError::NotFound)?;
        let report = self
            .crawl_website(&bot, &url, &crate::website::CrawlOpts::default())
            .await?;
        Ok(report.kb)
    }
}
