//! Benchmarks of the knowledge bases (run with `cargo bench -p botserver-vectordb`):
//! - embedded vector search over 100,000 chunks of 384 dimensions (goal: p99 under
//!   20 ms), with and without a payload filter;
//! - BM25 search over 100,000 chunks;
//! - indexing throughput in chunks per second, the embedding model excluded (a test
//!   double that returns a fixed vector at no cost), on SQLite;
//! - pgvector search over the same 100,000 chunks (HNSW, cosine), and over 100,000
//!   clustered vectors (closer to real embeddings), at three `ef_search` values, with and
//!   without a filter, with recall@20 against an exact scan, when
//!   `BOT_TEST_PGVECTOR_URL` names a PostgreSQL server with pgvector (database
//!   `bench_pgvector`, dropped afterwards unless `BENCH_PGVECTOR_KEEP=1`); skipped
//!   otherwise.
//!
//! Besides criterion's figures, each prints the percentiles it measured itself.

use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botserver_vectordb::embedded::ScanOpts;
use botserver_vectordb::lexical::Bm25Index;
use botserver_vectordb::{EmbeddedVectorStore, IndexOpts, KbDeps, KbService, MIGRATIONS, PgVectorStore};
use botstate::services::{ChatChunk, ChatRequest, ChatResponse, LlmProvider, VectorPoint, VectorStore};
use botstate::{BotInfo, BotRegistry, MemoryCache};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::stream::BoxStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 100_000;
const DIMS: usize = 384;

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f32 {
        (self.next() % 2_000_001) as f32 / 1_000_000.0 - 1.0
    }
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} runs",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
        v.len()
    )
}

fn vector_search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedVectorStore::open(dir.path()).unwrap();
    store.ensure_collection_sync("bench", DIMS).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    for batch in 0..(N / 5_000) {
        store.upsert_sync("bench", bench_points(&mut rng, batch)).unwrap();
    }
    eprintln!(
        "embedded store: {N} points of {DIMS} dimensions stored in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let queries: Vec<Vec<f32>> = (0..64).map(|_| (0..DIMS).map(|_| rng.unit()).collect()).collect();
    let filter = serde_json::json!({"kb": "kb2"});
    // The same search without the i8 pre-selection, and on one thread.
    for (label, scan) in [
        (
            "exact f32, one thread",
            ScanOpts {
                parallel_from: usize::MAX,
                quantized_from: usize::MAX,
            },
        ),
        (
            "exact f32, two threads",
            ScanOpts {
                parallel_from: 0,
                quantized_from: usize::MAX,
            },
        ),
        (
            "i8 candidates, one thread",
            ScanOpts {
                parallel_from: usize::MAX,
                quantized_from: 0,
            },
        ),
    ] {
        store.set_scan(scan);
        let mut times = Vec::new();
        for i in 0..300 {
            let t = Instant::now();
            store
                .search_sync("bench", queries[i % queries.len()].clone(), 20, None)
                .unwrap();
            times.push(t.elapsed());
        }
        eprintln!(
            "embedded search, 100k x 384, top 20, {label}: {}",
            percentiles(times)
        );
    }
    store.set_scan(ScanOpts::default());
    for (label, f) in [("no filter", None), ("filter kb=kb2", Some(&filter))] {
        let mut times = Vec::new();
        for i in 0..500 {
            let q = queries[i % queries.len()].clone();
            let t = Instant::now();
            let hits = store.search_sync("bench", q, 20, f).unwrap();
            times.push(t.elapsed());
            assert_eq!(hits.len(), 20);
        }
        eprintln!(
            "embedded search, 100k x 384, top 20, {label}: {}",
            percentiles(times)
        );
    }
    let mut i = 0;
    c.bench_function("embedded_search_100k_384", |b| {
        b.iter(|| {
            i += 1;
            store
                .search_sync("bench", queries[i % queries.len()].clone(), 20, None)
                .unwrap()
        })
    });
}

/// Words drawn with a skewed distribution, so some are common and most are rare.
fn word(rng: &mut Rng) -> String {
    let r = rng.next() % 1_000_000;
    let rank = (r * r / 1_000_000) % 20_000;
    format!("w{rank}")
}

