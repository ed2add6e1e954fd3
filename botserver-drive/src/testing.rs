//! Test support: [`object_store_suite`], the behaviour every [`ObjectStore`] of the drive
//! must show (round trips, atomic overwrites, 404s, deletes, ordered and paged listings,
//! streamed multi-part uploads and ranged downloads, refused and broken uploads leaving
//! nothing behind, copies, key checks, content types). The local store's and the S3 store's
//! tests both run it, so the two behave the same.

use botlib::AppError;
use botstate::services::{ByteStream, ObjectStore};
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of the large streamed upload: 20 MiB, more than two S3 parts of 8 MiB.
pub const LARGE_BYTES: usize = 20 * 1024 * 1024;

/// Chunks the uploads are cut into.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Runs the behaviour suite on `store`, writing only under `prefix` (empty, or ending with
/// `/`; use a fresh one per run on a shared bucket), and deletes what it wrote. Panics with
/// a message naming the broken behaviour.
pub async fn object_store_suite(store: &dyn ObjectStore, prefix: &str) {
    assert!(
        prefix.is_empty() || prefix.ends_with('/'),
        "the suite's prefix must end with `/`"
    );
    round_trip(store, prefix).await;
    overwrite_is_atomic(store, prefix).await;
    missing_objects(store, prefix).await;
    deletes(store, prefix).await;
    listings(store, prefix).await;
    large_streamed_upload_and_ranges(store, prefix).await;
    empty_objects(store, prefix).await;
    uploads_over_the_limit_leave_nothing(store, prefix).await;
    broken_uploads_leave_the_previous_version(store, prefix).await;
    copies(store, prefix).await;
    bad_keys_are_refused(store, prefix).await;
    content_types(store, prefix).await;
    clean_up(store, prefix).await;
}

/// A deterministic, position-dependent byte pattern (a misplaced part or chunk shows).
pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// `data` as a stream of `chunk`-sized pieces.
pub fn chunked(data: Bytes, chunk: usize) -> ByteStream {
    let pieces: Vec<std::io::Result<Bytes>> = (0..data.len())
        .step_by(chunk.max(1))
        .map(|i| Ok(data.slice(i..(i + chunk).min(data.len()))))
        .collect();
    Box::pin(futures_util::stream::iter(pieces))
}

/// `data` in `chunk`-sized pieces, then an error (a client that went away).
pub fn failing_after(data: Bytes, chunk: usize) -> ByteStream {
    let failure = futures_util::stream::iter([Err(std::io::Error::other("the client went away"))]);
    Box::pin(chunked(data, chunk).chain(failure))
}

/// Everything a stream yields.
pub async fn collect(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.expect("the download failed"));
    }
    out
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn assert_missing(store: &dyn ObjectStore, key: &str, why: &str) {
    match store.head(key).await {
        Err(AppError::NotFound) => {}
        other => panic!("{why}: `{key}` should not exist, head gave {other:?}"),
    }
    match store.get(key).await {
        Err(AppError::NotFound) => {}
        other => panic!(
            "{why}: `{key}` should not exist, get gave {:?}",
            other.map(|b| b.len())
        ),
    }
}

async fn keys_under(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    store
        .list(prefix, None, 10_000)
        .await
        .unwrap_or_else(|e| panic!("list {prefix}: {e}"))
        .into_iter()
        .map(|m| m.key)
        .collect()
}

