//! The pgvector store on a real PostgreSQL 18 with pgvector (`BOT_TEST_PGVECTOR_URL`; a
//! fresh database per test): the vector-store suite, two instances sharing one database,
//! a knowledge base indexed and searched through it, and the move from the embedded store,
//! which embeds again from stored chunks. Skipped without the variable, except under
//! `CI=true`.

use crate::support::{Env, PgVectorDb, code_word, write_corpus};
use botserver_core::testing::TestApp;
use botserver_vectordb::kb::collection_name;
use botserver_vectordb::testing::{TestDoubleEmbedder, vector_store_suite};
use botserver_vectordb::{KbModule, PgVectorStore, StoreChoice};
use botstate::services::{KbQuery, KnowledgeBase, VectorPoint, VectorStore};
use botstate::testing::TestDb;
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_store_passes_the_vector_store_suite() {
    let Some(pg) = PgVectorDb::create() else {
        return;
    };
    let store = PgVectorStore::open(pg.connect()).await.expect("pgvector opens");
    assert!(
        store.extension_version().starts_with("0."),
        "{}",
        store.extension_version()
    );
    vector_store_suite(&store, "t").await;
    // Names that are not identifiers are fine.
    vector_store_suite(&store, "kb/../x Ação \"quoted\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_collections_and_their_dimensions() {
    let Some(pg) = PgVectorDb::create() else {
        return;
    };
    let (a, b) = tokio::join!(
        PgVectorStore::open(pg.connect()),
        PgVectorStore::open(pg.connect())
    );
    let (a, b) = (a.expect("a opens"), b.expect("b opens"));
    let (ra, rb) = tokio::join!(a.ensure_collection("c", 3), b.ensure_collection("c", 3));
    ra.expect("a creates");
    rb.expect("b creates too, or finds it");
    a.upsert(
        "c",
        vec![VectorPoint {
            id: "p".into(),
            vector: vec![0.0, 3.0, 0.0],
            payload: json!({"document": "d"}),
        }],
    )
    .await
    .unwrap();
    let hits = b.search("c", vec![0.0, 1.0, 0.0], 5, None).await.unwrap();
    assert_eq!(hits.len(), 1, "b sees a's point");
    assert!((hits[0].score - 1.0).abs() < 1e-4);
    assert!(b.ensure_collection("c", 4).await.is_err(), "b knows c's width");
    assert_eq!(b.count("c").await.unwrap(), 1);
    assert_eq!(b.delete_by_document("c", "d").await.unwrap(), 1);
    assert_eq!(a.count("c").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_base_on_pgvector_indexes_once_and_searches_by_meaning() {
    let Some(pg) = PgVectorDb::create() else {
        return;
    };
    let env = Env::on(pg.connect(), Box::new(pg), &[]);
    write_corpus(&env, 40);
    let store = PgVectorStore::open(env.db.clone()).await.unwrap();
    let llm = Arc::new(TestDoubleEmbedder::new(32).with_synonyms(&[("guarantee", "warranty")]));
    let svc = env.start_on(llm.clone(), Arc::new(store.clone()), "pgvector");
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.failed), (40, 0), "{r:?}");
    let space = svc.space(&env.bot);
    assert!(space.starts_with("pgvector|"), "{space}");
    let mut stored = 0;
    for kb in ["catalogue", "manuals"] {
        stored += store
            .count(&collection_name(env.bot.id, kb, &space))
            .await
            .unwrap();
    }
    assert_eq!(stored as usize, r.chunks, "one vector per chunk, in PostgreSQL");
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.embedded), (0, 0), "nothing again: {r:?}");
    // "guarantee" appears in no document: the vector side finds the warranty passages.
    let code = code_word(7);
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: format!("{code} guarantee"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(hits[0].text.contains(&code), "{:?}", hits[0]);
    assert!(hits.iter().any(|h| h.text.contains("warranty")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_from_the_embedded_store_to_pgvector_embeds_again_from_stored_chunks() {
    let Some(pg) = PgVectorDb::create() else {
        return;
    };
    let env = Env::on(pg.connect(), Box::new(pg), &[]);
    write_corpus(&env, 20);
    let llm = Arc::new(TestDoubleEmbedder::new(16));
    let (svc, _embedded) = env.start(llm.clone());
    let first = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(first.indexed, 20);
    drop(svc);
    // The same server restarted on pgvector: every document is embedded again, from the
    // chunks table, without reading or re-chunking its file.
    let llm2 = Arc::new(TestDoubleEmbedder::new(16));
    let store = PgVectorStore::open(env.db.clone()).await.unwrap();
    let svc = env.start_on(llm2.clone(), Arc::new(store.clone()), "pgvector");
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.reembedded, r.indexed, r.removed), (20, 0, 0), "{r:?}");
    assert_eq!(llm2.texts(), first.chunks, "each chunk embedded once more");
    let again = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((again.reembedded, again.embedded), (0, 0), "{again:?}");
}

fn store_of(app: &TestApp) -> &'static str {
    app.state
        .extensions
        .get::<KbModule>()
        .expect("the module installed")
        .service
        .store_tag()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_picks_pgvector_where_the_extension_exists_and_the_embedded_store_elsewhere() {
    let sqlite = TestApp::new(&[&botserver_vectordb::MODULE]).await;
    assert_eq!(store_of(&sqlite), "", "SQLite: the embedded store");
    // PostgreSQL without pgvector (the plain test server): the embedded store.
    if let Some(plain) = TestDb::postgres() {
        let app = TestApp::build(plain, &[&botserver_vectordb::MODULE], |_| {}).await;
        assert_eq!(store_of(&app), "", "no extension: the embedded store");
    }
    let Some(pg) = PgVectorDb::create() else {
        return;
    };
    let url = pg.url.clone();
    let app = TestApp::build(TestDb::sqlite(), &[&botserver_vectordb::MODULE], |c| {
        c.database.url = url;
    })
    .await;
    assert_eq!(store_of(&app), "pgvector");
}

#[test]
fn the_store_choice_comes_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    assert_eq!(StoreChoice::from_env(&env(&[])), StoreChoice::default());
    assert_eq!(
        StoreChoice::from_env(&env(&[
            ("BOTSERVER_VECTOR_STORE", " PGVector "),
            ("QDRANT_URL", "http://q:6334"),
            ("QDRANT_API_KEY", ""),
        ])),
        StoreChoice {
            forced: Some("pgvector".into()),
            qdrant_url: Some("http://q:6334".into()),
            qdrant_api_key: None,
        }
    );
}
