//! A server under test and socket clients. The language model is [`ScriptedLlm`], a test
//! double (no model runs in these tests): it streams `You said: <message>` word by word.

use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botserver_core::Module;
use botstate::services::{ChatChunk, ChatRequest, ChatResponse, LlmProvider, Usage};
use botstate::testing::TestDb;
use botstate::{AppState, Config, DatabaseTarget};
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// TEST DOUBLE of a language model: streams `You said: <last user message>` one word per
/// `delay`, and records every request.
pub struct ScriptedLlm {
    pub delay: Duration,
    pub requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedLlm {
    pub fn new(delay: Duration) -> Arc<ScriptedLlm> {
        Arc::new(ScriptedLlm {
            delay,
            requests: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl LlmProvider for ScriptedLlm {
    async fn chat(&self, _: ChatRequest) -> AppResult<ChatResponse> {
        Err(AppError::NotConfigured("the test double streams only"))
    }
    async fn chat_stream(&self, req: ChatRequest) -> AppResult<BoxStream<'static, AppResult<ChatChunk>>> {
        let last = req.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        self.requests.lock().unwrap().push(req);
        let words: Vec<String> = format!("You said: {last}")
            .split(' ')
            .enumerate()
            .map(|(i, w)| if i == 0 { w.to_string() } else { format!(" {w}") })
            .collect();
        let delay = self.delay;
        let s = futures_util::stream::iter(words)
            .then(move |w| async move {
                tokio::time::sleep(delay).await;
                Ok(ChatChunk::Text(w))
            })
            .chain(futures_util::stream::once(async {
                Ok(ChatChunk::Done(Usage::default()))
            }));
        Ok(s.boxed())
    }
    async fn embed(&self, _: Option<BotId>, _: Vec<String>) -> AppResult<Vec<Vec<f32>>> {
        Err(AppError::NotConfigured("embeddings"))
    }
}

/// The bot most tests talk to.
pub const GREETER: &str = r#"
TALK "Welcome to the test bot!"
HEAR choice AS "Introduce myself", "Nothing" WITH "What would you like?"
IF choice = "Introduce myself" THEN
  HEAR name AS NAME WITH "What is your name?"
  TALK "Nice to meet you, " + name + "!"
END IF
TALK "Ask me anything."
"#;

pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    _db: TestDb,
    _bots: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// Writes `<bot>.gbai/<path>` files.
pub fn write_bot(dir: &std::path::Path, bot: &str, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = dir.join(format!("{bot}.gbai")).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

impl Server {
    /// A server with the greeter bot (as `greeter`) and a model when given.
    pub async fn start(llm: Option<Arc<dyn LlmProvider>>) -> Server {
        Self::start_on(TestDb::postgres().unwrap_or_else(TestDb::sqlite), llm).await
    }

    pub async fn start_on(db: TestDb, llm: Option<Arc<dyn LlmProvider>>) -> Server {
        Self::start_with(db, llm, |_| {}).await
    }

    /// Like [`Server::start_on`], with the configuration adjusted last.
    pub async fn start_with(
        db: TestDb,
        llm: Option<Arc<dyn LlmProvider>>,
        adjust: impl FnOnce(&mut Config),
    ) -> Server {
        let bots = tempfile::tempdir().unwrap();
        write_bot(
            bots.path(),
            "greeter",
            &[
                ("greeter.gbdialog/start.bas", GREETER),
                ("greeter.gbdialog/helper.bas", "TALK \"not a tool\"\n"),
                (
                    "greeter.gbdialog/later.bas",
                    "DESCRIPTION \"Waits a second\"\nTALK \"Wait for it\"\nWAIT 1\nTALK \"Done waiting\"\n",
                ),
                (
                    "greeter.gbot/config.csv",
                    "bot-name,Greeter <b>Bot</b>\ntheme-color1,#123456\nllm-key,sk-secret\n",
                ),
            ],
        );
        write_bot(
            bots.path(),
            "plain",
            &[(
                "plain.gbot/config.csv",
                "welcome-message,Hi from a bot without scripts\n",
            )],
        );
        write_bot(
            bots.path(),
            "echo",
            &[(
                "echo.gbdialog/start.bas",
                "DO\n  HEAR line\n  TALK \"You said \" + line\nLOOP\n",
            )],
        );
        // Like echo, with turns slow enough for a message to arrive during one.
        write_bot(
            bots.path(),
            "slow",
            &[(
                "slow.gbdialog/start.bas",
                "DO\n  HEAR line\n  n = 0\n  FOR i = 1 TO 20000\n    n = n + 1\n  NEXT\n  TALK \"You said \" + line\nLOOP\n",
            )],
        );
        let mut config = Config::default();
        config.server.data_dir = db.data_dir();
        config.server.bots_dir = Some(bots.path().to_path_buf());
        config.database.url = match &db.target {
            DatabaseTarget::Postgres(url) => url.clone(),
            DatabaseTarget::Sqlite(path) => format!("sqlite://{}", path.display()),
        };
        config.database.pool_size = 8;
        config.server.bind = "127.0.0.1".into();
        config.server.port = 0;
        // Many sockets from one address in these tests.
        config.server.rate_limit.per_second = 0;
        adjust(&mut config);
        let modules: [&Module; 2] = [&botserver_auto::MODULE, &botserver_chat::MODULE];
        let sets = Module::migration_sets(&modules);
        let mut state = AppState::build(config, &sets).await.expect("state builds");
        if let Some(llm) = llm {
            state.llm = llm;
        }
        Module::install_all(&mut state, &modules).await.expect("installs");
        let state = Arc::new(state);
        let app = botserver_core::app::build_app(state.clone(), &modules);
        let bound = botserver_core::serve::bind(&state).await.expect("binds");
        let addr = bound.local_addr().unwrap();
        tokio::spawn(botserver_core::serve::serve(state.clone(), app, bound));
        Server {
            addr,
            state,
            http: reqwest::Client::new(),
            _db: db,
            _bots: bots,
        }
    }

    /// The bots folder the server follows.
    pub fn bots_dir(&self) -> &std::path::Path {
        self._bots.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` → (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// New ids from `/api/chat/session`.
    pub async fn auth(&self, bot: &str) -> Ids {
        let (status, v) = self.get(&format!("/api/chat/session?bot_name={bot}")).await;
        assert_eq!(status, 200, "{v}");
        Ids {
            user: v["user_id"].as_str().unwrap().to_string(),
            session: v["session_id"].as_str().unwrap().to_string(),
            bot: v["bot_id"].as_str().unwrap().to_string(),
        }
    }

    /// A socket for `ids`, past its `connected` frame.
    pub async fn connect(&self, ids: &Ids) -> Client {
        let url = format!(
            "ws://{}/ws?session_id={}&user_id={}",
            self.addr, ids.session, ids.user
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
        let mut c = Client { ws, ids: ids.clone() };
        let hello = c.next().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        assert_eq!(hello["session_id"], ids.session.as_str());
        c
    }

    /// The session's stored messages after `after`.
    pub async fn history(&self, ids: &Ids, after: i64) -> Vec<Value> {
        let (status, v) = self
            .get(&format!(
                "/api/sessions/{}/messages?after={after}&user_id={}",
                ids.session, ids.user
            ))
            .await;
        assert_eq!(status, 200, "{v}");
        v["messages"].as_array().unwrap().clone()
    }
}

#[derive(Clone, Debug)]
pub struct Ids {
    pub user: String,
    pub session: String,
    pub bot: String,
}

pub struct Client {
    pub ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub ids: Ids,
}

impl Client {
    /// The next JSON frame (5 s at most).
    pub async fn next(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a frame within 5 s")
                .expect("socket open")
                .expect("frame");
            match m {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next complete bot message (skipping typing events and streamed pieces).
    pub async fn message(&mut self) -> Value {
        loop {
            let f = self.next().await;
            if f["message_type"] == 2 && f["is_complete"] == true {
                return f;
            }
            assert!(
                f.get("type").is_none_or(|t| t == "typing" || t == "user_message"),
                "unexpected {f}"
            );
        }
    }

    pub async fn send(&mut self, message_type: u8, content: &str, id: Option<&str>) {
        let mut frame = json!({
            "content": content, "message_type": message_type,
            "session_id": self.ids.session, "user_id": self.ids.user, "bot_id": self.ids.bot,
            "channel": "web"
        });
        if let Some(id) = id {
            frame["id"] = json!(id);
        }
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn say(&mut self, content: &str) {
        self.send(1, content, None).await
    }
}
