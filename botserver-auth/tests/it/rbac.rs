//! Every route, with the role it requires, checked against callers of each role.

use crate::support::*;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_route_enforces_its_declared_role() {
    let app = app_on(backend(), |c| c.auth.anonymous_per_ip_per_hour = 0).await;
    let admin = admin_token(&app).await;
    user(&app, &admin, "plain-user", &["user"], None).await;

    let mut table = String::from("\nroute table (method path: access)\n");
    for rule in &app.rules {
        table.push_str(&format!("  {} {}: {}\n", rule.method, rule.path, rule.access));
        let method: Method = rule.method.parse().unwrap();
        let path = concrete(&rule.path);
        let anonymous_call = call(&app, None, method.clone(), &path, Some(json!({})))
            .await
            .status;
        match rule.access.to_string().as_str() {
            "public" => assert_ne!(
                anonymous_call,
                StatusCode::UNAUTHORIZED,
                "{} {}",
                rule.method,
                rule.path
            ),
            role => {
                assert_eq!(
                    anonymous_call,
                    StatusCode::UNAUTHORIZED,
                    "{} {} without credentials",
                    rule.method,
                    rule.path
                );
                // Fresh tokens per route: some routes (sign-out) end the caller's session.
                let visitor = app.get("/api/auth?bot_name=sales").await.json()["access_token"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let user = login_ok(&app, "plain-user", USER_PW).await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let as_visitor = call(&app, Some(&visitor), method.clone(), &path, Some(json!({})))
                    .await
                    .status;
                let as_user = call(&app, Some(&user), method.clone(), &path, Some(json!({})))
                    .await
                    .status;
                match role {
                    "anonymous" => {
                        assert_ne!(as_visitor, StatusCode::FORBIDDEN, "{} {}", rule.method, rule.path)
                    }
                    "user" => {
                        assert_eq!(
                            as_visitor,
                            StatusCode::FORBIDDEN,
                            "{} {} as visitor",
                            rule.method,
                            rule.path
                        );
                        assert_ne!(
                            as_user,
                            StatusCode::FORBIDDEN,
                            "{} {} as user",
                            rule.method,
                            rule.path
                        );
                    }
                    "admin" | "bot-admin" => {
                        assert_eq!(
                            as_visitor,
                            StatusCode::FORBIDDEN,
                            "{} {} as visitor",
                            rule.method,
                            rule.path
                        );
                        assert_eq!(
                            as_user,
                            StatusCode::FORBIDDEN,
                            "{} {} as user",
                            rule.method,
                            rule.path
                        );
                    }
                    other => panic!("unknown access {other}"),
                }
            }
        }
    }
    println!("{table}");
    assert!(
        app.rules
            .iter()
            .any(|r| r.path == "/api/admin/users" && r.access.to_string() == "admin")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_documents_the_auth_routes_with_bearer_security() {
    let app = app().await;
    let doc = app.get("/api/openapi.json").await.json();
    for path in [
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/admin/users/{id}",
        "/api/auth/keys",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
