//! Refresh rotation, reuse detection, concurrent refreshes, and every way a session ends.

use crate::support::*;
use axum::http::{Method, StatusCode};
use botstate::testing::TestDb;
use serde_json::json;
use std::time::Duration;

async fn refresh(
    app: &botserver_core::testing::TestApp,
    token: &str,
) -> botserver_core::testing::TestResponse {
    app.json(
        Method::POST,
        "/api/auth/refresh",
        &json!({"refresh_token": token}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn login_answers_the_token_shape_and_me() {
    let app = app().await;
    let pair = login_ok(&app, "Admin", ADMIN_PW).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert!(pair["user"].get("password_hash").is_none());
    let me = app
        .get_as(pair["access_token"].as_str().unwrap(), "/api/auth/me")
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user"]["username"], "admin");
    assert_eq!(me.json()["user"]["roles"], json!(["admin"]));
    assert_eq!(me.json()["credential"], "session");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = app().await;
    let wrong = login(&app, "admin", "not-the-password").await;
    let unknown = login(&app, "nobody-here", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["message"], unknown.json()["message"]);
    assert_eq!(wrong.json()["error"], unknown.json()["error"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_the_old_token_stops_working() {
    for db in TestDb::all() {
        let app = app_on(db, |_| {}).await;
        let first = login_ok(&app, "admin", ADMIN_PW).await;
        let a = first["refresh_token"].as_str().unwrap();
        let r = refresh(&app, a).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let b = r.json()["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(a, b);
        assert_eq!(r.json()["session_id"], first["session_id"], "same session");
        // Within the grace period a reused token is refused without harming the session.
        assert_eq!(refresh(&app, a).await.status, StatusCode::UNAUTHORIZED);
        let c = refresh(&app, &b).await;
        assert_eq!(c.status, StatusCode::OK);
        assert_eq!(refresh(&app, "rt_unknown").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            refresh(&app, "eyJhbGciOi.not.refresh").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    for db in TestDb::all() {
        let app = app_on(db, |c| c.auth.refresh_reuse_grace_secs = 0).await;
        let first = login_ok(&app, "admin", ADMIN_PW).await;
        let stolen = first["refresh_token"].as_str().unwrap().to_string();
        let rotated = refresh(&app, &stolen).await.json();
        let live_refresh = rotated["refresh_token"].as_str().unwrap().to_string();
        let live_access = rotated["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            app.get_as(&live_access, "/api/auth/me").await.status,
            StatusCode::OK
        );

        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(refresh(&app, &stolen).await.status, StatusCode::UNAUTHORIZED);
        // The family is gone: the newest refresh token and the access tokens of the session.
        assert_eq!(
            refresh(&app, &live_refresh).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.get_as(&live_access, "/api/auth/me").await.status,
            StatusCode::UNAUTHORIZED
        );
        // Other sessions of the user are untouched.
        let other = login_ok(&app, "admin", ADMIN_PW).await;
        assert_eq!(
            app.get_as(other["access_token"].as_str().unwrap(), "/api/auth/me")
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_of_one_token_leave_exactly_one_live_token() {
    for db in TestDb::all() {
        let app = std::sync::Arc::new(app_on(db, |_| {}).await);
        let first = login_ok(&app, "admin", ADMIN_PW).await;
        let token = first["refresh_token"].as_str().unwrap().to_string();
        let session = first["session_id"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (app, token) = (app.clone(), token.clone());
            tasks.push(tokio::spawn(async move { refresh(&app, &token).await.status }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::OK => ok += 1,
                StatusCode::UNAUTHORIZED => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(ok, 1, "exactly one refresh wins");
        let now = botserver_auth::tokens::now_secs() as i64;
        let live = app
            .state
            .db
            .run(move |c| botserver_auth::repo::live_refresh_count(c, &session, now))
            .await
            .unwrap();
        assert_eq!(live, 1, "exactly one live refresh token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_at_once() {
    let app = app().await;
    let pair = login_ok(&app, "admin", ADMIN_PW).await;
    let access = pair["access_token"].as_str().unwrap();
    let r = app
        .json_as(access, Method::POST, "/api/auth/logout", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(access, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, pair["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_ends_the_other_sessions_only() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (_, here) = user(&app, &admin, "maria", &["user"], None).await;
    let elsewhere = login_ok(&app, "maria", USER_PW).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = app
        .json_as(
            &here,
            Method::POST,
            "/api/auth/password",
            &json!({"current_password": "wrong-one-123", "new_password": "a-new-long-pass-9"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let weak = app
        .json_as(
            &here,
            Method::POST,
            "/api/auth/password",
            &json!({"current_password": USER_PW, "new_password": "password123"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.json()["message"].as_str().unwrap().contains("common"));
    let r = app
        .json_as(
            &here,
            Method::POST,
            "/api/auth/password",
            &json!({"current_password": USER_PW, "new_password": "a-new-long-pass-9"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(app.get_as(&here, "/api/auth/me").await.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&elsewhere, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "maria", USER_PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    login_ok(&app, "maria", "a-new-long-pass-9").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_can_end_every_session_of_a_user_and_disable_them() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (id, token) = user(&app, &admin, "joao", &["user"], None).await;
    let r = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/admin/users/{id}/sessions/end"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["ended"], 1);
    assert_eq!(
        app.get_as(&token, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    let again = login_ok(&app, "joao", USER_PW).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/admin/users/{id}"),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&again, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "joao", USER_PW).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn my_sessions_are_listed_and_only_mine_can_be_ended() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (_, token) = user(&app, &admin, "ana", &["user"], None).await;
    let sessions = app.get_as(&token, "/api/auth/sessions").await.json();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let admin_sessions = app.get_as(&admin, "/api/auth/sessions").await.json();
    let admin_sid = admin_sessions[0]["id"].as_str().unwrap();
    let r = call(
        &app,
        Some(&token),
        Method::DELETE,
        &format!("/api/auth/sessions/{admin_sid}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&admin, "/api/auth/me").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn weaker_password_hashes_are_upgraded_at_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = app().await;
    let admin = admin_token(&app).await;
    let (id, _) = user(&app, &admin, "old-timer", &["user"], None).await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    );
    let phc = weak
        .hash_password(
            USER_PW.as_bytes(),
            &SaltString::encode_b64(b"saltsaltsaltsalt").unwrap(),
        )
        .unwrap()
        .to_string();
    let (uid, phc2) = (id.clone(), phc.clone());
    app.state
        .db
        .run(move |c| botserver_auth::repo::set_password_hash(c, &uid, &phc2, 0))
        .await
        .unwrap();
    login_ok(&app, "old-timer", USER_PW).await;
    let stored = app
        .state
        .db
        .run(move |c| botserver_auth::repo::user_by_id(c, &id))
        .await
        .unwrap()
        .password_hash
        .unwrap();
    assert_ne!(stored, phc);
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
}
