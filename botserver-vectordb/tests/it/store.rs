//! The vector-store suite on the embedded store, and its persistence across a restart.

use botserver_vectordb::EmbeddedVectorStore;
use botserver_vectordb::testing::vector_store_suite;
use botstate::services::{VectorPoint, VectorStore};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_the_vector_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedVectorStore::open(dir.path()).unwrap();
    vector_store_suite(&store, "t").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_survives_a_restart_and_compacts_a_busy_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedVectorStore::open(dir.path()).unwrap();
    store.ensure_collection("c", 4).await.unwrap();
    // Many rewrites of the same 10 points: the log outgrows the live set and is compacted.
    for round in 0..300 {
        let pts = (0..10)
            .map(|i| VectorPoint {
                id: format!("p{i}"),
                vector: vec![1.0, i as f32, round as f32, 0.5],
                payload: json!({"document": format!("d{}", i % 2), "round": round}),
            })
            .collect();
        store.upsert("c", pts).await.unwrap();
    }
    let log = std::fs::metadata(dir.path().join("c.log")).unwrap().len();
    assert!(dir.path().join("c.snap").exists(), "compacted into a snapshot");
    assert!(log < 300 * 10 * 60, "log emptied by compaction: {log} bytes");
    let before = store
        .search("c", vec![1.0, 3.0, 299.0, 0.5], 5, None)
        .await
        .unwrap();
    drop(store);
    let store = EmbeddedVectorStore::open(dir.path()).unwrap();
    assert_eq!(store.count("c"), 10);
    let after = store
        .search("c", vec![1.0, 3.0, 299.0, 0.5], 5, None)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(after[0].payload["round"], 299);
    assert_eq!(store.delete_by_document("c", "d0").await.unwrap(), 5);
    drop(store);
    let store = EmbeddedVectorStore::open(dir.path()).unwrap();
    assert_eq!(store.count("c"), 5);
}
