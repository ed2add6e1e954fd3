//! A bot with a package folder, a migrated database, the embedded store in a temporary
//! folder, and a service over them, rebuilt at will as a restarted process would be.

use botlib::BotId;
use botserver_vectordb::testing::TestDoubleEmbedder;
use botserver_vectordb::{EmbeddedVectorStore, IndexOpts, KbDeps, KbService, MIGRATIONS};
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
    _testdb: TestDb,
}

impl Env {
    pub fn new() -> Env {
        Env::with_settings(&[])
    }

    pub fn with_settings(settings: &[(&str, &str)]) -> Env {
        let testdb = TestDb::sqlite();
        let db = testdb.migrated(&[&MIGRATIONS]);
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
        let now = self.now.clone();
        let svc = KbService::with_clock(
            KbDeps {
                db: self.db.clone(),
                cache: Arc::new(MemoryCache::default()),
                llm,
                vectors: Arc::new(store.clone()),
                bots: self.bots.clone(),
            },
            IndexOpts {
                backoff_base_ms: 30_000,
                ..Default::default()
            },
            Arc::new(move || now.load(Ordering::SeqCst)),
        );
        (Arc::new(svc), store)
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
