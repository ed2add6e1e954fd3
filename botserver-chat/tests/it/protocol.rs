//! The socket protocol of shared/spec/packages.md, against the real engine.

use crate::support::*;
use futures_util::SinkExt;
use serde_json::Value;
use std::time::Duration;

fn texts(history: &[Value]) -> Vec<(String, String)> {
    history
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialog_runs_over_the_socket_and_its_history_is_stored() {
    let server = Server::start(None).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    let welcome = c.message().await;
    assert_eq!(welcome["content"], "Welcome to the test bot!");
    assert_eq!(welcome["session_id"], ids.session.as_str());
    let menu = c.message().await;
    assert_eq!(menu["content"], "What would you like?");
    let buttons: Vec<&str> = menu["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(buttons, ["Introduce myself", "Nothing"]);
    // A suggestion click, then a typed answer to the HEAR.
    c.send(4, "Introduce myself", None).await;
    assert_eq!(c.message().await["content"], "What is your name?");
    c.say("Ada").await;
    assert_eq!(c.message().await["content"], "Nice to meet you, Ada!");
    let last = c.message().await;
    assert_eq!(last["content"], "Ask me anything.");
    let last_id = last["id"].as_i64().expect("stored messages carry their id");

    let history = server.history(&ids, 0).await;
    assert_eq!(
        texts(&history),
        [
            ("bot", "Welcome to the test bot!"),
            ("bot", "What would you like?"),
            ("user", "Introduce myself"),
            ("bot", "What is your name?"),
            ("user", "Ada"),
            ("bot", "Nice to meet you, Ada!"),
            ("bot", "Ask me anything."),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(history.last().unwrap()["id"].as_i64(), Some(last_id));
    assert!(history.iter().all(|m| m["status"] == "done"));
    // `after=` gives only what came later.
    assert_eq!(server.history(&ids, last_id - 1).await.len(), 1);

    // Reconnecting starts nothing again: start.bas ran once.
    drop(c);
    let mut again = server.connect(&ids).await;
    again.say("Nothing").await; // the script ended: free text, no model → fallback
    let f = again.message().await;
    assert_eq!(f["content"], botserver_chat::turns::FALLBACK);
    let history = server.history(&ids, 0).await;
    assert_eq!(
        history
            .iter()
            .filter(|m| m["content"] == "Welcome to the test bot!")
            .count(),
        1
    );
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("botserver_chat_fallbacks_total{bot=\"greeter\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("botserver_chat_turns_total{bot=\"greeter\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("botserver_chat_open_sockets 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_is_streamed_from_the_model_with_history_and_stored_whole() {
    let llm = ScriptedLlm::new(Duration::from_millis(5));
    let server = Server::start(Some(llm.clone())).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    c.message().await;
    c.message().await;
    c.say("Nothing").await;
    assert_eq!(c.message().await["content"], "Ask me anything.");
    c.say("what is the time").await;
    let mut pieces = Vec::new();
    let end = loop {
        let f = c.next().await;
        if f.get("type").is_some() {
            continue;
        }
        if f["is_complete"] == true {
            break f;
        }
        assert!(f.get("id").is_none(), "pieces carry no id: {f}");
        pieces.push(f["content"].as_str().unwrap().to_string());
    };
    assert_eq!(pieces.concat(), "You said: what is the time");
    assert!(pieces.len() >= 5, "streamed word by word: {pieces:?}");
    assert_eq!(end["content"], "", "the closing frame adds nothing");
    let id = end["id"].as_i64().unwrap();
    let history = server.history(&ids, id - 1).await;
    assert_eq!(history[0]["content"], "You said: what is the time");
    // The model saw the conversation so far, oldest first, then the message.
    let req = llm.requests.lock().unwrap().last().cloned().unwrap();
    let roles: Vec<&str> = req.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles.last(), Some(&"user"));
    assert!(
        req.messages
            .iter()
            .any(|m| m.role == "assistant" && m.content == "Ask me anything.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_message_cancels_the_answer_still_streaming() {
    let llm = ScriptedLlm::new(Duration::from_millis(150));
    let server = Server::start(Some(llm)).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    c.message().await;
    c.message().await;
    c.say("Nothing").await;
    c.message().await;
    c.say("one two three four five six seven eight").await;
    // First piece arrives, then the user interrupts.
    loop {
        let f = c.next().await;
        if f["is_complete"] == false {
            break;
        }
    }
    c.say("stop").await;
    // The interrupted answer is closed (with its id), then the new one streams whole.
    let closed = c.message().await;
    let cut_id = closed["id"].as_i64().unwrap();
    let next = c.message().await;
    let history = server.history(&ids, cut_id - 1).await;
    let cut = history[0]["content"].as_str().unwrap();
    assert!(
        cut.starts_with("You") && !cut.contains("eight"),
        "cut short: {cut:?}"
    );
    assert_eq!(history.last().unwrap()["content"], "You said: stop");
    assert_eq!(next["id"], history.last().unwrap()["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_clear_errors_and_the_socket_keeps_working() {
    let server = Server::start(None).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    c.message().await;
    c.message().await;
    c.ws.send(tokio_tungstenite::tungstenite::Message::Text("not json".into()))
        .await
        .unwrap();
    let e = c.next().await;
    assert_eq!(e["type"], "error");
    assert!(e["message"].as_str().unwrap().starts_with("bad frame"), "{e}");
    c.say(&"x".repeat(8_001)).await;
    assert!(
        c.next().await["message"]
            .as_str()
            .unwrap()
            .contains("longer than 8000")
    );
    c.say("   ").await;
    assert_eq!(c.next().await["message"], "the message is empty");
    // Nothing of that was stored; the dialog goes on.
    c.send(4, "Nothing", None).await;
    assert_eq!(c.message().await["content"], "Ask me anything.");
    let users: Vec<Value> = server
        .history(&ids, 0)
        .await
        .into_iter()
        .filter(|m| m["role"] == "user")
        .collect();
    assert_eq!(users.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_rate_limit_is_refused_per_message() {
    let server = Server::start(None).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    for i in 0..40 {
        c.send(1, &format!("m{i}"), Some(&format!("c{i}"))).await;
    }
    let mut refused = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        let Ok(f) = tokio::time::timeout(Duration::from_millis(500), c.next()).await else {
            break;
        };
        if f["type"] == "error" && f["message"].as_str().unwrap().starts_with("too many messages") {
            refused += 1;
        }
    }
    assert!(
        (5..=10).contains(&refused),
        "{refused} refused of 40 against a burst of 30"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_back_to_back_are_all_answered_in_order() {
    // Each arrives while the one before it is being answered (the session is locked): the
    // worker holding it must find every one of them.
    let server = Server::start(None).await;
    for round in 0..3 {
        let ids = server.auth("echo").await;
        let mut c = server.connect(&ids).await;
        for i in 0..12 {
            c.say(&format!("r{round} m{i}")).await;
        }
        for i in 0..12 {
            assert_eq!(c.message().await["content"], format!("You said r{round} m{i}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let h = server.history(&ids, 0).await;
        assert_eq!(h.len(), 24, "{h:?}");
        assert!(h.iter().all(|m| m["status"] != "pending"), "{h:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_arriving_during_a_turn_is_answered_after_it() {
    // Sent once the turn before it has read the log (its typing indicator is out): only
    // the mark its socket leaves tells the worker holding the session to look again.
    let server = Server::start(None).await;
    let ids = server.auth("slow").await;
    let mut c = server.connect(&ids).await;
    c.say("m0").await;
    let mut answers = Vec::new();
    for i in 1..4 {
        loop {
            let f = c.next().await;
            if f["type"] == "typing" {
                break;
            }
            if f["message_type"] == 2 && f["is_complete"] == true {
                answers.push(f["content"].as_str().unwrap().to_string());
            }
        }
        c.say(&format!("m{i}")).await;
    }
    while answers.len() < 4 {
        answers.push(c.message().await["content"].as_str().unwrap().to_string());
    }
    assert_eq!(
        answers,
        ["You said m0", "You said m1", "You said m2", "You said m3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_twice_with_its_id_is_stored_and_answered_once() {
    let server = Server::start(None).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    c.message().await;
    c.message().await;
    c.send(1, "Nothing", Some("client-1")).await;
    c.send(1, "Nothing", Some("client-1")).await;
    assert_eq!(c.message().await["content"], "Ask me anything.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = server.history(&ids, 0).await;
    assert_eq!(h.iter().filter(|m| m["role"] == "user").count(), 1, "{h:?}");
    assert_eq!(h.iter().filter(|m| m["content"] == "Ask me anything.").count(), 1);
    assert_eq!(
        h.iter().find(|m| m["role"] == "user").unwrap()["client_id"],
        "client-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_belong_to_their_visitor() {
    let server = Server::start(None).await;
    let mine = server.auth("greeter").await;
    let theirs = server.auth("greeter").await;
    assert_ne!(mine.user, theirs.user);
    // Another visitor's id does not open my session; no id at all is 401.
    let (s, _) = server
        .get(&format!(
            "/api/sessions/{}/messages?user_id={}",
            mine.session, theirs.user
        ))
        .await;
    assert_eq!(s, 404);
    let (s, v) = server
        .get(&format!("/api/sessions/{}/messages", mine.session))
        .await;
    assert_eq!(s, 401, "{v}");
    // A made-up user id is not a visitor.
    let (s, _) = server
        .get(&format!(
            "/api/sessions/{}?user_id={}",
            mine.session,
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(s, 401);
    let url = format!(
        "ws://{}/ws?session_id={}&user_id={}",
        server.addr, mine.session, theirs.user
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("the socket must be refused with 404: {other:?}"),
    }
    // Resuming through /api/chat/session keeps the session; a session of someone else gives a new one.
    let (_, v) = server
        .get(&format!(
            "/api/chat/session?bot_name=greeter&user_id={}&session_id={}",
            mine.user, mine.session
        ))
        .await;
    assert_eq!(v["status"], "resumed");
    assert_eq!(v["session_id"], mine.session.as_str());
    let (_, v) = server
        .get(&format!(
            "/api/chat/session?bot_name=greeter&user_id={}&session_id={}",
            theirs.user, mine.session
        ))
        .await;
    assert_eq!(v["status"], "new");
    assert_ne!(v["session_id"], mine.session.as_str());
    // Listing and deleting.
    let (s, list) = server.get(&format!("/api/sessions?user_id={}", mine.user)).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let r = server
        .http
        .delete(server.url(&format!("/api/sessions/{}?user_id={}", mine.session, theirs.user)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = server
        .http
        .delete(server.url(&format!("/api/sessions/{}?user_id={}", mine.session, mine.user)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // A visitor is known by their sessions: with the last one gone, the id is nobody's.
    let (s, _) = server
        .get(&format!("/api/sessions/{}?user_id={}", mine.session, mine.user))
        .await;
    assert_eq!(s, 401);
    let (s, _) = server
        .get(&format!(
            "/api/sessions/{}?user_id={}",
            theirs.session, theirs.user
        ))
        .await;
    assert_eq!(s, 200, "the other visitor's session is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_bots_and_bots_without_scripts() {
    let server = Server::start(None).await;
    let (s, v) = server.get("/api/chat/session?bot_name=nobody").await;
    assert_eq!(s, 400);
    assert!(v["message"].as_str().unwrap().contains("nobody"), "{v}");
    // A bot with no start.bas greets with its welcome message.
    let ids = server.auth("plain").await;
    let mut c = server.connect(&ids).await;
    assert_eq!(c.message().await["content"], "Hi from a bot without scripts");
    // The public profile carries the theme and never a secret.
    let (s, v) = server.get("/api/chat/bots/greeter").await;
    assert_eq!(s, 200);
    assert_eq!(v["title"], "Greeter <b>Bot</b>");
    assert_eq!(v["theme"]["theme-color1"], "#123456");
    assert!(!v.to_string().contains("sk-secret"));
    let (_, list) = server.get("/api/chat/bots").await;
    assert!(!list.to_string().contains("sk-secret"));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"greeter") && names.contains(&"plain") && names.contains(&"default"),
        "{names:?}"
    );
    // The pages.
    let r = server.http.get(server.url("/chat/greeter")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let r = server.http.get(server.url("/chat/nobody")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_runs_directly_and_a_wait_resumes_by_itself() {
    let server = Server::start(None).await;
    let ids = server.auth("greeter").await;
    let mut c = server.connect(&ids).await;
    c.message().await;
    c.message().await;
    // Waiting at HEAR: running another script is refused with a clear error.
    c.send(6, "later", None).await;
    loop {
        let f = c.next().await;
        if f["type"] == "error" {
            assert!(
                f["message"]
                    .as_str()
                    .unwrap()
                    .contains("finish the current dialog"),
                "{f}"
            );
            break;
        }
    }
    c.send(4, "Nothing", None).await;
    assert_eq!(c.message().await["content"], "Ask me anything.");
    // Only scripts declared as tools run directly.
    c.send(6, "helper", None).await;
    loop {
        let f = c.next().await;
        if f["type"] == "error" {
            assert!(
                f["message"].as_str().unwrap().contains("has no tool helper"),
                "{f}"
            );
            break;
        }
    }
    c.send(6, "later", None).await;
    assert_eq!(c.message().await["content"], "Wait for it");
    // WAIT 1 parks the conversation; the wake-up loop resumes it and delivers.
    let done = tokio::time::timeout(Duration::from_secs(5), c.message())
        .await
        .unwrap();
    assert_eq!(done["content"], "Done waiting");
    let h = server.history(&ids, 0).await;
    assert_eq!(h.last().unwrap()["content"], "Done waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_starts_a_bounded_number_of_new_visitors_per_hour() {
    let db = botstate::testing::TestDb::sqlite();
    // The per-IP protection on (the other tests turn it off), generous enough per second.
    let server = Server::start_with(db, None, |c| {
        c.server.rate_limit.per_second = 100_000;
        c.server.rate_limit.burst = 100_000;
    })
    .await;
    let cap = botserver_chat::identity::NEW_VISITORS_PER_IP_PER_HOUR;
    let mut last = None;
    for _ in 0..cap {
        let (s, v) = server.get("/api/chat/session?bot_name=greeter").await;
        assert_eq!(s, 200, "{v}");
        last = Some(v);
    }
    let (s, v) = server.get("/api/chat/session?bot_name=greeter").await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"], "rate_limited");
    // A known visitor keeps opening sessions: the cap is on new identities only.
    let known = last.unwrap();
    let (s, v) = server
        .get(&format!(
            "/api/chat/session?bot_name=greeter&user_id={}",
            known["user_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user_id"], known["user_id"]);
}
