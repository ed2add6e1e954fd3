use crate::harness::TEST_MODULE;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use botserver_core::testing::TestApp;
use botstate::testing::TestDb;
use serde_json::json;

#[tokio::test]
async fn unknown_route_is_a_json_404_with_the_request_id() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.get("/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let body = r.json();
    assert_eq!(body["error"], "not_found");
    let rid = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["request_id"], rid);
}

#[tokio::test]
async fn wrong_method_is_a_json_405_that_keeps_allow() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.json(Method::DELETE, "/health", &json!({})).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"], "method_not_allowed");
    assert!(r.headers.get(header::ALLOW).is_some());
}

#[tokio::test]
async fn oversize_body_is_a_json_413_naming_the_limit() {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.body_limit_bytes = 64
    })
    .await;
    let r = app
        .json(Method::POST, "/api/test/echo", &json!({"text": "x".repeat(200)}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"], "payload_too_large");
    assert!(
        r.json()["message"].as_str().unwrap().contains("64 bytes"),
        "{}",
        r.text()
    );
    // Without Content-Length (a streamed body), the limit still holds.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(vec![b'a'; 100])]);
    let req = Request::post("/api/test/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.json()["error"], "payload_too_large");
    // A body under the limit passes.
    let r = app
        .json(Method::POST, "/api/test/echo", &json!({"text": "hi"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"text": "hi"}));
}

#[tokio::test]
async fn malformed_json_says_what_is_wrong() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app
        .json(Method::POST, "/api/test/echo", &json!({"txt": "hi"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "bad_request");
    assert!(
        r.json()["message"].as_str().unwrap().contains("text"),
        "{}",
        r.text()
    );
    let req = Request::post("/api/test/echo").body(Body::from("{")).unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("content-type"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn domain_errors_keep_their_kind_and_message() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.get("/api/test/conflict").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "that name is taken");
    assert!(r.json()["request_id"].is_string());
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_the_server_goes_on() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.get("/api/test/panic").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["error"], "internal");
    assert!(!r.text().contains("boom"), "panic message leaked: {}", r.text());
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_handler_hits_the_deadline_with_504() {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.request_timeout_secs = 1
    })
    .await;
    let started = std::time::Instant::now();
    let r = app.get("/api/test/slow").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.json()["error"], "timeout");
    assert!(started.elapsed() < std::time::Duration::from_millis(1490));
}

#[tokio::test]
async fn per_ip_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.rate_limit.per_second = 1;
        c.server.rate_limit.burst = 2;
    })
    .await;
    let a: std::net::SocketAddr = "198.51.100.1:1000".parse().unwrap();
    let b: std::net::SocketAddr = "198.51.100.2:1000".parse().unwrap();
    let req = || Request::get("/api/version").body(Body::empty()).unwrap();
    for _ in 0..3 {
        assert_eq!(app.send_from(a, req()).await.status, StatusCode::OK);
    }
    let r = app.send_from(a, req()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["error"], "rate_limited");
    assert!(
        r.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Another client is unaffected, and probes are never limited.
    assert_eq!(app.send_from(b, req()).await.status, StatusCode::OK);
    let health = Request::get("/health").body(Body::empty()).unwrap();
    assert_eq!(app.send_from(a, health).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.rate_limit.per_second = 1;
        c.server.rate_limit.burst = 0;
        c.server.trusted_proxies = vec!["10.0.0.1".into()];
    })
    .await;
    let proxy: std::net::SocketAddr = "10.0.0.1:1000".parse().unwrap();
    let via = |client: &str| {
        Request::get("/api/version")
            .header("x-forwarded-for", client)
            .body(Body::empty())
            .unwrap()
    };
    // Two clients behind one proxy each get their own budget.
    assert_eq!(
        app.send_from(proxy, via("203.0.113.1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.send_from(proxy, via("203.0.113.2")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.send_from(proxy, via("203.0.113.1")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An untrusted peer cannot pick its identity with the header.
    let stranger: std::net::SocketAddr = "192.0.2.50:1000".parse().unwrap();
    assert_eq!(
        app.send_from(stranger, via("203.0.113.3")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.send_from(stranger, via("203.0.113.4")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    for path in ["/health", "/nope", "/api/docs"] {
        let r = app.get(path).await;
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
        assert!(
            r.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
        assert!(
            r.headers.get("strict-transport-security").is_none(),
            "HSTS without TLS"
        );
    }
}

#[tokio::test]
async fn a_plain_request_id_is_kept_and_a_hostile_one_replaced() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let req = Request::get("/health")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.headers["x-request-id"], "abc-123");
    let req = Request::get("/health")
        .header("x-request-id", "<script>alert(1)</script>")
        .body(Body::empty())
        .unwrap();
    let rid = app.send(req).await.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&rid).is_ok(), "{rid}");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.cors.allowed_origins = vec!["https://chat.example.com".into()];
    })
    .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/test/echo")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let ok = app.send(preflight("https://chat.example.com")).await;
    assert_eq!(
        ok.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://chat.example.com"
    );
    let evil = app.send(preflight("https://evil.example")).await;
    assert!(evil.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // With no origin configured there are no CORS headers at all.
    let closed = TestApp::new(&[&TEST_MODULE]).await;
    let r = closed.send(preflight("https://chat.example.com")).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn large_answers_are_gzipped_for_clients_that_accept_it() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let req = Request::get("/api/test/big")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.headers[header::CONTENT_ENCODING], "gzip");
    assert!(r.body.len() < 2000, "compressed to {} bytes", r.body.len());
    let plain = app.get("/api/test/big").await;
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.body.len(), 20_000);
}

#[tokio::test]
async fn static_files_are_served_from_the_configured_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "static hello").unwrap();
    let path = dir.path().to_path_buf();
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], move |c| {
        c.server.static_dir = Some(path)
    })
    .await;
    let r = app.get("/static/hello.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "static hello");
    let r = app.get("/static/../Cargo.toml").await;
    assert_ne!(r.status, StatusCode::OK);
    let r = app.get("/static/missing.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
}

#[tokio::test]
async fn a_protected_route_needs_credentials() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let r = app.get("/api/test/private").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(r.json()["error"], "unauthorized");
    // With a token but no auth domain in this build, the answer says so.
    let r = app.get_as("some-token", "/api/test/private").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.json()["error"], "not_configured");
}

#[tokio::test]
async fn every_route_has_an_access_rule() {
    let app = TestApp::new(&[&TEST_MODULE]).await;
    let private = app
        .rules
        .iter()
        .find(|r| r.path == "/api/test/private")
        .expect("declared");
    assert_eq!(private.access.to_string(), "user");
    assert!(
        app.rules
            .iter()
            .any(|r| r.path == "/health" && r.access.to_string() == "public")
    );
}
