//! Guarded outbound HTTP against a local axum server on 127.0.0.1 (no other network).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get, post};
use botserver_auto::net::{
    Guarded, HttpPolicy, HttpRequest, NetError, check_url, fetch, is_forbidden_ip, is_localhost_name,
};
use serde_json::{Value, json};

async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/json", get(|| async { axum::Json(json!({"ok": true, "n": 3})) }))
        .route(
            "/echo",
            any(|method: Method, headers: HeaderMap, body: Bytes| async move {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                axum::Json(json!({
                    "method": method.as_str(),
                    "content_type": content_type,
                    "body": String::from_utf8_lossy(&body),
                }))
            }),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let get = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                axum::Json(json!({"x-api-key": get("x-api-key"), "authorization": get("authorization")}))
            }),
        )
        .route("/text", get(|| async { "hello world" }))
        .route("/number-text", get(|| async { "42" }))
        .route("/untyped-json", get(|| async { "[1, 2, 3]" }))
        .route("/see-other", get(|| async { Redirect::to("/json") }))
        .route(
            "/found",
            post(|| async { (StatusCode::FOUND, [(header::LOCATION, "/echo")]) }),
        )
        .route("/temporary", post(|| async { Redirect::temporary("/echo") }))
        .route("/loop", get(|| async { Redirect::to("/loop") }))
        .route("/big", get(|| async { "x".repeat(2048) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/status",
            get(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"error": "nope"}))).into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn open() -> Guarded {
    Guarded::new(HttpPolicy {
        allow_private: true,
        ..HttpPolicy::default()
    })
    .unwrap()
}

fn guarded() -> Guarded {
    Guarded::new(HttpPolicy::default()).unwrap()
}

fn refused_addr(err: NetError) -> String {
    match err {
        NetError::Refused { addr, .. } => addr,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_default_policy_is_closed_with_the_documented_limits() {
    let p = HttpPolicy::default();
    assert!(!p.allow_private);
    assert_eq!(p.timeout, Duration::from_secs(10));
    assert_eq!(p.max_response_bytes, 5 * 1024 * 1024);
    assert_eq!(p.max_redirects, 5);
    assert_eq!(p.max_request_bytes, 1024 * 1024);
}

#[tokio::test]
async fn a_json_response_becomes_an_object() {
    let addr = server().await;
    let r = fetch(&open(), HttpRequest::get(format!("http://{addr}/json")))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"ok": true, "n": 3}));
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("application/json"))
    );
}

#[tokio::test]
async fn a_post_sends_an_object_as_json_and_a_string_as_text() {
    let addr = server().await;
    let client = open();
    let r = fetch(
        &client,
        HttpRequest::new("post", format!("http://{addr}/echo")).body(json!({"name": "Ana", "qty": [1, 2]})),
    )
    .await
    .unwrap();
    assert_eq!(r.body["method"], "POST");
    assert_eq!(r.body["content_type"], "application/json");
    let sent: Value = serde_json::from_str(r.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, json!({"name": "Ana", "qty": [1, 2]}));

    let r = fetch(
        &client,
        HttpRequest::new("PUT", format!("http://{addr}/echo")).body(json!("plain words")),
    )
    .await
    .unwrap();
    assert_eq!(r.body["method"], "PUT");
    assert_eq!(r.body["content_type"], "text/plain; charset=utf-8");
    assert_eq!(r.body["body"], "plain words");

    // A Content-Type set by the script wins.
    let r = fetch(
        &client,
        HttpRequest::new("PATCH", format!("http://{addr}/echo"))
            .header("Content-Type", "application/merge-patch+json")
            .body(json!({"a": null})),
    )
    .await
    .unwrap();
    assert_eq!(r.body["content_type"], "application/merge-patch+json");
}

#[tokio::test]
async fn custom_headers_arrive() {
    let addr = server().await;
    let r = fetch(
        &open(),
        HttpRequest::get(format!("http://{addr}/headers"))
            .header("X-Api-Key", "k-123")
            .header("Authorization", "Bearer t"),
    )
    .await
    .unwrap();
    assert_eq!(r.body, json!({"x-api-key": "k-123", "authorization": "Bearer t"}));
}

