//! The web chat page in a real headless Chromium (Debian's `chromium` and `chromium-driver`
//! packages), driven over WebDriver: welcome, a suggestion click, an answer to a HEAR, a
//! streamed reply (from the scripted model test double), a reload showing the history,
//! markup from the bot and from the user rendered as text, the theme, a phone-sized screen.
//!
//! Without a browser it skips with a note, and fails under `CI=true`.

use crate::support::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(bin: &[&str]) -> Option<String> {
    bin.iter()
        .flat_map(|b| {
            std::env::var("PATH")
                .unwrap_or_default()
                .split(':')
                .map(|d| format!("{d}/{b}"))
                .collect::<Vec<_>>()
        })
        .find(|p| std::path::Path::new(p).exists())
}

impl Driver {
    async fn start() -> Option<Driver> {
        let (Some(driver), Some(browser)) =
            (find(&["chromedriver"]), find(&["chromium", "chromium-browser"]))
        else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("chromium and chromedriver are needed (apt-get install chromium chromium-driver)");
            }
            eprintln!("note: chromium/chromedriver not installed; skipping the browser test");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=375,740",
                    format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {v}"))
            .to_string();
        Some(Driver {
            child,
            base,
            session,
            http,
        })
    }

    async fn cmd(&self, path: &str, body: Value) -> Value {
        let v: Value = self
            .http
            .post(format!("{}/session/{}/{path}", self.base, self.session))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd("url", json!({ "url": url })).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd("execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Polls `script` until it returns something truthy (10 s at most).
    async fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script).await;
            if !(v.is_null() || v == false || v == "" || v == json!([])) {
                return v;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let page = self.js("return document.body.innerText").await;
                panic!("timed out waiting for {what}; page: {page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WebDriver id of the element matching `css`.
    async fn element(&self, css: &str) -> String {
        let el = self
            .cmd("element", json!({"using": "css selector", "value": css}))
            .await;
        el.as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string()
    }

    async fn type_and_send(&self, text: &str) {
        let input = self.element("#input").await;
        self.cmd(&format!("element/{input}/value"), json!({ "text": text }))
            .await;
        let send = self.element("#send").await;
        self.cmd(&format!("element/{send}/click"), json!({})).await;
    }
}

/// The texts of the messages shown, as `user: …` / `bot: …`.
const MESSAGES: &str = "return Array.from(document.querySelectorAll('#messages .msg')).map(e => \
    (e.classList.contains('msg-user') ? 'user: ' : 'bot: ') + e.textContent.trim())";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_in_a_real_browser() {
    let Some(browser) = Driver::start().await else {
        return;
    };
    let llm = ScriptedLlm::new(Duration::from_millis(120));
    let server = Server::start(Some(llm)).await;
    let page = server.url("/chat/greeter");
    browser.goto(&page).await;

    // Welcome, then the menu's buttons.
    browser
        .until(
            "the welcome",
            "return document.querySelector('#messages')?.textContent.includes('Welcome to the test bot!')",
        )
        .await;
    browser
        .until(
            "the menu",
            "return document.querySelectorAll('#suggestions button.suggestion').length == 2",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelector('#status').dataset.state")
            .await,
        "connected"
    );
    // The theme: colour and title from config.csv, the title as text.
    assert_eq!(
        browser
            .js("return getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()")
            .await,
        "#123456"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#title').textContent")
            .await,
        "Greeter <b>Bot</b>"
    );

    // Click the suggestion; answer the HEAR by typing.
    browser
        .js("Array.from(document.querySelectorAll('#suggestions button.suggestion')).find(b => b.textContent.includes('Introduce myself')).click()")
        .await;
    browser
        .until(
            "the name question",
            "return document.querySelector('#messages').textContent.includes('What is your name?')",
        )
        .await;
    browser.type_and_send("Ada").await;
    browser
        .until(
            "the greeting",
            "return document.querySelector('#messages').textContent.includes('Nice to meet you, Ada!')",
        )
        .await;
    browser
        .until(
            "the end of the script",
            "return document.querySelector('#messages').textContent.includes('Ask me anything.')",
        )
        .await;

    // A question for the model: its answer arrives in pieces.
    browser.type_and_send("tell me a long story please").await;
    let partial = browser
        .until(
            "a streaming bubble",
            "const s = document.querySelector('#messages .msg-bot.streaming'); return s && s.textContent.length > 0 ? s.textContent : null",
        )
        .await;
    let full = "You said: tell me a long story please";
    assert_ne!(
        partial.as_str().unwrap().trim(),
        full,
        "seen before it was complete"
    );
    browser
        .until(
            "the streamed answer complete",
            &format!("return !document.querySelector('#messages .msg-bot.streaming') && document.querySelector('#messages').textContent.includes('{full}')"),
        )
        .await;

    // Markup typed by the user is text.
    browser
        .type_and_send("<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>")
        .await;
    browser
        .until(
            "the model's answer to the markup, complete",
            "return !document.querySelector('#messages .msg-bot.streaming') && \
             document.querySelector('#messages').textContent.includes('You said: <img src=x')",
        )
        .await;

    // Reload: the same conversation, from the log.
    let before = browser.js(MESSAGES).await;
    browser.cmd("refresh", json!({})).await;
    browser
        .until("the history after reload", "return document.querySelector('#messages').textContent.includes('You said: tell me a long story please')")
        .await;
    let after = browser
        .until(
            "the whole history",
            &format!(
                "const m = Array.from(document.querySelectorAll('#messages .msg')); return m.length >= {} ? m.length : null",
                before.as_array().unwrap().len()
            ),
        )
        .await;
    let after_msgs = browser.js(MESSAGES).await;
    assert_eq!(after.as_u64().unwrap() as usize, before.as_array().unwrap().len());
    let welcome = after_msgs
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.as_str().unwrap().contains("Welcome to the test bot!"))
        .count();
    assert_eq!(welcome, 1, "start.bas ran once: {after_msgs}");

    // Nothing injected ran or became an element; the phone-sized page does not overflow.
    assert_eq!(browser.js("return window.__xss === undefined").await, true);
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#messages img[src=\"x\"], #messages script').length")
            .await,
        0
    );
    assert_eq!(
        browser
            .js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_from_a_bot_renders_as_text_in_the_browser() {
    let Some(browser) = Driver::start().await else {
        return;
    };
    let server = Server::start(None).await;
    write_bot(
        server.bots_dir(),
        "xss",
        &[(
            "xss.gbdialog/start.bas",
            r#"TALK "<img src=x onerror=""window.__xss=1""> and <script>window.__xss=2</script>"
TALK "[click](javascript:window.__xss=3) ![i](javascript:window.__xss=4) **bold** [ok](https://example.com)"
"#,
        )],
    );
    // The folder watcher picks the new bot up within a couple of seconds.
    let started = Instant::now();
    while server.get("/api/chat/bots/xss").await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "bot not loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.goto(&server.url("/chat/xss")).await;
    browser
        .until(
            "both messages",
            "return document.querySelectorAll('#messages .msg-bot').length >= 2",
        )
        .await;
    let text = browser
        .js("return document.querySelector('#messages').textContent")
        .await;
    assert!(
        text.as_str().unwrap().contains("<script>window.__xss=2</script>"),
        "{text}"
    );
    assert_eq!(browser.js("return window.__xss === undefined").await, true);
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#messages img, #messages script, #messages a[href^=\"javascript\"]').length")
            .await,
        0
    );
    // Allowed Markdown still works: bold, and a link with a web scheme.
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#messages strong').length")
            .await,
        1
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#messages a[href=\"https://example.com\"]').rel")
            .await,
        "noopener noreferrer"
    );
}
