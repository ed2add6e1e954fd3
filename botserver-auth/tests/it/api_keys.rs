//! API keys: shown once, stored hashed, scoped, expiring, revocable, last use recorded.

use crate::support::*;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_shown_once_works_and_is_revocable() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (_, user_token) = user(&app, &admin, "integrator", &["user"], None).await;
    let r = app
        .json_as(
            &user_token,
            Method::POST,
            "/api/auth/keys",
            &json!({"name": "crm sync"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    let id = r.json()["info"]["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("bk_"));
    assert_eq!(r.json()["info"]["roles"], json!(["user"]));

    // Listing never shows the secret again.
    let list = app.get_as(&user_token, "/api/auth/keys").await;
    assert!(!list.text().contains(&key));
    assert_eq!(list.json()[0]["prefix"], key[..10]);
    assert!(list.json()[0]["last_used_at"].is_null());

    // It works as a bearer token and as X-API-Key, and its use is recorded.
    let me = app.get_as(&key, "/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["credential"], "api_key");
    let req = axum::http::Request::get("/api/auth/me")
        .header("x-api-key", &key)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::OK);
    let list = app.get_as(&user_token, "/api/auth/keys").await;
    assert!(list.json()[0]["last_used_at"].is_i64());

    // Stored hashed only.
    let stored = app
        .state
        .db
        .run(|c| botserver_auth::repo::list_keys(c, "", None))
        .await
        .unwrap();
    assert!(stored.is_empty(), "org filter");
    let hash = botserver_auth::tokens::hash_secret(&key);
    let row = app
        .state
        .db
        .run(move |c| botserver_auth::repo::key_by_hash(c, &hash))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.key_hash, key);

    let r = call(
        &app,
        Some(&user_token),
        Method::DELETE,
        &format!("/api/auth/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(&key, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_cannot_exceed_its_creator() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (_, user_token) = user(&app, &admin, "limited", &["user"], None).await;
    let r = app
        .json_as(
            &user_token,
            Method::POST,
            "/api/auth/keys",
            &json!({"name": "escalate", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A key cannot mint keys.
    let key = app
        .json_as(&user_token, Method::POST, "/api/auth/keys", &json!({"name": "k"}))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .json_as(&key, Method::POST, "/api/auth/keys", &json!({"name": "child"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_key_narrowed_to_user_cannot_reach_admin_routes() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let r = app
        .json_as(
            &admin,
            Method::POST,
            "/api/auth/keys",
            &json!({"name": "read", "roles": ["user"], "bots": ["sales"]}),
        )
        .await;
    let key = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(app.get_as(&key, "/api/auth/me").await.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&key, "/api/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(r.json()["info"]["bots"], json!(["sales"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn demoting_the_user_narrows_their_keys() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (id, token) = user(&app, &admin, "ops", &["admin"], None).await;
    let key = app
        .json_as(&token, Method::POST, "/api/auth/keys", &json!({"name": "ops"}))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get_as(&key, "/api/admin/users").await.status, StatusCode::OK);
    app.json_as(
        &admin,
        Method::PATCH,
        &format!("/api/admin/users/{id}"),
        &json!({"roles": ["user"]}),
    )
    .await;
    assert_eq!(
        app.get_as(&key, "/api/admin/users").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_keys_stop_working() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let r = app
        .json_as(
            &admin,
            Method::POST,
            "/api/auth/keys",
            &json!({"name": "short", "expires_in_days": 1}),
        )
        .await;
    let key = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(app.get_as(&key, "/api/auth/me").await.status, StatusCode::OK);
    let hash = botserver_auth::tokens::hash_secret(&key);
    app.state
        .db
        .run(move |c| {
            use botserver_auth::schema::api_keys;
            use diesel::prelude::*;
            diesel::update(api_keys::table.filter(api_keys::key_hash.eq(hash)))
                .set(api_keys::expires_at.eq(Some(1i64)))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        app.get_as(&key, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}
