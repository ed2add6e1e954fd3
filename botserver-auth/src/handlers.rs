//! HTTP handlers: extract, check, call the service, respond.

use crate::repo::{OrgRow, SessionRow};
use crate::service::{
    ApiKeyInfo, AuthService, KeyRequest, NewApiKey, NewUser, TokenPair, User, UserPatch, path_id,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use botlib::BotId;
use botlib::protocol::AuthResponse;
use botserver_core::{ApiResult, AppJson, Caller, ClientIp};
use botstate::auth::Role;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type S = State<Arc<AuthService>>;

fn ip(client: Option<axum::Extension<ClientIp>>) -> String {
    client.map_or_else(|| "unknown".into(), |c| c.0.0.to_string())
}

/// Sign-in request.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// An anonymous visitor's access token: its conversation moves to the signed-in user.
    #[serde(default)]
    pub anonymous_token: Option<String>,
    /// The one-time code, for accounts that have them on (else 401 `mfa_required`).
    #[serde(default)]
    pub otp: Option<String>,
}

/// Sign in with a username and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "Invalid username or password"),
              (status = 429, description = "Too many attempts; see Retry-After")))]
pub async fn login(
    State(svc): S,
    client: Option<axum::Extension<ClientIp>>,
    AppJson(req): AppJson<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    let ip = ip(client);
    let otp = req.otp.as_deref();
    Ok(Json(match &req.anonymous_token {
        Some(anon) => {
            svc.login_upgrading(&req.username, &req.password, otp, &ip, anon)
                .await?
        }
        None => {
            svc.login_with_code(&req.username, &req.password, otp, &ip)
                .await?
        }
    }))
}

/// Refresh request.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Trade a refresh token for new tokens (the old one stops working).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "Unknown, used, expired or revoked")))]
pub async fn refresh(State(svc): S, AppJson(req): AppJson<RefreshRequest>) -> ApiResult<Json<TokenPair>> {
    Ok(Json(svc.refresh(&req.refresh_token).await?))
}

/// End the current sign-in session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(State(svc): S, Caller(p): Caller) -> ApiResult<StatusCode> {
    svc.logout(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// How the caller authenticated: `session` or `api_key`.
    pub credential: String,
}

/// Who am I.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Me)))]
pub async fn me(State(svc): S, Caller(p): Caller) -> ApiResult<Json<Me>> {
    let user = svc.get_user(&p, &p.user.to_string()).await?;
    let credential = match p.credential {
        botstate::auth::Credential::Session { .. } => "session",
        botstate::auth::Credential::ApiKey { .. } => "api_key",
    };
    Ok(Json(Me {
        user,
        credential: credential.into(),
    }))
}