fn bm25_search(c: &mut Criterion) {
    let mut rng = Rng(42);
    let mut ix = Bm25Index::default();
    let start = Instant::now();
    for d in 0..(N / 10) {
        let chunks: Vec<(String, String)> = (0..10)
            .map(|i| {
                let text: Vec<String> = (0..120).map(|_| word(&mut rng)).collect();
                (format!("c{d}-{i}"), text.join(" "))
            })
            .collect();
        ix.replace_document(if d % 2 == 0 { "a" } else { "b" }, &format!("d{d}"), &chunks);
    }
    eprintln!(
        "bm25: {} chunks of 120 words indexed in {:.1} s",
        ix.len(),
        start.elapsed().as_secs_f64()
    );
    let queries: Vec<String> = (0..64)
        .map(|_| (0..6).map(|_| word(&mut rng)).collect::<Vec<_>>().join(" "))
        .collect();
    let mut times = Vec::new();
    for i in 0..500 {
        let t = Instant::now();
        let hits = ix.search(&queries[i % queries.len()], 20, &|_| true);
        times.push(t.elapsed());
        assert!(!hits.is_empty());
    }
    eprintln!(
        "bm25 search, 100k chunks, 6-word queries, top 20: {}",
        percentiles(times)
    );
    let mut i = 0;
    c.bench_function("bm25_search_100k", |b| {
        b.iter(|| {
            i += 1;
            ix.search(&queries[i % queries.len()], 20, &|_| true)
        })
    });
}

/// An embedding test double that costs nothing: the same vector for every text.
struct ZeroCostEmbedderDouble;

