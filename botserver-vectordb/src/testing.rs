//! Test support, public so other crates' tests and the benches use the same pieces:
//! [`vector_store_suite`], the behaviour every [`VectorStore`] must show (run on the
//! embedded store here, and on any other store by its own tests); [`TestDoubleEmbedder`],
//! a test double of `LlmProvider` that embeds deterministically, counts what it embeds and
//! can fail, block or say it is not configured; and [`tiny_pdf`], a valid PDF made in
//! memory.

use crate::lexical::tokenize;
use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botstate::services::{ChatChunk, ChatRequest, ChatResponse, LlmProvider, VectorPoint, VectorStore};
use futures_util::stream::BoxStream;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A test double of the language-model provider that only embeds: each text becomes a
/// bag of its tokens hashed into `dims` buckets (synonyms mapped to one word first), so
/// texts sharing words, or synonyms, are close. It counts calls and texts, and can be
/// told to fail on texts containing a marker, to answer `NotConfigured`, or to hang after
/// a number of calls (to interrupt an indexing run).
pub struct TestDoubleEmbedder {
    dims: usize,
    synonyms: HashMap<String, String>,
    calls: AtomicUsize,
    texts: AtomicUsize,
    embedded: Mutex<Vec<String>>,
    fail_marker: Mutex<Option<String>>,
    not_configured: bool,
    hang_after_calls: Mutex<Option<usize>>,
}

impl TestDoubleEmbedder {
    /// An embedder of `dims` dimensions.
    pub fn new(dims: usize) -> TestDoubleEmbedder {
        TestDoubleEmbedder {
            dims,
            synonyms: HashMap::new(),
            calls: AtomicUsize::new(0),
            texts: AtomicUsize::new(0),
            embedded: Mutex::new(Vec::new()),
            fail_marker: Mutex::new(None),
            not_configured: false,
            hang_after_calls: Mutex::new(None),
        }
    }

    /// One that answers every embedding call with `NotConfigured` (a bot without an
    /// embedding model).
    pub fn not_configured() -> TestDoubleEmbedder {
        TestDoubleEmbedder {
            not_configured: true,
            ..TestDoubleEmbedder::new(8)
        }
    }

    /// Words that embed as `canonical` (`[("automobile", "car"), …]`).
    pub fn with_synonyms(mut self, pairs: &[(&str, &str)]) -> TestDoubleEmbedder {
        for (w, c) in pairs {
            self.synonyms.insert(w.to_string(), c.to_string());
        }
        self
    }

    /// Fails every call whose texts contain `marker` (`None`: never).
    pub fn fail_on(&self, marker: Option<&str>) {
        *self.fail_marker.lock().expect("double") = marker.map(str::to_string);
    }

    /// Hangs forever on every call after the first `n` (`None`: never).
    pub fn hang_after(&self, n: Option<usize>) {
        *self.hang_after_calls.lock().expect("double") = n;
    }

    /// Embedding calls so far (successful or not).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Texts embedded successfully so far.
    pub fn texts(&self) -> usize {
        self.texts.load(Ordering::SeqCst)
    }

    /// The texts embedded so far, and forgets them.
    pub fn take_embedded(&self) -> Vec<String> {
        std::mem::take(&mut *self.embedded.lock().expect("double"))
    }

    /// The vector of one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dims];
        for t in tokenize(text) {
            let t = self.synonyms.get(&t).cloned().unwrap_or(t);
            // FNV-1a: stable across runs and platforms.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in t.as_bytes() {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            v[(h % self.dims as u64) as usize] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        } else {
            v[0] = 1.0;
        }
        v
    }
}

#[async_trait]
impl LlmProvider for TestDoubleEmbedder {
    async fn chat(&self, _: ChatRequest) -> AppResult<ChatResponse> {
        Err(AppError::NotConfigured("llm"))
    }

    async fn chat_stream(&self, _: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>> {
        Err(AppError::NotConfigured("llm"))
    }

    async fn embed(&self, _bot: Option<BotId>, inputs: Vec<String>) -> AppResult<Vec<Vec<f32>>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.not_configured {
            return Err(AppError::NotConfigured("embeddings"));
        }
        let hang = *self.hang_after_calls.lock().expect("double");
        if hang.is_some_and(|h| n >= h) {
            std::future::pending::<()>().await;
        }
        let marker = self.fail_marker.lock().expect("double").clone();
        if let Some(m) = marker
            && inputs.iter().any(|t| t.contains(&m))
        {
            return Err(AppError::Unavailable(
                "embedding test double: told to fail".into(),
            ));
        }
        self.texts.fetch_add(inputs.len(), Ordering::SeqCst);
        let out = inputs.iter().map(|t| self.vector(t)).collect();
        self.embedded.lock().expect("double").extend(inputs);
        Ok(out)
    }
}

fn point(id: &str, v: &[f32], doc: &str, kb: &str) -> VectorPoint {
    VectorPoint {
        id: id.into(),
        vector: v.to_vec(),
        payload: json!({"document": doc, "kb": kb, "n": id.len()}),
    }
}