/// Password change request.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change my password; my other sessions end.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204, description = "Changed")))]
pub async fn change_password(
    State(svc): S,
    Caller(p): Caller,
    AppJson(req): AppJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    svc.change_password(&p, &req.current_password, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A sign-in session.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<&SessionRow> for SessionInfo {
    fn from(s: &SessionRow) -> Self {
        SessionInfo {
            id: s.id.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

/// My live sign-in sessions.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth", security(("bearer" = [])), responses((status = 200, body = [SessionInfo])))]
pub async fn my_sessions(State(svc): S, Caller(p): Caller) -> ApiResult<Json<Vec<SessionInfo>>> {
    Ok(Json(
        svc.sessions(&p).await?.iter().map(SessionInfo::from).collect(),
    ))
}

/// End one of my sessions.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Ended"), (status = 404, description = "Not one of mine")))]
pub async fn end_my_session(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    svc.end_session(&p, &path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an API key (shown once).
#[utoipa::path(post, path = "/api/auth/keys", tag = "auth", security(("bearer" = [])), request_body = KeyRequest,
    responses((status = 201, body = NewApiKey)))]
pub async fn create_key(
    State(svc): S,
    Caller(p): Caller,
    AppJson(req): AppJson<KeyRequest>,
) -> ApiResult<(StatusCode, Json<NewApiKey>)> {
    Ok((StatusCode::CREATED, Json(svc.create_key(&p, req).await?)))
}

/// My API keys.
#[utoipa::path(get, path = "/api/auth/keys", tag = "auth", security(("bearer" = [])), responses((status = 200, body = [ApiKeyInfo])))]
pub async fn my_keys(State(svc): S, Caller(p): Caller) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(svc.list_keys(&p, false).await?))
}

/// Revoke one of my API keys.
#[utoipa::path(delete, path = "/api/auth/keys/{id}", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "Revoked")))]
pub async fn revoke_my_key(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    svc.revoke_key(&p, &path_id(&id)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/auth` query.
#[derive(Deserialize, IntoParams)]
pub struct AnonymousQuery {
    /// The bot to chat with.
    pub bot_name: String,
    /// Resume: the user id given before.
    pub user_id: Option<String>,
    /// Resume: the session id given before.
    pub session_id: Option<String>,
}

/// The chat protocol's session answer, plus the tokens of the anonymous visitor.
#[derive(Serialize, ToSchema)]
pub struct AnonymousSession {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub session: AuthResponse,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Open (or resume) an anonymous chat session (General Bots compatible).
#[utoipa::path(get, path = "/api/auth", tag = "auth", params(AnonymousQuery),
    responses((status = 200, body = AnonymousSession), (status = 429, description = "Too many sessions from this address")))]
pub async fn anonymous(
    State(svc): S,
    client: Option<axum::Extension<ClientIp>>,
    Query(q): Query<AnonymousQuery>,
) -> ApiResult<Json<AnonymousSession>> {
    let bot = q.bot_name.trim().to_lowercase();
    let resume = q.user_id.zip(q.session_id);
    let (user, pair) = svc.anonymous(&bot, &ip(client), resume).await?;
    Ok(Json(AnonymousSession {
        session: AuthResponse {
            user_id: user.id,
            session_id: pair.session_id.clone(),
            bot_id: BotId::for_name(&bot).to_string(),
            bot_name: bot,
            status: "ok".into(),
        },
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
    }))
}

/// Start signing in with the configured OpenID provider (redirects there).
#[utoipa::path(get, path = "/api/auth/oidc/login", tag = "auth",
    responses((status = 302, description = "To the provider"), (status = 501, description = "No provider configured")))]
pub async fn oidc_login(State(svc): S) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let url = svc.oidc_begin().await?;
    Ok((StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response())
}

/// Where the provider sends the browser back.
#[derive(Deserialize, IntoParams)]
pub struct OidcCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user refused or something failed.
    pub error: Option<String>,
}

/// Finish an OpenID sign-in: answers the token pair.
#[utoipa::path(get, path = "/api/auth/oidc/callback", tag = "auth", params(OidcCallback),
    responses((status = 200, body = TokenPair), (status = 400, description = "Unknown or expired sign-in"),
              (status = 401, description = "The provider's answer did not check out")))]
pub async fn oidc_callback(State(svc): S, Query(q): Query<OidcCallback>) -> ApiResult<Json<TokenPair>> {
    if let Some(error) = q.error {
        return Err(botlib::AppError::bad_request(format!("the sign-in provider answered: {error}")).into());
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(botlib::AppError::bad_request("code and state are required").into());
    };
    Ok(Json(svc.oidc_finish(&code, &state).await?))
}

/// A new one-time-code secret, for an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32, to type in.
    pub secret: String,
    /// `otpauth://` URI, to show as a QR code.
    pub otpauth_uri: String,
}

/// Start setting up one-time codes (not required until enabled).
#[utoipa::path(post, path = "/api/auth/mfa/totp/setup", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpSetup), (status = 409, description = "Already on")))]
pub async fn totp_setup(State(svc): S, Caller(p): Caller) -> ApiResult<Json<TotpSetup>> {
    let (secret, otpauth_uri) = svc.totp_setup(&p).await?;
    Ok(Json(TotpSetup { secret, otpauth_uri }))
}

/// A current one-time code.
#[derive(Deserialize, ToSchema)]
pub struct TotpCode {
    pub code: String,
    /// The account password, confirming the change.
    pub password: String,
}

/// Turn one-time codes on (proving the app is set up).
#[utoipa::path(post, path = "/api/auth/mfa/totp/enable", tag = "auth", security(("bearer" = [])), request_body = TotpCode,
    responses((status = 204, description = "On"), (status = 400, description = "Wrong code")))]
pub async fn totp_enable(
    State(svc): S,
    Caller(p): Caller,
    AppJson(req): AppJson<TotpCode>,
) -> ApiResult<StatusCode> {
    svc.totp_enable(&p, &req.code, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The password, to confirm a sensitive change.
#[derive(Deserialize, ToSchema)]
pub struct PasswordConfirm {
    pub password: String,
}

/// Turn one-time codes off.
#[utoipa::path(post, path = "/api/auth/mfa/totp/disable", tag = "auth", security(("bearer" = [])), request_body = PasswordConfirm,
    responses((status = 204, description = "Off"), (status = 400, description = "Wrong password")))]
pub async fn totp_disable(
    State(svc): S,
    Caller(p): Caller,
    AppJson(req): AppJson<PasswordConfirm>,
) -> ApiResult<StatusCode> {
    svc.totp_disable(&p, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- administration -----

/// Paging.
#[derive(Deserialize, IntoParams)]
pub struct Page {
    /// At most this many (1 to 500, default 100).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// Users of my organization.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(Page), responses((status = 200, body = [User])))]
pub async fn list_users(
    State(svc): S,
    Caller(p): Caller,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(
        svc.list_users(&p, page.limit.unwrap_or(100), page.offset.unwrap_or(0))
            .await?,
    ))
}

/// Create a user.
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 409, description = "Username taken")))]
pub async fn create_user(
    State(svc): S,
    Caller(p): Caller,
    AppJson(new): AppJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((StatusCode::CREATED, Json(svc.create_user(&p, new).await?)))
}