#[async_trait]
impl LlmProvider for ZeroCostEmbedderDouble {
    async fn chat(&self, _: ChatRequest) -> AppResult<ChatResponse> {
        Err(AppError::NotConfigured("llm"))
    }
    async fn chat_stream(&self, _: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>> {
        Err(AppError::NotConfigured("llm"))
    }
    async fn embed(&self, _: Option<BotId>, inputs: Vec<String>) -> AppResult<Vec<Vec<f32>>> {
        Ok(inputs.iter().map(|_| vec![0.05; DIMS]).collect())
    }
}

fn indexing_throughput(_c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let testdb = botstate::testing::TestDb::sqlite();
    let db = testdb.migrated(&[&MIGRATIONS]);
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("bench.gbai");
    let dir = folder.join("bench.gbkb").join("docs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(7);
    // 1,000 documents of about 10 chunks each (1,000 characters a chunk).
    for d in 0..1_000 {
        let paras: Vec<String> = (0..20)
            .map(|_| {
                let s: Vec<String> = (0..60).map(|_| word(&mut rng)).collect();
                format!("{}.", s.join(" "))
            })
            .collect();
        std::fs::write(dir.join(format!("doc{d}.md")), paras.join("\n\n")).unwrap();
    }
    let bot = BotInfo {
        id: BotId::for_name("bench"),
        name: "bench".into(),
        folder: Some(folder),
        ..Default::default()
    };
    let bots = Arc::new(BotRegistry::default());
    bots.publish(bot.clone());
    let store = EmbeddedVectorStore::open(&tmp.path().join("vectors")).unwrap();
    let svc = KbService::new(
        KbDeps {
            db,
            cache: Arc::new(MemoryCache::default()),
            llm: Arc::new(ZeroCostEmbedderDouble),
            vectors: Arc::new(store),
            store_tag: "",
            bots,
        },
        IndexOpts::default(),
    );
    let t = Instant::now();
    let r = rt.block_on(svc.index_bot(&bot, None)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "indexing: {} documents, {} chunks in {secs:.2} s = {:.0} chunks/s ({:.0} documents/s), embedding excluded",
        r.indexed,
        r.chunks,
        r.chunks as f64 / secs,
        r.indexed as f64 / secs
    );
    let t = Instant::now();
    let r = rt.block_on(svc.index_bot(&bot, None)).unwrap();
    eprintln!(
        "indexing again, nothing changed: {} documents checked in {:.1} ms",
        r.unchanged,
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// The points of [`vector_search`], in the same order: the same seed gives the same data.
fn bench_points(rng: &mut Rng, batch: usize) -> Vec<VectorPoint> {
    (0..5_000)
        .map(|i| {
            let n = batch * 5_000 + i;
            VectorPoint {
                id: format!("c{n}"),
                vector: (0..DIMS).map(|_| rng.unit()).collect(),
                payload: serde_json::json!({"document": format!("d{}", n / 10), "kb": format!("kb{}", n % 4)}),
            }
        })
        .collect()
}

/// The exact top 20 ids of each query (by cosine) over normalised vectors `all`.
fn exact_top20(all: &[f32], queries: &[Vec<f32>]) -> Vec<std::collections::HashSet<String>> {
    queries
        .iter()
        .map(|q| {
            let mut exact: Vec<(f32, usize)> = all
                .chunks_exact(DIMS)
                .enumerate()
                .map(|(i, v)| (botserver_vectordb::embedded::dot(v, q), i))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            exact[..20].iter().map(|(_, i)| format!("c{i}")).collect()
        })
        .collect()
}

fn normalised(v: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(move |x| x / n)
}

/// Search times (top 20, with and without a filter) and recall@20 at three `ef_search`.
fn measure_pgvector(
    rt: &tokio::runtime::Runtime,
    store: &PgVectorStore,
    coll: &str,
    label: &str,
    queries: &[Vec<f32>],
    truth: &[std::collections::HashSet<String>],
) {
    let filter = serde_json::json!({"kb": "kb2"});
    for ef in [40, 100, 400] {
        store.set_ef_search(ef);
        for (what, f) in [("no filter", None), ("filter kb=kb2", Some(filter.clone()))] {
            let mut times = Vec::new();
            for i in 0..300 {
                let q = queries[i % queries.len()].clone();
                let t = Instant::now();
                let hits = rt.block_on(store.search(coll, q, 20, f.clone())).unwrap();
                times.push(t.elapsed());
                assert_eq!(hits.len(), 20);
            }
            eprintln!(
                "pgvector search, 100k x 384 {label}, top 20, ef_search {ef}, {what}: {}",
                percentiles(times)
            );
        }
        let mut found = 0;
        for (q, truth) in queries.iter().zip(truth) {
            let hits = rt.block_on(store.search(coll, q.clone(), 20, None)).unwrap();
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
        }
        eprintln!(
            "pgvector search, 100k x 384 {label}, ef_search {ef}, recall@20 against an exact scan: {:.3}",
            found as f64 / (20 * queries.len()) as f64
        );
    }
    store.set_ef_search(botserver_vectordb::pgvector::DEFAULT_EF_SEARCH);
}

fn pgvector_search(c: &mut Criterion) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let Some(admin_url) = std::env::var("BOT_TEST_PGVECTOR_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("pgvector search: BOT_TEST_PGVECTOR_URL not set; skipped");
        return;
    };
    // BENCH_PGVECTOR_KEEP=1 keeps the loaded database for the next run (loading 100k
    // points while keeping the HNSW index up to date takes minutes).
    let keep = std::env::var("BENCH_PGVECTOR_KEEP").is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let name = "bench_pgvector";
    let mut admin = diesel::PgConnection::establish(&admin_url).expect("BOT_TEST_PGVECTOR_URL reachable");
    let _ = admin.batch_execute(&format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = botstate::Db::connect(
        &botstate::DatabaseTarget::Postgres(url.clone()),
        &botstate::db::DbOptions {
            pool_size: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let store = rt.block_on(PgVectorStore::open(db)).unwrap();

    // 1. The embedded store's data (uniform random vectors: the hardest case for a graph
    //    index), loaded through the store with its HNSW index kept up to date.
    rt.block_on(store.ensure_collection("bench", DIMS)).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let loaded = rt.block_on(store.count("bench")).unwrap() as usize == N;
    let mut all: Vec<f32> = Vec::with_capacity(N * DIMS);
    let start = Instant::now();
    for batch in 0..(N / 5_000) {
        let pts = bench_points(&mut rng, batch);
        for p in &pts {
            all.extend(normalised(&p.vector));
        }
        if !loaded {
            rt.block_on(store.upsert("bench", pts)).unwrap();
        }
    }
    if loaded {
        eprintln!(
            "pgvector {}: {N} uniform points reused from the last run",
            store.extension_version()
        );
    } else {
        eprintln!(
            "pgvector {}: {N} points of {DIMS} dimensions stored (HNSW kept up to date) in {:.1} s",
            store.extension_version(),
            start.elapsed().as_secs_f64()
        );
    }
    let queries: Vec<Vec<f32>> = (0..64).map(|_| (0..DIMS).map(|_| rng.unit()).collect()).collect();
    let truth = exact_top20(&all, &queries);
    measure_pgvector(&rt, &store, "bench", "(uniform)", &queries, &truth);

    // 2. Clustered vectors, closer to real embeddings: 1,000 centres, each point its
    //    centre plus noise; queries likewise. Loaded without the HNSW index, which is
    //    then built in one go (pgvector's advice for a bulk load).
    rt.block_on(store.ensure_collection("bench_clustered", DIMS))
        .unwrap();
    let mut crng = Rng(0x2545_f491_4f6c_dd1d);
    let centres: Vec<Vec<f32>> = (0..1_000)
        .map(|_| (0..DIMS).map(|_| crng.unit()).collect())
        .collect();
    let noisy = |c: &[f32], rng: &mut Rng| -> Vec<f32> { c.iter().map(|x| x + 0.6 * rng.unit()).collect() };
    let loaded = rt.block_on(store.count("bench_clustered")).unwrap() as usize == N;
    let mut pg = diesel::PgConnection::establish(&url).unwrap();
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    let table = diesel::RunQueryDsl::get_result::<T>(
        diesel::sql_query("SELECT table_name FROM kb_vector_collections WHERE name = 'bench_clustered'"),
        &mut pg,
    )
    .unwrap()
    .table_name;
    let mut all: Vec<f32> = Vec::with_capacity(N * DIMS);
    let start = Instant::now();
    if !loaded {
        pg.batch_execute(&format!("DROP INDEX IF EXISTS {table}_embedding"))
            .unwrap();
    }
    for batch in 0..(N / 5_000) {
        let pts: Vec<VectorPoint> = (0..5_000)
            .map(|i| {
                let n = batch * 5_000 + i;
                VectorPoint {
                    id: format!("c{n}"),
                    vector: noisy(&centres[n % centres.len()], &mut crng),
                    // Each cluster spread over the four knowledge bases.
                    payload: serde_json::json!({"document": format!("d{}", n / 10), "kb": format!("kb{}", (n / 1_000) % 4)}),
                }
            })
            .collect();
        for p in &pts {
            all.extend(normalised(&p.vector));
        }
        if !loaded {
            rt.block_on(store.upsert("bench_clustered", pts)).unwrap();
        }
    }
    if !loaded {
        let stored = start.elapsed().as_secs_f64();
        let t = Instant::now();
        pg.batch_execute(&format!(
            "SET maintenance_work_mem = '512MB';
             CREATE INDEX {table}_embedding ON {table} USING hnsw (embedding vector_cosine_ops);"
        ))
        .unwrap();
        eprintln!(
            "pgvector: {N} clustered points stored without the index in {stored:.1} s, HNSW built in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("pgvector: {N} clustered points reused from the last run");
    }
    let queries: Vec<Vec<f32>> = (0..64)
        .map(|i| noisy(&centres[(i * 37) % centres.len()], &mut crng))
        .collect();
    let truth = exact_top20(&all, &queries);
    measure_pgvector(&rt, &store, "bench_clustered", "(clustered)", &queries, &truth);

    let mut i = 0;
    c.bench_function("pgvector_search_100k_384", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(store.search("bench_clustered", queries[i % queries.len()].clone(), 20, None))
                .unwrap()
        })
    });
    drop(store);
    if !keep {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = vector_search, bm25_search, indexing_throughput, pgvector_search
}
criterion_main!(benches);
