use botstate::cache::{Cache, MemoryCache};
use botstate::redis_cache::RedisCache;
use botstate::testing::service_url;
use std::sync::Arc;
use std::time::Duration;

async fn backends() -> Vec<Arc<dyn Cache>> {
    let mut out: Vec<Arc<dyn Cache>> = vec![Arc::new(MemoryCache::default())];
    if let Some(url) = service_url("BOT_TEST_REDIS_URL") {
        // A unique prefix per test keeps parallel tests apart on one Redis.
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        out.push(Arc::new(
            RedisCache::connect(&url, &prefix, Duration::from_secs(3))
                .await
                .unwrap(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn values_are_stored_replaced_and_expire() {
    for cache in backends().await {
        let b = cache.backend();
        assert_eq!(cache.get("k").await.unwrap(), None, "{b}");
        cache.set("k", b"v1", None).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]), "{b}");
        cache.set("k", b"v2", None).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]), "{b}");
        cache
            .set("short", b"x", Some(Duration::from_millis(1000)))
            .await
            .unwrap();
        assert!(cache.get("short").await.unwrap().is_some(), "{b}");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert_eq!(cache.get("short").await.unwrap(), None, "{b}: did not expire");
        assert!(cache.delete("k").await.unwrap(), "{b}");
        assert!(!cache.delete("k").await.unwrap(), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn set_nx_writes_only_once() {
    for cache in backends().await {
        assert!(
            cache
                .set_nx("once", b"a", Some(Duration::from_secs(5)))
                .await
                .unwrap()
        );
        assert!(
            !cache
                .set_nx("once", b"b", Some(Duration::from_secs(5)))
                .await
                .unwrap()
        );
        assert_eq!(
            cache.get("once").await.unwrap().as_deref(),
            Some(&b"a"[..]),
            "{}",
            cache.backend()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_count_concurrently_and_expire() {
    for cache in backends().await {
        let b = cache.backend();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let c = cache.clone();
            tasks.push(tokio::spawn(async move {
                c.incr("hits", 1, Some(Duration::from_millis(2000)))
                    .await
                    .unwrap()
            }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        seen.sort();
        assert_eq!(
            seen,
            (1..=50).collect::<Vec<_>>(),
            "{b}: increments lost or repeated"
        );
        tokio::time::sleep(Duration::from_millis(2300)).await;
        assert_eq!(
            cache.incr("hits", 1, None).await.unwrap(),
            1,
            "{b}: counter did not expire"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn published_messages_reach_every_subscriber() {
    for cache in backends().await {
        let b = cache.backend();
        let mut s1 = cache.subscribe("session:1").await.unwrap();
        let mut s2 = cache.subscribe("session:1").await.unwrap();
        let mut other = cache.subscribe("session:2").await.unwrap();
        cache.publish("session:1", b"hello").await.unwrap();
        for s in [&mut s1, &mut s2] {
            let got = tokio::time::timeout(Duration::from_secs(2), s.recv())
                .await
                .expect("delivered")
                .unwrap();
            assert_eq!(&got[..], b"hello", "{b}");
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(200), other.recv())
                .await
                .is_err(),
            "{b}: message leaked to another channel"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn locks_are_exclusive_owned_and_expire() {
    for cache in backends().await {
        let b = cache.backend();
        let held = cache
            .try_lock("cron:job1", Duration::from_millis(1500))
            .await
            .unwrap()
            .expect("free lock");
        assert!(
            cache
                .try_lock("cron:job1", Duration::from_secs(1))
                .await
                .unwrap()
                .is_none(),
            "{b}"
        );
        let forged = botstate::LockToken {
            name: held.name.clone(),
            token: "forged".into(),
        };
        assert!(
            !cache.unlock(&forged).await.unwrap(),
            "{b}: a forged token released the lock"
        );
        assert!(
            cache
                .extend_lock(&held, Duration::from_millis(1500))
                .await
                .unwrap(),
            "{b}"
        );
        assert!(cache.unlock(&held).await.unwrap(), "{b}");
        assert!(!cache.unlock(&held).await.unwrap(), "{b}");
        let again = cache
            .try_lock("cron:job1", Duration::from_millis(500))
            .await
            .unwrap()
            .expect("released");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(
            !cache.extend_lock(&again, Duration::from_secs(1)).await.unwrap(),
            "{b}: expired lock extended"
        );
        assert!(
            cache
                .try_lock("cron:job1", Duration::from_secs(1))
                .await
                .unwrap()
                .is_some(),
            "{b}: lock never expired"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_one_of_many_contenders_gets_a_lock() {
    for cache in backends().await {
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = cache.clone();
            tasks.push(tokio::spawn(async move {
                c.try_lock("leader", Duration::from_secs(5))
                    .await
                    .unwrap()
                    .is_some()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "{}", cache.backend());
    }
}

#[tokio::test]
async fn unreachable_redis_fails_with_a_named_error() {
    let err = match RedisCache::connect("redis://127.0.0.1:1/0", "x:", Duration::from_millis(500)).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    assert!(err.contains("unreachable"), "{err}");
}