async fn round_trip(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}rt/hello.txt");
    let put = store
        .put(
            &key,
            Bytes::from_static(b"hello"),
            Some("text/plain; charset=utf-8"),
        )
        .await
        .expect("put");
    assert_eq!(put.key, key);
    assert_eq!(put.size, 5);
    assert!(!put.etag.is_empty(), "put returns an ETag");
    assert_eq!(store.get(&key).await.expect("get"), Bytes::from_static(b"hello"));
    let head = store.head(&key).await.expect("head");
    assert_eq!(head.key, key);
    assert_eq!(head.size, 5);
    assert_eq!(head.etag, put.etag, "head and put agree on the ETag");
    assert_eq!(head.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let skew = (head.modified_ms - now_ms()).abs();
    assert!(skew < 10 * 60 * 1000, "modified_ms is now-ish (off by {skew} ms)");
    let body = store.get_stream(&key, None).await.expect("get_stream");
    assert_eq!(body.range, None);
    assert_eq!(body.meta.size, 5);
    assert_eq!(body.meta.etag, put.etag);
    assert_eq!(collect(body.stream).await, b"hello");
    // A key in a deeper folder, with spaces and non-ASCII characters.
    let deep = format!("{p}rt/a b/ünï/文件 (1).txt");
    store
        .put(&deep, Bytes::from_static(b"deep"), None)
        .await
        .expect("put deep");
    assert_eq!(
        store.get(&deep).await.expect("get deep"),
        Bytes::from_static(b"deep")
    );
}

async fn overwrite_is_atomic(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}ow/file.bin");
    let old = Bytes::from(vec![b'a'; 256 * 1024]);
    let new = Bytes::from(vec![b'b'; 300 * 1024]);
    let first = store.put(&key, old.clone(), None).await.expect("put old");
    let second = store.put(&key, new.clone(), None).await.expect("put new");
    assert_ne!(first.etag, second.etag, "a rewrite changes the ETag");
    assert_eq!(store.head(&key).await.expect("head").size, new.len() as u64);
    assert_eq!(store.get(&key).await.expect("get"), new);
    // Same size, other content: still another ETag.
    let same = format!("{p}ow/same.txt");
    let a = store
        .put(&same, Bytes::from_static(b"aaaa"), None)
        .await
        .expect("put aaaa");
    let b = store
        .put(&same, Bytes::from_static(b"bbbb"), None)
        .await
        .expect("put bbbb");
    assert_ne!(a.etag, b.etag, "a same-size rewrite changes the ETag");
    assert_eq!(store.head(&same).await.expect("head").etag, b.etag);
    // Readers racing writers see one whole version or the other, never a mix or a part.
    let writers = async {
        for i in 0..6 {
            let data = if i % 2 == 0 { old.clone() } else { new.clone() };
            store.put(&key, data, None).await.expect("put during reads");
        }
    };
    let readers = async {
        for _ in 0..12 {
            let got = store.get(&key).await.expect("get during writes");
            assert!(
                got == old || got == new,
                "a reader saw a partial object ({} bytes)",
                got.len()
            );
        }
    };
    futures_util::join!(writers, readers);
}

async fn missing_objects(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}missing/nothing.txt");
    assert_missing(store, &key, "never written").await;
    assert!(
        matches!(store.get_stream(&key, None).await, Err(AppError::NotFound)),
        "get_stream of a missing key"
    );
    assert!(
        matches!(
            store.get_stream(&key, Some((0, 0))).await,
            Err(AppError::NotFound)
        ),
        "ranged get_stream of a missing key"
    );
    assert!(
        !store.delete(&key).await.expect("delete missing"),
        "deleting a missing key says so"
    );
    let copied = store.copy(&key, &format!("{p}missing/copy.txt")).await;
    assert!(
        matches!(copied, Err(AppError::NotFound)),
        "copy of a missing key: {copied:?}"
    );
    assert_missing(store, &format!("{p}missing/copy.txt"), "a failed copy").await;
}

