use axum::http::{Method, StatusCode};
use botserver_core::testing::{TestApp, TestResponse};
use botstate::Config;
use botstate::testing::TestDb;
use serde_json::{Value, json};

pub const ADMIN_PW: &str = "admin-pass-for-tests-1";
pub const USER_PW: &str = "user-pass-for-tests-1";

/// The auth domain on `db`, with a known administrator password and no per-IP login
/// limit (tests that check it turn it on).
pub async fn app_on(db: TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::build(db, &[&botserver_auth::MODULE], |c| {
        c.secrets.values.insert("admin-password".into(), ADMIN_PW.into());
        c.auth.login_per_ip_per_minute = 0;
        c.server.rate_limit.per_second = 0;
        adjust(c);
    })
    .await
}

/// The app on PostgreSQL when the tests have one (`.ci/run`'s second pass), else on
/// SQLite (its first pass): so every test here runs on both backends in CI.
pub async fn app() -> TestApp {
    app_on(backend(), |_| {}).await
}

/// PostgreSQL when configured, else SQLite.
pub fn backend() -> TestDb {
    TestDb::postgres().unwrap_or_else(TestDb::sqlite)
}

pub async fn login(app: &TestApp, username: &str, password: &str) -> TestResponse {
    app.json(
        Method::POST,
        "/api/auth/login",
        &json!({"username": username, "password": password}),
    )
    .await
}

/// Signs in and returns the token pair, asserting success.
pub async fn login_ok(app: &TestApp, username: &str, password: &str) -> Value {
    let r = login(app, username, password).await;
    assert_eq!(r.status, StatusCode::OK, "login {username}: {}", r.text());
    r.json()
}

pub async fn admin_token(app: &TestApp) -> String {
    login_ok(app, "admin", ADMIN_PW).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Creates a user with `roles` (in `org`, when given) and returns (id, access token).
pub async fn user(
    app: &TestApp,
    admin: &str,
    username: &str,
    roles: &[&str],
    org: Option<&str>,
) -> (String, String) {
    let mut body = json!({"username": username, "password": USER_PW, "roles": roles});
    if let Some(org) = org {
        body["org_id"] = json!(org);
    }
    let r = app.json_as(admin, Method::POST, "/api/admin/users", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let token = login_ok(app, username, USER_PW).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

/// Sends `method path` with an optional bearer token and an optional JSON body.
pub async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(axum::body::Body::from(b.to_string())),
        None => req.body(axum::body::Body::empty()),
    }
    .unwrap();
    app.send(req).await
}

/// A path of a rule with its placeholders filled.
pub fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000001")
        .replace("{*path}", "x")
}
