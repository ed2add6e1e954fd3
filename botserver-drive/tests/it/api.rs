//! The drive's REST routes through the whole router (every middleware, the access rules),
//! on the local store and, when `BOT_TEST_S3_URL` is set, on a real S3 server: uploads
//! (raw and multipart), downloads with ranges, listing, folders, copy and move, the
//! trash, quotas, share links, search, and the path-traversal and cross-space matrix.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use botlib::BotId;
use botserver_core::testing::{TestApp, TestResponse, TokenAuth, test_principal, test_user};
use botserver_drive::Drive;
use botstate::BotInfo;
use botstate::auth::{Access, Role};
use botstate::config::Config;
use botstate::testing::TestDb;
use serde_json::{Value, json};

/// The callers: the bearer token names them (an authenticator test double).
fn callers() -> TokenAuth {
    let at = |user: &str, roles: &[Role], bots: &[&str]| test_principal(user, "org", roles, bots);
    TokenAuth::default()
        .with("admin", at("admin", &[Role::Admin], &[]))
        .with("shop-admin", at("shop-admin", &[Role::BotAdmin], &["shop"]))
        .with("ann", at("ann", &[Role::User], &[]))
        .with("bob", at("bob", &[Role::User], &[]))
        .with("visitor", at("visitor", &[Role::Anonymous], &[]))
}

/// Which store the app's drive uses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Local,
    S3,
}

/// The S3 test server's settings, when there is one (required under `CI=true`).
fn s3_settings() -> Option<(String, String, String)> {
    let url = botstate::testing::service_url("BOT_TEST_S3_URL")?;
    let key = std::env::var("BOT_TEST_S3_ACCESS_KEY").expect("BOT_TEST_S3_ACCESS_KEY");
    let secret = std::env::var("BOT_TEST_S3_SECRET_KEY").expect("BOT_TEST_S3_SECRET_KEY");
    Some((url, key, secret))
}

fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Local];
    if s3_settings().is_some() {
        out.push(Backend::S3);
    }
    out
}

async fn app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = TestApp::with_auth(TestDb::sqlite(), &[&botserver_drive::MODULE], callers(), |c| {
        if backend == Backend::S3 {
            let (url, key, secret) = s3_settings().expect("an S3 server");
            c.drive.s3_url = url;
            // A bucket per app: tests do not see each other's files.
            c.drive.s3_bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
            c.secrets.values.insert("s3-access-key".into(), key);
            c.secrets.values.insert("s3-secret-key".into(), secret);
        }
        adjust(c)
    })
    .await;
    app.state.bots.publish(BotInfo {
        id: BotId::for_name("shop"),
        name: "shop".into(),
        ..Default::default()
    });
    app
}

async fn app(backend: Backend) -> TestApp {
    app_with(backend, |_| {}).await
}

fn request(token: Option<&str>, method: Method, path: &str) -> axum::http::request::Builder {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b
}

async fn put(app: &TestApp, token: &str, path: &str, body: &[u8]) -> TestResponse {
    let req = request(Some(token), Method::PUT, path)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(body.to_vec()))
        .unwrap();
    app.send(req).await
}