async fn deletes(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}del/x/y.txt");
    let sibling = format!("{p}del/x/z.txt");
    store
        .put(&key, Bytes::from_static(b"y"), None)
        .await
        .expect("put");
    store
        .put(&sibling, Bytes::from_static(b"z"), None)
        .await
        .expect("put sibling");
    assert!(
        store.delete(&key).await.expect("delete"),
        "deleting an object says so"
    );
    assert_missing(store, &key, "deleted").await;
    assert!(
        !store.delete(&key).await.expect("delete again"),
        "a second delete finds nothing"
    );
    assert_eq!(
        store.get(&sibling).await.expect("sibling"),
        Bytes::from_static(b"z"),
        "only the key goes"
    );
    assert!(store.delete(&sibling).await.expect("delete sibling"));
    assert!(
        keys_under(store, &format!("{p}del/")).await.is_empty(),
        "nothing left listed"
    );
    // A key can be written again where its folder was emptied.
    store
        .put(&key, Bytes::from_static(b"again"), None)
        .await
        .expect("put again");
    assert_eq!(
        store.get(&key).await.expect("get again"),
        Bytes::from_static(b"again")
    );
}

async fn listings(store: &dyn ObjectStore, p: &str) {
    let base = format!("{p}list/");
    // Byte order: '.' (2E) < '/' (2F) < '0' (30): `a.txt` < `a/b` < `a0`.
    let names = ["z", "a0", "b/c/d.bin", "a/b", "a.txt", "b/c/e.bin", "B"];
    for (i, name) in names.iter().enumerate() {
        let data = Bytes::from(vec![b'x'; i + 1]);
        store
            .put(&format!("{base}{name}"), data, None)
            .await
            .expect("put for listing");
    }
    // Siblings that share the text of the prefix but not the folder.
    store
        .put(&format!("{p}list2/x"), Bytes::from_static(b"s"), None)
        .await
        .expect("put sibling");
    store
        .put(&format!("{p}listing"), Bytes::from_static(b"s"), None)
        .await
        .expect("put sibling");

    let mut sorted: Vec<String> = names.iter().map(|n| format!("{base}{n}")).collect();
    sorted.sort();
    let all = store.list(&base, None, 100).await.expect("list");
    let keys: Vec<&str> = all.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(
        keys, sorted,
        "list returns every key under the prefix, in byte order, nothing else"
    );
    let expected_order: Vec<String> = ["B", "a.txt", "a/b", "a0", "b/c/d.bin", "b/c/e.bin", "z"]
        .iter()
        .map(|n| format!("{base}{n}"))
        .collect();
    assert_eq!(keys, expected_order);
    for meta in &all {
        let name = &meta.key[base.len()..];
        let i = names.iter().position(|n| *n == name).unwrap();
        assert_eq!(meta.size, i as u64 + 1, "listed size of {name}");
        assert!(meta.modified_ms > 0, "listed modification time of {name}");
        assert!(!meta.etag.is_empty(), "listed ETag of {name}");
    }

    // `after` is exclusive, and may name a key or any text between keys.
    let after = store
        .list(&base, Some(&format!("{base}a/b")), 100)
        .await
        .expect("list after");
    let after: Vec<&str> = after.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(after, &expected_order[3..]);
    let after = store
        .list(&base, Some(&format!("{base}b/")), 100)
        .await
        .expect("list after a folder");
    let after: Vec<&str> = after.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(after, &expected_order[4..]);
    let after = store
        .list(&base, Some(&format!("{base}zz")), 100)
        .await
        .expect("list after the end");
    assert!(after.is_empty());
    // `after` before the prefix changes nothing.
    let before = store
        .list(&base, Some(p), 100)
        .await
        .expect("list after something smaller");
    assert_eq!(before.len(), expected_order.len());

    // Paging with `limit` and the last key as `after` walks the same list.
    let mut paged = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = store.list(&base, last.as_deref(), 2).await.expect("list page");
        assert!(page.len() <= 2, "limit is respected");
        if page.is_empty() {
            break;
        }
        last = Some(page.last().unwrap().key.clone());
        paged.extend(page.into_iter().map(|m| m.key));
    }
    assert_eq!(paged, expected_order, "paging walks the whole list once");
    assert!(store.list(&base, None, 0).await.expect("limit 0").is_empty());

    // A prefix that is not a folder is a plain text prefix.
    let partial = keys_under(store, &format!("{base}a")).await;
    assert_eq!(partial, &expected_order[1..4]);
    let text = keys_under(store, &format!("{p}list")).await;
    assert_eq!(
        text.len(),
        expected_order.len() + 2,
        "`list` also matches `list2/` and `listing`: {text:?}"
    );
    assert!(keys_under(store, &format!("{p}nothing-here/")).await.is_empty());
}

