//! A provider wired to a test database, an in-process cache and a bot registry.

use botserver_llm::provider::{Llm, Recorder};
use botstate::config::LlmConfig;
use botstate::testing::TestDb;
use botstate::{BotInfo, BotRegistry, Db, MemoryCache};
use std::sync::Arc;

pub struct Fixture {
    pub llm: Llm,
    pub db: Db,
    pub bot: botlib::BotId,
    _tdb: TestDb,
}

/// A provider whose server default is `url`, with one bot `b` holding `settings`.
pub fn provider(url: &str, settings: &[(&str, &str)], tune: impl FnOnce(&mut LlmConfig)) -> Fixture {
    let tdb = TestDb::sqlite();
    let db = tdb.migrated(&[&botstate::CORE_MIGRATIONS, &botserver_llm::MIGRATIONS]);
    let mut defaults = LlmConfig {
        url: url.to_string(),
        model: "scripted-model".into(),
        max_retries: 2,
        ..Default::default()
    };
    tune(&mut defaults);
    let bots = Arc::new(BotRegistry::default());
    let bot = botlib::BotId::for_name("b");
    bots.publish(BotInfo {
        id: bot,
        name: "b".into(),
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    });
    let metrics = botstate::Metrics::default();
    let mut transport = botserver_llm::transport::Transport::new(&defaults).unwrap();
    transport.base_backoff = std::time::Duration::from_millis(50);
    let llm = Llm {
        server_key: None,
        bots,
        db: db.clone(),
        cache: Arc::new(MemoryCache::default()),
        transport,
        recorder: Recorder {
            db: db.clone(),
            metrics: botserver_llm::metrics::LlmMetrics::register(&metrics),
        },
        local: botserver_llm::llamacpp::Supervisor::new(defaults.llama_server.clone(), Default::default()),
        defaults,
    };
    Fixture {
        llm,
        db,
        bot,
        _tdb: tdb,
    }
}

/// The usage rows, waiting up to 2 s for `n` of them (they are written in the background).
pub async fn usage_rows(db: &Db, n: usize) -> Vec<botserver_llm::usage::UsageRow> {
    use diesel::prelude::*;
    for _ in 0..40 {
        let rows: Vec<botserver_llm::usage::UsageRow> = db
            .run(|c| {
                Ok(botserver_llm::usage::llm_usage::table
                    .order(botserver_llm::usage::llm_usage::at_ms.asc())
                    .load(c)?)
            })
            .await
            .unwrap();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} usage rows");
}
