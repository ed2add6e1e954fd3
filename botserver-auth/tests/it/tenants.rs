//! Two organizations with the same shapes of data: nothing crosses the boundary.

use crate::support::*;
use axum::http::{Method, StatusCode};
use botserver_core::testing::TestApp;
use botstate::testing::TestDb;
use serde_json::json;

struct Tenant {
    admin: String,
    user_id: String,
    user_token: String,
    key_id: String,
    session_id: String,
}

async fn tenant(app: &TestApp, system_admin: &str, name: &str) -> Tenant {
    let org = app
        .json_as(
            system_admin,
            Method::POST,
            "/api/admin/orgs",
            &json!({"name": name}),
        )
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text());
    let org_id = org.json()["id"].as_str().unwrap().to_string();
    let (_, admin) = user(
        app,
        system_admin,
        &format!("{name}-admin"),
        &["admin"],
        Some(&org_id),
    )
    .await;
    let (user_id, user_token) = user(app, &admin, &format!("{name}-user"), &["user"], None).await;
    let key = app
        .json_as(&user_token, Method::POST, "/api/auth/keys", &json!({"name": "k"}))
        .await
        .json();
    let sessions = app.get_as(&user_token, "/api/auth/sessions").await.json();
    Tenant {
        admin,
        user_id,
        user_token,
        key_id: key["info"]["id"].as_str().unwrap().to_string(),
        session_id: sessions[0]["id"].as_str().unwrap().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_across_the_tenant_boundary_is_not_found() {
    for db in TestDb::all() {
        let app = app_on(db, |_| {}).await;
        let system = admin_token(&app).await;
        let a = tenant(&app, &system, "acme").await;
        let b = tenant(&app, &system, "globex").await;

        let across: Vec<(Method, String, Option<serde_json::Value>, &str)> = vec![
            (
                Method::GET,
                format!("/api/admin/users/{}", b.user_id),
                None,
                &a.admin,
            ),
            (
                Method::PATCH,
                format!("/api/admin/users/{}", b.user_id),
                Some(json!({"display_name": "pwned"})),
                &a.admin,
            ),
            (
                Method::DELETE,
                format!("/api/admin/users/{}", b.user_id),
                None,
                &a.admin,
            ),
            (
                Method::POST,
                format!("/api/admin/users/{}/password", b.user_id),
                Some(json!({"password": "taken-over-pass-1"})),
                &a.admin,
            ),
            (
                Method::POST,
                format!("/api/admin/users/{}/sessions/end", b.user_id),
                Some(json!({})),
                &a.admin,
            ),
            (
                Method::DELETE,
                format!("/api/admin/keys/{}", b.key_id),
                None,
                &a.admin,
            ),
            (
                Method::DELETE,
                format!("/api/auth/keys/{}", b.key_id),
                None,
                &a.user_token,
            ),
            (
                Method::DELETE,
                format!("/api/auth/sessions/{}", b.session_id),
                None,
                &a.user_token,
            ),
        ];
        for (method, path, body, token) in across {
            let r = call(&app, Some(token), method.clone(), &path, body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.text());
        }
        // Nothing of B changed.
        assert_eq!(
            app.get_as(&b.user_token, "/api/auth/me").await.json()["user"]["display_name"],
            "globex-user"
        );
        assert_eq!(
            app.get_as(&b.admin, &format!("/api/admin/users/{}", b.user_id))
                .await
                .status,
            StatusCode::OK
        );
        let keys = app.get_as(&b.admin, "/api/admin/keys").await.json();
        assert_eq!(keys[0]["revoked"], false);
        login_ok(&app, "globex-user", USER_PW).await;

        // Lists show only the caller's organization.
        let users = app.get_as(&a.admin, "/api/admin/users").await.json();
        let names: Vec<&str> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["acme-admin", "acme-user"]);
        let keys = app.get_as(&a.admin, "/api/admin/keys").await.json();
        assert_eq!(keys.as_array().unwrap().len(), 1);
        assert_ne!(keys[0]["id"], b.key_id.as_str());
        let orgs = app.get_as(&a.admin, "/api/admin/orgs").await.json();
        assert_eq!(orgs.as_array().unwrap().len(), 1);
        assert_eq!(orgs[0]["name"], "acme");
        // An organization admin cannot create organizations or users elsewhere.
        let r = app
            .json_as(
                &a.admin,
                Method::POST,
                "/api/admin/orgs",
                &json!({"name": "mine"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let b_org = app.get_as(&b.admin, "/api/admin/orgs").await.json()[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = app
            .json_as(
                &a.admin,
                Method::POST,
                "/api/admin/users",
                &json!({"username": "spy", "password": USER_PW, "org_id": b_org}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}