#[tokio::test]
async fn bad_methods_headers_and_urls_are_refused_before_sending() {
    let client = open();
    let err = fetch(&client, HttpRequest::new("TRACE", "http://127.0.0.1:9/"))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::BadRequest(_)), "{err}");
    for (name, value) in [
        ("Host", "evil"),
        ("Content-Length", "3"),
        ("X-Bad", "a\r\nInjected: 1"),
    ] {
        let req = HttpRequest::get("http://127.0.0.1:9/").header(name, value);
        let err = fetch(&client, req).await.unwrap_err();
        assert!(matches!(err, NetError::BadRequest(_)), "{name}: {err}");
    }
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/",
        "not a url",
        "gopher://127.0.0.1/",
    ] {
        let err = fetch(&client, HttpRequest::get(url)).await.unwrap_err();
        assert!(matches!(err, NetError::BadUrl(_)), "{url}: {err}");
    }
}

#[tokio::test]
async fn a_text_body_stays_text_and_statuses_are_reported() {
    let addr = server().await;
    let client = open();
    let r = fetch(&client, HttpRequest::get(format!("http://{addr}/text")))
        .await
        .unwrap();
    assert_eq!(r.body, json!("hello world"));
    let r = fetch(&client, HttpRequest::get(format!("http://{addr}/number-text")))
        .await
        .unwrap();
    assert_eq!(r.body, json!("42"));
    let r = fetch(&client, HttpRequest::get(format!("http://{addr}/untyped-json")))
        .await
        .unwrap();
    assert_eq!(r.body, json!([1, 2, 3]));
    let r = fetch(&client, HttpRequest::get(format!("http://{addr}/status")))
        .await
        .unwrap();
    assert_eq!((r.status, r.body), (404, json!({"error": "nope"})));
}

#[tokio::test]
async fn redirects_are_followed_with_browser_method_rules() {
    let addr = server().await;
    let client = open();
    let r = fetch(&client, HttpRequest::get(format!("http://{addr}/see-other")))
        .await
        .unwrap();
    assert_eq!(r.body, json!({"ok": true, "n": 3}));

    // 302 turns a POST into a GET without a body.
    let r = fetch(
        &client,
        HttpRequest::new("POST", format!("http://{addr}/found")).body(json!({"a": 1})),
    )
    .await
    .unwrap();
    assert_eq!(r.body, json!({"method": "GET", "content_type": "", "body": ""}));

    // 307 keeps the method and the body.
    let r = fetch(
        &client,
        HttpRequest::new("POST", format!("http://{addr}/temporary")).body(json!({"a": 1})),
    )
    .await
    .unwrap();
    assert_eq!(
        r.body,
        json!({"method": "POST", "content_type": "application/json", "body": "{\"a\":1}"})
    );

    let err = fetch(&client, HttpRequest::get(format!("http://{addr}/loop")))
        .await
        .unwrap_err();
    assert_eq!(err, NetError::TooManyRedirects(5));
}

