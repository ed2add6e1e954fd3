use crate::harness::TEST_MODULE;
use axum::http::StatusCode;
use botserver_core::testing::TestApp;
use botstate::testing::TestDb;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

#[tokio::test]
async fn health_answers_ok() {
    let app = TestApp::new(&[]).await;
    let r = app.get("/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_checks_database_and_cache_on_every_backend() {
    for db in TestDb::all() {
        let redis = botstate::testing::service_url("BOT_TEST_REDIS_URL");
        let is_pg = matches!(db.target, botstate::DatabaseTarget::Postgres(_));
        let app = TestApp::build(db, &[], |c| {
            if is_pg && let Some(url) = redis {
                c.cache.redis_url = url;
                c.cache.key_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
            }
        })
        .await;
        let r = app.get("/ready").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["status"], "ready");
        assert_eq!(r.json()["database"]["ok"], true);
        assert_eq!(r.json()["database"]["backend"], app.state.db.backend().name());
        assert_eq!(r.json()["cache"]["backend"], app.state.cache.backend());
    }
}

#[tokio::test]
async fn ready_fails_while_shutting_down_but_health_does_not() {
    let app = TestApp::new(&[]).await;
    app.state.shutdown.cancel();
    let r = app.get("/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["status"], "shutting_down");
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_fails_when_the_database_goes_away_and_the_process_survives() {
    let Some(db) = TestDb::postgres() else { return };
    let botstate::DatabaseTarget::Postgres(url) = db.target.clone() else {
        unreachable!()
    };
    let app = TestApp::build(db, &[], |c| c.database.connect_timeout_secs = 1).await;
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);

    let name = url.rsplit('/').next().unwrap().to_string();
    let admin_url = std::env::var("BOT_TEST_POSTGRES_URL").unwrap();
    let mut admin = PgConnection::establish(&admin_url).unwrap();
    let cut = format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    );
    admin.batch_execute(&cut).unwrap();

    let r = app.get("/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()["database"]["ok"], false);
    assert_eq!(app.get("/health").await.status, StatusCode::OK);

    // And it recovers when the database comes back.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if app.get("/ready").await.status == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ok, "/ready did not recover");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_report_the_pool() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    app.get("/health").await;
    app.get("/health").await;
    app.get("/no/such/route").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("botserver_http_requests_total{")
                && l.contains("route=\"/health\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no /health counter in:\n{text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(
        text.contains("botserver_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("botserver_http_requests_in_flight"), "{text}");
    assert!(text.contains("botserver_db_pool_max_connections 4"), "{text}");
}

#[tokio::test]
async fn version_names_the_build() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let v = app.get("/api/version").await.json();
    assert_eq!(v["name"], "botserver");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["modules"], serde_json::json!(["test"]));
    assert_eq!(v["database"], "sqlite");
    assert_eq!(v["cache"], "memory");
}

#[tokio::test]
async fn openapi_documents_core_and_module_routes() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/api/version",
        "/api/openapi.json",
        "/api/test/echo",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the document");
    }
    assert!(doc["components"]["schemas"]["ErrorResponse"].is_object());
}

#[tokio::test]
async fn the_docs_page_loads_its_own_assets_only() {
    let app = TestApp::new(&[]).await;
    let page = app.get("/api/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("/api/docs/docs.js"));
    // The CSP forbids inline scripts and foreign hosts: the page must need neither.
    assert!(!html.contains("<script>"), "inline script");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external asset"
    );
    for asset in ["/api/docs/docs.js", "/api/docs/docs.css"] {
        assert_eq!(app.get(asset).await.status, StatusCode::OK, "{asset}");
    }
}
