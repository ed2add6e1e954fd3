//! Sign-in through a real OpenID provider (npm `oidc-provider`, started by `.ci/services`),
//! driven as a browser would: authorize, log in, consent, come back with a code.

use crate::support::*;
use axum::http::StatusCode;
use botserver_core::testing::TestApp;
use botstate::testing::{TestDb, service_url};
use std::collections::BTreeMap;

/// A browser: follows nothing by itself, keeps cookies by name.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// GET or POST a form; returns (status, Location, body).
    async fn go(&mut self, url: &str, form: Option<&[(&str, &str)]>) -> (u16, Option<String>, String) {
        let req = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        let resp = req.header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (status, location, resp.text().await.unwrap())
    }
}

fn absolute(issuer: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{issuer}{location}")
    }
}

/// Runs the whole browser dance for `login` and returns the callback path (with code and
/// state) the provider sent the browser back to.
async fn sign_in_at_provider(app: &TestApp, issuer: &str, login: &str) -> String {
    let start = app.get("/api/auth/oidc/login").await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.text());
    let mut url = start.headers["location"].to_str().unwrap().to_string();
    assert!(url.starts_with(issuer), "{url}");
    assert!(url.contains("code_challenge_method=S256") && url.contains("nonce=") && url.contains("state="));

    let mut browser = Browser::new();
    for _ in 0..10 {
        let (status, location, body) = browser.go(&url, None).await;
        match (status, location) {
            (300..=399, Some(loc)) if loc.contains("/api/auth/oidc/callback") => {
                return loc
                    .split_once("/api/auth/oidc/callback")
                    .map(|(_, q)| format!("/api/auth/oidc/callback{q}"))
                    .unwrap();
            }
            (300..=399, Some(loc)) => url = absolute(issuer, &loc),
            (200, _) if body.contains(r#"name="prompt" value="login""#) => {
                let (s, loc, _) = browser
                    .go(
                        &url,
                        Some(&[("prompt", "login"), ("login", login), ("password", "any")]),
                    )
                    .await;
                assert!((300..400).contains(&s), "login form answered {s}");
                url = absolute(issuer, &loc.unwrap());
            }
            (200, _) if body.contains(r#"name="prompt" value="consent""#) => {
                let (s, loc, _) = browser.go(&url, Some(&[("prompt", "consent")])).await;
                assert!((300..400).contains(&s), "consent form answered {s}");
                url = absolute(issuer, &loc.unwrap());
            }
            (s, _) => panic!(
                "unexpected answer {s} from {url}: {}",
                &body[..body.len().min(500)]
            ),
        }
    }
    panic!("the provider never sent the browser back");
}

async fn app_with_provider(db: TestDb) -> Option<(TestApp, String)> {
    let issuer = service_url("BOT_TEST_OIDC_ISSUER")?;
    let redirect = service_url("BOT_TEST_OIDC_REDIRECT")?;
    let cfg_issuer = issuer.clone();
    let app = app_on(db, move |c| {
        c.secrets
            .values
            .insert("oidc-client-secret".into(), "botserver-test-secret".into());
        c.auth.oidc = Some(botstate::config::OidcConfig {
            issuer_url: cfg_issuer,
            client_id: "botserver".into(),
            redirect_url: redirect,
            scopes: vec!["openid".into(), "email".into(), "profile".into(), "roles".into()],
            roles_claim: "roles".into(),
            default_role: "user".into(),
            org_id: None,
            allow_http: true,
        });
    })
    .await;
    Some((app, issuer))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_through_the_provider_and_gets_mapped_roles() {
    for db in TestDb::all() {
        let Some((app, issuer)) = app_with_provider(db).await else {
            return;
        };
        let callback = sign_in_at_provider(&app, &issuer, "admin-carla").await;
        let r = app.get(&callback).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let pair = r.json();
        assert_eq!(pair["user"]["username"], "admin-carla");
        assert_eq!(pair["user"]["email"], "admin-carla@example.test");
        assert_eq!(pair["user"]["roles"], serde_json::json!(["admin"]));
        let token = pair["access_token"].as_str().unwrap();
        assert_eq!(app.get_as(token, "/api/admin/users").await.status, StatusCode::OK);

        // The code and state are single-use.
        assert_eq!(app.get(&callback).await.status, StatusCode::BAD_REQUEST);

        // Signing in again links to the same user; a plain user gets the user role.
        let again = app
            .get(&sign_in_at_provider(&app, &issuer, "admin-carla").await)
            .await
            .json();
        assert_eq!(again["user"]["id"], pair["user"]["id"]);
        let plain = app
            .get(&sign_in_at_provider(&app, &issuer, "dave").await)
            .await
            .json();
        assert_eq!(plain["user"]["roles"], serde_json::json!(["user"]));
        assert_eq!(
            app.get_as(plain["access_token"].as_str().unwrap(), "/api/admin/users")
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_account_never_takes_over_a_local_one() {
    let Some((app, issuer)) = app_with_provider(backend()).await else {
        return;
    };
    // A local "admin" exists; the provider's "admin" must become someone else.
    let pair = app
        .get(&sign_in_at_provider(&app, &issuer, "admin").await)
        .await
        .json();
    assert_ne!(pair["user"]["username"], "admin");
    assert!(pair["user"]["username"].as_str().unwrap().starts_with("oidc-"));
    login_ok(&app, "admin", ADMIN_PW).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_or_stale_callbacks_are_refused() {
    let Some((app, issuer)) = app_with_provider(backend()).await else {
        return;
    };
    let callback = sign_in_at_provider(&app, &issuer, "erin").await;
    let forged_state = callback.replace("state=", "state=x");
    assert_eq!(app.get(&forged_state).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/api/auth/oidc/callback?error=access_denied")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // A bad code with a valid state: the provider refuses the exchange.
    let fresh = sign_in_at_provider(&app, &issuer, "erin").await;
    let (before, after) = fresh.split_once("code=").unwrap();
    let rest = after
        .split_once('&')
        .map(|(_, r)| format!("&{r}"))
        .unwrap_or_default();
    let r = app.get(&format!("{before}code=not-a-real-code{rest}")).await;
    assert!(
        r.status.is_client_error() || r.status == StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        r.status
    );
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_provider_oidc_is_not_configured() {
    let app = app().await;
    let r = app.get("/api/auth/oidc/login").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.json()["error"], "not_configured");
}
