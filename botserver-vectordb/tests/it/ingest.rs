//! Indexing: a 500-document corpus indexed once, nothing re-embedded on a rerun or a
//! restart, a changed file re-embedded alone, removals, retries with back-off, a run
//! interrupted and completed after a restart without duplicates, spreadsheets (xlsx, ods)
//! found by a cell's value and a broken one given up on.

use crate::support::{Env, code_word, write_corpus};
use botserver_vectordb::kb::{collection_name, vector_space};
use botserver_vectordb::repo;
use botserver_vectordb::testing::TestDoubleEmbedder;
use botstate::services::{KbQuery, KnowledgeBase};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Every document's chunks in the database match its vectors in the store exactly, and
/// its row says indexed.
fn check_consistent(env: &Env, store: &botserver_vectordb::EmbeddedVectorStore) -> usize {
    let mut c = env.db.get().unwrap();
    let rows = repo::documents(&mut c, &env.bot.id.to_string()).unwrap();
    let space = vector_space(&env.bot);
    let mut total = 0;
    let mut per_kb: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        assert_eq!(
            r.status,
            repo::INDEXED,
            "{} is {}: {:?}",
            r.path,
            r.status,
            r.last_error
        );
        let chunks = repo::chunks_of(&mut c, &r.bot_id, &r.kb, &r.path).unwrap();
        assert_eq!(chunks.len() as i64, r.chunk_count, "{}", r.path);
        let mut ids: Vec<String> = chunks.iter().map(|c| c.id.clone()).collect();
        ids.sort();
        let coll = collection_name(env.bot.id, &r.kb, &space);
        assert_eq!(store.document_ids(&coll, &r.path), ids, "vectors of {}", r.path);
        total += chunks.len();
        *per_kb.entry(r.kb.clone()).or_default() += chunks.len();
    }
    for (kb, n) in per_kb {
        assert_eq!(
            store.count(&collection_name(env.bot.id, &kb, &space)),
            n,
            "no stray vectors in {kb}"
        );
    }
    assert_eq!(
        repo::chunk_count(&mut c, &env.bot.id.to_string()).unwrap() as usize,
        total,
        "no stray chunks"
    );
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_indexes_once_and_reruns_and_restarts_index_nothing() {
    let env = Env::new();
    write_corpus(&env, 500);
    let llm = Arc::new(TestDoubleEmbedder::new(64));
    let (svc, store) = env.start(llm.clone());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.indexed, 500, "{r:?}");
    assert_eq!(r.failed, 0);
    let chunks = check_consistent(&env, &store);
    assert_eq!(r.chunks, chunks);
    assert_eq!(llm.texts(), chunks, "each chunk embedded once");
    assert!(llm.calls() >= 500, "batches never span documents");

    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.unchanged, r.embedded), (0, 500, 0), "{r:?}");

    // A restarted process: fingerprints come from the database, vectors from disk.
    drop((svc, store));
    let llm2 = Arc::new(TestDoubleEmbedder::new(64));
    let (svc, store) = env.start(llm2.clone());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.unchanged), (0, 500), "{r:?}");
    assert_eq!(llm2.texts(), 0);
    check_consistent(&env, &store);
    // BM25 is rebuilt from the chunks table on the first search. (The fused order of the
    // top few can vary: every document shares "warranty", and the test double's vectors
    // are noise; the document with the code word must be among the first three.)
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: format!("{} warranty", code_word(123)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        hits.iter().take(3).any(|h| h.text.contains(&code_word(123))),
        "{hits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_re_embedded_alone_and_removed_files_are_forgotten() {
    let env = Env::new();
    write_corpus(&env, 60);
    let llm = Arc::new(TestDoubleEmbedder::new(64));
    let (svc, store) = env.start(llm.clone());
    svc.index_bot(&env.bot, None).await.unwrap();
    llm.take_embedded();
    let before = llm.texts();

    let code = code_word(11);
    env.write(
        "catalogue",
        &format!("items/{code}.md"),
        format!("# {code}\n\nNow sold only in Tromso, in blue.\n").as_bytes(),
    );
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.unchanged), (1, 59), "{r:?}");
    let embedded = llm.take_embedded();
    assert_eq!(llm.texts() - before, embedded.len());
    assert!(
        !embedded.is_empty() && embedded.iter().all(|t| t.contains(&code)),
        "{embedded:?}"
    );
    check_consistent(&env, &store);
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: "sold in Tromso".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        hits[0].text.contains("Tromso") && hits[0].source.ends_with(&format!("{code}.md")),
        "{hits:?}"
    );
    assert_eq!(hits[0].kb, "catalogue");

    // Touched without a change: read, found identical, nothing embedded.
    let txt = env.root.join("catalogue").join(format!("{}.txt", code_word(4)));
    let f = std::fs::File::options().write(true).open(&txt).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.unchanged, r.embedded), (0, 60, 0), "{r:?}");

    // Removed: its row, chunks and vectors go.
    env.remove("catalogue", &format!("items/{code}.md"));
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.removed, 1);
    check_consistent(&env, &store);
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: "Tromso".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Vectors always have nearest neighbours; none of them is the removed document, and
    // no word matches any more.
    assert!(
        hits.iter().all(|h| !h.text.contains("Tromso") && h.score <= 0.5),
        "{hits:?}"
    );
    // A whole knowledge base removed.
    std::fs::remove_dir_all(env.root.join("manuals")).unwrap();
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.removed, 12, "{r:?}");
    check_consistent(&env, &store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_file_is_retried_with_back_off_then_recorded_as_failed() {
    let env = Env::new();
    env.write("faq", "broken.docx", b"this is not a zip archive");
    env.write("faq", "ok.md", b"# Hours\n\nOpen from nine to five.\n");
    let llm = Arc::new(TestDoubleEmbedder::new(32));
    let (svc, _store) = env.start(llm.clone());
    let row = |env: &Env| {
        let mut c = env.db.get().unwrap();
        repo::documents_of_kb(&mut c, &env.bot.id.to_string(), "faq")
            .unwrap()
            .into_iter()
            .find(|r| r.path == "broken.docx")
            .unwrap()
    };
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.failed), (1, 1));
    let first = row(&env);
    assert_eq!((first.status.as_str(), first.attempts), ("pending", 1));
    assert!(
        first.last_error.as_deref().unwrap().contains("not a .docx"),
        "{first:?}"
    );
    assert_eq!(
        first.next_attempt_ms,
        env.now.load(std::sync::atomic::Ordering::SeqCst) + 30_000
    );

    // Before its time: not tried.
    env.advance(29_000);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.failed, r.waiting), (0, 1), "{r:?}");
    // Each retry waits twice as long as the one before: 30 s, 60 s, 120 s, 240 s.
    let mut wait = 30_000;
    for attempt in 2..=5 {
        env.advance(wait);
        let r = svc.index_bot(&env.bot, None).await.unwrap();
        assert_eq!(r.failed, 1, "attempt {attempt}: {r:?}");
        let now = env.now.load(std::sync::atomic::Ordering::SeqCst);
        let row = row(&env);
        assert_eq!(row.attempts, attempt);
        if attempt < 5 {
            wait *= 2;
            assert_eq!(
                (row.status.as_str(), row.next_attempt_ms),
                ("pending", now + wait)
            );
        } else {
            assert_eq!(row.status, "failed");
        }
    }
    // Given up: never tried again while the file stays the same.
    env.advance(86_400_000);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.failed, r.waiting), (0, 1), "{r:?}");
    assert_eq!(row(&env).attempts, 5);

    // Mended: indexed at once, attempts cleared.
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("word/document.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(
            &mut z,
            b"<w:p><w:r><w:t>Returns within thirty days.</w:t></w:r></w:p>",
        )
        .unwrap();
        z.finish().unwrap();
    }
    env.write("faq", "broken.docx", buf.get_ref());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.indexed, 1, "{r:?}");
    let mended = row(&env);
    assert_eq!(
        (mended.status.as_str(), mended.attempts, mended.last_error.clone()),
        ("indexed", 0, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_failure_keeps_lexical_search_and_retries() {
    let env = Env::new();
    env.write(
        "faq",
        "poison.md",
        b"# Secret\n\nThe POISON pill recipe is kept by the pharmacist.\n",
    );
    let llm = Arc::new(TestDoubleEmbedder::new(32));
    llm.fail_on(Some("POISON"));
    let (svc, store) = env.start(llm.clone());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.failed, 1, "{r:?}");
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: "pharmacist recipe".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "found lexically while its vectors are missing");
    llm.fail_on(None);
    env.advance(30_000);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.indexed, 1, "{r:?}");
    check_consistent(&env, &store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_embedding_model_bm25_alone_serves_and_vectors_come_later() {
    let env = Env::new();
    write_corpus(&env, 20);
    let none = Arc::new(TestDoubleEmbedder::not_configured());
    let (svc, store) = env.start(none);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.indexed, 20);
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: code_word(7),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(hits[0].text.contains(&code_word(7)));
    assert!(store.collections().is_empty(), "no vectors without a model");
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(
        (r.indexed, r.unchanged),
        (0, 20),
        "not retried while the model is the same: {r:?}"
    );
    // The bot gets an embedding model: documents are embedded from stored chunks.
    drop((svc, store));
    let mut bot = env.bot.clone();
    bot.settings.insert("embedding-model".into(), "double".into());
    env.bots.publish(bot.clone());
    let llm = Arc::new(TestDoubleEmbedder::new(32));
    let (svc, store) = env.start(llm.clone());
    let r = svc.index_bot(&bot, None).await.unwrap();
    assert_eq!((r.reembedded, r.indexed), (20, 0), "{r:?}");
    assert!(llm.texts() > 0);
    assert_eq!(store.collections().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_completes_after_a_restart_without_duplicates() {
    let env = Env::new();
    write_corpus(&env, 200);
    let llm = Arc::new(TestDoubleEmbedder::new(64));
    llm.hang_after(Some(70));
    let (svc, store) = env.start(llm.clone());
    let bot = env.bot.clone();
    let run = tokio::spawn({
        let svc = svc.clone();
        async move { svc.index_bot(&bot, None).await }
    });
    for _ in 0..600 {
        if llm.calls() > 70 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(llm.calls() > 70, "the run reached the hang");
    // The process dies: the run is dropped mid-document (chunks written, vectors not).
    run.abort();
    let _ = run.await;
    drop((svc, store));
    {
        let mut c = env.db.get().unwrap();
        let rows = repo::documents(&mut c, &env.bot.id.to_string()).unwrap();
        let indexed = rows.iter().filter(|r| r.status == repo::INDEXED).count();
        assert!(
            (60..200).contains(&indexed),
            "interrupted part way: {indexed} indexed"
        );
        assert!(rows.iter().any(|r| r.status == repo::PENDING), "one was mid-way");
    }
    let llm2 = Arc::new(TestDoubleEmbedder::new(64));
    let (svc, store) = env.start(llm2.clone());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.failed, 0);
    assert_eq!(r.unchanged + r.indexed, 200, "{r:?}");
    let total = check_consistent(&env, &store);
    assert!(total >= 200);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.unchanged, 200);
}

/// A zip of `files` (path, content).
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (path, content) in files {
            z.start_file(*path, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, content.as_bytes()).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreadsheets_are_indexed_and_found_by_a_cells_value_and_a_broken_one_is_given_up() {
    let env = Env::new();
    let xlsx = zip_of(&[
        (
            "xl/workbook.xml",
            r#"<workbook><sheets><sheet name="Suppliers" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        (
            "xl/sharedStrings.xml",
            r#"<sst><si><t>Supplier</t></si><si><t>Part</t></si><si><t>Quillanbrook Metals</t></si></sst>"#,
        ),
        (
            "xl/worksheets/sheet1.xml",
            r#"<worksheet><sheetData><row><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>
            <row><c t="s"><v>2</v></c><c t="inlineStr"><is><t>brass hinge</t></is></c><c><v>42</v></c></row>
            </sheetData></worksheet>"#,
        ),
    ]);
    env.write("parts", "suppliers.xlsx", &xlsx);
    let ods = zip_of(&[(
        "content.xml",
        r#"<office:document-content><office:body><office:spreadsheet><table:table table:name="Rooms">
        <table:table-row><table:table-cell><text:p>Marrowdale hall</text:p></table:table-cell>
        <table:table-cell office:value="80" office:value-type="float"/></table:table-row>
        </table:table></office:spreadsheet></office:body></office:document-content>"#,
    )]);
    env.write("parts", "rooms.ods", &ods);
    env.write("parts", "broken.xlsx", b"not a workbook at all");
    let llm = Arc::new(TestDoubleEmbedder::new(32));
    let (svc, _store) = env.start(llm.clone());
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.failed), (2, 1), "{r:?}");

    let search = |query: &str| {
        svc.search(KbQuery {
            bot: env.bot.id,
            query: query.to_string(),
            ..Default::default()
        })
    };
    let hits = search("Quillanbrook").await.unwrap();
    assert!(!hits.is_empty(), "the cell's value is found");
    assert!(
        hits[0].text.contains("Quillanbrook Metals | brass hinge | 42"),
        "{hits:?}"
    );
    let hits = search("Marrowdale").await.unwrap();
    assert!(hits[0].text.contains("Marrowdale hall | 80"), "{hits:?}");

    // The broken one: its error recorded, retried with back-off, then given up.
    let broken = |env: &Env| {
        let mut c = env.db.get().unwrap();
        repo::documents_of_kb(&mut c, &env.bot.id.to_string(), "parts")
            .unwrap()
            .into_iter()
            .find(|r| r.path == "broken.xlsx")
            .unwrap()
    };
    let row = broken(&env);
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("not a .xlsx (zip) file"),
        "{row:?}"
    );
    for _ in 2..=5 {
        env.advance(86_400_000);
        svc.index_bot(&env.bot, None).await.unwrap();
    }
    let row = broken(&env);
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 5), "{row:?}");
    env.advance(86_400_000);
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.failed, r.indexed), (0, 0), "given up: {r:?}");
}
