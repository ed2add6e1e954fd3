use crate::process::Server;
use std::time::Duration;

fn check_endpoints(server: &Server, database: &str, cache: &str) {
    let (status, body) = server.get("/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = server.get("/ready");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["database"]["backend"], database);
    assert_eq!(ready["cache"]["backend"], cache);
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("botserver_http_requests_total"), "{body}");
    let (status, body) = server.get("/api/openapi.json");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["paths"]["/health"].is_object());
}

#[test]
fn starts_on_embedded_defaults_and_stops_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    check_endpoints(&server, "sqlite", "memory");
    // The data directory and its database were created in the working directory.
    assert!(dir.path().join("botserver-data/botserver.db").exists());
    assert!(dir.path().join("botserver-data/master.key").exists());
    // The first start creates an administrator and shows its password once.
    assert!(
        server
            .stdout
            .contains("created administrator `admin` with password"),
        "{}",
        server.stdout
    );
    server.signal("-INT");
    let status = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    assert!(
        server.stderr().contains("shutdown complete"),
        "{}",
        server.stderr()
    );
}

#[test]
fn restarts_on_the_same_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path(), &[]);
    first.signal("-TERM");
    assert!(first.wait(Duration::from_secs(10)).success());
    let key = std::fs::read(dir.path().join("botserver-data/master.key")).unwrap();
    let mut second = Server::start(dir.path(), &[]);
    assert!(
        !second.stdout.contains("created administrator"),
        "admin created twice"
    );
    assert_eq!(second.get("/ready").0, 200);
    second.signal("-TERM");
    assert!(second.wait(Duration::from_secs(10)).success());
    assert_eq!(
        std::fs::read(dir.path().join("botserver-data/master.key")).unwrap(),
        key,
        "key regenerated"
    );
}

#[test]
fn runs_on_postgres_and_redis_and_stops_cleanly_on_sigterm() {
    let Some(db) = botstate::testing::TestDb::postgres() else {
        return;
    };
    let Some(redis) = botstate::testing::service_url("BOT_TEST_REDIS_URL") else {
        return;
    };
    let botstate::DatabaseTarget::Postgres(url) = db.target.clone() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", url.clone()),
            ("REDIS_URL", redis),
            (
                "BOTSERVER_CACHE__KEY_PREFIX",
                format!("test:{}:", uuid::Uuid::new_v4().simple()),
            ),
        ],
    );
    check_endpoints(&server, "postgres", "redis");
    // The migrations ran on PostgreSQL.
    use diesel::prelude::*;
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result(&mut conn)
        .unwrap();
    assert!(n.n >= 1);
    drop(conn);
    server.signal("-TERM");
    let status = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", server.stderr());
}

#[test]
fn the_first_administrator_can_sign_in_over_the_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[("BOTSERVER_SECRET_ADMIN_PASSWORD", "first-admin-pass-1".into())],
    );
    let (status, body) = crate::process::http_post_json(
        server.addr,
        "/api/auth/login",
        r#"{"username":"admin","password":"first-admin-pass-1"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["access_token"].as_str().unwrap().len() > 40);
    let (status, _) = crate::process::http_post_json(
        server.addr,
        "/api/auth/login",
        r#"{"username":"admin","password":"wrong-password-9"}"#,
    );
    assert_eq!(status, 401);
}

#[test]
fn json_logs_are_one_object_per_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            ("BOTSERVER_LOG_FORMAT", "json".into()),
            ("BOTSERVER_SECRET_ADMIN_PASSWORD", "json-log-admin-pass-1".into()),
        ],
    );
    let (status, _) = crate::process::http_post_json(
        server.addr,
        "/api/auth/login",
        r#"{"username":"admin","password":"json-log-admin-pass-1"}"#,
    );
    assert_eq!(status, 200);
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let stderr = server.stderr();
    let mut lines = 0;
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
        lines += 1;
    }
    assert!(lines >= 3, "{stderr}");
    assert!(
        stderr.contains("\"request_id\""),
        "requests are logged with their id: {stderr}"
    );
    assert!(
        !stderr.contains("json-log-admin-pass-1"),
        "a password reached the logs"
    );
    assert!(!stderr.contains("access_token"), "a token reached the logs");
}