async fn get(app: &TestApp, token: Option<&str>, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut b = request(token, Method::GET, path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app.json_as(token, method, path, &body).await;
    let json = if r.body.is_empty() { Value::Null } else { r.json() };
    (r.status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_declares_its_rule_and_checks_it() {
    let app = app(Backend::Local).await;
    let drive_rules: Vec<_> = app
        .rules
        .iter()
        .filter(|r| r.path.starts_with("/api/drive"))
        .collect();
    assert!(drive_rules.len() >= 20, "{drive_rules:?}");
    for r in &drive_rules {
        let path = r
            .path
            .replace("{space}", "me")
            .replace("{*path}", "a.txt")
            .replace("{id}", "x")
            .replace("{token}", "x.1.y");
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let anonymous = app
            .send(request(None, method.clone(), &path).body(Body::empty()).unwrap())
            .await;
        match r.access {
            Access::Public => assert_eq!(anonymous.status, StatusCode::NOT_FOUND, "{} {}", r.method, r.path),
            _ => assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{} {}",
                r.method,
                r.path
            ),
        }
        // Chat visitors have no drive.
        let visitor = app
            .send(
                request(Some("visitor"), method, &path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        if r.access != Access::Public {
            assert_eq!(visitor.status, StatusCode::FORBIDDEN, "{} {}", r.method, r.path);
        }
    }
    // Every drive route is in the OpenAPI document.
    let doc = serde_json::to_value(botserver_drive::api::openapi()).unwrap();
    for r in &drive_rules {
        let path = r.path.replace("{*path}", "{path}");
        let op = &doc["paths"][&path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {path} missing from OpenAPI", r.method);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_ranges_and_metadata() {
    for backend in backends() {
        let app = app(backend).await;
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let r = put(&app, "ann", "/api/drive/me/files/docs/data.bin", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend:?} {}", r.text());
        assert_eq!(r.json()["size"], 100_000);
        let r = put(&app, "ann", "/api/drive/me/files/docs/data.bin", &body).await;
        assert_eq!(r.status, StatusCode::OK, "replacing is 200");

        let all = get(&app, Some("ann"), "/api/drive/me/files/docs/data.bin", &[]).await;
        assert_eq!(all.status, StatusCode::OK);
        assert_eq!(all.body.as_ref(), &body[..]);
        assert_eq!(all.headers[header::CONTENT_SECURITY_POLICY], "sandbox");
        let etag = all.headers[header::ETAG].to_str().unwrap().to_string();

        let part = get(
            &app,
            Some("ann"),
            "/api/drive/me/files/docs/data.bin",
            &[("range", "bytes=10-19")],
        )
        .await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{backend:?}");
        assert_eq!(part.body.as_ref(), &body[10..20]);
        assert_eq!(part.headers[header::CONTENT_RANGE], "bytes 10-19/100000");
        let tail = get(
            &app,
            Some("ann"),
            "/api/drive/me/files/docs/data.bin",
            &[("range", "bytes=-5")],
        )
        .await;
        assert_eq!(tail.body.as_ref(), &body[99_995..]);
        let past = get(
            &app,
            Some("ann"),
            "/api/drive/me/files/docs/data.bin",
            &[("range", "bytes=100000-")],
        )
        .await;
        assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(past.json()["error"], "range_not_satisfiable");
        let cached = get(
            &app,
            Some("ann"),
            "/api/drive/me/files/docs/data.bin",
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED);

        // Sniffed: content beats the name; pages are attachments.
        put(&app, "ann", "/api/drive/me/files/report.txt", b"%PDF-1.4 fake").await;
        let (s, meta) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/meta/report.txt",
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(meta["content_type"], "application/pdf", "{backend:?}");
        put(
            &app,
            "ann",
            "/api/drive/me/files/page.html",
            b"<script>alert(1)</script>",
        )
        .await;
        let page = get(&app, Some("ann"), "/api/drive/me/files/page.html", &[]).await;
        assert!(
            page.headers[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );

        // Another user's space is their own: the same path is not there.
        let other = get(&app, Some("bob"), "/api/drive/me/files/docs/data.bin", &[]).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_folders_copy_move_and_search() {
    for backend in backends() {
        let app = app(backend).await;
        for name in ["a/1.txt", "a/2.txt", "a/sub/3.txt", "b.txt"] {
            assert_eq!(
                put(
                    &app,
                    "ann",
                    &format!("/api/drive/me/files/{name}"),
                    name.as_bytes()
                )
                .await
                .status,
                StatusCode::CREATED
            );
        }
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/folders",
            json!({"path": "empty"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, page) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/files?limit=2",
            Value::Null,
        )
        .await;
        let paths: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["a/1.txt", "a/2.txt"], "{backend:?}");
        let next = page["next"].as_str().unwrap().to_string();
        let (_, rest) = call(
            &app,
            "ann",
            Method::GET,
            &format!("/api/drive/me/files?after={next}"),
            Value::Null,
        )
        .await;
        let paths: Vec<&str> = rest["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["a/sub/3.txt", "b.txt"], "the folder marker is hidden");
        assert!(
            rest["folders"].as_array().unwrap().contains(&json!("empty")),
            "{rest}"
        );
        let (_, sub) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/files?folder=a/sub",
            Value::Null,
        )
        .await;
        assert_eq!(sub["items"].as_array().unwrap().len(), 1);

        let (s, r) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/copy",
            json!({"from": "a", "to": "c"}),
        )
        .await;
        assert_eq!((s, r["copied"].as_u64()), (StatusCode::OK, Some(3)), "{r}");
        let (s, r) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/move",
            json!({"from": "b.txt", "to": "c/b-moved.txt"}),
        )
        .await;
        assert_eq!((s, r["moved"].as_u64()), (StatusCode::OK, Some(1)));
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/b.txt", &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/c/b-moved.txt", &[])
                .await
                .body
                .as_ref(),
            b"b.txt"
        );
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/c/sub/3.txt", &[])
                .await
                .body
                .as_ref(),
            b"a/sub/3.txt"
        );
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/move",
            json!({"from": "a", "to": "a/inner"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/copy",
            json!({"from": "nothing", "to": "x"}),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let (_, hits) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/search?q=MOVED",
            Value::Null,
        )
        .await;
        assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
        assert_eq!(hits[0]["path"], "c/b-moved.txt");
        let (_, none) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/search?q=%25",
            Value::Null,
        )
        .await;
        assert_eq!(
            none.as_array().unwrap().len(),
            0,
            "`%` is a character, not a wildcard"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trash_restores_and_purges() {
    for backend in backends() {
        let app = app(backend).await;
        put(&app, "ann", "/api/drive/me/files/keep/a.txt", b"first").await;
        put(&app, "ann", "/api/drive/me/files/keep/b.txt", b"second").await;
        let (s, trashed) = call(
            &app,
            "ann",
            Method::DELETE,
            "/api/drive/me/files/keep",
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(trashed.as_array().unwrap().len(), 2);
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/keep/a.txt", &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let (_, usage) = call(&app, "ann", Method::GET, "/api/drive/me", Value::Null).await;
        assert_eq!(
            (usage["files_bytes"].as_u64(), usage["trash_bytes"].as_u64()),
            (Some(0), Some(11))
        );

        let (_, trash) = call(&app, "ann", Method::GET, "/api/drive/me/trash", Value::Null).await;
        let entry = trash
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["path"] == "keep/a.txt")
            .unwrap()
            .clone();
        let id = entry["id"].as_str().unwrap();
        // Another user cannot see or restore it.
        let (s, _) = call(
            &app,
            "bob",
            Method::POST,
            &format!("/api/drive/me/trash/{id}/restore"),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            &format!("/api/drive/me/trash/{id}/restore"),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/keep/a.txt", &[])
                .await
                .body
                .as_ref(),
            b"first"
        );

        // A file in the way: 409, unless restored under another name.
        put(&app, "ann", "/api/drive/me/files/keep/b.txt", b"new").await;
        let b = trash
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["path"] == "keep/b.txt")
            .unwrap();
        let restore = format!("/api/drive/me/trash/{}/restore", b["id"].as_str().unwrap());
        let (s, _) = call(&app, "ann", Method::POST, &restore, Value::Null).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            &restore,
            json!({"to": "keep/b-old.txt"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/keep/b-old.txt", &[])
                .await
                .body
                .as_ref(),
            b"second"
        );

        // Emptied by hand, and by the retention sweep.
        call(
            &app,
            "ann",
            Method::DELETE,
            "/api/drive/me/files/keep/b.txt",
            Value::Null,
        )
        .await;
        let (s, r) = call(&app, "ann", Method::DELETE, "/api/drive/me/trash", Value::Null).await;
        assert_eq!((s, r["purged"].as_u64()), (StatusCode::OK, Some(1)));
        call(
            &app,
            "ann",
            Method::DELETE,
            "/api/drive/me/files/keep/a.txt",
            Value::Null,
        )
        .await;
        let drive = app.state.extensions.get::<Drive>().unwrap();
        assert_eq!(drive.sweep_trash().await.unwrap(), 0, "nothing is old enough yet");
        let (_, usage) = call(&app, "ann", Method::GET, "/api/drive/me", Value::Null).await;
        assert_eq!(usage["trash_bytes"].as_u64(), Some(5));
    }
    // With a retention of zero days, the sweep purges everything in the trash.
    let app = app_with(Backend::Local, |c| c.drive.trash_retention_days = 0).await;
    put(&app, "ann", "/api/drive/me/files/x.txt", b"bytes").await;
    call(
        &app,
        "ann",
        Method::DELETE,
        "/api/drive/me/files/x.txt",
        Value::Null,
    )
    .await;
    let drive = app.state.extensions.get::<Drive>().unwrap();
    assert_eq!(drive.sweep_trash().await.unwrap(), 1);
    let (_, trash) = call(&app, "ann", Method::GET, "/api/drive/me/trash", Value::Null).await;
    assert_eq!(trash, json!([]));
    let left = app.state.objects.list("trash/", None, 10).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_upload_limits_refuse_clearly_and_store_nothing() {
    for backend in backends() {
        let app = app_with(backend, |c| c.drive.max_upload_bytes = 4096).await;
        let (s, _) = call(
            &app,
            "ann",
            Method::PUT,
            "/api/drive/me/quota",
            json!({"quota_bytes": 1000}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "only admins set quotas");
        let (s, _) = call(
            &app,
            "admin",
            Method::PUT,
            "/api/drive/bot:shop/quota",
            json!({"quota_bytes": 1000}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let r = put(&app, "shop-admin", "/api/drive/bot:shop/files/a.bin", &[1u8; 600]).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = put(&app, "shop-admin", "/api/drive/bot:shop/files/b.bin", &[1u8; 600]).await;
        assert_eq!(r.status.as_u16(), 507, "{backend:?} {}", r.text());
        assert_eq!(r.json()["error"], "quota_exceeded");
        assert!(r.json()["message"].as_str().unwrap().contains("1000 bytes"));
        assert_eq!(
            get(&app, Some("shop-admin"), "/api/drive/bot:shop/files/b.bin", &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Without a declared length the bytes themselves are counted: still 507, nothing kept.
        let chunks = futures_util::stream::iter(
            (0..6).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![3u8; 100]))),
        );
        let req = request(Some("shop-admin"), Method::PUT, "/api/drive/bot:shop/files/c.bin")
            .body(Body::from_stream(chunks))
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status.as_u16(), 507, "{backend:?} {}", r.text());
        assert_eq!(
            get(&app, Some("shop-admin"), "/api/drive/bot:shop/files/c.bin", &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Replacing a file counts only the difference.
        let r = put(&app, "shop-admin", "/api/drive/bot:shop/files/a.bin", &[2u8; 900]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // The same quota holds for the bot's scripts, which write through state.objects.
        let key = format!("bots/{}/drive/from-script.txt", BotId::for_name("shop"));
        let err = app
            .state
            .objects
            .put(&key, vec![0u8; 200].into(), None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 507);
        app.state
            .objects
            .put(&key, vec![0u8; 50].into(), None)
            .await
            .unwrap();
        let (_, usage) = call(
            &app,
            "shop-admin",
            Method::GET,
            "/api/drive/bot:shop",
            Value::Null,
        )
        .await;
        assert_eq!(usage["files_bytes"].as_u64(), Some(950));

        // Over the upload limit: 413 from the declared length, and from the bytes when no
        // length is declared (chunked).
        let r = put(&app, "ann", "/api/drive/me/files/big.bin", &[0u8; 5000]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        let chunks = futures_util::stream::iter(
            (0..5).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 1000]))),
        );
        let req = request(Some("ann"), Method::PUT, "/api/drive/me/files/big.bin")
            .body(Body::from_stream(chunks))
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        assert_eq!(
            get(&app, Some("ann"), "/api/drive/me/files/big.bin", &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_leaves_nothing() {
    for backend in backends() {
        let app = app(backend).await;
        put(&app, "ann", "/api/drive/me/files/doc.txt", b"version one").await;
        let chunks = futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from(vec![b'x'; 100_000])),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            )),
        ]);
        let req = request(Some("ann"), Method::PUT, "/api/drive/me/files/doc.txt")
            .body(Body::from_stream(chunks))
            .unwrap();
        let r = app.send(req).await;
        assert!(
            r.status.is_client_error() || r.status.is_server_error(),
            "{}",
            r.status
        );
        let now = get(&app, Some("ann"), "/api/drive/me/files/doc.txt", &[]).await;
        assert_eq!(
            now.body.as_ref(),
            b"version one",
            "{backend:?}: the old version is intact"
        );
        let (_, meta) = call(
            &app,
            "ann",
            Method::GET,
            "/api/drive/me/meta/doc.txt",
            Value::Null,
        )
        .await;
        assert_eq!(meta["size"], 11);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_forms_upload_each_file() {
    let app = app(Backend::Local).await;
    let boundary = "XbOuNdArYx";
    let mut body = Vec::new();
    for (field, name, data) in [
        ("f1", "../../evil/one.txt", "first"),
        ("f2", "two.csv", "a,b\n1,2\n"),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n{data}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot a file\r\n--{boundary}--\r\n").as_bytes());
    let req = request(Some("ann"), Method::POST, "/api/drive/me/upload?folder=in")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let paths: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        ["in/one.txt", "in/two.csv"],
        "only the file name's last segment counts"
    );
    assert_eq!(
        get(&app, Some("ann"), "/api/drive/me/files/in/two.csv", &[])
            .await
            .body
            .as_ref(),
        b"a,b\n1,2\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_are_signed_expiring_and_revocable() {
    for backend in backends() {
        let app = app(backend).await;
        put(
            &app,
            "ann",
            "/api/drive/me/files/shared/report.csv",
            b"x,y\n1,2\n",
        )
        .await;
        let (s, share) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/shares",
            json!({"path": "shared/report.csv", "expires_in_secs": 3600}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{share}");
        let url = share["url"].as_str().unwrap().to_string();
        let anyone = get(&app, None, &url, &[]).await;
        match backend {
            Backend::Local => assert_eq!(anyone.body.as_ref(), b"x,y\n1,2\n"),
            Backend::S3 => {
                // A presigned URL the S3 server answers itself.
                assert_eq!(anyone.status, StatusCode::FOUND);
                let to = anyone.headers[header::LOCATION].to_str().unwrap();
                let direct = reqwest::get(to).await.unwrap();
                assert_eq!(direct.status(), 200);
                assert_eq!(direct.bytes().await.unwrap().as_ref(), b"x,y\n1,2\n");
            }
        }
        // A forged expiry or signature is refused.
        let mut parts: Vec<String> = url.rsplitn(3, '.').map(str::to_string).collect();
        parts.reverse();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1].parse::<i64>().unwrap() + 1000,
            parts[2]
        );
        assert_eq!(get(&app, None, &forged, &[]).await.status, StatusCode::NOT_FOUND);
        // The last hex digit changed (never to itself: that was a 1-in-16 false failure).
        let flipped = if url.ends_with('0') { '1' } else { '0' };
        let bad_sig = format!("{}{flipped}", &url[..url.len() - 1]);
        assert_eq!(get(&app, None, &bad_sig, &[]).await.status, StatusCode::NOT_FOUND);
        // Longer than the maximum: refused.
        let (s, _) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/shares",
            json!({"path": "shared/report.csv", "expires_in_secs": 365 * 86400}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // Revoked: gone at once.
        let id = share["id"].as_str().unwrap();
        let (s, _) = call(
            &app,
            "bob",
            Method::DELETE,
            &format!("/api/drive/me/shares/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "another user cannot revoke it");
        let (s, _) = call(
            &app,
            "ann",
            Method::DELETE,
            &format!("/api/drive/me/shares/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(get(&app, None, &url, &[]).await.status, StatusCode::NOT_FOUND);
        // Expired.
        let (_, short) = call(
            &app,
            "ann",
            Method::POST,
            "/api/drive/me/shares",
            json!({"path": "shared/report.csv", "expires_in_secs": 1}),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            get(&app, None, short["url"].as_str().unwrap(), &[]).await.status,
            StatusCode::NOT_FOUND
        );
        // Scripts get links the same way (SEND FILE, UPLOAD).
        let key = format!("users/{}/shared/report.csv", test_user("ann"));
        let link = app
            .state
            .objects
            .share_link(&key, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        assert!(get(&app, None, &link, &[]).await.status.is_success() || backend == Backend::S3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_cross_space_access_are_refused() {
    let app = app(Backend::Local).await;
    put(&app, "ann", "/api/drive/me/files/mine.txt", b"ann's").await;
    // Paths that try to leave the space, raw and percent-encoded.
    for path in [
        "/api/drive/me/files/../x",
        "/api/drive/me/files/a/../../x",
        "/api/drive/me/files/%2e%2e/x",
        "/api/drive/me/files/%2E%2E%2Fx",
        "/api/drive/me/files/..%5cx",
        "/api/drive/me/files/%2fetc%2fpasswd",
        "/api/drive/me/files//etc/passwd",
        "/api/drive/me/files/a%00b",
    ] {
        let r = get(&app, Some("ann"), path, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "GET {path}: {}", r.text());
        let w = put(&app, "ann", path, b"x").await;
        assert_eq!(w.status, StatusCode::BAD_REQUEST, "PUT {path}: {}", w.text());
    }
    for body in [
        json!({"from": "mine.txt", "to": "../../escape.txt"}),
        json!({"from": "../x", "to": "y"}),
        json!({"from": "mine.txt", "to": "/abs.txt"}),
    ] {
        let (s, _) = call(&app, "ann", Method::POST, "/api/drive/me/copy", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    }
    // Other spaces: a bot the user does not administer, the organization (read only),
    // an unknown space kind, and copying into a bot's space.
    assert_eq!(
        get(&app, Some("ann"), "/api/drive/bot:shop/files/x", &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&app, "ann", "/api/drive/org/files/x.txt", b"x").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&app, "admin", "/api/drive/org/files/x.txt", b"x")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        get(&app, Some("ann"), "/api/drive/org/files/x.txt", &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, Some("ann"), "/api/drive/user:x/files/x", &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, Some("admin"), "/api/drive/bot:nobody/files/x", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (s, _) = call(
        &app,
        "ann",
        Method::POST,
        "/api/drive/me/copy",
        json!({"from": "mine.txt", "to": "x", "to_space": "bot:shop"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &app,
        "shop-admin",
        Method::POST,
        "/api/drive/bot:shop/copy",
        json!({"from": "x", "to": "y", "to_space": "org"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a bot admin does not write the organization's files"
    );

    // A symlink planted in the local store is never followed.
    let ann_dir = app
        .state
        .config
        .drive_dir()
        .join(format!("users/{}", test_user("ann")));
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), ann_dir.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), ann_dir.join("file-link")).unwrap();
    for path in [
        "/api/drive/me/files/link/secret.txt",
        "/api/drive/me/files/file-link",
    ] {
        let r = get(&app, Some("ann"), path, &[]).await;
        assert!(
            matches!(r.status.as_u16(), 400 | 403 | 404),
            "{path}: {}",
            r.status
        );
        assert_ne!(r.body.as_ref(), b"secret");
        let w = put(&app, "ann", path, b"overwritten").await;
        assert!(
            matches!(w.status.as_u16(), 400 | 403 | 404),
            "{path}: {}",
            w.status
        );
    }
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).unwrap(),
        b"secret"
    );
}
