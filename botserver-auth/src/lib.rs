//! Accounts, organizations (tenants), passwords, sign-in sessions, access and refresh
//! tokens, API keys and roles.
//!
//! It owns the auth tables and implements botstate's `Authenticator`, which the core's
//! per-route access check calls; other domains see only the resulting `Principal` and
//! never read these tables. Passwords are Argon2id; access tokens are short-lived HS256
//! JWTs signed with a key from the secret manager; refresh tokens and API keys are random
//! and stored only as hashes.

pub mod cli;
pub mod handlers;
pub mod oidc;
pub mod password;
pub mod repo;
pub mod schema;
pub mod service;
pub mod tokens;
pub mod totp;

use async_trait::async_trait;
use botlib::AppResult;
use botserver_core::{InstallFuture, Module, Routes};
use botstate::auth::{Access, Authenticator, Principal, Role};
use botstate::{AppState, MigrationSet};
use std::sync::Arc;
use utoipa::OpenApi;

pub use service::AuthService;

/// The auth domain's tables.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "auth",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The auth domain as the server sees it.
pub const MODULE: Module = Module {
    name: "auth",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi,
    install: Some(install),
    start: None,
};

#[async_trait]
impl Authenticator for AuthService {
    async fn authenticate(&self, bearer: &str) -> AppResult<Principal> {
        self.principal(bearer).await
    }

    async fn visitor(&self, user_id: &str, session_id: &str) -> AppResult<Principal> {
        self.visitor_principal(user_id, session_id).await
    }
}

fn install(state: &mut AppState) -> InstallFuture<'_> {
    Box::pin(async move {
        let service = Arc::new(AuthService::open(state).await?);
        if let Some((username, generated)) = service
            .bootstrap(state.secrets.as_ref())
            .await
            .map_err(|e| e.to_string())?
        {
            botserver_core::announce(&match generated {
                // Shown once, on the console of the first start, never logged.
                Some(password) => format!(
                    "botserver: created administrator `{username}` with password {password} (shown once; change it)"
                ),
                None => format!(
                    "botserver: created administrator `{username}` with the configured admin-password"
                ),
            });
        }
        state.auth = service.clone();
        state.extensions.insert(service);
        Ok(())
    })
}

/// The auth routes. Panics if `install` did not run (a wiring bug, found at start-up).
pub fn create_router(state: Arc<AppState>) -> Routes {
    use handlers::*;
    let svc = state
        .extensions
        .get::<AuthService>()
        .expect("botserver-auth: MODULE.install must run before its router is built");
    let user = Access::Role(Role::User);
    let any = Access::Role(Role::Anonymous);
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/api/auth", Access::Public, anonymous)
        .post("/api/auth/login", Access::Public, login)
        .post("/api/auth/refresh", Access::Public, refresh)
        .get("/api/auth/oidc/login", Access::Public, oidc_login)
        .get("/api/auth/oidc/callback", Access::Public, oidc_callback)
        .post("/api/auth/logout", any, logout)
        .get("/api/auth/me", any, me)
        .post("/api/auth/password", user, change_password)
        .post("/api/auth/mfa/totp/setup", user, totp_setup)
        .post("/api/auth/mfa/totp/enable", user, totp_enable)
        .post("/api/auth/mfa/totp/disable", user, totp_disable)
        .get("/api/auth/sessions", any, my_sessions)
        .delete("/api/auth/sessions/{id}", any, end_my_session)
        .get("/api/auth/keys", user, my_keys)
        .post("/api/auth/keys", user, create_key)
        .delete("/api/auth/keys/{id}", user, revoke_my_key)
        .get("/api/admin/users", admin, list_users)
        .post("/api/admin/users", admin, create_user)
        .get("/api/admin/users/{id}", admin, get_user)
        .patch("/api/admin/users/{id}", admin, update_user)
        .delete("/api/admin/users/{id}", admin, delete_user)
        .post("/api/admin/users/{id}/password", admin, reset_password)
        .post("/api/admin/users/{id}/sessions/end", admin, end_user_sessions)
        .get("/api/admin/orgs", admin, list_orgs)
        .post("/api/admin/orgs", admin, create_org)
        .get("/api/admin/keys", admin, org_keys)
        .delete("/api/admin/keys/{id}", admin, revoke_org_key)
        .get("/api/admin/roles", admin, roles)
        .with_state(svc)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::anonymous, handlers::login, handlers::refresh, handlers::oidc_login, handlers::oidc_callback, handlers::totp_setup, handlers::totp_enable, handlers::totp_disable, handlers::logout, handlers::me,
        handlers::change_password, handlers::my_sessions, handlers::end_my_session, handlers::my_keys,
        handlers::create_key, handlers::revoke_my_key, handlers::list_users, handlers::create_user,
        handlers::get_user, handlers::update_user, handlers::delete_user, handlers::reset_password,
        handlers::end_user_sessions, handlers::list_orgs, handlers::create_org, handlers::org_keys,
        handlers::revoke_org_key, handlers::roles
    ),
    modifiers(&BearerAuth)
)]
struct AuthApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key")
                    .build(),
            ),
        );
    }
}

fn openapi() -> utoipa::openapi::OpenApi {
    AuthApi::openapi()
}