async fn large_streamed_upload_and_ranges(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}big/large.bin");
    let data = pattern(LARGE_BYTES, 7);
    let meta = store
        .put_stream(&key, chunked(data.clone(), CHUNK_BYTES), None, LARGE_BYTES as u64)
        .await
        .expect("put_stream of a large body (exactly at the limit)");
    assert_eq!(meta.size, LARGE_BYTES as u64);
    assert_eq!(meta.key, key);
    let head = store.head(&key).await.expect("head");
    assert_eq!(head.size, LARGE_BYTES as u64);
    assert_eq!(head.etag, meta.etag);
    let body = store.get_stream(&key, None).await.expect("get_stream");
    assert_eq!(body.meta.size, LARGE_BYTES as u64);
    let got = collect(body.stream).await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the large object reads back byte for byte");

    let size = LARGE_BYTES as u64;
    let part = 8 * 1024 * 1024u64;
    for (start, end) in [
        (0, 0),
        (part - 5, part + 5),
        (1000, 1999),
        (size - 1, size - 1),
        (0, size - 1),
    ] {
        let body = store
            .get_stream(&key, Some((start, end)))
            .await
            .expect("ranged get_stream");
        assert_eq!(body.range, Some((start, end)), "range {start}-{end} reported");
        assert_eq!(body.meta.size, size, "a range reports the whole object's size");
        let got = collect(body.stream).await;
        assert_eq!(got.len() as u64, end - start + 1, "range {start}-{end} length");
        assert!(
            got[..] == data[start as usize..=end as usize],
            "range {start}-{end} content"
        );
    }
    // An end past the object is cut at its last byte; a start past it is refused.
    let body = store
        .get_stream(&key, Some((size - 3, size + 100)))
        .await
        .expect("range past the end");
    assert_eq!(body.range, Some((size - 3, size - 1)));
    assert_eq!(collect(body.stream).await, &data[LARGE_BYTES - 3..]);
    match store.get_stream(&key, Some((size, size + 10))).await {
        Err(AppError::RangeNotSatisfiable { size: s }) => assert_eq!(s, size),
        Err(e) => panic!("a range starting past the end: {e:?}"),
        Ok(b) => panic!("a range starting past the end was served: {:?}", b.range),
    }
    assert!(store.delete(&key).await.expect("delete large"));
}

async fn empty_objects(store: &dyn ObjectStore, p: &str) {
    let key = format!("{p}empty/nothing.dat");
    let empty: ByteStream = Box::pin(futures_util::stream::empty());
    let meta = store
        .put_stream(&key, empty, None, 10)
        .await
        .expect("put_stream of nothing");
    assert_eq!(meta.size, 0);
    assert_eq!(store.head(&key).await.expect("head").size, 0);
    assert!(store.get(&key).await.expect("get").is_empty());
    let body = store.get_stream(&key, None).await.expect("get_stream");
    assert!(collect(body.stream).await.is_empty());
    assert!(
        matches!(
            store.get_stream(&key, Some((0, 0))).await,
            Err(AppError::RangeNotSatisfiable { size: 0 })
        ),
        "no byte of an empty object can be asked for"
    );
}

