use botstate::db::CORE_MIGRATIONS;
use botstate::secrets::{
    LocalSecrets, SecretStore, generate_master_key, load_or_create_master_key, parse_master_key,
};
use botstate::testing::TestDb;
use diesel::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

diesel::table! { secrets (name) { name -> Text, ciphertext -> Text, updated_at -> BigInt, } }

fn key() -> [u8; 32] {
    parse_master_key(&generate_master_key()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_round_trip_encrypted_at_rest() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        let store = LocalSecrets::open(key(), BTreeMap::new(), db.clone())
            .await
            .unwrap();
        assert!(store.get("smtp-pass").await.unwrap().is_none());
        store.put("smtp-pass", "hunter2-very-secret").await.unwrap();
        assert_eq!(
            store.get("smtp-pass").await.unwrap().unwrap().expose(),
            "hunter2-very-secret"
        );
        store.put("smtp-pass", "changed").await.unwrap();
        assert_eq!(store.get("smtp-pass").await.unwrap().unwrap().expose(), "changed");

        let raw: Vec<String> = db
            .run(|c| Ok(secrets::table.select(secrets::ciphertext).load(c)?))
            .await
            .unwrap();
        assert!(
            raw.iter().all(|r| !r.contains("changed") && r.starts_with("v1:")),
            "{raw:?}"
        );

        assert!(store.delete("smtp-pass").await.unwrap());
        assert!(!store.delete("smtp-pass").await.unwrap());
        assert!(store.get("smtp-pass").await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_values_win_over_stored_ones() {
    let tdb = TestDb::sqlite();
    let db = tdb.migrated(&[&CORE_MIGRATIONS]);
    let configured = BTreeMap::from([("llm-key".to_string(), "from-env".to_string())]);
    let store = LocalSecrets::open(key(), configured, db).await.unwrap();
    store.put("llm-key", "from-db").await.unwrap();
    assert_eq!(store.get("llm-key").await.unwrap().unwrap().expose(), "from-env");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_different_master_key_is_refused_at_open() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        LocalSecrets::open(key(), BTreeMap::new(), db.clone())
            .await
            .unwrap();
        let err = match LocalSecrets::open(key(), BTreeMap::new(), db).await {
            Ok(_) => panic!("a second key was accepted"),
            Err(e) => e,
        };
        assert!(err.contains("master key does not match"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_get_or_create_agree_on_one_value() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        let k = key();
        // Two stores on one database stand for two instances.
        let a = Arc::new(LocalSecrets::open(k, BTreeMap::new(), db.clone()).await.unwrap());
        let b = Arc::new(LocalSecrets::open(k, BTreeMap::new(), db.clone()).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store
                    .get_or_create("jwt-key", format!("candidate-{i}"))
                    .await
                    .unwrap()
            }));
        }
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap().expose().to_string());
        }
        values.dedup();
        assert_eq!(values.len(), 1, "{values:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ciphertext_is_bound_to_its_context() {
    let tdb = TestDb::sqlite();
    let db = tdb.migrated(&[&CORE_MIGRATIONS]);
    let store = LocalSecrets::open(key(), BTreeMap::new(), db).await.unwrap();
    let ct = store.encrypt("bot:a/llm-key", b"sk-123").unwrap();
    assert_eq!(store.decrypt("bot:a/llm-key", &ct).unwrap(), b"sk-123");
    assert!(store.decrypt("bot:b/llm-key", &ct).is_err());
    let mut tampered = ct.clone();
    tampered.pop();
    tampered.push(if ct.ends_with('A') { 'B' } else { 'A' });
    assert!(store.decrypt("bot:a/llm-key", &tampered).is_err());
}

#[test]
fn master_key_is_generated_once_with_private_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let first = load_or_create_master_key("", dir.path()).unwrap();
    let second = load_or_create_master_key("", dir.path()).unwrap();
    assert_eq!(first, second);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let configured = generate_master_key();
    assert_eq!(
        load_or_create_master_key(&configured, dir.path()).unwrap(),
        parse_master_key(&configured).unwrap()
    );
}

#[test]
fn secret_debug_output_is_redacted() {
    let s = botstate::SecretString::new("sk-live-123");
    assert!(!format!("{s:?}").contains("sk-live"));
}
