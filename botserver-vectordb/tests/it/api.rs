//! The REST routes through the whole router: access rules, upload, indexing within
//! seconds by the background indexer, search, list, reindex, delete.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use botlib::BotId;
use botserver_core::testing::{TestApp, TokenAuth, test_principal};
use botstate::BotInfo;
use botstate::auth::{Access, Role};
use botstate::testing::TestDb;
use std::time::Duration;

/// The callers (an authenticator test double: the bearer token names them).
fn callers() -> TokenAuth {
    let at = |user: &str, roles: &[Role], bots: &[&str]| test_principal(user, "o", roles, bots);
    TokenAuth::default()
        .with("admin", at("admin", &[Role::Admin], &[]))
        .with("shop-admin", at("shop-admin", &[Role::BotAdmin], &["shop"]))
        .with("other-admin", at("other-admin", &[Role::BotAdmin], &["other"]))
        .with("user", at("user", &[Role::User], &[]))
}

async fn app() -> TestApp {
    let app = TestApp::with_auth(
        TestDb::sqlite(),
        &[&botserver_vectordb::MODULE],
        callers(),
        |_| {},
    )
    .await;
    let folder = app.state.config.bots_dir().join("shop.gbai");
    std::fs::create_dir_all(&folder).unwrap();
    app.state.bots.publish(BotInfo {
        id: BotId::for_name("shop"),
        name: "shop".into(),
        folder: Some(folder),
        ..Default::default()
    });
    app
}

async fn put(app: &TestApp, token: &str, path: &str, body: &[u8]) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(Method::PUT)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/markdown")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let r = app.send(req).await;
    (r.status, r.json())
}

async fn send(app: &TestApp, token: &str, method: Method, path: &str) -> (StatusCode, serde_json::Value) {
    let r = app.json_as(token, method, path, &serde_json::Value::Null).await;
    (r.status, r.json())
}

/// Waits until the document list satisfies `done`.
async fn wait_docs(app: &TestApp, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..200 {
        last = app
            .get_as("shop-admin", "/api/bots/shop/kbs/faq/documents")
            .await
            .json();
        if done(&last["documents"]) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("indexing did not finish: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_declares_its_rule() {
    let app = app().await;
    for r in app.rules.iter().filter(|r| r.path.contains("/kbs")) {
        let want = if r.path.ends_with("/search") {
            Access::Role(Role::User)
        } else {
            Access::Role(Role::BotAdmin)
        };
        assert_eq!(r.access, want, "{} {}", r.method, r.path);
    }
    assert_eq!(app.rules.iter().filter(|r| r.path.contains("/kbs")).count(), 7);
    let doc = app.get("/api/openapi.json").await.json();
    for p in [
        "/api/bots/{bot}/kbs",
        "/api/bots/{bot}/kbs/search",
        "/api/bots/{bot}/kbs/status",
        "/api/bots/{bot}/kbs/{kb}/documents",
        "/api/bots/{bot}/kbs/{kb}/documents/{path}",
        "/api/bots/{bot}/kbs/{kb}/reindex",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} in the OpenAPI document");
    }
    assert!(doc["paths"]["/api/bots/{bot}/kbs/{kb}/documents/{path}"]["put"].is_object());
    assert!(doc["paths"]["/api/bots/{bot}/kbs/{kb}/documents/{path}"]["delete"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_index_search_reindex_delete() {
    let app = app().await;
    let doc = "/api/bots/shop/kbs/faq/documents/hours/opening.md";
    let text = b"# Opening hours\n\nThe shop opens at nine and closes at six; closed on Sundays.\n";

    // Who may.
    assert_eq!(
        app.get("/api/bots/shop/kbs").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(put(&app, "user", doc, text).await.0, StatusCode::FORBIDDEN);
    assert_eq!(put(&app, "other-admin", doc, text).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_as("user", "/api/bots/shop/kbs").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as("admin", "/api/bots/nobot/kbs").await.status,
        StatusCode::NOT_FOUND
    );

    // Bad names and types.
    let (s, _) = put(
        &app,
        "shop-admin",
        "/api/bots/shop/kbs/faq/documents/.hidden.md",
        text,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = put(
        &app,
        "shop-admin",
        "/api/bots/shop/kbs/faq/documents/tool.exe",
        text,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["message"].as_str().unwrap().contains("unsupported"));

    // Upload: stored, then indexed by the background indexer within seconds.
    let (s, b) = put(&app, "shop-admin", doc, text).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["path"], "hours/opening.md");
    let (s, _) = put(&app, "admin", doc, text).await;
    assert_eq!(s, StatusCode::OK, "replaced");
    let docs = wait_docs(&app, |d| d[0]["status"] == "indexed").await;
    assert_eq!(docs["documents"][0]["path"], "hours/opening.md");
    assert!(docs["documents"][0]["chunks"].as_i64().unwrap() >= 1);
    assert_eq!(
        docs["documents"][0]["embedded"], false,
        "no embedding model: lexical only"
    );

    // Search, for any signed-in user.
    let r = app
        .get_as(
            "user",
            "/api/bots/shop/kbs/search?q=when%20does%20the%20shop%20open",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = &r.json()["passages"][0];
    assert_eq!(
        (p["kb"].as_str(), p["source"].as_str()),
        (Some("faq"), Some("hours/opening.md"))
    );
    assert_eq!(p["location"], "Opening hours");
    assert!(p["score"].as_f64().unwrap() > 0.0);
    let r = app
        .get_as("user", "/api/bots/shop/kbs/search?q=sundays&kb=other")
        .await;
    assert_eq!(
        r.json()["passages"].as_array().unwrap().len(),
        0,
        "narrowed to another kb"
    );
    assert_eq!(
        app.get_as("user", "/api/bots/shop/kbs/search?q=").await.status,
        StatusCode::BAD_REQUEST
    );

    // Lists and status.
    let kbs = app.get_as("shop-admin", "/api/bots/shop/kbs").await.json();
    assert_eq!(kbs["kbs"][0]["name"], "faq");
    assert_eq!(kbs["kbs"][0]["indexed"], 1);
    let st = app.get_as("shop-admin", "/api/bots/shop/kbs/status").await;
    assert_eq!(st.status, StatusCode::OK);
    assert!(st.json()["indexer"]["last_pass_ms"].is_i64(), "{}", st.text());

    // Reindex: accepted, done again.
    let (s, b) = send(&app, "shop-admin", Method::POST, "/api/bots/shop/kbs/faq/reindex").await;
    assert_eq!((s, b["documents"].as_i64()), (StatusCode::ACCEPTED, Some(1)));
    wait_docs(&app, |d| d[0]["status"] == "indexed").await;

    // Delete: gone from the folder, then from the index.
    let (s, _) = send(&app, "shop-admin", Method::DELETE, doc).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&app, "shop-admin", Method::DELETE, doc).await.0,
        StatusCode::NOT_FOUND
    );
    wait_docs(&app, |d| d.as_array().is_some_and(|a| a.is_empty())).await;
    let r = app.get_as("user", "/api/bots/shop/kbs/search?q=sundays").await;
    assert_eq!(r.json()["passages"].as_array().unwrap().len(), 0);
}
