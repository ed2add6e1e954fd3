//! Anonymous chat visitors (`GET /api/auth?bot_name=`).

use crate::support::*;
use axum::http::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_gets_protocol_ids_and_a_token() {
    let app = app().await;
    let r = app.get("/api/auth?bot_name=Sales").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["bot_name"], "sales");
    assert_eq!(v["bot_id"], botlib::BotId::for_name("sales").to_string());
    assert_eq!(v["status"], "ok");
    for k in ["user_id", "session_id", "access_token"] {
        assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
    }
    let token = v["access_token"].as_str().unwrap();
    let me = app.get_as(token, "/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user"]["roles"], serde_json::json!(["anonymous"]));
    // A visitor is no user: user routes refuse them.
    assert_eq!(
        app.get_as(token, "/api/auth/keys").await.status,
        StatusCode::FORBIDDEN
    );

    // Resuming with the same ids keeps them.
    let again = app
        .get(&format!(
            "/api/auth?bot_name=sales&user_id={}&session_id={}",
            v["user_id"].as_str().unwrap(),
            v["session_id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(again["user_id"], v["user_id"]);
    assert_eq!(again["session_id"], v["session_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn visitors_are_bounded_per_address_and_bad_bot_names_refused() {
    let app = app_on(backend(), |c| c.auth.anonymous_per_ip_per_hour = 2).await;
    assert_eq!(app.get("/api/auth?bot_name=a").await.status, StatusCode::OK);
    assert_eq!(app.get("/api/auth?bot_name=a").await.status, StatusCode::OK);
    let r = app.get("/api/auth?bot_name=a").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(
        app.get("/api/auth?bot_name=../etc").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.get("/api/auth").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_who_signs_in_is_upgraded_and_other_domains_are_told() {
    let app = app().await;
    let admin = admin_token(&app).await;
    user(&app, &admin, "returning", &["user"], None).await;
    let visitor = app.get("/api/auth?bot_name=sales").await.json();
    let anon_token = visitor["access_token"].as_str().unwrap();
    let mut events = app
        .state
        .cache
        .subscribe(botserver_auth::service::USER_MERGED_CHANNEL)
        .await
        .unwrap();

    let r = app
        .json(
            axum::http::Method::POST,
            "/api/auth/login",
            &serde_json::json!({"username": "returning", "password": USER_PW, "anonymous_token": anon_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["upgraded_from"], visitor["user_id"]);
    let event = tokio::time::timeout(std::time::Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    let event: botserver_auth::service::UserMerged = serde_json::from_slice(&event).unwrap();
    assert_eq!(event.from, visitor["user_id"].as_str().unwrap());
    assert_eq!(event.to, r.json()["user"]["id"].as_str().unwrap());
    // The visitor's own token is retired.
    assert_eq!(
        app.get_as(anon_token, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    // A signed-in user's token cannot be "upgraded".
    let user_token = r.json()["access_token"].as_str().unwrap().to_string();
    let r = app
        .json(
            axum::http::Method::POST,
            "/api/auth/login",
            &serde_json::json!({"username": "returning", "password": USER_PW, "anonymous_token": user_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