/// One user of my organization.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])), responses((status = 200, body = User), (status = 404)))]
pub async fn get_user(State(svc): S, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<User>> {
    Ok(Json(svc.get_user(&p, &path_id(&id)?).await?))
}

/// Change a user (name, email, roles, bot grants, disabled).
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])), request_body = UserPatch,
    responses((status = 200, body = User), (status = 404)))]
pub async fn update_user(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
    AppJson(patch): AppJson<UserPatch>,
) -> ApiResult<Json<User>> {
    Ok(Json(svc.update_user(&p, &path_id(&id)?, patch).await?))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])), responses((status = 204, description = "Deleted"), (status = 404)))]
pub async fn delete_user(State(svc): S, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    svc.delete_user(&p, &path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new password set by an administrator.
#[derive(Deserialize, ToSchema)]
pub struct PasswordReset {
    pub password: String,
}

/// Set a user's password; clears their lockout and ends their sessions.
#[utoipa::path(post, path = "/api/admin/users/{id}/password", tag = "admin", security(("bearer" = [])), request_body = PasswordReset,
    responses((status = 204, description = "Reset"), (status = 404)))]
pub async fn reset_password(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
    AppJson(req): AppJson<PasswordReset>,
) -> ApiResult<StatusCode> {
    svc.reset_password(&p.org.to_string(), &path_id(&id)?, &req.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
pub struct Ended {
    pub ended: usize,
}

/// End every session of a user.
#[utoipa::path(post, path = "/api/admin/users/{id}/sessions/end", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Ended), (status = 404)))]
pub async fn end_user_sessions(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Ended>> {
    Ok(Json(Ended {
        ended: svc.end_all_sessions(&p, &path_id(&id)?).await?,
    }))
}

/// An organization.
#[derive(Serialize, ToSchema)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub is_system: bool,
    pub created_at: i64,
}

impl From<&OrgRow> for Org {
    fn from(o: &OrgRow) -> Self {
        Org {
            id: o.id.clone(),
            name: o.name.clone(),
            is_system: o.is_system,
            created_at: o.created_at,
        }
    }
}

/// Organizations I may see.
#[utoipa::path(get, path = "/api/admin/orgs", tag = "admin", security(("bearer" = [])), responses((status = 200, body = [Org])))]
pub async fn list_orgs(State(svc): S, Caller(p): Caller) -> ApiResult<Json<Vec<Org>>> {
    Ok(Json(svc.list_orgs(&p).await?.iter().map(Org::from).collect()))
}

/// A new organization.
#[derive(Deserialize, ToSchema)]
pub struct NewOrg {
    pub name: String,
}

/// Create an organization (system administrators).
#[utoipa::path(post, path = "/api/admin/orgs", tag = "admin", security(("bearer" = [])), request_body = NewOrg,
    responses((status = 201, body = Org), (status = 403)))]
pub async fn create_org(
    State(svc): S,
    Caller(p): Caller,
    AppJson(req): AppJson<NewOrg>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    Ok((
        StatusCode::CREATED,
        Json(Org::from(&svc.create_org(&p, &req.name).await?)),
    ))
}

/// Every API key of my organization.
#[utoipa::path(get, path = "/api/admin/keys", tag = "admin", security(("bearer" = [])), responses((status = 200, body = [ApiKeyInfo])))]
pub async fn org_keys(State(svc): S, Caller(p): Caller) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(svc.list_keys(&p, true).await?))
}

/// Revoke any API key of my organization.
#[utoipa::path(delete, path = "/api/admin/keys/{id}", tag = "admin", security(("bearer" = [])), responses((status = 204, description = "Revoked"), (status = 404)))]
pub async fn revoke_org_key(
    State(svc): S,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    svc.revoke_key(&p, &path_id(&id)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles a user can have.
#[utoipa::path(get, path = "/api/admin/roles", tag = "admin", security(("bearer" = [])), responses((status = 200, body = [String])))]
pub async fn roles(Caller(_): Caller) -> ApiResult<Json<Vec<&'static str>>> {
    Ok(Json(Role::ALL.iter().map(Role::as_str).collect()))
}