/// The behaviour every vector store must show, on fresh collections named from `prefix`.
/// Panics on the first deviation.
pub async fn vector_store_suite(store: &dyn VectorStore, prefix: &str) {
    let c = format!("{prefix}_suite");
    let other = format!("{prefix}_other");
    // A collection that does not exist has nothing in it.
    match store
        .search(&format!("{prefix}_missing"), vec![1.0, 0.0, 0.0], 3, None)
        .await
    {
        Ok(h) => assert!(h.is_empty(), "a missing collection has no points"),
        Err(AppError::NotFound) => {}
        Err(e) => panic!("searching a missing collection: {e}"),
    }
    store.ensure_collection(&c, 3).await.expect("create");
    store
        .ensure_collection(&c, 3)
        .await
        .expect("create again is fine");
    store.ensure_collection(&other, 3).await.expect("create another");
    assert!(
        store
            .search(&c, vec![1.0, 0.0, 0.0], 3, None)
            .await
            .expect("empty search")
            .is_empty()
    );

    store
        .upsert(
            &c,
            vec![
                point("a", &[1.0, 0.0, 0.0], "doc1", "x"),
                point("b", &[0.9, 0.1, 0.0], "doc1", "y"),
                point("c", &[0.0, 1.0, 0.0], "doc2", "x"),
                point("d", &[0.0, 0.0, 2.0], "doc3", "x"),
            ],
        )
        .await
        .expect("upsert");
    store
        .upsert(&other, vec![point("a", &[1.0, 0.0, 0.0], "doc1", "x")])
        .await
        .expect("upsert other");

    // Nearest first; cosine similarity (vector length does not matter).
    let hits = store
        .search(&c, vec![2.0, 0.0, 0.0], 10, None)
        .await
        .expect("search");
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(&ids[..2], &["a", "b"], "nearest first");
    assert_eq!(hits.len(), 4);
    assert!(
        (hits[0].score - 1.0).abs() < 1e-4,
        "identical direction scores 1: {}",
        hits[0].score
    );
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "scores descend"
    );
    assert_eq!(hits[0].payload["document"], "doc1", "payload returned");
    let d = store
        .search(&c, vec![0.0, 0.0, 1.0], 1, None)
        .await
        .expect("search");
    assert_eq!(d.len(), 1, "top_k bounds the answer");
    assert_eq!(d[0].id, "d");
    assert!(
        (d[0].score - 1.0).abs() < 1e-4,
        "stored vectors are compared by direction"
    );

    // Payload equality filters, one field or several.
    let hits = store
        .search(&c, vec![1.0, 0.0, 0.0], 10, Some(json!({"kb": "y"})))
        .await
        .expect("filtered search");
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["b"]);
    let hits = store
        .search(
            &c,
            vec![1.0, 0.0, 0.0],
            10,
            Some(json!({"kb": "x", "document": "doc2"})),
        )
        .await
        .expect("filtered search");
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["c"]);
    let hits = store
        .search(&c, vec![1.0, 0.0, 0.0], 10, Some(json!({"kb": "nope"})))
        .await
        .expect("filtered search");
    assert!(hits.is_empty());

    // An upsert of an existing id replaces it.
    store
        .upsert(&c, vec![point("a", &[0.0, 1.0, 0.0], "doc2", "x")])
        .await
        .expect("replace");
    let hits = store
        .search(&c, vec![0.0, 1.0, 0.0], 10, None)
        .await
        .expect("search");
    assert_eq!(hits.len(), 4, "replaced, not added");
    assert!(hits[..2].iter().any(|h| h.id == "a"));
    assert_eq!(
        hits.iter()
            .find(|h| h.id == "a")
            .map(|h| h.payload["document"].clone()),
        Some(json!("doc2"))
    );

    // Delete by document: the count, then nothing left of it; other collections untouched.
    assert_eq!(store.delete_by_document(&c, "doc2").await.expect("delete"), 2);
    assert_eq!(
        store.delete_by_document(&c, "doc2").await.expect("delete again"),
        0
    );
    let left: Vec<String> = store
        .search(&c, vec![1.0, 1.0, 1.0], 10, None)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&"b".to_string()) && left.contains(&"d".to_string()));
    assert_eq!(
        store
            .search(&other, vec![1.0, 0.0, 0.0], 10, None)
            .await
            .expect("other")
            .len(),
        1
    );

    // Wrong dimensions are refused, and change nothing.
    assert!(
        store
            .upsert(&c, vec![point("e", &[1.0, 0.0], "doc9", "x")])
            .await
            .is_err()
    );
    assert!(store.search(&c, vec![1.0, 0.0], 3, None).await.is_err());
    assert!(
        store.ensure_collection(&c, 4).await.is_err(),
        "a collection keeps its dimensions"
    );
    assert_eq!(
        store
            .search(&c, vec![1.0, 1.0, 1.0], 10, None)
            .await
            .expect("search")
            .len(),
        2
    );

    // Many points: the best of a larger set comes back, in order.
    let many: Vec<VectorPoint> = (0..500)
        .map(|i| {
            let a = i as f32 / 500.0 * std::f32::consts::FRAC_PI_2;
            point(
                &format!("m{i}"),
                &[a.cos(), a.sin(), 0.0],
                &format!("bulk{}", i % 7),
                "bulk",
            )
        })
        .collect();
    store.upsert(&c, many).await.expect("bulk upsert");
    let hits = store
        .search(&c, vec![0.0, 1.0, 0.0], 3, Some(json!({"kb": "bulk"})))
        .await
        .expect("search");
    assert_eq!(
        hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        vec!["m499", "m498", "m497"]
    );
    let n: u64 = {
        let mut n = 0;
        for d in 0..7 {
            n += store
                .delete_by_document(&c, &format!("bulk{d}"))
                .await
                .expect("delete bulk");
        }
        n
    };
    assert_eq!(n, 500);
}

/// A valid PDF with one page per text (Helvetica, WinAnsi), built in memory.
pub fn tiny_pdf(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 pages, 3 font, then per page: page, content.
    let mut objects: Vec<String> = Vec::new();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into());
    for (i, text) in pages.iter().enumerate() {
        let escaped = text.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
        let content = format!("BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