async fn uploads_over_the_limit_leave_nothing(store: &dyn ObjectStore, p: &str) {
    // Small: over the limit in the third chunk.
    let key = format!("{p}limit/small.bin");
    let got = store
        .put_stream(
            &key,
            chunked(pattern(3 * CHUNK_BYTES, 1), CHUNK_BYTES),
            None,
            100_000,
        )
        .await;
    match got {
        Err(AppError::PayloadTooLarge { limit_bytes }) => assert_eq!(limit_bytes, 100_000),
        other => panic!("an upload over max_bytes: {other:?}"),
    }
    assert_missing(store, &key, "an upload over the limit").await;
    // Large: over the limit after a part or more went up (S3: an aborted multipart upload).
    let key = format!("{p}limit/large.bin");
    let limit = 10 * 1024 * 1024;
    let got = store
        .put_stream(
            &key,
            chunked(pattern(12 * 1024 * 1024, 2), CHUNK_BYTES),
            None,
            limit,
        )
        .await;
    assert!(
        matches!(got, Err(AppError::PayloadTooLarge { limit_bytes }) if limit_bytes == limit),
        "{got:?}"
    );
    assert_missing(store, &key, "a large upload over the limit").await;
    // One byte more than the limit is too much; exactly the limit is fine.
    let key = format!("{p}limit/exact.bin");
    let got = store
        .put_stream(&key, chunked(pattern(1001, 3), 100), None, 1000)
        .await;
    assert!(matches!(got, Err(AppError::PayloadTooLarge { .. })), "{got:?}");
    store
        .put_stream(&key, chunked(pattern(1000, 3), 100), None, 1000)
        .await
        .expect("exactly at the limit");
    assert!(store.delete(&key).await.expect("delete"));
    assert!(
        keys_under(store, &format!("{p}limit/")).await.is_empty(),
        "nothing listed after refused uploads"
    );
}

async fn broken_uploads_leave_the_previous_version(store: &dyn ObjectStore, p: &str) {
    for (name, len) in [
        ("small.txt", 3 * CHUNK_BYTES),
        ("large.bin", 9 * 1024 * 1024 + 17),
    ] {
        let key = format!("{p}broken/{name}");
        store
            .put(&key, Bytes::from_static(b"previous"), None)
            .await
            .expect("put previous");
        let got = store
            .put_stream(&key, failing_after(pattern(len, 4), CHUNK_BYTES), None, u64::MAX)
            .await;
        assert!(got.is_err(), "an upload whose body fails must fail ({name})");
        assert_eq!(
            store.get(&key).await.expect("get previous"),
            Bytes::from_static(b"previous"),
            "a broken upload leaves the previous version ({name})"
        );
        let fresh = format!("{p}broken/fresh-{name}");
        let got = store
            .put_stream(
                &fresh,
                failing_after(pattern(len, 5), CHUNK_BYTES),
                None,
                u64::MAX,
            )
            .await;
        assert!(
            got.is_err(),
            "an upload whose body fails must fail ({name}, new key)"
        );
        assert_missing(store, &fresh, "a broken upload of a new key").await;
    }
}

