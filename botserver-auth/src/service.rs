//! The rules of signing in, tokens, accounts and keys, as plain async functions over the
//! database and cache, callable without HTTP.

use crate::password::{Hasher, check_policy};
use crate::repo::{self, ApiKeyRow, OrgRow, RefreshRow, SessionRow, UserChanges, UserRow};
use crate::tokens::{
    ACCESS_TYP, API_KEY_PREFIX, Claims, REFRESH_PREFIX, Signer, hash_secret, new_secret, now_secs,
};
use botlib::{AppError, AppResult, OrgId, UserId};
use botstate::auth::{BotGrant, BotRole, Credential, Principal, Role};
use botstate::config::AuthConfig;
use botstate::{AppState, Cache, Db, DbErr, SecretStore};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Name of the secret holding the token signing key.
pub const SIGNING_KEY_SECRET: &str = "auth-jwt-signing-key";
/// Name of the secret holding the OpenID client secret.
pub const OIDC_SECRET: &str = "oidc-client-secret";
/// Name of the secret holding the first administrator's password.
pub const ADMIN_PASSWORD_SECRET: &str = "admin-password";
const HOUR: i64 = 3600;

/// The one message for every failed sign-in, whatever the reason.
pub const BAD_CREDENTIALS: &str = "invalid username or password";

/// Everything the auth domain needs, shared by its handlers and its `Authenticator`.
pub struct AuthService {
    pub(crate) db: Db,
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) config: AuthConfig,
    pub(crate) hasher: Hasher,
    pub(crate) signer: Signer,
    pub(crate) oidc: Option<crate::oidc::Oidc>,
    pub(crate) secrets: Arc<dyn SecretStore>,
}

/// A user as the API shows it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// `bot:role` grants, e.g. `sales:admin`.
    pub bot_grants: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> Self {
        User {
            id: u.id.clone(),
            org_id: u.org_id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            roles: split_list(&u.roles),
            bot_grants: split_list(&u.bot_grants),
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// Tokens returned by sign-in and refresh.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    /// The sign-in session these tokens belong to.
    pub session_id: String,
    pub user: User,
    /// The anonymous visitor this sign-in took over, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgraded_from: Option<String>,
}

/// Published on the cache channel [`USER_MERGED_CHANNEL`] when an anonymous visitor signs
/// in: domains that keep data per user (conversations) move it from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMerged {
    pub from: String,
    pub to: String,
    pub org: String,
}

/// Channel of [`UserMerged`] events.
pub const USER_MERGED_CHANNEL: &str = "auth:user-merged";

/// A new user.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    pub password: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Defaults to `["user"]`.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub bot_grants: Option<Vec<String>>,
    /// Only a system administrator may create users in another organization.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// An API key as listed (the secret is never shown again).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    /// The first characters, to recognize the key.
    pub prefix: String,
    pub user_id: String,
    pub roles: Vec<String>,
    pub bots: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub last_used_at: Option<i64>,
}

impl From<&ApiKeyRow> for ApiKeyInfo {
    fn from(k: &ApiKeyRow) -> Self {
        ApiKeyInfo {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            user_id: k.user_id.clone(),
            roles: split_list(&k.roles),
            bots: split_list(&k.bots),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked: k.revoked_at.is_some(),
            last_used_at: k.last_used_at,
        }
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewApiKey {
    pub key: String,
    pub info: ApiKeyInfo,
}

/// What a new key may do.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct KeyRequest {
    pub name: String,
    /// Roles, at most the creator's own; defaults to the creator's.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Bots the key is limited to; empty: all the creator may use.
    #[serde(default)]
    pub bots: Vec<String>,
    /// Days until it expires; none: never.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_roles(roles: &[String]) -> AppResult<Vec<Role>> {
    let mut out = roles
        .iter()
        .map(|r| Role::parse(r))
        .collect::<AppResult<Vec<_>>>()?;
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(AppError::bad_request("a user needs at least one role"));
    }
    Ok(out)
}

use repo::roles_text;

fn parse_grants(grants: &[String]) -> AppResult<Vec<BotGrant>> {
    grants
        .iter()
        .map(|g| {
            let (bot, role) = g.split_once(':').ok_or_else(|| {
                AppError::bad_request(format!("bot grant `{g}` must look like bot:admin or bot:user"))
            })?;
            check_bot_name(bot)?;
            let role = match role {
                "admin" => BotRole::Admin,
                "user" => BotRole::User,
                other => return Err(AppError::bad_request(format!("unknown bot role `{other}`"))),
            };
            Ok(BotGrant {
                bot: bot.to_string(),
                role,
            })
        })
        .collect()
}