#[tokio::test]
async fn an_oversized_response_or_request_is_refused() {
    let addr = server().await;
    let client = Guarded::new(HttpPolicy {
        allow_private: true,
        max_response_bytes: 1024,
        max_request_bytes: 16,
        ..HttpPolicy::default()
    })
    .unwrap();
    let err = fetch(&client, HttpRequest::get(format!("http://{addr}/big")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NetError::TooLarge {
            what: "response body",
            limit: 1024
        }
    );
    let req = HttpRequest::new("POST", format!("http://{addr}/echo")).body(json!("x".repeat(17)));
    let err = fetch(&client, req).await.unwrap_err();
    assert_eq!(
        err,
        NetError::TooLarge {
            what: "request body",
            limit: 16
        }
    );
}

/// A chunked body with no Content-Length is cut off while streaming.
#[tokio::test]
async fn an_oversized_chunked_response_is_cut_off_while_streaming() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("400\r\n{}\r\n", "y".repeat(0x400));
        // Far more than the limit, unless the client stops reading.
        for _ in 0..64 {
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    let client = Guarded::new(HttpPolicy {
        allow_private: true,
        max_response_bytes: 4096,
        ..HttpPolicy::default()
    })
    .unwrap();
    let err = fetch(&client, HttpRequest::get(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NetError::TooLarge {
            what: "response body",
            limit: 4096
        }
    );
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let addr = server().await;
    let client = Guarded::new(HttpPolicy {
        allow_private: true,
        timeout: Duration::from_millis(300),
        ..HttpPolicy::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let err = fetch(&client, HttpRequest::get(format!("http://{addr}/slow")))
        .await
        .unwrap_err();
    assert_eq!(err, NetError::Timeout(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("timed out"));
}

#[tokio::test]
async fn private_loopback_and_link_local_targets_are_refused() {
    let addr = server().await;
    let client = guarded();
    let port = addr.port();
    let err = fetch(&client, HttpRequest::get(format!("http://127.0.0.1:{port}/json")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused: 127.0.0.1 is a private/loopback address; set http-allow-private=true in config.csv to allow"
    );
    for (url, addr) in [
        (format!("http://localhost:{port}/json"), "localhost"),
        (format!("http://LOCALHOST.:{port}/json"), "localhost."),
        (format!("http://api.localhost:{port}/json"), "api.localhost"),
        ("http://10.1.2.3/".to_owned(), "10.1.2.3"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
        ),
        (format!("http://[::1]:{port}/json"), "::1"),
        ("http://[::ffff:127.0.0.1]/".to_owned(), "::ffff:127.0.0.1"),
        ("http://[fe80::1]/".to_owned(), "fe80::1"),
        ("http://[fd00::1]/".to_owned(), "fd00::1"),
        ("https://100.64.0.1/".to_owned(), "100.64.0.1"),
        ("http://0.0.0.0/".to_owned(), "0.0.0.0"),
        ("http://0x7f.1/".to_owned(), "127.0.0.1"),
        ("http://2130706433/".to_owned(), "127.0.0.1"),
        ("http://172.16.5.4/".to_owned(), "172.16.5.4"),
        ("http://192.168.0.1/".to_owned(), "192.168.0.1"),
        ("http://224.0.0.1/".to_owned(), "224.0.0.1"),
        ("http://255.255.255.255/".to_owned(), "255.255.255.255"),
    ] {
        let err = fetch(&client, HttpRequest::get(url.clone())).await.unwrap_err();
        assert_eq!(refused_addr(err), addr, "{url}");
    }
}

/// The redirect case: the first hop cannot be a public host here, so this checks the
/// per-hop function the redirect loop applies to every `Location` (the end-to-end redirect
/// refusal is a unit test in `src/net.rs`, using a crate-private hook that trusts the first hop).
#[test]
fn every_redirect_target_goes_through_the_per_hop_check() {
    let policy = HttpPolicy::default();
    let from = url::Url::parse("https://api.example.com/v1/start").unwrap();
    for location in [
        "http://127.0.0.1/admin",
        "http://localhost:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.1.2.3/",
    ] {
        let next = from.join(location).unwrap();
        assert!(
            matches!(check_url(&next, &policy), Err(NetError::Refused { .. })),
            "{location}"
        );
        let allowed = HttpPolicy {
            allow_private: true,
            ..HttpPolicy::default()
        };
        assert!(check_url(&next, &allowed).is_ok());
    }
    for location in [
        "/v1/next",
        "https://cdn.example.org/file.json",
        "http://93.184.216.34/",
    ] {
        assert!(
            check_url(&from.join(location).unwrap(), &policy).is_ok(),
            "{location}"
        );
    }
    let err = check_url(&from.join("file:///etc/passwd").unwrap(), &policy).unwrap_err();
    assert!(matches!(err, NetError::BadUrl(_)));
}

#[test]
fn the_address_classification_covers_the_non_public_ranges() {
    for ip in [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.251",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fdff::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:192.168.0.1",
        "64:ff9b::a00:1",
        "2002:c0a8:0101::1",
    ] {
        assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip} should be forbidden");
    }
    for ip in [
        "8.8.8.8",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip} should be allowed");
    }
    assert!(is_localhost_name("LocalHost."));
    assert!(is_localhost_name("a.b.localhost"));
    assert!(!is_localhost_name("localhost.example.com"));
}
