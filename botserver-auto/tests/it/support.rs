//! A bot under test: a package installed on a real database (PostgreSQL when the tests
//! have one, else SQLite), and conversations driven turn by turn.

use botlib::BotId;
use botserver_auto::dialog::Dialogs;
use botserver_auto::package::Package;
use botserver_auto::runtime::{Services, SessionInfo};
use botstate::testing::TestDb;
use botstate::{AppState, Config, DatabaseTarget};
use std::collections::BTreeMap;
use std::sync::Arc;

/// PostgreSQL when configured, else SQLite.
pub fn backend() -> TestDb {
    TestDb::postgres().unwrap_or_else(TestDb::sqlite)
}

/// A server state on `db` with this crate's tables.
pub async fn state_on(db: &TestDb) -> Arc<AppState> {
    let mut config = Config::default();
    config.server.data_dir = db.data_dir();
    config.database.url = match &db.target {
        DatabaseTarget::Postgres(url) => url.clone(),
        DatabaseTarget::Sqlite(path) => format!("sqlite://{}", path.display()),
    };
    config.database.pool_size = 4;
    let state = AppState::build(config, &[&botstate::CORE_MIGRATIONS, &botserver_auto::MIGRATIONS])
        .await
        .expect("state builds");
    Arc::new(state)
}

pub struct Bot {
    pub dialogs: Arc<Dialogs>,
    pub bot: BotId,
    pub name: String,
    _db: TestDb,
}

impl Bot {
    /// Installs a bot made of `files` (path inside .gbdialog, source) and `config`.
    pub async fn new(name: &str, files: &[(&str, &str)], config: &[(&str, &str)]) -> Bot {
        let db = backend();
        let state = state_on(&db).await;
        let dialogs = Arc::new(Dialogs::new(Arc::new(Services::new(&state).unwrap())));
        Self::install_on(dialogs, db, name, files, config).await
    }

    pub async fn install_on(
        dialogs: Arc<Dialogs>,
        db: TestDb,
        name: &str,
        files: &[(&str, &str)],
        config: &[(&str, &str)],
    ) -> Bot {
        let sources: BTreeMap<String, String> = files
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect();
        let config: BTreeMap<String, String> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pkg = Package::from_sources(name, sources, config);
        assert!(pkg.errors.is_empty(), "compile errors: {:?}", pkg.errors);
        let bot = dialogs.install(pkg).await.expect("installs");
        Bot {
            dialogs,
            bot,
            name: name.to_string(),
            _db: db,
        }
    }

    pub fn info(&self, session: &str) -> SessionInfo {
        SessionInfo {
            bot_id: self.bot,
            bot_name: self.name.clone(),
            session_id: session.to_string(),
            user_id: format!("user-of-{session}"),
            user_name: "Ana".into(),
            user_email: "ana@example.com".into(),
            user_phone: String::new(),
            channel: "test".into(),
            language: "en".into(),
        }
    }

    /// Starts a conversation; returns what the bot said.
    pub async fn start(&self, session: &str) -> Vec<String> {
        self.turn(session, None).await
    }

    /// Sends a message; returns what the bot said.
    pub async fn say(&self, session: &str, msg: &str) -> Vec<String> {
        self.turn(session, Some(msg)).await
    }

    async fn turn(&self, session: &str, msg: Option<&str>) -> Vec<String> {
        let out = self
            .dialogs
            .turn(self.info(session), msg.map(str::to_string))
            .await
            .expect("turn runs");
        out.messages.into_iter().map(|m| m.content).collect()
    }

    /// The stored outcome of a conversation (`done`, `hear`, `error` …) and its result.
    pub async fn result(&self, session: &str) -> (String, Option<serde_json::Value>) {
        self.dialogs
            .outcome(session)
            .await
            .expect("reads")
            .expect("exists")
    }
}
