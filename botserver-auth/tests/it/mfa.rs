//! One-time codes (TOTP) as a second factor.

use crate::support::*;
use axum::http::{Method, StatusCode};
use botserver_auth::totp::{STEP_SECS, code_at};
use serde_json::json;

fn decode_base32(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        buffer = (buffer << 5) | alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn code(secret: &[u8], steps_ahead: i64) -> String {
    let step = (botserver_auth::tokens::now_secs() / STEP_SECS) as i64 + steps_ahead;
    format!("{:06}", code_at(secret, step as u64))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_factor_is_set_up_required_used_once_and_reset_by_an_admin() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (id, token) = user(&app, &admin, "careful", &["user"], None).await;

    let setup = app
        .json_as(&token, Method::POST, "/api/auth/mfa/totp/setup", &json!({}))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text());
    let secret = decode_base32(setup.json()["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    assert!(
        setup.json()["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/botserver:careful?secret=")
    );
    // Not required until enabled with a right code.
    login_ok(&app, "careful", USER_PW).await;
    // A stolen access token alone cannot turn codes on (that would lock the owner out).
    let no_password = app
        .json_as(
            &token,
            Method::POST,
            "/api/auth/mfa/totp/enable",
            &json!({"code": code(&secret, 0), "password": "not-my-password-1"}),
        )
        .await;
    assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
    let wrong = app
        .json_as(
            &token,
            Method::POST,
            "/api/auth/mfa/totp/enable",
            &json!({"code": "000000", "password": USER_PW}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = app
        .json_as(
            &token,
            Method::POST,
            "/api/auth/mfa/totp/enable",
            &json!({"code": code(&secret, 0), "password": USER_PW}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text());

    // Now the password alone says a code is needed; a wrong code is refused.
    let r = login(&app, "careful", USER_PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "mfa_required");
    let body = |otp: &str| json!({"username": "careful", "password": USER_PW, "otp": otp});
    let r = app.json(Method::POST, "/api/auth/login", &body("123456")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "unauthorized");
    // The wrong password never reveals that a code would be needed.
    let r = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({"username": "careful", "password": "not-the-pass-1"}),
        )
        .await;
    assert_eq!(r.json()["error"], "unauthorized");

    // The next step's code works once (the current one was used to enable).
    let next = code(&secret, 1);
    let r = app.json(Method::POST, "/api/auth/login", &body(&next)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let replay = app.json(Method::POST, "/api/auth/login", &body(&next)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a code worked twice");

    // Stored encrypted, never in the clear.
    let uid = id.clone();
    let row = app
        .state
        .db
        .run(move |c| botserver_auth::repo::get_totp(c, &uid))
        .await
        .unwrap()
        .unwrap();
    let stored = row.secret;
    assert!(stored.starts_with("v1:"));
    assert!(!stored.contains(setup.json()["secret"].as_str().unwrap()));

    // Lost the phone: an administrator's password reset clears the second factor.
    let r = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/admin/users/{id}/password"),
            &json!({"password": "back-in-again-7"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    login_ok(&app, "careful", "back-in-again-7").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_codes_off_needs_the_password() {
    let app = app().await;
    let admin = admin_token(&app).await;
    let (_, token) = user(&app, &admin, "switcher", &["user"], None).await;
    let setup = app
        .json_as(&token, Method::POST, "/api/auth/mfa/totp/setup", &json!({}))
        .await
        .json();
    let secret = decode_base32(setup["secret"].as_str().unwrap());
    app.json_as(
        &token,
        Method::POST,
        "/api/auth/mfa/totp/enable",
        &json!({"code": code(&secret, 0), "password": USER_PW}),
    )
    .await;
    let again = app
        .json_as(&token, Method::POST, "/api/auth/mfa/totp/setup", &json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let r = app
        .json_as(
            &token,
            Method::POST,
            "/api/auth/mfa/totp/disable",
            &json!({"password": "wrong-pass-123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .json_as(
            &token,
            Method::POST,
            "/api/auth/mfa/totp/disable",
            &json!({"password": USER_PW}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    login_ok(&app, "switcher", USER_PW).await;
}
