//! A bot with a package folder, a migrated database, the embedded store in a temporary
//! folder, and a service over them, rebuilt at will as a restarted process would be.

use botlib::BotId;
use botserver_vectordb::testing::TestDoubleEmbedder;
use botserver_vectordb::{EmbeddedVectorStore, IndexOpts, KbDeps, KbService, MIGRATIONS};
use botstate::services::VectorStore;
use botstate::testing::TestDb;
use botstate::{BotInfo, BotRegistry, Db, MemoryCache};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct Env {
    pub db: Db,
    pub bots: Arc<BotRegistry>,
    pub bot: BotInfo,
    pub root: PathBuf,
    pub vectors_dir: PathBuf,
    pub now: Arc<AtomicI64>,
    _tmp: tempfile::TempDir,
    _testdb: Box<dyn std::any::Any>,
}

impl Env {
    pub fn new() -> Env {
        Env::with_settings(&[])
    }

    pub fn with_settings(settings: &[(&str, &str)]) -> Env {
        let testdb = TestDb::sqlite();
        let db = testdb.migrated(&[&MIGRATIONS]);
        Env::on(db, Box::new(testdb), settings)
    }

    /// The same on `db` (migrated here), which `guard` drops after use.
    pub fn on(db: Db, guard: Box<dyn std::any::Any>, settings: &[(&str, &str)]) -> Env {
        botstate::db::run_migrations(&mut db.get().expect("connection"), &[&MIGRATIONS]).expect("migrations");
        let testdb = guard;
        let tmp = tempfile::tempdir().expect("temp dir");
        let folder = tmp.path().join("shop.gbai");
        let root = folder.join("shop.gbkb");
        std::fs::create_dir_all(&root).expect("kb root");
        let bot = BotInfo {
            id: BotId::for_name("shop"),
            name: "shop".into(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            prompt: None,
            folder: Some(folder),
        };
        let bots = Arc::new(BotRegistry::default());
        bots.publish(bot.clone());
        Env {
            db,
            bots,
            bot,
            root,
            vectors_dir: tmp.path().join("vectors"),
            now: Arc::new(AtomicI64::new(1_000_000)),
            _tmp: tmp,
            _testdb: testdb,
        }
    }

    /// A fresh "process": a new store opened from disk, a new cache, a new service.
    pub fn start(&self, llm: Arc<TestDoubleEmbedder>) -> (Arc<KbService>, EmbeddedVectorStore) {
        let store = EmbeddedVectorStore::open(&self.vectors_dir).expect("store opens");
        (self.start_on(llm, Arc::new(store.clone()), ""), store)
    }

    /// A fresh "process" over `store`, whose tag is `store_tag`.
    pub fn start_on(
        &self,
        llm: Arc<TestDoubleEmbedder>,
        store: Arc<dyn VectorStore>,
        store_tag: &'static str,
    ) -> Arc<KbService> {
        let now = self.now.clone();
        let svc = KbService::with_clock(
            KbDeps {
                db: self.db.clone(),
                cache: Arc::new(MemoryCache::default()),
                llm,
                vectors: store,
                store_tag,
                bots: self.bots.clone(),
            },
            IndexOpts {
                backoff_base_ms: 30_000,
                ..Default::default()
            },
            Arc::new(move || now.load(Ordering::SeqCst)),
        );
        Arc::new(svc)
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Writes a document (creating folders), with a modification time that differs from
    /// any earlier write of it.
    pub fn write(&self, kb: &str, path: &str, content: &[u8]) {
        let p = self.root.join(kb).join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("folders");
        let before = std::fs::metadata(&p).ok().and_then(|m| m.modified().ok());
        std::fs::write(&p, content).expect("write");
        if let Some(b) = before {
            let f = std::fs::File::options().write(true).open(&p).expect("open");
            f.set_modified(b + std::time::Duration::from_secs(1))
                .expect("mtime");
        }
    }

    pub fn remove(&self, kb: &str, path: &str) {
        std::fs::remove_file(self.root.join(kb).join(path)).expect("remove");
    }
}

/// A generated corpus of `n` documents in several formats (mostly Markdown and text),
/// each about one catalogue item with a unique code word, over two knowledge bases.
pub fn write_corpus(env: &Env, n: usize) {
    const NOUNS: &[&str] = &[
        "kettle", "lamp", "chair", "bicycle", "backpack", "camera", "blender", "tent", "guitar", "heater",
    ];
    const PLACES: &[&str] = &[
        "Lisbon", "Porto", "Recife", "Oslo", "Kyoto", "Quito", "Accra", "Perth",
    ];
    for i in 0..n {
        let noun = NOUNS[i % NOUNS.len()];
        let place = PLACES[(i / 3) % PLACES.len()];
        let code = code_word(i);
        let kb = if i % 5 == 0 { "manuals" } else { "catalogue" };
        let para = format!(
            "The {code} {noun} is assembled in {place}. It weighs {} kilograms and comes with a {}-year warranty. \
             Clean the {noun} with a dry cloth. Item number {i} of the catalogue.",
            1 + i % 9,
            1 + i % 4
        );
        match i % 10 {
            0..=3 => env.write(kb, &format!("items/{code}.md"), format!("# {code}\n\n{para}\n\n## Care\n\nStore the {noun} indoors.\n").as_bytes()),
            4..=6 => env.write(kb, &format!("{code}.txt"), para.as_bytes()),
            7 => env.write(kb, &format!("{code}.html"), format!("<html><head><title>{code}</title><script>var x=1;</script></head><body><h1>{code}</h1><p>{para}</p></body></html>").as_bytes()),
            8 => env.write(kb, &format!("{code}.csv"), format!("name,description\n{code},\"{para}\"\n").as_bytes()),
            _ => env.write(kb, &format!("{code}.json"), serde_json::json!({"name": code, "description": para}).to_string().as_bytes()),
        }
    }
}

/// A pronounceable word unique to `i`.
pub fn code_word(i: usize) -> String {
    const SYL: &[&str] = &["ka", "lo", "mi", "ru", "te", "zo", "pa", "ne", "vi", "su"];
    let mut w = String::from("x");
    let mut n = i + 1000;
    while n > 0 {
        w.push_str(SYL[n % 10]);
        n /= 10;
    }
    w
}

/// A fresh database on the PostgreSQL server with pgvector at `BOT_TEST_PGVECTOR_URL`,
/// dropped with this value (made as `TestDb::postgres` makes one on the plain server).
pub struct PgVectorDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgVectorDb {
    /// `None` (the test skips) when `BOT_TEST_PGVECTOR_URL` is not set, outside CI.
    pub fn create() -> Option<PgVectorDb> {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let admin_url = botstate::testing::service_url("BOT_TEST_PGVECTOR_URL")?;
        let name = format!("bv_{}", uuid_like());
        let mut admin = diesel::PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("BOT_TEST_PGVECTOR_URL unreachable: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let (base, query) = admin_url
            .split_once('?')
            .map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
        let (server, _) = base
            .rsplit_once('/')
            .expect("BOT_TEST_PGVECTOR_URL names a database");
        let url = match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        };
        Some(PgVectorDb { url, admin_url, name })
    }

    pub fn connect(&self) -> Db {
        Db::connect(
            &botstate::DatabaseTarget::Postgres(self.url.clone()),
            &botstate::db::DbOptions {
                pool_size: 4,
                ..Default::default()
            },
        )
        .expect("connect to the pgvector test database")
    }
}

impl Drop for PgVectorDb {
    fn drop(&mut self) {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// 32 hex characters, different for every call in the process and across processes.
fn uuid_like() -> String {
    use sha2::Digest;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = format!(
        "{:?}{}{}",
        std::time::SystemTime::now(),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    botserver_vectordb::embedded::hex(&sha2::Sha256::digest(seed.as_bytes())[..16])
}
