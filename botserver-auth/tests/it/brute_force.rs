//! The per-account hourly budget of failed sign-ins and the per-IP limit.

use crate::support::*;
use axum::http::{Method, StatusCode};
use botstate::testing::TestDb;
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn parallel_failures_are_all_counted_and_the_101st_attempt_is_refused() {
    for db in TestDb::all() {
        let app = Arc::new(app_on(db, |_| {}).await);
        let admin = admin_token(&app).await;
        let (id, _) = user(&app, &admin, "target", &["user"], None).await;

        let mut tasks = Vec::new();
        for _ in 0..50 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                login(&app, "target", "wrong-guess-1234").await.status
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
        }
        let uid = id.clone();
        let counted = app
            .state
            .db
            .run(move |c| botserver_auth::repo::user_by_id(c, &uid))
            .await
            .unwrap()
            .failed_logins;
        assert_eq!(counted, 50, "parallel attempts bypassed the count");

        for _ in 0..50 {
            assert_eq!(
                login(&app, "target", "wrong-guess-1234").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // The 101st attempt this hour is refused even with the right password.
        let locked = login(&app, "target", USER_PW).await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.text());
        let retry: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 3600);

        // An administrator's reset is the way back in.
        let r = app
            .json_as(
                &admin,
                Method::POST,
                &format!("/api/admin/users/{id}/password"),
                &json!({"password": "fresh-start-pass-7"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        login_ok(&app, "target", "fresh-start-pass-7").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_accounts_lock_out_the_same_way() {
    let app = app_on(backend(), |c| c.auth.max_failed_logins_per_hour = 3).await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, "ghost", "wrong-guess-1234").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, "ghost", "wrong-guess-1234").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn successful_logins_do_not_use_up_the_budget() {
    let app = app_on(backend(), |c| c.auth.max_failed_logins_per_hour = 3).await;
    for _ in 0..6 {
        login_ok(&app, "admin", ADMIN_PW).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_is_limited_per_minute() {
    let app = app_on(backend(), |c| c.auth.login_per_ip_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, "admin", "nope-nope-nope").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = login(&app, "admin", ADMIN_PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("retry-after").is_some());
    // Another address is not affected.
    let other: std::net::SocketAddr = "203.0.113.77:4000".parse().unwrap();
    let req = axum::http::Request::post("/api/auth/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"username": "admin", "password": ADMIN_PW}).to_string(),
        ))
        .unwrap();
    assert_eq!(app.send_from(other, req).await.status, StatusCode::OK);
}
