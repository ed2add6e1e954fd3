//! Every kind of bad access token is refused on every protected route.

use crate::support::*;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use botserver_auth::tokens::{Claims, now_secs};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

fn sign(key: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_rejected_on_every_protected_route() {
    let app = app().await;
    let pair = login_ok(&app, "admin", ADMIN_PW).await;
    let good = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let key = app
        .state
        .secrets
        .get("auth-jwt-signing-key")
        .await
        .unwrap()
        .unwrap();
    let key = key.expose().as_bytes().to_vec();

    // The genuine claims, so that each bad token differs from a good one in one way only.
    let payload = good.split('.').nth(1).unwrap();
    let genuine: Claims = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    assert_eq!(genuine.iss, "botserver");
    let now = now_secs();
    let with = |f: &dyn Fn(&mut Claims)| {
        let mut c = genuine.clone();
        f(&mut c);
        c
    };

    let alg_none = {
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{payload}.")
    };
    let tampered = {
        let mut c = genuine.clone();
        c.roles = vec!["admin".into(), "bot-admin".into()];
        c.sub = "00000000-0000-4000-8000-000000000009".into();
        let parts: Vec<&str> = good.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        )
    };
    let bad: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        (
            "wrong key",
            sign(b"an-entirely-different-signing-key-123", &genuine),
        ),
        (
            "expired",
            sign(
                &key,
                &with(&|c| {
                    c.iat = now - 4000;
                    c.nbf = now - 4000;
                    c.exp = now - 60
                }),
            ),
        ),
        (
            "not yet valid",
            sign(
                &key,
                &with(&|c| {
                    c.nbf = now + 600;
                    c.exp = now + 1200
                }),
            ),
        ),
        (
            "wrong audience",
            sign(&key, &with(&|c| c.aud = "someone-else".into())),
        ),
        ("wrong issuer", sign(&key, &with(&|c| c.iss = "evil".into()))),
        ("wrong typ", sign(&key, &with(&|c| c.typ = "refresh".into()))),
        (
            "unknown session",
            sign(
                &key,
                &with(&|c| c.sid = "00000000-0000-4000-8000-000000000002".into()),
            ),
        ),
        ("refresh token as access token", refresh.clone()),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".into()),
    ];

    let protected: Vec<_> = app
        .rules
        .iter()
        .filter(|r| r.access.to_string() != "public")
        .cloned()
        .collect();
    assert!(protected.len() >= 15, "only {} protected routes", protected.len());
    for rule in &protected {
        let method: Method = rule.method.parse().unwrap();
        let path = concrete(&rule.path);
        for (what, token) in &bad {
            let r = call(&app, Some(token), method.clone(), &path, Some(json!({}))).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{what} on {} {}: {}",
                rule.method,
                rule.path,
                r.text()
            );
            assert_eq!(r.json()["error"], "unauthorized");
        }
    }
    // The genuine token still works (the suite above did not break the session).
    assert_eq!(app.get_as(&good, "/api/auth/me").await.status, StatusCode::OK);
}