fn grants_text(grants: &[BotGrant]) -> String {
    grants
        .iter()
        .map(|g| {
            format!(
                "{}:{}",
                g.bot,
                if g.role == BotRole::Admin { "admin" } else { "user" }
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Bot names: 1 to 64 of `a-z 0-9 - _`.
pub fn check_bot_name(name: &str) -> AppResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(format!("invalid bot name `{name}`")))
    }
}

/// Usernames: 3 to 64 characters, letters, digits and `. _ - @ +`; compared lowercased.
pub fn normalize_username(raw: &str) -> AppResult<String> {
    let u = raw.trim().to_lowercase();
    let ok = (3..=64).contains(&u.chars().count())
        && u.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
    if ok {
        Ok(u)
    } else {
        Err(AppError::bad_request(
            "username must be 3 to 64 letters, digits or . _ - @ +",
        ))
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now() -> i64 {
    now_secs() as i64
}

impl AuthService {
    /// Opens the service: the signing key comes from the secret manager (generated and
    /// stored encrypted on first start; there is no built-in key).
    pub async fn open(state: &AppState) -> Result<AuthService, String> {
        let generated = new_secret("").map_err(|e| e.to_string())?;
        let key = state
            .secrets
            .get_or_create(SIGNING_KEY_SECRET, generated)
            .await
            .map_err(|e| format!("signing key: {e}"))?;
        if key.expose().len() < 32 {
            return Err(format!(
                "the `{SIGNING_KEY_SECRET}` secret must be at least 32 characters"
            ));
        }
        let config = state.config.auth.clone();
        let oidc = match &config.oidc {
            Some(oidc) => {
                let secret = state
                    .secrets
                    .get(OIDC_SECRET)
                    .await
                    .map_err(|e| format!("{OIDC_SECRET}: {e}"))?
                    .map(|s| s.expose().to_string());
                Some(crate::oidc::Oidc::new(oidc.clone(), secret).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        Ok(AuthService {
            oidc,
            secrets: state.secrets.clone(),
            db: state.db.clone(),
            cache: state.cache.clone(),
            hasher: Hasher::new(&config).map_err(|e| e.to_string())?,
            signer: Signer::new(key.expose().as_bytes(), &config.issuer, &config.audience),
            config,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> AppResult<T> {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || f(&hasher))
            .await
            .map_err(AppError::internal)
    }

    /// Creates the system organization and the first administrator when the server has no
    /// users. Returns the generated password when one was generated (to print once).
    pub async fn bootstrap(&self, secrets: &dyn SecretStore) -> AppResult<Option<(String, Option<String>)>> {
        if self.db.run(repo::count_users).await? > 0 {
            return Ok(None);
        }
        let configured = secrets.get(ADMIN_PASSWORD_SECRET).await?;
        let (password, generated) = match configured {
            Some(p) => (p.expose().to_string(), false),
            None => (new_secret("")?.chars().take(24).collect::<String>(), true),
        };
        let username = normalize_username(&self.config.admin_username)?;
        check_policy(&password, &username)?;
        let hash = self
            .blocking(move |h| h.hash(&password).map(|hash| (hash, password)))
            .await??;
        let now = now();
        let user_name = username.clone();
        let created = self
            .db
            .run(move |c| {
                c.transaction(|c| {
                    if repo::count_users(c)? > 0 {
                        return Ok(false);
                    }
                    let org = match repo::system_org(c)? {
                        Some(org) => org,
                        None => {
                            let org = OrgRow {
                                id: new_id(),
                                name: "system".into(),
                                is_system: true,
                                created_at: now,
                            };
                            repo::insert_org(c, &org)?;
                            org
                        }
                    };
                    repo::insert_user(
                        c,
                        &UserRow {
                            password_hash: Some(hash.0.clone()),
                            ..UserRow::new(&org.id, &user_name, "Administrator", &[Role::Admin], now)
                        },
                    )?;
                    Ok::<_, DbErr>(true)
                })
            })
            .await;
        match created {
            Ok(true) => Ok(Some((username, generated.then_some(hash.1)))),
            // Another instance created the first administrator at the same moment.
            Ok(false) | Err(AppError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ----- signing in -----

    /// Signs in with a username and password.
    pub async fn login(&self, username: &str, password: &str, ip: &str) -> AppResult<TokenPair> {
        self.login_with_code(username, password, None, ip).await
    }

    /// Signs in; `otp` is the one-time code of accounts that have one enabled.
    pub async fn login_with_code(
        &self,
        username: &str,
        password: &str,
        otp: Option<&str>,
        ip: &str,
    ) -> AppResult<TokenPair> {
        self.limit_ip("login", ip, self.config.login_per_ip_per_minute, 60)
            .await?;
        if password.chars().count() > crate::password::MAX_LEN {
            return Err(AppError::Unauthorized);
        }
        let username = username.trim().to_lowercase();
        let lookup = username.clone();
        let user = self.db.run(move |c| repo::user_by_username(c, &lookup)).await?;
        let max = i64::from(self.config.max_failed_logins_per_hour);
        let Some(user) = user else {
            // Unknown accounts spend the same time and lock out the same way, so neither
            // reveals whether an account exists.
            let count = self
                .cache
                .incr(
                    &format!("auth:fail:{}", hash_secret(&username)),
                    1,
                    Some(Duration::from_secs(3600)),
                )
                .await?;
            if count > max {
                return Err(AppError::RateLimited {
                    retry_after_secs: 3600,
                });
            }
            let pw = password.to_string();
            self.blocking(move |h| h.verify_dummy(&pw)).await?;
            return Err(AppError::Unauthorized);
        };
        let id = user.id.clone();
        let (count, window_start) = self
            .db
            .run(move |c| repo::reserve_attempt(c, &id, now(), HOUR))
            .await?;
        if i64::from(count) > max {
            let retry = (window_start + HOUR - now()).max(1) as u64;
            tracing::warn!(user_id = %user.id, "sign-in refused: too many failed attempts this hour");
            return Err(AppError::RateLimited {
                retry_after_secs: retry,
            });
        }
        let stored = user.password_hash.clone().unwrap_or_default();
        let pw = password.to_string();
        let ok = self
            .blocking(move |h| {
                if stored.is_empty() {
                    h.verify_dummy(&pw);
                    false
                } else {
                    h.verify(&pw, &stored)
                }
            })
            .await?;
        if !ok || user.disabled {
            return Err(AppError::Unauthorized);
        }
        let id = user.id.clone();
        if let Some(totp) = self.db.run(move |c| repo::get_totp(c, &id)).await?
            && totp.enabled
        {
            // The attempt stays counted until the code is right too.
            let Some(otp) = otp else {
                return Err(AppError::MfaRequired);
            };
            self.check_code(&totp, otp).await?;
        }
        let id = user.id.clone();
        self.db.run(move |c| repo::release_attempt(c, &id)).await?;
        if let Some(stored) = &user.password_hash
            && self.hasher.needs_rehash(stored)
        {
            let pw = password.to_string();
            let hash = self.blocking(move |h| h.hash(&pw)).await??;
            let id = user.id.clone();
            self.db
                .run(move |c| repo::set_password_hash(c, &id, &hash, now()))
                .await?;
            tracing::info!(user_id = %user.id, "password rehashed with current parameters");
        }
        self.start_session(&user).await
    }

    async fn limit_ip(&self, what: &str, ip: &str, max: u32, window_secs: u64) -> AppResult<()> {
        if max == 0 {
            return Ok(());
        }
        let n = self
            .cache
            .incr(
                &format!("auth:ip:{what}:{ip}"),
                1,
                Some(Duration::from_secs(window_secs)),
            )
            .await?;
        if n > i64::from(max) {
            return Err(AppError::RateLimited {
                retry_after_secs: window_secs,
            });
        }
        Ok(())
    }

    async fn start_session(&self, user: &UserRow) -> AppResult<TokenPair> {
        let now = now();
        let ttl = (self.config.refresh_ttl_days * 86_400) as i64;
        let session = SessionRow {
            id: new_id(),
            user_id: user.id.clone(),
            org_id: user.org_id.clone(),
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
        };
        let refresh = new_secret(REFRESH_PREFIX)?;
        let row = RefreshRow {
            id: new_id(),
            session_id: session.id.clone(),
            token_hash: hash_secret(&refresh),
            created_at: now,
            expires_at: now + ttl,
            rotated_at: None,
        };
        let s = session.clone();
        self.db
            .run(move |c| {
                c.transaction(|c| {
                    repo::insert_session(c, &s)?;
                    repo::insert_refresh(c, &row)
                })
            })
            .await?;
        self.token_pair(user, &session.id, refresh)
    }

    fn token_pair(&self, user: &UserRow, session: &str, refresh: String) -> AppResult<TokenPair> {
        let now = now_secs();
        let access = self.signer.sign(Claims {
            iss: String::new(),
            aud: String::new(),
            sub: user.id.clone(),
            org: user.org_id.clone(),
            roles: split_list(&user.roles),
            sid: session.to_string(),
            typ: ACCESS_TYP.into(),
            iat: now,
            nbf: now,
            exp: now + self.config.access_ttl_secs,
            jti: new_id(),
        })?;
        Ok(TokenPair {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: self.config.access_ttl_secs,
            refresh_token: refresh,
            refresh_expires_in: self.config.refresh_ttl_days * 86_400,
            session_id: session.to_string(),
            user: User::from(user),
            upgraded_from: None,
        })
    }

    /// Trades a refresh token for a new pair. A token already used is refused; used again
    /// after the grace period it is treated as stolen and its whole session is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> AppResult<TokenPair> {
        if !refresh_token.starts_with(REFRESH_PREFIX) {
            return Err(AppError::Unauthorized);
        }
        let hash = hash_secret(refresh_token);
        let grace = self.config.refresh_reuse_grace_secs as i64;
        let ttl = (self.config.refresh_ttl_days * 86_400) as i64;
        let next = new_secret(REFRESH_PREFIX)?;
        let next_hash = hash_secret(&next);
        let outcome: Result<(UserRow, String), &'static str> = self
            .db
            .run(move |c| {
                let now = now();
                let Some(token) = repo::refresh_by_hash(c, &hash)? else {
                    return Ok(Err("unknown"));
                };
                let Some(session) = repo::get_session(c, &token.session_id)? else {
                    return Ok(Err("no session"));
                };
                if session.revoked_at.is_some() || session.expires_at <= now || token.expires_at <= now {
                    return Ok(Err("expired or revoked"));
                }
                if let Some(rotated) = token.rotated_at {
                    if now - rotated > grace {
                        repo::revoke_session(c, &session.user_id, &session.id, now)?;
                        tracing::warn!(session = %session.id, "refresh token reused: session revoked");
                        return Ok(Err("reused"));
                    }
                    return Ok(Err("already used"));
                }
                c.transaction(|c| {
                    if !repo::claim_refresh(c, &token.id, now)? {
                        return Ok(Err("lost a concurrent refresh"));
                    }
                    repo::insert_refresh(
                        c,
                        &RefreshRow {
                            id: new_id(),
                            session_id: session.id.clone(),
                            token_hash: next_hash,
                            created_at: now,
                            expires_at: now + ttl,
                            rotated_at: None,
                        },
                    )?;
                    repo::extend_session(c, &session.id, now + ttl)?;
                    let user = repo::user_by_id(c, &session.user_id)?;
                    if user.disabled {
                        repo::revoke_session(c, &user.id, &session.id, now)?;
                        return Ok(Err("disabled"));
                    }
                    Ok::<_, DbErr>(Ok((user, session.id)))
                })
            })
            .await?;
        match outcome {
            Ok((user, session)) => self.token_pair(&user, &session, next),
            Err(why) => {
                tracing::debug!(why, "refresh refused");
                Err(AppError::Unauthorized)
            }
        }
    }

    /// Ends the caller's sign-in session.
    pub async fn logout(&self, p: &Principal) -> AppResult<()> {
        let Credential::Session { session } = &p.credential else {
            return Err(AppError::bad_request(
                "API keys do not sign out; revoke the key instead",
            ));
        };
        let (user, session) = (p.user.to_string(), session.clone());
        self.db
            .run(move |c| repo::revoke_session(c, &user, &session, now()))
            .await?;
        Ok(())
    }

    /// The caller's live sessions.
    pub async fn sessions(&self, p: &Principal) -> AppResult<Vec<SessionRow>> {
        let user = p.user.to_string();
        self.db.run(move |c| repo::list_sessions(c, &user, now())).await
    }

    /// Ends one of the caller's own sessions (someone else's is "not found").
    pub async fn end_session(&self, p: &Principal, id: &str) -> AppResult<()> {
        let (user, id) = (p.user.to_string(), id.to_string());
        if self
            .db
            .run(move |c| repo::revoke_session(c, &user, &id, now()))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Changes the caller's password; every other session of theirs ends.
    pub async fn change_password(&self, p: &Principal, current: &str, new: &str) -> AppResult<()> {
        let Credential::Session { session } = &p.credential else {
            return Err(AppError::Forbidden);
        };
        let id = p.user.to_string();
        let user = self.db.run(move |c| repo::user_by_id(c, &id)).await?;
        let stored = user.password_hash.clone().unwrap_or_default();
        let cur = current.to_string();
        if !self.blocking(move |h| h.verify(&cur, &stored)).await? {
            return Err(AppError::bad_request("the current password is not right"));
        }
        check_policy(new, &user.username)?;
        let pw = new.to_string();
        let hash = self.blocking(move |h| h.hash(&pw)).await??;
        let (id, keep) = (user.id.clone(), session.clone());
        self.db
            .run(move |c| {
                c.transaction(|c| {
                    repo::set_password_hash(c, &id, &hash, now())?;
                    repo::revoke_user_sessions(c, &id, Some(&keep), now())
                })
            })
            .await?;
        Ok(())
    }

    // ----- tokens to principals -----

    /// Checks an access token or API key; any failure is 401.
    pub async fn principal(&self, bearer: &str) -> AppResult<Principal> {
        if bearer.starts_with(API_KEY_PREFIX) {
            return self.key_principal(bearer).await;
        }
        let claims = self.signer.verify(bearer)?;
        let org = claims.org.clone();
        self.session_principal(claims.sub.clone(), claims.sid.clone(), move |u| u.org_id == org)
            .await
    }

    /// The anonymous visitor owning the live session `session_id`, if `user_id` is that
    /// visitor (see `Authenticator::visitor`).
    pub async fn visitor_principal(&self, user_id: &str, session_id: &str) -> AppResult<Principal> {
        let (Ok(uid), Ok(sid)) = (path_id(user_id), path_id(session_id)) else {
            return Err(AppError::Unauthorized);
        };
        self.session_principal(uid, sid, |u| u.anonymous).await
    }

    /// The user of sign-in session `sid` when it is live, belongs to `user_id`, the user is
    /// enabled and `accept`s; 401 otherwise.
    async fn session_principal(
        &self,
        user_id: String,
        sid: String,
        accept: impl FnOnce(&UserRow) -> bool,
    ) -> AppResult<Principal> {
        let found = self
            .db
            .run(move |c| {
                let session = repo::get_session(c, &sid)?;
                let user = repo::user_by_id(c, &user_id).map(Some).or_else(|e| match e {
                    DbErr::Diesel(diesel::result::Error::NotFound) => Ok(None),
                    other => Err(other),
                })?;
                Ok::<_, DbErr>((session, user))
            })
            .await?;
        let (Some(session), Some(user)) = found else {
            return Err(AppError::Unauthorized);
        };
        let live = session.revoked_at.is_none()
            && session.expires_at > now()
            && session.user_id == user.id
            && !user.disabled
            && accept(&user);
        if !live {
            return Err(AppError::Unauthorized);
        }
        principal_of(&user, Credential::Session { session: session.id }, None)
    }

    async fn key_principal(&self, key: &str) -> AppResult<Principal> {
        let hash = hash_secret(key);
        let found = self
            .db
            .run(move |c| {
                let Some(k) = repo::key_by_hash(c, &hash)? else {
                    return Ok(None);
                };
                let user = repo::user_by_id(c, &k.user_id)?;
                repo::touch_key(c, &k.id, now())?;
                Ok::<_, DbErr>(Some((k, user)))
            })
            .await?;
        let Some((k, user)) = found else {
            return Err(AppError::Unauthorized);
        };
        let live = k.revoked_at.is_none()
            && k.expires_at.is_none_or(|e| e > now())
            && !user.disabled
            && k.org_id == user.org_id;
        if !live {
            return Err(AppError::Unauthorized);
        }
        // A key never holds more than its user holds today.
        let key_roles = parse_roles(&split_list(&k.roles))?;
        principal_of(
            &user,
            Credential::ApiKey {
                key: k.id.clone(),
                bots: split_list(&k.bots),
            },
            Some(&key_roles),
        )
    }

    // ----- administration -----

    /// Creates a user in the caller's organization (or, for a system administrator, in
    /// the one named).
    pub async fn create_user(&self, caller: &Principal, new: NewUser) -> AppResult<User> {
        let org = match &new.org_id {
            Some(org) if org != &caller.org.to_string() => {
                self.require_system_admin(caller).await?;
                org.clone()
            }
            _ => caller.org.to_string(),
        };
        self.create_user_in(&org, new).await
    }

    /// Creates a user in `org` (also used by the CLI).
    pub async fn create_user_in(&self, org: &str, new: NewUser) -> AppResult<User> {
        let username = normalize_username(&new.username)?;
        let roles = parse_roles(&new.roles.clone().unwrap_or_else(|| vec!["user".into()]))?;
        if roles.contains(&Role::Anonymous) {
            return Err(AppError::bad_request(
                "the anonymous role is for chat visitors only",
            ));
        }
        let grants = parse_grants(&new.bot_grants.clone().unwrap_or_default())?;
        let hash = match new.password.clone() {
            Some(pw) => {
                check_policy(&pw, &username)?;
                Some(self.blocking(move |h| h.hash(&pw)).await??)
            }
            None => None,
        };
        let now = now();
        let display = new.display_name.clone().unwrap_or_else(|| username.clone());
        let row = UserRow {
            email: new.email.clone(),
            password_hash: hash,
            bot_grants: grants_text(&grants),
            ..UserRow::new(org, &username, &display, &roles, now)
        };
        let (r, org) = (row.clone(), org.to_string());
        self.db
            .run(move |c| {
                repo::get_org(c, &org)?;
                repo::insert_user(c, &r)
            })
            .await
            .map_err(|e| match e {
                AppError::Conflict(_) => AppError::Conflict(format!("username `{username}` is taken")),
                AppError::NotFound => AppError::bad_request("no such organization"),
                other => other,
            })?;
        Ok(User::from(&row))
    }

    async fn require_system_admin(&self, caller: &Principal) -> AppResult<()> {
        caller.require(Role::Admin)?;
        let org = caller.org.to_string();
        let row = self.db.run(move |c| repo::get_org(c, &org)).await?;
        if row.is_system {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Users of the caller's organization.
    pub async fn list_users(&self, caller: &Principal, limit: i64, offset: i64) -> AppResult<Vec<User>> {
        let org = caller.org.to_string();
        let rows = self
            .db
            .run(move |c| repo::list_users(c, &org, limit.clamp(1, 500), offset.max(0)))
            .await?;
        Ok(rows.iter().map(User::from).collect())
    }

    /// One user of the caller's organization.
    pub async fn get_user(&self, caller: &Principal, id: &str) -> AppResult<User> {
        let (org, id) = (caller.org.to_string(), id.to_string());
        Ok(User::from(
            &self.db.run(move |c| repo::user_in_org(c, &org, &id)).await?,
        ))
    }

    /// Changes a user of the caller's organization; disabling ends their sessions.
    pub async fn update_user(&self, caller: &Principal, id: &str, patch: UserPatch) -> AppResult<User> {
        let changes = UserChanges {
            display_name: patch.display_name,
            email: patch.email,
            roles: patch
                .roles
                .as_deref()
                .map(parse_roles)
                .transpose()?
                .map(|r| roles_text(&r)),
            bot_grants: patch
                .bot_grants
                .as_deref()
                .map(parse_grants)
                .transpose()?
                .map(|g| grants_text(&g)),
            disabled: patch.disabled,
        };
        if id == caller.user.to_string() && (changes.disabled == Some(true) || changes.roles.is_some()) {
            return Err(AppError::bad_request(
                "you cannot disable yourself or change your own roles",
            ));
        }
        let (org, id) = (caller.org.to_string(), id.to_string());
        let row = self
            .db
            .run(move |c| {
                c.transaction(|c| {
                    let row = repo::update_user(c, &org, &id, &changes, now())?;
                    if row.disabled {
                        repo::revoke_user_sessions(c, &row.id, None, now())?;
                    }
                    Ok::<_, DbErr>(row)
                })
            })
            .await?;
        Ok(User::from(&row))
    }

    /// Deletes a user of the caller's organization.
    pub async fn delete_user(&self, caller: &Principal, id: &str) -> AppResult<()> {
        if id == caller.user.to_string() {
            return Err(AppError::bad_request("you cannot delete yourself"));
        }
        let (org, id) = (caller.org.to_string(), id.to_string());
        if self.db.run(move |c| repo::delete_user(c, &org, &id)).await? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Sets a new password for a user of `org`, clears their lockout and ends their
    /// sessions (the recovery path for a locked-out account).
    pub async fn reset_password(&self, org: &str, id: &str, password: &str) -> AppResult<()> {
        let (o, i) = (org.to_string(), id.to_string());
        let user = self.db.run(move |c| repo::user_in_org(c, &o, &i)).await?;
        check_policy(password, &user.username)?;
        let pw = password.to_string();
        let hash = self.blocking(move |h| h.hash(&pw)).await??;
        self.db
            .run(move |c| {
                c.transaction(|c| {
                    repo::set_password_hash(c, &user.id, &hash, now())?;
                    repo::clear_attempts(c, &user.id)?;
                    // The recovery path for a lost authenticator too.
                    repo::set_totp(c, &user.id, None, false)?;
                    repo::revoke_user_sessions(c, &user.id, None, now())
                })
            })
            .await?;
        Ok(())
    }

    /// Ends every session of a user of the caller's organization.
    pub async fn end_all_sessions(&self, caller: &Principal, id: &str) -> AppResult<usize> {
        let (org, id) = (caller.org.to_string(), id.to_string());
        self.db
            .run(move |c| {
                let user = repo::user_in_org(c, &org, &id)?;
                repo::revoke_user_sessions(c, &user.id, None, now())
            })
            .await
    }

    /// Organizations the caller may see: all for a system administrator, else their own.
    pub async fn list_orgs(&self, caller: &Principal) -> AppResult<Vec<OrgRow>> {
        let org = caller.org.to_string();
        let is_system = self.require_system_admin(caller).await.is_ok();
        self.db
            .run(move |c| {
                if is_system {
                    repo::list_orgs(c)
                } else {
                    Ok(vec![repo::get_org(c, &org)?])
                }
            })
            .await
    }

    /// Creates an organization (system administrators only).
    pub async fn create_org(&self, caller: &Principal, name: &str) -> AppResult<OrgRow> {
        self.require_system_admin(caller).await?;
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::bad_request(
                "organization name must be 1 to 100 characters",
            ));
        }
        let org = OrgRow {
            id: new_id(),
            name,
            is_system: false,
            created_at: now(),
        };
        let row = org.clone();
        self.db
            .run(move |c| repo::insert_org(c, &row))
            .await
            .map_err(|e| match e {
                AppError::Conflict(_) => AppError::Conflict("an organization with that name exists".into()),
                other => other,
            })?;
        Ok(org)
    }

    /// Creates an API key for the caller, with at most the caller's roles.
    pub async fn create_key(&self, caller: &Principal, req: KeyRequest) -> AppResult<NewApiKey> {
        if matches!(caller.credential, Credential::ApiKey { .. }) {
            return Err(AppError::Forbidden);
        }
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::bad_request("key name must be 1 to 100 characters"));
        }
        let roles = match &req.roles {
            Some(r) => parse_roles(r)?,
            None => caller.roles.clone(),
        };
        if roles.iter().any(|r| !caller.has_role(*r)) {
            return Err(AppError::bad_request(
                "a key cannot have a role its creator does not have",
            ));
        }
        for bot in &req.bots {
            check_bot_name(bot)?;
        }
        let key = new_secret(API_KEY_PREFIX)?;
        let now = now();
        let row = ApiKeyRow {
            id: new_id(),
            org_id: caller.org.to_string(),
            user_id: caller.user.to_string(),
            name,
            prefix: key.chars().take(10).collect(),
            key_hash: hash_secret(&key),
            roles: roles_text(&roles),
            bots: req.bots.join(","),
            created_at: now,
            expires_at: req.expires_in_days.map(|d| now + i64::from(d) * 86_400),
            revoked_at: None,
            last_used_at: None,
        };
        let r = row.clone();
        self.db.run(move |c| repo::insert_key(c, &r)).await?;
        Ok(NewApiKey {
            key,
            info: ApiKeyInfo::from(&row),
        })
    }

    /// Keys of the caller (`all_of_org`: every key of the organization, for admins).
    pub async fn list_keys(&self, caller: &Principal, all_of_org: bool) -> AppResult<Vec<ApiKeyInfo>> {
        let org = caller.org.to_string();
        let user = (!all_of_org).then(|| caller.user.to_string());
        let rows = self
            .db
            .run(move |c| repo::list_keys(c, &org, user.as_deref()))
            .await?;
        Ok(rows.iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes a key of the caller (`any_of_org`: any key of the organization).
    pub async fn revoke_key(&self, caller: &Principal, id: &str, any_of_org: bool) -> AppResult<()> {
        let org = caller.org.to_string();
        let user = (!any_of_org).then(|| caller.user.to_string());
        let id = id.to_string();
        if self
            .db
            .run(move |c| repo::revoke_key(c, &org, user.as_deref(), &id, now()))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }

    // ----- one-time codes (TOTP) -----

    fn totp_context(user: &str) -> String {
        format!("totp:{user}")
    }

    /// Checks a one-time code and uses it up (a code works once).
    async fn check_code(&self, totp: &repo::TotpRow, otp: &str) -> AppResult<()> {
        let secret = self
            .secrets
            .decrypt(&Self::totp_context(&totp.user_id), &totp.secret)?;
        let step = crate::totp::matching_step(&secret, otp, now_secs()).ok_or(AppError::Unauthorized)?;
        let id = totp.user_id.clone();
        if self
            .db
            .run(move |c| repo::claim_totp_step(c, &id, step as i64))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::Unauthorized)
        }
    }

    /// Re-authentication for sensitive changes.
    async fn require_password(&self, user: &UserRow, password: &str) -> AppResult<()> {
        let stored = user.password_hash.clone().unwrap_or_default();
        let pw = password.to_string();
        if self
            .blocking(move |h| !stored.is_empty() && h.verify(&pw, &stored))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::bad_request("the password is not right"))
        }
    }

    async fn totp_of(&self, p: &Principal) -> AppResult<(UserRow, Option<repo::TotpRow>)> {
        let id = p.user.to_string();
        self.db
            .run(move |c| Ok((repo::user_by_id(c, &id)?, repo::get_totp(c, &id)?)))
            .await
    }

    /// Starts setting up a one-time code: a new secret, stored encrypted, not yet required.
    /// Returns the base32 secret and the `otpauth://` URI for an authenticator app.
    pub async fn totp_setup(&self, p: &Principal) -> AppResult<(String, String)> {
        let (user, totp) = self.totp_of(p).await?;
        if totp.is_some_and(|t| t.enabled) {
            return Err(AppError::Conflict(
                "one-time codes are already on; turn them off first".into(),
            ));
        }
        let mut secret = [0u8; 20];
        getrandom::fill(&mut secret).map_err(|e| AppError::internal(anyhow::anyhow!("random: {e}")))?;
        let sealed = self.secrets.encrypt(&Self::totp_context(&user.id), &secret)?;
        let id = user.id.clone();
        self.db
            .run(move |c| repo::set_totp(c, &id, Some(&sealed), false))
            .await?;
        Ok((
            crate::totp::base32(&secret),
            crate::totp::otpauth_uri(&self.config.issuer, &user.username, &secret),
        ))
    }

    /// Turns one-time codes on, proving the app is set up with a current code (which is
    /// then used up).
    /// The password is asked too, so a stolen access token cannot lock the owner out
    /// behind a second factor only the thief holds.
    pub async fn totp_enable(&self, p: &Principal, otp: &str, password: &str) -> AppResult<()> {
        let (user, totp) = self.totp_of(p).await?;
        let totp = totp.ok_or(AppError::bad_request("set up one-time codes first"))?;
        if totp.enabled {
            return Err(AppError::Conflict("one-time codes are already on".into()));
        }
        self.require_password(&user, password).await?;
        let secret = self
            .secrets
            .decrypt(&Self::totp_context(&user.id), &totp.secret)?;
        let step = crate::totp::matching_step(&secret, otp, now_secs())
            .ok_or(AppError::bad_request("that code is not right"))?;
        self.db
            .run(move |c| {
                c.transaction(|c| {
                    repo::set_totp(c, &user.id, Some(&totp.secret), true)?;
                    repo::claim_totp_step(c, &user.id, step as i64).map(|_| ())
                })
            })
            .await
    }

    /// Turns one-time codes off; needs the password.
    pub async fn totp_disable(&self, p: &Principal, password: &str) -> AppResult<()> {
        let (user, _) = self.totp_of(p).await?;
        self.require_password(&user, password).await?;
        self.db
            .run(move |c| repo::set_totp(c, &user.id, None, false))
            .await?;
        Ok(())
    }

    // ----- OpenID Connect -----

    fn oidc(&self) -> AppResult<&crate::oidc::Oidc> {
        self.oidc.as_ref().ok_or(AppError::NotConfigured("oidc"))
    }

    /// The provider URL that starts an OpenID sign-in.
    pub async fn oidc_begin(&self) -> AppResult<String> {
        self.oidc()?.begin(self.cache.as_ref()).await
    }

    /// Completes an OpenID sign-in: finds the user linked to the provider's subject, or
    /// creates one, updates their roles from the provider, and opens a session.
    pub async fn oidc_finish(&self, code: &str, state: &str) -> AppResult<TokenPair> {
        let oidc = self.oidc()?;
        let identity = oidc.finish(self.cache.as_ref(), code, state).await?;
        let cfg = oidc.config().clone();
        let claim = |name: &str| {
            identity
                .claims
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let roles: Vec<Role> = match identity.claims.get(&cfg.roles_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(|r| Role::parse(r).ok())
                .collect(),
            Some(serde_json::Value::String(s)) => {
                s.split([',', ' ']).filter_map(|r| Role::parse(r).ok()).collect()
            }
            _ => Vec::new(),
        };
        let mut roles: Vec<Role> = roles.into_iter().filter(|r| *r != Role::Anonymous).collect();
        if roles.is_empty() {
            roles.push(Role::parse(&cfg.default_role)?);
        }
        roles.sort();
        roles.dedup();
        let wanted = claim("preferred_username")
            .or_else(|| claim("email"))
            .unwrap_or_default();
        let subject = identity.subject.clone();
        let (display, email) = (claim("name"), claim("email"));
        let org_override = cfg.org_id.clone();
        let now = now();
        let user = self
            .db
            .run(move |c| {
                c.transaction(|c| {
                    if let Some(mut user) = repo::user_by_oidc_subject(c, &subject)? {
                        let changes = UserChanges {
                            display_name: display.clone(),
                            email: Some(email.clone()),
                            roles: Some(roles_text(&roles)),
                            bot_grants: None,
                            disabled: None,
                        };
                        user = repo::update_user(c, &user.org_id.clone(), &user.id.clone(), &changes, now)?;
                        return Ok::<_, DbErr>(user);
                    }
                    let org = match org_override {
                        Some(org) => repo::get_org(c, &org)?.id,
                        None => {
                            repo::system_org(c)?
                                .ok_or(AppError::Unavailable("no system organization yet".into()))?
                                .id
                        }
                    };
                    // The provider's name when free and valid, else one derived from the subject:
                    // never an existing local account (linking by name would hand it over).
                    let username = match normalize_username(&wanted) {
                        Ok(u) if !repo::username_taken(c, &u)? => u,
                        _ => format!("oidc-{}", &hash_secret(&subject)[..16]),
                    };
                    let shown = display.clone().unwrap_or_else(|| username.clone());
                    let row = UserRow {
                        email: email.clone(),
                        oidc_subject: Some(subject.clone()),
                        ..UserRow::new(&org, &username, &shown, &roles, now)
                    };
                    repo::insert_user(c, &row)?;
                    Ok(row)
                })
            })
            .await?;
        if user.disabled {
            return Err(AppError::Unauthorized);
        }
        self.start_session(&user).await
    }

    /// Signs in and takes over the anonymous visitor behind `anonymous_token`: the visitor
    /// is retired and a [`UserMerged`] event tells other domains to move its data.
    pub async fn login_upgrading(
        &self,
        username: &str,
        password: &str,
        otp: Option<&str>,
        ip: &str,
        anonymous_token: &str,
    ) -> AppResult<TokenPair> {
        let visitor = self
            .principal(anonymous_token)
            .await
            .map_err(|_| AppError::bad_request("the anonymous session is not valid"))?;
        if visitor.roles != [Role::Anonymous] {
            return Err(AppError::bad_request("only an anonymous session can be upgraded"));
        }
        let mut pair = self.login_with_code(username, password, otp, ip).await?;
        let (from, to) = (visitor.user.to_string(), pair.user.id.clone());
        let (f, t) = (from.clone(), to.clone());
        if self
            .db
            .run(move |c| repo::merge_anonymous(c, &f, &t, now()))
            .await?
        {
            let event = UserMerged {
                from: from.clone(),
                to,
                org: pair.user.org_id.clone(),
            };
            self.cache
                .publish(USER_MERGED_CHANNEL, &serde_json::to_vec(&event)?)
                .await?;
            pair.upgraded_from = Some(from);
        }
        Ok(pair)
    }

    // ----- anonymous chat visitors -----

    /// Opens (or resumes) an anonymous chat session for `bot`.
    pub async fn anonymous(
        &self,
        bot: &str,
        ip: &str,
        resume: Option<(String, String)>,
    ) -> AppResult<(UserRow, TokenPair)> {
        check_bot_name(bot)?;
        if let Some((user_id, session_id)) = resume {
            let found = self
                .db
                .run(move |c| {
                    let s = repo::get_session(c, &session_id)?;
                    let u = repo::user_by_id(c, &user_id).ok();
                    Ok::<_, DbErr>((s, u))
                })
                .await?;
            if let (Some(s), Some(u)) = found
                && u.anonymous
                && s.user_id == u.id
                && s.revoked_at.is_none()
                && s.expires_at > now()
            {
                // A resumed visitor gets fresh tokens for the same session.
                let refresh = new_secret(REFRESH_PREFIX)?;
                let row = RefreshRow {
                    id: new_id(),
                    session_id: s.id.clone(),
                    token_hash: hash_secret(&refresh),
                    created_at: now(),
                    expires_at: s.expires_at,
                    rotated_at: None,
                };
                self.db.run(move |c| repo::insert_refresh(c, &row)).await?;
                let pair = self.token_pair(&u, &s.id, refresh)?;
                return Ok((u, pair));
            }
        }
        self.limit_ip("anonymous", ip, self.config.anonymous_per_ip_per_hour, 3600)
            .await?;
        let org = self
            .db
            .run(repo::system_org)
            .await?
            .ok_or_else(|| AppError::Unavailable("no system organization yet".into()))?;
        let now = now();
        let row = UserRow {
            anonymous: true,
            ..UserRow::new(
                &org.id,
                &format!("anon-{}", new_id()),
                "Visitor",
                &[Role::Anonymous],
                now,
            )
        };
        let r = row.clone();
        self.db.run(move |c| repo::insert_user(c, &r)).await?;
        let pair = self.start_session(&row).await?;
        Ok((row, pair))
    }
}

/// Changes to a user; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct UserPatch {
    pub display_name: Option<String>,
    #[serde(default, with = "double_option")]
    pub email: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    pub bot_grants: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

/// Builds the principal of a user; `limit` (an API key's roles) narrows the user's roles.
fn principal_of(user: &UserRow, credential: Credential, limit: Option<&[Role]>) -> AppResult<Principal> {
    let mut roles = parse_roles(&split_list(&user.roles))?;
    if let Some(limit) = limit {
        // Roles are ordered: a key holds its own roles, capped by what the user holds now.
        let top = roles.iter().copied().max().unwrap_or(Role::Anonymous);
        roles = limit.iter().copied().filter(|r| *r <= top).collect();
        if roles.is_empty() {
            return Err(AppError::Unauthorized);
        }
    }
    Ok(Principal {
        user: user.id.parse::<UserId>().map_err(AppError::internal)?,
        org: user.org_id.parse::<OrgId>().map_err(AppError::internal)?,
        name: user.display_name.clone(),
        roles,
        bots: parse_grants(&split_list(&user.bot_grants))?,
        credential,
    })
}

/// Parses an id given in a path, as a 404 when malformed (it cannot exist).
pub fn path_id(raw: &str) -> AppResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| AppError::NotFound)
}
