//! The `botserver kb` commands' logic: a progress bar while indexing, a summary, the
//! failures listed (and an error), passages printed with their source.

use crate::support::{Env, write_corpus};
use botserver_vectordb::testing::TestDoubleEmbedder;
use botserver_vectordb::{KbModule, cli};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_index_draws_progress_and_kb_search_prints_sources() {
    let env = Env::new();
    write_corpus(&env, 12);
    let (service, _store) = env.start(Arc::new(TestDoubleEmbedder::new(32)));
    let m = KbModule {
        service,
        background: tokio_util::sync::CancellationToken::new(),
    };
    let mut progress: Vec<u8> = Vec::new();
    let summary = cli::index(&m, "shop", &mut progress).await.unwrap();
    assert!(
        m.background.is_cancelled(),
        "the background indexer is stopped first"
    );
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.contains("[##############################] 9/9 catalogue:"),
        "{progress}"
    );
    assert!(summary.starts_with("shop: 12 indexed"), "{summary}");
    let again = cli::index(&m, "shop", &mut Vec::new()).await.unwrap();
    assert!(
        again.contains("0 indexed") && again.contains("12 unchanged"),
        "{again}"
    );

    let out = cli::search(&m, "shop", &crate::support::code_word(3), Some(2))
        .await
        .unwrap();
    assert!(out.starts_with("1. ["), "{out}");
    assert!(
        out.contains(&format!("catalogue/items/{}.md", crate::support::code_word(3))),
        "{out}"
    );
    assert!(cli::search(&m, "nobody", "x", None).await.is_err());

    env.write("faq", "bad.docx", b"not a zip");
    let err = cli::index(&m, "shop", &mut Vec::new()).await.unwrap_err();
    assert!(err.contains("pending faq/bad.docx: not a .docx"), "{err}");
}
