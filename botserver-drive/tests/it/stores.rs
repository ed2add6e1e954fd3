//! The object stores: the behaviour suite on the local store (a temporary folder) and on a
//! real S3 service (SeaweedFS started by `.ci/services`; `BOT_TEST_S3_URL`,
//! `BOT_TEST_S3_ACCESS_KEY`, `BOT_TEST_S3_SECRET_KEY`; skipped when unset, a failure under
//! `CI=true`), plus what only one store has: symbolic links and temporary files on disk,
//! multipart uploads and presigned URLs on S3.

use botlib::AppError;
use botserver_drive::store::{ByteStream, LocalStore, ObjectStore, local::TMP_DIR};
use botserver_drive::testing::{CHUNK_BYTES, chunked, failing_after, object_store_suite, pattern};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A body fed by the test through a channel: it waits for more until the sender is dropped.
fn channel_body() -> (tokio::sync::mpsc::Sender<std::io::Result<Bytes>>, ByteStream) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    (tx, Box::pin(stream))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("drive")).unwrap();
    object_store_suite(&store, "suite/").await;
    // No temporary file left, and emptied folders are gone.
    assert!(
        entries(&dir.path().join("drive").join(TMP_DIR)).is_empty(),
        "temporary files left"
    );
    assert_eq!(entries(&dir.path().join("drive")), [TMP_DIR]);
    // Local files have no presigned URLs.
    assert_eq!(
        store.presign_get("a.txt", Duration::from_secs(60)).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_at_the_root_of_its_folder_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().to_path_buf()).unwrap();
    object_store_suite(&store, "").await;
    // The temporary folder is never listed and cannot be written through.
    assert!(store.list("", None, 100).await.unwrap().is_empty());
    let reserved = format!("{TMP_DIR}/x");
    assert!(matches!(
        store.put(&reserved, Bytes::from_static(b"x"), None).await,
        Err(AppError::BadRequest(_))
    ));
    assert!(matches!(store.get(&reserved).await, Err(AppError::BadRequest(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_refuses_symbolic_links() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    let root = dir.path().join("drive");
    let store = LocalStore::open(root.clone()).unwrap();
    store
        .put("ok.txt", Bytes::from_static(b"ok"), None)
        .await
        .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("dir")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("sub/inner")).unwrap();

    fn forbidden<T: std::fmt::Debug>(what: &str, r: botlib::AppResult<T>) {
        assert!(
            matches!(r, Err(AppError::Forbidden)),
            "{what} through a link should be 403, got {r:?}"
        );
    }
    // A file link.
    forbidden("get", store.get("link.txt").await.map(|b| b.len()));
    forbidden("head", store.head("link.txt").await);
    forbidden(
        "get_stream",
        store.get_stream("link.txt", None).await.map(|b| b.meta),
    );
    forbidden(
        "put",
        store.put("link.txt", Bytes::from_static(b"evil"), None).await,
    );
    forbidden(
        "put_stream",
        store
            .put_stream("link.txt", chunked(Bytes::from_static(b"evil"), 2), None, 10)
            .await,
    );
    forbidden("delete", store.delete("link.txt").await);
    forbidden("copy from", store.copy("link.txt", "stolen.txt").await);
    forbidden("copy to", store.copy("ok.txt", "link.txt").await);
    // A folder link, at the top and deeper.
    for key in ["dir/secret.txt", "sub/inner/secret.txt"] {
        forbidden("get", store.get(key).await.map(|b| b.len()));
        forbidden("head", store.head(key).await);
        forbidden(
            "get_stream",
            store.get_stream(key, Some((0, 1))).await.map(|b| b.meta),
        );
        forbidden("delete", store.delete(key).await);
        forbidden("put", store.put(key, Bytes::from_static(b"evil"), None).await);
        forbidden("copy to", store.copy("ok.txt", key).await);
    }
    for key in ["dir/new.txt", "dir/deeper/new.txt", "sub/inner/new.txt"] {
        forbidden(
            "put_stream",
            store
                .put_stream(key, chunked(Bytes::from_static(b"evil"), 2), None, 10)
                .await,
        );
        forbidden("put", store.put(key, Bytes::from_static(b"evil"), None).await);
    }
    forbidden("list", store.list("dir/", None, 10).await);
    forbidden("list", store.list("dir/sec", None, 10).await);
    forbidden("list", store.list("sub/inner/", None, 10).await);
    // A listing of the root neither follows nor shows links.
    let all: Vec<String> = store
        .list("", None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(all, ["ok.txt"]);
    // Nothing outside changed, and the links are still there.
    assert_eq!(entries(&outside), ["secret.txt"]);
    assert_eq!(std::fs::read(outside.join("secret.txt")).unwrap(), b"secret");
    assert!(
        std::fs::symlink_metadata(root.join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        entries(&root.join(TMP_DIR)).is_empty(),
        "refused writes left temporary files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_dropped_upload_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().to_path_buf()).unwrap());
    store
        .put("kept.bin", Bytes::from_static(b"previous"), None)
        .await
        .unwrap();
    for key in ["new.bin", "kept.bin"] {
        let (tx, body) = channel_body();
        let task = tokio::spawn({
            let store = store.clone();
            async move { store.put_stream(key, body, None, u64::MAX).await }
        });
        for i in 0..3 {
            tx.send(Ok(pattern(CHUNK_BYTES, i))).await.unwrap();
        }
        // Wait until the upload is under way: its temporary file holds bytes.
        let tmp = dir.path().join(TMP_DIR);
        let mut seen = false;
        for _ in 0..200 {
            let size: u64 = std::fs::read_dir(&tmp)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            if size > 0 {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen, "the upload did not start writing");
        // The request goes away mid-stream: its future is dropped.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        drop(tx);
        assert!(
            entries(&tmp).is_empty(),
            "a dropped upload left {:?}",
            entries(&tmp)
        );
        assert_eq!(entries(dir.path()), [TMP_DIR, "kept.bin"]);
    }
    assert_eq!(
        store.get("kept.bin").await.unwrap(),
        Bytes::from_static(b"previous")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_leaves_no_temporary_file_after_failures() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().to_path_buf()).unwrap();
    let got = store
        .put_stream(
            "a.bin",
            failing_after(pattern(5 * CHUNK_BYTES, 1), CHUNK_BYTES),
            None,
            u64::MAX,
        )
        .await;
    assert!(matches!(got, Err(AppError::BadRequest(_))), "{got:?}");
    let got = store
        .put_stream(
            "b.bin",
            chunked(pattern(5 * CHUNK_BYTES, 1), CHUNK_BYTES),
            None,
            1000,
        )
        .await;
    assert!(
        matches!(got, Err(AppError::PayloadTooLarge { limit_bytes: 1000 })),
        "{got:?}"
    );
    // A file where a folder should be.
    store.put("file", Bytes::from_static(b"f"), None).await.unwrap();
    let got = store.put("file/inside.txt", Bytes::from_static(b"x"), None).await;
    assert!(matches!(got, Err(AppError::Conflict(_))), "{got:?}");
    assert!(matches!(
        store.get("file/inside.txt").await,
        Err(AppError::NotFound)
    ));
    assert!(entries(&dir.path().join(TMP_DIR)).is_empty());
    assert_eq!(entries(dir.path()), [TMP_DIR, "file"]);
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use botserver_drive::store::{S3Options, S3Store};

    const BUCKET: &str = "botserver-test";

    /// The test service's store, or `None` (skip) when it is not configured outside CI.
    async fn store() -> Option<S3Store> {
        store_in(BUCKET).await
    }

    async fn store_in(bucket: &str) -> Option<S3Store> {
        let url = botstate::testing::service_url("BOT_TEST_S3_URL")?;
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
        let store = S3Store::connect(S3Options {
            endpoint: url,
            bucket: bucket.into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: var("BOT_TEST_S3_ACCESS_KEY"),
            secret_key: var("BOT_TEST_S3_SECRET_KEY"),
        })
        .await
        .expect("connect to the test S3 service");
        Some(store)
    }

    fn fresh_prefix(what: &str) -> String {
        format!("{what}-{}/", uuid::Uuid::new_v4().simple())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_store_passes_the_suite() {
        let Some(store) = store().await else { return };
        let prefix = fresh_prefix("suite");
        object_store_suite(&store, &prefix).await;
        assert!(
            store.pending_uploads(&prefix).await.unwrap().is_empty(),
            "multipart uploads left pending"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_store_creates_its_bucket_and_reconnects() {
        let bucket = format!("bt-{}", uuid::Uuid::new_v4().simple());
        let Some(first) = store_in(&bucket).await else {
            return;
        };
        assert_eq!(first.bucket(), bucket);
        assert!(
            first.list("", None, 10).await.unwrap().is_empty(),
            "a new, empty bucket (the probe cleaned up)"
        );
        // A second connect finds the bucket and works in the same one.
        let second = store_in(&bucket).await.unwrap();
        first.put("x.txt", Bytes::from_static(b"x"), None).await.unwrap();
        assert_eq!(second.get("x.txt").await.unwrap(), Bytes::from_static(b"x"));
        assert!(second.delete("x.txt").await.unwrap());
        assert!(second.list("", None, 10).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_listing_is_in_byte_order_whichever_way_the_service_lists() {
        let Some(store) = store().await else { return };
        let walks = store.walks_folders();
        let prefix = fresh_prefix("order");
        // Names that a service walking its folders lists as `a/…` before `a b`, `a-x`, `a.txt`.
        let names = [
            "a/b",
            "a.txt",
            "a b",
            "a-x/y",
            "a/c",
            "a0",
            "photos.zip",
            "photos/1.jpg",
        ];
        for name in names {
            store
                .put(&format!("{prefix}{name}"), Bytes::from_static(b"x"), None)
                .await
                .unwrap();
        }
        let mut expected: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();
        expected.sort();
        // Flat calls first: an answer out of order must be noticed and the walk used instead.
        for flat_first in [true, false] {
            store.set_walks_folders(!flat_first);
            let keys: Vec<String> = store
                .list(&prefix, None, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.key)
                .collect();
            assert_eq!(keys, expected, "flat first: {flat_first}");
            assert_eq!(
                store.walks_folders(),
                walks || !flat_first,
                "the probe at connect saw the same order"
            );
            // Paging by `after` in pages of 3 gives the same list.
            store.set_walks_folders(!flat_first);
            let mut paged = Vec::new();
            loop {
                let page = store
                    .list(&prefix, paged.last().map(String::as_str), 3)
                    .await
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                paged.extend(page.into_iter().map(|m| m.key));
            }
            assert_eq!(paged, expected, "paged, flat first: {flat_first}");
        }
        for key in &expected {
            assert!(store.delete(key).await.unwrap());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_failed_multipart_upload_is_aborted() {
        let Some(store) = store().await else { return };
        let prefix = fresh_prefix("abort");
        // A streamed body over one part goes up in parts (8 + 8 + 1 MiB: three).
        let whole = format!("{prefix}whole.bin");
        let data = pattern(17 * 1024 * 1024, 8);
        let meta = store
            .put_stream(&whole, chunked(data.clone(), CHUNK_BYTES), None, u64::MAX)
            .await
            .unwrap();
        assert!(
            meta.etag.ends_with("-3"),
            "a multipart ETag names its 3 parts: {}",
            meta.etag
        );
        assert!(store.get(&whole).await.unwrap() == data);
        assert!(store.delete(&whole).await.unwrap());
        let key = format!("{prefix}broken.bin");
        // More than two parts arrive, then the body fails: the upload is aborted at once.
        let got = store
            .put_stream(
                &key,
                failing_after(pattern(17 * 1024 * 1024, 9), CHUNK_BYTES),
                None,
                u64::MAX,
            )
            .await;
        assert!(matches!(got, Err(AppError::BadRequest(_))), "{got:?}");
        assert!(matches!(store.head(&key).await, Err(AppError::NotFound)));
        assert_eq!(
            store.pending_uploads(&prefix).await.unwrap(),
            Vec::<String>::new()
        );
        // Over the limit after two parts: the same.
        let got = store
            .put_stream(
                &key,
                chunked(pattern(20 * 1024 * 1024, 9), CHUNK_BYTES),
                None,
                17 * 1024 * 1024,
            )
            .await;
        assert!(matches!(got, Err(AppError::PayloadTooLarge { .. })), "{got:?}");
        assert!(matches!(store.head(&key).await, Err(AppError::NotFound)));
        assert_eq!(
            store.pending_uploads(&prefix).await.unwrap(),
            Vec::<String>::new()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_dropped_multipart_upload_is_aborted() {
        let Some(store) = store().await else { return };
        let store = Arc::new(store);
        // Dropped once the upload is seen pending, and dropped as soon as its first part is
        // read (while the upload is being started, or its first part sent).
        for wait_until_pending in [true, false] {
            let prefix = fresh_prefix("dropped");
            let key = format!("{prefix}dropped.bin");
            let (tx, body) = channel_body();
            let task = tokio::spawn({
                let (store, key) = (store.clone(), key.clone());
                async move { store.put_stream(&key, body, None, u64::MAX).await }
            });
            // Two parts' worth and a bit: the multipart upload starts.
            let piece = pattern(1024 * 1024, 3);
            for _ in 0..17 {
                tx.send(Ok(piece.clone())).await.unwrap();
            }
            if wait_until_pending {
                let mut started = false;
                for _ in 0..300 {
                    if store.pending_uploads(&prefix).await.unwrap() == [key.clone()] {
                        started = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(started, "the multipart upload did not start");
            }
            // The request goes away: the future is dropped, its guard spawns the abort.
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            drop(tx);
            // Whatever was in flight settles, then nothing is pending.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut pending = Vec::new();
            for _ in 0..250 {
                pending = store.pending_uploads(&prefix).await.unwrap();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                pending.is_empty(),
                "the dropped upload is still pending: {pending:?}"
            );
            assert!(matches!(store.head(&key).await, Err(AppError::NotFound)));
            assert!(store.list(&prefix, None, 10).await.unwrap().is_empty());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_presigned_url_downloads_without_credentials() {
        let Some(store) = store().await else { return };
        let prefix = fresh_prefix("presign");
        let key = format!("{prefix}report 1.pdf");
        let data = pattern(100_000, 11);
        store.put(&key, data.clone(), None).await.unwrap();
        let url = store
            .presign_get(&key, Duration::from_secs(120))
            .await
            .unwrap()
            .expect("S3 makes presigned URLs");
        let client = reqwest::Client::new();
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "presigned GET of {url}");
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        assert!(
            resp.bytes().await.unwrap() == data,
            "the presigned URL serves the object"
        );
        // The signature covers the key: pointing the URL at another object is refused.
        let other = format!("{prefix}other.pdf");
        store
            .put(&other, Bytes::from_static(b"other"), None)
            .await
            .unwrap();
        let tampered = url.replacen("report%201.pdf", "other.pdf", 1);
        assert_ne!(tampered, url);
        let resp = client.get(&tampered).send().await.unwrap();
        assert_eq!(resp.status(), 403, "a tampered presigned URL must be refused");
        // Without a signature at all, the bucket is not public.
        let bare = url.split('?').next().unwrap().to_string();
        assert_eq!(client.get(&bare).send().await.unwrap().status(), 403);
        assert!(matches!(
            store.presign_get(&key, Duration::from_secs(8 * 24 * 3600)).await,
            Err(AppError::BadRequest(_))
        ));
        store.delete(&key).await.unwrap();
        store.delete(&other).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_wrong_secret_is_not_accepted() {
        let Some(url) = botstate::testing::service_url("BOT_TEST_S3_URL") else {
            return;
        };
        let got = S3Store::connect(S3Options {
            endpoint: url,
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: std::env::var("BOT_TEST_S3_ACCESS_KEY").unwrap(),
            secret_key: "not-the-secret".into(),
        })
        .await;
        assert!(matches!(got, Err(AppError::Internal(_))), "{:?}", got.map(|_| ()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_service_that_does_not_answer_is_unavailable() {
        // Nothing listens on port 1; no test service needed.
        let got = S3Store::connect(S3Options {
            endpoint: "http://127.0.0.1:1".into(),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: "a".into(),
            secret_key: "b".into(),
        })
        .await;
        assert!(
            matches!(got, Err(AppError::Unavailable(_))),
            "{:?}",
            got.map(|_| ())
        );
    }
}