async fn copies(store: &dyn ObjectStore, p: &str) {
    let from = format!("{p}copy/src.json");
    let to = format!("{p}copy/sub/dst.json");
    let data = Bytes::from_static(br#"{"copied": true}"#);
    store
        .put(&from, data.clone(), Some("application/json"))
        .await
        .expect("put source");
    store
        .put(&to, Bytes::from_static(b"old"), Some("application/json"))
        .await
        .expect("put target");
    let meta = store.copy(&from, &to).await.expect("copy");
    assert_eq!(meta.key, to);
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(
        store.get(&to).await.expect("get copy"),
        data,
        "the copy replaced the target"
    );
    assert_eq!(
        store.get(&from).await.expect("get source"),
        data,
        "the source stays"
    );
    let head = store.head(&to).await.expect("head copy");
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    assert_eq!(head.etag, meta.etag);
    // The copy is independent of its source.
    store
        .put(&from, Bytes::from_static(b"{}"), Some("application/json"))
        .await
        .expect("rewrite source");
    assert_eq!(store.get(&to).await.expect("get copy"), data);
}

async fn bad_keys_are_refused(store: &dyn ObjectStore, p: &str) {
    let good = format!("{p}bad/good.txt");
    store
        .put(&good, Bytes::from_static(b"good"), None)
        .await
        .expect("put good");
    let raw = [
        "../x", "/abs", "a//b", "a/./b", "a\\b", "", "a\0b", "dir/", ".", "..", "a\nb",
    ];
    let mut keys: Vec<String> = raw.iter().map(|k| k.to_string()).collect();
    keys.extend(
        ["../x", "a//b", "a/./b", "a/../../b", "a\\b", "a\0b", "dir/"]
            .iter()
            .map(|k| format!("{p}{k}")),
    );
    fn is_bad<T: std::fmt::Debug>(what: &str, key: &str, r: botlib::AppResult<T>) {
        assert!(
            matches!(r, Err(AppError::BadRequest(_))),
            "{what} with key {key:?} should be 400, got {r:?}"
        );
    }
    for key in &keys {
        is_bad("put", key, store.put(key, Bytes::from_static(b"x"), None).await);
        is_bad("get", key, store.get(key).await.map(|b| b.len()));
        is_bad("head", key, store.head(key).await);
        is_bad("delete", key, store.delete(key).await);
        is_bad(
            "put_stream",
            key,
            store
                .put_stream(key, chunked(Bytes::from_static(b"x"), 1), None, 10)
                .await,
        );
        is_bad(
            "get_stream",
            key,
            store.get_stream(key, None).await.map(|b| b.meta),
        );
        is_bad("copy from", key, store.copy(key, &format!("{p}bad/to.txt")).await);
        is_bad("copy to", key, store.copy(&good, key).await);
    }
    for prefix in ["../", "/", "a//", "a/../", "a\\"] {
        is_bad("list", prefix, store.list(prefix, None, 10).await);
    }
    let long = format!("{p}{}", "k".repeat(1025));
    is_bad(
        "put",
        "(1025 bytes)",
        store.put(&long, Bytes::from_static(b"x"), None).await,
    );
    assert_eq!(
        keys_under(store, &format!("{p}bad/")).await,
        std::slice::from_ref(&good),
        "refused writes wrote nothing"
    );
}

async fn content_types(store: &dyn ObjectStore, p: &str) {
    let cases = [
        ("ct/a.json", Some("application/json"), "application/json"),
        ("ct/b.txt", None, "text/plain; charset=utf-8"),
        ("ct/c.csv", None, "text/csv; charset=utf-8"),
        ("ct/d.PNG", None, "image/png"),
        ("ct/start.bas", None, "text/plain; charset=utf-8"),
    ];
    for (name, given, expected) in cases {
        let key = format!("{p}{name}");
        let meta = store
            .put_stream(&key, chunked(Bytes::from_static(b"data"), 2), given, 100)
            .await
            .expect("put_stream");
        assert_eq!(
            meta.content_type.as_deref(),
            Some(expected),
            "put_stream's content type of {name}"
        );
        let head = store.head(&key).await.expect("head");
        assert_eq!(
            head.content_type.as_deref(),
            Some(expected),
            "head's content type of {name}"
        );
        let body = store.get_stream(&key, None).await.expect("get_stream");
        assert_eq!(
            body.meta.content_type.as_deref(),
            Some(expected),
            "get_stream's content type of {name}"
        );
    }
    // Without a type or a known extension: none, or a generic binary type.
    let key = format!("{p}ct/e.unknownext");
    store
        .put(&key, Bytes::from_static(b"?"), None)
        .await
        .expect("put");
    let ct = store.head(&key).await.expect("head").content_type;
    assert!(
        matches!(
            ct.as_deref(),
            None | Some("application/octet-stream" | "binary/octet-stream")
        ),
        "an unknown type: {ct:?}"
    );
}

async fn clean_up(store: &dyn ObjectStore, p: &str) {
    for key in keys_under(store, p).await {
        store
            .delete(&key)
            .await
            .unwrap_or_else(|e| panic!("clean up {key}: {e}"));
    }
    assert!(
        keys_under(store, p).await.is_empty(),
        "the suite cleans up after itself"
    );
}
